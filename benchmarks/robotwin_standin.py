"""Where the time goes in a RoboTwin episode on the CPU stand-in (robotwin2-primitives).

Per task: the expert's seed validation (seconds per candidate seed), reset, one joint-position step
without frames, one camera frame (each of head/left/right at 320x240), and a whole episode that replays
the expert's own joint trajectory (as RoboTwin's data collection samples it: what the robotwin-expert
oracle replays) with the head camera read every 8 actions. Prints a
table and writes benchmarks/out/robotwin_standin.json.

    python benchmarks/robotwin_standin.py [--tasks stack_blocks_two,...] [--seeds 2]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

from envs.presets import resolve_preset
from envs.registry import find_suite, get_benchmark
from envs.robotwin.env import RoboTwinEnv
from harness.api.types import EpisodeKey
from harness.store import ResultStore


def validate(bench, preset, keys, store: ResultStore) -> tuple[dict, int]:
    """The preparation phase in this process, one item at a time (what the in-process executor
    does): the expert checks candidates until the episodes have their seeds."""
    candidates = 0
    while items := bench.preparation(keys, preset, store):
        item = items[0]
        verdicts = bench.prepare(item, preset)
        store.put_verdicts(bench.name, item.task, item.setting, item.protocol, verdicts, source="benchmark")
        candidates += len(verdicts)
    prepared = bench.episode_params(keys, preset, store)
    if prepared.problems:
        raise SystemExit(next(iter(prepared.problems.values())))
    return dict(prepared.params), candidates


def measure(task_name: str, n_seeds: int, store: ResultStore) -> dict:
    preset = resolve_preset("robotwin2-primitives")
    bench = get_benchmark("robotwin")
    task = next(t for t in find_suite(bench, "primitives").tasks if t.name == task_name)
    keys = [EpisodeKey("robotwin", "primitives", task_name, "clean", i) for i in range(n_seeds)]
    out: dict = {"task": task_name}
    t0 = time.perf_counter()
    params, candidates = validate(bench, preset, keys, store)
    out["expert_s_total"] = time.perf_counter() - t0
    out["candidates"] = candidates
    out["expert_s_per_candidate"] = out["expert_s_total"] / max(1, candidates)
    env = RoboTwinEnv(task, preset, cameras=preset.render.cameras)
    try:
        key = keys[0]
        env.reset(key, render=True, params=params[key.id])  # first frames compile shaders: not counted
        t0 = time.perf_counter()
        reset = env.reset(key, render=False, params=params[key.id])
        out["reset_s"] = time.perf_counter() - t0
        state = reset.observation.state.astype(np.float64)
        steps = [env.step(state, render=False).env_ms for _ in range(5)]
        out["step_ms_median"] = float(np.median(steps))
        per_camera = {}
        for cam in preset.render.cameras:
            env._cameras = (cam,)
            times = [env.step(state, render=True).render_ms for _ in range(3)]
            per_camera[cam] = float(np.median(times))
        env._cameras = tuple(preset.render.cameras)
        out["render_ms_per_camera"] = per_camera
        verdict, traj = env._factory.expert_trajectory(task_name, "clean", params[key.id]["seed"])
        env._cameras = ("head_camera",)
        t0 = time.perf_counter()
        env.reset(key, render=True, params=params[key.id])
        render_ms = env_ms = 0.0
        steps_taken, success = 0, False
        for i, action in enumerate(traj):
            o = env.step(action, render=(i % 8 == 7))
            steps_taken += 1
            env_ms += o.env_ms
            render_ms += o.render_ms
            if o.success:
                success = True
                break
        out["replay"] = {"success": success, "steps": steps_taken, "seconds": time.perf_counter() - t0,
                         "env_s": env_ms / 1000, "render_s": render_ms / 1000}
    finally:
        env.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", default="stack_blocks_two,stack_blocks_three,blocks_ranking_rgb,blocks_ranking_size")
    parser.add_argument("--seeds", type=int, default=2)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp, ResultStore(Path(tmp) / "seeds.sqlite") as store:
        for name in args.tasks.split(","):
            row = measure(name, args.seeds, store)
            rows.append(row)
            cams = ", ".join(f"{k} {v:.0f}" for k, v in row["render_ms_per_camera"].items())
            r = row["replay"]
            print(f"{name}: expert {row['expert_s_per_candidate']:.1f} s/seed ({row['candidates']} tried), "
                  f"reset {row['reset_s']:.1f} s, step {row['step_ms_median']:.0f} ms, frame ms {cams}; "
                  f"replay {'success' if r['success'] else 'FAIL'} in {r['steps']} steps, {r['seconds']:.1f} s "
                  f"(env {r['env_s']:.1f} s, render {r['render_s']:.1f} s)")
    out = Path(__file__).parent / "out"
    out.mkdir(exist_ok=True)
    machine = {"cpus": os.cpu_count(), "python": platform.python_version(), "load_avg": os.getloadavg()}
    (out / "robotwin_standin.json").write_text(json.dumps({"machine": machine, "tasks": rows}, indent=1))


if __name__ == "__main__":
    main()
