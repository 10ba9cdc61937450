"""Fixtures of the config tests (the texts and the Repo builder are in testing.config)."""

from __future__ import annotations

from pathlib import Path

import pytest

from testing.config import Repo


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Repo:
    monkeypatch.chdir(tmp_path)  # locations are shown relative to the current folder
    return Repo(tmp_path)
