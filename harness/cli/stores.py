"""`--store` for the commands that read runs (runs, report, compare, export): repeatable, so that runs
kept in several stores (one per machine, say) can be reported or compared together. The runs are
found by wam_eval's resolve_runs, which the Python API shares."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Sequence

from harness.driver import DEFAULT_STORE
from harness.report.aggregate import RunData
from wam_eval._results import LATEST, resolve_runs

__all__ = ["LATEST", "add_store_argument", "load_runs", "store_paths"]


def add_store_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument("--store", type=Path, action="append", metavar="PATH",
                   help=f"results store to read; repeat to read runs from several (default {DEFAULT_STORE})")


def store_paths(args: argparse.Namespace) -> list[Path]:
    return list(dict.fromkeys(args.store or [DEFAULT_STORE]))  # a store named twice is read once


def load_runs(paths: Sequence[Path], names: Sequence[str]) -> list[RunData]:
    """The named runs (ids, unique prefixes or 'latest'), each from the one store that holds it."""
    return resolve_runs(paths, names)
