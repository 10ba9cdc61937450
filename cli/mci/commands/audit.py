"""`mci audit tail | show | verify | export`: read and check the hash-chained audit trail of the state DB.

The reading and the verification live in the store layer (mci.store.audit_trail); this
module renders them. Exit codes: 0 intact (or nothing recorded yet), 1 tampered (or a
chain_break on record), 2 bad usage, 3 a state DB that cannot be read.
"""

from __future__ import annotations

import csv
import json
import os
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, TextIO

from mci.clock import Clock, parse_instant, zone
from mci.errors import ExitCode, UsageError
from mci.output import console
from mci.store.audit import canonical_json
from mci.store.audit_trail import SQLITE_MAX_INT, Problem, Row, Verdict, check_chain, hash_matches, iter_rows, verify

DISPLAY_TZ = "Asia/Kolkata"
CSV_FIELDS = ("seq", "ts", "profile", "kind", "data", "prev_hash", "hash")


def _emit(text: str, stream: TextIO | None = None) -> None:
    console.emit(text, stream or sys.stdout)


def _emit_json(payload: Any) -> None:
    console.emit_json(payload, sys.stdout)


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
    for b in verdict.breaks:
        _emit(
            f"chain_break at seq {b.seq} ({_local(b.ts)} IST): {b.data.get('category', '?')}: {b.data.get('what', '')}"
        )
        _emit(
            "  evidence: " + canonical_json({k: v for k, v in b.data.items() if k not in ("what", "why", "category")})
        )
    for note in verdict.notes:
        _emit(f"note: {note}")
    return code


def run_verify(state_dir: Path, output: str = "text") -> int:
    return _render_verdict(verify(state_dir), output, state_dir)


# -- tail / show -------------------------------------------------------------------------------


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


def tail(
    state_dir: Path,
    output: str = "text",
    *,
    n: int = 20,
    kind: list[str] | None = None,
    profile: str | None = None,
    follow: bool = False,
    interval: float = 1.0,
    polls: int | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """The last n records (oldest first); --follow keeps printing new ones until interrupted (or `polls` rounds)."""
    if n < 0:
        raise UsageError("-n cannot be negative", f"got {n}", "use -n 20 (or -n 0 with --follow for new ones only)")
    kinds = list(kind or [])
    shown = list(iter_rows(state_dir, kinds=kinds, profile=profile, last=n)) if n else []
    for row in shown:
        _show_line(row, output)
    if shown:
        last = shown[-1].seq
    else:
        found = list(iter_rows(state_dir, kinds=kinds, profile=profile, last=1))
        last = found[-1].seq if found else 0
    rounds = 0
    while follow and (polls is None or rounds < polls):
        try:
            sleep(interval)
        except KeyboardInterrupt:
            break
        rounds += 1
        for row in iter_rows(state_dir, kinds=kinds, profile=profile, after_seq=last):
            _show_line(row, output)
            last = row.seq
    if not shown and not follow and output == "text":
        _emit("no audit records" + (" match" if kinds or profile else " yet"), sys.stderr)
    return int(ExitCode.OK)


def _show_line(row: Row, output: str) -> None:
    if output == "json":
        console.emit(json.dumps(row.as_dict(), ensure_ascii=False, separators=(",", ":")), sys.stdout)  # JSON lines
    else:
        _emit(_line(row))
    sys.stdout.flush()


def show(state_dir: Path, seq: int, output: str = "text") -> int:
    if not 1 <= seq <= SQLITE_MAX_INT:
        raise UsageError(
            f"no audit record can have seq {seq}",
            "sequence numbers start at 1 and fit in 63 bits",
            "list the recent ones with `mci audit tail` and pass one of their seq numbers",
        )
    found = list(iter_rows(state_dir, seq=seq))
    if not found:
        raise UsageError(
            f"no audit record with seq {seq}",
            f"the state DB in {state_dir} has none",
            "list the recent ones: mci audit tail",
        )
    row = found[0]
    checks = hash_matches(row)
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
    _emit(
        "data:\n"
        + (json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) if not isinstance(data, str) else data)
    )
    _emit("(run `mci audit verify` to check the whole chain)")
    return int(ExitCode.OK)


# -- export ------------------------------------------------------------------------------------


def parse_when(text: str, now: datetime, flag: str) -> datetime:
    """An ISO-8601 instant (no offset means IST) or a duration back from now (30m, 2h, 1d)."""
    from mci.units import parse_duration

    try:
        return now - parse_duration(text.strip())
    except ValueError:
        pass
    try:
        return parse_instant(text)
    except Exception:
        raise UsageError(
            f"cannot read {flag} {text!r}",
            f"{flag} takes an ISO-8601 instant or a duration back from now",
            f"write it like {flag} 2026-11-23T09:00 (IST) or {flag} 2h",
        ) from None


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


def write_export(rows: Iterable[Row], fmt: str, stream: TextIO) -> int:
    """Write rows as csv or jsonl, one at a time; the count written."""
    count = 0
    if fmt == "csv":
        writer = csv.writer(stream, lineterminator="\n")
        writer.writerow(CSV_FIELDS)
        for r in rows:
            writer.writerow([r.seq, r.ts, r.profile or "", r.kind, r.data_text, r.prev_hash, r.hash])
            count += 1
    else:
        for r in rows:
            stream.write(json.dumps(r.as_dict(), ensure_ascii=False, separators=(",", ":")) + "\n")
            count += 1
    return count


def export(
    state_dir: Path,
    clock: Clock,
    fmt: str = "jsonl",
    *,
    since: str | None = None,
    until: str | None = None,
    kind: list[str] | None = None,
    profile: str | None = None,
    out: Path | None = None,
) -> int:
    if fmt not in ("csv", "jsonl"):
        raise UsageError(
            f"unknown export format {fmt!r}", "export writes csv or jsonl", "use --format csv or --format jsonl"
        )
    now = clock.now()
    lo = parse_when(since, now, "--since") if since else None
    hi = parse_when(until, now, "--until") if until else None
    target = _export_target(out) if out is not None else None
    rows = _selected(iter_rows(state_dir, kinds=list(kind or []), profile=profile), lo, hi)
    if target is None:
        write_export(rows, fmt, sys.stdout)
        sys.stdout.flush()
        return int(ExitCode.OK)
    count = _write_atomic(target, lambda fh: write_export(rows, fmt, fh))
    _emit(f"exported {count} record(s) as {fmt} to {target}", sys.stderr)
    return int(ExitCode.OK)


def _export_target(out: Path) -> Path:
    """--out checked before anything is read: a file path in a directory that exists (none is created)."""
    path = out.expanduser()
    if path.is_dir():
        raise UsageError(
            f"--out {out} is a directory",
            "export writes one file and will not guess a name inside it",
            f"name the file, e.g. --out {path / 'audit.jsonl'}",
        )
    parent = path.parent
    if not parent.is_dir():
        raise UsageError(
            f"cannot write {path}: its directory {parent} does not exist",
            "mci does not create directories for --out (a typo would scatter exports)",
            f"create it first (mkdir -p {parent}) or choose an existing directory",
        )
    return path


def _write_atomic(path: Path, write: Callable[[TextIO], int]) -> int:
    import tempfile

    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise UsageError(
            f"cannot write {path}", exc.strerror or str(exc), "choose a writable directory for --out"
        ) from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            count = write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return count


__all__ = ["verify", "check_chain", "tail", "show", "export", "run_verify", "Verdict", "Problem", "Row"]
