"""Kite's order rules as of 2026, in one place: the simulated exchange, the Kite simulator, the brokers and
the pre-trade validator all read them here, so a rule is written (and cited) once.

Each rule carries the source it was taken from. Where Kite's exact words were found they are used verbatim;
where they were not, the text says so and keeps to the documented meaning.
"""

from __future__ import annotations

import re
from datetime import time
from decimal import Decimal, InvalidOperation
from typing import Any

# ---------------------------------------------------------------- market protection
# Since 2026-04-01 Kite refuses API MARKET and SL-M orders without market protection, and "0" too:
# https://kite.trade/forum/discussion/comment/52316 ("Orders placed with market protection set to "0" will be
# rejected. This includes SL-M orders."). The error's words, as a user reported them:
# https://tradingqna.com/t/api-market-protection-parameter-clarification-needed-on-correct-usage/193504
# Values (kiteconnect 5.1.0+ docstring of place_order/modify_order, and
# https://kite.trade/forum/discussion/comment/52940): -1 is automatic, else a percentage above 0 up to 100.
NEEDS_MARKET_PROTECTION = ("MARKET", "SL-M")
AUTO_MARKET_PROTECTION = Decimal(-1)
MARKET_PROTECTION_REQUIRED = (
    "Market orders without market protection are not allowed via API. "
    "Please set market protection or use a Limit order."
)


def market_protection_value(value: Any) -> Decimal | None:
    """The protection as Decimal when it is one Kite accepts (-1, or 0 < p ≤ 100), else None."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    if not number.is_finite():
        return None
    if number == AUTO_MARKET_PROTECTION or Decimal(0) < number <= Decimal(100):
        return number
    return None


# ---------------------------------------------------------------- tags, modifications, slices
# "tag: An optional tag to apply to an order to identify it (alphanumeric, max 20 chars)":
# https://kite.trade/docs/connect/v3/orders/ (regular order parameters).
TAG_RE = re.compile(r"^[A-Za-z0-9]{1,20}$")
# Kite allows an order to be modified at most 25 times; the 26th modify request is refused with
# "Maximum allowed order modifications exceeded":
# https://stocksdeveloper.in/knowledgebase/kite-maximum-allowed-order-modifications-exceeded/
MAX_MODIFICATIONS = 25
MODIFICATIONS_EXCEEDED = "Maximum allowed order modifications exceeded"
# "Order slicing should be capped at a maximum of 10 slices to stay in line with the 10 orders-per-second limit":
# https://kite.trade/forum/discussion/15912/preparing-to-comply-with-sebis-retail-algo-rules-static-ip-ratelimits-order-types
MAX_SLICES = 10

# ---------------------------------------------------------------- RMS rejections (the order turns REJECTED)
# The rules Kite's RMS validates before an order reaches the exchange:
# https://support.zerodha.com/category/console/portfolio/holdings/articles/kite-order-rejections
# (freeze quantity, intraday-blocked stocks, trigger vs LTP, circuit limits, quantity over 1,00,000).
MAX_EQUITY_QUANTITY = 100_000
# https://v2.webnotes.in/kite-order-quantity-value-limits/ quotes the message exactly.
QUANTITY_EXCEEDED = "Maximum quantity per order for Equity is 1,00,000"
# https://tradingqna.com/t/how-do-you-reliably-get-into-order-book-and-exit/193460 quotes the message exactly.
CIRCUIT_EXCEEDED = "Price exceeds circuit limits for the instrument. Place an order within the daily range."
# Kite's RMS wording for a stop on the wrong side of the LTP, as quoted in
# https://tradingqna.com/t/what-does-this-error-mean-rms-rule-check-trigger-price-vs-ltp-for-sl-m-orders-trigger-price-351-50-ltp-352-50-for-entity-account-xxxxxx-across/8688
TRIGGER_VS_LTP = "RMS:Rule: Check trigger price vs ltp for {order_type} orders; trigger price: {trigger}, ltp {ltp}"
# Intraday (MIS) orders are blocked for some stocks:
# https://support.zerodha.com/category/trading-and-markets/product-and-order-types/product/articles/intraday-orders-not-allowed-for-some-stocks
# Kite's exact status_message was not found; this keeps to the article's meaning.
MIS_BLOCKED = "MIS (intraday) orders are blocked for {symbol}. Place a CNC (delivery) order instead."
# The margin rejection as Kite words it (the simulator has always used it):
# https://kite.trade/forum/discussion/comment/51118 and the Kite order-rejection article above.
INSUFFICIENT_FUNDS = "Insufficient funds. Required margin is {required:.2f} but available margin is {available:.2f}."

# ---------------------------------------------------------------- static IP
# Since 2026-04-01 "All order requests from an unregistered IP will be rejected", and "Only order endpoints
# [place, modify, cancel] will be validated against the static IP":
# https://kite.trade/forum/discussion/15912/preparing-to-comply-with-sebis-retail-algo-rules-static-ip-ratelimits-order-types
# https://kite.trade/forum/discussion/comment/52125 ; registration: developers.kite.trade → Profile → IP Whitelist
# (https://support.zerodha.com/category/trading-and-markets/general-kite/kite-api/articles/static-ip).
# Kite's exact error text and code were not found in any public source: the simulator answers 403
# PermissionException (a permission, not the token) and names the address it saw.
IP_NOT_ALLOWED = "Order requests are not allowed from IP {ip}. Register this IP under IP Whitelist on the Kite Connect developer console."
IP_REGISTER_HOW = (
    "register the address under IP Whitelist on the Kite Connect developer console "
    "(developers.kite.trade → Profile), or run from a machine with a registered static IP; "
    "Kite allows one change per calendar week"
)

# ---------------------------------------------------------------- F&O: freeze quantity, varieties, cover orders
# NSE's quantity freeze: "all orders that are entered in the trading system with quantity more than the respective
# freeze quantity limit ... shall be frozen and automatically rejected by the Exchange" (NSE circular of 31 July,
# quoted at https://sandbox.5paisa.com/blog/nse-announces-quantity-freeze-limits-for-derivative-contracts). Kite checks
# it before the exchange: "Freeze Quantity - Validates F&O orders which are higher than freeze quantity", and "such
# orders cannot be found in the order book as they are rejected before they are sent to the exchanges"
# (https://support.zerodha.com/category/console/portfolio/holdings/articles/kite-order-rejections): the simulator refuses
# the request and records nothing. Kite's instrument dump carries no freeze quantity, so the limits ship here as data.
# Index limits in units, NSE circulars effective 2025-11-03 (BANKNIFTY 600, NIFTY 1800, FINNIFTY 1800, MIDCPNIFTY 2800,
# NIFTYNXT50 600: https://rhnvrm.github.io/stock-market-circulars/circulars/nse/2025/nse-2025-10-31-c75672c8d864935e-quantity-freeze-limits-for-indices)
# and unchanged for 2026-02-01 (https://www.icicidirect.com/faqs/fno/what-is-a-quantity-freeze-limit-in-futures-and-options).
INDEX_FREEZE_QUANTITY: dict[str, int] = {
    "NIFTY": 1800,
    "BANKNIFTY": 600,
    "FINNIFTY": 1800,
    "MIDCPNIFTY": 2800,
    "NIFTYNXT50": 600,
}
# Stock derivatives: NSE publishes a freeze quantity per underlying (nseindia.com, "Volume Freeze Quantity", linked from
# https://support.zerodha.com/category/trading-and-markets/margin-leverage-and-product-and-order-types/articles/what-does-the-order-rejection-error-rms-rule-check-freeze-quantity-for-nse-cash-mean).
# That file could not be read from here: these are the simulator's stand-ins (about 20 lots each), NOT NSE's figures;
# a profile trading stock F&O live must check them against NSE's file.
STOCK_FREEZE_QUANTITY: dict[str, int] = {
    "RELIANCE": 10000,
    "INFY": 8000,
    "TCS": 3500,
    "HDFCBANK": 11000,
    "ICICIBANK": 14000,
    "SBIN": 15000,
    "ITC": 32000,
    "LT": 3500,
    "AXISBANK": 12500,
    "TATASTEEL": 55000,
}
# "the Nifty quantity freeze limit remains 1,800; however, with the revised lot size of 65, the effective freeze
# quantity becomes 1,755 (i.e., the highest divisible lot multiple below 1,800)":
# https://www.icicidirect.com/faqs/fno/what-is-a-quantity-freeze-limit-in-futures-and-options
# Kite's verbatim rejection for the cash segment is "RMS:Rule: Check freeze quantity for NSE CASH" (the Zerodha support
# article above); its F&O wording was not found, the simulator keeps the same form with the segment's name.
FREEZE_EXCEEDED = "RMS:Rule: Check freeze quantity for {segment}"
_FREEZE_MARK = "check freeze quantity"
_UNDERLYING_RE = re.compile(r"^([A-Z&-]+?)(\d{2}[A-Z0-9]{3})")  # NIFTY26DECFUT, BANKNIFTY26DEC59000CE, M&M26DECFUT
_SERIES_RE = re.compile(r"\d{2}[A-Z0-9]{3}")  # the expiry after the name: 26DEC (monthly), 26D29 / 26N03 (weekly)


def is_freeze_rejection(text: str | None) -> bool:
    """Whether a broker's refusal is the freeze-quantity rule (a larger order must be sliced)."""
    return bool(text) and _FREEZE_MARK in str(text).lower()


def underlying(tradingsymbol: str) -> str | None:
    """The underlying of an NFO tradingsymbol (NIFTY26DEC26000CE -> NIFTY); None when it is not one."""
    symbol = tradingsymbol.upper()
    # Known names first, longest first: NIFTYNXT50 holds digits and starts like NIFTY.
    for name in sorted((*INDEX_FREEZE_QUANTITY, *STOCK_FREEZE_QUANTITY), key=len, reverse=True):
        if symbol.startswith(name) and _SERIES_RE.match(symbol, len(name)):
            return name
    match = _UNDERLYING_RE.match(symbol)
    return match.group(1) if match else None


def freeze_limit(exchange: str, tradingsymbol: str) -> int | None:
    """NSE's freeze limit in units for an NFO contract; None for what has none here (cash: MAX_EQUITY_QUANTITY)."""
    if exchange.upper() != "NFO":
        return None
    name = underlying(tradingsymbol)
    if name is None:
        return None
    return INDEX_FREEZE_QUANTITY.get(name) or STOCK_FREEZE_QUANTITY.get(name)


def effective_freeze(limit: int, lot_size: int) -> int:
    """The most units one order may carry: the highest whole number of lots within the limit (at least one lot)."""
    return max(lot_size, (limit // lot_size) * lot_size)


# Varieties: "regular", "amo", "co", "iceberg", "auction" (kiteconnect connect.py VARIETY_* constants;
# https://kite.trade/docs/connect/v3/orders/#glossary). An order is modified and cancelled on the route of its own
# variety (/orders/:variety/:order_id): "You need to pass variety as the third argument and not product"
# https://kite.trade/forum/discussion/comment/6649
VARIETIES = ("regular", "amo", "co", "iceberg", "auction")
# A cover order's stop-loss leg is not cancelled but exited: "It is basically an exit order which uses the same
# cancel order API with parent order id. If you don't send a parent order id then API will cancel it as a normal
# order and you will be in trouble end of the day since RMS looks at it as a hanging position"
# (https://kite.trade/forum/profile/comments/sujith?page=p44); the second leg "will have a parent_order_id field which
# points to the first leg order" (https://kite.trade/forum/discussion/comment/27221/). kiteconnect: exit_order(variety,
# order_id, parent_order_id) is cancel_order with parent_order_id.
CO_EXIT_NEEDS_PARENT = (
    "A cover order's stop-loss leg is exited with its parent_order_id: "
    "cancelling it alone would leave the position hanging."
)

# Kite's RMS "Blocks market orders for stock options due to illiquidity"
# (https://support.zerodha.com/category/console/portfolio/holdings/articles/kite-order-rejections): such orders are
# refused before the book. Kite's exact wording was not found; this is the simulator's. A square-off of a stock option
# is therefore a LIMIT at a marketable price: STOCK_OPTION_LIMIT_AWAY from the LTP, against the closer.
STOCK_OPTION_MARKET_BLOCKED = "Market orders are blocked for stock options. Place a limit order."
STOCK_OPTION_LIMIT_AWAY = Decimal("0.05")


def is_stock_option(exchange: str, tradingsymbol: str) -> bool:
    """An NFO option whose underlying is a stock (not an index)."""
    symbol = tradingsymbol.upper()
    if exchange.upper() != "NFO" or not symbol.endswith(("CE", "PE")):
        return False
    name = underlying(symbol)
    return name is not None and name not in INDEX_FREEZE_QUANTITY


# After-market orders: Kite "Blocks AMO orders placed between 9:00 AM and 3:45 PM for EQ and CDS, 9:10 AM and 3:45 for
# FO" (https://support.zerodha.com/category/console/portfolio/holdings/articles/kite-order-rejections), refused before
# the book like the freeze quantity. Kite's exact wording was not found; this is the simulator's.
AMO_BLOCKED_FROM = {"NSE": time(9, 0), "NFO": time(9, 10)}
AMO_BLOCKED_UNTIL = time(15, 45)
AMO_BLOCKED = "AMO orders are not allowed between {start} and {end} for {exchange}. Place a regular order."


def amo_blocked(exchange: str, at: time) -> str | None:
    """Kite's refusal of an AMO placed at `at` (exchange-local time), or None when AMOs are taken then."""
    start = AMO_BLOCKED_FROM.get(exchange.upper())
    if start is None or not start <= at < AMO_BLOCKED_UNTIL:
        return None
    return AMO_BLOCKED.format(start=f"{start:%H:%M}", end=f"{AMO_BLOCKED_UNTIL:%H:%M}", exchange=exchange.upper())


# ---------------------------------------------------------------- circuits, market protection, LPP (issue 13)
# An instrument at its circuit has one side only: "When a stock hits the lower circuit ... Only sellers remain ...
# You can't sell: Even if you place a sell order, it won't be executed", and an order placed during the lock
# "remains pending unless price range opens up" (https://support.fyers.in/portal/en/kb/articles/what-happens-to-buy-and-sell-orders-when-a-stock-hits-the-upper-or-lower-circuit).
# Zerodha's own words on a market order that meets no counter-side: "the market order converts into a limit order
# with limit price = last traded price ... if you place a buy market order in a stock which has already hit upper
# circuit, this market order will also convert to a limit order with limit price = upper circuit price"
# (https://tradingqna.com/t/why-does-my-market-order-get-changed-to-a-limit-order-while-trading-certain-scrips/22278/4).
# So an API MARKET exit with market_protection rests OPEN as a limit at the circuit price: "my exit order remained
# "open" as the prices never came back to my order limit price" / "Under the hood, market protection behaves
# similarly to placing a limit order with a buffer" (https://kite.trade/forum/discussion/comment/52479/).
# The exchange's limit price protection cancels, at matching, an order priced outside its allowed range, in these
# words (https://support.zerodha.com/category/trading-and-markets/kite-web-and-mobile/kite-error-messages/articles/price-out-of-lpp-range,
# and "This validation occurs during order matching. If the order is within the range at that time, it will
# execute; otherwise, it will be cancelled": https://kite.trade/forum/discussion/13838/the-order-was-cancelled-by-the-exchange).
LPP_CANCELLED = (
    "The order was cancelled by the exchange because the price is outside the current allowed "
    "limit price protection range."
)
# A remainder left by a partial fill rests in the book: "it filled whatever quantity the protection band allowed and
# left any remainder resting in the book as a limit order at the cap" (https://v2.webnotes.in/how-to-fix-market-executed-as-limit/);
# the fix it gives is "to re-place the unfilled quantity rather than to fight the stranded order".
