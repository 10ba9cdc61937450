"""Scoped latches: what a scoped kill (`mci kill --product MIS`, `--tag`, `--symbol`) leaves latched.

The account-wide latch is the lifecycle's `halted` (mci.engine.killswitch). A scoped kill does not halt
the profile (its engine keeps trading the rest of the account); it latches its scope here instead, and
`mci risk check` refuses every new entry in a latched scope until `mci reset --confirm` clears the
profile's latches. The table is created by the first scoped kill, so a state DB that never saw one
needs no migration; a reader finds no table and no latch.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from typing import TYPE_CHECKING, Any

from mci.store.state import stored_json

if TYPE_CHECKING:
    from mci.store.state import StateStore

_TABLE = """CREATE TABLE IF NOT EXISTS scope_latches (
    profile TEXT NOT NULL,
    scope TEXT NOT NULL,          -- canonical JSON of mci.flatten.scope.Selection.as_dict()
    since TEXT NOT NULL,
    reason TEXT NOT NULL,
    run_id TEXT,
    PRIMARY KEY (profile, scope)
)"""


def latch(
    store: "StateStore", profile: str, scope: dict[str, Any], now: datetime, reason: str, run_id: str | None = None
) -> None:
    """Latch `scope` for `profile` (idempotent). Call inside the caller's transaction, beside its audit record."""
    store.execute(_TABLE)
    store.execute(
        "INSERT OR IGNORE INTO scope_latches(profile, scope, since, reason, run_id) VALUES (?, ?, ?, ?, ?)",
        (profile, json.dumps(scope, sort_keys=True), now.isoformat(), reason, run_id),
    )


def latched(store: "StateStore", profile: str) -> list[dict[str, Any]]:
    """The profile's scoped latches: [{scope, since, reason, run_id}], oldest first."""
    try:
        rows = store.execute(
            "SELECT scope, since, reason, run_id FROM scope_latches WHERE profile = ? ORDER BY since", (profile,)
        )
    except sqlite3.OperationalError:  # no scoped kill ever ran here
        return []
    return [
        {"scope": stored_json(s), "since": since, "reason": reason, "run_id": run} for s, since, reason, run in rows
    ]


def clear(store: "StateStore", profile: str) -> list[dict[str, Any]]:
    """Remove every scoped latch of `profile`; returns what was latched. Call inside a transaction."""
    found = latched(store, profile)
    if found:
        store.execute("DELETE FROM scope_latches WHERE profile = ?", (profile,))
    return found


def read_only(state_dir: Any, profile: str) -> tuple[str | None, list[dict[str, Any]]]:
    """(the lifecycle state, the scoped latches) without creating anything: for `mci risk check`.

    (None, []) when there is no state DB; UnavailableError when it cannot be read."""
    from pathlib import Path

    from mci.errors import UnavailableError
    from mci.store.state import DB_NAME

    db = Path(state_dir) / DB_NAME
    if not db.exists():
        return None, []
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            row = conn.execute("SELECT state FROM lifecycle WHERE profile = ?", (profile,)).fetchone()
            try:
                rows = conn.execute(
                    "SELECT scope, since, reason, run_id FROM scope_latches WHERE profile = ?", (profile,)
                ).fetchall()
            except sqlite3.OperationalError as exc:
                if "no such table" not in str(exc):
                    raise
                rows = []
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        # Whether the kill switch is latched cannot be told: an order is never accepted on a guess.
        raise UnavailableError(
            "cannot read the kill switch's latches",
            f"the state DB {db}: SQLite says: {exc}",
            "fix the state directory (MCI_HOME); `mci status` shows what is wrong",
        ) from None
    return (row[0] if row else "idle"), [
        {"scope": stored_json(s), "since": since, "reason": reason, "run_id": run} for s, since, reason, run in rows
    ]
