"""Standard errors of the covariance parameters against the balanced one-way ANOVA formulas."""

import numpy as np
import pytest

import bayesmm as bmm


def test_reml_variance_ses_equal_the_anova_closed_form(data):
    # Balanced one-way design (Dyestuff: 6 batches x 5): REML is a function of the two
    # mean squares, MSA ~ τ χ²(G−1)/(G−1) with τ = σ² + nσ_b² and MSE ~ σ² χ²(N−G)/(N−G),
    # independent. At an interior optimum the observed information equals the expected:
    # SE(σ̂²) = σ̂²√(2/(N−G)), SE(σ̂_b²) = √(2τ̂²/(G−1) + 2σ̂⁴/(N−G)) / n.
    frame = data("Dyestuff")
    res = bmm.mixedlm("Yield ~ 1", frame, groups="Batch").fit(method="reml")
    G, n, N = 6, 5, 30
    means = frame.groupby("Batch")["Yield"].transform("mean")
    mse = ((frame["Yield"] - means) ** 2).sum() / (N - G)
    msa = n * ((frame.groupby("Batch")["Yield"].mean() - frame["Yield"].mean()) ** 2).sum() \
        / (G - 1)
    table = res.cov_table()
    assert table.loc["Batch Var", "Coef."] == pytest.approx((msa - mse) / n, rel=1e-6)
    assert table.loc["Scale", "Coef."] == pytest.approx(mse, rel=1e-6)
    # central differences of the log-likelihood (step 1e-4 relative): 1e-3 relative
    assert table.loc["Scale", "Std.Err."] == pytest.approx(mse * np.sqrt(2 / (N - G)),
                                                           rel=1e-3)
    se_b = np.sqrt(2 * msa**2 / (G - 1) + 2 * mse**2 / (N - G)) / n
    assert table.loc["Batch Var", "Std.Err."] == pytest.approx(se_b, rel=1e-3)
