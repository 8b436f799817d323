"""`wam-eval compare A B`: B against A per column of the paper's table and overall, with the
difference's interval and a paired test on shared episodes."""

from __future__ import annotations

import argparse

from rich import box
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from harness.cli.console import make_console
from harness.cli.stores import add_store_argument, store_paths
from harness.report.format import PRESET_MISMATCH_MARK, comparison_words, p_text, pairing_text
from wam_eval import compare

VERDICT_STYLE = {"better": "bold green", "worse": "bold red"}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("compare", help="B against A: differences with intervals and paired tests")
    p.add_argument("run_a", metavar="A", help="the reference run (id or unique prefix)")
    p.add_argument("run_b", metavar="B", help="the run compared against A")
    add_store_argument(p)
    p.add_argument("--alpha", type=float, default=0.05, help="significance level (default 0.05)")
    p.add_argument(
        "--allow-preset-mismatch",
        action="store_true",
        help="compare runs evaluated under different presets, marked in the table (default: refuse)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace, argv: list[str]) -> int:
    console = make_console()
    result = compare(args.run_a, args.run_b, store=store_paths(args), alpha=args.alpha,
                     allow_preset_mismatch=args.allow_preset_mismatch)
    a, b, comparisons, mismatch = result.a, result.b, result.comparisons, result.preset_mismatch
    mark = f" {PRESET_MISMATCH_MARK}" if mismatch else ""
    table = Table(title=escape(f"B = {b.name} vs A = {a.name} (the reference)") + mark, title_justify="left",
                  box=box.MINIMAL_HEAVY_HEAD)
    # The numbers take what they need, the verdict the rest (cells wrap, a verdict is never cut short);
    # which episodes each row compares is said under the table, so that it fits 80 columns in a log.
    for col, ratio in (("column", None), ("A % (n)", None), ("B % (n)", None),
                       (f"B - A [{100 * (1 - args.alpha):g}% CI]", None), ("test, p", None), ("verdict", 1)):
        table.add_column(col, overflow="fold", ratio=ratio)
    for c in comparisons:
        table.add_row(
            c.label,
            f"{100 * c.a.rate:.1f} ({c.a.n})",
            f"{100 * c.b.rate:.1f} ({c.b.n})",
            comparison_words(c),
            f"{c.test}, p = {p_text(c.p_value)}",
            Text(c.verdict, style=VERDICT_STYLE.get(c.decision, "")),
        )
    console.print(table)
    console.print("episodes compared:")
    for c in comparisons:
        console.print(f"  {c.label}: {escape(pairing_text(c))}")
    console.print(f"A: preset {escape(a.preset_label)}   B: preset {escape(b.preset_label)}", soft_wrap=True)
    if mismatch:
        console.print(
            f"[bold yellow]{PRESET_MISMATCH_MARK} PRESET MISMATCH[/]: the runs used different presets "
            f"({escape(a.preset_label)} vs {escape(b.preset_label)}); compared only because "
            "--allow-preset-mismatch was given"
        )
    for run_data in (a, b):
        if run_data.partial:
            console.print(
                f"[yellow]partial run[/]: {run_data.run_id} ({len(run_data.planned) - run_data.missing}/"
                f"{len(run_data.planned)} episodes stored)"
            )
        if run_data.untrained:
            console.print(f"[bold red]untrained weights[/]: {run_data.run_id}")
        if run_data.privileged:
            console.print(f"[bold magenta]ORACLE[/] (privileged simulator state): {run_data.run_id}")
    console.print(f"'better'/'worse' only where the test gives p < {args.alpha:g}, 'no significant difference' "
                  "otherwise; the interval is the score interval, and where it disagrees with the test the verdict "
                  "says so.")
    return 0
