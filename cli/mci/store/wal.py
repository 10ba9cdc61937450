"""Open a SQLite file in WAL mode when other processes may be opening it at the same instant.

`PRAGMA journal_mode = WAL` on a file not yet switched needs a lock SQLite does not wait for:
while another connection makes the same switch it answers SQLITE_BUSY ("database is locked") at
once, busy_timeout or not (measured: 12 of 240 processes opening six at a time a fresh file). Two
`mci risk check` started together on a fresh paper account failed exactly so. The switch persists in
the file, so only the first opens race: retry it, within the same patience as `busy_timeout`.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path


def connect_wal(path: Path, timeout_s: float) -> sqlite3.Connection:
    """An autocommit connection in WAL mode with a busy timeout; sqlite3.Error once `timeout_s` is spent."""
    conn = sqlite3.connect(str(path), timeout=timeout_s, isolation_level=None, check_same_thread=False)
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(timeout_s * 1000)}")
        deadline = time.monotonic() + timeout_s
        pause = 0.002
        while True:
            try:
                conn.execute("PRAGMA journal_mode = WAL")
                return conn
            except sqlite3.OperationalError as exc:
                locked = "locked" in str(exc) or "busy" in str(exc)
                if not locked or time.monotonic() + pause > deadline:
                    raise
            time.sleep(pause)
            pause = min(pause * 2, 0.05)
    except BaseException:
        conn.close()
        raise
