"""θ → Λ maps: lme4's Lind layout for one factor and the block-diagonal joint map."""

import numpy as np

import bayesmm as bmm
from bayesmm.covariance import joint_theta_map, lambda_from_theta, theta_map


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
