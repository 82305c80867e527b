"""Writing a run's tables, summary and figures, with provenance.

An output directory holds one run. ``run.json`` records a hash of everything
the run depended on (catalogue bytes, config, column map, package version); a
later run into the same directory with different inputs is refused unless the
user asks to overwrite, so no earlier result is silently replaced.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from . import __version__
from .config import config_hash

__all__ = [
    "file_sha256",
    "inputs_hash",
    "prepare_out_dir",
    "read_run_record",
    "summary_dict",
    "write_run_outputs",
    "write_json",
]

RUN_RECORD = "run.json"


def file_sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with Path(path).open("rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def inputs_hash(parts: dict[str, Any]) -> str:
    """Hash of a run's inputs (file hashes, config dicts, version)."""
    return config_hash(parts)


def read_run_record(out_dir: str | Path) -> dict | None:
    p = Path(out_dir) / RUN_RECORD
    return json.loads(p.read_text()) if p.exists() else None


def prepare_out_dir(out_dir: str | Path, record: dict, *, overwrite: bool = False) -> Path:
    """Create ``out_dir`` or check that it holds a run of the same inputs.

    Raises
    ------
    FileExistsError
        If ``out_dir`` holds files of a different run (different inputs hash,
        or files without a run record) and ``overwrite`` is False.
    """
    d = Path(out_dir)
    if d.exists() and not d.is_dir():
        raise FileExistsError(f"{d} exists and is not a directory")
    prev = read_run_record(d)
    if prev is not None and prev.get("inputs_hash") != record["inputs_hash"] and not overwrite:
        raise FileExistsError(
            f"{d} holds an earlier run with different inputs (inputs hash {prev.get('inputs_hash')} "
            f"vs {record['inputs_hash']}); choose another --out or pass --overwrite"
        )
    if prev is None and d.exists() and any(d.iterdir()) and not overwrite:
        raise FileExistsError(
            f"{d} is not empty and holds no {RUN_RECORD}; choose another --out or pass --overwrite"
        )
    d.mkdir(parents=True, exist_ok=True)
    write_json(d / RUN_RECORD, record)
    return d


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
    Path(path).write_text(json.dumps(_clean(data), indent=2, sort_keys=False) + "\n")


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
        "orbits": {k: v for k, v in result.info.items() if not k.startswith("n_")},
        "config": result.config.to_dict(),
    }
    if truth is not None:
        out["truth"] = truth
    return out


def write_run_outputs(result, out_dir: str | Path, record: dict, *, truth: dict | None = None,
                      truth_bins: pd.DataFrame | None = None, figures: bool = True) -> dict[str, Path]:
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
    result.fits.to_csv(paths["fits"], index=False)
    result.cutflow.to_csv(paths["cutflow"], index=False)
    stars = result.stars.copy()
    stars["population"] = stars["population"].astype(str)
    stars.to_parquet(paths["stars"], index=False)
    if truth_bins is not None:
        paths["truth"] = d / "truth_bins.csv"
        truth_bins.to_csv(paths["truth"], index=False)
    write_json(paths["summary"], summary_dict(result, record, truth))
    if figures:
        paths.update(write_figures(result, d / "figures"))
    return paths


def write_figures(result, fig_dir: str | Path) -> dict[str, Path]:
    """C25 Fig. 1-3 analogues as PNG (sample overview, populations, MGAR)."""
    import matplotlib

    if matplotlib.get_backend().lower() not in ("agg", "module://matplotlib_inline.backend_inline"):
        matplotlib.use("Agg")
    from . import plots

    fig_dir = Path(fig_dir)
    fig_dir.mkdir(parents=True, exist_ok=True)
    sel = result.config.selection
    out = {}
    fig, _ = plots.plot_sample_overview(
        result.stars, line=sel.chem_line, shift=sel.chem_shift,
        thin_zmax=sel.thin_zmax_max, thick_zmax=sel.thick_zmax_min,
    )  # fmt: skip
    out["fig_overview"] = plots.save_figure(fig, fig_dir / "fig1_sample_overview.png", overwrite=True)
    fig, _ = plots.plot_populations(result.stars)
    out["fig_populations"] = plots.save_figure(fig, fig_dir / "fig2_populations.png", overwrite=True)
    for method in ("ols", "odr"):
        fig, _ = plots.plot_mgar(result.fits, result.trend, method=method)
        out[f"fig_mgar_{method}"] = plots.save_figure(fig, fig_dir / f"fig3_mgar_{method}.png", overwrite=True)
    return out
