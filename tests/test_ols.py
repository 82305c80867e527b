"""Weighted OLS (C25) and ODR (V21) line fits, per-bin fits and the MGAR trend."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import curve_fit

from mgar_bayes.binning import AgeBins
from mgar_bayes.ols import FIT_COLUMNS, fit_bins, mgar_trend, odr_line, wls_line


def _line_data(n=400, slope=-0.07, icpt=0.6, xerr=0.0, seed=0):
    rng = np.random.default_rng(seed)
    x_true = rng.uniform(5, 13, n)
    yerr = rng.uniform(0.03, 0.08, n)
    y = slope * x_true + icpt + rng.normal(0, 1, n) * yerr
    x = x_true + (rng.normal(0, xerr, n) if xerr else 0)
    return x, y, yerr


def test_wls_matches_scipy_curve_fit():
    x, y, yerr = _line_data()
    fit = wls_line(x, y, yerr)
    popt, pcov = curve_fit(lambda xx, a, b: a * xx + b, x, y, sigma=yerr, absolute_sigma=False)
    assert fit.slope == pytest.approx(popt[0], rel=1e-8)
    assert fit.intercept == pytest.approx(popt[1], rel=1e-8)
    np.testing.assert_allclose(fit.cov, pcov, rtol=1e-6)


def test_wls_error_is_calibrated():
    """Across many simulated samples the slope scatter matches the reported error."""
    slopes, errs = [], []
    for s in range(200):
        fit = wls_line(*_line_data(n=150, seed=s))
        slopes.append(fit.slope)
        errs.append(fit.slope_err)
    assert np.mean(slopes) == pytest.approx(-0.07, abs=3 * np.std(slopes) / np.sqrt(200))
    assert np.std(slopes) == pytest.approx(np.mean(errs), rel=0.15)


def test_wls_degenerate_inputs_give_nan():
    assert np.isnan(wls_line([1.0, 2.0], [1.0, 2.0], [0.1, 0.1]).slope)
    assert np.isnan(wls_line([3.0, 3.0, 3.0], [1.0, 2.0, 3.0], [0.1, 0.1, 0.1]).slope)


def test_odr_recovers_slope_with_x_errors():
    """With errors in x, ODR is unbiased where OLS is diluted."""
    x, y, yerr = _line_data(n=3000, xerr=1.0, seed=3)
    xerr = np.full_like(x, 1.0)
    ols = wls_line(x, y, yerr)
    odr = odr_line(x, y, xerr, yerr)
    assert abs(odr.slope + 0.07) < 3 * odr.slope_err
    assert ols.slope > -0.07 * 0.97  # diluted towards zero (expected factor ~0.84)
    assert odr.slope_err > 0


def test_fit_bins_table_and_empty_bins():
    rng = np.random.default_rng(1)
    n = 2000
    age = rng.uniform(1, 12.25, n)
    Rg = rng.uniform(5, 13, n)
    true_grad = -0.07 + 0.004 * age
    feh = true_grad * (Rg - 8) + rng.normal(0, 0.05, n)
    stars = pd.DataFrame(
        dict(age=age, R_g=Rg, R_g_err=0.1, feh=feh, feh_err=0.05, population=np.where(age > 11, "thick", "thin"))
    )
    bins = AgeBins.from_config()
    fits = fit_bins(stars, bins, min_stars=10)
    assert list(fits.columns) == FIT_COLUMNS
    thin = fits[(fits.population == "thin") & (fits.method == "ols")]
    # the last bin (11-12.25) has no thin star: kept with n_stars = 0 and NaN gradient
    assert thin.iloc[-1]["n_stars"] == 0 and np.isnan(thin.iloc[-1]["gradient"])
    expected = -0.07 + 0.004 * thin["age_center"].iloc[:-1]
    np.testing.assert_allclose(thin["gradient"].iloc[:-1], expected, atol=0.01)
    trend = mgar_trend(fits)
    assert trend["thin"]["ols"]["rate"] == pytest.approx(0.004, abs=0.001)
    assert trend["thin"]["ols"]["n_bins"] == 8
    with pytest.raises(ValueError, match="unknown fit method"):
        fit_bins(stars, bins, methods=("lasso",))
