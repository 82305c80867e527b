"""Posterior vs OLS per bin, prior sensitivity, power-scaling sensitivity and LOO model comparison."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

import arviz as az
import numpy as np
import pandas as pd
import xarray as xr

from ..binning import AgeBins
from ..ols import FIT_COLUMNS
from .base import ModelBuilder
from .config import ModelSpec, load_model_spec

__all__ = [
    "compare_with_ols",
    "prior_sensitivity",
    "add_log_prior",
    "power_scaling_sensitivity",
    "compare_loo",
]

#: Columns of the OLS/ODR table compared with (those of :mod:`mgar_bayes.ols`).
OLS_COLUMNS = FIT_COLUMNS


def compare_with_ols(
    posterior_table: pd.DataFrame, ols_table: pd.DataFrame, *, method: str = "ols"
) -> pd.DataFrame:
    """Per-bin difference posterior - OLS in units of the combined error.

    Parameters
    ----------
    posterior_table : pandas.DataFrame
        Rows of ``mgar_bayes.csv`` (``population, model, age_lo, age_hi,
        gradient, gradient_err, ...``).
    ols_table : pandas.DataFrame
        The OLS table (``population, method, age_lo, age_hi, age_center,
        n_stars, gradient, gradient_err, intercept``).
    method : str
        Which OLS ``method`` rows to compare with ('ols' or 'odr').

    Returns
    -------
    pandas.DataFrame
        ``population, model, method, age_lo, age_hi, age_center,
        gradient_bayes, gradient_bayes_err, gradient_ols, gradient_ols_err,
        diff, combined_err, z`` with diff = Bayes - OLS [dex/kpc] and
        z = diff / sqrt(err_bayes^2 + err_ols^2); bins in only one table are
        left out.
    """
    missing = [
        c
        for c in ("population", "method", "age_lo", "age_hi", "gradient", "gradient_err")
        if c not in ols_table.columns
    ]
    if missing:
        raise ValueError(f"OLS table: missing column(s) {missing}")
    ols = ols_table[ols_table["method"] == method].copy()
    post = posterior_table.copy()
    for t in (ols, post):
        # join on rounded edges: the two tables compute edges independently
        t["_lo"] = t["age_lo"].round(6)
        t["_hi"] = t["age_hi"].round(6)
    merged = post.merge(
        ols[["population", "_lo", "_hi", "gradient", "gradient_err", "method"]],
        on=["population", "_lo", "_hi"],
        suffixes=("_bayes", "_ols"),
    )
    merged["diff"] = merged["gradient_bayes"] - merged["gradient_ols"]
    merged["combined_err"] = np.hypot(merged["gradient_err_bayes"], merged["gradient_err_ols"])
    merged["z"] = merged["diff"] / merged["combined_err"]
    cols = [
        "population",
        "model",
        "method",
        "age_lo",
        "age_hi",
        "age_center",
        "gradient_bayes",
        "gradient_err_bayes",
        "gradient_ols",
        "gradient_err_ols",
        "diff",
        "combined_err",
        "z",
    ]
    out = merged[cols].rename(
        columns={"gradient_err_bayes": "gradient_bayes_err", "gradient_err_ols": "gradient_ols_err"}
    )
    return out.reset_index(drop=True)


def prior_sensitivity(
    stars: pd.DataFrame,
    bins: AgeBins,
    specs: Sequence[str | ModelSpec] = ("c25", "c25_wide", "c25_narrow", "c25_scatter"),
    *,
    population: str = "thin",
    seed: int = 0,
    overrides: dict | None = None,
    progress: bool = False,
    method: str = "laplace",
) -> pd.DataFrame:
    """Re-fit under each prior set and report how far each bin's posterior moves.

    Parameters
    ----------
    stars, bins
        As for :meth:`BinGradientModel.fit`.
    specs : sequence of str or ModelSpec
        Model specs (names in ``models/``, TOML paths or objects); the first is
        the reference.
    population : str
        Population to fit.
    seed : int
        Seed of every fit.
    overrides : dict, optional
        Applied to every spec (e.g. ``{"sampler": {"draws": 300}}``).
    method : str
        Fit method of the per-bin specs: ``"laplace"`` (default: each bin's
        Laplace approximation, checked by PSIS, NUTS for a bin that fails;
        :mod:`~mgar_bayes.models.laplace`) or ``"nuts"``.

    Returns
    -------
    pandas.DataFrame
        One row per spec and bin: ``spec, population, age_lo, age_hi,
        age_center, gradient, gradient_err, shift_sd, sd_ratio`` where
        shift_sd = (mean - mean_ref) / sd_ref and sd_ratio = sd / sd_ref.
    """
    from . import builder_for

    tables = []
    for s in specs:
        spec = load_model_spec(s) if isinstance(s, str) else s
        if spec.builder == "bin_gradient":
            spec = spec.replace({"sampler": {"method": method}})
        spec = spec.replace(overrides)
        builder = builder_for(spec)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            builder.fit(stars, bins, population=population, seed=seed, progress=progress)
        t = builder.gradient_table()
        t["spec"] = spec.name
        tables.append(t)
    ref = tables[0].set_index("age_lo")
    rows = []
    for t in tables:
        t = t.set_index("age_lo")
        common = t.index.intersection(ref.index)
        t = t.loc[common].copy()
        t["shift_sd"] = (t["gradient"] - ref.loc[common, "gradient"]) / ref.loc[
            common, "gradient_err"
        ]
        t["sd_ratio"] = t["gradient_err"] / ref.loc[common, "gradient_err"]
        rows.append(t.reset_index())
    out = pd.concat(rows, ignore_index=True)
    return out[
        [
            "spec",
            "population",
            "age_lo",
            "age_hi",
            "age_center",
            "gradient",
            "gradient_err",
            "shift_sd",
            "sd_ratio",
        ]
    ]


def add_log_prior(builder: ModelBuilder) -> az.InferenceData:
    """Add a ``log_prior`` group: each draw's log prior density of every parameter, from the model's own graph.

    The terms are PyMC's ``logp`` of the model's free variables, taken in
    their own (constrained) values without transforms or Jacobians, as
    ``pm.compute_log_prior`` does; it is not called itself because it needs
    every free variable in the posterior, and the per-star latent R_g is not
    kept (it is a measurement model rather than a prior to be scaled, and
    the priors of the bins and of the MGAR line do not depend on it). So a
    prior family changed in a spec changes these terms too.

    Raises
    ------
    RuntimeError
        A prior depends on a variable the posterior does not hold.
    """
    from pymc.model.transform.conditioning import remove_value_transforms

    idata = builder._require_idata()
    post = idata.posterior
    model = remove_value_transforms(builder.model)
    latent = set(getattr(builder, "_latent_vars", ()))
    names = [rv.name for rv in model.free_RVs if rv.name in post and rv.name not in latent]
    rvs = [model[n] for n in names]
    values = [model.rvs_to_values[rv] for rv in rvs]
    terms = model.logp(vars=rvs, sum=False, jacobian=False)
    try:
        fn = model.compile_fn(terms, inputs=values, on_unused_input="ignore", point_fn=False)
    except Exception as exc:  # noqa: BLE001 - a prior that needs a variable left out of the posterior
        raise RuntimeError(
            f"log prior: a prior needs a variable the posterior does not hold ({exc})"
        ) from exc
    draws = {n: post[n].values for n in names}
    n_chain, n_draw = post.sizes["chain"], post.sizes["draw"]
    out = {n: np.empty(draws[n].shape) for n in names}
    for c in range(n_chain):
        for i in range(n_draw):
            for n, v in zip(names, fn(*(draws[m][c, i] for m in names)), strict=True):
                out[n][c, i] = v
    lp = {n: xr.DataArray(out[n], coords=post[n].coords, dims=post[n].dims) for n in names}
    if "log_prior" in idata:
        del idata["log_prior"]
    idata.add_groups({"log_prior": xr.Dataset(lp)})
    return idata


def power_scaling_sensitivity(
    builder: ModelBuilder, var_names: Sequence[str] = ("gradient",)
) -> pd.DataFrame:
    """ArviZ power-scaling sensitivity (``az.psens``, Kallioinen et al. 2024) of a fit.

    Returns
    -------
    pandas.DataFrame
        Index: parameter (e.g. ``gradient[1-2.25]``); columns ``prior`` and
        ``likelihood`` (cumulative Jensen-Shannon distance per unit log
        power-scaling), ``prior_sensitive`` (prior > 0.05 and likelihood >
        0.05: prior-data conflict or strong prior influence).
    """
    if not hasattr(az, "psens"):  # pragma: no cover - arviz < 0.20
        raise RuntimeError("this ArviZ has no psens")
    idata = add_log_prior(builder)
    if "log_likelihood" not in idata:
        raise RuntimeError("power-scaling needs the log-likelihood: sampler.log_likelihood = true")
    out = {}
    for comp in ("prior", "likelihood"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = az.psens(idata, component=comp, var_names=list(var_names))
        if isinstance(ds, xr.DataArray):  # one variable: psens returns a DataArray
            ds = ds.to_dataset(name=var_names[0])
        vals = {}
        for name in var_names:
            da = ds[name]
            if da.ndim == 0:
                vals[name] = float(da)
            else:
                dim = da.dims[0]
                for lab, v in zip(da[dim].values, da.values, strict=True):
                    vals[f"{name}[{lab}]"] = float(v)
        out[comp] = vals
    df = pd.DataFrame(out)
    df["prior_sensitive"] = (df["prior"] > 0.05) & (df["likelihood"] > 0.05)
    return df


def compare_loo(
    fits: Mapping[str, ModelBuilder | az.InferenceData | str | Path], *, var_name: str = "feh"
) -> pd.DataFrame:
    """Compare fits of the same stars by PSIS-LOO (``az.compare``): which model predicts them best.

    The observed quantity is each star's [Fe/H], and each model's
    pointwise log-likelihood is its density p([Fe/H]_i | parameters), the
    age mixture summed over the bins, so fits with different binnings (the
    smooth model's fine bins, the hierarchical model's C25 bins) and
    different gradient models are compared on the same footing, as long as
    they saw the same stars (same age range, hence the same cuts).

    Parameters
    ----------
    fits : mapping of str to ModelBuilder, arviz.InferenceData or path
        Model name -> fitted builder, its InferenceData or a posterior file
        (``posterior_<population>_<model>.nc`` of ``mgar fit``), each with a
        ``log_likelihood`` group (``sampler.log_likelihood = true``, ``mgar
        fit --log-likelihood``).
    var_name : str
        The observed variable.

    Returns
    -------
    pandas.DataFrame
        ``az.compare``'s table, best model first (``rank, elpd_loo, p_loo,
        elpd_diff, weight, se, dse, warning, scale``), plus ``diff_over_dse``
        (elpd_diff / dse: above ~2 the better model is clearly better, below
        ~1 the data do not tell them apart), ``pareto_k_max`` and
        ``n_bad_k``: stars whose Pareto k exceeds ArviZ's threshold,
        min(1 - 1 / log10(draws), 0.7) (0.64 for 600 draws), whose LOO term
        is unreliable; ``warning`` is True when any is.

    Raises
    ------
    ValueError
        Fewer than two fits, a fit without the log-likelihood, or fits of
        different stars.
    """
    if len(fits) < 2:
        raise ValueError(f"compare_loo needs at least two fits, got {len(fits)}")
    idatas: dict[str, az.InferenceData] = {}
    for name, fit in fits.items():
        if isinstance(fit, str | Path):
            idata = az.from_netcdf(str(fit))
        else:
            idata = fit._require_idata() if isinstance(fit, ModelBuilder) else fit
        if "log_likelihood" not in idata or var_name not in idata.log_likelihood:
            raise ValueError(
                f"fit {name!r} has no pointwise log-likelihood of {var_name!r}: fit it with "
                "sampler.log_likelihood = true (mgar fit --log-likelihood)"
            )
        idatas[name] = idata
    ref_name, ref = next(iter(idatas.items()))
    ref_obs = ref.observed_data[var_name]
    for name, idata in idatas.items():
        obs = idata.observed_data[var_name]
        same = obs.shape == ref_obs.shape and np.array_equal(obs.values, ref_obs.values)
        if same and "star" in obs.coords and "star" in ref_obs.coords:
            same = np.array_equal(obs["star"].values, ref_obs["star"].values)
        if not same:
            raise ValueError(
                f"fits {ref_name!r} and {name!r} are not of the same stars ({ref_obs.size} and "
                f"{obs.size} observations); LOO compares models of the same data only"
            )
    loos = {}
    with warnings.catch_warnings():
        # a high Pareto k is reported in the table (n_bad_k, warning), not as a warning per model
        warnings.simplefilter("ignore", UserWarning)
        # ArviZ's own sort_values(inplace=True), deprecated by pandas: not the caller's concern
        warnings.filterwarnings("ignore", message=".*inplace keyword.*")
        for name, idata in idatas.items():
            loos[name] = az.loo(idata, pointwise=True, var_name=var_name)
        table = az.compare(loos, ic="loo")
    k = {name: np.asarray(loo.pareto_k) for name, loo in loos.items()}
    table["pareto_k_max"] = [float(np.max(k[n])) for n in table.index]
    good = {name: float(getattr(loo, "good_k", 0.7)) for name, loo in loos.items()}
    table["n_bad_k"] = [int(np.sum(k[n] > good[n])) for n in table.index]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = table["elpd_diff"].to_numpy(float) / table["dse"].to_numpy(float)
    table["diff_over_dse"] = np.where(table["elpd_diff"].to_numpy(float) == 0, 0.0, ratio)
    return table
