"""End-to-end recovery of a known MGAR from the simulated catalogue."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mgar_bayes.config import OrbitConfig, PipelineConfig
from mgar_bayes.ols import FIT_COLUMNS
from mgar_bayes.pipeline import PipelineError, run_pipeline

# Stated tolerances of the recovery test (true thin-disk rate ~0.0035 dex/kpc/Gyr,
# true youngest-bin gradient ~-0.062 dex/kpc). OLS on observed R_g is diluted by
# R_g errors (~4%), which the tolerances allow for.
RATE_TOL = 0.0010  # dex/kpc/Gyr
YOUNG_TOL = 0.008  # dex/kpc


def _ols(run, pop):
    f = run.fits
    return f[(f.population == pop) & (f.method == "ols")].reset_index(drop=True)


def test_thin_disk_rate_recovered(small_run, small_mock):
    true = small_mock.truth_summary()["thin"]["rate_true"]
    got = small_run.trend["thin"]["ols"]
    assert got["rate"] > 0, "thin-disk gradient must flatten with age"
    assert abs(got["rate"] - true) < RATE_TOL, (got["rate"], true)


def test_youngest_thin_bin_recovered(small_run, small_mock):
    truth = small_mock.truth
    true_young = truth[truth.population == "thin"].iloc[0]["gradient_true"]
    young = _ols(small_run, "thin").iloc[0]
    assert young["n_stars"] > 200
    assert abs(young["gradient"] - true_young) < YOUNG_TOL, (young["gradient"], true_young)


def test_thick_disk_gradient_positive(small_run):
    thick = _ols(small_run, "thick")
    assert small_run.trend["thick"]["ols"]["mean_gradient"] > 0
    assert thick["n_stars"].sum() > 500


def test_fit_table_shape(small_run):
    f = small_run.fits
    assert list(f.columns) == FIT_COLUMNS
    assert len(f) == 2 * 2 * 9  # populations x methods x bins
    assert set(f.method) == {"ols", "odr"}
    np.testing.assert_allclose(sorted(set(f.age_lo)), np.arange(1.0, 12.25, 1.25))


def test_stars_have_derived_columns(small_run):
    s = small_run.stars
    for c in ("R", "z", "v_phi", "R_g", "R_g_err", "Z_max", "population", "age_bin", "x", "y"):
        assert c in s.columns
    assert (s["R_g_err"] > 0).all()
    assert set(s["population"].unique()) <= {"thin", "thick", ""}
    thin = s[s.population == "thin"]
    assert (thin["Z_max"] < 0.25).all()


def test_cutflow_consistent(small_run):
    cf = small_run.cutflow
    shared = cf[cf["population"] == ""]
    assert shared["n_remaining"].iloc[-1] == len(small_run.stars)
    assert shared["n_remaining"].iloc[0] - shared["n_removed"].sum() == len(small_run.stars)
    # continued through each population: selection, age range, and the n_stars of every fitted bin
    for pop in ("thin", "thick"):
        rows = cf[cf["population"] == pop].set_index("cut")
        assert rows.loc[f"{pop} disk", "n_remaining"] == small_run.info[f"n_{pop}"]
        bins = rows[rows.index.str.startswith(f"{pop} age bin")]["n_remaining"].to_numpy()
        assert bins.sum() == rows.loc[f"{pop} age range", "n_remaining"]
        ols = small_run.fits[(small_run.fits.population == pop) & (small_run.fits.method == "ols")]
        np.testing.assert_array_equal(bins, ols["n_stars"].to_numpy())
    assert (np.diff(shared["n_remaining"]) <= 0).all()


def test_seed_reproducible(small_mock):
    sub = small_mock.stars.iloc[:3000]
    cfg = PipelineConfig(orbits=OrbitConfig(n_mc=20, seed=11))
    a = run_pipeline(sub, cfg)
    b = run_pipeline(sub, cfg)
    pd.testing.assert_frame_equal(a.fits, b.fits)
    np.testing.assert_array_equal(a.stars["R_g_err"], b.stars["R_g_err"])
    c = run_pipeline(sub, PipelineConfig(orbits=OrbitConfig(n_mc=20, seed=12)))
    assert not np.array_equal(a.stars["R_g_err"], c.stars["R_g_err"])


def test_nan_rows_are_dropped_and_counted(small_mock):
    sub = small_mock.stars.iloc[:2000].copy()
    sub.loc[sub.index[:7], "feh"] = np.nan
    sub.loc[sub.index[7:10], "distance"] = np.inf
    res = run_pipeline(sub, PipelineConfig(orbits=OrbitConfig(n_mc=10)))
    cf = res.cutflow.set_index("cut")
    assert cf.loc["finite feh", "n_removed"] == 7
    assert cf.loc["finite distance", "n_removed"] == 3


def test_no_survivors_is_a_clear_error(small_mock):
    sub = small_mock.stars.iloc[:50].copy()
    sub["mass"] = 0.5
    with pytest.raises(PipelineError, match=r"cut 'mass' .* leaving 0: median mass = 0.5 Msun.*\[cuts\] min_mass"):
        run_pipeline(sub)


def test_present_day_radius_option(small_mock):
    from mgar_bayes.binning import AgeBins
    from mgar_bayes.ols import fit_bins

    cfg = PipelineConfig(orbits=OrbitConfig(n_mc=10)).replace(fit={"radius": "R"})
    res = run_pipeline(small_mock.stars.iloc[:20_000], cfg)
    direct = fit_bins(res.stars, AgeBins.from_config(cfg.binning), x="R")
    np.testing.assert_allclose(res.fits["gradient"], direct["gradient"], equal_nan=True)
    by_rg = fit_bins(res.stars, AgeBins.from_config(cfg.binning), x="R_g")
    assert not np.allclose(res.fits["gradient"], by_rg["gradient"], equal_nan=True)


def test_parallax_route_without_distance_columns(small_mock):
    cat = small_mock.stars.iloc[:20_000].copy()
    ref = run_pipeline(cat, PipelineConfig(orbits=OrbitConfig(n_mc=10)))
    cat["parallax"] = 1.0 / cat["distance"]
    cat["parallax_err"] = cat["distance_err"] / cat["distance"] ** 2
    cat.loc[cat.index[:25], "parallax"] = -0.1  # non-physical: dropped and counted
    cat = cat.drop(columns=["distance", "distance_err"])
    with pytest.raises(PipelineError, match='distance_source = "parallax"'):
        run_pipeline(cat, PipelineConfig(orbits=OrbitConfig(n_mc=10)))
    res = run_pipeline(cat, PipelineConfig(orbits=OrbitConfig(n_mc=10, distance_source="parallax")))
    assert res.cutflow.set_index("cut").loc["parallax > zero point", "n_removed"] == 25
    common = ref.stars.set_index("source_id").join(res.stars.set_index("source_id"), rsuffix="_p", how="inner")
    np.testing.assert_allclose(common["R_g_p"], common["R_g"], rtol=1e-9)
    assert "distance_from_parallax" in res.stars.columns
    # with first-order-equal errors the MGAR barely moves
    t, p = ref.trend["thin"]["ols"], res.trend["thin"]["ols"]
    assert abs(t["rate"] - p["rate"]) < 2 * t["rate_err"]
