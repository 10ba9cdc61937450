"""A desk: the profiles `mci kill --all` and `mci status --all` act on.

Where: `--desk DIR|FILE`, else $MCI_DESK, else `$MCI_HOME/desk` (a directory) or `$MCI_HOME/desk.yaml`.

- a directory: every `*.yaml` / `*.yml` in it is a profile (sorted by file name);
- a file:

      version: 1
      kind: desk
      name: main-desk
      profiles:            # paths relative to this file
        - profiles/paper.yaml
        - profiles/kite-sim.yaml

Profile names must be unique in a desk: state (lifecycle, locks, paper accounts) is kept by name.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from mci.errors import ConfigError, UsageError

DESK_ENV = "MCI_DESK"


@dataclass(frozen=True)
class Desk:
    name: str
    source: Path
    profiles: tuple[Path, ...]


def desk_path(given: Path | None, state_dir: Path, env: Mapping[str, str] | None = None) -> Path:
    """The desk to use: --desk, else $MCI_DESK, else <state dir>/desk or <state dir>/desk.yaml."""
    env = os.environ if env is None else env
    if given is not None:
        return given.expanduser()
    if env.get(DESK_ENV):
        return Path(env[DESK_ENV]).expanduser()
    for candidate in (state_dir / "desk", state_dir / "desk.yaml"):
        if candidate.exists():
            return candidate
    raise UsageError(
        "no desk to act on",
        f"neither --desk nor ${DESK_ENV} is set, and {state_dir}/desk(.yaml) does not exist",
        f"pass --desk DIR|FILE (a directory of profiles, or a desk file listing them), or set {DESK_ENV}",
    )


def load_desk(path: Path) -> Desk:
    """The desk at `path`; ConfigError (exit 2) when it names no profile, a missing file or a name twice."""
    if path.is_dir():
        found = sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
        desk = Desk(path.name, path, tuple(found))
    elif path.is_file():
        from mci.config.loader import load_document

        doc = load_document(path)
        data = doc.data
        if data.get("kind") != "desk" or not isinstance(data.get("profiles"), list):
            raise ConfigError(
                f"{doc.name} is not a desk file",
                "a desk file has `kind: desk` and a `profiles:` list",
                "see README, `mci kill --all`",
                doc.at(("kind",)),
            )
        paths = []
        for i, item in enumerate(data["profiles"]):
            if not isinstance(item, str) or not item.strip():
                raise ConfigError(
                    f"{doc.name}: profiles[{i}] is not a path",
                    "each entry is a profile file's path",
                    "write it like `- profiles/paper.yaml` (relative to the desk file)",
                    doc.at(("profiles", i)),
                )
            p = Path(item).expanduser()
            paths.append(p if p.is_absolute() else path.parent / p)
        desk = Desk(str(data.get("name") or path.stem), path, tuple(paths))
    else:
        raise UsageError(
            f"the desk {path} does not exist",
            "a desk is a directory of profiles or a desk file",
            "pass --desk DIR|FILE, or set MCI_DESK",
        )
    if not desk.profiles:
        raise ConfigError(
            f"the desk {path} names no profile",
            "a desk kill with nothing to kill would pass silently",
            "put the profiles in the directory, or list them under `profiles:`",
        )
    missing = [str(p) for p in desk.profiles if not p.is_file()]
    if missing:
        raise ConfigError(
            f"the desk {path} names missing profile(s): {', '.join(missing)}",
            "every profile of a desk must be readable before any account is touched",
            "fix the paths (relative to the desk file)",
        )
    return desk
