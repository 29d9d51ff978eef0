"""The package and tests stay ruff-clean; imports run down the pipeline (import-linter)."""

import pkgutil
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import bayesmm

ROOT = Path(__file__).resolve().parents[1]


def test_ruff_clean():
    ruff = shutil.which("ruff") or str(Path(sys.executable).parent / "ruff")
    if not Path(ruff).exists():
        pytest.fail("ruff is part of the test extra; install bayesmm[test]")
    out = subprocess.run([ruff, "check", "bayesmm", "tests", "benchmarks", "notebooks"], cwd=ROOT,
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_imports_run_down_the_layers():
    linter = shutil.which("lint-imports") or str(Path(sys.executable).parent / "lint-imports")
    if not Path(linter).exists():
        pytest.fail("import-linter is part of the test extra; install bayesmm[test]")
    out = subprocess.run([linter], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_every_module_has_a_layer():
    # a module left out of the contract would be free to import anything
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    (contract,) = config["contracts"]
    placed = {name.strip() for layer in contract["layers"] for name in layer.split(":")}
    modules = {m.name for m in pkgutil.iter_modules(bayesmm.__path__)}
    assert modules == placed
