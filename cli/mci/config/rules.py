"""Finding the rule file a profile's `use: scanner/twelve-point` names (mci.config.resolve applies it).

A light module of its own: the resolved-profile cache checks, on every hit,
that each `use:` still finds the same file, without loading the resolver.
"""

from __future__ import annotations

import re
from pathlib import Path

from mci.resources import rules_dir

USE_RE = re.compile(r"^[a-z0-9][a-z0-9_-]*(/[a-z0-9][a-z0-9_-]*)+$")


def rule_dirs(profile_path: Path) -> list[Path]:
    dirs = []
    beside = Path(profile_path).resolve().parent.parent / "rules"
    if beside.is_dir():
        dirs.append(beside)
    shipped = rules_dir()
    if not any(_same(shipped, d) for d in dirs):
        dirs.append(shipped)
    return dirs


def _same(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return False


def find_rule(use: str, dirs: list[Path]) -> Path | None:
    if not USE_RE.match(use):
        return None  # never a path outside rules/ (`..`, absolute): the schema reports the form
    for folder in dirs:
        for suffix in (".yaml", ".yml"):
            candidate = folder / f"{use}{suffix}"
            if candidate.is_file():
                return candidate
    return None


def available_rules(use: str, dirs: list[Path]) -> list[str]:
    group = use.rsplit("/", 1)[0] if "/" in use else ""
    names: set[str] = set()
    for folder in dirs:
        base = folder / group if group else folder
        if not base.is_dir():
            continue
        for entry in base.iterdir():
            if entry.is_file() and entry.suffix in (".yaml", ".yml"):
                names.add(f"{group}/{entry.stem}" if group else entry.stem)
            elif entry.is_dir() and not group:
                names.add(f"{entry.name}/...")
    return sorted(names)
