"""Truncated-normal log-densities written in elementary ops, for PyTensor and for JAX.

PyTensor's own ``normal_lcdf`` (used by ``pm.TruncatedNormal``) calls ``erfcx``,
which has no JAX implementation unless tensorflow-probability is installed, so
the numpyro backend fails on it. Everything here uses only ``erfc``, ``log``
and ``where``, which the C, Numba (nutpie) and JAX (numpyro) backends all
support. Both branches of every ``where`` get clipped arguments, so neither
produces NaN gradients.

Each formula takes an ops namespace ``xp``: :data:`PT` (PyTensor, the default:
the formula becomes part of a PyMC model) or :func:`jax_ops` (the same formula
as a JAX function, for the per-bin sampler of :mod:`._binwise`). One formula,
so the two cannot drift apart.
"""

from __future__ import annotations

from functools import cache
from types import SimpleNamespace

import numpy as np
import pytensor.tensor as pt
from pymc.logprob.transforms import Transform

__all__ = [
    "PT",
    "jax_ops",
    "log_diff_ndtr",
    "diff_ndtr",
    "truncnorm_logpdf",
    "truncnorm_logpdf_var",
    "normal_logpdf",
    "normal_logpdf_inv",
    "Standardize",
    "standardized_start",
    "constrained_start",
]

_LOG_SQRT_2PI = 0.5 * np.log(2.0 * np.pi)
_FAR = -37.0  # erfc(-x/sqrt(2)) stays a normal double (> 1e-300) above this

#: PyTensor ops under the names the formulas use.
PT = SimpleNamespace(
    asarray=pt.as_tensor_variable,
    where=pt.switch,
    erfc=pt.erfc,
    log=pt.log,
    log1p=pt.log1p,
    exp=pt.exp,
    expm1=pt.expm1,
    sqrt=pt.sqrt,
    rsqrt=lambda v: 1.0 / pt.sqrt(v),
    abs=pt.abs,
    maximum=pt.maximum,
    minimum=pt.minimum,
    clip=pt.clip,
    sigmoid=pt.sigmoid,
    logsumexp=pt.logsumexp,
)


@cache
def jax_ops() -> SimpleNamespace:
    """The JAX ops under the names of :data:`PT` (imports JAX on first call, in double precision)."""
    import jax
    import jax.numpy as jnp
    import jax.scipy.special as jss

    jax.config.update("jax_enable_x64", True)

    return SimpleNamespace(
        asarray=jnp.asarray,
        where=jnp.where,
        erfc=jss.erfc,
        log=jnp.log,
        log1p=jnp.log1p,
        exp=jnp.exp,
        expm1=jnp.expm1,
        sqrt=jnp.sqrt,
        rsqrt=jax.lax.rsqrt,
        abs=jnp.abs,
        maximum=jnp.maximum,
        minimum=jnp.minimum,
        clip=jnp.clip,
        sigmoid=jax.nn.sigmoid,
        logsumexp=jss.logsumexp,
    )


def _reflect(a, b, xp):
    """Limits of the same probability mass with the lower one <= 0 (a, b or -b, -a)."""
    a, b = xp.asarray(a), xp.asarray(b)
    flip = a > 0
    return xp.where(flip, -b, a), xp.where(flip, -a, b)


def log_diff_ndtr(a, b, xp=PT):
    """log(Phi(b) - Phi(a)) for a < b, without cancellation in either tail.

    The limits are reflected so that the lower one is <= 0 (Phi(-a) - Phi(-b)
    when a > 0); the difference of the two ``erfc`` values is then of numbers
    that are each exact to double precision, so the result is accurate to
    ~1e-13 relative for every interval whose upper limit lies above -37 after
    the reflection. Beyond that (the mean 37 sigma outside the interval on one
    side, reached only in warm-up excursions) the leading asymptotic term of
    log Phi(upper) is used: finite, continuous to 1e-3, with the right gradient
    direction. Two ``erfc`` and one ``log`` per element (both branches share
    it), about a third of the cost of an exact log-CDF in both tails: this is
    the innermost function of every likelihood here.
    """
    lo, hi = _reflect(a, b, xp)
    near = hi >= _FAR
    hi_near = xp.maximum(hi, _FAR)
    hi_far = xp.minimum(hi, _FAR)
    direct = 0.5 * (xp.erfc(-hi_near / np.sqrt(2.0)) - xp.erfc(-xp.minimum(lo, hi_near) / np.sqrt(2.0)))
    # one log for both branches: log(direct) near, log(-hi) in the asymptotic term far
    log_x = xp.log(xp.where(near, direct, -hi_far))
    return xp.where(near, log_x, -0.5 * hi_far * hi_far - log_x - _LOG_SQRT_2PI)


#: Floor of :func:`diff_ndtr`: its reciprocal stays finite in sums of a few terms.
TINY = 1e-300


def diff_ndtr(a, b, xp=PT):
    """Phi(b) - Phi(a) for a < b, floored at :data:`TINY`.

    The same two ``erfc`` as :func:`log_diff_ndtr`, without the ``log``: for
    sums of reciprocals (the quadrature of :func:`~.likelihood.integrated_logp`).
    Exact to ~1e-13 relative down to 1e-300; beneath (the mean more than 37
    sigma outside the interval) the floor makes the density lower than the
    exact one, continuous, so the sampler is still pushed back.
    """
    lo, hi = _reflect(a, b, xp)
    return xp.maximum(0.5 * (xp.erfc(-hi / np.sqrt(2.0)) - xp.erfc(-lo / np.sqrt(2.0))), TINY)


def normal_logpdf(x, mu, sigma, xp=PT):
    """Normal log-density."""
    z = (x - mu) / sigma
    return -0.5 * z * z - xp.log(sigma) - _LOG_SQRT_2PI


def normal_logpdf_inv(x, mu, inv, log_inv):
    """Normal log-density given 1/sigma and its log (callers that have them avoid a division)."""
    z = (x - mu) * inv
    return -0.5 * z * z + log_inv - _LOG_SQRT_2PI


def _truncnorm_logpdf_inv(x, mu, inv, log_inv, lower, upper, xp):
    return normal_logpdf_inv(x, mu, inv, log_inv) - log_diff_ndtr((lower - mu) * inv, (upper - mu) * inv, xp)


def truncnorm_logpdf(x, mu, sigma, lower, upper, xp=PT):
    """Log-density of Normal(mu, sigma) truncated to [lower, upper] at x (inside)."""
    return _truncnorm_logpdf_inv(x, mu, 1.0 / sigma, -xp.log(sigma), lower, upper, xp)


def truncnorm_logpdf_var(x, mu, var, lower, upper, xp=PT):
    """:func:`truncnorm_logpdf` given the variance: one reciprocal square root, no division.

    The likelihoods here build the variance of each star's [Fe/H] as a sum of
    squares; a square root and a division per star (and their derivatives)
    cost about as much as the two ``erfc`` of the normaliser.
    """
    inv = xp.rsqrt(var)
    return _truncnorm_logpdf_inv(x, mu, inv, xp.log(inv), lower, upper, xp)


class Standardize(Transform):
    """Affine transform x = loc + scale * y with constant (data-derived) loc, scale.

    Given to ``transform=`` of a PyMC variable it changes only the coordinates
    the sampler moves in, not the model: with loc/scale from a least-squares
    pre-fit the posterior is ~N(0, 1) in y, so NUTS warm-up does not have to
    discover that a gradient is known to 0.002 dex/kpc while its prior is 0.5
    wide. Chained after PyMC's log transform for positive variables.
    """

    name = "std"
    ndim_supp = 0

    def __init__(self, loc, scale):
        self.loc = np.asarray(loc, dtype=float)
        self.scale = np.asarray(scale, dtype=float)
        if np.any(~np.isfinite(self.loc)) or np.any(~(self.scale > 0)):
            raise ValueError("Standardize needs finite loc and positive scale")

    def forward(self, value, *inputs):
        return (value - self.loc) / self.scale

    def backward(self, value, *inputs):
        return self.loc + self.scale * value

    def log_jac_det(self, value, *inputs):
        return pt.zeros_like(value) + np.log(self.scale)



def standardized_start(model) -> dict[str, np.ndarray]:
    """Starting values in the sampler's coordinates: 0 for every :class:`Standardize` variable.

    0 is the pre-fit value that defined the transform; PyMC's default start
    (the prior's centre) can be tens of posterior sd away for a gradient
    known to 0.002 dex/kpc. Other variables keep the model's initial point.
    """
    from pymc.logprob.transforms import ChainedTransform

    start = dict(model.initial_point())
    for rv in model.free_RVs:
        tr = model.rvs_to_transforms.get(rv)
        last = tr.transform_list[-1] if isinstance(tr, ChainedTransform) else tr
        if isinstance(last, Standardize):
            name = model.rvs_to_values[rv].name
            start[name] = np.zeros_like(start[name])
    return start


def constrained_start(model) -> dict[str, np.ndarray]:
    """:func:`standardized_start` mapped back to the variables' own values (for ``pm.sample(initvals=)``)."""
    start = standardized_start(model)
    out = {}
    for rv in model.free_RVs:
        value = model.rvs_to_values[rv]
        tr = model.rvs_to_transforms.get(rv)
        x = start[value.name]
        if tr is not None:
            x = pt.as_tensor_variable(tr.backward(pt.as_tensor_variable(x), *rv.owner.inputs)).eval()
        out[rv.name] = np.asarray(x)
    return out
