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
:func:`plot_mgar` as ``reference`` (points) or ``lines`` (e.g.
:func:`mgar_bayes.literature.v21_trend`). The truth of a simulated catalogue (the
``truth_bins.csv`` table of :mod:`mgar_bayes.mock`) is drawn when passed as ``truth``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
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
    "TRUTH_COLOR",
    "TRUTH_LABEL",
    "GRADIENT_LABELS",
    "FIT_COLUMNS",
    "plot_sample_overview",
    "plot_populations",
    "plot_mgar",
    "plot_bin_fits",
    "plot_robustness",
    "robustness_label",
    "save_figure",
    "plot_mgar_literature",
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


#: Colour of the simulation's true MGAR (a colour no population or reference uses).
TRUTH_COLOR = "#9467bd"
#: Legend label of the true MGAR.
TRUTH_LABEL = "truth (simulated catalogue)"


_POPS = ("thin", "thick")
_REFERENCE_COLUMNS = ("source", "population", "age_center", "gradient", "gradient_err")
_LINE_COLUMNS = ("source", "population", "age", "gradient")
_LINE_STYLES = ("--", "-.", (0, (5, 1, 1, 1, 1, 1)), ":")
_REF_MARKERS = ("o", "s", "^", "D", "v", "P")
_REF_GREYS = ("black", "0.4", "0.6")
# published lines by kind: (colours, line styles) cycled per source
_LIT_STYLE = {
    "mgar": (("black",), _LINE_STYLES),
    # darkest first: the FIRE-2 cases come in order of growing age errors
    "simulation_mgar": (("#00441b", "#238b45", "#41ab5d", "#a1d99b"), ("-", "-", ":", "-")),
    "birth_gradient": (("#8c564b", "#c49c94"), ("--",)),
}
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
#: y label of a gradient against each radius, shared by every MGAR figure.
GRADIENT_LABELS: dict[str, str] = {"R_g": _LAB_GRAD, "R": _LAB_GRAD_R}


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


def _face_on_frame(
    x: np.ndarray, y: np.ndarray, R0: float, *, pad: float = 0.08, min_aspect: float = 0.6
) -> tuple[tuple[float, float], tuple[float, float]]:
    """X and Y limits [kpc] of the face-on panel: the stars with margins, and the Sun.

    The robust span of the stars (:func:`_span`) padded by ``pad`` of its size,
    widened to hold the Sun at (-R0, 0) with 0.5 kpc to spare, and the shorter side
    widened about its centre to at least ``min_aspect`` of the longer, so that an
    equal-aspect panel is not a thin strip.
    """
    (x0, x1), (y0, y1) = _span(x, pad=pad), _span(y, pad=pad)
    x0, x1 = min(x0, -R0 - 0.5), max(x1, -R0 + 0.5)
    y0, y1 = min(y0, -0.5), max(y1, 0.5)
    w, h = x1 - x0, y1 - y0
    if w < min_aspect * h:
        grow = 0.5 * (min_aspect * h - w)
        x0, x1 = x0 - grow, x1 + grow
    elif h < min_aspect * w:
        grow = 0.5 * (min_aspect * w - h)
        y0, y1 = y0 - grow, y1 + grow
    return (float(x0), float(x1)), (float(y0), float(y1))


def _point_to_centre(ax, xlim: tuple[float, float], ylim: tuple[float, float]) -> None:
    """Arrow from inside the frame towards the Galactic centre (0, 0), off the frame."""
    cx, cy = 0.5 * (xlim[0] + xlim[1]), 0.5 * (ylim[0] + ylim[1])
    dist = math.hypot(cx, cy)
    if dist == 0.0:
        return
    dx, dy = -cx / dist, -cy / dist
    # distance from the frame centre to its edge along the arrow
    hw, hh = 0.5 * (xlim[1] - xlim[0]), 0.5 * (ylim[1] - ylim[0])
    reach = min(hw / abs(dx) if dx else np.inf, hh / abs(dy) if dy else np.inf)
    tail = (cx + 0.55 * reach * dx, cy + 0.55 * reach * dy)
    head = (cx + 0.93 * reach * dx, cy + 0.93 * reach * dy)
    ann = ax.annotate(
        "", xy=head, xytext=tail, zorder=6,
        arrowprops=dict(arrowstyle="-|>", color="black", lw=1.8, mutation_scale=16),
    )
    ann.set_gid("gc-arrow")
    ax.text(tail[0], tail[1], "Galactic\ncentre", ha="right" if dx > 0 else "left", va="center",
            fontsize="small", zorder=6, bbox=dict(fc="white", ec="none", alpha=0.8, pad=1.5))


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
    max_points: int = 100_000,
    bw_points: int = 3000,
    seed: int = 0,
    n_cells: int = 160,
) -> tuple[np.ndarray, np.ndarray] | None:
    """Smoothed density on a grid and the levels enclosing ``fractions`` of the stars.

    A binned Gaussian KDE: the stars (a seeded random subsample of at most
    ``max_points``) are counted on an ``n_cells`` x ``n_cells`` grid that covers
    them and the requested grid, and the counts are convolved (FFT) with a Gaussian
    of the stars' covariance times Scott's factor for ``min(n, bw_points)`` stars
    (a fixed smoothing scale, so that large bins do not get noisier contours). This
    costs O(n + cells log cells), not the O(n x grid) of
    :class:`scipy.stats.gaussian_kde`, and matches it to within the cell size. The
    level for fraction p is the (1 - p) quantile of the density at the stars, so
    the contour encloses about p of them.

    Returns
    -------
    (density, levels) or None
        Density on the grid, shape (len(ygrid), len(xgrid)) [stars per unit x per
        unit y], and the levels in the order of ``fractions``; None when fewer than
        10 stars are finite or their covariance is singular.
    """
    from scipy.interpolate import RegularGridInterpolator
    from scipy.signal import fftconvolve

    x, y = _finite(x, y)
    if x.size < 10:
        return None
    if x.size > max_points:
        idx = np.random.default_rng(seed).choice(x.size, size=max_points, replace=False)
        x, y = x[idx], y[idx]
    n = x.size
    cov = np.cov(np.vstack([x, y])) * min(n, bw_points) ** (-2.0 / 6.0)  # Scott, 2D
    if not np.all(np.isfinite(cov)) or np.linalg.det(cov) <= 0.0:
        return None
    sx, sy = math.sqrt(cov[0, 0]), math.sqrt(cov[1, 1])
    # cover the bulk of the stars and the plotted grid; far outliers (below every
    # level anyway) fall outside and get density 0
    qx, qy = np.percentile(x, [0.1, 99.9]), np.percentile(y, [0.1, 99.9])
    x0, x1 = min(qx[0], xgrid.min()) - 4 * sx, max(qx[1], xgrid.max()) + 4 * sx
    y0, y1 = min(qy[0], ygrid.min()) - 4 * sy, max(qy[1], ygrid.max()) + 4 * sy
    xe, ye = np.linspace(x0, x1, n_cells + 1), np.linspace(y0, y1, n_cells + 1)
    dx, dy = xe[1] - xe[0], ye[1] - ye[0]
    counts, _, _ = np.histogram2d(y, x, bins=[ye, xe])
    # kernel on the cell offsets, out to 4 sd
    kx = np.arange(-math.ceil(4 * sx / dx), math.ceil(4 * sx / dx) + 1) * dx
    ky = np.arange(-math.ceil(4 * sy / dy), math.ceil(4 * sy / dy) + 1) * dy
    gx, gy = np.meshgrid(kx, ky)
    icov = np.linalg.inv(cov)
    q = icov[0, 0] * gx**2 + 2 * icov[0, 1] * gx * gy + icov[1, 1] * gy**2
    kernel = np.exp(-0.5 * q) / (2 * math.pi * math.sqrt(np.linalg.det(cov)))
    dens_cells = np.clip(fftconvolve(counts, kernel, mode="same"), 0.0, None) / n
    centres = (0.5 * (ye[1:] + ye[:-1]), 0.5 * (xe[1:] + xe[:-1]))
    interp = RegularGridInterpolator(centres, dens_cells, bounds_error=False, fill_value=0.0)
    at_pts = interp(np.column_stack([y, x]))
    levels = np.array([np.quantile(at_pts, 1.0 - p) for p in fractions])
    mx, my = np.meshgrid(xgrid, ygrid)
    dens = interp(np.column_stack([my.ravel(), mx.ravel()])).reshape(mx.shape)
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

    # (b) face-on view, zoomed to the stars (a survey seen from the Sun covers a small
    # part of the disk); the Sun kept in frame, the Galactic centre marked or pointed to
    x, y = _finite(stars["x"], stars["y"])
    if x.size:
        (x0, x1), (y0, y1) = _face_on_frame(x, y, R0)
        width = max(x1 - x0, y1 - y0) / _n_bins(x.size)  # square pixels
        _density(ax_b, x, y, xbins=np.arange(x0, x1 + width, width),
                 ybins=np.arange(y0, y1 + width, width))
    else:
        _no_data(ax_b)
        (x0, x1), (y0, y1) = (-R0 - 2.0, -R0 + 2.0), (-2.0, 2.0)
    ax_b.plot([-R0], [0.0], marker="*", ms=14, color="gold", mec="black", ls="none",
              label=f"Sun ($X=-{R0:g}$ kpc)")
    if x0 <= 0.0 <= x1 and y0 <= 0.0 <= y1:
        ax_b.plot([0.0], [0.0], marker="+", ms=10, mew=2, color="black", ls="none",
                  label="Galactic centre")
    else:
        _point_to_centre(ax_b, (x0, x1), (y0, y1))
    ax_b.set_xlim(x0, x1)
    ax_b.set_ylim(y0, y1)
    ax_b.set_aspect("equal", adjustable="box")
    ax_b.set(xlabel=_LAB_X, ylabel=_LAB_Y, title="(b) face-on view")
    # a survey seen from the Sun leaves the corners on the far side of it empty
    ax_b.legend(loc="lower left" if x.size and np.median(x) > -R0 else "lower right",
                fontsize="small", framealpha=0.9)

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


def plot_populations(
    stars: pd.DataFrame,
    *,
    age_bin_width: float = 0.5,
    radius: str = "R_g",
    age_edges: Iterable[float] | None = None,
    seed: int = 0,
):
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
    age_edges : sequence of float, optional
        The analysis age-bin edges [Gyr], increasing. When given, the age axis runs
        from 0 to just past the last edge (stars beyond it are counted in a note, not
        drawn), the edges are drawn as dotted lines and the ages outside the binned
        range are shaded. Default: the axis follows the stars' ages.
    seed : int
        Seed of the subsample the contours' KDE is built on.

    Returns
    -------
    fig : matplotlib.figure.Figure
    axes : numpy.ndarray of matplotlib.axes.Axes, shape (2,)
        Upper: density of [Fe/H] against R_g (or R) per population (2D histogram in a
        tint of the population's colour, gid ``"density-p"``), with KDE contours
        enclosing 20%, 80% and 95% of its stars (gid ``"contours-p"``) and its median
        [Fe/H] in 1 kpc bins of radius holding at least 30 stars (gid
        ``"median-p"``); thin disk blue, thick disk red. Lower: age histograms of
        the two populations; the analysis bin edges have gid ``"age-edges"``.

    Raises
    ------
    ValueError
        If a column is missing, ``age_bin_width`` is not positive or ``age_edges``
        is not increasing.
    """
    _require(stars, ("population", "feh", radius, "age"), "star table")
    if not age_bin_width > 0:
        raise ValueError(f"age_bin_width must be positive, got {age_bin_width}")
    edges_an = None
    if age_edges is not None:
        edges_an = np.asarray(list(age_edges), dtype=float)
        if edges_an.size < 2 or not np.all(np.diff(edges_an) > 0):
            raise ValueError(f"age_edges must be increasing, got {edges_an.tolist()}")
    fig, axes = plt.subplots(2, 1, figsize=(9.5, 8.5), layout="constrained",
                             height_ratios=(3, 2))
    ax_top, ax_bot = axes
    masks = {p: _pop_mask(stars, p) for p in _POPS}
    counts = {p: int(m.sum()) for p, m in masks.items()}

    # one grid for both populations, so that their densities line up
    both = masks["thin"] | masks["thick"]
    r_all, f_all = _finite(stars.loc[both, radius], stars.loc[both, "feh"])
    handles = []
    if r_all.size:
        xlim, ylim = _span(r_all, clip=0.2), _span(f_all, clip=0.2)
        nb = _n_bins(r_all.size)
        xedges, yedges = np.linspace(*xlim, nb + 1), np.linspace(*ylim, nb + 1)
        xgrid, ygrid = np.linspace(*xlim, 100), np.linspace(*ylim, 100)
        # the thick disk first: where the two overlap the (larger) thin disk is on top,
        # and both populations' contours are drawn over both densities
        for pop in ("thick", "thin"):
            sub = stars.loc[masks[pop]]
            rg, feh = _finite(sub[radius], sub["feh"])
            if rg.size == 0:
                continue
            color = POP_COLORS[pop]
            mesh = _density(ax_top, rg, feh, xbins=xedges, ybins=yedges,
                            cmap=_light_cmap(color), colorbar=False)
            if mesh is not None:
                mesh.set_gid(f"density-{pop}")
            hdr = _hdr_levels(rg, feh, xgrid, ygrid, seed=seed)
            if hdr is not None:
                dens, levels = hdr
                order = np.argsort(levels)
                if np.all(np.diff(levels[order]) > 0):
                    cs = ax_top.contour(xgrid, ygrid, dens, levels=levels[order], colors=color,
                                        linewidths=1.1, zorder=3,
                                        linestyles=[_CONTOUR_STYLES[j] for j in order])
                    cs.set_gid(f"contours-{pop}")
            # running median: the gradient at a glance, thick disk included
            rb = np.arange(np.floor(xlim[0]), np.ceil(xlim[1]) + 1.0, 1.0)
            idx = np.digitize(rg, rb) - 1
            centres, medians = [], []
            for k in range(rb.size - 1):
                sel = idx == k
                if sel.sum() >= 30:
                    centres.append(0.5 * (rb[k] + rb[k + 1]))
                    medians.append(float(np.median(feh[sel])))
            if centres:
                (med,) = ax_top.plot(centres, medians, color=color, lw=1.6, marker="o", ms=4.5,
                                     mec="white", mew=0.8, zorder=4)
                med.set_gid(f"median-{pop}")
        ax_top.set_xlim(*xlim)
        ax_top.set_ylim(*ylim)
    for pop in _POPS:
        handles.append(Line2D([], [], ls="-", lw=1.6, marker="o", ms=4.5, mec="white",
                              color=POP_COLORS[pop],
                              label=f"{POP_LABELS[pop]} ({counts[pop]:,} stars),\nmedian [Fe/H]"))
    handles += [Line2D([], [], color="0.3", ls=st, lw=1.1, label=f"{p:.0%} of stars")
                for p, st in zip(_CONTOUR_FRACTIONS, _CONTOUR_STYLES, strict=True)]
    if radius == "R_g":
        ax_top.set(xlabel=_LAB_RG, ylabel=_LAB_FEH, title="[Fe/H] vs guiding-centre radius")
    else:
        ax_top.set(xlabel=_LAB_R, ylabel=_LAB_FEH, title="[Fe/H] vs present-day radius")
    # outside the panel: the thin disk's outer contour reaches every corner
    ax_top.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")

    ages = [_finite(stars.loc[masks[p], "age"])[0] for p in _POPS]
    all_ages = np.concatenate(ages)
    if edges_an is not None:
        # the axis follows the analysis binning, not stray ages of a noisy catalogue
        lo = min(0.0, float(np.floor(edges_an[0])))
        hi = float(np.ceil(edges_an[-1] + 0.5))
    elif all_ages.size:
        lo = np.floor(all_ages.min() / age_bin_width) * age_bin_width
        hi = np.ceil(all_ages.max() / age_bin_width) * age_bin_width
    if all_ages.size:
        edges = np.arange(lo, hi + 0.5 * age_bin_width, age_bin_width)
        if edges.size < 2:
            edges = np.array([lo, lo + age_bin_width])
        for pop, a in zip(_POPS, ages, strict=True):
            if a.size:
                ax_bot.hist(a, bins=edges, histtype="stepfilled", alpha=0.25,
                            color=POP_COLORS[pop])
                ax_bot.hist(a, bins=edges, histtype="step", lw=1.8, color=POP_COLORS[pop],
                            label=f"{POP_LABELS[pop]} (median {np.median(a):.1f} Gyr)")
        ax_bot.set_ylim(0, ax_bot.get_ylim()[1] * 1.1)
        outside = int(((all_ages < edges[0]) | (all_ages > edges[-1])).sum())
        if outside:
            ax_bot.text(0.99, 0.97, f"{outside:,} stars outside {edges[0]:g}-{edges[-1]:g} Gyr "
                        "not shown", transform=ax_bot.transAxes, ha="right", va="top",
                        fontsize="small", color="0.35")
    if edges_an is not None:
        ax_bot.set_xlim(lo, hi)
        shade = dict(color="0.5", alpha=0.12, lw=0, zorder=0)
        if edges_an[0] > lo:
            ax_bot.axvspan(lo, edges_an[0], **shade)
        if edges_an[-1] < hi:
            ax_bot.axvspan(edges_an[-1], hi, **shade)
        ymax = ax_bot.get_ylim()[1]
        vl = ax_bot.vlines(edges_an, 0.0, ymax, colors="0.25", lw=0.8, ls=":", zorder=1,
                           label=(f"edges of the {edges_an.size - 1} analysis bins\n"
                                  f"({edges_an[0]:g}\u2013{edges_an[-1]:g} Gyr)"))
        vl.set_gid("age-edges")
        ax_bot.set_ylim(0.0, ymax)
    if ax_bot.get_legend_handles_labels()[0]:
        ax_bot.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small")
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
    truth: pd.DataFrame | None = None,
    lines: pd.DataFrame | None = None,
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
    truth : pandas.DataFrame, optional
        The true MGAR of a simulated catalogue, one row per population and age bin:
        columns ``population, age_center`` [Gyr] and ``gradient_true`` (or
        ``gradient``) [dex/kpc], optionally ``gradient_true_err`` [dex/kpc] (as in
        ``truth_bins.csv`` of :mod:`mgar_bayes.mock`); drawn as open diamonds joined
        by a line, in :data:`TRUTH_COLOR`.
    lines : pandas.DataFrame, optional
        Published trend lines, columns ``source, population, age`` [Gyr],
        ``gradient`` [dex/kpc] and optionally ``label`` (default: the source); one
        black line per (population, source), e.g.
        :func:`mgar_bayes.literature.v21_trend`.

    Returns
    -------
    fig : matplotlib.figure.Figure
    axes : numpy.ndarray of matplotlib.axes.Axes, shape (2,)
        Thin disk (top) and thick disk (bottom). The trend line of population p has
        gid ``"trend-p"``, its band ``"band-p"``, the binned points ``"bins-p"``,
        the reference points of source s ``"reference-p-s"``, the published line of
        source s ``"line-p-s"`` and the true MGAR ``"truth-p"``.

    Raises
    ------
    ValueError
        If a column is missing, ``method`` has no rows, or ``band_prob`` is not in
        (0, 1).
    """
    if not 0.0 < band_prob < 1.0:
        raise ValueError(f"band_prob must be in (0, 1), got {band_prob}")
    methods, truth_col = _check_mgar_inputs(fit_table, method, truth)
    if reference is not None:
        _require(reference, _REFERENCE_COLUMNS, "reference table")
    if lines is not None:
        _require(lines, _LINE_COLUMNS, "lines table")
    fits = fit_table.loc[methods == method]

    fig, axes = plt.subplots(2, 1, figsize=(10, 8), sharex=True, layout="constrained")
    fig.suptitle(f"Metallicity gradient-age relation ({method.upper()} per-bin fits)")
    for ax, pop in zip(axes, _POPS, strict=True):
        rows = fits.loc[fits["population"].astype(str) == pop].sort_values("age_center")
        ax.set_ylabel(_LAB_GRAD if radius == "R_g" else _LAB_GRAD_R)
        ax.set_title(POP_LABELS[pop])
        _draw_binned(ax, rows, _get_trend(trends, pop, method), pop, method, band_prob)
        if reference is not None:
            _draw_reference(ax, reference.loc[reference["population"].astype(str) == pop], pop)
        if lines is not None:
            _draw_lines(ax, lines.loc[lines["population"].astype(str) == pop], pop)
        if truth is not None:
            _draw_truth(ax, truth.loc[truth["population"].astype(str) == pop], truth_col, pop)
        _finish_mgar_axis(ax)
    axes[-1].set_xlabel(_LAB_AGE)
    return fig, axes


def _check_mgar_inputs(fit_table: pd.DataFrame, method: str, truth: pd.DataFrame | None):
    """The fit table's methods (as str) and the truth's gradient column (None without a truth), checked."""
    _require(fit_table, FIT_COLUMNS, "fit table")
    methods = fit_table["method"].astype(str)
    if len(fit_table) and not (methods == method).any():
        raise ValueError(f"fit table has no rows for method {method!r}; it has {sorted(methods.unique())}")
    truth_col = None
    if truth is not None:
        truth_col = "gradient_true" if "gradient_true" in truth.columns else "gradient"
        _require(truth, ("population", "age_center", truth_col), "truth table")
    return methods, truth_col


def _draw_binned(ax, rows: pd.DataFrame, trend: Mapping | None, pop: str, method: str,
                 band_prob: float) -> None:
    """Per-bin gradients of one population with their trend line and band."""
    color = POP_COLORS[pop]
    if rows.empty:
        _no_data(ax, f"no stars ({POP_LABELS[pop]}: no fits)")
        return
    ok = np.isfinite(rows["gradient"].to_numpy(float))
    good = rows.loc[ok]
    xerr = 0.5 * (good["age_hi"] - good["age_lo"]).to_numpy(float)
    eb = ax.errorbar(
        good["age_center"].to_numpy(float), good["gradient"].to_numpy(float),
        yerr=good["gradient_err"].to_numpy(float), xerr=xerr,
        fmt="o", color=color, ms=6, capsize=2, zorder=3,
        label=f"{POP_LABELS[pop]}, {method.upper()} per age bin",
    )  # fmt: skip
    eb.lines[0].set_gid(f"bins-{pop}")
    if not ok.all():
        skipped = ", ".join(f"{c:g}" for c in rows.loc[~ok, "age_center"])
        ax.text(0.99, 0.02, f"too few stars at {skipped} Gyr", transform=ax.transAxes,
                ha="right", va="bottom", fontsize="small", color="0.4")
    if trend is None:
        return
    lo = float(np.nanmin(rows["age_lo"]))
    hi = float(np.nanmax(rows["age_hi"]))
    ages = np.union1d(np.linspace(lo, hi, 200), rows["age_center"].to_numpy(float))
    a, b = float(trend["intercept"]), float(trend["rate"])
    band = _trend_band(trend, ages, band_prob)
    if band is not None:
        blo, bhi, blab = band
        poly = ax.fill_between(ages, blo, bhi, color=color, alpha=0.2, lw=0, label=f"trend {blab}")
        poly.set_gid(f"band-{pop}")
    rate_err = trend.get("rate_err")
    err_txt = f" $\\pm$ {float(rate_err):.4f}" if rate_err is not None and np.isfinite(rate_err) else ""
    (ln,) = ax.plot(ages, a + b * ages, color=color, lw=2,
                    label=f"trend: {b:+.4f}{err_txt} dex kpc$^{{-1}}$ Gyr$^{{-1}}$")
    ln.set_gid(f"trend-{pop}")


def _draw_reference(ax, ref: pd.DataFrame, pop: str) -> None:
    """Published points, one marker and grey level per source (asymmetric errors if given)."""
    for i, (src, grp) in enumerate(ref.groupby("source", sort=False)):
        if {"gradient_err_lo", "gradient_err_hi"} <= set(grp.columns):
            yerr = np.vstack([grp["gradient_err_lo"].to_numpy(float), grp["gradient_err_hi"].to_numpy(float)])
        else:
            yerr = grp["gradient_err"].to_numpy(float)
        label = str(grp["label"].iloc[0]) if "label" in grp.columns else str(src)
        reb = ax.errorbar(
            grp["age_center"].to_numpy(float), grp["gradient"].to_numpy(float), yerr=yerr,
            fmt=_REF_MARKERS[i % len(_REF_MARKERS)], color=_REF_GREYS[i % len(_REF_GREYS)],
            ms=4, capsize=1.5, lw=1.0, zorder=4, label=label,
        )  # fmt: skip
        reb.lines[0].set_gid(f"reference-{pop}-{src}")


def _draw_lines(ax, sub: pd.DataFrame, pop: str) -> None:
    """Published lines: observed MGARs black, simulations green, birth gradients brown dashed."""
    counters: dict[str, int] = {}
    for src, grp in sub.groupby("source", sort=False):
        grp = grp.sort_values("age")
        kind = str(grp["kind"].iloc[0]) if "kind" in grp.columns else "mgar"
        i = counters.get(kind, 0)
        counters[kind] = i + 1
        label = str(grp["label"].iloc[0]) if "label" in grp.columns else str(src)
        color, ls = _LIT_STYLE.get(kind, _LIT_STYLE["mgar"])
        color = color[i % len(color)]
        ls = ls[i % len(ls)]
        (pl,) = ax.plot(grp["age"].to_numpy(float), grp["gradient"].to_numpy(float),
                        color=color, lw=1.5, ls=ls, zorder=2, label=label)
        pl.set_gid(f"line-{pop}-{src}")


def _draw_truth(ax, tr: pd.DataFrame, truth_col: str, pop: str) -> None:
    """The true MGAR of a simulated catalogue: open diamonds joined by a line."""
    tr = tr.sort_values("age_center")
    tx, ty = tr["age_center"].to_numpy(float), tr[truth_col].to_numpy(float)
    terr = None
    if "gradient_true_err" in tr.columns:
        terr = tr["gradient_true_err"].to_numpy(float)
        terr = np.where(np.isfinite(terr), terr, 0.0)  # a bin without an error still drawn
    ok = np.isfinite(tx) & np.isfinite(ty)
    if ok.any():
        teb = ax.errorbar(tx[ok], ty[ok], yerr=None if terr is None else terr[ok],
                          fmt="D-", color=TRUTH_COLOR, mfc="white", mec=TRUTH_COLOR,
                          ms=6, mew=1.5, lw=1.2, capsize=2, zorder=5, label=TRUTH_LABEL)
        teb.lines[0].set_gid(f"truth-{pop}")


def _finish_mgar_axis(ax) -> None:
    y0, y1 = ax.get_ylim()
    if y0 < 0.0 < y1:
        ax.axhline(0.0, color="0.6", lw=0.8, ls=":", zorder=0)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))


def plot_mgar_literature(
    fit_table: pd.DataFrame,
    trends: Mapping | None = None,
    *,
    method: str = "ols",
    population: str = "thin",
    birth: Iterable[str] = ("ratcliffe2023_birth",),
    observed: Iterable[str] = ("anders2023",),
    simulations: Iterable[str] = ("fire2",),
    truth: pd.DataFrame | None = None,
    band_prob: float = 0.98,
    radius: str = "R_g",
):
    """A disk's MGAR beside birth-gradient histories and simulations (C25 Fig. 5).

    Upper panel: the MGAR against the reconstructed gradient at birth (dashed;
    age read as look-back time) and other observed MGARs. Lower panel: the MGAR
    against the present-day MGAR of simulations (FIRE-2 with assumed age errors).
    The published numbers come from :mod:`mgar_bayes.literature`, with their
    citations in the legend's labels; none of them separates thin and thick disk.

    Parameters
    ----------
    fit_table, trends, method, band_prob, radius
        As in :func:`plot_mgar`.
    population : {"thin", "thick"}
        Disk drawn (C25 show the thin disk).
    birth, observed, simulations : iterable of str
        Names of :data:`mgar_bayes.literature.DATASETS` for each role; empty to
        leave out.
    truth : pandas.DataFrame, optional
        True MGAR of a simulated catalogue, as in :func:`plot_mgar`.

    Returns
    -------
    fig : matplotlib.figure.Figure
    axes : numpy.ndarray of matplotlib.axes.Axes, shape (2,)
        The published curves have gid ``"line-<population>-<source>"`` and the
        published points ``"reference-<population>-<source>"``, as in
        :func:`plot_mgar`.

    Raises
    ------
    ValueError
        If a column is missing, ``method`` has no rows, ``population`` is not a
        disk, or a dataset name is unknown.
    """
    from . import literature

    if population not in _POPS:
        raise ValueError(f"population must be 'thin' or 'thick', got {population!r}")
    methods, truth_col = _check_mgar_inputs(fit_table, method, truth)
    rows = fit_table.loc[(methods == method) & (fit_table["population"].astype(str) == population)]
    rows = rows.sort_values("age_center")
    trend = _get_trend(trends, population, method)
    panels = (
        (list(birth) + list(observed), "birth gradients and observed MGARs"),
        (list(simulations), "simulations"),
    )
    fig, axes = plt.subplots(2, 1, figsize=(10, 8), sharex=True, layout="constrained")
    fig.suptitle(f"{POP_LABELS[population].capitalize()} MGAR ({method.upper()}) beside the literature")
    for ax, (names, what) in zip(axes, panels, strict=True):
        _draw_binned(ax, rows, trend, population, method, band_prob)
        ref, lines = literature.overlay(names, radius=radius)
        if ref is not None:
            _draw_reference(ax, ref.assign(population=population), population)
        if lines is not None:
            _draw_lines(ax, lines.assign(population=population), population)
        if truth is not None:
            _draw_truth(ax, truth.loc[truth["population"].astype(str) == population], truth_col, population)
        ax.set_title(f"{POP_LABELS[population]} vs {what}")
        ax.set_ylabel(_LAB_GRAD if radius == "R_g" else _LAB_GRAD_R)
        _finish_mgar_axis(ax)
    axes[-1].set_xlabel("age (look-back time for birth gradients) [Gyr]")
    return fig, axes


def plot_bin_fits(
    stars: pd.DataFrame,
    fit_table: pd.DataFrame,
    population: str,
    *,
    method: str = "ols",
    ncols: int = 3,
    seed: int = 0,
    radius: str = "R_g",
):
    """[Fe/H]-R_g distribution and gradient fit of each mono-age bin (C25 Fig. 4).

    Stars of ``population`` are assigned to the fit table's bins by age,
    ``age_lo <= age < age_hi``. Each panel shows the stars (a scatter below 500
    stars, else a 2D histogram with log colour), KDE contours enclosing 20%, 80%
    and 95% of them (a binned Gaussian KDE, see :func:`_hdr_levels`), the fitted line
    ``[Fe/H] = intercept + gradient * R_g`` and the number of stars.

    Parameters
    ----------
    stars : pandas.DataFrame
        Star table with columns ``population``, ``age`` [Gyr], ``radius`` [kpc] and
        ``feh`` [dex].
    fit_table : pandas.DataFrame
        Per-bin fits (columns :data:`FIT_COLUMNS`) against ``radius``; ``intercept``
        is [Fe/H] at radius 0 [dex], ``gradient`` [dex/kpc].
    population : {"thin", "thick"}
        Population to show.
    method : str
        Fit method whose lines are drawn.
    ncols : int
        Panels per row.
    seed : int
        Seed of the KDE's subsample (drawn only above 100,000 stars in a bin).
    radius : {"R_g", "R"}
        The radius the fits were made against: the guiding-centre radius or the
        present-day ``R`` (x axis and the stars' column).

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
    if radius not in ("R_g", "R"):
        raise ValueError(f"radius must be 'R_g' or 'R', got {radius!r}")
    _require(stars, ("population", "age", radius, "feh"), "star table")
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
    rg_all, feh_all = _finite(pop_stars[radius], pop_stars["feh"])
    xlim = _span(rg_all, clip=0.5) if rg_all.size else (4.0, 16.0)
    ylim = _span(feh_all, clip=0.5) if feh_all.size else (-1.0, 0.5)
    # a sparse bin unlike the rest (e.g. young, metal-rich thick-disk stars) stays in frame
    age_all = pop_stars["age"].to_numpy(float)
    for lo, hi in zip(rows["age_lo"].to_numpy(float), rows["age_hi"].to_numpy(float), strict=True):
        sel = (age_all >= lo) & (age_all < hi)
        xb, yb = _finite(pop_stars[radius].to_numpy(float)[sel], pop_stars["feh"].to_numpy(float)[sel])
        if xb.size >= 5:
            (bx0, bx1), (by0, by1) = _span(xb, clip=2.0), _span(yb, clip=2.0)
            xlim = (min(xlim[0], bx0), max(xlim[1], bx1))
            ylim = (min(ylim[0], by0), max(ylim[1], by1))
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
    rlab = r"$R_\mathrm{g}$" if radius == "R_g" else "$R$"
    fig.suptitle(f"{label}: [Fe/H]-{rlab} per age bin ({method.upper()} fits)")
    age = pop_stars["age"].to_numpy(float)
    for i, (ax, (_, row)) in enumerate(zip(axes, rows.iterrows(), strict=True)):
        lo, hi = float(row["age_lo"]), float(row["age_hi"])
        in_bin = (age >= lo) & (age < hi)
        rg, feh = _finite(pop_stars[radius].to_numpy(float)[in_bin],
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
            ax.set_xlabel(_LAB_RG if radius == "R_g" else _LAB_R)
            ax.tick_params(labelbottom=True)
    handles = [Line2D([], [], color="black", ls=s, lw=0.9, label=f"{p:.0%} of stars")
               for p, s in zip(_CONTOUR_FRACTIONS, _CONTOUR_STYLES, strict=True)]
    handles.append(Line2D([], [], color=color, lw=2, label="fitted gradient"))
    fig.legend(handles=handles, loc="outside lower center", ncols=len(handles),
               fontsize="small", frameon=False)
    return fig, np.asarray(axes)


_ZMAX = r"$Z_\mathrm{max}$"
_AFE = r"[$\alpha$/Fe]"


def _signed(value: str) -> str:
    """A signed number as text, with a proper minus sign ("-0.1" -> "\u22120.1")."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        return str(value)
    return f"{v:+g}".replace("-", "\u2212")


def _cite(value: str) -> str:
    """A paper section or figure named as in the papers: "V21 4.1.4" -> "V21 Sect. 4.1.4"."""
    m = re.fullmatch(r"(V21|C25) (\d+(?:\.\d+)*)", str(value))
    if m:
        return f"{m[1]} Sect. {m[2]}"
    m = re.fullmatch(r"(V21|C25) ([A-Z]\d+)", str(value))
    if m:
        return f"{m[1]} Fig. {m[2]}"
    return str(value)


def _pct(value: str) -> str:
    try:
        return f"{100.0 * float(value):g}%"
    except (TypeError, ValueError):
        return str(value)


# Legend label of each robustness setting (mgar_bayes.robustness.default_variants), from
# its value; an unknown setting falls back to "setting: value".
_ROBUSTNESS_LABELS: dict[str, Callable[[str], str]] = {
    "baseline": lambda v: f"baseline ({v} selection)",
    "chem_shift_no_zmax": lambda v: (
        f"chemical line unshifted, no {_ZMAX} cut" if _signed(v) in ("+0", "\u22120")
        else f"chemical line {_signed(v)} dex, no {_ZMAX} cut"
    ),
    "zmax_only": lambda v: f"{_ZMAX} slices only ({_cite(v)})",
    "chem_only": lambda v: f"chemical slices only ({_cite(v)})",
    "chem_line": lambda v: f"{v} chemical dividing line",
    "potential": lambda v: f"potential {v}",
    "R0": lambda v: f"$R_0$ = {v} kpc",
    "v0": lambda v: f"$v_0$ = {v} km s$^{{-1}}$",
    "max_age_rel_err": lambda v: f"age error \u2264 {_pct(v)}",
    "evol_stage": lambda v: f"{v} stars only",
    "thick_Rg_max": lambda v: f"thick disk: $R_\\mathrm{{g}}$ \u2264 {v} kpc",
    "v21_high_quality": lambda v: f"high-quality subsample ({_cite(v)})",
    "radius": lambda v: ("gradient in present-day $R$" if str(v) == "R"
                         else "gradient in $R_\\mathrm{g}$"),
}


def robustness_label(setting: str, value: str) -> str:
    """Human legend label of a robustness variant from its ``setting`` and ``value``.

    Parameters
    ----------
    setting, value : str
        The ``setting`` and ``value`` columns of the robustness table (see
        :func:`mgar_bayes.robustness.default_variants`), e.g.
        ``("chem_shift_no_zmax", "-0.1")``.

    Returns
    -------
    str
        E.g. "chemical line \u22120.1 dex, no Z_max cut" (with mathtext subscripts);
        ``"setting: value"`` with underscores as spaces for an unknown setting.
    """
    fmt = _ROBUSTNESS_LABELS.get(str(setting))
    if fmt is not None:
        return fmt(str(value))
    return f"{str(setting).replace('_', ' ')}: {value}"


def _population_label(pop: str) -> str:
    """Panel title of a robustness population: the disks, Z_max slices, chemical slices."""
    if pop in POP_LABELS:
        return POP_LABELS[pop]
    m = re.fullmatch(r"Zmax ([\d.]+)-([\d.]+)", pop)
    if m:
        return f"{_ZMAX} {m[1]}\u2013{m[2]} kpc"
    if "chem" in pop:
        # "V21-0.1 < chem < V21" -> "V21 line -0.1 dex < [alpha/Fe] < V21 line"
        out = re.sub(r"(V21|C25)(?:([+-])([\d.]+))?",
                     lambda m: f"{m[1]} line" + (f" {_signed(m[2] + m[3])} dex" if m[2] else ""), pop)
        return out.replace("chem", _AFE)
    return pop


_SERIES_COLORS = ("#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#a6761d")


def plot_robustness(table: pd.DataFrame, group: str, *, method: str = "ols", ncols: int = 4):
    """MGAR under each variant of one group (C25 Figs B1, B2, C1; V21 Figs 9-12 analogues).

    One panel per varied setting and population that has at least one fitted bin;
    a variant's populations are those in its rows (a thick-disk-only variant gets
    no thin-disk panel). The baseline (grey) is overlaid where it has the panel's
    population. Settings without any fitted bin are named in a note, not drawn.

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
    ncols : int
        Most panels per row; a setting starts a new row, one with more populations
        than ``ncols`` wraps.

    Returns
    -------
    fig : matplotlib.figure.Figure
    axes : numpy.ndarray of matplotlib.axes.Axes, shape (n_panels,)
        The panels drawn, in reading order; panel (setting s, population p) has gid
        ``"panel-s-p"``. Legends use :func:`robustness_label`.

    Raises
    ------
    ValueError
        If a column is missing or the table has no rows of ``group`` and ``method``.
    """
    _require(table, ("variant", "group", "setting", "value", "population", "method", "age_center",
                     "gradient", "gradient_err"), "robustness table")  # fmt: skip
    if ncols < 1:
        raise ValueError(f"ncols must be >= 1, got {ncols}")
    t = table[table["method"].astype(str) == method]
    sub = t[t["group"].astype(str) == group]
    if sub.empty:
        raise ValueError(f"no rows for group {group!r} and method {method!r}")
    base = t[t["group"].astype(str) == "baseline"]
    finite = np.isfinite(sub["gradient"].to_numpy(float))
    settings = list(dict.fromkeys(sub["setting"].astype(str)))
    panels: list[list[tuple[str, str]]] = []  # per setting, its (setting, population) panels
    missing, same = [], []
    for st in settings:
        here = (sub["setting"].astype(str) == st).to_numpy()
        pops = list(dict.fromkeys(sub.loc[here & finite, "population"].astype(str)))
        # a variant that leaves a population's stars alone (e.g. a cut on the thick disk
        # only) repeats the baseline there: say so instead of drawing it again
        kept = [p for p in pops if not _same_as_baseline(sub.loc[here], base, p)]
        for p in pops:
            if p not in kept:
                vals = dict.fromkeys(sub.loc[here, "value"].astype(str))
                same += [f"{_population_label(p)} under {robustness_label(st, v)}" for v in vals]
        if kept:
            panels.append([(st, pop) for pop in kept])
        elif not pops:
            vals = dict.fromkeys(sub.loc[here, "value"].astype(str))
            missing += [robustness_label(st, v) for v in vals]
    if not panels:
        fig = plt.figure(figsize=(7, 2.5), layout="constrained")
        fig.suptitle(f"MGAR robustness: {group} variants ({method.upper()})")
        fig.text(0.5, 0.45, "no variant has a bin with enough stars:\n" + "\n".join(missing),
                 ha="center", va="center", color="0.3")
        return fig, np.asarray([], dtype=object)
    ncols = min(ncols, max(len(p) for p in panels))
    layout = []  # (row, col) of each panel, a setting starting a new row
    row = 0
    for ps in panels:
        if ncols >= 2 and {pop for _, pop in ps} <= set(_POPS):
            # the disks keep their columns, so a thick-only row lines up with the others
            layout += [(row, _POPS.index(pop)) for _, pop in ps]
            row += 1
            continue
        for k in range(len(ps)):
            layout.append((row + k // ncols, k % ncols))
        row += math.ceil(len(ps) / ncols)
    nrows = row
    fig, grid = plt.subplots(nrows, ncols, figsize=(4.3 * ncols, 3.1 * nrows + 0.6),
                             squeeze=False, sharex=True, layout="constrained")
    flat = [pan for ps in panels for pan in ps]
    used = set(layout)
    for r in range(nrows):
        for c in range(ncols):
            if (r, c) not in used:
                fig.delaxes(grid[r, c])
    drawn = []
    for (st, pop), (r, c) in zip(flat, layout, strict=True):
        ax = grid[r, c]
        ax.set_gid(f"panel-{st}-{pop}")
        drawn.append(ax)
        rows = sub[(sub["setting"].astype(str) == st) & (sub["population"].astype(str) == pop)]
        b = base[base["population"].astype(str) == pop]
        if not b.empty:
            ax.errorbar(b["age_center"], b["gradient"], yerr=b["gradient_err"], color="0.6",
                        marker="o", ms=4, lw=1, capsize=2,
                        label=robustness_label("baseline", b["value"].iloc[0])
                        + (r", in $R_\mathrm{g}$" if st == "radius" else ""))
        values = list(dict.fromkeys(sub.loc[sub["setting"].astype(str) == st, "value"].astype(str)))
        for k, (val, g) in enumerate(rows.groupby(rows["value"].astype(str), sort=False)):
            k = values.index(val)  # one colour per value across the setting's panels
            color = (POP_COLORS.get(pop, "black") if len(values) == 1
                     else _SERIES_COLORS[k % len(_SERIES_COLORS)])
            off = 0.12 * (k + 1)  # so that the series do not hide each other
            ax.errorbar(g["age_center"] + off, g["gradient"], yerr=g["gradient_err"],
                        marker=_REF_MARKERS[k % len(_REF_MARKERS)], ms=4, lw=1, capsize=2,
                        color=color, label=robustness_label(st, val))
        y0, y1 = ax.get_ylim()
        if y0 < 0.0 < y1:  # only where it does not stretch the axis
            ax.axhline(0, color="0.8", lw=0.8, ls=":", zorder=0)
        ax.set_title(_population_label(pop), fontsize=10)
        if c == min(cc for rr, cc in layout if rr == r):  # leftmost panel of its row
            ax.set_ylabel(_LAB_GRAD_R if st == "radius" else _LAB_GRAD)
        # the lowest panel of each column carries the age axis
        if not any(rr > r and cc == c for rr, cc in layout):
            ax.set_xlabel(_LAB_AGE)
            ax.tick_params(labelbottom=True)
        ax.legend(fontsize=7, loc="best")
    fig.suptitle(f"MGAR robustness: {group} variants ({method.upper()})")
    notes = []
    if missing:
        notes.append("not drawn, no bin with enough stars: " + "; ".join(missing))
    if same:
        notes.append("not drawn, identical to the baseline: " + "; ".join(same))
    if notes:
        fig.text(0.5, 0.0, "\n".join(notes), ha="center", va="top", fontsize="small", color="0.3")
    return fig, np.asarray(drawn, dtype=object)


def _same_as_baseline(rows: pd.DataFrame, base: pd.DataFrame, pop: str) -> bool:
    """Whether every variant in ``rows`` gives population ``pop`` the baseline's gradients."""
    b = base[base["population"].astype(str) == pop]
    r = rows[rows["population"].astype(str) == pop]
    if b.empty or r.empty:
        return False
    bg = b.set_index("age_center")["gradient"].astype(float)
    for _, g in r.groupby(r["value"].astype(str), sort=False):
        gg = g.set_index("age_center")["gradient"].astype(float)
        if not gg.index.equals(bg.index):
            return False
        if not np.allclose(gg.to_numpy(), bg.to_numpy(), rtol=0.0, atol=1e-12, equal_nan=True):
            return False
    return True


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
