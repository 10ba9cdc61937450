"""Ctrl-C in the middle of the day: everything the drill started stops, the verdict is recorded as not passed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from testing.drill import AT, PAPER, ROOT, drill_records, processes_of


def test_ctrl_c_mid_day_stops_the_engine_and_the_watcher(mci_home, sandboxes):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MCI_", "KITE_"))}
    env.update({"MCI_HOME": str(mci_home), "NO_COLOR": "1", "TMPDIR": str(sandboxes)})
    proc = subprocess.Popen(
        [sys.executable, "-m", "mci", "drill", "-p", str(PAPER), "--at", AT, "--keep"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )
    seen, sandbox = [], None
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            seen.append(line)
            if "sandbox (kept): " in line:
                sandbox = line.split("sandbox (kept): ", 1)[1].strip()
            if "✓ trading" in line:  # the engine runs; the watcher is starting
                time.sleep(0.3)
                proc.send_signal(signal.SIGINT)
                break
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    text = "".join(seen) + out
    assert proc.returncode == 130, text + err
    assert "DRILL INTERRUPTED" in text and "Traceback" not in err
    assert sandbox and processes_of(sandbox) == []
    (record,) = drill_records(mci_home)
    assert record.data["passed"] is False and record.data["interrupted"] is True
