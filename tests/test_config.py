"""Tests of mgar_bayes.config: paper defaults, TOML overrides, validation, hashing."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from mgar_bayes.config import (
    BinningConfig,
    ConfigError,
    CutsConfig,
    GalaxyConfig,
    OrbitConfig,
    PipelineConfig,
    SelectionConfig,
    config_hash,
    load_config,
)


def write(tmp_path, text: str):
    p = tmp_path / "cfg.toml"
    p.write_text(text)
    return p


# ---------------------------------------------------------------- defaults


def test_galaxy_defaults_are_c25():
    g = GalaxyConfig()
    assert g.R0 == 8.27
    assert g.v0 == 236.0
    assert g.z_sun == 0.0
    assert g.solar_motion == (13.0, 12.24, 7.24)
    assert g.potential == "MWPotential2014"
    assert g.rescale_potential is False


def test_orbit_defaults():
    o = OrbitConfig()
    assert o.n_mc == 100
    assert o.zmax_method == "staeckel"


def test_cuts_defaults_are_c25():
    c = CutsConfig()
    assert c.min_mass == 0.7
    assert c.max_age_rel_err == 0.30
    assert c.min_snr == 20.0
    assert c.max_abs_z == 10.0
    assert c.R_range == (5.0, 20.0)
    assert c.require_flags is True
    assert c.min_feh == -1.0
    assert c.min_vphi == 0.0
    assert c.max_rel_err_phase == 0.40


def test_binning_and_selection_defaults():
    b = BinningConfig()
    assert (b.age_min, b.age_max, b.n_bins) == (1.0, 12.25, 9)
    assert (b.age_max - b.age_min) / b.n_bins == 1.25
    s = SelectionConfig()
    assert s.chem_line == "C25"
    assert s.chem_shift == 0.0
    assert s.thin_zmax_max == 0.25
    assert s.thick_zmax_min == 2.0


def test_pipeline_defaults_and_load_none():
    cfg = PipelineConfig()
    assert cfg.galaxy == GalaxyConfig()
    assert cfg.orbits == OrbitConfig()
    assert cfg.cuts == CutsConfig()
    assert cfg.selection == SelectionConfig()
    assert cfg.binning == BinningConfig()
    assert load_config(None) == cfg


def test_configs_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        PipelineConfig().galaxy.R0 = 7.0  # type: ignore[misc]


# ---------------------------------------------------------------- TOML


def test_load_config_overrides_subset(tmp_path):
    p = write(
        tmp_path,
        """
[galaxy]
R0 = 8.0
potential = "McMillan17"
solar_motion = [11, 12, 7]

[cuts]
max_age_rel_err = 0.25
R_range = [6.0, 18.0]
require_flags = false

[orbits]
n_mc = 50

[binning]
n_bins = 5
""",
    )
    cfg = load_config(p)
    assert cfg.galaxy.R0 == 8.0
    assert cfg.galaxy.potential == "McMillan17"
    assert cfg.galaxy.solar_motion == (11.0, 12.0, 7.0)
    assert isinstance(cfg.galaxy.solar_motion, tuple)
    assert cfg.cuts.max_age_rel_err == 0.25
    assert cfg.cuts.R_range == (6.0, 18.0)
    assert isinstance(cfg.cuts.R_range, tuple)
    assert cfg.cuts.require_flags is False
    assert cfg.orbits.n_mc == 50
    assert cfg.binning.n_bins == 5
    # everything else keeps its default
    assert cfg.galaxy.v0 == 236.0
    assert cfg.cuts.min_mass == 0.7
    assert cfg.cuts.min_snr == 20.0
    assert cfg.orbits.zmax_method == "staeckel"
    assert cfg.binning.age_min == 1.0 and cfg.binning.age_max == 12.25
    assert cfg.selection == SelectionConfig()
    # and equals the same config built in Python
    expected = PipelineConfig().replace(
        galaxy={"R0": 8.0, "potential": "McMillan17", "solar_motion": (11.0, 12.0, 7.0)},
        cuts={"max_age_rel_err": 0.25, "R_range": (6.0, 18.0), "require_flags": False},
        orbits={"n_mc": 50},
        binning={"n_bins": 5},
    )
    assert cfg == expected
    assert config_hash(cfg) == config_hash(expected)


def test_empty_toml_gives_defaults(tmp_path):
    assert load_config(write(tmp_path, "")) == PipelineConfig()
    assert load_config(str(write(tmp_path, "[galaxy]\n"))) == PipelineConfig()


def test_unknown_section_raises(tmp_path):
    p = write(tmp_path, "[galaxy]\nR0 = 8.0\n\n[fitting]\nn_draws = 10\n")
    with pytest.raises(ValueError, match="fitting"):
        load_config(p)


def test_unknown_top_level_key_raises(tmp_path):
    with pytest.raises(ValueError, match="R0"):
        load_config(write(tmp_path, "R0 = 8.0\n"))


def test_unknown_key_raises_naming_key_and_section(tmp_path):
    p = write(tmp_path, "[galaxy]\nRsun = 8.0\n")
    with pytest.raises(ValueError, match=r"Rsun.*\[galaxy\]"):
        load_config(p)
    p = write(tmp_path, "[cuts]\nmin_snr = 30\nmax_feh = 0.5\n")
    with pytest.raises(ValueError, match=r"max_feh.*\[cuts\]"):
        load_config(p)


@pytest.mark.parametrize(
    "text, match",
    [
        ("[galaxy]\nR0 = -8.27\n", "R0"),
        ("[galaxy]\nR0 = 0.0\n", "R0"),
        ("[galaxy]\nv0 = 0.0\n", "v0"),
        ('[galaxy]\npotential = "NFW"\n', "potential"),
        ("[galaxy]\nsolar_motion = [1.0, 2.0]\n", "solar_motion"),
        ('[orbits]\nzmax_method = "euler"\n', "zmax_method"),
        ("[orbits]\nn_mc = 1\n", "n_mc"),
        ("[binning]\nage_min = 5.0\nage_max = 5.0\n", "age_max"),
        ("[binning]\nn_bins = 0\n", "n_bins"),
        ('[selection]\nchem_line = "H15"\n', "chem_line"),
    ],
)
def test_invalid_values_in_toml_raise(tmp_path, text, match):
    with pytest.raises(ValueError, match=match):
        load_config(write(tmp_path, text))


def test_invalid_values_in_python_raise():
    with pytest.raises(ValueError, match="R0"):
        GalaxyConfig(R0=-1.0)
    with pytest.raises(ValueError, match="R0"):
        GalaxyConfig(R0=float("nan"))
    with pytest.raises(ValueError, match="potential"):
        GalaxyConfig(potential="mwpotential2014")
    with pytest.raises(ValueError, match="zmax_method"):
        OrbitConfig(zmax_method="Staeckel")
    for pot in ("MWPotential2014", "McMillan17", "Irrgang13I"):
        assert GalaxyConfig(potential=pot).potential == pot
    assert OrbitConfig(zmax_method="integrate").zmax_method == "integrate"


def test_invalid_toml_raises_value_error(tmp_path):
    with pytest.raises(ValueError, match="not valid TOML"):
        load_config(write(tmp_path, "[galaxy\nR0 = \n"))


def test_missing_file_raises(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_config(tmp_path / "nope.toml")


# ---------------------------------------------------------------- dict round trip, hash


def test_dict_round_trip():
    cfg = PipelineConfig().replace(galaxy={"R0": 7.0}, cuts={"min_mass": None})
    d = cfg.to_dict()
    assert d["galaxy"]["R0"] == 7.0
    assert d["cuts"]["min_mass"] is None
    assert PipelineConfig.from_dict(d) == cfg


def test_config_hash_stable_for_equal_configs():
    h = config_hash(PipelineConfig())
    assert isinstance(h, str) and len(h) == 16
    int(h, 16)  # hexadecimal
    assert config_hash(PipelineConfig()) == h
    assert config_hash(PipelineConfig().replace(galaxy={"R0": 8.27})) == h
    # solar_motion given as a list of ints is normalised to a tuple of floats
    assert config_hash(GalaxyConfig(solar_motion=[13, 12.24, 7.24])) == config_hash(GalaxyConfig())
    # a dataclass hashes like its dict; dict key order does not matter
    assert config_hash(PipelineConfig().to_dict()) == h
    assert config_hash({"a": 1, "b": [1, 2]}) == config_hash({"b": [1, 2], "a": 1})


@pytest.mark.parametrize(
    "changes",
    [
        {"galaxy": {"R0": 8.0}},
        {"galaxy": {"potential": "McMillan17"}},
        {"orbits": {"n_mc": 50}},
        {"orbits": {"seed": 1}},
        {"cuts": {"max_age_rel_err": 0.25}},
        {"cuts": {"min_snr": None}},
        {"selection": {"chem_line": "V21"}},
        {"binning": {"n_bins": 8}},
    ],
)
def test_config_hash_differs_for_different_configs(changes):
    base = PipelineConfig()
    other = base.replace(**changes)
    assert other != base
    assert config_hash(other) != config_hash(base)


def test_replace():
    base = PipelineConfig()
    new = base.replace(galaxy={"R0": 7.0, "v0": 200.0}, orbits={"n_mc": 20})
    assert new.galaxy.R0 == 7.0
    assert new.galaxy.v0 == 200.0
    assert new.orbits.n_mc == 20
    assert new.galaxy.solar_motion == base.galaxy.solar_motion
    assert new.orbits.seed == base.orbits.seed
    assert new.cuts is base.cuts
    # the original is unchanged
    assert base.galaxy.R0 == 8.27
    assert base.orbits.n_mc == 100
    assert base.replace() == base
    # validation runs on the replaced section
    with pytest.raises(ValueError, match="R0"):
        base.replace(galaxy={"R0": -1.0})
    with pytest.raises(TypeError):
        base.replace(galaxy={"Rsun": 8.0})


def test_toml_off_switches_a_cut_off(tmp_path):
    from mgar_bayes.config import load_config

    p = tmp_path / "c.toml"
    p.write_text('[cuts]\nmin_snr = "off"\nR_range = "none"\n')
    cfg = load_config(p)
    assert cfg.cuts.min_snr is None and cfg.cuts.R_range is None


# ---------------------------------------------------------------- typed validation


@pytest.mark.parametrize(
    "text, words",
    [
        # wrong types: section and key, the value as typed, the expected type, the fix
        ('[galaxy]\nR0 = "8.27"\n', ["[galaxy] R0", "a number [kpc]", "the string '8.27'", "write R0 = 8.27 (no quotes)"]),
        ('[orbits]\nn_mc = "100"\n', ["[orbits] n_mc", "whole number", "'100'", "write n_mc = 100 (no quotes)"]),
        ("[orbits]\nn_mc = 50.5\n", ["[orbits] n_mc", "whole number", "got 50.5", "e.g. n_mc = 100"]),
        ('[cuts]\nmax_age_rel_err = "abc"\n', ["[cuts] max_age_rel_err", 'a number or "off"', "'abc'", "e.g. max_age_rel_err = 0.3"]),
        ("[cuts]\nR_range = 5\n", ["[cuts] R_range", "list of 2 numbers [kpc]", "got 5", "R_range = [5.0, 20.0]"]),
        ('[galaxy]\nrescale_potential = "yes"\n', ["[galaxy] rescale_potential", "true or false", "'yes'", "rescale_potential = false"]),
        ('[galaxy]\nrescale_potential = "true"\n', ["[galaxy] rescale_potential", "write rescale_potential = true (no quotes)"]),
        ("[cuts]\nrequire_flags = 1\n", ["[cuts] require_flags", "true or false", "got 1"]),
        ("[orbits]\nseed = true\n", ["[orbits] seed", "whole number", "got True"]),
        ("[galaxy]\nR0 = [8.27]\n", ["[galaxy] R0", "a number [kpc]", "got [8.27]"]),
        ('[galaxy]\nsolar_motion = [11, "12", 7]\n', ["[galaxy] solar_motion", "3 numbers", "[11, '12', 7]"]),
        ('[orbits]\nstaeckel_delta = "0.4"\n', ["[orbits] staeckel_delta", "'tabulated', 'median' or a number", "staeckel_delta = 0.4 (no quotes)"]),
        ('[galaxy]\npotential = "mcmillan17"\n', ["[galaxy] potential", "did you mean 'McMillan17'"]),
        ('[orbits]\ncatalogue_columns = "galcen"\n', ["[orbits] catalogue_columns", "list of strings", 'catalogue_columns = ["galcen"]']),
        ('[orbits]\ncatalogue_columns = ["galcen", "Rg"]\n', ["[orbits] catalogue_columns", "unknown entry 'Rg'", "'R_g', 'Z_max', 'galcen'"]),
        # physical plausibility
        ("[galaxy]\nR0 = 8270\n", ["[galaxy] R0 = 8270 looks like pc; give kpc, e.g. 8.27"]),
        ("[galaxy]\nR0 = 2.0\n", ["[galaxy] R0 = 2.0", "4 < R0 < 12 [kpc]"]),
        ("[galaxy]\nv0 = 23.6\n", ["[galaxy] v0 = 23.6", "100 < v0 < 400 [km/s]"]),
        ("[galaxy]\nz_sun = 20.8\n", ["[galaxy] z_sun = 20.8 looks like pc", "0.0208"]),
        ("[galaxy]\nz_sun = -0.6\n", ["[galaxy] z_sun = -0.6", "-0.5 < z_sun < 0.5 [kpc]"]),
        ("[galaxy]\nsolar_motion = [11.1, 245.0, 7.25]\n", ["[galaxy] solar_motion", "peculiar motion"]),
        ("[orbits]\nn_mc = 1000001\n", ["[orbits] n_mc = 1000001", "2 <= n_mc <= 100000"]),
        ("[orbits]\nchunk_size = 0\n", ["[orbits] chunk_size = 0", "chunk_size >= 1"]),
        ("[orbits]\nseed = -3\n", ["[orbits] seed = -3", "seed >= 0"]),
        ("[orbits]\nstaeckel_delta = -0.4\n", ["[orbits] staeckel_delta = -0.4", "> 0 [kpc]"]),
        ("[orbits]\nintegrate_time = 0\n", ["[orbits] integrate_time = 0", "> 0 [Gyr]"]),
        ("[cuts]\nmin_snr = -1\n", ["[cuts] min_snr = -1", "min_snr >= 0"]),
        ("[cuts]\nmax_age_rel_err = 0.0\n", ["[cuts] max_age_rel_err = 0.0", "max_age_rel_err > 0"]),
        ("[cuts]\nmax_abs_z = -2\n", ["[cuts] max_abs_z = -2", "max_abs_z > 0 [kpc]"]),
        ("[cuts]\nmax_age = 0\n", ["[cuts] max_age = 0", "max_age > 0 [Gyr]"]),
        ("[cuts]\nR_range = [20, 5]\n", ["[cuts] R_range", "0 <= lo < hi"]),
        ("[cuts]\nR_range = [-1, 5]\n", ["[cuts] R_range", "0 <= lo < hi"]),
        ("[cuts]\nmin_snr = nan\n", ["[cuts] min_snr", "finite", 'min_snr = "off"']),
        ("[galaxy]\nR0 = inf\n", ["[galaxy] R0", "finite", "got inf"]),
        ("[binning]\nage_min = -1.0\n", ["[binning] age_min = -1.0", "age_min >= 0"]),
        ("[binning]\nn_bins = 2.5\n", ["[binning] n_bins", "whole number", "2.5"]),
        ("[selection]\nthin_zmax_max = 0\n", ["[selection] thin_zmax_max = 0", "> 0 [kpc]"]),
        # a setting that cannot be switched off
        ('[galaxy]\nrescale_potential = "off"\n', ["[galaxy] rescale_potential", "cannot be switched off"]),
        ('[orbits]\nn_mc = "off"\n', ["[orbits] n_mc", "cannot be switched off", "n_mc = 100"]),
        # a section that is not a table
        ("galaxy = 5\n", ["[galaxy] must be a table"]),
    ],
)
def test_bad_values_in_toml_name_section_key_value_and_fix(tmp_path, text, words):
    p = write(tmp_path, text)
    with pytest.raises(ValueError) as info:
        load_config(p)
    msg = str(info.value)
    assert msg.startswith(f"{p}: ")  # the file is named
    for w in words:
        assert w in msg, (w, msg)
    assert "np.float64" not in msg and "Traceback" not in msg


def test_bad_values_raise_config_error_not_type_or_key_error(tmp_path):
    for text in ('[galaxy]\nR0 = "8.27"\n', "[cuts]\nR_range = 5\n", "galaxy = [1, 2]\n", "[orbits]\nn_mc = {a = 1}\n"):
        with pytest.raises(ConfigError):
            load_config(write(tmp_path, text))
    assert issubclass(ConfigError, ValueError)


def test_numpy_values_are_shown_as_plain_numbers():
    with pytest.raises(ValueError) as info:
        GalaxyConfig(R0=np.float64(3.5))
    assert "R0 = 3.5 " in str(info.value) and "np." not in str(info.value)
    with pytest.raises(ValueError) as info:
        OrbitConfig(n_mc=np.float64(50.5))
    assert "got 50.5;" in str(info.value)


def test_good_values_load_and_are_normalised(tmp_path):
    p = write(
        tmp_path,
        """
[galaxy]
R0 = 8
v0 = 230
z_sun = 0.0208
solar_motion = [11, 12, 7]
rescale_potential = true

[orbits]
n_mc = 50.0
staeckel_delta = 0.45
catalogue_columns = ["Z_max", "galcen", "R_g", "galcen"]

[cuts]
min_snr = 10
R_range = [0, 25]
max_age = 14
""",
    )
    cfg = load_config(p)
    assert cfg.galaxy.R0 == 8.0 and type(cfg.galaxy.R0) is float
    assert type(cfg.galaxy.v0) is float and cfg.galaxy.rescale_potential is True
    assert cfg.galaxy.solar_motion == (11.0, 12.0, 7.0)
    assert all(type(v) is float for v in cfg.galaxy.solar_motion)
    assert cfg.orbits.n_mc == 50 and type(cfg.orbits.n_mc) is int
    assert cfg.orbits.staeckel_delta == 0.45
    assert cfg.orbits.catalogue_columns == ("R_g", "Z_max", "galcen")
    assert type(cfg.cuts.min_snr) is float and cfg.cuts.R_range == (0.0, 25.0)
    assert cfg.cuts.max_age == 14.0
    # numpy scalars from Python are accepted and stored as plain Python numbers
    g = GalaxyConfig(R0=np.float64(8.1), rescale_potential=np.bool_(True))
    assert type(g.R0) is float and g.rescale_potential is True
    assert type(OrbitConfig(n_mc=np.int64(20)).n_mc) is int


def test_new_fields_defaults_keep_c25():
    assert CutsConfig().max_age == 13.0
    assert OrbitConfig().catalogue_columns == ()
    assert OrbitConfig(catalogue_columns=["galcen"]).catalogue_columns == ("galcen",)
    with pytest.raises(ValueError, match="allowed entries"):
        OrbitConfig(catalogue_columns=("zmax",))


def test_off_and_none_only_for_settings_that_accept_none(tmp_path):
    p = write(tmp_path, '[cuts]\nmax_age = "off"\nmin_mass = "None"\nmax_rel_err_phase = "OFF"\n'
                        '[selection]\nthin_zmax_max = "off"\n')  # fmt: skip
    cfg = load_config(p)
    assert cfg.cuts.max_age is None and cfg.cuts.min_mass is None and cfg.cuts.max_rel_err_phase is None
    assert cfg.selection.thin_zmax_max is None
    with pytest.raises(ValueError, match="cannot be switched off"):
        load_config(write(tmp_path, '[cuts]\nrequire_flags = "off"\n'))
    with pytest.raises(ValueError, match="rescale_potential"):
        GalaxyConfig(rescale_potential=None)


def test_replace_and_round_trip_validate():
    cfg = PipelineConfig().replace(orbits={"catalogue_columns": ("galcen", "R_g")}, cuts={"max_age": None})
    assert cfg.orbits.catalogue_columns == ("R_g", "galcen")
    assert PipelineConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match=r"\[orbits\] n_mc"):
        PipelineConfig().replace(orbits={"n_mc": "100"})
    with pytest.raises(ValueError, match=r"\[cuts\] R_range"):
        CutsConfig(R_range=(5.0, 20.0, 30.0))
