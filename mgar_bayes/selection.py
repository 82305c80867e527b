"""Thin/thick disk selections as named, composable objects.

A :class:`Selection` wraps a mask function and a name; ``&``, ``|`` and ``~``
combine selections. The C25 populations are a chemical cut AND a Z_max cut:

>>> thin = chem_below("C25") & zmax_range(None, 0.25)       # doctest: +SKIP
>>> thick = chem_above("C25") & zmax_range(2.0, None)       # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .config import SelectionConfig

__all__ = [
    "Selection",
    "chem_line",
    "chem_below",
    "chem_above",
    "zmax_range",
    "thin_disk",
    "v21_high_quality",
    "thick_disk",
    "population_selections",
    "assign_populations",
    "ZMAX_BINS_C25",
    "zmax_bins",
    "chemistry_slices_v21",
]


def chem_line(feh, line: str = "C25", shift: float = 0.0) -> np.ndarray:
    """[alpha/Fe] of the thin/thick dividing line at ``feh`` [dex].

    C25 (their Fig. 1c): 0.12 for [Fe/H] < -0.3, else 0.12 - 0.14([Fe/H] + 0.3).
    V21 (their Sect. 3.1): thin disk below both 0.15 and -0.2[Fe/H] + 0.1, i.e.
    the line min(0.15, -0.2[Fe/H] + 0.1). ``shift`` moves the line in
    [alpha/Fe] [dex] (C25 App. B: +-0.1).
    """
    feh = np.asarray(feh, dtype=float)
    if line == "C25":
        y = np.where(feh < -0.3, 0.12, 0.12 - 0.14 * (feh + 0.3))
    elif line == "V21":
        y = np.minimum(0.15, -0.2 * feh + 0.1)
    else:
        raise ValueError(f"unknown chemical line {line!r}; use 'C25' or 'V21'")
    return y + shift


@dataclass(frozen=True)
class Selection:
    """A named star selection; call it on a table to get a boolean mask."""

    name: str
    mask_fn: Callable[[pd.DataFrame], np.ndarray]

    def __call__(self, table: pd.DataFrame) -> np.ndarray:
        with np.errstate(invalid="ignore"):
            return np.asarray(self.mask_fn(table), dtype=bool)

    def __and__(self, other: Selection) -> Selection:
        return Selection(f"({self.name}) & ({other.name})", lambda t: self(t) & other(t))

    def __or__(self, other: Selection) -> Selection:
        return Selection(f"({self.name}) | ({other.name})", lambda t: self(t) | other(t))

    def __invert__(self) -> Selection:
        return Selection(f"~({self.name})", lambda t: ~self(t))

    def named(self, name: str) -> Selection:
        return Selection(name, self.mask_fn)

    def apply(self, table: pd.DataFrame) -> pd.DataFrame:
        return table.loc[self(table)]


def chem_below(line: str = "C25", shift: float = 0.0) -> Selection:
    """Alpha-poor (chemical thin disk): [alpha/Fe] below the line."""
    chem_line(0.0, line)  # validate the name early
    return Selection(
        f"[a/Fe] < {line} line{shift:+g}",
        lambda t: t["afe"].to_numpy(float) < chem_line(t["feh"].to_numpy(float), line, shift),
    )


def chem_above(line: str = "C25", shift: float = 0.0) -> Selection:
    """Alpha-rich (chemical thick disk): [alpha/Fe] above the line."""
    chem_line(0.0, line)
    return Selection(
        f"[a/Fe] > {line} line{shift:+g}",
        lambda t: t["afe"].to_numpy(float) > chem_line(t["feh"].to_numpy(float), line, shift),
    )


def zmax_range(lo: float | None = None, hi: float | None = None) -> Selection:
    """lo < Z_max < hi [kpc]; None leaves that side open."""
    lo_ = -np.inf if lo is None else lo
    hi_ = np.inf if hi is None else hi
    if lo is not None and hi is not None:
        name = f"{lo:g} < Z_max < {hi:g} kpc"
    elif lo is not None:
        name = f"Z_max > {lo:g} kpc"
    else:
        name = f"Z_max < {hi:g} kpc" if hi is not None else "any Z_max"
    return Selection(
        name,
        lambda t: (t["Z_max"].to_numpy(float) > lo_) & (t["Z_max"].to_numpy(float) < hi_),
    )


def v21_high_quality() -> Selection:
    """V21 Sect. 4.1.4's high-quality subsample: age error < 10% and either T_eff > 5750 K
    or (log g < 4 and T_eff > 5250 K) -- away from the giant branch and the lower main sequence."""

    def mask(t: pd.DataFrame) -> np.ndarray:
        missing = [c for c in ("teff", "logg", "age", "age_err") if c not in t.columns]
        if missing:
            raise KeyError(f"V21's high-quality subsample needs column(s) {missing}")
        teff, logg = t["teff"].to_numpy(float), t["logg"].to_numpy(float)
        rel = t["age_err"].to_numpy(float) / t["age"].to_numpy(float)
        with np.errstate(invalid="ignore", divide="ignore"):
            return (rel < 0.10) & ((teff > 5750.0) | ((logg < 4.0) & (teff > 5250.0)))

    return Selection("V21 high quality", mask)


def thin_disk(cfg: SelectionConfig | None = None) -> Selection:
    """C25 thin disk: below the chemical line AND Z_max < 0.25 kpc (configurable)."""
    cfg = cfg or SelectionConfig()
    sel = chem_below(cfg.chem_line, cfg.chem_shift)
    if cfg.thin_zmax_max is not None:
        sel = sel & zmax_range(None, cfg.thin_zmax_max)
    return sel.named("thin")


def thick_disk(cfg: SelectionConfig | None = None) -> Selection:
    """C25 thick disk: above the chemical line AND Z_max > 2 kpc (configurable)."""
    cfg = cfg or SelectionConfig()
    sel = chem_above(cfg.chem_line, cfg.chem_shift)
    if cfg.thick_zmax_min is not None:
        sel = sel & zmax_range(cfg.thick_zmax_min, None)
    return sel.named("thick")


def population_selections(cfg: SelectionConfig | None = None) -> dict[str, Selection]:
    """{'thin': ..., 'thick': ...} for a selection config."""
    return {"thin": thin_disk(cfg), "thick": thick_disk(cfg)}


def assign_populations(table: pd.DataFrame, selections: dict[str, Selection] | SelectionConfig | None = None) -> pd.Series:
    """Population label per star ('' where no selection applies).

    Raises ValueError if a star falls in two selections (they must be disjoint).
    """
    if selections is None or isinstance(selections, SelectionConfig):
        selections = population_selections(selections)
    labels = np.full(len(table), "", dtype=object)
    taken = np.zeros(len(table), dtype=bool)
    for name, sel in selections.items():
        m = sel(table)
        both = m & taken
        if both.any():
            raise ValueError(f"selection '{name}' overlaps an earlier one for {both.sum()} star(s)")
        labels[m] = name
        taken |= m
    return pd.Series(labels, index=table.index, name="population", dtype="string")


# C25 App. B (Fig. B2) / V21 Fig. 9: purely geometric Z_max slices [kpc]
ZMAX_BINS_C25: tuple[tuple[float, float], ...] = ((0.0, 0.25), (0.25, 0.8), (0.8, 2.0), (2.0, 6.0))


def zmax_bins(edges=ZMAX_BINS_C25) -> dict[str, Selection]:
    """Z_max-only selections, no chemical cut (C25 App. B2, V21 Fig. 9)."""
    return {f"Zmax {lo:g}-{hi:g}": zmax_range(lo, hi).named(f"Zmax {lo:g}-{hi:g}") for lo, hi in edges}


def chemistry_slices_v21() -> dict[str, Selection]:
    """V21 Fig. 10: four chemical slices bounded by the V21 line shifted by -0.1, 0, +0.1 dex."""
    lo, mid, hi = (chem_below("V21", s) for s in (-0.1, 0.0, 0.1))
    return {
        "chem < V21-0.1": lo.named("chem < V21-0.1"),
        "V21-0.1 < chem < V21": (~lo & mid).named("V21-0.1 < chem < V21"),
        "V21 < chem < V21+0.1": (~mid & hi).named("V21 < chem < V21+0.1"),
        "chem > V21+0.1": (~hi).named("chem > V21+0.1"),
    }
