"""C25 Fig. A1 analogue (plot_posterior_vs_ols) on synthetic tables: no sampling."""

import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import same_color

from mgar_bayes.models.plotting import (
    BAND_COLUMNS,
    BAYES_COLORS,
    bands_table,
    plot_posterior_vs_ols,
)
from mgar_bayes.plots import GRADIENT_LABELS, POP_COLORS, TRUTH_COLOR

CENTRES = np.array([3.0, 5.0, 7.0])
MODELS = ("marginal", "hierarchical")
LINE = {"thin": (-0.07, 0.003), "thick": (0.013, 0.0)}  # gradient at age 0, rate


def _posterior() -> pd.DataFrame:
    rows = []
    for pop, (a, b) in LINE.items():
        for k, model in enumerate(MODELS):
            for c in CENTRES:
                g = a + b * c + 0.001 * k
                rows.append({"population": pop, "model": model, "age_lo": c - 1, "age_hi": c + 1,
                             "age_center": c, "n_stars": 80, "gradient": g, "gradient_err": 0.002,
                             "hdi_lo": g - 0.005, "hdi_hi": g + 0.004})
    return pd.DataFrame(rows)


def _ols() -> pd.DataFrame:
    rows = [{"population": pop, "method": m, "age_center": c, "gradient": a + b * c, "gradient_err": 0.003}
            for pop, (a, b) in LINE.items() for m in ("ols", "odr") for c in CENTRES]
    return pd.DataFrame(rows)


def _bands() -> dict:
    ages = np.linspace(2.0, 8.0, 7)
    out = {}
    for pop, (a, b) in LINE.items():
        for k, model in enumerate(MODELS):
            mean = a + b * ages + 0.001 * k
            out[(pop, model)] = pd.DataFrame({"age": ages, "mean": mean, "hdi_lo": mean - 0.004,
                                              "hdi_hi": mean + 0.004})
    return out


def _gid(ax, gid):
    found = [a for a in ax.get_children() if a.get_gid() == gid]
    assert len(found) == 1, f"expected one artist with gid {gid!r}, found {len(found)}"
    return found[0]


def _legend(ax):
    return [t.get_text() for t in ax.get_legend().get_texts()]


def test_every_models_band_is_drawn_in_population_colours():
    fig, axes = plot_posterior_vs_ols(_posterior(), _ols(), _bands())
    for ax, pop in zip(axes, ("thin", "thick"), strict=True):
        assert ax.get_title() == f"{pop} disk"
        assert same_color(_gid(ax, f"ols-{pop}").get_color(), POP_COLORS[pop])
        styles = set()
        for model in MODELS:
            band = _gid(ax, f"band-{pop}-{model}")
            assert same_color(band.get_facecolor()[0][:3], BAYES_COLORS[pop])
            line = _gid(ax, f"line-{pop}-{model}")
            assert same_color(line.get_color(), BAYES_COLORS[pop])
            np.testing.assert_allclose(line.get_ydata(), _bands()[(pop, model)]["mean"])
            styles.add(str(line.get_linestyle()))
            pts = _gid(ax, f"bins-{pop}-{model}")
            assert same_color(pts.get_color(), BAYES_COLORS[pop])
        assert len(styles) == 2  # the models told apart by line style, not colour
    assert not same_color(BAYES_COLORS["thin"], BAYES_COLORS["thick"])


def test_long_band_table_keeps_every_model_and_its_rate():
    rates = {("thin", "marginal"): {"mean": 0.0031, "sd": 1e-4, "hdi_lo": 0.0027, "hdi_hi": 0.0035},
             ("thin", "hierarchical"): (0.0029, 0.0024, 0.0034)}
    table = bands_table(_bands(), rates)
    assert list(table.columns) == BAND_COLUMNS
    assert set(zip(table["population"], table["model"], strict=True)) == set(_bands())
    # a table read back from CSV draws both models, with the stored rates
    back = pd.read_csv(pd.io.common.StringIO(table.to_csv(index=False)))
    fig, axes = plot_posterior_vs_ols(_posterior(), _ols(), back)
    labels = _legend(axes[0])
    assert any("marginal" in t and "+0.0031 [+0.0027, +0.0035]" in t for t in labels)
    assert any("hierarchical" in t and "+0.0029 [+0.0024, +0.0034]" in t for t in labels)
    # no rate stored (thick): the slope of the mean line, without an interval
    assert any("marginal" in t and "rate +0.0000" in t and "[" not in t for t in _legend(axes[1]))
    for model in MODELS:
        _gid(axes[0], f"band-thin-{model}")


def test_rates_argument_overrides_and_error_bars_are_named():
    fig, axes = plot_posterior_vs_ols(_posterior(), _ols(), _bands(),
                                      rates={("thick", "marginal"): (0.0001, -0.0004, 0.0006)})
    assert any("+0.0001 [-0.0004, +0.0006]" in t for t in _legend(axes[1]))
    assert any("98% HDI" in t for t in _legend(axes[0]))
    pts = _gid(axes[0], "bins-thin-marginal")
    assert pts is not None
    fig, axes = plot_posterior_vs_ols(_posterior(), _ols(), errors="sd")
    assert any("posterior sd" in t for t in _legend(axes[0]))
    with pytest.raises(ValueError, match="errors"):
        plot_posterior_vs_ols(_posterior(), errors="iqr")
    with pytest.raises(ValueError, match="hdi_lo"):
        plot_posterior_vs_ols(_posterior().drop(columns=["hdi_lo"]), errors="hdi")


def test_truth_and_the_shared_gradient_label():
    truth = pd.DataFrame([{"population": pop, "age_center": c, "gradient_true": a + b * c,
                           "gradient_true_err": 0.001}
                          for pop, (a, b) in LINE.items() for c in CENTRES])
    fig, axes = plot_posterior_vs_ols(_posterior(), _ols(), _bands(), truth=truth)
    for ax, pop in zip(axes, ("thin", "thick"), strict=True):
        t = _gid(ax, f"truth-{pop}")
        assert same_color(t.get_color(), TRUTH_COLOR)
        np.testing.assert_allclose(t.get_ydata(), truth.loc[truth["population"] == pop, "gradient_true"])
        assert ax.get_ylabel() == GRADIENT_LABELS["R_g"]
        assert "nabla" not in ax.get_ylabel()
    fig, axes = plot_posterior_vs_ols(_posterior(), radius="R")
    assert axes[0].get_ylabel() == GRADIENT_LABELS["R"]
