"""θ → Λ maps: lme4's Lind layout for one factor and the block-diagonal joint map."""

import numpy as np
import pytest

import bayesmm as bmm
from bayesmm.covariance import (
    ThetaMap,
    joint_theta_map,
    lambda_from_theta,
    theta_from_cov,
    theta_map,
)


def test_correlated_block_fills_the_lower_triangle_row_by_row(data):
    factor = bmm.mixedlm("Reaction ~ Days + (Days | Subject)", data("sleepstudy")).design.factors[0]
    tmap = theta_map(factor)
    lam = lambda_from_theta(np.array([2.0, 0.5, 3.0]), tmap)
    np.testing.assert_array_equal(lam, [[2.0, 0.0], [0.5, 3.0]])  # θ = (λ11, λ21, λ22)
    assert list(tmap.on_diagonal) == [True, False, True]
    assert tmap.names == ("Subject: Intercept", "Subject: Days,Intercept", "Subject: Days")
    np.testing.assert_array_equal(tmap.initial(), [1.0, 0.0, 1.0])
    assert tmap.bounds() == [(0.0, None), (None, None), (0.0, None)]


def test_independent_terms_have_no_off_diagonal_theta(data):
    factor = bmm.mixedlm("Reaction ~ Days + (Days || Subject)", data("sleepstudy")
                         ).design.factors[0]
    lam = lambda_from_theta(np.array([2.0, 3.0]), theta_map(factor))
    np.testing.assert_array_equal(lam, np.diag([2.0, 3.0]))


def test_joint_map_is_block_diagonal_over_factors_and_levels(data):
    design = bmm.mixedlm("diameter ~ 1 + (1 | plate) + (1 | sample)", data("Penicillin")).design
    tmap = joint_theta_map(design.factors)
    sizes = [f.n_levels for f in design.factors]
    assert tmap.m == sum(sizes) and tmap.n_theta == 2
    lam = lambda_from_theta(np.array([0.7, 1.9]), tmap)
    expected = np.diag(np.r_[np.full(sizes[0], 0.7), np.full(sizes[1], 1.9)])
    np.testing.assert_array_equal(lam, expected)


def test_theta_from_cov_inverts_lambda_and_takes_semidefinite_blocks():
    rows, cols = np.tril_indices(3)
    tmap = ThetaMap(3, rows, cols, np.arange(rows.size), rows == cols, tuple("abcdef"))
    theta = np.array([1.3, -0.4, 0.7, 0.2, 0.9, 0.5])
    lam = lambda_from_theta(theta, tmap)
    np.testing.assert_allclose(theta_from_cov(lam @ lam.T, tmap), theta, rtol=1e-12)
    two = ThetaMap(2, *np.tril_indices(2), np.arange(3), np.array([True, False, True]),
                   ("a", "b", "c"))
    rank_one = np.array([[1.0, 0.5], [0.5, 0.25]])  # a correlation of 1: lme4's θ₃ = 0
    np.testing.assert_allclose(theta_from_cov(rank_one, two), [1.0, 0.5, 0.0], atol=1e-12)
    np.testing.assert_array_equal(theta_from_cov(np.zeros((2, 2)), two), 0.0)
    with pytest.raises(np.linalg.LinAlgError):
        theta_from_cov(np.array([[1.0, 2.0], [2.0, 1.0]]), two)
