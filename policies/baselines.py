"""Two honest smoke policies. They read the preset's cameras like a real policy would (so a smoke
run pays the real rendering cost and exercises the whole pipeline) and ignore what they see."""

from __future__ import annotations

import zlib
from typing import Sequence

import numpy as np

from harness.api.errors import UsageError
from harness.api.types import ActionChunk, EpisodeKey, Observation
from policies.base import PolicyContext, PolicyInfo

DEFAULT_HORIZON = 10
OPTION_KEYS = ("horizon",)


def _horizon(ctx: PolicyContext, name: str) -> int:
    """An explicit `horizon` option, else the preset's chunk length, else DEFAULT_HORIZON. Any other
    option or a checkpoint is refused: every option is part of the run identity, so a typo
    (`horizn=8`) would otherwise start a new run that silently ignores it."""
    unknown = sorted(set(ctx.options) - set(OPTION_KEYS))
    if unknown:
        raise UsageError(f"unknown {name} option(s) {', '.join(unknown)}; known: {', '.join(OPTION_KEYS)}")
    if ctx.checkpoint:
        raise UsageError(f"policy {name} has no weights; leave out --checkpoint ({ctx.checkpoint})")
    raw = ctx.options.get("horizon")
    if raw is None:
        return int(ctx.action_horizon or DEFAULT_HORIZON)
    try:
        horizon = int(raw)
    except ValueError:
        horizon = 0
    if horizon < 1:
        raise UsageError(f"{name} option horizon={raw} must be a whole number of at least 1")
    return horizon


def precheck(name: str, ctx: PolicyContext) -> None:
    """The registry's check before Ray starts: the same refusals the policy makes when built."""
    _horizon(ctx, name)


class NoopPolicy:
    """Always the benchmark's no-op action: the floor any real policy must beat."""

    def __init__(self, ctx: PolicyContext):
        self._action = np.asarray(ctx.noop_action, dtype=np.float64)
        horizon = _horizon(ctx, "noop")
        self._info = PolicyInfo(
            name="noop",
            action_dim=len(self._action),
            horizon=horizon,
            checkpoint_digest=f"h{horizon}",  # no weights: what changes its actions stands in for a digest
            trained=None,
            description="repeats the benchmark's no-op action",
        )

    def info(self) -> PolicyInfo:
        return self._info

    def reset(self, episode: EpisodeKey) -> None:
        pass

    def infer(self, observations: Sequence[Observation]) -> list[ActionChunk]:
        return [ActionChunk(np.tile(self._action, (self._info.horizon, 1))) for _ in observations]


class RandomPolicy:
    """Uniform actions in [-1, 1], seeded per (seed, episode) so that an episode's actions do not
    depend on which worker ran it or what ran before it."""

    def __init__(self, ctx: PolicyContext):
        self._seed = int(ctx.seed)
        horizon = _horizon(ctx, "random")
        self._info = PolicyInfo(
            name="random",
            action_dim=ctx.action_dim,
            horizon=horizon,
            # Everything that changes its actions, so that the run identity changes with it.
            checkpoint_digest=f"seed-{self._seed}-h{horizon}",
            trained=None,
            description="uniform actions in [-1, 1], seeded per episode",
        )
        self._rngs: dict[str, np.random.Generator] = {}

    def info(self) -> PolicyInfo:
        return self._info

    def _rng(self, episode_id: str) -> np.random.Generator:
        if episode_id not in self._rngs:
            self._rngs[episode_id] = np.random.default_rng([self._seed, zlib.crc32(episode_id.encode())])
        return self._rngs[episode_id]

    def reset(self, episode: EpisodeKey) -> None:
        self._rngs.pop(episode.id, None)

    def infer(self, observations: Sequence[Observation]) -> list[ActionChunk]:
        shape = (self._info.horizon, self._info.action_dim)
        return [ActionChunk(self._rng(obs.episode_id).uniform(-1.0, 1.0, size=shape)) for obs in observations]
