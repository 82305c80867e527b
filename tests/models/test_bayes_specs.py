"""Model specifications: TOML files in models/, found by name, by path and when installed."""

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from mgar_bayes.models import (
    ModelSpec,
    Prior,
    PriorConfig,
    SpecLayoutWarning,
    available_specs,
    load_model_spec,
    spec_from_dict,
)
from mgar_bayes.models.config import prior_variable

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = [
    "c25",
    "hierarchical",
    "marginal",
    "c25_wide",
    "c25_narrow",
    "c25_scatter",
    "c25_integrated",
]


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_specs_load(name):
    spec = load_model_spec(name)
    assert spec.name == name
    assert spec.builder in ("bin_gradient", "hierarchical")


def test_spec_contents_match_the_paper_and_issue():
    c25 = load_model_spec("c25")
    assert (c25.priors.gradient_sigma, c25.priors.intercept_sigma, c25.priors.scatter_sigma) == (
        0.5,
        0.5,
        0.4,
    )
    assert c25.priors.feh_range == (-1.0, 0.5) and c25.priors.rg_range == (0.0, 20.0)
    assert c25.priors.rg_treatment == "sample" and c25.priors.age_treatment == "inflate"
    assert load_model_spec("c25_integrated").priors.rg_treatment == "integrate"
    assert load_model_spec("marginal").priors.rg_treatment == "gaussian"
    h = load_model_spec("hierarchical")
    assert h.builder == "hierarchical" and h.priors.age_treatment == "mixture"
    assert set(SHIPPED) <= set(available_specs())


def test_spec_by_path_and_user_copy_in_cwd(tmp_path, monkeypatch):
    src = ROOT / "models" / "c25.toml"
    my = tmp_path / "mine.toml"
    my.write_text(
        src.read_text()
        .replace('name = "c25"', 'name = "mine"')
        .replace("draws = 1000", "draws = 77")
    )
    assert load_model_spec(my).sampler.draws == 77
    (tmp_path / "models").mkdir()
    shutil.copy(my, tmp_path / "models" / "variant.toml")
    monkeypatch.chdir(tmp_path)
    assert load_model_spec("variant").sampler.draws == 77
    assert "variant" in available_specs()


def test_bad_specs_give_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="available"):
        load_model_spec("no_such_model")
    bad = tmp_path / "bad.toml"
    bad.write_text('builder = "bin_gradient"\n[priors]\ngradient_sgima = 1.0\n')
    with pytest.raises(ValueError, match="gradient_sgima"):
        load_model_spec(bad)
    bad.write_text("builder = [\n")
    with pytest.raises(ValueError, match="not valid TOML"):
        load_model_spec(bad)
    with pytest.raises(ValueError, match="backend"):
        spec_from_dict({"sampler": {"backend": "stan"}})
    with pytest.raises(ValueError, match="age_treatment"):
        spec_from_dict({"builder": "bin_gradient", "priors": {"age_treatment": "mixture"}})


def test_overrides_and_json_round_trip():
    spec = load_model_spec("c25").replace(
        {"sampler": {"draws": 10}, "priors": {"scatter_sigma": 0.2}}
    )
    assert spec.sampler.draws == 10 and spec.priors.scatter_sigma == 0.2
    import json

    again = spec_from_dict(json.loads(spec.to_json()))
    assert (
        again == ModelSpec(**{**again.__dict__, "source": ""}) and again.to_json() == spec.to_json()
    )


@pytest.mark.slow
def test_specs_are_in_the_built_wheel(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "-q", "-w", str(tmp_path)],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("mgar_bayes-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for name in SHIPPED:
        assert f"mgar_bayes/models/specs/{name}.toml" in names


def test_shipped_variants_are_deltas_of_c25():
    """Every shipped variant names its parent and lists only what differs; defaults are written once."""
    import tomllib

    c25 = load_model_spec("c25").to_dict()
    for name in (
        "c25_wide",
        "c25_narrow",
        "c25_scatter",
        "c25_integrated",
        "marginal",
        "hierarchical",
    ):
        raw = tomllib.loads((ROOT / "models" / f"{name}.toml").read_text())
        assert raw["extends"] == "c25", name
        spec = load_model_spec(name).to_dict()
        for section in ("priors", "structure", "data", "report", "sampler"):
            listed = raw.get(section, {})
            differs = {k for k in c25[section] if spec[section][k] != c25[section][k]}
            assert differs <= set(listed), (name, section, differs - set(listed))
            # a variant lists nothing it does not change
            assert all(spec[section][k] != c25[section][k] for k in listed if k != "noncentered"), (
                name,
                section,
            )
    assert load_model_spec("c25_wide").priors.scatter.parameters == {"sigma": 1.6}
    assert load_model_spec("hierarchical").structure.age_ref == 6.625


def test_priors_are_family_and_parameters_in_toml_and_python(tmp_path):
    """A prior family change is one TOML line; Prior objects round-trip through JSON."""
    (tmp_path / "exp.toml").write_text(
        'extends = "c25"\nname = "exp"\n[priors]\nscatter = { dist = "Exponential", lam = 5.0 }\n'
    )
    spec = load_model_spec(tmp_path / "exp.toml")
    assert (spec.priors.scatter.distribution, spec.priors.scatter.parameters) == (
        "Exponential",
        {"lam": 5.0},
    )
    assert (
        spec.priors.gradient == Prior("Normal", mu=0.0, sigma=0.5)
        and spec.structure.rg_treatment == "sample"
    )
    assert spec.to_dict()["priors"]["scatter"] == {"dist": "Exponential", "lam": 5.0}
    assert spec_from_dict(spec.to_dict(), source=spec.source) == spec
    # in Python: the same objects; a spec's priors still answer the earlier flat names
    pr = PriorConfig(scatter=Prior("HalfNormal", sigma=0.3), rg_treatment="gaussian")
    assert pr.scatter_sigma == 0.3 and pr.rg_treatment == "gaussian"
    assert ModelSpec(priors=pr).structure.rg_treatment == "gaussian"
    with pytest.raises(AttributeError, match="Exponential.*no 'sigma'"):
        _ = spec.priors.scatter_sigma
    # the builders take the family from the spec
    import pymc as pm

    with pm.Model(coords={"age_bin": [0, 1]}):
        rv = prior_variable(spec.priors.scatter, "scatter", dims="age_bin")
    assert rv.owner.op.name == "exponential"


@pytest.mark.parametrize(
    ("line", "match"),
    [
        ('scatter = { dist = "Normal", sigma = 0.4 }', "positive reals"),
        ('scatter = { dist = "HalfNrmal", sigma = 0.4 }', "HalfNrmal"),
        ('gradient = { dist = "Normal", mu = 0.0, width = 0.5 }', "width"),
        ('gradient = { dist = "Normal", mu = "zero" }', "must be a number"),
        ("gradient = 0.5", "a prior is a table"),
        ('gradient = { dist = "Normal", sigma = -1.0 }', "must be > 0"),
        ('slope = { dist = "Normal", sigma = 1.0 }', "unknown key"),
    ],
)
def test_bad_priors_name_the_key_and_the_form(tmp_path, line, match):
    path = tmp_path / "bad.toml"
    path.write_text(f'extends = "c25"\n[priors]\n{line}\n')
    with pytest.raises(ValueError, match=match) as err:
        load_model_spec(path)
    assert "[priors]" in str(err.value) or "priors." in str(err.value)


def test_extends_errors_and_local_parents(tmp_path, monkeypatch):
    (tmp_path / "a.toml").write_text('extends = "b"\n')
    (tmp_path / "b.toml").write_text('extends = "a"\n')
    with pytest.raises(ValueError, match="cycle"):
        load_model_spec(tmp_path / "a.toml")
    (tmp_path / "orphan.toml").write_text('extends = "no_such_parent"\n')
    with pytest.raises(FileNotFoundError, match="no_such_parent"):
        load_model_spec(tmp_path / "orphan.toml")
    # a parent beside the child, two levels deep: sections merge key by key, a prior is replaced whole
    (tmp_path / "mid.toml").write_text(
        'extends = "c25"\n[priors]\nscatter = { dist = "HalfCauchy", beta = 0.2 }\n[sampler]\ndraws = 50\n'
    )
    (tmp_path / "leaf.toml").write_text(
        'extends = "mid"\n[sampler]\ntune = 40\n[structure]\nrg_treatment = "gaussian"\n'
    )
    leaf = load_model_spec(tmp_path / "leaf.toml")
    assert leaf.name == "leaf" and (leaf.sampler.draws, leaf.sampler.tune, leaf.sampler.chains) == (
        50,
        40,
        2,
    )
    assert (
        leaf.priors.scatter.parameters == {"beta": 0.2}
        and leaf.structure.rg_treatment == "gaussian"
    )
    assert leaf.description == ""  # a variant describes itself
    with pytest.raises(ValueError, match="extends must name one spec"):
        (tmp_path / "two.toml").write_text('extends = ["c25", "marginal"]\n')
        load_model_spec(tmp_path / "two.toml")


def test_flat_layout_is_translated_with_a_note(tmp_path):
    """Spec files of the earlier flat layout load as before and say how to write them now."""
    old = tmp_path / "old.toml"
    old.write_text(
        'name = "old"\nbuilder = "bin_gradient"\n[priors]\ngradient_sigma = 0.3\nscatter_sigma = 0.2\n'
        'rg_treatment = "gaussian"\nmin_stars_per_bin = 20\nhdi_prob = 0.9\n[sampler]\nbackend = "numpyro"\n'
    )
    with pytest.warns(
        SpecLayoutWarning, match=r'scatter = \{ dist = "HalfNormal", sigma = 0.2 \}'
    ) as rec:
        spec = load_model_spec(old)
    msg = str(rec[0].message)
    assert '[structure] rg_treatment = "gaussian"' in msg and "[data] min_stars_per_bin = 20" in msg
    assert spec.priors.gradient == Prior("Normal", mu=0.0, sigma=0.3)
    assert spec.priors.scatter == Prior("HalfNormal", sigma=0.2)
    assert (spec.structure.rg_treatment, spec.data.min_stars_per_bin, spec.report.hdi_prob) == (
        "gaussian",
        20,
        0.9,
    )
    new = tmp_path / "new.toml"
    new.write_text(
        'name = "old"\nbuilder = "bin_gradient"\n[priors]\ngradient = { dist = "Normal", mu = 0.0, sigma = 0.3 }\n'
        'scatter = { dist = "HalfNormal", sigma = 0.2 }\n[structure]\nrg_treatment = "gaussian"\n'
        '[data]\nmin_stars_per_bin = 20\n[report]\nhdi_prob = 0.9\n[sampler]\nbackend = "numpyro"\n'
    )
    assert load_model_spec(new).to_json() == spec.to_json()
    with pytest.raises(ValueError, match="both under"):
        spec_from_dict(
            {"priors": {"rg_treatment": "gaussian"}, "structure": {"rg_treatment": "sample"}}
        )
