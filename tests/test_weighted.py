"""ZᵀWZ's blocks from the precomputed index maps against the dense product."""

import numpy as np
import pandas as pd
import pytest

import bayesmm as bmm
from bayesmm.blocked import lower_solve, upper_solve
from bayesmm.covariance import joint_theta_map, lambda_from_theta
from bayesmm.suffstats import joint_z
from bayesmm.weighted import weighted_cross, weighted_factor


def _frame(seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = 300
    g, h, k = rng.integers(0, 40, n), rng.integers(0, 9, n), rng.integers(0, 4, n)
    return pd.DataFrame({"y": rng.poisson(2.0, n).astype(float), "x": rng.normal(size=n),
                         "g": g.astype(str), "h": h.astype(str), "k": k.astype(str),
                         "obs": np.arange(n).astype(str)})


CASES = [
    "y ~ x + (1 | g)",  # one factor: no Schur complement
    "y ~ x + (1 | g) + (1 | h)",  # crossed scalars: Z_rᵀWZ_1 dense (90 % filled)
    "y ~ x + (1 | obs) + (1 | g) + (1 | h)",  # observation-level factor: kept sparse
    "y ~ x + (1 + x | g) + (1 | h) + (0 + x | k)",  # vector terms: sparse general path
]


@pytest.mark.parametrize("formula", CASES)
def test_weighted_factor_is_the_cholesky_of_the_weighted_system(formula):
    design = bmm.mixedlm(formula, _frame(), family="poisson").design
    wc = weighted_cross(design)
    tmap = joint_theta_map(design.factors)
    rng = np.random.default_rng(1)
    theta = np.where(tmap.on_diagonal, rng.uniform(0.3, 2.0, tmap.n_theta),
                     rng.normal(0, 0.4, tmap.n_theta))
    w = rng.uniform(0.05, 3.0, design.n_obs)
    A = joint_z(design).toarray() @ lambda_from_theta(theta, tmap)  # (N, m)
    H = A.T @ (w[:, None] * A) + np.eye(A.shape[1])  # (m, m)
    fac = weighted_factor(wc, theta, w)
    assert fac.logdet == pytest.approx(np.linalg.slogdet(H)[1], rel=1e-12)
    g = rng.normal(size=(H.shape[0], 2))
    gb = g[wc.perm]
    v1, vr = lower_solve(fac, gb[: wc.m1], gb[wc.m1:])
    u1, ur = upper_solve(fac, v1, vr)
    solved = np.empty_like(g)
    solved[wc.perm] = np.concatenate([u1, ur])
    np.testing.assert_allclose(solved, np.linalg.solve(H, g), rtol=1e-10, atol=1e-12)


def test_dense_and_sparse_paths_are_chosen_by_fill():
    frame = _frame()
    crossed = weighted_cross(bmm.mixedlm(CASES[1], frame, family="poisson").design)
    observation = weighted_cross(bmm.mixedlm(CASES[2], frame, family="poisson").design)
    vector = weighted_cross(bmm.mixedlm(CASES[3], frame, family="poisson").design)
    assert crossed.dense_k and not observation.dense_k and not vector.dense_k
