"""A RoboTwin preset's `[params]` table, parsed once into typed fields with the defaults its schema
declares (preset_rules.RoboTwinParams checks a preset when it loads), so the benchmark, the env and
the seed search read `p.planner` rather than each its own `params.get("planner", ...)`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from envs.presets import Preset
from envs.robotwin.preset_rules import RoboTwinParams as ParamsSchema
from harness.api.errors import UsageError

# What decides whether the expert solves a seed (expert_protocol's digest), as the preset wrote it.
EXPERT_PROTOCOL_KEYS = ("embodiment", "planner", "assets", "task_configs", "standin")


def _default(name: str) -> Any:
    return ParamsSchema.model_fields[name].get_default(call_default_factory=True)


@dataclass(frozen=True)
class PresetParams:
    # Arm names (one shared by both arms, or left and right) and, for two single arms, their distance.
    embodiment: tuple[Any, ...] = tuple(_default("embodiment"))
    action_dim: int = _default("action_dim")
    planner: str = _default("planner")  # the expert's planner backend: curobo (CUDA) or mplib
    assets: str = _default("assets")  # RoboTwin's asset snapshot, or "standin" (wam-eval setup robotwin-ci)
    instruction_type: str = _default("instruction_type")
    instruction_candidates: int = _default("instruction_candidates")  # eval_policy.py: test_num (100)
    seed_stride: int = _default("seed_stride")
    seed_chunk: int = _default("seed_chunk")  # candidate seeds per preparation item
    max_seed_tries: int = _default("max_seed_tries")  # candidates after which a (task, setting) gives up
    tasks: tuple[str, ...] | None = None  # the only tasks the preset runs; None: all
    task_configs: Mapping[str, str] = field(default_factory=lambda: dict(_default("task_configs")))
    standin: Mapping[str, Any] = field(default_factory=dict)  # the stand-in embodiment (envs/robotwin/standin.py)
    # The table as the preset wrote it: digests over it must not move when a default is filled in.
    written: Mapping[str, Any] = field(default_factory=dict, compare=False)

    @classmethod
    def of(cls, preset: Preset) -> "PresetParams":
        p = dict(preset.params)
        base = cls()
        try:
            tasks = p.get("tasks")
            return cls(
                embodiment=tuple(p.get("embodiment", base.embodiment)),
                action_dim=int(p.get("action_dim", base.action_dim)),
                planner=str(p.get("planner", base.planner)),
                assets=str(p.get("assets", base.assets)),
                instruction_type=str(p.get("instruction_type", base.instruction_type)),
                instruction_candidates=int(p.get("instruction_candidates", base.instruction_candidates)),
                seed_stride=int(p.get("seed_stride", base.seed_stride)),
                seed_chunk=int(p.get("seed_chunk", base.seed_chunk)),
                max_seed_tries=int(p.get("max_seed_tries", base.max_seed_tries)),
                tasks=None if tasks is None else tuple(str(t) for t in tasks),
                task_configs={str(k): str(v) for k, v in dict(p.get("task_configs", base.task_configs)).items()},
                standin=dict(p.get("standin", {})),
                written=p,
            )
        except (TypeError, ValueError) as exc:
            raise UsageError(f"preset {preset.name}: a [params] value has the wrong type ({exc})") from None

    @property
    def standin_assets(self) -> bool:
        return self.assets == "standin"

    @property
    def arms(self) -> tuple[str, ...]:
        """The embodiment's arm names (its distance, a number, left out)."""
        return tuple(e for e in self.embodiment if isinstance(e, str))

    def expert_protocol_body(self) -> dict[str, Any]:
        return {key: self.written.get(key) for key in EXPERT_PROTOCOL_KEYS}
