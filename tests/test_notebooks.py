"""Every notebook re-executes without error against ../shared/data and keeps its figures."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest

from .conftest import DATA

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


def _images(nb: nbformat.NotebookNode) -> int:
    return sum("image/png" in out.get("data", {}) for cell in nb.cells
               if cell.cell_type == "code" for out in cell.get("outputs", []))


def test_there_are_six_notebooks() -> None:
    assert [p.name[:2] for p in NOTEBOOKS] == ["01", "02", "03", "04", "05", "06"]


def test_a_notebook_renders_the_html_summary() -> None:
    nb = nbformat.read(NOTEBOOKS[0], as_version=4)
    html = [out["data"]["text/html"] for cell in nb.cells if cell.cell_type == "code"
            for out in cell.get("outputs", []) if "text/html" in out.get("data", {})]
    assert any("Mixed Linear Model Regression Results" in h and "<table" in h for h in html)


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_executes(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from nbclient import NotebookClient

    monkeypatch.setenv("BAYESMM_DATA", str(DATA))
    root = str(path.parents[1])  # the kernel imports this checkout's bayesmm
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        p for p in (root, os.environ.get("PYTHONPATH", "")) if p))
    stored = nbformat.read(path, as_version=4)
    assert _images(stored) >= 1, f"{path.name}: stored outputs hold no figure"
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
    NotebookClient(nb, timeout=1800, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    assert _images(nb) >= 1
    assert os.environ["BAYESMM_DATA"] == str(DATA)
