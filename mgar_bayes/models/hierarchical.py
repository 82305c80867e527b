"""The hierarchical MGAR model: all bins of a population around a line in age, age errors as a mixture.

nabla_k ~ N(a + s (t_k - age_ref), eps), whose slope s is the flattening
rate [dex/kpc/Gyr]; with ``structure.age_treatment = "mixture"`` star i
contributes log sum_k w_ik p([Fe/H]_i | bin k), w_ik the probability that its
true age lies in bin k.

The fast route (numpyro backend, mixture, R_g ``"gaussian"`` or
``"integrate"`` with no star near a limit of R_g's support): the model has no
latent variable per star, only 3 + 3 K parameters. Each star's mixture runs
over its candidate bins only (:func:`mixture_blocks`: bins with
w_ik >= :data:`~.gradient.MIN_BIN_WEIGHT`, stars grouped by their number of
candidates, so nothing is padded), through the formulas of
:func:`~.likelihood.mixture_logp` evaluated with JAX ops (the truncated-normal
kernel with analytic derivatives). The priors, their transforms and the
constrained parameters come from the PyMC model's own graph
(``get_jaxified_graph``), so only the likelihood is evaluated by a second
route, and the tests check it against the PyMC model's ``logp`` (value and
gradient). NUTS runs with a diagonal mass matrix, the two chains in
parallel, started at the per-bin pre-fit. Other settings (latent R_g, C25's
1/P inflation, other backends) sample the PyMC model as it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pymc as pm

from ._math import Standardize, jax_ops
from ._numpyro import sample_numpyro
from .base import StarData
from .config import ModelSpec, StructureConfig, prior_variable
from .gradient import MIN_BIN_WEIGHT, _line_prefit, _StarModel, _summary_stats, line_band, prefit
from .likelihood import edge_stars, mixture_logp

__all__ = ["HierarchicalMGARModel", "MixtureBlocks", "mixture_blocks", "hierarchical_density"]


@dataclass(frozen=True)
class MixtureBlocks:
    """Each star's candidate bins, stars grouped by how many they have.

    Attributes
    ----------
    star : tuple of numpy.ndarray
        Per block, the stars' indices into the star table, shape (n_b,).
    kidx : tuple of numpy.ndarray
        Per block, the candidate bins (most probable first), shape (n_b, m_b).
    log_w : tuple of numpy.ndarray
        Per block, log w of the candidates, normalised over them, shape (n_b, m_b).
    """

    star: tuple[np.ndarray, ...]
    kidx: tuple[np.ndarray, ...]
    log_w: tuple[np.ndarray, ...]

    @property
    def n_stars(self) -> int:
        return int(sum(s.size for s in self.star))

    @property
    def n_pairs(self) -> int:
        """Star-bin terms of the mixture (what one evaluation of the likelihood costs)."""
        return int(sum(k.size for k in self.kidx))

    def inverse(self) -> np.ndarray:
        """Positions of the stars in the blocks' concatenation, in star order."""
        return np.argsort(np.concatenate(self.star), kind="stable")

    def padded(self) -> tuple[np.ndarray, np.ndarray]:
        """The same mixture as (n, M) arrays: unused slots have log w = -inf (and the first candidate's bin)."""
        n, m = self.n_stars, max(k.shape[1] for k in self.kidx)
        kidx = np.zeros((n, m), dtype=np.int64)
        log_w = np.full((n, m), -np.inf)
        for s, k, lw in zip(self.star, self.kidx, self.log_w, strict=True):
            kidx[s] = k[:, :1]
            kidx[s, : k.shape[1]] = k
            log_w[s, : k.shape[1]] = lw
        return kidx, log_w


#: Most blocks of :func:`mixture_blocks`: each is one kernel in the compiled density, so fewer
#: compile faster; the grouping that pads the fewest terms is chosen.
MAX_BLOCKS = 2


def _group_counts(m: np.ndarray, n: np.ndarray, max_groups: int) -> list[tuple[int, int]]:
    """Contiguous groups of the candidate counts ``m`` (ascending, ``n`` stars each) padding the fewest terms.

    Returns (first, last) index pairs into ``m``; a group pads its stars to its largest count.
    """
    k = len(m)
    best = {(0, 0): (0, [])}  # (groups used, counts covered) -> (padded terms, groups)
    for used in range(max_groups):
        for start in range(k):
            if (used, start) not in best:
                continue
            cost0, groups0 = best[(used, start)]
            for stop in range(start, k):
                cost = cost0 + int(m[stop] * n[start : stop + 1].sum())
                key = (used + 1, stop + 1)
                if key not in best or cost < best[key][0]:
                    best[key] = (cost, [*groups0, (start, stop)])
    return min((v for (u, c), v in best.items() if c == k and u > 0), key=lambda v: v[0])[1]


def mixture_blocks(
    prob: np.ndarray, min_weight: float = MIN_BIN_WEIGHT, max_blocks: int = MAX_BLOCKS
) -> MixtureBlocks:
    """Group the stars by their number of candidate bins (w_ik >= ``min_weight``).

    Parameters
    ----------
    prob : numpy.ndarray
        P_ik, shape (n, K).
    min_weight : float
        Smallest normalised weight w_ik = P_ik / sum_k P_ik kept; every star
        keeps at least its most probable bin. The kept weights are
        renormalised, so dropping bins of total weight W changes a star's
        likelihood by a factor within (1 - W, 1 / (1 - W)) of bins as
        likely as its kept ones.

    max_blocks : int
        Most blocks: stars with different counts share a block padded to its
        largest count (unused slots: log w = -inf, which adds exactly 0 to
        the mixture), grouped so that the fewest terms are padded.

    Returns
    -------
    MixtureBlocks
    """
    prob = np.asarray(prob, dtype=float)
    w = prob / np.maximum(prob.sum(axis=1, keepdims=True), 1e-300)
    count = np.maximum((w >= min_weight).sum(axis=1), 1)
    order = np.argsort(-w, axis=1, kind="stable")
    counts, n_with = np.unique(count, return_counts=True)
    stars, kidx, log_w = [], [], []
    for first, last in _group_counts(counts, n_with, max(int(max_blocks), 1)):
        idx = np.flatnonzero((count >= counts[first]) & (count <= counts[last]))
        m = int(counts[last])
        k = order[idx, :m]
        wk = np.take_along_axis(w[idx], k, axis=1)
        used = np.arange(m)[None, :] < count[idx, None]
        wk = np.where(used, wk, 0.0)
        lw = np.log(np.maximum(wk, 1e-300)) - np.log(wk.sum(axis=1, keepdims=True))
        stars.append(idx)
        kidx.append(np.where(used, k, k[:, :1]).astype(np.int64))
        log_w.append(np.where(used, lw, -np.inf))
    return MixtureBlocks(tuple(stars), tuple(kidx), tuple(log_w))


def hierarchical_density(
    model: pm.Model, data: StarData, blocks: MixtureBlocks, structure: StructureConfig
):
    """The model's log-density as JAX functions of its value variables (the fast route).

    Parameters
    ----------
    model : pymc.Model
        The hierarchical model built for ``data`` (mixture, no latent R_g).
    data : StarData
    blocks : MixtureBlocks
        The candidate bins the model was built with.
    structure : StructureConfig
        R_g treatment, truncation of [Fe/H], r_ref [kpc].

    Returns
    -------
    potential : callable
        -log p(theta) (numpyro's potential energy) of the list of value
        variables, equal to the PyMC model's ``-logp`` (jacobians included).
    pointwise : callable
        The per-star log-likelihood of [Fe/H], shape (n,), in star order.
    """
    import jax.numpy as jnp
    from pymc.sampling.jax import get_jaxified_graph
    from pymc.util import get_default_varnames

    inputs = model.value_vars
    # the priors (with the transforms' jacobians) and the constrained parameters: PyMC's own graph
    log_prior = get_jaxified_graph(inputs=inputs, outputs=[model.logp(vars=model.free_RVs)])
    named = {
        v.name: v
        for v in get_default_varnames(model.unobserved_value_vars, include_transformed=False)
    }
    params = get_jaxified_graph(
        inputs=inputs, outputs=[named["gradient"], named["intercept"], named["scatter"]]
    )
    arrays = [
        {
            "feh": jnp.asarray(data.feh[s]),
            "feh_err2": jnp.asarray(data.feh_err[s] ** 2),
            "rg": jnp.asarray(data.rg[s]),
            "rg_err": jnp.asarray(data.rg_err[s]),
            "log_w": jnp.asarray(lw),
            "kidx": jnp.asarray(k),
        }
        for s, k, lw in zip(blocks.star, blocks.kidx, blocks.log_w, strict=True)
    ]
    inverse = jnp.asarray(blocks.inverse())
    st = structure
    options = {
        "r_ref": st.r_ref,
        "feh_range": st.feh_range,
        "n_nodes": st.rg_nodes,
        "xp": jax_ops(),
    }

    def per_block(x):
        g, b, s = params(*x)
        s2 = s * s
        for a in arrays:
            k = a["kidx"]
            yield mixture_logp(
                st.rg_treatment, a["feh"], a["feh_err2"], a["rg"], a["rg_err"], a["log_w"],
                b[k], g[k], s2[k], **options,
            )  # fmt: skip

    def potential(x):
        return -(log_prior(*x)[0] + sum(ll.sum() for ll in per_block(x)))

    def pointwise(x):
        return jnp.concatenate(list(per_block(x)))[inverse]

    return potential, pointwise


class HierarchicalMGARModel(_StarModel):
    """Joint model of all bins of a population with the MGAR line as their prior.

    nabla_k ~ N(a + s (t_k - age_ref), eps); s is the flattening rate
    [dex/kpc/Gyr]. With ``structure.age_treatment = "mixture"`` (default of
    ``models/hierarchical.toml``) star i contributes
    log sum_k w_ik TruncNormal([Fe/H]_i | nabla_k (R_g,i - r_ref) + b_k,
    sqrt(sigma_k^2 + dFeH_i^2)), with w_ik = P_ik / sum_k P_ik the probability
    that its true age is in bin k given that it is in the binned range
    (candidate bins only: :func:`mixture_blocks`). With ``"inflate"`` each
    star sits in the bin of its observed age with C25's
    Sigma^2 = (sigma_k^2 + dFeH^2) / P^2 (kept for comparison; it makes sigma
    unidentifiable, see the tests). The priors of a, s, eps, b and sigma are
    the spec's ``trend_intercept``, ``trend_slope``, ``trend_scatter``,
    ``intercept`` and ``scatter``. See the module's description for the fast
    route the numpyro backend takes.
    """

    model_type: ClassVar[str] = "hierarchical"
    default_spec: ClassVar[ModelSpec] = ModelSpec(
        name="hierarchical",
        builder="hierarchical",
        structure=StructureConfig(age_treatment="mixture", age_ref=6.625, rg_treatment="gaussian"),
    )
    var_summary: ClassVar[tuple[str, ...]] = (
        "gradient",
        "intercept",
        "scatter",
        "trend_intercept",
        "trend_slope",
        "trend_scatter",
    )
    #: Mass matrix of the fast route: diagonal. A dense one took more leapfrog steps per draw on
    #: 900 stars with 20% age errors (the mixture's adjacent-bin intercept/scatter trade-offs are
    #: not a linear correlation that it could absorb); set True to compare.
    dense_mass: ClassVar[bool] = False

    def _build(self, data: StarData) -> pm.Model:
        st = self.structure
        bins = data.bins
        coords = {"star": data.source_id, "age_bin": bins.labels()}
        with pm.Model(coords=coords) as model:
            d = self._star_data(data)
            age_c = pm.Data("age_center", bins.centers, dims="age_bin")
            pf = prefit(data, st.r_ref)
            gradient = self._bin_gradients(bins, age_c, pf)
            intercept, scatter = self._bin_intercepts_scatters(bins, pf)
            if st.age_treatment == "mixture":
                self._blocks = mixture_blocks(data.prob)
                kidx, log_w = self._blocks.padded()
                model.add_coord("candidate", np.arange(kidx.shape[1]))
                k = pm.Data("candidate_bin", kidx, dims=("star", "candidate"))
                lw = pm.Data("log_w", log_w, dims=("star", "candidate"))
                var = scatter[k] ** 2 + d["feh_err"][:, None] ** 2
                self._observe(data, d, var, intercept[k], gradient[k], log_w=lw)
            else:
                self._blocks = None
                bin_of = pm.Data("bin_of_star", data.bin_idx, dims="star")
                p_own = pm.Data("p_bin", np.clip(data.own_prob, 1e-6, 1.0), dims="star")
                var = (scatter[bin_of] ** 2 + d["feh_err"] ** 2) / p_own**2
                self._observe(data, d, var, intercept[bin_of], gradient[bin_of])
        return model

    def _line(self, bins, age_c, pf):
        """The MGAR line's a, s (the spec's priors) and their pre-fit eps, in the current model."""
        pr, st = self.priors, self.structure
        a0, a_se, s0, s_se, eps0 = _line_prefit(
            bins.centers, pf.gradient, pf.gradient_se, st.age_ref
        )
        # the spec's families; the transforms only set the sampler's coordinates (pre-fit scaled)
        a = prior_variable(pr.trend_intercept, "trend_intercept", transform=Standardize(a0, a_se))
        s = prior_variable(pr.trend_slope, "trend_slope", transform=Standardize(s0, s_se))
        return a, s, eps0

    def _bin_gradients(self, bins, age_c, pf):
        """The bins' gradients nabla_k ~ N(a + s (t_k - age_ref), eps), named ``gradient``."""
        pr, st = self.priors, self.structure
        a, s, eps0 = self._line(bins, age_c, pf)
        eps = prior_variable(
            pr.trend_scatter,
            "trend_scatter",
            transform=Standardize(np.log(max(eps0, 1e-3)), 1.0),
        )
        line = a + s * (age_c - st.age_ref)
        if st.noncentered:
            z = pm.Normal("gradient_z", 0.0, 1.0, dims="age_bin")
            return pm.Deterministic("gradient", line + eps * z, dims="age_bin")
        return pm.Normal(
            "gradient",
            line,
            eps,
            dims="age_bin",
            transform=Standardize(pf.gradient, pf.gradient_se),
        )

    def _bin_intercepts_scatters(self, bins, pf):
        """The bins' intercepts b_k and scatters sigma_k (independent priors), in the current model."""
        pr = self.priors
        intercept = prior_variable(
            pr.intercept,
            "intercept",
            dims="age_bin",
            transform=Standardize(pf.intercept, pf.intercept_se),
        )
        scatter = prior_variable(
            pr.scatter,
            "scatter",
            dims="age_bin",
            transform=Standardize(np.log(pf.scatter), 1.0),
        )
        return intercept, scatter

    def fast_route(self) -> bool:
        """Whether :meth:`fit` samples the JAX mixture density (see the module's description)."""
        st = self.structure
        if self.sampler.backend != "numpyro" or st.age_treatment != "mixture":
            return False
        if st.rg_treatment == "gaussian":
            return True
        # "integrate" keeps a latent R_g for stars near a limit of R_g's support
        edge = edge_stars(self.data.rg, self.data.rg_err, st.rg_range)
        return st.rg_treatment == "integrate" and not edge.any()

    def _run_sampler(self, seed: int, progress: bool):
        if not self.fast_route():
            return super()._run_sampler(seed, progress)
        from ._numpyro import prepare_jax

        s = self.sampler
        prepare_jax(int(s.chains))  # before JAX is first imported: one host device per chain
        potential, pointwise = hierarchical_density(
            self.model, self.data, self._blocks, self.structure
        )
        return sample_numpyro(
            self.model,
            draws=int(s.draws),
            tune=int(s.tune),
            chains=int(s.chains),
            target_accept=float(s.target_accept),
            max_tree_depth=int(s.max_tree_depth),
            seed=int(seed),
            progress=progress,
            log_likelihood=bool(s.log_likelihood),
            label=self._progress_label(),
            potential=potential,
            pointwise={"feh": pointwise},
            dense_mass=self.dense_mass,
        )

    def _extra_attrs(self, data: StarData) -> dict[str, Any]:
        return {**super()._extra_attrs(data), "age_ref": float(self.structure.age_ref)}

    def flattening_rate(self) -> dict[str, float]:
        """Posterior of the line's slope s [dex/kpc/Gyr]: mean, sd, HDI."""
        return _summary_stats(
            self._require_idata().posterior["trend_slope"].values, self.report.hdi_prob
        )

    def band(self, ages: np.ndarray | None = None) -> pd.DataFrame:
        """Posterior mean and HDI band of the MGAR line (see :func:`~.gradient.line_band`)."""
        if ages is None:
            ages = np.linspace(self.data.bins.edges[0], self.data.bins.edges[-1], 50)
        return line_band(
            self._require_idata(),
            ages,
            age_ref=self.structure.age_ref,
            hdi_prob=self.report.hdi_prob,
        )
