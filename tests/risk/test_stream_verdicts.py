"""`mci risk check -` answers each line of a pipe as soon as it is judged (issue 19 made the stream faster;
a strategy that writes one order and waits for its verdict must still get it before it writes the next)."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading

import pytest

from tests.risk.test_cli import AT, ROOT, entry

WAIT = 30  # seconds for one verdict: start-up included, under load; a verdict held back waits for ever


def reader(stream) -> queue.Queue:
    lines: queue.Queue = queue.Queue()

    def pump() -> None:
        for line in stream:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    return lines


@pytest.mark.parametrize("offline", [[], ["--capital", "1000000", "--ltp", "NSE:INFY=1510"]],
                         ids=["paper broker", "offline account"])
def test_each_verdict_arrives_while_the_pipe_stays_open(mci_home, offline):
    # Not PYTHONUNBUFFERED: a strategy's environment seldom has it, and it would hide a verdict mci holds back.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MCI_", "KITE_", "PYTHONUNBUFFERED"))}
    env.update({"MCI_HOME": str(mci_home), "NO_COLOR": "1"})
    proc = subprocess.Popen([sys.executable, "-m", "mci", "risk", "check", "-", "--at", AT, "-o", "json", *offline],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env, cwd=ROOT)
    verdicts = reader(proc.stdout)
    try:
        for n, quantity in enumerate([10, 100000, 20], start=1):
            proc.stdin.write(json.dumps(entry(quantity=quantity)) + "\n")
            proc.stdin.flush()
            line = verdicts.get(timeout=WAIT)  # the pipe is still open: nothing but a flush can deliver this
            assert line is not None, proc.stderr.read()
            verdict = json.loads(line)
            assert (verdict["line"], verdict["order"]) == (n, f"BUY {quantity} NSE:INFY LIMIT @ 1510.00")
            if n == 2:
                assert verdict["accepted"] is False and "max_risk_per_trade" in {f["rule"] for f in verdict["failures"]}
        proc.stdin.close()
        assert verdicts.get(timeout=WAIT) is None
        assert proc.wait(timeout=WAIT) == 1  # the second order is rejected (its risk)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
