"""Two runs side by side: per column of the paper's table and for its Average, the difference B - A
with its interval and a test. Where the runs share episode keys (the same initial states or seeds),
the test is paired: exact McNemar on the shared episodes. Otherwise the rates are independent
samples: the two-proportion z-test. The words "better" and "worse" appear only where the test
rejects at the chosen level.

Every row is formed as the main table forms its numbers, so that the differences are differences of
the table's cells: a pooled LIBERO suite, a RoboTwin setting as the mean over its tasks, and the
Average as the equally weighted mean of the columns. A row is a weighted sum of strata (a column's
episodes, or a task's); its interval combines the strata's Newcombe intervals (MOVER) and its test
weights their episodes as the sum does.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Mapping, Sequence

from harness.api.errors import UsageError
from harness.api.report_facts import TableLayout
from harness.report.aggregate import RunData
from harness.stats import (
    PairedCounts,
    RateEstimate,
    mcnemar_exact,
    mcnemar_exact_weighted,
    mover_interval,
    newcombe_interval,
    newcombe_paired_interval,
    stratified_z,
    two_proportion_z,
)

PAIRED_TEST = "exact McNemar"
UNPAIRED_TEST = "two-proportion z"
# A test over several strata (a RoboTwin setting's tasks, the Average's columns) weighted as the
# paper's table weights them. Paired strata of equal weight per episode keep the plain name: their
# weighted exact test is then the exact McNemar test of the pooled pairs.
WEIGHTED = " (weighted as the table)"
PAIRED_Z_TEST = "McNemar z" + WEIGHTED  # the exact test's null distribution would be too large
MIXED_TEST = "z (paired and independent columns)" + WEIGHTED
NO_DIFFERENCE = "no significant difference"
AVERAGE = "Average"
POOLED = "Pooled"
# The verdict follows the test. Newcombe's score intervals (and the MOVER intervals built from them)
# are not the inversion of the exact McNemar or z-test, so near the boundary the two can disagree;
# the verdict then says so, rather than leaving a reader to square "[+3.1, +85.0]" with p = 0.125.
BY_TEST_INTERVAL_EXCLUDES_0 = " (by the test; the interval excludes 0)"
BY_TEST_INTERVAL_INCLUDES_0 = " (by the test; the interval includes 0)"


@dataclass(frozen=True)
class Stratum:
    """One difference a comparison rests on, with its weight in the row's difference: a column's
    compared episodes (pooled, as Table 2 pools a suite), or one task's (Table 1's settings are means
    over tasks: weight 1/T); in the Average, divided again by the number of columns."""

    weight: Fraction
    a: RateEstimate
    b: RateEstimate
    pairs: PairedCounts | None = None

    @property
    def diff(self) -> float:
        return self.b.rate - self.a.rate

    def interval(self, confidence: float) -> tuple[float, float]:
        """B - A: Newcombe's paired score interval on pairs, else his hybrid score interval."""
        if self.pairs is not None:
            # newcombe_paired_interval gives p_first - p_second; we report B - A.
            lo, hi = newcombe_paired_interval(self.pairs, confidence)
            return (-hi, -lo)
        return newcombe_interval(self.b.successes, self.b.n, self.a.successes, self.a.n, confidence)

    def episode_weights(self) -> tuple[Fraction, Fraction]:
        """Each episode's weight in the row's difference, in A and in B."""
        return (self.weight / self.a.n, self.weight / self.b.n)


@dataclass(frozen=True)
class Comparison:
    label: str  # a column label, AVERAGE or POOLED
    a: RateEstimate  # over the episodes compared, formed as the main table forms the row
    b: RateEstimate
    diff: float  # b - a
    interval: tuple[float, float]
    test: str
    p_value: float
    verdict: str  # "better", "worse" (B relative to A) or NO_DIFFERENCE, by the test; see decision
    pairs: PairedCounts | None = None
    unpaired_a: int = 0  # episodes of A left out (no partner in B, or a task B does not have)
    unpaired_b: int = 0
    note: str = ""  # what the row averages ("mean over 3 tasks", "mean of 2 of 4 suites")
    strata: tuple[Stratum, ...] = field(default=(), repr=False)

    @property
    def paired(self) -> bool:
        return self.pairs is not None

    @property
    def decision(self) -> str:
        """The verdict's word alone: "better", "worse" or NO_DIFFERENCE."""
        for word in ("better", "worse"):
            if self.verdict.startswith(word):
                return word
        return NO_DIFFERENCE

    @property
    def interval_agrees(self) -> bool:
        """Whether the interval excludes 0 exactly when the test rejects."""
        lo, hi = self.interval
        return (lo > 0 or hi < 0) == (self.decision != NO_DIFFERENCE)


def preset_mismatch(runs: Sequence[RunData]) -> list[tuple[RunData, RunData]]:
    """Pairs of runs of one benchmark whose presets differ (by content hash, so an edited preset
    under an old name counts as different)."""
    out = []
    by_bench: dict[str, list[RunData]] = defaultdict(list)
    for run in runs:
        by_bench[run.benchmark].append(run)
    for group in by_bench.values():
        first = group[0]
        out.extend((first, other) for other in group[1:] if other.manifest.preset_hash != first.manifest.preset_hash)
    return out


def check_presets(runs: Sequence[RunData], *, allow: bool) -> bool:
    """True when some runs differ in preset (allowed); raises UsageError naming both presets
    when not allowed."""
    pairs = preset_mismatch(runs)
    if pairs and not allow:
        a, b = pairs[0]
        raise UsageError(
            f"runs {a.run_id} and {b.run_id} were evaluated under different presets ({a.preset_label} vs "
            f"{b.preset_label}); their rates are not comparable. Pass --allow-preset-mismatch to put them "
            "side by side anyway (the mismatch is marked)"
        )
    return bool(pairs)


def _verdict(diff: float, p: float, alpha: float, interval: tuple[float, float]) -> str:
    word = NO_DIFFERENCE
    if p < alpha and diff > 0:
        word = "better"
    elif p < alpha and diff < 0:
        word = "worse"
    lo, hi = interval
    excludes = lo > 0 or hi < 0
    if word == NO_DIFFERENCE and excludes:
        return word + BY_TEST_INTERVAL_EXCLUDES_0
    if word != NO_DIFFERENCE and not excludes:
        return word + BY_TEST_INTERVAL_INCLUDES_0
    return word


def _pairable(ra: Mapping, rb: Mapping) -> bool:
    # The same key under another seed is not the same episode (RoboTwin seeds come from a list).
    return ra["seed"] is None or rb["seed"] is None or ra["seed"] == rb["seed"]


def _pooled(rows: Sequence[Mapping]) -> RateEstimate:
    return RateEstimate.pooled(sum(1 for r in rows if r["success"]), len(rows))


def _paired_counts(pairs: Sequence[tuple[Mapping, Mapping]]) -> PairedCounts:
    both = sum(1 for ra, rb in pairs if ra["success"] and rb["success"])
    first = sum(1 for ra, rb in pairs if ra["success"] and not rb["success"])
    second = sum(1 for ra, rb in pairs if not ra["success"] and rb["success"])
    return PairedCounts(both, first, second, len(pairs) - both - first - second)


def _task_of(row: Mapping) -> tuple[str, str]:
    return (row["suite"], row["task"])


def _sum_pairs(counts: Sequence[PairedCounts]) -> PairedCounts:
    return PairedCounts(
        sum(c.both for c in counts),
        sum(c.first_only for c in counts),
        sum(c.second_only for c in counts),
        sum(c.neither for c in counts),
    )


def _test(strata: Sequence[Stratum]) -> tuple[str, float]:
    """The test of the row's weighted difference: exact McNemar where every stratum is paired, the
    two-proportion z-test where none is; over several strata, weighted as the difference is."""
    paired = [s for s in strata if s.pairs is not None]
    independent = [s for s in strata if s.pairs is None]
    if len(strata) == 1:
        (s,) = strata
        if s.pairs is not None:
            return PAIRED_TEST, mcnemar_exact(s.pairs.first_only, s.pairs.second_only)
        return UNPAIRED_TEST, two_proportion_z(s.b.successes, s.b.n, s.a.successes, s.a.n)
    equal = len({s.episode_weights() for s in strata}) == 1
    if not independent:
        p = mcnemar_exact_weighted([(s.weight / s.pairs.n, s.pairs.first_only, s.pairs.second_only) for s in paired])
        if p is not None:
            return PAIRED_TEST + ("" if equal else WEIGHTED), p
    p = stratified_z(
        [(float(s.weight), s.pairs) for s in paired],
        [(float(s.weight), s.a.successes, s.a.n, s.b.successes, s.b.n) for s in independent],
    )
    if not independent:
        return PAIRED_Z_TEST, p
    return (UNPAIRED_TEST + WEIGHTED if not paired else MIXED_TEST), p


def _combine(
    label: str,
    strata: Sequence[Stratum],
    *,
    a: RateEstimate,
    b: RateEstimate,
    alpha: float,
    unpaired: tuple[int, int] = (0, 0),
    note: str = "",
) -> Comparison:
    if not strata:
        return Comparison(
            label,
            a,
            b,
            0.0,
            (-1.0, 1.0),
            "none (a run has no episodes here)" if not (a.n and b.n) else "none (the runs share no task here)",
            1.0,
            NO_DIFFERENCE,
            unpaired_a=unpaired[0],
            unpaired_b=unpaired[1],
            note=note,
        )
    diff = sum(float(s.weight) * s.diff for s in strata)
    interval = mover_interval([(float(s.weight), s.diff, *s.interval(1.0 - alpha)) for s in strata])
    test, p = _test(strata)
    pairs = _sum_pairs([s.pairs for s in strata]) if all(s.pairs is not None for s in strata) else None
    return Comparison(
        label,
        a,
        b,
        diff,
        interval,
        test,
        p,
        _verdict(diff, p, alpha, interval),
        pairs,
        unpaired_a=unpaired[0],
        unpaired_b=unpaired[1],
        note=note,
        strata=tuple(strata),
    )


def compare_rows(
    label: str, rows_a: Sequence[Mapping], rows_b: Sequence[Mapping], *, alpha: float, by_task: bool = False
) -> Comparison:
    """B against A on one column's episodes: paired on the episode keys both share (exact McNemar),
    else as independent samples (two-proportion z). by_task: the column's rate is the mean of its
    tasks' rates (Table 1), so the difference is the mean of the per-task differences, over the tasks
    both runs have."""
    by_a = {r["episode_id"]: r for r in rows_a}
    by_b = {r["episode_id"]: r for r in rows_b}
    shared = sorted(i for i in set(by_a) & set(by_b) if _pairable(by_a[i], by_b[i]))
    groups: dict[tuple[str, str], tuple[list, list]] = defaultdict(lambda: ([], []))
    if shared:
        for i in shared:
            key = _task_of(by_a[i]) if by_task else ("", "")
            groups[key][0].append(by_a[i])
            groups[key][1].append(by_b[i])
    else:
        for rows, side in ((rows_a, 0), (rows_b, 1)):
            for r in rows:
                groups[_task_of(r) if by_task else ("", "")][side].append(r)
        groups = defaultdict(lambda: ([], []), {k: g for k, g in groups.items() if g[0] and g[1]})
    used_a = sum(len(g[0]) for g in groups.values())
    used_b = sum(len(g[1]) for g in groups.values())
    strata = []
    for key in sorted(groups):
        ga, gb = groups[key]
        pairs = _paired_counts(list(zip(ga, gb))) if shared else None
        strata.append(Stratum(Fraction(1, len(groups)), _pooled(ga), _pooled(gb), pairs))
    note = f"mean over {len(strata)} tasks" if by_task and len(strata) > 1 else ""
    return _combine(
        label,
        strata,
        a=RateEstimate.mean([s.a for s in strata]) if strata else _pooled(rows_a),
        b=RateEstimate.mean([s.b for s in strata]) if strata else _pooled(rows_b),
        alpha=alpha,
        unpaired=(len(by_a) - used_a, len(by_b) - used_b),
        note=note,
    )


def compare_runs(layout: TableLayout, run_a: RunData, run_b: RunData, *, alpha: float = 0.05) -> list[Comparison]:
    """One comparison per column either run has episodes in, each formed as the main table forms
    the column; then the paper's Average: the mean of the column differences (equal to the
    difference of the main table's Averages when every episode is compared), with the MOVER
    interval of that mean and the test of the equally weighted columns. Where pooling every episode
    weights them otherwise (columns or tasks of unequal size), a Pooled row adds the pooled test."""
    if not 0.0 < alpha < 1.0:
        raise UsageError(f"--alpha must be between 0 and 1, not {alpha}")
    if run_a.benchmark != run_b.benchmark:
        raise UsageError(
            f"run {run_a.run_id} is {run_a.benchmark} and {run_b.run_id} is {run_b.benchmark}; "
            "compare runs of one benchmark"
        )
    cols_a: dict[str, list] = defaultdict(list)
    cols_b: dict[str, list] = defaultdict(list)
    for rows, cols in ((run_a.rows, cols_a), (run_b.rows, cols_b)):
        for r in rows:
            col = layout.column_of(r)
            if col is not None:
                cols[col].append(r)
    out = []
    for column in layout.columns:
        if cols_a.get(column.key) or cols_b.get(column.key):
            out.append(
                compare_rows(
                    column.label,
                    cols_a.get(column.key, []),
                    cols_b.get(column.key, []),
                    alpha=alpha,
                    by_task=layout.mean_over_tasks,
                )
            )
    compared = [c for c in out if c.strata]
    k = len(compared)
    strata = [dataclasses.replace(s, weight=s.weight / k) for c in compared for s in c.strata]
    note = (
        f"mean of {k} {layout.group_label}s"
        if k == len(layout.columns)
        else (f"mean of {k} of {len(layout.columns)} {layout.group_label}s")
    )
    out.append(
        _combine(
            AVERAGE,
            strata,
            a=RateEstimate.mean([c.a for c in compared]),
            b=RateEstimate.mean([c.b for c in compared]),
            alpha=alpha,
            unpaired=(sum(c.unpaired_a for c in out), sum(c.unpaired_b for c in out)),
            note=note,
        )
    )
    if len({s.episode_weights() for s in strata}) > 1:
        all_a = [r for c in layout.columns for r in cols_a.get(c.key, [])]
        all_b = [r for c in layout.columns for r in cols_b.get(c.key, [])]
        pooled = compare_rows(POOLED, all_a, all_b, alpha=alpha)
        out.append(dataclasses.replace(pooled, note="every compared episode pooled"))
    return out


def matched_seed_delta(layout: TableLayout, run: RunData, *, alpha: float = 0.05) -> Comparison | None:
    """Within one run, the layout's second paired column minus its first (RoboTwin: randomized -
    clean) on the same task and seed: an episode of each setting started from one seed is a pair."""
    if layout.matched_pair is None:
        return None
    first, second = layout.matched_pair

    def rows_of(column: str) -> list[dict]:
        # Re-key by task and seed, so that pairing ignores the setting and the index in each seed list.
        return [
            {**r, "episode_id": f"{r['suite']}/{r['task']}/seed {r['seed']}"}
            for r in run.rows
            if layout.column_of(r) == column and r["seed"] is not None
        ]

    rows_first, rows_second = rows_of(first), rows_of(second)
    if not rows_first or not rows_second:
        return None
    label = f"{layout.label_for(second)} - {layout.label_for(first)}"
    return compare_rows(label, rows_first, rows_second, alpha=alpha)
