"""The robustness report's numbers: per base suite, the success rate under each perturbation beside the
unperturbed rate (Wilson intervals), and the drop in points with a test that fits how the episodes pair.

Pairing. An episode of a perturbed suite pairs with the base suite's episode of the same task index
and the same initial-state index, where the perturbed suite's tasks are the base suite's (the same
task at the same index). Then the drop is tested on the matched pairs with the exact McNemar test and
its interval is Newcombe's paired one. Where tasks do not correspond (other task lists, other counts)
the two samples are independent: Fisher's exact test and Newcombe's unpaired interval. Each cell says
which it got. Input is plain data (SuiteRole records), so the report imports no simulator.
"""

from __future__ import annotations

import dataclasses
import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.api.errors import UsageError
from harness.api.types import EpisodeKey
from harness.report.aggregate import RunData
from harness.stats import (
    PairedCounts,
    fisher_exact,
    mcnemar_exact,
    newcombe_interval,
    newcombe_paired_interval,
    wilson_interval,
)

PAIRED = "paired"
UNPAIRED = "unpaired"
ORIGINAL = "original"  # the column of the unperturbed base suite


@dataclass(frozen=True)
class SuiteRole:
    """What one suite is in the report: a base suite (kind ORIGINAL) or a perturbation of one."""

    name: str
    base: str
    kind: str
    label: str  # column heading: Original, Language, Object, ...
    # Perturbed task name -> the base task at the same index, when the suite's tasks are the base
    # suite's; None when they do not correspond (then no episode pairs).
    task_pairs: Mapping[str, str] | None = None
    unavailable: str = ""  # why it cannot run on this install ("" when it can)
    drift_checked: bool = False  # the golden-state drift check has references for every task


@dataclass(frozen=True)
class DropTest:
    """Unperturbed minus perturbed success, in points, with its interval and test."""

    pairing: str  # PAIRED or UNPAIRED
    test: str  # what was computed, in words
    points: float
    interval: tuple[float, float]  # points
    p_value: float
    n_pairs: int = 0  # paired: matched episodes
    base_only: int = 0  # paired: succeeded unperturbed only
    perturbed_only: int = 0  # paired: succeeded perturbed only


@dataclass(frozen=True)
class Cell:
    role: SuiteRole
    successes: int
    n: int
    planned: int
    errors: int
    interval: tuple[float, float]
    drift: int = 0  # episodes whose start drifted from the golden state
    drift_checked: int = 0  # episodes the drift check judged (ok or drift), wherever they ran
    drop: DropTest | None = None
    note: str = ""  # why there is no number or no test

    @property
    def rate(self) -> float:
        return self.successes / self.n if self.n else 0.0

    @property
    def measured(self) -> bool:
        return self.n > 0


@dataclass
class BaseRow:
    base: str
    display: str
    original: Cell | None
    cells: dict[str, Cell]  # by kind, in the report's kind order


@dataclass(frozen=True)
class PublishedCell:
    value: float  # success as a fraction, as printed
    source: str  # source id


@dataclass(frozen=True)
class PublishedRow:
    method: str
    protocol: str
    cells: Mapping[tuple[str, str], PublishedCell]  # (base suite, kind or ORIGINAL) -> cell
    note: str = ""


@dataclass(frozen=True)
class PublishedSource:
    id: str
    title: str
    url: str
    where: str  # the part of the source the numbers are read from


@dataclass
class RobustnessReport:
    runs: list[RunData]
    kinds: tuple[tuple[str, str], ...]  # (kind, label) in column order
    rows: list[BaseRow]
    published: list[PublishedRow] = field(default_factory=list)
    sources: list[PublishedSource] = field(default_factory=list)
    drift_available: bool = False  # this install has a golden-state drift check at all
    notes: list[str] = field(default_factory=list)
    generated_at: float = field(default_factory=time.time)
    confidence: float = 0.95

    @property
    def cells(self) -> list[Cell]:
        return [c for row in self.rows for c in ([row.original] if row.original else []) + list(row.cells.values())]

    def drift_coverage(self) -> tuple[list[str], list[str]]:
        """(suites the drift check covers, suites it does not), among those in the report: covered
        where this install has golden states for every task, or the stored episodes were checked."""
        covered = [c.role.name for c in self.cells if c.role.drift_checked or c.drift_checked]
        return covered, [c.role.name for c in self.cells if c.role.name not in covered]

    @property
    def drift_known(self) -> bool:
        return self.drift_available or any(c.drift_checked for c in self.cells)


def _rows_by_suite(runs: Sequence[RunData]) -> tuple[dict[str, list[dict[str, Any]]], dict[str, int]]:
    """Stored rows and planned counts by suite over the runs; a suite in two runs is refused (its
    episodes would be counted twice, and from two models or protocols)."""
    rows: dict[str, list[dict[str, Any]]] = defaultdict(list)
    planned: dict[str, int] = defaultdict(int)
    owner: dict[str, str] = {}
    for run in runs:
        suites = {r["suite"] for r in run.rows} | {EpisodeKey.from_id(i).suite for i in run.planned}
        for suite in suites:
            if suite in owner and owner[suite] != run.run_id:
                raise UsageError(f"suite {suite} is in runs {owner[suite]} and {run.run_id}; give one run per suite")
            owner[suite] = run.run_id
        for r in run.rows:
            rows[r["suite"]].append(r)
        for i in run.planned:
            planned[EpisodeKey.from_id(i).suite] += 1
    return rows, planned


def _cell(role: SuiteRole, rows: Sequence[Mapping[str, Any]], planned: int, confidence: float) -> Cell:
    k = sum(1 for r in rows if r["success"])
    n = len(rows)
    errors = sum(1 for r in rows if r.get("end_reason") == "error")
    drift = sum(1 for r in rows if r.get("drift_verdict") == "drift")
    checked = sum(1 for r in rows if r.get("drift_verdict") in ("ok", "drift"))
    note = ""
    if not n:
        note = f"cannot run here: {role.unavailable}" if role.unavailable else "not run"
    return Cell(role, k, n, max(planned, n), errors, wilson_interval(k, n, confidence), drift=drift,
                drift_checked=checked, note=note)


def drop_test(base_rows: Sequence[Mapping[str, Any]], rows: Sequence[Mapping[str, Any]], role: SuiteRole,
              confidence: float = 0.95) -> DropTest:
    """The drop from the base suite's episodes to the perturbed suite's, paired where they pair."""
    if role.task_pairs is not None:
        base = {(r["task"], int(r["episode"])): bool(r["success"]) for r in base_rows}
        both = base_only = perturbed_only = neither = 0
        for r in rows:
            match = base.get((role.task_pairs.get(r["task"], ""), int(r["episode"])))
            if match is None:
                continue
            ok = bool(r["success"])
            both += match and ok
            base_only += match and not ok
            perturbed_only += ok and not match
            neither += not match and not ok
        counts = PairedCounts(both, base_only, perturbed_only, neither)
        if counts.n:
            lo, hi = newcombe_paired_interval(counts, confidence)
            return DropTest(
                PAIRED, f"exact McNemar on {counts.n} episodes paired by task and init-state index",
                100.0 * (base_only - perturbed_only) / counts.n, (100.0 * lo, 100.0 * hi),
                mcnemar_exact(base_only, perturbed_only), counts.n, base_only, perturbed_only)
    kb, nb = sum(1 for r in base_rows if r["success"]), len(base_rows)
    kp, n_p = sum(1 for r in rows if r["success"]), len(rows)
    lo, hi = newcombe_interval(kb, nb, kp, n_p, confidence)
    why = ("its tasks are not the base suite's" if role.task_pairs is None
           else "no episode shares a task and init-state index with the base run")
    return DropTest(UNPAIRED, f"Fisher's exact test, independent samples ({why})",
                    100.0 * (kb / nb - kp / n_p), (100.0 * lo, 100.0 * hi), fisher_exact(kb, nb, kp, n_p))


def build_robustness(runs: Sequence[RunData], roles: Sequence[SuiteRole], *, displays: Mapping[str, str],
                     kinds: Sequence[tuple[str, str]], published: Sequence[PublishedRow] = (),
                     sources: Sequence[PublishedSource] = (), drift_available: bool = False,
                     confidence: float = 0.95) -> RobustnessReport:
    """One row per base suite among `roles`, one cell per kind: the numbers of the runs' episodes."""
    by_suite, planned = _rows_by_suite(runs)
    known = {r.name for r in roles}
    stray = sorted(set(by_suite) - known)
    notes = [f"Episodes of suites outside the report are left out: {', '.join(stray)}."] if stray else []
    rows: list[BaseRow] = []
    for base in dict.fromkeys(r.base for r in roles):
        original_role = next((r for r in roles if r.base == base and r.kind == ORIGINAL), None)
        base_rows = by_suite.get(base, [])
        original = _cell(original_role, base_rows, planned.get(base, 0), confidence) if original_role else None
        cells: dict[str, Cell] = {}
        for kind, _ in kinds:
            role = next((r for r in roles if r.base == base and r.kind == kind), None)
            if role is None:
                continue
            cell = _cell(role, by_suite.get(role.name, []), planned.get(role.name, 0), confidence)
            if cell.measured and base_rows:
                cell = _with_drop(cell, drop_test(base_rows, by_suite[role.name], role, confidence))
            elif cell.measured:
                cell = _with_drop(cell, None, f"{base} not run, so no drop")
            cells[kind] = cell
        rows.append(BaseRow(base, displays.get(base, base), original, cells))
    if any(c.drop and c.drop.pairing == PAIRED for row in rows for c in row.cells.values()):
        notes.append(
            "Paired cells match episodes by task index and init-state index. LIBERO-PRO sampled its own initial "
            "states, so a pair shares the task and its index, not the exact layout: pairing takes task difficulty "
            "out of the comparison, and the exact McNemar test stays valid for any such one-to-one matching.")
    return RobustnessReport(list(runs), tuple(kinds), rows, list(published), list(sources), drift_available, notes,
                            confidence=confidence)


def _with_drop(cell: Cell, drop: DropTest | None, note: str = "") -> Cell:
    return dataclasses.replace(cell, drop=drop, note=note or cell.note)
