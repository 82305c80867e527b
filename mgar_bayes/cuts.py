"""Quality cuts of C25 Section 2.1 with a cut-flow table.

Cuts come in two stages: those that need only catalogue columns (run before the
orbit stage, so no time is spent on stars that will be dropped anyway) and those
that need the Galactocentric phase-space coordinates and their errors. Every
star removed is counted in the cut-flow, including stars dropped for non-finite
values, which are reported per column.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .config import CutsConfig

__all__ = ["Cut", "catalogue_cuts", "duplicate_cut", "unique_positions", "phase_space_cuts", "finite_cuts", "apply_cuts", "CutFlow"]


@dataclass(frozen=True)
class Cut:
    """One named cut: ``keep(table)`` returns a boolean mask of stars to keep."""

    name: str
    description: str
    keep: Callable[[pd.DataFrame], np.ndarray]
    columns: tuple[str, ...] = ()


def _col(table: pd.DataFrame, name: str) -> np.ndarray:
    return table[name].to_numpy(dtype=float)


def finite_cuts(columns: Sequence[str]) -> list[Cut]:
    """One cut per column dropping non-finite (NaN/inf) values, reported per column."""
    return [
        Cut(
            f"finite {c}",
            f"{c} is finite (NaN/inf dropped)",
            (lambda t, c=c: np.isfinite(_col(t, c))),
            (c,),
        )
        for c in columns
    ]


def catalogue_cuts(cfg: CutsConfig | None = None) -> list[Cut]:
    """Cuts on catalogue columns (age range, mass, age error, SNR, flags, [Fe/H])."""
    cfg = cfg or CutsConfig()
    cuts: list[Cut] = [Cut("age > 0", "age > 0 Gyr", lambda t: _col(t, "age") > 0, ("age",))]
    if cfg.max_age is not None:
        # C25 keep ages within their true-age range [0, 13] Gyr
        amax = cfg.max_age
        cuts.append(Cut("age max", f"age <= {amax} Gyr", lambda t: _col(t, "age") <= amax, ("age",)))
    if cfg.min_mass is not None:
        m = cfg.min_mass
        cuts.append(Cut("mass", f"mass >= {m} Msun", lambda t: _col(t, "mass") >= m, ("mass",)))
    if cfg.max_age_rel_err is not None:
        a = cfg.max_age_rel_err
        cuts.append(
            Cut(
                "age error",
                f"age_err / age <= {a}",
                lambda t: _col(t, "age_err") / _col(t, "age") <= a,
                ("age", "age_err"),
            )
        )
    if cfg.min_snr is not None:
        s = cfg.min_snr
        cuts.append(Cut("snr", f"snr > {s}", lambda t: _col(t, "snr") > s, ("snr",)))
    if cfg.require_flags:
        cuts.append(
            Cut(
                "flags",
                "flag_feh == 0 and flag_afe == 0",
                lambda t: (t["flag_feh"].to_numpy() == 0) & (t["flag_afe"].to_numpy() == 0),
                ("flag_feh", "flag_afe"),
            )
        )
    if cfg.min_feh is not None:
        f = cfg.min_feh
        cuts.append(Cut("[Fe/H]", f"feh >= {f} dex", lambda t: _col(t, "feh") >= f, ("feh",)))
    if cfg.v21_high_quality:
        from .selection import v21_high_quality

        cuts.append(
            Cut("V21 high quality", "age_err/age < 0.1 and (teff > 5750 K or (logg < 4 and teff > 5250 K))",
                v21_high_quality(), ("age", "age_err", "teff", "logg"))
        )  # fmt: skip
    return cuts


def duplicate_cut(radius_arcsec: float) -> Cut:
    """One star per position: of observations within ``radius_arcsec``, keep the highest SNR (V21 Sect. 2.2)."""
    return Cut(
        "duplicates",
        f"one observation per {radius_arcsec:g} arcsec (highest snr kept)",
        lambda t: unique_positions(t, radius_arcsec),
        ("ra", "dec", "snr"),
    )


def unique_positions(table: pd.DataFrame, radius_arcsec: float) -> np.ndarray:
    """Mask keeping, of every group of observations closer than ``radius_arcsec``, the highest-SNR one.

    Groups are resolved greedily from the highest SNR down (ties by ``source_id``, so the
    result does not depend on the row order): a star is dropped when a kept star of higher
    priority lies within the radius. Stars without finite ra/dec are kept (other cuts see them).
    """
    from scipy.spatial import cKDTree

    n = len(table)
    keep = np.ones(n, dtype=bool)
    ra, dec = np.deg2rad(_col(table, "ra")), np.deg2rad(_col(table, "dec"))
    ok = np.isfinite(ra) & np.isfinite(dec)
    if ok.sum() < 2:
        return keep
    idx = np.flatnonzero(ok)
    xyz = np.stack([np.cos(dec[idx]) * np.cos(ra[idx]), np.cos(dec[idx]) * np.sin(ra[idx]), np.sin(dec[idx])], axis=1)
    chord = 2.0 * np.sin(np.deg2rad(radius_arcsec / 3600.0) / 2.0)
    pairs = cKDTree(xyz).query_pairs(chord, output_type="ndarray")
    if len(pairs) == 0:
        return keep
    snr = np.nan_to_num(_col(table, "snr")[idx], nan=-np.inf)
    ids = table["source_id"].to_numpy()[idx] if "source_id" in table.columns else idx
    try:
        tie = np.argsort(np.argsort(ids, kind="stable"), kind="stable")
    except TypeError:
        tie = np.argsort(np.argsort(ids.astype(str), kind="stable"), kind="stable")
    # priority rank: 0 = highest snr (smallest id among equals)
    rank = np.empty(len(idx), dtype=np.int64)
    rank[np.lexsort((tie, -snr))] = np.arange(len(idx))
    neighbours: dict[int, list[int]] = {}
    for a, b in pairs:
        neighbours.setdefault(int(a), []).append(int(b))
        neighbours.setdefault(int(b), []).append(int(a))
    dropped = np.zeros(len(idx), dtype=bool)
    for i in sorted(neighbours, key=lambda k: rank[k]):
        if dropped[i]:
            continue
        for j in neighbours[i]:
            if rank[j] > rank[i]:
                dropped[j] = True
    keep[idx[dropped]] = False
    return keep


PHASE_SPACE = ("R", "v_R", "v_phi", "z", "v_z")


def phase_space_cuts(cfg: CutsConfig | None = None) -> list[Cut]:
    """Cuts on Galactocentric coordinates and their errors (|z|, R, v_phi, 40% errors)."""
    cfg = cfg or CutsConfig()
    cuts: list[Cut] = []
    if cfg.max_abs_z is not None:
        zz = cfg.max_abs_z
        cuts.append(Cut("|z|", f"|z| < {zz} kpc", lambda t: np.abs(_col(t, "z")) < zz, ("z",)))
    if cfg.R_range is not None:
        lo, hi = cfg.R_range
        cuts.append(
            Cut("R", f"{lo} < R < {hi} kpc", lambda t: (_col(t, "R") > lo) & (_col(t, "R") < hi), ("R",))
        )
    if cfg.min_vphi is not None:
        v = cfg.min_vphi
        cuts.append(Cut("v_phi", f"v_phi >= {v} km/s", lambda t: _col(t, "v_phi") >= v, ("v_phi",)))
    if cfg.max_rel_err_phase is not None:
        f = cfg.max_rel_err_phase
        for c in PHASE_SPACE:
            cuts.append(
                Cut(
                    f"rel. error {c}",
                    f"|{c}_err / {c}| < {f}",
                    (lambda t, c=c: np.abs(_col(t, c + "_err")) < f * np.abs(_col(t, c))),
                    (c, c + "_err"),
                )
            )
    cuts.append(
        Cut("R_g defined", "L_z > 0 so that R_g exists", lambda t: np.isfinite(_col(t, "R_g")), ("R_g",))
    )
    return cuts


class CutFlow:
    """Running record of how many stars each cut removed."""

    def __init__(self, n_input: int, label: str = "input catalogue"):
        self.rows = [{"step": 0, "cut": label, "description": "", "n_removed": 0, "n_remaining": n_input}]

    @property
    def n_remaining(self) -> int:
        return int(self.rows[-1]["n_remaining"])

    def add(self, cut: str, description: str, n_removed: int) -> None:
        self.rows.append(
            {
                "step": len(self.rows),
                "cut": cut,
                "description": description,
                "n_removed": int(n_removed),
                "n_remaining": self.n_remaining - int(n_removed),
            }
        )

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame(self.rows, columns=["step", "cut", "description", "n_removed", "n_remaining"])


def apply_cuts(table: pd.DataFrame, cuts: Sequence[Cut], flow: CutFlow | None = None) -> tuple[pd.DataFrame, CutFlow]:
    """Apply cuts in order, recording each one in the cut-flow.

    Comparisons with NaN are False, so a NaN that reaches a cut is dropped by it
    (run :func:`finite_cuts` first to report those separately).

    Returns
    -------
    kept : pandas.DataFrame
        Rows that pass every cut (original index kept).
    flow : CutFlow
        Cut-flow with one row per cut.
    """
    flow = flow or CutFlow(len(table))
    keep = np.ones(len(table), dtype=bool)
    for cut in cuts:
        missing = [c for c in cut.columns if c not in table.columns]
        if missing:
            raise KeyError(f"cut '{cut.name}' needs column(s) {missing}, absent from the table")
        with np.errstate(invalid="ignore", divide="ignore"):
            mask = np.asarray(cut.keep(table), dtype=bool)
        removed = keep & ~mask
        flow.add(cut.name, cut.description, removed.sum())
        keep &= mask
    return table.loc[keep], flow
