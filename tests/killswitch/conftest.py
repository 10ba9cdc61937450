"""Fixtures of the kill-switch tests: real `mci` processes against the paper account or `mci sim kite`."""

from __future__ import annotations

import os

import pytest

from testing.killswitch import WEDNESDAY, engine_pid
from testing.killswitch import kite_day, sim  # noqa: F401 (fixtures)
from tests.enginectl.helpers import free_port


@pytest.fixture
def paper_day(run_mci, mci_home):
    """`mci` on the shipped paper profile, its demo engine on a free port; no engine outlives the test."""
    port = free_port()

    def mci(*args: str, timeout: float = 120, **env: str):
        return run_mci(*args, env={"MCI_ENGINE_PORT": str(port), "MCI_AT": WEDNESDAY, **env}, timeout=timeout)

    yield mci
    pid = engine_pid(mci_home, "paper")
    if pid:
        try:
            os.killpg(pid, 9)
        except OSError:
            pass
