"""Central-difference Hessians against closed forms."""

import numpy as np

from bayesmm.infer.numdiff import (
    gradient_jacobian,
    hessian,
    richardson_hessian,
    richardson_jacobian,
)

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


def test_hessian_evaluates_each_stencil_point_once():
    # scipy asks for the centre of every coordinate's stencil: the memo evaluates it once.
    # Nested central differences touch x, x ± hᵢeᵢ, x ± 2hᵢeᵢ and x ± hᵢeᵢ ± hⱼeⱼ (i < j):
    # 1 + 4k + 2k(k−1) points.
    seen = []

    def f(x):
        seen.append(x.tobytes())
        return _quadratic(x)

    hessian(f, np.array([0.3, -1.2, 2.0]), np.full(3, 1e-3))
    assert len(seen) == len(set(seen)) == 1 + 4 * 3 + 2 * 3 * 2


def test_richardson_rules_have_fourth_order_error():
    # f = exp(a) sin(b) and its gradient; halving h divides an O(h⁴) error by ~16
    def f(x):
        return float(np.exp(x[0]) * np.sin(x[1]))

    def grad(x):
        return np.exp(x[0]) * np.array([[np.sin(x[1]), np.cos(x[1])]])  # (1, 2): array-valued

    x = np.array([0.4, 1.1])
    ea, sb, cb = np.exp(0.4), np.sin(1.1), np.cos(1.1)
    exact = np.array([[ea * sb, ea * cb], [ea * cb, -ea * sb]])
    err_h = [np.abs(richardson_hessian(f, x, np.full(2, h)) - exact).max() for h in (0.2, 0.1)]
    assert err_h[0] < 1e-3 and 10.0 < err_h[0] / err_h[1] < 20.0
    jac = [richardson_jacobian(grad, x, np.full(2, h)) for h in (0.2, 0.1)]
    assert jac[0].shape == (2, 1, 2)  # entry i is ∂grad/∂x_i
    err_j = [np.abs(J[:, 0, :] - exact).max() for J in jac]
    assert err_j[0] < 1e-3 and 10.0 < err_j[0] / err_j[1] < 20.0
