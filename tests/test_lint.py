"""ruff's lint over the whole repository (rules in pyproject.toml [tool.ruff]): a finding fails with ruff's own words."""

from __future__ import annotations

import subprocess
import sys
from testing import ROOT


def test_ruff_finds_nothing() -> None:
    done = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "--output-format", "concise", "."],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
