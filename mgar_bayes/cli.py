"""Command line: ``mgar run``, ``mgar mock``, ``mgar fit``.

``mgar run [CATALOG] --out DIR`` preprocesses a catalogue (default: the bundled
simulated one) and writes the OLS/ODR MGAR of the thin and thick disks.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import signal
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from . import __version__

log = logging.getLogger("mgar_bayes")


def _add_catalogue_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("catalog", nargs="?", help="star catalogue (CSV, Parquet or FITS); default: bundled simulated catalogue")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--config", help="TOML file overriding pipeline settings")
    p.add_argument("--column-map", help="TOML file mapping the catalogue's column names/units to the canonical ones")
    p.add_argument("--lamost-ages", help="RGB/RC age catalogue: read CATALOG as the LAMOST DR8 giant VAC joined with it")
    p.add_argument("--lamost-snr", choices=["age", "vac"], default="age",
                   help="with --lamost-ages: the SNR cut reads the age catalogue's snr (C25, default) or the VAC's snrg")
    p.add_argument("--survey", help="survey preset (name, see `mgar surveys`, or a preset TOML file): its column map "
                                    "and the settings the table needs; not with --column-map or --lamost-ages")
    p.add_argument("--ages", help="age catalogue joined to CATALOG by a --survey preset's reader "
                                  "(apogee_dr17: an astroNN-style VAC or any table with APOGEE_ID, age, age_16, age_84)")
    p.add_argument("--encoding", default="utf-8", help="text encoding of a CSV catalogue (default utf-8; e.g. latin-1)")
    p.add_argument("--overwrite", action="store_true", help="replace an earlier run with different inputs in --out")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--no-figures", action="store_true", help="skip the figures")
    p.add_argument("--workers", type=int, default=None, metavar="N",
                   help="worker processes of the local Dask cluster that runs a partitioned catalogue "
                        "(HATS or Parquet dataset directory; default 2) or the robustness grid")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="a running dask.distributed scheduler (tcp://host:8786) to run on instead of a local "
                        "cluster; its workers must see --out")
    p.add_argument("--literature", type=_literature_names, default=("v21",), metavar="NAMES",
                   help="published MGARs drawn on Fig. 3, comma-separated (default v21; also anders2023, "
                        "anders2023_z1, lian2022, lian2023, willett2023, fire2, ratcliffe2023_birth; "
                        "'none' for none and no Fig. 5)")


def _literature_names(text: str) -> tuple[str, ...]:
    """``--literature`` as a tuple of dataset names, checked against the package data."""
    from .literature import DATASETS

    names = tuple(n.strip() for n in text.split(",") if n.strip())
    if names in ((), ("none",)):
        return ()
    bad = [n for n in names if n != "v21" and n not in DATASETS]
    if bad:
        raise argparse.ArgumentTypeError(
            f"unknown published MGAR(s) {', '.join(bad)}; choose from v21, {', '.join(DATASETS)}, or none"
        )
    return names


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
    p.add_argument("--bayes-fit", choices=["laplace", "nuts"], default="laplace",
                   help="--method bayes with a per-bin spec: Laplace approximation per bin checked by PSIS, "
                        "NUTS for a bin that fails (default), or NUTS for every bin")
    p.add_argument("--jobs", type=int, default=2, help="processes for the distinct Galaxy set-ups")

    p = sub.add_parser("fit", help="run the pipeline (or re-use a run in --out) and fit a Bayesian model",
                       epilog=_spec_listing() if {"-h", "--help"} & set(sys.argv[1:]) else None,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_catalogue_args(p)
    p.add_argument("--model", default="c25", help="model spec name (models/NAME.toml, listed below) or a TOML path")
    p.add_argument("--log-likelihood", action="store_true",
                   help="store every star's pointwise log-likelihood in the posterior files (for LOO and "
                        "power-scaling; large: draws x stars values per population)")
    p.add_argument("--seed", type=int, default=0, help="sampler seed")
    p.add_argument("--draws", type=int, help="posterior draws per chain (overrides the spec)")
    p.add_argument("--tune", type=int, help="tuning steps per chain (overrides the spec)")
    p.add_argument("--chains", type=int, help="chains (overrides the spec)")
    p.add_argument("--backend", choices=["pymc", "nutpie", "numpyro"], help="sampler backend (overrides the spec)")
    p.add_argument("--method", choices=["nuts", "laplace"],
                   help="fit method (overrides the spec): laplace = per-bin specs' Laplace approximation "
                        "per bin, checked by PSIS, NUTS (with the backend) for a bin that fails")

    sub.add_parser("surveys", help="list the survey presets (./surveys/*.toml and the packaged ones)")
    return parser


def _spec_listing() -> str:
    """The model specs ``--model`` finds, one line each (read as TOML: no model code is imported)."""
    import tomllib

    here = Path(__file__).resolve().parent / "models" / "specs"
    found: dict[str, str] = {}
    for d in (Path.cwd() / "models", here):
        for f in sorted(d.glob("*.toml")) if d.is_dir() else ():
            try:
                desc = str(tomllib.loads(f.read_text(encoding="utf-8")).get("description", ""))
            except (OSError, ValueError):
                desc = "(unreadable)"
            found.setdefault(f.stem, desc.strip().splitlines()[0] if desc.strip() else "")
    lines = [f"  {name:16s} {desc}" for name, desc in found.items()]
    return "model specs (--model NAME):\n" + "\n".join(lines)


def _survey_preset(args):
    """The ``--survey`` preset, or None; refused with --column-map or --lamost-ages (one map per table)."""
    if not getattr(args, "survey", None):
        return None
    other = [opt for opt, v in (("--column-map", args.column_map), ("--lamost-ages", args.lamost_ages)) if v]
    if other:
        raise ValueError(f"--survey cannot be combined with {' or '.join(other)}: the preset is the "
                         "table's column map; give one of them")
    if args.catalog is None:
        raise ValueError("--survey needs the catalogue file it describes: mgar run FILE --survey NAME")
    from .surveys import load_preset

    return load_preset(args.survey)


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
    from .partitioned import is_partitioned

    if is_partitioned(args.catalog):
        cat = _partitioned_catalogue(args)
        return cat, cat.provenance(), None
    if args.ages and not args.survey:
        raise ValueError("--ages goes with --survey (a preset whose reader joins ages, e.g. apogee_dr17); "
                         "for LAMOST DR8 use --lamost-ages")
    if args.lamost_ages:
        from .io import read_lamost_dr8

        table = read_lamost_dr8(path, args.lamost_ages, snr_source=args.lamost_snr, encoding=args.encoding)
        prov = {
            "kind": "lamost_dr8",
            "path": str(path),
            "sha256": file_sha256(path),
            "ages_path": str(args.lamost_ages),
            "ages_sha256": file_sha256(args.lamost_ages),
            "reader": _reader_notes(table),
        }
        return table, prov, None
    preset = _survey_preset(args)
    if preset is not None:
        from .surveys import read_survey

        table = read_survey(path, preset, encoding=args.encoding, ages=args.ages)
        prov = {"kind": "file", "path": str(path), "sha256": file_sha256(path), "survey": preset.name,
                "survey_path": str(preset.path), "survey_sha256": preset.sha256,
                "reader": _reader_notes(table)}  # fmt: skip
        if args.ages:
            prov.update(ages_path=str(args.ages), ages_sha256=file_sha256(args.ages))
        return table, prov, None
    from .io import read_catalogue

    table = read_catalogue(path, args.column_map, encoding=args.encoding)
    prov = {"kind": "file", "path": str(path), "sha256": file_sha256(path), "reader": _reader_notes(table)}
    if args.column_map:
        prov["column_map_sha256"] = file_sha256(args.column_map)
    return table, prov, None


def _partitioned_catalogue(args):
    """A HATS catalogue or Parquet dataset, opened lazily; its provenance is its files' hash."""
    from .partitioned import open_partitioned

    other = [opt for opt, v in (("--column-map", args.column_map), ("--lamost-ages", args.lamost_ages),
                                ("--survey", args.survey), ("--ages", args.ages)) if v]  # fmt: skip
    if other:
        raise ValueError(f"{args.catalog} is a partitioned catalogue, read with canonical column names; "
                         f"{', '.join(other)} apply to single files: write the partitions with the canonical "
                         "names (see the README, 'Survey-scale catalogues')")  # fmt: skip
    return open_partitioned(args.catalog)


def _reader_notes(table: pd.DataFrame) -> dict:
    """What the reader chose and assumed (units, signs, constants), JSON-safe, for run.json and summary.json."""
    from .reports import _clean

    return json.loads(json.dumps(_clean(dict(table.attrs)), default=str))


def _load_config(args):
    """The run's config; the LAMOST DR8 route takes the VAC's Galactocentric coordinates (as C25)."""
    from .config import load_config

    preset = _survey_preset(args)
    if preset is not None:
        from .surveys import apply_preset_config

        # defaults < the preset's settings < the user's --config
        cfg = apply_preset_config(args.config, preset)
        if preset.config and not args.no_progress:
            print(f"survey preset {preset.name}: {'; '.join(preset.settings())} (a --config file overrides these)")
        return cfg
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
    from .partitioned import PartitionedCatalogue

    if isinstance(table, PartitionedCatalogue):
        result = _run_partitioned(args, cfg, table, out)
    else:
        _single_machine_note(args)
        result = run_pipeline(table, cfg, progress=not args.no_progress)
    paths = write_run_outputs(result, out, record, truth=truth, truth_bins=truth_bins,
                              figures=not args.no_figures, literature=args.literature)  # fmt: skip
    finish_run(out, record)
    return result, out, paths


def _run_partitioned(args, cfg, cat, out: Path):
    """A partitioned catalogue on a local Dask cluster (``--workers``) or a running scheduler (``--scheduler``)."""
    from .partitioned import dask_client, run_partitioned

    with dask_client(args.workers, args.scheduler) as client:
        if not args.no_progress:
            where = args.scheduler or f"a local cluster of {args.workers or 2} worker(s)"
            print(f"{cat.path}: {cat.kind} catalogue of {cat.n_partitions} partitions, on {where}")
        return run_partitioned(cat, cfg, client=client, stars_path=out / "stars.parquet",
                               progress=not args.no_progress)  # fmt: skip


def _single_machine_note(args) -> None:
    if (getattr(args, "workers", None) or getattr(args, "scheduler", None)) and not args.no_progress:
        print("note: --workers/--scheduler run partitioned catalogues (a HATS catalogue or Parquet dataset "
              "directory); this single file is processed in memory")  # fmt: skip


def _print_summary(result, out: Path, paths: dict) -> None:
    print(f"clean sample: {result.info['n_clean']} of {result.info['n_input']} stars; "
          f"thin {result.info['n_thin']}, thick {result.info['n_thick']}")
    for pop, methods in result.trend.items():
        for m, v in methods.items():
            if np.isfinite(v["rate"]) and np.isfinite(v["rate_err"]):
                rate = f"flattening rate {v['rate']:+.4f} +- {v['rate_err']:.4f} dex/kpc/Gyr"
            else:
                rate = f"no flattening rate ({v['n_bins']} fitted age bin(s); a line needs 3)"
            print(f"  {pop:5s} {m}: {rate}, mean gradient {v['mean_gradient']:+.4f} dex/kpc "
                  f"over {v['n_bins']} bin(s)")
    names = sorted({p.name if p.parent == out else f"{p.parent.name}/" for p in paths.values()})
    print(f"wrote {out}/: {', '.join(names)}")


def cmd_run(args) -> int:
    cfg = _load_config(args)
    table, prov, mock = _load_catalogue(args)
    result, out, paths = _run_pipeline_into(args, cfg, table, prov, mock)
    _print_summary(result, out, paths)
    _write_page(out)
    return 0


def _write_page(out: Path) -> None:
    """``DIR/report.html``: the whole run on one page, from the files just written."""
    from .report_page import write_report

    print(f"open {write_report(out)} for the whole run on one page")


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
    from .partitioned import PartitionedCatalogue

    if isinstance(table, PartitionedCatalogue):
        raise ValueError(f"mgar robustness re-selects every clean star per variant and reads the catalogue into "
                         f"memory; {args.catalog} is partitioned: give it as one file (--workers/--scheduler "
                         "then spread the grid's units of work over a Dask cluster)")  # fmt: skip
    record = {"version": __version__, "catalogue": prov, "config": cfg.to_dict(), "command": "robustness",
              "method": args.method, "model": args.model}  # fmt: skip
    if args.method == "bayes":
        record["bayes_fit"] = args.bayes_fit  # the Laplace route or NUTS: a different run
    record["inputs_hash"] = inputs_hash(record)
    out = prepare_out_dir(args.out, record, overwrite=args.overwrite)
    variants = default_variants(cfg)
    if not args.no_progress:
        print(f"running {len(variants)} variants ({len({v.orbit_key() for v in variants})} orbit set-ups)")
    with contextlib.ExitStack() as stack:
        executor = None
        if args.workers or args.scheduler:
            from .partitioned import dask_client

            executor = stack.enter_context(dask_client(args.workers, args.scheduler)).get_executor()
        result, setups = run_robustness(table, variants, methods=(args.method,), n_jobs=args.jobs,
                                        bayes_spec=args.model, bayes_method=args.bayes_fit, executor=executor)  # fmt: skip
    write_frame(result, out / "robustness.csv")
    write_json(out / "robustness_setups.json", setups)
    if not args.no_figures:
        for group in ("selection", "galaxy", "data"):
            fig, _ = plot_robustness(result, group, method=args.method)
            save_figure(fig, out / "figures" / f"robustness_{group}.png", overwrite=True)
    finish_run(out, record)
    figs = " and figures/robustness_*.png" if not args.no_figures else ""
    print(f"wrote {out}/robustness.csv ({len(result)} rows){figs}")
    _write_page(out)
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
    if cfg.fit.radius == "R":
        # gradients in the present-day radius: the models read it under the name R_g
        stars = stars.assign(R_g=stars["R"], R_g_err=stars["R_err"])
    # the summary the fit is filed in must be readable before any sampling
    sp = out / "summary.json"
    try:
        data = read_json(sp, what="run summary") or {}
    except FileExistsError:
        if not args.overwrite:
            raise
        data = {}
    bins = AgeBins.from_config(cfg.binning)
    sampler = {k: getattr(args, k) for k in ("draws", "tune", "chains", "backend", "method") if getattr(args, k) is not None}
    if args.log_likelihood:
        sampler["log_likelihood"] = True
    summary = run_fit(stars, bins, spec, out, ols_table=fits, seed=args.seed,
                      overrides={"sampler": sampler} if sampler else None,
                      progress=not args.no_progress, overwrite=args.overwrite,
                      populations=cfg.selection.populations, figures=not args.no_figures,
                      truth=mock.truth if mock is not None else None, radius=cfg.fit.radius)
    # filed under the spec's own name, as the posterior files and table rows are
    data.setdefault("bayes", {})[spec.name] = summary
    write_json(sp, data)
    _print_fit_summary(spec.name, summary)
    written = ["mgar_bayes.csv", *(f"posterior_{pop}_{spec.name}.nc" for pop in summary)]
    if fits is not None:
        written.append("mgar_bayes_vs_ols.csv")
    written.append("mgar_bayes_bands.csv")
    if not args.no_figures:
        written.append("figures/posterior_vs_ols.png")
    print(f"wrote {out}/: {', '.join(written)}; summary.json updated")
    _write_page(out)
    return 0


def _print_fit_summary(model: str, summary: dict) -> None:
    """Per population what ``mgar run`` prints, for the posterior: the rate with its HDI and convergence."""
    for pop, s in summary.items():
        r, g = s["flattening_rate"], s["mean_gradient"]
        hdi = f"{s['hdi_prob']:.0%} HDI"
        state = (f"converged (max R-hat {s['max_r_hat']:.3f}, {s['divergences']} divergences)" if s["converged"]
                 else f"NOT CONVERGED (max R-hat {s['max_r_hat']:.3f}, {s['divergences']} divergences): "
                      "increase --tune/--draws")  # fmt: skip
        print(f"  {pop:5s} {model}: flattening rate {r['mean']:+.4f} [{hdi} {r['hdi_lo']:+.4f}, {r['hdi_hi']:+.4f}] "
              f"dex/kpc/Gyr, mean gradient {g['mean']:+.4f} +- {g['sd']:.4f} dex/kpc; {state}")


def cmd_surveys(args) -> int:
    from .surveys import available_surveys, find_preset, load_preset

    surveys = available_surveys()
    if not surveys:
        print("no survey presets found (./surveys/*.toml or the package's)")
    width = max((len(n) for n in surveys), default=0)
    for name, description in surveys.items():
        try:
            citation = load_preset(name).citation
        except (OSError, ValueError):
            citation = ""  # the description already says why it cannot be read
        local = find_preset(name).parent.resolve() == (Path.cwd() / "surveys").resolve()
        where = "  [./surveys]" if local else ""
        summary = description.strip().splitlines()[0] if description.strip() else ""
        print(f"{name:<{width}}  {summary}" + (f"  ({citation})" if citation else "") + where)
    return 0


def _format_warning(message, category, filename, lineno, line=None) -> str:
    # what the user can act on, without the file, line and echoed source
    return f"mgar: warning: {message}"


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    print(_format_warning(message, category, filename, lineno), file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    handlers = {"run": cmd_run, "mock": cmd_mock, "fit": cmd_fit, "robustness": cmd_robustness,
                "surveys": cmd_surveys}  # fmt: skip
    try:
        galpy_verbose = None
        if args.command in ("run", "fit", "robustness"):
            # galpy replaces warnings.showwarning when first imported: import it before ours
            from galpy.util import galpyWarningVerbose as galpy_verbose
        with warnings.catch_warnings():
            warnings.showwarning = _show_warning
            warnings.formatwarning = _format_warning
            if galpy_verbose is not None:
                # galpy shows these only in its verbose mode; so do we
                warnings.filterwarnings("ignore", category=galpy_verbose)
            return handlers[args.command](args)
    except (OSError, ValueError) as exc:
        # user mistakes and I/O problems (CatalogueError, config and spec errors, refusals
        # to overwrite, unwritable outputs) end with one message, no traceback
        print(f"mgar {args.command}: error: {_message(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        if argv is None:
            # the command line's run is abandoned: a second Ctrl-C during the interpreter's
            # clean-up must not turn exit 130 into death by signal
            signal.signal(signal.SIGINT, signal.SIG_IGN)
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
