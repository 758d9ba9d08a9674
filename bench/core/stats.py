"""The statistics behind leaderboards, claims and ``ucdbench compare``, each implemented once.

- :func:`mean_ci`: a mean over seeds with its 95% confidence interval from the t distribution.
- :func:`paired_comparison`: two rows of runs compared seed by seed (a paired t-test), the
  difference oriented by the figure's direction.
- :func:`welch_p_value` and :func:`tied_ranks`: rows of independent runs (timings taken on
  separate runs: nothing pairs them seed by seed) ranked so that rows whose means do not differ
  significantly (Welch's t-test) share a rank.
- :func:`slowdown_test`: whether timed calls got slower, on raw samples: the ratio of medians
  beyond a factor *and* a two-sided Mann–Whitney U test (or, with few samples, the 99%
  intervals of the medians apart; with fewer still, untestable), the rule airspeed velocity
  (asv) uses so that a noisy machine does not cry wolf.

Distributions come from :mod:`scipy.stats`; nothing here imports torch.
"""

from __future__ import annotations

import math
import statistics
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum

from ucdbench.core import formatting

CONFIDENCE = 0.95
"""Of every interval in leaderboards."""
SIGNIFICANCE = formatting.SIGNIFICANCE
"""The p-value below which a paired difference is beyond noise, unless told otherwise."""
MIN_EFFECT = 0.01
"""The smallest relative change of a mean that ``ucdbench compare`` counts (1%)."""
SLOWDOWN_FACTOR = 1.1
"""How much slower (ratio of medians) a timing must be before it can be flagged."""
SLOWDOWN_ALPHA = 0.002
"""The p-value below which a timing change is more than noise (asv's threshold)."""


@dataclass(frozen=True)
class MeanCI:
    """A mean over ``n`` values and the half-width of its confidence interval: the true mean
    lies in ``mean ± half_width`` with the stated confidence. ``half_width`` is None for one
    value (no spread to estimate), 0.0 for equal values."""

    mean: float
    half_width: float | None
    n: int


def mean_ci(values: Sequence[float], confidence: float = CONFIDENCE) -> MeanCI:
    """The mean of ``values`` ± t_{(1+confidence)/2, n−1} · s / √n, s the sample standard
    deviation (ddof 1): the interval for a mean of few seeds, wider than ± s for n < 6."""
    from scipy import stats

    n = len(values)
    if n == 0:
        raise ValueError("mean_ci of no values")
    mean = statistics.fmean(values)
    if n == 1:
        return MeanCI(mean, None, 1)
    if len(set(values)) == 1:  # equal runs: exactly 0, not the rounding noise of a std
        return MeanCI(mean, 0.0, n)
    t = float(stats.t.ppf((1 + confidence) / 2, n - 1))
    return MeanCI(mean, t * statistics.stdev(values) / math.sqrt(n), n)


@dataclass(frozen=True)
class PairedComparison:
    """``candidate`` against ``reference`` over the seeds both have.

    - ``mean_difference``: mean over those seeds of candidate − reference, in the figure's unit
      (None when no seed is shared).
    - ``improvement``: the same, signed so that > 0 means the candidate is better (None for a
      figure with no better direction, or no shared seed).
    - ``relative``: ``mean_difference`` / |mean of the reference| (inf for a change from 0).
    - ``p_value``: two-sided paired t-test (``scipy.stats.ttest_rel``) that the mean
      difference is 0; None with fewer than 2 shared seeds. Equal differences on every seed
      give 1.0 when they are 0 and 0.0 otherwise (the limit of the test: no noise at all).
    - ``seeds``: the shared seeds, sorted; ``n`` their count.
    """

    mean_difference: float | None
    improvement: float | None
    relative: float | None
    p_value: float | None
    seeds: tuple[int, ...]

    @property
    def n(self) -> int:
        return len(self.seeds)

    def significant(self, alpha: float = SIGNIFICANCE) -> bool:
        """Whether the difference is beyond noise at level ``alpha``."""
        return self.p_value is not None and self.p_value < alpha

    def verdict(self, alpha: float = SIGNIFICANCE) -> str:
        """For a claim "candidate is better than reference": ``"holds"`` (significantly
        better), ``"does not hold"`` (significantly worse), ``"not significant"``, or
        ``"untestable"`` (fewer than 2 shared seeds, or a figure with no better direction)."""
        if self.p_value is None or self.improvement is None:
            return "untestable"
        if not self.significant(alpha):
            return "not significant"
        return "holds" if self.improvement > 0 else "does not hold"


def paired_comparison(candidate: Mapping[int, float], reference: Mapping[int, float],
                      higher_is_better: bool | None) -> PairedComparison:
    """Compare two rows of runs of one figure, matched by seed (``{seed: value}``; seeds only
    one row has are left out), as a paired t-test: seed-to-seed variation that both rows share
    (the same initialisation, the same batch order) cancels in the differences."""
    seeds = tuple(sorted(set(candidate) & set(reference)))
    if not seeds:
        return PairedComparison(None, None, None, None, ())
    differences = [candidate[s] - reference[s] for s in seeds]
    mean_difference = statistics.fmean(differences)
    reference_mean = statistics.fmean(reference[s] for s in seeds)
    if reference_mean:
        relative = mean_difference / abs(reference_mean)
    else:
        relative = 0.0 if mean_difference == 0 else math.copysign(math.inf, mean_difference)
    improvement = None if higher_is_better is None else (mean_difference if higher_is_better else -mean_difference)
    p_value = _paired_p_value([candidate[s] for s in seeds], [reference[s] for s in seeds], differences)
    return PairedComparison(mean_difference, improvement, relative, p_value, seeds)


def _paired_p_value(candidate: list[float], reference: list[float], differences: list[float]) -> float | None:
    if len(differences) < 2:
        return None
    if len(set(differences)) == 1:  # no spread: scipy would warn and answer nan (or 0 with a warning)
        return 1.0 if differences[0] == 0 else 0.0
    from scipy import stats

    with warnings.catch_warnings():  # nearly equal differences: scipy warns of precision loss, p is still ~0
        warnings.simplefilter("ignore", RuntimeWarning)
        return float(stats.ttest_rel(candidate, reference).pvalue)


def welch_p_value(a: Sequence[float], b: Sequence[float]) -> float | None:
    """Two-sided Welch's t-test (unequal variances, ``scipy.stats.ttest_ind(equal_var=False)``)
    that two sets of independent values have equal means; None with fewer than 2 values on a
    side. With no spread on either side: 1.0 for equal means, 0.0 otherwise (the test's limit)."""
    if len(a) < 2 or len(b) < 2:
        return None
    if len(set(a)) == 1 and len(set(b)) == 1:
        return 1.0 if a[0] == b[0] else 0.0
    from scipy import stats

    return float(stats.ttest_ind(list(a), list(b), equal_var=False).pvalue)


def tied_ranks(rows: Sequence[Sequence[float]], higher_is_better: bool, alpha: float = SIGNIFICANCE) -> list[int]:
    """Each row's rank (``rows``: each row's values over its runs): 1 + the number of rows whose
    mean is better *and* differs significantly from it (:func:`welch_p_value` < ``alpha``). Rows
    that do not differ share a rank, the next distinct rank counting the rows above
    (1, 1, 3); a row with one value is tested against none and ranks with the best."""
    means = [statistics.fmean(values) for values in rows]
    sign = 1 if higher_is_better else -1

    def beats(j: int, i: int) -> bool:
        p = welch_p_value(rows[j], rows[i])
        return sign * (means[j] - means[i]) > 0 and p is not None and p < alpha

    return [1 + sum(beats(j, i) for j in range(len(rows)) if j != i) for i in range(len(rows))]


TIMING_CONFIDENCE = 0.99
"""Of the median intervals that the timing test falls back to when samples are few (asv's 99%)."""


class TimingTest(str, Enum):
    """How :func:`slowdown_test` decided whether two sets of samples differ."""

    MANN_WHITNEY = "Mann–Whitney U"
    """Enough samples on both sides for the two-sided test to reach the p threshold at all."""
    INTERVAL_OVERLAP = "median intervals"
    """Too few for the test: the samples differ when the 99% confidence intervals of their
    medians do not overlap (a pessimistic check, as asv's fallback)."""
    UNTESTABLE = "untestable"
    """Too few even for bounded 99% intervals of the medians (fewer than 8 samples on a side):
    no verdict, neither a change nor "within the rule"."""


@dataclass(frozen=True)
class TimingChange:
    """Raw timed samples of a head run against a base run.

    ``ratio`` is median(head) / median(base); ``test`` how the difference was decided;
    ``p_value`` the two-sided Mann–Whitney U p-value (None unless ``test`` is
    :attr:`TimingTest.MANN_WHITNEY`); ``base_interval`` and ``head_interval`` the 99% confidence
    intervals of the medians (None where too few samples bound them). ``slower`` and ``faster``
    apply the rule: the samples differ *and* the ratio is beyond the factor.
    """

    ratio: float
    test: TimingTest
    p_value: float | None
    base_interval: tuple[float, float] | None
    head_interval: tuple[float, float] | None
    slower: bool
    faster: bool

    @property
    def testable(self) -> bool:
        return self.test is not TimingTest.UNTESTABLE

    def describe(self) -> str:
        """``median ×1.5, Mann–Whitney U p = 8e-05 (two-sided, 8 vs 8 samples)``, and so on."""
        if self.test is TimingTest.MANN_WHITNEY:
            how = f"Mann–Whitney U p = {self.p_value:.2g} (two-sided)"
        elif self.test is TimingTest.INTERVAL_OVERLAP:
            overlap = _overlap(self.base_interval, self.head_interval)  # type: ignore[arg-type]
            how = (f"99% intervals of the medians {_interval(self.base_interval)} vs {_interval(self.head_interval)} "
                   + ("overlap" if overlap else "do not overlap") + " (too few samples for Mann–Whitney U)")
        else:
            how = "untestable: too few samples for a test or bounded 99% intervals of the medians (8 a side)"
        return f"median ×{self.ratio:.3g}, {how}"


def _interval(bounds: tuple[float, float] | None) -> str:
    return "unbounded" if bounds is None else f"[{bounds[0]:.4g}, {bounds[1]:.4g}] ms"


def _overlap(a: tuple[float, float], b: tuple[float, float]) -> bool:
    return a[1] >= b[0] and a[0] <= b[1]


def median_interval(samples: Sequence[float], confidence: float = TIMING_CONFIDENCE) -> tuple[float, float] | None:
    """The distribution-free confidence interval of the median (order statistics, through
    ``scipy.stats.quantile_test``), or None where too few samples bound it."""
    from scipy import stats

    interval = stats.quantile_test(list(samples), q=statistics.median(samples), p=0.5).confidence_interval(confidence)
    low, high = float(interval.low), float(interval.high)
    return None if math.isnan(low) or math.isnan(high) else (low, high)


def slowdown_test(base_ms: Sequence[float], head_ms: Sequence[float], factor: float = SLOWDOWN_FACTOR,
                  alpha: float = SLOWDOWN_ALPHA) -> TimingChange:
    """asv's rule (``asv.statistics.is_different``) on raw samples. The samples differ when a
    two-sided Mann–Whitney U test gives p < ``alpha`` — used only where the sample counts let
    it reach ``alpha`` at all (its smallest two-sided p, 2 / C(m + n, min(m, n)), is below ``alpha``);
    with fewer samples, when the 99% confidence intervals of the medians do not overlap; with
    too few for bounded intervals, the change is untestable. Head is slower when they differ
    and median(head) > ``factor`` × median(base); faster, the mirror. Neither a small shift that
    is real nor a large one that is noise is flagged, and few samples never pass for "within
    the rule"."""
    if not base_ms or not head_ms:
        raise ValueError("slowdown_test needs samples on both sides")
    from scipy import stats

    ratio = statistics.median(head_ms) / statistics.median(base_ms)
    base_interval, head_interval = median_interval(base_ms), median_interval(head_ms)
    p_value = None
    if 2 / math.comb(len(base_ms) + len(head_ms), min(len(base_ms), len(head_ms))) < alpha:
        test = TimingTest.MANN_WHITNEY
        p_value = float(stats.mannwhitneyu(head_ms, base_ms, alternative="two-sided").pvalue)
        differ = p_value < alpha
    elif base_interval is not None and head_interval is not None:
        test = TimingTest.INTERVAL_OVERLAP
        differ = not _overlap(base_interval, head_interval)
    else:
        test, differ = TimingTest.UNTESTABLE, False
    return TimingChange(ratio, test, p_value, base_interval, head_interval, slower=differ and ratio > factor,
                        faster=differ and ratio < 1 / factor)
