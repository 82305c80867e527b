"""The [Fe/H] likelihood of one star given its bin's line, for the three treatments of R_g.

C25 Appendix A writes, for star i in a bin with gradient nabla and intercept b,

    [Fe/H]_i ~ TruncNormal(b + nabla (R - r_ref), Sigma_i) on [-1, 0.5] dex,
    R ~ TruncNormal(R_g,obs, dR_g) on [0, 20] kpc,

with R the star's true guiding radius. ``priors.rg_treatment`` chooses how R
is handled:

``"sample"``
    R is a latent variable per star, sampled by NUTS (:func:`latent_rg`). The
    literal form of the model; one dimension per star.
``"integrate"``
    The same model with R integrated out (:func:`integrated_logp`). The
    Gaussian parts integrate in closed form; what remains is the average of
    the slowly varying truncation factor 1/Z(R) over the conditional
    posterior of R, done by Gauss-Hermite quadrature with ``rg_nodes`` nodes.
    Stars near a limit of R's support keep a sampled latent R. The
    posterior of (nabla, b, sigma) is that of ``"sample"`` up to the
    quadrature error, which the tests bound, with three dimensions per bin
    instead of one per star. Stars within :data:`EDGE_SIGMAS` dR_g of a limit
    of R keep a sampled latent R_g, so the truncation stays exact.
``"gaussian"``
    The fast approximation (:func:`gaussian_logp`): Normal convolution,
    sigma_eff^2 = Sigma^2 + nabla^2 dR_g^2, with the [Fe/H] truncation
    normaliser taken at R_g,obs with sigma_eff and the R truncation ignored.

All functions broadcast: per-star inputs have shape (n,) or (n, M) for M
candidate bins per star (the hierarchical mixture, :func:`mixture_logp`).
"""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from ._math import PT, diff_ndtr, normal_logpdf_inv, truncnorm_logpdf_var
from .config import RG_TREATMENTS

__all__ = [
    "RG_TREATMENTS",
    "EDGE_SIGMAS",
    "edge_stars",
    "latent_rg",
    "edge_map",
    "integrated_logp",
    "gaussian_logp",
    "sampled_logp",
    "feh_loglike",
    "mixture_logp",
    "hermite_nodes",
]

#: Stars whose observed R_g lies this many dR_g inside the support are treated
#: as untruncated in R: the prior mass beyond the limit is < 1e-9.
EDGE_SIGMAS = 6.0


def _softplus(x, xp=PT):
    return xp.maximum(x, 0.0) + xp.log1p(xp.exp(-xp.abs(x)))


def edge_stars(rg: np.ndarray, rg_err: np.ndarray, rg_range: tuple[float, float]) -> np.ndarray:
    """Stars whose observed R_g is within :data:`EDGE_SIGMAS` dR_g of a limit of ``rg_range`` [kpc]."""
    lo, hi = rg_range
    return (rg - lo < EDGE_SIGMAS * rg_err) | (hi - rg < EDGE_SIGMAS * rg_err)


def hermite_nodes(n_nodes: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Hermite nodes and weights (summing to 1) for expectations under N(0, 1)."""
    x, w = np.polynomial.hermite_e.hermegauss(int(n_nodes))
    return x, w / w.sum()


def latent_rg(
    rg_obs, rg_err, rg_range: tuple[float, float], edge: np.ndarray | None = None, dims: str = "star"
):
    """Latent guiding radii ~ Normal(rg_obs, rg_err) truncated to ``rg_range`` [kpc].

    The free variable ``rg_raw`` (dims ``star``) is in units of each star's
    dR_g about its observed R_g, so the sampler starts at R_g,obs and sees a
    posterior of unit scale. For the stars flagged in ``edge`` a map into
    the interval (:func:`edge_map`: softplus from the nearer limit, nearly
    affine; logistic for stars near both) enforces the truncation; for all
    others R_g = R_g,obs + dR_g rg_raw, whose prior
    differs from the truncated one by < 1e-9 in probability and costs a
    fifth of the edge map per gradient. The truncated-normal normaliser
    depends only on data, so it is a constant and omitted.

    Parameters
    ----------
    rg_obs, rg_err : TensorVariable
        Observed R_g and its uncertainty [kpc], dims ``star``.
    rg_range : tuple of float
        Support of the latent R_g [kpc].
    edge : numpy.ndarray of bool, optional
        Stars that need :func:`edge_map` (default: all).
    dims : str
        Name of the stars' dimension.

    Returns
    -------
    TensorVariable
        The latent R_g [kpc], dims ``dims``.
    """
    raw = pm.Flat("rg_raw", dims=dims)
    rg = rg_obs + rg_err * raw
    log_prior = -0.5 * raw * raw  # Normal(rg | rg_obs, rg_err) up to a data constant
    idx = slice(None) if edge is None else np.flatnonzero(edge)
    if edge is None or idx.size:
        rg_edge, lp_edge = edge_map(raw[idx], rg_obs[idx], rg_err[idx], rg_range)
        rg = pt.set_subtensor(rg[idx], rg_edge)
        log_prior = pt.set_subtensor(log_prior[idx], lp_edge)
    pm.Potential("rg_prior", log_prior, dims=dims)
    return rg


def edge_map(raw, rg_obs, rg_err, rg_range: tuple[float, float], xp=PT):
    """Map of the unit-scale ``raw`` into ``rg_range`` and the log prior of R_g there.

    A star near one limit L of the support (the usual case) gets the one-sided
    map R = L + s dR softplus(c + s raw), s = +1 at the lower limit and -1 at
    the upper, with c set so that raw = 0 gives R_g,obs: affine to within
    exp(-d) for a star d dR_g from the limit, so the sampler sees a nearly
    Gaussian coordinate, and bent only where the limit is. Stars within
    :data:`EDGE_SIGMAS` dR_g of both limits get a logistic map onto the
    whole interval, scaled to unit slope at R_g,obs.

    Parameters
    ----------
    raw : array_like
        Free variable, in units of dR_g at R_g,obs.
    rg_obs, rg_err : array_like
        Observed R_g and its uncertainty [kpc].
    rg_range : tuple of float
        Support of R_g [kpc].
    xp : namespace
        :data:`~mgar_bayes.models._math.PT` or ``jax_ops()``.

    Returns
    -------
    rg : array_like
        R_g [kpc], inside ``rg_range``.
    log_prior : array_like
        log Normal(R_g | R_g,obs, dR_g) + log |dR_g / d raw|, up to a data constant.
    """
    lo, hi = rg_range
    rg_obs, rg_err = xp.asarray(rg_obs), xp.asarray(rg_err)
    # one-sided: distance d (in dR_g) to the nearer limit; softplus^-1(d) = d + log(1 - exp(-d))
    lower = (rg_obs - lo) <= (hi - rg_obs)
    side = xp.where(lower, 1.0, -1.0)
    limit = xp.where(lower, lo, hi)
    d = xp.maximum(side * (rg_obs - limit) / rg_err, 1e-6)
    x = d + xp.log(-xp.expm1(-d)) + side * raw
    sp = _softplus(x, xp)
    rg_one = limit + side * rg_err * sp
    w = sp - d  # (R - R_obs) / dR up to sign
    lp_one = -0.5 * w * w - _softplus(-x, xp)
    # two-sided: logistic onto (lo, hi)
    width = hi - lo
    u0 = xp.clip((rg_obs - lo) / width, 1e-4, 1.0 - 1e-4)
    t = xp.log(u0) - xp.log1p(-u0) + rg_err / (width * u0 * (1.0 - u0)) * raw
    rg_two = lo + width * xp.sigmoid(t)
    z = (rg_two - rg_obs) / rg_err
    lp_two = -0.5 * z * z - _softplus(-t, xp) - _softplus(t, xp)
    both = (rg_obs - lo < EDGE_SIGMAS * rg_err) & (hi - rg_obs < EDGE_SIGMAS * rg_err)
    return xp.where(both, rg_two, rg_one), xp.where(both, lp_two, lp_one)


def integrated_logp(
    feh,
    feh_var,
    intercept,
    gradient,
    rg_obs,
    rg_err,
    *,
    r_ref: float,
    feh_range: tuple[float, float],
    n_nodes: int,
    xp=PT,
):
    """log p([Fe/H] | line) with the true R_g integrated out (C25 Appendix A).

    With mu(R) = b + nabla (R - r_ref) and the two Gaussians combined,

        p = N([Fe/H] | mu(R_obs), s_eff) * E[1 / Z(R)],

    s_eff^2 = Sigma^2 + nabla^2 dR^2; the expectation is over the conditional
    posterior of R, Normal(m, s) with s = dR Sigma / s_eff and
    m = R_obs + dR^2 nabla ([Fe/H] - mu(R_obs)) / s_eff^2, and Z(R) is the
    [Fe/H] truncation normaliser. 1/Z varies on a scale Sigma/|nabla| in R
    that is wide compared with s wherever the posterior lies, so a few
    Gauss-Hermite nodes integrate it: with 3 nodes (the default) the
    log-likelihood of 2,000 stars with dR <= 0.9 kpc is off by 1e-4 in total
    at nabla = -0.06 dex/kpc and 4e-3 at -0.1; with 5 nodes by 1e-7 and 2e-5
    (tests). Far outside that (|nabla| dR >> Sigma) the nodes underestimate
    E[1/Z], which only lowers the density there. The R truncation is not
    applied: use it for stars well inside the support (:func:`feh_loglike`
    does).

    Parameters
    ----------
    feh : array_like
        Observed [Fe/H] [dex], shape (n,) or (n, 1).
    feh_var : TensorVariable
        Sigma^2, the variance of each star's [Fe/H] about the line [dex^2]
        (C25: (sigma^2 + dFeH^2) / P^2).
    intercept, gradient : TensorVariable
        b [dex] and nabla [dex/kpc] of the star's bin (or candidate bins).
    rg_obs, rg_err : TensorVariable
        Observed R_g and its uncertainty [kpc], broadcastable to the above.
    r_ref : float
        Radius at which the intercept is defined [kpc].
    feh_range : tuple of float
        Truncation of [Fe/H] [dex].
    n_nodes : int
        Gauss-Hermite nodes.
    xp : namespace
        :data:`~mgar_bayes.models._math.PT` or ``jax_ops()``.
    """
    lo, hi = feh_range
    mu_obs = intercept + gradient * (rg_obs - r_ref)
    g_dr = gradient * rg_err
    inv_eff = xp.rsqrt(feh_var + g_dr * g_dr)  # 1 / s_eff
    resid = feh - mu_obs
    kernel = normal_logpdf_inv(feh, mu_obs, inv_eff, xp.log(inv_eff))
    x, w = hermite_nodes(n_nodes)
    inv_sig = xp.rsqrt(feh_var)
    # mu at the nodes R_q = m + s x_q of the conditional posterior of R
    mu_m = mu_obs + g_dr * g_dr * resid * inv_eff * inv_eff
    mu_step = g_dr * (feh_var * inv_sig) * inv_eff
    mu_q = mu_m[..., None] + mu_step[..., None] * x
    inv_sig = inv_sig[..., None]
    # sum of w_q / Z_q: one log per star rather than a log and an exp per node
    inv_z = w / diff_ndtr((lo - mu_q) * inv_sig, (hi - mu_q) * inv_sig, xp)
    return kernel + xp.log(inv_z.sum(axis=-1))


def gaussian_logp(feh, feh_var, intercept, gradient, rg_obs, rg_err, *, r_ref, feh_range, xp=PT):
    """log p([Fe/H] | line), the fast approximation: sigma_eff^2 = Sigma^2 + nabla^2 dR_g^2.

    The R_g truncation is ignored and the [Fe/H] truncation normaliser is the
    one of Normal(mu(R_g,obs), sigma_eff). Same arguments as
    :func:`integrated_logp`.
    """
    return truncnorm_logpdf_var(feh, *gaussian_moments(feh_var, intercept, gradient, rg_obs, rg_err, r_ref), *feh_range, xp)


def gaussian_moments(feh_var, intercept, gradient, rg_obs, rg_err, r_ref):
    """Mean [dex] and variance [dex^2] of the untruncated [Fe/H] of :func:`gaussian_logp`."""
    g_dr = gradient * rg_err
    return intercept + gradient * (rg_obs - r_ref), feh_var + g_dr * g_dr


def sampled_logp(feh, feh_var, intercept, gradient, rg, *, r_ref, feh_range, xp=PT):
    """log TruncNormal([Fe/H] | b + nabla (R - r_ref), Sigma) at the latent R [kpc]; ``feh_var`` = Sigma^2 [dex^2]."""
    return truncnorm_logpdf_var(feh, intercept + gradient * (rg - r_ref), feh_var, *feh_range, xp)


def feh_loglike(
    treatment: str,
    feh,
    feh_var,
    intercept,
    gradient,
    rg,
    rg_err,
    *,
    edge: np.ndarray,
    r_ref: float,
    feh_range: tuple[float, float],
    n_nodes: int,
):
    """Per-star log-likelihood of [Fe/H] under ``treatment`` (see the module docstring).

    ``rg`` holds, per star, the latent R_g where one is sampled (all stars
    for ``"sample"``, the ``edge`` stars for ``"integrate"``) and the observed
    R_g elsewhere [kpc]. Inputs have stars on the first axis; ``feh``,
    ``rg`` and ``rg_err`` are (n, 1) when the others are (n, M).
    """
    common = {"r_ref": r_ref, "feh_range": feh_range}
    if treatment == "sample":
        return sampled_logp(feh, feh_var, intercept, gradient, rg, **common)
    if treatment == "gaussian":
        return gaussian_logp(feh, feh_var, intercept, gradient, rg, rg_err, **common)
    if treatment != "integrate":
        raise ValueError(f"unknown rg_treatment {treatment!r}")
    edge = np.asarray(edge, dtype=bool)
    if not edge.any():
        return integrated_logp(feh, feh_var, intercept, gradient, rg, rg_err, n_nodes=n_nodes, **common)
    # each subset computes only its own formula, so no unused branch can poison a gradient
    inner, outer = np.flatnonzero(~edge), np.flatnonzero(edge)
    shape = pt.broadcast_shape(feh, feh_var, intercept, gradient, rg, rg_err)
    out = pt.zeros(shape, dtype="float64")
    if inner.size:
        args = [pt.broadcast_to(v, shape)[inner] for v in (feh, feh_var, intercept, gradient, rg, rg_err)]
        out = pt.set_subtensor(out[inner], integrated_logp(*args, n_nodes=n_nodes, **common))
    args = [pt.broadcast_to(v, shape)[outer] for v in (feh, feh_var, intercept, gradient, rg)]
    return pt.set_subtensor(out[outer], sampled_logp(*args, **common))


def mixture_logp(
    treatment: str,
    feh,
    feh_err2,
    rg,
    rg_err,
    log_w,
    intercept,
    gradient,
    scatter2,
    *,
    r_ref: float,
    feh_range: tuple[float, float],
    n_nodes: int,
    xp=PT,
):
    """Per-star log sum_m w_m p([Fe/H] | bin m): the age mixture of the hierarchical model.

    For stars that all have M candidate bins (the true age's bin is one of
    them with probability w_m), with R_g integrated out (``"integrate"``,
    :func:`integrated_logp`) or convolved (``"gaussian"``,
    :func:`gaussian_logp`): no latent variable, so the whole mixture is a
    function of the bins' parameters only. The sum over candidates is a
    log-sum-exp in double precision, so a star whose [Fe/H] lies far from
    every candidate's line (warm-up excursions) still has a finite value and
    gradient.

    Parameters
    ----------
    treatment : {"gaussian", "integrate"}
        R_g treatment (``"sample"`` needs a latent R_g: :func:`feh_loglike`).
    feh, feh_err2 : array_like
        Observed [Fe/H] [dex] and its variance [dex^2], shape (n,).
    rg, rg_err : array_like
        Observed R_g and its uncertainty [kpc], shape (n,).
    log_w : array_like
        log w_m, shape (n, M); -inf marks an unused (padding) slot.
    intercept, gradient, scatter2 : array_like
        b [dex], nabla [dex/kpc] and sigma^2 [dex^2] of each star's
        candidate bins, shape (n, M).
    r_ref : float
        Radius at which the intercept is defined [kpc].
    feh_range : tuple of float
        Truncation of [Fe/H] [dex].
    n_nodes : int
        Gauss-Hermite nodes of ``"integrate"``.
    xp : namespace
        :data:`~mgar_bayes.models._math.PT` or ``jax_ops()`` (whose
        truncated-normal kernel carries analytic derivatives).

    Returns
    -------
    array_like
        Shape (n,).
    """
    feh, rg, rg_err = feh[:, None], rg[:, None], rg_err[:, None]
    var = scatter2 + feh_err2[:, None]
    common = {"r_ref": r_ref, "feh_range": feh_range, "xp": xp}
    if treatment == "gaussian":
        ll = gaussian_logp(feh, var, intercept, gradient, rg, rg_err, **common)
    elif treatment == "integrate":
        ll = integrated_logp(feh, var, intercept, gradient, rg, rg_err, n_nodes=n_nodes, **common)
    else:
        raise ValueError(f"mixture_logp: rg_treatment {treatment!r} needs a latent R_g (use feh_loglike)")
    return xp.logsumexp(log_w + ll, axis=-1)
