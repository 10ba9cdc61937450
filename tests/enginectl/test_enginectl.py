"""EngineControl against real processes: the demo engine, throwaway commands, real ports and files."""

from __future__ import annotations

import json
import socket
import stat
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest

from mci.config import load_profile
from mci.enginectl import EngineControl, EngineInfo
from mci.enginectl.probes import http_call, port_answers
from mci.errors import ConfigError, ExitCode, UnavailableError
from tests.enginectl.helpers import cmdlines_with, engine_env, free_port, wait_for

TOKEN = "tok3nSECRETvalue1234"


@pytest.fixture
def control(mci_home):
    started: list[EngineControl] = []

    def make(profile) -> EngineControl:
        ctl = EngineControl(profile, mci_home, env=engine_env(mci_home))
        started.append(ctl)
        return ctl

    yield make
    for ctl in started:  # never leave an engine behind, whatever the test did
        try:
            ctl.stop(timedelta(seconds=1))
        except Exception:
            pass


def health(port: int) -> dict:
    return json.loads(http_call(f"http://127.0.0.1:{port}/health")[1])


def test_demo_engine_lifecycle_start_idempotent_pause_stop(demo_profile, control, mci_home):
    profile, port = demo_profile(max_orders=50)
    ctl = control(profile)
    assert ctl.running() is None

    t0 = time.monotonic()
    info = ctl.start(None)
    ctl.wait_healthy()
    to_healthy = time.monotonic() - t0
    assert isinstance(info, EngineInfo) and info.how == "command" and info.pid
    assert info.log_path == mci_home / "engines" / "eng.log"
    assert to_healthy < 5, f"healthy after {to_healthy:.2f}s"

    again = ctl.start(None)
    assert again.pid == info.pid
    assert cmdlines_with(f"--port\0{port}\0") == [info.pid]  # one engine process, not two
    assert EngineControl(profile, mci_home, env=engine_env(mci_home)).running().pid == info.pid  # another invocation

    assert wait_for(lambda: health(port)["orders_placed"] >= 2)
    paused = ctl.pause()
    assert paused.paused and paused.how == "http"
    assert health(port)["paused"] is True
    time.sleep(0.15)  # an entry placed just before the pause still gets its protective stop
    count = health(port)["orders_placed"]
    time.sleep(0.4)  # four order intervals
    assert health(port)["orders_placed"] == count

    t0 = time.monotonic()
    stopped = ctl.stop()
    to_stop = time.monotonic() - t0
    assert stopped.was_running and stopped.how == "signal" and not stopped.forced and stopped.pid == info.pid
    assert to_stop < 2, f"stopped after {to_stop:.2f}s"
    assert (
        not Path(f"/proc/{info.pid}").exists()
        or "Z" in Path(f"/proc/{info.pid}/stat").read_text().rsplit(")", 1)[1][:3]
    )
    assert not port_answers(f"http://127.0.0.1:{port}/")
    assert not ctl.pidfile.exists()
    assert ctl.running() is None
    again = ctl.stop()
    assert not again.was_running and again.how == "none"
    print(f"\ntime to healthy {to_healthy:.3f}s, time to stop {to_stop:.3f}s")


def test_pidfile_naming_a_reused_pid_is_not_the_engine(demo_profile, control, mci_home):
    profile, port = demo_profile()
    ctl = control(profile)
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"], start_new_session=True)
    try:
        ctl.pidfile.parent.mkdir(parents=True)
        ctl.pidfile.write_text(
            json.dumps(
                {
                    "pid": bystander.pid,
                    "start_time": 1,
                    "argv": ["python"],
                    "started_at": "2026-11-23T09:15:00+05:30",
                    "how": "command",
                    "log_offset": 0,
                }
            )
        )
        assert ctl.running() is None
        assert not ctl.pidfile.exists()  # stale pidfile cleaned
        ctl.pidfile.write_text(
            json.dumps(
                {
                    "pid": bystander.pid,
                    "start_time": 1,
                    "argv": ["python"],
                    "started_at": "2026-11-23T09:15:00+05:30",
                    "how": "command",
                    "log_offset": 0,
                }
            )
        )
        assert not ctl.stop().was_running
        info = ctl.start(None)  # starts a real engine instead of trusting the pid
        assert info.pid != bystander.pid
        ctl.wait_healthy()
        assert bystander.poll() is None  # never signalled
    finally:
        bystander.kill()
        bystander.wait()


def test_engine_that_exits_at_once_fails_fast_with_the_log_tail(make_profile, control, mci_home):
    port = free_port()
    script = (
        "import os, sys; print('boom: cannot read config.ini'); "
        "print('token was', os.environ.get('KITE_ACCESS_TOKEN')); sys.exit(3)"
    )
    profile = make_profile(
        f'  start: {{command: [python, -c, "{script}"]}}\n'
        f"  health: {{http: 'http://127.0.0.1:{port}/health', within: 20s, interval: 1s}}\n"
    )
    ctl = control(profile)
    ctl.start(TOKEN)
    t0 = time.monotonic()
    with pytest.raises(UnavailableError) as caught:
        ctl.wait_healthy()
    assert time.monotonic() - t0 < 2  # not the 20 s of `within`
    err = caught.value
    assert err.code == ExitCode.UNAVAILABLE
    assert "exit status 3" in err.what
    assert "boom: cannot read config.ini" in err.why and "no answer" in err.why
    assert TOKEN not in err.render() and "token was ***" in err.why
    assert str(ctl.log_path) in err.how


def test_token_never_in_argv_nor_log_and_reaches_the_environment(demo_profile, control, mci_home):
    profile, port = demo_profile()
    ctl = control(profile)
    info = ctl.start(TOKEN)
    ctl.wait_healthy()
    assert TOKEN not in Path(f"/proc/{info.pid}/cmdline").read_bytes().decode()
    environ = Path(f"/proc/{info.pid}/environ").read_bytes().split(b"\0")
    assert f"KITE_ACCESS_TOKEN={TOKEN}".encode() in environ
    assert f"MCI_HOME={mci_home.resolve()}".encode() in environ
    assert f"MCI_PROFILE={profile.path.resolve()}".encode() in environ
    assert TOKEN not in ctl.pidfile.read_text()
    ctl.stop()
    assert TOKEN not in ctl.log_path.read_text()


def test_token_via_file_is_0600_and_removed_at_stop(demo_profile, control, mci_home):
    profile, port = demo_profile(extra="  token_via: file\n")
    ctl = control(profile)
    info = ctl.start(TOKEN)
    ctl.wait_healthy()
    environ = Path(f"/proc/{info.pid}/environ").read_bytes().split(b"\0")
    assert not any(v.startswith(b"KITE_ACCESS_TOKEN=") for v in environ)
    assert f"MCI_TOKEN_FILE={ctl.token_file.resolve()}".encode() in environ
    assert stat.S_IMODE(ctl.token_file.stat().st_mode) == 0o600
    assert ctl.token_file.read_text() == TOKEN
    ctl.stop()
    assert not ctl.token_file.exists()


def test_inherited_token_variables_are_not_passed_on(demo_profile, mci_home):
    profile, _ = demo_profile()
    env = {**engine_env(mci_home), "KITE_ACCESS_TOKEN": "stale", "MCI_ACCESS_TOKEN": "stale2"}
    ctl = EngineControl(profile, mci_home, env=env)
    info = ctl.start(None)
    try:
        environ = Path(f"/proc/{info.pid}/environ").read_bytes().split(b"\0")
        assert not any(v.startswith((b"KITE_ACCESS_TOKEN=", b"MCI_ACCESS_TOKEN=")) for v in environ)
    finally:
        ctl.stop()


def test_start_refuses_when_the_health_port_is_taken(demo_profile, control, mci_home):
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        profile, port = demo_profile(port=squatter.getsockname()[1])
        ctl = control(profile)
        with pytest.raises(UnavailableError) as caught:
            ctl.start(None)
        assert "already answers" in caught.value.what and f"sport = :{port}" in caught.value.how
        assert not ctl.pidfile.exists()
        with pytest.raises(UnavailableError):  # stop will not call an unknown engine stopped
            ctl.stop()


def test_command_not_found_is_a_config_error(make_profile, control):
    ctl = control(make_profile("  start: {command: [no-such-engine-xyz, --go]}\n"))
    with pytest.raises(ConfigError) as caught:
        ctl.start(None)
    assert "no-such-engine-xyz" in caught.value.what and "PATH" in caught.value.why
    assert caught.value.code == ExitCode.INVALID


def test_a_file_that_is_not_executable_is_a_config_error(make_profile, control, tmp_path):
    (tmp_path / "profiles").mkdir()
    (tmp_path / "profiles" / "engine.sh").write_text("#!/bin/sh\nsleep 5\n")
    ctl = control(make_profile("  start: {command: [./engine.sh]}\n"))
    with pytest.raises(ConfigError) as caught:
        ctl.start(None)
    assert "not executable" in caught.value.what and "chmod +x" in caught.value.how


SLEEPER = "import signal, time; print('up', flush=True); time.sleep(60)"
# 'RE' 'ADY' apart: the log's header line quotes the argv, and the test must wait for the output itself.
STUBBORN = (
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('RE' + 'ADY', flush=True); "
    "time.sleep(60)"
)


def test_engine_ignoring_term_is_killed_after_the_grace(make_profile, control):
    ctl = control(
        make_profile(f'  start: {{command: [python, -c, "{STUBBORN}"]}}\n  stop: {{signal: TERM, grace: 300ms}}\n')
    )
    info = ctl.start(None)
    assert wait_for(lambda: "READY" in ctl.log_path.read_text())
    ok, detail = ctl.probe()
    assert ok and "process runs" in detail
    result = ctl.stop()
    assert result.forced and result.how == "signal" and result.elapsed >= timedelta(milliseconds=300)
    assert ctl.running() is None
    assert not any(p == info.pid for p in cmdlines_with("SIG_IGN"))


def test_health_by_command_and_pause_with_nothing_declared(make_profile, control, tmp_path):
    (tmp_path / "profiles").mkdir()
    flag = tmp_path / "profiles" / "ready"
    ctl = control(
        make_profile(
            f'  start: {{command: [python, -c, "{SLEEPER}"]}}\n'
            f"  health: {{command: [test, -e, '{flag}'], within: 5s, interval: 50ms}}\n"
        )
    )
    assert ctl.pause().how == "none"  # not running
    ctl.start(None)
    assert ctl.probe() == (False, f"test -e {flag}: exit status 1")
    flag.touch()
    ctl.wait_healthy()
    result = ctl.pause()
    assert not result.paused and result.how == "none" and "not declared" in result.detail
    assert ctl.stop().how == "signal"


def test_pause_and_stop_by_declared_signal_and_command(make_profile, control, tmp_path):
    (tmp_path / "profiles").mkdir()
    script = (
        "import signal, sys, time\n"
        "signal.signal(signal.SIGUSR1, lambda *a: print('paused', flush=True))\n"
        "print('up', flush=True)\n"
        "while True: time.sleep(0.05)\n"
    )
    (tmp_path / "profiles" / "engine.py").write_text(script)
    ctl = control(
        make_profile(
            "  start: {command: [python, engine.py]}\n"
            "  pause: {signal: USR1}\n"
            "  stop: {command: [python, -c, 'print(1)'], grace: 200ms}\n"
        )
    )
    ctl.start(None)
    assert wait_for(lambda: "up" in ctl.log_path.read_text())
    assert ctl.pause().how == "signal"
    assert wait_for(lambda: "paused" in ctl.log_path.read_text())
    result = ctl.stop()  # the command does not stop it: escalated to KILL after the grace
    assert result.how == "command" and result.forced
    assert ctl.running() is None


def test_systemd_without_systemctl_is_explained(make_profile, mci_home, tmp_path):
    profile = make_profile("  start: {systemd: demo.service}\n  token_via: file\n")
    ctl = EngineControl(profile, mci_home, env={"PATH": str(tmp_path), "MCI_HOME": str(mci_home)})
    with pytest.raises(UnavailableError) as caught:
        ctl.start(TOKEN)
    assert "systemctl" in caught.value.what and caught.value.how


def test_systemd_start_writes_a_private_environment_file(make_profile, mci_home, tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "calls"
    # A stand-in for systemctl: records its arguments; `is-active` answers per a flag file.
    (bin_dir / "systemctl").write_text(f"""#!/bin/sh
echo "$@" >> {calls}
case "$1" in
  start) touch {tmp_path}/active ;;
  stop) rm -f {tmp_path}/active ;;
  is-active) test -e {tmp_path}/active ;;
  show) echo 4242 ;;
esac
""")
    (bin_dir / "systemctl").chmod(0o755)
    profile = make_profile("  start: {systemd: demo.service}\n  token_via: file\n")
    ctl = EngineControl(profile, mci_home, env={"PATH": f"{bin_dir}:/usr/bin:/bin", "MCI_HOME": str(mci_home)})
    info = ctl.start(TOKEN)
    assert info.how == "systemd" and info.pid == 4242
    assert stat.S_IMODE(ctl.env_file.stat().st_mode) == 0o600
    env_text = ctl.env_file.read_text()
    assert f'MCI_TOKEN_FILE="{ctl.token_file.resolve()}"' in env_text and TOKEN not in env_text
    assert ctl.start(TOKEN).pid == 4242  # idempotent: is-active
    result = ctl.stop()
    assert result.how == "systemd"
    assert [line for line in calls.read_text().splitlines() if line.split()[0] in ("start", "stop")] == [
        "start demo.service",
        "stop demo.service",
    ]  # started once: the second start found it active
    assert not ctl.env_file.exists() and not ctl.token_file.exists()


def test_the_shipped_paper_profile_runs_its_demo_engine_on_mci_engine_port(mci_home):
    port = free_port()
    env = {**engine_env(mci_home), "MCI_ENGINE_PORT": str(port)}
    profile = load_profile(None, env=env)
    ctl = EngineControl(profile, mci_home, env=env)
    assert ctl.health_url == f"http://127.0.0.1:{port}/health"
    try:
        info = ctl.start(None)
        assert info.argv[:3] == (sys.executable, "-m", "mci.demo_engine")  # `python` is mci's own interpreter
        ctl.wait_healthy()
        assert ctl.pause().paused and health(port)["paused"] is True
    finally:
        result = ctl.stop()
    assert result.was_running and not result.forced and not port_answers(ctl.health_url)


def test_systemd_unit_already_active_is_adopted_not_started_twice(make_profile, mci_home, tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "calls"
    (bin_dir / "systemctl").write_text(f'#!/bin/sh\necho "$@" >> {calls}\n[ "$1" = show ] && echo 0\nexit 0\n')
    (bin_dir / "systemctl").chmod(0o755)
    profile = make_profile("  start: {systemd: demo.service}\n  token_via: file\n")
    ctl = EngineControl(profile, mci_home, env={"PATH": f"{bin_dir}:/usr/bin:/bin", "MCI_HOME": str(mci_home)})
    info = ctl.start(TOKEN)
    assert info.how == "systemd" and info.pid is None
    assert "start demo.service" not in calls.read_text()
    assert ctl.token_file.read_text() == TOKEN  # the running unit can re-read the fresh token


def test_engine_started_paused_and_stopped_over_http(make_profile, control, mci_home):
    port = free_port()
    # The engine runs already (a supervisor's, say); mci "starts" it by resuming it, and stops it over HTTP.
    engine = subprocess.Popen(
        [sys.executable, "-m", "mci.demo_engine", "--port", str(port), "--max-orders", "0"],
        env=engine_env(mci_home),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert wait_for(lambda: port_answers(f"http://127.0.0.1:{port}/"), timeout=10)
        ctl = control(
            make_profile(
                f"  start: {{http: {{url: 'http://127.0.0.1:{port}/resume'}}}}\n"
                f"  health: {{http: 'http://127.0.0.1:{port}/health', within: 5s, interval: 50ms}}\n"
                "  token_via: file\n"
            )
        )
        info = ctl.start(TOKEN)
        assert info.how == "http" and info.pid is None
        ctl.wait_healthy()
        assert ctl.running() is not None
        assert stat.S_IMODE(ctl.env_file.stat().st_mode) == 0o600 and TOKEN not in ctl.env_file.read_text()
        assert ctl.pause().how == "http" and health(port)["paused"] is True
        result = ctl.stop()
        assert result.how == "http" and "/stop" in result.detail
        assert engine.wait(timeout=3) == 0
        assert not port_answers(f"http://127.0.0.1:{port}/") and not ctl.env_file.exists()
    finally:
        if engine.poll() is None:
            engine.kill()
        engine.wait()


def test_wait_healthy_gives_up_after_within(make_profile, control):
    port = free_port()
    ctl = control(
        make_profile(
            f'  start: {{command: [python, -c, "{SLEEPER}"]}}\n'
            f"  health: {{http: 'http://127.0.0.1:{port}/health', within: 300ms, interval: 100ms}}\n"
        )
    )
    ctl.start(None)
    t0 = time.monotonic()
    with pytest.raises(UnavailableError) as caught:
        ctl.wait_healthy()
    assert 0.25 < time.monotonic() - t0 < 1.5
    assert "not healthy within 0.3s" in caught.value.what and "Connection refused" in caught.value.why


def test_a_failed_start_leaves_no_token_file(make_profile, control):
    ctl = control(make_profile("  start: {command: [no-such-engine-xyz]}\n  token_via: file\n"))
    with pytest.raises(ConfigError):
        ctl.start(TOKEN)
    assert not ctl.token_file.exists() and not ctl.pidfile.exists()


def test_default_pause_on_an_engine_without_a_pause_route_says_so(make_profile, control, tmp_path):
    port = free_port()
    (tmp_path / "profiles").mkdir()
    # An engine whose HTTP server knows only /health: http.server answers 501 to POST.
    (tmp_path / "profiles" / "engine.py").write_text(
        "import http.server\n"
        "class H(http.server.BaseHTTPRequestHandler):\n"
        "    def do_GET(self):\n"
        "        self.send_response(200); self.end_headers(); self.wfile.write(b'ok')\n"
        "    def log_message(self, *a): pass\n"
        f"http.server.HTTPServer(('127.0.0.1', {port}), H).serve_forever()\n"
    )
    ctl = control(
        make_profile(
            "  start: {command: [python, engine.py]}\n"
            f"  health: {{http: 'http://127.0.0.1:{port}/health', within: 5s, interval: 50ms}}\n"
        )
    )
    ctl.start(None)
    ctl.wait_healthy()
    result = ctl.pause()
    assert not result.paused and result.how == "none" and "HTTP 501" in result.detail
    assert ctl.stop().how == "signal"
