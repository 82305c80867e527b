"""Wall time of a C25-size fit: 18 age bins, 18,317 thin + 24,211 thick simulated stars (C25: 18,363 + 24,210).

Usage::

    .venv/bin/python benchmarks/c25_size.py                          # c25, c25_integrated, marginal
    .venv/bin/python benchmarks/c25_size.py --models marginal --draws 500

Each named spec (``models/NAME.toml``, its own sampler settings unless
``--draws``/``--tune``/``--target-accept`` are given) is fitted to both populations, as
``mgar fit`` does: nine C25 age bins (1-12.25 Gyr) per population, 2,130 thin
and 2,815 thick stars per bin by true age (10% age errors, so stars scatter
between bins as in C25, and ~4% out of 1-12.25 Gyr: the fitted counts match
C25's samples), thin R_g in 4-16 kpc, thick in 3-15 kpc (some stars
within 6 dR_g of R_g = 0 keep a latent R_g in ``c25_integrated``). The table
gives per population the wall time of ``fit`` (compilation, warm-up, draws,
log-likelihood, diagnostics), the mean leapfrog steps per bin and draw, the
worst R-hat, the smallest bulk ESS of a gradient, divergences, and the largest
|posterior mean - truth| / posterior sd over the bins (C25's per-bin model
is biased by stars that scatter between bins, so this is not ~1).
Speed is reported here, never asserted in tests.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=2")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from mgar_bayes.binning import AgeBins  # noqa: E402
from mgar_bayes.models import builder_for, load_model_spec, simulate_population  # noqa: E402

POPULATIONS = {
    # population: (stars per bin by true age, R_g range [kpc], gradient at 6.625 Gyr, slope, seed)
    "thin": (2130, (4.0, 16.0), -0.06, 0.004, 21),
    "thick": (2815, (3.0, 15.0), -0.03, 0.003, 22),
}


def simulate(bins: AgeBins) -> tuple[pd.DataFrame, dict]:
    tables, truth = [], {}
    for pop, (n, rg_range, g0, slope, seed) in POPULATIONS.items():
        stars, t = simulate_population(
            bins,
            n_per_bin=n,
            rg_range=rg_range,
            gradient_at_ref=g0,
            slope=slope,
            population=pop,
            seed=seed,
        )
        tables.append(stars)
        truth[pop] = t
    return pd.concat(tables, ignore_index=True), truth


def _slope(m, truth) -> dict:
    """The hierarchical model's flattening rate: bulk ESS, R-hat and (mean - truth) / sd; empty for per-bin models."""
    if "trend_slope" not in m.idata.posterior:
        return {}
    row = m.diagnostics().loc["trend_slope"]
    return {
        "slope_ess": int(row["ess_bulk"]),
        "slope_r_hat": round(float(row["r_hat"]), 3),
        "slope_z": round(float((row["mean"] - truth.slope) / row["sd"]), 2),
    }


def run(
    model: str, stars: pd.DataFrame, truth: dict, bins: AgeBins, overrides: dict, seed: int
) -> list[dict]:
    spec = load_model_spec(model).replace(overrides)
    rows = []
    for pop in POPULATIONS:
        m = builder_for(spec)
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            m.fit(stars, bins, population=pop, seed=seed)
        wall = time.perf_counter() - t0
        tab = m.gradient_table()
        k = m._bin_indices()
        slope = _slope(m, truth[pop])
        z = (tab["gradient"].to_numpy() - truth[pop].gradient[k]) / tab["gradient_err"].to_numpy()
        ss = m.idata.sample_stats
        steps = ss["n_steps_bin"] if "n_steps_bin" in ss else ss["n_steps"]
        rows.append(
            {
                "model": model,
                "population": pop,
                "n_stars": int(m.data.n),
                "bins": len(tab),
                "backend": spec.sampler.backend,
                "draws": spec.sampler.draws,
                "tune": spec.sampler.tune,
                "target_accept": spec.sampler.target_accept,
                "wall_s": round(wall, 1),
                "steps": round(float(steps.mean()), 1),
                "max_r_hat": round(float(m.diagnostics()["r_hat"].max()), 3),
                "min_ess": int(tab["ess_bulk"].min()),
                "divergences": int(tab["divergences"].max()),
                "max_abs_z": round(float(np.abs(z).max()), 1),
                **slope,
            }
        )
        print(rows[-1], file=sys.stderr, flush=True)
    return rows


def main(argv: list[str] | None = None) -> pd.DataFrame:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--models", nargs="+", default=["c25", "c25_integrated", "marginal"],
                   help="specs to fit, space- or comma-separated (e.g. hierarchical,marginal)")  # fmt: skip
    p.add_argument("--draws", type=int, help="override the spec's draws per chain")
    p.add_argument("--tune", type=int, help="override the spec's tuning steps per chain")
    p.add_argument("--target-accept", type=float, help="override the spec's NUTS target acceptance")
    p.add_argument("--seed", type=int, default=1)
    a = p.parse_args(argv)
    a.models = [name for group in a.models for name in group.split(",") if name]
    given = (("draws", a.draws), ("tune", a.tune), ("target_accept", a.target_accept))
    sampler = {k: v for k, v in given if v is not None}
    bins = AgeBins.from_config()
    stars, truth = simulate(bins)
    rows = []
    for model in a.models:
        rows += run(model, stars, truth, bins, {"sampler": sampler} if sampler else {}, a.seed)
    table = pd.DataFrame(rows)
    totals = table.groupby("model", sort=False)["wall_s"].sum().round(1)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(
            f"\nC25-size fit, {os.cpu_count()} CPUs; wall time per population includes compilation"
        )
        print(table.to_string(index=False))
        print("\nboth populations (s):")
        print(totals.to_string())
    return table


if __name__ == "__main__":
    main()
