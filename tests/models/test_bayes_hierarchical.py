"""Hierarchical MGAR model: the age mixture recovers a known scatter; the slope is recovered."""

import warnings

import numpy as np
import pytest
from bayes_helpers import FAST

from mgar_bayes.models import HierarchicalMGARModel, PriorConfig, simulate_population

SIGMA_TRUE = 0.08


@pytest.fixture(scope="module")
def sim_ages(bins3):
    """20% age errors: many stars sit in the wrong bin by observed age."""
    return simulate_population(
        bins3, n_per_bin=150, slope=0.015, gradient_at_ref=-0.05, age_ref=5.0, scatter=SIGMA_TRUE,
        age_rel_err=0.2, seed=21,
    )


def _fit(stars, bins, treatment):
    # eps ~ HalfCauchy(0.01): with only 3 bins C25's HalfCauchy(5) leaves the slope unconstrained
    pr = PriorConfig(age_treatment=treatment, rg_treatment="gaussian", age_ref=5.0, trend_scatter_beta=0.01)
    m = HierarchicalMGARModel(priors=pr, sampler=FAST)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        m.fit(stars, bins, population="thin", seed=5)
    return m


@pytest.fixture(scope="module")
def mixture_fit(sim_ages, bins3):
    return _fit(sim_ages[0], bins3, "mixture")


def test_mixture_recovers_known_scatter(mixture_fit):
    post = mixture_fit.idata.posterior["scatter"]
    mean, sd = post.mean(("chain", "draw")).values, post.std(("chain", "draw")).values
    print("mixture sigma per bin:", np.round(mean, 4), "+-", np.round(sd, 4))
    assert np.all(np.abs(mean - SIGMA_TRUE) < 2 * sd + 1e-3)


def test_c25_weighting_collapses_scatter(sim_ages, bins3, mixture_fit):
    """C25's 1/P inflation over-explains the spread: sigma is pushed far below the truth."""
    m = _fit(sim_ages[0], bins3, "inflate")
    post = m.idata.posterior["scatter"]
    mean, sd = post.mean(("chain", "draw")).values, post.std(("chain", "draw")).values
    print("1/P sigma per bin:", np.round(mean, 4), "+-", np.round(sd, 4))
    # the bias grows with the absolute age error: the oldest bin collapses most
    assert mean.mean() < SIGMA_TRUE - 0.02
    assert mean[-1] < SIGMA_TRUE - 2 * sd[-1]
    assert mean[-1] < mean[0]


def test_hierarchical_slope_within_2sd(mixture_fit, sim_ages):
    truth = sim_ages[1]
    rate = mixture_fit.flattening_rate()
    print("flattening rate:", rate, "true", truth.slope)
    assert rate["sd"] < 0.0075  # informative: the true rate is 0.015
    assert abs(rate["mean"] - truth.slope) < 2 * rate["sd"]
    assert rate["hdi_lo"] < rate["mean"] < rate["hdi_hi"]
    band = mixture_fit.band(np.array([2.0, 5.0, 8.0]))
    assert list(band.columns) == ["age", "mean", "hdi_lo", "hdi_hi"]
    assert (band["hdi_lo"] < band["mean"]).all() and (band["mean"] < band["hdi_hi"]).all()


def test_mixture_log_likelihood_is_per_star(mixture_fit):
    ll = mixture_fit.idata.log_likelihood["feh"]
    assert ll.sizes["star"] == mixture_fit.data.n
    assert "log_w" in mixture_fit.idata.constant_data


@pytest.mark.slow
def test_hierarchical_slope_nine_bins_c25_priors():
    """Nine C25 bins, C25's trend priors, latent R_g, mixture: slope within 2 sd."""
    from mgar_bayes.binning import AgeBins
    from mgar_bayes.models import load_model_spec

    bins = AgeBins.from_config()
    stars, truth = simulate_population(bins, n_per_bin=150, slope=0.004, age_rel_err=0.15, seed=33)
    spec = load_model_spec("hierarchical").replace({"sampler": {"backend": "pymc", "draws": 500, "tune": 500, "cores": 1}})
    m = HierarchicalMGARModel(spec)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        m.fit(stars, bins, population="thin", seed=2)
    rate = m.flattening_rate()
    assert abs(rate["mean"] - truth.slope) < 2 * rate["sd"]
