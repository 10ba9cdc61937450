"""The audit anchor: where the audit chain stood, kept in a file beside the state DB.

The hash chain alone cannot show that its tail was cut off (a truncated chain is a
valid chain), nor that someone rewrote it from some record forward with recomputed
hashes. The anchor can. Why a file and not a row in the DB: restoring an older copy of
state.db, or a `DELETE FROM audit WHERE seq > N` done together with an `UPDATE` of a head
row, cuts the anchor along with the records; a separate file survives a truncation or
replacement of the DB file. (Someone who rewrites both the DB and the anchor file is
not caught: that needs the anchor kept elsewhere, e.g. shipped off-host.)

Two-phase, so that a crash at any point never looks like tampering, and the anchor is
never ahead of what is committed. An audited transaction, just before its COMMIT and while
it holds SQLite's write lock, writes the intent

    {"seq": S, "hash": H, "ts": …, "pending": {"seq": P, "hash": …, "ts": …}}

where (S, H) is the chain head the transaction started from (committed) and P the head it
is committing; after the COMMIT it confirms {"seq": P, "hash": …, "ts": …}. The DB's head
may be S or P while the intent is on file (a crash before the COMMIT leaves S, a crash
after it leaves P: both are fine), and must be P once confirmed; anything else is a break.

Ordering between processes. The intent is written under SQLite's write lock, so intents
come in commit order. The confirmation comes after the COMMIT, when the write lock is gone
and a later writer may already have filed its own intent: so every write of the file
takes an flock on `audit.anchor.lock`, and a confirmation is written only if the file
still holds this transaction's intent (compare-and-swap). A skipped confirmation loses
nothing: the later intent names P as its committed head. An flock dies with its holder,
even on SIGKILL. Readers (`mci audit verify`) take no lock: the file is replaced by
rename, and they read it before and after taking their DB snapshot and retry when it moved
(mci.store.audit_trail).

Durability (an OS crash or power cut, not only a dead process): the intent is fsynced
before the COMMIT; after the COMMIT the writer fdatasyncs the DB's WAL before it writes the
confirmation, so a confirmed head is on disk first (mci.store.state; the DB otherwise runs
with synchronous=NORMAL, so unaudited writes pay no sync). A writer that finds an
unconfirmed intent (its writer died after the COMMIT) syncs the WAL too before naming that
head as its base. The confirmation itself is not fsynced: losing it loses nothing (the
intent still allows the head). What a power cut could leave is a confirmation renamed in
before its bytes reached the disk, on a file system that does not flush a file replaced by
rename (ext4, xfs and btrfs do): verify then says the anchor cannot be read, loudly.

A file from before the two phases (no "pending") is read as S only.
"""

from __future__ import annotations

import fcntl
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

ANCHOR_NAME = "audit.anchor"
GENESIS = "0" * 64  # the "hash" of an empty chain (mci.store.audit.GENESIS)


@dataclass(frozen=True)
class Head:
    seq: int
    hash: str
    ts: str = ""

    def as_dict(self) -> dict[str, object]:
        return {"seq": self.seq, "hash": self.hash, "ts": self.ts}


EMPTY = Head(0, GENESIS)


@dataclass(frozen=True)
class Anchor:
    seq: int
    hash: str
    ts: str
    pending: Head | None = None

    @property
    def committed(self) -> Head:
        return Head(self.seq, self.hash, self.ts)

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"seq": self.seq, "hash": self.hash, "ts": self.ts}
        if self.pending is not None:
            out["pending"] = self.pending.as_dict()
        return out


def anchor_path(db_path: Path) -> Path:
    return Path(db_path).parent / ANCHOR_NAME


def parse_anchor(raw: bytes, path: Path) -> Anchor:
    try:
        data = json.loads(raw.decode("utf-8"))
        pending = data.get("pending")
        return Anchor(
            int(data["seq"]),
            str(data["hash"]),
            str(data.get("ts", "")),
            Head(int(pending["seq"]), str(pending["hash"]), str(pending.get("ts", ""))) if pending else None,
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        raise ValueError(f"{path} is not an audit anchor") from None


def read_anchor(path: Path) -> Anchor | None:
    """The anchor, or None when there is none; ValueError when it cannot be read."""
    raw = read_raw(path)
    return None if raw is None else parse_anchor(raw, path)


def read_raw(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def write_raw(path: Path, content: bytes, durable: bool = True) -> None:
    """Atomically replace the anchor; durable: on disk (fsync) before it returns."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, content)
        if durable:
            os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def write_anchor(path: Path, anchor: Anchor) -> None:
    write_raw(path, _encode(anchor))


def _encode(anchor: Anchor) -> bytes:
    return (json.dumps(anchor.as_dict(), sort_keys=True) + "\n").encode("utf-8")


FileId = tuple[int, int, int]


def file_id(path: Path) -> FileId | None:
    """Which file is at path: every write replaces it (rename), so another write changes this."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)


class AnchorWriter:
    """Files the intent and the confirmation of one state DB's audited transactions (see the module doc)."""

    def __init__(self, path: Path):
        self.path = path
        self._lock_fd: int | None = None

    def _locked(self) -> int:
        if self._lock_fd is None:
            self._lock_fd = os.open(self.path.with_name(self.path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
        return self._lock_fd

    def intend(self, base: Head, pending: Head) -> None:
        """Before the COMMIT (the caller holds the DB's write lock)."""
        fd = self._locked()
        try:
            write_raw(self.path, _encode(Anchor(base.seq, base.hash, base.ts, pending)))
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)

    def confirm(self, pending: Head) -> FileId | None:
        """After the COMMIT: the identity of the file written, None when a later intent is on file already."""
        fd = self._locked()
        try:
            raw = read_raw(self.path)
            try:
                current = parse_anchor(raw, self.path) if raw is not None else None
            except ValueError:
                current = None
            if current is None or current.pending != pending:
                return None
            write_raw(self.path, _encode(Anchor(pending.seq, pending.hash, pending.ts)), durable=False)
            return file_id(self.path)
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)

    def close(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None


# -- comparing an anchor with the DB -----------------------------------------------------


@dataclass(frozen=True)
class Mismatch:
    """How the DB's chain differs from its anchor. seq: the first record that is missing or wrong."""

    category: str  # truncated | rewritten | unanchored
    seq: int
    anchored: Head  # the anchored head the DB was checked against
    found: str | None  # the hash the DB holds at anchored.seq (None: no such record)


def compare(anchor: Anchor, head: Head, hash_at: Callable[[int], str | None]) -> Mismatch | None:
    """None when the DB (head = its last record, EMPTY when none) is where the anchor says it can be.

    hash_at(seq) is the DB's hash of record seq or None; it is called at most twice
    (one indexed lookup each), so an append can afford this check.
    """
    committed, pending = anchor.committed, anchor.pending
    for allowed in (committed, pending):
        if allowed is not None and (head.seq, head.hash) == (allowed.seq, allowed.hash):
            return None
    if head.seq < committed.seq:
        return Mismatch("truncated", head.seq + 1, committed, None)
    found = head.hash if head.seq == committed.seq else (GENESIS if committed.seq == 0 else hash_at(committed.seq))
    if found != committed.hash:
        return Mismatch("rewritten", committed.seq, committed, found)
    # The committed head is there, with records past it that are not the pending ones.
    base = committed
    if pending is not None and pending.seq < head.seq and hash_at(pending.seq) == pending.hash:
        base = pending
    return Mismatch("unanchored", base.seq + 1, base, base.hash)


def describe(m: Mismatch, head: Head, name: str | None = None) -> tuple[str, str]:
    """(what, why) of a mismatch, in the words `mci audit verify` has always used; name: the anchored record's."""
    if m.category == "truncated":
        missing = f"{head.seq + 1}" if head.seq + 1 == m.anchored.seq else f"{head.seq + 1}..{m.anchored.seq}"
        last = f"the last record ({head.seq})" if head.seq else "the start (the DB holds no records)"
        return (
            f"records {missing} are missing after {last}",
            f"the anchor says the trail reached seq {m.anchored.seq} at {m.anchored.ts or 'an unknown time'}: "
            "its tail was cut off (records deleted, or an older or a new state.db put in its place)",
        )
    if m.category == "rewritten":
        found = m.found[:12] + "…" if m.found else "nothing"
        return (
            f"{name or f'record {m.anchored.seq}'} is not the record that was anchored",
            f"its hash {found} differs from the anchored {m.anchored.hash[:12]}…: the chain was recomputed "
            "(records edited, inserted or removed with every later hash forged), or the DB was replaced",
        )
    return (
        f"records {m.seq}..{head.seq} follow the anchored record {m.anchored.seq} without an anchor",
        "they were appended outside mci, or mci could not write the anchor file (disk full, permissions)",
    )


def evidence(raw: bytes | None, anchor: Anchor | None, head: Head, m: Mismatch | None) -> dict[str, Any]:
    """What a chain_break record keeps of the old anchor and the DB it no longer matched."""
    out: dict[str, Any] = {"db_head": head.as_dict() if head.seq else None}
    if anchor is not None:
        out["anchor"] = anchor.as_dict()
    elif raw is not None:
        out["anchor_raw"] = raw[:512].decode("utf-8", "replace")
    if m is not None:
        out["checked_seq"] = m.anchored.seq
        out["found_at_checked_seq"] = m.found
    return out
