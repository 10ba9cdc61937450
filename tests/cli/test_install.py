"""A non-editable install, run from another directory, finds its schemas, rules and default profile."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_wheel_install_carries_its_data_and_runs_from_anywhere(tmp_path):
    wheels = tmp_path / "wheels"
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheels), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if build.returncode != 0 and "hatchling" in build.stderr:
        # Without hatchling in this environment, let pip fetch the build backend (PyPI is reachable in CI).
        build = subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(ROOT)],
            capture_output=True,
            text=True,
            timeout=300,
        )
    assert build.returncode == 0, build.stderr
    wheel = next(wheels.glob("mci-*.whl"))
    target = tmp_path / "site"
    install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert install.returncode == 0, install.stderr
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MCI_")}
    env.update({"PYTHONPATH": str(target), "MCI_HOME": str(tmp_path / "home"), "NO_COLOR": "1"})

    where = subprocess.run(
        [sys.executable, "-c", "import mci.resources as r; print(r.data_root())"],
        capture_output=True,
        text=True,
        env=env,
        cwd=elsewhere,
    )
    assert Path(where.stdout.strip()) == target / "mci" / "_data"
    for rel in [
        "schemas/profile.schema.json",
        "rules/scanner/twelve-point.yaml",
        "profiles/paper.yaml",
        "rules/calendars/nse.yaml",
    ]:
        assert (target / "mci" / "_data" / rel).is_file(), rel

    validate = subprocess.run(
        [sys.executable, "-m", "mci", "validate"], capture_output=True, text=True, env=env, cwd=elsewhere, timeout=60
    )
    assert validate.returncode == 0, validate.stdout + validate.stderr
    scan = subprocess.run(
        [sys.executable, "-m", "mci", "scan", "--at", "2026-11-23T10:30:00"],
        capture_output=True,
        text=True,
        env=env,
        cwd=elsewhere,
        timeout=60,
    )
    assert scan.returncode == 0, scan.stdout + scan.stderr
