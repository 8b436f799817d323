"""Harness overhead: the same env, policy and episodes through a bare loop and through the harness.

  bare        one LiberoEnv and the noop policy in a hand-written loop: reset, warm-up, ask the
              policy, execute, render only the frames the policy reads. Nothing else.
  in-process  the driver with the in-process executor (rollout loop, timings, output checks,
              store, progress).
  ray-1       the driver with the Ray engine and one worker (all that, plus dispatch to an actor
              and the result's trip back).

Two figures per variant: the steady-state wall time per episode (between the first and the last
episode stored, so starts, imports and the first env build are left out: the part that grows
with the run) and the whole wall time of the run, starts included. Variants are interleaved over
rounds; the best and the median round are reported, with CPU seconds per episode (which other
work on a shared machine disturbs far less than wall time). Simulator imports are done before
any timing, so the in-process variants do not pay them; a Ray actor pays them in its first
episode's env build, outside the steady state.

On a shared machine the bare-loop comparison is as noisy as the load, so the engine's own share is
measured directly too: per episode, the time between two results stored that the episode itself
did not take (its rollout's total, timed where it ran): handing it over, the result's way back,
storing it. With the rollout loop's own time inside the episode and the CPU that Ray's own
processes (raylet, GCS, agents) use meanwhile, that is all the harness adds to the bare loop's work.

    python benchmarks/engine_overhead.py [--episodes 6] [--rounds 3]
Writes benchmarks/out/engine_overhead.json and .md, and appends the summary with the commit it
measured, the date and the load average to benchmarks/out/engine_overhead.history.jsonl (in git).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from typing import Any

from engine_common import PRESET, load_note, machine, run_harness, spec_for, steady_episode_s, write_figures

from envs.presets import load_preset_file
from envs.registry import find_suite, get_benchmark
from harness.api.types import EpisodeKey
from harness.executors import InProcessExecutor
from harness.ray_engine import RayEngineOptions, RayExecutor
from policies.base import PolicyContext
from policies.registry import make_policy

TARGET = 0.03


def bare_loop(suite: str, task_index: int, episodes: int) -> dict[str, float]:
    """The reference: nothing but the env, the policy and the protocol's loop."""
    benchmark = get_benchmark("libero")
    preset = load_preset_file(PRESET)
    task = find_suite(benchmark, suite).tasks[task_index]
    ctx = PolicyContext(benchmark="libero", action_dim=benchmark.action_dim_for(preset),
                        noop_action=tuple(benchmark.noop_action_for(preset)), action_horizon=preset.action_horizon)
    t0 = time.perf_counter()
    policy = make_policy("noop", ctx)
    max_steps = preset.max_steps_for(suite, task.name)
    warmup = list(preset.warmup_action or benchmark.noop_action_for(preset))
    env = benchmark.make_env(task, preset, cameras=preset.render.cameras)
    finished_at, cpu_at, own = [], [], []
    for episode in range(episodes):
        key = EpisodeKey("libero", suite, task.name, "default", episode)
        started = time.perf_counter()
        obs = env.reset(key, render=False).observation
        for i in range(preset.warmup_steps):
            obs = env.step(warmup, render=i == preset.warmup_steps - 1).observation
        policy.reset(key)
        steps, done = 0, False
        while steps < max_steps and not done:
            actions = policy.infer([obs])[0].actions
            n = min(preset.replan_steps, len(actions))
            for j in range(n):
                out = env.step(actions[j], render=j == n - 1 and steps + 1 < max_steps)
                steps += 1
                if out.success or steps >= max_steps:
                    done = out.success
                    break
            obs = out.observation
        finished_at.append(time.perf_counter())
        own.append(finished_at[-1] - started)
        cpu_at.append(time.process_time())
    wall = time.perf_counter() - t0
    env.close()
    between = [b - a - t for a, b, t in zip(finished_at, finished_at[1:], own[1:])]
    return {"wall_s": wall, "steady_episode_s": steady_episode_s(finished_at),
            "steady_episode_cpu_s": steady_episode_s(cpu_at), "engine_ms": [1000 * x for x in between]}


def harness(spec, make_executor) -> dict[str, Any]:
    run = run_harness(spec, make_executor)
    return {"wall_s": run.wall_s, "steady_episode_s": run.steady_episode_s,
            "steady_episode_cpu_s": run.steady_episode_cpu_s, "engine_ms": [1000 * x for x in run.engine_s],
            "loop_ms": [1000 * x for x in run.loop_s], "ray_system_cores": run.ray_system_cores}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", default="libero_object")
    parser.add_argument("--task", type=int, default=0)
    parser.add_argument("--episodes", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    # Simulator imports and the GL probe, once, before anything is timed.
    get_benchmark("libero").check_available(load_preset_file(PRESET))
    import libero.libero.envs  # noqa: F401
    import robosuite  # noqa: F401

    # One untimed pass: first-time costs (asset files into the page cache, the first GL context)
    # would otherwise land on whichever variant runs first.
    bare_loop(args.suite, args.task, 1 + 1)

    spec = spec_for(suite=args.suite, tasks=str(args.task), episodes=args.episodes)
    variants = {
        "bare": lambda: bare_loop(args.suite, args.task, args.episodes),
        "in-process": lambda: harness(spec, lambda ref, ctx: InProcessExecutor(ref, ctx)),
        "ray-1": lambda: harness(spec, lambda ref, ctx: RayExecutor(ref, ctx, RayEngineOptions(workers=1))),
    }
    load_before = os.getloadavg()
    rounds: list[dict[str, dict[str, float]]] = []
    for r in range(args.rounds):
        rounds.append({})
        for name, fn in variants.items():
            load = os.getloadavg()[0]
            rounds[-1][name] = {**fn(), "load_1min_before": load}
            print(f"round {r + 1} {name}: {rounds[-1][name]}", flush=True)
    load_after = os.getloadavg()
    info = machine()

    def values(name: str, what: str) -> list[float]:
        return [rd[name][what] for rd in rounds]

    def per_episode(name: str, what: str) -> float:
        """The median over every episode of every round (0 when the variant has no such figure)."""
        return statistics.median(x for rd in rounds for x in rd[name].get(what, [0.0]))

    summary = {
        name: {
            "steady_episode_s_best": min(values(name, "steady_episode_s")),
            "steady_episode_s_median": statistics.median(values(name, "steady_episode_s")),
            "steady_episode_cpu_s_median": statistics.median(values(name, "steady_episode_cpu_s")),
            "wall_s_best": min(values(name, "wall_s")),
            "engine_ms_per_episode_median": per_episode(name, "engine_ms"),
            "loop_ms_per_episode_median": per_episode(name, "loop_ms"),
            "ray_system_cores_median": statistics.median(rd[name].get("ray_system_cores", 0.0) for rd in rounds),
        }
        for name in variants
    }
    bare = summary["bare"]

    def overhead(name: str, what: str) -> float:
        return (summary[name][what] - bare[what]) / summary[name][what]

    figures = {
        name: {
            "steady_overhead_best": overhead(name, "steady_episode_s_best"),
            "steady_overhead_median": overhead(name, "steady_episode_s_median"),
            "cpu_overhead_median": overhead(name, "steady_episode_cpu_s_median"),
            "whole_run_overhead_best": overhead(name, "wall_s_best"),
            "whole_run_extra_s_best": summary[name]["wall_s_best"] - bare["wall_s_best"],
            # What the harness itself adds per episode, as a share of the bare loop's episode:
            # the time between episodes that is not theirs, the rollout loop's own time, and the
            # cores Ray's own processes keep busy (a share of the cores the episode could use).
            "engine_share": (summary[name]["engine_ms_per_episode_median"] - bare["engine_ms_per_episode_median"]
                             + summary[name]["loop_ms_per_episode_median"]) / 1000 / bare["steady_episode_s_median"],
            "ray_system_share": summary[name]["ray_system_cores_median"] / info["cores"],
        }
        for name in ("in-process", "ray-1")
    }
    data = {
        "benchmark": "engine_overhead", "machine": info, "preset": PRESET.name, "suite": args.suite,
        "task": args.task, "episodes": args.episodes, "rounds": rounds, "summary": summary, "figures": figures,
        "target_overhead": TARGET, "load_before": load_before, "load_after": load_after,
    }
    lines = [
        "# Harness overhead vs a bare loop",
        "",
        f"{args.episodes} episodes of {args.suite} task {args.task}, noop policy, preset {PRESET.name} "
        f"(openpi constants, 100 steps); {args.rounds} interleaved round(s); {info['date']}; commit "
        f"{info['commit'][:10]}{' with uncommitted changes' if info['dirty'] else ''}; "
        f"{load_note(load_before, load_after, info['cores'])}.",
        "",
        "Steady state: per episode, between the first and the last episode stored. Best = the least "
        "disturbed round (the machine is shared); CPU = driver and actor processes together.",
        "",
        "| variant | s/episode best | overhead best | s/episode median | overhead median | CPU s/episode | CPU overhead | whole run best (s) | whole run overhead |",
        "|---|---|---|---|---|---|---|---|---|",
        f"| bare loop | {bare['steady_episode_s_best']:.2f} | - | {bare['steady_episode_s_median']:.2f} | - | "
        f"{bare['steady_episode_cpu_s_median']:.2f} | - | {bare['wall_s_best']:.1f} | - |",
    ]
    for name, f in figures.items():
        m = summary[name]
        lines.append(
            f"| {name} | {m['steady_episode_s_best']:.2f} | {100 * f['steady_overhead_best']:+.1f}% | "
            f"{m['steady_episode_s_median']:.2f} | {100 * f['steady_overhead_median']:+.1f}% | "
            f"{m['steady_episode_cpu_s_median']:.2f} | {100 * f['cpu_overhead_median']:+.1f}% | "
            f"{m['wall_s_best']:.1f} | {100 * f['whole_run_overhead_best']:+.1f}% ({f['whole_run_extra_s_best']:+.1f} s) |"
        )
    lines += [
        "",
        "The engine's own share, per episode (medians over every episode; load does not inflate it the way "
        "it inflates the wall times above):",
        "",
        "| variant | between episodes, not theirs (ms) | rollout loop's own (ms) | share of a bare episode | Ray's own processes (cores) |",
        "|---|---|---|---|---|",
        f"| bare loop | {bare['engine_ms_per_episode_median']:.1f} | - | - | - |",
    ]
    for name, f in figures.items():
        m = summary[name]
        lines.append(
            f"| {name} | {m['engine_ms_per_episode_median']:.1f} | {m['loop_ms_per_episode_median']:.1f} | "
            f"{100 * f['engine_share']:+.2f}% | "
            + (f"{m['ray_system_cores_median']:.3f} ({100 * f['ray_system_share']:.1f}% of {info['cores']})"
               if name != "in-process" else "-") + " |"
        )
    lines += [
        "",
        "Per round (s/episode steady, load average before): " + "; ".join(
            f"round {i + 1}: " + ", ".join(f"{n} {rd[n]['steady_episode_s']:.2f} ({rd[n]['load_1min_before']:.1f})"
                                         for n in variants)
            for i, rd in enumerate(rounds)
        ),
        "",
        f"Target: overhead <= {100 * TARGET:.0f}% of wall time per episode. The whole-run column adds what an "
        "invocation pays once (Ray start, the actor's imports and first env build); it shrinks as the run grows.",
    ]
    json_path, md_path = write_figures("engine_overhead", data, "\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"wrote {json_path} and {md_path}")


if __name__ == "__main__":
    main()
