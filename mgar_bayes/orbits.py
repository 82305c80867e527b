"""Guiding radius R_g, Z_max and Monte-Carlo errors, vectorised over stars.

- R_g is the radius of the circular orbit with the star's L_z in the chosen
  galpy potential. It is read from an interpolated L_z -> R table built from
  galpy's ``vcirc`` (checked against galpy's own ``rl`` in the tests).
- Z_max comes from galpy's ``actionAngleStaeckel`` with one fixed focal length
  (default), or from full orbit integration (C25's route) as a check.
- Errors come from Monte-Carlo realisations of the heliocentric observables
  (C25 App. A, V21 Sect. 2.1.4): the standard deviation over realisations of
  R, z, v_R, v_phi, v_z and R_g.

galpy potentials are used in galpy's natural units with each potential's own
length and velocity unit (``ro``, ``vo``): MWPotential2014 is scaled to (R0, v0);
McMillan17 and Irrgang13I keep the ``ro``/``vo`` they carry, unless
``GalaxyConfig.rescale_potential``. Potentials are never mutated
(``use_physical=False`` everywhere, no ``turn_physical_on``).
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd

from .config import GalaxyConfig, OrbitConfig
from .frames import K_MASYR_KPC, _matrices, icrs_to_galcen

__all__ = [
    "GalaxyPotential",
    "load_potential",
    "RgTable",
    "rg_table",
    "zmax_staeckel",
    "staeckel_delta",
    "zmax_integrate",
    "mc_phase_space",
    "compute_orbits",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True, eq=False)  # hashed by identity: load_potential caches instances
class GalaxyPotential:
    """A galpy potential with the units it is evaluated in.

    Attributes
    ----------
    name : str
        galpy name of the potential.
    pot : list
        galpy potential (natural units).
    ro : float
        Length unit [kpc].
    vo : float
        Velocity unit [km/s].
    """

    name: str
    pot: object
    ro: float
    vo: float

    def vcirc(self, R_kpc):
        """Circular velocity [km/s] at cylindrical radius ``R_kpc`` [kpc] in the plane."""
        from galpy.potential import vcirc

        return np.asarray(vcirc(self.pot, np.asarray(R_kpc) / self.ro, use_physical=False)) * self.vo


@lru_cache(maxsize=8)
def rg_table(galaxy: GalaxyConfig | None = None) -> RgTable:
    """The L_z -> R_g table of the configured potential (cached per configuration)."""
    return RgTable(load_potential(galaxy or GalaxyConfig()))


@lru_cache(maxsize=8)
def load_potential(galaxy: GalaxyConfig | None = None) -> GalaxyPotential:
    """The configured galpy potential and its units (cached per configuration)."""
    from galpy.potential import vcirc
    from galpy.util.conversion import get_physical

    g = galaxy or GalaxyConfig()
    if g.potential == "MWPotential2014":
        from galpy.potential import MWPotential2014 as pot

        # scale-free in natural units (vc(1) = 1): R0 and v0 set its scale
        return GalaxyPotential(g.potential, pot, g.R0, g.v0)
    if g.potential == "McMillan17":
        from galpy.potential.mwpotentials import McMillan17 as pot
    elif g.potential == "Irrgang13I":
        from galpy.potential.mwpotentials import Irrgang13I as pot
    else:  # pragma: no cover - GalaxyConfig validates the name
        raise ValueError(g.potential)
    phys = get_physical(pot)
    ro, vo = float(phys["ro"]), float(phys["vo"])
    if g.rescale_potential:
        # shape kept, length unit -> R0, velocities scaled so that vc(R0) = v0
        vc1 = float(vcirc(pot, 1.0, use_physical=False))
        ro, vo = g.R0, g.v0 / vc1
    return GalaxyPotential(g.potential, pot, ro, vo)


class RgTable:
    """Interpolated L_z -> R_g relation of a potential.

    Parameters
    ----------
    potential : GalaxyPotential
        Potential and its units.
    R_min, R_max : float
        Radial range of the table [kpc]; stars whose L_z maps outside it get NaN.
    n : int
        Grid points (log-spaced in R). A monotone cubic in log L_z - log R is
        accurate to ~1e-6 with a few hundred points, which matters because
        vcirc of the SCF-based McMillan17 costs ~20 ms per radius.
    """

    def __init__(self, potential: GalaxyPotential, R_min: float = 0.02, R_max: float = 100.0, n: int = 400):
        from scipy.interpolate import PchipInterpolator

        self.potential = potential
        R = np.geomspace(R_min, R_max, n)
        Lz = R * potential.vcirc(R)
        if not np.all(np.diff(Lz) > 0):
            raise ValueError(f"R*vc(R) is not increasing for {potential.name}: no unique R_g")
        self._spline = PchipInterpolator(np.log(Lz), np.log(R), extrapolate=False)
        self.L_min, self.L_max = Lz[0], Lz[-1]

    def __call__(self, Lz) -> np.ndarray:
        """Guiding radius [kpc] for angular momentum ``Lz`` [kpc km/s]; NaN if Lz <= 0."""
        Lz = np.asarray(Lz, dtype=float)
        out = np.full(Lz.shape, np.nan)
        ok = (Lz >= self.L_min) & (Lz <= self.L_max)
        out[ok] = np.exp(self._spline(np.log(Lz[ok])))
        return out


@lru_cache(maxsize=8)
def _delta_grid(potential: GalaxyPotential):
    """galpy's estimateDeltaStaeckel tabulated on an (R, |z|) grid (natural units)."""
    from galpy.actionAngle import estimateDeltaStaeckel
    from scipy.interpolate import RegularGridInterpolator

    # coarse on purpose: delta varies smoothly, and for SCF-based potentials
    # (McMillan17) each evaluation costs ~50 ms
    R = np.geomspace(0.3, 40.0, 24) / potential.ro
    z = np.concatenate([[0.0], np.geomspace(0.02, 15.0, 11)]) / potential.ro
    RR, ZZ = np.meshgrid(R, z, indexing="ij")
    d = np.asarray(
        estimateDeltaStaeckel(potential.pot, RR.ravel(), ZZ.ravel(), no_median=True, use_physical=False)
    )
    d = d.reshape(RR.shape)
    interp = RegularGridInterpolator((np.log(R), z), d, method="cubic", bounds_error=False, fill_value=None)
    return interp, R[0], R[-1], z[-1]


def staeckel_delta(potential: GalaxyPotential, R, z) -> np.ndarray:
    """Focal length [kpc] per star from a tabulated ``estimateDeltaStaeckel`` at (R, |z|)."""
    interp, rmin, rmax, zmax = _delta_grid(potential)
    Rn = np.clip(np.asarray(R, dtype=float) / potential.ro, rmin, rmax)
    zn = np.clip(np.abs(np.asarray(z, dtype=float)) / potential.ro, 0.0, zmax)
    return interp(np.stack([np.log(Rn), zn], axis=-1)) * potential.ro


def zmax_staeckel(
    potential: GalaxyPotential, R, v_R, v_phi, z, v_z, delta: float | str | None = "tabulated"
) -> tuple[np.ndarray, float | str]:
    """Z_max [kpc] from galpy's Staeckel approximation (``actionAngleStaeckel``).

    Parameters
    ----------
    potential : GalaxyPotential
    R, z : array_like
        Galactocentric cylindrical radius and height [kpc].
    v_R, v_phi, v_z : array_like
        Velocities [km/s], v_phi positive along rotation.
    delta : float, "tabulated", "median" or None
        Focal length of the Staeckel coordinates: a fixed value [kpc];
        ``"tabulated"`` (default; same as None) interpolates galpy's
        ``estimateDeltaStaeckel`` from an (R, |z|) grid at each star's position;
        ``"median"`` uses one value, the sample's median estimate.

    Returns
    -------
    zmax : numpy.ndarray
        Maximum height [kpc]; NaN where the approximation fails (unbound orbits).
    delta_used : float or str
        The fixed focal length [kpc], or ``"tabulated"``.
    """
    from galpy.actionAngle import actionAngleStaeckel, estimateDeltaStaeckel

    ro, vo = potential.ro, potential.vo
    Rk = np.asarray(R, dtype=float)
    zk = np.asarray(z, dtype=float)
    vR, vT, vz = (np.asarray(v, dtype=float) / vo for v in (v_R, v_phi, v_z))
    ok = np.isfinite(Rk) & np.isfinite(zk) & np.isfinite(vR) & np.isfinite(vT) & np.isfinite(vz) & (Rk > 0)
    zmax = np.full(Rk.shape, np.nan)
    if not ok.any():
        return zmax, delta if delta is not None else "tabulated"
    if delta is None or delta == "tabulated":
        delta_nat = staeckel_delta(potential, Rk[ok], zk[ok]) / ro
        used: float | str = "tabulated"
    elif delta == "median":
        idx = np.flatnonzero(ok)
        idx = idx[np.linspace(0, len(idx) - 1, min(len(idx), 2000)).astype(int)]
        delta_nat = float(estimateDeltaStaeckel(potential.pot, Rk[idx] / ro, zk[idx] / ro, use_physical=False))
        used = delta_nat * ro
    else:
        delta_nat = float(delta) / ro
        used = float(delta)
    aA = actionAngleStaeckel(pot=potential.pot, delta=delta_nat, c=True)
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # unbound orbits overflow; they get NaN
        _, zm, _, _ = aA.EccZmaxRperiRap(
            Rk[ok] / ro, vR[ok], vT[ok], zk[ok] / ro, vz[ok], use_physical=False
        )
    zmax[ok] = np.where(np.isfinite(zm), zm * ro, np.nan)
    return zmax, used


def zmax_integrate(potential: GalaxyPotential, R, v_R, v_phi, z, v_z, phi=None, t_gyr: float = 3.0, n_steps: int = 3001):
    """Z_max [kpc] from full orbit integration in galpy (slow; C25's route).

    Same inputs as :func:`zmax_staeckel`; ``phi`` [deg] is optional and ``t_gyr``
    is the integration time [Gyr].
    """
    from galpy.orbit import Orbit
    from galpy.util import conversion

    ro, vo = potential.ro, potential.vo
    R = np.asarray(R, dtype=float)
    phi = np.zeros_like(R) if phi is None else np.deg2rad(np.asarray(phi, dtype=float))
    vxvv = np.stack(
        [R / ro, np.asarray(v_R) / vo, np.asarray(v_phi) / vo, np.asarray(z) / ro, np.asarray(v_z) / vo, phi],
        axis=1,
    )
    orbits = Orbit(vxvv)
    T = t_gyr / conversion.time_in_Gyr(vo, ro)
    orbits.integrate(np.linspace(0.0, T, n_steps), potential.pot, method="dop853_c", progressbar=False)
    return np.asarray(orbits.zmax(use_physical=False)) * ro


def mc_phase_space(
    table: pd.DataFrame,
    galaxy: GalaxyConfig,
    rg_table: RgTable,
    n_mc: int,
    rng: np.random.Generator,
) -> dict[str, np.ndarray]:
    """Monte-Carlo errors of R, z, v_R, v_phi, v_z and R_g for a chunk of stars.

    Distance, proper motions and line-of-sight velocity are drawn from
    independent normals around their values (distance reflected at zero), then
    transformed with the same linear map as :func:`mgar_bayes.frames.icrs_to_galcen`.
    ra/dec are exact. Returns the standard deviations over realisations
    (``R_err``, ``z_err``, ``v_R_err``, ``v_phi_err``, ``v_z_err`` [kpc, km/s],
    ``R_g_err`` [kpc]) and ``R_g_mc_bad``, the fraction of realisations without
    a guiding radius (L_z <= 0).
    """
    A, pos0, vel0 = _matrices(galaxy)
    ra = np.deg2rad(table["ra"].to_numpy(float))
    dec = np.deg2rad(table["dec"].to_numpy(float))
    cra, sra, cdec, sdec = np.cos(ra), np.sin(ra), np.cos(dec), np.sin(dec)
    # rotate the per-star basis once; only magnitudes vary between realisations
    Ar = A @ np.stack([cdec * cra, cdec * sra, sdec])
    Ae = A @ np.stack([-sra, cra, np.zeros_like(ra)])
    An = A @ np.stack([-sdec * cra, -sdec * sra, cdec])
    n = len(table)
    shape = (n, n_mc)

    def draw(col):
        v = table[col].to_numpy(float)[:, None]
        e = table[col + "_err"].to_numpy(float)[:, None]
        return v + e * rng.standard_normal(shape)

    d = np.abs(draw("distance"))
    pmra = draw("pmra")
    pmdec = draw("pmdec")
    rv = draw("rv")
    te = K_MASYR_KPC * d * pmra
    tn = K_MASYR_KPC * d * pmdec
    x = d * Ar[0][:, None] + pos0[0]
    y = d * Ar[1][:, None] + pos0[1]
    z = d * Ar[2][:, None] + pos0[2]
    vx = rv * Ar[0][:, None] + te * Ae[0][:, None] + tn * An[0][:, None] + vel0[0]
    vy = rv * Ar[1][:, None] + te * Ae[1][:, None] + tn * An[1][:, None] + vel0[1]
    vz = rv * Ar[2][:, None] + te * Ae[2][:, None] + tn * An[2][:, None] + vel0[2]
    del d, pmra, pmdec, rv, te, tn
    R = np.hypot(x, y)
    Lz = -(x * vy - y * vx)  # positive along Galactic rotation
    v_R = (x * vx + y * vy) / R
    v_phi = Lz / R
    Rg = rg_table(Lz)
    bad = ~np.isfinite(Rg)
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        # stars whose realisations all lack an R_g get NaN, counted by the R_g cut
        warnings.simplefilter("ignore", RuntimeWarning)
        rg_err = np.nanstd(np.where(bad, np.nan, Rg), axis=1, ddof=1)
    out = {
        "R_err": R.std(axis=1, ddof=1),
        "z_err": z.std(axis=1, ddof=1),
        "v_R_err": v_R.std(axis=1, ddof=1),
        "v_phi_err": v_phi.std(axis=1, ddof=1),
        "v_z_err": vz.std(axis=1, ddof=1),
        "R_g_err": rg_err,
        "R_g_mc_bad": bad.mean(axis=1),
    }
    return out


def _mc_galcen_given(table: pd.DataFrame, rg_table: RgTable, n_mc: int, rng: np.random.Generator):
    """R_g error when the catalogue supplies R, v_phi and their errors itself."""
    n = len(table)
    R = table["R"].to_numpy(float)[:, None] + table["R_err"].to_numpy(float)[:, None] * rng.standard_normal((n, n_mc))
    vphi = table["v_phi"].to_numpy(float)[:, None] + table["v_phi_err"].to_numpy(float)[:, None] * rng.standard_normal((n, n_mc))
    Rg = rg_table(np.abs(R) * vphi)
    bad = ~np.isfinite(Rg)
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        err = np.nanstd(np.where(bad, np.nan, Rg), axis=1, ddof=1)
    return {"R_g_err": err, "R_g_mc_bad": bad.mean(axis=1)}


def compute_orbits(
    table: pd.DataFrame,
    galaxy: GalaxyConfig | None = None,
    orbits: OrbitConfig | None = None,
    *,
    use_catalogue_galcen: bool | None = None,
    progress: bool = False,
) -> tuple[pd.DataFrame, dict]:
    """Galactocentric coordinates, errors, L_z, R_g, R_g_err and Z_max for every star.

    Parameters
    ----------
    table : pandas.DataFrame
        Canonical star table (heliocentric columns, or the Galactocentric ones
        of :data:`mgar_bayes.schema.GALCEN_COLUMNS`).
    galaxy : GalaxyConfig
        Solar parameters and potential.
    orbits : OrbitConfig
        Monte-Carlo and Z_max settings.
    use_catalogue_galcen : bool, optional
        Use the catalogue's own Galactocentric columns; default: when present.
    progress : bool
        Show a progress bar over Monte-Carlo chunks.

    Returns
    -------
    derived : pandas.DataFrame
        Same index as ``table``; columns R, phi, z, v_R, v_phi, v_z and their
        ``*_err``, L_z, R_g, R_g_err, Z_max.
    info : dict
        What was used: potential and units, Staeckel focal length [kpc],
        number of stars without an R_g.
    """
    from .schema import has_galcen

    galaxy = galaxy or GalaxyConfig()
    orbits = orbits or OrbitConfig()
    potential = load_potential(galaxy)
    table_rg = rg_table(galaxy)
    rng = np.random.default_rng(orbits.seed)
    if use_catalogue_galcen is None:
        use_catalogue_galcen = has_galcen(table)
    n = len(table)
    if use_catalogue_galcen:
        cols = ["R", "z", "v_R", "v_phi", "v_z"]
        derived = pd.DataFrame({c: table[c].to_numpy(float) for c in cols}, index=table.index)
        for c in cols:
            derived[c + "_err"] = table[c + "_err"].to_numpy(float)
        derived["phi"] = table["phi"].to_numpy(float) if "phi" in table else np.nan
    else:
        gc = icrs_to_galcen(
            *(table[c].to_numpy(float) for c in ("ra", "dec", "distance", "pmra", "pmdec", "rv")),
            galaxy=galaxy,
        )
        derived = pd.DataFrame({k: gc[k] for k in ("R", "phi", "z", "v_R", "v_phi", "v_z")}, index=table.index)
    derived["L_z"] = derived["R"] * derived["v_phi"]
    derived["R_g"] = table_rg(derived["L_z"].to_numpy())

    # Monte-Carlo errors, chunked to bound memory
    mc_cols: dict[str, list[np.ndarray]] = {}
    starts = range(0, n, orbits.chunk_size)
    it = starts
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(starts, desc="Monte-Carlo errors", unit="chunk", total=len(starts))
    for s in it:
        chunk = table.iloc[s : s + orbits.chunk_size]
        if use_catalogue_galcen:
            res = _mc_galcen_given(chunk, table_rg, orbits.n_mc, rng)
        else:
            res = mc_phase_space(chunk, galaxy, table_rg, orbits.n_mc, rng)
        for k, v in res.items():
            mc_cols.setdefault(k, []).append(v)
    for k, parts in mc_cols.items():
        derived[k] = np.concatenate(parts) if parts else np.array([], dtype=float)

    args = [derived[c].to_numpy() for c in ("R", "v_R", "v_phi", "z", "v_z")]
    if orbits.zmax_method == "staeckel":
        zmax, delta = zmax_staeckel(potential, *args, delta=orbits.staeckel_delta)
    else:
        zmax = zmax_integrate(potential, *args, phi=derived["phi"].to_numpy(), t_gyr=orbits.integrate_time)
        delta = None
    derived["Z_max"] = zmax
    info = {
        "potential": potential.name,
        "ro_kpc": potential.ro,
        "vo_kms": potential.vo,
        "zmax_method": orbits.zmax_method,
        "staeckel_delta": delta,
        "n_mc": orbits.n_mc,
        "n_no_Rg": int((~np.isfinite(derived["R_g"])).sum()),
        "used_catalogue_galcen": bool(use_catalogue_galcen),
    }
    return derived, info
