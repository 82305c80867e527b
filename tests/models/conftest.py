"""Shared fixtures: small simulated populations with known truth and quick sampler settings."""

from __future__ import annotations

import warnings

import pytest
from bayes_helpers import FAST

from mgar_bayes.binning import AgeBins
from mgar_bayes.models import PriorConfig, simulate_population


@pytest.fixture(scope="session")
def bins3() -> AgeBins:
    return AgeBins((2.0, 4.0, 6.0, 8.0))


@pytest.fixture(scope="session")
def sim3(bins3):
    """Three bins x 200 stars, gradient -0.06..-0.04 dex/kpc, sigma = 0.08 dex, 10% ages."""
    return simulate_population(
        bins3, n_per_bin=200, slope=0.005, gradient_at_ref=-0.05, age_ref=5.0, age_rel_err=0.1, seed=11
    )


def _fit_sim3(sim3, bins3, rg_treatment: str):
    """The C25 model fitted to sim3 with one treatment of R_g (seed 3, quick settings)."""
    from mgar_bayes.models import BinGradientModel

    stars, truth = sim3
    m = BinGradientModel(priors=PriorConfig(rg_treatment=rg_treatment), sampler=FAST)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        m.fit(stars, bins3, population="thin", seed=3)
    return m, truth


@pytest.fixture(scope="session")
def latent_fit(sim3, bins3):
    """One sampled latent R_g per star (shared by several tests)."""
    return _fit_sim3(sim3, bins3, "sample")


@pytest.fixture(scope="session")
def marginal_fit(sim3, bins3):
    """The Gaussian approximation."""
    return _fit_sim3(sim3, bins3, "gaussian")


@pytest.fixture(scope="session")
def integrated_fit(sim3, bins3):
    """The true R_g integrated out."""
    return _fit_sim3(sim3, bins3, "integrate")
