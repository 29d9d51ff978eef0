"""Gaussian mixtures: seed 000, faithful against scikit-learn, regressions, LOO."""


import matplotlib

matplotlib.use("Agg")

import arviz as az  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from scipy import stats as sps  # noqa: E402
from scipy.special import logsumexp  # noqa: E402

import bayesmm as bmm  # noqa: E402
from bayesmm.build.mixture import build_mixture, mixture_priors  # noqa: E402

NUTS = {"draws": 500, "tune": 500, "chains": 4}


def seed_000_data():
    """The synthetic data of seed 000, generated exactly as there."""
    np.random.seed(0)
    n = 1000
    mu1, sigma1, mu2, sigma2, weights = 1, 1, 5, 2, [0.6, 0.4]
    components = np.random.choice([0, 1], size=n, p=weights)
    data = np.zeros_like(components, dtype=np.float64)
    data[components == 0] = np.random.normal(mu1, sigma1, size=np.sum(components == 0))
    data[components == 1] = np.random.normal(mu2, sigma2, size=np.sum(components == 1))
    return pd.DataFrame({"y": data})


def test_mixture_log_density_is_log_sum_exp():
    frame = pd.DataFrame({"y": [0.1, 2.5, 4.0, -1.0, 3.3]})
    model = bmm.mixture("y ~ 1", frame, k=2)
    pm_model = build_mixture(model.design, 2, model.priors, "none")
    w_value = pm_model.rvs_to_transforms[pm_model["w"]].forward(np.array([0.7, 0.3])).eval()
    point = {"beta": np.array([[0.0], [3.0]]), "_sigma2_log__": np.log([1.0, 4.0]),
             "w_simplex__": w_value}
    logp = pm_model.compile_fn(pm_model.logp(vars=pm_model.observed_RVs, sum=True),
                               point_fn=True)
    y = frame["y"].to_numpy()
    by_hand = np.log(0.7 * sps.norm.pdf(y, 0, 1) + 0.3 * sps.norm.pdf(y, 3, 2)).sum()
    np.testing.assert_allclose(logp(point), by_hand, rtol=1e-10)


@pytest.mark.parametrize("fixed", [False, True])
def test_variance_prior_log_density_by_hand(fixed):
    # Richardson & Green: σ_k² ~ InverseGamma(a, β), β ~ Gamma(g, h) or fixed; by scipy
    frame = pd.DataFrame({"y": [0.1, 2.5, 4.0, -1.0, 3.3]})
    priors = {"sigma2": bmm.Prior("InverseGamma", alpha=3.0, beta=0.8)} if fixed else None
    model = bmm.mixture("y ~ 1", frame, k=2, priors=priors)
    pm_model = build_mixture(model.design, 2, model.priors, "none")
    free = [pm_model["_sigma2"]] if fixed else [pm_model["_sigma2"], pm_model["_sigma2_scale"]]
    logp = pm_model.compile_logp(vars=free, jacobian=False)
    u, b = np.array([0.5, 2.0]), 0.8
    point = {"_sigma2_log__": np.log(u), "_sigma2_scale_log__": np.log(b)}
    a, (g, h) = (3.0, (None, None)) if fixed else (2.0, (2.0, 100.0 / 5.0**2))
    by_hand = sps.invgamma.logpdf(u, a, scale=b).sum()
    if not fixed:
        by_hand += sps.gamma.logpdf(b, g, scale=1.0 / h)
    start = pm_model.initial_point()  # the other variables' values do not enter
    point = {**start, **{k: v for k, v in point.items() if k in start}}
    np.testing.assert_allclose(logp(point), by_hand, rtol=1e-10)
    (sd,) = pm_model.replace_rvs_by_values([pm_model["sigma"]])
    sigma = pm_model.compile_fn(sd, point_fn=True)
    np.testing.assert_allclose(sigma({"_sigma2_log__": np.log(u)}), np.sqrt(u), rtol=1e-12)


@pytest.mark.slow
def test_seed_000_every_parameter_inside_its_95_interval(seed):
    res = bmm.mixture("y ~ 1", seed_000_data(), k=2).fit(**NUTS, random_seed=seed)
    table = res.summary(hdi_prob=0.95).table
    truth = {"w[0]": 0.6, "w[1]": 0.4, "Intercept[0]": 1.0, "Intercept[1]": 5.0,
             "sigma[0]": 1.0, "sigma[1]": 2.0}
    post = res.idata.posterior
    draws = {"w[0]": post["w"][..., 0], "w[1]": post["w"][..., 1],
             "Intercept[0]": post["beta"][..., 0, 0], "Intercept[1]": post["beta"][..., 1, 0],
             "sigma[0]": post["sigma"][..., 0], "sigma[1]": post["sigma"][..., 1]}
    for row, value in truth.items():
        # on this data set sigma[0]'s exact 2.5% point sits at ~0.999, so an interval edge
        # is allowed its Monte Carlo error (4 MCSE of the tail quantile; seed 5 drew 0.9988)
        x = draws[row].values  # (C, D)
        se = [float(az.mcse(x, method="quantile", prob=p)) for p in (0.025, 0.975)]
        lo, hi = table.loc[row, "hdi_2.5%"], table.loc[row, "hdi_97.5%"]
        assert lo - 4 * se[0] < value < hi + 4 * se[1], (row, lo, hi, se)


@pytest.fixture(scope="module")
def faithful(data):
    return data("faithful")


def test_faithful_em_matches_scikit_learn(faithful):
    sk = pytest.importorskip("sklearn.mixture")
    # maximum likelihood: under a HalfNormal SD prior far wider than the data (the default
    # inverse-gamma variance prior moves faithful's σ by 0.8-1.8 %)
    em = bmm.mixture("waiting ~ 1", faithful, k=2,
                     priors={"sigma": bmm.Prior("HalfNormal", sigma=1e3)}).fit(method="map")
    gm = sk.GaussianMixture(2, tol=1e-12, max_iter=10000, n_init=5, random_state=0,
                            reg_covar=0.0).fit(faithful[["waiting"]])
    o = np.argsort(gm.means_.ravel())
    np.testing.assert_allclose(em.means.values, gm.means_.ravel()[o], rtol=1e-3)
    np.testing.assert_allclose(em.sigmas.values, np.sqrt(gm.covariances_.ravel()[o]), rtol=1e-3)
    np.testing.assert_allclose(em.weights.values, gm.weights_[o], rtol=1e-3)
    assert em.em.converged


@pytest.mark.slow
def test_faithful_posterior_near_em_and_converged(faithful, seed):
    model = bmm.mixture("waiting ~ 1", faithful, k=2)
    em = model.fit(method="map")
    res = model.fit(**NUTS, random_seed=seed)
    table = res.summary().table
    assert (table["R-hat"] <= 1.01).all()
    assert not res.label_switching().any()
    est = em.summary().table["Estimate"]
    assert ((table["Mean"] - est).abs() <= 2 * table["SD"]).all()
    probs = res.predict_proba()
    assert probs.shape == (272, 2) and np.allclose(probs.sum(axis=1), 1.0)
    dens = res.pdf(np.array([50.0, 80.0]))
    assert (dens["lower"] <= dens["density"]).all() and (dens["density"] <= dens["upper"]).all()


@pytest.mark.slow
def test_faithful_ordered_by_weights_agrees_with_ordered_by_means(faithful, seed):
    # faithful's smaller component (w 0.36) has the smaller mean, so both orders label the
    # components alike and target the same posterior (the ordered-weights prior is the
    # Dirichlet restricted to w0 < w1, with the same normalising factor 2 as the means')
    by_w = bmm.mixture("waiting ~ 1", faithful, k=2, order="weights").fit(**NUTS, random_seed=seed)
    by_mu = bmm.mixture("waiting ~ 1", faithful, k=2).fit(**NUTS, random_seed=seed + 1)
    w = by_w.idata.posterior["w"].values
    assert np.all(w[..., 0] < w[..., 1])
    a, b = by_w.summary().table, by_mu.summary().table
    assert (a["R-hat"] <= 1.01).all()
    mcse = np.hypot(a["SD"] / np.sqrt(a["ESS bulk"]), b["SD"] / np.sqrt(b["ESS bulk"]))
    assert ((a["Mean"] - b["Mean"]).abs() < 4 * mcse).all(), (a["Mean"] - b["Mean"]) / mcse
    em = bmm.mixture("waiting ~ 1", faithful, k=2, order="weights").fit(method="map")
    assert em.weights.is_monotonic_increasing


@pytest.mark.slow
def test_latent_class_mixture_with_group_intercepts_recovers_the_truth(seed):
    # 40 groups x 25 rows; each row in class 0 (mean 0) or 1 (mean 4), SD 1; group
    # intercepts with SD 1.5 shared by both classes
    rng = np.random.default_rng(7)
    g = np.repeat(np.arange(40), 25)
    z = rng.random(g.size) < 0.4
    b = rng.normal(0, 1.5, 40)
    y = np.where(z, 4.0, 0.0) + b[g] + rng.normal(0, 1.0, g.size)
    frame = pd.DataFrame({"y": y, "g": [f"c{k}" for k in g]})
    res = bmm.mixture("y ~ 1 + (1 | g)", frame, k=2).fit(**NUTS, cores=2, random_seed=seed)
    table = res.summary().table
    assert (table["R-hat"] <= 1.01).all(), table["R-hat"]
    post = res.idata.posterior
    # zero-sum effects: intercepts are the class means over these groups, i.e. shifted by
    # the sample mean of the true effects
    truth = {"Intercept[0]": b.mean(), "Intercept[1]": 4.0 + b.mean(), "sigma[0]": 1.0,
             "sigma[1]": 1.0, "w[1]": 0.4, "g SD": 1.5}
    draws = {"Intercept[0]": post["beta"].values[..., 0, 0],
             "Intercept[1]": post["beta"].values[..., 1, 0],
             "sigma[0]": post["sigma"].values[..., 0], "sigma[1]": post["sigma"].values[..., 1],
             "w[1]": post["w"].values[..., 1], "g SD": post["g_sd"].values}
    for name, value in truth.items():
        lo, hi = np.quantile(draws[name], [0.025, 0.975])
        assert lo <= value <= hi, (name, value, lo, hi)
    b_hat = post["g"].mean(("chain", "draw")).values  # levels sorted as strings: c0, c1, c10
    order = [int(level[1:]) for level in res.design.factors[0].levels]
    assert np.corrcoef(b_hat, b[order])[0, 1] > 0.95
    accuracy = ((res.predict_proba()["component 1"] > 0.5).to_numpy() == z).mean()
    assert accuracy > 0.95
    # new data: seen groups get their effect, an unseen group none
    np.testing.assert_allclose(res.predict_proba(frame.iloc[::97]).to_numpy(),
                               res.predict_proba().iloc[::97].to_numpy())
    new = frame.head(3).assign(g="unseen")
    np.testing.assert_allclose(res.predict(new), res.predict(frame.head(3).assign(y=0.0))
                               - post["g"].values.reshape(-1, 40)[:, 0].mean())
    same = bmm.mixture("y ~ 1", frame, k=2, groups="g")
    assert same.design.factors[0].levels == res.design.factors[0].levels
    with pytest.raises(bmm.SpecificationError, match="method: 'map'"):
        same.fit(method="map")
    with pytest.raises(bmm.FormulaError, match=r"one random intercept"):
        bmm.mixture("y ~ 1 + (1 + x | g)", frame.assign(x=1.0), k=2)


@pytest.mark.slow
def test_mixture_of_regressions_recovers_coefficients(seed):
    rng = np.random.default_rng(4)
    n = 600
    x = rng.uniform(-2, 2, n)
    z = rng.random(n) < 0.5
    y = np.where(z, 1.0 + 2.0 * x, 6.0 - 1.0 * x) + rng.normal(0, 0.5, n)
    res = bmm.mixture("y ~ x", pd.DataFrame({"x": x, "y": y}), k=2).fit(**NUTS,
                                                                     random_seed=seed)
    post = res.idata.posterior["beta"]
    truth = np.array([[1.0, 2.0], [6.0, -1.0]])
    mean, sd = post.mean(("chain", "draw")).values, post.std(("chain", "draw")).values
    assert np.all(np.abs(mean - truth) < 4 * sd), (mean, sd)


def test_nutpie_log_likelihood_is_pymcs_and_both_samplers_agree():
    # latent-class data: the pointwise log-likelihood is conditional on each row's group
    # intercept, as PyMC's; the nutpie path computes it after sampling
    rng = np.random.default_rng(11)
    g = np.repeat(np.arange(10), 20)
    y = np.where(rng.random(g.size) < 0.5, 3.0, 0.0) + rng.normal(0, 0.8, 10)[g] \
        + rng.normal(0, 1.0, g.size)
    model = bmm.mixture("y ~ 1", pd.DataFrame({"y": y, "g": g.astype(str)}), k=2, groups="g")
    ref = model.fit(draws=100, tune=200, chains=2, random_seed=1, sampler="pymc")
    np.testing.assert_allclose(ref.pointwise_log_likelihood()["y"].values,
                               ref.idata.log_likelihood["y"].values, rtol=1e-10, atol=1e-10)
    post = ref.idata.posterior  # by hand: log Σ_k w_k N(y_i | β_k + b_g(i), σ_k)
    mu = post["beta"].values[..., 0][:, :, None, :] + post["g"].values[:, :, g, None]
    by_hand = logsumexp(np.log(post["w"].values)[:, :, None, :] + sps.norm.logpdf(
        y[:, None], mu, post["sigma"].values[:, :, None, :]), axis=-1)  # (C, D, N)
    np.testing.assert_allclose(ref.idata.log_likelihood["y"].values, by_hand, rtol=1e-10)
    new = model.fit(draws=300, tune=300, chains=2, random_seed=1)  # nutpie when installed
    assert new.idata.log_likelihood["y"].shape == (2, 300, 200)
    assert set(new.idata.groups()) >= {"posterior", "log_likelihood", "observed_data"}
    with pytest.raises(bmm.SpecificationError, match="sampler: a mixture samples with"):
        model.fit(sampler="numpyro")


def test_summary_names_the_chains_whose_components_disagree():
    frame = pd.DataFrame({"y": np.r_[np.zeros(5), np.ones(5)] + np.arange(10) * 0.01})
    design = bmm.mixture("y ~ 1", frame, k=2).design
    rng = np.random.default_rng(0)
    C, D = 4, 300
    beta = rng.normal([0.0, 5.0], 0.1, (C, D, 2))[..., None]  # (C, D, K, 1)
    w0 = rng.uniform(0.4, 0.6, (C, D, 1))
    post = {"beta": beta, "sigma": rng.uniform(0.9, 1.1, (C, D, 2)),
            "w": np.concatenate([w0, 1 - w0], axis=2)}
    stats = {"diverging": np.zeros((C, D), bool)}
    agree = bmm.MixtureResults(design, 2, "mu", az.from_dict(posterior=post,
                                                              sample_stats=stats), None)
    assert not agree.label_switching().any()
    assert len(agree.summary().notes) == 1
    beta[2, :, 0, 0] += 1.0  # chain 2's lowest component sits 10 SDs away
    odd = bmm.MixtureResults(design, 2, "mu", az.from_dict(posterior=post, sample_stats=stats),
                             None)
    assert odd.label_switching().tolist() == [False, False, True, False]
    assert any("Chain 2 disagrees with the others" in n for n in odd.summary().notes)


def test_mixture_errors(faithful):
    with pytest.raises(bmm.SpecificationError, match="k: expected an integer ≥ 2"):
        bmm.mixture("waiting ~ 1", faithful, k=1)
    with pytest.raises(bmm.DataError, match="k: 5 components need more than 4 rows"):
        bmm.mixture("waiting ~ 1", faithful.head(4), k=5)
    constant = faithful.head(9).assign(waiting=0.0)  # found by tests/test_properties.py
    with pytest.raises(bmm.DataError, match="2 components need at least 2 distinct values"):
        bmm.mixture("waiting ~ 1", constant, k=2)
    with pytest.raises(bmm.SpecificationError, match="order: expected one of"):
        bmm.mixture("waiting ~ 1", faithful, k=2, order="sigma")


def test_density_plot_draws_the_em_mixture_density(faithful):
    em = bmm.mixture("waiting ~ 1", faithful, k=2).fit(method="map")
    ax = em.plot_density()
    line = next(ln for ln in ax.get_lines() if ln.get_label() == "mixture density")
    x, dens = line.get_xdata(), line.get_ydata()
    w, mu, sd = em.weights.values, em.means.values, em.sigmas.values
    by_hand = (w * sps.norm.pdf(x[:, None], mu, sd)).sum(axis=1)
    np.testing.assert_allclose(dens, by_hand, rtol=1e-12)
    heights = [patch.get_height() for patch in ax.patches]  # the histogram, as a density
    assert len(heights) == 30 and sum(heights) * np.ptp(faithful["waiting"]) / 30 \
        == pytest.approx(1.0)
    plt.close("all")


def test_default_priors_scale_with_the_data(faithful):
    model = bmm.mixture("waiting ~ 1", faithful, k=2)
    pri = mixture_priors(model.design)
    assert pri.coef_mu[0] == pytest.approx(faithful["waiting"].mean())
    assert pri.coef_sd[0] == pytest.approx(2.5 * faithful["waiting"].std(ddof=0))
    # Richardson & Green's variance prior, its scale's mean 0.02 R²
    assert (pri.sigma_sd, pri.var_shape, pri.var_scale, pri.scale_shape) == (None, 2.0, None, 2.0)
    spread = np.ptp(faithful["waiting"])
    assert pri.scale_shape / pri.scale_rate == pytest.approx(0.02 * spread**2)


def test_mixture_priors_are_overridden_as_a_mixed_models(faithful):
    # one prior system: the same names, Prior objects and errors as mixedlm's priors=
    frame = faithful.assign(g=np.arange(len(faithful)) % 6)
    model = bmm.mixture("waiting ~ eruptions", frame, k=2, alpha=3.0, groups="g", priors={
        "eruptions": bmm.Prior("Normal", mu=1.0, sigma=2.0),
        "sigma": ("HalfNormal", {"sigma": 4.0}),
        "sd(Intercept|g)": bmm.Prior("HalfNormal", sigma=0.5)})
    pri = model.priors
    assert pri.coef_mu.tolist() == [pytest.approx(faithful["waiting"].mean()), 1.0]
    assert pri.coef_sd[1] == 2.0 and pri.sigma_sd == 4.0 and pri.group_sd == 0.5
    assert pri.alpha == 3.0
    with pytest.raises(bmm.SpecificationError, match=r"priors: unknown parameter 'slope'"):
        bmm.mixture("waiting ~ eruptions", faithful, k=2,
                    priors={"slope": bmm.Prior("Normal", mu=0, sigma=1)})
    with pytest.raises(bmm.SpecificationError, match=r"priors\['sigma'\]: a mixture takes "
                       r"HalfNormal\(sigma\).*received HalfStudentT"):
        bmm.mixture("waiting ~ 1", faithful, k=2,
                    priors={"sigma": bmm.Prior("HalfStudentT", nu=3, sigma=1)})
    pri = bmm.mixture("waiting ~ 1", faithful, k=2, priors={
        "sigma2": bmm.Prior("InverseGamma", alpha=3.0, beta=5.0)}).priors
    assert (pri.sigma_sd, pri.var_shape, pri.var_scale) == (None, 3.0, 5.0)
    pri = bmm.mixture("waiting ~ 1", faithful, k=2, priors={
        "beta(sigma2)": bmm.Prior("Gamma", alpha=1.5, beta=0.2)}).priors
    assert (pri.var_scale, pri.scale_shape, pri.scale_rate) == (None, 1.5, 0.2)
    with pytest.raises(bmm.SpecificationError, match=r"priors: 'sigma' .* received both"):
        bmm.mixture("waiting ~ 1", faithful, k=2, priors={
            "sigma": bmm.Prior("HalfNormal", sigma=4.0),
            "sigma2": bmm.Prior("InverseGamma", alpha=2.0)})
    with pytest.raises(bmm.SpecificationError, match=r"priors\['sigma2'\]: a mixture takes "
                       r"InverseGamma\(alpha\) or InverseGamma\(alpha, beta\)"):
        bmm.mixture("waiting ~ 1", faithful, k=2,
                    priors={"sigma2": bmm.Prior("HalfNormal", sigma=1.0)})
    with pytest.raises(bmm.SpecificationError, match="priors: expected a dict"):
        bmm.mixture("waiting ~ 1", faithful, k=2, priors=[1.0])


def test_posterior_and_prior_predictive_of_a_mixture():
    frame = pd.DataFrame({"y": np.r_[np.random.default_rng(0).normal(0, 1, 150),
                                     np.random.default_rng(1).normal(6, 1, 50)]})
    model = bmm.mixture("y ~ 1", frame, k=2)
    res = model.fit(draws=300, tune=300, chains=2, random_seed=2)
    idata = res.posterior_predictive(random_seed=1)
    rep = idata.posterior_predictive["y"].values.ravel()
    # replicates reproduce the data's bimodality: a quarter of them above 3
    assert abs(np.mean(rep > 3) - np.mean(frame["y"] > 3)) < 0.03
    prior = model.prior_predictive(draws=200, random_seed=3)
    assert prior.prior_predictive["y"].shape == (1, 200, 200)
