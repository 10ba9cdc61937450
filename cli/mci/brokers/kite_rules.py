"""Kite's order rules as of 2026, in one place: the simulated exchange, the Kite simulator, the brokers and
the pre-trade validator all read them here, so a rule is written (and cited) once.

Each rule carries the source it was taken from. Where Kite's exact words were found they are used verbatim;
where they were not, the text says so and keeps to the documented meaning.
"""

from __future__ import annotations

import re
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
MARKET_PROTECTION_REQUIRED = ("Market orders without market protection are not allowed via API. "
                              "Please set market protection or use a Limit order.")


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
IP_REGISTER_HOW = ("register the address under IP Whitelist on the Kite Connect developer console "
                   "(developers.kite.trade → Profile), or run from a machine with a registered static IP; "
                   "Kite allows one change per calendar week")

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
LPP_CANCELLED = ("The order was cancelled by the exchange because the price is outside the current allowed "
                 "limit price protection range.")
# A remainder left by a partial fill rests in the book: "it filled whatever quantity the protection band allowed and
# left any remainder resting in the book as a limit order at the cap" (https://v2.webnotes.in/how-to-fix-market-executed-as-limit/);
# the fix it gives is "to re-place the unfilled quantity rather than to fight the stranded order".
