"""The results store as the command line names it: its default path, `--store` for the commands that
write one (defined once), and a repeatable `--store` for the commands that read runs (runs, report,
compare, export), so that runs kept in several stores (one per machine, say) are read together."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Sequence

from harness.report.aggregate import RunData
from harness.store import DEFAULT_STORE
from wam_eval._results import resolve_runs

LATEST = "latest"  # a run name meaning the run of the store(s) updated last


def add_store_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--store", type=Path, default=DEFAULT_STORE, help=f"results store (default {DEFAULT_STORE})")


def add_store_argument(p: argparse.ArgumentParser) -> None:
    """--store for a command that reads runs: repeatable."""
    p.add_argument("--store", type=Path, action="append", metavar="PATH",
                   help=f"results store to read; repeat to read runs from several (default {DEFAULT_STORE})")


def store_paths(args: argparse.Namespace) -> list[Path]:
    return list(dict.fromkeys(args.store or [DEFAULT_STORE]))  # a store named twice is read once


def load_runs(paths: Sequence[Path], names: Sequence[str]) -> list[RunData]:
    """The named runs (ids, unique prefixes or 'latest'), each from the one store that holds it."""
    return resolve_runs(paths, names)
