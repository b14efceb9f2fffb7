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

import functools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
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
class Unit:
    """One customer in an experiment (their first session in it): the arm, when the metric
    became known (the session ended; or N days after it, for retained-N), and whether it is a
    success (saved; still subscribed)."""

    arm: str
    decided_at: datetime
    success: bool


@dataclass(frozen=True)
class Session:
    """A session in an experiment: its customer and arm, when it opened, and when (None: not
    yet) its metric became known, with the value."""

    customer: str
    arm: str
    opened_at: datetime
    decided_at: datetime | None
    success: bool


def first_sessions(sessions: Iterable[Session]) -> list[Unit]:
    """One unit per customer: their first session (a second session of the same customer is not
    independent of the first). A first session whose metric is not known yet is no unit yet."""
    units = []
    seen: set[str] = set()
    for s in sorted(sessions, key=lambda s: s.opened_at):
        if s.customer in seen:
            continue
        seen.add(s.customer)
        if s.decided_at is not None:
            units.append(Unit(s.arm, s.decided_at, s.success))
    return units


@dataclass(frozen=True)
class ArmCount:
    """Successes among the units of one arm decided inside the verdict's window."""

    arm: str
    saves: int
    decided: int

    @property
    def rate(self) -> Fraction:
        return Fraction(self.saves, self.decided) if self.decided else Fraction(0)


@dataclass(frozen=True)
class Window:
    """The counts the verdict reads: each arm's units decided up to `closed_at`, the moment the
    last arm reached the horizon (None while some arm is short of it: every arm counted so far)."""

    counts: list[ArmCount]
    closed_at: datetime | None


def window(units: Iterable[Unit], arms: Sequence[str], horizon: int) -> Window:
    """The same calendar window for every arm: it closes when the slowest arm has `horizon`
    decided units, and every arm's units decided by then count (the larger arms more than
    `horizon`). Units decided later never change it, so the verdict cannot move."""
    by_arm: dict[str, list[Unit]] = {arm: [] for arm in arms}
    for unit in units:
        if unit.arm in by_arm:
            by_arm[unit.arm].append(unit)
    for arm_units in by_arm.values():
        arm_units.sort(key=lambda u: u.decided_at)
    if all(len(u) >= horizon for u in by_arm.values()):
        closed_at = max(u[horizon - 1].decided_at for u in by_arm.values())
        inside = {arm: [u for u in us if u.decided_at <= closed_at] for arm, us in by_arm.items()}
    else:
        closed_at, inside = None, by_arm
    counts = [ArmCount(arm, sum(u.success for u in inside[arm]), len(inside[arm])) for arm in arms]
    return Window(counts, closed_at)


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
    """Apply the fixed-horizon rule to the counts of one window (see `window`).

    Nothing is declared before every arm has the horizon; then each variant is compared with the
    control; the best significant variant wins, and an exact tie between the best is no winner.
    """
    if not variants:
        raise ValueError("an experiment needs at least one variant besides its control")
    horizon = sample_size_per_arm(min_effect, len(variants))
    threshold = critical_z(len(variants))
    if any(arm.decided < horizon for arm in [control, *variants]):
        return Verdict("collecting", horizon, threshold)
    z = {v.arm: z_statistic(v.saves, v.decided, control.saves, control.decided) for v in variants}
    p = {arm: one_sided_p(value) for arm, value in z.items()}
    significant = [v for v in variants if z[v.arm] > threshold]
    if not significant:
        return Verdict("no_winner", horizon, threshold, None, z, p)
    best_rate = max(v.rate for v in significant)
    best = [v for v in significant if v.rate == best_rate]
    if len(best) > 1:  # an exact tie: nothing tells the variants apart
        return Verdict("no_winner", horizon, threshold, None, z, p)
    return Verdict("winner", horizon, threshold, best[0].arm, z, p)


# ---- what the rule actually holds, computed exactly ----------------------------------------------


def _binomial_pmf(n: int, p: float) -> list[float]:
    logs = [
        math.lgamma(n + 1)
        - math.lgamma(k + 1)
        - math.lgamma(n - k + 1)
        + (k * math.log(p) if k else 0.0)
        + ((n - k) * math.log1p(-p) if n - k else 0.0)
        for k in range(n + 1)
    ]
    return [math.exp(v) for v in logs]


def _upper_tails(pmf: list[float]) -> list[float]:
    """tails[k] = P(X >= k), with tails[n + 1] = 0."""
    tails = [0.0] * (len(pmf) + 1)
    for k in range(len(pmf) - 1, -1, -1):
        tails[k] = tails[k + 1] + pmf[k]
    return tails


def _first_significant(x0: int, n0: int, n: int, threshold: float) -> int:
    """The smallest variant count x with z(x/n vs x0/n0) > threshold (n + 1 when none): z grows
    with x, so a binary search finds it."""
    low, high = 0, n + 1
    while low < high:
        mid = (low + high) // 2
        if z_statistic(mid, n, x0, n0) > threshold:
            high = mid
        else:
            low = mid + 1
    return low


def _rejection_probability(
    sizes: Sequence[int], rates: Sequence[float], threshold: float, only: int | None = None
) -> float:
    """P(some variant is significant), or P(variant `only` is significant), exactly: sizes and
    true rates control first. Given the control's count the variants are independent."""
    n0, variants = sizes[0], list(range(1, len(sizes)))
    control = _binomial_pmf(n0, rates[0])
    tails = {i: _upper_tails(_binomial_pmf(sizes[i], rates[i])) for i in variants}
    total = 0.0
    for x0, weight in enumerate(control):
        if weight < 1e-15:
            continue
        passes = {i: tails[i][_first_significant(x0, n0, sizes[i], threshold)] for i in variants}
        if only is not None:
            total += weight * passes[only]
        else:
            none = math.prod(1 - passes[i] for i in variants)
            total += weight * (1 - none)
    return total


@dataclass(frozen=True)
class Guarantee:
    """The error rate and power the rule has for one experiment's arms and horizon: the false
    winner rate with no real difference, at its worst over the true save rate, and the power to
    find one variant `min_effect` above the control, at its worst over the control's rate."""

    sizes: tuple[int, ...]  # the arms' units when the window closes, control first
    false_winner: float
    power: float


_RATE_GRID = tuple(i / 100 for i in range(2, 99, 2))


@functools.lru_cache(maxsize=64)
def guarantee(weights: tuple[float, ...], min_effect: float) -> Guarantee:
    """Exact (binomial sums, no simulation) for arms of these allocation weights, control first:
    the window closes when the smallest arm has the horizon N, and the others then have about N
    times their weight over the smallest one's. Assumes one unit per customer and a minimum
    effect fixed in advance."""
    variants = len(weights) - 1
    horizon = sample_size_per_arm(min_effect, variants)
    smallest = min(weights)
    sizes = tuple(max(horizon, round(horizon * w / smallest)) for w in weights)
    threshold = critical_z(variants)
    false_winner = max(false_winner_at(sizes, p) for p in _RATE_GRID)
    # The lift on the variant with the fewest units: the hardest one to find.
    hardest = min(range(1, len(sizes)), key=lambda i: sizes[i])
    power = min(
        _rejection_probability(
            sizes,
            [p + (min_effect if i == hardest else 0.0) for i in range(len(sizes))],
            threshold,
            only=hardest,
        )
        for p in _RATE_GRID
        if p + min_effect < 1
    )
    return Guarantee(sizes, false_winner, power)


def false_winner_at(sizes: Sequence[int], rate: float) -> float:
    """The exact false-winner rate when every arm (sizes control first) saves `rate`."""
    return _rejection_probability(sizes, [rate] * len(sizes), critical_z(len(sizes) - 1))


def arm_weights(holdout: float, variant_weights: Sequence[int]) -> tuple[float, ...]:
    """Each arm's share of customers, control first (as flows.assign_arm draws them)."""
    total = sum(variant_weights)
    shares = tuple((1 - holdout) * w / total for w in variant_weights)
    return (holdout, *shares) if holdout > 0 else shares
