"""The instruments the simulated exchange lists: liquid NSE equities, and NFO futures and options on them.

Instrument tokens are Kite's real NSE tokens. ADANIPORTS, IGL, ICICIPRULI,
DEEPAKNITR and ABCAPITAL were checked against kite-mocks/instruments_nse.csv;
INFY, SBIN, TATASTEEL and IOC against the other kite-mocks samples; the rest
are the well-known published tokens (a simulator never needs them to match
live Kite, only to be stable and unique). Base prices are rough late-2025
levels in rupees: the deterministic price path wanders a few percent around
them.

The F&O contracts (mci.brokers.sim.fno) are NFO futures and options on NIFTY,
BANKNIFTY and ten stocks, with NSE's lot sizes, ticks, monthly expiries and the
freeze quantities of mci.brokers.kite_rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Iterable, Iterator


@dataclass(frozen=True)
class Instrument:
    symbol: str
    token: int  # Kite instrument_token
    exchange_token: int
    name: str
    base_price: Decimal
    exchange: str = "NSE"
    tick_size: Decimal = Decimal("0.05")
    lot_size: int = 1
    instrument_type: str = "EQ"  # Kite's dump: EQ, FUT, CE, PE
    expiry: date | None = None
    strike: Decimal = Decimal(0)
    freeze_quantity: int | None = None  # the most units one order may carry (whole lots); None: the equity cap

    @property
    def segment(self) -> str:
        """The dump's segment column: NSE, NFO-FUT, NFO-OPT."""
        if self.exchange == "NFO":
            return "NFO-FUT" if self.instrument_type == "FUT" else "NFO-OPT"
        return self.exchange

    @property
    def key(self) -> str:
        """ "EXCHANGE:SYMBOL", the form Kite's quote APIs use."""
        return f"{self.exchange}:{self.symbol}"


# (symbol, instrument_token, exchange_token, name, base price)
_NSE_EQUITIES: tuple[tuple[str, int, int, str, str], ...] = (
    ("RELIANCE", 738561, 2885, "RELIANCE INDUSTRIES", "1420.00"),
    ("INFY", 408065, 1594, "INFOSYS", "1510.00"),
    ("TCS", 2953217, 11536, "TATA CONSULTANCY SERV LT", "3120.00"),
    ("HDFCBANK", 341249, 1333, "HDFC BANK", "985.00"),
    ("ICICIBANK", 1270529, 4963, "ICICI BANK", "1390.00"),
    ("SBIN", 779521, 3045, "STATE BANK OF INDIA", "905.00"),
    ("ITC", 424961, 1660, "ITC", "412.00"),
    ("LT", 2939649, 11483, "LARSEN & TOUBRO", "3920.00"),
    ("AXISBANK", 1510401, 5900, "AXIS BANK", "1215.00"),
    ("KOTAKBANK", 492033, 1922, "KOTAK MAHINDRA BANK", "2105.00"),
    ("BHARTIARTL", 2714625, 10604, "BHARTI AIRTEL", "2040.00"),
    ("HINDUNILVR", 356865, 1394, "HINDUSTAN UNILEVER", "2450.00"),
    ("BAJFINANCE", 81153, 317, "BAJAJ FINANCE", "1010.00"),
    ("MARUTI", 2815745, 10999, "MARUTI SUZUKI INDIA", "15900.00"),
    ("ASIANPAINT", 60417, 236, "ASIAN PAINTS", "2510.00"),
    ("TITAN", 897537, 3506, "TITAN COMPANY", "3680.00"),
    ("SUNPHARMA", 857857, 3351, "SUN PHARMACEUTICAL IND L", "1705.00"),
    ("WIPRO", 969473, 3787, "WIPRO", "248.00"),
    ("ULTRACEMCO", 2952193, 11532, "ULTRATECH CEMENT", "11950.00"),
    ("NESTLEIND", 4598529, 17963, "NESTLE INDIA", "1255.00"),
    ("ADANIPORTS", 3861249, 15083, "ADANI PORTS AND SEZ", "1440.00"),
    ("ADANIENT", 6401, 25, "ADANI ENTERPRISES", "2420.00"),
    ("BAJAJFINSV", 4268801, 16675, "BAJAJ FINSERV", "2010.00"),
    ("HCLTECH", 1850625, 7229, "HCL TECHNOLOGIES", "1560.00"),
    ("TECHM", 3465729, 13538, "TECH MAHINDRA", "1460.00"),
    ("POWERGRID", 3834113, 14977, "POWER GRID CORP", "288.00"),
    ("NTPC", 2977281, 11630, "NTPC", "336.00"),
    ("ONGC", 633601, 2475, "OIL AND NATURAL GAS CORP", "244.00"),
    ("COALINDIA", 5215745, 20374, "COAL INDIA", "386.00"),
    ("TATASTEEL", 895745, 3499, "TATA STEEL", "168.00"),
    ("JSWSTEEL", 3001089, 11723, "JSW STEEL", "1150.00"),
    ("HINDALCO", 348929, 1363, "HINDALCO INDUSTRIES", "780.00"),
    ("GRASIM", 315393, 1232, "GRASIM INDUSTRIES", "2780.00"),
    ("CIPLA", 177665, 694, "CIPLA", "1520.00"),
    ("DRREDDY", 225537, 881, "DR. REDDY S LABORATORIES", "1260.00"),
    ("DIVISLAB", 2800641, 10940, "DIVI S LABORATORIES", "6450.00"),
    ("EICHERMOT", 232961, 910, "EICHER MOTORS", "6900.00"),
    ("HEROMOTOCO", 345089, 1348, "HERO MOTOCORP", "5450.00"),
    ("BAJAJ-AUTO", 4267265, 16669, "BAJAJ AUTO", "8900.00"),
    ("M&M", 519937, 2031, "MAHINDRA & MAHINDRA", "3550.00"),
    ("BRITANNIA", 140033, 547, "BRITANNIA INDUSTRIES", "5900.00"),
    ("TATACONSUM", 878593, 3432, "TATA CONSUMER PRODUCT", "1140.00"),
    ("INDUSINDBK", 1346049, 5258, "INDUSIND BANK", "760.00"),
    ("SBILIFE", 5582849, 21808, "SBI LIFE INSURANCE CO", "1960.00"),
    ("HDFCLIFE", 119553, 467, "HDFC LIFE INS CO", "765.00"),
    ("APOLLOHOSP", 40193, 157, "APOLLO HOSPITALS ENTER. L", "7500.00"),
    ("BPCL", 134657, 526, "BHARAT PETROLEUM CORP LT", "355.00"),
    ("IOC", 415745, 1624, "INDIAN OIL CORP", "165.00"),
    ("BHEL", 112129, 438, "BHEL", "255.00"),
    ("DABUR", 197633, 772, "DABUR INDIA", "510.00"),
    ("PIDILITIND", 681985, 2664, "PIDILITE INDUSTRIES", "1480.00"),
    ("GODREJCP", 2585345, 10099, "GODREJ CONSUMER PRODUCTS", "1180.00"),
    ("DLF", 3771393, 14732, "DLF", "760.00"),
    ("BANKBARODA", 1195009, 4668, "BANK OF BARODA", "285.00"),
    ("PNB", 2730497, 10666, "PUNJAB NATIONAL BANK", "120.00"),
    ("VEDL", 784129, 3063, "VEDANTA", "505.00"),
    ("IGL", 2883073, 11262, "INDRAPRASTHA GAS", "215.00"),
    ("ICICIPRULI", 4774913, 18652, "ICICI PRU LIFE INS CO", "640.00"),
    ("DEEPAKNITR", 212481, 830, "DEEPAK NITRITE", "1820.00"),
    ("ABCAPITAL", 5533185, 21614, "ADITYA BIRLA CAPITAL", "330.00"),
)


class Universe:
    """The listed instruments, looked up by "EXCHANGE:SYMBOL", (exchange, symbol) or token."""

    def __init__(self, instruments: Iterable[Instrument]):
        self._by_key: dict[str, Instrument] = {}
        self._by_token: dict[int, Instrument] = {}
        for inst in instruments:
            if inst.key in self._by_key or inst.token in self._by_token:
                raise ValueError(f"instrument {inst.key} (token {inst.token}) is listed twice")
            if inst.base_price <= 0 or inst.tick_size <= 0 or inst.lot_size < 1:
                raise ValueError(f"instrument {inst.key} has a non-positive price, tick or lot")
            if inst.freeze_quantity is not None and (
                inst.freeze_quantity < inst.lot_size or inst.freeze_quantity % inst.lot_size
            ):
                raise ValueError(f"instrument {inst.key}: a freeze quantity is a whole number of lots")
            self._by_key[inst.key] = inst
            self._by_token[inst.token] = inst

    def get(self, exchange: str, symbol: str) -> Instrument | None:
        return self._by_key.get(f"{exchange.upper()}:{symbol.upper()}")

    def by_key(self, key: str) -> Instrument | None:
        exchange, sep, symbol = key.partition(":")
        return self.get(exchange, symbol) if sep else None

    def by_token(self, token: int) -> Instrument | None:
        return self._by_token.get(token)

    def __iter__(self) -> Iterator[Instrument]:
        return iter(self._by_key.values())

    def __len__(self) -> int:
        return len(self._by_key)

    def __contains__(self, key: object) -> bool:
        return key in self._by_key


NSE_EQUITIES: tuple[Instrument, ...] = tuple(
    Instrument(symbol=s, token=t, exchange_token=et, name=n, base_price=Decimal(p)) for s, t, et, n, p in _NSE_EQUITIES
)


def _default() -> Universe:
    from mci.brokers.sim.fno import fno_contracts

    return Universe(NSE_EQUITIES + fno_contracts({i.symbol: i.base_price for i in NSE_EQUITIES}))


DEFAULT_UNIVERSE = _default()
