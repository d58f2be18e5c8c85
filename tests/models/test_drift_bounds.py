"""The in-control rate bounds the CUSUM detectors start from are never degenerate."""

from __future__ import annotations

import math

import pytest

from models.drift._common import bernoulli_llr, upper_bound


@pytest.mark.parametrize("n", [1.0, 10.0, 2000.0, 1e6])
def test_upper_bound_of_a_zero_rate_is_positive(n):
    # A share estimated at exactly 0 (a cluster that stopped getting records) used to give a
    # bound of 0 and a division by zero in the likelihood ratio of the next record.
    high = upper_bound(0.0, n, 2.0)
    assert 0.0 < high < 1.0
    assert math.isfinite(bernoulli_llr(True, high, 2.0 * high))


def test_upper_bound_is_the_normal_bound_when_it_is_larger():
    assert upper_bound(0.5, 100.0, 2.0) == pytest.approx(0.5 + 2.0 * math.sqrt(0.25 / 100.0))
    assert upper_bound(0.5, 100.0, -2.0) == pytest.approx(0.5 - 2.0 * math.sqrt(0.25 / 100.0))


@pytest.mark.parametrize("n", [1.0, 10.0, 2000.0, 1e6])
def test_lower_bound_of_a_full_rate_is_below_one(n):
    # One cluster holding every record so far (rate 1) gave a lower bound of exactly 1.
    low = upper_bound(1.0, n, -2.0)
    assert 0.0 < low < 1.0
    assert math.isfinite(bernoulli_llr(False, low, low / 2.0))
