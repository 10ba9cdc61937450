"""Units, the typed model, the schemas themselves, and the shipped profiles."""

from __future__ import annotations

import json
from datetime import time, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from testing.config import PROFILE, REPO

from mci.config import load_checklist, load_profile
from mci.units import parse_duration, parse_money, parse_percent
from mci.validation import validate_paths
from mci.errors import ConfigErrors

SCHEMAS = REPO / "schemas"
OURS = ("profile", "checklist", "sequence")
SHIPPED_ENV = {"KITE_API_KEY": "key", "KITE_API_SECRET": "secret", "MCI_TOKEN_KEY": "token-key"}


def test_units():
    assert parse_percent("2%") == Decimal("0.02")
    assert parse_money("₹10,00,000") == Decimal("1000000")
    assert parse_duration("15m") == timedelta(minutes=15)
    assert parse_duration("500ms") == timedelta(milliseconds=500)


def test_typed_profile(repo):
    profile = load_profile(
        repo.profile(PROFILE + "  override:\n    balance:\n      min_available: ₹10,00,000\n"), env={}
    )
    assert profile.name == "t"
    assert profile.broker.capital == Decimal("1000000")
    assert profile.risk.max_risk_per_trade == Decimal("0.02")
    assert profile.risk.min_risk_reward == Decimal("2.0")
    assert profile.risk.require_stop_loss is True
    assert profile.breakers["broker"].reset_timeout == timedelta(seconds=60)
    assert profile.scan.max_age == timedelta(minutes=15)
    checks = profile.scan.checklist.by_id()
    assert checks["balance"].params == {"min_available": Decimal("1000000")}
    assert checks["balance"].needs == ("token_validity",)
    assert checks["balance"].title == "balance"
    # `close: 15:30` unquoted is YAML 1.1 base 60 (930); it must stay a time.
    assert checks["hours"].params == {"pre_open": time(9, 0), "open": time(9, 15), "close": time(15, 30)}
    assert str(checks["balance"].location) == "rules/scanner/mini.yaml:7:5"


def test_money_values_are_exact(repo):
    text = PROFILE.replace("capital: 1000000", "capital: 1000000.10").replace(
        "min_risk_reward: 2.0", "min_risk_reward: 1.1"
    )
    profile = load_profile(repo.profile(text), env={})
    assert profile.broker.capital == Decimal("1000000.10")
    assert profile.risk.min_risk_reward == Decimal("1.1")


def test_checklist_defaults_and_retry(repo):
    path = repo.rule(
        "scanner/r",
        "version: 1\nkind: checklist\nname: r\n"
        "defaults: {timeout: 3s, retry: {attempts: 2}, severity: advisory}\nchecks:\n"
        "  - {id: a, kind: orders.stale, params: {max_age: 5m}, retry: {attempts: 4, initial: 100ms, max: 2s, jitter: false}}\n"
        "  - {id: b, kind: token.validity, timeout: 1s}\n",
    )
    checklist = load_checklist(path, env={})
    a, b = checklist.checks
    assert (
        a.params == {"max_age": timedelta(minutes=5)} and a.timeout == timedelta(seconds=3) and a.severity == "advisory"
    )
    assert (a.retry.attempts, a.retry.initial, a.retry.max_wait, a.retry.jitter) == (
        4,
        timedelta(milliseconds=100),
        timedelta(seconds=2),
        False,
    )
    assert b.timeout == timedelta(seconds=1) and b.retry.attempts == 2


def test_load_checklist_refuses_a_bad_one(repo):
    path = repo.rule("scanner/r", "version: 1\nkind: checklist\nname: r\nchecks:\n  - {id: a, kind: no.such}\n")
    with pytest.raises(ConfigErrors) as caught:
        load_checklist(path, env={})
    assert str(caught.value.errors[0].location) == "rules/scanner/r.yaml:5:19"


def test_sequence_document(repo):
    path = repo.rule(
        "shutdown/graceful",
        "version: 1\nkind: sequence\nname: graceful\nsteps:\n"
        "  - {id: pause, kind: engine.pause}\n"
        "  - {id: stop, kind: engine.stop, params: {signal: TERM, grace: 10s}, on_error: escalate}\n",
    )
    profile = load_profile(repo.profile(PROFILE + "shutdown:\n  graceful: {use: shutdown/graceful}\n"), env={})
    steps = profile.shutdown["graceful"].steps
    assert [s.id for s in steps] == ["pause", "stop"]
    assert steps[1].params == {"signal": "TERM", "grace": timedelta(seconds=10)} and steps[1].on_error == "escalate"
    assert validate_paths([path], env={}).ok


def test_scan_must_name_a_checklist(repo):
    repo.rule("shutdown/graceful", "version: 1\nkind: sequence\nname: g\nsteps:\n  - {id: a, kind: exit.clean}\n")
    report = validate_paths([repo.profile(PROFILE.replace("scanner/mini", "shutdown/graceful"))], env={})
    assert [str(e.location) for e in report.errors] == ["profiles/p.yaml:17:8"]


def walk(schema, where="#"):
    """Every property schema (with where it is), through $defs, items, if/then, patternProperties."""
    if isinstance(schema, dict):
        for name, sub in schema.get("properties", {}).items():
            yield f"{where}/properties/{name}", sub
        for key, sub in schema.items():
            if key in ("properties", "$defs", "patternProperties"):
                for name, child in sub.items():
                    yield from walk(child, f"{where}/{key}/{name}")
            elif key in ("items", "then", "else", "not"):  # an `if` only tests a value
                yield from walk(sub, f"{where}/{key}")
            elif key in ("allOf", "anyOf", "oneOf"):
                for i, child in enumerate(sub):
                    yield from walk(child, f"{where}/{key}/{i}")


def objects(schema, where="#"):
    if isinstance(schema, dict):
        if "properties" in schema or "patternProperties" in schema:
            yield where, schema
        for key, sub in schema.items():
            if isinstance(sub, dict):
                yield from objects(sub, f"{where}/{key}")
            elif isinstance(sub, list):
                for i, child in enumerate(sub):
                    yield from objects(child, f"{where}/{key}/{i}")


@pytest.mark.parametrize("kind", OURS)
def test_schema_is_documented_and_closed(kind):
    from jsonschema import Draft202012Validator

    schema = json.loads((SCHEMAS / f"{kind}.schema.json").read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"].endswith(f"/{kind}.schema.json") and schema["title"] and schema["description"]
    for where, prop in walk(schema):
        assert prop.get("title") and prop.get("description"), where
    for where, obj in objects(schema):
        if where.endswith("/if") or "/if/" in where:
            continue  # an `if` only tests a value
        if where.endswith("/then") and set(obj) == {"properties"}:
            continue  # narrows a property of the closed object it applies to
        dispatcher = "allOf" in obj and "additionalProperties" not in obj and list(obj["properties"]) == ["kind"]
        assert obj.get("additionalProperties") is False or dispatcher, where


def test_check_kinds_are_exact():
    schema = json.loads((SCHEMAS / "checklist.schema.json").read_text(encoding="utf-8"))
    assert schema["$defs"]["check"]["properties"]["kind"]["enum"] == [
        "token.validity",
        "token.expiry",
        "market.hours",
        "market.weekend",
        "market.holiday",
        "breaker.state",
        "broker.connectivity",
        "account.balance",
        "account.positions",
        "risk.parameters",
        "orders.stale",
        "order_path",  # Kite's static-IP rule: kite profiles add it to their scan
        "system.health",
        "command",
        "http",
        "file",
        "coverage",
        "junit",
        "metric",
        "drill",
        "approval",  # gate evidence (mci gate)
    ]


def test_ceilings_are_stated_in_descriptions():
    risk = json.loads((SCHEMAS / "profile.schema.json").read_text(encoding="utf-8"))["properties"]["risk"]["properties"]
    for name, limit in {
        "max_risk_per_trade": "5%",
        "max_daily_loss": "20%",
        "max_drawdown": "30%",
        "max_position_loss": "10%",
        "price_band": "20%",
    }.items():
        assert risk[name]["x-ceiling"] == limit and f"at most {limit}" in risk[name]["description"]


def test_shipped_yaml_starts_with_the_schema_line():
    for path in [*(REPO / "profiles").glob("*.yaml"), *(REPO / "rules").rglob("*.yaml")]:
        first = path.read_text(encoding="utf-8").splitlines()[0]
        assert first.startswith("# yaml-language-server: $schema=../"), path


def test_shipped_profiles_and_rules_validate_clean(monkeypatch):
    monkeypatch.chdir(REPO)
    report = validate_paths([Path("profiles"), Path("rules")], env=SHIPPED_ENV)
    assert report.errors == [], "\n".join(e.render() for e in report.errors)
    kinds = {(str(p), k) for p, k in report.documents}
    assert ("profiles/paper.yaml", "profile") in kinds and ("profiles/kite-sim.yaml", "profile") in kinds


def test_shipped_paper_profile():
    profile = load_profile(env={})
    assert profile.name == "paper" and profile.broker.kind == "paper" and profile.broker.seed == 7
    assert profile.broker.capital == Decimal("1000000")
    assert (
        profile.risk.max_risk_per_trade,
        profile.risk.max_daily_loss,
        profile.risk.max_drawdown,
        profile.risk.max_position_loss,
        profile.risk.max_open_positions,
        profile.risk.min_risk_reward,
        profile.risk.price_band,
    ) == (Decimal("0.02"), Decimal("0.06"), Decimal("0.15"), Decimal("0.05"), 5, Decimal("2.0"), Decimal("0.1"))
    assert profile.scan.checklist.by_id()["balance"].params["min_available"] == Decimal("50000")
    assert profile.engine["start"] == {"command": ["python", "-m", "mci.demo_engine"]}
    assert profile.engine["health"]["within"] == timedelta(seconds=30)


def test_kite_sim_profile_needs_its_env():
    profile = load_profile(REPO / "profiles" / "kite-sim.yaml", env=SHIPPED_ENV)
    assert profile.broker.root == "http://127.0.0.1:8765" and profile.broker.api_secret == "secret"
    with pytest.raises(ConfigErrors) as caught:
        load_profile(REPO / "profiles" / "kite-sim.yaml", env={})
    assert {e.details.get("variable") for e in caught.value.errors} == {"KITE_API_KEY", "KITE_API_SECRET"}


def test_profile_repr_never_shows_the_api_secret(tmp_path):
    from decimal import Decimal

    from mci.config.model import BrokerConfig, TokenStoreConfig

    broker = BrokerConfig(
        "kite", api_key="k", api_secret="s3cr3t-value-xyz", token_store=TokenStoreConfig(key="k3y-material-abc")
    )
    assert "s3cr3t-value-xyz" not in repr(broker)
    assert "k3y-material-abc" not in repr(broker)
    assert Decimal(0) == broker.slippage
