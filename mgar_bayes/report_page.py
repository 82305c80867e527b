"""One self-contained HTML page per run directory: ``DIR/report.html``.

:func:`write_report` reads what ``mgar run`` and ``mgar fit`` wrote into a run
directory (``run.json``, ``summary.json``, the CSV tables, ``figures/``) and
lays it out on one page: what was run, the flattening rate of the MGAR per
population and method (with the truth for a simulated catalogue and the
Bayesian models beside it), the tables, every figure and the provenance.

The page shows only what is in those files; nothing is recomputed. Figures are
embedded as base64 PNG and the style sheet is inline, so the page can be
mailed or archived alone and opened offline; it needs no JavaScript. A
missing optional file is skipped; an unreadable one is named on the page
instead of stopping it.
"""

from __future__ import annotations

import base64
import csv
import datetime as _dt
import html
import json
import math
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .atomic import atomic_write_text

__all__ = ["REPORT_NAME", "figure_caption", "render_report", "write_report"]

REPORT_NAME = "report.html"

# raster and vector formats a browser shows in <img>; anything else in figures/ is listed by name
_IMAGE_TYPES = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".svg": "image/svg+xml",
}

# file-name prefix -> caption; the C25 figure each one reproduces
_CAPTIONS = (
    ("fig1", "Sample overview: the clean sample in the chemical and orbital planes (C25 Fig. 1)"),
    ("fig2", "Thin and thick disk populations (C25 Fig. 2)"),
    ("fig3", "MGAR: radial metallicity gradient against age (C25 Fig. 3)"),
    ("fig4", "Per-bin fits of [Fe/H] against radius, one panel per age bin (C25 Fig. 4)"),
    ("fig5", "Thin-disk MGAR beside the Ratcliffe+2023 birth gradient, Anders+2023 and the FIRE-2 MGARs "
             "of Graf+2024 (C25 Fig. 5; published numbers, not results of this run)"),
    ("posterior_vs_ols", "Bayesian per-bin gradients against OLS (C25 Fig. A1)"),
    ("robustness", "Robustness of the flattening rate"),
)

# tables shown in this order, when present: file, heading, what the rows are
_TABLES = (
    (
        "mgar_ols.csv",
        "Per-bin gradients: OLS and ODR",
        "One row per population, method and age bin: the radial [Fe/H] gradient [dex/kpc] of the stars in the bin.",
    ),
    (
        "mgar_bayes.csv",
        "Per-bin gradients: Bayesian models",
        "Posterior mean, sd and HDI of each bin's gradient [dex/kpc], with R-hat and bulk ESS.",
    ),
    (
        "mgar_bayes_vs_ols.csv",
        "Bayesian against OLS per bin",
        "The two per-bin estimates side by side.",
    ),
    (
        "truth_bins.csv",
        "Truth per age bin (simulated catalogue)",
        "The gradients the simulated catalogue was drawn with.",
    ),
    (
        "robustness.csv",
        "Robustness variants",
        "The flattening rate under each selection, Galaxy and data variant.",
    ),
    (
        "cutflow.csv",
        "Cut-flow",
        "Stars removed by each quality cut, in the order they were applied.",
    ),
)
# tables longer than this are cut on the page (the CSV holds them whole)
_MAX_ROWS = 400

# decimals by column: gradients to 1e-4 dex/kpc (errors are ~1e-3), ages to the bin edges' precision
_DECIMALS = {
    "gradient": 4,
    "gradient_err": 4,
    "hdi_lo": 4,
    "hdi_hi": 4,
    "sd": 4,
    "mean": 4,
    "rate": 4,
    "rate_err": 4,
    "intercept": 3,
    "r_hat": 3,
    "ess_bulk": 0,
    "ess_tail": 0,
    "diff": 4,
    "combined_err": 4,
    "z": 2,
}

_CSS = """
:root { color-scheme: light; --ink: #1d2430; --muted: #5b6576; --line: #d9dee7; --bg: #f6f7f9;
        --ok: #1a7f37; --okbg: #e6f4ea; --bad: #b42318; --badbg: #fdecea; --warn: #8a5a00; --warnbg: #fff4d6; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--ink);
       font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1180px; margin: 0 auto; padding: 20px 28px 60px; background: #fff; min-height: 100vh; }
h1 { font-size: 1.6em; margin: 0.2em 0 0.1em; }
h2 { font-size: 1.25em; margin: 1.8em 0 0.5em; padding-bottom: 0.2em; border-bottom: 2px solid var(--line); }
h3 { font-size: 1.05em; margin: 1.3em 0 0.4em; }
p.note, .muted { color: var(--muted); font-size: 0.92em; margin: 0.2em 0 0.6em; }
nav { font-size: 0.92em; margin: 0.6em 0 0; }
nav a { margin-right: 1.1em; color: #2557a7; text-decoration: none; }
code, pre, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 0.9em; }
pre { background: var(--bg); border: 1px solid var(--line); padding: 10px 12px; overflow-x: auto;
      max-height: 70vh; white-space: pre; }
.scroll { overflow-x: auto; max-width: 100%; }
.cols { display: flex; flex-wrap: wrap; gap: 0 36px; align-items: flex-start; }
table { border-collapse: collapse; margin: 0.3em 0 0.8em; font-size: 0.9em; }
th, td { padding: 3px 10px; border-bottom: 1px solid var(--line); text-align: left; vertical-align: top; }
th { background: var(--bg); font-weight: 600; white-space: nowrap; vertical-align: bottom; }
th .unit { font-weight: 400; color: var(--muted); font-size: 0.9em; }
tbody tr:nth-child(even) td { background: #fafbfc; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
table.kv th { text-align: right; color: var(--muted); font-weight: 500; background: none; }
table.kv td { word-break: break-all; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 0.85em; font-weight: 600; }
.badge.ok { color: var(--ok); background: var(--okbg); }
.badge.bad { color: var(--bad); background: var(--badbg); }
.badge.warn { color: var(--warn); background: var(--warnbg); }
.banner { border-left: 5px solid; padding: 8px 14px; margin: 0.8em 0; border-radius: 3px; }
.banner.bad { border-color: var(--bad); background: var(--badbg); }
.banner.warn { border-color: #d4a017; background: var(--warnbg); }
tr.idle td { color: #8a93a3; }
tr.not-converged td { background: var(--badbg) !important; }
.headline td.rate { font-weight: 600; }
figure { margin: 1.2em 0 2em; text-align: center; }
figure img { max-width: 100%; max-height: 88vh; width: auto; height: auto; border: 1px solid var(--line); }
figcaption { color: var(--muted); font-size: 0.92em; margin-top: 0.4em; }
details { margin: 0.5em 0; }
summary { cursor: pointer; font-weight: 600; }
ul.notes li { margin: 0.15em 0; }
@media print { main { max-width: none; } figure { break-inside: avoid; } pre { max-height: none; } }
"""


# ----------------------------------------------------------------------------- public API


def write_report(out_dir: str | os.PathLike) -> Path:
    """Write ``report.html`` for the run in ``out_dir``, atomically.

    Parameters
    ----------
    out_dir : str or path-like
        A run directory of ``mgar run`` / ``mgar fit``.

    Returns
    -------
    pathlib.Path
        The page, ``out_dir / "report.html"``.

    Raises
    ------
    NotADirectoryError
        If ``out_dir`` is not a directory.
    """
    d = Path(out_dir)
    return atomic_write_text(d / REPORT_NAME, render_report(d))


def render_report(out_dir: str | os.PathLike) -> str:
    """The report page of the run in ``out_dir`` as an HTML string.

    Parameters
    ----------
    out_dir : str or path-like
        A run directory. Missing files are skipped; unreadable ones are named
        on the page.

    Returns
    -------
    str
        A complete HTML document with everything inline.

    Raises
    ------
    NotADirectoryError
        If ``out_dir`` is not a directory.
    """
    d = Path(out_dir)
    if not d.is_dir():
        raise NotADirectoryError(f"{d} is not a run directory")
    return _Page(d).render()


def figure_caption(name: str) -> str:
    """Caption of the figure file ``name`` (e.g. ``fig3_mgar_ols.png``), from its name.

    Parameters
    ----------
    name : str
        File name inside ``figures/``.

    Returns
    -------
    str
        What the figure shows and the C25 figure it reproduces; the file's
        own words for a name not known here.
    """
    stem = Path(name).stem
    low = stem.lower()
    for prefix, caption in _CAPTIONS:
        if low == prefix or low.startswith(prefix + "_"):
            rest = low[len(prefix) :].strip("_")
            if prefix == "fig3" and rest in ("mgar_ols", "mgar_odr"):
                return caption.replace("against age", f"against age, {rest[-3:].upper()} per bin")
            if prefix == "robustness" and rest:
                return f"{caption}: {rest.replace('_', ' ')} variants"
            pop = rest.rsplit("_", 1)[-1]
            if prefix == "fig4" and pop in ("thin", "thick"):
                return f"{caption}: {pop} disk"
            if rest and prefix not in ("fig1", "fig2", "fig5", "posterior_vs_ols"):
                return f"{caption}: {rest.replace('_', ' ')}"
            return caption
    return stem.replace("_", " ")


# ----------------------------------------------------------------------------- reading


def _esc(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


class _Page:
    """Reads a run directory once and renders its sections."""

    def __init__(self, d: Path):
        self.d = d
        self.problems: list[str] = []  # unreadable files, shown at the top
        self.run = self._json("run.json", "run record")
        self.summary = self._json("summary.json", "run summary")

    def _json(self, name: str, what: str) -> dict | None:
        p = self.d / name
        if not p.exists():
            return None
        try:
            data = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            self.problems.append(f"{name} (the {what}) cannot be read: {type(exc).__name__}: {exc}")
            return None
        if not isinstance(data, dict):
            self.problems.append(f"{name} (the {what}) is not a JSON object")
            return None
        return data

    def _csv(self, name: str) -> tuple[list[str], list[list[str]]] | None:
        p = self.d / name
        if not p.is_file():
            return None
        try:
            with p.open(newline="", encoding="utf-8") as fh:
                rows = list(csv.reader(fh))
        except (OSError, UnicodeDecodeError, csv.Error) as exc:
            self.problems.append(f"{name} cannot be read: {type(exc).__name__}: {exc}")
            return None
        if not rows:
            return [], []
        return rows[0], rows[1:]

    # ------------------------------------------------------------------------- page

    def render(self) -> str:
        title = f"MGAR run report: {self.d.resolve().name}"
        sections = [
            ("headline", "Result", self._headline()),
            ("bayes", "Bayesian", self._bayes()),
            ("figures", "Figures", self._figures()),
            ("tables", "Tables", self._tables()),
            ("notes", "Columns", self._notes()),
            ("provenance", "Provenance", self._provenance()),
        ]
        present = [(key, label) for key, label, text in sections if text]
        # problems are gathered while the sections render, so the header comes after them but is shown first
        problems = "".join(f'<div class="banner bad">{_esc(p)}</div>' for p in self.problems)
        body = [self._header(title, present), problems, *(text for _, _, text in sections)]
        return (
            '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{_esc(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n<main>\n"
            + "\n".join(s for s in body if s)
            + "\n</main>\n</body>\n</html>\n"
        )

    def _header(self, title: str, sections: list[tuple[str, str]]) -> str:
        run, summ = self.run or {}, self.summary or {}
        cat = run.get("catalogue") or summ.get("catalogue") or {}
        status = run.get("status")
        out = [f"<h1>{_esc(title)}</h1>"]
        out.append(
            "<nav>"
            + "".join(f'<a href="#{k}">{_esc(label)}</a>' for k, label in sections)
            + "</nav>"
        )
        if self.run is None and not any("run.json" in p for p in self.problems):
            out.append(
                '<div class="banner warn">No run.json here: this directory holds no record of a run, '
                "so what produced these files is unknown.</div>"
            )
        elif status != "complete":
            said = f"status {status!r}" if status is not None else "no status recorded"
            out.append(
                f'<div class="banner warn"><b>This run is unfinished</b> (run.json: {_esc(said)}): '
                "it is still running or was interrupted, so outputs may be missing or left from an "
                "earlier run.</div>"
            )
        # a robustness run writes no summary.json; a pipeline run writes it last
        if (
            self.summary is None
            and run.get("command") != "robustness"
            and not any("summary.json" in p for p in self.problems)
        ):
            out.append(
                '<div class="banner warn">No summary.json: the run wrote no summary (yet).</div>'
            )
        if (
            self.run
            and self.summary
            and run.get("inputs_hash")
            and summ.get("inputs_hash")
            and run["inputs_hash"] != summ["inputs_hash"]
        ):
            out.append(
                f'<div class="banner bad">summary.json (inputs hash {_esc(summ["inputs_hash"])}) '
                f"belongs to another run than run.json ({_esc(run['inputs_hash'])}).</div>"
            )
        bad = _not_converged(summ.get("bayes"))
        if bad:
            out.append(
                '<div class="banner bad"><b>A Bayesian fit did not converge</b> ('
                + _esc(", ".join(bad))
                + '): see <a href="#bayes">Bayesian models</a>.</div>'
            )
        rows = [("directory", str(self.d.resolve()))]
        rows.append(("catalogue kind", cat.get("kind")))
        rows.append(("catalogue", cat.get("path")))
        if cat.get("survey"):
            rows.append(("survey preset", cat.get("survey")))
        for key, label in (
            ("survey_path", "survey preset file"),
            ("ages_path", "age catalogue"),
            ("sha256", "catalogue SHA-256"),
            ("column_map_sha256", "column map SHA-256"),
        ):
            if cat.get(key):
                rows.append((label, cat[key]))
        if run.get("command"):
            rows.append(
                (
                    "command",
                    " ".join(str(run.get(k)) for k in ("command", "method", "model") if run.get(k)),
                )
            )
        # what was run on the left, the run's state on the right (side by side on a wide screen)
        state = [
            ("package version", f"mgar_bayes {run.get('version') or summ.get('version') or '?'}")
        ]
        state.append(("inputs hash", run.get("inputs_hash") or summ.get("inputs_hash")))
        state.append(("status", _status_badge(status) if self.run else None))
        state.append(("started", _date(run.get("started"))))
        state.append(("finished", _date(run.get("finished"))))
        if summ.get("n_input") is not None:
            state.append(
                ("stars", f"{_int(summ.get('n_clean'))} clean of {_int(summ.get('n_input'))} read")
            )
        out.append(f'<div class="cols">{_kv_table(rows)}{_kv_table(state, raw={"status"})}</div>')
        return "\n".join(out)

    def _headline(self) -> str:
        summ = self.summary or {}
        pops = summ.get("populations") or {}
        truth = summ.get("truth") or {}
        if not isinstance(pops, dict) or not pops:
            return ""
        has_truth = isinstance(truth, dict) and bool(truth)
        head = [
            "population",
            "stars",
            "method",
            "bins",
            "flattening rate [dex/kpc/Gyr]",
            "mean gradient [dex/kpc]",
        ]
        if has_truth:
            head += ["true rate [dex/kpc/Gyr]", "true mean gradient [dex/kpc]"]
        body = []
        for pop, methods in pops.items():
            if not isinstance(methods, dict):
                continue
            t = truth.get(pop) if has_truth and isinstance(truth.get(pop), dict) else {}
            for m, v in methods.items():
                if not isinstance(v, dict):
                    continue
                rate = _pm(v.get("rate"), v.get("rate_err"))
                if rate is None:
                    rate = f"none ({_int(v.get('n_bins'))} fitted bin(s); a line needs 3)"
                row = [
                    _esc(pop),
                    _num_cell(methods.get("n_stars"), 0),
                    _esc(m.upper()),
                    _num_cell(v.get("n_bins"), 0),
                    f'<td class="num rate">{_esc(rate)}</td>',
                    f'<td class="num">{_esc(_pm(v.get("mean_gradient"), v.get("mean_gradient_err")) or "n/a")}</td>',
                ]
                row[0] = f"<td>{row[0]}</td>"
                row[2] = f"<td>{row[2]}</td>"
                if has_truth:
                    row += [
                        _num_cell(t.get("rate_true"), 4, sign=True),
                        _num_cell(t.get("mean_gradient_true"), 4, sign=True),
                    ]
                body.append("<tr>" + "".join(row) + "</tr>")
        return (
            '<h2 id="headline">Result: the flattening of the radial metallicity gradient with age</h2>\n'
            '<p class="note">The flattening rate is the slope of the per-bin radial [Fe/H] gradient against '
            "age (± its standard error); the mean gradient is the average over the fitted age bins.</p>\n"
            + _table_html(head, body, cls="headline", num_cols=set(range(1, len(head))) - {2})
        )

    def _bayes(self) -> str:
        bayes = (self.summary or {}).get("bayes")
        if not isinstance(bayes, dict) or not bayes:
            return ""
        head = [
            "model",
            "population",
            "stars",
            "flattening rate [dex/kpc/Gyr]",
            "rate HDI [dex/kpc/Gyr]",
            "mean gradient [dex/kpc]",
            "convergence",
            "max R-hat",
            "divergences",
        ]
        body, bad = [], _not_converged(bayes)
        for model, pops in bayes.items():
            if not isinstance(pops, dict):
                continue
            for pop, s in pops.items():
                if not isinstance(s, dict):
                    continue
                fr = s.get("flattening_rate") if isinstance(s.get("flattening_rate"), dict) else {}
                mg = s.get("mean_gradient") if isinstance(s.get("mean_gradient"), dict) else {}
                prob = _float(s.get("hdi_prob"))
                hdi = _interval(fr.get("hdi_lo"), fr.get("hdi_hi"))
                if hdi and prob is not None:
                    hdi = f"{prob:.0%} {hdi}"
                ok = s.get("converged") is True
                badge = (
                    _badge("converged", "ok")
                    if ok
                    else _badge(
                        "NOT converged" if s.get("converged") is False else "convergence unknown",
                        "bad",
                    )
                )
                cells = [
                    f"<td>{_esc(model)}</td>",
                    f"<td>{_esc(pop)}</td>",
                    _num_cell(s.get("n_stars"), 0),
                    f'<td class="num rate">{_esc(_pm(fr.get("mean"), fr.get("sd")) or "n/a")}</td>',
                    f'<td class="num">{_esc(hdi or "n/a")}</td>',
                    f'<td class="num">{_esc(_pm(mg.get("mean"), mg.get("sd")) or "n/a")}</td>',
                    f"<td>{badge}</td>",
                    _num_cell(s.get("max_r_hat"), 3),
                    _num_cell(s.get("divergences"), 0),
                ]
                cls = "" if ok else ' class="not-converged"'
                body.append(f"<tr{cls}>" + "".join(cells) + "</tr>")
        out = ['<h2 id="bayes">Bayesian models</h2>']
        if bad:
            out.append(
                '<div class="banner bad"><b>Not converged:</b> '
                + _esc(", ".join(bad))
                + ". The chains disagree (R-hat above the threshold) or the sampler diverged: "
                "treat these numbers as unreliable and refit with more tuning or draws.</div>"
            )
        out.append(
            '<p class="note">Posterior mean ± sd of the flattening rate and of the mean gradient, and '
            "the highest-density interval of the rate.</p>"
        )
        out.append(_table_html(head, body, cls="headline", num_cols={2, 3, 4, 5, 7, 8}))
        return "\n".join(out)

    def _tables(self) -> str:
        out = ['<h2 id="tables">Tables</h2>']
        shown = False
        for name, heading, note in _TABLES:
            t = self._csv(name)
            if t is None:
                continue
            shown = True
            header, rows = t
            html_table = _csv_table(header, rows)
            # long or secondary tables fold away; the per-bin fits and cut-flow stay open
            open_ = name in ("mgar_ols.csv", "mgar_bayes.csv", "cutflow.csv") and len(rows) <= 80
            out.append(
                f"<details{' open' if open_ else ''}><summary>{_esc(heading)} "
                f'<span class="muted">({_esc(name)}, {len(rows)} rows)</span></summary>\n'
                f'<p class="note">{_esc(note)}</p>\n{html_table}</details>'
            )
        return "\n".join(out) if shown else ""

    def _notes(self) -> str:
        summ = self.summary or {}
        run = self.run or {}
        notes = summ.get("column_notes") or []
        used = summ.get("catalogue_columns") or []
        reader = (summ.get("catalogue") or {}).get("reader")
        if reader is None:
            reader = (run.get("catalogue") or {}).get("reader")
        if self.summary is None and reader is None:
            return ""  # nothing recorded, so nothing to say (not even "no notes")
        out = ['<h2 id="notes">Columns and reader choices</h2>']
        if used:
            out.append(
                "<p>Quantities taken from the catalogue rather than computed: "
                + ", ".join(f"<code>{_esc(c)}</code>" for c in _as_list(used))
                + ".</p>"
            )
        if notes:
            out.append(
                '<ul class="notes">'
                + "".join(f"<li>{_esc(n)}</li>" for n in _as_list(notes))
                + "</ul>"
            )
        else:
            out.append('<p class="note">No column notes recorded.</p>')
        if isinstance(reader, dict) and reader:
            out.append("<h3>What the reader chose and assumed</h3>")
            out.append(_kv_table(list(_flatten(reader)), mono_values=True))
        elif reader is not None and not isinstance(reader, dict):
            out.append(f"<pre>{_esc(_json_text(reader))}</pre>")
        return "\n".join(out)

    def _figures(self) -> str:
        fig_dir = self.d / "figures"
        out = ['<h2 id="figures">Figures</h2>']
        files = (
            sorted(p for p in fig_dir.iterdir() if p.is_file() and not p.name.startswith("."))
            if fig_dir.is_dir()
            else []
        )
        # dot-files are atomic-write temporaries of a figure being written at this moment
        if not files:
            out.append(
                '<p class="note">No figures in figures/ (a run with --no-figures writes none).</p>'
            )
            return "\n".join(out)
        started = _parse_date((self.run or {}).get("started"))
        other = []
        for p in files:
            mime = _IMAGE_TYPES.get(p.suffix.lower())
            if mime is None:
                other.append(p.name)
                continue
            try:
                data = base64.b64encode(p.read_bytes()).decode("ascii")
            except OSError as exc:
                self.problems.append(f"figures/{p.name} cannot be read: {exc}")
                continue
            caption = figure_caption(p.name)
            stale = ""
            # a figure older than the run's start was left by an earlier run (e.g. one with --no-figures since);
            # the start is recorded to the second, hence the slack
            written = _mtime(p)
            if (
                started is not None
                and written is not None
                and written < started - _dt.timedelta(seconds=2)
            ):
                stale = (
                    ' <span class="badge warn">written before this run started: '
                    "may be from an earlier run</span>"
                )
            out.append(
                f'<figure id="fig-{_esc(p.stem)}"><img src="data:{mime};base64,{data}" alt="{_esc(caption)}">'
                f'<figcaption>{_esc(caption)} <span class="mono">figures/{_esc(p.name)}</span>'
                f"{stale}</figcaption></figure>"
            )
        if other:
            out.append(
                '<p class="note">Not shown (not an image a browser displays inline): '
                + ", ".join(f"<code>figures/{_esc(n)}</code>" for n in other)
                + ".</p>"
            )
        return "\n".join(out)

    def _provenance(self) -> str:
        summ = self.summary or {}
        out = ['<h2 id="provenance">Configuration and provenance</h2>']
        cfg = summ.get("config") if "config" in summ else (self.run or {}).get("config")
        if cfg is not None:
            src = "summary.json" if "config" in summ else "run.json"
            out.append(
                f'<details><summary>Pipeline configuration <span class="muted">({src})</span></summary>'
                f"<pre>{_esc(_json_text(cfg))}</pre></details>"
            )
        if isinstance(summ.get("orbits"), dict):
            out.append(
                '<details><summary>Orbit settings and timings <span class="muted">(summary.json)</span>'
                f"</summary><pre>{_esc(_json_text(summ['orbits']))}</pre></details>"
            )
        if self.run is not None:
            out.append(
                '<details><summary>Run record <span class="muted">(run.json: inputs, hashes, state)'
                f"</span></summary><pre>{_esc(_json_text(self.run))}</pre></details>"
            )
        return "\n".join(out) if len(out) > 1 else ""


# ----------------------------------------------------------------------------- formatting


def _float(v: Any) -> float | None:
    """A finite float, or None (JSON null, text, NaN, inf)."""
    if isinstance(v, bool) or v is None:
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _int(v: Any) -> str:
    f = _float(v)
    return "?" if f is None else f"{int(round(f)):,}"


def _pm(value: Any, err: Any, nd: int = 4) -> str | None:
    """``+0.0024 ± 0.0010`` (sign kept: the sign of a rate is the result), None without a value."""
    v = _float(value)
    if v is None:
        return None
    e = _float(err)
    return f"{v:+.{nd}f}" + (f" ± {e:.{nd}f}" if e is not None else "")


def _interval(lo: Any, hi: Any, nd: int = 4) -> str | None:
    a, b = _float(lo), _float(hi)
    return None if a is None or b is None else f"[{a:+.{nd}f}, {b:+.{nd}f}]"


def _num_cell(v: Any, nd: int, sign: bool = False) -> str:
    f = _float(v)
    if f is None:
        return '<td class="num">n/a</td>'
    text = f"{int(round(f)):,}" if nd == 0 else (f"{f:+.{nd}f}" if sign else f"{f:.{nd}f}")
    return f'<td class="num">{_esc(text)}</td>'


def _not_converged(bayes: Any) -> list[str]:
    """``model / population`` of each Bayesian fit in summary.json not marked converged."""
    if not isinstance(bayes, dict):
        return []
    return [
        f"{model} / {pop}"
        for model, pops in bayes.items()
        if isinstance(pops, dict)
        for pop, s in pops.items()
        if isinstance(s, dict) and s.get("converged") is not True
    ]


def _badge(text: str, kind: str) -> str:
    return f'<span class="badge {kind}">{_esc(text)}</span>'


def _status_badge(status: Any) -> str:
    if status == "complete":
        return _badge("complete", "ok")
    return _badge(f"{status or 'unknown'}: unfinished", "warn")


def _parse_date(text: Any) -> _dt.datetime | None:
    if not isinstance(text, str):
        return None
    try:
        t = _dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=_dt.UTC)


def _date(text: Any) -> str | None:
    t = _parse_date(text)
    return (
        t.strftime("%Y-%m-%d %H:%M:%S %Z").strip()
        if t is not None
        else (str(text) if text else None)
    )


def _mtime(p: Path) -> _dt.datetime | None:
    try:
        return _dt.datetime.fromtimestamp(p.stat().st_mtime, _dt.UTC)
    except OSError:
        return None


def _json_text(obj: Any) -> str:
    return json.dumps(obj, indent=2, ensure_ascii=False, default=str)


def _as_list(v: Any) -> list:
    return list(v) if isinstance(v, list | tuple) else [v]


def _flatten(obj: Any, prefix: str = "") -> Iterable[tuple[str, str]]:
    """Dotted key -> value rows of a nested dict; short lists of scalars inline, others as JSON."""
    if isinstance(obj, dict):
        if not obj and prefix:
            yield prefix, "(none)"
        for k, v in obj.items():
            yield from _flatten(v, f"{prefix}.{k}" if prefix else str(k))
    elif isinstance(obj, list) and all(not isinstance(x, dict | list) for x in obj):
        yield prefix, ", ".join(map(str, obj)) if obj else "(none)"
    elif isinstance(obj, list):
        yield prefix, json.dumps(obj, ensure_ascii=False, default=str)
    else:
        yield prefix, "null" if obj is None else str(obj)


def _kv_table(
    rows: list[tuple[str, Any]], *, raw: set[str] = frozenset(), mono_values: bool = False
) -> str:
    """Two-column key/value table; rows without a value are left out; ``raw`` keys hold ready HTML."""
    cls = ' class="mono"' if mono_values else ""
    body = "".join(
        f"<tr><th>{_esc(k)}</th><td{cls}>{v if k in raw else _esc(v)}</td></tr>"
        for k, v in rows
        if v not in (None, "")
    )
    return f'<div class="scroll"><table class="kv"><tbody>{body}</tbody></table></div>'


def _head_cell(h: str) -> str:
    # the unit on a line of its own keeps the columns of the result tables narrow
    name, sep, unit = h.partition(" [")
    return _esc(name) + (f'<br><span class="unit">[{_esc(unit)}</span>' if sep else "")


def _table_html(
    head: list[str], body_rows: list[str], *, cls: str = "", num_cols: set[int] = frozenset()
) -> str:
    ths = "".join(
        f'<th class="num">{_head_cell(h)}</th>' if i in num_cols else f"<th>{_head_cell(h)}</th>"
        for i, h in enumerate(head)
    )
    c = f' class="{cls}"' if cls else ""
    return (
        f'<div class="scroll"><table{c}><thead><tr>{ths}</tr></thead>'
        f"<tbody>{''.join(body_rows)}</tbody></table></div>"
    )


def _format_cell(column: str, text: str) -> tuple[str, bool]:
    """A CSV cell rounded for reading, and whether it is a number (right-aligned)."""
    if text == "" or text.lower() in ("nan", "none", "null"):
        return "—", True
    try:
        f = float(text)
    except ValueError:
        return text, False
    if not math.isfinite(f):
        return text, True
    col = column.lower()
    if col.startswith("n_") or col in ("step", "n", "count") or col.endswith("_count"):
        return (f"{int(f):,}" if f.is_integer() else text), True
    nd = _DECIMALS.get(col)
    if nd is None:
        for key, d in _DECIMALS.items():
            if col.endswith("_" + key) or col.startswith(key + "_"):
                nd = d
                break
    if nd is None and (col.startswith("age") or col.endswith("_age")):
        # bin edges like 2.25 or 1.625 Gyr: at most 3 decimals, no trailing zeros
        s = f"{f:.3f}".rstrip("0")
        return (s + "0" if s.endswith(".") else s), True
    if nd is not None:
        return (f"{int(round(f)):,}" if nd == 0 else f"{f:.{nd}f}"), True
    if f.is_integer() and "." not in text and "e" not in text.lower():
        return text, True
    return f"{f:.4g}", True


def _csv_table(header: list[str], rows: list[list[str]]) -> str:
    if not header:
        return '<p class="note">(empty file)</p>'
    shown = rows[:_MAX_ROWS]
    numeric = [True] * len(header)
    cells_all = []
    for r in shown:
        cells = []
        for i, col in enumerate(header):
            text, is_num = _format_cell(col, r[i] if i < len(r) else "")
            numeric[i] = numeric[i] and is_num
            cells.append(text)
        cells_all.append(cells)
    # a column is aligned as numbers only if all its cells are
    # cut-flow rows that removed nothing are dimmed so the cuts that bite stand out
    idle = header.index("n_removed") if "n_removed" in header else None
    body = []
    for r, cells in zip(shown, cells_all, strict=True):
        dim = (
            idle is not None
            and idle < len(r)
            and r[idle].strip() in ("0", "0.0")
            and r is not rows[0]
        )
        body.append(
            ('<tr class="idle">' if dim else "<tr>")
            + "".join(
                f'<td class="num">{_esc(t)}</td>' if numeric[i] else f"<td>{_esc(t)}</td>"
                for i, t in enumerate(cells)
            )
            + "</tr>"
        )
    table = _table_html(header, body, num_cols={i for i, n in enumerate(numeric) if n})
    if len(rows) > _MAX_ROWS:
        table += (
            f'<p class="note">First {_MAX_ROWS} of {len(rows)} rows; the CSV holds them all.</p>'
        )
    return table
