"""`wam-eval reproduce robustness`: the base LIBERO suites and their LIBERO-PRO perturbations in one
run, then the robustness report (harness/report/robustness.py) beside LIBERO-PRO's published rows."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from envs.registry import get_benchmark
from harness.api.errors import UsageError
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
from harness.report import default_out_dir
from harness.report.aggregate import load_run
from harness.report.robustness import RobustnessReport, build_robustness
from harness.report.robustness_baselines import load_published, robustness_baseline_dirs
from harness.report.robustness_writers import write_robustness
from harness.reproduce.estimate import estimate
from harness.reproduce.robustness import (
    BENCHMARK,
    RobustnessPlan,
    drift_coverage,
    parse_kinds,
    perturbations,
    place_suite,
    plan_robustness,
    robustness_preset,
)
from harness.spec import EvalSpec, episode_keys, plan_tasks
from harness.store import ResultStore


def register_target(targets: argparse._SubParsersAction) -> None:
    p = targets.add_parser("robustness", help="the base LIBERO suites and their LIBERO-PRO perturbations, with a "
                                              "robustness report (drops in points, paired where episodes pair)")
    p.add_argument("--kinds", help="perturbations, comma-separated (default lan,object,swap,task,env: LIBERO-PRO's "
                                   "leaderboard); also semantic_ood, relation_ood, object_ood, temp")
    p.add_argument("--suite", type=csv_list, default=(), help="base suites (default all four: libero_spatial, "
                                                              "libero_object, libero_goal, libero_10)")
    p.add_argument("--tasks", help="narrow to these task indices per suite: '0,1', '0-4' (default: all)")
    p.add_argument("--episodes", type=int, help="narrow to this many episodes (init states) per task (default: the preset's)")
    p.add_argument("--preset", help="protocol preset (default: the policy's protocol family with base-suite step "
                                    "limits: fastwam-libero-pro, else openpi-libero-pro; libero-pro is LIBERO-PRO's "
                                    "own runner)")
    p.add_argument("--out", type=Path, help="report folder (default reports/<run>-robustness/)")
    add_policy_arguments(p)
    add_execution_arguments(p)
    p.set_defaults(func=run)


def print_plan(console: Console, plan: RobustnessPlan, spec: EvalSpec, args: argparse.Namespace) -> None:
    benchmark = get_benchmark(BENCHMARK)
    preset = choose_preset(spec, benchmark)
    keys = episode_keys(plan_tasks(spec, benchmark, preset))
    by_key = perturbations().kind_by_key
    kinds = ", ".join(f"{k} ({by_key[k].what})" for k in plan.kinds)
    console.print(f"[bold]reproduce[/] robustness under {preset.name} #{preset.hash}: base suites "
                  f"{', '.join(plan.bases)}; perturbations {kinds}", soft_wrap=True)
    for suite, why in plan.skipped:
        console.print(f"[yellow]skipped {suite}: cannot run on this install: {escape(why)}[/]", soft_wrap=True)
    console.print(f"[bold]plan[/] {len(keys)} episodes over {len(plan.runnable)} suites; tasks "
                  f"{escape(spec.tasks or 'all')}; {spec.episodes or 'all the'} episodes per task", soft_wrap=True)
    workers = 1 if args.workers == 0 else (args.workers or os.cpu_count() or 1)
    guess = estimate(args.store, keys, policy=spec.policy, preset=preset.name, workers=workers)
    console.print(f"[bold]estimate[/] {guess.text()}", soft_wrap=True)


def print_drops(console: Console, report: RobustnessReport) -> None:
    table = Table(title="robustness: success and drop from the unperturbed suite", title_justify="left")
    for col in ("base suite", "perturbation", "success", "drop (pts)", "test", "p"):
        table.add_column(col, overflow="fold")  # cells wrap to fit 80 columns in a log, never cut short
    for row in report.rows:
        for cell in ([row.original] if row.original else []) + list(row.cells.values()):
            rate = f"{cell.successes}/{cell.n} ({100 * cell.rate:.1f}%)" if cell.measured else escape(cell.note)
            d = cell.drop
            table.add_row(row.base, cell.role.label, rate, f"{d.points:+.1f}" if d else "-",
                          d.pairing if d else "-", f"{d.p_value:.3g}" if d else "-")
    console.print(table)


def run(args: argparse.Namespace, argv: list[str]) -> int:
    console = make_console()
    kinds = parse_kinds(args.kinds)
    benchmark = get_benchmark(BENCHMARK)
    suites = benchmark.suites()
    covered = drift_coverage(suites)
    plan = plan_robustness(suites, bases=tuple(args.suite), kinds=kinds, drift_covered=covered)
    if args.episodes is not None and args.episodes < 1:
        raise UsageError(f"--episodes must be at least 1, not {args.episodes}")
    spec = EvalSpec(benchmark=BENCHMARK, policy=args.policy, preset=robustness_preset(args.policy, args.preset),
                    suites=plan.runnable, tasks=args.tasks, episodes=args.episodes, seed=args.seed,
                    checkpoint=args.checkpoint, device=args.device, policy_options=dict(args.policy_option))
    print_plan(console, plan, spec, args)
    outcome = evaluate_args(args, spec, console, argv).outcome
    errors = print_summary(console, outcome, args.store)
    if outcome.interrupted:
        return EXIT_INTERRUPTED
    with ResultStore(args.store) as store:
        data = load_run(store, outcome.run_id)
    published, sources = load_published(robustness_baseline_dirs(), place_suite)
    displays = {s.name: s.display_name for s in suites}
    report = build_robustness([data], plan.roles, displays=displays,
                              kinds=[(k, perturbations().kind_by_key[k].label) for k in plan.kinds], published=published,
                              sources=sources, drift_available=covered is not None)
    out = args.out or Path(f"{default_out_dir([data])}-robustness")
    files = write_robustness(report, out)
    print_drops(console, report)
    console.print(f"report written to {files.folder}/ (robustness.html, robustness.md, robustness.json, "
                  f"figures/robustness.png)", soft_wrap=True)
    print(files.html.resolve())
    return EXIT_EPISODE_ERRORS if errors else 0  # as `run`: the report is written, error rows count as failures
