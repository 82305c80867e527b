"""``mgar fit``: fit a named model to the thin and thick disks and write its outputs.

Files written into ``out_dir``:

- ``posterior_<population>_<model>.nc``: the InferenceData of each fit;
- ``mgar_bayes.csv``: per-bin posterior table (:data:`TABLE_COLUMNS`); rows of
  other models already in the file are kept, rows of this model replaced;
- ``mgar_bayes_bands.csv``: the MGAR line's posterior mean, HDI band and flattening
  rate of every model in ``mgar_bayes.csv`` (:func:`~.plotting.bands_table`);
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
from ..plots import save_figure
from ..reports import write_frame
from . import builder_for
from .base import ModelBuilder
from .compare import compare_with_ols
from .config import ModelSpec, load_model_spec
from .gradient import TABLE_COLUMNS
from .plotting import BAND_COLUMNS, bands_table, plot_posterior_vs_ols

__all__ = ["run_fit", "POPULATIONS"]

POPULATIONS = ("thin", "thick")


def _same_run(path: Path, spec_json: str, seed: int, data_hash: str) -> bool | None:
    """Whether ``path`` holds this very fit; None when it cannot be read."""
    try:
        a = dict(az.from_netcdf(str(path)).attrs)
    except Exception:  # noqa: BLE001 - a partial or foreign file, whatever the library says
        return None
    try:
        seed_ok = int(a.get("seed", -1)) == seed
    except (TypeError, ValueError):
        return None
    return a.get("config") == spec_json and seed_ok and a.get("data_sha256") == data_hash


def run_fit(
    stars: pd.DataFrame,
    bins: AgeBins,
    model: str | Path | ModelSpec,
    out_dir: Path,
    *,
    ols_table: pd.DataFrame | None = None,
    seed: int = 0,
    overrides: dict | None = None,
    progress: bool = True,
    overwrite: bool = False,
    populations: tuple[str, ...] = POPULATIONS,
    figures: bool = True,
    truth: pd.DataFrame | None = None,
    radius: str = "R_g",
) -> dict[str, Any]:
    """Fit model ``model`` to each population and write the outputs.

    Parameters
    ----------
    stars : pandas.DataFrame
        Star table with ``feh, feh_err, R_g, R_g_err, age, age_err,
        population, source_id``.
    bins : AgeBins
        Age bins (by observed age).
    model : str, path or ModelSpec
        Model spec name (``models/NAME.toml``), TOML path, or a loaded spec.
        Its ``name`` names the posterior files and the table rows.
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
    populations : tuple of str
        Populations to fit (``[selection] populations`` of the run), of those present.
    figures : bool
        Write ``figures/posterior_vs_ols.png``.
    truth : pandas.DataFrame, optional
        True per-bin gradients of a simulated catalogue (``truth_bins.csv``), drawn
        on the figure.
    radius : {"R_g", "R"}
        The radius the gradients are measured against (the figure's axis label).

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
    spec = (model if isinstance(model, ModelSpec) else load_model_spec(model)).replace(overrides)
    if spec.builder == "trend":
        raise ValueError(f"model {model!r} is a trend model; give a star model (c25, hierarchical, marginal)")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    pops = [p for p in populations if "population" in stars.columns and (stars["population"] == p).any()]
    if not pops:
        raise ValueError("no 'thin' or 'thick' stars in the table (column 'population')")

    # check every target before any sampling, so a refusal leaves nothing half-written
    plan = {}
    for pop in pops:
        path = out_dir / f"posterior_{pop}_{spec.name}.nc"
        # the hash of the data the model will see (after its own drops, e.g. sparse bins)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            probe = builder_for(spec)
            data_hash = probe._data_hash(probe._prepare(stars, bins, population=pop))
        reuse = False
        if path.exists():
            same = _same_run(path, spec.to_json(), seed, data_hash)
            reuse = bool(same)
            if not reuse and not overwrite:
                what = ("cannot be read (left over from an interrupted run or an older version?)"
                        if same is None else
                        f"holds a different earlier fit of a model named {spec.name!r} (other spec, seed or data)")  # fmt: skip
                raise FileExistsError(
                    f"{path} {what}; choose another --out, give the spec another name, "
                    "or pass --overwrite to replace it"
                )
        plan[pop] = (path, reuse)

    summary: dict[str, Any] = {}
    tables, bands, extra = [], {}, {}
    for pop, (path, reuse) in plan.items():
        if reuse:
            builder = ModelBuilder.load(path)
        else:
            builder = builder_for(spec)
            builder.fit(stars, bins, population=pop, seed=seed, progress=progress)
            builder.save(path)
        tables.append(builder.gradient_table())
        extra.update(builder.extra_tables())  # e.g. the two-disk model's per-star memberships
        # every builder answers the MGAR line itself (a line through the bins for per-bin models)
        rate = builder.flattening_rate()
        bands[(pop, spec.name)] = builder.band(np.linspace(bins.edges[0], bins.edges[-1], 50))
        a = builder.idata.attrs
        summary[pop] = {
            "model": spec.name,
            "builder": spec.builder,
            "n_stars": int(builder.data.n),
            "flattening_rate": rate,
            "mean_gradient": builder.mean_gradient(),
            "hdi_prob": spec.report.hdi_prob,
            "converged": bool(a.get("converged", 0)),
            "max_r_hat": float(a.get("max_r_hat", np.nan)),
            "divergences": int(a.get("divergences", 0)),
            "posterior_file": path.name,
            "counts": json.loads(a.get("counts", "{}")),
        }

    new = pd.concat(tables, ignore_index=True)
    csv = out_dir / "mgar_bayes.csv"
    old = _read_table(csv, overwrite)
    if old is not None:
        new_all = pd.concat([old[old["model"] != spec.name], new[TABLE_COLUMNS]], ignore_index=True)
    else:
        new_all = new[TABLE_COLUMNS]
    write_frame(new_all, csv)
    # every model's MGAR band beside its rows, so that re-running one model keeps the others'
    bands_csv = out_dir / "mgar_bayes_bands.csv"
    new_bands = bands_table(bands, {(p, spec.name): s["flattening_rate"] for p, s in summary.items()})
    old_bands = _read_bands(bands_csv)
    all_bands = new_bands if old_bands is None else pd.concat(
        [old_bands[old_bands["model"] != spec.name], new_bands], ignore_index=True)
    all_bands = all_bands[all_bands["model"].isin(new_all["model"])]
    write_frame(all_bands, bands_csv)
    for name, table in extra.items():
        write_frame(table, out_dir / name)
    if ols_table is not None:
        comp = compare_with_ols(new_all, ols_table)
        write_frame(comp, out_dir / "mgar_bayes_vs_ols.csv")
    # all models in the CSV are drawn, so re-running one model never loses another's points
    if figures:
        drawn = tuple(p for p in POPULATIONS if p in plan or (new_all["population"] == p).any())
        fig, _ = plot_posterior_vs_ols(new_all, ols_table, all_bands, populations=drawn,
                                       hdi_prob=spec.report.hdi_prob, truth=truth, radius=radius)
        save_figure(fig, out_dir / "figures" / "posterior_vs_ols.png", overwrite=True, dpi=130)
    return summary


def _read_bands(csv: Path) -> pd.DataFrame | None:
    """The earlier ``mgar_bayes_bands.csv``, None if absent or unreadable (it only feeds the figure)."""
    if not csv.exists():
        return None
    try:
        old = pd.read_csv(csv, keep_default_na=False, na_values=[""], dtype={"population": str, "model": str})
    except Exception:  # noqa: BLE001 - a partial or foreign file: its bands are redrawn by the next fits
        return None
    return old[BAND_COLUMNS] if set(BAND_COLUMNS) <= set(old.columns) else None


def _read_table(csv: Path, overwrite: bool) -> pd.DataFrame | None:
    """The earlier ``mgar_bayes.csv`` (rows of other models are kept), None if absent."""
    if not csv.exists():
        return None
    try:
        old = pd.read_csv(csv, keep_default_na=False, na_values=[""])
        if not set(TABLE_COLUMNS) <= set(old.columns):
            raise ValueError(f"columns {sorted(old.columns)}")
        return old[TABLE_COLUMNS]
    except Exception as exc:  # noqa: BLE001 - a partial or foreign file
        if overwrite:
            return None
        raise FileExistsError(
            f"{csv} cannot be read as a posterior table ({exc}); pass --overwrite to replace it"
        ) from exc
