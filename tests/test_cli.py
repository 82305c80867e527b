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
    assert cutflow["n_remaining"].iloc[-1] == len(stars)
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
