"""The L1 coordinate descent against closed forms."""

import numpy as np
from scipy import optimize

from bayesmm.infer.l1 import l1_coordinate_descent


def test_orthonormal_design_soft_thresholds():
    # with A = a I the loss separates: β_j = sign(β̂_j) max(|β̂_j| − w_j / (2a), 0)
    beta_hat, w, a = np.array([3.0, -0.5, 1.0, -2.0]), np.array([2.0, 2.0, 0.0, 8.0]), 2.0
    got = l1_coordinate_descent(a * np.eye(4), beta_hat, w, ptol=1e-14)
    expect = np.sign(beta_hat) * np.maximum(np.abs(beta_hat) - w / (2 * a), 0.0)
    np.testing.assert_allclose(got, expect, atol=1e-14)


def test_correlated_design_reaches_the_penalised_minimum():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 4)) @ np.array([[1, 0.6, 0, 0], [0, 1, 0.3, 0],
                                             [0, 0, 1, 0.5], [0, 0, 0, 1.0]])
    A = X.T @ X  # (4, 4)
    beta_hat = np.array([1.5, -0.02, 0.8, 0.01])
    w = np.full(4, 3.0)
    got = l1_coordinate_descent(A, beta_hat, w, ceps=0.0, ptol=1e-13, maxit=10000)

    def loss(b: np.ndarray) -> float:
        d = b - beta_hat
        return float(d @ A @ d + w @ np.abs(b))

    # subgradient optimality: |∂/∂β_j of the quadratic| ≤ w_j at zeros, = −w_j sign(β_j) else
    grad = 2 * A @ (got - beta_hat)
    zero = got == 0
    assert zero.any() and np.all(np.abs(grad[zero]) <= w[zero] + 1e-9)
    np.testing.assert_allclose(grad[~zero], -w[~zero] * np.sign(got[~zero]), atol=1e-8)
    best = optimize.minimize(loss, beta_hat, method="Nelder-Mead",
                             options={"xatol": 1e-10, "fatol": 1e-12, "maxiter": 20000})
    assert loss(got) <= best.fun + 1e-9
