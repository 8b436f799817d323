"""What a RoboTwin preset may say beyond the generic schema: its cameras, settings, `[params]` and
`[render.options]`, each key typed (a misspelt key would otherwise fall back to a default silently)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from envs.presets.schema import FiniteFloat, Name, PositiveInt, PresetRules, Strict
from envs.robotwin import catalog

CAMERAS = ("head_camera", "left_camera", "right_camera")  # RoboTwin's observation cameras


class StandinParams(Strict):
    robot_base_y: FiniteFloat = Field(-0.65, description="a number (metres)")
    gripper_bias: FiniteFloat = Field(0.12, description="a number (metres)")


class RoboTwinParams(Strict):
    embodiment: list[Name | FiniteFloat] = Field(
        ["aloha-agilex"], description="[name] or [left name, right name, distance in metres]")
    action_dim: PositiveInt = Field(catalog.OFFICIAL_ACTION_DIM, description="an integer >= 1")
    planner: Literal["curobo", "mplib"] = Field("curobo", description="curobo or mplib")
    assets: Literal["official", "standin"] = Field("official", description="official or standin")
    instruction_type: Literal["seen", "unseen"] = Field("unseen", description="seen or unseen")
    instruction_candidates: PositiveInt = Field(100, description="an integer >= 1")
    seed_stride: PositiveInt = Field(catalog.SEED_STRIDE, description="an integer >= 1")
    max_seed_tries: PositiveInt = Field(2000, description="an integer >= 1")
    seed_chunk: PositiveInt = Field(5, description="an integer >= 1")
    task_configs: dict[Literal["clean", "randomized"], Name] = Field(
        default_factory=lambda: dict(catalog.DEFAULT_TASK_CONFIGS), description="a table of setting = task config name")
    tasks: list[Literal[catalog.TASKS]] | None = Field(  # type: ignore[valid-type]
        None, description="a list of RoboTwin 2.0 task names")
    standin: StandinParams | None = Field(None, description="a table with robot_base_y, gripper_bias")

    @model_validator(mode="after")
    def _embodiment_shape(self) -> RoboTwinParams:
        e = self.embodiment
        ok = (len(e) == 1 and isinstance(e[0], str)) or (
            len(e) == 3 and isinstance(e[0], str) and isinstance(e[1], str) and isinstance(e[2], float))
        if not ok:
            raise ValueError(f"embodiment = {e!r}: must be [name] or [left name, right name, distance in metres]")
        return self


class RenderOptions(Strict):
    shader: Literal["rt", "default", "minimal"] = Field("rt", description="rt, default or minimal")
    shadows: bool = Field(True, description="true or false")


RULES = PresetRules(
    cameras=CAMERAS,
    settings=catalog.SETTINGS,
    action_dim=catalog.action_dim,
    params=RoboTwinParams,
    render_options=RenderOptions,
)
