"""What the drift check costs: its time against the time of the episode it guards.

Runs one LIBERO episode under fastwam-libero (30 warm-up steps, 400 policy steps) with the no-op
policy and no camera: the cheapest episode there is, so the check's share is the largest it can be.
The check itself is timed apart, with the one-off load of the golden file (once per process, when
the first LIBERO env is built) and per episode. Writes benchmarks/out/fidelity_check.json and .md.

    MUJOCO_GL=egl python benchmarks/fidelity_check.py [--suite libero_object] [--task 0] [--repeats 200]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.engine_common import machine, write_figures
from envs.libero import LiberoBenchmark
from envs.libero.golden import shipped_golden_states
from envs.presets import resolve_preset
from harness.api.types import EpisodeKey
from harness.rollout import LocalPolicyClient, RolloutPlan, run_episode
from policies.base import PolicyContext
from policies.baselines import NoopPolicy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--suite", default="libero_object")
    parser.add_argument("--task", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=200, help="warm checks timed after the episode")
    args = parser.parse_args()
    load_before = os.getloadavg()
    bench = LiberoBenchmark()
    preset = resolve_preset("fastwam-libero")
    task = next(s for s in bench.suites() if s.name == args.suite).tasks[args.task]
    noop = bench.noop_action_for(preset)
    ctx = PolicyContext(benchmark="libero", action_dim=7, noop_action=tuple(noop), action_horizon=preset.action_horizon)
    policy = NoopPolicy(ctx)
    plan = RolloutPlan.build(preset=preset, suite=task.suite, task=task.name, policy=policy.info(), action_dim=7,
                             noop_action=noop, cameras=())
    shipped_golden_states.cache_clear()
    t0 = time.perf_counter()
    shipped_golden_states()  # what the first env built in a process pays, once
    load_ms = (time.perf_counter() - t0) * 1000.0
    env = bench.make_env(task, preset, cameras=())
    key = EpisodeKey("libero", task.suite, task.name, "default", 0)
    try:
        env.reset(key, render=False)
        t0 = time.perf_counter()
        env.check_drift()
        first_ms = load_ms + (time.perf_counter() - t0) * 1000.0
        t0 = time.perf_counter()
        result = run_episode(env, LocalPolicyClient(policy), key, plan)
        episode_s = time.perf_counter() - t0
        warm = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            env.check_drift()
            warm.append((time.perf_counter() - t0) * 1000.0)
    finally:
        env.close()
    warm_ms = statistics.median(warm)
    data = {
        "machine": machine(),
        "load_average": [load_before[0], os.getloadavg()[0]],
        "episode": {"task": f"{task.suite}/{task.name}", "preset": preset.name, "policy": "noop",
                    "warmup_steps": result.warmup_steps, "steps": result.steps, "seconds": episode_s,
                    "drift": result.drift, "drift_verdict": result.drift_verdict},
        "golden_load_ms": load_ms,
        "check_first_ms": first_ms,
        "check_warm_median_ms": warm_ms,
        "share_first": first_ms / 1000.0 / episode_s,
        "share_warm": warm_ms / 1000.0 / episode_s,
    }
    md = (f"Drift check on {task.suite} task {args.task}, fastwam-libero, no-op policy, no camera "
          f"({result.warmup_steps} + {result.steps} steps, episode {episode_s:.1f} s): first check in a process, "
          f"loading the golden file included, {first_ms:.1f} ms ({100 * data['share_first']:.3f}% of the episode), warm {warm_ms:.3f} ms "
          f"({100 * data['share_warm']:.4f}%); deviation {result.drift:.2g} ({result.drift_verdict}). "
          f"Load average {load_before[0]:.1f}.\n")
    write_figures("fidelity_check", data, md)
    print(md, end="")


if __name__ == "__main__":
    main()
