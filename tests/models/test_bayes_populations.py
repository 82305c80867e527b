"""Per-population fits joined into one InferenceData with a population dim."""

import warnings

import numpy as np
import pytest
from bayes_helpers import FAST

from mgar_bayes.binning import AgeBins
from mgar_bayes.models import BinGradientModel, PriorConfig, simulate_population, stack_populations
from mgar_bayes.models.populations import STAR_POPULATION


@pytest.fixture(scope="module")
def thick_fit(bins3):
    """A thick-disk fit over two of sim3's three bins (no stars in 6-8 Gyr)."""
    stars, _ = simulate_population(
        AgeBins((2.0, 4.0, 6.0)), n_per_bin=120, gradient_at_ref=0.01, population="thick", age_rel_err=0.05, seed=5
    )
    m = BinGradientModel(priors=PriorConfig(rg_treatment="gaussian"), sampler=FAST)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m.fit(stars, bins3, population="thick", seed=2)
    return m


def test_each_fit_names_its_population(marginal_fit, thick_fit):
    for m, pop in ((marginal_fit[0], "thin"), (thick_fit, "thick")):
        for group in m.idata.groups():
            assert getattr(m.idata, group).coords["population"].item() == pop


def test_stack_populations_adds_a_population_dim(marginal_fit, thick_fit, tmp_path):
    thin = marginal_fit[0]
    path = thin.save(tmp_path / "thin.nc")  # a saved file keeps its population
    import arviz as az

    both = stack_populations([az.from_netcdf(str(path)), thick_fit])
    post = both.posterior
    assert post["gradient"].dims == ("chain", "draw", "population", "age_bin")
    assert list(post["population"].values) == ["thin", "thick"]
    np.testing.assert_array_equal(post["gradient"].sel(population="thin").values, thin.idata.posterior["gradient"].values)
    thick_bins = list(thick_fit.idata.posterior["age_bin"].values)
    assert len(thick_bins) == 2 and len(post["age_bin"]) == 3
    missing = [b for b in post["age_bin"].values if b not in thick_bins]
    assert np.isnan(post["gradient"].sel(population="thick", age_bin=missing).values).all()
    ll = both.log_likelihood["feh"]
    assert ll.sizes["star"] == thin.data.n + thick_fit.data.n
    pops = ll[STAR_POPULATION].values
    assert (pops == "thin").sum() == thin.data.n and (pops == "thick").sum() == thick_fit.data.n
    assert both.attrs["populations"] == '["thin", "thick"]'


def test_stack_populations_rejects_a_population_twice(marginal_fit):
    with pytest.raises(ValueError, match="once"):
        stack_populations([marginal_fit[0], marginal_fit[0]])
    with pytest.raises(ValueError, match="population 'thin'"):
        stack_populations({"thick": marginal_fit[0]})
    with pytest.raises(ValueError, match="no fits"):
        stack_populations([])
