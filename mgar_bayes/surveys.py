"""Survey presets: how to read a published star table, one TOML file per table.

A preset is a column map (``[columns]``, ``[units]``, ``[values]``; see
:func:`mgar_bayes.io.read_column_map`) plus a ``[preset]`` table that says what
the table is and which pipeline settings it needs::

    [preset]
    description = "CoRoT-APOGEE red giants with seismic ages"   # first line: the summary
    citation = "Anders et al. 2017, A&A 597, A30"
    notes = "what is assumed and why"
    kinematics = true          # false: the table has no velocities (no R_g, no Z_max)

    [preset.config.cuts]       # settings applied on top of the defaults;
    max_rel_err_phase = "off"  # a user's --config still overrides them

    [columns]
    source_id = "CoRoT"
    distance = { column = "DistM", unit = "pc" }
    distance_err = { expr = "(DistM68U - DistM68L) / 2", unit = "pc" }

    [values]
    flag_afe = 0               # a constant: warned about and recorded

Presets are looked up by name in ``./surveys/NAME.toml`` of the working
directory first, then among the presets shipped in ``mgar_bayes/surveys/``; a
user adds a survey by dropping one such file into ``./surveys/`` (or passes its
path, ``mgar run FILE --survey my_table.toml``).
"""

from __future__ import annotations

import hashlib
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from .config import ConfigError, PipelineConfig, load_config
from .io import parse_column_map, read_catalogue
from .schema import CatalogueError

__all__ = [
    "SurveyPreset",
    "PACKAGED_DIR",
    "available_surveys",
    "find_preset",
    "load_preset",
    "read_survey",
    "apply_preset_config",
]

# presets shipped with the package
PACKAGED_DIR = Path(__file__).resolve().parent / "surveys"
_PRESET_KEYS = ("name", "description", "citation", "notes", "kinematics", "config", "reader", "reader_options")
# dedicated readers a preset may name instead of a column map (their keyword options in
# [preset.reader_options]; an age catalogue, where the reader joins one, is given with --ages)
READERS = ("apogee_dr17",)
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclass(frozen=True)
class SurveyPreset:
    """One survey preset, as read from its TOML file.

    Attributes
    ----------
    name : str
        The preset's name, its file name without ``.toml``.
    description : str
        What the table is; the first line is the one-line summary.
    citation : str
        The paper to cite for the table ("" if none is given).
    columns, units, values : dict
        The ``[columns]``, ``[units]`` and ``[values]`` tables of the column
        map, as written in the file.
    config : dict
        ``{section: {key: value}}`` pipeline settings the table needs, applied
        on top of the defaults and under a user's config (see
        :func:`apply_preset_config`).
    notes : str
        What the preset assumes and why.
    kinematics : bool
        Whether the table has positions and velocities (heliocentric or
        Galactocentric); False reads it without them (present-day-R gradients
        only).
    path : pathlib.Path
        The preset file.
    sha256 : str
        SHA-256 of the preset file, for the run's provenance.
    reader : str
        A dedicated reader (:data:`READERS`) instead of a column map, e.g.
        ``"apogee_dr17"`` (:func:`mgar_bayes.io.read_apogee_dr17`); "" for a map.
    reader_options : dict
        Keyword options of the reader (e.g. ``alpha = "MG_FE"``).
    """

    name: str
    description: str
    citation: str
    columns: dict[str, Any]
    units: dict[str, str]
    values: dict[str, Any]
    config: dict[str, dict[str, Any]]
    notes: str = ""
    kinematics: bool = True
    path: Path = field(default=Path())
    sha256: str = ""
    reader: str = ""
    reader_options: dict[str, Any] = field(default_factory=dict)

    @property
    def summary(self) -> str:
        """The first line of the description."""
        return self.description.strip().splitlines()[0] if self.description.strip() else ""

    def settings(self) -> list[str]:
        """The preset's config settings as TOML lines, e.g. ``[cuts] max_rel_err_phase = "off"``."""
        return [
            f"[{section}] {key} = {_toml_value(value)}"
            for section, keys in self.config.items()
            for key, value in keys.items()
        ]


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return str(value)


def _search_dirs() -> list[Path]:
    """Where presets are looked up by name: ``./surveys`` of the working directory, then the package."""
    return [Path.cwd() / "surveys", PACKAGED_DIR]


def _preset_files() -> dict[str, Path]:
    """``{name: file}`` of every preset found; a local file hides a packaged one of the same name."""
    found: dict[str, Path] = {}
    for folder in _search_dirs():
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.toml")):
            found.setdefault(path.stem, path)
    return dict(sorted(found.items()))


def find_preset(name: str | os.PathLike) -> Path:
    """The preset file for a name (``./surveys/NAME.toml``, else the packaged one) or a path.

    Parameters
    ----------
    name : str or path-like
        A preset name, or the path of a preset file (anything ending in
        ``.toml`` or containing a directory separator).

    Returns
    -------
    pathlib.Path

    Raises
    ------
    FileNotFoundError
        No such preset (the message lists the available ones) or no such file.
    """
    text = os.fspath(name)
    if text.endswith(".toml") or "/" in text or os.sep in text:
        path = Path(text)
        if not path.is_file():
            raise FileNotFoundError(f"survey preset file not found: {path}")
        return path
    files = _preset_files()
    if text in files:
        return files[text]
    where = " or ".join(f"{d}/" if d != PACKAGED_DIR else "the package" for d in _search_dirs())
    raise FileNotFoundError(
        f"unknown survey preset {text!r}; available: {', '.join(files) or 'none'} "
        f"(looked in {where}); or give the path of a preset file (NAME.toml)"
    )


def available_surveys() -> dict[str, str]:
    """``{name: description}`` of every preset found, sorted by name.

    A preset file that cannot be read is listed with the reason as its
    description, so that ``mgar surveys`` shows it instead of failing.
    """
    out: dict[str, str] = {}
    for name, path in _preset_files().items():
        try:
            out[name] = load_preset(path).description.strip()
        except (OSError, ValueError) as exc:
            out[name] = f"(unreadable preset {path}: {exc})"
    return out


def load_preset(name: str | os.PathLike) -> SurveyPreset:
    """Read and check a survey preset.

    Parameters
    ----------
    name : str or path-like
        A preset name (see :func:`find_preset`) or a preset file.

    Returns
    -------
    SurveyPreset

    Raises
    ------
    FileNotFoundError
        No such preset or file.
    CatalogueError
        Not valid TOML, no or a malformed ``[preset]`` table, a ``name`` that is
        not the file's, or a malformed column map.
    ConfigError
        A ``[preset.config]`` setting that is not a valid pipeline setting.
    """
    path = find_preset(name)
    raw = path.read_bytes()
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise CatalogueError(f"{path}: not a valid TOML survey preset ({exc})") from exc
    meta = data.pop("preset", None)
    if not isinstance(meta, Mapping):
        raise CatalogueError(
            f"{path}: no [preset] table (description, citation, ...): a survey preset needs one; "
            "a file with only [columns]/[units]/[values] is a column map (--column-map)"
        )
    unknown = set(meta) - set(_PRESET_KEYS)
    if unknown:
        raise CatalogueError(
            f"{path}: unknown key(s) {sorted(unknown)} in [preset]; allowed: {', '.join(_PRESET_KEYS)}"
        )
    stem = path.stem
    preset_name = meta.get("name", stem)
    if preset_name != stem:
        raise CatalogueError(
            f"{path}: [preset] name = {preset_name!r} differs from the file name {stem!r}; "
            "a preset is found by its file name: rename one of them"
        )
    if not _NAME.match(stem):
        raise CatalogueError(
            f"{path}: a preset name is letters, digits, '_', '-' and '.', got {stem!r}"
        )
    text = {}
    for key in ("description", "citation", "notes"):
        value = meta.get(key, "")
        if not isinstance(value, str):
            raise CatalogueError(f"{path}: [preset] {key} must be a string, got {value!r}")
        text[key] = value.strip()
    if not text["description"]:
        raise CatalogueError(f'{path}: [preset] needs a description, e.g. description = "..."')
    kinematics = meta.get("kinematics", True)
    if not isinstance(kinematics, bool):
        raise CatalogueError(
            f"{path}: [preset] kinematics must be true or false, got {kinematics!r}"
        )
    config = meta.get("config", {})
    if not isinstance(config, Mapping) or not all(isinstance(v, Mapping) for v in config.values()):
        raise CatalogueError(
            f"{path}: [preset.config] must hold tables of settings, e.g. [preset.config.cuts]"
        )
    config = {section: dict(keys) for section, keys in config.items()}
    try:
        PipelineConfig.from_dict(config)  # a bad setting is the preset's error, named as such
    except ConfigError as exc:
        raise ConfigError(f"{path}: [preset.config]: {exc}") from None
    reader = meta.get("reader", "")
    options = meta.get("reader_options", {})
    if reader:
        if reader not in READERS:
            raise CatalogueError(f"{path}: [preset] reader = {reader!r} is not one of {', '.join(READERS)}")
        if any(data.get(k) for k in ("columns", "units", "values")):
            raise CatalogueError(f"{path}: a preset with reader = {reader!r} takes no column map")
        if not isinstance(options, Mapping):
            raise CatalogueError(f"{path}: [preset.reader_options] must be a table of keyword options")
    elif options:
        raise CatalogueError(f"{path}: [preset.reader_options] needs a [preset] reader")
    parse_column_map(data, str(path))  # a malformed map fails here, not when a table is read
    return SurveyPreset(
        name=stem,
        description=text["description"],
        citation=text["citation"],
        columns=dict(data.get("columns", {})),
        units=dict(data.get("units", {})),
        values=dict(data.get("values", {})),
        config=config,
        notes=text["notes"],
        kinematics=kinematics,
        path=path,
        sha256=hashlib.sha256(raw).hexdigest(),
        reader=reader,
        reader_options=dict(options),
    )


def read_survey(
    path: str | os.PathLike,
    preset: SurveyPreset | str | os.PathLike,
    *,
    encoding: str = "utf-8",
    ages: str | os.PathLike | None = None,
) -> pd.DataFrame:
    """Read a star table with a survey preset's column map.

    Parameters
    ----------
    path : str or path-like
        The table (CSV, Parquet or FITS; see :func:`mgar_bayes.io.read_catalogue`).
    preset : SurveyPreset, str or path-like
        The preset, its name or its file.
    encoding : str
        Text encoding of a CSV table (default ``"utf-8"``).
    ages : str or path-like, optional
        An age catalogue joined to the table, for a preset whose reader takes
        one (``apogee_dr17``: an astroNN-style VAC or any table with
        ``APOGEE_ID``, age and its percentiles).

    Returns
    -------
    pandas.DataFrame
        The validated canonical table. ``df.attrs["column_map"]`` records the
        map (its constants under ``"values"``) and ``df.attrs["survey"]`` the
        preset: ``name``, ``path``, ``sha256``, ``citation``.

    Raises
    ------
    FileNotFoundError
        No such table or preset.
    CatalogueError
        See :func:`mgar_bayes.io.read_catalogue`; messages start with the table
        and the preset.

    Warns
    -----
    UserWarning
        One per column set to a constant by the preset's ``[values]``.
    """
    if not isinstance(preset, SurveyPreset):
        preset = load_preset(preset)
    if preset.reader:
        from .io import read_apogee_dr17

        readers = {"apogee_dr17": read_apogee_dr17}
        df = readers[preset.reader](path, ages, encoding=encoding, **preset.reader_options)
        df.attrs["survey"] = {"name": preset.name, "path": str(preset.path), "sha256": preset.sha256,
                              "citation": preset.citation, "reader": preset.reader,
                              "reader_options": dict(preset.reader_options)}  # fmt: skip
        return df
    if ages is not None:
        raise CatalogueError(f"survey preset {preset.name}: --ages is for presets with a reader that joins ages")
    columns, units = parse_column_map(
        {"columns": preset.columns, "units": preset.units, "values": preset.values},
        str(preset.path),
    )
    df = read_catalogue(
        path,
        columns,
        units=units,
        name=f"{path} (survey preset {preset.name})",
        encoding=encoding,
        require_kinematics=preset.kinematics,
    )
    df.attrs["survey"] = {
        "name": preset.name,
        "path": str(preset.path),
        "sha256": preset.sha256,
        "citation": preset.citation,
    }
    return df


def _merged(under: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """``{section: {key: value}}`` of ``under`` with ``over``'s keys replacing its own."""
    out = {section: dict(keys) for section, keys in under.items()}
    for section, keys in over.items():
        if isinstance(keys, Mapping) and isinstance(out.get(section), dict):
            out[section].update(keys)
        else:
            out[section] = keys  # not a table: PipelineConfig.from_dict says so
    return out


def apply_preset_config(
    config: PipelineConfig | Mapping[str, Any] | str | os.PathLike | None,
    preset: SurveyPreset,
) -> PipelineConfig:
    """The pipeline config with a preset's settings: defaults < preset < the user's own.

    Parameters
    ----------
    config : PipelineConfig, dict, str, path-like or None
        A :class:`~mgar_bayes.config.PipelineConfig` is taken as the base and
        the preset's settings replace its values. A dict ``{section: {key:
        value}}`` (a parsed config file) or the path of a TOML config file holds
        the user's own settings: they win over the preset's. None: the
        defaults with the preset's settings.
    preset : SurveyPreset

    Returns
    -------
    PipelineConfig

    Raises
    ------
    FileNotFoundError
        ``config`` is a path that does not exist.
    ConfigError
        An invalid setting; the message names the config file and the preset.
    """
    if config is None:
        config = PipelineConfig()
    if isinstance(config, PipelineConfig):
        merged, origin = _merged(config.to_dict(), preset.config), f"survey preset {preset.path}"
    else:
        if isinstance(config, str | os.PathLike):
            origin = f"{config} with survey preset {preset.path}"
            load_config(config)  # the file's own errors, named as load_config names them
            with Path(config).open("rb") as fh:
                config = tomllib.load(fh)
        else:
            origin = f"config with survey preset {preset.path}"
        merged = _merged(preset.config, config)
    try:
        return PipelineConfig.from_dict(merged)
    except ConfigError as exc:
        raise ConfigError(f"{origin}: {exc}") from None
