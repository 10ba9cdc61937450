"""`mci validate`: every YAML document under the given paths, every error reported, none raised."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

from mci.config.loader import display_name, read_document
from mci.config.validate import document_kind, yaml_files
from mci.errors import ConfigError, Location, MciError
from mci.validation.findings import calendar_findings, document_errors, risk_findings, square_off_warnings

# The resolver, the schema validator and the builders are imported where used: a profile found valid
# in the profile cache (mci.config.profile_cache) needs none of them.


@dataclass
class ValidationReport:
    documents: list[tuple[Path, str]] = field(default_factory=list)  # (file, kind) of every document checked
    errors: list[MciError] = field(default_factory=list)
    warnings: list[MciError] = field(default_factory=list)  # valid, but probably not what was meant

    @property
    def ok(self) -> bool:
        return not self.errors


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
                report.errors.append(
                    ConfigError(
                        f"{name} holds no YAML files",
                        "validate checks *.yaml and *.yml files; this folder (and its subfolders) has none",
                        "name the folder with the profiles or rules, or the files themselves",
                        Location(name, 1, 1),
                    )
                )
            for file in files:
                _validate_file(file, report, env, cache_dir)
        elif given.exists():
            _validate_file(given, report, env, cache_dir)
        else:
            report.errors.append(
                ConfigError(
                    f"{name} does not exist",
                    "there is no file or folder at that path",
                    "check the path and the current folder",
                    Location(name, 1, 1),
                )
            )
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
            report.warnings.extend(square_off_warnings(hit[0], None))
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
            report.warnings.extend(square_off_warnings(profile, doc))
    else:
        report.errors.extend(document_errors(doc, kind, cache_dir=cache_dir))
        if kind == "calendar" and not doc.broken:
            report.warnings.extend(calendar_findings(doc)[1])
        report.documents.append((path, kind))
