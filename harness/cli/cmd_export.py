"""`wam-eval export RUN --out FILE`: a run's episodes as a table for pandas, R or a spreadsheet."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.markup import escape

from harness.cli.console import make_console
from harness.cli.stores import add_store_argument, load_runs, store_paths
from harness.report.aggregate import open_store


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="a run's episodes as parquet or CSV (one row per episode, timings included)")
    p.add_argument("run", metavar="RUN", help="run id (or a unique prefix); 'latest' = the last run updated")
    p.add_argument("--out", type=Path, required=True, help="file to write: .parquet or .csv")
    add_store_argument(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace, argv: list[str]) -> int:
    console = make_console()
    (found,) = load_runs(store_paths(args), [args.run])
    run_id = found.run_id
    with open_store(found.store_path) as store:
        path = store.export(run_id, args.out)
    count = len(found.rows)
    console.print(f"{count} episode(s) of {escape(run_id)} -> {escape(str(path))}", soft_wrap=True, highlight=False)
    return 0
