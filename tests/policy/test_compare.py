"""The comparisons themselves, on the typed model: every field's direction."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import time, timedelta
from decimal import Decimal

import pytest

from mci.config.model import (
    BreakerConfig,
    Checklist,
    CheckSpec,
    RetryPolicy,
    RiskLimits,
    Sequence,
    StepSpec,
    WatchConfig,
)
from mci.policy import fmt
from mci.policy.compare_calendar import compare_calendars
from mci.policy.compare_items import compare_checklists
from mci.policy.compare_steps import compare_sequences
from mci.policy.compare_profile import RISK, compare_breakers, compare_risk, compare_watch
from mci.policy.findings import subject

RISK_BASE = RiskLimits(
    max_risk_per_trade=Decimal("0.02"),
    max_daily_loss=Decimal("0.06"),
    max_drawdown=Decimal("0.15"),
    max_position_loss=Decimal("0.05"),
    max_open_positions=5,
    min_risk_reward=Decimal("2.0"),
    price_band=Decimal("0.10"),
    max_quantity_per_order=500,
    max_notional_per_order=Decimal("200000"),
    max_orders_per_second=Decimal("5"),
    max_order_to_trade_ratio=Decimal("10"),
    max_signal_age=timedelta(seconds=5),
    warn_at=Decimal("0.8"),
    allowed_exchanges=("NSE",),
)


def _bigger(value):
    if isinstance(value, timedelta):
        return value * 2
    return value + 1 if isinstance(value, int) else value * Decimal("1.5")


@pytest.mark.parametrize("name", sorted(RISK))
def test_every_risk_limit_has_a_direction(name):
    unit, higher_is_looser, _ = RISK[name]
    old = getattr(RISK_BASE, name)
    [change] = compare_risk(RISK_BASE, replace(RISK_BASE, **{name: _bigger(old)}))
    assert change.kind == ("loosening" if higher_is_looser else "tightening")
    assert change.key == f"risk.{name}"
    [back] = compare_risk(replace(RISK_BASE, **{name: _bigger(old)}), RISK_BASE)
    assert back.kind == ("tightening" if higher_is_looser else "loosening")


@pytest.mark.parametrize(
    "name",
    [
        "max_quantity_per_order",
        "max_notional_per_order",
        "max_orders_per_second",
        "max_order_to_trade_ratio",
        "max_signal_age",
    ],
)
def test_removing_an_optional_limit_loosens(name):
    [change] = compare_risk(RISK_BASE, replace(RISK_BASE, **{name: None}))
    assert (change.kind, change.value) == ("loosening", "removed")
    [added] = compare_risk(replace(RISK_BASE, **{name: None}), RISK_BASE)
    assert added.kind == "tightening"


def test_allowed_lists_widened_removed_narrowed():
    widened = compare_risk(RISK_BASE, replace(RISK_BASE, allowed_exchanges=("NSE", "BSE")))
    assert [(c.kind, c.value) for c in widened] == [("loosening", "BSE,NSE")]
    removed = compare_risk(RISK_BASE, replace(RISK_BASE, allowed_exchanges=None))
    assert [(c.kind, c.value) for c in removed] == [("loosening", "any")]
    narrowed = compare_risk(replace(RISK_BASE, allowed_exchanges=("NSE", "BSE")), RISK_BASE)
    assert [c.kind for c in narrowed] == ["tightening"]
    assert compare_risk(RISK_BASE, replace(RISK_BASE, allowed_exchanges=("NSE",))) == []


def test_require_stop_loss():
    [change] = compare_risk(RISK_BASE, replace(RISK_BASE, require_stop_loss=False))
    assert (change.kind, change.value) == ("loosening", "false")


def test_watch():
    base = WatchConfig(square_off=time(15, 15))
    kinds = lambda new: [(c.key, c.kind) for c in compare_watch(base, new)]  # noqa: E731
    assert kinds(replace(base, interval=timedelta(seconds=5))) == [("watch.interval", "loosening")]
    assert kinds(replace(base, token_warning=timedelta(minutes=5))) == [("watch.token_warning", "loosening")]
    assert kinds(replace(base, square_off=time(15, 25))) == [("watch.square_off", "loosening")]
    assert kinds(replace(base, square_off=None)) == [("watch.square_off", "loosening")]
    assert kinds(replace(base, square_off=time(15, 0))) == [("watch.square_off", "tightening")]


def test_breakers():
    base = {"broker": BreakerConfig(5, timedelta(seconds=60))}
    assert [c.kind for c in compare_breakers(base, {})] == ["loosening"]
    assert [c.kind for c in compare_breakers(base, {"broker": BreakerConfig(3, timedelta(seconds=120))})] == [
        "tightening",
        "tightening",
    ]


def _check(check_id="balance", kind="account.balance", **fields):
    return CheckSpec(check_id, kind, check_id.title(), fields.pop("params", {}), **fields)


def _checklist(*checks):
    return Checklist("c", "", tuple(checks))


def test_check_params_with_a_direction():
    old = _checklist(
        _check(params={"min_available": Decimal(50000)}),
        _check("order_queue", "orders.stale", params={"max_age": timedelta(minutes=5)}),
        _check("hours", "market.hours", params={"open": time(9, 15), "close": time(15, 30)}),
    )
    new = _checklist(
        _check(params={"min_available": Decimal(10000)}),
        _check("order_queue", "orders.stale", params={"max_age": timedelta(minutes=30)}),
        _check("hours", "market.hours", params={"open": time(9, 0), "close": time(15, 0)}),
    )
    got = {c.key: (c.kind, c.value) for c in compare_checklists(old, new, "scan", "checks")}
    assert got == {
        "checks.balance.params.min_available": ("loosening", "10000"),
        "checks.order_queue.params.max_age": ("loosening", "30m"),
        "checks.hours.params.open": ("loosening", "09:00"),
        "checks.hours.params.close": ("tightening", "15:00"),
    }


def test_check_severity_timeout_breaker_kind():
    old = _checklist(_check(breaker="broker"), _check("hours", "market.hours"))
    new = _checklist(_check(severity="advisory", timeout=timedelta(seconds=60)), _check("hours", "market.weekend"))
    got = {c.key: c.kind for c in compare_checklists(old, new, "scan", "checks")}
    assert got == {
        "checks.balance.severity": "loosening",
        "checks.balance.timeout": "loosening",
        "checks.balance.breaker": "loosening",
        "checks.hours.kind": "loosening",
    }


def _step(step_id, kind, **fields):
    return StepSpec(step_id, kind, step_id, fields.pop("params", {}), **fields)


def test_emergency_square_off_narrowed_and_attempts_lowered():
    old = Sequence("emergency", "", (_step("square_off", "positions.square_off", retry=RetryPolicy(attempts=3)),))
    new = Sequence("emergency", "", (_step("square_off", "positions.square_off", params={"products": ["MIS"]}),))
    got = {c.key: c.kind for c in compare_sequences(old, new, "e", "steps", emergency=True)}
    assert got == {"steps.square_off.retry.attempts": "loosening", "steps.square_off.params.products": "loosening"}


def test_on_error_ranks_differ_in_the_emergency():
    old = Sequence("s", "", (_step("a", "orders.cancel_all", on_error="continue"),))
    new = Sequence("s", "", (_step("a", "orders.cancel_all", on_error="abort"),))
    [normal] = compare_sequences(old, new, "s", "steps", emergency=False)
    [emergency] = compare_sequences(old, new, "s", "steps", emergency=True)
    assert (normal.kind, emergency.kind) == ("tightening", "loosening")


def test_calendar():
    old = {
        "holidays": [{"date": "2026-12-25", "name": "Christmas"}],
        "weekend": ["saturday", "sunday"],
        "sessions": {"pre_open": {"start": "09:00", "end": "09:15"}, "normal": {"start": "09:15", "end": "15:30"}},
    }
    new = {
        "holidays": [{"date": "2026-12-24", "name": "Eve"}],
        "weekend": ["sunday"],
        "sessions": {"pre_open": {"start": "09:00", "end": "09:15"}, "normal": {"start": "09:00", "end": "15:30"}},
    }
    got = {c.key: c.kind for c in compare_calendars(old, new)}
    assert got == {
        "holidays.2026-12-25": "loosening",
        "holidays.2026-12-24": "tightening",
        "sessions.normal.start": "loosening",
        "weekend": "loosening",
    }


def test_formats():
    assert fmt.percent(Decimal("0.08")) == "8%" and fmt.percent(Decimal("0.005")) == "0.5%"
    assert fmt.rupees(Decimal("1000000")) == "₹10,00,000" and fmt.rupees(Decimal("500")) == "₹500"
    assert [fmt.duration(timedelta(seconds=s)) for s in (0.5, 30, 90, 900, 7200)] == [
        "500ms",
        "30s",
        "90s",
        "15m",
        "2h",
    ]


def test_subjects_have_no_spaces_and_stay_within_the_limit():
    assert subject("profiles/a b.yaml", "risk.x", "1 2") == "policy:profiles/a_b.yaml:risk.x=1_2"
    long = subject("rules/s.yaml", "steps.order", ",".join(f"step_{i}" for i in range(100)))
    assert re.match(r"^policy:\S{1,400}$", long) and "sha256-" in long


def test_a_step_added_to_the_emergency_that_can_stop_it_loosens():
    old = Sequence("emergency", "", (_step("halt", "lifecycle.halt", on_error="continue"),))
    new = Sequence(
        "emergency",
        "",
        (_step("log", "state.log", on_error="abort"), _step("halt", "lifecycle.halt", on_error="continue")),
    )
    got = {c.key: c.kind for c in compare_sequences(old, new, "e", "steps", emergency=True)}
    assert got == {"steps.log": "tightening", "steps.log.on_error": "loosening"}


def test_calendar_special_sessions_and_coverage():
    base = {
        "holidays": [{"date": "2026-12-25", "name": "Christmas"}],
        "covers": {"from": "2025-01-01", "until": "2026-12-31"},
        "special_sessions": [{"date": "2025-10-21", "name": "Muhurat", "normal": {"start": "13:45", "end": "14:45"}}],
    }
    sunday = {
        **base,
        "special_sessions": base["special_sessions"]
        + [{"date": "2026-02-01", "name": "Budget", "normal": {"start": "09:15", "end": "15:30"}}],
    }
    assert {c.key: c.kind for c in compare_calendars(base, sunday)} == {"special_sessions.2026-02-01": "loosening"}
    assert {c.key: c.kind for c in compare_calendars(sunday, base)} == {"special_sessions.2026-02-01": "tightening"}
    bare = {**base, "covers": {"from": "2025-01-01", "until": "2027-12-31"}}
    assert {c.key: c.kind for c in compare_calendars(base, bare)} == {"covers.until": "loosening"}
    listed = {**bare, "holidays": base["holidays"] + [{"date": "2027-01-26", "name": "Republic Day"}]}
    assert {c.key: c.kind for c in compare_calendars(base, listed)} == {
        "covers.until": "neutral",
        "holidays.2027-01-26": "tightening",
    }


def test_market_cutoffs_and_calendar():
    from dataclasses import replace as _replace
    from datetime import time as _time

    from mci.config import load_profile
    from mci.policy.compare_profile import compare_market

    paper = load_profile(None)
    later = _replace(paper, market=_replace(paper.market, entry_cutoff={"*": _time(15, 18)}))
    assert {c.key: c.kind for c in compare_market(paper, later)} == {"market.entry_cutoff.CM": "loosening"}
    assert {c.key: c.kind for c in compare_market(later, paper)} == {"market.entry_cutoff.CM": "tightening"}
    broker = _replace(paper, market=_replace(paper.market, broker_square_off={"CM": _time(15, 10)}))
    assert {c.key: c.kind for c in compare_market(paper, broker)} == {"market.broker_square_off.CM": "tightening"}
    moved = _replace(paper, market=_replace(paper.market, calendar="calendars/nse.yaml"))
    assert {c.key: c.kind for c in compare_market(paper, moved)} == {"market.calendar": "neutral"}
    square = _replace(paper, watch=_replace(paper.watch, square_off=_time(15, 10)))
    assert compare_market(paper, square) == []  # the cut-off follows watch.square_off: reported once, there
