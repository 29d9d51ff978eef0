"""Simulation-based calibration (Talts et al. 2018) of every kind of model bayesmm samples.

For each case — the marginal Gaussian build, the latent Gaussian build, a Poisson GLMM
(latent) and a two-component Gaussian mixture — draw the parameters from the priors, simulate
a response on a fixed design, sample the posterior with the *same* compiled model and NUTS
step (the response or its statistics are data containers swapped per replication), and record
the rank of every true value among thinned posterior draws.

Each case runs 200 replications in the test's own process: one compilation per case (two
spawned workers compiled nutpie's model twice, ~35 s each, while `make test`'s other xdist
worker already kept the second core busy). Uniform ranks (χ²) and
50%/90% interval coverage within binomial bounds are asserted at a family-wise 99.9% level
per case (Bonferroni over its 3·d checks), so a calibrated model fails with probability
≤ 0.1% — over the ten seeds of benchmarks/seed_sweep.py, ≤ 1%. The replications' seeds
derive from the suite's ``BAYESMM_TEST_SEED`` (tests/conftest.py).
"""

from __future__ import annotations

import dataclasses
import logging
import warnings
from typing import Any

import numpy as np
import pandas as pd
import pymc as pm
import pytensor
import pytest
from pymc.initial_point import make_initial_point_fn
from scipy import stats as sps

import bayesmm as bmm
from bayesmm.build.batched import swap_stats
from bayesmm.build.latent import build_latent
from bayesmm.build.marginal import build_marginal, normal_prior_moments
from bayesmm.build.mixture import build_mixture, mixture_initvals
from bayesmm.infer.effects import draw_beta
from bayesmm.infer.em import fit_em
from bayesmm.infer.warmstart import warm_start
from bayesmm.suffstats import suff_stats

from .conftest import SEED as TEST_SEED

REPS = 200
KEEP = 99  # thinned posterior draws per replication: ranks 0..99
THIN = 2
TUNE = 250  # PyMC (marginal case)
NUTPIE_TUNE = 500  # nutpie's windowed adaptation: cheap, so longer
BINS = 10
SEED = 20261122 + TEST_SEED
GAUSS_PRIORS = {
    "Intercept": bmm.Prior("Normal", mu=0.0, sigma=1.0),
    "x": bmm.Prior("Normal", mu=0.0, sigma=1.0),
    "sigma": bmm.Prior("HalfNormal", sigma=1.0),
    "sd(Intercept|g)": bmm.Prior("HalfNormal", sigma=1.0),
}
POISSON_PRIORS = {
    "Intercept": bmm.Prior("Normal", mu=1.0, sigma=0.5),
    "x": bmm.Prior("Normal", mu=0.0, sigma=0.5),
    "sd(Intercept|g)": bmm.Prior("HalfNormal", sigma=0.5),
}
MIX_PRIORS = {"Intercept": bmm.Prior("Normal", mu=0.0, sigma=3.0),
              "sigma": bmm.Prior("HalfNormal", sigma=1.0)}  # and Dirichlet(1) weights
MIX_N = 150


def _frame(rng: np.random.Generator, groups: int, per: int) -> pd.DataFrame:
    """Fixed design: ``groups`` groups of ``per`` rows, one standard-normal covariate."""
    g = np.repeat(np.arange(groups), per)
    return pd.DataFrame({"y": rng.poisson(2.0, g.size).astype(float),
                         "x": rng.normal(size=g.size), "g": [f"g{k}" for k in g]})


def _sample(model: pm.Model, step: Any, r: int, initvals: Any = None) -> Any:
    """PyMC: one chain of ``THIN * KEEP`` draws, thinned to ``KEEP``: posterior (1, KEEP)."""
    with model, warnings.catch_warnings():
        # early tuning steps at extreme prior draws overflow in PyMC's mass matrix
        warnings.simplefilter("ignore", RuntimeWarning)
        idata = pm.sample(draws=THIN * KEEP, tune=TUNE, chains=1, step=step, random_seed=r,
                          initvals=initvals,
                          progressbar=False, compute_convergence_checks=False,
                          return_inferencedata=True)
    return idata.posterior.isel(draw=slice(THIN - 1, None, THIN))


def _compile(model: pm.Model) -> Any:
    """Nutpie's numba build of ``model``: compiled once per case, ``_y`` swapped per run.

    Every other data container (the design, the priors' parameters) is frozen into the
    graph first: nutpie reads each remaining container on every density call.
    """
    import nutpie
    from numba.core.errors import NumbaPerformanceWarning
    from pymc.model.transform.optimization import freeze_dims_and_data

    frozen = [v.name for v in model.data_vars if v.name != "_y"]
    with warnings.catch_warnings():
        # Numba's "np.dot() is faster on contiguous arrays" about PyTensor's generated code
        # (silenced in bayesmm.infer.compiled too): raised as an error in the seed sweep's
        # one-process order (seed 1), where the mixture's graph is compiled a second time
        warnings.simplefilter("ignore", NumbaPerformanceWarning)
        return nutpie.compile_pymc_model(freeze_dims_and_data(model, dims=[], data=frozen),
                                         backend="numba")


def _sample_nutpie(compiled: Any, y: np.ndarray, r: int) -> Any:
    """Nutpie: one chain on response ``y``, thinned to ``KEEP`` draws: posterior (1, KEEP)."""
    import nutpie

    idata = nutpie.sample(compiled.with_data(_y=y), draws=THIN * KEEP, tune=NUTPIE_TUNE, chains=1,
                          cores=1, seed=r, progress_bar=False, target_accept=0.95)
    return idata.posterior.isel(draw=slice(THIN - 1, None, THIN))


class Gaussian:
    """``y ~ x + (1 | g)``, 8 groups x 5 rows; ``marginal`` picks the build."""

    names = ("Intercept", "x", "sigma", "tau")

    def __init__(self, marginal: bool) -> None:
        self.marginal = marginal
        model = bmm.mixedlm("y ~ x + (1 | g)", _frame(np.random.default_rng(SEED), 8, 5),
                            priors=GAUSS_PRIORS)
        self.design, priors = model.design, model.priors
        self.m0, self.s0 = normal_prior_moments(self.design, priors)
        self.model = (build_marginal(self.design, priors, model.stats) if marginal
                      else build_latent(self.design, priors))
        if marginal:  # compiled once; every replication starts at its own mode
            self.fn = self.model.logp_dlogp_function(ravel_inputs=True)
            with self.model:
                self.fallback = pm.NUTS(target_accept=0.9, logp_dlogp_func=self.fn)
        else:
            self.compiled = _compile(self.model)

    def replicate(self, r: int) -> tuple[np.ndarray, np.ndarray]:
        """True values (d,) and posterior draws (KEEP, d) of replication ``r``."""
        rng = np.random.default_rng([SEED, r])
        codes = self.design.factors[0].codes
        beta = rng.normal(self.m0, self.s0)
        sigma, tau = np.abs(rng.normal(0, 1, 2))
        y = (self.design.X @ beta + tau * rng.normal(size=8)[codes]
             + sigma * rng.normal(size=codes.size))
        d = dataclasses.replace(self.design, y=y)
        if self.marginal:
            st = suff_stats(d)
            swap_stats(self.model, st)
            start = warm_start(self.model, 1, 0.9, r, fn=self.fn)  # as fit() does
            post = (_sample(self.model, start.step, r, start.initvals) if start is not None
                    else _sample(self.model, self.fallback, r))
            b = draw_beta(d, st, post, self.m0, self.s0, np.random.default_rng(r))[0]
        else:
            post = _sample_nutpie(self.compiled, y, r)
            b = post["beta"].values[0]  # (KEEP, 2)
        draws = np.column_stack([b, post["sigma"].values[0], post["g_sd"].values[0, :, 0]])
        return np.array([*beta, sigma, tau]), draws


class Poisson:
    """Poisson GLMM ``y ~ x + (1 | g)``, 10 groups x 6 rows, latent build."""

    names = ("Intercept", "x", "tau")

    def __init__(self) -> None:
        model = bmm.mixedlm("y ~ x + (1 | g)", _frame(np.random.default_rng(SEED), 10, 6),
                            family="poisson", priors=POISSON_PRIORS)
        self.design = model.design
        self.compiled = _compile(build_latent(self.design, model.priors))

    def replicate(self, r: int) -> tuple[np.ndarray, np.ndarray]:
        """True values (d,) and posterior draws (KEEP, d) of replication ``r``."""
        rng = np.random.default_rng([SEED, r])
        codes = self.design.factors[0].codes
        beta = rng.normal([1.0, 0.0], 0.5)
        tau = abs(rng.normal(0, 0.5))
        eta = self.design.X @ beta + tau * rng.normal(size=10)[codes]
        post = _sample_nutpie(self.compiled, rng.poisson(np.exp(eta)).astype(float), r)
        draws = np.column_stack([post["beta"].values[0], post["g_sd"].values[0, :, 0]])
        return np.array([*beta, tau]), draws


class Mixture:
    """Two Gaussian components ``y ~ 1``, ordered means, n = 150, started at EM's mode."""

    names = ("mu1", "mu2", "sigma1", "sigma2", "w1")

    def __init__(self) -> None:
        rng = np.random.default_rng(SEED)
        mix = bmm.mixture("y ~ 1", pd.DataFrame({"y": rng.normal(size=MIX_N)}), k=2,
                          priors=MIX_PRIORS)
        self.design, self.priors = mix.design, mix.priors
        assert (self.priors.coef_mu.tolist(), self.priors.coef_sd.tolist(),
                self.priors.sigma_sd, self.priors.alpha) == ([0.0], [3.0], 1.0, 1.0)
        model = build_mixture(self.design, 2, self.priors, "mu")
        self.compiled = _compile(model)
        # each replication starts at its EM mode, as MixtureModel.fit does (the default
        # start, equal ordered means, is invalid): symbolic overrides, set per replication,
        # mapped to nutpie's flat unconstrained vector
        self.start = {name: pytensor.shared(np.zeros(2)) for name in ("_icpt", "sigma", "w")}
        point = make_initial_point_fn(model=model, overrides=self.start, jitter_rvs=set(),
                                      return_transformed=True)
        names = [v.name for v in model.value_vars]
        self.y = model["_y"]
        dlogp = model.compile_dlogp()

        def flat(seed: Any) -> np.ndarray:
            values = point(seed)
            x = np.concatenate([np.ravel(values[n]) for n in names])
            # nutpie refuses a start whose gradient has an exact zero ("Invalid initial
            # point"; a 1e-6 nudge is accepted): at a symmetric EM mode, w = 1/2 exactly
            # (seed 5, replication 91), the weight's gradient is 0. Nudged only then, so
            # every other replication starts where it did.
            if np.any(dlogp(values) == 0.0):
                x = x + 1e-6 * np.random.default_rng(seed).standard_normal(x.size)
            return x

        self.flat = flat

    def replicate(self, r: int) -> tuple[np.ndarray, np.ndarray]:
        """True values (d,) and posterior draws (KEEP, d) of replication ``r``."""
        rng = np.random.default_rng([SEED, r])
        mu = rng.normal(0.0, 3.0, 2)
        sigma = np.abs(rng.normal(0.0, 1.0, 2))
        w = rng.dirichlet([1.0, 1.0])
        order = np.argsort(mu)  # the build's prior is that of the sorted means
        mu, sigma, w = mu[order], sigma[order], w[order]
        z = rng.choice(2, size=MIX_N, p=w)
        y = rng.normal(mu[z], sigma[z])
        d = dataclasses.replace(self.design, y=y)
        em = fit_em(y, d.X, 2, self.priors, "mu", 5, r)
        for name, value in mixture_initvals(d, self.priors, "mu", em.beta, em.sigma, em.w).items():
            self.start[name].set_value(np.asarray(value, dtype=float))
        self.y.set_value(y)  # the gradient check in ``flat`` sees this replication's data
        compiled = dataclasses.replace(self.compiled, initial_point_func=self.flat)
        post = _sample_nutpie(compiled, y, r)
        draws = np.column_stack([post["beta"].values[0, :, :, 0], post["sigma"].values[0],
                                 post["w"].values[0, :, 0]])
        return np.concatenate([mu, sigma, w[:1]]), draws


CASES = {"marginal": lambda: Gaussian(True), "latent": lambda: Gaussian(False),
         "poisson": Poisson, "mixture": Mixture}
NAMES = {"marginal": Gaussian.names, "latent": Gaussian.names, "poisson": Poisson.names,
         "mixture": Mixture.names}


def _ranks(case: str) -> tuple[np.ndarray, np.ndarray]:
    """Ranks and central-interval levels of every replication of ``case``, (REPS, d) each."""
    logging.getLogger("pymc").setLevel(logging.ERROR)
    sim = CASES[case]()
    ranks, levels = [], []
    for r in range(REPS):
        truth, draws = sim.replicate(r)
        below = draws < truth  # (KEEP, d)
        ranks.append(below.sum(axis=0))
        levels.append(np.abs(2 * below.mean(axis=0) - 1))  # central level reaching truth
    return np.array(ranks), np.array(levels)


@pytest.mark.slow
@pytest.mark.statistical
@pytest.mark.parametrize("case", list(CASES))
def test_posterior_is_calibrated(case: str) -> None:
    ranks, levels = _ranks(case)
    names = NAMES[case]
    d = len(names)
    assert ranks.shape == (REPS, d)
    counts = np.stack([np.bincount(ranks[:, j] * BINS // (KEEP + 1), minlength=BINS)
                       for j in range(d)])  # (d, BINS)
    alpha = 0.001 / (3 * d)  # d rank tests + 2d coverage checks
    for name, row in zip(names, counts, strict=True):
        p = sps.chisquare(row).pvalue
        assert p > alpha, (name, row.tolist(), p)
    for nominal in (0.5, 0.9):
        lo, hi = sps.binom.ppf([alpha / 2, 1 - alpha / 2], REPS, nominal) / REPS
        covered = (levels < nominal).mean(axis=0)
        for name, c in zip(names, covered, strict=True):
            assert lo <= c <= hi, (name, nominal, c, (lo, hi))
