"""`wam-eval export RUN --out FILE`: a run's episodes as a table for pandas, R or a spreadsheet."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.markup import escape

from harness.cli.console import make_console
from harness.cli.stores import add_store_option
from harness.report.aggregate import open_store
from wam_eval._results import resolve_run_ids


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="a run's episodes as parquet or CSV (one row per episode, timings included)")
    p.add_argument("run", metavar="RUN", help="run id (or a unique prefix); 'latest' = the last run updated")
    p.add_argument("--out", type=Path, required=True, help="file to write: .parquet or .csv")
    add_store_option(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace, argv: list[str]) -> int:
    console = make_console()
    with open_store(args.store) as store:
        (run_id,) = resolve_run_ids(store, [args.run])
        path = store.export(run_id, args.out)
        count = len(store.episode_rows(run_id))
    console.print(f"{count} episode(s) of {escape(run_id)} -> {escape(str(path))}", soft_wrap=True, highlight=False)
    return 0
