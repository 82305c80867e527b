"""C25 Appendix-A model: recovery, outputs, diagnostics, reproducibility, save/load."""

import json
import warnings

import numpy as np
import pytest
from bayes_helpers import FAST, zscores

from mgar_bayes import __version__
from mgar_bayes.models import (
    BinGradientModel,
    ModelBuilder,
    PriorConfig,
    SamplerConfig,
    diagnostics_table,
)
from mgar_bayes.models.gradient import TABLE_COLUMNS


def test_latent_model_recovers_gradients(latent_fit):
    m, truth = latent_fit
    table = m.gradient_table()
    z = zscores(table, truth)
    print("latent z per bin:", np.round(z, 2), "sd:", table["gradient_err"].round(4).tolist())
    assert np.all(np.abs(z) < 2.0)
    assert table["gradient_err"].between(1e-4, 0.02).all()


def test_integrated_model_recovers_gradients(integrated_fit):
    m, truth = integrated_fit
    assert m.priors.rg_treatment == "integrate"
    assert "rg_raw" not in m.idata.posterior
    assert np.all(np.abs(zscores(m.gradient_table(), truth)) < 2.0)


def _against_latent(fit, latent_fit, label):
    """Posterior mean shift [latent posterior sd] and sd ratio of ``fit`` against the latent-R_g fit."""
    lat = latent_fit[0].gradient_table()
    other = fit[0].gradient_table()
    shift = (other["gradient"] - lat["gradient"]) / lat["gradient_err"]
    sd_ratio = other["gradient_err"] / lat["gradient_err"]
    print(f"{label} - latent [posterior sd]:", shift.round(3).tolist(), "sd ratio:", sd_ratio.round(3).tolist())
    return shift, sd_ratio


def test_integrated_and_sampled_latent_rg_give_the_same_posterior(latent_fit, integrated_fit):
    """Same model, R_g integrated instead of sampled: only Monte-Carlo differences remain."""
    shift, sd_ratio = _against_latent(integrated_fit, latent_fit, "integrate")
    # Monte-Carlo error of the difference of two means at ESS ~ 300 is ~0.08 sd
    assert np.all(np.abs(shift) < 0.3)
    assert np.all(np.abs(sd_ratio - 1) < 0.15)


def test_marginal_model_recovers_gradients(marginal_fit):
    m, truth = marginal_fit
    z = zscores(m.gradient_table(), truth)
    assert np.all(np.abs(z) < 2.0)


def test_marginal_bias_against_latent_is_small(latent_fit, marginal_fit):
    """The fast variant's shift, in units of the latent posterior sd (prototype: <= 0.02 sd)."""
    bias, sd_ratio = _against_latent(marginal_fit, latent_fit, "marginal")
    # Monte-Carlo error of the difference of two means at ESS ~ 300 is ~0.08 sd
    assert np.all(np.abs(bias) < 0.3)
    assert np.all(np.abs(sd_ratio - 1) < 0.15)


def test_inference_data_groups_and_attrs(latent_fit):
    m, _ = latent_fit
    idata = m.idata
    for group in ("posterior", "sample_stats", "observed_data", "constant_data", "log_likelihood"):
        assert group in idata.groups()
    assert "rg_raw" not in idata.posterior  # latent R_g not kept by default
    assert idata.log_likelihood["feh"].dims[-1] == "star"
    assert set(idata.posterior["gradient"].dims) == {"chain", "draw", "age_bin"}
    a = idata.attrs
    assert a["model"] == "bin_gradient" and a["model_name"] == "c25"
    assert a["mgar_bayes_version"] == __version__
    assert a["seed"] == 3 and len(a["data_sha256"]) == 64
    assert json.loads(a["config"])["priors"]["gradient"] == {"dist": "Normal", "mu": 0.0, "sigma": 0.5}
    assert a["data_sha256"] == m.data.hash()


def test_table_columns_and_diagnostics(latent_fit):
    m, _ = latent_fit
    t = m.gradient_table()
    assert list(t.columns[: len(TABLE_COLUMNS)]) == TABLE_COLUMNS
    assert len(t) == 3 and (t["hdi_lo"] < t["gradient"]).all() and (t["gradient"] < t["hdi_hi"]).all()
    d = m.diagnostics()
    assert {"r_hat", "ess_bulk", "ess_tail", "divergences", "converged"} <= set(d.columns)


def test_not_converged_is_flagged(latent_fit):
    """A fake unconverged posterior (chains offset) is flagged in table and attrs."""
    idata = latent_fit[0].idata.copy()
    post = idata.posterior.copy()
    post["gradient"] = post["gradient"] + xr_offset(post)
    idata.posterior = post
    d = diagnostics_table(idata, ["gradient"])
    assert not d["converged"].any()
    assert (d["r_hat"] > 1.01).all()


def xr_offset(post):
    off = np.zeros(post["gradient"].shape)
    off[1] = 1.0  # chain 1 shifted by 1 dex/kpc
    return off


def test_same_seed_same_numbers_and_save_load(sim3, bins3, tmp_path):
    stars, _ = sim3
    tiny = SamplerConfig(draws=30, tune=30, chains=1, cores=1)
    first = BinGradientModel(priors=PriorConfig(rg_treatment="gaussian"), sampler=tiny)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        first.fit(stars, bins3, population="thin", seed=42)
    fits = [first]
    path = fits[0].save(tmp_path / "fit.nc")
    loaded = ModelBuilder.load(path)
    assert isinstance(loaded, BinGradientModel)
    assert loaded.spec.to_json() == fits[0].spec.to_json()
    np.testing.assert_array_equal(loaded.idata.posterior["gradient"], fits[0].idata.posterior["gradient"])
    # the rebuilt model is the same model: same log-density at the same point
    point = fits[0].model.initial_point()
    lp0 = fits[0].model.compile_logp()(point)
    lp1 = loaded.model.compile_logp()(point)
    assert lp0 == pytest.approx(lp1, rel=1e-12)
    # and it can be sampled again: same seed, same numbers
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        again = loaded.sample(seed=42)
    np.testing.assert_array_equal(again.posterior["gradient"], fits[0].idata.posterior["gradient"])
    with pytest.raises(FileNotFoundError):
        ModelBuilder.load(tmp_path / "missing.nc")


def test_fast_settings_are_quick_enough():
    """Guard that the shared fixtures use small settings (speed itself is in the benchmark)."""
    assert FAST.draws <= 300 and FAST.tune <= 300 and FAST.chains == 2
