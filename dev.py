#!/usr/bin/env python3
"""Developer entry point: creates (or reuses) .venv, installs mci into it, runs a job.

    python3 dev.py scan [ARGS...]   run `mci scan` on the shipped paper profile
    python3 dev.py test [ARGS...]   run the whole test suite
    python3 dev.py mci  [ARGS...]   run any mci command inside the virtualenv
    python3 dev.py bench            run the benchmarks under bench/
    python3 dev.py cli-reference    regenerate docs/cli.md from the command tree (--check: only compare)

Needs only python3 (>= 3.11). Reinstalls when pyproject.toml changes.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = Path(os.environ.get("MCI_VENV", ROOT / ".venv"))
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")
STAMP = VENV / ".mci-install-stamp"


def fail(what: str, why: str, how: str, code: int = 3) -> None:
    sys.stderr.write(f"dev.py: WHAT: {what}\n  WHY: {why}\n  HOW: {how}\n")
    sys.exit(code)


def ensure_venv() -> None:
    if sys.version_info < (3, 11):
        fail("Python 3.11 or newer is required", f"this is {sys.version.split()[0]}", "run dev.py with python3.11+", 2)
    if not PYTHON.exists():
        print(f"dev.py: creating virtualenv {VENV}", file=sys.stderr)
        try:
            venv.EnvBuilder(with_pip=True, clear=True).create(VENV)
        except Exception as exc:  # ensurepip missing on some distributions
            fail("cannot create the virtualenv", str(exc), "install your distribution's python3-venv package")
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if STAMP.exists() and STAMP.read_text().strip() == wanted:
        return
    print("dev.py: installing mci and its test dependencies into the virtualenv", file=sys.stderr)
    pip = [str(PYTHON), "-m", "pip", "install", "--disable-pip-version-check", "-q"]
    if subprocess.call(pip + ["-e", f"{ROOT}[test]"]) != 0:
        fail(
            "pip could not install mci",
            "see pip's output above",
            "check the network access to the package index and retry",
        )
    STAMP.write_text(wanted)


def main(argv: list[str]) -> int:
    if not argv or argv[0] in {"-h", "--help"}:
        print(__doc__)
        return 0 if argv else 2
    job, rest = argv[0], argv[1:]
    ensure_venv()
    if job == "scan":
        command = [str(BIN / "mci"), "scan", *rest]
    elif job == "test":
        command = [str(PYTHON), "-m", "pytest", *rest]
    elif job == "mci":
        command = [str(BIN / "mci"), *rest]
    elif job == "cli-reference":
        command = [str(PYTHON), "-m", "tools.cli_reference", *rest]
    elif job == "bench":
        scripts = sorted((ROOT / "bench").glob("bench_*.py"))
        return max((subprocess.call([str(PYTHON), str(s)], cwd=ROOT) for s in scripts), default=0)
    else:
        print(f"dev.py: unknown job {job!r}\n{__doc__}", file=sys.stderr)
        return 2
    return subprocess.call(command, cwd=ROOT)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
