"""Preprocessing a survey-scale catalogue partition by partition on Dask.

A catalogue too large for one DataFrame is read as a HATS catalogue (HEALPix
partitions, read with LSDB) or a partitioned Parquet dataset (a directory of
Parquet files, read with ``dask.dataframe``) and processed one partition at a
time on a ``dask.distributed`` cluster:

1. a first pass reads only ``source_id``, ``ra``, ``dec`` and ``snr`` of every
   star: duplicated identifiers are refused and the duplicate-observation cut
   (V21 Sect. 2.2; a star's twin may lie in another partition) is decided over
   the whole catalogue. It holds 32 bytes per star on the client
   (``[cuts] duplicate_radius = "off"`` skips the positions);
2. every partition then goes through :func:`preprocess_partition`, the
   in-memory pipeline's stage (validation, cuts, frames, the Monte-Carlo
   errors, R_g, Z_max, populations, age bins) on that partition alone, so a
   worker holds one partition and its Monte-Carlo realisations, never the
   catalogue. Its clean sample is written to ``stars.parquet/part.NNNNN.parquet``
   and only its cut-flow counts and the stars selected into the analysed
   populations go back to the client;
3. the client sums the cut-flows (and stops, as the in-memory route does, on a
   cut that empties the whole sample), sorts the selected stars by
   ``source_id`` and fits them as :func:`~mgar_bayes.pipeline.run_pipeline` does.

Every per-star quantity depends on the star alone: its Monte-Carlo draws are
keyed by (seed, ``source_id``) (:func:`~mgar_bayes.orbits.keyed_normal`), the
duplicate verdicts are global, and the fitted stars are put in ``source_id``
order. So a catalogue gives the same clean sample, cut-flow and fits in memory
and partitioned, for any partitioning and any number of workers.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import shutil
import tempfile
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .binning import AgeBins
from .config import PipelineConfig
from .cuts import CutFlow, phase_space_cuts, unique_positions
from .ols import fit_bins, mgar_trend
from .pipeline import (
    PipelineError,
    PipelineResult,
    _canonical_order,
    _check_fitted,
    _check_flow,
    _cutflow_with_populations,
    _preprocess,
    resolve_derived_columns,
)
from .schema import CatalogueError

__all__ = [
    "PartitionedCatalogue",
    "PartitionOutput",
    "crossmatch_hats",
    "dask_client",
    "is_partitioned",
    "open_partitioned",
    "preprocess_partition",
    "run_partitioned",
]

log = logging.getLogger(__name__)

# a HATS catalogue (or a collection of one with its margins) holds one of these at its root
_HATS_MARKERS = ("collection.properties", "hats.properties", "properties")
_POSITION_COLUMNS = ("source_id", "ra", "dec", "snr")
# the unit check reads the medians of a keyed sample of this many stars (all of a smaller catalogue)
UNIT_SAMPLE = 100_000


def _scale_missing(what: str) -> ImportError:
    return ImportError(
        f"{what} needs the optional dependencies of mgar_bayes[scale] (lsdb, hats, dask, distributed): "
        'pip install -e ".[scale]"'
    )


def is_partitioned(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a partitioned catalogue: a directory (HATS or Parquet dataset) or a glob."""
    text = str(path)
    return Path(text).is_dir() or any(ch in text for ch in "*?[")


def _is_hats(path: Path) -> bool:
    return path.is_dir() and any((path / m).is_file() for m in _HATS_MARKERS)


@dataclass
class PartitionedCatalogue:
    """A catalogue on disk in partitions, opened lazily (no star is read until a pass).

    Attributes
    ----------
    path : str
        The HATS catalogue directory, Parquet dataset directory or glob.
    kind : str
        ``"hats"`` or ``"parquet"``.
    columns : tuple of str
        Column names of the stored table.
    labels : list of str
        One name per partition, for messages (its HEALPix pixel or number).
    n_rows : int or None
        Stars in the catalogue, from its metadata.
    """

    path: str
    kind: str
    columns: tuple[str, ...]
    labels: list[str] = field(default_factory=list)
    n_rows: int | None = None

    @property
    def n_partitions(self) -> int:
        return len(self.labels)

    def delayed(self, columns: list[str] | None = None) -> list:
        """One ``dask.delayed`` object per partition, of the given columns (default all)."""
        if self.kind == "hats":
            import lsdb

            return lsdb.open_catalog(self.path, columns=columns or "all").to_delayed()
        import dask.dataframe as dd

        return dd.read_parquet(self.path, columns=columns).to_delayed()

    def provenance(self) -> dict:
        """Kind, path, partitions and a SHA-256 over the stored files (names and bytes)."""
        return {"kind": self.kind, "path": self.path, "n_partitions": self.n_partitions,
                "sha256": dataset_sha256(self.path)}  # fmt: skip


def dataset_sha256(path: str | os.PathLike) -> str:
    """SHA-256 over every file of a directory or glob: sorted relative names and their bytes."""
    import glob

    text = str(path)
    root = Path(text)
    if root.is_dir():
        files = sorted(p for p in root.rglob("*") if p.is_file())
        names = [p.relative_to(root).as_posix() for p in files]
    else:
        files = sorted(Path(p) for p in glob.glob(text) if Path(p).is_file())
        names = [p.name for p in files]
    h = hashlib.sha256()
    for name, p in zip(names, files, strict=True):
        h.update(name.encode() + b"\0")
        with p.open("rb") as fh:
            while block := fh.read(1 << 20):
                h.update(block)
    return h.hexdigest()


def open_partitioned(path: str | os.PathLike) -> PartitionedCatalogue:
    """Open a HATS catalogue (with LSDB) or a Parquet dataset (directory or glob) lazily.

    Raises
    ------
    FileNotFoundError
        Nothing at ``path``.
    CatalogueError
        A directory that is neither a HATS catalogue nor holds Parquet files,
        or one that LSDB / pyarrow cannot read.
    """
    import glob

    text = str(path)
    root = Path(text)
    if root.is_dir() and _is_hats(root):
        try:
            import lsdb
        except ImportError as exc:
            raise _scale_missing("reading a HATS catalogue") from exc
        try:
            cat = lsdb.open_catalog(text)
        except Exception as exc:  # any reader's complaint becomes one message naming the path
            raise CatalogueError(
                f"{text}: cannot read as a HATS catalogue: {type(exc).__name__}: {exc}"
            ) from exc
        labels = [f"{text} HEALPix {p}" for p in cat.get_healpix_pixels()]
        cols = tuple(str(c) for c in cat.all_columns if c != "_healpix_29")
        n_rows = cat.hc_structure.catalog_info.total_rows
        n_rows = int(n_rows) if n_rows is not None else None
        return PartitionedCatalogue(text, "hats", cols, labels, n_rows)
    if root.is_dir():
        files = sorted(root.rglob("*.parquet")) + sorted(root.rglob("*.pq"))
        pattern = text
    else:
        files = [Path(p) for p in glob.glob(text)]
        pattern = text
        if not files:
            raise FileNotFoundError(f"no file matches the catalogue pattern {text}")
    if not files:
        raise CatalogueError(f"{text}: a directory with neither a HATS catalogue ({', '.join(_HATS_MARKERS)}) "
                             "nor Parquet files (*.parquet); give a catalogue file or a partitioned dataset")  # fmt: skip
    try:
        import dask.dataframe as dd
    except ImportError as exc:
        raise _scale_missing("reading a partitioned Parquet dataset") from exc
    try:
        ddf = dd.read_parquet(pattern)
    except Exception as exc:
        raise CatalogueError(
            f"{text}: cannot read as a Parquet dataset: {type(exc).__name__}: {exc}"
        ) from exc
    labels = [f"{text} partition {i}" for i in range(ddf.npartitions)]
    import pyarrow.dataset as pads

    n_rows = pads.dataset([str(f) for f in sorted(set(files))], format="parquet").count_rows()
    return PartitionedCatalogue(
        text, "parquet", tuple(str(c) for c in ddf.columns), labels, int(n_rows)
    )


def _numpy_frame(part: pd.DataFrame) -> pd.DataFrame:
    """A partition with numpy columns and a fresh row index, as the in-memory readers give.

    LSDB hands partitions over with pyarrow-backed columns and the HEALPix index;
    numbers become float64 (int64 where nothing is missing), text the default
    string dtype, so every partition of every reader gives the same stars.
    """
    out = {}
    for c in part.columns:
        s = part[c]
        dtype = s.dtype
        if isinstance(dtype, pd.ArrowDtype) or pd.api.types.is_extension_array_dtype(dtype):
            if pd.api.types.is_bool_dtype(dtype):
                s = s.astype(float) if s.isna().any() else s.astype(bool)
            elif pd.api.types.is_integer_dtype(dtype):
                s = (
                    s.to_numpy(dtype=float, na_value=np.nan)
                    if s.isna().any()
                    else s.to_numpy(dtype=np.int64)
                )
            elif pd.api.types.is_float_dtype(dtype):
                s = s.to_numpy(dtype=float, na_value=np.nan)
            elif pd.api.types.is_string_dtype(dtype):
                s = s.astype("str")
        # positions, not the partition's index, carry the values over
        out[str(c)] = s if isinstance(s, np.ndarray) else s.reset_index(drop=True)
    return pd.DataFrame(out, index=pd.RangeIndex(len(part)))


@dataclass
class PartitionOutput:
    """What one partition sends back: counts and the stars the fits need.

    Attributes
    ----------
    number : int
        Partition number.
    cuts : list of tuple
        ``(cut, description, n_removed)`` per cut, in the cut-flow's order.
    n_input, n_clean : int
        Stars read and stars passing every cut.
    selected : pandas.DataFrame
        The clean stars selected into the analysed populations (source_id order).
    info : dict
        The orbit stage's settings (potential, units, focal length, ...) and
        ``n_no_Rg``; empty for a partition no star of which reached the orbits.
    seconds : float
        Wall time of the partition [s].
    """

    number: int
    cuts: list
    n_input: int
    n_clean: int
    selected: pd.DataFrame
    info: dict
    seconds: float


def preprocess_partition(
    part: pd.DataFrame,
    config: PipelineConfig,
    *,
    number: int = 0,
    label: str = "partition",
    duplicates: np.ndarray | None = None,
    stars_dir: str | os.PathLike | None = None,
) -> PartitionOutput:
    """The in-memory pipeline's preprocessing of one partition (a pure function of its stars).

    Parameters
    ----------
    part : pandas.DataFrame
        The partition, canonical columns (see :mod:`mgar_bayes.schema`).
    config : PipelineConfig
    number : int
        Partition number: names its file ``part.<number>.parquet``.
    label : str
        The partition in error messages.
    duplicates : numpy.ndarray, optional
        ``source_id`` of the stars the duplicate-observation cut removes,
        decided over the whole catalogue; None decides within the partition.
    stars_dir : path-like, optional
        Directory of the clean sample: the partition's clean stars are written
        there (nothing for a partition without one).

    Returns
    -------
    PartitionOutput
    """
    t0 = time.perf_counter()
    part = _numpy_frame(part)
    if len(part) == 0:
        return PartitionOutput(number, [], 0, 0, pd.DataFrame(), {}, time.perf_counter() - t0)
    with warnings.catch_warnings():
        # notes on renamed columns are given once for the catalogue by the client
        warnings.simplefilter("ignore", UserWarning)
        stars, flow, info = _preprocess(
            part, config, name=label, duplicates=duplicates, checks=False
        )
    stars = stars.copy()
    stars["population"] = stars["population"].astype(str)
    if stars_dir is not None and len(stars):
        from .atomic import write_frame

        write_frame(stars.reset_index(drop=True), Path(stars_dir) / f"part.{number:05d}.parquet")
    pops = list(config.selection.populations)
    selected = stars.loc[stars["population"].isin(pops)].reset_index(drop=True)
    cuts = [(r["cut"], r["description"], int(r["n_removed"])) for r in flow.rows[1:]]
    keep = {
        k: v
        for k, v in info.items()
        if not k.startswith(("n_", "seconds_")) and k not in ("notes",)
    }
    if "n_no_Rg" in info:
        keep["n_no_Rg"] = info["n_no_Rg"]
    return PartitionOutput(
        number, cuts, len(part), len(stars), selected, keep, time.perf_counter() - t0
    )


def _first_pass_part(
    part: pd.DataFrame, columns: tuple[str, ...], units: tuple[str, ...], below: int
):
    """One partition's ids and positions, and its stars of the unit-check sample (keys below ``below``)."""
    from .orbits import star_keys

    part = _numpy_frame(part)
    out = pd.DataFrame({"source_id": part["source_id"]})
    for c in columns[1:]:
        out[c] = pd.to_numeric(part[c], errors="coerce").astype(np.float64)
    sample = pd.DataFrame()
    if units and len(part) and not part["source_id"].isna().any():
        try:
            inside = star_keys(part["source_id"].to_numpy()) < np.uint64(below)
        except (TypeError, ValueError):  # bad ids: the partition's validation names them
            inside = np.zeros(len(part), dtype=bool)
        sample = pd.DataFrame(
            {c: pd.to_numeric(part[c], errors="coerce").astype(np.float64)[inside] for c in units}
        )
    return out, sample


def _first_pass(cat: PartitionedCatalogue, cfg: PipelineConfig, compute) -> np.ndarray | None:
    """Refuse duplicated ``source_id`` and implausible units; the ``source_id`` the duplicate cut removes.

    The units are judged as :func:`~mgar_bayes.schema.check_plausible_units`
    judges them in memory, by column medians, over the stars whose key lies in
    the lowest ``UNIT_SAMPLE / n_rows`` of the key range (every star of a
    smaller catalogue; the same stars for any partitioning). None: the
    duplicate cut is off.
    """
    from dask import delayed

    from .schema import _UNIT_LIMITS, check_plausible_units

    dup_cut = cfg.cuts.duplicate_radius is not None and {"ra", "dec"} <= set(cat.columns)
    if "source_id" not in cat.columns:
        raise CatalogueError(f"{cat.path}: no 'source_id' column (required; the Monte-Carlo draws are keyed by it); "
                             f"columns: {sorted(cat.columns)}")  # fmt: skip
    cols = tuple(c for c in (_POSITION_COLUMNS if dup_cut else ("source_id",)) if c in cat.columns)
    units = tuple(c for c, _, _ in _UNIT_LIMITS if c in cat.columns)
    frac = 1.0 if not cat.n_rows else min(1.0, UNIT_SAMPLE / cat.n_rows)
    below = 2**64 - 1 if frac >= 1.0 else int(frac * 2.0**64)
    parts = cat.delayed(list(dict.fromkeys(cols + units)))
    tasks = [delayed(_first_pass_part)(p, cols, units, below) for p in parts]
    pairs = compute(tasks, "first pass (ids, positions)")
    tables = [t for t, _ in pairs if len(t)]
    table = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()
    if len(table) == 0:
        raise CatalogueError(f"{cat.path}: the catalogue is empty (no stars)")
    samples = [u for _, u in pairs if len(u)]
    if samples:
        check_plausible_units(pd.concat(samples, ignore_index=True), cat.path)
    ids = table["source_id"]
    dup = ids.duplicated(keep=False).to_numpy()
    if dup.any():
        shown = ", ".join(map(str, pd.unique(ids[dup])[:5]))
        raise CatalogueError(f"{cat.path}: duplicated source_id across the catalogue ({int(dup.sum())} rows; "
                             f"first: {shown}); every star needs its own identifier: drop or rename them")  # fmt: skip
    if not dup_cut:
        return None
    keep = unique_positions(table, cfg.cuts.duplicate_radius)
    return ids.to_numpy()[~keep]


def _check_supported(cfg: PipelineConfig, cat: PartitionedCatalogue) -> list[str]:
    """Settings a partition cannot answer alone are refused; the notes on renamed columns."""
    if "positions" in cfg.orbits.catalogue_columns:
        raise PipelineError('[orbits] catalogue_columns = ["positions"] (no velocities) runs in memory only: '
                            "give the catalogue as one CSV, Parquet or FITS file")  # fmt: skip
    if cfg.orbits.zmax_method == "staeckel" and cfg.orbits.staeckel_delta == "median":
        raise PipelineError('[orbits] staeckel_delta = "median" takes one focal length from the whole sample, '
                            'which a partition does not see: use "tabulated" (default) or a value in kpc')  # fmt: skip
    from .orbits import kinematic_columns

    # the column checks of the in-memory route, once, on the names alone, before any work
    empty = pd.DataFrame(columns=list(cat.columns))
    _, notes = resolve_derived_columns(
        empty, tuple(cfg.orbits.catalogue_columns), list(kinematic_columns(cfg.orbits))
    )
    return notes


def _compute_local(tasks: list, what: str, *, progress: bool = False) -> list:
    """Run delayed tasks one at a time in this process (no cluster), in order."""
    it = tasks
    if progress:
        from tqdm.auto import tqdm

        it = tqdm(tasks, desc=what, unit="partition")
    return [t.compute(scheduler="sync") for t in it]


def _compute_client(client, tasks: list, what: str, *, progress: bool = False) -> list:
    """Run delayed tasks on a dask.distributed client; results in task order, collected as they finish."""
    from distributed import as_completed

    futures = client.compute(tasks)
    index = {f.key: i for i, f in enumerate(futures)}
    results: list = [None] * len(futures)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(futures), desc=what, unit="partition")
    try:
        for fut in as_completed(futures):
            results[index[fut.key]] = fut.result()
            fut.release()  # the worker may drop its copy at once
            if bar is not None:
                bar.update()
    except BaseException:
        client.cancel(futures)
        raise
    finally:
        if bar is not None:
            bar.close()
    return results


@contextlib.contextmanager
def _staging_dir(final: Path | None) -> Iterator[Path | None]:
    """A temporary directory beside ``final`` that replaces it on success (a whole dataset or nothing)."""
    if final is None:
        yield None
        return
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}.", suffix=".part"))
    try:
        yield tmp
        old = None
        if final.exists():
            old = final.with_name(f".{final.name}.old-{os.getpid()}")
            os.replace(final, old)
        os.replace(tmp, final)
        if old is not None:
            shutil.rmtree(old) if old.is_dir() else old.unlink()
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def run_partitioned(
    catalogue: PartitionedCatalogue | str | os.PathLike,
    config: PipelineConfig | None = None,
    *,
    client=None,
    stars_path: str | os.PathLike | None = None,
    progress: bool = False,
) -> PipelineResult:
    """Preprocess a partitioned catalogue partition by partition and fit the MGAR (OLS and ODR).

    Parameters
    ----------
    catalogue : PartitionedCatalogue or path-like
        From :func:`open_partitioned`, or its path.
    config : PipelineConfig
    client : distributed.Client, optional
        Runs the partitions on its workers (see :func:`dask_client`); None
        runs them one after the other in this process.
    stars_path : path-like, optional
        Where the clean sample goes, as a Parquet dataset (a directory of
        ``part.NNNNN.parquet``, each in ``source_id`` order); it appears
        complete or not at all. Workers write into it, so on a remote cluster
        it must be on a file system they share. None: not written.
    progress : bool
        A progress bar of partitions per pass.

    Returns
    -------
    PipelineResult
        As :func:`~mgar_bayes.pipeline.run_pipeline`'s, but ``stars`` holds
        only the stars selected into the analysed populations (in
        ``source_id`` order) and ``stars_path`` the clean sample's dataset.

    Raises
    ------
    CatalogueError
        An unusable catalogue: duplicated ``source_id`` anywhere, or what
        :func:`~mgar_bayes.schema.validate_catalogue` refuses in a partition
        (the message names the partition's HEALPix pixel or number).
    PipelineError
        As the in-memory route, on the summed cut-flow; settings that need the
        whole sample at once (``staeckel_delta = "median"``, positions only).
    """
    from dask import delayed

    cfg = config or PipelineConfig()
    cat = catalogue if isinstance(catalogue, PartitionedCatalogue) else open_partitioned(catalogue)
    t0 = time.perf_counter()
    notes = _check_supported(cfg, cat)
    for note in notes:
        warnings.warn(note, UserWarning, stacklevel=2)

    def compute(tasks, what):
        if client is None:
            return _compute_local(tasks, what, progress=progress)
        return _compute_client(client, tasks, what, progress=progress)

    duplicates = _first_pass(cat, cfg, compute)
    t1 = time.perf_counter()
    if client is not None and duplicates is not None:
        # one copy per worker instead of one per task
        duplicates = client.scatter(duplicates, broadcast=True)
    final = Path(stars_path) if stars_path is not None else None
    with _staging_dir(final) as staging:
        stage = delayed(preprocess_partition, pure=True)
        tasks = [stage(p, cfg, number=i, label=cat.labels[i] if i < len(cat.labels) else f"partition {i}",
                       duplicates=duplicates, stars_dir=str(staging) if staging is not None else None)
                 for i, p in enumerate(cat.delayed())]  # fmt: skip
        outputs: list[PartitionOutput] = compute(tasks, "partitions")
        t2 = time.perf_counter()
        flow, n_clean, orbit_info, n_no_rg = _summed_flow(outputs)
        n_phase = len(phase_space_cuts(cfg.cuts))
        _check_flow(flow, 1, "catalogue")
        _check_flow(flow, len(flow.rows) - n_phase, "phase-space")
        if n_clean == 0:
            raise PipelineError(
                f"no star of {cat.path} passes the cuts\n{flow.to_frame().to_string(index=False)}"
            )
    selected = [o.selected for o in outputs if len(o.selected)]
    stars = _canonical_order(pd.concat(selected, ignore_index=True)) if selected else pd.DataFrame()
    stars = stars.reset_index(drop=True)
    bins = AgeBins.from_config(cfg.binning)
    pops = tuple(cfg.selection.populations)
    t3 = time.perf_counter()
    if len(stars) == 0:
        stars = pd.DataFrame(
            {"population": pd.Series(dtype=str), "age_bin": pd.Series(dtype=np.int64)}
        )
    fits = fit_bins(stars, bins, populations=pops, x=cfg.fit.radius)
    _check_fitted(fits, stars, bins, pops, flow)
    trend = mgar_trend(fits)
    cutflow = _cutflow_with_populations(flow, stars, fits, cfg, n_clean=n_clean)
    info = dict(orbit_info)
    info.update({
        "n_input": int(flow.rows[0]["n_remaining"]),
        "n_clean": n_clean,
        "n_no_Rg": n_no_rg,
        "n_thin": int((stars["population"] == "thin").sum()),
        "n_thick": int((stars["population"] == "thick").sum()),
        "catalogue_columns": list(cfg.orbits.catalogue_columns),
        "notes": notes,
        "partitioned": {"kind": cat.kind, "n_partitions": cat.n_partitions,
                        "workers": _n_workers(client), "duplicates_decided_globally": duplicates is not None,
                        "seconds_partition_max": max((o.seconds for o in outputs), default=0.0)},
        "seconds_first_pass": t1 - t0,
        "seconds_preprocess": t2 - t0,
        "seconds_fits": time.perf_counter() - t3,
    })  # fmt: skip
    return PipelineResult(stars=stars, cutflow=cutflow, fits=fits, trend=trend, bins=bins, config=cfg,
                          info=info, stars_path=final)  # fmt: skip


def _n_workers(client) -> int:
    if client is None:
        return 0
    return len(client.scheduler_info(n_workers=-1).get("workers", {}))


def _summed_flow(outputs: list[PartitionOutput]) -> tuple[CutFlow, int, dict, int]:
    """The cut-flow over all partitions (the cuts are the same everywhere), clean stars, orbit info."""
    n_input = sum(o.n_input for o in outputs)
    flow = CutFlow(n_input)
    ref = next((o.cuts for o in outputs if o.cuts), [])
    for o in outputs:
        if o.cuts and [c[0] for c in o.cuts] != [c[0] for c in ref]:
            raise PipelineError(f"partition {o.number} went through other cuts than partition 0 "
                                f"({[c[0] for c in o.cuts]} vs {[c[0] for c in ref]}): do all partitions "
                                "have the same columns?")  # fmt: skip
    for k, (name, description, _) in enumerate(ref):
        flow.add(name, description, sum(o.cuts[k][2] for o in outputs if o.cuts))
    info = next((o.info for o in outputs if "potential" in o.info), {})
    info = {k: v for k, v in info.items() if k != "n_no_Rg"}
    n_no_rg = sum(int(o.info.get("n_no_Rg", 0)) for o in outputs)
    return flow, sum(o.n_clean for o in outputs), info, n_no_rg


@contextlib.contextmanager
def dask_client(workers: int | None = None, scheduler: str | None = None, *,
                memory_limit: str | float | None = "auto"):  # fmt: skip
    """A ``dask.distributed`` client: of a running scheduler, or of a local cluster it starts and stops.

    Parameters
    ----------
    workers : int, optional
        Worker processes of the local cluster (one thread each; default 2).
    scheduler : str, optional
        Address of a running scheduler (``tcp://host:8786``); its workers must
        import ``mgar_bayes`` and see the output directory. Not with ``workers``.
    memory_limit : str or float, optional
        Per local worker (dask's ``"auto"``: the machine's memory over the workers).

    Raises
    ------
    ValueError
        Both ``workers`` and ``scheduler``, or ``workers < 1``.
    OSError
        No scheduler answers at ``scheduler``.
    """
    try:
        from distributed import Client, LocalCluster
    except ImportError as exc:
        raise _scale_missing("a Dask cluster (--workers/--scheduler)") from exc
    if scheduler and workers:
        raise ValueError(
            "--workers starts a local cluster and --scheduler uses a running one: give one of them"
        )
    if workers is not None and workers < 1:
        raise ValueError(f"--workers must be >= 1, got {workers}")
    if scheduler:
        try:
            client = Client(scheduler, timeout="20s")
        except (OSError, TimeoutError) as exc:
            raise OSError(f"no Dask scheduler answers at {scheduler} ({type(exc).__name__}: {exc}); "
                          "start one (dask scheduler) or use --workers N for a local cluster") from exc  # fmt: skip
        try:
            yield client
        finally:
            client.close()
        return
    cluster = LocalCluster(n_workers=workers or 2, threads_per_worker=1, processes=True, dashboard_address=None,
                           memory_limit=memory_limit, silence_logs=logging.ERROR)  # fmt: skip
    client = Client(cluster)
    try:
        yield client
    finally:
        client.close()
        cluster.close()


def crossmatch_hats(
    table: pd.DataFrame,
    hats_path: str | os.PathLike,
    *,
    radius_arcsec: float = 1.0,
    columns: list[str] | None = None,
    rename: dict[str, str] | None = None,
    suffix: str = "_hats",
    margin_cache: str | os.PathLike | None = None,
):
    """Cross-match a user's table (e.g. spectroscopic) with a HATS catalogue (e.g. Gaia DR3) through LSDB.

    Each star of ``table`` is paired with its nearest neighbour in the HATS
    catalogue within ``radius_arcsec`` (LSDB's k-d tree cross-match, partition
    by partition); stars without one are dropped.

    Parameters
    ----------
    table : pandas.DataFrame
        Columns ``ra``, ``dec`` [deg] and the user's own (``source_id``, ...).
    hats_path : path-like
        The HATS catalogue (opened with ``lsdb.open_catalog``).
    radius_arcsec : float
        Largest separation of a match [arcsec].
    columns : list of str, optional
        Columns of the HATS catalogue to read (default all).
    rename : dict, optional
        ``{hats_column: canonical_name}`` applied to the matched columns, e.g.
        ``{"pmra": "pmra", "pmra_error": "pmra_err"}``; a renamed column
        replaces a column of ``table`` with that name.
    suffix : str
        Suffix of the other HATS columns in the result.
    margin_cache : path-like, optional
        The HATS catalogue's margin cache: matches across a HEALPix boundary
        (LSDB warns that they may be missed without it).

    Returns
    -------
    lsdb.Catalog
        Lazy: ``.compute()`` gives a DataFrame, ``.write_catalog(path)`` a
        HATS catalogue that ``mgar run`` reads; ``_dist_arcsec`` is the
        separation [arcsec].
    """
    try:
        import lsdb
    except ImportError as exc:
        raise _scale_missing("a HATS cross-match") from exc
    for c in ("ra", "dec"):
        if c not in table.columns:
            raise CatalogueError(
                f"the table to cross-match has no '{c}' column [deg]; columns: {sorted(table.columns)}"
            )
    # no margin cache for the left side: LSDB cross-matches against the right's margin only
    left = lsdb.from_dataframe(table, ra_column="ra", dec_column="dec", margin_threshold=None)
    right = lsdb.open_catalog(str(hats_path), columns=columns or "all",
                              margin_cache=str(margin_cache) if margin_cache is not None else None)  # fmt: skip
    matched = left.crossmatch(right, radius_arcsec=radius_arcsec, n_neighbors=1, suffixes=("", suffix),
                              suffix_method="overlapping_columns", log_changes=False)  # fmt: skip
    if rename:
        mapping = {
            f"{k}{suffix}" if f"{k}{suffix}" in matched.columns else k: v for k, v in rename.items()
        }
        clash = [v for v in mapping.values() if v in matched.columns and v not in mapping]
        if clash:
            matched = matched.drop(columns=clash)
        matched = matched.rename(mapping)
    return matched
