"""mypy --strict over the whole mci package (config in pyproject.toml [tool.mypy]): an error fails with mypy's words.

One run over the package, with mypy's cache (.mypy_cache in the repository), keeps a rerun to about a second.
"""

from __future__ import annotations

import subprocess
import sys

from testing import ROOT


def test_mypy_strict_passes_on_the_package() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "-p", "mci"], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr
    # Every module was checked: a package mypy could not see would pass unread.
    expected = list((ROOT / "cli" / "mci").rglob("*.py"))
    assert f"no issues found in {len(expected)} source files" in done.stdout, done.stdout
