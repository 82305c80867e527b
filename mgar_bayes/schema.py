"""The canonical star table: column names, units and validation.

Every reader maps a survey's columns onto these names and units, and every later
stage (cuts, orbits, selections, fits) reads only these names. Derived columns
written by the preprocessing stage are listed in :data:`DERIVED_COLUMNS`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = [
    "Column",
    "REQUIRED_COLUMNS",
    "OPTIONAL_COLUMNS",
    "GALCEN_COLUMNS",
    "DERIVED_COLUMNS",
    "ERROR_COLUMNS",
    "CORRELATION_COLUMNS",
    "HELIOCENTRIC_KINEMATICS",
    "CatalogueError",
    "validate_catalogue",
    "has_galcen",
]


class CatalogueError(ValueError):
    """A star table that cannot be used as it is (missing column, bad values...)."""


@dataclass(frozen=True)
class Column:
    """One canonical column: its name, unit and a short description."""

    name: str
    unit: str
    description: str
    kind: str = "float"  # "float", "int", "str"


REQUIRED_COLUMNS: tuple[Column, ...] = (
    Column("source_id", "", "unique star identifier", "any"),
    Column("ra", "deg", "right ascension (ICRS)"),
    Column("dec", "deg", "declination (ICRS)"),
    Column("distance", "kpc", "heliocentric distance"),
    Column("distance_err", "kpc", "heliocentric distance uncertainty"),
    Column("pmra", "mas/yr", "proper motion in RA, times cos(dec)"),
    Column("pmra_err", "mas/yr", "pmra uncertainty"),
    Column("pmdec", "mas/yr", "proper motion in Dec"),
    Column("pmdec_err", "mas/yr", "pmdec uncertainty"),
    Column("rv", "km/s", "line-of-sight velocity"),
    Column("rv_err", "km/s", "line-of-sight velocity uncertainty"),
    Column("feh", "dex", "[Fe/H]"),
    Column("feh_err", "dex", "[Fe/H] uncertainty"),
    Column("afe", "dex", "[alpha/Fe]"),
    Column("afe_err", "dex", "[alpha/Fe] uncertainty"),
    Column("age", "Gyr", "stellar age"),
    Column("age_err", "Gyr", "absolute stellar age uncertainty"),
    Column("mass", "Msun", "stellar mass"),
    Column("snr", "", "spectral signal-to-noise ratio"),
    Column("flag_feh", "", "[Fe/H] quality flag, 0 = good", "int"),
    Column("flag_afe", "", "[alpha/Fe] quality flag, 0 = good", "int"),
)

OPTIONAL_COLUMNS: tuple[Column, ...] = (
    Column("logg", "dex", "surface gravity"),
    Column("teff", "K", "effective temperature"),
    Column("evol_stage", "", "evolutionary stage: 'RGB' or 'RC'", "str"),
    # asymmetric uncertainties (V21 Sect. 2.1.1): 50th minus 16th and 84th minus 50th percentile
    Column("distance_err_lo", "kpc", "distance minus its 16th percentile"),
    Column("distance_err_hi", "kpc", "84th percentile of the distance minus the distance"),
    Column("age_err_lo", "Gyr", "age minus its 16th percentile"),
    Column("age_err_hi", "Gyr", "84th percentile of the age minus the age"),
    # Gaia astrometry and its correlations (V21 Sect. 2.1.4)
    Column("parallax", "mas", "parallax"),
    Column("parallax_err", "mas", "parallax uncertainty"),
    Column("pmra_pmdec_corr", "", "correlation of pmra and pmdec"),
    Column("parallax_pmra_corr", "", "correlation of parallax and pmra"),
    Column("parallax_pmdec_corr", "", "correlation of parallax and pmdec"),
)
# the optional columns that are numbers (validated and converted to float64 like the required ones)
_OPTIONAL_NUMERIC = tuple(c for c in OPTIONAL_COLUMNS if c.kind == "float")
CORRELATION_COLUMNS: tuple[str, ...] = ("pmra_pmdec_corr", "parallax_pmra_corr", "parallax_pmdec_corr")

# Galactocentric cylindrical coordinates a catalogue may supply itself (the LAMOST
# DR8 VAC does); when all are present they are used instead of recomputing them.
# v_phi is positive in the direction of Galactic rotation.
GALCEN_COLUMNS: tuple[Column, ...] = (
    Column("R", "kpc", "Galactocentric cylindrical radius"),
    Column("R_err", "kpc", "uncertainty of R"),
    Column("phi", "deg", "Galactocentric azimuth"),
    Column("z", "kpc", "height above the Galactic mid-plane"),
    Column("z_err", "kpc", "uncertainty of z"),
    Column("v_R", "km/s", "Galactocentric radial velocity"),
    Column("v_R_err", "km/s", "uncertainty of v_R"),
    Column("v_phi", "km/s", "azimuthal velocity, positive along Galactic rotation"),
    Column("v_phi_err", "km/s", "uncertainty of v_phi"),
    Column("v_z", "km/s", "vertical velocity"),
    Column("v_z_err", "km/s", "uncertainty of v_z"),
)

DERIVED_COLUMNS: tuple[Column, ...] = GALCEN_COLUMNS + (
    Column("L_z", "kpc km/s", "z angular momentum, R * v_phi"),
    Column("R_g", "kpc", "guiding-centre radius (circular orbit with the star's L_z)"),
    Column("R_g_err", "kpc", "Monte-Carlo uncertainty of R_g"),
    Column("Z_max", "kpc", "maximum height above the plane along the orbit"),
    Column("population", "", "'thin', 'thick' or '' (neither)", "str"),
)

# Uncertainty columns that must be strictly positive where finite.
ERROR_COLUMNS: tuple[str, ...] = (
    "distance_err",
    "pmra_err",
    "pmdec_err",
    "rv_err",
    "feh_err",
    "afe_err",
    "age_err",
    "distance_err_lo",
    "distance_err_hi",
    "age_err_lo",
    "age_err_hi",
    "parallax_err",
)


def _describe_rows(index: pd.Index, mask: np.ndarray, limit: int = 5) -> str:
    """'3 row(s): 4, 7, 9 (0-based table rows, ...)' for the rows where ``mask`` is True."""
    bad = index[mask]
    shown = ", ".join(str(i) for i in bad[:limit])
    more = f" and {len(bad) - limit} more" if len(bad) > limit else ""
    return f"{len(bad)} row(s): {shown}{more} (0-based table rows, header not counted)"


def plain(value) -> str:
    """A value as a user writes it: ``-0.05``, ``'abc'``, never ``np.float64(-0.05)``."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return f"{value:.6g}"
    return repr(value)


HELIOCENTRIC_KINEMATICS: tuple[str, ...] = (
    "ra",
    "dec",
    "distance",
    "distance_err",
    "pmra",
    "pmra_err",
    "pmdec",
    "pmdec_err",
    "rv",
    "rv_err",
)


def validate_catalogue(
    table: pd.DataFrame,
    *,
    name: str = "catalogue",
    require_heliocentric: bool | None = None,
    check_units: bool = True,
) -> pd.DataFrame:
    """Check a star table against the canonical schema.

    Raises :class:`CatalogueError` naming the column and the offending rows for
    problems that make the table unusable as a whole: an empty table, a missing
    required column, a non-numeric column, duplicated ``source_id`` or
    non-positive uncertainties. Non-finite values in measured columns are *not*
    errors here: they are dropped and counted by the finite-value cuts of
    :func:`mgar_bayes.cuts.finite_cuts` in the pipeline.

    Parameters
    ----------
    table : pandas.DataFrame
        Star table with canonical column names (see :data:`REQUIRED_COLUMNS`).
    name : str
        How to call the table in error messages (a file name, say).
    require_heliocentric : bool or None
        Whether distance, proper motions and line-of-sight velocity (with
        errors) are required. None: required unless the table carries its own
        Galactocentric columns (:data:`GALCEN_COLUMNS`), as the LAMOST VAC does.
        A table with ``parallax`` and ``parallax_err`` needs no distance.
    check_units : bool
        Run :func:`check_plausible_units` (medians of the whole table); a
        partition of a larger catalogue leaves it to the catalogue's sample.

    Returns
    -------
    pandas.DataFrame
        The same table with numeric columns as float64 and flags as integers.
    """
    if not isinstance(table, pd.DataFrame):
        raise CatalogueError(f"{name}: expected a pandas DataFrame, got {type(table).__name__}")
    if len(table) == 0:
        raise CatalogueError(f"{name}: the table is empty (no stars)")
    if require_heliocentric is None:
        require_heliocentric = not has_galcen(table)
    needed = [
        c.name
        for c in REQUIRED_COLUMNS
        if require_heliocentric or c.name not in HELIOCENTRIC_KINEMATICS
    ]
    if {"parallax", "parallax_err"} <= set(table.columns):
        # distances may come from the parallaxes ([orbits] distance_source = "parallax")
        needed = [c for c in needed if c not in ("distance", "distance_err")]
    if not require_heliocentric:
        needed += [c.name for c in GALCEN_COLUMNS if c.name != "phi"]
    missing = [c for c in needed if c not in table.columns]
    partial_galcen = [
        c.name for c in GALCEN_COLUMNS if c.name != "phi" and c.name not in table.columns
    ]
    if missing and 0 < len(partial_galcen) < len(GALCEN_COLUMNS) - 1:
        missing = missing + [f"(or, for catalogue Galactocentric coordinates: {partial_galcen})"]
    if missing:
        raise CatalogueError(
            f"{name}: missing required column(s) {missing}; present: {sorted(map(str, table.columns))}"
        )
    out = table.copy()
    for col in REQUIRED_COLUMNS + GALCEN_COLUMNS + _OPTIONAL_NUMERIC:
        if col.name not in out.columns or col.kind in ("any", "str"):
            continue
        values = out[col.name]
        if not (pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values)):
            converted = pd.to_numeric(values, errors="coerce")
            bad = converted.isna().to_numpy() & values.notna().to_numpy()
            if bad.any():
                raise CatalogueError(
                    f"{name}: column '{col.name}' ({col.unit or 'dimensionless'}) must be numeric; "
                    f"non-numeric values in {_describe_rows(out.index, bad)} "
                    f"(first: {plain(values[bad].iloc[0])})"
                )
            values = converted
        if col.kind == "int":
            v = values.to_numpy(dtype=float)
            with np.errstate(invalid="ignore"):
                bad = ~np.isnan(v) & (~np.isfinite(v) | (v != np.round(v)))
            if bad.any():
                raise CatalogueError(
                    f"{name}: flag column '{col.name}' must hold integers; bad values in "
                    f"{_describe_rows(out.index, bad)}"
                )
            # a missing flag is not 'good': it stays NaN and the flag cut drops (and counts) it
            out[col.name] = v.astype(np.int64) if not np.isnan(v).any() else v
        else:
            out[col.name] = values.astype(np.float64)
    ids = out["source_id"]
    missing_id = ids.isna().to_numpy()
    if missing_id.any():
        raise CatalogueError(
            f"{name}: column 'source_id' is missing (NaN/empty) in {_describe_rows(out.index, missing_id)}; "
            "every star needs an identifier (its Monte-Carlo draws are keyed by it): "
            "fill them or drop those rows"
        )
    dup = ids.duplicated(keep=False).to_numpy()
    if dup.any():
        raise CatalogueError(f"{name}: duplicated source_id in {_describe_rows(out.index, dup)}")
    for col in ERROR_COLUMNS + tuple(c.name for c in GALCEN_COLUMNS if c.name.endswith("_err")):
        if col not in out.columns:
            continue
        v = out[col].to_numpy()
        bad = np.isfinite(v) & (v <= 0)
        if bad.any():
            raise CatalogueError(
                f"{name}: uncertainty column '{col}' must be > 0; non-positive values in "
                f"{_describe_rows(out.index, bad)} (first: {plain(v[bad][0])})"
            )
    for col in CORRELATION_COLUMNS:
        if col not in out.columns:
            continue
        v = out[col].to_numpy()
        with np.errstate(invalid="ignore"):
            bad = np.isfinite(v) & (np.abs(v) > 1)
        if bad.any():
            raise CatalogueError(
                f"{name}: correlation column '{col}' must be in [-1, 1]; values outside in "
                f"{_describe_rows(out.index, bad)} (first: {plain(v[bad][0])})"
            )
    if "evol_stage" in out.columns:
        stage = out["evol_stage"].astype("string").str.upper()
        bad = (~stage.isin(["RGB", "RC"]) & stage.notna()).to_numpy()
        if bad.any():
            raise CatalogueError(
                f"{name}: column 'evol_stage' must be 'RGB' or 'RC'; other values in "
                f"{_describe_rows(out.index, bad)}"
            )
        out["evol_stage"] = stage
    _check_angles(out, name)
    if check_units:
        check_plausible_units(out, name)
    return out


def _check_angles(table: pd.DataFrame, name: str) -> None:
    """ra in [0, 360) and dec in [-90, 90] deg: anything else is a convention or unit error."""
    limits = {"ra": (0.0, 360.0, "add 360 to negative values if ra runs from -180 to 180 deg"),
              "dec": (-90.0, 90.0, "dec must be in degrees")}  # fmt: skip
    for col, (lo, hi, fix) in limits.items():
        if col not in table.columns:
            continue
        v = table[col].to_numpy(float)
        with np.errstate(invalid="ignore"):
            bad = np.isfinite(v) & ((v < lo) | (v > hi) | ((v == hi) & (col == "ra")))
        if bad.any():
            rng = f"[{lo:g}, {hi:g})" if col == "ra" else f"[{lo:g}, {hi:g}]"
            raise CatalogueError(
                f"{name}: column '{col}' must be in {rng} deg; values outside in "
                f"{_describe_rows(table.index, bad)} (first: {plain(v[bad][0])}); {fix}"
            )


# (column, largest plausible median of |value| in the canonical unit, what it looks like, the fix)
_UNIT_LIMITS: tuple[tuple[str, float, str], ...] = (
    ("distance", 50.0, "pc instead of kpc"),
    ("distance_err", 50.0, "pc instead of kpc"),
    ("distance_err_lo", 50.0, "pc instead of kpc"),
    ("distance_err_hi", 50.0, "pc instead of kpc"),
    ("R", 100.0, "pc instead of kpc"),
    ("R_err", 50.0, "pc instead of kpc"),
    ("z", 50.0, "pc instead of kpc"),
    ("z_err", 50.0, "pc instead of kpc"),
    ("pmra", 1000.0, "uas/yr instead of mas/yr"),
    ("pmdec", 1000.0, "uas/yr instead of mas/yr"),
    ("rv", 1000.0, "m/s instead of km/s"),
    ("rv_err", 1000.0, "m/s instead of km/s"),
    ("v_R", 1000.0, "m/s instead of km/s"),
    ("v_phi", 1000.0, "m/s instead of km/s"),
    ("v_z", 1000.0, "m/s instead of km/s"),
    ("age", 14.0, "Myr or yr instead of Gyr (no star is older than the Universe)"),
    ("feh", 5.0, "not [Fe/H] in dex"),
    ("mass", 100.0, "not a stellar mass in Msun"),
)


# a sample whose median Galactocentric radius is under 100 pc is a unit error, not a survey
_UNIT_LOWER: dict[str, tuple[float, str]] = {"R": (0.1, "kpc values read as pc (a factor 1000 too small)")}


def check_plausible_units(table: pd.DataFrame, name: str = "catalogue") -> None:
    """Refuse a table whose typical values betray a wrong unit (pc given as kpc, ...).

    The median |value| of each column in :data:`_UNIT_LIMITS` must be below a
    limit no real sample reaches in the canonical unit (e.g. a median distance
    of 50 kpc); single outliers are left to the cuts.

    Raises
    ------
    CatalogueError
        Naming the column, its median, the likely unit and how to declare it.
    """
    for col, limit, looks in _UNIT_LIMITS:
        if col not in table.columns:
            continue
        v = np.abs(table[col].to_numpy(float))
        v = v[np.isfinite(v)]
        if v.size == 0:
            continue
        med = float(np.median(v))
        low = _UNIT_LOWER.get(col)
        if low is not None and med < low[0]:
            raise CatalogueError(
                f"{name}: column '{col}' has a median |value| of {med:.6g} kpc, implausibly small "
                f"(limit {low[0]:g}); it looks like {low[1]}. Declare the file's unit, e.g. in the "
                f"column map: {col} = {{ column = \"...\", unit = \"...\" }}"
            )
        if med > limit:
            unit = next(c.unit for c in REQUIRED_COLUMNS + GALCEN_COLUMNS + OPTIONAL_COLUMNS if c.name == col)
            raise CatalogueError(
                f"{name}: column '{col}' has a median |value| of {med:.6g}, implausible in {unit} "
                f"(limit {limit:g}); it looks like {looks}. Declare the file's unit, e.g. in the "
                f"column map: {col} = {{ column = \"...\", unit = \"...\" }} (or [units] {col} = \"...\")"
            )


def has_galcen(table: pd.DataFrame) -> bool:
    """Whether the table carries its own Galactocentric coordinates with errors."""
    return all(c.name in table.columns for c in GALCEN_COLUMNS if c.name != "phi")
