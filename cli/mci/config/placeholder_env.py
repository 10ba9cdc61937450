"""An environment that answers every unset variable with a placeholder.

`mci validate --placeholder-env` uses it so a CI job can check the structure of
a live profile without holding its secrets. A placeholder is a string, so a
number or amount taken from the environment is still checked only when set.
"""

from __future__ import annotations

import os
from typing import Iterator, Mapping


class PlaceholderEnv(Mapping[str, str]):
    def __init__(self, real: Mapping[str, str] | None = None):
        self._real = os.environ if real is None else real

    def __getitem__(self, name: str) -> str:
        value = self._real.get(name)
        return value if value else f"placeholder-for-{name}"

    def get(self, name: str, default: str | None = None) -> str:  # type: ignore[override]
        # A reference that declares its default (${env:NAME:-default}) gets it, as at run time: a placeholder
        # would fail a field the default satisfies (a URL, a number).
        value = self._real.get(name)
        if value:
            return value
        return default if default is not None else f"placeholder-for-{name}"

    def __iter__(self) -> Iterator[str]:
        return iter(self._real)

    def __len__(self) -> int:
        return len(self._real)
