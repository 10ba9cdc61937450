"""`mci risk check -` answers each line of a pipe as soon as it is judged (issue 19 made the stream faster;
a strategy that writes one order and waits for its verdict must still get it before it writes the next)."""

from __future__ import annotations

import io
import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from tests.risk.test_cli import AT, KITE_CSV, ROOT, entry

WAIT = 30  # seconds for one verdict: start-up included, under load; a verdict held back waits for ever


def reader(stream) -> queue.Queue:
    lines: queue.Queue = queue.Queue()

    def pump() -> None:
        for line in stream:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    return lines


@pytest.mark.parametrize("output", ["json", "text"])
@pytest.mark.parametrize(
    "offline",
    [
        [],
        ["--capital", "1000000", "--ltp", "NSE:INFY=1510"],
        ["--capital", "1000000", "--ltp", "NSE:INFY=1510", "--instruments"],
    ],
    ids=["paper broker", "offline account", "offline account with instruments"],
)
def test_each_verdict_arrives_while_the_pipe_stays_open(mci_home, tmp_path, offline, output):
    # Not PYTHONUNBUFFERED: a strategy's environment seldom has it, and it would hide a verdict mci holds back.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MCI_", "KITE_", "PYTHONUNBUFFERED"))}
    env.update({"MCI_HOME": str(mci_home), "NO_COLOR": "1"})
    if offline and offline[-1] == "--instruments":  # every order accepted is answered by the accept path
        (tmp_path / "nse.csv").write_text(KITE_CSV, encoding="utf-8")
        offline = [*offline, str(tmp_path / "nse.csv")]
    proc = subprocess.Popen(
        [sys.executable, "-m", "mci", "risk", "check", "-", "--at", AT, "-o", output, *offline],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )
    verdicts = reader(proc.stdout)
    try:
        for n, quantity in enumerate([10, 100000, 20, 30], start=1):
            proc.stdin.write(json.dumps(entry(quantity=quantity)) + "\n")
            proc.stdin.flush()
            line = verdicts.get(timeout=WAIT)  # the pipe is still open: nothing but a flush can deliver this
            assert line is not None, proc.stderr.read()
            label = f"BUY {quantity} NSE:INFY LIMIT @ 1510.00"
            if output == "text":
                assert line.startswith(("ACCEPTED  " + label, "REJECTED  " + label)), line
                if line.startswith("REJECTED"):  # its failures follow (WHAT, WHY, HOW each), in the same flush
                    for _ in range(int(line.split(": ")[1].split()[0])):
                        what, why, how = (verdicts.get(timeout=WAIT) for _ in range(3))
                        assert what.startswith("  [") and "WHAT:" in what and "WHY:" in why and "HOW:" in how, line
                if n == 2:
                    assert line.startswith("REJECTED")
                continue
            verdict = json.loads(line)
            assert (verdict["line"], verdict["order"]) == (n, label)
            if n == 2:
                assert verdict["accepted"] is False and "max_risk_per_trade" in {f["rule"] for f in verdict["failures"]}
            elif offline[-1:] != ["NSE:INFY=1510"]:  # without an instrument list an offline entry is rejected
                assert verdict["accepted"] is True, verdict
        proc.stdin.close()
        assert verdicts.get(timeout=WAIT) is None
        assert proc.wait(timeout=WAIT) == 1  # the second order is rejected (its risk)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


class Recorder:
    """sys.stdout for check(): what was written, and how much of it each flush delivered."""

    def __init__(self) -> None:
        self.written: list[str] = []
        self.flushes = 0
        self.delivered = threading.Event()
        self.lock = threading.Lock()
        self.flushed = 0

    def write(self, text: str) -> int:
        with self.lock:
            self.written.append(text)
        return len(text)

    def flush(self) -> None:
        with self.lock:
            self.flushes += 1
            self.flushed = len(self.written)
        self.delivered.set()


def stdin_of_a_pipe(monkeypatch):
    """A pipe made the process's stdin as CPython opens it on POSIX (lines split at "\\n"), and its write end."""
    read, write = os.pipe()
    stdin = io.TextIOWrapper(io.BufferedReader(io.FileIO(read, "r")), encoding="utf-8", newline="\n")
    monkeypatch.setattr(sys, "__stdin__", stdin)
    return stdin, os.fdopen(write, "w", encoding="utf-8")


def judge(stdin, output: str = "json") -> int:
    from mci.clock import Clock
    from mci.commands import risk as command
    from mci.config import load_profile
    from testing.risk import NOW, account

    with tempfile.TemporaryDirectory() as state:
        return command.check(load_profile(None), Clock(NOW, frozen=True), Path(state), output, stdin, account=account())


def order_line(k: int) -> str:
    from testing.risk import ORDER

    return json.dumps({**ORDER, "quantity": 1 + k % 9, "tag": f"t{k}"}) + "\n"


def test_a_piped_batch_is_flushed_once_per_read_of_the_pipe_not_once_per_verdict(monkeypatch):
    stdin, feed = stdin_of_a_pipe(monkeypatch)
    out = Recorder()
    monkeypatch.setattr(sys, "stdout", out)
    batch = "".join(order_line(k) for k in range(3000))

    def write_all() -> None:
        with feed:
            feed.write(batch)

    threading.Thread(target=write_all, daemon=True).start()
    assert judge(stdin) == 0
    verdicts = "".join(out.written).splitlines()
    assert len(verdicts) == 3000 and all(json.loads(v)["accepted"] for v in verdicts)
    reads = len(batch.encode()) // 8192 + 1  # the text layer reads the pipe 8 KiB at a time
    assert out.flushes <= reads + 2, (out.flushes, reads)  # once per read, at end of input, and at the end
    assert out.flushed == len(out.written)


@pytest.mark.parametrize("output", ["json", "text"])
def test_an_order_written_alone_has_its_verdict_flushed_before_mci_waits_for_the_next(monkeypatch, output):
    stdin, feed = stdin_of_a_pipe(monkeypatch)
    out = Recorder()
    monkeypatch.setattr(sys, "stdout", out)
    late: list[int] = []

    def client() -> None:
        with feed:
            for k in range(20):
                out.delivered.clear()
                before = len(out.written)
                feed.write(order_line(k) if k != 7 else '{"quantity": 1, "quantity": 9}\n')
                feed.flush()
                # The verdict must be delivered (flushed) while the pipe stays open and nothing more is written;
                # a flush of nothing (before the first order) does not count.
                deadline = time.monotonic() + WAIT
                while out.flushed <= before:
                    if not out.delivered.wait(max(0.0, deadline - time.monotonic())):
                        late.append(k)
                        return
                    out.delivered.clear()

    threading.Thread(target=client, daemon=True).start()
    assert judge(stdin, output) == 2  # line 8 is refused: a duplicate key
    assert late == []
    text = "".join(out.written)
    assert text.count("ACCEPTED" if output == "text" else '"accepted": true') == 19
