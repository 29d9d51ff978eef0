"""load_dataset: a local folder, or a one-time download into the cache; clear offline errors."""

from __future__ import annotations

import io
import urllib.error
from pathlib import Path

import pytest

import bayesmm as bmm
from bayesmm import datasets

from .conftest import DATA


def test_local_folder_drops_rownames() -> None:
    frame = bmm.load_dataset("cbpp", data_home=DATA)
    assert list(frame.columns) == ["herd", "incidence", "size", "period"]
    assert len(frame) == 56


def test_download_once_into_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BAYESMM_DATA", raising=False)
    monkeypatch.setenv("BAYESMM_CACHE", str(tmp_path))
    urls = []

    def fake(url: str, timeout: float) -> io.BytesIO:
        urls.append(url)
        return io.BytesIO((DATA / "Dyestuff.csv").read_bytes())

    monkeypatch.setattr(datasets.urllib.request, "urlopen", fake)
    first = bmm.load_dataset("Dyestuff")
    second = bmm.load_dataset("Dyestuff")
    assert urls == ["https://vincentarelbundock.github.io/Rdatasets/csv/lme4/Dyestuff.csv"]
    assert (tmp_path / "Dyestuff.csv").is_file()
    assert first.equals(second) and list(first.columns) == ["Batch", "Yield"]


def test_offline_and_unknown_names_raise_data_errors(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BAYESMM_DATA", raising=False)
    monkeypatch.setenv("BAYESMM_CACHE", str(tmp_path))

    def offline(url: str, timeout: float) -> None:
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(datasets.urllib.request, "urlopen", offline)
    with pytest.raises(bmm.DataError, match="could not download 'sleepstudy'.*data_home="):
        bmm.load_dataset("sleepstudy")
    with pytest.raises(bmm.DataError, match="not a known data set"):
        bmm.load_dataset("no_such_set")
    with pytest.raises(bmm.DataError, match="no file"):
        bmm.load_dataset("no_such_set", data_home=DATA)
