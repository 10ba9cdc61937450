"""The desk: `mci kill --all` and `mci status --all` over every profile of a desk (mci.config.desk).

Each profile's kill is its own `mci kill -p PROFILE -o json` process, so a slow, hung or crashing account
never delays another, and each keeps everything a single kill guarantees (latch first, its own journal,
its own verdict). Accounts are flattened concurrently, one thread per account; each process's orders go
through its account's own rate limiter (mci.brokers.ratelimit keys one per Kite account, shared across
processes), so two accounts never share a budget and one account never gets two.

Profiles on one account (two Kite profiles with the same api_key and API root) are one group: their
kills run one after the other, never together (two flattens of one account would each close the same
position), and before the first of them starts every profile of the group is latched `halted`, so
none of them can ignite or pass `mci risk check` while its sibling flattens the account.

A process's output goes to a file under <state dir>/reports/, never a pipe: a kill that outlives
`MCI_DESK_WITHIN` (default 10 minutes) is reported as without a verdict (exit 7) and left running, and
it must not die writing to a pipe nobody reads.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from mci.brokers.accounts import Member, members
from mci.clock import Clock
from mci.errors import ExitCode, MciError

if TYPE_CHECKING:
    from mci.config.desk import Desk

DESK_WITHIN = timedelta(minutes=10)  # MCI_DESK_WITHIN overrides: how long one account's kill may take


@dataclass
class Verdict:
    """One profile's outcome in a desk run."""

    profile: str
    path: str
    account: str
    exit_code: int
    verdict: str  # flat | NOT FLAT | COULD NOT VERIFY | ... | the error's WHAT
    elapsed: float
    detail: dict[str, Any] = field(default_factory=dict)  # the process's own JSON

    def as_dict(self) -> dict[str, Any]:
        return {
            "profile": self.profile,
            "path": self.path,
            "account": self.account,
            "exit_code": self.exit_code,
            "verdict": self.verdict,
            "elapsed": round(self.elapsed, 3),
            "detail": self.detail,
        }


def within(env: dict[str, str] | None = None) -> float:
    text = (os.environ if env is None else env).get("MCI_DESK_WITHIN")
    if text:
        from mci.units import parse_duration

        try:
            return parse_duration(text).total_seconds()
        except MciError:
            pass
    return DESK_WITHIN.total_seconds()


def _groups(found: list[Member]) -> list[list[Member]]:
    by_account: dict[str, list[Member]] = {}
    for m in found:
        by_account.setdefault(m.account if m.profile is not None else f"unloaded:{m.path}", []).append(m)
    return list(by_account.values())


def _child(args: list[str], out_dir: Path, name: str, deadline: float) -> tuple[int | None, str, str, int]:
    """Run `mci ARGS` to files; (exit code or None if still running at the deadline, stdout, stderr, pid)."""
    out, err = out_dir / f"{name}.out", out_dir / f"{name}.err"
    with open(out, "wb") as fo, open(err, "wb") as fe:
        proc = subprocess.Popen(
            [sys.executable, "-m", "mci", *args], stdout=fo, stderr=fe, stdin=subprocess.DEVNULL, start_new_session=True
        )
    try:
        code: int | None = proc.wait(timeout=max(deadline - time.monotonic(), 0.1))
    except subprocess.TimeoutExpired:
        code = None  # left running: a kill is never cut short by the desk
    return (
        code,
        out.read_text(encoding="utf-8", errors="replace"),
        err.read_text(encoding="utf-8", errors="replace"),
        proc.pid,
    )


def _parse(stdout: str) -> dict[str, Any]:
    text = stdout.strip()
    for candidate in (text, text.splitlines()[-1] if text else ""):
        try:
            data = json.loads(candidate)
            if isinstance(data, dict):
                return data
        except ValueError:
            continue
    return {}


def _kill_verdict(m: Member, code: int | None, stdout: str, stderr: str, pid: int, elapsed: float) -> Verdict:
    data = _parse(stdout)
    if code is None:
        return Verdict(
            m.name,
            str(m.path),
            m.account,
            int(ExitCode.UNVERIFIED),
            f"NO VERDICT: still running after {elapsed:.0f}s (pid {pid}); its output goes on in the "
            "desk's report directory",
            elapsed,
            data,
        )
    if data.get("status") == "error":
        return Verdict(m.name, str(m.path), m.account, code, f"FAILED: {data['error'].get('what')}", elapsed, data)
    if "mode" in data:
        words = {0: "flat", 6: "NOT FLAT", 7: "COULD NOT VERIFY"}
        verdict = words.get(code, f"exit {code}")
        if data.get("remaining"):
            verdict += f": {len(data['remaining'])} item(s) remain"
        return Verdict(m.name, str(m.path), m.account, code, verdict, elapsed, data)
    last = (stderr.strip().splitlines() or ["no output"])[-1]
    return Verdict(m.name, str(m.path), m.account, code or int(ExitCode.INTERNAL), f"FAILED: {last}", elapsed, data)


def _prelatch(m: Member, state_dir: Path, clock: Clock, first: str) -> None:
    """Latch a profile that waits for its sibling's flatten of the same account (its own kill follows)."""
    from mci.engine.killswitch import latch, open_for_kill

    assert m.profile is not None
    kill = open_for_kill(m.profile, clock, state_dir)
    try:
        latch(kill, m.profile, clock, command=f"kill --all (account shared with {first})")
    finally:
        kill.store.close()


def kill_all(
    desk: "Desk",
    state_dir: Path,
    clock: Clock,
    *,
    at: str | None = None,
    on_verdict: Callable[[Verdict], None] | None = None,
) -> tuple[list[Verdict], Path]:
    """Every profile's emergency, accounts concurrently; (the verdicts in desk order, the report directory)."""
    found = members(desk, state_dir)
    stamp = clock.now().strftime("%Y%m%dT%H%M%S")
    out_dir = state_dir / "reports" / f"desk-kill-{stamp}-{os.getpid()}"
    out_dir.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + within()
    done: dict[str, Verdict] = {}
    lock = threading.Lock()

    def record(v: Verdict) -> None:
        with lock:
            done[v.path] = v
            if on_verdict is not None:
                on_verdict(v)

    def run_group(group: list[Member]) -> None:
        for m in group:
            if m.error is not None:
                record(
                    Verdict(
                        m.name,
                        str(m.path),
                        m.account,
                        int(m.error.code),
                        f"NOT KILLED: {m.error.what}",
                        0.0,
                        {"status": "error", "error": m.error.as_dict()},
                    )
                )
        live = [m for m in group if m.error is None]
        for m in live[1:]:
            try:
                _prelatch(m, state_dir, clock, live[0].name)
            except Exception:  # noqa: BLE001 — its own kill below latches it again, first thing
                pass
        for m in live:
            started = time.monotonic()
            args = ["kill", "-p", str(m.path), "-o", "json", *(["--at", at] if at else [])]
            try:
                code, out, err, pid = _child(args, out_dir, m.name, deadline)
            except OSError as exc:
                record(
                    Verdict(
                        m.name,
                        str(m.path),
                        m.account,
                        int(ExitCode.UNAVAILABLE),
                        f"FAILED: could not start its kill: {exc}",
                        0.0,
                    )
                )
                continue
            record(_kill_verdict(m, code, out, err, pid, time.monotonic() - started))

    groups = _groups(found)
    with ThreadPoolExecutor(max_workers=len(groups), thread_name_prefix="desk") as pool:
        for f in [pool.submit(run_group, g) for g in groups]:
            f.result()
    return [done[str(m.path)] for m in found], out_dir


def status_all(desk: "Desk", state_dir: Path, clock: Clock, *, at: str | None = None) -> list[Verdict]:
    """Every profile's `mci status -o json`, concurrently; the verdict is its lifecycle and book in brief."""
    found = members(desk, state_dir)
    stamp = clock.now().strftime("%Y%m%dT%H%M%S")
    out_dir = state_dir / "reports" / f"desk-status-{stamp}-{os.getpid()}"
    out_dir.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + 60.0

    def one(m: Member) -> Verdict:
        if m.error is not None:
            return Verdict(
                m.name,
                str(m.path),
                m.account,
                int(m.error.code),
                f"UNREADABLE: {m.error.what}",
                0.0,
                {"status": "error", "error": m.error.as_dict()},
            )
        started = time.monotonic()
        code, out, err, pid = _child(
            ["status", "-p", str(m.path), "-o", "json", *(["--at", at] if at else [])], out_dir, m.name, deadline
        )
        data = _parse(out)
        elapsed = time.monotonic() - started
        if code is None or "lifecycle" not in data:
            why = "no answer within 60s" if code is None else (err.strip().splitlines() or ["no output"])[-1]
            return Verdict(
                m.name, str(m.path), m.account, code or int(ExitCode.UNAVAILABLE), f"UNKNOWN: {why}", elapsed, data
            )
        return Verdict(m.name, str(m.path), m.account, code, _brief(data), elapsed, data)

    with ThreadPoolExecutor(max_workers=max(1, len(found)), thread_name_prefix="desk") as pool:
        return list(pool.map(one, found))


def _brief(data: dict[str, Any]) -> str:
    life = data.get("lifecycle") or {}
    state = life.get("state", "?")
    positions = data.get("positions")
    orders = data.get("orders") or {}
    if isinstance(positions, list):
        held = [p for p in positions if p.get("quantity")]
        book = f"{len(held)} position(s), {orders.get('open', '?')} open order(s)"
    else:
        book = f"book unavailable: {positions}" if positions else "book unavailable"
    pnl = data.get("pnl") or {}
    day = pnl.get("day") if isinstance(pnl, dict) else None
    latches = life.get("scoped_latches") or []
    return f"{state}{' + ' + str(len(latches)) + ' scoped latch(es)' if latches else ''}; {book}" + (
        f"; day P&L {day}" if day is not None else ""
    )


def worst(verdicts: list[Verdict]) -> int:
    """The desk's exit code: the highest of its profiles' (0 only when every account is flat)."""
    return max((v.exit_code for v in verdicts), default=0)
