"""Tests of mgar_bayes.cuts: the C25 Sect. 2.1 quality cuts and the cut-flow."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mgar_bayes.config import CutsConfig
from mgar_bayes.cuts import CutFlow, apply_cuts, catalogue_cuts, finite_cuts, phase_space_cuts

# A star that passes every default cut, with margin.
GOOD = {
    "age": 5.0,
    "age_err": 0.5,
    "mass": 1.0,
    "snr": 50.0,
    "flag_feh": 0,
    "flag_afe": 0,
    "feh": -0.2,
    "R": 8.0,
    "R_err": 0.1,
    "z": 0.5,
    "z_err": 0.05,
    "v_R": -30.0,
    "v_R_err": 2.0,
    "v_phi": 220.0,
    "v_phi_err": 3.0,
    "v_z": 15.0,
    "v_z_err": 1.0,
    "R_g": 8.1,
}

CATALOGUE_NAMES = ["age > 0", "age max", "mass", "age error", "snr", "flags", "[Fe/H]"]
PHASE_NAMES = [
    "|z|",
    "R",
    "v_phi",
    "rel. error R",
    "rel. error v_R",
    "rel. error v_phi",
    "rel. error z",
    "rel. error v_z",
    "R_g defined",
]


def table(*overrides: dict, index=None) -> pd.DataFrame:
    """One row per dict of overrides of the GOOD star."""
    return pd.DataFrame([{**GOOD, **o} for o in overrides], index=index)


def all_cuts(cfg: CutsConfig | None = None):
    return catalogue_cuts(cfg) + phase_space_cuts(cfg)


def kept(overrides: dict, cfg: CutsConfig | None = None) -> bool:
    out, _ = apply_cuts(table(overrides), all_cuts(cfg))
    return len(out) == 1


def test_good_star_passes_everything():
    out, flow = apply_cuts(table({}), all_cuts())
    assert len(out) == 1
    assert flow.to_frame()["n_removed"].sum() == 0


def test_default_cut_names_and_order():
    assert [c.name for c in catalogue_cuts()] == CATALOGUE_NAMES
    assert [c.name for c in phase_space_cuts()] == PHASE_NAMES


@pytest.mark.parametrize(
    "overrides, expected",
    [
        # mass >= 0.7 Msun
        ({"mass": 0.7}, True),
        ({"mass": 0.69}, False),
        # age_err / age <= 0.30
        ({"age": 10.0, "age_err": 3.0}, True),
        ({"age": 1.0, "age_err": 0.3}, True),
        ({"age": 10.0, "age_err": 3.1}, False),
        ({"age": 1.0, "age_err": 0.31}, False),
        # age > 0
        ({"age": 0.0, "age_err": 0.0}, False),
        ({"age": -1.0, "age_err": 0.1}, False),
        # age <= 13 Gyr (inclusive)
        ({"age": 13.0, "age_err": 1.0}, True),
        ({"age": 13.01, "age_err": 1.0}, False),
        # SNR > 20 (strict)
        ({"snr": 20.0}, False),
        ({"snr": 20.01}, True),
        # flags
        ({"flag_feh": 1}, False),
        ({"flag_afe": 2}, False),
        ({"flag_feh": 1, "flag_afe": 1}, False),
        # [Fe/H] >= -1 (inclusive)
        ({"feh": -1.0}, True),
        ({"feh": -1.01}, False),
        # NaN reaching a comparison is dropped
        ({"mass": np.nan}, False),
    ],
)
def test_catalogue_cut_boundaries(overrides, expected):
    assert kept(overrides) is expected


@pytest.mark.parametrize(
    "overrides, expected",
    [
        # |z| < 10 kpc (strict)
        ({"z": 9.99, "z_err": 0.1}, True),
        ({"z": 10.0, "z_err": 0.1}, False),
        ({"z": -9.99, "z_err": 0.1}, True),
        ({"z": -10.0, "z_err": 0.1}, False),
        # 5 < R < 20 kpc (strict)
        ({"R": 5.0}, False),
        ({"R": 5.01}, True),
        ({"R": 19.99}, True),
        ({"R": 20.0}, False),
        # v_phi >= 0 (inclusive); a zero v_phi with a zero error fails the 40% cut,
        # so switch that one off here (see the test below)
        ({"v_phi": -0.01, "v_phi_err": 0.001}, False),
        # R_g must be finite
        ({"R_g": np.nan}, False),
        ({"R_g": np.inf}, False),
    ],
)
def test_phase_space_cut_boundaries(overrides, expected):
    assert kept(overrides) is expected


def test_vphi_zero_is_kept():
    cfg = CutsConfig(max_rel_err_phase=None)
    assert kept({"v_phi": 0.0}, cfg) is True
    assert kept({"v_phi": -1e-6}, cfg) is False


@pytest.mark.parametrize(
    "col, value, err_ok, err_at_limit, err_bad",
    [
        ("R", 10.0, 3.9, 4.0, 4.1),
        ("v_R", -100.0, 39.0, 40.0, 41.0),
        ("v_R", 100.0, 39.0, 40.0, 41.0),
        ("v_phi", 200.0, 79.0, 80.0, 82.0),
        ("z", -1.0, 0.39, 0.4, 0.41),
        ("z", 1.0, 0.39, 0.4, 0.41),
        ("v_z", -10.0, 3.9, 4.0, 4.1),
    ],
)
def test_relative_error_cut_is_strict_40_percent(col, value, err_ok, err_at_limit, err_bad):
    err = col + "_err"
    rows = table(
        {col: value, err: err_ok}, {col: value, err: err_at_limit}, {col: value, err: err_bad}
    )
    out, flow = apply_cuts(rows, all_cuts())
    assert list(out.index) == [0]
    fr = flow.to_frame().set_index("cut")
    assert fr.loc[f"rel. error {col}", "n_removed"] == 2
    # no other cut removed anything
    assert fr["n_removed"].sum() == 2


@pytest.mark.parametrize(
    "field, cut_name, failing",
    [
        ("max_age", "age max", {"age": 14.0, "age_err": 1.0}),
        ("min_mass", "mass", {"mass": 0.3}),
        ("max_age_rel_err", "age error", {"age_err": 4.0}),
        ("min_snr", "snr", {"snr": 5.0}),
        ("max_abs_z", "|z|", {"z": 12.0, "z_err": 0.1}),
        ("R_range", "R", {"R": 25.0}),
        ("min_feh", "[Fe/H]", {"feh": -2.0}),
        ("min_vphi", "v_phi", {"v_phi": -50.0}),
    ],
)
def test_none_disables_cut(field, cut_name, failing):
    assert kept(failing) is False
    cfg = CutsConfig(**{field: None})
    names = [c.name for c in all_cuts(cfg)]
    assert cut_name not in names
    assert len(names) == len(CATALOGUE_NAMES) + len(PHASE_NAMES) - 1
    assert kept(failing, cfg) is True


def test_max_age_cut_counts_old_stars_and_off_keeps_them(tmp_path):
    from mgar_bayes.config import load_config

    rows = table({}, {"age": 13.5, "age_err": 1.0}, {"age": 20.0, "age_err": 2.0}, {"age": 12.9})
    out, flow = apply_cuts(rows, catalogue_cuts())
    fr = flow.to_frame().set_index("cut")
    assert fr.loc["age max", "n_removed"] == 2
    assert fr.loc["age max", "description"] == "age <= 13.0 Gyr"
    assert list(out.index) == [0, 3]
    # a stricter limit from the config file is used
    p = tmp_path / "c.toml"
    p.write_text("[cuts]\nmax_age = 12.5\n")
    out, flow = apply_cuts(rows, catalogue_cuts(load_config(p).cuts))
    assert list(out.index) == [0]
    # "off" keeps every age
    p.write_text('[cuts]\nmax_age = "off"\n')
    cfg = load_config(p).cuts
    assert cfg.max_age is None
    assert "age max" not in [c.name for c in catalogue_cuts(cfg)]
    out, _ = apply_cuts(rows, catalogue_cuts(cfg))
    assert len(out) == 4


def test_require_flags_false_disables_flags():
    cfg = CutsConfig(require_flags=False)
    assert "flags" not in [c.name for c in catalogue_cuts(cfg)]
    assert kept({"flag_feh": 3, "flag_afe": 1}, cfg) is True


def test_max_rel_err_none_removes_all_five_error_cuts():
    cfg = CutsConfig(max_rel_err_phase=None)
    names = [c.name for c in phase_space_cuts(cfg)]
    assert names == ["|z|", "R", "v_phi", "R_g defined"]
    assert kept({"R_err": 9.0, "v_z_err": 100.0}, cfg) is True


def test_non_default_values_are_used():
    cfg = CutsConfig(min_mass=0.9, max_age_rel_err=0.25, min_snr=40.0, R_range=(6.0, 15.0))
    assert kept({"mass": 0.85}, cfg) is False
    assert kept({"mass": 0.9}, cfg) is True
    assert kept({"age": 10.0, "age_err": 2.6}, cfg) is False
    assert kept({"age": 10.0, "age_err": 2.5}, cfg) is True
    assert kept({"snr": 40.0}, cfg) is False
    assert kept({"snr": 40.5}, cfg) is True
    assert kept({"R": 5.5}, cfg) is False
    assert kept({"R": 15.5}, cfg) is False
    assert kept({"R": 14.0}, cfg) is True


def test_cut_flow_counts():
    rows = table(
        {},  # 0 kept
        {"age": -1.0},  # 1 age > 0
        {"mass": 0.5, "snr": 10.0},  # 2 mass (also fails snr: counted once)
        {"snr": 10.0},  # 3 snr
        {"snr": 15.0, "flag_feh": 1},  # 4 snr
        {"flag_afe": 1},  # 5 flags
        {"feh": -1.5},  # 6 [Fe/H]
        {"R": 4.0},  # 7 R
        {"v_phi": -10.0},  # 8 v_phi
        {"v_z": 1.0, "v_z_err": 5.0},  # 9 rel. error v_z
        {"R_g": np.nan},  # 10 R_g defined
        {},  # 11 kept
    )
    out, flow = apply_cuts(rows, catalogue_cuts())
    out, flow = apply_cuts(out, phase_space_cuts(), flow)
    fr = flow.to_frame()
    assert list(fr.columns) == ["step", "cut", "description", "n_removed", "n_remaining"]
    assert list(fr["step"]) == list(range(len(fr)))
    assert list(fr["cut"]) == ["input catalogue"] + CATALOGUE_NAMES + PHASE_NAMES
    assert fr.loc[0, "n_remaining"] == 12
    assert fr.loc[0, "n_removed"] == 0
    removed = dict(zip(fr["cut"], fr["n_removed"], strict=True))
    assert removed == {
        "input catalogue": 0,
        "age > 0": 1,
        "age max": 0,
        "mass": 1,
        "age error": 0,
        "snr": 2,
        "flags": 1,
        "[Fe/H]": 1,
        "|z|": 0,
        "R": 1,
        "v_phi": 1,
        "rel. error R": 0,
        "rel. error v_R": 0,
        "rel. error v_phi": 0,
        "rel. error z": 0,
        "rel. error v_z": 1,
        "R_g defined": 1,
    }
    rem = fr["n_remaining"].to_numpy()
    assert np.all(np.diff(rem) <= 0)
    assert np.array_equal(rem, 12 - np.cumsum(fr["n_removed"].to_numpy()))
    assert rem[-1] == len(out) == 2
    assert fr["n_removed"].sum() == 12 - len(out)
    assert flow.n_remaining == 2
    assert list(out.index) == [0, 11]


def test_cutflow_object():
    flow = CutFlow(10, label="start")
    flow.add("a", "first", 3)
    flow.add("b", "second", np.int64(0))
    flow.add("c", "third", 2)
    fr = flow.to_frame()
    assert list(fr["cut"]) == ["start", "a", "b", "c"]
    assert list(fr["n_removed"]) == [0, 3, 0, 2]
    assert list(fr["n_remaining"]) == [10, 7, 7, 5]
    assert flow.n_remaining == 5


def test_finite_cuts_count_nan_and_inf_per_column():
    t = pd.DataFrame(
        {
            "feh": [np.nan, np.inf, -np.inf, 0.1, np.nan, 0.2, 0.0],
            "age": [1.0, np.nan, 2.0, np.inf, 3.0, np.nan, 4.0],
            "mass": [1.0, 1.0, 1.0, 1.0, 1.0, 1.0, np.nan],
        }
    )
    cuts = finite_cuts(["feh", "age", "mass"])
    assert [c.name for c in cuts] == ["finite feh", "finite age", "finite mass"]
    out, flow = apply_cuts(t, cuts)
    fr = flow.to_frame()
    # feh: rows 0, 1, 2, 4; age (of the rest): rows 3, 5; mass: row 6
    assert list(fr["n_removed"]) == [0, 4, 2, 1]
    assert list(fr["n_remaining"]) == [7, 3, 1, 0]
    assert len(out) == 0


def test_finite_cut_keeps_finite_rows():
    t = pd.DataFrame({"x": [1.0, np.nan, -3.0, np.inf]}, index=[5, 6, 7, 8])
    out, flow = apply_cuts(t, finite_cuts(["x"]))
    assert list(out.index) == [5, 7]
    assert flow.to_frame()["n_removed"].tolist() == [0, 2]


def test_missing_column_raises_keyerror_naming_it():
    t = table({}).drop(columns=["snr"])
    with pytest.raises(KeyError, match="snr"):
        apply_cuts(t, catalogue_cuts())
    t = table({}).drop(columns=["v_z_err"])
    with pytest.raises(KeyError, match="v_z_err"):
        apply_cuts(t, phase_space_cuts())
    t = table({}).drop(columns=["R_g"])
    with pytest.raises(KeyError, match="R_g"):
        apply_cuts(t, phase_space_cuts())


def test_missing_column_of_disabled_cut_is_not_needed():
    t = table({}).drop(columns=["snr"])
    out, _ = apply_cuts(t, catalogue_cuts(CutsConfig(min_snr=None)))
    assert len(out) == 1


def test_apply_cuts_keeps_original_index_and_leaves_input_alone():
    idx = pd.Index(["s9", "s3", "s7", "s1"], name="sid")
    t = table({}, {"mass": 0.1}, {}, {"feh": -3.0}, index=idx)
    before = t.copy()
    out, _ = apply_cuts(t, catalogue_cuts())
    assert list(out.index) == ["s9", "s7"]
    assert out.index.name == "sid"
    pd.testing.assert_frame_equal(out, before.loc[["s9", "s7"]])
    pd.testing.assert_frame_equal(t, before)


def test_apply_cuts_with_no_cuts():
    t = table({}, {})
    out, flow = apply_cuts(t, [])
    assert len(out) == 2
    assert len(flow.to_frame()) == 1


def test_duplicates_within_5_arcsec_keep_the_highest_snr():
    from mgar_bayes.cuts import unique_positions

    t = pd.DataFrame({
        "source_id": [10, 11, 12, 13, 14, 15],
        "ra": [10.0, 10.0 + 3 / 3600, 10.0 + 20 / 3600, 200.0, 200.0, 359.9999],
        "dec": [0.0, 0.0, 0.0, -30.0, -30.0 + 4 / 3600, 0.0],
        "snr": [50.0, 80.0, 30.0, np.nan, 40.0, 60.0],
    })  # fmt: skip
    keep = unique_positions(t, 5.0)
    # 10 and 11 are 3" apart (11 has the higher snr); 12 is 20" away; 13/14 are 4" apart (13 has no snr)
    assert list(t["source_id"][keep]) == [11, 12, 14, 15]
    perm = [4, 2, 0, 5, 1, 3]
    shuffled = t.iloc[perm].reset_index(drop=True)
    assert sorted(shuffled["source_id"][unique_positions(shuffled, 5.0)]) == [11, 12, 14, 15]
    # equal snr: the smaller id wins, whatever the order
    t2 = t.assign(snr=50.0)
    assert list(t2["source_id"][unique_positions(t2, 5.0)]) == [10, 12, 13, 15]
    rev = t2.iloc[::-1].reset_index(drop=True)
    assert list(rev["source_id"][unique_positions(rev, 5.0)]) == [15, 13, 12, 10]
    assert unique_positions(t, 1.0).all()


def test_v21_high_quality_selection():
    from mgar_bayes.selection import v21_high_quality

    t = pd.DataFrame({
        "age": [5.0, 5.0, 5.0, 5.0, 5.0],
        "age_err": [0.4, 0.4, 0.4, 0.6, 0.4],
        "teff": [6000.0, 5500.0, 5500.0, 6000.0, 5000.0],
        "logg": [4.3, 3.8, 4.2, 4.3, 2.5],
    })  # fmt: skip
    np.testing.assert_array_equal(v21_high_quality()(t), [True, True, False, False, False])
    cfg = CutsConfig(v21_high_quality=True)
    kept, flow = apply_cuts(t.assign(mass=1.0, snr=50.0, flag_feh=0, flag_afe=0, feh=0.0), catalogue_cuts(cfg))
    assert len(kept) == 2 and flow.to_frame().set_index("cut").loc["V21 high quality", "n_removed"] == 3
