"""The broker checks against the real paper exchange (mci.brokers.paper), not a stand-in."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from mci.brokers import paper  # noqa: E402

from mci.checks.base import CheckContext  # noqa: E402
from mci.checks.broker import AccountBalance, AccountPositions, BrokerConnectivity, StaleOrders  # noqa: E402
from mci.checks.risk import RiskParameters  # noqa: E402
from mci.checks.token import TokenExpiry, TokenValidity  # noqa: E402
from mci.clock import Clock  # noqa: E402
from mci.config.model import (  # noqa: E402
    BreakerConfig,
    BrokerConfig,
    Checklist,
    MarketConfig,
    Profile,
    RiskLimits,
    ScanConfig,
)
from mci.results import Status  # noqa: E402
from mci.store.state import StateStore  # noqa: E402

MONDAY_1030_IST = datetime(2026, 11, 23, 5, 0, tzinfo=timezone.utc)


def context(tmp_path: Path, capital: Decimal) -> CheckContext:
    clock = Clock(MONDAY_1030_IST, frozen=True)
    risk = RiskLimits(
        Decimal("0.02"), Decimal("0.06"), Decimal("0.15"), Decimal("0.05"), 3, Decimal("2"), Decimal("0.10")
    )
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


def test_paper_session_is_issued_and_dies_at_0600_ist(tmp_path):
    ctx = context(tmp_path, Decimal("1000000"))
    assert TokenValidity().run(ctx, {}).status is Status.PASSED
    expiry = TokenExpiry().run(ctx, {})
    assert expiry.status is Status.PASSED
    assert expiry.summary.startswith("expires 2026-11-24 06:00 IST")


def test_paper_account_checks_pass_on_a_fresh_account(tmp_path):
    ctx = context(tmp_path, Decimal("1000000"))
    TokenValidity().run(ctx, {})
    assert BrokerConnectivity().run(ctx, {}).status is Status.PASSED
    assert AccountBalance().run(ctx, {"min_available": Decimal("50000")}).status is Status.PASSED
    assert AccountPositions().run(ctx, {}).status is Status.PASSED
    assert StaleOrders().run(ctx, {}).summary == "no open orders"
    risk = RiskParameters().run(ctx, {})
    assert risk.status is Status.PASSED
    assert "2% of ₹1,000,000.00 = ₹20,000.00 per trade" in risk.summary


@pytest.mark.parametrize(
    "capital, status", [(Decimal("50000.00"), Status.PASSED), (Decimal("49999.99"), Status.FAILED)]
)
def test_paper_balance_at_the_threshold(tmp_path, capital, status):
    ctx = context(tmp_path, capital)
    TokenValidity().run(ctx, {})
    assert AccountBalance().run(ctx, {"min_available": "₹50,000"}).status is status


def test_order_path_passes_trivially_on_paper_which_has_no_static_ip_rule(tmp_path):
    from mci.checks.order_path import OrderPath

    outcome = OrderPath().run(context(tmp_path, Decimal("1000000")), {})
    assert outcome.status is Status.PASSED and outcome.summary.startswith("paper broker: no static-IP rule")


def test_paper_refuses_a_market_order_without_protection_as_kite_does(tmp_path):
    # The broker fills in the profile's broker.market_protection; the shared exchange refuses one without it.
    from mci.brokers.base import OrderRequest
    from mci.brokers.sim.exchange import OrderInputError

    ctx = context(tmp_path, Decimal("1000000"))
    oid = ctx.broker.place_order(OrderRequest("NSE", "INFY", "BUY", 1))
    assert ctx.broker.exchange.order(oid).market_protection == Decimal(-1)
    with pytest.raises(OrderInputError) as err:
        ctx.broker.exchange.place_order(OrderRequest("NSE", "INFY", "BUY", 1, market_protection=Decimal(0)))
    assert err.value.what.startswith("Market orders without market protection are not allowed via API")
