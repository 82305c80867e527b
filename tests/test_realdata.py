"""The shared real tables end to end through ``mgar run`` and ``mgar fit``, with their presets.

Each table runs with its preset's selection and with the Z_max cuts toggled (C25's
0.25/2 kpc on, or chemistry only). A run either succeeds (tables, figures) or stops
with a clear error (exit 2, the reason and the fix, no traceback) when the toggled
selection leaves a population nothing to fit. Skipped without ``../shared/realdata``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from mgar_bayes.cli import main
from mgar_bayes.surveys import load_preset

REALDATA = Path(__file__).resolve().parents[1].parent / "shared" / "realdata"
pytestmark = pytest.mark.skipif(not REALDATA.is_dir(), reason="../shared/realdata is not here")

TABLES = ("corot_apogee_anders2017", "kepler_apogee_miglio2021", "k2_galah_zinn2022", "apogee_dr17_montalban2021")
FAST = "[orbits]\nn_mc = 30\n"


def _zmax_toggled(name: str) -> str:
    """The other Z_max choice than the preset's: C25's cuts if it has none, else none."""
    sel = load_preset(name).config.get("selection", {})
    off = sel.get("thin_zmax_max") == "off" or sel.get("thick_zmax_min") == "off"
    cuts = "thin_zmax_max = 0.25\nthick_zmax_min = 2.0\n" if off else 'thin_zmax_max = "off"\nthick_zmax_min = "off"\n'
    return FAST + "[selection]\n" + cuts


def _run(name, out, cfg_text, capsys, tmp_path, extra=()):
    cfg = tmp_path / f"{out.name}.toml"
    cfg.write_text(cfg_text)
    rc = main(["run", str(REALDATA / f"{name}.fits"), "--survey", name, "--out", str(out), "--config", str(cfg),
               "--no-progress", *extra])  # fmt: skip
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    return rc, captured


@pytest.mark.parametrize("name", TABLES)
def test_run_with_the_preset_and_with_zmax_toggled(name, tmp_path, capsys):
    out = tmp_path / "preset"
    rc, cap = _run(name, out, FAST, capsys, tmp_path)
    assert rc == 0, cap.err
    fits = pd.read_csv(out / "mgar_ols.csv")
    analysed = set(json.loads((out / "summary.json").read_text())["config"]["selection"]["populations"])
    assert set(fits["population"]) == analysed
    assert fits["gradient"].notna().any()
    figs = {p.name for p in (out / "figures").glob("*.png")}
    assert {"fig1_sample_overview.png", "fig2_populations.png", "fig3_mgar_ols.png"} <= figs
    summary = json.loads((out / "summary.json").read_text())
    assert summary["catalogue"]["survey"] == name
    assert summary["catalogue"]["reader"]["survey"]["name"] == name  # what the reader assumed is recorded

    rc, cap = _run(name, tmp_path / "toggled", _zmax_toggled(name), capsys, tmp_path)
    if rc != 0:
        # the only acceptable failure: a clear statement of why nothing can be fitted, and the fix
        assert rc == 2 and "mgar run: error: " in cap.err
        assert any(w in cap.err for w in ("no age bin with enough stars", "there is no Z_max")), cap.err


def test_fit_on_a_real_table(tmp_path, capsys):
    name = "apogee_dr17_montalban2021"
    out = tmp_path / "fit"
    cfg = tmp_path / "fast.toml"
    cfg.write_text(FAST)
    rc = main(["fit", str(REALDATA / f"{name}.fits"), "--survey", name, "--out", str(out), "--config", str(cfg),
               "--model", "marginal", "--draws", "200", "--tune", "200", "--no-progress", "--no-figures"])  # fmt: skip
    err = capsys.readouterr().err
    assert rc == 0 and "Traceback" not in err, err
    table = pd.read_csv(out / "mgar_bayes.csv")
    assert set(table["population"]) == {"thick"} and table["gradient"].notna().any()
    assert (out / "posterior_thick_marginal.nc").is_file()


@pytest.mark.slow
@pytest.mark.parametrize("name", TABLES)
def test_fit_every_real_table_with_figures(name, tmp_path, capsys):
    out = tmp_path / "fit"
    cfg = tmp_path / "fast.toml"
    cfg.write_text(FAST)
    rc = main(["fit", str(REALDATA / f"{name}.fits"), "--survey", name, "--out", str(out), "--config", str(cfg),
               "--model", "marginal", "--no-progress"])  # fmt: skip
    err = capsys.readouterr().err
    assert rc == 0 and "Traceback" not in err, err
    assert (out / "figures" / "posterior_vs_ols.png").stat().st_size > 1000
    summary = json.loads((out / "summary.json").read_text())
    assert "marginal" in summary["bayes"]
