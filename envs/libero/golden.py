"""Golden states: what LIBERO's simulator looks like on the reference stack, and the drift check.

The file (golden_states.npz, recorded by scripts/record_golden_states.py) holds, per task, MuJoCo's
qpos for each of its 50 init states after set_init_state (warm-up 0) and after each built-in preset's
no-op warm-up, as float32 (the recorder's per-task parts keep qvel too, left out of the shipped file
to keep it small). An episode compares its qpos after warm-up with the golden one; the
largest absolute difference is its deviation.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from harness.api.types import DriftCheck, DriftVerdict

GOLDEN_PATH = Path(str(resources.files(__package__) / "golden_states.npz"))

# Largest qpos deviation that still counts as the reference scene. Between MuJoCo versions the
# unaffected tasks differ by at most 4e-5 after the 30-step warm-up (solver round-off), while the
# smallest real change measured (libero_spatial tasks 6, 7, 9 under MuJoCo 3.17) is 0.0049; 1e-3
# sits 25x above the noise and 5x below the smallest drift.
TOLERANCE = 1e-3


def golden_key(suite: str, task: str, field: str) -> str:
    return f"{suite}.{task}.{field}"


def recorded_warmups(presets: Mapping[str, Any]) -> tuple[int, ...]:
    """Warm-up lengths to record: 0 (right after set_init_state) and each built-in LIBERO preset's.
    They all warm up with one no-op, so one rollout gives every checkpoint; a preset with another
    warm-up action would need rollouts of its own, so it is refused here rather than recorded wrong."""
    libero = [p for p in presets.values() if p.benchmark == "libero"]
    actions = {p.warmup_action for p in libero if p.warmup_steps}
    if len(actions) > 1:
        raise ValueError(
            f"built-in LIBERO presets warm up with different actions {sorted(actions)}; "
            "record_golden_states.py assumes one"
        )
    return tuple(sorted({0} | {p.warmup_steps for p in libero}))


@dataclass(frozen=True)
class GoldenStates:
    """The golden file, loaded. `reference` answers None where it holds nothing for a request."""

    path: Path
    meta: Mapping[str, Any]
    arrays: Mapping[str, np.ndarray]

    @classmethod
    def load(cls, path: str | Path = GOLDEN_PATH) -> GoldenStates:
        path = Path(path)
        with np.load(path) as data:
            arrays = {k: data[k] for k in data.files if k != "meta"}
            meta = json.loads(str(data["meta"]))
        return cls(path, meta, arrays)

    @property
    def warmups(self) -> tuple[int, ...]:
        return tuple(int(w) for w in self.meta["warmups"])

    @property
    def stack(self) -> dict[str, str]:
        return dict(self.meta["recorded_with"]["stack"])

    def reference(self, suite: str, task: str, init_state: int, warmup: int) -> np.ndarray | None:
        """Golden qpos of (task, init state) after `warmup` no-op steps, or None if not recorded."""
        qpos = self.arrays.get(golden_key(suite, task, "qpos"))
        if qpos is None or warmup not in self.warmups or not 0 <= init_state < qpos.shape[0]:
            return None
        return qpos[init_state, self.warmups.index(warmup)]

    def check(self, suite: str, task: str, init_state: int, warmup: int, qpos: np.ndarray) -> DriftCheck:
        reference = self.reference(suite, task, init_state, warmup)
        if reference is None:
            return DriftCheck(None, DriftVerdict.NO_REFERENCE)
        deviation = qpos_deviation(qpos, reference)
        return DriftCheck(deviation, DriftVerdict.DRIFT if deviation > TOLERANCE else DriftVerdict.OK)


def qpos_deviation(qpos: np.ndarray, reference: np.ndarray) -> float:
    """Largest absolute qpos difference; infinite when the model itself differs (another qpos size)."""
    qpos = np.asarray(qpos, dtype=np.float64)
    if qpos.shape != reference.shape:
        return float("inf")
    return float(np.abs(qpos - reference.astype(np.float64)).max())


@functools.lru_cache(maxsize=1)
def shipped_golden_states() -> GoldenStates | None:
    """The golden file shipped with the package (loaded once per process), or None if absent."""
    return GoldenStates.load(GOLDEN_PATH) if GOLDEN_PATH.exists() else None


@dataclass(frozen=True)
class InitStateCheck:
    """One task's init states against the golden states: the worst deviation found and where."""

    suite: str
    task: str
    index: int
    checked: int  # init states compared (0: no reference for any of them)
    worst: float | None
    worst_at: tuple[int, int] | None  # (init state, warm-up steps) of the worst deviation
    verdict: DriftVerdict


def check_init_states(
    task: Any, preset: Any, init_states: Sequence[int], warmups: Sequence[int], golden: GoldenStates
) -> InitStateCheck:
    """Roll each init state of `task` through the harness's own env (no cameras) with the preset's
    seed and warm-up action, and compare its qpos with the golden states after each of `warmups`
    no-op steps. What `wam-eval doctor` runs."""
    from envs.libero.env import LiberoEnv
    from harness.api.types import EpisodeKey

    action = np.asarray(preset.warmup_action if preset.warmup_action is not None else [0.0] * 6 + [-1.0])
    env = LiberoEnv(task, preset, cameras=(), golden=golden)
    worst, worst_at, checked, drift, missing = None, None, 0, False, False
    try:
        for i in init_states:
            env.reset(EpisodeKey("libero", task.suite, task.name, "default", i), render=False)
            for step in range(max(warmups) + 1):
                if step in warmups:
                    result = env.check_drift()
                    if result.deviation is None:
                        missing = True
                    else:
                        drift |= result.verdict == DriftVerdict.DRIFT
                        if worst is None or result.deviation > worst:
                            worst, worst_at = result.deviation, (i, step)
                if step < max(warmups):
                    env.step(action, render=False)
            checked += 1
    finally:
        env.close()
    if drift:
        verdict = DriftVerdict.DRIFT
    elif missing:
        verdict = DriftVerdict.NO_REFERENCE
    else:
        verdict = DriftVerdict.OK
    return InitStateCheck(
        task.suite, task.name, task.index, checked if worst is not None else 0, worst, worst_at, verdict
    )
