"""The three R_g treatments of the [Fe/H] likelihood, against direct numerical integration."""

import numpy as np
import pymc as pm
import pytensor
import pytensor.tensor as pt
import pytest
from scipy import integrate, stats

from mgar_bayes.models.gradient import MIN_BIN_WEIGHT, candidate_bins
from mgar_bayes.models.likelihood import (
    EDGE_SIGMAS,
    edge_map,
    edge_stars,
    feh_loglike,
    gaussian_logp,
    integrated_logp,
    latent_rg,
    sampled_logp,
)

R_REF = 8.27
FEH_RANGE = (-1.0, 0.5)
RG_RANGE = (0.0, 20.0)


def _stars(n, seed):
    rng = np.random.default_rng(seed)
    rg = rng.uniform(6.0, 14.0, n)
    rg_err = rng.uniform(0.1, 0.9, n)
    feh = np.clip(-0.1 - 0.06 * (rg - R_REF) + rng.normal(0, 0.12, n), -0.99, 0.49)
    sigma = np.sqrt(0.08**2 + rng.uniform(0.02, 0.1, n) ** 2) / rng.uniform(0.3, 1.0, n)
    return feh, sigma, rg, rg_err


def _exact(feh, sigma, b, g, rg, rg_err):
    """log of the C25 Appendix-A likelihood of one star, R integrated numerically."""

    def integrand(r):
        mu = b + g * (r - R_REF)
        a, c = (FEH_RANGE[0] - mu) / sigma, (FEH_RANGE[1] - mu) / sigma
        lo, hi = (RG_RANGE[0] - rg) / rg_err, (RG_RANGE[1] - rg) / rg_err
        return stats.truncnorm.pdf(feh, a, c, loc=mu, scale=sigma) * stats.truncnorm.pdf(
            r, lo, hi, loc=rg, scale=rg_err
        )

    value, _ = integrate.quad(integrand, *RG_RANGE, points=[rg], limit=200, epsabs=0, epsrel=1e-12)
    return np.log(value)


def _integrated(feh, sigma, b, g, rg, rg_err, n_nodes):
    n = feh.size
    return integrated_logp(
        feh,
        pt.as_tensor(sigma**2),
        pt.as_tensor(np.full(n, b)),
        pt.as_tensor(np.full(n, g)),
        pt.as_tensor(rg),
        pt.as_tensor(rg_err),
        r_ref=R_REF,
        feh_range=FEH_RANGE,
        n_nodes=n_nodes,
    ).eval()


@pytest.mark.parametrize(("g", "scatter_tol"), [(-0.06, 1e-6), (-0.1, 2e-3), (0.02, 1e-8)])
def test_integrated_matches_numerical_integration(g, scatter_tol):
    feh, sigma, rg, rg_err = _stars(40, seed=1)
    got = _integrated(feh, sigma, -0.1, g, rg, rg_err, n_nodes=5)
    exact = np.array([_exact(*row, -0.1, g, r, e) for *row, r, e in zip(feh, sigma, rg, rg_err, strict=True)])
    assert not edge_stars(rg, rg_err, RG_RANGE).any()
    np.testing.assert_allclose(got, exact, atol=scatter_tol)


def test_integrated_converges_with_nodes():
    feh, sigma, rg, rg_err = _stars(2000, seed=2)
    ref = _integrated(feh, sigma, -0.1, -0.08, rg, rg_err, n_nodes=40)
    errors = [np.abs(_integrated(feh, sigma, -0.1, -0.08, rg, rg_err, q) - ref).sum() for q in (1, 3, 5, 7)]
    print("summed |error| by nodes 1, 3, 5, 7:", np.round(errors, 8))
    assert errors[0] > errors[1] > errors[2] > errors[3]
    assert errors[1] < 2e-3  # the default (3 nodes), summed over 2,000 stars
    assert errors[2] < 1e-4


def test_gaussian_variant_is_close_but_not_exact():
    feh, sigma, rg, rg_err = _stars(2000, seed=3)
    exact = _integrated(feh, sigma, -0.1, -0.06, rg, rg_err, n_nodes=40)
    n = feh.size
    approx = gaussian_logp(
        feh,
        pt.as_tensor(sigma**2),
        pt.as_tensor(np.full(n, -0.1)),
        pt.as_tensor(np.full(n, -0.06)),
        pt.as_tensor(rg),
        pt.as_tensor(rg_err),
        r_ref=R_REF,
        feh_range=FEH_RANGE,
    ).eval()
    d = np.abs(approx - exact)
    assert d.max() < 0.05 and d.sum() > 1e-3


def test_feh_loglike_uses_the_sampled_radius_for_edge_stars():
    feh, sigma, rg, rg_err = _stars(6, seed=4)
    rg[:2] = [0.5, 19.0]  # within EDGE_SIGMAS dR_g of a limit
    edge = edge_stars(rg, rg_err, RG_RANGE)
    assert edge[:2].all() and not edge[2:].any()
    r = rg.copy()
    r[:2] = [0.9, 18.5]  # latent values where sampled
    args = [pt.as_tensor(v) for v in (sigma**2, np.full(6, -0.1), np.full(6, -0.06))]
    opts = {"r_ref": R_REF, "feh_range": FEH_RANGE}
    got = feh_loglike(
        "integrate", feh, *args, pt.as_tensor(r), pt.as_tensor(rg_err), edge=edge, n_nodes=5, **opts
    ).eval()
    np.testing.assert_allclose(got[:2], sampled_logp(feh[:2], *[a[:2] for a in args], r[:2], **opts).eval())
    np.testing.assert_allclose(
        got[2:], integrated_logp(feh[2:], *[a[2:] for a in args], rg[2:], rg_err[2:], n_nodes=5, **opts).eval()
    )


def test_latent_rg_stays_in_its_support_and_is_affine_inside():
    rg = np.array([0.3, 10.0, 19.8])
    err = np.array([0.5, 0.5, 0.5])
    edge = edge_stars(rg, err, RG_RANGE)
    assert edge.tolist() == [True, False, True] and EDGE_SIGMAS * 0.5 < 10
    with pm.Model(coords={"star": range(3)}) as model:
        out = latent_rg(pt.as_tensor(rg), pt.as_tensor(err), RG_RANGE, edge)
    f = pytensor.function(model.value_vars, model.replace_rvs_by_values([out])[0])
    for raw in (-60.0, 0.0, 60.0):
        values = np.asarray(f(np.full(3, raw)))
        # the limit within EDGE_SIGMAS is enforced; the other, > 38 dR_g away, is not
        assert values[0] >= 0 and values[2] <= 20
        assert values[1] == pytest.approx(10.0 + 0.5 * raw)
    np.testing.assert_allclose(np.asarray(f(np.zeros(3))), rg, atol=1e-9)


def test_candidate_bins_keep_every_weight_that_matters():
    rng = np.random.default_rng(5)
    prob = rng.dirichlet(np.full(6, 0.3), size=200)
    prob[:, 0] = np.where(rng.random(200) < 0.5, 1e-14, prob[:, 0])
    kidx, log_w = candidate_bins(prob)
    w = prob / prob.sum(1, keepdims=True)
    kept = np.zeros_like(w, dtype=bool)
    np.put_along_axis(kept, kidx, True, axis=1)
    assert np.all(kept | (w < MIN_BIN_WEIGHT))
    np.testing.assert_allclose(np.exp(log_w), np.take_along_axis(w, kidx, axis=1))
    assert np.all(np.diff(log_w, axis=1) <= 0)  # most probable first


@pytest.mark.parametrize(("rg_obs", "rg_err"), [(0.8, 0.5), (19.5, 0.3), (10.0, 4.0), (1.5, 2.0)])
def test_edge_map_carries_the_truncated_normal_prior(rg_obs, rg_err):
    """Push-forward of exp(log_prior) d raw is Normal(R_g,obs, dR_g) truncated to [0, 20] kpc."""
    raw = np.linspace(-60.0, 60.0, 200_001)
    rg, lp = (np.asarray(v.eval()) for v in edge_map(pt.as_tensor(raw), rg_obs, rg_err, RG_RANGE))
    assert np.all(np.diff(rg) >= 0)
    near = RG_RANGE[0] if rg_obs < 10.0 else RG_RANGE[1]
    assert np.all((rg - near) * (rg_obs - near) >= 0)  # never beyond the nearer limit
    w = np.exp(lp - lp.max())
    a, b = (RG_RANGE[0] - rg_obs) / rg_err, (RG_RANGE[1] - rg_obs) / rg_err
    exact = stats.truncnorm(a, b, loc=rg_obs, scale=rg_err)
    mean = integrate.trapezoid(rg * w, raw) / integrate.trapezoid(w, raw)
    var = integrate.trapezoid((rg - mean) ** 2 * w, raw) / integrate.trapezoid(w, raw)
    assert mean == pytest.approx(exact.mean(), abs=1e-6 * rg_err)
    assert var == pytest.approx(exact.var(), rel=1e-5)
    zero = np.argmin(np.abs(raw))
    assert rg[zero] == pytest.approx(rg_obs, abs=1e-9)


def test_edge_map_is_nearly_affine_away_from_the_limit():
    """A star d = 4 dR_g from R_g = 0: slope/dR_g departs from 1 by < 1.05 exp(-(d + raw))."""
    raw = np.linspace(-2.0, 2.0, 401)
    rg, _ = (np.asarray(v.eval()) for v in edge_map(pt.as_tensor(raw), 2.0, 0.5, RG_RANGE))
    slope = np.gradient(rg, raw) / 0.5
    assert np.all(np.abs(slope - 1.0) < 1.05 * np.exp(-(4.0 + raw)) + 1e-4)
