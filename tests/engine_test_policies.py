"""Policies for the engine tests, loaded by `module:factory` reference (tests.engine_test_policies:...)
inside Ray actors (the tests put the repository on PYTHONPATH, which the engine passes on to them).

They act like the no-op baseline and misbehave on purpose, on the episodes their options name:
  raise_on=ID[,ID]      infer raises ValueError for those episode ids
  die_on=ID:N[,ID:N]    the process kills itself (SIGKILL) at the 2nd policy call of episode ID,
                        the first N times it gets there (counted by files in marker_dir, since
                        each time is a new process)
  hang_on=ID[:N][,...]  infer never returns for those episode ids (a hung policy); with :N only the
                        first N times it gets there (counted in marker_dir, as die_on)
  slow_on=ID:S[,ID:S]   infer takes S more seconds for those episode ids
  marker_dir=PATH
  record=PATH           one JSON line per infer call: the batch size and the episode ids in it
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Sequence

import numpy as np

from harness.api.types import ActionChunk, EpisodeKey, Observation
from policies.base import PolicyContext, PolicyInfo


class MisbehavingPolicy:
    def __init__(self, ctx: PolicyContext, name: str):
        self._action = np.asarray(ctx.noop_action, dtype=np.float64)
        self._info = PolicyInfo(name=name, action_dim=ctx.action_dim, horizon=int(ctx.action_horizon or 10),
                                description="engine test policy", trained=False)
        opts = dict(ctx.options)
        self._raise_on = {s for s in opts.get("raise_on", "").split(",") if s}
        self._hang_on: dict[str, int | None] = {}
        for item in filter(None, opts.get("hang_on", "").split(",")):
            episode_id, _, times = item.partition(":") if item.count(":") == 1 else (item, "", "")
            self._hang_on[episode_id] = int(times) if times else None
        self._slow_on = {}
        for item in filter(None, opts.get("slow_on", "").split(",")):
            episode_id, _, seconds = item.rpartition(":")
            self._slow_on[episode_id] = float(seconds)
        self._die_on = {}
        for item in filter(None, opts.get("die_on", "").split(",")):
            episode_id, _, times = item.rpartition(":")
            self._die_on[episode_id] = int(times)
        self._markers = Path(opts["marker_dir"]) if opts.get("marker_dir") else None
        self._record = Path(opts["record"]) if opts.get("record") else None
        self._calls: dict[str, int] = {}

    def info(self) -> PolicyInfo:
        return self._info

    def reset(self, episode: EpisodeKey) -> None:
        self._calls[episode.id] = 0

    def infer(self, observations: Sequence[Observation]) -> list[ActionChunk]:
        if self._record is not None:
            with self._record.open("a") as f:
                f.write(json.dumps({"size": len(observations), "episodes": [o.episode_id for o in observations]}) + "\n")
        for obs in observations:
            self._calls[obs.episode_id] = self._calls.get(obs.episode_id, 0) + 1
            if obs.episode_id in self._raise_on:
                raise ValueError(f"test policy refuses episode {obs.episode_id}")
            time.sleep(self._slow_on.get(obs.episode_id, 0.0))
            if obs.episode_id in self._hang_on and self._should(obs.episode_id, self._hang_on[obs.episode_id], "hang"):
                while True:
                    time.sleep(60)
            if (obs.episode_id in self._die_on and self._calls[obs.episode_id] == 2
                    and self._should(obs.episode_id, self._die_on[obs.episode_id], "die")):
                os.kill(os.getpid(), signal.SIGKILL)
        return [ActionChunk(np.tile(self._action, (self._info.horizon, 1))) for _ in observations]

    def _should(self, episode_id: str, times: int | None, what: str) -> bool:
        """Misbehave this time? Always when `times` is None; else only the first `times` times,
        counted by files in marker_dir (each time may be a new process)."""
        if times is None:
            return True
        assert self._markers is not None, f"{what}_on with a count needs marker_dir"
        prefix = episode_id.replace("/", "__")
        self._markers.mkdir(parents=True, exist_ok=True)
        done = len(list(self._markers.glob(prefix + ".*")))
        if done >= times:
            return False
        (self._markers / f"{prefix}.{done}").touch()
        return True


def faulty(ctx: PolicyContext) -> MisbehavingPolicy:
    return MisbehavingPolicy(ctx, "test-faulty")


def recording(ctx: PolicyContext) -> MisbehavingPolicy:
    return MisbehavingPolicy(ctx, "test-recording")
