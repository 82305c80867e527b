"""Mono-age bins and the probability that a star's true age lies in a bin."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import special

from .config import BinningConfig

__all__ = ["AgeBins", "assign_age_bins", "age_bin_probability"]


@dataclass(frozen=True)
class AgeBins:
    """Age-bin edges [Gyr], increasing."""

    edges: tuple[float, ...]

    def __post_init__(self):
        e = np.asarray(self.edges, dtype=float)
        if e.ndim != 1 or e.size < 2 or not np.all(np.diff(e) > 0):
            raise ValueError(f"age-bin edges must be increasing, got {self.edges}")
        object.__setattr__(self, "edges", tuple(float(x) for x in e))

    @classmethod
    def from_config(cls, cfg: BinningConfig | None = None) -> AgeBins:
        cfg = cfg or BinningConfig()
        return cls(tuple(np.linspace(cfg.age_min, cfg.age_max, cfg.n_bins + 1)))

    @property
    def lo(self) -> np.ndarray:
        return np.asarray(self.edges[:-1])

    @property
    def hi(self) -> np.ndarray:
        return np.asarray(self.edges[1:])

    @property
    def centers(self) -> np.ndarray:
        return 0.5 * (self.lo + self.hi)

    @property
    def n_bins(self) -> int:
        return len(self.edges) - 1

    def labels(self) -> list[str]:
        return [f"{a:g}-{b:g}" for a, b in zip(self.lo, self.hi, strict=True)]

    def index(self, age: np.ndarray) -> np.ndarray:
        """Bin index of each age; -1 outside [edges[0], edges[-1])."""
        age = np.asarray(age, dtype=float)
        idx = np.atleast_1d(np.searchsorted(self.edges, age, side="right") - 1)
        idx[(idx < 0) | (idx >= self.n_bins) | ~np.isfinite(np.atleast_1d(age))] = -1
        return idx.reshape(age.shape) if age.ndim else int(idx[0])


def assign_age_bins(table: pd.DataFrame, bins: AgeBins, column: str = "age") -> pd.Series:
    """Integer age-bin index per star from its observed age (-1: outside all bins)."""
    return pd.Series(bins.index(table[column].to_numpy()), index=table.index, name="age_bin")


def age_bin_probability(
    age: np.ndarray,
    age_err: np.ndarray,
    lo: np.ndarray | float,
    hi: np.ndarray | float,
    age_range: tuple[float, float] = (0.0, 13.0),
) -> np.ndarray:
    """Probability that a star's true age lies in [lo, hi) (C25 eq. A4).

    The true age is taken as a normal distribution around the observed age,
    truncated to ``age_range``, as in C25 Appendix A.

    Parameters
    ----------
    age, age_err : array_like
        Observed age and its absolute uncertainty [Gyr], shape (n,).
    lo, hi : float or array_like
        Bin edges [Gyr]; arrays of shape (k,) give an (n, k) result.
    age_range : tuple of float
        Truncation of the true-age distribution [Gyr] (C25: [0, 13]).

    Returns
    -------
    numpy.ndarray
        Shape (n,) for scalar edges, (n, k) for arrays of k bins.
    """
    age = np.asarray(age, dtype=float)
    sd = np.asarray(age_err, dtype=float)
    scalar = np.ndim(lo) == 0
    lo = np.atleast_1d(np.asarray(lo, dtype=float))
    hi = np.atleast_1d(np.asarray(hi, dtype=float))
    a, b = age_range
    lo = np.clip(lo, a, b)
    hi = np.clip(hi, a, b)

    def cdf(x):
        return special.ndtr((x[None, :] - age[:, None]) / sd[:, None])

    norm = special.ndtr((b - age) / sd) - special.ndtr((a - age) / sd)
    p = (cdf(hi) - cdf(lo)) / norm[:, None]
    p = np.clip(p, 0.0, 1.0)
    return p[:, 0] if scalar else p
