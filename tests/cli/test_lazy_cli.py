"""The lazily built `mci` group behaves as the group typer builds whole: same help, same errors, same completion."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path

import click
import pytest
import typer.main
from click.shell_completion import ShellComplete
from click.testing import CliRunner
from typer.core import TyperGroup

from mci.app import app
from mci.typer_lazy import LazyGroup, lazy_command

ROOT = Path(__file__).resolve().parents[2]


def eager() -> click.Group:
    """What typer itself builds: every command and parameter, in its own TyperGroup class."""
    plain = copy.copy(app)
    plain.info = copy.copy(app.info)
    plain.info.cls = TyperGroup
    group = typer.main.get_command(plain)
    assert type(group) is TyperGroup
    return group


def invoke(command: click.Command, args: list[str]):
    result = CliRunner().invoke(command, args, prog_name="mci", env={"COLUMNS": "80", "NO_COLOR": "1"})
    return result.exit_code, result.output


def all_paths(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths = []
    for name in group.list_commands(click.Context(group)):
        command = group.get_command(click.Context(group), name)
        paths.append(prefix + (name,))
        if isinstance(command, click.Group):
            paths += all_paths(command, prefix + (name,))
    return paths


def test_the_top_level_help_is_typers_without_building_a_command():
    lazy = lazy_command(app)
    assert isinstance(lazy, LazyGroup)
    assert invoke(lazy, ["--help"]) == invoke(eager(), ["--help"])
    assert invoke(lazy, []) == invoke(eager(), [])  # no_args_is_help
    assert lazy.commands._built == {}  # type: ignore[attr-defined]


@pytest.mark.parametrize("path", all_paths(typer.main.get_command(app)), ids="/".join)
def test_every_command_help_is_typers(path):
    lazy = lazy_command(app)
    assert invoke(lazy, [*path, "--help"]) == invoke(eager(), [*path, "--help"])
    assert set(lazy.commands._built) == {path[0]}  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "args",
    [
        ["scn"],
        ["bogus"],
        ["--bogus"],
        ["scan", "--bogus"],
        ["scan", "-o", "xml"],
        ["token"],
        ["sim", "nope"],
        ["--version"],
        ["graph", "a", "b"],
    ],
)
def test_errors_and_eager_options_match(args):
    assert invoke(lazy_command(app), args) == invoke(eager(), args)


@pytest.mark.parametrize("words,incomplete", [([], ""), ([], "s"), (["sim"], ""), (["scan"], "--"), (["token"], "s")])
def test_completion_matches(words, incomplete):
    def complete(command):
        found = ShellComplete(command, {}, "mci", "_MCI_COMPLETE").get_completions(words, incomplete)
        return [(c.value, c.help) for c in found]

    assert complete(lazy_command(app)) == complete(eager())


def test_the_group_is_still_a_plain_typer_group_when_built_whole():
    group = typer.main.get_command(app)  # as typer.testing.CliRunner builds it
    assert isinstance(group, LazyGroup) and isinstance(group.commands, dict)
    assert invoke(group, ["--help"]) == invoke(eager(), ["--help"])
    assert group.list_commands(click.Context(group))[:3] == ["scan", "validate", "status"]


def test_typer_is_imported_without_subprocess_and_still_launches():
    code = (
        "import sys, mci.app; print('subprocess' in sys.modules, 'shellingham' in sys.modules); "
        "import typer.main, typer._completion_shared as c; "
        "print(typer.main.subprocess.PIPE == -1, c.shellingham.ShellDetectionFailure.__name__); "
        "import subprocess; print(subprocess is sys.modules['subprocess'], typer.main.subprocess.Popen is subprocess.Popen)"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("MCI_")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "False", "True", "ShellDetectionFailure", "True", "True"]


def test_install_completion_still_works(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MCI_")}
    env.update({"HOME": str(tmp_path), "SHELL": "/bin/bash", "MCI_HOME": str(tmp_path / "state")})
    out = subprocess.run(
        [sys.executable, "-m", "mci", "--install-completion", "bash"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert "completion installed" in out.stdout
    assert "_MCI_COMPLETE=complete_bash" in (tmp_path / ".bash_completions" / "mci.sh").read_text()


def test_a_kite_broker_loads_the_rest_client_without_the_websocket_ticker():
    # `import kiteconnect` would load the ticker and twisted (~180 ms) that no REST command uses.
    code = (
        "import sys\n"
        "from mci.brokers.kite import KiteBroker\n"
        "from mci.clock import Clock\n"
        "b = KiteBroker('k', clock=Clock(), token=None, root='http://127.0.0.1:9')\n"
        "print(type(b._kite).__name__, 'kiteconnect.ticker' in sys.modules, 'twisted' in sys.modules)\n"
        "import kiteconnect\n"
        "from kiteconnect import KiteTicker, exceptions\n"
        "print(kiteconnect.KiteConnect is type(b._kite), KiteTicker.__module__, exceptions.TokenException.__name__)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["KiteConnect False False", "True kiteconnect.ticker TokenException"]


def test_a_token_less_kite_broker_answers_its_session_without_loading_the_rest_client():
    # A Kite scan without a token fails on the token check with no request: loading requests and urllib3
    # for it (~60 ms in the token check's worker thread) was most of its start-up (issue 19).
    code = (
        "import sys\n"
        "from mci.brokers.kite import KiteBroker\n"
        "from mci.clock import Clock\n"
        "b = KiteBroker('k', clock=Clock(), token=None, root='http://127.0.0.1:9')\n"
        "info = b.session()\n"
        "print(info.valid, info.reason)\n"
        "print('kiteconnect.connect' in sys.modules, 'requests' in sys.modules)\n"
        "b.close()\n"
        "print('requests' in sys.modules)\n"
        "print(type(b._kite).__name__, b._kite is b._kite, 'requests' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "False no Kite access token is stored for this profile",
        "False False",
        "False",
        "KiteConnect True True",
    ]
