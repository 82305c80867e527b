"""Every sampler backend runs the same model (tiny fits; speed is in benchmarks/sampling.py)."""

import warnings

import numpy as np
import pytest

from mgar_bayes.binning import AgeBins
from mgar_bayes.models import BinGradientModel, PriorConfig, SamplerConfig, simulate_population


# numpyro is the default of the shipped specs (fastest in the benchmark); nutpie's Numba
# compilation makes its check slow
@pytest.mark.parametrize("backend", ["numpyro", pytest.param("nutpie", marks=pytest.mark.slow)])
def test_backend_fits_and_returns_all_groups(backend):
    pytest.importorskip({"numpyro": "numpyro", "nutpie": "nutpie"}[backend])
    bins = AgeBins((4.0, 6.0))
    stars, truth = simulate_population(bins, n_per_bin=100, seed=8)
    m = BinGradientModel(
        priors=PriorConfig(rg_treatment="gaussian"),
        sampler=SamplerConfig(backend=backend, draws=100, tune=100, chains=2, cores=1, log_likelihood=True),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        idata = m.fit(stars, bins, seed=1)
    for group in ("posterior", "sample_stats", "observed_data", "constant_data", "log_likelihood"):
        assert group in idata.groups()
    t = m.gradient_table()
    assert abs((t["gradient"].iloc[0] - truth.gradient[0]) / t["gradient_err"].iloc[0]) < 3
    assert np.isfinite(t["r_hat"]).all()


@pytest.mark.parametrize("backend", ["pymc", "numpyro", pytest.param("nutpie", marks=pytest.mark.slow)])
def test_max_tree_depth_reaches_every_backend(backend):
    """A cap of 2 doublings (3 leapfrog steps) binds: a latent-R_g model needs longer trajectories."""
    pytest.importorskip({"pymc": "pymc", "numpyro": "numpyro", "nutpie": "nutpie"}[backend])
    bins = AgeBins((4.0, 6.0))
    stars, _ = simulate_population(bins, n_per_bin=100, seed=8)
    sampler = SamplerConfig(backend=backend, draws=50, tune=50, chains=2, cores=1, max_tree_depth=2)
    m = BinGradientModel(priors=PriorConfig(rg_treatment="sample"), sampler=sampler)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        idata = m.fit(stars, bins, seed=1)
    steps = idata.sample_stats["n_steps"].values
    assert steps.max() == 3


def test_max_tree_depth_must_be_positive():
    with pytest.raises(ValueError, match="max_tree_depth"):
        SamplerConfig(max_tree_depth=0)
