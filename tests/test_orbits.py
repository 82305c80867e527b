"""R_g, Z_max and Monte-Carlo errors checked against galpy's own per-star routes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mgar_bayes import orbits
from mgar_bayes.config import GalaxyConfig, OrbitConfig
from mgar_bayes.frames import galcen_astropy


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
    """The vectorised Monte Carlo equals per-star astropy transforms of the same draws' spread."""
    rng = np.random.default_rng(5)
    n = 3
    tab = pd.DataFrame(
        dict(
            ra=[120.0, 45.0, 200.0], dec=[30.0, 10.0, 50.0], distance=[1.5, 3.0, 0.8],
            pmra=[-2.0, 1.0, 4.0], pmdec=[-3.0, -1.0, 2.0], rv=[20.0, -40.0, 5.0],
            distance_err=[0.15, 0.4, 0.05], pmra_err=[0.03] * n, pmdec_err=[0.03] * n, rv_err=[3.0] * n,
        )
    )  # fmt: skip
    cfg = GalaxyConfig()
    out = orbits.mc_phase_space(tab, cfg, orbits.rg_table(cfg), 4000, rng)
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
        dict(R=[8.0, 9.0], R_err=[0.1, 0.2], z=[0.1, -0.2], z_err=[0.01, 0.02], v_R=[10.0, -20.0], v_R_err=[1.0, 1.0],
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
        pd.DataFrame(dict(ra=[10.0], dec=[20.0], distance=[1.0], pmra=[1.0], pmdec=[1.0], rv=[1.0],
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
