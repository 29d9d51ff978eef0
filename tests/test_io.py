"""Save/load round trip; prior predictive draws."""

import numpy as np
import pandas as pd
import pytest

import bayesmm as bmm
from tests.conftest import NBA

FAST = {"draws": 200, "tune": 200, "chains": 2, "random_seed": 12}


@pytest.mark.parametrize("api", ["formula-array-groups", "arrays", "arrays-vc"])
def test_save_load_round_trip(tmp_path, api):
    X = pd.DataFrame({"const": 1.0, "Minutes": NBA["Minutes"].astype(float)})
    if api == "arrays":
        model = bmm.MixedLM(NBA["Points"], X, NBA["Team"])
    elif api == "arrays-vc":  # a variance component of per-team matrices (statsmodels' dict)
        minutes = {t: (f["Minutes"].to_numpy() / 40.0)[:, None] for t, f in NBA.groupby("Team")}
        model = bmm.MixedLM(NBA["Points"], X, NBA["Team"], exog_vc={"minutes": minutes})
    else:
        model = bmm.mixedlm("Points ~ Minutes", NBA, groups=NBA["Team"].to_numpy())
    res = model.fit(**FAST)
    path = tmp_path / "res.nc"
    res.save(path)
    back = bmm.load(path)
    assert str(back.summary()) == str(res.summary())
    np.testing.assert_array_equal(back.predict(random_seed=1).values,
                                  res.predict(random_seed=1).values)
    assert back.build == res.build and back.design.factors[0].label == "Group"


def test_load_predicts_new_data_like_the_original(tmp_path, data):
    frame = data("sleepstudy")
    res = bmm.mixedlm("Reaction ~ Days + (Days | Subject)", frame).fit(**FAST)
    res.save(tmp_path / "s.nc")
    back = bmm.load(tmp_path / "s.nc")
    new = pd.DataFrame({"Days": [2.0, 11.0], "Subject": [308, 999]})
    np.testing.assert_array_equal(back.predict(new, random_seed=3).values,
                                  res.predict(new, random_seed=3).values)


def test_load_rejects_foreign_files(tmp_path):
    import arviz as az
    import xarray as xr

    path = tmp_path / "x.nc"
    az.InferenceData(posterior=xr.Dataset({"a": (("chain", "draw"), np.zeros((1, 2)))})
                     ).to_netcdf(str(path))
    with pytest.raises(bmm.DataError, match="was not written by bayesmm"):
        bmm.load(path)


def test_prior_predictive_is_centred_on_the_intercept_prior():
    model = bmm.mixedlm("Points ~ Minutes", NBA, groups="Team")
    idata = model.prior_predictive(draws=2000, random_seed=1)
    beta = idata.prior["beta"].values.reshape(-1, 2)
    assert idata.prior_predictive["Points"].shape == (1, 2000, 10)
    # prior means: Intercept ~ N(mean(y), 2.5 sd(y)), Minutes ~ N(0, ...)
    prior = model.priors["Intercept"].params
    se = prior["sigma"] / np.sqrt(2000)
    assert abs(beta[:, 0].mean() - prior["mu"]) < 4 * se
    assert not any(str(v).startswith("_") for v in idata.prior.data_vars)
