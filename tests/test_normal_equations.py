"""lme4's per-group algebra against dense n × n matrices and its symbolic twin."""

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest

import bayesmm as bmm
from bayesmm.build.batched import normal_equations as symbolic_normal_equations
from bayesmm.normal_equations import normal_equations, small_cholesky


@pytest.fixture(scope="module")
def sleep_stats(data):
    model = bmm.mixedlm("Reaction ~ Days + (Days | Subject)", data("sleepstudy"))
    return model.design, model.stats


def _lam(scale: float) -> np.ndarray:
    return np.array([[0.9, 0.0], [0.15, 0.25]]) * scale


def test_one_theta_equals_the_dense_marginal_algebra(sleep_stats):
    design, stats = sleep_stats
    lam = _lam(1.0)
    L, A, c, d = normal_equations(stats.ZtZ, stats.ZtX, stats.Zty, stats.XtX, stats.Xty,
                                  stats.yty, lam)
    f = design.factors[0]
    Z = np.zeros((design.n_obs, f.n_levels * 2))  # (n, G q)
    for g in range(f.n_levels):
        Z[f.codes == g, 2 * g:2 * g + 2] = f.Z[f.codes == g]
    ZL = Z @ np.kron(np.eye(f.n_levels), lam)  # (n, G q)
    V = np.eye(design.n_obs) + ZL @ ZL.T  # (n, n)   V/σ²
    X, y = design.X, design.y
    np.testing.assert_allclose(A, X.T @ np.linalg.solve(V, X), rtol=1e-10)
    np.testing.assert_allclose(c, X.T @ np.linalg.solve(V, y), rtol=1e-10)
    assert d == pytest.approx(y @ np.linalg.solve(V, y), rel=1e-10)
    # Σ_g log|M_g| = log|V| (Sylvester)
    logdet = 2 * np.log(np.diagonal(L, axis1=-2, axis2=-1)).sum()
    assert logdet == pytest.approx(np.linalg.slogdet(V)[1], rel=1e-10)


def test_draw_axis_equals_one_call_per_draw(sleep_stats):
    _, stats = sleep_stats
    lams = np.stack([_lam(s) for s in (0.5, 1.0, 2.0)])  # (3, q, q)
    zty = stats.Zty[None] * np.array([1.0, 0.9, 1.1])[:, None, None]  # (3, G, q)
    batch = normal_equations(stats.ZtZ, stats.ZtX, zty, stats.XtX, stats.Xty, stats.yty, lams)
    for s in range(3):
        one = normal_equations(stats.ZtZ, stats.ZtX, zty[s], stats.XtX, stats.Xty,
                               stats.yty, lams[s])
        for got, expect in zip(batch, one, strict=True):
            np.testing.assert_allclose(got[s], expect, rtol=1e-13, atol=1e-12)


def test_the_symbolic_twin_in_build_batched_agrees(sleep_stats):
    _, stats = sleep_stats
    lam = _lam(1.3)
    names = ("ZtZ", "ZtX", "Zty", "XtX", "Xty", "yty")
    tensors = {n: pt.as_tensor_variable(np.asarray(getattr(stats, n), dtype=float))
               for n in names}
    lam_t = pt.matrix("lam")
    logdet, A, c, d = pytensor.function([lam_t], symbolic_normal_equations(
        tensors, lam_t, 2, stats.p))(lam)
    L, A0, c0, d0 = normal_equations(*(getattr(stats, n) for n in names), lam)
    assert logdet == pytest.approx(2 * np.log(np.diagonal(L, axis1=-2, axis2=-1)).sum(),
                                   rel=1e-12)
    np.testing.assert_allclose(A, A0, rtol=1e-12)
    np.testing.assert_allclose(c, c0, rtol=1e-12)
    assert d == pytest.approx(d0, rel=1e-12)


def test_small_cholesky_is_numpys_and_rejects_an_indefinite_block():
    rng = np.random.default_rng(0)
    B = rng.normal(size=(5, 3, 3))
    M = B @ np.swapaxes(B, 1, 2) + 0.1 * np.eye(3)  # (5, 3, 3)
    np.testing.assert_allclose(small_cholesky(M), np.linalg.cholesky(M), rtol=1e-12)
    M[2] = -np.eye(3)
    with pytest.raises(np.linalg.LinAlgError):
        small_cholesky(M)


def test_semidefinite_cholesky_gives_a_zero_column_at_a_unit_correlation():
    corr = np.array([[[1.0, 0.3], [0.3, 1.0]], [[1.0, 1.0], [1.0, 1.0]]])  # (2, 2, 2)
    L = small_cholesky(corr, semidefinite=True)
    np.testing.assert_allclose(L[0], np.linalg.cholesky(corr[0]), rtol=1e-14)
    np.testing.assert_array_equal(L[1], [[1.0, 0.0], [1.0, 0.0]])
    np.testing.assert_allclose(L @ np.swapaxes(L, 1, 2), corr, atol=1e-15)
