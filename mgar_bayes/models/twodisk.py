"""A two-disk mixture over the whole clean sample: every star in the thin or the thick disk.

C25 and V21 fit "pure" thin- and thick-disk samples cut from the chemical plane
(and Z_max), and leave out the stars between them. Here every star of the clean
sample enters, with a probability of belonging to each disk learned from its
chemistry:

* **Chemistry.** In disk d, [alpha/Fe] follows a line in [Fe/H] (the two
  sequences of the Tinsley diagram): [alpha/Fe]_i ~ N(c_d + m_d ([Fe/H]_i - f_0),
  sqrt(s_d^2 + d[alpha/Fe]_i^2)). The thick sequence lies above the thin one,
  c_thick = c_thin + Delta with Delta > 0, which names the components.
* **Membership.** The prior probability that a star is thin, pi_k, depends on
  the age bin k of its true age (the thick disk is old); with
  ``structure.membership_zmax`` also on its Z_max:
  logit pi_ik = logit pi_k + beta (log Z_max,i - log 0.5 kpc).
* **MGAR.** Each disk has its own hierarchical MGAR, as
  :class:`~mgar_bayes.models.hierarchical.HierarchicalMGARModel`:
  nabla_dk ~ N(a_d + s_d (t_k - age_ref), eps_d), [Fe/H]_i | disk d, bin k ~
  TruncNormal(b_dk + nabla_dk (R_g,i - r_ref), sqrt(sigma_dk^2 + dFeH_i^2 +
  nabla_dk^2 dR_g,i^2)) (the R_g error convolved: ``rg_treatment = "gaussian"``).
* **Age errors** as a mixture over the candidate bins of each star's age,
  weighted by w_ik (as in the hierarchical model).

Each star contributes log sum_d sum_k w_ik pi_dk p([Fe/H]_i | d, k)
p([alpha/Fe]_i | [Fe/H]_i, d). The membership probability of a star,
p(thin | its data), is averaged over the posterior draws
(:meth:`TwoDiskModel.membership`).
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

from ..binning import AgeBins
from ._math import Standardize, normal_logpdf, truncnorm_logpdf_var
from .base import ModelBuilder, ModelInputError, hash_arrays, prepare_stars, register_builder
from .config import ModelSpec, StructureConfig
from .gradient import _line_prefit, _summary_stats, line_band, prefit
from .hierarchical import mixture_blocks

__all__ = ["DISKS", "TwoDiskData", "TwoDiskModel", "prepare_twodisk"]

#: The mixture's components, in the order of the ``disk`` dimension.
DISKS = ("thin", "thick")
#: [Fe/H] [dex] at which the chemical sequences' offsets are defined.
FEH_PIVOT = -0.2
#: Z_max [kpc] at which the membership's Z_max term vanishes.
ZMAX_PIVOT = 0.5
#: Stars of the hard selection in a (disk, bin) above which the bin's gradient is sampled centred.
CENTRED_MIN_STARS = 200


@dataclass
class TwoDiskData:
    """The clean sample as the two-disk model sees it.

    Attributes
    ----------
    stars : StarData
        [Fe/H], R_g, ages and their errors, bins and age-bin probabilities of
        every star (see :func:`~mgar_bayes.models.base.prepare_stars`).
    afe, afe_err : numpy.ndarray
        [alpha/Fe] and its error [dex].
    zmax : numpy.ndarray
        Z_max [kpc] (NaN when the membership does not use it).
    label : numpy.ndarray of str
        The hard (C25) selection of each star: "thin", "thick" or "" (kept for
        comparison and the sampler's start; the posterior does not depend on it).
    population : str
        The disk a builder reports (its tables, rate and band).
    """

    stars: Any
    afe: np.ndarray
    afe_err: np.ndarray
    zmax: np.ndarray
    label: np.ndarray
    #: The disk whose MGAR a builder reports ("thin" or "thick"); the data are the same for both.
    population: str = "thin"

    @property
    def n(self) -> int:
        return int(self.stars.n)

    @property
    def bins(self) -> AgeBins:
        return self.stars.bins

    @property
    def counts(self) -> dict[str, int]:
        return self.stars.counts

    def hash(self) -> str:
        return hash_arrays({
            "stars": self.stars.hash(), "afe": self.afe, "afe_err": self.afe_err,
            "zmax": np.nan_to_num(self.zmax, nan=-1.0), "label": self.label.astype(str),
        })  # fmt: skip


def prepare_twodisk(
    stars: pd.DataFrame, bins: AgeBins, structure, *, use_zmax: bool
) -> TwoDiskData:
    """Check the clean sample and build :class:`TwoDiskData`.

    Parameters
    ----------
    stars : pandas.DataFrame
        The clean sample (``stars.parquet``): the columns of
        :func:`~mgar_bayes.models.base.prepare_stars` plus ``afe``, ``afe_err``
        [dex] and, with ``use_zmax``, ``Z_max`` [kpc]; ``population`` if present
        is kept as the hard label for comparison. Stars outside the binned age
        range are left out (their P is ~0 in every bin).
    bins : AgeBins
    structure : StructureConfig
        Supports of [Fe/H] and R_g, age range of P.
    use_zmax : bool
        Whether the membership reads Z_max.

    Raises
    ------
    ModelInputError
        A missing column, a non-finite or non-positive [alpha/Fe] error, or a
        non-positive Z_max.
    """
    need = ["afe", "afe_err"] + (["Z_max"] if use_zmax else [])
    missing = [c for c in need if c not in stars.columns]
    if missing:
        raise ModelInputError(
            f"the two-disk model needs column(s) {missing} (the clean sample of `mgar run`, stars.parquet, has them)"
        )
    table = stars.copy()
    label = table["population"].astype(str).replace({"nan": ""}) if "population" in table else ""
    table["_label"] = label
    table = table.drop(columns=["population"], errors="ignore")
    edges = np.asarray(bins.edges, dtype=float)
    inside = (table["age"] >= edges[0]) & (table["age"] < edges[-1])
    table = table.loc[inside.to_numpy()].reset_index(drop=True)
    for c in need:
        v = table[c].to_numpy(float)
        bad = ~np.isfinite(v) | ((v <= 0) if c != "afe" else np.zeros(v.shape, bool))
        if bad.any():
            rows = np.flatnonzero(bad)[:5].tolist()
            raise ModelInputError(
                f"column {c!r} has {int(bad.sum())} non-finite{' or non-positive' if c != 'afe' else ''} "
                f"value(s) (0-based rows {rows}); drop those stars first"
            )
    sd = prepare_stars(table, bins, structure, name="clean sample")
    # the stars prepare_stars keeps (in table order): inside the [Fe/H] and R_g supports
    lo, hi = structure.feh_range
    lo_r, hi_r = structure.rg_range
    feh, rg = table["feh"].to_numpy(float), table["R_g"].to_numpy(float)
    pos = np.flatnonzero((feh >= lo) & (feh <= hi) & (rg > lo_r) & (rg < hi_r))
    if pos.size != sd.n:  # the same range cuts as prepare_stars, which must agree
        raise RuntimeError(f"two-disk data: {pos.size} stars in range but {sd.n} prepared")
    return TwoDiskData(
        stars=sd,
        afe=table["afe"].to_numpy(float)[pos],
        afe_err=table["afe_err"].to_numpy(float)[pos],
        zmax=table["Z_max"].to_numpy(float)[pos] if use_zmax else np.full(sd.n, np.nan),
        label=np.asarray(table["_label"].astype(str))[pos],
    )


def _prior(priors, name: str):
    """The spec's prior of ``name`` (a pymc-extras Prior)."""
    return getattr(priors, name)


def build_twodisk(data: TwoDiskData, priors, structure, *, use_zmax: bool) -> pm.Model:
    """The two-disk mixture as a PyMC model (see the module's description).

    Parameters
    ----------
    data : TwoDiskData
    priors : PriorConfig
        ``intercept``, ``scatter``, ``trend_intercept``, ``trend_slope``,
        ``trend_scatter`` as in the hierarchical model, and the chemistry and
        membership priors ``afe_offset``, ``afe_gap``, ``afe_slope``,
        ``afe_scatter``, ``thin_fraction``, ``zmax_coef``.
    structure : StructureConfig
        ``r_ref``, ``age_ref``, ``feh_range``.
    use_zmax : bool
        Whether the membership depends on Z_max.
    """
    from .config import prior_variable

    sd = data.stars
    bins = sd.bins
    blocks = mixture_blocks(sd.prob)
    kidx, log_w = blocks.padded()
    # start the sampler's coordinates at the hard (C25) selection's per-bin pre-fits
    pf = {d: _disk_prefit(data, d, structure.r_ref, structure.age_ref) for d in DISKS}
    coords = {
        "star": sd.source_id,
        "disk": list(DISKS),
        "age_bin": bins.labels(),
        "candidate": np.arange(kidx.shape[1]),
    }
    with pm.Model(coords=coords) as model:
        # the likelihood's inputs as constants: JAX needs static shapes for the gathers by bin
        feh, feh_err, rg, rg_err = (
            pt.as_tensor(np.asarray(v, float)) for v in (sd.feh, sd.feh_err, sd.rg, sd.rg_err)
        )
        afe, afe_err = pt.as_tensor(data.afe), pt.as_tensor(data.afe_err)
        k, lw = pt.as_tensor(kidx), pt.as_tensor(log_w)
        age_c = pt.as_tensor(bins.centers)

        # chemistry: two sequences in ([Fe/H], [alpha/Fe]); the thick one above
        ch = _chemistry_prefit(data)
        c_thin = prior_variable(
            _prior(priors, "afe_offset"), "afe_offset", transform=Standardize(ch["c_thin"], 0.01)
        )
        gap = prior_variable(
            _prior(priors, "afe_gap"), "afe_gap", transform=Standardize(np.log(ch["gap"]), 0.1)
        )
        c = pm.Deterministic("afe_at_pivot", pt.stack([c_thin, c_thin + gap]), dims="disk")
        m = prior_variable(
            _prior(priors, "afe_slope"),
            "afe_slope",
            dims="disk",
            transform=Standardize(ch["slope"], 0.02),
        )
        s_chem = prior_variable(
            _prior(priors, "afe_scatter"),
            "afe_scatter",
            dims="disk",
            transform=Standardize(np.log(ch["scatter"]), 0.1),
        )
        # membership: the thin fraction of each age bin (and a Z_max term)
        f0 = np.clip(ch["thin_fraction"], 0.02, 0.98)
        frac = prior_variable(
            _prior(priors, "thin_fraction"),
            "thin_fraction",
            dims="age_bin",
            transform=Standardize(np.log(f0 / (1 - f0)), 0.5),
        )

        # each disk's MGAR: bins around a line in age
        line0 = np.array([pf[d]["line"] for d in DISKS])  # (2, 5): a, a_se, s, s_se, eps
        a = prior_variable(
            _prior(priors, "trend_intercept"),
            "trend_intercept",
            dims="disk",
            transform=Standardize(line0[:, 0], line0[:, 1]),
        )
        slope = prior_variable(
            _prior(priors, "trend_slope"),
            "trend_slope",
            dims="disk",
            transform=Standardize(line0[:, 2], line0[:, 3]),
        )
        eps = prior_variable(
            _prior(priors, "trend_scatter"),
            "trend_scatter",
            dims="disk",
            transform=Standardize(np.log(np.maximum(line0[:, 4], 1e-3)), 1.0),
        )
        line = a[:, None] + slope[:, None] * (age_c[None, :] - structure.age_ref)
        # centred where a disk has many stars in the bin (data pin the gradient), non-centred where
        # it has few (the gradient is then the line's, and a centred one would sit in a funnel)
        n_hard = np.stack([pf[d]["n"] for d in DISKS])
        g0 = np.stack([pf[d]["gradient"] for d in DISKS])
        g_se = np.stack([pf[d]["gradient_se"] for d in DISKS])
        dense = n_hard >= CENTRED_MIN_STARS
        eps0 = np.maximum(line0[:, [4]], 1e-3)
        at_bins0 = line0[:, [0]] + line0[:, [2]] * (bins.centers[None, :] - structure.age_ref)
        z = pm.Normal(
            "gradient_offset",
            0.0,
            1.0,
            dims=("disk", "age_bin"),
            transform=Standardize(
                np.where(dense, (g0 - at_bins0) / eps0, 0.0), np.where(dense, g_se / eps0, 1.0)
            ),
        )
        gradient = pm.Deterministic("gradient", line + eps[:, None] * z, dims=("disk", "age_bin"))
        b0 = np.stack([pf[d]["intercept"] for d in DISKS])
        b_se = np.stack([pf[d]["intercept_se"] for d in DISKS])
        intercept = prior_variable(
            _prior(priors, "intercept"),
            "intercept",
            dims=("disk", "age_bin"),
            transform=Standardize(b0, b_se),
        )
        sc0 = np.stack([np.log(pf[d]["scatter"]) for d in DISKS])
        scatter = prior_variable(
            _prior(priors, "scatter"),
            "scatter",
            dims=("disk", "age_bin"),
            transform=Standardize(sc0, 0.2),
        )

        # per star, disk and candidate bin: log w + log pi + log p([Fe/H]) + log p([alpha/Fe])
        log_pi_thin = pt.log(frac)[k]  # (n, M)
        log_pi_thick = pt.log1p(-frac)[k]
        if use_zmax:
            beta = prior_variable(_prior(priors, "zmax_coef"), "zmax_coef")
            lz = pt.as_tensor(np.log(data.zmax / ZMAX_PIVOT))
            logit = pt.log(frac)[k] - pt.log1p(-frac)[k] + beta * lz[:, None]
            log_pi_thin = -pt.softplus(-logit)
            log_pi_thick = -pt.softplus(logit)
        log_pi = pt.stack([log_pi_thin, log_pi_thick])  # (2, n, M)
        g = gradient[:, k]  # (2, n, M)
        mu = intercept[:, k] + g * (rg - structure.r_ref)[None, :, None]
        var = scatter[:, k] ** 2 + (feh_err**2)[None, :, None] + (g * rg_err[None, :, None]) ** 2
        lo, hi = structure.feh_range
        l_feh = truncnorm_logpdf_var(feh[None, :, None], mu, var, lo, hi)
        chem_mu = c[:, None] + m[:, None] * (feh - FEH_PIVOT)[None, :]
        chem_sd = pt.sqrt(s_chem[:, None] ** 2 + (afe_err**2)[None, :])
        l_afe = normal_logpdf(afe[None, :], chem_mu, chem_sd)  # (2, n)
        terms = lw[None] + log_pi + l_feh + l_afe[:, :, None]

        pm.Potential("stars", pt.logsumexp(terms, axis=(0, 2)).sum())
    # kept for the membership probabilities (a Deterministic would store 2 x n x M values per draw)
    model._twodisk_terms = terms
    return model


def _disk_prefit(data: TwoDiskData, disk: str, r_ref: float, age_ref: float) -> dict[str, Any]:
    """Per-bin weighted least squares on the hard (C25) selection of ``disk``: the sampler's start."""
    sel = data.label == disk
    sd = data.stars
    k = sd.bins.n_bins
    if sel.sum() < 3 * k:  # no usable hard selection: the whole sample
        sel = np.ones(sd.n, dtype=bool)
    pf = prefit(sd.subset(sel), r_ref)
    line = _line_prefit(sd.bins.centers, pf.gradient, pf.gradient_se, age_ref)
    return {
        "intercept": pf.intercept, "intercept_se": pf.intercept_se, "scatter": pf.scatter,
        "gradient": pf.gradient, "gradient_se": pf.gradient_se, "line": line,
        "n": np.bincount(sd.bin_idx[sel], minlength=k),
    }  # fmt: skip


def _chemistry_prefit(data: TwoDiskData) -> dict[str, Any]:
    """Lines of [alpha/Fe] on [Fe/H] for the hard selection's disks (or a split at the median [alpha/Fe])."""
    feh, afe = data.stars.feh, data.afe
    thin, thick = data.label == "thin", data.label == "thick"
    if thin.sum() < 10 or thick.sum() < 10:
        thick = afe > np.median(afe)
        thin = ~thick
    out = {}
    for name, sel in (("thin", thin), ("thick", thick)):
        x = feh[sel] - FEH_PIVOT
        slope, icpt = np.polyfit(x, afe[sel], 1)
        resid = afe[sel] - (icpt + slope * x)
        out[name] = (
            icpt,
            slope,
            max(float(np.sqrt(max(np.var(resid) - np.mean(data.afe_err[sel] ** 2), 0.0))), 0.01),
        )
    # the thin fraction per bin of observed age, over the stars the hard selection assigns
    bi = data.stars.bin_idx
    frac = np.array([
        (thin & (bi == k)).sum() / max((thin | thick)[bi == k].sum(), 1) for k in range(data.bins.n_bins)
    ])  # fmt: skip
    return {
        "c_thin": out["thin"][0], "gap": max(out["thick"][0] - out["thin"][0], 0.02),
        "slope": np.array([out["thin"][1], out["thick"][1]]),
        "scatter": np.array([out["thin"][2], out["thick"][2]]), "thin_fraction": frac,
    }  # fmt: skip


def _responsibility_fn(model: pm.Model, terms):
    """p(thin | star's data, parameters) per star, as a function of the constrained free variables."""
    import pytensor

    log_thin = pt.logsumexp(terms[0], axis=-1)
    log_all = pt.logsumexp(terms, axis=(0, 2))
    return pytensor.function(
        list(model.free_RVs), pt.exp(log_thin - log_all), on_unused_input="ignore"
    )


@register_builder("twodisk")
class TwoDiskModel(ModelBuilder):
    """Two-disk mixture over the whole clean sample (see the module's description).

    One fit covers both disks; :meth:`fit` with ``population="thin"`` or
    ``"thick"`` chooses which disk's MGAR the builder reports (its
    :meth:`gradient_table`, :meth:`flattening_rate`, :meth:`band`), and the
    second call with the same stars, spec and seed re-uses the first fit.
    :meth:`membership` gives every star's posterior probability of being thin.
    """

    default_spec: ClassVar[ModelSpec] = ModelSpec(
        name="twodisk", builder="twodisk",
        structure=StructureConfig(rg_treatment="gaussian", age_treatment="mixture", age_ref=6.625),
    )  # fmt: skip
    var_summary: ClassVar[tuple[str, ...]] = (
        "gradient", "intercept", "scatter", "trend_intercept", "trend_slope", "trend_scatter",
        "afe_at_pivot", "afe_slope", "afe_scatter", "thin_fraction",
    )  # fmt: skip
    #: Joint fits by (spec, seed, data hash), shared by the thin and thick views in one process.
    _fits: ClassVar[dict[tuple[str, int, str], az.InferenceData]] = {}

    @property
    def use_zmax(self) -> bool:
        return bool(self.spec.structure.membership_zmax)

    def _prepare(
        self, stars, bins: AgeBins | None = None, *, population: str | None = None
    ) -> TwoDiskData:
        st = self.spec.structure
        if st.rg_treatment != "gaussian" or st.age_treatment != "mixture":
            raise ModelInputError(
                f"model {self.name!r}: the two-disk model is written with the R_g error convolved and age "
                'errors as a mixture; set [structure] rg_treatment = "gaussian" and age_treatment = "mixture"'
            )
        disk = population or "thin"
        if disk not in DISKS:
            raise ModelInputError(f"the two-disk model reports the disks {DISKS}, not {disk!r}")
        if isinstance(stars, TwoDiskData):
            data = stars
        else:
            data = prepare_twodisk(
                stars,
                self.spec.data.bins_for(bins or AgeBins.from_config()),
                self.spec.structure,
                use_zmax=self.use_zmax,
            )
        return TwoDiskData(
            data.stars, data.afe, data.afe_err, data.zmax, data.label, population=disk
        )

    def _data_hash(self, data: TwoDiskData) -> str:
        return data.hash()

    def _build(self, data: TwoDiskData) -> pm.Model:
        return build_twodisk(data, self.priors, self.spec.structure, use_zmax=self.use_zmax)

    def _run_sampler(self, seed: int, progress: bool) -> az.InferenceData:
        from pymc.model.transform.optimization import freeze_dims_and_data

        from ._numpyro import sample_numpyro

        key = (self.spec.to_json(), int(seed), self.data.hash())
        if key in self._fits:
            return self._fits[key].copy()
        s = self.sampler
        idata = sample_numpyro(
            freeze_dims_and_data(self.model), draws=int(s.draws), tune=int(s.tune), chains=int(s.chains),
            target_accept=float(s.target_accept), max_tree_depth=int(s.max_tree_depth), seed=int(seed),
            progress=progress, log_likelihood=False, label=f"{self.name} (both disks)", dense_mass=True,
        )  # fmt: skip
        idata = self._with_data(idata)
        self._fits[key] = idata.copy()
        return idata

    def _with_data(self, idata: az.InferenceData) -> az.InferenceData:
        """Record the stars in ``constant_data`` so that a saved fit can be rebuilt (:meth:`load`)."""
        import xarray as xr

        sd, d = self.data.stars, self.data
        cols = {
            "feh_obs": sd.feh, "feh_err": sd.feh_err, "rg_obs": sd.rg, "rg_err": sd.rg_err,
            "age_obs": sd.age, "age_err": sd.age_err, "afe_obs": d.afe, "afe_err": d.afe_err, "zmax": d.zmax,
            "hard_label": np.array([{"thin": 1, "thick": 2}.get(v, 0) for v in d.label], dtype=np.int8),
        }  # fmt: skip
        ds = xr.Dataset(
            {k: ("star", np.asarray(v)) for k, v in cols.items()}, coords={"star": sd.source_id}
        )
        if "constant_data" in idata.groups():
            del idata.constant_data
        idata.add_groups(constant_data=ds)
        return idata

    @classmethod
    def _data_from_idata(cls, idata: az.InferenceData) -> TwoDiskData:
        cd = idata.constant_data
        spec = json.loads(idata.attrs["config"])
        bins = AgeBins(tuple(json.loads(idata.attrs["age_edges"])))
        table = pd.DataFrame({
            "source_id": np.asarray(cd["star"].values).astype(str), "feh": cd["feh_obs"].values,
            "feh_err": cd["feh_err"].values, "R_g": cd["rg_obs"].values, "R_g_err": cd["rg_err"].values,
            "age": cd["age_obs"].values, "age_err": cd["age_err"].values, "afe": cd["afe_obs"].values,
            "afe_err": cd["afe_err"].values, "Z_max": cd["zmax"].values,
            "population": np.array(["", "thin", "thick"])[cd["hard_label"].values.astype(int)],
        })  # fmt: skip
        structure = StructureConfig(
            **{k: tuple(v) if isinstance(v, list) else v for k, v in spec["structure"].items()}
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            data = prepare_twodisk(table, bins, structure, use_zmax=bool(structure.membership_zmax))
        return TwoDiskData(
            data.stars,
            data.afe,
            data.afe_err,
            data.zmax,
            data.label,
            population=str(idata.attrs.get("population", "thin")),
        )

    def _extra_attrs(self, data: TwoDiskData) -> dict[str, Any]:
        return {
            "population": data.population,
            "age_edges": json.dumps(list(data.bins.edges)),
            "counts": json.dumps(data.counts),
            "n_stars": int(data.n),
            "r_ref": float(self.spec.structure.r_ref),
            "age_ref": float(self.spec.structure.age_ref),
        }

    # -- results of the reported disk ------------------------------------------------------------
    def _disk(self, name: str) -> np.ndarray:
        return self._require_idata().posterior[name].sel(disk=self.data.population)

    def flattening_rate(self) -> dict[str, float]:
        """Posterior of the reported disk's MGAR slope s_d [dex/kpc/Gyr]: mean, sd, HDI."""
        return _summary_stats(self._disk("trend_slope").values, self.spec.report.hdi_prob)

    def mean_gradient(self) -> dict[str, float]:
        """Posterior of the mean of the reported disk's bin gradients [dex/kpc]."""
        return _summary_stats(
            self._disk("gradient").mean("age_bin").values, self.spec.report.hdi_prob
        )

    def band(self, ages: np.ndarray | None = None) -> pd.DataFrame:
        """Posterior mean and HDI band of the reported disk's MGAR line."""
        if ages is None:
            ages = np.linspace(self.data.bins.edges[0], self.data.bins.edges[-1], 50)
        post = self._require_idata().posterior.sel(disk=self.data.population)
        return line_band(az.InferenceData(posterior=post), ages, age_ref=self.spec.structure.age_ref,
                         hdi_prob=self.spec.report.hdi_prob)  # fmt: skip

    def gradient_table(self) -> pd.DataFrame:
        """Per-bin posterior of the reported disk's gradient (columns of ``mgar_bayes.csv``).

        ``n_stars`` is the expected number of the disk's stars in the bin (by
        observed age): the sum of their membership probabilities.
        """
        from .gradient import TABLE_COLUMNS

        idata = self._require_idata()
        g = self._disk("gradient")
        hdi = az.hdi(g, hdi_prob=self.spec.report.hdi_prob)["gradient"].values
        rhat = az.rhat(g.to_dataset(name="g"))["g"].values
        ess = az.ess(g.to_dataset(name="g"))["g"].values
        ess_tail = az.ess(g.to_dataset(name="g"), method="tail")["g"].values
        div = int(idata.sample_stats["diverging"].sum()) if "diverging" in idata.sample_stats else 0
        p = self.membership()["p_thin"].to_numpy()
        p = p if self.data.population == "thin" else 1.0 - p
        bins = self.data.bins
        n_exp = np.bincount(self.data.stars.bin_idx, weights=p, minlength=bins.n_bins)
        out = pd.DataFrame({
            "population": self.data.population, "model": self.name, "age_lo": bins.lo, "age_hi": bins.hi,
            "age_center": bins.centers, "n_stars": np.rint(n_exp).astype(int),
            "gradient": g.mean(("chain", "draw")).values, "gradient_err": g.std(("chain", "draw"), ddof=1).values,
            "hdi_lo": hdi[:, 0], "hdi_hi": hdi[:, 1], "r_hat": rhat, "ess_bulk": ess, "divergences": div,
        })  # fmt: skip
        out["ess_tail"] = ess_tail
        out["converged"] = (out["r_hat"] <= 1.01) & (div == 0)
        return out[[*TABLE_COLUMNS, "ess_tail", "converged"]]

    def membership(self, max_draws: int = 200) -> pd.DataFrame:
        """Each star's posterior probability of belonging to the thin disk.

        p_thin,i = E_posterior[ p(thin | [Fe/H]_i, [alpha/Fe]_i, R_g,i, age_i, parameters) ],
        averaged over ``max_draws`` evenly spaced posterior draws.

        Returns
        -------
        pandas.DataFrame
            ``source_id``, ``p_thin``, ``hard_label`` (the C25 selection the
            run made: thin, thick or empty), ``feh``, ``afe`` [dex], ``age`` [Gyr].
        """
        cached = getattr(self, "_membership", None)
        if cached is not None:
            return cached
        idata = self._require_idata()
        fn, names = self._membership_function()
        post = idata.posterior.stack(sample=("chain", "draw"))
        idx = np.unique(
            np.linspace(0, post.sizes["sample"] - 1, min(max_draws, post.sizes["sample"])).astype(
                int
            )
        )
        acc = np.zeros(self.data.n)
        for j in idx:
            acc += fn(*[np.asarray(post[n].isel(sample=j).values, dtype=float) for n in names])
        sd = self.data.stars
        self._membership = pd.DataFrame({
            "source_id": sd.source_id, "p_thin": acc / len(idx), "hard_label": self.data.label,
            "feh": sd.feh, "afe": self.data.afe, "age": sd.age,
        })  # fmt: skip
        return self._membership

    def _membership_function(self):
        model = self.model
        return _responsibility_fn(model, model._twodisk_terms), [v.name for v in model.free_RVs]

    def extra_tables(self) -> dict[str, pd.DataFrame]:
        """Per-star membership probabilities, written by ``mgar fit`` as ``membership_<model>.csv``."""
        return {f"membership_{self.name}.csv": self.membership()}
