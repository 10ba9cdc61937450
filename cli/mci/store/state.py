"""The state database: one SQLite file (WAL) in the state directory that separate
invocations share — cron's 09:00 scan, 09:15 ignite and 15:15 shutdown see one truth.

Holds the lifecycle state per profile, the hash-chained audit log, scan results
and breaker states. Every write that changes state appends its audit record in
the same transaction, so the record and the change cannot diverge.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator, cast

from mci.errors import UnavailableError
from mci.store.anchor import (
    EMPTY,
    AnchorWriter,
    Head,
    anchor_path,
    compare,
    describe,
    evidence,
    file_id,
    parse_anchor,
    read_raw,
)
from mci.store.audit import AuditRecord, canonical_json, record_hash
from mci.store.wal import connect_wal

DB_NAME = "state.db"
SCHEMA_VERSION = 4  # 2: the sequence journal (runs, steps); 3: watchers (mci watch heartbeats); 4: runs_latest

_SCHEMA = """
CREATE TABLE IF NOT EXISTS lifecycle (
    profile TEXT PRIMARY KEY,
    state   TEXT NOT NULL,
    since   TEXT NOT NULL,
    reason  TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS audit (
    seq       INTEGER PRIMARY KEY,
    ts        TEXT NOT NULL,
    profile   TEXT,
    kind      TEXT NOT NULL,
    data      TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash      TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS scans (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    profile     TEXT NOT NULL,
    checklist   TEXT NOT NULL,
    status      TEXT NOT NULL,
    started_at  TEXT NOT NULL,
    finished_at TEXT NOT NULL,
    result      TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS scans_by_profile ON scans(profile, id);
CREATE TABLE IF NOT EXISTS breakers (
    name         TEXT PRIMARY KEY,
    state        TEXT NOT NULL,
    fail_counter INTEGER NOT NULL,
    opened_at    TEXT
);
CREATE TABLE IF NOT EXISTS runs (
    run_id      TEXT PRIMARY KEY,
    profile     TEXT NOT NULL,
    purpose     TEXT NOT NULL,
    sequence    TEXT NOT NULL,
    status      TEXT NOT NULL,
    started_at  TEXT NOT NULL,
    finished_at TEXT,
    parent      TEXT,
    error       TEXT
);
CREATE INDEX IF NOT EXISTS runs_by_profile ON runs(profile, purpose, status);
-- Journal.latest(): a profile's runs newest first straight from the index (its rowid breaks ties), no sort.
CREATE INDEX IF NOT EXISTS runs_latest ON runs(profile, started_at);
CREATE TABLE IF NOT EXISTS steps (
    run_id      TEXT NOT NULL,
    step_id     TEXT NOT NULL,
    position    INTEGER NOT NULL,
    attempt     INTEGER NOT NULL,
    status      TEXT NOT NULL,
    started_at  TEXT NOT NULL,
    finished_at TEXT,
    summary     TEXT NOT NULL DEFAULT '',
    error       TEXT,
    facts       TEXT,
    PRIMARY KEY (run_id, step_id, attempt)
);
CREATE TABLE IF NOT EXISTS watchers (
    profile         TEXT PRIMARY KEY,
    pid             INTEGER NOT NULL,
    proc_start      INTEGER,
    started_at      TEXT NOT NULL,
    last_beat       TEXT NOT NULL,
    interval_s      REAL NOT NULL,
    status          TEXT NOT NULL,
    summary         TEXT NOT NULL DEFAULT '{}',
    peak_day        TEXT,
    peak_equity     TEXT,
    squared_off_day TEXT
);
CREATE TABLE IF NOT EXISTS probe (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    at TEXT NOT NULL
);
"""


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat(timespec="microseconds")


_NOTHING = object()
# The command's path when it runs without click (mci.commands.fast dispatches a plain `mci scan` itself).
command_words: str | None = None


def _command_words() -> str:
    """`mci scan`, `mci audit verify`: the command's path, never its arguments (one could be a secret)."""
    import sys

    click = sys.modules.get("click")  # loaded when the CLI runs; the library alone does not need it
    ctx = click.get_current_context(silent=True) if click is not None else None
    if ctx is not None:
        return cast(str, ctx.command_path)
    if command_words is not None:
        return command_words
    return os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "python"


def _parse(text: str | None) -> datetime | None:
    try:
        return datetime.fromisoformat(text) if text else None
    except (TypeError, ValueError) as exc:
        raise _damaged("an instant", text, exc) from None


def _instant(text: str | None) -> datetime:
    """An instant of a NOT NULL column: one that is missing is a damaged DB, like one that no longer parses."""
    moment = _parse(text)
    if moment is None:
        raise _damaged("an instant", text, ValueError("empty"))
    return moment


def stored_json(text: str) -> Any:
    """A JSON value mci wrote to the DB; one that no longer parses is a damaged DB, not a bug (a truncated file
    can still answer queries with a half-written page), so it is raised as the DatabaseError every reader handles."""
    try:
        return json.loads(text)
    except (TypeError, ValueError) as exc:
        raise _damaged("a JSON value", text, exc) from None


def _damaged(what: str, text: object, exc: Exception) -> sqlite3.DatabaseError:
    return sqlite3.DatabaseError(
        f"database disk image is malformed: {what} stored in it no longer parses "
        f"({type(exc).__name__}: {exc}; {len(str(text))} characters)"
    )


@dataclass(frozen=True)
class LifecycleRecord:
    profile: str
    state: str
    since: datetime | None
    reason: str


@dataclass(frozen=True)
class ScanRecord:
    id: int
    profile: str
    checklist: str
    status: str
    started_at: datetime
    finished_at: datetime
    result: dict[str, Any]


@dataclass(frozen=True)
class BreakerRecord:
    name: str
    state: str  # closed | open | half-open
    fail_counter: int
    opened_at: datetime | None


class StateStore:
    def __init__(self, path: Path):
        self.path = path
        self._lock = threading.RLock()
        # The audit anchor (mci.store.anchor), per transaction: the chain head it started from
        # and the head it is committing; and, across transactions, the head this connection
        # last anchored and committed, so an append checks the anchor file only when another
        # process (or someone) moved the chain since.
        self._txn_base: Head | None = None
        self._anchor_pending: Head | None = None
        self._anchored: tuple[Head, tuple[int, int, int]] | None = None  # (head, identity of the file naming it)
        self._anchor = AnchorWriter(anchor_path(path))
        self._break_raw: object = _NOTHING  # the anchor file this connection already reported as broken
        try:
            # Autocommit mode: transactions are explicit (BEGIN IMMEDIATE) so a
            # read-modify-write of the lifecycle cannot interleave with another process.
            self._conn = connect_wal(path, 10)
            self._conn.execute("PRAGMA synchronous=NORMAL")  # audited commits sync themselves: _sync_wal
            version = self._conn.execute("PRAGMA user_version").fetchone()[0]
            if version < SCHEMA_VERSION:
                self._conn.executescript(_SCHEMA + f"PRAGMA user_version={SCHEMA_VERSION};")
        except sqlite3.DatabaseError as exc:
            raise UnavailableError(
                f"cannot open the state database {path}",
                f"SQLite says: {exc}",
                "check the state directory (MCI_HOME) is writable and the file is not corrupt; "
                "to start afresh move the damaged file aside together with audit.anchor beside it "
                "(the audit log lives in them; a new DB beside the old anchor starts with a chain_break)",
            ) from None

    @classmethod
    def open(cls, state_dir: Path) -> "StateStore":
        return cls(state_dir / DB_NAME)

    def close(self) -> None:
        with self._lock:
            self._conn.close()
            self._anchor.close()

    @contextmanager
    def transaction(self) -> Iterator["StateStore"]:
        """One atomic unit across tables; nested use joins the outer transaction."""
        with self._lock:
            if self._conn.in_transaction:
                yield self
                return
            try:
                self._conn.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                raise UnavailableError(
                    "the state database is busy or read-only",
                    f"SQLite says: {exc}",
                    "another mci process may hold it for long; retry, and check the disk and permissions",
                ) from None
            self._txn_base = self._anchor_pending = None
            try:
                yield self
            except BaseException:
                self._txn_base = self._anchor_pending = None
                self._conn.execute("ROLLBACK")
                raise
            else:
                self._commit_with_anchor()

    def _commit_with_anchor(self) -> None:
        """COMMIT; a transaction that appended audit records files its intent before and confirms it after.

        The two phases (mci.store.anchor) make a crash anywhere harmless: before the COMMIT
        the DB is at base and the file allows base; after it the DB is at pending and the
        file allows pending, confirmed or not.
        """
        base, pending = self._txn_base, self._anchor_pending
        self._txn_base = self._anchor_pending = None
        self._anchored = None
        if pending is None or base is None:
            self._conn.execute("COMMIT")
            return
        try:
            self._anchor.intend(base, pending)
        except OSError:
            # The records still commit (an order must not wait for a file); the next append
            # finds them past the anchor and records a chain_break saying so.
            self._conn.execute("COMMIT")
            return
        self._conn.execute("COMMIT")
        try:
            self._sync_wal()
            written = self._anchor.confirm(pending)
        except OSError:
            written = None  # the intent on file still allows the committed head
        if written is not None:
            self._anchored = (pending, written)

    # -- lifecycle --------------------------------------------------------------------

    def lifecycle(self, profile: str) -> LifecycleRecord:
        with self._lock:
            row = self._conn.execute(
                "SELECT state, since, reason FROM lifecycle WHERE profile = ?", (profile,)
            ).fetchone()
        if row is None:
            return LifecycleRecord(profile, "idle", None, "")
        return LifecycleRecord(profile, row[0], _parse(row[1]), row[2])

    def set_lifecycle(self, profile: str, state: str, reason: str, now: datetime) -> None:
        """Low level: engine.lifecycle decides whether a move is legal and audits it."""
        with self._lock:
            self._conn.execute(
                "INSERT INTO lifecycle(profile, state, since, reason) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(profile) DO UPDATE SET state = excluded.state, since = excluded.since, reason = excluded.reason",
                (profile, state, _iso(now), reason),
            )

    # -- audit ------------------------------------------------------------------------

    def append_audit(self, kind: str, data: dict[str, Any], now: datetime, profile: str | None = None) -> AuditRecord:
        with self.transaction():
            last = self._conn.execute("SELECT seq, hash, ts FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
            head = Head(*last) if last else EMPTY
            after: Head | AuditRecord = head
            if self._txn_base is None:  # the transaction's first append: is the chain where its anchor says?
                self._txn_base = head
                if (
                    self._anchored is None
                    or self._anchored[0] != head
                    or self._anchored[1] != file_id(self._anchor.path)
                ):
                    found = self._check_anchor(head, now)
                    if found is not None:
                        after = self._insert_audit(head, "chain_break", found, now, profile)
            record = self._insert_audit(after, kind, data, now, profile)
        return record

    def _insert_audit(
        self, head: Head | AuditRecord, kind: str, data: dict[str, Any], now: datetime, profile: str | None
    ) -> AuditRecord:
        seq, prev = head.seq + 1, head.hash
        # Round-trip through canonical JSON so what is hashed is exactly what is stored.
        stored = json.loads(canonical_json(data))
        body = {"seq": seq, "ts": _iso(now), "profile": profile, "kind": kind, "data": stored}
        digest = record_hash(prev, body)
        self._conn.execute(
            "INSERT INTO audit(seq, ts, profile, kind, data, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (seq, body["ts"], profile, kind, canonical_json(stored), prev, digest),
        )
        self._anchor_pending = Head(seq, digest, body["ts"])
        return AuditRecord(seq, body["ts"], profile, kind, stored, prev, digest)

    def _check_anchor(self, head: Head, now: datetime) -> dict[str, Any] | None:
        """The data of a chain_break record when the DB's chain does not match the anchor file, else None.

        Never re-anchor silently: a trail cut short, rewritten, replaced or extended behind
        mci's back is recorded (with the old anchor as evidence) before the chain moves on, so
        `mci audit verify` reports it for ever after. Costs one file read and at most two
        indexed lookups, and only when the head moved since this connection last anchored.
        """
        path = anchor_path(self.path)
        unreadable: str | None
        try:
            raw = read_raw(path)
        except OSError as exc:
            raw, unreadable = None, f"cannot read {path}: {exc.strerror or exc}"
        else:
            unreadable = None
        missing = raw is None and unreadable is None
        if missing and head.seq == 0:
            return None  # a fresh state directory: nothing to anchor against yet
        if missing:
            unreadable = (
                f"it is missing while the trail holds records 1..{head.seq}: deleted or moved (a cut-off "
                "tail since its last write would not show), or the trail predates the anchor file"
            )
        anchor = mismatch = None
        if unreadable is None:
            try:
                anchor = parse_anchor(cast(bytes, raw), path)  # not None: missing set unreadable above
            except ValueError as exc:
                unreadable = str(exc)
        if anchor is not None:
            mismatch = compare(anchor, head, self._hash_at)
            if mismatch is None:
                if anchor.pending is not None and (head.seq, head.hash) == (anchor.pending.seq, anchor.pending.hash):
                    try:
                        self._sync_wal()  # its writer died before syncing; this transaction names it as base
                    except OSError:
                        pass  # a process crash alone cannot lose it; only a power cut right now could
                return None
        if raw == self._break_raw:
            return None  # this connection recorded this very break already (the anchor could not be rewritten)
        self._break_raw = raw
        why: str | None
        if mismatch is not None:
            category = mismatch.category
            what, why = describe(mismatch, head)
        else:
            category, why = "anchor", unreadable
            what = f"the audit anchor {path} is missing" if missing else f"the audit anchor {path} cannot be read"
        return {
            "category": category,
            "what": what,
            "why": why,
            **evidence(raw, anchor, head, mismatch),
            "detected": {
                "at": _iso(now),
                "wall": _iso(datetime.now(timezone.utc)),
                "pid": os.getpid(),
                "command": _command_words(),
            },
        }

    def _sync_wal(self) -> None:
        """Put the committed WAL on disk before the anchor file confirms what it holds (see mci.store.anchor)."""
        try:
            fd = os.open(f"{self.path}-wal", os.O_RDONLY)
        except FileNotFoundError:
            return  # checkpointed into the DB file, which the checkpoint synced
        try:
            os.fdatasync(fd)
        finally:
            os.close(fd)

    def _hash_at(self, seq: int) -> str | None:
        row = self._conn.execute("SELECT hash FROM audit WHERE seq = ?", (seq,)).fetchone()
        return row[0] if row else None

    def audit_records(self, since_seq: int = 0) -> Iterator[AuditRecord]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT seq, ts, profile, kind, data, prev_hash, hash FROM audit WHERE seq > ? ORDER BY rowid",
                (since_seq,),
            ).fetchall()
        for seq, ts, profile, kind, data, prev_hash, digest in rows:
            yield AuditRecord(seq, ts, profile, kind, stored_json(data), prev_hash, digest)

    # -- scans ------------------------------------------------------------------------

    def record_scan(
        self,
        profile: str,
        checklist: str,
        status: str,
        started_at: datetime,
        finished_at: datetime,
        result: dict[str, Any],
    ) -> int:
        with self.transaction():
            cur = self._conn.execute(
                "INSERT INTO scans(profile, checklist, status, started_at, finished_at, result) VALUES (?, ?, ?, ?, ?, ?)",
                (profile, checklist, status, _iso(started_at), _iso(finished_at), canonical_json(result)),
            )
            return cast(int, cur.lastrowid)  # an INSERT's row id: never None

    def last_scan(self, profile: str) -> ScanRecord | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT id, profile, checklist, status, started_at, finished_at, result FROM scans "
                "WHERE profile = ? ORDER BY id DESC LIMIT 1",
                (profile,),
            ).fetchone()
        if row is None:
            return None
        return ScanRecord(
            row[0],
            row[1],
            row[2],
            row[3],
            cast(datetime, _parse(row[4])),
            cast(datetime, _parse(row[5])),
            stored_json(row[6]),
        )

    # -- breakers ---------------------------------------------------------------------

    def breaker(self, name: str) -> BreakerRecord:
        with self._lock:
            row = self._conn.execute(
                "SELECT state, fail_counter, opened_at FROM breakers WHERE name = ?", (name,)
            ).fetchone()
        if row is None:
            return BreakerRecord(name, "closed", 0, None)
        return BreakerRecord(name, row[0], row[1], _parse(row[2]))

    def _put_breaker(self, record: BreakerRecord) -> None:
        self._conn.execute(
            "INSERT INTO breakers(name, state, fail_counter, opened_at) VALUES (?, ?, ?, ?) "
            "ON CONFLICT(name) DO UPDATE SET state = excluded.state, fail_counter = excluded.fail_counter, "
            "opened_at = excluded.opened_at",
            (record.name, record.state, record.fail_counter, _iso(record.opened_at) if record.opened_at else None),
        )

    def breakers(self) -> list[BreakerRecord]:
        """Every breaker the database has seen, by name."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT name, state, fail_counter, opened_at FROM breakers ORDER BY name"
            ).fetchall()
        return [BreakerRecord(r[0], r[1], r[2], _parse(r[3])) for r in rows]

    def modify_breaker(
        self,
        name: str,
        change: Callable[[BreakerRecord], BreakerRecord],
        now: datetime,
        audit: dict[str, Any] | None = None,
    ) -> tuple[BreakerRecord, BreakerRecord]:
        """Read-modify-write one breaker atomically: (before, after).

        A state change appends a ("breaker", {name, from, to, ...audit}) record in the same
        transaction; `audit` given forces a record even without a state change (an operator's reset).
        """
        with self.transaction():
            before = self.breaker(name)
            after = change(before)
            if after != before:
                self._put_breaker(after)
            if after.state != before.state or audit is not None:
                self.append_audit(
                    "breaker",
                    {
                        "name": name,
                        "from": before.state,
                        "to": after.state,
                        "failures": after.fail_counter,
                        **(audit or {}),
                    },
                    now,
                )
        return before, after

    # -- raw access for the modules that own a table (store.journal) ------------------

    def execute(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._conn.execute(sql, args).fetchall()

    # -- health -----------------------------------------------------------------------

    def check_pages(self) -> None:
        """PRAGMA quick_check reads every page: a truncated file that opens and answers some queries fails here,
        before a run that needs its journal to resume relies on it. Raises sqlite3.DatabaseError."""
        rows = self._conn.execute("PRAGMA quick_check").fetchall()
        if not rows or rows[0][0] != "ok":
            raise sqlite3.DatabaseError(f"quick_check: {rows[0][0] if rows else 'no answer'}")

    def health_probe(self) -> None:
        """A write and a read in one transaction: proves the DB is writable right now."""
        try:
            with self.transaction():
                stamp = os.urandom(8).hex()
                self._conn.execute("INSERT OR REPLACE INTO probe(id, at) VALUES (1, ?)", (stamp,))
                if self._conn.execute("SELECT at FROM probe WHERE id = 1").fetchone()[0] != stamp:
                    raise sqlite3.DatabaseError("probe read back a different value")
        except sqlite3.DatabaseError as exc:
            raise UnavailableError(
                "the state database is not writable",
                f"SQLite says: {exc}",
                "check free disk space and the permissions of the state directory (MCI_HOME)",
            ) from None
