"""One live RoboTwin 2.0 task (SAPIEN), driven like RoboTwin's eval_policy.py, rendering on demand.

reset(key, params):  the episode's validated seed and the expert's episode info come in `params`
             (the driver's preparation phase found them: seeds.py); the scene is set up on that seed,
             and the instruction is drawn from RoboTwin's templates, filled with that info, with a
             generator seeded by the simulator seed.
step(a):     Base_Task.take_action(a, 'qpos'): a joint-position target per arm (joints + gripper,
             gripper 1 = open), time-parametrised by TOPP and executed over many physics substeps;
             check_success runs after every substep, and a success at any of them ends the episode.
Frames are taken only when asked for, and only from the cameras the policy reads.
"""

from __future__ import annotations

import contextlib
import copy
import io
import os
import time
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import yaml

from envs.base import ResetOutcome, StepOutcome
from envs.presets import Preset
from envs.robotwin import backend as backend_mod
from envs.robotwin import seeds, standin
from envs.robotwin.params import PresetParams
from harness.api.errors import UsageError
from harness.api.types import EpisodeKey, Observation, TaskInfo

UPSTREAM_RENDER = {"shader": "rt", "shadows": True}  # what Base_Task.setup_scene sets


def assets_root(preset: Preset, found: backend_mod.Backend) -> Path:
    """The directory holding assets/ for this preset: RoboTwin's snapshot or the stand-in."""
    if PresetParams.of(preset).standin_assets:
        return standin.default_dir()
    return backend_mod.official_assets_root(backend=found)


class TaskFactory:
    """Builds RoboTwin task objects for one preset in this process: backend, assets, configs, renderer."""

    def __init__(self, preset: Preset, found: backend_mod.Backend | None = None):
        self.preset = preset
        self.params = PresetParams.of(preset)
        self.backend = found or backend_mod.locate_backend()
        self.assets = assets_root(preset, self.backend)
        # RoboTwin's helpers read these from the environment at call time.
        os.environ["ASSETS_PATH"] = str(self.assets)
        os.environ[backend_mod.ENV_RUNTIME_ASSETS] = str(self.assets)
        options = dict(UPSTREAM_RENDER, **dict(preset.render.options))
        self.shader, self.shadows = str(options["shader"]), bool(options["shadows"])
        self._classes: dict[str, type] = {}
        self._base_args: dict[str, dict[str, Any]] = {}

    def task_config_name(self, setting: str) -> str:
        configs = dict(self.params.task_configs)
        try:
            return str(configs[setting])
        except KeyError:
            raise UsageError(f"preset {self.preset.name} defines no RoboTwin task config for setting {setting!r}") from None

    def args(self, task: str, setting: str) -> dict[str, Any]:
        """The keyword arguments of setup_demo, built as RoboTwin's eval_policy.py builds them."""
        name = self.task_config_name(setting)
        if name not in self._base_args:
            self._base_args[name] = self._build_args(name)
        args = copy.deepcopy(self._base_args[name])  # RoboTwin mutates these dicts
        args["task_name"] = task
        return args

    def _build_args(self, config_name: str) -> dict[str, Any]:
        b = self.backend
        args = b.load_config(config_name)
        args["task_config"] = config_name
        embodiment = list(self.params.embodiment)
        args["embodiment"] = embodiment

        def config_of(path: Path) -> dict[str, Any]:
            with (path / "config.yml").open(encoding="utf-8") as fh:
                return yaml.safe_load(fh)

        if len(embodiment) == 1:
            left = right = b.embodiment_dir(self.assets, embodiment[0])
            args["dual_arm_embodied"] = True
            args["embodiment_name"] = str(embodiment[0])
        elif len(embodiment) == 3:
            left, right = b.embodiment_dir(self.assets, embodiment[0]), b.embodiment_dir(self.assets, embodiment[1])
            args["embodiment_dis"] = float(embodiment[2])
            args["dual_arm_embodied"] = False
            args["embodiment_name"] = f"{embodiment[0]}+{embodiment[1]}"
        else:
            raise UsageError(f"preset {self.preset.name}: params.embodiment needs 1 or 3 items, not {embodiment}")
        args["left_robot_file"], args["right_robot_file"] = str(left), str(right)
        args["left_embodiment_config"], args["right_embodiment_config"] = config_of(left), config_of(right)
        cameras = b.load_config("_camera_config")
        head = cameras[args["camera"]["head_camera_type"]]
        wrist = cameras[args["camera"]["wrist_camera_type"]]
        args["head_camera_h"], args["head_camera_w"] = head["h"], head["w"]
        want = (self.preset.render.height, self.preset.render.width)
        for kind, cam in (("head", head), ("wrist", wrist)):
            if (cam["h"], cam["w"]) != want:
                raise UsageError(
                    f"preset {self.preset.name} renders {want[1]}x{want[0]}, but RoboTwin's {config_name} "
                    f"{kind} camera is {cam['w']}x{cam['h']}"
                )
        args["planner_backend"] = self.params.planner
        args.update(eval_mode=True, render_freq=0, eval_video_log=False, save_data=False, collect_data=False,
                    need_plan=True)
        return args

    def task_class(self, task: str) -> type:
        if task not in self._classes:
            cls = self.backend.task_class(task)
            if self.shader != UPSTREAM_RENDER["shader"] or self.shadows != UPSTREAM_RENDER["shadows"]:
                cls = _with_renderer(cls, self.shader, self.shadows)
            self._classes[task] = cls
        return self._classes[task]

    def expert_check(self, task: str, setting: str):
        """An ExpertCheck: the task's scripted expert on a seed, as eval_policy.py's expert check."""
        unstable = self.backend.unstable_error()

        def check(seed: int) -> seeds.ExpertVerdict:
            obj = self.task_class(task)()

            def setup() -> None:
                with _quiet():
                    obj.setup_demo(now_ep_num=0, seed=seed, is_test=True, **self.args(task, setting))

            def play() -> tuple[bool, bool, dict[str, str]]:
                with _quiet():
                    info = obj.play_once()
                    planned = bool(obj.plan_success)
                    return planned, planned and bool(obj.check_success()), dict((info or {}).get("info", {}))

            try:
                return seeds.judge(setup, play, unstable)
            finally:
                _close(obj)

        return check

    def expert_trajectory(self, task: str, setting: str, seed: int) -> tuple[seeds.ExpertVerdict, np.ndarray]:
        """Run the expert on `seed` and return its verdict and the joint trajectory it executed, sampled
        as RoboTwin's own data collection samples it: the joint state (arm drive targets + normalised
        gripper per arm, what a RoboTwin policy is trained to output) at every frame the expert would
        save (`_take_picture`: the start and end of each motion and every `save_freq` physics steps within
        it; save_freq from the task config, 15 in demo_clean). A row equal to the one before is dropped:
        it commands nothing (the end of one motion is the start of the next, and the first is the home
        pose every episode starts from)."""
        obj = self.task_class(task)()
        rows: list[list[float]] = []
        try:
            with _quiet():
                obj.setup_demo(now_ep_num=0, seed=seed, is_test=True, **self.args(task, setting))
            robot = obj.robot
            last = [robot.get_left_arm_jointState() + robot.get_right_arm_jointState()]

            def take_picture(*_args, **_kwargs) -> None:
                row = robot.get_left_arm_jointState() + robot.get_right_arm_jointState()
                if row != last[0]:
                    rows.append(row)
                    last[0] = row

            obj._take_picture = take_picture  # upstream's frame hook; with save_data off it saves nothing
            with _quiet():
                info = obj.play_once()
                solved = bool(obj.plan_success and obj.check_success())
            take_picture()
            reason = "" if solved else ("plan failed" if not obj.plan_success else "check_success false")
            verdict = seeds.ExpertVerdict(solved, reason, dict((info or {}).get("info", {})))
            return verdict, np.asarray(rows, dtype=np.float64).reshape(len(rows), -1)
        finally:
            _close(obj)


def _with_renderer(cls: type, shader: str, shadows: bool) -> type:
    """The task class with another camera shader and shadow choice. Base_Task.setup_scene selects the
    ray tracer and creates its lights with shadows unless told otherwise (`shadow` keyword, which
    _init_task_env_ never passes; disabling a light's shadow after creation does not change the
    frame); this subclass passes it and switches the shader before any camera exists."""

    def setup_scene(self, **kwargs):
        kwargs.setdefault("shadow", shadows)
        cls.setup_scene(self, **kwargs)
        import sapien

        sapien.render.set_camera_shader_dir(shader)

    return type(cls.__name__, (cls,), {"setup_scene": setup_scene, "__module__": __name__})


@contextlib.contextmanager
def _quiet():
    """RoboTwin prints progress (`step: n / limit`, planner notes) on stdout; keep the CLI's output clean."""
    with contextlib.redirect_stdout(io.StringIO()):
        yield


def _close(obj, clear_cache: bool = False) -> None:
    try:
        with _quiet():
            obj.close_env(clear_cache=clear_cache)
    except Exception:  # noqa: BLE001 - a half-built scene may not close cleanly
        pass


class RoboTwinEnv:
    def __init__(self, task: TaskInfo, preset: Preset, *, cameras: Sequence[str], factory: TaskFactory | None = None):
        self._params = PresetParams.of(preset)
        allowed = self._params.tasks
        if allowed is not None and task.name not in allowed:
            raise UsageError(f"preset {preset.name} runs only {', '.join(allowed)}, not {task.name}")
        unknown = [c for c in cameras if c not in preset.render.cameras]
        if unknown:
            raise UsageError(f"camera(s) {', '.join(unknown)} are not rendered by preset {preset.name}")
        self.task = task
        self._preset = preset
        self._cameras = tuple(cameras)
        self._factory = factory or TaskFactory(preset)
        self._obj = None
        self._episode_id = ""
        self._seed: int | None = None
        self._step = 0
        self._resets = 0
        self._max_steps = preset.max_steps_for(task.suite, task.name)
        self._action_dim = self._params.action_dim
        self._privileged = False  # set by expose_privileged_state, for an oracle policy only
        self._expert_plan: dict[str, Any] | None = None  # the episode's privileged data, when exposed

    # -- observation ---------------------------------------------------------------------------
    def _camera(self, name: str):
        cams = self._obj.cameras
        if name == "left_camera":
            return cams.left_camera
        if name == "right_camera":
            return cams.right_camera
        return cams.static_camera_list[cams.static_camera_name.index(name)]

    def _observe(self, render: bool) -> tuple[Observation, float]:
        robot = self._obj.robot
        state = np.asarray(robot.get_left_arm_jointState() + robot.get_right_arm_jointState(), dtype=np.float32)
        images: dict[str, np.ndarray] = {}
        render_ms = 0.0
        if render and self._cameras:
            t0 = time.perf_counter()
            self._obj._update_render()  # wrist cameras follow the hands; poses synced to the renderer
            for name in self._cameras:
                camera = self._camera(name)
                camera.take_picture()
                rgba = camera.get_picture("Color")
                images[name] = (rgba[..., :3] * 255).clip(0, 255).astype(np.uint8)
            render_ms = (time.perf_counter() - t0) * 1000.0
        obs = Observation(
            images=images,
            state=state,
            instruction=self._obj.get_instruction() or "",
            episode_id=self._episode_id,
            step=self._step,
            # The episode's simulator seed (a learned policy has no use for it) and, for an oracle only
            # (expose_privileged_state), the scripted expert's plan for this episode.
            extras={"sim_seed": self._seed},
        )
        if self._expert_plan is not None:
            obs.extras["privileged"] = self._expert_plan
        return obs, render_ms

    # -- privileged state, for oracle policies ---------------------------------------------------
    def expose_privileged_state(self) -> None:
        """From now on every observation's extras carry, under "privileged", the joint trajectory
        RoboTwin's scripted expert executes on the episode's seed ("expert_plan", rows of joint-position
        actions, TaskFactory.expert_trajectory, planned in a scene of its own at reset) and how long
        planning took ("expert_plan_ms"). Only for oracle policies (PolicyInfo.privileged: the
        robotwin-expert); a learned policy never gets it."""
        self._privileged = True

    def _plan_expert(self, task: str, setting: str, seed: int) -> dict[str, Any]:
        t0 = time.perf_counter()
        # The planner (RRT) is not seeded: planned again, the expert may fail a seed it solved when the
        # seed was validated. What it executed is the plan all the same (and then most likely fails).
        _, trajectory = self._factory.expert_trajectory(task, setting, seed)
        return {"expert_plan": trajectory, "expert_plan_ms": (time.perf_counter() - t0) * 1000.0}

    # -- Env protocol --------------------------------------------------------------------------
    def reset(self, key: EpisodeKey, *, render: bool, params: Mapping[str, Any] | None = None) -> ResetOutcome:
        if key.task != self.task.name:
            raise ValueError(f"this env runs {self.task.name}, not {key.task}")
        if key.setting not in self._preset.settings:
            raise UsageError(f"setting {key.setting!r} is not in preset {self._preset.name}")
        if not 0 <= key.episode < self.task.episodes:
            raise ValueError(f"{key.task} has {self.task.episodes} episodes, not index {key.episode}")
        if not params or "seed" not in params or "expert_info" not in params:
            raise ValueError(f"{key.id} has no validated seed: RoboTwin episodes get theirs from the driver's "
                             "preparation phase (wam-eval run), which the expert's verdicts in the store feed")
        t0 = time.perf_counter()
        seed, info = int(params["seed"]), dict(params["expert_info"])
        self._close_task()
        factory = self._factory
        self._obj = factory.task_class(self.task.name)()
        with _quiet():
            self._obj.setup_demo(now_ep_num=key.episode, seed=seed, is_test=True, **factory.args(self.task.name, key.setting))
        self._obj.step_lim = self._max_steps  # the preset's limit governs, not the file the runtime reads
        itype = self._params.instruction_type
        candidates = factory.backend.descriptions(self.task.name, info, self._params.instruction_candidates, seed)[itype]
        if not candidates:
            raise ValueError(f"RoboTwin has no {itype} instruction for {self.task.name} (info {info})")
        instruction = str(candidates[int(np.random.default_rng(seed).integers(len(candidates)))])
        self._obj.set_instruction(instruction=instruction)
        self._episode_id = key.id
        self._seed = seed
        self._step = 0
        self._expert_plan = self._plan_expert(self.task.name, key.setting, seed) if self._privileged else None
        obs, render_ms = self._observe(render)
        total = (time.perf_counter() - t0) * 1000.0
        extra = {
            "instruction": instruction,
            "instruction_type": itype,
            "sim_seed": seed,
            "start_seed": params.get("start_seed"),
            "seed_source": params.get("seed_source", "expert"),
            "task_config": factory.task_config_name(key.setting),
            "expert_info": dict(info),
        }
        return ResetOutcome(observation=obs, seed=seed, extra=extra, env_ms=total - render_ms, render_ms=render_ms)

    def step(self, action: np.ndarray, *, render: bool) -> StepOutcome:
        if self._obj is None:
            raise RuntimeError("step() before reset()")
        action = np.asarray(action, dtype=np.float64).reshape(-1)
        if action.shape[0] != self._action_dim:
            raise ValueError(f"{self.task.name} takes {self._action_dim}-D joint-position actions, not {action.shape[0]}-D")
        t0 = time.perf_counter()
        with _quiet():
            self._obj.take_action(action, action_type="qpos")
        self._step += 1
        success = bool(self._obj.eval_success)
        env_ms = (time.perf_counter() - t0) * 1000.0
        obs, render_ms = self._observe(render)
        return StepOutcome(observation=obs, done=success, success=success, env_ms=env_ms, render_ms=render_ms)

    def _close_task(self) -> None:
        obj, self._obj = self._obj, None
        if obj is not None:
            self._resets += 1
            every = max(1, int(self._factory.args(self.task.name, self._preset.settings[0]).get("clear_cache_freq", 5)))
            _close(obj, clear_cache=self._resets % every == 0)

    def close(self) -> None:
        self._close_task()
