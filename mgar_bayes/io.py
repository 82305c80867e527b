"""Reading star catalogues into the canonical table, and writing tables out.

Every reader returns a :class:`pandas.DataFrame` with the canonical column names
and units of :mod:`mgar_bayes.schema`, already checked by
:func:`~mgar_bayes.schema.validate_catalogue`.

* :func:`read_catalogue` reads any CSV, Parquet or FITS table and maps a survey's
  column names and units onto the canonical ones with a *column map*, given as a
  dict or as a TOML file (:func:`read_column_map`)::

      [columns]
      source_id = "obsid"
      feh = "FEH_X"
      distance = { column = "dist", unit = "pc" }

      [units]
      distance_err = "pc"

* :func:`read_lamost_dr8` reads the two inputs of Chen et al. (2025): the LAMOST
  DR8 giant value-added catalogue and the RGB/RC age catalogue of Wang et al.
  (2023), joined on ``obsid``.
* :func:`write_table` writes CSV or Parquet and never overwrites silently.
"""

from __future__ import annotations

import codecs
import gzip
import logging
import os
import tomllib
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import astropy.units as u
import numpy as np
import pandas as pd

from .atomic import write_frame
from .schema import (
    DERIVED_COLUMNS,
    OPTIONAL_COLUMNS,
    REQUIRED_COLUMNS,
    CatalogueError,
    validate_catalogue,
)

__all__ = [
    "CANONICAL_UNITS",
    "read_catalogue",
    "read_column_map",
    "read_lamost_dr8",
    "write_table",
]

logger = logging.getLogger(__name__)

PathLike = str | os.PathLike

# Canonical unit of every named column ("" = dimensionless or not a quantity).
CANONICAL_UNITS: dict[str, str] = {
    c.name: c.unit for c in REQUIRED_COLUMNS + OPTIONAL_COLUMNS + DERIVED_COLUMNS
}
# Columns that are identifiers, flags or labels: a unit makes no sense for them.
_UNITLESS_KINDS = {
    c.name for c in REQUIRED_COLUMNS + OPTIONAL_COLUMNS + DERIVED_COLUMNS if c.kind != "float"
}

# Matched longest suffix first, so that ".fits.gz" is FITS, not an unknown ".gz".
_FORMATS: dict[str, str] = {
    ".csv": "csv",
    ".csv.gz": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".fits": "fits",
    ".fit": "fits",
    ".fits.gz": "fits",
    ".fit.gz": "fits",
}
_WRITE_FORMATS = {".csv": "csv", ".csv.gz": "csv", ".parquet": "parquet", ".pq": "parquet"}


# --------------------------------------------------------------------------- files


def _format_of(path: Path, known: Mapping[str, str]) -> str | None:
    lower = path.name.lower()
    for suffix, fmt in sorted(known.items(), key=lambda kv: -len(kv[0])):
        if lower.endswith(suffix):
            return fmt
    return None


def _read_raw(
    path: PathLike, keep: Callable[[str], bool] | None = None, *, encoding: str = "utf-8"
) -> pd.DataFrame:
    """Read a CSV, Parquet or FITS table as it is (no mapping, no validation).

    ``keep`` selects columns by name before they are loaded (saves memory on the
    wide LAMOST VAC); None keeps all. ``encoding`` is the text encoding of a CSV
    file (Parquet and FITS define their own).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"catalogue file not found: {path}")
    if not path.is_file():
        raise CatalogueError(f"{path}: not a regular file")
    fmt = _format_of(path, _FORMATS)
    if fmt is None:
        supported = ", ".join(_FORMATS)
        raise CatalogueError(f"{path}: unknown catalogue format (suffix); supported: {supported}")
    _check_encoding(encoding, path)
    try:
        if fmt == "csv":
            return pd.read_csv(path, usecols=keep, encoding=encoding)
        if fmt == "parquet":
            columns = None
            if keep is not None:
                import pyarrow.parquet as pq

                columns = [c for c in pq.read_schema(path).names if keep(c)]
            return pd.read_parquet(path, columns=columns)
        return _read_fits(path, keep)
    except CatalogueError:
        raise
    except UnicodeError as exc:  # a CSV in another encoding than the one given
        raise CatalogueError(_decode_error_message(path, encoding, exc)) from exc
    except pd.errors.EmptyDataError as exc:
        raise CatalogueError(f"{path}: the file is empty (no header, no rows)") from exc
    except Exception as exc:  # any library's complaint becomes one clear message
        raise CatalogueError(
            f"{path}: cannot read as a {fmt.upper()} catalogue: {type(exc).__name__}: {exc}"
        ) from exc


def _check_encoding(encoding: str, path: Path) -> None:
    """A CatalogueError for a name that Python does not know as a text encoding."""
    try:
        # bytes-to-bytes codecs such as 'hex' are no text encodings
        known = getattr(codecs.lookup(encoding), "_is_text_encoding", True)
    except (LookupError, TypeError):
        known = False
    if not known:
        raise CatalogueError(
            f"{path}: unknown text encoding {encoding!r}; give a Python codec name, "
            f"e.g. 'utf-8', 'latin-1' or 'cp1252'"
        )


def _first_undecodable(path: Path, encoding: str) -> tuple[int, int, bytes] | None:
    """Byte offset, line number (1-based) and bytes of the first undecodable sequence.

    pandas reports positions within its internal buffer, not within the file, so
    the file is decoded again here, in blocks (only after a failure).
    """
    decoder = codecs.getincrementaldecoder(encoding)()
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    offset = newlines = 0  # bytes and newlines of the file before this block
    with opener(path, "rb") as fh:
        while True:
            block = fh.read(1 << 20)
            try:
                decoder.decode(block, final=not block)
            except UnicodeDecodeError as exc:
                # exc.object starts with the bytes the decoder held back from the last block
                held = len(exc.object) - len(block)
                before = exc.object[: exc.start]
                line = newlines - exc.object[:held].count(b"\n") + before.count(b"\n") + 1
                return offset - held + exc.start, line, exc.object[exc.start : exc.end]
            if not block:
                return None
            offset += len(block)
            newlines += block.count(b"\n")


def _decode_error_message(path: Path, encoding: str, exc: UnicodeError) -> str:
    try:
        found = _first_undecodable(path, encoding)
    except (OSError, EOFError, UnicodeError):
        found = None
    if found is not None:
        start, line, bad = found
        what = f"byte {bad.hex(' ')} at byte offset {start} (line {line})"
    elif isinstance(exc, UnicodeDecodeError):
        what = f"byte {exc.object[exc.start : exc.end].hex(' ')}"
    else:  # e.g. a UTF-16 file without byte-order mark
        what = f"the text ({exc})"
    return (
        f"{path}: the file is not valid {encoding} text: {what} cannot be decoded with the "
        f"encoding {encoding!r}; pass the file's encoding, e.g. --encoding latin-1 "
        f"(Python: encoding='latin-1')"
    )


def _read_fits(path: Path, keep: Callable[[str], bool] | None = None) -> pd.DataFrame:
    """First table HDU of a FITS file as a DataFrame with native-endian columns."""
    from astropy.io import fits
    from astropy.table import Table

    data: dict[str, Any] = {}
    dropped = []
    # memmap: columns that are not kept are never loaded into memory.
    with fits.open(path, memmap=True) as hdul:
        index = next(
            (i for i, h in enumerate(hdul) if isinstance(h, fits.BinTableHDU | fits.TableHDU)),
            None,
        )
        if index is None:
            raise CatalogueError(f"{path}: the FITS file holds no table HDU")
        # mask_invalid=False: NaN stays NaN instead of building masks for every column.
        # File units are not used (a column map states units), so don't warn about them.
        table = Table.read(hdul, hdu=index, mask_invalid=False, unit_parse_strict="silent")
        for name in table.colnames:
            if keep is not None and not keep(name):
                continue
            col = table[name]
            if col.ndim > 1:
                dropped.append(name)
                continue
            data[name] = _native_column(col)
        n_rows = len(table)
    if dropped:
        warnings.warn(
            f"{path}: dropped multi-dimensional column(s) {dropped}", UserWarning, stacklevel=3
        )
    return pd.DataFrame(data, index=pd.RangeIndex(n_rows))


def _native_column(col) -> np.ndarray:
    """Unmask, decode bytes and convert to native byte order; always a copy (memmap)."""
    mask = np.asarray(getattr(col, "mask", np.zeros(len(col), bool)), dtype=bool)
    arr = np.array(col, copy=True)
    if arr.dtype.kind == "S":
        arr = np.char.rstrip(np.char.decode(arr, "utf-8", errors="replace"))
    if arr.dtype.kind in "iuf" and not arr.dtype.isnative:
        # pandas and numexpr misbehave on big-endian (FITS) arrays.
        arr = arr.astype(arr.dtype.newbyteorder("="))
    if mask.any():
        if arr.dtype.kind in "iub":
            arr = arr.astype(np.float64)  # integer nulls (TNULL) become NaN
        if arr.dtype.kind == "f":
            arr = np.where(mask, np.nan, arr)
        else:
            arr = arr.astype(object)
            arr[mask] = None
    return arr


def write_table(df: pd.DataFrame, path: PathLike, *, overwrite: bool = False) -> Path:
    """Write a table to CSV (``.csv``, ``.csv.gz``) or Parquet (``.parquet``, ``.pq``).

    The file is written to a temporary name first and then moved into place, so
    an interrupted write never leaves a half-written table under ``path``.

    Parameters
    ----------
    df : pandas.DataFrame
        Table to write; its index is not written.
    path : str or path-like
        Output file; the format is chosen from the suffix.
    overwrite : bool
        Replace an existing file. Default False.

    Returns
    -------
    pathlib.Path
        The path written.

    Raises
    ------
    FileExistsError
        ``path`` exists and ``overwrite`` is False.
    ValueError
        Unsupported suffix.
    """
    path = Path(path)
    fmt = _format_of(path, _WRITE_FORMATS)
    if fmt is None:
        raise ValueError(f"{path}: cannot write this format; use one of {sorted(_WRITE_FORMATS)}")
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; pass overwrite=True to replace it")
    return write_frame(df, path)


# ---------------------------------------------------------------------- column maps


def _parse_unit(unit: str, column: str, origin: str) -> u.UnitBase:
    try:
        return u.Unit(unit)
    except (ValueError, TypeError) as exc:
        raise CatalogueError(
            f"{origin}: column '{column}': astropy cannot parse the unit {unit!r} ({exc})"
        ) from exc


def _factor(unit: str, target: str, column: str, origin: str) -> float:
    """Multiplicative factor from ``unit`` to ``target`` for values of ``column``."""
    src = _parse_unit(unit, column, origin)
    try:
        return float(src.to(u.Unit(target)))
    except u.UnitsError as exc:
        raise CatalogueError(
            f"{origin}: column '{column}': unit {unit!r} cannot be converted to "
            f"{target or 'dimensionless'!r} ({exc})"
        ) from exc


def _conversion_factor(column: str, unit: str, origin: str) -> float:
    """Factor from ``unit`` to the canonical unit of ``column``."""
    if column not in CANONICAL_UNITS:
        raise CatalogueError(
            f"{origin}: column '{column}': a unit ({unit!r}) was given but '{column}' is not a canonical "
            f"column, so there is no unit to convert to"
        )
    if column in _UNITLESS_KINDS:
        raise CatalogueError(
            f"{origin}: column '{column}' is an identifier/flag/label and takes no unit "
            f"(got {unit!r})"
        )
    return _factor(unit, CANONICAL_UNITS[column], column, origin)


def _normalise_map(
    column_map: Mapping[str, Any], origin: str
) -> tuple[dict[str, str], dict[str, str]]:
    """Split ``{canonical: survey | {"column":..., "unit":...}}`` into names and units."""
    columns: dict[str, str] = {}
    units: dict[str, str] = {}
    if not isinstance(column_map, Mapping):
        raise CatalogueError(
            f"{origin}: column map must be a table/dict, got {type(column_map).__name__}"
        )
    for canonical, spec in column_map.items():
        if isinstance(spec, str):
            columns[canonical] = spec
        elif isinstance(spec, Mapping):
            extra = set(spec) - {"column", "unit"}
            if extra or "column" not in spec:
                raise CatalogueError(
                    f"{origin}: entry for '{canonical}' must be a column name or "
                    f"{{column = ..., unit = ...}}; got keys {sorted(spec)}"
                )
            if not isinstance(spec["column"], str):
                raise CatalogueError(f"{origin}: column name for '{canonical}' must be a string")
            columns[canonical] = spec["column"]
            if "unit" in spec:
                if not isinstance(spec["unit"], str):
                    raise CatalogueError(f"{origin}: unit for '{canonical}' must be a string")
                units[canonical] = spec["unit"]
        else:
            raise CatalogueError(
                f"{origin}: entry for '{canonical}' must be a string or a table, "
                f"got {type(spec).__name__}"
            )
    return columns, units


def _merge_units(first: dict[str, str], second: Mapping[str, Any], origin: str) -> dict[str, str]:
    out = dict(first)
    for col, unit in second.items():
        if not isinstance(unit, str):
            raise CatalogueError(f"{origin}: unit for '{col}' must be a string, got {unit!r}")
        if col in out and out[col] != unit:
            raise CatalogueError(
                f"{origin}: conflicting units for '{col}': {out[col]!r} and {unit!r}"
            )
        out[col] = unit
    return out


def read_column_map(path: PathLike) -> tuple[dict[str, str], dict[str, str]]:
    """Read a column map from a TOML file.

    The file has a ``[columns]`` table ``canonical_name = "survey_name"`` or
    ``canonical_name = { column = "survey_name", unit = "pc" }``, and an optional
    ``[units]`` table ``canonical_name = "unit"`` (any :mod:`astropy.units`
    string). A unit is the unit the *survey* column is stored in; it is
    converted to the canonical unit of :mod:`mgar_bayes.schema` on reading.

    Parameters
    ----------
    path : str or path-like
        TOML file.

    Returns
    -------
    columns : dict of str to str
        ``{canonical_name: survey_name}``.
    units : dict of str to str
        ``{canonical_name: unit_string}`` from both the inline ``unit`` keys and
        the ``[units]`` table.

    Raises
    ------
    FileNotFoundError
        The file does not exist.
    CatalogueError
        Invalid TOML, unknown top-level tables, malformed entries or the same
        column given two different units.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"column map file not found: {path}")
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise CatalogueError(f"{path}: not a valid TOML column map ({exc})") from exc
    unknown = set(data) - {"columns", "units"}
    if unknown:
        raise CatalogueError(
            f"{path}: unknown table(s) {sorted(unknown)} in column map; allowed: [columns], [units]"
        )
    columns, units = _normalise_map(data.get("columns", {}), str(path))
    extra_units = data.get("units", {})
    if not isinstance(extra_units, Mapping):
        raise CatalogueError(f"{path}: [units] must be a table")
    units = _merge_units(units, extra_units, str(path))
    return columns, units


def _lookup(df: pd.DataFrame, name: str, origin: str, what: str) -> str:
    """Column of ``df`` called ``name``: exact match first, else a unique case-insensitive one."""
    if name in df.columns:
        return name
    matches = [c for c in df.columns if str(c).lower() == name.lower()]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise CatalogueError(f"{origin}: {what} '{name}' is ambiguous; matches {matches}")
    raise CatalogueError(
        f"{origin}: {what} '{name}' not found; available columns: {sorted(map(str, df.columns))}"
    )


def _to_float(values: pd.Series, column: str, origin: str) -> np.ndarray:
    """Numeric values of a column, or a CatalogueError naming the rows that are not."""
    converted = pd.to_numeric(values, errors="coerce")
    bad = converted.isna().to_numpy() & values.notna().to_numpy()
    if bad.any():
        rows = values.index[bad]
        shown = ", ".join(str(r) for r in rows[:5])
        more = f" and {len(rows) - 5} more" if len(rows) > 5 else ""
        raise CatalogueError(
            f"{origin}: column '{column}' must be numeric; non-numeric values in "
            f"{len(rows)} row(s): {shown}{more} (first: {values[bad].iloc[0]!r})"
        )
    return converted.to_numpy(dtype=np.float64)


def read_catalogue(
    path: PathLike,
    column_map: Mapping[str, Any] | PathLike | None = None,
    *,
    units: Mapping[str, str] | None = None,
    name: str | None = None,
    encoding: str = "utf-8",
) -> pd.DataFrame:
    """Read a star catalogue and return the validated canonical table.

    Parameters
    ----------
    path : str or path-like
        CSV (``.csv``, ``.csv.gz``), Parquet (``.parquet``, ``.pq``) or FITS
        (``.fits``, ``.fit``, ``.fits.gz``; the first table HDU) file. The
        format is chosen by suffix.
    column_map : dict, str, path-like or None
        How survey columns map onto canonical ones: ``{canonical: survey_name}``
        or ``{canonical: {"column": survey_name, "unit": "pc"}}``, or a TOML file
        in that shape (see :func:`read_column_map`). Survey names are matched
        exactly, else case-insensitively. Unmapped columns are kept as they are;
        None: the file already uses canonical names.
    units : dict of str to str, optional
        ``{canonical_name: unit}``: the unit each column is stored in, converted
        with :mod:`astropy.units` to the canonical unit (e.g. ``distance`` in
        ``"pc"`` becomes kpc). Overrides units from ``column_map``. Only unit
        scalings are supported (no parallax to distance, no logarithms).
    name : str, optional
        Name of the table in error messages; default the file path.
    encoding : str
        Text encoding of a CSV file, any Python codec name (default
        ``"utf-8"``; e.g. ``"latin-1"`` or ``"cp1252"`` for files written by
        older tools). Ignored for Parquet and FITS.

    Returns
    -------
    pandas.DataFrame
        Canonical table (see :mod:`mgar_bayes.schema`): distances in kpc, proper
        motions in mas/yr, velocities in km/s, abundances in dex, ages in Gyr,
        masses in Msun, angles in deg. The index is a RangeIndex.

    Raises
    ------
    FileNotFoundError
        ``path`` (or a TOML ``column_map``) does not exist.
    CatalogueError
        Unknown suffix or unreadable file; a CSV that is not valid text in
        ``encoding`` (the message gives the byte offset and line of the first
        bad byte) or an unknown encoding name; a mapped column that the file lacks;
        a unit that astropy cannot parse or convert; no ``source_id``; or any
        failure of :func:`~mgar_bayes.schema.validate_catalogue` (missing
        column, non-numeric values, non-positive uncertainty, duplicated
        ``source_id``, empty table). Messages name the file, column and rows.

    Warns
    -----
    UserWarning
        Multi-dimensional FITS columns are dropped; an unmapped column whose
        name is taken by a mapped one is dropped.
    """
    origin = name or str(path)
    if column_map is None:
        columns, map_units = {}, {}
    elif isinstance(column_map, str | os.PathLike):
        columns, map_units = read_column_map(column_map)
    else:
        columns, map_units = _normalise_map(column_map, "column_map")
    all_units = dict(map_units)
    all_units.update(units or {})

    raw = _read_raw(path, encoding=encoding)
    df = _apply_map(raw, columns, origin)

    if "source_id" not in df.columns:
        raise CatalogueError(
            f"{origin}: no 'source_id' column (required); map one, e.g. "
            f"column_map={{'source_id': 'obsid'}}; available columns: {sorted(map(str, df.columns))}"
        )
    for column, unit in all_units.items():
        if column not in df.columns:
            raise CatalogueError(
                f"{origin}: a unit ({unit!r}) was given for column '{column}', which the table "
                f"does not have; available columns: {sorted(map(str, df.columns))}"
            )
        factor = _conversion_factor(column, unit, origin)
        if factor != 1.0:
            df[column] = _to_float(df[column], column, origin) * factor
    return validate_catalogue(df, name=origin)


def _apply_map(raw: pd.DataFrame, columns: Mapping[str, str], origin: str) -> pd.DataFrame:
    """Rename/copy survey columns to canonical names; unmapped columns stay as they are."""
    if not columns:
        return raw.reset_index(drop=True)
    sources = {
        canon: _lookup(raw, survey, origin, "mapped survey column")
        for canon, survey in columns.items()
    }
    used = set(sources.values())
    # An unmapped column carrying a canonical name that a mapped column now takes.
    clashes = [c for c in raw.columns if c in sources and sources[c] != c and c not in used]
    if clashes:
        warnings.warn(
            f"{origin}: unmapped column(s) {clashes} dropped: their names are taken by mapped columns",
            UserWarning,
            stacklevel=3,
        )
    out: dict[str, pd.Series] = {}
    for c in raw.columns:
        if c in used or c in clashes:
            continue
        out[c] = raw[c]
    for canon, src in sources.items():
        out[canon] = raw[src]
    # Mapped columns first in map order, then the extras in file order.
    order = list(sources) + [c for c in out if c not in sources]
    return pd.DataFrame({c: out[c] for c in order}).reset_index(drop=True)


# ------------------------------------------------------------------------ LAMOST DR8

_VAC_REQUIRED = (
    "obsid",
    "feh_apogee",
    "err_feh_apogee",
    "afe_apogee",
    "err_afe_apogee",
    "flag_feh_apogee",
    "flag_afe_apogee",
    "snrg",
    "rv",
    "err_rv",
    "dist_phot",
    "err_dist_phot",
    "x",
    "y",
    "z",
    "r",
    "phi",
    "err_r",
    "err_z",
    "vr",
    "vphi",
    "vz",
    "e_vr",
    "e_vphi",
    "e_vz",
)
_AGE_REQUIRED = (
    "obsid",
    "status",
    "age_rgb",
    "err_age_rgb",
    "mass_rgb",
    "age_rc",
    "err_age_rc",
    "mass_rc",
)
_VAC_OPTIONAL = (
    "err_x",
    "err_y",
    "ra",
    "dec",
    "pmra",
    "pmdec",
    "pmra_error",
    "pmra_err",
    "pmdec_error",
    "pmdec_err",
    "logg",
    "teff",
)
_VAC_USED = frozenset(_VAC_REQUIRED + _VAC_OPTIONAL)
_AGE_USED = frozenset(_AGE_REQUIRED + ("snr",))


def _lower_columns(df: pd.DataFrame, origin: str, required: tuple[str, ...]) -> pd.DataFrame:
    """Lower-case column names (LAMOST files differ in case); check required ones."""
    lower = [str(c).lower() for c in df.columns]
    seen: dict[str, list[str]] = {}
    for orig, low in zip(df.columns, lower, strict=True):
        seen.setdefault(low, []).append(str(orig))
    clashes = {k: v for k, v in seen.items() if len(v) > 1}
    if clashes:
        raise CatalogueError(
            f"{origin}: column names differ only by case: {list(clashes.values())}"
        )
    out = df.copy()
    out.columns = lower
    missing = [c for c in required if c not in out.columns]
    if missing:
        raise CatalogueError(
            f"{origin}: missing column(s) {missing} (case-insensitive); "
            f"available: {sorted(out.columns)}"
        )
    return out


def _check_unique_obsid(df: pd.DataFrame, origin: str) -> None:
    dup = df["obsid"][df["obsid"].duplicated(keep=False)]
    if len(dup):
        values = pd.unique(dup)
        shown = ", ".join(str(v) for v in values[:10])
        more = f" and {len(values) - 10} more" if len(values) > 10 else ""
        raise CatalogueError(
            f"{origin}: duplicated obsid value(s) {shown}{more} ({len(dup)} rows); "
            f"each obsid must appear once"
        )


def _join_key(a: pd.Series, b: pd.Series) -> tuple[pd.Series, pd.Series]:
    """obsid as int64 on both sides if both are integral, else as stripped strings."""

    def as_int(s: pd.Series) -> pd.Series | None:
        if pd.api.types.is_integer_dtype(s):
            return s.astype(np.int64)
        if pd.api.types.is_float_dtype(s):
            v = s.to_numpy()
            if np.all(np.isfinite(v)) and np.all(v == np.round(v)):
                return s.astype(np.int64)
        return None

    ia, ib = as_int(a), as_int(b)
    if ia is not None and ib is not None:
        return ia, ib
    return a.astype(str).str.strip(), b.astype(str).str.strip()


def _scale(values: pd.Series, unit: str, target: str, column: str, origin: str) -> np.ndarray:
    return _to_float(values, column, origin) * _factor(unit, target, column, origin)


def read_lamost_dr8(
    vac_path: PathLike,
    age_path: PathLike,
    *,
    vphi_sign: int = +1,
    phi_unit: str = "deg",
    distance_unit: str = "kpc",
    galcen_unit: str = "kpc",
    galcen_err_unit: str = "pc",
    encoding: str = "utf-8",
) -> pd.DataFrame:
    """Read and join the LAMOST DR8 giant VAC and the RGB/RC age catalogue (C25).

    Chen et al. (2025) combine the LAMOST DR8 value-added catalogue of giants
    (``dr8_final_vac_flag_parameter.fits``; Wang et al. 2022) with the
    neural-network ages of Wang et al. (2023). The two are joined on ``obsid``
    (inner join). Column names are matched case-insensitively. Either file may
    be FITS, CSV or Parquet.

    Inputs and the units assumed for them:

    VAC (``vac_path``)
        ``obsid``; ``FEH_APOGEE``, ``err_feh_apogee``, ``AFE_APOGEE``,
        ``err_afe_apogee`` [dex]; ``flag_feh_apogee``, ``flag_afe_apogee``
        (0 = good); ``snrg`` (g-band SNR); ``rv``, ``err_rv`` [km/s];
        ``dist_phot``, ``err_dist_phot`` [``distance_unit``]; Galactocentric
        ``x, y, z, r`` [``galcen_unit``] with ``err_x, err_y, err_z, err_r``
        [``galcen_err_unit``, pc by default]; azimuth ``phi`` [``phi_unit``]
        (``err_phi`` is not read: its unit is undocumented); velocities
        ``vr, vphi, vz`` with ``e_vr, e_vphi, e_vz`` [km/s]. Optional and kept
        if present: ``ra, dec`` [deg], ``pmra, pmdec`` with ``pmra_error`` or
        ``pmra_err`` and ``pmdec_error`` or ``pmdec_err`` [mas/yr], ``logg``
        [dex], ``teff`` [K].
    Ages (``age_path``)
        ``obsid``; ``status`` (0 = RGB, > 0 = RC); ``age_rgb``, ``age_rc``
        [Gyr]; ``err_age_rgb``, ``err_age_rc`` *fractional* (absolute error =
        fraction x age); ``mass_rgb``, ``mass_rc`` [Msun]; optional ``snr``.

    Parameters
    ----------
    vac_path : str or path-like
        LAMOST DR8 giant VAC.
    age_path : str or path-like
        RGB/RC age catalogue.
    vphi_sign : {+1, -1}
        Multiplies the VAC's ``vphi`` (and nothing else) so that ``v_phi`` is
        positive along Galactic rotation. Check the VAC's convention: after the
        sign, disk stars must have ``v_phi`` of about +200 km/s.
    phi_unit : str
        Unit of the VAC's ``phi`` ("deg" or "rad"); no guessing from values.
    distance_unit : str
        Unit of ``dist_phot`` and ``err_dist_phot`` (default "kpc").
    galcen_unit : str
        Unit of ``x, y, z, r`` (default "kpc").
    galcen_err_unit : str
        Unit of ``err_x, err_y, err_z, err_r`` (default "pc").
    encoding : str
        Text encoding of either file when it is a CSV (default ``"utf-8"``).

    Returns
    -------
    pandas.DataFrame
        Validated canonical table, one row per matched star, in VAC order:
        ``source_id`` (= obsid); ``feh, feh_err, afe, afe_err`` [dex];
        ``flag_feh, flag_afe``; ``snr`` (from ``snrg``; the age catalogue's
        ``snr`` as ``snr_age``); ``rv, rv_err`` [km/s]; ``distance,
        distance_err`` [kpc]; ``age, age_err`` [Gyr, absolute]; ``mass``
        [Msun] and ``evol_stage`` ('RGB'/'RC'), each from the RGB or RC columns
        according to ``status``; ``R, R_err, z, z_err, x, y`` (and ``x_err,
        y_err`` if present) [kpc]; ``phi`` [deg]; ``v_R, v_R_err, v_phi,
        v_phi_err, v_z, v_z_err`` [km/s]; plus the optional heliocentric and
        stellar-parameter columns above when present. ``R`` is the VAC's
        cylindrical ``r``, the "r" of C25's 40 % relative-error cut.
        ``df.attrs["join"]`` is ``{"vac_rows": ..., "age_rows": ...,
        "matched": ...}``.

    Raises
    ------
    FileNotFoundError
        A file does not exist.
    CatalogueError
        Unreadable file (including a CSV that is not valid text in
        ``encoding``), missing column, duplicated ``obsid`` in either file
        (the values are named), no ``obsid`` in common, a ``status`` that is
        negative or missing, an unconvertible unit, or any failure of
        :func:`~mgar_bayes.schema.validate_catalogue`.
    """
    if vphi_sign not in (1, -1):
        raise ValueError(f"vphi_sign must be +1 or -1, got {vphi_sign!r}")
    vac_origin, age_origin = f"LAMOST VAC {vac_path}", f"age catalogue {age_path}"
    # The real VAC has many more columns than are used: load only these.
    vac = _lower_columns(
        _read_raw(vac_path, keep=lambda c: str(c).lower() in _VAC_USED, encoding=encoding),
        vac_origin,
        _VAC_REQUIRED,
    )
    ages = _lower_columns(
        _read_raw(age_path, keep=lambda c: str(c).lower() in _AGE_USED, encoding=encoding),
        age_origin,
        _AGE_REQUIRED,
    )
    _check_unique_obsid(vac, vac_origin)
    _check_unique_obsid(ages, age_origin)

    vac["obsid"], ages["obsid"] = _join_key(vac["obsid"], ages["obsid"])
    n_vac, n_age = len(vac), len(ages)
    ages = ages.rename(columns={c: f"{c}__age" for c in ages.columns if c != "obsid"})
    joined = vac.merge(ages, on="obsid", how="inner", validate="one_to_one", sort=False)
    joined = joined.reset_index(drop=True)
    n = len(joined)
    logger.info(
        "LAMOST DR8 join on obsid: %d VAC rows, %d age rows, %d matched; "
        "%d VAC rows and %d age rows without a partner",
        n_vac,
        n_age,
        n,
        n_vac - n,
        n_age - n,
    )
    if n == 0:
        raise CatalogueError(
            f"{vac_origin} and {age_origin} have no obsid in common "
            f"(VAC e.g. {list(vac['obsid'][:3])}, ages e.g. {list(ages['obsid'][:3])})"
        )
    origin = f"LAMOST DR8 ({Path(vac_path).name} + {Path(age_path).name})"

    def num(col: str) -> np.ndarray:
        return _to_float(joined[col], col, origin)

    status = num("status__age")
    bad = ~np.isfinite(status) | (status < 0)
    if bad.any():
        ids = ", ".join(str(v) for v in joined["obsid"][bad][:10])
        raise CatalogueError(
            f"{age_origin}: column 'status' must be 0 (RGB) or > 0 (RC); "
            f"{int(bad.sum())} star(s) with missing or negative status, obsid {ids}"
        )
    rc = status > 0

    def per_stage(stem: str) -> np.ndarray:
        return np.where(rc, num(f"{stem}_rc__age"), num(f"{stem}_rgb__age"))

    age = per_stage("age")
    out: dict[str, Any] = {
        "source_id": joined["obsid"].to_numpy(),
        "feh": num("feh_apogee"),
        "feh_err": num("err_feh_apogee"),
        "afe": num("afe_apogee"),
        "afe_err": num("err_afe_apogee"),
        "flag_feh": joined["flag_feh_apogee"].to_numpy(),
        "flag_afe": joined["flag_afe_apogee"].to_numpy(),
        "snr": num("snrg"),
        "rv": num("rv"),
        "rv_err": num("err_rv"),
        "distance": _scale(joined["dist_phot"], distance_unit, "kpc", "dist_phot", origin),
        "distance_err": _scale(
            joined["err_dist_phot"], distance_unit, "kpc", "err_dist_phot", origin
        ),
        "age": age,
        # err_age_* are fractional errors in the Wang et al. (2023) catalogue.
        "age_err": per_stage("err_age") * age,
        "mass": per_stage("mass"),
        "evol_stage": np.where(rc, "RC", "RGB"),
        "R": _scale(joined["r"], galcen_unit, "kpc", "r", origin),
        "R_err": _scale(joined["err_r"], galcen_err_unit, "kpc", "err_r", origin),
        "phi": _scale(joined["phi"], phi_unit, "deg", "phi", origin),
        "z": _scale(joined["z"], galcen_unit, "kpc", "z", origin),
        "z_err": _scale(joined["err_z"], galcen_err_unit, "kpc", "err_z", origin),
        "v_R": num("vr"),
        "v_R_err": num("e_vr"),
        "v_phi": vphi_sign * num("vphi"),
        "v_phi_err": num("e_vphi"),
        "v_z": num("vz"),
        "v_z_err": num("e_vz"),
        "x": _scale(joined["x"], galcen_unit, "kpc", "x", origin),
        "y": _scale(joined["y"], galcen_unit, "kpc", "y", origin),
    }
    for axis in ("x", "y"):
        if f"err_{axis}" in joined.columns:
            out[f"{axis}_err"] = _scale(
                joined[f"err_{axis}"], galcen_err_unit, "kpc", f"err_{axis}", origin
            )
    optional = {
        "ra": ("ra",),
        "dec": ("dec",),
        "pmra": ("pmra",),
        "pmdec": ("pmdec",),
        "pmra_err": ("pmra_error", "pmra_err"),
        "pmdec_err": ("pmdec_error", "pmdec_err"),
        "logg": ("logg",),
        "teff": ("teff",),
    }
    for canonical, candidates in optional.items():
        found = next((c for c in candidates if c in joined.columns), None)
        if found is not None:
            out[canonical] = num(found)
    if "snr__age" in joined.columns:
        out["snr_age"] = num("snr__age")

    df = validate_catalogue(pd.DataFrame(out), name=origin)
    df.attrs["join"] = {"vac_rows": n_vac, "age_rows": n_age, "matched": n}
    return df
