"""Figures of the MGAR analysis, after Chen et al. (2025, "C25") Figures 1-4.

Every function returns ``(fig, axes)`` and leaves showing or saving the figure to
the caller (see :func:`save_figure`). Only the object-oriented matplotlib API is
used, so the module works under any backend, ``Agg`` included.

Inputs follow the pipeline's contracts:

* star table: one row per star with ``feh``, ``afe`` [dex], ``age`` [Gyr],
  ``R``, ``z``, ``x``, ``y``, ``R_g``, ``Z_max`` [kpc], ``population``
  (``'thin'``, ``'thick'`` or ``''``) and ``age_bin`` (-1 outside all bins);
  each function checks only the columns it uses.
* fit table: columns ``population, method, age_lo, age_hi, age_center, n_stars,
  gradient, gradient_err, intercept``; ``gradient`` is d[Fe/H]/dR_g [dex/kpc]
  (NaN for bins with too few stars) and ``intercept`` is [Fe/H] at R_g = 0 [dex].
* trends: ``{(population, method): {"rate", "rate_err", "intercept",
  "intercept_err", "cov"}}`` (or nested ``{population: {method: ...}}``); the MGAR line is ``gradient = intercept + rate *
  age`` with ``rate`` in dex/kpc/Gyr and ``intercept`` in dex/kpc; ``cov`` is the
  2x2 covariance of (intercept, rate). A Bayesian trend may give ``draws``
  instead, an (n, 2) array of (intercept, rate) samples.

Published comparison points (V21, C25) are never hard-coded here; pass them to
:func:`plot_mgar` as ``reference``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.colors import LinearSegmentedColormap, LogNorm, to_rgb
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter
from scipy import stats

from .atomic import atomic_path
from .ols import FIT_COLUMNS
from .selection import chem_line

__all__ = [
    "POP_COLORS",
    "POP_LABELS",
    "FIT_COLUMNS",
    "plot_sample_overview",
    "plot_populations",
    "plot_mgar",
    "plot_bin_fits",
    "save_figure",
]

# --------------------------------------------------------------------------- style

#: Colour of each population: thin disk blue, thick disk red, neither grey.
POP_COLORS: dict[str, str] = {"thin": "#1f77b4", "thick": "#d62728", "": "#7f7f7f"}
#: Legend label of each population.
POP_LABELS: dict[str, str] = {"thin": "thin disk", "thick": "thick disk", "": "neither"}
#: Colour of the C25 chemical dividing line and of the V21 one (C25 Fig. 1c).
LINE_COLORS: dict[str, str] = {"C25": "black", "V21": "0.55"}
#: Default density colour map.
DENSITY_CMAP = "viridis"


_POPS = ("thin", "thick")
_REFERENCE_COLUMNS = ("source", "population", "age_center", "gradient", "gradient_err")
_REF_MARKERS = ("o", "s", "^", "D", "v", "P")
_CONTOUR_FRACTIONS = (0.20, 0.80, 0.95)
_CONTOUR_STYLES = ("-", "--", ":")
_SCATTER_BELOW = 500  # bin-fit panels: scatter the stars below this count, else 2D histogram

# Axis labels, units in brackets.
_LAB_R = r"$R$ [kpc]"
_LAB_Z = r"$Z$ [kpc]"
_LAB_X = r"$X$ [kpc]"
_LAB_Y = r"$Y$ [kpc]"
_LAB_RG = r"$R_\mathrm{g}$ [kpc]"
_LAB_ZMAX = r"$Z_\mathrm{max}$ [kpc]"
_LAB_FEH = "[Fe/H] [dex]"
_LAB_AFE = r"[$\alpha$/Fe] [dex]"
_LAB_AGE = "age [Gyr]"
_LAB_GRAD = r"d[Fe/H]/d$R_\mathrm{g}$ [dex kpc$^{-1}$]"
_LAB_GRAD_R = r"d[Fe/H]/d$R$ [dex kpc$^{-1}$]"
_LAB_COUNT = "stars per bin"


# ------------------------------------------------------------------------- helpers


def _require(table: pd.DataFrame, columns: Iterable[str], what: str) -> None:
    """Raise ValueError naming the columns of ``columns`` missing from ``table``."""
    if not isinstance(table, pd.DataFrame):
        raise TypeError(f"{what} must be a pandas DataFrame, got {type(table).__name__}")
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise ValueError(f"{what} is missing column(s): {', '.join(missing)}")


def _finite(*arrays: np.ndarray) -> tuple[np.ndarray, ...]:
    """The arrays restricted to the rows where all of them are finite."""
    arrs = [np.asarray(a, dtype=float) for a in arrays]
    ok = np.ones(arrs[0].shape, dtype=bool)
    for a in arrs:
        ok &= np.isfinite(a)
    return tuple(a[ok] for a in arrs)


def _n_bins(n: int) -> int:
    """Histogram bins per axis for ``n`` points: about sqrt(n), within [15, 150]."""
    return int(np.clip(round(math.sqrt(max(n, 1))), 15, 150))


def _span(values: np.ndarray, pad: float = 0.02, clip: float = 0.1) -> tuple[float, float]:
    """Robust plotting range: the ``clip``..(100-clip) percentiles, padded by ``pad``."""
    values = values[np.isfinite(values)]
    if values.size == 0:
        return 0.0, 1.0
    lo, hi = np.percentile(values, [clip, 100.0 - clip]) if values.size > 50 else (
        values.min(),
        values.max(),
    )
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    d = (hi - lo) * pad
    return float(lo - d), float(hi + d)


def _no_data(ax, text: str = "no stars") -> None:
    """Write ``text`` in the middle of an empty panel."""
    ax.text(
        0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center",
        fontsize="large", color="0.4", zorder=5,
        bbox=dict(fc="white", ec="none", alpha=0.8, pad=2.0),
    )


def _density(
    ax,
    x: np.ndarray,
    y: np.ndarray,
    *,
    xbins: np.ndarray | int | None = None,
    ybins: np.ndarray | int | None = None,
    cmap=DENSITY_CMAP,
    colorbar: bool = True,
):
    """Log-scaled 2D histogram of (x, y) on ``ax``; empty bins left blank.

    Returns the QuadMesh, or None (with a "no stars" note) when no point is finite.
    """
    x, y = _finite(x, y)
    if x.size == 0:
        _no_data(ax)
        return None
    nb = _n_bins(x.size)
    if xbins is None or np.isscalar(xbins):
        xbins = np.linspace(*_span(x), (xbins or nb) + 1)
    if ybins is None or np.isscalar(ybins):
        ybins = np.linspace(*_span(y), (ybins or nb) + 1)
    h, xe, ye = np.histogram2d(x, y, bins=[xbins, ybins])
    h = np.ma.masked_less(h.T, 1)
    if h.count() == 0:
        _no_data(ax)
        return None
    norm = LogNorm(vmin=1, vmax=max(float(h.max()), 2.0))
    mesh = ax.pcolormesh(xe, ye, h, norm=norm, cmap=cmap, rasterized=True)
    if colorbar:
        ax.figure.colorbar(mesh, ax=ax, label=_LAB_COUNT, pad=0.01)
    return mesh


def _light_cmap(color: str) -> LinearSegmentedColormap:
    """Sequential colour map from a light tint of ``color`` to ``color``."""
    rgb = np.asarray(to_rgb(color))
    tint = tuple(0.8 + 0.2 * rgb)
    return LinearSegmentedColormap.from_list(f"light_{color}", [tint, color])


def _pop_mask(stars: pd.DataFrame, pop: str) -> np.ndarray:
    return (stars["population"].fillna("").astype(str) == pop).to_numpy()


def _hdr_levels(
    x: np.ndarray,
    y: np.ndarray,
    xgrid: np.ndarray,
    ygrid: np.ndarray,
    fractions: tuple[float, ...] = _CONTOUR_FRACTIONS,
    *,
    max_points: int = 3000,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray] | None:
    """KDE density on a grid and the levels enclosing ``fractions`` of the stars.

    The KDE (:class:`scipy.stats.gaussian_kde`) is built on a seeded random
    subsample of at most ``max_points`` stars; the level for fraction p is the
    (1 - p) quantile of the density at the subsample points, so the contour
    encloses about p of the stars. Returns (density on the grid with shape
    (len(ygrid), len(xgrid)), levels in the order of ``fractions``), or None when a
    KDE cannot be built (too few or degenerate points).
    """
    x, y = _finite(x, y)
    if x.size < 10:
        return None
    if x.size > max_points:
        idx = np.random.default_rng(seed).choice(x.size, size=max_points, replace=False)
        x, y = x[idx], y[idx]
    pts = np.vstack([x, y])
    try:
        kde = stats.gaussian_kde(pts)
    except (np.linalg.LinAlgError, ValueError):
        return None
    at_pts = kde(pts)
    levels = np.array([np.quantile(at_pts, 1.0 - p) for p in fractions])
    gx, gy = np.meshgrid(xgrid, ygrid)
    dens = kde(np.vstack([gx.ravel(), gy.ravel()])).reshape(gx.shape)
    return dens, levels


def _trend_band(
    trend: Mapping, ages: np.ndarray, band_prob: float
) -> tuple[np.ndarray, np.ndarray, str] | None:
    """Lower and upper edges of the band of the MGAR line at ``ages`` [Gyr].

    With ``draws`` ((n, 2) samples of intercept, rate), the ``band_prob`` HDI of the
    line at each age (:func:`arviz.hdi`; equal-tailed quantiles without arviz).
    Otherwise with ``cov`` (2x2 covariance of intercept, rate), the pointwise
    normal interval line +- z sqrt([1, t] C [1, t]^T). None if neither is given.
    """
    draws = trend.get("draws")
    if draws is not None:
        draws = np.asarray(draws, dtype=float)
        if draws.ndim != 2 or draws.shape[1] != 2:
            raise ValueError(f"trend 'draws' must have shape (n, 2), got {draws.shape}")
        lines = draws[:, :1] + draws[:, 1:] * ages[None, :]
        try:
            import arviz as az
        except ImportError:
            q = 0.5 * (1.0 - band_prob)
            lo, hi = np.quantile(lines, [q, 1.0 - q], axis=0)
            return lo, hi, f"{band_prob:.0%} interval"
        hdi = np.asarray(az.hdi(lines[None, :, :], hdi_prob=band_prob))
        return hdi[:, 0], hdi[:, 1], f"{band_prob:.0%} HDI"
    cov = trend.get("cov")
    if cov is None:
        return None
    cov = np.asarray(cov, dtype=float)
    if cov.shape != (2, 2):
        raise ValueError(f"trend 'cov' must be 2x2, got shape {cov.shape}")
    design = np.column_stack([np.ones_like(ages), ages])
    var = np.einsum("ij,jk,ik->i", design, cov, design)
    sd = np.sqrt(np.clip(var, 0.0, None))
    z = stats.norm.ppf(0.5 + 0.5 * band_prob)
    line = float(trend["intercept"]) + float(trend["rate"]) * ages
    return line - z * sd, line + z * sd, f"{band_prob:.0%} interval"


def _get_trend(trends: Mapping | None, pop: str, method: str) -> Mapping | None:
    """Trend of (pop, method) from ``{(pop, method): trend}`` or ``{pop: {method: trend}}``."""
    if not trends:
        return None
    if (pop, method) in trends:
        return trends[(pop, method)]
    inner = trends.get(pop)
    if isinstance(inner, Mapping) and isinstance(inner.get(method), Mapping):
        return inner[method]
    return None


# ------------------------------------------------------------------------ figures


def plot_sample_overview(
    stars: pd.DataFrame,
    *,
    line: str = "C25",
    shift: float = 0.0,
    thin_zmax: float | None = 0.25,
    thick_zmax: float | None = 2.0,
    R0: float = 8.27,
):
    """Spatial, chemical and orbital distributions of the sample (C25 Fig. 1).

    Parameters
    ----------
    stars : pandas.DataFrame
        Star table with columns ``R``, ``z``, ``x``, ``y``, ``R_g``, ``Z_max`` [kpc],
        ``feh`` and ``afe`` [dex].
    line : {"C25", "V21"}
        Chemical dividing line used for the selection, drawn in black; the other
        line is drawn in grey for comparison.
    shift : float
        Offset [dex] added to the selection line's [alpha/Fe].
    thin_zmax, thick_zmax : float or None
        Geometric cuts [kpc]: thin disk Z_max below ``thin_zmax`` (blue line),
        thick disk Z_max above ``thick_zmax`` (red line); None: no such cut.
    R0 : float
        Sun's Galactocentric radius [kpc]; the Sun is marked at (X, Y) = (-R0, 0).

    Returns
    -------
    fig : matplotlib.figure.Figure
    axes : numpy.ndarray of matplotlib.axes.Axes, shape (2, 2)
        (a) R-Z, (b) X-Y, (c) [alpha/Fe]-[Fe/H], (d) Z_max-R_g. Each panel has a
        colour bar (number of stars per bin, log scale), so ``fig.axes`` holds more
        than four axes.

    Raises
    ------
    ValueError
        If a column is missing or ``line`` is not "C25" or "V21".
    """
    _require(stars, ("R", "z", "x", "y", "feh", "afe"), "star table")
    if line not in ("C25", "V21"):
        raise ValueError(f"unknown chemical dividing line {line!r}; use 'C25' or 'V21'")
    fig, axes = plt.subplots(2, 2, figsize=(11, 9), layout="constrained")
    ax_a, ax_b, ax_c, ax_d = axes.ravel()
    n = len(stars)
    fig.suptitle(f"Sample overview ({n:,} stars)")

    # (a) meridional plane
    _density(ax_a, stars["R"], stars["z"])
    ax_a.set(xlabel=_LAB_R, ylabel=_LAB_Z, title="(a) meridional plane")

    # (b) face-on view, Sun marked
    x, y = _finite(stars["x"], stars["y"])
    if x.size:
        (x0, x1), (y0, y1) = _span(x), _span(y)
        x0, x1 = min(x0, -R0 - 1.0), max(x1, -R0 + 1.0)
        y0, y1 = min(y0, -1.0), max(y1, 1.0)
        width = max(x1 - x0, y1 - y0) / _n_bins(x.size)  # square pixels
        _density(ax_b, x, y, xbins=np.arange(x0, x1 + width, width),
                 ybins=np.arange(y0, y1 + width, width))
    else:
        _no_data(ax_b)
    ax_b.plot([-R0], [0.0], marker="*", ms=14, color="gold", mec="black", ls="none",
              label=f"Sun ($X=-{R0:g}$ kpc)")
    ax_b.plot([0.0], [0.0], marker="+", ms=10, mew=2, color="black", ls="none",
              label="Galactic centre")
    ax_b.set_aspect("equal", adjustable="datalim")
    ax_b.set(xlabel=_LAB_X, ylabel=_LAB_Y, title="(b) face-on view")
    ax_b.legend(loc="upper right", fontsize="small")

    # (c) chemical plane with the dividing lines
    _density(ax_c, stars["feh"], stars["afe"])
    feh_vals = _finite(stars["feh"])[0]
    flo, fhi = _span(feh_vals) if feh_vals.size else (-1.0, 0.5)
    grid = np.linspace(flo, fhi, 200)
    other = "V21" if line == "C25" else "C25"
    shift_txt = f", shifted {shift:+g} dex" if shift else ""
    ax_c.plot(grid, chem_line(grid, line, shift), color="black", lw=2,
              label=f"{line} line{shift_txt} (selection)")
    ax_c.plot(grid, chem_line(grid, other, 0.0), color=LINE_COLORS["V21"], lw=2,
              ls="--", label=f"{other} line")
    ax_c.set_xlim(flo, fhi)
    ax_c.set(xlabel=_LAB_FEH, ylabel=_LAB_AFE, title=r"(c) [$\alpha$/Fe]-[Fe/H] plane")
    ax_c.legend(loc="upper right", fontsize="small")

    # (d) Z_max - R_g with geometric cuts, log Z_max (a table without velocities has neither)
    if not {"R_g", "Z_max"} <= set(stars.columns):
        _no_data(ax_d, "no velocities: no R_g or Z_max")
        ax_d.set(xlabel=_LAB_RG, ylabel=_LAB_ZMAX, title=r"(d) $Z_\mathrm{max}$-$R_\mathrm{g}$ plane")
        return fig, axes
    rg, zm = _finite(stars["R_g"], stars["Z_max"])
    pos = zm > 0
    rg, zm = rg[pos], zm[pos]
    if zm.size:
        # a cut switched off (None) draws no line and sets no limit
        zlo = min([np.percentile(zm, 0.1), *(v for v in (thin_zmax,) if v is not None)]) / 1.5
        zhi = max([zm.max(), *(v for v in (thick_zmax,) if v is not None)]) * 1.5
        ybins = np.geomspace(zlo, zhi, _n_bins(zm.size) + 1)
        _density(ax_d, rg, zm, ybins=ybins)
    else:
        _no_data(ax_d)
    ax_d.set_yscale("log")
    ax_d.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    if thin_zmax is not None:
        ax_d.axhline(thin_zmax, color=POP_COLORS["thin"], lw=2,
                     label=rf"thin: $Z_\mathrm{{max}} < {thin_zmax:g}$ kpc")
    if thick_zmax is not None:
        ax_d.axhline(thick_zmax, color=POP_COLORS["thick"], lw=2,
                     label=rf"thick: $Z_\mathrm{{max}} > {thick_zmax:g}$ kpc")
    ax_d.set(xlabel=_LAB_RG, ylabel=_LAB_ZMAX, title=r"(d) $Z_\mathrm{max}$-$R_\mathrm{g}$ plane")
    if thin_zmax is not None or thick_zmax is not None:
        ax_d.legend(loc="lower right", fontsize="small")
    return fig, axes


def plot_populations(stars: pd.DataFrame, *, age_bin_width: float = 0.5, radius: str = "R_g"):
    """[Fe/H]-R_g and age distributions of the thin and thick disks (C25 Fig. 2).

    Parameters
    ----------
    stars : pandas.DataFrame
        Star table with columns ``population``, ``feh`` [dex], ``R_g`` [kpc] and
        ``age`` [Gyr]; stars of neither population are not shown.
    age_bin_width : float
        Width of the age-histogram bins [Gyr].
    radius : {"R_g", "R"}
        The radius on the upper panel's x axis (``R``: the present-day radius).

    Returns
    -------
    fig : matplotlib.figure.Figure
    axes : numpy.ndarray of matplotlib.axes.Axes, shape (2,)
        Upper: [Fe/H] against R_g (or R), thin disk blue, thick disk red. Lower: age
        histograms of the two populations.

    Raises
    ------
    ValueError
        If a column is missing or ``age_bin_width`` is not positive.
    """
    _require(stars, ("population", "feh", radius, "age"), "star table")
    if not age_bin_width > 0:
        raise ValueError(f"age_bin_width must be positive, got {age_bin_width}")
    fig, axes = plt.subplots(2, 1, figsize=(7, 8), layout="constrained",
                             height_ratios=(3, 2))
    ax_top, ax_bot = axes
    masks = {p: _pop_mask(stars, p) for p in _POPS}
    counts = {p: int(m.sum()) for p, m in masks.items()}

    handles = []
    for pop in _POPS:
        sub = stars.loc[masks[pop]]
        rg, feh = _finite(sub[radius], sub["feh"])
        alpha = float(np.clip(1500.0 / max(rg.size, 1), 0.05, 0.6))
        size = float(np.clip(4000.0 / max(rg.size, 1), 2.0, 12.0))
        ax_top.scatter(rg, feh, s=size, color=POP_COLORS[pop], alpha=alpha, lw=0,
                       rasterized=True)
        handles.append(Line2D([], [], ls="none", marker="o", color=POP_COLORS[pop],
                              label=f"{POP_LABELS[pop]} ({counts[pop]:,} stars)"))
    if radius == "R_g":
        ax_top.set(xlabel=_LAB_RG, ylabel=_LAB_FEH, title="[Fe/H] vs guiding-centre radius")
    else:
        ax_top.set(xlabel=_LAB_R, ylabel=_LAB_FEH, title="[Fe/H] vs present-day radius")
    ax_top.legend(handles=handles, loc="upper right")

    ages = [_finite(stars.loc[masks[p], "age"])[0] for p in _POPS]
    all_ages = np.concatenate(ages)
    if all_ages.size:
        lo = np.floor(all_ages.min() / age_bin_width) * age_bin_width
        hi = np.ceil(all_ages.max() / age_bin_width) * age_bin_width
        edges = np.arange(lo, hi + 0.5 * age_bin_width, age_bin_width)
        if edges.size < 2:
            edges = np.array([lo, lo + age_bin_width])
        for pop, a in zip(_POPS, ages, strict=True):
            if a.size:
                ax_bot.hist(a, bins=edges, histtype="stepfilled", alpha=0.25,
                            color=POP_COLORS[pop])
                ax_bot.hist(a, bins=edges, histtype="step", lw=1.8, color=POP_COLORS[pop],
                            label=f"{POP_LABELS[pop]} (median {np.median(a):.1f} Gyr)")
        ax_bot.set_ylim(0, ax_bot.get_ylim()[1] * 1.3)  # headroom for the legend
        ax_bot.legend(loc="upper right")
    ax_bot.set(xlabel=_LAB_AGE, ylabel=f"stars per {age_bin_width:g} Gyr",
               title="age distribution")
    for k, pop in enumerate(_POPS):
        if counts[pop] == 0:
            ax_top.text(0.02, 0.04 + 0.08 * k, f"no stars: {POP_LABELS[pop]}",
                        transform=ax_top.transAxes, color=POP_COLORS[pop])
    if not all_ages.size:
        _no_data(ax_bot)
    return fig, axes


def plot_mgar(
    fit_table: pd.DataFrame,
    trends: Mapping | None = None,
    *,
    method: str = "ols",
    reference: pd.DataFrame | None = None,
    band_prob: float = 0.98,
    radius: str = "R_g",
):
    """Metallicity gradient-age relation of the thin and thick disks (C25 Fig. 3).

    Parameters
    ----------
    fit_table : pandas.DataFrame
        Per-bin fits with columns ``population, method, age_lo, age_hi, age_center``
        [Gyr], ``n_stars``, ``gradient, gradient_err`` [dex/kpc] and ``intercept``
        [dex]. Only rows of ``method`` are drawn; NaN gradients are skipped.
    trends : mapping, optional
        ``{(population, method): trend}`` or ``{population: {method: trend}}`` (as
        returned by :func:`mgar_bayes.ols.mgar_trend`), with ``trend["intercept"]`` [dex/kpc] and
        ``trend["rate"]`` [dex/kpc/Gyr]; the line ``intercept + rate * age`` is drawn
        over the binned age range (its vertices include every bin centre). The band
        is the ``band_prob`` HDI of the line from ``trend["draws"]`` ((n, 2) samples
        of intercept, rate) when given, else the pointwise normal interval from the
        2x2 covariance ``trend["cov"]`` of (intercept, rate); no band if neither.
    method : str
        Fit method to draw, e.g. ``"ols"`` or ``"odr"``.
    reference : pandas.DataFrame, optional
        Published points to compare with, columns ``source, population,
        age_center`` [Gyr], ``gradient, gradient_err`` [dex/kpc]; drawn in black,
        one marker per source, the source named in the legend.
    band_prob : float
        Probability mass of the trend band, in (0, 1).
    radius : {"R_g", "R"}
        The radius the gradients were measured against (for the axis label).

    Returns
    -------
    fig : matplotlib.figure.Figure
    axes : numpy.ndarray of matplotlib.axes.Axes, shape (2,)
        Thin disk (top) and thick disk (bottom). The trend line of population p has
        gid ``"trend-p"``, its band ``"band-p"``, the binned points ``"bins-p"`` and
        the reference points of source s ``"reference-p-s"``.

    Raises
    ------
    ValueError
        If a column is missing, ``method`` has no rows, or ``band_prob`` is not in
        (0, 1).
    """
    _require(fit_table, FIT_COLUMNS, "fit table")
    if not 0.0 < band_prob < 1.0:
        raise ValueError(f"band_prob must be in (0, 1), got {band_prob}")
    methods = fit_table["method"].astype(str)
    if len(fit_table) and not (methods == method).any():
        raise ValueError(
            f"fit table has no rows for method {method!r}; it has {sorted(methods.unique())}"
        )
    if reference is not None:
        _require(reference, _REFERENCE_COLUMNS, "reference table")
    fits = fit_table.loc[methods == method]

    fig, axes = plt.subplots(2, 1, figsize=(10, 8), sharex=True, layout="constrained")
    fig.suptitle(f"Metallicity gradient-age relation ({method.upper()} per-bin fits)")
    for ax, pop in zip(axes, _POPS, strict=True):
        color = POP_COLORS[pop]
        rows = fits.loc[fits["population"].astype(str) == pop].sort_values("age_center")
        ax.set_ylabel(_LAB_GRAD if radius == "R_g" else _LAB_GRAD_R)
        ax.set_title(POP_LABELS[pop])
        if rows.empty:
            _no_data(ax, f"no stars ({POP_LABELS[pop]}: no fits)")
        else:
            ok = np.isfinite(rows["gradient"].to_numpy(float))
            good = rows.loc[ok]
            xerr = 0.5 * (good["age_hi"] - good["age_lo"]).to_numpy(float)
            eb = ax.errorbar(
                good["age_center"].to_numpy(float), good["gradient"].to_numpy(float),
                yerr=good["gradient_err"].to_numpy(float), xerr=xerr,
                fmt="o", color=color, ms=6, capsize=2, zorder=3,
                label=f"{POP_LABELS[pop]}, {method.upper()} per age bin",
            )
            eb.lines[0].set_gid(f"bins-{pop}")
            if not ok.all():
                skipped = ", ".join(f"{c:g}" for c in rows.loc[~ok, "age_center"])
                ax.text(0.99, 0.02, f"too few stars at {skipped} Gyr", transform=ax.transAxes,
                        ha="right", va="bottom", fontsize="small", color="0.4")
            trend = _get_trend(trends, pop, method)
            if trend is not None:
                lo = float(np.nanmin(rows["age_lo"]))
                hi = float(np.nanmax(rows["age_hi"]))
                ages = np.union1d(np.linspace(lo, hi, 200), rows["age_center"].to_numpy(float))
                a, b = float(trend["intercept"]), float(trend["rate"])
                band = _trend_band(trend, ages, band_prob)
                if band is not None:
                    blo, bhi, blab = band
                    poly = ax.fill_between(ages, blo, bhi, color=color, alpha=0.2, lw=0,
                                           label=f"trend {blab}")
                    poly.set_gid(f"band-{pop}")
                rate_err = trend.get("rate_err")
                err_txt = (f" $\\pm$ {float(rate_err):.4f}"
                           if rate_err is not None and np.isfinite(rate_err) else "")
                (ln,) = ax.plot(ages, a + b * ages, color=color, lw=2,
                                label=f"trend: {b:+.4f}{err_txt} dex kpc$^{{-1}}$ Gyr$^{{-1}}$")
                ln.set_gid(f"trend-{pop}")
        if reference is not None:
            ref = reference.loc[reference["population"].astype(str) == pop]
            for i, (src, grp) in enumerate(ref.groupby("source", sort=False)):
                reb = ax.errorbar(
                    grp["age_center"].to_numpy(float), grp["gradient"].to_numpy(float),
                    yerr=grp["gradient_err"].to_numpy(float),
                    fmt=_REF_MARKERS[i % len(_REF_MARKERS)], color="black", ms=5,
                    capsize=2, zorder=4, label=str(src),
                )
                reb.lines[0].set_gid(f"reference-{pop}-{src}")
        y0, y1 = ax.get_ylim()
        if y0 < 0.0 < y1:
            ax.axhline(0.0, color="0.6", lw=0.8, ls=":", zorder=0)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    axes[-1].set_xlabel(_LAB_AGE)
    return fig, axes


def plot_bin_fits(
    stars: pd.DataFrame,
    fit_table: pd.DataFrame,
    population: str,
    *,
    method: str = "ols",
    ncols: int = 3,
    seed: int = 0,
):
    """[Fe/H]-R_g distribution and gradient fit of each mono-age bin (C25 Fig. 4).

    Stars of ``population`` are assigned to the fit table's bins by age,
    ``age_lo <= age < age_hi``. Each panel shows the stars (a scatter below 500
    stars, else a 2D histogram with log colour), KDE contours enclosing 20%, 80%
    and 95% of them (Gaussian KDE on a seeded subsample of at most 3000 stars),
    the fitted line
    ``[Fe/H] = intercept + gradient * R_g`` and the number of stars.

    Parameters
    ----------
    stars : pandas.DataFrame
        Star table with columns ``population``, ``age`` [Gyr], ``R_g`` [kpc] and
        ``feh`` [dex].
    fit_table : pandas.DataFrame
        Per-bin fits (columns :data:`FIT_COLUMNS`); ``intercept`` is [Fe/H] at
        R_g = 0 [dex], ``gradient`` [dex/kpc].
    population : {"thin", "thick"}
        Population to show.
    method : str
        Fit method whose lines are drawn.
    ncols : int
        Panels per row.
    seed : int
        Seed of the KDE subsample.

    Returns
    -------
    fig : matplotlib.figure.Figure
    axes : numpy.ndarray of matplotlib.axes.Axes, shape (n_bins,)
        One panel per age bin of ``population`` in the fit table, youngest first;
        the fitted line in panel i has gid ``"fit-i"``.

    Raises
    ------
    ValueError
        If a column is missing or the fit table has no bins of ``population`` and
        ``method``.
    """
    _require(stars, ("population", "age", "R_g", "feh"), "star table")
    _require(fit_table, FIT_COLUMNS, "fit table")
    if ncols < 1:
        raise ValueError(f"ncols must be >= 1, got {ncols}")
    rows = fit_table.loc[
        (fit_table["population"].astype(str) == population)
        & (fit_table["method"].astype(str) == method)
    ].sort_values("age_lo")
    if rows.empty:
        raise ValueError(
            f"fit table has no bins for population {population!r} and method {method!r}"
        )
    color = POP_COLORS.get(population, POP_COLORS[""])
    label = POP_LABELS.get(population, population)
    pop_stars = stars.loc[_pop_mask(stars, population)]
    rg_all, feh_all = _finite(pop_stars["R_g"], pop_stars["feh"])
    xlim = _span(rg_all, clip=0.5) if rg_all.size else (4.0, 16.0)
    ylim = _span(feh_all, clip=0.5) if feh_all.size else (-1.0, 0.5)
    nb = max(15, _n_bins(rg_all.size) // 2)
    xedges = np.linspace(*xlim, nb + 1)
    yedges = np.linspace(*ylim, nb + 1)
    xgrid = np.linspace(*xlim, 80)
    ygrid = np.linspace(*ylim, 80)
    cmap = _light_cmap(color)

    n = len(rows)
    ncols = min(ncols, n)
    nrows = math.ceil(n / ncols)
    fig, grid = plt.subplots(nrows, ncols, figsize=(3.3 * ncols + 0.4, 2.9 * nrows + 0.6),
                             sharex=True, sharey=True, squeeze=False, layout="constrained")
    flat = grid.ravel()
    for ax in flat[n:]:
        fig.delaxes(ax)
    axes = flat[:n]
    fig.suptitle(f"{label}: [Fe/H]-$R_\\mathrm{{g}}$ per age bin ({method.upper()} fits)")
    age = pop_stars["age"].to_numpy(float)
    for i, (ax, (_, row)) in enumerate(zip(axes, rows.iterrows(), strict=True)):
        lo, hi = float(row["age_lo"]), float(row["age_hi"])
        in_bin = (age >= lo) & (age < hi)
        rg, feh = _finite(pop_stars["R_g"].to_numpy(float)[in_bin],
                          pop_stars["feh"].to_numpy(float)[in_bin])
        ax.set_title(f"{lo:g}-{hi:g} Gyr", fontsize="medium")
        n_fit = row["n_stars"]
        n_txt = int(n_fit) if pd.notna(n_fit) else rg.size
        ax.text(0.97, 0.96, f"N = {n_txt:,}", transform=ax.transAxes, ha="right", va="top",
                fontsize="small", bbox=dict(fc="white", ec="none", alpha=0.7, pad=1.5))
        if rg.size == 0:
            _no_data(ax)
        else:
            if rg.size < _SCATTER_BELOW:
                ax.scatter(rg, feh, s=8, color=color, alpha=0.6, lw=0, rasterized=True)
            else:
                _density(ax, rg, feh, xbins=xedges, ybins=yedges, cmap=cmap, colorbar=False)
            hdr = _hdr_levels(rg, feh, xgrid, ygrid, seed=seed)
            if hdr is not None:
                dens, levels = hdr
                order = np.argsort(levels)
                lv = levels[order]
                if np.all(np.diff(lv) > 0):
                    ax.contour(xgrid, ygrid, dens, levels=lv, colors="black", linewidths=0.9,
                               linestyles=[_CONTOUR_STYLES[j] for j in order])
        grad, inter = float(row["gradient"]), float(row["intercept"])
        if np.isfinite(grad) and np.isfinite(inter):
            xs = np.asarray(xlim)
            (ln,) = ax.plot(xs, inter + grad * xs, color="black", lw=2.2)
            ax.plot(xs, inter + grad * xs, color=color, lw=1.4)
            ln.set_gid(f"fit-{i}")
            err = float(row["gradient_err"])
            err_txt = f" $\\pm$ {err:.3f}" if np.isfinite(err) else ""
            ax.text(0.03, 0.04, f"{grad:+.3f}{err_txt} dex kpc$^{{-1}}$",
                    transform=ax.transAxes, fontsize="small",
                    bbox=dict(fc="white", ec="none", alpha=0.7, pad=1.5))
        else:
            ax.text(0.03, 0.04, "no fit (too few stars)", transform=ax.transAxes,
                    fontsize="small", color="0.4")
        ax.set_xlim(*xlim)
        ax.set_ylim(*ylim)
    for ax in axes:
        r, c = divmod(list(flat).index(ax), ncols)
        if c == 0:
            ax.set_ylabel(_LAB_FEH)
        # bottom panel of each column (the last row may be incomplete)
        if r == nrows - 1 or (r + 1) * ncols + c >= n:
            ax.set_xlabel(_LAB_RG)
            ax.tick_params(labelbottom=True)
    handles = [Line2D([], [], color="black", ls=s, lw=0.9, label=f"{p:.0%} of stars")
               for p, s in zip(_CONTOUR_FRACTIONS, _CONTOUR_STYLES, strict=True)]
    handles.append(Line2D([], [], color=color, lw=2, label="fitted gradient"))
    fig.legend(handles=handles, loc="outside lower center", ncols=len(handles),
               fontsize="small", frameon=False)
    return fig, np.asarray(axes)


def plot_robustness(table: pd.DataFrame, group: str, *, method: str = "ols"):
    """MGAR under each variant of one group (C25 Figs B1, B2, C1; V21 Figs 9-12 analogues).

    Parameters
    ----------
    table : pandas.DataFrame
        Output of :func:`mgar_bayes.robustness.run_robustness` (columns
        ``variant, group, setting, value, population, method, age_center,
        gradient, gradient_err``; gradients in dex/kpc, ages in Gyr).
    group : str
        ``"selection"``, ``"galaxy"`` or ``"data"``.
    method : str
        Fit method to show.

    Returns
    -------
    fig, axes
        One row per varied setting, one column per population; the baseline
        (grey) is overlaid on the thin/thick panels.
    """
    _require(table, ("variant", "group", "setting", "value", "population", "method", "age_center",
                     "gradient", "gradient_err"), "robustness table")  # fmt: skip
    t = table[table["method"] == method]
    sub = t[t["group"] == group]
    if sub.empty:
        raise ValueError(f"no rows for group {group!r} and method {method!r}")
    base = t[t["group"] == "baseline"]
    settings = list(dict.fromkeys(sub["setting"]))
    pops_per = [list(dict.fromkeys(sub.loc[sub["setting"] == st, "population"])) for st in settings]
    ncols = max(len(p) for p in pops_per)
    fig, axes = plt.subplots(len(settings), ncols, figsize=(4.2 * ncols, 3.2 * len(settings)),
                             squeeze=False, sharex=True)  # fmt: skip
    markers = ["o", "s", "^", "D", "v", "P"]
    for i, (st, pops) in enumerate(zip(settings, pops_per, strict=True)):
        rows = sub[sub["setting"] == st]
        for j in range(ncols):
            ax = axes[i, j]
            if j >= len(pops):
                ax.set_visible(False)
                continue
            pop = pops[j]
            b = base[base["population"] == pop]
            if not b.empty:
                ax.errorbar(b["age_center"], b["gradient"], yerr=b["gradient_err"], color="0.6", marker="o",
                            ms=4, lw=1, capsize=2, label="baseline")  # fmt: skip
            color = POP_COLORS.get(pop, None)
            for k, (val, g) in enumerate(rows[rows["population"] == pop].groupby("value", sort=False)):
                off = 0.12 * (k + 1)
                ax.errorbar(g["age_center"] + off, g["gradient"], yerr=g["gradient_err"], marker=markers[k % 6],
                            ms=4, lw=1, capsize=2, color=color if len(set(rows["value"])) == 1 else None,
                            label=f"{st} = {val}")  # fmt: skip
            ax.axhline(0, color="0.8", lw=0.8, ls=":")
            ax.set_title(f"{POP_LABELS.get(pop, pop)}", fontsize=10)
            if j == 0:
                ax.set_ylabel(r"d[Fe/H]/d$R_\mathrm{g}$ [dex kpc$^{-1}$]")
            if i == len(settings) - 1:
                ax.set_xlabel("age [Gyr]")
            ax.legend(fontsize=7, loc="best")
    fig.suptitle(f"MGAR robustness: {group} variants ({method.upper()})")
    fig.tight_layout()
    return fig, axes


def save_figure(fig, path, *, overwrite: bool = False, dpi: int = 150) -> Path:
    """Write ``fig`` to ``path`` and close it.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        Figure to save; closed afterwards.
    path : str or os.PathLike
        Output file; the format follows its suffix (e.g. ``.png``, ``.pdf``).
        Missing parent directories are created.
    overwrite : bool
        Replace an existing file. If False (default) an existing file is left alone.
    dpi : int
        Resolution of raster output [dots per inch].

    Returns
    -------
    pathlib.Path
        The path written.

    Raises
    ------
    FileExistsError
        If ``path`` exists and ``overwrite`` is False (the figure is then not
        closed, so it can be saved elsewhere).
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} already exists; pass overwrite=True to replace it")
    with atomic_path(path) as tmp:
        # the temporary name ends with the target's, so the format still follows its suffix
        fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format=path.suffix.lstrip(".") or None)
    plt.close(fig)
    return path
