"""The perturbed suites a benchmark registers beside its own (LIBERO: LIBERO-PRO's), as a benchmark
declares them (`Benchmark.perturbations`) for `wam-eval reproduce robustness`: which suites are the
unperturbed bases, the kinds of perturbation in report order, and how a suite or task name maps back
to its base. The robustness command reaches them through the benchmark registry, never by importing
a benchmark's package."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Kind:
    key: str  # what `--kinds` takes
    label: str  # column heading
    what: str  # one phrase for tables and docs
    leaderboard: str = ""  # the published leaderboard's column for it, where it has one
    # False for a catch-all kind a suite can be classified as but `--kinds` cannot ask for (the
    # distractor suites, other experiments): its suites do not share one perturbation.
    choosable: bool = True


@dataclass(frozen=True)
class SuiteKind:
    """Where a registered suite sits: its base suite (None for the bases and for suites that perturb
    none of them) and kind ("base" for the unperturbed suites); `variant` names the distractor of a
    `with` suite or the experiment of an `other` one."""

    base: str | None
    kind: str
    variant: str = ""


@dataclass(frozen=True)
class Perturbations:
    benchmark: str
    base_suites: tuple[str, ...]
    kinds: tuple[Kind, ...]  # in report order, the leaderboard's first
    # The preset a robustness run uses when neither the user nor the policy's protocol family names one.
    default_preset: str
    classify: Callable[[str], SuiteKind]
    # (suite kind, task index, task name, the base suite's task names) -> the base task it perturbs, or
    # None where it is not known to be the same task.
    base_task_for: Callable[[SuiteKind, int, str, tuple[str, ...]], str | None]
    # The suites (envs.base.SuiteInfo) whose every task the benchmark's drift check covers; None where
    # this install has no drift check.
    drift_covered: Callable[[Sequence[Any]], set[str] | None]

    @property
    def kind_by_key(self) -> dict[str, Kind]:
        return {k.key: k for k in self.kinds}

    @property
    def leaderboard_kinds(self) -> tuple[str, ...]:
        return tuple(k.key for k in self.kinds if k.leaderboard)

    @property
    def choosable_kinds(self) -> tuple[str, ...]:
        return tuple(k.key for k in self.kinds if k.choosable)
