"""Every tutorial notebook runs top to bottom on small settings, without errors."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"))
SHARED = Path(__file__).resolve().parents[1].parent / "shared"
# notebooks that read the shared real tables: skipped where ../shared is absent
NEEDS_SHARED = {"06_real_data.ipynb"}


# the two that sample Bayesian models take about two minutes each: with the slow tests
SLOW = {"02_bayesian_models.ipynb", "03_prior_sensitivity.ipynb"}
CASES = [pytest.param(p, marks=pytest.mark.slow) if p.name in SLOW else p for p in NOTEBOOKS]


@pytest.mark.parametrize("path", CASES, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs(path, tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    if path.name in NEEDS_SHARED and not (SHARED / "realdata").is_dir():
        pytest.skip("../shared/realdata is not here")
    monkeypatch.setenv("MGAR_SHARED", str(SHARED))
    monkeypatch.setenv("MGAR_SMALL", "1")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not cell.get("outputs"), f"{path.name}: committed outputs must be cleared"
    client = nbclient.NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # raises CellExecutionError naming the cell on any error
    assert os.environ["MGAR_SMALL"] == "1"


def test_there_are_notebooks():
    assert len(NOTEBOOKS) >= 3
