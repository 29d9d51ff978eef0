import numpy as np
from scipy import stats as sps

from bayesmm.covariance import lambda_from_theta
from bayesmm.design import make_design
from bayesmm.deviance import deviance, profile
from bayesmm.spec import spec_from_formula
from bayesmm.suffstats import joint_z, suff_stats


def _dense_loglik(d, st, theta, beta, sigma2):
    """Multivariate-normal log-density of y with V = σ²(ZΛΛᵀZᵀ + I), by brute force."""
    Z = joint_z(d).toarray()
    from bayesmm.covariance import joint_theta_map

    lam = lambda_from_theta(theta, joint_theta_map(d.factors))
    V = sigma2 * (Z @ lam @ lam.T @ Z.T + np.eye(d.n_obs))
    return sps.multivariate_normal(d.X @ beta, V).logpdf(d.y)


def test_ml_deviance_equals_dense_density(data):
    d = make_design(spec_from_formula("Reaction ~ Days + (Days | Subject)"), data("sleepstudy"))
    st = suff_stats(d)
    theta = np.array([0.8, 0.1, 0.3])
    prof = profile(theta, st)
    sigma2 = prof.r2 / d.n_obs
    expected = _dense_loglik(d, st, theta, prof.beta, sigma2)
    np.testing.assert_allclose(-0.5 * deviance(theta, st, "ml"), expected, rtol=1e-10)


def test_crossed_ml_deviance_equals_dense_density(data):
    d = make_design(spec_from_formula("diameter ~ 1 + (1|plate) + (1|sample)"), data("Penicillin"))
    st = suff_stats(d)
    theta = np.array([1.2, 2.5])
    prof = profile(theta, st)
    expected = _dense_loglik(d, st, theta, prof.beta, prof.r2 / d.n_obs)
    np.testing.assert_allclose(-0.5 * deviance(theta, st, "ml"), expected, rtol=1e-10)


def test_reml_adds_log_det_of_A_and_uses_n_minus_p(data):
    d = make_design(spec_from_formula("Reaction ~ Days + (Days | Subject)"), data("sleepstudy"))
    st = suff_stats(d)
    theta = np.array([0.8, 0.1, 0.3])
    prof = profile(theta, st)
    n, p = d.n_obs, 2
    s2 = prof.r2 / (n - p)
    expected = prof.logdet_M + prof.logdet_A + (n - p) * (1 + np.log(2 * np.pi * s2))
    np.testing.assert_allclose(deviance(theta, st, "reml"), expected, rtol=1e-12)
