"""`wam-eval list`: benchmarks, suites, tasks with their instructions, presets and policies."""

from __future__ import annotations

import argparse

from rich.markup import escape
from rich.table import Table

from envs.presets import builtin_presets, resolve_preset
from envs.registry import BENCHMARKS, find_suite, get_benchmark
from harness.api.errors import MissingDependencyError, UsageError
from harness.cli.console import make_console
from policies.registry import policy_entries


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("list", help="benchmarks, suites, tasks, presets and policies")
    p.add_argument("--benchmark", choices=sorted(BENCHMARKS), help="only this benchmark (default: all)")
    p.add_argument("--suite", help="only this suite, with --benchmark (default: all suites)")
    p.set_defaults(func=run)


def print_variations(console, suites: list) -> None:
    """Suites that perturb another (LIBERO-PRO's), one line each, grouped by the suite they perturb."""
    if not suites:
        return
    perturbing = [s for s in suites if s.varies]
    runnable = sum(1 for s in perturbing if not s.unavailable)
    console.print(f"  [bold]perturbed suites[/]: {len(perturbing)}, {runnable} can run here "
                  "(`--suite NAME` lists one's tasks)")
    groups: dict[str, list] = {}
    for suite in suites:
        groups.setdefault(suite.varies or "further suites (perturbing none of the above)", []).append(suite)
    for base, members in groups.items():
        console.print(f"    [bold]{base}[/]")
        for suite in members:
            console.print(f"      {suite.name}  {suite.variation}  {escape(suite.display_name)}: {len(suite.tasks)} tasks, "
                          f"{_states(suite)}, {_status(suite)}", soft_wrap=True)


def _states(suite) -> str:
    counts = sorted({t.episodes for t in suite.tasks if t.episodes})
    if not counts:
        return "no fixed init states"
    per = f"{counts[0]}" if len(counts) == 1 else f"{counts[0]}-{counts[-1]}"
    have = sum(1 for t in suite.tasks if t.episodes)
    return f"{per} fixed init states per task" + ("" if have == len(suite.tasks) else f" ({have} of {len(suite.tasks)} tasks)")


def _status(suite) -> str:
    if not suite.unavailable:
        return "runs"
    ok = len(suite.tasks) - len(suite.problems)
    if ok:
        return f"[yellow]{ok} of {len(suite.tasks)} tasks run; {escape(suite.unavailable)}[/]"
    return f"[yellow]cannot run: {escape(suite.unavailable)}[/]"


def run(args: argparse.Namespace, argv: list[str]) -> int:
    console = make_console()
    names = [args.benchmark] if args.benchmark else list(BENCHMARKS)
    shown = 0
    for name in names:
        try:
            bench = get_benchmark(name)
            if args.suite and not args.benchmark and args.suite not in {s.name for s in bench.suites()}:
                continue  # --suite alone: list it from whichever benchmark has it
            suites = [find_suite(bench, args.suite)] if args.suite else list(bench.suites())
        except (MissingDependencyError, ImportError) as exc:
            console.print(f"[bold]{name}[/]: unavailable here ({escape(str(exc))})", soft_wrap=True)
            continue
        shown += 1
        default = resolve_preset(bench.default_preset)
        console.print(f"[bold]{name}[/]  action dim {bench.action_dim_for(default)} (under {default.name}), settings "
                      f"{', '.join(bench.settings())}, default preset {default.name}", soft_wrap=True)
        plain = [s for s in suites if not s.variation] if not args.suite else suites
        for suite in plain:
            note = "" if suite.in_paper else " (not in the paper's table)"
            console.print(f"  [bold]{suite.name}[/] = {suite.display_name}{note}: {len(suite.tasks)} tasks"
                          + (f"  [yellow]cannot run here: {escape(suite.unavailable)}[/]" if suite.unavailable else ""),
                          soft_wrap=True)
            for task in suite.tasks:
                # One line per task, never wrapped: users copy names and grep this output.
                problem = suite.problems.get(task.name)
                console.print(f"    {task.index:>2}  {task.name}  \"{escape(task.instruction)}\"  ({task.episodes} episodes)"
                              + (f"  [yellow]cannot run: {escape(problem)}[/]" if problem else ""), soft_wrap=True)
        if not args.suite:
            print_variations(console, [s for s in suites if s.variation])
    if args.suite and not shown:
        raise UsageError(f"no benchmark has a suite {args.suite!r}; `wam-eval list` shows them all")
    if not args.suite:
        presets = Table(title="presets", title_justify="left", show_edge=False)
        for col in ("name", "benchmark", "version", "official", "hash"):
            presets.add_column(col)
        for preset in builtin_presets().values():
            if args.benchmark in (None, preset.benchmark):
                presets.add_row(preset.name, preset.benchmark, str(preset.version), "yes" if preset.official else "no", preset.hash)
        console.print(presets)
        policies = Table(title="policies", title_justify="left", show_edge=False)
        policies.add_column("name")
        policies.add_column("what it is")
        for entry in policy_entries().values():
            policies.add_row(entry.name, entry.summary)
        policies.add_row("remote://HOST:PORT", "a policy served over websocket (openpi wire format)")
        policies.add_row("module:factory", "your own policy: a callable taking a PolicyContext")
        console.print(policies)
    return 0
