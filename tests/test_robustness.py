"""Robustness grid: orbit re-use, variants that change what they should."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mgar_bayes.config import OrbitConfig, PipelineConfig
from mgar_bayes.robustness import ROBUSTNESS_COLUMNS, Variant, default_variants, run_robustness
from mgar_bayes.selection import zmax_bins


@pytest.fixture(scope="module")
def grid(small_mock):
    base = PipelineConfig(orbits=OrbitConfig(n_mc=20))
    variants = [
        Variant("baseline", "baseline", "baseline", "C25", base),
        Variant("Zmax only", "selection", "zmax_only", "B2", base, zmax_bins()),
        Variant("R0=7", "galaxy", "R0", "7", base.replace(galaxy={"R0": 7.0})),
        Variant("RGB only", "data", "evol_stage", "RGB", base,
                star_filter=lambda s: (s["evol_stage"] == "RGB").to_numpy()),  # fmt: skip
    ]
    table, setups = run_robustness(small_mock.stars.iloc[:30_000], variants, n_jobs=2)
    return table, setups


def test_orbits_computed_once_per_galaxy_setup(grid):
    table, setups = grid
    assert len(setups) == 2  # baseline set-up shared by 3 variants + R0=7
    assert list(table.columns) == ROBUSTNESS_COLUMNS


def test_variants_change_what_they_should(grid):
    table, _ = grid
    base = table[table.variant == "baseline"].set_index(["population", "age_center"])
    rgb = table[table.variant == "RGB only"].set_index(["population", "age_center"])
    assert (rgb["n_stars"] <= base["n_stars"]).all() and (rgb["n_stars"] < base["n_stars"]).any()
    r0 = table[table.variant == "R0=7"].set_index(["population", "age_center"])
    assert not np.allclose(r0["gradient"].dropna(), base["gradient"].reindex(r0["gradient"].dropna().index))
    zm = table[table.variant == "Zmax only"]
    assert set(zm.population) == {"Zmax 0-0.25", "Zmax 0.25-0.8", "Zmax 0.8-2", "Zmax 2-6"}


def test_default_grid_covers_the_papers():
    names = {v.name for v in default_variants()}
    for expected in ("chem+0.1 no Zmax", "chem-0.1 no Zmax", "Zmax only", "chemistry only (V21 slices)", "V21 line",
                     "potential=McMillan17", "potential=Irrgang13I", "R0=7", "R0=9.5", "v0=200", "v0=260",
                     "age error <= 25%", "RGB only", "RC only", "thick R_g <= 10 kpc"):  # fmt: skip
        assert expected in names
    keys = {v.orbit_key() for v in default_variants()}
    assert len(keys) == 7  # baseline + 2 potentials + 2 R0 + 2 v0


def test_duplicate_names_rejected(small_mock):
    v = Variant("a", "data", "x", "1")
    with pytest.raises(ValueError, match="unique"):
        run_robustness(small_mock.stars.iloc[:100], [v, v])


@pytest.mark.slow  # the full grid loads McMillan17 (~1 min on 2 cores)
def test_robustness_cli(small_mock, tmp_path):
    from mgar_bayes.cli import main

    cat = tmp_path / "cat.parquet"
    small_mock.stars.iloc[:8000].to_parquet(cat)
    cfg = tmp_path / "c.toml"
    cfg.write_text("[orbits]\nn_mc = 10\n")
    rc = main(["robustness", str(cat), "--out", str(tmp_path / "rob"), "--config", str(cfg),
               "--no-progress", "--jobs", "2"])  # fmt: skip
    assert rc == 0
    t = pd.read_csv(tmp_path / "rob" / "robustness.csv")
    assert {"selection", "galaxy", "data", "baseline"} == set(t.group)
    assert (tmp_path / "rob" / "figures" / "robustness_galaxy.png").exists()


def test_compare_to_baseline(grid):
    from mgar_bayes.robustness import compare_to_baseline

    table, _ = grid
    cmp = compare_to_baseline(table)
    assert set(cmp.variant) == {"R0=7", "RGB only"}  # Zmax-only slices have no baseline population
    row = cmp.dropna().iloc[0]
    base = table[(table.variant == "baseline") & (table.population == row.population)
                 & (table.age_center == row.age_center)].iloc[0]  # fmt: skip
    var = table[(table.variant == row.variant) & (table.population == row.population)
                & (table.age_center == row.age_center)].iloc[0]  # fmt: skip
    expected = (var.gradient - base.gradient) / np.hypot(var.gradient_err, base.gradient_err)
    assert row.shift_sigma == pytest.approx(expected)


def test_bayes_method_on_request(small_mock):
    base = PipelineConfig(orbits=OrbitConfig(n_mc=10))
    variants = [
        Variant("baseline", "baseline", "baseline", "C25", base),
        Variant("V21 line", "selection", "chem_line", "V21", base.replace(selection={"chem_line": "V21"})),
    ]
    over = {"sampler": {"backend": "pymc", "draws": 100, "tune": 100, "chains": 2, "cores": 1}}
    table, _ = run_robustness(small_mock.stars.iloc[:6000], variants, methods=("ols", "bayes"), n_jobs=1,
                              bayes_overrides=over)  # fmt: skip
    assert set(table.method) == {"ols", "bayes"}
    b = table[(table.method == "bayes") & (table.variant == "baseline") & (table.population == "thin")].dropna()
    o = table[(table.method == "ols") & (table.variant == "baseline") & (table.population == "thin")]
    m = b.merge(o, on="age_center", suffixes=("_b", "_o"))
    assert len(m) >= 3
    # posterior and OLS agree within a few combined errors in well-populated bins
    z = (m.gradient_b - m.gradient_o) / np.hypot(m.gradient_err_b, m.gradient_err_o)
    assert (np.abs(z) < 4).all(), z
