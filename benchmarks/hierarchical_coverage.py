"""Recovery and coverage of the hierarchical flattening rate on simulated catalogues with ~20% age errors.

Usage::

    .venv/bin/python benchmarks/hierarchical_coverage.py                        # 50 catalogues
    .venv/bin/python benchmarks/hierarchical_coverage.py --catalogues 10 --n-per-bin 200

Each catalogue (``simulate_population``: nine C25 age bins, ``--n-per-bin``
stars per bin by true age, gradient -0.05 dex/kpc at 6.625 Gyr, true
flattening rate 0.004 dex/kpc/Gyr, relative age errors ``--age-err``, one
seed per catalogue) is fitted twice:

- per-bin weighted OLS by observed age and a weighted line through the bins
  (C25's route, :func:`mgar_bayes.ols.fit_bins` + :func:`~mgar_bayes.ols.mgar_trend`):
  stars that scatter between bins mix neighbouring gradients, which flattens
  the MGAR, so its rate is biased low;
- the hierarchical model of ``models/hierarchical.toml`` (age mixture, its own
  sampler settings unless ``--draws``/``--tune`` are given).

It prints, per catalogue, both rates, the hierarchical posterior sd and 94%
HDI, R-hat and divergences; then the mean bias of each route with its
standard error over catalogues, the fraction of catalogues whose hierarchical
posterior mean is within 1 sd of the truth, and the coverage of the 94% HDI
with its binomial standard error and a 95% Clopper-Pearson interval
(target: 90-98%). Nothing is asserted: the numbers are what the model gives.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=2")

import arviz as az  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from scipy import stats  # noqa: E402

from mgar_bayes.binning import AgeBins  # noqa: E402
from mgar_bayes.models import builder_for, load_model_spec, simulate_population  # noqa: E402
from mgar_bayes.ols import fit_bins, mgar_trend  # noqa: E402

SLOPE = 0.004  # true flattening rate [dex/kpc/Gyr]
GRADIENT_AT_REF = -0.05  # [dex/kpc] at AGE_REF
AGE_REF = 6.625  # [Gyr]
HDI_PROB = 0.94


def one_catalogue(bins: AgeBins, spec, *, n_per_bin: int, age_err: float, seed: int) -> dict:
    """Simulate one catalogue, fit OLS + line and the hierarchical model; the rates and the interval."""
    stars, truth = simulate_population(
        bins,
        n_per_bin=n_per_bin,
        slope=SLOPE,
        gradient_at_ref=GRADIENT_AT_REF,
        age_ref=AGE_REF,
        age_rel_err=age_err,
        seed=seed,
    )
    ols = mgar_trend(fit_bins(stars, bins, methods=("ols",), populations=("thin",)))["thin"]["ols"]
    m = builder_for(spec)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m.fit(stars, bins, population="thin", seed=seed)
    wall = time.perf_counter() - t0
    s = m.idata.posterior["trend_slope"].values.reshape(-1)
    lo, hi = az.hdi(s, hdi_prob=HDI_PROB)
    diag = m.diagnostics()
    return {
        "seed": seed,
        "n_stars": int(m.data.n),
        "ols_rate": float(ols["rate"]),
        "ols_rate_err": float(ols["rate_err"]),
        "rate": float(s.mean()),
        "rate_sd": float(s.std(ddof=1)),
        "hdi_lo": float(lo),
        "hdi_hi": float(hi),
        "covered": bool(lo <= truth.slope <= hi),
        "within_1sd": bool(abs(s.mean() - truth.slope) <= s.std(ddof=1)),
        "max_r_hat": float(diag["r_hat"].max()),
        "divergences": int(diag["divergences"].iloc[0]),
        "wall_s": wall,
    }


def summarise(table: pd.DataFrame) -> str:
    n = len(table)
    lines = []
    for name, col in (("per-bin OLS + line", "ols_rate"), ("hierarchical", "rate")):
        bias = table[col] - SLOPE
        lines.append(
            f"{name:>20}: mean rate {table[col].mean():+.5f} (truth {SLOPE:+.4f}), bias "
            f"{bias.mean():+.5f} +- {bias.std(ddof=1) / np.sqrt(n):.5f} dex/kpc/Gyr "
            f"({100 * bias.mean() / SLOPE:+.0f}% of the truth)"
        )
    z_ols = (table["ols_rate"] - SLOPE) / table["ols_rate_err"]
    lines.append(f"{'OLS':>20}: mean (rate - truth) / its reported error {z_ols.mean():+.2f}")
    k = int(table["covered"].sum())
    p = k / n
    ci = stats.binomtest(k, n).proportion_ci(confidence_level=0.95, method="exact")
    lines.append(
        f"{'hierarchical':>20}: posterior mean within 1 sd of the truth in {int(table['within_1sd'].sum())}/{n}; "
        f"{int(100 * HDI_PROB)}% HDI covers the truth in {k}/{n} = {100 * p:.1f}% "
        f"+- {100 * np.sqrt(max(p * (1 - p), 1e-12) / n):.1f}% (binomial sd; 95% Clopper-Pearson "
        f"{100 * ci.low:.1f}-{100 * ci.high:.1f}%; target 90-98%)"
    )
    lines.append(
        f"{'':>20}  max R-hat {table['max_r_hat'].max():.3f}, divergences {int(table['divergences'].sum())} in all, "
        f"fit wall time {table['wall_s'].median():.1f} s median"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> pd.DataFrame:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--catalogues", type=int, default=50)
    p.add_argument("--n-per-bin", type=int, default=100, help="stars per bin by true age")
    p.add_argument("--age-err", type=float, default=0.2, help="relative age error")
    p.add_argument("--model", default="hierarchical")
    p.add_argument("--draws", type=int)
    p.add_argument("--tune", type=int)
    p.add_argument(
        "--seed", type=int, default=1000, help="seed of the first catalogue (then +1 each)"
    )
    a = p.parse_args(argv)
    sampler = {k: v for k, v in (("draws", a.draws), ("tune", a.tune)) if v is not None}
    spec = load_model_spec(a.model).replace({"sampler": sampler} if sampler else {})
    bins = AgeBins.from_config()
    rows = []
    t0 = time.perf_counter()
    for i in range(a.catalogues):
        rows.append(
            one_catalogue(bins, spec, n_per_bin=a.n_per_bin, age_err=a.age_err, seed=a.seed + i)
        )
        r = rows[-1]
        print(
            f"catalogue {i + 1:3d}/{a.catalogues}: OLS {r['ols_rate']:+.5f}, hierarchical {r['rate']:+.5f} "
            f"+- {r['rate_sd']:.5f} [{r['hdi_lo']:+.5f}, {r['hdi_hi']:+.5f}] covered={r['covered']} "
            f"R-hat {r['max_r_hat']:.3f} div {r['divergences']} ({r['wall_s']:.1f} s); covered so far "
            f"{sum(x['covered'] for x in rows)}/{len(rows)}",
            file=sys.stderr,
            flush=True,
        )
    table = pd.DataFrame(rows)
    print(
        f"\n{a.catalogues} catalogues x 9 bins x {a.n_per_bin} stars (by true age), {100 * a.age_err:.0f}% age "
        f"errors, spec {spec.name!r} ({spec.sampler.tune} warm-up + {spec.sampler.draws} draws x "
        f"{spec.sampler.chains} chains), {time.perf_counter() - t0:.0f} s in all, {os.cpu_count()} CPUs"
    )
    print(summarise(table))
    return table


if __name__ == "__main__":
    main()
