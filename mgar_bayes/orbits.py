"""Guiding radius R_g, Z_max and Monte-Carlo errors, vectorised over stars.

- R_g is the radius of the circular orbit with the star's L_z in the chosen
  galpy potential. It is read from an interpolated L_z -> R table built from
  galpy's ``vcirc`` (checked against galpy's own ``rl`` in the tests).
- Z_max comes from galpy's ``actionAngleStaeckel`` with one fixed focal length
  (default), or from full orbit integration (C25's route) as a check.
- Errors come from Monte-Carlo realisations of the heliocentric observables
  (C25 App. A, V21 Sect. 2.1.4): the standard deviation over realisations of
  R, z, v_R, v_phi, v_z and R_g. Distances are drawn from V21's two-piece
  Gaussian where the catalogue gives asymmetric errors (V21 Sect. 2.1.1), or
  come from Gaia parallaxes drawn jointly with the proper motions
  (``OrbitConfig.distance_source = "parallax"``); the Gaia correlations are
  used where the table has them (:func:`mc_draws`).
- The Monte-Carlo draws of a star are keyed by its ``source_id`` and the seed
  (:func:`star_keys`, :func:`keyed_normal`): a counter-based generator, so a
  star's errors are the same bit for bit in any catalogue that contains it, in
  any row order, chunking or partitioning, and the relative-error cuts select
  the same stars.

galpy potentials are used in galpy's natural units with each potential's own
length and velocity unit (``ro``, ``vo``): MWPotential2014 is scaled to (R0, v0);
McMillan17 and Irrgang13I keep the ``ro``/``vo`` they carry, unless
``GalaxyConfig.rescale_potential``. Potentials are never mutated
(``use_physical=False`` everywhere, no ``turn_physical_on``).
"""

from __future__ import annotations

import hashlib
import logging
import math
import operator
import warnings
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd

from .config import GalaxyConfig, OrbitConfig
from .frames import K_MASYR_KPC, _matrices, _rotate, icrs_to_galcen
from .schema import GALCEN_COLUMNS

__all__ = [
    "GalaxyPotential",
    "load_potential",
    "RgTable",
    "rg_table",
    "zmax_staeckel",
    "staeckel_delta",
    "zmax_integrate",
    "star_keys",
    "keyed_normal",
    "kinematic_columns",
    "heliocentric_distance",
    "mc_draws",
    "mc_phase_space",
    "compute_orbits",
]

log = logging.getLogger(__name__)

# galpy's SCF potential (McMillan17's bulge and halo) calls numpy with where= but no out=, which
# numpy warns about thousands of times per run; our R_g and Z_max in McMillan17 agree with
# galpy's own routes (tests), and no user can act on the warning
warnings.filterwarnings("ignore", message="'where' used without 'out'", category=UserWarning,
                        module=r"galpy\.potential\.SCFPotential")  # fmt: skip


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


_N_DELTA_MEDIAN = 2000  # stars behind the "median" focal length


def zmax_staeckel(
    potential: GalaxyPotential,
    R,
    v_R,
    v_phi,
    z,
    v_z,
    delta: float | str | None = "tabulated",
    *,
    keys: np.ndarray | None = None,
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
        ``"median"`` uses one value, the median estimate over the sample (all
        stars up to 2000, else 2000 of them chosen by ``keys``, or by the
        phase-space values when no keys are given: never by row position,
        so any permutation of the stars gives the same value).
    keys : numpy.ndarray, optional
        ``uint64`` star keys (:func:`star_keys`), one per star; only used by
        ``delta="median"``.

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
        if len(idx) > _N_DELTA_MEDIAN:
            # evenly spaced in an order that travels with the stars: by key (a hash,
            # so a random subsample), else by phase space (stratified in R)
            by = [a[idx] for a in (vz, vT, vR, zk, Rk)]
            if keys is not None:
                by.append(np.asarray(keys)[idx])
            idx = idx[np.lexsort(by)]
            idx = idx[np.linspace(0, len(idx) - 1, _N_DELTA_MEDIAN).astype(int)]
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


# --- keyed Monte-Carlo draws ---------------------------------------------------
#
# A star's normals are a pure function of (seed, star key, variable, draw index):
# splitmix64's finaliser applied to the star's per-variable base word XOR a
# per-draw-index word. Nothing depends on the row, chunk or partition a star is in.

_U64 = (1 << 64) - 1
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)  # splitmix64 increment (2^64 / golden ratio)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_SH = {k: np.uint64(k) for k in (1, 12, 27, 30, 31, 63)}
_ID_PERSON = b"mgar_bayes.sid"  # blake2b personalisation: star identifiers
_STREAM_PERSON = b"mgar_bayes.mc"  # blake2b personalisation: (seed, variable) words


def _mix64(z: np.ndarray, tmp: np.ndarray | None = None) -> np.ndarray:
    """splitmix64 finaliser of a uint64 array, in place (multiplications wrap mod 2^64)."""
    with np.errstate(over="ignore"):
        tmp = np.right_shift(z, _SH[30], out=tmp)
        z ^= tmp
        z *= _M1
        np.right_shift(z, _SH[27], out=tmp)
        z ^= tmp
        z *= _M2
        np.right_shift(z, _SH[31], out=tmp)
        z ^= tmp
    return z


def _int_word(v: int) -> int:
    if not -(1 << 63) <= v <= _U64:
        raise ValueError(f"integer source_id {v} does not fit in 64 bits")
    return v & _U64  # two's complement: int64 -1 and uint64 2^64-1 are one key


def _integral(x: float) -> int:
    if not (math.isfinite(x) and x == math.floor(x)):
        raise ValueError(f"source_id {x!r} is not an integer; star identifiers must be integers or text")
    return int(x)


def _text_word(b: bytes) -> int:
    return int.from_bytes(hashlib.blake2b(b, digest_size=8, person=_ID_PERSON).digest(), "little")


def star_keys(ids) -> np.ndarray:
    """Stable 64-bit key per star identifier, the same in every process and machine.

    Parameters
    ----------
    ids : array_like
        Star identifiers (``source_id``): integers (any width, signed or
        unsigned; Python, numpy and pandas integers give the same key for the
        same value, so ``42 == np.int64(42)``), floats holding integral values
        (``42.0`` is the integer 42; NaN and non-integral floats raise
        ``ValueError``; a float64 cannot hold every integer above 2^53, so
        large identifiers that went through float are other identifiers), text
        (``str``: its UTF-8 bytes) or ``bytes``; an object array may mix them.

    Returns
    -------
    numpy.ndarray
        ``uint64`` keys, same shape as ``ids``. Integers are mixed with
        splitmix64 (a bijection: distinct integers never share a key); text is
        hashed with BLAKE2b (8-byte digest), so the text ``"42"`` and the
        integer 42 are different stars. Python's ``hash()`` is never used: it
        is salted per process.
    """
    # a list keeps each element's type: numpy would turn [42, "a"] into text "42"
    arr = np.array(ids, dtype=object) if isinstance(ids, list | tuple) else np.asarray(ids)
    shape, flat = arr.shape, arr.reshape(-1)
    kind = flat.dtype.kind
    text = None
    if kind == "i":
        raw = flat.astype(np.int64).view(np.uint64)
    elif kind in "ub":
        raw = flat.astype(np.uint64)
    elif kind == "f":
        x = flat.astype(np.float64)
        bad = ~np.isfinite(x) | (x != np.floor(x)) | (x < -(2.0**63)) | (x >= 2.0**64)
        if bad.any():
            _integral(float(x[bad][0]))  # raises with the offending value
            _int_word(int(x[bad][0]))
        big = x >= 2.0**63
        raw = np.where(big, 0.0, x).astype(np.int64).view(np.uint64)
        raw[big] = x[big].astype(np.uint64)
    elif kind in "US":
        enc = (lambda v: v.encode("utf-8")) if kind == "U" else (lambda v: v)
        return np.array([_text_word(enc(v)) for v in flat.tolist()], dtype=np.uint64).reshape(shape)
    elif kind == "O":
        words, text = [], np.zeros(flat.shape, dtype=bool)
        for i, v in enumerate(flat.tolist()):
            if isinstance(v, str):
                words.append(_text_word(v.encode("utf-8")))
                text[i] = True
            elif isinstance(v, bytes):
                words.append(_text_word(v))
                text[i] = True
            elif isinstance(v, int | np.integer | np.bool_):
                words.append(_int_word(int(v)))
            elif isinstance(v, float | np.floating):
                words.append(_int_word(_integral(float(v))))
            else:
                raise TypeError(f"source_id {v!r} ({type(v).__name__}) is neither an integer nor text")
        raw = np.array(words, dtype=np.uint64)
    else:
        raise TypeError(f"source_id of dtype {flat.dtype} is neither integer nor text")
    with np.errstate(over="ignore"):
        keys = _mix64(raw + _GOLDEN)  # splitmix64's first output for the integer
    if text is not None:
        keys[text] = raw[text]  # BLAKE2b words are already well mixed
    return keys.reshape(shape)


def _stream_word(seed, stream: str) -> np.uint64:
    """64-bit word of (seed, variable name)."""
    try:
        s = operator.index(seed)
    except TypeError:
        raise TypeError(
            f"seed must be an integer (OrbitConfig.seed), got {type(seed).__name__}; "
            "the Monte-Carlo draws are keyed by (seed, source_id), not by a Generator"
        ) from None
    data = (s & _U64).to_bytes(8, "little") + stream.encode("utf-8")
    digest = hashlib.blake2b(data, digest_size=8, person=_STREAM_PERSON).digest()
    return np.uint64(int.from_bytes(digest, "little"))


def keyed_normal(keys, seed: int, stream: str, n_draws: int) -> np.ndarray:
    """Standard normals keyed by (seed, star key, variable, draw index), vectorised.

    Counter-based: draw ``j`` of star ``k`` for variable ``stream`` is a pure
    function of ``(seed, keys[k], stream, j)``, so permuting ``keys`` permutes
    the rows exactly, a star's draws do not depend on the other stars, and the
    first ``m`` draws are the same for any ``n_draws >= m``.

    Parameters
    ----------
    keys : numpy.ndarray
        ``uint64`` star keys from :func:`star_keys`, shape ``(n,)``.
    seed : int
        Seed (``OrbitConfig.seed``); taken modulo 2^64.
    stream : str
        Name of the random variable (e.g. ``"distance"``, ``"pmra"``); each
        name is an independent stream.
    n_draws : int
        Draws per star.

    Returns
    -------
    numpy.ndarray
        ``(n, n_draws)`` float64 standard normals. A 64-bit splitmix64 output
        gives a sign bit and 52 bits ``k`` of ``u = (k + 1/2) 2^-53`` in
        (0, 1/2), and the normal is ``+-ndtri(u)``: exactly the inverse CDF of
        the 53-bit midpoint grid on (0, 1), symmetric, with ``|x| < 8.3``.
    """
    from scipy.special import ndtri

    keys = np.asarray(keys)
    if keys.dtype != np.uint64 or keys.ndim != 1:
        raise TypeError(f"keys must be a 1-d uint64 array from star_keys, got {keys.dtype}, shape {keys.shape}")
    n_draws = operator.index(n_draws)
    with np.errstate(over="ignore"):
        base = _mix64(keys ^ _stream_word(seed, stream))  # per star and variable
        ctr = _mix64((np.arange(n_draws, dtype=np.uint64) + np.uint64(1)) * _GOLDEN)  # per draw index
        z = base[:, None] ^ ctr[None, :]
        tmp = np.empty_like(z)
        _mix64(z, tmp)
        sign = np.bitwise_and(z, _SH[1], out=tmp)
        sign <<= _SH[63]  # lowest bit -> float64 sign bit
        z >>= _SH[12]
    u = z.view(np.float64)  # reuse the buffer: k < 2^52, so k + 1/2 and the scaling are exact
    np.add(z.view(np.int64), 0.5, out=u, casting="unsafe")
    u *= 2.0**-53
    ndtri(u, out=u)  # < 0 for u < 1/2
    u.view(np.uint64)[...] ^= sign  # flipping the sign bit is exact and cheaper than a masked negate
    return u


def _keys_of(table: pd.DataFrame, keys) -> np.ndarray:
    """Star keys of ``table``: given, or from its ``source_id`` column."""
    if keys is None:
        if "source_id" not in table.columns:
            raise ValueError(
                "the Monte-Carlo errors need a 'source_id' column: each star's draws are keyed "
                "by its identifier and the seed, so that they do not depend on row order"
            )
        return star_keys(table["source_id"])
    keys = np.asarray(keys)
    if keys.dtype != np.uint64 or keys.shape != (len(table),):
        raise ValueError(f"keys must be {len(table)} uint64 star keys, got {keys.dtype}, shape {keys.shape}")
    return keys


DISTANCE_SOURCES = ("distance", "parallax")
# distance_source -> the columns that give the distance and its uncertainty
_DISTANCE_COLUMNS = {"distance": ("distance", "distance_err"), "parallax": ("parallax", "parallax_err")}
# 1 - rho^2 - ... below this is a correlation matrix that is not positive semi-definite
# beyond the rounding of Gaia's float32 correlations
_PSD_TOL = 1e-6


def kinematic_columns(orbits: OrbitConfig | None = None) -> tuple[str, ...]:
    """Columns the orbit stage needs for a configuration (all must be finite for a star).

    Parameters
    ----------
    orbits : OrbitConfig, optional
        ``"galcen"`` in ``catalogue_columns`` takes the catalogue's own
        Galactocentric coordinates; otherwise ``distance_source`` says whether
        the distance comes from ``distance`` or from ``parallax``.

    Returns
    -------
    tuple of str
        ``ra, dec``, ``distance, distance_err`` or ``parallax, parallax_err``,
        ``pmra, pmra_err, pmdec, pmdec_err, rv, rv_err``; or ``R, z, v_R,
        v_phi, v_z`` and their errors for the catalogue's Galactocentric
        coordinates. The optional ``distance_err_lo``, ``distance_err_hi`` and
        Gaia correlation columns are not listed: a star without them uses the
        symmetric ``distance_err`` and zero correlation.
    """
    orbits = orbits or OrbitConfig()
    if "galcen" in orbits.catalogue_columns:
        return tuple(c.name for c in GALCEN_COLUMNS if c.name != "phi")
    return _heliocentric_columns(orbits.distance_source)


def _heliocentric_columns(distance_source: str) -> tuple[str, ...]:
    return ("ra", "dec", *_DISTANCE_COLUMNS[distance_source],
            "pmra", "pmra_err", "pmdec", "pmdec_err", "rv", "rv_err")  # fmt: skip


def _parallax_corrected(table: pd.DataFrame, zero_point: float) -> np.ndarray:
    """Parallax minus the zero point [mas] (Gaia's parallaxes are too small by about 0.017 mas)."""
    return table["parallax"].to_numpy(float) - float(zero_point)


def heliocentric_distance(table: pd.DataFrame, orbits: OrbitConfig | None = None) -> np.ndarray:
    """Central heliocentric distance [kpc] of each star for ``orbits.distance_source``.

    Parameters
    ----------
    table : pandas.DataFrame
        ``distance`` [kpc], or ``parallax`` [mas] for ``distance_source =
        "parallax"``.
    orbits : OrbitConfig, optional
        ``distance_source`` and ``parallax_zero_point`` [mas].

    Returns
    -------
    numpy.ndarray
        The ``distance`` column as it is; or ``1 / (parallax -
        parallax_zero_point)`` [kpc for mas], NaN where the corrected parallax
        is not > 0 (no distance: such stars must be cut before the orbits).
    """
    orbits = orbits or OrbitConfig()
    if orbits.distance_source == "distance":
        return table["distance"].to_numpy(float).copy()
    plx = _parallax_corrected(table, orbits.parallax_zero_point)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(plx > 0, 1.0 / plx, np.nan)


def _optional(table: pd.DataFrame, col: str) -> np.ndarray | None:
    """An optional column as float, or None when absent."""
    return table[col].to_numpy(float) if col in table.columns else None


def _correlation(table: pd.DataFrame, col: str) -> np.ndarray:
    """A Gaia correlation coefficient per star; 0 where absent or NaN (no covariance known)."""
    rho = _optional(table, col)
    if rho is None:
        return np.zeros(len(table))
    return np.clip(np.where(np.isfinite(rho), rho, 0.0), -1.0, 1.0)


def _two_piece_width(table: pd.DataFrame, z: np.ndarray) -> np.ndarray:
    """Width [kpc] each distance draw is scaled by: V21's two-piece Gaussian where known.

    ``z`` are the standard normals of the draws, shape (n, n_mc). A star with
    finite ``distance_err_lo`` and ``distance_err_hi`` gets ``distance_err_lo``
    for ``z < 0`` and ``distance_err_hi`` for ``z >= 0`` (half the mass on each
    side of the catalogue median); any other star its ``distance_err``.
    """
    sd = table["distance_err"].to_numpy(float)
    lo, hi = _optional(table, "distance_err_lo"), _optional(table, "distance_err_hi")
    if lo is None or hi is None:
        return sd[:, None]
    both = np.isfinite(lo) & np.isfinite(hi)
    lo = np.where(both, lo, sd)
    hi = np.where(both, hi, sd)
    return np.where(z < 0, lo[:, None], hi[:, None])


def mc_draws(
    table: pd.DataFrame,
    n_mc: int,
    seed: int,
    *,
    keys: np.ndarray | None = None,
    distance_source: str = "distance",
    parallax_zero_point: float = 0.0,
) -> dict[str, np.ndarray]:
    """Monte-Carlo realisations of the heliocentric observables of each star.

    Every variable is built from keyed standard normals (:func:`keyed_normal`,
    streams ``"distance"`` or ``"parallax"``, ``"pmra"``, ``"pmdec"``,
    ``"rv"``) with per-star, element-wise arithmetic, so a star's realisations
    depend only on its key and ``seed``.

    - ``distance_source="distance"``: distance from the catalogue median and
      ``distance_err``, or V21's two-piece Gaussian where ``distance_err_lo``
      and ``distance_err_hi`` are finite (half the mass on each side of the
      median, ``d = d_med + s z`` with ``s = distance_err_lo`` for ``z < 0``
      and ``distance_err_hi`` for ``z >= 0``). Negative draws are reflected,
      ``|d|``, as before the two-piece Gaussian (they need ``z < -d /
      distance_err_lo``: rare unless the lower error is a large fraction of
      the distance). pmra and pmdec are a bivariate normal with
      correlation ``pmra_pmdec_corr`` (Cholesky: ``pmdec = mu + sigma (rho z1 +
      sqrt(1 - rho^2) z2)``, ``z1`` the pmra normal).
    - ``distance_source="parallax"``: (parallax, pmra, pmdec) are a trivariate
      normal with the Gaia correlations ``parallax_pmra_corr``,
      ``parallax_pmdec_corr``, ``pmra_pmdec_corr``, centred on ``parallax -
      parallax_zero_point``; distance = 1 / parallax [kpc for mas]. A draw with
      parallax <= 0 has no distance: that realisation is NaN, not reflected.

    A correlation column that is absent, or NaN for a star, counts as 0.

    Parameters
    ----------
    table : pandas.DataFrame
        The columns of :func:`kinematic_columns` (without ra, dec), optional
        ``distance_err_lo``, ``distance_err_hi`` [kpc] and correlation
        columns, and ``source_id`` unless ``keys`` is given.
    n_mc : int
        Realisations per star.
    seed : int
        Seed of the draws (``OrbitConfig.seed``).
    keys : numpy.ndarray, optional
        ``uint64`` star keys (:func:`star_keys`); default: from ``source_id``.
    distance_source : {"distance", "parallax"}
        Where the distance comes from (``OrbitConfig.distance_source``).
    parallax_zero_point : float
        Subtracted from the parallaxes [mas] (``OrbitConfig.parallax_zero_point``).

    Returns
    -------
    dict of numpy.ndarray
        Shape (n, n_mc): ``distance`` [kpc], ``pmra``, ``pmdec`` [mas/yr],
        ``rv`` [km/s], and for the parallax route ``parallax`` [mas] (the
        corrected parallax drawn).

    Raises
    ------
    ValueError
        Unknown ``distance_source``, or Gaia correlations of a star that form no
        correlation matrix (not positive semi-definite).
    """
    if distance_source not in DISTANCE_SOURCES:
        raise ValueError(f"distance_source must be one of {DISTANCE_SOURCES}, got {distance_source!r}")
    keys = _keys_of(table, keys)

    def col(c):
        return table[c].to_numpy(float)[:, None]

    z_a = keyed_normal(keys, seed, "pmra", n_mc)
    z_d = keyed_normal(keys, seed, "pmdec", n_mc)
    out: dict[str, np.ndarray] = {}
    r_ad = _correlation(table, "pmra_pmdec_corr")
    if distance_source == "parallax":
        z_p = keyed_normal(keys, seed, "parallax", n_mc)
        r_pa = _correlation(table, "parallax_pmra_corr")
        r_pd = _correlation(table, "parallax_pmdec_corr")
        # Cholesky factor of the (parallax, pmra, pmdec) correlation matrix, per star, in closed
        # form: a batched linear-algebra routine could make a star's bits depend on its batch
        l22 = np.sqrt(np.maximum(1.0 - r_pa**2, 0.0))
        with np.errstate(divide="ignore", invalid="ignore"):
            l32 = np.where(l22 > 0, (r_ad - r_pa * r_pd) / l22, 0.0)
        l33sq = 1.0 - r_pd**2 - l32**2
        bad = l33sq < -_PSD_TOL
        if bad.any():
            rows = ", ".join(map(str, table.index[bad][:5]))
            raise ValueError(
                f"{int(bad.sum())} star(s) (rows {rows}) have Gaia correlations (parallax_pmra_corr, "
                "parallax_pmdec_corr, pmra_pmdec_corr) that form no correlation matrix"
            )
        l33 = np.sqrt(np.maximum(l33sq, 0.0))
        plx = z_p * table["parallax_err"].to_numpy(float)[:, None]
        plx += _parallax_corrected(table, parallax_zero_point)[:, None]
        pmra = (r_pa[:, None] * z_p + l22[:, None] * z_a) * col("pmra_err") + col("pmra")
        pmdec = (r_pd[:, None] * z_p + l32[:, None] * z_a + l33[:, None] * z_d) * col("pmdec_err") + col("pmdec")
        del z_p
        with np.errstate(divide="ignore", invalid="ignore"):
            d = np.where(plx > 0, 1.0 / plx, np.nan)
        out["parallax"] = plx
    else:
        z = keyed_normal(keys, seed, "distance", n_mc)
        d = z * _two_piece_width(table, z)
        d += col("distance")
        np.abs(d, out=d)
        del z
        pmra = z_a * col("pmra_err")
        pmra += col("pmra")
        # rho = 0 gives 0 * z1 + 1 * z2 = z2 exactly: uncorrelated stars keep the independent draws
        pmdec = (r_ad[:, None] * z_a + np.sqrt(1.0 - r_ad**2)[:, None] * z_d) * col("pmdec_err")
        pmdec += col("pmdec")
    del z_a, z_d
    rv = keyed_normal(keys, seed, "rv", n_mc)
    rv *= col("rv_err")
    rv += col("rv")
    out.update(distance=d, pmra=pmra, pmdec=pmdec, rv=rv)
    return out


def _sd(x: np.ndarray, *, always_nan: bool = False) -> np.ndarray:
    """Sample standard deviation per row (ddof 1) over the finite realisations.

    NaN realisations (parallax <= 0, no R_g) are left out; a row with fewer
    than two finite values gives NaN. A row without NaN takes ``numpy.std``
    unless ``always_nan``; the choice is made per row (``nanstd``'s last bits
    may differ from ``std``'s, and a star's error must not depend on the other
    stars of its chunk).
    """
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        if always_nan:
            return np.nanstd(x, axis=1, ddof=1)
        out = x.std(axis=1, ddof=1)
        gaps = ~np.isfinite(x).all(axis=1)
        if gaps.any():
            out[gaps] = np.nanstd(x[gaps], axis=1, ddof=1)
    return out


def mc_phase_space(
    table: pd.DataFrame,
    galaxy: GalaxyConfig,
    rg_table: RgTable,
    n_mc: int,
    seed: int,
    *,
    keys: np.ndarray | None = None,
    distance_source: str = "distance",
    parallax_zero_point: float = 0.0,
) -> dict[str, np.ndarray]:
    """Monte-Carlo errors of R, z, v_R, v_phi, v_z and R_g for a chunk of stars.

    Distance [kpc] (or parallax [mas]), proper motions [mas/yr] and
    line-of-sight velocity [km/s] are drawn as in :func:`mc_draws`, then
    transformed with the same linear map as
    :func:`mgar_bayes.frames.icrs_to_galcen`. ra/dec are exact.

    Parameters
    ----------
    table : pandas.DataFrame
        Heliocentric columns and their ``*_err`` (see :func:`mc_draws`), and
        ``source_id`` unless ``keys`` is given.
    galaxy : GalaxyConfig
        Solar parameters.
    rg_table : RgTable
        L_z -> R_g relation.
    n_mc : int
        Realisations per star.
    seed : int
        Seed of the draws (``OrbitConfig.seed``).
    keys : numpy.ndarray, optional
        ``uint64`` star keys (:func:`star_keys`), one per row; default: from
        ``table["source_id"]``. Each star's draws depend only on its key and
        ``seed`` (:func:`keyed_normal`, one stream per observable).
    distance_source : {"distance", "parallax"}
        Distances from the ``distance`` column or from ``parallax``.
    parallax_zero_point : float
        Subtracted from the parallaxes [mas].

    Returns
    -------
    dict of numpy.ndarray
        Standard deviations over realisations, ``R_err``, ``z_err`` [kpc],
        ``v_R_err``, ``v_phi_err``, ``v_z_err`` [km/s], ``R_g_err`` [kpc], and
        ``R_g_mc_bad``, the fraction of realisations without a guiding radius
        (L_z <= 0, or no distance). The parallax route adds
        ``parallax_mc_bad``, the fraction of realisations with parallax <= 0;
        they are NaN, counted in ``R_g_mc_bad`` too, and left out of every
        standard deviation.
    """
    keys = _keys_of(table, keys)
    A, pos0, vel0 = _matrices(galaxy)
    ra = np.deg2rad(table["ra"].to_numpy(float))
    dec = np.deg2rad(table["dec"].to_numpy(float))
    cra, sra, cdec, sdec = np.cos(ra), np.sin(ra), np.cos(dec), np.sin(dec)
    # rotate the per-star basis once; only magnitudes vary between realisations
    Ar = _rotate(A, cdec * cra, cdec * sra, sdec)
    Ae = _rotate(A, -sra, cra, np.zeros_like(ra))
    An = _rotate(A, -sdec * cra, -sdec * sra, cdec)

    draws = mc_draws(table, n_mc, seed, keys=keys, distance_source=distance_source,
                     parallax_zero_point=parallax_zero_point)  # fmt: skip
    d, pmra, pmdec, rv = (draws.pop(k) for k in ("distance", "pmra", "pmdec", "rv"))
    plx = draws.pop("parallax", None)
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
    # stars whose realisations all lack an R_g get NaN, counted by the R_g cut
    out = {
        "R_err": _sd(R),
        "z_err": _sd(z),
        "v_R_err": _sd(v_R),
        "v_phi_err": _sd(v_phi),
        "v_z_err": _sd(vz),
        "R_g_err": _sd(np.where(bad, np.nan, Rg), always_nan=True),
        "R_g_mc_bad": bad.mean(axis=1),
    }
    if plx is not None:
        out["parallax_mc_bad"] = (~(plx > 0)).mean(axis=1)
    return out


def _mc_galcen_given(
    table: pd.DataFrame, rg_table: RgTable, n_mc: int, seed: int, *, keys: np.ndarray | None = None
) -> dict[str, np.ndarray]:
    """R_g error [kpc] when the catalogue supplies R, v_phi and their errors itself.

    R [kpc] and v_phi [km/s] are drawn around their values (streams ``"R"`` and
    ``"v_phi"`` of :func:`keyed_normal`, keyed as in :func:`mc_phase_space`);
    returns ``R_g_err`` and ``R_g_mc_bad``.
    """
    keys = _keys_of(table, keys)
    R = keyed_normal(keys, seed, "R", n_mc)
    R *= table["R_err"].to_numpy(float)[:, None]
    R += table["R"].to_numpy(float)[:, None]
    vphi = keyed_normal(keys, seed, "v_phi", n_mc)
    vphi *= table["v_phi_err"].to_numpy(float)[:, None]
    vphi += table["v_phi"].to_numpy(float)[:, None]
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
        of :data:`mgar_bayes.schema.GALCEN_COLUMNS`) with ``source_id``.
    galaxy : GalaxyConfig
        Solar parameters and potential.
    orbits : OrbitConfig
        Monte-Carlo and Z_max settings. The draws of a star depend only on its
        ``source_id`` and ``orbits.seed`` (:func:`keyed_normal`), so its errors
        do not change with row order, ``chunk_size`` (memory only) or the
        other stars in the table. ``distance_source`` picks the distance
        (:func:`heliocentric_distance`, :func:`mc_draws`); it is ignored with
        the catalogue's Galactocentric coordinates.
    use_catalogue_galcen : bool, optional
        Use the catalogue's own Galactocentric columns; default: when present.
    progress : bool
        Show a progress bar over Monte-Carlo chunks.

    Returns
    -------
    derived : pandas.DataFrame
        Same index as ``table``; columns R, phi, z, v_R, v_phi, v_z and their
        ``*_err``, L_z, R_g, R_g_err, R_g_mc_bad, Z_max. With
        ``distance_source = "parallax"`` also ``distance_from_parallax``
        [kpc], the central distance 1 / (parallax - zero point) (NaN where
        that is not > 0), and ``parallax_mc_bad``, the fraction of
        realisations with parallax <= 0.
    info : dict
        What was used: potential and units, Staeckel focal length [kpc],
        number of stars without an R_g, distance source and parallax zero
        point [mas].

    Raises
    ------
    ValueError
        A heliocentric column of :func:`kinematic_columns` is missing, or a
        ``source_id`` is no identifier.
    """
    from .schema import has_galcen

    galaxy = galaxy or GalaxyConfig()
    orbits = orbits or OrbitConfig()
    potential = load_potential(galaxy)
    table_rg = rg_table(galaxy)
    keys = _keys_of(table, None)  # before any work: a bad source_id fails fast
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
        need = _heliocentric_columns(orbits.distance_source)
        missing = [c for c in need if c not in table.columns]
        if missing:
            raise ValueError(
                f"the orbits need column(s) {missing} for distance_source = {orbits.distance_source!r}; "
                f"present: {sorted(map(str, table.columns))}"
            )
        dist = heliocentric_distance(table, orbits)
        gc = icrs_to_galcen(
            table["ra"].to_numpy(float), table["dec"].to_numpy(float), dist,
            *(table[c].to_numpy(float) for c in ("pmra", "pmdec", "rv")),
            galaxy=galaxy,
        )  # fmt: skip
        derived = pd.DataFrame({k: gc[k] for k in ("R", "phi", "z", "v_R", "v_phi", "v_z")}, index=table.index)
        if orbits.distance_source == "parallax":
            derived["distance_from_parallax"] = dist
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
        ck = keys[s : s + orbits.chunk_size]
        if use_catalogue_galcen:
            res = _mc_galcen_given(chunk, table_rg, orbits.n_mc, orbits.seed, keys=ck)
        else:
            res = mc_phase_space(chunk, galaxy, table_rg, orbits.n_mc, orbits.seed, keys=ck,
                                 distance_source=orbits.distance_source,
                                 parallax_zero_point=orbits.parallax_zero_point)  # fmt: skip
        for k, v in res.items():
            mc_cols.setdefault(k, []).append(v)
    for k, parts in mc_cols.items():
        derived[k] = np.concatenate(parts) if parts else np.array([], dtype=float)

    args = [derived[c].to_numpy() for c in ("R", "v_R", "v_phi", "z", "v_z")]
    if orbits.zmax_method == "staeckel":
        zmax, delta = zmax_staeckel(potential, *args, delta=orbits.staeckel_delta, keys=keys)
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
        "distance_source": None if use_catalogue_galcen else orbits.distance_source,
        "parallax_zero_point_mas": (
            orbits.parallax_zero_point if not use_catalogue_galcen and orbits.distance_source == "parallax" else None
        ),
    }
    return derived, info
