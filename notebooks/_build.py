"""Write the tutorial notebooks (outputs empty) from the cell sources below.

Run ``python notebooks/_build.py`` and ``ruff format notebooks`` after editing; the .ipynb files
are what users open.
"""

from __future__ import annotations

from pathlib import Path

import nbformat as nbf

HERE = Path(__file__).parent

SMALL = '''import os
# MGAR_SMALL=1 (set by the test suite) runs every notebook on small settings.
SMALL = os.environ.get("MGAR_SMALL") == "1"
N_STARS = 20_000 if SMALL else 150_000
N_MC = 20 if SMALL else 100'''


def md(text):
    return nbf.v4.new_markdown_cell(text.strip())


def code(text):
    return nbf.v4.new_code_cell(text.strip())


NOTEBOOKS = {
    "01_quickstart.ipynb": [
        md("""
# Quick start: the MGAR of the bundled simulated Milky Way

This notebook loads the simulated LAMOST-like catalogue that ships with `mgar_bayes` (its
truth is known), runs the quality cuts of Chen et al. (2025, C25), computes guiding radii and
Z_max in `MWPotential2014`, selects the thin and thick disks by chemistry and Z_max, and fits
the metallicity gradient d[Fe/H]/dR_g per 1.25-Gyr age bin with weighted OLS (C25) and ODR
(Vickers et al. 2021).
"""),
        code(SMALL),
        code("""
import matplotlib.pyplot as plt
from mgar_bayes.mock import MockConfig, generate_mock
from mgar_bayes.config import PipelineConfig, OrbitConfig
from mgar_bayes.pipeline import run_pipeline
from mgar_bayes import plots

mock = generate_mock(MockConfig(n_stars=N_STARS, seed=2025))
mock.stars.head()
"""),
        md("The truth of the simulation: the present-day gradient per age bin, from noise-free values."),
        code("mock.truth.head(12)"),
        code("""
cfg = PipelineConfig(orbits=OrbitConfig(n_mc=N_MC))
res = run_pipeline(mock.stars, cfg, progress=True)
res.cutflow
"""),
        md("Where the stars are, and the thin/thick selection (C25 Fig. 1 analogue):"),
        code("fig, axes = plots.plot_sample_overview(res.stars)"),
        code("fig, axes = plots.plot_populations(res.stars)"),
        md("Per-bin fits and the MGAR trend, compared with the truth:"),
        code("""
ols = res.fits[res.fits.method == "ols"]
ols.merge(mock.truth[["population", "age_center", "gradient_true"]], on=["population", "age_center"])
"""),
        code("""
truth = mock.truth_summary()
for pop in ("thin", "thick"):
    t = res.trend[pop]["ols"]
    print(f"{pop}: rate {t['rate']:+.4f} +- {t['rate_err']:.4f} dex/kpc/Gyr (truth {truth[pop]['rate_true']:+.4f})")
fig, axes = plots.plot_mgar(res.fits, res.trend, method="ols")
"""),
        code("fig, axes = plots.plot_bin_fits(res.stars, res.fits, 'thin')"),
    ],
    "02_bayesian_models.ipynb": [
        md("""
# Bayesian models of the MGAR

Three model builders, each with `build_model()`, `fit()`, `save()`/`load()` and diagnostics:

- `BinGradientModel` — C25 Appendix A per age bin: truncated-normal [Fe/H] likelihood on
  [-1, 0.5], latent R_g, variance inflated by 1/P (P: probability that the true age lies in the
  bin). Its fast variant integrates R_g out (`models/marginal.toml`).
- `MGARTrendModel` — the line through the per-bin gradients (C25 Fig. 3), with a 98% HDI band.
- `HierarchicalMGARModel` — all bins of a population jointly around a line in age, with the
  age errors entering as a proper mixture over bins; its slope is the flattening rate.

Specs (priors + sampler settings) live in `models/*.toml`; copy one to make a variant.
"""),
        code(SMALL + """
DRAWS = 150 if SMALL else 1000"""),
        code("""
import warnings
import arviz as az
from mgar_bayes.mock import MockConfig, generate_mock
from mgar_bayes.config import PipelineConfig, OrbitConfig
from mgar_bayes.pipeline import run_pipeline
from mgar_bayes.models import (BinGradientModel, HierarchicalMGARModel, MGARTrendModel, ModelBuilder,
                               load_model_spec, compare_with_ols)
from mgar_bayes.models.plotting import plot_posterior_vs_ols

mock = generate_mock(MockConfig(n_stars=N_STARS, seed=2025))
res = run_pipeline(mock.stars, PipelineConfig(orbits=OrbitConfig(n_mc=N_MC)))
stars = res.stars.sample(n=4000, random_state=1) if SMALL else res.stars  # small settings: fewer stars
sampler = {"draws": DRAWS, "tune": DRAWS, "chains": 2, "backend": "pymc" if SMALL else "numpyro"}
"""),
        md("The fast (marginal) C25 model on the thin disk, then its diagnostics and per-bin gradients:"),
        code("""
marginal = BinGradientModel(load_model_spec("marginal").replace({"sampler": sampler}))
idata = marginal.fit(stars, res.bins, population="thin", seed=1)
marginal.diagnostics()
"""),
        code("""
post = marginal.gradient_table()
post
"""),
        md("Posterior vs OLS per bin, in units of the combined error, and against the simulation's truth:"),
        code("""
cmp = compare_with_ols(post, res.fits)
cmp.merge(mock.truth[["population", "age_center", "gradient_true"]], on=["population", "age_center"], how="left")
"""),
        code("az.plot_forest(idata, var_names=['gradient'], combined=True, hdi_prob=0.98);"),
        md("The MGAR line through the posterior gradients (C25 Fig. 3 / A1):"),
        code("""
trend = MGARTrendModel(load_model_spec("c25").replace({"sampler": sampler}))
trend.fit(post, seed=2)
print(trend.flattening_rate(), "truth:", mock.truth_summary()["thin"]["rate_true"])
fig, axes = plot_posterior_vs_ols(post, res.fits, {("thin", post["model"].iloc[0]): trend.band()}, populations=("thin",))
"""),
        md("Results are `az.InferenceData` with diagnostics in their attrs; save as netCDF and load back:"),
        code("""
import tempfile, pathlib
path = marginal.save(pathlib.Path(tempfile.mkdtemp()) / "thin_marginal.nc")
again = ModelBuilder.load(path)
{k: again.idata.attrs[k] for k in ("model", "seed", "max_r_hat", "divergences") if k in again.idata.attrs}
"""),
        md("The hierarchical model: one joint fit per population, age errors as a mixture over bins."),
        code("""
hier = HierarchicalMGARModel(load_model_spec("hierarchical").replace({"sampler": sampler}))
with warnings.catch_warnings():
    warnings.simplefilter("default")
    hier.fit(stars.iloc[:1500] if SMALL else stars, res.bins, population="thin", seed=3)
hier.flattening_rate()
"""),
    ],
    "03_prior_sensitivity.ipynb": [
        md("""
# Prior sensitivity

Re-fit the C25 model under several prior sets (`models/c25.toml`, `c25_wide`, `c25_narrow`,
`c25_scatter`; add your own TOML file to `models/`) and see how far each bin's posterior moves
in units of its standard deviation. ArviZ's power-scaling diagnostic (`az.psens`) gives a
second view without re-fitting.
"""),
        code(SMALL + """
DRAWS = 150 if SMALL else 1000"""),
        code("""
from mgar_bayes.mock import MockConfig, generate_mock
from mgar_bayes.config import PipelineConfig, OrbitConfig
from mgar_bayes.pipeline import run_pipeline
from mgar_bayes.models import available_specs, prior_sensitivity, power_scaling_sensitivity, BinGradientModel, load_model_spec

mock = generate_mock(MockConfig(n_stars=N_STARS, seed=2025))
res = run_pipeline(mock.stars, PipelineConfig(orbits=OrbitConfig(n_mc=N_MC)))
stars = res.stars.sample(n=3000, random_state=1) if SMALL else res.stars  # small settings: fewer stars
available_specs()
"""),
        code("""
specs = ["marginal", "c25_wide", "c25_narrow", "c25_scatter"]
overrides = {"sampler": {"draws": DRAWS, "tune": DRAWS, "chains": 2, "backend": "pymc" if SMALL else "numpyro"},
             "priors": {"rg_treatment": "gaussian"}}
sens = prior_sensitivity(stars, res.bins, specs, population="thin", overrides=overrides)
sens
"""),
        code("""
sens.pivot_table(index="age_center", columns="spec", values="shift_sd")
"""),
        code("""
m = BinGradientModel(load_model_spec("marginal").replace(overrides))
m.fit(stars, res.bins, population="thin", seed=4)
power_scaling_sensitivity(m)
"""),
    ],
    "04_robustness.ipynb": [
        md("""
# Robustness: how the MGAR depends on the analysis choices

The variants of C25 Appendices B and C and V21 Section 4.1: the chemical line shifted by
+-0.1 dex without the Z_max cut, Z_max-only and chemistry-only slices, V21's line, three galpy
potentials, R0 and v0, the age-error cut, RGB/RC separately, and the thick disk without
R_g > 10 kpc. Orbits are computed once per Galaxy set-up; set-ups run in parallel.
"""),
        code(SMALL),
        code("""
from mgar_bayes.mock import MockConfig, generate_mock
from mgar_bayes.config import PipelineConfig, OrbitConfig
from mgar_bayes.robustness import default_variants, run_robustness
from mgar_bayes import plots

mock = generate_mock(MockConfig(n_stars=N_STARS, seed=2025))
base = PipelineConfig(orbits=OrbitConfig(n_mc=N_MC))
variants = default_variants(base)
if SMALL:  # McMillan17 alone costs about a minute to load: skip it on small settings
    variants = [v for v in variants if v.name != "potential=McMillan17"]
[v.name for v in variants]
"""),
        code("""
table, setups = run_robustness(mock.stars, variants, n_jobs=2)
table.head()
"""),
        code("""
for group in ("selection", "galaxy", "data"):
    fig, axes = plots.plot_robustness(table, group)
"""),
        md("How far each variant moves the thin-disk gradients, in units of the combined error:"),
        code("""
from mgar_bayes.robustness import compare_to_baseline
shifts = compare_to_baseline(table)
shifts.groupby(["variant", "population"])["shift_sigma"].apply(lambda z: z.abs().max()).unstack()
"""),
    ],
    "05_your_own_survey.ipynb": [
        md("""
# Using your own survey

Any CSV, Parquet or FITS table works once its column names map onto `mgar_bayes`'s canonical
ones (units converted with `astropy.units`). This notebook writes a small survey-like file
with its own names and units, maps it, shows what happens with bad rows, and reads files in
the format of the LAMOST DR8 giant VAC + RGB/RC age catalogue that C25 used.
"""),
        code(SMALL),
        code("""
import tempfile, pathlib
import numpy as np
from mgar_bayes.mock import MockConfig, generate_mock
from mgar_bayes.io import read_catalogue, read_lamost_dr8
from mgar_bayes.schema import CatalogueError, REQUIRED_COLUMNS

[(c.name, c.unit) for c in REQUIRED_COLUMNS]
"""),
        md("A survey with its own column names, and distances in pc:"),
        code("""
work = pathlib.Path(tempfile.mkdtemp())
stars = generate_mock(MockConfig(n_stars=2000, seed=5)).stars
survey = stars.rename(columns={"source_id": "designation", "feh": "FE_H", "feh_err": "FE_H_ERR"})
survey["dist_pc"] = survey.pop("distance") * 1000
survey["dist_pc_err"] = survey.pop("distance_err") * 1000
survey.to_csv(work / "survey.csv", index=False)
(work / "map.toml").write_text('''
[columns]
source_id = "designation"
feh = "FE_H"
feh_err = "FE_H_ERR"
distance = { column = "dist_pc", unit = "pc" }
distance_err = { column = "dist_pc_err", unit = "pc" }
''')
table = read_catalogue(work / "survey.csv", work / "map.toml")
table[["source_id", "feh", "distance"]].head()
"""),
        md("Bad input gives a clear error naming the column and rows, never a silent wrong answer:"),
        code("""
bad = survey.copy()
bad.loc[[3, 17], "FE_H_ERR"] = -0.1
bad.to_csv(work / "bad.csv", index=False)
try:
    read_catalogue(work / "bad.csv", work / "map.toml")
except CatalogueError as err:
    print(err)
"""),
        md("Missing values (NaN) are not errors: the pipeline drops them and counts them in the cut-flow."),
        code("""
from mgar_bayes.pipeline import run_pipeline
from mgar_bayes.config import PipelineConfig, OrbitConfig
t = table.copy()
t.loc[t.index[:25], "rv"] = np.nan
res = run_pipeline(t, PipelineConfig(orbits=OrbitConfig(n_mc=10)))
res.cutflow[res.cutflow.n_removed > 0]
"""),
        md("""
## The LAMOST DR8 files

`read_lamost_dr8(vac, ages)` joins the giant VAC (`dr8_final_vac_flag_parameter.fits`) with the
RGB/RC age catalogue on `obsid`, picks the RGB or RC age, mass and fractional age error by
`status`, converts the positional errors from pc to kpc, and keeps the catalogue's own
Galactocentric coordinates, which the pipeline then uses instead of recomputing. With your
files: `mgar run dr8_final_vac_flag_parameter.fits --lamost-ages ages.fits --out DIR`.
Check `vphi_sign`: disk stars must come out with v_phi of about +200 km/s.
"""),
    ],
}


def main() -> None:
    for name, cells in NOTEBOOKS.items():
        nb = nbf.v4.new_notebook()
        nb.cells = cells
        for i, cell in enumerate(nb.cells):  # stable ids: a rebuild changes only what was edited
            cell["id"] = f"{Path(name).stem[:2]}-{i:02d}"
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nbf.write(nb, HERE / name)
        print("wrote", HERE / name)


if __name__ == "__main__":
    main()
