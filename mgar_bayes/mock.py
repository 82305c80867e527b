"""A simulated Milky Way giant catalogue with a known MGAR.

The model, per star of each component (thin disk, thick disk, a little halo):

1. **Age** tau from the component's star-formation history.
2. **Birth radius** R_b ~ N(mu_b(tau), s_b) (inside-out: older stars born further
   in) and **birth metallicity** [Fe/H] = a(tau) + g_b(tau) (R_b - R0) + N(0, sigma_b):
   the birth gradient g_b evolves with age.
3. **Churning**: the guiding radius R_g = R_b + N(0, s_c(tau)), with s_c growing
   as sqrt(tau). Because R_b and R_g are jointly normal, [Fe/H] stays *linear*
   in R_g with present-day gradient g(tau) = g_b(tau) s_b^2 / (s_b^2 + s_c^2):
   churning flattens the gradient of old stars by a known amount.
4. **Blurring**: epicyclic radial and vertical oscillations about R_g with
   dispersions sigma_R(tau), sigma_z(tau) growing with age, in the chosen galpy
   potential (L_z = R_g vc(R_g) conserved, so R_g is exactly the pipeline's R_g).
5. Stars are placed around the Sun, kept inside a distance-limited, LAMOST-like
   footprint (dec > -10 deg), and observed with LAMOST/Gaia-like errors.

The truth is written beside the catalogue: per component and age bin the
present-day gradient in R_g, both analytic (item 3, averaged over the bin's true
ages) and measured by OLS on the noise-free values of the simulated stars.
"""

from __future__ import annotations

import dataclasses
import json
import numbers
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .atomic import atomic_write_text, write_frame
from .binning import AgeBins
from .config import BinningConfig, GalaxyConfig, config_hash
from .frames import galcen_to_icrs
from .ols import wls_line
from .orbits import load_potential

__all__ = [
    "DiskComponent",
    "MockConfig",
    "MockCatalogue",
    "generate_mock",
    "load_mock",
    "default_mock",
    "mock_cache_dir",
]


@dataclass(frozen=True)
class DiskComponent:
    """Chemo-dynamical recipe of one disk component (all linear in age tau [Gyr]).

    Parameters
    ----------
    age_mean, age_sd : float
        Age distribution: uniform on [age_min, age_max] when ``age_sd`` is None,
        else N(age_mean, age_sd) clipped to that range [Gyr].
    age_min, age_max : float
        Age range [Gyr].
    young_fraction : float
        Fraction drawn uniform on [age_min, age_mean] on top (young thick-disk stars).
    rb_mean0, rb_mean_slope : float
        Mean birth radius mu_b = rb_mean0 + rb_mean_slope * tau [kpc, kpc/Gyr].
    rb_sd : float
        Birth-radius spread s_b [kpc].
    churn_amp : float
        Churning s_c = churn_amp * sqrt(tau / 10 Gyr) [kpc].
    feh0, feh_age_slope : float
        a(tau) = feh0 + feh_age_slope * tau: [Fe/H] at R0 at birth [dex, dex/Gyr].
    grad0, grad_age_slope : float
        Birth gradient g_b = grad0 + grad_age_slope * tau [dex/kpc, dex/kpc/Gyr].
    feh_scatter : float
        Intrinsic scatter of birth [Fe/H] at fixed R_b [dex].
    afe0, afe_feh_slope, afe_scatter : float
        [alpha/Fe] = afe0 + afe_feh_slope * [Fe/H] + N(0, afe_scatter) [dex].
    sigR10, sigz10, sig_beta_R, sig_beta_z : float
        sigma_R,z(tau) = sig10 * ((tau + 0.1) / 10.1)^beta [km/s].
    """

    age_mean: float = 6.0
    age_sd: float | None = None
    age_min: float = 0.2
    age_max: float = 12.5
    young_fraction: float = 0.0
    rb_mean0: float = 8.0
    rb_mean_slope: float = -0.15
    rb_sd: float = 2.5
    churn_amp: float = 2.5
    feh0: float = 0.10
    feh_age_slope: float = -0.025
    grad0: float = -0.075
    grad_age_slope: float = 0.0015
    feh_scatter: float = 0.05
    afe0: float = 0.03
    afe_feh_slope: float = -0.08
    afe_scatter: float = 0.02
    sigR10: float = 38.0
    sigz10: float = 22.0
    sig_beta_R: float = 0.33
    sig_beta_z: float = 0.5

    def birth_gradient(self, tau):
        return self.grad0 + self.grad_age_slope * np.asarray(tau, dtype=float)

    def churn_sd(self, tau):
        return self.churn_amp * np.sqrt(np.asarray(tau, dtype=float) / 10.0)

    def present_gradient(self, tau):
        """Analytic present-day d[Fe/H]/dR_g at age tau [dex/kpc] (no truncation)."""
        sb2 = self.rb_sd**2
        return self.birth_gradient(tau) * sb2 / (sb2 + self.churn_sd(tau) ** 2)


THIN = DiskComponent()
THICK = DiskComponent(
    age_mean=10.5,
    age_sd=1.3,
    age_min=2.0,
    age_max=13.0,
    young_fraction=0.08,
    rb_mean0=5.0,
    rb_mean_slope=0.0,
    rb_sd=2.0,
    churn_amp=1.0,
    feh0=-0.05,
    feh_age_slope=-0.05,
    grad0=0.015,
    grad_age_slope=0.0,
    feh_scatter=0.10,
    afe0=0.20,
    afe_feh_slope=-0.06,
    afe_scatter=0.025,
    sigR10=65.0,
    sigz10=58.0,
    sig_beta_R=0.1,
    sig_beta_z=0.1,
)


@dataclass(frozen=True)
class MockConfig:
    """Settings of the simulated catalogue.

    Parameters
    ----------
    n_stars : int
        Stars in the observed catalogue (inside the footprint).
    seed : int
        Seed of every random step.
    fractions : tuple of float
        Thin, thick, halo fractions (sum to 1).
    d_min, d_max : float
        Heliocentric distance range of the footprint [kpc].
    dec_min : float
        Footprint's southern limit [deg] (LAMOST: about -10).
    galaxy : GalaxyConfig
        Potential and solar parameters the stars are placed and observed with.
    thin, thick : DiskComponent
        Recipes of the two disks.
    dist_frac_err : tuple of float
        Range of fractional distance errors.
    age_frac_err : tuple of float
        Range of fractional age errors (the C25 cut is 0.30).
    """

    n_stars: int = 150_000
    seed: int = 2025
    fractions: tuple[float, float, float] = (0.66, 0.31, 0.03)
    d_min: float = 0.2
    d_max: float = 4.0
    dec_min: float = -10.0
    galaxy: GalaxyConfig = field(default_factory=GalaxyConfig)
    thin: DiskComponent = THIN
    thick: DiskComponent = THICK
    dist_frac_err: tuple[float, float] = (0.05, 0.15)
    pm_err: tuple[float, float] = (0.015, 0.05)
    rv_err: tuple[float, float] = (1.5, 5.0)
    feh_err: tuple[float, float] = (0.025, 0.06)
    afe_err: tuple[float, float] = (0.015, 0.04)
    age_frac_err: tuple[float, float] = (0.10, 0.38)
    bad_flag_fraction: float = 0.02
    rc_fraction: float = 0.3

    def __post_init__(self):
        n = self.n_stars
        if isinstance(n, bool | np.bool_) or not isinstance(n, numbers.Integral):
            raise ValueError(f"n_stars must be a whole number, got {n!r}; e.g. n_stars = 150000")
        object.__setattr__(self, "n_stars", int(n))
        if self.n_stars < 1:
            raise ValueError(f"n_stars must be >= 1, got {self.n_stars}")
        if not np.isclose(sum(self.fractions), 1.0) or min(self.fractions) < 0:
            raise ValueError(f"fractions must be >= 0 and sum to 1, got {self.fractions}")
        if not 0 <= self.d_min < self.d_max:
            raise ValueError(f"need 0 <= d_min < d_max, got {self.d_min}, {self.d_max}")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclass
class MockCatalogue:
    """A simulated catalogue and its truth.

    Attributes
    ----------
    stars : pandas.DataFrame
        Canonical star table (what a survey would give).
    truth_stars : pandas.DataFrame
        Noise-free values per star: ``source_id, component, age_true, R_b,
        R_g_true, feh_true, afe_true`` plus true phase-space coordinates.
    truth : pandas.DataFrame
        Per component and age bin: ``population, age_lo, age_hi, age_center,
        n_true, gradient_true`` (OLS on noise-free values of all simulated
        stars of the component with true age in the bin) and
        ``gradient_analytic`` (the model's expectation averaged over the bin).
    config : MockConfig
    """

    stars: pd.DataFrame
    truth_stars: pd.DataFrame
    truth: pd.DataFrame
    config: MockConfig

    def truth_summary(self) -> dict:
        """True flattening rate and mean gradient per component (lines through ``truth``)."""
        out = {}
        for pop, g in self.truth.groupby("population", sort=False):
            g = g[np.isfinite(g["gradient_true"])]
            x, y = g["age_center"].to_numpy(), g["gradient_true"].to_numpy()
            slope, icpt = np.polyfit(x, y, 1) if len(g) >= 2 else (np.nan, np.nan)
            comp = getattr(self.config, pop)
            ya = g["gradient_analytic"].to_numpy()
            out[pop] = {
                "rate_true": float(slope),
                "intercept_true": float(icpt),
                "rate_analytic": float(np.polyfit(x, ya, 1)[0]) if len(g) >= 2 else np.nan,
                "mean_gradient_true": float(np.mean(y)) if len(y) else np.nan,
                "feh_scatter_birth": comp.feh_scatter,
            }
        return out

    def save(self, directory: str | Path, *, overwrite: bool = False) -> Path:
        """Write ``catalogue.parquet``, ``truth_stars.parquet``, ``truth_bins.csv``, ``truth.json``."""
        d = Path(directory)
        files = ["catalogue.parquet", "truth_stars.parquet", "truth_bins.csv", "truth.json"]
        existing = [f for f in files if (d / f).exists()]
        if existing and not overwrite:
            raise FileExistsError(
                f"{d} already holds {existing}; choose another --out or pass --overwrite "
                "(overwrite=True in Python)"
            )
        d.mkdir(parents=True, exist_ok=True)
        # each file atomically, truth.json last: its presence marks a complete catalogue
        write_frame(self.stars, d / "catalogue.parquet")
        write_frame(self.truth_stars, d / "truth_stars.parquet")
        write_frame(self.truth, d / "truth_bins.csv")
        meta = {
            "config": self.config.to_dict(),
            "config_hash": config_hash(self.config),
            "recipe_version": RECIPE_VERSION,
            "summary": self.truth_summary(),
        }
        atomic_write_text(d / "truth.json", json.dumps(meta, indent=2, default=float))
        return d


def load_mock(directory: str | Path) -> MockCatalogue:
    """Read a catalogue written by :meth:`MockCatalogue.save`."""
    d = Path(directory)
    meta = json.loads((d / "truth.json").read_text())
    cfg = meta["config"]
    cfg["galaxy"] = GalaxyConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in cfg["galaxy"].items()})
    cfg["thin"] = DiskComponent(**cfg["thin"])
    cfg["thick"] = DiskComponent(**cfg["thick"])
    cfg = MockConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in cfg.items()})
    return MockCatalogue(
        stars=pd.read_parquet(d / "catalogue.parquet"),
        truth_stars=pd.read_parquet(d / "truth_stars.parquet"),
        truth=pd.read_csv(d / "truth_bins.csv"),
        config=cfg,
    )


# Bumped whenever the simulation recipe changes in code, so cached catalogues of
# an older recipe are never re-used.
RECIPE_VERSION = 2


class _Frequencies:
    """vc, kappa, nu of the potential on a radial grid, interpolated (vectorised)."""

    def __init__(self, galaxy: GalaxyConfig):
        from galpy.potential import epifreq, vcirc, verticalfreq

        pot = load_potential(galaxy)
        R = np.geomspace(0.3, 40.0, 300)
        Rn = R / pot.ro
        self.R = R
        self.vc = np.asarray(vcirc(pot.pot, Rn, use_physical=False)) * pot.vo  # km/s
        to_kms_kpc = pot.vo / pot.ro
        self.kappa = np.asarray(epifreq(pot.pot, Rn, use_physical=False)) * to_kms_kpc  # km/s/kpc
        self.nu = np.asarray(verticalfreq(pot.pot, Rn, use_physical=False)) * to_kms_kpc

    def __call__(self, name, R):
        return np.interp(R, self.R, getattr(self, name))


def _draw_ages(comp: DiskComponent, n: int, rng) -> np.ndarray:
    if comp.age_sd is None:
        tau = rng.uniform(comp.age_min, comp.age_max, n)
    else:
        tau = np.clip(rng.normal(comp.age_mean, comp.age_sd, n), comp.age_min, comp.age_max)
        young = rng.random(n) < comp.young_fraction
        tau[young] = rng.uniform(comp.age_min, comp.age_mean, young.sum())
    return tau


def _disk_stars(comp: DiskComponent, n: int, freqs: _Frequencies, galaxy: GalaxyConfig, rng) -> dict:
    tau = _draw_ages(comp, n, rng)
    R_b = rng.normal(comp.rb_mean0 + comp.rb_mean_slope * tau, comp.rb_sd)
    feh = (
        comp.feh0
        + comp.feh_age_slope * tau
        + comp.birth_gradient(tau) * (R_b - galaxy.R0)
        + rng.normal(0, comp.feh_scatter, n)
    )
    R_g = R_b + rng.normal(0, comp.churn_sd(tau), n)
    sigR = comp.sigR10 * ((tau + 0.1) / 10.1) ** comp.sig_beta_R
    sigz = comp.sigz10 * ((tau + 0.1) / 10.1) ** comp.sig_beta_z
    Rg = np.clip(R_g, 0.5, 39.0)
    kappa, nu = freqs("kappa", Rg), freqs("nu", Rg)
    L_z = Rg * freqs("vc", Rg)
    # epicycles: Rayleigh amplitudes with uniform phases give Gaussian v_R, v_z
    X = rng.rayleigh(sigR / kappa)
    th = rng.uniform(0, 2 * np.pi, n)
    Z = rng.rayleigh(sigz / nu)
    ps = rng.uniform(0, 2 * np.pi, n)
    R = np.maximum(Rg + X * np.cos(th), 0.2)
    afe = comp.afe0 + comp.afe_feh_slope * feh + rng.normal(0, comp.afe_scatter, n)
    return {
        "age_true": tau,
        "R_b": R_b,
        "R_g_true": np.where(R_g >= 0.5, R_g, np.nan),
        "feh_true": feh,
        "afe_true": afe,
        "R": R,
        "z": Z * np.cos(ps),
        "v_R": -kappa * X * np.sin(th),
        "v_phi": L_z / R,
        "v_z": -nu * Z * np.sin(ps),
    }


def _halo_stars(n: int, rng) -> dict:
    R = rng.uniform(4.0, 14.0, n)
    feh = rng.normal(-1.6, 0.35, n)
    return {
        "age_true": np.clip(rng.normal(11.5, 1.0, n), 8.0, 13.5),
        "R_b": np.full(n, np.nan),
        "R_g_true": np.full(n, np.nan),
        "feh_true": feh,
        "afe_true": 0.30 + rng.normal(0, 0.04, n),
        "R": R,
        "z": rng.normal(0, 2.5, n),
        "v_R": rng.normal(0, 150, n),
        "v_phi": rng.normal(20, 110, n),
        "v_z": rng.normal(0, 100, n),
    }


def _in_footprint(obs: dict, cfg: MockConfig) -> np.ndarray:
    return (obs["distance"] > cfg.d_min) & (obs["distance"] < cfg.d_max) & (obs["dec"] > cfg.dec_min)


# Peak memory of generate_mock per catalogue star: about 930 B measured with
# tracemalloc for 20,000 and 80,000 stars (footprint over-sampling, the
# heliocentric transform, catalogue and truth tables); doubled to leave room for
# saving the tables and for the interpreter.
BYTES_PER_STAR = 2000


def _available_memory() -> int | None:
    """Bytes of memory available to this process, or None where unknown.

    MemAvailable of /proc/meminfo (counts reclaimable page cache), else free
    pages from sysconf; capped by a cgroup v2 limit (containers, batch jobs).
    """
    avail = None
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    avail = int(line.split()[1]) * 1024
                    break
    except OSError:
        pass
    if avail is None:
        try:
            avail = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES")
        except (ValueError, OSError, AttributeError):
            return None
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        used = int(Path("/sys/fs/cgroup/memory.current").read_text())
        if limit != "max":
            avail = min(avail, int(limit) - used)
    except (OSError, ValueError):
        pass
    return max(avail, 0)


def _check_memory(n_stars: int) -> None:
    """Refuse, before allocating anything, a catalogue that cannot fit in memory."""
    need = n_stars * BYTES_PER_STAR
    avail = _available_memory()
    if avail is not None and need > avail:
        raise ValueError(
            f"n_stars = {n_stars} needs about {need / 1e9:,.1f} GB; this machine has "
            f"{avail / 1e9:,.1f} GB available; use fewer stars "
            f"(at most about {avail // BYTES_PER_STAR:,})"
        )


def generate_mock(config: MockConfig | None = None, bins: AgeBins | None = None) -> MockCatalogue:
    """Simulate a LAMOST-like giant catalogue with a known MGAR.

    Parameters
    ----------
    config : MockConfig
        Settings; the same config (and seed) always gives the same catalogue.
    bins : AgeBins
        Age bins of the truth table (default: C25's nine bins).

    Returns
    -------
    MockCatalogue

    Raises
    ------
    ValueError
        The catalogue would need more memory than is available (about
        ``BYTES_PER_STAR`` bytes per star); checked before anything is drawn.
    """
    cfg = config or MockConfig()
    _check_memory(cfg.n_stars)
    bins = bins or AgeBins.from_config(BinningConfig())
    rng = np.random.default_rng(cfg.seed)
    freqs = _Frequencies(cfg.galaxy)
    names = ("thin", "thick", "halo")
    targets = rng.multinomial(cfg.n_stars, cfg.fractions)
    # azimuths near the Sun (astropy frame: Sun at phi = 180 deg)
    phi_half = np.rad2deg(np.arcsin(min(1.0, cfg.d_max / max(cfg.galaxy.R0 - cfg.d_max, 1.0))))
    parts = []
    for name, target in zip(names, targets, strict=True):
        got, chunks, tries = 0, [], 0
        while got < target:
            tries += 1
            if tries > 200:
                raise RuntimeError(f"mock: could not place {target} {name} stars in the footprint")
            m = max(4 * (target - got), 1000)
            if name == "halo":
                s = _halo_stars(m, rng)
            else:
                s = _disk_stars(getattr(cfg, name), m, freqs, cfg.galaxy, rng)
            s["phi"] = 180.0 + rng.uniform(-phi_half, phi_half, m)
            obs = galcen_to_icrs(s["R"], s["phi"], s["z"], s["v_R"], s["v_phi"], s["v_z"], cfg.galaxy)
            keep = _in_footprint(obs, cfg)
            if name != "halo":
                keep &= np.isfinite(s["R_g_true"])
            df = pd.DataFrame({**s, **obs}).loc[keep]
            df["component"] = name
            chunks.append(df)
            got += len(df)
        parts.append(pd.concat(chunks, ignore_index=True).iloc[:target])
    true = pd.concat(parts, ignore_index=True)
    true = true.sample(frac=1.0, random_state=rng.integers(2**31)).reset_index(drop=True)
    n = len(true)
    true.insert(0, "source_id", np.arange(1, n + 1, dtype=np.int64))

    stars = _observe(true, cfg, rng)
    truth = _truth_table(true, cfg, bins)
    truth_cols = [
        "source_id", "component", "age_true", "R_b", "R_g_true", "feh_true", "afe_true",
        "R", "phi", "z", "v_R", "v_phi", "v_z",
    ]  # fmt: skip
    return MockCatalogue(stars=stars, truth_stars=true[truth_cols], truth=truth, config=cfg)


def _observe(true: pd.DataFrame, cfg: MockConfig, rng) -> pd.DataFrame:
    """Add LAMOST/Gaia-like measurement errors and the catalogue's other columns."""
    n = len(true)

    def u(lo_hi):
        lo, hi = lo_hi
        return rng.uniform(lo, hi, n)

    d_err = true["distance"].to_numpy() * u(cfg.dist_frac_err)
    pm_err = u(cfg.pm_err)
    out = pd.DataFrame({"source_id": true["source_id"].to_numpy()})
    out["ra"] = true["ra"].to_numpy()
    out["dec"] = true["dec"].to_numpy()
    out["distance"] = np.abs(true["distance"].to_numpy() + d_err * rng.standard_normal(n))
    out["distance_err"] = d_err
    out["pmra"] = true["pmra"].to_numpy() + pm_err * rng.standard_normal(n)
    out["pmra_err"] = pm_err
    pmd_err = pm_err * rng.uniform(0.8, 1.2, n)
    out["pmdec"] = true["pmdec"].to_numpy() + pmd_err * rng.standard_normal(n)
    out["pmdec_err"] = pmd_err
    rv_err = u(cfg.rv_err)
    out["rv"] = true["rv"].to_numpy() + rv_err * rng.standard_normal(n)
    out["rv_err"] = rv_err
    feh_err = u(cfg.feh_err)
    out["feh"] = true["feh_true"].to_numpy() + feh_err * rng.standard_normal(n)
    out["feh_err"] = feh_err
    afe_err = u(cfg.afe_err)
    out["afe"] = true["afe_true"].to_numpy() + afe_err * rng.standard_normal(n)
    out["afe_err"] = afe_err
    frac = u(cfg.age_frac_err)
    tau = true["age_true"].to_numpy()
    age = tau * np.exp(frac * rng.standard_normal(n))
    out["age"] = age
    out["age_err"] = frac * age
    # giants: younger stars are more massive; a few low-mass (mass-loss/binary) stars
    mass = 2.2 * (np.maximum(tau, 0.3) / 1.0) ** -0.35 * np.exp(0.05 * rng.standard_normal(n))
    low = rng.random(n) < 0.03
    mass[low] = rng.uniform(0.5, 0.7, low.sum())
    out["mass"] = mass
    out["snr"] = np.exp(rng.normal(np.log(60), 0.7, n))
    out["flag_feh"] = (rng.random(n) < cfg.bad_flag_fraction).astype(np.int64)
    out["flag_afe"] = (rng.random(n) < cfg.bad_flag_fraction).astype(np.int64)
    rc = rng.random(n) < cfg.rc_fraction
    out["evol_stage"] = np.where(rc, "RC", "RGB")
    out["logg"] = np.where(rc, rng.normal(2.45, 0.08, n), rng.uniform(1.5, 3.3, n))
    out["teff"] = np.where(rc, rng.normal(4750, 80, n), rng.uniform(4000, 5100, n))
    return out


def _truth_table(true: pd.DataFrame, cfg: MockConfig, bins: AgeBins) -> pd.DataFrame:
    rows = []
    idx = bins.index(true["age_true"].to_numpy())
    for pop in ("thin", "thick"):
        comp: DiskComponent = getattr(cfg, pop)
        is_pop = (true["component"] == pop).to_numpy()
        for k in range(bins.n_bins):
            sel = is_pop & (idx == k)
            sub = true.loc[sel]
            fit = wls_line(sub["R_g_true"], sub["feh_true"], np.ones(len(sub)))
            taus = sub["age_true"].to_numpy()
            analytic = float(np.mean(comp.present_gradient(taus))) if len(taus) else np.nan
            rows.append(
                {
                    "population": pop,
                    "age_lo": bins.lo[k],
                    "age_hi": bins.hi[k],
                    "age_center": bins.centers[k],
                    "n_true": int(sel.sum()),
                    "gradient_true": fit.slope,
                    "gradient_true_err": fit.slope_err,
                    "gradient_analytic": analytic,
                }
            )
    return pd.DataFrame(rows)


def mock_cache_dir() -> Path:
    """Where generated catalogues are cached.

    ``$MGAR_CACHE`` if set; else ``data/cache`` of a source checkout; else
    ``~/.cache/mgar_bayes``.
    """
    import os

    env = os.environ.get("MGAR_CACHE")
    if env:
        return Path(env)
    repo_data = Path(__file__).resolve().parent.parent / "data"
    if (repo_data / "README.md").exists():
        return repo_data / "cache"
    return Path.home() / ".cache" / "mgar_bayes"


def default_mock(cache_dir: str | Path | None = None, config: MockConfig | None = None, *, progress: bool = False) -> Path:
    """Path of the bundled default catalogue, generating and caching it on first use.

    The cache directory name carries the config hash, so a changed recipe never
    re-uses a stale file.
    """
    cfg = config or MockConfig()
    if cache_dir is None:
        cache_dir = mock_cache_dir()
    d = Path(cache_dir) / f"mock_v{RECIPE_VERSION}_{config_hash(cfg)}"
    if not (d / "truth.json").exists():
        if progress:
            print(f"generating the simulated catalogue ({cfg.n_stars} stars, seed {cfg.seed}) -> {d}")
        generate_mock(cfg).save(d, overwrite=True)
    return d
