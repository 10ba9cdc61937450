"""The state DB: real SQLite files, shared across connections like separate cron invocations."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta, timezone

import pytest

from mci.config.model import BreakerConfig
from mci.errors import BreakerOpenError, UnavailableError
from mci.store.audit import verify_chain
from mci.store.state import StateStore
from testing.breakers import broker_breaker, down, fail

T0 = datetime(2026, 11, 23, 3, 30, tzinfo=timezone.utc)  # 09:00 IST


def test_wal_mode_and_shared_truth_between_connections(tmp_path):
    first = StateStore.open(tmp_path)
    second = StateStore.open(tmp_path)  # another process, as far as SQLite is concerned
    first.set_lifecycle("paper", "armed", "scan 1 passed", T0)
    assert second.lifecycle("paper").state == "armed"
    mode = sqlite3.connect(tmp_path / "state.db").execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


def test_unknown_profile_starts_idle(tmp_path):
    record = StateStore.open(tmp_path).lifecycle("never-seen")
    assert (record.state, record.since) == ("idle", None)


def test_audit_chain_links_each_record_to_the_previous(tmp_path):
    store = StateStore.open(tmp_path)
    a = store.append_audit("lifecycle", {"from": "idle", "to": "ready"}, T0, profile="paper")
    b = store.append_audit("order", {"tag": "x1", "qty": 10}, T0 + timedelta(seconds=1), profile="paper")
    assert (a.seq, b.seq) == (1, 2)
    assert b.prev_hash == a.hash
    assert verify_chain(store.audit_records()) is None


def _tamper(path, sql, *args):
    conn = sqlite3.connect(path)
    conn.execute(sql, args)
    conn.commit()
    conn.close()


@pytest.mark.parametrize(
    "sql, args, bad_seq",
    [
        ("UPDATE audit SET data = ? WHERE seq = 2", ('{"qty":1000}',), 2),  # edited
        ("DELETE FROM audit WHERE seq = 2", (), 3),  # deleted
        ("UPDATE audit SET seq = 9 WHERE seq = 3", (), 4),  # moved to the end: the gap shows at 4
    ],
)
def test_tampering_is_detected_at_the_first_bad_record(tmp_path, sql, args, bad_seq):
    store = StateStore.open(tmp_path)
    for i in range(4):
        store.append_audit("event", {"n": i}, T0 + timedelta(seconds=i))
    _tamper(tmp_path / "state.db", sql, *args)
    broken = verify_chain(StateStore.open(tmp_path).audit_records())
    assert broken is not None and broken.seq == bad_seq


def test_scan_results_round_trip(tmp_path):
    store = StateStore.open(tmp_path)
    assert store.last_scan("paper") is None
    store.record_scan("paper", "twelve-point", "failed", T0, T0, {"status": "failed"})
    sid = store.record_scan("paper", "twelve-point", "passed", T0, T0 + timedelta(seconds=2), {"status": "passed"})
    last = store.last_scan("paper")
    assert (last.id, last.status, last.result) == (sid, "passed", {"status": "passed"})
    assert last.finished_at == T0 + timedelta(seconds=2)


def test_breaker_opens_at_fail_max_stays_open_then_half_opens(tmp_path):
    store = StateStore.open(tmp_path)
    config = BreakerConfig(5, timedelta(seconds=60))
    breaker = broker_breaker(store, "broker", config, at=T0)
    for _ in range(4):
        fail(breaker, 1)
        assert store.breaker("broker").state == "closed"
    fail(breaker, 1)
    assert store.breaker("broker").state == "open"
    # A later invocation (new connection) still sees it open: the 09:00 scan's breaker binds the 09:01 ignite.
    later = StateStore.open(tmp_path)
    called: list[int] = []
    with pytest.raises(BreakerOpenError):
        broker_breaker(later, "broker", config, at=T0 + timedelta(seconds=59)).call(lambda: called.append(1))
    assert called == []
    trial = broker_breaker(later, "broker", config, at=T0 + timedelta(seconds=60))  # half-open trial allowed
    assert trial.call(lambda: "ok") == "ok"
    assert later.breaker("broker").state == "closed"
    kinds = [r.data["to"] for r in later.audit_records() if r.kind == "breaker"]
    assert kinds == ["open", "half-open", "closed"]


def test_health_probe_fails_cleanly_on_a_read_only_database(tmp_path):
    store = StateStore.open(tmp_path)
    store.health_probe()
    store.close()
    readonly = StateStore.__new__(StateStore)
    readonly.path = tmp_path / "state.db"
    import threading

    readonly._lock = threading.RLock()
    readonly._conn = sqlite3.connect(
        f"file:{tmp_path / 'state.db'}?mode=ro", uri=True, isolation_level=None, check_same_thread=False
    )
    with pytest.raises(UnavailableError) as info:
        readonly.health_probe()
    assert "not writable" in info.value.what or "busy or read-only" in info.value.what


def test_a_corrupt_database_is_an_unavailable_error_not_a_traceback(tmp_path):
    (tmp_path / "state.db").write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(UnavailableError) as info:
        StateStore.open(tmp_path)
    assert "state database" in info.value.what


def test_a_failed_half_open_trial_reopens_and_is_audited(tmp_path):
    store = StateStore.open(tmp_path)
    config = BreakerConfig(1, timedelta(seconds=60))
    fail(broker_breaker(store, "broker", config, at=T0), 1)
    with pytest.raises(BreakerOpenError):
        broker_breaker(store, "broker", config, at=T0 + timedelta(seconds=61)).call(down)
    reopened = store.breaker("broker")
    assert (reopened.state, reopened.opened_at) == ("open", T0 + timedelta(seconds=61))
    events = [r.data for r in store.audit_records() if r.kind == "breaker"]
    assert [(e["from"], e["to"]) for e in events] == [("closed", "open"), ("open", "half-open"), ("half-open", "open")]
