"""Preprocessing speed: our vectorised routes beside galpy's per-star routes.

Prints stars/s for
- frames + R_g with Monte-Carlo errors (100 realisations) + Z_max, on 10^5 stars;
- galpy per-star routes in the same run: full orbit integration for Z_max (C25's
  route), ``Orbit.rguiding``, and the Staeckel approximation with a fixed and a
  tabulated focal length, with the Z_max accuracy against integration;
- the interpolated L_z -> R_g table;
- ns per normal draw of the Monte-Carlo generator keyed by (source_id, seed)
  beside numpy's ``Generator.standard_normal``, on one chunk of draws;
and the target: a 250,000-star catalogue preprocessed end to end (cuts, frames,
Monte-Carlo errors, R_g, Z_max, selections) with its wall time and peak memory.

Usage: python benchmarks/preprocess.py [--n-stars 100000] [--n-target 250000]
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np

from mgar_bayes.config import GalaxyConfig, OrbitConfig, PipelineConfig
from mgar_bayes.mock import MockConfig, generate_mock
from mgar_bayes.orbits import (
    compute_orbits,
    keyed_normal,
    load_potential,
    rg_table,
    star_keys,
    zmax_integrate,
    zmax_staeckel,
)
from mgar_bayes.pipeline import preprocess


def timed(fn, *a, **k):
    t = time.perf_counter()
    out = fn(*a, **k)
    return out, time.perf_counter() - t


def ns_per_draw(fn, n_draws: int, repeat: int = 5) -> float:
    """Best of ``repeat`` timings of ``fn()`` [ns per draw] (the first call warms up)."""
    fn()
    best = min(timed(fn)[1] for _ in range(repeat))
    return 1e9 * best / n_draws


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n-stars", type=int, default=100_000)
    ap.add_argument("--n-target", type=int, default=250_000)
    ap.add_argument("--n-integrate", type=int, default=300)
    args = ap.parse_args()

    galaxy = GalaxyConfig()
    pot = load_potential(galaxy)
    print(f"# potential {pot.name} (ro = {pot.ro} kpc, vo = {pot.vo} km/s)")
    mock, t_mock = timed(generate_mock, MockConfig(n_stars=args.n_stars, seed=1))
    print(f"mock catalogue: {args.n_stars} stars generated in {t_mock:.1f} s")
    stars = mock.stars
    rows = []

    # ours: frames + MC(100) + R_g + Z_max (tabulated Staeckel)
    (_, info), t = timed(compute_orbits, stars, galaxy, OrbitConfig(n_mc=100))
    rows.append(("ours: frames + 100 MC + R_g + Z_max (all stars)", len(stars), t))

    truth = mock.truth_stars
    truth = truth[truth.component != "halo"]
    sub = truth.iloc[: args.n_integrate]
    a = [sub[c].to_numpy() for c in ("R", "v_R", "v_phi", "z", "v_z")]
    z_int, t = timed(zmax_integrate, pot, *a, phi=sub.phi.to_numpy(), t_gyr=5.0)
    rows.append(("galpy per-star orbit integration, Z_max (C25 route)", len(sub), t))

    from galpy.orbit import Orbit

    vxvv = np.stack([a[0] / pot.ro, a[1] / pot.vo, a[2] / pot.vo, a[3] / pot.ro, a[4] / pot.vo,
                     np.deg2rad(sub.phi.to_numpy())], axis=1)  # fmt: skip
    o = Orbit(vxvv)
    rg_ref, t = timed(o.rguiding, pot=pot.pot, use_physical=False)
    rows.append(("galpy Orbit.rguiding (per star)", len(sub), t))

    table = rg_table(galaxy)
    Lz = np.tile(truth.R.to_numpy() * truth.v_phi.to_numpy(), 10)
    table(Lz[:10])
    _, t = timed(table, Lz)
    rows.append(("ours: interpolated L_z -> R_g table", len(Lz), t))
    rg_err = np.max(np.abs(table(a[0] * a[2]) / (rg_ref * pot.ro) - 1))

    full = [truth[c].to_numpy() for c in ("R", "v_R", "v_phi", "z", "v_z")]
    acc = {}
    for label, delta in (("fixed focal length 3.5 kpc", 3.5), ("tabulated focal length", "tabulated")):
        zmax_staeckel(pot, *(x[:10] for x in full), delta=delta)  # warm the delta table
        _, t = timed(zmax_staeckel, pot, *full, delta=delta)
        rows.append((f"galpy actionAngleStaeckel, {label}", len(full[0]), t))
        z_st, _ = zmax_staeckel(pot, *a, delta=delta)
        acc[label] = np.percentile(np.abs(z_st / z_int - 1), [50, 95])

    # one Monte-Carlo chunk of one observable: chunk_size stars x n_mc draws
    orb = OrbitConfig()
    n_rows = min(orb.chunk_size, len(stars))
    keys = star_keys(stars["source_id"].iloc[:n_rows])
    rng = np.random.default_rng(orb.seed)
    n_draws = n_rows * orb.n_mc
    ns_keyed = ns_per_draw(lambda: keyed_normal(keys, orb.seed, "distance", orb.n_mc), n_draws)
    ns_numpy = ns_per_draw(lambda: rng.standard_normal((n_rows, orb.n_mc)), n_draws)

    print(f"\n{'route':58s} {'stars':>9s} {'seconds':>9s} {'stars/s':>12s}")
    for name, n, t in rows:
        print(f"{name:58s} {n:9d} {t:9.2f} {n / t:12.0f}")
    print(f"\nR_g table vs galpy rguiding: max relative difference {rg_err:.1e}")
    for label, (p50, p95) in acc.items():
        print(f"Z_max Staeckel ({label}) vs integration: median {100 * p50:.2f}%, 95th pct {100 * p95:.2f}%")
    print(f"normal draws ({n_rows} stars x {orb.n_mc}): keyed by (source_id, seed) {ns_keyed:.1f} ns/draw, "
          f"numpy Generator.standard_normal {ns_numpy:.1f} ns/draw ({ns_keyed / ns_numpy:.1f}x)")

    big = generate_mock(MockConfig(n_stars=args.n_target, seed=2)).stars
    (clean, flow, info), t = timed(preprocess, big, PipelineConfig())
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    print(f"\nTARGET: {args.n_target} stars preprocessed end to end (cuts, frames, 100 MC, R_g, Z_max, "
          f"selection) in {t:.1f} s ({args.n_target / t:.0f} stars/s); orbit stage {info['seconds_orbits']:.1f} s; "
          f"peak memory of this process {peak:.2f} GB (target: < 60 s, < 8 GB)")


if __name__ == "__main__":
    main()
