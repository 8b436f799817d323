"""`wam-eval report RUN [RUN...]`: the paper's tables with the runs beside the published rows, as
markdown, LaTeX and one self-contained HTML file under reports/<run>/."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from rich.markup import escape

from harness.cli.console import make_console
from harness.cli.stores import LATEST, add_store_argument, load_runs, store_paths
from harness.errors import UsageError
from harness.report import default_out_dir, write_report
from harness.report.aggregate import RunData
from harness.report.baselines import baseline_dirs, load_baselines
from harness.report.model import build_report
from harness.report.write_latex import INTERVAL_STYLES, LatexOptions


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


def pick_run(runs: list[RunData], names: list[str], ref: str, flag: str) -> RunData:
    """The run among those given that `ref` names: as it was given, by its id or a unique prefix."""
    if ref in names:
        return runs[names.index(ref)]
    found = [r for r in runs if r.run_id == ref] or [r for r in runs if r.run_id.startswith(ref)]
    if len(found) != 1:
        what = "names none" if not found else "is ambiguous"
        raise UsageError(f"{flag} {ref!r} {what} of the runs given ({', '.join(r.run_id for r in runs)})")
    return found[0]


def apply_labels(runs: list[RunData], names: list[str], labels: list[str]) -> list[RunData]:
    renamed = {}
    for item in labels:
        ref, sep, label = item.partition("=")
        label = label.strip()
        if not sep or not ref or not label or "\n" in label:
            raise UsageError(f"--label {item!r} is not RUN=NAME")
        renamed[pick_run(runs, names, ref, "--label").run_id] = label
    return [dataclasses.replace(r, label=renamed.get(r.run_id, r.label)) for r in runs]


def run(args: argparse.Namespace, argv: list[str]) -> int:
    console = make_console()
    if not 0.0 < args.alpha < 1.0:
        raise UsageError(f"--alpha must be between 0 and 1, not {args.alpha}")
    runs = apply_labels(load_runs(store_paths(args), args.runs), args.runs, args.label)
    baseline = pick_run(runs, args.runs, args.baseline, "--baseline").run_id if args.baseline else None
    baselines = load_baselines(baseline_dirs(args.baselines))
    out = args.out or default_out_dir(runs)
    with console.status("drawing figures and writing the report"):
        report = build_report(
            runs, baselines, out_dir=out.resolve(), allow_preset_mismatch=args.allow_preset_mismatch, alpha=args.alpha,
            baseline=baseline, include_paths=args.include_paths,
        )
        files = write_report(report, out, latex=LatexOptions(args.latex_intervals, args.latex_resize))
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
