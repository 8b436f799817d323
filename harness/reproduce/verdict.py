"""Whether our k/n reproduces a published success rate: the exact two-sided binomial test at the
paper's rate, beside whether the paper's figure lies in our Wilson interval.

Verdicts:
- `below paper` / `above paper`: the test rejects the paper's rate at `alpha` (the side is ours);
- `too few episodes`: it does not reject, but with this n it could hardly have: its power to detect
  a rate `DETECT` (10 points) away from the paper's is under `MIN_POWER`;
- `reproduced`: it does not reject, and it could have.
The verdict follows the test; the interval is reported beside it (the two can disagree at the edge).
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass

from harness.stats import wilson_interval

REPRODUCED = "reproduced"
BELOW = "below paper"
ABOVE = "above paper"
TOO_FEW = "too few episodes"
VERDICTS = (REPRODUCED, BELOW, ABOVE, TOO_FEW)

ALPHA = 0.05
DETECT = 0.10  # the smallest difference from the paper's rate a full reproduction should be able to see
MIN_POWER = 0.80
_REL_TOL = 1e-7  # pmf values this close count as equal (as R's binom.test and SciPy's binomtest do)


def binomial_pmf(n: int, p: float) -> list[float]:
    """P(X = k) for k = 0..n, X ~ Binomial(n, p)."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"rate {p} outside 0..1")
    if p in (0.0, 1.0):
        at = 0 if p == 0.0 else n
        return [1.0 if k == at else 0.0 for k in range(n + 1)]
    lp, lq, ln = math.log(p), math.log1p(-p), math.lgamma(n + 1)
    return [math.exp(ln - math.lgamma(k + 1) - math.lgamma(n - k + 1) + k * lp + (n - k) * lq) for k in range(n + 1)]


def binomial_test_all(n: int, p: float) -> list[float]:
    """The exact two-sided p-value of every k = 0..n at rate p: the probability of all outcomes no
    more likely than k (the minimum-likelihood method)."""
    pmf = binomial_pmf(n, p)
    ordered = sorted(pmf)
    cumulative = []
    total = 0.0
    for value in ordered:
        total += value
        cumulative.append(total)
    out = []
    for value in pmf:
        i = bisect.bisect_right(ordered, value * (1 + _REL_TOL))
        out.append(min(1.0, cumulative[i - 1]) if i else 0.0)
    return out


def binomial_test(k: int, n: int, p: float) -> float:
    if not 0 <= k <= n:
        raise ValueError(f"successes {k} outside 0..{n}")
    return binomial_test_all(n, p)[k]


def power(n: int, p0: float, p1: float, alpha: float = ALPHA) -> float:
    """The chance the exact test at p0 rejects when the true rate is p1."""
    pvalues = binomial_test_all(n, p0)
    return sum(mass for mass, pv in zip(binomial_pmf(n, p1), pvalues) if pv < alpha)


def enough_episodes(
    n: int, p0: float, *, alpha: float = ALPHA, detect: float = DETECT, min_power: float = MIN_POWER
) -> bool:
    """Whether n episodes give the test `min_power` against each rate `detect` away from p0 that
    exists (both sides where both lie in 0..1)."""
    if n == 0:
        return False
    alternatives = [p for p in (p0 - detect, p0 + detect) if 0.0 <= p <= 1.0]
    return all(power(n, p0, p1, alpha) >= min_power for p1 in alternatives)


@dataclass(frozen=True)
class Judgement:
    verdict: str
    p_value: float
    interval: tuple[float, float]  # our Wilson 95% interval
    paper_inside: bool  # whether the paper's rate lies in it


def judge(successes: int, n: int, paper_rate: float, *, alpha: float = ALPHA) -> Judgement:
    """Our successes/n against the paper's rate (0..1)."""
    if n == 0:
        return Judgement(TOO_FEW, 1.0, (0.0, 1.0), True)
    p_value = binomial_test(successes, n, paper_rate)
    lo, hi = wilson_interval(successes, n)
    inside = lo <= paper_rate <= hi
    if p_value < alpha:
        verdict = BELOW if successes / n < paper_rate else ABOVE
    elif not enough_episodes(n, paper_rate, alpha=alpha):
        verdict = TOO_FEW
    else:
        verdict = REPRODUCED
    return Judgement(verdict, p_value, (lo, hi), inside)
