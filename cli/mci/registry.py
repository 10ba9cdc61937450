"""The one rule for registries by `kind` (checks, steps): a kind names exactly one class."""

from __future__ import annotations

from typing import TypeVar

T = TypeVar("T", bound=type)


def add(registry: dict[str, T], cls: T) -> T:
    kind = cls.kind  # type: ignore[attr-defined]
    if kind in registry and registry[kind] is not cls:
        raise RuntimeError(f"two classes claim kind {kind!r}: {registry[kind].__name__} and {cls.__name__}")
    registry[kind] = cls
    return cls
