"""The C kernels are PyMC's densities of the marginal and latent builds wherever they apply."""

from __future__ import annotations

import ctypes

import numpy as np
import pandas as pd
import pytest

import bayesmm as bmm
from bayesmm.build.latent import build_latent
from bayesmm.build.marginal import build_marginal
from bayesmm.infer import compiled, kernel_library
from bayesmm.infer.kernel_density import (
    KEY,
    kernel_density,
    kernel_layout,
    latent_kernel_density,
    latent_layout,
    lkj_log_norm,
)

P = bmm.Prior


def _three_columns() -> pd.DataFrame:
    """A correlated block of three columns (LKJ over 3 × 3), 15 groups of 10."""
    rng = np.random.default_rng(3)
    g = np.repeat(np.arange(15), 10)
    a, b = rng.normal(size=g.size), rng.normal(size=g.size)
    y = 1.0 + a + rng.normal(size=15)[g] + a * rng.normal(0, 0.5, 15)[g] \
        + b * rng.normal(0, 0.3, 15)[g] + rng.normal(size=g.size)
    return pd.DataFrame({"y": y, "a": a, "b": b, "g": g.astype(str)})


CASES = {
    "dietox (Time | Pig)": ("dietox", "Weight ~ Time + (Time | Pig)", {}, {}),
    "Dyestuff (1 | Batch)": ("Dyestuff", "Yield ~ 1 + (1 | Batch)", {}, {}),
    "Orthodont (age || Subject)": ("Orthodont", "distance ~ age + (age || Subject)", {}, {}),
    "Pastes variance component": ("Pastes", "strength ~ 1",
                                  {"groups": "batch", "re_formula": "~1",
                                   "vc_formula": {"cask": "0 + C(cask)"}}, {}),
    "dietox HalfStudentT, Gamma, LKJ(1)": (
        "dietox", "Weight ~ Time + (Time | Pig)", {},
        {"sigma": P("HalfStudentT", nu=4.0, sigma=3.0),
         "sd(Intercept|Pig)": P("Gamma", alpha=2.0, beta=0.1),
         "sd(Time|Pig)": P("Gamma", alpha=2.0, beta=0.5), "corr(Pig)": P("LKJ", eta=1.0)}),
    "Dyestuff Exponential, InverseGamma": (
        "Dyestuff", "Yield ~ 1 + (1 | Batch)", {},
        {"sigma": P("Exponential", lam=0.02), "sd(Intercept|Batch)": P("InverseGamma",
                                                                         alpha=2.0, beta=0.5)}),
    "three columns, HalfCauchy, LKJ(3)": (
        None, "y ~ a + (a + b | g)", {},
        {"sigma": P("HalfCauchy", beta=2.0), "corr(g)": P("LKJ", eta=3.0)}),
    "three columns, LKJ(1)": (None, "y ~ a + (a + b | g)", {}, {"corr(g)": P("LKJ", eta=1.0)}),
}


def _build(data, case):
    name, formula, kwargs, priors = CASES[case]
    frame = _three_columns() if name is None else data(name)
    model = bmm.mixedlm(formula, frame, priors=priors or None, **kwargs)
    resolved = bmm.priors.resolve_priors(model.design, priors)
    return model, resolved, build_marginal(model.design, resolved, model.stats)


def _counts() -> pd.DataFrame:
    """Counts, successes of 6 and 0/1 outcomes on 12 × 9 crossed levels, with an exposure."""
    rng = np.random.default_rng(2)
    g, h = np.repeat(np.arange(12), 9), np.tile(np.arange(9), 12)
    x = rng.normal(size=g.size)
    eta = 0.3 + 0.5 * x + rng.normal(size=12)[g] + 0.4 * x * rng.normal(size=12)[g] \
        + 0.3 * rng.normal(size=9)[h]
    p = 1.0 / (1.0 + np.exp(-eta))
    t = rng.uniform(1, 3, g.size)
    return pd.DataFrame({"x": x, "g": g.astype(str), "h": h.astype(str), "n": 6,
                         "k": rng.binomial(6, p), "b": rng.binomial(1, p),
                         "c": rng.poisson(t * np.exp(eta)), "lt": np.log(t)})


LATENT = {
    "cbpp binomial (1 | herd)": ("cbpp", "incidence / size ~ C(period) + (1 | herd)",
                                 {"family": "binomial"}),
    "Bernoulli (1 + x | g)": (None, "b ~ x + (1 + x | g)", {"family": "bernoulli"}),
    "Poisson with offset, (x || g) + (1 | h)": (
        None, "c ~ x + (x || g) + (1 | h)", {"family": "poisson", "offset": "lt"}),
    "binomial (1 + x | g) + (1 | h)": (None, "k / n ~ x + (1 + x | g) + (1 | h)",
                                       {"family": "binomial"}),
    "negative binomial with offset, (1 + x | g)": (
        None, "c ~ x + (1 + x | g)", {"family": "negbin", "offset": "lt"}),
    "Student-t (1 | g) + (1 | h)": (None, "x ~ lt + (1 | g) + (1 | h)", {"family": "t"}),
    "Gaussian (1 + x | g) + (1 | h)": (None, "lt ~ x + (1 + x | g) + (1 | h)", {}),
}


def _check_against_pymc(density, layout, pm_model, psi=None):
    """Names, dims, start, density, gradient and trace equal those of PyMC's model.

    ``psi``: (index in x, rows) of a log parameter whose gradient sums PyTensor's digamma
    (Student-t's ν) over the rows. PyTensor's ``psi`` is 0.2–1.5e-10 off scipy's between
    0.3 and 10 (the kernel's digamma is checked against scipy's in
    test_student_t_nu_gradient_equals_scipys), so that entry may differ by rows × ν × 2e-10.
    """
    assert density is not None
    # the names, order, shapes and dims PyMC's model of the build has
    assert layout.value_names == tuple(v.name for v in pm_model.value_vars)
    assert density.names == tuple(v.name for v in pm_model.unobserved_RVs)
    assert density.dims == {n: tuple(pm_model.named_vars_to_dims[n]) for n in density.names
                            if n in pm_model.named_vars_to_dims}
    for dim, values in density.coords.items():
        assert list(values) == list(pm_model.coords[dim])
    point = pm_model.initial_point()
    x0 = np.concatenate([np.ravel(point[v.name]) for v in pm_model.value_vars])
    np.testing.assert_allclose(density.x0, x0, rtol=1e-12, atol=1e-14)
    # the model's graph compiled: PyMC's log density and gradient (tests/infer/test_compiled
    # checks it against PyMC's logp_dlogp_function) and its trace variables
    ref = compiled.compile_density(pm_model, "FAST_RUN")
    rng = np.random.default_rng(0)
    for x in [x0 + rng.normal(0, 0.5, x0.size) for _ in range(4)]:
        logp, grad = density.logp_grad(x)
        want_logp, want_grad = ref.logp_grad(x)
        # PyMC adds LKJ's normalising constant in float32: 4e-8 off for η = 3, n = 3
        np.testing.assert_allclose(logp, want_logp, rtol=1e-12, atol=1e-7)
        atol = np.full(x.size, 1e-9 * np.max(np.abs(want_grad)))
        if psi is not None:
            atol[psi[0]] += psi[1] * np.exp(x[psi[0]]) * 2e-10
        bound = 1e-8 * np.abs(want_grad) + atol
        assert np.all(np.abs(grad - want_grad) <= bound), (grad - want_grad, bound)
        got, want = density.trace_point(x), ref.trace_point(x)
        assert list(got) == list(want)
        for name in want:
            np.testing.assert_allclose(got[name], want[name], rtol=1e-12, atol=1e-14)


# compared with PyMC's model (each case compiles its graph): every case but two whose code
# paths others run: Dyestuff's default priors (the Exponential/InverseGamma case runs the
# same q = 1 path) and LKJ(1) on three columns (the q > 2 path runs under LKJ(3); its
# constant is checked in test_lkj_constant_is_the_one_pymc_adds)
COMPARED = [c for c in CASES if c not in ("Dyestuff (1 | Batch)", "three columns, LKJ(1)")]


@pytest.mark.parametrize("case", COMPARED)
def test_kernel_equals_pymcs_density_gradient_start_and_trace(data, case):
    model, priors, pm_model = _build(data, case)
    _check_against_pymc(kernel_density(model.design, priors, model.stats),
                        kernel_layout(model.design, priors, model.stats), pm_model)


@pytest.mark.parametrize("case", list(LATENT))
def test_latent_kernel_equals_pymcs_density_gradient_start_and_trace(data, case):
    name, formula, kwargs = LATENT[case]
    model = bmm.mixedlm(formula, _counts() if name is None else data(name), **kwargs)
    layout = latent_layout(model.design, model.priors)
    psi = None if "nu_log__" not in layout.value_names else (
        len(model.design.xnames) + 1, model.design.y.size)  # ν after β and σ
    _check_against_pymc(latent_kernel_density(model.design, model.priors), layout,
                        build_latent(model.design, model.priors), psi)


def test_student_t_nu_gradient_equals_scipys():
    # dl/dlog ν of the Student-t latent kernel against the formula with scipy's digamma:
    # N(ψ((ν+1)/2) − ψ(ν/2) − 1/ν)/2 + Σ[−log(1 + e²/νσ²)/2 + (ν+1)e²/(2ν(νσ² + e²))], its
    # Gamma(2, 0.1) prior's (a − 1)/ν − b, times ν, plus the log transform's 1
    from scipy.special import digamma

    model = bmm.mixedlm("x ~ lt + (1 | g) + (1 | h)", _counts(), family="t")
    d = model.design
    density = latent_kernel_density(d, model.priors)
    x = density.x0 + np.random.default_rng(4).normal(0, 0.5, density.x0.size)
    x[3] = np.log(2.7)  # ν where PyTensor's digamma is 1e-10 off
    t = density.trace_point(x)
    eta = d.X @ t["beta"] + sum(f.Z[:, 0] * t[f.label][f.codes, 0] for f in d.factors)
    e2, s2, nu = (d.y - eta) ** 2, t["sigma"] ** 2, t["nu"]
    dl = (d.y.size * (digamma((nu + 1) / 2) - digamma(nu / 2) - 1 / nu) / 2
          + np.sum(-np.log1p(e2 / (nu * s2)) / 2 + (nu + 1) * e2 / (2 * nu * (nu * s2 + e2)))
          + (2.0 - 1.0) / nu - 0.1)
    assert density.logp_grad(x)[1][3] == pytest.approx(dl * nu + 1.0, rel=1e-12, abs=1e-11)


@pytest.mark.parametrize(("eta", "n"), [(1.0, 2), (1.0, 3), (1.0, 4), (2.0, 2), (3.0, 3)])
def test_lkj_constant_is_the_one_pymc_adds(eta, n):
    # PyMC adds log Z, where Z = ∫ det(C)^(η − 1) dC, so its LKJ density is Z² times a
    # normalised one (the sign reported in pymc-devs/pymc#1042; Stan fixed its own in
    # stan-dev/math#628). A constant: sampling is unaffected, and the kernel adds what the
    # model's logp adds. n = 2: Z = ∫ (1 − r²)^(η − 1) dr over (−1, 1). PyMC computes its
    # value in float32 (1.9e-9 off log 2 for η = 1, n = 2), hence 1e-7 against it.
    from pymc.distributions.multivariate import _lkj_normalizing_constant

    if n == 2:
        r = np.linspace(-1, 1, 200_001)
        log_z = np.log(np.trapezoid((1 - r**2) ** (eta - 1), r))
        assert lkj_log_norm(eta, n) == pytest.approx(log_z, abs=1e-9)
    assert lkj_log_norm(eta, n) == pytest.approx(
        float(_lkj_normalizing_constant(eta, n).eval()), abs=1e-7)


def test_what_the_kernel_does_not_cover_keeps_the_compiled_graph(data):
    frame = data("dietox")
    for priors in ({"Intercept": P("StudentT", nu=3.0, mu=0.0, sigma=100.0)},  # β sampled
                   {"sigma": P("Gamma", mu=2.0, sigma=1.0)}):  # not the canonical parameters
        model = bmm.mixedlm("Weight ~ Time + (1 | Pig)", frame, priors=priors)
        resolved = bmm.priors.resolve_priors(model.design, priors)
        assert kernel_density(model.design, resolved, model.stats) is None


def test_every_structure_runs_on_the_one_installed_library(data):
    # `pip install` built the sources into bayesmm.infer._kernels (setup.py): no fit compiles
    # anything, and Dyestuff (q = p = 1), a three-column correlated block and a variance
    # component call the same two C functions
    assert kernel_library._built() is not None
    callbacks = set()
    for case in ("Dyestuff (1 | Batch)", "three columns, LKJ(1)", "Pastes variance component"):
        model, priors, _ = _build(data, case)
        density = kernel_density(model.design, priors, model.stats)
        assert density.key == KEY
        callbacks.add((density.native.logp.address, density.native.expand.address))
    assert len(callbacks) == 1


def test_without_the_built_extension_the_sources_are_compiled_once(data, monkeypatch, tmp_path):
    # a checkout on PYTHONPATH (no build) or an edited source: compiled into the compiledir,
    # keyed by the sources' hash, and the same density as the installed build's
    model, priors, _ = _build(data, "three columns, HalfCauchy, LKJ(3)")
    installed = kernel_density(model.design, priors, model.stats)
    monkeypatch.setattr(kernel_library, "_built", lambda: None)
    monkeypatch.setattr(kernel_library, "_folder", lambda: tmp_path / "bayesmm")
    kernel_library._library.cache_clear()
    try:
        compiled = kernel_density(model.design, priors, model.stats)
        (path,) = (tmp_path / "bayesmm").glob("kernels-*")
        lib = ctypes.CDLL(str(path))
        lib.bmm_source_hash.restype = ctypes.c_char_p
        assert lib.bmm_source_hash().decode() == kernel_library.SOURCE_HASH
        assert compiled.native.logp.address != installed.native.logp.address
        x = installed.x0 + np.random.default_rng(1).normal(0, 0.5, installed.n_dim)
        assert compiled.logp_grad(x)[0] == installed.logp_grad(x)[0]
        np.testing.assert_array_equal(compiled.logp_grad(x)[1], installed.logp_grad(x)[1])
    finally:
        kernel_library._library.cache_clear()


def test_fit_samples_on_the_kernel_without_building_a_model(data, monkeypatch):
    from bayesmm.infer import flat_nutpie, nuts

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a PyMC model was built or compiled")

    monkeypatch.setattr(flat_nutpie, "compile_density", refuse)
    monkeypatch.setattr(nuts, "build_marginal", refuse)
    res = bmm.mixedlm("Yield ~ 1 + (1 | Batch)", data("Dyestuff")).fit(
        draws=50, tune=50, chains=2, random_seed=1, sampler="nutpie", comparison=False)
    assert res.idata.posterior["sigma"].shape == (2, 50)
    assert set(res.idata.posterior.data_vars) >= {"sigma", "Batch_sd", "beta", "Batch"}
