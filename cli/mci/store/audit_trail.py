"""Reading and verifying the audit trail of a state directory, read-only and in constant memory.

`verify` recomputes the chain (mci.store.audit) record by record, streaming rows from a
cursor, and names the first bad one: a seq gap is a deleted record, a prev_hash that does
not match the record before is an insertion, deletion or reordering, a hash that does not
match the content is an edit. The anchor file (mci.store.anchor) catches what the chain
alone cannot: a cut-off tail, records appended behind mci's back, and a chain rewritten
forward with recomputed hashes. And every `chain_break` record (written by an append that
found the chain no longer matching its anchor, mci.store.state) is reported for ever after,
though the chain past it is valid again. A kill that ran without the DB wrote to
`audit.fallback.jsonl` (mci.store.fallback), a chain of its own: it is verified beside the DB's.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from mci.errors import UnavailableError
from mci.store.anchor import EMPTY, Anchor, Head, anchor_path, compare, describe, parse_anchor, read_raw
from mci.store.audit import GENESIS, record_hash
from mci.store.fallback import fallback_path, read_fallback, verify_fallback
from mci.store.state import DB_NAME

SQLITE_MAX_INT = 2**63 - 1
_COLUMNS = "seq, ts, profile, kind, data, prev_hash, hash"
RESTORE = (
    "keep this state directory as evidence; compare `mci audit export` with a backup or an off-host copy "
    "you trust, and find who could write to the state directory"
)


@dataclass(frozen=True)
class Row:
    """One audit row as stored: data is the raw JSON text (verify must not trust it parses)."""

    seq: int
    ts: str
    profile: str | None
    kind: str
    data_text: str
    prev_hash: str
    hash: str

    @classmethod
    def of(cls, r: tuple[Any, ...]) -> "Row":
        return cls(int(r[0]), str(r[1]), r[2], str(r[3]), str(r[4]), str(r[5]), str(r[6]))

    def data(self) -> Any:
        try:
            return json.loads(self.data_text)
        except ValueError:
            return self.data_text

    def as_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "ts": self.ts,
            "profile": self.profile,
            "kind": self.kind,
            "data": self.data(),
            "prev_hash": self.prev_hash,
            "hash": self.hash,
        }

    def name(self) -> str:
        return f"record {self.seq} ({self.kind}, {self.ts})"


def unreadable(db: Path, exc: Exception) -> UnavailableError:
    return UnavailableError(
        f"cannot read the audit trail in {db}",
        f"SQLite says: {exc} (the file is damaged, truncated or not a state DB)",
        "keep the file as evidence (do not run mci commands that write to this state directory); "
        "compare an `mci audit export` of a backup, or an off-host copy of audit.anchor, with what you can recover",
    )


def _connect(db: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10, isolation_level=None)
    conn.execute("PRAGMA busy_timeout=10000")
    return conn


def iter_rows(
    state_dir: Path,
    *,
    kinds: list[str] | None = None,
    profile: str | None = None,
    after_seq: int = 0,
    seq: int | None = None,
    last: int | None = None,
) -> Iterator[Row]:
    """Rows in seq order, streamed; `last`: only the last n that match. No DB yet means no rows (none is created)."""
    db = state_dir / DB_NAME
    if not db.exists():
        return
    clauses, args = ["seq > ?"], list[Any]([after_seq])
    if kinds:
        clauses.append(f"kind IN ({', '.join('?' * len(kinds))})")
        args.extend(kinds)
    if profile:
        clauses.append("profile = ?")
        args.append(profile)
    if seq is not None:
        clauses.append("seq = ?")
        args.append(seq)
    sql = f"SELECT {_COLUMNS} FROM audit WHERE {' AND '.join(clauses)} ORDER BY seq"
    if last is not None:
        sql = f"SELECT * FROM ({sql} DESC LIMIT ?) ORDER BY seq"
        args.append(last)
    try:
        conn = _connect(db)
        try:
            for r in conn.execute(sql, args):
                yield Row.of(r)
        finally:
            conn.close()
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return
        raise unreadable(db, exc) from None
    except sqlite3.DatabaseError as exc:
        raise unreadable(db, exc) from None


# -- verify ------------------------------------------------------------------------------------


@dataclass
class Problem:
    seq: int | None
    ts: str | None
    kind: str | None
    # edited | inserted-deleted-reordered | deleted | truncated | unanchored | rewritten | anchor | chain_break
    category: str
    what: str
    why: str
    how: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "ts": self.ts,
            "kind": self.kind,
            "category": self.category,
            "what": self.what,
            "why": self.why,
            "how": self.how,
        }


@dataclass
class Break:
    """A chain_break record: the chain once stopped matching its anchor, and mci said so at the time."""

    seq: int
    ts: str
    data: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "ts": self.ts, **self.data}


@dataclass
class Verdict:
    records: int
    first_seq: int | None
    last_seq: int | None
    anchor: dict[str, Any] | None
    problem: Problem | None = None
    breaks: list[Break] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    fallback: dict[str, Any] | None = None  # audit.fallback.jsonl, when a kill ever had to write there

    @property
    def status(self) -> str:
        if self.problem is not None:
            return "tampered"
        return "intact" if self.records else "empty"

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "records": self.records,
            "first_seq": self.first_seq,
            "last_seq": self.last_seq,
            "anchor": self.anchor,
            "problem": self.problem.as_dict() if self.problem else None,
            "breaks": [b.as_dict() for b in self.breaks],
            "notes": self.notes,
            "fallback": self.fallback,
        }


def _body_hash(prev: str, row: Row) -> str | None:
    try:
        data = json.loads(row.data_text)
    except ValueError:
        return None
    return record_hash(prev, {"seq": row.seq, "ts": row.ts, "profile": row.profile, "kind": row.kind, "data": data})


def hash_matches(row: Row) -> bool:
    return _body_hash(row.prev_hash, row) == row.hash


class ChainCheck:
    """Feed rows in seq order; `problem` is the first record where the hash chain does not hold.

    owner_of(hash) names the record that has a hash (a broken link's target tells the
    story); it is asked only once a link is broken, so memory stays constant.
    """

    def __init__(self, owner_of: Callable[[str], int | None]):
        self.owner_of = owner_of
        self.problem: Problem | None = None
        self.prev, self.expected = GENESIS, 1
        self.before: Row | None = None

    def feed(self, row: Row) -> None:
        if self.problem is not None:
            return
        expected = self.expected
        if row.seq != expected:
            missing = f"{expected}" if row.seq == expected + 1 else f"{expected}..{row.seq - 1}"
            self.problem = Problem(
                row.seq,
                row.ts,
                row.kind,
                "deleted",
                f"{row.name()}: record(s) {missing} are missing before it",
                f"the sequence jumps from {expected - 1} to {row.seq}: records were deleted",
                RESTORE,
            )
        elif row.prev_hash != self.prev:
            after = f"record {self.before.seq}" if self.before else "the start of the trail"
            linked = self.owner_of(row.prev_hash)
            detail = (
                f"it links to record {linked} instead"
                if linked is not None
                else "it links to no record in the trail (its predecessor is gone)"
            )
            self.problem = Problem(
                row.seq,
                row.ts,
                row.kind,
                "inserted-deleted-reordered",
                f"{row.name()}: its prev_hash does not match the hash of {after}",
                f"{detail}: a record was inserted, deleted or reordered here",
                RESTORE,
            )
        else:
            digest = _body_hash(self.prev, row)
            if digest != row.hash:
                why = (
                    "its data is not valid JSON"
                    if digest is None
                    else "its content (ts, profile, kind or data) or its stored hash was changed after it was written"
                )
                self.problem = Problem(
                    row.seq,
                    row.ts,
                    row.kind,
                    "edited",
                    f"{row.name()}: its content does not match its hash",
                    f"{why}: the record was edited (or forged in)",
                    RESTORE,
                )
        self.prev, self.expected, self.before = row.hash, expected + 1, row


def check_chain(rows: Iterable[Row]) -> Problem | None:
    """The first record where the hash chain does not hold, or None (rows in memory: tests and small trails)."""
    rows = list(rows)
    owner = {row.hash: row.seq for row in rows}
    check = ChainCheck(owner.get)
    for row in rows:
        check.feed(row)
    return check.problem


def _snapshot(conn: sqlite3.Connection, path: Path) -> tuple[bytes | None, tuple[Any, ...]]:
    """Open a read transaction whose DB state the anchor file read with it belongs to.

    A writer files its intent before its COMMIT and its confirmation after it
    (mci.store.anchor). The file read before and after the snapshot starts, unchanged,
    means no intent was filed in between: every commit the snapshot holds is one that file
    allows (an intent allows its pending head whether it committed yet or not, and a
    confirmation follows its COMMIT). No lock: a reader never slows a writer down.
    """
    for attempt in range(100):
        before = read_raw(path)
        conn.execute("BEGIN")
        totals = conn.execute("SELECT count(*), min(seq), max(seq) FROM audit").fetchone()
        after = read_raw(path)
        if before == after:
            return after, totals
        conn.execute("ROLLBACK")
        time.sleep(min(0.001 * attempt, 0.02))
    raise UnavailableError(
        "cannot take a steady look at the audit trail",
        "other mci processes appended audit records throughout 100 attempts",
        "run `mci audit verify` again when the writers are quieter",
    )


def verify(state_dir: Path) -> Verdict:
    db = state_dir / DB_NAME
    path = anchor_path(db)
    conn = None
    try:
        verdict = None
        if db.exists():
            conn = _connect(db)
            try:
                verdict = _verify(conn, path)
            except sqlite3.OperationalError as exc:
                if "no such table" not in str(exc):
                    raise
        verdict = verdict or _verify(None, path)
        _verify_fallback(verdict, fallback_path(state_dir))
        return verdict
    except sqlite3.DatabaseError as exc:
        raise unreadable(db, exc) from None
    finally:
        if conn is not None:
            conn.close()


def _verify(conn: sqlite3.Connection | None, path: Path) -> Verdict:
    raw, (count, first, last) = _snapshot(conn, path) if conn is not None else (read_raw(path), (0, None, None))
    verdict = Verdict(int(count), first, last, None)
    try:
        anchor = parse_anchor(raw, path) if raw is not None else None
    except ValueError as exc:
        verdict.problem = Problem(
            None, None, None, "anchor", f"the audit anchor {path} cannot be read", str(exc), RESTORE
        )
        anchor = None
    head = EMPTY
    if conn is not None:

        def owner_of(digest: str) -> int | None:
            found = conn.execute("SELECT seq FROM audit WHERE hash = ? LIMIT 1", (digest,)).fetchone()
            return found[0] if found else None

        check, row = ChainCheck(owner_of), None
        for r in conn.execute(f"SELECT {_COLUMNS} FROM audit ORDER BY seq"):
            row = Row.of(r)
            check.feed(row)
            if row.kind == "chain_break":
                data = row.data()
                verdict.breaks.append(Break(row.seq, row.ts, data if isinstance(data, dict) else {"raw": data}))
        if row is not None:
            head = Head(row.seq, row.hash, row.ts)
        verdict.problem = verdict.problem or check.problem
    if verdict.problem is None and anchor is not None:
        verdict.problem = _against_anchor(conn, anchor, head)
    if anchor is not None:
        verdict.anchor = {**_effective(anchor, head).as_dict(), "file": anchor.as_dict()}
    elif head.seq and raw is None:
        verdict.notes.append(
            f"no anchor file ({path}): the chain holds, but a cut-off tail would not show; "
            "the next audited action writes one"
        )
    if verdict.problem is None and verdict.breaks:
        first = verdict.breaks[0]
        more = f" (and {len(verdict.breaks) - 1} later one(s))" if len(verdict.breaks) > 1 else ""
        verdict.problem = Problem(
            first.seq,
            first.ts,
            "chain_break",
            "chain_break",
            f"record {first.seq} records a break in the chain{more}: {first.data.get('what', 'see its data')}",
            f"{first.data.get('why', 'its data says why')}; found by {_detected(first)} at {first.ts}, which "
            "re-anchored the chain after recording it: the records since are intact, but the trail before the "
            "break is not the one that was anchored",
            RESTORE,
        )
    return verdict


def _verify_fallback(verdict: Verdict, path: Path) -> None:
    # The file is only ever appended to by degraded kills; its chain starts at seq 1 of its own.
    if not path.exists():
        return
    count = sum(1 for _ in read_fallback(path))
    broken = verify_fallback(path)
    verdict.fallback = {
        "file": str(path),
        "records": count,
        "status": "tampered" if broken else "intact",
        "first_bad_seq": broken.seq if broken else None,
    }
    if broken is not None:
        verdict.problem = verdict.problem or Problem(
            broken.seq,
            None,
            None,
            "fallback",
            f"record {broken.seq} of the kill switch's fallback trail {path.name} does not check",
            f"{broken.reason}; this file holds what kills did while the state DB could not be used",
            RESTORE,
        )
    else:
        verdict.notes.append(
            f"{count} record(s) of kills run without the state DB are in {path}; "
            "their own hash chain holds (`mci audit export` does not include them)"
        )


def _detected(b: Break) -> str:
    found = b.data.get("detected")
    detected: dict[str, Any] = found if isinstance(found, dict) else {}
    return f"`{detected.get('command', '?')}` (pid {detected.get('pid', '?')})"


def _effective(anchor: Anchor, head: Head) -> Head:
    """The head the anchor vouches for: its pending one once the DB holds it."""
    p = anchor.pending
    return p if p is not None and (p.seq, p.hash) == (head.seq, head.hash) else anchor.committed


def _against_anchor(conn: sqlite3.Connection | None, anchor: Anchor, head: Head) -> Problem | None:
    def row_at(seq: int) -> Row | None:
        if conn is None:
            return None
        found = conn.execute(f"SELECT {_COLUMNS} FROM audit WHERE seq = ?", (seq,)).fetchone()
        return Row.of(found) if found else None

    def hash_at(seq: int) -> str | None:
        found = row_at(seq)
        return found.hash if found else None

    m = compare(anchor, head, hash_at)
    if m is None:
        return None
    if m.category == "truncated":
        what, why = describe(m, head)
        return Problem(m.seq, None, None, "truncated", what, why, RESTORE)
    row = row_at(m.seq)
    what, why = describe(m, head, row.name() if row else None)
    how = (
        RESTORE
        if m.category == "rewritten"
        else (f"check the state directory is writable; if mci did not write them, {RESTORE}")
    )
    return Problem(m.seq, row.ts if row else None, row.kind if row else None, m.category, what, why, how)
