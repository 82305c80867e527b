"""Heliocentric observables <-> Galactocentric cylindrical coordinates.

The transformation is astropy's ``Galactocentric`` frame. For millions of
Monte-Carlo realisations we take astropy's own rotation matrix and offsets for
the configured frame (:func:`astropy.coordinates.builtin_frames.galactocentric.get_matrix_vectors`)
and apply them with numpy, which is the same linear map without building
millions of SkyCoord objects; :func:`galcen_astropy` is the per-star reference
route, used by the tests to check the fast one.

Conventions: astropy's Galactocentric frame is right-handed with the Sun at
x = -R0, so the disk rotates towards -phi there. Here ``v_phi`` is positive in
the direction of Galactic rotation (galpy's convention), so disk stars have
v_phi > 0 and L_z = R * v_phi > 0.
"""

from __future__ import annotations

from functools import lru_cache

import astropy.units as u
import numpy as np
from astropy.coordinates import ICRS, CartesianDifferential, Galactocentric, SkyCoord
from astropy.coordinates.builtin_frames.galactocentric import get_matrix_vectors

from .config import GalaxyConfig

__all__ = [
    "K_MASYR_KPC",
    "galactocentric_frame",
    "icrs_to_galcen",
    "galcen_to_icrs",
    "galcen_astropy",
    "sun_galcen",
]

# 1 mas/yr at 1 kpc in km/s (astropy: (1 mas/yr * kpc).to(km/s, dimensionless_angles)).
K_MASYR_KPC = float((1 * u.mas / u.yr * u.kpc).to(u.km / u.s, u.dimensionless_angles()).value)


def galactocentric_frame(galaxy: GalaxyConfig | None = None) -> Galactocentric:
    """Astropy Galactocentric frame for the configured solar position and motion.

    The Sun's in-plane radius is ``R0`` and its height ``z_sun``, so astropy's
    Sun-centre distance is sqrt(R0^2 + z_sun^2). The Sun's velocity is
    (U, v0 + V, W) with (U, V, W) = ``solar_motion``.
    """
    g = galaxy or GalaxyConfig()
    U, V, W = g.solar_motion
    return Galactocentric(
        galcen_distance=np.hypot(g.R0, g.z_sun) * u.kpc,
        z_sun=g.z_sun * u.kpc,
        galcen_v_sun=CartesianDifferential([U, g.v0 + V, W] * u.km / u.s),
        roll=0 * u.deg,
    )


@lru_cache(maxsize=32)
def _matrices(galaxy: GalaxyConfig):
    frame = galactocentric_frame(galaxy)
    A, offset = get_matrix_vectors(frame)
    pos = offset.xyz.to_value(u.kpc)
    vel = offset.differentials["s"].d_xyz.to_value(u.km / u.s)
    return np.asarray(A, dtype=float), pos, vel


def _icrs_cartesian(ra, dec, distance, pmra, pmdec, rv):
    ra = np.deg2rad(ra)
    dec = np.deg2rad(dec)
    cra, sra = np.cos(ra), np.sin(ra)
    cdec, sdec = np.cos(dec), np.sin(dec)
    # unit vectors: line of sight, east (increasing ra), north (increasing dec)
    rhat = np.stack([cdec * cra, cdec * sra, sdec])
    ehat = np.stack([-sra, cra, np.zeros_like(ra)])
    nhat = np.stack([-sdec * cra, -sdec * sra, cdec])
    vt_e = K_MASYR_KPC * distance * pmra
    vt_n = K_MASYR_KPC * distance * pmdec
    xyz = distance * rhat
    vxyz = rv * rhat + vt_e * ehat + vt_n * nhat
    return xyz, vxyz


def _cylindrical(x, y, z, vx, vy, vz):
    R = np.hypot(x, y)
    phi = np.rad2deg(np.arctan2(y, x))
    v_R = (x * vx + y * vy) / R
    # astropy's frame rotates towards -phi at the Sun: flip so rotation is positive
    v_phi = -(x * vy - y * vx) / R
    return {"R": R, "phi": phi, "z": z, "v_R": v_R, "v_phi": v_phi, "v_z": vz}


def icrs_to_galcen(ra, dec, distance, pmra, pmdec, rv, galaxy: GalaxyConfig | None = None):
    """Galactocentric coordinates of stars from heliocentric observables (vectorised).

    Parameters
    ----------
    ra, dec : array_like
        ICRS position [deg].
    distance : array_like
        Heliocentric distance [kpc].
    pmra, pmdec : array_like
        Proper motions [mas/yr]; pmra includes cos(dec).
    rv : array_like
        Line-of-sight velocity [km/s].
    galaxy : GalaxyConfig, optional
        Solar position and motion (defaults: C25's).

    Returns
    -------
    dict of numpy.ndarray
        ``x, y, z`` [kpc], ``vx, vy, vz`` [km/s] (astropy Galactocentric
        Cartesian), ``R`` [kpc], ``phi`` [deg], ``v_R``, ``v_phi``, ``v_z``
        [km/s], each with the broadcast shape of the inputs.
    """
    arrays = np.broadcast_arrays(*(np.asarray(a, dtype=float) for a in (ra, dec, distance, pmra, pmdec, rv)))
    shape = arrays[0].shape
    xyz, vxyz = _icrs_cartesian(*(a.ravel() for a in arrays))
    A, pos0, vel0 = _matrices(galaxy or GalaxyConfig())
    gx = np.stack(_rotate(A, *xyz)) + pos0[:, None]
    gv = np.stack(_rotate(A, *vxyz)) + vel0[:, None]
    out = {"x": gx[0], "y": gx[1], "z": gx[2], "vx": gv[0], "vy": gv[1], "vz": gv[2]}
    out.update(_cylindrical(*gx, *gv))
    return {k: v.reshape(shape) for k, v in out.items()}


def _rotate(A: np.ndarray, u0, u1, u2) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``A @ (u0, u1, u2)`` element by element.

    A BLAS product's last bits depend on a column's position in the array,
    which would make a star's coordinates depend on its row or partition.
    """
    return tuple(A[i, 0] * u0 + A[i, 1] * u1 + A[i, 2] * u2 for i in range(3))


def galcen_to_icrs(R, phi, z, v_R, v_phi, v_z, galaxy: GalaxyConfig | None = None):
    """Heliocentric observables from Galactocentric cylindrical coordinates.

    Inverse of :func:`icrs_to_galcen` (same units and conventions; ``phi`` in
    deg, ``v_phi`` positive along Galactic rotation). Returns a dict with
    ``ra, dec`` [deg], ``distance`` [kpc], ``pmra, pmdec`` [mas/yr], ``rv`` [km/s].
    """
    R, phi, z, v_R, v_phi, v_z = np.broadcast_arrays(
        *(np.asarray(a, dtype=float) for a in (R, phi, z, v_R, v_phi, v_z))
    )
    shape = R.shape
    R, phi, z, v_R, v_phi, v_z = (a.ravel() for a in (R, phi, z, v_R, v_phi, v_z))
    p = np.deg2rad(phi)
    c, s = np.cos(p), np.sin(p)
    g = np.stack([R * c, R * s, z])
    # v_phi along rotation is along -phi-hat in astropy's right-handed frame
    gv = np.stack([v_R * c + v_phi * s, v_R * s - v_phi * c, v_z])
    A, pos0, vel0 = _matrices(galaxy or GalaxyConfig())
    xyz = A.T @ (g - pos0[:, None])
    vxyz = A.T @ (gv - vel0[:, None])
    d = np.sqrt(np.sum(xyz**2, axis=0))
    rhat = xyz / d
    ra = np.arctan2(xyz[1], xyz[0])
    dec = np.arcsin(np.clip(rhat[2], -1, 1))
    ehat = np.stack([-np.sin(ra), np.cos(ra), np.zeros_like(ra)])
    nhat = np.stack([-np.sin(dec) * np.cos(ra), -np.sin(dec) * np.sin(ra), np.cos(dec)])
    rv = np.sum(vxyz * rhat, axis=0)
    pmra = np.sum(vxyz * ehat, axis=0) / (K_MASYR_KPC * d)
    pmdec = np.sum(vxyz * nhat, axis=0) / (K_MASYR_KPC * d)
    out = {
        "ra": np.rad2deg(ra) % 360.0,
        "dec": np.rad2deg(dec),
        "distance": d,
        "pmra": pmra,
        "pmdec": pmdec,
        "rv": rv,
    }
    return {k: v.reshape(shape) for k, v in out.items()}


def galcen_astropy(ra, dec, distance, pmra, pmdec, rv, galaxy: GalaxyConfig | None = None):
    """Reference route through ``SkyCoord.transform_to`` (slow; for checks).

    Same inputs and outputs as :func:`icrs_to_galcen`.
    """
    c = SkyCoord(
        ICRS(
            ra=np.asarray(ra) * u.deg,
            dec=np.asarray(dec) * u.deg,
            distance=np.asarray(distance) * u.kpc,
            pm_ra_cosdec=np.asarray(pmra) * u.mas / u.yr,
            pm_dec=np.asarray(pmdec) * u.mas / u.yr,
            radial_velocity=np.asarray(rv) * u.km / u.s,
        )
    ).transform_to(galactocentric_frame(galaxy))
    x, y, z = (c.cartesian.xyz.to_value(u.kpc))
    vx, vy, vz = c.velocity.d_xyz.to_value(u.km / u.s)
    out = {"x": x, "y": y, "z": z, "vx": vx, "vy": vy, "vz": vz}
    out.update(_cylindrical(x, y, z, vx, vy, vz))
    return out


def sun_galcen(galaxy: GalaxyConfig | None = None) -> dict[str, float]:
    """The Sun's own Galactocentric R [kpc], z [kpc], v_R, v_phi, v_z [km/s]."""
    g = galaxy or GalaxyConfig()
    A, pos0, vel0 = _matrices(g)
    out = _cylindrical(*(np.array([v]) for v in (*pos0, *vel0)))
    return {k: float(v[0]) for k, v in out.items()}
