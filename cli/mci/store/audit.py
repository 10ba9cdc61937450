"""Hash-chained audit records: each hash covers the previous hash and a canonical JSON of the record.

Editing, deleting, inserting or reordering a record breaks the chain at that
record, so `verify` can name the first bad one.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Iterable

GENESIS = "0" * 64


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if hasattr(value, "value"):  # enums
        return value.value
    raise TypeError(f"not JSON-serialisable in an audit record: {type(value).__name__}")


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_default)


def record_hash(prev_hash: str, record: dict[str, Any]) -> str:
    return hashlib.sha256((prev_hash + canonical_json(record)).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class AuditRecord:
    seq: int
    ts: str
    profile: str | None
    kind: str
    data: dict[str, Any]
    prev_hash: str
    hash: str

    def body(self) -> dict[str, Any]:
        return {"seq": self.seq, "ts": self.ts, "profile": self.profile, "kind": self.kind, "data": self.data}


@dataclass(frozen=True)
class ChainBreak:
    seq: int
    reason: str


def verify_chain(records: Iterable[AuditRecord]) -> ChainBreak | None:
    """The first record where the chain does not hold, or None."""
    prev = GENESIS
    expected_seq = 1
    for rec in records:
        if rec.seq != expected_seq:
            return ChainBreak(
                rec.seq, f"sequence jumps from {expected_seq - 1} to {rec.seq} (a record was deleted or inserted)"
            )
        if rec.prev_hash != prev:
            return ChainBreak(rec.seq, "its prev_hash does not match the hash of the record before it")
        if record_hash(prev, rec.body()) != rec.hash:
            return ChainBreak(rec.seq, "its content does not match its hash (the record was edited)")
        prev = rec.hash
        expected_seq += 1
    return None
