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
import difflib
import gzip
import logging
import math
import numbers
import os
import re
import tomllib
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import astropy.units as u
import numpy as np
import pandas as pd

from .atomic import write_frame
from .schema import (
    DERIVED_COLUMNS,
    HELIOCENTRIC_KINEMATICS,
    OPTIONAL_COLUMNS,
    REQUIRED_COLUMNS,
    CatalogueError,
    plain,
    validate_catalogue,
)

__all__ = [
    "CANONICAL_UNITS",
    "read_catalogue",
    "read_column_map",
    "read_apogee_dr17",
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


@dataclass(frozen=True)
class Expression:
    """A canonical column computed from the file's columns: ``{ expr = "...", unit = "..." }``.

    ``text`` is evaluated with :meth:`pandas.DataFrame.eval` on the table as
    read, before any renaming, so it names the *file's* columns (exactly, not
    case-insensitively): arithmetic (``+ - * / ** %``), comparisons and the
    functions pandas offers there (``abs``, ``sqrt``, ``log10``, ``cos``,
    ``arctan2``, ...). Column names that are not Python identifiers are written
    in backticks, e.g. ``expr = "`SFDE_B-V_` * 3.1"``; ``__Fe_H_`` needs none. A unit
    is that of the result, converted like a column's.
    """

    text: str


@dataclass(frozen=True)
class Constant:
    """One value for every star (``[values]`` table, or ``{ value = ... }``).

    For a quantity the file lacks, e.g. ``flag_feh = 0`` for a table without
    quality flags or an assumed uncertainty ``feh_err = 0.05``. Every constant
    is warned about on reading and listed in ``df.attrs["column_map"]["values"]``.
    """

    value: int | float | str


@dataclass(frozen=True)
class Recode:
    """A survey column whose values are translated: ``{ column = "evstat", recode = { CLUMP = "RC" } }``.

    ``codes`` maps a file value, written as text (``"1"`` for the integer 1),
    to the canonical value; ``""`` as a canonical value, a blank file value and
    a missing one all give a missing value. A file value not listed is an error,
    so that no code is lost unnoticed.
    """

    column: str
    codes: Mapping[str, int | float | str]


ColumnSource = str | Expression | Constant | Recode
_SOURCE_KEYS = ("column", "expr", "value")


def _constant(canonical: str, value: Any, origin: str, what: str = "value") -> int | float | str:
    """A number or string from a column map, as a plain Python value."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, numbers.Real | str):
        fix = "; write 0 or 1" if isinstance(value, bool) else ""
        raise CatalogueError(
            f"{origin}: {what} for '{canonical}' must be a number or a string, got {value!r}{fix}"
        )
    if isinstance(value, numbers.Real) and not math.isfinite(value):
        raise CatalogueError(
            f"{origin}: {what} for '{canonical}' must be finite, got {value!r}; a column the file "
            "lacks is left out of the map, not set to NaN"
        )
    return value


def _recode(canonical: str, column: Any, codes: Any, origin: str) -> Recode:
    if not isinstance(codes, Mapping) or not codes:
        raise CatalogueError(
            f"{origin}: recode for '{canonical}' must be a non-empty table of file value = canonical "
            f'value, e.g. recode = {{ CLUMP = "RC", RGB = "RGB" }}'
        )
    return Recode(
        column,
        {
            str(k).strip(): _constant(canonical, v, origin, "recoded value")
            for k, v in codes.items()
        },
    )


def _normalise_map(
    column_map: Mapping[str, Any], origin: str
) -> tuple[dict[str, ColumnSource], dict[str, str]]:
    """Split a column map into ``{canonical: source}`` and ``{canonical: unit}``.

    A source is a survey column name, an :class:`Expression`, a
    :class:`Constant` or a :class:`Recode`; entries already parsed pass
    through unchanged.
    """
    columns: dict[str, ColumnSource] = {}
    units: dict[str, str] = {}
    if not isinstance(column_map, Mapping):
        raise CatalogueError(
            f"{origin}: column map must be a table/dict, got {type(column_map).__name__}"
        )
    for canonical, spec in column_map.items():
        if isinstance(spec, str | Expression | Constant | Recode):
            columns[canonical] = spec
        elif isinstance(spec, Mapping):
            given = [k for k in _SOURCE_KEYS if k in spec]
            extra = set(spec) - {*_SOURCE_KEYS, "unit", "recode"}
            if extra or len(given) != 1:
                raise CatalogueError(
                    f"{origin}: entry for '{canonical}' must be a column name or "
                    f"{{column = ..., unit = ...}}, {{expr = ..., unit = ...}} or {{value = ...}} "
                    f"(exactly one of column, expr, value); got keys {sorted(spec)}"
                )
            kind = given[0]
            if "recode" in spec and (kind != "column" or "unit" in spec):
                raise CatalogueError(
                    f"{origin}: entry for '{canonical}': recode goes with column (and no unit)"
                )
            if kind == "value":
                columns[canonical] = Constant(_constant(canonical, spec["value"], origin))
            elif kind == "expr":
                if not isinstance(spec["expr"], str) or not spec["expr"].strip():
                    raise CatalogueError(
                        f"{origin}: expression for '{canonical}' must be a non-empty string"
                    )
                columns[canonical] = Expression(spec["expr"])
            else:
                if not isinstance(spec["column"], str):
                    raise CatalogueError(
                        f"{origin}: column name for '{canonical}' must be a string"
                    )
                columns[canonical] = (
                    _recode(canonical, spec["column"], spec["recode"], origin)
                    if "recode" in spec
                    else spec["column"]
                )
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


def parse_column_map(
    data: Mapping[str, Any], origin: str
) -> tuple[dict[str, ColumnSource], dict[str, str]]:
    """The ``[columns]``, ``[units]`` and ``[values]`` tables of a parsed TOML column map.

    Parameters
    ----------
    data : mapping
        The parsed file, ``{"columns": {...}, "units": {...}, "values": {...}}``
        (each table optional).
    origin : str
        Where the map comes from, for messages (a file name).

    Returns
    -------
    columns : dict
        ``{canonical_name: source}``, a source being a survey column name
        (str), an :class:`Expression`, a :class:`Constant` (from ``[values]``
        or ``{ value = ... }``) or a :class:`Recode`.
    units : dict of str to str
        ``{canonical_name: unit_string}`` from the inline ``unit`` keys and the
        ``[units]`` table.

    Raises
    ------
    CatalogueError
        Unknown top-level tables, malformed entries, a column given both in
        ``[columns]`` and in ``[values]``, or the same column given two
        different units.
    """
    unknown = set(data) - {"columns", "units", "values"}
    if unknown:
        raise CatalogueError(
            f"{origin}: unknown table(s) {sorted(unknown)} in column map; "
            "allowed: [columns], [units], [values]"
        )
    columns, units = _normalise_map(data.get("columns", {}), origin)
    values = data.get("values", {})
    if not isinstance(values, Mapping):
        raise CatalogueError(f"{origin}: [values] must be a table of canonical_name = value")
    for canonical, value in values.items():
        if canonical in columns:
            raise CatalogueError(
                f"{origin}: '{canonical}' is given both in [columns] and in [values]; keep one"
            )
        columns[canonical] = Constant(_constant(canonical, value, origin))
    extra_units = data.get("units", {})
    if not isinstance(extra_units, Mapping):
        raise CatalogueError(f"{origin}: [units] must be a table")
    units = _merge_units(units, extra_units, origin)
    return columns, units


def read_column_map(path: PathLike) -> tuple[dict[str, ColumnSource], dict[str, str]]:
    """Read a column map from a TOML file.

    The file has a ``[columns]`` table whose entries are one of

    * ``canonical_name = "survey_name"`` or
      ``canonical_name = { column = "survey_name", unit = "pc" }``;
    * ``canonical_name = { expr = "DistM68U - DistM", unit = "pc" }``: computed
      from the file's columns (see :class:`Expression`; names that are not
      Python identifiers in backticks);
    * ``canonical_name = { column = "evstat", recode = { CLUMP = "RC", RGB = "RGB" } }``:
      a column whose values are translated (see :class:`Recode`);

    an optional ``[units]`` table ``canonical_name = "unit"`` (any
    :mod:`astropy.units` string), and an optional ``[values]`` table
    ``canonical_name = value`` of constants for columns the file lacks, e.g.
    ``flag_feh = 0`` or an assumed ``feh_err = 0.05`` (see :class:`Constant`).
    A unit is the unit the *survey* column (expression, constant) is stored in;
    it is converted to the canonical unit of :mod:`mgar_bayes.schema` on reading.

    Parameters
    ----------
    path : str or path-like
        TOML file.

    Returns
    -------
    columns : dict
        ``{canonical_name: survey_name}`` for plain entries; expressions,
        constants and recoded columns as :class:`Expression`,
        :class:`Constant` and :class:`Recode`.
    units : dict of str to str
        ``{canonical_name: unit_string}`` from both the inline ``unit`` keys and
        the ``[units]`` table.

    Raises
    ------
    FileNotFoundError
        The file does not exist.
    CatalogueError
        Invalid TOML, unknown top-level tables (a ``[preset]`` table: the file
        is a survey preset, read with :mod:`mgar_bayes.surveys`), malformed
        entries or the same column given two different units.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"column map file not found: {path}")
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise CatalogueError(f"{path}: not a valid TOML column map ({exc})") from exc
    if "preset" in data:
        # its [preset.config] settings would be lost if read as a plain column map
        raise CatalogueError(
            f"{path}: has a [preset] table, so it is a survey preset, not a column map: pass it "
            f"with --survey {path} (Python: mgar_bayes.surveys.read_survey)"
        )
    return parse_column_map(data, str(path))


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
    require_kinematics: bool = True,
) -> pd.DataFrame:
    """Read a star catalogue and return the validated canonical table.

    Parameters
    ----------
    path : str or path-like
        CSV (``.csv``, ``.csv.gz``), Parquet (``.parquet``, ``.pq``) or FITS
        (``.fits``, ``.fit``, ``.fits.gz``; the first table HDU) file. The
        format is chosen by suffix.
    column_map : dict, str, path-like or None
        How survey columns map onto canonical ones: ``{canonical: survey_name}``,
        ``{canonical: {"column": survey_name, "unit": "pc"}}``,
        ``{canonical: {"expr": "DistM68U - DistM", "unit": "pc"}}`` (computed
        from the file's columns, see :class:`Expression`),
        ``{canonical: {"value": 0.05}}`` (one value for every star, see
        :class:`Constant`) or ``{canonical: {"column": ..., "recode": {...}}}``
        (see :class:`Recode`); or a TOML file in that shape (see
        :func:`read_column_map`; its ``[values]`` table holds the constants).
        Survey names are matched exactly, else case-insensitively. Unmapped
        columns are kept as they are; None: the file already uses canonical
        names.
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
    require_kinematics : bool
        Require heliocentric (or Galactocentric) positions and velocities, as
        the orbit stage does (default). False reads a table without velocities
        (present-day positions, abundances and ages only): every other check
        of :func:`~mgar_bayes.schema.validate_catalogue` still applies.

    Returns
    -------
    pandas.DataFrame
        Canonical table (see :mod:`mgar_bayes.schema`): distances in kpc, proper
        motions in mas/yr, velocities in km/s, abundances in dex, ages in Gyr,
        masses in Msun, angles in deg. The index is a RangeIndex. With a column
        map, ``df.attrs["column_map"]`` records it: ``columns`` (canonical:
        survey name), ``expressions``, ``recode``, ``values`` (the constants)
        and ``units``.

    Raises
    ------
    FileNotFoundError
        ``path`` (or a TOML ``column_map``) does not exist.
    CatalogueError
        Unknown suffix or unreadable file; a CSV that is not valid text in
        ``encoding`` (the message gives the byte offset and line of the first
        bad byte) or an unknown encoding name; a mapped column that the file lacks;
        an expression that names a column the file lacks or cannot be evaluated
        (the message gives the expression); a recoded column with a value its
        table does not list; a unit that astropy cannot parse or convert; no
        ``source_id``; or any failure of
        :func:`~mgar_bayes.schema.validate_catalogue` (missing column,
        non-numeric values, non-positive uncertainty, duplicated ``source_id``,
        empty table). Messages name the file, column and rows.

    Warns
    -----
    UserWarning
        Multi-dimensional FITS columns are dropped; an unmapped column whose
        name is taken by a mapped one is dropped; a column set to a constant
        (one warning per column, so that no assumed value goes unnoticed).
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

    with warnings.catch_warnings():
        # VizieR's FITS ASCII tables carry TNULL values wider than their integer columns;
        # astropy truncates them (they match no value) and says so once per column
        warnings.filterwarnings("ignore", message="Invalid keyword for column .*TNULL")
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
    for column, spec in columns.items():
        if isinstance(spec, Constant):
            unit = f" {all_units[column]}" if column in all_units else ""
            warnings.warn(
                f"{origin}: column '{column}' set to the constant {plain(spec.value)}{unit} for "
                "every star (from the column map)",
                UserWarning,
                stacklevel=2,
            )
    if require_kinematics:
        out = validate_catalogue(df, name=origin)
    else:
        out = _validate_without_kinematics(df, origin)
    if column_map is not None:
        out.attrs["column_map"] = _describe_map(columns, all_units)
    return out


def _validate_without_kinematics(df: pd.DataFrame, origin: str) -> pd.DataFrame:
    """:func:`validate_catalogue` for a table without velocities; the kinematics are not added."""
    absent = [c for c in HELIOCENTRIC_KINEMATICS if c not in df.columns]
    # NaN stand-ins satisfy the column check (NaN is allowed there) and are dropped again
    probe = df.assign(**{c: np.nan for c in absent})
    return validate_catalogue(probe, name=origin, require_heliocentric=True).drop(columns=absent)


def _describe_map(columns: Mapping[str, ColumnSource], units: Mapping[str, str]) -> dict[str, Any]:
    """The column map as plain data (for ``df.attrs`` and the run's ``summary.json``)."""
    out: dict[str, Any] = {"columns": {}, "expressions": {}, "recode": {}, "values": {}}
    for canon, spec in columns.items():
        if isinstance(spec, Expression):
            out["expressions"][canon] = spec.text
        elif isinstance(spec, Constant):
            out["values"][canon] = spec.value
        elif isinstance(spec, Recode):
            out["recode"][canon] = {"column": spec.column, "codes": dict(spec.codes)}
        else:
            out["columns"][canon] = spec
    out["units"] = dict(units)
    return out


def _apply_map(raw: pd.DataFrame, columns: Mapping[str, ColumnSource], origin: str) -> pd.DataFrame:
    """Rename/copy survey columns to canonical names, compute expressions, constants and recodes.

    Unmapped columns, and the columns that expressions and recodes read, stay as
    they are.
    """
    if not columns:
        return raw.reset_index(drop=True)
    raw = raw.reset_index(drop=True)
    sources: dict[str, str] = {}  # canonical name -> the file column renamed to it
    made: dict[str, Any] = {}  # canonical name -> values computed from the file
    reads: dict[str, set[str]] = {}  # file columns each computed column reads
    for canon, spec in columns.items():
        if isinstance(spec, Expression):
            made[canon] = _evaluate(raw, canon, spec.text, origin)
            reads[canon] = set(_names_in(spec.text))
        elif isinstance(spec, Constant):
            kind = object if isinstance(spec.value, str) else None
            made[canon] = np.full(len(raw), spec.value, dtype=kind)
            reads[canon] = set()
        elif isinstance(spec, Recode):
            src = _lookup(raw, spec.column, origin, "recoded survey column")
            made[canon] = _recoded(raw[src], canon, spec, origin)
            reads[canon] = {src}
        else:
            sources[canon] = _lookup(raw, spec, origin, "mapped survey column")
    used = set(sources.values())
    # An unmapped column carrying a canonical name that a mapped or computed column now takes.
    clashes = [
        c
        for c in raw.columns
        if c not in used
        and ((c in sources and sources[c] != c) or (c in made and c not in reads[c]))
    ]
    if clashes:
        warnings.warn(
            f"{origin}: unmapped column(s) {clashes} dropped: their names are taken by mapped columns",
            UserWarning,
            stacklevel=3,
        )
    out: dict[str, Any] = {}
    for c in raw.columns:
        if c in used or c in clashes or c in made:
            continue
        out[c] = raw[c]
    for canon, src in sources.items():
        out[canon] = raw[src]
    out.update(made)
    # Mapped columns first in map order, then the extras in file order.
    order = list(columns) + [c for c in out if c not in columns]
    return pd.DataFrame({c: out[c] for c in order}, index=raw.index)


# a backticked column name, or a bare name (identifiers, as pandas.eval parses them)
_NAME = re.compile(r"`([^`]*)`|([A-Za-z_][A-Za-z0-9_]*)")


def _names_in(text: str) -> list[str]:
    """Names an expression refers to: backticked column names and bare identifiers."""
    return [quoted or bare for quoted, bare in _NAME.findall(text)]


def _evaluate(raw: pd.DataFrame, canon: str, text: str, origin: str) -> pd.Series:
    """The canonical column ``canon`` computed from the file's columns by ``text``."""
    what = f"{origin}: expression for '{canon}' ({text!r})"
    names = [str(c) for c in raw.columns]
    if "@" in text:
        raise CatalogueError(
            f"{what}: '@' (a Python variable) is not allowed; use the file's columns and numbers"
        )
    for quoted, _ in _NAME.findall(text):
        if quoted and quoted not in names:
            raise CatalogueError(_missing_column(what, quoted, names))
    try:
        # the Python engine: the same arithmetic whether or not numexpr is installed
        with np.errstate(all="ignore"):
            result = raw.eval(text, engine="python")
    except pd.errors.UndefinedVariableError as exc:
        found = re.search(r"name '([^']*)' is not defined", str(exc))
        raise CatalogueError(
            _missing_column(what, found.group(1) if found else str(exc), names)
        ) from None
    except Exception as exc:  # a syntax error, a function pandas does not offer, ...
        raise CatalogueError(
            f"{what} cannot be evaluated: {type(exc).__name__}: {exc}. Expressions are arithmetic "
            "on the file's columns (pandas.DataFrame.eval); names that are not Python identifiers "
            "go in backticks, e.g. `SFDE_B-V_`"
        ) from exc
    if isinstance(result, pd.DataFrame):
        raise CatalogueError(f"{what}: an expression computes one column; no assignments ('=')")
    if not isinstance(result, pd.Series):
        raise CatalogueError(
            f"{what} reads no column of the file; for a constant write it in [values], "
            f"e.g. {canon} = {plain(result)}"
        )
    return result.reset_index(drop=True)


def _missing_column(what: str, name: str, names: list[str]) -> str:
    lower = {n.lower(): n for n in names}
    close = [
        lower[m] for m in difflib.get_close_matches(name.lower(), list(lower), n=3, cutoff=0.7)
    ]
    hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
    return (
        f"{what}: column '{name}' not found{hint} (names in expressions are matched exactly; "
        f"names that are not Python identifiers go in backticks, e.g. `SFDE_B-V_`); "
        f"available columns: {sorted(names)}"
    )


def _code_key(value: Any) -> str | None:
    """A file value as a recode key: ``1``, ``1.0`` and ``"1"`` are all ``"1"``; blank is None."""
    if value is None or (isinstance(value, float | np.floating) and np.isnan(value)):
        return None
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    text = str(value).strip()
    return text or None


def _recoded(values: pd.Series, canon: str, spec: Recode, origin: str) -> np.ndarray:
    """``values`` translated by ``spec.codes``; blank, missing and ``""`` targets become missing."""
    keys = [_code_key(v) for v in values.to_numpy(dtype=object)]
    unknown = sorted({k for k in keys if k is not None and k not in spec.codes})
    if unknown:
        shown = ", ".join(repr(k) for k in unknown[:10])
        more = f" and {len(unknown) - 10} more" if len(unknown) > 10 else ""
        raise CatalogueError(
            f"{origin}: column '{spec.column}' (recoded to '{canon}') has value(s) {shown}{more} "
            f'that its recode table {dict(spec.codes)} does not list; add them ("" marks a '
            f"value as missing)"
        )
    mapped = [None if k is None or spec.codes[k] == "" else spec.codes[k] for k in keys]
    if all(isinstance(v, numbers.Real) for v in spec.codes.values() if v != ""):
        return np.array([np.nan if v is None else v for v in mapped], dtype=float)
    return np.array(mapped, dtype=object)


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
    galcen_unit: str = "pc",
    galcen_err_unit: str = "pc",
    snr_source: str = "age",
    encoding: str = "utf-8",
) -> pd.DataFrame:
    """Read and join the LAMOST DR8 giant VAC and the RGB/RC age catalogue (C25).

    Chen et al. (2025) combine the LAMOST DR8 value-added catalogue of giants
    (``dr8_final_vac_flag_parameter.fits``; Wang et al. 2022) with the
    neural-network ages of Wang et al. (2023). The two are joined on ``obsid``
    (inner join). Column names are matched case-insensitively. Either file may
    be FITS, CSV or Parquet.

    The defaults read the files as C25 used them. Their own working script
    divides the VAC's ``r, z, err_r, err_z`` by 8270 (R0 = 8.27 kpc in pc) and
    cuts ``5000 < r < 20000`` and ``|z| < 10000``: the Galactocentric positions
    *and* their errors are in pc. ``phi`` is read as the VAC gives it (deg) and
    ``vphi`` is positive along Galactic rotation (C25 keep ``v_phi >= 0``).
    C25's SNR > 20 cut is on the age catalogue's ``snr`` (``snr_source="age"``);
    the VAC's g-band ``snrg`` is the alternative (``snr_source="vac"``). The
    choices are returned in ``df.attrs["lamost"]`` and end up in ``summary.json``.

    Inputs and the units assumed for them:

    VAC (``vac_path``)
        ``obsid``; ``FEH_APOGEE``, ``err_feh_apogee``, ``AFE_APOGEE``,
        ``err_afe_apogee`` [dex]; ``flag_feh_apogee``, ``flag_afe_apogee``
        (0 = good); ``snrg`` (g-band SNR, used with ``snr_source="vac"``);
        ``rv``, ``err_rv`` [km/s];
        ``dist_phot``, ``err_dist_phot`` [``distance_unit``]; Galactocentric
        ``x, y, z, r`` [``galcen_unit``, pc by default] with ``err_x, err_y,
        err_z, err_r`` [``galcen_err_unit``, pc by default]; azimuth ``phi`` [``phi_unit``]
        (``err_phi`` is not read: its unit is undocumented); velocities
        ``vr, vphi, vz`` with ``e_vr, e_vphi, e_vz`` [km/s]. Optional and kept
        if present: ``ra, dec`` [deg], ``pmra, pmdec`` with ``pmra_error`` or
        ``pmra_err`` and ``pmdec_error`` or ``pmdec_err`` [mas/yr], ``logg``
        [dex], ``teff`` [K].
    Ages (``age_path``)
        ``obsid``; ``status`` (0 = RGB, > 0 = RC); ``age_rgb``, ``age_rc``
        [Gyr]; ``err_age_rgb``, ``err_age_rc`` *fractional* (absolute error =
        fraction x age); ``mass_rgb``, ``mass_rc`` [Msun]; ``snr`` (required
        with ``snr_source="age"``, C25's choice).

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
        Unit of ``x, y, z, r`` (default "pc", as in the VAC).
    galcen_err_unit : str
        Unit of ``err_x, err_y, err_z, err_r`` (default "pc", as in the VAC).
    snr_source : {"age", "vac"}
        Which SNR the SNR cut reads: the age catalogue's ``snr`` (C25) or the
        VAC's ``snrg``. The other is kept as ``snr_vac`` / ``snr_age``.
    encoding : str
        Text encoding of either file when it is a CSV (default ``"utf-8"``).

    Returns
    -------
    pandas.DataFrame
        Validated canonical table, one row per matched star, in VAC order:
        ``source_id`` (= obsid); ``feh, feh_err, afe, afe_err`` [dex];
        ``flag_feh, flag_afe``; ``snr`` (per ``snr_source``; the other SNR as
        ``snr_vac`` or ``snr_age``); ``rv, rv_err`` [km/s]; ``distance,
        distance_err`` [kpc]; ``age, age_err`` [Gyr, absolute]; ``mass``
        [Msun] and ``evol_stage`` ('RGB'/'RC'), each from the RGB or RC columns
        according to ``status``; ``R, R_err, z, z_err, x, y`` (and ``x_err,
        y_err`` if present) [kpc]; ``phi`` [deg]; ``v_R, v_R_err, v_phi,
        v_phi_err, v_z, v_z_err`` [km/s]; plus the optional heliocentric and
        stellar-parameter columns above when present. ``R`` is the VAC's
        cylindrical ``r``, the "r" of C25's 40 % relative-error cut.
        ``df.attrs["join"]`` is ``{"vac_rows": ..., "age_rows": ...,
        "matched": ...}``; ``df.attrs["lamost"]`` holds the unit, sign and
        SNR choices.

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
    if snr_source not in ("age", "vac"):
        raise ValueError(f"snr_source must be 'age' (C25: the age catalogue's snr) or 'vac' (snrg), got {snr_source!r}")
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
        "snr": num("snrg") if snr_source == "vac" else None,
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
    if snr_source == "age":
        if "snr__age" not in joined.columns:
            raise CatalogueError(
                f"{age_origin}: no 'snr' column, which C25's SNR cut reads (snr_source='age'); "
                "use the VAC's snrg instead with snr_source='vac' (mgar run ... --lamost-snr vac)"
            )
        out["snr"] = num("snr__age")
        out["snr_vac"] = num("snrg")
    elif "snr__age" in joined.columns:
        out["snr_age"] = num("snr__age")

    df = validate_catalogue(pd.DataFrame(out), name=origin)
    df.attrs["join"] = {"vac_rows": n_vac, "age_rows": n_age, "matched": n}
    df.attrs["lamost"] = {"galcen_unit": galcen_unit, "galcen_err_unit": galcen_err_unit,
                          "distance_unit": distance_unit, "phi_unit": phi_unit, "vphi_sign": vphi_sign,
                          "snr_source": snr_source,
                          "snr_column": "age catalogue snr" if snr_source == "age" else "VAC snrg"}  # fmt: skip
    return df


# --- APOGEE DR17 ---------------------------------------------------------------------
# Reader for the APOGEE DR17 allStar table (Abdurro'uf et al. 2022), with ages either in
# the same table or in a separate age catalogue joined on APOGEE_ID.

# ASPCAPFLAG bits that make a star's ASPCAP abundances unusable: the bits the DR17 bitmask
# definition marks BAD (https://www.sdss4.org/dr17/irspec/apogee-bitmasks; levels as in
# AspcapBitMask of sdss/apogee, python/apogee/utils/bitmask.py). STAR_BAD (23) already
# collects TEFF/LOGG/CHI2/COLORTE/ROTATION/SN_BAD and any GRIDEDGE_BAD.
APOGEE_ASPCAPFLAG_BAD_BITS: tuple[int, ...] = (
    16,  # TEFF_BAD
    17,  # LOGG_BAD
    23,  # STAR_BAD
    25,  # COLORTE_BAD
    26,  # ROTATION_BAD
    28,  # SPEC_HOLE_BAD
    31,  # NO_ASPCAP_RESULT
    32,  # MISSING_APSTAR
    33,  # NO_GRID
    34,  # BAD_FRAC_LOWSNR
    35,  # BAD_FRAC_BADPIX
    36,  # FERRE_FAIL
    40,  # PROBLEM_TARGET (extended, embedded, galaxy...)
    41,  # MULTIPLE_SUSPECT (likely composite spectrum)
)
# With alpha="ALPHA_M", [alpha/Fe] is built from [alpha/M] and [M/H], so their own
# "potentially BAD" bits count too.
APOGEE_ASPCAPFLAG_ALPHA_M_BITS: tuple[int, ...] = (19, 20)  # M_H_BAD, ALPHA_M_BAD
# STARFLAG bits marked BAD in the same definition (StarBitMask). STARFLAG is the OR over all
# visits, so warning-level bits (persistence, bright neighbour) and LOW_SNR (S/N < 5 in one
# visit) are not used: the SNR cut judges the combined spectrum.
APOGEE_STARFLAG_BAD_BITS: tuple[int, ...] = (
    0,  # BAD_PIXELS
    3,  # VERY_BRIGHT_NEIGHBOR
    18,  # BAD_RV_COMBINATION
    22,  # RV_FAIL
)
# null markers of the allStar float columns
_APOGEE_NULLS = (-9999.0, -999.0)
_APOGEE_ALPHA = {
    "MG_FE": ("MG_FE", "MG_FE_ERR", "MG_FE_FLAG"),
    "ALPHA_M": ("ALPHA_M", "ALPHA_M_ERR", None),
}
_APOGEE_DISTANCES = ("GEO", "PHOTOGEO")
# canonical name -> allStar column (units already canonical: deg, mas/yr, km/s, dex, K)
_APOGEE_DIRECT = {
    "ra": "RA",
    "dec": "DEC",
    "pmra": "GAIAEDR3_PMRA",
    "pmra_err": "GAIAEDR3_PMRA_ERROR",
    "pmdec": "GAIAEDR3_PMDEC",
    "pmdec_err": "GAIAEDR3_PMDEC_ERROR",
    "parallax": "GAIAEDR3_PARALLAX",
    "parallax_err": "GAIAEDR3_PARALLAX_ERROR",
    "rv": "VHELIO_AVG",
    "rv_err": "VERR",
    "feh": "FE_H",
    "feh_err": "FE_H_ERR",
    "snr": "SNR",
}
_APOGEE_OPTIONAL = {"teff": "TEFF", "logg": "LOGG"}
# default age columns: an allStar extract / percentile table, and the astroNN DR17 VAC
_AGE_PERCENTILES = ("age", "age_16", "age_84")
_AGE_ASTRONN = ("age_lowess_correct", "age_total_error")


def _optional_column(df: pd.DataFrame, name: str, origin: str) -> str | None:
    """Like :func:`_lookup`, but None when the column is absent."""
    if name in df.columns or any(str(c).lower() == name.lower() for c in df.columns):
        return _lookup(df, name, origin, "column")
    return None


def _apogee_float(df: pd.DataFrame, name: str, origin: str) -> np.ndarray:
    """A numeric allStar column with its null markers (-9999, -999) as NaN."""
    col = _lookup(df, name, origin, "APOGEE column")
    v = _to_float(df[col], col, origin)
    return np.where(np.isin(v, _APOGEE_NULLS), np.nan, v)


def _bits_set(
    df: pd.DataFrame, name: str, bits: tuple[int, ...], origin: str
) -> tuple[np.ndarray, np.ndarray]:
    """(any of ``bits`` set, flag missing) per row of the bitmask column ``name``."""
    col = _lookup(df, name, origin, "APOGEE flag column")
    raw = np.ascontiguousarray(df[col].to_numpy())
    if raw.dtype.kind in "iu":
        # reinterpret, don't sign-extend: a negative 32-bit STARFLAG has bit 31 set, not 32-63
        ints = raw.view(f"u{raw.dtype.itemsize}").astype(np.uint64)
        missing = np.zeros(len(raw), dtype=bool)
    else:  # float (a FITS TNULL turned into NaN) or text
        v = _to_float(df[col], col, origin)
        missing = ~np.isfinite(v)
        with np.errstate(invalid="ignore"):
            bad = ~missing & ((v < 0) | (v != np.round(v)) | (v >= 2.0**63))
        if bad.any():
            raise CatalogueError(
                f"{origin}: column '{col}' must hold non-negative integer bitmasks; bad values in "
                f"{int(bad.sum())} row(s), first {df[col][bad].iloc[0]!r}"
            )
        ints = np.where(missing, 0, v).astype(np.uint64)
    mask = np.uint64(sum(1 << b for b in set(bits)))
    return (ints & mask) != 0, missing


def _check_bits(bits: Any, what: str) -> tuple[int, ...]:
    try:
        out = tuple(int(b) for b in bits)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what} must be bit numbers 0-63, got {bits!r}") from exc
    if any(b < 0 or b > 63 for b in out):
        raise ValueError(f"{what} must be bit numbers 0-63, got {bits!r}")
    return out


def _asymmetric(
    value: np.ndarray, p16: np.ndarray, p84: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """(value - p16, p84 - value, (p84 - p16) / 2, stars whose value lies outside [p16, p84]).

    The symmetric error is the half-width of the 68 % interval, equal to the mean of the
    two sides. Where the value is not inside its interval (a mode or best fit quoted with
    percentiles), the two sides mean nothing: both become NaN and the symmetric error stays.
    """
    lo, hi = value - p16, p84 - value
    outside = (lo <= 0) | (hi <= 0)
    lo, hi = np.where(outside, np.nan, lo), np.where(outside, np.nan, hi)
    return lo, hi, 0.5 * (p84 - p16), int(outside.sum())


def _flag(bad: np.ndarray, unknown: np.ndarray) -> np.ndarray:
    """1 where bad, 0 where known good, NaN where no bad bit is set but a flag is missing."""
    out = np.where(bad, 1.0, np.where(unknown, np.nan, 0.0))
    return out.astype(np.int64) if not np.isnan(out).any() else out


def _apogee_ids(df: pd.DataFrame, origin: str) -> pd.Series:
    col = _lookup(df, "APOGEE_ID", origin, "column")
    ids = df[col].astype("string").str.strip()
    empty = (ids.isna() | (ids == "")).to_numpy()
    if empty.any():
        rows = ", ".join(str(r) for r in np.flatnonzero(empty)[:5])
        raise CatalogueError(
            f"{origin}: APOGEE_ID is missing or empty in {int(empty.sum())} row(s): {rows} "
            "(0-based table rows); every star needs an identifier"
        )
    return ids


def read_apogee_dr17(
    allstar_path: PathLike,
    ages: PathLike | None = None,
    *,
    alpha: str = "MG_FE",
    distance: str = "GEO",
    age_columns: tuple[str, ...] | None = None,
    mass_column: str = "mass",
    aspcapflag_bits: tuple[int, ...] = APOGEE_ASPCAPFLAG_BAD_BITS,
    starflag_bits: tuple[int, ...] = APOGEE_STARFLAG_BAD_BITS,
    encoding: str = "utf-8",
) -> pd.DataFrame:
    """Read an APOGEE DR17 allStar table (and an age catalogue) into the canonical table.

    The allStar file (Abdurro'uf et al. 2022; FITS, CSV or Parquet, or any extract
    of it) is read with the survey's own column names, matched exactly, else
    case-insensitively. The values -9999 and -999 that APOGEE writes for missing
    values become NaN, as do FITS nulls (``TNULL``); the file's unit strings are
    not used (the units below are those of the DR17 data model).

    Columns read and their units:

    ``APOGEE_ID`` (-> ``source_id``); ``RA``, ``DEC`` [deg]; ``FE_H``,
    ``FE_H_ERR`` [dex]; [alpha/Fe] [dex] from ``MG_FE``, ``MG_FE_ERR`` or,
    with ``alpha="ALPHA_M"``, from ``ALPHA_M`` + ``M_H`` - ``FE_H`` with the
    error ``ALPHA_M_ERR`` (ASPCAP fits the alpha elements relative to the
    overall metallicity, so ``ALPHA_M`` is [alpha/M]); ``VHELIO_AVG``,
    ``VERR`` [km/s]; Gaia EDR3 ``GAIAEDR3_PMRA``, ``GAIAEDR3_PMDEC`` with
    ``_ERROR`` [mas/yr] and ``GAIAEDR3_PARALLAX(_ERROR)`` [mas]; the
    Bailer-Jones et al. (2021) distances ``GAIAEDR3_R_MED_<d>``,
    ``GAIAEDR3_R_LO_<d>``, ``GAIAEDR3_R_HI_<d>`` [pc] (median, 16th and 84th
    percentile; ``<d>`` = ``distance``); ``SNR``; ``ASPCAPFLAG``,
    ``STARFLAG`` and, if present, the element flags ``FE_H_FLAG`` and
    ``MG_FE_FLAG``; optional ``TEFF`` [K], ``LOGG`` [dex] and ``TELESCOPE``.

    allStar has one row per star and telescope (apo25m, lco25m, apo1m): only the
    row with the highest ``SNR`` of each ``APOGEE_ID`` is kept (the first in
    file order on a tie) and the others are counted.

    Parameters
    ----------
    allstar_path : str or path-like
        The allStar table or an extract with the same column names.
    ages : str, path-like or None
        None: ages (and ``mass``) are columns of the allStar table itself, as
        in an extract joined with an asteroseismic catalogue. Otherwise an age
        catalogue with an ``APOGEE_ID`` column, joined on it (inner join; also
        on ``TELESCOPE`` where both tables have it, as the astroNN DR17 VAC is
        row-matched to allStar). Ages in Gyr.
    alpha : {"MG_FE", "ALPHA_M"}
        Which [alpha/Fe]: [Mg/Fe] (default) or ASPCAP's global [alpha/M]
        converted to [alpha/Fe].
    distance : {"GEO", "PHOTOGEO"}
        Bailer-Jones et al. (2021) geometric or photo-geometric distances.
    age_columns : tuple of str, optional
        Three names ``(age, p16, p84)``: the age and its 16th and 84th
        percentiles; or two ``(age, error)``: the age and its symmetric 1-sigma
        error, all in Gyr. Default: ``("age_lowess_correct",
        "age_total_error")`` when the age table has ``age_total_error`` (the
        astroNN DR17 VAC, Leung & Bovy 2019; the LOWESS-calibrated age with the
        network's total error, which is the error of the uncalibrated age),
        else ``("age", "age_16", "age_84")``.
    mass_column : str
        Stellar mass [Msun], taken from the age table if it has the column,
        else from the allStar table.
    aspcapflag_bits, starflag_bits : tuple of int
        ``ASPCAPFLAG`` and ``STARFLAG`` bits that make a star bad (default:
        :data:`APOGEE_ASPCAPFLAG_BAD_BITS`, :data:`APOGEE_STARFLAG_BAD_BITS`,
        the bits the DR17 bitmask definition marks BAD).
    encoding : str
        Text encoding of either file when it is a CSV.

    Returns
    -------
    pandas.DataFrame
        Validated canonical table, one row per star, in allStar order:
        ``source_id`` (APOGEE_ID); ``ra, dec`` [deg]; ``distance`` (the median)
        [kpc] with ``distance_err_lo`` = median - 16th percentile,
        ``distance_err_hi`` = 84th percentile - median and ``distance_err`` =
        their mean [kpc]; ``pmra, pmdec`` with errors [mas/yr]; ``parallax,
        parallax_err`` [mas]; ``rv, rv_err`` [km/s]; ``feh, afe`` with errors
        [dex]; ``age`` [Gyr] with ``age_err`` and, for percentile ages,
        ``age_err_lo`` = age - p16 and ``age_err_hi`` = p84 - age [Gyr];
        ``age_err`` is (p84 - p16) / 2, the mean of the two sides; for a star
        whose age lies outside [p16, p84] (a most-likely age quoted with
        percentiles) both sides are NaN and only ``age_err`` is given.
        Likewise for distances. ``mass`` [Msun]; ``snr``; ``flag_feh``,
        ``flag_afe``: 1 where a bit of ``aspcapflag_bits`` or
        ``starflag_bits`` is set or the element flag (``FE_H_FLAG``;
        ``MG_FE_FLAG``, or with ``alpha="ALPHA_M"`` also ``M_H_BAD``,
        ``ALPHA_M_BAD`` and ``FE_H_FLAG``) is non-zero, else 0 (NaN, dropped by
        the flag cut, where a flag is missing); ``teff, logg`` and
        ``telescope`` when present. ``df.attrs["apogee"]`` records the file,
        the rows read, ``n_duplicates_dropped``, the alpha, distance, age and
        mass columns used, the flag bits, the stars flagged, and for an age
        table ``n_without_age`` (allStar stars it lacks) and ``n_ages_unused``.

    Raises
    ------
    FileNotFoundError
        A file does not exist.
    CatalogueError
        Unreadable file; a missing column (named, with the fix for ages and
        mass); non-numeric values; a missing ``APOGEE_ID``; an APOGEE_ID (and
        telescope) that appears twice in the age table (the ids are named);
        no star in common with the age table; or any failure of
        :func:`~mgar_bayes.schema.validate_catalogue`.
    ValueError
        An unknown ``alpha`` or ``distance``, or a bad ``age_columns`` or bit
        number.
    """
    alpha_key, dist_key = str(alpha).upper(), str(distance).upper()
    if alpha_key not in _APOGEE_ALPHA:
        raise ValueError(f"alpha must be one of {sorted(_APOGEE_ALPHA)}, got {alpha!r}")
    if dist_key not in _APOGEE_DISTANCES:
        raise ValueError(f"distance must be one of {list(_APOGEE_DISTANCES)}, got {distance!r}")
    aspcap_bits = _check_bits(aspcapflag_bits, "aspcapflag_bits")
    star_bits = _check_bits(starflag_bits, "starflag_bits")
    if age_columns is not None and (isinstance(age_columns, str) or len(age_columns) not in (2, 3)):
        raise ValueError(
            f"age_columns must be (age, p16, p84) or (age, error), got {age_columns!r}"
        )
    origin = f"APOGEE allStar {allstar_path}"
    a_col, a_err, a_flag = _APOGEE_ALPHA[alpha_key]
    d_cols = tuple(f"GAIAEDR3_R_{q}_{dist_key}" for q in ("MED", "LO", "HI"))
    wanted = {"APOGEE_ID", "TELESCOPE", "ASPCAPFLAG", "STARFLAG", "FE_H_FLAG", a_col, a_err,
              *_APOGEE_DIRECT.values(), *_APOGEE_OPTIONAL.values(), *d_cols}  # fmt: skip
    if a_flag:
        wanted.add(a_flag)
    if alpha_key == "ALPHA_M":
        wanted.add("M_H")
    own_ages = age_columns or _AGE_PERCENTILES
    if ages is None:
        wanted.update(own_ages)
    wanted.add(mass_column)
    wanted_lower = {w.lower() for w in wanted}
    # only the columns used: the full allStar has multi-dimensional columns and ~1 GB
    raw = _read_raw(allstar_path, keep=lambda c: str(c).lower() in wanted_lower, encoding=encoding)
    n_read = len(raw)
    if n_read == 0:
        raise CatalogueError(f"{origin}: the table is empty (no stars)")
    ids = _apogee_ids(raw, origin)

    # one row per star: the highest-SNR one (NaN SNR last, file order on ties)
    snr = _apogee_float(raw, "SNR", origin)
    order = np.lexsort((np.arange(n_read), -np.nan_to_num(snr, nan=-np.inf)))
    keep = np.sort(order[~ids.iloc[order].duplicated(keep="first").to_numpy()])
    star = raw.iloc[keep].reset_index(drop=True)
    star_ids = ids.iloc[keep].reset_index(drop=True)
    n_dup = n_read - len(star)
    if n_dup:
        logger.info(
            "%s: %d duplicate row(s) (same APOGEE_ID) dropped, highest SNR kept", origin, n_dup
        )
    tel_col = _optional_column(star, "TELESCOPE", origin)

    def num(name: str) -> np.ndarray:
        return _apogee_float(star, name, origin)

    out: dict[str, Any] = {"source_id": star_ids.to_numpy(dtype=object)}
    for canonical, name in _APOGEE_DIRECT.items():
        out[canonical] = num(name)
    if alpha_key == "MG_FE":
        out["afe"] = num(a_col)
        alpha_desc = "MG_FE"
    else:
        out["afe"] = num(a_col) + num("M_H") - num("FE_H")
        alpha_desc = "ALPHA_M + M_H - FE_H"
    out["afe_err"] = num(a_err)
    med, lo, hi = (num(c) / 1000.0 for c in d_cols)  # pc -> kpc
    out["distance"] = med
    out["distance_err_lo"], out["distance_err_hi"], out["distance_err"], n_dist_out = _asymmetric(
        med, lo, hi
    )
    for canonical, name in _APOGEE_OPTIONAL.items():
        if _optional_column(star, name, origin) is not None:
            out[canonical] = num(name)

    # flags: survey bitmasks plus the element flags where the extract has them
    a_bad, a_missing = _bits_set(star, "ASPCAPFLAG", aspcap_bits, origin)
    s_bad, s_missing = _bits_set(star, "STARFLAG", star_bits, origin)
    bad, unknown = a_bad | s_bad, a_missing | s_missing
    bad_feh, bad_afe = bad.copy(), bad.copy()
    element_flags = []
    for name, targets in (("FE_H_FLAG", ("feh",) + (("afe",) if alpha_key == "ALPHA_M" else ())),
                          (a_flag, ("afe",))):  # fmt: skip
        if name is None or _optional_column(star, name, origin) is None:
            continue
        element_flags.append(name)
        v = num(name)
        for t in targets:
            target = bad_feh if t == "feh" else bad_afe
            target |= np.isfinite(v) & (v != 0)
    if alpha_key == "ALPHA_M":
        extra, _ = _bits_set(star, "ASPCAPFLAG", APOGEE_ASPCAPFLAG_ALPHA_M_BITS, origin)
        bad_afe |= extra
    out["flag_feh"] = _flag(bad_feh, unknown)
    out["flag_afe"] = _flag(bad_afe, unknown)

    # ages and mass
    joined_info: dict[str, Any] = {}
    if ages is None:
        age_table, age_origin = star, origin
        cols = own_ages
        missing = [c for c in cols if _optional_column(star, c, origin) is None]
        if missing:
            raise CatalogueError(
                f"{origin}: no age column(s) {missing} in the allStar table; pass an age catalogue "
                f"(ages=<file with APOGEE_ID and ages>) or name the columns with age_columns="
            )
        rows = np.arange(len(star))
    else:
        age_origin = f"age catalogue {ages}"
        # the astroNN VAC has ~150 columns per allStar row: load only the candidates
        age_wanted = {"apogee_id", "telescope", mass_column.lower()}
        age_wanted.update(c.lower() for c in (age_columns or _AGE_ASTRONN + _AGE_PERCENTILES))
        age_raw = _read_raw(ages, keep=lambda c: str(c).lower() in age_wanted, encoding=encoding)
        if len(age_raw) == 0:
            raise CatalogueError(f"{age_origin}: the table is empty (no stars)")
        if age_columns is None:
            astronn = _optional_column(age_raw, "age_total_error", age_origin) is not None
            cols = _AGE_ASTRONN if astronn else _AGE_PERCENTILES
        else:
            cols = tuple(age_columns)
        for c in cols:
            _lookup(age_raw, c, age_origin, "age column")
        a_ids = _apogee_ids(age_raw, age_origin)
        a_tel = _optional_column(age_raw, "TELESCOPE", age_origin)
        on_telescope = a_tel is not None and tel_col is not None
        key_age = pd.DataFrame({"id": a_ids.to_numpy(dtype=object)})
        key_star = pd.DataFrame({"id": star_ids.to_numpy(dtype=object)})
        if on_telescope:
            key_age["tel"] = age_raw[a_tel].astype("string").str.strip().to_numpy(dtype=object)
            key_star["tel"] = star[tel_col].astype("string").str.strip().to_numpy(dtype=object)
        dup = key_age.duplicated(keep=False).to_numpy()
        if dup.any():
            values = pd.unique(a_ids[dup])
            shown = ", ".join(str(v) for v in values[:10])
            more = f" and {len(values) - 10} more" if len(values) > 10 else ""
            key = "APOGEE_ID and TELESCOPE" if on_telescope else "APOGEE_ID"
            raise CatalogueError(
                f"{age_origin}: {int(dup.sum())} rows share their {key} ({shown}{more}): "
                "which age belongs to the star is ambiguous; keep one row per star"
            )
        key_age["row"] = np.arange(len(key_age))
        matched = key_star.merge(key_age, on=list(key_star.columns), how="left", sort=False)
        has_age = matched["row"].notna().to_numpy()
        n_without = int((~has_age).sum())
        if not has_age.any():
            raise CatalogueError(
                f"{origin} and {age_origin} have no star in common (allStar e.g. "
                f"{list(star_ids[:3])}, ages e.g. {list(a_ids[:3])})"
            )
        # inner join: allStar stars without an age row are dropped (and counted)
        star_rows = np.flatnonzero(has_age)
        rows = matched["row"].to_numpy()[has_age].astype(np.int64)
        out = {k: np.asarray(v)[star_rows] for k, v in out.items()}
        star = star.iloc[star_rows].reset_index(drop=True)
        age_table = age_raw
        joined_info = {
            "age_rows": len(age_raw),
            "n_without_age": n_without,
            "n_ages_unused": len(age_raw) - len(rows),
            "join_on": ["APOGEE_ID", "TELESCOPE"] if on_telescope else ["APOGEE_ID"],
        }
        if n_without:
            logger.info("%s: %d star(s) without a row in %s dropped", origin, n_without, age_origin)

    def age_num(name: str) -> np.ndarray:
        return _apogee_float(age_table, name, age_origin)[rows]

    out["age"] = age_num(cols[0])
    n_age_out = 0
    if len(cols) == 3:
        out["age_err_lo"], out["age_err_hi"], out["age_err"], n_age_out = _asymmetric(
            out["age"], age_num(cols[1]), age_num(cols[2])
        )
    else:
        out["age_err"] = age_num(cols[1])
    if ages is not None and _optional_column(age_table, mass_column, age_origin) is not None:
        out["mass"] = age_num(mass_column)
        mass_source = f"age catalogue: {mass_column}"
    elif _optional_column(star, mass_column, origin) is not None:
        out["mass"] = _apogee_float(star, mass_column, origin)
        mass_source = f"allStar: {mass_column}"
    else:
        where = "the allStar table" if ages is None else "the age catalogue or the allStar table"
        raise CatalogueError(
            f"{origin}: no stellar mass column '{mass_column}' [Msun] in {where}; the C25 mass cut "
            f"needs one: provide an age catalogue with a mass column (ages=...), or name it with "
            f"mass_column="
        )
    if tel_col is not None:
        out["telescope"] = star[tel_col].astype("string").str.strip().to_numpy(dtype=object)

    both = Path(allstar_path).name + ("" if ages is None else f" + {Path(ages).name}")
    name = f"APOGEE DR17 ({both})"
    df = validate_catalogue(pd.DataFrame(out), name=name)
    df.attrs["apogee"] = {
        "file": str(allstar_path),
        "n_rows": n_read,
        "n_duplicates_dropped": n_dup,
        "alpha": alpha_desc,
        "alpha_err": a_err,
        "distance": dist_key,
        "distance_columns": list(d_cols),
        "distance_unit_file": "pc",
        "n_distance_outside_interval": n_dist_out,
        "ages": {
            "source": "allStar" if ages is None else str(ages),
            "columns": list(cols),
            "kind": "percentiles" if len(cols) == 3 else "symmetric error",
            "n_age_outside_interval": n_age_out,
            **joined_info,
        },
        "mass": mass_source,
        "aspcapflag_bits": sorted(set(aspcap_bits)),
        "starflag_bits": sorted(set(star_bits)),
        "element_flags": element_flags,
        "n_flag_feh_bad": int((df["flag_feh"].to_numpy(float) == 1).sum()),
        "n_flag_afe_bad": int((df["flag_afe"].to_numpy(float) == 1).sum()),
    }
    return df
