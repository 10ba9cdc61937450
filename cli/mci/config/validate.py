"""`mci validate`: every YAML document under the given paths, every error reported, none raised."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Mapping

from mci.config.loader import display_name, read_document
from mci.errors import ConfigError, Location, MciError

if TYPE_CHECKING:
    from mci.config.loader import Document
    from mci.config.model import Profile

# The resolver, the schema validator and the builders are imported where used: a profile found valid
# in the profile cache (mci.config.profile_cache) needs none of them.

KINDS = ("profile", "checklist", "sequence", "calendar")


@dataclass
class ValidationReport:
    documents: list[tuple[Path, str]] = field(default_factory=list)  # (file, kind) of every document checked
    errors: list[MciError] = field(default_factory=list)
    warnings: list[MciError] = field(default_factory=list)  # valid, but probably not what was meant

    @property
    def ok(self) -> bool:
        return not self.errors


def yaml_files(folder: Path) -> list[Path]:
    """*.yaml / *.yml under `folder`, skipping hidden folders (.git, .venv)."""
    found = []
    for path in folder.rglob("*"):
        relative = path.relative_to(folder)
        if any(part.startswith(".") for part in relative.parts):
            continue
        if path.suffix in (".yaml", ".yml") and path.is_file():
            found.append(path)
    return sorted(found)


def document_kind(doc: Document) -> tuple[str | None, ConfigError | None]:
    kind = doc.data.get("kind", "profile")
    if kind in KINDS:
        return kind, None
    return None, ConfigError(
        f"unknown document kind {kind!r}",
        f"a document is one of: {', '.join(KINDS)} (no kind: means profile)",
        "fix `kind:`",
        doc.at(("kind",)) if "kind" in doc.data else doc.at(()),
    )


def check_document(doc: Document, kind: str, *, cache_dir: Path | None) -> list[ConfigError]:
    """A checklist or sequence on its own: schema, ids and needs, units (no profile: breakers unchecked)."""
    from mci.config.build import build_checklist, build_sequence
    from mci.config.resolve import ITEMS, document_semantics
    from mci.config.schema import validate_document

    errors = validate_document(doc, kind, cache_dir=cache_dir)
    if kind == "calendar" and not errors and not doc.broken:
        errors += calendar_findings(doc)[0]
    if kind in ITEMS:
        errors += document_semantics(doc, doc.data, kind, None)
        if not errors and not doc.broken:
            try:
                (build_checklist if kind == "checklist" else build_sequence)(doc, doc.data)
            except ConfigError as error:
                errors.append(error)
    return errors


def calendar_findings(doc: Document) -> tuple[list[ConfigError], list[ConfigError]]:
    """(errors, warnings) of a calendar document beyond its schema: dates, sessions, duplicates (mci.market.calendar)."""
    from mci.market.calendar import parse_calendar

    warnings: list[ConfigError] = []
    try:
        parse_calendar(doc, doc.path, warnings)
    except ConfigError as error:
        return [error], warnings
    return [], warnings


def validate_paths(
    paths: list[Path],
    *,
    env: Mapping[str, str] | None = None,
    cache_dir: Path | None = None,
) -> ValidationReport:
    report = ValidationReport()
    for given in paths:
        given = Path(given)
        name = display_name(given)
        if given.is_dir():
            files = yaml_files(given)
            if not files:
                report.errors.append(ConfigError(
                    f"{name} holds no YAML files",
                    "validate checks *.yaml and *.yml files; this folder (and its subfolders) has none",
                    "name the folder with the profiles or rules, or the files themselves",
                    Location(name, 1, 1),
                ))
            for file in files:
                _validate_file(file, report, env, cache_dir)
        elif given.exists():
            _validate_file(given, report, env, cache_dir)
        else:
            report.errors.append(ConfigError(
                f"{name} does not exist",
                "there is no file or folder at that path",
                "check the path and the current folder",
                Location(name, 1, 1),
            ))
    seen: set[tuple[Path, str]] = set()
    documents = []
    for path, kind in report.documents:
        key = (path.resolve(), kind)
        if key not in seen:
            seen.add(key)
            documents.append((path, kind))
    report.documents = documents
    for name in ("errors", "warnings"):
        unique: dict[tuple[str, str], MciError] = {}
        for error in getattr(report, name):
            unique.setdefault((str(error.location), error.what), error)
        setattr(report, name, sorted(unique.values(), key=_position))
    return report


def _position(error: MciError) -> tuple[str, int, int]:
    where = error.location
    return (where.file, where.line, where.column) if where else ("", 0, 0)


def _validate_file(path: Path, report: ValidationReport, env: Mapping[str, str] | None, cache_dir: Path | None) -> None:
    slot = None
    if cache_dir is not None:
        from mci.config.profile_cache import Slot

        # A profile that loaded cleanly with these very inputs is valid: its documents are all there is to report.
        slot = Slot(path, env, cache_dir)
        hit = slot.get()
        if hit is not None:
            report.documents.extend(hit[1])
            report.errors.extend(risk_findings(hit[0], None))
            report.warnings.extend(_profile_warnings(hit[0], None))
            return
        env = slot.env
    doc, errors = read_document(path, env)
    report.errors.extend(errors)
    if doc is None:
        report.documents.append((path, "unreadable"))
        return
    kind, error = document_kind(doc)
    if error is not None:
        report.errors.append(error)
        report.documents.append((path, "unknown"))
        return
    assert kind is not None
    if kind == "profile":
        from mci.config.resolve import resolve_profile

        profile, resolution = resolve_profile(doc, env=env, cache_dir=cache_dir)
        report.errors.extend(resolution.errors)
        report.documents.extend(resolution.documents)
        if slot is not None and profile is not None and not errors and not resolution.errors:
            slot.put(profile, resolution.documents)
        if profile is not None:
            report.errors.extend(risk_findings(profile, doc))
            report.warnings.extend(_profile_warnings(profile, doc))
    else:
        report.errors.extend(check_document(doc, kind, cache_dir=cache_dir))
        if kind == "calendar" and not doc.broken:
            report.warnings.extend(calendar_findings(doc)[1])
        report.documents.append((path, kind))


def _profile_warnings(profile, doc: Document | None) -> list[ConfigError]:
    from mci.market.cutoffs import square_off_findings

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
_RISK_PATHS = {"max_risk_per_trade": ("risk", "max_risk_per_trade"), "max_daily_loss": ("risk", "max_daily_loss"),
               "max_drawdown": ("risk", "max_drawdown"), "max_position_loss": ("risk", "max_position_loss"),
               "price_band": ("risk", "price_band"), "max_open_positions": ("risk", "max_open_positions"),
               "min_risk_reward": ("risk", "min_risk_reward"), "warn_at": ("risk", "warn_at"),
               "reduce_at": ("watch", "reduce_at")}


def risk_findings(profile: "Profile", doc: Document | None) -> list[ConfigError]:
    """Limits that cannot hold together whatever the capital (a per-trade risk of 0% or above the daily loss; a
    watch.reduce_at outside [warn_at, 100%)): refused here, at file:line, rather than by every morning's scan."""
    from decimal import Decimal

    from mci.config.units import format_percent
    from mci.risk import RiskModel

    # Capital 1 stands for any capital: every limit here is a share of it, and a capital problem is the broker's.
    found = [(p.what, p.why, p.how) for p in RiskModel.of(profile.risk, Decimal(1)).problems() if p.level == "error"]
    reduce_at, warn_at = profile.watch.reduce_at, profile.risk.warn_at
    if reduce_at is not None and not (warn_at <= reduce_at < 1):
        found.append((f"watch.reduce_at is {format_percent(reduce_at)}",
                      f"it must lie at or above risk.warn_at ({format_percent(warn_at)}: warn first, then stop entries) "
                      "and below 100% (the hard limit itself runs the emergency)",
                      "set watch.reduce_at between risk.warn_at and 100%, e.g. 80% or 90%"))
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
