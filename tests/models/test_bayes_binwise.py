"""The per-bin numpyro route of BinGradientModel: same density as the PyMC model, same posterior."""

import warnings

import numpy as np
import pytensor.tensor as pt
import pytest
from bayes_helpers import FAST

from mgar_bayes.models import (
    BinGradientModel,
    PriorConfig,
    SamplerConfig,
    available_specs,
    load_model_spec,
)

pytest.importorskip("numpyro")

from mgar_bayes.models._binwise import (  # noqa: E402
    _device_arrays,
    bin_blocks,
    bin_density,
    bin_log_density,
    chunk_edges,
    sample_bins_numpyro,
)
from mgar_bayes.models.gradient import prefit  # noqa: E402
from mgar_bayes.models.likelihood import edge_stars  # noqa: E402

NUMPYRO = SamplerConfig(
    backend="numpyro", draws=300, tune=300, chains=2, target_accept=0.9, log_likelihood=True
)


@pytest.fixture(scope="module")
def edgy(sim3):
    """sim3 with 15 stars moved close to R_g = 0 and 20 kpc, so every star group is present."""
    stars, truth = sim3
    stars = stars.copy()
    rows = stars.index[stars["population"] == "thin"][::40][:15]
    stars.loc[rows[:8], "R_g"] = np.linspace(0.3, 1.5, 8)
    stars.loc[rows[8:], "R_g"] = np.linspace(18.6, 19.6, len(rows) - 8)
    return stars, truth


def _built(stars, bins, treatment, spec=None):
    m = BinGradientModel(
        spec, priors=None if spec else PriorConfig(rg_treatment=treatment), sampler=NUMPYRO
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        m.build_model(stars, bins, population="thin")
    return m


def _points(m, rng, n=2):
    """Random points of the PyMC model and the same points as per-bin sampler parameters.

    Both samplers move in the same coordinates (standardised gradient and
    intercept, sigma = |s0 + sse theta_2|, unit-scale latent R_g); padded
    slots of the per-bin arrays are held at 0.
    """
    data, pr = m.data, m.priors
    used, local = m._used_bins(data)
    blocks = bin_blocks(data, pr, local, prefit(data, pr.r_ref), used)
    names = {v.name.split("_")[0]: v.name for v in m.model.value_vars}
    edge = edge_stars(data.rg, data.rg_err, pr.rg_range)
    latent_star = np.arange(data.n) if pr.rg_treatment == "sample" else np.flatnonzero(edge)
    out = []
    for _ in range(n):
        theta = rng.normal(0.0, 1.0, size=(blocks.n_bins, 3))
        raw = rng.normal(0.0, 1.0, size=data.n)
        point = {
            names["gradient"]: theta[:, 0],
            names["intercept"]: theta[:, 1],
            names["scatter"]: theta[:, 2],
        }
        if "rg" in names:
            point[names["rg"]] = raw[latent_star]
        per_bin = []
        for k in range(blocks.n_bins):
            p = {"theta": theta[k]}
            for name in blocks.latent:
                star = blocks.groups[name]["star"][k]
                p[f"z_{name}"] = np.where(star >= 0, raw[np.maximum(star, 0)], 0.0)
            per_bin.append(p)
        out.append((point, per_bin))
    return blocks, out


def _bin(d, k):
    """Bin k's slice of the sampler's data arrays."""
    return {
        key: ({a: b[k] for a, b in v.items()} if isinstance(v, dict) else v[k])
        for key, v in d.items()
    }


def _check_density(m, seed=5):
    """The per-bin route's density (summed over bins) is the PyMC model's logp up to a constant; same gradient."""
    import jax

    from mgar_bayes.models._math import jax_ops

    jax_ops()  # double precision before anything is traced
    blocks, points = _points(m, np.random.default_rng(seed), n=3)
    bin_density(blocks, m.priors)  # compiled outside any JAX trace, as the sampler does
    d = _device_arrays(blocks)
    logp = m.model.compile_logp()
    density = jax.jit(lambda p, dk: bin_log_density(p, dk, blocks, m.priors))
    grad = jax.jit(jax.grad(lambda p, dk: bin_log_density(p, dk, blocks, m.priors)))

    def total(per_bin):
        return sum(float(density(p, _bin(d, i))) for i, p in enumerate(per_bin))

    (pa, ba), (pb, bb), (pc, bc) = points
    np.testing.assert_allclose(total(ba) - total(bb), logp(pa) - logp(pb), rtol=1e-9, atol=1e-6)
    np.testing.assert_allclose(total(bc) - total(bb), logp(pc) - logp(pb), rtol=1e-9, atol=1e-6)
    # sigma = |w|: the density is the same at the mirror point theta_2 -> -2 s0 / sse - theta_2
    mirror = -2.0 * blocks.loc["s0"] / blocks.loc["sse"]
    mirrored = [
        {**p, "theta": p["theta"] * np.array([1.0, 1.0, -1.0]) + np.array([0.0, 0.0, mirror[k]])}
        for k, p in enumerate(ba)
    ]
    np.testing.assert_allclose(total(mirrored), total(ba), rtol=1e-12)

    value_vars = m.model.value_vars
    dlogp = m.model.compile_fn(
        pt.grad(m.model.logp(), value_vars), inputs=value_vars, on_unused_input="ignore"
    )
    want = dict(zip([v.name for v in value_vars], dlogp(pa), strict=True))
    names = {v.name.split("_")[0]: v.name for v in value_vars}
    got_theta = np.zeros((blocks.n_bins, 3))
    got_latent = np.zeros(m.data.n)
    for k, p in enumerate(ba):
        gk = grad(p, _bin(d, k))
        got_theta[k] = np.asarray(gk["theta"])
        for name in blocks.latent:
            star = blocks.groups[name]["star"][k]
            got_latent[star[star >= 0]] = np.asarray(gk[f"z_{name}"])[star >= 0]
    for j, var in enumerate(("gradient", "intercept", "scatter")):
        np.testing.assert_allclose(
            got_theta[:, j], want[names[var]], rtol=1e-8, atol=1e-8, err_msg=var
        )
    if "rg" in names:
        pr = m.priors
        latent = (
            np.arange(m.data.n)
            if pr.rg_treatment == "sample"
            else np.flatnonzero(edge_stars(m.data.rg, m.data.rg_err, pr.rg_range))
        )
        np.testing.assert_allclose(got_latent[latent], want[names["rg"]], rtol=1e-8, atol=1e-8)
    return blocks


PER_BIN_SPECS = [s for s in available_specs() if load_model_spec(s).builder == "bin_gradient"]
#: the fast treatment runs by default; every other spec (latent or integrated R_g, other prior sets) is slow
_DEFAULT_SPECS = {"marginal"}


@pytest.mark.parametrize(
    "name",
    [s if s in _DEFAULT_SPECS else pytest.param(s, marks=pytest.mark.slow) for s in PER_BIN_SPECS],
)
def test_sampled_density_is_the_pymc_models_for_every_spec(edgy, bins3, name):
    """For every per-bin spec in models/: the density NUTS samples per bin is the PyMC model's, value and gradient."""
    stars, _ = edgy
    spec = load_model_spec(name)
    assert spec.sampler.backend == "numpyro"  # the shipped specs sample this route
    m = _built(stars, bins3, None, spec)
    blocks = _check_density(m)
    if spec.structure.rg_treatment != "gaussian":
        assert "edge" in blocks.groups and blocks.groups["edge"]["mask"].sum() >= 15


def test_a_prior_family_changed_in_a_spec_changes_the_sampled_density(edgy, bins3, tmp_path):
    """One TOML line (scatter ~ Exponential, gradient ~ StudentT) reaches the PyMC model and the per-bin route alike."""
    path = tmp_path / "families.toml"
    path.write_text(
        'extends = "marginal"\n[priors]\nscatter = { dist = "Exponential", lam = 10.0 }\n'
        'gradient = { dist = "StudentT", nu = 3.0, mu = 0.0, sigma = 0.1 }\n'
    )
    spec = load_model_spec(path)
    stars, _ = edgy
    m = _built(stars, bins3, None, spec)
    assert (
        m.model["scatter"].owner.op.name == "exponential"
        and m.model["gradient"].owner.op.name == "t"
    )
    _check_density(m, seed=9)
    # and the density differs from marginal's own at the same point (the prior is not ignored)
    ref = _built(stars, bins3, None, load_model_spec("marginal"))
    blocks, ((_, pts),) = _points(m, np.random.default_rng(1), n=1)
    d = _device_arrays(blocks)
    a = sum(float(bin_log_density(p, _bin(d, k), blocks, m.priors)) for k, p in enumerate(pts))
    b = sum(float(bin_log_density(p, _bin(d, k), blocks, ref.priors)) for k, p in enumerate(pts))
    assert abs(a - b) > 1.0


def test_kernel_is_one_node_with_its_jax_implementation():
    """PyTensor (C and Numba) and JAX evaluate the same truncated-normal node; JAX runs the fused kernel."""
    import jax
    from pymc.sampling.jax import get_jaxified_graph
    from pytensor.link.jax.dispatch import jax_funcify

    from mgar_bayes.models._math import (
        PT,
        TruncNormLogp,
        _truncnorm_logpdf_inv,
        jax_ops,
        truncnorm_logpdf_var_sum,
    )

    rng = np.random.default_rng(0)
    n = 500
    x, mu, var = rng.uniform(-0.9, 0.4, n), rng.normal(-0.2, 0.5, n), rng.uniform(0.001, 0.2, n)
    mu[:4] = [40.0, -40.0, 5.0, -8.0]  # beyond 37 sigma: the asymptotic normaliser
    mask = rng.random(n) > 0.3
    X, MU, V, MK = pt.dvector(), pt.dvector(), pt.dvector(), pt.vector(dtype="bool")
    node = truncnorm_logpdf_var_sum(X, MU, V, -1.0, 0.5, MK)
    assert isinstance(node.owner.op, TruncNormLogp)
    inv = 1.0 / pt.sqrt(V)
    formula = pt.switch(
        MK, _truncnorm_logpdf_inv(X, MU, inv, pt.log(inv), -1.0, 0.5, PT), 0.0
    ).sum()
    outs = [node, *pt.grad(node, [X, MU, V]), formula, *pt.grad(formula, [X, MU, V])]
    want = pytensor_fn([X, MU, V, MK], outs)(x, mu, var, mask)
    for mode in ("FAST_RUN", "NUMBA"):
        got = pytensor_fn([X, MU, V, MK], outs[:4], mode=mode)(x, mu, var, mask)
        for a, b in zip(got, want[4:], strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-9, err_msg=mode)
    jax_ops()
    impl = jax_funcify.dispatch(type(node.owner.op))
    assert impl.__name__ == "summed"  # the registered fused kernel, not the generic OpFromGraph one
    fj = get_jaxified_graph([X, MU, V, MK], [node])
    np.testing.assert_allclose(float(fj(x, mu, var, mask)[0]), want[4], rtol=1e-12)
    g = jax.grad(lambda m_: fj(x, m_, var, mask)[0])(mu)
    np.testing.assert_allclose(np.asarray(g), want[6], rtol=1e-10, atol=1e-9)


def pytensor_fn(inputs, outputs, mode=None):
    import pytensor

    return pytensor.function(inputs, outputs, mode=mode)


def test_per_bin_fit_agrees_with_pymc_backend(sim3, bins3, latent_fit):
    """Same latent-R_g model, numpyro per bin vs PyMC's joint NUTS: gradients within MC error."""
    stars, truth = sim3
    m = BinGradientModel(priors=PriorConfig(rg_treatment="sample"), sampler=NUMPYRO)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        idata = m.fit(stars, bins3, population="thin", seed=3)
    assert idata.attrs["sampling"] == "per bin"
    ref = latent_fit[0].gradient_table()
    got = m.gradient_table()
    diff = (got["gradient"] - ref["gradient"]) / np.hypot(got["gradient_err"], ref["gradient_err"])
    assert (np.abs(diff) < 0.5).all(), diff
    np.testing.assert_allclose(got["gradient_err"], ref["gradient_err"], rtol=0.25)
    # 2 x 300 draws: R-hat's own noise is ~0.01, so the 1.01 flag is not the test here
    assert (got["r_hat"] < 1.03).all() and (got["divergences"] == 0).all()
    ss = idata.sample_stats
    assert ss["diverging"].dims == ("chain", "draw")
    assert ss["n_steps_bin"].dims == ("chain", "draw", "age_bin")
    assert idata.log_likelihood["feh"].shape == (2, 300, m.data.n)


@pytest.mark.parametrize("treatment", ["integrate", "gaussian"])
def test_per_bin_log_likelihood_and_latent_layout(edgy, bins3, treatment):
    """Stored rg_raw and pointwise log-likelihood sit on the right stars (checked against PyMC).

    With a latent R_g (``integrate``: the edge stars) the log-likelihood is
    recorded at every draw inside the sampler; without (``gaussian``) it is
    computed after sampling from the line's draws.
    """
    stars, _ = edgy
    spec = SamplerConfig(
        backend="numpyro", draws=20, tune=50, chains=2, keep_latent=True, log_likelihood=True
    )
    m = BinGradientModel(priors=PriorConfig(rg_treatment=treatment), sampler=spec)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        idata = m.fit(stars, bins3, population="thin", seed=1)
    post = idata.posterior
    if treatment == "integrate":
        assert post["rg_raw"].dims == ("chain", "draw", "edge_star")
    else:
        assert "rg_raw" not in post
    assert idata.log_likelihood["feh"].dims == ("chain", "draw", "star")
    model = m.model
    pointwise = model.compile_fn(model.logp(model.observed_RVs, sum=False)[0])
    fwd = {v.name: model.rvs_to_transforms[model.values_to_rvs[v]] for v in model.value_vars}
    for c, i in [(0, 0), (1, 19)]:
        point = {}
        for v in model.value_vars:
            rv = model.values_to_rvs[v]
            x = post[rv.name].values[c, i]
            tr = fwd[v.name]
            point[v.name] = (
                x
                if tr is None
                else pt.as_tensor_variable(
                    tr.forward(pt.as_tensor_variable(x), *rv.owner.inputs)
                ).eval()
            )
        np.testing.assert_allclose(
            idata.log_likelihood["feh"].values[c, i], pointwise(point), rtol=1e-8, atol=1e-8
        )


def test_per_bin_same_seed_same_draws(sim3, bins3):
    stars, _ = sim3
    spec = SamplerConfig(backend="numpyro", draws=30, tune=30, chains=2)
    runs = []
    for _ in range(2):
        m = BinGradientModel(priors=PriorConfig(rg_treatment="gaussian"), sampler=spec)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            runs.append(m.fit(stars, bins3, population="thin", seed=7).posterior["gradient"].values)
    np.testing.assert_array_equal(runs[0], runs[1])


def test_pymc_backend_still_joint(latent_fit):
    """Only the numpyro backend takes the per-bin route; FAST (pymc) fits the joint model."""
    assert latent_fit[0].sampler.backend == FAST.backend == "pymc"
    assert "sampling" not in latent_fit[0].idata.attrs


@pytest.mark.parametrize("w_true", [0.0, 0.02, 0.07])
def test_scatter_prefit_recovers_the_model_scatter(w_true):
    """The sampler's scatter coordinate is centred within ~2 of its own sd of the truth, 1/P inflation included."""
    from mgar_bayes.models._binwise import _scatter_prefit

    rng = np.random.default_rng(11)
    n = 3000
    p_own = rng.uniform(0.2, 1.0, n)
    feh_err = rng.uniform(0.03, 0.08, n)
    rg = rng.uniform(4.0, 16.0, n)
    rg_err = np.full(n, 0.3)
    g, b = -0.06, -0.1
    # R_g,obs scatters about the true R_g, so its error enters the residuals as nabla dR_g
    sd = np.sqrt((w_true**2 + feh_err**2) / p_own**2)
    feh = b + g * (rg + rg_err * rng.normal(size=n) - 8.27) + sd * rng.normal(size=n)
    group = {
        "feh": feh[None],
        "rg": rg[None],
        "rg_err": rg_err[None],
        "mask": np.ones((1, n), bool),
        "ip2": p_own[None] ** -2,
        "e2_ip2": (feh_err / p_own)[None] ** 2,
    }
    s0, sse = _scatter_prefit({"all": group}, {"g0": np.array([g]), "b0": np.array([b])}, 8.27)
    assert sse[0] > 0
    assert abs(s0[0] - w_true) < 2.5 * sse[0], (s0, sse)
    if w_true > 0:
        assert sse[0] < 0.3 * w_true


def test_chunk_edges_split_warm_up_and_draws():
    np.testing.assert_array_equal(chunk_edges(500, 1000, 1), [0, 1500])
    edges = chunk_edges(500, 1000, 20)
    assert edges[0] == 0 and edges[-1] == 1500 and 500 in edges
    assert (np.diff(edges) > 0).all() and len(edges) - 1 == 20
    assert np.diff(edges).max() < 1.2 * np.diff(edges).min()  # the bar's updates come evenly
    for tune, draws in [(0, 7), (7, 0), (3, 100), (61, 47)]:
        edges = chunk_edges(tune, draws, 20)
        assert edges[0] == 0 and edges[-1] == tune + draws and (np.diff(edges) > 0).all()
        assert tune in edges


def test_per_bin_draws_do_not_depend_on_chunking(edgy, bins3):
    """One call or uneven chunks (as with a progress bar): the same draws, stats, latent R_g and log-likelihood, bit for bit.

    ``integrate`` keeps the edge stars' latent R_g and records the
    log-likelihood inside the loop: buffers carried (donated) from chunk to
    chunk, put in star order at the end.
    """
    stars, _ = edgy
    spec = SamplerConfig(
        backend="numpyro", draws=23, tune=31, chains=2, keep_latent=True, log_likelihood=True
    )
    m = BinGradientModel(priors=PriorConfig(rg_treatment="integrate"), sampler=spec)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m.build_model(stars, bins3, population="thin")
    data, pr = m.data, m.priors
    used, local = m._used_bins(data)
    blocks = bin_blocks(data, pr, local, prefit(data, pr.r_ref), used)
    runs = [sample_bins_numpyro(m.model, blocks, pr, spec, seed=4, n_chunks=n) for n in (1, 7)]
    assert runs[0].posterior["rg_raw"].dims == ("chain", "draw", "edge_star")
    for group in ("posterior", "sample_stats", "log_likelihood"):
        for name, values in getattr(runs[0], group).data_vars.items():
            np.testing.assert_array_equal(
                getattr(runs[1], group)[name].values, values.values, err_msg=name
            )
