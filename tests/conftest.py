"""Shared fixtures: the public data sets in ../shared/data and a persistent PyTensor cache."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("PYTENSOR_FLAGS", f"base_compiledir={ROOT / '.pytensor_cache'}")

import pandas as pd  # noqa: E402
import pytest  # noqa: E402

DATA = Path(os.environ.get("BAYESMM_DATA", ROOT.parent / "shared" / "data"))
# the sampler seed of every statistical test; benchmarks/seed_sweep.py runs them over 0..9
SEED = int(os.environ.get("BAYESMM_TEST_SEED", "1"))


def load(name: str) -> pd.DataFrame:
    """Read ``<name>.csv`` from the shared data folder without the ``rownames`` column."""
    frame = pd.read_csv(DATA / f"{name}.csv")
    return frame.drop(columns=["rownames"]) if "rownames" in frame.columns else frame


@pytest.fixture(scope="session")
def seed() -> int:
    """Seed of a statistical test's sampler: ``BAYESMM_TEST_SEED``, else 1.

    A test that takes this fixture asserts something whose verdict may depend on the
    draws; its margin must come from the Monte Carlo error, so it passes for every seed
    (``benchmarks/seed_sweep.py`` checks ten). Such tests are marked ``statistical``.
    """
    return SEED


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that takes the ``seed`` fixture (directly or through a fixture)."""
    for item in items:
        if "seed" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.statistical)


@pytest.fixture(scope="session")
def data() -> object:
    """Loader of the shared data sets."""
    if not DATA.is_dir():
        pytest.fail(f"shared data folder {DATA} is missing; CI must run with ../shared beside")
    return load


NBA = pd.DataFrame({
    "Points": [10, 25, 35, 30, 22, 14, 24, 28, 32, 27],
    "Minutes": [35, 40, 30, 38, 33, 32, 34, 39, 41, 36],
    "Team": ["TeamG", "TeamG", "TeamR", "TeamR", "TeamG", "TeamG", "TeamR", "TeamR", "TeamG",
             "TeamR"],
})
