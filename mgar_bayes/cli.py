"""Command line: ``mgar run``, ``mgar mock``, ``mgar fit``.

``mgar run [CATALOG] --out DIR`` preprocesses a catalogue (default: the bundled
simulated one) and writes the OLS/ODR MGAR of the thin and thick disks.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import warnings
from pathlib import Path

import pandas as pd

from . import __version__

log = logging.getLogger("mgar_bayes")


def _add_catalogue_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("catalog", nargs="?", help="star catalogue (CSV, Parquet or FITS); default: bundled simulated catalogue")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--config", help="TOML file overriding pipeline settings")
    p.add_argument("--column-map", help="TOML file mapping the catalogue's column names/units to the canonical ones")
    p.add_argument("--lamost-ages", help="RGB/RC age catalogue: read CATALOG as the LAMOST DR8 giant VAC joined with it")
    p.add_argument("--encoding", default="utf-8", help="text encoding of a CSV catalogue (default utf-8; e.g. latin-1)")
    p.add_argument("--overwrite", action="store_true", help="replace an earlier run with different inputs in --out")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--no-figures", action="store_true", help="skip the figures")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mgar", description="Metallicity gradient-age relation of the Milky Way disks")
    parser.add_argument("--version", action="version", version=f"mgar_bayes {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("run", help="preprocess a catalogue and fit the MGAR per age bin (OLS and ODR)")
    _add_catalogue_args(p)

    p = sub.add_parser("mock", help="write a simulated catalogue with its truth")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--n-stars", type=int, default=None, help="stars in the catalogue")
    p.add_argument("--seed", type=int, default=None, help="random seed")
    p.add_argument("--overwrite", action="store_true")

    p = sub.add_parser("robustness", help="MGAR under a grid of selection, Galaxy and data variants")
    _add_catalogue_args(p)
    p.add_argument("--method", default="ols", choices=["ols", "odr", "bayes"],
                   help="per-bin fit method (bayes: the marginal C25 model per variant; slow)")
    p.add_argument("--model", default="marginal", help="model spec for --method bayes")
    p.add_argument("--jobs", type=int, default=2, help="processes for the distinct Galaxy set-ups")

    p = sub.add_parser("fit", help="run the pipeline (or re-use a run in --out) and fit a Bayesian model")
    _add_catalogue_args(p)
    p.add_argument("--model", default="c25", help="model spec name (models/NAME.toml) or a TOML path")
    p.add_argument("--seed", type=int, default=0, help="sampler seed")
    p.add_argument("--draws", type=int, help="posterior draws per chain (overrides the spec)")
    p.add_argument("--tune", type=int, help="tuning steps per chain (overrides the spec)")
    p.add_argument("--chains", type=int, help="chains (overrides the spec)")
    p.add_argument("--backend", choices=["pymc", "nutpie", "numpyro"], help="sampler backend (overrides the spec)")
    return parser


def _load_catalogue(args) -> tuple[pd.DataFrame, dict, object]:
    """The catalogue, its provenance entry, and the mock (or None)."""
    from .reports import file_sha256

    if args.catalog is None:
        from .mock import default_mock, load_mock

        d = default_mock(progress=not args.no_progress)
        mock = load_mock(d)
        prov = {"kind": "simulated", "path": str(d), "sha256": file_sha256(d / "catalogue.parquet")}
        return mock.stars, prov, mock
    path = Path(args.catalog)
    if args.lamost_ages:
        from .io import read_lamost_dr8

        table = read_lamost_dr8(path, args.lamost_ages, encoding=args.encoding)
        prov = {
            "kind": "lamost_dr8",
            "path": str(path),
            "sha256": file_sha256(path),
            "ages_path": str(args.lamost_ages),
            "ages_sha256": file_sha256(args.lamost_ages),
        }
        return table, prov, None
    from .io import read_catalogue

    table = read_catalogue(path, args.column_map, encoding=args.encoding)
    prov = {"kind": "file", "path": str(path), "sha256": file_sha256(path)}
    if args.column_map:
        prov["column_map_sha256"] = file_sha256(args.column_map)
    return table, prov, None


def _load_config(args):
    """The run's config; the LAMOST DR8 route takes the VAC's Galactocentric coordinates (as C25)."""
    from .config import load_config

    cfg = load_config(args.config)
    if getattr(args, "lamost_ages", None) and "galcen" not in cfg.orbits.catalogue_columns:
        cfg = cfg.replace(orbits={"catalogue_columns": (*cfg.orbits.catalogue_columns, "galcen")})
        if not args.no_progress:
            print("LAMOST DR8 VAC: using its Galactocentric R, phi, z, v_R, v_phi, v_z and errors, as C25 did "
                  "([orbits] catalogue_columns = [\"galcen\"])")
    return cfg


def _run_record(cfg, prov: dict) -> dict:
    from .reports import inputs_hash

    record = {"version": __version__, "catalogue": prov, "config": cfg.to_dict()}
    record["inputs_hash"] = inputs_hash(record)
    return record


def _run_pipeline_into(args, cfg, table, prov, mock):
    """Shared by ``run`` and ``fit``: the pipeline and its outputs, the run marked complete last."""
    from .pipeline import run_pipeline
    from .reports import finish_run, prepare_out_dir, write_run_outputs

    record = _run_record(cfg, prov)
    out = prepare_out_dir(args.out, record, overwrite=args.overwrite)
    truth = truth_bins = None
    if mock is not None:
        truth = mock.truth_summary()
        truth_bins = mock.truth
    result = run_pipeline(table, cfg, progress=not args.no_progress)
    paths = write_run_outputs(result, out, record, truth=truth, truth_bins=truth_bins,
                              figures=not args.no_figures)  # fmt: skip
    finish_run(out, record)
    return result, out, paths


def _print_summary(result, out: Path, paths: dict) -> None:
    print(f"clean sample: {result.info['n_clean']} of {result.info['n_input']} stars; "
          f"thin {result.info['n_thin']}, thick {result.info['n_thick']}")
    for pop, methods in result.trend.items():
        for m, v in methods.items():
            print(f"  {pop:5s} {m}: flattening rate {v['rate']:+.4f} +- {v['rate_err']:.4f} dex/kpc/Gyr, "
                  f"mean gradient {v['mean_gradient']:+.4f} dex/kpc")
    names = sorted({p.name if p.parent == out else f"{p.parent.name}/" for p in paths.values()})
    print(f"wrote {out}/: {', '.join(names)}")


def cmd_run(args) -> int:
    cfg = _load_config(args)
    table, prov, mock = _load_catalogue(args)
    result, out, paths = _run_pipeline_into(args, cfg, table, prov, mock)
    _print_summary(result, out, paths)
    return 0


def cmd_mock(args) -> int:
    import dataclasses

    from .mock import MockConfig, generate_mock

    cfg = MockConfig()
    changes = {k: v for k, v in (("n_stars", args.n_stars), ("seed", args.seed)) if v is not None}
    cfg = dataclasses.replace(cfg, **changes)
    mock = generate_mock(cfg)
    d = mock.save(args.out, overwrite=args.overwrite)
    print(f"wrote {len(mock.stars)} simulated stars and their truth to {d}")
    print(json.dumps(mock.truth_summary(), indent=2))
    return 0


def cmd_robustness(args) -> int:
    from .plots import plot_robustness, save_figure
    from .reports import finish_run, inputs_hash, prepare_out_dir, write_frame, write_json
    from .robustness import default_variants, run_robustness

    cfg = _load_config(args)
    if args.method == "bayes":
        from .models.config import load_model_spec

        load_model_spec(args.model)  # a wrong name is an error before any work
    table, prov, _ = _load_catalogue(args)
    record = {"version": __version__, "catalogue": prov, "config": cfg.to_dict(), "command": "robustness",
              "method": args.method, "model": args.model}  # fmt: skip
    record["inputs_hash"] = inputs_hash(record)
    out = prepare_out_dir(args.out, record, overwrite=args.overwrite)
    variants = default_variants(cfg)
    if not args.no_progress:
        print(f"running {len(variants)} variants ({len({v.orbit_key() for v in variants})} orbit set-ups)")
    result, setups = run_robustness(table, variants, methods=(args.method,), n_jobs=args.jobs,
                                    bayes_spec=args.model)
    write_frame(result, out / "robustness.csv")
    write_json(out / "robustness_setups.json", setups)
    if not args.no_figures:
        for group in ("selection", "galaxy", "data"):
            fig, _ = plot_robustness(result, group, method=args.method)
            save_figure(fig, out / "figures" / f"robustness_{group}.png", overwrite=True)
    finish_run(out, record)
    figs = " and figures/robustness_*.png" if not args.no_figures else ""
    print(f"wrote {out}/robustness.csv ({len(result)} rows){figs}")
    return 0


def cmd_fit(args) -> int:
    from .binning import AgeBins
    from .reports import read_json, reusable_run, write_json

    cfg = _load_config(args)
    try:
        from .models.config import load_model_spec
        from .models.runner import run_fit
    except ImportError as exc:  # pragma: no cover - models are part of the package
        raise SystemExit(f"the Bayesian model runner is unavailable: {exc}") from exc
    # a wrong model name is an error before any pipeline work
    spec = load_model_spec(args.model)
    out = Path(args.out)
    table, prov, mock = _load_catalogue(args)
    record = _run_record(cfg, prov)
    ok, why = reusable_run(out, record)
    if ok:
        print(f"re-using the pipeline run in {out}")
        stars = pd.read_parquet(out / "stars.parquet")
        fits = pd.read_csv(out / "mgar_ols.csv")
    else:
        if (out / "run.json").exists():
            print(f"not re-using the run in {out}: {why}; running the pipeline")
        result, out, _ = _run_pipeline_into(args, cfg, table, prov, mock)
        stars, fits = result.stars, result.fits
    # the summary the fit is filed in must be readable before any sampling
    sp = out / "summary.json"
    try:
        data = read_json(sp, what="run summary") or {}
    except FileExistsError:
        if not args.overwrite:
            raise
        data = {}
    bins = AgeBins.from_config(cfg.binning)
    sampler = {k: getattr(args, k) for k in ("draws", "tune", "chains", "backend") if getattr(args, k) is not None}
    summary = run_fit(stars, bins, spec, out, ols_table=fits, seed=args.seed,
                      overrides={"sampler": sampler} if sampler else None,
                      progress=not args.no_progress, overwrite=args.overwrite)
    # filed under the spec's own name, as the posterior files and table rows are
    data.setdefault("bayes", {})[spec.name] = summary
    write_json(sp, data)
    print(f"wrote {out}/mgar_bayes.csv, posterior_*_{spec.name}.nc; summary.json updated")
    return 0


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    # what the user can act on, without the file, line and echoed source
    print(f"mgar: warning: {message}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    handlers = {"run": cmd_run, "mock": cmd_mock, "fit": cmd_fit, "robustness": cmd_robustness}
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _show_warning
            return handlers[args.command](args)
    except (OSError, ValueError) as exc:
        # user mistakes and I/O problems (CatalogueError, config and spec errors, refusals
        # to overwrite, unwritable outputs) end with one message, no traceback
        print(f"mgar {args.command}: error: {_message(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        out = getattr(args, "out", None)
        where = f"; {out} holds an unfinished run, which no later command re-uses" if out else ""
        print(f"mgar {args.command}: interrupted{where}", file=sys.stderr)
        return 130


def _message(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        # an OSError from the system ("[Errno 13] ..."): its text and the file it concerns
        name = f": {exc.filename}" if exc.filename else ""
        return f"{exc.strerror}{name}"
    return str(exc)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
