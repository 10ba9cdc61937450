"""A small JSON path (`status`, `$.checks.db.ok`, `items[0].name`) and exact comparisons.

A dotted/indexed path covers what a health or metrics document needs; a full
JSONPath library would add a dependency and filter syntax no gate uses. Numbers
are compared as Decimal, so `0.7 >= 0.7` is true exactly as written.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

OPS = ("<", "<=", "==", "!=", ">=", ">")
PATH_RE = re.compile(r"^(\$\.?)?([A-Za-z0-9_\-]+|\[[0-9]+\])((\.[A-Za-z0-9_\-]+)|(\[[0-9]+\]))*$")
_PART_RE = re.compile(r"\.?([A-Za-z0-9_\-]+)|\[([0-9]+)\]")


class PathError(ValueError):
    """The path does not lead to a value in this document (why is the message)."""


def parse(path: str) -> list[str | int]:
    text = path.strip()
    if text in ("$", ""):
        return []
    if not PATH_RE.match(text):
        raise PathError(f"{path!r} is not a JSON path; write it like status, checks.db.ok or items[0].rate")
    text = text[1:] if text.startswith("$") else text
    return [int(index) if index else key for key, index in _PART_RE.findall(text)]


def lookup(document: Any, path: str) -> Any:
    node = document
    walked = "$"
    for part in parse(path):
        if isinstance(part, int):
            if not isinstance(node, list):
                raise PathError(f"{walked} is {_kind(node)}, not a list, so it has no [{part}]")
            if part >= len(node):
                raise PathError(f"{walked} has {len(node)} item(s), so there is no [{part}]")
            node = node[part]
            walked += f"[{part}]"
        else:
            if not isinstance(node, dict):
                raise PathError(f"{walked} is {_kind(node)}, not an object, so it has no key {part!r}")
            if part not in node:
                keys = ", ".join(sorted(map(str, node))[:10]) or "none"
                raise PathError(f"{walked} has no key {part!r} (keys: {keys})")
            node = node[part]
            walked += f".{part}"
    return node


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "a boolean", str: "a string", list: "a list", dict: "an object"}.get(type(value), "a number")


def as_number(value: Any) -> Decimal:
    """An exact number from a JSON value; a numeric string counts (exporters often quote numbers), a boolean never."""
    if isinstance(value, bool) or value is None or isinstance(value, (list, dict)):
        raise PathError(f"the value is {_kind(value)}, not a number")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise PathError(f"the value {str(value)[:40]!r} is not a number") from None
    if not number.is_finite():
        raise PathError(f"the value {value} is not a finite number")
    return number


def compare(actual: Decimal, op: str, expected: Decimal) -> bool:
    if op == "<":
        return actual < expected
    if op == "<=":
        return actual <= expected
    if op == "==":
        return actual == expected
    if op == "!=":
        return actual != expected
    if op == ">=":
        return actual >= expected
    if op == ">":
        return actual > expected
    raise ValueError(f"unknown comparison {op!r}; use one of {' '.join(OPS)}")


def same(actual: Any, expected: Any) -> bool:
    """JSON equality, numbers exactly (1 == 1.0), booleans never equal to numbers."""
    if isinstance(actual, bool) or isinstance(expected, bool):
        return isinstance(actual, bool) and isinstance(expected, bool) and actual == expected
    if isinstance(actual, (int, float, Decimal)) and isinstance(expected, (int, float, Decimal)):
        return Decimal(str(actual)) == Decimal(str(expected))
    if isinstance(actual, list) and isinstance(expected, list):
        return len(actual) == len(expected) and all(same(a, e) for a, e in zip(actual, expected))
    if isinstance(actual, dict) and isinstance(expected, dict):
        return actual.keys() == expected.keys() and all(same(actual[k], expected[k]) for k in actual)
    equal: bool = actual == expected  # text, null: JSON's other values
    return equal
