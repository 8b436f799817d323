"""Scripted policies for RoboTwin tests (the oracle that replays the expert is the product's own:
policies/robotwin_expert.py, `--policy robotwin-expert`)."""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np

from harness.api.types import ActionChunk, EpisodeKey, Observation
from policies.base import PolicyContext, PolicyInfo


class HoldPolicy:
    """Commands the joint state it observes: the arms stay where they are."""

    def __init__(self, ctx: PolicyContext):
        self._info = PolicyInfo(name="hold", action_dim=ctx.action_dim, horizon=int(ctx.options.get("horizon", 2)),
                                trained=False, description="holds the observed joint state")

    def info(self) -> PolicyInfo:
        return self._info

    def reset(self, episode: EpisodeKey) -> None:
        pass

    def infer(self, observations: Sequence[Observation]) -> list[ActionChunk]:
        return [ActionChunk(np.tile(np.asarray(o.state, dtype=np.float64), (self._info.horizon, 1))) for o in observations]


class PrivilegedHold(HoldPolicy):
    """HoldPolicy declared privileged: what every run of an oracle is marked with, without a simulator."""

    def __init__(self, ctx: PolicyContext):
        super().__init__(ctx)
        self._info = dataclasses.replace(self._info, name="hold-oracle", privileged=True, trained=True)
