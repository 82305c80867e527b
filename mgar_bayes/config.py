"""Configuration of the pipeline as small frozen dataclasses.

Defaults are the values of Chen et al. (2025, "C25") and Vickers et al. (2021,
"V21"). A TOML file given with ``--config`` overrides any subset, e.g.::

    [galaxy]
    R0 = 8.0
    potential = "McMillan17"

    [cuts]
    max_age_rel_err = 0.25

    [orbits]
    n_mc = 50

A cut is switched off with the string ``"off"`` (TOML has no null), e.g.
``min_snr = "off"``; only settings documented as "or None" can be switched off.

Every field is checked when a config is built (from Python, from a dict or from
a file): its type against the annotation, then its range. Integers are accepted
where a number is expected and lists where a tuple is expected; the stored values
are normalised (floats, tuples). A bad value raises :class:`ConfigError` (a
``ValueError``) whose message names the TOML section and key, shows the value
and says how to fix it.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import math
import numbers
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, NoReturn

import numpy as np

__all__ = [
    "GalaxyConfig",
    "OrbitConfig",
    "CutsConfig",
    "BinningConfig",
    "SelectionConfig",
    "FitConfig",
    "PipelineConfig",
    "ConfigError",
    "load_config",
    "config_hash",
    "POTENTIALS",
    "CATALOGUE_COLUMNS",
]

POTENTIALS = ("MWPotential2014", "McMillan17", "Irrgang13I")
# Derived quantities that OrbitConfig.catalogue_columns may take from the catalogue.
CATALOGUE_COLUMNS = ("R_g", "Z_max", "galcen", "positions")
_OFF = ("off", "none")


class ConfigError(ValueError):
    """A configuration value of the wrong type or outside its valid range."""


# ------------------------------------------------------------------ field checking


def _param(
    default: Any,
    unit: str = "",
    *,
    gt: float | None = None,
    ge: float | None = None,
    lt: float | None = None,
    le: float | None = None,
    choices: tuple[str, ...] | None = None,
    expect: str | None = None,
    pc_hint: bool = False,
) -> Any:
    """A dataclass field with the facts its check needs.

    Parameters
    ----------
    default
        Default value (immutable).
    unit : str
        Unit shown in messages, e.g. ``"kpc"``.
    gt, ge, lt, le : float, optional
        Bounds on a number (exclusive ``gt``/``lt``, inclusive ``ge``/``le``).
    choices : tuple of str, optional
        Allowed strings (for a tuple of strings: allowed entries).
    expect : str, optional
        Description of the allowed values, replacing the one derived from the
        annotation.
    pc_hint : bool
        A [kpc] value that is in range once divided by 1000 was given in pc:
        say so.
    """
    meta = {"unit": unit, "gt": gt, "ge": ge, "lt": lt, "le": le, "choices": choices,
            "expect": expect, "pc_hint": pc_hint}  # fmt: skip
    # 0.0 is a real bound: drop only what was not given
    given = {k: v for k, v in meta.items() if v is not None and v is not False and v != ""}
    return field(default=default, metadata=given)


class _Mismatch(Exception):
    """A value that does not fit an annotation (turned into a ConfigError by the caller)."""


def _is_union(tp) -> bool:
    return typing.get_origin(tp) in (typing.Union, types.UnionType)


def _accepts_none(tp) -> bool:
    return _is_union(tp) and type(None) in typing.get_args(tp)


def _convert(value: Any, tp: Any) -> Any:
    """``value`` as the type ``tp`` (normalised), or raise :class:`_Mismatch`."""
    if _is_union(tp):
        args = typing.get_args(tp)
        if type(None) in args and (
            value is None or (isinstance(value, str) and value.strip().lower() in _OFF)
        ):
            return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _convert(value, arg)
            except _Mismatch:
                continue
        raise _Mismatch
    if tp is bool:
        if isinstance(value, bool | np.bool_):
            return bool(value)
        raise _Mismatch
    # bool is an int to Python, never to a config
    is_number = isinstance(value, numbers.Real) and not isinstance(value, bool | np.bool_)
    if tp is int:
        if is_number and isinstance(value, numbers.Integral):
            return int(value)
        if is_number and math.isfinite(value) and float(value).is_integer():
            return int(value)
        raise _Mismatch
    if tp is float:
        if is_number:
            return float(value)
        raise _Mismatch
    if tp is str:
        if isinstance(value, str):
            return value
        raise _Mismatch
    if typing.get_origin(tp) is tuple:
        if not isinstance(value, list | tuple | np.ndarray):
            raise _Mismatch
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(v, args[0]) for v in value)
        if len(value) != len(args):
            raise _Mismatch
        return tuple(_convert(v, a) for v, a in zip(value, args, strict=True))
    raise TypeError(f"no check for annotation {tp!r}")  # pragma: no cover - a coding error


_PLURAL = {float: "numbers", int: "whole numbers", str: "strings", bool: "true/false values"}


def _describe(tp: Any) -> str:
    """What the annotation ``tp`` allows, in words (None left out)."""
    if _is_union(tp):
        return " or ".join(_describe(a) for a in typing.get_args(tp) if a is not type(None))
    if typing.get_origin(tp) is tuple:
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return f"a list of {_PLURAL[args[0]]}"
        return f"a list of {len(args)} {_PLURAL[args[0]]}"
    return {float: "a number", int: "a whole number", bool: "true or false", str: "a string"}[tp]


def _show(value: Any) -> str:
    """A value as the user typed it: plain numbers (never ``np.float64(...)``), lists in brackets."""
    if isinstance(value, bool | np.bool_):
        return repr(bool(value))
    if isinstance(value, numbers.Integral):
        return repr(int(value))
    if isinstance(value, numbers.Real):
        return repr(float(value))
    if isinstance(value, list | tuple | np.ndarray):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    return repr(value)


def _got(value: Any) -> str:
    return f"the string {value!r}" if isinstance(value, str) else _show(value)


def _toml(value: Any) -> str:
    """A value written as TOML, for the "write key = ..." part of a message."""
    if value is None:
        return '"off"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, tuple | list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return _show(value)


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(float(x))


def _bounds(name: str, meta: dict) -> str:
    """Bounds of a field as an inequality, e.g. ``2 <= n_mc <= 100000`` or ``chunk_size >= 1``."""
    lower = next(((op, meta[k]) for k, op in (("gt", ">"), ("ge", ">=")) if k in meta), None)
    upper = next(((op, meta[k]) for k, op in (("lt", "<"), ("le", "<=")) if k in meta), None)
    if lower and upper:
        flipped = {">": "<", ">=": "<="}[lower[0]]
        return f"{_num(lower[1])} {flipped} {name} {upper[0]} {_num(upper[1])}"
    op, x = lower or upper
    return f"{name} {op} {_num(x)}"


def _in_bounds(x: float, meta: dict) -> bool:
    return (
        ("gt" not in meta or x > meta["gt"])
        and ("ge" not in meta or x >= meta["ge"])
        and ("lt" not in meta or x < meta["lt"])
        and ("le" not in meta or x <= meta["le"])
    )


def _example(f: dataclasses.Field) -> str:
    return f"e.g. {f.name} = {_toml(f.default)}"


def _unquoted(text: str, tp: Any) -> bool:
    """Whether ``text`` written without quotes is valid TOML of type ``tp`` (e.g. ``'8.27'``)."""
    if "\n" in text or "=" in text:
        return False
    try:
        _convert(tomllib.loads(f"v = {text.strip()}")["v"], tp)
    except (tomllib.TOMLDecodeError, _Mismatch):
        return False
    return True


def _type_fix(f: dataclasses.Field, tp: Any, value: Any) -> str:
    """How to write a value that had the wrong type."""
    name = f.name
    if isinstance(value, str):
        text = value.strip()
        if text.lower() in _OFF:
            return f"{name} cannot be switched off; write {_example(f)}"
        if _unquoted(text, tp):  # the quotes are the mistake
            return f"write {name} = {text} (no quotes)"
        if tp is bool:
            return f"write {name} = true or {name} = false (no quotes, lower case)"
        args = typing.get_args(tp)
        if typing.get_origin(tp) is tuple and args[0] is str:
            return f"write {name} = [{_toml(value)}]"
    if tp is int and isinstance(value, numbers.Real) and not isinstance(value, bool):
        return f"write a whole number, {_example(f)}"
    return f"write {_example(f)}"


def _check_field(section: str, f: dataclasses.Field, tp: Any, value: Any) -> Any:
    """``value`` of field ``f`` checked and normalised; a :class:`ConfigError` if bad."""
    key = f"[{section}] {f.name}"
    meta = dict(f.metadata)
    unit = f" [{meta['unit']}]" if "unit" in meta else ""
    off = ' or "off"' if _accepts_none(tp) else ""
    expected = meta.get("expect") or f"{_describe(tp)}{unit}{off}"
    raw = value  # shown in messages as given, e.g. 8270 rather than 8270.0
    try:
        value = _convert(value, tp)
    except _Mismatch:
        raise ConfigError(f"{key} must be {expected}, got {_got(raw)}; {_type_fix(f, tp, raw)}") from None
    if value is None:
        return value
    items = value if isinstance(value, tuple) else (value,)
    for v in items:
        if isinstance(v, float) and not math.isfinite(v):
            fix = f'write {f.name} = "off" to switch it off' if off else f"write {_example(f)}"
            raise ConfigError(f"{key} must be a finite number{unit}, got {_show(raw)}; {fix}")
    choices = meta.get("choices")
    if choices is not None:
        for v in items:
            if isinstance(v, str) and v not in choices:
                raise ConfigError(_choice_message(key, f, tp, v, choices, expected))
    if isinstance(value, int | float) and not isinstance(value, bool) and not _in_bounds(value, meta):
        # |value| >= 1: a sub-pc value is no distance in pc, just out of range
        if meta.get("pc_hint") and abs(value) >= 1 and _in_bounds(value / 1000.0, meta):
            raise ConfigError(f"{key} = {_show(raw)} looks like pc; give kpc, e.g. {_num(value / 1000.0)}")
        raise ConfigError(
            f"{key} = {_show(raw)} is out of range: need {_bounds(f.name, meta)}{unit}; "
            f"write {_example(f)}"
        )
    return value


def _choice_message(key: str, f: dataclasses.Field, tp: Any, value: str, choices, expected) -> str:
    allowed = ", ".join(repr(c) for c in choices)
    same_case = [c for c in choices if c.lower() == value.strip().lower()]
    if same_case:
        fix = f"did you mean {same_case[0]!r}? (names are case-sensitive)"
    elif float in typing.get_args(tp) and _unquoted(value, float):  # a number in quotes
        fix = f"write {f.name} = {value.strip()} (no quotes)"
    else:
        fix = f"write {_example(f)}"
    if typing.get_origin(tp) is tuple:
        return f"{key}: unknown entry {value!r}; allowed entries: {allowed}; {fix}"
    return f"{key} must be {expected}, got {value!r}; {fix}"


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _validate(obj: Any) -> None:
    """Check and normalise every field of a config dataclass in place (it is frozen)."""
    hints = _hints(type(obj))
    for f in dataclasses.fields(obj):
        value = _check_field(obj.SECTION, f, hints[f.name], getattr(obj, f.name))
        object.__setattr__(obj, f.name, value)


def _fail(section: str, message: str) -> NoReturn:
    raise ConfigError(f"[{section}] {message}")


# ------------------------------------------------------------------ sections


@dataclass(frozen=True)
class GalaxyConfig:
    """Solar position and motion and the Galactic potential.

    Parameters
    ----------
    R0 : float
        Sun's Galactocentric cylindrical radius [kpc] (C25/V21: 8.27); must be
        in (4, 12) kpc.
    v0 : float
        Circular velocity at R0 [km/s] (C25/V21: 236); must be in (100, 400).
    z_sun : float
        Sun's height above the mid-plane [kpc], |z_sun| < 0.5; V21 put the Sun
        in the plane.
    solar_motion : tuple of float
        Sun's peculiar motion (U, V, W) relative to the local standard of rest
        [km/s], U towards the Galactic centre (Schoenrich & Aumer 2017); each
        |component| < 100 km/s (v0 is added separately).
    potential : str
        galpy potential: ``MWPotential2014`` (scaled to R0, v0), ``McMillan17``
        or ``Irrgang13I`` (each at its own physical scale unless
        ``rescale_potential``).
    rescale_potential : bool
        Rescale McMillan17/Irrgang13I so that their length unit is R0 and their
        circular velocity at R0 is v0 (as MWPotential2014 always is).
    """

    SECTION: ClassVar[str] = "galaxy"

    R0: float = _param(8.27, "kpc", gt=4.0, lt=12.0, pc_hint=True)
    v0: float = _param(236.0, "km/s", gt=100.0, lt=400.0)
    z_sun: float = _param(0.0, "kpc", gt=-0.5, lt=0.5, pc_hint=True)
    solar_motion: tuple[float, float, float] = _param(
        (13.0, 12.24, 7.24), "km/s", expect="a list of 3 numbers [U, V, W] [km/s]"
    )
    potential: str = _param(
        "MWPotential2014", choices=POTENTIALS, expect="one of " + ", ".join(map(repr, POTENTIALS))
    )
    rescale_potential: bool = False

    def __post_init__(self):
        _validate(self)
        if max(abs(v) for v in self.solar_motion) >= 100.0:
            _fail(
                self.SECTION,
                f"solar_motion = {_show(self.solar_motion)} has a component of 100 km/s or more; "
                "it is the peculiar motion (U, V, W) relative to the local standard of rest, "
                "v0 is added separately; e.g. solar_motion = [13.0, 12.24, 7.24]",
            )


@dataclass(frozen=True)
class OrbitConfig:
    """How R_g, its error and Z_max are computed.

    Parameters
    ----------
    n_mc : int
        Monte-Carlo realisations per star for the error propagation (C25: 100);
        2 to 100000.
    seed : int
        Seed of the Monte-Carlo draws (>= 0).
    zmax_method : str
        ``"staeckel"`` (fast Staeckel approximation, default) or ``"integrate"``
        (full orbit integration, C25's route; slow).
    staeckel_delta : float or str
        Focal length of the Staeckel coordinates: ``"tabulated"`` (galpy's
        ``estimateDeltaStaeckel`` interpolated from an (R, |z|) grid at each
        star), ``"median"`` (one value for the sample) or a fixed value > 0
        [kpc].
    integrate_time : float
        Integration time for ``zmax_method="integrate"`` [Gyr], > 0.
    chunk_size : int
        Stars per chunk of the Monte-Carlo stage (bounds memory), >= 1.
    catalogue_columns : tuple of str
        Derived quantities taken from the catalogue instead of being computed:
        ``"galcen"`` (the catalogue's own Galactocentric ``R, phi, z, v_R,
        v_phi, v_z`` and their errors, instead of transforming ra, dec,
        distance, proper motions and rv), ``"R_g"`` (its own ``R_g`` and
        ``R_g_err``), ``"Z_max"`` (its own ``Z_max``), ``"positions"`` (its
        own ``R, phi, z`` and errors, for a table without velocities: no R_g,
        no Z_max; needs ``[fit] radius = "R"`` and a chemistry-only selection).
        Default: none, compute everything (C25). Stored sorted, without duplicates.
    distance_source : str
        Where heliocentric distances come from: ``"distance"`` (default; the
        catalogue's ``distance`` and ``distance_err``, or V21's two-piece
        Gaussian where ``distance_err_lo``/``distance_err_hi`` are given) or
        ``"parallax"`` (1 / (``parallax`` - ``parallax_zero_point``) [kpc for
        mas]; the Monte Carlo draws parallax and proper motions jointly with
        the Gaia correlations, and realisations with parallax <= 0 have no
        distance). Ignored with the catalogue's own Galactocentric coordinates.
    parallax_zero_point : float
        Parallax zero point [mas], subtracted from every parallax with
        ``distance_source = "parallax"``; |value| <= 1 mas (a larger one is
        likely in uas). Gaia EDR3's global value is about -0.017 mas
        (Lindegren et al. 2021); the default 0 applies no correction.
    """

    SECTION: ClassVar[str] = "orbits"

    n_mc: int = _param(100, ge=2, le=100_000)
    seed: int = _param(42, ge=0)
    zmax_method: str = _param("staeckel", choices=("staeckel", "integrate"),
                              expect="'staeckel' or 'integrate'")  # fmt: skip
    staeckel_delta: float | str = _param(
        "tabulated", "kpc", gt=0.0, choices=("tabulated", "median"),
        expect="'tabulated', 'median' or a number > 0 [kpc]",
    )  # fmt: skip
    integrate_time: float = _param(3.0, "Gyr", gt=0.0)
    chunk_size: int = _param(20000, ge=1)
    catalogue_columns: tuple[str, ...] = _param((), choices=CATALOGUE_COLUMNS)
    distance_source: str = _param("distance", choices=("distance", "parallax"),
                                  expect="'distance' or 'parallax'")  # fmt: skip
    parallax_zero_point: float = _param(0.0, "mas", ge=-1.0, le=1.0)

    def __post_init__(self):
        _validate(self)
        object.__setattr__(self, "catalogue_columns", tuple(sorted(set(self.catalogue_columns))))


@dataclass(frozen=True)
class CutsConfig:
    """Quality cuts of C25 Section 2.1; set a value to None (``"off"`` in TOML) to switch a cut off.

    Parameters
    ----------
    min_mass : float or None
        Minimum stellar mass [Msun], inclusive, >= 0 (C25: 0.7).
    max_age_rel_err : float or None
        Maximum age_err / age, inclusive, > 0 (C25: 0.30).
    min_snr : float or None
        Minimum SNR, exclusive, >= 0 (C25: 20).
    max_abs_z : float or None
        Maximum |z| [kpc], exclusive, > 0 (C25: 10).
    R_range : tuple of float or None
        Open interval (lo, hi) of R [kpc], 0 <= lo < hi (C25: 5 < R < 20).
    require_flags : bool
        Require flag_feh == 0 and flag_afe == 0.
    min_feh : float or None
        Minimum [Fe/H] [dex], inclusive (C25: -1.0).
    min_vphi : float or None
        Minimum v_phi [km/s], inclusive (C25: 0).
    max_rel_err_phase : float or None
        Maximum |dX/X| for X in (R, v_R, v_phi, z, v_z), exclusive, > 0 (C25: 0.40).
    max_age : float or None
        Maximum age [Gyr], inclusive, > 0 (C25: 13, the upper end of the true-age
        range [0, 13] Gyr of their sample).
    duplicate_radius : float or None
        Observations closer than this on the sky [arcsec] are one star: only the
        one with the highest SNR is kept (V21 Sect. 2.2: 5 arcsec). Needs ra, dec.
    v21_high_quality : bool
        Keep only V21's high-quality subsample (V21 Sect. 4.1.4): age error
        < 10% and T_eff > 5750 K, or log g < 4 and T_eff > 5250 K. Needs teff, logg.
    """

    SECTION: ClassVar[str] = "cuts"

    min_mass: float | None = _param(0.7, "Msun", ge=0.0)
    max_age_rel_err: float | None = _param(0.30, gt=0.0)
    min_snr: float | None = _param(20.0, ge=0.0)
    max_abs_z: float | None = _param(10.0, "kpc", gt=0.0)
    R_range: tuple[float, float] | None = _param((5.0, 20.0), "kpc")
    require_flags: bool = True
    min_feh: float | None = _param(-1.0, "dex")
    min_vphi: float | None = _param(0.0, "km/s")
    max_rel_err_phase: float | None = _param(0.40, gt=0.0)
    max_age: float | None = _param(13.0, "Gyr", gt=0.0)
    duplicate_radius: float | None = _param(5.0, "arcsec", gt=0.0)
    v21_high_quality: bool = False

    def __post_init__(self):
        _validate(self)
        if self.R_range is not None:
            lo, hi = self.R_range
            if not 0.0 <= lo < hi:
                _fail(
                    self.SECTION,
                    f"R_range = {_show(self.R_range)} must be [lo, hi] with 0 <= lo < hi [kpc]; "
                    'e.g. R_range = [5.0, 20.0], or R_range = "off"',
                )


@dataclass(frozen=True)
class BinningConfig:
    """Equal-width age bins [Gyr] (C25/V21: nine bins from 1 to 12.25 Gyr).

    Parameters
    ----------
    age_min : float
        Lower edge of the first bin [Gyr], >= 0.
    age_max : float
        Upper edge of the last bin [Gyr], > age_min.
    n_bins : int
        Number of bins, >= 1.
    """

    SECTION: ClassVar[str] = "binning"

    age_min: float = _param(1.0, "Gyr", ge=0.0)
    age_max: float = _param(12.25, "Gyr", gt=0.0)
    n_bins: int = _param(9, ge=1)

    def __post_init__(self):
        _validate(self)
        if not self.age_max > self.age_min:
            _fail(
                self.SECTION,
                f"age_max = {_show(self.age_max)} must exceed age_min = {_show(self.age_min)} [Gyr]",
            )


@dataclass(frozen=True)
class SelectionConfig:
    """Thin/thick disk selection: a chemical line AND a Z_max cut (C25 Sect. 2.2).

    Parameters
    ----------
    chem_line : str
        ``"C25"`` or ``"V21"``.
    chem_shift : float
        Shift of the chemical line in [alpha/Fe] [dex], |shift| < 1 (C25 App. B: +-0.1).
    thin_zmax_max : float or None
        Thin disk: Z_max below this [kpc], > 0 (0.25); None: chemistry only.
    thick_zmax_min : float or None
        Thick disk: Z_max above this [kpc], > 0 (2.0); None: chemistry only.
    populations : tuple of str
        Populations analysed: ``("thin", "thick")`` (C25), or one of them (a
        sample with (almost) no stars of the other). A population analysed must
        have at least one age bin that can be fitted.
    """

    SECTION: ClassVar[str] = "selection"

    chem_line: str = _param("C25", choices=("C25", "V21"), expect="'C25' or 'V21'")
    chem_shift: float = _param(0.0, "dex", gt=-1.0, lt=1.0)
    thin_zmax_max: float | None = _param(0.25, "kpc", gt=0.0)
    thick_zmax_min: float | None = _param(2.0, "kpc", gt=0.0)
    populations: tuple[str, ...] = _param(("thin", "thick"), choices=("thin", "thick"))

    def __post_init__(self):
        _validate(self)
        if not self.populations:
            raise ConfigError('[selection] populations must name at least one of "thin", "thick"')
        # C25's order (thin first), without duplicates
        object.__setattr__(self, "populations", tuple(p for p in ("thin", "thick") if p in self.populations))


@dataclass(frozen=True)
class FitConfig:
    """What the per-bin gradients are measured against.

    Parameters
    ----------
    radius : str
        ``"R_g"``: the guiding radius (C25, V21, default); ``"R"``: the
        present-day Galactocentric radius (V21 Sect. 3.1 compares both; the
        only choice for a catalogue without velocities).
    """

    SECTION: ClassVar[str] = "fit"

    radius: str = _param("R_g", choices=("R_g", "R"), expect="'R_g' or 'R'")

    def __post_init__(self):
        _validate(self)


@dataclass(frozen=True)
class PipelineConfig:
    """Everything a run depends on."""

    galaxy: GalaxyConfig = field(default_factory=GalaxyConfig)
    orbits: OrbitConfig = field(default_factory=OrbitConfig)
    cuts: CutsConfig = field(default_factory=CutsConfig)
    selection: SelectionConfig = field(default_factory=SelectionConfig)
    binning: BinningConfig = field(default_factory=BinningConfig)
    fit: FitConfig = field(default_factory=FitConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PipelineConfig:
        """Build from ``{section: {key: value}}`` (a parsed TOML file or :meth:`to_dict`).

        Raises
        ------
        ConfigError
            Unknown section or key, a section that is not a table, or any bad
            value (see the section classes).
        """
        sections = {f.name: f.type for f in dataclasses.fields(cls)}
        unknown = set(data) - set(sections)
        if unknown:
            raise ConfigError(f"unknown config section(s) {sorted(unknown)}; known: {sorted(sections)}")
        kwargs = {}
        for f in dataclasses.fields(cls):
            sub = data.get(f.name, {})
            if not isinstance(sub, dict):
                raise ConfigError(
                    f"[{f.name}] must be a table (a [{f.name}] section of key = value lines), "
                    f"got {f.name} = {_got(sub)}"
                )
            sub_cls = type(f.default_factory())
            names = {g.name for g in dataclasses.fields(sub_cls)}
            bad = set(sub) - names
            if bad:
                raise ConfigError(f"unknown key(s) {sorted(bad)} in [{f.name}]; known: {sorted(names)}")
            kwargs[f.name] = sub_cls(**sub)
        return cls(**kwargs)

    def replace(self, **sections: dict[str, Any]) -> PipelineConfig:
        """Copy with some fields of some sections changed: ``cfg.replace(galaxy={"R0": 7.0})``."""
        new = {}
        for name, changes in sections.items():
            new[name] = dataclasses.replace(getattr(self, name), **changes)
        return dataclasses.replace(self, **new)


def load_config(path: str | Path | None = None) -> PipelineConfig:
    """Read and check a TOML config file; missing sections and keys keep their defaults.

    Parameters
    ----------
    path : str, path-like or None
        TOML file; None gives the defaults.

    Returns
    -------
    PipelineConfig

    Raises
    ------
    FileNotFoundError
        The file does not exist.
    ConfigError
        (a ``ValueError``) Not valid TOML, an unknown section or key, or a bad
        value; the message starts with the file name.
    """
    if path is None:
        return PipelineConfig()
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config file not found: {path}")
    with path.open("rb") as fh:
        try:
            data = tomllib.load(fh)
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: not valid TOML ({exc})") from exc
    try:
        return PipelineConfig.from_dict(data)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def config_hash(obj: Any) -> str:
    """Short stable hash of a (nested) config or dict, for provenance and caching."""
    if dataclasses.is_dataclass(obj):
        obj = dataclasses.asdict(obj)
    text = json.dumps(obj, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
