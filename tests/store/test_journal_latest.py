"""Journal.latest() reads a profile's newest runs straight from an index (issue 19: no temp B-tree sort),
on a new database and on one migrated from schema 3, and still breaks ties on the start time by insertion."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta, timezone

from mci.store.journal import LATEST, Journal
from mci.store.state import SCHEMA_VERSION, StateStore

T0 = datetime(2026, 11, 23, 3, 45, tzinfo=timezone.utc)


def plan(store: StateStore) -> str:
    return " | ".join(row[3] for row in store.execute("EXPLAIN QUERY PLAN " + LATEST, ("paper", 5)))


def test_latest_is_served_by_an_index_without_a_sort(tmp_path):
    store = StateStore.open(tmp_path)
    try:
        journal = Journal(store, "paper")
        for k in range(30):
            journal.start(f"run-{k}", "ignite", "ignition", T0 + timedelta(seconds=k // 3))  # three runs per instant
        Journal(store, "other").start("elsewhere", "ignite", "ignition", T0 + timedelta(hours=1))
        store.execute("ANALYZE")
        shown = plan(store)
        assert "runs_latest" in shown and "TEMP B-TREE" not in shown, shown
        # Newest first; runs started at the same instant, the last inserted first; another profile's never.
        assert [r.run_id for r in journal.latest(5)] == ["run-29", "run-28", "run-27", "run-26", "run-25"]
    finally:
        store.close()


def test_a_schema_3_database_gains_the_index(tmp_path):
    StateStore.open(tmp_path).close()
    raw = sqlite3.connect(tmp_path / "state.db")
    raw.execute("DROP INDEX runs_latest")
    raw.execute("PRAGMA user_version=3")
    raw.commit()
    assert "TEMP B-TREE" in " ".join(r[3] for r in raw.execute("EXPLAIN QUERY PLAN " + LATEST, ("paper", 5)))
    raw.close()
    store = StateStore.open(tmp_path)
    try:
        assert store.execute("PRAGMA user_version")[0][0] == SCHEMA_VERSION == 4
        shown = plan(store)
        assert "runs_latest" in shown and "TEMP B-TREE" not in shown, shown
    finally:
        store.close()
