"""pybreaker breakers persisted in the state DB: real SQLite, real pybreaker, real sleeps (tiny timeouts)."""

from __future__ import annotations

import io
import json
import time
from contextlib import redirect_stdout
from datetime import datetime, timedelta, timezone

import pybreaker
import pytest

from mci.brokers.errors import counts_against_broker
from mci.config.model import BreakerConfig
from mci.errors import ExitCode, MciError, UnavailableError, UsageError
from mci.store import breakers
from mci.store.audit import verify_chain
from mci.store.breakers import (
    BreakerOpenError,
    DbCircuitBreakerStorage,
    breaker_views,
    reset_breaker,
)
from mci.store.state import StateStore

FAST = BreakerConfig(fail_max=3, reset_timeout=timedelta(seconds=0.2))
SLOW = BreakerConfig(fail_max=3, reset_timeout=timedelta(seconds=60))


def breaker_for(name, cfg, store):
    """The broker breakers count what mci.brokers.errors says is the broker's fault."""
    return breakers.breaker_for(name, cfg, store, counts=counts_against_broker)


def _down():
    raise UnavailableError("broker unreachable", "connection refused", "retry later")


def _trip(breaker, times):
    for _ in range(times):
        with pytest.raises((UnavailableError, pybreaker.CircuitBreakerError)):
            breaker.call(_down)


def test_an_opened_breaker_is_still_open_in_another_process(tmp_path):
    scan = StateStore.open(tmp_path)  # the 09:00 scan
    _trip(breaker_for("broker", SLOW, scan), SLOW.fail_max)
    scan.close()

    ignite = StateStore.open(tmp_path)  # the 09:01 ignite: a new connection, a new breaker object
    breaker = breaker_for("broker", SLOW, ignite)
    assert breaker.current_state == "open"
    called = []
    with pytest.raises(pybreaker.CircuitBreakerError) as refused:
        breaker.call(lambda: called.append(1))
    assert called == []  # the guarded function was never run
    assert isinstance(refused.value, UnavailableError)  # and it is a WHAT / WHY / HOW error, exit 3
    assert refused.value.code == ExitCode.UNAVAILABLE
    assert "breaker broker is open" in refused.value.what


def test_the_tripping_failure_says_why(tmp_path):
    store = StateStore.open(tmp_path)
    breaker = breaker_for("broker", SLOW, store)
    _trip(breaker, SLOW.fail_max - 1)
    with pytest.raises(BreakerOpenError) as tripped:
        breaker.call(_down)
    assert "failed 3 times in a row" in tripped.value.why
    assert "broker unreachable" in tripped.value.why


def test_the_plain_state_view_agrees_with_pybreaker(tmp_path):
    store = StateStore.open(tmp_path)
    breaker = breaker_for("broker", SLOW, store)
    _trip(breaker, 2)
    record = StateStore.open(tmp_path).breaker("broker")
    assert (record.state, record.fail_counter, record.opened_at) == ("closed", 2, None)
    _trip(breaker, 1)
    record = StateStore.open(tmp_path).breaker("broker")
    assert (record.state, record.fail_counter) == ("open", 3)
    assert record.opened_at == breaker._state_storage.opened_at
    assert record.opened_at.tzinfo is not None and record.opened_at.utcoffset() == timedelta(0)
    now = datetime.now(timezone.utc)
    (view,) = breaker_views({"broker": SLOW}, store, now)
    assert view.state == "open" and view.trial_in is not None
    # and the other way round: what another connection writes (`mci breaker reset`, its breakers), pybreaker reads
    other = StateStore.open(tmp_path)
    reset_breaker("broker", {"broker": SLOW}, other, now)
    assert breaker.current_state == "closed" and breaker.fail_counter == 0
    _trip(breaker_for("broker2", SLOW, other), SLOW.fail_max)
    assert breaker_for("broker2", SLOW, store).current_state == "open"


def test_after_the_timeout_it_half_opens_and_a_success_closes_it(tmp_path):
    _trip(breaker_for("broker", FAST, StateStore.open(tmp_path)), FAST.fail_max)
    time.sleep(FAST.reset_timeout.total_seconds() + 0.05)

    store = StateStore.open(tmp_path)
    breaker = breaker_for("broker", FAST, store)
    seen = []

    def trial():
        seen.append(store.breaker("broker").state)  # what another process sees during the trial
        return "ok"

    assert breaker.call(trial) == "ok"
    assert seen == ["half-open"]
    record = StateStore.open(tmp_path).breaker("broker")
    assert (record.state, record.fail_counter, record.opened_at) == ("closed", 0, None)


def test_a_failed_trial_reopens_for_a_full_timeout(tmp_path):
    store = StateStore.open(tmp_path)
    breaker = breaker_for("broker", FAST, store)
    _trip(breaker, FAST.fail_max)
    first_open = store.breaker("broker").opened_at
    time.sleep(FAST.reset_timeout.total_seconds() + 0.05)
    with pytest.raises(BreakerOpenError) as reopened:
        breaker.call(_down)
    assert "trial call failed" in reopened.value.why
    record = store.breaker("broker")
    assert record.state == "open" and record.opened_at > first_open


def test_errors_that_are_not_the_brokers_fault_do_not_count(tmp_path):
    store = StateStore.open(tmp_path)
    breaker = breaker_for("broker", SLOW, store)

    def rejected():
        raise MciError("order rejected", "quantity exceeds the freeze limit", "split the order", ExitCode.FAILED)

    for _ in range(SLOW.fail_max * 2):
        with pytest.raises(MciError) as raised:
            breaker.call(rejected)
        assert not isinstance(raised.value, pybreaker.CircuitBreakerError)
    for _ in range(2):
        with pytest.raises(UsageError):
            breaker.call(lambda: (_ for _ in ()).throw(UsageError("bad", "input", "fix")))
    assert store.breaker("broker").state == "closed"
    assert store.breaker("broker").fail_counter == 0


def test_what_counts_against_the_broker():
    class NetworkException(Exception):  # kiteconnect's classes are matched by module and name
        code = 503

    class InputException(Exception):
        code = 400

    NetworkException.__module__ = InputException.__module__ = "kiteconnect.exceptions"
    assert counts_against_broker(UnavailableError("a", "b", "c"))
    assert counts_against_broker(ConnectionRefusedError())
    assert counts_against_broker(TimeoutError())
    assert counts_against_broker(NetworkException())
    assert not counts_against_broker(InputException())
    assert not counts_against_broker(MciError("a", "b", "c", ExitCode.FAILED))
    assert not counts_against_broker(MciError("a", "b", "c", ExitCode.INVALID))
    assert not counts_against_broker(KeyError("bug"))


def test_state_changes_are_audited_in_the_chain(tmp_path):
    store = StateStore.open(tmp_path)
    breaker = breaker_for("broker", FAST, store)
    _trip(breaker, FAST.fail_max)
    time.sleep(FAST.reset_timeout.total_seconds() + 0.05)
    breaker.call(lambda: None)
    moves = [(r.data["from"], r.data["to"]) for r in store.audit_records() if r.kind == "breaker"]
    assert moves == [("closed", "open"), ("open", "half-open"), ("half-open", "closed")]
    assert verify_chain(store.audit_records()) is None


def test_the_storage_rejects_a_state_pybreaker_does_not_know(tmp_path):
    storage = DbCircuitBreakerStorage("broker", StateStore.open(tmp_path))
    with pytest.raises(ValueError):
        storage.state = "ajar"


def test_views_show_cooldown_and_half_open(tmp_path):
    store = StateStore.open(tmp_path)
    _trip(breaker_for("broker", SLOW, store), SLOW.fail_max)
    opened = store.breaker("broker").opened_at
    configs = {"broker": SLOW, "engine": FAST}
    views = {v.name: v for v in breaker_views(configs, store, opened + timedelta(seconds=15))}
    assert views["broker"].state == "open" and views["broker"].trial_in == timedelta(seconds=45)
    assert views["engine"].state == "closed" and views["engine"].trial_in is None
    later = {v.name: v for v in breaker_views(configs, store, opened + timedelta(seconds=61))}
    assert later["broker"].state == "half-open" and later["broker"].stored_state == "open"


def test_reset_closes_audits_and_refuses_unknown_names(tmp_path):
    store = StateStore.open(tmp_path)
    _trip(breaker_for("broker", SLOW, store), SLOW.fail_max)
    now = datetime.now(timezone.utc)
    before, after = reset_breaker("broker", {"broker": SLOW}, store, now)
    assert (before.state, after.state, after.fail_counter) == ("open", "closed", 0)
    last = list(store.audit_records())[-1]
    assert last.data == {
        "name": "broker",
        "from": "open",
        "to": "closed",
        "failures": 0,
        "event": "reset",
        "by": "operator",
    }
    with pytest.raises(UsageError) as unknown:
        reset_breaker("brokr", {"broker": SLOW, "engine": FAST}, store, now)
    assert unknown.value.code == ExitCode.INVALID
    assert "broker, engine" in unknown.value.why


def _profile(tmp_path):
    from mci.config import load_profile

    return load_profile(None)  # the shipped paper profile declares its breakers


def test_breaker_commands(tmp_path):
    from mci.clock import Clock
    from mci.commands import breaker as command

    profile = _profile(tmp_path)
    name = sorted(profile.breakers)[0]
    cfg = profile.breakers[name]
    store = StateStore.open(tmp_path)
    _trip(breaker_for(name, cfg, store), cfg.fail_max)
    opened = store.breaker(name).opened_at
    clock = Clock(opened + timedelta(seconds=1), frozen=True)

    out = io.StringIO()
    with redirect_stdout(out):
        assert command.status(profile, clock, tmp_path, "json") == 0
    data = json.loads(out.getvalue())
    row = next(b for b in data["breakers"] if b["name"] == name)
    assert row["state"] == "open" and row["failures"] == cfg.fail_max
    # Breakers are judged in real time whatever the command's clock says: the trial is a full cooldown away.
    assert row["trial_in_s"] == pytest.approx(cfg.reset_timeout.total_seconds(), abs=2)

    out = io.StringIO()
    with redirect_stdout(out):
        assert command.status(profile, clock, tmp_path, "text") == 0
    assert f"{name}" in out.getvalue() and "open" in out.getvalue()

    out = io.StringIO()
    with redirect_stdout(out):
        assert command.reset(profile, name, clock, tmp_path, "text") == 0
    assert StateStore.open(tmp_path).breaker(name).state == "closed"
    with pytest.raises(UsageError):
        command.reset(profile, "no-such-breaker", clock, tmp_path, "text")
