"""LIBERO's headline table as the Fast-WAM paper prints it (Table 2): the four suites as columns,
each suite's 500 trials pooled, and the Average the mean over the four suites."""

from __future__ import annotations

from envs.libero.catalog import BENCHMARK, SUITES
from harness.api.report_facts import Column, PaperTable, TableLayout

TABLE_LAYOUT = TableLayout(
    benchmark=BENCHMARK,
    title="Table 2 (LIBERO)",
    columns=tuple(Column(s.name, s.display) for s in SUITES if s.in_paper),
    group_label="suite",
    paper_trials="500 per suite",
    paper_table="Table 2",
    mean_over_tasks=False,
)

# What `wam-eval reproduce table2` runs: every suite of the table under its protocol.
PAPER_TABLES = (PaperTable("table2", tuple(s.name for s in SUITES if s.in_paper), TABLE_LAYOUT),)
