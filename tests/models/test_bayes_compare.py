"""Log prior of a fit from the model's own graph (compare.add_log_prior)."""

import warnings

import arviz as az
import numpy as np
import pytest
from scipy import stats

from mgar_bayes.models import BinGradientModel, PriorConfig, SamplerConfig, simulate_population
from mgar_bayes.models.compare import add_log_prior


def _with_draws(m, rng):
    """The builder with a made-up posterior (the log prior is a function of the draws alone)."""
    k = len(m.model.coords["age_bin"])
    post = {
        "gradient": rng.normal(-0.05, 0.2, (2, 5, k)),
        "intercept": rng.normal(0.0, 0.3, (2, 5, k)),
        "scatter": rng.uniform(0.01, 0.5, (2, 5, k)),
    }
    m.idata = az.from_dict(
        posterior=post,
        coords={"age_bin": m.model.coords["age_bin"]},
        dims={n: ["age_bin"] for n in post},
    )
    return post


@pytest.mark.parametrize(
    ("scatter", "logpdf"),
    [
        ({"dist": "HalfNormal", "sigma": 0.4}, lambda x: stats.halfnorm.logpdf(x, scale=0.4)),
        ({"dist": "Exponential", "lam": 3.0}, lambda x: stats.expon.logpdf(x, scale=1 / 3.0)),
    ],
)
def test_log_prior_comes_from_the_model_and_follows_the_spec(bins3, scatter, logpdf):
    stars, _ = simulate_population(bins3, n_per_bin=40, seed=2, population="thin")
    priors = PriorConfig(
        scatter=scatter,
        gradient={"dist": "Normal", "mu": 0.1, "sigma": 0.3},
        rg_treatment="gaussian",
    )
    m = BinGradientModel(priors=priors, sampler=SamplerConfig(backend="numpyro"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        m.build_model(stars, bins3, population="thin")
    post = _with_draws(m, np.random.default_rng(4))
    lp = add_log_prior(m).log_prior
    np.testing.assert_allclose(
        lp["gradient"].values, stats.norm.logpdf(post["gradient"], 0.1, 0.3), rtol=1e-8
    )
    np.testing.assert_allclose(
        lp["intercept"].values, stats.norm.logpdf(post["intercept"], 0.0, 0.5), rtol=1e-8
    )
    np.testing.assert_allclose(lp["scatter"].values, logpdf(post["scatter"]), rtol=1e-8)
    assert lp["gradient"].dims == ("chain", "draw", "age_bin")
