"""Helpers of the audit tests: a real trail in a real state DB, and the ways to tamper with it."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from mci.store.audit import record_hash
from mci.store.state import StateStore

IST = ZoneInfo("Asia/Kolkata")
START = datetime(2026, 11, 23, 9, 0, tzinfo=IST)
KINDS = ["token", "scan", "lifecycle", "order", "order", "approval", "lifecycle", "token"]


def build_trail(home: Path, n: int = len(KINDS)) -> list[dict]:
    """n records, one every 30 minutes from 09:00 IST; returns what was written."""
    store = StateStore.open(home)
    written = []
    try:
        for i in range(n):
            kind = KINDS[i % len(KINDS)]
            rec = store.append_audit(
                kind,
                {"event": f"e{i + 1}", "n": i + 1, "qty": 10 * (i + 1)},
                START + timedelta(minutes=30 * i),
                profile="paper",
            )
            written.append({"seq": rec.seq, "hash": rec.hash, "kind": kind})
    finally:
        store.close()
    return written


def db(home: Path):
    """An autocommit connection to the state DB that closes on leaving the with block."""
    return closing(sqlite3.connect(home / "state.db", isolation_level=None))


def rows(home: Path) -> list[tuple]:
    with db(home) as conn:
        return conn.execute("SELECT seq, ts, profile, kind, data, prev_hash, hash FROM audit ORDER BY seq").fetchall()


def forge(seq: int, ts: str, kind: str, data: dict, prev: str) -> tuple:
    body = {"seq": seq, "ts": ts, "profile": "paper", "kind": kind, "data": data}
    return (
        seq,
        ts,
        "paper",
        kind,
        json.dumps(data, sort_keys=True, separators=(",", ":")),
        prev,
        record_hash(prev, body),
    )


def shift_up(conn: sqlite3.Connection, from_seq: int) -> None:
    """Make room at from_seq: every later record's seq + 1 (via negatives, the PK forbids a clash)."""
    conn.execute("UPDATE audit SET seq = -seq WHERE seq >= ?", (from_seq,))
    conn.execute("UPDATE audit SET seq = -seq + 1 WHERE seq < 0")


def insert(conn: sqlite3.Connection, row: tuple) -> None:
    conn.execute("INSERT INTO audit(seq, ts, profile, kind, data, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?)", row)


def rechain(home: Path) -> None:
    """The thorough forger: recompute every hash from the start (only the anchor can tell)."""
    prev = "0" * 64
    with db(home) as conn:
        for seq, ts, profile, kind, data, _, _ in conn.execute(
            "SELECT seq, ts, profile, kind, data, prev_hash, hash FROM audit ORDER BY seq"
        ).fetchall():
            digest = record_hash(
                prev, {"seq": seq, "ts": ts, "profile": profile, "kind": kind, "data": json.loads(data)}
            )
            conn.execute("UPDATE audit SET prev_hash = ?, hash = ? WHERE seq = ?", (prev, digest, seq))
            prev = digest
