"""Fixtures of the drill tests: `mci drill` in a real process, its sandbox under the test's tmp_path."""

from __future__ import annotations

from pathlib import Path

import pytest

from testing.drill import AT, OPERATOR_SECRET


@pytest.fixture
def sandboxes(tmp_path) -> Path:
    """Where the drill makes its temp dirs (TMPDIR): what it leaves behind is visible here."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    return folder


@pytest.fixture
def drill(run_mci, sandboxes):
    def run(*args: str, timeout: float = 150, env: dict[str, str] | None = None):
        extra = {
            "TMPDIR": str(sandboxes),
            "KITE_API_KEY": "operator-key",
            "KITE_API_SECRET": OPERATOR_SECRET,
            "MCI_TOKEN_KEY": "operator-token-key-never-used",
            **(env or {}),
        }
        return run_mci("drill", "--at", AT, *args, env=extra, timeout=timeout)

    return run
