"""`wam-eval report RUN [RUN...]`: the paper's tables with the runs beside the published rows, as
markdown, LaTeX and one self-contained HTML file under reports/<run>/."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.markup import escape

from harness.api.errors import UsageError
from harness.cli.console import make_console
from harness.cli.stores import LATEST, add_store_argument, store_paths
from harness.report.write_latex import INTERVAL_STYLES, LatexOptions
from wam_eval import report as write


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="tables, figures and manifest of one or more runs (markdown, LaTeX, HTML)")
    p.add_argument(
        "runs", nargs="+", metavar="RUN", help=f"run id (or a unique prefix); '{LATEST}' = the last run updated"
    )
    add_store_argument(p)
    p.add_argument("--label", action="append", default=[], metavar="RUN=NAME",
                   help="name a run's row in the tables and figures, repeatable (default: the label stored with "
                        "`run --label`, else the run id)")
    p.add_argument("--baseline", metavar="RUN",
                   help="the run every other run is compared against (default: the first run given)")
    p.add_argument("--out", type=Path, help="output folder (default reports/<run>/)")
    p.add_argument("--latex-intervals", choices=INTERVAL_STYLES, default="table",
                   help="tables.tex: intervals in a second table beside the compact one, or as ± half-widths "
                        "in it (default table)")
    p.add_argument("--include-paths", action="store_true",
                   help="name host paths and host names in the manifest (default: left out, so that the folder can "
                        "be shared)")
    p.add_argument("--latex-resize", action="store_true",
                   help="tables.tex: scale wide tables to the line width with \\resizebox (default: off)")
    p.add_argument("--baselines", type=Path,
                   help="read published baselines from this folder only (default: the shipped ones and "
                   "results/baselines)")
    p.add_argument(
        "--allow-preset-mismatch",
        action="store_true",
        help="put runs evaluated under different presets in one table, marked (default: refuse)",
    )
    p.add_argument("--alpha", type=float, default=0.05, help="significance level of the comparisons (default 0.05)")
    p.set_defaults(func=run)


def parse_labels(items: list[str]) -> dict[str, str]:
    """`--label RUN=NAME` items as {RUN: NAME}."""
    labels = {}
    for item in items:
        ref, sep, label = item.partition("=")
        if not sep or not ref or not label.strip() or "\n" in label:
            raise UsageError(f"--label {item!r} is not RUN=NAME")
        labels[ref] = label.strip()
    return labels


def run(args: argparse.Namespace, argv: list[str]) -> int:
    console = make_console()
    labels = parse_labels(args.label)
    with console.status("drawing figures and writing the report"):
        written = write(args.runs, store=store_paths(args), out=args.out, baselines=args.baselines,
                        allow_preset_mismatch=args.allow_preset_mismatch, alpha=args.alpha, labels=labels,
                        baseline=args.baseline, include_paths=args.include_paths,
                        latex=LatexOptions(args.latex_intervals, args.latex_resize))
    report, files = written.report, written.files
    for r in report.untrained:
        console.print(f"[bold red]untrained weights[/]: {r.run_id}")
    for r in report.oracles:
        console.print(f"[bold magenta]ORACLE[/] (privileged simulator state, not comparable with learned policies): "
                      f"{r.run_id}")
    for r in report.partial:
        console.print(f"[yellow]partial run[/]: {r.run_id} ({len(r.planned) - r.missing}/{len(r.planned)} episodes)")
    console.print(f"report written to {escape(str(files.folder))}/ (report.html, report.md, tables.tex, figures/)",
                  soft_wrap=True)
    print(files.html.resolve())
    return 0
