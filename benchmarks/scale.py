"""Survey-scale preprocessing: a V21-size catalogue partition by partition on local Dask workers.

Prints, in one run:
- the in-memory route (``read`` + :func:`~mgar_bayes.pipeline.run_pipeline`) on a
  250,000-star simulated catalogue: stars/s and the peak memory of the process;
- the partitioned route (:func:`~mgar_bayes.partitioned.run_partitioned`: first
  pass, every partition's cuts, frames, 100 Monte-Carlo realisations, R_g, Z_max,
  selections, the partitioned ``stars.parquet``, the fits) on 1 and on 2 local
  workers over the same 250,000 stars: stars/s, the 1 -> 2 worker speed-up, and
  whether the fits and cut-flow are those of the in-memory route;
- the V21-size catalogue (default 4 x 10^6 stars; cut, with a NOTE, to what fits
  ``--budget-minutes`` at the 2-worker rate just measured) on 2 workers: wall time,
  stars/s, and the peak resident memory of the whole process tree (client, scheduler,
  nannies, workers; sampled every 0.2 s, shared pages counted once per process,
  so an upper bound);
- the time extrapolated to 3 x 10^7 stars on N workers, from the measured
  per-worker rate and the measured 2-worker efficiency (an assumption: that
  efficiency holds at N, on machines like this one).

The catalogue is the bundled simulation (``mgar_bayes.mock``) of ``--n-base`` stars,
repeated with new ``source_id`` (so new Monte-Carlo draws) and positions moved by
10 arcsec per copy (so the duplicate cut keeps them), written as a Parquet dataset
of ``--partition`` stars per file. Timings on a shared machine vary with its load:
compare the figures of one run with each other.

Usage: python benchmarks/scale.py [--n-stars 4000000] [--n-base 250000] [--partition 125000]
                                  [--partition-small 62500] [--budget-minutes 15] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import psutil

from mgar_bayes.config import PipelineConfig
from mgar_bayes.mock import MockConfig, generate_mock
from mgar_bayes.partitioned import dask_client, run_partitioned
from mgar_bayes.pipeline import run_pipeline


class PeakRSS:
    """Peak of the summed resident memory of this process and all its descendants [bytes]."""

    def __init__(self, interval: float = 0.2):
        self.interval, self.peak, self._stop = interval, 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> int:
        me = psutil.Process()
        total = 0
        for p in [me, *me.children(recursive=True)]:
            try:
                total += p.memory_info().rss
            except psutil.Error:
                pass
        return total

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self._sample())
            self._stop.wait(self.interval)

    def __enter__(self):
        self.peak = self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._sample())


def write_dataset(base: pd.DataFrame, n_stars: int, partition: int, d: Path) -> int:
    """``n_stars`` stars from copies of ``base`` as Parquet files of ``partition`` stars."""
    d.mkdir(parents=True, exist_ok=True)
    n_copies = -(-n_stars // len(base))
    written, k = 0, 0
    for c in range(n_copies):
        copy = base.copy()
        copy["source_id"] = copy["source_id"].to_numpy() + c * 10**9
        copy["dec"] = np.clip(copy["dec"].to_numpy() + c * 10.0 / 3600.0, -90.0, 90.0)
        for s in range(0, len(copy), partition):
            part = copy.iloc[s : min(s + partition, len(copy), s + n_stars - written)]
            if len(part) == 0:
                break
            part.to_parquet(d / f"part{k:04d}.parquet", index=False)
            written += len(part)
            k += 1
        if written >= n_stars:
            break
    return written


def _warm(sample: pd.DataFrame, cfg: PipelineConfig) -> None:
    """Imports and the potential's tables on a worker, once, before the timed run."""
    from mgar_bayes.pipeline import preprocess

    preprocess(sample, cfg)


def partitioned(path: Path, workers: int, cfg: PipelineConfig, out: Path, sample: pd.DataFrame):
    """Wall time of the start-up (cluster, imports, potential tables) and of the run, peak memory."""
    with PeakRSS() as mem:
        t0 = time.perf_counter()
        with dask_client(workers=workers) as client:
            client.run(_warm, sample, cfg)
            t_up = time.perf_counter() - t0
            t1 = time.perf_counter()
            res = run_partitioned(path, cfg, client=client, stars_path=out / "stars.parquet")
            wall = time.perf_counter() - t1
    shutil.rmtree(out, ignore_errors=True)
    return res, wall, t_up, mem.peak


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n-stars", type=int, default=4_000_000, help="V21-size catalogue")
    ap.add_argument(
        "--n-base", type=int, default=250_000, help="simulated stars; the in-memory reference"
    )
    ap.add_argument("--partition", type=int, default=125_000, help="stars per Parquet file")
    ap.add_argument(
        "--partition-small", type=int, default=62_500, help="stars per file of the speed-up runs"
    )
    ap.add_argument("--budget-minutes", type=float, default=15.0,
                    help="the large run is cut to what fits this budget at the measured 2-worker rate")  # fmt: skip
    ap.add_argument("--workdir", default=None, help="scratch directory (default: a temporary one)")
    args = ap.parse_args()
    work = Path(args.workdir or tempfile.mkdtemp(prefix="mgar-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    cfg = PipelineConfig()  # the papers' settings: 100 Monte-Carlo realisations, duplicate cut
    print(f"machine: {os.cpu_count()} cores, {psutil.virtual_memory().total / 2**30:.1f} GiB, "
          f"load average {os.getloadavg()[0]:.1f} at start; n_mc = {cfg.orbits.n_mc}")  # fmt: skip

    base = generate_mock(MockConfig(n_stars=args.n_base, seed=42)).stars
    single = work / "base.parquet"
    base.to_parquet(single, index=False)
    with PeakRSS() as mem:
        t0 = time.perf_counter()
        ref = run_pipeline(pd.read_parquet(single), cfg)
        t_mem = time.perf_counter() - t0
    rate_mem = args.n_base / t_mem
    print(f"in memory   {args.n_base:>10,d} stars: {t_mem:7.1f} s  {rate_mem:8,.0f} stars/s  "
          f"peak {mem.peak / 2**30:.2f} GiB (one process)")  # fmt: skip

    warm = base.iloc[:2000]
    # the same stars partitioned: the 1 -> 2 worker speed-up, and the in-memory answer
    small = work / "small"
    n_small = write_dataset(base, args.n_base, args.partition_small, small)
    runs = {}
    for w in (1, 2):
        res, wall, t_up, peak = partitioned(small, w, cfg, work / f"out{w}", warm)
        runs[w] = wall
        equal = res.fits.equals(ref.fits) and res.cutflow.equals(ref.cutflow)
        print(f"partitioned {n_small:>10,d} stars, {w} worker(s): {wall:7.1f} s  {n_small / wall:8,.0f} stars/s  "
              f"(+ {t_up:.1f} s start-up: cluster, imports, potential tables)  peak {peak / 2**30:.2f} GiB "
              f"(process tree)  load {os.getloadavg()[0]:.1f}; same fits and cut-flow as in memory: {equal}")  # fmt: skip
    speedup = runs[1] / runs[2]
    print(f"speed-up 1 -> 2 workers: {speedup:.2f}x")

    # the V21-size run, or the largest that fits the time budget at the rate just measured
    rate2 = n_small / runs[2]
    fits_in = int(0.8 * rate2 * 60.0 * args.budget_minutes) // args.partition * args.partition
    n_big = args.n_stars if fits_in >= args.n_stars else max(fits_in, args.partition)
    if n_big < args.n_stars:
        print(f"NOTE: {args.n_stars:,d} stars do not fit in {args.budget_minutes:g} min at the {rate2:,.0f} "
              f"stars/s just measured on 2 workers (machine load {os.getloadavg()[0]:.1f}); running "
              f"{n_big:,d} stars instead")  # fmt: skip
    big = work / "big"
    shutil.rmtree(small, ignore_errors=True)
    n_big = write_dataset(base, n_big, args.partition, big)
    res, wall, t_up, peak = partitioned(big, 2, cfg, work / "outbig", warm)
    rate_big = n_big / wall
    print(
        f"partitioned {n_big:>10,d} stars, 2 workers: {wall:7.1f} s  {rate_big:8,.0f} stars/s  "
        f"(+ {t_up:.1f} s start-up; first pass {res.info['seconds_first_pass']:.1f} s, "
        f"{res.info['partitioned']['n_partitions']} partitions)  peak {peak / 2**30:.2f} GiB "
        f"(process tree; target < 4 GiB)  load {os.getloadavg()[0]:.1f}"
    )
    print(f"  clean {res.info['n_clean']:,d}, thin {res.info['n_thin']:,d}, thick {res.info['n_thick']:,d}; "
          f"thin ols rate {res.trend['thin']['ols']['rate']:+.5f} dex/kpc/Gyr")  # fmt: skip
    print(
        f"  stars/s partitioned (2 workers, {n_big:,d}) / in memory ({args.n_base:,d}): {rate_big / rate_mem:.2f}"
    )
    per_worker = n_small / runs[1]
    eff = speedup / 2.0
    print(f"extrapolated 3e7 stars (per-worker rate {per_worker:,.0f} stars/s, 2-worker efficiency {eff:.2f} "
          "assumed at N):")  # fmt: skip
    for n in (2, 8, 32, 128):
        t = 3e7 / (per_worker * n * eff)
        print(f"  N = {n:>3d} workers: {t / 60:8.1f} min")
    if args.workdir is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
