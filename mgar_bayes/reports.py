"""Writing a run's tables, summary and figures, with provenance.

An output directory holds one run. ``run.json`` records a hash of everything
the run depended on (catalogue bytes, config, column map, package version) and
the run's state: ``"running"`` from the moment the directory is claimed,
``"complete"`` once every output is written, with the SHA-256 of the outputs a
later command re-uses (:data:`REUSED_OUTPUTS`). A run is re-usable only when it
is complete, its inputs hash matches and those outputs still have their
recorded hashes (:func:`reusable_run`). A later run into the same directory
with different inputs is refused unless the user asks to overwrite, so no
earlier result is silently replaced. Every file is written atomically
(:mod:`mgar_bayes.atomic`).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import math
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import __version__
from .atomic import atomic_write_text, write_frame
from .config import config_hash

__all__ = [
    "RunDirError",
    "file_sha256",
    "finish_run",
    "inputs_hash",
    "prepare_out_dir",
    "read_json",
    "read_run_record",
    "reusable_run",
    "summary_dict",
    "write_frame",
    "write_run_outputs",
    "write_json",
]

RUN_RECORD = "run.json"
# outputs of ``mgar run`` that ``mgar fit`` re-uses: their hashes are checked on re-use
REUSED_OUTPUTS = ("stars.parquet", "mgar_ols.csv", "cutflow.csv")


class RunDirError(FileExistsError):
    """An output directory that cannot be used as asked (other run, unreadable record...)."""


def file_sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    """SHA-256 of a file's bytes; of a directory (a partitioned dataset): of its files' names and bytes."""
    p = Path(path)
    if p.is_dir():
        from .partitioned import dataset_sha256

        return dataset_sha256(p)
    h = hashlib.sha256()
    with p.open("rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def inputs_hash(parts: dict[str, Any]) -> str:
    """Hash of a run's inputs (file hashes, config dicts, version)."""
    return config_hash({k: v for k, v in parts.items() if k not in _STATE_KEYS})


# keys of run.json that describe the run's state, not its inputs
_STATE_KEYS = ("inputs_hash", "status", "started", "finished", "outputs")


def read_json(path: str | Path, *, what: str = "file") -> dict | None:
    """A JSON object from ``path``, None if absent; :class:`RunDirError` if unreadable."""
    p = Path(path)
    if not p.exists():
        return None
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RunDirError(
            f"{p}: the {what} cannot be read ({type(exc).__name__}: {exc}); it may be left over "
            "from an interrupted run or an older version: pass --overwrite to replace it"
        ) from exc
    if not isinstance(data, dict):
        raise RunDirError(f"{p}: the {what} is not a JSON object; pass --overwrite to replace it")
    return data


def read_run_record(out_dir: str | Path) -> dict | None:
    """The ``run.json`` of ``out_dir`` (None if there is none)."""
    return read_json(Path(out_dir) / RUN_RECORD, what="run record")


def _check_writable(d: Path) -> None:
    try:
        d.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=d, prefix=".write-probe.")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise RunDirError(
            f"cannot write to the output directory {d}: {exc.strerror or exc}; choose another --out"
        ) from exc


def prepare_out_dir(out_dir: str | Path, record: dict, *, overwrite: bool = False) -> Path:
    """Claim ``out_dir`` for a run of ``record``'s inputs and mark the run as running.

    Raises
    ------
    RunDirError
        If ``out_dir`` is not a writable directory, or holds files of a
        different run (different inputs hash, an unreadable record, or files
        without a record) and ``overwrite`` is False.
    """
    d = Path(out_dir)
    if d.exists() and not d.is_dir():
        raise RunDirError(f"{d} exists and is not a directory; choose another --out")
    try:
        prev = read_run_record(d)
    except RunDirError:
        if not overwrite:
            raise
        prev = None
    if prev is not None and prev.get("inputs_hash") != record["inputs_hash"] and not overwrite:
        raise RunDirError(
            f"{d} holds an earlier run with different inputs (inputs hash {prev.get('inputs_hash')} "
            f"vs {record['inputs_hash']}); choose another --out or pass --overwrite"
        )
    if prev is None and d.exists() and any(d.iterdir()) and not overwrite:
        raise RunDirError(
            f"{d} is not empty and holds no {RUN_RECORD}; choose another --out or pass --overwrite"
        )
    _check_writable(d)
    state = {"status": "running", "started": _now(), "outputs": {}}
    write_json(d / RUN_RECORD, {**record, **state})
    return d


def finish_run(out_dir: str | Path, record: dict) -> dict:
    """Mark the run in ``out_dir`` complete, with the hashes of its re-used outputs."""
    d = Path(out_dir)
    outputs = {name: file_sha256(d / name) for name in REUSED_OUTPUTS if (d / name).exists()}
    prev = read_run_record(d) or {}
    done = {**record, "status": "complete", "started": prev.get("started"), "finished": _now(),
            "outputs": outputs}  # fmt: skip
    write_json(d / RUN_RECORD, done)
    return done


def reusable_run(out_dir: str | Path, record: dict) -> tuple[bool, str]:
    """Whether ``out_dir`` holds a finished run of ``record``'s inputs, and why not.

    Returns
    -------
    ok : bool
    reason : str
        Empty when ``ok``; else what is missing or different.
    """
    d = Path(out_dir)
    try:
        prev = read_run_record(d)
    except RunDirError as exc:
        return False, str(exc)
    if prev is None:
        return False, f"no {RUN_RECORD}"
    if prev.get("inputs_hash") != record["inputs_hash"]:
        return False, "its inputs differ"
    if prev.get("status") != "complete":
        return False, f"the run did not finish (status {prev.get('status', 'unknown')!r})"
    outputs = prev.get("outputs") or {}
    for name in REUSED_OUTPUTS:
        if name not in outputs:
            return False, f"{name} is not recorded"
        p = d / name
        if not p.exists():
            return False, f"{name} is missing"
        if file_sha256(p) != outputs[name]:
            return False, f"{name} changed after the run"
    return True, ""


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


def _clean(obj):
    """JSON-safe copy: numpy scalars to Python, NaN/inf to None."""
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_clean(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _clean(obj.tolist())
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, float | np.floating):
        f = float(obj)
        return f if math.isfinite(f) else None
    return obj


def write_json(path: str | Path, data: dict) -> None:
    """Write ``data`` as JSON (NaN as null), atomically."""
    atomic_write_text(path, json.dumps(_clean(data), indent=2, sort_keys=False) + "\n")


def summary_dict(result, record: dict, truth: dict | None = None) -> dict:
    """Per population and method: flattening rate, its error, mean gradient (+ truth if known)."""
    pops = {}
    for pop, methods in result.trend.items():
        pops[pop] = {
            m: {
                "rate": v["rate"],
                "rate_err": v["rate_err"],
                "rate_unit": "dex/kpc/Gyr",
                "mean_gradient": v["mean_gradient"],
                "mean_gradient_err": v["mean_gradient_err"],
                "gradient_unit": "dex/kpc",
                "intercept": v["intercept"],
                "n_bins": v["n_bins"],
            }
            for m, v in methods.items()
        }
        pops[pop]["n_stars"] = int((result.stars["population"] == pop).sum())
    out = {
        "package": "mgar_bayes",
        "version": __version__,
        "inputs_hash": record["inputs_hash"],
        "catalogue": record.get("catalogue"),
        "n_input": result.info.get("n_input"),
        "n_clean": result.info.get("n_clean"),
        "populations": pops,
        # which derived quantities came from the catalogue, and which of its columns were set aside
        "catalogue_columns": result.info.get("catalogue_columns", []),
        "column_notes": result.info.get("notes", []),
        "orbits": {k: v for k, v in result.info.items()
                   if not k.startswith("n_") and k not in ("notes", "catalogue_columns")},  # fmt: skip
        "config": result.config.to_dict(),
    }
    if truth is not None:
        out["truth"] = truth
    return out


#: Published MGARs drawn on Fig. 3 by default: V21's line, as in C25 Fig. 3.
DEFAULT_LITERATURE: tuple[str, ...] = ("v21",)


def write_run_outputs(result, out_dir: str | Path, record: dict, *, truth: dict | None = None,
                      truth_bins: pd.DataFrame | None = None, figures: bool = True,
                      literature: tuple[str, ...] = DEFAULT_LITERATURE) -> dict[str, Path]:
    """Write ``mgar_ols.csv``, ``summary.json``, ``cutflow.csv``, ``stars.parquet`` and figures.

    ``out_dir`` must have been prepared with :func:`prepare_out_dir`.
    Returns the paths written.
    """
    d = Path(out_dir)
    paths = {
        "fits": d / "mgar_ols.csv",
        "summary": d / "summary.json",
        "cutflow": d / "cutflow.csv",
        "stars": d / "stars.parquet",
    }
    stars = result.stars.copy()
    stars["population"] = stars["population"].astype(str)
    tables = {"fits": result.fits, "cutflow": result.cutflow, "stars": stars}
    if getattr(result, "stars_path", None) is not None:
        # a partitioned run wrote the clean sample itself, partition by partition
        paths["stars"] = Path(result.stars_path)
        del tables["stars"]
    elif paths["stars"].is_dir():
        # an earlier partitioned run's dataset, which prepare_out_dir allowed to replace
        shutil.rmtree(paths["stars"])
    if truth_bins is not None:
        paths["truth"] = d / "truth_bins.csv"
        tables["truth"] = truth_bins
    for key, table in tables.items():
        write_frame(table, paths[key])
    if figures:
        paths.update(write_figures(result, d / "figures", truth_bins=truth_bins, literature=literature))
    # the summary last: its presence with a complete run record means every output is there
    write_json(paths["summary"], summary_dict(result, record, truth))
    return paths


def write_figures(result, fig_dir: str | Path, *, truth_bins: pd.DataFrame | None = None,
                  literature: tuple[str, ...] = DEFAULT_LITERATURE) -> dict[str, Path]:
    """Render the run's figures (C25 Figs. 1-5) into ``fig_dir``.

    Parameters
    ----------
    result : mgar_bayes.pipeline.PipelineResult
        The run: its stars, per-bin fits, trends, age bins and config.
    fig_dir : str or os.PathLike
        Directory of the figures (created).
    truth_bins : pandas.DataFrame, optional
        True per-bin gradients of a simulated catalogue (``truth_bins.csv``), drawn
        on the MGAR figures.
    literature : tuple of str
        Published MGARs drawn on Fig. 3 (names of
        :data:`mgar_bayes.literature.DATASETS`, or ``"v21"`` for V21's line from
        their text); empty for none. Fig. 5 (thin disk beside the Ratcliffe+2023
        birth gradient, Anders+2023 and FIRE-2) is drawn unless this is empty.

    Returns
    -------
    dict of pathlib.Path
        ``fig_overview``, ``fig_populations``, ``fig_mgar_<method>`` for OLS and
        ODR, ``fig_bin_fits_<population>`` for each analysed population with fits,
        and ``fig_mgar_literature`` when the thin disk was fitted.
    """
    import matplotlib

    if matplotlib.get_backend().lower() not in ("agg", "module://matplotlib_inline.backend_inline"):
        matplotlib.use("Agg")
    from . import literature as lit
    from . import plots

    fig_dir = Path(fig_dir)
    fig_dir.mkdir(parents=True, exist_ok=True)
    sel = result.config.selection
    radius = result.config.fit.radius
    edges = np.asarray(result.bins.edges, dtype=float)
    out = {}
    fig, _ = plots.plot_sample_overview(
        result.stars, line=sel.chem_line, shift=sel.chem_shift,
        thin_zmax=sel.thin_zmax_max, thick_zmax=sel.thick_zmax_min,
    )  # fmt: skip
    out["fig_overview"] = plots.save_figure(fig, fig_dir / "fig1_sample_overview.png", overwrite=True)
    fig, _ = plots.plot_populations(result.stars, radius=radius, age_edges=edges)
    out["fig_populations"] = plots.save_figure(fig, fig_dir / "fig2_populations.png", overwrite=True)
    # published MGARs over the ages the run covers (V21's line as in C25 Fig. 3); V21's and
    # Anders+2023's gradients are against R_g, so they are left off a run against R
    names = tuple(literature) if radius == "R_g" else tuple(n for n in literature if n in ("fire2",))
    reference, lines = lit.overlay(names, age_range=(float(edges[0]), float(edges[-1])), radius=radius)
    for method in ("ols", "odr"):
        fig, _ = plots.plot_mgar(result.fits, result.trend, method=method, radius=radius,
                                 truth=truth_bins, lines=lines, reference=reference)
        out[f"fig_mgar_{method}"] = plots.save_figure(fig, fig_dir / f"fig3_mgar_{method}.png", overwrite=True)
    fits = result.fits
    for pop in sel.populations:
        if not ((fits["population"].astype(str) == pop) & (fits["method"] == "ols")).any():
            continue
        fig, _ = plots.plot_bin_fits(result.stars, fits, pop, method="ols", radius=radius)
        out[f"fig_bin_fits_{pop}"] = plots.save_figure(fig, fig_dir / f"fig4_bin_fits_{pop}.png", overwrite=True)
    thin_fitted = ((fits["population"].astype(str) == "thin") & (fits["method"] == "ols")).any()
    if literature and thin_fitted:
        fig, _ = plots.plot_mgar_literature(fits, result.trend, method="ols", truth=truth_bins, radius=radius)
        out["fig_mgar_literature"] = plots.save_figure(fig, fig_dir / "fig5_mgar_literature.png", overwrite=True)
    return out
