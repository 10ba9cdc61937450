"""A real git repository holding the shipped profiles/, rules/ and schemas/, committed, ready to be changed."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


class Repo:
    def __init__(self, root: Path):
        self.root = root

    def git(self, *args: str) -> str:
        done = subprocess.run(
            [
                "git",
                "-c",
                "user.name=Test",
                "-c",
                "user.email=test@example.invalid",
                "-c",
                "commit.gpgsign=false",
                *args,
            ],
            cwd=self.root,
            capture_output=True,
            text=True,
            check=True,
        )
        return done.stdout

    def commit(self, message: str = "change") -> None:
        self.git("add", "-A")
        self.git("commit", "-q", "--allow-empty", "-m", message)

    def path(self, rel: str) -> Path:
        return self.root / rel

    def read(self, rel: str) -> str:
        return self.path(rel).read_text(encoding="utf-8")

    def write(self, rel: str, text: str) -> None:
        self.path(rel).parent.mkdir(parents=True, exist_ok=True)
        self.path(rel).write_text(text, encoding="utf-8")

    def replace(self, rel: str, old: str, new: str) -> None:
        text = self.read(rel)
        assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times in {rel}"
        self.write(rel, text.replace(old, new))

    def cut(self, rel: str, start: str, end: str) -> str:
        """Remove the text from `start` up to (not including) `end`; returns what was removed."""
        text = self.read(rel)
        a = text.index(start)
        b = text.index(end, a)
        self.write(rel, text[:a] + text[b:])
        return text[a:b]

    def line_of(self, rel: str, needle: str) -> int:
        for number, line in enumerate(self.read(rel).splitlines(), start=1):
            if needle in line:
                return number
        raise AssertionError(f"{needle!r} not in {rel}")


@pytest.fixture
def repo(tmp_path) -> Repo:
    root = tmp_path / "config-repo"
    root.mkdir()
    for folder in ("profiles", "rules", "schemas"):
        shutil.copytree(ROOT / folder, root / folder)
    r = Repo(root)
    r.git("init", "-q", "-b", "main")
    r.commit("shipped config")
    return r


@pytest.fixture
def policy(run_mci, repo):
    """`mci policy ...` run for real, in the repository."""

    def run(*args: str, cwd: Path | None = None):
        return run_mci("policy", *args, cwd=cwd or repo.root)

    return run
