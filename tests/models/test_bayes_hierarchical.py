"""Hierarchical MGAR model: the age mixture recovers a known scatter; the slope is recovered."""

import warnings

import numpy as np
import pandas as pd
import pytest
from bayes_helpers import FAST

from mgar_bayes.models import HierarchicalMGARModel, PriorConfig, simulate_population

SIGMA_TRUE = 0.08


@pytest.fixture(scope="module")
def sim_ages(bins3):
    """20% age errors: many stars sit in the wrong bin by observed age."""
    return simulate_population(
        bins3,
        n_per_bin=150,
        slope=0.015,
        gradient_at_ref=-0.05,
        age_ref=5.0,
        scatter=SIGMA_TRUE,
        age_rel_err=0.2,
        seed=21,
    )


def _fit(stars, bins, treatment):
    # eps ~ HalfCauchy(0.01): with only 3 bins C25's HalfCauchy(5) leaves the slope unconstrained
    pr = PriorConfig(
        age_treatment=treatment, rg_treatment="gaussian", age_ref=5.0, trend_scatter_beta=0.01
    )
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
    spec = load_model_spec("hierarchical").replace(
        {"sampler": {"backend": "pymc", "draws": 500, "tune": 500, "cores": 1}}
    )
    m = HierarchicalMGARModel(spec)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        m.fit(stars, bins, population="thin", seed=2)
    rate = m.flattening_rate()
    assert abs(rate["mean"] - truth.slope) < 2 * rate["sd"]


# -- the fast route: candidate blocks, the JAX density against the PyMC model, the same posterior --


def test_mixture_blocks_hold_every_star_once_with_normalised_weights(sim_ages, bins3):
    from mgar_bayes.models.base import prepare_stars
    from mgar_bayes.models.hierarchical import mixture_blocks

    data = prepare_stars(sim_ages[0], bins3, population="thin")
    blocks = mixture_blocks(data.prob)
    stars = np.concatenate(blocks.star)
    assert np.array_equal(np.sort(stars), np.arange(data.n))
    w = data.prob / data.prob.sum(1, keepdims=True)
    for s, k, lw in zip(blocks.star, blocks.kidx, blocks.log_w, strict=True):
        np.testing.assert_allclose(np.exp(lw).sum(1), 1.0, rtol=1e-12)
        assert np.all(np.take_along_axis(w[s], k, axis=1) >= 1e-9)
        # every bin left out has a weight below the threshold
        left = np.ones_like(w[s], dtype=bool)
        np.put_along_axis(left, k, False, axis=1)
        assert np.all(w[s][left] < 1e-9)
    kidx, log_w = blocks.padded()
    assert kidx.shape == (data.n, max(k.shape[1] for k in blocks.kidx))
    np.testing.assert_allclose(np.exp(log_w).sum(1), 1.0, rtol=1e-12)


@pytest.mark.parametrize(
    "treatment", ["gaussian", pytest.param("integrate", marks=pytest.mark.slow)]
)
def test_fast_density_equals_pymc_logp(sim_ages, bins3, treatment):
    """The sampled JAX density is the PyMC model's logp, value and gradient, at random points."""
    import jax
    import jax.numpy as jnp

    from mgar_bayes.models import SamplerConfig
    from mgar_bayes.models.hierarchical import hierarchical_density

    # a wide R_g support: no star near its limits, so "integrate" has no latent R_g either
    pr = PriorConfig(
        age_treatment="mixture", rg_treatment=treatment, age_ref=5.0, rg_range=(-30.0, 50.0)
    )
    m = HierarchicalMGARModel(priors=pr, sampler=SamplerConfig(backend="numpyro"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        m.build_model(sim_ages[0].iloc[:200], bins3, population="thin")
    assert m.fast_route()
    potential, pointwise = hierarchical_density(m.model, m.data, m._blocks, m.structure)
    # PyTensor's Python mode: no C compilation, the same graph
    fast = {"mode": "FAST_COMPILE"}
    logp, dlogp = m.model.compile_logp(**fast), m.model.compile_dlogp(**fast)
    ll = m.model.compile_logp(vars=m.model.observed_RVs, sum=False, **fast)
    rng = np.random.default_rng(4)
    start = m.model.initial_point()
    for _ in range(3):
        point = {k: v + rng.normal(0.0, 1.0, np.shape(v)) for k, v in start.items()}
        x = [jnp.asarray(point[v.name]) for v in m.model.value_vars]
        np.testing.assert_allclose(-float(potential(x)), logp(point), rtol=1e-10)
        grad = -np.concatenate([np.ravel(g) for g in jax.grad(potential)(x)])
        np.testing.assert_allclose(grad, dlogp(point), rtol=1e-8, atol=1e-8)
        np.testing.assert_allclose(np.asarray(pointwise(x)), ll(point)[0], rtol=1e-10)


@pytest.mark.slow
def test_fast_route_gives_the_latent_rg_posterior(bins3):
    """1,500 stars, 20% ages: the fast route (Gaussian R_g, JAX density, dense mass) matches the
    PyMC model with one latent R_g per star sampled by PyMC: means within 0.1 posterior sd."""
    from mgar_bayes.models import SamplerConfig

    stars, _ = simulate_population(
        bins3,
        n_per_bin=500,
        slope=0.01,
        gradient_at_ref=-0.05,
        age_ref=5.0,
        age_rel_err=0.2,
        seed=41,
    )
    fits = {}
    for route, treatment, sampler in (
        ("fast", "gaussian", SamplerConfig(backend="numpyro", draws=4000, tune=1000)),
        ("slow", "sample", SamplerConfig(backend="pymc", draws=3000, tune=1000, cores=1)),
    ):
        pr = PriorConfig(
            age_treatment="mixture", rg_treatment=treatment, age_ref=5.0, trend_scatter_beta=0.01
        )
        m = HierarchicalMGARModel(priors=pr, sampler=sampler)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            m.fit(stars, bins3, population="thin", seed=8)
        assert m.fast_route() == (route == "fast")
        fits[route] = m.diagnostics()
    fast, slow = fits["fast"], fits["slow"]
    dz = (fast["mean"] - slow["mean"]) / slow["sd"]
    print(
        pd.DataFrame(
            {"fast": fast["mean"], "slow": slow["mean"], "sd": slow["sd"], "dz": dz}
        ).round(5)
    )
    assert np.all(np.abs(dz) < 0.1)
    np.testing.assert_allclose(fast["sd"], slow["sd"], rtol=0.1)


@pytest.mark.slow
@pytest.mark.xfail(
    reason="open: the rate is recovered (0.7 sd from the truth, R-hat 1.001) but this catalogue's fit "
    "has 2 divergent transitions",
    strict=False,
)
def test_hierarchical_recovers_the_rate_with_20_percent_age_errors():
    """One catalogue of benchmarks/hierarchical_coverage.py (nine C25 bins, 20% ages), the shipped
    spec on its fast route: the flattening rate within 1 posterior sd of the truth."""
    from mgar_bayes.binning import AgeBins
    from mgar_bayes.models import builder_for, load_model_spec
    from mgar_bayes.ols import fit_bins, mgar_trend

    bins = AgeBins.from_config()
    stars, truth = simulate_population(
        bins,
        n_per_bin=150,
        slope=0.004,
        gradient_at_ref=-0.05,
        age_ref=6.625,
        age_rel_err=0.2,
        seed=7,
    )
    m = builder_for(load_model_spec("hierarchical"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        m.fit(stars, bins, population="thin", seed=7)
    assert m.fast_route()
    rate = m.flattening_rate()
    ols = mgar_trend(fit_bins(stars, bins, methods=("ols",), populations=("thin",)))["thin"]["ols"]
    print(
        "hierarchical",
        rate,
        "per-bin OLS",
        ols["rate"],
        "+-",
        ols["rate_err"],
        "truth",
        truth.slope,
    )
    diag = m.diagnostics()
    print(diag[["mean", "sd", "r_hat", "ess_bulk"]].round(4))
    # the rate's own convergence; the fit as a whole is in diag (intercepts of adjacent middle bins
    # trade off in the mixture and mix more slowly)
    assert diag.loc["trend_slope", "r_hat"] <= 1.01 and diag["divergences"].iloc[0] == 0
    assert abs(rate["mean"] - truth.slope) < rate["sd"]
