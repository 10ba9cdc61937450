"""The shipped rules/scanner/twelve-point.yaml: the twelve checks in order, each kind implemented, runnable."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

import yaml

from mci.brokers.base import Funds, SessionInfo
from mci.checks import load_all
from mci.checks.base import REGISTRY, CheckContext
from mci.clock import Clock
from mci.config.model import (
    BreakerConfig,
    BrokerConfig,
    Checklist,
    CheckSpec,
    MarketConfig,
    Profile,
    RetryPolicy,
    RiskLimits,
    ScanConfig,
)
from mci.units import parse_duration
from mci.engine.runner import run_checklist
from mci.results import Status
from mci.store.state import StateStore

ROOT = Path(__file__).resolve().parents[2]
FILE = ROOT / "rules" / "scanner" / "twelve-point.yaml"
T0 = datetime(2026, 11, 23, 5, 0, tzinfo=timezone.utc)  # Monday 10:30 IST
ORDER = [
    ("token_validity", "token.validity"),
    ("token_expiry", "token.expiry"),
    ("market_hours", "market.hours"),
    ("weekend", "market.weekend"),
    ("holiday", "market.holiday"),
    ("circuit_breakers", "breaker.state"),
    ("broker_connectivity", "broker.connectivity"),
    ("balance", "account.balance"),
    ("positions", "account.positions"),
    ("risk_parameters", "risk.parameters"),
    ("order_queue", "orders.stale"),
    ("system_health", "system.health"),
]
MARKET_KINDS = {"market.hours", "market.weekend", "market.holiday"}


def document() -> dict:
    return yaml.safe_load(FILE.read_text(encoding="utf-8"))


def checklist() -> Checklist:
    """Just enough of a loader for this file; the real one (mci.config) validates against the schema."""
    doc = document()
    defaults = doc.get("defaults", {})
    specs = []
    for c in doc["checks"]:
        retry = c.get("retry")
        specs.append(
            CheckSpec(
                id=c["id"],
                kind=c["kind"],
                title=c["title"],
                params=c.get("params", {}),
                needs=tuple(c.get("needs", ())),
                timeout=parse_duration(c.get("timeout", defaults.get("timeout", "10s"))),
                retry=RetryPolicy(
                    retry["attempts"], parse_duration(retry["initial"]), parse_duration(retry["max"]), retry["jitter"]
                )
                if retry
                else RetryPolicy(),
                breaker=c.get("breaker"),
                severity=c.get("severity", defaults.get("severity", "critical")),
            )
        )
    return Checklist(doc["name"], doc["description"], tuple(specs), FILE)


class Broker:
    name = "test"

    def __init__(self, clock: Clock):
        self.clock = clock

    def session(self) -> SessionInfo:
        return SessionInfo(True, "PAPER", T0 - timedelta(hours=1), datetime(2026, 11, 24, 0, 30, tzinfo=timezone.utc))

    ensure_session = session

    def server_time(self) -> datetime:
        return self.clock.now()

    def funds(self) -> Funds:
        return Funds(Decimal("1000000.00"), Decimal("0"), Decimal("1000000.00"))

    def positions(self):
        return []

    def orders(self):
        return []

    def close(self) -> None:
        pass


def test_file_declares_its_schema_and_the_twelve_checks_in_order():
    first = FILE.read_text(encoding="utf-8").splitlines()[0]
    assert first == "# yaml-language-server: $schema=../../schemas/checklist.schema.json"
    doc = document()
    assert (doc["version"], doc["kind"], doc["name"]) == (1, "checklist", "twelve-point")
    assert [(c["id"], c["kind"]) for c in doc["checks"]] == ORDER
    by_id = {c["id"]: c for c in doc["checks"]}
    assert by_id["token_expiry"]["needs"] == ["token_validity"]
    assert by_id["holiday"]["params"] == {"warn_within_days": 30}
    assert by_id["order_queue"]["params"] == {"max_age": "5m"}
    for cid in ("broker_connectivity", "balance"):
        assert by_id[cid]["breaker"] == "broker" and by_id[cid]["retry"]["attempts"] == 3
    assert by_id["balance"]["params"]["min_available"] == "₹50,000"


def test_every_kind_is_implemented_once_load_all_ran():
    load_all()
    ours = {kind for _, kind in ORDER} - MARKET_KINDS
    assert ours <= set(REGISTRY)


def test_the_checklist_runs_and_our_nine_checks_pass_or_warn(tmp_path):
    load_all()
    clock = Clock(T0)
    store = StateStore.open(tmp_path)
    risk = RiskLimits(
        Decimal("0.02"), Decimal("0.06"), Decimal("0.15"), Decimal("0.05"), 5, Decimal("2"), Decimal("0.10")
    )
    profile = Profile(
        "paper",
        tmp_path / "p.yaml",
        BrokerConfig("paper", Decimal("1000000")),
        MarketConfig(),
        risk,
        {"broker": BreakerConfig()},
        ScanConfig(checklist()),
    )
    broker = Broker(clock)
    ctx = CheckContext(profile, clock, tmp_path, lambda: store, lambda: broker)
    start = time.monotonic()
    result = run_checklist(profile.scan.checklist, ctx)
    assert time.monotonic() - start < 2
    statuses = {r.id: r.status for r in result.results}
    assert [r.id for r in result.results] == [cid for cid, _ in ORDER]
    for cid, kind in ORDER:
        if kind not in MARKET_KINDS:
            assert statuses[cid] in (Status.PASSED, Status.WARNED), (cid, result.results)
    assert statuses["risk_parameters"] is Status.WARNED  # 5 × 2% = 10% > 6%
    if not MARKET_KINDS <= set(REGISTRY):
        assert result.status is Status.FAILED  # an unimplemented check is never a pass
