"""The whole preprocessing + OLS/ODR chain in one call.

catalogue -> validation -> catalogue cuts -> Galactocentric coordinates, R_g,
Monte-Carlo errors, Z_max -> phase-space cuts -> thin/thick selection -> age
bins -> per-bin fits -> MGAR trend.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .binning import AgeBins
from .config import PipelineConfig
from .cuts import CutFlow, apply_cuts, catalogue_cuts, finite_cuts, phase_space_cuts
from .ols import fit_bins, mgar_trend
from .orbits import compute_orbits
from .schema import GALCEN_COLUMNS, HELIOCENTRIC_KINEMATICS, has_galcen, validate_catalogue
from .selection import assign_populations, population_selections

__all__ = ["PipelineResult", "preprocess", "run_pipeline"]

log = logging.getLogger(__name__)

MEASURED = ("feh", "feh_err", "afe", "age", "age_err", "mass", "snr", "flag_feh", "flag_afe")


@dataclass
class PipelineResult:
    """Everything one run produces.

    Attributes
    ----------
    stars : pandas.DataFrame
        Clean sample: input columns plus derived R, phi, z, v_R, v_phi, v_z (and
        errors), x, y, L_z, R_g, R_g_err, Z_max, population, age_bin.
    cutflow : pandas.DataFrame
        Stars left after each cut.
    fits : pandas.DataFrame
        Per population, method and age bin (:data:`mgar_bayes.ols.FIT_COLUMNS`).
    trend : dict
        Flattening rate and mean gradient per population and method.
    bins : AgeBins
    config : PipelineConfig
    info : dict
        Orbit-stage details and timings [s].
    """

    stars: pd.DataFrame
    cutflow: pd.DataFrame
    fits: pd.DataFrame
    trend: dict
    bins: AgeBins
    config: PipelineConfig
    info: dict = field(default_factory=dict)


def preprocess(
    catalogue: pd.DataFrame, config: PipelineConfig | None = None, *, progress: bool = False
) -> tuple[pd.DataFrame, CutFlow, dict]:
    """Validate, cut, compute orbits and select populations.

    Parameters
    ----------
    catalogue : pandas.DataFrame
        Canonical star table (see :mod:`mgar_bayes.schema`).
    config : PipelineConfig
    progress : bool
        Progress bars on the long stages.

    Returns
    -------
    stars : pandas.DataFrame
        Clean sample with derived columns, ``population`` and ``age_bin``.
    flow : CutFlow
    info : dict
    """
    cfg = config or PipelineConfig()
    t0 = time.perf_counter()
    table = validate_catalogue(catalogue)
    galcen = has_galcen(table)
    kin = [c.name for c in GALCEN_COLUMNS if c.name != "phi"] if galcen else list(HELIOCENTRIC_KINEMATICS)
    flow = CutFlow(len(table))
    table, flow = apply_cuts(table, finite_cuts(list(MEASURED) + kin), flow)
    table, flow = apply_cuts(table, catalogue_cuts(cfg.cuts), flow)
    t1 = time.perf_counter()
    if len(table) == 0:
        raise ValueError("no stars survive the catalogue cuts; see the cut-flow:\n" + flow.to_frame().to_string())
    derived, info = compute_orbits(table, cfg.galaxy, cfg.orbits, use_catalogue_galcen=galcen, progress=progress)
    t2 = time.perf_counter()
    # the catalogue's own Galactocentric columns are kept; derived ones fill the rest
    stars = table.join(derived[[c for c in derived.columns if c not in table.columns]])
    phi = np.deg2rad(stars["phi"].to_numpy(float))
    stars["x"] = stars["R"] * np.cos(phi)
    stars["y"] = stars["R"] * np.sin(phi)
    stars, flow = apply_cuts(stars, phase_space_cuts(cfg.cuts), flow)
    stars = stars.copy()
    stars["population"] = assign_populations(stars, population_selections(cfg.selection))
    bins = AgeBins.from_config(cfg.binning)
    stars["age_bin"] = bins.index(stars["age"].to_numpy(float))
    info.update(
        {
            "n_input": int(flow.rows[0]["n_remaining"]),
            "n_clean": len(stars),
            "n_thin": int((stars["population"] == "thin").sum()),
            "n_thick": int((stars["population"] == "thick").sum()),
            "seconds_cuts": t1 - t0,
            "seconds_orbits": t2 - t1,
            "seconds_preprocess": time.perf_counter() - t0,
        }
    )
    return stars, flow, info


def run_pipeline(
    catalogue: pd.DataFrame, config: PipelineConfig | None = None, *, progress: bool = False
) -> PipelineResult:
    """Preprocess a catalogue and fit the MGAR of the thin and thick disks (OLS and ODR)."""
    cfg = config or PipelineConfig()
    stars, flow, info = preprocess(catalogue, cfg, progress=progress)
    bins = AgeBins.from_config(cfg.binning)
    t0 = time.perf_counter()
    fits = fit_bins(stars, bins)
    trend = mgar_trend(fits)
    info["seconds_fits"] = time.perf_counter() - t0
    return PipelineResult(stars=stars, cutflow=flow.to_frame(), fits=fits, trend=trend, bins=bins, config=cfg, info=info)
