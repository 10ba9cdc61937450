"""The state directory: MCI_HOME, else $XDG_STATE_HOME/mci, else ~/.local/state/mci."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping

from mci.errors import UnavailableError


def state_dir(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    if env.get("MCI_HOME"):
        root = Path(env["MCI_HOME"]).expanduser()
    elif env.get("XDG_STATE_HOME"):
        root = Path(env["XDG_STATE_HOME"]).expanduser() / "mci"
    else:
        root = Path.home() / ".local" / "state" / "mci"
    try:
        root.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise UnavailableError(
            f"cannot create the state directory {root}",
            f"{exc.strerror or exc}",
            "set MCI_HOME to a writable directory, or fix the permissions of the one above",
        ) from None
    return root
