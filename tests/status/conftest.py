"""A running paper day (scan passed, demo engine ignited and trading) for the `mci status` tests."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from tests.enginectl.helpers import free_port

ROOT = Path(__file__).resolve().parents[2]
WEDNESDAY = "2026-11-25T10:30:00"  # a trading day, in market hours (IST)


def mci_env(home: Path, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MCI_")}
    env.update({"MCI_HOME": str(home), "MCI_ENGINE_PORT": str(port), "MCI_AT": WEDNESDAY})
    return env


@pytest.fixture
def paper_day(run_mci, mci_home):
    """(env, argv prefix) of a paper day in `running`, the demo engine trading; the engine is killed after."""
    port = free_port()
    env = {"MCI_ENGINE_PORT": str(port), "MCI_AT": WEDNESDAY}
    scan = run_mci("scan", env=env, timeout=90)
    assert scan.returncode == 0, scan.stdout + scan.stderr
    ignite = run_mci("ignite", env=env, timeout=90)
    assert ignite.returncode == 0, ignite.stdout + ignite.stderr
    yield mci_env(mci_home, port), [sys.executable, "-m", "mci"]
    record = mci_home / "engines" / "paper.pid"
    if record.exists():
        try:
            os.killpg(json.loads(record.read_text())["pid"], 9)
        except OSError:
            pass
