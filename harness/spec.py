"""What the user asked for (EvalSpec), the episodes it expands into, and the run's identity."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from envs.base import Benchmark
from envs.presets import Preset
from envs.registry import find_suite, select_tasks
from harness.api.errors import UsageError
from harness.api.types import EpisodeKey, TaskInfo, jsonable
from policies.base import PolicyInfo


@dataclass(frozen=True)
class EvalSpec:
    benchmark: str
    policy: str
    preset: str | None = None  # None: the policy's preferred preset, else the benchmark's default
    suites: tuple[str, ...] = ()  # empty: the preset's suites, else every suite the paper reports
    tasks: str | None = None  # per-suite selector: "0,1", "0-4", a task name, or None for all
    settings: tuple[str, ...] = ()  # empty: every setting of the preset
    episodes: int | None = None  # per task and setting; None: the preset's episodes_per_task
    seed: int | None = None  # the policy's seed; None: the preset's env_seed (the protocol's own seed)
    checkpoint: str | None = None
    device: str = "cpu"
    policy_options: Mapping[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["policy_options"] = dict(self.policy_options)
        return d


@dataclass(frozen=True)
class PlannedTask:
    task: TaskInfo
    setting: str
    episodes: tuple[int, ...]


def plan_tasks(spec: EvalSpec, benchmark: Benchmark, preset: Preset) -> list[PlannedTask]:
    """Expand the spec into tasks x settings x episode indices, validating every choice."""
    # A name given twice would plan (and count) its episodes twice.
    suites = tuple(dict.fromkeys(spec.suites)) or preset.suites or tuple(s.name for s in benchmark.suites() if s.in_paper)
    settings = tuple(dict.fromkeys(spec.settings)) or preset.settings
    for setting in settings:
        if setting not in preset.settings:
            raise UsageError(f"setting {setting!r} is not in preset {preset.name}; choose from {', '.join(preset.settings)}")
    episodes = spec.episodes if spec.episodes is not None else preset.episodes_per_task
    if episodes < 1:
        raise UsageError(f"--episodes must be at least 1, not {episodes}")
    planned = []
    for suite_name in suites:
        suite = find_suite(benchmark, suite_name)
        chosen = select_tasks(suite, spec.tasks)
        refused = [t for t in chosen if t.name in suite.problems]
        if refused:
            if len(suite.problems) >= len(suite.tasks):
                raise UsageError(f"suite {suite.name} cannot run on this install: {suite.unavailable}")
            runnable = [str(t.index) for t in suite.tasks if t.name not in suite.problems]
            raise UsageError(
                f"{suite.name} task {refused[0].index} ({refused[0].name}) cannot run on this install: "
                f"{suite.problems[refused[0].name]}; its runnable tasks are --tasks {','.join(runnable) or 'none'}"
            )
        for task in chosen:
            # The preset's count is "all the fixed initial states" (LIBERO: 50); a suite shipping fewer
            # (LIBERO-PRO's _with_milk: 10) runs all of its own unless the user asked for a number.
            task_episodes = episodes if spec.episodes is not None else min(episodes, task.episodes)
            if task_episodes > task.episodes:
                raise UsageError(
                    f"--episodes {episodes} is more than the {task.episodes} episodes {benchmark.name} defines "
                    f"per task ({task.name}); use at most {task.episodes}"
                )
            for setting in settings:
                planned.append(PlannedTask(task, setting, tuple(range(task_episodes))))
    return planned


def episode_keys(planned: list[PlannedTask]) -> list[EpisodeKey]:
    return [
        EpisodeKey(p.task.benchmark, p.task.suite, p.task.name, p.setting, i) for p in planned for i in p.episodes
    ]


# Facts about the machine a run is recorded with but that do not make another run: the same stack on
# another GPU model or driver release is the same protocol (its renderer kind, where it matters, is a
# version of its own: RoboTwin's `vulkan`).
HOST_FACTS = ("gpu", "gpu_driver")


def _identity_versions(versions: Mapping[str, str]) -> dict[str, str]:
    # A Python patch release changes no simulation; every other recorded version counts.
    out = {k: v for k, v in sorted(versions.items()) if k not in HOST_FACTS}
    if "python" in out:
        out["python"] = ".".join(out["python"].split(".")[:2])
    return out


def run_identity(*, policy: PolicyInfo, preset: Preset, versions: Mapping[str, str], seed: int,
                 options: Mapping[str, str], checkpoint: str | None) -> str:
    """Same identity + same episode key = the same episode: resume and caching rest on this.

    Besides the policy's name and checkpoint digest, everything the user can change that changes the
    policy's actions counts: its options, its seed, the transforms it declares (normalisation
    statistics among them), the settings it declares in `extra["run_identity"]`, and the checkpoint path
    when the policy cannot digest the file itself."""
    body = {
        "policy": policy.name,
        "checkpoint": policy.checkpoint_digest,
        "checkpoint_path": checkpoint if policy.checkpoint_digest == "none" else None,
        "options": dict(sorted(options.items())),
        "seed": seed,
        "transforms": [jsonable(policy.input_transforms), jsonable(policy.output_transforms)],
        "preset": preset.hash,
        "versions": _identity_versions(versions),
    }
    declared = policy.extra.get("run_identity")
    if declared:
        # Settings the policy resolved itself, defaults included (Fast-WAM's Optional IDM inference
        # mode). Only present when declared, so every other run keeps its identity.
        body["declared"] = jsonable(declared)
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def run_id_for(*, policy: PolicyInfo, preset: Preset, identity: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", f"{policy.name}-{preset.name}").strip("-")
    return f"{slug}-{identity[:8]}"
