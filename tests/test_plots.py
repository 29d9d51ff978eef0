"""Plots draw what they claim (estimates, draws, medians); compare_estimates has every method."""

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
    assert list(table.columns[:5]) == ["REML", "ML", "MAP", "Mean", "SD"]
    assert table.loc["Batch Var", "REML"] == 0.0  # singular REML
    assert table.loc["Batch Var", "MAP"] > 0.0  # never on the boundary
    assert table.loc["Batch Var", "Mean"] > 0.0
    assert table.loc["Intercept", "REML"] == pytest.approx(dyestuff2_fit.reml.fe_params.iloc[0])
    sd = bmm.compare_estimates(dyestuff2_fit, cov_scale="sd")
    assert list(sd.index) == ["Intercept", "Batch SD", "Residual SD"]
    assert sd.loc["Residual SD", "ML"] == pytest.approx(np.sqrt(table.loc["Scale", "ML"]))


def test_plot_compare_marks_every_method_at_its_estimate(dyestuff2_fit):
    table = bmm.compare_estimates(dyestuff2_fit)
    axes = dyestuff2_fit.plot_compare()
    assert [ax.get_yticklabels()[0].get_text() for ax in axes] == list(table.index)
    lo, hi = [c for c in table.columns if c.startswith("hdi_")]
    for ax, (_, row) in zip(axes, table.iterrows(), strict=True):
        marks = {line.get_label(): line.get_xdata()[0] for line in ax.get_lines()}
        assert marks["posterior mean"] == row["Mean"]
        for method in ("REML", "ML", "MAP"):
            assert marks[method] == row[method]
        (segment,) = ax.collections[0].get_segments()  # the HDI bar
        np.testing.assert_array_equal(segment[:, 0], [row[lo], row[hi]])
    plt.close("all")


def test_plot_trace_draws_every_chain_of_every_parameter(dyestuff2_fit):
    axes = dyestuff2_fit.plot_trace()
    assert [ax.get_title() for ax in axes[:, 1]] == ["beta", "sigma", "Batch_sd"]
    post = dyestuff2_fit.idata.posterior
    lines = axes[1, 1].get_lines()  # sigma's trace: one line per chain
    assert len(lines) == post.sizes["chain"]
    for chain, line in enumerate(lines):
        np.testing.assert_array_equal(line.get_ydata(), post["sigma"].values[chain])
    plt.close("all")


def test_plot_forest_shows_the_reported_rows_at_their_medians(dyestuff2_fit):
    (ax,) = dyestuff2_fit.plot_forest()
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert sorted(labels) == ["Batch Var", "Intercept", "Scale"]
    draws = dyestuff2_fit.draws_table()
    y = dict(zip(labels, ax.get_yticks(), strict=True))
    medians = {}  # ArviZ marks each row's median with a point at the row's height
    for line in ax.get_lines():
        xs, ys = np.asarray(line.get_xdata()), np.asarray(line.get_ydata())
        if xs.size == 1:
            medians[ys[0]] = xs[0]
    for name in labels:
        assert medians[y[name]] == pytest.approx(float(np.median(draws[name].values)))
    plt.close("all")


def test_plot_random_effects_has_one_row_per_batch(dyestuff2_fit):
    (ax,) = dyestuff2_fit.plot_random_effects()
    levels = dyestuff2_fit.design.factors[0].levels
    assert len(ax.get_yticks()) == len(levels)
    plt.close("all")


def test_plot_ppc_overlays_the_observed_density(dyestuff2_fit):
    ax = dyestuff2_fit.plot_ppc(num_pp_samples=20)
    lines = {line.get_label(): line for line in ax.get_lines()}
    replicates = [k for k in lines if k.startswith("_child")]
    assert len(replicates) == 20  # one density per requested replicate
    observed = lines["Observed"].get_xdata()
    y = dyestuff2_fit.design.y
    # the observed density's grid spans the data (ArviZ's KDE grid: the range in 512 steps)
    assert (observed.min(), observed.max()) == pytest.approx((y.min(), y.max()),
                                                             abs=0.01 * np.ptp(y))
    assert "Posterior predictive mean" in lines
    plt.close("all")


def test_a_plot_writes_a_png(dyestuff2_fit, tmp_path):
    axes = dyestuff2_fit.plot_compare()
    axes[0].get_figure().savefig(tmp_path / "c.png")
    assert (tmp_path / "c.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    plt.close("all")
