"""Simulation-based calibration (Talts et al. 2018) of the fast per-bin model: rank statistics."""

import contextlib
import os
import warnings

import numpy as np
import pytest
from scipy import stats

from mgar_bayes.binning import AgeBins
from mgar_bayes.models import BinGradientModel, PriorConfig, SamplerConfig, simulate_population

PRIOR = PriorConfig(
    rg_treatment="gaussian",
    gradient_mu=-0.05,
    gradient_sigma=0.02,
    intercept_sigma=0.1,
    scatter_sigma=0.1,
)
N_DRAWS = 99  # thinned to ~independent draws; ranks in 0..99


def _sbc_rank(i: int, backend: str) -> int:
    """One unit of the calibration: draw the truth from the prior (seeded by ``i``), simulate, fit, rank."""
    bins = AgeBins((2.0, 4.0))
    sampler = SamplerConfig(backend=backend, draws=N_DRAWS * 4, tune=300, chains=1, cores=1)
    rng = np.random.default_rng([2024, i])
    g = rng.normal(PRIOR.gradient_mu, PRIOR.gradient_sigma)
    b = rng.normal(PRIOR.intercept_mu, PRIOR.intercept_sigma)
    s = abs(rng.normal(0.0, PRIOR.scatter_sigma))
    # (almost) no age errors and small R_g errors: the simulator is then the model
    stars, _ = simulate_population(
        bins, n_per_bin=60, slope=0.0, gradient_at_ref=g, intercept=b, scatter=s, age_rel_err=1e-4,
        rg_err=(0.05, 0.1), feh_range=(-1.0, 0.5), seed=1000 + i,
    )  # fmt: skip
    m = BinGradientModel(priors=PRIOR, sampler=sampler)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m.fit(stars, bins, seed=i)
    draws = m.idata.posterior["gradient"].values.reshape(-1)[::4][:N_DRAWS]
    return int((draws < g).sum())


@contextlib.contextmanager
def _executor():
    """The units of work on a Dask cluster when one is named, else one after the other here.

    ``MGAR_DASK_SCHEDULER=tcp://host:8786`` (a running scheduler) or ``MGAR_DASK_WORKERS=N``
    (a local cluster; a remote one's workers must import this test module); each unit is seeded
    by its number, so the ranks do not depend on where it ran.
    """
    scheduler, workers = os.environ.get("MGAR_DASK_SCHEDULER"), os.environ.get("MGAR_DASK_WORKERS")
    if not (scheduler or workers):
        yield map
        return
    from mgar_bayes.partitioned import dask_client

    with dask_client(int(workers) if workers else None, scheduler) as client:
        yield client.get_executor().map


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["pymc", "numpyro"])
def test_sbc_ranks_of_gradient_are_uniform(backend):
    """Draw nabla from a (narrow) prior, simulate, fit; the rank of the truth must be uniform.

    ``numpyro`` runs the per-bin sampler, with its own coordinates (the
    scatter as +-w) and analytic derivatives.
    """
    if backend == "numpyro":
        pytest.importorskip("numpyro")
    n_sims = 60
    with _executor() as run:
        ranks = list(run(_sbc_rank, range(n_sims), [backend] * n_sims))
    counts = np.histogram(ranks, bins=5, range=(0, N_DRAWS + 1))[0]
    p = stats.chisquare(counts).pvalue
    assert p > 0.001, f"SBC ranks not uniform: counts {counts}, p = {p:.2g}"
