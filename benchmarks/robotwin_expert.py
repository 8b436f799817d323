"""How often the `robotwin-expert` oracle succeeds on the CPU stand-in (robotwin2-primitives): every
task, every stand-in episode (10 expert-validated seeds per task), through the real driver, Ray engine
and store. Resumable: the run and its seed verdicts live in one store, so rerunning the same command
runs only what is missing (stop it at any time). Writes benchmarks/out/robotwin_expert.json and prints
one line per task.

    python benchmarks/robotwin_expert.py [--tasks T1,T2] [--episodes 10] [--workers 2] [--store PATH]

Run it in the RoboTwin environment (tox -e robotwin builds one: .tox/robotwin/bin/python).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

from envs.presets import resolve_preset
from envs.registry import get_benchmark
from harness.driver import RunOptions, run_evaluation
from harness.ray_engine import RayEngineOptions, ray_executor_factory
from harness.spec import EvalSpec
from harness.stats import wilson_interval
from harness.store import ResultStore

HERE = Path(__file__).resolve().parent
OUT = HERE / "out"
TASKS = "stack_blocks_two,stack_blocks_three,blocks_ranking_rgb,blocks_ranking_size"


def summarise(store: Path, run_id: str) -> list[dict]:
    with ResultStore(store) as db:
        rows = db.episode_rows(run_id)
    by_task: dict[str, list[dict]] = {}
    for row in rows:
        by_task.setdefault(row["task"], []).append(row)
    out = []
    for task, episodes in sorted(by_task.items()):
        wins = [r for r in episodes if r["success"]]
        lo, hi = wilson_interval(len(wins), len(episodes))
        plan_ms = [c.get("expert_plan_ms", 0.0) for r in episodes for c in (r["extra"].get("calls") or [])[:1]]
        out.append({
            "task": task, "successes": len(wins), "episodes": len(episodes), "wilson95": [lo, hi],
            "errors": sum(1 for r in episodes if r["end_reason"] == "error"),
            "failed_seeds": sorted(r["seed"] for r in episodes if not r["success"]),
            "mean_steps_to_success": sum(r["steps"] for r in wins) / len(wins) if wins else None,
            "mean_episode_s": sum(r["total_ms"] for r in episodes) / len(episodes) / 1000,
            "mean_expert_plan_s": sum(plan_ms) / len(plan_ms) / 1000 if plan_ms else None,
        })
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", default=TASKS)
    parser.add_argument("--episodes", type=int, default=10, help="per task; the stand-in defines 10")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--store", type=Path, default=OUT / "robotwin_expert.sqlite")
    args = parser.parse_args()
    args.store.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    outcome = run_evaluation(
        EvalSpec(benchmark="robotwin", policy="robotwin-expert", preset="robotwin2-primitives", tasks=args.tasks,
                 episodes=args.episodes),
        RunOptions(store=args.store, executor_factory=ray_executor_factory(RayEngineOptions(workers=args.workers))),
    )
    seconds = time.perf_counter() - t0
    tasks = summarise(args.store, outcome.run_id)
    wins, total = sum(t["successes"] for t in tasks), sum(t["episodes"] for t in tasks)
    lo, hi = wilson_interval(wins, total) if total else (0.0, 0.0)
    for t in tasks:
        print(f"{t['task']}: {t['successes']}/{t['episodes']} (failed seeds {t['failed_seeds'] or 'none'}), "
              f"{t['mean_steps_to_success'] or 0:.0f} steps to success, {t['mean_episode_s']:.0f} s per episode "
              f"(expert plan {t['mean_expert_plan_s'] or 0:.0f} s)")
    print(f"all: {wins}/{total} ({100 * lo:.1f}-{100 * hi:.1f}% Wilson 95%); this invocation {seconds:.0f} s, "
          f"{outcome.ran} episode(s) run")
    with ResultStore(args.store) as db:
        versions = db.get_run(outcome.run_id).versions
    OUT.mkdir(exist_ok=True)
    (OUT / "robotwin_expert.json").write_text(json.dumps({
        "run_id": outcome.run_id, "successes": wins, "episodes": total, "wilson95": [lo, hi], "tasks": tasks,
        "versions": versions, "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                                          "load_avg": os.getloadavg()},
        "expert_protocol": get_benchmark("robotwin").expert_protocol(resolve_preset("robotwin2-primitives")),
    }, indent=1))


if __name__ == "__main__":
    main()
