"""RiskModel: rupee limits rounded down to the paisa, problems() for consistency, and scanner check 10 judging
with it (risk.parameters, on the real paper broker)."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal as D
from pathlib import Path

import pytest

from mci.risk import RiskModel
from mci.risk.model import Problem
from testing.risk import CAPITAL, limits

MONDAY_1030_IST = datetime(2026, 11, 23, 5, 0, tzinfo=timezone.utc)


def problems(capital: D = CAPITAL, **changes) -> list[Problem]:
    return RiskModel.of(limits(**changes), capital).problems()


def levels(found: list[Problem]) -> list[tuple[str, str]]:
    return [(p.level, p.what) for p in found]


def test_rupees_are_rounded_down_to_the_paisa():
    model = RiskModel.of(limits(), D("999999.99"))
    assert model.max_risk_per_trade == D("19999.99")  # 19,999.9998
    assert model.max_daily_loss == D("59999.99")  # 59,999.9994
    assert model.max_position_loss == D("49999.99")  # 49,999.9995
    assert model.max_drawdown(D("1000000.07")) == D("150000.01")  # 1,50,000.0105


def test_the_paper_profile_only_warns_that_a_full_book_breaches_the_daily_loss():
    found = problems()
    assert levels(found) == [("warning", "5 positions each losing 2% would breach the 6% daily loss")]
    assert "5 × 2% = 10% (₹100,000.00) > 6% (₹60,000.00)" in found[0].why


def test_a_consistent_set_has_no_problem():
    assert problems(max_open_positions=3) == []  # 3 × 2% = 6%: not above the daily 6%


def test_per_trade_above_daily_is_an_error():
    found = problems(max_risk_per_trade=D("0.07"), max_open_positions=1)
    assert ("error", "max_risk_per_trade 7% exceeds max_daily_loss 6%") in levels(found)


def test_per_trade_equal_to_daily_is_no_error():
    found = problems(max_risk_per_trade=D("0.06"), max_position_loss=D("0.06"), max_open_positions=1)
    assert [p for p in found if p.level == "error"] == []


def test_position_loss_above_daily_is_an_error():
    found = problems(max_position_loss=D("0.0601"), max_open_positions=3)
    assert levels(found) == [("error", "max_position_loss 6.01% exceeds max_daily_loss 6%")]


def test_per_trade_above_position_loss_is_a_warning():
    found = problems(max_risk_per_trade=D("0.03"), max_position_loss=D("0.025"), max_open_positions=2)
    assert levels(found) == [("warning", "max_risk_per_trade 3% exceeds max_position_loss 2.5%")]


@pytest.mark.parametrize("positions, warned", [(3, False), (4, True), (5, True)])
def test_a_full_book_over_the_daily_loss_is_a_warning(positions, warned):
    found = problems(max_open_positions=positions)
    assert levels(found) == (
        [("warning", f"{positions} positions each losing 2% would breach the 6% daily loss")] if warned else []
    )


@pytest.mark.parametrize(
    "changes, what",
    [
        ({"max_drawdown": D("0")}, "risk.max_drawdown is 0%"),
        ({"price_band": D("0")}, "risk.price_band is 0%"),
        ({"max_open_positions": 0}, "risk.max_open_positions is 0"),
        ({"min_risk_reward": D("0")}, "risk.min_risk_reward is 0"),
        ({"warn_at": D("0")}, "risk.warn_at is 0%"),
        ({"warn_at": D("1.01")}, "risk.warn_at is 101%"),
    ],
    ids=["drawdown 0", "band 0", "no position", "rr 0", "warn_at 0", "warn_at over 100%"],
)
def test_unusable_limits_are_errors(changes, what):
    assert ("error", what) in levels(problems(**{"max_open_positions": 3, **changes}))


def test_zero_capital_is_an_error():
    assert ("error", "the capital is ₹0.00") in levels(problems(D("0"), max_open_positions=3))


def test_a_notional_cap_over_five_times_the_capital_warns():
    assert problems(max_open_positions=3, max_notional_per_order=D("5000000")) == []
    found = problems(max_open_positions=3, max_notional_per_order=D("5000000.01"))
    assert [p.level for p in found] == ["warning"] and "over 5× the capital" in found[0].what


# -- scanner check 10: risk.parameters judges with RiskModel, on the paper broker's opening balance ----

from mci.brokers import paper  # noqa: E402


def context(tmp_path: Path, risk, capital: D = CAPITAL):
    from mci.checks.base import CheckContext
    from mci.clock import Clock
    from mci.config.model import BreakerConfig, BrokerConfig, Checklist, MarketConfig, Profile, ScanConfig
    from mci.store.state import StateStore

    clock = Clock(MONDAY_1030_IST, frozen=True)
    profile = Profile(
        "paper",
        tmp_path / "paper.yaml",
        BrokerConfig("paper", capital),
        MarketConfig(),
        risk,
        {"broker": BreakerConfig()},
        ScanConfig(Checklist("x", "", ())),
    )
    broker = paper.PaperBroker(tmp_path, "paper", clock, capital=capital, seed=1)
    store = StateStore.open(tmp_path)
    return CheckContext(profile, clock, tmp_path, lambda: store, lambda: broker)


def run_check(tmp_path: Path, risk, capital: D = CAPITAL):
    from mci.checks.risk import RiskParameters
    from mci.checks.token import TokenValidity

    ctx = context(tmp_path, risk, capital)
    TokenValidity().run(ctx, {})  # the paper broker issues its session
    return RiskParameters().run(ctx, {})


def test_check_10_passes_a_consistent_set_with_the_rupee_figures(tmp_path):
    from mci.results import Status

    out = run_check(tmp_path, limits(max_open_positions=3))
    assert out.status is Status.PASSED
    assert out.summary == "2% of ₹1,000,000.00 = ₹20,000.00 per trade; daily loss 6% = ₹60,000.00"


def test_check_10_warns_on_the_paper_profiles_full_book(tmp_path):
    from mci.results import Status

    out = run_check(tmp_path, limits())
    assert out.status is Status.WARNED
    assert out.error.what == "5 positions each losing 2% would breach the 6% daily loss"


@pytest.mark.parametrize(
    "changes, words",
    [
        ({"max_risk_per_trade": D("0.07")}, "max_risk_per_trade 7% exceeds max_daily_loss 6%"),
        ({"max_position_loss": D("0.08")}, "max_position_loss 8% exceeds max_daily_loss 6%"),
    ],
    ids=["per trade > daily", "position > daily"],
)
def test_check_10_fails_an_inconsistent_set(tmp_path, changes, words):
    from mci.results import Status

    out = run_check(tmp_path, limits(max_open_positions=1, **changes))
    assert out.status is Status.FAILED and words in out.error.why


def test_check_10_reports_whatever_the_model_finds(tmp_path, monkeypatch):
    """The check has no rules of its own: a problem only RiskModel knows of reaches the scan."""
    from mci.results import Status

    seen = []

    def problems_of(model):
        seen.append(model)
        return [Problem("error", "a problem only the model knows", "because", "fix it")]

    monkeypatch.setattr(RiskModel, "problems", problems_of)
    out = run_check(tmp_path, limits(max_open_positions=3), capital=D("750000"))
    assert out.status is Status.FAILED and "a problem only the model knows: because" in out.error.why
    (model,) = seen
    assert model.capital == D("750000") and model.max_risk_per_trade == D("15000.00")  # the broker's opening
