"""Real inputs for the gates: reports made by pytest + pytest-cov on a throwaway project, a real HTTP
server on 127.0.0.1, profiles that point the shipped gates at them, and drill records in a real audit log."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest


CALC = """\
def add(a, b):
    return a + b


def sub(a, b):
    return a - b


def mul(a, b):
    return a * b


def div(a, b):
    if b == 0:
        raise ZeroDivisionError("b is zero")
    return a / b


def clamp(x, lo, hi):
    if x < lo:
        return lo
    if x > hi:
        return hi
    return x
"""

GOOD_TESTS = """\
import pytest

from calc import add, clamp, div, mul, sub


def test_arithmetic():
    assert add(2, 3) == 5 and sub(2, 3) == -1 and mul(2, 3) == 6 and div(6, 3) == 2


def test_div_by_zero():
    with pytest.raises(ZeroDivisionError):
        div(1, 0)


@pytest.mark.parametrize("x, want", [(-1, 0), (5, 5), (11, 10)])
def test_clamp(x, want):
    assert clamp(x, 0, 10) == want
"""

BAD_TESTS = """\
from calc import add, sub


def test_add():
    assert add(2, 3) == 5


def test_sub_is_wrong():
    assert sub(2, 3) == 1
"""


@dataclass(frozen=True)
class Project:
    """A tiny package and its tests after a real `pytest --cov --junitxml` run."""

    root: Path
    coverage: Path
    junit: Path
    pytest_exit: int


def make_project(base: Path, tests: str) -> Project:
    (base / "calc").mkdir(parents=True)
    (base / "calc" / "__init__.py").write_text(CALC)
    (base / "tests").mkdir()
    (base / "tests" / "test_calc.py").write_text(tests)
    (base / "pytest.ini").write_text("[pytest]\n")  # pins the rootdir here, away from mci's own config
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "COV_", "MCI_"))}
    env["PYTHONPATH"] = str(base)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--cov=calc",
            "--cov-report=xml:coverage.xml",
            "--junitxml=junit.xml",
            "tests",
        ],
        cwd=base,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert (base / "coverage.xml").is_file() and (base / "junit.xml").is_file(), proc.stdout + proc.stderr
    return Project(base, base / "coverage.xml", base / "junit.xml", proc.returncode)


@pytest.fixture(scope="session")
def good_project(tmp_path_factory) -> Project:
    project = make_project(tmp_path_factory.mktemp("good"), GOOD_TESTS)
    assert project.pytest_exit == 0
    return project


@pytest.fixture(scope="session")
def bad_project(tmp_path_factory) -> Project:
    project = make_project(tmp_path_factory.mktemp("bad"), BAD_TESTS)
    assert project.pytest_exit == 1  # one test fails, and coverage is low
    return project


# -- a real HTTP server ---------------------------------------------------------------------


@dataclass
class Health:
    """Answers GET /health from a script of (status, body): the last entry repeats, or with cycle the whole
    script does (a service that flaps for ever)."""

    url: str
    script: list[tuple[int, object]] = field(default_factory=lambda: [(200, {"status": "ok"})])
    cycle: bool = False
    hits: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def play(self, *answers: tuple[int, object], cycle: bool = False) -> None:
        with self.lock:
            self.script, self.cycle, self.hits = list(answers), cycle, 0

    def next(self) -> tuple[int, object]:
        with self.lock:
            n = len(self.script)
            answer = self.script[self.hits % n if self.cycle else min(self.hits, n - 1)]
            self.hits += 1
            return answer


@pytest.fixture
def health():
    state: dict[str, Health] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 — http.server's naming
            if self.path.split("?")[0] == "/redirect":
                self.send_response(302)
                self.send_header("Location", "/health")
                self.end_headers()
                return
            status, body = state["h"].next()
            if isinstance(body, (bytes, str)):
                data = body.encode() if isinstance(body, str) else body
                kind = "text/plain"
            else:
                data, kind = json.dumps(body).encode(), "application/json"
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    state["h"] = Health(f"http://127.0.0.1:{server.server_address[1]}/health")
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield state["h"]
    server.shutdown()
    server.server_close()
