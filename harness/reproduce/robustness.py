"""What `wam-eval reproduce robustness` runs: the base suites and their LIBERO-PRO perturbations of the
chosen kinds, under the base protocol with the base suite's step limits (a -pro preset), and how each
suite enters the robustness report (its role, its task pairing, whether the drift check covers it)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from envs.base import SuiteInfo
from envs.libero.perturbations import BASE_SUITES, KIND_BY_KEY, LEADERBOARD_KINDS, base_task_for, classify
from envs.presets import builtin_presets
from harness.api.errors import UsageError
from harness.report.robustness import ORIGINAL, SuiteRole
from policies.registry import policy_entries

DEFAULT_PRESET = "openpi-libero-pro"


@dataclass(frozen=True)
class RobustnessPlan:
    bases: tuple[str, ...]
    kinds: tuple[str, ...]
    roles: tuple[SuiteRole, ...]  # every suite of the report, runnable or not
    runnable: tuple[str, ...]  # what the run covers: the bases, then their runnable perturbations
    skipped: tuple[tuple[str, str], ...]  # (suite, why it cannot run here)


def parse_kinds(text: str | None) -> tuple[str, ...]:
    if not text:
        return LEADERBOARD_KINDS
    kinds = tuple(dict.fromkeys(k.strip() for k in text.split(",") if k.strip()))
    unknown = [k for k in kinds if k not in KIND_BY_KEY or k in ("with", "other")]
    if unknown or not kinds:
        known = ", ".join(k for k in KIND_BY_KEY if k not in ("with", "other"))
        raise UsageError(f"unknown perturbation kind(s) {', '.join(unknown) or repr(text)}; choose from: {known}")
    return kinds


def robustness_preset(policy: str, preset: str | None) -> str:
    """The user's preset, else the robustness member of the policy's own protocol family
    (fastwam-libero -> fastwam-libero-pro), else openpi-libero-pro."""
    if preset:
        return preset
    entry = policy_entries().get(policy)
    preferred = entry.preferred_presets.get("libero") if entry else None
    if preferred and f"{preferred}-pro" in builtin_presets():
        return f"{preferred}-pro"
    return DEFAULT_PRESET


def plan_robustness(
    suites: Sequence[SuiteInfo],
    *,
    bases: Sequence[str] = (),
    kinds: Sequence[str],
    drift_covered: set[str] | None = None,
) -> RobustnessPlan:
    by_name = {s.name: s for s in suites}
    bases = tuple(dict.fromkeys(bases)) or BASE_SUITES
    wrong = [b for b in bases if b not in BASE_SUITES]
    if wrong:
        raise UsageError(
            f"--suite takes base suites ({', '.join(BASE_SUITES)}), not {', '.join(wrong)}: "
            "their perturbations come with them (--kinds chooses which)"
        )
    covered = drift_covered or set()
    roles: list[SuiteRole] = []
    runnable: list[str] = []
    skipped: list[tuple[str, str]] = []
    for base in bases:
        info = by_name[base]
        roles.append(SuiteRole(base, base, ORIGINAL, "Original", drift_checked=base in covered))
        runnable.append(base)
        for kind in kinds:
            name = f"{base}_{kind}"
            suite = by_name.get(name)
            if suite is None:
                skipped.append((name, "this LIBERO distribution registers no such suite"))
                continue
            roles.append(
                SuiteRole(
                    name,
                    base,
                    kind,
                    KIND_BY_KEY[kind].label,
                    task_pairs(suite, info),
                    suite.unavailable if len(suite.problems) >= len(suite.tasks) else "",
                    drift_checked=name in covered,
                )
            )
            if len(suite.problems) >= len(suite.tasks):
                skipped.append((name, suite.unavailable))
            else:
                runnable.append(name)
    return RobustnessPlan(bases, tuple(kinds), tuple(roles), tuple(runnable), tuple(skipped))


def task_pairs(suite: SuiteInfo, base: SuiteInfo) -> dict[str, str] | None:
    """Perturbed task -> base task when every task of the suite is the base suite's task at its index."""
    if len(suite.tasks) != len(base.tasks):
        return None
    kind = classify(suite.name)
    names = tuple(t.name for t in base.tasks)
    pairs = {t.name: base_task_for(kind, t.index, t.name, names) for t in suite.tasks}
    return None if any(v is None for v in pairs.values()) else {k: str(v) for k, v in pairs.items()}


def place_suite(name: str) -> tuple[str, str] | None:
    """(base suite, kind) of a suite name, for published rows: ORIGINAL for a base suite."""
    if name in BASE_SUITES:
        return (name, ORIGINAL)
    kind = classify(name)
    return (kind.base, kind.kind) if kind.base and kind.kind in KIND_BY_KEY else None


def drift_coverage(suites: Sequence[SuiteInfo]) -> set[str] | None:
    """Suites whose every task has golden states, or None where this install has no drift check."""
    try:
        from envs.libero import golden  # the simulator-fidelity check, where installed
    except ImportError:
        return None
    states = golden.shipped_golden_states()
    if states is None:
        return None
    return {
        s.name
        for s in suites
        if s.tasks and all(golden.golden_key(s.name, t.name, "qpos") in states.arrays for t in s.tasks)
    }
