"""Record LIBERO's golden states: the simulator state of every task and init state after
`set_init_state` and after each built-in preset's warm-up, on the installed (reference) stack.

The states are taken through the harness's own env (envs/libero/env.py, no cameras), so the check
every episode makes compares like with like. One no-op rollout per init state gives every warm-up:
all built-in LIBERO presets warm up with the same no-op action, and their env seeds do not change the
physics after set_init_state (checked here on init state 0 of every task and written into the file).

Rerunnable and resumable: each task's states go to a part file under --work as soon as its 50
rollouts end; a rerun skips the parts it finds, then assembles them into --out.

    MUJOCO_GL=egl nice -n 10 python scripts/record_golden_states.py --processes 2
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import platform
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from envs.libero.catalog import STACK_PACKAGES
from envs.libero.golden import GOLDEN_PATH, golden_key, recorded_warmups

TABLE2_SUITES = ("libero_spatial", "libero_object", "libero_goal", "libero_10")
RECORD_PRESET = "fastwam-libero"  # the stack and seed of the paper; other seeds are checked equal


def _part_path(work: Path, suite: str, task: str) -> Path:
    return work / f"{suite}__{task}.npz"


def _rollout(env, key, warmups: tuple[int, ...], noop: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """qpos and qvel (len(warmups) x n) at each checkpoint of one no-op rollout from `key`'s init state."""
    env.reset(key, render=False)
    qpos, qvel = [], []
    for step in range(max(warmups) + 1):
        if step in warmups:
            q, v = env.physics_state()
            qpos.append(q)
            qvel.append(v)
        if step < max(warmups):
            env.step(noop, render=False)
    return np.stack(qpos), np.stack(qvel)


def record_task(suite: str, index: int, work: str) -> str:
    """Every init state of one task, written to its part file; returns a line for the log."""
    from envs.libero import LiberoBenchmark
    from envs.presets import builtin_presets
    from harness.api.types import EpisodeKey

    presets = builtin_presets()
    preset = presets[RECORD_PRESET]
    warmups = recorded_warmups(presets)
    noop = np.asarray(preset.warmup_action, dtype=np.float64)
    bench = LiberoBenchmark()
    task = next(s for s in bench.suites() if s.name == suite).tasks[index]
    t0 = time.perf_counter()
    env = bench.make_env(task, preset, cameras=())
    qpos, qvel = [], []
    try:
        for i in range(task.episodes):
            q, v = _rollout(env, EpisodeKey("libero", suite, task.name, "default", i), warmups, noop)
            qpos.append(q)
            qvel.append(v)
    finally:
        env.close()
    # The other presets' env seeds: same physics after set_init_state, or the file would be wrong for them.
    seed_gap = 0.0
    for seed in sorted({p.env_seed for p in presets.values() if p.benchmark == "libero"} - {preset.env_seed}):
        other = bench.make_env(task, dataclasses.replace(preset, env_seed=seed), cameras=())
        try:
            q, v = _rollout(other, EpisodeKey("libero", suite, task.name, "default", 0), warmups, noop)
        finally:
            other.close()
        seed_gap = max(seed_gap, float(np.abs(q - qpos[0]).max()), float(np.abs(v - qvel[0]).max()))
    out = _part_path(Path(work), suite, task.name)
    tmp = out.with_suffix(".tmp.npz")
    np.savez(tmp, qpos=np.stack(qpos), qvel=np.stack(qvel), warmups=np.array(warmups), seed_gap=seed_gap)
    os.replace(tmp, out)
    return f"{suite} task {index} {task.name}: {time.perf_counter() - t0:.0f} s, other seeds differ by {seed_gap:.2g}"


def assemble(work: Path, out: Path, suites: tuple[str, ...], *, partial: bool = False) -> None:
    from envs.libero import LiberoBenchmark
    from envs.presets import builtin_presets
    from envs.versions import package_versions

    presets = builtin_presets()
    arrays: dict[str, np.ndarray] = {}
    seed_gap = 0.0
    tasks = []
    for suite in LiberoBenchmark().suites():
        if suite.name not in suites:
            continue
        for task in suite.tasks:
            if partial and not _part_path(work, suite.name, task.name).exists():
                continue
            with np.load(_part_path(work, suite.name, task.name)) as part:
                if tuple(part["warmups"]) != recorded_warmups(presets):
                    raise SystemExit(
                        f"{task.name}: part recorded warm-ups {tuple(part['warmups'])}; delete it and rerun"
                    )
                # float32: the tolerance (1e-3) is far above float32's resolution at these magnitudes.
                # qvel stays in the parts: it would double the file (~1 MB) and the check reads qpos.
                arrays[golden_key(suite.name, task.name, "qpos")] = part["qpos"].astype(np.float32)
                seed_gap = max(seed_gap, float(part["seed_gap"]))
            tasks.append(f"{suite.name}/{task.name}")
    meta = {
        "format": 1,
        "warmups": list(recorded_warmups(presets)),
        "warmup_action": list(presets[RECORD_PRESET].warmup_action),
        "recorded_with": {
            "preset": RECORD_PRESET,
            "env_seed": presets[RECORD_PRESET].env_seed,
            "other_env_seeds_max_gap": seed_gap,
            "stack": package_versions(STACK_PACKAGES),
            "machine": platform.machine(),
            "mujoco_gl": os.environ.get("MUJOCO_GL", ""),
            "date": datetime.date.today().isoformat(),
        },
        "suites": list(suites),
        "tasks": tasks,
        "init_states_per_task": 50,
    }
    arrays["meta"] = np.array(json.dumps(meta))
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp.npz")
    np.savez_compressed(tmp, **arrays)
    os.replace(tmp, out)
    print(f"wrote {out}: {len(tasks)} tasks, {out.stat().st_size / 1e6:.2f} MB, other seeds differ by {seed_gap:.2g}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--suites", default=",".join(TABLE2_SUITES), help="comma-separated LIBERO suites")
    parser.add_argument(
        "--work",
        default=str(Path.home() / ".cache" / "wam-eval" / "golden-parts"),
        help="folder for per-task parts (resume reads it)",
    )
    parser.add_argument("--out", default=str(GOLDEN_PATH), help="the assembled golden file")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--assemble-only", action="store_true", help="only assemble existing parts")
    parser.add_argument(
        "--partial",
        action="store_true",
        help="with --assemble-only: leave out tasks not recorded yet (their episodes get 'no reference')",
    )
    args = parser.parse_args()
    from envs.libero import LiberoBenchmark

    suites = tuple(s for s in args.suites.split(",") if s)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    # In the order --suites names them: the first suites' parts are ready first.
    by_name = {s.name: s for s in LiberoBenchmark().suites()}
    todo = [
        (name, t.index) for name in suites for t in by_name[name].tasks if not _part_path(work, name, t.name).exists()
    ]
    if todo and not args.assemble_only:
        print(f"{len(todo)} tasks to record with {args.processes} processes; parts in {work}", flush=True)
        with ProcessPoolExecutor(max_workers=args.processes) as pool:
            futures = [pool.submit(record_task, suite, index, str(work)) for suite, index in todo]
            for future in as_completed(futures):
                print(future.result(), flush=True)
    assemble(work, Path(args.out), suites, partial=args.partial and args.assemble_only)


if __name__ == "__main__":
    main()
