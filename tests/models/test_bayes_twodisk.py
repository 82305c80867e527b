"""The two-disk mixture: inputs, its likelihood against a hand computation, membership, recovery (slow)."""

import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.special import logsumexp

from mgar_bayes.binning import AgeBins
from mgar_bayes.models import ModelInputError, builder_for, load_model_spec
from mgar_bayes.models.twodisk import FEH_PIVOT, TwoDiskModel, prepare_twodisk

BINS = AgeBins((1.0, 4.0, 7.0, 10.0))


def two_disks(n_thin=120, n_thick=80, seed=3) -> tuple[pd.DataFrame, np.ndarray]:
    """A small clean sample of two disks with known labels (thin: young, low alpha; thick: old, high alpha)."""
    rng = np.random.default_rng(seed)
    rows = []
    for disk, n, age_mu, g, b, c in (
        ("thin", n_thin, 4.0, -0.06, -0.05, 0.03),
        ("thick", n_thick, 8.5, 0.01, -0.4, 0.22),
    ):
        age_true = np.clip(rng.normal(age_mu, 2.0, n), 1.05, 9.95)
        rg = rng.uniform(5.0, 12.0, n)
        feh_true = b + g * (rg - 8.27) + rng.normal(0, 0.08, n)
        rows.append(pd.DataFrame({
            "source_id": np.arange(n) + (0 if disk == "thin" else 10_000),
            "disk": disk,
            "feh": feh_true + rng.normal(0, 0.03, n), "feh_err": 0.03,
            "afe": c - 0.08 * (feh_true - FEH_PIVOT) + rng.normal(0, 0.02, n) + rng.normal(0, 0.02, n),
            "afe_err": 0.02,
            "R_g": rg + rng.normal(0, 0.2, n), "R_g_err": 0.2,
            "age": age_true * (1 + rng.normal(0, 0.05, n)), "age_err": 0.05 * age_true,
            "Z_max": np.exp(rng.normal(np.log(0.3 if disk == "thin" else 1.0), 0.4, n)),
            "population": np.where(rng.random(n) < 0.5, disk, ""),
        }))  # fmt: skip
    table = pd.concat(rows, ignore_index=True)
    table = table[(table["age"] >= 1.0) & (table["age"] < 10.0) & table["feh"].between(-1.0, 0.5)]
    return table.reset_index(drop=True), table["disk"].to_numpy()


def spec(**sampler):
    s = load_model_spec("twodisk")
    return s.replace({"sampler": sampler}) if sampler else s


def test_spec_and_inputs_are_checked():
    s = spec()
    assert s.builder == "twodisk" and s.structure.age_treatment == "mixture"
    table, _ = two_disks()
    with pytest.raises(ModelInputError, match="afe"):
        prepare_twodisk(table.drop(columns=["afe"]), BINS, s.structure, use_zmax=False)
    bad = table.assign(afe_err=lambda d: d["afe_err"].where(d.index != 3, -1.0))
    with pytest.raises(ModelInputError, match="afe_err.*rows \\[3\\]"):
        prepare_twodisk(bad, BINS, s.structure, use_zmax=False)
    latent = s.replace({"structure": {"rg_treatment": "sample"}})
    with pytest.raises(ModelInputError, match="rg_treatment"):
        builder_for(latent).build_model(table, BINS, population="thin")
    with pytest.raises(ModelInputError, match="halo"):
        builder_for(s).build_model(table, BINS, population="halo")


def test_likelihood_equals_a_hand_computation():
    """The model's star term at its start equals sum_i log sum_{d,k} w_ik pi_dk p(feh) p(afe), done with SciPy."""
    table, _ = two_disks(40, 30)
    b = builder_for(spec())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = b.build_model(table, BINS, population="thin")
    # a point away from the start, the same for the model and the hand computation
    inputs = model.value_vars
    rng = np.random.default_rng(0)
    point = {
        v.name: val + rng.uniform(-0.5, 0.5, np.shape(val))
        for v, val in zip(inputs, [model.initial_point()[v.name] for v in inputs], strict=True)
    }
    star_graph = model.replace_rvs_by_values([model.potentials[0]])[0]
    outs = model.compile_fn(
        [star_graph, *model.unobserved_value_vars], inputs=inputs, point_fn=False
    )(*[point[v.name] for v in inputs])
    star_term = float(outs[0])
    v = {var.name: val for var, val in zip(model.unobserved_value_vars, outs[1:], strict=True)}
    np.testing.assert_allclose(v["afe_at_pivot"], [v["afe_offset"], v["afe_offset"] + v["afe_gap"]])
    line = v["trend_intercept"][:, None] + v["trend_slope"][:, None] * (
        BINS.centers[None, :] - 6.625
    )
    grad = line + v["trend_scatter"][:, None] * v["gradient_offset"]
    d = b.data
    sd = d.stars
    w = sd.prob / sd.prob.sum(axis=1, keepdims=True)
    total = 0.0
    for i in range(sd.n):
        terms = []
        for j in range(2):
            pi = v["thin_fraction"] if j == 0 else 1.0 - v["thin_fraction"]
            chem = stats.norm.logpdf(
                d.afe[i], v["afe_at_pivot"][j] + v["afe_slope"][j] * (sd.feh[i] - FEH_PIVOT),
                np.hypot(v["afe_scatter"][j], d.afe_err[i]),
            )  # fmt: skip
            for k in range(BINS.n_bins):
                if w[i, k] < 1e-9:
                    continue
                mu = v["intercept"][j, k] + grad[j, k] * (sd.rg[i] - 8.27)
                sig = np.sqrt(
                    v["scatter"][j, k] ** 2 + sd.feh_err[i] ** 2 + (grad[j, k] * sd.rg_err[i]) ** 2
                )
                feh = stats.truncnorm.logpdf(
                    sd.feh[i], (-1.0 - mu) / sig, (0.5 - mu) / sig, mu, sig
                )
                terms.append(np.log(w[i, k]) + np.log(pi[k]) + feh + chem)
        total += logsumexp(terms)
    assert star_term == pytest.approx(total, rel=1e-8)


@pytest.mark.slow
def test_recovers_both_disks_and_calibrated_membership():
    """On two simulated disks with known labels: both MGAR lines and the memberships."""
    table, disk = two_disks(700, 500, seed=11)
    b = TwoDiskModel(spec(draws=500, tune=700, chains=2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        b.fit(table, BINS, population="thin", seed=2)
    thin = b.flattening_rate()
    assert b.idata.attrs["divergences"] == 0
    assert abs(b.mean_gradient()["mean"] - (-0.06)) < 3 * b.mean_gradient()["sd"] + 0.005
    assert abs(thin["mean"]) < 3 * thin["sd"] + 0.003  # the simulated thin disk has a flat MGAR
    m = b.membership()
    truth = pd.Series(disk, index=table["source_id"].astype(str))
    is_thin = truth.loc[m["source_id"]].to_numpy() == "thin"
    # calibrated: in bins of p_thin, the thin fraction matches the mean p_thin
    bins = pd.cut(m["p_thin"], [0, 0.1, 0.9, 1.0], include_lowest=True)
    for _, grp in pd.DataFrame({"p": m["p_thin"], "thin": is_thin}).groupby(bins, observed=True):
        if len(grp) >= 20:
            assert abs(grp["thin"].mean() - grp["p"].mean()) < 0.15
    assert ((m["p_thin"] > 0.5) == is_thin).mean() > 0.95


def test_two_disk_simulator_draws_what_it_is_given():
    """simulate_two_disks: thin fractions by true bin, the two [alpha/Fe] sequences and each disk's
    gradients come back from its stars (by the true labels) within their sampling errors."""
    from mgar_bayes.models import simulate_two_disks

    grad = np.array([[-0.07, -0.06, -0.05], [0.0, 0.01, 0.02]])
    stars, truth = simulate_two_disks(
        BINS, n_per_bin=4000, gradient=grad, intercept=[[-0.05], [-0.3]], scatter=[[0.05], [0.08]],
        thin_fraction=[0.8, 0.5, 0.2], afe_at_pivot=(0.03, 0.22), afe_slope=(-0.08, -0.05),
        afe_scatter=(0.02, 0.03), age_rel_err=0.1, seed=4,
    )  # fmt: skip
    np.testing.assert_array_equal(truth.gradient, grad)
    assert set(stars["disk"]) == {"thin", "thick"} and (stars["population"] == "").all()
    assert stars["feh"].between(-1.0, 0.5).all()
    for k, f in enumerate([0.8, 0.5, 0.2]):
        in_bin = stars["true_bin"] == k
        assert abs((stars.loc[in_bin, "disk"] == "thin").mean() - f) < 0.03
    for d, disk in enumerate(("thin", "thick")):
        s = stars[stars["disk"] == disk]
        slope, icpt = np.polyfit(s["feh"] - FEH_PIVOT, s["afe"], 1)
        assert abs(icpt - truth.afe_at_pivot[d]) < 0.005 and abs(slope - truth.afe_slope[d]) < 0.01
        for k in range(BINS.n_bins):
            sk = s[(s["true_bin"] == k) & s["feh"].between(-0.8, 0.3)]  # away from the [Fe/H] window's edges
            g = np.polyfit(sk["true_R_g"] - 8.27, sk["feh"], 1)[0]
            assert abs(g - grad[d, k]) < 0.006
    with pytest.raises(ValueError, match="thin_fraction"):
        simulate_two_disks(BINS, thin_fraction=1.5)


@pytest.mark.slow
def test_on_the_simulated_milky_way_both_disks_and_memberships_are_recovered(small_mock, small_run):
    """The whole clean sample of the simulated Milky Way (a seeded draw of 3,000 stars, about two
    thirds thin, a third thick; C25's selection keeps a third of them): both disks' flattening
    rates and the thick disk's mean gradient within 2 posterior sd of the recipe's truth, posterior
    sds below those of the hierarchical fits of C25's pure samples of the same stars, and
    memberships calibrated (the truly thin fraction within 0.1 of the mean p_thin in every p_thin
    bin of >= 50 stars). benchmarks/twodisk_recovery.py prints the same on 6,000 stars."""
    stars = small_run.stars.merge(small_mock.truth_stars[["source_id", "component"]], on="source_id")
    sub = stars.sample(3000, random_state=1).sort_values("source_id").reset_index(drop=True)
    bins = small_run.bins
    sampler = {"draws": 400, "tune": 400, "chains": 2}
    truth = small_mock.truth
    fits, pure = {}, {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for disk in ("thin", "thick"):
            fits[disk] = TwoDiskModel(spec(**sampler))
            fits[disk].fit(sub, bins, population=disk, seed=1)
            pure[disk] = builder_for(load_model_spec("hierarchical").replace({"sampler": sampler}))
            pure[disk].fit(sub[sub["population"] == disk], bins, population=disk, seed=1)
    assert fits["thin"].idata.attrs["divergences"] == 0
    for disk in ("thin", "thick"):
        t = truth[truth["population"] == disk]
        rate_true = np.polyfit(t["age_center"], t["gradient_analytic"], 1)[0]
        rate, rate_pure = fits[disk].flattening_rate(), pure[disk].flattening_rate()
        print(disk, "rate", rate, "pure", rate_pure, "truth", rate_true)
        assert abs(rate["mean"] - rate_true) < 2 * rate["sd"]
        assert rate["sd"] < rate_pure["sd"]
    t = truth[truth["population"] == "thick"]
    mean, mean_pure = fits["thick"].mean_gradient(), pure["thick"].mean_gradient()
    print("thick mean gradient", mean, "pure", mean_pure, "truth", t["gradient_analytic"].mean())
    assert abs(mean["mean"] - t["gradient_analytic"].mean()) < 2 * mean["sd"]
    assert mean["sd"] < mean_pure["sd"]
    m = fits["thin"].membership()
    comp = sub.set_index(sub["source_id"].astype(str))["component"]
    is_thin = comp.loc[m["source_id"].astype(str)].to_numpy() == "thin"
    cut = pd.cut(m["p_thin"], np.linspace(0, 1, 11), include_lowest=True)
    rel = pd.DataFrame({"p": m["p_thin"].to_numpy(), "thin": is_thin}).groupby(cut, observed=True).agg(
        n=("p", "size"), p=("p", "mean"), thin=("thin", "mean")
    )
    print(rel)
    assert (rel.loc[rel["n"] >= 50, "thin"] - rel.loc[rel["n"] >= 50, "p"]).abs().max() < 0.1
