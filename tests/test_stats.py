"""The statistics, pinned against hand computations on tiny inputs."""

from __future__ import annotations

import math
import warnings

import pytest

from ucdbench.stats import MeanCI, mean_ci, paired_comparison, slowdown_test

T_975_DF2 = 4.302652729749464  # t_{0.975, 2}, from a table
T_975_DF1 = 12.706204736174696  # t_{0.975, 1}


def test_mean_ci_is_t_times_s_over_root_n():
    ci = mean_ci([1.0, 2.0, 3.0])  # mean 2, s = 1
    assert ci.mean == 2.0 and ci.n == 3
    assert ci.half_width == pytest.approx(T_975_DF2 * 1 / math.sqrt(3))  # 2.484
    two = mean_ci([80.0, 90.0])  # s = 7.071, n = 2: t_{0.975,1} · 7.071 / √2 = 63.53
    assert two.half_width == pytest.approx(T_975_DF1 * math.sqrt(50) / math.sqrt(2))


def test_mean_ci_of_one_value_has_no_interval_and_equal_values_have_none_wide():
    assert mean_ci([5.0]) == MeanCI(5.0, None, 1)
    value = 100 * 1148 / 253480  # equal runs whose float std is not exactly 0
    assert mean_ci([value] * 3).half_width == 0.0
    with pytest.raises(ValueError):
        mean_ci([])


def test_paired_comparison_matches_by_seed_and_orients_by_direction():
    # seeds 0, 1, 2 shared; differences 1, 2, 3: mean 2, s 1, t = 2 / (1/√3) = √12, df 2, whose two-sided
    # p is 1 − t/√(2 + t²) = 1 − √(12/14) = 0.0742
    candidate = {0: 11.0, 1: 22.0, 2: 33.0, 7: 1000.0}
    reference = {0: 10.0, 1: 20.0, 2: 30.0, 9: -5.0}
    better = paired_comparison(candidate, reference, higher_is_better=True)
    assert better.seeds == (0, 1, 2) and better.n == 3
    assert better.mean_difference == 2.0 and better.improvement == 2.0
    assert better.relative == pytest.approx(2.0 / 20.0)
    assert better.p_value == pytest.approx(1 - math.sqrt(12 / 14))
    assert better.verdict(alpha=0.1) == "holds" and better.verdict(alpha=0.05) == "not significant"
    worse = paired_comparison(candidate, reference, higher_is_better=False)  # a loss: up is worse
    assert worse.improvement == -2.0 and worse.p_value == better.p_value
    assert worse.verdict(alpha=0.1) == "does not hold"
    assert paired_comparison(candidate, reference, higher_is_better=None).verdict() == "untestable"


def test_paired_comparison_without_noise_or_shared_seeds():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning noise from scipy on degenerate inputs
        same = paired_comparison({0: 5.0, 1: 6.0}, {0: 5.0, 1: 6.0}, True)
        shifted = paired_comparison({0: 6.0, 1: 7.0}, {0: 5.0, 1: 6.0}, True)
        nearly = paired_comparison({0: 1.0 + 1e-15, 1: 2.0}, {0: 0.0, 1: 1.0}, True)
    assert same.p_value == 1.0 and same.mean_difference == 0.0 and same.relative == 0.0
    assert shifted.p_value == 0.0 and shifted.verdict() == "holds"
    assert nearly.p_value is not None and nearly.p_value < 1e-6
    one = paired_comparison({0: 6.0}, {0: 5.0}, True)
    assert one.n == 1 and one.mean_difference == 1.0 and one.p_value is None and one.verdict() == "untestable"
    none = paired_comparison({0: 6.0}, {1: 5.0}, True)
    assert none.n == 0 and none.mean_difference is None and none.p_value is None
    assert paired_comparison({0: 1.0}, {0: 0.0}, True).relative == math.inf


def test_slowdown_needs_both_the_factor_and_the_rank_test():
    base = [10.0, 10.1, 10.2, 10.3, 10.4, 10.5, 10.6, 10.7]
    slower = [1.5 * t for t in base]  # every head sample above every base sample
    change = slowdown_test(base, slower)
    assert change.ratio == pytest.approx(1.5)
    # U = 0 for "less": the exact one-sided p of complete separation is 1 / C(16, 8) = 1/12870
    assert change.p_slower == pytest.approx(1 / 12870)
    assert change.slower and not change.faster
    assert slowdown_test(slower, base).faster and not slowdown_test(slower, base).slower
    small = slowdown_test(base, [1.05 * t for t in base])  # real but under the factor
    assert small.ratio == pytest.approx(1.05) and not small.slower
    few = slowdown_test([10.0, 10.1], [15.0, 15.1])  # 1.5× but two samples cannot reach p < 0.002
    assert few.p_slower == pytest.approx(1 / 6) and not few.slower
    assert slowdown_test(base, slower, factor=2.0).slower is False
