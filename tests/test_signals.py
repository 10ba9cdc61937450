"""mci.signals.StopRequest: set from a signal handler while the main thread waits on it, it never deadlocks.

The child below is the worst case for a lock-based event: its main thread does nothing but wait, so a
signal nearly always lands while it is inside wait(). With threading.Event in place of StopRequest about
half of these children hang for ever on SIGTERM (the handler's set() waits for the lock wait() holds);
`mci sim kite`, `mci watch` and the demo engine stop on the same kind of handler.
"""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time

from testing import ROOT

CHILD = """
import signal
from mci.signals import StopRequest

stop = StopRequest()
signal.signal(signal.SIGTERM, lambda *_: stop.set())
print("ready", flush=True)
while not stop.wait(0):
    pass
print("stopped", flush=True)
"""


def test_a_signal_handler_can_set_it_while_the_main_thread_waits_on_it() -> None:
    seeded = random.Random(18)
    for _ in range(12):
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT
        )
        try:
            assert child.stdout is not None and child.stdout.readline() == "ready\n"
            time.sleep(seeded.random() * 0.02)
            child.send_signal(signal.SIGTERM)
            out, err = child.communicate(timeout=30)
        finally:
            if child.poll() is None:
                child.kill()
                child.communicate()
        assert child.returncode == 0 and out == "stopped\n", err


def test_wait_answers_like_an_event() -> None:
    from mci.signals import StopRequest

    stop = StopRequest()
    started = time.monotonic()
    assert stop.wait(0.05) is False and not stop.is_set()
    assert stop.wait(-1) is False  # a deadline already past: no wait, as threading.Event
    assert time.monotonic() - started >= 0.04
    stop.set()
    assert stop.is_set() and stop.wait(5) is True and stop.wait() is True  # it stays set for every waiter
