"""``mgar fit``: fit a named model to the thin and thick disks and write its outputs.

Files written into ``out_dir``:

- ``posterior_<population>_<model>.nc``: the InferenceData of each fit;
- ``mgar_bayes.csv``: per-bin posterior table (:data:`TABLE_COLUMNS`); rows of
  other models already in the file are kept, rows of this model replaced;
- ``mgar_bayes_vs_ols.csv``: posterior vs OLS per bin (when an OLS table is given);
- ``figures/posterior_vs_ols.png``: C25 Fig. A1 analogue.

A posterior file from a *different* earlier run (other spec, seed or input
data) is never silently replaced: :func:`run_fit` raises ``FileExistsError``
unless ``overwrite=True``. A file from the *same* run is re-used without
re-sampling.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import arviz as az
import numpy as np
import pandas as pd

from ..binning import AgeBins
from . import builder_for
from .base import ModelBuilder, prepare_stars
from .compare import compare_with_ols
from .config import load_model_spec
from .gradient import TABLE_COLUMNS, BinGradientModel, HierarchicalMGARModel
from .plotting import plot_posterior_vs_ols
from .trend import MGARTrendModel

__all__ = ["run_fit", "POPULATIONS"]

POPULATIONS = ("thin", "thick")


def _same_run(path: Path, spec_json: str, seed: int, data_hash: str) -> bool:
    idata = az.from_netcdf(str(path))
    a = idata.attrs
    return a.get("config") == spec_json and int(a.get("seed", -1)) == seed and a.get("data_sha256") == data_hash


def run_fit(
    stars: pd.DataFrame,
    bins: AgeBins,
    model: str,
    out_dir: Path,
    *,
    ols_table: pd.DataFrame | None = None,
    seed: int = 0,
    overrides: dict | None = None,
    progress: bool = True,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Fit model ``model`` to each population and write the outputs.

    Parameters
    ----------
    stars : pandas.DataFrame
        Star table with ``feh, feh_err, R_g, R_g_err, age, age_err,
        population, source_id``.
    bins : AgeBins
        Age bins (by observed age).
    model : str
        Model spec name (``models/NAME.toml``) or TOML path.
    out_dir : pathlib.Path
        Output directory (created).
    ols_table : pandas.DataFrame, optional
        OLS/ODR table of :mod:`mgar_bayes.ols` for the comparison and figure.
    seed : int
        Seed of every sampler run.
    overrides : dict, optional
        Changes to the spec, e.g. ``{"sampler": {"draws": 500}}``.
    progress : bool
        Show progress bars.
    overwrite : bool
        Replace posterior files of a different earlier run.

    Returns
    -------
    dict
        Per population: ``model``, ``builder``, ``n_stars``,
        ``flattening_rate`` and ``mean_gradient`` (each ``mean, sd, hdi_lo,
        hdi_hi``; dex/kpc/Gyr and dex/kpc), ``hdi_prob``, ``converged``,
        ``max_r_hat``, ``divergences``, ``posterior_file``, ``counts``.

    Raises
    ------
    FileExistsError
        A posterior file of a different run exists and ``overwrite`` is False.
    """
    spec = load_model_spec(model).replace(overrides)
    if spec.builder == "trend":
        raise ValueError(f"model {model!r} is a trend model; give a star model (c25, hierarchical, marginal)")
    out_dir = Path(out_dir)
    (out_dir / "figures").mkdir(parents=True, exist_ok=True)
    pops = [p for p in POPULATIONS if "population" in stars.columns and (stars["population"] == p).any()]
    if not pops:
        raise ValueError("no 'thin' or 'thick' stars in the table (column 'population')")

    # check every target before any sampling, so a refusal leaves nothing half-written
    plan = {}
    for pop in pops:
        path = out_dir / f"posterior_{pop}_{spec.name}.nc"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            data_hash = prepare_stars(stars, bins, spec.priors, population=pop).hash()
        reuse = False
        if path.exists():
            reuse = _same_run(path, spec.to_json(), seed, data_hash)
            if not reuse and not overwrite:
                raise FileExistsError(
                    f"{path} holds a different earlier fit (other config, seed or data); "
                    "use another --out directory or overwrite=True"
                )
        plan[pop] = (path, reuse)

    summary: dict[str, Any] = {}
    tables, bands = [], {}
    for pop, (path, reuse) in plan.items():
        if reuse:
            builder = ModelBuilder.load(path)
        else:
            builder = builder_for(spec)
            builder.fit(stars, bins, population=pop, seed=seed, progress=progress)
            builder.save(path)
        table = builder.gradient_table()
        tables.append(table)
        if isinstance(builder, HierarchicalMGARModel):
            rate = builder.flattening_rate()
            bands[(pop, spec.name)] = builder.band()
        else:
            assert isinstance(builder, BinGradientModel)
            trend = MGARTrendModel(spec)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                trend.fit(table, seed=seed, progress=False)
            rate = trend.flattening_rate()
            bands[(pop, spec.name)] = trend.band(np.linspace(bins.edges[0], bins.edges[-1], 50))
        a = builder.idata.attrs
        summary[pop] = {
            "model": spec.name,
            "builder": spec.builder,
            "n_stars": int(builder.data.n),
            "flattening_rate": rate,
            "mean_gradient": builder.mean_gradient(),
            "hdi_prob": spec.priors.hdi_prob,
            "converged": bool(a.get("converged", 0)),
            "max_r_hat": float(a.get("max_r_hat", np.nan)),
            "divergences": int(a.get("divergences", 0)),
            "posterior_file": path.name,
            "counts": json.loads(a.get("counts", "{}")),
        }

    new = pd.concat(tables, ignore_index=True)
    csv = out_dir / "mgar_bayes.csv"
    if csv.exists():
        old = pd.read_csv(csv, keep_default_na=False, na_values=[""])
        new_all = pd.concat([old[old["model"] != spec.name], new[TABLE_COLUMNS]], ignore_index=True)
    else:
        new_all = new[TABLE_COLUMNS]
    new_all.to_csv(csv, index=False)
    if ols_table is not None:
        comp = compare_with_ols(new_all, ols_table)
        comp.to_csv(out_dir / "mgar_bayes_vs_ols.csv", index=False)
    # all models in the CSV are drawn, so re-running one model never loses another's points
    fig, _ = plot_posterior_vs_ols(new_all, ols_table, bands, hdi_prob=spec.priors.hdi_prob)
    fig.savefig(out_dir / "figures" / "posterior_vs_ols.png", dpi=130)
    return summary
