"""The console every subcommand prints through."""

from __future__ import annotations

import sys
from typing import Callable

from rich.console import Console
from rich.text import Text

# Piped into a log (tox, CI, `| tee`), rich would wrap tables at 80 columns and cut words; a log
# has no width, so give tables room instead.
LOG_WIDTH = 160


def make_console(*, stderr: bool = False) -> Console:
    stream = sys.stderr if stderr else sys.stdout
    return Console(highlight=False, stderr=stderr, width=None if stream.isatty() else LOG_WIDTH)


_LEVEL_STYLES = {"info": "", "warning": "yellow", "error": "red"}


def console_say(console: Console) -> Callable[[str, str], None]:
    """The Ray executor's `say` callback on a console: its lines are plain text (they quote worker
    and policy errors, whose brackets must not be read as markup), coloured by level, never wrapped."""

    def say(text: str, level: str) -> None:
        console.print(Text(text, style=_LEVEL_STYLES.get(level, "")), soft_wrap=True)

    return say
