"""`mci token ...` command logic: real store, real DB, captured output; the token never shows."""

from __future__ import annotations

import io
import json
import os
import sqlite3
import threading
from dataclasses import replace
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

import pytest

from mci.clock import Clock, zone
from mci.brokers import kite_session
from mci.commands import token as command
from mci.commands import token_cli
from mci.errors import ExitCode, MciError, UnavailableError, UsageError
from mci.store.state import StateStore

IST = zone("Asia/Kolkata")
NOW = datetime(2026, 11, 23, 9, 0, tzinfo=IST)
TOKEN = "acc3ssT0kenZZ" + "9f8e7d6c5b4a3928"
SECRET = "api-s3cret-Do-Not-Show"
REQUEST = "reqT0ken12345abcdef"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def profile():
    from mci.config import load_profile

    return load_profile(
        ROOT / "profiles" / "kite-sim.yaml", env={"KITE_API_KEY": "simkey-4321", "KITE_API_SECRET": SECRET}
    )


@pytest.fixture
def env():
    return {}  # no MCI_TOKEN_KEY: the default key file in the state dir


def at(moment: datetime) -> Clock:
    return Clock(moment, frozen=True)


def fake_session(calls: list | None = None, **extra):
    def generate(request_token: str):
        if calls is not None:
            calls.append(request_token)
        return {"access_token": TOKEN, "user_id": "AB1234", "public_token": "pub", "api_key": "simkey-4321", **extra}

    return generate


def _run(capsys, fn, *args, **kwargs):
    code = fn(*args, **kwargs)
    out = capsys.readouterr()
    for text in (out.out, out.err):
        assert TOKEN not in text and SECRET not in text
    return code, out.out, out.err


def _login(
    profile,
    tmp_path,
    env,
    text=f"http://127.0.0.1:8765/redirect?action=login&status=success&request_token={REQUEST}",
    **kw,
):
    kw.setdefault("generate_session", fake_session())
    return command.login(profile, at(NOW), tmp_path, kw.pop("output", "text"), request_token=text, env=env, **kw)


def test_login_with_the_redirect_url_saves_the_token(capsys, tmp_path, profile, env):
    calls: list[str] = []
    code, out, _ = _run(capsys, _login, profile, tmp_path, env, generate_session=fake_session(calls))
    assert code == 0 and calls == [REQUEST]
    assert "token saved for AB1234" in out and "2026-11-24 06:00:00 IST" in out and "in 21h00m" in out
    from mci.store.token_store import open_token_store

    record = open_token_store(profile, tmp_path, env=env).load()
    assert (record.access_token, record.user_id, record.api_key_hint) == (TOKEN, "AB1234", "4321")
    audit = [r.data for r in StateStore.open(tmp_path).audit_records() if r.kind == "token"]
    assert audit == [{"event": "saved", "user_id": "AB1234", "expires_at": "2026-11-24T06:00:00+05:30", "how": "login"}]
    dump = "\n".join(sqlite3.connect(tmp_path / "state.db").iterdump())
    assert TOKEN not in dump and SECRET not in dump


def test_login_prints_the_url_and_reads_stdin(capsys, tmp_path, profile, env):
    stdin = io.StringIO(f"{REQUEST}\n")
    code, out, _ = _run(
        capsys, command.login, profile, at(NOW), tmp_path, "text", generate_session=fake_session(), env=env, stdin=stdin
    )
    assert code == 0
    assert "http://127.0.0.1:8765/connect/login?v=3&api_key=simkey-4321" in out


def test_login_json_keeps_stdout_pure_json(capsys, tmp_path, profile, env):
    stdin = io.StringIO(REQUEST)
    code, out, err = _run(
        capsys, command.login, profile, at(NOW), tmp_path, "json", generate_session=fake_session(), env=env, stdin=stdin
    )
    data = json.loads(out)
    assert (code, data["status"], data["state"], data["user_id"]) == (0, "saved", "valid", "AB1234")
    assert "connect/login" in err


def test_the_default_login_url_is_kites(profile):
    plain = replace(profile, broker=replace(profile.broker, login_url=None))
    assert kite_session.login_url(plain) == "https://kite.zerodha.com/connect/login?v=3&api_key=simkey-4321"


@pytest.mark.parametrize(
    "text, token",
    [
        (REQUEST, REQUEST),
        (f"  {REQUEST}  \n", REQUEST),
        (f"https://example.com/cb?request_token={REQUEST}&action=login&status=success", REQUEST),
        (f"?status=success&request_token={REQUEST}", REQUEST),
    ],
)
def test_parse_request_token(text, token):
    assert kite_session.parse_request_token(text) == token


@pytest.mark.parametrize(
    "text, code",
    [
        ("", ExitCode.INVALID),
        ("https://example.com/cb?action=login&status=success", ExitCode.INVALID),
        ("https://example.com/cb?status=cancelled&request_token=abcdefgh", ExitCode.FAILED),
        ("has spaces in it", ExitCode.INVALID),
    ],
)
def test_bad_request_tokens(text, code):
    with pytest.raises(MciError) as bad:
        kite_session.parse_request_token(text)
    assert bad.value.code == code


def _kite_error(name: str, message: str, code: int):
    cls = type(name, (Exception,), {"__module__": "kiteconnect.exceptions"})
    exc = cls(message)
    exc.code = code
    return exc


@pytest.mark.parametrize(
    "exc, code",
    [
        (_kite_error("TokenException", f"Token is invalid or has expired: {REQUEST} {SECRET}", 403), ExitCode.FAILED),
        (_kite_error("NetworkException", f"gateway down for {SECRET}", 503), ExitCode.UNAVAILABLE),
        (ConnectionRefusedError(f"refused {REQUEST}"), ExitCode.UNAVAILABLE),
        (RuntimeError(f"odd {SECRET}"), ExitCode.FAILED),
    ],
)
def test_session_failures_are_redacted_what_why_how(capsys, tmp_path, profile, env, exc, code):
    def failing(request_token):
        raise exc

    with pytest.raises(MciError) as failed:
        _login(profile, tmp_path, env, text=REQUEST, generate_session=failing)
    err = failed.value
    assert err.code == code
    rendered = err.render() + json.dumps(err.as_dict())
    assert SECRET not in rendered and REQUEST not in rendered
    assert err.__cause__ is None and err.__suppress_context__
    assert not (tmp_path / "tokens" / "kite-sim.token").exists()


def test_memory_only_mode_refuses_login_before_asking_kite(tmp_path, profile):
    calls: list[str] = []
    with pytest.raises(UsageError) as refused:
        _login(profile, tmp_path, {"MCI_ACCESS_TOKEN": TOKEN}, generate_session=fake_session(calls))
    assert calls == [] and "memory-only" in refused.value.what and TOKEN not in refused.value.render()


def test_a_recent_login_time_wins_over_now():
    just_before = datetime(2026, 11, 23, 5, 59, 58)  # naive, IST: as Kite sends it
    issued = kite_session.issue_time(just_before, datetime(2026, 11, 23, 6, 0, 1, tzinfo=IST))
    assert issued == just_before.replace(tzinfo=IST)  # so it dies at 06:00 today, not tomorrow
    assert kite_session.issue_time(datetime(2021, 1, 1, 16, 15, 14), NOW) == NOW  # stale: ignored
    assert kite_session.issue_time("2026-11-23 08:59:00", NOW) == datetime(2026, 11, 23, 8, 59, tzinfo=IST)
    assert kite_session.issue_time(None, NOW) == NOW


def test_set_from_stdin(capsys, tmp_path, profile, env):
    code, out, _ = _run(
        capsys,
        command.set_token,
        profile,
        at(NOW),
        tmp_path,
        "text",
        user_id="AB1234",
        env=env,
        stdin=io.StringIO(TOKEN + "\n"),
    )
    assert code == 0 and "token saved for AB1234" in out
    with pytest.raises(UsageError):
        command.set_token(profile, at(NOW), tmp_path, "text", env=env, stdin=io.StringIO("two words"))


EXPIRES = datetime(2026, 11, 24, 6, 0, tzinfo=IST)


@pytest.mark.parametrize(
    "moment, state, code, words",
    [
        (NOW + timedelta(hours=1), "valid", 0, "valid for AB1234"),
        (EXPIRES - timedelta(minutes=12), "expiring", 1, "still usable"),
        (EXPIRES - timedelta(seconds=1), "expiring", 1, "in 1s"),
        (EXPIRES, "expired", 1, "EXPIRED"),
        (EXPIRES + timedelta(hours=3), "expired", 1, "3h00m ago"),
    ],
)
def test_status_states_and_exit_codes(capsys, tmp_path, profile, env, moment, state, code, words):
    _run(capsys, _login, profile, tmp_path, env)
    got, out, _ = _run(capsys, command.status, profile, at(moment), tmp_path, "text", env=env)
    assert got == code and words in out and "2026-11-24 06:00:00 IST" in out
    got, out, _ = _run(capsys, command.status, profile, at(moment), tmp_path, "json", env=env)
    data = json.loads(out)
    assert (got, data["state"], data["exit_code"]) == (code, state, code)
    assert data["expires_at"] == "2026-11-24T06:00:00+05:30"


def test_status_missing(capsys, tmp_path, profile, env):
    code, out, _ = _run(capsys, command.status, profile, at(NOW), tmp_path, "json", env=env)
    assert code == 1 and json.loads(out)["state"] == "missing"
    code, out, _ = _run(capsys, command.status, profile, at(NOW), tmp_path, "text", env=env)
    assert "missing" in out and "mci token login" in out


def test_status_refuses_a_readable_token_file_without_leaking(capsys, tmp_path, profile, env):
    _run(capsys, _login, profile, tmp_path, env)
    path = tmp_path / "tokens" / "kite-sim.token"
    os.chmod(path, 0o644)
    with pytest.raises(MciError) as refused:
        command.status(profile, at(NOW), tmp_path, "text", env=env)
    assert refused.value.code == ExitCode.INVALID and TOKEN not in refused.value.render()


def test_clear(capsys, tmp_path, profile, env):
    _run(capsys, _login, profile, tmp_path, env)
    code, out, _ = _run(capsys, command.clear, profile, at(NOW), tmp_path, "text", env=env)
    assert code == 0 and "cleared" in out
    code, out, _ = _run(capsys, command.clear, profile, at(NOW), tmp_path, "json", env=env)
    assert json.loads(out)["status"] == "absent"
    assert command.status(profile, at(NOW), tmp_path, "text", env=env) == 1


def test_paper_profiles_have_no_kite_login():
    from mci.config import load_profile

    with pytest.raises(UsageError) as refused:
        kite_session.kite_generate_session(load_profile(None))
    assert "paper" in refused.value.what


class _KiteSession(BaseHTTPRequestHandler):
    """Just enough of POST /session/token (Kite Connect v3) for kiteconnect's generate_session."""

    seen: list = []

    def do_POST(self):
        form = parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode())
        type(self).seen.append((self.path, form))
        if form.get("request_token") == [REQUEST]:
            status, body = (
                200,
                {
                    "status": "success",
                    "data": {
                        "user_id": "XX0000",
                        "access_token": TOKEN,
                        "public_token": "p",
                        "api_key": "simkey-4321",
                        "login_time": datetime.now(IST).strftime("%Y-%m-%d %H:%M:%S"),
                    },
                },
            )
        else:
            status, body = (
                403,
                {"status": "error", "message": "Token is invalid or has expired.", "error_type": "TokenException"},
            )
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


@pytest.fixture
def kite_server(monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _KiteSession)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _KiteSession.seen = []
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_the_production_path_through_kiteconnect(capsys, tmp_path, profile, env, kite_server):
    local = replace(profile, broker=replace(profile.broker, root=kite_server))
    code, out, _ = _run(capsys, command.login, local, Clock(), tmp_path, "json", request_token=REQUEST, env=env)
    assert code == 0 and json.loads(out)["user_id"] == "XX0000"
    path, form = _KiteSession.seen[0]
    assert path == "/session/token" and form["api_key"] == ["simkey-4321"] and "checksum" in form
    assert SECRET not in json.dumps(form)  # the secret only goes into the checksum

    with pytest.raises(MciError) as refused:
        command.login(local, Clock(), tmp_path, "text", request_token="wrongtoken1", env=env)
    assert refused.value.what == "Kite refused the request token" and refused.value.code == ExitCode.FAILED


def test_kite_unreachable_is_unavailable(tmp_path, profile, env, monkeypatch):
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    local = replace(
        profile, broker=replace(profile.broker, root=f"http://127.0.0.1:{port}", timeout=timedelta(seconds=2))
    )
    with pytest.raises(UnavailableError):
        command.login(local, Clock(), tmp_path, "text", request_token=REQUEST, env=env)


def test_register_wires_token_and_breaker_subcommands(tmp_path, monkeypatch):
    import typer
    from typer.testing import CliRunner

    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """test app"""

    token_cli.register(app)
    monkeypatch.setenv("MCI_HOME", str(tmp_path))
    runner = CliRunner()
    result = runner.invoke(app, ["token", "status", "-o", "json", "--at", "2026-11-23T09:00"])
    assert result.exit_code == 1 and json.loads(result.stdout)["state"] == "missing"
    result = runner.invoke(app, ["breaker", "status", "-o", "json"])
    assert result.exit_code == 0 and json.loads(result.stdout)["breakers"][0]["name"] == "broker"
    result = runner.invoke(app, ["breaker", "reset", "broker"])
    assert result.exit_code == 0 and "-> closed" in result.stdout
    result = runner.invoke(app, ["breaker", "reset", "nope"])
    assert isinstance(result.exception, UsageError) and "broker" in result.exception.why
