"""The Laplace route of the per-bin models: agreement with NUTS, recovery, the PSIS check and its fallback."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

from mgar_bayes.binning import AgeBins
from mgar_bayes.models import ModelBuilder, builder_for, load_model_spec, simulate_population
from mgar_bayes.models.config import ModelSpec, SamplerConfig
from mgar_bayes.models.laplace import PARETO_K_MAX, LaplaceFallbackWarning, _precision, _Target

BINS = AgeBins((2.0, 4.0, 6.0, 8.0))
SAMPLER = {"draws": 1000, "tune": 500, "chains": 2}


def _fit(stars, method: str, seed: int = 3, spec: str = "marginal", bins=BINS, **sampler):
    m = builder_for(
        load_model_spec(spec).replace({"sampler": {**SAMPLER, "method": method, **sampler}})
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        m.fit(stars, bins, population="thin", seed=seed)
    return m


@pytest.fixture(scope="module")
def sim():
    """Three bins x 300 stars, gradient -0.06..-0.04 dex/kpc, sigma = 0.08 dex.

    3% age errors: few stars leave their bin, so the per-bin model is right and its posterior covers the truth.
    """
    return simulate_population(BINS, n_per_bin=300, slope=0.005, gradient_at_ref=-0.05, age_ref=5.0,
                               age_rel_err=0.03, seed=11)  # fmt: skip


@pytest.fixture(scope="module")
def laplace(sim):
    return _fit(sim[0], "laplace")


@pytest.fixture(scope="module")
def nuts(sim):
    return _fit(sim[0], "nuts")


def test_laplace_agrees_with_nuts_and_recovers_the_truth(laplace, nuts, sim):
    _, truth = sim
    tl = laplace.gradient_table()
    # every bin passes the importance-sampling check, so none fell back to NUTS
    khat = laplace.idata.sample_stats["pareto_k"].values
    assert np.all(khat < PARETO_K_MAX)
    assert not laplace.idata.sample_stats["nuts_fallback"].values.any()
    weights = np.exp(
        laplace.idata.sample_stats["psis_log_weight"]
    )  # normalised over all draws, per bin
    for name in ("gradient", "intercept", "scatter"):
        lap = laplace.idata.posterior[name]
        ref = nuts.idata.posterior[name]
        sd = ref.std(("chain", "draw")).values
        shift = np.abs(lap.mean(("chain", "draw")).values - ref.mean(("chain", "draw")).values) / sd
        # target of the route: per-bin means within 0.1 posterior sd of NUTS, sds within 10%; the
        # scatter's posterior is skewed, so its Gaussian's mean (the mode) sits lower, which the
        # importance weights correct
        assert np.all(shift < (0.1 if name != "scatter" else 0.25)), (name, shift)
        assert np.all(np.abs(lap.std(("chain", "draw")).values / sd - 1) < 0.1), name
        weighted = (weights * lap).sum(("chain", "draw")).values
        assert np.all(np.abs(weighted - ref.mean(("chain", "draw")).values) < 0.1 * sd), name
    z = (tl["gradient"] - truth.gradient) / tl["gradient_err"]
    assert np.all(np.abs(z) < 3)
    assert tl["converged"].all()


def test_laplace_idata_has_the_nuts_layout_and_reloads(laplace, nuts, tmp_path):
    li, ni = laplace.idata, nuts.idata
    assert set(li.posterior.data_vars) == set(ni.posterior.data_vars)
    for name in ni.posterior.data_vars:
        assert li.posterior[name].dims == ni.posterior[name].dims
        assert li.posterior[name].shape == ni.posterior[name].shape
    assert set(ni.groups()) - {"sample_stats"} <= set(li.groups())
    sampling_only = {"sampling", "tuning_steps"}  # NUTS's own settings
    assert set(ni.attrs) - sampling_only <= set(li.attrs)
    assert li.attrs["fit_method"] == "laplace" and li.attrs["nuts_fallback_bins"] == "[]"
    assert li.sample_stats["pareto_k"].dims == ("age_bin",)
    assert li.sample_stats["psis_log_weight"].dims == ("chain", "draw", "age_bin")
    path = laplace.save(tmp_path / "fit.nc")
    back = ModelBuilder.load(path)
    np.testing.assert_array_equal(
        back.idata.sample_stats["pareto_k"].values, li.sample_stats["pareto_k"].values
    )
    assert back.sampler.method == "laplace"


def _with_tiny_bin(seed: int = 12) -> pd.DataFrame:
    """Two well-filled bins and a last bin of three stars, whose posterior is far from Gaussian."""
    main, _ = simulate_population(
        AgeBins((2.0, 4.0, 6.0)), n_per_bin=200, age_rel_err=0.05, seed=11
    )
    tiny, _ = simulate_population(AgeBins((9.5, 11.5)), n_per_bin=3, feh_err=(0.02, 0.04), scatter=0.1,
                                  gradient_at_ref=-0.03, age_rel_err=0.02, seed=seed)  # fmt: skip
    return pd.concat([main, tiny], ignore_index=True)


def test_a_bin_that_fails_the_psis_check_is_sampled_with_nuts():
    stars = _with_tiny_bin()
    bins = AgeBins((2.0, 4.0, 6.0, 9.0, 12.0))
    spec = load_model_spec("marginal").replace(
        {"sampler": {**SAMPLER, "method": "laplace"}, "priors": {"min_stars_per_bin": 3}}
    )
    m = builder_for(spec)
    with pytest.warns(LaplaceFallbackWarning, match="12"):
        m.fit(stars, bins, population="thin", seed=2)
    ss = m.idata.sample_stats
    labels = list(m.idata.posterior["age_bin"].values)
    khat = ss["pareto_k"].values
    fallback = ss["nuts_fallback"].values.astype(bool)
    assert fallback[-1] and khat[-1] >= PARETO_K_MAX, (labels, khat)
    np.testing.assert_array_equal(fallback, ~(khat < PARETO_K_MAX))
    assert not fallback[:2].any()  # the two bins of 200 stars
    assert np.isnan(ss["psis_log_weight"].values[..., -1]).all()
    assert np.isfinite(ss["psis_log_weight"].values[..., 0]).all()
    assert json.loads(m.idata.attrs["nuts_fallback_bins"]) == [
        str(lab) for lab, f in zip(labels, fallback, strict=True) if f
    ]
    # the fallback bin's draws are NUTS's: not a Gaussian's (its scatter is skewed)
    scatter = m.idata.posterior["scatter"].values[..., -1].ravel()
    assert np.isfinite(scatter).all() and (scatter > 0).all()


@pytest.mark.slow  # compiles the integrated model's density, its dense Hessian and PyMC's logp (~20 s)
def test_structured_hessian_equals_the_dense_hessian_of_the_models_logp():
    """Block-diagonal by bin, latents diagonal: the J + 1 products give the whole Hessian."""
    import jax

    from mgar_bayes.models._math import standardized_start
    from mgar_bayes.models.laplace import _bins_of_dims, _layout

    # R_g down to 0.3 kpc: some stars keep a latent R_g under rg_treatment = "integrate"
    bins = AgeBins((2.0, 4.0, 6.0))
    stars, _ = simulate_population(bins, n_per_bin=25, rg_range=(0.3, 12.0), seed=4)
    m = builder_for(load_model_spec("c25_integrated"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        model = m.build_model(stars, bins, population="thin")
    assert len(model.coords.get("edge_star", ())) > 0
    data = m.data
    used = np.flatnonzero(data.n_per_bin() > 0)
    dim_bins = _bins_of_dims(model, data, np.searchsorted(used, data.bin_idx))
    layout = _layout(model, dim_bins)
    target = _Target(model, layout, dim_bins)
    rng = np.random.default_rng(0)
    point = {
        k: v + 0.3 * rng.standard_normal(np.shape(v)) for k, v in standardized_start(model).items()
    }
    x = np.concatenate([np.asarray(point[n]).ravel() for n in layout.names])
    lp, g, hv = target.pieces(x)
    prec = _precision(hv, layout)
    dense = np.zeros((layout.dim, layout.dim))
    ent = layout.bin_entries()
    for k in range(layout.n_bins):
        dense[np.ix_(ent[k], ent[k])] = prec.a[k]
    lat = layout.latent
    dense[lat, lat] = prec.d
    dense[lat[:, None], ent[layout.bin_of[lat]]] = prec.b
    dense[ent[layout.bin_of[lat]], lat[:, None]] = prec.b
    ref = -np.asarray(jax.jit(jax.hessian(lambda v: target.log_density(v).sum()))(x))
    np.testing.assert_allclose(dense, ref, rtol=1e-9, atol=1e-9)
    # the compiled JAX density is the PyMC model's own logp (Jacobians included)
    np.testing.assert_allclose(lp.sum(), model.compile_logp(jacobian=True)(point), rtol=1e-10)


def test_method_is_validated():
    with pytest.raises(ValueError, match="sampler.method must be one of"):
        SamplerConfig(method="map")
    with pytest.raises(ValueError, match="per-bin builder"):
        ModelSpec(name="h", builder="hierarchical", sampler=SamplerConfig(method="laplace"))


def test_log_likelihood_with_latent_rg_is_refused_with_the_fix():
    stars, _ = simulate_population(AgeBins((2.0, 4.0)), n_per_bin=40, rg_range=(0.3, 12.0), seed=4)
    spec = load_model_spec("c25").replace(
        {"sampler": {"method": "laplace", "log_likelihood": True}}
    )
    m = builder_for(spec)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        with pytest.raises(ValueError, match="log_likelihood = false or sampler.method = 'nuts'"):
            m.fit(stars, AgeBins((2.0, 4.0)), population="thin", seed=0)


def test_robustness_fits_go_through_the_laplace_route_with_the_same_draws_in_any_row_order(
    laplace, sim, monkeypatch
):
    import mgar_bayes.models.laplace as lap
    from mgar_bayes.robustness import _bayes_fits

    calls = []
    real = lap.fit_bins_laplace

    def spy(builder, *args, **kwargs):
        calls.append(builder)
        return real(builder, *args, **kwargs)

    monkeypatch.setattr(lap, "fit_bins_laplace", spy)
    # the same stars in another order, the same seed: the same numbers
    stars = sim[0].sample(frac=1.0, random_state=5).reset_index(drop=True)
    table = _bayes_fits(stars, BINS, ["thin"], "marginal", {"sampler": SAMPLER}, 3)
    assert len(calls) == 1 and calls[0].sampler.method == "laplace"
    np.testing.assert_allclose(
        table["gradient"].to_numpy(),
        laplace.gradient_table()["gradient"].to_numpy(),
        rtol=0,
        atol=1e-9,
    )
    (again,) = calls
    for name in ("gradient", "intercept", "scatter"):
        np.testing.assert_allclose(
            again.idata.posterior[name].values,
            laplace.idata.posterior[name].values,
            rtol=0,
            atol=1e-9,
        )
    np.testing.assert_allclose(
        again.idata.sample_stats["pareto_k"].values,
        laplace.idata.sample_stats["pareto_k"].values,
        atol=1e-6,
    )


@pytest.mark.slow  # four Laplace fits
def test_prior_sensitivity_by_laplace_matches_nuts(sim):
    from mgar_bayes.models import prior_sensitivity

    narrow = load_model_spec("marginal").replace(
        {"name": "narrow", "priors": {"gradient": {"dist": "Normal", "mu": 0.0, "sigma": 0.01}}}
    )
    common = {"population": "thin", "seed": 3, "overrides": {"sampler": SAMPLER}}
    by_lap = prior_sensitivity(sim[0], BINS, ["marginal", narrow], method="laplace", **common)
    by_nuts = prior_sensitivity(sim[0], BINS, ["marginal", narrow], method="nuts", **common)
    # a 0.01 dex/kpc prior pulls the gradients towards 0 by a measurable amount: the same for both routes
    shift_lap = by_lap.loc[by_lap["spec"] == "narrow", "shift_sd"].to_numpy()
    shift_nuts = by_nuts.loc[by_nuts["spec"] == "narrow", "shift_sd"].to_numpy()
    assert np.all(shift_lap > 0.2)
    np.testing.assert_allclose(shift_lap, shift_nuts, atol=0.15)
