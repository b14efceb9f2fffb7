"""Statistics for analytics and experiments, standard library only.

The experiment method (stated the same way on the dashboard):

* **Metric.** Save rate of an arm: sessions saved (offer accepted, or subscription kept) divided by
  sessions that reached an outcome (saved or cancelled).
* **Horizon, fixed in advance.** From the minimum lift the merchant wants to detect (``min_effect``,
  absolute, e.g. 0.05 = five points) cancelpage computes N, the decided sessions each arm needs::

      N = ceil((z[1 - alpha/k] + z[power])**2 * 2 * 0.25 / min_effect**2)

  with alpha = 0.025 (one-sided), power = 0.80 and k the number of variants compared with the
  control (Bonferroni). 0.25 is p(1 - p) at p = 0.5, its largest value, so the power is at least
  80% whatever the real save rates are.
* **Test, once, at the horizon.** Nothing is declared before every arm has N decided sessions.
  Then, on exactly the first N decided sessions of each arm (in the order they ended, so later
  sessions never change the verdict and looking early or often cannot inflate errors), each
  variant is compared with the control (the holdout, or the first variant when there is none) by a
  one-sided pooled two-proportion z-test at alpha/k. The winner is the variant with the highest
  save rate among those whose z exceeds z[1 - alpha/k]; when none does, there is no winner.
* **Guarantees** (checked by simulation in tests/test_stats.py): with no real difference a winner
  is declared in at most alpha = 2.5% of experiments; a variant whose true lift is min_effect is
  found at least 80% of the time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction
from statistics import NormalDist

ALPHA = 0.025  # one-sided, for the whole experiment (split over the variants)
POWER = 0.80
CONFIDENCE = 0.95  # of the intervals shown
WORST_CASE_VARIANCE = 0.25  # p(1 - p) at p = 0.5

_NORMAL = NormalDist()


def wilson_interval(
    successes: int, trials: int, confidence: float = CONFIDENCE
) -> tuple[float, float]:
    """Wilson score interval for a proportion; (0, 1) when there are no trials."""
    if trials < 0 or not 0 <= successes <= trials:
        raise ValueError("need 0 <= successes <= trials")
    if trials == 0:
        return 0.0, 1.0
    z = _NORMAL.inv_cdf(1 - (1 - confidence) / 2)
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == trials else min(1.0, centre + half)
    return low, high


@dataclass(frozen=True)
class Proportion:
    """k out of n, with its rate and Wilson interval (None / (0, 1) when n is 0)."""

    successes: int
    trials: int

    @property
    def rate(self) -> float | None:
        return self.successes / self.trials if self.trials else None

    @property
    def interval(self) -> tuple[float, float]:
        return wilson_interval(self.successes, self.trials)


def critical_z(comparisons: int = 1, alpha: float = ALPHA) -> float:
    """The z a variant must exceed: one-sided, alpha split evenly over the comparisons."""
    if comparisons < 1:
        raise ValueError("at least one comparison")
    return _NORMAL.inv_cdf(1 - alpha / comparisons)


def sample_size_per_arm(
    min_effect: float, comparisons: int = 1, alpha: float = ALPHA, power: float = POWER
) -> int:
    """Decided sessions each arm needs so that a lift of `min_effect` is found with `power`."""
    if not 0 < min_effect < 1:
        raise ValueError("min_effect must be between 0 and 1")
    z = critical_z(comparisons, alpha) + _NORMAL.inv_cdf(power)
    return math.ceil(z * z * 2 * WORST_CASE_VARIANCE / (min_effect * min_effect))


def z_statistic(successes: int, trials: int, control_successes: int, control_trials: int) -> float:
    """Pooled two-proportion z of (variant - control); 0 when the pooled rate is 0 or 1."""
    if trials == 0 or control_trials == 0:
        return 0.0
    pooled = (successes + control_successes) / (trials + control_trials)
    variance = pooled * (1 - pooled) * (1 / trials + 1 / control_trials)
    if variance == 0:
        return 0.0
    return (successes / trials - control_successes / control_trials) / math.sqrt(variance)


def one_sided_p(z: float) -> float:
    """P(Z >= z) under the null hypothesis."""
    return 1 - _NORMAL.cdf(z)


@dataclass(frozen=True)
class ArmCount:
    """Saves among the first decided sessions of one arm (at most the horizon of them)."""

    arm: str
    saves: int
    decided: int


@dataclass(frozen=True)
class Verdict:
    """The decision rule's answer: collecting (horizon not reached), winner or no_winner."""

    status: str
    horizon: int
    critical_z: float
    winner: str | None = None
    z: dict[str, float] = field(default_factory=dict)
    p: dict[str, float] = field(default_factory=dict)


def decide(control: ArmCount, variants: list[ArmCount], min_effect: float) -> Verdict:
    """Apply the fixed-horizon rule to the first `horizon` decided sessions of each arm.

    Counts beyond the horizon are a caller error: the verdict must not move after the horizon.
    """
    if not variants:
        raise ValueError("an experiment needs at least one variant besides its control")
    horizon = sample_size_per_arm(min_effect, len(variants))
    threshold = critical_z(len(variants))
    arms = [control, *variants]
    if any(arm.decided > horizon for arm in arms):
        raise ValueError("pass only the first `horizon` decided sessions of each arm")
    if any(arm.decided < horizon for arm in arms):
        return Verdict("collecting", horizon, threshold)
    z = {v.arm: z_statistic(v.saves, v.decided, control.saves, control.decided) for v in variants}
    p = {arm: one_sided_p(value) for arm, value in z.items()}
    significant = [v for v in variants if z[v.arm] > threshold]
    if not significant:
        return Verdict("no_winner", horizon, threshold, None, z, p)
    best_rate = max(Fraction(v.saves, v.decided) for v in significant)
    best = [v for v in significant if Fraction(v.saves, v.decided) == best_rate]
    if len(best) > 1:  # an exact tie: nothing tells the variants apart
        return Verdict("no_winner", horizon, threshold, None, z, p)
    return Verdict("winner", horizon, threshold, best[0].arm, z, p)
