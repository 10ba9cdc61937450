"""The output format an error renders in: what the failing command checked with --output, carried in click's context
object for one run (mci.app.run's Invocation), never left behind for the next run in the same process."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from testing import ROOT

AT = "2026-11-23T10:30"


def test_an_error_after_the_check_renders_in_the_format_asked_for(run_mci):
    done = run_mci("token", "status", "-o", "json", "--at", "not-a-time")
    assert done.returncode == 2 and done.stderr == ""
    assert json.loads(done.stdout)["error"]["what"] == "cannot read the instant 'not-a-time'"


def test_the_format_of_one_run_does_not_leak_into_the_next(mci_home):
    code = (
        "import sys; from mci.app import run; "
        "first = run(['audit', 'show', '0', '-o', 'json']); sys.stdout.flush(); "
        "print('---', flush=True); second = run(['scan', '--metrics-file', '/nonexistent/m.prom']); "
        "print(first, second)"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("MCI_")}
    env.update({"MCI_HOME": str(mci_home), "NO_COLOR": "1"})
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT, timeout=60)
    first, rest = done.stdout.split("---\n")
    assert json.loads(first)["error"]["code_name"] == "invalid"
    # The second run fails while click parses, before its command checks --output: text, on stderr, whatever the
    # first run asked for.
    assert rest == "2 2\n"
    assert done.stderr.startswith(
        "error: WHAT: --metrics-file /nonexistent/m.prom: the folder /nonexistent does not exist"
    )


@pytest.mark.parametrize(
    "argv, why",
    [
        (["clock", "show", "-o", "xml"], "this command writes text or json"),
        (["gate", "list", "-o", "junit"], "this command writes text or json"),
        (["scan", "--at", AT, "-o", "yaml"], "mci scan writes text, json or junit"),
        (["policy", "diff", "--base", "HEAD", "-o", "csv"], "mci policy diff writes text, json or junit"),
    ],
)
def test_every_command_refuses_an_unknown_format_one_way(run_mci, argv, why):
    done = run_mci(*argv)
    assert done.returncode == 2 and done.stdout == ""
    assert f"WHAT: unknown output '{argv[-1]}'" in done.stderr and f"WHY: {why}" in done.stderr


def test_junit_errors_render_as_text(run_mci):
    done = run_mci("gate", "run", "no-such-gate", "-o", "junit", "--at", AT)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith("error: WHAT: no gate named 'no-such-gate'")


def test_the_formats_are_offered_to_shell_completion():
    from click.shell_completion import ShellComplete

    from mci.app import app
    from mci.typer_lazy import lazy_command

    def offered(*words: str) -> list[str]:
        complete = ShellComplete(lazy_command(app), {}, "mci", "_MCI_COMPLETE")
        return [c.value for c in complete.get_completions(list(words), "")]

    assert offered("token", "status", "-o") == ["text", "json"]
    assert offered("gate", "run", "smoke", "-o") == ["text", "json", "junit"]
