"""What config/ cannot judge alone: a calendar's dates, the risk limits' coherence, a square-off close to the broker's.

Each is a ConfigError at the file:line of the value it is about (mci.errors), an error or a warning.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from mci.config.loader import display_name
from mci.errors import ConfigError, Location

if TYPE_CHECKING:
    from mci.config.loader import Document
    from mci.config.model import Profile


def document_errors(doc: "Document", kind: str, *, cache_dir: Path | None) -> list[ConfigError]:
    """A checklist, sequence or calendar on its own: config's checks (mci.config.validate), then a calendar's dates."""
    from mci.config.validate import check_document

    errors = check_document(doc, kind, cache_dir=cache_dir)
    if kind == "calendar" and not errors and not doc.broken:
        errors += calendar_findings(doc)[0]
    return errors


def calendar_findings(doc: "Document") -> tuple[list[ConfigError], list[ConfigError]]:
    """(errors, warnings) of a calendar document beyond its schema: dates, sessions, duplicates (mci.market.calendar)."""
    from mci.market.calendar import parse_calendar

    warnings: list[ConfigError] = []
    try:
        parse_calendar(doc, doc.path, warnings)
    except ConfigError as error:
        return [error], warnings
    return [], warnings


def square_off_warnings(profile: "Profile", doc: "Document | None") -> list[ConfigError]:
    """A watch.square_off only minutes before the broker's (mci.config.square_off; its errors refuse the build)."""
    from mci.config.square_off import square_off_findings

    if doc is None:  # from the profile cache: positioned by reading the file again, only when there is a warning
        probe = square_off_findings(profile, lambda at: None)[1]
        if not probe:
            return []
        from mci.config.loader import read_document

        doc, _ = read_document(profile.path, None)
        if doc is None:
            return probe
    return square_off_findings(profile, doc.at)[1]


# Where each limit the risk model judges is declared, to point an error at its line.
_RISK_PATHS = {
    "max_risk_per_trade": ("risk", "max_risk_per_trade"),
    "max_daily_loss": ("risk", "max_daily_loss"),
    "max_drawdown": ("risk", "max_drawdown"),
    "max_position_loss": ("risk", "max_position_loss"),
    "price_band": ("risk", "price_band"),
    "max_open_positions": ("risk", "max_open_positions"),
    "min_risk_reward": ("risk", "min_risk_reward"),
    "warn_at": ("risk", "warn_at"),
    "reduce_at": ("watch", "reduce_at"),
}


def risk_findings(profile: "Profile", doc: "Document | None") -> list[ConfigError]:
    """Limits that cannot hold together whatever the capital (a per-trade risk of 0% or above the daily loss; a
    watch.reduce_at outside [warn_at, 100%)): refused here, at file:line, rather than by every morning's scan."""
    from decimal import Decimal

    from mci.risk import RiskModel
    from mci.units import format_percent

    # Capital 1 stands for any capital: every limit here is a share of it, and a capital problem is the broker's.
    found = [(p.what, p.why, p.how) for p in RiskModel.of(profile.risk, Decimal(1)).problems() if p.level == "error"]
    reduce_at, warn_at = profile.watch.reduce_at, profile.risk.warn_at
    if reduce_at is not None and not (warn_at <= reduce_at < 1):
        found.append(
            (
                f"watch.reduce_at is {format_percent(reduce_at)}",
                f"it must lie at or above risk.warn_at ({format_percent(warn_at)}: warn first, then stop entries) "
                "and below 100% (the hard limit itself runs the emergency)",
                "set watch.reduce_at between risk.warn_at and 100%, e.g. 80% or 90%",
            )
        )
    if not found:
        return []
    if doc is None:  # from the profile cache: positioned by reading the file again
        from mci.config.loader import read_document

        doc, _ = read_document(profile.path, None)
    errors: list[ConfigError] = []
    for what, why, how in found:
        name = what.split()[0].split(".")[-1]
        at = doc.at(_RISK_PATHS.get(name, ("risk",))) if doc is not None else Location(display_name(profile.path), 1, 1)
        errors.append(ConfigError(what, why, how, at))
    return errors
