"""Tests of mgar_bayes.io.read_apogee_dr17: the APOGEE DR17 allStar reader.

Synthetic allStar-like tables test flags, duplicates, nulls and the age-catalogue
join; the real extract of ``../shared/realdata`` (APOGEE DR17 with asteroseismic
masses and ages of Montalban et al. 2021) tests units and known values, and is
skipped where it is absent.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from astropy.io import fits

from mgar_bayes.config import PipelineConfig
from mgar_bayes.io import (
    APOGEE_ASPCAPFLAG_BAD_BITS,
    APOGEE_STARFLAG_BAD_BITS,
    read_apogee_dr17,
)
from mgar_bayes.pipeline import PipelineError, preprocess
from mgar_bayes.schema import CatalogueError, validate_catalogue

REALDATA = Path(__file__).resolve().parents[1].parent / "shared" / "realdata"
REAL = REALDATA / "apogee_dr17_montalban2021.fits"
needs_real = pytest.mark.skipif(not REAL.is_file(), reason="../shared/realdata is absent")

# bits of the DR17 bitmasks used below
STAR_BAD, N_M_WARN, ALPHA_M_BAD = 23, 6, 20
BAD_PIXELS, PERSIST_HIGH = 0, 9


def allstar(n: int = 4, **columns) -> pd.DataFrame:
    """A small allStar-like table with survey column names and plausible values."""
    i = np.arange(n, dtype=float)
    table = {
        "APOGEE_ID": [f"2M1900000{k}+4000000" for k in range(n)],
        "TELESCOPE": ["apo25m"] * n,
        "RA": 290.0 + i,
        "DEC": 40.0 + 0.1 * i,
        "GAIAEDR3_PMRA": -2.0 + i,
        "GAIAEDR3_PMRA_ERROR": np.full(n, 0.02),
        "GAIAEDR3_PMDEC": -5.0 + i,
        "GAIAEDR3_PMDEC_ERROR": np.full(n, 0.02),
        "GAIAEDR3_PARALLAX": np.full(n, 0.5),
        "GAIAEDR3_PARALLAX_ERROR": np.full(n, 0.015),
        "GAIAEDR3_R_MED_GEO": 2000.0 + 100 * i,
        "GAIAEDR3_R_LO_GEO": 1900.0 + 100 * i,
        "GAIAEDR3_R_HI_GEO": 2150.0 + 100 * i,
        "GAIAEDR3_R_MED_PHOTOGEO": 2010.0 + 100 * i,
        "GAIAEDR3_R_LO_PHOTOGEO": 1950.0 + 100 * i,
        "GAIAEDR3_R_HI_PHOTOGEO": 2080.0 + 100 * i,
        "VHELIO_AVG": -50.0 + i,
        "VERR": np.full(n, 0.05),
        "FE_H": -0.2 + 0.05 * i,
        "FE_H_ERR": np.full(n, 0.01),
        "FE_H_FLAG": np.zeros(n, dtype=np.int32),
        "M_H": -0.21 + 0.05 * i,
        "MG_FE": 0.1 + 0.01 * i,
        "MG_FE_ERR": np.full(n, 0.02),
        "MG_FE_FLAG": np.zeros(n, dtype=np.int32),
        "ALPHA_M": 0.05 + 0.01 * i,
        "ALPHA_M_ERR": np.full(n, 0.01),
        "SNR": 100.0 + 10 * i,
        "ASPCAPFLAG": np.zeros(n, dtype=np.int64),
        "STARFLAG": np.zeros(n, dtype=np.int64),
        "TEFF": np.full(n, 4800.0),
        "LOGG": np.full(n, 2.5),
        "mass": np.full(n, 1.2),
        "age": 4.0 + i,
        "age_16": 3.0 + i,
        "age_84": 5.5 + i,
    }
    table.update(columns)
    return pd.DataFrame(table)


def is_text(column: pd.Series) -> bool:
    return pd.api.types.is_string_dtype(column) or column.dtype == object


def write_csv(df: pd.DataFrame, path: Path) -> Path:
    df.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def real() -> pd.DataFrame:
    return read_apogee_dr17(REAL)


@pytest.fixture(scope="module")
def real_raw() -> pd.DataFrame:
    """The extract's own columns, read with astropy alone (independent of the reader)."""
    with fits.open(REAL) as hdul:
        data = hdul[1].data
        names = ("APOGEE_ID", "FE_H", "ALPHA_M", "M_H", "age", "age_16", "age_84", "mass",
                 "GAIAEDR3_R_MED_GEO", "GAIAEDR3_R_LO_GEO", "GAIAEDR3_R_HI_GEO",
                 "GAIAEDR3_R_MED_PHOTOGEO")  # fmt: skip
        return pd.DataFrame(
            {n: data[n].astype(str) if n == "APOGEE_ID" else data[n].astype(float) for n in names}
        )


# ------------------------------------------------------------------ the real extract


@needs_real
def test_real_rows_units_and_validation(real, real_raw):
    # 95 rows, 95 distinct APOGEE_IDs, all from apo25m: nothing to de-duplicate
    assert real_raw["APOGEE_ID"].nunique() == len(real_raw) == 95
    assert len(real) == 95
    assert real.attrs["apogee"]["n_duplicates_dropped"] == 0
    assert real.attrs["apogee"]["n_rows"] == 95
    assert (real["telescope"] == "apo25m").all()
    # Bailer-Jones distances in pc become kpc: the Kepler field giants lie 0.4-4.3 kpc away
    assert 1.5 < real["distance"].median() < 2.5
    med, lo, hi = (real_raw[f"GAIAEDR3_R_{q}_GEO"].to_numpy() for q in ("MED", "LO", "HI"))
    np.testing.assert_allclose(real["distance"].to_numpy()[:5], med[:5] / 1000.0, rtol=1e-12)
    np.testing.assert_allclose(real["distance_err_lo"], (med - lo) / 1000.0, rtol=1e-12)
    np.testing.assert_allclose(real["distance_err_hi"], (hi - med) / 1000.0, rtol=1e-12)
    np.testing.assert_allclose(real["distance_err"], (hi - lo) / 2000.0, rtol=1e-12)
    # the schema accepts the table as it is
    pd.testing.assert_frame_equal(validate_catalogue(real), real)


@needs_real
def test_real_known_values_of_first_star(real):
    first = real.iloc[0]
    assert first["source_id"] == "2M19261694+3745527"
    # values as written in the file (float32)
    assert first["feh"] == pytest.approx(-0.64612, abs=1e-5)
    assert first["afe"] == pytest.approx(0.383873, abs=1e-5)  # MG_FE
    assert first["rv"] == pytest.approx(-70.576859, abs=1e-5)
    assert first["pmra"] == pytest.approx(6.309605, abs=1e-5)
    assert first["age"] == pytest.approx(12.78, abs=1e-5)
    assert first["age_err_lo"] == pytest.approx(12.78 - 11.37, abs=1e-5)
    assert first["age_err_hi"] == pytest.approx(13.57 - 12.78, abs=1e-5)
    assert first["age_err"] == pytest.approx((13.57 - 11.37) / 2, abs=1e-5)
    assert first["mass"] == pytest.approx(0.89, abs=1e-6)
    assert real.attrs["apogee"]["mass"] == "allStar: mass"
    assert real.attrs["apogee"]["ages"]["columns"] == ["age", "age_16", "age_84"]


@needs_real
def test_real_age_outside_its_percentiles(real):
    # Montalban et al. quote three ages above their own 84th percentile: no sides, half-width kept
    a = real.set_index("source_id").loc["2M18490423+4248117"]
    assert np.isnan(a["age_err_lo"]) and np.isnan(a["age_err_hi"])
    assert a["age_err"] == pytest.approx((12.28 - 8.12) / 2, abs=1e-5)
    assert real.attrs["apogee"]["ages"]["n_age_outside_interval"] == 3
    assert int(real["age_err_hi"].isna().sum()) == 3


@needs_real
def test_real_flags_and_nulls(real):
    # the one star with ASPCAPFLAG STAR_BAD + MULTIPLE_SUSPECT (and no FE_H) is flagged bad
    bad = real["flag_feh"] == 1
    assert real.loc[bad, "source_id"].tolist() == ["2M19441360+4546111"]
    assert (real["flag_afe"] == real["flag_feh"]).all()
    assert np.isnan(real.loc[bad, "feh"]).all()
    assert real.attrs["apogee"]["n_flag_feh_bad"] == 1
    assert real.attrs["apogee"]["element_flags"] == ["FE_H_FLAG", "MG_FE_FLAG"]


@needs_real
def test_real_alpha_m_and_photogeo(real_raw):
    df = read_apogee_dr17(REAL, alpha="ALPHA_M", distance="PHOTOGEO")
    attrs = df.attrs["apogee"]
    assert attrs["alpha"] == "ALPHA_M + M_H - FE_H"
    assert attrs["distance"] == "PHOTOGEO"
    assert attrs["distance_columns"][0] == "GAIAEDR3_R_MED_PHOTOGEO"
    expect = real_raw["ALPHA_M"] + real_raw["M_H"] - real_raw["FE_H"]
    np.testing.assert_allclose(df["afe"], expect, rtol=1e-12)
    photogeo = real_raw["GAIAEDR3_R_MED_PHOTOGEO"] / 1000.0
    np.testing.assert_allclose(df["distance"], photogeo, rtol=1e-12)


@needs_real
def test_real_reads_quietly():
    # the file's odd unit strings and VOTable header raise no warning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        read_apogee_dr17(REAL)


@needs_real
def test_real_join_with_age_table_and_its_mass(tmp_path, real_raw):
    ids = real_raw["APOGEE_ID"].tolist()
    ages = pd.DataFrame(
        {
            "APOGEE_ID": ids[:5] + ["2M00000000+0000000"],
            "age": [5.0, 6.0, 7.0, 8.0, 9.0, 3.0],
            "age_16": [4.0, 5.0, 6.0, 7.0, 8.0, 2.0],
            "age_84": [6.5, 7.5, 8.5, 9.5, 10.5, 4.0],
            "mass": [1.5] * 6,
        }
    )
    df = read_apogee_dr17(REAL, write_csv(ages, tmp_path / "ages.csv"))
    assert df["source_id"].tolist() == ids[:5]
    assert (df["mass"] == 1.5).all()  # the age table's mass, not the allStar one
    np.testing.assert_allclose(df["age_err_hi"], 1.5)
    info = df.attrs["apogee"]["ages"]
    assert info["n_without_age"] == 90 and info["n_ages_unused"] == 1
    assert df.attrs["apogee"]["mass"] == "age catalogue: mass"


@pytest.fixture(scope="module")
def galpy_loaded():
    """Import the Galactic potential once (seconds of imports), outside the timed test."""
    import galpy.potential  # noqa: F401


@needs_real
def test_real_through_preprocessing(real, galpy_loaded):
    cfg = PipelineConfig().replace(orbits={"n_mc": 10, "staeckel_delta": 0.45})
    try:
        stars, flow, info = preprocess(real, cfg)
    except PipelineError as exc:  # acceptable only as the clear "a cut removed all" error
        assert "removed" in str(exc) and "cut-flow" in str(exc)
        return
    frame = flow.to_frame()
    assert frame["n_remaining"].iloc[0] == 95
    assert 0 < info["n_clean"] < 95
    # the sample is nearly all alpha-rich and old: no thin-disk star survives, a few thick ones
    assert info["n_thick"] > 0
    assert {"R", "R_g", "Z_max", "population"} <= set(stars.columns)


# ------------------------------------------------------------------ synthetic tables


def test_flags_from_bits_and_element_flags(tmp_path):
    aspcap = np.array([0, 1 << STAR_BAD, 1 << N_M_WARN, 0, 0, 0, 0], dtype=np.int64)
    star = np.array([0, 0, 0, 1 << BAD_PIXELS, 1 << PERSIST_HIGH, 0, 0], dtype=np.int64)
    fe_flag = np.array([0, 0, 0, 0, 0, 4, 0])
    mg_flag = np.array([0, 0, 0, 0, 0, 0, 2])
    t = allstar(7, ASPCAPFLAG=aspcap, STARFLAG=star, FE_H_FLAG=fe_flag, MG_FE_FLAG=mg_flag)
    df = read_apogee_dr17(write_csv(t, tmp_path / "a.csv"))
    # good, STAR_BAD, warning only, BAD_PIXELS, warning only, FE_H_FLAG, MG_FE_FLAG
    assert df["flag_feh"].tolist() == [0, 1, 0, 1, 0, 1, 0]
    assert df["flag_afe"].tolist() == [0, 1, 0, 1, 0, 0, 1]
    attrs = df.attrs["apogee"]
    assert attrs["aspcapflag_bits"] == sorted(APOGEE_ASPCAPFLAG_BAD_BITS)
    assert attrs["starflag_bits"] == sorted(APOGEE_STARFLAG_BAD_BITS)
    assert attrs["n_flag_feh_bad"] == 3 and attrs["n_flag_afe_bad"] == 3
    # the bit sets can be overridden: now the N_M_WARN star is bad and BAD_PIXELS is not
    df = read_apogee_dr17(tmp_path / "a.csv", aspcapflag_bits=(N_M_WARN,), starflag_bits=())
    assert df["flag_feh"].tolist() == [0, 0, 1, 0, 0, 1, 0]


def test_alpha_m_adds_its_own_bits(tmp_path):
    t = allstar(2, ASPCAPFLAG=np.array([0, 1 << ALPHA_M_BAD]))
    path = write_csv(t, tmp_path / "a.csv")
    assert read_apogee_dr17(path)["flag_afe"].tolist() == [0, 0]  # [Mg/Fe] does not use it
    df = read_apogee_dr17(path, alpha="ALPHA_M")
    assert df["flag_afe"].tolist() == [0, 1] and df["flag_feh"].tolist() == [0, 0]
    np.testing.assert_allclose(df["afe"], t["ALPHA_M"] + t["M_H"] - t["FE_H"])
    np.testing.assert_allclose(df["afe_err"], t["ALPHA_M_ERR"])


def test_flag_bits_above_32_and_negative_32_bit_masks(tmp_path):
    # ASPCAPFLAG is 64-bit in DR17 (MULTIPLE_SUSPECT = bit 41); a 32-bit STARFLAG with bit 31
    # set reads as negative and must not be taken for bits 32-63
    path = tmp_path / "a.fits"
    t = allstar(3)
    cols = [fits.Column(name=c, format="30A" if is_text(t[c]) else "D", array=t[c].to_numpy())
            for c in t.columns if c not in ("ASPCAPFLAG", "STARFLAG")]  # fmt: skip
    cols.append(fits.Column(name="ASPCAPFLAG", format="K", array=np.array([0, 1 << 41, 0])))
    negative = np.array([0, 0, -(2**31)], dtype=np.int32)
    cols.append(fits.Column(name="STARFLAG", format="J", array=negative))
    fits.BinTableHDU.from_columns(cols).writeto(path)
    df = read_apogee_dr17(path, starflag_bits=(0, 3))
    assert df["flag_feh"].tolist() == [0, 1, 0]


def test_nulls_tnull_and_odd_units_in_fits(tmp_path):
    path = tmp_path / "a.fits"
    t = allstar(3, VHELIO_AVG=[-9999.0, 10.0, 20.0], GAIAEDR3_PMRA=[1.0, -999.0, 2.0])
    cols = []
    for c in t.columns:
        if c == "STARFLAG":  # an integer null (TNULL) in the flag column
            cols.append(fits.Column(name=c, format="K", null=-1, array=np.array([0, 0, -1])))
        elif is_text(t[c]):
            cols.append(fits.Column(name=c, format="30A", array=t[c].to_numpy()))
        else:
            unit = {"LOGG": "log(cm.s**-2)", "TEFF": "K", "SNR": "muHz"}.get(c)
            cols.append(fits.Column(name=c, format="D", unit=unit, array=t[c].to_numpy(float)))
    fits.BinTableHDU.from_columns(cols).writeto(path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        df = read_apogee_dr17(path)
    assert np.isnan(df["rv"].iloc[0]) and df["rv"].iloc[1] == 10.0
    assert np.isnan(df["pmra"].iloc[1]) and df["pmra"].iloc[0] == 1.0
    # a missing STARFLAG is not "good": the flag is NaN and the flag cut drops the star
    assert df["flag_feh"].iloc[:2].tolist() == [0, 0] and np.isnan(df["flag_feh"].iloc[2])


def test_duplicates_keep_highest_snr(tmp_path):
    t = allstar(3, APOGEE_ID=["2M1", "2M2", "2M1"], TELESCOPE=["apo25m", "apo25m", "lco25m"],
                SNR=[50.0, 80.0, 120.0], VHELIO_AVG=[1.0, 2.0, 3.0])  # fmt: skip
    df = read_apogee_dr17(write_csv(t, tmp_path / "a.csv"))
    assert df["source_id"].tolist() == ["2M2", "2M1"]  # allStar order of the rows kept
    assert df.set_index("source_id").loc["2M1", "telescope"] == "lco25m"
    assert df.set_index("source_id").loc["2M1", "rv"] == 3.0
    assert df.attrs["apogee"]["n_duplicates_dropped"] == 1


def test_astronn_style_age_catalogue(tmp_path):
    # star 2M0 observed from both hemispheres; 2M2 has no age row
    t = allstar(4, APOGEE_ID=["2M0", "2M1", "2M2", "2M0"],
                TELESCOPE=["apo25m", "apo25m", "apo25m", "lco25m"],
                SNR=[90.0, 100.0, 110.0, 150.0])  # fmt: skip
    t = t.drop(columns=["age", "age_16", "age_84"])
    vac = pd.DataFrame(
        {
            "APOGEE_ID": ["2M0", "2M0", "2M1", "2M9"],
            "TELESCOPE": ["apo25m", "lco25m", "apo25m", "apo25m"],
            "age": [3.0, 3.2, 7.0, 1.0],
            "age_linear_correct": [2.7, 2.9, 9.1, 0.5],
            "age_lowess_correct": [3.1, 3.3, 8.0, 1.1],
            "age_total_error": [0.8, 0.7, 2.0, 0.3],
            "age_model_error": [0.5, 0.4, 1.5, 0.2],
        }
    )
    df = read_apogee_dr17(write_csv(t, tmp_path / "s.csv"), write_csv(vac, tmp_path / "v.csv"))
    assert df["source_id"].tolist() == ["2M1", "2M0"]
    got = df.set_index("source_id")
    # the lco25m row of 2M0 (highest SNR) is matched to the lco25m age
    assert got.loc["2M0", "age"] == 3.3 and got.loc["2M0", "age_err"] == 0.7
    assert got.loc["2M1", "age"] == 8.0
    assert "age_err_lo" not in df.columns  # a symmetric error only
    info = df.attrs["apogee"]["ages"]
    assert info["columns"] == ["age_lowess_correct", "age_total_error"]
    assert info["join_on"] == ["APOGEE_ID", "TELESCOPE"]
    assert info["n_without_age"] == 1 and info["n_ages_unused"] == 2
    assert df.attrs["apogee"]["mass"] == "allStar: mass"
    # another age column on request
    df = read_apogee_dr17(tmp_path / "s.csv", tmp_path / "v.csv",
                          age_columns=("age_linear_correct", "age_model_error"))  # fmt: skip
    assert df.set_index("source_id").loc["2M1", "age"] == 9.1


def test_age_table_duplicates_are_ambiguous(tmp_path):
    t = allstar(2, APOGEE_ID=["2M0", "2M1"]).drop(columns=["age", "age_16", "age_84"])
    ages = pd.DataFrame({"APOGEE_ID": ["2M0", "2M1", "2M1"], "age": [1.0, 2.0, 3.0],
                         "age_16": [0.5, 1.5, 2.5], "age_84": [1.5, 2.5, 3.5]})  # fmt: skip
    with pytest.raises(CatalogueError, match=r"2M1.*ambiguous"):
        read_apogee_dr17(write_csv(t, tmp_path / "s.csv"), write_csv(ages, tmp_path / "a.csv"))


def test_no_star_in_common_with_age_table(tmp_path):
    t = allstar(2)
    ages = pd.DataFrame({"APOGEE_ID": ["2Mx"], "age": [1.0], "age_16": [0.5], "age_84": [1.5]})
    with pytest.raises(CatalogueError, match="no star in common"):
        read_apogee_dr17(write_csv(t, tmp_path / "s.csv"), write_csv(ages, tmp_path / "a.csv"))


def test_missing_mass_and_ages_are_named(tmp_path):
    path = write_csv(allstar(2).drop(columns=["mass"]), tmp_path / "nomass.csv")
    with pytest.raises(CatalogueError, match=r"no stellar mass column 'mass'.*age catalogue"):
        read_apogee_dr17(path)
    path = write_csv(allstar(2).drop(columns=["age_84"]), tmp_path / "noage.csv")
    with pytest.raises(CatalogueError, match=r"no age column.*'age_84'.*ages="):
        read_apogee_dr17(path)


def test_non_numeric_column_names_file_and_column(tmp_path):
    t = allstar(3, FE_H=["-0.1", "abc", "0.0"])
    with pytest.raises(CatalogueError, match=r"a\.csv.*'FE_H'.*non-numeric"):
        read_apogee_dr17(write_csv(t, tmp_path / "a.csv"))


def test_bad_choices():
    with pytest.raises(ValueError, match="alpha must be"):
        read_apogee_dr17("x.csv", alpha="SI_FE")
    with pytest.raises(ValueError, match="distance must be"):
        read_apogee_dr17("x.csv", distance="MED")
    with pytest.raises(ValueError, match="bit numbers"):
        read_apogee_dr17("x.csv", starflag_bits=(64,))
    with pytest.raises(ValueError, match="age_columns"):
        read_apogee_dr17("x.csv", age_columns=("age",))


def test_output_is_canonical(tmp_path):
    df = read_apogee_dr17(write_csv(allstar(3), tmp_path / "a.csv"), distance="photogeo")
    pd.testing.assert_frame_equal(validate_catalogue(df), df)
    np.testing.assert_allclose(df["distance"], [2.01, 2.11, 2.21])
    np.testing.assert_allclose(df["distance_err_lo"], 0.06)
    np.testing.assert_allclose(df["distance_err_hi"], 0.07)
    np.testing.assert_allclose(df["distance_err"], 0.065)
    assert df.attrs["apogee"]["distance"] == "PHOTOGEO"
