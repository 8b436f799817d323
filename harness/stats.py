"""Interval estimates and tests for success rates.

Everything here is closed-form (math and statistics only), so that the numbers in a report can be
checked by hand: Wilson score intervals, the paper's averages with an interval, Newcombe's intervals
for a difference of two rates (independent and paired), McNemar's exact test and the two-proportion
z-test, and for a weighted sum of differences (the paper's Average of per-column differences) the
MOVER interval and the stratified exact McNemar and z-tests.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from fractions import Fraction
from statistics import NormalDist
from typing import Sequence


def z_for(confidence: float) -> float:
    return NormalDist().inv_cdf(0.5 + confidence / 2.0)


def wilson_bounds(p: float, n: float, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for an observed rate p over a (possibly effective, non-integer) n."""
    if n <= 0:
        return (0.0, 1.0)
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"rate {p} outside 0..1")
    z = z_for(confidence)
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for k successes in n trials; (0, 1) when n is 0."""
    if n == 0:
        return (0.0, 1.0)
    if not 0 <= successes <= n:
        raise ValueError(f"successes {successes} outside 0..{n}")
    return wilson_bounds(successes / n, n, confidence)


@dataclass(frozen=True)
class RateEstimate:
    """A success rate, pooled over episodes or averaged over strata (tasks, suites, settings).

    `variance` is the estimator's variance (p(1-p)/n for a pooled rate; for an equally weighted mean
    of K strata, the sum of their variances over K^2). The interval is Wilson's at the effective
    sample size p(1-p)/variance, capped at the episode count: for a pooled rate that is exactly the
    Wilson interval of k out of n, and for a mean over strata of equal size it is the Wilson interval
    of the pooled count, which the paper's average then equals.
    """

    rate: float
    n: int  # episodes behind the estimate
    variance: float
    successes: int  # episodes that succeeded (for a mean over strata: their plain sum)

    @classmethod
    def pooled(cls, successes: int, n: int) -> "RateEstimate":
        if not 0 <= successes <= n:
            raise ValueError(f"successes {successes} outside 0..{n}")
        if n == 0:
            return cls(0.0, 0, 0.0, 0)
        p = successes / n
        return cls(p, n, p * (1 - p) / n, successes)

    @classmethod
    def mean(cls, parts: Sequence["RateEstimate"]) -> "RateEstimate":
        """The equally weighted mean of the parts that have episodes (the paper's averages)."""
        parts = [p for p in parts if p.n > 0]
        if not parts:
            return cls(0.0, 0, 0.0, 0)
        k = len(parts)
        return cls(
            rate=sum(p.rate for p in parts) / k,
            n=sum(p.n for p in parts),
            variance=sum(p.variance for p in parts) / (k * k),
            successes=sum(p.successes for p in parts),
        )

    @property
    def effective_n(self) -> float:
        if self.n == 0:
            return 0.0
        spread = self.rate * (1 - self.rate)
        if self.variance <= 0 or spread <= 0:
            return float(self.n)
        return min(float(self.n), spread / self.variance)

    def interval(self, confidence: float = 0.95) -> tuple[float, float]:
        return wilson_bounds(self.rate, self.effective_n, confidence)


# -- two rates ----------------------------------------------------------------------------------


def _binom_cdf_half(k: int, n: int) -> float:
    """P(X <= k) for X ~ Binomial(n, 1/2), exactly (integers until the last division)."""
    return sum(math.comb(n, i) for i in range(0, k + 1)) / 2**n


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value from the discordant pairs: b = only the first succeeded,
    c = only the second. Under no difference, b ~ Binomial(b + c, 1/2)."""
    if b < 0 or c < 0:
        raise ValueError("discordant counts must be non-negative")
    n = b + c
    if n == 0:
        return 1.0
    return min(1.0, 2.0 * _binom_cdf_half(min(b, c), n))


def two_proportion_z(k1: int, n1: int, k2: int, n2: int) -> float:
    """Two-sided p-value of the pooled two-proportion z-test (independent samples)."""
    if n1 == 0 or n2 == 0:
        return 1.0
    pooled = (k1 + k2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0:
        return 1.0
    z = (k1 / n1 - k2 / n2) / se
    return 2.0 * (1.0 - NormalDist().cdf(abs(z)))


def newcombe_interval(k1: int, n1: int, k2: int, n2: int, confidence: float = 0.95) -> tuple[float, float]:
    """Interval for p1 - p2 from independent samples: Newcombe's hybrid score method (his method 10),
    built from the two Wilson intervals."""
    p1, p2 = k1 / n1, k2 / n2
    l1, u1 = wilson_interval(k1, n1, confidence)
    l2, u2 = wilson_interval(k2, n2, confidence)
    d = p1 - p2
    return (d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2), d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2))


@dataclass(frozen=True)
class PairedCounts:
    """Outcomes of the same episodes under two runs: both succeeded, only the first, only the
    second, neither."""

    both: int
    first_only: int
    second_only: int
    neither: int

    @property
    def n(self) -> int:
        return self.both + self.first_only + self.second_only + self.neither


def continuity_corrected_phi(counts: PairedCounts) -> float:
    """The phi correlation of a paired 2x2 table as Newcombe's method 10 uses it: with a continuity
    correction of n/2 taken off a positive ad - bc (never past 0), a negative one kept as it is, and 0
    when a margin is empty. The plain phi over-states the correlation of small tables, which narrows
    the interval below its nominal coverage (and to zero width when both runs agree on every episode)."""
    a, b, c, d = counts.both, counts.first_only, counts.second_only, counts.neither
    margins = (a + b) * (c + d) * (a + c) * (b + d)
    if margins == 0:
        return 0.0
    cross = a * d - b * c
    if cross > 0:
        cross = max(cross - counts.n / 2, 0.0)
    return cross / math.sqrt(margins)


def newcombe_paired_interval(counts: PairedCounts, confidence: float = 0.95) -> tuple[float, float]:
    """Interval for p1 - p2 on paired outcomes: Newcombe's method 10, the Wilson interval of each
    margin combined through the continuity-corrected phi of the 2x2 table (continuity_corrected_phi).

    Source: R. G. Newcombe, "Improved confidence intervals for the difference between binomial
    proportions based on paired data", Statistics in Medicine 17 (1998) 2635-2650, method 10 (the
    limits of his Table III are tests); also Fagerland, Lydersen and Laake, "Statistical Analysis of
    Contingency Tables" (2017), chapter 8, "Newcombe square-and-add": (-0.1186, -0.0046) for the
    paired table 59, 6, 16, 80."""
    a, b, c = counts.both, counts.first_only, counts.second_only
    n = counts.n
    p1, p2 = (a + b) / n, (a + c) / n
    l1, u1 = wilson_interval(a + b, n, confidence)
    l2, u2 = wilson_interval(a + c, n, confidence)
    phi = continuity_corrected_phi(counts)
    delta = p1 - p2
    lower = delta - math.sqrt(max(0.0, (p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2))
    upper = delta + math.sqrt(max(0.0, (u1 - p1) ** 2 - 2 * phi * (u1 - p1) * (p2 - l2) + (p2 - l2) ** 2))
    return (lower, upper)


# -- a weighted sum of differences (the paper's Average over columns, a column's mean over tasks) ---


def mover_interval(parts: Sequence[tuple[float, float, float, float]]) -> tuple[float, float]:
    """Interval for sum_s w_s * theta_s (w_s >= 0) from each part's (w_s, estimate, lower, upper):
    MOVER (Zou & Donner 2008, Statistics in Medicine 27: 1693-1702). Each side's distance from the
    estimate to its bound stands for z times that side's standard error, so the sum's variance is
    sum_s w_s^2 * distance_s^2 / z^2: for the mean of K columns, the columns' variances summed over
    K^2. Newcombe's square-and-add intervals are this construction applied to two Wilson intervals;
    with one part of weight 1 the interval is that part's own."""
    est = sum(w * t for w, t, _, _ in parts)
    below = math.sqrt(sum((w * (t - lo)) ** 2 for w, t, lo, _ in parts))
    above = math.sqrt(sum((w * (hi - t)) ** 2 for w, t, _, hi in parts))
    return (est - below, est + above)


def mcnemar_exact_weighted(
    strata: Sequence[tuple[Fraction | int, int, int]], *, max_work: int = 2_000_000
) -> float | None:
    """Two-sided exact conditional test that sum_s w_s * (c_s - b_s) is 0, from each stratum's
    weight and discordant pairs (b_s: only the first succeeded, c_s: only the second).

    Under no difference in any stratum, each c_s ~ Binomial(b_s + c_s, 1/2) independently, so the
    null distribution of the weighted sum is known exactly (integer weights once the denominators
    are cleared, integer counts). The p-value doubles the upper tail, as mcnemar_exact does; with
    one stratum, or equal weights, it is mcnemar_exact of the summed counts. None when the
    convolution would take more than max_work steps (many strata of unequal weight): the caller
    then uses the normal approximation, stratified_z."""
    weights = [Fraction(w) for w, _, _ in strata]
    if any(w <= 0 for w in weights):
        raise ValueError("stratum weights must be positive")
    if any(b < 0 or c < 0 for _, b, c in strata):
        raise ValueError("discordant counts must be non-negative")
    scale = math.lcm(*(w.denominator for w in weights)) if weights else 1
    # Strata of one weight pool into one binomial (a sum of Binomial(m_i, 1/2) is Binomial(sum m_i, 1/2)).
    merged: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for w, (_, b, c) in zip(weights, strata):
        merged[int(w * scale)][0] += b
        merged[int(w * scale)][1] += c
    groups = [(w, b, c) for w, (b, c) in merged.items() if b + c > 0]
    if not groups:
        return 1.0
    if len(groups) == 1:
        return mcnemar_exact(groups[0][1], groups[0][2])
    divisor = math.gcd(*(w for w, _, _ in groups))
    observed = sum((w // divisor) * (c - b) for w, b, c in groups)
    dist: dict[int, int] = {0: 1}
    for w, b, c in groups:
        m = b + c
        if len(dist) * (m + 1) > max_work:
            return None
        step = [((w // divisor) * (2 * x - m), math.comb(m, x)) for x in range(m + 1)]
        grown: dict[int, int] = defaultdict(int)
        for t, count in dist.items():
            for u, k in step:
                grown[t + u] += count * k
        dist = grown
    total = 2 ** sum(b + c for _, b, c in groups)
    tail = sum(count for t, count in dist.items() if t >= abs(observed))
    return min(1.0, 2 * tail / total)


def stratified_z(
    paired: Sequence[tuple[float, PairedCounts]], independent: Sequence[tuple[float, int, int, int, int]]
) -> float:
    """Two-sided p-value of the score test that sum_s w_s * (p2_s - p1_s) is 0, each stratum's
    difference taken with its variance under no difference: (b + c) / n^2 for paired outcomes, the
    pooled p(1 - p)(1/n1 + 1/n2) for independent samples (w, k1, n1, k2, n2). With one stratum it
    is McNemar's asymptotic test (c - b) / sqrt(b + c) or the pooled two-proportion z-test."""
    diff = 0.0
    var = 0.0
    for w, pc in paired:
        if pc.n:
            diff += w * (pc.second_only - pc.first_only) / pc.n
            var += w * w * (pc.first_only + pc.second_only) / pc.n**2
    for w, k1, n1, k2, n2 in independent:
        if n1 and n2:
            pooled = (k1 + k2) / (n1 + n2)
            diff += w * (k2 / n2 - k1 / n1)
            var += w * w * pooled * (1 - pooled) * (1 / n1 + 1 / n2)
    if var <= 0:
        return 1.0
    return min(1.0, 2.0 * (1.0 - NormalDist().cdf(abs(diff) / math.sqrt(var))))


def fisher_exact(k1: int, n1: int, k2: int, n2: int) -> float:
    """Two-sided p-value of Fisher's exact test on independent samples (k1 of n1 against k2 of n2):
    conditional on the total successes, the first sample's count is hypergeometric; the p-value sums
    the probabilities of every table no more likely than the one observed (the usual two-sided rule).
    Exact where the z-test is poor: small samples and rates near 0 or 1."""
    if not (0 <= k1 <= n1 and 0 <= k2 <= n2):
        raise ValueError("successes must lie within 0..n")
    if n1 == 0 or n2 == 0:
        return 1.0
    total = k1 + k2
    lo, hi = max(0, total - n2), min(total, n1)
    weights = {x: math.comb(n1, x) * math.comb(n2, total - x) for x in range(lo, hi + 1)}
    observed = weights[k1]
    # Integers throughout; the tolerance of scipy's rule (1e-7 relative) becomes an exact comparison.
    tail = sum(w for w in weights.values() if w * 10**7 <= observed * (10**7 + 1))
    return min(1.0, tail / sum(weights.values()))
