"""command: run a program (an argv list, never a shell string) and judge its exit code and output.

The gate's "lint clean", "tests pass" and "pre-trade validators passing" are
commands. The child gets this environment minus secret-named variables
(…SECRET…, …TOKEN…, …PASSWORD…, …API_KEY…): a lint or test run has no business
with the broker's keys, and what it prints lands in CI logs. `pass_env` names
the ones a command does need. The child runs in its own process group, so a
timeout kills what it started too.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import time
from datetime import timedelta
from typing import Any, Mapping

from mci.checks import params as P
from mci.checks.base import Check, CheckContext, CheckOutcome, register
from mci.errors import ConfigError, MciError
from mci.observability.redact import redact

#: Without a gate to size it from the check's timeout (mci.gates.resolve does), stay under the runner's 10s default.
DEFAULT_TIMEOUT = timedelta(seconds=9)
_PLAIN = re.compile(r"[\w@%+=:,./{}-]+")
MINIMAL_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT", "PYTHONPATH", "VIRTUAL_ENV")


def expand_argv(ctx: CheckContext, argv: list[str]) -> list[str]:
    """`{python}` is the interpreter running mci, `{mci}` (first item) is this mci, `{profile}` the profile file."""
    out: list[str] = []
    profile_path = str(getattr(ctx.profile, "path", "") or "")
    for index, item in enumerate(argv):
        if index == 0 and item == "{mci}":
            out += [sys.executable, "-m", "mci"]
            continue
        out.append(item.replace("{python}", sys.executable).replace("{profile}", profile_path))
    return out


def display(argv: list[str]) -> str:
    """The argv as a person would type it; placeholders stay readable ({mci}, not '{mci}')."""
    return " ".join(a if _PLAIN.fullmatch(a) else shlex.quote(a) for a in argv)


def child_env(params: Mapping[str, Any]) -> dict[str, str]:
    keep = set(P.texts(params, "pass_env"))
    if P.flag(params, "inherit_env", True):
        env = {k: v for k, v in os.environ.items() if k in keep or not P.SECRET_NAME_RE.search(k)}
    else:
        env = {k: v for k, v in os.environ.items() if k in MINIMAL_ENV or k in keep}
    for name, value in P.mapping(params, "env").items():
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise ConfigError(
                f"env {name} has the value {type(value).__name__}, not text",
                "environment variables are text",
                f"quote the value of env.{name}",
            )
        env[name] = str(value)
    return env


def _regex(params: Mapping[str, Any], name: str) -> re.Pattern[str] | None:
    raw = params.get(name)
    if raw is None:
        return None
    try:
        return re.compile(P.text(params, name), re.MULTILINE)
    except re.error as exc:
        raise ConfigError(
            f"check parameter {name} is not a regular expression: {exc}",
            "stdout_match, stderr_match and output_not_match are Python regular expressions",
            f"fix `{name}`",
        ) from None


@register
class Command(Check):
    kind = "command"

    def run(self, ctx: CheckContext, params: Mapping[str, Any]) -> CheckOutcome:
        declared = P.texts(params, "argv")
        if not declared:
            P.required(params, "argv", "[ruff, check, .]")
        argv = expand_argv(ctx, declared)
        expected = P.whole_set(params, "exit_code", 0)
        timeout = P.duration(params, "timeout", DEFAULT_TIMEOUT) or DEFAULT_TIMEOUT
        cwd = P.file_path(ctx, params, "cwd", ".")
        env = child_env(params)
        stdin = params.get("stdin")
        if stdin is not None and not isinstance(stdin, str):
            raise ConfigError(
                "check parameter stdin must be text",
                "it is written to the command's standard input",
                "quote it, or use a YAML block (stdin: |)",
            )
        patterns = {name: _regex(params, name) for name in ("stdout_match", "stderr_match", "output_not_match")}
        hidden = P.secrets(ctx, [str(v) for k, v in P.mapping(params, "env").items() if P.SECRET_NAME_RE.search(k)])
        label = redact(display(declared), hidden)
        facts: dict[str, Any] = {"argv": label, "cwd": P.shown(cwd, ctx), "timeout": timeout}

        if not cwd.is_dir():
            raise MciError(
                f"`{label}` cannot start: its folder {cwd} does not exist",
                "cwd must be an existing folder (relative paths start where mci gate run was started)",
                "create the folder, or fix `cwd` in the check's params",
            )
        started = time.monotonic()
        try:
            proc = subprocess.Popen(
                argv,
                cwd=cwd,
                env=env,
                stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=os.name == "posix",
            )
        except FileNotFoundError:
            raise MciError(
                f"`{label}` cannot start: {argv[0]} is not found",
                f"no program {argv[0]!r} on PATH (or at that path) for the gate's environment",
                f"install {declared[0]} where the gate runs, or fix `argv` in the check's params",
            ) from None
        except PermissionError:
            raise MciError(
                f"`{label}` cannot start: {argv[0]} is not executable",
                "the file has no execute permission",
                f"chmod +x {argv[0]}, or run it through its interpreter in `argv`",
            ) from None
        try:
            out, err = proc.communicate(stdin.encode("utf-8") if stdin is not None else None, timeout.total_seconds())
        except subprocess.TimeoutExpired:
            _kill(proc)
            facts["duration"] = timedelta(seconds=time.monotonic() - started)
            return CheckOutcome.failed(
                MciError(
                    f"`{label}` timed out after {_secs(timeout)}",
                    "the command did not finish within the check's `timeout`; it and what it started were killed",
                    "run it by hand to see where it hangs; if it is legitimately slow, raise `timeout` (and the check's timeout:)",
                ),
                **facts,
            )
        except BaseException:
            _kill(proc)  # the runner abandoned us, or the process is interrupted: leave no child behind
            raise
        elapsed = timedelta(seconds=time.monotonic() - started)
        stdout = redact(out.decode("utf-8", "replace"), hidden)
        stderr = redact(err.decode("utf-8", "replace"), hidden)
        facts.update(
            exit_code=proc.returncode, duration=elapsed, stdout_tail=P.tail(stdout), stderr_tail=P.tail(stderr)
        )

        problems = []
        if proc.returncode not in expected:
            want = " or ".join(str(c) for c in sorted(expected))
            problems.append(f"it exited {proc.returncode}, expected {want}")
        if patterns["stdout_match"] and not patterns["stdout_match"].search(stdout):
            problems.append(f"its output does not match /{patterns['stdout_match'].pattern}/")
        if patterns["stderr_match"] and not patterns["stderr_match"].search(stderr):
            problems.append(f"its error output does not match /{patterns['stderr_match'].pattern}/")
        bad = patterns["output_not_match"]
        if bad and (bad.search(stdout) or bad.search(stderr)):
            problems.append(f"its output contains /{bad.pattern}/")
        if problems:
            said = P.tail(stderr or stdout, lines=6, chars=600) or "(it printed nothing)"
            return CheckOutcome.failed(
                MciError(
                    f"`{label}`: {'; '.join(problems)}",
                    f"its last output: {said}",
                    f"run `{label}` in {P.shown(cwd, ctx)} and fix what it reports",
                ),
                **facts,
            )
        return CheckOutcome.passed(f"`{label}` exited {proc.returncode} in {_secs(elapsed)}", **facts)


def _secs(delta: timedelta) -> str:
    return f"{delta.total_seconds():.1f}s"


def _kill(proc: subprocess.Popen[bytes]) -> None:
    try:
        if os.name == "posix":
            os.killpg(proc.pid, signal.SIGKILL)
        else:
            proc.kill()
    except (ProcessLookupError, PermissionError, OSError):
        pass
    try:
        proc.communicate(timeout=2)
    except (subprocess.TimeoutExpired, OSError, ValueError):
        pass  # a grandchild that left the group still holds the pipes; the process itself is dead
