"""What a report needs to know about benchmarks and protocols that its stored runs do not say: each
benchmark's paper table (`TableLayout`), its task order, and the content hashes of the built-in
presets that baseline rows name as protocols.

A benchmark declares its layout in its own package (`Benchmark.table_layout`); the CLI layer gathers
these facts from the installed benchmarks and presets (harness/reporting.py) and hands them to the
report, which reads only the store and this shared layer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

# (suite, task) -> the benchmark's own task index
TaskOrder = Mapping[tuple[str, str], int]


@dataclass(frozen=True)
class Column:
    key: str  # as baseline files name it: a suite (libero_spatial) or a setting (clean)
    label: str  # as the paper's table prints it (Spatial, Clean)


@dataclass(frozen=True)
class TableLayout:
    """A benchmark's headline table as the paper prints it: its columns, which episodes fall in each,
    and how a column's rate is formed (LIBERO pools a suite's 500 trials; RoboTwin averages over
    tasks). The Average column is always the equally weighted mean of the columns."""

    benchmark: str
    title: str  # the paper's table this layout reproduces
    columns: tuple[Column, ...]
    # The episode field whose value names its column, and what one column is: "suite" or "setting".
    # An episode whose value is no column's key falls outside the table (libero_90, say).
    group_label: str
    # True: a column's rate is the mean of its tasks' rates; False: pooled over its episodes.
    mean_over_tasks: bool
    # Two columns that hold the same tasks under two conditions (RoboTwin: clean, randomized): the
    # report adds the second minus the first on matched seeds.
    matched_pair: tuple[str, str] | None = None
    # What the report's note says of the paper's cells: its trial count per cell, in words ("500 per
    # suite", "100 trials per task"), and the table that prints the Average so ("Table 2"). "": unsaid.
    paper_trials: str = ""
    paper_table: str = ""
    # True for the layout of a benchmark that declares none: every value of the field is a column.
    open_columns: bool = False

    def column_keys(self) -> tuple[str, ...]:
        return tuple(c.key for c in self.columns)

    def label_for(self, key: str) -> str:
        for column in self.columns:
            if column.key == key:
                return column.label
        return key

    def column_of(self, row: Mapping) -> str | None:
        """Which column an episode row (or key) belongs to; None: outside the table."""
        value = row[self.group_label]
        return value if self.open_columns or value in self.column_keys() else None


@dataclass(frozen=True)
class PaperTable:
    """A paper table a benchmark can reproduce in full (`wam-eval reproduce NAME`), declared in the
    benchmark's package (`Benchmark.paper_tables`): the suites its protocol runs and the layout its
    cells follow."""

    name: str  # as the command takes it: table2
    suites: tuple[str, ...]
    layout: TableLayout

    @property
    def title(self) -> str:
        return self.layout.paper_table  # as baseline files name it: "Table 2"

    @property
    def benchmark(self) -> str:
        return self.layout.benchmark


def one_column_per_suite(benchmark: str, rows: Sequence[Mapping] = ()) -> TableLayout:
    """The table of a benchmark that declares no layout: one column per suite seen in the rows."""
    suites = sorted({r["suite"] for r in rows})
    return TableLayout(
        benchmark=benchmark,
        title=benchmark,
        columns=tuple(Column(s, s) for s in suites),
        group_label="suite",
        mean_over_tasks=False,
        open_columns=True,
    )


@dataclass(frozen=True)
class ReportFacts:
    """Benchmark and protocol facts for a report, by benchmark name. Empty: every benchmark gets one
    column per suite, tasks in name order, and baseline protocols are compared by name."""

    layouts: Mapping[str, TableLayout] = field(default_factory=dict)
    task_orders: Mapping[str, TaskOrder] = field(default_factory=dict)
    # preset name -> content hash of the built-in presets, which baseline rows name as protocols
    builtin_preset_hashes: Mapping[str, str] = field(default_factory=dict)

    def layout_for(self, benchmark: str, rows: Sequence[Mapping] = ()) -> TableLayout:
        """The paper's layout for a benchmark that declares one; otherwise one column per suite seen."""
        layout = self.layouts.get(benchmark)
        return layout if layout is not None else one_column_per_suite(benchmark, rows)

    def known_columns(self, benchmark: str) -> set[str] | None:
        """The columns a baseline row of the benchmark may fill; None: any (no declared layout)."""
        layout = self.layouts.get(benchmark)
        return set(layout.column_keys()) if layout is not None else None

    def task_order(self, benchmark: str) -> TaskOrder:
        return self.task_orders.get(benchmark, {})
