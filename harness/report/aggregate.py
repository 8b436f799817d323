"""From stored episodes to the numbers a report prints: one run's row of the paper's table, its
per-task table, and whether it is complete.

Error rows count as failures (they are in the denominator, as in the paper's trial counts) and are
also counted apart. A cell is partial when fewer episodes are stored than the run planned for it.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from harness.api.errors import UsageError
from harness.api.report_facts import TableLayout
from harness.api.types import DriftVerdict, EpisodeKey
from harness.stats import RateEstimate
from harness.store import ResultStore, RunManifest


@dataclass
class RunData:
    """Everything stored about one run."""

    manifest: RunManifest
    rows: list[dict[str, Any]]
    planned: set[str]
    invocations: list[dict[str, Any]] = field(default_factory=list)
    store_path: Path | None = None
    label: str | None = None  # the name tables and figures give the run (`run --label`, `report --label`)

    @property
    def run_id(self) -> str:
        return self.manifest.run_id

    @property
    def name(self) -> str:
        """What a table or figure calls the run: its label, else its id."""
        return self.label or self.run_id

    @property
    def benchmark(self) -> str:
        return self.manifest.benchmark

    @property
    def trained(self) -> bool | None:
        """False for untrained weights; None for a policy that has no weights (noop, random)."""
        value = self.manifest.policy.get("trained", True)
        return None if value is None else bool(value)

    @property
    def untrained(self) -> bool:
        return self.trained is False

    @property
    def privileged(self) -> bool:
        """An oracle's run (PolicyInfo.privileged): not comparable with learned policies."""
        return bool(self.manifest.policy.get("privileged", False))

    @property
    def stored_ids(self) -> set[str]:
        return {r["episode_id"] for r in self.rows}

    @property
    def missing(self) -> int:
        return len(self.planned - self.stored_ids)

    @property
    def partial(self) -> bool:
        return self.missing > 0

    @property
    def preset_label(self) -> str:
        return f"{self.manifest.preset_name} #{self.manifest.preset_hash}"


def open_store(path: str | Path) -> ResultStore:
    """The store for reading (report, compare, export, runs): read-only, so that a reader never
    creates a store where the user mistyped a path, nor changes a file that is not one."""
    return ResultStore.open_readonly(path)


def load_run(store: ResultStore, run_id: str) -> RunData:
    manifest = store.get_run(run_id)
    return RunData(
        manifest=manifest,
        rows=store.episode_rows(manifest.run_id),
        planned=store.planned_ids(manifest.run_id),
        invocations=store.invocations(manifest.run_id),
        store_path=store.path,
        label=store.labels().get(manifest.run_id),
    )


def latest_run_id(store: ResultStore) -> str:
    runs = store.runs()
    if not runs:
        raise UsageError(f"{store.path} holds no runs yet")
    return max(runs, key=lambda m: m.updated_at).run_id


@dataclass(frozen=True)
class Cell:
    """One number of the table with what it rests on."""

    estimate: RateEstimate
    planned: int
    errors: int = 0
    tasks: int = 0
    note: str = ""  # e.g. "over 1 of 4 suites"
    drifted: int = 0  # episodes that started from a drifted simulator state (marked in the report)

    @property
    def n(self) -> int:
        return self.estimate.n

    @property
    def partial(self) -> bool:
        return self.n < self.planned or bool(self.note)

    @property
    def empty(self) -> bool:
        return self.n == 0


@dataclass
class RunRow:
    """A run as one row of the paper's table."""

    run: RunData
    cells: dict[str, Cell]  # by column key; only columns the run has episodes or plans for
    average: Cell
    outside: int  # stored episodes that fall in no column (libero_90, say)


@dataclass(frozen=True)
class TaskRow:
    suite: str
    task: str
    setting: str
    column: str | None
    cell: Cell
    mean_steps: float  # over all stored episodes of the task
    mean_steps_success: float | None


def drifted_count(rows: Sequence[Mapping]) -> int:
    """Episodes whose env found its state off the reference after warm-up (rows of older stores
    carry no verdict)."""
    return sum(1 for r in rows if r.get("drift_verdict") == DriftVerdict.DRIFT.value)


def drifted_tasks(run: RunData) -> list[tuple[str, str, int, float]]:
    """(suite, task, drifted episodes, largest deviation) for every task with a drifted episode."""
    by_task: dict[tuple[str, str], list[float]] = defaultdict(list)
    for r in run.rows:
        if r.get("drift_verdict") == DriftVerdict.DRIFT.value:
            by_task[(r["suite"], r["task"])].append(float(r["drift"]) if r.get("drift") is not None else float("nan"))
    return [(suite, task, len(devs), max(devs)) for (suite, task), devs in sorted(by_task.items())]


def _planned_keys(run: RunData) -> list[dict[str, Any]]:
    return [EpisodeKey.from_id(i).as_dict() for i in sorted(run.planned)]


def _task_estimates(rows: Sequence[Mapping]) -> list[RateEstimate]:
    by_task: dict[tuple[str, str, str], list[bool]] = defaultdict(list)
    for r in rows:
        by_task[(r["suite"], r["task"], r["setting"])].append(bool(r["success"]))
    return [RateEstimate.pooled(sum(v), len(v)) for v in by_task.values()]


def column_estimate(layout: TableLayout, rows: Sequence[Mapping]) -> RateEstimate:
    if layout.mean_over_tasks:
        return RateEstimate.mean(_task_estimates(rows))
    return RateEstimate.pooled(sum(1 for r in rows if r["success"]), len(rows))


def run_row(layout: TableLayout, run: RunData) -> RunRow:
    rows_by_col: dict[str, list[dict]] = defaultdict(list)
    outside = 0
    for r in run.rows:
        col = layout.column_of(r)
        if col is None:
            outside += 1
        else:
            rows_by_col[col].append(r)
    planned_by_col: dict[str, int] = defaultdict(int)
    for k in _planned_keys(run):
        col = layout.column_of(k)
        if col is not None:
            planned_by_col[col] += 1
    cells = {}
    for column in layout.columns:
        rows = rows_by_col.get(column.key, [])
        if not rows and not planned_by_col.get(column.key):
            continue
        cells[column.key] = Cell(
            estimate=column_estimate(layout, rows),
            planned=planned_by_col.get(column.key, 0),
            errors=sum(1 for r in rows if r["end_reason"] == "error"),
            tasks=len({(r["suite"], r["task"]) for r in rows}),
            drifted=drifted_count(rows),
        )
    filled = [c for c in cells.values() if not c.empty]
    note = ""
    if len(filled) < len(layout.columns):
        note = f"over {len(filled)} of {len(layout.columns)} {layout.group_label}s"
    average = Cell(
        estimate=RateEstimate.mean([c.estimate for c in filled]),
        planned=sum(c.planned for c in cells.values()),
        errors=sum(c.errors for c in cells.values()),
        tasks=sum(c.tasks for c in cells.values()),
        note=note,
        drifted=sum(c.drifted for c in cells.values()),
    )
    return RunRow(run=run, cells=cells, average=average, outside=outside)


def task_rows(layout: TableLayout, run: RunData, order: Mapping[tuple[str, str], int] | None = None) -> list[TaskRow]:
    """One row per (suite, task, setting) planned or stored, in the layout's column order and then
    the benchmark's task order when known (else by name)."""
    stored: dict[tuple[str, str, str], list[dict]] = defaultdict(list)
    for r in run.rows:
        stored[(r["suite"], r["task"], r["setting"])].append(r)
    planned: dict[tuple[str, str, str], int] = defaultdict(int)
    for k in _planned_keys(run):
        planned[(k["suite"], k["task"], k["setting"])] += 1
    col_rank = {c.key: i for i, c in enumerate(layout.columns)}
    out = []
    for suite, task, setting in set(stored) | set(planned):
        rows = stored.get((suite, task, setting), [])
        probe = {"suite": suite, "task": task, "setting": setting}
        steps_ok = [r["steps"] for r in rows if r["success"]]
        out.append(
            TaskRow(
                suite=suite,
                task=task,
                setting=setting,
                column=layout.column_of(probe),
                cell=Cell(
                    estimate=RateEstimate.pooled(sum(1 for r in rows if r["success"]), len(rows)),
                    planned=planned.get((suite, task, setting), 0),
                    errors=sum(1 for r in rows if r["end_reason"] == "error"),
                    tasks=1,
                    drifted=drifted_count(rows),
                ),
                mean_steps=sum(r["steps"] for r in rows) / len(rows) if rows else 0.0,
                mean_steps_success=sum(steps_ok) / len(steps_ok) if steps_ok else None,
            )
        )
    order = order or {}

    def rank(t: TaskRow):
        return (
            col_rank.get(t.column, len(col_rank)) if t.column is not None else len(col_rank) + 1,
            t.suite,
            order.get((t.suite, t.task), 10**6),
            t.task,
            t.setting,
        )

    return sorted(out, key=rank)

