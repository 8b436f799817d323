"""The libero-oracle's success rate over libero_object: every task, the first --episodes init states.

A real `wam-eval run` (the engine, the store, the success check) into benchmarks/out/libero_oracle.sqlite,
so a rerun resumes where the last one stopped and a larger --episodes adds only the missing episodes.
Writes the per-task and pooled success rates with Wilson intervals to benchmarks/out/libero_oracle.json
and .md. A rate below the one quoted in benchmarks/README.md means the action path or the success
check changed.

    MUJOCO_GL=egl python benchmarks/libero_oracle.py [--episodes 50] [--workers 0] [--preset openpi-libero]
"""

from __future__ import annotations

import argparse
import os
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.engine_common import OUT, machine, write_figures
from harness.driver import RunOptions, run_evaluation
from harness.spec import EvalSpec
from harness.stats import wilson_interval
from harness.store import ResultStore


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--episodes", type=int, default=50, help="init states per task (default 50: all)")
    parser.add_argument("--tasks", default=None, help="libero_object task selector (default: all 10)")
    parser.add_argument("--preset", default="openpi-libero")
    parser.add_argument("--workers", type=int, default=0, help="Ray workers (0: in-process, default)")
    parser.add_argument("--store", type=Path, default=OUT / "libero_oracle.sqlite")
    args = parser.parse_args()
    options = RunOptions(store=args.store, quiet=True)
    if args.workers:
        from harness.ray_engine import RayEngineOptions, ray_executor_factory

        options.executor_factory = ray_executor_factory(RayEngineOptions(workers=args.workers))
    load_before = os.getloadavg()
    spec = EvalSpec(benchmark="libero", policy="libero-oracle", preset=args.preset, suites=("libero_object",),
                    tasks=args.tasks, episodes=args.episodes)
    outcome = run_evaluation(spec, options)
    with ResultStore(args.store) as store:
        rows = [r for r in store.episode_rows(outcome.run_id) if r["episode_id"] in {k.id for k in outcome.planned}]
    per_task: dict[str, list[dict]] = defaultdict(list)
    for r in rows:
        per_task[r["task"]].append(r)
    tasks = {}
    for task, task_rows in sorted(per_task.items()):
        ok = sum(r["success"] for r in task_rows)
        lo, hi = wilson_interval(ok, len(task_rows))
        steps = [r["steps"] for r in task_rows if r["success"]]
        tasks[task] = {"successes": ok, "n": len(task_rows), "wilson95": [lo, hi],
                       "mean_steps_success": sum(steps) / len(steps) if steps else None,
                       "failed_init_states": [r["episode"] for r in task_rows if not r["success"]]}
    ok, n = sum(t["successes"] for t in tasks.values()), sum(t["n"] for t in tasks.values())
    lo, hi = wilson_interval(ok, n)
    data = {"machine": machine(), "load_average": [load_before[0], os.getloadavg()[0]], "preset": args.preset,
            "run": outcome.run_id, "episodes_per_task": args.episodes, "successes": ok, "n": n,
            "wilson95": [lo, hi], "tasks": tasks}
    lines = [(f"libero-oracle on libero_object under {args.preset}: {ok}/{n} = {100 * ok / max(n, 1):.1f}% "
              f"(Wilson 95% {100 * lo:.1f}-{100 * hi:.1f}%), init states 0-{args.episodes - 1} of every task"), "",
             "| task | success | mean steps (successes) | failed init states |", "|---|---|---|---|"]
    for task, t in tasks.items():
        steps = f"{t['mean_steps_success']:.0f}" if t["mean_steps_success"] is not None else "-"
        lines.append(f"| {task} | {t['successes']}/{t['n']} | {steps} | {t['failed_init_states'] or '-'} |")
    write_figures("libero_oracle", data, "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
