"""Central-difference Hessians against closed forms."""

import numpy as np

from bayesmm.infer.numdiff import gradient_jacobian, hessian

H_TRUE = np.array([[4.0, 1.0, -0.5], [1.0, 3.0, 0.2], [-0.5, 0.2, 2.0]])


def _quadratic(x: np.ndarray) -> float:
    return float(0.5 * x @ H_TRUE @ x + x.sum())


def test_hessian_of_a_quadratic_is_exact_up_to_rounding():
    x = np.array([0.3, -1.2, 2.0])
    H = hessian(_quadratic, x, np.full(3, 1e-3))
    np.testing.assert_allclose(H, H_TRUE, atol=1e-6)
    sub = hessian(_quadratic, x, np.full(3, 1e-3), idx=np.array([0, 2]))
    np.testing.assert_allclose(sub, H_TRUE[np.ix_([0, 2], [0, 2])], atol=1e-6)


def test_hessian_of_a_smooth_function_has_second_order_error():
    # f = exp(a) sin(b): H = [[e^a sin b, e^a cos b], [e^a cos b, -e^a sin b]]
    def f(x):
        return float(np.exp(x[0]) * np.sin(x[1]))
    x = np.array([0.4, 1.1])
    ea, sb, cb = np.exp(0.4), np.sin(1.1), np.cos(1.1)
    exact = np.array([[ea * sb, ea * cb], [ea * cb, -ea * sb]])
    err = [np.abs(hessian(f, x, np.full(2, h)) - exact).max() for h in (1e-2, 5e-3)]
    assert err[0] < 1e-4 and 3.0 < err[0] / err[1] < 5.0  # O(h²): halving h quarters it


def test_gradient_jacobian_is_the_symmetrised_jacobian():
    def grad(x):
        return H_TRUE @ x + np.array([x[1] ** 3, 0.0, 0.0])  # not a gradient: asymmetric
    x = np.array([1.0, 2.0, -1.0])
    J = H_TRUE.copy()
    J[0, 1] += 3 * x[1] ** 2
    got = gradient_jacobian(grad, x, np.full(3, 1e-4))
    np.testing.assert_allclose(got, 0.5 * (J + J.T), atol=1e-6)
    np.testing.assert_allclose(gradient_jacobian(grad, x, np.full(3, 1e-4), idx=np.array([2])),
                               [[H_TRUE[2, 2]]], atol=1e-8)
