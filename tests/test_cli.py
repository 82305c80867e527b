"""End-to-end command line: mgar run / mgar mock on small simulated catalogues."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from mgar_bayes.cli import main
from mgar_bayes.mock import MockConfig, generate_mock
from mgar_bayes.ols import FIT_COLUMNS


@pytest.fixture(scope="module")
def catalogue_csv(tmp_path_factory):
    d = tmp_path_factory.mktemp("cat")
    m = generate_mock(MockConfig(n_stars=12_000, seed=21))
    path = d / "stars.csv"
    m.stars.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def fast_config(tmp_path_factory):
    p = tmp_path_factory.mktemp("cfg") / "fast.toml"
    p.write_text("[orbits]\nn_mc = 20\nseed = 5\n")
    return p


def test_run_writes_all_outputs(catalogue_csv, fast_config, tmp_path, capsys):
    out = tmp_path / "run"
    rc = main(["run", str(catalogue_csv), "--out", str(out), "--config", str(fast_config), "--no-progress"])
    assert rc == 0
    fits = pd.read_csv(out / "mgar_ols.csv")
    assert list(fits.columns) == FIT_COLUMNS
    assert set(fits.population) == {"thin", "thick"} and set(fits.method) == {"ols", "odr"}
    summary = json.loads((out / "summary.json").read_text())
    for pop in ("thin", "thick"):
        for m in ("ols", "odr"):
            entry = summary["populations"][pop][m]
            assert {"rate", "rate_err", "mean_gradient"} <= set(entry)
    assert summary["populations"]["thin"]["ols"]["rate"] > 0
    cutflow = pd.read_csv(out / "cutflow.csv")
    stars = pd.read_parquet(out / "stars.parquet")
    assert cutflow[cutflow["population"].isna()]["n_remaining"].iloc[-1] == len(stars)
    for c in ("source_id", "feh", "R", "z", "v_phi", "R_g", "R_g_err", "Z_max", "population"):
        assert c in stars.columns
    figs = sorted(p.name for p in (out / "figures").glob("*.png"))
    assert "fig1_sample_overview.png" in figs and "fig3_mgar_ols.png" in figs
    assert "clean sample" in capsys.readouterr().out


def test_rerun_refuses_different_inputs(catalogue_csv, fast_config, tmp_path, capsys):
    out = tmp_path / "run"
    args = ["run", str(catalogue_csv), "--out", str(out), "--no-progress", "--no-figures"]
    assert main(args + ["--config", str(fast_config)]) == 0
    before = (out / "mgar_ols.csv").read_bytes()
    other = tmp_path / "other.toml"
    other.write_text("[orbits]\nn_mc = 20\n[galaxy]\nR0 = 8.0\n")
    assert main(args + ["--config", str(other)]) == 2
    assert "different inputs" in capsys.readouterr().err
    assert (out / "mgar_ols.csv").read_bytes() == before  # untouched
    assert main(args + ["--config", str(other), "--overwrite"]) == 0
    # the same inputs again are accepted and give identical numbers
    assert main(args + ["--config", str(other)]) == 0


def test_refuses_foreign_non_empty_dir(catalogue_csv, tmp_path, capsys):
    out = tmp_path / "busy"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    assert main(["run", str(catalogue_csv), "--out", str(out), "--no-progress"]) == 2
    assert "not empty" in capsys.readouterr().err
    assert (out / "notes.txt").read_text() == "mine"


def test_bad_catalogue_is_a_clear_error(tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"source_id": [1, 2], "ra": [1.0, 2.0]}).to_csv(bad, index=False)
    assert main(["run", str(bad), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "missing required column" in err and "dec" in err
    assert main(["run", str(tmp_path / "nope.csv"), "--out", str(tmp_path / "o2")]) == 2


def test_mock_command(tmp_path, capsys):
    out = tmp_path / "mock"
    assert main(["mock", "--out", str(out), "--n-stars", "2000", "--seed", "4"]) == 0
    truth = pd.read_csv(out / "truth_bins.csv")
    assert set(truth.population) == {"thin", "thick"}
    assert len(pd.read_parquet(out / "catalogue.parquet")) == 2000
    meta = json.loads((out / "truth.json").read_text())
    assert np.isfinite(meta["summary"]["thin"]["rate_true"])
    assert main(["mock", "--out", str(out), "--n-stars", "2000"]) == 2  # no silent overwrite


def _write_lamost_pair(tmp_path, n=6000, seed=31):
    """The simulated catalogue written in the LAMOST DR8 VAC + age-catalogue formats."""
    from astropy.table import Table

    from mgar_bayes.config import OrbitConfig
    from mgar_bayes.orbits import compute_orbits

    m = generate_mock(MockConfig(n_stars=n, seed=seed))
    s = m.stars
    d, _ = compute_orbits(s, orbits=OrbitConfig(n_mc=30))
    phi = np.deg2rad(d["phi"])
    vac = Table(
        {
            "obsid": s["source_id"].to_numpy() + 10_000_000,
            "FEH_APOGEE": s["feh"], "err_feh_apogee": s["feh_err"],
            "AFE_APOGEE": s["afe"], "err_afe_apogee": s["afe_err"],
            "flag_feh_apogee": s["flag_feh"], "flag_afe_apogee": s["flag_afe"],
            "snrg": s["snr"], "rv": s["rv"], "err_rv": s["rv_err"],
            "dist_phot": s["distance"], "err_dist_phot": s["distance_err"],
            # positions and their errors in pc, as in the real VAC (C25's script divides by 8270)
            "x": 1000 * d["R"] * np.cos(phi), "y": 1000 * d["R"] * np.sin(phi), "z": 1000 * d["z"],
            "r": 1000 * d["R"], "phi": d["phi"],
            "err_x": 1000 * d["R_err"], "err_y": 1000 * d["R_err"], "err_z": 1000 * d["z_err"],
            "err_r": 1000 * d["R_err"],
            "vr": d["v_R"], "vphi": d["v_phi"], "vz": d["v_z"],
            "e_vr": d["v_R_err"], "e_vphi": d["v_phi_err"], "e_vz": d["v_z_err"],
        }
    )  # fmt: skip
    rc = (s["evol_stage"] == "RC").to_numpy()
    frac = (s["age_err"] / s["age"]).to_numpy()
    ages = Table(
        {
            "obsid": vac["obsid"],
            "status": rc.astype(int),
            "age_rgb": np.where(rc, np.nan, s["age"]), "err_age_rgb": np.where(rc, np.nan, frac),
            "mass_rgb": np.where(rc, np.nan, s["mass"]),
            "age_rc": np.where(rc, s["age"], np.nan), "err_age_rc": np.where(rc, frac, np.nan),
            "mass_rc": np.where(rc, s["mass"], np.nan),
            "snr": s["snr"],
        }
    )  # fmt: skip
    vac.write(tmp_path / "dr8_final_vac_flag_parameter.fits")
    ages.write(tmp_path / "ages.fits")
    return tmp_path / "dr8_final_vac_flag_parameter.fits", tmp_path / "ages.fits", d, m


def test_run_on_lamost_format_files(tmp_path, fast_config):
    vac, ages, derived, mock = _write_lamost_pair(tmp_path, n=40_000)
    out = tmp_path / "lamost_run"
    rc = main(["run", str(vac), "--lamost-ages", str(ages), "--out", str(out),
               "--config", str(fast_config), "--no-progress", "--no-figures"])  # fmt: skip
    assert rc == 0
    stars = pd.read_parquet(out / "stars.parquet")
    summary = json.loads((out / "summary.json").read_text())
    assert summary["orbits"]["used_catalogue_galcen"] is True
    assert set(stars["evol_stage"]) == {"RGB", "RC"}
    # the catalogue's own R and v_phi are used as given (pc errors converted to kpc)
    src = derived.set_index(derived.index + 1 + 10_000_000)
    np.testing.assert_allclose(stars["R"].to_numpy(), src.loc[stars["source_id"], "R"].to_numpy(), rtol=1e-5)
    np.testing.assert_allclose(stars["R_err"].to_numpy(), src.loc[stars["source_id"], "R_err"].to_numpy(), rtol=1e-4)
    assert (stars.population == "thin").sum() > 100
    # read with no unit options, the C25-layout files give the simulation's MGAR back
    thin = summary["populations"]["thin"]["ols"]
    truth = mock.truth_summary()["thin"]["rate_true"]
    assert abs(thin["rate"] - truth) < 3 * thin["rate_err"] + 0.0005, (thin, truth)
    assert summary["catalogue_columns"] == ["galcen"]
    assert summary["catalogue"]["reader"]["lamost"]["snr_source"] == "age"


def test_fit_command_reuses_run_and_writes_posteriors(catalogue_csv, fast_config, tmp_path):
    out = tmp_path / "fit"
    base = ["--out", str(out), "--config", str(fast_config), "--no-progress", "--no-figures"]
    assert main(["run", str(catalogue_csv), *base]) == 0
    stars_before = (out / "stars.parquet").stat().st_mtime_ns
    rc = main(["fit", str(catalogue_csv), *base, "--model", "marginal", "--draws", "150", "--tune", "150",
               "--chains", "2", "--backend", "numpyro", "--seed", "3"])  # fmt: skip
    assert rc == 0
    assert (out / "stars.parquet").stat().st_mtime_ns == stars_before  # pipeline run re-used
    table = pd.read_csv(out / "mgar_bayes.csv")
    assert list(table.columns) == ["population", "model", "age_lo", "age_hi", "age_center", "n_stars", "gradient",
                                   "gradient_err", "hdi_lo", "hdi_hi", "r_hat", "ess_bulk", "divergences"]  # fmt: skip
    assert (out / "posterior_thin_marginal.nc").exists()
    summary = json.loads((out / "summary.json").read_text())
    assert "marginal" in summary["bayes"] and "populations" in summary  # OLS summary kept
    thin = table[table.population == "thin"].dropna(subset=["gradient"])
    assert (thin.hdi_lo < thin.gradient).all() and (thin.gradient < thin.hdi_hi).all()
