"""The first five minutes: `mci init`, `mci doctor`, `mci --help` in one screen, an example in every command's
help, and shell completion through the real entry point."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import click
import pytest
import typer

ROOT = Path(__file__).resolve().parents[2]


# ---------------------------------------------------------------- mci init


def test_init_writes_a_commented_valid_paper_profile_and_refuses_to_overwrite(run_mci, tmp_path):
    target = tmp_path / "my-paper.yaml"
    out = run_mci("init", str(target))
    assert out.returncode == 0, out.stdout + out.stderr
    text = target.read_text()
    assert "name: my-paper" in text and "kind: paper" in text
    assert text.count("\n#") >= 20  # commented: every block explains itself
    assert "mci scan -p" in text
    assert run_mci("validate", str(target)).returncode == 0
    # The profile works: a scan runs on it (in session hours it passes).
    scan = run_mci("scan", "-p", str(target), "-o", "json", env={"MCI_AT": "2026-11-25T10:30:00"})
    assert scan.returncode == 0, scan.stdout + scan.stderr

    target.write_text("# mine\n")
    again = run_mci("init", str(target))
    assert again.returncode == 2 and "already exists" in again.stderr and "--force" in again.stderr
    assert target.read_text() == "# mine\n"
    forced = run_mci("init", str(target), "--force", "-o", "json")
    assert forced.returncode == 0 and json.loads(forced.stdout)["status"] == "written"
    assert "kind: paper" in target.read_text()


def test_init_kite_writes_a_simulator_profile_without_secrets(run_mci, tmp_path):
    (tmp_path / "desk").mkdir()
    out = run_mci("init", "--kite", str(tmp_path / "desk" / "kite-me.yaml"), "--name", "desk")
    assert out.returncode == 0, out.stdout + out.stderr
    text = (tmp_path / "desk" / "kite-me.yaml").read_text()
    assert "name: desk" in text and "kind: kite" in text
    assert "api_secret: ${env:KITE_API_SECRET}" in text and "REAL account" in text
    env = {"KITE_API_KEY": "k", "KITE_API_SECRET": "s"}
    assert run_mci("validate", str(tmp_path / "desk" / "kite-me.yaml"), env=env).returncode == 0


def test_init_refuses_a_bad_path(run_mci, tmp_path):
    out = run_mci("init", str(tmp_path / "profile.txt"))
    assert out.returncode == 2 and ".yaml" in out.stderr


# ---------------------------------------------------------------- mci doctor


def test_doctor_on_paper_is_ok(run_mci, mci_home):
    mci_home.chmod(0o700)
    out = run_mci("doctor", "-o", "json", env={"MCI_ENGINE_PORT": str(_free_port())})
    assert out.returncode == 0, out.stdout + out.stderr
    found = {f["check"]: f for f in json.loads(out.stdout)["findings"]}
    assert set(found) >= {"python", "mci", "state dir", "profile", "token store", "calendar", "broker", "engine port"}
    assert found["python"]["level"] == found["broker"]["level"] == found["state dir"]["level"] == "ok"
    assert found["engine port"]["level"] == "ok"
    text = run_mci("doctor").stdout
    assert "calendar" in text and "holidays known until" in text
    mci_home.chmod(0o777)
    shared = json.loads(run_mci("doctor", "-o", "json").stdout)["findings"]
    assert [f for f in shared if f["check"] == "state dir"][0]["level"] == "warn"


def test_doctor_fails_an_unreachable_kite_and_a_shared_token_file(run_mci, mci_home):
    port = _free_port()
    env = {"KITE_API_KEY": "k", "KITE_API_SECRET": "s", "MCI_SIM_URL": f"http://127.0.0.1:{port}"}
    tokens = mci_home / "tokens"
    tokens.mkdir()
    (tokens / "kite-sim.token").write_bytes(b"x")
    os.chmod(tokens / "kite-sim.token", 0o644)
    out = run_mci("doctor", "-p", "profiles/kite-sim.yaml", "-o", "json", env=env)
    assert out.returncode == 1, out.stdout + out.stderr
    found = {f["check"]: f for f in json.loads(out.stdout)["findings"]}
    assert found["broker"]["level"] == "fail" and "unreachable" in found["broker"]["detail"]
    assert found["token store"]["level"] == "fail" and "chmod 600" in found["token store"]["how"]
    text = run_mci("doctor", "-p", "profiles/kite-sim.yaml", env=env)
    assert "FAIL  broker" in text.stdout and "HOW:" in text.stdout and "Traceback" not in text.stderr


def test_doctor_reaches_a_running_kite_simulator(run_mci, mci_home):
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MCI_")}
    env.update({"MCI_HOME": str(mci_home), "KITE_API_KEY": "k", "KITE_API_SECRET": "s"})
    sim = subprocess.Popen(
        [sys.executable, "-m", "mci", "sim", "kite", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        from tests.enginectl.helpers import wait_for

        assert wait_for(lambda: _listening(port), timeout=20)
        out = run_mci(
            "doctor",
            "-p",
            "profiles/kite-sim.yaml",
            "-o",
            "json",
            env={"KITE_API_KEY": "k", "KITE_API_SECRET": "s", "MCI_SIM_URL": f"http://127.0.0.1:{port}"},
        )
        found = {f["check"]: f for f in json.loads(out.stdout)["findings"]}
        assert found["broker"]["level"] == "ok", found["broker"]
        assert found["token store"]["level"] == "warn"  # no login yet: a warning, not a failure
    finally:
        sim.terminate()
        sim.wait(timeout=10)


def test_doctor_fails_past_the_calendar(run_mci):
    out = run_mci("doctor", "-o", "json", "--at", "2031-01-05T10:00")
    found = {f["check"]: f for f in json.loads(out.stdout)["findings"]}
    assert out.returncode == 1 and found["calendar"]["level"] == "fail"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


# ---------------------------------------------------------------- help


def _leaves(command: click.Command, path: list[str]):
    if isinstance(command, click.Group):
        ctx = click.Context(command)
        for name in command.list_commands(ctx):
            yield from _leaves(command.get_command(ctx, name), [*path, name])
    else:
        yield " ".join(path), command


def test_every_command_help_has_an_example():
    from mci.app import app

    leaves = list(_leaves(typer.main.get_command(app), ["mci"]))
    assert len(leaves) > 30
    missing = [path for path, command in leaves if "Example" not in (command.help or "")]
    assert not missing, f"no 'Example:' in the help of: {missing}"


def test_mci_help_explains_the_day_in_one_screen(run_mci):
    out = run_mci("--help")
    assert out.returncode == 0
    for step in ("mci init", "mci scan", "mci ignite", "mci status --watch", "mci shutdown", "mci kill"):
        assert step in out.stdout
    assert len(out.stdout.splitlines()) <= 60


# ---------------------------------------------------------------- completion


def _complete(env: dict[str, str]) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if not k.startswith(("MCI_", "_MCI", "COMP_", "_TYPER"))}
    full.update(env)
    return subprocess.run([sys.executable, "-m", "mci"], capture_output=True, text=True, env=full, timeout=30)


def test_bash_completion_through_the_entry_point():
    out = _complete({"_MCI_COMPLETE": "complete_bash", "COMP_WORDS": "mci ri", "COMP_CWORD": "1"})
    assert out.returncode == 0 and out.stdout.split() == ["risk"]
    out = _complete({"_MCI_COMPLETE": "complete_bash", "COMP_WORDS": "mci token c", "COMP_CWORD": "2"})
    assert out.stdout.split() == ["clear"]
    out = _complete({"_MCI_COMPLETE": "complete_bash", "COMP_WORDS": "mci status --wa", "COMP_CWORD": "2"})
    assert "--watch" in out.stdout.split()


def test_zsh_completion_through_the_entry_point():
    out = _complete({"_MCI_COMPLETE": "complete_zsh", "_TYPER_COMPLETE_ARGS": "mci do"})
    assert out.returncode == 0 and "doctor" in out.stdout


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
def test_the_bash_script_completes_in_bash(tmp_path):
    """What --install-completion puts in ~/.bashrc, sourced in a real bash, completes `mci ri` to `risk`."""
    bindir = Path(sys.executable).parent
    mci = bindir / "mci"
    assert mci.exists(), "dev.py installs the mci console script next to the venv's Python"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MCI_", "_MCI", "COMP_"))}
    env["PATH"] = f"{bindir}{os.pathsep}{env.get('PATH', '')}"
    script = subprocess.run(
        [str(mci), "--show-completion", "bash"], capture_output=True, text=True, env=env, timeout=30
    ).stdout
    assert "complete" in script and "_mci_completion" in script
    (tmp_path / "completion.bash").write_text(script)
    probe = (
        f"source {tmp_path / 'completion.bash'}; COMP_WORDS=(mci ri); COMP_CWORD=1; "
        "_mci_completion mci ri mci; printf '%s\\n' \"${COMPREPLY[@]}\""
    )
    out = subprocess.run(
        ["bash", "--norc", "--noprofile", "-c", probe], capture_output=True, text=True, env=env, timeout=30
    )
    assert out.stdout.split() == ["risk"], out.stdout + out.stderr
