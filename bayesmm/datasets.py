"""Data sets: Rdatasets CSVs (a local folder or a download cache) and a simulated growth set."""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import DataError

__all__ = ["load_dataset", "simulate_growth"]


RDATASETS = "https://vincentarelbundock.github.io/Rdatasets/csv/{package}/{name}.csv"
PACKAGES = {
    "dietox": "geepack", "sleepstudy": "lme4", "Dyestuff": "lme4", "Dyestuff2": "lme4",
    "Penicillin": "lme4", "Pastes": "lme4", "cbpp": "lme4", "Orthodont": "nlme",
    "Rail": "nlme", "ergoStool": "nlme", "Exam": "mlmRev", "Hsb82": "mlmRev",
    "radon": "HLMdiag", "faithful": "datasets", "galaxies": "MASS",
}


def cache_dir() -> Path:
    """Download cache: ``BAYESMM_CACHE`` or ``~/.cache/bayesmm``."""
    return Path(os.environ.get("BAYESMM_CACHE", Path.home() / ".cache" / "bayesmm"))


def _download(name: str, package: str | None) -> Path:
    """Fetch ``<name>.csv`` from Rdatasets into the cache (once) and return its path."""
    path = cache_dir() / f"{name}.csv"
    if path.is_file():
        return path
    package = package or PACKAGES.get(name)
    if package is None:
        raise DataError(
            f"name: {name!r} is not a known data set {sorted(PACKAGES)}; pass package= "
            "(its R package on Rdatasets) or data_home= with a local CSV."
        )
    url = RDATASETS.format(package=package, name=name)
    try:
        with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310
            payload = response.read()
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise DataError(
            f"name: could not download {name!r} from {url} ({exc}); when offline pass "
            "data_home= (or set BAYESMM_DATA) to a folder holding the CSV."
        ) from None
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".part")
    tmp.write_bytes(payload)
    tmp.replace(path)
    return path


def load_dataset(name: str, data_home: str | os.PathLike | None = None,
                 package: str | None = None) -> pd.DataFrame:
    """Read an Rdatasets-style CSV (``<name>.csv``, first column ``rownames`` dropped).

    Looks in ``data_home`` (or the ``BAYESMM_DATA`` folder) when one is given; otherwise
    downloads the file from Rdatasets once into :func:`cache_dir`, like statsmodels'
    ``get_rdataset``.

    Parameters
    ----------
    name : str
        Data set name, e.g. ``"dietox"`` or ``"sleepstudy"``.
    data_home : path, optional
        Folder with the CSV files; defaults to the ``BAYESMM_DATA`` environment variable.
    package : str, optional
        R package of a data set not in :data:`PACKAGES` (for the download).

    Returns
    -------
    pandas.DataFrame

    Raises
    ------
    DataError
        When the file is not in the folder, or cannot be downloaded (offline).
    """
    home = data_home if data_home is not None else os.environ.get("BAYESMM_DATA")
    if home is None:
        path = _download(name, package)
    else:
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
