"""Laplace route against NUTS at C25 size: per-bin agreement, Pareto k-hat and wall time, side by side.

Usage::

    .venv/bin/python benchmarks/laplace.py                       # marginal, both populations
    .venv/bin/python benchmarks/laplace.py --models marginal c25_integrated c25
    .venv/bin/python benchmarks/laplace.py --pymc-extras        # also pymc-extras' fit_laplace (if installed)

The catalogue is ``benchmarks/c25_size.py``'s (18,317 thin + 24,211 thick
simulated stars, nine C25 age bins each). Each spec is fitted to each
population twice with the same seed: as the spec says (NUTS, its own
backend and settings) and with ``sampler.method = "laplace"`` (the same
number of draws). Per bin the table gives ``dmean_sd`` = |mean_laplace -
mean_nuts| / sd_nuts and ``sd_ratio`` = sd_laplace / sd_nuts of the gradient
(target: dmean_sd <= 0.1 and sd_ratio within 0.1 of 1), the Pareto k-hat of
the bin's importance ratios, whether it fell back to NUTS, and
(mean - truth) / sd of both routes. The NUTS means carry Monte-Carlo error
too (sd / sqrt(ESS), ~0.03 sd at 1,000-2,000 effective draws), so a
dmean_sd of a few hundredths is what two exact routes would show. Wall times
are per population and include compilation; the speed-up is NUTS / Laplace
in the same run. With ``--pymc-extras`` the wall time of
``pymc_extras.inference.fit_laplace`` (its BFGS mode and dense Hessian, no
importance-sampling check) on the same PyMC model is printed beside it
(NaN for a model with a latent R_g per star, whose dense Hessian is out of
reach).
Figures are reported here, never asserted in tests.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from pathlib import Path

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=2")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from c25_size import POPULATIONS, simulate  # noqa: E402

from mgar_bayes.binning import AgeBins  # noqa: E402
from mgar_bayes.models import builder_for, load_model_spec  # noqa: E402


def _fit(spec, stars, bins, pop, seed):
    m = builder_for(spec)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m.fit(stars, bins, population=pop, seed=seed)
    return m, time.perf_counter() - t0


def _pymc_extras_time(spec, stars, bins, pop, seed) -> float:
    from pymc_extras.inference import fit_laplace

    m = builder_for(spec)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = m.build_model(stars, bins, population=pop)
        n_dim = sum(int(np.size(v)) for v in model.initial_point().values())
        if n_dim > 200:  # latent R_g per star: its dense Hessian is out of reach
            return float("nan")
        t0 = time.perf_counter()
        fit_laplace(model=model, draws=int(spec.sampler.draws) * int(spec.sampler.chains), random_seed=seed,
                    progressbar=False)  # fmt: skip
    return time.perf_counter() - t0


def run(model: str, stars, truth, bins, seed: int, draws: int | None, pymc_extras: bool):
    spec = load_model_spec(model)
    if draws is not None:
        spec = spec.replace({"sampler": {"draws": draws}})
    bin_rows, pop_rows = [], []
    for pop in POPULATIONS:
        nuts, t_nuts = _fit(spec.replace({"sampler": {"method": "nuts"}}), stars, bins, pop, seed)
        lap, t_lap = _fit(spec.replace({"sampler": {"method": "laplace"}}), stars, bins, pop, seed)
        tn, tl = nuts.gradient_table(), lap.gradient_table()
        k = nuts._bin_indices()
        ss = lap.idata.sample_stats
        khat = ss["pareto_k"].values
        fallback = ss["nuts_fallback"].values.astype(bool)
        d = (
            np.abs(tl["gradient"].to_numpy() - tn["gradient"].to_numpy())
            / tn["gradient_err"].to_numpy()
        )
        ratio = tl["gradient_err"].to_numpy() / tn["gradient_err"].to_numpy()
        true_g = truth[pop].gradient[k]
        for i in range(len(tn)):
            bin_rows.append(
                {
                    "model": model,
                    "population": pop,
                    "age_center": float(tn["age_center"].iloc[i]),
                    "n_stars": int(tn["n_stars"].iloc[i]),
                    "mean_nuts": round(float(tn["gradient"].iloc[i]), 5),
                    "mean_laplace": round(float(tl["gradient"].iloc[i]), 5),
                    "sd_nuts": round(float(tn["gradient_err"].iloc[i]), 5),
                    "dmean_sd": round(float(d[i]), 3),
                    "sd_ratio": round(float(ratio[i]), 3),
                    "k_hat": round(float(khat[i]), 2),
                    "fallback": bool(fallback[i]),
                    "z_nuts": round(
                        float((tn["gradient"].iloc[i] - true_g[i]) / tn["gradient_err"].iloc[i]), 2
                    ),
                    "z_laplace": round(
                        float((tl["gradient"].iloc[i] - true_g[i]) / tl["gradient_err"].iloc[i]), 2
                    ),
                }
            )
        row = {
            "model": model,
            "population": pop,
            "n_stars": int(nuts.data.n),
            "nuts_s": round(t_nuts, 1),
            "laplace_s": round(t_lap, 1),
            "speed_up": round(t_nuts / t_lap, 2),
            "max_dmean_sd": round(float(d.max()), 3),
            "max_abs_sd_ratio_minus_1": round(float(np.abs(ratio - 1).max()), 3),
            "max_k_hat": round(float(khat.max()), 2),
            "fallback_bins": int(fallback.sum()),
            "nuts_backend": spec.sampler.backend,
        }
        if pymc_extras:
            row["pymc_extras_s"] = round(
                _pymc_extras_time(
                    spec.replace({"sampler": {"method": "nuts"}}), stars, bins, pop, seed
                ),
                1,
            )
        pop_rows.append(row)
        print(pop_rows[-1], file=sys.stderr, flush=True)
    return bin_rows, pop_rows


def main(argv: list[str] | None = None):
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--models", nargs="+", default=["marginal"])
    p.add_argument("--draws", type=int, help="override the spec's draws per chain (both routes)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument(
        "--pymc-extras", action="store_true", help="also time pymc_extras.inference.fit_laplace"
    )
    a = p.parse_args(argv)
    bins = AgeBins.from_config()
    stars, truth = simulate(bins)
    bin_rows, pop_rows = [], []
    for model in a.models:
        b, r = run(model, stars, truth, bins, a.seed, a.draws, a.pymc_extras)
        bin_rows += b
        pop_rows += r
    bins_t, pops_t = pd.DataFrame(bin_rows), pd.DataFrame(pop_rows)
    with pd.option_context("display.width", 250, "display.max_columns", 30):
        print(
            f"\nLaplace vs NUTS at C25 size, {os.cpu_count()} CPUs; wall time per population includes compilation"
        )
        print("\nper bin (gradient):")
        print(bins_t.to_string(index=False))
        print("\nper population:")
        print(pops_t.to_string(index=False))
        totals = pops_t.groupby("model", sort=False)[["nuts_s", "laplace_s"]].sum().round(1)
        totals["speed_up"] = (totals["nuts_s"] / totals["laplace_s"]).round(2)
        print("\nboth populations (s):")
        print(totals.to_string())
    return bins_t, pops_t


if __name__ == "__main__":
    main()
