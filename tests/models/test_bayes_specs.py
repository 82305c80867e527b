"""Model specifications: TOML files in models/, found by name, by path and when installed."""

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from mgar_bayes.models import ModelSpec, available_specs, load_model_spec, spec_from_dict

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ["c25", "hierarchical", "marginal", "c25_wide", "c25_narrow", "c25_scatter"]


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_specs_load(name):
    spec = load_model_spec(name)
    assert spec.name == name
    assert spec.builder in ("bin_gradient", "hierarchical")


def test_spec_contents_match_the_paper_and_issue():
    c25 = load_model_spec("c25")
    assert (c25.priors.gradient_sigma, c25.priors.intercept_sigma, c25.priors.scatter_sigma) == (0.5, 0.5, 0.4)
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
    my.write_text(src.read_text().replace('name = "c25"', 'name = "mine"').replace("draws = 1000", "draws = 77"))
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
    spec = load_model_spec("c25").replace({"sampler": {"draws": 10}, "priors": {"scatter_sigma": 0.2}})
    assert spec.sampler.draws == 10 and spec.priors.scatter_sigma == 0.2
    import json

    again = spec_from_dict(json.loads(spec.to_json()))
    assert again == ModelSpec(**{**again.__dict__, "source": ""}) and again.to_json() == spec.to_json()


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
