"""What a LIBERO preset may say beyond the generic schema: its cameras, its one setting, 7-D actions,
and the one `[params]` key it reads."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from envs.libero.catalog import CAMERAS
from envs.presets.schema import PresetRules, Strict

ACTION_DIM = 7  # delta eef pose (6) + gripper (-1 open, +1 closed)


class LiberoParams(Strict):
    # Where the policy's instruction comes from: the task as wam-eval lists it, or its BDDL file's words.
    instruction: Literal["task", "bddl"] = Field("task", description="task or bddl")


RULES = PresetRules(cameras=CAMERAS, settings=("default",), action_dim=lambda params: ACTION_DIM, params=LiberoParams)
