"""Per-bin gradient fits (weighted OLS as C25, ODR as V21) and the MGAR trend."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .binning import AgeBins

__all__ = [
    "LineFit",
    "wls_line",
    "odr_line",
    "fit_bins",
    "mgar_trend",
    "FIT_COLUMNS",
]

FIT_COLUMNS = [
    "population",
    "method",
    "age_lo",
    "age_hi",
    "age_center",
    "n_stars",
    "gradient",
    "gradient_err",
    "intercept",
]


@dataclass(frozen=True)
class LineFit:
    """y = slope * x + intercept with the covariance of (slope, intercept)."""

    slope: float
    intercept: float
    cov: np.ndarray
    n: int

    @property
    def slope_err(self) -> float:
        return float(np.sqrt(self.cov[0, 0]))

    @property
    def intercept_err(self) -> float:
        return float(np.sqrt(self.cov[1, 1]))


def _nan_fit(n: int) -> LineFit:
    return LineFit(np.nan, np.nan, np.full((2, 2), np.nan), n)


def wls_line(x, y, yerr) -> LineFit:
    """Weighted least-squares line with weights 1/yerr^2 (C25 Sect. 2.3).

    The covariance is scaled by the reduced chi^2, as SciPy's ``curve_fit`` does
    with ``absolute_sigma=False`` (the route C25 describe), so the error reflects
    the actual scatter about the line, not only the measurement errors.

    Parameters
    ----------
    x : array_like
        Abscissa, e.g. R_g [kpc].
    y : array_like
        Ordinate, e.g. [Fe/H] [dex].
    yerr : array_like
        Uncertainty of y, same unit as y; must be > 0.

    Returns
    -------
    LineFit
        NaN-filled when fewer than 3 points or x has no spread.
    """
    x, y, yerr = (np.asarray(a, dtype=float) for a in (x, y, yerr))
    n = x.size
    if n < 3 or np.ptp(x) == 0:
        return _nan_fit(n)
    w = 1.0 / yerr**2
    X = np.stack([x, np.ones_like(x)], axis=1)
    XtW = X.T * w
    cov_unscaled = np.linalg.inv(XtW @ X)
    beta = cov_unscaled @ (XtW @ y)
    resid = y - X @ beta
    chi2_red = float(np.sum(w * resid**2) / (n - 2))
    return LineFit(float(beta[0]), float(beta[1]), cov_unscaled * chi2_red, n)


def odr_line(x, y, xerr, yerr) -> LineFit:
    """Orthogonal distance regression line with errors in x and y (V21 Sect. 3.1).

    Uses ``odrpack`` (the successor of the deprecated ``scipy.odr``; same
    ODRPACK routine) with weights 1/xerr^2 and 1/yerr^2, started from the
    weighted OLS solution. Errors are ODRPACK's ``sd_beta`` (scaled by the
    residual variance, as ``scipy.odr`` reports).
    """
    import odrpack

    x, y, xerr, yerr = (np.asarray(a, dtype=float) for a in (x, y, xerr, yerr))
    start = wls_line(x, y, yerr)
    if not np.isfinite(start.slope):
        return _nan_fit(x.size)
    res = odrpack.odr_fit(
        lambda xx, b: b[0] * xx + b[1],
        x,
        y,
        np.array([start.slope, start.intercept]),
        weight_x=1.0 / xerr**2,
        weight_y=1.0 / yerr**2,
        maxit=500,
    )
    if not res.success:
        warnings.warn(f"ODR did not converge ({res.stopreason}); n = {x.size}", RuntimeWarning, stacklevel=2)
        return _nan_fit(x.size)
    sd = np.asarray(res.sd_beta)
    # cov_beta is unscaled; scale it so that its diagonal matches sd_beta
    cov = np.asarray(res.cov_beta) * float(res.res_var)
    if not np.allclose(np.sqrt(np.diag(cov)), sd, rtol=1e-6):
        cov = np.diag(sd**2)
    return LineFit(float(res.beta[0]), float(res.beta[1]), cov, x.size)


def fit_bins(
    stars: pd.DataFrame,
    bins: AgeBins,
    *,
    methods: Sequence[str] = ("ols", "odr"),
    populations: Sequence[str] = ("thin", "thick"),
    min_stars: int = 10,
    x: str = "R_g",
) -> pd.DataFrame:
    """Gradient d[Fe/H]/dR_g per population, age bin and method.

    Parameters
    ----------
    stars : pandas.DataFrame
        Star table with ``population``, ``age`` [Gyr], ``feh``, ``feh_err``
        [dex], ``R_g``, ``R_g_err`` [kpc].
    bins : AgeBins
        Age bins [Gyr]; stars are binned by observed age.
    methods : sequence of {"ols", "odr"}
    populations : sequence of str
    min_stars : int
        Bins with fewer stars get NaN gradient (the row is kept, with n_stars).
    x : str
        Column used as abscissa (``R_g``; ``R`` for present-radius gradients).

    Returns
    -------
    pandas.DataFrame
        Columns :data:`FIT_COLUMNS`; gradient [dex/kpc], intercept [dex] (at R = 0).
    """
    for m in methods:
        if m not in ("ols", "odr"):
            raise ValueError(f"unknown fit method {m!r}; use 'ols' or 'odr'")
    idx = bins.index(stars["age"].to_numpy(float))
    pop = stars["population"].astype("string").to_numpy()
    rows = []
    for p in populations:
        for m in methods:
            for k in range(bins.n_bins):
                sel = (pop == p) & (idx == k)
                sub = stars.loc[sel]
                n = len(sub)
                if n < max(min_stars, 3):
                    fit = _nan_fit(n)
                elif m == "ols":
                    fit = wls_line(sub[x], sub["feh"], sub["feh_err"])
                else:
                    fit = odr_line(sub[x], sub["feh"], sub[x + "_err"], sub["feh_err"])
                rows.append(
                    {
                        "population": p,
                        "method": m,
                        "age_lo": bins.lo[k],
                        "age_hi": bins.hi[k],
                        "age_center": bins.centers[k],
                        "n_stars": n,
                        "gradient": fit.slope,
                        "gradient_err": fit.slope_err,
                        "intercept": fit.intercept,
                    }
                )
    return pd.DataFrame(rows, columns=FIT_COLUMNS)


def mgar_trend(fits: pd.DataFrame) -> dict:
    """MGAR trend per population and method: gradient vs age-bin centre.

    A weighted line through the bins' gradients (weights 1/gradient_err^2,
    covariance scaled by the reduced chi^2) gives the flattening rate; the mean
    gradient is the plain mean over bins with a fit, with its standard error.

    Returns
    -------
    dict
        ``{population: {method: {"rate", "rate_err" [dex/kpc/Gyr], "intercept",
        "intercept_err" [dex/kpc, at age 0], "cov" (2x2, (intercept, rate)),
        "mean_gradient", "mean_gradient_err" [dex/kpc], "n_bins"}}}``.
    """
    out: dict = {}
    for (p, m), g in fits.groupby(["population", "method"], sort=False):
        g = g[np.isfinite(g["gradient"]) & np.isfinite(g["gradient_err"]) & (g["gradient_err"] > 0)]
        line = wls_line(g["age_center"], g["gradient"], g["gradient_err"])
        n = len(g)
        mean = float(g["gradient"].mean()) if n else np.nan
        mean_err = float(g["gradient"].std(ddof=1) / np.sqrt(n)) if n > 1 else np.nan
        cov_ir = line.cov[::-1, ::-1]  # (intercept, rate) order
        out.setdefault(p, {})[m] = {
            "rate": line.slope,
            "rate_err": line.slope_err,
            "intercept": line.intercept,
            "intercept_err": line.intercept_err,
            "cov": cov_ir.tolist(),
            "mean_gradient": mean,
            "mean_gradient_err": mean_err,
            "n_bins": n,
        }
    return out
