"""Frozen configuration of the Bayesian models and the named model specifications.

A *model specification* is a TOML file naming a builder, its priors and the
sampler settings, e.g. ``models/c25.toml``::

    builder = "bin_gradient"
    description = "C25 Appendix A"

    [priors]
    gradient_sigma = 0.5

    [sampler]
    backend = "pymc"
    draws = 1000

``load_model_spec("c25")`` finds ``c25.toml`` in, in this order: a path given
directly, ``./models/`` of the current directory (a user's own variants) and the
specifications installed with the package (``mgar_bayes/models/specs``, which in
a source tree is a link to the top-level ``models/`` folder).
"""

from __future__ import annotations

import dataclasses
import json
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

__all__ = [
    "PriorConfig",
    "SamplerConfig",
    "ModelSpec",
    "BACKENDS",
    "BUILDERS",
    "load_model_spec",
    "available_specs",
    "spec_from_dict",
]

BACKENDS = ("pymc", "nutpie", "numpyro")
BUILDERS = ("bin_gradient", "hierarchical", "trend")
AGE_TREATMENTS = ("inflate", "mixture")
RG_TREATMENTS = ("integrate", "sample", "gaussian")


@dataclass(frozen=True)
class PriorConfig:
    """Priors and fixed model choices of the gradient models (C25 App. A defaults).

    Parameters
    ----------
    gradient_mu, gradient_sigma : float
        Normal prior on each bin's gradient nabla [dex/kpc] (C25: N(0, 0.5)).
    intercept_mu, intercept_sigma : float
        Normal prior on each bin's intercept b [dex], the [Fe/H] at
        ``r_ref`` (C25: N(0, 0.5) at R_g = 0; see ``r_ref``).
    scatter_sigma : float
        HalfNormal prior scale of the intrinsic scatter sigma [dex] (C25: 0.4).
    feh_range : tuple of float
        Truncation of the [Fe/H] likelihood [dex] (C25: [-1, 0.5]); stars
        outside are dropped and counted.
    rg_range : tuple of float
        Support of the latent guiding radius [kpc] (C25: [0, 20]); stars whose
        observed R_g lies outside are dropped and counted.
    age_range : tuple of float
        Truncation of the true-age distribution in P (C25 eq. A4) [Gyr].
    r_ref : float
        Reference radius [kpc] at which the intercept is defined. Centring R_g
        decorrelates nabla and b (much faster sampling); nabla is the same
        quantity for any r_ref. ``r_ref = 0`` is C25's parameterisation.
    rg_treatment : str
        How the true R_g ~ TruncNormal(R_g,obs, dR_g) on ``rg_range`` enters
        (see :mod:`mgar_bayes.models.likelihood`): ``"sample"`` (default)
        samples one latent R_g per star; ``"integrate"`` integrates it out
        (closed-form Gaussian part, Gauss-Hermite quadrature of the
        truncation factor), the same posterior with three dimensions per bin
        (on CPU no faster than ``"sample"``: its quadrature costs what the
        latent dimensions save; ``benchmarks/``); ``"gaussian"`` is the fast
        approximation sigma_eff^2 = Sigma^2 + nabla^2 dR_g^2 that ignores the
        R_g truncation and takes the [Fe/H] normaliser at R_g,obs.
    rg_nodes : int
        Gauss-Hermite nodes of ``"integrate"``.
    age_treatment : str
        ``"inflate"``: C25 eq. A4, Sigma^2 = (sigma^2 + dFeH^2) / P^2 with stars
        in the bin of their observed age. ``"mixture"`` (hierarchical model
        only): each star is a mixture over bins weighted by P_ik.
    trend_intercept_sigma, trend_slope_sigma : float
        Normal prior scales of the MGAR line, gradient = a + s (t - t_ref)
        [dex/kpc, dex/kpc/Gyr] (C25 Fig. A1: 2, 2).
    trend_scatter_beta : float
        HalfCauchy scale of the line's scatter epsilon [dex/kpc] (C25: 5).
    age_ref : float
        Age [Gyr] at which the line's intercept a is defined (C25: 0); the
        slope s (the flattening rate) does not depend on it.
    noncentered : bool
        Non-centred bin gradients in the hierarchical model (use when bins are
        poorly constrained).
    min_stars_per_bin : int
        Bins with fewer stars (by observed age) are left out of the per-bin
        model, and their stars dropped with a warning.
    hdi_prob : float
        Probability of the reported highest-density intervals (C25: 0.98).
    """

    gradient_mu: float = 0.0
    gradient_sigma: float = 0.5
    intercept_mu: float = 0.0
    intercept_sigma: float = 0.5
    scatter_sigma: float = 0.4
    feh_range: tuple[float, float] = (-1.0, 0.5)
    rg_range: tuple[float, float] = (0.0, 20.0)
    age_range: tuple[float, float] = (0.0, 13.0)
    r_ref: float = 8.27
    rg_treatment: str = "sample"
    rg_nodes: int = 3
    age_treatment: str = "inflate"
    trend_intercept_sigma: float = 2.0
    trend_slope_sigma: float = 2.0
    trend_scatter_beta: float = 5.0
    age_ref: float = 0.0
    noncentered: bool = False
    min_stars_per_bin: int = 10
    hdi_prob: float = 0.98

    def __post_init__(self):
        for name in ("feh_range", "rg_range", "age_range"):
            lo, hi = (float(v) for v in getattr(self, name))
            if not hi > lo:
                raise ValueError(f"priors.{name} must be (lo, hi) with hi > lo, got {(lo, hi)}")
            object.__setattr__(self, name, (lo, hi))
        for name in (
            "gradient_sigma",
            "intercept_sigma",
            "scatter_sigma",
            "trend_intercept_sigma",
            "trend_slope_sigma",
            "trend_scatter_beta",
        ):
            if not getattr(self, name) > 0:
                raise ValueError(f"priors.{name} must be > 0, got {getattr(self, name)}")
        if self.age_treatment not in AGE_TREATMENTS:
            raise ValueError(
                f"priors.age_treatment must be one of {AGE_TREATMENTS}, got {self.age_treatment!r}"
            )
        if self.rg_treatment not in RG_TREATMENTS:
            raise ValueError(
                f"priors.rg_treatment must be one of {RG_TREATMENTS}, got {self.rg_treatment!r}"
            )
        if not 1 <= int(self.rg_nodes) <= 64:
            raise ValueError(f"priors.rg_nodes must be in 1..64, got {self.rg_nodes}")
        if not 0 < self.hdi_prob < 1:
            raise ValueError(f"priors.hdi_prob must be in (0, 1), got {self.hdi_prob}")


@dataclass(frozen=True)
class SamplerConfig:
    """NUTS settings.

    Parameters
    ----------
    backend : str
        ``"pymc"`` (PyMC's own NUTS), ``"nutpie"`` or ``"numpyro"`` (needs
        ``jax`` and ``numpyro`` installed).
    draws, tune, chains : int
        Posterior draws and tuning steps per chain, number of chains.
    cores : int
        Chains run in parallel (PyMC backend).
    target_accept : float
        NUTS target acceptance rate.
    max_tree_depth : int
        Most doublings of a NUTS trajectory (at most 2^depth - 1 leapfrog
        steps per draw; PyMC's ``max_treedepth``, nutpie's ``maxdepth``).
        Capping it keeps the sampler valid and trades longer, anticorrelated
        trajectories for cheaper draws.
    keep_latent : bool
        Keep the per-star latent R_g draws in the posterior (large).
    log_likelihood : bool
        Store the pointwise log-likelihood (needed for LOO and power-scaling; draws x
        stars values per population, so off unless asked: `mgar fit --log-likelihood`).
    """

    backend: str = "pymc"
    draws: int = 1000
    tune: int = 1000
    chains: int = 2
    cores: int = 2
    target_accept: float = 0.9
    max_tree_depth: int = 10
    keep_latent: bool = False
    log_likelihood: bool = False

    def __post_init__(self):
        if self.backend not in BACKENDS:
            raise ValueError(f"sampler.backend must be one of {BACKENDS}, got {self.backend!r}")
        for name in ("draws", "chains", "cores", "max_tree_depth"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"sampler.{name} must be >= 1, got {getattr(self, name)}")
        if int(self.tune) < 0:
            raise ValueError(f"sampler.tune must be >= 0, got {self.tune}")
        if not 0 < self.target_accept < 1:
            raise ValueError(f"sampler.target_accept must be in (0, 1), got {self.target_accept}")


@dataclass(frozen=True)
class ModelSpec:
    """A named model: which builder, its priors and its sampler settings."""

    name: str = "c25"
    builder: str = "bin_gradient"
    description: str = ""
    priors: PriorConfig = field(default_factory=PriorConfig)
    sampler: SamplerConfig = field(default_factory=SamplerConfig)
    source: str = ""

    def __post_init__(self):
        if self.builder not in BUILDERS:
            raise ValueError(f"model spec {self.name!r}: builder must be one of {BUILDERS}, got {self.builder!r}")
        if self.builder == "bin_gradient" and self.priors.age_treatment != "inflate":
            raise ValueError(
                f"model spec {self.name!r}: builder 'bin_gradient' supports only "
                "age_treatment = 'inflate' (the mixture needs all bins: use 'hierarchical')"
            )

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d.pop("source")
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    def replace(self, overrides: dict[str, Any] | None = None) -> ModelSpec:
        """Copy with ``{"priors": {...}, "sampler": {...}}`` (or top-level keys) changed."""
        if not overrides:
            return self
        data = self.to_dict()
        for key, value in overrides.items():
            if key in ("priors", "sampler"):
                data[key] = {**data[key], **value}
            else:
                data[key] = value
        return spec_from_dict(data, name=data.get("name", self.name), source=self.source)


def _section(cls, data: dict[str, Any], where: str):
    known = {f.name for f in dataclasses.fields(cls)}
    bad = set(data) - known
    if bad:
        raise ValueError(f"{where}: unknown key(s) {sorted(bad)}; known: {sorted(known)}")
    return cls(**{k: (tuple(v) if isinstance(v, list) else v) for k, v in data.items()})


def spec_from_dict(data: dict[str, Any], *, name: str = "custom", source: str = "") -> ModelSpec:
    """Build a :class:`ModelSpec` from a (TOML-like) dict, rejecting unknown keys."""
    data = dict(data)
    where = source or name
    known = {"name", "builder", "description", "priors", "sampler"}
    bad = set(data) - known
    if bad:
        raise ValueError(f"{where}: unknown key(s) {sorted(bad)}; known: {sorted(known)}")
    return ModelSpec(
        name=str(data.get("name", name)),
        builder=str(data.get("builder", "bin_gradient")),
        description=str(data.get("description", "")),
        priors=_section(PriorConfig, data.get("priors", {}), f"{where} [priors]"),
        sampler=_section(SamplerConfig, data.get("sampler", {}), f"{where} [sampler]"),
        source=source,
    )


def _packaged_specs_dir() -> Path:
    return Path(str(resources.files("mgar_bayes.models") / "specs"))


def _search_dirs() -> list[Path]:
    return [Path.cwd() / "models", _packaged_specs_dir()]


def available_specs() -> list[str]:
    """Names of the model specifications that :func:`load_model_spec` can find."""
    names: set[str] = set()
    for d in _search_dirs():
        if d.is_dir():
            names.update(p.stem for p in d.glob("*.toml"))
    return sorted(names)


def load_model_spec(name_or_path: str | Path) -> ModelSpec:
    """Load a model specification by name (``"c25"``) or path (``"my.toml"``).

    Parameters
    ----------
    name_or_path : str or pathlib.Path
        A TOML file path, or a name looked up as ``models/NAME.toml`` in the
        current directory, then among the specifications installed with the
        package.

    Returns
    -------
    ModelSpec

    Raises
    ------
    FileNotFoundError
        No such file / name (the message lists the names available).
    ValueError
        Invalid TOML or unknown keys/values.
    """
    text = str(name_or_path)
    path = Path(text)
    if path.suffix == ".toml" or path.is_file():
        if not path.is_file():
            raise FileNotFoundError(f"model spec file not found: {path}")
        candidates = [path]
    else:
        candidates = [d / f"{text}.toml" for d in _search_dirs()]
    for cand in candidates:
        if cand.is_file():
            with cand.open("rb") as fh:
                try:
                    data = tomllib.load(fh)
                except tomllib.TOMLDecodeError as exc:
                    raise ValueError(f"{cand}: not valid TOML ({exc})") from exc
            return spec_from_dict(data, name=data.get("name", cand.stem), source=str(cand))
    raise FileNotFoundError(
        f"no model spec {text!r}; looked for {[str(c) for c in candidates]}; "
        f"available: {available_specs()}"
    )
