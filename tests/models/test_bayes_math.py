"""The truncated-normal pieces written in elementary ops, against SciPy."""

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from scipy import integrate, special, stats

from mgar_bayes.models._math import (
    Standardize,
    jax_ops,
    log_diff_ndtr,
    truncnorm_logpdf,
    truncnorm_logpdf_var,
    truncnorm_logpdf_var_sum,
)


def _ref(a, b):
    if a > 0:
        a, b = -b, -a
    lb, la = special.log_ndtr(b), special.log_ndtr(a)
    return lb + np.log(-np.expm1(la - lb))


A = np.array([-40.0, -25, -21, -19, -3, -1, 0.5, 3, 19, 25, -1e-3, 5, -50])
B = np.array([-39.0, -20, -20.5, -18, 2, 1, 0.6, 3.5, 40, 30, 1e-3, 1000, 50])


def test_log_diff_ndtr_matches_scipy_in_both_tails():
    a, b = pt.dvector(), pt.dvector()
    f = pytensor.function([a, b], log_diff_ndtr(a, b))
    expected = np.array([_ref(x, y) for x, y in zip(A, B, strict=True)])
    got = f(A, B)
    # exact wherever the interval reaches within 37 sigma of the mean
    near = np.where(A > 0, -A, B) > -37
    np.testing.assert_allclose(got[near], expected[near], rtol=1e-10, atol=1e-12)
    # beyond: the leading asymptotic term, to ~1/z^2
    np.testing.assert_allclose(got[~near], expected[~near], atol=1e-3)
    assert (~near).any()


def test_log_diff_ndtr_is_accurate_on_a_dense_grid():
    a, b = pt.dvector(), pt.dvector()
    f = pytensor.function([a, b], log_diff_ndtr(a, b))
    lo = np.linspace(-36.0, 36.0, 721)
    for width in (1e-3, 0.5, 5.0, 40.0):
        expected = np.array([_ref(x, x + width) for x in lo])
        np.testing.assert_allclose(f(lo, lo + width), expected, rtol=1e-9, atol=1e-12)


def test_log_diff_ndtr_gradient_is_finite_and_matches_finite_differences():
    a, b = pt.dvector(), pt.dvector()
    out = log_diff_ndtr(a, b)
    f = pytensor.function([a, b], out)
    g = pytensor.function([a, b], pt.grad(out.sum(), a))
    ga = g(A, B)
    assert np.all(np.isfinite(ga))
    h = 1e-5
    sel = np.abs(A) < 30
    num = (f(A + h, B) - f(A - h, B)) / (2 * h)
    np.testing.assert_allclose(ga[sel], num[sel], rtol=1e-4, atol=1e-8)


def test_truncnorm_logpdf_matches_scipy_and_normalises():
    x = pt.dvector()
    f = pytensor.function([x], truncnorm_logpdf(x, 0.1, 0.3, -1.0, 0.5))
    grid = np.linspace(-1.0, 0.5, 7)
    ref = stats.truncnorm.logpdf(grid, (-1 - 0.1) / 0.3, (0.5 - 0.1) / 0.3, loc=0.1, scale=0.3)
    np.testing.assert_allclose(f(grid), ref, rtol=1e-10)
    total, _ = integrate.quad(lambda v: np.exp(f(np.array([v]))[0]), -1.0, 0.5)
    assert total == pytest.approx(1.0, abs=1e-8)


def test_standardize_round_trip_and_jacobian():
    t = Standardize(np.array([1.0, -2.0]), np.array([0.1, 3.0]))
    x = pt.dvector()
    fwd = pytensor.function([x], t.forward(x))
    back = pytensor.function([x], t.backward(x))
    v = np.array([1.3, 4.0])
    np.testing.assert_allclose(back(fwd(v)), v)
    jac = pytensor.function([x], t.log_jac_det(x))(v)
    np.testing.assert_allclose(jac, np.log([0.1, 3.0]))
    with pytest.raises(ValueError):
        Standardize(0.0, 0.0)


def test_logp_compiles_with_jax_without_erfcx():
    """The numpyro backend needs a JAX graph; PyTensor's TruncatedNormal needs erfcx (tfp)."""
    pytest.importorskip("jax")
    x = pt.dvector()
    out = truncnorm_logpdf(x, 0.0, 0.2, -1.0, 0.5)
    f = pytensor.function([x], [out, pt.grad(out.sum(), x)], mode="JAX")
    v, g = f(np.array([-0.5, 0.0, 0.4]))
    ref = stats.truncnorm.logpdf([-0.5, 0.0, 0.4], -5.0, 2.5, loc=0.0, scale=0.2)
    np.testing.assert_allclose(v, ref, rtol=1e-10)
    assert np.all(np.isfinite(g))


# mean, sigma pairs over the bulk and both tails of the truncation [-1, 0.5] (the last ones
# put the mean > 37 sigma outside it, where the asymptotic normaliser takes over)
_MU = np.array([-0.3, 0.1, 0.45, -0.95, 2.0, -4.0, 0.0, -0.2, 3.0, -1.5, 0.8, 40.0, -60.0])
_SIG = np.array([0.1, 0.3, 0.05, 0.02, 0.2, 0.5, 5.0, 1e-3, 0.05, 0.04, 0.002, 1.0, 1.0])
_X = np.array([-0.2, 0.0, 0.4, -0.99, 0.45, -0.9, 0.3, -0.2, 0.49, -0.95, 0.49, 0.5, -1.0])


def _pt_logpdf_and_grads():
    x, mu, var = pt.dvector(), pt.dvector(), pt.dvector()
    out = truncnorm_logpdf_var(x, mu, var, -1.0, 0.5)
    return pytensor.function([x, mu, var], [out, *pt.grad(out.sum(), [x, mu, var])])


def test_jax_truncnorm_matches_the_formula_with_its_gradient():
    """The JAX kernel (one log, analytic derivatives) equals the PyTensor formula and its autodiff."""
    jax = pytest.importorskip("jax")
    xp = jax_ops()
    var = _SIG**2
    want = _pt_logpdf_and_grads()(_X, _MU, var)
    got = jax.vmap(jax.value_and_grad(lambda x, m, v: xp.truncnorm_logpdf_var(x, m, v, -1.0, 0.5), argnums=(0, 1, 2)))(
        _X, _MU, var
    )
    got = [got[0], *got[1]]
    for g, w, name in zip(got, want, ("value", "d/dx", "d/dmu", "d/dvar"), strict=True):
        np.testing.assert_allclose(np.asarray(g), w, rtol=1e-9, atol=1e-9, err_msg=name)
    near = np.abs(np.where(_MU > 0.5, _MU - 0.5, np.where(_MU < -1, -1 - _MU, 0.0))) / _SIG < 37
    ref = stats.truncnorm.logpdf(_X, (-1 - _MU) / _SIG, (0.5 - _MU) / _SIG, loc=_MU, scale=_SIG)
    np.testing.assert_allclose(np.asarray(got[0])[near], ref[near], rtol=1e-10)


def test_jax_truncnorm_sum_equals_the_masked_sum_of_its_terms():
    """The summed kernel (logs of products of eight terms) is the sum of the per-star values, gradient included."""
    jax = pytest.importorskip("jax")
    xp = jax_ops()
    rng = np.random.default_rng(2)
    n = 203  # not a multiple of 8
    mu = np.concatenate([_MU, rng.uniform(-1.2, 0.7, n - len(_MU))])
    var = np.concatenate([_SIG, rng.uniform(0.01, 0.6, n - len(_SIG))]) ** 2
    x = np.concatenate([_X, rng.uniform(-1.0, 0.5, n - len(_X))])
    mask = rng.uniform(size=n) < 0.8

    def per_star(m, v):
        return jnp.where(mask, xp.truncnorm_logpdf_var(x, m, v, -1.0, 0.5), 0.0).sum()

    def summed(m, v):
        return truncnorm_logpdf_var_sum(x, m, v, -1.0, 0.5, mask, xp)

    jnp = jax.numpy
    want = jax.value_and_grad(per_star, argnums=(0, 1))(mu, var)
    got = jax.value_and_grad(summed, argnums=(0, 1))(mu, var)
    np.testing.assert_allclose(float(got[0]), float(want[0]), rtol=1e-12)
    for g, w in zip(got[1], want[1], strict=True):
        np.testing.assert_allclose(np.asarray(g), np.asarray(w), rtol=1e-12, atol=1e-12)
        assert np.all(np.asarray(g)[~mask] == 0.0)
    # terms of 1e+300 and 1e-300 in one product of eight: no over- or underflow
    tiny = summed(np.full(n, 0.5 + 37.0 * 0.01), np.full(n, 0.01**2))
    assert np.isfinite(float(tiny))
    # the PyTensor route of the same function is the masked sum of the formula
    f = pytensor.function([], truncnorm_logpdf_var_sum(x, mu, var, -1.0, 0.5, mask))
    np.testing.assert_allclose(f(), float(want[0]), rtol=1e-10)
