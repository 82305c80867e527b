"""The whole preprocessing + OLS/ODR chain in one call.

catalogue -> validation -> catalogue cuts -> Galactocentric coordinates, R_g,
Monte-Carlo errors, Z_max -> phase-space cuts -> thin/thick selection -> age
bins -> per-bin fits -> MGAR trend.
"""

from __future__ import annotations

import logging
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .binning import AgeBins
from .config import PipelineConfig
from .cuts import (
    Cut,
    CutFlow,
    apply_cuts,
    catalogue_cuts,
    duplicate_cut,
    finite_cuts,
    phase_space_cuts,
)
from .ols import fit_bins, mgar_trend
from .orbits import compute_orbits, heliocentric_distance, kinematic_columns
from .schema import (
    DERIVED_COLUMNS,
    GALCEN_COLUMNS,
    HELIOCENTRIC_KINEMATICS,
    has_galcen,
    validate_catalogue,
)
from .selection import assign_populations, population_selections

__all__ = ["PipelineError", "PipelineResult", "preprocess", "run_pipeline", "resolve_derived_columns"]

log = logging.getLogger(__name__)

MEASURED = ("feh", "feh_err", "afe", "age", "age_err", "mass", "snr", "flag_feh", "flag_afe")

# columns the pipeline writes besides DERIVED_COLUMNS
_ALSO_DERIVED = ("x", "y", "age_bin", "R_g_mc_bad", "distance_from_parallax", "parallax_mc_bad")
# what each entry of OrbitConfig.catalogue_columns takes from the catalogue
CATALOGUE_SOURCES: dict[str, tuple[str, ...]] = {
    "galcen": tuple(c.name for c in GALCEN_COLUMNS),
    "R_g": ("R_g", "R_g_err"),
    "Z_max": ("Z_max",),
    "positions": ("R", "R_err", "phi", "z", "z_err"),
}
# a cut that leaves less than this fraction of at least _NEAR_EMPTY_MIN stars stops the run
_NEAR_EMPTY_FRACTION = 0.01
_NEAR_EMPTY_MIN = 100


class PipelineError(ValueError):
    """The pipeline cannot give a meaningful result (empty sample, a cut that removes all...)."""


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
    stars_path : pathlib.Path or None
        Set by a partitioned run (:mod:`mgar_bayes.partitioned`): the clean
        sample was written there as a partitioned Parquet dataset, and
        ``stars`` holds only the stars selected into the analysed populations.
    """

    stars: pd.DataFrame
    cutflow: pd.DataFrame
    fits: pd.DataFrame
    trend: dict
    bins: AgeBins
    config: PipelineConfig
    info: dict = field(default_factory=dict)
    stars_path: Path | None = None


def resolve_derived_columns(
    table: pd.DataFrame, catalogue_columns: tuple[str, ...] = (), kinematics: tuple[str, ...] | None = None
) -> tuple[pd.DataFrame, list[str]]:
    """Keep the catalogue's own derived columns only where asked; rename the others.

    A catalogue column named like one the pipeline derives (``R_g``,
    ``Z_max``, ``R``, ``L_z``, ``population``, ``age_bin``, ...) would silently
    replace the computed value. Unless its quantity is listed in
    ``catalogue_columns`` (see :data:`CATALOGUE_SOURCES`), it is renamed
    ``<name>_catalogue`` and kept beside the computed one.

    ``kinematics`` are the heliocentric columns the orbit stage will read
    (default: distance, proper motions, rv and their errors).

    Returns
    -------
    table : pandas.DataFrame
        The table with clashing columns renamed.
    notes : list of str
        One line per renamed column, for the user and ``summary.json``.

    Raises
    ------
    PipelineError
        A quantity asked for in ``catalogue_columns`` whose columns are absent,
        or a table with neither heliocentric kinematics nor (asked-for)
        Galactocentric ones.
    """
    taken: set[str] = set()
    for key in catalogue_columns:
        cols = CATALOGUE_SOURCES[key]
        need = [c for c in cols if c != "phi"]
        missing = [c for c in need if c not in table.columns]
        if missing:
            raise PipelineError(
                f"[orbits] catalogue_columns asks for the catalogue's own {key!r}, but the table "
                f"lacks column(s) {missing}; map them in the column map or remove {key!r}"
            )
        taken.update(cols)
    derived = [c.name for c in DERIVED_COLUMNS] + list(_ALSO_DERIVED)
    clashes = [c for c in derived if c in table.columns and c not in taken]
    kin = tuple(kinematics) if kinematics is not None else HELIOCENTRIC_KINEMATICS
    missing = [c for c in kin if c not in table.columns]
    if missing and "galcen" not in catalogue_columns:
        hint = ""
        if has_galcen(table):
            hint = ("; the table has its own Galactocentric coordinates: to use them, set "
                    '[orbits] catalogue_columns = ["galcen"] in the config')  # fmt: skip
        elif {"parallax", "parallax_err"} <= set(table.columns) and "distance" in missing:
            hint = '; it has parallaxes: set [orbits] distance_source = "parallax" to use them'
        raise PipelineError(f"the catalogue lacks the heliocentric column(s) {missing}{hint}")
    notes = []
    renames = {}
    for c in clashes:
        new = f"{c}_catalogue"
        if new in table.columns:
            raise PipelineError(
                f"the catalogue has both '{c}' and '{new}'; '{c}' is computed by the pipeline: "
                f"rename or drop one of them"
            )
        renames[c] = new
        source = next((k for k, cols in CATALOGUE_SOURCES.items() if c in cols), None)
        use = (f'; to use the catalogue\'s own, set [orbits] catalogue_columns = ["{source}"]'
               if source else "")  # fmt: skip
        notes.append(f"catalogue column '{c}' kept as '{new}': '{c}' is computed by the pipeline{use}")
    return table.rename(columns=renames), notes


def _check_flow(flow: CutFlow, start: int, stage: str, table: pd.DataFrame | None = None) -> None:
    """Stop when a cut removed (nearly) every star: a unit or convention error, not a result."""
    for prev, row in zip(flow.rows[start - 1 : -1], flow.rows[start:], strict=True):
        before, after = int(prev["n_remaining"]), int(row["n_remaining"])
        emptied = after == 0 and before > 0
        nearly = before >= _NEAR_EMPTY_MIN and after < _NEAR_EMPTY_FRACTION * before
        if emptied or nearly:
            raise PipelineError(
                f"the {stage} cut '{row['cut']}' ({row['description']}) removed {before - after} of "
                f"{before} stars, leaving {after}: {_likely_cause(row['cut'], table)}\n{_flow_text(flow)}"
            )


def _flow_text(flow: CutFlow) -> str:
    """The cut-flow for a message: the input and every cut that removed stars."""
    f = flow.to_frame()
    f = f[(f["step"] == 0) | (f["n_removed"] > 0)]
    return "cut-flow (cuts that removed no star not shown):\n" + f.to_string(index=False)


def _median(table: pd.DataFrame | None, col: str) -> str:
    if table is None or col not in table.columns:
        return "n/a"
    v = table[col].to_numpy(float)
    v = v[np.isfinite(v)]
    return f"{np.median(v):.4g}" if v.size else "n/a"


def _likely_cause(cut: str, table: pd.DataFrame | None) -> str:
    """What usually makes this cut remove every star, and the setting that fixes it."""
    if cut.startswith("finite "):
        col = cut.removeprefix("finite ")
        return (f"'{col}' is missing (NaN) for (nearly) every star: is it mapped to the right "
                "survey column in the column map?")  # fmt: skip
    if cut.startswith("rel. error "):
        col = cut.removeprefix("rel. error ")
        return (f"the uncertainties of {col} are larger than C25's limit for (nearly) every star "
                f"(median {col}_err {_median(table, col + '_err')}, median |{col}| {_median(table, col)}): "
                "pre-Gaia proper motions or distances? relax [cuts] max_rel_err_phase "
                '(e.g. 0.8) or switch it off ("off")')  # fmt: skip
    causes = {
        "distance > 0": "distances are non-positive: parallaxes given as distances, or a sign convention?",
        "parallax > zero point": "parallaxes are non-positive: in mas? or [orbits] parallax_zero_point too large",
        "|z|": f"median |z| = {_median(table, 'z')} kpc: positions in pc instead of kpc, or [galaxy] R0 wrong?",
        "R": (f"median R = {_median(table, 'R')} kpc: distances or positions in pc instead of kpc, or "
              "[galaxy] R0 wrong? Declare units in the column map, or change [cuts] R_range"),
        "v_phi": (f"median v_phi = {_median(table, 'v_phi')} km/s: v_phi negative along Galactic rotation? "
                  "(flip its sign), or [cuts] min_vphi"),
        "R_g defined": "L_z <= 0 for (nearly) every star: a velocity sign convention?",
        "mass": f"median mass = {_median(table, 'mass')} Msun: check its unit, or [cuts] min_mass",
        "snr": f"median snr = {_median(table, 'snr')}: check the column, or [cuts] min_snr",
        "flags": "no star has flag_feh == 0 and flag_afe == 0: check the flag convention (0 = good), "
                 "or [cuts] require_flags = false",
        "[Fe/H]": f"median [Fe/H] = {_median(table, 'feh')} dex: check the column, or [cuts] min_feh",
        "age error": ("age_err / age above the limit for (nearly) every star: age_err fractional instead of "
                      "absolute Gyr? or [cuts] max_age_rel_err"),
        "age > 0": f"median age = {_median(table, 'age')}: ages must be in Gyr",
        "age max": f"median age = {_median(table, 'age')}: ages must be in Gyr, or [cuts] max_age",
        "duplicates": "(nearly) every star has a neighbour within [cuts] duplicate_radius: ra/dec in radians?",
        "V21 high quality": "few stars with age errors < 10% and V21's T_eff/log g ranges: check teff [K], logg [dex]",
    }
    return causes.get(cut, "check the units and conventions of the columns this cut reads")


def _canonical_order(stars: pd.DataFrame) -> pd.DataFrame:
    """Stars sorted by ``source_id`` (as text where ids of mixed types cannot be compared)."""
    try:
        order = np.argsort(stars["source_id"].to_numpy(), kind="stable")
    except TypeError:
        order = np.argsort(stars["source_id"].astype(str).to_numpy(), kind="stable")
    return stars.iloc[order].copy()


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
        Sample sizes, orbit settings, timings [s], and ``notes`` (renamed
        catalogue columns).

    Raises
    ------
    CatalogueError
        An unusable table (see :func:`~mgar_bayes.schema.validate_catalogue`).
    PipelineError
        A cut that removes (nearly) every star, or an empty clean sample; the
        message holds the cut-flow and the likely cause.
    """
    return _preprocess(catalogue, config or PipelineConfig(), progress=progress)


def _preprocess(
    catalogue: pd.DataFrame,
    cfg: PipelineConfig,
    *,
    progress: bool = False,
    name: str = "catalogue",
    duplicates: np.ndarray | None = None,
    checks: bool = True,
) -> tuple[pd.DataFrame, CutFlow, dict]:
    """:func:`preprocess`, also as the stage of one partition of a larger catalogue.

    Parameters
    ----------
    name : str
        The table in error messages (a partition names its file or HEALPix pixel).
    duplicates : numpy.ndarray, optional
        ``source_id`` of the stars the duplicate-observation cut removes, found
        over the whole catalogue (a star's duplicate may lie in another
        partition); None: found in ``catalogue`` itself.
    checks : bool
        Check the units by the columns' medians, warn about renamed columns and
        stop on a cut that empties the sample; a partition leaves these to the
        whole catalogue (a small partition may rightly lose every star, or
        hold only old or distant ones).
    """
    t0 = time.perf_counter()
    use = tuple(cfg.orbits.catalogue_columns)
    if "positions" in use:
        return _preprocess_positions(catalogue, cfg, t0)
    galcen = "galcen" in use
    # without heliocentric columns, resolve_derived_columns says how to use the catalogue's own
    table = validate_catalogue(catalogue, name=name, check_units=checks,
                               require_heliocentric=not (galcen or has_galcen(catalogue)))  # fmt: skip
    kin = list(kinematic_columns(cfg.orbits))
    table, notes = resolve_derived_columns(table, use, kin)
    own = [c for key in use if key != "galcen" for c in CATALOGUE_SOURCES[key]]
    flow = CutFlow(len(table))
    cuts = finite_cuts(list(MEASURED) + kin + own)
    if not galcen and cfg.orbits.distance_source == "parallax":
        zp = cfg.orbits.parallax_zero_point
        cuts.append(Cut("parallax > zero point", f"parallax - ({zp:g} mas) > 0",
                        lambda t: heliocentric_distance(t, cfg.orbits) > 0, ("parallax",)))  # fmt: skip
    elif not galcen:
        cuts.append(Cut("distance > 0", "distance > 0 kpc", lambda t: t["distance"].to_numpy(float) > 0,
                        ("distance",)))  # fmt: skip
    if cfg.cuts.duplicate_radius is not None:
        if {"ra", "dec"} <= set(table.columns):
            cuts.append(duplicate_cut(cfg.cuts.duplicate_radius) if duplicates is None
                        else _known_duplicates(cfg.cuts.duplicate_radius, duplicates))  # fmt: skip
        else:
            notes.append("no ra/dec: the duplicate-observation cut ([cuts] duplicate_radius) was not applied")
    for note in notes if checks else ():
        warnings.warn(note, UserWarning, stacklevel=3)
    validated = table
    table, flow = apply_cuts(table, cuts + catalogue_cuts(cfg.cuts), flow)
    if checks:
        _check_flow(flow, 1, "catalogue", validated)
    t1 = time.perf_counter()
    if len(table) == 0:
        return _empty_partition(validated, flow, cfg, notes, use, t0)
    derived, info = compute_orbits(table, cfg.galaxy, cfg.orbits, use_catalogue_galcen=galcen, progress=progress)
    t2 = time.perf_counter()
    # the catalogue's own R_g / Z_max, where asked for, stand in for the computed ones
    derived = derived.drop(columns=[c for c in own if c in derived.columns])
    full = table.join(derived[[c for c in derived.columns if c not in table.columns]])
    phi = np.deg2rad(full["phi"].to_numpy(float))
    full["x"] = full["R"] * np.cos(phi)
    full["y"] = full["R"] * np.sin(phi)
    n_before = len(flow.rows)
    stars, flow = apply_cuts(full, phase_space_cuts(cfg.cuts), flow)
    if checks:
        _check_flow(flow, n_before, "phase-space", full)
    # one order for the same stars, whatever the catalogue's row order: every later sum
    # (OLS, ODR's iterations, the samplers' likelihoods) then gives the same bits
    stars = _canonical_order(stars)
    stars["population"] = assign_populations(stars, population_selections(cfg.selection))
    bins = AgeBins.from_config(cfg.binning)
    stars["age_bin"] = bins.index(stars["age"].to_numpy(float))
    info.update(
        {
            "n_input": int(flow.rows[0]["n_remaining"]),
            "n_clean": len(stars),
            "n_thin": int((stars["population"] == "thin").sum()),
            "n_thick": int((stars["population"] == "thick").sum()),
            "catalogue_columns": list(use),
            "notes": notes,
            "seconds_cuts": t1 - t0,
            "seconds_orbits": t2 - t1,
            "seconds_preprocess": time.perf_counter() - t0,
        }
    )
    return stars, flow, info


def _known_duplicates(radius_arcsec: float, ids: np.ndarray) -> Cut:
    """The duplicate-observation cut with its verdicts found beforehand over the whole catalogue."""
    like = duplicate_cut(radius_arcsec)
    drop = pd.Index(ids)
    return Cut(like.name, like.description, lambda t: ~t["source_id"].isin(drop).to_numpy(), ("source_id",))


def _empty_partition(table: pd.DataFrame, flow: CutFlow, cfg: PipelineConfig, notes, use, t0: float):
    """A partition no star of which passes the catalogue cuts: the phase-space cuts remove none."""
    for cut in phase_space_cuts(cfg.cuts):
        flow.add(cut.name, cut.description, 0)
    stars = table.iloc[:0].copy()
    stars["population"] = pd.Series(dtype=object)
    stars["age_bin"] = pd.Series(dtype=np.int64)
    info = {"n_input": int(flow.rows[0]["n_remaining"]), "n_clean": 0, "n_thin": 0, "n_thick": 0,
            "catalogue_columns": list(use), "notes": notes,
            "seconds_preprocess": time.perf_counter() - t0}  # fmt: skip
    return stars, flow, info


def _preprocess_positions(catalogue: pd.DataFrame, cfg: PipelineConfig, t0: float):
    """:func:`preprocess` for a table with present-day positions and no velocities.

    No L_z, R_g or Z_max exist: the gradients are in the present-day R, the
    thin/thick selection is by chemistry alone, and the cuts that read
    velocities are not applied (each is named in the notes).
    """
    from .io import _validate_without_kinematics

    wrong = []
    if cfg.fit.radius != "R":
        wrong.append('[fit] radius = "R" (there is no R_g without velocities)')
    if cfg.selection.thin_zmax_max is not None or cfg.selection.thick_zmax_min is not None:
        wrong.append('[selection] thin_zmax_max = "off" and thick_zmax_min = "off" (there is no Z_max)')
    others = [k for k in cfg.orbits.catalogue_columns if k != "positions"]
    if others:
        wrong.append(f"[orbits] catalogue_columns without {others} (positions only)")
    if wrong:
        raise PipelineError('[orbits] catalogue_columns = ["positions"] (no velocities) needs ' + "; ".join(wrong))
    missing = [c for c in CATALOGUE_SOURCES["positions"] if c != "phi" and c not in catalogue.columns]
    if missing:
        raise PipelineError(f'[orbits] catalogue_columns = ["positions"] needs the column(s) {missing}')
    table = _validate_without_kinematics(catalogue, "catalogue")
    table, notes = resolve_derived_columns(table, ("positions",), kinematics=())
    flow = CutFlow(len(table))
    cuts = finite_cuts(list(MEASURED) + ["R", "R_err", "z", "z_err"])
    if cfg.cuts.duplicate_radius is not None and {"ra", "dec"} <= set(table.columns):
        cuts.append(duplicate_cut(cfg.cuts.duplicate_radius))
    validated = table
    table, flow = apply_cuts(table, cuts + catalogue_cuts(cfg.cuts), flow)
    _check_flow(flow, 1, "catalogue", validated)
    full = table.copy()
    if "phi" not in full.columns:
        full["phi"] = np.nan
    phi = np.deg2rad(full["phi"].to_numpy(float))
    full["x"] = full["R"] * np.cos(phi)
    full["y"] = full["R"] * np.sin(phi)
    # only the cuts this table can answer: those on R and z
    usable, skipped = [], []
    for cut in phase_space_cuts(cfg.cuts):
        (usable if all(c in full.columns for c in cut.columns) else skipped).append(cut)
    if skipped:
        notes.append("no velocities: cuts not applied: " + ", ".join(c.name for c in skipped))
    for note in notes:
        warnings.warn(note, UserWarning, stacklevel=3)
    n_before = len(flow.rows)
    stars, flow = apply_cuts(full, usable, flow)
    _check_flow(flow, n_before, "phase-space", full)
    stars = _canonical_order(stars)
    stars["population"] = assign_populations(stars, population_selections(cfg.selection))
    stars["age_bin"] = AgeBins.from_config(cfg.binning).index(stars["age"].to_numpy(float))
    info = {
        "used_catalogue_galcen": "positions",
        "n_input": int(flow.rows[0]["n_remaining"]),
        "n_clean": len(stars),
        "n_thin": int((stars["population"] == "thin").sum()),
        "n_thick": int((stars["population"] == "thick").sum()),
        "catalogue_columns": ["positions"],
        "notes": notes,
        "seconds_preprocess": time.perf_counter() - t0,
    }
    return stars, flow, info


def run_pipeline(
    catalogue: pd.DataFrame, config: PipelineConfig | None = None, *, progress: bool = False
) -> PipelineResult:
    """Preprocess a catalogue and fit the MGAR of the thin and thick disks (OLS and ODR).

    Raises
    ------
    PipelineError
        Besides the errors of :func:`preprocess`: a population with no age bin
        that could be fitted (too few stars in every bin).
    """
    cfg = config or PipelineConfig()
    stars, flow, info = preprocess(catalogue, cfg, progress=progress)
    bins = AgeBins.from_config(cfg.binning)
    t0 = time.perf_counter()
    pops = tuple(cfg.selection.populations)
    fits = fit_bins(stars, bins, populations=pops, x=cfg.fit.radius)
    _check_fitted(fits, stars, bins, pops, flow)
    trend = mgar_trend(fits)
    info["seconds_fits"] = time.perf_counter() - t0
    cutflow = _cutflow_with_populations(flow, stars, fits, cfg)
    return PipelineResult(stars=stars, cutflow=cutflow, fits=fits, trend=trend, bins=bins, config=cfg, info=info)


def _cutflow_with_populations(flow: CutFlow, stars: pd.DataFrame, fits: pd.DataFrame, cfg: PipelineConfig,
                              n_clean: int | None = None):  # fmt: skip
    """The cut-flow continued through each population's selection, age range and age bins.

    Rows of the shared cuts have ``population`` ""; then, per population, its
    selection, the stars in the age range and the stars of each age bin (the
    ``n_stars`` of ``mgar_ols.csv``; a bin row's ``n_removed`` is empty: bins
    split the sample, they remove nothing). ``n_clean``: the clean sample's
    size where ``stars`` holds only the selected stars (a partitioned run).
    """
    frame = flow.to_frame()
    frame["population"] = ""
    sels = population_selections(cfg.selection)
    n_clean = len(stars) if n_clean is None else n_clean
    rows = []
    edges = AgeBins.from_config(cfg.binning).edges
    lo, hi = edges[0], edges[-1]
    for pop in cfg.selection.populations:
        sel = (stars["population"] == pop).to_numpy()
        n_sel = int(sel.sum())
        n_in = int((sel & (stars["age_bin"].to_numpy() >= 0)).sum())
        rows.append({"cut": f"{pop} disk", "description": sels[pop].name, "n_removed": n_clean - n_sel,
                     "n_remaining": n_sel, "population": pop})  # fmt: skip
        rows.append({"cut": f"{pop} age range", "description": f"{lo:g} <= age < {hi:g} Gyr",
                     "n_removed": n_sel - n_in, "n_remaining": n_in, "population": pop})  # fmt: skip
        per_bin = fits[(fits["population"] == pop) & (fits["method"] == fits["method"].iloc[0])]
        for r in per_bin.itertuples(index=False):
            rows.append({"cut": f"{pop} age bin {r.age_lo:g}-{r.age_hi:g}", "n_removed": pd.NA,
                         "description": "stars in the bin (a gradient needs >= 10)", "n_remaining": int(r.n_stars),
                         "population": pop})  # fmt: skip
    extra = pd.DataFrame(rows, columns=["cut", "description", "n_removed", "n_remaining", "population"])
    extra.insert(0, "step", np.arange(len(frame), len(frame) + len(extra)))
    out = pd.concat([frame, extra], ignore_index=True)
    out["n_removed"] = out["n_removed"].astype("Int64")
    return out


def _check_fitted(fits: pd.DataFrame, stars: pd.DataFrame, bins: AgeBins, pops, flow: CutFlow) -> None:
    for pop in pops:
        rows = fits[fits["population"] == pop]
        if np.isfinite(rows["gradient"].to_numpy(float)).any():
            continue
        sel = stars["population"] == pop
        in_range = int((sel & (stars["age_bin"] >= 0)).sum())
        others = [p for p in pops if p != pop]
        only = (f'; to analyse only the {others[0]} disk, set [selection] populations = ["{others[0]}"]'
                if others else "")  # fmt: skip
        raise PipelineError(
            f"the {pop} disk has no age bin with enough stars to fit: {int(sel.sum())} star(s) selected, "
            f"{in_range} in the age range {bins.edges[0]:g}-{bins.edges[-1]:g} Gyr, most per bin "
            f"{int(rows['n_stars'].max()) if len(rows) else 0} (at least 10 needed). Check the selection "
            f"([selection] thin_zmax_max/thick_zmax_min, chem_line) and the cut-flow{only}\n"
            f"{_flow_text(flow)}"
        )
