"""RoboTwin 2.0 through `rlinf-robotwin-runtime` (or a RoboTwin checkout), behind the Benchmark protocol.

Listing tasks and presets needs nothing installed; check_available names whatever a run lacks (the
runtime, the assets, a Vulkan device) before any worker starts; the preparation phase finds the
expert-validated seeds (seeds.py) and make_env builds a SAPIEN task that runs an episode on one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
import yaml

from envs.base import Env, SuiteInfo
from envs.presets import Preset
from envs.robotwin import backend, catalog, seeds, stack, standin
from envs.robotwin.catalog import BENCHMARK
from envs.robotwin.commands import COMMANDS
from envs.robotwin.paper_table import PAPER_TABLES, TABLE_LAYOUT
from envs.robotwin.params import PresetParams
from envs.robotwin.preset_rules import RULES
from envs.versions import package_versions
from harness.api.errors import MissingDependencyError
from harness.api.types import EpisodeKey, EpisodeParams, PrepItem, TaskInfo, Verdict

if TYPE_CHECKING:
    from harness.api.verdicts import VerdictView

# Joint-position control has no state-free no-op: this is aloha-agilex's home pose with open grippers
# (6 joints at 0 per arm), used when its config is not at hand.
OFFICIAL_HOME = np.array(([0.0] * 6 + [1.0]) * 2)


class RoboTwinBenchmark:
    name = BENCHMARK
    default_preset = "robotwin2-official"
    preset_rules = RULES
    table_layout = TABLE_LAYOUT
    paper_tables = PAPER_TABLES  # `wam-eval reproduce table1`
    commands = COMMANDS  # wam-eval seeds, wam-eval setup
    # What its preparation checks, and how a user forgets the verdicts of checks that raised.
    candidate_noun = "seeds"
    forget_errors_command = "wam-eval seeds forget --errors"

    def __init__(self) -> None:
        self._suites = catalog.build_suites()
        self._protocols: dict[str, str] = {}  # preset hash -> expert protocol
        self._factories: dict[str, Any] = {}  # preset hash -> TaskFactory (in a worker)

    def suites(self) -> Sequence[SuiteInfo]:
        return self._suites

    def settings(self) -> tuple[str, ...]:
        return catalog.SETTINGS

    def action_dim_for(self, preset: Preset) -> int:
        """The action size under a preset: 14 on aloha-agilex, 16 on the dual-Franka stand-in."""
        return PresetParams.of(preset).action_dim

    def noop_action_for(self, preset: Preset) -> np.ndarray:
        """The home pose of the preset's embodiment (arm joints at `homestate`, grippers open): where
        every episode starts. RoboTwin presets run no warm-up, so the harness executes it only for a
        policy that asks for it (the `noop` baseline: hold the arms at home)."""
        params = PresetParams.of(preset)
        if params.standin_assets:
            return np.array((list(standin.PANDA_HOME) + [1.0]) * 2)
        try:
            found = backend.locate_backend()
            root = backend.official_assets_root(backend=found)
            embodiment = params.arms
            left, right = embodiment[0], embodiment[-1] if len(embodiment) > 1 else embodiment[0]
            home = []
            for arm, name in ((0, left), (1, right)):
                config = yaml.safe_load((found.embodiment_dir(root, name) / "config.yml").read_text())
                states = config.get("homestate") or [[0.0] * len(config["arm_joints_name"][arm])] * 2
                home += [float(x) for x in states[arm if len(states) > 1 else 0]] + [1.0]
            return np.array(home)
        except (MissingDependencyError, OSError, KeyError, IndexError, TypeError, yaml.YAMLError):
            return OFFICIAL_HOME.copy()

    def check_available(self, preset: Preset) -> None:
        """Runtime (or checkout), then assets, then what a checkout alone needs, then cuRobo, then a Vulkan
        device: the first missing one, with the command to get it."""
        if preset.benchmark != BENCHMARK:
            raise MissingDependencyError(f"preset {preset.name} is for {preset.benchmark}, not {BENCHMARK}")
        found = backend.locate_backend()
        params = PresetParams.of(preset)
        embodiments = params.arms
        if params.standin_assets:
            root = standin.default_dir()
            standin.check(root, preset.params)
        else:
            root = backend.official_assets_root(backend=found)
            needs_textures = any(s != "clean" for s in preset.settings)
            backend.check_official_assets(root, embodiments, needs_textures)
        if found.kind == "checkout":
            dirs = [found.embodiment_dir(root, e) for e in dict.fromkeys(embodiments)]
            backend.check_checkout(found, root, dirs)
        if params.planner == "curobo":
            import importlib.util

            if importlib.util.find_spec("curobo") is None:
                raise MissingDependencyError(
                    f"preset {preset.name} plans the expert with cuRobo (a CUDA package), which is not installed; "
                    "install NVIDIA cuRobo v0.7.8 on a GPU machine (https://curobo.org/get_started/1_install_instructions.html) "
                    "or use a preset with planner = \"mplib\""
                )
        backend.check_render_device()

    def versions(self, preset: Preset | None = None) -> dict[str, str]:
        """The RoboTwin stack of a run under `preset`: code, SAPIEN, the planners, the asset snapshot
        the preset uses, the renderer's kind, and the GPU and driver (the last two recorded, not part
        of the run identity: harness.spec.HOST_FACTS)."""
        out = package_versions([backend.RUNTIME_DIST, "sapien", "mplib", "toppra", "numpy", "torch", "mani-skill"])
        out["curobo"], out["curobo_commit"] = stack.curobo_build()
        try:
            found = backend.locate_backend()
        except MissingDependencyError:
            out["robotwin_code"] = "not installed"
            return out
        out["robotwin_code"] = f"{found.kind} {found.version}"
        if preset is not None and PresetParams.of(preset).standin_assets:
            out["assets"] = stack.standin_revision(standin.default_dir())
        elif preset is not None:
            try:
                out["assets"] = stack.asset_revision(backend.official_assets_root(backend=found))
            except MissingDependencyError:
                out["assets"] = "not configured"
        # Frames from Mesa's software rasterizer and from a GPU driver may differ; the kind is part of
        # the run identity, the exact GPU model and driver are recorded beside it.
        device = backend.render_device_name()
        out["vulkan"] = "software (llvmpipe)" if "llvmpipe" in device else ("none" if device.startswith("none") else "gpu")
        out.update(stack.gpu_facts(device))
        return out

    def make_env(self, task: TaskInfo, preset: Preset, *, cameras: Sequence[str]) -> Env:
        from envs.robotwin.env import RoboTwinEnv

        return RoboTwinEnv(task, preset, cameras=cameras)

    # -- preparation: expert-validated seeds (seeds.py) -----------------------------------------
    def expert_protocol(self, preset: Preset) -> str:
        """What the expert's verdicts are stored under: the preset's embodiment, planner, configs and
        assets, the installed RoboTwin code, SAPIEN and the planner's build (they change verdicts)."""
        if preset.hash not in self._protocols:
            found = backend.locate_backend()
            installed = package_versions(["sapien", "mplib", "toppra"])
            installed["curobo"], installed["curobo_commit"] = stack.curobo_build()
            built = {"sapien": installed["sapien"],
                     "planner": stack.planner_build(PresetParams.of(preset).planner, installed)}
            self._protocols[preset.hash] = seeds.expert_protocol(preset, f"{found.kind} {found.version}", built)
        return self._protocols[preset.hash]

    def expert_check(self, preset: Preset, task: str, setting: str) -> seeds.ExpertCheck:
        """The task's scripted expert on a seed, as eval_policy.py runs it (in a worker: SAPIEN)."""
        from envs.robotwin.env import TaskFactory

        if preset.hash not in self._factories:
            self._factories[preset.hash] = TaskFactory(preset)
        return self._factories[preset.hash].expert_check(task, setting)

    def preparation(self, keys: Sequence[EpisodeKey], preset: Preset, verdicts: VerdictView) -> list[PrepItem]:
        return seeds.pending_items(self.name, keys, seeds.SeedRule.of(preset), self.expert_protocol(preset), verdicts)

    def prepare(self, item: PrepItem, preset: Preset) -> list[Verdict]:
        return seeds.check_chunk(item, self.expert_check(preset, item.task, item.setting))

    def episode_params(self, keys: Sequence[EpisodeKey], preset: Preset, verdicts: VerdictView) -> EpisodeParams:
        return seeds.episode_params(self.name, keys, seeds.SeedRule.of(preset), self.expert_protocol(preset), verdicts)
