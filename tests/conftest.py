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


# seconds per file in a fresh clone's `make test` (--durations, 2 workers, cold caches): with
# `--dist loadfile` each file runs on one worker, in collection order; starting the longest
# first keeps one worker from ending the run alone on a long file (longest-processing-time)
LONG_FILES = {
    "tests/test_mixture.py": 360, "tests/test_sbc.py": 310,
    "tests/test_mixture_galaxies.py": 100, "tests/test_notebooks.py": 230,
    "tests/test_api.py": 190, "tests/build/test_marginal.py": 150,
    "tests/infer/test_compiled.py": 100, "tests/test_glmm.py": 90, "tests/infer/test_nuts.py": 60,
    "tests/build/test_nested.py": 35,
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that takes the ``seed`` fixture; put the longest files first."""
    for item in items:
        if "seed" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.statistical)

    def cost(item: pytest.Item) -> int:
        return -LONG_FILES.get(Path(item.path).relative_to(ROOT).as_posix(), 0)

    items.sort(key=cost)  # stable: order within a file and among short files is kept


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
