"""run_fit: files, exact CSV columns, summary, refusal to overwrite a different run; comparison tables."""

import json
import warnings

import numpy as np
import pandas as pd
import pytest

from mgar_bayes.binning import AgeBins
from mgar_bayes.models import compare_with_ols, load_model_spec, simulate_population
from mgar_bayes.models.compare import power_scaling_sensitivity, prior_sensitivity
from mgar_bayes.models.plotting import plot_posterior_vs_ols
from mgar_bayes.models.runner import run_fit

BINS = AgeBins((2.0, 4.0, 6.0, 8.0))
COLUMNS = "population, model, age_lo, age_hi, age_center, n_stars, gradient, gradient_err, hdi_lo, hdi_hi, r_hat, ess_bulk, divergences"
QUICK = {"sampler": {"backend": "pymc", "draws": 150, "tune": 150, "chains": 2, "cores": 1, "log_likelihood": True}}


@pytest.fixture(scope="module")
def two_pops():
    thin, _ = simulate_population(BINS, n_per_bin=80, seed=1, population="thin")
    thick, _ = simulate_population(BINS, n_per_bin=80, seed=2, population="thick", slope=0.0, gradient_at_ref=0.013)
    neither, _ = simulate_population(BINS, n_per_bin=5, seed=3, population="")
    stars = pd.concat([thin, thick, neither], ignore_index=True)
    stars["source_id"] = np.arange(len(stars))
    return stars


def _ols(stars):
    rows = []
    for pop in ("thin", "thick"):
        s = stars[stars["population"] == pop]
        for lo, hi in zip(BINS.lo, BINS.hi, strict=True):
            b = s[(s["age"] >= lo) & (s["age"] < hi)]
            coef, cov = np.polyfit(b["R_g"], b["feh"], 1, cov=True)
            for method in ("ols", "odr"):
                rows.append([pop, method, lo, hi, (lo + hi) / 2, len(b), coef[0], np.sqrt(cov[0, 0]), coef[1]])
    return pd.DataFrame(rows, columns=["population", "method", "age_lo", "age_hi", "age_center", "n_stars", "gradient", "gradient_err", "intercept"])


@pytest.fixture(scope="module")
def run(two_pops, tmp_path_factory):
    out = tmp_path_factory.mktemp("fit")
    ols = _ols(two_pops)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        summary = run_fit(two_pops, BINS, "marginal", out, ols_table=ols, seed=4, overrides=QUICK, progress=False)
    return out, summary, ols


def test_outputs_and_exact_columns(run):
    out, summary, _ = run
    for pop in ("thin", "thick"):
        assert (out / f"posterior_{pop}_marginal.nc").is_file()
    assert (out / "figures" / "posterior_vs_ols.png").stat().st_size > 1000
    csv = pd.read_csv(out / "mgar_bayes.csv")
    assert list(csv.columns) == [c.strip() for c in COLUMNS.split(",")]
    assert len(csv) == 6 and set(csv["model"]) == {"marginal"}
    comp = pd.read_csv(out / "mgar_bayes_vs_ols.csv")
    assert len(comp) == 6 and np.isfinite(comp["z"]).all()


def test_summary_contents(run):
    _, summary, _ = run
    assert set(summary) == {"thin", "thick"}
    for s in summary.values():
        for key in ("flattening_rate", "mean_gradient"):
            assert set(s[key]) == {"mean", "sd", "hdi_lo", "hdi_hi"}
            assert s[key]["hdi_lo"] < s[key]["mean"] < s[key]["hdi_hi"]
        json.dumps(s)  # merged into summary.json by the CLI
    assert summary["thin"]["mean_gradient"]["mean"] < 0 < summary["thick"]["mean_gradient"]["mean"]


def test_refuses_to_overwrite_a_different_run_and_reuses_the_same(run, two_pops):
    out, summary, ols = run
    before = (out / "posterior_thin_marginal.nc").stat().st_mtime_ns
    with pytest.raises(FileExistsError, match="different earlier fit"):
        run_fit(two_pops, BINS, "marginal", out, seed=5, overrides=QUICK, progress=False)
    assert (out / "posterior_thin_marginal.nc").stat().st_mtime_ns == before
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        again = run_fit(two_pops, BINS, "marginal", out, ols_table=ols, seed=4, overrides=QUICK, progress=False)
    assert (out / "posterior_thin_marginal.nc").stat().st_mtime_ns == before  # re-used, not re-sampled
    assert again["thin"]["mean_gradient"] == summary["thin"]["mean_gradient"]


def test_compare_with_ols_units():
    post = pd.DataFrame({"population": ["thin"], "model": ["c25"], "age_lo": [1.0], "age_hi": [2.25], "age_center": [1.625], "gradient": [-0.06], "gradient_err": [0.003]})
    ols = pd.DataFrame({"population": ["thin", "thin"], "method": ["ols", "odr"], "age_lo": [1.0, 1.0], "age_hi": [2.25, 2.25], "age_center": [1.625] * 2, "n_stars": [10, 10], "gradient": [-0.07, 0.0], "gradient_err": [0.004, 1.0], "intercept": [0.0, 0.0]})
    c = compare_with_ols(post, ols)
    assert len(c) == 1
    assert c["diff"].iloc[0] == pytest.approx(0.01)
    assert c["z"].iloc[0] == pytest.approx(0.01 / 0.005)


def test_plot_returns_fig_and_axes(run):
    out, _, ols = run
    fig, axes = plot_posterior_vs_ols(pd.read_csv(out / "mgar_bayes.csv"), ols)
    assert len(axes) == 2 and axes[0].get_title() == "thin disk"


def test_prior_sensitivity_and_power_scaling(two_pops, run):
    from mgar_bayes.models import ModelBuilder

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        sens = prior_sensitivity(two_pops, BINS, specs=["marginal", "c25_narrow"], population="thin", seed=1,
                                 overrides={**QUICK, "priors": {"rg_treatment": "gaussian"}})
    assert set(sens["spec"]) == {"marginal", "c25_narrow"}
    ref = sens[sens["spec"] == "marginal"]
    assert np.allclose(ref["shift_sd"], 0.0) and np.allclose(ref["sd_ratio"], 1.0)
    assert np.isfinite(sens["shift_sd"]).all()
    print(sens)
    # power-scaling on a saved fit
    builder = ModelBuilder.load(run[0] / "posterior_thin_marginal.nc")
    ps = power_scaling_sensitivity(builder)
    assert list(ps.columns) == ["prior", "likelihood", "prior_sensitive"]
    assert len(ps) == 3 and (ps["likelihood"] > 0).all()


def test_fit_with_a_sparse_bin_is_reused_and_unreadable_file_replaced(tmp_path):
    bins = AgeBins((2.0, 4.0, 6.0, 8.0))
    full, _ = simulate_population(bins, n_per_bin=60, seed=7, population="thin")
    # the last bin keeps 5 stars, fewer than min_stars_per_bin: the model drops them
    stars = pd.concat([full[full["age"] < 6.0], full[full["age"] >= 6.0].iloc[:5]], ignore_index=True)
    stars["source_id"] = np.arange(len(stars))
    quick = {"sampler": {"draws": 100, "tune": 100, "chains": 2}}  # the spec's numpyro per-bin route
    path = tmp_path / "posterior_thin_marginal.nc"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        first = run_fit(stars, bins, "marginal", tmp_path, seed=2, overrides=quick, progress=False)
        before = path.stat().st_mtime_ns
        # the same stars and seed: the earlier fit is re-used (its hash is of the data after the drop)
        again = run_fit(stars, bins, "marginal", tmp_path, seed=2, overrides=quick, progress=False)
    assert path.stat().st_mtime_ns == before
    assert again["thin"]["mean_gradient"] == first["thin"]["mean_gradient"]
    # a copied spec keeping the name 'marginal' but other priors may not replace that fit
    from mgar_bayes.models.config import _packaged_specs_dir

    copy = tmp_path / "mine.toml"
    text = (_packaged_specs_dir() / "marginal.toml").read_text()
    copy.write_text(text.replace('rg_treatment = "gaussian"', 'rg_treatment = "gaussian"\nr_ref = 7.5'))
    assert load_model_spec(copy).structure.r_ref == 7.5
    with pytest.raises(FileExistsError, match="model named 'marginal'.*--overwrite"):
        run_fit(stars, bins, copy, tmp_path, seed=2, overrides=quick, progress=False)
    # a partial file (an interrupted write by an older version) is refused, then replaced on request
    path.write_bytes(b"CDF\x01 truncated")
    with pytest.raises(FileExistsError, match="cannot be read.*--overwrite"):
        run_fit(stars, bins, "marginal", tmp_path, seed=2, overrides=quick, progress=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        run_fit(stars, bins, "marginal", tmp_path, seed=2, overrides=quick, progress=False, overwrite=True)
    from mgar_bayes.models import ModelBuilder

    assert ModelBuilder.load(path).idata.attrs["counts"]
