"""ESS/s of the gradient per sampler backend and model (speed is reported here, never asserted in tests).

Usage::

    .venv/bin/python benchmarks/sampling.py                       # 1,000 and 5,000 stars per bin
    .venv/bin/python benchmarks/sampling.py --n 1000 --backends pymc numpyro --models c25

For each (stars per bin, model, backend) one simulated bin (true nabla =
-0.05 dex/kpc, sigma = 0.08 dex, 10% ages) is fitted with 2 chains; the table
gives the wall time of the whole fit (compilation, tuning, draws, log-likelihood),
the bulk ESS of nabla, ESS per second, and the speed-up over PyMC's default
NUTS in the same run.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings

# numpyro runs chains in parallel only on several host devices: set before jax is imported
os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=2")

import pandas as pd  # noqa: E402

from mgar_bayes.binning import AgeBins  # noqa: E402
from mgar_bayes.models import (  # noqa: E402
    BinGradientModel,
    HierarchicalMGARModel,
    PriorConfig,
    SamplerConfig,
    simulate_population,
)

MODELS = {
    "c25": (BinGradientModel, PriorConfig()),
    "marginal": (BinGradientModel, PriorConfig(marginalize_rg=True)),
    "hierarchical": (HierarchicalMGARModel, PriorConfig(age_treatment="mixture", age_ref=5.0)),
}


def run_one(model: str, backend: str, n: int, draws: int, tune: int, seed: int) -> dict:
    cls, priors = MODELS[model]
    if model == "hierarchical":  # three bins sharing n stars each
        bins = AgeBins((2.0, 4.0, 6.0, 8.0))
    else:
        bins = AgeBins((4.0, 6.0))
    stars, truth = simulate_population(bins, n_per_bin=n, slope=0.005, age_ref=5.0, age_rel_err=0.1, seed=seed)
    m = cls(priors=priors, sampler=SamplerConfig(backend=backend, draws=draws, tune=tune, chains=2, cores=2))
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m.fit(stars, bins, population="thin", seed=seed)
    wall = time.perf_counter() - t0
    d = m.diagnostics()
    g = d.loc[[i for i in d.index if i.startswith("gradient[")]]
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
    p.add_argument("--models", nargs="+", default=["c25", "marginal"], choices=sorted(MODELS))
    p.add_argument("--backends", nargs="+", default=["pymc", "nutpie", "numpyro"])
    p.add_argument("--draws", type=int, default=1000)
    p.add_argument("--tune", type=int, default=1000)
    p.add_argument("--seed", type=int, default=1)
    a = p.parse_args(argv)
    rows = []
    for n in a.n:
        for model in a.models:
            for backend in a.backends:
                try:
                    row = run_one(model, backend, n, a.draws, a.tune, a.seed)
                except Exception as exc:  # report a backend that fails, keep going
                    row = {"n_per_bin": n, "model": model, "backend": backend, "error": f"{type(exc).__name__}: {exc}"[:80]}
                rows.append(row)
                print(row, file=sys.stderr, flush=True)
    table = pd.DataFrame(rows)
    if "ess_per_s" in table:
        base = table[table["backend"] == "pymc"].set_index(["n_per_bin", "model"])["ess_per_s"]
        ref = [base.get((n, m), float("nan")) for n, m in zip(table["n_per_bin"], table["model"], strict=True)]
        table["speedup_vs_pymc"] = (table["ess_per_s"] / ref).round(2)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(f"\n2 chains x {a.draws} draws (+{a.tune} tune), {os.cpu_count()} CPUs; wall time includes compilation")
        print(table.to_string(index=False))
    return table


if __name__ == "__main__":
    main()
