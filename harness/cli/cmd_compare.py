"""`wam-eval compare A B`: B against A per column of the paper's table and overall, with the
difference's interval and a paired test on shared episodes."""

from __future__ import annotations

import argparse

from rich.markup import escape
from rich.table import Table
from rich.text import Text

from harness.cli.console import make_console
from harness.cli.stores import add_store_option
from harness.report.format import PRESET_MISMATCH_MARK, comparison_words, p_text, pairing_text
from wam_eval import compare

VERDICT_STYLE = {"better": "bold green", "worse": "bold red"}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("compare", help="B against A: differences with intervals and paired tests")
    p.add_argument("run_a", metavar="A", help="the reference run (id or unique prefix)")
    p.add_argument("run_b", metavar="B", help="the run compared against A")
    add_store_option(p)
    p.add_argument("--alpha", type=float, default=0.05, help="significance level (default 0.05)")
    p.add_argument(
        "--allow-preset-mismatch",
        action="store_true",
        help="compare runs evaluated under different presets (marked in the table)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace, argv: list[str]) -> int:
    console = make_console()
    result = compare(args.run_a, args.run_b, store=args.store, alpha=args.alpha,
                     allow_preset_mismatch=args.allow_preset_mismatch)
    a, b, comparisons, mismatch = result.a, result.b, result.comparisons, result.preset_mismatch
    mark = f" {PRESET_MISMATCH_MARK}" if mismatch else ""
    table = Table(title=escape(f"B = {b.run_id} vs A = {a.run_id}") + mark, title_justify="left")
    for col in ("column", "A", "B", f"B - A [{100 * (1 - args.alpha):g}% CI]", "test", "p", "verdict", "episodes"):
        table.add_column(col)
    for c in comparisons:
        table.add_row(
            c.label,
            f"{100 * c.a.rate:.1f}% (n={c.a.n})",
            f"{100 * c.b.rate:.1f}% (n={c.b.n})",
            comparison_words(c),
            c.test,
            p_text(c.p_value),
            Text(c.verdict, style=VERDICT_STYLE.get(c.decision, "")),
            pairing_text(c),
        )
    console.print(table)
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
        if not run_data.trained:
            console.print(f"[bold red]untrained weights[/]: {run_data.run_id}")
        if run_data.privileged:
            console.print(f"[bold magenta]ORACLE[/] (privileged simulator state): {run_data.run_id}")
    console.print(f"'better'/'worse' only where the test gives p < {args.alpha:g}, 'no significant difference' "
                  "otherwise; the interval is the score interval, and where it disagrees with the test the verdict "
                  "says so.")
    return 0
