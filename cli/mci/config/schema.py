"""JSON Schema validation of loaded documents, positioned errors, and the validation cache.

jsonschema costs ~55 ms to import, more than the rest of `mci validate`; it is
imported only on a cache miss. A success is remembered as an empty file named
by sha256(schema bytes, this module, the instance, mci version): a changed
schema, validator, document or release can never hit an old entry.

Custom keywords (editors ignore unknown `x-` keywords; this validator enforces them):
- `x-ceiling` / `x-floor`: a bound in the operator's notation ("5%", "1h",
  "₹1,00,000"); the value is read in the same unit as the bound.
- `x-one-of-keys`: exactly one of the listed keys is present.
"""

from __future__ import annotations

import hashlib
import json
import re
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable

from mci import units
from mci.config.loader import Document, JsonPath
from mci.errors import ConfigError
from mci.resources import schemas_dir

SCHEMA_FILES = {
    "profile": "profile.schema.json",
    "checklist": "checklist.schema.json",
    "sequence": "sequence.schema.json",
    "calendar": "calendar.schema.json",
}


def schema_path(kind: str) -> Path:
    return schemas_dir() / SCHEMA_FILES[kind]


def default_cache_dir(state_dir: Path) -> Path:
    """The `cache_dir` to pass for a state directory; validation markers go in its schema/ folder."""
    return state_dir / "cache"


@lru_cache(maxsize=8)
def _schema_bytes(path: Path) -> bytes:
    return path.read_bytes()


@lru_cache(maxsize=1)
def _own_source() -> bytes:
    return Path(__file__).read_bytes()


def canonical_json(value: Any) -> str:
    """Sorted keys; a Decimal is written as a JSON number in its exact text.

    Never as a JSON string: `2.0` and `"2.0"` must not share a cache entry,
    since the schema accepts one and refuses the other.
    """
    if isinstance(value, dict):
        items = sorted(value.items())
        return "{" + ",".join(json.dumps(str(k)) + ":" + canonical_json(v) for k, v in items) + "}"
    if isinstance(value, list):
        return "[" + ",".join(canonical_json(v) for v in value) + "]"
    if isinstance(value, Decimal):
        return str(value)
    return json.dumps(value)


def cache_key(schema_bytes: bytes, instance: Any) -> str:
    from mci import __version__

    digest = hashlib.sha256()
    for part in (schema_bytes, _own_source(), canonical_json(instance).encode("utf-8"), __version__.encode()):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def validate_document(
    doc: Document, kind: str, *, cache_dir: Path | None = None, data: Any = None
) -> list[ConfigError]:
    """Schema errors of `doc` (or of `data` positioned by `doc`) against the `kind` schema, sorted by position.

    A schema that is not installed (calendar, before it exists) validates nothing.
    """
    path = schema_path(kind)
    try:
        schema_bytes = _schema_bytes(path)
    except OSError:
        return []
    instance = doc.redacted() if data is None else data
    key = cache_key(schema_bytes, instance)
    marker = cache_dir / "schema" / key if cache_dir is not None else None
    if marker is not None and marker.exists():
        return []
    errors = [e for e in _schema_errors(path, instance, doc)]
    if not errors and marker is not None:
        try:
            marker.parent.mkdir(parents=True, exist_ok=True)
            marker.touch()
        except OSError:
            pass  # the cache only saves time; an unwritable state dir is not an error
    errors.sort(key=lambda e: (e.location.line, e.location.column) if e.location else (0, 0))
    return errors


@lru_cache(maxsize=8)
def _validator(path: Path) -> Any:
    schema = json.loads(_schema_bytes(path).decode("utf-8"))
    return _validator_class()(schema)


@lru_cache(maxsize=1)
def _validator_class() -> Any:
    from jsonschema import Draft202012Validator, validators
    from jsonschema.exceptions import ValidationError

    def ceiling(validator: Any, limit: Any, instance: Any, schema: Any) -> Iterable[Any]:
        value, bound = _measure(instance, limit), _measure(limit, limit)
        if value is not None and bound is not None and value > bound:
            yield ValidationError(f"{_show(instance)} is over the safety ceiling of {limit}")

    def floor(validator: Any, limit: Any, instance: Any, schema: Any) -> Iterable[Any]:
        value, bound = _measure(instance, limit), _measure(limit, limit)
        if value is not None and bound is not None and value < bound:
            yield ValidationError(f"{_show(instance)} is under the safety floor of {limit}")

    def one_of_keys(validator: Any, keys: list[str], instance: Any, schema: Any) -> Iterable[Any]:
        if isinstance(instance, dict):
            present = [k for k in keys if k in instance]
            if len(present) != 1:
                found = f"found {', '.join(present)}" if present else "found none"
                yield ValidationError(f"needs exactly one of {', '.join(keys)}; {found}")

    return validators.extend(
        Draft202012Validator, {"x-ceiling": ceiling, "x-floor": floor, "x-one-of-keys": one_of_keys}
    )


def _measure(value: Any, like: Any) -> Any:
    """`value` in the unit `like` is written in (5% -> a fraction, 1h -> a duration), or None if unreadable."""
    try:
        if isinstance(like, str) and like.strip().endswith("%"):
            return units.parse_percent(value)
        if isinstance(like, str) and units.DURATION_RE.match(like):
            return units.parse_duration(value)
        return units.parse_money(value)
    except ValueError:
        return None


def _show(value: Any) -> str:
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, (dict, list)):
        return "a mapping" if isinstance(value, dict) else "a list"
    return str(value)


_TYPE_NAMES = {
    "object": "a mapping",
    "array": "a list",
    "string": "text",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
    "null": "null",
}


def _type_of(value: Any) -> str:
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, int):
        return "a whole number"
    if isinstance(value, Decimal):
        return "a number"
    if isinstance(value, str):
        return "text"
    if value is None:
        return "null (empty)"
    return "a mapping" if isinstance(value, dict) else "a list"


def dotted(path: JsonPath) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "the document"


def _schema_errors(path: Path, instance: Any, doc: Document) -> list[ConfigError]:
    errors: list[ConfigError] = []
    validator = _validator(path)
    for error in validator.iter_errors(instance):
        errors.extend(_translate(error, doc, _property_schema(validator.schema, error)))
    unique: dict[tuple[str, str], ConfigError] = {}
    for error in errors:
        unique.setdefault((str(error.location), error.what), error)
    return list(unique.values())


def _property_schema(root: Any, error: Any) -> dict[str, Any]:
    """The schema that describes the failing value where it was used: its description names the field.

    For a `$ref` to a unit ($defs/percent) that is the property holding the
    `$ref` ("Max daily loss ... ceiling 20%"), not the shared unit definition.
    """
    node, found = root, root
    for part in list(error.absolute_schema_path)[:-1]:
        if part == "$ref":
            break
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            break
        if isinstance(node, dict) and "description" in node:
            found = node
    return found if isinstance(found, dict) else {}


def _translate(error: Any, doc: Document, owner: dict[str, Any]) -> list[ConfigError]:
    path = tuple(error.absolute_path)
    if doc.is_broken(path):
        return []  # the loader already reported what is wrong here
    schema = error.schema if isinstance(error.schema, dict) else {}
    keyword = error.validator
    where = dotted(path)
    about = owner.get("description") or schema.get("description") or ""
    if schema is not owner and schema.get("description") and keyword in ("anyOf", "oneOf", "pattern"):
        about = f"{about} {schema['description']}".strip()
    value = error.instance
    location = doc.at(path)

    if keyword == "additionalProperties" and isinstance(value, dict):
        allowed = list(schema.get("properties", {}))
        patterns = list(schema.get("patternProperties", {}))
        out = []
        for key in value:
            if key in allowed or any(re.search(p, key) for p in patterns):
                continue
            if doc.is_broken(path + (key,)):
                continue
            import difflib

            close = difflib.get_close_matches(key, allowed, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            if key.isdigit():
                # `{min_available: ₹50,000}`: in a {...} mapping the comma ends the value.
                hint = (
                    "inside {...} a comma separates entries: quote the amount ('₹50,000') or write it on its own line; "
                )
            known = f"allowed here: {', '.join(allowed)}" if allowed else f"keys here must match {', '.join(patterns)}"
            out.append(
                ConfigError(
                    f"unknown key {key!r} in {where}",
                    f"{known}; an unknown key is refused rather than ignored, a misspelt limit would silently not apply",
                    f"{hint}fix or remove {key!r}",
                    doc.key_at(path + (key,)),
                )
            )
        return out
    if keyword == "required":
        missing = [k for k in error.validator_value if isinstance(value, dict) and k not in value]
        described = schema.get("properties", {})
        return [
            ConfigError(
                f"{where} is missing {k!r}",
                f"{k!r} is required here"
                + (f": {described[k]['description']}" if described.get(k, {}).get("description") else ""),
                f"add {k}: under {where}" if path else f"add {k}: at the top level",
                location,
            )
            for k in missing
        ]
    if keyword == "type":
        expected = error.validator_value
        types: list[str] = expected if isinstance(expected, list) else [expected]  # the schema's type names
        names = " or ".join(_TYPE_NAMES.get(t, t) for t in types)
        what = f"{where} must be {names}, not {_type_of(value)}"
    elif keyword in ("enum", "const"):
        options = error.validator_value if keyword == "enum" else [error.validator_value]
        what = f"{where} is {_show(value)}; allowed: {', '.join(_show(o) for o in options)}"
    elif keyword in ("anyOf", "oneOf", "pattern"):
        what = f"{where} is {_show(value)}, not a valid {schema.get('title', 'value').lower()}"
    elif keyword in ("x-ceiling", "x-floor", "x-one-of-keys"):
        what = f"{where} {error.message}" if keyword == "x-one-of-keys" else f"{where} = {error.message}"
    elif keyword in ("minimum", "exclusiveMinimum"):
        what = f"{where} is {_show(value)}, below the minimum of {error.validator_value}"
    elif keyword in ("maximum", "exclusiveMaximum"):
        what = f"{where} is {_show(value)}, above the maximum of {error.validator_value}"
    elif keyword in ("minItems", "minLength", "minProperties"):
        what = f"{where} is empty or too short"
    elif keyword == "uniqueItems":
        what = f"{where} lists the same value twice"
    else:
        what = f"{where}: {error.message}"
    return [
        ConfigError(
            what,
            about or "the schema does not allow this value",
            _how(keyword, schema),
            location,
        )
    ]


def _how(keyword: str, schema: dict[str, Any]) -> str:
    if keyword in ("x-ceiling", "maximum", "exclusiveMaximum"):
        return (
            "lower the value to within the limit; the ceilings are hard safety limits and cannot be raised by a profile"
        )
    if keyword in ("x-floor", "minimum", "exclusiveMinimum"):
        return "raise the value to within the limit"
    if keyword in ("anyOf", "oneOf", "pattern") and schema.get("examples"):
        return f"write it like {' or '.join(str(e) for e in schema['examples'])}"
    return "fix the value; the schema in schemas/ documents every key (editors with yaml-language-server show it)"
