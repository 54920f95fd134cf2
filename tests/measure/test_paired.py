"""Paired ratios with confidence intervals, and their verdicts."""

import math

import numpy as np
import pytest

from tvdeploy.measure.paired import FASTER, INDISTINGUISHABLE, SLOWER, paired_ratio, sequential_ratio, verdict


def test_constant_ratio_has_a_tight_interval():
    ref = np.array([10.0, 12.0, 15.0, 11.0, 13.0])  # the machine drifts between rounds
    est = paired_ratio(ref * 0.8, ref)
    assert est.ratio == pytest.approx(0.8) and est.ci_low == pytest.approx(0.8) and est.ci_high == pytest.approx(0.8)
    assert est.verdict == FASTER and est.rounds == 5


def test_interval_matches_student_t_on_log_ratios():
    ratios = np.array([1.10, 1.20, 1.15, 1.05, 1.25, 1.12])
    est = paired_ratio(ratios * 7.0, np.full(6, 7.0), confidence=0.95)
    logs = np.log(ratios)
    half = 2.570581836 * logs.std(ddof=1) / math.sqrt(6)  # t(0.975, 5)
    assert est.ratio == pytest.approx(math.exp(logs.mean()))
    assert est.ci_low == pytest.approx(math.exp(logs.mean() - half), rel=1e-6)
    assert est.ci_high == pytest.approx(math.exp(logs.mean() + half), rel=1e-6)
    assert est.verdict == SLOWER


def test_verdict_needs_the_interval_and_the_resolution():
    assert verdict(0.90, 0.85, 0.95, 0.03) == FASTER
    assert verdict(0.99, 0.98, 0.995, 0.03) == INDISTINGUISHABLE  # real but below the resolution
    assert verdict(0.90, 0.70, 1.10, 0.03) == INDISTINGUISHABLE  # interval straddles 1
    assert verdict(1.20, 1.10, 1.30, 0.03) == SLOWER


def test_one_round_gives_no_verdict_and_bad_input_is_refused():
    est = paired_ratio([5.0], [10.0])
    assert est.ci_low == 0.0 and math.isinf(est.ci_high) and est.verdict == INDISTINGUISHABLE
    with pytest.raises(ValueError, match="same rounds"):
        paired_ratio([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="positive"):
        paired_ratio([1.0, 0.0], [1.0, 1.0])


def test_sequential_ratio_is_the_ratio_of_pooled_medians():
    assert sequential_ratio([2.0, 4.0, 6.0], [1.0, 2.0, 3.0]) == 2.0
