"""Where a change sits in the new file: the value that changed, else the block it was removed from."""

from __future__ import annotations

from typing import Any

from mci.config.loader import Document
from mci.errors import Location

ITEMS = {"checklist": "checks", "sequence": "steps"}
_DEFAULTABLE = ("timeout", "retry", "severity", "on_error", "breaker")


def path(doc: Document, where: tuple[Any, ...]) -> Location:
    """The value at `where`; for something no longer written, the key of its nearest written parent."""
    where = tuple(where)
    if where in doc.values:
        return doc.values[where]
    while where:
        where = where[:-1]
        if where in doc.keys:
            return doc.keys[where]
    return doc.at(())


def _index(doc: Document, items_key: str, item_id: str) -> int | None:
    items = doc.data.get(items_key)
    if isinstance(items, list):
        for index, item in enumerate(items):
            if isinstance(item, dict) and item.get("id") == item_id:
                return index
    return None


def in_rule(doc: Document, kind: str, anchor: tuple[Any, ...]) -> Location:
    """A checklist or sequence item's field, falling back to `defaults:` when the item does not set it."""
    items_key = ITEMS.get(kind)
    if not items_key or not anchor or anchor[0] not in ("item", "items", "order"):
        return path(doc, anchor)
    if anchor[0] == "items":
        return doc.key_at((items_key,))
    index = _index(doc, items_key, anchor[1])
    if index is None:
        return doc.key_at((items_key,))
    item_path = (items_key, index)
    rest = tuple(anchor[2:])
    if anchor[0] == "order" or not rest:
        return doc.at(item_path)
    if item_path + rest in doc.values:
        return doc.values[item_path + rest]
    if rest[0] in _DEFAULTABLE and ("defaults", rest[0]) in doc.values:
        return doc.values[("defaults", rest[0])]
    return path(doc, item_path + rest)


def in_profile(doc: Document, anchor: tuple[Any, ...]) -> Location:
    """A profile path; inside a `use:` reference, the override that set the value, else the `use:` line."""
    if not anchor or anchor[0] != "ref":
        return path(doc, anchor)
    ref_path, inner = tuple(anchor[1]), tuple(anchor[2])
    if len(inner) >= 4 and inner[0] == "item" and inner[2] == "params":
        override = ref_path + ("override", inner[1]) + inner[3:]
        if override in doc.values:
            return doc.values[override]
    if ref_path + ("use",) in doc.values:
        return doc.values[ref_path + ("use",)]
    return path(doc, ref_path)
