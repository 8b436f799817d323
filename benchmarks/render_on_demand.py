"""Render every step vs render on demand, on the same LIBERO episode.

Runs one episode twice with the same policy and initial state: once asking the env for frames at
every step (what a naive loop over robosuite observations pays), once only at the steps whose frame
the policy reads (the harness's rollout loop). Prints ms per env step for both and writes them to
benchmarks/out/render_on_demand.json.

    python benchmarks/render_on_demand.py [--suite libero_object] [--task 0] [--steps 100] [--size 128]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

from envs.libero import LiberoBenchmark
from envs.presets import resolve_preset
from harness.api.types import EpisodeKey
from harness.rollout import LocalPolicyClient, RolloutPlan, run_episode
from policies.base import PolicyContext
from policies.baselines import RandomPolicy


class RenderEveryStep:
    """The same env, but every step renders as if the policy read every frame."""

    def __init__(self, env):
        self.env = env
        self.task = env.task

    def reset(self, key, *, render, params=None):
        return self.env.reset(key, render=True, params=params)

    def step(self, action, *, render):
        return self.env.step(action, render=True)

    def close(self):
        self.env.close()


def measure(env, plan, policy, key) -> dict:
    t0 = time.perf_counter()
    result = run_episode(env, LocalPolicyClient(policy), key, plan)
    wall = time.perf_counter() - t0
    steps = result.steps + result.warmup_steps
    t = result.timings
    return {
        "steps": steps,
        "ms_per_step": (t.env_ms + t.render_ms) / steps,
        "env_ms_per_step": t.env_ms / steps,
        "render_ms_per_step": t.render_ms / steps,
        "wall_s": wall,
        "end_reason": result.end_reason.value,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", default="libero_object")
    parser.add_argument("--task", type=int, default=0)
    parser.add_argument("--steps", type=int, default=100, help="policy steps per episode")
    parser.add_argument("--size", type=int, default=128, help="camera height and width")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "out" / "render_on_demand.json")
    args = parser.parse_args()

    import dataclasses

    base = resolve_preset("openpi-libero")
    preset = dataclasses.replace(
        base,
        max_steps={args.suite: args.steps},
        render=dataclasses.replace(base.render, height=args.size, width=args.size),
    )
    bench = LiberoBenchmark()
    task = next(s for s in bench.suites() if s.name == args.suite).tasks[args.task]
    ctx = PolicyContext(benchmark="libero", action_dim=7, noop_action=tuple(bench.noop_action_for(preset)), seed=0)
    policy = RandomPolicy(ctx)
    plan = RolloutPlan.build(preset=preset, suite=task.suite, task=task.name, policy=policy.info(), action_dim=7,
                             noop_action=bench.noop_action_for(preset), cameras=preset.render.cameras)
    key = EpisodeKey("libero", task.suite, task.name, "default", 0)
    env = bench.make_env(task, preset, cameras=preset.render.cameras)
    try:
        env.reset(key, render=True)  # warm the GL context so neither side pays it
        every = measure(RenderEveryStep(env), plan, RandomPolicy(ctx), key)
        on_demand = measure(env, plan, RandomPolicy(ctx), key)
    finally:
        env.close()
    speedup = every["ms_per_step"] / on_demand["ms_per_step"]
    report = {
        "task": f"{task.suite}/{task.name}",
        "cameras": list(preset.render.cameras),
        "size": args.size,
        "replan_steps": preset.replan_steps,
        "render_every_step": every,
        "render_on_demand": on_demand,
        "speedup": speedup,
        "target": ">= 3x",
        "machine": f"{platform.machine()} {platform.processor() or ''} python {platform.python_version()}".strip(),
        "versions": bench.versions(),
        "when": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(f"render every step: {every['ms_per_step']:.1f} ms/step "
          f"(physics {every['env_ms_per_step']:.1f}, render {every['render_ms_per_step']:.1f})")
    print(f"render on demand : {on_demand['ms_per_step']:.1f} ms/step "
          f"(physics {on_demand['env_ms_per_step']:.1f}, render {on_demand['render_ms_per_step']:.1f})")
    print(f"speedup {speedup:.2f}x (target >= 3x); written to {args.out}")


if __name__ == "__main__":
    main()
