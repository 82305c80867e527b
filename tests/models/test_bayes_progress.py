"""What a fit shows while it runs: its phases on stderr when asked, nothing at all otherwise, the same draws either way."""

import importlib.util
import warnings

import numpy as np
import pytest

from mgar_bayes.binning import AgeBins
from mgar_bayes.models import (
    BinGradientModel,
    HierarchicalMGARModel,
    PriorConfig,
    SamplerConfig,
    simulate_population,
)

BINS = AgeBins((4.0, 6.0, 8.0))
# not imported here: the first numpyro fit of a session sets up one JAX device per chain
needs_numpyro = pytest.mark.skipif(importlib.util.find_spec("numpyro") is None, reason="numpyro not installed")


@pytest.fixture(scope="module")
def stars():
    return simulate_population(BINS, n_per_bin=80, seed=8, population="thin")[0]


def _fit(builder, stars, progress):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return builder.fit(stars, BINS, population="thin", seed=2, progress=progress)


def _same_draws(a, b):
    for group in ("posterior", "sample_stats", "log_likelihood"):
        for name, values in getattr(a, group).data_vars.items():
            np.testing.assert_array_equal(getattr(b, group)[name].values, values.values, err_msg=name)


@needs_numpyro
def test_per_bin_route_shows_its_phases_and_keeps_its_draws(stars, capfd):
    """numpyro per bin: silent without progress; with it, compilation, warm-up and sampling bar, post-processing.

    With progress the loop runs in chunks between bar updates, without in one
    call: the draws are the same, bit for bit.
    """
    sampler = SamplerConfig(backend="numpyro", draws=30, tune=41, chains=2, log_likelihood=True)

    def build():
        return BinGradientModel(priors=PriorConfig(rg_treatment="gaussian"), sampler=sampler)

    quiet = _fit(build(), stars, progress=False)
    assert capfd.readouterr() == ("", "")
    shown = _fit(build(), stars, progress=True)
    out, err = capfd.readouterr()
    assert out == ""
    for phase in (
        "c25 thin: 2 age bins x 2 chains",
        "c25 thin: compiling the sampler ... done in",
        "c25 thin: warm-up",
        "c25 thin: sampling",
        "71/71",  # the bar reached the end of warm-up + draws
        "c25 thin: collecting the draws and the log-likelihood ... done in",
    ):
        assert phase in err, (phase, err)
    _same_draws(quiet, shown)


# in a whole-suite session, output from other tests' JAX/ArviZ set-up reaches capfd here: run on its own
@pytest.mark.slow
def test_pymc_route_is_silent_without_progress(stars, capfd):
    """PyMC's own messages (initialisation, timing) are progress too: none without it."""
    sampler = SamplerConfig(backend="pymc", draws=20, tune=20, chains=1, cores=1, log_likelihood=True)
    model = BinGradientModel(priors=PriorConfig(rg_treatment="gaussian"), sampler=sampler)
    _fit(model, stars, progress=False)
    assert capfd.readouterr() == ("", "")
    _fit(model, stars, progress=True)
    out, err = capfd.readouterr()
    assert out == ""
    assert "c25 thin: 1 chains, 20 warm-up + 20 draws each (NUTS, PyMC)" in err
    assert "c25 thin: sampled in" in err and "c25 thin: log-likelihood ... done in" in err


@needs_numpyro
# in a whole-suite session, output from other tests' JAX/ArviZ set-up reaches capfd here: run on its own
@pytest.mark.slow
def test_hierarchical_numpyro_route_is_silent_without_progress(stars, capfd):
    """The numpyro driver of the joint models: its steps named, numpyro's own bars; or nothing. Same draws."""
    sampler = SamplerConfig(backend="numpyro", draws=20, tune=20, chains=2)
    priors = PriorConfig(rg_treatment="gaussian", age_treatment="inflate")

    quiet = _fit(HierarchicalMGARModel(priors=priors, sampler=sampler), stars, progress=False)
    assert capfd.readouterr() == ("", "")
    shown = _fit(HierarchicalMGARModel(priors=priors, sampler=sampler), stars, progress=True)
    out, err = capfd.readouterr()
    assert out == ""
    for phase in (
        "hierarchical thin: 2 chains",
        "hierarchical thin: compiling the log-density ... done in",
        "40/40",  # numpyro's bar
        "hierarchical thin: sampled in",
        "hierarchical thin: constrained draws ... done in",  # no log-likelihood asked for
    ):
        assert phase in err, (phase, err)
    np.testing.assert_array_equal(shown.posterior["gradient"].values, quiet.posterior["gradient"].values)
