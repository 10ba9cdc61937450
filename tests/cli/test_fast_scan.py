"""`mci scan` dispatched without typer (mci.commands.fast) behaves as through typer: same exit code, same bytes."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from mci.commands.fast import scan_argv

ROOT = Path(__file__).resolve().parents[2]
AT = "2026-11-23T10:30:00+05:30"  # a Monday in session: the full passing path
# The same argv through typer, as `mci` ran before the fast path existed.
THROUGH_TYPER = "import sys; from mci.app import run; sys.exit(run(sys.argv[1:]))"


@pytest.mark.parametrize(
    ("argv", "env", "expected"),
    [
        (["scan"], {}, {}),
        (["scan", "--at", AT, "-o", "json"], {}, {"at": AT, "output": "json"}),
        (
            ["scan", "-p", "x.yaml", "--output", "junit", "--metrics-file", "m.prom"],
            {},
            {"profile": "x.yaml", "output": "junit", "metrics_file": "m.prom"},
        ),
        (
            ["scan"],
            {"MCI_AT": AT, "MCI_PROFILE": "p.yaml", "MCI_METRICS_FILE": "m"},
            {"at": AT, "profile": "p.yaml", "metrics_file": "m"},
        ),
        (["scan", "--at", "T"], {"MCI_AT": AT}, {"at": "T"}),  # the option beats the variable, as in click
    ],
)
def test_plain_argv_is_read_as_typer_would(argv, env, expected):
    assert scan_argv(argv, env) == expected


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["--help"],
        ["-v", "scan"],
        ["status"],
        ["scan", "--help"],
        ["scan", "-h"],
        ["scan", "--at"],
        ["scan", "--at=2026-11-23T10:30"],
        ["scan", "--at", AT, "--at", AT],
        ["scan", "-o", "xml"],
        ["scan", "-o", "JSON"],
        ["scan", "--bogus", "1"],
        ["scan", "--at", "-1"],
        ["scan", "--", "x"],
        ["scan", "-p", ""],
        ["scan", "--prof", "x.yaml"],
        ["scan", "extra"],
        ["scan", "-ojson"],
    ],
)
def test_anything_unusual_goes_through_typer(argv):
    assert scan_argv(argv, {}) is None


def test_completion_and_empty_variables_go_through_typer():
    assert scan_argv(["scan"], {"_MCI_COMPLETE": "bash_complete"}) is None
    assert scan_argv(["scan"], {"MCI_AT": ""}) is None


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file")
def test_an_unreadable_profile_goes_through_typer(tmp_path):
    locked = tmp_path / "p.yaml"
    locked.write_text("x: 1\n")
    locked.chmod(0)
    assert scan_argv(["scan", "-p", str(locked)], {}) is None  # click's "is not readable" usage error


def _env(home: Path, extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MCI_")}
    env.update({"MCI_HOME": str(home), "NO_COLOR": "1"}, **extra)
    return env


def _both(tmp_path: Path, argv: list[str], extra: dict[str, str] | None = None):
    """(exit code, stdout, stderr) of argv through `python -m mci` and through typer, each in a fresh MCI_HOME."""
    results = []
    for name, prefix in (("fast", ["-m", "mci"]), ("typer", ["-c", THROUGH_TYPER])):
        home = tmp_path / name
        home.mkdir()
        done = subprocess.run(
            [sys.executable, *prefix, *argv],
            capture_output=True,
            text=True,
            cwd=ROOT,
            env=_env(home, extra or {}),
            timeout=60,
        )
        results.append(
            (done.returncode, done.stdout.replace(str(home), "HOME"), done.stderr.replace(str(home), "HOME"))
        )
    return results


@pytest.mark.parametrize(
    ("argv", "extra"),
    [
        (["scan", "--at", "not-a-time"], {}),
        (["scan", "--at", "not-a-time", "-o", "json"], {}),
        (["scan", "-p", "/nonexistent/p.yaml", "--at", AT], {}),
        (["scan", "-p", "profiles", "--at", AT, "-o", "json"], {}),
        (["scan", "-o", "json", "--metrics-file", "/nonexistent/m.prom", "--at", AT], {}),  # refused before: text
        (["scan"], {"MCI_AT": "0001-01-01T00:00"}),
        (["scan", "-o", "xml"], {}),  # typer's own usage error, through typer on both sides
        (["scan", "--at"], {}),
    ],
)
def test_failures_are_byte_identical(tmp_path, argv, extra):
    fast, typer = _both(tmp_path, argv, extra)
    assert fast == typer
    assert fast[0] != 0


def _steady(text: str) -> str:
    """Durations, instants, disk space and ids differ between two runs; everything else must not."""
    return re.sub(r"\d+", "N", text)


@pytest.mark.parametrize("output", ["text", "json", "junit"])
def test_a_passing_scan_is_the_same(tmp_path, output):
    metrics = tmp_path / "m.prom"
    fast, typer = _both(tmp_path, ["scan", "--at", AT, "-o", output, "--metrics-file", str(metrics)])
    assert fast[0] == typer[0] == 0
    assert _steady(fast[1]) == _steady(typer[1]) and _steady(fast[2]) == _steady(typer[2])
    assert metrics.is_file()


def test_a_plain_scan_never_imports_typer_or_click(tmp_path):
    code = (
        "import sys\nfrom mci.__main__ import main\nsys.argv = ['mci', 'scan', '--at', %r, '-o', 'json']\n"
        "try:\n    main()\nexcept SystemExit as stop:\n"
        "    print(stop.code, sorted(m for m in ('typer', 'click') if m in sys.modules), file=sys.stderr)\n"
    ) % AT
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=_env(tmp_path, {}), timeout=60
    )
    assert done.stderr.strip().splitlines()[-1] == "0 []"


def test_a_plain_scan_leaves_no_resource_to_the_exit_collection(tmp_path):
    """__main__ freezes what a fast scan leaves, so the collection at exit never finalizes it: nothing it leaves
    may be an open file, socket or connection (CPython warns of each one finalized unclosed)."""
    done = subprocess.run(
        [
            sys.executable,
            "-X",
            "dev",
            "-W",
            "always::ResourceWarning",
            "-c",
            "import gc, sys; from mci.commands.fast import run_scan\n"
            f"code = run_scan({{'at': {AT!r}, 'output': 'json', 'metrics_file': {str(tmp_path / 'm.prom')!r}}})\n"
            "gc.collect(); sys.exit(code)",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=_env(tmp_path, {}),
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "ResourceWarning" not in done.stderr and "unclosed" not in done.stderr


def test_the_fast_path_knows_every_option_of_the_typer_scan_command():
    """A new `scan` option (or envvar, or output) added to the typer command must be taught to the fast path,
    which would otherwise run the scan without it: this fails first."""
    import click
    import typer.main

    from mci import app
    from mci.commands import fast

    command = typer.main.get_command(app.app).commands["scan"]  # type: ignore[attr-defined]
    options = {opt: p.name for p in command.params for opt in p.opts}
    assert options == fast._OPTIONS
    assert {p.name: p.envvar for p in command.params if p.envvar} == fast._ENV
    output = next(p for p in command.params if p.name == "output")
    offered = output.shell_complete(
        click.Context(command), ""
    )  # the formats the command accepts (common.output_option)
    assert tuple(item.value for item in offered) == fast._SCAN_OUTPUTS
