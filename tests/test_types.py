"""mypy --strict over the packages that pass it (config in pyproject.toml [tool.mypy]): an error fails with mypy's words.

A package joins STRICT once it passes; the cache (.mypy_cache in the repository) keeps a rerun to a few seconds.
"""

from __future__ import annotations

import subprocess
import sys

from testing import ROOT

STRICT = ["mci.market", "mci.flatten", "mci.store", "mci.engine", "mci.watch", "mci.commands"]


def test_mypy_strict_passes_on_the_typed_packages() -> None:
    packages = [arg for name in STRICT for arg in ("-p", name)]
    done = subprocess.run([sys.executable, "-m", "mypy", "--strict", *packages],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
