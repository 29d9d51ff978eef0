"""Posterior results (NUTS) with statsmodels' attribute names."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import cached_property

import arviz as az
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import xarray as xr

from . import interpret, plots
from .covariance import theta_from_cov, theta_map
from .deviance import ml_loglike
from .diagnostics import RHAT_MAX, Diagnostics, diagnose, numpy_kernels
from .errors import SpecificationError, check_alpha
from .fitted import FittedModel, base_header, effects_frames, report_title
from .hypothesis import hypothesis_table
from .infer.effects import factor_chol, group_loglik
from .infer.nuts import add_log_likelihood, with_groups
from .infer.point import point_fit, point_methods
from .newdata import fitted_design, new_design
from .params import cov_values
from .point_results import MixedLMPointResults
from .predict import predict_draws
from .report import Summary
from .spec import Recipe

__all__ = ["MixedLMPointResults", "MixedLMResults"]

@dataclass(frozen=True, eq=False)
class MixedLMResults(FittedModel):
    """Posterior from NUTS.

    Attributes
    ----------
    idata : arviz.InferenceData
    build : str
        ``"marginal"`` (one Gaussian factor integrated out), ``"collapsed"`` (several: the
        largest integrated out) or ``"latent"``.
    reml : MixedLMPointResults or None
        REML fit of the same model (shown beside the posterior).
    recipe : Recipe or None
        The constructor's inputs, for :meth:`save`.
    """

    idata: az.InferenceData
    build: str
    reml: MixedLMPointResults | None = None
    recipe: Recipe | None = None

    @property
    def posterior(self) -> xr.Dataset:
        """The posterior group of :attr:`idata`."""
        return self.idata.posterior

    @cached_property
    def psi_draws(self) -> list[np.ndarray]:
        """Ψ draws of every factor, (chain, draw, q, q)."""
        post = self.posterior
        C, D = post.sizes["chain"], post.sizes["draw"]
        out = []
        for f in self.design.factors:
            L = factor_chol(f, post)  # (S, q, q)
            out.append((L @ np.swapaxes(L, 1, 2)).reshape(C, D, f.q, f.q))
        return out

    @property
    def fe_params(self) -> pd.Series:
        """Posterior means of the fixed effects."""
        return self.posterior["beta"].mean(("chain", "draw")).to_series().rename(None)

    @property
    def bse_fe(self) -> pd.Series:
        """Posterior SDs of the fixed effects."""
        return self.posterior["beta"].std(("chain", "draw")).to_series().rename(None)

    @property
    def cov_re(self) -> pd.DataFrame:
        """Posterior mean of the first factor's random-effects covariance."""
        return self._cov_re_frame(self.psi_draws[0].mean(axis=(0, 1)))

    @property
    def scale(self) -> float:
        """Posterior mean of the residual variance σ² (1 for a family without one)."""
        if "sigma" not in self.posterior:
            return 1.0
        return float((self.posterior["sigma"] ** 2).mean())

    @property
    def llf(self) -> float:
        """Marginal log-likelihood at the posterior means of β, every Ψ and σ² (Gaussian).

        statsmodels' ``llf`` at :attr:`params`: the ML log-likelihood with the random effects
        integrated out (:func:`bayesmm.deviance.ml_loglike`), not the REML criterion; the
        posterior mean of each Ψ is positive definite, so it always has a value. For the
        likelihood of each draw see :meth:`group_log_likelihood` and ``loo``.
        """
        if self.family.name != "gaussian":
            raise SpecificationError(
                f"llf: the marginal log-likelihood at the posterior means is computed for "
                f"Gaussian models; this model's family is {self.family.name!r}. Use "
                "res.loo() (the pointwise log-likelihood) or the Laplace fit's llf "
                "(res.point('ml').llf).")
        scale = self.scale
        theta = np.concatenate([
            theta_from_cov(psi.mean(axis=(0, 1)) / scale, theta_map(f))
            for f, psi in zip(self.design.factors, self.psi_draws, strict=True)])
        beta = self.fe_params[list(self.design.xnames)].to_numpy()
        return ml_loglike(beta, theta, scale, self.stats)

    @property
    def random_effects(self) -> dict:
        """Posterior means of the random effects (statsmodels' layout)."""
        post = self.posterior
        means = [post[f.label].mean(("chain", "draw")).values for f in self.design.factors]
        return effects_frames(self.design, means)

    def draws_table(self, cov_scale: str = "var") -> xr.Dataset:
        """Draws of every reported row: fixed effects, covariance parameters, residual.

        Parameters
        ----------
        cov_scale : {"var", "sd"}
            Variances/covariances (statsmodels) or SDs/correlations (lme4, brms).
        """
        post = self.posterior
        data = {name: post["beta"].sel(coef=name).drop_vars("coef") for name in self.design.xnames}
        dims = ("chain", "draw")
        scale = (post["sigma"] ** 2).values if self.family.has_scale else None
        rows = cov_values(self.design, self.psi_draws, scale, cov_scale)
        rows.update({a.label: post[a.name].values for a in self.family.aux if a.name != "sigma"})
        data.update({k: xr.DataArray(v, dims=dims) for k, v in rows.items()})
        return xr.Dataset(data, coords={"chain": post.chain, "draw": post.draw})

    @cached_property
    def params(self) -> pd.Series:
        """Posterior means of the summary's rows (fixed effects, covariances, scale).

        Unlike a point fit's ``params`` (statsmodels stores Ψ/σ² there), the covariance
        rows are on the summary's scale: variances and covariances themselves.
        """
        table = self.draws_table()
        return pd.Series({k: float(v.mean()) for k, v in table.data_vars.items()})

    @cached_property
    def bse(self) -> pd.Series:
        """Posterior SDs of the summary's rows (the counterpart of standard errors)."""
        table = self.draws_table()
        return pd.Series({k: float(v.std(ddof=1)) for k, v in table.data_vars.items()})

    def conf_int(self, alpha: float = 0.05) -> pd.DataFrame:
        """Highest-density intervals of probability ``1 − alpha``; columns 0 and 1.

        The posterior's counterpart of statsmodels' ``conf_int`` (ArviZ's HDI of each
        summary row).
        """
        check_alpha(alpha)
        hdi = az.hdi(self.draws_table(), hdi_prob=1 - alpha)
        rows = {k: hdi[k].values for k in hdi.data_vars}
        return pd.DataFrame(rows, index=[0, 1]).T

    def hypothesis(self, hypothesis: str | list[str], alpha: float = 0.05) -> pd.DataFrame:
        """Brms' ``hypothesis()``: posterior tests of (non-)linear hypotheses.

        Parameters
        ----------
        hypothesis : str or list of str
            ``"Days > 5"``, ``"Intercept + 5 * Days = 300"``, ``"Subject SD > Residual SD"``:
            names are the summary's rows on either scale (``Subject Var`` or ``Subject SD``).
        alpha : float
            ``1 − alpha`` intervals (one-sided for ``<`` and ``>``, as brms).

        Returns
        -------
        DataFrame
            ``Hypothesis``, ``Estimate``, ``Est.Error``, ``CI.Lower``, ``CI.Upper``,
            ``Evid.Ratio``, ``Post.Prob`` and ``Star`` (see :mod:`bayesmm.hypothesis`).
        """
        rows = {}
        for scale in ("var", "sd"):
            table = self.draws_table(scale)
            rows.update({k: np.asarray(v).ravel() for k, v in table.data_vars.items()})
        return hypothesis_table(hypothesis, rows, alpha)

    def _data(self) -> pd.DataFrame:
        if self.recipe is None or not isinstance(self.recipe.data, pd.DataFrame):
            raise SpecificationError("the data: this result keeps no pandas DataFrame (a Dask "
                                     "fit); build predictions with predict(new_data).")
        return self.recipe.data

    def plot_predictions(self, covariate: str, by: str | None = None, kind: str = "mean",
                         hdi_prob: float = 0.94, ax: plt.Axes | None = None) -> plt.Axes:
        """Bambi's ``plot_predictions``: the prediction against ``covariate``.

        Other columns are held at their mean (numeric) or most frequent value; grouping
        factors not named in ``by`` at an unseen level (population level). ``by`` draws
        one line per level (a grouping factor: each group's own effects).
        """
        return interpret.plot_predictions(self, self._data(), covariate, by, kind, hdi_prob, ax)

    def plot_comparisons(self, contrast: str, conditional: str | None = None,
                         values: tuple | None = None, hdi_prob: float = 0.94,
                         ax: plt.Axes | None = None) -> plt.Axes:
        """Bambi's ``plot_comparisons``: the difference between two values of ``contrast``.

        ``values`` defaults to (mean, mean + 1) for a numeric column and its first two levels
        otherwise; ``conditional`` spreads the comparison over a second covariate.
        """
        return interpret.plot_comparisons(self, self._data(), contrast, conditional, values,
                                          hdi_prob, ax)

    def plot_slopes(self, wrt: str, conditional: str | None = None, hdi_prob: float = 0.94,
                    ax: plt.Axes | None = None) -> plt.Axes:
        """Bambi's ``plot_slopes``: ∂E[y]/∂``wrt`` over ``conditional`` (or ``wrt``)."""
        return interpret.plot_slopes(self, self._data(), wrt, conditional, hdi_prob, ax)

    def group_log_likelihood(self) -> xr.DataArray:
        """Marginal log-likelihood of each group's data per draw (random effects integrated out).

        Returns
        -------
        xarray.DataArray
            Dims ``(chain, draw, <label>_level)``.
        """
        if len(self.design.factors) != 1 or self.family.name != "gaussian":
            raise SpecificationError(
                "kind: leave-one-group-out needs a Gaussian model with one grouping factor; "
                f"this model has family={self.family.name!r} and {len(self.design.factors)} "
                "factor(s). Use kind='obs'."
            )
        f = self.design.factors[0]
        ll = group_loglik(self.design, self.stats, self.posterior)
        post = self.posterior
        dim = f"{f.label}_level"
        return xr.DataArray(ll, dims=("chain", "draw", dim),
                            coords={"chain": post.chain, "draw": post.draw,
                                    dim: [str(v) for v in f.levels]})

    def loo(self, kind: str = "obs", **kwargs: object) -> az.ELPDData:
        """PSIS-LOO: leave one observation out (``"obs"``) or one group out (``"group"``).

        Parameters
        ----------
        kind : {"obs", "group"}
            ``"obs"`` uses the pointwise log-likelihood conditional on the drawn effects;
            ``"group"`` the per-group marginal log-likelihood.
        **kwargs
            Passed to :func:`arviz.loo`.
        """
        if kind == "obs":
            return az.loo(self._idata_with_log_likelihood, **kwargs)
        if kind != "group":
            raise SpecificationError(f"kind: expected 'obs' or 'group'; received {kind!r}.")
        ll = self.group_log_likelihood()
        idata = az.InferenceData(posterior=self.posterior,
                                 log_likelihood=xr.Dataset({self.design.response: ll}))
        return az.loo(idata, **kwargs)

    def save(self, path: str | os.PathLike) -> None:
        """Write the result to netCDF (read it back with :func:`bayesmm.load`).

        The InferenceData groups are written with the data as ``constant_data`` and the
        constructor's arguments as JSON in the posterior's attributes.
        """
        if self.recipe is None:
            raise SpecificationError("path: this result has no recipe to save; fit it with "
                                     "bmm.mixedlm(...).fit() or MixedLM(...).fit().")
        groups = {g: getattr(self.idata, g) for g in self.idata.groups()}
        post = groups["posterior"].copy()
        post.attrs["bayesmm_recipe"] = json.dumps({
            "api": self.recipe.api, "kwargs": dict(self.recipe.kwargs), "build": self.build,
            "reml": self.reml is not None,
        })
        groups["posterior"] = post
        frame = pd.DataFrame(self.recipe.data).reset_index(drop=True)
        frame = frame.astype({c: object for c in frame.columns if frame[c].dtype.kind in "OSUT"
                              or str(frame[c].dtype) in ("str", "string", "category")})
        groups["constant_data"] = xr.Dataset.from_dataframe(frame)
        az.InferenceData(**groups).to_netcdf(str(path))

    def point(self, method: str | None = None) -> MixedLMPointResults:
        """REML, ML or penalised-MAP fit of the same model (the one shown is cached).

        Parameters
        ----------
        method : {"reml", "ml", "map"}, optional
            Default: REML, or the Laplace ML fit for non-Gaussian families.
        """
        method = method or point_methods(self.design)[0]
        if self.reml is not None and self.reml.fit.method == method:
            return self.reml
        return MixedLMPointResults(self.spec, self.design, self.stats,
                                   point_fit(self.design, self.stats, method))

    def compare_estimates(self, hdi_prob: float = 0.94, cov_scale: str = "var") -> pd.DataFrame:
        """One row per reported parameter: REML, ML, MAP, then the posterior's Mean, SD and HDI.

        The posterior columns are named as in :meth:`summary`.

        A point method whose fit did not converge (no interior optimum) gets NaN.
        """
        post = self.summary(hdi_prob=hdi_prob, comparison=False, cov_scale=cov_scale).table
        lo, hi = [c for c in post.columns if c.startswith("hdi_")]
        out = pd.DataFrame(index=post.index)
        for method in point_methods(self.design):
            point = self.point(method)
            values = pd.concat([point.fe_params, point.cov_table(cov_scale)["Coef."]])
            # a fit without an optimum (e.g. MAP with two groups) has no estimate to show
            out[method.upper()] = values.reindex(out.index) if point.converged else np.nan
        out["Mean"], out["SD"] = post["Mean"], post["SD"]  # the summary's posterior columns
        out[lo], out[hi] = post[lo], post[hi]
        return out.astype(float)

    def predict(
        self,
        new_data: pd.DataFrame | None = None,
        kind: str = "mean",
        new_groups: str = "sample",
        random_seed: int | None = None,
    ) -> xr.DataArray:
        """Posterior draws of predictions.

        Parameters
        ----------
        new_data : pandas.DataFrame, optional
            Rows to predict (the fitted rows when omitted).
        kind : {"mean", "response"}
            ``"mean"``: the inverse link of Xβ + Zb (+ offset); ``"response"``: draws of
            the response (residual noise added; successes for binomial models).
        new_groups : {"sample", "zero", "error"}
            Unseen groups get an independent N(0, Ψ) draw each (``"sample"``), zero, or an
            error naming them.
        random_seed : int, optional

        Returns
        -------
        xarray.DataArray
            Dims ``(chain, draw, obs)``.
        """
        post = self.posterior
        if new_data is None:
            new = fitted_design(self.design)
        else:
            new = new_design(self.design, new_data)
        chols = [factor_chol(f, post) for f in self.design.factors]
        rng = np.random.default_rng(random_seed)
        draws = predict_draws(self.design, post, chols, new, kind, new_groups, rng)  # type: ignore[arg-type]
        return xr.DataArray(draws, dims=("chain", "draw", "obs"),
                            coords={"chain": post.chain, "draw": post.draw},
                            name=self.design.response)

    @cached_property
    def _idata_with_log_likelihood(self) -> az.InferenceData:
        """:attr:`idata`, or a new InferenceData with the pointwise log-likelihood added.

        Computed once; :attr:`idata` itself never changes after ``fit``.
        """
        if "log_likelihood" in self.idata.groups():
            return self.idata
        return add_log_likelihood(with_groups(self.idata), self.design)

    def posterior_predictive(self, random_seed: int | None = None) -> az.InferenceData:
        """Return a new InferenceData: :attr:`idata`'s groups plus replicated responses.

        :attr:`idata` itself is left as it is (results never change after ``fit``).
        """
        rep = self.predict(kind="response", random_seed=random_seed)
        rep = rep.assign_coords(obs=np.arange(self.design.n_obs))
        return with_groups(self.idata, posterior_predictive=rep.to_dataset())

    def plot_trace(self, **kwargs: object) -> np.ndarray:
        """Trace plot of the parameters (returns the axes)."""
        return plots.plot_trace(self, **kwargs)

    def plot_forest(self, cov_scale: str = "var", **kwargs: object) -> np.ndarray:
        """Forest plot of the reported rows (returns the axes)."""
        return plots.plot_forest(self, cov_scale, **kwargs)

    def plot_ppc(self, **kwargs: object) -> object:
        """Posterior predictive check (returns the axes)."""
        return plots.plot_ppc(self, **kwargs)

    def plot_random_effects(self, factor: str | None = None, **kwargs: object) -> np.ndarray:
        """Caterpillar plot of a factor's random effects (returns the axes)."""
        return plots.plot_random_effects(self, factor, **kwargs)

    def plot_compare(self, hdi_prob: float = 0.94, cov_scale: str = "var") -> np.ndarray:
        """Posterior intervals with the REML, ML and MAP estimates marked (returns the axes)."""
        return plots.plot_compare(self.compare_estimates(hdi_prob, cov_scale))

    @cached_property
    def sampling(self) -> Diagnostics:
        """Divergences and per-parameter R-hat and bulk ESS of the reported rows."""
        return diagnose(self.draws_table(), self.idata)

    def diagnostics(self) -> dict[str, float]:
        """Divergences, max R-hat and min bulk ESS over the reported parameters."""
        d = self.sampling
        return {"divergences": d.divergences, "max_rhat": d.max_rhat,
                "min_ess_bulk": d.min_ess_bulk}

    def summary(self, hdi_prob: float = 0.94, comparison: bool = True, cov_scale: str = "var",
                ddf: str | None = None) -> Summary:
        """Posterior mean/SD/HDI, R-hat and bulk ESS beside the REML estimates.

        Parameters
        ----------
        hdi_prob : float
            Probability of the highest-density interval.
        comparison : bool
            Add the point fit's ``Coef.`` and ``Std.Err.`` columns (REML; Laplace ML for
            other families).
        cov_scale : {"var", "sd"}
            Variances/covariances (statsmodels) or SDs/correlations (lme4, brms).
        ddf : {None, "satterthwaite", "kenward-roger"}
            Add the REML fit's t-test df and p-value columns with these df (lmerTest); for
            Kenward-Roger its ``Std.Err.`` is the adjusted one.
        """
        with np.errstate(invalid="ignore", divide="ignore"), numpy_kernels():
            s = az.summary(self.draws_table(cov_scale), hdi_prob=hdi_prob, round_to="none")
        lo, hi = [c for c in s.columns if c.startswith("hdi_")]
        table = pd.DataFrame({
            "Mean": s["mean"], "SD": s["sd"], lo: s[lo], hi: s[hi],
            "R-hat": s["r_hat"], "ESS bulk": s["ess_bulk"].round().astype("Int64"),
        })
        if comparison and self.reml is not None:
            fe = self.reml.summary(ddf=ddf).table.iloc[: len(self.design.xnames)]
            point = pd.concat([fe, self.reml.cov_table(cov_scale)])
            label = self.reml.fit.method.upper()
            columns = ["Coef.", "Std.Err."] + ([] if ddf is None else ["df", "P>|t|"])
            for col in columns:
                table[f"{label} {col}"] = point[col].reindex(table.index)
        diag = self.diagnostics()
        problems = self.sampling.problems()
        post = self.posterior
        method = f"NUTS {post.sizes['chain']}x{post.sizes['draw']} ({self.build})"
        llf = f"{self.reml.llf:.4f} ({self.reml.method})" if self.reml is not None else ""
        ok = diag["max_rhat"] <= RHAT_MAX and diag["divergences"] == 0
        header = base_header(self.design, method, self.scale, llf, "Yes" if ok else "No")
        notes = [
            f"Divergences: {diag['divergences']}; max R-hat: {diag['max_rhat']:.3f}; "
            f"min ESS bulk: {diag['min_ess_bulk']:.0f}."
        ]
        if self.reml is not None and self.reml.singular:
            notes.append(f"{self.reml.method} fit is singular (a variance at zero); the "
                         "posterior is not.")
        notes.extend(f"Warning: {p}" for p in problems)
        return Summary(report_title(self.family), header, table, notes, digits=3)
