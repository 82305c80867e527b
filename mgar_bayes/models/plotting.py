"""C25 Fig. A1 analogue: posterior gradients vs OLS per bin, with the MGAR lines and HDI bands.

Colours follow C25 Fig. A1: the OLS points in the population colours of the other
figures (thin blue, thick red, :data:`mgar_bayes.plots.POP_COLORS`), the Bayesian
results in forest green (thin) and gold (thick); each model has its own marker and
line style, so that several models can be told apart in one panel.

The bands of every model fitted into an output directory are kept in one long
table (:func:`bands_table`), so that re-running one model does not drop the others'
bands from the figure.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from matplotlib.figure import Figure  # no pyplot: no global backend, headless (Agg canvas)
from matplotlib.lines import Line2D

from ..plots import GRADIENT_LABELS, POP_COLORS, POP_LABELS, TRUTH_COLOR, TRUTH_LABEL

__all__ = ["BAYES_COLORS", "BAND_COLUMNS", "bands_table", "plot_posterior_vs_ols"]

#: Colour of the Bayesian results of each population (C25 Fig. A1).
BAYES_COLORS: dict[str, str] = {"thin": "forestgreen", "thick": "goldenrod"}
#: Columns of the long band table; the ``rate_*`` columns may be NaN.
BAND_COLUMNS = ["population", "model", "age", "mean", "hdi_lo", "hdi_hi",
                "rate_mean", "rate_hdi_lo", "rate_hdi_hi"]  # fmt: skip

# (marker, line style) of the i-th model
_MODEL_STYLES = [("s", "-"), ("^", "--"), ("D", "-."), ("v", ":"), ("P", (0, (5, 1, 1, 1)))]
_RATE_UNIT = r"dex kpc$^{-1}$ Gyr$^{-1}$"


def _rate_tuple(value) -> tuple[float, float, float] | None:
    """(mean, hdi_lo, hdi_hi) from a tuple or a ``{"mean", "hdi_lo", "hdi_hi"}`` mapping."""
    if value is None:
        return None
    if isinstance(value, Mapping):
        value = (value.get("mean"), value.get("hdi_lo"), value.get("hdi_hi"))
    vals = tuple(float(v) if v is not None else np.nan for v in value)
    if len(vals) != 3:
        raise ValueError(f"a rate must be (mean, hdi_lo, hdi_hi), got {value!r}")
    return vals if np.isfinite(vals[0]) else None


def bands_table(
    bands: Mapping[tuple[str, str], pd.DataFrame],
    rates: Mapping[tuple[str, str], object] | None = None,
) -> pd.DataFrame:
    """Bands of several (population, model) fits as one long table, e.g. to keep on disk.

    Parameters
    ----------
    bands : mapping
        ``{(population, model): DataFrame(age, mean, hdi_lo, hdi_hi)}`` as returned
        by the models' ``band()`` (age [Gyr], the rest [dex/kpc]).
    rates : mapping, optional
        ``{(population, model): (mean, hdi_lo, hdi_hi)}`` or the runner's
        ``flattening_rate`` dicts (``mean, sd, hdi_lo, hdi_hi``) [dex/kpc/Gyr].

    Returns
    -------
    pandas.DataFrame
        Columns :data:`BAND_COLUMNS`, the rate repeated on each row of its fit
        (NaN where not given). :func:`plot_posterior_vs_ols` reads it as ``bands``.
    """
    frames = []
    for (pop, model), band in bands.items():
        rate = _rate_tuple((rates or {}).get((pop, model))) or (np.nan, np.nan, np.nan)
        frames.append(pd.DataFrame({
            "population": pop, "model": model,
            "age": np.asarray(band["age"], float), "mean": np.asarray(band["mean"], float),
            "hdi_lo": np.asarray(band["hdi_lo"], float), "hdi_hi": np.asarray(band["hdi_hi"], float),
            "rate_mean": rate[0], "rate_hdi_lo": rate[1], "rate_hdi_hi": rate[2],
        }))
    if not frames:
        return pd.DataFrame(columns=BAND_COLUMNS)
    return pd.concat(frames, ignore_index=True)[BAND_COLUMNS]


def _as_band_dict(bands) -> tuple[dict, dict]:
    """``{(pop, model): band}`` and the rates stored with them, from a dict or a long table."""
    if bands is None:
        return {}, {}
    if isinstance(bands, pd.DataFrame):
        out, rates = {}, {}
        for (pop, model), g in bands.groupby(["population", "model"], sort=False):
            out[(str(pop), str(model))] = g.sort_values("age")
            if "rate_mean" in g.columns:
                r = _rate_tuple(g[["rate_mean", "rate_hdi_lo", "rate_hdi_hi"]].iloc[0].to_numpy())
                if r is not None:
                    rates[(str(pop), str(model))] = r
        return out, rates
    return dict(bands), {}


def plot_posterior_vs_ols(
    posterior_table: pd.DataFrame,
    ols_table: pd.DataFrame | None = None,
    bands: Mapping[tuple[str, str], pd.DataFrame] | pd.DataFrame | None = None,
    *,
    populations: tuple[str, ...] = ("thin", "thick"),
    hdi_prob: float = 0.98,
    rates: Mapping[tuple[str, str], object] | None = None,
    truth: pd.DataFrame | None = None,
    errors: str = "auto",
    radius: str = "R_g",
):
    """Gradient vs age per population: OLS points, posterior points, MGAR lines, HDI bands.

    Parameters
    ----------
    posterior_table : pandas.DataFrame
        ``mgar_bayes.csv`` rows (columns ``population, model, age_center,
        gradient, gradient_err``, and ``hdi_lo, hdi_hi`` for HDI error bars;
        gradients in dex/kpc, ages in Gyr). Every model in it is drawn, each with
        its own marker and line style, in the population's Bayesian colour
        (:data:`BAYES_COLORS`).
    ols_table : pandas.DataFrame, optional
        OLS table of :mod:`mgar_bayes.ols`; rows with ``method == 'ols'`` are drawn
        with their 1 sigma errors in the population colours.
    bands : mapping or pandas.DataFrame, optional
        The MGAR line (posterior mean) and its HDI band of each (population,
        model): ``{(population, model): DataFrame(age, mean, hdi_lo, hdi_hi)}`` or
        the long table of :func:`bands_table`, whose ``rate_*`` columns supply
        rates not given in ``rates``.
    populations : tuple of str
        One panel each.
    hdi_prob : float
        Probability of the HDIs (bands and HDI error bars), for the legend.
    rates : mapping, optional
        Flattening rate of each (population, model) [dex/kpc/Gyr] for the legend:
        ``(mean, hdi_lo, hdi_hi)`` or a ``{"mean", "hdi_lo", "hdi_hi"}`` dict (the
        runner's ``flattening_rate``). Without one, the legend gives the slope of
        the band's mean line (no interval).
    truth : pandas.DataFrame, optional
        True per-bin gradients of a simulated catalogue (``truth_bins.csv``:
        ``population, age_center, gradient_true``, optionally
        ``gradient_true_err``), drawn as open diamonds joined by a line.
    errors : {"auto", "hdi", "sd"}
        Error bars of the posterior points: the per-bin ``hdi_prob`` HDI, or the
        posterior sd; "auto": the HDI where the table has it, else the sd. The
        legend says which.
    radius : {"R_g", "R"}
        The radius the gradients are measured against (for the axis label).

    Returns
    -------
    fig : matplotlib.figure.Figure
    axes : numpy.ndarray of matplotlib.axes.Axes, shape (len(populations),)
        Panel titles "thin disk", "thick disk". Artist gids: ``"ols-p"``,
        ``"bins-p-m"`` (posterior points of model m), ``"line-p-m"``,
        ``"band-p-m"`` and ``"truth-p"``.

    Raises
    ------
    ValueError
        If ``errors`` is not one of the above or a rate is malformed.
    """
    if errors not in ("auto", "hdi", "sd"):
        raise ValueError(f"errors must be 'auto', 'hdi' or 'sd', got {errors!r}")
    band_map, stored_rates = _as_band_dict(bands)
    rate_map = {**stored_rates, **{k: r for k, v in (rates or {}).items() if (r := _rate_tuple(v))}}
    has_hdi = {"hdi_lo", "hdi_hi"} <= set(posterior_table.columns)
    use_hdi = errors == "hdi" or (errors == "auto" and has_hdi)
    if use_hdi and not has_hdi:
        raise ValueError("errors='hdi' needs the columns hdi_lo and hdi_hi")
    err_text = f"mean, {hdi_prob:.0%} HDI" if use_hdi else "mean \u00b1 posterior sd"

    fig = Figure(figsize=(6.2 * len(populations), 5.4), layout="constrained")
    axes = fig.subplots(1, len(populations), squeeze=False)[0]
    models = list(dict.fromkeys(posterior_table["model"].astype(str))) if len(posterior_table) else []
    models += [m for _, m in band_map if m not in models]
    for ax, pop in zip(axes, populations, strict=True):
        ols_colour = POP_COLORS.get(pop, "black")
        bayes_colour = BAYES_COLORS.get(pop, "purple")
        if ols_table is not None and len(ols_table):
            o = ols_table[(ols_table["population"] == pop) & (ols_table["method"] == "ols")]
            if len(o):
                eb = ax.errorbar(o["age_center"].to_numpy(float), o["gradient"].to_numpy(float),
                                 o["gradient_err"].to_numpy(float), fmt="o",
                                 color=ols_colour, ms=5, capsize=2, zorder=3,
                                 label="OLS per bin (\u00b11\u03c3)")
                eb.lines[0].set_gid(f"ols-{pop}")
        for i, model in enumerate(models):
            marker, ls = _MODEL_STYLES[i % len(_MODEL_STYLES)]
            p = posterior_table[(posterior_table["population"] == pop)
                                & (posterior_table["model"].astype(str) == model)]
            if len(p):
                dx = 0.12 * (i + 1)  # offset so the points do not hide each other
                y = p["gradient"].to_numpy(float)
                if use_hdi:
                    yerr = np.vstack([y - p["hdi_lo"].to_numpy(float), p["hdi_hi"].to_numpy(float) - y])
                    yerr = np.clip(np.nan_to_num(yerr), 0.0, None)
                else:
                    yerr = p["gradient_err"].to_numpy(float)
                eb = ax.errorbar(p["age_center"].to_numpy(float) + dx, y, yerr, fmt=marker,
                                 color=bayes_colour, mfc=bayes_colour if i == 0 else "white",
                                 ms=5, capsize=2, zorder=4, label=f"Bayes {model} per bin ({err_text})")
                eb.lines[0].set_gid(f"bins-{pop}-{model}")
            band = band_map.get((pop, model))
            if band is not None:
                age = np.asarray(band["age"], float)
                mean = np.asarray(band["mean"], float)
                rate = rate_map.get((pop, model))
                if rate is not None and np.isfinite(rate[1]) and np.isfinite(rate[2]):
                    rate_txt = f"rate {rate[0]:+.4f} [{rate[1]:+.4f}, {rate[2]:+.4f}] {_RATE_UNIT}"
                elif rate is not None:
                    rate_txt = f"rate {rate[0]:+.4f} {_RATE_UNIT}"
                else:
                    # the mean of a posterior of lines is itself a line: its slope is the mean rate
                    slope = np.polyfit(age, mean, 1)[0] if age.size > 1 else np.nan
                    rate_txt = f"rate {slope:+.4f} {_RATE_UNIT}"
                (ln,) = ax.plot(age, mean, color=bayes_colour, lw=1.6, ls=ls, zorder=2,
                                label=f"Bayes {model} MGAR: {rate_txt}")
                ln.set_gid(f"line-{pop}-{model}")
                poly = ax.fill_between(age, band["hdi_lo"], band["hdi_hi"], color=bayes_colour,
                                       alpha=0.15, lw=0, zorder=1)
                poly.set_gid(f"band-{pop}-{model}")
        if truth is not None and len(truth):
            col = "gradient_true" if "gradient_true" in truth.columns else "gradient"
            tr = truth[truth["population"].astype(str) == pop].sort_values("age_center")
            if len(tr):
                terr = (np.nan_to_num(tr["gradient_true_err"].to_numpy(float))
                        if "gradient_true_err" in tr.columns else None)
                teb = ax.errorbar(tr["age_center"].to_numpy(float), tr[col].to_numpy(float), terr,
                                  fmt="D-", color=TRUTH_COLOR,
                                  mfc="white", mec=TRUTH_COLOR, ms=6, mew=1.4, lw=1.1, capsize=2,
                                  zorder=5, label=TRUTH_LABEL)
                teb.lines[0].set_gid(f"truth-{pop}")
        y0, y1 = ax.get_ylim()
        if y0 < 0.0 < y1:  # the zero line only where it does not stretch the axis
            ax.axhline(0.0, color="0.6", lw=0.8, ls=":", zorder=0)
        ax.set_title(POP_LABELS.get(pop, pop))
        ax.set_xlabel("age [Gyr]")
        ax.set_ylabel(GRADIENT_LABELS.get(radius, GRADIENT_LABELS["R_g"]))
        handles, labels = ax.get_legend_handles_labels()
        if any(band_map.get((pop, m)) is not None for m in models):
            handles.append(Line2D([], [], color=bayes_colour, lw=6, alpha=0.25))
            labels.append(f"{hdi_prob:.0%} HDI of each MGAR line")
        if handles:
            # below the panel: the bands and points fill the data area
            ax.legend(handles, labels, fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.13),
                      ncols=1, frameon=False)
    fig.suptitle("Bayesian MGAR vs per-bin OLS (C25 Fig. A1 analogue)")
    return fig, np.asarray(axes)
