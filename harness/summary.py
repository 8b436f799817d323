"""Success rates per suite and setting for what a run has stored, for the end-of-run summary."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

from harness.api.types import DriftVerdict, EpisodeKey
from harness.stats import wilson_interval


@dataclass(frozen=True)
class SuiteRate:
    suite: str
    setting: str
    successes: int
    n: int
    planned: int
    errors: int
    drifted: int = 0  # episodes whose simulator state drifted from the reference after warm-up
    checked: int = 0  # episodes with a reference to check against (0: the benchmark makes no check)

    @property
    def rate(self) -> float:
        return self.successes / self.n if self.n else 0.0

    @property
    def interval(self) -> tuple[float, float]:
        return wilson_interval(self.successes, self.n)


def suite_rates(planned: Sequence[EpisodeKey], rows: Iterable[dict]) -> list[SuiteRate]:
    """Per (suite, setting) over the planned keys; error rows count as failures, as in the paper's
    denominators, and are also reported apart."""
    by_id = {r["episode_id"]: r for r in rows}
    groups: dict[tuple[str, str], list[EpisodeKey]] = {}
    for key in planned:
        groups.setdefault((key.suite, key.setting), []).append(key)
    out = []
    for (suite, setting), keys in groups.items():
        stored = [by_id[k.id] for k in keys if k.id in by_id]
        out.append(
            SuiteRate(
                suite=suite,
                setting=setting,
                successes=sum(1 for r in stored if r["success"]),
                n=len(stored),
                planned=len(keys),
                errors=sum(1 for r in stored if r["end_reason"] == "error"),
                drifted=sum(1 for r in stored if r.get("drift_verdict") == DriftVerdict.DRIFT.value),
                checked=sum(1 for r in stored if r.get("drift_verdict") in (DriftVerdict.OK.value,
                                                                             DriftVerdict.DRIFT.value)),
            )
        )
    return out
