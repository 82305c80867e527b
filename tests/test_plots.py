"""Tests of mgar_bayes.plots on a small seeded synthetic sample."""

import os
import sys

os.environ.setdefault("MPLBACKEND", "Agg")

import matplotlib  # noqa: E402

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from mgar_bayes import plots  # noqa: E402
from mgar_bayes.selection import chem_line  # noqa: E402

R0 = 8.27
EDGES = np.linspace(1.0, 12.25, 10)  # C25: nine 1.25 Gyr bins
TRUE_GRAD = {"thin": lambda t: -0.075 + 0.0016 * t, "thick": lambda t: 0.013 + 0.0 * t}


def make_stars(n: int = 500, seed: int = 1) -> pd.DataFrame:
    """Synthetic star table: thin (45%), thick (35%) and neither (20%) stars."""
    rng = np.random.default_rng(seed)
    pop = rng.choice(["thin", "thick", ""], size=n, p=[0.45, 0.35, 0.20])
    thin = pop == "thin"
    thick = pop == "thick"
    age = np.where(thin, rng.uniform(1.0, 10.0, n), rng.uniform(4.0, 12.2, n))
    R_g = np.where(thick, rng.normal(7.5, 1.5, n), rng.normal(9.0, 2.0, n)).clip(4.0, 16.0)
    grad = np.where(thin, TRUE_GRAD["thin"](age), TRUE_GRAD["thick"](age))
    feh0 = np.where(thin, 0.0, np.where(thick, -0.6, -0.3))
    feh = feh0 + grad * (R_g - R0) + rng.normal(0.0, 0.08, n)
    afe = np.where(thin, 0.03, np.where(thick, 0.22, 0.1)) + rng.normal(0.0, 0.03, n)
    Z_max = np.where(thin, rng.uniform(0.02, 0.25, n),
                     np.where(thick, rng.uniform(2.0, 5.0, n), rng.uniform(0.25, 2.0, n)))
    R = R_g + rng.normal(0.0, 0.5, n)
    phi = rng.normal(np.pi, 0.1, n)  # around the Sun's azimuth (x = -R0)
    z = Z_max * rng.uniform(-1.0, 1.0, n)
    idx = np.searchsorted(EDGES, age, side="right") - 1
    idx[(idx < 0) | (idx >= len(EDGES) - 1)] = -1
    return pd.DataFrame({
        "feh": feh, "afe": afe, "age": age, "R": R, "z": z,
        "x": R * np.cos(phi), "y": R * np.sin(phi), "R_g": R_g, "Z_max": Z_max,
        "population": pop, "age_bin": idx,
    })


def make_fits(method: str = "ols") -> pd.DataFrame:
    """Fit table in the contract's layout; the oldest thin bin has too few stars."""
    rows = []
    lo, hi = EDGES[:-1], EDGES[1:]
    for pop in ("thin", "thick"):
        for k in range(len(lo)):
            c = 0.5 * (lo[k] + hi[k])
            g = TRUE_GRAD[pop](c)
            too_few = pop == "thin" and k == len(lo) - 1
            rows.append({
                "population": pop, "method": method, "age_lo": lo[k], "age_hi": hi[k],
                "age_center": c, "n_stars": 3 if too_few else 40,
                "gradient": np.nan if too_few else g,
                "gradient_err": np.nan if too_few else 0.004,
                "intercept": np.nan if too_few else (0.0 if pop == "thin" else -0.6) - g * R0,
            })
    return pd.DataFrame(rows, columns=list(plots.FIT_COLUMNS))


TREND_COV = [[1.0e-5, -1.0e-6], [-1.0e-6, 2.0e-7]]  # (intercept, rate)
TRENDS = {
    ("thin", "ols"): {"rate": 0.0016, "rate_err": 4.5e-4, "intercept": -0.075,
                      "intercept_err": 3.2e-3, "cov": TREND_COV},
    ("thick", "ols"): {"rate": -0.0005, "rate_err": 4.5e-4, "intercept": 0.017,
                       "intercept_err": 3.2e-3, "cov": TREND_COV},
}


@pytest.fixture(scope="module")
def stars():
    return make_stars()


@pytest.fixture(scope="module")
def fits():
    return make_fits()


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _by_gid(ax, gid):
    found = [a for a in ax.get_children() if a.get_gid() == gid]
    assert len(found) == 1, f"expected one artist with gid {gid!r}, found {len(found)}"
    return found[0]


def _band_edges_at(poly, xs):
    """Lowest and highest y of the band polygon at each x of ``xs``."""
    verts = poly.get_paths()[0].vertices
    lo, hi = [], []
    for x in xs:
        ys = verts[np.isclose(verts[:, 0], x), 1]
        assert ys.size >= 2, f"band has no vertices at x={x}"
        lo.append(ys.min())
        hi.append(ys.max())
    return np.array(lo), np.array(hi)


# ----------------------------------------------------------------- sample overview


def test_overview_axes_labels_and_selection_lines(stars):
    fig, axes = plots.plot_sample_overview(stars)
    assert isinstance(fig, Figure)
    assert axes.shape == (2, 2)
    assert len(fig.axes) == 8  # four panels and their colour bars
    a, b, c, d = axes.ravel()
    assert "kpc" in a.get_xlabel() and "kpc" in a.get_ylabel()
    assert "kpc" in b.get_xlabel() and "kpc" in b.get_ylabel()
    assert "dex" in c.get_xlabel() and "dex" in c.get_ylabel()
    assert "kpc" in d.get_xlabel() and "kpc" in d.get_ylabel()
    assert d.get_yscale() == "log"
    # (b) Sun at (-R0, 0)
    sun = [ln for ln in b.get_lines() if ln.get_label().startswith("Sun")]
    assert len(sun) == 1
    np.testing.assert_allclose(sun[0].get_xydata(), [[-R0, 0.0]])
    # (c) the C25 line black, the V21 line grey, both as in mgar_bayes.selection
    lines = {ln.get_label().split()[0]: ln for ln in c.get_lines()}
    assert set(lines) == {"C25", "V21"}
    assert matplotlib.colors.same_color(lines["C25"].get_color(), "black")
    assert not matplotlib.colors.same_color(lines["V21"].get_color(), "black")
    for name, ln in lines.items():
        x, y = ln.get_data()
        np.testing.assert_allclose(y, chem_line(x, name))
    # (d) geometric cuts in the population colours
    hl = {round(ln.get_ydata()[0], 6): ln.get_color() for ln in d.get_lines()}
    assert matplotlib.colors.same_color(hl[0.25], plots.POP_COLORS["thin"])
    assert matplotlib.colors.same_color(hl[2.0], plots.POP_COLORS["thick"])


def test_overview_face_on_zooms_to_the_stars_and_points_to_the_centre(stars):
    fig, axes = plots.plot_sample_overview(stars)
    b = axes[0, 1]
    x0, x1 = b.get_xlim()
    y0, y1 = b.get_ylim()
    # the Sun in frame, the far-away centre not: an arrow points to it instead
    assert x0 < -R0 < x1 and y0 < 0.0 < y1
    # zoomed to the stars with margins, not stretched to hold the centre
    wx = stars["x"].max() - stars["x"].min()
    assert stars["x"].min() - 0.2 * wx < x0 < stars["x"].min()
    assert stars["x"].max() < x1 < min(0.0, stars["x"].max() + 0.2 * wx)
    assert [t for t in b.texts if t.get_gid() == "gc-arrow"]
    assert not [ln for ln in b.get_lines() if ln.get_label() == "Galactic centre"]
    # stars all around the centre: the centre is marked, no arrow
    rng = np.random.default_rng(0)
    phi, r = rng.uniform(0, 2 * np.pi, 400), rng.uniform(2.0, 12.0, 400)
    ring = stars.sample(400, replace=True, random_state=0).reset_index(drop=True)
    ring["x"], ring["y"] = r * np.cos(phi), r * np.sin(phi)
    fig, axes = plots.plot_sample_overview(ring)
    b = axes[0, 1]
    assert [ln for ln in b.get_lines() if ln.get_label() == "Galactic centre"]
    assert not [t for t in b.texts if t.get_gid() == "gc-arrow"]


def test_overview_shifted_v21_selection(stars):
    fig, axes = plots.plot_sample_overview(stars, line="V21", shift=0.1,
                                           thin_zmax=0.5, thick_zmax=3.0)
    c, d = axes.ravel()[2:]
    black = [ln for ln in c.get_lines() if matplotlib.colors.same_color(ln.get_color(), "black")]
    assert len(black) == 1 and black[0].get_label().startswith("V21")
    x, y = black[0].get_data()
    np.testing.assert_allclose(y, chem_line(x, "V21") + 0.1)
    assert {round(ln.get_ydata()[0], 6) for ln in d.get_lines()} == {0.5, 3.0}


def test_overview_bad_line_and_missing_columns(stars):
    with pytest.raises(ValueError, match="V22"):
        plots.plot_sample_overview(stars, line="V22")
    with pytest.raises(ValueError, match=r"afe.*feh|feh.*afe"):
        plots.plot_sample_overview(stars.drop(columns=["feh", "afe"]))


def test_overview_without_velocities_says_so(stars):
    # a positions-only table (no velocities) has no R_g or Z_max: panel (d) says why it is empty
    fig, axes = plots.plot_sample_overview(stars.drop(columns=["R_g", "Z_max"]), thin_zmax=None, thick_zmax=None)
    assert any("no velocities" in t.get_text() for t in axes[1, 1].texts)
    fig, axes = plots.plot_populations(stars, radius="R")
    assert axes[0].get_xlabel().startswith("$R$")


def test_overview_empty_table_says_no_stars(stars):
    fig, axes = plots.plot_sample_overview(stars.iloc[:0])
    for ax in axes.ravel():
        assert any(t.get_text() == "no stars" for t in ax.texts)


# -------------------------------------------------------------------- populations


def test_populations_axes_and_content(stars):
    fig, axes = plots.plot_populations(stars)
    assert isinstance(fig, Figure)
    assert len(axes) == 2 and len(fig.axes) == 2
    top, bottom = axes
    assert "kpc" in top.get_xlabel() and "dex" in top.get_ylabel()
    assert "Gyr" in bottom.get_xlabel()
    # a density (2D histogram) per population, counting that population's stars only,
    # with 20/80/95% contours and a running median in the population's colour
    for pop in ("thin", "thick"):
        n_pop = int((stars["population"] == pop).sum())
        mesh = _by_gid(top, f"density-{pop}")
        assert mesh.get_array().sum() <= n_pop and mesh.get_array().sum() > 0.9 * n_pop
        cs = _by_gid(top, f"contours-{pop}")
        assert len(cs.levels) == 3
        assert matplotlib.colors.same_color(_by_gid(top, f"median-{pop}").get_color(),
                                            plots.POP_COLORS[pop])
    # the step histograms count every star of each population
    steps = [p for p in bottom.patches if not p.get_fill()]
    assert len(steps) == 2
    labels = [t.get_text() for t in bottom.get_legend().get_texts()]
    assert labels[0].startswith("thin") and labels[1].startswith("thick")


def test_populations_age_axis_follows_the_analysis_bins(stars):
    noisy = stars.copy()
    noisy.loc[noisy.index[:20], "age"] = 28.0  # stray ages of a noisy catalogue
    fig, axes = plots.plot_populations(noisy, age_edges=EDGES)
    bottom = axes[1]
    lo, hi = bottom.get_xlim()
    assert lo == 0.0 and EDGES[-1] < hi <= EDGES[-1] + 1.0
    edges = _by_gid(bottom, "age-edges")
    xs = sorted({round(seg[0][0], 9) for seg in edges.get_segments()})
    np.testing.assert_allclose(xs, EDGES)
    assert any("not shown" in t.get_text() for t in bottom.texts)
    with pytest.raises(ValueError, match="increasing"):
        plots.plot_populations(stars, age_edges=[2.0, 1.0])


def test_populations_empty_population(stars):
    fig, axes = plots.plot_populations(stars[stars["population"] != "thick"])
    assert any("no stars" in t.get_text() and "thick" in t.get_text() for t in axes[0].texts)
    with pytest.raises(ValueError, match="R_g"):
        plots.plot_populations(stars.drop(columns=["R_g"]))


# --------------------------------------------------------------------------- MGAR


def test_mgar_points_trend_line_and_band(fits):
    fig, axes = plots.plot_mgar(fits, TRENDS)
    assert isinstance(fig, Figure)
    assert len(axes) == 2 and len(fig.axes) == 2
    assert "kpc" in axes[0].get_ylabel() and "Gyr" in axes[1].get_xlabel()
    for ax, pop in zip(axes, ("thin", "thick"), strict=True):
        rows = fits[fits["population"] == pop]
        ok = rows["gradient"].notna()
        # binned points: NaN bins left out
        pts = _by_gid(ax, f"bins-{pop}")
        np.testing.assert_allclose(pts.get_xdata(), rows.loc[ok, "age_center"])
        np.testing.assert_allclose(pts.get_ydata(), rows.loc[ok, "gradient"])
        # trend line passes through intercept + rate * age at every bin centre
        t = TRENDS[(pop, "ols")]
        line = _by_gid(ax, f"trend-{pop}")
        x, y = (np.asarray(v, float) for v in line.get_data())
        centers = rows["age_center"].to_numpy()
        at = np.array([np.flatnonzero(np.isclose(x, c))[0] for c in centers])
        np.testing.assert_allclose(y[at], t["intercept"] + t["rate"] * centers, rtol=1e-12)
        assert x.min() == pytest.approx(EDGES[0]) and x.max() == pytest.approx(EDGES[-1])
        # the band contains the line, and has the 98% normal half-width from cov
        lo, hi = _band_edges_at(_by_gid(ax, f"band-{pop}"), x)
        assert np.all(lo < y) and np.all(y < hi)
        cov = np.asarray(t["cov"])
        sd = np.sqrt(cov[0, 0] + 2 * x * cov[0, 1] + x**2 * cov[1, 1])
        np.testing.assert_allclose(0.5 * (hi - lo), 2.3263478740 * sd, rtol=1e-6)


def test_mgar_xerr_is_half_bin_width(fits):
    fig, axes = plots.plot_mgar(fits)
    ax = axes[1]
    # errorbar's LineCollections: x error bar segments span age_lo..age_hi
    segs = [s for coll in ax.collections for s in coll.get_segments()
            if np.isclose(s[0][1], s[1][1])]
    spans = sorted((round(s[0][0], 9), round(s[1][0], 9)) for s in segs)
    expect = sorted((round(a, 9), round(b, 9)) for a, b in zip(EDGES[:-1], EDGES[1:], strict=True))
    assert spans == expect


def test_mgar_band_width_follows_band_prob(fits):
    widths = []
    for prob in (0.68, 0.98):
        fig, axes = plots.plot_mgar(fits, TRENDS, band_prob=prob)
        x = _by_gid(axes[0], "trend-thin").get_xdata()
        lo, hi = _band_edges_at(_by_gid(axes[0], "band-thin"), x[:3])
        widths.append(hi - lo)
        plt.close(fig)
    assert np.all(widths[1] > 2 * widths[0])
    with pytest.raises(ValueError, match="band_prob"):
        plots.plot_mgar(fits, TRENDS, band_prob=1.0)


@pytest.mark.parametrize("with_arviz", [True, False])
def test_mgar_nested_trends_and_draws_band(fits, monkeypatch, with_arviz):
    if not with_arviz:
        monkeypatch.setitem(sys.modules, "arviz", None)  # import arviz -> ImportError
    rng = np.random.default_rng(3)
    mean = [-0.075, 0.0016]
    draws = rng.multivariate_normal(mean, TREND_COV, size=4000)
    nested = {"thin": {"ols": {"rate": mean[1], "intercept": mean[0], "draws": draws}}}
    fig, axes = plots.plot_mgar(fits, nested)
    band_label = "HDI" if with_arviz else "interval"
    assert any(band_label in t.get_text() for t in axes[0].get_legend().get_texts())
    line = _by_gid(axes[0], "trend-thin")
    x, y = (np.asarray(v, float) for v in line.get_data())
    lo, hi = _band_edges_at(_by_gid(axes[0], "band-thin"), x)
    assert np.all(lo < y) and np.all(y < hi)
    # ~ the same width as the normal 98% interval of the same covariance
    cov = np.asarray(TREND_COV)
    sd = np.sqrt(cov[0, 0] + 2 * x * cov[0, 1] + x**2 * cov[1, 1])
    np.testing.assert_allclose(0.5 * (hi - lo), 2.326 * sd, rtol=0.1)
    # no thick trend given: no line there
    assert not [a for a in axes[1].get_children() if a.get_gid() == "trend-thick"]


def test_mgar_reference_points_in_black(fits):
    ref = pd.DataFrame({
        "source": ["V21", "V21", "other"], "population": ["thin", "thin", "thin"],
        "age_center": [2.0, 6.0, 4.0], "gradient": [-0.07, -0.06, -0.05],
        "gradient_err": [0.005, 0.005, 0.01],
    })
    fig, axes = plots.plot_mgar(fits, TRENDS, reference=ref)
    labels = [t.get_text() for t in axes[0].get_legend().get_texts()]
    assert "V21" in labels and "other" in labels
    v21 = _by_gid(axes[0], "reference-thin-V21")
    assert matplotlib.colors.same_color(v21.get_color(), "black")
    np.testing.assert_allclose(v21.get_xdata(), [2.0, 6.0])
    np.testing.assert_allclose(v21.get_ydata(), [-0.07, -0.06])
    assert "V21" not in [t.get_text() for t in axes[1].get_legend().get_texts()]
    with pytest.raises(ValueError, match="source"):
        plots.plot_mgar(fits, reference=ref.drop(columns=["source"]))


def make_truth() -> pd.DataFrame:
    """A truth table in the layout of mock.truth (truth_bins.csv)."""
    rows = []
    for pop in ("thin", "thick"):
        for lo, hi in zip(EDGES[:-1], EDGES[1:], strict=True):
            c = 0.5 * (lo + hi)
            rows.append({"population": pop, "age_lo": lo, "age_hi": hi, "age_center": c,
                         "n_true": 100, "gradient_true": TRUE_GRAD[pop](c) + 0.001,
                         "gradient_true_err": 0.0005, "gradient_analytic": TRUE_GRAD[pop](c)})
    return pd.DataFrame(rows)


def test_mgar_draws_the_truth_when_given(fits):
    truth = make_truth()
    fig, axes = plots.plot_mgar(fits, TRENDS, truth=truth)
    for ax, pop in zip(axes, ("thin", "thick"), strict=True):
        tr = truth[truth["population"] == pop]
        line = _by_gid(ax, f"truth-{pop}")
        np.testing.assert_allclose(line.get_xdata(), tr["age_center"])
        np.testing.assert_allclose(line.get_ydata(), tr["gradient_true"])
        assert matplotlib.colors.same_color(line.get_color(), plots.TRUTH_COLOR)
        assert plots.TRUTH_LABEL in [t.get_text() for t in ax.get_legend().get_texts()]
    fig, axes = plots.plot_mgar(fits, TRENDS)
    assert not [a for a in axes[0].get_children() if a.get_gid() == "truth-thin"]
    with pytest.raises(ValueError, match="truth table"):
        plots.plot_mgar(fits, truth=truth.drop(columns=["age_center"]))


def test_mgar_draws_the_v21_line_from_the_literature(fits):
    from mgar_bayes import literature

    lines = pd.concat([literature.v21_trend("thin"), literature.v21_trend("thick")])
    fig, axes = plots.plot_mgar(fits, TRENDS, lines=lines)
    thin = _by_gid(axes[0], "line-thin-V21")
    x, y = (np.asarray(v, float) for v in thin.get_data())
    assert x.min() == pytest.approx(1.0) and x.max() == pytest.approx(12.25)
    np.testing.assert_allclose(np.diff(y) / np.diff(x), 0.003)  # V21's rate
    assert y[0] == pytest.approx(-0.075 - 0.003 * 0.625)  # -0.075 at 1.625 Gyr
    np.testing.assert_allclose(_by_gid(axes[1], "line-thick-V21").get_ydata(), 0.02)
    for ax in axes:
        assert "V21 trend (from their text)" in [t.get_text() for t in ax.get_legend().get_texts()]
    with pytest.raises(ValueError, match="lines table"):
        plots.plot_mgar(fits, lines=lines.drop(columns=["source"]))


def test_literature_headlines_and_trend():
    from mgar_bayes import literature

    h = literature.HEADLINES
    assert h["V21"]["thin"]["youngest_gradient"] == -0.075 and h["V21"]["thin"]["rate"] == 0.003
    assert h["V21"]["thick"]["mean_gradient"] == 0.02
    assert h["C25"]["thin"]["rate"] == 0.0016 and h["C25"]["thin"]["youngest_gradient"] == -0.07
    assert h["C25"]["thick"]["mean_gradient"] == 0.013
    assert set(h) <= set(literature.CITATIONS)
    t = literature.v21_trend(ages=[1.625, 11.625])
    np.testing.assert_allclose(t["gradient"], [-0.075, -0.045])
    assert list(t.columns[:2]) == ["age", "gradient"]
    with pytest.raises(ValueError, match="halo"):
        literature.v21_trend("halo")


def test_mgar_method_selection_and_errors(fits):
    both = pd.concat([fits, make_fits("odr").assign(gradient=lambda d: d["gradient"] + 1.0)])
    fig, axes = plots.plot_mgar(both, method="odr")
    pts = _by_gid(axes[0], "bins-thin")
    assert np.all(np.asarray(pts.get_ydata()) > 0.5)  # the odr rows, shifted by +1
    with pytest.raises(ValueError, match="bayes"):
        plots.plot_mgar(fits, method="bayes")
    with pytest.raises(ValueError, match="gradient_err"):
        plots.plot_mgar(fits.drop(columns=["gradient_err"]))


def test_mgar_population_without_fits(fits):
    fig, axes = plots.plot_mgar(fits[fits["population"] == "thin"], TRENDS)
    assert any("no stars" in t.get_text() for t in axes[1].texts)
    assert not any("no stars" in t.get_text() for t in axes[0].texts)


def test_fit_columns_match_ols():
    from mgar_bayes.ols import FIT_COLUMNS

    assert plots.FIT_COLUMNS is FIT_COLUMNS


# ----------------------------------------------------------------------- bin fits


def test_bin_fits_panels_lines_and_counts(stars, fits):
    fig, axes = plots.plot_bin_fits(stars, fits, "thin")
    assert isinstance(fig, Figure)
    assert len(axes) == len(EDGES) - 1 == len(fig.axes)
    thin = stars[stars["population"] == "thin"]
    rows = fits[fits["population"] == "thin"].reset_index(drop=True)
    for i, (ax, row) in enumerate(zip(axes, rows.itertuples(), strict=True)):
        texts = [t.get_text() for t in ax.texts]
        assert f"N = {row.n_stars:,}" in texts
        if np.isfinite(row.gradient):
            x, y = (np.asarray(v, float) for v in _by_gid(ax, f"fit-{i}").get_data())
            np.testing.assert_allclose(y, row.intercept + row.gradient * x)
        else:
            assert any("no fit" in t for t in texts)
        n_here = int(((thin["age"] >= row.age_lo) & (thin["age"] < row.age_hi)).sum())
        if n_here >= 10:
            # contours of the KDE: three levels (20/80/95%)
            cs = [c for c in ax.collections if isinstance(c, matplotlib.contour.ContourSet)]
            assert len(cs) == 1 and len(cs[0].levels) == 3
    assert "kpc" in axes[-1].get_xlabel()
    assert "dex" in axes[0].get_ylabel()


def test_bin_fits_contours_enclose_fractions():
    from scipy.interpolate import RegularGridInterpolator

    rng = np.random.default_rng(0)
    # elongated in x, so that a transposed density grid would fail
    x, y = rng.normal(10.0, 2.0, 3000), rng.normal(0.0, 0.3, 3000)
    xg, yg = np.linspace(2, 18, 161), np.linspace(-1.5, 1.5, 121)
    fractions = (0.2, 0.8, 0.95)
    dens, levels = plots._hdr_levels(x, y, xg, yg, fractions)
    assert dens.shape == (yg.size, xg.size)
    assert np.all(np.diff(levels) < 0)
    # fresh stars from the same distribution fall inside each contour at about p
    interp = RegularGridInterpolator((yg, xg), dens)
    new = np.column_stack([rng.normal(0.0, 0.3, 20000), rng.normal(10.0, 2.0, 20000)])
    new = new[(np.abs(new[:, 0]) < 1.5) & (np.abs(new[:, 1] - 10) < 8)]
    inside = [np.mean(interp(new) > lv) for lv in levels]
    np.testing.assert_allclose(inside, fractions, atol=0.03)
    assert plots._hdr_levels(x[:5], y[:5], xg, yg) is None


def test_bin_fits_empty_bin_and_errors(stars, fits):
    few = stars[~((stars["population"] == "thick") & (stars["age"] < 6.0))]
    fig, axes = plots.plot_bin_fits(few, fits, "thick", ncols=4)
    assert len(axes) == 9 == len(fig.axes)
    assert any(t.get_text() == "no stars" for t in axes[0].texts)
    with pytest.raises(ValueError, match="halo"):
        plots.plot_bin_fits(stars, fits, "halo")
    with pytest.raises(ValueError, match="feh"):
        plots.plot_bin_fits(stars.drop(columns=["feh"]), fits, "thin")


def test_bin_fits_against_present_day_radius(stars, fits):
    fig, axes = plots.plot_bin_fits(stars.drop(columns=["R_g"]), fits, "thin", radius="R")
    assert axes[-1].get_xlabel().startswith("$R$")
    assert "R_\\mathrm{g}" not in fig.get_suptitle()
    with pytest.raises(ValueError, match="radius"):
        plots.plot_bin_fits(stars, fits, "thin", radius="r")


def test_write_figures_writes_bin_fits_and_draws_truth(tmp_path, stars, monkeypatch):
    from types import SimpleNamespace

    from mgar_bayes import reports
    from mgar_bayes.binning import AgeBins
    from mgar_bayes.config import PipelineConfig
    from mgar_bayes.ols import mgar_trend

    fits = pd.concat([make_fits("ols"), make_fits("odr")], ignore_index=True)
    cfg = PipelineConfig()
    result = SimpleNamespace(stars=stars, fits=fits, trend=mgar_trend(fits), bins=AgeBins(tuple(EDGES)),
                             config=cfg)
    seen = {}
    real = plots.plot_mgar

    def spy(*args, **kw):
        seen.setdefault("mgar", []).append(kw)
        return real(*args, **kw)

    monkeypatch.setattr(plots, "plot_mgar", spy)
    save = plots.save_figure
    monkeypatch.setattr(plots, "save_figure", lambda fig, path, **kw: save(fig, path, **{**kw, "dpi": 30}))
    out = reports.write_figures(result, tmp_path, truth_bins=make_truth())
    for pop in cfg.selection.populations:
        path = tmp_path / f"fig4_bin_fits_{pop}.png"
        assert out[f"fig_bin_fits_{pop}"] == path and path.stat().st_size > 1000
    assert {p.name for p in tmp_path.iterdir()} >= {"fig1_sample_overview.png", "fig2_populations.png",
                                                    "fig3_mgar_ols.png", "fig3_mgar_odr.png"}
    for kw in seen["mgar"]:
        assert kw["truth"] is not None
        assert set(kw["lines"]["source"]) == {"V21"}
    # C25 Fig. 5 analogue: the thin disk beside the birth gradient and FIRE-2
    assert out["fig_mgar_literature"] == tmp_path / "fig5_mgar_literature.png"
    seen.clear()
    out = reports.write_figures(result, tmp_path / "more", truth_bins=make_truth(), literature=("anders2023",))
    assert "fig_mgar_literature" in out
    for kw in seen["mgar"]:
        assert kw["lines"] is None and set(kw["reference"]["source"]) == {"anders2023"}
    out = reports.write_figures(result, tmp_path / "none", literature=())
    assert "fig_mgar_literature" not in out and not (tmp_path / "none" / "fig5_mgar_literature.png").exists()


# --------------------------------------------------------------------- robustness


def make_robustness() -> pd.DataFrame:
    """A robustness table: baseline, selection and data variants, one thick-only, one empty."""
    centres = 0.5 * (EDGES[:-1] + EDGES[1:])
    specs = [  # variant, group, setting, value, populations, gradient offset (NaN: no fit)
        ("baseline", "baseline", "baseline", "C25", ("thin", "thick"), 0.0),
        ("chem-0.1 no Zmax", "selection", "chem_shift_no_zmax", "-0.1", ("thin", "thick"), 0.01),
        ("chem+0.1 no Zmax", "selection", "chem_shift_no_zmax", "+0.1", ("thin", "thick"), 0.02),
        ("Zmax only", "selection", "zmax_only", "C25 B2", ("Zmax 0-0.25", "Zmax 2-6"), 0.005),
        ("V21 slices", "selection", "chem_only", "V21 Fig. 10", ("V21-0.1 < chem < V21",), 0.0),
        ("thick R_g <= 10 kpc", "data", "thick_Rg_max", "10", ("thick",), 0.004),
        ("RGB only", "data", "evol_stage", "RGB", ("thin", "thick"), -0.003),
        ("V21 high quality", "data", "v21_high_quality", "V21 4.1.4", ("thin", "thick"), np.nan),
        ("present-day R", "data", "radius", "R", ("thin", "thick"), 0.002),
    ]
    rows = []
    for name, group, setting, value, pops, off in specs:
        for pop in pops:
            f = TRUE_GRAD.get(pop, TRUE_GRAD["thin"])
            for c in centres:
                rows.append({"variant": name, "group": group, "setting": setting, "value": value,
                             "population": pop, "method": "ols", "age_center": c, "n_stars": 50,
                             "gradient": f(c) + off, "gradient_err": 0.003})
    return pd.DataFrame(rows)


def _legend_texts(axes):
    return [t.get_text() for ax in axes for t in ax.get_legend().get_texts()]


def test_robustness_legends_are_human_labels():
    table = make_robustness()
    for group in ("selection", "data"):
        fig, axes = plots.plot_robustness(table, group)
        texts = _legend_texts(axes)
        for raw in {st for st in table["setting"] if "_" in st}:  # identifiers, not words
            assert not any(raw in t for t in texts), (raw, texts)
        assert not any(" = " in t and "_" in t.split(" = ")[0] for t in texts)
    fig, axes = plots.plot_robustness(table, "selection")
    texts = _legend_texts(axes)
    assert "chemical line \u22120.1 dex, no $Z_\\mathrm{max}$ cut" in texts
    assert "baseline (C25 selection)" in texts
    titles = [ax.get_title() for ax in axes]
    assert "$Z_\\mathrm{max}$ 0\u20130.25 kpc" in titles
    assert not any("chem" in t for t in titles)
    assert plots.robustness_label("v0", "200") == "$v_0$ = 200 km s$^{-1}$"
    assert plots.robustness_label("new_knob", "3") == "new knob: 3"


def test_robustness_no_empty_panels_and_no_thin_panel_for_thick_only_variant():
    table = make_robustness()
    fig, axes = plots.plot_robustness(table, "data")
    gids = [ax.get_gid() for ax in axes]
    assert "panel-thick_Rg_max-thick" in gids and "panel-thick_Rg_max-thin" not in gids
    # the variant without any fitted bin gets no panel, only a note
    assert not any("v21_high_quality" in g for g in gids)
    assert any("high-quality" in t.get_text() for t in fig.texts)
    # every axes of the figure is a panel with data
    assert len(fig.axes) == len(axes)
    for ax in axes:
        assert ax.get_visible() and ax.has_data()
    # the present-day radius variant is labelled as a gradient in R
    radius = [ax for ax in axes if ax.get_gid() == "panel-radius-thin"][0]
    assert radius.get_ylabel() == plots.GRADIENT_LABELS["R"]


def test_robustness_variant_identical_to_baseline_is_not_redrawn():
    table = make_robustness()
    same = table[(table["group"] == "baseline") & (table["population"] == "thin")].assign(
        variant="thick R_g <= 10 kpc", group="data", setting="thick_Rg_max", value="10")
    fig, axes = plots.plot_robustness(pd.concat([table, same], ignore_index=True), "data")
    gids = [ax.get_gid() for ax in axes]
    assert "panel-thick_Rg_max-thin" not in gids
    assert any("identical to the baseline" in t.get_text() for t in fig.texts)
    with pytest.raises(ValueError, match="galaxy"):
        plots.plot_robustness(table, "galaxy")


# -------------------------------------------------------------------- save_figure


def test_save_figure_writes_png_and_refuses_overwrite(tmp_path, fits):
    fig, _ = plots.plot_mgar(fits, TRENDS)
    path = tmp_path / "sub" / "dir" / "mgar.png"
    out = plots.save_figure(fig, path, dpi=60)
    assert out == path
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not plt.fignum_exists(fig.number)  # closed
    size = path.stat().st_size
    fig2, _ = plots.plot_mgar(fits)
    with pytest.raises(FileExistsError, match="mgar.png"):
        plots.save_figure(fig2, path)
    assert path.stat().st_size == size
    plots.save_figure(fig2, path, overwrite=True, dpi=50)
    assert path.stat().st_size != size
