"""RoboTwin 2.0's headline table as the Fast-WAM paper prints it (Table 1): the clean and randomized
settings as columns, each the mean over tasks, and the Average the mean of the two. Both settings run
the same tasks on the same seeds, so the report adds randomized minus clean on matched seeds."""

from __future__ import annotations

from envs.robotwin.catalog import BENCHMARK
from harness.api.report_facts import Column, PaperTable, TableLayout

TABLE_LAYOUT = TableLayout(
    benchmark=BENCHMARK,
    title="Table 1 (RoboTwin 2.0)",
    columns=(Column("clean", "Clean"), Column("randomized", "Randomized")),
    group_label="setting",
    paper_trials="100 trials per task",
    paper_table="Table 1",
    mean_over_tasks=True,
    matched_pair=("clean", "randomized"),
)

# What `wam-eval reproduce table1` runs: every suite of the table under its protocol.
PAPER_TABLES = (PaperTable("table1", ("robotwin2",), TABLE_LAYOUT),)
