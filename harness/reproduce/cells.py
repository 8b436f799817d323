"""Our k/n in each cell of a paper table, the part of the protocol behind it, and its verdict
against the paper's figure; written as verdicts.json beside the report."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from envs.base import Benchmark
from envs.presets import Preset
from harness.api.report_facts import PaperTable
from harness.api.types import EpisodeKey
from harness.report.baselines import BaselineResult, successes_of
from harness.reproduce import verdict as rule

AVERAGE = "average"
VERDICTS_FILE = "verdicts.json"


@dataclass(frozen=True)
class CellVerdict:
    column: str  # a suite or setting key, or "average"
    label: str  # as the paper prints the column
    paper_percent: float | None  # None: the paper prints no figure for this cell
    paper_trials: int | None
    successes: int
    n: int  # stored episodes of this invocation's plan in the cell (error episodes count as failures)
    planned: int  # episodes this invocation planned in the cell
    part: str  # which part of the paper's protocol ran in this cell
    full: bool  # whether that part is the whole protocol for the cell
    verdict: str | None  # one of verdict.VERDICTS; None without a paper figure
    p_value: float | None
    interval: tuple[float, float] | None  # our Wilson 95% interval
    paper_inside: bool | None

    @property
    def rate(self) -> float:
        return self.successes / self.n if self.n else 0.0


@dataclass(frozen=True)
class TableVerdicts:
    table: str
    title: str
    run_id: str
    preset: str
    paper_method: str
    paper_source: str
    paper_protocol: str
    cells: tuple[CellVerdict, ...]
    narrowed: bool
    rule: str
    # Why the run's protocol is not the paper row's ("" when it is): the verdicts then compare two
    # protocols, and say so wherever they are shown.
    protocol_mismatch: str = ""

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for cell in out["cells"]:
            if cell["interval"] is not None:
                cell["interval"] = list(cell["interval"])
        return out

    def write(self, folder: Path) -> Path:
        path = Path(folder) / VERDICTS_FILE
        path.write_text(json.dumps(self.as_dict(), indent=2) + "\n")
        return path


RULE = (
    f"exact two-sided binomial test of our k/n at the paper's rate, alpha {rule.ALPHA}: rejected -> below/above paper; "
    f"not rejected with under {rule.MIN_POWER:.0%} power against a rate {rule.DETECT * 100:.0f} points away -> "
    "too few episodes; else reproduced. The paper's figure inside our Wilson 95% interval is reported beside it."
)


def protocol_mismatch(preset: Preset, paper: BaselineResult, builtin_hashes: Mapping[str, str]) -> str:
    """One sentence when a run under `preset` is not measured as the paper's row was, else "". As the
    report's baseline tables do: a built-in preset the row names is compared by content hash (one
    edited under its old name is another protocol); any other protocol ("as reported by ...") only
    by name, so such a row never counts as the same protocol as a wam-eval preset."""
    builtin = builtin_hashes.get(paper.protocol)
    same = preset.hash == builtin if builtin is not None else preset.name == paper.protocol
    if same:
        return ""
    edited = " (an edited copy of it)" if builtin is not None and preset.name == paper.protocol else ""
    return (
        f"protocols differ: this run used {preset.name} #{preset.hash}{edited}, the {paper.method} row was "
        f"measured under {paper.protocol}; the verdicts compare success across two protocols"
    )


def _part(tasks_run: int, tasks_all: int, episodes_run: int, episodes_all: int) -> tuple[str, bool]:
    full = tasks_run == tasks_all and episodes_run == episodes_all
    tasks = f"all {tasks_all} tasks" if tasks_run == tasks_all else f"{tasks_run} of {tasks_all} tasks"
    episodes = (
        f"{episodes_run} episodes each"
        if episodes_run == episodes_all
        else f"{episodes_run} of {episodes_all} episodes each"
    )
    return f"{tasks}, {episodes}", full


def judge_cells(
    table: PaperTable,
    benchmark: Benchmark,
    preset: Preset,
    planned: Sequence[EpisodeKey],
    rows: Sequence[Mapping[str, Any]],
    paper: BaselineResult,
    *,
    run_id: str,
    builtin_hashes: Mapping[str, str] | None = None,
) -> TableVerdicts:
    """Verdicts for the cells this invocation planned, from the stored rows of those episodes."""
    layout = table.layout
    planned_ids = {k.id for k in planned}
    by_column: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for row in rows:
        if row["episode_id"] in planned_ids:
            column = layout.column_of(row)
            if column is not None:
                by_column[column].append(row)
    planned_by_column: dict[str, list[EpisodeKey]] = defaultdict(list)
    for key in planned:
        column = layout.column_of({"suite": key.suite, "setting": key.setting})
        if column is not None:
            planned_by_column[column].append(key)
    suites = {s.name: s for s in benchmark.suites()}
    tasks_all = sum(len(suites[s].tasks) for s in table.suites)
    per_suite = layout.group_label == "suite"
    cells = []
    for column in layout.columns:
        keys = planned_by_column.get(column.key)
        if not keys:
            continue
        tasks = {(k.suite, k.task) for k in keys}
        counts: dict[tuple[str, str], int] = defaultdict(int)
        for k in keys:
            counts[(k.suite, k.task)] += 1
        part, full = _part(
            len(tasks),
            len(suites[column.key].tasks) if per_suite else tasks_all,
            max(counts.values()),
            preset.episodes_per_task,
        )
        stored = by_column.get(column.key, [])
        cells.append(
            _cell(
                column.key,
                column.label,
                paper.success.get(column.key),
                paper.trials_per_cell,
                sum(bool(r["success"]) for r in stored),
                len(stored),
                len(keys),
                part,
                full,
            )
        )
    every_column = len(cells) == len(layout.columns) and all(c.full for c in cells)
    if every_column:
        cells.append(
            _cell(
                AVERAGE,
                "Average",
                paper.average,
                paper.trials_per_cell and paper.trials_per_cell * len(cells),
                sum(c.successes for c in cells),
                sum(c.n for c in cells),
                sum(c.planned for c in cells),
                "every column",
                True,
            )
        )
    return TableVerdicts(
        table=table.name,
        title=table.title,
        run_id=run_id,
        preset=preset.name,
        paper_method=paper.method,
        paper_source=paper.source.id,
        paper_protocol=paper.protocol,
        cells=tuple(cells),
        narrowed=not every_column,
        rule=RULE,
        protocol_mismatch=protocol_mismatch(preset, paper, builtin_hashes or {}),
    )


def _cell(
    column: str,
    label: str,
    paper_percent: float | None,
    paper_trials: int | None,
    successes: int,
    n: int,
    planned: int,
    part: str,
    full: bool,
) -> CellVerdict:
    if paper_percent is None:
        return CellVerdict(column, label, None, paper_trials, successes, n, planned, part, full, None, None, None, None)
    # The rate the paper's printed percentage stands for: its success count over its trials where
    # both are known (98.5% of 500 is 493/500), else the percentage itself.
    rate = successes_of(paper_percent, paper_trials) / paper_trials if paper_trials else paper_percent / 100.0
    j = rule.judge(successes, n, rate)
    return CellVerdict(
        column,
        label,
        paper_percent,
        paper_trials,
        successes,
        n,
        planned,
        part,
        full,
        j.verdict,
        j.p_value,
        j.interval,
        j.paper_inside,
    )
