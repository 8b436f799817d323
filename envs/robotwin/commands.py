"""RoboTwin's `wam-eval` subcommands, registered by its benchmark class (`RoboTwinBenchmark.commands`).

  seeds list   [--task T] [--preset P] [--store S]      what the store holds, per task and setting
  seeds import FILES... --preset P [--store S]          seed lists computed elsewhere (one JSON per task)
  seeds export DIR --preset P [--store S] [--task T]    the lists a preset's episodes run on, as JSON
  seeds forget --errors [--task T] [--preset P] [--store S] [--force]   drop the verdicts of checks that raised
  setup robotwin-ci [--dir D] [--no-apt]                the CPU stand-in (envs/robotwin/setup_ci.py)

`wam-eval run` validates what it needs by itself (the preparation phase); the seeds commands look at
the verdicts, and move lists between stores or machines. An imported list replaces the stored verdicts
of its seeds: the user vouches that the file was validated under the preset's expert protocol. The
store is the CLI's: it lends these commands its verdicts (harness.api.commands.CommandContext).

A check that raised (a missing asset, CUDA out of memory, a planner crash) is stored as an error
verdict: the seed is skipped as upstream skips it, but the cause may be this machine, not the seed.
Runs keep skipping it, so that a resumed run keeps its seed list, until `forget --errors` deletes those
verdicts; the next run checks the seeds again. Nothing else can be forgotten: the expert's own
verdicts are final (import a list to replace them).

Nothing heavy is imported here (`wam-eval --help` builds these parsers): SAPIEN only when a command runs.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.markup import escape

from envs.presets import Preset, resolve_preset
from envs.registry import get_benchmark
from envs.robotwin import catalog, seeds
from harness.api.commands import Command, CommandContext
from harness.api.errors import UsageError
from harness.api.verdicts import VerdictStore

SETUP_TARGETS = ("robotwin-ci",)


def _seeds_arguments(p: argparse.ArgumentParser, ctx: CommandContext) -> None:
    add_store_option = ctx.add_store_option
    cmds = p.add_subparsers(dest="seeds_command", required=True, parser_class=type(p))
    show = cmds.add_parser("list", help="the seed verdicts a store holds, per task, setting and expert protocol")
    show.add_argument("--task", help="only this task (default: every task)")
    show.add_argument(
        "--preset",
        help="only this preset's expert protocol, with the seeds its episodes would use (default: every protocol)",
    )
    add_store_option(show)
    imp = cmds.add_parser("import", help="store seed lists computed elsewhere (one JSON file per task)")
    imp.add_argument("files", nargs="+", type=Path, metavar="FILE", help="seed list file(s) written by `seeds export`")
    imp.add_argument("--preset", required=True, help="the preset whose expert protocol validated them")
    add_store_option(imp)
    exp = cmds.add_parser("export", help="write a preset's seed lists, one JSON file per task (what import reads)")
    exp.add_argument("directory", type=Path, metavar="DIR", help="folder to write one seed list file per task into")
    exp.add_argument("--preset", required=True, help="the preset whose expert protocol validated the seeds")
    exp.add_argument("--task", help="only this task (default: every task)")
    add_store_option(exp)
    forget = cmds.add_parser(
        "forget", help="delete the error verdicts (checks that raised), so the next run checks those seeds again"
    )
    forget.add_argument(
        "--errors",
        action="store_true",
        help="the verdicts of checks that raised (required, no default: the expert's own verdicts cannot be forgotten)",
    )
    forget.add_argument("--task", help="only this task (default: every task)")
    forget.add_argument("--preset", help="only this preset's expert protocol (default: every protocol)")
    add_store_option(forget)
    forget.add_argument(
        "--force",
        action="store_true",
        help="forget even where runs have stored episodes of those "
        "tasks (resuming such a run could then run a seed twice and skip another) (default: refuse)",
    )


def _robotwin_preset(name: str) -> Preset:
    preset = resolve_preset(name)
    if preset.benchmark != catalog.BENCHMARK:
        raise UsageError(f"preset {preset.name} is for {preset.benchmark}; seed lists are RoboTwin's")
    return preset


def _check_task(task: str | None) -> None:
    if task is not None and task not in catalog.TASKS:
        raise UsageError(f"unknown RoboTwin task {task!r}; `wam-eval list --benchmark robotwin` lists them")


def _seeds_list(args: argparse.Namespace, ctx: CommandContext) -> int:
    _check_task(args.task)
    console = ctx.make_console()
    preset = _robotwin_preset(args.preset) if args.preset else None
    bench = get_benchmark(catalog.BENCHMARK)
    protocol = bench.expert_protocol(preset) if preset else None  # needs the RoboTwin code: checked first
    with ctx.open_verdicts(args.store, False) as store:
        groups = [g for g in store.verdict_groups(catalog.BENCHMARK, args.task) if protocol in (None, g["protocol"])]
        if not groups:
            what = f" for {args.task}" if args.task else ""
            under = f" under {escape(preset.name)}'s expert protocol {protocol}" if preset else ""
            console.print(f"no seed verdicts{escape(what)}{under} in {escape(str(store.path))}", soft_wrap=True)
            return 0
        console.print(f"seed verdicts in {escape(str(store.path))}:", soft_wrap=True)
        rule = seeds.SeedRule.of(preset) if preset else None
        for g in groups:
            # One line per group, never wrapped: users grep this and copy protocols from it.
            line = (
                f"  {g['task']}  {g['setting']}  protocol {g['protocol']}  checked {g['checked']} "
                f"({g['first']}..{g['last']})  accepted {g['accepted']}  imported {g['imported']}  "
                f"errors {g['errors']}"
            )
            if rule is not None:
                verdicts = store.verdicts(catalog.BENCHMARK, g["task"], g["setting"], g["protocol"])
                found = seeds.seed_list(verdicts, rule.start, preset.episodes_per_task)
                shown = ", ".join(str(s) for s in found.seeds[:5]) + (", ..." if len(found.seeds) > 5 else "")
                line += (
                    f"  episodes of {preset.name}: {len(found.seeds)}/{preset.episodes_per_task} seeds from "
                    f"{rule.start}" + (f" ({shown})" if shown else "")
                )
            console.print(escape(line), soft_wrap=True)
    return 0


def _seeds_import(args: argparse.Namespace, ctx: CommandContext) -> int:
    console = ctx.make_console()
    preset = _robotwin_preset(args.preset)
    bench = get_benchmark(catalog.BENCHMARK)
    protocol = bench.expert_protocol(preset)
    lists = seeds.load_seed_files(
        args.files, protocol=protocol, known_tasks=catalog.TASKS, known_settings=catalog.SETTINGS
    )  # every file checked before the store is touched
    batches = seeds.seed_list_verdicts(lists, benchmark=bench.name, protocol=protocol)
    with ctx.open_verdicts(args.store, True) as store:  # the CLI's store keeps what the files hand back
        for b in batches:
            store.put_verdicts(
                b.benchmark, b.task, b.setting, b.protocol, b.verdicts, source=b.source, imported=b.imported
            )
    for _, entry in lists:
        infos = sum(1 for s in entry.seeds if s in entry.infos)
        console.print(
            f"{entry.task}/{entry.setting}: {len(entry.seeds)} seed(s) from {entry.start_seed} "
            f"({infos} with the expert's episode info) -> expert protocol {protocol} in "
            f"{escape(str(args.store))}",
            soft_wrap=True,
        )
    return 0


def _seeds_export(args: argparse.Namespace, ctx: CommandContext) -> int:
    _check_task(args.task)
    console = ctx.make_console()
    preset = _robotwin_preset(args.preset)
    bench = get_benchmark(catalog.BENCHMARK)
    protocol = bench.expert_protocol(preset)
    tasks = [args.task] if args.task else list(catalog.TASKS)
    with ctx.open_verdicts(args.store, False) as store:
        written = seeds.export_seed_lists(
            store,
            args.directory,
            benchmark=bench.name,
            protocol=protocol,
            rule=seeds.SeedRule.of(preset),
            count=preset.episodes_per_task,
            tasks=tasks,
            settings=preset.settings,
        )
    if not written:
        raise UsageError(f"{args.store} holds no seeds under {preset.name}'s expert protocol {protocol}")
    for path in written:
        console.print(str(path))
    return 0


def _refuse_under_stored_runs(store: VerdictStore, *, task: str | None, protocol: str | None) -> None:
    """A seed checked again and accepted shifts every later seed of its list: a run with stored
    episodes there would, when resumed, store the next episodes on other seeds than their index says."""
    affected = []
    for group in store.verdict_groups(catalog.BENCHMARK, task):
        if group["errors"] and (protocol is None or group["protocol"] == protocol):
            runs = store.runs_with_episodes(catalog.BENCHMARK, group["task"], group["setting"])
            affected += [f"{run} ({group['task']}/{group['setting']})" for run in runs]
    if affected:
        raise UsageError(
            f"runs have stored episodes where error verdicts would be forgotten: {', '.join(sorted(set(affected)))}; "
            "checking those seeds again may shift the seed lists under them. Finish or re-create those runs in "
            "another --store, or pass --force"
        )


def _seeds_forget(args: argparse.Namespace, ctx: CommandContext) -> int:
    if not args.errors:
        raise UsageError(
            "seeds forget needs --errors: only verdicts of checks that raised can be forgotten; the "
            "expert's own verdicts are final (import a seed list to replace them)"
        )
    _check_task(args.task)
    console = ctx.make_console()
    preset = _robotwin_preset(args.preset) if args.preset else None
    protocol = get_benchmark(catalog.BENCHMARK).expert_protocol(preset) if preset else None
    with ctx.open_verdicts(args.store, False):
        pass  # the store the user named, never a new one
    with ctx.open_verdicts(args.store, True) as store:
        if not args.force:
            _refuse_under_stored_runs(store, task=args.task, protocol=protocol)
        forgotten = store.forget_error_verdicts(catalog.BENCHMARK, task=args.task, protocol=protocol)
    if not forgotten:
        console.print(f"no error verdicts to forget in {escape(str(args.store))}", soft_wrap=True)
        return 0
    groups: dict[tuple[str, str, str], list[int]] = {}
    for task, setting, proto, verdict in forgotten:
        groups.setdefault((task, setting, proto), []).append(verdict.candidate)
    console.print(
        f"forgot {len(forgotten)} error verdict(s) in {escape(str(args.store))}; the next run checks "
        "these seeds again:",
        soft_wrap=True,
    )
    for (task, setting, proto), candidates in groups.items():
        console.print(f"  {task}  {setting}  protocol {proto}  seeds {', '.join(map(str, candidates))}", soft_wrap=True)
    return 0


_SEEDS_COMMANDS = {"list": _seeds_list, "import": _seeds_import, "export": _seeds_export, "forget": _seeds_forget}


def _run_seeds(args: argparse.Namespace, argv: list[str], ctx: CommandContext) -> int:
    return _SEEDS_COMMANDS[args.seeds_command](args, ctx)


def _setup_arguments(p: argparse.ArgumentParser, ctx: CommandContext) -> None:
    p.add_argument(
        "target", choices=SETUP_TARGETS, help="robotwin-ci: Vulkan driver and stand-in assets for robotwin2-primitives"
    )
    p.add_argument(
        "--dir",
        help="where to build the stand-in (default: $WAM_EVAL_ROBOTWIN_STANDIN, else ~/.cache/wam-eval/robotwin-standin)",
    )
    p.add_argument(
        "--no-apt",
        action="store_true",
        help="never run apt-get; fail with the command to run instead (default: apt-get as root)",
    )


def _run_setup(args: argparse.Namespace, argv: list[str], ctx: CommandContext) -> int:
    from envs.robotwin.setup_ci import run_setup

    run_setup(args.dir, apt=not args.no_apt)
    return 0


SEEDS = Command(
    "seeds", "RoboTwin's expert-validated seeds in the store: list, import, export", _seeds_arguments, _run_seeds
)
SETUP = Command("setup", "prepare this machine: robotwin-ci (RoboTwin's CPU stand-in)", _setup_arguments, _run_setup)
COMMANDS = (SEEDS, SETUP)
