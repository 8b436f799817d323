"""`wam-eval doctor`: is this machine's simulator the reference one? No policy needed.

Checks the headless rendering backend, then rolls every chosen LIBERO init state through the
harness's own env and compares its state with the golden states (after set_init_state and after the
warm-up). Exit 0 when everything matches, 1 when something drifted or nothing can render.
"""

from __future__ import annotations

import argparse
from concurrent.futures import ProcessPoolExecutor

from rich.markup import escape
from rich.table import Table

from envs.presets import resolve_preset
from envs.registry import find_suite, get_benchmark, select_tasks
from harness.api.errors import MissingDependencyError, UsageError
from harness.api.types import DriftVerdict
from harness.cli.args import csv_list
from harness.cli.console import make_console

# The reference protocol: its seed and no-op warm-up; without --preset every recorded warm-up is checked.
DEFAULT_PRESET = "fastwam-libero"
VERDICT_STYLE = {DriftVerdict.OK: "green", DriftVerdict.DRIFT: "bold red", DriftVerdict.NO_REFERENCE: "yellow"}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("doctor", help="check the rendering backend and LIBERO's init states against the golden states")
    p.add_argument("--suite", type=csv_list, default=(),
                   help="LIBERO suite(s), comma-separated; default: the four of the paper's Table 2")
    p.add_argument("--tasks", help="task indices or names per suite: '0,1', '0-4', a name; default: all")
    p.add_argument("--preset", help="check after this preset's warm-up, with its seed (default: every recorded "
                                    f"warm-up under {DEFAULT_PRESET})")
    p.add_argument("--init-states", type=int, default=50, metavar="N",
                   help="the first N init states of each task (default 50: all)")
    p.add_argument("--jobs", type=int, default=1, help="processes checking tasks in parallel (default 1)")
    p.set_defaults(func=doctor)


def _check(args: tuple) -> object:
    from envs.libero.golden import check_init_states, shipped_golden_states

    task, preset, init_states, warmups = args
    return check_init_states(task, preset, init_states, warmups, shipped_golden_states())


def doctor(args: argparse.Namespace, argv: list[str]) -> int:
    console = make_console()
    if args.init_states < 1:
        raise UsageError(f"--init-states must be at least 1, not {args.init_states}")
    if args.jobs < 1:
        raise UsageError(f"--jobs must be at least 1, not {args.jobs}")
    benchmark = get_benchmark("libero")
    preset = resolve_preset(args.preset or DEFAULT_PRESET)
    if preset.benchmark != "libero":
        raise UsageError(f"preset {preset.name} is for {preset.benchmark}; doctor checks LIBERO presets")
    benchmark.check_available(preset)  # LIBERO installed (and a GL backend when the preset renders)
    from envs.libero.golden import GOLDEN_PATH, TOLERANCE, shipped_golden_states

    golden = shipped_golden_states()
    if golden is None:
        raise MissingDependencyError(f"the golden states file {GOLDEN_PATH} is missing; reinstall wam-eval")
    suites = tuple(dict.fromkeys(args.suite)) or tuple(s.name for s in benchmark.suites() if s.in_paper)
    tasks = [t for name in suites for t in select_tasks(find_suite(benchmark, name), args.tasks)]
    for task in tasks:
        if args.init_states > task.episodes:
            raise UsageError(f"--init-states {args.init_states}: {task.suite} tasks have {task.episodes} init states")
    warmups = (0, preset.warmup_steps) if args.preset else golden.warmups
    failed = False

    # 1. rendering: what every policy reading a camera needs
    from envs.headless import select_mujoco_gl

    try:
        backend = select_mujoco_gl()
        console.print(f"[green]rendering[/] MUJOCO_GL={backend}: a headless OpenGL context opens")
    except MissingDependencyError as exc:
        failed = True
        console.print(f"[bold red]rendering[/] {escape(str(exc))}", soft_wrap=True)

    # 2. the stack, beside the one the golden states were recorded on
    versions = benchmark.versions()
    here = ", ".join(f"{k} {versions.get(k, 'not installed')}" for k in golden.stack if k != "python")
    recorded = ", ".join(f"{k} {v}" for k, v in golden.stack.items() if k != "python")
    console.print(f"[bold]stack[/] {here}; golden states recorded on {recorded}", soft_wrap=True)

    # 3. every chosen init state against the golden states
    jobs = [(task, preset, tuple(range(args.init_states)), tuple(warmups)) for task in tasks]
    console.print(f"checking {len(tasks)} task(s) x {args.init_states} init state(s) after warm-up "
                  f"{', '.join(map(str, warmups))} ({preset.name}, seed {preset.env_seed}) ...")
    if args.jobs > 1:
        with ProcessPoolExecutor(max_workers=args.jobs) as pool:
            results = list(pool.map(_check, jobs))
    else:
        results = [_check(job) for job in jobs]
    table = Table(title=f"LIBERO init states vs golden states (tolerance {TOLERANCE:g} in qpos)", title_justify="left")
    for col in ("suite", "#", "task", "init states", "worst deviation", "at (init state, warm-up)", "verdict"):
        table.add_column(col, overflow="fold")  # every task's whole name, on a narrow terminal too
    for r in results:
        style = VERDICT_STYLE[r.verdict]
        table.add_row(r.suite, str(r.index), escape(r.task), str(r.checked),
                      "-" if r.worst is None else f"{r.worst:.2g}",
                      "-" if r.worst_at is None else f"{r.worst_at[0]}, {r.worst_at[1]}",
                      f"[{style}]{r.verdict.value}[/]")
    console.print(table)
    drifted = [r for r in results if r.verdict == DriftVerdict.DRIFT]
    if drifted:
        failed = True
        names = "; ".join(f"{r.suite} task {r.index} ({r.task})" for r in drifted)
        console.print(f"[bold red]DRIFT[/]: {len(drifted)} task(s) start from another scene than on the reference stack: "
                      f"{escape(names)}. Success rates on them are not comparable with the paper's; install the "
                      f"reference stack: pip install {' '.join(f'{k}=={v}' for k, v in golden.stack.items() if k in ('mujoco', 'robosuite'))}",
                      soft_wrap=True)
    missing = [r for r in results if r.verdict == DriftVerdict.NO_REFERENCE]
    if missing:
        console.print(f"[yellow]{len(missing)} task(s) have no golden state for this choice (suites or warm-ups the "
                      "golden file does not cover); their runs say `no reference`[/]")
    if not failed:
        console.print("[green]ok[/]: this stack reproduces the reference scenes")
    return 1 if failed else 0
