"""YAML with positions: every value and key of a document knows its file:line:column.

PyYAML's constructors are not used: they keep the last of two duplicate keys,
read `15:30` as the base-60 integer 930 and `010` as octal 8, and lose
positions. Instead the node tree from `compose` is turned into plain values
here (dict, list, str, int, Decimal, bool, None), and everything an operator
could get wrong becomes a positioned ConfigError, never a traceback.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Mapping

from mci.errors import ConfigError, ConfigErrors, Location

MAX_BYTES = 1 << 20  # a profile is a few KB; anything near this is a mistake
MAX_NODES = 200_000  # aliases are re-expanded, so a tiny file can mean billions of nodes
MAX_DEPTH = 64  # deeper than any real document; keeps the builder's recursion bounded
# libyaml's composer recurses in C and crashes the interpreter on very deep flow
# nesting (`[[[[...` 50 000 deep); such text goes to the pure-Python parser,
# whose recursion ends in a RecursionError we can report.
_C_PARSER_MAX_BRACKETS = 1000

SECRET_KEYS = frozenset({"api_secret", "access_token", "request_token", "password", "totp_secret", "token_key"})

_TAG = "tag:yaml.org,2002:"
_STR, _INT, _FLOAT, _BOOL, _NULL = (_TAG + t for t in ("str", "int", "float", "bool", "null"))
_TIMESTAMP, _MERGE, _VALUE, _SEQ, _MAP = (_TAG + t for t in ("timestamp", "merge", "value", "seq", "map"))
_TRUE = {"true", "yes", "on"}
_FALSE = {"false", "no", "off"}

# `$${` writes a literal `${`; `${env:NAME}` or `${env:NAME:-default}` interpolates;
# any other `${` is a typo we refuse rather than pass through.
_INTERPOLATION = re.compile(r"\$\$\{|\$\{env:([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|\$\{")
SECRET_REF = re.compile(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}")

JsonPath = tuple[Any, ...]


@dataclass
class Document:
    """A loaded YAML document: plain values plus where each one was written."""

    path: Path
    name: str  # the file as shown to the operator (relative to cwd when possible)
    data: dict[str, Any]
    values: dict[JsonPath, Location] = field(default_factory=dict)
    keys: dict[JsonPath, Location] = field(default_factory=dict)
    secrets: dict[JsonPath, str] = field(default_factory=dict)  # path -> the ${env:NAME} written there
    broken: set[JsonPath] = field(default_factory=set)  # paths the loader already reported

    @property
    def kind(self) -> str:
        kind = self.data.get("kind", "profile")
        return kind if isinstance(kind, str) else "profile"

    def at(self, path: JsonPath) -> Location:
        """The value at `path`, else its nearest written ancestor (a missing key points at its parent)."""
        path = tuple(path)
        while path:
            if path in self.values:
                return self.values[path]
            path = path[:-1]
        return self.values.get((), Location(self.name, 1, 1))

    def key_at(self, path: JsonPath) -> Location:
        return self.keys.get(tuple(path)) or self.at(path)

    def is_broken(self, path: JsonPath) -> bool:
        path = tuple(path)
        return any(path[: len(b)] == b for b in self.broken)

    def redacted(self) -> dict[str, Any]:
        """The data with each secret replaced by its ${env:...} reference: what validation and the cache see."""
        if not self.secrets:
            return self.data
        data: dict[str, Any] = _copy(self.data)
        for path, reference in self.secrets.items():
            parent = data
            for part in path[:-1]:
                parent = parent[part]
            parent[path[-1]] = reference
        return data


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def display_name(path: Path) -> str:
    try:
        if path.is_absolute():
            return str(path.relative_to(Path.cwd()))
    except (ValueError, OSError):
        pass
    return str(path)


def load_document(path: Path, env: Mapping[str, str] | None = None) -> Document:
    """Read one YAML file into a Document; raises ConfigErrors listing everything wrong with it."""
    document, errors = read_document(path, env)
    if errors:
        raise ConfigErrors(errors)
    assert document is not None
    return document


def read_document(path: Path, env: Mapping[str, str] | None = None) -> tuple[Document | None, list[ConfigError]]:
    """Like load_document, but returns (document or None, errors) so callers can go on and report more.

    The document is None when the file cannot be parsed at all; with errors
    but a document, the offending paths are in `document.broken`.
    """
    path = Path(path)
    name = display_name(path)
    try:
        text = _read_text(path, name)
        root = _compose(text, name)
    except ConfigError as error:
        return None, [error]
    builder = _Builder(name, os.environ if env is None else env)
    try:
        data = builder.build(root, (), 0)
    except _Abort as abort:
        return None, [abort.error]
    if not isinstance(data, dict):
        kind = {"sequence": "a list", "scalar": "a single value"}.get(root.id, "not a mapping")
        return None, [
            ConfigError(
                f"{name} is {kind}, not a mapping of keys",
                "a profile, checklist, sequence or calendar is a mapping at the top level (version:, kind:, ...)",
                "start the file with `version: 1` and the keys of its kind; see profiles/paper.yaml",
                Location(name, root.start_mark.line + 1, root.start_mark.column + 1),
            )
        ]
    document = Document(path, name, data, builder.values, builder.keys, builder.secrets, builder.broken)
    return document, builder.errors


def _read_text(path: Path, name: str) -> str:
    def fail(what: str, why: str, how: str, line: int = 1, column: int = 1) -> ConfigError:
        return ConfigError(what, why, how, Location(name, line, column))

    try:
        size = path.stat().st_size
        if path.is_dir():
            raise fail(f"{name} is a folder, not a YAML file", "a document is one file", "name a .yaml file")
        if size > MAX_BYTES:
            raise fail(
                f"{name} is {size:,} bytes, more than the {MAX_BYTES:,} a document may have",
                "a profile is never this large; this is the wrong file or a generated one",
                "point mci at the profile or rule file itself",
            )
        with path.open("rb") as handle:
            raw = handle.read(MAX_BYTES + 1)  # the file may grow between stat and read
    except FileNotFoundError:
        raise fail(
            f"{name} does not exist", "there is no file at that path", "check the path and the current folder"
        ) from None
    except OSError as exc:
        raise fail(f"cannot read {name}", exc.strerror or str(exc), "check the file's permissions") from None
    if len(raw) > MAX_BYTES:
        raise fail(
            f"{name} is larger than {MAX_BYTES:,} bytes",
            "a profile is never this large",
            "point mci at the YAML file itself",
        )
    nul = raw.find(b"\0")
    if nul >= 0:
        line, column = _line_col(raw, nul)
        raise fail(
            f"{name} is a binary file, not YAML",
            "it contains a NUL byte, which no text file has",
            "point mci at the YAML file itself",
            line,
            column,
        )
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line, column = _line_col(raw, exc.start)
        raise fail(
            f"{name} is not UTF-8 text",
            f"byte 0x{raw[exc.start]:02x} at offset {exc.start} is not valid UTF-8",
            "save the file as UTF-8 (every editor can), or point mci at the right file",
            line,
            column,
        ) from None
    return text


def _line_col(raw: bytes, offset: int) -> tuple[int, int]:
    line = raw.count(b"\n", 0, offset) + 1
    return line, offset - (raw.rfind(b"\n", 0, offset) + 1) + 1


def _bracket_depth(text: str) -> int:
    depth = deepest = 0
    for char in text:
        if char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}" and depth:
            depth -= 1
    return deepest


def _compose(text: str, name: str) -> Any:
    import yaml

    loader_class = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    if loader_class is not yaml.SafeLoader and _bracket_depth(text) > _C_PARSER_MAX_BRACKETS:
        loader_class = yaml.SafeLoader
    loader = loader_class(text)
    try:
        root = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        raise _parse_error(exc, name, text) from None
    except yaml.YAMLError as exc:  # ReaderError: a character YAML does not allow
        position = getattr(exc, "position", None)
        line, column = (1, 1)
        if isinstance(position, int):
            line, column = _line_col(text.encode("utf-8"), len(text[:position].encode("utf-8")))
        raise ConfigError(
            f"{name} contains a character YAML does not allow",
            str(exc).splitlines()[0] if str(exc) else "the YAML reader refused the text",
            "remove control characters from the file; it must be plain UTF-8 text",
            Location(name, line, column),
        ) from None
    except RecursionError:
        raise ConfigError(
            f"{name} is nested too deeply to read",
            "its brackets or indentation nest hundreds of levels deep; no real document does",
            "point mci at the right file, or flatten the structure",
            Location(name, 1, 1),
        ) from None
    finally:
        loader.dispose()
    if root is None:
        raise ConfigError(
            f"{name} is empty",
            "it has no YAML content (nothing, or only comments)",
            "write the document, starting with `version: 1`; see profiles/paper.yaml for a profile",
            Location(name, 1, 1),
        )
    return root


def _parse_error(exc: Any, name: str, text: str) -> ConfigError:
    mark = exc.problem_mark or exc.context_mark
    location = Location(name, mark.line + 1, mark.column + 1) if mark else Location(name, 1, 1)
    problem = exc.problem or "invalid YAML"
    if "another document" in problem or (exc.context and "single document" in exc.context):
        return ConfigError(
            f"{name} holds more than one YAML document",
            "a `---` line starts a second document; mci reads exactly one document per file",
            "remove the second `---` (and what follows), or split it into its own file",
            location,
        )
    why = problem
    if exc.context:
        context_mark = exc.context_mark
        where = f" (line {context_mark.line + 1}, column {context_mark.column + 1})" if context_mark else ""
        why = f"{problem}, {exc.context}{where}"
    lines = text.splitlines()
    line_text = lines[location.line - 1] if 0 < location.line <= len(lines) else ""
    if "\t" in line_text[: len(line_text) - len(line_text.lstrip())]:
        how = "indent with spaces: YAML does not allow tabs for indentation"
    else:
        how = "fix the YAML syntax there; usual causes are a missing space after `:`, a value with `: ` or ` #` that needs quotes, or an unclosed quote or bracket"
    return ConfigError(
        f"cannot parse {name}: {problem}",
        f"the YAML parser stopped at line {location.line}, column {location.column}: {why}",
        how,
        location,
    )


class _Abort(Exception):
    def __init__(self, error: ConfigError):
        self.error = error


class _Builder:
    def __init__(self, name: str, env: Mapping[str, str]):
        self.name = name
        self.env = env
        self.count = 0
        self.values: dict[JsonPath, Location] = {}
        self.keys: dict[JsonPath, Location] = {}
        self.secrets: dict[JsonPath, str] = {}
        self.broken: set[JsonPath] = set()
        self.errors: list[ConfigError] = []

    def loc(self, node: Any) -> Location:
        return Location(self.name, node.start_mark.line + 1, node.start_mark.column + 1)

    def fail(self, path: JsonPath, what: str, why: str, how: str, location: Location, **details: Any) -> None:
        self.broken.add(path)
        self.errors.append(ConfigError(what, why, how, location, **details))

    def _count(self, node: Any) -> None:
        self.count += 1
        if self.count > MAX_NODES:
            raise _Abort(
                ConfigError(
                    f"{self.name}: document expands to more than {MAX_NODES:,} nodes (alias bomb?)",
                    "YAML aliases (*name) repeat what their anchor (&name) holds; nested, a few lines expand to billions of values",
                    "remove the anchors and aliases; a profile needs neither",
                    self.loc(node),
                )
            )

    def build(self, node: Any, path: JsonPath, depth: int) -> Any:
        self._count(node)
        if depth > MAX_DEPTH:
            raise _Abort(
                ConfigError(
                    f"{self.name} is nested more than {MAX_DEPTH} levels deep",
                    "no profile or rule is this deep; an alias that contains itself also does this",
                    "flatten the structure, or remove the recursive alias",
                    self.loc(node),
                )
            )
        self.values[path] = self.loc(node)
        if node.id == "scalar":
            return self.scalar(node, path)
        expected = _SEQ if node.id == "sequence" else _MAP
        if node.tag != expected:
            self.bad_tag(node, path)
            return None
        if node.id == "sequence":
            return [self.build(child, path + (index,), depth + 1) for index, child in enumerate(node.value)]
        return self.mapping(node, path, depth)

    def mapping(self, node: Any, path: JsonPath, depth: int) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            self._count(key_node)
            where = self.loc(key_node)
            if key_node.id != "scalar":
                self.fail(
                    path,
                    f"a key in {self.name} is not plain text",
                    "keys are names such as max_daily_loss; this one is a list or a mapping",
                    "write the key as a plain name",
                    where,
                )
                continue
            if key_node.tag == _MERGE:
                self.fail(
                    path,
                    "merge keys (<<) are not supported",
                    "a merge key decides silently which of two values wins, the same trap as a duplicate key",
                    "write the keys out in full",
                    where,
                )
                continue
            key = key_node.value  # the text as written: `on:` stays "on", `1:` stays "1"
            key_path = path + (key,)
            if key_path in self.keys:
                first = self.keys[key_path]
                self.fail(
                    key_path,
                    f"duplicate key {key!r} (first at line {first.line}, column {first.column})",
                    "YAML parsers silently keep the last of two equal keys; for a risk limit that means a limit you did not see",
                    f"keep one {key!r} and delete the other",
                    where,
                    first=str(first),
                )
                continue
            self.keys[key_path] = where
            if key in SECRET_KEYS:
                result[key] = self.secret(value_node, key_path, key)
            else:
                result[key] = self.build(value_node, key_path, depth + 1)
        return result

    def secret(self, node: Any, path: JsonPath, key: str) -> Any:
        self._count(node)
        self.values[path] = self.loc(node)
        match = SECRET_REF.fullmatch(node.value) if node.id == "scalar" and node.tag == _STR else None
        if not match:
            # The value itself is never repeated: it may be the secret.
            self.fail(
                path,
                f"{key} is written as a literal value",
                "secrets are never literal; a file is copied, committed and shared, an environment variable is not",
                f"put it in an environment variable and write {key}: ${{env:KITE_API_SECRET}} (any variable name)",
                self.loc(node),
            )
            self.secrets[path] = "${env:REDACTED}"
            return None
        self.secrets[path] = node.value
        return self.interpolate(node.value, node, path)

    def bad_tag(self, node: Any, path: JsonPath) -> None:
        self.fail(
            path,
            f"unsupported YAML tag {node.tag}",
            "only plain YAML values are read: text, numbers, true/false, null, lists and mappings; "
            "other tags can construct objects or mean something other than what they look like",
            "remove the tag (the `!...` before the value)",
            self.loc(node),
        )

    def scalar(self, node: Any, path: JsonPath) -> Any:
        tag, text = node.tag, node.value
        if tag in (_STR, _MERGE, _VALUE):
            return self.interpolate(text, node, path)
        if tag == _TIMESTAMP:
            return text  # dates stay text: the schema and the calendar read them as YYYY-MM-DD
        if tag == _NULL:
            return None
        if tag == _BOOL:
            lowered = text.lower()
            if lowered in _TRUE or lowered in _FALSE:
                return lowered in _TRUE
        if tag in (_INT, _FLOAT) and ":" in text:
            return text  # YAML 1.1 base 60: `15:30` is a time to an operator, not the integer 930
        if tag == _INT:
            number: int | Decimal | None = self.integer(text)
            if number is not None:
                return number
            if text.lstrip("+-").replace("_", "").isdigit():
                self.fail(
                    path,
                    f"{text} has a leading zero",
                    "YAML 1.1 reads a number with a leading zero as octal (010 is 8)",
                    "write the number without leading zeros, or quote it as text",
                    self.loc(node),
                )
                return None
        if tag == _FLOAT:
            number = self.decimal(text)
            if number is not None:
                return number
        if tag in (_BOOL, _INT, _FLOAT):
            self.fail(
                path,
                f"cannot read {text!r} as {tag.rsplit(':', 1)[-1]}",
                "the value does not have that type's form",
                "write the value plainly (remove the tag) or fix it",
                self.loc(node),
            )
            return None
        self.bad_tag(node, path)
        return None

    @staticmethod
    def integer(text: str) -> int | None:
        digits = text.replace("_", "")
        sign = -1 if digits.startswith("-") else 1
        digits = digits.lstrip("+-")
        try:
            if digits.startswith("0b"):
                return sign * int(digits[2:], 2)
            if digits.startswith("0x"):
                return sign * int(digits[2:], 16)
            if digits.startswith("0") and digits != "0":
                return None
            return sign * int(digits, 10)
        except ValueError:
            return None

    @staticmethod
    def decimal(text: str) -> Decimal | None:
        try:
            number = Decimal(text.replace("_", ""))
        except InvalidOperation:
            return None  # .inf / .nan spell differently; money and limits are finite anyway
        return number if number.is_finite() else None

    def interpolate(self, text: str, node: Any, path: JsonPath) -> str | None:
        if "$" not in text:
            return text
        failed = False

        def replace(match: re.Match[str]) -> str:
            nonlocal failed
            token = match.group(0)
            if token == "$${":
                return "${"
            name, default = match.group(1), match.group(2)
            if name is None:
                failed = True
                self.fail(
                    path,
                    f"malformed reference {text[match.start() : match.start() + 30]!r}",
                    "`${` starts an environment reference and must read ${env:NAME} or ${env:NAME:-default}",
                    "fix the reference, or write $${ for a literal ${",
                    self.loc(node),
                )
                return token
            value = self.env.get(name) if default is None else self.env.get(name, default)
            if value:
                return value
            if default is not None:
                return default
            failed = True
            state = "is set but empty" if value == "" else "is not set"
            self.fail(
                path,
                f"environment variable {name} {state}",
                f"{self.name} line {node.start_mark.line + 1} reads ${{env:{name}}}; an unset or empty variable "
                "must not silently become an empty value",
                f"export {name}=... before running mci (or write ${{env:{name}:-default}} where a default is safe)",
                self.loc(node),
                variable=name,
            )
            return token

        result = _INTERPOLATION.sub(replace, text)
        return None if failed else result
