"""The statistics behind every report cell and comparison, against numbers worked out by hand or
published with the methods (Newcombe 1998, Statistics in Medicine 17: 857-872, 873-890 and
2635-2650; Fagerland, Lydersen & Laake 2017)."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest

from harness.stats import (
    PairedCounts,
    RateEstimate,
    continuity_corrected_phi,
    mcnemar_exact,
    mcnemar_exact_weighted,
    mover_interval,
    newcombe_interval,
    newcombe_paired_interval,
    stratified_z,
    two_proportion_z,
    wilson_bounds,
    wilson_interval,
)

Z95 = 1.959963984540054


def wilson_by_hand(k: int, n: int) -> tuple[float, float]:
    p = k / n
    centre = p + Z95**2 / (2 * n)
    half = Z95 * math.sqrt(p * (1 - p) / n + Z95**2 / (4 * n * n))
    return ((centre - half) / (1 + Z95**2 / n), (centre + half) / (1 + Z95**2 / n))


@pytest.mark.parametrize(
    "k,n,lo,hi",
    [
        # Newcombe (1998a), Table II, method 3 (score, no continuity correction).
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0, 0.1611),
        (1, 29, 0.0061, 0.1718),
    ],
)
def test_wilson_matches_published_bounds(k, n, lo, hi):
    got = wilson_interval(k, n)
    assert got == pytest.approx((lo, hi), abs=5e-5)


def test_wilson_matches_the_formula_worked_by_hand():
    # 45 of 50: z^2 = 3.8415, denominator 1 + 3.8415/50 = 1.07683; centre (0.9 + 3.8415/100) / 1.07683 = 0.87146;
    # half-width 1.95996 * sqrt(0.0018 + 3.8415/10000) / 1.07683 = 0.08506 -> 0.7864 .. 0.9565.
    assert wilson_interval(45, 50) == pytest.approx(wilson_by_hand(45, 50), abs=1e-12)
    assert wilson_interval(45, 50) == pytest.approx((0.7864, 0.9565), abs=5e-5)
    assert wilson_interval(50, 50) == pytest.approx((0.9287, 1.0), abs=5e-5)
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_pooled_estimate_is_the_wilson_interval_of_k_of_n():
    est = RateEstimate.pooled(45, 50)
    assert est.rate == 0.9 and est.n == 50 and est.effective_n == 50
    assert est.interval() == pytest.approx(wilson_interval(45, 50), abs=1e-12)


def test_mean_over_equal_strata_is_the_pooled_rate_and_interval():
    # Four LIBERO suites of 50 episodes: 45, 50, 40, 30 successes. The paper's average (mean over
    # suites) is (0.9 + 1.0 + 0.8 + 0.6) / 4 = 0.825 = 165 / 200.
    suites = [RateEstimate.pooled(k, 50) for k in (45, 50, 40, 30)]
    mean = RateEstimate.mean(suites)
    assert mean.rate == pytest.approx(0.825)
    assert mean.n == 200
    assert mean.interval() == pytest.approx(wilson_interval(165, 200), abs=1e-12)


def test_mean_over_unequal_strata_weights_strata_equally():
    # 9/10 and 40/50: the mean is (0.9 + 0.8) / 2 = 0.85, not the pooled 49/60 = 0.8167.
    # Var = (0.9 * 0.1 / 10 + 0.8 * 0.2 / 50) / 4 = (0.009 + 0.0032) / 4 = 0.00305
    # effective n = 0.85 * 0.15 / 0.00305 = 41.803 (below the 60 episodes), Wilson at that n.
    mean = RateEstimate.mean([RateEstimate.pooled(9, 10), RateEstimate.pooled(40, 50)])
    assert mean.rate == pytest.approx(0.85)
    assert mean.variance == pytest.approx(0.00305)
    assert mean.effective_n == pytest.approx(0.1275 / 0.00305)
    n_eff = 0.1275 / 0.00305
    centre = (0.85 + Z95**2 / (2 * n_eff)) / (1 + Z95**2 / n_eff)
    half = Z95 * math.sqrt(0.1275 / n_eff + Z95**2 / (4 * n_eff**2)) / (1 + Z95**2 / n_eff)
    assert mean.interval() == pytest.approx((centre - half, centre + half), abs=1e-12)
    assert wilson_bounds(0.85, n_eff) == pytest.approx(mean.interval(), abs=1e-12)


def test_mean_skips_empty_strata():
    mean = RateEstimate.mean([RateEstimate.pooled(3, 4), RateEstimate.pooled(0, 0)])
    assert mean.rate == 0.75 and mean.n == 4


@pytest.mark.parametrize(
    "b,c,p",
    [
        (1, 6, 2 * (1 + 7) / 2**7),  # P(X <= 1 | 7, 1/2) = 8/128, two-sided 0.125
        (2, 10, 2 * (1 + 12 + 66) / 2**12),  # = 158/4096 = 0.0386
        (0, 5, 2 / 2**5),  # 0.0625: five discordant pairs all one way are not enough at 0.05
        (0, 6, 2 / 2**6),  # 0.03125: six are
        (5, 5, 1.0),
        (0, 0, 1.0),
    ],
)
def test_mcnemar_exact_p_values(b, c, p):
    assert mcnemar_exact(b, c) == pytest.approx(p, abs=1e-15)
    assert mcnemar_exact(c, b) == pytest.approx(p, abs=1e-15)


def test_two_proportion_z_by_hand():
    # 56/70 vs 48/80: pooled 104/150; se = sqrt(0.69333 * 0.30667 * (1/70 + 1/80)) = 0.075468;
    # z = 0.2 / 0.075468 = 2.6501; two-sided p = 0.00805.
    se = math.sqrt((104 / 150) * (46 / 150) * (1 / 70 + 1 / 80))
    z = 0.2 / se
    assert z == pytest.approx(2.6501, abs=1e-4)
    assert two_proportion_z(56, 70, 48, 80) == pytest.approx(math.erfc(z / math.sqrt(2)), abs=1e-12)
    assert two_proportion_z(56, 70, 48, 80) == pytest.approx(0.00805, abs=1e-5)
    assert two_proportion_z(5, 5, 5, 5) == 1.0


@pytest.mark.parametrize(
    "k1,n1,k2,n2,lo,hi",
    [
        # Newcombe (1998b), Table II, method 10.
        (56, 70, 48, 80, 0.0524, 0.3339),
        (9, 10, 3, 10, 0.1705, 0.8090),
        (5, 56, 0, 29, -0.0381, 0.1926),
        (0, 10, 0, 20, -0.1611, 0.2775),
        (0, 10, 0, 10, -0.2775, 0.2775),
        (10, 10, 0, 20, 0.6791, 1.0),
    ],
)
def test_newcombe_independent_interval(k1, n1, k2, n2, lo, hi):
    assert newcombe_interval(k1, n1, k2, n2) == pytest.approx((lo, hi), abs=5e-5)


# Newcombe (1998c), Table III, method 10: (both, first only, second only, neither) -> limits for
# p_first - p_second, published to 4 decimals. The tables in which both runs agree on every episode
# (third block) keep a width: the plain phi would make 27, 0, 0, 27 a zero-width interval.
NEWCOMBE_PAIRED_TABLE_III = [
    (36, 12, 2, 0, 0.0569, 0.3404),
    (20, 12, 2, 16, 0.0562, 0.3292),
    (18, 12, 2, 18, 0.0562, 0.3290),
    (36, 14, 0, 0, 0.1528, 0.4167),
    (35, 14, 0, 1, 0.1461, 0.4175),
    (18, 14, 0, 18, 0.1441, 0.3963),
    (2, 97, 1, 0, 0.8721, 0.9854),
    (1, 97, 1, 1, 0.8736, 0.9850),
    (0, 29, 1, 0, 0.6666, 0.9882),
    (2, 98, 0, 0, 0.9178, 0.9945),
    (1, 98, 0, 1, 0.9171, 0.9916),
    (0, 30, 0, 0, 0.8395, 1.0),
    (54, 0, 0, 0, -0.0664, 0.0664),
    (53, 0, 0, 1, -0.0729, 0.0729),
    (30, 0, 0, 24, -0.0358, 0.0358),
    (29, 0, 0, 25, -0.0354, 0.0354),
    (28, 0, 0, 26, -0.0352, 0.0352),
    (27, 0, 0, 27, -0.0351, 0.0351),
]


@pytest.mark.parametrize("a,b,c,d,lo,hi", NEWCOMBE_PAIRED_TABLE_III)
def test_newcombe_paired_interval_published_table(a, b, c, d, lo, hi):
    # Within one unit of the last published place: every limit is within rounding (5e-5) of the
    # table but the lower one of 1, 97, 1, 1 (0.87367 against 0.8736), which the table may have cut.
    assert newcombe_paired_interval(PairedCounts(a, b, c, d)) == pytest.approx((lo, hi), abs=1e-4)


def test_newcombe_paired_interval_fagerland_example():
    # Fagerland, Lydersen & Laake (2017), ch. 8 (Cavo et al. 2012): Newcombe square-and-add -0.1186 to -0.0046.
    # The plain phi gave (-0.11735, -0.00592).
    assert newcombe_paired_interval(PairedCounts(59, 6, 16, 80)) == pytest.approx((-0.1186, -0.0046), abs=5e-5)


def test_continuity_corrected_phi_by_hand():
    # ad - bc = 27*27 = 729 > 0 -> 729 - 54/2 = 702 over sqrt(27^4) = 729.
    assert continuity_corrected_phi(PairedCounts(27, 0, 0, 27)) == pytest.approx(702 / 729)
    # A negative ad - bc is kept as it is: (1*1 - 5*5) / sqrt(6*6*6*6).
    assert continuity_corrected_phi(PairedCounts(1, 5, 5, 1)) == pytest.approx(-24 / 36)
    # A correction larger than ad - bc stops at 0: 2*2 - 1*1 = 3, n/2 = 3 -> 0.
    assert continuity_corrected_phi(PairedCounts(2, 1, 1, 2)) == 0.0
    assert continuity_corrected_phi(PairedCounts(5, 5, 0, 0)) == 0.0  # an empty margin


def test_newcombe_paired_interval_by_hand_without_correlation():
    # a=5, b=5, c=0, d=0: phi = (5*0 - 5*0)/... with margin (a+c)... c+d = 0 -> phi = 0, so the bounds are
    # Newcombe's independent combination of Wilson(10/10) and Wilson(5/10) around delta = 0.5.
    l1, u1 = wilson_interval(10, 10)
    l2, u2 = wilson_interval(5, 10)
    lo = 0.5 - math.sqrt((1.0 - l1) ** 2 + (u2 - 0.5) ** 2)
    hi = 0.5 + math.sqrt((u1 - 1.0) ** 2 + (0.5 - l2) ** 2)
    assert newcombe_paired_interval(PairedCounts(5, 5, 0, 0)) == pytest.approx((lo, hi), abs=1e-12)


# -- weighted sums of differences ------------------------------------------------------------------


def test_mover_interval_by_hand():
    # Two columns, differences +0.1 [-0.05, +0.30] and -0.2 [-0.50, +0.02], averaged (weights 1/2):
    # estimate -0.05; below sqrt((0.5 * 0.15)^2 + (0.5 * 0.30)^2) = 0.16771, above
    # sqrt((0.5 * 0.20)^2 + (0.5 * 0.22)^2) = 0.14866.
    lo, hi = mover_interval([(0.5, 0.1, -0.05, 0.30), (0.5, -0.2, -0.50, 0.02)])
    assert lo == pytest.approx(-0.05 - math.sqrt(0.075**2 + 0.15**2), abs=1e-12)
    assert hi == pytest.approx(-0.05 + math.sqrt(0.10**2 + 0.11**2), abs=1e-12)
    assert (lo, hi) == pytest.approx((-0.21771, 0.09866), abs=5e-5)
    # One part of weight 1 is its own interval.
    assert mover_interval([(1.0, 0.3, 0.1, 0.6)]) == pytest.approx((0.1, 0.6), abs=1e-15)


def test_mover_of_equal_symmetric_parts_is_the_root_k_narrower_interval():
    # Four columns with the same symmetric half-width h: the mean's half-width is h / 2 = h * sqrt(4) / 4.
    lo, hi = mover_interval([(0.25, 0.0, -0.2, 0.2)] * 4)
    assert (lo, hi) == pytest.approx((-0.1, 0.1), abs=1e-15)


def test_weighted_exact_mcnemar_by_hand():
    # Weights 1 and 5; stratum 1: b=2, c=0 (c - b = -2); stratum 2: b=0, c=2 (+2): observed 1 * -2 + 5 * 2 = 8.
    # Null: stratum 1 gives -2, 0, 2 with 1/4, 1/2, 1/4; stratum 2 gives -10, 0, 10 likewise. The sum is >= 8
    # only when stratum 2 gives 10 (then 8, 10, 12): 1/4. Two-sided p = 1/2.
    assert mcnemar_exact_weighted([(Fraction(1, 20), 2, 0), (Fraction(1, 4), 0, 2)]) == pytest.approx(0.5)
    # Weights 1 and 2, b=0, c=1 in each: observed 1 + 2 = 3; the null sums are -3, -1, 1, 3, each 1/4:
    # P(T >= 3) = 1/4, p = 1/2.
    assert mcnemar_exact_weighted([(1, 0, 1), (2, 0, 1)]) == pytest.approx(0.5)
    # Weights 1 and 2 with c = 1 and c = 3 (b = 0): observed 1 + 2 * 3 = 7, the largest sum, reached only
    # when all 4 discordant pairs go B's way: P = 1/2^4, p = 2/16. (Pooled with equal weights: also 2/16.)
    assert mcnemar_exact_weighted([(1, 0, 1), (2, 0, 3)]) == pytest.approx(2 / 2**4)
    # Where the weights matter: weight 1 with b=1, c=0 (-1) and weight 4 with b=0, c=2 (+8): observed 7.
    # Null: -1 or +1 (1/2 each) plus -8, 0, +8 (1/4, 1/2, 1/4); T >= 7 only with +8: 1/4, p = 1/2.
    # Pooling the counts (b=1, c=2) ignores that the two B-only pairs weigh more: p = 1.
    assert mcnemar_exact_weighted([(1, 1, 0), (4, 0, 2)]) == pytest.approx(0.5)
    assert mcnemar_exact(1, 2) == 1.0


@pytest.mark.parametrize("b,c", [(1, 6), (2, 10), (0, 5), (5, 5), (0, 0)])
def test_weighted_exact_mcnemar_reduces_to_the_pooled_test(b, c):
    assert mcnemar_exact_weighted([(1, b, c)]) == pytest.approx(mcnemar_exact(b, c), abs=1e-15)
    # Equal weights: strata pool into one binomial, whatever their split.
    split = [(Fraction(1, 3), b // 2, c // 3), (Fraction(1, 3), b - b // 2, c - c // 3)]
    assert mcnemar_exact_weighted(split) == pytest.approx(mcnemar_exact(b, c), abs=1e-15)


def test_weighted_exact_mcnemar_gives_up_on_a_huge_null_distribution():
    strata = [(Fraction(1, n), n // 2, n // 2) for n in (397, 401, 409, 419)]
    assert mcnemar_exact_weighted(strata, max_work=10_000) is None
    assert mcnemar_exact_weighted(strata[:1], max_work=10_000) == 1.0


def test_stratified_z_with_one_stratum_is_the_familiar_test():
    assert stratified_z([], [(1.0, 48, 80, 56, 70)]) == pytest.approx(two_proportion_z(56, 70, 48, 80), abs=1e-12)
    # McNemar's asymptotic test: (c - b) / sqrt(b + c) = 4 / sqrt(8) = 1.41421.
    pc = PairedCounts(10, 2, 6, 2)
    assert stratified_z([(1.0, pc)], []) == pytest.approx(math.erfc(4 / math.sqrt(8) / math.sqrt(2)), abs=1e-12)
    assert stratified_z([(1.0, PairedCounts(3, 0, 0, 2))], [(1.0, 5, 5, 5, 5)]) == 1.0


def test_stratified_z_by_hand():
    # Two independent strata, weights 1/2: 4/4 vs 2/4 and 2/2 vs 0/2 (second minus first: -0.5, -1.0).
    # Null variances: 0.75 * 0.25 * (1/4 + 1/4) = 0.09375 and 0.5 * 0.5 * (1/2 + 1/2) = 0.25.
    z = 0.75 / math.sqrt((0.09375 + 0.25) / 4)
    got = stratified_z([], [(0.5, 4, 4, 2, 4), (0.5, 2, 2, 0, 2)])
    assert got == pytest.approx(math.erfc(z / math.sqrt(2)), abs=1e-12)
    assert got == pytest.approx(0.010515, abs=5e-6)
