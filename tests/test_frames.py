"""Galactocentric coordinates: fast route vs astropy and galpy, and the Sun pinned."""

from __future__ import annotations

import numpy as np
import pytest

from mgar_bayes import frames
from mgar_bayes.config import GalaxyConfig
from mgar_bayes.orbits import load_potential, rg_table


def _random_stars(n=400, seed=0):
    rng = np.random.default_rng(seed)
    return dict(
        ra=rng.uniform(0, 360, n),
        dec=rng.uniform(-30, 85, n),
        distance=rng.uniform(0.05, 6, n),
        pmra=rng.normal(0, 8, n),
        pmdec=rng.normal(0, 8, n),
        rv=rng.normal(0, 60, n),
    )


@pytest.mark.parametrize("galaxy", [GalaxyConfig(), GalaxyConfig(R0=7.0, v0=200.0, z_sun=0.025)])
def test_fast_route_matches_astropy(galaxy):
    s = _random_stars()
    fast = frames.icrs_to_galcen(**s, galaxy=galaxy)
    ref = frames.galcen_astropy(**s, galaxy=galaxy)
    for k in ("x", "y", "z", "R", "phi"):
        np.testing.assert_allclose(fast[k], ref[k], atol=1e-9)
    for k in ("vx", "vy", "vz", "v_R", "v_phi", "v_z"):
        np.testing.assert_allclose(fast[k], ref[k], atol=1e-7)


def test_inverse_round_trip():
    s = _random_stars(200, seed=1)
    g = frames.icrs_to_galcen(**s)
    back = frames.galcen_to_icrs(g["R"], g["phi"], g["z"], g["v_R"], g["v_phi"], g["v_z"])
    for k, v in s.items():
        np.testing.assert_allclose(back[k], v, atol=1e-8, err_msg=k)


def test_sun_pinned():
    sun = frames.sun_galcen(GalaxyConfig())
    assert sun["R"] == pytest.approx(8.27)
    assert sun["z"] == pytest.approx(0.0, abs=1e-12)
    # v_phi = v0 + V (positive along rotation), v_R = -U (U points to the centre)
    assert sun["v_phi"] == pytest.approx(236.0 + 12.24)
    assert sun["v_R"] == pytest.approx(-13.0)
    assert sun["v_z"] == pytest.approx(7.24)
    # the Sun's guiding radius in MWPotential2014 scaled to (8.27 kpc, 236 km/s):
    # galpy's rl(MWPotential2014, 248.24 * 8.27 / (236 * 8.27)) * 8.27 = 8.7502 kpc
    Rg_sun = rg_table(GalaxyConfig())(sun["R"] * sun["v_phi"])
    assert Rg_sun == pytest.approx(8.7502, abs=2e-3)


def test_star_at_sun_moves_with_sun():
    g = frames.icrs_to_galcen(10.0, 20.0, 1e-6, 0.0, 0.0, 0.0)
    assert float(g["v_phi"]) == pytest.approx(248.24, abs=1e-4)
    assert float(g["R"]) == pytest.approx(8.27, abs=1e-5)


def test_matches_galpy_orbit_with_solarmotion_convention():
    """galpy's solarmotion is [-U, V, W]; with it galpy must agree with us."""
    from galpy.orbit import Orbit

    s = _random_stars(50, seed=2)
    cfg = GalaxyConfig()
    U, V, W = cfg.solar_motion
    pot = load_potential(cfg)
    vxvv = np.stack([s["ra"], s["dec"], s["distance"], s["pmra"], s["pmdec"], s["rv"]], axis=1)
    o = Orbit(vxvv, radec=True, ro=cfg.R0, vo=cfg.v0, zo=0.0, solarmotion=[-U, V, W])
    ours = frames.icrs_to_galcen(**s, galaxy=cfg)
    np.testing.assert_allclose(o.R(), ours["R"], rtol=1e-6)
    np.testing.assert_allclose(o.z(), ours["z"], atol=1e-6)
    np.testing.assert_allclose(o.vR(), ours["v_R"], atol=1e-4)
    np.testing.assert_allclose(o.vT(), ours["v_phi"], atol=1e-4)
    np.testing.assert_allclose(o.vz(), ours["v_z"], atol=1e-4)
    assert pot.ro == cfg.R0
