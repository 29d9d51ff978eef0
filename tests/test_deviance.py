import numpy as np
import pytest
from scipy import stats as sps

from bayesmm.covariance import lambda_from_theta
from bayesmm.design import make_design
from bayesmm.deviance import deviance, deviance_gradient, ml_loglike, profile
from bayesmm.infer.optimize import fit_point
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


@pytest.mark.parametrize(("dataset", "formula", "theta"), [
    ("sleepstudy", "Reaction ~ Days + (Days | Subject)", [0.8, 0.1, 0.3]),
    ("Penicillin", "diameter ~ 1 + (1|plate) + (1|sample)", [1.2, 2.5]),  # blocked
])
def test_ml_loglike_at_any_beta_and_scale_equals_dense_density(data, dataset, formula, theta):
    d = make_design(spec_from_formula(formula), data(dataset))
    st = suff_stats(d)
    theta = np.array(theta)
    beta_hat = profile(theta, st).beta
    for shift, sigma2 in ((0.0, 30.0), (0.7, 30.0), (-1.3, 900.0)):
        beta = beta_hat + shift
        np.testing.assert_allclose(ml_loglike(beta, theta, sigma2, st),
                                   _dense_loglik(d, st, theta, beta, sigma2), rtol=1e-10)


def test_reml_adds_log_det_of_A_and_uses_n_minus_p(data):
    d = make_design(spec_from_formula("Reaction ~ Days + (Days | Subject)"), data("sleepstudy"))
    st = suff_stats(d)
    theta = np.array([0.8, 0.1, 0.3])
    prof = profile(theta, st)
    n, p = d.n_obs, 2
    s2 = prof.r2 / (n - p)
    expected = prof.logdet_M + prof.logdet_A + (n - p) * (1 + np.log(2 * np.pi * s2))
    np.testing.assert_allclose(deviance(theta, st, "reml"), expected, rtol=1e-12)


def _central_difference(fun, x, h=1e-5):
    g = np.empty_like(x)
    for i in range(x.size):
        e = np.zeros_like(x)
        e[i] = h
        g[i] = (fun(x + e) - fun(x - e)) / (2 * h)
    return g


@pytest.mark.parametrize("method", ["reml", "ml", "map"])
@pytest.mark.parametrize(
    ("formula", "name", "theta"),
    [
        ("Reaction ~ Days + (Days | Subject)", "sleepstudy", [0.8, 0.1, 0.3]),
        ("Reaction ~ Days + (1 | Subject) + (0 + Days | Subject)", "sleepstudy", [0.8, 0.3]),
        ("diameter ~ 1 + (1|plate) + (1|sample)", "Penicillin", [1.2, 2.5]),
    ],
    ids=["correlated", "independent", "crossed"],
)
def test_exact_gradient_equals_central_differences(data, formula, name, theta, method):
    st = suff_stats(make_design(spec_from_formula(formula), data(name)))
    theta = np.array(theta)
    exact = deviance_gradient(theta, st, method)
    numeric = _central_difference(lambda t: deviance(t, st, method), theta)
    # step 1e-5: truncation ~1e-8 and rounding ~1e-8 of a gradient of size ~10
    np.testing.assert_allclose(exact, numeric, rtol=0, atol=1e-6 * np.abs(numeric).max())


def test_exact_gradient_vanishes_at_the_reml_optimum(data):
    st = suff_stats(make_design(spec_from_formula("Reaction ~ Days + (Days | Subject)"),
                                data("sleepstudy")))
    theta = fit_point(st, "reml").theta
    assert np.abs(deviance_gradient(theta, st, "reml")).max() < 1e-7
