"""ESS/s of the gradient per sampler backend and model (speed is reported here, never asserted in tests).

Usage::

    .venv/bin/python benchmarks/sampling.py                       # 1,000 and 5,000 stars per bin
    .venv/bin/python benchmarks/sampling.py --n 1000 --backends pymc numpyro --models c25

For each (stars per bin, model, backend) one simulated bin (true nabla =
-0.05 dex/kpc, sigma = 0.08 dex, 10% ages) is fitted with 2 chains; the table
gives the wall time of the whole fit (compilation, tuning, draws, log-likelihood),
the bulk ESS of nabla, ESS per second, and the speed-up over the reference in
the same run: C25 Appendix A written the plain way (``pm.TruncatedNormal`` for
[Fe/H] and for one latent R_g per star, R_g not centred) and sampled by PyMC's
default NUTS. Models: ``c25`` (one latent R_g per star), ``c25_integrated`` (R_g
integrated out, same posterior), ``marginal`` (Gaussian approximation),
``hierarchical``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings

# numpyro runs chains in parallel only on several host devices: set before jax is imported
os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=2")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from mgar_bayes.binning import AgeBins  # noqa: E402
from mgar_bayes.models import (  # noqa: E402
    BinGradientModel,
    HierarchicalMGARModel,
    PriorConfig,
    SamplerConfig,
    diagnostics_table,
    simulate_population,
)

MODELS = {
    "c25": (BinGradientModel, PriorConfig()),
    "c25_integrated": (BinGradientModel, PriorConfig(rg_treatment="integrate")),
    "marginal": (BinGradientModel, PriorConfig(rg_treatment="gaussian")),
    "hierarchical": (HierarchicalMGARModel, PriorConfig(age_treatment="mixture", age_ref=5.0)),
}


def _simulate(model: str, n: int, seed: int):
    # hierarchical: three bins sharing n stars each
    bins = AgeBins((2.0, 4.0, 6.0, 8.0)) if model == "hierarchical" else AgeBins((4.0, 6.0))
    stars, truth = simulate_population(bins, n_per_bin=n, slope=0.005, age_ref=5.0, age_rel_err=0.1, seed=seed)
    return bins, stars, truth


def run_reference(n: int, draws: int, tune: int, seed: int, target_accept: float) -> dict:
    """C25 Appendix A as a user would first write it, with PyMC's default sampler."""
    import pymc as pm

    from mgar_bayes.binning import age_bin_probability

    bins, stars, truth = _simulate("c25", n, seed)
    sel = bins.index(stars["age"].to_numpy()) == 0
    s = stars[sel]
    p = age_bin_probability(s["age"].to_numpy(), s["age_err"].to_numpy(), bins.lo, bins.hi)[:, 0]
    with pm.Model():
        grad = pm.Normal("gradient", 0.0, 0.5)
        b = pm.Normal("intercept", 0.0, 0.5)
        sigma = pm.HalfNormal("scatter", 0.4)
        rg = pm.TruncatedNormal("rg", mu=s["R_g"].to_numpy(), sigma=s["R_g_err"].to_numpy(), lower=0.0, upper=20.0)
        big_sigma = pm.math.sqrt(sigma**2 + s["feh_err"].to_numpy() ** 2) / np.clip(p, 1e-6, 1)
        pm.TruncatedNormal("feh", mu=grad * rg + b, sigma=big_sigma, lower=-1.0, upper=0.5, observed=s["feh"].to_numpy())
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            idata = pm.sample(draws=draws, tune=tune, chains=2, cores=2, random_seed=seed, progressbar=False,
                              target_accept=target_accept, compute_convergence_checks=False)
            pm.compute_log_likelihood(idata, progressbar=False)
        wall = time.perf_counter() - t0
    return _row(n, "reference", "pymc", wall, diagnostics_table(idata, ["gradient"]), truth)


def run_one(model: str, backend: str, n: int, draws: int, tune: int, seed: int, target_accept: float) -> dict:
    cls, priors = MODELS[model]
    bins, stars, truth = _simulate(model, n, seed)
    sampler = SamplerConfig(backend=backend, draws=draws, tune=tune, chains=2, cores=2, target_accept=target_accept)
    m = cls(priors=priors, sampler=sampler)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m.fit(stars, bins, population="thin", seed=seed)
    wall = time.perf_counter() - t0
    return _row(n, model, backend, wall, m.diagnostics(), truth)


def _row(n: int, model: str, backend: str, wall: float, diag: pd.DataFrame, truth) -> dict:
    """One table row from a fit's diagnostics table (its gradient rows; the first bin's values)."""
    g = diag.loc[[i for i in diag.index if i.split("[")[0] == "gradient"]]
    ess = float(g["ess_bulk"].min())
    return {
        "n_per_bin": n,
        "model": model,
        "backend": backend,
        "wall_s": round(wall, 1),
        "ess_bulk": round(ess),
        "ess_per_s": round(ess / wall, 2),
        "r_hat": round(float(g["r_hat"].max()), 3),
        "divergences": int(g["divergences"].iloc[0]),
        "gradient": round(float(g["mean"].iloc[0]), 4),
        "true": round(float(truth.gradient[0]), 4),
    }


def main(argv: list[str] | None = None) -> pd.DataFrame:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, nargs="+", default=[1000, 5000], help="stars per bin")
    p.add_argument("--models", nargs="+", default=["c25", "c25_integrated", "marginal"], choices=sorted(MODELS))
    p.add_argument("--no-reference", action="store_true", help="skip the plain-PyMC reference fit")
    p.add_argument("--backends", nargs="+", default=["pymc", "nutpie", "numpyro"])
    p.add_argument("--draws", type=int, default=1000)
    p.add_argument("--tune", type=int, default=1000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--target-accept", type=float, default=0.8, help="NUTS target acceptance of every fit (PyMC's default: 0.8)")
    a = p.parse_args(argv)
    rows = []
    for n in a.n:
        if not a.no_reference:
            rows.append(run_reference(n, a.draws, a.tune, a.seed, a.target_accept))
            print(rows[-1], file=sys.stderr, flush=True)
        for model in a.models:
            for backend in a.backends:
                try:
                    row = run_one(model, backend, n, a.draws, a.tune, a.seed, a.target_accept)
                except Exception as exc:  # report a backend that fails, keep going
                    row = {"n_per_bin": n, "model": model, "backend": backend, "error": f"{type(exc).__name__}: {exc}"[:80]}
                rows.append(row)
                print(row, file=sys.stderr, flush=True)
    table = pd.DataFrame(rows)
    if "ess_per_s" in table:
        base = table[table["backend"] == "pymc"].set_index(["n_per_bin", "model"])["ess_per_s"]
        ref = [base.get((n, m), float("nan")) for n, m in zip(table["n_per_bin"], table["model"], strict=True)]
        table["x_pymc_same_model"] = (table["ess_per_s"] / ref).round(2)
        plain = table[table["model"] == "reference"].set_index("n_per_bin")["ess_per_s"]
        table["x_reference"] = (table["ess_per_s"] / table["n_per_bin"].map(plain)).round(2)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(
            f"\n2 chains x {a.draws} draws (+{a.tune} tune), target_accept {a.target_accept}, "
            f"{os.cpu_count()} CPUs; wall time includes compilation"
        )
        print(table.to_string(index=False))
    return table


if __name__ == "__main__":
    main()
