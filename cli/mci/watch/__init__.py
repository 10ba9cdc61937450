"""`mci watch` as a library: the intraday risk guard.

    from mci.watch import Watcher
    report = Watcher(profile, clock, state_dir, on_event=print).run()
    report.status, report.exit_code          # tripped / squared_off / stopped / halted

The clock is injected; `wait` and `beat_clock` too, for tests. A signal
handler calls `watcher.request_stop()`: the current poll finishes, then it stops.
"""

from mci.watch.events import WatchEvent, WatchReport
from mci.watch.watcher import Watcher, lock_name

__all__ = ["WatchEvent", "WatchReport", "Watcher", "lock_name"]
