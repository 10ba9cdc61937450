"""Where the shipped schemas, rules and profiles are, installed or in a checkout."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


@lru_cache(maxsize=1)
def data_root() -> Path:
    installed = _PACKAGE / "_data"
    if installed.is_dir():
        return installed
    # A source checkout (editable install or PYTHONPATH=cli): cli/mci/ -> repo root.
    return _PACKAGE.parent.parent


def schemas_dir() -> Path:
    return data_root() / "schemas"


def rules_dir() -> Path:
    return data_root() / "rules"


def profiles_dir() -> Path:
    return data_root() / "profiles"


def default_profile() -> Path:
    return profiles_dir() / "paper.yaml"
