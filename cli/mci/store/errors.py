"""What a state database raises when it fails, named for the code above store/ that must outlive it.

The kill switch, the shutdown, the watcher and the drill's record carry on (or say so) when the state DB
is missing, truncated, not a database, locked or on a full disk. SQLite reports those as its own
exceptions; SQLite itself stays in store/ (tests/test_architecture.py), so those callers catch these
names. They are SQLite's classes, not wrappers: an `except` here catches exactly what it caught before.
"""

from __future__ import annotations

import sqlite3

# A damaged, unreadable, locked or full database (sqlite3.DatabaseError and its subclasses:
# OperationalError, IntegrityError, ProgrammingError, ...).
DatabaseError = sqlite3.DatabaseError
# Any failure SQLite raises: DatabaseError, and InterfaceError (a value the driver cannot bind).
SQLiteError = sqlite3.Error
