"""One version of one file, parsed, resolved and built: what the comparison reads.

Both sides are read with every ${env:...} unset (a placeholder, or the
reference's own default): CI holds no secrets, and the environment must not
change what a diff says. The base of a profile is resolved against the rules as
they are now, with the base's rules only where a rule no longer exists, so a
rule change shows once, against the rule file, and not again in each profile.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from mci.config.loader import Document, read_document
from mci.config.placeholder_env import PlaceholderEnv
from mci.errors import MciError

ENV = PlaceholderEnv(real={})


@dataclass
class Side:
    doc: Document
    kind: str  # profile | checklist | sequence | calendar
    model: Any  # Profile, Checklist, Sequence, or the calendar's data


def load(path: Path, cache_dir: Path | None) -> tuple[Side | None, list[MciError]]:
    from mci.config.validate import document_kind
    from mci.validation.findings import document_errors

    doc, read = read_document(path, ENV)
    errors: list[MciError] = list(read)
    if doc is None:
        return None, list(errors)
    kind, error = document_kind(doc)
    if error is not None or kind is None:
        return None, list(errors) + [error] if error else list(errors)
    if kind == "profile":
        from mci.config.resolve import resolve_profile

        profile, resolution = resolve_profile(doc, env=ENV, cache_dir=cache_dir)
        errors = list(errors) + list(resolution.errors)
        return (Side(doc, kind, profile) if profile is not None and not errors else None), errors
    errors = [*errors, *document_errors(doc, kind, cache_dir=cache_dir)]
    if errors or doc.broken:
        return None, errors
    return Side(doc, kind, _build(doc, kind)), []


def _build(doc: Document, kind: str) -> Any:
    from mci.config.build import build_checklist, build_sequence

    if kind == "checklist":
        return build_checklist(doc, doc.data)
    if kind == "sequence":
        return build_sequence(doc, doc.data)
    return doc.data


def sequences(profile: Any, cache_dir: Path | None) -> dict[str, Any]:
    """The sequence each purpose runs: the profile's own, else the default rule found beside it."""
    from mci.engine.sequence import DEFAULT_RULES, sequence_for

    out: dict[str, Any] = {}
    for purpose in DEFAULT_RULES:
        try:
            out[purpose] = sequence_for(profile, purpose, cache_dir=cache_dir)
        except MciError:
            out[purpose] = None  # no such rule on this side: compared as absent
    return out


def yaml_under(folder: Path) -> dict[str, bytes]:
    """YAML files under a folder on disk, relative path -> content (hidden folders skipped)."""
    from mci.config.validate import yaml_files

    if not folder.is_dir():
        return {}
    return {str(p.relative_to(folder).as_posix()): p.read_bytes() for p in yaml_files(folder)}


def base_profile(
    work: Path, name: str, text: bytes, base_rules: Mapping[str, bytes], new_rules: Path | None, cache_dir: Path | None
) -> tuple[Side | None, list[MciError]]:
    """The base profile in a tree of its own: profiles/NAME beside rules/ = the new rules over the base's."""
    (work / "profiles").mkdir(parents=True)
    rules = work / "rules"
    for rel, content in base_rules.items():
        target = rules / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
    if new_rules is not None and new_rules.is_dir():
        for rel, content in yaml_under(new_rules).items():
            target = rules / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
    path = work / "profiles" / name
    path.write_bytes(text)
    return load(path, cache_dir)


def base_file(work: Path, name: str, text: bytes, cache_dir: Path | None) -> tuple[Side | None, list[MciError]]:
    work.mkdir(parents=True)
    path = work / name
    path.write_bytes(text)
    return load(path, cache_dir)


def first_problem(errors: list[MciError]) -> str:
    return errors[0].what if errors else "it could not be built"
