"""The command line: `bayesmm fit` prints the same table as the API; errors exit with 2."""

from __future__ import annotations

from pathlib import Path

import pytest

import bayesmm as bmm
from bayesmm.cli import main

from .conftest import DATA


def test_fit_reml_prints_the_api_summary(capsys: pytest.CaptureFixture) -> None:
    path = DATA / "sleepstudy.csv"
    code = main(["fit", str(path), "Reaction ~ Days + (Days | Subject)", "--method", "reml"])
    out = capsys.readouterr().out
    frame = bmm.load_dataset("sleepstudy", data_home=DATA)
    expected = bmm.mixedlm("Reaction ~ Days + (Days | Subject)", frame).fit(method="reml")
    assert code == 0
    assert out.strip() == str(expected.summary()).strip()


def test_fit_nuts_on_sleepstudy_saves_a_loadable_result(tmp_path: Path,
                                                        capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "res.nc"
    code = main(["fit", str(DATA / "sleepstudy.csv"), "Reaction ~ Days",
                 "--groups", "Subject", "--re-formula", "~Days",
                 "--draws", "100", "--tune", "100", "--chains", "2", "--seed", "4",
                 "--no-progress", "--out", str(out)])
    text = capsys.readouterr().out
    assert code == 0 and "NUTS 2x100 (marginal)" in text and out.is_file()
    for row in ("Intercept", "Days", "Subject Var", "Subject x Days Cov", "Days Var", "Scale"):
        assert f"\n{row} " in text
    back = bmm.load(out)
    assert str(back.summary()) in text
    assert back.posterior.sizes["draw"] == 100


def test_errors_exit_2_with_the_message(capsys: pytest.CaptureFixture) -> None:
    code = main(["fit", str(DATA / "sleepstudy.csv"), "Reaction ~ Dayz + (1 | Subject)",
                 "--method", "reml"])
    err = capsys.readouterr().err
    assert code == 2 and "unknown column" in err and "Dayz" in err
    assert main(["fit", "/nonexistent.csv", "y ~ 1", "--groups", "g"]) == 2
    assert "cannot read" in capsys.readouterr().err
