"""How long a reproduction will take, before it starts: the planned episodes at the pace measured on
episodes already stored for the same policy under the same protocol (per suite where known, since a
libero_10 episode runs longer than a libero_object one). During the run the bar's ETA takes over,
from this run's own measured pace."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.api.types import EpisodeKey
from harness.store import ResultStore


@dataclass(frozen=True)
class Estimate:
    seconds: float | None  # None: nothing measured yet
    measured_episodes: int  # stored episodes the pace comes from
    workers: int

    def text(self) -> str:
        if self.seconds is None:
            return "no measured pace yet for this policy and protocol: the bar's ETA follows from the first episodes"
        return (
            f"about {duration(self.seconds)} on {self.workers} worker(s), at the pace of {self.measured_episodes} "
            "stored episode(s) of this policy and protocol; the bar's ETA updates from this run's pace"
        )


def duration(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def estimate(store_path: Path, keys: Sequence[EpisodeKey], *, policy: str, preset: str, workers: int) -> Estimate:
    workers = max(1, workers)
    if not Path(store_path).is_file():
        return Estimate(None, 0, workers)
    per_suite: dict[str, list[float]] = defaultdict(list)
    with ResultStore(store_path) as store:
        for run in store.runs():
            if run.policy_name == policy and run.preset_name == preset:
                for row in store.episode_rows(run.run_id):
                    if row["end_reason"] != "error":
                        per_suite[row["suite"]].append(float(row["total_ms"]) / 1000.0)
    measured = [t for times in per_suite.values() for t in times]
    if not measured:
        return Estimate(None, 0, workers)
    overall = sum(measured) / len(measured)
    means = {suite: sum(times) / len(times) for suite, times in per_suite.items()}
    total = sum(means.get(k.suite, overall) for k in keys)
    return Estimate(total / workers, len(measured), workers)
