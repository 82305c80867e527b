"""Frozen configuration of the Bayesian models and the named model specifications.

A *model specification* is a TOML file naming a builder and its sections::

    name = "c25"
    builder = "bin_gradient"
    description = "C25 Appendix A"

    [priors]                      # one prior per parameter: a family and its parameters
    gradient = { dist = "Normal", mu = 0.0, sigma = 0.5 }
    scatter = { dist = "HalfNormal", sigma = 0.4 }

    [structure]                   # how the model is built: R_g and age treatments, truncations
    rg_treatment = "sample"

    [data]                        # which stars and bins enter
    min_stars_per_bin = 10

    [report]                      # how the posterior is summarised
    hdi_prob = 0.98

    [sampler]
    backend = "numpyro"

A variant names its parent and lists only what differs (``models/c25_wide.toml``)::

    extends = "c25"
    name = "c25_wide"
    [priors]
    scatter = { dist = "HalfNormal", sigma = 1.6 }

Sections are merged key by key down the chain of parents; a prior is replaced
whole, so changing a family is one line (``scatter = { dist = "Exponential",
lam = 5 }``). ``dist`` is the name of a PyMC distribution and the other keys
its parameters (:class:`pymc_extras.prior.Prior`); every backend builds the
variable from it through the PyMC model.

``load_model_spec("c25")`` finds ``c25.toml`` in, in this order: a path given
directly, ``./models/`` of the current directory (a user's own variants) and the
specifications installed with the package (``mgar_bayes/models/specs``, which in
a source tree is a link to the top-level ``models/`` folder). A parent named in
``extends`` is looked up the same way, first beside the file that names it.

Spec files of the earlier flat layout (``gradient_sigma = 0.5``, ``rg_treatment``
and ``hdi_prob`` under ``[priors]``) still load: they are translated into the
sections above with a :class:`SpecLayoutWarning` that shows the new form.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import tomllib
import warnings
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from pymc_extras.prior import Prior

__all__ = [
    "Prior",
    "PriorConfig",
    "StructureConfig",
    "DataConfig",
    "ReportConfig",
    "SamplerConfig",
    "ModelSpec",
    "SpecLayoutWarning",
    "BACKENDS",
    "BUILDERS",
    "PRIOR_NAMES",
    "load_model_spec",
    "available_specs",
    "spec_from_dict",
    "prior_from_dict",
    "prior_to_dict",
    "prior_variable",
]

BACKENDS = ("pymc", "nutpie", "numpyro")
FIT_METHODS = ("nuts", "laplace")
BUILDERS = ("bin_gradient", "hierarchical", "trend", "twodisk", "smooth")
AGE_TREATMENTS = ("inflate", "mixture")
RG_TREATMENTS = ("integrate", "sample", "gaussian")

#: The model parameters that take a prior, and whether their support is the positive reals.
PRIOR_NAMES = {
    "gradient": False,
    "intercept": False,
    "scatter": True,
    "trend_intercept": False,
    "trend_slope": False,
    "trend_scatter": True,
    # the two-disk mixture (models/twodisk.toml): the chemical sequences and the membership
    "afe_offset": False,
    "afe_gap": True,
    "afe_slope": False,
    "afe_scatter": True,
    "thin_fraction": False,  # a probability: checked against _UNIT_INTERVAL below
    "zmax_coef": False,
    # the smooth MGAR (models/smooth.toml): the Gaussian process of the gradient's departure from the line
    "gp_amplitude": True,
    "gp_lengthscale": True,
}
_DEFAULT_PRIORS = {
    "gradient": ("Normal", {"mu": 0.0, "sigma": 0.5}),  # nabla [dex/kpc], C25 App. A
    "intercept": ("Normal", {"mu": 0.0, "sigma": 0.5}),  # b [dex] at r_ref
    "scatter": ("HalfNormal", {"sigma": 0.4}),  # sigma [dex]
    "trend_intercept": ("Normal", {"mu": 0.0, "sigma": 2.0}),  # a [dex/kpc], C25 Fig. A1
    "trend_slope": ("Normal", {"mu": 0.0, "sigma": 2.0}),  # s [dex/kpc/Gyr]
    "trend_scatter": ("HalfCauchy", {"beta": 5.0}),  # epsilon [dex/kpc]
    "afe_offset": (
        "Normal",
        {"mu": 0.05, "sigma": 0.2},
    ),  # thin sequence's [alpha/Fe] at [Fe/H] = -0.2 [dex]
    "afe_gap": ("HalfNormal", {"sigma": 0.3}),  # thick minus thin sequence there [dex]
    "afe_slope": ("Normal", {"mu": 0.0, "sigma": 0.5}),  # d[alpha/Fe]/d[Fe/H] of each sequence
    "afe_scatter": ("HalfNormal", {"sigma": 0.1}),  # each sequence's [alpha/Fe] scatter [dex]
    "thin_fraction": ("Beta", {"alpha": 1.0, "beta": 1.0}),  # thin fraction of each age bin
    "zmax_coef": ("Normal", {"mu": 0.0, "sigma": 2.0}),  # d logit(thin) / d ln Z_max
    # eta [dex/kpc]: departures from the line of ~0.02 dex/kpc (C25 3.1's dip), 0 allowed
    "gp_amplitude": ("HalfNormal", {"sigma": 0.02}),
    # ell [Gyr]: median 2.2, 1% below 0.8 (finer than the age resolution), 1% above 9.7 (the range)
    "gp_lengthscale": ("InverseGamma", {"alpha": 4.0, "beta": 8.0}),
}
#: Flat keys of the earlier layout: prior name, family and parameter each one set.
_LEGACY_PRIOR_KEYS = {
    "gradient_mu": ("gradient", "mu"),
    "gradient_sigma": ("gradient", "sigma"),
    "intercept_mu": ("intercept", "mu"),
    "intercept_sigma": ("intercept", "sigma"),
    "scatter_sigma": ("scatter", "sigma"),
    "trend_intercept_sigma": ("trend_intercept", "sigma"),
    "trend_slope_sigma": ("trend_slope", "sigma"),
    "trend_scatter_beta": ("trend_scatter", "beta"),
}


class SpecLayoutWarning(FutureWarning):
    """A model spec in the earlier flat layout was translated; the message shows the new form."""


def prior_from_dict(value: Any, where: str) -> Prior:
    """A :class:`Prior` from its TOML form ``{dist = "Normal", mu = 0, sigma = 0.5}``.

    Also accepts a :class:`Prior` and pymc-extras' own ``{"dist": ..., "kwargs": {...}}``.

    Raises
    ------
    ValueError
        Not a table with ``dist``, an unknown family, a parameter the family
        does not have, or a value that is not a number; the message names
        ``where`` and shows the expected form.
    """
    if isinstance(value, Prior):
        value = prior_to_dict(value)
    form = '{ dist = "Normal", mu = 0.0, sigma = 0.5 }'
    if not isinstance(value, dict) or "dist" not in value:
        raise ValueError(
            f"{where}: a prior is a table with a PyMC family and its parameters, e.g. {form}; got {value!r}"
        )
    params = (
        dict(value.get("kwargs", {}))
        if set(value) <= {"dist", "kwargs"}
        else {k: v for k, v in value.items() if k != "dist"}
    )
    for key, v in params.items():
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise ValueError(f"{where}: parameter {key} = {v!r} must be a number (e.g. {form})")
    try:
        return Prior(str(value["dist"]), **{k: float(v) for k, v in params.items()})
    except Exception as exc:  # pymc-extras names the bad family or parameter
        raise ValueError(f"{where}: {exc} (a prior looks like {form})") from None


def prior_to_dict(prior: Prior) -> dict[str, Any]:
    """TOML/JSON form of a prior: ``{"dist": family, parameter: value, ...}``."""
    return {"dist": prior.distribution, **{k: float(v) for k, v in prior.parameters.items()}}


#: Priors of probabilities, whose family must live on (0, 1).
_UNIT_INTERVAL = ("thin_fraction",)


def _unit_support(prior: Prior) -> bool:
    """True when PyMC samples the family on a log-odds transform (support (0, 1))."""
    import pymc as pm
    from pymc.distributions.transforms import _default_transform

    rv = getattr(pm, prior.distribution).dist(**prior.parameters)
    tr = _default_transform(rv.owner.op, rv)
    return tr is not None and type(tr).__name__ == "LogOddsTransform"


def _positive_support(prior: Prior) -> bool:
    """True when PyMC samples the family on a log (or other positive) transform."""
    import pymc as pm
    from pymc.distributions.transforms import _default_transform

    rv = getattr(pm, prior.distribution).dist(**prior.parameters)
    tr = _default_transform(rv.owner.op, rv)
    return tr is not None and type(tr).__name__ in ("LogTransform", "LogExpM1")


@dataclass(frozen=True)
class StructureConfig:
    """How the gradient models are built: treatments of R_g and age, truncations, reference points.

    Parameters
    ----------
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
        truncation factor), the same posterior with three dimensions per bin;
        ``"gaussian"`` is the fast approximation
        sigma_eff^2 = Sigma^2 + nabla^2 dR_g^2 that ignores the R_g truncation
        and takes the [Fe/H] normaliser at R_g,obs.
    rg_nodes : int
        Gauss-Hermite nodes of ``"integrate"``.
    age_treatment : str
        ``"inflate"``: C25 eq. A4, Sigma^2 = (sigma^2 + dFeH^2) / P^2 with stars
        in the bin of their observed age. ``"mixture"`` (hierarchical model
        only): each star is a mixture over bins weighted by P_ik.
    age_ref : float
        Age [Gyr] at which the MGAR line's intercept a is defined (C25: 0);
        the slope s (the flattening rate) does not depend on it.
    noncentered : bool
        Non-centred bin gradients in the hierarchical model (use when bins are
        poorly constrained).
    membership_zmax : bool
        Two-disk model only: the prior probability of a star being thin
        depends on its Z_max as well as on its age bin.
    spline_log_spacing : float
        Smooth model only: knot spacing in ln(age) of the cubic B-splines
        that make the intercept and the scatter smooth functions of age (the
        binned range's ln(age) in the fewest equal intervals no wider than
        this; 0.3: a factor 1.35 between knots, about 1.5 times a 20% age
        error, so each star's age kernel spans about one interval at any age).
    gradient_gp : bool
        Smooth model only: the gradient is the line plus a GP (default);
        False: the line alone, with the same splines and bins
        (``models/smooth_line.toml``), the nested model that LOO compares the
        curve with.
    """

    feh_range: tuple[float, float] = (-1.0, 0.5)
    rg_range: tuple[float, float] = (0.0, 20.0)
    age_range: tuple[float, float] = (0.0, 13.0)
    r_ref: float = 8.27
    rg_treatment: str = "sample"
    rg_nodes: int = 3
    age_treatment: str = "inflate"
    age_ref: float = 0.0
    noncentered: bool = False
    membership_zmax: bool = False
    spline_log_spacing: float = 0.3
    gradient_gp: bool = True

    def __post_init__(self):
        for name in ("feh_range", "rg_range", "age_range"):
            lo, hi = (float(v) for v in getattr(self, name))
            if not hi > lo:
                raise ValueError(f"structure.{name} must be (lo, hi) with hi > lo, got {(lo, hi)}")
            object.__setattr__(self, name, (lo, hi))
        if self.age_treatment not in AGE_TREATMENTS:
            raise ValueError(
                f"structure.age_treatment must be one of {AGE_TREATMENTS}, got {self.age_treatment!r}"
            )
        if self.rg_treatment not in RG_TREATMENTS:
            raise ValueError(
                f"structure.rg_treatment must be one of {RG_TREATMENTS}, got {self.rg_treatment!r}"
            )
        if isinstance(self.spline_log_spacing, bool) or not float(self.spline_log_spacing) > 0:
            raise ValueError(
                f"structure.spline_log_spacing must be > 0 (in ln age), got {self.spline_log_spacing!r}"
            )
        object.__setattr__(self, "spline_log_spacing", float(self.spline_log_spacing))
        if not 1 <= int(self.rg_nodes) <= 64:
            raise ValueError(f"structure.rg_nodes must be in 1..64, got {self.rg_nodes}")


@dataclass(frozen=True)
class DataConfig:
    """Which stars and bins enter a fit.

    Parameters
    ----------
    min_stars_per_bin : int
        Bins with fewer stars (by observed age) are left out of the per-bin
        model, and their stars dropped with a warning.
    age_bin_width : float
        0 (default): the model uses the age bins it is given (``mgar fit``:
        the run's ``[binning]``). > 0 [Gyr]: the model splits the given bins'
        age range into the fewest equal bins no wider than this
        (:meth:`~mgar_bayes.binning.AgeBins.refined`); the smooth model's
        fine bins (``models/smooth.toml``: 0.5).
    """

    min_stars_per_bin: int = 10
    age_bin_width: float = 0.0

    def __post_init__(self):
        if int(self.min_stars_per_bin) < 1:
            raise ValueError(f"data.min_stars_per_bin must be >= 1, got {self.min_stars_per_bin}")
        if isinstance(self.age_bin_width, bool) or not float(self.age_bin_width) >= 0:
            raise ValueError(
                f"data.age_bin_width must be 0 (the given bins) or a width > 0 [Gyr], got {self.age_bin_width!r}"
            )
        object.__setattr__(self, "age_bin_width", float(self.age_bin_width))

    def bins_for(self, bins):
        """The bins a model uses when given ``bins`` (an AgeBins): those, or their range refined."""
        return bins.refined(self.age_bin_width) if self.age_bin_width > 0 else bins


@dataclass(frozen=True)
class ReportConfig:
    """How posteriors are summarised.

    Parameters
    ----------
    hdi_prob : float
        Probability of the reported highest-density intervals (C25: 0.98).
    """

    hdi_prob: float = 0.98

    def __post_init__(self):
        if not 0 < self.hdi_prob < 1:
            raise ValueError(f"report.hdi_prob must be in (0, 1), got {self.hdi_prob}")


_SECTION_CLASSES = {"structure": StructureConfig, "data": DataConfig, "report": ReportConfig}
_SECTION_OF = {f.name: s for s, cls in _SECTION_CLASSES.items() for f in dataclasses.fields(cls)}


class PriorConfig:
    """The priors of the gradient models: one :class:`Prior` (family + parameters) per parameter.

    Parameters
    ----------
    gradient, intercept : Prior
        Each bin's gradient nabla [dex/kpc] and intercept b [dex] at ``r_ref``
        (C25: Normal(0, 0.5) each). In the hierarchical model the gradients'
        prior is the MGAR line instead.
    scatter : Prior
        Each bin's intrinsic [Fe/H] scatter sigma [dex] (C25: HalfNormal(0.4));
        a family on the positive reals.
    trend_intercept, trend_slope : Prior
        The MGAR line, gradient = a + s (t - age_ref) [dex/kpc, dex/kpc/Gyr]
        (C25 Fig. A1: Normal(0, 2) each).
    trend_scatter : Prior
        The line's scatter epsilon [dex/kpc] (C25: HalfCauchy(5)); positive reals.
    gp_amplitude, gp_lengthscale : Prior
        The smooth model (``models/smooth.toml``): amplitude eta [dex/kpc]
        and length scale ell [Gyr] of the Gaussian process of the
        gradient's departure from the line; positive reals.
    afe_offset, afe_gap, afe_slope, afe_scatter, thin_fraction, zmax_coef : Prior
        The two-disk model (``models/twodisk.toml``).
    **legacy
        Keys of the earlier flat layout, kept while code moves to the sections:
        ``gradient_sigma=0.3`` etc. set a parameter of the default family;
        structure, data and report keys (``rg_treatment="gaussian"``,
        ``min_stars_per_bin``, ``hdi_prob``) go to those sections, which a
        builder or :class:`ModelSpec` given this object takes up.

    Notes
    -----
    Read-only aliases of the earlier layout answer as before:
    ``priors.gradient_sigma`` (the parameter of the current family; an error
    names the family when it has none), and, for the priors held by a
    :class:`ModelSpec` (``spec.priors``, ``builder.priors``), the keys of its
    other sections (``priors.rg_treatment``, ``priors.feh_range``,
    ``priors.hdi_prob``).
    """

    __slots__ = (*PRIOR_NAMES, "_sections")

    def __init__(self, **kwargs: Any):
        values = {name: Prior(dist, **params) for name, (dist, params) in _DEFAULT_PRIORS.items()}
        legacy_params: dict[str, dict[str, float]] = {}
        sections: dict[str, dict[str, Any]] = {}
        for key, value in kwargs.items():
            if key in PRIOR_NAMES:
                values[key] = prior_from_dict(value, f"priors.{key}")
            elif key in _LEGACY_PRIOR_KEYS:
                name, param = _LEGACY_PRIOR_KEYS[key]
                legacy_params.setdefault(name, {})[param] = value
            elif key in _SECTION_OF:
                sections.setdefault(_SECTION_OF[key], {})[key] = value
            elif key == "_sections":
                continue
            else:
                known = sorted({*PRIOR_NAMES, *_LEGACY_PRIOR_KEYS, *_SECTION_OF})
                raise ValueError(f"priors: unknown key {key!r}; known: {known}")
        for name, params in legacy_params.items():
            dist, default = _DEFAULT_PRIORS[name]
            base = values[name]
            merged = {**(base.parameters if base.distribution == dist else default), **params}
            values[name] = prior_from_dict({"dist": dist, **merged}, f"priors.{name}")
        for name, positive in PRIOR_NAMES.items():
            p = values[name]
            for k, v in p.parameters.items():
                if k in ("sigma", "beta", "lam", "tau", "nu", "alpha") and not float(v) > 0:
                    raise ValueError(
                        f"priors.{name}: {p.distribution} parameter {k} must be > 0, got {v}"
                    )
            if name in _UNIT_INTERVAL and not _unit_support(p):
                raise ValueError(
                    f"priors.{name} = {prior_to_dict(p)}: the {name} is a probability, so its prior needs a "
                    'family on (0, 1) (e.g. { dist = "Beta", alpha = 1.0, beta = 1.0 })'
                )
            if positive and not _positive_support(p):
                raise ValueError(
                    f"priors.{name} = {prior_to_dict(p)}: the {name} is positive, so its prior needs a "
                    'family on the positive reals (e.g. { dist = "HalfNormal", sigma = 0.4 })'
                )
            object.__setattr__(self, name, p)
        given = kwargs.get("_sections")
        if given is None:
            given = tuple(_SECTION_CLASSES[s](**{k: _tuple(v) for k, v in sections.get(s, {}).items()})
                          for s in _SECTION_CLASSES)  # fmt: skip
        object.__setattr__(self, "_sections", tuple(given))

    # -- immutability and value semantics ------------------------------------------
    def __setattr__(self, name, value):
        raise dataclasses.FrozenInstanceError(f"cannot assign to field {name!r}")

    def __eq__(self, other):
        if not isinstance(other, PriorConfig):
            return NotImplemented
        return self.to_dict() == other.to_dict() and self._sections == other._sections

    def __hash__(self):
        return hash(json.dumps(self.to_dict(), sort_keys=True))

    def __repr__(self):
        inner = ", ".join(f"{n}={getattr(self, n)!r}" for n in PRIOR_NAMES)
        return f"PriorConfig({inner})"

    def __deepcopy__(self, memo):
        return self

    def __reduce__(self):
        return (_rebuild_priors, (self.to_dict(), self._sections))

    def to_dict(self) -> dict[str, dict[str, Any]]:
        """``{parameter: {"dist": family, ...}}``, the ``[priors]`` table."""
        return {name: prior_to_dict(getattr(self, name)) for name in PRIOR_NAMES}

    def replace(self, **changes: Any) -> PriorConfig:
        """Copy with some priors (or legacy keys) changed; keeps the attached sections."""
        return PriorConfig(**{**self.to_dict(), **changes, "_sections": self._sections})

    def with_sections(self, structure, data, report) -> PriorConfig:
        """The same priors answering the legacy keys of these sections (see the class notes)."""
        return PriorConfig(**self.to_dict(), _sections=(structure, data, report))

    @property
    def sections(self) -> tuple[StructureConfig, DataConfig, ReportConfig]:
        """(structure, data, report) that the legacy keys read from."""
        return self._sections

    def parameter(self, name: str, param: str) -> float:
        """A parameter of a prior, e.g. ``parameter("gradient", "sigma")``; clear error when absent."""
        p = getattr(self, name)
        if param not in p.parameters:
            raise AttributeError(
                f"priors.{name} is {p.distribution}{tuple(p.parameters)}, which has no {param!r}; "
                f"read priors.{name}.parameters"
            )
        return float(p.parameters[param])

    def __getattr__(self, key: str):
        # legacy flat reads: gradient_sigma, rg_treatment, hdi_prob, ...
        if key in _LEGACY_PRIOR_KEYS:
            return self.parameter(*_LEGACY_PRIOR_KEYS[key])
        if key in _SECTION_OF:
            return getattr(self._sections[list(_SECTION_CLASSES).index(_SECTION_OF[key])], key)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {key!r}")


def _rebuild_priors(priors, sections):
    return PriorConfig(**priors, _sections=sections)


def _tuple(v):
    return tuple(v) if isinstance(v, list) else v


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
    method : str
        ``"nuts"`` (default) or ``"laplace"``: per-bin models only, the Laplace
        approximation of each bin checked by Pareto-smoothed importance
        sampling, NUTS (with ``backend``) for a bin that fails the check
        (:mod:`mgar_bayes.models.laplace`).
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
    method: str = "nuts"

    def __post_init__(self):
        if self.backend not in BACKENDS:
            raise ValueError(f"sampler.backend must be one of {BACKENDS}, got {self.backend!r}")
        if self.method not in FIT_METHODS:
            raise ValueError(f"sampler.method must be one of {FIT_METHODS}, got {self.method!r}")
        for name in ("draws", "chains", "cores", "max_tree_depth"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"sampler.{name} must be >= 1, got {getattr(self, name)}")
        if int(self.tune) < 0:
            raise ValueError(f"sampler.tune must be >= 0, got {self.tune}")
        if not 0 < self.target_accept < 1:
            raise ValueError(f"sampler.target_accept must be in (0, 1), got {self.target_accept}")


_SECTIONS = ("priors", "structure", "data", "report", "sampler")


@dataclass(frozen=True)
class ModelSpec:
    """A named model: which builder, its priors, structure, data selection, reporting and sampler.

    ``structure``, ``data`` and ``report`` left as None are taken from the
    sections attached to ``priors`` (a :class:`PriorConfig` made with legacy
    keys such as ``rg_treatment="gaussian"`` carries them; otherwise the defaults).
    """

    name: str = "c25"
    builder: str = "bin_gradient"
    description: str = ""
    priors: PriorConfig = field(default_factory=PriorConfig)
    sampler: SamplerConfig = field(default_factory=SamplerConfig)
    source: str = ""
    structure: StructureConfig | None = None
    data: DataConfig | None = None
    report: ReportConfig | None = None

    def __post_init__(self):
        attached = self.priors.sections
        sections = tuple(
            getattr(self, s) if getattr(self, s) is not None else attached[i]
            for i, s in enumerate(_SECTION_CLASSES)
        )
        for s, value in zip(_SECTION_CLASSES, sections, strict=True):
            object.__setattr__(self, s, value)
        # the spec's priors answer the legacy keys of its own sections
        object.__setattr__(self, "priors", self.priors.with_sections(*sections))
        if self.builder not in BUILDERS:
            raise ValueError(
                f"model spec {self.name!r}: builder must be one of {BUILDERS}, got {self.builder!r}"
            )
        if self.sampler.method == "laplace" and self.builder != "bin_gradient":
            raise ValueError(
                f"model spec {self.name!r}: sampler.method = 'laplace' is for the per-bin builder "
                f"'bin_gradient', not {self.builder!r}; use method = 'nuts'"
            )
        if self.builder == "bin_gradient" and self.structure.age_treatment != "inflate":
            raise ValueError(
                f"model spec {self.name!r}: builder 'bin_gradient' supports only "
                "structure.age_treatment = 'inflate' (the mixture needs all bins: use 'hierarchical')"
            )

    def to_dict(self) -> dict[str, Any]:
        """The whole spec, parents resolved, as the TOML tables (``extends`` never appears)."""
        return {
            "name": self.name,
            "builder": self.builder,
            "description": self.description,
            "priors": self.priors.to_dict(),
            "structure": _plain(self.structure),
            "data": _plain(self.data),
            "report": _plain(self.report),
            "sampler": _plain(self.sampler),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    def replace(self, overrides: dict[str, Any] | None = None) -> ModelSpec:
        """Copy with ``{"priors": {...}, "structure": {...}, "sampler": {...}}`` (or top-level keys) changed.

        Keys of the earlier flat ``priors`` layout are accepted (translated
        without a warning, as for code during the transition).
        """
        if not overrides:
            return self
        data = _merge(self.to_dict(), _translate_legacy(dict(overrides), "overrides", warn=False))
        return spec_from_dict(data, name=data.get("name", self.name), source=self.source)


def _plain(obj) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(obj).items()}


def _section(cls, data: dict[str, Any], where: str):
    known = {f.name for f in dataclasses.fields(cls)}
    if not isinstance(data, dict):
        raise ValueError(f"{where}: must be a table, got {data!r}")
    bad = set(data) - known
    if bad:
        raise ValueError(f"{where}: unknown key(s) {sorted(bad)}; known: {sorted(known)}")
    return cls(**{k: _tuple(v) for k, v in data.items()})


def _translate_legacy(data: dict[str, Any], where: str, *, warn: bool) -> dict[str, Any]:
    """Move flat ``[priors]`` keys of the earlier layout to the new tables (see the module docstring)."""
    priors = data.get("priors")
    if not isinstance(priors, dict):
        return data
    old = [k for k in priors if k in _LEGACY_PRIOR_KEYS or k in _SECTION_OF]
    if not old:
        return data
    data = copy.deepcopy(data)
    priors = data["priors"]
    new_priors: dict[str, dict[str, Any]] = {}
    lines = []
    for key in old:
        value = priors.pop(key)
        if key in _LEGACY_PRIOR_KEYS:
            name, param = _LEGACY_PRIOR_KEYS[key]
            new_priors.setdefault(name, {})[param] = value
        else:
            section = _SECTION_OF[key]
            data.setdefault(section, {})
            if key in data[section]:
                raise ValueError(
                    f"{where}: {key} is given both under [priors] and [{section}]; keep [{section}]"
                )
            data[section][key] = value
            lines.append(f"[{section}] {key} = {json.dumps(value)}")
    for name, params in new_priors.items():
        if name in priors:
            raise ValueError(
                f"{where}: priors.{name} is given both as a table and as flat {name}_* keys"
            )
        dist, default = _DEFAULT_PRIORS[name]
        priors[name] = {"dist": dist, **default, **params}
        body = ", ".join(f"{k} = {v}" for k, v in priors[name].items() if k != "dist")
        lines.append(f'[priors] {name} = {{ dist = "{dist}", {body} }}')
    if warn:
        warnings.warn(
            f"{where}: model spec in the earlier flat layout ({', '.join(old)} under [priors]); "
            "read as:\n  " + "\n  ".join(lines) + '\nwrite it so (or as a delta: extends = "c25")',
            SpecLayoutWarning,
            stacklevel=4,
        )
    return data


def _merge(parent: dict[str, Any], child: dict[str, Any]) -> dict[str, Any]:
    """Child over parent: section tables key by key, everything else (a prior included) whole."""
    out = copy.deepcopy(parent)
    for key, value in child.items():
        if key in _SECTIONS and isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = {**out[key], **copy.deepcopy(value)}
        else:
            out[key] = copy.deepcopy(value)
    return out


def spec_from_dict(data: dict[str, Any], *, name: str = "custom", source: str = "") -> ModelSpec:
    """Build a :class:`ModelSpec` from a (TOML-like) dict, rejecting unknown keys.

    ``data`` has no ``extends`` here (:func:`load_model_spec` resolves it);
    the flat layout of earlier specs is translated silently (stored fits).
    """
    where = source or name
    data = _translate_legacy(dict(data), where, warn=False)
    if "extends" in data:
        raise ValueError(
            f"{where}: 'extends' is resolved by load_model_spec; pass the merged tables here"
        )
    known = {"name", "builder", "description", *_SECTIONS}
    bad = set(data) - known
    if bad:
        raise ValueError(
            f"{where}: unknown key(s) {sorted(bad)}; known: {sorted(known | {'extends'})}"
        )
    priors = data.get("priors", {})
    if not isinstance(priors, dict):
        raise ValueError(f"{where} [priors]: must be a table, got {priors!r}")
    bad = set(priors) - set(PRIOR_NAMES)
    if bad:
        raise ValueError(
            f"{where} [priors]: unknown key(s) {sorted(bad)}; known: {sorted(PRIOR_NAMES)} "
            '(each a table such as { dist = "Normal", mu = 0.0, sigma = 0.5 })'
        )
    prior_config = PriorConfig(
        **{k: prior_from_dict(v, f"{where} [priors] {k}") for k, v in priors.items()}
    )
    return ModelSpec(
        name=str(data.get("name", name)),
        builder=str(data.get("builder", "bin_gradient")),
        description=str(data.get("description", "")),
        priors=prior_config,
        structure=_section(StructureConfig, data.get("structure", {}), f"{where} [structure]"),
        data=_section(DataConfig, data.get("data", {}), f"{where} [data]"),
        report=_section(ReportConfig, data.get("report", {}), f"{where} [report]"),
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


def _find(text: str, near: Path | None = None) -> Path:
    path = Path(text)
    if path.suffix == ".toml" or path.is_file():
        candidates = [path] if near is None or path.is_absolute() else [near / path, path]
        for cand in candidates:
            if cand.is_file():
                return cand
        raise FileNotFoundError(f"model spec file not found: {path}")
    dirs = ([near] if near is not None else []) + _search_dirs()
    candidates = [d / f"{text}.toml" for d in dirs]
    for cand in candidates:
        if cand.is_file():
            return cand
    raise FileNotFoundError(
        f"no model spec {text!r}; looked for {[str(c) for c in candidates]}; available: {available_specs()}"
    )


def _load_raw(path: Path, chain: tuple[Path, ...] = ()) -> dict[str, Any]:
    """The TOML of ``path`` merged over its parents (``extends``), in the current layout."""
    here = path.resolve()
    if here in chain:
        names = " -> ".join(p.stem for p in (*chain, here))
        raise ValueError(f"{path}: 'extends' makes a cycle ({names}); a spec cannot extend itself")
    with path.open("rb") as fh:
        try:
            data = tomllib.load(fh)
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"{path}: not valid TOML ({exc})") from exc
    data = _translate_legacy(data, str(path), warn=True)
    parent = data.pop("extends", None)
    data.setdefault("name", path.stem)
    if parent is None:
        return data
    if not isinstance(parent, str):
        raise ValueError(
            f'{path}: extends must name one spec, e.g. extends = "c25"; got {parent!r}'
        )
    try:
        base = _load_raw(_find(parent, near=path.parent), (*chain, here))
    except FileNotFoundError as exc:
        raise FileNotFoundError(f"{path}: extends = {parent!r}: {exc}") from None
    base.pop("name", None)
    base.pop("description", None)  # a variant describes itself
    return _merge(base, data)


def load_model_spec(name_or_path: str | Path) -> ModelSpec:
    """Load a model specification by name (``"c25"``) or path (``"my.toml"``).

    Parameters
    ----------
    name_or_path : str or pathlib.Path
        A TOML file path, or a name looked up as ``models/NAME.toml`` in the
        current directory, then among the specifications installed with the
        package. Its ``extends`` chain is resolved (see the module docstring).

    Returns
    -------
    ModelSpec

    Raises
    ------
    FileNotFoundError
        No such file / name, here or as a parent (the message lists the names available).
    ValueError
        Invalid TOML, unknown keys/values, a bad prior or a cycle of parents.

    Warns
    -----
    SpecLayoutWarning
        A file (or a parent) in the earlier flat layout, with its translation.
    """
    path = _find(str(name_or_path))
    data = _load_raw(path)
    return spec_from_dict(data, name=data.get("name", path.stem), source=str(path))


def prior_variable(prior: Prior, name: str, *, dims=None, transform=None, default_transform=...):
    """The PyMC variable of ``prior`` in the current model, sampled through ``transform``.

    :meth:`Prior.create_variable` takes no transform object; the builders
    give one (:class:`~._math.Standardize`, from a pre-fit), which PyMC chains
    after the family's default transform (log for a positive family), so it
    changes the sampler's coordinates and never the model.

    Parameters
    ----------
    prior : Prior
        Family and parameters (a spec's ``priors.<name>``).
    name : str
        Name of the variable.
    dims : str or tuple of str, optional
    transform : pymc.logprob.transforms.Transform, optional
    default_transform : Transform or None, optional
        Replaces the family's own (None: ``transform`` alone maps the variable,
        e.g. :class:`~._math.SignedStandardize` for a scatter).
    """
    import numpy as np
    import pymc as pm

    extra = {} if transform is None else {"transform": transform}
    if default_transform is not ...:
        extra["default_transform"] = default_transform
    # as float64 arrays: PyTensor would make a float such as 3.0 a float32 constant (lam = 3 -> scale 1/3 to 1e-8)
    params = {k: np.asarray(v, dtype="float64") for k, v in prior.parameters.items()}
    return getattr(pm, prior.distribution)(name, **params, dims=dims, **extra)
