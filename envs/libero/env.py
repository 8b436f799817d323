"""One live LIBERO simulator (robosuite + MuJoCo) for one task, rendering only on demand."""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from envs.base import ResetOutcome, StepOutcome
from envs.headless import select_mujoco_gl
from envs.libero.catalog import libero_suite
from envs.libero.golden import GoldenStates, shipped_golden_states
from envs.presets import Preset
from harness.api.types import DriftCheck, DriftVerdict, EpisodeKey, Observation, TaskInfo


def libero_state(raw: dict) -> np.ndarray:
    """The 8-D proprio state openpi and the Fast-WAM script build: eef xyz, axis-angle, 2 finger joints."""
    from robosuite.utils.transform_utils import quat2axisangle

    return np.concatenate(
        [
            raw["robot0_eef_pos"],
            quat2axisangle(np.array(raw["robot0_eef_quat"], dtype=np.float64)),
            raw["robot0_gripper_qpos"],
        ]
    ).astype(np.float32)


class LiberoEnv:
    """Render on demand. robosuite samples camera observables on its own sub-step schedule; toggling
    them would reset that schedule, so instead each camera sensor is gated: it renders only while
    the harness asks for frames and otherwise returns a blank. The schedule is untouched, so the
    frames the policy reads are bit-identical to those of an env that renders every step."""

    def __init__(self, task: TaskInfo, preset: Preset, *, cameras: Sequence[str], golden: GoldenStates | None = None):
        select_mujoco_gl()
        # The reference states the drift check compares with: the shipped file unless told otherwise.
        self._golden = golden if golden is not None else shipped_golden_states()
        from libero.libero import get_libero_path
        from libero.libero.envs.env_wrapper import ControlEnv

        self.task = task
        self._preset = preset
        self._cameras = tuple(cameras)
        suite = libero_suite(task.suite)
        libero_task = suite.get_task(task.index)
        if libero_task.name != task.name:
            raise ValueError(f"LIBERO task order changed: index {task.index} is {libero_task.name}, not {task.name}")
        self._init_states = suite.get_task_init_states(task.index)
        bddl = os.path.join(get_libero_path("bddl_files"), libero_task.problem_folder, libero_task.bddl_file)
        self._env = ControlEnv(
            bddl_file_name=bddl,
            has_renderer=False,
            # No GL context at all for a policy that reads no camera.
            has_offscreen_renderer=bool(self._cameras),
            camera_names=list(self._cameras) or ["agentview"],
            camera_heights=preset.render.height,
            camera_widths=preset.render.width,
            use_camera_obs=bool(self._cameras),
            # The harness ends episodes itself (success or the preset's limit), never robosuite.
            ignore_done=True,
        )
        # Which words the policy reads: the task's listed instruction (openpi's and Fast-WAM's file-name
        # language, or a perturbed suite's own), or the BDDL file's (LIBERO-PRO's runner prompts with it).
        source = preset.params.get("instruction", "task")
        self._instruction = (
            " ".join(str(self._env.language_instruction).split()) if source == "bddl" else task.instruction
        )
        self._render_ms = 0.0
        self._rendering = False
        self._blank = np.zeros((preset.render.height, preset.render.width, 3), dtype=np.uint8)
        robosuite_env = self._env.env
        for cam in self._cameras:
            name = f"{cam}_image"
            robosuite_env.modify_observable(name, "sensor", self._gated(robosuite_env._observables[name]._sensor))
        # Every hard reset rebuilds the observables (and renders each camera to check it); building
        # them gated from birth keeps resets free of renders nobody reads.
        create_camera_sensors = robosuite_env._create_camera_sensors

        def create_gated_camera_sensors(*args, **kwargs):
            sensors, names = create_camera_sensors(*args, **kwargs)
            return [self._gated(sensor) for sensor in sensors], names

        robosuite_env._create_camera_sensors = create_gated_camera_sensors
        self._privileged = False
        self._episode_id = ""
        self._init_state = -1
        self._step = 0

    # -- rendering -----------------------------------------------------------------------------
    def _gated(self, inner):
        """A camera sensor that renders only while asked to, timing the render apart from physics."""

        @functools.wraps(inner)
        def gated(obs_cache):
            if not self._rendering:
                return self._blank
            t0 = time.perf_counter()
            try:
                return inner(obs_cache)
            finally:
                self._render_ms += (time.perf_counter() - t0) * 1000.0

        gated.__modality__ = inner.__modality__
        return gated

    def _observation(self, raw: dict, *, with_images: bool) -> Observation:
        images = {}
        if with_images:
            for cam in self._cameras:
                img = raw[f"{cam}_image"]
                images[cam] = np.ascontiguousarray(img[::-1, ::-1] if self._preset.render.rotate_180 else img)
        extras = {
            k: np.asarray(raw[k]).copy()
            for k in ("robot0_eef_pos", "robot0_eef_quat", "robot0_gripper_qpos", "robot0_joint_pos")
        }
        if self._privileged:
            extras["privileged"] = self._privileged_state()
        return Observation(
            images=images,
            state=libero_state(raw),
            instruction=self._instruction,
            episode_id=self._episode_id,
            step=self._step,
            extras=extras,
        )

    # -- Env protocol --------------------------------------------------------------------------
    def reset(self, key: EpisodeKey, *, render: bool, params: Mapping[str, Any] | None = None) -> ResetOutcome:
        # LIBERO prepares nothing: an episode is its fixed initial state, so `params` is unused.
        if key.task != self.task.name:
            raise ValueError(f"this env runs {self.task.name}, not {key.task}")
        if not 0 <= key.episode < len(self._init_states):
            raise ValueError(f"{key.task} has {len(self._init_states)} initial states, not index {key.episode}")
        t0 = time.perf_counter()
        self._render_ms = 0.0
        # Seeding at every reset (upstream seeds once per task env) makes an episode independent of
        # which episodes the same worker ran before it: required for resume and parallel workers.
        self._env.seed(self._preset.env_seed)
        self._env.reset()
        self._rendering = render
        try:
            raw = self._env.set_init_state(self._init_states[key.episode])
        finally:
            self._rendering = False
        self._episode_id = key.id
        self._init_state = key.episode
        self._step = 0
        total = (time.perf_counter() - t0) * 1000.0
        return ResetOutcome(
            observation=self._observation(raw, with_images=render),
            seed=self._preset.env_seed,
            env_ms=total - self._render_ms,
            render_ms=self._render_ms,
        )

    def step(self, action: np.ndarray, *, render: bool) -> StepOutcome:
        self._render_ms = 0.0
        t0 = time.perf_counter()
        self._rendering = render
        try:
            raw, _reward, _done, _info = self._env.step(np.asarray(action, dtype=np.float64))
        finally:
            self._rendering = False
        success = bool(self._env.check_success())
        self._step += 1
        total = (time.perf_counter() - t0) * 1000.0
        return StepOutcome(
            observation=self._observation(raw, with_images=render),
            done=success,
            success=success,
            env_ms=total - self._render_ms,
            render_ms=self._render_ms,
        )

    # -- privileged state, for oracle policies ---------------------------------------------------
    def expose_privileged_state(self) -> None:
        """From now on every observation's extras carry the simulator's ground truth under
        "privileged": each object's pose and world-frame bounding box, and the task's goal predicates.
        Only for oracle policies (PolicyInfo.privileged); a learned policy never gets it."""
        self._privileged = True

    def _privileged_state(self) -> dict[str, Any]:
        env = self._env.env
        model, data = env.sim.model._model, env.sim.data._data
        objects = {}
        for name, obj in env.objects_dict.items():
            body = model.body(obj.root_body).id
            lo, hi = _subtree_box(model, data, body)
            objects[name] = {"pos": data.xpos[body].copy(), "quat": data.xquat[body].copy(), "lo": lo, "hi": hi}
        return {
            "objects": objects,
            "goal": [[str(x) for x in predicate] for predicate in env.parsed_problem["goal_state"]],
        }

    def check_drift(self) -> DriftCheck:
        """This episode's qpos against the golden state of its task and init state after as many
        no-op steps as it has taken (the preset's warm-up); called before the policy's first call."""
        if self._golden is None:
            return DriftCheck(None, DriftVerdict.NO_REFERENCE)
        qpos, _ = self.physics_state()
        return self._golden.check(self.task.suite, self.task.name, self._init_state, self._step, qpos)

    def physics_state(self) -> tuple[np.ndarray, np.ndarray]:
        """Copies of MuJoCo's qpos and qvel now: what the golden states record and the drift check
        compares (envs/libero/golden.py). Reads memory only; renders nothing."""
        data = self._env.env.sim.data
        return np.array(data.qpos, dtype=np.float64), np.array(data.qvel, dtype=np.float64)

    def close(self) -> None:
        env, self._env = getattr(self, "_env", None), None
        if env is not None:
            env.close()


def _subtree_box(model: Any, data: Any, body: int) -> tuple[np.ndarray, np.ndarray]:
    """World-frame bounds (lo, hi) of every geom of `body` and the bodies below it, from MuJoCo's
    per-geom local bounding boxes (geom_aabb: centre and half sizes) at the current poses."""
    inside = np.zeros(model.nbody, dtype=bool)
    inside[body] = True
    for b in range(body + 1, model.nbody):  # MuJoCo numbers a body after its parent
        inside[b] = inside[model.body_parentid[b]]
    geoms = np.flatnonzero(inside[model.geom_bodyid])
    signs = np.array([[x, y, z] for x in (-1, 1) for y in (-1, 1) for z in (-1, 1)], dtype=np.float64)
    corners = model.geom_aabb[geoms, None, :3] + signs[None] * model.geom_aabb[geoms, None, 3:]  # (g, 8, 3) local
    rot = data.geom_xmat[geoms].reshape(-1, 3, 3)
    world = np.einsum("gij,gkj->gki", rot, corners) + data.geom_xpos[geoms, None, :]
    return world.reshape(-1, 3).min(axis=0), world.reshape(-1, 3).max(axis=0)
