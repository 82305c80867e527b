"""Tests of mgar_bayes.schema.validate_catalogue: errors name the column and the rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from catalogue_helpers import make_catalogue

from mgar_bayes.schema import (
    GALCEN_COLUMNS,
    HELIOCENTRIC_KINEMATICS,
    REQUIRED_COLUMNS,
    CatalogueError,
    has_galcen,
    validate_catalogue,
)

N = 8


def catalogue(n: int = N, seed: int = 3) -> pd.DataFrame:
    """A valid canonical table with heliocentric kinematics; row labels 100, 101, ..."""
    return make_catalogue(n, seed, id_start=5000, index_start=100, survey_extras=False)


def galcen_catalogue(n: int = N, seed: int = 4) -> pd.DataFrame:
    """Catalogue carrying its own Galactocentric columns and no heliocentric kinematics."""
    rng = np.random.default_rng(seed)
    t = catalogue(n, seed).drop(columns=list(HELIOCENTRIC_KINEMATICS))
    for c, lo, hi in [
        ("R", 6, 12),
        ("z", -1, 1),
        ("v_R", -40, 40),
        ("v_phi", 180, 250),
        ("v_z", -20, 20),
    ]:
        t[c] = rng.uniform(lo, hi, n)
        t[c + "_err"] = rng.uniform(0.01, 0.5, n)
    return t


def test_valid_catalogue_passes_and_is_not_modified():
    t = catalogue()
    t["flag_feh"] = t["flag_feh"].astype(float)
    before = t.copy()
    out = validate_catalogue(t)
    pd.testing.assert_frame_equal(t, before)
    assert out is not t
    assert out["flag_feh"].dtype == np.int64
    assert out["flag_afe"].dtype == np.int64
    assert out["feh"].dtype == np.float64
    assert out["snr"].dtype == np.float64
    np.testing.assert_array_equal(out["feh"].to_numpy(), t["feh"].to_numpy())
    assert list(out.index) == list(t.index)


def test_numeric_strings_are_converted():
    t = catalogue()
    t["feh"] = t["feh"].map(lambda v: f"{v:.6f}").astype(object)
    t["flag_afe"] = ["0"] * N
    out = validate_catalogue(t)
    assert out["feh"].dtype == np.float64
    np.testing.assert_allclose(out["feh"], catalogue()["feh"], atol=1e-6)
    assert out["flag_afe"].tolist() == [0] * N


@pytest.mark.parametrize("column", [c.name for c in REQUIRED_COLUMNS])
def test_missing_required_column_is_named(column):
    t = catalogue().drop(columns=[column])
    with pytest.raises(CatalogueError, match=f"missing required column.*'{column}'"):
        validate_catalogue(t, name="cat.fits")


def test_missing_columns_all_listed_with_table_name():
    t = catalogue().drop(columns=["mass", "snr"])
    with pytest.raises(CatalogueError) as exc:
        validate_catalogue(t, name="my_cat.parquet")
    msg = str(exc.value)
    assert msg.startswith("my_cat.parquet:")
    assert "'mass'" in msg and "'snr'" in msg


def test_non_numeric_string_names_column_and_row():
    t = catalogue()
    t["feh"] = t["feh"].astype(object)
    t.loc[103, "feh"] = "abc"
    with pytest.raises(CatalogueError) as exc:
        validate_catalogue(t)
    msg = str(exc.value)
    assert "'feh'" in msg
    assert "must be numeric" in msg
    assert "1 row(s): 103" in msg
    assert "'abc'" in msg


def test_many_bad_rows_are_summarised():
    t = catalogue()
    t["mass"] = ["x"] * N
    with pytest.raises(
        CatalogueError, match=r"'mass'.*8 row\(s\): 100, 101, 102, 103, 104 and 3 more"
    ):
        validate_catalogue(t)


@pytest.mark.parametrize("bad", [0.5, 2.25, np.inf])
def test_non_integer_flag_names_column_and_row(bad):
    t = catalogue()
    t["flag_feh"] = t["flag_feh"].astype(float)
    t.loc[105, "flag_feh"] = bad
    with pytest.raises(CatalogueError, match=r"flag column 'flag_feh'.*1 row\(s\): 105"):
        validate_catalogue(t)


def test_duplicated_source_id_names_both_rows():
    t = catalogue()
    t.loc[104, "source_id"] = t.loc[101, "source_id"]
    with pytest.raises(CatalogueError, match=r"duplicated source_id in 2 row\(s\): 101, 104"):
        validate_catalogue(t)


@pytest.mark.parametrize(
    "column", ["distance_err", "pmra_err", "rv_err", "feh_err", "afe_err", "age_err"]
)
@pytest.mark.parametrize("bad", [0.0, -0.1])
def test_non_positive_error_names_column_and_row(column, bad):
    t = catalogue()
    t.loc[102, column] = bad
    with pytest.raises(CatalogueError, match=rf"'{column}' must be > 0.*1 row\(s\): 102"):
        validate_catalogue(t)


def test_non_positive_galcen_error_is_caught():
    t = galcen_catalogue()
    t.loc[106, "v_phi_err"] = 0.0
    with pytest.raises(CatalogueError, match=r"'v_phi_err'.*1 row\(s\): 106"):
        validate_catalogue(t)


def test_bad_evol_stage_names_rows():
    t = catalogue()
    t["evol_stage"] = ["RGB", "rc", "MS", "RGB", "RC", "HB", "rgb", None]
    with pytest.raises(CatalogueError, match=r"'evol_stage'.*2 row\(s\): 102, 105"):
        validate_catalogue(t)


def test_good_evol_stage_is_upper_cased_and_nan_allowed():
    t = catalogue()
    t["evol_stage"] = ["RGB", "rc", "Rc", "rgb", None, "RC", "RGB", np.nan]
    out = validate_catalogue(t)
    assert out["evol_stage"].iloc[:4].tolist() == ["RGB", "RC", "RC", "RGB"]
    assert out["evol_stage"].isna().tolist() == [False] * 4 + [True, False, False, True]


def test_empty_table_raises():
    with pytest.raises(CatalogueError, match="empty"):
        validate_catalogue(catalogue().iloc[:0])
    with pytest.raises(CatalogueError, match="empty"):
        validate_catalogue(pd.DataFrame())


@pytest.mark.parametrize("obj", [{"feh": [0.1]}, np.zeros((3, 3)), None])
def test_not_a_dataframe_raises(obj):
    with pytest.raises(CatalogueError, match=f"DataFrame, got {type(obj).__name__}"):
        validate_catalogue(obj)


def test_catalogue_error_is_value_error():
    assert issubclass(CatalogueError, ValueError)


def test_nan_values_are_not_errors():
    t = catalogue()
    t.loc[100, "feh"] = np.nan
    t.loc[101, "age"] = np.nan
    t.loc[102, "distance"] = np.nan
    t.loc[103, "age_err"] = np.nan
    t.loc[104, "snr"] = np.inf
    t.loc[105, "pmra_err"] = np.nan
    out = validate_catalogue(t)
    assert len(out) == N
    assert np.isnan(out.loc[100, "feh"])
    assert np.isnan(out.loc[101, "age"])
    assert np.isnan(out.loc[103, "age_err"])
    assert np.isinf(out.loc[104, "snr"])


def test_missing_strings_in_object_column_become_nan():
    t = catalogue()
    t["feh"] = t["feh"].astype(object)
    t.loc[106, "feh"] = None
    out = validate_catalogue(t)
    assert np.isnan(out.loc[106, "feh"])
    assert out["feh"].dtype == np.float64


# ---------------------------------------------------------------- Galactocentric tables


def test_galcen_table_needs_no_heliocentric_columns():
    t = galcen_catalogue()
    assert has_galcen(t)
    assert not has_galcen(catalogue())
    out = validate_catalogue(t)
    assert len(out) == N
    for c in ("R", "R_err", "z", "z_err", "v_R", "v_R_err", "v_phi", "v_phi_err", "v_z", "v_z_err"):
        assert out[c].dtype == np.float64
    assert "phi" not in out.columns  # phi is optional


def test_galcen_names_are_the_documented_ones():
    names = {c.name for c in GALCEN_COLUMNS} - {"phi"}
    assert names == {
        "R",
        "R_err",
        "z",
        "z_err",
        "v_R",
        "v_R_err",
        "v_phi",
        "v_phi_err",
        "v_z",
        "v_z_err",
    }


def test_incomplete_galcen_falls_back_to_heliocentric():
    t = galcen_catalogue().drop(columns=["v_z_err"])
    assert not has_galcen(t)
    with pytest.raises(CatalogueError, match="'distance'"):
        validate_catalogue(t)


def test_require_heliocentric_true_overrides_galcen():
    with pytest.raises(CatalogueError, match=r"'distance'.*'pmra'"):
        validate_catalogue(galcen_catalogue(), require_heliocentric=True)


def test_require_heliocentric_false_needs_galcen():
    with pytest.raises(CatalogueError, match=r"'R'.*'R_err'"):
        validate_catalogue(catalogue(), require_heliocentric=False)


def test_galcen_and_heliocentric_together():
    t = galcen_catalogue()
    t = t.join(catalogue()[list(HELIOCENTRIC_KINEMATICS)])
    out = validate_catalogue(t)
    assert set(HELIOCENTRIC_KINEMATICS) <= set(out.columns)


def test_non_numeric_galcen_column_is_caught():
    t = galcen_catalogue()
    t["R"] = t["R"].astype(object)
    t.loc[107, "R"] = "far"
    with pytest.raises(CatalogueError, match=r"'R'.*1 row\(s\): 107"):
        validate_catalogue(t)


def test_nan_flag_is_kept_for_the_flag_cut():
    import numpy as np
    import pandas as pd

    from mgar_bayes.cuts import apply_cuts, catalogue_cuts
    from mgar_bayes.mock import MockConfig, generate_mock
    from mgar_bayes.schema import validate_catalogue

    t = generate_mock(MockConfig(n_stars=50, seed=1)).stars
    t["flag_feh"] = t["flag_feh"].astype(float)
    t.loc[t.index[:3], "flag_feh"] = np.nan
    t["flag_feh"] = t["flag_feh"].fillna(np.nan)
    out = validate_catalogue(t)
    assert out["flag_feh"].isna().sum() == 3
    kept, flow = apply_cuts(out, [c for c in catalogue_cuts() if c.name == "flags"])
    assert not kept.index.isin(t.index[:3]).any()
    assert isinstance(flow.to_frame(), pd.DataFrame)
