"""A toy benchmark, written as a new one would be under envs/<name>/ (docs/architecture.md, "Adding a
benchmark"): its suites, its preset (tests/data/toy-preset.toml) and its paper table layout, and
nothing in harness/. tests/test_benchmark_plugin.py registers it and finds it in `list` and in a report.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from envs.base import ResetOutcome, StepOutcome, SuiteInfo
from harness.api.commands import Command, CommandContext
from harness.api.report_facts import Column, TableLayout
from harness.api.types import EpisodeKey, Observation, TaskInfo

PRESET = Path(__file__).resolve().parent / "data" / "toy-preset.toml"

# Task names out of alphabetical order, so that a report listing them by index proves it read the
# benchmark's own order.
TASKS = {"toy_easy": ("stack", "reach"), "toy_hard": ("sort", "open")}


def _count_arguments(parser, ctx: CommandContext) -> None:
    parser.add_argument("--suite", default="toy_easy", help="the suite whose tasks to count (default toy_easy)")
    ctx.add_store_option(parser)


def _count(args, argv: list[str], ctx: CommandContext) -> int:
    """Prints the suite's task count and how many seed verdicts the store holds for it."""
    (suite,) = [s for s in ToyBenchmark().suites() if s.name == args.suite]
    with ctx.open_verdicts(args.store, False) as store:
        groups = store.verdict_groups("toy")
    ctx.make_console().print(f"{suite.name}: {len(suite.tasks)} tasks, {len(groups)} verdict group(s)")
    return 0


class ToyBenchmark:
    name = "toy"
    default_preset = str(PRESET)
    table_layout = TableLayout(
        benchmark="toy",
        title="Table 9 (Toy)",
        columns=(Column("toy_easy", "Easy"), Column("toy_hard", "Hard")),
        group_label="suite",
        mean_over_tasks=True,
        paper_trials="20 trials per task",
        paper_table="Table 9",
    )

    # Its own `wam-eval toy-count`, as RoboTwin brings `seeds` and `setup`.
    commands = (Command("toy-count", "count a toy suite's tasks", _count_arguments, _count),)

    def suites(self) -> Sequence[SuiteInfo]:
        return tuple(
            SuiteInfo(
                suite,
                suite.removeprefix("toy_").title(),
                tuple(TaskInfo("toy", suite, task, i, f"{task} the block", 2) for i, task in enumerate(tasks)),
            )
            for suite, tasks in TASKS.items()
        )

    def settings(self) -> tuple[str, ...]:
        return ("default",)

    def action_dim_for(self, preset) -> int:
        return 2

    def noop_action_for(self, preset) -> np.ndarray:
        return np.zeros(2)

    def check_available(self, preset) -> None:
        return None

    def versions(self, preset=None) -> dict[str, str]:
        return {"toy": "1"}

    def make_env(self, task: TaskInfo, preset, *, cameras: Sequence[str]) -> ToyEnv:
        return ToyEnv(task, tuple(cameras))


class ToyEnv:
    """Succeeds at its third step on an easy task, never on a hard one."""

    def __init__(self, task: TaskInfo, cameras: tuple[str, ...]) -> None:
        self.task = task
        self.cameras = cameras
        self.steps = 0

    def _observation(self, render: bool) -> Observation:
        images = {c: np.zeros((8, 8, 3), np.uint8) for c in self.cameras} if render else {}
        return Observation(images=images, state=np.zeros(2), instruction=self.task.instruction, step=self.steps)

    def reset(self, key: EpisodeKey, *, render: bool, params=None) -> ResetOutcome:
        self.steps = 0
        return ResetOutcome(self._observation(render))

    def step(self, action: np.ndarray, *, render: bool) -> StepOutcome:
        self.steps += 1
        success = self.task.suite == "toy_easy" and self.steps >= 3
        return StepOutcome(self._observation(render), done=success, success=success)

    def close(self) -> None:
        pass
