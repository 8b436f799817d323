"""The subcommands plug-ins bring (harness.api.commands.Command): each registered benchmark's
`commands` and each policy registry entry's, collected when the parser is built, and the context the
CLI lends them (its console, `--store`, the store's verdicts)."""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from envs.registry import BENCHMARKS, benchmark_class
from harness.api.commands import Command, CommandContext
from harness.api.verdicts import VerdictStore
from harness.cli.console import make_console
from harness.cli.stores import add_store_option
from harness.store import ResultStore
from policies.registry import policy_entries


@contextmanager
def open_verdicts(path: Path, write: bool) -> Iterator[VerdictStore]:
    """A command that only reads gets the store the user named, read-only (never a new file); one
    that writes gets the writer, which creates the store if needed (a seed import into a new store)."""
    with ResultStore(path) if write else ResultStore.open_readonly(path) as store:
        yield store


def command_context() -> CommandContext:
    return CommandContext(make_console=make_console, add_store_option=add_store_option, open_verdicts=open_verdicts)


def _load(target: str) -> Command:
    module, _, attr = target.partition(":")
    command = getattr(importlib.import_module(module), attr)
    if not isinstance(command, Command):
        raise TypeError(f"{target} is not a harness.api.commands.Command")  # a registry bug, not a user's
    return command


def plugin_commands() -> list[Command]:
    """Benchmarks' commands first, then policies', each name once (several Fast-WAM entries may name
    the same command)."""
    found: dict[str, Command] = {}
    for name in BENCHMARKS:
        for command in getattr(benchmark_class(name), "commands", ()):
            found.setdefault(command.name, command)
    for entry in policy_entries().values():
        for target in entry.commands:
            command = _load(target)
            found.setdefault(command.name, command)
    return list(found.values())


def register(sub: argparse._SubParsersAction, command: Command, ctx: CommandContext) -> None:
    parser = sub.add_parser(command.name, help=command.help)
    command.add_arguments(parser, ctx)
    parser.set_defaults(func=lambda args, argv: command.run(args, argv, ctx))
