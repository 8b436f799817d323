"""`robotwin-expert`: an oracle that replays RoboTwin's scripted expert through the harness's actions.

For each episode it runs the task's own expert (`play_once`) on the episode's simulator seed, in a
scene of its own in this process, and records the joint trajectory the expert executed, sampled as
RoboTwin's data collection samples it (envs.robotwin.env.TaskFactory.expert_trajectory). It then
returns that trajectory, chunk by chunk, as the 14-D (16-D on the stand-in) joint-position actions
every policy returns, and holds the last pose once it is done. What it measures is the harness's
action path and success check, end to end: a drop below its measured rate (benchmarks/README.md)
means one of them changed.

It is privileged (PolicyInfo.privileged): it reads the simulator seed from the observation's extras
and plans in the simulator, which no learned policy can. Its success rate is not comparable with a
learned policy's, and runs and reports mark it ORACLE.
"""

from __future__ import annotations

import time
from typing import Sequence

import numpy as np

from harness.api.errors import UsageError
from harness.api.types import ActionChunk, EpisodeKey, Observation
from policies.base import PolicyContext, PolicyInfo

NAME = "robotwin-expert"
SEED_EXTRA = "sim_seed"  # the RoboTwin env puts the episode's simulator seed in Observation.extras
DEFAULT_HORIZON = 16  # actions per chunk when the preset fixes none; the replay needs no feedback


class RoboTwinExpertPolicy:
    def __init__(self, ctx: PolicyContext):
        if ctx.benchmark != "robotwin":
            raise UsageError(f"policy {NAME} replays RoboTwin's scripted expert; it cannot run on {ctx.benchmark}")
        if ctx.preset is None:
            raise UsageError(f"policy {NAME} plans with the run's preset, and none was given to it")
        if ctx.options:
            raise UsageError(f"policy {NAME} takes no options (got {', '.join(sorted(ctx.options))})")
        self._preset = ctx.preset
        self._horizon = int(ctx.action_horizon or DEFAULT_HORIZON)
        self._factory = None  # built at the first episode: SAPIEN only where episodes run
        self._plans: dict[str, tuple[np.ndarray, int]] = {}  # episode id -> (trajectory, next row)
        self._info = PolicyInfo(
            name=NAME,
            action_dim=ctx.action_dim,
            horizon=self._horizon,
            # What changes its actions besides the preset (already in the run identity): the chunk length.
            checkpoint_digest=f"expert-h{self._horizon}",
            cameras=(),  # reads no frame: nothing is rendered for it
            privileged=True,  # no weights, so not "untrained": an oracle
            description="oracle: replays the trajectory RoboTwin's scripted expert plans for the episode's seed",
        )

    def info(self) -> PolicyInfo:
        return self._info

    def reset(self, episode: EpisodeKey) -> None:
        self._plans.pop(episode.id, None)

    def infer(self, observations: Sequence[Observation]) -> list[ActionChunk]:
        return [self._next_chunk(obs) for obs in observations]

    def _next_chunk(self, obs: Observation) -> ActionChunk:
        info: dict = {}
        if obs.episode_id not in self._plans:
            trajectory, info = self._plan(obs)
            self._plans[obs.episode_id] = (trajectory, 0)
        trajectory, row = self._plans[obs.episode_id]
        self._plans[obs.episode_id] = (trajectory, row + self._horizon)
        # Past the end, the last pose is held: the episode ends at its success or at the step limit.
        index = np.minimum(np.arange(row, row + self._horizon), len(trajectory) - 1)
        return ActionChunk(trajectory[index], info=info)

    def _plan(self, obs: Observation) -> tuple[np.ndarray, dict]:
        from envs.robotwin.env import TaskFactory  # SAPIEN and RoboTwin load only when an episode runs

        if SEED_EXTRA not in obs.extras:
            raise UsageError(
                f"policy {NAME} needs the episode's simulator seed (Observation.extras[{SEED_EXTRA!r}]), "
                "which only the RoboTwin env provides"
            )
        key = EpisodeKey.from_id(obs.episode_id)
        if self._factory is None:
            self._factory = TaskFactory(self._preset)
        t0 = time.perf_counter()
        # The planner (RRT) is not seeded: planned again, the expert may fail a seed it solved when the
        # seed was validated. What it executed is replayed all the same (and then most likely fails).
        _, trajectory = self._factory.expert_trajectory(key.task, key.setting, int(obs.extras[SEED_EXTRA]))
        if len(trajectory) == 0:  # the expert moved nothing: hold the pose the episode starts in
            trajectory = np.asarray(obs.state, dtype=np.float64)[None, :]
        # Stored with the episode's first call (rollout keeps a chunk's *_ms facts).
        return trajectory, {"expert_plan_ms": (time.perf_counter() - t0) * 1000.0}


def make_robotwin_expert(ctx: PolicyContext) -> RoboTwinExpertPolicy:
    return RoboTwinExpertPolicy(ctx)
