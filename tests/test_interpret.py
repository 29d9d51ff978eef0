"""bambi-style predictions, comparisons and slopes: known values from the posterior draws."""

import matplotlib
import numpy as np
import pytest

import bayesmm as bmm
from bayesmm.errors import SpecificationError
from bayesmm.interpret import comparisons, grid, predictions, slopes
from tests.conftest import NBA

matplotlib.use("Agg")


@pytest.fixture(scope="module")
def nba_fit(seed):
    return bmm.mixedlm("Points ~ Minutes", NBA, groups="Team").fit(
        draws=300, tune=300, chains=2, cores=1, random_seed=seed)


def _beta(res):
    return res.posterior["beta"].stack(s=("chain", "draw")).values  # (p, S)


def test_grid_varies_one_column_and_holds_the_rest(nba_fit):
    frame = grid(NBA, nba_fit.design, "Minutes", by="Team", n=7)
    assert len(frame) == 14
    np.testing.assert_allclose(np.unique(frame["Minutes"]),
                               np.linspace(NBA["Minutes"].min(), NBA["Minutes"].max(), 7))
    assert set(frame["Team"]) == {"TeamG", "TeamR"}
    alone = grid(NBA, nba_fit.design, "Minutes", n=3)
    assert set(alone["Team"]) == {"__population__"}


def test_population_predictions_are_the_fixed_part_draw_by_draw(nba_fit):
    frame, draws = predictions(nba_fit, NBA, "Minutes", n=5)
    b0, b1 = _beta(nba_fit)
    expected = b0[None, :] + b1[None, :] * frame["Minutes"].to_numpy()[:, None]  # (5, S)
    got = draws.stack(s=("chain", "draw")).transpose("obs", "s").values
    np.testing.assert_allclose(got, expected, rtol=1e-10)


def test_comparisons_and_slopes_of_a_linear_model_are_its_coefficient(nba_fit):
    b1 = _beta(nba_fit)[1]
    _, diff, values = comparisons(nba_fit, NBA, "Minutes")
    assert values[1] - values[0] == pytest.approx(1.0)
    np.testing.assert_allclose(diff.stack(s=("chain", "draw")).values[0], b1, rtol=1e-8)
    _, slope = slopes(nba_fit, NBA, "Minutes", n=4)
    np.testing.assert_allclose(slope.stack(s=("chain", "draw")).values,
                               np.broadcast_to(b1, (4, b1.size)), rtol=1e-5)


def test_plots_draw_the_posterior_mean_per_level(nba_fit):
    ax = nba_fit.plot_predictions("Minutes", by="Team")
    assert len(ax.lines) == 2 and [t.get_text() for t in ax.get_legend().get_texts()] == [
        "Team = TeamG", "Team = TeamR"]
    frame, draws = predictions(nba_fit, NBA, "Minutes", by="Team")
    first = draws.mean(("chain", "draw")).values[(frame["Team"] == "TeamG").to_numpy()]
    np.testing.assert_allclose(ax.lines[0].get_ydata(), first)
    ax = nba_fit.plot_slopes("Minutes")
    np.testing.assert_allclose(ax.lines[0].get_ydata(), _beta(nba_fit)[1].mean(), rtol=1e-5)
    ax = nba_fit.plot_comparisons("Team")
    assert ax.get_ylabel() == "Points: Team = TeamR minus Team = TeamG"


def test_bad_columns_name_the_argument(nba_fit):
    with pytest.raises(SpecificationError, match="covariate: expected a column"):
        nba_fit.plot_predictions("Minutez")
    with pytest.raises(SpecificationError, match="wrt: expected a numeric column"):
        nba_fit.plot_slopes("Team")
