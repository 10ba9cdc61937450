"""The check runner: DAG order, concurrency, timeouts, retries, crashes, breakers — and never a false pass."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import mci.checks.token  # noqa: F401  (registers token.validity, which CR-001 keys on)
from mci.brokers.base import Funds, SessionInfo
from mci.checks.base import Check, CheckContext, CheckOutcome, register
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
from mci.engine.runner import call_with_timeout, run_checklist
from mci.errors import ConfigError, MciError, UnavailableError
from mci.results import CheckResult, Status
from mci.store.state import StateStore
from testing.breakers import trip

T0 = datetime(2026, 11, 23, 5, 0, tzinfo=timezone.utc)  # 10:30 IST, a Monday


# -- test checks: real classes registered by kind, behaviour from params ------------------


@register
class Sleeps(Check):
    kind = "test.sleeps"

    def run(self, ctx, params):
        time.sleep(params.get("seconds", 0.2))
        return CheckOutcome.passed(f"slept {params.get('seconds', 0.2)}s")


@register
class Fails(Check):
    kind = "test.fails"

    def run(self, ctx, params):
        return CheckOutcome.failed(MciError("it failed", "because the test said so", "do nothing"))


@register
class Crashes(Check):
    kind = "test.crashes"

    def run(self, ctx, params):
        raise KeyError("api_secret=abcdefghijklmnopqrstuvwxyz0123456789")


@register
class Hangs(Check):
    kind = "test.hangs"

    def run(self, ctx, params):
        params["release"].wait(30)
        return CheckOutcome.passed("woke up")


@register
class Flaky(Check):
    """Raises UnavailableError for the first `failures` calls (counted in params['calls'])."""

    kind = "test.flaky"

    def run(self, ctx, params):
        params["calls"].append(1)
        if len(params["calls"]) <= params["failures"]:
            raise UnavailableError("broker unreachable", "connection refused", "retry later")
        return CheckOutcome.passed(f"answered on call {len(params['calls'])}")


@register
class UsesBroker(Check):
    kind = "test.uses_broker"
    uses_broker = True

    def run(self, ctx, params):
        return CheckOutcome.passed(f"{ctx.broker.funds().available} available")


@register
class BadConfig(Check):
    kind = "test.bad_config"

    def run(self, ctx, params):
        params["calls"].append(1)
        raise ConfigError("bad param", "it is bad", "fix it")


@register
class ReturnsNone(Check):
    kind = "test.returns_none"

    def run(self, ctx, params):
        return None


class Broker:
    """A broker with plain values that counts its calls."""

    name = "fake"

    def __init__(self, valid: bool = True):
        self.valid = valid
        self.calls: list[str] = []

    def ensure_session(self) -> SessionInfo:
        self.calls.append("ensure_session")
        return SessionInfo(
            self.valid, "AB1234", T0, T0 + timedelta(hours=20), "" if self.valid else "the access token was revoked"
        )

    def session(self) -> SessionInfo:
        return self.ensure_session()

    def funds(self) -> Funds:
        self.calls.append("funds")
        return Funds(Decimal("950000"), Decimal("50000"), Decimal("1000000"))

    def close(self) -> None:
        pass


def profile(breakers: dict[str, BreakerConfig] | None = None) -> Profile:
    risk = RiskLimits(
        Decimal("0.02"), Decimal("0.06"), Decimal("0.15"), Decimal("0.05"), 5, Decimal("2"), Decimal("0.10")
    )
    return Profile(
        name="test",
        path=Path("test.yaml"),
        broker=BrokerConfig(kind="paper", capital=Decimal("1000000")),
        market=MarketConfig(),
        risk=risk,
        breakers=breakers or {"broker": BreakerConfig(5, timedelta(seconds=60))},
        scan=ScanConfig(Checklist("x", "", ())),
    )


def context(tmp_path: Path, broker: Broker | None = None, breakers=None) -> CheckContext:
    broker = broker or Broker()
    store = StateStore.open(tmp_path)
    clock = Clock(T0)
    return CheckContext(
        profile=profile(breakers),
        clock=clock,
        state_dir=tmp_path,
        store_factory=lambda: store,
        broker_factory=lambda: broker,
        breaker_clock=clock,
    )


def spec(id: str, kind: str = "test.sleeps", **kw: Any) -> CheckSpec:
    return CheckSpec(
        id=id, kind=kind, title=kw.pop("title", id.replace("_", " ").capitalize()), params=kw.pop("params", {}), **kw
    )


def run(tmp_path, *specs: CheckSpec, broker=None, **kw):
    return run_checklist(Checklist("t", "", tuple(specs)), context(tmp_path, broker), **kw)


def by_id(result) -> dict[str, CheckResult]:
    return {r.id: r for r in result.results}


# -- the tests ----------------------------------------------------------------------------


def test_independent_checks_run_concurrently_along_the_critical_path(tmp_path):
    specs = [spec("a")] + [spec(f"c{i}") for i in range(10)] + [spec("b", needs=("a",))]
    start = time.monotonic()
    result = run(tmp_path, *specs)
    took = time.monotonic() - start
    assert result.status is Status.PASSED
    assert len(result.results) == 12
    assert took < 0.9, f"12 × 200 ms with one edge took {took:.2f}s; critical path is 0.4s"
    a, b = by_id(result)["a"], by_id(result)["b"]
    assert b.started_at >= a.finished_at


def test_results_keep_declared_order(tmp_path):
    result = run(tmp_path, spec("z", params={"seconds": 0.05}), spec("a", params={"seconds": 0.0}))
    assert [r.id for r in result.results] == ["z", "a"]


def test_failed_need_skips_dependents_with_a_reason_and_fails_the_run(tmp_path):
    result = run(
        tmp_path,
        spec("first", "test.fails"),
        spec("second", needs=("first",)),
        spec("third", needs=("second",)),
        spec("other", params={"seconds": 0}),
    )
    r = by_id(result)
    assert r["first"].status is Status.FAILED
    assert r["second"].status is Status.SKIPPED
    assert r["second"].summary == "needs first, which failed"
    assert r["third"].summary == "needs second, which was skipped"
    assert r["other"].status is Status.PASSED
    assert result.status is Status.FAILED


def test_crashing_check_fails_with_a_bug_report_and_no_secret(tmp_path):
    result = run(tmp_path, spec("boom", "test.crashes"), spec("fine", params={"seconds": 0}))
    boom = by_id(result)["boom"]
    assert boom.status is Status.FAILED
    assert boom.error.what == "check boom crashed"
    assert boom.error.why.startswith("KeyError")
    assert "abcdefghijklmnopqrstuvwxyz0123456789" not in boom.error.why
    assert "bug in mci" in boom.error.how
    assert result.status is Status.FAILED


def test_crash_in_an_advisory_check_still_fails(tmp_path):
    result = run(tmp_path, spec("boom", "test.crashes", severity="advisory"), spec("fine", params={"seconds": 0}))
    assert by_id(result)["boom"].status is Status.FAILED
    assert result.status is Status.FAILED


def test_check_returning_no_outcome_is_failed(tmp_path):
    result = run(tmp_path, spec("none", "test.returns_none"))
    assert by_id(result)["none"].status is Status.FAILED
    assert "crashed" in by_id(result)["none"].error.what


def test_hung_check_times_out_and_the_run_finishes(tmp_path):
    release = threading.Event()
    try:
        start = time.monotonic()
        result = run(
            tmp_path,
            spec("hang", "test.hangs", params={"release": release}, timeout=timedelta(milliseconds=200)),
            spec("after", needs=("hang",)),
            spec("fine", params={"seconds": 0}),
        )
        took = time.monotonic() - start
    finally:
        release.set()
    hang = by_id(result)["hang"]
    assert took < 1.0
    assert hang.status is Status.FAILED
    assert "timed out after 200ms" in hang.error.what
    assert hang.error.why and hang.error.how
    assert by_id(result)["after"].status is Status.SKIPPED
    assert result.status is Status.FAILED


def test_unavailable_twice_then_pass_with_three_attempts(tmp_path):
    calls: list[int] = []
    retry = RetryPolicy(attempts=3, initial=timedelta(milliseconds=10), max_wait=timedelta(milliseconds=20))
    result = run(tmp_path, spec("net", "test.flaky", params={"calls": calls, "failures": 2}, retry=retry))
    net = by_id(result)["net"]
    assert net.status is Status.PASSED
    assert net.attempts == 3
    assert len(calls) == 3
    assert result.status is Status.PASSED


def test_retries_exhausted_fails_with_the_last_error(tmp_path):
    calls: list[int] = []
    retry = RetryPolicy(attempts=2, initial=timedelta(milliseconds=10), max_wait=timedelta(milliseconds=20))
    result = run(tmp_path, spec("net", "test.flaky", params={"calls": calls, "failures": 5}, retry=retry))
    net = by_id(result)["net"]
    assert (net.status, net.attempts, len(calls)) == (Status.FAILED, 2, 2)
    assert net.error.what == "broker unreachable"


def test_config_error_is_never_retried(tmp_path):
    calls: list[int] = []
    result = run(tmp_path, spec("cfg", "test.bad_config", params={"calls": calls}, retry=RetryPolicy(attempts=3)))
    assert by_id(result)["cfg"].status is Status.FAILED
    assert (by_id(result)["cfg"].attempts, len(calls)) == (1, 1)


def test_advisory_failure_is_warned(tmp_path):
    result = run(tmp_path, spec("soft", "test.fails", severity="advisory"), spec("fine", params={"seconds": 0}))
    assert by_id(result)["soft"].status is Status.WARNED
    assert by_id(result)["soft"].error.what == "it failed"
    assert result.status is Status.WARNED


def test_a_critical_check_skipped_behind_an_advisory_failure_fails_the_run(tmp_path):
    result = run(tmp_path, spec("soft", "test.fails", severity="advisory"), spec("hard", needs=("soft",)))
    assert by_id(result)["hard"].status is Status.SKIPPED
    assert result.status is Status.FAILED


def test_all_skipped_is_failed_overall(tmp_path):
    # Every check needs a check that does not run (cycle): nothing checked, nothing passes.
    result = run(
        tmp_path,
        spec("only", "test.fails", severity="advisory"),
        spec("s1", needs=("only",), severity="advisory"),
        spec("s2", needs=("only",), severity="advisory"),
    )
    assert by_id(result)["s1"].status is Status.SKIPPED
    from mci.results import overall

    assert overall([Status.SKIPPED, Status.SKIPPED]) is Status.FAILED
    assert result.status is Status.WARNED  # one advisory warning ran; the skipped ones are advisory


def test_list_of_only_skipped_checks_fails(tmp_path):
    result = run(tmp_path, spec("a", needs=("b",), severity="advisory"), spec("b", needs=("a",), severity="advisory"))
    assert all(r.status is Status.FAILED for r in result.results)  # a cycle is a configuration failure
    assert result.status is Status.FAILED


def test_unknown_kind_and_unknown_need_fail_not_pass(tmp_path):
    result = run(
        tmp_path, spec("ghost", "no.such.kind"), spec("lost", needs=("nowhere",)), spec("fine", params={"seconds": 0})
    )
    r = by_id(result)
    assert r["ghost"].status is Status.FAILED and "no.such.kind" in r["ghost"].error.what
    assert r["lost"].status is Status.FAILED and "nowhere" in r["lost"].error.what
    assert result.status is Status.FAILED


def test_broker_checks_wait_for_the_token_check_and_skip_when_it_fails(tmp_path):
    broker = Broker(valid=False)
    result = run(
        tmp_path,
        spec("balance", "test.uses_broker"),
        spec("token_validity", "token.validity"),
        spec("local", params={"seconds": 0}),
        broker=broker,
    )
    r = by_id(result)
    assert r["token_validity"].status is Status.FAILED
    assert "revoked" in r["token_validity"].error.why
    assert r["balance"].status is Status.SKIPPED
    assert r["balance"].summary == "needs token_validity, which failed"
    assert r["local"].status is Status.PASSED
    assert "funds" not in broker.calls


def test_broker_checks_run_after_a_valid_token(tmp_path):
    result = run(tmp_path, spec("balance", "test.uses_broker"), spec("token_validity", "token.validity"))
    r = by_id(result)
    assert r["balance"].status is Status.PASSED
    assert r["balance"].started_at >= r["token_validity"].finished_at


def test_open_breaker_fails_fast_without_calling_the_broker(tmp_path):
    trip(StateStore.open(tmp_path), "broker", 5, timedelta(seconds=60), at=T0 - timedelta(seconds=10))
    broker = Broker()
    result = run(
        tmp_path,
        spec(
            "balance",
            "test.uses_broker",
            breaker="broker",
            retry=RetryPolicy(attempts=3, initial=timedelta(milliseconds=10)),
        ),
        broker=broker,
    )
    balance = by_id(result)["balance"]
    assert balance.status is Status.FAILED
    assert balance.error.what.startswith("circuit breaker broker is open since 2026-11-23 10:29:50")
    assert balance.attempts == 1  # a refusal is not retried
    assert broker.calls == []


def test_a_rehearsal_clock_never_dates_a_breaker(tmp_path):
    """--at moves the market clock, not the breaker's: its cooldown is judged in real time."""
    from dataclasses import replace

    ctx = replace(
        context(tmp_path, breakers={"broker": BreakerConfig(1, timedelta(seconds=60))}),
        clock=Clock(T0 - timedelta(days=30)),
        breaker_clock=Clock(),
    )
    run_checklist(
        Checklist("t", "", (spec("net", "test.flaky", params={"calls": [], "failures": 1}, breaker="broker"),)), ctx
    )
    record = StateStore.open(tmp_path).breaker("broker")
    assert record.state == "open"
    assert abs((record.opened_at - datetime.now(timezone.utc)).total_seconds()) < 10


def test_breaker_counts_unavailable_attempts_and_a_success_closes_it(tmp_path):
    retry = RetryPolicy(attempts=3, initial=timedelta(milliseconds=10), max_wait=timedelta(milliseconds=20))
    result = run(
        tmp_path, spec("net", "test.flaky", params={"calls": [], "failures": 5}, breaker="broker", retry=retry)
    )
    assert by_id(result)["net"].status is Status.FAILED
    store = StateStore.open(tmp_path)
    assert store.breaker("broker").fail_counter == 3
    run(tmp_path, spec("net", "test.flaky", params={"calls": [], "failures": 0}, breaker="broker"))
    assert store.breaker("broker").state == "closed" and store.breaker("broker").fail_counter == 0


def test_breaker_opening_mid_retries_stops_the_retries(tmp_path):
    calls: list[int] = []
    retry = RetryPolicy(attempts=5, initial=timedelta(milliseconds=10), max_wait=timedelta(milliseconds=20))
    result = run_checklist(
        Checklist(
            "t", "", (spec("net", "test.flaky", params={"calls": calls, "failures": 9}, breaker="broker", retry=retry),)
        ),
        context(tmp_path, breakers={"broker": BreakerConfig(2, timedelta(seconds=60))}),
    )
    net = by_id(result)["net"]
    assert len(calls) == 2
    assert net.status is Status.FAILED and "circuit breaker broker opened on this failure" in net.error.what


def test_on_update_sees_pending_running_and_final_states(tmp_path):
    seen: list[tuple[str, Status]] = []
    run(
        tmp_path,
        spec("a", params={"seconds": 0.01}),
        spec("b", "test.fails", needs=("a",)),
        spec("c", needs=("b",)),
        on_update=lambda r: seen.append((r.id, r.status)),
    )
    assert [s for i, s in seen if i == "a"] == [Status.PENDING, Status.RUNNING, Status.PASSED]
    assert seen.count(("b", Status.FAILED)) == 1
    assert [s for i, s in seen if i == "c"] == [Status.PENDING, Status.SKIPPED]


def test_a_broken_on_update_does_not_change_the_verdict(tmp_path):
    def explode(result):
        raise RuntimeError("display broke")

    result = run(tmp_path, spec("a", params={"seconds": 0}), on_update=explode)
    assert result.status is Status.PASSED


def test_operator_how_replaces_the_check_how(tmp_path):
    result = run(tmp_path, spec("first", "test.fails", how="call the desk on 1234"))
    assert by_id(result)["first"].error.how == "call the desk on 1234"


def test_as_dict_is_json_ready(tmp_path):
    import json

    result = run(tmp_path, spec("a", params={"seconds": 0}), spec("b", "test.fails"))
    payload = json.loads(json.dumps(result.as_dict()))
    assert payload["status"] == "failed"
    assert payload["checks"][1]["error"]["what"] == "it failed"
    assert isinstance(payload["duration_s"], (int, float))


def test_call_with_timeout_returns_value_and_reraises():
    assert call_with_timeout(lambda: 42, timedelta(seconds=1), lambda: MciError("t", "t", "t")) == 42
    with pytest.raises(ZeroDivisionError):
        call_with_timeout(lambda: 1 / 0, timedelta(seconds=1), lambda: MciError("t", "t", "t"))


def test_build_retrying_waits_grow_and_cap(monkeypatch):
    from mci.engine.retrying import BreakerOpenError, build_retrying

    slept: list[float] = []
    policy = RetryPolicy(
        attempts=4, initial=timedelta(milliseconds=100), max_wait=timedelta(milliseconds=250), jitter=False
    )
    retrying = build_retrying(policy, sleep=slept.append)
    calls: list[int] = []

    def unavailable():
        calls.append(1)
        raise UnavailableError("down", "down", "wait")

    with pytest.raises(UnavailableError):
        retrying(unavailable)
    assert len(calls) == 4
    assert slept == [0.1, 0.2, 0.25]

    for exc in (BreakerOpenError("open", "open", "wait"), ConfigError("bad", "bad", "fix"), ValueError("x")):
        calls.clear()

        def raises(exc=exc):
            calls.append(1)
            raise exc

        with pytest.raises(type(exc)):
            build_retrying(policy, sleep=slept.append)(raises)
        assert len(calls) == 1


def test_tenacity_is_not_imported_when_nothing_is_retried(tmp_path):
    import subprocess
    import sys

    code = "import sys, mci.engine.runner, mci.checks; mci.checks.load_all(); print('tenacity' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_max_workers_bounds_concurrency(tmp_path):
    start = time.monotonic()
    result = run(tmp_path, *[spec(f"c{i}", params={"seconds": 0.1}) for i in range(4)], max_workers=2)
    assert result.status is Status.PASSED
    assert time.monotonic() - start >= 0.19


def test_duplicate_ids_are_refused(tmp_path):
    with pytest.raises(ConfigError, match="two checks with id 'a'"):
        run(tmp_path, spec("a"), spec("a", "test.fails"))
