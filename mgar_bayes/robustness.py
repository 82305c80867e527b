"""Robustness of the MGAR to the analysis choices (C25 App. B, C; V21 Sect. 4.1).

A :class:`Variant` changes one thing relative to the baseline: the selection
(chemical line shifted, Z_max-only or chemistry-only slices, V21's line), the
Galaxy (potential, R0, v0) or the data (age-error cut, RGB/RC only, thick-disk
stars beyond R_g = 10 kpc removed). Orbits are computed once per distinct Galaxy
set-up and re-used by every variant that shares it; distinct set-ups run in
parallel processes. Given an executor (a Dask client's), the set-ups and then
every variant's fits run on it.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .binning import AgeBins
from .config import PipelineConfig, config_hash
from .ols import fit_bins
from .pipeline import preprocess
from .selection import (
    Selection,
    assign_populations,
    chem_above,
    chem_below,
    chemistry_slices_v21,
    population_selections,
    v21_high_quality,
    zmax_bins,
)

__all__ = ["Variant", "default_variants", "run_robustness", "compare_to_baseline", "ROBUSTNESS_COLUMNS"]

ROBUSTNESS_COLUMNS = [
    "variant", "group", "setting", "value", "population", "method",
    "age_center", "n_stars", "gradient", "gradient_err",
]  # fmt: skip


@dataclass(frozen=True)
class Variant:
    """One analysis variant.

    Attributes
    ----------
    name : str
        Unique label, e.g. ``"v0=200"``.
    group : str
        ``"selection"``, ``"galaxy"`` or ``"data"``.
    setting, value : str
        What is varied and its value (tidy columns of the output table).
    config : PipelineConfig
        Pipeline settings (its galaxy/orbits/cuts decide which orbits are used).
    selections : dict of Selection, optional
        Populations to fit; default: thin/thick of ``config.selection``.
    star_filter : callable, optional
        ``filter(stars) -> bool mask`` applied after preprocessing (data variants).
    radius : str
        Abscissa of the per-bin fits: ``"R_g"`` or the present-day ``"R"`` (V21 Sect. 3.1).
    """

    name: str
    group: str
    setting: str
    value: str
    config: PipelineConfig = field(default_factory=PipelineConfig)
    selections: dict[str, Selection] | None = None
    star_filter: Callable[[pd.DataFrame], np.ndarray] | None = None
    radius: str = "R_g"

    def orbit_key(self) -> str:
        """Variants with equal keys share one preprocessing run."""
        c = self.config
        return config_hash({"galaxy": c.galaxy, "orbits": c.orbits, "cuts": c.cuts})


def _no_zmax(shift: float, line: str = "C25") -> dict[str, Selection]:
    return {"thin": chem_below(line, shift), "thick": chem_above(line, shift)}


def default_variants(base: PipelineConfig | None = None) -> list[Variant]:
    """The grid of C25 App. B/C and V21 Sect. 4.1 (plus C25 Sect. 3.2's R_g > 10 test)."""
    base = base or PipelineConfig()
    v: list[Variant] = [Variant("baseline", "baseline", "baseline", "C25", base)]
    # selections (orbits re-used)
    for s in (-0.1, 0.0, 0.1):
        v.append(Variant(f"chem{s:+.1f} no Zmax", "selection", "chem_shift_no_zmax", f"{s:+.1f}", base, _no_zmax(s)))
    v.append(Variant("Zmax only", "selection", "zmax_only", "C25 B2", base, zmax_bins()))
    v.append(Variant("chemistry only (V21 slices)", "selection", "chem_only", "V21 Fig. 10", base, chemistry_slices_v21()))
    v.append(
        Variant("V21 line", "selection", "chem_line", "V21", base,
                population_selections(dataclasses.replace(base.selection, chem_line="V21")))
    )  # fmt: skip
    # Galaxy set-ups (orbits recomputed, once each)
    for pot in ("McMillan17", "Irrgang13I"):
        v.append(Variant(f"potential={pot}", "galaxy", "potential", pot, base.replace(galaxy={"potential": pot})))
    for R0 in (7.0, 9.5):
        v.append(Variant(f"R0={R0:g}", "galaxy", "R0", f"{R0:g}", base.replace(galaxy={"R0": R0})))
    for v0 in (200.0, 260.0):
        v.append(Variant(f"v0={v0:g}", "galaxy", "v0", f"{v0:g}", base.replace(galaxy={"v0": v0})))
    # data
    strict = base.cuts.max_age_rel_err if base.cuts.max_age_rel_err is not None else np.inf
    v.append(
        Variant("age error <= 25%", "data", "max_age_rel_err", "0.25", base,
                star_filter=lambda s: (s["age_err"] / s["age"] <= min(0.25, strict)).to_numpy())
    )  # fmt: skip
    for stage in ("RGB", "RC"):
        v.append(
            Variant(f"{stage} only", "data", "evol_stage", stage, base,
                    star_filter=lambda s, stage=stage: (s.get("evol_stage", pd.Series("", index=s.index)) == stage).to_numpy())
        )  # fmt: skip
    v.append(
        Variant("thick R_g <= 10 kpc", "data", "thick_Rg_max", "10", base,
                star_filter=lambda s: ~((s["population"] == "thick") & (s["R_g"] > 10.0)).to_numpy())
    )  # fmt: skip
    v.append(Variant("V21 high quality", "data", "v21_high_quality", "V21 4.1.4", base, star_filter=_v21_hq))
    v.append(Variant("present-day R", "data", "radius", "R", base, radius="R"))
    return v


def _v21_hq(stars: pd.DataFrame) -> np.ndarray:
    # a catalogue without teff/logg has no such subsample: the variant's bins then hold no star
    if not {"teff", "logg"} <= set(stars.columns):
        return np.zeros(len(stars), dtype=bool)
    return v21_high_quality()(stars)


def _preprocess_job(args):
    catalogue, cfg = args
    stars, flow, info = preprocess(catalogue, cfg)
    return stars, info


def run_robustness(
    catalogue: pd.DataFrame,
    variants: list[Variant] | None = None,
    *,
    methods: tuple[str, ...] = ("ols",),
    n_jobs: int = 2,
    min_stars: int = 10,
    bayes_spec: str = "marginal",
    bayes_overrides: dict | None = None,
    seed: int = 0,
    bayes_method: str = "laplace",
    executor=None,
) -> tuple[pd.DataFrame, dict]:
    """Fit every variant; return the tidy table and the preprocessing info per set-up.

    Parameters
    ----------
    catalogue : pandas.DataFrame
        Canonical star table.
    variants : list of Variant
        Default: :func:`default_variants`.
    methods : tuple of str
        Per-bin fit methods: ``"ols"``, ``"odr"`` and/or ``"bayes"`` (the model
        spec ``bayes_spec`` per variant and population; slow).
    n_jobs : int
        Processes for the distinct Galaxy set-ups (1: no subprocesses).
    min_stars : int
        Bins with fewer stars get NaN gradients.
    bayes_spec : str
        Model spec for ``"bayes"`` (default: the fast marginal C25 model).
    bayes_overrides : dict, optional
        Changes to that spec, e.g. ``{"sampler": {"draws": 300}}``.
    seed : int
        Sampler seed for ``"bayes"``.
    bayes_method : str
        ``"laplace"`` (default for a per-bin spec: each bin's Laplace
        approximation, checked by PSIS, NUTS for a bin that fails) or
        ``"nuts"`` (see :mod:`mgar_bayes.models.laplace`).
    executor : concurrent.futures.Executor, optional
        Runs the units of work with its ``map``, e.g. a Dask cluster's
        ``client.get_executor()``: first the preprocessing of each Galaxy
        set-up, then the fits of each variant (its selected stars only). None:
        the set-ups in ``n_jobs`` local processes, the fits here. The results
        do not depend on where they ran.

    Returns
    -------
    table : pandas.DataFrame
        Columns :data:`ROBUSTNESS_COLUMNS`.
    setups : dict
        ``{orbit_key: info}`` of each preprocessing run (timings, sample sizes).
    """
    variants = variants or default_variants()
    names = [v.name for v in variants]
    if len(set(names)) != len(names):
        raise ValueError(f"variant names must be unique: {names}")
    # the first variant of each key decides its preprocessing; every key is run once
    jobs: dict[str, PipelineConfig] = {}
    for v in variants:
        jobs.setdefault(v.orbit_key(), v.config)
    keys = list(jobs)
    if executor is not None:
        results = list(executor.map(_preprocess_job, [(catalogue, jobs[k]) for k in keys]))
    elif n_jobs > 1 and len(keys) > 1:
        # spawn, not fork: forking a process that already runs threads (JAX, BLAS,
        # a Jupyter kernel) can deadlock the children
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=min(n_jobs, len(keys)), mp_context=ctx) as ex:
            results = list(ex.map(_preprocess_job, [(catalogue, jobs[k]) for k in keys]))
    else:
        results = [_preprocess_job((catalogue, jobs[k])) for k in keys]
    pre = dict(zip(keys, results, strict=True))

    # the selections are cheap and run here; each variant's fits are a unit of work that gets
    # only its selected stars (tens of thousands at most), not the clean sample
    units = [_fit_unit(v, pre[v.orbit_key()][0], methods, min_stars, bayes_spec, bayes_overrides, seed,
                       bayes_method) for v in variants]  # fmt: skip
    if executor is not None:
        fitted = list(executor.map(_fit_job, units))
    else:
        fitted = [_fit_job(u) for u in units]

    rows = []
    for v, fits in zip(variants, fitted, strict=True):
        for r in fits.itertuples(index=False):
            rows.append(
                {
                    "variant": v.name, "group": v.group, "setting": v.setting, "value": v.value,
                    "population": r.population, "method": r.method, "age_center": r.age_center,
                    "n_stars": r.n_stars, "gradient": r.gradient, "gradient_err": r.gradient_err,
                }
            )  # fmt: skip
    return pd.DataFrame(rows, columns=ROBUSTNESS_COLUMNS), {k: info for k, (_, info) in pre.items()}




@dataclass(frozen=True)
class _FitUnit:
    """The fits of one variant: its selected stars and what to fit (a picklable unit of work)."""

    stars: pd.DataFrame
    bins: AgeBins
    populations: tuple[str, ...]
    methods: tuple[str, ...]
    min_stars: int
    radius: str
    bayes: tuple | None  # (spec name, overrides, seed, method) when "bayes" is asked for


def _fit_unit(v: Variant, clean: pd.DataFrame, methods, min_stars, bayes_spec, bayes_overrides, seed,
              bayes_method) -> _FitUnit:  # fmt: skip
    sels = v.selections or population_selections(v.config.selection)
    stars = clean.assign(population=assign_populations(clean, sels))
    if v.star_filter is not None:
        stars = stars.loc[np.asarray(v.star_filter(stars), dtype=bool)]
    stars = stars.loc[stars["population"].isin(list(sels)).to_numpy()]
    bayes = (bayes_spec, bayes_overrides, seed, bayes_method) if "bayes" in methods else None
    return _FitUnit(stars, AgeBins.from_config(v.config.binning), tuple(sels), tuple(methods), min_stars,
                    v.radius, bayes)  # fmt: skip


def _fit_job(u: _FitUnit) -> pd.DataFrame:
    """Per-bin fits of one variant, in the per-bin fit table's layout."""
    freq = tuple(m for m in u.methods if m != "bayes")
    fits = (fit_bins(u.stars, u.bins, methods=freq, populations=list(u.populations), min_stars=u.min_stars,
                     x=u.radius) if freq else None)  # fmt: skip
    if u.bayes is not None:
        # the models read R_g: give them the present-day radius under that name
        stars = u.stars.assign(R_g=u.stars["R"], R_g_err=u.stars["R_err"]) if u.radius == "R" else u.stars
        bayes = _bayes_fits(stars, u.bins, list(u.populations), *u.bayes)
        fits = bayes if fits is None else pd.concat([fits, bayes], ignore_index=True)
    return fits


def _bayes_fits(stars, bins, populations, spec_name, overrides, seed, method="laplace") -> pd.DataFrame:
    """Posterior mean and sd of each bin's gradient, in the per-bin fit table's layout."""
    import warnings

    from .models import builder_for, load_model_spec

    spec = load_model_spec(spec_name)
    if spec.builder == "bin_gradient":  # the Laplace route is for per-bin models
        spec = spec.replace({"sampler": {"method": method}})
    spec = spec.replace(overrides)
    rows = []
    for pop in populations:
        if not (stars["population"] == pop).any():
            continue
        model = builder_for(spec)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # drops and convergence are in the table
            model.fit(stars, bins, population=pop, seed=seed)
        t = model.gradient_table()
        t["method"] = "bayes"
        rows.append(t[["population", "method", "age_center", "n_stars", "gradient", "gradient_err"]])
    cols = ["population", "method", "age_center", "n_stars", "gradient", "gradient_err"]
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(columns=cols)


def compare_to_baseline(table: pd.DataFrame, baseline: str = "baseline") -> pd.DataFrame:
    """Shift of each variant's gradient from the baseline, in units of the combined error.

    Only populations the baseline also has (thin/thick) are compared, bin by bin.

    Returns
    -------
    pandas.DataFrame
        Per variant, population, method and age bin: ``gradient``,
        ``gradient_base`` [dex/kpc], ``shift_sigma`` = difference / quadrature sum
        of both errors (the two samples overlap, so this overstates the
        significance of a shift: read it as a scale, not a test).
    """
    keys = ["population", "method", "age_center"]
    base = table[table["variant"] == baseline][keys + ["gradient", "gradient_err"]]
    other = table[table["variant"] != baseline]
    m = other.merge(base, on=keys, suffixes=("", "_base"), how="inner")
    m["shift_sigma"] = (m["gradient"] - m["gradient_base"]) / np.hypot(m["gradient_err"], m["gradient_err_base"])
    return m[["variant", "group", "setting", "value", *keys, "gradient", "gradient_base", "shift_sigma"]]
