"""Which failures say the broker (or the road to it) is unwell: written once, for the Kite client's
retries (brokers.kite.is_transient) and for every circuit breaker (counts_against_broker).

Kite's client raises one exception class per `error_type` of the error envelope. NetworkException
("a network issue between Kite and the backend Order Management System") and DataException ("a bad
response from the backend OMS") are the broker's side; so is a GeneralException ("an unclassified,
general error", default code 500) that carries HTTP 429 or a 5xx. InputException, OrderException,
TokenException and PermissionException answer a wrong request.
https://kite.trade/docs/pykiteconnect/v4/exceptions.m.html
https://kite.trade/docs/phpkiteconnect/v3/namespaces/kiteconnect-exception.html
"""

from __future__ import annotations

from mci.errors import ExitCode, MciError

_KITE_OUTAGES = frozenset({"NetworkException", "DataException"})


def is_kite_error(exc: BaseException) -> bool:
    """An exception of the kiteconnect client (matched by module: kiteconnect loads only where it is used)."""
    return type(exc).__module__.startswith("kiteconnect")


def unreachable(exc: BaseException) -> bool:
    """Network trouble, or Kite answering that it is unwell: network, data, 429 or 5xx."""
    if isinstance(exc, OSError):  # ConnectionError, TimeoutError, socket errors, requests' RequestException
        return True
    if not is_kite_error(exc):
        return False
    name, code = type(exc).__name__, getattr(exc, "code", 0) or 0
    return name in _KITE_OUTAGES or (name == "GeneralException" and (code >= 500 or code == 429))


def counts_against_broker(exc: BaseException) -> bool:
    """True for failures a breaker should count: the broker is down or unreachable. An MciError counts when
    its exit code says unavailable; a refused request, a bad token or a bug in mci does not."""
    if isinstance(exc, MciError):
        return exc.code == ExitCode.UNAVAILABLE
    return unreachable(exc)
