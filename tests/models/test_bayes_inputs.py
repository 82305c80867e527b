"""Bad inputs give clear errors; out-of-range stars are dropped with a count, never silently."""

import dataclasses
import warnings

import numpy as np
import pandas as pd
import pytest

from mgar_bayes.binning import AgeBins
from mgar_bayes.models import (
    BinGradientModel,
    DroppedStarsWarning,
    MGARTrendModel,
    ModelInputError,
    prepare_stars,
    simulate_population,
)

BINS = AgeBins((2.0, 4.0, 6.0, 8.0))


@pytest.fixture
def stars():
    s, _ = simulate_population(BINS, n_per_bin=30, seed=1)
    return s


def test_missing_column(stars):
    with pytest.raises(ModelInputError, match=r"missing column\(s\) \['R_g_err'\]"):
        prepare_stars(stars.drop(columns="R_g_err"), BINS)


def test_nan_names_column_and_rows(stars):
    stars.loc[3, "feh_err"] = np.nan
    with pytest.raises(ModelInputError, match="'feh_err' has 1 non-finite"):
        prepare_stars(stars, BINS)


def test_non_positive_error(stars):
    stars.loc[0, "age_err"] = 0.0
    with pytest.raises(ModelInputError, match="'age_err' must be > 0"):
        prepare_stars(stars, BINS)


def test_feh_outside_range_dropped_with_count_and_warning(stars):
    stars.loc[[0, 1, 2], "feh"] = [-1.5, 0.7, -1.01]
    with pytest.warns(DroppedStarsWarning, match=r"dropped 3 of \d+ star\(s\) with \[Fe/H\]"):
        data = prepare_stars(stars, BINS, population="thin")
    assert data.counts["n_dropped_feh_range"] == 3
    assert data.counts["n_used"] == data.n == len(stars) - 3 - data.counts["n_outside_bins"]


def test_rg_outside_range_and_population_filter(stars):
    stars.loc[5, "R_g"] = 21.0
    stars.loc[6:9, "population"] = "thick"
    with pytest.warns(DroppedStarsWarning, match="R_g outside"):
        data = prepare_stars(stars, BINS, population="thin")
    assert data.counts["n_dropped_rg_range"] == 1
    assert data.counts["n_input"] == len(stars) - 4
    with pytest.raises(ModelInputError, match="no stars in population 'neither'"):
        prepare_stars(stars, BINS, population="neither")


def test_counts_reach_the_fit_attrs(stars):
    """The drop counts are recorded in the InferenceData attrs (checked without sampling)."""
    stars.loc[0, "feh"] = 0.9
    m = BinGradientModel()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DroppedStarsWarning)
        m.build_model(stars, BINS, population="thin")
    attrs = m._extra_attrs(m.data)
    assert '"n_dropped_feh_range": 1' in attrs["counts"]


def test_sparse_bins_are_left_out_with_warning(stars):
    keep = ~((stars["age"] >= 6) & (stars["age"] < 8)) | (stars.index < 60)
    few = stars[keep]
    n6 = int(((few["age"] >= 6) & (few["age"] < 8)).sum())
    assert 0 < n6 < 10
    m = BinGradientModel()
    with pytest.warns(DroppedStarsWarning, match="fewer than 10 stars"):
        model = m.build_model(few, BINS, population="thin")
    assert list(model.coords["age_bin"]) == ["2-4", "4-6"]


def test_trend_input_errors():
    with pytest.raises(ModelInputError, match="missing"):
        MGARTrendModel().build_model(pd.DataFrame({"gradient": [0.1]}))
    with pytest.raises(ModelInputError, match=">= 2 bins"):
        MGARTrendModel().build_model(pd.DataFrame({"age_center": [1.0], "gradient": [0.1], "gradient_err": [0.01]}))


def test_not_a_dataframe():
    with pytest.raises(ModelInputError, match="DataFrame"):
        prepare_stars({"feh": [0.1]}, BINS)


def test_asymmetric_age_errors_give_split_normal_prob(stars):
    from mgar_bayes.binning import age_bin_probability
    from mgar_bayes.models.config import PriorConfig

    sym = prepare_stars(stars, BINS)
    assert not sym.asymmetric_ages and sym.age_err_lo is None
    rng = np.random.default_rng(3)
    s = stars.assign(age_err_lo=stars["age_err"] * rng.uniform(0.5, 1.0, len(stars)),
                     age_err_hi=stars["age_err"] * rng.uniform(1.0, 2.0, len(stars)))  # fmt: skip
    s.loc[:4, "age_err_hi"] = np.nan  # these stars keep the symmetric age_err
    data = prepare_stars(s, BINS)
    assert data.asymmetric_ages
    lo, hi = s["age_err_lo"].to_numpy(), s["age_err_hi"].to_numpy()
    expected = age_bin_probability(s["age"].to_numpy(), s["age_err"].to_numpy(), BINS.lo, BINS.hi,
                                   age_range=PriorConfig().age_range, age_err_lo=lo, age_err_hi=hi)  # fmt: skip
    keep = BINS.index(s["age"].to_numpy()) >= 0
    np.testing.assert_array_equal(data.prob, expected[keep])
    first = (np.arange(len(s)) < 5)[keep]  # the stars without age_err_hi, among those kept
    assert first.sum() >= 3
    np.testing.assert_array_equal(data.age_err_lo[first], data.age_err[first])
    np.testing.assert_array_equal(data.prob[first], sym.prob[first])
    assert np.abs(data.prob - sym.prob).max() > 0.05
    # the hash covers them: a saved fit rebuilt without them does not pass as this data
    assert data.hash() != sym.hash()
    assert dataclasses.replace(data, age_err_lo=None, age_err_hi=None).hash() == sym.hash()
    sub = data.subset(np.arange(data.n) % 2 == 0)
    np.testing.assert_array_equal(sub.age_err_hi, data.age_err_hi[::2])
    # columns that say nothing asymmetric leave the symmetric data (and its hash) as they were
    for lo_, hi_ in ((np.nan, np.nan), (s["age_err"], s["age_err"])):
        same = prepare_stars(s.assign(age_err_lo=lo_, age_err_hi=hi_), BINS)
        assert same.age_err_lo is None and same.hash() == sym.hash()
        np.testing.assert_array_equal(same.prob, sym.prob)


def test_asymmetric_age_error_input_errors(stars):
    with pytest.raises(ModelInputError, match="'age_err_lo' without 'age_err_hi'"):
        prepare_stars(stars.assign(age_err_lo=1.0), BINS)
    with pytest.raises(ModelInputError, match="'age_err_hi' must be > 0"):
        prepare_stars(stars.assign(age_err_lo=1.0, age_err_hi=0.0), BINS)


def test_asymmetric_ages_reach_the_model(stars):
    """A model built from asymmetric-age data uses their P (checked without sampling)."""
    s = stars.assign(age_err_lo=stars["age_err"] * 0.5, age_err_hi=stars["age_err"] * 2.0)
    m = BinGradientModel()
    m.build_model(s, BINS, population="thin")
    assert m.data.asymmetric_ages
    np.testing.assert_array_equal(m.data.prob, prepare_stars(s, BINS, population="thin").prob)
