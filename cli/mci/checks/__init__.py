"""Check implementations, registered by kind. `load_all()` fills mci.checks.base.REGISTRY.

Modules load on demand (not at `import mci.checks`) so commands that run no
checks never pay for them. Also: lenient parameter readers — the loader types
params it knows, but a check accepts the operator's notation too.
"""

from __future__ import annotations

import importlib
from datetime import timedelta
from decimal import Decimal
from typing import Any, Iterable, Mapping

from mci.errors import ConfigError

CHECK_MODULES = (
    "token",
    "broker",
    "order_path",
    "risk",
    "system",
    "breaker",
    "market",
    "command",
    "web",
    "reports",
    "files",
    "evidence",
)  # the last five: gate evidence


def load_all(kinds: Iterable[str] | None = None) -> None:
    """Import every check module, or, given `kinds`, the modules in order until every one of those kinds is
    registered (a scan runs no gate-evidence check: `mci scan` need not import subprocess, URL and report
    parsing). A module not shipped yet leaves its kinds unregistered, which the runner reports as a failed
    check — never a silent pass. Any other import error is a bug and raises."""
    from mci.checks.base import REGISTRY

    wanted = None if kinds is None else set(kinds)
    for name in CHECK_MODULES:
        if wanted is not None and wanted.issubset(REGISTRY):
            return
        full = f"{__name__}.{name}"
        try:
            importlib.import_module(full)
        except ModuleNotFoundError as exc:
            if exc.name != full:
                raise


def _bad(name: str, value: Any, reason: str) -> ConfigError:
    return ConfigError(
        f"check parameter {name} has the unusable value {value!r}",
        reason,
        f"fix `{name}` under the check's `params` (or the profile's scan override)",
    )


def money_param(params: Mapping[str, Any], name: str, default: Decimal | None = None) -> Decimal:
    from mci.units import parse_money

    value = params.get(name, default)
    if value is None:
        raise ConfigError(
            f"check parameter {name} is required",
            "the checklist gives this check no threshold, and a safety check must not guess one",
            f"set `{name}` under the check's `params` (e.g. {name}: ₹50,000)",
        )
    if isinstance(value, Decimal):
        return value
    try:
        return parse_money(value)
    except ValueError as exc:
        raise _bad(name, value, str(exc)) from None


def duration_param(params: Mapping[str, Any], name: str, default: timedelta) -> timedelta:
    from mci.units import parse_duration

    value = params.get(name, default)
    if isinstance(value, timedelta):
        return value
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise _bad(name, value, str(exc)) from None


def int_param(params: Mapping[str, Any], name: str, default: int) -> int:
    value = params.get(name, default)
    if isinstance(value, bool) or not isinstance(value, (int, Decimal, str)):
        raise _bad(name, value, "it must be a whole number")
    try:
        number = Decimal(str(value).strip())
    except ArithmeticError:
        raise _bad(name, value, "it must be a whole number") from None
    if not number.is_finite() or number != number.to_integral_value() or number < 0:
        raise _bad(name, value, "it must be a whole number, 0 or more")
    return int(number)
