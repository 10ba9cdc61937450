"""The check of --metrics-file, shared by typer's option (commands/common.py) and the fast scan (commands/fast.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional


def metrics_path(value: Optional[Path]) -> Optional[Path]:
    """Refused before the run starts: metrics never fail a run once it has begun, so a typo must fail here."""
    if value is not None:
        parent = Path(value).parent
        if not parent.is_dir():
            from mci.errors import UsageError

            raise UsageError(
                f"--metrics-file {value}: the folder {parent} does not exist",
                "mci writes the metrics file into an existing folder and never creates one silently",
                f"create it (mkdir -p {parent}) or fix the path",
            )
    return value
