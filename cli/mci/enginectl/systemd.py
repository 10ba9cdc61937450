"""An engine that is a systemd unit: `systemctl start|stop|is-active|show`.

systemd starts the unit, not mci, so the unit reads MCI_HOME, MCI_PROFILE and
the token from the EnvironmentFile mci writes (see control.py): declare
`EnvironmentFile=<state dir>/engines/<profile>.env` in the unit.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from typing import Callable, Mapping

from mci.errors import UnavailableError

TIMEOUT = 120.0  # `systemctl start/stop` waits for the unit's own start or stop


def _program(env: Mapping[str, str], where: str = "engine block") -> str:
    program = shutil.which("systemctl", path=env.get("PATH", os.defpath))
    if program is None:
        raise UnavailableError(
            "systemctl is not available on this host",
            f"the {where} names a systemd unit, and systemctl is not on PATH",
            "run mci on the host that runs the unit, or start the engine with engine.start.command",
        )
    return program


def _systemctl(args: list[str], env: Mapping[str, str], where: str) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            [_program(env, where), *args],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            env=dict(env),
        )
    except subprocess.TimeoutExpired:
        raise UnavailableError(
            f"`systemctl {' '.join(args)}` did not finish within {TIMEOUT:g}s",
            "the unit's start or stop hangs",
            f"look at: journalctl -u {args[-1]}",
        ) from None


def run(verb: str, unit: str, *, env: Mapping[str, str], redact: Callable[[str], str], where: str) -> None:
    done = _systemctl([verb, unit], env, where)
    if done.returncode != 0:
        said = (done.stderr or done.stdout).strip() or f"exit status {done.returncode}"
        raise UnavailableError(
            f"`systemctl {verb} {unit}` failed",
            redact(said),
            f"look at: systemctl status {unit}; journalctl -u {unit} (a system unit needs root or a polkit rule)",
        )


def is_active(unit: str, env: Mapping[str, str]) -> bool:
    return _systemctl(["is-active", "--quiet", unit], env, "engine block").returncode == 0


def main_pid(unit: str, env: Mapping[str, str]) -> int | None:
    value = _systemctl(["show", "-p", "MainPID", "--value", unit], env, "engine block").stdout.strip()
    return int(value) if value.isdigit() and int(value) > 0 else None
