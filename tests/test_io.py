"""Tests of mgar_bayes.io: readers, column maps, LAMOST DR8 join, writer."""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pandas as pd
import pytest
from astropy.table import MaskedColumn, Table
from catalogue_helpers import make_catalogue

from mgar_bayes.io import read_catalogue, read_column_map, read_lamost_dr8, write_table
from mgar_bayes.schema import CatalogueError, validate_catalogue


def to_table(df: pd.DataFrame) -> Table:
    return Table(
        {
            c: df[c].to_numpy(dtype=str) if df[c].dtype.kind in "OT" else df[c].to_numpy()
            for c in df.columns
        }
    )


def write_fits(df: pd.DataFrame, path) -> None:
    to_table(df).write(path, format="fits")


@pytest.fixture
def cat() -> pd.DataFrame:
    return make_catalogue()


# ------------------------------------------------------------------ round trips


@pytest.mark.parametrize("suffix", [".csv", ".csv.gz", ".parquet", ".pq", ".fits", ".fits.gz"])
def test_round_trip(tmp_path, cat, suffix):
    path = tmp_path / f"cat{suffix}"
    if "fits" in suffix:
        write_fits(cat, path)
    else:
        write_table(cat, path)
    pd.testing.assert_frame_equal(read_catalogue(path), validate_catalogue(cat))


def test_round_trips_agree_across_formats(tmp_path, cat):
    write_table(cat, tmp_path / "a.csv")
    write_table(cat, tmp_path / "a.parquet")
    write_fits(cat, tmp_path / "a.fits")
    frames = [read_catalogue(tmp_path / f) for f in ("a.csv", "a.parquet", "a.fits")]
    for other in frames[1:]:
        pd.testing.assert_frame_equal(frames[0], other)


def test_fits_big_endian_bytes_and_multidim(tmp_path, cat):
    path = tmp_path / "c.fits"
    t = to_table(cat)
    t["evol_stage"] = np.char.encode(cat["evol_stage"].to_numpy(dtype=str), "ascii")
    t["spectrum"] = np.zeros((len(cat), 3))
    t.write(path, format="fits")
    with pytest.warns(UserWarning, match="spectrum"):
        got = read_catalogue(path)
    assert "spectrum" not in got.columns
    assert got["distance"].dtype.isnative and got["source_id"].dtype == np.int64
    assert list(got["evol_stage"]) == list(cat["evol_stage"])
    # Arithmetic on native arrays works as on the originals.
    np.testing.assert_array_equal(got["distance"] * 2, cat["distance"] * 2)


def test_fits_null_integers_become_nan(tmp_path, cat):
    t = to_table(cat)
    t["teff"] = MaskedColumn(np.full(len(cat), 4800, dtype=np.int32), mask=np.arange(len(cat)) == 2)
    t.write(tmp_path / "m.fits", format="fits")
    got = read_catalogue(tmp_path / "m.fits")
    assert np.isnan(got.loc[2, "teff"]) and (got["teff"].drop(index=2) == 4800).all()


# ------------------------------------------------------------------ column maps


def survey_version(cat: pd.DataFrame) -> pd.DataFrame:
    """The same stars in a survey's own names; distances in pc."""
    raw = cat.rename(columns={"source_id": "OBSID", "feh": "FEH_X", "distance": "dist_pc"})
    raw["dist_pc"] = raw["dist_pc"] * 1000.0
    raw["distance_err"] = raw["distance_err"] * 1000.0
    return raw


def check_mapped(got: pd.DataFrame, cat: pd.DataFrame) -> None:
    np.testing.assert_array_equal(got["source_id"], cat["source_id"])
    np.testing.assert_array_equal(got["feh"], cat["feh"])
    np.testing.assert_allclose(got["distance"], cat["distance"], rtol=1e-12)
    np.testing.assert_allclose(got["distance_err"], cat["distance_err"], rtol=1e-12)
    assert "extra" in got.columns  # unmapped columns are kept
    assert not {"FEH_X", "OBSID", "dist_pc"} & set(got.columns)


def test_column_map_dict_with_units(tmp_path, cat):
    path = tmp_path / "s.parquet"
    write_table(survey_version(cat), path)
    cmap = {
        "source_id": "OBSID",
        "feh": "FEH_X",
        "distance": {"column": "dist_pc", "unit": "pc"},
    }
    got = read_catalogue(path, cmap, units={"distance_err": "pc"})
    check_mapped(got, cat)


def test_column_map_toml(tmp_path, cat):
    path = tmp_path / "s.csv"
    write_table(survey_version(cat), path)
    toml = tmp_path / "map.toml"
    toml.write_text(
        "[columns]\n"
        'source_id = "obsid"\n'  # matched case-insensitively
        'feh = "FEH_X"\n'
        'distance = { column = "dist_pc", unit = "pc" }\n'
        "[units]\n"
        'distance_err = "pc"\n'
    )
    columns, units = read_column_map(toml)
    assert columns == {"source_id": "obsid", "feh": "FEH_X", "distance": "dist_pc"}
    assert units == {"distance": "pc", "distance_err": "pc"}
    check_mapped(read_catalogue(path, toml), cat)
    check_mapped(read_catalogue(path, str(toml)), cat)


def test_column_map_toml_errors(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[columns\n")
    with pytest.raises(CatalogueError, match="bad.toml"):
        read_column_map(bad)
    typo = tmp_path / "typo.toml"
    typo.write_text('[column]\nfeh = "FEH"\n')
    with pytest.raises(CatalogueError, match="column"):
        read_column_map(typo)
    clash = tmp_path / "clash.toml"
    clash.write_text('[columns]\nfeh = { column = "F", unit = "dex" }\n[units]\nfeh = "K"\n')
    with pytest.raises(CatalogueError, match="conflicting units for 'feh'"):
        read_column_map(clash)
    with pytest.raises(FileNotFoundError, match="nope.toml"):
        read_column_map(tmp_path / "nope.toml")


def test_mapped_column_absent(tmp_path, cat):
    path = tmp_path / "s.csv"
    write_table(cat, path)
    with pytest.raises(CatalogueError, match=r"'FEH_MISSING' not found.*available columns.*afe"):
        read_catalogue(path, {"feh": "FEH_MISSING"})


def test_mapped_name_clash_and_ambiguity(tmp_path, cat):
    raw = cat.assign(FEH_X=cat["feh"] + 1.0)  # keeps an unrelated column called 'feh'
    path = tmp_path / "s.parquet"
    write_table(raw, path)
    with pytest.warns(UserWarning, match="'feh'"):
        got = read_catalogue(path, {"feh": "FEH_X"})
    np.testing.assert_array_equal(got["feh"], cat["feh"] + 1.0)
    write_table(cat.assign(Extra=1.0), tmp_path / "amb.parquet")
    with pytest.raises(CatalogueError, match="'EXTRA' is ambiguous"):
        read_catalogue(tmp_path / "amb.parquet", {"logg": "EXTRA"})


def test_no_source_id(tmp_path, cat):
    path = tmp_path / "s.csv"
    write_table(cat.rename(columns={"source_id": "obsid"}), path)
    with pytest.raises(CatalogueError, match="source_id"):
        read_catalogue(path)


@pytest.mark.parametrize(
    ("unit", "match"),
    [
        ("parsecs_please", r"'distance'.*cannot parse.*parsecs_please"),
        ("km/s", r"'distance'.*'km/s' cannot be converted to 'kpc'"),
    ],
)
def test_bad_unit(tmp_path, cat, unit, match):
    path = tmp_path / "s.csv"
    write_table(cat, path)
    with pytest.raises(CatalogueError, match=match):
        read_catalogue(path, units={"distance": unit})


def test_unit_for_flag_or_absent_column(tmp_path, cat):
    path = tmp_path / "s.csv"
    write_table(cat, path)
    with pytest.raises(CatalogueError, match="flag_feh"):
        read_catalogue(path, units={"flag_feh": "km"})
    with pytest.raises(CatalogueError, match="teff"):
        read_catalogue(path, units={"teff": "K"})


# ------------------------------------------------------------------ bad inputs


def test_missing_required_column(tmp_path, cat):
    path = tmp_path / "s.parquet"
    write_table(cat.drop(columns="age_err"), path)
    with pytest.raises(CatalogueError, match=r"missing required column.*age_err"):
        read_catalogue(path)


def test_non_numeric_values(tmp_path, cat):
    bad = cat.astype({"feh": object})
    bad.loc[3, "feh"] = "abc"  # ("n/a" would be read as a missing value)
    bad.loc[7, "feh"] = "oops"
    path = tmp_path / "s.csv"
    write_table(bad, path)
    with pytest.raises(CatalogueError, match=r"'feh'.*numeric.*2 (table )?row\(s\)[^:]*: 3, 7"):
        read_catalogue(path)


def test_non_numeric_values_with_unit(tmp_path, cat):
    bad = cat.astype({"distance": object})
    bad.loc[5, "distance"] = "far"
    path = tmp_path / "s.csv"
    write_table(bad, path)
    with pytest.raises(CatalogueError, match=r"'distance'.*numeric.*1 row\(s\): 5"):
        read_catalogue(path, units={"distance": "pc"})


def test_non_positive_uncertainty(tmp_path, cat):
    bad = cat.copy()
    bad.loc[4, "rv_err"] = 0.0
    bad.loc[9, "rv_err"] = -1.0
    path = tmp_path / "s.parquet"
    write_table(bad, path)
    with pytest.raises(CatalogueError, match=r"'rv_err'.*> 0.*2 (table )?row\(s\)[^:]*: 4, 9"):
        read_catalogue(path)


def test_duplicated_source_id(tmp_path, cat):
    bad = cat.copy()
    bad.loc[6, "source_id"] = bad.loc[2, "source_id"]
    path = tmp_path / "s.csv"
    write_table(bad, path)
    with pytest.raises(CatalogueError, match=r"duplicated source_id.*2 (table )?row\(s\)[^:]*: 2, 6"):
        read_catalogue(path)


def test_empty_table(tmp_path, cat):
    path = tmp_path / "s.csv"
    write_table(cat.iloc[:0], path)
    with pytest.raises(CatalogueError, match="empty"):
        read_catalogue(path)
    blank = tmp_path / "blank.csv"
    blank.write_text("")
    with pytest.raises(CatalogueError, match=r"blank\.csv.*empty"):
        read_catalogue(blank)


def test_unreadable_files(tmp_path):
    text = tmp_path / "text.fits"
    text.write_text("this is not a FITS file\n")
    with pytest.raises(CatalogueError, match=r"text\.fits.*FITS") as info:
        read_catalogue(text)
    assert info.value.__cause__ is not None
    blob = tmp_path / "blob.parquet"
    blob.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(CatalogueError, match=r"blob\.parquet.*PARQUET"):
        read_catalogue(blob)
    png = tmp_path / "image.csv"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + np.random.default_rng(1).bytes(512))
    with pytest.raises(CatalogueError, match=r"image\.csv"):
        read_catalogue(png)


def test_unknown_suffix_and_missing_file(tmp_path, cat):
    path = tmp_path / "s.xlsx"
    path.write_text("x")
    with pytest.raises(CatalogueError, match=r"s\.xlsx.*unknown catalogue format"):
        read_catalogue(path)
    with pytest.raises(FileNotFoundError, match=r"missing\.csv"):
        read_catalogue(tmp_path / "missing.csv")


# ------------------------------------------------------------------ write_table


def test_write_table_refuses_overwrite(tmp_path, cat):
    path = tmp_path / "out.parquet"
    write_table(cat, path)
    with pytest.raises(FileExistsError, match=r"out\.parquet"):
        write_table(cat, path)
    write_table(cat.iloc[:5], path, overwrite=True)
    assert len(pd.read_parquet(path)) == 5
    assert [p.name for p in tmp_path.iterdir()] == ["out.parquet"]  # no temporary left
    with pytest.raises(ValueError, match="cannot write"):
        write_table(cat, tmp_path / "out.fits")


# ------------------------------------------------------------------ LAMOST DR8

VAC_ONLY = [11, 12]
AGE_ONLY = [91, 92, 93]
BOTH = [1, 2, 3, 4, 5, 6, 7, 8]
RC_IDS = {2, 5, 8}


def make_vac(obsids, seed=2) -> Table:
    rng = np.random.default_rng(seed)
    n = len(obsids)
    phi = rng.uniform(-20, 20, n)
    r = rng.uniform(6, 12, n)
    return Table(
        {
            "obsid": np.asarray(obsids, dtype=np.int64),
            "FEH_APOGEE": rng.normal(-0.2, 0.2, n).astype(np.float32),
            "ERR_FEH_APOGEE": rng.uniform(0.02, 0.05, n).astype(np.float32),
            "AFE_APOGEE": rng.normal(0.1, 0.05, n).astype(np.float32),
            "ERR_AFE_APOGEE": rng.uniform(0.01, 0.03, n).astype(np.float32),
            "FLAG_FEH_APOGEE": np.zeros(n, dtype=np.int16),
            "FLAG_AFE_APOGEE": np.zeros(n, dtype=np.int16),
            "snrg": rng.uniform(20, 150, n),
            "rv": rng.normal(0, 30, n),
            "err_rv": rng.uniform(2, 6, n),
            "dist_phot": rng.uniform(0.5, 4, n),
            "err_dist_phot": rng.uniform(0.05, 0.4, n),
            # positions and their errors in pc, as in the real VAC
            "x": 1000 * r * np.cos(np.radians(phi)),
            "y": 1000 * r * np.sin(np.radians(phi)),
            "z": 1000 * rng.normal(0, 0.5, n),
            "r": 1000 * r,
            "phi": phi,
            "err_x": rng.uniform(10, 200, n),
            "err_y": rng.uniform(10, 200, n),
            "err_z": rng.uniform(10, 200, n),
            "err_r": rng.uniform(10, 200, n),
            "err_phi": rng.uniform(0.1, 1, n),
            "vr": rng.normal(0, 30, n),
            "vphi": rng.normal(220, 20, n),  # positive along rotation, as C25 read it
            "vz": rng.normal(0, 15, n),
            "e_vr": rng.uniform(1, 5, n),
            "e_vphi": rng.uniform(1, 5, n),
            "e_vz": rng.uniform(1, 5, n),
            "ra": rng.uniform(0, 360, n),
            "dec": rng.uniform(-10, 60, n),
            "pmra": rng.normal(0, 3, n),
            "pmra_error": rng.uniform(0.02, 0.1, n),
            "pmdec": rng.normal(0, 3, n),
            "pmdec_error": rng.uniform(0.02, 0.1, n),
            "spectrum": np.zeros((n, 4)),  # unused multi-dim column: skipped silently
        }
    )


def make_ages(obsids, seed=3) -> Table:
    rng = np.random.default_rng(seed)
    n = len(obsids)
    return Table(
        {
            "obsid": np.asarray(obsids, dtype=np.int64),
            "status": np.array([1 if o in RC_IDS else 0 for o in obsids], dtype=np.int16),
            "age_rgb": rng.uniform(1, 12, n),
            "err_age_rgb": rng.uniform(0.1, 0.3, n),
            "mass_rgb": rng.uniform(0.8, 2, n),
            "age_rc": rng.uniform(1, 12, n),
            "err_age_rc": rng.uniform(0.1, 0.3, n),
            "mass_rc": rng.uniform(0.8, 2, n),
            "snr": rng.uniform(20, 150, n),
        }
    )


def vac_frame(vac: Table) -> pd.DataFrame:
    vac = vac.copy()
    vac.remove_column("spectrum")
    return vac.to_pandas().set_index("obsid").loc[BOTH]


@pytest.fixture
def lamost(tmp_path):
    vac = make_vac(BOTH + VAC_ONLY)
    ages = make_ages(AGE_ONLY[:1] + BOTH[::-1] + AGE_ONLY[1:])  # different row order
    vac_path, age_path = tmp_path / "dr8_final_vac_flag_parameter.fits", tmp_path / "ages.fits"
    vac.write(vac_path, format="fits")
    ages.write(age_path, format="fits")
    return vac, ages, vac_path, age_path


def test_lamost_join_and_columns(lamost, caplog):
    vac, ages, vac_path, age_path = lamost
    with caplog.at_level(logging.INFO, logger="mgar_bayes.io"), warnings.catch_warnings():
        warnings.simplefilter("error")
        df = read_lamost_dr8(vac_path, age_path)
    assert df.attrs["join"] == {"vac_rows": 10, "age_rows": 11, "matched": 8}
    assert "2 VAC rows and 3 age rows without a partner" in caplog.text
    assert list(df["source_id"]) == BOTH  # VAC order
    v = vac_frame(vac)
    a = ages.to_pandas().set_index("obsid").loc[BOTH]
    rc = np.array([o in RC_IDS for o in BOTH])
    assert list(df["evol_stage"]) == ["RC" if x else "RGB" for x in rc]
    age = np.where(rc, a["age_rc"], a["age_rgb"])
    np.testing.assert_allclose(df["age"], age)
    np.testing.assert_allclose(df["age_err"], np.where(rc, a["err_age_rc"], a["err_age_rgb"]) * age)
    np.testing.assert_allclose(df["mass"], np.where(rc, a["mass_rc"], a["mass_rgb"]))
    np.testing.assert_allclose(df["R_err"], v["err_r"] / 1000.0)
    np.testing.assert_allclose(df["z_err"], v["err_z"] / 1000.0)
    np.testing.assert_allclose(df["x_err"], v["err_x"] / 1000.0)
    np.testing.assert_allclose(df["R"], v["r"] / 1000.0)
    np.testing.assert_allclose(df["z"], v["z"] / 1000.0)
    np.testing.assert_allclose(df["x"], v["x"] / 1000.0)
    np.testing.assert_allclose(df["phi"], v["phi"])
    np.testing.assert_allclose(df["v_phi"], v["vphi"])
    np.testing.assert_allclose(df["feh"], v["FEH_APOGEE"])
    # C25's SNR cut reads the age catalogue's snr; the VAC's snrg is kept beside it
    np.testing.assert_allclose(df["snr"], a["snr"])
    np.testing.assert_allclose(df["snr_vac"], v["snrg"])
    assert df.attrs["lamost"]["snr_source"] == "age" and df.attrs["lamost"]["galcen_unit"] == "pc"
    np.testing.assert_allclose(df["pmra_err"], v["pmra_error"])
    assert df["flag_feh"].dtype == np.int64
    for col in ("x", "y", "v_R_err", "distance", "ra", "pmdec"):
        assert col in df.columns
    assert not {"err_phi", "phi_err", "spectrum"} & set(df.columns)


def test_lamost_options(lamost, tmp_path):
    vac, _, _, age_path = lamost
    # a VAC written in kpc, with the opposite v_phi sign (the real one: pc, positive)
    vac = vac.copy()
    for c in ("x", "y", "z", "r", "err_x", "err_y", "err_z", "err_r"):
        vac[c] = vac[c] / 1000.0
    vac["vphi"] = -vac["vphi"]
    vac_path = tmp_path / "vac_kpc.fits"
    vac.write(vac_path, format="fits")
    df = read_lamost_dr8(vac_path, age_path, vphi_sign=-1, phi_unit="rad", distance_unit="pc",
                         galcen_unit="kpc", galcen_err_unit="kpc", snr_source="vac")  # fmt: skip
    v = vac_frame(vac)
    np.testing.assert_allclose(df["v_phi"], -v["vphi"])
    assert (df["v_phi"] > 0).all()
    np.testing.assert_allclose(df["phi"], np.degrees(v["phi"]))
    np.testing.assert_allclose(df["distance"], v["dist_phot"] / 1000.0)
    np.testing.assert_allclose(df["R"], v["r"])
    np.testing.assert_allclose(df["R_err"], v["err_r"])
    np.testing.assert_allclose(df["snr"], v["snrg"])
    assert df.attrs["lamost"]["snr_source"] == "vac"
    with pytest.raises(ValueError, match="vphi_sign"):
        read_lamost_dr8(vac_path, age_path, vphi_sign=2)
    with pytest.raises(ValueError, match="snr_source"):
        read_lamost_dr8(vac_path, age_path, snr_source="snrg")
    # read with the C25 defaults, the kpc file is refused: a unit error, never an empty sample
    with pytest.raises(CatalogueError, match="'R' has a median"):
        read_lamost_dr8(vac_path, age_path, distance_unit="pc", galcen_err_unit="kpc")


def test_lamost_age_catalogue_as_csv(lamost, tmp_path):
    _, ages, vac_path, _ = lamost
    csv = tmp_path / "ages.csv"
    ages.to_pandas().to_csv(csv, index=False)
    df = read_lamost_dr8(vac_path, csv)
    assert df.attrs["join"]["matched"] == len(BOTH)


@pytest.mark.parametrize("which", ["vac", "ages"])
def test_lamost_duplicated_obsid(tmp_path, which):
    vac_ids, age_ids = BOTH + [3], BOTH
    if which == "ages":
        vac_ids, age_ids = BOTH, BOTH + [5, 5]
    make_vac(vac_ids).write(tmp_path / "vac.fits", format="fits")
    make_ages(age_ids).write(tmp_path / "ages.fits", format="fits")
    dup = "3" if which == "vac" else "5"
    with pytest.raises(CatalogueError, match=rf"duplicated obsid value\(s\) {dup}\b"):
        read_lamost_dr8(tmp_path / "vac.fits", tmp_path / "ages.fits")


def test_lamost_missing_column_and_no_overlap(tmp_path):
    vac = make_vac(BOTH)
    vac.remove_column("err_r")
    vac.write(tmp_path / "vac.fits", format="fits")
    make_ages(BOTH).write(tmp_path / "ages.fits", format="fits")
    with pytest.raises(CatalogueError, match="err_r"):
        read_lamost_dr8(tmp_path / "vac.fits", tmp_path / "ages.fits")
    make_vac(BOTH).write(tmp_path / "vac2.fits", format="fits")
    make_ages(AGE_ONLY).write(tmp_path / "ages2.fits", format="fits")
    with pytest.raises(CatalogueError, match="no obsid in common"):
        read_lamost_dr8(tmp_path / "vac2.fits", tmp_path / "ages2.fits")


def test_lamost_output_reads_back(lamost, tmp_path):
    _, _, vac_path, age_path = lamost
    df = read_lamost_dr8(vac_path, age_path)
    out = write_table(df, tmp_path / "joined.parquet")
    back = read_catalogue(out)
    pd.testing.assert_frame_equal(back, df, check_like=False)


# ------------------------------------------------------------------ text encodings


def write_latin1(df: pd.DataFrame, path, row: int = 7) -> int:
    """Write ``df`` as Latin-1 CSV with an 'é' in column ``extra`` of one row; its byte offset."""
    df = df.copy()
    df["extra"] = ["caf\u00e9" if i == row else "cafe" for i in range(len(df))]
    df.to_csv(path, index=False, encoding="latin-1")
    return path.read_bytes().index(b"\xe9")


@pytest.mark.parametrize("suffix", [".csv", ".csv.gz"])
def test_latin1_csv_names_file_offset_encoding_and_fix(tmp_path, cat, suffix):
    path = tmp_path / f"cat{suffix}"
    offset = write_latin1(cat, tmp_path / "plain.csv")
    write_latin1(cat, path)
    with pytest.raises(CatalogueError) as info:
        read_catalogue(path)
    msg = str(info.value)
    assert str(path) in msg
    assert f"byte e9 at byte offset {offset} (line 9)" in msg  # header + 7 rows before it
    assert "encoding 'utf-8'" in msg
    assert "--encoding latin-1" in msg and "encoding='latin-1'" in msg
    assert "Traceback" not in msg


def test_latin1_csv_reads_with_its_encoding(tmp_path, cat):
    path = tmp_path / "cat.csv"
    write_latin1(cat, path)
    got = read_catalogue(path, encoding="latin-1")
    assert got.loc[7, "extra"] == "caf\u00e9" and got.loc[0, "extra"] == "cafe"
    pd.testing.assert_frame_equal(got.drop(columns="extra"), validate_catalogue(cat).drop(columns="extra"))
    # the default, utf-8, still reads a utf-8 file with the same text
    cat2 = cat.assign(extra=["caf\u00e9"] * len(cat))
    write_table(cat2, tmp_path / "utf8.csv")
    assert (read_catalogue(tmp_path / "utf8.csv")["extra"] == "caf\u00e9").all()


def test_bad_byte_beyond_the_first_block_is_located(tmp_path):
    big = make_catalogue(n=4000, survey_extras=False)
    write_table(big, tmp_path / "big.csv")
    data = (tmp_path / "big.csv").read_bytes()
    cut = data.index(b"\n", 1 << 20) + 1  # start of a row after the first 1 MiB block
    (tmp_path / "big.csv").write_bytes(data[:cut] + b"\xff" + data[cut:])
    line = data[:cut].count(b"\n") + 1
    with pytest.raises(CatalogueError, match=rf"byte ff at byte offset {cut} \(line {line}\)"):
        read_catalogue(tmp_path / "big.csv")


def test_unknown_encoding_name(tmp_path, cat):
    write_table(cat, tmp_path / "cat.csv")
    for bad in ("latin-9x", "hex"):
        with pytest.raises(CatalogueError, match=rf"unknown text encoding '{bad}'"):
            read_catalogue(tmp_path / "cat.csv", encoding=bad)


def test_lamost_csv_encoding(lamost, tmp_path):
    _, ages, vac_path, _ = lamost
    frame = ages.to_pandas()
    # in the header: values of columns that are not used are never decoded
    frame["r\u00e9vision"] = 1
    csv = tmp_path / "ages.csv"
    frame.to_csv(csv, index=False, encoding="latin-1")
    with pytest.raises(CatalogueError, match="--encoding latin-1"):
        read_lamost_dr8(vac_path, csv)
    df = read_lamost_dr8(vac_path, csv, encoding="latin-1")
    assert df.attrs["join"]["matched"] == len(BOTH)
