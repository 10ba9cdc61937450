"""Risk limits as a library: the pre-trade validator, the day's exposure, the limits' consistency.

from mci.risk import Account, RiskModel, validate
model = RiskModel.of(profile.risk, account.capital)
verdict = validate({"exchange": "NSE", "symbol": "INFY", ...}, model, account, now)
verdict.accepted, [f.render() for f in verdict.failures]
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the names __getattr__ hands out, for the type checker (which never calls it)
    from mci.brokers.base import InstrumentSpec as InstrumentSpec
    from mci.risk.account import Account as Account, Holding as Holding
    from mci.risk.exposure import Usage as Usage, assess as assess, breaches as breaches
    from mci.risk.intent import Failure as Failure, Intent as Intent, parse as parse
    from mci.risk.model import RiskModel as RiskModel
    from mci.risk.validator import Verdict as Verdict, check as check, validate as validate

# Exports load on first use (PEP 562): scan check 10 imports mci.risk.model alone, and a scan must not pay
# for the validator and the exposure modules it never calls.
_EXPORTS = {
    "Account": "account",
    "Holding": "account",
    "InstrumentSpec": "account",
    "Usage": "exposure",
    "assess": "exposure",
    "breaches": "exposure",
    "Failure": "intent",
    "Intent": "intent",
    "parse": "intent",
    "RiskModel": "model",
    "Verdict": "validator",
    "check": "validator",
    "validate": "validator",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'mci.risk' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"mci.risk.{_EXPORTS[name]}"), name)
    globals()[name] = value
    return value
