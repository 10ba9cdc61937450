"""command: a real child process judged by exit code and output; timeouts kill it and never pass."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from mci.errors import ConfigErrors
from mci.results import Status

from testing.gates import one, spec

PY = "{python}"


def test_exit_zero_with_matching_output_passes(tmp_path):
    r = one(tmp_path, spec("c", "command", argv=[PY, "-c", "print('lint: 0 problems')"], stdout_match=r"0 problems"))
    assert r.status is Status.PASSED, r.error
    assert r.facts["exit_code"] == 0 and "0 problems" in r.facts["stdout_tail"]
    assert r.summary.startswith("`{python} -c")  # shown as declared, not as this machine's interpreter path


def test_wrong_exit_code_fails_with_the_output_as_why(tmp_path):
    r = one(
        tmp_path,
        spec("c", "command", argv=[PY, "-c", "import sys; sys.stderr.write('E501 line too long\\n'); sys.exit(3)"]),
    )
    assert r.status is Status.FAILED
    assert "exited 3, expected 0" in r.error.what and "E501 line too long" in r.error.why
    assert "run `{python} -c" in r.error.how


def test_expected_exit_codes_and_output_patterns(tmp_path):
    argv = [PY, "-c", "import sys; print('REJECTED max_risk_per_trade'); sys.exit(1)"]
    assert one(tmp_path, spec("c", "command", argv=argv, exit_code=[0, 1])).status is Status.PASSED
    assert one(tmp_path, spec("c", "command", argv=argv, exit_code=1, stdout_match="max_risk")).status is Status.PASSED
    r = one(tmp_path, spec("c", "command", argv=argv, exit_code=1, stdout_match="^ACCEPTED"))
    assert r.status is Status.FAILED and "does not match /^ACCEPTED/" in r.error.what
    r = one(tmp_path, spec("c", "command", argv=argv, exit_code=1, output_not_match="REJECTED"))
    assert r.status is Status.FAILED and "contains /REJECTED/" in r.error.what


def test_stdin_cwd_and_env_reach_the_child(tmp_path):
    (tmp_path / "work").mkdir()
    code = (
        "import os, sys; print(sys.stdin.read().upper(), os.getcwd(), os.environ['GREETING'], os.environ['API_TOKEN'])"
    )
    r = one(
        tmp_path,
        spec(
            "c",
            "command",
            argv=[PY, "-c", code],
            stdin="hello",
            cwd="work",
            env={"GREETING": "namaste", "API_TOKEN": "tok-123456789"},
        ),
        cwd=tmp_path,
    )
    assert r.status is Status.PASSED, r.error
    assert "HELLO" in r.facts["stdout_tail"] and str(tmp_path / "work") in r.facts["stdout_tail"]
    assert "namaste ***" in r.facts["stdout_tail"]  # a secret-named variable's value is never shown


def test_secret_named_variables_are_not_inherited_and_never_shown(tmp_path, monkeypatch):
    monkeypatch.setenv("KITE_API_SECRET", "s3cr3t-value-for-the-test")
    code = "import os; print('secret is', os.environ.get('KITE_API_SECRET'))"
    r = one(tmp_path, spec("c", "command", argv=[PY, "-c", code]))
    assert "secret is None" in r.facts["stdout_tail"]
    r = one(tmp_path, spec("c", "command", argv=[PY, "-c", code], pass_env=["KITE_API_SECRET"]))
    assert r.status is Status.PASSED
    assert "secret is ***" in r.facts["stdout_tail"] and "s3cr3t" not in repr(r.as_dict())


def test_a_missing_program_fails_with_how_to_install(tmp_path):
    r = one(tmp_path, spec("c", "command", argv=["no-such-linter-xyz", "check", "."]))
    assert r.status is Status.FAILED
    assert "not found" in r.error.what and "install no-such-linter-xyz" in r.error.how


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads process states from /proc")
def test_a_timeout_fails_and_kills_the_command_and_what_it_started(tmp_path):
    pids = tmp_path / "pids"
    code = (
        "import subprocess, sys, time, pathlib; "
        "g = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']); "
        f"pathlib.Path({str(pids)!r}).write_text(f'{{__import__(\"os\").getpid()}} {{g.pid}}'); time.sleep(60)"
    )
    started = time.monotonic()
    r = one(tmp_path, spec("c", "command", check_timeout="3s", argv=[PY, "-c", code]))
    took = time.monotonic() - started
    assert r.status is Status.FAILED and "timed out after 2.7s" in r.error.what
    assert took < 3.0  # the command's own deadline (timeout less 10%) fires before the runner gives up
    child, grandchild = map(int, pids.read_text().split())
    deadline = time.monotonic() + 5
    while (_alive(child) or _alive(grandchild)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(child) and not _alive(grandchild)


def test_a_command_timeout_longer_than_the_check_is_refused_before_running(tmp_path):
    with pytest.raises(ConfigErrors) as info:
        one(tmp_path, spec("c", "command", check_timeout="5s", argv=[PY, "-c", "pass"], timeout="30s"))
    assert "does not fit in its timeout" in info.value.errors[0].what


def test_the_runner_timeout_still_fails_a_check_that_hangs_outside_the_command(tmp_path, monkeypatch):
    # Belt and braces: should the command's own deadline not fire, the runner's timeout fails the check.
    import mci.checks.command as command

    monkeypatch.setattr(
        command.P,
        "duration",
        lambda params, name, default: default if name != "timeout" else __import__("datetime").timedelta(seconds=30),
    )
    r = one(tmp_path, spec("c", "command", check_timeout="1s", argv=[PY, "-c", "import time; time.sleep(3)"]))
    assert r.status is Status.FAILED and "timed out" in r.error.what


def test_argv_must_be_a_list_never_a_shell_string(tmp_path):
    r = one(tmp_path, spec("c", "command", argv="ruff check . && rm -rf /"))
    assert r.status is Status.FAILED and "list of text items" in r.error.why
    assert os.path.exists("/")
