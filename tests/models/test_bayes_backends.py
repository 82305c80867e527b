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


@pytest.mark.skipif(not __import__("os").path.exists("/proc/self/maps"), reason="needs Linux's /proc")
def test_many_jax_fits_in_one_process_do_not_pile_up_compiled_programs():
    """Each numpyro fit's XLA programs are freed after it: without that every fit kept ~500 memory
    mappings and a loop of ~120 fits (a calibration, a grid) hit the kernel's limit, and LLVM aborted."""
    pytest.importorskip("numpyro")
    bins = AgeBins((4.0, 6.0))
    sampler = SamplerConfig(backend="numpyro", draws=50, tune=50, chains=2, cores=1)

    def maps() -> int:
        with open("/proc/self/maps") as f:
            return sum(1 for _ in f)

    counts = []
    for seed in range(3):
        stars, _ = simulate_population(bins, n_per_bin=60 + seed, seed=seed)  # new shapes: new programs
        m = BinGradientModel(priors=PriorConfig(rg_treatment="gaussian"), sampler=sampler)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m.fit(stars, bins, seed=seed)
        counts.append(maps())
    # the first fit loads the libraries; the next must not add a program's worth (~500)
    assert counts[2] - counts[1] < 150, counts
