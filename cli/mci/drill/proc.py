"""`mci` commands as the drill runs them: real processes, as cron would, each bounded by a timeout.

A command that outlives its bound is terminated (then killed) and reported as
timed out: a hung phase fails the drill instead of hanging CI. The watcher
runs alongside the other phases, its JSON lines collected as they arrive.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from mci.clock import Clock

GRACE = 3.0  # seconds between SIGTERM and SIGKILL when a command is stopped


def argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "mci", *args]


@dataclass
class Done:
    args: tuple[str, ...]
    code: int | None  # None: timed out and stopped
    stdout: str
    stderr: str
    seconds: float

    @property
    def timed_out(self) -> bool:
        return self.code is None

    def json(self) -> Any:
        """The command's JSON document (or its JSON error); None when stdout is not JSON."""
        try:
            return json.loads(self.stdout)
        except ValueError:
            return None

    def error(self) -> str:
        """One line on why it failed: the WHAT of its error, else the tail of stderr."""
        if self.timed_out:
            return f"`mci {' '.join(self.args[:2])}` did not finish within its bound and was stopped"
        doc = self.json()
        if isinstance(doc, dict) and isinstance(doc.get("error"), dict):
            err = doc["error"]
            return f"{err.get('what')}: {err.get('why')}" if err.get("why") else str(err.get("what"))
        text = (self.stderr.strip() or self.stdout.strip()).splitlines()
        return text[0].removeprefix("error: ")[:300] if text else f"exit {self.code}"


def stop(proc: subprocess.Popen[Any], grace: float = GRACE) -> None:
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=grace)


def run(
    args: tuple[str, ...] | list[str], env: Mapping[str, str], clock: Clock, *, timeout: float, cwd: str | None = None
) -> Done:
    """One `mci ...` with the rehearsal clock handed over as MCI_AT (it ticks on from there)."""
    args = tuple(args)
    full = {**env, "MCI_AT": clock.now().isoformat(), "MCI_NOTIFY": "off"}  # a rehearsal pages nobody
    started = time.monotonic()
    proc = subprocess.Popen(
        argv(*args),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=full,
        cwd=cwd,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
        code: int | None = proc.returncode
    except subprocess.TimeoutExpired:
        stop(proc)
        out, err = proc.communicate()
        code = None
    finally:
        stop(proc)  # an interrupt (Ctrl-C) while waiting must not leave it behind
    return Done(args, code, out or "", err or "", time.monotonic() - started)


@dataclass
class Live:
    """A long-running `mci ...` (the watcher): its stdout lines with their arrival time (monotonic)."""

    proc: subprocess.Popen[str]
    lines: list[tuple[float, str]] = field(default_factory=list)
    stderr: str = ""

    def __post_init__(self) -> None:
        self._cond = threading.Condition()
        self._out = threading.Thread(target=self._read, daemon=True, name="drill-watch-out")
        self._err = threading.Thread(target=self._read_err, daemon=True, name="drill-watch-err")
        self._out.start()
        self._err.start()

    @classmethod
    def start(cls, args: tuple[str, ...], env: Mapping[str, str], clock: Clock, cwd: str | None = None) -> "Live":
        full = {**env, "MCI_AT": clock.now().isoformat(), "MCI_NOTIFY": "off"}  # a rehearsal pages nobody
        proc = subprocess.Popen(
            argv(*args),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=full,
            cwd=cwd,
        )
        return cls(proc)

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._cond:
                self.lines.append((time.monotonic(), line.rstrip("\n")))
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def _read_err(self) -> None:
        assert self.proc.stderr is not None
        self.stderr = self.proc.stderr.read()

    def events(self) -> list[tuple[float, dict[str, Any]]]:
        found = []
        with self._cond:
            lines = list(self.lines)
        for at, line in lines:
            if line.startswith("{"):
                try:
                    found.append((at, json.loads(line)))
                except ValueError:
                    continue
        return found

    def wait_event(
        self, match: Callable[[dict[str, Any]], bool], timeout: float
    ) -> tuple[float, dict[str, Any]] | None:
        """The first JSON event that matches (arrival time, event), waiting up to `timeout`; None if it never came."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for at, event in self.events():
                    if match(event):
                        return at, event
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and not self._out.is_alive()):
                    return None
                self._cond.wait(min(left, 0.1))

    def finish(self, timeout: float) -> int | None:
        """Its exit code, waiting up to `timeout`; None when it is still running."""
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        self._out.join(timeout=5)
        self._err.join(timeout=5)
        return code

    def stop(self) -> None:
        stop(self.proc)
        self._out.join(timeout=5)
        self._err.join(timeout=5)
