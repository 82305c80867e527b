"""Tests of mgar_bayes.binning: age bins and the bin-membership probability (C25 eq. A4)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from mgar_bayes.binning import AgeBins, age_bin_probability, assign_age_bins
from mgar_bayes.config import BinningConfig

DEFAULT_EDGES = (1.0, 2.25, 3.5, 4.75, 6.0, 7.25, 8.5, 9.75, 11.0, 12.25)


def test_default_bins_are_nine_of_1p25_gyr():
    bins = AgeBins.from_config()
    assert bins.edges == DEFAULT_EDGES
    assert bins.n_bins == 9
    np.testing.assert_allclose(np.diff(bins.edges), 1.25, atol=1e-12)
    np.testing.assert_allclose(bins.lo, DEFAULT_EDGES[:-1])
    np.testing.assert_allclose(bins.hi, DEFAULT_EDGES[1:])
    np.testing.assert_allclose(
        bins.centers, [1.625, 2.875, 4.125, 5.375, 6.625, 7.875, 9.125, 10.375, 11.625], atol=1e-12
    )
    assert bins.labels()[0] == "1-2.25"
    assert bins.labels()[-1] == "11-12.25"
    assert AgeBins.from_config(BinningConfig()) == bins


def test_custom_config_bins():
    bins = AgeBins.from_config(BinningConfig(age_min=0.0, age_max=10.0, n_bins=5))
    assert bins.edges == (0.0, 2.0, 4.0, 6.0, 8.0, 10.0)
    assert bins.n_bins == 5


@pytest.mark.parametrize("edges", [(1.0,), (1.0, 1.0), (3.0, 2.0, 4.0), ()])
def test_bad_edges_raise(edges):
    with pytest.raises(ValueError):
        AgeBins(edges)


def test_edges_stored_as_float_tuple():
    bins = AgeBins(np.array([0, 1, 3]))
    assert bins.edges == (0.0, 1.0, 3.0)
    assert all(type(e) is float for e in bins.edges)


def test_index_left_closed_right_open():
    bins = AgeBins.from_config()
    ages = np.array(
        [1.0, 2.2499, 2.25, 5.0, 12.2499, 12.25, 0.999, 13.0, np.nan, np.inf, -np.inf, -1.0]
    )
    expected = [0, 0, 1, 3, 8, -1, -1, -1, -1, -1, -1, -1]
    assert bins.index(ages).tolist() == expected
    # every edge but the last starts its own bin
    assert bins.index(np.array(DEFAULT_EDGES)).tolist() == list(range(9)) + [-1]


def test_index_of_empty_array():
    assert AgeBins.from_config().index(np.array([])).shape == (0,)


def test_index_of_scalar_age():
    bins = AgeBins.from_config()
    assert int(bins.index(5.0)) == 3
    assert int(bins.index(12.25)) == -1


def test_assign_age_bins_series():
    bins = AgeBins.from_config()
    t = pd.DataFrame({"age": [1.5, 12.3, 7.25], "tau": [3.0, 3.0, 3.0]}, index=[4, 2, 8])
    s = assign_age_bins(t, bins)
    assert s.name == "age_bin"
    assert list(s.index) == [4, 2, 8]
    assert s.tolist() == [0, -1, 5]
    assert assign_age_bins(t, bins, column="tau").tolist() == [1, 1, 1]


# ---------------------------------------------------------------- probabilities


def test_tiny_error_inside_bin_is_certain():
    p = age_bin_probability([5.0, 5.0], [1e-3, 1e-3], 4.75, 6.0)
    np.testing.assert_allclose(p, 1.0, atol=1e-12)


def test_far_from_bin_is_impossible():
    p = age_bin_probability([5.0, 11.5], [1e-3, 0.1], 1.0, 2.25)
    np.testing.assert_allclose(p, 0.0, atol=1e-12)


def test_probabilities_over_tiling_bins_sum_to_one():
    rng = np.random.default_rng(2)
    n = 200
    age = rng.uniform(0.2, 12.9, n)
    err = rng.uniform(0.05, 3.0, n)
    edges = np.array((0.0,) + DEFAULT_EDGES + (13.0,))
    p = age_bin_probability(age, err, edges[:-1], edges[1:])
    assert p.shape == (n, len(edges) - 1)
    assert np.all(p >= 0) and np.all(p <= 1)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-10)


def test_probabilities_sum_to_one_for_other_age_range():
    age = np.array([2.0, 6.0, 11.0])
    err = np.array([1.0, 2.0, 3.0])
    edges = np.array(DEFAULT_EDGES)
    p = age_bin_probability(age, err, edges[:-1], edges[1:], age_range=(1.0, 12.25))
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-10)


@pytest.mark.parametrize(
    "age, err, lo, hi",
    [
        (6.0, 1.5, 4.75, 6.0),
        (12.5, 2.0, 11.0, 12.25),  # truncation at 13 Gyr matters
        (0.8, 1.0, 1.0, 2.25),  # truncation at 0 matters
        (3.0, 0.7, 3.5, 4.75),
    ],
)
def test_against_scipy_truncnorm(age, err, lo, hi):
    a, b = (0.0 - age) / err, (13.0 - age) / err
    dist = stats.truncnorm(a, b, loc=age, scale=err)
    expected = dist.cdf(hi) - dist.cdf(lo)
    got = age_bin_probability(np.array([age]), np.array([err]), lo, hi)
    assert got.shape == (1,)
    np.testing.assert_allclose(got[0], expected, rtol=1e-9, atol=1e-12)
    # the truncation changes the answer (so the test would notice if it were dropped)
    untruncated = stats.norm(age, err).cdf(hi) - stats.norm(age, err).cdf(lo)
    if age > 12 or age < 1:
        assert abs(untruncated - expected) > 1e-3


def test_known_value_truncnorm():
    # age 12.5 +- 2 Gyr truncated to [0, 13]: P(11 <= tau < 12.25)
    # = [Phi(-0.125) - Phi(-0.75)] / [Phi(0.25) - Phi(-6.25)]
    # = (0.450262 - 0.226627) / (0.598706 - 0.0000000002) = 0.373530
    p = age_bin_probability([12.5], [2.0], 11.0, 12.25)[0]
    assert p == pytest.approx(0.373530, abs=2e-6)


def test_bin_edges_beyond_range_are_clipped():
    # a bin reaching past 13 Gyr contains all the probability above its lower edge
    age, err = np.array([12.0]), np.array([1.0])
    dist = stats.truncnorm((0 - 12.0) / 1.0, (13 - 12.0) / 1.0, loc=12.0, scale=1.0)
    p = age_bin_probability(age, err, 12.25, 20.0)
    np.testing.assert_allclose(p, 1.0 - dist.cdf(12.25), rtol=1e-10)
    np.testing.assert_allclose(age_bin_probability(age, err, -5.0, 20.0), 1.0, rtol=1e-12)


def test_shapes_scalar_and_array_edges():
    age = np.array([2.0, 5.0, 9.0])
    err = np.array([0.5, 1.0, 1.5])
    bins = AgeBins.from_config()
    p2 = age_bin_probability(age, err, bins.lo, bins.hi)
    assert p2.shape == (3, 9)
    p1 = age_bin_probability(age, err, bins.lo[4], bins.hi[4])
    assert p1.shape == (3,)
    np.testing.assert_allclose(p1, p2[:, 4], rtol=1e-14)
    # one-element arrays still give a 2-d result
    assert age_bin_probability(age, err, bins.lo[:1], bins.hi[:1]).shape == (3, 1)
    # the most probable bin is the star's own bin
    assert np.argmax(p2, axis=1).tolist() == bins.index(age).tolist()


# ------------------------------------------- asymmetric age errors (split normal)


def _split_normal_mc(age, lo, hi, n, seed, age_range=(0.0, 13.0)):
    """Draws of the true age: half-normals of width lo below and hi above ``age``, truncated."""
    z = np.random.default_rng(seed).standard_normal(n)
    x = age + np.where(z < 0, lo, hi) * z
    return x[(x >= age_range[0]) & (x <= age_range[1])]


def test_split_normal_sums_to_one_over_a_partition():
    rng = np.random.default_rng(4)
    n = 200
    age = rng.uniform(0.2, 12.9, n)
    lo, hi = rng.uniform(0.05, 3.0, n), rng.uniform(0.05, 3.0, n)
    edges = np.array((0.0,) + DEFAULT_EDGES + (13.0,))
    p = age_bin_probability(age, np.full(n, 1.0), edges[:-1], edges[1:], age_err_lo=lo, age_err_hi=hi)
    assert np.all(p >= 0) and np.all(p <= 1)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-10)
    # over a partition of a smaller age_range too
    p = age_bin_probability(age, np.ones(n), edges[1:-2], edges[2:-1], age_range=(1.0, 12.25),
                            age_err_lo=lo, age_err_hi=hi)  # fmt: skip
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-10)


def test_split_normal_with_equal_sides_is_the_symmetric_formula():
    rng = np.random.default_rng(5)
    age, err = rng.uniform(0.2, 12.9, 50), rng.uniform(0.05, 3.0, 50)
    bins = AgeBins.from_config()
    sym = age_bin_probability(age, err, bins.lo, bins.hi)
    np.testing.assert_array_equal(age_bin_probability(age, err, bins.lo, bins.hi, age_err_lo=err, age_err_hi=err), sym)
    # equal sides other than age_err: the normal of that width
    np.testing.assert_array_equal(
        age_bin_probability(age, np.ones(50), bins.lo, bins.hi, age_err_lo=err, age_err_hi=err), sym
    )
    # a star with either side NaN uses age_err on both
    lo, hi = err * 0.5, err * 2.0
    lo[:10], hi[10:20] = np.nan, np.nan
    p = age_bin_probability(age, err, bins.lo, bins.hi, age_err_lo=lo, age_err_hi=hi)
    np.testing.assert_array_equal(p[:20], sym[:20])
    assert np.abs(p[20:] - sym[20:]).max() > 0.05
    with pytest.raises(ValueError, match="both"):
        age_bin_probability(age, err, bins.lo, bins.hi, age_err_lo=lo)
    with pytest.raises(ValueError, match="shape"):
        age_bin_probability(age, err, bins.lo, bins.hi, age_err_lo=lo[:3], age_err_hi=hi[:3])


@pytest.mark.parametrize(
    "age, lo, hi",
    [
        (3.0, 0.5, 2.0),  # skewed to old ages
        (11.5, 2.5, 0.6),  # skewed to young ages
        (12.2, 0.4, 3.0),  # the truncation at 13 Gyr removes much of the upper half
        (0.6, 1.2, 0.3),  # and the one at 0 of the lower half
    ],
)
def test_split_normal_against_monte_carlo(age, lo, hi):
    x = _split_normal_mc(age, lo, hi, 1_000_000, seed=11)
    edges = np.array((0.0,) + DEFAULT_EDGES + (13.0,))
    expected = np.histogram(x, bins=edges)[0] / x.size
    p = age_bin_probability(np.array([age]), np.array([1.0]), edges[:-1], edges[1:],
                            age_err_lo=np.array([lo]), age_err_hi=np.array([hi]))[0]  # fmt: skip
    np.testing.assert_allclose(p, expected, atol=1e-3)
    # and it is not the symmetric answer for either width
    for s in (lo, hi):
        assert np.abs(age_bin_probability(np.array([age]), np.array([s]), edges[:-1], edges[1:])[0] - p).max() > 0.02


def test_split_normal_known_value():
    # age 5 Gyr, -1/+2 Gyr, bin [4.75, 6): Phi(0.5) - Phi(-0.25) over Phi(4) - Phi(-5)
    p = age_bin_probability([5.0], [1.0], 4.75, 6.0, age_err_lo=[1.0], age_err_hi=[2.0])[0]
    expected = (stats.norm.cdf(0.5) - stats.norm.cdf(-0.25)) / (stats.norm.cdf(4.0) - stats.norm.cdf(-5.0))
    assert p == pytest.approx(expected, rel=1e-12)
