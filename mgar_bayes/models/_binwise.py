"""NUTS on each age bin of :class:`~.gradient.BinGradientModel` separately, all bins in one compiled call.

The bins of C25's per-bin model share no parameter and no star, so the joint
posterior is the product of the bins' posteriors. Sampling them jointly makes
every bin wait for the worst one: one step size and one trajectory length
for all, set by the bin with the most awkward geometry (old bins, where the
1/P inflation of C25 eq. A4 makes the scatter ill-determined). Here every bin
gets its own NUTS chain with its own step size and mass matrix, and all
(chain, bin) pairs run in one compiled JAX program: the chains in parallel on
separate host devices, the bins one after another within a chain. Stars are
padded to a common count per bin with a mask, so one compilation serves every
bin.

The log-density is written with the same formulas as the PyMC model
(:mod:`.likelihood`, evaluated with JAX ops), in the same coordinates for
the gradient, the intercept (standardised by the pre-fit) and the latent R_g
(unit-scale ``rg_raw``). The scatter is sampled as sigma = |w| with
w ~ Normal(0, scatter_sigma), the same model as sigma ~ HalfNormal: every
term depends on sigma^2 = w^2, so the density is smooth through w = 0. In
the old bins C25's 1/P inflation lets sigma run down to ~0 (its posterior
flat from 0 to ~0.005 dex), which in PyMC's log(sigma) is an exponential tail
beside a steep edge: step sizes of 0.2 and 13-14 leapfrog steps per draw,
where w gives 6-7, about as in the young bins (benchmarks/c25_size.py). The tests
check the density against the PyMC model's, bin by bin, with the Jacobian of
the change of coordinates.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from functools import cache
from typing import Any

import arviz as az
import numpy as np
import pymc as pm

from ._math import jax_ops
from .config import PriorConfig, SamplerConfig
from .likelihood import edge_stars, gaussian_moments

__all__ = [
    "BinBlocks",
    "BinDensity",
    "bin_blocks",
    "bin_density",
    "bin_log_density",
    "chunk_edges",
    "sample_bins_numpyro",
]

log = logging.getLogger(__name__)

#: Padded star counts are rounded up to a multiple of this.
PAD_MULTIPLE = 32
#: Values of padded (masked) star slots: inside every support, so every term stays finite.
_PAD = {"feh": -0.25, "e2_ip2": 0.0025, "rg": 10.0, "rg_err": 1.0, "ip2": 1.0}
#: Host round trips of the sampling loop when progress is shown: bar updates over the whole run.
PROGRESS_UPDATES = 20
#: Sample stats kept per bin (``<name>_bin``, dim ``age_bin``) beside their whole-model summary.
_BIN_STATS = ("diverging", "n_steps", "acceptance_rate", "step_size", "energy")


@dataclass(frozen=True)
class BinBlocks:
    """Stars of each used bin in padded arrays, one block per star group.

    Groups: ``"inner"`` (stars far from the R_g limits) and ``"edge"``
    (within :data:`~.likelihood.EDGE_SIGMAS` dR_g of a limit; they keep a
    latent R_g under :func:`~.likelihood.edge_map`), or one group ``"all"`` for the
    Gaussian treatment. Per group, arrays of shape (K, n_pad): ``feh``,
    ``ip2`` (1/P^2, P of the star's own bin), ``e2_ip2`` (dFeH^2 / P^2),
    ``rg``, ``rg_err``, ``mask`` and ``star`` (index into the star table, -1 for padding).
    ``loc`` holds the per-bin pre-fit, shape (K,): ``g0, gse, b0, bse, s0, sse``
    (w = s0 + sse theta_2, see the module's description).
    """

    groups: dict[str, dict[str, np.ndarray]]
    loc: dict[str, np.ndarray]
    latent: dict[str, str]  # group -> "affine" | "edge" (groups with a latent R_g)
    treatment: str

    @property
    def n_bins(self) -> int:
        return len(self.loc["g0"])

    def slot_index(self, names) -> np.ndarray:
        """Where each star of the groups ``names`` sits among their slots, in star-table order.

        The slots are those of the groups' (bin, n_pad) arrays flattened and
        concatenated in the order of ``names``; the result has one entry per
        star of those groups, ordered by the star's index in the star table.
        """
        # padded slots sort last and are cut off
        star = np.concatenate([self.groups[name]["star"].ravel() for name in names])
        n = int((star >= 0).sum())
        return np.argsort(np.where(star >= 0, star, np.iinfo(np.int64).max), kind="stable")[:n]


def _pad(n: int) -> int:
    return max(PAD_MULTIPLE, -(-n // PAD_MULTIPLE) * PAD_MULTIPLE)


def bin_blocks(data, priors: PriorConfig, local: np.ndarray, pf, used: np.ndarray) -> BinBlocks:
    """Arrange the stars of ``data`` by bin and group (see :class:`BinBlocks`).

    Parameters
    ----------
    data : StarData
    priors : PriorConfig
    local : numpy.ndarray of int
        Each star's position among the used bins.
    pf : PreFit
        Per-bin pre-fit over all bins of ``data.bins``.
    used : numpy.ndarray of int
        The used bins' indices into ``data.bins``.
    """
    treatment = priors.rg_treatment
    p_own = np.clip(data.own_prob, 1e-6, 1.0)
    if treatment == "gaussian":
        member = {"all": np.ones(data.n, dtype=bool)}
        latent = {}
    else:
        edge = edge_stars(data.rg, data.rg_err, priors.rg_range)
        member = {"inner": ~edge, "edge": edge}
        latent = {"edge": "edge"} | ({"inner": "affine"} if treatment == "sample" else {})
    k_bins = len(used)
    groups = {}
    for name, sel in member.items():
        per_bin = [np.flatnonzero(sel & (local == k)) for k in range(k_bins)]
        n_max = max(len(i) for i in per_bin)
        if n_max == 0:
            latent.pop(name, None)
            continue
        n_pad = _pad(n_max)
        star = np.full((k_bins, n_pad), -1, dtype=np.int64)
        for k, idx in enumerate(per_bin):
            star[k, : len(idx)] = idx
        mask = star >= 0
        block = {"star": star, "mask": mask}
        for key, values in (
            ("feh", data.feh),
            ("ip2", p_own**-2),
            ("e2_ip2", (data.feh_err / p_own) ** 2),
            ("rg", data.rg),
            ("rg_err", data.rg_err),
        ):
            block[key] = np.where(mask, values[np.maximum(star, 0)], _PAD[key])
        groups[name] = block
    loc = {
        "g0": pf.gradient[used],
        "gse": pf.gradient_se[used],
        "b0": pf.intercept[used],
        "bse": pf.intercept_se[used],
    }
    loc["s0"], loc["sse"] = _scatter_prefit(groups, loc, priors.r_ref)
    return BinBlocks(groups=groups, loc=loc, latent=latent, treatment=treatment)


def _scatter_prefit(groups, loc, r_ref: float) -> tuple[np.ndarray, np.ndarray]:
    """Moment estimate of each bin's scatter under the model's variance, and its standard error [dex].

    The residuals r about the pre-fit line have E[r^2] = v = w^2 / P^2 +
    dFeH^2 / P^2 + nabla^2 dR_g^2 and Var(r^2) ~ 2 v^2; w^2 is the weighted
    least-squares fit of r^2 - (the known terms) on 1/P^2 with weights 1 / v^2,
    iterated three times. It sets the sampler's coordinate w = s0 + sse theta_2.
    The pre-fit of :func:`~.gradient.prefit` ignores the 1/P inflation, so its
    scatter can be 4 times the model's (old thick-disk bins) and 50 posterior
    sd away; a warm-up that starts on the identity mass matrix then spends
    most of its leapfrog steps in its first 100 iterations. With this pre-fit
    theta_2 is ~N(0, 1) from the start, as the gradient and intercept are;
    where the estimate is 0 (C25's inflation at old ages), w is centred on 0.
    """

    def stack(key):
        return np.concatenate([g[key] for g in groups.values()], axis=1)

    mask = stack("mask")
    resid = stack("feh") - (loc["b0"][:, None] + loc["g0"][:, None] * (stack("rg") - r_ref))
    known = stack("e2_ip2") + (loc["g0"][:, None] * stack("rg_err")) ** 2
    ip2 = stack("ip2")
    u = resid**2 - known
    w2 = np.full(len(mask), 0.01)
    for _ in range(3):
        weight = np.where(mask, 1.0 / (w2[:, None] * ip2 + known) ** 2, 0.0)
        info = np.maximum((weight * ip2 * ip2).sum(axis=1), 1e-300)
        w2 = np.maximum((weight * ip2 * u).sum(axis=1) / info, 0.0)
    w2_se = np.sqrt(2.0 / info)
    s0 = np.sqrt(w2)
    return s0, np.maximum(np.sqrt(w2 + w2_se) - s0, 1e-4)


def _line(params, d):
    th = params["theta"]
    return d["g0"] + d["gse"] * th[0], d["b0"] + d["bse"] * th[1], d["s0"] + d["sse"] * th[2]


_LOC_KEYS = ("g0", "gse", "b0", "bse", "s0", "sse")
_GROUP_KEYS = ("feh", "ip2", "e2_ip2", "rg", "rg_err", "mask")


@dataclass(frozen=True)
class BinDensity:
    """The log-density of one bin as JAX functions, compiled from a PyMC model of one bin.

    ``logp(*args)`` and ``pointwise(*args)`` take :meth:`args` of the
    sampler's parameters and one bin's data; ``model`` is the PyMC model,
    ``value_names`` its value variables in the order of the parameters
    (``theta`` [0], [1], [2], then ``z_<group>`` of :attr:`BinBlocks.latent`).
    """

    model: pm.Model
    value_names: tuple[str, ...]
    latent: tuple[str, ...]
    groups: tuple[str, ...]
    logp: Any
    pointwise: Any

    def args(self, params, d) -> list:
        th = params["theta"]
        out = [th[0], th[1], th[2], *(params[f"z_{name}"] for name in self.latent)]
        out += [d[k] for k in _LOC_KEYS]
        return out + [d[name][k] for name in self.groups for k in _GROUP_KEYS]


_DENSITIES: dict[tuple, BinDensity] = {}


def bin_density(blocks: BinBlocks, priors: PriorConfig) -> BinDensity:
    """The PyMC model of one bin (stars padded to the blocks' counts, masked) and its JAX log-density.

    The model is written with the builders' parts: the spec's prior families
    (:func:`~.config.prior_variable`), the gradient and intercept standardised
    by the bin's pre-fit and the scatter sampled as sigma = |s0 + sse theta_2|
    (:class:`~._math.SignedStandardize`), exactly as in
    :meth:`~.gradient.BinGradientModel._build`; the latent R_g of
    :func:`~.likelihood.latent_rg` and the likelihoods of
    :mod:`.likelihood`, whose truncated-normal kernel is one PyTensor node
    with a JAX implementation (:class:`~._math.TruncNormLogp`). The bin's
    pre-fit and stars are inputs of the graph, so one compiled function
    serves every bin. The log-density is PyMC's ``model.logp()`` (priors,
    Jacobians, likelihood) through ``get_jaxified_graph``; the tests check
    that its sum over bins is the joint PyMC model's, value and gradient.
    """
    import pytensor
    import pytensor.tensor as pt
    from pymc.sampling.jax import get_jaxified_graph
    from pytensor.graph.replace import graph_replace

    from ._math import SignedStandardize, Standardize, truncnorm_logpdf_var_sum
    from .config import prior_variable
    from .likelihood import feh_loglike, latent_rg

    shapes = tuple((name, blocks.groups[name]["star"].shape[1]) for name in blocks.groups)
    key = (shapes, tuple(sorted(blocks.latent.items())), blocks.treatment, repr(priors.to_dict()),
           priors.r_ref, priors.feh_range, priors.rg_range, priors.rg_nodes)  # fmt: skip
    if key in _DENSITIES:
        return _DENSITIES[key]
    jax_ops()  # registers the JAX implementation of the kernel node
    lo, hi = priors.feh_range
    # shared variables holding bin 0 while the model is built (PyMC's logp needs valued inputs),
    # replaced by inputs of the compiled function below
    loc = {k: pytensor.shared(float(blocks.loc[k][0]), name=k) for k in _LOC_KEYS}
    data = {
        name: {k: pytensor.shared(np.asarray(grp[k][0], dtype=bool if k == "mask" else float), name=f"{name}_{k}")
               for k in _GROUP_KEYS}
        for name, grp in blocks.groups.items()
    }  # fmt: skip
    per_star = []
    slots = {
        f"{name}_slot": np.arange(blocks.groups[name]["star"].shape[1]) for name in blocks.latent
    }
    with pm.Model(coords=slots) as model:
        # in the model's own values; the bin's coordinates are put in below (PyMC's transforms
        # cannot depend on graph inputs such as the bin's pre-fit)
        g = prior_variable(priors.gradient, "gradient", default_transform=None)
        b = prior_variable(priors.intercept, "intercept", default_transform=None)
        s = prior_variable(priors.scatter, "scatter", default_transform=None)
        for name, grp in data.items():
            var = s * s * grp["ip2"] + grp["e2_ip2"]  # C25 eq. A4, (sigma^2 + dFeH^2) / P^2
            kind = blocks.latent.get(name)
            rg = grp["rg"]
            if kind is not None:
                n_pad = blocks.groups[name]["star"].shape[1]
                with pm.Model(name=name):
                    # the edge map for stars near a limit of R_g's support, else R = R_obs + dR raw
                    edge = None if kind == "edge" else np.zeros(n_pad, dtype=bool)
                    rg = latent_rg(rg, grp["rg_err"], priors.rg_range, edge, dims=f"{name}_slot")
            treatment = "sample" if kind is not None else blocks.treatment
            opts = {"edge": np.zeros(1, dtype=bool), "r_ref": priors.r_ref, "feh_range": priors.feh_range,
                    "n_nodes": priors.rg_nodes}  # fmt: skip
            lik = feh_loglike(treatment, grp["feh"], var, b, g, rg, grp["rg_err"], **opts)
            per_star.append(pt.switch(grp["mask"], lik, 0.0))
            if treatment == "integrate":
                total = per_star[-1].sum()
            else:
                # one truncated normal per star: the masked-sum node (fewer logs in JAX) of the same kernel
                mu, v = (b + g * (rg - priors.r_ref), var) if treatment == "sample" else gaussian_moments(
                    var, b, g, rg, grp["rg_err"], priors.r_ref)  # fmt: skip
                total = truncnorm_logpdf_var_sum(grp["feh"], mu, v, lo, hi, grp["mask"])
            pm.Potential(f"feh_{name}", total)
    values = {v.name: v for v in model.value_vars}
    latent = tuple(blocks.latent)
    names = [f"{name}::rg_raw" for name in latent]
    shared = list(loc.values()) + [data[n][k] for n in data for k in _GROUP_KEYS]
    free = [s.type(name=s.name) for s in shared]
    free_loc = dict(zip(_LOC_KEYS, free, strict=False))
    # the sampler's coordinates, as the full model's transforms (Standardize, SignedStandardize) have them
    theta = [pt.dscalar(f"theta_{j}") for j in range(3)]
    coords = {
        "gradient": (Standardize(free_loc["g0"], free_loc["gse"]), theta[0]),
        "intercept": (Standardize(free_loc["b0"], free_loc["bse"]), theta[1]),
        "scatter": (SignedStandardize(free_loc["s0"], free_loc["sse"]), theta[2]),
    }
    swap = dict(zip(shared, free, strict=True))
    jacobian = 0.0
    for name, (tr, y) in coords.items():
        swap[values[name]] = tr.backward(y)
        jacobian = jacobian + tr.log_jac_det(y)
    inputs = theta + [values[n] for n in names] + free
    per_star = model.replace_rvs_by_values(per_star)  # the likelihood terms at the value variables
    outputs = graph_replace([model.logp() + jacobian, *per_star], swap, strict=False)
    names = ["gradient", "intercept", "scatter", *names]
    logp_fn = get_jaxified_graph(inputs=inputs, outputs=outputs[:1])
    point_fn = get_jaxified_graph(inputs=inputs, outputs=outputs[1:])
    dens = BinDensity(
        model=model,
        value_names=tuple(names),
        latent=latent,
        groups=tuple(data),
        logp=lambda *a: logp_fn(*a)[0],
        pointwise=point_fn,
    )
    _DENSITIES[key] = dens
    return dens


def bin_log_density(params, d, blocks: BinBlocks, priors: PriorConfig, pointwise: bool = False):
    """Log-density of one bin in the sampler's coordinates (JAX), from :func:`bin_density`'s PyMC model.

    Parameters
    ----------
    params : dict
        ``theta`` (standardised gradient, intercept and w = +-scatter) and
        ``z_<group>`` for the groups with a latent R_g.
    d : dict
        One bin's slice of the blocks (``loc`` entries and the groups).
    pointwise : bool
        Also return the per-star log-likelihood of each group (0 in padded slots).
    """
    dens = bin_density(blocks, priors)
    args = dens.args(params, d)
    lp = dens.logp(*args)
    if not pointwise:
        return lp
    return lp, dict(zip(dens.groups, dens.pointwise(*args), strict=True))


@cache
def _star_ll_fn(treatment: str, r_ref: float, feh_range: tuple, n_nodes: int):
    """Per-star log-likelihood of one star group without latent R_g as a JAX function of (g, b, w, stars)."""
    import pytensor.tensor as pt
    from pymc.sampling.jax import get_jaxified_graph

    from .likelihood import feh_loglike

    jax_ops()
    g, b, w = (pt.dtensor3(n) for n in ("g", "b", "w"))  # (chain, draw, star)
    star = {k: pt.dvector(k) for k in ("feh", "ip2", "e2_ip2", "rg", "rg_err")}
    var = w * w * star["ip2"] + star["e2_ip2"]
    ll = feh_loglike(treatment, star["feh"], var, b, g, star["rg"], star["rg_err"], edge=np.zeros(1, dtype=bool),
                     r_ref=r_ref, feh_range=feh_range, n_nodes=n_nodes)  # fmt: skip
    fn = get_jaxified_graph(inputs=[g, b, w, *star.values()], outputs=[ll])
    return lambda g, b, w, s: fn(g, b, w, *(s[k] for k in star))[0]


def _device_arrays(blocks: BinBlocks) -> dict[str, Any]:
    d: dict[str, Any] = {k: np.asarray(v, dtype=float) for k, v in blocks.loc.items()}
    for name, grp in blocks.groups.items():
        d[name] = {
            k: np.asarray(v, dtype=bool if k == "mask" else float)
            for k, v in grp.items()
            if k != "star"
        }
    return d


def _initial_params(blocks: BinBlocks, chains: int, seed: int) -> dict[str, np.ndarray]:
    """Pre-fit start (0 in every coordinate) with uniform(-0.5, 0.5) jitter, shape (chains, K, ...)."""
    rng = np.random.default_rng(seed)
    k = blocks.n_bins
    out = {"theta": rng.uniform(-0.5, 0.5, size=(chains, k, 3))}
    for name in blocks.latent:
        n = blocks.groups[name]["star"].shape[1]
        out[f"z_{name}"] = rng.uniform(-0.5, 0.5, size=(chains, k, n))
    return out


def _star_log_likelihood(
    theta: np.ndarray, blocks: BinBlocks, priors: PriorConfig, d_all: dict
) -> np.ndarray:
    """Pointwise log-likelihood of every draw, (chain, draw, star) in star-table order, for one group without latent R_g.

    Each star takes its bin's line at each draw: one elementwise pass over
    (chain, draw, star) on one device, written once into the array that the
    InferenceData keeps (no padded per-bin copy, no gather, no host copy).
    Fresh memory is slow to touch on some virtual machines (~3 ms per MB
    here), and the log-likelihood of a C25-size population is 300-400 MB.
    """
    import jax
    import jax.numpy as jnp

    (name,) = blocks.groups
    slot = blocks.slot_index([name])  # star-table order -> flattened (bin, slot)
    k_of, _ = np.unravel_index(slot, blocks.groups[name]["star"].shape)
    per_star = {
        key: v.ravel()[slot] for key, v in d_all[name].items()
    }  # d_all: _device_arrays(blocks)
    loc = {key: v[k_of] for key, v in blocks.loc.items()}

    star_ll = _star_ll_fn(
        blocks.treatment, float(priors.r_ref), tuple(priors.feh_range), int(priors.rg_nodes)
    )

    @jax.jit
    def ll(theta, loc, per_star):
        th = jnp.moveaxis(theta[:, k_of], 1, -2)  # (chain, star, draw, 3) -> (chain, draw, star, 3)
        g, b, w = _line({"theta": jnp.moveaxis(th, -1, 0)}, loc)
        return star_ll(g, b, w, per_star)

    return np.asarray(ll(theta, loc, per_star))


def chunk_edges(tune: int, draws: int, n_chunks: int) -> np.ndarray:
    """Iteration numbers at which the sampling loop hands back to the host, from 0 to ``tune + draws``.

    About ``n_chunks`` chunks of near-equal length, shared between warm-up and
    draws in proportion, with an edge at ``tune`` so that the phase the
    progress bar names is exact. One chunk when ``n_chunks`` is 1.
    """
    total = tune + draws
    if n_chunks <= 1 or total == 0:
        return np.array([0, total])
    n_warm = min(tune, max(1, round(n_chunks * tune / total))) if tune else 0
    n_draw = min(draws, max(1, n_chunks - n_warm)) if draws else 0
    edges = np.r_[np.linspace(0, tune, n_warm + 1), np.linspace(tune, total, n_draw + 1)]
    return np.unique(np.round(edges).astype(np.int64))


def sample_bins_numpyro(
    model: pm.Model,
    blocks: BinBlocks,
    priors: PriorConfig,
    sampler: SamplerConfig,
    *,
    seed: int,
    progress: bool = False,
    label: str = "",
    n_chunks: int | None = None,
) -> az.InferenceData:
    """Sample every bin with its own NUTS chains; return the layout of ``pm.sample``.

    Parameters
    ----------
    model : pymc.Model
        The PyMC model of all bins (coords, observed and constant data).
    blocks : BinBlocks
    priors : PriorConfig
    sampler : SamplerConfig
        Draws, tune, chains, target_accept, max_tree_depth, keep_latent, log_likelihood.
    seed : int
        Seed of the jitter and of the sampler.
    progress : bool
        Show the compilation, a warm-up and sampling bar with the time left,
        and the post-processing on stderr; nothing at all when False.
    label : str
        Model and population, the start of every progress line.
    n_chunks : int, optional
        Host round trips of the sampling loop (default: :data:`PROGRESS_UPDATES`
        with ``progress``, else 1). The draws do not depend on it.

    Returns
    -------
    arviz.InferenceData
        ``posterior`` (gradient, intercept, scatter; ``rg_raw`` with
        ``keep_latent``), ``sample_stats``, ``log_likelihood`` (``feh``),
        ``observed_data``, ``constant_data``. Sample stats with dims (chain,
        draw) describe the whole model (``diverging``: any bin diverged;
        ``lp``, ``energy``, ``n_steps``: sums over bins); their per-bin
        values are ``*_bin`` with dim ``age_bin``.

    Notes
    -----
    Warm-up and draws are one loop, one copy of the NUTS kernel to compile.
    It runs in chunks: one compiled function advances every (chain, bin)
    state from iteration ``start`` to ``stop`` (both arguments, not constants,
    so every chunk length shares the compilation; the chunk from 0 first
    starts the chains) and writes the draws into buffers that are donated
    from call to call, so they are filled in place. A chunk's iterations are
    the ones a single call would make, so the draws are the same, bit for
    bit, for any chunking. All chunks are queued at once and the host only
    follows them; 20 chunks cost about 1% of the sampling time
    (``benchmarks/c25_size.py``).
    """
    from ._numpyro import FitProgress, model_idata, prepare_jax

    report = FitProgress(label, progress)
    chains, draws, tune = int(sampler.chains), int(sampler.draws), int(sampler.tune)
    method = prepare_jax(chains)
    import jax
    import jax.numpy as jnp
    from numpyro.infer.hmc import hmc

    t0 = time.perf_counter()
    d_all = _device_arrays(blocks)
    want_ll = bool(sampler.log_likelihood)
    # without latent R_g (then there is one star group) the log-likelihood is a function of the
    # line's draws alone: computed after sampling, straight into star order (_star_log_likelihood)
    ll_in_loop = want_ll and bool(blocks.latent)
    k_bins = blocks.n_bins
    tree_map = jax.tree_util.tree_map

    with report.step("building the log-density of one bin from the PyMC model"):
        bin_density(
            blocks, priors
        )  # outside any JAX trace: its constants must not be traced values

    def potential_gen(d):
        return lambda p: -bin_log_density(p, d, blocks, priors)

    init_kernel, sample_kernel = hmc(potential_fn_gen=potential_gen, algo="NUTS")

    def record(s, d):
        out = {
            "theta": s.z["theta"],
            "diverging": s.diverging,
            "n_steps": s.num_steps,
            "acceptance_rate": s.accept_prob,
            "step_size": s.adapt_state.step_size,
            "energy": s.energy,
            "lp": -s.potential_energy,
        }
        if sampler.keep_latent:
            out.update({k: v for k, v in s.z.items() if k != "theta"})
        if ll_in_loop:
            out["ll"] = bin_log_density(s.z, d, blocks, priors, pointwise=True)[1]
        return out

    def at_bin(tree, k):
        return tree_map(lambda a: jax.lax.dynamic_index_in_dim(a, k, keepdims=False), tree)

    def put(buf, value, *index):
        # buf[index] = value as a dynamic-update-slice: in place in a loop's carry
        value = jnp.asarray(value, buf.dtype).reshape((1,) * len(index) + buf.shape[len(index) :])
        return jax.lax.dynamic_update_slice(buf, value, (*index, *(0,) * (buf.ndim - len(index))))

    def init_bin(key, z, d):
        return init_kernel(
            z,
            num_warmup=tune,
            target_accept_prob=float(sampler.target_accept),
            max_tree_depth=int(sampler.max_tree_depth),
            model_args=(d,),
            rng_key=key,
        )

    def advance_chain(states, bufs, inputs, start, stop):
        # one chain: iterations [start, stop) of every bin, one bin after another (a vmapped
        # batch would make every bin take as many leapfrog steps as the slowest one in each
        # draw: 2.2x the work)
        keys, z0, d = inputs

        def one_bin(k, carry):
            states, bufs = carry
            dk = at_bin(d, k)

            def step(i, carry):
                s, bufs = carry
                s = sample_kernel(s, model_args=(dk,))

                def write(b):
                    return tree_map(lambda buf, v: put(buf, v, k, i - tune), b, record(s, dk))

                return s, jax.lax.cond(i >= tune, write, lambda b: b, bufs)

            # the first chunk starts the chain: numpyro's init compiled with the kernel (as a
            # program of its own it took ~1 s more to compile)
            s = jax.lax.cond(
                start == 0, lambda: init_bin(keys[k], at_bin(z0, k), dk), lambda: at_bin(states, k)
            )
            s, bufs = jax.lax.fori_loop(start, stop, step, (s, bufs))
            return tree_map(lambda a, v: put(a, v, k), states, s), bufs

        states, bufs = jax.lax.fori_loop(0, k_bins, one_bin, (states, bufs))
        # divergent draws so far (the buffer starts all False): a small output, not donated, to wait on
        return states, bufs, bufs["diverging"].sum()

    latent_names = list(blocks.latent) if sampler.keep_latent else []
    index = {
        "ll": blocks.slot_index(list(blocks.groups)) if ll_in_loop else None,
        "rg_raw": blocks.slot_index(latent_names) if latent_names else None,
    }

    def to_stars(per_group, idx):
        # (bin, draw, n_pad) per group -> (draw, star), on the device, in star-table order
        flat = [jnp.swapaxes(v, 0, 1).reshape(v.shape[1], -1) for v in per_group]
        return jnp.take(jnp.concatenate(flat, axis=1), idx, axis=1)

    def finish_chain(bufs):
        out = {}
        if ll_in_loop:
            out["ll"] = to_stars([bufs["ll"][name] for name in blocks.groups], index["ll"])
        if latent_names:
            out["rg_raw"] = to_stars([bufs[f"z_{name}"] for name in latent_names], index["rg_raw"])
        return out

    in_parallel = method == "parallel" and chains > 1
    per_chain = (0, 0, 0, None, None)  # start and stop are the same for every chain
    if in_parallel:
        advance_fn = jax.pmap(advance_chain, in_axes=per_chain, donate_argnums=(0, 1))
        finish_fn = jax.pmap(finish_chain)
    else:
        advance_fn = jax.jit(jax.vmap(advance_chain, in_axes=per_chain), donate_argnums=(0, 1))
        finish_fn = jax.jit(jax.vmap(finish_chain))
    keys = np.asarray(jax.random.split(jax.random.PRNGKey(seed), chains * k_bins)).reshape(
        chains, k_bins, -1
    )
    z0 = _initial_params(blocks, chains, seed)
    d_rep = tree_map(lambda x: np.broadcast_to(x, (chains,) + x.shape), d_all)
    inputs = (keys, z0, d_rep)
    # zero placeholders of the states (the chunk from 0 starts the chains) and buffers of the draws,
    # made here: a program of their own took longer to compile than they take to copy in
    state = jax.eval_shape(init_bin, keys[0, 0], *tree_map(lambda x: x[0, 0], (z0, d_rep)))
    states = tree_map(lambda a: np.zeros((chains, k_bins, *a.shape), a.dtype), state)
    shapes = jax.eval_shape(record, state, tree_map(lambda x: x[0, 0], d_rep))
    bufs = tree_map(lambda a: np.zeros((chains, k_bins, draws, *a.shape), a.dtype), shapes)
    edges = chunk_edges(
        tune, draws, (PROGRESS_UPDATES if progress else 1) if n_chunks is None else n_chunks
    )

    report.note(
        f"{k_bins} age bins x {chains} chains ({'in parallel' if in_parallel else 'one after another'}), "
        f"{tune} warm-up + {draws} draws each (NUTS per bin, numpyro)"
    )
    with report.step("compiling the sampler"):
        # compiled ahead of the first chunk, so that the bar's rate and time left are the sampling's
        advance = advance_fn.lower(states, bufs, inputs, edges[0], edges[0]).compile()
    t_compiled = time.perf_counter()
    with report.bar(tune + draws, "warm-up" if tune else "sampling") as bar:
        # every chunk is queued at once, each waiting on the last one's (donated) output, so the
        # devices never wait for the host; the host then follows the chunks as they finish. The
        # chains meet at the end of each chunk (a pmap call runs on all devices together): with
        # 20 chunks that cost about 1% of the sampling time
        chunks = []
        for start, stop in zip(edges[:-1], edges[1:], strict=True):
            states, bufs, n_div = advance(states, bufs, inputs, start, stop)
            chunks.append((int(stop - start), stop >= tune, n_div))
        for n_it, sampling, n_div in chunks:
            n_div = int(np.sum(jax.device_get(n_div)))
            if sampling:
                bar.set_description(report.describe("sampling"), refresh=False)
                bar.set_postfix_str(f"{n_div} divergent", refresh=False)
            bar.update(n_it)
    t_sampled = time.perf_counter()
    with report.step("collecting the draws" + (" and the log-likelihood" if want_ll else "")):
        per_star = {"ll", *(f"z_{name}" for name in latent_names)}  # put in star order by finish_fn
        raw = jax.device_get({k: v for k, v in bufs.items() if k not in per_star})
        if ll_in_loop or latent_names:
            raw.update(jax.device_get(finish_fn(bufs)))  # ll, rg_raw: (chain, draw, star)
        del bufs
        if want_ll and not ll_in_loop:
            raw["ll"] = _star_log_likelihood(raw["theta"], blocks, priors, d_all)
        t1 = time.perf_counter()

        theta = np.moveaxis(raw["theta"], 1, 2)  # (chain, bin, draw, 3) -> (chain, draw, bin, 3)
        loc = blocks.loc
        posterior: dict[str, np.ndarray] = {
            "gradient": loc["g0"] + loc["gse"] * theta[..., 0],
            "intercept": loc["b0"] + loc["bse"] * theta[..., 1],
            "scatter": np.abs(loc["s0"] + loc["sse"] * theta[..., 2]),
        }
        if latent_names:
            posterior["rg_raw"] = raw["rg_raw"]
        groups: dict[str, Any] = {}
        if want_ll:
            groups["log_likelihood"] = {"feh": raw["ll"]}

        per_bin = {k: np.moveaxis(raw[k], 1, 2) for k in (*_BIN_STATS, "lp")}
        stats = {
            "diverging": per_bin["diverging"].any(axis=-1),
            "lp": per_bin["lp"].sum(axis=-1),
            "energy": per_bin["energy"].sum(axis=-1),
            "n_steps": per_bin["n_steps"].sum(axis=-1),
            "acceptance_rate": per_bin["acceptance_rate"].mean(axis=-1),
            "step_size": per_bin["step_size"].mean(axis=-1),
            "tree_depth": np.log2(per_bin["n_steps"] + 1.0).round().astype(int).max(axis=-1),
        }
        stats.update({f"{k}_bin": per_bin[k] for k in _BIN_STATS})
        bin_dims = {f"{k}_bin": ["age_bin"] for k in _BIN_STATS}
        attrs = {
            "inference_library": "numpyro",
            "sampling": "per bin",
            "tuning_steps": tune,
            "sampling_time": t1 - t0,
        }
        idata = model_idata(model, posterior, stats, attrs, dims=bin_dims, **groups)
    log.info(
        "numpyro per bin: %d bins x %d chains, compilation %.1f s, warm-up + draws %.1f s (%d chunks), "
        "%.1f s in all; mean %.1f leapfrog steps per bin and draw",
        k_bins,
        chains,
        t_compiled - t0,
        t_sampled - t_compiled,
        len(edges) - 1,
        t1 - t0,
        float(per_bin["n_steps"].mean()),
    )
    return idata
