from __future__ import annotations

import pytest

from mci.config import load_profile
from tests.enginectl.helpers import PAPER, free_port


@pytest.fixture
def make_profile(tmp_path):
    """Write a copy of the paper profile with the given engine block (YAML text) and load it."""

    def make(engine_block: str, name: str = "eng"):
        folder = tmp_path / "profiles"
        folder.mkdir(exist_ok=True)
        head = PAPER.split("\nengine:")[0].replace("name: paper\n", f"name: {name}\n")
        path = folder / f"{name}.yaml"
        path.write_text(head + "\nengine:\n" + engine_block, encoding="utf-8")
        return load_profile(path, env={})

    return make


@pytest.fixture
def demo_profile(make_profile):
    """A paper profile whose engine is the demo engine on a free port, fast enough for tests."""

    def make(port: int | None = None, extra: str = "", interval: str = "0.1", max_orders: int = 4, name: str = "eng"):
        port = port or free_port()
        block = (
            f"  start: {{command: [python, -m, mci.demo_engine, --port, '{port}', --interval, '{interval}',"
            f" --max-orders, '{max_orders}']}}\n"
            f"  health: {{http: 'http://127.0.0.1:{port}/health', within: 15s, interval: 50ms}}\n" + extra
        )
        return make_profile(block, name), port

    return make
