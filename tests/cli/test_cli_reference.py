"""docs/cli.md is what tools/cli_reference.py renders from the command tree now: a new option or a changed help
text without the regenerated reference fails here, with the command that fixes it."""

from __future__ import annotations

import difflib
import subprocess
import sys

import click

from testing import ROOT
from tools import cli_reference


def every_command_path() -> list[str]:
    root = cli_reference.root_command()
    paths = []

    def visit(command: click.Command, ctx: click.Context) -> None:
        paths.append(ctx.command_path)
        if isinstance(command, click.Group):
            for name in command.list_commands(ctx):
                sub = command.get_command(ctx, name)
                if sub is not None and not sub.hidden:
                    visit(sub, click.Context(sub, info_name=name, parent=ctx))

    visit(root, click.Context(root, info_name="mci"))
    return paths


def test_docs_cli_md_matches_the_command_tree():
    expected = cli_reference.render()
    current = cli_reference.OUTPUT.read_text(encoding="utf-8") if cli_reference.OUTPUT.exists() else ""
    if current != expected:
        diff = "".join(
            difflib.unified_diff(
                current.splitlines(True), expected.splitlines(True), "docs/cli.md", "the command tree", n=1
            )
        )
        raise AssertionError(
            "WHAT: docs/cli.md does not match the mci command tree\n"
            "WHY: a command, option, environment variable, default or help text changed since it was generated\n"
            f"HOW: run `{cli_reference.REGENERATE}` and commit docs/cli.md\n" + diff[:4000]
        )


def test_the_reference_has_a_section_for_every_command_and_every_option():
    # Guards the walk itself: a generator that skipped sub-groups, or options, would agree with its own output.
    text = cli_reference.render()
    paths = every_command_path()
    assert len(paths) >= 50 and "mci risk check" in paths and "mci sim kite" in paths
    for path in paths:
        assert f"`{path}`\n" in text, path
    assert "| `-p, --profile PATH` | `MCI_PROFILE` |" in text
    assert "| `-o, --output [text\\|json\\|junit]` |  | `text` |" in text  # a choice, its default as a value
    assert "| `--capital TEXT` |  | `1000000` |" in text  # mci sim kite's


def test_the_script_writes_the_reference_and_its_check_mode_names_the_fix(tmp_path):
    # The same check from a shell (pre-commit, CI): exit 1 with WHAT/WHY/HOW when stale, 0 once regenerated.
    target = tmp_path / "cli.md"
    target.write_text(cli_reference.render().replace("--metrics-file", "--metrics"), encoding="utf-8")

    def tool(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "tools.cli_reference", "--output", str(target), *args],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )

    stale = tool("--check")
    assert stale.returncode == 1 and "HOW: run `python3 dev.py cli-reference`" in stale.stderr, stale.stderr
    assert tool().returncode == 0
    assert target.read_text(encoding="utf-8") == cli_reference.render()
    fresh = tool("--check")
    assert fresh.returncode == 0, fresh.stderr
