"""The truncated-normal pieces written in elementary ops, against SciPy."""

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from scipy import integrate, special, stats

from mgar_bayes.models._math import Standardize, log_diff_ndtr, truncnorm_logpdf


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
