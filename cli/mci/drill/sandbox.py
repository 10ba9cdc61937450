"""The drill's throwaway world: a state directory of its own, an environment without the operator's secrets,
a free port for the engine, and a sweep that leaves no process of the drill behind.

Everything the drill starts carries `MCI_HOME=<its temp dir>` in its
environment; that unique path is how the final sweep knows a process is the
drill's (the engine runs in a session of its own, so Ctrl-C never reaches it).
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import signal
import socket
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from mci import procs
from mci.errors import UnavailableError

# The operator's own settings and secrets never reach a drill process.
STRIPPED_PREFIXES = ("MCI_", "KITE_")
_ENV_REF = re.compile(r"^\$\{env:([A-Za-z_][A-Za-z0-9_]*)(?::-[^}]*)?\}$")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def env_names(raw: Mapping[str, Any], *path: str) -> str | None:
    """The variable a raw (uninterpolated) profile field reads, `${env:NAME}` → NAME."""
    node: Any = raw
    for key in path:
        if not isinstance(node, Mapping):
            return None
        node = node.get(key)
    match = _ENV_REF.match(node.strip()) if isinstance(node, str) else None
    return match.group(1) if match else None


@dataclass
class Sandbox:
    home: Path
    engine_port: int
    env: dict[str, str] = field(default_factory=dict)
    keep: bool = False

    @classmethod
    def create(cls, keep: bool = False) -> "Sandbox":
        try:
            home = Path(tempfile.mkdtemp(prefix="mci-drill-")).resolve()  # the engine sees it resolved
        except OSError as exc:
            raise UnavailableError(
                "the drill cannot create its temporary state directory",
                f"the system said: {exc.strerror or exc}",
                "free space in the temp directory, or point TMPDIR at a writable one",
            ) from None
        env = {k: v for k, v in os.environ.items() if not k.startswith(STRIPPED_PREFIXES)}
        env.update(
            {
                "MCI_HOME": str(home),
                "NO_COLOR": "1",
                # A throwaway key: the drill's token is encrypted with it and dies with the sandbox.
                "MCI_TOKEN_KEY": secrets.token_hex(32),
                # The drill's simulator is an account of its own (a fresh api_key): so is its rate budget.
                "MCI_RATE_DIR": str(home / "rate"),
            }
        )
        port = free_port()
        env["MCI_ENGINE_PORT"] = str(port)
        return cls(home, port, env, keep)

    def simulator_secrets(self, raw_profile: Mapping[str, Any]) -> tuple[str, str]:
        """Fresh api_key / api_secret for the simulator, put where the profile reads them (never the operator's)."""
        key, secret = f"drill{secrets.token_hex(4)}", secrets.token_urlsafe(24)
        for path, value in ((("broker", "api_key"), key), (("broker", "api_secret"), secret)):
            name = env_names(raw_profile, *path)
            if name:
                self.env[name] = value
        token_key = env_names(raw_profile, "broker", "token_store", "token_key")
        if token_key:
            self.env[token_key] = self.env["MCI_TOKEN_KEY"]
        return key, secret

    def set_engine_port(self, port: int) -> None:
        self.engine_port = port
        self.env["MCI_ENGINE_PORT"] = str(port)

    # ------------------------------------------------------------ cleanup

    def engine_pids(self) -> list[int]:
        """The engine the drill's ignites started, from its pidfiles, if it still runs (pid + start time)."""
        found = []
        for pidfile in (self.home / "engines").glob("*.pid"):
            try:
                record = procs.read_json(pidfile) or {}
            except (OSError, ValueError):
                continue
            pid, started = record.get("pid"), record.get("start_time")
            if isinstance(pid, int) and pid > 0 and procs.engine_alive(pid, started or 0):
                found.append(pid)
        return found

    def stray_pids(self) -> list[int]:
        """Live processes other than this one whose environment names this sandbox as MCI_HOME."""
        if not procs.HAVE_PROC:
            return []
        marker = f"\0MCI_HOME={self.home}\0".encode()
        me = os.getpid()
        found = []
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit() or int(entry.name) == me:
                continue
            try:
                environ = b"\0" + Path(entry.path, "environ").read_bytes()
            except OSError:
                continue  # gone, or not ours to read: not ours
            stat = procs.proc_stat(int(entry.name))
            if marker in environ + b"\0" and stat is not None and stat.state not in ("Z", "X"):
                found.append(int(entry.name))
        return found

    def stop_everything(self, grace: float = 3.0) -> list[int]:
        """Terminate the engine's group and every stray; kill what is left after `grace`. The pids it had to stop."""
        targets = set(self.stray_pids())
        for pid in self.engine_pids():
            procs.signal_group(pid, signal.SIGTERM)
            targets.add(pid)
        for pid in targets:
            _signal(pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline and self.stray_pids():
            time.sleep(0.05)
        for pid in self.stray_pids():
            _signal(pid, signal.SIGKILL)
        for pid in targets:
            procs.reap(pid)
        return sorted(targets)

    def remove(self, force: bool = False) -> None:
        if force or not self.keep:
            shutil.rmtree(self.home, ignore_errors=True)


def _signal(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except (ProcessLookupError, PermissionError):
        pass
