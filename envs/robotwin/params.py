"""A RoboTwin preset's `[params]` table, parsed once into typed fields with RoboTwin's defaults, so
the benchmark, the env and the seed search read `p.planner` rather than each its own
`params.get("planner", ...)` with its own default."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from envs.presets import Preset
from envs.robotwin import catalog
from harness.errors import UsageError

# What decides whether the expert solves a seed (expert_protocol's digest), as the preset wrote it.
EXPERT_PROTOCOL_KEYS = ("embodiment", "planner", "assets", "task_configs", "standin")


@dataclass(frozen=True)
class RoboTwinParams:
    # Arm names (one shared by both arms, or left and right) and, for two single arms, their distance.
    embodiment: tuple[Any, ...] = ("aloha-agilex",)
    action_dim: int = catalog.OFFICIAL_ACTION_DIM
    planner: str = "curobo"  # the expert's planner backend: curobo (CUDA) or mplib
    assets: str = "official"  # RoboTwin's asset snapshot, or "standin" (wam-eval setup robotwin-ci)
    instruction_type: str = "unseen"
    instruction_candidates: int = 100  # eval_policy.py passes test_num (100) as the number of descriptions
    seed_stride: int = catalog.SEED_STRIDE
    seed_chunk: int = 5  # candidate seeds per preparation item
    max_seed_tries: int = 2000  # candidates after which a (task, setting) gives up
    tasks: tuple[str, ...] | None = None  # the only tasks the preset runs; None: all
    task_configs: Mapping[str, str] = field(default_factory=lambda: dict(catalog.DEFAULT_TASK_CONFIGS))
    standin: Mapping[str, Any] = field(default_factory=dict)  # the stand-in embodiment (envs/robotwin/standin.py)
    # The table as the preset wrote it: digests over it must not move when a default is filled in.
    written: Mapping[str, Any] = field(default_factory=dict, compare=False)

    @classmethod
    def of(cls, preset: Preset) -> "RoboTwinParams":
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
