"""Smooth MGAR model (a line plus a Gaussian process in age over fine bins) and its LOO comparison."""

import warnings

import arviz as az
import numpy as np
import pytest
import xarray as xr

from mgar_bayes.binning import AgeBins
from mgar_bayes.models import (
    SmoothMGARModel,
    builder_for,
    compare_loo,
    load_model_spec,
    simulate_population,
)
from mgar_bayes.models.smooth import gp_curve, line_projector, spline_basis


def vshape(t):
    """-0.08 dex/kpc at 6 Gyr rising to -0.02 at 2 and 10 Gyr."""
    return -0.08 + 0.015 * np.abs(np.asarray(t, dtype=float) - 6.0)


def _spec(**sections):
    return load_model_spec("smooth").replace(sections or None)


# -- spec, bins, simulator: cheap ---------------------------------------------------------------


def test_spec_chooses_fine_bins_and_the_smooth_builder():
    spec = load_model_spec("smooth")
    assert spec.builder == "smooth" and spec.data.age_bin_width == 0.5
    assert spec.structure.age_treatment == "mixture" and spec.structure.rg_treatment == "gaussian"
    assert spec.priors.gp_amplitude.distribution == "HalfNormal"
    assert spec.priors.gp_lengthscale.distribution == "InverseGamma"
    assert spec.structure.spline_log_spacing == 0.3
    assert load_model_spec("hierarchical").data.age_bin_width == 0.0
    m = builder_for(spec)
    assert isinstance(m, SmoothMGARModel)
    stars, _ = simulate_population(AgeBins.from_config(), n_per_bin=20, seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        data = m._prepare(stars, AgeBins.from_config(), population="thin")
    # C25's nine bins from 1 to 12.25 Gyr become 23 of 0.489 Gyr; the same range, the same stars
    assert data.bins.n_bins == 23 and data.bins.edges[0] == 1.0 and data.bins.edges[-1] == 12.25
    np.testing.assert_allclose(np.diff(data.bins.edges), 11.25 / 23)
    assert AgeBins((2.0, 4.0, 6.0, 8.0)).refined(0.5).n_bins == 12
    with pytest.raises(ValueError, match="age_bin_width"):
        load_model_spec("hierarchical").replace({"data": {"age_bin_width": -1.0}})
    # the nested line: the same bins and splines, no GP
    line = builder_for("smooth_line")
    assert isinstance(line, SmoothMGARModel) and not line.structure.gradient_gp
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        line.build_model(stars, AgeBins.from_config(), population="thin")
    assert line.data.bins.n_bins == 23 and "intercept_spline" in line.model.named_vars
    assert not any(v.startswith("gp_") for v in line.model.named_vars)


def test_simulated_gradient_is_a_function_of_each_stars_true_age():
    bins = AgeBins((2.0, 6.0, 10.0))
    kw = dict(n_per_bin=400, scatter=1e-9, feh_err=(1e-9, 2e-9), feh_range=None, seed=4)
    stars, truth = simulate_population(bins, gradient_fn=vshape, **kw)
    expected = -0.1 + vshape(stars["true_age"]) * (stars["true_R_g"] - 8.27)
    np.testing.assert_allclose(stars["feh"], expected, atol=1e-7)
    np.testing.assert_allclose(truth.gradient, vshape(bins.centers))
    np.testing.assert_allclose(truth.curve(np.array([2.0, 6.0])), [-0.02, -0.08])
    # the V is symmetric about 6 Gyr, the middle of the range: its least-squares line is flat
    assert abs(truth.slope) < 1e-10 and truth.gradient_at_ref == pytest.approx(-0.05, abs=1e-3)
    # without it: the per-bin line as before, and every other draw is the same
    line, t_line = simulate_population(bins, slope=0.004, **kw)
    grad = -0.05 + 0.004 * (bins.centers - 6.625)
    np.testing.assert_allclose(
        line["feh"], -0.1 + grad[line["true_bin"]] * (line["true_R_g"] - 8.27), atol=1e-7
    )
    for col in ("age", "age_err", "R_g", "R_g_err", "true_age", "true_R_g"):
        np.testing.assert_array_equal(line[col], stars[col])
    np.testing.assert_allclose(t_line.curve(bins.centers), grad)
    with pytest.raises(ValueError, match="gradient_scatter"):
        simulate_population(bins, gradient_fn=vshape, gradient_scatter=0.01)


def test_gp_departure_has_no_line_and_the_curve_matches_the_bins():
    """(I - P) removes exactly the least-squares line; gp_curve at the centres is the model's gradient."""
    t = AgeBins.from_config().refined(0.5).centers
    r = line_projector(t)
    np.testing.assert_allclose(r @ (0.3 - 0.02 * t), 0.0, atol=1e-12)
    v = np.random.default_rng(0).normal(size=t.size)
    assert np.polyfit(t, r @ v, 1) == pytest.approx([0.0, 0.0], abs=1e-12)
    np.testing.assert_allclose(line_projector(t, 0) @ np.full(t.size, 2.0), 0.0, atol=1e-12)

    import pymc as pm

    bins = AgeBins((2.0, 4.0, 6.0, 8.0))
    stars, _ = simulate_population(bins, n_per_bin=30, seed=2)
    m = SmoothMGARModel(_spec())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        m.build_model(stars, bins, population="thin")
    names = ["trend_intercept", "trend_slope", "gp_amplitude", "gp_lengthscale", "gp_z"]
    splines = ["intercept_spline", "intercept", "scatter_spline", "scatter"]
    with m.model:
        prior = pm.sample_prior_predictive(
            draws=20, var_names=[*names, "gradient", *splines], random_seed=3
        )
    flat = {n: prior.prior[n].values[0] for n in [*names, "gradient", *splines]}
    # the intercept and scatter: cubic splines in ln age (knots <= 0.3 apart: ln 4 / 0.3 -> 5
    # intervals over 2-8 Gyr, 8 basis functions)
    basis = spline_basis(m.data.bins.centers, 2.0, 8.0, m.structure.spline_log_spacing)
    assert basis.shape == (12, 8) and np.all(basis >= 0)
    np.testing.assert_allclose(basis.sum(1), 1.0)
    np.testing.assert_allclose(flat["intercept"], flat["intercept_spline"] @ basis.T, atol=1e-12)
    np.testing.assert_allclose(flat["scatter"], flat["scatter_spline"] @ basis.T, atol=1e-12)
    assert np.all(flat["scatter"] > 0)
    centres = m.data.bins.centers
    kw = dict(
        intercept=flat["trend_intercept"], slope=flat["trend_slope"],
        amplitude=flat["gp_amplitude"], lengthscale=flat["gp_lengthscale"], z=flat["gp_z"],
        age_ref=m.structure.age_ref,
    )  # fmt: skip
    np.testing.assert_allclose(gp_curve(centres, m.data.bins, **kw), flat["gradient"], atol=1e-12)
    # the line through the curve is the model's a + s (t - age_ref): s is the flattening rate
    for g, a, s in zip(flat["gradient"], flat["trend_intercept"], flat["trend_slope"], strict=True):
        slope, at_ref = np.polyfit(centres - m.structure.age_ref, g, 1)
        assert slope == pytest.approx(s, abs=1e-10) and at_ref == pytest.approx(a, abs=1e-10)
    # a smooth function of age, no step at a bin edge: over 0.01 Gyr it moves by at most the line's
    # share plus 5 sd of the GP's derivative (sd eta / ell), here and across every edge
    fine = np.linspace(2.0, 8.0, 601)
    steps = np.abs(np.diff(gp_curve(fine, m.data.bins, **kw), axis=1)).max(axis=1)
    bound = 0.01 * (np.abs(kw["slope"]) + 5 * kw["amplitude"] / kw["lengthscale"])
    assert np.all(steps < bound)


@pytest.mark.parametrize("edges", [(1.0, 12.25), (2.0, 8.0)])
def test_hsgp_basis_gives_the_exact_gp_departure_covariance(edges):
    """The departure (I - P) g of the basis GP has the exact ExpQuad GP's covariance at the bin
    centres within 1% of eta^2, for 0.6 Gyr <= ell <= the binned range."""
    from mgar_bayes.models.smooth import hsgp_basis, hsgp_scale, hsgp_size

    b = AgeBins(edges).refined(0.5)
    t = b.centers
    r = line_projector(t)
    phi, w = hsgp_basis(t, b.edges[0], b.edges[-1])
    assert phi.shape == (t.size, hsgp_size(b.edges[0], b.edges[-1]))
    for ell in np.geomspace(0.6, edges[1] - edges[0], 8):
        approx = r @ (phi * hsgp_scale(1.0, ell, w) ** 2) @ phi.T @ r.T
        exact = r @ np.exp(-0.5 * ((t[:, None] - t[None, :]) / ell) ** 2) @ r.T
        assert np.abs(approx - exact).max() < 0.01, ell


# -- the fast route: the JAX density against the PyMC model -------------------------------------


def test_fast_density_equals_pymc_logp():
    """The hierarchical JAX density samples the smooth prior unchanged: value, gradient, per star."""
    import jax
    import jax.numpy as jnp

    from mgar_bayes.models.hierarchical import hierarchical_density

    bins = AgeBins((2.0, 4.0, 6.0, 8.0))
    stars, _ = simulate_population(bins, n_per_bin=60, gradient_fn=vshape, age_rel_err=0.2, seed=5)
    spec = _spec(structure={"rg_range": [-30.0, 50.0]}, sampler={"backend": "numpyro"})
    m = SmoothMGARModel(spec)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        m.build_model(stars, bins, population="thin")
    assert m.fast_route() and m.data.bins.n_bins == 12
    potential, pointwise = hierarchical_density(m.model, m.data, m._blocks, m.structure)
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
        np.testing.assert_allclose(grad, dlogp(point), rtol=1e-7, atol=1e-7)
        np.testing.assert_allclose(np.asarray(pointwise(x)), ll(point)[0], rtol=1e-10)


# -- compare_loo: its checks, on small hand-made InferenceData ----------------------------------


def _idata(loglik, feh, stars=None):
    n_chain, n_draw, n = loglik.shape
    stars = np.arange(n).astype(str) if stars is None else stars
    return az.InferenceData(
        posterior=xr.Dataset({"mu": (("chain", "draw"), np.zeros((n_chain, n_draw)))}),
        log_likelihood=xr.Dataset({"feh": (("chain", "draw", "star"), loglik)}, coords={"star": stars}),
        observed_data=xr.Dataset({"feh": (("star",), feh)}, coords={"star": stars}),
    )


def test_compare_loo_ranks_the_better_predictive_model_and_checks_its_inputs(tmp_path):
    rng = np.random.default_rng(0)
    n = 400
    y = rng.normal(0.0, 1.0, n)
    # model "good": N(mu, 1) with mu's posterior around the truth 0; "bad": mu around 0.5
    mu_good = rng.normal(0.0, 0.05, (2, 200))
    mu_bad = rng.normal(0.5, 0.05, (2, 200))

    def ll(mu):
        return -0.5 * (y[None, None, :] - mu[..., None]) ** 2 - 0.5 * np.log(2 * np.pi)

    good, bad = _idata(ll(mu_good), y), _idata(ll(mu_bad), y)
    table = compare_loo({"bad": bad, "good": good})
    assert list(table.index) == ["good", "bad"]
    # the elpd difference is n * 0.5^2 / 2 = 50 (the truth's), many dse
    assert table.loc["bad", "elpd_diff"] == pytest.approx(50.0, rel=0.3)
    assert table.loc["bad", "diff_over_dse"] > 4 and table.loc["good", "diff_over_dse"] == 0.0
    assert (table["n_bad_k"] == 0).all() and (table["pareto_k_max"] < 0.7).all()
    # posterior files (as mgar fit writes them) give the same table
    bad.to_netcdf(str(tmp_path / "bad.nc"))
    from_file = compare_loo({"bad": tmp_path / "bad.nc", "good": good})
    np.testing.assert_allclose(from_file["elpd_loo"], table["elpd_loo"])
    with pytest.raises(ValueError, match="at least two"):
        compare_loo({"good": good})
    with pytest.raises(ValueError, match="same stars"):
        compare_loo({"good": good, "other": _idata(ll(mu_bad)[..., :-1], y[:-1])})
    with pytest.raises(ValueError, match="same stars"):
        compare_loo({"good": good, "other": _idata(ll(mu_bad), y + 1.0)})
    no_ll = az.InferenceData(posterior=good.posterior, observed_data=good.observed_data)
    with pytest.raises(ValueError, match="log-likelihood"):
        compare_loo({"good": good, "none": no_ll})


# -- recovery and the LOO comparison on simulated catalogues (minutes: slow) --------------------

#: The coarse bins the user gives (as `mgar fit` does from [binning]); the smooth spec refines
#: them to 16 bins of 0.5 Gyr, the hierarchical model keeps them.
COARSE = AgeBins((2.0, 4.0, 6.0, 8.0, 10.0))
SLOW_SAMPLER = {"backend": "numpyro", "draws": 300, "tune": 300, "log_likelihood": True}


def _fit_models(stars, names=("smooth", "smooth_line", "hierarchical")):
    fits = {}
    for name in names:
        spec = load_model_spec(name).replace({"sampler": SLOW_SAMPLER})
        m = builder_for(spec)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            m.fit(stars, COARSE, population="thin", seed=11)
        fits[name] = m
    return fits


@pytest.mark.slow
def test_smooth_model_recovers_a_v_shaped_mgar_and_loo_prefers_it():
    """V-shape (-0.08 dex/kpc at 6 Gyr, -0.02 at 2 and 10), 1,200 stars, 10% ages, the shipped
    priors: the smooth model's 98% band covers the true curve at >= 80% of the ages from 2.5 to
    9.5 Gyr (measured 13/15: the GP rounds the V's kink at 6 Gyr), its mean is within 0.012
    dex/kpc of the truth there (measured 0.0095), the departure from the line is detected (HDI
    of max_k |f_k| above 0.015 dex/kpc, measured 0.022-0.037; the truth's is 0.03), LOO prefers
    it to its nested line (same bins and splines) by more than 4 dse (measured 83.6 +- 12.1),
    and ranks it above the
    hierarchical line over the four 2-Gyr bins (measured 8.6 +- 4.5: 1.9 dse, the hierarchical
    model's bins following part of the V)."""
    stars, truth = simulate_population(COARSE, n_per_bin=300, gradient_fn=vshape, age_rel_err=0.1, seed=3)
    fits = _fit_models(stars)
    smooth = fits["smooth"]
    ages = np.linspace(2.5, 9.5, 15)
    band = smooth.band(ages)
    band["truth"] = truth.curve(ages)
    print(band.round(4).to_string())
    print(smooth.diagnostics().loc[lambda d: ~d.index.str.contains(r"\[")].round(4))
    covered = (band["hdi_lo"] <= band["truth"]) & (band["truth"] <= band["hdi_hi"])
    assert covered.mean() >= 0.8
    assert np.max(np.abs(band["mean"] - band["truth"])) < 0.012
    dep = smooth.max_departure()
    print("max departure", dep)
    assert dep["hdi_lo"] > 0.015
    table = compare_loo(fits)
    print(table.round(2).to_string())
    assert table.index[0] == "smooth"
    assert table.loc["smooth_line", "diff_over_dse"] > 4


@pytest.mark.slow
def test_on_a_linear_mgar_the_departure_is_small_and_loo_does_not_prefer_smooth():
    """A linear MGAR (0.004 dex/kpc/Gyr), otherwise the same catalogue: the departure from the line
    is bounded (98% HDI of max_k |f_k| below 0.012 dex/kpc, measured 0.010: a C25-size dip of
    0.02-0.03 is ruled out), the GP amplitude's posterior median is below half its prior's
    (measured 0.0054 against 0.0135), the smooth model's rate is within 2 sd of the truth, and
    neither the smooth model nor its nested line is preferred to the other by more than 2 dse
    (measured 0.2: both contain the truth; the hierarchical model, with fewer nuisance
    parameters, came first by 4.4 +- 2.7)."""
    stars, truth = simulate_population(COARSE, n_per_bin=300, slope=0.004, age_rel_err=0.1, seed=3)
    fits = _fit_models(stars)
    smooth = fits["smooth"]
    dep = smooth.max_departure()
    eta = smooth.idata.posterior["gp_amplitude"].values
    rate = smooth.flattening_rate()
    print("max departure", dep, "eta median", np.median(eta), "rate", rate, "truth", truth.slope)
    assert dep["hdi_hi"] < 0.012
    assert np.median(eta) < 0.5 * 0.02 * 0.6745  # HalfNormal(0.02)'s median
    assert abs(rate["mean"] - truth.slope) < 2 * rate["sd"]
    pair = compare_loo({k: fits[k] for k in ("smooth", "smooth_line")})
    print(compare_loo(fits).round(2).to_string())
    assert pair["diff_over_dse"].max() < 2
