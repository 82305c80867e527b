"""Survey presets and the column-map extensions they use (expressions, constants, recodes)."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from catalogue_helpers import make_catalogue

from mgar_bayes import cli
from mgar_bayes.config import ConfigError, PipelineConfig
from mgar_bayes.io import read_catalogue, read_column_map, write_table
from mgar_bayes.schema import CatalogueError, has_galcen
from mgar_bayes.surveys import (
    PACKAGED_DIR,
    apply_preset_config,
    available_surveys,
    find_preset,
    load_preset,
    read_survey,
)

REALDATA = Path(__file__).resolve().parents[1].parent / "shared" / "realdata"
PRESETS = ("corot_apogee_anders2017", "kepler_apogee_miglio2021", "k2_galah_zinn2022")


def real(name: str) -> Path:
    path = REALDATA / f"{name}.fits"
    if not path.is_file():
        pytest.skip(f"shared real-data table {path} not available")
    return path


def read_quietly(path, preset):
    """read_survey, returning the table and the messages of the warnings it gave."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        df = read_survey(path, preset)
    return df, [str(w.message) for w in caught]


@pytest.fixture
def survey_csv(tmp_path) -> Path:
    """A survey-style table: no flags or [Fe/H] errors, distances with bounds in pc, CLUMP/RGB stages."""
    cat = make_catalogue(n=12)
    raw = cat.drop(
        columns=["flag_feh", "flag_afe", "feh_err", "distance", "distance_err", "evol_stage"]
    )
    raw["DistM"] = cat["distance"] * 1000.0
    raw["DistM68L"] = raw["DistM"] - 50.0
    raw["DistM68U"] = raw["DistM"] + 80.0
    raw["SFDE_B-V_"] = np.linspace(0.1, 0.5, len(raw))
    raw["stage"] = ["CLUMP", "RGB", ""] * 4
    path = tmp_path / "survey.csv"
    write_table(raw, path)
    return path


BASE_MAP = {
    "distance": {"column": "DistM", "unit": "pc"},
    "distance_err": {"expr": "(DistM68U - DistM68L) / 2", "unit": "pc"},
    "feh_err": {"value": 0.05},
    "flag_feh": {"value": 0},
    "flag_afe": {"value": 0},
}


# ------------------------------------------------------------------ the presets shipped


def test_packaged_presets_listed_and_valid():
    surveys = available_surveys()
    assert set(PRESETS) <= set(surveys)
    for name in PRESETS:
        preset = load_preset(name)
        assert preset.path.parent == PACKAGED_DIR
        assert preset.name == name and preset.citation and len(preset.sha256) == 64
        assert surveys[name] == preset.description
        PipelineConfig.from_dict(preset.config)  # every override is a valid setting


def test_corot_preset_reads_the_real_table():
    df, messages = read_quietly(real("corot_apogee_anders2017"), "corot_apogee_anders2017")
    assert len(df) == 606
    # CoRoT 100448189: DistM = 3047.89502 pc, DistM68L/U = 2985.382568/3147.748047 pc
    first = df.iloc[0]
    assert first["source_id"] == 100448189
    assert first["distance"] == pytest.approx(3047.89502 / 1000)
    assert first["distance_err"] == pytest.approx((3147.748047 - 2985.382568) / 2000)
    assert first["distance_err_lo"] == pytest.approx((3047.89502 - 2985.382568) / 1000)
    assert first["distance_err_hi"] == pytest.approx((3147.748047 - 3047.89502) / 1000)
    assert (first["pmra"], first["pmra_err"], first["rv"]) == pytest.approx((-2.9, 4.0, 90.061699))
    assert first["age"] == pytest.approx(3.38844)  # Gyr, linear
    assert first["age_err"] == pytest.approx((5.62341 - 2.39883) / 2)
    assert df["evol_stage"].value_counts(dropna=False).to_dict() == {
        pd.NA: 444,
        "RGB": 119,
        "RC": 43,
    }
    # the low byte of f__Fe_H_ is set (257) exactly for the three stars without [Fe/H]
    assert df["flag_feh"].sum() == 3 and df.loc[df["flag_feh"] == 1, "feh"].isna().all()
    assert df.attrs["column_map"]["values"] == {"flag_afe": 0}
    assert df.attrs["survey"]["name"] == "corot_apogee_anders2017"
    assert {"ccd_x", "ccd_y"} <= set(df.columns) and "x" not in df.columns
    assert any("'flag_afe' set to the constant 0 for every star" in m for m in messages)
    assert not any("TNULL" in m for m in messages)  # VizieR's over-wide TNULLs are harmless
    assert load_preset("corot_apogee_anders2017").config["cuts"]["max_rel_err_phase"] == "off"


def test_kepler_preset_reads_the_real_table():
    df, messages = read_quietly(real("kepler_apogee_miglio2021"), "kepler_apogee_miglio2021")
    assert len(df) == 3315 and has_galcen(df)
    # KIC 1569842: GalR 7.933 kpc, Galphi 0.072 rad, vT +209.19 km/s, zmax 0.366 kpc
    first = df.iloc[0]
    assert first["source_id"] == 1569842
    assert first["R"] == pytest.approx(7.933)
    assert first["phi"] == pytest.approx(180.0 - math.degrees(0.072))
    assert (first["v_phi"], first["Z_max"]) == pytest.approx((209.19, 0.366))
    assert first["R_err"] == pytest.approx((0.629 - 0.610) / 2)
    assert np.median(df["v_phi"]) > 200  # vT is positive along rotation
    # both age bounds equal the age (0.6 Gyr): the 0.1 Gyr rounding alone
    assert df.loc[514, "age_err"] == pytest.approx(0.1 / math.sqrt(12))
    assert df["evol_stage"].value_counts().to_dict() == {"RGB": 2428, "RC": 887}
    values = df.attrs["column_map"]["values"]
    assert values["v_phi_err"] == 1.0 and values["feh_err"] == 0.03
    assert sum("for every star (from the column map)" in m for m in messages) == len(values)
    assert "galcen" in load_preset("kepler_apogee_miglio2021").config["orbits"]["catalogue_columns"]


def test_k2_preset_reads_the_real_table_without_velocities():
    df, _ = read_quietly(real("k2_galah_zinn2022"), "k2_galah_zinn2022")
    assert len(df) == 1347
    assert not {"ra", "pmra", "rv", "v_phi", "R_g", "Z_max"} & set(df.columns)
    # EPIC 220387110: Xg -8.37195737, Yg 0.34903266 kpc, dist50 0.73900783 kpc
    first = df.iloc[0]
    assert first["R"] == pytest.approx(math.hypot(-8.37195737, 0.34903266))  # Rg is cylindrical R
    assert first["phi"] == pytest.approx(math.degrees(math.atan2(0.34903266, -8.37195737)))
    assert first["distance"] == pytest.approx(0.73900783)
    assert (df["R_err"].dropna() > 0).all() and df["R"].isna().sum() == 30
    assert load_preset("k2_galah_zinn2022").config["fit"]["radius"] == "R"


# ------------------------------------------------------------------ expressions, constants, recodes


def test_expression_constant_and_recode(survey_csv):
    cmap = {**BASE_MAP,
            "evol_stage": {"column": "stage", "recode": {"CLUMP": "RC", "RGB": "RGB"}},
            "ebv3": {"expr": "`SFDE_B-V_` * 3"}}  # fmt: skip
    with pytest.warns(UserWarning) as caught:
        df = read_catalogue(survey_csv, cmap)
    raw = pd.read_csv(survey_csv)
    np.testing.assert_allclose(df["distance"], raw["DistM"] / 1000)
    np.testing.assert_allclose(df["distance_err"], 0.065)  # (80 + 50) / 2 pc
    np.testing.assert_allclose(df["ebv3"], raw["SFDE_B-V_"] * 3)
    assert (df["feh_err"] == 0.05).all() and (df["flag_feh"] == 0).all()
    assert df["evol_stage"].tolist()[:3] == ["RC", "RGB", pd.NA]
    assert "DistM68U" in df.columns and "stage" in df.columns  # what expressions read stays
    assert df.attrs["column_map"]["values"] == {"feh_err": 0.05, "flag_feh": 0, "flag_afe": 0}
    assert df.attrs["column_map"]["expressions"]["distance_err"] == "(DistM68U - DistM68L) / 2"
    messages = [str(w.message) for w in caught]
    assert sum("column 'feh_err' set to the constant 0.05 for every star (from the column map)" in m
               for m in messages) == 1  # fmt: skip
    assert len(messages) == 3


def test_values_table_in_toml(survey_csv, tmp_path):
    toml = tmp_path / "map.toml"
    toml.write_text(
        "[columns]\n"
        'distance = { column = "DistM", unit = "pc" }\n'
        'distance_err = { expr = "DistM68U - DistM", unit = "pc" }\n'
        "[values]\nflag_feh = 0\nflag_afe = 0\nfeh_err = 0.05\nteff = 4.5\n"
        '[units]\nteff = "kK"\n'
    )
    columns, units = read_column_map(toml)
    assert units == {"distance": "pc", "distance_err": "pc", "teff": "kK"}
    assert columns["distance"] == "DistM" and columns["teff"].value == 4.5
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        df = read_catalogue(survey_csv, toml)
    assert any("'teff' set to the constant 4.5 kK for every star" in str(w.message) for w in caught)
    np.testing.assert_allclose(df["teff"], 4500.0)  # a constant's unit converts like a column's
    np.testing.assert_allclose(df["distance_err"], 0.08)


@pytest.mark.parametrize(
    ("expr", "match"),
    [
        (
            "DistM68X - DistM",
            r"expression for 'distance_err' \('DistM68X - DistM'\).*column 'DistM68X' "
            r"not found; did you mean 'DistM68U'",
        ),
        ("`SFDE_B-X_` + DistM", r"column 'SFDE_B-X_' not found; did you mean 'SFDE_B-V_'"),
        ("SFDE_B-V_ + DistM", r"column 'SFDE_B' not found.*backticks"),
        ("DistM +", r"'DistM \+'\) cannot be evaluated: SyntaxError"),
        (
            "3 * 4",
            r"reads no column of the file; for a constant write it in \[values\], e.g. distance_err = 12",
        ),
        ("x = DistM * 2", r"one column; no assignments"),
        ("@DistM", r"'@' \(a Python variable\) is not allowed"),
    ],
)
def test_expression_errors(survey_csv, expr, match):
    cmap = {**BASE_MAP, "distance_err": {"expr": expr, "unit": "pc"}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(CatalogueError, match=match):
            read_catalogue(survey_csv, cmap)


@pytest.mark.parametrize(
    ("entry", "match"),
    [
        ({"value": True}, r"must be a number or a string, got True; write 0 or 1"),
        ({"value": float("nan")}, r"must be finite"),
        ({"value": 1, "column": "x"}, r"exactly one of column, expr, value"),
        ({"expr": ""}, r"expression for 'feh_err' must be a non-empty string"),
        ({"expr": "DistM", "recode": {"a": 1}}, r"recode goes with column"),
        ({"column": "stage", "recode": {}}, r"recode for 'feh_err' must be a non-empty table"),
    ],
)
def test_malformed_entries(survey_csv, entry, match):
    with pytest.raises(CatalogueError, match=match):
        read_catalogue(survey_csv, {**BASE_MAP, "feh_err": entry})


def test_recode_with_unlisted_value_is_refused(survey_csv):
    cmap = {**BASE_MAP, "evol_stage": {"column": "stage", "recode": {"CLUMP": "RC"}}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(
            CatalogueError, match=r"column 'stage' \(recoded to 'evol_stage'\) has value\(s\) 'RGB'"
        ):
            read_catalogue(survey_csv, cmap)


def test_values_conflicts_and_presets_in_column_maps(tmp_path):
    both = tmp_path / "both.toml"
    both.write_text('[columns]\nfeh_err = "E"\n[values]\nfeh_err = 0.1\n')
    with pytest.raises(
        CatalogueError, match=r"'feh_err' is given both in \[columns\] and in \[values\]"
    ):
        read_column_map(both)
    preset = tmp_path / "p.toml"
    preset.write_text('[preset]\ndescription = "x"\n[columns]\nfeh = "F"\n')
    with pytest.raises(
        CatalogueError, match="survey preset, not a column map: pass it with --survey"
    ):
        read_column_map(preset)


def test_constant_replaces_a_file_column_of_that_name_with_a_warning(tmp_path):
    path = tmp_path / "c.csv"
    write_table(make_catalogue(n=5), path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        df = read_catalogue(path, {"flag_feh": {"value": 1}})
    assert any("unmapped column(s) ['flag_feh'] dropped" in str(w.message) for w in caught)
    assert (df["flag_feh"] == 1).all()


# ------------------------------------------------------------------ finding and configuring presets


def test_unknown_survey_lists_the_available_ones():
    with pytest.raises(
        FileNotFoundError,
        match=r"unknown survey preset 'nope'; available: .*kepler_apogee_miglio2021",
    ):
        load_preset("nope")


def test_user_preset_in_cwd_is_found(tmp_path, monkeypatch, capsys, survey_csv):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "surveys").mkdir()
    (tmp_path / "surveys" / "my_table.toml").write_text(
        '[preset]\ndescription = "my table\\nsecond line"\ncitation = "Me 2025"\n'
        "[preset.config.cuts]\nmin_snr = 5\n"
        '[columns]\ndistance = { column = "DistM", unit = "pc" }\n'
        'distance_err = { expr = "(DistM68U - DistM68L) / 2", unit = "pc" }\n'
        "[values]\nflag_feh = 0\nflag_afe = 0\nfeh_err = 0.05\n"
    )
    assert available_surveys()["my_table"] == "my table\nsecond line"
    preset = load_preset("my_table")
    assert find_preset("my_table").resolve() == (tmp_path / "surveys" / "my_table.toml").resolve()
    with pytest.warns(UserWarning, match="constant"):
        df = read_survey(survey_csv, "my_table")
    assert len(df) == 12
    assert load_preset(str(preset.path)).name == "my_table"  # or given as a path
    assert cli.main(["surveys"]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("my_table "))
    assert (
        "my table" in line
        and "second line" not in line
        and "(Me 2025)" in line
        and "[./surveys]" in line
    )


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ('[columns]\nfeh = "F"\n', r"no \[preset\] table"),
        (
            '[preset]\ndescription = "d"\ncolour = 1\n',
            r"unknown key\(s\) \['colour'\] in \[preset\]",
        ),
        ('[preset]\nname = "other"\ndescription = "d"\n', r"differs from the file name 'bad'"),
        ('[preset]\ncitation = "c"\n', r"needs a description"),
        (
            '[preset]\ndescription = "d"\n[preset.config.cuts]\nmin_snr = "x"\n',
            r"\[preset.config\]: \[cuts\] min_snr",
        ),
        (
            '[preset]\ndescription = "d"\n[columns]\nfeh = 3\n',
            r"entry for 'feh' must be a string or a table",
        ),
    ],
)
def test_malformed_presets(tmp_path, text, match):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises((CatalogueError, ConfigError), match=match):
        load_preset(path)


def test_preset_config_is_under_the_users(tmp_path):
    preset = load_preset("corot_apogee_anders2017")
    assert apply_preset_config(None, preset).cuts.max_rel_err_phase is None
    user = tmp_path / "user.toml"
    user.write_text("[cuts]\nmax_rel_err_phase = 0.8\nmin_snr = 50\n")
    cfg = apply_preset_config(user, preset)
    assert cfg.cuts.max_rel_err_phase == 0.8 and cfg.cuts.min_snr == 50  # the user wins
    assert cfg.selection.populations == ("thin",)  # the preset's other settings stay
    assert (
        apply_preset_config({"cuts": {"max_rel_err_phase": 0.5}}, preset).cuts.max_rel_err_phase
        == 0.5
    )
    base = PipelineConfig().replace(cuts={"max_rel_err_phase": 0.9})
    assert apply_preset_config(base, preset).cuts.max_rel_err_phase is None  # over a base config
    bad = tmp_path / "bad.toml"
    bad.write_text("[cuts]\nmin_snr = -1\n")
    with pytest.raises(ConfigError, match="bad.toml"):
        apply_preset_config(bad, preset)


# ------------------------------------------------------------------ command line


def test_mgar_surveys_lists_presets(capsys):
    assert cli.main(["surveys"]) == 0
    lines = capsys.readouterr().out.splitlines()
    for name in PRESETS:
        line = next(x for x in lines if x.startswith(name + " "))
        assert load_preset(name).summary in line and load_preset(name).citation in line


@pytest.mark.parametrize("other", [["--column-map", "m.toml"], ["--lamost-ages", "ages.fits"]])
def test_survey_with_column_map_or_lamost_is_refused(tmp_path, capsys, other):
    argv = ["run", str(tmp_path / "t.fits"), "--survey", "corot_apogee_anders2017", *other,
            "--out", str(tmp_path / "out"), "--no-progress"]  # fmt: skip
    assert cli.main(argv) == 2
    assert f"--survey cannot be combined with {other[0]}" in capsys.readouterr().err


def test_unknown_survey_on_the_command_line(tmp_path, capsys):
    argv = ["run", str(tmp_path / "t.fits"), "--survey", "nope", "--out", str(tmp_path / "o")]
    assert cli.main(argv) == 2
    assert "unknown survey preset 'nope'; available:" in capsys.readouterr().err


def test_mgar_run_with_a_survey_end_to_end(tmp_path, capsys):
    import json

    path = real("kepler_apogee_miglio2021")
    out = tmp_path / "run"
    argv = ["run", str(path), "--survey", "kepler_apogee_miglio2021", "--out", str(out),
            "--no-progress", "--no-figures"]  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert cli.main(argv) == 0
    record = json.loads((out / "run.json").read_text())
    prov = record["catalogue"]
    assert prov["survey"] == "kepler_apogee_miglio2021"
    assert prov["survey_sha256"] == load_preset("kepler_apogee_miglio2021").sha256
    assert record["config"]["orbits"]["catalogue_columns"] == ["Z_max", "galcen"]
    assert "thin" in capsys.readouterr().out
