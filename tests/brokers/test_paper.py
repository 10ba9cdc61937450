from __future__ import annotations

from datetime import datetime
from decimal import Decimal as D
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from mci.brokers.base import Funds, Order, OrderRequest, Position
from mci.brokers.paper import PaperBroker
from mci.clock import Clock
from mci.config.model import BrokerConfig, Checklist, MarketConfig, Profile, RiskLimits, ScanConfig
from mci.errors import ConfigError

IST = ZoneInfo("Asia/Kolkata")


def profile(name: str = "paper-demo", **broker) -> Profile:
    risk = RiskLimits(D("0.02"), D("0.06"), D("0.15"), D("0.05"), 5, D("2"), D("0.1"))
    return Profile(
        name=name,
        path=Path("profiles/paper.yaml"),
        broker=BrokerConfig(**{"kind": "paper", "capital": D("1000000"), "seed": 3, **broker}),
        market=MarketConfig(),
        risk=risk,
        breakers={},
        scan=ScanConfig(Checklist("empty", "", ())),
    )


def test_from_profile_creates_the_account_file(tmp_path):
    clock = Clock(datetime(2026, 11, 23, 9, 0, tzinfo=IST), frozen=True)
    broker = PaperBroker.from_profile(profile(), tmp_path, clock)
    assert (tmp_path / "paper-paper-demo.db").is_file()
    funds = broker.funds()
    assert isinstance(funds, Funds)
    assert funds == Funds(available=D("1000000"), used=D(0), opening=D("1000000"))
    assert broker.server_time() == clock.now()
    broker.close()


def test_from_profile_refuses_missing_capital_and_other_brokers(tmp_path):
    clock = Clock()
    with pytest.raises(ConfigError):
        PaperBroker.from_profile(profile(capital=None), tmp_path, clock)
    with pytest.raises(ConfigError):
        PaperBroker.from_profile(profile(kind="kite"), tmp_path, clock)
    with pytest.raises(ConfigError):
        PaperBroker(tmp_path, "../escape", clock, capital=D(1), seed=1)


def test_ensure_session_issues_one_and_session_reports_expiry(tmp_path):
    start = datetime(2026, 11, 23, 9, 0, tzinfo=IST)
    clock = Clock(start, frozen=True)
    broker = PaperBroker(tmp_path, "p", clock, capital=D("100000"), seed=1)
    first = broker.session()
    assert not first.valid and first.reason
    info = broker.ensure_session()
    assert info.valid and info.user_id
    assert info.expires_at == datetime(2026, 11, 24, 6, 0, tzinfo=IST)
    assert broker.ensure_session().issued_at == info.issued_at  # no second session while one is valid

    # Another process at 05:59:59 the next morning sees the same, still valid session.
    late = PaperBroker(
        tmp_path, "p", Clock(datetime(2026, 11, 24, 5, 59, 59, tzinfo=IST), frozen=True), capital=D(1), seed=1
    )
    assert late.session().valid
    expired = PaperBroker(
        tmp_path, "p", Clock(datetime(2026, 11, 24, 6, 0, tzinfo=IST), frozen=True), capital=D(1), seed=1
    )
    s = expired.session()
    assert not s.valid and "expired" in s.reason
    renewed = expired.ensure_session()
    assert renewed.valid and renewed.expires_at == datetime(2026, 11, 25, 6, 0, tzinfo=IST)


def test_token_never_appears_in_repr_or_session(tmp_path):
    broker = PaperBroker(tmp_path, "p", Clock(), capital=D(1), seed=1)
    info = broker.ensure_session()
    token = broker._token
    assert token
    assert token not in repr(broker) and token not in repr(info) and token not in repr(broker.exchange)
    broker.logout()
    assert not broker.session().valid and broker._token is None


def test_orders_positions_and_ltp_map_to_the_protocol(tmp_path):
    clock = Clock(datetime(2026, 11, 23, 10, 0, tzinfo=IST), frozen=True)
    broker = PaperBroker(tmp_path, "p", clock, capital=D("1000000"), seed=1, slippage=D(0))
    broker.exchange.set_price("NSE", "RELIANCE", D("1400"))
    assert broker.ltp(["NSE:RELIANCE"]) == {"NSE:RELIANCE": D("1400.00")}
    oid = broker.place_order(OrderRequest("NSE", "RELIANCE", "BUY", 10, tag="mci1"))
    resting = broker.place_order(
        OrderRequest("NSE", "RELIANCE", "SELL", 10, order_type="LIMIT", price=D("1450"), tag="mci2")
    )
    orders = broker.orders()
    assert all(isinstance(o, Order) for o in orders)
    assert [(o.order_id, o.status, o.is_open) for o in orders] == [(oid, "COMPLETE", False), (resting, "OPEN", True)]
    assert orders[0].placed_at == clock.now()
    assert [o.order_id for o in broker.orders_by_tag("mci2")] == [resting]
    [pos] = broker.positions()
    assert isinstance(pos, Position)
    assert (pos.quantity, pos.average_price, pos.pnl) == (10, D("1400"), D(0))
    broker.cancel_order(resting)
    assert not any(o.is_open for o in broker.orders())
    assert broker.order_history(resting)[-1].status == "CANCELLED"
