"""Parameter readers and context helpers shared by the gate checks (command, http, reports, files, evidence).

The schema already types what a checklist declares; these readers still refuse
a wrong value with a ConfigError, because a check may be fed params from a
profile override or from Python, and a safety check must not guess.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Mapping

from mci.checks.base import CheckContext
from mci.errors import ConfigError

if TYPE_CHECKING:
    from mci.approvals import ApprovalBook

# Environment variables a child process does not inherit unless a check names them in `pass_env`.
SECRET_NAME_RE = re.compile(r"SECRET|TOKEN|PASSW|API_KEY|PRIVATE|CREDENTIAL|AUTH", re.IGNORECASE)


@dataclass
class GateContext(CheckContext):
    """A CheckContext that knows which gate runs, where relative paths start, and where approvals are kept."""

    gate: str | None = None
    cwd: Path | None = None
    approvals: "ApprovalBook | None" = field(default=None, repr=False)


def base_dir(ctx: CheckContext) -> Path:
    return getattr(ctx, "cwd", None) or Path.cwd()


def _bad(name: str, value: Any, reason: str) -> ConfigError:
    shown = value if not isinstance(value, str) or len(value) < 80 else value[:77] + "..."
    return ConfigError(
        f"check parameter {name} has the unusable value {shown!r}",
        reason,
        f"fix `{name}` under the check's `params` (or the profile's gate override)",
    )


def required(params: Mapping[str, Any], name: str, example: str) -> Any:
    value = params.get(name)
    if value is None:
        raise ConfigError(
            f"check parameter {name} is required",
            "the gate gives this check no value for it, and a gate must not guess one",
            f"set `{name}` under the check's `params` (e.g. {name}: {example})",
        )
    return value


def text(params: Mapping[str, Any], name: str, default: str | None = None, *, example: str = "...") -> str:
    value = params.get(name, default)
    if value is None:
        value = required(params, name, example)
    if not isinstance(value, str) or not value.strip():
        raise _bad(name, value, "it must be non-empty text")
    return value


def texts(params: Mapping[str, Any], name: str) -> list[str]:
    value = params.get(name)
    if value is None:
        return []
    if isinstance(value, str) or not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise _bad(name, value, "it must be a list of text items")
    return list(value)


def flag(params: Mapping[str, Any], name: str, default: bool) -> bool:
    value = params.get(name, default)
    if not isinstance(value, bool):
        raise _bad(name, value, "it must be true or false")
    return value


def whole(params: Mapping[str, Any], name: str, default: int, *, minimum: int = 0) -> int:
    value = params.get(name, default)
    if isinstance(value, bool) or not isinstance(value, (int, Decimal)) or value != int(value) or value < minimum:
        raise _bad(name, value, f"it must be a whole number, {minimum} or more")
    return int(value)


def whole_set(params: Mapping[str, Any], name: str, default: int) -> set[int]:
    value = params.get(name, default)
    items = value if isinstance(value, (list, tuple)) else [value]
    if not items or any(isinstance(v, bool) or not isinstance(v, (int, Decimal)) or v != int(v) for v in items):
        raise _bad(name, value, "it must be a whole number or a list of them")
    return {int(v) for v in items}


def number(params: Mapping[str, Any], name: str) -> Decimal:
    value = required(params, name, "1000")
    if isinstance(value, bool) or not isinstance(value, (int, Decimal, float)):
        raise _bad(name, value, "it must be a number")
    return Decimal(str(value))


def percent(params: Mapping[str, Any], name: str, default: Any = None) -> Decimal:
    from mci.units import parse_percent

    value = params.get(name, default)
    if value is None:
        value = required(params, name, "75%")
    try:
        fraction = parse_percent(value)
    except ValueError as exc:
        raise _bad(name, value, str(exc)) from None
    if fraction > 1:
        raise _bad(name, value, "a rate cannot be over 100%")
    return fraction


def duration(params: Mapping[str, Any], name: str, default: timedelta | None) -> timedelta | None:
    from mci.units import parse_duration

    value = params.get(name, default)
    if value is None or isinstance(value, timedelta):
        return value
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise _bad(name, value, str(exc)) from None


def mapping(params: Mapping[str, Any], name: str) -> dict[str, Any]:
    value = params.get(name)
    if value is None:
        return {}
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise _bad(name, value, "it must be a mapping of names to values")
    return dict(value)


def file_path(
    ctx: CheckContext,
    params: Mapping[str, Any],
    name: str,
    default: str | None = None,
    *,
    example: str = "reports/result.json",
) -> Path:
    """A path param; relative paths start at the directory `mci gate run` was started in (CI: the checkout)."""
    raw = Path(text(params, name, default, example=example)).expanduser()
    return raw if raw.is_absolute() else base_dir(ctx) / raw


def shown(path: Path, ctx: CheckContext) -> str:
    try:
        return str(path.relative_to(base_dir(ctx)))
    except ValueError:
        return str(path)


def secrets(ctx: CheckContext, extra: Iterable[str | None] = ()) -> list[str]:
    """Values never to print: the profile's broker secret, secret-named environment variables, given values."""
    found = [getattr(getattr(ctx.profile, "broker", None), "api_secret", None)]
    found += [value for name, value in os.environ.items() if SECRET_NAME_RE.search(name) and len(value) >= 4]
    found += list(extra)
    return [s for s in found if s]


def age_of(path: Path, now: datetime) -> timedelta:
    modified = datetime.fromtimestamp(path.stat().st_mtime, tz=timezone.utc)
    return now - modified


def tail(data: str, lines: int = 12, chars: int = 1500) -> str:
    kept = "\n".join(data.rstrip().splitlines()[-lines:])
    return kept if len(kept) <= chars else "…" + kept[-chars:]


def staleness(ctx: CheckContext, path: Path, max_age: timedelta | None) -> str | None:
    """Why the file is too old to be evidence, or None. A report from last week's run proves nothing about this one."""
    if max_age is None:
        return None
    age = age_of(path, ctx.clock.now())
    if age > max_age:
        return f"{shown(path, ctx)} was written {human(age)} ago, more than max_age {human(max_age)}"
    return None


def human(delta: timedelta) -> str:
    """A duration as an operator reads it: 45s, 3h20m, 8d2h (negative: "in the future")."""
    from mci.units import format_duration

    if delta < timedelta(0):
        return f"-{human(-delta)}"
    whole = timedelta(seconds=int(delta.total_seconds()))
    if whole.days >= 1:
        hours = whole.seconds // 3600
        return f"{whole.days}d{hours}h" if hours else f"{whole.days}d"
    return format_duration(whole if whole else delta)


def pct(fraction: Decimal) -> str:
    return f"{(fraction * 100).quantize(Decimal('0.01'))}%"
