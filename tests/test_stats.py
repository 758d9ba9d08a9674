"""The statistics, pinned against hand computations on tiny inputs."""

from __future__ import annotations

import math
import warnings

import pytest

from ucdbench.core.stats import MeanCI, TimingTest, mean_ci, paired_comparison, slowdown_test

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


def test_slowdown_needs_both_the_factor_and_the_two_sided_rank_test():
    base = [10.0, 10.1, 10.2, 10.3, 10.4, 10.5, 10.6, 10.7]
    slower = [1.5 * t for t in base]  # every head sample above every base sample
    change = slowdown_test(base, slower)
    assert change.ratio == pytest.approx(1.5) and change.test is TimingTest.MANN_WHITNEY
    # complete separation: the exact two-sided p is 2 / C(16, 8) = 2/12870 (a one-sided test would give half)
    assert change.p_value == pytest.approx(2 / 12870)
    assert change.slower and not change.faster
    assert slowdown_test(slower, base).faster and not slowdown_test(slower, base).slower
    small = slowdown_test(base, [1.05 * t for t in base])  # real but under the factor
    assert small.ratio == pytest.approx(1.05) and not small.slower
    assert slowdown_test(base, slower, factor=2.0).slower is False


def test_few_samples_fall_back_to_median_intervals_then_to_untestable():
    # 5 a side: the smallest two-sided p, 2/C(10, 5) = 2/252, cannot reach 0.002, so the 99% intervals of
    # the medians decide; but 5 samples do not bound a 99% interval (1 - 2·0.5^5 = 0.94 < 0.99): untestable
    five = slowdown_test([10.0, 10.1, 10.2, 10.3, 10.4], [20.0, 20.1, 20.2, 20.3, 20.4])
    assert five.test is TimingTest.UNTESTABLE and not five.testable and not five.slower and five.p_value is None
    assert "untestable" in five.describe()
    # 8 vs 3: 2/C(11, 3) = 2/165 is too coarse for the test; 8 samples bound the median's 99% interval by
    # their extremes (1 - 2·0.5^8 = 0.992), 3 do not: untestable still
    assert slowdown_test([10.0 + i / 10 for i in range(8)], [20.0, 20.1, 20.2]).test is TimingTest.UNTESTABLE


def test_the_interval_fallback_flags_only_intervals_apart():
    from ucdbench.core.stats import median_interval

    base = [10.0 + i / 10 for i in range(8)]
    assert median_interval(base) == pytest.approx((10.0, 10.7))  # n = 8: the extremes (coverage 0.992)
    assert median_interval(base[:7]) is None  # n = 7: 1 - 2·0.5^7 = 0.984 < 0.99
    # 8 vs 8 reaches the test (1/12870 < 0.002); to exercise the fallback, a stricter alpha the test cannot reach
    apart = slowdown_test(base, [20.0 + i / 10 for i in range(8)], alpha=1e-5)
    assert apart.test is TimingTest.INTERVAL_OVERLAP and apart.slower and apart.p_value is None
    overlapping = slowdown_test(base, [10.5 + i for i in range(8)], alpha=1e-5)  # medians ×1.33, intervals overlap
    assert overlapping.test is TimingTest.INTERVAL_OVERLAP and not overlapping.slower
    assert overlapping.describe() == ("median ×1.35, 99% intervals of the medians [10, 10.7] ms vs [10.5, 17.5] ms "
                                      "overlap (too few samples for Mann–Whitney U)")


# Boundaries and texts that mutation testing (.ci/mutation) found unpinned.

def test_a_p_value_equal_to_alpha_is_not_significant():
    from ucdbench.core.stats import PairedComparison

    at_alpha = PairedComparison(1.0, 1.0, 0.1, 0.05, (0, 1))
    assert not at_alpha.significant(0.05) and at_alpha.verdict(0.05) == "not significant"
    assert at_alpha.significant(0.0500001) and at_alpha.verdict(0.0500001) == "holds"


def test_no_values_and_no_samples_are_refused_by_name():
    with pytest.raises(ValueError, match="^mean_ci of no values$"):
        mean_ci([])
    for base, head in (([], [1.0]), ([1.0], [])):
        with pytest.raises(ValueError, match="^slowdown_test needs samples on both sides$"):
            slowdown_test(base, head)


def test_a_zero_change_from_a_zero_reference_is_relative_zero():
    # reference mean 0 (values 1 and −1) and no change: 0, not inf (and not 1)
    same = paired_comparison({0: 1.0, 1: -1.0}, {0: 1.0, 1: -1.0}, True)
    assert same.relative == 0.0
    assert paired_comparison({0: 0.0, 1: -1.0}, {0: 1.0, 1: -1.0}, True).relative == -math.inf


@pytest.mark.filterwarnings("ignore:Precision loss:RuntimeWarning")  # scipy, on the side without spread
def test_welch_by_hand_when_one_side_has_no_spread():
    from ucdbench.core.stats import welch_p_value

    # a = [1, 1] (no spread), b = [1, 2]: t = −0.5 / √(0.5 / 2) = −1 with Welch's df = n_b − 1 = 1 (a Cauchy
    # distribution): p = 1 − (2/π)·atan(1) = 0.5. Student's pooled test would give df 2, p = 0.4226.
    assert welch_p_value([1.0, 1.0], [1.0, 2.0]) == pytest.approx(0.5, abs=1e-12)
    assert welch_p_value([1.0], [1.0, 2.0]) is None and welch_p_value([1.0, 2.0], [1.0]) is None


def test_a_rank_needs_a_p_value_below_alpha_not_equal_to_it():
    from ucdbench.core.stats import tied_ranks

    # two rows without spread and different means: p = 0.0 exactly, so only an alpha above 0 separates them
    assert tied_ranks([[1.0, 1.0], [2.0, 2.0]], higher_is_better=True, alpha=0.0) == [1, 1]
    assert tied_ranks([[1.0, 1.0], [2.0, 2.0]], higher_is_better=True, alpha=0.01) == [2, 1]
    assert tied_ranks([[1.0, 1.0], [2.0, 2.0]], higher_is_better=False, alpha=0.01) == [1, 2]


def test_a_timing_change_describes_how_it_was_decided():
    base = [10.0 + i / 10 for i in range(8)]
    rank_test = slowdown_test(base, [1.5 * t for t in base])
    assert rank_test.describe() == "median ×1.5, Mann–Whitney U p = 0.00016 (two-sided)"  # 2/12870
    apart = slowdown_test(base, [20.0 + i / 10 for i in range(8)], alpha=1e-5)
    assert apart.describe() == ("median ×1.97, 99% intervals of the medians [10, 10.7] ms vs [20, 20.7] ms "
                                "do not overlap (too few samples for Mann–Whitney U)")
    few = slowdown_test(base[:5], [20.0, 20.1, 20.2, 20.3, 20.4])
    assert few.describe() == ("median ×1.98, untestable: too few samples for a test or bounded 99% intervals "
                              "of the medians (8 a side)")


def test_intervals_that_touch_or_nest_overlap():
    from ucdbench.core.stats import _overlap

    assert _overlap((10.0, 10.7), (10.7, 11.4)) and _overlap((10.7, 11.4), (10.0, 10.7))  # touching
    assert _overlap((10.0, 12.0), (11.0, 11.5)) and _overlap((11.0, 11.5), (10.0, 12.0))  # nested
    assert not _overlap((10.0, 10.6), (10.7, 11.4)) and not _overlap((10.7, 11.4), (10.0, 10.6))


def test_the_rank_test_is_used_only_where_its_two_sided_p_can_reach_alpha():
    # 6 a side: the smallest two-sided p is 2/C(12, 6) = 2/924 = 0.00216, above 0.002, so the test could never
    # flag anything; with 6 samples the median intervals are unbounded too, so a 2× slowdown is untestable
    # (not "tested and within the rule")
    six = [10.0 + i / 10 for i in range(6)]
    doubled = slowdown_test(six, [2 * t for t in six])
    assert doubled.test is TimingTest.UNTESTABLE and not doubled.testable
    # 7 a side: 2/C(14, 7) = 2/3432 = 0.00058 can reach it, and complete separation does
    seven = [10.0 + i / 10 for i in range(7)]
    assert slowdown_test(seven, [2 * t for t in seven]).slower
    # 5 vs 8: 2/C(13, 5) = 2/1287 = 0.00155 can reach it too (so complete separation is a slowdown)
    assert slowdown_test(seven[:5], [2 * t for t in seven] + [30.0]).slower
    # at alpha equal to that smallest p the test cannot reach it, so the intervals decide
    eight = [10.0 + i / 10 for i in range(8)]
    assert slowdown_test(eight, [2 * t for t in eight], alpha=2 / 12870).test is TimingTest.INTERVAL_OVERLAP


def test_a_rank_test_p_value_equal_to_alpha_is_no_difference():
    from scipy import stats

    base = [10.0 + i / 10 for i in range(8)]
    head = [1.5 * t for t in base]
    head[0] = 10.65  # one head sample among the base ones: p = 4/12870
    p = float(stats.mannwhitneyu(head, base, alternative="two-sided").pvalue)
    assert p == pytest.approx(4 / 12870)
    assert not slowdown_test(base, head, alpha=p).slower and slowdown_test(base, head, alpha=1.01 * p).slower


def test_slower_and_faster_need_a_ratio_strictly_beyond_the_factor():
    base = [8.0 + i for i in range(8)]  # median 11.5
    doubled = [2 * t for t in base]  # median 23: ratio exactly 2
    assert slowdown_test(base, doubled, factor=2.0).ratio == 2.0
    assert not slowdown_test(base, doubled, factor=2.0).slower and slowdown_test(base, doubled, factor=1.99).slower
    assert not slowdown_test(doubled, base, factor=2.0).faster and slowdown_test(doubled, base, factor=1.99).faster
    small = slowdown_test(base, [1.05 * t for t in base])  # real, but within the factor either way
    assert not small.slower and not small.faster
