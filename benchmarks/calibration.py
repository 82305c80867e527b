"""Simulation-based calibration (Talts et al. 2018) of the model specs in ``models/``.

Usage::

    .venv/bin/python benchmarks/calibration.py                              # every spec, 100 data sets each
    .venv/bin/python benchmarks/calibration.py --models marginal,hierarchical --n-sims 20
    .venv/bin/python benchmarks/calibration.py --workers 2                  # on a local Dask cluster
    .venv/bin/python benchmarks/calibration.py --scheduler tcp://host:8786  # on a running scheduler
    .venv/bin/python benchmarks/calibration.py --models twodisk --out DIR --resume  # finish an interrupted run

For each spec and each data set i (seeded by the spec's name and i):

1. the true parameters are one draw from **the spec's own PyMC model's prior** (``pm.draw``
   on its variables: per-bin gradients, intercepts and scatters, and the line or the
   Gaussian process of the models that have one), with the priors of
   :data:`CALIBRATION_PRIORS` in place of the spec's. The shipped priors are weakly
   informative (a gradient of N(0, 0.5) dex/kpc), and a sky drawn from them is not a galaxy
   (a 0.5 dex/kpc gradient drives most stars out of the [Fe/H] window). The structure of the
   model (R_g and age treatments, truncation, mixture) is the spec's own;
2. the stars come from the physical simulator
   (:func:`mgar_bayes.models.simulate_population`): ``--n-per-bin`` stars per bin of
   ``--bins`` equal age bins by *true* age, observed ages with ``--age-err`` relative errors
   (stars move between bins), true R_g uniform in 5-15 kpc observed with 0.2-0.8 kpc errors,
   [Fe/H] errors of 0.03-0.08 dex, the [-1, 0.5] [Fe/H] window. A model that refines the bins
   (``smooth``: 0.5-Gyr bins) gets the same number of stars spread over its own bins, each
   star's gradient its true fine bin's, and every fine bin's gradient is ranked. Where a model's assumptions
   match this process its ranks are uniform; where they do not (C25's 1/P weighting is not a
   generative model of age errors), the ranks show how far the intervals are off;
3. the spec is fitted with its own sampler (``--draws``/``--tune`` per chain, 2 chains), and
   the rank of each true value among ``--ranks`` thinned posterior draws is recorded for
   every bin's gradient and for the flattening rate: the line's ``trend_slope`` where the
   model has one, else the least-squares slope of the bins' gradients against the bin
   centres (a function of the parameters, so its ranks are uniform for a calibrated model
   too). Also recorded: whether the central 50% and 94% posterior intervals contain the
   truth, the largest R-hat and the divergences.

Written to ``--out`` (default ``benchmarks/results/calibration``): ``ranks.csv`` (one row per
spec, data set and quantity), ``calibration.csv`` (per spec and quantity: data sets, coverage
of the 50% and 94% intervals with binomial standard errors, the chi-square p-value of the
rank histogram, and whether 94% coverage is inside 90-98%) and ``calibration.png`` (rank
histograms with the 99% band of a uniform histogram; coverage). The table is printed as
Markdown for the README.

Each data set is a unit of work: with ``--workers N`` (a local Dask cluster) or
``--scheduler ADDRESS`` they run on the cluster's workers, else one after another here. The
ranks do not depend on where a unit ran.

Specs left out by default: the prior-sensitivity variants (``c25_narrow``, ``c25_wide``,
``c25_scatter``) differ from ``c25`` only in their priors, which calibration replaces, so
they are ``c25``; ``c25_integrated`` has ``c25``'s posterior by construction (the tests
check the two agree) at several times its cost. Name them with ``--models`` to run them anyway.
``twodisk`` is simulated by :func:`mgar_bayes.models.simulate_two_disks` (two [alpha/Fe]
sequences and a thin fraction per bin drawn from its prior under
:data:`TWODISK_CALIBRATION_PRIORS`) and ranked on both disks' bin gradients and rates.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
import warnings
import zlib
from pathlib import Path

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=2")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from scipy import stats  # noqa: E402

from mgar_bayes.atomic import atomic_path, write_frame  # noqa: E402
from mgar_bayes.binning import AgeBins  # noqa: E402
from mgar_bayes.models import builder_for, load_model_spec, simulate_population, simulate_two_disks  # noqa: E402

DEFAULT_MODELS = ("marginal", "c25", "hierarchical", "smooth", "twodisk")

#: Priors of the calibration (family and parameters as in a spec's [priors]): plausible Milky Way
#: values, so that every simulated data set is a disk one could observe.
CALIBRATION_PRIORS = {
    "gradient": {"dist": "Normal", "mu": -0.05, "sigma": 0.03},  # [dex/kpc]
    "intercept": {"dist": "Normal", "mu": -0.1, "sigma": 0.1},  # [dex] at r_ref
    "scatter": {"dist": "HalfNormal", "sigma": 0.1},  # [dex]
    "trend_intercept": {"dist": "Normal", "mu": -0.05, "sigma": 0.02},  # [dex/kpc] at age_ref
    "trend_slope": {"dist": "Normal", "mu": 0.004, "sigma": 0.004},  # [dex/kpc/Gyr]
    "trend_scatter": {"dist": "HalfNormal", "sigma": 0.01},  # [dex/kpc]
}
#: The two-disk model's chemistry and membership: two [alpha/Fe] sequences about 0.2 dex apart, as
#: in the Milky Way's Tinsley diagram, and a thin fraction per bin of 0.2-0.9.
TWODISK_CALIBRATION_PRIORS = {
    "afe_offset": {"dist": "Normal", "mu": 0.03, "sigma": 0.03},  # thin sequence at [Fe/H] = -0.2 [dex]
    "afe_gap": {"dist": "Gamma", "alpha": 16.0, "beta": 80.0},  # thick minus thin [dex]: 0.2 +- 0.05
    "afe_slope": {"dist": "Normal", "mu": -0.08, "sigma": 0.05},
    "afe_scatter": {"dist": "Gamma", "alpha": 9.0, "beta": 300.0},  # [dex]: 0.03 +- 0.01
    "thin_fraction": {"dist": "Beta", "alpha": 3.0, "beta": 2.0},
}
INTERVALS = (0.5, 0.94)


def calibration_spec(name: str, *, draws: int, tune: int):
    """The spec with the calibration priors (where it has those parameters) and the run's sampler."""
    spec = load_model_spec(name)
    priors = {**CALIBRATION_PRIORS, **(TWODISK_CALIBRATION_PRIORS if spec.builder == "twodisk" else {})}
    return spec.replace({"priors": priors, "sampler": {"draws": draws, "tune": tune, "chains": 2}})


def _unit_seed(model: str, i: int) -> list[int]:
    return [20261201, zlib.crc32(model.encode()), i]


def _prior_draw(spec, bins: AgeBins, seed) -> dict[str, np.ndarray]:
    """One draw of the model's parameters from its own PyMC prior (built on a placeholder catalogue)."""
    import pymc as pm

    if spec.builder == "twodisk":
        stars, _ = simulate_two_disks(bins, n_per_bin=80, seed=1)
    else:
        stars, _ = simulate_population(spec.data.bins_for(bins), n_per_bin=40, seed=1)
    model = builder_for(spec).build_model(stars, bins, population="thin")
    names = [n for n in ("gradient", "intercept", "scatter", "trend_slope", *TWODISK_TRUTH) if n in model.named_vars]
    values = pm.draw([model[n] for n in names], draws=1, random_seed=np.random.default_rng(seed))
    return {n: np.atleast_1d(np.asarray(v, dtype=float)) for n, v in zip(names, values, strict=True)}


#: The two-disk model's parameters a simulated sample is drawn from, besides the MGARs'.
TWODISK_TRUTH = ("thin_fraction", "afe_at_pivot", "afe_slope", "afe_scatter")


def _flattening(gradient: np.ndarray, centers: np.ndarray) -> np.ndarray:
    """Least-squares slope of gradients (..., K) against the bin centres [dex/kpc/Gyr]."""
    t = centers - centers.mean()
    return (gradient - gradient.mean(axis=-1, keepdims=True)) @ t / (t @ t)


def calibrate_one(model: str, i: int, settings: dict) -> list[dict]:
    """One unit of work: draw a truth from the prior, simulate, fit, rank. Rows of ``ranks.csv``."""
    import arviz as az

    given = AgeBins(tuple(np.linspace(settings["age_min"], settings["age_max"], settings["bins"] + 1)))
    spec = calibration_spec(model, draws=settings["draws"], tune=settings["tune"])
    # the bins the model fits: the given ones, or their range in a smooth model's fine bins; the
    # catalogue keeps its size (n_per_bin stars per given bin)
    if spec.builder == "twodisk":
        return _calibrate_twodisk(model, i, settings, spec, given)
    bins = spec.data.bins_for(given)
    n_per_bin = max(int(round(settings["n_per_bin"] * given.n_bins / bins.n_bins)), 1)
    seed = _unit_seed(model, i)
    truth = _prior_draw(spec, given, seed + [0])
    grad, icpt = truth["gradient"], truth["intercept"]
    scat = truth["scatter"]
    edges = bins.edges

    def step(t):  # each star's gradient is its true (model) bin's
        return grad[np.clip(np.searchsorted(edges, t, side="right") - 1, 0, bins.n_bins - 1)]

    stars, _ = simulate_population(
        bins, n_per_bin=n_per_bin, gradient_fn=step, intercept=icpt, scatter=scat,
        age_rel_err=settings["age_err"], age_ref=spec.structure.age_ref, r_ref=spec.structure.r_ref, seed=int(np.random.default_rng(seed + [1]).integers(2**31)),
    )  # fmt: skip
    m, seconds = _fit(spec, stars, given, seed)
    post = m.idata.posterior
    g = post["gradient"].values.reshape(-1, post["gradient"].shape[-1])  # (S, K) of the bins kept
    kept = np.isin(bins.labels(), list(post["gradient"].coords["age_bin"].values))
    rate_truth = float(truth["trend_slope"][0]) if "trend_slope" in truth else float(_flattening(grad, bins.centers))
    if "trend_slope" in post:
        rate = post["trend_slope"].values.reshape(-1)
    else:
        rate = _flattening(g, bins.centers[kept]) if kept.all() else np.full(g.shape[0], np.nan)
    rhat = float(np.nanmax(az.rhat(post)[["gradient"]].to_array().values))
    div = int(m.idata.sample_stats["diverging"].values.sum()) if "diverging" in m.idata.sample_stats else 0
    quantities = [(f"gradient[{lab}]", g[:, list(np.flatnonzero(kept)).index(k)] if kept[k] else None, grad[k])
                  for k, lab in enumerate(bins.labels())] + [("flattening_rate", rate, rate_truth)]  # fmt: skip
    info = {"model": model, "age_err": settings["age_err"], "sim": i, "seconds": seconds, "max_rhat": rhat,
            "divergences": div, "n_stars": len(stars)}  # fmt: skip
    return _rank_rows(quantities, info, settings["ranks"])


def _calibrate_twodisk(model: str, i: int, settings: dict, spec, bins: AgeBins) -> list[dict]:
    """A unit of work of the two-disk model: both disks' MGARs, chemistry and memberships from its prior."""
    import arviz as az

    seed = _unit_seed(model, i)
    truth = _prior_draw(spec, bins, seed + [0])
    stars, _ = simulate_two_disks(
        bins, n_per_bin=settings["n_per_bin"], gradient=truth["gradient"], intercept=truth["intercept"],
        scatter=truth["scatter"], thin_fraction=truth["thin_fraction"], afe_at_pivot=truth["afe_at_pivot"],
        afe_slope=truth["afe_slope"], afe_scatter=truth["afe_scatter"], age_rel_err=settings["age_err"],
        r_ref=spec.structure.r_ref, seed=int(np.random.default_rng(seed + [1]).integers(2**31)),
    )  # fmt: skip
    m, seconds = _fit(spec, stars, bins, seed)
    post = m.idata.posterior
    quantities = []
    for d, disk in enumerate(("thin", "thick")):
        g = post["gradient"].sel(disk=disk).values.reshape(-1, bins.n_bins)
        quantities += [(f"gradient[{disk} {lab}]", g[:, k], truth["gradient"][d, k])
                       for k, lab in enumerate(bins.labels())]  # fmt: skip
        rate = post["trend_slope"].sel(disk=disk).values.reshape(-1)
        quantities.append((f"flattening_rate[{disk}]", rate, truth["trend_slope"][d]))
    rhat = float(np.nanmax(az.rhat(post)[["gradient", "trend_slope"]].to_array().values))
    div = int(m.idata.sample_stats["diverging"].values.sum())
    info = {"model": model, "age_err": settings["age_err"], "sim": i, "seconds": seconds, "max_rhat": rhat,
            "divergences": div, "n_stars": len(stars)}  # fmt: skip
    return _rank_rows(quantities, info, settings["ranks"])


def _fit(spec, stars, bins: AgeBins, seed):
    """The spec fitted to ``stars`` (seeded by the unit's seed) and the seconds it took."""
    m = builder_for(spec)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence is recorded by the caller, drops are counted
        m.fit(stars, bins, population="thin", seed=int(np.random.default_rng(seed + [2]).integers(2**31)))
    return m, time.perf_counter() - t0


def _rank_rows(quantities, info: dict, n_ranks: int) -> list[dict]:
    """Rows of ``ranks.csv``: the rank of each true value among ``n_ranks`` thinned draws, and coverage."""
    rows = []
    for q, draws, true in quantities:
        row = {**info, "quantity": q, "truth": float(true)}
        if draws is None or not np.isfinite(draws).all():
            rows.append({**row, "rank": np.nan, "n_ranks": n_ranks, **{f"in_{p:g}": np.nan for p in INTERVALS}})
            continue
        thin = draws[np.linspace(0, draws.size - 1, n_ranks).round().astype(int)]
        row.update(rank=int((thin < true).sum()), n_ranks=n_ranks, mean=float(draws.mean()), sd=float(draws.std()))
        for p in INTERVALS:
            lo, hi = np.quantile(draws, [(1 - p) / 2, (1 + p) / 2])
            row[f"in_{p:g}"] = bool(lo <= true <= hi)
        rows.append(row)
    return rows


def summarise(ranks: pd.DataFrame) -> pd.DataFrame:
    """Per model and quantity (every gradient pooled as ``gradient``): coverage and rank uniformity."""
    r = ranks.dropna(subset=["rank"]).copy()
    r["what"] = r["quantity"].str.replace(r"\[.*\]$", "", regex=True)  # every gradient (and disk) pooled
    out = []
    for (model, age_err, what), t in r.groupby(["model", "age_err", "what"], sort=False):
        n_ranks = int(t["n_ranks"].iloc[0])
        counts = np.histogram(t["rank"], bins=10, range=(0, n_ranks + 1))[0]
        row = {"model": model, "age_err": age_err, "quantity": what, "n_sims": t["sim"].nunique(), "n_ranks_total": len(t),
               "rank_chi2_p": float(stats.chisquare(counts).pvalue)}  # fmt: skip
        for p in INTERVALS:
            c = t[f"in_{p:g}"].astype(float)
            row[f"coverage_{p:g}"] = float(c.mean())
            row[f"coverage_{p:g}_se"] = float(np.sqrt(c.mean() * (1 - c.mean()) / len(c)))
        row["calibrated_94"] = bool(0.90 <= row["coverage_0.94"] <= 0.98)
        row["median_seconds"] = float(t.drop_duplicates("sim")["seconds"].median())
        row["max_rhat_median"] = float(t.drop_duplicates("sim")["max_rhat"].median())
        row["sims_with_divergences"] = int((t.drop_duplicates("sim")["divergences"] > 0).sum())
        out.append(row)
    return pd.DataFrame(out)


def plot(ranks: pd.DataFrame, summary: pd.DataFrame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    r = ranks.dropna(subset=["rank"]).copy()
    r["what"] = r["quantity"].str.replace(r"\[.*\]$", "", regex=True)  # every gradient (and disk) pooled
    models = list(dict.fromkeys(zip(summary["model"], summary["age_err"], strict=True)))
    whats = ["gradient", "flattening_rate"]
    fig, axes = plt.subplots(len(models), 3, figsize=(11, 2.4 * len(models) + 0.6), squeeze=False)
    for i, (model, age_err) in enumerate(models):
        name = f"{model}, {age_err:.0%} age err."
        for j, what in enumerate(whats):
            ax = axes[i, j]
            t = r[(r.model == model) & (r.age_err == age_err) & (r.what == what)]
            n_ranks, n, nb = int(t["n_ranks"].iloc[0]), len(t), 10
            counts = np.histogram(t["rank"], bins=nb, range=(0, n_ranks + 1))[0]
            lo, hi = stats.binom.ppf([0.005, 0.995], n, 1 / nb)
            ax.axhspan(lo, hi, color="0.85", zorder=0)
            ax.axhline(n / nb, color="0.5", lw=0.8)
            ax.bar(np.arange(nb) + 0.5, counts, width=0.9, color="C0" if what == "gradient" else "C1")
            ax.set_xlim(0, nb)
            ax.set_xticks([0, nb / 2, nb], ["0", f"{(n_ranks + 1) // 2}", f"{n_ranks}"])
            ax.set_title(f"{name}: {what.replace('_', ' ')} ranks (n={n})", fontsize=9)
            if j == 0:
                ax.set_ylabel("count")
        ax = axes[i, 2]
        s = summary[(summary.model == model) & (summary.age_err == age_err)].set_index("quantity")
        for k, what in enumerate(whats):
            if what not in s.index:
                continue
            for p, mk in zip(INTERVALS, ("o", "s"), strict=True):
                ax.errorbar(k + (0.1 if p > 0.6 else -0.1), s.loc[what, f"coverage_{p:g}"],
                            yerr=2 * s.loc[what, f"coverage_{p:g}_se"], fmt=mk, color=f"C{k}",
                            label=f"{int(p * 100)}% interval" if k == 0 else None)  # fmt: skip
        for p in INTERVALS:
            ax.axhline(p, color="0.5", lw=0.8, ls="--")
        ax.axhspan(0.90, 0.98, color="0.9", zorder=0)
        ax.set_xticks([0, 1], ["gradient", "flattening"])
        ax.set_xlim(-0.5, 1.5)
        ax.set_ylim(0.2, 1.02)
        ax.set_title(f"{name}: coverage (±2 se)", fontsize=9)
        if i == 0:
            ax.legend(fontsize=7, loc="lower right")
    fig.suptitle("Simulation-based calibration: ranks of the truth among posterior draws (grey: 99% band of uniform)",
                 fontsize=10)  # fmt: skip
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)


@contextlib.contextmanager
def _runner(workers: int | None, scheduler: str | None):
    """``map`` over units of work: a Dask cluster's when asked for, else one after another here."""
    if not (workers or scheduler):
        yield map
        return
    from mgar_bayes.partitioned import dask_client

    with dask_client(workers, scheduler) as client:
        yield client.get_executor().map


def markdown(summary: pd.DataFrame) -> str:
    lines = ["| model | age errors | quantity | data sets | 50% coverage | 94% coverage | rank p | 94% in 90-98% | "
             "median fit |", "|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for r in summary.to_dict("records"):
        lines.append(f"| {r['model']} | {r['age_err']:.0%} | {r['quantity'].replace('_', ' ')} | {r['n_sims']} | "
                     f"{r['coverage_0.5']:.2f} ± {r['coverage_0.5_se']:.2f} | "
                     f"{r['coverage_0.94']:.2f} ± {r['coverage_0.94_se']:.2f} | {r['rank_chi2_p']:.2g} | "
                     f"{'yes' if r['calibrated_94'] else '**no**'} | {r['median_seconds']:.1f} s |")  # fmt: skip
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", default=",".join(DEFAULT_MODELS), help="comma-separated spec names")
    p.add_argument("--n-sims", type=int, default=100, help="simulated data sets per spec")
    p.add_argument("--bins", type=int, default=4, help="equal age bins")
    p.add_argument("--age-min", type=float, default=1.0)
    p.add_argument("--age-max", type=float, default=9.0)
    p.add_argument("--n-per-bin", type=int, default=60, help="stars per bin by true age")
    p.add_argument("--age-err", type=float, default=0.2, help="relative age error")
    p.add_argument("--draws", type=int, default=400, help="posterior draws per chain (2 chains)")
    p.add_argument("--tune", type=int, default=300)
    p.add_argument("--ranks", type=int, default=99, help="thinned draws a truth is ranked among")
    p.add_argument("--workers", type=int, default=None, help="local Dask cluster of N workers")
    p.add_argument("--scheduler", default=None, help="a running dask.distributed scheduler's address")
    p.add_argument("--out", default="benchmarks/results/calibration")
    p.add_argument("--resume", action="store_true",
                   help="keep --out's ranks.csv and fit only the data sets it lacks (same settings required)")
    p.add_argument("--overwrite", action="store_true", help="replace the results already in --out")
    p.add_argument("--summarise", nargs="+", default=None, metavar="DIR",
                   help="fit nothing: combine the ranks.csv of earlier runs into --out's table and figure")
    a = p.parse_args(argv)
    out = Path(a.out)
    if a.summarise:
        ranks = pd.concat([pd.read_csv(Path(d) / "ranks.csv") for d in a.summarise], ignore_index=True)
        return _write(ranks, out, time.perf_counter())
    models = [m.strip() for m in a.models.split(",") if m.strip()]
    for m in models:
        load_model_spec(m)  # a wrong name fails before any work
    settings = {k: getattr(a, k) for k in ("bins", "age_min", "age_max", "n_per_bin", "age_err", "draws", "tune",
                                           "ranks")}  # fmt: skip
    done = _previous_rows(out, settings, resume=a.resume, overwrite=a.overwrite)
    have = set(zip(done["model"], done["sim"], strict=True)) if len(done) else set()
    units = [(m, i) for m in models for i in range(a.n_sims) if (m, i) not in have]
    print(f"{len(units)} fits: {', '.join(models)} x {a.n_sims} data sets"
          f"{f' ({len(have)} done before, kept)' if have else ''}; {a.bins} bins x {a.n_per_bin} stars, "
          f"{a.age_err:.0%} age errors", flush=True)  # fmt: skip
    t0 = time.perf_counter()
    rows = done.to_dict("records")
    with _runner(a.workers, a.scheduler) as run:
        for k, unit_rows in enumerate(run(calibrate_one, [u[0] for u in units], [u[1] for u in units],
                                          [settings] * len(units))):  # fmt: skip
            rows.extend(unit_rows)
            write_frame(pd.DataFrame(rows), out / "ranks.csv")  # after every fit: what --resume keeps
            if (k + 1) % 10 == 0 or k + 1 == len(units):
                print(f"  {k + 1}/{len(units)} fits, {time.perf_counter() - t0:.0f} s", flush=True)
    return _write(pd.DataFrame(rows), out, t0)


def _previous_rows(out: Path, settings: dict, *, resume: bool, overwrite: bool) -> pd.DataFrame:
    """The rows of an earlier run in ``out`` to keep (``--resume``), after checking its settings match.

    Records the settings in ``out/settings.json``. Refuses to replace results without
    ``--overwrite``, and to resume a run made with other settings.
    """
    import json

    ranks, meta = out / "ranks.csv", out / "settings.json"
    if ranks.exists() and not (resume or overwrite):
        raise SystemExit(f"{ranks} exists: pass --resume to add the missing data sets to it, "
                         "--overwrite to replace it, or choose another --out")  # fmt: skip
    done = pd.DataFrame()
    if resume and ranks.exists():
        before = json.loads(meta.read_text()) if meta.exists() else None
        if before != settings:
            raise SystemExit(f"cannot resume {out}: its settings ({meta}: {before}) differ from this run's "
                             f"({settings}); choose another --out")  # fmt: skip
        done = pd.read_csv(ranks)
    out.mkdir(parents=True, exist_ok=True)
    from mgar_bayes.atomic import atomic_write_text

    atomic_write_text(meta, json.dumps(settings, indent=1, sort_keys=True))
    return done


def _write(ranks: pd.DataFrame, out: Path, t0: float) -> int:
    summary = summarise(ranks)
    write_frame(ranks, out / "ranks.csv")
    write_frame(summary, out / "calibration.csv")
    plot(ranks, summary, out / "calibration.png")
    print(markdown(summary))
    bad = summary[~summary["calibrated_94"]]
    for r in bad.to_dict("records"):
        print(f"{r['model']} ({r['age_err']:.0%} age errors): 94% coverage of the {r['quantity'].replace('_', ' ')} "
              f"is {r['coverage_0.94']:.2f}, outside 90-98%")  # fmt: skip
    print(f"wrote {out}/ranks.csv, calibration.csv, calibration.png in {time.perf_counter() - t0:.0f} s")
    return 0

if __name__ == "__main__":
    sys.exit(main())
