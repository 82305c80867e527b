"""MGAR line through per-bin gradients (C25 Fig. 3)."""

import warnings

import numpy as np
import pandas as pd
import pytest
from bayes_helpers import FAST

from mgar_bayes.binning import AgeBins
from mgar_bayes.models import MGARTrendModel, ModelBuilder


@pytest.fixture(scope="module")
def trend_fit():
    bins = AgeBins.from_config()
    rng = np.random.default_rng(7)
    err = rng.uniform(0.002, 0.006, bins.n_bins)
    true_slope, true_int = 0.003, -0.075
    g = true_int + true_slope * bins.centers + err * rng.standard_normal(bins.n_bins)
    table = pd.DataFrame(
        {"age_lo": bins.lo, "age_hi": bins.hi, "age_center": bins.centers, "gradient": g, "gradient_err": err}
    )
    m = MGARTrendModel(sampler=FAST)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        m.fit(table, seed=1)
    return m, true_slope, true_int


def test_trend_recovers_slope(trend_fit):
    m, slope, intercept = trend_fit
    rate = m.flattening_rate()
    print("trend slope", rate, "true", slope)
    assert abs(rate["mean"] - slope) < 2 * rate["sd"]
    a = m.idata.posterior["trend_intercept"]
    assert abs(float(a.mean()) - intercept) < 2 * float(a.std())


def test_trend_band_and_round_trip(trend_fit, tmp_path):
    m, _, _ = trend_fit
    band = m.band()
    assert len(band) == 50 and (band["hdi_hi"] > band["hdi_lo"]).all()
    loaded = ModelBuilder.load(m.save(tmp_path / "trend.nc"))
    assert isinstance(loaded, MGARTrendModel)
    np.testing.assert_allclose(loaded.band()["mean"], band["mean"])
