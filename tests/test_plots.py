"""Plots are written to PNG and are not empty; compare_estimates collects every method."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import bayesmm as bmm  # noqa: E402


@pytest.fixture(scope="module")
def dyestuff2_fit(data):
    return bmm.mixedlm("Yield ~ 1", data("Dyestuff2"), groups="Batch").fit(
        draws=500, tune=500, chains=2, random_seed=8)


def test_compare_estimates_has_every_method(dyestuff2_fit):
    table = bmm.compare_estimates(dyestuff2_fit)
    assert list(table.index) == ["Intercept", "Batch Var", "Scale"]
    assert list(table.columns[:5]) == ["REML", "ML", "MAP", "posterior mean", "posterior SD"]
    assert table.loc["Batch Var", "REML"] == 0.0  # singular REML
    assert table.loc["Batch Var", "MAP"] > 0.0  # never on the boundary
    assert table.loc["Batch Var", "posterior mean"] > 0.0
    assert table.loc["Intercept", "REML"] == pytest.approx(dyestuff2_fit.reml.fe_params.iloc[0])
    sd = bmm.compare_estimates(dyestuff2_fit, cov_scale="sd")
    assert list(sd.index) == ["Intercept", "Batch SD", "Residual SD"]
    assert sd.loc["Residual SD", "ML"] == pytest.approx(np.sqrt(table.loc["Scale", "ML"]))


@pytest.mark.parametrize("name", ["plot_compare", "plot_trace", "plot_forest", "plot_ppc",
                                  "plot_random_effects"])
def test_plots_render_to_png(dyestuff2_fit, name, tmp_path):
    axes = getattr(dyestuff2_fit, name)()
    fig = np.ravel(axes)[0].get_figure()
    path = tmp_path / f"{name}.png"
    fig.savefig(path)
    plt.close("all")
    assert path.stat().st_size > 5000
