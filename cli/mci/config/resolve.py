"""A profile's `use:` references: finding rule files, applying overrides, cross-document checks.

A profile names rules as `use: scanner/twelve-point`, found first in a
`rules/` folder beside the profile's folder (a repository with profiles/ and
rules/), then in the rules shipped with mci. `override:` patches the params of
checks by id; the patched checklist is validated as a whole, and each value
keeps the position it was written at: an override error points into the
profile, a rule error into the rule file.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from mci.config.build import build_checklist, build_profile, build_sequence, positions_default
from mci.config.loader import Document, JsonPath, read_document
from mci.config.model import Checklist, Profile, Sequence
from mci.config.rules import USE_RE, available_rules, find_rule, rule_dirs
from mci.config.schema import dotted, validate_document
from mci.errors import ConfigError, MciError

ITEMS = {"checklist": "checks", "sequence": "steps"}


def _get(data: Any, path: JsonPath) -> Any:
    for part in path:
        if isinstance(data, dict) and isinstance(part, str):
            data = data.get(part)
        elif isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data):
            data = data[part]
        else:
            return None
    return data


# ---- checks within one checklist or sequence -------------------------------------------------


def document_semantics(
    doc: Document, data: Mapping[str, Any], kind: str, breakers: set[str] | None
) -> list[ConfigError]:
    """Unique ids, `needs` naming real ids without cycles, `breaker:` naming a profile breaker.

    `breakers` is None when the document is checked on its own (no profile to ask).
    """
    items_key = ITEMS[kind]
    items = data.get(items_key)
    if not isinstance(items, list):
        return []
    errors: list[ConfigError] = []
    ids: dict[str, int] = {}
    for index, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get("id"), str):
            continue
        item_id = item["id"]
        if item_id in ids:
            first = doc.at((items_key, ids[item_id], "id"))
            errors.append(
                ConfigError(
                    f"duplicate {items_key[:-1]} id {item_id!r} (first at line {first.line}, column {first.column})",
                    "ids name results, overrides and `needs`; two equal ids make all three ambiguous",
                    f"rename one of the two {item_id!r}",
                    doc.at((items_key, index, "id")),
                )
            )
        else:
            ids[item_id] = index

    graph: dict[str, list[str]] = {}
    for index, item in enumerate(items):
        if not isinstance(item, dict) or not isinstance(item.get("needs"), list) or not isinstance(item.get("id"), str):
            continue
        for n, needed in enumerate(item["needs"]):
            if not isinstance(needed, str):
                continue
            if needed not in ids:
                errors.append(
                    ConfigError(
                        f"{item['id']!r} needs {needed!r}, which is not a check in {data.get('name', doc.name)}",
                        f"`needs` names ids of the same checklist: {', '.join(ids) or 'none'}",
                        "fix the id or remove it from needs",
                        doc.at((items_key, index, "needs", n)),
                    )
                )
            else:
                graph.setdefault(item["id"], []).append(needed)
    errors.extend(_cycles(doc, items, graph, items_key))

    if breakers is not None:
        candidates: list[JsonPath] = [("defaults", "breaker")]
        candidates += [(items_key, i, "breaker") for i in range(len(items))]
        for path in candidates:
            name = _get(data, path)
            if isinstance(name, str) and name not in breakers:
                errors.append(
                    ConfigError(
                        f"breaker {name!r} is not declared in the profile",
                        f"the profile declares breakers: {', '.join(sorted(breakers)) or 'none'}; "
                        "a check cannot be guarded by a breaker that does not exist",
                        f"add `breakers: {{{name}: {{fail_max: 5, reset_timeout: 60s}}}}` to the profile, or fix the name",
                        doc.at(path),
                    )
                )
    return errors


def _cycles(doc: Document, items: list[Any], graph: dict[str, list[str]], items_key: str) -> list[ConfigError]:
    index_of = {
        item["id"]: i
        for i, item in reversed(list(enumerate(items)))
        if isinstance(item, dict) and isinstance(item.get("id"), str)
    }
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    errors: list[ConfigError] = []

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for needed in graph.get(node, []):
            if state.get(needed) == 1:
                cycle = trail[trail.index(needed) :] + [node, needed] if needed in trail else [node, needed]
                where = items[index_of[node]]["needs"].index(needed)
                errors.append(
                    ConfigError(
                        f"needs cycle: {' -> '.join(cycle)}",
                        "each check in the cycle waits for another in it, so none could ever run",
                        f"remove {needed!r} from the needs of {node!r} (or another link of the cycle)",
                        doc.at((items_key, index_of[node], "needs", where)),
                    )
                )
            elif state.get(needed) is None:
                visit(needed, trail + [node])
        state[node] = 2

    for node in list(graph):
        if state.get(node) is None:
            visit(node, [])
    return errors


# ---- a profile's references --------------------------------------------------------------------


@dataclass
class Resolution:
    errors: list[MciError] = field(default_factory=list)
    documents: list[tuple[Path, str]] = field(default_factory=list)


def _merge_overrides(
    rule: Document, profile: Document, ref_path: JsonPath, kind: str
) -> tuple[Document, list[ConfigError]]:
    """The rule with the profile's overrides merged in, positions kept per value."""
    items_key = ITEMS[kind]
    override_path = ref_path + ("override",)
    overrides = _get(profile.data, override_path)
    merged = Document(
        rule.path,
        rule.name,
        _deep_copy(rule.data),
        dict(rule.values),
        dict(rule.keys),
        dict(rule.secrets),
        set(rule.broken),
    )
    if not isinstance(overrides, dict):
        return merged, []
    items: Any = merged.data.get(items_key)
    index = (
        {item["id"]: i for i, item in enumerate(items) if isinstance(item, dict) and isinstance(item.get("id"), str)}
        if isinstance(items, list)
        else {}
    )
    errors = []
    for item_id, patch in overrides.items():
        if item_id not in index:
            errors.append(
                ConfigError(
                    f"override names {item_id!r}, which is not a {items_key[:-1]} in {_get(profile.data, ref_path + ('use',))}",
                    f"ids there: {', '.join(index) or 'none'}; an override of nothing would silently change nothing",
                    "fix the id to one of those",
                    profile.key_at(override_path + (item_id,)),
                )
            )
            continue
        if not isinstance(patch, dict):
            continue  # the profile schema reports it
        target_path: JsonPath = (items_key, index[item_id], "params")
        item = items[index[item_id]]
        if not isinstance(item.get("params", {}), dict):
            continue  # the rule schema reports it
        if "params" not in item:
            item["params"] = {}
            merged.values[target_path] = profile.at(override_path + (item_id,))
        _deep_merge(item["params"], patch)
        source = override_path + (item_id,)
        # Positions (Location) and secrets' references (str): one loop for both kinds of table.
        tables: tuple[tuple[dict[JsonPath, Any], dict[JsonPath, Any]], ...] = (
            (profile.values, merged.values),
            (profile.keys, merged.keys),
            (profile.secrets, merged.secrets),
        )
        for table, target_table in tables:
            for path, where in table.items():
                if path[: len(source)] == source and len(path) > len(source):
                    target_table[target_path + path[len(source) :]] = where
        for path in profile.broken:
            if path[: len(source)] == source:
                merged.broken.add(target_path + path[len(source) :])
    return merged, errors


def _append_added(merged: Document, profile: Document, ref_path: JsonPath, kind: str) -> None:
    """The profile's `add:` items appended to the rule's (e.g. a kite profile's order_path check), positions kept.

    The merged document is then validated as a whole, so an added item meets the checklist schema and its
    id must not repeat one of the rule's."""
    added = _get(profile.data, ref_path + ("add",))
    items_key = ITEMS[kind]
    items = merged.data.get(items_key)
    if not isinstance(added, list) or not isinstance(items, list):
        return  # the schemas report the form
    for n, item in enumerate(added):
        source = ref_path + ("add", n)
        target: JsonPath = (items_key, len(items))
        items.append(_deep_copy(item))
        # Positions (Location) and secrets' references (str): one loop for both kinds of table.
        tables: tuple[tuple[dict[JsonPath, Any], dict[JsonPath, Any]], ...] = (
            (profile.values, merged.values),
            (profile.keys, merged.keys),
            (profile.secrets, merged.secrets),
        )
        for table, target_table in tables:
            for path, where in table.items():
                if path[: len(source)] == source:
                    target_table[target + path[len(source) :]] = where
        for path in profile.broken:
            if path[: len(source)] == source:
                merged.broken.add(target + path[len(source) :])


def _deep_copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _deep_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_deep_copy(v) for v in value]
    return value


def _deep_merge(base: dict[str, Any], patch: Mapping[str, Any]) -> None:
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _deep_merge(base[key], value)
        else:
            base[key] = _deep_copy(value)


def resolve_reference(
    profile: Document,
    ref_path: JsonPath,
    kind: str,
    *,
    env: Mapping[str, str] | None,
    cache_dir: Path | None,
    resolution: Resolution,
) -> Checklist | Sequence | None:
    """Load, merge, validate and build one `{use, override}` reference; errors go to `resolution`."""
    use = _get(profile.data, ref_path + ("use",))
    if not isinstance(use, str) or not USE_RE.match(use):
        return None  # the profile schema reports the form
    dirs = rule_dirs(profile.path)
    path = find_rule(use, dirs)
    if path is None:
        choices = available_rules(use, dirs)
        resolution.errors.append(
            ConfigError(
                f"{dotted(ref_path)}.use names {use!r}, which does not exist",
                f"no {use}.yaml in {' or '.join(str(d) for d in dirs)}; available: {', '.join(choices) or 'none'}",
                "fix the name to one of those, or add the rule file",
                profile.at(ref_path + ("use",)),
            )
        )
        return None
    rule, errors = read_document(path, env)
    resolution.errors.extend(errors)
    if rule is None:
        return None
    resolution.documents.append((path, rule.kind))
    if rule.kind != kind:
        resolution.errors.append(
            ConfigError(
                f"{dotted(ref_path)}.use names {use!r}, a {rule.kind}, where a {kind} is needed",
                f"{rule.name} declares kind: {rule.kind}",
                f"name a {kind} here",
                profile.at(ref_path + ("use",)),
            )
        )
        return None
    merged, errors = _merge_overrides(rule, profile, ref_path, kind)
    _append_added(merged, profile, ref_path, kind)
    resolution.errors.extend(errors)
    schema_errors = validate_document(merged, kind, cache_dir=cache_dir)
    resolution.errors.extend(schema_errors)
    breakers = _get(profile.data, ("breakers",))
    semantic = document_semantics(merged, merged.data, kind, set(breakers) if isinstance(breakers, dict) else set())
    resolution.errors.extend(semantic)
    if errors or schema_errors or semantic or merged.broken:
        return None
    try:
        if kind == "checklist":
            return build_checklist(merged, merged.data, positions_default(profile))
        return build_sequence(merged, merged.data)
    except ConfigError as error:
        resolution.errors.append(error)
        return None


def resolve_profile(
    doc: Document,
    *,
    env: Mapping[str, str] | None = None,
    cache_dir: Path | None = None,
) -> tuple[Profile | None, Resolution]:
    """Validate a loaded profile and everything it uses; the Profile is None when anything is wrong."""
    resolution = Resolution(documents=[(doc.path, "profile")])
    resolution.errors.extend(validate_document(doc, "profile", cache_dir=cache_dir))
    data = doc.data

    def each(ref_path: JsonPath, kind: str) -> Any:
        return resolve_reference(doc, ref_path, kind, env=env, cache_dir=cache_dir, resolution=resolution)

    scan = each(("scan",), "checklist") if isinstance(data.get("scan"), dict) else None
    shutdown: dict[str, Sequence] = {}
    if isinstance(data.get("shutdown"), dict):
        for name, ref in data["shutdown"].items():
            if isinstance(ref, dict) and name in ("graceful", "end_of_day", "emergency"):
                sequence = each(("shutdown", name), "sequence")
                if sequence is not None:
                    shutdown[name] = sequence
    ignite = each(("ignite",), "sequence") if isinstance(data.get("ignite"), dict) else None
    gates: dict[str, Checklist] = {}
    if isinstance(data.get("gates"), dict):
        for name, ref in data["gates"].items():
            if isinstance(ref, dict):
                gate = each(("gates", name), "checklist")
                if gate is not None:
                    gates[name] = gate
    if resolution.errors or doc.broken or scan is None:
        return None, resolution
    try:
        return build_profile(doc, scan, shutdown, gates, ignite), resolution
    except ConfigError as error:
        resolution.errors.append(error)
        return None, resolution
