"""The console every subcommand prints through."""

from __future__ import annotations

import os
import sys

from rich.console import Console

# Piped into a log (tox, CI, `| tee`) there is no terminal to size tables by: they are laid out for 80
# columns (cells wrap; nothing is cut), while lines of text are never wrapped, so that a path or a run
# id stays whole on one line for grep and copy-paste.
LOG_WIDTH = 80


def make_console(*, stderr: bool = False) -> Console:
    stream = sys.stderr if stderr else sys.stdout
    tty = stream.isatty()
    # COLUMNS set by the user still sizes tables, as it does for every other tool.
    width = None if tty or os.environ.get("COLUMNS", "").isdigit() else LOG_WIDTH
    return Console(highlight=False, stderr=stderr, width=width, soft_wrap=not tty)
