"""Metallicity-gradient models over the stars of one disk population.

:class:`BinGradientModel`
    C25 Appendix A: in each age bin k independently,
    [Fe/H]_obs ~ TruncNormal(nabla_k (R_g - r_ref) + b_k, Sigma) on [-1, 0.5] dex,
    latent R_g ~ TruncNormal(R_g,obs, dR_g) on [0, 20] kpc and
    Sigma^2 = (sigma_k^2 + dFeH^2) / P^2 (eq. A4). The bins share no
    parameter: with the numpyro backend each bin gets its own NUTS chains
    (own step size and mass matrix), all bins in one compiled call
    (:mod:`._binwise`); the PyMC and nutpie backends sample the bins as one
    joint model, which has the same posterior.
:class:`HierarchicalMGARModel`
    Ours (:mod:`.hierarchical`, re-exported here): the bins' gradients share
    a line in age, nabla_k ~ N(a + s (t_k - t_ref), eps), whose slope s is
    the flattening rate; age errors enter as a mixture over bins weighted by
    P_ik (or, as an option, through C25's 1/P inflation).

The true R_g of each star is sampled as a latent variable
(``priors.rg_treatment = "sample"``, the default), integrated out
(``"integrate"``: the same posterior, three dimensions per bin instead of one
per star) or replaced by the fast Gaussian approximation (``"gaussian"``); see
:mod:`mgar_bayes.models.likelihood`.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from typing import Any, ClassVar

import arviz as az
import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt

from ..binning import AgeBins, age_bin_probability
from ._binwise import bin_blocks, sample_bins_numpyro
from ._math import SignedStandardize, Standardize
from .base import (
    DroppedStarsWarning,
    ModelBuilder,
    ModelInputError,
    StarData,
    prepare_stars,
    register_builder,
)
from .config import ModelSpec, prior_variable, spec_from_dict
from .likelihood import edge_stars, feh_loglike, latent_rg

__all__ = ["BinGradientModel", "HierarchicalMGARModel", "line_band", "TABLE_COLUMNS"]

#: Columns of the per-bin posterior table (``mgar_bayes.csv``).
TABLE_COLUMNS = [
    "population",
    "model",
    "age_lo",
    "age_hi",
    "age_center",
    "n_stars",
    "gradient",
    "gradient_err",
    "hdi_lo",
    "hdi_hi",
    "r_hat",
    "ess_bulk",
    "divergences",
]


@dataclass(frozen=True)
class PreFit:
    """Weighted least-squares estimates per bin, used only to scale the sampler's coordinates."""

    gradient: np.ndarray
    gradient_se: np.ndarray
    intercept: np.ndarray
    intercept_se: np.ndarray
    scatter: np.ndarray


def prefit(data: StarData, r_ref: float) -> PreFit:
    """Per-bin weighted least squares of [Fe/H] on R_g,obs - r_ref (stars by observed age).

    Weights 1 / (dFeH^2 + s^2) with the scatter s re-estimated from the
    residuals three times. Bins with fewer than 3 stars get the median of the
    others and a wide scale. Deterministic, so a loaded model is rebuilt
    identically.
    """
    k_bins = data.bins.n_bins
    out = np.full((5, k_bins), np.nan)
    for k in range(k_bins):
        sel = data.bin_idx == k
        if sel.sum() < 3:
            continue
        x = data.rg[sel] - r_ref
        y = data.feh[sel]
        e2 = data.feh_err[sel] ** 2
        s2 = 0.01
        for _ in range(3):
            w = 1.0 / (e2 + s2)
            design = np.c_[np.ones_like(x), x]
            cov = np.linalg.pinv(design.T @ (design * w[:, None]))
            beta = cov @ (design.T @ (w * y))
            resid = y - design @ beta
            s2 = max(float(np.mean(resid**2 - e2)), 1e-4)
        out[:, k] = [beta[1], np.sqrt(cov[1, 1]), beta[0], np.sqrt(cov[0, 0]), np.sqrt(s2)]
    fill = [
        np.nanmedian(out[0]) if np.isfinite(out[0]).any() else 0.0,
        0.05,
        np.nanmedian(out[2]) if np.isfinite(out[2]).any() else 0.0,
        0.2,
        0.1,
    ]
    for row, value in enumerate(fill):
        out[row, ~np.isfinite(out[row])] = value
    return PreFit(
        gradient=out[0],
        gradient_se=np.maximum(out[1], 1e-4),
        intercept=out[2],
        intercept_se=np.maximum(out[3], 1e-3),
        scatter=np.maximum(out[4], 0.01),
    )


def _line_prefit(ages: np.ndarray, grad: np.ndarray, se: np.ndarray, age_ref: float):
    """Weighted line through pre-fit gradients: (a, a_se, s, s_se, eps)."""
    x = ages - age_ref
    eps2 = 0.0
    for _ in range(3):
        w = 1.0 / (se**2 + eps2)
        design = np.c_[np.ones_like(x), x]
        cov = np.linalg.pinv(design.T @ (design * w[:, None]))
        beta = cov @ (design.T @ (w * grad))
        resid = grad - design @ beta
        eps2 = max(float(np.mean(resid**2 - se**2)), 1e-6)
    return (
        beta[0],
        max(np.sqrt(cov[0, 0]), 1e-3),
        beta[1],
        max(np.sqrt(cov[1, 1]), 1e-4),
        np.sqrt(eps2),
    )


#: Bins whose probability of holding a star's true age is below this are left
#: out of its mixture (the likelihood changes by less than this, relatively).
MIN_BIN_WEIGHT = 1e-9


def candidate_bins(prob: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each star's candidate bins for the age mixture, most probable first.

    Parameters
    ----------
    prob : numpy.ndarray
        P_ik, shape (n, K).

    Returns
    -------
    kidx : numpy.ndarray of int, shape (n, M)
        Bin indices; M is the largest number of bins with normalised weight
        >= :data:`MIN_BIN_WEIGHT` that any star has.
    log_w : numpy.ndarray, shape (n, M)
        log w_ik, w_ik = P_ik / sum_k P_ik (floored at 1e-300).
    """
    w = prob / np.maximum(prob.sum(axis=1, keepdims=True), 1e-300)
    m = max(int((w >= MIN_BIN_WEIGHT).sum(axis=1).max(initial=1)), 1)
    kidx = np.argsort(-w, axis=1, kind="stable")[:, :m]
    log_w = np.log(np.maximum(np.take_along_axis(w, kidx, axis=1), 1e-300))
    return kidx.astype(np.int64), log_w


def line_band(
    idata: az.InferenceData,
    ages: np.ndarray,
    *,
    age_ref: float,
    hdi_prob: float = 0.98,
    intercept: str = "trend_intercept",
    slope: str = "trend_slope",
) -> pd.DataFrame:
    """Posterior mean and HDI of the MGAR line a + s (t - age_ref) on a grid of ages.

    Returns
    -------
    pandas.DataFrame
        Columns ``age`` [Gyr], ``mean``, ``hdi_lo``, ``hdi_hi`` [dex/kpc].
    """
    ages = np.asarray(ages, dtype=float)
    a = idata.posterior[intercept].values.reshape(-1)
    s = idata.posterior[slope].values.reshape(-1)
    lines = a[:, None] + s[:, None] * (ages[None, :] - age_ref)
    hdi = az.hdi(lines[None, :, :], hdi_prob=hdi_prob)  # (n_ages, 2)
    return pd.DataFrame(
        {"age": ages, "mean": lines.mean(0), "hdi_lo": hdi[:, 0], "hdi_hi": hdi[:, 1]}
    )


def _summary_stats(x: np.ndarray, hdi_prob: float) -> dict[str, float]:
    x = np.asarray(x).reshape(-1)
    lo, hi = az.hdi(x, hdi_prob=hdi_prob)
    return {
        "mean": float(x.mean()),
        "sd": float(x.std(ddof=1)),
        "hdi_lo": float(lo),
        "hdi_hi": float(hi),
    }


class _StarModel(ModelBuilder):
    """Shared parts of the models fitted to stars."""

    model_type: ClassVar[str] = "_star"
    var_summary: ClassVar[tuple[str, ...]] = ("gradient", "intercept", "scatter")
    _latent_vars: ClassVar[tuple[str, ...]] = ("rg_raw",)

    def _prepare(
        self,
        stars: pd.DataFrame | StarData,
        bins: AgeBins | None = None,
        *,
        population: str | None = None,
    ) -> StarData:
        """Inputs of :meth:`fit`.

        Parameters
        ----------
        stars : pandas.DataFrame or StarData
            Star table (see :func:`~mgar_bayes.models.base.prepare_stars`).
        bins : AgeBins, optional
            Default: ``AgeBins.from_config()`` (nine bins, 1-12.25 Gyr). A
            spec with ``[data] age_bin_width > 0`` refines their range
            (:meth:`~.config.DataConfig.bins_for`).
        population : str, optional
            Fit only rows of this ``population`` ('thin' / 'thick').
        """
        if isinstance(stars, StarData):
            return stars
        bins = self.spec.data.bins_for(bins or AgeBins.from_config())
        return prepare_stars(stars, bins, self.priors, population=population)

    def _data_hash(self, data: StarData) -> str:
        return data.hash()

    def _extra_attrs(self, data: StarData) -> dict[str, Any]:
        return {
            "population": data.population,
            "age_edges": json.dumps(list(data.bins.edges)),
            "counts": json.dumps(data.counts),
            "n_stars": int(data.n),
            "r_ref": float(self.priors.r_ref),
        }

    def _star_data(self, data: StarData) -> dict[str, Any]:
        """pm.Data containers shared by both models (recorded in constant_data)."""
        out = {
            "feh_err": pm.Data("feh_err", data.feh_err, dims="star"),
            "rg_obs": pm.Data("rg_obs", data.rg, dims="star"),
            "rg_err": pm.Data("rg_err", data.rg_err, dims="star"),
            "age_obs": pm.Data("age_obs", data.age, dims="star"),
            "age_err": pm.Data("age_err", data.age_err, dims="star"),
        }
        if data.asymmetric_ages:
            # kept so that P (split normal) is rebuilt exactly when the fit is loaded
            out["age_err_lo"] = pm.Data("age_err_lo", data.age_err_lo, dims="star")
            out["age_err_hi"] = pm.Data("age_err_hi", data.age_err_hi, dims="star")
        return out

    def _observe(self, data: StarData, d: dict[str, Any], var, intercept, gradient, log_w=None):
        """Add the observed [Fe/H] with the likelihood of ``priors.rg_treatment``.

        ``var``, ``intercept`` and ``gradient`` hold, per star, Sigma^2 [dex^2], b
        [dex] and nabla [dex/kpc] of its bin, shape (n,), or of its candidate
        bins, shape (n, M), with ``log_w`` (n, M) the log-probabilities that
        its true age lies in each: the likelihood is then the mixture
        log sum_m w_m p([Fe/H] | bin m).
        """
        pr = self.priors
        edge = edge_stars(data.rg, data.rg_err, pr.rg_range)
        rg = d["rg_obs"]
        if pr.rg_treatment == "sample":
            rg = latent_rg(rg, d["rg_err"], pr.rg_range, edge)
        elif pr.rg_treatment == "integrate" and edge.any():
            # stars near a limit of R's support keep a latent R, so the truncation stays exact
            idx = np.flatnonzero(edge)
            pm.modelcontext(None).add_coord("edge_star", data.source_id[idx])
            rg = pt.set_subtensor(rg[idx], latent_rg(rg[idx], d["rg_err"][idx], pr.rg_range, dims="edge_star"))
        mixture = log_w is not None
        options = {
            "edge": edge,
            "r_ref": pr.r_ref,
            "feh_range": pr.feh_range,
            "n_nodes": pr.rg_nodes,
        }

        def logp(value, var, b, g, r, r_err, *weights):
            if mixture:
                value, r, r_err = value[:, None], r[:, None], r_err[:, None]
            out = feh_loglike(pr.rg_treatment, value, var, b, g, r, r_err, **options)
            return pt.logsumexp(weights[0] + out, axis=-1) if mixture else out

        params = [var, intercept, gradient, rg, d["rg_err"]] + ([log_w] if mixture else [])
        pm.CustomDist(
            "feh",
            *params,
            logp=logp,
            signature="(m),(m),(m),(),(),(m)->()" if mixture else None,
            observed=data.feh,
            dims="star",
        )

    @classmethod
    def _data_from_idata(cls, idata: az.InferenceData) -> StarData:
        cd = idata.constant_data
        bins = AgeBins(tuple(json.loads(idata.attrs["age_edges"])))
        # files of the earlier flat layout translate too
        structure = spec_from_dict(json.loads(idata.attrs["config"])).structure
        age = cd["age_obs"].values
        age_err = cd["age_err"].values
        # files written before asymmetric age errors have neither
        lo = cd["age_err_lo"].values if "age_err_lo" in cd else None
        hi = cd["age_err_hi"].values if "age_err_hi" in cd else None
        return StarData(
            feh=idata.observed_data["feh"].values,
            feh_err=cd["feh_err"].values,
            rg=cd["rg_obs"].values,
            rg_err=cd["rg_err"].values,
            age=age,
            age_err=age_err,
            bin_idx=bins.index(age).astype(np.int64),
            prob=age_bin_probability(age, age_err, bins.lo, bins.hi, age_range=structure.age_range,
                                     age_err_lo=lo, age_err_hi=hi),  # fmt: skip
            source_id=np.asarray(cd["star"].values).astype(str),
            bins=bins,
            population=str(idata.attrs.get("population", "")),
            counts=json.loads(idata.attrs.get("counts", "{}")),
            age_err_lo=lo,
            age_err_hi=hi,
        )

    def _bin_indices(self) -> np.ndarray:
        """Indices (into the AgeBins) of the model's ``age_bin`` coordinate."""
        return np.arange(self.data.bins.n_bins)

    def gradient_table(self) -> pd.DataFrame:
        """Per-bin posterior of the gradient with diagnostics.

        Returns
        -------
        pandas.DataFrame
            Columns :data:`TABLE_COLUMNS` plus ``ess_tail``, ``converged``:
            ``gradient`` = posterior mean, ``gradient_err`` = posterior sd
            [dex/kpc], ``hdi_lo``/``hdi_hi`` the HDI of probability
            ``priors.hdi_prob``, ``n_stars`` by observed age.
        """
        idata = self._require_idata()
        diag = self.diagnostics(idata)
        k = self._bin_indices()
        bins = self.data.bins
        rows = diag.loc[[f"gradient[{lab}]" for lab in np.asarray(bins.labels())[k]]]
        out = pd.DataFrame(
            {
                "population": self.data.population,
                "model": self.name,
                "age_lo": bins.lo[k],
                "age_hi": bins.hi[k],
                "age_center": bins.centers[k],
                "n_stars": self.data.n_per_bin()[k],
                "gradient": rows["mean"].to_numpy(),
                "gradient_err": rows["sd"].to_numpy(),
                "hdi_lo": rows["hdi_lo"].to_numpy(),
                "hdi_hi": rows["hdi_hi"].to_numpy(),
                "r_hat": rows["r_hat"].to_numpy(),
                "ess_bulk": rows["ess_bulk"].to_numpy(),
                "divergences": rows["divergences"].to_numpy(),
                "ess_tail": rows["ess_tail"].to_numpy(),
                "converged": rows["converged"].to_numpy(),
            }
        )
        return out

    def mean_gradient(self) -> dict[str, float]:
        """Posterior of the mean of the bins' gradients [dex/kpc]: mean, sd, HDI."""
        g = self._require_idata().posterior["gradient"].mean("age_bin").values
        return _summary_stats(g, self.report.hdi_prob)


@register_builder("bin_gradient")
class BinGradientModel(_StarModel):
    """C25 Appendix-A model: one truncated-normal regression per age bin.

    Parameters
    ----------
    spec : ModelSpec, optional
        Default: C25's priors (``models/c25.toml``). ``priors.rg_treatment``
        chooses how the true R_g enters (``"gaussian"``: the fast variant).

    Examples
    --------
    >>> m = BinGradientModel()
    >>> idata = m.fit(stars, AgeBins.from_config(), population="thin", seed=1)  # doctest: +SKIP
    >>> m.gradient_table()  # doctest: +SKIP
    """

    model_type: ClassVar[str] = "bin_gradient"
    default_spec: ClassVar[ModelSpec] = ModelSpec(name="c25", builder="bin_gradient")

    def trend(self):
        """The MGAR line through this fit's per-bin gradients (C25 Fig. 3), fitted once per fit.

        An :class:`~.trend.MGARTrendModel` of the same spec (its ``trend_*``
        priors), fitted to :meth:`gradient_table` with the fit's seed.
        """
        from .trend import MGARTrendModel

        idata = self._require_idata()
        cached = getattr(self, "_trend", None)
        if cached is not None and cached[0] is idata:
            return cached[1]
        trend = MGARTrendModel(self.spec)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            trend.fit(self.gradient_table(), seed=int(idata.attrs.get("seed", 0)), progress=False)
        self._trend = (idata, trend)
        return trend

    def flattening_rate(self) -> dict[str, float]:
        """Posterior of the slope of the MGAR line through the bins [dex/kpc/Gyr] (see :meth:`trend`)."""
        return self.trend().flattening_rate()

    def band(self, ages: np.ndarray | None = None) -> pd.DataFrame:
        """Mean and HDI band of the MGAR line through the bins at ``ages`` [Gyr] (default: 50 over the bins)."""
        if ages is None:
            ages = np.linspace(self.data.bins.edges[0], self.data.bins.edges[-1], 50)
        return self.trend().band(ages)

    def _prepare(self, stars, bins=None, *, population=None) -> StarData:
        data = super()._prepare(stars, bins, population=population)
        n_bin = data.n_per_bin()
        min_stars = self.spec.data.min_stars_per_bin
        sparse = (n_bin > 0) & (n_bin < min_stars)
        if sparse.any():
            drop = sparse[data.bin_idx]
            labels = [data.bins.labels()[k] for k in np.flatnonzero(sparse)]
            warnings.warn(
                f"{data.population or 'stars'}: bin(s) {labels} have fewer than "
                f"{min_stars} stars; their {int(drop.sum())} star(s) are left out",
                DroppedStarsWarning,
                stacklevel=4,
            )
            data = data.subset(~drop)
            data.counts["n_dropped_sparse_bins"] = int(drop.sum())
        if data.n == 0:
            raise ModelInputError(
                f"{data.population or 'stars'}: no age bin has {min_stars} or more stars to "
                f"fit (most per bin: {int(n_bin.max()) if n_bin.size else 0}); leave this population out "
                "([selection] populations of the run) or lower [data] min_stars_per_bin in a variant "
                '(extends = "c25")'
            )
        return data

    def _bin_indices(self) -> np.ndarray:
        return np.flatnonzero(self.data.n_per_bin() > 0)

    @staticmethod
    def _used_bins(data: StarData) -> tuple[np.ndarray, np.ndarray]:
        """Bins with stars, and each star's position among them (its ``age_bin`` index)."""
        used = np.flatnonzero(data.n_per_bin() > 0)
        return used, np.searchsorted(used, data.bin_idx)

    def _run_sampler(self, seed: int, progress: bool) -> az.InferenceData:
        if self.sampler.method == "laplace":
            from .laplace import fit_bins_laplace

            return fit_bins_laplace(self, seed, progress)
        if self.sampler.backend != "numpyro":
            return super()._run_sampler(seed, progress)
        # the bins are independent: each gets its own NUTS adaptation, all in one compiled call
        data, pr = self.data, self.priors
        used, local = self._used_bins(data)
        blocks = bin_blocks(data, pr, local, prefit(data, pr.r_ref), used)
        return sample_bins_numpyro(
            self.model, blocks, pr, self.sampler, seed=seed, progress=progress, label=self._progress_label()
        )

    def _build(self, data: StarData) -> pm.Model:
        pr = self.priors
        used, local = self._used_bins(data)
        coords = {
            "star": data.source_id,
            "age_bin": np.asarray(data.bins.labels())[used],
        }
        with pm.Model(coords=coords) as model:
            d = self._star_data(data)
            bin_of = pm.Data("bin_of_star", local, dims="star")
            p_own = pm.Data("p_bin", np.clip(data.own_prob, 1e-6, 1.0), dims="star")
            pm.Data("age_center", data.bins.centers[used], dims="age_bin")
            pf = prefit(data, pr.r_ref)
            # the spec's families; the transforms only set the sampler's coordinates (pre-fit scaled)
            gradient = prior_variable(
                pr.gradient, "gradient", dims="age_bin",
                transform=Standardize(pf.gradient[used], pf.gradient_se[used]),
            )  # fmt: skip
            intercept = prior_variable(
                pr.intercept, "intercept", dims="age_bin",
                transform=Standardize(pf.intercept[used], pf.intercept_se[used]),
            )  # fmt: skip
            # sigma = |s0 + sse y| (SignedStandardize, from the bins' moment estimates): every backend
            # samples the coordinates of the per-bin route
            w = bin_blocks(data, pr, local, pf, used).loc
            scatter = prior_variable(
                pr.scatter, "scatter", dims="age_bin",
                transform=SignedStandardize(w["s0"], w["sse"]), default_transform=None,
            )  # fmt: skip
            # C25 eq. A4: Sigma^2 = (sigma^2 + dFeH^2) / P^2
            var = (scatter[bin_of] ** 2 + d["feh_err"] ** 2) / p_own**2
            self._observe(data, d, var, intercept[bin_of], gradient[bin_of])
        return model


# the hierarchical model lives in its own module (it imports the shared parts above)
from .hierarchical import HierarchicalMGARModel  # noqa: E402
