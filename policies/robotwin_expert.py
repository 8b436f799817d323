"""`robotwin-expert`: an oracle that replays RoboTwin's scripted expert through the harness's actions.

For each episode the RoboTwin env runs the task's own expert (`play_once`) on the episode's simulator
seed, in a scene of its own, and hands this oracle the joint trajectory the expert executed, sampled as
RoboTwin's data collection samples it, as privileged data (Observation.extras["privileged"], which the
env fills only for a privileged policy: envs/robotwin/env.py, expose_privileged_state). The oracle
returns that trajectory, chunk by chunk, as the 14-D (16-D on the stand-in) joint-position actions
every policy returns, and holds the last pose once it is done. What it measures is the harness's
action path and success check, end to end: a drop below its measured rate (benchmarks/README.md)
means one of them changed.

It is privileged (PolicyInfo.privileged): it acts on a plan made in the simulator, which no learned
policy can. Its success rate is not comparable with a learned policy's, and runs and reports mark it
ORACLE. Like the libero-oracle, it reads the simulator only through the observation: the policy
layer never imports a benchmark's package.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from harness.api.errors import UsageError
from harness.api.types import ActionChunk, EpisodeKey, Observation
from policies.base import PolicyContext, PolicyInfo

NAME = "robotwin-expert"
DEFAULT_HORIZON = 16  # actions per chunk when the preset fixes none; the replay needs no feedback


class RoboTwinExpertPolicy:
    def __init__(self, ctx: PolicyContext):
        if ctx.benchmark != "robotwin":
            raise UsageError(f"policy {NAME} replays RoboTwin's scripted expert; it cannot run on {ctx.benchmark}")
        if ctx.options:
            raise UsageError(f"policy {NAME} takes no options (got {', '.join(sorted(ctx.options))})")
        self._horizon = int(ctx.action_horizon or DEFAULT_HORIZON)
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
        privileged = obs.extras.get("privileged") or {}
        if "expert_plan" not in privileged:
            raise UsageError(
                f"policy {NAME} needs the scripted expert's plan (Observation.extras['privileged']), "
                "which only the RoboTwin env provides"
            )
        trajectory = np.asarray(privileged["expert_plan"], dtype=np.float64)
        if len(trajectory) == 0:  # the expert moved nothing: hold the pose the episode starts in
            trajectory = np.asarray(obs.state, dtype=np.float64)[None, :]
        # Stored with the episode's first call (rollout keeps a chunk's *_ms facts).
        return trajectory, {"expert_plan_ms": float(privileged.get("expert_plan_ms", 0.0))}


def make_robotwin_expert(ctx: PolicyContext) -> RoboTwinExpertPolicy:
    return RoboTwinExpertPolicy(ctx)
