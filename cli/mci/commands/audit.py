"""`mci audit tail | show | verify | export`: read and check the hash-chained audit trail of the state DB.

`verify` recomputes the chain (mci.store.audit) record by record and names the first
bad one: a seq gap is a deleted record, a prev_hash that does not match the record
before is an insertion, deletion or reordering, a hash that does not match the
content is an edit. The anchor file (mci.store.anchor) catches what the chain alone
cannot: a cut-off tail, records appended behind mci's back, and a chain rewritten
forward with recomputed hashes.

Exit codes: 0 intact (or nothing recorded yet), 1 tampered, 2 bad usage.
"""

from __future__ import annotations

import csv
import io
import json
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, TextIO

from mci.clock import Clock, parse_instant, zone
from mci.errors import ExitCode, UsageError
from mci.output import console
from mci.store.anchor import anchor_path, read_anchor
from mci.store.audit import GENESIS, canonical_json, record_hash
from mci.store.state import DB_NAME

DISPLAY_TZ = "Asia/Kolkata"
CSV_FIELDS = ("seq", "ts", "profile", "kind", "data", "prev_hash", "hash")


def _emit(text: str, stream: TextIO | None = None) -> None:
    console.emit(text, stream or sys.stdout)


def _emit_json(payload: Any) -> None:
    console.emit_json(payload, sys.stdout)


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

    def data(self) -> Any:
        try:
            return json.loads(self.data_text)
        except ValueError:
            return self.data_text

    def as_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "ts": self.ts, "profile": self.profile, "kind": self.kind, "data": self.data(),
                "prev_hash": self.prev_hash, "hash": self.hash}


def _rows(state_dir: Path, where: str = "", args: tuple = ()) -> list[Row]:
    """Rows in seq order; no DB yet means no rows (and none is created)."""
    import sqlite3

    db = state_dir / DB_NAME
    if not db.exists():
        return []
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        try:
            found = conn.execute(f"SELECT seq, ts, profile, kind, data, prev_hash, hash FROM audit {where} ORDER BY seq",
                                 args).fetchall()
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return []
            raise
    finally:
        conn.close()
    return [Row(int(r[0]), str(r[1]), r[2], str(r[3]), str(r[4]), str(r[5]), str(r[6])) for r in found]


# -- verify ------------------------------------------------------------------------------------


@dataclass
class Problem:
    seq: int | None
    ts: str | None
    kind: str | None
    category: str  # edited | inserted-deleted-reordered | deleted | truncated | unanchored | rewritten | anchor
    what: str
    why: str
    how: str

    def as_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "ts": self.ts, "kind": self.kind, "category": self.category,
                "what": self.what, "why": self.why, "how": self.how}


@dataclass
class Verdict:
    records: int
    first_seq: int | None
    last_seq: int | None
    anchor: dict[str, Any] | None
    problem: Problem | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def status(self) -> str:
        if self.problem is not None:
            return "tampered"
        return "intact" if self.records else "empty"

    def as_dict(self) -> dict[str, Any]:
        return {"status": self.status, "records": self.records, "first_seq": self.first_seq,
                "last_seq": self.last_seq, "anchor": self.anchor,
                "problem": self.problem.as_dict() if self.problem else None, "notes": self.notes}


RESTORE = ("keep this state directory as evidence; compare `mci audit export` with a backup or an off-host copy "
           "you trust, and find who could write to the state directory")


def _body_hash(prev: str, row: Row) -> str | None:
    try:
        data = json.loads(row.data_text)
    except ValueError:
        return None
    return record_hash(prev, {"seq": row.seq, "ts": row.ts, "profile": row.profile, "kind": row.kind, "data": data})


def check_chain(rows: Iterable[Row]) -> Problem | None:
    """The first record where the hash chain does not hold, or None."""
    rows = list(rows)
    owner = {row.hash: row.seq for row in rows}  # whose hash a broken link points at tells the story
    prev, expected, before = GENESIS, 1, None
    for row in rows:
        name = f"record {row.seq} ({row.kind}, {row.ts})"
        if row.seq != expected:
            missing = f"{expected}" if row.seq == expected + 1 else f"{expected}..{row.seq - 1}"
            return Problem(row.seq, row.ts, row.kind, "deleted",
                           f"{name}: record(s) {missing} are missing before it",
                           f"the sequence jumps from {expected - 1} to {row.seq}: records were deleted", RESTORE)
        if row.prev_hash != prev:
            after = f"record {before.seq}" if before else "the start of the trail"
            linked = owner.get(row.prev_hash)
            detail = (f"it links to record {linked} instead" if linked is not None
                      else "it links to no record in the trail (its predecessor is gone)")
            return Problem(row.seq, row.ts, row.kind, "inserted-deleted-reordered",
                           f"{name}: its prev_hash does not match the hash of {after}",
                           f"{detail}: a record was inserted, deleted or reordered here", RESTORE)
        digest = _body_hash(prev, row)
        if digest != row.hash:
            why = ("its data is not valid JSON" if digest is None
                   else "its content (ts, profile, kind or data) or its stored hash was changed after it was written")
            return Problem(row.seq, row.ts, row.kind, "edited", f"{name}: its content does not match its hash",
                           f"{why}: the record was edited (or forged in)", RESTORE)
        prev, expected, before = row.hash, expected + 1, row
    return None


def verify(state_dir: Path) -> Verdict:
    rows = _rows(state_dir)
    path = anchor_path(state_dir / DB_NAME)
    try:
        anchor = read_anchor(path)
    except ValueError as exc:
        verdict = Verdict(len(rows), rows[0].seq if rows else None, rows[-1].seq if rows else None, None)
        verdict.problem = Problem(None, None, None, "anchor", f"the audit anchor {path} cannot be read", str(exc),
                                  RESTORE)
        return verdict
    verdict = Verdict(len(rows), rows[0].seq if rows else None, rows[-1].seq if rows else None,
                      anchor.as_dict() if anchor else None)
    verdict.problem = check_chain(rows)
    if verdict.problem is not None:
        return verdict
    last = rows[-1] if rows else None
    last_seq = last.seq if last else 0
    if anchor is None:
        if rows:
            verdict.notes.append(f"no anchor file ({path}): the chain holds, but a cut-off tail would not show; "
                                 "the next audited action writes one")
        return verdict
    if last_seq < anchor.seq:
        missing = f"{last_seq + 1}" if last_seq + 1 == anchor.seq else f"{last_seq + 1}..{anchor.seq}"
        verdict.problem = Problem(
            last_seq + 1, None, None, "truncated",
            f"records {missing} are missing after the last record ({last_seq})",
            f"the anchor says the trail reached seq {anchor.seq} at {anchor.ts}: its tail was cut off "
            "(records deleted, or an older state.db put back)", RESTORE)
        return verdict
    anchored = next(r for r in rows if r.seq == anchor.seq)  # the chain has no gaps: it is there
    if anchored.hash != anchor.hash:
        verdict.problem = Problem(
            anchored.seq, anchored.ts, anchored.kind, "rewritten",
            f"record {anchored.seq} ({anchored.kind}, {anchored.ts}) is not the record that was anchored",
            f"its hash {anchored.hash[:12]}… differs from the anchored {anchor.hash[:12]}…: the chain was recomputed "
            "(records edited, inserted or removed with every later hash forged)", RESTORE)
        return verdict
    if last_seq > anchor.seq:
        first = next(r for r in rows if r.seq == anchor.seq + 1)
        verdict.problem = Problem(
            first.seq, first.ts, first.kind, "unanchored",
            f"records {anchor.seq + 1}..{last_seq} follow the anchored record {anchor.seq} without an anchor",
            "they were appended outside mci, or mci could not write the anchor file (disk full, permissions)",
            f"check the state directory is writable; if mci did not write them, {RESTORE}")
    return verdict


def _render_verdict(verdict: Verdict, output: str, state_dir: Path) -> int:
    code = int(ExitCode.FAILED if verdict.problem else ExitCode.OK)
    if output == "json":
        _emit_json({**verdict.as_dict(), "state_dir": str(state_dir), "exit_code": code})
        return code
    span = f" (seq {verdict.first_seq}..{verdict.last_seq})" if verdict.records else ""
    if verdict.problem is None:
        if verdict.records:
            anchored = " and matches its anchor" if verdict.anchor else ""
            _emit(f"audit trail intact: {verdict.records} record(s){span}; the hash chain holds{anchored}")
        else:
            _emit(f"audit trail empty: nothing recorded yet in {state_dir}")
    else:
        p = verdict.problem
        where = f"first bad record: seq {p.seq}" if p.seq is not None else "the anchor"
        _emit(f"audit trail TAMPERED ({p.category}): {verdict.records} record(s){span}; {where}")
        _emit(f"  WHAT: {p.what}\n  WHY: {p.why}\n  HOW: {p.how}")
    for note in verdict.notes:
        _emit(f"note: {note}")
    return code


def run_verify(state_dir: Path, output: str = "text") -> int:
    return _render_verdict(verify(state_dir), output, state_dir)


# -- tail / show -------------------------------------------------------------------------------


def _filters(kind: list[str] | None, profile: str | None) -> tuple[str, list[Any]]:
    clauses, args = [], []
    if kind:
        clauses.append(f"kind IN ({', '.join('?' * len(kind))})")
        args.extend(kind)
    if profile:
        clauses.append("profile = ?")
        args.append(profile)
    return " AND ".join(clauses), args


def _where(*parts: str) -> str:
    kept = [p for p in parts if p]
    return ("WHERE " + " AND ".join(kept)) if kept else ""


def _local(ts: str) -> str:
    try:
        return datetime.fromisoformat(ts).astimezone(zone(DISPLAY_TZ)).strftime("%Y-%m-%d %H:%M:%S")
    except ValueError:
        return ts


def _line(row: Row, width: int = 110) -> str:
    data = row.data()
    summary = canonical_json(data) if not isinstance(data, str) else data
    if len(summary) > width:
        summary = summary[: width - 1] + "…"
    return f"{row.seq:>6}  {_local(row.ts)}  {row.profile or '-':<12} {row.kind:<11} {summary}"


def tail(state_dir: Path, output: str = "text", *, n: int = 20, kind: list[str] | None = None,
         profile: str | None = None, follow: bool = False, interval: float = 1.0,
         polls: int | None = None, sleep: Callable[[float], None] = time.sleep) -> int:
    """The last n records (oldest first); --follow keeps printing new ones until interrupted (or `polls` rounds)."""
    if n < 0:
        raise UsageError("-n cannot be negative", f"got {n}", "use -n 20 (or -n 0 with --follow for new ones only)")
    clause, args = _filters(kind, profile)
    latest = _rows(state_dir, _where(clause), tuple(args))
    shown = latest[-n:] if n else []
    for row in shown:
        _show_line(row, output)
    last = latest[-1].seq if latest else 0
    rounds = 0
    while follow and (polls is None or rounds < polls):
        try:
            sleep(interval)
        except KeyboardInterrupt:
            break
        rounds += 1
        for row in _rows(state_dir, _where(clause, "seq > ?"), (*args, last)):
            _show_line(row, output)
            last = row.seq
    if not shown and not follow and output == "text":
        _emit("no audit records" + (" match" if clause else " yet"), sys.stderr)
    return int(ExitCode.OK)


def _show_line(row: Row, output: str) -> None:
    if output == "json":
        console.emit(json.dumps(row.as_dict(), ensure_ascii=False, separators=(",", ":")), sys.stdout)  # JSON lines
    else:
        _emit(_line(row))
    sys.stdout.flush()


def show(state_dir: Path, seq: int, output: str = "text") -> int:
    found = _rows(state_dir, "WHERE seq = ?", (seq,))
    if not found:
        raise UsageError(f"no audit record with seq {seq}", f"the state DB in {state_dir} has none",
                         "list the recent ones: mci audit tail")
    row = found[0]
    checks = _body_hash(row.prev_hash, row) == row.hash
    if output == "json":
        _emit_json({**row.as_dict(), "hash_matches_content": checks})
        return int(ExitCode.OK)
    _emit(f"seq:       {row.seq}")
    _emit(f"ts:        {row.ts} ({_local(row.ts)} IST)")
    _emit(f"profile:   {row.profile or '-'}")
    _emit(f"kind:      {row.kind}")
    _emit(f"prev_hash: {row.prev_hash}")
    _emit(f"hash:      {row.hash} ({'matches its content' if checks else 'DOES NOT match its content'})")
    data = row.data()
    _emit("data:\n" + (json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) if not isinstance(data, str)
                       else data))
    _emit("(run `mci audit verify` to check the whole chain)")
    return int(ExitCode.OK)


# -- export ------------------------------------------------------------------------------------


def parse_when(text: str, now: datetime, flag: str) -> datetime:
    """An ISO-8601 instant (no offset means IST) or a duration back from now (30m, 2h, 1d)."""
    from mci.config.units import parse_duration

    try:
        return now - parse_duration(text.strip())
    except ValueError:
        pass
    try:
        return parse_instant(text)
    except Exception:
        raise UsageError(f"cannot read {flag} {text!r}", f"{flag} takes an ISO-8601 instant or a duration back from now",
                         f"write it like {flag} 2026-11-23T09:00 (IST) or {flag} 2h") from None


def _selected(rows: Iterable[Row], since: datetime | None, until: datetime | None) -> Iterator[Row]:
    for row in rows:
        try:
            ts = datetime.fromisoformat(row.ts)
        except ValueError:
            yield row  # a record with an unreadable time is exported, not hidden
            continue
        if ts.tzinfo is None:
            ts = ts.replace(tzinfo=timezone.utc)
        if since is not None and ts < since:
            continue
        if until is not None and ts > until:
            continue
        yield row


def render_export(rows: Iterable[Row], fmt: str) -> str:
    buf = io.StringIO()
    if fmt == "csv":
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(CSV_FIELDS)
        for r in rows:
            writer.writerow([r.seq, r.ts, r.profile or "", r.kind, r.data_text, r.prev_hash, r.hash])
    else:
        for r in rows:
            buf.write(json.dumps(r.as_dict(), ensure_ascii=False, separators=(",", ":")) + "\n")
    return buf.getvalue()


def export(state_dir: Path, clock: Clock, fmt: str = "jsonl", *, since: str | None = None, until: str | None = None,
           kind: list[str] | None = None, profile: str | None = None, out: Path | None = None) -> int:
    if fmt not in ("csv", "jsonl"):
        raise UsageError(f"unknown export format {fmt!r}", "export writes csv or jsonl", "use --format csv or --format jsonl")
    now = clock.now()
    lo = parse_when(since, now, "--since") if since else None
    hi = parse_when(until, now, "--until") if until else None
    clause, args = _filters(kind, profile)
    rows = list(_selected(_rows(state_dir, _where(clause), tuple(args)), lo, hi))
    text = render_export(rows, fmt)
    if out is None:
        sys.stdout.write(text)
        sys.stdout.flush()
        return int(ExitCode.OK)
    _write_atomic(out, text)
    _emit(f"exported {len(rows)} record(s) as {fmt} to {out}", sys.stderr)
    return int(ExitCode.OK)


def _write_atomic(path: Path, text: str) -> None:
    import os
    import tempfile

    path = path.expanduser()
    directory = path.parent if str(path.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise UsageError(f"cannot write {path}", exc.strerror or str(exc),
                         "choose a writable directory for --out") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


__all__ = ["verify", "check_chain", "tail", "show", "export", "run_verify", "Verdict", "Problem"]
