"""The nine scanner checks of this package: each pass / warn / fail path, with real values at the edges."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from mci.brokers.base import Funds, Order, Position, SessionInfo
from mci.checks.base import CheckContext
from mci.checks.breaker import BreakerState
from mci.checks.broker import AccountBalance, AccountPositions, BrokerConnectivity, StaleOrders
from mci.checks.risk import RiskParameters
from mci.checks.system import SystemHealth
from mci.checks.token import TokenExpiry, TokenValidity
from mci.clock import Clock
from mci.config.model import BreakerConfig, BrokerConfig, Checklist, MarketConfig, Profile, RiskLimits, ScanConfig
from mci.errors import ConfigError, ExitCode, UnavailableError
from mci.results import Status
from mci.store.state import StateStore
from testing.breakers import trip

T0 = datetime(2026, 11, 23, 5, 0, tzinfo=timezone.utc)  # Monday 10:30 IST
NEXT_0600_IST = datetime(2026, 11, 24, 0, 30, tzinfo=timezone.utc)


class Broker:
    """Plain values behind the Broker protocol."""

    name = "test"

    def __init__(
        self,
        *,
        session: SessionInfo | None = None,
        funds: Funds | None = None,
        positions: list[Position] | None = None,
        orders: list[Order] | None = None,
        skew: timedelta = timedelta(0),
        latency: float = 0.0,
        down: bool = False,
    ):
        self._session = session or SessionInfo(True, "AB1234", T0 - timedelta(hours=2), NEXT_0600_IST)
        self._funds = funds or Funds(Decimal("950000.00"), Decimal("50000.00"), Decimal("1000000.00"))
        self._positions = positions or []
        self._orders = orders or []
        self.skew, self.latency, self.down = skew, latency, down
        self.clock = Clock(T0, frozen=True)

    def session(self) -> SessionInfo:
        return self._session

    def ensure_session(self) -> SessionInfo:
        return self._session

    def server_time(self) -> datetime:
        if self.down:
            raise UnavailableError("the broker did not answer", "connection refused", "retry later")
        time.sleep(self.latency)
        return self.clock.now() + self.skew

    def funds(self) -> Funds:
        return self._funds

    def positions(self) -> list[Position]:
        return self._positions

    def orders(self) -> list[Order]:
        return self._orders

    def close(self) -> None:
        pass


def make_profile(kind: str = "paper", **risk_overrides) -> Profile:
    risk = RiskLimits(
        max_risk_per_trade=Decimal("0.02"),
        max_daily_loss=Decimal("0.06"),
        max_drawdown=Decimal("0.15"),
        max_position_loss=Decimal("0.05"),
        max_open_positions=5,
        min_risk_reward=Decimal("2"),
        price_band=Decimal("0.10"),
    )
    return Profile(
        name="test",
        path=Path("test.yaml"),
        broker=BrokerConfig(kind=kind, capital=Decimal("1000000")),
        market=MarketConfig(),
        risk=replace(risk, **risk_overrides),
        breakers={"broker": BreakerConfig(5, timedelta(seconds=60))},
        scan=ScanConfig(Checklist("x", "", ())),
    )


@pytest.fixture
def make_ctx(tmp_path):
    def make(
        broker: Broker | None = None, *, profile: Profile | None = None, clock: Clock | None = None, store=None
    ) -> CheckContext:
        broker = broker or Broker()
        the_store = store or StateStore.open(tmp_path)
        clock = clock or Clock(T0, frozen=True)
        return CheckContext(
            profile=profile or make_profile(),
            clock=clock,
            state_dir=tmp_path,
            store_factory=lambda: the_store,
            broker_factory=lambda: broker,
            breaker_clock=clock,
        )

    return make


def order(order_id: str, status: str, placed_at: datetime, symbol: str = "INFY") -> Order:
    return Order(
        order_id, "NSE", symbol, "BUY", 10, "LIMIT", "MIS", Decimal("1500.00"), Decimal("0"), status, "mci-1", placed_at
    )


def position(symbol: str, quantity: int) -> Position:
    return Position("NSE", symbol, "MIS", quantity, Decimal("100"), Decimal("101"), Decimal("0"), Decimal("10"))


# -- token.validity -----------------------------------------------------------------------


def test_token_validity_passes_for_a_live_session(make_ctx):
    out = TokenValidity().run(make_ctx(), {})
    assert out.status is Status.PASSED and "AB1234" in out.summary


@pytest.mark.parametrize("kind, how", [("paper", "paper issues its own session"), ("kite", "mci token login")])
def test_token_validity_fails_with_the_brokers_reason(make_ctx, kind, how):
    broker = Broker(session=SessionInfo(False, None, None, None, "no access token stored"))
    out = TokenValidity().run(make_ctx(broker, profile=make_profile(kind)), {})
    assert out.status is Status.FAILED
    assert out.error.why == "no access token stored"
    assert how in out.error.how


def test_token_validity_fails_a_valid_flag_with_a_past_expiry(make_ctx):
    broker = Broker(session=SessionInfo(True, "AB1234", T0 - timedelta(days=1), T0 - timedelta(hours=4, minutes=30)))
    out = TokenValidity().run(make_ctx(broker, profile=make_profile("kite")), {})
    assert out.status is Status.FAILED
    assert "expired at 2026-11-23 06:00 IST" in out.error.what


# -- token.expiry (CR-004) ---------------------------------------------------------------


def test_token_expiry_passes_with_a_countdown_to_0600_ist(make_ctx):
    out = TokenExpiry().run(make_ctx(), {})
    assert out.status is Status.PASSED
    assert out.summary == "expires 2026-11-24 06:00 IST, in 19h30m"


@pytest.mark.parametrize(
    "left, status",
    [
        (timedelta(minutes=30, seconds=1), Status.PASSED),
        (timedelta(minutes=30), Status.WARNED),
        (timedelta(seconds=1), Status.WARNED),
        (timedelta(0), Status.FAILED),
        (timedelta(seconds=-1), Status.FAILED),
    ],
)
def test_token_expiry_edges(make_ctx, left, status):
    broker = Broker(session=SessionInfo(True, "AB1234", T0 - timedelta(hours=20), T0 + left))
    out = TokenExpiry().run(make_ctx(broker), {"warn_within": "30m"})
    assert out.status is status
    if status is Status.WARNED:
        assert "mci token login" not in out.error.how  # paper
        assert "expires in" in out.error.what


def test_token_expiry_fails_when_the_expiry_is_unknown(make_ctx):
    broker = Broker(session=SessionInfo(True, "AB1234", T0, None))
    out = TokenExpiry().run(make_ctx(broker, profile=make_profile("kite")), {})
    assert out.status is Status.FAILED and "mci token login" in out.error.how


# -- breaker.state ------------------------------------------------------------------------


def test_breaker_state_passes_when_closed(make_ctx):
    out = BreakerState().run(make_ctx(), {})
    assert out.status is Status.PASSED
    assert out.summary == "broker: closed (0/5 failures)"


def test_breaker_state_fails_while_open_and_warns_when_half_open(make_ctx, tmp_path):
    store = StateStore.open(tmp_path)
    trip(store, "broker", 5, timedelta(seconds=60), at=T0 - timedelta(seconds=30))
    out = BreakerState().run(make_ctx(store=store), {})
    assert out.status is Status.FAILED
    assert out.error.code is ExitCode.UNAVAILABLE
    assert "broker open since 10:29:30 IST, cools down at 10:30:30 IST" in out.error.why
    later = BreakerState().run(make_ctx(store=store, clock=Clock(T0 + timedelta(seconds=31), frozen=True)), {})
    assert later.status is Status.WARNED and "half-open" in later.summary


def test_breaker_state_warns_when_none_declared(make_ctx):
    profile = replace(make_profile(), breakers={})
    assert BreakerState().run(make_ctx(profile=profile), {}).status is Status.WARNED


# -- broker.connectivity -----------------------------------------------------------------


def test_connectivity_passes(make_ctx):
    out = BrokerConnectivity().run(make_ctx(), {})
    assert out.status is Status.PASSED and out.summary.startswith("answered in")


def test_connectivity_warns_when_slow(make_ctx):
    out = BrokerConnectivity().run(make_ctx(Broker(latency=0.06)), {"max_latency": "50ms"})
    assert out.status is Status.WARNED
    assert "slow" in out.error.what and "above the 50ms limit" in out.error.why


def test_connectivity_durations_keep_tenths_of_a_second():
    from mci.checks.broker import _ms

    assert [_ms(timedelta(seconds=s)) for s in (0.04, 2, 2.5, 59.94, 90)] == ["40ms", "2s", "2.5s", "59.9s", "1m30s"]


def test_connectivity_warns_on_clock_skew(make_ctx):
    out = BrokerConnectivity().run(make_ctx(Broker(skew=timedelta(seconds=8))), {})
    assert out.status is Status.WARNED
    assert "clock" in out.error.what and "above the 5s limit" in out.error.why


def test_connectivity_does_not_compare_a_rehearsal_clock_with_a_real_broker(make_ctx):
    out = BrokerConnectivity().run(make_ctx(Broker(skew=timedelta(hours=3)), profile=make_profile("kite")), {})
    assert out.status is Status.PASSED and "not compared" in out.summary


def test_connectivity_lets_unavailable_propagate_for_the_runner_to_retry(make_ctx):
    with pytest.raises(UnavailableError):
        BrokerConnectivity().run(make_ctx(Broker(down=True)), {})


# -- account.balance ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "available, status",
    [
        (Decimal("50000.00"), Status.PASSED),
        (Decimal("49999.99"), Status.FAILED),
        (Decimal("950000.00"), Status.PASSED),
    ],
)
def test_balance_threshold_edges(make_ctx, available, status):
    broker = Broker(funds=Funds(available, Decimal("0"), Decimal("1000000")))
    out = AccountBalance().run(make_ctx(broker), {"min_available": Decimal("50000")})
    assert out.status is status


def test_balance_failure_names_both_amounts(make_ctx):
    broker = Broker(funds=Funds(Decimal("40000"), Decimal("0"), Decimal("40000")))
    out = AccountBalance().run(make_ctx(broker), {"min_available": "₹50,000"})
    assert out.error.what == "₹40,000.00 available, below the ₹50,000.00 threshold"
    assert "short by ₹10,000.00" in out.error.why


def test_balance_requires_its_threshold(make_ctx):
    with pytest.raises(ConfigError):
        AccountBalance().run(make_ctx(), {})
    with pytest.raises(ConfigError):
        AccountBalance().run(make_ctx(), {"min_available": "fifty thousand"})


# -- account.positions -------------------------------------------------------------------


def test_positions_within_the_profile_limit_pass_and_flat_ones_do_not_count(make_ctx):
    broker = Broker(positions=[position("INFY", 10), position("TCS", -5), position("SBIN", 0)])
    out = AccountPositions().run(make_ctx(broker), {})
    assert out.status is Status.PASSED
    assert out.summary.startswith("2 open position(s) ≤ 5 allowed")


def test_positions_above_the_limit_fail_listing_them(make_ctx):
    broker = Broker(positions=[position("INFY", 10), position("TCS", -5)])
    out = AccountPositions().run(make_ctx(broker), {"max_open": 1})
    assert out.status is Status.FAILED
    assert out.error.what == "2 open positions, above the limit of 1"
    assert "NSE:TCS -5 MIS" in out.error.why


# -- risk.parameters ---------------------------------------------------------------------


def test_risk_defaults_warn_that_a_full_book_breaches_the_daily_loss(make_ctx):
    out = RiskParameters().run(make_ctx(), {})
    assert out.status is Status.WARNED
    assert out.summary.startswith("2% of ₹1,000,000.00 = ₹20,000.00 per trade; daily loss 6% = ₹60,000.00")
    assert out.error.what == "5 positions each losing 2% would breach the 6% daily loss"
    assert "5 × 2% = 10% (₹100,000.00) > 6% (₹60,000.00)" in out.error.why


def test_risk_consistent_limits_pass(make_ctx):
    out = RiskParameters().run(make_ctx(profile=make_profile(max_open_positions=3)), {})
    assert out.status is Status.PASSED  # 3 × 2% = 6% is not above 6%


@pytest.mark.parametrize(
    "overrides, words",
    [
        ({"max_risk_per_trade": Decimal("0.07")}, "max_risk_per_trade 7% exceeds max_daily_loss 6%"),
        ({"max_position_loss": Decimal("0.08")}, "max_position_loss 8% exceeds max_daily_loss 6%"),
        ({"max_drawdown": Decimal("0")}, "risk.max_drawdown is 0%"),
        ({"max_open_positions": 0}, "max_open_positions is 0"),
    ],
)
def test_risk_inconsistent_limits_fail(make_ctx, overrides, words):
    out = RiskParameters().run(make_ctx(profile=make_profile(**overrides)), {})
    assert out.status is Status.FAILED
    assert words in out.error.why


def test_risk_fails_on_zero_capital(make_ctx):
    broker = Broker(funds=Funds(Decimal("0"), Decimal("0"), Decimal("0")))
    out = RiskParameters().run(make_ctx(broker, profile=make_profile(max_open_positions=3)), {})
    assert out.status is Status.FAILED and "₹0.00" in out.error.why


# -- orders.stale ------------------------------------------------------------------------


def test_no_open_orders_pass(make_ctx):
    broker = Broker(orders=[order("1", "COMPLETE", T0 - timedelta(hours=1))])
    out = StaleOrders().run(make_ctx(broker), {})
    assert (out.status, out.summary) == (Status.PASSED, "no open orders")


def test_young_open_orders_pass(make_ctx):
    broker = Broker(orders=[order("1", "OPEN", T0 - timedelta(minutes=5))])  # exactly max_age: not older
    out = StaleOrders().run(make_ctx(broker), {"max_age": "5m"})
    assert out.status is Status.PASSED and "1 open order" in out.summary


def test_stale_open_orders_fail_listing_id_symbol_and_age(make_ctx):
    broker = Broker(
        orders=[
            order("220101000001", "TRIGGER PENDING", T0 - timedelta(minutes=12, seconds=3), "TCS"),
            order("2", "OPEN", T0 - timedelta(minutes=1)),
            order("3", "CANCELLED", T0 - timedelta(hours=2)),
        ]
    )
    out = StaleOrders().run(make_ctx(broker), {"max_age": timedelta(minutes=5)})
    assert out.status is Status.FAILED
    assert out.error.what == "1 open order(s) older than 5m"
    assert "220101000001 NSE:TCS BUY 10 TRIGGER PENDING age 12m3s" in out.error.why


# -- system.health -----------------------------------------------------------------------


def test_system_health_reads_the_free_space_shutil_reads(tmp_path):
    import shutil

    from mci.checks.system import _free_bytes

    assert _free_bytes(tmp_path) == shutil.disk_usage(tmp_path).free  # the same statvfs, read without shutil


def test_system_health_passes_on_this_machine(make_ctx):
    out = SystemHealth().run(make_ctx(), {"min_disk_free_mb": 1})
    assert out.status is Status.PASSED
    assert "state DB writable" in out.summary and "Python 3." in out.summary


class UnwritableStore:
    def health_probe(self) -> None:
        raise UnavailableError(
            "the state database is not writable", "SQLite says: disk I/O error", "check free disk space"
        )


def test_system_health_lists_every_problem(make_ctx):
    ctx = make_ctx(store=UnwritableStore(), clock=Clock(datetime(2019, 1, 1, tzinfo=timezone.utc)))
    out = SystemHealth().run(ctx, {"min_disk_free_mb": 10**12})
    assert out.status is Status.FAILED
    assert out.error.code is ExitCode.UNAVAILABLE
    assert out.error.what == "system health: 3 problems (disk, state DB, clock)"
    assert "below 1000000000000 MB" in out.error.why
    assert "disk I/O error" in out.error.why
    assert "outside 2020..2100" in out.error.why
