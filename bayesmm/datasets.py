"""Data sets: Rdatasets-style CSVs from a local folder, and a simulated growth-curve set."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import DataError

__all__ = ["load_dataset", "simulate_growth"]


def load_dataset(name: str, data_home: str | os.PathLike | None = None) -> pd.DataFrame:
    """Read an Rdatasets-style CSV (``<name>.csv``, first column ``rownames`` dropped).

    Parameters
    ----------
    name : str
        Data set name, e.g. ``"dietox"`` or ``"sleepstudy"``.
    data_home : path, optional
        Folder with the CSV files; defaults to the ``BAYESMM_DATA`` environment variable.

    Returns
    -------
    pandas.DataFrame

    Raises
    ------
    DataError
        When no folder is configured or the file is not there.
    """
    home = data_home if data_home is not None else os.environ.get("BAYESMM_DATA")
    if home is None:
        raise DataError(
            f"data_home: no folder given for data set {name!r}; pass data_home= or set "
            "the BAYESMM_DATA environment variable to a folder of Rdatasets CSV files."
        )
    path = Path(home) / f"{name}.csv"
    if not path.is_file():
        available = sorted(p.stem for p in Path(home).glob("*.csv"))
        raise DataError(
            f"name: no file {path}; data sets in {home}: {available}."
        )
    frame = pd.read_csv(path)
    if frame.columns[0] in ("rownames", "Unnamed: 0"):
        frame = frame.drop(columns=frame.columns[0])
    return frame


def simulate_growth(
    n_pigs: int = 48, n_weeks: int = 12, seed: int = 0
) -> pd.DataFrame:
    """Simulate growth curves shaped like ``dietox``: ``Weight ~ Time + (Time | Pig)``.

    True values: intercept 15, slope 7, SD(intercept) 5, SD(slope) 0.7, corr 0.2, σ 2.5.

    Returns
    -------
    pandas.DataFrame
        Columns ``Pig``, ``Time``, ``Weight``.
    """
    rng = np.random.default_rng(seed)
    sd = np.array([5.0, 0.7])
    corr = np.array([[1.0, 0.2], [0.2, 1.0]])
    b = rng.multivariate_normal(np.zeros(2), corr * np.outer(sd, sd), size=n_pigs)  # (G, 2)
    pig = np.repeat(np.arange(n_pigs), n_weeks)
    time = np.tile(np.arange(1, n_weeks + 1), n_pigs).astype(float)
    weight = 15 + 7 * time + b[pig, 0] + b[pig, 1] * time + rng.normal(0, 2.5, pig.size)
    return pd.DataFrame({"Pig": [f"P{p:02d}" for p in pig], "Time": time, "Weight": weight})
