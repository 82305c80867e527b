"""Our numpyro driver beside PyMC's own numpyro route, on the same model and start.

Usage::

    .venv/bin/python benchmarks/drivers.py                        # hierarchical, latent R_g, 4 x 150 stars
    .venv/bin/python benchmarks/drivers.py --n 300 --rg-treatment integrate

The model is the hierarchical MGAR model with a treatment of R_g that the fast
route does not take (``sample``: one latent R_g per star; or ``integrate`` with
stars near the R_g limits), so both drivers sample the PyMC model's own JAX
log-density: ``mgar_bayes.models._numpyro.sample_numpyro`` (what
``backend = "numpyro"`` runs: progress lines, the pre-fit start, the
log-likelihood draw by draw) and ``pm.sample(nuts_sampler="numpyro")`` started at
the same point. Both: 2 chains, the same draws, tune and target acceptance. The
table gives the wall time (compilation included), the bulk ESS of the MGAR slope
and of the slowest gradient, ESS per second and the ratio to PyMC's route in the
same run. Speed is reported here, never asserted in tests.
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=2")

import arviz as az  # noqa: E402
import pandas as pd  # noqa: E402
import pymc as pm  # noqa: E402

from mgar_bayes.binning import AgeBins  # noqa: E402
from mgar_bayes.models import HierarchicalMGARModel, load_model_spec, simulate_population  # noqa: E402
from mgar_bayes.models._math import constrained_start  # noqa: E402
from mgar_bayes.models._numpyro import sample_numpyro  # noqa: E402


def _row(route: str, wall: float, idata) -> dict:
    ess = az.ess(idata, var_names=["trend_slope", "gradient"])
    slope = float(ess["trend_slope"])
    grad = float(ess["gradient"].min())
    return {
        "route": route, "wall_s": round(wall, 1), "ess_slope": round(slope), "ess_gradient_min": round(grad),
        "ess_slope_per_s": round(slope / wall, 2),
        "max_r_hat": round(float(az.rhat(idata, var_names=["trend_slope", "gradient"]).to_array().max()), 3),
        "divergences": int(idata.sample_stats["diverging"].sum()),
        "slope": round(float(idata.posterior["trend_slope"].mean()), 5),
    }  # fmt: skip


def main(argv: list[str] | None = None) -> pd.DataFrame:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--n", type=int, default=150, help="stars per bin (4 bins)")
    p.add_argument("--rg-treatment", default="sample", choices=["sample", "integrate"])
    p.add_argument("--draws", type=int, default=500)
    p.add_argument("--tune", type=int, default=500)
    p.add_argument("--seed", type=int, default=1)
    a = p.parse_args(argv)
    bins = AgeBins((2.0, 4.0, 6.0, 8.0, 10.0))
    # R_g down to 0.5 kpc: with "integrate", stars near the limit keep a latent R_g (the generic route)
    stars, truth = simulate_population(bins, n_per_bin=a.n, slope=0.004, age_ref=6.0, age_rel_err=0.15,
                                       rg_range=(0.5, 15.0), seed=a.seed)  # fmt: skip
    spec = load_model_spec("hierarchical").replace({
        "structure": {"rg_treatment": a.rg_treatment, "age_ref": 6.0, "noncentered": True},
        "sampler": {"draws": a.draws, "tune": a.tune, "chains": 2, "target_accept": 0.9},
    })  # fmt: skip
    b = HierarchicalMGARModel(spec)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = b.build_model(stars, bins, population="thin")
    assert not b.fast_route(), "this benchmark compares the generic routes"
    rows = []
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        idata = sample_numpyro(model, draws=a.draws, tune=a.tune, chains=2, target_accept=0.9, seed=a.seed,
                               log_likelihood=False)  # fmt: skip
    rows.append(_row("mgar_bayes sample_numpyro", time.perf_counter() - t0, idata))
    start = constrained_start(model)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        idata = pm.sample(draws=a.draws, tune=a.tune, chains=2, target_accept=0.9, random_seed=a.seed,
                          nuts_sampler="numpyro", initvals=start, progressbar=False, model=model,
                          compute_convergence_checks=False)  # fmt: skip
    rows.append(_row('pm.sample(nuts_sampler="numpyro")', time.perf_counter() - t0, idata))
    table = pd.DataFrame(rows)
    table["x_pymc"] = (table["ess_slope_per_s"] / table["ess_slope_per_s"].iloc[-1]).round(2)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(f"\nhierarchical model, rg_treatment = {a.rg_treatment}, {len(b.data.feh)} stars in {bins.n_bins} bins, "
              f"2 chains x {a.draws} draws (+{a.tune} tune), true slope {truth.slope}; {os.cpu_count()} CPUs")  # fmt: skip
        print(table.to_string(index=False))
    return table


if __name__ == "__main__":
    main()
