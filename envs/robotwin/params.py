"""A RoboTwin preset's `[params]` table as typed fields, taken from the schema's parse
(preset_rules.RoboTwinParams: its types and defaults), so the benchmark, the env and the seed search
read `p.planner` rather than each its own `params.get("planner", ...)`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from pydantic import ValidationError

from envs.presets import Preset
from envs.presets.schema import describe_error
from envs.robotwin.preset_rules import RoboTwinParams as ParamsSchema
from harness.api.errors import UsageError

# What decides whether the expert solves a seed (expert_protocol's digest), as the preset wrote it.
EXPERT_PROTOCOL_KEYS = ("embodiment", "planner", "assets", "task_configs", "standin")


@dataclass(frozen=True)
class PresetParams:
    # Arm names (one shared by both arms, or left and right) and, for two single arms, their distance.
    embodiment: tuple[Any, ...]
    action_dim: int
    planner: str  # the expert's planner backend: curobo (CUDA) or mplib
    assets: str  # RoboTwin's asset snapshot, or "standin" (wam-eval setup robotwin-ci)
    instruction_type: str
    instruction_candidates: int  # eval_policy.py: test_num (100)
    seed_stride: int
    seed_chunk: int  # candidate seeds per preparation item
    max_seed_tries: int  # candidates after which a (task, setting) gives up
    tasks: tuple[str, ...] | None  # the only tasks the preset runs; None: all
    task_configs: Mapping[str, str]
    standin: Mapping[str, Any]  # the stand-in embodiment (envs/robotwin/standin.py); empty when not given
    # The table as the preset wrote it: digests over it must not move when a default is filled in.
    written: Mapping[str, Any] = field(default_factory=dict, compare=False)

    @classmethod
    def of(cls, preset: Preset) -> "PresetParams":
        """The fields from the schema's own parse (its types and defaults), not a second reading."""
        written = dict(preset.params)
        try:
            m = ParamsSchema.model_validate(written)
        except ValidationError as exc:
            raise UsageError(f"preset {preset.name}: params.{describe_error(exc, ParamsSchema)}") from None
        return cls(
            embodiment=tuple(m.embodiment),
            action_dim=m.action_dim,
            planner=m.planner,
            assets=m.assets,
            instruction_type=m.instruction_type,
            instruction_candidates=m.instruction_candidates,
            seed_stride=m.seed_stride,
            seed_chunk=m.seed_chunk,
            max_seed_tries=m.max_seed_tries,
            tasks=None if m.tasks is None else tuple(m.tasks),
            task_configs=dict(m.task_configs),
            standin={} if m.standin is None else m.standin.model_dump(),
            written=written,
        )

    @property
    def standin_assets(self) -> bool:
        return self.assets == "standin"

    @property
    def arms(self) -> tuple[str, ...]:
        """The embodiment's arm names (its distance, a number, left out)."""
        return tuple(e for e in self.embodiment if isinstance(e, str))

    def expert_protocol_body(self) -> dict[str, Any]:
        return {key: self.written.get(key) for key in EXPERT_PROTOCOL_KEYS}
