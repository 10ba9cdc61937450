"""The layer rules of DESIGN.md ("Architecture: data flows one way"), read from the source with `ast`.

Three rules:
- a third-party library with a job of its own lives in the package that does that job (kiteconnect in
  brokers/, SQL in store/, YAML and JSON Schema in config/, click/typer in the CLI layer ...);
- library code never imports the CLI layer (`mci.app`, `mci.commands`): the core must be usable alone;
- no import cycle between mci's top-level packages.

The breaches older than the test were listed below by name, a list that could only shrink (a listed one
that is gone failed too, so it could not come back); issue 18 moved the code until the lists were empty,
and any breach now fails. Imports under `if TYPE_CHECKING:` are left out: they never run.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "cli" / "mci"

# library -> the modules (dotted prefixes) that may import it
LIBRARY_HOMES: dict[str, tuple[str, ...]] = {
    "kiteconnect": ("mci.brokers",),
    "twisted": ("mci.brokers",),
    "autobahn": ("mci.brokers",),
    "sqlite3": ("mci.store", "mci.brokers.sim"),
    "yaml": ("mci.config",),
    "jsonschema": ("mci.config",),
    "transitions": ("mci.engine.lifecycle",),
    "pybreaker": ("mci.store.breakers",),
    "loguru": ("mci.observability.logs",),
    "typer": ("mci.app", "mci.typer_lazy", "mci.commands"),
    "click": ("mci.app", "mci.typer_lazy", "mci.commands"),
    "rich": ("mci.commands", "mci.output"),
    "werkzeug": ("mci.brokers.sim", "mci.demo_engine"),
}
CLI_LAYER = ("mci.app", "mci.__main__", "mci.typer_lazy", "mci.commands")

# Known breaches: issue 18 removed them all (never added to).
KNOWN_LIBRARY_BREACHES: set[tuple[str, str]] = set()
KNOWN_CLI_IMPORTS: set[tuple[str, str]] = set()
KNOWN_CYCLE_EDGES: set[tuple[str, str]] = set()


@dataclass(frozen=True)
class Import:
    module: str  # the importing module, dotted
    target: str  # what it imports: a library's top-level name, or an mci module


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_module(dotted: str) -> bool:
    relative = Path(*dotted.split(".")[1:]) if "." in dotted else Path()
    return (PACKAGE / relative).with_suffix(".py").is_file() or (PACKAGE / relative / "__init__.py").is_file()


def _type_checking_only(tree: ast.AST) -> set[int]:
    """Line numbers of imports guarded by `if TYPE_CHECKING:`."""
    guarded: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for inner in node.body:
                for sub in ast.walk(inner):
                    if isinstance(sub, (ast.Import, ast.ImportFrom)):
                        guarded.add(sub.lineno)
    return guarded


def _imports() -> list[Import]:
    found: list[Import] = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = _module_name(path)
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        skip = _type_checking_only(tree)
        for node in ast.walk(tree):
            if getattr(node, "lineno", None) in skip:
                continue
            if isinstance(node, ast.Import):
                found += [Import(module, alias.name) for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    source = ".".join(base + ([node.module] if node.module else []))
                else:
                    source = node.module or ""
                for alias in node.names:
                    candidate = f"{source}.{alias.name}"
                    found.append(Import(module, candidate if _is_module(candidate) else source))
    return found


def _unit(dotted: str) -> str:
    """mci's top-level package (or loose module) a dotted name belongs to."""
    parts = dotted.split(".")
    return parts[1] if len(parts) > 1 else "mci"


def _within(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def _cycle_edges(edges: set[tuple[str, str]]) -> set[tuple[str, str]]:
    """The edges that lie on a cycle: both ends in one strongly connected component (Tarjan)."""
    graph: dict[str, set[str]] = defaultdict(set)
    for a, b in edges:
        graph[a].add(b)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    component: dict[str, int] = {}

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component[member] = index[node]
                if member == node:
                    break

    for node in list(graph):
        if node not in index:
            visit(node)
    return {(a, b) for a, b in edges if component[a] == component[b]}


IMPORTS = _imports()


def _ratchet(found: set[tuple[str, str]], known: set[tuple[str, str]], rule: str) -> None:
    new, gone = sorted(found - known), sorted(known - found)
    message = []
    if new:
        message.append(
            f"WHAT: new breach of the rule '{rule}': {new}\n"
            "WHY: DESIGN.md's layers keep the core a library, with each outside library in one place\n"
            "HOW: move the code to the layer that owns it (or import it through that layer)"
        )
    if gone:
        message.append(
            f"WHAT: {gone} no longer breach '{rule}'\n"
            "WHY: the known-breach list only shrinks\n"
            "HOW: remove them from the list in tests/test_architecture.py"
        )
    assert not message, "\n".join(message)


def test_the_source_is_read():
    # A parser that found nothing would pass every rule below.
    assert len({i.module for i in IMPORTS}) > 150
    assert Import("mci.brokers.kite_client", "kiteconnect") in {
        Import(i.module, i.target.split(".")[0]) for i in IMPORTS
    }


def test_each_library_lives_in_its_own_layer():
    found = {
        (i.module, top)
        for i in IMPORTS
        if (top := i.target.split(".")[0]) in LIBRARY_HOMES and not _within(i.module, LIBRARY_HOMES[top])
    }
    _ratchet(found, KNOWN_LIBRARY_BREACHES, "a library lives in its own layer")


def test_library_code_never_imports_the_cli_layer():
    found = {
        (i.module, i.target)
        for i in IMPORTS
        if i.target.startswith("mci.") and _within(i.target, CLI_LAYER) and not _within(i.module, CLI_LAYER)
    }
    _ratchet(found, KNOWN_CLI_IMPORTS, "library code never imports the CLI layer")


def test_no_new_cycle_between_packages():
    edges = {
        (_unit(i.module), _unit(i.target))
        for i in IMPORTS
        if i.target.startswith("mci.") and _unit(i.module) != _unit(i.target)
    }
    edges = {(a, b) for a, b in edges if a not in {"mci", "__version__"} and b not in {"mci", "__version__"}}
    _ratchet(_cycle_edges(edges), KNOWN_CYCLE_EDGES, "no import cycle between packages")


@pytest.mark.parametrize(
    "edges, expected",
    [
        ({("a", "b"), ("b", "c")}, set()),
        ({("a", "b"), ("b", "a"), ("b", "c")}, {("a", "b"), ("b", "a")}),
        ({("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")}, {("a", "b"), ("b", "c"), ("c", "a")}),
    ],
)
def test_cycle_finder(edges, expected):
    assert _cycle_edges(edges) == expected
