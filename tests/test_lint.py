"""ruff over the whole repository (rules in pyproject.toml [tool.ruff]): lint and format; a finding fails in its words."""

from __future__ import annotations

import subprocess
import sys
from testing import ROOT


def test_ruff_finds_nothing() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", "--output-format", "concise", "."],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_code_is_as_ruff_format_writes_it() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--check", "--no-cache", "."],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, "run `ruff format .` (.venv/bin/ruff):\n" + done.stdout + done.stderr
