"""The run report page: report.html of a small run, read back as a reader (and a browser) sees it."""

from __future__ import annotations

import base64
import csv
import json
import os
import re
import shutil
import subprocess
import tempfile
from html.parser import HTMLParser
from pathlib import Path

import pytest

from mgar_bayes.cli import main
from mgar_bayes.mock import MockConfig, generate_mock
from mgar_bayes.report_page import figure_caption, render_report, write_report


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A complete ``mgar run`` of 12,000 simulated stars (read as a file catalogue), with figures."""
    base = tmp_path_factory.mktemp("report")
    cat = base / "stars.csv"
    generate_mock(MockConfig(n_stars=12_000, seed=21)).stars.to_csv(cat, index=False)
    cfg = base / "fast.toml"
    cfg.write_text("[orbits]\nn_mc = 20\nseed = 5\n")
    out = base / "run"
    assert main(["run", str(cat), "--out", str(out), "--config", str(cfg), "--no-progress"]) == 0
    return out


@pytest.fixture
def copy_of_run(run_dir, tmp_path):
    """A copy to alter; file times kept, as a moved or archived run keeps them."""
    return Path(shutil.copytree(run_dir, tmp_path / "run", copy_function=shutil.copy2))


class _Doc(HTMLParser):
    """Images, links and table cells of a page, as text."""

    def __init__(self):
        super().__init__()
        self.imgs: list[str] = []
        self.refs: list[str] = []
        self.tables: list[list[list[str]]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "img":
            self.imgs.append(a.get("src") or "")
        for key in ("src", "href", "action", "srcset", "poster", "data"):
            if key in a:
                self.refs.append(a[key] or "")
        if tag == "table":
            self.tables.append([])
        elif tag == "tr" and self.tables:
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None and self.tables and self.tables[-1]:
            self.tables[-1][-1].append(" ".join("".join(self._cell).split()))
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)

    def table_with(self, column: str) -> list[list[str]]:
        return next(t for t in self.tables if t and column in t[0])


def _parse(text: str) -> _Doc:
    doc = _Doc()
    doc.feed(text)
    return doc


def _pngs(d: Path) -> list[Path]:
    # dot-files are atomic-write temporaries, not figures
    return sorted(p for p in (d / "figures").glob("*.png") if not p.name.startswith("."))


def _csv_rows(path: Path) -> list[dict]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def _edit_json(path: Path, change) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def test_page_holds_figures_rates_and_cutflow_and_nothing_external(run_dir):
    page = write_report(run_dir)
    assert page == run_dir / "report.html"
    text = page.read_text(encoding="utf-8")
    doc = _parse(text)
    # one <img> per figure file, its bytes inline
    pngs = _pngs(run_dir)
    assert len(pngs) >= 4
    expected = {"data:image/png;base64," + base64.b64encode(p.read_bytes()).decode() for p in pngs}
    assert len(doc.imgs) == len(pngs) and set(doc.imgs) == expected
    for p in pngs:
        assert f"figures/{p.name}" in text and figure_caption(p.name) in text
    # the headline numbers, as summary.json holds them
    summary = json.loads((run_dir / "summary.json").read_text())
    for pop in ("thin", "thick"):
        for m in ("ols", "odr"):
            v = summary["populations"][pop][m]
            assert f"{v['rate']:+.4f} ± {v['rate_err']:.4f}" in text
            assert f"{v['mean_gradient']:+.4f} ± {v['mean_gradient_err']:.4f}" in text
    record = json.loads((run_dir / "run.json").read_text())
    assert (
        record["inputs_hash"] in text and "complete" in text and record["catalogue"]["path"] in text
    )
    # every cut-flow row, in order, with its counts
    flow = _csv_rows(run_dir / "cutflow.csv")
    table = doc.table_with("n_remaining")
    assert len(table) == len(flow) + 1
    assert table[0] == list(flow[0])
    for row, cells in zip(flow, table[1:], strict=True):
        for col, shown in zip(table[0], cells, strict=True):
            want = row[col]
            if want == "":
                assert shown == "—", (col, row)
            elif want.isdigit():
                assert int(shown.replace(",", "")) == int(want), (col, row)
            else:
                assert shown == want, (col, row)
    # the per-bin table: every row, gradients to 1e-4 dex/kpc
    ols = _csv_rows(run_dir / "mgar_ols.csv")
    table = doc.table_with("gradient_err")
    assert len(table) == len(ols) + 1
    first = dict(zip(table[0], table[1], strict=True))
    assert first["gradient"] == f"{float(ols[0]['gradient']):.4f}"
    # self-contained: no URL, no script, no style sheet or font fetched
    # (the base64 of the figures is left out: it may spell anything)
    bare = re.sub(r'"data:image/png;base64,[A-Za-z0-9+/=]*"', '""', text)
    assert "http" not in bare.lower() and "<script" not in bare.lower() and "url(" not in bare
    # no protocol-relative URL either (the JSON blocks may hold paths)
    assert "//" not in re.sub(r"<pre>.*?</pre>", "", bare, flags=re.S)
    assert all(r.startswith("data:image/") for r in doc.imgs)
    assert all(r.startswith(("data:image/", "#")) for r in doc.refs)
    assert [m.start() for m in re.finditer(r'src="', text)] == [
        m.start() for m in re.finditer(r'src="data:', text)
    ]
    assert not list(run_dir.glob(".report.html*"))  # the atomic write left no temporary
    for d in ("config", "run.json"):
        assert d in text
    assert text.count("<details") >= 3


def test_unfinished_run_says_so(copy_of_run):
    _edit_json(
        copy_of_run / "run.json", lambda r: (r.update(status="running"), r.pop("finished", None))
    )
    text = write_report(copy_of_run).read_text()
    assert "This run is unfinished" in text and "running" in text


def test_not_converged_bayesian_fit_is_flagged(copy_of_run):
    def fit(rate, converged, r_hat, div):
        return {
            "model": "c25",
            "n_stars": 1000,
            "hdi_prob": 0.94,
            "converged": converged,
            "max_r_hat": r_hat,
            "divergences": div,
            "flattening_rate": {
                "mean": rate,
                "sd": 0.0011,
                "hdi_lo": rate - 0.002,
                "hdi_hi": rate + 0.002,
            },
            "mean_gradient": {"mean": -0.041, "sd": 0.003, "hdi_lo": -0.047, "hdi_hi": -0.035},
        }

    bayes = {"c25": {"thin": fit(0.0021, True, 1.004, 0), "thick": fit(-0.0042, False, 1.31, 17)}}
    _edit_json(copy_of_run / "summary.json", lambda s: s.update(bayes=bayes))
    text = write_report(copy_of_run).read_text()
    assert "+0.0021 ± 0.0011" in text and "94% [+0.0001, +0.0041]" in text
    assert text.count('class="not-converged"') == 1 and "NOT converged" in text
    assert "Not converged:</b> c25 / thick" in text and "1.310" in text
    doc = _parse(text)
    rows = doc.table_with("convergence")
    assert [r[1] for r in rows[1:]] == ["thin", "thick"]
    assert rows[1][6] == "converged" and rows[2][6] == "NOT converged"


def test_truth_of_a_simulated_catalogue_is_shown_beside_the_fit(copy_of_run):
    truth = {
        "thin": {"rate_true": 0.00271, "mean_gradient_true": -0.0452},
        "thick": {"rate_true": -0.00088, "mean_gradient_true": 0.0151},
    }
    _edit_json(copy_of_run / "summary.json", lambda s: s.update(truth=truth))
    text = write_report(copy_of_run).read_text()
    assert "true rate" in text and "+0.0027" in text and "-0.0009" in text and "+0.0151" in text


def test_unreadable_and_missing_files_give_a_page_that_says_so(copy_of_run):
    (copy_of_run / "summary.json").write_text('{"populations": {"thin": ')  # cut short
    (copy_of_run / "mgar_ols.csv").unlink()
    shutil.rmtree(copy_of_run / "figures")
    text = write_report(copy_of_run).read_text()
    assert "summary.json (the run summary) cannot be read: JSONDecodeError" in text
    assert "No figures" in text and "Per-bin gradients: OLS" not in text
    assert "Cut-flow" in text  # what can be read is still shown
    (copy_of_run / "run.json").write_bytes(b"\xff\xfe not json")
    text = render_report(copy_of_run)
    assert "run.json (the run record) cannot be read" in text
    with pytest.raises(NotADirectoryError):
        write_report(copy_of_run / "cutflow.csv")
    (copy_of_run / "empty").mkdir()
    text = write_report(copy_of_run / "empty").read_text()
    assert "No run.json here" in text and "No summary.json" in text and "<img" not in text


def test_text_from_the_files_is_escaped(copy_of_run):
    _edit_json(
        copy_of_run / "run.json", lambda r: r["catalogue"].update(path="<script>x</script>&.csv")
    )
    _edit_json(
        copy_of_run / "summary.json",
        lambda s: s.update(
            column_notes=["catalogue column 'R' kept as 'R_cat' <b>"],
            catalogue={"reader": {"column_map": {"values": {"v_sun": 12.24}}}},
        ),
    )
    text = write_report(copy_of_run).read_text()
    assert "<script" not in text and "&lt;script&gt;x&lt;/script&gt;&amp;.csv" in text
    assert "R_cat&#x27; &lt;b&gt;" in text
    assert "column_map.values.v_sun" in text and "12.24" in text


def test_temporaries_and_stale_figures(copy_of_run):
    figs = copy_of_run / "figures"
    # a figure being written right now (an atomic-write temporary) is not shown
    shutil.copy(figs / "fig1_sample_overview.png", figs / ".fig9_x.png.abc.part.fig9_x.png")
    old = figs / "fig2_populations.png"
    t = old.stat().st_mtime - 86_400
    os.utime(old, (t, t))
    text = write_report(copy_of_run).read_text()
    assert ".fig9" not in text and len(_parse(text).imgs) == len(_pngs(copy_of_run))
    assert text.count("written before this run started") == 1


@pytest.mark.parametrize(
    "name, words",
    [
        ("fig1_sample_overview.png", "C25 Fig. 1"),
        ("fig2_populations.png", "C25 Fig. 2"),
        ("fig3_mgar_ols.png", "OLS per bin (C25 Fig. 3)"),
        ("fig3_mgar_odr.png", "ODR per bin (C25 Fig. 3)"),
        ("fig4_bin_fits_thin.png", "(C25 Fig. 4): thin disk"),
        ("fig5_mgar_literature.png", "not results of this run)"),
        ("posterior_vs_ols.png", "C25 Fig. A1"),
        ("robustness_galaxy.png", "galaxy variants"),
        ("something_else.png", "something else"),
    ],
)
def test_captions_follow_the_file_names(name, words):
    assert words in figure_caption(name)


def _chromium() -> str | None:
    # Debian's and Ubuntu's package names, then Google's build (same command line)
    return next(
        filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None
    )


@pytest.mark.slow
@pytest.mark.skipif(_chromium() is None, reason="no chromium binary (apt-get install chromium)")
def test_page_displays_in_a_headless_browser(run_dir, tmp_path):
    """Chromium loads the page from disk, with the network unused, and draws its figures."""
    from PIL import Image

    page = write_report(run_dir)
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
    ]

    def browse(*args: str) -> subprocess.CompletedProcess:
        profile = tempfile.mkdtemp(dir=tmp_path)
        return subprocess.run(
            [_chromium(), *flags, f"--user-data-dir={profile}", *args, page.as_uri()],
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )

    dom = browse("--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    doc = _parse(dom.stdout)
    pngs = _pngs(run_dir)
    assert len(doc.imgs) == len(pngs)
    assert {
        "data:image/png;base64," + base64.b64encode(p.read_bytes()).decode() for p in pngs
    } == set(doc.imgs)
    assert "Cut-flow" in dom.stdout and "flattening rate" in dom.stdout

    shot = tmp_path / "page.png"
    res = browse(f"--screenshot={shot}", "--window-size=1280,4000")
    assert res.returncode == 0 and shot.exists(), res.stderr[-2000:]
    im = Image.open(shot).convert("RGB")
    assert im.size == (1280, 4000)
    # the page without its figures draws ~1,500 shades (anti-aliased text); with them >10,000
    colours = im.getcolors(maxcolors=1 << 24)
    assert len(colours) > 3000, len(colours)
    # the top of the page is the header, not a blank or an error page
    top = im.crop((0, 0, 1280, 400)).getcolors(maxcolors=1 << 24)
    assert len(top) > 20
    keep = os.environ.get("MGAR_REPORT_SCREENSHOT")
    if keep:  # for a person to look at the page as drawn
        shutil.copy(shot, keep)
