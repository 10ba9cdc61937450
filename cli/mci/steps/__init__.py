"""Sequence step implementations, registered by kind. `load_all()` fills mci.steps.base.REGISTRY.

Modules load on demand so commands that run no sequence never pay for them.
"""

from __future__ import annotations

import importlib

STEP_MODULES = ("engine", "orders", "session", "report", "lifecycle")


def load_all() -> None:
    for name in STEP_MODULES:
        importlib.import_module(f"{__name__}.{name}")
