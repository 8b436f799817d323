"""`wam-eval report RUN [RUN...]`: the paper's tables with the runs beside the published rows, as
markdown, LaTeX and one self-contained HTML file under reports/<run>/."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.markup import escape

from harness.cli.console import make_console
from harness.cli.stores import add_store_option
from wam_eval import report as write
from wam_eval._results import LATEST


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="tables, figures and manifest of one or more runs (markdown, LaTeX, HTML)")
    p.add_argument(
        "runs", nargs="+", metavar="RUN", help=f"run id (or a unique prefix); '{LATEST}' = the last run updated"
    )
    add_store_option(p)
    p.add_argument("--out", type=Path, help="output folder (default reports/<run>/)")
    p.add_argument("--baselines", type=Path, help="read published baselines from this folder only")
    p.add_argument(
        "--allow-preset-mismatch",
        action="store_true",
        help="put runs evaluated under different presets in one table (marked)",
    )
    p.add_argument("--alpha", type=float, default=0.05, help="significance level of the comparisons (default 0.05)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace, argv: list[str]) -> int:
    console = make_console()
    with console.status("drawing figures and writing the report"):
        written = write(args.runs, store=args.store, out=args.out, baselines=args.baselines,
                        allow_preset_mismatch=args.allow_preset_mismatch, alpha=args.alpha)
    report, files = written.report, written.files
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
