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

    def refined(self, width: float) -> AgeBins:
        """The same age range split into the fewest equal bins no wider than ``width`` [Gyr].

        E.g. C25's nine bins from 1 to 12.25 Gyr with ``width = 0.5`` give 23
        bins of 0.489 Gyr. The inner edges of ``self`` are not kept.
        """
        width = float(width)
        if not width > 0:
            raise ValueError(f"bin width must be > 0 Gyr, got {width}")
        lo, hi = self.edges[0], self.edges[-1]
        n = max(int(np.ceil((hi - lo) / width - 1e-9)), 1)
        return AgeBins(tuple(np.linspace(lo, hi, n + 1)))

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
    age_err_lo: np.ndarray | None = None,
    age_err_hi: np.ndarray | None = None,
) -> np.ndarray:
    """Probability that a star's true age lies in [lo, hi) (C25 eq. A4).

    The true age is taken as a normal distribution around the observed age,
    truncated to ``age_range``, as in C25 Appendix A. With asymmetric errors it
    is a split normal instead: half-normals of width ``age_err_lo`` below and
    ``age_err_hi`` above the observed age, each holding half of the mass (the
    two-piece Gaussian V21 Sect. 2.1.1 use for distances), truncated the same
    way. Its CDF is ``Phi((x - age) / s(x))`` with ``s = age_err_lo`` for
    ``x < age`` and ``age_err_hi`` above, so P is exact in normal CDFs.

    Parameters
    ----------
    age, age_err : array_like
        Observed age and its absolute uncertainty [Gyr], shape (n,).
    lo, hi : float or array_like
        Bin edges [Gyr]; arrays of shape (k,) give an (n, k) result.
    age_range : tuple of float
        Truncation of the true-age distribution [Gyr] (C25: [0, 13]).
    age_err_lo, age_err_hi : array_like, optional
        Age minus its 16th percentile and 84th percentile minus the age [Gyr],
        shape (n,); give both or neither. A star where either is not finite
        uses ``age_err`` on both sides. None (default): symmetric ``age_err``.

    Returns
    -------
    numpy.ndarray
        Shape (n,) for scalar edges, (n, k) for arrays of k bins.

    Raises
    ------
    ValueError
        Only one of ``age_err_lo``, ``age_err_hi`` given, or shapes that do not
        match ``age``.
    """
    age = np.asarray(age, dtype=float)
    sd = np.asarray(age_err, dtype=float)
    if (age_err_lo is None) != (age_err_hi is None):
        raise ValueError("give both age_err_lo and age_err_hi, or neither")
    if age_err_lo is None:
        sd_lo = sd_hi = sd
    else:
        sd_lo = np.asarray(age_err_lo, dtype=float)
        sd_hi = np.asarray(age_err_hi, dtype=float)
        if sd_lo.shape != age.shape or sd_hi.shape != age.shape:
            raise ValueError(
                f"age_err_lo {sd_lo.shape} and age_err_hi {sd_hi.shape} must have the shape of age {age.shape}"
            )
        # a star is asymmetric only with both sides known: half a measurement is no split normal
        both = np.isfinite(sd_lo) & np.isfinite(sd_hi)
        sd_lo = np.where(both, sd_lo, sd)
        sd_hi = np.where(both, sd_hi, sd)
    scalar = np.ndim(lo) == 0
    lo = np.atleast_1d(np.asarray(lo, dtype=float))
    hi = np.atleast_1d(np.asarray(hi, dtype=float))
    a, b = age_range
    lo = np.clip(lo, a, b)
    hi = np.clip(hi, a, b)

    def cdf(x):
        # the side of the observed age picks the width; both halves meet at 1/2
        x = np.asarray(x, dtype=float).reshape(-1)
        below = x[None, :] < age[:, None]
        s = np.where(below, sd_lo[:, None], sd_hi[:, None])
        return special.ndtr((x[None, :] - age[:, None]) / s)

    norm = (cdf(b) - cdf(a))[:, 0]
    p = (cdf(hi) - cdf(lo)) / norm[:, None]
    p = np.clip(p, 0.0, 1.0)
    return p[:, 0] if scalar else p
