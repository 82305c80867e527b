"""Simulated mono-age populations with a known metallicity gradient (for tests and benchmarks)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..binning import AgeBins

__all__ = ["SimTruth", "TwoDiskTruth", "simulate_population", "simulate_two_disks"]


@dataclass(frozen=True)
class SimTruth:
    """The true parameters of a simulated population.

    Attributes
    ----------
    gradient : numpy.ndarray
        Per-bin gradient [dex/kpc], shape (K,) (with a ``gradient_fn``: its
        value at the bin centres).
    intercept : numpy.ndarray
        Per-bin [Fe/H] at ``r_ref`` [dex].
    scatter : float or numpy.ndarray
        Intrinsic [Fe/H] scatter sigma [dex] (per bin when one was given per bin).
    slope : float
        Slope of the line the gradients were drawn around [dex/kpc/Gyr]; with
        a ``gradient_fn``, the least-squares line through the curve over the
        binned age range, uniform in age (what the smooth model's
        ``trend_slope`` measures).
    gradient_at_ref : float
        Its value at ``age_ref`` [dex/kpc].
    age_ref, r_ref : float
        Reference age [Gyr] and radius [kpc].
    gradient_fn : callable or None
        The true gradient as a function of true age [Gyr -> dex/kpc], when
        the catalogue was drawn from one (see :meth:`curve`).
    """

    gradient: np.ndarray
    intercept: np.ndarray
    scatter: float | np.ndarray
    slope: float
    gradient_at_ref: float
    age_ref: float
    r_ref: float
    gradient_fn: Callable[[np.ndarray], np.ndarray] | None = None

    def curve(self, ages: np.ndarray) -> np.ndarray:
        """The true gradient [dex/kpc] at ``ages`` [Gyr]: ``gradient_fn``, else the line."""
        ages = np.asarray(ages, dtype=float)
        if self.gradient_fn is not None:
            return np.asarray(self.gradient_fn(ages), dtype=float)
        return self.gradient_at_ref + self.slope * (ages - self.age_ref)


#: Points of the uniform age grid the least-squares line through a ``gradient_fn`` is taken on.
_LINE_GRID = 2001


def _curve_line(fn, lo: float, hi: float, age_ref: float) -> tuple[float, float]:
    """(slope, value at age_ref) of the least-squares line through ``fn`` on [lo, hi], uniform in age."""
    t = np.linspace(lo, hi, _LINE_GRID)
    slope, at_ref = np.polyfit(t - age_ref, np.asarray(fn(t), dtype=float), 1)
    return float(slope), float(at_ref)


def simulate_population(
    bins: AgeBins | None = None,
    *,
    n_per_bin: int = 300,
    slope: float = 0.004,
    gradient_at_ref: float = -0.05,
    age_ref: float = 6.625,
    gradient_scatter: float = 0.0,
    intercept: float | np.ndarray = -0.1,
    scatter: float | np.ndarray = 0.08,
    r_ref: float = 8.27,
    rg_range: tuple[float, float] = (5.0, 15.0),
    rg_err: tuple[float, float] = (0.2, 0.8),
    feh_err: tuple[float, float] = (0.03, 0.08),
    age_rel_err: float = 0.1,
    feh_range: tuple[float, float] | None = (-1.0, 0.5),
    population: str = "thin",
    seed: int = 0,
    gradient_fn: Callable[[np.ndarray], np.ndarray] | None = None,
) -> tuple[pd.DataFrame, SimTruth]:
    """Draw stars whose [Fe/H] follows a per-bin linear gradient in the true R_g.

    Each bin gets ``n_per_bin`` stars by *true* age (uniform in the bin); the
    observed age is the true age times (1 + age_rel_err N(0, 1)) and its
    reported error is ``age_rel_err`` times the observed age, so stars migrate
    between bins as in a real catalogue. [Fe/H]_true = b_k + nabla_k (R_true -
    r_ref) + N(0, scatter); observed values add Gaussian errors drawn
    uniformly in the given ranges. With ``gradient_fn`` each star's gradient
    is that function of its own *true* age, nabla_i = gradient_fn(t_i), not
    of its bin (a smooth MGAR, e.g. with a dip or a V-shape); ``slope``,
    ``gradient_at_ref`` and ``gradient_scatter`` are then not used.

    Parameters
    ----------
    bins : AgeBins, optional
        Default ``AgeBins.from_config()``.
    n_per_bin : int
        Stars per bin (by true age), before the [Fe/H] cut.
    slope, gradient_at_ref, age_ref : float
        nabla_k = gradient_at_ref + slope (t_k - age_ref) [dex/kpc, dex/kpc/Gyr, Gyr].
    gradient_scatter : float
        Extra N(0, gradient_scatter) per bin around that line [dex/kpc].
    intercept : float or array_like
        [Fe/H] at r_ref per bin [dex].
    scatter : float or array_like
        Intrinsic scatter [dex], one or per bin (of the star's true age).
    r_ref : float
        Reference radius [kpc].
    rg_range : tuple of float
        True R_g is uniform in it [kpc].
    rg_err, feh_err : tuple of float
        Ranges of the per-star errors [kpc, dex].
    age_rel_err : float
        Relative age error.
    feh_range : tuple of float or None
        Keep only stars with observed [Fe/H] inside (the survey cut that the
        truncated likelihood models); None keeps all.
    population : str
        Value of the ``population`` column.
    seed : int
        Seed of every random draw.
    gradient_fn : callable, optional
        True gradient [dex/kpc] as a vectorised function of true age [Gyr].
        The draws of the other quantities are those of the same call
        without it (same seed, same stars).

    Returns
    -------
    stars : pandas.DataFrame
        Columns ``source_id, feh, feh_err, R_g, R_g_err, age, age_err,
        population`` plus ``true_age, true_R_g, true_bin``.
    truth : SimTruth
    """
    bins = bins or AgeBins.from_config()
    rng = np.random.default_rng(seed)
    k_bins = bins.n_bins
    if gradient_fn is not None:
        if gradient_scatter > 0:
            raise ValueError("gradient_scatter adds per-bin offsets to a line; give it or gradient_fn, not both")
        slope, gradient_at_ref = _curve_line(gradient_fn, bins.edges[0], bins.edges[-1], age_ref)
    grad = gradient_at_ref + slope * (bins.centers - age_ref)
    if gradient_fn is not None:
        grad = np.asarray(gradient_fn(bins.centers), dtype=float)
    if gradient_scatter > 0:
        grad = grad + rng.normal(0.0, gradient_scatter, k_bins)
    b = np.broadcast_to(np.asarray(intercept, dtype=float), (k_bins,)).copy()
    true_bin = np.repeat(np.arange(k_bins), n_per_bin)
    n = true_bin.size
    true_age = rng.uniform(bins.lo[true_bin], bins.hi[true_bin])
    age = true_age * (1.0 + age_rel_err * rng.standard_normal(n))
    age = np.maximum(age, 0.05)
    age_err = np.maximum(age_rel_err * age, 1e-3)
    true_rg = rng.uniform(*rg_range, n)
    rg_e = rng.uniform(*rg_err, n)
    rg_obs = true_rg + rg_e * rng.standard_normal(n)
    fe_e = rng.uniform(*feh_err, n)
    # a gradient_fn is read at each star's own true age: no step at the bin edges
    star_grad = grad[true_bin] if gradient_fn is None else np.asarray(gradient_fn(true_age), dtype=float)
    sig = np.broadcast_to(np.asarray(scatter, dtype=float), (k_bins,))
    feh_true = b[true_bin] + star_grad * (true_rg - r_ref) + sig[true_bin] * rng.standard_normal(n)
    feh_obs = feh_true + fe_e * rng.standard_normal(n)
    stars = pd.DataFrame(
        {
            "source_id": np.arange(n, dtype=np.int64) + 1_000_000 * (seed % 1000),
            "feh": feh_obs,
            "feh_err": fe_e,
            "R_g": rg_obs,
            "R_g_err": rg_e,
            "age": age,
            "age_err": age_err,
            "population": population,
            "true_age": true_age,
            "true_R_g": true_rg,
            "true_bin": true_bin,
        }
    )
    if feh_range is not None:
        stars = stars[(stars["feh"] >= feh_range[0]) & (stars["feh"] <= feh_range[1])].reset_index(drop=True)
    truth = SimTruth(
        gradient=grad,
        intercept=b,
        scatter=float(scatter) if np.ndim(scatter) == 0 else sig.copy(),
        slope=float(slope),
        gradient_at_ref=float(gradient_at_ref),
        age_ref=float(age_ref),
        r_ref=float(r_ref),
        gradient_fn=gradient_fn,
    )
    return stars, truth


@dataclass(frozen=True)
class TwoDiskTruth:
    """The true parameters of a simulated two-disk sample (the ``disk`` axis is ``("thin", "thick")``).

    Attributes
    ----------
    gradient, intercept, scatter : numpy.ndarray
        Per disk and bin: gradient [dex/kpc], [Fe/H] at ``r_ref`` [dex],
        intrinsic [Fe/H] scatter [dex], shape (2, K).
    thin_fraction : numpy.ndarray
        Probability that a star whose true age is in bin k is thin, shape (K,).
    afe_at_pivot, afe_slope, afe_scatter : numpy.ndarray
        Each disk's [alpha/Fe] sequence: [alpha/Fe] at [Fe/H] = ``feh_pivot``
        [dex], d[alpha/Fe]/d[Fe/H], intrinsic scatter [dex], shape (2,).
    feh_pivot, r_ref : float
        [dex], [kpc].
    """

    gradient: np.ndarray
    intercept: np.ndarray
    scatter: np.ndarray
    thin_fraction: np.ndarray
    afe_at_pivot: np.ndarray
    afe_slope: np.ndarray
    afe_scatter: np.ndarray
    feh_pivot: float
    r_ref: float


def simulate_two_disks(
    bins: AgeBins,
    *,
    n_per_bin: int = 300,
    gradient: np.ndarray | float = ((-0.05,), (0.01,)),
    intercept: np.ndarray | float = ((-0.05,), (-0.4,)),
    scatter: np.ndarray | float = ((0.08,), (0.1,)),
    thin_fraction: np.ndarray | float = 0.6,
    afe_at_pivot: tuple[float, float] = (0.03, 0.22),
    afe_slope: tuple[float, float] = (-0.08, -0.08),
    afe_scatter: tuple[float, float] = (0.02, 0.03),
    feh_pivot: float = -0.2,
    r_ref: float = 8.27,
    rg_range: tuple[float, float] = (5.0, 15.0),
    rg_err: tuple[float, float] = (0.2, 0.8),
    feh_err: tuple[float, float] = (0.03, 0.08),
    afe_err: tuple[float, float] = (0.01, 0.03),
    age_rel_err: float = 0.1,
    feh_range: tuple[float, float] | None = (-1.0, 0.5),
    seed: int = 0,
) -> tuple[pd.DataFrame, TwoDiskTruth]:
    """Draw a clean sample of two disks as the two-disk model describes it.

    Each bin gets ``n_per_bin`` stars by *true* age (uniform in the bin); a
    star is thin with probability ``thin_fraction[k]`` of its true bin k, else
    thick. In its disk d: [Fe/H]_true = b_dk + nabla_dk (R_true - r_ref) +
    N(0, sigma_dk), observed with Gaussian errors; [alpha/Fe] = c_d + m_d
    ([Fe/H]_obs - feh_pivot) + N(0, s_d) + its error (the sequences in the
    observed [Fe/H], as the model conditions on it). Ages, R_g and their
    errors are drawn as in :func:`simulate_population`.

    Parameters
    ----------
    bins : AgeBins
    n_per_bin : int
        Stars per bin (by true age), both disks together, before the [Fe/H] cut.
    gradient, intercept, scatter : array_like
        Broadcast to (2, K): per disk (thin, thick) and bin [dex/kpc, dex, dex].
    thin_fraction : float or array_like
        Broadcast to (K,).
    afe_at_pivot, afe_slope, afe_scatter : pair of float
        Thin and thick [alpha/Fe] sequences [dex, -, dex].
    feh_pivot, r_ref : float
        [dex], [kpc].
    rg_range, rg_err, feh_err, afe_err : pair of float
        True R_g is uniform in ``rg_range``; errors uniform in their ranges [kpc, kpc, dex, dex].
    age_rel_err : float
        Relative age error.
    feh_range : pair of float or None
        Keep only stars with observed [Fe/H] inside.
    seed : int

    Returns
    -------
    stars : pandas.DataFrame
        The columns of :func:`simulate_population` plus ``afe, afe_err`` and
        the true ``disk``; ``population`` is empty (no hard selection).
    truth : TwoDiskTruth
    """
    rng = np.random.default_rng(seed)
    k_bins = bins.n_bins
    g = np.broadcast_to(np.asarray(gradient, dtype=float), (2, k_bins)).copy()
    b = np.broadcast_to(np.asarray(intercept, dtype=float), (2, k_bins)).copy()
    sig = np.broadcast_to(np.asarray(scatter, dtype=float), (2, k_bins)).copy()
    frac = np.broadcast_to(np.asarray(thin_fraction, dtype=float), (k_bins,)).copy()
    if np.any(sig <= 0) or np.any((frac < 0) | (frac > 1)):
        raise ValueError("scatter must be > 0 and thin_fraction in [0, 1]")
    c, m, s = (np.asarray(v, dtype=float) for v in (afe_at_pivot, afe_slope, afe_scatter))
    true_bin = np.repeat(np.arange(k_bins), n_per_bin)
    n = true_bin.size
    true_age = rng.uniform(bins.lo[true_bin], bins.hi[true_bin])
    age = np.maximum(true_age * (1.0 + age_rel_err * rng.standard_normal(n)), 0.05)
    disk = np.where(rng.random(n) < frac[true_bin], 0, 1)
    true_rg = rng.uniform(*rg_range, n)
    rg_e = rng.uniform(*rg_err, n)
    fe_e = rng.uniform(*feh_err, n)
    a_e = rng.uniform(*afe_err, n)
    feh_true = b[disk, true_bin] + g[disk, true_bin] * (true_rg - r_ref) + sig[disk, true_bin] * rng.standard_normal(n)
    feh_obs = feh_true + fe_e * rng.standard_normal(n)
    afe = c[disk] + m[disk] * (feh_obs - feh_pivot) + s[disk] * rng.standard_normal(n) + a_e * rng.standard_normal(n)
    stars = pd.DataFrame({
        "source_id": np.arange(n, dtype=np.int64) + 1_000_000 * (seed % 1000),
        "feh": feh_obs, "feh_err": fe_e, "afe": afe, "afe_err": a_e,
        "R_g": true_rg + rg_e * rng.standard_normal(n), "R_g_err": rg_e,
        "age": age, "age_err": np.maximum(age_rel_err * age, 1e-3), "population": "",
        "disk": np.array(["thin", "thick"])[disk], "true_age": true_age, "true_R_g": true_rg, "true_bin": true_bin,
    })  # fmt: skip
    if feh_range is not None:
        stars = stars[(stars["feh"] >= feh_range[0]) & (stars["feh"] <= feh_range[1])].reset_index(drop=True)
    truth = TwoDiskTruth(g, b, sig, frac, c, m, s, float(feh_pivot), float(r_ref))
    return stars, truth
