"""Published MGARs as package data: tables, citations, overlays and the Fig. 5 analogue."""

import os

os.environ.setdefault("MPLBACKEND", "Agg")

import hashlib  # noqa: E402
from importlib import resources  # noqa: E402
from pathlib import Path  # noqa: E402

import matplotlib  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from mgar_bayes import literature, plots  # noqa: E402

SHARED = (
    Path(os.environ.get("MGAR_SHARED", Path(__file__).resolve().parents[2] / "shared"))
    / "literature"
)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_every_dataset_loads_with_its_citation_and_sane_values():
    listing = literature.datasets()
    assert list(listing["name"]) == list(literature.DATASETS)
    assert listing["citation"].str.len().gt(10).all()
    for name in literature.DATASETS:
        t = literature.load(name)
        assert list(t.columns) == list(literature.TABLE_COLUMNS)
        assert len(t) >= 2, name
        assert t["gradient"].between(-0.2, 0.05).all(), name  # dex/kpc: no unit slip
        assert t["age_center"].between(0.0, 13.5).all(), name
        assert (t["citation"] == literature.CITATIONS[literature.DATASETS[name].citation]).all()


def test_anders_values_and_radius_choice():
    rg = literature.load("anders2023")
    r = literature.load("anders2023", radius="R")
    # the first 0.5-Gyr bin of the |Z| < 0.3 kpc table (Anders et al. 2023)
    first = rg.iloc[0]
    assert (first["age_lo"], first["age_hi"]) == (0.5, 1.0)
    assert first["gradient"] == pytest.approx(-0.06788)
    assert (first["gradient_err_lo"], first["gradient_err_hi"]) == pytest.approx((0.00140, 0.00151))
    assert r.iloc[0]["gradient"] == pytest.approx(-0.06074)
    assert set(rg["radius"]) == {"R_g"} and set(r["radius"]) == {"R"}
    with pytest.raises(ValueError, match="radius"):
        literature.load("anders2023", radius="R_birth")


def test_compilation_split_by_source_and_missing_errors_are_nan():
    fire = literature.load("fire2")
    assert fire["source"].nunique() == 4
    assert fire.groupby("source").size().eq(13).all()
    assert fire["label"].str.contains("age errors").all()
    will = literature.load("willett2023")
    assert will["gradient_err"].isna().all()  # none published: not zero
    lian = literature.load("lian2022")
    assert lian["gradient_err"].gt(0).all()
    v21 = literature.load("v21_endpoints")
    np.testing.assert_allclose(v21["age_center"], [0.0, 13.0])


def test_unknown_names_are_refused_with_the_choices():
    with pytest.raises(ValueError, match="anders2023"):
        literature.load("andrews2023")
    with pytest.raises(ValueError, match="choose from"):
        literature.overlay(["v21", "nope"])


def test_overlay_splits_points_and_lines_and_clips_ages():
    ref, lines = literature.overlay(
        ["v21", "anders2023", "lian2022", "willett2023", "fire2"], age_range=(1.0, 12.25)
    )
    assert set(ref["source"]) == {"anders2023", "lian2022"}  # measured with errors: points
    assert {"V21", "willett2023"} <= set(lines["source"])
    assert ref["age_center"].between(1.0, 12.25).all() and lines["age"].between(1.0, 12.25).all()
    v21 = lines.loc[lines["source"] == "V21"]
    assert set(v21["population"]) == {"thin", "thick"}
    assert v21["age"].min() == 1.0 and v21["age"].max() == 12.25
    # V21 binned 1-12.25 Gyr: no line past that, even if the run covers more
    _, wide = literature.overlay(["v21"], age_range=(0.0, 14.0))
    assert wide["age"].min() == 1.0 and wide["age"].max() == 12.25
    assert literature.overlay([]) == (None, None)


@pytest.mark.skipif(not SHARED.is_dir(), reason="../shared/literature not present")
def test_package_data_is_the_published_files_unchanged():
    data = resources.files("mgar_bayes.literature").joinpath("data")
    for name, d in literature.DATASETS.items():
        shipped = hashlib.sha256(data.joinpath(d.file).read_bytes()).hexdigest()
        original = hashlib.sha256((SHARED / d.file).read_bytes()).hexdigest()
        assert shipped == original, name


def _fits() -> pd.DataFrame:
    edges = np.arange(1.0, 12.26, 1.25)
    c = 0.5 * (edges[:-1] + edges[1:])
    rows = []
    for pop, g0 in (("thin", -0.065), ("thick", 0.015)):
        rows.append(pd.DataFrame({
            "population": pop, "method": "ols", "age_lo": edges[:-1], "age_hi": edges[1:], "age_center": c,
            "n_stars": 100, "gradient": g0 + 0.003 * c, "gradient_err": 0.003, "intercept": 0.1,
        }))  # fmt: skip
    return pd.concat(rows, ignore_index=True)


def _gid(ax, gid):
    found = [a for a in ax.get_children() if a.get_gid() == gid]
    assert found, f"nothing with gid {gid!r}"
    return found[0]


def test_fig5_analogue_draws_birth_gradient_anders_fire2_and_truth():
    fits = _fits()
    truth = fits.loc[fits["population"] == "thin", ["population", "age_center"]].assign(
        gradient_true=-0.06
    )
    fig, axes = plots.plot_mgar_literature(fits, method="ols", truth=truth)
    top, bottom = axes
    birth = _gid(top, "line-thin-ratcliffe2023_birth")
    assert birth.get_linestyle() == "--"
    src = literature.load("ratcliffe2023_birth")
    np.testing.assert_allclose(birth.get_ydata(), src.sort_values("age_center")["gradient"])
    anders = _gid(top, "reference-thin-anders2023")
    np.testing.assert_allclose(anders.get_ydata(), literature.load("anders2023")["gradient"])
    fire = [a for a in bottom.get_lines() if str(a.get_gid()).startswith("line-thin-FIRE")]
    assert len(fire) == 4
    assert all(
        matplotlib.colors.to_rgb(a.get_color())[1] > matplotlib.colors.to_rgb(a.get_color())[0]
        for a in fire
    )
    for ax in axes:
        _gid(ax, "bins-thin")
        _gid(ax, "truth-thin")
        labels = [t.get_text() for t in ax.get_legend().get_texts()]
        assert any("Graf+2024" in s or "Ratcliffe+2023" in s for s in labels)
    with pytest.raises(ValueError, match="population"):
        plots.plot_mgar_literature(fits, population="halo")
    fig, axes = plots.plot_mgar_literature(fits, birth=(), observed=(), simulations=())
    assert not [a for a in axes[0].get_lines() if str(a.get_gid()).startswith("line-")]


def test_fig3_with_published_points_uses_asymmetric_errors():
    ref, lines = literature.overlay(["anders2023", "v21"], age_range=(1.0, 12.25))
    fig, axes = plots.plot_mgar(_fits(), reference=ref, lines=lines)
    pts = _gid(axes[0], "reference-thin-anders2023")
    np.testing.assert_allclose(pts.get_ydata(), ref["gradient"])
    labels = [t.get_text() for t in axes[0].get_legend().get_texts()]
    assert any("Anders+2023" in s and "all disk stars" in s for s in labels)
    # published MGARs without a disk split are compared with the thin disk only
    thick = [t.get_text() for t in axes[1].get_legend().get_texts()]
    assert not any("Anders" in s for s in thick)


def test_cli_literature_option_is_checked_before_any_work(capsys):
    from mgar_bayes.cli import build_parser

    p = build_parser()
    assert p.parse_args(["run", "--out", "x"]).literature == ("v21",)
    assert p.parse_args(["run", "--out", "x", "--literature", "v21, anders2023"]).literature == (
        "v21",
        "anders2023",
    )
    assert p.parse_args(["fit", "--out", "x", "--literature", "none"]).literature == ()
    with pytest.raises(SystemExit) as exc:
        p.parse_args(["run", "--out", "x", "--literature", "anders2023,andrews"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "unknown published MGAR(s) andrews" in err and "ratcliffe2023_birth" in err
