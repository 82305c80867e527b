"""Laplace approximation of the per-bin models, checked bin by bin by Pareto-smoothed importance sampling.

A bin of :class:`~.gradient.BinGradientModel` has three parameters (gradient,
intercept, scatter) fitted to hundreds or thousands of stars, so its
posterior in the sampler's coordinates (standardised gradient and
intercept, standardised log scatter) is close to Gaussian. ``sampler.method
= "laplace"`` replaces NUTS by:

1. the mode of the PyMC model's own log-density (its ``logp`` graph with the
   Jacobians of the transforms, jaxified and compiled once), found by
   Newton's method bin by bin;
2. the Hessian there, from Hessian-vector products of that density. The bins
   share no parameter and a latent R_g (kept by ``rg_treatment =
   "integrate"`` for stars near a limit of R_g's support) touches only its
   own star, so the Hessian is block-diagonal by bin with a diagonal latent
   part: J + 1 products (J = 3 bin-level variables) give all of it, for any
   number of bins and latents;
3. draws of the Gaussian with that mean and precision, and their log
   importance ratios log p - log q per bin, Pareto-smoothed
   (:func:`arviz.psislw`, Vehtari et al. 2024). A bin with Pareto k-hat >=
   :data:`PARETO_K_MAX`, or whose mode was not found, is sampled with NUTS
   instead (the spec's own backend) and reported.

The scatter is in the model's own signed coordinate, sigma = |s0 + sse y|
(:class:`~._math.SignedStandardize`): the density in y has two mirror images
of sigma's posterior, and the Gaussian sits on the one at y near 0. Where
C25's 1/P weighting drives sigma to 0 the two merge into one smooth bump at
sigma = 0, which a Gaussian in y fits; where they overlap without merging the
importance ratios show it and the bin goes to NUTS.

The model with one latent R_g per star (``rg_treatment = "sample"``, the
``c25`` spec) is fitted through its R_g-integrated form (``"integrate"``):
the same posterior up to the quadrature error that the likelihood tests
bound, three dimensions per bin instead of one per star. Stars near a limit
of R_g's support keep their latent R_g there, and the Gaussian is then the
joint one over the bin's parameters and those latents: its mean for the
parameters is the joint mode, which can sit off their marginal posterior
mean (``benchmarks/laplace.py`` measures it against NUTS).

The InferenceData has the NUTS route's posterior variables, dims and
attrs; ``sample_stats`` holds ``pareto_k`` and ``nuts_fallback`` per bin and
the smoothed log importance weights ``psis_log_weight`` (chain, draw,
age_bin; NaN for bins sampled by NUTS). Draws are those of the Gaussian,
not reweighted: k-hat < 0.7 says that they represent the posterior, and the
weights correct moments if wanted.
"""

from __future__ import annotations

import json
import time
import warnings
from dataclasses import dataclass
from typing import Any

import arviz as az
import numpy as np
import pandas as pd

__all__ = [
    "PARETO_K_MAX",
    "LaplaceFallbackWarning",
    "LaplaceFit",
    "fit_bins_laplace",
    "laplace_bins",
]

#: Bins whose importance ratios have a Pareto k-hat at or above this fall back to NUTS
#: (Vehtari et al. 2024: above 0.7 the importance-sampling estimates are unreliable).
PARETO_K_MAX = 0.7
#: Newton's method stops for a bin when its Newton decrement g^T H^-1 g / 2 (the
#: expected rise of the log-density still to come) is below this.
NEWTON_TOL = 1e-10
NEWTON_MAX_ITER = 100
#: Points per call of the compiled batch of log-densities (importance ratios, line-search step lengths).
BATCH = 32


class LaplaceFallbackWarning(UserWarning):
    """Some bins were sampled with NUTS because their Laplace approximation failed the PSIS check."""


@dataclass(frozen=True)
class _Layout:
    """Where each bin's coordinates sit in the flat vector of the model's free values.

    ``names``/``shapes``/``slices``: the value variables in flat order;
    ``bin_of`` (dim,) the bin (position among the fitted bins) of each entry;
    ``coord`` (dim,) the index j of its bin-level variable, -1 for a latent.
    """

    names: tuple[str, ...]
    shapes: tuple[tuple[int, ...], ...]
    slices: tuple[slice, ...]
    bin_of: np.ndarray
    coord: np.ndarray
    n_bins: int
    n_coords: int

    @property
    def dim(self) -> int:
        return int(self.bin_of.size)

    @property
    def latent(self) -> np.ndarray:
        return np.flatnonzero(self.coord < 0)

    def bin_entries(self) -> np.ndarray:
        """(K, J) flat index of bin k's j-th bin-level coordinate."""
        out = np.empty((self.n_bins, self.n_coords), dtype=np.int64)
        idx = np.flatnonzero(self.coord >= 0)
        out[self.bin_of[idx], self.coord[idx]] = idx
        return out


def _bins_of_dims(model, data, local: np.ndarray) -> dict[str, np.ndarray]:
    """Bin (position among the fitted bins) of every entry of each star-like dim of ``model``."""
    k_bins = len(model.coords["age_bin"])
    out = {"age_bin": np.arange(k_bins)}
    position = pd.Index(np.asarray(data.source_id).astype(str))
    if not position.is_unique:
        raise ValueError("the Laplace route needs unique source_id values within a population")
    for dim, labels in model.coords.items():
        if dim in out:
            continue
        idx = position.get_indexer(np.asarray(labels).astype(str))
        if (idx < 0).any():
            continue  # not a dim of stars (e.g. a candidate axis); only an error if a variable uses it
        out[dim] = local[idx]
    return out


def _layout(model, dim_bins: dict[str, np.ndarray]) -> _Layout:
    names, shapes, slices, bin_of, coord = [], [], [], [], []
    start = 0
    point = model.initial_point()
    j = 0
    for rv in model.free_RVs:
        value = model.rvs_to_values[rv]
        dims = model.named_vars_to_dims.get(rv.name)
        shape = tuple(np.shape(point[value.name]))
        if dims is None or len(dims) != 1 or dims[0] not in dim_bins:
            raise ValueError(
                f"Laplace route: free variable {rv.name!r} has dims {dims}, not one age bin or star dim"
            )
        size = int(np.prod(shape))
        names.append(value.name)
        shapes.append(shape)
        slices.append(slice(start, start + size))
        bin_of.append(dim_bins[dims[0]])
        if dims[0] == "age_bin":
            coord.append(np.full(size, j))
            j += 1
        else:
            coord.append(np.full(size, -1))
        start += size
    return _Layout(
        names=tuple(names),
        shapes=tuple(shapes),
        slices=tuple(slices),
        bin_of=np.concatenate(bin_of).astype(np.int64),
        coord=np.concatenate(coord).astype(np.int64),
        n_bins=len(dim_bins["age_bin"]),
        n_coords=j,
    )


def _per_bin_logp(model, dim_bins: dict[str, np.ndarray]):
    """The model's log-density (Jacobians included) summed bin by bin: a PyTensor vector (K,).

    Every term of ``model.logp(sum=False)`` (free and observed variables,
    potentials) is added to the bins of its elements, read from its dims.
    """
    import pytensor.tensor as pt

    k_bins = len(dim_bins["age_bin"])
    out = pt.zeros(k_bins)
    for var in model.free_RVs + model.observed_RVs + model.potentials:
        (term,) = model.logp(vars=[var], sum=False)
        dims = model.named_vars_to_dims.get(var.name)
        if term.ndim == 0:
            raise ValueError(f"Laplace route: log-density term {var.name!r} is not split by bin")
        if dims is None or len(dims) != 1 or dims[0] not in dim_bins:
            raise ValueError(
                f"Laplace route: log-density term {var.name!r} has dims {dims}, not one bin or star dim"
            )
        if dims[0] == "age_bin":
            out = out + term
        else:
            out = pt.inc_subtensor(out[dim_bins[dims[0]]], term)
    return out


class _Target:
    """The model's per-bin log-density as compiled JAX functions of the flat vector of free values.

    Two programs, compiled once each: :meth:`pieces` (the per-bin
    log-density, its gradient and the Hessian-vector products of
    :func:`_precision` at one point) and :meth:`batch` (the per-bin
    log-density and the bin-level variables in their own units at
    :data:`BATCH` points: the importance ratios, and every step length of a
    line search at once).
    """

    def __init__(self, model, layout: _Layout, dim_bins: dict[str, np.ndarray]):
        from pymc.sampling.jax import get_jaxified_graph

        from ._math import jax_ops

        jax_ops()  # double precision
        import jax
        import jax.numpy as jnp

        values = [model.rvs_to_values[rv] for rv in model.free_RVs]
        bin_rvs = [
            rv for rv in model.free_RVs if model.named_vars_to_dims.get(rv.name) == ("age_bin",)
        ]
        self.bin_var_names = tuple(rv.name for rv in bin_rvs)
        logp_fn = get_jaxified_graph(inputs=values, outputs=[_per_bin_logp(model, dim_bins)])
        rv_fn = get_jaxified_graph(inputs=values, outputs=model.replace_rvs_by_values(bin_rvs))

        def unpack(x):
            return [
                x[s].reshape(shape) for s, shape in zip(layout.slices, layout.shapes, strict=True)
            ]

        def per_bin(x):
            return logp_fn(*unpack(x))[0]

        def total(x):
            lp = per_bin(x)
            return lp.sum(), lp

        grad_fn = jax.grad(lambda x: total(x)[0])
        # directions: each bin-level variable in every bin at once (the bins do not interact), then all latents
        dirs = np.zeros((layout.n_coords + (layout.latent.size > 0), layout.dim))
        for j in range(layout.n_coords):
            dirs[j, layout.coord == j] = 1.0
        if layout.latent.size:
            dirs[-1, layout.latent] = 1.0

        def pieces(x):
            (_, lp), g = jax.value_and_grad(total, has_aux=True)(x)
            hv = jax.vmap(lambda v: jax.jvp(grad_fn, (x,), (v,))[1])(jnp.asarray(dirs))
            return lp, g, hv

        def batch(xs):
            return jax.vmap(per_bin)(xs), jax.vmap(lambda x: jnp.stack(rv_fn(*unpack(x))))(xs)

        self._pieces = jax.jit(pieces)
        self._batch = jax.jit(batch)
        self.log_density = per_bin  # not compiled: for checks (e.g. the dense Hessian in the tests)
        self.dim = layout.dim

    def pieces(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per-bin log-density (K,), its gradient (dim,) and the Hessian times each direction (J [+1], dim) at x."""
        return tuple(np.asarray(v) for v in self._pieces(x))

    def batch(self, xs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per-bin log-density (n, K) and bin-level variables (n, J, K) at the points xs (n, dim)."""
        n = len(xs)
        lps, rvs = [], []
        for i in range(0, n, BATCH):
            chunk = xs[i : i + BATCH]
            pad = BATCH - len(chunk)
            if pad:
                chunk = np.concatenate([chunk, np.repeat(chunk[-1:], pad, axis=0)])
            lp, rv = self._batch(chunk)
            lps.append(np.asarray(lp)[: BATCH - pad])
            rvs.append(np.asarray(rv)[: BATCH - pad])
        return np.concatenate(lps), np.concatenate(rvs)


@dataclass(frozen=True)
class _Precision:
    """Minus the Hessian of the log-density, block-diagonal by bin.

    ``a`` (K, J, J) the bin-level blocks, ``b`` (L, J) each latent's coupling
    to its bin's coordinates, ``d`` (L,) the latents' diagonal.
    """

    a: np.ndarray
    b: np.ndarray
    d: np.ndarray

    def schur(self, layout: _Layout) -> np.ndarray:
        """(K, J, J) precision of the bin-level coordinates with the latents integrated out."""
        s = self.a.copy()
        if layout.latent.size:
            k = layout.bin_of[layout.latent]
            outer = self.b[:, :, None] * self.b[:, None, :] / self.d[:, None, None]
            np.subtract.at(s, k, outer)
        return s


def _precision(hv: np.ndarray, layout: _Layout) -> _Precision:
    """Minus the Hessian from its products with the directions of :class:`_Target` (J [+1], dim)."""
    hv = -hv
    ent = layout.bin_entries()
    j_n = layout.n_coords
    a = np.stack(
        [hv[:j_n][:, ent[:, i]].T for i in range(j_n)], axis=1
    )  # a[k, i, j] = -H[(k,i), (k,j)]
    lat = layout.latent
    b = hv[:j_n][:, lat].T if lat.size else np.zeros((0, j_n))
    d = hv[-1, lat] if lat.size else np.zeros(0)
    return _Precision(a=0.5 * (a + np.swapaxes(a, 1, 2)), b=b, d=d)


def _solve(
    prec: _Precision, g: np.ndarray, layout: _Layout, damping: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Newton step (precision + damping I)^-1 g, bin by bin; also whether each bin's system was positive definite."""
    ent = layout.bin_entries()
    lat = layout.latent
    k_lat = layout.bin_of[lat]
    d = prec.d + damping[k_lat]
    ok = np.ones(layout.n_bins, dtype=bool)
    if lat.size:
        np.logical_and.at(ok, k_lat, d > 0)
    d_safe = np.where(d > 0, d, 1.0)
    a = prec.a + damping[:, None, None] * np.eye(layout.n_coords)
    s = a.copy()
    rhs = g[ent].copy()
    if lat.size:
        np.subtract.at(s, k_lat, prec.b[:, :, None] * prec.b[:, None, :] / d_safe[:, None, None])
        np.subtract.at(rhs, k_lat, prec.b * (g[lat] / d_safe)[:, None])
    step = np.zeros(layout.dim)
    eig_min = np.linalg.eigvalsh(s)[:, 0]
    ok &= np.isfinite(eig_min) & (eig_min > 0)
    s_safe = np.where(ok[:, None, None], s, np.eye(layout.n_coords))
    dtheta = np.linalg.solve(s_safe, rhs[..., None])[..., 0]
    step[ent] = np.where(ok[:, None], dtheta, 0.0)
    if lat.size:
        step[lat] = (g[lat] - (prec.b * dtheta[k_lat]).sum(axis=1)) / d_safe
        step[lat] = np.where(ok[k_lat], step[lat], 0.0)
    return step, ok


def _find_mode(target: _Target, x0: np.ndarray, layout: _Layout):
    """Damped Newton on each bin's log-density.

    Each iteration takes, per bin, the Newton step (Levenberg-damped where
    the Hessian is not negative definite) and the longest of the step
    lengths 1, 1/2, 1/4, ... (all evaluated in one batch) that raises the
    bin's log-density by the Armijo fraction of the step's promise.

    Returns
    -------
    mode : numpy.ndarray
    converged : numpy.ndarray of bool
        Per bin: Newton decrement below :data:`NEWTON_TOL` with a negative
        definite Hessian.
    precision : _Precision
        Minus the Hessian at the mode.
    iterations : int
    """
    x = np.array(x0, dtype=float)
    k_bins = layout.n_bins
    damping = np.zeros(k_bins)
    done = np.zeros(k_bins, dtype=bool)
    converged = np.zeros(k_bins, dtype=bool)
    lengths = 0.5 ** np.arange(BATCH)
    it = 0
    while True:
        lp, g, hv = target.pieces(x)
        prec = _precision(hv, layout)
        step, ok = _solve(prec, g, layout, np.where(done, 0.0, damping))
        for _ in range(12):  # not positive definite (far from the mode): more damping
            bad = ~ok & ~done
            if not bad.any():
                break
            damping[bad] = np.maximum(10.0 * damping[bad], 1e-3)
            step2, ok2 = _solve(prec, g, layout, damping)
            redo = np.isin(layout.bin_of, np.flatnonzero(bad))
            step[redo], ok[bad] = step2[redo], ok2[bad]
        decrement = 0.5 * np.bincount(layout.bin_of, weights=step * g, minlength=k_bins)
        undamped = ok & (np.where(done, 0.0, damping) == 0)
        converged |= undamped & (decrement < NEWTON_TOL)
        done |= converged
        active = ~done & ok
        if not active.any() or it >= NEWTON_MAX_ITER:
            break
        it += 1
        trial = x[None, :] + lengths[:, None] * np.where(active[layout.bin_of], step, 0.0)[None, :]
        lp_t, _ = target.batch(trial)
        good = np.isfinite(lp_t) & (lp_t >= lp + 1e-4 * lengths[:, None] * 2.0 * decrement - 1e-12)
        first = np.where(good.any(axis=0), good.argmax(axis=0), -1)
        t = np.where(active & (first >= 0), lengths[np.maximum(first, 0)], 0.0)
        # no ascent along Newton's direction: at the mode to rounding if the promised rise is tiny
        stuck = active & (first < 0)
        converged |= stuck & undamped & (decrement < 1e3 * NEWTON_TOL)
        done |= stuck
        x = x + t[layout.bin_of] * step
        damping = np.where(first == 0, 0.1 * damping, damping)
        damping[damping < 1e-6] = 0.0
    _, pd_ok = _solve(prec, g, layout, np.zeros(k_bins))
    return x, converged & pd_ok, prec, it


@dataclass(frozen=True)
class LaplaceFit:
    """Result of :func:`laplace_bins` for the bins of one model.

    Attributes
    ----------
    bin_draws : dict of numpy.ndarray
        Constrained draws of each bin-level variable, (n_draws, K).
    pareto_k : numpy.ndarray
        Pareto k-hat of each bin's importance ratios, (K,); inf where the mode was not found.
    log_weights : numpy.ndarray
        Smoothed, normalised log importance weights, (n_draws, K).
    converged : numpy.ndarray
        Whether Newton's method found each bin's mode, (K,).
    mode : dict of numpy.ndarray
        Each bin-level variable at the mode (in its own units), (K,).
    iterations : int
        Newton iterations.
    seconds : dict of float
        Wall time of the compilation, the mode and the importance sampling [s].
    """

    bin_draws: dict[str, np.ndarray]
    pareto_k: np.ndarray
    log_weights: np.ndarray
    converged: np.ndarray
    mode: dict[str, np.ndarray]
    iterations: int
    seconds: dict[str, float]


def _draws(
    prec: _Precision,
    mode: np.ndarray,
    layout: _Layout,
    n: int,
    seed: int,
    bin_ids: np.ndarray,
    order: np.ndarray,
):
    """Draws of the Gaussian (mode, precision^-1) and their log-density per bin, (n, dim) and (n, K).

    Bin k's draws come from a generator seeded by (seed, bin_ids[k]); its
    latents are drawn in the order ``order`` (their stars' source_id), so the
    draws do not depend on the order of the stars.
    """
    ent = layout.bin_entries()
    lat = layout.latent
    k_lat = layout.bin_of[lat]
    s = prec.schur(layout)
    chol = np.linalg.cholesky(s)  # s = L L^T
    xs = np.repeat(mode[None, :], n, axis=0)
    log_q = np.zeros((n, layout.n_bins))
    for k in range(layout.n_bins):
        rng = np.random.default_rng([int(seed), int(bin_ids[k])])
        eps = rng.standard_normal((n, layout.n_coords))
        dtheta = np.linalg.solve(chol[k].T, eps.T).T  # ~ N(0, s^-1)
        xs[:, ent[k]] += dtheta
        log_q[:, k] = -0.5 * (eps * eps).sum(axis=1) + np.log(np.diag(chol[k])).sum()
        mine = order[k_lat[order] == k]  # this bin's latents (indices into lat), in source_id order
        if mine.size:
            eps_z = rng.standard_normal((n, mine.size))
            d = prec.d[mine]
            cond = -(dtheta @ prec.b[mine].T) / d
            xs[:, lat[mine]] += cond + eps_z / np.sqrt(d)
            log_q[:, k] += -0.5 * (eps_z * eps_z).sum(axis=1) + 0.5 * np.log(d).sum()
    return xs, log_q


def laplace_bins(
    model, data, *, n_draws: int, seed: int, bin_ids: np.ndarray | None = None, report=None
) -> LaplaceFit:
    """Laplace approximation of every bin of a per-bin PyMC model, with its PSIS check.

    Parameters
    ----------
    model : pymc.Model
        A model whose free variables have dims ``age_bin`` (the bin-level
        parameters, in the model's transformed coordinates) or a dim of stars
        (latents), and whose log-density terms split by those dims, e.g.
        :meth:`BinGradientModel._build <mgar_bayes.models.gradient.BinGradientModel>`.
    data : StarData
        The stars the model was built from (their ``source_id`` name the star dims).
    n_draws : int
        Draws of the Gaussian, also the importance-sampling sample.
    seed : int
        Seed of the draws.
    bin_ids : numpy.ndarray of int, optional
        Identifier of each fitted bin in the seed (default: 0..K-1; the
        index into the age bins keeps the draws of a bin the same when
        other bins are left out).
    report : FitProgress, optional
        Where the steps are announced.

    Returns
    -------
    LaplaceFit
    """
    from contextlib import nullcontext

    step = report.step if report is not None else (lambda what: nullcontext())
    k_bins = len(model.coords["age_bin"])
    used = np.flatnonzero(data.n_per_bin() > 0)
    if used.size != k_bins:
        raise ValueError(f"model has {k_bins} age bins, the data stars in {used.size}")
    local = np.searchsorted(used, data.bin_idx)
    dim_bins = _bins_of_dims(model, data, local)
    layout = _layout(model, dim_bins)
    if layout.n_coords == 0:
        raise ValueError("Laplace route: the model has no bin-level variable")
    bin_ids = np.arange(k_bins) if bin_ids is None else np.asarray(bin_ids)
    seconds = {}
    t0 = time.perf_counter()
    with step("compiling the log-density (JAX)"):
        target = _Target(model, layout, dim_bins)
        from ._math import standardized_start

        start = standardized_start(model)
        x0 = np.concatenate([np.asarray(start[name], dtype=float).ravel() for name in layout.names])
        # off the pre-fit by 0.01 sd: a signed scatter sigma = |s0 + sse y| centred on s0 = 0 would start
        # exactly at the kink of |.|, where automatic derivatives lose the curvature in sigma^2
        x0[layout.coord >= 0] += 0.01
        target.pieces(x0)
        target.batch(x0[None, :])
    seconds["compile"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    with step("mode and Hessian (Newton, bin by bin)"):
        mode, converged, prec, iterations = _find_mode(target, x0, layout)
    seconds["mode"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    with step(f"{n_draws} draws and their importance ratios (PSIS)"):
        # latents of each bin drawn in their stars' source_id order
        lat_star = np.concatenate(
            [np.asarray(model.coords[model.named_vars_to_dims[rv.name][0]]).astype(str)
             for rv in model.free_RVs if model.named_vars_to_dims[rv.name] != ("age_bin",)] or [np.zeros(0, str)]
        )  # fmt: skip
        order = np.argsort(lat_star, kind="stable")
        s = prec.schur(layout)
        # a bin whose precision is not positive definite gets a placeholder and k-hat = inf
        pd_ok = np.array([np.all(np.linalg.eigvalsh(b) > 0) for b in s]) & converged
        if layout.latent.size:
            lat_ok = prec.d > 0
            pd_ok &= (
                np.bincount(layout.bin_of[layout.latent], weights=~lat_ok, minlength=k_bins) == 0
            )
        safe = _Precision(
            a=np.where(pd_ok[:, None, None], prec.a, np.eye(layout.n_coords)),
            b=np.where(pd_ok[layout.bin_of[layout.latent]][:, None], prec.b, 0.0),
            d=np.where(pd_ok[layout.bin_of[layout.latent]], prec.d, 1.0),
        )
        xs, log_q = _draws(safe, mode, layout, n_draws, seed, bin_ids, order)
        log_p, constrained = target.batch(np.concatenate([xs, mode[None, :]]))
        log_p, constrained, at_mode = log_p[:-1], constrained[:-1], constrained[-1]
        ratios = log_p - log_q
        finite = np.isfinite(ratios).all(axis=0)
        ratios = np.where(np.isfinite(ratios), ratios, -np.inf)
        with warnings.catch_warnings():
            warnings.simplefilter(
                "ignore"
            )  # ArviZ warns of high k-hat: it is reported, and acted on, here
            lw, khat = az.psislw(ratios.T)
        khat = np.where(pd_ok & finite, np.asarray(khat, dtype=float), np.inf)
    seconds["psis"] = time.perf_counter() - t0
    return LaplaceFit(
        bin_draws={name: constrained[:n_draws, j] for j, name in enumerate(target.bin_var_names)},
        pareto_k=khat,
        log_weights=np.asarray(lw).T,
        converged=converged,
        mode={name: at_mode[j] for j, name in enumerate(target.bin_var_names)},
        iterations=iterations,
        seconds=seconds,
    )


def fit_bins_laplace(builder, seed: int, progress: bool = False) -> az.InferenceData:
    """``sampler.method = "laplace"`` for a built :class:`~.gradient.BinGradientModel`: its InferenceData.

    Bins with Pareto k-hat >= :data:`PARETO_K_MAX` (or whose mode was not
    found) are sampled with NUTS on their own stars, with the spec's backend
    and settings, and a :class:`LaplaceFallbackWarning` names them.

    Parameters
    ----------
    builder : BinGradientModel
        With its model built (``build_model``).
    seed : int
        Seed of the Gaussian draws and of any NUTS fallback.
    progress : bool
        Announce the steps on stderr.

    Returns
    -------
    arviz.InferenceData
        The layout of the NUTS route (``posterior``: gradient, intercept,
        scatter with dims chain, draw, age_bin; ``observed_data``,
        ``constant_data``; ``log_likelihood`` when asked) with ``sample_stats``
        ``diverging`` (chain, draw; the fallback bins'), ``pareto_k`` and
        ``nuts_fallback`` (age_bin), ``psis_log_weight`` (chain, draw,
        age_bin) and attrs ``fit_method``, ``pareto_k``, ``laplace_bins``,
        ``nuts_fallback_bins`` (JSON lists), ``laplace_rg_treatment``.
    """
    import pymc as pm

    from . import builder_for
    from ._numpyro import FitProgress, model_idata

    report = FitProgress(builder._progress_label(), progress)
    sampler = builder.sampler
    chains, draws = int(sampler.chains), int(sampler.draws)
    data = builder.data
    treatment = builder.priors.rg_treatment
    t_start = time.perf_counter()
    if treatment == "sample":
        # one latent per star is the same posterior as R_g integrated out; Laplace in 3 dimensions per bin
        lap_builder = builder_for(builder.spec.replace({"priors": {"rg_treatment": "integrate"}}))
        lap_model = lap_builder._build(data)
        used_treatment = "integrate"
    else:
        lap_model, used_treatment = builder.model, treatment
    labels = np.asarray(builder.model.coords["age_bin"]).astype(str)
    used = np.flatnonzero(data.n_per_bin() > 0)
    n_latent = sum(
        int(np.prod(lap_model.initial_point()[lap_model.rvs_to_values[rv].name].shape))
        for rv in lap_model.free_RVs
        if lap_model.named_vars_to_dims.get(rv.name) != ("age_bin",)
    )
    if sampler.log_likelihood and n_latent:
        raise ValueError(
            f"{builder.name}: sampler.method = 'laplace' cannot store the pointwise log-likelihood of a model "
            f"with latent R_g ({n_latent} star(s) near a limit of R_g's support keep one); set "
            "sampler.log_likelihood = false or sampler.method = 'nuts'"
        )
    report.note(
        f"Laplace approximation per bin ({len(labels)} bins, R_g {used_treatment}"
        + (f", {n_latent} latent R_g" if n_latent else "")
        + f"), {chains} x {draws} draws checked by PSIS"
    )
    fit = laplace_bins(
        lap_model, data, n_draws=chains * draws, seed=seed, bin_ids=used, report=report
    )
    fallback = ~(fit.pareto_k < PARETO_K_MAX)
    posterior = {name: v.reshape(chains, draws, -1).copy() for name, v in fit.bin_draws.items()}
    diverging = np.zeros((chains, draws), dtype=bool)
    log_w = fit.log_weights.reshape(chains, draws, -1).copy()
    if fallback.any():
        bad = [
            f"{lab} (k-hat {k:.2f})"
            for lab, k in zip(labels[fallback], fit.pareto_k[fallback], strict=True)
        ]
        report.note(f"NUTS for bin(s) {', '.join(bad)}")
        warnings.warn(
            f"{builder.name} {data.population or ''}: Laplace approximation rejected by PSIS "
            f"(k-hat >= {PARETO_K_MAX}) for bin(s) {', '.join(bad)}; sampled with NUTS",
            LaplaceFallbackWarning,
            stacklevel=4,
        )
        sub = builder_for(builder.spec.replace({"sampler": {"method": "nuts"}}))
        with warnings.catch_warnings():
            warnings.simplefilter(
                "ignore", UserWarning
            )  # convergence of the whole fit is checked after
            sub.build_model(data.subset(fallback[np.searchsorted(used, data.bin_idx)]))
            nuts = sub._run_sampler(seed, progress)
        for name in posterior:
            values = nuts.posterior[name].sel(age_bin=list(labels[fallback])).values
            posterior[name][:, :, fallback] = values
        if "diverging" in nuts.sample_stats:
            diverging = nuts.sample_stats["diverging"].values.astype(bool)
        log_w[:, :, fallback] = np.nan
    stats = {
        "diverging": diverging,
        "psis_log_weight": log_w,
        "pareto_k": fit.pareto_k,
        "nuts_fallback": fallback.astype(np.int8),
    }
    attrs: dict[str, Any] = {
        "inference_library": "mgar_bayes.laplace",
        "fit_method": "laplace",
        "sampling_time": time.perf_counter() - t_start,
        "laplace_rg_treatment": used_treatment,
        "laplace_newton_iterations": int(fit.iterations),
        "pareto_k": json.dumps(
            [round(float(k), 4) if np.isfinite(k) else None for k in fit.pareto_k]
        ),
        "pareto_k_max": PARETO_K_MAX,
        "laplace_bins": json.dumps(list(labels[~fallback])),
        "nuts_fallback_bins": json.dumps(list(labels[fallback])),
    }
    dims = {"psis_log_weight": ["age_bin"], "pareto_k": ["age_bin"], "nuts_fallback": ["age_bin"]}
    idata = _idata(builder.model, posterior, stats, attrs, dims, model_idata)
    if sampler.log_likelihood:
        with report.step("log-likelihood"):
            pm.compute_log_likelihood(
                idata, model=lap_model, extend_inferencedata=True, progressbar=False
            )
    report.note(
        f"Laplace route in {time.perf_counter() - t_start:.1f} s (compilation {fit.seconds['compile']:.1f} s, "
        f"mode {fit.seconds['mode']:.1f} s, PSIS {fit.seconds['psis']:.1f} s); max k-hat "
        f"{np.max(fit.pareto_k):.2f}"
    )
    return idata


def _idata(model, posterior, stats, attrs, dims, model_idata) -> az.InferenceData:
    # sample stats without (chain, draw) dims: az.from_dict would prepend them
    per_bin = {k: stats.pop(k) for k in ("pareto_k", "nuts_fallback")}
    idata = model_idata(
        model, posterior, stats, attrs, dims={"psis_log_weight": dims["psis_log_weight"]}
    )
    for k, v in per_bin.items():
        idata.sample_stats[k] = ("age_bin", v)
    idata.posterior.attrs.update({k: attrs[k] for k in ("inference_library", "sampling_time")})
    idata.sample_stats.attrs.update({k: v for k, v in attrs.items() if k != "sampling_time"})
    return idata
