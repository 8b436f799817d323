"""`wam-eval report RUN [RUN...]`: the paper's tables with the runs beside the published rows, as
markdown, LaTeX and one self-contained HTML file under reports/<run>/."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.markup import escape

from harness.cli.console import make_console
from harness.driver import DEFAULT_STORE
from harness.errors import UsageError
from harness.report import default_out_dir, write_report
from harness.report.aggregate import latest_run_id, load_run, open_store
from harness.report.baselines import baseline_dirs, load_baselines
from harness.report.model import build_report

LATEST = "latest"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="tables, figures and manifest of one or more runs (markdown, LaTeX, HTML)")
    p.add_argument(
        "runs", nargs="+", metavar="RUN", help=f"run id (or a unique prefix); '{LATEST}' = the last run updated"
    )
    p.add_argument("--store", type=Path, default=DEFAULT_STORE, help=f"results store (default {DEFAULT_STORE})")
    p.add_argument("--out", type=Path, help="output folder (default reports/<run>/)")
    p.add_argument("--baselines", type=Path, help="read published baselines from this folder only")
    p.add_argument(
        "--allow-preset-mismatch",
        action="store_true",
        help="put runs evaluated under different presets in one table (marked)",
    )
    p.add_argument("--alpha", type=float, default=0.05, help="significance level of the comparisons (default 0.05)")
    p.set_defaults(func=run)


def resolve_run_ids(store, names: list[str]) -> list[str]:
    ids = [latest_run_id(store) if name == LATEST else store.get_run(name).run_id for name in names]
    if len(set(ids)) != len(ids):
        raise UsageError(f"a run is named twice: {' '.join(names)}")
    return ids


def run(args: argparse.Namespace, argv: list[str]) -> int:
    console = make_console()
    if not 0.0 < args.alpha < 1.0:
        raise UsageError(f"--alpha must be between 0 and 1, not {args.alpha}")
    with open_store(args.store) as store:
        runs = [load_run(store, run_id) for run_id in resolve_run_ids(store, args.runs)]
    baselines = load_baselines(baseline_dirs(args.baselines))
    out = args.out or default_out_dir(runs)
    with console.status("drawing figures and writing the report"):
        report = build_report(
            runs, baselines, out_dir=out.resolve(), allow_preset_mismatch=args.allow_preset_mismatch, alpha=args.alpha
        )
        files = write_report(report, out)
    for r in report.untrained:
        console.print(f"[bold red]untrained weights[/]: {r.run_id}")
    for r in report.oracles:
        console.print(f"[bold magenta]ORACLE[/] (privileged simulator state, not comparable with learned policies): "
                      f"{r.run_id}")
    for r in report.partial:
        console.print(f"[yellow]partial run[/]: {r.run_id} ({len(r.planned) - r.missing}/{len(r.planned)} episodes)")
    console.print(f"report written to {escape(str(files.folder))}/ (report.html, report.md, tables.tex, figures/)")
    print(files.html.resolve())
    return 0
