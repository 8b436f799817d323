"""What one simulator worker does, wherever it lives (the driver's process or a Ray actor): keep one
env for the current task, run episodes on it through the shared rollout loop, rebuild it after a fault.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from envs.base import Env
from envs.presets import Preset
from envs.registry import get_benchmark
from harness.api.errors import UsageError
from harness.api.types import EpisodeKey, EpisodeResult, ErrorSource, Observation, PrepItem, PrepResult, TaskInfo
from harness.recording import RecordSpec, video_sink_factory
from harness.rollout import PolicyClient, RolloutPlan, run_episode
from policies.base import PolicyInfo


@dataclass(frozen=True)
class WorkerJob:
    """Everything a worker needs to run any episode of a run; picklable, sent once per worker."""

    benchmark: str
    preset: Preset
    # By TaskInfo.key ("suite/task"; a perturbed suite's tasks keep their base task's names), and
    # by bare task name for the first suite listing it (what code written before perturbed suites reads).
    tasks: Mapping[str, TaskInfo]
    cameras: tuple[str, ...]  # what the env renders: the policy's cameras within the preset's
    # Episode videos (--record); the sink is built where the episode runs, from this.
    record: RecordSpec | None = None
    # What the benchmark's preparation decided per episode id (RoboTwin: the validated seed), handed
    # to the env's reset. Empty for benchmarks that prepare nothing, and while preparation runs.
    episode_params: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


    def task_for(self, key: EpisodeKey) -> TaskInfo | None:
        return self.tasks.get(f"{key.suite}/{key.task}") or self.tasks.get(key.task)


def job_tasks(tasks: Iterable[TaskInfo]) -> dict[str, TaskInfo]:
    """WorkerJob.tasks for these tasks: by suite-qualified key, and by bare name for the first suite."""
    out: dict[str, TaskInfo] = {}
    for task in tasks:
        out[task.key] = task
        out.setdefault(task.name, task)
    return out


def cameras_for(preset: Preset, policy: PolicyInfo) -> tuple[str, ...]:
    """The cameras to render: those the policy reads, which the preset must provide."""
    if policy.cameras is None:
        return preset.render.cameras
    missing = [c for c in policy.cameras if c not in preset.render.cameras]
    if missing:
        raise UsageError(
            f"policy {policy.name} reads camera(s) {', '.join(missing)} that preset {preset.name} does not render "
            f"(it renders {', '.join(preset.render.cameras)})"
        )
    return tuple(policy.cameras)


class EpisodeRunner:
    def __init__(self, job: WorkerJob, policy: PolicyClient, policy_info: PolicyInfo):
        self.job = job
        self.policy = policy
        self.policy_info = policy_info
        self._benchmark = get_benchmark(job.benchmark)
        self._env: Env | None = None
        self._env_task: str | None = None
        self._frame_sink_factory = video_sink_factory(job.record)

    def _env_for(self, task: TaskInfo) -> Env:
        if self._env is not None and self._env_task == task.key:
            return self._env
        self.close_env()
        self._env = self._benchmark.make_env(task, self.job.preset, cameras=self.job.cameras)
        self._env_task = task.key
        expose = getattr(self._env, "expose_privileged_state", None)
        if self.policy_info.privileged and expose is not None:
            expose()  # an oracle reads the simulator's ground truth; no other policy ever sees it
        return self._env

    def close_env(self) -> None:
        env, self._env, self._env_task = self._env, None, None
        if env is not None:
            try:
                env.close()
            except Exception:  # noqa: BLE001 - a broken env must not stop the worker
                pass

    def plan_for(self, task: TaskInfo) -> RolloutPlan:
        return RolloutPlan.build(
            preset=self.job.preset,
            suite=task.suite,
            task=task.name,
            policy=self.policy_info,
            action_dim=self._benchmark.action_dim_for(self.job.preset),
            noop_action=self._benchmark.noop_action_for(self.job.preset),
            cameras=self.job.cameras,
            limits_from=task.limits_from,
        )

    def run(self, key: EpisodeKey) -> EpisodeResult:
        task = self.job.task_for(key)
        if task is None:
            raise KeyError(f"this run's job lists no task {key.suite}/{key.task}")
        try:
            env = self._env_for(task)
        except Exception as exc:  # noqa: BLE001 - a task whose env cannot be built is an error row
            self.close_env()
            return EpisodeResult.failed(key, ErrorSource.ENV, f"building the env failed: {type(exc).__name__}: {exc}",
                                        instruction=task.instruction)
        sink = self._frame_sink_factory(key) if self._frame_sink_factory else None
        result = run_episode(env, self.policy, key, self.plan_for(task), frame_sink=sink,
                             params=self.job.episode_params.get(key.id))
        if sink is not None:
            result = sink.finish(result)
        if result.error_source == ErrorSource.ENV:
            # The simulator may be in any state after a fault: never reuse it.
            self.close_env()
        return result

    def prepare(self, item: PrepItem) -> PrepResult:
        """One preparation item, in this worker's process (it may need the simulator). An exception
        is the caller's to report: the item's verdicts are all or nothing."""
        t0 = time.perf_counter()
        verdicts = list(self._benchmark.prepare(item, self.job.preset))
        return PrepResult(item=item, verdicts=verdicts, seconds=time.perf_counter() - t0)

    def close(self) -> None:
        self.close_env()


class FrameSink(Protocol):
    """Receives the frames the policy read during one episode; `finish` may annotate the result
    (with the path of the video it wrote, for example)."""

    def __call__(self, observation: Observation) -> None: ...

    def finish(self, result: EpisodeResult) -> EpisodeResult: ...
