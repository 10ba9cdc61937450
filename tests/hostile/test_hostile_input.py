"""Hostile input to the real CLI: devices, pipes, absurd instants, arbitrary bytes. Each is a clean refusal
(exit 2 with WHAT / WHY / HOW) within seconds, never a hang, a traceback or exit 70."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from testing.hypothesis_profiles import examples

ROOT = Path(__file__).resolve().parents[2]
INTERNAL = 70


def clean_refusal(done: subprocess.CompletedProcess, code: int = 2) -> None:
    out = done.stdout + done.stderr
    assert done.returncode == code, out
    assert "WHAT:" in out and "WHY:" in out and "HOW:" in out, out
    assert "Traceback" not in out


def test_validate_a_device_that_never_ends_is_refused_at_once(run_mci):
    started = time.monotonic()
    done = run_mci("validate", "/dev/zero", timeout=10)
    clean_refusal(done)
    assert "larger than" in done.stdout
    assert time.monotonic() - started < 5


def test_validate_reads_a_profile_piped_to_dev_stdin(mci_home):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MCI_")}
    env.update({"MCI_HOME": str(mci_home), "NO_COLOR": "1"})
    done = subprocess.run(
        [sys.executable, "-m", "mci", "validate", "/dev/stdin"],
        capture_output=True,
        text=True,
        input=(ROOT / "profiles" / "paper.yaml").read_text(encoding="utf-8"),
        env=env,
        cwd=ROOT,
        timeout=30,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("valid: 5 document(s): /dev/stdin")


@pytest.mark.parametrize("at", ["0001-01-01T00:00", "9999-12-31T23:59", "1969-07-20T20:17"])
@pytest.mark.parametrize(
    "command",
    [["scan"], ["token", "status", "-p", "profiles/kite-sim.yaml"], ["risk", "limits", "--capital", "100000"]],
)
def test_an_instant_outside_the_rehearsable_years_is_a_usage_error(run_mci, command, at):
    done = run_mci(*command, "--at", at, env={"KITE_API_KEY": "k", "KITE_API_SECRET": "s"})
    clean_refusal(done)
    assert "outside the years" in done.stderr


def test_the_edges_of_the_rehearsable_years_run(run_mci):
    for at in ("2000-01-03T10:00", "2099-12-31T23:59"):
        done = run_mci("scan", "--at", at)
        assert done.returncode in (0, 1), done.stdout + done.stderr  # a verdict, whatever it is


@settings(max_examples=examples(20), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=400))
def test_arbitrary_bytes_never_crash_validate_or_risk_check(run_mci, tmp_path, data):
    path = tmp_path / "input.yaml"
    path.write_bytes(data)
    for command in (["validate", str(path)], ["risk", "check", str(path), "--capital", "100000"]):
        done = run_mci(*command, "--at", "2026-11-25T10:30", timeout=20)
        assert done.returncode != INTERNAL and "Traceback" not in done.stdout + done.stderr, (
            command,
            data,
            done.stderr,
        )


@settings(max_examples=examples(25), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(at=st.one_of(st.text(max_size=30), st.datetimes().map(lambda d: d.isoformat())))
def test_arbitrary_at_strings_never_crash_scan(run_mci, at):
    if at.startswith("-") or "\0" in at:
        return  # an option, not a value; NUL cannot be passed in argv
    done = run_mci("scan", f"--at={at}", timeout=20)
    assert done.returncode in (0, 1, 2), (at, done.stdout + done.stderr)
    assert "Traceback" not in done.stdout + done.stderr


@pytest.mark.parametrize("command", [["scan", "--at", "2026-11-25T10:30", "--metrics-file"], ["init"]])
def test_a_missing_parent_folder_is_refused_never_created(run_mci, tmp_path, command):
    target = tmp_path / "no" / "such" / ("m.prom" if "scan" in command else "my.yaml")
    done = run_mci(*command, str(target))
    clean_refusal(done)
    assert "does not exist" in done.stderr and "never creates one silently" in done.stderr
    assert not (tmp_path / "no").exists()
