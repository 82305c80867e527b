"""The simulated catalogue: schema, reproducibility, truth, footprint."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mgar_bayes.mock import THIN, MockConfig, generate_mock, load_mock
from mgar_bayes.schema import validate_catalogue


@pytest.fixture(scope="module")
def tiny():
    return generate_mock(MockConfig(n_stars=4000, seed=3))


def test_catalogue_is_canonical(tiny):
    out = validate_catalogue(tiny.stars)
    assert len(out) == 4000
    assert set(tiny.truth_stars.component) == {"thin", "thick", "halo"}


def test_footprint(tiny):
    s = tiny.stars
    # observed distances scatter around the true ones, which are inside (0.2, 4) kpc
    assert (tiny.stars["dec"] > -10).all()
    t = tiny.truth_stars.merge(s[["source_id"]], on="source_id")
    assert len(t) == len(s)


def test_same_seed_same_catalogue():
    a = generate_mock(MockConfig(n_stars=1500, seed=11))
    b = generate_mock(MockConfig(n_stars=1500, seed=11))
    c = generate_mock(MockConfig(n_stars=1500, seed=12))
    pd.testing.assert_frame_equal(a.stars, b.stars)
    assert not np.allclose(a.stars["feh"], c.stars["feh"])


def test_truth_matches_analytic_model(small_mock):
    truth = small_mock.truth
    thin = truth[truth.population == "thin"]
    # OLS on noise-free values agrees with the analytic present-day gradient
    diff = np.abs(thin.gradient_true - thin.gradient_analytic)
    assert (diff < 4 * thin.gradient_true_err + 1e-3).all(), diff
    s = small_mock.truth_summary()["thin"]
    assert s["rate_true"] == pytest.approx(s["rate_analytic"], abs=5e-4)
    # churning flattens: old stars' gradient much shallower than their birth gradient
    assert abs(THIN.present_gradient(11.0)) < 0.6 * abs(THIN.birth_gradient(11.0))


def test_observed_errors_are_honest(tiny):
    """Observed minus true, divided by the quoted error, is standard normal."""
    m = tiny.stars.merge(tiny.truth_stars[["source_id", "feh_true"]], on="source_id")
    z = (m["feh"] - m["feh_true"]) / m["feh_err"]
    assert abs(z.mean()) < 0.1 and z.std() == pytest.approx(1.0, rel=0.05)


def test_save_load_round_trip(tiny, tmp_path):
    tiny.save(tmp_path / "m")
    back = load_mock(tmp_path / "m")
    pd.testing.assert_frame_equal(back.stars, tiny.stars)
    assert back.config == tiny.config
    with pytest.raises(FileExistsError):
        tiny.save(tmp_path / "m")


def test_bad_config():
    with pytest.raises(ValueError, match="fractions"):
        MockConfig(fractions=(0.5, 0.2, 0.1))
    with pytest.raises(ValueError, match="n_stars"):
        MockConfig(n_stars=0)


def test_memory_guard_refuses_huge_catalogue_quickly():
    import time

    t0 = time.perf_counter()
    with pytest.raises(ValueError) as info:
        generate_mock(MockConfig(n_stars=10**10))
    assert time.perf_counter() - t0 < 1.0  # refused before anything is drawn
    msg = str(info.value)
    assert "n_stars = 10000000000 needs about" in msg
    assert "GB available" in msg and "use fewer stars" in msg


def test_memory_guard_uses_available_memory(monkeypatch):
    from mgar_bayes import mock

    monkeypatch.setattr(mock, "_available_memory", lambda: 10**9)
    n = 10**9 // mock.BYTES_PER_STAR + 1
    with pytest.raises(ValueError, match=r"needs about .* GB; this machine has 1\.0 GB available"):
        generate_mock(MockConfig(n_stars=n))
    # unknown available memory: no refusal from the guard itself
    monkeypatch.setattr(mock, "_available_memory", lambda: None)
    mock._check_memory(10**10)


def test_available_memory_is_positive():
    from mgar_bayes.mock import _available_memory

    avail = _available_memory()
    assert avail is None or avail > 0


@pytest.mark.parametrize("bad", [50.5, 1e6, "1000", True, None])
def test_n_stars_must_be_an_integer(bad):
    with pytest.raises(ValueError, match="n_stars must be a whole number"):
        MockConfig(n_stars=bad)
    assert MockConfig(n_stars=np.int64(10)).n_stars == 10
    assert type(MockConfig(n_stars=np.int64(10)).n_stars) is int
