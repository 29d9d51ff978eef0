"""The average-information Hessian of the blocked criterion against dense matrices."""

import numpy as np
import pytest

import bayesmm as bmm
from bayesmm.deviance import deviance_gradient, deviance_gradient_ai, profiled_df
from bayesmm.suffstats import joint_stats


def _dense_z(factor, n):
    Z = np.zeros((n, factor.n_levels))
    Z[np.arange(n), factor.codes] = factor.Z[:, 0]
    return Z


@pytest.mark.parametrize(("name", "formula"), [
    ("Penicillin", "diameter ~ 1 + (1 | plate) + (1 | sample)"),
    ("Pastes", "strength ~ 1 + (1 | batch/cask)"),
])
@pytest.mark.parametrize("method", ["reml", "ml", "map"])
def test_ai_hessian_is_its_formula_on_dense_matrices(data, name, formula, method):
    # H = (ν/r²) Q − (ν/r⁴) g gᵀ + diag(∂d/∂θ_k / θ_k) [+ 2/θ_k² for MAP], with
    # Q_kl = yᵀP V_k P V_l P y, g_k = −yᵀP V_k P y, V_k = 2θ_k Z_kZ_kᵀ, from the n × n V
    model = bmm.mixedlm(formula, data(name))
    design, stats = model.design, model.stats
    n, X, y = design.n_obs, design.X, design.y
    Zs = [_dense_z(f, n) for f in design.factors]
    rng = np.random.default_rng(3)
    for theta in (np.full(len(Zs), 0.8), rng.uniform(0.2, 2.0, len(Zs))):
        V = np.eye(n) + sum(t**2 * Z @ Z.T for t, Z in zip(theta, Zs, strict=True))
        Vi = np.linalg.inv(V)
        P = Vi - Vi @ X @ np.linalg.solve(X.T @ Vi @ X, X.T @ Vi)
        r2 = y @ P @ y
        Vk = [2 * t * Z @ Z.T for t, Z in zip(theta, Zs, strict=True)]
        Q = np.array([[y @ P @ a @ P @ b @ P @ y for b in Vk] for a in Vk])
        g = np.array([-(y @ P @ a @ P @ y) for a in Vk])
        df = profiled_df(stats, method)
        crit = deviance_gradient(theta, joint_stats(design), method)
        if method == "map":
            crit = crit + 2.0 / theta  # the penalty's part is added back exactly below
        expected = (df / r2) * Q - (df / r2**2) * np.outer(g, g) + np.diag(crit / theta)
        if method == "map":
            expected += np.diag(2.0 / theta**2)
        _, _, H = deviance_gradient_ai(theta, stats, method)
        np.testing.assert_allclose(H, expected, rtol=1e-9, atol=1e-9 * np.abs(expected).max())
