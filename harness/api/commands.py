"""`wam-eval` subcommands that a plug-in brings (RoboTwin: `seeds`, `setup`; Fast-WAM: `latency`).

A benchmark class lists its commands in `commands`, a policy registry entry names them as
"module:attribute" strings; the CLI collects both (harness/cli/plugins.py). A module that defines a
`Command` must import nothing heavy (no torch, no simulator): `wam-eval --help` builds every parser.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.api.verdicts import VerdictStore


@dataclass(frozen=True)
class CommandContext:
    """What the CLI lends a plug-in's command, which imports only harness/api: the console every
    subcommand prints through, the shared `--store` option, and the results store's verdicts (an
    existing store only; read-only unless `write`)."""

    make_console: Callable[[], Any]  # a rich Console laid out as every other subcommand's
    add_store_option: Callable[[argparse.ArgumentParser], None]
    open_verdicts: Callable[[Path, bool], AbstractContextManager[VerdictStore]]  # (path, write)


@dataclass(frozen=True)
class Command:
    name: str  # as typed after `wam-eval`
    help: str  # the one line `wam-eval --help` shows
    add_arguments: Callable[[argparse.ArgumentParser, CommandContext], None]
    # (arguments, the command line, context) -> exit code; errors raise harness.api.errors
    run: Callable[[argparse.Namespace, list[str], CommandContext], int]
