"""Partitioned preprocessing (HATS via LSDB, Parquet datasets) on Dask gives the in-memory answer."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("lsdb")
pytest.importorskip("distributed")

import lsdb  # noqa: E402

from mgar_bayes.cli import main  # noqa: E402
from mgar_bayes.config import OrbitConfig, PipelineConfig  # noqa: E402
from mgar_bayes.mock import MockConfig, generate_mock  # noqa: E402
from mgar_bayes.partitioned import (  # noqa: E402
    crossmatch_hats,
    dask_client,
    is_partitioned,
    open_partitioned,
    run_partitioned,
)
from mgar_bayes.pipeline import PipelineError, _canonical_order, run_pipeline  # noqa: E402
from mgar_bayes.reports import reusable_run  # noqa: E402
from mgar_bayes.schema import CatalogueError  # noqa: E402

CFG = PipelineConfig(orbits=OrbitConfig(n_mc=20, seed=11))
CONFIG_TOML = "[orbits]\nn_mc = 20\nseed = 11\n"


@pytest.fixture(scope="module")
def catalogue():
    """3,000 simulated stars (seeded), some of them observed twice (for the duplicate cut)."""
    stars = generate_mock(MockConfig(n_stars=3000, seed=21)).stars
    # 30 second observations 1 arcsec from the first, other ids, lower snr: the cut must drop them
    twins = stars.iloc[::100].copy()
    twins["source_id"] = twins["source_id"] + 10_000_000
    twins["dec"] = twins["dec"] + 1.0 / 3600.0
    twins["snr"] = twins["snr"] - 1.0
    return pd.concat([stars, twins], ignore_index=True)


@pytest.fixture(scope="module")
def reference(catalogue):
    """The in-memory route."""
    return run_pipeline(catalogue, CFG)


@pytest.fixture(scope="module")
def cluster():
    """The 2-worker local cluster of ``--workers 2`` (one thread each), shared by this module's tests."""
    with dask_client(workers=2) as client:
        assert len(client.scheduler_info(n_workers=-1)["workers"]) == 2
        yield client


def _write_parquet_dataset(table: pd.DataFrame, d, n_parts: int, seed: int):
    """``table`` shuffled and split into ``n_parts`` uneven Parquet files."""
    d.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    shuffled = table.iloc[rng.permutation(len(table))].reset_index(drop=True)
    cuts = np.sort(rng.choice(np.arange(1, len(table)), n_parts - 1, replace=False))
    for i, idx in enumerate(np.split(np.arange(len(table)), cuts)):
        shuffled.iloc[idx].to_parquet(d / f"chunk{i:03d}.parquet", index=False)
    return d


def _write_hats(table: pd.DataFrame, d, rows: int):
    cat = lsdb.from_dataframe(
        table, ra_column="ra", dec_column="dec", partition_rows=rows, margin_threshold=None
    )
    cat.write_catalog(d, catalog_name="stars", overwrite=True, progress_bar=False)
    return d


def _selected(res):
    """The in-memory clean stars of the analysed populations, as a partitioned run returns them."""
    s = res.stars[res.stars["population"].isin(list(res.config.selection.populations))]
    return s.reset_index(drop=True).assign(population=lambda t: t["population"].astype(str))


def _same_result(res, ref):
    pd.testing.assert_frame_equal(res.stars, _selected(ref), check_dtype=False)
    pd.testing.assert_frame_equal(res.fits, ref.fits)
    pd.testing.assert_frame_equal(res.cutflow, ref.cutflow)
    assert res.trend == ref.trend
    assert res.info["n_clean"] == ref.info["n_clean"] and res.info["n_input"] == ref.info["n_input"]


@pytest.mark.parametrize("n_parts, seed", [(1, 0), (3, 1), (8, 2)])
def test_any_split_gives_the_in_memory_stars_cutflow_and_fits(
    catalogue, reference, tmp_path, n_parts, seed
):
    """The same stars in 1, 3 or 8 shuffled Parquet files: bit-identical clean sample, cut-flow, OLS/ODR."""
    d = _write_parquet_dataset(catalogue, tmp_path / "cat", n_parts, seed)
    assert is_partitioned(d)
    res = run_partitioned(d, CFG, stars_path=tmp_path / "out" / "stars.parquet")
    _same_result(res, reference)
    # the duplicate cut was decided over all files: every twin (in whatever file) is gone
    dup = reference.cutflow.set_index("cut").loc["duplicates", "n_removed"]
    assert dup >= 30 and res.cutflow.set_index("cut").loc["duplicates", "n_removed"] == dup
    # the written clean sample is the in-memory one, star for star
    written = pd.read_parquet(tmp_path / "out" / "stars.parquet")
    ref = reference.stars.reset_index(drop=True).assign(
        population=lambda t: t["population"].astype(str)
    )
    pd.testing.assert_frame_equal(
        _canonical_order(written).reset_index(drop=True), ref, check_dtype=False
    )
    files = sorted(p.name for p in (tmp_path / "out" / "stars.parquet").iterdir())
    assert 1 <= len(files) <= n_parts and all(f.startswith("part.") for f in files)


def test_hats_catalogue_on_two_workers_through_mgar_run(catalogue, cluster, tmp_path, capsys):
    """A HATS catalogue written by LSDB, run by ``mgar run`` on a 2-worker cluster (``--scheduler``)."""
    single = tmp_path / "catalogue.parquet"
    catalogue.to_parquet(single, index=False)
    hats = _write_hats(catalogue, tmp_path / "hats", rows=1200)
    assert open_partitioned(hats).n_partitions >= 3
    cfg = tmp_path / "cfg.toml"
    cfg.write_text(CONFIG_TOML)
    common = ["--config", str(cfg), "--no-figures", "--no-progress"]
    assert main(["run", str(single), "--out", str(tmp_path / "mem"), *common]) == 0
    addr = cluster.scheduler.address
    assert (
        main(["run", str(hats), "--out", str(tmp_path / "part"), "--scheduler", addr, *common]) == 0
    )
    mem, part = tmp_path / "mem", tmp_path / "part"
    for name in ("mgar_ols.csv", "cutflow.csv"):
        pd.testing.assert_frame_equal(pd.read_csv(part / name), pd.read_csv(mem / name))
    a = _canonical_order(pd.read_parquet(part / "stars.parquet")).reset_index(drop=True)
    b = pd.read_parquet(mem / "stars.parquet")
    pd.testing.assert_frame_equal(a, b, check_dtype=False)
    summary = json.loads((part / "summary.json").read_text())
    assert summary["orbits"]["partitioned"]["workers"] == 2
    assert summary["populations"] == json.loads((mem / "summary.json").read_text())["populations"]
    # the run is complete, its partitioned clean sample hashed: mgar fit may re-use it
    record = json.loads((part / "run.json").read_text())
    assert record["status"] == "complete" and len(record["outputs"]["stars.parquet"]) == 64
    assert reusable_run(part, record) == (True, "")
    (
        part / "stars.parquet" / sorted(p.name for p in (part / "stars.parquet").iterdir())[0]
    ).write_bytes(b"x")
    assert reusable_run(part, record)[0] is False
    # the same directory, overwritten by an in-memory run: one file again
    assert main(["run", str(single), "--out", str(part), "--overwrite", *common]) == 0
    assert (part / "stars.parquet").is_file()


@pytest.mark.slow
def test_local_cluster_from_workers_option(catalogue, reference, tmp_path, capsys):
    """``mgar run --workers 2`` starts (and stops) its own local cluster; a progress display of partitions.

    Slow: a second cluster's worker start-up (the module's cluster covers the same code in the
    default run).
    """
    d = _write_parquet_dataset(catalogue, tmp_path / "cat", 4, seed=5)
    cfg = tmp_path / "cfg.toml"
    cfg.write_text(CONFIG_TOML)
    assert main(["run", str(d), "--out", str(tmp_path / "o"), "--config", str(cfg), "--workers", "2",
                 "--no-figures"]) == 0  # fmt: skip
    out, err = capsys.readouterr()
    assert "4 partitions, on a local cluster of 2 worker(s)" in out
    assert "partitions: 100%" in err  # tqdm's bar over the partitions
    fits = pd.read_csv(tmp_path / "o" / "mgar_ols.csv")
    np.testing.assert_array_equal(
        fits["gradient"].to_numpy(), reference.fits["gradient"].to_numpy()
    )


def test_crossmatch_of_a_spectroscopic_table_with_a_hats_catalogue(catalogue, tmp_path):
    """Spectroscopic columns joined to 'Gaia' astrometry in a HATS catalogue by position."""
    astrometric = ["distance", "distance_err", "pmra", "pmra_err", "pmdec", "pmdec_err"]
    spectro = catalogue.drop(columns=astrometric)
    rng = np.random.default_rng(3)
    gaia = catalogue[["ra", "dec", *astrometric]].rename(
        columns={"pmra_err": "pmra_error", "pmdec_err": "pmdec_error"}
    )
    gaia.insert(0, "gaia_id", np.arange(len(gaia)) + 5_000_000)
    # Gaia's positions 0.2 arcsec off the spectroscopic ones, and a sky of unrelated sources
    gaia["dec"] = gaia["dec"] + rng.uniform(-0.2, 0.2, len(gaia)) / 3600.0
    field = pd.DataFrame({"gaia_id": np.arange(2000), "ra": rng.uniform(0, 360, 2000),
                          "dec": np.degrees(np.arcsin(rng.uniform(-1, 1, 2000)))})  # fmt: skip
    for c in astrometric:
        field[c.replace("_err", "_error") if c.startswith("pm") else c] = 1.0
    _write_hats(pd.concat([gaia, field], ignore_index=True), tmp_path / "gaia", rows=2500)
    rename = {"distance": "distance", "distance_err": "distance_err", "pmra": "pmra", "pmra_error": "pmra_err",
              "pmdec": "pmdec", "pmdec_error": "pmdec_err"}  # fmt: skip
    matched = crossmatch_hats(spectro, tmp_path / "gaia", radius_arcsec=1.0, rename=rename)
    # written as HATS (the cross-match runs once, here), a partitioned catalogue mgar run reads
    matched.write_catalog(
        tmp_path / "matched", catalog_name="matched", overwrite=True, progress_bar=False
    )
    cat = open_partitioned(tmp_path / "matched")
    assert cat.kind == "hats" and cat.n_rows == len(catalogue)
    assert {"source_id", "feh", "pmra", "pmra_err", "distance", "rv"} <= set(cat.columns)
    table = lsdb.open_catalog(tmp_path / "matched").compute().reset_index(drop=True)
    assert len(table) == len(catalogue)
    assert (table["_dist_arcsec"] <= 0.2 + 1e-6).all()
    back = table.set_index("source_id").loc[catalogue["source_id"]]
    np.testing.assert_array_equal(back["pmra"].to_numpy(), catalogue["pmra"].to_numpy())
    np.testing.assert_array_equal(back["pmdec_err"].to_numpy(), catalogue["pmdec_err"].to_numpy())
    assert (back["gaia_id"].to_numpy() == np.arange(len(catalogue)) + 5_000_000).all()


@pytest.fixture()
def separate_scheduler(tmp_path):
    """A scheduler and one worker in their own processes, as on a cluster (``dask scheduler``/``dask worker``)."""
    import shutil
    import subprocess
    import sys
    import time

    dask_cli = shutil.which("dask", path=str(Path(sys.executable).parent)) or shutil.which("dask")
    if dask_cli is None:
        pytest.skip("the dask command-line tool is not installed")
    sched_file = tmp_path / "scheduler.json"
    procs = [subprocess.Popen([dask_cli, "scheduler", "--scheduler-file", str(sched_file), "--port", "0",
                               "--dashboard-address", ":0", "--no-show"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]  # fmt: skip
    try:
        for _ in range(300):
            if sched_file.exists() and sched_file.stat().st_size:
                break
            time.sleep(0.1)
        addr = json.loads(sched_file.read_text())["address"]
        procs.append(subprocess.Popen([dask_cli, "worker", addr, "--nthreads", "1", "--nworkers", "1",
                                       "--no-dashboard", "--local-directory", str(tmp_path / "worker")],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))  # fmt: skip
        from distributed import Client

        with Client(addr, timeout="30s") as c:
            c.wait_for_workers(1, timeout=60)
        yield addr
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()


def test_mgar_run_on_a_scheduler_in_another_process(catalogue, reference, separate_scheduler, tmp_path):
    """``--scheduler ADDRESS`` of a scheduler this process did not start: the in-memory answer."""
    d = _write_parquet_dataset(catalogue, tmp_path / "cat", n_parts=3, seed=4)
    cfg = tmp_path / "cfg.toml"
    cfg.write_text(CONFIG_TOML)
    out = tmp_path / "out"
    args = ["run", str(d), "--out", str(out), "--config", str(cfg), "--no-figures", "--no-progress",
            "--scheduler", separate_scheduler]  # fmt: skip
    assert main(args) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["orbits"]["partitioned"]["workers"] == 1
    a = _canonical_order(pd.read_parquet(out / "stars.parquet")).reset_index(drop=True)
    ref = reference.stars.reset_index(drop=True).assign(population=lambda t: t["population"].astype(str))
    pd.testing.assert_frame_equal(a, ref, check_dtype=False)
    fits = pd.read_csv(out / "mgar_ols.csv")
    np.testing.assert_array_equal(fits["gradient"].to_numpy(), reference.fits["gradient"].to_numpy())


def test_robustness_units_of_work_on_a_dask_client(catalogue, cluster):
    """The grid's preprocessing jobs run on the cluster's workers and give the local table."""
    from mgar_bayes.robustness import default_variants, run_robustness

    base = CFG
    variants = [
        v for v in default_variants(base) if v.name in ("baseline", "Zmax only", "R0=7", "v0=260")
    ]
    local, _ = run_robustness(catalogue, variants, n_jobs=1)
    remote, _ = run_robustness(catalogue, variants, executor=cluster.get_executor())
    pd.testing.assert_frame_equal(local, remote)
    assert set(local["variant"]) == {"baseline", "Zmax only", "R0=7", "v0=260"}


def test_robustness_bayes_fits_run_on_the_workers(catalogue, cluster):
    """With ``--method bayes`` every variant's fits are a unit of work on the cluster: same table as here."""
    from distributed import get_task_stream

    from mgar_bayes.robustness import default_variants, run_robustness
    from mgar_bayes.selection import population_selections

    # the thin disk in three wide bins, short chains where a bin falls back to NUTS: the point is
    # where the fits run
    base = CFG.replace(binning={"age_min": 1.0, "age_max": 10.0, "n_bins": 3})
    thin = {"thin": population_selections(base.selection)["thin"]}
    variants = [dataclasses.replace(v, selections=thin) for v in default_variants(base)
                if v.name in ("baseline", "R0=7")]  # fmt: skip
    kw = {"methods": ("bayes",), "bayes_method": "laplace", "seed": 3,
          "bayes_overrides": {"sampler": {"draws": 200, "tune": 200}}}  # fmt: skip
    local, _ = run_robustness(catalogue, variants, n_jobs=1, **kw)
    with get_task_stream(cluster) as ts:
        remote, _ = run_robustness(catalogue, variants, executor=cluster.get_executor(), **kw)
    ran = [t["key"] for t in ts.data]
    names = [k if isinstance(k, str) else k[0] for k in ran]
    assert sum("_fit_job" in n for n in names) == len(variants), names
    assert sum("_preprocess_job" in n for n in names) == 2, names
    pd.testing.assert_frame_equal(local, remote)
    assert set(local["method"]) == {"bayes"} and local["gradient"].notna().sum() == 6


def test_duplicated_source_id_across_partitions_is_named(catalogue, cluster, tmp_path, capsys):
    d = tmp_path / "cat"
    d.mkdir()
    catalogue.iloc[:2000].to_parquet(d / "a.parquet", index=False)
    clash = catalogue.iloc[2000:2100].copy()
    clash.loc[clash.index[0], "source_id"] = catalogue["source_id"].iloc[5]
    clash.to_parquet(d / "b.parquet", index=False)
    with pytest.raises(
        CatalogueError, match=rf"duplicated source_id .*{catalogue['source_id'].iloc[5]}"
    ):
        run_partitioned(d, CFG)
    addr = cluster.scheduler.address
    assert (
        main(["run", str(d), "--out", str(tmp_path / "o"), "--scheduler", addr, "--no-progress"])
        == 2
    )
    assert "duplicated source_id across the catalogue" in capsys.readouterr().err


def test_bad_partition_and_unsupported_settings_are_clear(catalogue, tmp_path, capsys):
    d = tmp_path / "cat"
    d.mkdir()
    catalogue.iloc[:1000].to_parquet(d / "a.parquet", index=False)
    bad = catalogue.iloc[1000:1100].copy()
    bad["feh_err"] = bad["feh_err"].where(bad.index != 1005, -0.1)
    bad.to_parquet(d / "b.parquet", index=False)
    with pytest.raises(CatalogueError, match=r"partition 1.*'feh_err' must be > 0"):
        run_partitioned(d, CFG)
    # units are judged on the whole catalogue (here: distances in pc, in every file)
    pc = tmp_path / "pc"
    pc.mkdir()
    in_pc = catalogue.iloc[:1000].assign(distance=lambda t: t["distance"] * 1000.0)
    in_pc.iloc[:500].to_parquet(pc / "a.parquet", index=False)
    in_pc.iloc[500:].to_parquet(pc / "b.parquet", index=False)
    with pytest.raises(CatalogueError, match=r"pc.*column 'distance' has a median"):
        run_partitioned(pc, CFG)
    with pytest.raises(PipelineError, match="staeckel_delta"):
        run_partitioned(d, CFG.replace(orbits={"staeckel_delta": "median"}))
    # a cut that empties the whole sample is caught on the summed cut-flow
    with pytest.raises(PipelineError, match=r"cut '\[Fe/H\]'"):
        run_partitioned(tmp_path / "cat" / "a.parquet", CFG.replace(cuts={"min_feh": 5.0}))
    assert (
        main(
            ["run", str(d), "--out", str(tmp_path / "o"), "--column-map", "m.toml", "--no-progress"]
        )
        == 2
    )
    assert "--column-map apply to single files" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert (
        main(["run", str(tmp_path / "empty"), "--out", str(tmp_path / "o2"), "--no-progress"]) == 2
    )
    assert "neither a HATS catalogue" in capsys.readouterr().err
    assert main(["run", str(d), "--out", str(tmp_path / "o3"), "--workers", "2", "--scheduler", "tcp://x:1",
                 "--no-progress"]) == 2  # fmt: skip
    assert "give one of them" in capsys.readouterr().err
