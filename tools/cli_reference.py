"""docs/cli.md, the command reference, generated from the click command tree `mci` runs.

    python3 dev.py cli-reference           rewrite docs/cli.md
    python3 dev.py cli-reference --check   exit 1 if docs/cli.md is stale (tests/cli/test_cli_reference.py)

Only click's public API is read (list_commands, get_command, params, collect_usage_pieces), from the click
command the Typer app builds (`typer.main.get_command`), or from the app itself if it already is a click
command: how commands are registered, or built lazily, does not change the walk. Nothing is wrapped to a
terminal width, so the text is the same on every machine.
"""

from __future__ import annotations

import argparse
import inspect
import sys
from enum import Enum
from pathlib import Path
from typing import Any

import click

ROOT = Path(__file__).resolve().parents[1]
OUTPUT = ROOT / "docs" / "cli.md"
REGENERATE = "python3 dev.py cli-reference"
PROG = "mci"


def root_command() -> click.Command:
    """The whole `mci` command tree as click sees it."""
    from mci import app as cli

    app: Any = cli.app
    if isinstance(app, click.Command):
        return app
    import typer.main

    return typer.main.get_command(app)


def _walk(command: click.Command, ctx: click.Context) -> list[tuple[click.Command, click.Context]]:
    """The command and every visible subcommand below it, depth first, in the order `--help` lists them."""
    found = [(command, ctx)]
    if isinstance(command, click.Group):
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            if sub is None or sub.hidden:
                continue
            found += _walk(sub, click.Context(sub, info_name=name, parent=ctx, **sub.context_settings))
    return found


def _help_text(command: click.Command) -> str:
    # "\b" is click's keep-this-paragraph-unwrapped marker, which --help shows as a paragraph break; the code
    # block keeps every line as written.
    lines = ["" if line.strip() == "\b" else line for line in inspect.cleandoc(command.help or "").splitlines()]
    return "\n".join(line for n, line in enumerate(lines) if line or (n and lines[n - 1])).strip()


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|").replace("<", "&lt;")  # a table cell is one line of Markdown


def _default(param: click.Parameter) -> str:
    value = param.default
    if callable(value) or value is None or type(value).__name__ == "Sentinel":  # click 8.3+'s UNSET
        return ""
    if isinstance(param, click.Option) and (param.is_flag or param.count) and not value:
        return ""
    if isinstance(value, (list, tuple)):
        if not value:
            return ""
        return ", ".join(f"`{_plain(v)}`" for v in value)
    return f"`{_plain(value)}`"


def _plain(value: object) -> str:
    if isinstance(value, Enum):
        value = value.value
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _spelled(param: click.Parameter, ctx: click.Context) -> str:
    """The names and metavar as `--help` prints them: `-p, --profile PATH`, `--watch / --no-watch`, `[PATHS]...`."""
    record = param.get_help_record(ctx)
    return record[0] if record else ", ".join(param.opts)


def _envvars(param: click.Parameter) -> str:
    envvar = param.envvar
    names = [envvar] if isinstance(envvar, str) else list(envvar or ())
    return ", ".join(f"`{n}`" for n in names)


def _option_row(option: click.Option, ctx: click.Context) -> str:
    notes = [
        n
        for n in (
            "required" if option.required else "",
            "repeatable" if option.multiple and "repeat" not in (option.help or "") else "",
            "counted" if option.count else "",
        )
        if n
    ]
    help_text = _cell(option.help or "") + (f" ({', '.join(notes)})" if notes else "")
    return f"| `{_cell(_spelled(option, ctx))}` | {_envvars(option)} | {_default(option)} | {help_text} |"


def _argument_row(argument: click.Argument, ctx: click.Context) -> str:
    notes = ["required" if argument.required else "optional"]
    if argument.nargs != 1:
        notes.append("one or more" if argument.required else "any number")
    help_text = _cell(getattr(argument, "help", None) or "")  # click's own Argument has no help; typer's has
    return f"| `{_cell(_spelled(argument, ctx))}` | {', '.join(notes)} | {_default(argument)} | {help_text} |"


def _section(command: click.Command, ctx: click.Context) -> list[str]:
    path = ctx.command_path
    depth = path.count(" ")
    lines = [f"{'#' * min(2 + depth, 4)} `{path}`", ""]
    usage = " ".join([path, *command.collect_usage_pieces(ctx)])
    lines += [f"Usage: `{usage}`", ""]
    text = _help_text(command)
    if text:
        lines += ["```text", text, "```", ""]
    params = command.get_params(ctx)  # with the help option click adds
    arguments = [p for p in params if isinstance(p, click.Argument)]
    options = [p for p in params if isinstance(p, click.Option) and not p.hidden]
    if arguments:
        lines += ["| Argument | | Default | Description |", "|---|---|---|---|"]
        lines += [_argument_row(a, ctx) for a in arguments] + [""]
    if options:
        lines += ["| Option | Environment | Default | Description |", "|---|---|---|---|"]
        lines += [_option_row(o, ctx) for o in options] + [""]
    if isinstance(command, click.Group):
        subs = [(name, command.get_command(ctx, name)) for name in command.list_commands(ctx)]
        lines += ["| Command | Summary |", "|---|---|"]
        for name, sub in subs:
            if sub is not None and not sub.hidden:
                anchor = f"{path} {name}".replace(" ", "-")
                lines.append(f"| [`{name}`](#{anchor}) | {_cell(sub.get_short_help_str(limit=120))} |")
        lines.append("")
    return lines


def render() -> str:
    """docs/cli.md as the command tree says it should read now."""
    root = root_command()
    ctx = click.Context(root, info_name=PROG, **root.context_settings)  # -h beside --help, as `mci` runs it
    lines = [
        "# `mci` command reference",
        "",
        f"<!-- Generated from the command tree by tools/cli_reference.py: do not edit. Run `{REGENERATE}`. -->",
        "",
        "Every command and option, with the environment variable that sets it and its default. The same text "
        'is in `mci COMMAND --help`; exit codes are listed in the README ("Exit codes").',
        "",
    ]
    for command, command_ctx in _walk(root, ctx):
        lines += _section(command, command_ctx)
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="dev.py cli-reference", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when the file differs, write nothing")
    parser.add_argument("--output", type=Path, default=OUTPUT, help="the file (default: docs/cli.md)")
    args = parser.parse_args(argv)
    path: Path = args.output
    text = render()
    current = path.read_text(encoding="utf-8") if path.exists() else ""
    if args.check:
        if current != text:
            sys.stderr.write(
                f"WHAT: {path} does not match the mci command tree\n"
                "WHY: a command, option, default or help text changed since it was generated\n"
                f"HOW: run `{REGENERATE}` and commit docs/cli.md\n"
            )
            return 1
        return 0
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    print(f"wrote {path} ({text.count(chr(10))} lines)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
