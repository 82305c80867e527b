"""C25 Fig. A1 analogue: posterior gradients vs OLS per bin with MGAR lines and HDI bands."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure  # no pyplot: no global backend, headless (Agg canvas)

__all__ = ["plot_posterior_vs_ols"]

_OLS_COLOURS = {"thin": "tab:blue", "thick": "tab:red"}
_MODEL_COLOURS = ["forestgreen", "goldenrod", "purple", "tab:brown", "tab:cyan"]


def plot_posterior_vs_ols(
    posterior_table: pd.DataFrame,
    ols_table: pd.DataFrame | None = None,
    bands: dict[tuple[str, str], pd.DataFrame] | None = None,
    *,
    populations: tuple[str, ...] = ("thin", "thick"),
    hdi_prob: float = 0.98,
):
    """Gradient vs age per population: OLS points, posterior points, lines, HDI bands.

    Parameters
    ----------
    posterior_table : pandas.DataFrame
        ``mgar_bayes.csv`` rows (columns ``population, model, age_center,
        gradient, gradient_err``); each model gets its own colour.
    ols_table : pandas.DataFrame, optional
        OLS table; rows with ``method == 'ols'`` are drawn.
    bands : dict, optional
        ``{(population, model): DataFrame(age, mean, hdi_lo, hdi_hi)}``: the
        MGAR line and its HDI band.
    populations : tuple of str
        One panel each.
    hdi_prob : float
        For the legend.

    Returns
    -------
    fig : matplotlib.figure.Figure
    axes : numpy.ndarray of matplotlib.axes.Axes
    """
    fig = Figure(figsize=(5.5 * len(populations), 4.2))
    axes = fig.subplots(1, len(populations), squeeze=False)
    axes = axes[0]
    models = list(dict.fromkeys(posterior_table["model"])) if len(posterior_table) else []
    for ax, pop in zip(axes, populations, strict=True):
        if ols_table is not None and len(ols_table):
            o = ols_table[(ols_table["population"] == pop) & (ols_table["method"] == "ols")]
            ax.errorbar(
                o["age_center"], o["gradient"], o["gradient_err"], fmt="o", color=_OLS_COLOURS.get(pop, "k"),
                ms=5, capsize=2, label="OLS",
            )
        for i, model in enumerate(models):
            colour = _MODEL_COLOURS[i % len(_MODEL_COLOURS)]
            p = posterior_table[(posterior_table["population"] == pop) & (posterior_table["model"] == model)]
            if len(p) == 0:
                continue
            dx = 0.12 * (i + 1)  # offset so the points do not hide each other
            ax.errorbar(
                p["age_center"] + dx, p["gradient"], p["gradient_err"], fmt="s", color=colour, ms=5,
                capsize=2, label=f"Bayes ({model})",
            )
            band = (bands or {}).get((pop, model))
            if band is not None:
                ax.plot(band["age"], band["mean"], color=colour, lw=1.5)
                ax.fill_between(band["age"], band["hdi_lo"], band["hdi_hi"], color=colour, alpha=0.2,
                                label=f"{hdi_prob:.0%} HDI ({model})")
        ax.axhline(0.0, color="0.6", lw=0.8, ls=":")
        ax.set_title(f"{pop} disk")
        ax.set_xlabel("age [Gyr]")
        ax.set_ylabel(r"$\nabla$[Fe/H] [dex kpc$^{-1}$]")
        if ax.has_data():
            ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    return fig, np.asarray(axes)
