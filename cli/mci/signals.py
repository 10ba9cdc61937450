"""A stop request a signal handler can make: no lock taken, so no deadlock with the code it interrupts.

A Python signal handler runs in the main thread, between two bytecodes of whatever it was doing. When
that is `threading.Event.wait()`, the main thread may hold the Event's own lock at that moment, and a
handler that calls `Event.set()` waits for that lock forever: the process never stops (`mci sim kite`
once hung on SIGTERM so under load, tests/kite/test_sim_cli.py). `queue.SimpleQueue.put` is reentrant
(https://docs.python.org/3/library/queue.html#queue.SimpleQueue.put: "may be made in a signal handler
[...] without deadlocking"), so a request put there is safe from a handler and still wakes a waiter at once.
"""

from __future__ import annotations

import queue


class StopRequest:
    """Event-like (`set`, `is_set`, `wait`), and safe to `set` from a signal handler."""

    def __init__(self) -> None:
        self._requested = False
        self._wakeups: "queue.SimpleQueue[None]" = queue.SimpleQueue()

    def set(self) -> None:
        self._requested = True
        self._wakeups.put(None)

    def is_set(self) -> bool:
        return self._requested

    def wait(self, timeout: float | None = None) -> bool:
        """True once a stop is requested; False when `timeout` seconds pass first (none: a negative one, as Event)."""
        if self._requested:
            return True
        try:
            self._wakeups.get(timeout=None if timeout is None else max(timeout, 0.0))
        except queue.Empty:
            return self._requested
        self._wakeups.put(None)  # for the next waiter: a request stays made
        return True
