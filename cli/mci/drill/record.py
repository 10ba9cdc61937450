"""The drill's record in the operator's own state database: what the `drill` gate reads.

One audit record of kind "drill" per run (hash-chained like every other), in
the state directory of the environment that invoked `mci drill`, never the
sandbox's: the sandbox is thrown away, the evidence must stay.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mci import __version__
from mci.clock import Clock
from mci.drill.model import DrillReport
from mci.errors import MciError, UnavailableError

KIND = "drill"


def record(report: DrillReport, state_dir: Path) -> dict[str, Any]:
    """{"state_dir", "seq"} of the record written; raises UnavailableError when it cannot be written."""
    from mci.store.errors import SQLiteError
    from mci.store.state import StateStore

    try:
        store = StateStore.open(state_dir)
        try:
            written = store.append_audit(KIND, report.record(__version__), Clock().now(), profile=report.profile)
        finally:
            store.close()
    except (MciError, SQLiteError, OSError) as exc:
        why = exc.what if isinstance(exc, MciError) else str(exc)
        raise UnavailableError(
            f"the drill could not be recorded in {state_dir}",
            why,
            "fix the state directory (MCI_HOME), then run the drill again: "
            "the `drill` gate only counts recorded drills",
        ) from None
    return {"state_dir": str(state_dir), "seq": written.seq}
