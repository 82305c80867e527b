"""Truncated-normal log-densities written in elementary ops, for PyTensor and for JAX.

PyTensor's own ``normal_lcdf`` (used by ``pm.TruncatedNormal``) calls ``erfcx``,
which has no JAX implementation unless tensorflow-probability is installed, so
the numpyro backend fails on it. Everything here uses only ``erfc``, ``log``
and ``where``, which the C, Numba (nutpie) and JAX (numpyro) backends all
support. Both branches of every ``where`` get clipped arguments, so neither
produces NaN gradients.

Each formula takes an ops namespace ``xp``: :data:`PT` (PyTensor, the default:
the formula becomes part of a PyMC model) or :func:`jax_ops` (the same formula
as a JAX function). One formula, so the two cannot drift apart.

The truncated-normal kernel of every [Fe/H] likelihood is one PyTensor node,
:class:`TruncNormLogp` (per star, or summed over the stars of a mask): its
value and analytic derivatives come from :func:`_truncnorm_core`, the same
function for PyTensor (C and Numba backends: PyMC's and nutpie's NUTS) and
for JAX, where the node is registered with ``jax_funcify`` as the fused kernel
of :func:`_jax_truncnorm` (custom derivatives, fewer logs). So a PyMC model
evaluated through ``get_jaxified_graph`` (the numpyro routes) runs the fast
kernel, and nothing is written twice.
"""

from __future__ import annotations

from functools import cache, partial
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
    "truncnorm_logpdf_var_sum",
    "normal_logpdf",
    "normal_logpdf_inv",
    "TruncNormLogp",
    "Standardize",
    "SignedStandardize",
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

    ops = SimpleNamespace(
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
    ops.truncnorm_logpdf_var, ops.truncnorm_logpdf_var_sum = _jax_truncnorm(jax, jnp)
    _register_jax(ops)
    return ops


def _truncnorm_core(x, mu, var, lower, upper, xp):
    """Pieces of log TruncNormal(x | mu, sqrt(var)) on [lower, upper] and its partial derivatives.

    The log-density is -z^2/2 - log(sqrt(2 pi)) + log(q) + extra, with
    q = 1 / (Sigma Z) where the normaliser Z is exact and, 37 sigma or more
    outside the interval, the asymptotic form of :func:`log_diff_ndtr`
    (``extra``). The partials (d/dx, d/dmu, d/dvar) use phi(a)/Z and phi(b)/Z
    from the same pieces rather than differentiating ``erfc``.

    Returns
    -------
    z, q, extra : array_like
    partials : tuple of array_like
        d log p / dx, d/dmu, d/dvar.
    """
    inv = xp.rsqrt(var)
    a, b = (lower - mu) * inv, (upper - mu) * inv
    flip = a > 0  # reflect so that the lower limit is <= 0 (see log_diff_ndtr)
    lo, hi = xp.where(flip, -b, a), xp.where(flip, -a, b)
    near = hi >= _FAR
    hi_near, hi_far = xp.maximum(hi, _FAR), xp.minimum(hi, _FAR)
    inv_z = 2.0 / (
        xp.erfc(-hi_near / np.sqrt(2.0)) - xp.erfc(-xp.minimum(lo, hi_near) / np.sqrt(2.0))
    )
    # far: the asymptotic log Z = -hi^2/2 - log(-hi) - log(sqrt(2 pi)) of log_diff_ndtr
    q = xp.where(near, inv * inv_z, -inv * hi_far)
    extra = xp.where(near, 0.0, 0.5 * hi_far * hi_far + _LOG_SQRT_2PI)
    # -d log Z / da and d log Z / db: phi(a)/Z and phi(b)/Z near; far, the derivative of
    # the asymptotic term, which depends on the upper limit after the reflection only
    d_far = -hi_far - 1.0 / hi_far
    pa = xp.where(near, xp.exp(-_LOG_SQRT_2PI - 0.5 * a * a) * inv_z, xp.where(flip, d_far, 0.0))
    pb = xp.where(near, xp.exp(-_LOG_SQRT_2PI - 0.5 * b * b) * inv_z, xp.where(flip, 0.0, d_far))
    z = (x - mu) * inv
    zi = z * inv
    f_mu = zi + (pb - pa) * inv
    f_var = 0.5 * inv * inv * (z * z - 1.0 + pb * b - pa * a)
    return z, q, extra, (-zi, f_mu, f_var)


def _truncnorm_value(z, q, extra, xp):
    return -0.5 * z * z - _LOG_SQRT_2PI + xp.log(q) + extra


class TruncNormLogp:
    """Marker base of the two kernel nodes (see :func:`truncnorm_node`)."""


def _make_truncnorm_op(summed: bool):
    from pytensor.compile.builders import OpFromGraph

    class _Op(OpFromGraph, TruncNormLogp):
        """log TruncNormal(x | mu, sqrt(var)) on [lower, upper], elementwise or masked sum (one node).

        An ``OpFromGraph`` whose inner graph is :func:`_truncnorm_core`'s value
        and whose gradient (``L_op``) is its analytic partials; its JAX
        implementation (registered on first use of :func:`jax_ops`) is the
        fused kernel with custom derivatives.
        """

        def __init__(self, *args, lower: float, upper: float, **kwargs):
            self.lower, self.upper, self.summed = float(lower), float(upper), summed
            super().__init__(*args, **kwargs)

        def __eq__(self, other):
            return self is other

        def __hash__(self):
            return id(self)

    _Op.__name__ = _Op.__qualname__ = "TruncNormLogpSum" if summed else "TruncNormLogpVar"
    return _Op


@cache
def _op_class(summed: bool):
    return _make_truncnorm_op(summed)


def truncnorm_node(x, mu, var, lower: float, upper: float, mask=None):
    """The kernel as one PyTensor node: per element, or (``mask`` given) summed where ``mask``.

    Inputs are broadcast to one shape first, so the node's gradient needs no
    reduction (PyTensor's broadcast takes care of it outside).
    """
    lower, upper = float(lower), float(upper)
    args = [pt.as_tensor_variable(v) for v in (x, mu, var)]
    args = [pt.cast(v, "float64") for v in args]
    if mask is not None:
        args.append(pt.as_tensor_variable(mask).astype("bool"))
    args = list(pt.broadcast_arrays(*args))
    inner = [a.type() for a in args]
    z, q, extra, partials = _truncnorm_core(*inner[:3], lower, upper, PT)
    value = _truncnorm_value(z, q, extra, PT)
    if mask is not None:
        value = pt.switch(inner[3], value, 0.0).sum()

    def lop(inputs, outputs, output_grads):
        (g,) = output_grads
        parts = _truncnorm_core(*inputs[:3], lower, upper, PT)[3]
        if mask is not None:
            grads = [pt.switch(inputs[3], g * p, 0.0) for p in parts]
            from pytensor.gradient import DisconnectedType

            return [*grads, DisconnectedType()()]
        return [g * p for p in parts]

    if mask is not None:
        op = _op_class(True)(inner, [value], lower=lower, upper=upper, lop_overrides=lop,
                             connection_pattern=[[True], [True], [True], [False]])  # fmt: skip
    else:
        op = _op_class(False)(inner, [value], lower=lower, upper=upper, lop_overrides=lop)
    return op(*args)


def _register_jax(ops) -> None:
    """Give the kernel nodes their JAX implementation: the fused kernel of :func:`_jax_truncnorm`."""
    from pytensor.link.jax.dispatch import jax_funcify

    tlv, tlv_sum = ops.truncnorm_logpdf_var, ops.truncnorm_logpdf_var_sum

    def per_star(op, **kwargs):
        lo, hi = op.lower, op.upper
        return lambda x, mu, var: tlv(x, mu, var, lo, hi)

    def summed(op, **kwargs):
        lo, hi = op.lower, op.upper
        return lambda x, mu, var, mask: tlv_sum(x, mu, var, lo, hi, mask)

    jax_funcify.register(_op_class(False))(per_star)
    jax_funcify.register(_op_class(True))(summed)


def _jax_truncnorm(jax, jnp):
    """:func:`truncnorm_logpdf_var` and its sum over stars as JAX functions with analytic derivatives.

    The value is the formula of :func:`_truncnorm_logpdf_inv` rearranged to
    take one ``log`` per star instead of two: log(1/Sigma) - log Z =
    log(1/(Sigma Z)). In the sum over stars, the logs are taken of products
    of eight stars' terms (split into mantissa and exponent, so no product
    over- or underflows): an eighth of the logs. The derivatives come from the
    value's own pieces (phi(a)/Z, phi(b)/Z) rather than from differentiating
    ``erfc``. Value and gradient of a bin's [Fe/H] likelihood cost less than
    half of the differentiated formula's (``benchmarks/likelihood.py``), with
    the same numbers to ~1e-12 relative.
    """
    from jax.custom_derivatives import SymbolicZero

    jops = SimpleNamespace(
        rsqrt=jax.lax.rsqrt, where=jnp.where, maximum=jnp.maximum, minimum=jnp.minimum,
        erfc=jax.scipy.special.erfc, exp=jnp.exp,
    )  # fmt: skip

    def core(x, mu, var, lower, upper):
        # log-density = -z^2/2 - log(sqrt(2 pi)) + log(q) + extra, and its partial derivatives
        return _truncnorm_core(x, mu, var, lower, upper, jops)

    def value(z, q, extra):
        return -0.5 * z * z - _LOG_SQRT_2PI + jnp.log(q) + extra

    def tangent(partials, tangents):
        terms = [
            p * t
            for p, t in zip(partials, tangents, strict=True)
            if not isinstance(t, SymbolicZero)
        ]
        return sum(terms[1:], terms[0]) if terms else None

    @partial(jax.custom_jvp, nondiff_argnums=(3, 4))
    def tlv(x, mu, var, lower, upper):
        return value(*core(x, mu, var, lower, upper)[:3])

    @partial(tlv.defjvp, symbolic_zeros=True)
    def _tlv_jvp(lower, upper, primals, tangents):
        z, q, extra, partials = core(*primals, lower, upper)
        out = value(z, q, extra)
        t = tangent(partials, tangents)
        return out, jnp.zeros_like(out) if t is None else jnp.broadcast_to(t, out.shape)

    def sum_log(q):
        # sum(log q) as logs of products of 8 mantissas plus the exponents' sum
        m, e = jnp.frexp(jnp.ravel(q))
        m = jnp.pad(m, (0, -m.size % 8), constant_values=1.0)
        return jnp.log(m.reshape(-1, 8).prod(axis=1)).sum() + np.log(2.0) * e.sum()

    def sum_value(z, q, extra, mask):
        return jnp.where(mask, extra - 0.5 * z * z - _LOG_SQRT_2PI, 0.0).sum() + sum_log(
            jnp.where(mask, q, 1.0)
        )

    @partial(jax.custom_jvp, nondiff_argnums=(3, 4))
    def tlv_sum(x, mu, var, lower, upper, mask):
        x, mu, var, mask = jnp.broadcast_arrays(x, mu, var, mask)
        z, q, extra, _ = core(x, mu, var, lower, upper)
        return sum_value(z, q, extra, mask)

    @partial(tlv_sum.defjvp, symbolic_zeros=True)
    def _tlv_sum_jvp(lower, upper, primals, tangents):
        x, mu, var, mask = jnp.broadcast_arrays(*primals)
        z, q, extra, partials = core(x, mu, var, lower, upper)
        out = sum_value(z, q, extra, mask)
        t = tangent(partials, tangents[:3])
        return out, jnp.zeros_like(out) if t is None else jnp.where(mask, t, 0.0).sum()

    return tlv, tlv_sum


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
    direct = 0.5 * (
        xp.erfc(-hi_near / np.sqrt(2.0)) - xp.erfc(-xp.minimum(lo, hi_near) / np.sqrt(2.0))
    )
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
    return normal_logpdf_inv(x, mu, inv, log_inv) - log_diff_ndtr(
        (lower - mu) * inv, (upper - mu) * inv, xp
    )


def truncnorm_logpdf(x, mu, sigma, lower, upper, xp=PT):
    """Log-density of Normal(mu, sigma) truncated to [lower, upper] at x (inside)."""
    return _truncnorm_logpdf_inv(x, mu, 1.0 / sigma, -xp.log(sigma), lower, upper, xp)


def truncnorm_logpdf_var(x, mu, var, lower, upper, xp=PT):
    """:func:`truncnorm_logpdf` given the variance: one reciprocal square root, no division.

    The likelihoods here build the variance of each star's [Fe/H] as a sum of
    squares; a square root and a division per star (and their derivatives)
    cost about as much as the two ``erfc`` of the normaliser.
    """
    if hasattr(xp, "truncnorm_logpdf_var"):
        return xp.truncnorm_logpdf_var(x, mu, var, lower, upper)
    if xp is PT:
        return truncnorm_node(x, mu, var, lower, upper)
    inv = xp.rsqrt(var)
    return _truncnorm_logpdf_inv(x, mu, inv, xp.log(inv), lower, upper, xp)


def truncnorm_logpdf_var_sum(x, mu, var, lower, upper, mask, xp=PT):
    """Sum of :func:`truncnorm_logpdf_var` over the elements where ``mask`` is true.

    With JAX ops, one fused function of less than half the cost (see
    :func:`_jax_truncnorm`); with PyTensor, the masked sum of the formula.
    """
    if hasattr(xp, "truncnorm_logpdf_var_sum"):
        return xp.truncnorm_logpdf_var_sum(x, mu, var, lower, upper, mask)
    if xp is PT:
        return truncnorm_node(x, mu, var, lower, upper, mask=mask)
    return xp.where(mask, truncnorm_logpdf_var(x, mu, var, lower, upper, xp), 0.0).sum()


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
        if isinstance(loc, pt.Variable) or isinstance(scale, pt.Variable):
            # symbolic (inputs of a graph evaluated for many bins, see _binwise.bin_density)
            self.loc, self.scale = pt.as_tensor_variable(loc), pt.as_tensor_variable(scale)
            return
        self.loc = np.asarray(loc, dtype=float)
        self.scale = np.asarray(scale, dtype=float)
        if np.any(~np.isfinite(self.loc)) or np.any(~(self.scale > 0)):
            raise ValueError("Standardize needs finite loc and positive scale")

    def forward(self, value, *inputs):
        return (value - self.loc) / self.scale

    def backward(self, value, *inputs):
        return self.loc + self.scale * value

    def log_jac_det(self, value, *inputs):
        return pt.zeros_like(value) + pt.log(self.scale)


class SignedStandardize(Standardize):
    """x = |loc + scale * y| for a positive variable: the sampler moves through 0 instead of along log x.

    Used (with ``default_transform=None``) for each bin's scatter sigma: the
    density in y is p(|loc + scale y|) scale, two mirror images of the
    posterior of sigma, which |.| maps back onto it (every term depends on
    sigma^2, so the density is smooth through y = -loc / scale). In the old
    bins C25's 1/P inflation lets sigma run down to ~0 (its posterior flat from
    0 to ~0.005 dex), which in log sigma is an exponential tail beside a steep
    edge: NUTS needed step sizes of 0.2 and 13-14 leapfrog steps per draw there,
    in this coordinate 6-7, as in the young bins (benchmarks/c25_size.py).
    ``loc`` is a moment estimate of sigma and ``scale`` its standard error
    (:func:`~._binwise.scatter_prefit`).
    """

    name = "wstd"

    def __init__(self, loc, scale):
        if not (isinstance(loc, pt.Variable) or isinstance(scale, pt.Variable)):
            if np.any(np.asarray(loc) < 0):
                raise ValueError("SignedStandardize needs loc >= 0")
        super().__init__(loc, scale)

    def forward(self, value, *inputs):
        # of the two mirror points, the one on the side of loc
        return (value - self.loc) / self.scale

    def backward(self, value, *inputs):
        return pt.abs(self.loc + self.scale * value)


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
            x = pt.as_tensor_variable(
                tr.backward(pt.as_tensor_variable(x), *rv.owner.inputs)
            ).eval()
        out[rv.name] = np.asarray(x)
    return out
