"""Where the engine's time goes, counted: the driver of an in-process run and of a Ray run (one
worker) under cProfile, beside the bare loop of engine_overhead.py.

Deterministic figures (call counts) show the harness does the bare loop's work and no more: the
same env steps, frames and resets per episode. Timed figures show what it adds: the store's writes
(one transaction per episode, fsync'd), the progress display, and on Ray the driver's waits (a
driver waiting on ray.wait is idle: its time there is the episodes', not overhead) and checks for
overdue episodes. A worker's own bookkeeping is the episode time the rollout does not spend in the
env or the policy, stored with every episode (engine_overhead.py reports it).

    python benchmarks/engine_profile.py [--episodes 4]
Writes benchmarks/out/engine_profile.md.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from engine_common import OUT, PRESET, machine, run_harness, spec_for
from engine_overhead import bare_loop

from envs.presets import load_preset_file
from envs.registry import get_benchmark
from harness.executors import InProcessExecutor
from harness.ray_engine import RayEngineOptions, RayExecutor

# (label, file fragment, function name): what is counted in each profile
WATCHED = [
    ("env steps", "envs/libero/env.py", "step"),
    ("env resets", "envs/libero/env.py", "reset"),
    ("frames rendered", "robosuite/utils/binding_utils.py", "render"),
    ("env builds", "envs/libero/benchmark.py", "make_env"),
    ("drift checks", "envs/libero/env.py", "check_drift"),
    ("episodes stored", "harness/store.py", "put_episode"),
    ("progress updates", "harness/progress.py", "update"),
    ("ray.wait", "ray/_private/worker.py", "wait"),
    ("ray.get", "ray/_private/worker.py", "get"),
    ("overdue checks", "harness/ray_engine/executor.py", "_stop_overdue"),
    ("Ray start (once)", "ray/_private/worker.py", "init"),
    ("Ray shutdown (once)", "ray/_private/worker.py", "shutdown"),
    ("time.sleep", "~", "<built-in method time.sleep>"),
]
SLEEP = ("~", 0, "<built-in method time.sleep>")


@dataclass
class Profiled:
    name: str
    episodes: int
    stats: pstats.Stats

    def find(self, fragment: str, func: str) -> tuple[int, float]:
        """Calls and cumulative seconds of the functions matching (file fragment, name), in the main thread."""
        calls, seconds = 0, 0.0
        for (file, _line, name), (_cc, nc, _tt, ct, _callers) in self.stats.stats.items():  # type: ignore[attr-defined]
            if name == func and fragment in file:
                calls, seconds = calls + nc, seconds + ct
        return calls, seconds

    def sleeps(self) -> list[tuple[str, int, float]]:
        """Who called time.sleep: (caller, calls, seconds), most time first."""
        entry = self.stats.stats.get(SLEEP)  # type: ignore[attr-defined]
        if entry is None:
            return []
        callers = entry[4]
        rows = [(f"{Path(file).name}:{line} {name}", v[1], v[2]) for (file, line, name), v in callers.items()]
        return sorted(rows, key=lambda row: -row[2])


def profiled(name: str, episodes: int, fn: Callable[[], object]) -> Profiled:
    profile = cProfile.Profile()
    profile.enable()
    try:
        fn()
    finally:
        profile.disable()
    return Profiled(name, episodes, pstats.Stats(profile))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", default="libero_object")
    parser.add_argument("--task", type=int, default=0)
    parser.add_argument("--episodes", type=int, default=4)
    args = parser.parse_args()
    get_benchmark("libero").check_available(load_preset_file(PRESET))
    import libero.libero.envs  # noqa: F401
    import robosuite  # noqa: F401

    bare_loop(args.suite, args.task, 2)  # first-time costs out of the way, as in engine_overhead.py
    spec = spec_for(suite=args.suite, tasks=str(args.task), episodes=args.episodes)
    n = args.episodes
    runs = [
        profiled("bare loop", n, lambda: bare_loop(args.suite, args.task, n)),
        profiled("in-process", n, lambda: run_harness(spec, lambda ref, ctx: InProcessExecutor(ref, ctx))),
        profiled(
            "ray-1 (driver)",
            n,
            lambda: run_harness(spec, lambda ref, ctx: RayExecutor(ref, ctx, RayEngineOptions(workers=1))),
        ),
    ]
    info = machine()
    lines = [
        "# Where the engine's time goes (driver under cProfile)",
        "",
        f"{n} episodes of {args.suite} task {args.task}, noop policy, preset {PRESET.name}; {info['date']}; "
        f"commit {info['commit'][:10]}{' with uncommitted changes' if info['dirty'] else ''}. Calls per episode, "
        "and the main thread's milliseconds per episode in them (cumulative); rows marked once are paid once "
        "per run, spread here over its episodes. On Ray the env runs in the worker, so the driver's counts are "
        "zero; its ray.wait is where it waits for the worker, idle (one call per result, plus one per second "
        "of waiting: the loop looks for overdue episodes and Ctrl-C).",
        "",
        "| what | " + " | ".join(r.name for r in runs) + " |",
        "|---|" + "---|" * len(runs),
    ]
    for label, fragment, func in WATCHED:
        cells = []
        for r in runs:
            calls, seconds = r.find(fragment, func)
            cells.append(f"{calls / r.episodes:g} ({1000 * seconds / r.episodes:.1f} ms)" if calls else "0")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines += ["", "Who sleeps (calls, seconds over the whole run):", ""]
    for r in runs:
        said = "; ".join(f"{who}: {calls} ({seconds:.2f} s)" for who, calls, seconds in r.sleeps()) or "nobody"
        lines.append(f"- {r.name}: {said}")
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / "engine_profile.md"
    path.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
