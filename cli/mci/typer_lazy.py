"""typer for `mci`, at less start-up cost: a lighter import, and each subcommand built only when it is used.

- typer turns every command function into click parameters by introspecting
  its signature (inspect.signature, typing.get_type_hints on each annotation)
  before it parses a single argument: for mci's ~25 commands that was about a
  tenth of `mci --help` or `mci scan`. Here the top-level group is built by
  typer as usual but without its subcommands; a subcommand is built by typer's
  own builder when click looks it up, and `mci --help` lists the commands from
  their names and help texts alone. The result is the click tree typer would
  build (tests/cli/test_lazy_cli.py compares help, errors and completion).
- typer imports `subprocess` (with signal, selectors, locale: ~3 ms) and
  `shellingham` at start-up, for `typer.launch` and `--install-completion`
  only. Its modules get stand-ins that import the real module on first use.

Import this module before anything else imports typer (mci.app does).
"""

from __future__ import annotations

import copy
import importlib
import sys
import types
from collections.abc import Callable, Iterator, MutableMapping
from contextlib import contextmanager
from typing import Any, NamedTuple


class _Deferred(types.ModuleType):
    """What `import subprocess` binds in typer's modules while typer is imported: the first attribute read
    imports the real module (into sys.modules, as usual) and forwards to it. Nothing else ever sees a stand-in:
    it leaves sys.modules as soon as typer is imported."""

    def __getattr__(self, attr: str) -> Any:
        name = self.__name__
        if sys.modules.get(name) is self:  # still importing typer: make room for the real module
            del sys.modules[name]
        return getattr(importlib.import_module(name), attr)


@contextmanager
def _deferred(*names: str) -> Iterator[None]:
    stand_ins: dict[str, _Deferred] = {}
    for name in names:
        if name not in sys.modules:
            stand_ins[name] = sys.modules[name] = _Deferred(name)
    try:
        yield
    finally:
        for name, stand_in in stand_ins.items():
            if sys.modules.get(name) is stand_in:
                del sys.modules[name]


with _deferred("subprocess", "shellingham"):
    import click
    import typer
from typer.core import TyperGroup  # noqa: E402
from typer.core import MarkupMode  # noqa: E402
from typer.main import (  # noqa: E402
    get_command_from_info,
    get_command_name,
    get_group_from_info,
    solve_typer_info_defaults,
)
from typer.models import CommandInfo, TyperInfo  # noqa: E402

__all__ = ["LazyGroup", "lazy_command"]


class _Commands(MutableMapping[str, click.Command]):
    """name -> click command, each built on first lookup; iterating the names builds nothing."""

    def __init__(self) -> None:
        self._built: dict[str, click.Command] = {}
        self._pending: dict[str, tuple[Callable[[], click.Command], Callable[[], click.Command]]] = {}
        self._order: list[str] = []

    def add_lazy(self, name: str, build: Callable[[], click.Command], summary: Callable[[], click.Command]) -> None:
        if name not in self._order:
            self._order.append(name)
        self._built.pop(name, None)
        self._pending[name] = (build, summary)

    def summaries(self) -> dict[str, click.Command]:
        """What the command list of --help reads (name, help, short help, hidden), unbuilt commands as stand-ins."""
        return {name: self._built[name] if name in self._built else self._pending[name][1]() for name in self._order}

    def __getitem__(self, name: str) -> click.Command:
        if name not in self._built:
            if name not in self._pending:
                raise KeyError(name)
            build, _ = self._pending.pop(name)
            self._built[name] = build()
        return self._built[name]

    def __setitem__(self, name: str, command: click.Command) -> None:
        if name not in self._order:
            self._order.append(name)
        self._pending.pop(name, None)
        self._built[name] = command

    def __delitem__(self, name: str) -> None:
        if name not in self._order:
            raise KeyError(name)
        self._order.remove(name)
        self._pending.pop(name, None)
        self._built.pop(name, None)

    def __contains__(self, name: object) -> bool:
        return name in self._order

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._order))

    def __len__(self) -> int:
        return len(self._order)


class LazyGroup(TyperGroup):
    """A TyperGroup whose `commands` may be a lazy mapping (see lazy_command); with a plain dict it is a TyperGroup."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.commands)  # TyperGroup's reads .items(), which would build every command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        commands = self.commands
        if not isinstance(commands, _Commands):
            super().format_commands(ctx, formatter)
            return
        self.commands = commands.summaries()
        try:
            super().format_commands(ctx, formatter)
        finally:
            self.commands = commands


def lazy_command(app: typer.Typer) -> click.Command:
    """What typer.main.get_command(app) returns, with the top-level subcommands built on first lookup.

    `app` must be a group (a callback or several commands); its Typer must use
    cls=LazyGroup. Sub-groups (`mci token ...`) are built whole when looked up.
    """
    shell = copy.copy(app)
    shell.registered_commands = []
    shell.registered_groups = []
    group = typer.main.get_command(shell)  # the callback's options, completion options, help: typer's own build
    if not isinstance(group, LazyGroup):
        raise TypeError("lazy_command needs a Typer created with cls=LazyGroup")
    options = _Options(app.pretty_exceptions_short, app.rich_markup_mode)
    commands = _Commands()
    for info in app.registered_commands:
        name = info.name or get_command_name(info.callback.__name__)  # type: ignore[union-attr]
        commands.add_lazy(name, _command_builder(info, options), _command_summary(info, name))
    for sub in app.registered_groups:
        solved = solve_typer_info_defaults(sub)
        if not solved.name:  # merged into this group by typer: build it now, as typer does
            built = get_group_from_info(
                sub,
                suggest_commands=app.suggest_commands,
                pretty_exceptions_short=options.short,
                rich_markup_mode=options.markup,
            )
            for name, command in built.commands.items():
                commands[name] = command
            continue
        commands.add_lazy(solved.name, _group_builder(sub, app.suggest_commands, options), _group_summary(solved))
    group.commands = commands
    return group


class _Options(NamedTuple):
    """What typer's own build passes to every command and group it builds."""

    short: bool
    markup: MarkupMode


def _command_builder(info: CommandInfo, options: _Options) -> Callable[[], click.Command]:
    return lambda: get_command_from_info(info, pretty_exceptions_short=options.short, rich_markup_mode=options.markup)


def _group_builder(info: TyperInfo, suggest_commands: bool, options: _Options) -> Callable[[], click.Command]:
    return lambda: get_group_from_info(
        info, suggest_commands=suggest_commands, pretty_exceptions_short=options.short, rich_markup_mode=options.markup
    )


def _command_summary(info: CommandInfo, name: str) -> Callable[[], click.Command]:
    def summary() -> click.Command:
        import inspect

        text = inspect.getdoc(info.callback) if info.help is None else inspect.cleandoc(info.help)
        return click.Command(
            name, help=text, short_help=info.short_help, hidden=info.hidden, deprecated=info.deprecated
        )

    return summary


def _group_summary(solved: TyperInfo) -> Callable[[], click.Command]:
    return lambda: click.Command(
        solved.name, help=solved.help, short_help=solved.short_help, hidden=solved.hidden, deprecated=solved.deprecated
    )
