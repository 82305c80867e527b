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
``min_snr = "off"``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "GalaxyConfig",
    "OrbitConfig",
    "CutsConfig",
    "BinningConfig",
    "SelectionConfig",
    "PipelineConfig",
    "load_config",
    "config_hash",
]

POTENTIALS = ("MWPotential2014", "McMillan17", "Irrgang13I")


@dataclass(frozen=True)
class GalaxyConfig:
    """Solar position and motion and the Galactic potential.

    Parameters
    ----------
    R0 : float
        Sun's Galactocentric cylindrical radius [kpc] (C25/V21: 8.27).
    v0 : float
        Circular velocity at R0 [km/s] (C25/V21: 236).
    z_sun : float
        Sun's height above the mid-plane [kpc]; V21 put the Sun in the plane.
    solar_motion : tuple of float
        Sun's peculiar motion (U, V, W) relative to the local standard of rest
        [km/s], U towards the Galactic centre (Schoenrich & Aumer 2017).
    potential : str
        galpy potential: ``MWPotential2014`` (scaled to R0, v0), ``McMillan17``
        or ``Irrgang13I`` (each at its own physical scale unless
        ``rescale_potential``).
    rescale_potential : bool
        Rescale McMillan17/Irrgang13I so that their length unit is R0 and their
        circular velocity at R0 is v0 (as MWPotential2014 always is).
    """

    R0: float = 8.27
    v0: float = 236.0
    z_sun: float = 0.0
    solar_motion: tuple[float, float, float] = (13.0, 12.24, 7.24)
    potential: str = "MWPotential2014"
    rescale_potential: bool = False

    def __post_init__(self):
        if not self.R0 > 0:
            raise ValueError(f"galaxy.R0 must be > 0 kpc, got {self.R0}")
        if not self.v0 > 0:
            raise ValueError(f"galaxy.v0 must be > 0 km/s, got {self.v0}")
        if len(self.solar_motion) != 3:
            raise ValueError(f"galaxy.solar_motion must be (U, V, W), got {self.solar_motion}")
        object.__setattr__(self, "solar_motion", tuple(float(v) for v in self.solar_motion))
        if self.potential not in POTENTIALS:
            raise ValueError(f"galaxy.potential must be one of {POTENTIALS}, got {self.potential!r}")


@dataclass(frozen=True)
class OrbitConfig:
    """How R_g, its error and Z_max are computed.

    Parameters
    ----------
    n_mc : int
        Monte-Carlo realisations per star for the error propagation (C25: 100).
    seed : int
        Seed of the Monte-Carlo draws.
    zmax_method : str
        ``"staeckel"`` (fast Staeckel approximation, default) or ``"integrate"``
        (full orbit integration, C25's route; slow).
    staeckel_delta : float or str
        Focal length of the Staeckel coordinates: ``"tabulated"`` (galpy's
        ``estimateDeltaStaeckel`` interpolated from an (R, |z|) grid at each
        star), ``"median"`` (one value for the sample) or a fixed value [kpc].
    integrate_time : float
        Integration time for ``zmax_method="integrate"`` [Gyr].
    chunk_size : int
        Stars per chunk of the Monte-Carlo stage (bounds memory).
    """

    n_mc: int = 100
    seed: int = 42
    zmax_method: str = "staeckel"
    staeckel_delta: float | str = "tabulated"
    integrate_time: float = 3.0
    chunk_size: int = 20000

    def __post_init__(self):
        if self.n_mc < 2:
            raise ValueError(f"orbits.n_mc must be >= 2, got {self.n_mc}")
        if isinstance(self.staeckel_delta, str) and self.staeckel_delta not in ("tabulated", "median"):
            raise ValueError(
                f"orbits.staeckel_delta must be 'tabulated', 'median' or a number [kpc], got {self.staeckel_delta!r}"
            )
        if self.zmax_method not in ("staeckel", "integrate"):
            raise ValueError(
                f"orbits.zmax_method must be 'staeckel' or 'integrate', got {self.zmax_method!r}"
            )


@dataclass(frozen=True)
class CutsConfig:
    """Quality cuts of C25 Section 2.1; set a value to None to switch a cut off.

    Parameters
    ----------
    min_mass : float
        Minimum stellar mass [Msun] (C25: 0.7).
    max_age_rel_err : float
        Maximum age_err / age (C25: 0.30).
    min_snr : float
        Minimum SNR, exclusive (C25: 20).
    max_abs_z : float
        Maximum |z| [kpc], exclusive (C25: 10).
    R_range : tuple of float
        Open interval of R [kpc] (C25: 5 < R < 20).
    require_flags : bool
        Require flag_feh == 0 and flag_afe == 0.
    min_feh : float
        Minimum [Fe/H] [dex], inclusive (C25: -1.0).
    min_vphi : float
        Minimum v_phi [km/s], inclusive (C25: 0).
    max_rel_err_phase : float
        Maximum |dX/X| for X in (R, v_R, v_phi, z, v_z), exclusive (C25: 0.40).
    """

    min_mass: float | None = 0.7
    max_age_rel_err: float | None = 0.30
    min_snr: float | None = 20.0
    max_abs_z: float | None = 10.0
    R_range: tuple[float, float] | None = (5.0, 20.0)
    require_flags: bool = True
    min_feh: float | None = -1.0
    min_vphi: float | None = 0.0
    max_rel_err_phase: float | None = 0.40


@dataclass(frozen=True)
class BinningConfig:
    """Equal-width age bins [Gyr] (C25/V21: nine bins from 1 to 12.25 Gyr)."""

    age_min: float = 1.0
    age_max: float = 12.25
    n_bins: int = 9

    def __post_init__(self):
        if not self.age_max > self.age_min:
            raise ValueError("binning.age_max must exceed binning.age_min")
        if self.n_bins < 1:
            raise ValueError("binning.n_bins must be >= 1")


@dataclass(frozen=True)
class SelectionConfig:
    """Thin/thick disk selection: a chemical line AND a Z_max cut (C25 Sect. 2.2).

    Parameters
    ----------
    chem_line : str
        ``"C25"`` or ``"V21"``.
    chem_shift : float
        Shift of the chemical line in [alpha/Fe] [dex] (C25 App. B: +-0.1).
    thin_zmax_max : float or None
        Thin disk: Z_max below this [kpc] (0.25); None: chemistry only.
    thick_zmax_min : float or None
        Thick disk: Z_max above this [kpc] (2.0); None: chemistry only.
    """

    chem_line: str = "C25"
    chem_shift: float = 0.0
    thin_zmax_max: float | None = 0.25
    thick_zmax_min: float | None = 2.0

    def __post_init__(self):
        if self.chem_line not in ("C25", "V21"):
            raise ValueError(f"selection.chem_line must be 'C25' or 'V21', got {self.chem_line!r}")


@dataclass(frozen=True)
class PipelineConfig:
    """Everything a run depends on."""

    galaxy: GalaxyConfig = field(default_factory=GalaxyConfig)
    orbits: OrbitConfig = field(default_factory=OrbitConfig)
    cuts: CutsConfig = field(default_factory=CutsConfig)
    selection: SelectionConfig = field(default_factory=SelectionConfig)
    binning: BinningConfig = field(default_factory=BinningConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PipelineConfig:
        sections = {f.name: f.type for f in dataclasses.fields(cls)}
        unknown = set(data) - set(sections)
        if unknown:
            raise ValueError(f"unknown config section(s) {sorted(unknown)}; known: {sorted(sections)}")
        kwargs = {}
        for f in dataclasses.fields(cls):
            sub = data.get(f.name, {})
            sub_cls = type(f.default_factory())
            names = {g.name for g in dataclasses.fields(sub_cls)}
            bad = set(sub) - names
            if bad:
                raise ValueError(f"unknown key(s) {sorted(bad)} in [{f.name}]; known: {sorted(names)}")
            sub = {k: _toml_value(v) for k, v in sub.items()}
            kwargs[f.name] = sub_cls(**sub)
        return cls(**kwargs)

    def replace(self, **sections: dict[str, Any]) -> PipelineConfig:
        """Copy with some fields of some sections changed: ``cfg.replace(galaxy={"R0": 7.0})``."""
        new = {}
        for name, changes in sections.items():
            new[name] = dataclasses.replace(getattr(self, name), **changes)
        return dataclasses.replace(self, **new)


def _toml_value(v):
    # TOML has no null: "off"/"none" switch a setting (e.g. a cut) off
    if isinstance(v, str) and v.strip().lower() in ("off", "none"):
        return None
    return tuple(v) if isinstance(v, list) else v


def load_config(path: str | Path | None = None) -> PipelineConfig:
    """Read a TOML config file; missing sections and keys keep their defaults."""
    if path is None:
        return PipelineConfig()
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config file not found: {path}")
    with path.open("rb") as fh:
        try:
            data = tomllib.load(fh)
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"{path}: not valid TOML ({exc})") from exc
    return PipelineConfig.from_dict(data)


def config_hash(obj: Any) -> str:
    """Short stable hash of a (nested) config or dict, for provenance and caching."""
    if dataclasses.is_dataclass(obj):
        obj = dataclasses.asdict(obj)
    text = json.dumps(obj, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
