"""R_g, Z_max and Monte-Carlo errors checked against galpy's own per-star routes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from catalogue_helpers import make_catalogue
from scipy import stats

from mgar_bayes import orbits
from mgar_bayes.config import GalaxyConfig, OrbitConfig
from mgar_bayes.frames import galcen_astropy

MC_COLUMNS = ["R_err", "z_err", "v_R_err", "v_phi_err", "v_z_err", "R_g_err", "R_g_mc_bad"]


@pytest.mark.parametrize(
    "name", ["MWPotential2014", "Irrgang13I", pytest.param("McMillan17", marks=pytest.mark.slow)]
)
def test_rg_table_matches_galpy_rl(name):
    from galpy.potential import rl

    cfg = GalaxyConfig(potential=name)
    pot = orbits.load_potential(cfg)
    table = orbits.rg_table(cfg)
    Lz = np.linspace(150.0, 5000.0, 25)  # kpc km/s
    ref = np.array([rl(pot.pot, L / (pot.ro * pot.vo), use_physical=False) * pot.ro for L in Lz])
    np.testing.assert_allclose(table(Lz), ref, rtol=1e-5)


def test_rg_undefined_for_counter_rotation():
    table = orbits.rg_table(GalaxyConfig())
    out = table(np.array([-100.0, 0.0, 2000.0]))
    assert np.isnan(out[:2]).all() and np.isfinite(out[2])


def test_rg_matches_galpy_orbit_rguiding(small_mock):
    from galpy.orbit import Orbit

    cfg = GalaxyConfig()
    pot = orbits.load_potential(cfg)
    t = small_mock.truth_stars
    t = t[t.component == "thin"].iloc[:40]
    vxvv = np.stack(
        [t.R / pot.ro, t.v_R / pot.vo, t.v_phi / pot.vo, t.z / pot.ro, t.v_z / pot.vo, np.deg2rad(t.phi)], axis=1
    )
    o = Orbit(vxvv)
    ref = o.rguiding(pot=pot.pot, use_physical=False) * pot.ro
    ours = orbits.rg_table(cfg)(t.R.to_numpy() * t.v_phi.to_numpy())
    np.testing.assert_allclose(ours, ref, rtol=1e-5)
    # the simulation places stars with L_z = R_g vc(R_g): its R_g is the pipeline's R_g
    np.testing.assert_allclose(ours, t.R_g_true, rtol=1e-3)


def test_zmax_staeckel_close_to_integration(small_mock):
    cfg = GalaxyConfig()
    pot = orbits.load_potential(cfg)
    t = small_mock.truth_stars
    t = t[t.component != "halo"].iloc[:150]
    args = [t[c].to_numpy() for c in ("R", "v_R", "v_phi", "z", "v_z")]
    z_int = orbits.zmax_integrate(pot, *args, phi=t.phi.to_numpy(), t_gyr=5.0)
    z_st, used = orbits.zmax_staeckel(pot, *args)
    assert used == "tabulated"
    rel = np.abs(z_st / z_int - 1)
    # measured: median ~0.3%, 95th percentile ~3% (tabulated focal length)
    assert np.median(rel) < 0.01
    assert np.percentile(rel, 95) < 0.06
    z_fixed, d = orbits.zmax_staeckel(pot, *args, delta=3.5)
    assert d == 3.5 and np.percentile(np.abs(z_fixed / z_int - 1), 95) < 0.10


def test_mc_errors_match_brute_force():
    """The keyed Monte Carlo's spread equals per-star astropy transforms of independent numpy draws."""
    n = 3
    tab = pd.DataFrame(
        dict(
            source_id=[11, 12, 13],
            ra=[120.0, 45.0, 200.0], dec=[30.0, 10.0, 50.0], distance=[1.5, 3.0, 0.8],
            pmra=[-2.0, 1.0, 4.0], pmdec=[-3.0, -1.0, 2.0], rv=[20.0, -40.0, 5.0],
            distance_err=[0.15, 0.4, 0.05], pmra_err=[0.03] * n, pmdec_err=[0.03] * n, rv_err=[3.0] * n,
        )
    )  # fmt: skip
    cfg = GalaxyConfig()
    out = orbits.mc_phase_space(tab, cfg, orbits.rg_table(cfg), 4000, 5)
    rng2 = np.random.default_rng(99)
    table = orbits.rg_table(cfg)
    for i in range(n):
        row = tab.iloc[i]
        draws = {c: row[c] + row[c + "_err"] * rng2.standard_normal(4000) for c in ("distance", "pmra", "pmdec", "rv")}
        g = galcen_astropy(np.full(4000, row.ra), np.full(4000, row.dec), np.abs(draws["distance"]),
                           draws["pmra"], draws["pmdec"], draws["rv"], cfg)  # fmt: skip
        for k in ("R", "z", "v_R", "v_phi", "v_z"):
            assert out[k + "_err"][i] == pytest.approx(np.std(g[k], ddof=1), rel=0.08), (i, k)
        rg = table(g["R"] * g["v_phi"])
        assert out["R_g_err"][i] == pytest.approx(np.std(rg, ddof=1), rel=0.08)


def test_compute_orbits_uses_catalogue_galcen():
    tab = pd.DataFrame(
        dict(source_id=[1, 2],
             R=[8.0, 9.0], R_err=[0.1, 0.2], z=[0.1, -0.2], z_err=[0.01, 0.02], v_R=[10.0, -20.0], v_R_err=[1.0, 1.0],
             v_phi=[230.0, 220.0], v_phi_err=[2.0, 3.0], v_z=[5.0, -5.0], v_z_err=[1.0, 1.0], phi=[180.0, 175.0])
    )  # fmt: skip
    d, info = orbits.compute_orbits(tab, orbits=OrbitConfig(n_mc=500))
    assert info["used_catalogue_galcen"]
    np.testing.assert_allclose(d["L_z"], [8.0 * 230.0, 9.0 * 220.0])
    np.testing.assert_array_equal(d["R_err"], tab["R_err"])
    # R_g error ~ dL/L * R_g for a near-flat rotation curve
    rel = np.hypot(tab.R_err / tab.R, tab.v_phi_err / tab.v_phi)
    np.testing.assert_allclose(d["R_g_err"] / d["R_g"], rel, rtol=0.2)
    assert np.isfinite(d["Z_max"]).all()


def test_potentials_are_not_mutated():
    from galpy.potential import MWPotential2014
    from galpy.util.conversion import get_physical

    before = get_physical(MWPotential2014)
    orbits.compute_orbits(
        pd.DataFrame(dict(source_id=[1], ra=[10.0], dec=[20.0], distance=[1.0], pmra=[1.0], pmdec=[1.0], rv=[1.0],
                          distance_err=[0.1], pmra_err=[0.1], pmdec_err=[0.1], rv_err=[1.0])),  # fmt: skip
        GalaxyConfig(R0=7.0, v0=200.0),
        OrbitConfig(n_mc=10),
    )
    assert get_physical(MWPotential2014) == before
    assert not MWPotential2014[0]._roSet


@pytest.mark.parametrize(
    "name", ["MWPotential2014", "Irrgang13I", pytest.param("McMillan17", marks=pytest.mark.slow)]
)
def test_staeckel_focal_length_in_kpc(name):
    """Potentials that carry their own ro/vo must not return deltas in physical units twice."""
    pot = orbits.load_potential(GalaxyConfig(potential=name))
    d = orbits.staeckel_delta(pot, np.array([6.0, 8.0, 10.0]), np.array([0.0, 0.5, 1.0]))
    assert ((d > 1.0) & (d < 10.0)).all(), d


def test_zmax_staeckel_irrgang_close_to_integration(small_mock):
    pot = orbits.load_potential(GalaxyConfig(potential="Irrgang13I"))
    t = small_mock.truth_stars
    t = t[t.component != "halo"].iloc[:60]
    args = [t[c].to_numpy() for c in ("R", "v_R", "v_phi", "z", "v_z")]
    z_int = orbits.zmax_integrate(pot, *args, phi=t.phi.to_numpy(), t_gyr=5.0)
    z_st, _ = orbits.zmax_staeckel(pot, *args)
    assert np.percentile(np.abs(z_st / z_int - 1), 95) < 0.06


# --- keyed Monte-Carlo draws: a star's draws depend only on (source_id, seed) ---


def test_star_keys_integer_forms_agree():
    k = orbits.star_keys([42])
    for ids in (np.array([42], dtype=np.int64), np.array([42], dtype=np.uint8), [np.int64(42)], [42.0],
                np.array([42.0], dtype=np.float32), pd.Series([42], dtype="Int64"), np.array([42], dtype=object)):  # fmt: skip
        np.testing.assert_array_equal(orbits.star_keys(ids), k)
    assert k.dtype == np.uint64
    # a list keeps each element's type: the integer 42 is not the text "42"
    mixed = orbits.star_keys([42, "42", b"42"])
    assert mixed[0] == k[0] and mixed[1] == mixed[2] != k[0]
    # integers map one to one: consecutive ids never share a key
    assert np.unique(orbits.star_keys(np.arange(-50_000, 50_000))).size == 100_000


def test_star_keys_text_and_stability():
    k = orbits.star_keys(["Gaia DR3 4295806720", "J0123+4567"])
    np.testing.assert_array_equal(orbits.star_keys(np.array(["Gaia DR3 4295806720", "J0123+4567"])), k)
    np.testing.assert_array_equal(orbits.star_keys(pd.Series(["Gaia DR3 4295806720", "J0123+4567"])), k)
    np.testing.assert_array_equal(orbits.star_keys([b"Gaia DR3 4295806720"]), k[:1])
    # pinned: keys and draws must not change between processes, machines or releases,
    # or a star's published errors could not be reproduced
    assert orbits.star_keys([42, "Gaia DR3 4295806720", -7]).tolist() == [
        13679457532755275413, 11896995052396193409, 7790691224305936752
    ]  # fmt: skip
    x = orbits.keyed_normal(orbits.star_keys([42, "Gaia DR3 4295806720"]), 42, "distance", 3)
    np.testing.assert_allclose(x, [[-0.34989858, -1.10449498, 0.10824634], [0.10946252, 1.30360654, 0.40996692]],
                               rtol=0, atol=1e-8)  # fmt: skip


@pytest.mark.parametrize("bad", [[42.5], [np.nan], [None], [2**64], np.array(["2020-01-01"], dtype="datetime64[D]")])
def test_star_keys_rejects_non_identifiers(bad):
    with pytest.raises((ValueError, TypeError)):
        orbits.star_keys(bad)


def test_keyed_normal_is_a_function_of_key_seed_stream_and_index():
    keys = orbits.star_keys(np.arange(1000, 1500))
    x = orbits.keyed_normal(keys, 42, "pmra", 60)
    assert x.shape == (500, 60) and x.dtype == np.float64
    np.testing.assert_array_equal(orbits.keyed_normal(keys, 42, "pmra", 60), x)
    p = np.random.default_rng(0).permutation(500)
    np.testing.assert_array_equal(orbits.keyed_normal(keys[p], 42, "pmra", 60), x[p])
    np.testing.assert_array_equal(orbits.keyed_normal(keys[7:9], 42, "pmra", 60), x[7:9])
    np.testing.assert_array_equal(orbits.keyed_normal(keys, 42, "pmra", 25), x[:, :25])  # prefix of the draws
    np.testing.assert_array_equal(orbits.keyed_normal(keys, np.int64(42), "pmra", 60), x)
    for other in (orbits.keyed_normal(keys, 43, "pmra", 60), orbits.keyed_normal(keys, 42, "pmdec", 60)):
        assert (other != x).mean() > 0.999
    with pytest.raises(TypeError, match="seed"):
        orbits.keyed_normal(keys, np.random.default_rng(42), "pmra", 60)
    with pytest.raises(TypeError, match="uint64"):
        orbits.keyed_normal(np.arange(5), 42, "pmra", 60)


def test_keyed_normal_distribution():
    n_star, n_draw = 1000, 100  # 10^5 draws; consecutive integer ids, the common case
    x = orbits.keyed_normal(orbits.star_keys(np.arange(n_star)), 42, "distance", n_draw)
    N = x.size
    assert abs(x.mean()) < 5 / np.sqrt(N)
    assert abs(x.std() - 1) < 5 / np.sqrt(2 * N)
    assert stats.kstest(x.ravel(), "norm").pvalue > 1e-3
    assert abs((x > 0).mean() - 0.5) < 5 * 0.5 / np.sqrt(N)
    assert abs((np.abs(x) > 3).mean() - 2 * stats.norm.sf(3)) < 5 * np.sqrt(2 * stats.norm.sf(3) / N)
    # no offset shared by a star's draws, nor by one draw index across stars
    assert stats.chi2.sf(n_draw * (x.mean(axis=1) ** 2).sum(), n_star) > 1e-3
    assert stats.chi2.sf(n_star * (x.mean(axis=0) ** 2).sum(), n_draw) > 1e-3


def test_keyed_normal_independence():
    keys = orbits.star_keys(np.arange(1000))
    x = orbits.keyed_normal(keys, 42, "pmra", 100)
    tol = 5 / np.sqrt(x.size)
    pairs = {
        "other variable": (x, orbits.keyed_normal(keys, 42, "pmdec", 100)),
        "other seed": (x, orbits.keyed_normal(keys, 43, "pmra", 100)),
        "next draw index": (x[:, :-1], x[:, 1:]),
        "next star id": (x[:-1], x[1:]),
    }
    for what, (a, b) in pairs.items():
        assert abs(np.corrcoef(a.ravel(), b.ravel())[0, 1]) < tol, what
    s = orbits.keyed_normal(orbits.star_keys([f"star-{i}" for i in range(1000)]), 42, "pmra", 100)
    assert abs(np.corrcoef(x.ravel(), s.ravel())[0, 1]) < tol
    assert stats.kstest(s.ravel(), "norm").pvalue > 1e-3


def _galcen_catalogue(n: int, seed: int) -> pd.DataFrame:
    """Catalogue-supplied Galactocentric coordinates (LAMOST VAC-like) with text ids."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        dict(source_id=[f"J{i:07d}" for i in rng.choice(10**7, n, replace=False)],
             R=rng.uniform(5, 13, n), R_err=rng.uniform(0.02, 0.5, n), phi=rng.uniform(170, 190, n),
             z=rng.normal(0, 0.8, n), z_err=rng.uniform(0.01, 0.1, n), v_R=rng.normal(0, 40, n),
             v_R_err=rng.uniform(1, 5, n), v_phi=rng.normal(220, 25, n), v_phi_err=rng.uniform(1, 15, n),
             v_z=rng.normal(0, 25, n), v_z_err=rng.uniform(1, 5, n))
    )  # fmt: skip


def _aligned(derived, table, ids):
    return derived.set_index(table["source_id"].to_numpy()).loc[ids]


@pytest.mark.parametrize(
    "route", ["heliocentric int ids", "heliocentric text ids", "catalogue galcen text ids"]
)
def test_mc_errors_independent_of_row_order_chunks_and_other_stars(route):
    if route.startswith("heliocentric"):
        tab = make_catalogue(n=45, seed=3, survey_extras=False)
        if "text" in route:
            tab["source_id"] = [f"LAMOST-{i}" for i in tab["source_id"]]
    else:
        tab = _galcen_catalogue(45, seed=3)
    cfg = OrbitConfig(n_mc=40, seed=11)
    base, _ = orbits.compute_orbits(tab, orbits=cfg)
    ids = tab["source_id"].to_numpy()
    shuffled = tab.sample(frac=1.0, random_state=1)
    dropped = tab.drop(tab.index[[4, 20, 31]])
    for variant, c in ((shuffled, cfg), (dropped, cfg), (tab, OrbitConfig(n_mc=40, seed=11, chunk_size=7)),
                       (shuffled, OrbitConfig(n_mc=40, seed=11, chunk_size=7))):  # fmt: skip
        d, _ = orbits.compute_orbits(variant, orbits=c)
        keep = np.isin(ids, variant["source_id"].to_numpy())
        d, ref = _aligned(d, variant, ids[keep]), base[keep]
        for col in MC_COLUMNS if route.startswith("heliocentric") else ["R_g_err", "R_g_mc_bad"]:
            np.testing.assert_array_equal(d[col].to_numpy(), ref[col].to_numpy(), err_msg=col)
        # central values: frames.icrs_to_galcen's BLAS 3x3 product may move the last bit
        for col in ("R", "z", "v_phi", "R_g", "Z_max"):
            np.testing.assert_allclose(d[col].to_numpy(), ref[col].to_numpy(), rtol=1e-13, err_msg=col)
    other, _ = orbits.compute_orbits(tab, orbits=OrbitConfig(n_mc=40, seed=12))
    assert (other["R_g_err"].to_numpy() != base["R_g_err"].to_numpy()).all()


def test_mc_needs_star_identifiers():
    tab = make_catalogue(n=5, seed=1).drop(columns="source_id")
    with pytest.raises(ValueError, match="source_id"):
        orbits.compute_orbits(tab, orbits=OrbitConfig(n_mc=10))
    with pytest.raises(TypeError, match="seed"):
        orbits.mc_phase_space(make_catalogue(n=5), GalaxyConfig(), orbits.rg_table(GalaxyConfig()), 10,
                              np.random.default_rng(1))  # fmt: skip


def test_mc_galcen_given_matches_brute_force():
    """R_g error from catalogue R, v_phi: keyed draws and independent numpy draws agree."""
    tab = _galcen_catalogue(4, seed=8)
    table = orbits.rg_table(GalaxyConfig())
    out = orbits._mc_galcen_given(tab, table, 4000, 42)
    rng = np.random.default_rng(2024)
    for i, row in enumerate(tab.itertuples()):
        R = row.R + row.R_err * rng.standard_normal(4000)
        vphi = row.v_phi + row.v_phi_err * rng.standard_normal(4000)
        assert out["R_g_err"][i] == pytest.approx(np.std(table(np.abs(R) * vphi), ddof=1), rel=0.08), i


def test_keyed_rg_errors_agree_with_numpy_generator(monkeypatch):
    """Over a catalogue, the keyed R_g errors are statistically the errors numpy's Generator gives."""
    tab = make_catalogue(n=60, seed=5, survey_extras=False)
    cfg = GalaxyConfig()
    table = orbits.rg_table(cfg)
    n_mc = 1500
    keyed = orbits.mc_phase_space(tab, cfg, table, n_mc, 42)
    rng = np.random.default_rng(7)
    monkeypatch.setattr(orbits, "keyed_normal", lambda keys, seed, stream, n: rng.standard_normal((len(keys), n)))
    ref = orbits.mc_phase_space(tab, cfg, table, n_mc, 42)
    ok = (keyed["R_g_mc_bad"] == 0) & (ref["R_g_mc_bad"] == 0)
    assert ok.sum() > 40
    for col in ("R_err", "v_phi_err", "R_g_err"):
        ratio = keyed[col][ok] / ref[col][ok]
        # each sd has ~1/sqrt(2 n_mc) = 1.8% noise (more for skewed R_g): the difference ~2.6%
        assert np.all(np.abs(ratio - 1) < 0.15), col
        assert abs(np.mean(ratio) - 1) < 0.015, col


def test_zmax_staeckel_median_delta_is_order_independent(small_mock):
    pot = orbits.load_potential(GalaxyConfig())
    t = small_mock.truth_stars
    t = t[t.component != "halo"].iloc[:2600]  # more than the 2000 behind the median
    args = [t[c].to_numpy() for c in ("R", "v_R", "v_phi", "z", "v_z")]
    keys = orbits.star_keys(t["source_id"])
    p = np.random.default_rng(3).permutation(len(t))
    deltas = []
    for k in (None, keys):
        z0, d0 = orbits.zmax_staeckel(pot, *args, delta="median", keys=k)
        z1, d1 = orbits.zmax_staeckel(pot, *(a[p] for a in args), delta="median", keys=None if k is None else k[p])
        assert d0 == d1
        np.testing.assert_array_equal(z1, z0[p])
        deltas.append(d0)
    # both subsamples are representative: their medians agree with each other
    assert deltas[0] == pytest.approx(deltas[1], rel=0.05)


# --- distances: V21's two-piece Gaussian, Gaia parallaxes and correlations ---


def _one_star(**cols) -> pd.DataFrame:
    base = dict(source_id=[7], ra=[150.0], dec=[20.0], distance=[2.0], distance_err=[0.3], pmra=[-3.0],
                pmra_err=[0.5], pmdec=[2.0], pmdec_err=[0.5], rv=[10.0], rv_err=[2.0])  # fmt: skip
    base.update({k: [v] for k, v in cols.items()})
    return pd.DataFrame(base)


def test_two_piece_distance_draws_keep_the_median_and_percentiles():
    n = 100_000
    tab = _one_star(distance=2.0, distance_err_lo=0.2, distance_err_hi=0.5)
    d = orbits.mc_draws(tab, n, 42)["distance"][0]
    # half the mass on each side of the catalogue median: exactly the draws with z < 0 lie below it
    z = orbits.keyed_normal(orbits.star_keys(tab["source_id"]), 42, "distance", n)[0]
    np.testing.assert_array_equal(d < 2.0, z < 0)
    assert abs((d < 2.0).mean() - 0.5) < 5 * 0.5 / np.sqrt(n)
    assert np.median(d) == pytest.approx(2.0, abs=0.005)
    lo, hi = np.percentile(d, [100 * stats.norm.cdf(-1), 100 * stats.norm.cdf(1)])
    # sampling error of these percentiles ~0.001 and ~0.003 kpc
    assert lo == pytest.approx(2.0 - 0.2, abs=0.006)
    assert hi == pytest.approx(2.0 + 0.5, abs=0.015)
    # the 16th/84th percentiles of the catalogue sit 0.6% of sigma inside the one-sigma points
    assert np.percentile(d, 16) == pytest.approx(2.0 - 0.2 * 0.9945, abs=0.006)


def test_two_piece_reduces_to_symmetric_and_falls_back_per_star():
    sym = orbits.mc_draws(_one_star(distance_err=0.3), 1000, 5)["distance"]
    same = orbits.mc_draws(_one_star(distance_err=0.3, distance_err_lo=0.3, distance_err_hi=0.3), 1000, 5)
    np.testing.assert_array_equal(same["distance"], sym)
    # a star without both sides uses distance_err, bit for bit
    for lo, hi in ((np.nan, 0.5), (0.2, np.nan), (np.nan, np.nan)):
        half = orbits.mc_draws(_one_star(distance_err=0.3, distance_err_lo=lo, distance_err_hi=hi), 1000, 5)
        np.testing.assert_array_equal(half["distance"], sym)
    # and the asymmetric widths change the spread of R in the Monte Carlo
    cfg = GalaxyConfig()
    wide = orbits.mc_phase_space(_one_star(distance_err_lo=0.3, distance_err_hi=0.9), cfg, orbits.rg_table(cfg),
                                 4000, 5)  # fmt: skip
    narrow = orbits.mc_phase_space(_one_star(), cfg, orbits.rg_table(cfg), 4000, 5)
    assert wide["R_err"][0] > 1.5 * narrow["R_err"][0]


def test_kinematic_columns_and_central_distance():
    assert orbits.kinematic_columns() == ("ra", "dec", "distance", "distance_err", "pmra", "pmra_err", "pmdec",
                                          "pmdec_err", "rv", "rv_err")  # fmt: skip
    par = OrbitConfig(distance_source="parallax", parallax_zero_point=-0.017)
    assert orbits.kinematic_columns(par)[2:4] == ("parallax", "parallax_err")
    assert "R_err" in orbits.kinematic_columns(OrbitConfig(catalogue_columns=["galcen"]))
    tab = pd.DataFrame({"parallax": [0.5, 0.017, -0.1, -0.017], "distance": [1.0, 2.0, 3.0, 4.0]})
    d = orbits.heliocentric_distance(tab, par)
    # parallax minus the (negative) zero point: 0.517, 0.034; non-positive corrected parallaxes have no distance
    np.testing.assert_allclose(d[:2], [1 / 0.517, 1 / 0.034], rtol=1e-15)
    assert np.isnan(d[2:]).all()
    np.testing.assert_array_equal(orbits.heliocentric_distance(tab), tab["distance"])


def _parallax_catalogue(n: int = 30, seed: int = 4, frac: float = 0.01) -> pd.DataFrame:
    """Heliocentric catalogue with parallaxes consistent with its distances (parallax_err = frac * parallax)."""
    tab = make_catalogue(n=n, seed=seed, survey_extras=False)
    tab["parallax"] = 1.0 / tab["distance"]
    tab["parallax_err"] = frac * tab["parallax"]
    # the distance error that linear propagation gives: sigma_d = sigma_plx / plx^2
    tab["distance_err"] = tab["parallax_err"] / tab["parallax"] ** 2
    return tab


def test_parallax_route_central_values_and_small_error_limit():
    tab = _parallax_catalogue()
    zp = -0.017
    par, _ = orbits.compute_orbits(tab, orbits=OrbitConfig(n_mc=20, distance_source="parallax", parallax_zero_point=zp))
    np.testing.assert_allclose(par["distance_from_parallax"], 1.0 / (tab["parallax"] + 0.017), rtol=1e-15)
    # the parallax route needs no distance columns
    bare, _ = orbits.compute_orbits(tab.drop(columns=["distance", "distance_err"]),
                                    orbits=OrbitConfig(n_mc=20, distance_source="parallax", parallax_zero_point=zp))  # fmt: skip
    pd.testing.assert_frame_equal(bare, par)
    shifted = tab.assign(distance=1.0 / (tab["parallax"] + 0.017))
    dist, _ = orbits.compute_orbits(shifted, orbits=OrbitConfig(n_mc=20))
    for col in ("R", "z", "v_phi", "R_g"):
        np.testing.assert_allclose(par[col], dist[col], rtol=1e-12, err_msg=col)
    # 1% parallax errors: the Monte-Carlo errors are those of distance_err = sigma_plx / plx^2
    cfg = OrbitConfig(n_mc=20000, seed=3)
    par, info = orbits.compute_orbits(tab, orbits=OrbitConfig(n_mc=20000, seed=3, distance_source="parallax"))
    dist, _ = orbits.compute_orbits(tab, orbits=cfg)
    assert info["distance_source"] == "parallax" and (par["parallax_mc_bad"] == 0).all()
    ok = (par["R_g_mc_bad"] == 0) & (dist["R_g_mc_bad"] == 0)
    assert ok.sum() > 20
    for col in ("R_err", "v_phi_err", "R_g_err"):
        ratio = (par[col] / dist[col])[ok]
        # each sd carries 0.5% noise from 20000 draws; R_err is the distance error alone
        assert np.all(np.abs(ratio - 1) < 0.03), col
        assert abs(ratio.mean() - 1) < 0.01, col


def test_parallax_route_needs_its_columns():
    tab = make_catalogue(n=4, survey_extras=False)
    with pytest.raises(ValueError, match=r"parallax.*distance_source = 'parallax'"):
        orbits.compute_orbits(tab, orbits=OrbitConfig(n_mc=10, distance_source="parallax"))
    with pytest.raises(ValueError, match="distance_source"):
        orbits.mc_draws(tab, 10, 1, distance_source="plx")


def test_non_positive_parallax_draws_are_nan_realisations():
    n = 20000
    # parallax 0.2 +- 0.2 mas: P(parallax <= 0) = Phi(-1) = 0.159
    tab = _one_star(parallax=0.2, parallax_err=0.2, distance=5.0, distance_err=5.0, pmra_err=0.05, pmdec_err=0.05)
    tab = pd.concat([tab, _one_star(parallax=1.0, parallax_err=0.01).assign(source_id=8)], ignore_index=True)
    draws = orbits.mc_draws(tab, n, 42, distance_source="parallax")
    plx, d = draws["parallax"], draws["distance"]
    np.testing.assert_array_equal(np.isnan(d), plx <= 0)
    np.testing.assert_allclose(d[plx > 0], 1.0 / plx[plx > 0], rtol=1e-15)
    cfg = GalaxyConfig()
    out = orbits.mc_phase_space(tab, cfg, orbits.rg_table(cfg), n, 42, distance_source="parallax")
    p = stats.norm.cdf(-1.0)
    assert out["parallax_mc_bad"][0] == pytest.approx(p, abs=5 * np.sqrt(p * (1 - p) / n))
    assert out["parallax_mc_bad"][0] == (plx[0] <= 0).mean() and out["parallax_mc_bad"][1] == 0
    # realisations without a distance have no R_g either; the errors come from the others
    assert out["R_g_mc_bad"][0] >= out["parallax_mc_bad"][0]
    assert all(np.isfinite(out[c]).all() for c in MC_COLUMNS)
    assert out["R_err"][0] == pytest.approx(np.std(np.hypot(*_xy(tab.iloc[0], d[0][plx[0] > 0])), ddof=1), rel=1e-9)


def _xy(row, d):
    """Galactocentric x, y [kpc] of distances ``d`` along the line of sight of ``row``."""
    from mgar_bayes.frames import icrs_to_galcen

    g = icrs_to_galcen(row.ra, row.dec, d, row.pmra, row.pmdec, row.rv)
    return g["x"], g["y"]


def test_pm_correlation_in_draws_and_errors():
    n = 100_000
    x = orbits.mc_draws(_one_star(pmra_pmdec_corr=0.6), n, 42)
    r = np.corrcoef(x["pmra"][0], x["pmdec"][0])[0, 1]
    assert r == pytest.approx(0.6, abs=5 * (1 - 0.36) / np.sqrt(n))
    assert x["pmdec"][0].std() == pytest.approx(0.5, rel=0.01)  # the marginal width is kept
    # pmra does not change with the correlation; NaN means no known correlation
    x0 = orbits.mc_draws(_one_star(), n, 42)
    np.testing.assert_array_equal(x["pmra"], x0["pmra"])
    np.testing.assert_array_equal(orbits.mc_draws(_one_star(pmra_pmdec_corr=np.nan), n, 42)["pmdec"], x0["pmdec"])

    # errors dominated by the proper motions: v_phi is linear in (pmra, pmdec) at fixed distance,
    # so its variance is J Sigma J^T exactly
    from mgar_bayes.frames import icrs_to_galcen

    star = dict(ra=225.0, dec=10.0, distance=3.0, distance_err=1e-6, rv_err=1e-6, pmra_err=1.0, pmdec_err=1.0)
    row = _one_star(**star).iloc[0]

    def v_phi(dpmra, dpmdec):
        return icrs_to_galcen(row.ra, row.dec, row.distance, row.pmra + dpmra, row.pmdec + dpmdec, row.rv)["v_phi"]

    h = 1e-3
    jac = [(v_phi(h, 0) - v_phi(-h, 0)) / (2 * h), (v_phi(0, h) - v_phi(0, -h)) / (2 * h)]
    cfg = GalaxyConfig()
    res = {}
    for rho in (-0.6, 0.0, 0.6):
        expected = np.sqrt(jac[0] ** 2 + jac[1] ** 2 + 2 * rho * jac[0] * jac[1])
        res[rho] = orbits.mc_phase_space(_one_star(**star, pmra_pmdec_corr=rho), cfg, orbits.rg_table(cfg), 20000, 9)
        assert res[rho]["v_phi_err"][0] == pytest.approx(expected, rel=0.025), rho
    # a case where it matters: pmra and pmdec weigh alike in v_phi, so rho = +-0.6 moves its
    # error by a factor sqrt(1 +- 0.6)
    assert res[0.6]["v_phi_err"][0] / res[0.0]["v_phi_err"][0] == pytest.approx(np.sqrt(1.6), rel=0.03)
    assert res[-0.6]["v_phi_err"][0] / res[0.0]["v_phi_err"][0] == pytest.approx(np.sqrt(0.4), rel=0.03)
    for rho in (-0.6, 0.6):  # R is fixed, so R_g follows L_z = R v_phi
        ratio = res[rho]["R_g_err"][0] / res[0.0]["R_g_err"][0]
        assert ratio == pytest.approx(res[rho]["v_phi_err"][0] / res[0.0]["v_phi_err"][0], rel=0.02)


def test_parallax_proper_motion_correlations():
    n = 100_000
    rho = {"parallax_pmra_corr": 0.3, "parallax_pmdec_corr": -0.4, "pmra_pmdec_corr": 0.6}
    x = orbits.mc_draws(_one_star(parallax=1.0, parallax_err=0.05, **rho), n, 42, distance_source="parallax")
    c = np.corrcoef([x["parallax"][0], x["pmra"][0], x["pmdec"][0]])
    for (i, j), key in {(0, 1): "parallax_pmra_corr", (0, 2): "parallax_pmdec_corr", (1, 2): "pmra_pmdec_corr"}.items():
        assert c[i, j] == pytest.approx(rho[key], abs=0.01), key
    np.testing.assert_allclose([x["parallax"][0].std(), x["pmra"][0].std(), x["pmdec"][0].std()], [0.05, 0.5, 0.5],
                               rtol=0.01)  # fmt: skip
    with pytest.raises(ValueError, match="no correlation matrix"):
        orbits.mc_draws(_one_star(parallax=1.0, parallax_err=0.05, parallax_pmra_corr=0.9, parallax_pmdec_corr=0.9,
                                  pmra_pmdec_corr=-0.9), 10, 42, distance_source="parallax")  # fmt: skip


def _gaia_columns(tab: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Asymmetric distance errors, parallaxes and correlations, some missing (NaN)."""
    rng = np.random.default_rng(seed)
    n = len(tab)
    tab = tab.copy()
    tab["distance_err_lo"] = np.where(rng.random(n) < 0.2, np.nan, rng.uniform(0.05, 0.4, n))
    tab["distance_err_hi"] = rng.uniform(0.05, 0.8, n)
    tab["parallax"] = 1.0 / tab["distance"]
    # some stars with parallax errors of 50%: their realisations include parallax <= 0
    tab["parallax_err"] = tab["parallax"] * np.where(rng.random(n) < 0.3, 0.5, 0.05)
    for c in ("pmra_pmdec_corr", "parallax_pmra_corr", "parallax_pmdec_corr"):
        tab[c] = np.where(rng.random(n) < 0.2, np.nan, rng.uniform(-0.4, 0.4, n))
    return tab


@pytest.mark.parametrize("source", ["distance", "parallax"])
def test_gaia_columns_keep_row_order_and_subset_invariance(source):
    tab = _gaia_columns(make_catalogue(n=45, seed=3, survey_extras=False), seed=6)
    cfg = OrbitConfig(n_mc=40, seed=11, distance_source=source)
    base, _ = orbits.compute_orbits(tab, orbits=cfg)
    cols = MC_COLUMNS + (["parallax_mc_bad", "distance_from_parallax"] if source == "parallax" else [])
    if source == "parallax":
        assert (base["parallax_mc_bad"] > 0).any() and (base["parallax_mc_bad"] == 0).any()
    ids = tab["source_id"].to_numpy()
    shuffled = tab.sample(frac=1.0, random_state=1)
    dropped = tab.drop(tab.index[[4, 20, 31]])
    chunked = OrbitConfig(n_mc=40, seed=11, distance_source=source, chunk_size=7)
    for variant, c in ((shuffled, cfg), (dropped, cfg), (tab, chunked), (shuffled, chunked)):
        d, _ = orbits.compute_orbits(variant, orbits=c)
        keep = np.isin(ids, variant["source_id"].to_numpy())
        d, ref = _aligned(d, variant, ids[keep]), base[keep]
        for col in cols:
            np.testing.assert_array_equal(d[col].to_numpy(), ref[col].to_numpy(), err_msg=col)
