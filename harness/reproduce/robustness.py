"""What `wam-eval reproduce robustness` runs: the base suites and their LIBERO-PRO perturbations of the
chosen kinds, under the base protocol with the base suite's step limits (a -pro preset), and how each
suite enters the robustness report (its role, its task pairing, whether the drift check covers it)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from envs.base import SuiteInfo
from envs.presets import builtin_presets
from envs.registry import benchmark_class
from harness.api.errors import UsageError
from harness.api.perturbations import Perturbations
from harness.report.robustness import ORIGINAL, SuiteRole
from policies.registry import policy_entries

BENCHMARK = "libero"  # the benchmark whose perturbed suites the command runs (LIBERO-PRO's)


def perturbations(benchmark: str = BENCHMARK) -> Perturbations:
    """The perturbed suites the benchmark declares (`Benchmark.perturbations`)."""
    declared = getattr(benchmark_class(benchmark), "perturbations", None)
    if not isinstance(declared, Perturbations):
        raise UsageError(f"benchmark {benchmark!r} declares no perturbed suites; robustness runs need one that does")
    return declared


@dataclass(frozen=True)
class RobustnessPlan:
    bases: tuple[str, ...]
    kinds: tuple[str, ...]
    roles: tuple[SuiteRole, ...]  # every suite of the report, runnable or not
    runnable: tuple[str, ...]  # what the run covers: the bases, then their runnable perturbations
    skipped: tuple[tuple[str, str], ...]  # (suite, why it cannot run here)


def parse_kinds(text: str | None) -> tuple[str, ...]:
    facts = perturbations()
    if not text:
        return facts.leaderboard_kinds
    kinds = tuple(dict.fromkeys(k.strip() for k in text.split(",") if k.strip()))
    unknown = [k for k in kinds if k not in facts.choosable_kinds]
    if unknown or not kinds:
        known = ", ".join(facts.choosable_kinds)
        raise UsageError(f"unknown perturbation kind(s) {', '.join(unknown) or repr(text)}; choose from: {known}")
    return kinds


def robustness_preset(policy: str, preset: str | None) -> str:
    """The user's preset, else the robustness member of the policy's own protocol family
    (fastwam-libero -> fastwam-libero-pro), else the benchmark's default (openpi-libero-pro)."""
    if preset:
        return preset
    facts = perturbations()
    entry = policy_entries().get(policy)
    preferred = entry.preferred_presets.get(facts.benchmark) if entry else None
    if preferred and f"{preferred}-pro" in builtin_presets():
        return f"{preferred}-pro"
    return facts.default_preset


def plan_robustness(
    suites: Sequence[SuiteInfo],
    *,
    bases: Sequence[str] = (),
    kinds: Sequence[str],
    drift_covered: set[str] | None = None,
) -> RobustnessPlan:
    facts = perturbations()
    by_name = {s.name: s for s in suites}
    bases = tuple(dict.fromkeys(bases)) or facts.base_suites
    wrong = [b for b in bases if b not in facts.base_suites]
    if wrong:
        raise UsageError(
            f"--suite takes base suites ({', '.join(facts.base_suites)}), not {', '.join(wrong)}: "
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
                    facts.kind_by_key[kind].label,
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
    facts = perturbations()
    kind = facts.classify(suite.name)
    names = tuple(t.name for t in base.tasks)
    pairs = {t.name: facts.base_task_for(kind, t.index, t.name, names) for t in suite.tasks}
    return None if any(v is None for v in pairs.values()) else {k: str(v) for k, v in pairs.items()}


def place_suite(name: str) -> tuple[str, str] | None:
    """(base suite, kind) of a suite name, for published rows: ORIGINAL for a base suite."""
    facts = perturbations()
    if name in facts.base_suites:
        return (name, ORIGINAL)
    kind = facts.classify(name)
    return (kind.base, kind.kind) if kind.base and kind.kind in facts.kind_by_key else None


def drift_coverage(suites: Sequence[SuiteInfo]) -> set[str] | None:
    """Suites whose every task the benchmark's drift check covers, or None where this install has none."""
    return perturbations().drift_covered(suites)
