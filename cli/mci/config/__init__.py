"""Profiles, checklists and sequences: YAML with positions -> validated -> the typed model.

    profile = load_profile(Path("profiles/paper.yaml"))  # raises ConfigErrors with every error

(`mci validate`, which also judges what config cannot alone, is mci.validation, above this package.)

Each error is a ConfigError (WHAT / WHY / HOW) with the file:line:column of
the offending value. jsonschema is imported only on a validation-cache miss.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

if TYPE_CHECKING:
    from mci.config.loader import Document, load_document, read_document as read_document
    from mci.config.model import Checklist, Profile, Sequence
    from mci.config.schema import default_cache_dir
    from mci.errors import ConfigError, ConfigErrors  # noqa: F401

__all__ = [
    "Document",
    "load_checklist",
    "load_document",
    "load_profile",
    "load_sequence",
    "default_cache_dir",
]

# Loaded on first use, not with the package: a cached profile needs none of the YAML loader, resolver or validator.
_EXPORTS = {
    "Document": "mci.config.loader",
    "load_document": "mci.config.loader",
    "read_document": "mci.config.loader",
    "Checklist": "mci.config.model",
    "Profile": "mci.config.model",
    "Sequence": "mci.config.model",
    "default_cache_dir": "mci.config.schema",
    "ConfigError": "mci.errors",
    "ConfigErrors": "mci.errors",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def load_profile(
    path: Path | None = None,
    *,
    env: Mapping[str, str] | None = None,
    cache_dir: Path | None = None,
) -> Profile:
    """The profile at `path` (default: the shipped paper profile) with its rules resolved.

    `env` defaults to os.environ; `cache_dir` (`<state_dir>/cache`, see default_cache_dir) enables the
    validation cache and the resolved-profile cache (mci.config.profile_cache).
    """
    from mci.resources import default_profile

    path = Path(path) if path is not None else default_profile()
    if cache_dir is None:
        return _load_profile(path, env, None)[0]
    from mci.config.profile_cache import Slot

    slot = Slot(path, env, cache_dir)
    hit = slot.get()
    if hit is not None:
        return hit[0]
    profile, documents = _load_profile(path, slot.env, cache_dir)
    slot.put(profile, documents)
    return profile


def _load_profile(
    path: Path, env: Mapping[str, str] | None, cache_dir: Path | None
) -> tuple[Profile, list[tuple[Path, str]]]:
    from mci.config.loader import read_document
    from mci.config.resolve import resolve_profile
    from mci.errors import ConfigErrors

    doc, errors = read_document(path, env)
    if doc is None:
        raise ConfigErrors(list(errors))
    if doc.data.get("kind", "profile") != "profile":
        errors.append(_not_a(doc, "profile"))
        raise ConfigErrors(list(errors))
    profile, resolution = resolve_profile(doc, env=env, cache_dir=cache_dir)
    all_errors = list(errors) + resolution.errors
    if all_errors or profile is None:
        raise ConfigErrors(all_errors or [_not_a(doc, "profile")])
    return profile, resolution.documents


def load_checklist(path: Path, *, env: Mapping[str, str] | None = None, cache_dir: Path | None = None) -> Checklist:
    """A checklist file on its own (breaker names are not checked: no profile declares them)."""
    from mci.config.build import build_checklist

    return build_checklist(*_load_standalone(path, "checklist", env, cache_dir))


def load_sequence(path: Path, *, env: Mapping[str, str] | None = None, cache_dir: Path | None = None) -> Sequence:
    from mci.config.build import build_sequence

    return build_sequence(*_load_standalone(path, "sequence", env, cache_dir))


def _load_standalone(
    path: Path, kind: str, env: Mapping[str, str] | None, cache_dir: Path | None
) -> tuple[Document, dict[str, Any]]:
    from mci.config.loader import read_document
    from mci.config.validate import check_document
    from mci.errors import ConfigErrors

    doc, errors = read_document(Path(path), env)
    if doc is None:
        raise ConfigErrors(list(errors))
    if doc.data.get("kind") != kind:
        raise ConfigErrors(list(errors) + [_not_a(doc, kind)])
    errors += check_document(doc, kind, cache_dir=cache_dir)
    if errors:
        raise ConfigErrors(list(errors))
    return doc, doc.data


def _not_a(doc: Document, kind: str) -> ConfigError:
    from mci.errors import ConfigError

    return ConfigError(
        f"{doc.name} is not a {kind}",
        f"its kind is {doc.data.get('kind', 'profile')!r}",
        f"name a {kind} file here",
        doc.at(("kind",)),
    )
