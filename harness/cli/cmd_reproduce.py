"""`wam-eval reproduce table2|table1`: one of the paper's tables under its own protocol, ending with
the report and a verdict per cell against the paper's figure (harness/reproduce/)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from envs.presets import Preset, builtin_presets, preset_from_mapping
from envs.registry import get_benchmark
from harness.api.errors import UsageError
from harness.api.report_facts import PaperTable
from harness.cli import cmd_robustness
from harness.cli.args import csv_list
from harness.cli.cmd_run import (
    EXIT_EPISODE_ERRORS,
    EXIT_INTERRUPTED,
    add_execution_arguments,
    add_policy_arguments,
    evaluate_args,
    print_summary,
)
from harness.cli.console import make_console
from harness.driver import choose_preset
from harness.report import default_out_dir, write_report
from harness.report.aggregate import load_run
from harness.report.baselines import BaselineResult, BaselineSet, baseline_dirs
from harness.reporting import build_report, load_baselines
from harness.reproduce.cells import AVERAGE, TableVerdicts, judge_cells, protocol_mismatch
from harness.reproduce.estimate import estimate
from harness.reproduce.tables import get_table, paper_method, paper_tables, table_spec
from harness.reproduce.verdict import ABOVE, BELOW, REPRODUCED
from harness.spec import EvalSpec, episode_keys, plan_tasks
from harness.store import ResultStore

_COLOURS = {REPRODUCED: "green", BELOW: "red", ABOVE: "yellow"}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("reproduce", help="run one of the paper's tables under its protocol and judge each cell")
    targets = p.add_subparsers(dest="target", required=True, parser_class=type(p))
    for table in paper_tables().values():
        t = targets.add_parser(
            table.name, help=f"the paper's {table.title} ({table.benchmark}): every suite, task, setting and episode")
        add_table_arguments(t)
        t.set_defaults(func=run, table=table.name)
    cmd_robustness.register_target(targets)


def add_table_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--suite", type=csv_list, default=(), help="narrow to these suites (the verdicts say which part ran; default: the table's)")
    p.add_argument("--tasks", help="narrow to these task indices or names per suite: '0,1', '0-4' (default: all)")
    p.add_argument("--episodes", type=int, help="narrow to this many episodes per task and setting (default: the paper's)")
    p.add_argument("--against", metavar="METHOD",
                   help="the paper's row to judge against (default: the policy's own; required for a policy the "
                        "paper has no row for)")
    p.add_argument("--baselines", type=Path,
                   help="read published baselines from this folder only (default: the shipped ones and results/baselines)")
    p.add_argument("--out", type=Path, help="report folder (default reports/<run>/)")
    add_policy_arguments(p)
    add_execution_arguments(p)


def builtin_hashes() -> dict[str, str]:
    return {name: preset.hash for name, preset in builtin_presets().items()}


def paper_row(baselines: BaselineSet, table: PaperTable, method: str) -> BaselineResult:
    """The row of that method among the table's benchmark's baselines (the paper's, the README's, a user's)."""
    rows = baselines.for_benchmark(table.benchmark)
    for row in rows:
        if row.method == method:
            return row
    known = ", ".join(sorted({r.method for r in rows})) or "none"
    raise UsageError(f"no row {method!r} in the baselines' {table.title}; choose --against from: {known}")


def judged_method(baselines: BaselineSet, table: PaperTable, spec: EvalSpec, against: str | None) -> str:
    """The row named by --against, else the policy's own; a policy the paper has no row for (noop, a
    user's model) is refused: judging it against Fast-WAM's row by default would be a verdict nobody asked for."""
    method = against or paper_method(spec)
    if method is None:
        known = ", ".join(sorted({r.method for r in baselines.for_benchmark(table.benchmark)})) or "none"
        raise UsageError(f"the paper's {table.title} has no row for policy {spec.policy!r}; name the row to judge it "
                         f"against with --against METHOD, one of: {known}")
    return method


def workers_for(args: argparse.Namespace) -> int:
    if args.workers == 0:
        return 1
    return args.workers or os.cpu_count() or 1


def print_plan(console: Console, table: PaperTable, spec: EvalSpec, args: argparse.Namespace, paper: BaselineResult,
               preset: Preset) -> None:
    benchmark = get_benchmark(table.benchmark)
    keys = episode_keys(plan_tasks(spec, benchmark, preset))
    narrowed = bool(args.suite or args.tasks or args.episodes)
    console.print(f"[bold]reproduce[/] {table.title} ({table.benchmark}) under {escape(preset.name)}"
                  + (" - [yellow]narrowed: only part of the table runs[/]" if narrowed else " - the full protocol"))
    suites = escape(", ".join(spec.suites))
    console.print(f"[bold]plan[/] {len(keys)} episodes: suites {suites}; tasks {escape(spec.tasks or 'all')}; settings "
                  f"{escape(', '.join(spec.settings or preset.settings))}; {spec.episodes or preset.episodes_per_task} episodes per "
                  f"task and setting (the protocol: {preset.episodes_per_task})", soft_wrap=True)
    console.print(f"[bold]judged against[/] {escape(paper.method)} in {escape(paper.source.id)} {table.title} "
                  f"({escape(paper.protocol)})", soft_wrap=True)
    mismatch = protocol_mismatch(preset, paper, builtin_hashes())
    if mismatch:
        console.print(f"[yellow]warning: {escape(mismatch)}[/]", soft_wrap=True)
    guess = estimate(args.store, keys, policy=spec.policy, preset=preset.name, workers=workers_for(args))
    console.print(f"[bold]estimate[/] {guess.text()}", soft_wrap=True)


def print_verdicts(console: Console, verdicts: TableVerdicts) -> None:
    # Everything a user's baseline file or preset names is text, not rich markup (escape).
    table = Table(title=f"reproduction of {escape(verdicts.title)}: {verdicts.run_id} against "
                        f"{escape(verdicts.paper_method)} ({escape(verdicts.paper_source)})", title_justify="left")
    # Cells wrap to fit 80 columns in a log and are never cut short; a verdict stays on one line.
    for col in ("cell", "ours", "paper", "p (binomial)", "paper in our 95% CI", "verdict", "part run"):
        table.add_column(col, overflow="fold", no_wrap=col == "verdict")
    for c in verdicts.cells:
        ours = f"{c.successes}/{c.n} ({100 * c.rate:.1f}%)" + ("" if c.n == c.planned else f" of {c.planned} planned")
        if c.verdict is None:
            table.add_row(escape(c.label), ours, "-", "-", "-", "no paper figure", escape(c.part))
            continue
        lo, hi = c.interval
        table.add_row(escape(c.label), ours, f"{c.paper_percent:g}%", f"{c.p_value:.3g}",
                      f"{'yes' if c.paper_inside else 'no'} ({100 * lo:.1f}-{100 * hi:.1f})",
                      f"[{_COLOURS.get(c.verdict, 'yellow')}]{c.verdict}[/]", escape(c.part))
    console.print(table)
    if verdicts.narrowed:
        console.print("[yellow]narrowed run: each verdict covers only the part named in its row; the Average needs "
                      "every column in full[/]")
    console.print(f"verdict rule: {verdicts.rule}", soft_wrap=True)
    if verdicts.protocol_mismatch:
        console.print(f"[yellow]warning: {escape(verdicts.protocol_mismatch)}[/]", soft_wrap=True)


def run(args: argparse.Namespace, argv: list[str]) -> int:
    console = make_console()
    table = get_table(args.table)
    spec = table_spec(table, policy=args.policy, checkpoint=args.checkpoint, device=args.device,
                      policy_options=dict(args.policy_option), seed=args.seed, suites=tuple(args.suite),
                      tasks=args.tasks, episodes=args.episodes)
    baselines = load_baselines(baseline_dirs(args.baselines))
    paper = paper_row(baselines, table, judged_method(baselines, table, spec, args.against))
    print_plan(console, table, spec, args, paper, choose_preset(spec, get_benchmark(table.benchmark)))
    outcome = evaluate_args(args, spec, console, argv).outcome
    errors = print_summary(console, outcome, args.store)
    if outcome.interrupted:
        return EXIT_INTERRUPTED
    with ResultStore(args.store) as store:
        data = load_run(store, outcome.run_id)
    preset = preset_from_mapping(outcome.manifest.preset, origin=outcome.run_id)
    verdicts = judge_cells(table, get_benchmark(table.benchmark), preset, outcome.planned, data.rows, paper,
                           run_id=outcome.run_id, builtin_hashes=builtin_hashes())
    out = args.out or default_out_dir([data])
    with console.status("drawing figures and writing the report"):
        report = build_report([data], baselines, out_dir=out.resolve())
        for section in report.sections:
            if section.layout.benchmark == table.benchmark:
                section.verdicts = {outcome.run_id: {c.column: c.verdict or "-" for c in verdicts.cells}}
                section.verdict_note = (
                    f"Verdict: {outcome.run_id}'s cell against the paper's {paper.method} row "
                    + ("(narrowed run: " + "; ".join(f"{c.label} {c.part}" for c in verdicts.cells if c.column != AVERAGE)
                       + "). " if verdicts.narrowed else ". ")
                    + verdicts.rule
                    + (f" Warning: {verdicts.protocol_mismatch}." if verdicts.protocol_mismatch else "")
                )
        files = write_report(report, out)
    written = verdicts.write(files.folder)
    print_verdicts(console, verdicts)
    console.print(f"report written to {escape(str(files.folder))}/ (report.html, report.md, tables.tex, "
                  f"{written.name})", soft_wrap=True)
    print(files.html.resolve())
    return EXIT_EPISODE_ERRORS if errors else 0  # as `run`: error rows count as failures
