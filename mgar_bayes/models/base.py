"""Shared machinery of the model builders: input checks, sampling, diagnostics, I/O.

A builder is configured by a :class:`~mgar_bayes.models.config.ModelSpec`
(priors, structure, data selection, reporting and sampler settings, frozen),
is found by the name of its ``builder`` in one registry
(:func:`register_builder`, :func:`builder_class`), builds a ``pm.Model`` with its data in
``pm.Data`` containers and named dims, samples it with the configured backend
and returns an ``az.InferenceData`` whose ``attrs`` record the model name, the
spec as JSON, the package version, the seed and a SHA-256 hash of the input.
``save`` writes that InferenceData to netCDF; ``load`` rebuilds the builder (and
its ``pm.Model``) from the file alone.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
import warnings
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import arviz as az
import numpy as np
import pandas as pd
import pymc as pm

from .. import __version__
from ..atomic import atomic_path
from ..binning import AgeBins, age_bin_probability
from ._math import constrained_start
from ._numpyro import FitProgress, sample_numpyro
from .config import (
    BUILDERS,
    DataConfig,
    ModelSpec,
    PriorConfig,
    ReportConfig,
    SamplerConfig,
    StructureConfig,
    spec_from_dict,
)

__all__ = [
    "ModelInputError",
    "DroppedStarsWarning",
    "NotConvergedWarning",
    "StarData",
    "prepare_stars",
    "hash_arrays",
    "ModelBuilder",
    "register_builder",
    "builder_class",
    "diagnostics_table",
    "REQUIRED_STAR_COLUMNS",
]

REQUIRED_STAR_COLUMNS = ("feh", "feh_err", "R_g", "R_g_err", "age", "age_err")
R_HAT_MAX = 1.01


class ModelInputError(ValueError):
    """Star table or bin table that the models cannot use as it is."""


class DroppedStarsWarning(UserWarning):
    """Stars were removed because they lie outside a model's support."""


class NotConvergedWarning(UserWarning):
    """A fit has R-hat > 1.01 or divergent transitions."""


def hash_arrays(arrays: dict[str, Any]) -> str:
    """SHA-256 (hex) of named arrays/strings, independent of dict order."""
    h = hashlib.sha256()
    for key in sorted(arrays):
        h.update(key.encode())
        value = arrays[key]
        if isinstance(value, str):
            h.update(value.encode())
        else:
            arr = np.ascontiguousarray(np.asarray(value))
            if arr.dtype.kind in "OUS":
                h.update("\x1f".join(map(str, arr.ravel())).encode())
            else:
                h.update(str(arr.dtype).encode() + str(arr.shape).encode())
                h.update(arr.tobytes())
    return h.hexdigest()


@dataclass(frozen=True)
class StarData:
    """Stars of one population as the gradient models see them.

    Attributes
    ----------
    feh, feh_err : numpy.ndarray
        Observed [Fe/H] and its uncertainty [dex], shape (n,).
    rg, rg_err : numpy.ndarray
        Observed guiding radius and its uncertainty [kpc].
    age, age_err : numpy.ndarray
        Observed age and its absolute uncertainty [Gyr].
    bin_idx : numpy.ndarray
        Index (into ``bins``) of the bin of the observed age, int.
    prob : numpy.ndarray
        P_ik, probability that star i's true age lies in bin k (C25 eq. A4),
        shape (n, K).
    source_id : numpy.ndarray
        Star identifiers (as strings).
    bins : AgeBins
        The age bins.
    population : str
        'thin', 'thick', or '' when not filtered.
    counts : dict
        Stars in, dropped (by reason) and used.
    age_err_lo, age_err_hi : numpy.ndarray or None
        Asymmetric age uncertainties [Gyr] behind ``prob`` (age minus its 16th
        percentile, 84th percentile minus the age; ``age_err`` where the table
        gave none), or None when P uses the symmetric ``age_err``. A saved fit
        must store them to rebuild ``prob``; :meth:`hash` includes them when
        set, so a file that lacks them does not load as symmetric data.
    """

    feh: np.ndarray
    feh_err: np.ndarray
    rg: np.ndarray
    rg_err: np.ndarray
    age: np.ndarray
    age_err: np.ndarray
    bin_idx: np.ndarray
    prob: np.ndarray
    source_id: np.ndarray
    bins: AgeBins
    population: str = ""
    counts: dict[str, int] = field(default_factory=dict)
    age_err_lo: np.ndarray | None = None
    age_err_hi: np.ndarray | None = None

    @property
    def n(self) -> int:
        return int(self.feh.size)

    def n_per_bin(self) -> np.ndarray:
        return np.bincount(self.bin_idx, minlength=self.bins.n_bins)

    @property
    def own_prob(self) -> np.ndarray:
        """P of each star's own (observed-age) bin."""
        return self.prob[np.arange(self.n), self.bin_idx]

    @property
    def asymmetric_ages(self) -> bool:
        """Whether ``prob`` comes from asymmetric (split-normal) age errors."""
        return self.age_err_lo is not None

    def hash(self) -> str:
        arrays = {
            "feh": self.feh,
            "feh_err": self.feh_err,
            "rg": self.rg,
            "rg_err": self.rg_err,
            "age": self.age,
            "age_err": self.age_err,
            "source_id": self.source_id,
            "edges": np.asarray(self.bins.edges),
            "population": self.population,
        }
        if self.asymmetric_ages:
            # only when set: symmetric data (and fits saved before) keep their hash
            arrays.update(age_err_lo=self.age_err_lo, age_err_hi=self.age_err_hi)
        return hash_arrays(arrays)

    def subset(self, mask: np.ndarray) -> StarData:
        mask = np.asarray(mask, dtype=bool)
        names = ("feh", "feh_err", "rg", "rg_err", "age", "age_err", "bin_idx", "prob", "source_id")
        if self.asymmetric_ages:
            names += ("age_err_lo", "age_err_hi")
        return StarData(
            **{k: getattr(self, k)[mask] for k in names},
            bins=self.bins,
            population=self.population,
            counts={**self.counts, "n_used": int(mask.sum())},
        )


def _check_columns(stars: pd.DataFrame, name: str) -> None:
    if not isinstance(stars, pd.DataFrame):
        raise ModelInputError(f"{name}: expected a pandas DataFrame, got {type(stars).__name__}")
    missing = [c for c in REQUIRED_STAR_COLUMNS if c not in stars.columns]
    if missing:
        raise ModelInputError(
            f"{name}: missing column(s) {missing} needed by the Bayesian models; "
            f"present: {sorted(map(str, stars.columns))}"
        )


AGE_ERR_ASYMMETRIC = ("age_err_lo", "age_err_hi")


def _asymmetric_age_errors(
    table: pd.DataFrame, age_err: np.ndarray, name: str
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """``age_err_lo``, ``age_err_hi`` [Gyr] of a star table, or (None, None).

    A star with either value missing (NaN) uses ``age_err`` on both sides, as
    :func:`~mgar_bayes.binning.age_bin_probability` does. (None, None) when
    the table has neither column.
    """
    present = [c for c in AGE_ERR_ASYMMETRIC if c in table.columns]
    if not present:
        return None, None
    if len(present) == 1:
        other = next(c for c in AGE_ERR_ASYMMETRIC if c not in present)
        raise ModelInputError(
            f"{name}: column '{present[0]}' without '{other}'; asymmetric age errors need both "
            "(or drop it to use the symmetric 'age_err')"
        )
    lo, hi = (pd.to_numeric(table[c], errors="coerce").to_numpy(dtype=float) for c in AGE_ERR_ASYMMETRIC)
    for c, v in zip(AGE_ERR_ASYMMETRIC, (lo, hi), strict=True):
        bad = np.isfinite(v) & (v <= 0)
        if bad.any():
            raise ModelInputError(f"{name}: uncertainty column '{c}' must be > 0; {int(bad.sum())} value(s) are not")
    both = np.isfinite(lo) & np.isfinite(hi)
    return np.where(both, lo, age_err), np.where(both, hi, age_err)


def prepare_stars(
    stars: pd.DataFrame,
    bins: AgeBins,
    priors: StructureConfig | PriorConfig | None = None,
    *,
    population: str | None = None,
    name: str = "stars",
) -> StarData:
    """Validate a star table and turn it into :class:`StarData`.

    Parameters
    ----------
    stars : pandas.DataFrame
        One row per star with ``feh``, ``feh_err`` [dex], ``R_g``, ``R_g_err``
        [kpc], ``age``, ``age_err`` [Gyr]; optionally ``population``,
        ``source_id`` and ``age_err_lo``, ``age_err_hi`` [Gyr] (both: P then
        comes from a split normal, see
        :func:`~mgar_bayes.binning.age_bin_probability`; a star with either
        NaN uses ``age_err``).
    bins : AgeBins
        Age bins; a star belongs to the bin of its observed age.
    priors : StructureConfig, optional
        Gives the [Fe/H] and R_g supports and the age range of P (a spec's
        ``structure``; a spec's ``priors`` answers the same keys).
    population : str, optional
        Keep only rows whose ``population`` equals this.
    name : str
        How to call the table in messages.

    Returns
    -------
    StarData

    Raises
    ------
    ModelInputError
        Missing columns, non-finite values or non-positive uncertainties, only
        one of ``age_err_lo``/``age_err_hi``, or no star left.

    Warns
    -----
    DroppedStarsWarning
        When stars with [Fe/H] outside ``priors.feh_range`` or R_g outside
        ``priors.rg_range`` are dropped (they cannot come from the truncated
        likelihood); the counts are also in ``StarData.counts``.
    """
    priors = priors or StructureConfig()
    _check_columns(stars, name)
    table = stars
    if population is not None:
        if "population" not in stars.columns:
            raise ModelInputError(f"{name}: population={population!r} asked for but no 'population' column")
        table = stars[stars["population"].astype(str) == population]
    n_in = len(table)
    if n_in == 0:
        raise ModelInputError(f"{name}: no stars" + (f" in population {population!r}" if population else ""))
    cols = {}
    for c in REQUIRED_STAR_COLUMNS:
        values = pd.to_numeric(table[c], errors="coerce").to_numpy(dtype=float)
        bad = ~np.isfinite(values)
        if bad.any():
            rows = ", ".join(str(i) for i in table.index[bad][:5])
            raise ModelInputError(
                f"{name}: column '{c}' has {int(bad.sum())} non-finite or non-numeric value(s) "
                f"(rows {rows}{'...' if bad.sum() > 5 else ''}); clean or drop them first"
            )
        if c.endswith("_err") and np.any(values <= 0):
            k = int((values <= 0).sum())
            raise ModelInputError(f"{name}: uncertainty column '{c}' must be > 0; {k} value(s) are not")
        cols[c] = values
    age_lo, age_hi = _asymmetric_age_errors(table, cols["age_err"], name)
    ids = table["source_id"].astype(str).to_numpy() if "source_id" in table.columns else np.asarray(
        [str(i) for i in table.index]
    )
    counts = {"n_input": n_in}
    keep = np.ones(n_in, dtype=bool)
    lo, hi = priors.feh_range
    out_feh = (cols["feh"] < lo) | (cols["feh"] > hi)
    counts["n_dropped_feh_range"] = int(out_feh.sum())
    lo_r, hi_r = priors.rg_range
    out_rg = ~out_feh & ((cols["R_g"] <= lo_r) | (cols["R_g"] >= hi_r))
    counts["n_dropped_rg_range"] = int(out_rg.sum())
    for label, mask, rng in (("[Fe/H]", out_feh, priors.feh_range), ("R_g", out_rg, priors.rg_range)):
        if mask.any():
            warnings.warn(
                f"{name}: dropped {int(mask.sum())} of {n_in} star(s) with {label} outside "
                f"{list(rng)} (outside the model's truncation range)",
                DroppedStarsWarning,
                stacklevel=3,
            )
    keep &= ~out_feh & ~out_rg
    bin_idx = bins.index(cols["age"])
    outside = keep & (bin_idx < 0)
    counts["n_outside_bins"] = int(outside.sum())
    keep &= bin_idx >= 0
    counts["n_used"] = int(keep.sum())
    if counts["n_used"] == 0:
        raise ModelInputError(f"{name}: no star left after the range cuts ({counts})")
    if age_lo is not None:
        age_lo, age_hi = age_lo[keep], age_hi[keep]
        if np.array_equal(age_lo, cols["age_err"][keep]) and np.array_equal(age_hi, cols["age_err"][keep]):
            # nothing asymmetric among the stars used: C25's P, and the hash of symmetric data
            age_lo = age_hi = None
    prob = age_bin_probability(
        cols["age"][keep], cols["age_err"][keep], bins.lo, bins.hi, age_range=priors.age_range,
        age_err_lo=age_lo, age_err_hi=age_hi,
    )  # fmt: skip
    return StarData(
        feh=cols["feh"][keep],
        feh_err=cols["feh_err"][keep],
        rg=cols["R_g"][keep],
        rg_err=cols["R_g_err"][keep],
        age=cols["age"][keep],
        age_err=cols["age_err"][keep],
        bin_idx=bin_idx[keep].astype(np.int64),
        prob=prob,
        source_id=ids[keep],
        bins=bins,
        population=population or "",
        counts=counts,
        age_err_lo=age_lo,
        age_err_hi=age_hi,
    )


def diagnostics_table(
    idata: az.InferenceData, var_names: list[str] | None = None, hdi_prob: float = 0.98
) -> pd.DataFrame:
    """R-hat, bulk/tail ESS, posterior mean/sd/HDI and divergences per parameter.

    Parameters
    ----------
    idata : arviz.InferenceData
    var_names : list of str, optional
        Parameters to summarise (default: all posterior variables).
    hdi_prob : float
        HDI probability.

    Returns
    -------
    pandas.DataFrame
        One row per scalar parameter with columns ``mean, sd, hdi_lo, hdi_hi,
        r_hat, ess_bulk, ess_tail, divergences, converged``; ``converged`` is
        False when R-hat > 1.01 or any transition diverged (divergences are
        counted for the whole fit).
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        s = az.summary(idata, var_names=var_names, hdi_prob=hdi_prob, round_to="none")
    lo_col, hi_col = [c for c in s.columns if c.startswith("hdi_")]
    out = s.rename(columns={lo_col: "hdi_lo", hi_col: "hdi_hi"})[
        ["mean", "sd", "hdi_lo", "hdi_hi", "r_hat", "ess_bulk", "ess_tail"]
    ].copy()
    div = count_divergences(idata)
    out["divergences"] = div
    out["converged"] = (out["r_hat"].fillna(np.inf) <= R_HAT_MAX) & (div == 0)
    return out


def count_divergences(idata: az.InferenceData) -> int:
    if "sample_stats" in idata and "diverging" in idata.sample_stats:
        return int(idata.sample_stats["diverging"].values.sum())
    return 0


def run_sampler(
    model: pm.Model,
    sampler: SamplerConfig,
    *,
    seed: int,
    progress: bool = False,
    drop: tuple[str, ...] = (),
    label: str = "",
) -> az.InferenceData:
    """Sample ``model`` with the backend of ``sampler``; add the log-likelihood.

    Parameters
    ----------
    model : pymc.Model
    sampler : SamplerConfig
    seed : int
        Seed of every random step of the sampler (same seed, same draws).
    progress : bool
        Show on stderr what the fit is doing: compilation, the backend's own
        warm-up and sampling bars (with the time left), post-processing.
        False: nothing at all (PyMC's log messages included).
    drop : tuple of str
        Posterior variables removed after sampling (large latent vectors).
    label : str
        Model and population, the start of every progress line.
    """
    report = FitProgress(label, progress)
    shape = f"{int(sampler.chains)} chains, {int(sampler.tune)} warm-up + {int(sampler.draws)} draws each"
    if sampler.backend == "numpyro":
        idata = sample_numpyro(
            model,
            draws=int(sampler.draws),
            tune=int(sampler.tune),
            chains=int(sampler.chains),
            target_accept=float(sampler.target_accept),
            max_tree_depth=int(sampler.max_tree_depth),
            seed=int(seed),
            progress=progress,
            log_likelihood=bool(sampler.log_likelihood),
            label=label,
        )
        return _drop(idata, drop)
    t0 = time.perf_counter()
    if sampler.backend == "nutpie":
        report.note(f"{shape} (NUTS, nutpie)")
        idata = _sample_nutpie(model, sampler, seed=int(seed), progress=progress, report=report)
    else:
        # PyMC compiles the model inside pm.sample, before its bar appears
        report.note(f"{shape} (NUTS, PyMC); compiling the model, then sampling")
        kwargs: dict[str, Any] = {
            "draws": int(sampler.draws),
            "tune": int(sampler.tune),
            "chains": int(sampler.chains),
            "target_accept": float(sampler.target_accept),
            "random_seed": int(seed),
            "progressbar": progress,
            "quiet": not progress,  # PyMC's log messages (initialisation, timing) are progress too
            "compute_convergence_checks": False,
            "model": model,
            "nuts": {"max_treedepth": int(sampler.max_tree_depth)},
            "cores": int(sampler.cores),
            "initvals": constrained_start(model),
        }
        if int(sampler.cores) > 1 and "jax" in sys.modules:
            # forking a process whose JAX threads are running can deadlock
            kwargs["mp_ctx"] = "forkserver"
        with warnings.catch_warnings():
            # PyMC's own nags (few draws, BLAS) are not what the user needs to see;
            # convergence is checked by diagnostics_table instead.
            warnings.filterwarnings("ignore", message=".*samples per chain.*")
            idata = pm.sample(**kwargs)
    report.note(f"sampled in {time.perf_counter() - t0:.1f} s (compilation included)")
    if sampler.log_likelihood:
        with report.step("log-likelihood"):
            pm.compute_log_likelihood(idata, model=model, extend_inferencedata=True, progressbar=False)
    return _drop(idata, drop)


def _sample_nutpie(
    model: pm.Model, sampler: SamplerConfig, *, seed: int, progress: bool, report: FitProgress
) -> az.InferenceData:
    """nutpie's NUTS, called directly so that its compilation (Numba, often the longest step) is announced.

    Returns what ``pm.sample(nuts_sampler="nutpie")`` returns: nutpie's
    InferenceData with the model's observed and constant data and PyMC's
    ``sampling_time`` / ``tuning_steps`` attributes (the same seed gives the
    same draws as that route).
    """
    import nutpie
    from arviz.data.base import make_attrs
    from pymc.backends.arviz import (
        coords_and_dims_for_inferencedata,
        find_constants,
        find_observations,
    )

    with report.step("compiling the sampler (nutpie)"):
        compiled = nutpie.compile_pymc_model(model)
    t0 = time.time()
    idata = nutpie.sample(
        compiled,
        draws=int(sampler.draws),
        tune=int(sampler.tune),
        chains=int(sampler.chains),
        target_accept=float(sampler.target_accept),
        seed=seed,
        progress_bar=progress,
        cores=int(sampler.cores),
        maxdepth=int(sampler.max_tree_depth),
    )
    attrs = make_attrs({"sampling_time": time.time() - t0, "tuning_steps": int(sampler.tune)}, library=nutpie)
    idata.posterior.attrs.update(attrs)
    coords, dims = coords_and_dims_for_inferencedata(model)
    data = {
        name: az.dict_to_dataset(values, library=pm, coords=coords, dims=dims, default_dims=[])
        for name, values in (("constant_data", find_constants(model)), ("observed_data", find_observations(model)))
    }
    idata.add_groups(data, coords=coords, dims=dims)
    return idata


def _release_jax_executables() -> None:
    """Free the XLA programs compiled for a fit (JAX keeps them until told otherwise).

    Each fit through a JAX route compiles programs for its own data that no later
    fit re-uses, and JAX's caches keep them, with ~500 memory mappings each, until
    the process ends: a loop of ~120 fits in one process (a calibration, a grid of
    variants) then reaches the kernel's mapping limit and LLVM aborts the process.
    Clearing the caches also drops the caller's own compiled JAX functions, which
    recompile on their next call.
    """
    import sys

    jax = sys.modules.get("jax")
    if jax is not None:
        jax.clear_caches()


def _drop(idata: az.InferenceData, names: tuple[str, ...]) -> az.InferenceData:
    present = [v for v in names if v in idata.posterior]
    if present:
        idata.posterior = idata.posterior.drop_vars(present)
    return idata


#: The builders, by the name a spec gives in ``builder`` (filled by :func:`register_builder`).
_REGISTRY: dict[str, type[ModelBuilder]] = {}


def register_builder(name: str):
    """Class decorator: file a :class:`ModelBuilder` under the ``builder`` name of specs.

    Every place that turns a spec or a saved fit into a builder
    (:func:`~mgar_bayes.models.builder_for`, :meth:`ModelBuilder.load`) looks it up here.

    Examples
    --------
    >>> @register_builder("bin_gradient")  # doctest: +SKIP
    ... class BinGradientModel(ModelBuilder): ...
    """
    if name not in BUILDERS:
        raise ValueError(f"builder name {name!r} is not one specs may use: {BUILDERS} (config.BUILDERS)")

    def deco(cls: type[ModelBuilder]) -> type[ModelBuilder]:
        cls.model_type = name
        _REGISTRY[name] = cls
        return cls

    return deco


def builder_class(name: str) -> type[ModelBuilder]:
    """The builder class registered under ``name``; a clear error naming the known ones."""
    if name not in _REGISTRY:
        raise ValueError(f"no model builder {name!r}; known: {sorted(_REGISTRY)}")
    return _REGISTRY[name]


class ModelBuilder(ABC):
    """Base of the MGAR model builders.

    Subclasses are filed with :func:`register_builder` and implement
    :meth:`_prepare` (inputs -> data object), :meth:`_build` (data ->
    ``pm.Model``), :meth:`_data_from_idata` (the inverse of what ``pm.Data``
    stored), :meth:`_data_hash`, and answer :meth:`flattening_rate` and
    :meth:`band`, so that callers never ask which kind of model they hold.

    Parameters
    ----------
    spec : ModelSpec, optional
        The model (default: the class default).
    priors : PriorConfig, optional
        Replace the spec's priors. One made with keys of the earlier flat
        layout (``PriorConfig(rg_treatment="gaussian")``) replaces the
        structure, data and report sections too, as it did then.
    structure, data, report, sampler : optional
        Replace the spec's :class:`~.config.StructureConfig`,
        :class:`~.config.DataConfig`, :class:`~.config.ReportConfig`,
        :class:`~.config.SamplerConfig`.
    """

    model_type: ClassVar[str] = "base"
    default_spec: ClassVar[ModelSpec] = ModelSpec()
    var_summary: ClassVar[tuple[str, ...]] = ("gradient",)
    _registry: ClassVar[dict[str, type[ModelBuilder]]] = _REGISTRY

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        # a subclass that names a spec builder in its own ``model_type`` is filed too (the same
        # registry as register_builder's), so builders written before the decorator keep loading
        name = cls.__dict__.get("model_type")
        if name in BUILDERS and name not in _REGISTRY:
            _REGISTRY[name] = cls

    def __init__(
        self,
        spec: ModelSpec | None = None,
        *,
        priors: PriorConfig | None = None,
        sampler: SamplerConfig | None = None,
        structure: StructureConfig | None = None,
        data: DataConfig | None = None,
        report: ReportConfig | None = None,
    ):
        spec = spec or self.default_spec
        if any(v is not None for v in (priors, sampler, structure, data, report)):
            # a PriorConfig brings the sections it carries (a spec's own, or the legacy keys it was made with)
            carried = priors.sections if priors is not None else (spec.structure, spec.data, spec.report)
            spec = ModelSpec(
                name=spec.name,
                builder=spec.builder,
                description=spec.description,
                priors=priors or spec.priors,
                sampler=sampler or spec.sampler,
                source=spec.source,
                structure=structure or carried[0],
                data=data or carried[1],
                report=report or carried[2],
            )
        self.spec = spec
        self.model: pm.Model | None = None
        self.idata: az.InferenceData | None = None
        self.data: Any = None

    # -- configuration -------------------------------------------------------------
    @property
    def priors(self) -> PriorConfig:
        """The spec's priors (they also answer the legacy flat keys of its other sections)."""
        return self.spec.priors

    @property
    def structure(self) -> StructureConfig:
        return self.spec.structure

    @property
    def report(self) -> ReportConfig:
        return self.spec.report

    @property
    def sampler(self) -> SamplerConfig:
        return self.spec.sampler

    @property
    def name(self) -> str:
        return self.spec.name

    # -- to implement --------------------------------------------------------------
    @abstractmethod
    def _prepare(self, *args, **kwargs) -> Any:
        """Validate the inputs and return the data object the model is built from."""

    @abstractmethod
    def _build(self, data: Any) -> pm.Model:
        """Create the ``pm.Model`` (data in ``pm.Data``, named dims)."""

    @classmethod
    @abstractmethod
    def _data_from_idata(cls, idata: az.InferenceData) -> Any:
        """Rebuild the data object from a saved InferenceData."""

    @abstractmethod
    def _data_hash(self, data: Any) -> str:
        """SHA-256 of the data the model sees."""

    def _extra_attrs(self, data: Any) -> dict[str, Any]:
        return {}

    _latent_vars: ClassVar[tuple[str, ...]] = ()

    @abstractmethod
    def flattening_rate(self) -> dict[str, float]:
        """Posterior of the MGAR slope [dex/kpc/Gyr]: ``mean, sd, hdi_lo, hdi_hi`` (``report.hdi_prob``)."""

    def extra_tables(self) -> dict[str, pd.DataFrame]:
        """Tables a fit writes beside the common ones (file name -> table); none by default."""
        return {}

    @abstractmethod
    def band(self, ages: np.ndarray | None = None) -> pd.DataFrame:
        """Posterior mean and HDI band of the MGAR line at ``ages`` [Gyr] (see :func:`~.gradient.line_band`)."""

    # -- public API ----------------------------------------------------------------
    def build_model(self, *args, **kwargs) -> pm.Model:
        """Prepare the inputs (same arguments as :meth:`fit`) and build the model."""
        self.data = self._prepare(*args, **kwargs)
        self.model = self._build(self.data)
        return self.model

    def fit(self, *args, seed: int = 0, progress: bool = False, **kwargs) -> az.InferenceData:
        """Build the model for the inputs and sample its posterior.

        Parameters
        ----------
        *args, **kwargs
            The inputs (see the subclass's ``_prepare``).
        seed : int
            Random seed of the sampler; the same seed gives the same draws.
        progress : bool
            Show progress bars.

        Returns
        -------
        arviz.InferenceData
            Groups ``posterior``, ``sample_stats``, ``observed_data``,
            ``constant_data``, ``log_likelihood``; ``attrs`` hold ``model``,
            ``model_name``, ``config`` (JSON), ``mgar_bayes_version``,
            ``seed``, ``data_sha256``, ``converged`` and the diagnostics.

        Warns
        -----
        NotConvergedWarning
            R-hat > 1.01 or divergent transitions.
        """
        self.build_model(*args, **kwargs)
        return self.sample(seed=seed, progress=progress)

    def sample(self, *, seed: int = 0, progress: bool = False) -> az.InferenceData:
        """Sample the already built model (see :meth:`fit`)."""
        if self.model is None:
            raise RuntimeError("build the model first: call fit() or build_model()")
        try:
            idata = self._run_sampler(seed, progress)
        finally:
            _release_jax_executables()
        self.idata = self._postprocess(idata, seed)
        self._check_convergence()
        return self.idata

    def _run_sampler(self, seed: int, progress: bool) -> az.InferenceData:
        """Sample :attr:`model` with the configured backend (subclasses may route differently)."""
        return run_sampler(self.model, self.sampler, seed=seed, progress=progress, label=self._progress_label())

    def _postprocess(self, idata: az.InferenceData, seed: int) -> az.InferenceData:
        """The one step every sampler's InferenceData goes through, whatever the backend or route.

        Drops the latent per-star variables unless ``sampler.keep_latent``,
        records the attrs (:meth:`_set_attrs`: spec, seed, data hash,
        diagnostics) and puts the population as a scalar coordinate on every
        group (:func:`~.populations.stack_populations` turns it into a dim).
        """
        if not self.sampler.keep_latent:
            idata = _drop(idata, self._latent_vars)
        idata = self._set_attrs(idata, seed)
        population = getattr(self.data, "population", "")
        if population:
            for group in idata.groups():
                getattr(idata, group).coords["population"] = population
        return idata

    def _progress_label(self) -> str:
        """Model and population, e.g. ``"marginal thin"``: the start of every progress line of a fit."""
        return f"{self.name} {getattr(self.data, 'population', '') or ''}".strip()

    def _set_attrs(self, idata: az.InferenceData, seed: int) -> az.InferenceData:
        diag = self.diagnostics(idata)
        attrs = {
            "model": self.model_type,
            "model_name": self.name,
            "config": self.spec.to_json(),
            "mgar_bayes_version": __version__,
            "seed": int(seed),
            "data_sha256": self._data_hash(self.data),
            "max_r_hat": float(np.max(diag["r_hat"].fillna(np.inf).to_numpy())),
            "min_ess_bulk": float(np.nanmin(diag["ess_bulk"].to_numpy())),
            "divergences": int(diag["divergences"].iloc[0]),
            "converged": int(bool(diag["converged"].all())),
            "convergence": "converged" if diag["converged"].all() else "not converged",
            **self._extra_attrs(self.data),
        }
        # netCDF attributes must be str / numbers: store everything so
        idata.attrs.update(attrs)
        for group in idata.groups():
            getattr(idata, group).attrs.update({k: attrs[k] for k in ("model", "seed", "data_sha256")})
        return idata

    def _check_convergence(self) -> None:
        if self.idata is not None and not self.idata.attrs.get("converged", 1):
            a = self.idata.attrs
            warnings.warn(
                f"{self.name} ({a.get('population', '')}): not converged: max R-hat "
                f"{a['max_r_hat']:.3f} (limit {R_HAT_MAX}), {a['divergences']} divergence(s); "
                "increase tune/draws or target_accept",
                NotConvergedWarning,
                stacklevel=3,
            )

    def diagnostics(self, idata: az.InferenceData | None = None) -> pd.DataFrame:
        """Diagnostics table of the summarised parameters (see :func:`diagnostics_table`)."""
        idata = idata if idata is not None else self._require_idata()
        names = [v for v in self.var_summary if v in idata.posterior]
        return diagnostics_table(idata, names, hdi_prob=self.report.hdi_prob)

    @property
    def converged(self) -> bool:
        return bool(self._require_idata().attrs.get("converged", 0))

    def _require_idata(self) -> az.InferenceData:
        if self.idata is None:
            raise RuntimeError("the model has not been fitted: call fit() first")
        return self.idata

    def save(self, path: str | Path) -> Path:
        """Write the fitted InferenceData (with its attrs) to netCDF, atomically; returns the path."""
        idata = self._require_idata()
        path = Path(path)
        with atomic_path(path) as tmp:
            idata.to_netcdf(str(tmp))
        return path

    @classmethod
    def load(cls, path: str | Path) -> ModelBuilder:
        """Restore a builder (spec, data, ``pm.Model`` and InferenceData) from :meth:`save`.

        Called on :class:`ModelBuilder` it returns an instance of the class
        recorded in the file; on a subclass, the file must be of that class.
        """
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no such file: {path}")
        idata = az.from_netcdf(str(path))
        kind = idata.attrs.get("model")
        if kind not in _REGISTRY:
            raise ValueError(f"{path}: not a mgar_bayes model file (attrs['model'] = {kind!r})")
        target = _REGISTRY[kind]
        if cls is not ModelBuilder and not issubclass(target, cls):
            raise ValueError(f"{path}: holds a {kind!r} model, not {cls.model_type!r}")
        spec = spec_from_dict(json.loads(idata.attrs["config"]), source=str(path))
        builder = target(spec)
        builder.data = target._data_from_idata(idata)
        if builder._data_hash(builder.data) != idata.attrs.get("data_sha256"):
            raise ValueError(f"{path}: the stored data do not match the stored hash")
        builder.model = builder._build(builder.data)
        builder.idata = idata
        return builder
