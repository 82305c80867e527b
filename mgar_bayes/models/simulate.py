"""Simulated mono-age populations with a known metallicity gradient (for tests and benchmarks)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..binning import AgeBins

__all__ = ["SimTruth", "simulate_population"]


@dataclass(frozen=True)
class SimTruth:
    """The true parameters of a simulated population.

    Attributes
    ----------
    gradient : numpy.ndarray
        Per-bin gradient [dex/kpc], shape (K,).
    intercept : numpy.ndarray
        Per-bin [Fe/H] at ``r_ref`` [dex].
    scatter : float
        Intrinsic [Fe/H] scatter sigma [dex].
    slope : float
        Slope of the line the gradients were drawn around [dex/kpc/Gyr].
    gradient_at_ref : float
        Its value at ``age_ref`` [dex/kpc].
    age_ref, r_ref : float
        Reference age [Gyr] and radius [kpc].
    """

    gradient: np.ndarray
    intercept: np.ndarray
    scatter: float
    slope: float
    gradient_at_ref: float
    age_ref: float
    r_ref: float


def simulate_population(
    bins: AgeBins | None = None,
    *,
    n_per_bin: int = 300,
    slope: float = 0.004,
    gradient_at_ref: float = -0.05,
    age_ref: float = 6.625,
    gradient_scatter: float = 0.0,
    intercept: float | np.ndarray = -0.1,
    scatter: float = 0.08,
    r_ref: float = 8.27,
    rg_range: tuple[float, float] = (5.0, 15.0),
    rg_err: tuple[float, float] = (0.2, 0.8),
    feh_err: tuple[float, float] = (0.03, 0.08),
    age_rel_err: float = 0.1,
    feh_range: tuple[float, float] | None = (-1.0, 0.5),
    population: str = "thin",
    seed: int = 0,
) -> tuple[pd.DataFrame, SimTruth]:
    """Draw stars whose [Fe/H] follows a per-bin linear gradient in the true R_g.

    Each bin gets ``n_per_bin`` stars by *true* age (uniform in the bin); the
    observed age is the true age times (1 + age_rel_err N(0, 1)) and its
    reported error is ``age_rel_err`` times the observed age, so stars migrate
    between bins as in a real catalogue. [Fe/H]_true = b_k + nabla_k (R_true -
    r_ref) + N(0, scatter); observed values add Gaussian errors drawn
    uniformly in the given ranges.

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
    scatter : float
        Intrinsic scatter [dex].
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
    grad = gradient_at_ref + slope * (bins.centers - age_ref)
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
    feh_true = b[true_bin] + grad[true_bin] * (true_rg - r_ref) + scatter * rng.standard_normal(n)
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
        scatter=float(scatter),
        slope=float(slope),
        gradient_at_ref=float(gradient_at_ref),
        age_ref=float(age_ref),
        r_ref=float(r_ref),
    )
    return stars, truth
