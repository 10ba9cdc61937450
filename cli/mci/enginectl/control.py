"""EngineControl: start, watch, pause and stop the trading engine a profile declares.

Files, all in `<state_dir>/engines/` (0700):
  <profile>.pid    JSON {pid, start_time, argv, started_at, how, log_offset}; written atomically
  <profile>.log    the engine's stdout and stderr, appended, one header line per start
  <profile>.token  the access token when `token_via: file` (0600); removed by stop()
  <profile>.env    for systemd / http engines, which mci does not spawn: an
                   EnvironmentFile (0600) with MCI_HOME, MCI_PROFILE and the token

The token reaches the engine through its environment or that file, never its
argv (any user can read /proc/<pid>/cmdline), and never enters a log line.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping

from mci import procs
from mci.enginectl import systemd
from mci.enginectl.info import EngineInfo, PauseInfo, StopInfo
from mci.enginectl.probes import CallFailed, host_port, http_call, http_probe, origin, port_answers, run_command
from mci.errors import ConfigError, UnavailableError
from mci.observability.redact import redact

if TYPE_CHECKING:
    from mci.config.model import Profile

DEFAULT_WITHIN = timedelta(seconds=30)
DEFAULT_INTERVAL = timedelta(seconds=1)
DEFAULT_GRACE = timedelta(seconds=10)
KILL_WAIT = 5.0  # after SIGKILL only a process stuck in the kernel (D state) survives this long
PORT_CLOSE_WAIT = 3.0  # a listener closes with its process; longer means someone else answers
PROBE_TIMEOUT = 2.0
CALL_TIMEOUT = 10.0  # pause / stop / start by HTTP
COMMAND_TIMEOUT = 30.0  # health, pause and stop commands
POLL = 0.05  # seconds between liveness checks while waiting
LOG_TAIL_LINES = 20

TOKEN_ENV = "KITE_ACCESS_TOKEN"
TOKEN_FILE_ENV = "MCI_TOKEN_FILE"
# Inherited token variables are dropped: the engine gets exactly the one its profile declares.
_TOKEN_VARS = (TOKEN_ENV, TOKEN_FILE_ENV, "MCI_ACCESS_TOKEN")
_SECRET_ASSIGNMENT = re.compile(r"(?i)((?:access_token|api_secret|request_token|token)\s*[=:]\s*)[^\s,;&\"']+")


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


def _seconds(value: Any, default: timedelta) -> float:
    if value is None:
        return default.total_seconds()
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class EngineControl:
    def __init__(
        self,
        profile: "Profile",
        state_dir: Path,
        *,
        env: Mapping[str, str] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        now: Callable[[], datetime] = _utc_now,
    ):
        self.profile = profile
        self.state_dir = Path(state_dir)
        self.env = dict(os.environ if env is None else env)
        self.spec: Mapping[str, Any] = profile.engine or {}
        self.monotonic, self.sleep, self.now = monotonic, sleep, now
        folder = self.state_dir / "engines"
        self.pidfile = folder / f"{profile.name}.pid"
        self.log_path = folder / f"{profile.name}.log"
        self.token_file = folder / f"{profile.name}.token"
        self.env_file = folder / f"{profile.name}.env"
        self._token: str | None = None

    # ------------------------------------------------------------ declared values

    @property
    def health_url(self) -> str | None:
        return (self.spec.get("health") or {}).get("http")

    @property
    def token_via(self) -> str:
        return self.spec.get("token_via") or "env"

    def _where(self) -> str:
        return f"engine block of {self.profile.path}"

    def _cwd(self) -> Path:
        folder = Path(self.profile.path).resolve().parent
        cwd: Path = folder / (self.spec.get("start") or {}).get("cwd", ".")
        if not cwd.is_dir():
            raise ConfigError(
                f"the engine's working folder {cwd} does not exist",
                "engine.start.cwd (relative to the profile's folder) must name a folder",
                f"create it or correct engine.start.cwd in {self.profile.path}",
            )
        return cwd

    def _argv(self, argv: list[str], cwd: Path, role: str) -> list[str]:
        """The declared argv with its program resolved; `python`/`python3` is the Python running mci."""
        program = argv[0]
        if program in ("python", "python3"):
            # The shipped demo engine is `python -m mci.demo_engine`: it must find this mci, wherever it is installed.
            return [sys.executable, *argv[1:]]
        if "/" in program:
            path = Path(program) if Path(program).is_absolute() else cwd / program
            found = str(path) if path.is_file() else None
        else:
            found = shutil.which(program, path=self.env.get("PATH", os.defpath))
        if not found:
            raise ConfigError(
                f"the engine {role} command {program!r} was not found",
                f"no such program {'at that path' if '/' in program else 'on PATH'} (PATH={self.env.get('PATH', '')})",
                f"install it, or write its full path in the {self._where()}",
            )
        if not os.access(found, os.X_OK):
            raise ConfigError(
                f"the engine {role} command {found} is not executable",
                "the file exists but this user may not run it",
                f"chmod +x {found}, or run it through its interpreter",
            )
        return [found, *argv[1:]]

    def _base_env(self) -> dict[str, str]:
        env = {k: v for k, v in self.env.items() if k not in _TOKEN_VARS}
        env["MCI_HOME"] = str(self.state_dir.resolve())
        env["MCI_PROFILE"] = str(Path(self.profile.path).resolve())
        return env

    def _secrets(self) -> list[str | None]:
        found: list[str | None] = [self._token, self.profile.broker.api_secret]
        found += [self.env.get(name) for name in (TOKEN_ENV, "MCI_ACCESS_TOKEN", "KITE_API_SECRET")]
        try:
            found.append(self.token_file.read_text(encoding="utf-8").strip())
        except OSError:
            pass
        return found

    def _redact(self, text: str) -> str:
        return _SECRET_ASSIGNMENT.sub(r"\1***", redact(text, self._secrets()))

    # ------------------------------------------------------------ pidfile

    def _record(self) -> dict[str, Any] | None:
        try:
            return procs.read_json(self.pidfile)
        except (ValueError, OSError) as exc:
            raise UnavailableError(
                f"cannot read the engine pidfile {self.pidfile}",
                f"{exc}; mci cannot tell whether the engine it started still runs",
                f"check for the engine by hand (ps -ef), stop it if it runs, then delete {self.pidfile}",
            ) from None

    def _info(self, record: Mapping[str, Any], pid: int | None = None) -> EngineInfo:
        return EngineInfo(
            pid if pid is not None else record.get("pid"),
            datetime.fromisoformat(record["started_at"]),
            tuple(record.get("argv") or ()),
            self.log_path,
            record["how"],
        )

    def _write_record(
        self, how: str, pid: int | None, argv: list[str], log_offset: int, **extra: Any
    ) -> dict[str, Any]:
        record = {
            "pid": pid,
            "start_time": procs.start_time(pid) if pid else None,
            "argv": argv,
            "started_at": self.now().isoformat(),
            "how": how,
            "log_offset": log_offset,
            **extra,
        }
        procs.write_private(self.pidfile, json.dumps(record, indent=1).encode())
        return record

    def _forget(self) -> None:
        for path in (self.pidfile, self.token_file, self.env_file):
            procs.remove(path)

    def _alive(self, record: Mapping[str, Any]) -> bool:
        pid: Any = record.get("pid")  # a JSON number, or null for an engine mci did not spawn
        return bool(pid) and procs.engine_alive(int(pid), int(record.get("start_time") or 0))

    # ------------------------------------------------------------ running / probe

    def running(self) -> EngineInfo | None:
        record = self._record()
        if record is None:
            return None
        how = record.get("how")
        if how == "command":
            if self._alive(record):
                return self._info(record)
        elif how == "systemd":
            if systemd.is_active(record["unit"], self._base_env()):
                return self._info(record, systemd.main_pid(record["unit"], self._base_env()))
        elif how == "http":
            if self.probe()[0]:
                return self._info(record)
        self._forget()  # stale: the engine it names is gone
        return None

    def probe(self) -> tuple[bool, str]:
        health = self.spec.get("health") or {}
        if health.get("http"):
            return http_probe(health["http"], PROBE_TIMEOUT)
        if health.get("command"):
            cwd = self._cwd()
            argv = self._argv(list(health["command"]), cwd, "health")
            status, last = run_command(argv, env=self._base_env(), cwd=cwd, timeout=COMMAND_TIMEOUT)
            detail = self._redact(
                f"{shlex.join(health['command'])}: "
                f"{'timed out' if status is None else procs.exit_text(status)} {last}".rstrip()
            )
            return status == 0, detail
        record = self._record()
        alive = record is not None and record.get("how") == "command" and self._alive(record)
        return alive, "no health check declared: " + ("the engine process runs" if alive else "no engine process")

    def _exited(self, record: Mapping[str, Any] | None) -> str | None:
        """Why a command-started engine is known dead (fail fast), else None."""
        if record is None:
            return "no engine was started (no pidfile)"
        if record.get("how") != "command":
            return None
        pid = int(record["pid"])
        status = procs.reap(pid)
        if status is not None:
            return f"pid {pid} ended with {procs.exit_text(status)}"
        if not self._alive(record):
            return f"pid {pid} is gone"
        return None

    def wait_healthy(self, within: timedelta | None = None, interval: timedelta | None = None) -> None:
        health = self.spec.get("health") or {}
        within_s = _seconds(within if within is not None else health.get("within"), DEFAULT_WITHIN)
        interval_s = max(_seconds(interval if interval is not None else health.get("interval"), DEFAULT_INTERVAL), POLL)
        deadline = self.monotonic() + within_s
        record = self._record()
        while True:
            healthy, detail = self.probe()
            if healthy:
                return
            gone = self._exited(record)
            if gone:
                raise self._unhealthy(f"stopped before it became healthy ({gone})", detail, record)
            if self.monotonic() >= deadline:
                raise self._unhealthy(f"is not healthy within {within_s:g}s", detail, record)
            next_probe = min(self.monotonic() + interval_s, deadline)
            while self.monotonic() < next_probe:
                self.sleep(min(POLL, next_probe - self.monotonic()))
                if self._exited(record):
                    break

    def _unhealthy(self, what: str, detail: str, record: Mapping[str, Any] | None) -> UnavailableError:
        tail = self.log_tail(int((record or {}).get("log_offset") or 0))
        why = f"last health probe: {self._redact(detail)}"
        if tail:
            why += f"\n  log {self.log_path} ends with:\n    " + "\n    ".join(tail)
        else:
            why += f"; the log {self.log_path} has nothing from this start"
        return UnavailableError(
            f"the engine of profile {self.profile.name!r} {what}",
            why,
            f"fix the cause shown in {self.log_path}, then start the engine again; "
            "the health check is engine.health in " + str(self.profile.path),
            log=str(self.log_path),
            probe=self._redact(detail),
        )

    def log_tail(self, offset: int = 0, lines: int = LOG_TAIL_LINES) -> list[str]:
        """The last lines written since `offset` (this start's output), secrets masked."""
        try:
            with open(self.log_path, "rb") as f:
                size = f.seek(0, os.SEEK_END)
                f.seek(max(offset, size - 8192))
                text = f.read().decode("utf-8", errors="replace")
        except OSError:
            return []
        return [self._redact(line) for line in text.splitlines()[-lines:] if line.strip()]

    # ------------------------------------------------------------ start

    def start(self, token: str | None) -> EngineInfo:
        start = self.spec.get("start")
        if not start:
            raise ConfigError(
                f"profile {self.profile.name!r} declares no engine to start",
                "engine.start is missing",
                f"add engine.start (command, systemd or http) to {self.profile.path}",
            )
        current = self.running()
        if current is not None:
            return current
        self._token = token or None
        url = self.health_url
        if "systemd" in start and systemd.is_active(start["systemd"], self._base_env()):
            # The declared unit already runs (started by systemd itself, or by hand): it is the engine.
            # A `token_via: file` engine can re-read the fresh token from the file.
            self._write_env_file()
            record = self._write_record(
                "systemd", None, ["systemctl", "start", start["systemd"]], 0, unit=start["systemd"]
            )
            return self._info(record, systemd.main_pid(start["systemd"], self._base_env()))
        if "command" in start and url and port_answers(url):
            # Our pidfile says no engine runs; whatever answers would pass the health check in its place.
            raise UnavailableError(
                f"cannot start the engine: something already answers at {origin(url)}",
                "mci has no record of starting it (another engine, a copy started by hand, or "
                "another program on that port); its health would be mistaken for the new engine's",
                f"stop that program (find it with: ss -ltnp 'sport = :{host_port(url)[1]}'), "
                f"or give this engine another port in the {self._where()}",
            )
        for leftover in (self.token_file, self.env_file):  # from a start that crashed before its pidfile
            procs.remove(leftover)
        try:
            if "command" in start:
                return self._start_command(list(start["command"]))
            if "systemd" in start:
                return self._start_systemd(start["systemd"])
            return self._start_http(start["http"])
        except BaseException:
            if not self.pidfile.exists():  # no engine recorded: no token left behind for it either
                procs.remove(self.token_file)
                procs.remove(self.env_file)
            raise

    def _disk_error(self, exc: OSError, path: Path) -> UnavailableError:
        return UnavailableError(
            f"cannot write {path}",
            exc.strerror or str(exc),
            "check that the state directory (MCI_HOME) is writable and not full",
        )

    def _token_env(self) -> dict[str, str]:
        if not self._token:
            return {}
        if self.token_via == "file":
            procs.write_private(self.token_file, self._token.encode())
            return {TOKEN_FILE_ENV: str(self.token_file.resolve())}
        return {TOKEN_ENV: self._token}

    def _start_command(self, declared: list[str]) -> EngineInfo:
        cwd = self._cwd()
        argv = self._argv(declared, cwd, "start")
        try:
            env = {**self._base_env(), **self._token_env()}
            self.log_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            log = os.open(self.log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        except OSError as exc:
            raise self._disk_error(exc, self.log_path) from None
        try:
            offset = os.fstat(log).st_size
            os.write(
                log,
                f"---- {self.now().isoformat()} mci starts the engine of profile {self.profile.name}: "
                f"{shlex.join(argv)} (in {cwd})\n".encode(),
            )
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=cwd,
                env=env,
                start_new_session=True,
                close_fds=True,
            )
        except OSError as exc:
            raise ConfigError(
                f"cannot run the engine command {argv[0]}",
                exc.strerror or str(exc),
                f"check the program and its permissions, or correct the {self._where()}",
            ) from None
        finally:
            os.close(log)
        procs.children[proc.pid] = proc
        try:
            record = self._write_record("command", proc.pid, argv, offset)
        except OSError as exc:
            # An engine nobody can find again must not keep trading: stop it before reporting.
            procs.signal_group(proc.pid, procs.signal_number("KILL"))
            proc.wait()
            raise self._disk_error(exc, self.pidfile) from None
        return self._info(record)

    def _write_env_file(self) -> None:
        """systemd and HTTP engines are not our children: they read MCI_* and the token from this file."""
        lines = {**{k: v for k, v in self._base_env().items() if k in ("MCI_HOME", "MCI_PROFILE")}, **self._token_env()}
        text = "".join(
            f'{k}="{v.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"\n' for k, v in lines.items()
        )
        try:
            procs.write_private(self.env_file, text.encode())
        except OSError as exc:
            raise self._disk_error(exc, self.env_file) from None

    def _start_systemd(self, unit: str) -> EngineInfo:
        self._write_env_file()
        systemd.run("start", unit, env=self._base_env(), redact=self._redact, where=self._where())
        record = self._write_record("systemd", None, ["systemctl", "start", unit], 0, unit=unit)
        return self._info(record, systemd.main_pid(unit, self._base_env()))

    def _start_http(self, call: Mapping[str, Any]) -> EngineInfo:
        self._write_env_file()
        self._http(call, "start")
        record = self._write_record("http", None, [call.get("method", "POST"), call["url"]], 0)
        return self._info(record)

    # ------------------------------------------------------------ http / command plumbing

    def _http(self, call: Mapping[str, Any] | str, action: str) -> str:
        url, method = (call, "POST") if isinstance(call, str) else (call["url"], call.get("method", "POST"))
        try:
            status, body = http_call(url, method, CALL_TIMEOUT)
        except CallFailed as exc:
            raise UnavailableError(
                f"cannot {action} the engine: {method} {url} got no answer",
                str(exc),
                f"check that the engine runs and listens there, or correct the {self._where()}",
            ) from None
        if not 200 <= status < 300:
            raise UnavailableError(
                f"cannot {action} the engine: {method} {url} answered HTTP {status}",
                self._redact(body) or "no body",
                f"read {self.log_path} or the engine's own log",
                status=status,
            )
        return f"{method} {url}: HTTP {status}"

    def _command(self, declared: list[str], action: str) -> str:
        cwd = self._cwd()
        argv = self._argv(declared, cwd, action)
        try:
            status, last = run_command(argv, env=self._base_env(), cwd=cwd, timeout=COMMAND_TIMEOUT)
        except OSError as exc:
            raise ConfigError(
                f"cannot run the engine {action} command {argv[0]}",
                exc.strerror or str(exc),
                f"correct the {self._where()}",
            ) from None
        if status != 0:
            result = "timed out" if status is None else procs.exit_text(status)
            raise UnavailableError(
                f"the engine {action} command failed: {shlex.join(declared)}",
                self._redact(f"{result}; it said: {last or 'nothing'}"),
                f"run it by hand to see why, or correct the {self._where()}",
            )
        return f"{shlex.join(declared)}: exit status 0"

    # ------------------------------------------------------------ pause

    def pause(self) -> PauseInfo:
        return self._deliver("pause", "the engine keeps accepting operations until it stops")

    def resume(self) -> PauseInfo:
        """Undo a pause (`mci resume`): engine.resume as declared, else POST /resume beside an HTTP health check."""
        return self._deliver("resume", "the engine stays paused until it is restarted")

    def has_adapter(self, action: str) -> bool:
        """Whether a pause or resume can reach this engine at all: declared, or guessed beside an HTTP health check
        (a guess an engine may still answer 404)."""
        return bool(self.spec.get(action)) or bool(self.health_url)

    def _deliver(self, action: str, otherwise: str) -> PauseInfo:
        info = self.running()
        if info is None:
            return PauseInfo(False, "none", f"the engine is not running: nothing to {action}")
        declared = self.spec.get(action) or {}
        if declared.get("http"):
            return PauseInfo(True, "http", self._http(declared["http"], action))
        if declared.get("command"):
            return PauseInfo(True, "command", self._command(list(declared["command"]), action))
        if declared.get("signal"):
            if info.pid is None:
                raise ConfigError(
                    f"cannot {action} the engine by signal: mci knows no pid for it",
                    f"it was started by {info.how}",
                    f"declare engine.{action} as http or command in {self.profile.path}",
                )
            # The leader only: helpers in its group may not handle e.g. USR1, whose default action kills.
            os.kill(info.pid, procs.signal_number(declared["signal"]))
            return PauseInfo(True, "signal", f"sent SIG{declared['signal']} to pid {info.pid}")
        if self.health_url:
            url = origin(self.health_url) + "/" + action
            try:
                return PauseInfo(True, "http", self._http(url, action))
            except UnavailableError as exc:
                if exc.details.get("status") not in (404, 405, 501):
                    raise
                # Not declared, and this engine has no such route: say so rather than fail a shutdown on a guess.
                return PauseInfo(
                    False,
                    "none",
                    f"engine.{action} is not declared and POST {url} answered HTTP "
                    f"{exc.details['status']}: {otherwise}",
                )
        return PauseInfo(
            False, "none", f"engine.{action} is not declared and the health check is not HTTP: {otherwise}"
        )

    # ------------------------------------------------------------ stop

    def stop(self, grace: timedelta | None = None, signal: str | None = None) -> StopInfo:
        """Stop as declared; `signal` (e.g. KILL, for the emergency) overrides the declaration for an engine mci started."""
        t0 = self.monotonic()
        declared = self.spec.get("stop") or {}
        grace_s = _seconds(grace if grace is not None else declared.get("grace"), DEFAULT_GRACE)
        record = self._record()
        info = self.running()
        url = self.health_url
        if info is None:
            if url and port_answers(url):
                raise UnavailableError(
                    f"an engine still answers at {origin(url)}, and mci has no record of starting it",
                    "it was started outside mci (or its pidfile was lost), so mci cannot stop it safely",
                    f"stop it by hand (find it with: ss -ltnp 'sport = :{host_port(url)[1]}')",
                )
            self._forget()
            return StopInfo(
                False, "none", None, False, timedelta(seconds=self.monotonic() - t0), "the engine was not running"
            )
        assert record is not None
        how, detail, forced = self._stop_how(declared, info), "", False
        if signal is not None and info.how == "command":
            how, declared = "signal", {**declared, "signal": signal}
        if how == "signal":
            forced = self._signal_stop(record, declared.get("signal", "TERM"), grace_s)
            detail = f"SIG{declared.get('signal', 'TERM')} to process group {info.pid}" + (
                "; SIGKILL after the grace" if forced else ""
            )
        elif how == "systemd":
            unit = declared.get("systemd") or record["unit"]  # a systemd start always records its unit
            systemd.run("stop", unit, env=self._base_env(), redact=self._redact, where=self._where())
            detail = f"systemctl stop {unit}"
        else:
            if how == "http":
                detail = self._http(declared.get("http") or origin(url or "") + "/stop", "stop")
            else:
                detail = self._command(list(declared["command"]), "stop")
            if info.how == "command":
                # Asked nicely; a process still there after the grace is stopped the hard way.
                forced = self._signal_stop(record, None, grace_s)
                detail += "; SIGKILL after the grace" if forced else ""
        # Without a pid (systemd, http) the port is all there is to watch: give it the grace.
        self._confirm_stopped(record, PORT_CLOSE_WAIT if info.pid else max(PORT_CLOSE_WAIT, grace_s))
        self._forget()
        return StopInfo(True, how, info.pid, forced, timedelta(seconds=self.monotonic() - t0), detail)

    def _stop_how(self, declared: Mapping[str, Any], info: EngineInfo) -> str:
        for how in ("signal", "command", "systemd", "http"):
            if declared.get(how):
                if how == "signal" and info.pid is None:
                    break
                return how
        if info.how == "command":
            return "signal"
        if info.how == "systemd":
            return "systemd"
        if self.health_url:
            return "http"
        raise ConfigError(
            "mci does not know how to stop this engine",
            f"it was started by {info.how}, engine.stop is not declared and the health check is not HTTP",
            f"declare engine.stop (http, command or systemd) in {self.profile.path}",
        )

    def _wait_gone(self, record: Mapping[str, Any], seconds: float) -> bool:
        deadline = self.monotonic() + seconds
        while self._alive(record):
            if self.monotonic() >= deadline:
                return False
            self.sleep(POLL)
        return True

    def _signal_stop(self, record: Mapping[str, Any], signame: str | None, grace_s: float) -> bool:
        """Signal the group (None: just wait), wait the grace, then SIGKILL. True when SIGKILL was needed."""
        pid = int(record["pid"])
        if signame and self._alive(record):
            procs.signal_group(pid, procs.signal_number(signame))
        if self._wait_gone(record, grace_s):
            return False
        procs.signal_group(pid, procs.signal_number("KILL"))
        if not self._wait_gone(record, KILL_WAIT):
            raise UnavailableError(
                f"the engine (process group {pid}) survived SIGKILL",
                "a process stuck in the kernel (state D: disk or network file system) cannot die yet",
                f"look at it: ps -o pid,stat,wchan,cmd -g {pid}; it ends when the kernel call returns",
            )
        return True

    def _confirm_stopped(self, record: Mapping[str, Any], port_wait: float) -> None:
        if record.get("how") == "command" and not self._wait_gone(record, KILL_WAIT):
            raise UnavailableError(
                f"the engine (pid {record['pid']}) still runs after the stop",
                "the stop was delivered but the process did not exit",
                "stop it by hand, or declare engine.stop as signal (TERM, then KILL after the grace)",
            )
        url = self.health_url
        if url:
            deadline = self.monotonic() + port_wait
            while port_answers(url):
                if self.monotonic() >= deadline:
                    raise UnavailableError(
                        f"something still answers at {origin(url)} after the engine stopped",
                        "another process listens on the engine's port (a second engine, or a copy started by hand)",
                        f"find and stop it: ss -ltnp 'sport = :{host_port(url)[1]}'",
                    )
                self.sleep(POLL)
