"""The first five minutes: `mci init` (a commented starter profile) and `mci doctor` (the environment)."""

from __future__ import annotations

import os
import re
import socket
import stat
import sys
from dataclasses import dataclass
from pathlib import Path

from typing import TYPE_CHECKING, Any

from mci.errors import ExitCode, UsageError
from mci.output.console import emit, emit_json

if TYPE_CHECKING:
    from mci.clock import Clock
    from mci.config.model import Profile
    from mci.market.calendar import ExchangeCalendar

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")

PAPER_HEADER = """\
# Starter profile written by `mci init` (mci {version}) from the shipped paper profile.
# Paper trading: no broker account, no secrets; a simulated NSE exchange inside mci.
#
#   mci validate {path}            check it after every edit
#   mci scan -p {path}             the 12-point pre-ignition scan (passes in NSE hours)
#   mci ignite -p {path}           start the demo engine (after a passed scan)
#   mci status -p {path} --watch   the day at a glance
#   mci shutdown -p {path}         stop the engine, keep positions
#
"""

KITE_HEADER = """\
# Starter profile written by `mci init --kite` (mci {version}) from the shipped kite-sim profile.
# Kite Connect: by default it talks to the local simulator (`mci sim kite`), so you can rehearse
# with no real money. Secrets never live here; export them:
#   export KITE_API_KEY=...  KITE_API_SECRET=...     # any values for the simulator
#   mci sim kite                                     # in another shell: the simulator on :8765
#   mci token login -p {path}                        # each morning (tokens die 06:00 IST)
#   mci scan -p {path}  /  mci ignite -p {path}  /  mci status -p {path} --watch
#
# For a REAL account (real money): delete the `root` and `login_url` lines (they then default to
# https://api.kite.trade), set redirect_url to your Kite app's, review every risk limit, and see
# profiles/zerodha-live.yaml for the encrypted token store settings.
#
"""


def init(path: Path | None, kite: bool, name: str | None, force: bool, output: str) -> int:
    from mci import __version__
    from mci.validation import validate_paths
    from mci.config.placeholder_env import PlaceholderEnv
    from mci.resources import profiles_dir, schemas_dir

    target = path or Path("kite.yaml" if kite else "paper.yaml")
    if target.is_dir():
        target = target / ("kite.yaml" if kite else "paper.yaml")
    if target.suffix not in (".yaml", ".yml"):
        raise UsageError(
            f"{target} does not end in .yaml",
            "mci reads profiles from .yaml files",
            f"give a path such as {target.with_suffix('.yaml')}",
        )
    name = name or target.stem
    if not NAME.match(name):
        raise UsageError(
            f"{name!r} is not a valid profile name", "names are letters, digits, '_', '.', '-'", "pass --name NAME"
        )
    if not target.parent.is_dir():
        raise UsageError(
            f"the folder {target.parent} does not exist",
            "mci init writes into an existing folder and never creates one silently",
            f"create it (mkdir -p {target.parent}) or fix the path",
        )
    if target.exists() and not force:
        raise UsageError(
            f"{target} already exists",
            "mci init never overwrites a profile by accident",
            "choose another path, or pass --force to replace it",
        )
    source = profiles_dir() / ("kite-sim.yaml" if kite else "paper.yaml")
    body = source.read_text(encoding="utf-8")
    lines = body.splitlines(keepends=True)
    # Drop the shipped file's own preamble (schema line and comments up to `version:`): the header replaces it.
    start = next(i for i, line in enumerate(lines) if line.startswith("version:"))
    body = "".join(lines[start:])
    body = re.sub(r"(?m)^name: .*$", f"name: {name}", body, count=1)
    schema = (schemas_dir() / "profile.schema.json").resolve()
    header = (KITE_HEADER if kite else PAPER_HEADER).format(version=__version__, path=target)
    text = f"# yaml-language-server: $schema={schema.as_uri()}\n#\n{header}{body}"
    existed = target.exists()
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, target)
    # Validate what was written with the real validator; secrets may not be exported yet.
    report = validate_paths([target], env=PlaceholderEnv() if kite else None)
    ok = not report.errors
    if not ok and not existed:
        target.unlink()
    if output == "json":
        emit_json(
            {
                "status": "written" if ok else "invalid",
                "path": str(target),
                "name": name,
                "broker": "kite" if kite else "paper",
                "errors": [e.as_dict() for e in report.errors],
            }
        )
    else:
        for error in report.errors:
            emit(error.render())
        if ok:
            emit(f"wrote {target}: a {'Kite' if kite else 'paper'} starter profile named {name!r} (valid)")
            emit(
                f"next:  mci scan -p {target}"
                if not kite
                else f"next:  mci sim kite   then   mci token login -p {target}"
            )
        else:
            emit(f"the starter profile did not validate (a bug in mci init); {target} was not kept")
    return int(ExitCode.OK if ok else ExitCode.INVALID)


# ---------------------------------------------------------------- doctor


@dataclass
class Finding:
    check: str
    level: str  # ok | warn | fail
    detail: str
    how: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"check": self.check, "level": self.level, "detail": self.detail, "how": self.how}


def doctor(profile_path: Path | None, clock: "Clock", output: str, env: dict[str, str] | None = None) -> int:
    env = dict(os.environ) if env is None else env
    findings: list[Finding] = [_python(), _mci()]
    state, state_finding = _state_dir(env)
    findings.append(state_finding)
    profile = None
    try:
        from mci.config import load_profile

        profile = load_profile(profile_path, cache_dir=state / "cache" if state else None)
        findings.append(Finding("profile", "ok", f"{profile.name} ({profile.broker.kind}) from {profile.path}"))
    except Exception as exc:  # noqa: BLE001 — reported, never raised
        findings.append(Finding("profile", "fail", _what(exc), getattr(exc, "how", "") or "mci validate PROFILE"))
    if profile is not None:
        findings.append(_token_store(profile, state))
        findings.append(_calendar(profile, clock, state))
        findings.append(_broker(profile))
    findings.append(_engine_port(env))
    failed = any(f.level == "fail" for f in findings)
    if output == "json":
        emit_json({"status": "failed" if failed else "ok", "findings": [f.as_dict() for f in findings]})
    else:
        for f in findings:
            emit(f"{f.level.upper():<5} {f.check:<13} {f.detail}")
            if f.how and f.level != "ok":
                emit(f"      {'':<13} HOW: {f.how}")
        emit(
            "doctor: "
            + (
                "a check FAILED"
                if failed
                else "ok" + (" (with warnings)" if any(f.level == "warn" for f in findings) else "")
            )
        )
    return int(ExitCode.FAILED if failed else ExitCode.OK)


def _what(exc: BaseException) -> str:
    what = getattr(exc, "what", None)
    return what if what else f"{type(exc).__name__}: {exc}"


def _python() -> Finding:
    v = sys.version_info
    text = f"Python {v.major}.{v.minor}.{v.micro} at {sys.executable}"
    if v < (3, 11):
        return Finding("python", "fail", text, "install Python 3.11 or newer")
    return Finding("python", "ok", text)


def _mci() -> Finding:
    from mci import __version__
    from mci.resources import data_root

    return Finding("mci", "ok", f"mci {__version__}; schemas, rules and profiles from {data_root()}")


def _state_dir(env: dict[str, str]) -> tuple[Path | None, Finding]:
    from mci.paths import state_dir

    try:
        path = state_dir(env)
    except Exception as exc:  # noqa: BLE001
        return None, Finding("state dir", "fail", _what(exc), getattr(exc, "how", "") or "set MCI_HOME")
    mode = stat.S_IMODE(path.stat().st_mode)
    if not os.access(path, os.W_OK | os.X_OK):
        return path, Finding(
            "state dir",
            "fail",
            f"{path} is not writable (mode {mode:04o})",
            f"chmod u+rwx {path}, or set MCI_HOME to a writable directory",
        )
    if mode & 0o022:
        return path, Finding(
            "state dir", "warn", f"{path} is writable by others (mode {mode:04o})", f"chmod 700 {path}"
        )
    if mode & 0o077:
        return path, Finding(
            "state dir", "warn", f"{path} is readable by others (mode {mode:04o})", f"chmod 700 {path}"
        )
    return path, Finding("state dir", "ok", f"{path} (mode {mode:04o}, writable)")


def _token_store(profile: "Profile", state: Path | None) -> Finding:
    if profile.broker.kind != "kite":
        return Finding("token store", "ok", f"not used ({profile.broker.kind} broker)")
    from mci.store.token_store import default_token_path, token_store_settings

    path, key_file, _ = token_store_settings(profile)
    if path is None:
        if state is None:
            return Finding("token store", "warn", "no state directory", "fix the state dir first")
        path = default_token_path(state, profile.name)
    problems, shared = [], []
    for label, file in (("token", path), ("key", key_file or (state / "tokens" / "token.key" if state else None))):
        if file is not None and file.exists():
            mode = stat.S_IMODE(file.stat().st_mode)
            if mode & 0o077:
                problems.append(f"the {label} file {file} is accessible to others (mode {mode:04o})")
                shared.append(str(file))
    if problems:
        return Finding("token store", "fail", "; ".join(problems), "chmod 600 " + " ".join(shared))
    if not path.exists():
        return Finding("token store", "warn", f"no token stored yet ({path})", f"mci token login -p {profile.path}")
    return Finding("token store", "ok", f"{path} (mode 0600)")


def _calendar(profile: "Profile", clock: "Clock", state: Path | None) -> Finding:
    """The calendar of every segment the profile trades (NSE's, MCX's, ...): the worst of them, all named."""
    from mci.market.calendar import calendars_for

    try:
        groups = calendars_for(profile, state)
    except Exception as exc:  # noqa: BLE001
        return Finding("calendar", "fail", _what(exc), getattr(exc, "how", "") or "mci validate rules/calendars/")
    findings = [_one_calendar(calendar, segments, clock) for segments, calendar in groups]
    if len(findings) == 1:
        return findings[0]
    rank = {"ok": 0, "warn": 1, "fail": 2}
    worst = max(findings, key=lambda f: rank[f.level])
    return Finding(
        "calendar",
        worst.level,
        "; ".join(f.detail for f in findings),
        "; ".join(dict.fromkeys(f.how for f in findings if f.how and f.level != "ok")),
    )


def _one_calendar(calendar: "ExchangeCalendar", segments: tuple[str, ...], clock: "Clock") -> Finding:
    from mci.market.calendar import update_how

    today = calendar.local(clock.now()).date()
    left = (calendar.covers_until - today).days
    status = "EXPIRED: the scan fails" if left < 0 else f"{left} day(s) left"
    detail = (
        f"{calendar.label} holidays known until {calendar.covers_until} "
        f"({'/'.join(segments)}; {status}; {calendar.path})"
    )
    how = update_how(calendar)
    if left < 0:
        return Finding("calendar", "fail", detail, how)
    if left <= 30:  # the scan's holiday check warns from the same day (warn_within_days: 30)
        return Finding("calendar", "warn", detail, how)
    shipped = _shipped_beyond(calendar)
    if shipped is not None:  # a local copy from an older update shadows a newer shipped calendar
        return Finding(
            "calendar",
            "warn",
            f"{detail}; the shipped {shipped.path} covers until {shipped.covers_until}",
            f"run `mci calendar update --install` again (it starts from the local copy), or remove "
            f"{calendar.path} to use the shipped calendar",
        )
    return Finding("calendar", "ok", detail)


def _shipped_beyond(calendar: "ExchangeCalendar") -> "ExchangeCalendar | None":
    from mci.market.calendar import calendars_dir, load_calendar

    if calendar.path is None or calendar.path.parent == calendars_dir() or calendar.path.parent.name != "calendars":
        return None
    try:
        shipped = load_calendar(calendar.name)
    except Exception:  # noqa: BLE001 — only a hint; the scan reads the local copy either way
        return None
    return shipped if shipped.covers_until > calendar.covers_until else None


def _broker(profile: "Profile", timeout: float = 5.0) -> Finding:
    if profile.broker.kind == "paper":
        return Finding("broker", "ok", "paper: the simulated exchange inside mci (no network)")
    import urllib.error
    import urllib.request

    root = (profile.broker.root or "https://api.kite.trade").rstrip("/")
    try:
        with urllib.request.urlopen(root + "/", timeout=timeout) as r:
            code = r.status
    except urllib.error.HTTPError as exc:
        code = exc.code  # any HTTP answer means the API is reachable
    except Exception as exc:  # noqa: BLE001
        reason = getattr(exc, "reason", exc)
        return Finding(
            "broker",
            "fail",
            f"{root} unreachable: {reason}",
            "check the network (and `mci sim kite` for a simulator profile)",
        )
    return Finding("broker", "ok", f"{root} answers (HTTP {code})")


def _engine_port(env: dict[str, str]) -> Finding:
    raw = env.get("MCI_ENGINE_PORT", "8787")
    try:
        port = int(raw)
    except ValueError:
        return Finding(
            "engine port", "fail", f"MCI_ENGINE_PORT={raw!r} is not a port number", "export MCI_ENGINE_PORT=8787"
        )
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        in_use = s.connect_ex(("127.0.0.1", port)) == 0
    if in_use:
        return Finding(
            "engine port",
            "warn",
            f"127.0.0.1:{port} is in use (a running engine, or another program)",
            "if it is not your engine: export MCI_ENGINE_PORT=<a free port>",
        )
    return Finding("engine port", "ok", f"127.0.0.1:{port} is free for the demo engine (MCI_ENGINE_PORT)")
