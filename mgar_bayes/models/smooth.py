"""The smooth MGAR: the gradient a smooth function of age, a line plus a Gaussian process.

Over fine age bins (``models/smooth.toml``: ``[data] age_bin_width = 0.5``,
23 bins of 0.49 Gyr over C25's 1-12.25 Gyr) the bins' gradients are

    nabla_k = a + s (t_k - age_ref) + f_k,   f = (I - P) g,   g ~ GP(0, eta^2 ExpQuad(ell)),

g evaluated at the bin centres t_k. P projects onto the least-squares line
over the centres (equal weights, i.e. uniform in age): f is the GP's
departure from a line, so a + s (t - age_ref) is exactly the least-squares
line through the whole curve nabla(t_k) and s (``trend_slope``,
:meth:`SmoothMGARModel.flattening_rate`) keeps the meaning of a flattening
rate whatever shape the curve takes; without P a GP of long length scale and
the line would trade slope between them. The amplitude eta [dex/kpc] and
length scale ell [Gyr] take the spec's ``gp_amplitude`` and
``gp_lengthscale`` priors. eta = 0 is the line itself: there is no per-bin
scatter about the curve (``trend_scatter`` is not used), so the result does
not depend on where the bin edges fall once the bins are finer than ell and
than the age errors.

The GP is sampled non-centred in its Hilbert-space basis (Solin & Saerkkae
2020; Riutort-Mayol et al. 2023, "HSGP"): g(t) = sum_j phi_j(t) sqrt(S(w_j))
z_j, z_j ~ N(0, 1), with phi_j the sines of the Laplacian on the binned age
range widened :data:`HSGP_BOUNDARY` times about its middle, w_j their
frequencies and S the ExpQuad spectral density, eta^2 sqrt(2 pi) ell
exp(-ell^2 w^2 / 2). With :func:`hsgp_size` terms (42 over C25's range) the
covariance of the departure (I - P) g at the centres is the exact GP's to
within 1% of eta^2 for 0.6 Gyr <= ell <= the binned range (the tests check it); the
lengthscale prior puts 0.2% below 0.6 Gyr. So g is a function of continuous
age: the band at any age is the same sum, and no matrix is factorised in the
model. (An exact GP through the Cholesky factor
of the centres' covariance was tried first: jaxlib's batched LAPACK
Cholesky deadlocked twice in the numpyro route's post-processing, which
evaluates the graph over all draws at once on the two host devices.)

The intercepts and scatters are smooth in age too, cubic B-splines with
knots uniform in ln(age), ``structure.spline_log_spacing`` apart (0.3: 12
basis functions over C25's range, knots 0.5 Gyr apart at 1.5 Gyr and 3 Gyr
apart at 11 Gyr, as the 10-20% age errors widen): b(t) = sum_j B_j(t) b_j,
sigma(t) = sum_j B_j(t) sigma_j, the coefficients with the spec's
``intercept`` and ``scatter`` priors (B_j >= 0 and sum_j B_j = 1, so
sigma_j > 0 keeps sigma positive and each coefficient is the [Fe/H] at
r_ref, or the scatter, near its knot). With a free intercept and scatter
per fine bin the age mixture cannot tell adjacent bins apart (each star's
candidate bins span several 0.5-Gyr bins): on a simulated catalogue with
10% age errors their intercepts alternated by up to 0.1 dex and the
scatters came out at 0.04-0.077 against a true 0.08 dex. Knots 1.5 Gyr
apart at every age did the same at old ages on the bundled catalogue's thin
disk (20% errors: R-hat 1.13 for the intercepts and scatters above 7 Gyr).
GPs for them (amplitude and length scale each) sampled badly there: the
data fix both functions far more tightly than any amplitude, the regime
where a non-centred GP's coefficients curve against its hyperparameters;
free spline coefficients are a plain regression.

``structure.gradient_gp = false`` (``models/smooth_line.toml``) drops the GP:
the line alone on the same bins with the same splines, the nested model to
compare the curve with by LOO (:func:`~.compare.compare_loo`), so that the
comparison is of the gradient's shape alone; against the hierarchical model
it is also of the nuisance functions (splines against free bins).

Everything else is the hierarchical model's
(:class:`~.hierarchical.HierarchicalMGARModel`): age errors as a mixture over
each star's candidate bins, R_g convolved, and the fast numpyro route
(:func:`~.hierarchical.hierarchical_density`), which reads the gradients,
intercepts and scatters from the PyMC graph and so samples this prior
unchanged.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt

from ._math import Standardize
from .base import register_builder
from .config import DataConfig, ModelSpec, StructureConfig, prior_variable
from .gradient import _summary_stats
from .hierarchical import HierarchicalMGARModel

__all__ = [
    "SmoothMGARModel",
    "HSGP_BOUNDARY",
    "HSGP_MIN_LENGTHSCALE",
    "hsgp_basis",
    "hsgp_size",
    "hsgp_scale",
    "line_projector",
    "gp_curve",
]

#: The basis lives on the binned age range widened to this many times its half-width about its
#: middle (Riutort-Mayol et al.'s c): wide enough for length scales up to the range itself, narrow
#: enough that the basis functions stay far from collinear over the data.
HSGP_BOUNDARY = 2.5
#: Shortest length scale [Gyr] the basis resolves (:func:`hsgp_size`).
HSGP_MIN_LENGTHSCALE = 0.6


def hsgp_size(lo: float, hi: float, c: float | None = None) -> int:
    """Basis functions of each GP on [lo, hi] [Gyr]: m = 1.75 c S / ell_min (Riutort-Mayol et al. 2023).

    S = (hi - lo) / 2, ell_min = :data:`HSGP_MIN_LENGTHSCALE`; 42 for C25's 1-12.25 Gyr.
    """
    c = HSGP_BOUNDARY if c is None else float(c)
    return max(int(np.ceil(1.75 * c * 0.5 * (float(hi) - float(lo)) / HSGP_MIN_LENGTHSCALE)), 10)


def hsgp_basis(
    ages: np.ndarray, lo: float, hi: float, m: int | None = None, c: float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The Hilbert-space GP basis on [lo, hi] [Gyr]: phi_j(ages), shape (n, m), and frequencies w_j (m,).

    phi_j(t) = sin(pi j (t - mid + L) / (2 L)) / sqrt(L), w_j = pi j / (2 L),
    L = c (hi - lo) / 2, mid = (lo + hi) / 2 (the Laplacian's eigenfunctions
    on [mid - L, mid + L] with zero boundary values).
    """
    t = np.asarray(ages, dtype=float)
    c = HSGP_BOUNDARY if c is None else float(c)
    m = hsgp_size(lo, hi, c) if m is None else m
    half = 0.5 * (float(hi) - float(lo))
    big_l = float(c) * half
    j = np.arange(1, int(m) + 1)
    w = np.pi * j / (2.0 * big_l)
    phi = np.sin(w[None, :] * (t[:, None] - 0.5 * (lo + hi) + big_l)) / np.sqrt(big_l)
    return phi, w


def hsgp_scale(amplitude, lengthscale, w, xp=np):
    """sqrt of the ExpQuad spectral density at frequencies ``w``: eta (sqrt(2 pi) ell)^(1/2) exp(-ell^2 w^2 / 4).

    ``amplitude`` and ``lengthscale`` broadcast against ``w`` (NumPy or PyTensor: ``xp``).
    """
    return amplitude * xp.sqrt(np.sqrt(2.0 * np.pi) * lengthscale) * xp.exp(-0.25 * (lengthscale * w) ** 2)


def line_projector(centers: np.ndarray, degree: int = 1) -> np.ndarray:
    """I - P, P the least-squares projection onto polynomials of ``degree`` over ``centers``, (K, K).

    Equal weights: degree 1 removes the least-squares line (uniform in age),
    degree 0 the mean.
    """
    t = np.asarray(centers, dtype=float)
    x = np.vander(t - t.mean(), int(degree) + 1, increasing=True)
    return np.eye(t.size) - x @ np.linalg.solve(x.T @ x, x.T)


def _gp_departure(bins, priors, prefix: str, *, degree: int):
    """(I - P) g at the bin centres, g the HSGP of ``<prefix>_amplitude``, ``<prefix>_lengthscale``
    (variables and priors of those names) and ``<prefix>_z`` (its basis coefficients), named
    ``<prefix>_departure``, in the current model."""
    eta = prior_variable(getattr(priors, f"{prefix}_amplitude"), f"{prefix}_amplitude")
    ell = prior_variable(getattr(priors, f"{prefix}_lengthscale"), f"{prefix}_lengthscale")
    z = pm.Normal(f"{prefix}_z", 0.0, 1.0, dims="gp_basis")
    t = np.asarray(bins.centers, dtype=float)
    phi, w = hsgp_basis(t, bins.edges[0], bins.edges[-1])
    g = pt.dot(phi, hsgp_scale(eta, ell, w, xp=pt) * z)
    return pm.Deterministic(f"{prefix}_departure", pt.dot(line_projector(t, degree), g), dims="age_bin")


#: Ages below this [Gyr] share the spline's first knot (ln age needs a positive age).
SPLINE_MIN_AGE = 0.25


def spline_basis(ages: np.ndarray, lo: float, hi: float, log_spacing: float) -> np.ndarray:
    """Clamped cubic B-spline basis in ln(age) on [lo, hi] [Gyr], knots at most ``log_spacing`` apart, (n, J).

    J = intervals + 3; each row is >= 0 and sums to 1 inside [lo, hi].
    """
    from scipy.interpolate import BSpline

    a, b = np.log(max(float(lo), SPLINE_MIN_AGE)), np.log(max(float(hi), SPLINE_MIN_AGE))
    n = max(int(np.ceil((b - a) / float(log_spacing) - 1e-9)), 1)
    inner = np.linspace(a, b, n + 1)
    knots = np.r_[[inner[0]] * 3, inner, [inner[-1]] * 3]
    x = np.clip(np.log(np.maximum(np.asarray(ages, dtype=float), SPLINE_MIN_AGE)), a, b)
    return BSpline.design_matrix(x, knots, 3).toarray()


def _spline_prefit(basis: np.ndarray, y: np.ndarray, se: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weighted least-squares spline coefficients of per-bin pre-fit values and their errors (scaling only)."""
    w = 1.0 / np.maximum(np.asarray(se, dtype=float), 1e-4) ** 2
    a = basis.T @ (basis * w[:, None])
    cov = np.linalg.pinv(a + 1e-6 * np.trace(a) / a.shape[0] * np.eye(a.shape[0]))
    return cov @ (basis.T @ (w * np.asarray(y, dtype=float))), np.sqrt(np.diag(cov))


def gp_curve(
    ages: np.ndarray,
    bins,
    *,
    intercept: np.ndarray,
    slope: np.ndarray,
    amplitude: np.ndarray,
    lengthscale: np.ndarray,
    z: np.ndarray,
    age_ref: float,
) -> np.ndarray:
    """The smooth gradient curve [dex/kpc] at ``ages``, one row per posterior draw, (d, n).

    a + s (t - age_ref) + g(t) - [the least-squares line of g over the bin
    centres](t): the model's own function of age, evaluated anywhere; at the
    centres it is the model's ``gradient``.

    Parameters
    ----------
    ages : numpy.ndarray
        Where to evaluate [Gyr], (n,).
    bins : AgeBins
        The model's bins (the centres and the basis's range).
    intercept, slope, amplitude, lengthscale : numpy.ndarray
        Draws of a, s, eta, ell, (d,).
    z : numpy.ndarray
        Draws of the GP's basis coefficients, (d, m).
    age_ref : float
    """
    ages = np.asarray(ages, dtype=float)
    t = np.asarray(bins.centers, dtype=float)
    lo, hi = bins.edges[0], bins.edges[-1]
    z = np.asarray(z, dtype=float)
    phi_t, w = hsgp_basis(t, lo, hi, m=z.shape[-1])
    phi_a, _ = hsgp_basis(ages, lo, hi, m=z.shape[-1])
    coef = hsgp_scale(
        np.asarray(amplitude, float).reshape(-1, 1), np.asarray(lengthscale, float).reshape(-1, 1), w
    ) * np.asarray(z, dtype=float)  # (d, m)
    g_t, g_a = coef @ phi_t.T, coef @ phi_a.T
    x = np.c_[np.ones_like(t), t - t.mean()]
    line = np.linalg.solve(x.T @ x, x.T @ g_t.T).T  # (d, 2): the LS line of g over the centres
    a = np.asarray(intercept, dtype=float).reshape(-1, 1)
    s = np.asarray(slope, dtype=float).reshape(-1, 1)
    return a + s * (ages[None, :] - age_ref) + g_a - line[:, :1] - line[:, 1:] * (ages - t.mean())[None, :]


@register_builder("smooth")
class SmoothMGARModel(HierarchicalMGARModel):
    """The hierarchical model with the bins' gradients on a smooth curve: a line plus a GP.

    nabla_k = a + s (t_k - age_ref) + [(I - P) g]_k, g a GP in age, over fine age
    bins (see the module's description); a + s (t - age_ref) is the
    least-squares line through the curve, s the flattening rate. The priors
    of a, s are the hierarchical model's (``trend_intercept``,
    ``trend_slope``), eta's and ell's the spec's ``gp_amplitude`` and
    ``gp_lengthscale``; the intercepts and scatters are cubic splines in
    age whose coefficients take the ``intercept`` and ``scatter`` priors. :meth:`band` is the curve's posterior mean and HDI
    at any ages (:func:`gp_curve`).
    """

    default_spec: ClassVar[ModelSpec] = ModelSpec(
        name="smooth",
        builder="smooth",
        structure=StructureConfig(
            age_treatment="mixture", age_ref=6.625, rg_treatment="gaussian", spline_log_spacing=0.3
        ),
        data=DataConfig(age_bin_width=0.5),
    )
    var_summary: ClassVar[tuple[str, ...]] = (
        "gradient",
        "intercept",
        "scatter",
        "trend_intercept",
        "trend_slope",
        "gp_amplitude",
        "gp_lengthscale",
    )

    def _bin_gradients(self, bins, age_c, pf):
        st = self.structure
        a, s, _ = self._line(bins, age_c, pf)
        if not st.gradient_gp:  # the nested line-only model (models/smooth_line.toml)
            return pm.Deterministic("gradient", a + s * (age_c - st.age_ref), dims="age_bin")
        pm.modelcontext(None).add_coord("gp_basis", np.arange(hsgp_size(bins.edges[0], bins.edges[-1])))
        f = _gp_departure(bins, self.priors, "gp", degree=1)
        return pm.Deterministic("gradient", a + s * (age_c - st.age_ref) + f, dims="age_bin")

    def _bin_intercepts_scatters(self, bins, pf):
        pr = self.priors
        t = np.asarray(bins.centers, dtype=float)
        basis = spline_basis(t, bins.edges[0], bins.edges[-1], self.structure.spline_log_spacing)
        model = pm.modelcontext(None)
        model.add_coord("spline_knot", np.arange(basis.shape[1]))
        b0, b_se = _spline_prefit(basis, pf.intercept, pf.intercept_se)
        s0, _ = _spline_prefit(basis, pf.scatter, np.full(t.size, 0.02))
        coef_b = prior_variable(
            pr.intercept, "intercept_spline", dims="spline_knot",
            transform=Standardize(b0, np.maximum(b_se, 1e-3)),
        )  # fmt: skip
        coef_s = prior_variable(
            pr.scatter, "scatter_spline", dims="spline_knot",
            transform=Standardize(np.log(np.maximum(s0, 0.01)), 1.0),
        )  # fmt: skip
        intercept = pm.Deterministic("intercept", pt.dot(basis, coef_b), dims="age_bin")
        scatter = pm.Deterministic("scatter", pt.dot(basis, coef_s), dims="age_bin")
        return intercept, scatter

    def curve(self, ages: np.ndarray) -> np.ndarray:
        """Posterior draws of the gradient curve [dex/kpc] at ``ages`` [Gyr], (draws, n) (:func:`gp_curve`)."""
        post = self._require_idata().posterior

        def flat(name):
            v = post[name].values
            return v.reshape(-1, *v.shape[2:])

        return gp_curve(
            np.asarray(ages, dtype=float),
            self.data.bins,
            intercept=flat("trend_intercept"),
            slope=flat("trend_slope"),
            amplitude=flat("gp_amplitude"),
            lengthscale=flat("gp_lengthscale"),
            z=flat("gp_z"),
            age_ref=self.structure.age_ref,
        )

    def band(self, ages: np.ndarray | None = None) -> pd.DataFrame:
        """Posterior mean and HDI of the smooth gradient curve at ``ages`` [Gyr].

        The model's own function of age (:func:`gp_curve`: the GP's basis
        evaluated at ``ages``, no interpolation); at a bin centre it is the
        bin's ``gradient``.
        Columns ``age``, ``mean``, ``hdi_lo``, ``hdi_hi`` [dex/kpc], as
        :func:`~.gradient.line_band` (default: 50 ages over the bins).
        """
        import arviz as az

        if ages is None:
            ages = np.linspace(self.data.bins.edges[0], self.data.bins.edges[-1], 50)
        ages = np.asarray(ages, dtype=float)
        if not self.structure.gradient_gp:
            return super().band(ages)  # the line alone
        curves = self.curve(ages)
        hdi = az.hdi(curves[None, :, :], hdi_prob=self.report.hdi_prob)
        return pd.DataFrame(
            {"age": ages, "mean": curves.mean(0), "hdi_lo": hdi[:, 0], "hdi_hi": hdi[:, 1]}
        )

    def max_departure(self) -> dict[str, float]:
        """Posterior of the largest departure of the curve from its line, max_k |f_k| [dex/kpc].

        Mean, sd and HDI (``report.hdi_prob``): an HDI well away from 0 is a
        feature detected (a dip, a V); its upper limit bounds any feature the
        data leave room for (features larger than it are ruled out).
        """
        post = self._require_idata().posterior
        if "gp_departure" not in post:  # the line-only model: no departure at all
            return {"mean": 0.0, "sd": 0.0, "hdi_lo": 0.0, "hdi_hi": 0.0}
        return _summary_stats(np.abs(post["gp_departure"].values).max(axis=-1), self.report.hdi_prob)

    def amplitude(self) -> dict[str, float]:
        """Posterior of the GP amplitude eta [dex/kpc]: mean, sd, HDI (near 0: the line suffices)."""
        return _summary_stats(
            self._require_idata().posterior["gp_amplitude"].values, self.report.hdi_prob
        )
