"""`--store` for the commands that read runs (report, compare, export, runs): repeatable, so that
runs kept in several stores (one per machine, say) can be reported or compared together."""

from __future__ import annotations

import argparse
from contextlib import ExitStack
from pathlib import Path
from typing import Sequence

from harness.driver import DEFAULT_STORE
from harness.errors import UsageError
from harness.report.aggregate import RunData, latest_run_id, load_run, open_store
from harness.store import ResultStore, RunManifest

LATEST = "latest"


def add_store_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument("--store", type=Path, action="append", metavar="PATH",
                   help=f"results store to read; repeat to read runs from several (default {DEFAULT_STORE})")


def store_paths(args: argparse.Namespace) -> list[Path]:
    paths = list(dict.fromkeys(args.store or [DEFAULT_STORE]))  # a store named twice is read once
    return paths


def _find(stores: Sequence[ResultStore], name: str) -> tuple[ResultStore, RunManifest]:
    if len(stores) == 1:  # one store: its own messages (unknown run, ambiguous prefix)
        return stores[0], stores[0].get_run(latest_run_id(stores[0]) if name == LATEST else name)
    if name == LATEST:
        found = [(s, m) for s in stores for m in s.runs()]
        if not found:
            raise UsageError(f"no runs in {', '.join(str(s.path) for s in stores)}")
        return max(found, key=lambda sm: sm[1].updated_at)
    exact = [(s, m) for s in stores for m in s.runs() if m.run_id == name]
    found = exact or [(s, m) for s in stores for m in s.runs() if m.run_id.startswith(name)]
    if len(found) == 1:
        return found[0]
    if not found:
        known = "; ".join(f"{s.path}: {', '.join(m.run_id for m in s.runs()) or 'none'}" for s in stores)
        raise UsageError(f"no run {name!r} in the stores given; stored runs: {known}")
    where = ", ".join(f"{m.run_id} in {s.path}" for s, m in found)
    raise UsageError(f"run {name!r} is ambiguous across the stores ({where}); give more of the id or one --store")


def load_runs(paths: Sequence[Path], names: Sequence[str]) -> list[RunData]:
    """The named runs (ids, unique prefixes or 'latest'), each from the one store that holds it."""
    with ExitStack() as stack:
        stores = [stack.enter_context(open_store(p)) for p in paths]
        picked = [_find(stores, name) for name in names]
        ids = [m.run_id for _, m in picked]
        if len(set(ids)) != len(ids):
            raise UsageError(f"a run is named twice: {' '.join(names)}")
        return [load_run(store, m.run_id) for store, m in picked]
