"""`libero-oracle`: a scripted pick-and-place that solves libero_object from privileged state.

It reads the simulator's ground truth (object poses and bounding boxes, the goal predicate), never the
cameras, and drives the end effector through the preset's own action space: LIBERO's delta-EEF OSC
actions (xyz and axis-angle in [-1, 1], scaled by the controller to 5 cm and 0.5 rad per step;
gripper -1 open, +1 closed). Its success rate says that the action path and the success check work
end to end; it is an oracle (PolicyInfo.privileged), not comparable with learned policies.

The script: above the object, down to its middle, close, lift above the basket's rim, over the
basket's centre, open. Chunks longer than one action are planned open-loop on the predicted
end-effector path (the controller reaches about half of each commanded step: EEF_GAIN).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from harness.api.errors import UsageError
from harness.api.types import ActionChunk, EpisodeKey, Observation
from policies.base import PolicyContext, PolicyInfo

POS_SCALE = 0.05  # metres of end-effector target per unit of action (robosuite OSC output_max)
ROT_SCALE = 0.5  # radians per unit of action
EEF_GAIN = 0.5  # fraction of a commanded step the end effector covers in one control step (open-loop chunks)
KP = 1.0 / POS_SCALE * 0.6  # action per metre of error: 60% of the distance commanded each step
HOVER = 0.10  # approach height above the object's top (m)
CLEARANCE = 0.06  # the held object's bottom above the basket's rim while carrying (m)
GRASP_STEPS = 12  # steps with the gripper closing before lifting
RELEASE_STEPS = 20
REACHED = 0.012  # distance counting as arrived at a waypoint (m)


@dataclass
class _Episode:
    phase: str = "approach"
    waited: int = 0  # steps spent in a timed phase (grasp, release) or stuck in a moving one
    quat: np.ndarray | None = None  # the end effector's starting orientation, held throughout
    grasp_offset: float = 0.0  # end effector height above the object's bottom at the grasp
    log: list[str] = field(default_factory=list)


def _goal(privileged: dict[str, Any]) -> tuple[str, str]:
    """(object, container) of libero_object's goal `(In object container_contain_region)`."""
    for predicate in privileged["goal"]:
        if len(predicate) == 3 and predicate[0].lower() == "in":
            container = predicate[2].removesuffix("_contain_region")
            if predicate[1] in privileged["objects"] and container in privileged["objects"]:
                return predicate[1], container
    raise UsageError(
        f"libero-oracle solves pick-and-place into a container (libero_object); this task's goal is "
        f"{privileged['goal']}"
    )


def _rotation_error(current: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Axis-angle taking quaternion `current` to `target` (x, y, z, w as robosuite orders them)."""
    from robosuite.utils.transform_utils import quat2axisangle, quat_distance

    return np.asarray(quat2axisangle(quat_distance(target, current)), dtype=np.float64)


class LiberoOracle:
    def __init__(self, ctx: PolicyContext):
        if ctx.benchmark != "libero":
            raise UsageError(f"libero-oracle runs on LIBERO, not {ctx.benchmark}")
        if ctx.options:
            raise UsageError(f"libero-oracle takes no options (got {', '.join(sorted(ctx.options))})")
        # The protocol's chunk length when it fixes one, else 5: openpi's replanning interval (a preset
        # may execute fewer actions per chunk than the policy returns, never more).
        self._horizon = int(ctx.action_horizon or 5)
        self._info = PolicyInfo(
            name="libero-oracle",
            action_dim=ctx.action_dim,
            horizon=self._horizon,
            checkpoint_digest=f"scripted-v1-h{self._horizon}",
            cameras=(),  # reads no frame: nothing is rendered for it
            privileged=True,
            description="scripted pick-and-place from privileged simulator state (libero_object)",
        )
        self._episodes: dict[str, _Episode] = {}

    def info(self) -> PolicyInfo:
        return self._info

    def reset(self, episode: EpisodeKey) -> None:
        self._episodes.pop(episode.id, None)

    def infer(self, observations: Sequence[Observation]) -> list[ActionChunk]:
        return [ActionChunk(self._plan(obs)) for obs in observations]

    def _plan(self, obs: Observation) -> np.ndarray:
        privileged = obs.extras.get("privileged")
        if privileged is None:
            raise UsageError("libero-oracle needs the simulator's privileged state; the env offers none")
        ep = self._episodes.setdefault(obs.episode_id, _Episode())
        eef = np.asarray(obs.extras["robot0_eef_pos"], dtype=np.float64).copy()
        quat = np.asarray(obs.extras["robot0_eef_quat"], dtype=np.float64)
        if ep.quat is None:
            ep.quat = quat.copy()
        rot = np.clip(_rotation_error(quat, ep.quat) / ROT_SCALE, -1.0, 1.0)
        target_name, container_name = _goal(privileged)
        obj, box = privileged["objects"][target_name], privileged["objects"][container_name]
        actions = []
        for k in range(self._horizon):
            # Waypoints are judged on the observed end effector only; predicted ones just shape the chunk.
            action = self._step(ep, eef, obj, box, observed=k == 0)
            action[3:6] = rot if k == 0 else 0.0  # orientation corrected from the observed pose only
            actions.append(action)
            eef = eef + EEF_GAIN * POS_SCALE * action[:3]  # where the next action will start from
        return np.stack(actions)

    def _step(self, ep: _Episode, eef: np.ndarray, obj: dict, box: dict, *, observed: bool) -> np.ndarray:
        lo, hi = np.asarray(obj["lo"]), np.asarray(obj["hi"])
        centre = (lo + hi) / 2.0
        grasp_z = max(centre[2], lo[2] + 0.015)  # the middle, but the fingertips clear the table
        rim = float(np.asarray(box["hi"])[2])
        basket = (np.asarray(box["lo"]) + np.asarray(box["hi"])) / 2.0
        gripper = -1.0
        if ep.phase == "approach":
            target = np.array([centre[0], centre[1], hi[2] + HOVER])
            if observed and np.linalg.norm(target - eef) < REACHED:
                ep.phase = "descend"
        if ep.phase == "descend":
            target = np.array([centre[0], centre[1], grasp_z])
            ep.waited += 1
            if observed and (np.linalg.norm(target - eef) < REACHED or ep.waited > 60):
                ep.phase, ep.waited, ep.grasp_offset = "grasp", 0, eef[2] - lo[2]
        if ep.phase == "grasp":
            target, gripper = np.array([centre[0], centre[1], grasp_z]), 1.0
            ep.waited += 1
            if ep.waited >= GRASP_STEPS:
                ep.phase, ep.waited = "lift", 0
        carry_z = rim + CLEARANCE + ep.grasp_offset
        if ep.phase == "lift":
            target, gripper = np.array([eef[0], eef[1], carry_z]), 1.0
            if observed and abs(carry_z - eef[2]) < REACHED:
                ep.phase = "carry"
        if ep.phase == "carry":
            target, gripper = np.array([basket[0], basket[1], carry_z]), 1.0
            if observed and np.linalg.norm(target - eef) < REACHED:
                ep.phase = "release"
        if ep.phase == "release":
            target, gripper = np.array([basket[0], basket[1], carry_z]), -1.0
            ep.waited += 1
            if ep.waited >= RELEASE_STEPS:  # not in yet (it may rest on the rim): try again from above
                ep.phase, ep.waited = "approach", 0
        action = np.zeros(7)
        action[:3] = np.clip(KP * (target - eef), -1.0, 1.0)
        action[6] = gripper
        return action


def make_libero_oracle(ctx: PolicyContext) -> LiberoOracle:
    return LiberoOracle(ctx)
