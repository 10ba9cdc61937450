"""A document checked on config's own terms: its kind, its schema, its ids and needs, its units.

What needs the packages built on the typed model (a calendar's dates, the risk limits' coherence) and
the walk over every file `mci validate` is given are mci.validation's, above this package.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from mci.errors import ConfigError

if TYPE_CHECKING:
    from mci.config.loader import Document

# The resolver, the schema validator and the builders are imported where used: a profile found valid
# in the profile cache (mci.config.profile_cache) needs none of them.

KINDS = ("profile", "checklist", "sequence", "calendar")


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
    """A checklist or sequence on its own: schema, ids and needs, units (no profile: breakers unchecked); a
    calendar: its schema (its dates and sessions: mci.validation.findings.document_errors)."""
    from mci.config.build import build_checklist, build_sequence
    from mci.config.resolve import ITEMS, document_semantics
    from mci.config.schema import validate_document

    errors = validate_document(doc, kind, cache_dir=cache_dir)
    if kind in ITEMS:
        errors += document_semantics(doc, doc.data, kind, None)
        if not errors and not doc.broken:
            try:
                (build_checklist if kind == "checklist" else build_sequence)(doc, doc.data)
            except ConfigError as error:
                errors.append(error)
    return errors
