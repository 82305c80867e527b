"""Tests of mgar_bayes.selection: chemical lines, thin/thick disks, Z_max and chemistry slices."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mgar_bayes.config import SelectionConfig
from mgar_bayes.selection import (
    ZMAX_BINS_C25,
    Selection,
    assign_populations,
    chem_above,
    chem_below,
    chem_line,
    chemistry_slices_v21,
    population_selections,
    thick_disk,
    thin_disk,
    zmax_bins,
    zmax_range,
)


def stars(feh, afe, zmax, index=None) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "feh": np.asarray(feh, float),
            "afe": np.asarray(afe, float),
            "Z_max": np.asarray(zmax, float),
        },
        index=index,
    )


# ---------------------------------------------------------------- chemical lines


def test_chem_line_c25_values():
    got = chem_line([-1.0, -0.5, -0.3, 0.0, 0.5])
    np.testing.assert_allclose(got, [0.12, 0.12, 0.12, 0.078, 0.008], atol=1e-12)
    # continuous at the knee
    np.testing.assert_allclose(chem_line(-0.3 + 1e-9), 0.12, atol=1e-9)
    np.testing.assert_allclose(chem_line(-0.3 - 1e-9), 0.12, atol=1e-12)


def test_chem_line_v21_values():
    feh = np.array([-1.0, -0.5, -0.25, 0.0, 0.25, 0.5])
    got = chem_line(feh, "V21")
    expected = np.minimum(0.15, -0.2 * feh + 0.1)
    np.testing.assert_allclose(got, expected, atol=1e-12)
    np.testing.assert_allclose(got, [0.15, 0.15, 0.15, 0.1, 0.05, 0.0], atol=1e-12)
    # the V21 Fig. 5 points ([Fe/H], [a/Fe]) lie on the line
    np.testing.assert_allclose(
        chem_line([-0.5, -0.25, 0.25], "V21"), [0.15, 0.15, 0.05], atol=1e-12
    )


@pytest.mark.parametrize("line", ["C25", "V21"])
@pytest.mark.parametrize("shift", [-0.1, 0.1])
def test_chem_line_shift(line, shift):
    feh = np.linspace(-1, 0.5, 7)
    np.testing.assert_allclose(
        chem_line(feh, line, shift), chem_line(feh, line) + shift, atol=1e-12
    )


def test_chem_line_shift_values():
    np.testing.assert_allclose(chem_line(0.0, "C25", 0.1), 0.178, atol=1e-12)
    np.testing.assert_allclose(chem_line(0.0, "V21", -0.1), 0.0, atol=1e-12)
    np.testing.assert_allclose(chem_line(-0.5, "V21", 0.1), 0.25, atol=1e-12)


def test_chem_line_shape():
    assert np.shape(chem_line(0.0)) == ()
    assert chem_line(np.zeros((2, 3))).shape == (2, 3)


def test_unknown_line_raises():
    with pytest.raises(ValueError, match="XYZ"):
        chem_line(0.0, "XYZ")
    # validated when the selection is built, not when it is applied
    with pytest.raises(ValueError, match="XYZ"):
        chem_below("XYZ")
    with pytest.raises(ValueError, match="XYZ"):
        chem_above("XYZ")
    with pytest.raises(ValueError, match="chem_line"):
        SelectionConfig(chem_line="XYZ")


# ---------------------------------------------------------------- thin/thick


def test_thin_thick_c25_defaults():
    # at [Fe/H] = -0.5 the C25 line is at 0.12
    t = stars(
        feh=[-0.5] * 9,
        afe=[0.115, 0.115, 0.125, 0.125, 0.125, 0.115, 0.12, 0.115, 0.125],
        zmax=[0.24, 0.26, 2.1, 1.9, 0.24, 2.1, 0.1, 0.25, 2.0],
    )
    thin = thin_disk()(t)
    thick = thick_disk()(t)
    assert thin.dtype == bool and thin.shape == (9,)
    assert thin.tolist() == [True, False, False, False, False, False, False, False, False]
    assert thick.tolist() == [False, False, True, False, False, False, False, False, False]
    assert thin_disk().name == "thin"
    assert thick_disk().name == "thick"


def test_thin_thick_at_solar_metallicity():
    # at [Fe/H] = 0 the C25 line is at 0.078, the V21 line at 0.1
    t = stars(feh=[0.0] * 4, afe=[0.073, 0.083, 0.09, 0.11], zmax=[0.1, 0.1, 3.0, 3.0])
    assert thin_disk()(t).tolist() == [True, False, False, False]
    assert thick_disk()(t).tolist() == [False, False, True, True]
    v21 = SelectionConfig(chem_line="V21")
    assert chem_below("V21")(t).tolist() == [True, True, True, False]
    assert thin_disk(v21)(t).tolist() == [True, True, False, False]
    assert thick_disk(v21)(t).tolist() == [False, False, False, True]


def test_zmax_none_means_chemistry_only():
    t = stars(feh=[-0.5] * 4, afe=[0.10, 0.10, 0.15, 0.15], zmax=[0.1, 5.0, 0.1, 5.0])
    cfg = SelectionConfig(thin_zmax_max=None, thick_zmax_min=None)
    assert thin_disk(cfg)(t).tolist() == [True, True, False, False]
    assert thick_disk(cfg)(t).tolist() == [False, False, True, True]
    assert thin_disk()(t).tolist() == [True, False, False, False]
    assert thick_disk()(t).tolist() == [False, False, False, True]


def test_non_default_zmax_limits():
    cfg = SelectionConfig(thin_zmax_max=0.5, thick_zmax_min=1.0)
    t = stars(feh=[-0.5] * 4, afe=[0.10, 0.10, 0.15, 0.15], zmax=[0.4, 0.6, 0.9, 1.1])
    assert thin_disk(cfg)(t).tolist() == [True, False, False, False]
    assert thick_disk(cfg)(t).tolist() == [False, False, False, True]


def test_chem_shift_moves_selection():
    # at [Fe/H] = -0.5: line 0.12, shifted +0.1 -> 0.22, -0.1 -> 0.02
    t = stars(feh=[-0.5] * 3, afe=[0.01, 0.15, 0.25], zmax=[0.1, 0.1, 3.0])
    up = SelectionConfig(chem_shift=0.1)
    down = SelectionConfig(chem_shift=-0.1)
    assert thin_disk(up)(t).tolist() == [True, True, False]
    assert thin_disk(down)(t).tolist() == [True, False, False]
    assert thick_disk(up)(t).tolist() == [False, False, True]
    assert chem_above("C25", -0.1)(t).tolist() == [False, True, True]


def test_nan_is_in_no_population():
    t = stars(feh=[np.nan, -0.5, -0.5], afe=[0.05, np.nan, 0.05], zmax=[0.1, 0.1, np.nan])
    assert not thin_disk()(t).any()
    assert not thick_disk()(t).any()


# ---------------------------------------------------------------- composition


def test_selection_composition():
    t = stars(feh=[-0.5] * 4, afe=[0.05, 0.05, 0.2, 0.2], zmax=[0.5, 3.0, 0.5, 3.0])
    a = zmax_range(None, 1.0)
    b = chem_below("C25")
    assert a(t).tolist() == [True, False, True, False]
    assert b(t).tolist() == [True, True, False, False]
    assert (a & b)(t).tolist() == [True, False, False, False]
    assert (a | b)(t).tolist() == [True, True, True, False]
    assert (~a)(t).tolist() == [False, True, False, True]
    assert (~(a & b) | b)(t).tolist() == [True, True, True, True]
    assert (a & b).name == f"({a.name}) & ({b.name})"
    assert (a | b).name == f"({a.name}) | ({b.name})"
    assert (~a).name == f"~({a.name})"
    assert isinstance(a & b, Selection)
    renamed = (a & b).named("cold and poor")
    assert renamed.name == "cold and poor"
    assert renamed(t).tolist() == [True, False, False, False]


def test_selection_names():
    assert zmax_range(0.25, 0.8).name == "0.25 < Z_max < 0.8 kpc"
    assert zmax_range(2.0, None).name == "Z_max > 2 kpc"
    assert zmax_range(None, 0.25).name == "Z_max < 0.25 kpc"
    assert chem_below("C25").name.startswith("[a/Fe] < C25 line")
    assert chem_above("V21", 0.1).name == "[a/Fe] > V21 line+0.1"


def test_selection_apply_keeps_index():
    t = stars(feh=[-0.5] * 3, afe=[0.05, 0.2, 0.05], zmax=[0.1, 0.1, 0.1], index=[7, 3, 9])
    out = chem_below().apply(t)
    assert list(out.index) == [7, 9]


def test_zmax_range_open_interval():
    t = stars(feh=[0.0] * 5, afe=[0.0] * 5, zmax=[0.25, 0.2500001, 0.7999999, 0.8, 0.5])
    assert zmax_range(0.25, 0.8)(t).tolist() == [False, True, True, False, True]


# ---------------------------------------------------------------- populations


def test_assign_populations_labels():
    t = stars(
        feh=[-0.5, -0.5, -0.5, -0.5],
        afe=[0.05, 0.2, 0.05, 0.2],
        zmax=[0.1, 3.0, 1.0, 1.0],
        index=[10, 11, 12, 13],
    )
    pop = assign_populations(t)
    assert pop.name == "population"
    assert str(pop.dtype) == "string"
    assert list(pop.index) == [10, 11, 12, 13]
    assert pop.tolist() == ["thin", "thick", "", ""]
    # a SelectionConfig works as well as a dict of selections
    cfg = SelectionConfig(thin_zmax_max=None, thick_zmax_min=None)
    assert assign_populations(t, cfg).tolist() == ["thin", "thick", "thin", "thick"]
    assert assign_populations(t, population_selections(cfg)).tolist() == [
        "thin",
        "thick",
        "thin",
        "thick",
    ]


def test_assign_populations_custom_names():
    t = stars(feh=[0.0] * 3, afe=[0.0] * 3, zmax=[0.1, 0.5, 5.0])
    pop = assign_populations(t, {"low": zmax_range(None, 0.3), "high": zmax_range(1.0, None)})
    assert pop.tolist() == ["low", "", "high"]


def test_overlapping_selections_raise():
    t = stars(feh=[0.0] * 3, afe=[0.0] * 3, zmax=[0.2, 0.7, 1.5])
    sels = {"a": zmax_range(None, 1.0), "b": zmax_range(0.5, None)}
    with pytest.raises(ValueError, match=r"'b'.*1 star"):
        assign_populations(t, sels)


# ---------------------------------------------------------------- slices


def test_zmax_bins_c25_edges():
    assert ZMAX_BINS_C25 == ((0.0, 0.25), (0.25, 0.8), (0.8, 2.0), (2.0, 6.0))
    bins = zmax_bins()
    assert list(bins) == ["Zmax 0-0.25", "Zmax 0.25-0.8", "Zmax 0.8-2", "Zmax 2-6"]
    t = stars(feh=[0.0] * 5, afe=[0.0] * 5, zmax=[0.1, 0.5, 1.0, 3.0, 7.0])
    masks = np.array([sel(t) for sel in bins.values()])
    assert masks.astype(int).tolist() == [
        [1, 0, 0, 0, 0],
        [0, 1, 0, 0, 0],
        [0, 0, 1, 0, 0],
        [0, 0, 0, 1, 0],
    ]
    assert all(sel.name == key for key, sel in bins.items())


def test_zmax_bins_partition_random_points():
    rng = np.random.default_rng(0)
    z = rng.uniform(0.0, 6.0, 2000)
    z = z[z > 0]
    t = stars(feh=np.zeros_like(z), afe=np.zeros_like(z), zmax=z)
    masks = np.array([sel(t) for sel in zmax_bins().values()])
    assert np.all(masks.sum(axis=0) == 1)
    # counts agree with an independent histogram
    counts, _ = np.histogram(z, bins=[0.0, 0.25, 0.8, 2.0, 6.0])
    assert masks.sum(axis=1).tolist() == counts.tolist()


def test_zmax_bins_custom_edges():
    bins = zmax_bins(((0.0, 1.0), (1.0, 3.0)))
    assert list(bins) == ["Zmax 0-1", "Zmax 1-3"]


def test_chemistry_slices_v21_specific_points():
    # at [Fe/H] = 0 the V21 line is at 0.1: slice edges 0.0, 0.1, 0.2
    t = stars(feh=[0.0] * 4, afe=[-0.05, 0.05, 0.15, 0.25], zmax=[1.0] * 4)
    slices = chemistry_slices_v21()
    assert list(slices) == [
        "chem < V21-0.1",
        "V21-0.1 < chem < V21",
        "V21 < chem < V21+0.1",
        "chem > V21+0.1",
    ]
    masks = np.array([sel(t) for sel in slices.values()])
    assert masks.astype(int).tolist() == np.eye(4, dtype=int).tolist()


def test_chemistry_slices_v21_partition_random_points():
    rng = np.random.default_rng(1)
    n = 3000
    feh = rng.uniform(-1.0, 0.5, n)
    afe = rng.uniform(-0.15, 0.4, n)
    t = stars(feh=feh, afe=afe, zmax=np.ones(n))
    masks = np.array([sel(t) for sel in chemistry_slices_v21().values()])
    assert np.all(masks.sum(axis=0) == 1)
    # independent bookkeeping: which of the three shifted lines each star lies below
    line = np.minimum(0.15, -0.2 * feh + 0.1)
    expected = (afe >= line - 0.1).astype(int) + (afe >= line).astype(int) + (afe >= line + 0.1)
    assert np.array_equal(np.argmax(masks, axis=0), expected)
    assert all(masks.sum(axis=1) > 100)
