"""RoboTwin with a scripted expert and a scripted env in place of SAPIEN, for tests of the
preparation phase in the default test run (the real expert runs in `tox -e robotwin`).

Everything else is the real RoboTwin adapter: catalog, presets, the seed rule, the items the
preparation hands out, the verdicts' storage, the episode parameters. Loaded by reference
(`tests.robotwin.scripted_benchmark:ScriptedRoboTwin`): get_benchmark resolves `module:Class` in
the driver and in Ray workers alike.

Behaviour comes from the JSON file the preset's `source` names (the preset schema types RoboTwin's
`[params]`, so a test's knobs live beside the preset, not in it; workers read the file too):
  solves = 3        the expert solves the seeds divisible by this
  seconds = 0.0     how long each expert check takes
  log = "PATH"      one line per expert check: "<task> <seed> <pid>"
  die_on = SEED     the worker checking this seed kills itself (SIGKILL), the first time only
                    (a marker file beside the log remembers it across processes)
  raise_on = "TASK/SEED"   checking this seed of this task raises (a fault outside the expert's verdicts)
  error_on = [SEED, ...]   setup_demo raises FileNotFoundError on these seeds (a missing asset): through
                    seeds.judge, as env.py's real check, this is an error verdict
  unstable_on = [SEED, ...]   setup_demo raises the scene-unstable error on these seeds: a final rejection
  once = true       a seed the log shows checked already raises outside the expert, so a test of
                    "checked once" fails at once instead of looping
The stack versions() reports comes from the JSON file $WAM_EVAL_TEST_VERSIONS (default {"robotwin_code": "scripted"}).
Episodes: an even seed succeeds at the second step, an odd one runs to the step limit.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from envs.base import ResetOutcome, StepOutcome
from envs.presets import Preset
from envs.robotwin import RoboTwinBenchmark, catalog, seeds
from harness.api.types import EpisodeKey, Observation, TaskInfo

VERSIONS_ENV = "WAM_EVAL_TEST_VERSIONS"


class UnStableError(Exception):
    """Stands in for RoboTwin's envs.utils.create_actor.UnStableError."""


SCRIPTED_SUFFIX = ".scripted.json"


def _opts(preset: Preset) -> Mapping[str, Any]:
    if not preset.source.endswith(SCRIPTED_SUFFIX):
        return {}
    return dict(json.loads(Path(preset.source).read_text()))


class ScriptedRoboTwin(RoboTwinBenchmark):
    def check_available(self, preset: Preset) -> None:
        pass  # nothing native to check

    def versions(self, preset: Preset | None = None) -> dict[str, str]:
        """The stack in the JSON file $WAM_EVAL_TEST_VERSIONS names (a test's stand-in for what the real
        benchmark reads from the installed packages; outside the preset, so a test can change the stack
        and keep the protocol), else a scripted one."""
        path = os.environ.get(VERSIONS_ENV)
        return {str(k): str(v) for k, v in json.loads(Path(path).read_text()).items()} if path else {"robotwin_code": "scripted"}

    def expert_protocol(self, preset: Preset) -> str:
        return seeds.expert_protocol(preset, f"scripted solves {_opts(preset).get('solves', 3)}")

    def expert_check(self, preset: Preset, task: str, setting: str) -> seeds.ExpertCheck:
        opts = _opts(preset)
        solves, seconds = int(opts.get("solves", 3)), float(opts.get("seconds", 0.0))
        log = Path(opts["log"]) if opts.get("log") else None
        die_on = int(opts["die_on"]) if "die_on" in opts else None
        raise_on = str(opts.get("raise_on", ""))
        error_on = {int(s) for s in opts.get("error_on", [])}
        unstable_on = {int(s) for s in opts.get("unstable_on", [])}
        once = bool(opts.get("once", False))

        def check(seed: int) -> seeds.ExpertVerdict:
            if die_on == seed and log is not None:
                marker = log.with_suffix(".died")
                if not marker.exists():
                    marker.write_text(str(os.getpid()))
                    os.kill(os.getpid(), signal.SIGKILL)
            if raise_on == f"{task}/{seed}":
                raise RuntimeError(f"scripted fault on seed {seed}")
            time.sleep(seconds)
            if once and log is not None and log.exists() and f"{task} {seed} " in log.read_text():
                raise RuntimeError(f"seed {seed} of {task} checked a second time")
            if log is not None:
                with log.open("a") as fh:
                    fh.write(f"{task} {seed} {os.getpid()}\n")

            def setup() -> None:
                if seed in unstable_on:
                    raise UnStableError(f"objects fell on seed {seed}")
                if seed in error_on:
                    raise FileNotFoundError(f"texture for seed {seed} is missing")

            def play() -> tuple[bool, bool, dict[str, str]]:
                planned = seed % solves == 0
                return planned, True, {"{A}": "red block", "{a}": "left" if seed % 2 else "right"} if planned else {}

            return seeds.judge(setup, play, UnStableError)

        return check

    def make_env(self, task: TaskInfo, preset: Preset, *, cameras: Sequence[str]) -> "ScriptedEnv":
        return ScriptedEnv(task, preset)


class ScriptedEnv:
    def __init__(self, task: TaskInfo, preset: Preset):
        self.task = task
        self._dim = catalog.action_dim(preset.params)
        self._seed = 0
        self._step = 0
        self._episode_id = ""

    def _obs(self, instruction: str = "") -> Observation:
        return Observation(images={}, state=np.zeros(self._dim, dtype=np.float32), instruction=instruction,
                           episode_id=self._episode_id, step=self._step)

    def reset(self, key: EpisodeKey, *, render: bool, params: Mapping[str, Any] | None = None) -> ResetOutcome:
        if not params or "seed" not in params:
            raise ValueError(f"{key.id} has no validated seed")
        self._seed, self._step, self._episode_id = int(params["seed"]), 0, key.id
        instruction = f"{self.task.name}: {params['expert_info'].get('{A}', '?')}"
        self.instruction = instruction
        return ResetOutcome(observation=self._obs(instruction), seed=self._seed,
                            extra={"sim_seed": self._seed, "seed_source": params.get("seed_source")})

    def step(self, action: np.ndarray, *, render: bool) -> StepOutcome:
        self._step += 1
        success = self._seed % 2 == 0 and self._step >= 2
        return StepOutcome(observation=self._obs(self.instruction), done=success, success=success)

    def close(self) -> None:
        pass
