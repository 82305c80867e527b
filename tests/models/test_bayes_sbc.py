"""Simulation-based calibration (Talts et al. 2018) of the fast per-bin model: rank statistics."""

import warnings

import numpy as np
import pytest
from scipy import stats

from mgar_bayes.binning import AgeBins
from mgar_bayes.models import BinGradientModel, PriorConfig, SamplerConfig, simulate_population


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["pymc", "numpyro"])
def test_sbc_ranks_of_gradient_are_uniform(backend):
    """Draw nabla from a (narrow) prior, simulate, fit; the rank of the truth must be uniform.

    ``numpyro`` runs the per-bin sampler, with its own coordinates (the
    scatter as +-w) and analytic derivatives.
    """
    if backend == "numpyro":
        pytest.importorskip("numpyro")
    bins = AgeBins((2.0, 4.0))
    n_sims, n_draws = 60, 99  # thinned to ~independent draws; ranks in 0..99
    prior = PriorConfig(
        rg_treatment="gaussian", gradient_mu=-0.05, gradient_sigma=0.02, intercept_sigma=0.1, scatter_sigma=0.1
    )
    sampler = SamplerConfig(backend=backend, draws=n_draws * 4, tune=300, chains=1, cores=1)
    rng = np.random.default_rng(2024)
    ranks = []
    for i in range(n_sims):
        g = rng.normal(prior.gradient_mu, prior.gradient_sigma)
        b = rng.normal(prior.intercept_mu, prior.intercept_sigma)
        s = abs(rng.normal(0.0, prior.scatter_sigma))
        # (almost) no age errors and small R_g errors: the simulator is then the model
        stars, _ = simulate_population(
            bins, n_per_bin=60, slope=0.0, gradient_at_ref=g, intercept=b, scatter=s, age_rel_err=1e-4,
            rg_err=(0.05, 0.1), feh_range=(-1.0, 0.5), seed=1000 + i,
        )
        m = BinGradientModel(priors=prior, sampler=sampler)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m.fit(stars, bins, seed=i)
        draws = m.idata.posterior["gradient"].values.reshape(-1)[::4][:n_draws]
        ranks.append(int((draws < g).sum()))
    counts = np.histogram(ranks, bins=5, range=(0, n_draws + 1))[0]
    p = stats.chisquare(counts).pvalue
    assert p > 0.001, f"SBC ranks not uniform: counts {counts}, p = {p:.2g}"
