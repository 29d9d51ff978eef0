"""Shared fixtures: the public data sets in ../shared/data and a persistent PyTensor cache."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("PYTENSOR_FLAGS", f"base_compiledir={ROOT / '.pytensor_cache'}")

import pandas as pd  # noqa: E402
import pytest  # noqa: E402

DATA = Path(os.environ.get("BAYESMM_DATA", ROOT.parent / "shared" / "data"))


def load(name: str) -> pd.DataFrame:
    """Read ``<name>.csv`` from the shared data folder without the ``rownames`` column."""
    frame = pd.read_csv(DATA / f"{name}.csv")
    return frame.drop(columns=["rownames"]) if "rownames" in frame.columns else frame


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
