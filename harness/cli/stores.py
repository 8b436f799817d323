"""The results store as the command line names it: its default path and the `--store` option, defined
once for every subcommand that reads or writes a store."""

from __future__ import annotations

import argparse
from pathlib import Path

DEFAULT_STORE = Path("results") / "wam-eval.sqlite"


def add_store_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--store", type=Path, default=DEFAULT_STORE, help=f"results store (default {DEFAULT_STORE})")
