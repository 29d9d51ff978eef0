"""Finite Gaussian mixtures of regressions: the :func:`mixture` façade and its results."""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import arviz as az
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pymc as pm
import xarray as xr
from scipy import stats as sps
from scipy.special import logsumexp

from .build.mixture import (
    MixturePriors,
    build_mixture,
    mixture_initvals,
    mixture_likelihood,
    mixture_priors,
)
from .design import Design, fixed_design, make_design
from .diagnostics import numpy_kernels
from .errors import DataError, FormulaError, SpecificationError, describe
from .infer.em import EMFit, fit_em
from .infer.flat_nutpie import StopRule
from .infer.nuts import add_observed_data, clean_idata, default_sampler, with_groups
from .infer.options import NutsOptions
from .infer.samplers import Start, get_sampler
from .newdata import factor_codes
from .progress import resolve_progressbar
from .report import Summary
from .spec import parse_lme4, spec_from_formula

__all__ = ["MixtureModel", "MixtureResults", "mixture"]

ORDERS = ("mu", "weights", "none")


def mixture_design(formula: str, data: pd.DataFrame, groups: str | None = None) -> Design:
    """Design of a mixture; ``(1 | g)`` or ``groups="g"`` adds shared group intercepts."""
    if groups is not None:
        if not isinstance(groups, str):
            raise SpecificationError(
                f"groups: expected a column name; received {describe(groups)}."
            )
        formula = f"{formula} + (1 | {groups})"
    _, _, terms = parse_lme4(formula)
    if not terms:
        return fixed_design(formula, data)
    if len(terms) > 1 or terms[0].expr.replace(" ", "") != "1":
        raise FormulaError(
            "formula: a mixture takes one random intercept shared by its components, "
            f"'(1 | g)' or groups='g'; received {[f'({t.expr} | {t.factor})' for t in terms]}."
        )
    return make_design(spec_from_formula(formula), data)


class MixtureModel:
    """K-component Gaussian mixture of regressions with Dirichlet(α) weights.

    Parameters
    ----------
    formula : str
        Each component's mean: ``"y ~ 1"`` for a plain mixture, ``"y ~ x"`` for regressions.
    data : pandas.DataFrame
    k : int
        Number of components (≥ 2).
    alpha : float
        Symmetric Dirichlet concentration (1, as brms).
    order : {"mu", "weights", "none"}
        Identifying constraint against label switching.
    priors : dict, optional
        Replaces data-scaled defaults by parameter name, as :func:`bayesmm.mixedlm`'s
        ``priors=``: a coefficient's name (its prior is shared by the components; Normal),
        ``"sigma2"`` (every component's variance; InverseGamma, its scale ``beta`` fixed or
        left to ``"beta(sigma2)"``, a Gamma), ``"sigma"`` (a HalfNormal on every component's
        SD instead) or ``"sd(Intercept|g)"`` (HalfNormal), each a :class:`bayesmm.Prior`
        (see :func:`bayesmm.build.mixture.mixture_priors`).
    groups : str, optional
        Grouping column of a random intercept shared by every component (a latent-class
        mixed model); the same as adding ``(1 | g)`` to the formula.
    """

    def __init__(self, formula: str, data: pd.DataFrame, k: int = 2, alpha: float = 1.0,
                 order: str = "mu", priors: Mapping[str, object] | None = None,
                 groups: str | None = None) -> None:
        if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or k < 2:
            raise SpecificationError(f"k: expected an integer ≥ 2; received {describe(k)}.")
        if order not in ORDERS:
            raise SpecificationError(f"order: expected one of {ORDERS}; received {order!r}.")
        if not np.isfinite(alpha) or alpha <= 0:
            raise SpecificationError(f"alpha: expected a positive number; received {alpha!r}.")
        self.design: Design = mixture_design(formula, data, groups)
        if k >= self.design.n_obs:
            raise DataError(
                f"k: {k} components need more than {self.design.n_obs} rows; use fewer "
                "components or more data."
            )
        distinct = np.unique(self.design.y).size
        if distinct < k:
            raise DataError(
                f"data: {k} components need at least {k} distinct values of "
                f"{self.design.response!r}; received {distinct} (a component on a single value "
                "has SD 0). Use fewer components or check the response."
            )
        self.k, self.order = int(k), order
        self.priors: MixturePriors = mixture_priors(self.design, alpha, priors)

    def prior_predictive(self, draws: int = 500, random_seed: int | None = None
                         ) -> az.InferenceData:
        """Draws from the prior and the prior predictive distribution of the response."""
        NutsOptions(draws=draws, random_seed=random_seed)  # validates draws
        with build_mixture(self.design, self.k, self.priors, "none"):
            return pm.sample_prior_predictive(draws=draws, random_seed=random_seed)

    def fit(self, method: str = "nuts", *, draws: int = 1000, tune: int = 1000,
            chains: int = 4, cores: int | None = None, random_seed: int | None = None,
            progressbar: bool | None = None, target_accept: float = 0.9,
            n_restarts: int = 10,
            sampler: str | None = None, max_draws: int | None = None) -> MixtureResults:
        """Fit by NUTS (default) or by EM (``method="map"``, the posterior mode).

        ``sampler`` is ``"nutpie"`` (the default when installed: nutpie's NUTS on the
        model's cached Numba density) or ``"pymc"``.

        ``max_draws`` (nutpie only) lets the run extend itself: chains go on past ``draws``
        and stop at the first multiple of ``draws`` where every parameter has R-hat ≤ 1.01
        and bulk ESS ≥ 100 per chain, or at ``max_draws`` draws per chain. Overlapping
        components mix slowly (galaxies with K = 4 needs 4 × 5,000–10,000 draws), so
        this is the way to ask for "as long as it takes" without guessing.

        ``progressbar=None`` shows progress when a person is watching (a terminal or a
        notebook), never under pytest or CI.

        Returns
        -------
        MixtureResults
        """
        d = self.design
        if method == "map" and d.factors:
            raise SpecificationError(
                "method: 'map' (EM) is for mixtures without group intercepts, whose joint "
                "mode over the effects and their SD lies at SD 0; use method='nuts'."
            )
        if method == "map":
            em = fit_em(d.y, d.X, self.k, self.priors, self.order, n_restarts, random_seed)
            return MixtureResults(d, self.k, self.order, None, em)
        if method != "nuts":
            raise SpecificationError(f"method: expected 'nuts' or 'map'; received {method!r}.")
        if sampler not in (None, "pymc", "nutpie"):
            raise SpecificationError(
                f"sampler: a mixture samples with 'nutpie' or 'pymc'; received {sampler!r}.")
        opts = NutsOptions(draws=draws, tune=tune, chains=chains, cores=cores,
                           random_seed=random_seed,
                           progressbar=resolve_progressbar(progressbar),
                           sampler=sampler or default_sampler("mixture"),
                           target_accept=target_accept, max_draws=max_draws)
        nuts = get_sampler(opts.sampler)
        if max_draws is not None and not nuts.can_extend(Start(low_dimensional=True)):
            raise SpecificationError(
                "max_draws: a run that extends itself until it converges needs nutpie; "
                f"received sampler={opts.sampler!r}. Install nutpie or pass max_draws=None "
                "and a larger draws.")
        # start every chain at the EM posterior mode: mixtures are multimodal and a
        # jittered start can leave chains in minor modes
        em = fit_em(d.y, d.X, self.k, self.priors, self.order, n_restarts, random_seed)
        start = Start(low_dimensional=True,
                      initvals=mixture_initvals(d, self.priors, self.order, em.beta,
                                                    em.sigma, em.w))
        model = build_mixture(d, self.k, self.priors, self.order)
        # NUTS from the EM mode. On galaxies (K = 3, 4 × 2000 draws,
        # benchmarks/mixture_mixing.py) a refit took 24 s (min bulk ESS 1052) with nutpie and
        # 50 s (1113) with PyMC's sampler on 2 cores; first fits, compilation included, 95 s
        # and 142 s
        idata = nuts.sample(model, opts, start)
        res = MixtureResults(d, self.k, self.order, add_observed_data(clean_idata(idata), d), em)
        if "log_likelihood" not in idata.groups():  # the samplers' traces hold the posterior
            idata.add_groups(log_likelihood=res.pointwise_log_likelihood())
        return res


@contextmanager
def _no_blas_notice() -> Iterator[None]:
    """Compile PyTensor's C functions without its notice that pip's PyTensor has no BLAS.

    The likelihood's functions are elementwise over a few thousand draws; the notice (a
    UserWarning on every process's first C compile) concerns large matrix products.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "PyTensor could not link to a BLAS", UserWarning)
        yield


def mixture(formula: str, data: pd.DataFrame, k: int = 2, alpha: float = 1.0,
            order: str = "mu", priors: Mapping[str, object] | None = None,
            groups: str | None = None) -> MixtureModel:
    """Create a Gaussian mixture model (:class:`MixtureModel`'s parameters, spelled out)."""
    return MixtureModel(formula, data, k, alpha=alpha, order=order, priors=priors,
                        groups=groups)


@dataclass(frozen=True, eq=False)
class MixtureResults:
    """A fitted mixture: posterior draws (``idata``) or the EM mode (``em``)."""

    design: Design
    k: int
    order: str
    idata: az.InferenceData | None
    em: EMFit | None

    def _draws(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """β (S, K, p), σ (S, K), w (S, K); one 'draw' for an EM fit."""
        if self.idata is None:  # EM only
            return self.em.beta[None], self.em.sigma[None], self.em.w[None]  # type: ignore[union-attr]
        post = self.idata.posterior
        p = len(self.design.xnames)
        return (post["beta"].values.reshape(-1, self.k, p),
                post["sigma"].values.reshape(-1, self.k), post["w"].values.reshape(-1, self.k))

    @property
    def weights(self) -> pd.Series:
        """Component weights (posterior means, or the EM mode)."""
        return pd.Series(self._draws()[2].mean(0), name="weight")

    @property
    def coefs(self) -> pd.DataFrame:
        """Component coefficients, one row per component."""
        return pd.DataFrame(self._draws()[0].mean(0), columns=list(self.design.xnames))

    @property
    def means(self) -> pd.Series:
        """Component intercepts (the component means for ``y ~ 1``)."""
        return self.coefs.iloc[:, 0].rename("mean")

    @property
    def sigmas(self) -> pd.Series:
        """Component standard deviations."""
        return pd.Series(self._draws()[1].mean(0), name="sigma")

    def _x(self, data: pd.DataFrame | None) -> np.ndarray:
        """Design of ``data`` (the fitted data when omitted)."""
        if data is None:
            return self.design.X
        return np.asarray(self.design.fixed_terms.evaluate_new_data(data).design_matrix, float)

    def _xy(self, data: pd.DataFrame | None) -> tuple[np.ndarray, np.ndarray]:
        """Design and response of ``data`` (the fitted data when omitted)."""
        if data is None:
            return self.design.X, self.design.y
        X = self._x(data)
        if self.design.response not in data:
            raise DataError(f"data: response column {self.design.response!r} is missing.")
        return X, data[self.design.response].to_numpy(dtype=float)

    def _group_sd(self) -> np.ndarray:
        """SD of the group intercepts per draw (S,); zero without groups."""
        if not self.design.factors or self.idata is None:
            return np.zeros(1)
        return self.idata.posterior[f"{self.design.factors[0].label}_sd"].values.ravel()

    def _offsets(self, data: pd.DataFrame | None, n: int) -> np.ndarray:
        """Group intercept of every row per draw (S, n): zero without groups or when unseen."""
        if not self.design.factors or self.idata is None:
            return np.zeros((1, n))
        f = self.design.factors[0]
        b = self.idata.posterior[f.label].values.reshape(-1, f.n_levels)  # (S, G)
        if data is None:
            return b[:, f.codes]
        codes, _ = factor_codes(f, data)  # unseen groups numbered from G on
        seen = codes < f.n_levels
        return np.where(seen, b[:, np.where(seen, codes, 0)], 0.0)

    def _log_joint(self, X: np.ndarray, y: np.ndarray, off: np.ndarray | None = None,
                   marginal: bool = False) -> np.ndarray:
        """Compute log w_k + log N(y_i | X_i β_k + b_i, σ_k) per draw, shape (S, N, K).

        ``marginal`` integrates the group intercept out instead (σ_k² + τ²).
        """
        beta, sigma, w = self._draws()
        mu = np.einsum("np,skp->snk", X, beta)
        if off is not None:
            mu = mu + off[:, :, None]
        if marginal:
            sigma = np.sqrt(sigma**2 + self._group_sd()[:, None] ** 2)
        return sps.norm.logpdf(y[None, :, None], mu, sigma[:, None, :]) + np.log(w)[:, None]

    def predict_proba(self, data: pd.DataFrame | None = None) -> pd.DataFrame:
        """Posterior membership probabilities of every row, averaged over draws.

        With group intercepts, each row is classified given its group's effect (zero for
        groups not in the fitted data).
        """
        X, y = self._xy(data)
        lj = self._log_joint(X, y, self._offsets(data, y.size))
        probs = np.exp(lj - logsumexp(lj, axis=2, keepdims=True)).mean(0)
        return pd.DataFrame(probs, columns=[f"component {k}" for k in range(self.k)])

    def pointwise_log_likelihood(self) -> xr.Dataset:
        """Log-likelihood of every fitted row per draw, log Σ_k w_k N(y_i | μ_ik, σ_k).

        Given the row's group intercept in latent-class models. PyMC's
        ``compute_log_likelihood`` on the likelihood alone
        (:func:`bayesmm.build.mixture.mixture_likelihood`). Returns the ``log_likelihood``
        group of :attr:`idata` (chain, draw, obs).
        """
        if self.idata is None:
            raise SpecificationError("method: the pointwise log-likelihood needs a NUTS fit.")
        with mixture_likelihood(self.design, self.k), _no_blas_notice():
            return pm.compute_log_likelihood(az.InferenceData(posterior=self.idata.posterior),
                                             extend_inferencedata=False, progressbar=False)

    def predict(self, data: pd.DataFrame | None = None) -> np.ndarray:
        """Posterior mean of E[y | x, g] = Σ_k w_k x β_k + b_g."""
        beta, _, w = self._draws()
        X = self._x(data)
        return (np.einsum("np,skp,sk->sn", X, beta, w) + self._offsets(data, X.shape[0])).mean(0)

    def pdf(self, x: np.ndarray, hdi_prob: float = 0.94) -> pd.DataFrame:
        """Mixture density at ``x`` (``y ~ 1`` models): posterior mean and central band.

        With group intercepts this is the density of a new group's row (τ integrated out).
        """
        if self.design.X.shape[1] != 1:
            raise SpecificationError("x: pdf needs a mixture without predictors ('y ~ 1').")
        x = np.asarray(x, dtype=float)
        lj = self._log_joint(np.ones((x.size, 1)), x, marginal=True)
        dens = np.exp(logsumexp(lj, axis=2))  # (S, n)
        lo, hi = np.quantile(dens, [(1 - hdi_prob) / 2, (1 + hdi_prob) / 2], axis=0)
        return pd.DataFrame({"x": x, "density": dens.mean(0), "lower": lo, "upper": hi})

    def plot_density(self, ax: plt.Axes | None = None, bins: int = 30) -> plt.Axes:
        """Histogram of the data with the fitted mixture density and its band."""
        ax = ax or plt.subplots()[1]
        y = self.design.y
        ax.hist(y, bins=bins, density=True, alpha=0.4, color="grey", label="data")
        pad = 0.1 * np.ptp(y)
        dens = self.pdf(np.linspace(y.min() - pad, y.max() + pad, 300))
        ax.fill_between(dens["x"], dens["lower"], dens["upper"], alpha=0.3, label="band")
        ax.plot(dens["x"], dens["density"], label="mixture density")
        ax.set_xlabel(self.design.response)
        ax.legend()
        return ax

    def label_switching(self, tol: float = 4.0) -> pd.Series:
        """Flag chains whose component intercepts disagree with the pooled posterior.

        A chain is flagged when a component's chain mean is more than ``tol`` pooled
        posterior SDs from the mean of the other chains.
        """
        if self.idata is None:
            raise SpecificationError("method: label switching is a property of NUTS fits.")
        a = self.idata.posterior["beta"].values[..., 0]  # (C, D, K)
        flags = []
        for c in range(a.shape[0]):
            rest = np.delete(a, c, axis=0).reshape(-1, self.k)
            sd = np.maximum(rest.std(0), 1e-12)
            flags.append(bool(np.any(np.abs(a[c].mean(0) - rest.mean(0)) > tol * sd)))
        return pd.Series(flags, name="label switching")

    def summary(self, hdi_prob: float = 0.94) -> Summary:
        """Component weights, coefficients and SDs in the package's report layout."""
        rows: dict[str, np.ndarray] = {}
        beta, sigma, w = self._draws()
        for k in range(self.k):
            rows[f"w[{k}]"] = w[:, k]
            for j, name in enumerate(self.design.xnames):
                rows[f"{name}[{k}]"] = beta[:, k, j]
            rows[f"sigma[{k}]"] = sigma[:, k]
        if self.design.factors and self.idata is not None:
            rows[f"{self.design.factors[0].label} SD"] = self._group_sd()
        header = [("Model", "Gaussian mixture"), ("Components", str(self.k)),
                  ("No. Observations", str(self.design.n_obs)),
                  ("Dependent Variable", self.design.response), ("Order", self.order)]
        if self.design.factors:
            header.insert(3, ("No. Groups", str(self.design.factors[0].n_levels)))
        if self.idata is None:
            header.append(("Method", "EM (posterior mode)"))
            table = pd.DataFrame({"Estimate": {k: float(v[0]) for k, v in rows.items()}})
            return Summary("Gaussian Mixture Regression Results", header, table)
        C = self.idata.posterior.sizes["chain"]
        draws = {k: v.reshape(C, -1) for k, v in rows.items()}
        with numpy_kernels():
            s = az.summary(draws, hdi_prob=hdi_prob, round_to="none")
        lo, hi = [c for c in s.columns if c.startswith("hdi_")]
        table = pd.DataFrame({"Mean": s["mean"], "SD": s["sd"], lo: s[lo], hi: s[hi],
                              "R-hat": s["r_hat"], "ESS bulk": s["ess_bulk"]})
        header.append(("Method", f"NUTS {C}x{self.idata.posterior.sizes['draw']}"))
        div = int(self.idata.sample_stats["diverging"].sum())
        notes = [f"Divergences: {div}; max R-hat: {s['r_hat'].max():.3f}."]
        flagged = np.flatnonzero(self.label_switching().to_numpy())
        if flagged.size:
            which = (f"Chain {flagged[0]} disagrees" if flagged.size == 1 else
                     f"Chains {', '.join(map(str, flagged))} disagree")
            notes.append(
                f"{which} with the others on the "
                "component intercepts (label_switching()): the posterior has modes beyond "
                "label switching, e.g. a component that left the data; consider fewer "
                "components (compare K by LOO), alpha > 1 (4 keeps components from "
                "emptying) or longer chains.")
        rule = StopRule()
        high = list(s.index[s["r_hat"] > rule.max_rhat])
        low = list(s.index[s["ess_bulk"] < rule.min_ess_per_chain * C])
        if high or low:
            problems = [f"R-hat above {rule.max_rhat} for {', '.join(high)}"] if high else []
            if low:
                problems.append(f"bulk ESS below {rule.min_ess_per_chain * C:.0f} for "
                                f"{', '.join(low)}")
            notes.append(
                f"Not converged: {'; '.join(problems)}. Do not report these estimates yet: "
                "refit with fit(max_draws=...) to let the chains run until they agree, or "
                "with fewer components (compare K by LOO) or alpha=4 when a component has "
                "emptied.")
        return Summary("Gaussian Mixture Regression Results", header, table, notes)

    def posterior_predictive(self, random_seed: int | None = None) -> az.InferenceData:
        """Return a new InferenceData: ``idata`` plus replicated responses.

        Each replicate draws a component by weight, then its normal (PyMC's
        ``sample_posterior_predictive`` of the ``NormalMixture``); ``idata`` itself is
        unchanged.
        """
        if self.idata is None:
            raise SpecificationError("method: posterior predictive draws need a NUTS fit.")
        with mixture_likelihood(self.design, self.k), _no_blas_notice():
            pp = pm.sample_posterior_predictive(
                az.InferenceData(posterior=self.idata.posterior), random_seed=random_seed,
                progressbar=False, return_inferencedata=True)
        return with_groups(self.idata, posterior_predictive=pp.posterior_predictive)

    def loo(self, **kwargs: Any) -> az.ELPDData:
        """PSIS-LOO of the NUTS fit (for choosing K with :func:`arviz.compare`)."""
        if self.idata is None:
            raise SpecificationError("method: LOO needs a NUTS fit.")
        return az.loo(self.idata, **kwargs)
