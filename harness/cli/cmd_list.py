"""`wam-eval list`: benchmarks, suites, tasks with their instructions, presets and policies."""

from __future__ import annotations

import argparse

from rich.table import Table

from envs.presets import builtin_presets, resolve_preset
from envs.registry import BENCHMARKS, find_suite, get_benchmark
from harness.cli.console import make_console
from harness.errors import MissingDependencyError, UsageError
from policies.registry import policy_entries


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("list", help="benchmarks, suites, tasks, presets and policies")
    p.add_argument("--benchmark", choices=sorted(BENCHMARKS), help="only this benchmark (default: all)")
    p.add_argument("--suite", help="only this suite, with --benchmark (default: all suites)")
    p.set_defaults(func=run)


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
            console.print(f"[bold]{name}[/]: unavailable here ({exc})")
            continue
        shown += 1
        default = resolve_preset(bench.default_preset)
        console.print(f"[bold]{name}[/]  action dim {bench.action_dim_for(default)} (under {default.name}), settings "
                      f"{', '.join(bench.settings())}, default preset {default.name}", soft_wrap=True)
        for suite in suites:
            note = "" if suite.in_paper else " (not in the paper's table)"
            console.print(f"  [bold]{suite.name}[/] = {suite.display_name}{note}: {len(suite.tasks)} tasks")
            for task in suite.tasks:
                # One line per task, never wrapped: users copy names and grep this output.
                console.print(f"    {task.index:>2}  {task.name}  \"{task.instruction}\"  ({task.episodes} episodes)",
                              soft_wrap=True)
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
