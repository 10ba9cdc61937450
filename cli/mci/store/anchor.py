"""The audit anchor: the last (seq, hash) the audit chain reached, kept in a file beside the state DB.

The hash chain alone cannot show that its tail was cut off (a truncated chain is a
valid chain), nor that someone rewrote it from some record forward with recomputed
hashes. The anchor can: every append writes the new head to `audit.anchor` while the
transaction still holds SQLite's write lock (so two processes cannot write anchors out
of order), just before COMMIT; a failed COMMIT restores the previous anchor.

Why a file and not a row in the DB: restoring an older copy of state.db, or a
`DELETE FROM audit WHERE seq > N` done together with an `UPDATE` of a head row, cuts
the anchor along with the records; a separate file survives a truncation or
replacement of the DB file. (Someone who rewrites both the DB and the anchor file is
not caught: that needs the anchor kept elsewhere, e.g. shipped off-host.)
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

ANCHOR_NAME = "audit.anchor"


@dataclass(frozen=True)
class Anchor:
    seq: int
    hash: str
    ts: str

    def as_dict(self) -> dict[str, object]:
        return {"seq": self.seq, "hash": self.hash, "ts": self.ts}


def anchor_path(db_path: Path) -> Path:
    return Path(db_path).parent / ANCHOR_NAME


def read_anchor(path: Path) -> Anchor | None:
    """The anchor, or None when there is none; ValueError when it cannot be read."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    try:
        data = json.loads(text)
        return Anchor(int(data["seq"]), str(data["hash"]), str(data.get("ts", "")))
    except (ValueError, KeyError, TypeError):
        raise ValueError(f"{path} is not an audit anchor") from None


def read_raw(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def write_raw(path: Path, content: bytes | None) -> None:
    """Atomically replace the anchor (or remove it when content is None)."""
    if content is None:
        try:
            path.unlink()
        except FileNotFoundError:
            pass
        return
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, content)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def write_anchor(path: Path, anchor: Anchor) -> None:
    write_raw(path, (json.dumps(anchor.as_dict(), sort_keys=True) + "\n").encode("utf-8"))
