"""Recovery of the two-disk mixture on the simulated Milky Way catalogue, beside C25's pure samples.

Usage::

    .venv/bin/python benchmarks/twodisk_recovery.py                     # a 60,000-star mock, 6,000 clean stars
    .venv/bin/python benchmarks/twodisk_recovery.py --run out --n-stars 10000   # a `mgar run` of the bundled mock

The catalogue is the simulated Milky Way of :mod:`mgar_bayes.mock`, whose stars carry their true
component (thin, thick, halo) and whose present-day MGAR of each disk is known from its recipe.
Either a ``mgar run`` output directory on a simulated catalogue (``--run``: its ``stars.parquet``,
the truth from the catalogue named in its ``run.json``) or, by default, a fresh mock of
``--mock-stars`` stars through the pipeline. From the clean sample ``--n-stars`` stars are drawn
(seeded), and fitted twice:

* ``twodisk``: every drawn star, each thin or thick with a probability learned from its chemistry
  and age bin, both disks' hierarchical MGARs in one fit;
* ``hierarchical`` on C25's pure samples: the drawn stars that C25's chemical and Z_max
  selection puts in the thin or the thick disk (about a third of them), one fit per disk.

Printed and written to ``--out`` (default ``benchmarks/results/twodisk``):

* ``recovery.csv``: per disk, the flattening rate and the mean of the bins' gradients of both
  fits beside the truth: posterior mean and sd, (mean - truth) / sd, and the ratio of the
  posterior sds. The truth is the recipe's (``gradient_analytic`` of ``truth_bins.csv``: the
  present-day gradient of item 3 of :mod:`mgar_bayes.mock`, averaged over each bin's true
  ages; the rate and mean are the least-squares line through it and its mean, as
  ``truth.json`` computes them); the same quantities measured by OLS on the simulated stars'
  noise-free values (``*_measured``) are beside it;
* ``bins.csv``: every bin's gradient of both fits and the truth;
* ``membership.csv``: the stars binned by their posterior p_thin, with the mean p_thin and
  the fraction truly thin (and its binomial se) in each: calibrated memberships lie on the
  diagonal;
* ``twodisk_recovery.png``: both disks' MGARs and the membership reliability diagram.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from pathlib import Path

os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=2")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from mgar_bayes.atomic import atomic_path, write_frame  # noqa: E402
from mgar_bayes.binning import AgeBins  # noqa: E402
from mgar_bayes.models import builder_for, load_model_spec  # noqa: E402

DISKS = ("thin", "thick")
P_EDGES = np.linspace(0.0, 1.0, 11)


def clean_sample(run: str | None, mock_stars: int, mock_seed: int) -> tuple[pd.DataFrame, pd.DataFrame, AgeBins]:
    """(clean sample with each star's true ``component``, truth per disk and bin, bins)."""
    from mgar_bayes.mock import MockConfig, generate_mock, load_mock

    if run:
        d = Path(run)
        info = json.loads((d / "run.json").read_text())
        if info.get("catalogue", {}).get("kind") != "simulated":
            raise SystemExit(f"{d}/run.json: not a run on a simulated catalogue (its truth is needed)")
        mock = load_mock(info["catalogue"]["path"])
        stars = pd.read_parquet(d / "stars.parquet")
        from mgar_bayes.config import BinningConfig

        bins = AgeBins.from_config(BinningConfig(**info["config"]["binning"]))
    else:
        from mgar_bayes.config import OrbitConfig, PipelineConfig
        from mgar_bayes.pipeline import run_pipeline

        mock = generate_mock(MockConfig(n_stars=mock_stars, seed=mock_seed))
        print(f"pipeline on a {mock_stars:,}-star mock (seed {mock_seed}) ...", flush=True)
        res = run_pipeline(mock.stars, PipelineConfig(orbits=OrbitConfig(n_mc=50, seed=3)))
        stars, bins = res.stars, res.bins
    comp = mock.truth_stars[["source_id", "component"]]
    stars = stars.merge(comp, on="source_id", how="left", validate="one_to_one")
    truth = mock.truth
    if not np.allclose(np.sort(truth["age_center"].unique()), bins.centers):
        raise SystemExit("the run's age bins are not those of the mock's truth_bins.csv")
    return stars, truth, bins


def _line(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    slope, icpt = np.polyfit(x, y, 1)
    return float(slope), float(np.mean(y))


def truth_summary(truth: pd.DataFrame) -> dict[str, dict[str, float]]:
    out = {}
    for disk in DISKS:
        t = truth[(truth["population"] == disk) & np.isfinite(truth["gradient_true"])]
        x = t["age_center"].to_numpy()
        rate, mean = _line(x, t["gradient_analytic"].to_numpy())
        rate_m, mean_m = _line(x, t["gradient_true"].to_numpy())
        out[disk] = {"flattening_rate": rate, "mean_gradient": mean,
                     "flattening_rate_measured": rate_m, "mean_gradient_measured": mean_m}  # fmt: skip
    return out


def _fit(spec, stars, bins, population, seed):
    m = builder_for(spec)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence is reported below
        m.fit(stars, bins, population=population, seed=seed)
    return m, time.perf_counter() - t0


def _convergence(idata, names) -> dict[str, float]:
    import arviz as az

    post = idata.posterior[[n for n in names if n in idata.posterior]]
    return {
        "max_rhat": float(az.rhat(post).to_array().max()),
        "min_ess_bulk": float(az.ess(post).to_array().min()),
        "divergences": int(idata.sample_stats["diverging"].sum()),
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--run", default=None, help="a `mgar run` output directory on a simulated catalogue")
    p.add_argument("--mock-stars", type=int, default=60_000, help="without --run: size of the mock")
    p.add_argument("--mock-seed", type=int, default=7)
    p.add_argument("--n-stars", type=int, default=6000, help="clean-sample stars drawn for the fits")
    p.add_argument("--seed", type=int, default=1, help="seed of the draw and of the samplers")
    p.add_argument("--draws", type=int, default=500, help="posterior draws per chain (2 chains)")
    p.add_argument("--tune", type=int, default=500)
    p.add_argument("--out", default="benchmarks/results/twodisk")
    a = p.parse_args(argv)
    out = Path(a.out)

    stars, truth, bins = clean_sample(a.run, a.mock_stars, a.mock_seed)
    n = min(a.n_stars, len(stars))
    sub = stars.sample(n, random_state=a.seed).sort_values("source_id").reset_index(drop=True)
    counts = sub["component"].value_counts().to_dict()
    hard = sub["population"].astype(str).value_counts().to_dict()
    print(f"{n:,} of {len(stars):,} clean stars: components {counts}; C25 selection {hard}", flush=True)
    sampler = {"draws": a.draws, "tune": a.tune, "chains": 2}
    t_spec = load_model_spec("twodisk").replace({"sampler": sampler})
    h_spec = load_model_spec("hierarchical").replace({"sampler": sampler})
    truth_s = truth_summary(truth)

    fits, seconds, conv = {}, {}, {}
    for disk in DISKS:
        fits[("twodisk", disk)], s = _fit(t_spec, sub, bins, disk, a.seed)
        seconds[("twodisk", disk)] = s
    conv["twodisk"] = _convergence(fits[("twodisk", "thin")].idata, ["gradient", "trend_slope", "trend_intercept",
                                                                     "trend_scatter", "afe_at_pivot", "thin_fraction"])
    for disk in DISKS:
        pure = sub[sub["population"].astype(str) == disk]
        fits[("hierarchical", disk)], seconds[("hierarchical", disk)] = _fit(h_spec, pure, bins, disk, a.seed)
        conv[f"hierarchical {disk}"] = _convergence(fits[("hierarchical", disk)].idata,
                                                    ["gradient", "trend_slope", "trend_intercept", "trend_scatter"])
    print(f"fits: {', '.join(f'{m} {d} {s:.0f} s' for (m, d), s in seconds.items())}", flush=True)

    rows, bin_rows = [], []
    for disk in DISKS:
        t_bins = truth[truth["population"] == disk].set_index("age_center")
        for model in ("twodisk", "hierarchical"):
            f = fits[(model, disk)]
            tab = f.gradient_table()
            n_stars = int(tab["n_stars"].sum())
            for q, post in (("flattening_rate", f.flattening_rate()), ("mean_gradient", f.mean_gradient())):
                tr = truth_s[disk][q]
                rows.append({"disk": disk, "quantity": q, "model": model, "n_stars": n_stars, "truth": tr,
                             "truth_measured": truth_s[disk][f"{q}_measured"], "mean": post["mean"], "sd": post["sd"],
                             "z": (post["mean"] - tr) / post["sd"]})  # fmt: skip
            for r in tab.to_dict("records"):
                tb = t_bins.loc[r["age_center"]]
                bin_rows.append({"disk": disk, "model": model, "age_center": r["age_center"], "n_stars": r["n_stars"],
                                 "gradient": r["gradient"], "gradient_err": r["gradient_err"],
                                 "truth": tb["gradient_analytic"], "truth_measured": tb["gradient_true"],
                                 "r_hat": r["r_hat"]})  # fmt: skip
    rec = pd.DataFrame(rows)
    sd_pure = rec[rec.model == "hierarchical"].set_index(["disk", "quantity"])["sd"]
    rec["sd_over_pure"] = [r.sd / sd_pure.loc[(r.disk, r.quantity)] for r in rec.itertuples()]
    rec["within_1sd"] = rec["z"].abs() <= 1

    mem = fits[("twodisk", "thin")].membership()
    comp = sub.set_index(sub["source_id"].astype(str))["component"]
    is_thin = comp.loc[mem["source_id"].astype(str)].to_numpy() == "thin"
    cut = pd.cut(mem["p_thin"], P_EDGES, include_lowest=True)
    rel = (pd.DataFrame({"p": mem["p_thin"].to_numpy(), "thin": is_thin})
           .groupby(cut, observed=True).agg(n=("p", "size"), mean_p_thin=("p", "mean"), thin_fraction=("thin", "mean")))  # fmt: skip
    rel["thin_fraction_se"] = np.sqrt(rel["thin_fraction"] * (1 - rel["thin_fraction"]) / rel["n"])
    rel.index = [f"{iv.left:.1f}-{iv.right:.1f}" for iv in rel.index]
    rel.index.name = "p_thin_bin"
    accuracy = float(((mem["p_thin"].to_numpy() > 0.5) == is_thin).mean())
    hard_labels = sub.set_index(sub["source_id"].astype(str))["population"].astype(str)

    write_frame(rec, out / "recovery.csv")
    write_frame(pd.DataFrame(bin_rows), out / "bins.csv")
    write_frame(rel.reset_index(), out / "membership.csv")
    _plot(pd.DataFrame(bin_rows), fits, rel, bins, truth, out / "twodisk_recovery.png")

    pd.set_option("display.width", 160)
    print("\nflattening rate [dex/kpc/Gyr] and mean gradient [dex/kpc] against the recipe's truth:")
    print(rec.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    print("\nconvergence:", json.dumps(conv))
    print("\nmembership reliability (stars binned by posterior p_thin; truly thin fraction):")
    print(rel.to_string(float_format=lambda v: f"{v:.3f}"))
    print(f"p_thin > 0.5 is the true disk for {accuracy:.1%} of the stars; "
          f"C25's hard selection labels {(hard_labels != '').mean():.1%} of them")  # fmt: skip
    print(f"wrote {out}/recovery.csv, bins.csv, membership.csv, twodisk_recovery.png")
    return 0


def _plot(bins_tab: pd.DataFrame, fits, rel: pd.DataFrame, bins: AgeBins, truth: pd.DataFrame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.9))
    ages = np.linspace(bins.edges[0], bins.edges[-1], 60)
    for ax, disk in zip(axes[:2], DISKS, strict=True):
        t = truth[truth["population"] == disk]
        ax.plot(t["age_center"], t["gradient_analytic"], "k-", lw=1.5, label="truth (recipe)")
        ax.plot(t["age_center"], t["gradient_true"], "kx", ms=5, label="truth (simulated stars)")
        for k, (model, colour, label) in enumerate((("twodisk", "C0", "twodisk (every star)"),
                                                     ("hierarchical", "C3", "hierarchical (C25 pure sample)"))):  # fmt: skip
            b = bins_tab[(bins_tab.disk == disk) & (bins_tab.model == model)]
            ax.errorbar(b["age_center"] + (k - 0.5) * 0.18, b["gradient"], yerr=b["gradient_err"], fmt="o",
                        color=colour, ms=4, capsize=2, label=label)  # fmt: skip
            band = fits[(model, disk)].band(ages)
            ax.fill_between(ages, band["hdi_lo"], band["hdi_hi"], color=colour, alpha=0.18, lw=0)
        ax.set_xlabel("age [Gyr]")
        ax.set_ylabel(r"d[Fe/H]/dR$_g$ [dex/kpc]")
        ax.set_title(f"{disk} disk")
        if disk == "thin":
            ax.legend(fontsize=7, loc="lower right")
    ax = axes[2]
    mid = rel["mean_p_thin"].to_numpy()
    ax.plot([0, 1], [0, 1], color="0.5", lw=0.8)
    ax.errorbar(mid, rel["thin_fraction"], yerr=2 * rel["thin_fraction_se"], fmt="o", color="C0", capsize=2)
    for x, y, nn in zip(mid, rel["thin_fraction"], rel["n"], strict=True):
        ax.annotate(f"{nn}", (x, y), textcoords="offset points", xytext=(4, -10), fontsize=7)
    ax.set_xlabel(r"posterior p$_{thin}$ (mean in bin)")
    ax.set_ylabel("truly thin fraction (±2 se)")
    ax.set_title("membership reliability (n stars)")
    ax.set_xlim(-0.02, 1.02)
    ax.set_ylim(-0.02, 1.02)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)


if __name__ == "__main__":
    sys.exit(main())
