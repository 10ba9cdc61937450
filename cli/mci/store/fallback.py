"""Where the kill switch writes when the state DB cannot be used: `audit.fallback.jsonl` beside it.

An emergency must not depend on the database it would record in: a truncated, unreadable or
locked `state.db` must never keep `mci kill` from stopping the engine and flattening. Its
records then go to an append-only JSON-lines file in the state directory, one record per line,
fsync'd before the action it announces, hash-chained exactly like the audit table (the same
`record_hash` over the previous hash and the record), so `verify_fallback` shows an edited,
inserted or removed line. The file is never truncated or rewritten; every degraded kill
continues its chain.

`FallbackStore` is a StateStore whose tables live in memory for this one run (the journal, the
lifecycle, the breakers the sequence touches) and whose audit appends go to that file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterator

from mci.store.audit import GENESIS, AuditRecord, ChainBreak, canonical_json, record_hash, verify_chain
from mci.store.state import StateStore, _iso

FALLBACK_NAME = "audit.fallback.jsonl"


def fallback_path(state_dir: Path) -> Path:
    return Path(state_dir) / FALLBACK_NAME


def read_fallback(path: Path) -> Iterator[AuditRecord]:
    """The file's records in order; a line that is not a record ends the chain there (verify says where)."""
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return
    for line in lines:
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
            yield AuditRecord(
                int(raw["seq"]), raw["ts"], raw.get("profile"), raw["kind"], raw["data"], raw["prev_hash"], raw["hash"]
            )
        except (ValueError, KeyError, TypeError):
            yield AuditRecord(-1, "", None, "unreadable line", {"line": line[:200]}, "", "")


def verify_fallback(path: Path) -> ChainBreak | None:
    """None when every line checks against the one before; else the first break."""
    return verify_chain(read_fallback(path))


class FallbackAudit:
    def __init__(self, path: Path):
        self.path = Path(path)

    def _head(self) -> tuple[int, str]:
        last = None
        for last in read_fallback(self.path):  # noqa: B007 — the loop keeps the last record
            pass
        return (last.seq, last.hash) if last is not None and last.seq > 0 else (0, GENESIS)

    def append(self, kind: str, data: dict[str, Any], now: Any, profile: str | None = None) -> AuditRecord:
        seq, prev = self._head()
        stored = json.loads(canonical_json(data))
        body = {"seq": seq + 1, "ts": _iso(now), "profile": profile, "kind": kind, "data": stored}
        digest = record_hash(prev, body)
        line = canonical_json({**body, "prev_hash": prev, "hash": digest}) + "\n"
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, line.encode("utf-8"))
            os.fsync(fd)  # on disk before the action it announces
        finally:
            os.close(fd)
        return AuditRecord(seq + 1, body["ts"], profile, kind, stored, prev, digest)


class FallbackStore(StateStore):
    """The state tables in memory for one degraded run; every audit record goes to the fallback file."""

    def __init__(self, state_dir: Path):
        super().__init__(Path(":memory:"))
        self.fallback = FallbackAudit(fallback_path(state_dir))

    def _commit_with_anchor(self) -> None:
        # Nothing in memory to anchor: the records are in the fallback file, chained there.
        self._anchor_pending = None
        self._conn.execute("COMMIT")

    def append_audit(self, kind: str, data: dict[str, Any], now: Any, profile: str | None = None) -> AuditRecord:
        return self.fallback.append(kind, data, now, profile)
