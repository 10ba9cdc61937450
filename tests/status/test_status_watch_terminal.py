"""`mci status --watch` in a real terminal against a running paper day: the six panels read off the screen.

Two terminals: a pseudo-terminal of fixed size whose output is fed to pyte (a VT100 emulator: what a real
terminal would show), and tmux (skipped where tmux is not installed; .ci/run installs it when it can).
"""

from __future__ import annotations

import fcntl
import os
import re
import select
import shutil
import signal
import struct
import subprocess
import termios
import time
import uuid

import pytest

COLS, ROWS = 140, 50
PANELS = ("Session", "Engine", "Positions", "Orders", "Risk usage", "P&L")


def assert_panels(screen: str) -> None:
    for title in PANELS:
        assert f"─ {title} " in screen, f"panel {title!r} missing:\n{screen}"
    assert "RUNNING" in screen  # session and lifecycle
    assert "HEALTHY" in screen and "NOT HEALTHY" not in screen  # engine health
    assert "NSE:" in screen  # a position (the demo engine trades the paper account)
    orders = [line for line in screen.splitlines() if "orders " in line and "· open" in line]
    assert orders and "orders 0 " not in orders[0], screen  # order activity
    for rule in ("daily_loss", "drawdown", "position_loss", "open_positions"):
        assert rule in screen  # risk usage against every limit ...
    assert len(re.findall(r"\[[#-]{12}\] +\d+%", screen)) >= 4, screen  # ... each with its bar
    assert "day P&L" in screen and "equity" in screen  # P&L
    assert "unavailable" not in screen and "Traceback" not in screen


def complete(screen: str) -> bool:
    return all(f"─ {t} " in screen for t in PANELS) and "NSE:" in screen and "HEALTHY" in screen


def test_status_watch_in_a_pty_read_with_pyte(paper_day):
    import pyte  # the `test` extra: a terminal emulator reading the screen the pty shows

    env, mci = paper_day
    env = {**env, "TERM": "xterm-256color", "COLUMNS": str(COLS), "LINES": str(ROWS)}
    env.pop("NO_COLOR", None)
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLS, 0, 0))
    proc = subprocess.Popen(
        [*mci, "status", "--watch", "--interval", "0.5"],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env,
        start_new_session=True,
    )
    os.close(slave)
    screen = pyte.Screen(COLS, ROWS)
    stream = pyte.ByteStream(screen)
    text = ""
    try:
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    stream.feed(os.read(master, 65536))
                except OSError:
                    break
            text = "\n".join(screen.display)
            if complete(text) and "orders 0 " not in text:
                break
        assert_panels(text)
        assert proc.poll() is None, "status --watch must keep running until interrupted"
        os.killpg(proc.pid, signal.SIGINT)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        os.close(master)


@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed (apt-get install tmux)")
def test_status_watch_in_tmux(paper_day, tmp_path):
    env, mci = paper_day
    env = {**env, "TERM": "xterm-256color"}
    env.pop("NO_COLOR", None)
    env.pop("TMUX", None)
    socket = str(tmp_path / "tmux.sock")
    name = f"mci-status-{uuid.uuid4().hex[:8]}"
    tmux = ["tmux", "-S", socket]
    command = " ".join([*mci, "status", "--watch", "--interval", "0.5"])
    subprocess.run(
        [*tmux, "new-session", "-d", "-s", name, "-x", str(COLS), "-y", str(ROWS), command],
        env=env,
        check=True,
        timeout=10,
    )
    try:
        screen = ""
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:
            screen = subprocess.run(
                [*tmux, "capture-pane", "-p", "-t", name], capture_output=True, text=True, env=env, timeout=10
            ).stdout
            if complete(screen) and "orders 0 " not in screen:
                break
            time.sleep(0.3)
        assert_panels(screen)
        subprocess.run([*tmux, "send-keys", "-t", name, "C-c"], env=env, timeout=10)
    finally:
        subprocess.run([*tmux, "kill-server"], env=env, capture_output=True, timeout=10)
