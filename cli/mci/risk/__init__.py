"""Risk limits as a library: the pre-trade validator, the day's exposure, the limits' consistency.

    from mci.risk import Account, RiskModel, validate
    model = RiskModel.of(profile.risk, account.capital)
    verdict = validate({"exchange": "NSE", "symbol": "INFY", ...}, model, account, now)
    verdict.accepted, [f.render() for f in verdict.failures]
"""

from mci.risk.account import Account, Holding, InstrumentSpec
from mci.risk.exposure import Usage, assess, breaches
from mci.risk.intent import Failure, Intent, parse
from mci.risk.model import RiskModel
from mci.risk.validator import Verdict, check, validate

__all__ = ["Account", "Failure", "Holding", "InstrumentSpec", "Intent", "RiskModel", "Usage", "Verdict", "assess",
           "breaches", "check", "parse", "validate"]
