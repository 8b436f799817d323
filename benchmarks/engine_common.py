"""What the engine benchmarks share: the benchmark preset, a timed executor around the real ones,
one harness run through the real driver, and writing the figures to benchmarks/out/."""

from __future__ import annotations

import io
import json
import os
import platform
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from rich.console import Console

from harness.api.types import EpisodeKey, EpisodeResult
from harness.driver import RunOptions, run_evaluation
from harness.spec import EvalSpec
from harness.worker import WorkerJob

HERE = Path(__file__).resolve().parent
PRESET = HERE / "presets" / "engine-bench-libero.toml"
OUT = HERE / "out"


@dataclass
class TimedExecutor:
    """Any Executor, with the wall time of its run() (env builds + episodes + storing them) kept
    apart from its start (Ray, actors, policy load), which a run pays once."""

    inner: Any
    run_s: float = 0.0
    finished_at: list[float] = field(default_factory=list)  # when each result reached the driver
    # CPU seconds used by then: the driver's process plus the Ray actors' processes
    cpu_at: list[float] = field(default_factory=list)
    # CPU seconds used by then by the Ray this driver started (raylet, GCS, agents, log monitor):
    # work the bare loop does not have, competing with the episodes for the same cores
    ray_cpu_at: list[float] = field(default_factory=list)

    def policy_info(self):
        return self.inner.policy_info()

    def run(self, job: WorkerJob, keys: Sequence[EpisodeKey], on_result: Callable[[EpisodeResult], None]) -> None:
        start_workers = getattr(self.inner, "start_workers", None)
        if callable(start_workers):
            # Actor starts belong to the fixed start, like the first worker's (the executor
            # starts one to load the policy): only env builds and episodes are timed.
            start_workers(len(keys))
        pids = actor_pids(self.inner)
        system = ray_system_pids(exclude=pids) if pids else []

        def timed(result: EpisodeResult) -> None:
            on_result(result)  # stored (and shown) first: the stamp covers the whole way to the store
            self.finished_at.append(time.perf_counter())
            self.cpu_at.append(time.process_time() + sum(process_cpu_s(pid) for pid in pids))
            self.ray_cpu_at.append(sum(process_cpu_s(pid, missing=0.0) for pid in system))

        t0 = time.perf_counter()
        self.inner.run(job, keys, timed)
        self.run_s = time.perf_counter() - t0

    def close(self) -> None:
        self.inner.close()


@dataclass
class HarnessRun:
    wall_s: float  # the whole run_evaluation call
    run_s: float  # executor.run: env builds, episodes, results stored
    episodes: int
    finished_at: list[float] = field(default_factory=list)
    cpu_at: list[float] = field(default_factory=list)
    ray_cpu_at: list[float] = field(default_factory=list)
    results: list[EpisodeResult] = field(default_factory=list)

    @property
    def steady_episode_s(self) -> float:
        """Wall time per episode once running: between the first and the last result stored, so
        that starts, imports and the first env build are left out."""
        return steady_episode_s(self.finished_at)

    @property
    def cores_busy(self) -> float:
        """CPU seconds per second of the driver and actors once running: how many cores it used."""
        return (self.cpu_at[-1] - self.cpu_at[0]) / (self.finished_at[-1] - self.finished_at[0])

    @property
    def steady_episode_cpu_s(self) -> float:
        """CPU seconds per episode once running (driver and actor processes together)."""
        return steady_episode_s(self.cpu_at)

    @property
    def engine_s(self) -> list[float]:
        """Per episode after the first: the time between two results stored that the episode itself
        did not take (its rollout's total_ms, measured where it ran). What is left is the engine's:
        handing the episode over, the result's way back, storing it, the worker's bookkeeping. Other
        load slows it no more than it slows anything else, so it holds on a shared machine where
        the bare-loop comparison is noise."""
        return [
            (b - a) - r.timings.total_ms / 1000.0
            for a, b, r in zip(self.finished_at, self.finished_at[1:], self.results[1:])
        ]

    @property
    def loop_s(self) -> list[float]:
        """Per episode: the rollout loop's own time, inside the episode (its total less reset,
        physics, rendering and the policy call)."""
        t = [r.timings for r in self.results]
        return [(x.total_ms - x.reset_ms - x.env_ms - x.render_ms - x.policy_ms) / 1000.0 for x in t]

    @property
    def ray_system_cores(self) -> float:
        """Cores the Ray processes other than the workers kept busy once running (0 without Ray)."""
        if len(self.ray_cpu_at) < 2:
            return 0.0
        return (self.ray_cpu_at[-1] - self.ray_cpu_at[0]) / (self.finished_at[-1] - self.finished_at[0])


def steady_episode_s(finished_at: Sequence[float]) -> float:
    if len(finished_at) < 2:
        raise ValueError("steady-state time needs at least 2 episodes")
    return (finished_at[-1] - finished_at[0]) / (len(finished_at) - 1)


def spec_for(*, suite: str, tasks: str, episodes: int, policy: str = "noop") -> EvalSpec:
    return EvalSpec(benchmark="libero", policy=policy, preset=str(PRESET), suites=(suite,), tasks=tasks, episodes=episodes)


def run_harness(spec: EvalSpec, make_executor: Callable) -> HarnessRun:
    """One run through the real driver into a fresh store (nothing skipped), output discarded."""
    timed: list[TimedExecutor] = []

    def factory(ref, ctx):
        timed.append(TimedExecutor(make_executor(ref, ctx)))
        return timed[0]

    with tempfile.TemporaryDirectory() as tmp:
        options = RunOptions(store=Path(tmp) / "bench.sqlite", quiet=True, executor_factory=factory)
        t0 = time.perf_counter()
        outcome = run_evaluation(spec, options, console=Console(file=io.StringIO()))
        wall = time.perf_counter() - t0
    errors = [r.error for r in outcome.results if r.error]
    if errors:
        raise RuntimeError(f"benchmark episodes failed: {errors[:3]}")
    return HarnessRun(wall_s=wall, run_s=timed[0].run_s, episodes=len(outcome.results),
                      finished_at=timed[0].finished_at, cpu_at=timed[0].cpu_at, ray_cpu_at=timed[0].ray_cpu_at,
                      results=outcome.results)


def actor_pids(executor: Any) -> list[int]:
    """The process ids of a RayExecutor's started worker actors (none for other executors)."""
    slots = getattr(executor, "slots", None)
    if not slots:
        return []
    import ray

    return [ray.get(slot.actor.ready.remote())[2] for slot in slots]


def process_cpu_s(pid: int, *, missing: float | None = None) -> float:
    """User + system CPU seconds of a process on this machine (Linux /proc), all its threads;
    `missing` for a process that is gone (else the error)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        if missing is None:
            raise
        return missing
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def ray_system_pids(*, exclude: Sequence[int] = ()) -> list[int]:
    """The processes of the local Ray this driver started (raylet, GCS, log monitor, and the agents
    and idle workers they started), less the `exclude`d worker actors; [] when it joined a Ray it
    did not start. Ray's node record is private API: a benchmark may lean on it, the engine does not."""
    try:
        import ray._private.worker as ray_worker

        node = ray_worker._global_node
        roots = {info.process.pid for infos in node.all_processes.values() for info in infos if info.process}
    except Exception:  # noqa: BLE001 - not started here, or Ray changed its internals: no figure
        return []
    parent: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    parent[int(entry)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
    found, frontier = set(roots), set(roots)
    while frontier:
        frontier = {pid for pid, ppid in parent.items() if ppid in frontier} - found
        found |= frontier
    return sorted(found - set(exclude))


def machine() -> dict[str, Any]:
    return {
        "host": socket.gethostname(),
        "cores": len(os.sched_getaffinity(0)),
        "python": platform.python_version(),
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        **code_version(),
    }


def code_version() -> dict[str, Any]:
    """The commit measured, and whether the working tree differed from it (then the figure is not
    that commit's alone)."""
    root = Path(__file__).resolve().parents[1]

    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True,
                                  timeout=30).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    # benchmarks/out is left out: its history files are tracked and every run appends to them, so
    # they would mark every run after the first as not the commit's own.
    return {"commit": git("rev-parse", "HEAD") or "unknown",
            "dirty": bool(git("status", "--porcelain", "--untracked-files=no", "--", ".", ":(exclude)benchmarks/out"))}


def write_figures(name: str, data: dict[str, Any], markdown: str) -> tuple[Path, Path]:
    """The latest figures (NAME.json, NAME.md) and one more line in NAME.history.jsonl: every run's
    figures with the commit they measured, kept in git, so a regression shows against its past."""
    OUT.mkdir(parents=True, exist_ok=True)
    json_path, md_path = OUT / f"{name}.json", OUT / f"{name}.md"
    json_path.write_text(json.dumps(data, indent=2, default=str) + "\n")
    md_path.write_text(markdown)
    line = {k: v for k, v in data.items() if k != "rounds"}  # per-round detail stays in NAME.json
    with (OUT / f"{name}.history.jsonl").open("a") as history:
        history.write(json.dumps(line, default=str, sort_keys=True) + "\n")
    return json_path, md_path


def load_note(before: tuple[float, ...], after: tuple[float, ...], cores: int) -> str:
    busy = max(before[0], after[0])
    note = f"load average {before[0]:.1f} before, {after[0]:.1f} after, on {cores} cores"
    if busy > cores:
        note += " - the machine was shared with other work, so the figures are noisy"
    return note
