"""The simulator's NFO contracts: futures and options on NIFTY, BANKNIFTY and ten stocks, as Kite's dump lists them.

Tradingsymbols follow Kite's monthly form (NIFTY26DECFUT, NIFTY26DEC26000CE). Expiries are the last Tuesday of the
month: from 2025-08-29 NIFTY, BANKNIFTY and "all single stock futures" moved from Thursday to Tuesday (NSE circular of
2025-06-23, https://businesstoday.in/markets/stocks/story/nse-revises-expiry-dates-for-index-derivatives-contracts-from-august-29-481484-2025-06-23);
"Nifty and Stock FNO contracts expire on the last Tuesday of the expiry month. If the last Tuesday is a trading
holiday, the contracts expire on the previous trading day"
(https://www.venturasecurities.com/support/products/futures-and-options/what-changed-beyond-lot-sizes). The simulator
lists six monthly series (October 2026 to March 2027) and no weeklies, and ignores holidays on expiry day.

Lot sizes: NIFTY 65 ("with the revised lot size of 65",
https://www.icicidirect.com/faqs/fno/what-is-a-quantity-freeze-limit-in-futures-and-options); BANKNIFTY 30 and the
stocks' lots are NSE's 2026 market lots as known to the author, not read from NSE's lot file in this session. Ticks
are 0.05 (NSE's F&O tick for these). Instrument tokens are made the way Kite makes them (exchange_token × 256 + 2 for
NFO) from invented exchange tokens: stable and unique, never live Kite's.

Freeze quantities: mci.brokers.kite_rules (index limits from NSE circulars, stock limits stand-ins), rounded down
to whole lots as NSE does.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Mapping

from mci.brokers import kite_rules

if TYPE_CHECKING:
    from mci.brokers.sim.universe import Instrument

NFO_SEGMENT_ID = 2  # Kite: instrument_token = exchange_token << 8 | segment; NFO is 2
FIRST_SERIES = (2026, 10)
SERIES = 6
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
OPTION_PREMIUM = Decimal("0.02")  # an at-the-money monthly option's premium as a fraction of the underlying

# (underlying, Kite's name column, spot base price or None to take the equity's, lot size, strike step)
UNDERLYINGS: tuple[tuple[str, str, str | None, int, int], ...] = (
    ("NIFTY", "NIFTY", "26000.00", 65, 100),
    ("BANKNIFTY", "BANKNIFTY", "59000.00", 30, 100),
    ("RELIANCE", "RELIANCE", None, 500, 20),
    ("INFY", "INFY", None, 400, 20),
    ("TCS", "TCS", None, 175, 50),
    ("HDFCBANK", "HDFCBANK", None, 550, 10),
    ("ICICIBANK", "ICICIBANK", None, 700, 10),
    ("SBIN", "SBIN", None, 750, 10),
    ("ITC", "ITC", None, 1600, 5),
    ("LT", "LT", None, 175, 50),
    ("AXISBANK", "AXISBANK", None, 625, 10),
    ("TATASTEEL", "TATASTEEL", None, 5500, 2),
)


def last_tuesday(year: int, month: int) -> date:
    first_next = date(year + month // 12, month % 12 + 1, 1)
    last = first_next - timedelta(days=1)
    return last - timedelta(days=(last.weekday() - 1) % 7)


def _series() -> list[tuple[int, int]]:
    year, month = FIRST_SERIES
    out = []
    for _ in range(SERIES):
        out.append((year, month))
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return out


def fno_contracts(equity_prices: Mapping[str, Decimal]) -> "tuple[Instrument, ...]":
    """Per underlying and monthly series: the future, and the at-the-money call and put (every process that opens
    the exchange builds them: kept small, a few hundred)."""
    from mci.brokers.sim.universe import Instrument  # here: the universe module builds its default from this one

    out: list[Instrument] = []
    exchange_token = 60000
    series = [(f"{year % 100:02d}{_MONTHS[month - 1]}", last_tuesday(year, month)) for year, month in _series()]
    for name, kite_name, spot_text, lot, step in UNDERLYINGS:
        spot = Decimal(spot_text) if spot_text else equity_prices[name]
        limit = kite_rules.freeze_limit("NFO", f"{name}26DECFUT")
        assert limit is not None, name
        freeze = kite_rules.effective_freeze(limit, lot)
        atm = int((spot / step).quantize(Decimal(1), rounding=ROUND_HALF_UP)) * step
        premium = (spot * OPTION_PREMIUM).quantize(Decimal("0.05"))
        strike_value = Decimal(atm)
        for code, expiry in series:
            stem = f"{name}{code}"
            legs = (
                (f"{stem}FUT", "FUT", Decimal(0), spot),
                (f"{stem}{atm}CE", "CE", strike_value, premium),
                (f"{stem}{atm}PE", "PE", strike_value, premium),
            )
            for symbol, kind, strike, price in legs:
                exchange_token += 1
                out.append(Instrument(
                    symbol=symbol, token=exchange_token * 256 + NFO_SEGMENT_ID, exchange_token=exchange_token,
                    name=kite_name, base_price=price, exchange="NFO", tick_size=Decimal("0.05"), lot_size=lot,
                    instrument_type=kind, expiry=expiry, strike=strike, freeze_quantity=freeze,
                ))  # fmt: skip
    return tuple(out)
