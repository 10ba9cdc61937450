"""The README's Architecture table names every package and loose module of cli/mci, and nothing that is gone."""

from __future__ import annotations

import re

from testing import ROOT

PACKAGE = ROOT / "cli" / "mci"


def _in_the_tree() -> set[str]:
    names = {f"{p.parent.relative_to(PACKAGE).as_posix()}/" for p in PACKAGE.glob("*/__init__.py")}
    names |= {f"{p.parent.relative_to(PACKAGE).as_posix()}/" for p in PACKAGE.glob("*/*/__init__.py")}
    names |= {p.name for p in PACKAGE.glob("*.py") if p.name != "__init__.py"}
    return names


def _in_the_readme() -> set[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## Architecture\n", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `([\w/.]+)` \|", section, re.M))


def test_the_architecture_table_names_every_package_and_module():
    tree, readme = _in_the_tree(), _in_the_readme()
    assert len(tree) > 30 and "observability/" in tree and "brokers/sim/" in tree  # the walk found the tree
    missing, gone = sorted(tree - readme), sorted(readme - tree)
    assert not missing and not gone, (
        f"WHAT: README.md's Architecture table is out of date: missing {missing}, naming what is gone {gone}\n"
        "WHY: the table is the one-line purpose of every package and loose module of cli/mci\n"
        "HOW: add (or remove) a row `| `name/` | what it is |` in README.md, section Architecture"
    )
