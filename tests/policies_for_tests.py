"""Policies that misbehave on purpose or record what they saw, for tests (refer to them as
`tests.policies_for_tests:NAME`)."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from harness.api.types import ActionChunk, EpisodeKey, Observation
from policies.base import PolicyContext, PolicyInfo


class _Base:
    name = "test"

    def __init__(self, ctx: PolicyContext):
        self.ctx = ctx
        self.horizon = int(ctx.options.get("horizon", ctx.action_horizon or 10))
        self.calls: list[int] = []

    def info(self) -> PolicyInfo:
        return PolicyInfo(name=self.name, action_dim=self.ctx.action_dim, horizon=self.horizon)

    def reset(self, episode: EpisodeKey) -> None:
        pass

    def chunk(self, obs: Observation) -> np.ndarray:
        return np.tile(np.asarray(self.ctx.noop_action, dtype=np.float64), (self.horizon, 1))

    def infer(self, observations: Sequence[Observation]) -> list[ActionChunk]:
        return [ActionChunk(self.chunk(obs)) for obs in observations]


def _fails_here(ctx: PolicyContext, obs: Observation) -> bool:
    """Misbehave only on the episode named by the `bad_episode` option (all episodes if unset), and,
    with `fail_while_exists=PATH`, only while that file exists (a transient fault: same options, so
    the same run identity, before and after it heals)."""
    import os

    flag = ctx.options.get("fail_while_exists")
    if flag is not None and not os.path.exists(flag):
        return False
    bad = ctx.options.get("bad_episode")
    return bad is None or obs.episode_id.endswith(f"/{bad}")


class WrongDim(_Base):
    name = "wrong-dim"

    def chunk(self, obs):
        if _fails_here(self.ctx, obs):
            return np.zeros((self.horizon, self.ctx.action_dim + 1))
        return super().chunk(obs)


class NaNActions(_Base):
    name = "nan-actions"

    def chunk(self, obs):
        out = super().chunk(obs)
        if _fails_here(self.ctx, obs):
            out[2, 1] = np.nan
        return out


class WrongHorizon(_Base):
    name = "wrong-horizon"

    def chunk(self, obs):
        out = super().chunk(obs)
        return out[:-1] if _fails_here(self.ctx, obs) else out


class Raises(_Base):
    name = "raises"

    def chunk(self, obs):
        if _fails_here(self.ctx, obs):
            raise RuntimeError(self.ctx.options.get("message", "policy exploded on purpose"))
        return super().chunk(obs)


class Scripted(_Base):
    """Records every call (step index) and moves the arm with a fixed action."""

    name = "scripted"

    def chunk(self, obs):
        self.calls.append(obs.step)
        action = np.zeros(self.ctx.action_dim)
        action[0] = 0.2
        action[-1] = -1.0
        return np.tile(action, (self.horizon, 1))


class PrefersItsOwnProtocol(Scripted):
    """Declares (only once built) a preferred preset with 32-action chunks; its horizon follows the
    preset it is built under, so it must be rebuilt when the driver switches to that preset."""

    name = "prefers-own-protocol"

    def info(self) -> PolicyInfo:
        from pathlib import Path

        own = str(Path(__file__).resolve().parent / "data" / "fastwam-short-libero.toml")
        return PolicyInfo(name=self.name, action_dim=self.ctx.action_dim, horizon=self.horizon,
                          preferred_presets={"libero": own})


class Named(_Base):
    """Takes its name from the `name` option (names with markup or HTML in them); with `raise=1`,
    every call raises."""

    def __init__(self, ctx: PolicyContext):
        super().__init__(ctx)
        self.name = ctx.options.get("name", "named")

    def chunk(self, obs):
        if self.ctx.options.get("raise"):
            raise RuntimeError(f"policy {self.name} refuses")
        return super().chunk(obs)
