import numpy as np
import pymc as pm

from bayesmm.infer.warmstart import JITTER, warm_start


def test_gaussian_posterior_mode_and_sds_are_exact():
    # x ~ N(3, 2), log y ~ N(−1, 0.5): the unconstrained log density is Gaussian with mode
    # (3, −1) and SDs (2, 0.5), which the mode search and the Hessian must give back.
    with pm.Model() as model:
        pm.Normal("x", 3.0, 2.0)
        pm.LogNormal("y", -1.0, 0.5)
    start = warm_start(model, chains=4, target_accept=0.9, random_seed=7)
    assert start is not None
    np.testing.assert_allclose(start.mode, [3.0, -1.0], atol=1e-5)
    np.testing.assert_allclose(start.sd, [2.0, 0.5], rtol=1e-6)
    assert start.step.target_accept == 0.9
    assert len(start.initvals) == 4
    for init in start.initvals:
        x, log_y = float(init["x"].eval()), float(init["y_log__"].eval())
        assert abs(x - 3.0) <= JITTER * 2.0 and abs(log_y + 1.0) <= JITTER * 0.5
    # the starts are overdispersed draws, not copies of the mode
    assert len({float(i["x"].eval()) for i in start.initvals}) == 4


def test_same_seed_same_starts():
    with pm.Model() as model:
        pm.Normal("x", 0.0, 1.0, shape=3)
    a, b = (warm_start(model, 2, 0.8, random_seed=3) for _ in range(2))
    for ia, ib in zip(a.initvals, b.initvals, strict=True):
        np.testing.assert_array_equal(ia["x"].eval(), ib["x"].eval())


def test_no_mode_falls_back_to_pymc_default():
    # a flat direction: the Hessian is singular, so there is no curvature to start from
    with pm.Model() as model:
        pm.Flat("x")
        pm.Normal("z", 0.0, 1.0)
    assert warm_start(model, 2, 0.8, random_seed=0) is None
