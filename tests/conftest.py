from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from testing import hypothesis_profiles

ROOT = Path(__file__).resolve().parent.parent


def pytest_configure(config: pytest.Config) -> None:
    # Before any test module is imported: a property's @settings inherits from the profile loaded here.
    try:
        hypothesis_profiles.load()
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from None


def pytest_report_header(config: pytest.Config) -> str:
    return f"hypothesis profile: {hypothesis_profiles.selected()} ({hypothesis_profiles.ENV}; see README, Development)"


@pytest.fixture(autouse=True)
def rate_dir(tmp_path_factory, monkeypatch):
    """The account rate limiters of this test (mci.brokers.ratelimit) in a directory of its own."""
    path = tmp_path_factory.mktemp("rate")
    monkeypatch.setenv("MCI_RATE_DIR", str(path))
    return path


@pytest.fixture
def mci_home(tmp_path, monkeypatch):
    home = tmp_path / "mci-home"
    home.mkdir()
    monkeypatch.setenv("MCI_HOME", str(home))
    return home


@pytest.fixture
def run_mci(mci_home):
    """Run the real `mci` entry point in a subprocess, as cron would."""

    def run(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 60):
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("MCI_")}
        full_env.update({"MCI_HOME": str(mci_home), "NO_COLOR": "1"})
        full_env.update(env or {})
        return subprocess.run(
            [sys.executable, "-m", "mci", *args],
            capture_output=True,
            text=True,
            env=full_env,
            cwd=cwd or ROOT,
            timeout=timeout,
        )

    return run
