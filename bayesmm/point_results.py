"""Point-estimate results (REML, ML, MAP; Laplace ML/MAP) with statsmodels' results API."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd
from scipy import stats as sps

from .errors import SpecificationError, check_alpha
from .fitted import FittedModel, base_header, effects_frames, report_title
from .infer.bootstrap import bootstrap_replicates
from .infer.effects import conditional_cov, linear_predictor
from .infer.information import cov_param_se, statsmodels_cov_params
from .infer.likelihood_profile import profile_intervals, profile_variance
from .infer.optimize import PointFit
from .newdata import NewDesign, fitted_design, new_design, require_known_levels, require_rows
from .params import cov_params, cov_values, psis_from_theta, re_names, variance_param
from .point_tests import PointTests
from .report import Summary

__all__ = ["MixedLMPointResults"]


@dataclass(frozen=True, eq=False)
class MixedLMPointResults(PointTests, FittedModel):
    """REML, ML or penalised-MAP fit.

    Attributes
    ----------
    fit : PointFit
        The optimiser's output.
    """

    fit: PointFit

    @cached_property
    def psis(self) -> list[np.ndarray]:
        """Ψ of every factor, (q_f, q_f)."""
        return psis_from_theta(self.design, self.fit.theta, self.fit.scale)

    @cached_property
    def bse_cov(self) -> pd.Series:
        """Standard errors of the reported covariance parameters and the scale.

        From the inverse observed information of the (unprofiled) criterion in the
        variance parameterisation; NaN at a singular fit.
        """
        cps = cov_params(self.design)
        names = [p.name for p in cps]
        if self.family.name != "gaussian":  # glmer reports none either
            extra = [a.label for a in self.family.aux]
            return pd.Series(np.nan, index=names + extra)
        phi = np.array([self.psis[p.factor][p.row, p.col] for p in cps])
        se = cov_param_se(self.stats, self.design, phi, self.fit.scale, self.fit.method)
        return pd.Series(se, index=names + ["Scale"])

    @property
    def method(self) -> str:
        """``"REML"``, ``"ML"`` or ``"MAP"`` (``"Laplace ML"`` for other families)."""
        name = self.fit.method.upper()
        return name if self.family.name == "gaussian" else f"Laplace {name}"

    @property
    def fe_params(self) -> pd.Series:
        """Fixed-effect estimates."""
        return pd.Series(self.fit.beta, index=list(self.design.xnames))

    @property
    def bse_fe(self) -> pd.Series:
        """Standard errors of the fixed effects: lme4's ``vcov``, σ²(XᵀV⁻¹X)⁻¹.

        statsmodels' ``bse_fe`` is :attr:`bse`'s first ``k_fe`` (the joint inverse Hessian
        of :meth:`cov_params`). The two agree where the observed β–covariance cross terms
        vanish (a balanced random intercept: to 1e-5 on dietox) and differ by ~0.1 % on
        random slopes; this one stays finite at a singular fit and costs no Hessian of
        the covariance parameters (72 of them on a maximal crossed model).
        """
        return pd.Series(np.sqrt(np.diag(self.fit.cov_beta)), index=list(self.design.xnames))

    @property
    def cov_re(self) -> pd.DataFrame:
        """Random-effects covariance of the (first) grouping factor."""
        return self._cov_re_frame(self.psis[0])

    @property
    def vcomp(self) -> np.ndarray:
        """Variance components (statsmodels' ``vcomp``), nested ones included, in order."""
        return np.array([psi[b.cols[0], b.cols[0]]
                         for f, psi in zip(self.design.factors, self.psis, strict=True)
                         for b in f.blocks if b.kind == "vc"])

    @property
    def cov_re_unscaled(self) -> pd.DataFrame:
        """:attr:`cov_re` over the scale σ² (statsmodels' ``cov_re_unscaled``)."""
        return self.cov_re / self.scale

    @property
    def random_effects_cov(self) -> dict:
        """Covariance of each group's random effects given the data (statsmodels').

        A dict level → DataFrame, ``σ² Λ M_g⁻¹ Λᵀ`` (:func:`bayesmm.infer.effects.
        conditional_cov`); Gaussian models with one grouping factor.
        """
        if self.family.name != "gaussian" or len(self.design.factors) != 1:
            raise SpecificationError(
                "random_effects_cov: statsmodels' per-group covariance is defined for a "
                "Gaussian model with one grouping factor; this model has family="
                f"{self.family.name!r} and {len(self.design.factors)} factor(s). Use "
                "random_effects for the conditional modes.")
        f = self.design.factors[0]
        names = re_names(f, False)
        cov = conditional_cov(self.stats, self.fit.theta, self.scale)  # (G, q, q)
        return {lv: pd.DataFrame(c, index=names, columns=names)
                for lv, c in zip(f.levels, cov, strict=True)}

    @property
    def scale(self) -> float:
        """Residual variance σ² (1 for a family without one)."""
        if "sigma" in self.fit.aux:
            return self.fit.aux["sigma"] ** 2
        return self.fit.scale

    @property
    def llf(self) -> float:
        """Log-likelihood (REML criterion for REML/MAP, ML for ML)."""
        return self.fit.llf

    @property
    def converged(self) -> bool:
        """Whether the optimum passed the gradient (KKT) check."""
        return self.fit.converged

    @property
    def hist(self) -> pd.DataFrame | None:
        """Every evaluation of the criterion (``fit(full_output=True)``), else None.

        One row per evaluation, in order: θ (lme4's relative Cholesky factor, one column per
        element) and ``criterion`` (−2ℓ, or MAP's penalised criterion).
        """
        if self.fit.history is None:
            return None
        return pd.DataFrame(self.fit.history, columns=[*self.stats.tmap.names, "criterion"])

    @property
    def singular(self) -> bool:
        """lme4's singular-fit rule: a diagonal of Λ below 1e-4."""
        return self.fit.singular

    @property
    def zero_variances(self) -> list[str]:
        """Names of the ``Var`` rows estimated at zero (below 1e-8 σ²), in summary order.

        The estimates alone: :meth:`cov_table`'s standard errors (a Hessian) are not needed.
        """
        cutoff = 1e-8 * max(self.scale, 1e-300)
        return [p.name for p in cov_params(self.design) if p.row == p.col
                and self.psis[p.factor][p.row, p.col] < cutoff]

    @property
    def df_modelwc(self) -> int:
        """Number of parameters: fixed effects, covariance parameters and the scale."""
        return len(self.design.xnames) + self.fit.theta.size + len(self.family.aux)

    @property
    def aic(self) -> float:
        """Akaike information criterion (ML fits only, NaN otherwise, as statsmodels)."""
        return -2 * self.llf + 2 * self.df_modelwc if self.fit.method == "ml" else np.nan

    @property
    def bic(self) -> float:
        """Bayesian information criterion (ML fits only)."""
        if self.fit.method != "ml":
            return np.nan
        return -2 * self.llf + np.log(self.nobs) * self.df_modelwc

    # statsmodels' results API ---------------------------------------------------------
    @property
    def k_fe(self) -> int:
        """Number of fixed effects."""
        return len(self.design.xnames)

    @property
    def df_resid(self) -> int:
        """``nobs`` less the rank of the fixed-effects matrix (statsmodels)."""
        X = self.design.X if self.design.has_rows else self.stats.XtX
        return int(self.nobs - np.linalg.matrix_rank(X))

    def _unscaled_phi(self) -> np.ndarray:
        """Covariance parameters divided by σ² (statsmodels' ``cov_re_unscaled``)."""
        scale = self.fit.scale if self.family.name == "gaussian" else 1.0
        return np.array([self.psis[c.factor][c.row, c.col] / scale
                         for c in cov_params(self.design)])

    @cached_property
    def params(self) -> pd.Series:
        """Fixed effects, then the covariance parameters over σ² (statsmodels' ``params``).

        Rows are named as in the summary (``Group Var``, ``Group x Time Cov``, …); the
        covariance rows are ``cov_re / scale`` as statsmodels stores them.
        """
        names = list(self.design.xnames) + [c.name for c in cov_params(self.design)]
        return pd.Series(np.concatenate([self.fit.beta, self._unscaled_phi()]), index=names)

    def cov_params(self) -> pd.DataFrame:
        """Covariance of :attr:`params`: −H⁻¹ of the σ²-profiled log-likelihood.

        As statsmodels' MixedLM (β and the unscaled covariance parameters jointly, so the
        fixed effects' block differs slightly from ``σ² (XᵀV⁻¹X)⁻¹``). For other families
        only the fixed effects' block (glmer's ``vcov``); NaN elsewhere.
        """
        names = self.params.index
        p = self.k_fe
        if self.fit.cov_params is not None:  # fixed by the fit (fit_regularized)
            cov = self.fit.cov_params
        elif self.family.name == "gaussian":
            method = "ml" if self.fit.method == "ml" else "reml"
            cov = statsmodels_cov_params(self.stats, self.design, self.fit.beta,
                                         self._unscaled_phi(), method)  # type: ignore[arg-type]
        else:
            cov = np.full((names.size, names.size), np.nan)
            cov[:p, :p] = self.fit.cov_beta
        return pd.DataFrame(cov, index=names, columns=names)

    @property
    def bse(self) -> pd.Series:
        """Standard errors of :attr:`params`."""
        return pd.Series(np.sqrt(np.diag(self.cov_params())), index=self.params.index)

    @property
    def bse_re(self) -> np.ndarray:
        """Statsmodels' ``bse_re``: ``sqrt(scale · diag(cov_params))`` of the covariance rows."""
        return np.sqrt(self.scale * np.diag(self.cov_params())[self.k_fe:])

    @property
    def tvalues(self) -> pd.Series:
        """``params / bse`` (z statistics, as statsmodels' MixedLM)."""
        return self.params / self.bse

    @property
    def pvalues(self) -> pd.Series:
        """Two-sided normal p-values of :attr:`tvalues`."""
        return pd.Series(2 * sps.norm.sf(np.abs(self.tvalues)), index=self.params.index)

    def conf_int(self, alpha: float = 0.05, method: str = "wald", nsim: int = 500,
                 seed: int | None = None, progressbar: bool | None = None) -> pd.DataFrame:
        """Confidence intervals; columns 0 and 1, as statsmodels.

        Parameters
        ----------
        alpha : float
            The intervals cover ``1 − alpha``.
        method : {"wald", "profile", "boot"}
            ``"wald"``: ``params ± z bse`` on :attr:`params`' rows (statsmodels).
            ``"profile"``: lme4's profile-likelihood intervals (the ML deviance, whatever
            the fit's criterion) for the fixed effects, every ``SD``/``Corr`` row and the
            ``Residual SD``. ``"boot"``: percentile intervals of a parametric bootstrap
            (:meth:`bootstrap`) on the same rows.
        nsim, seed, progressbar
            The bootstrap's replicates, seed and progress bar (``"boot"`` only).

        Returns
        -------
        DataFrame
        """
        check_alpha(alpha)
        if method == "wald":
            z = sps.norm.ppf(1 - alpha / 2)
            return pd.DataFrame({0: self.params - z * self.bse, 1: self.params + z * self.bse})
        if method not in ("profile", "boot"):
            raise SpecificationError(
                f"method: expected 'wald', 'profile' or 'boot'; received {method!r}.")
        self._require_gaussian(f"method={method!r}")
        if method == "profile":
            names, _, limits = profile_intervals(self.stats, self.design, alpha)
            return pd.DataFrame(limits, index=names, columns=[0, 1])
        reps = self.bootstrap(nsim, seed, progressbar)
        return reps.quantile([alpha / 2, 1 - alpha / 2]).T.set_axis([0, 1], axis=1)

    def profile_re(self, re_ix: int | str, vtype: str, num_low: int = 5,
                   dist_low: float = 1.0, num_high: int = 5, dist_high: float = 1.0
                   ) -> np.ndarray:
        """Profile likelihood of one variance on statsmodels' grid: (variance, llf) rows.

        Parameters
        ----------
        re_ix : int or str
            ``vtype="re"``: the random-effect column of the (first) grouping factor, by
            position, or the variance's row name (``"Group Var"``, ``"Time Var"``).
            ``vtype="vc"``: the variance component's name (``"a"`` or ``"a Var"``).
        vtype : {"re", "vc"}
        num_low, dist_low, num_high, dist_high
            Points below and above the estimate, from ``variance − dist_low`` to
            ``variance + dist_high`` (statsmodels' grid, evenly spaced in ``Ψ_jj / σ²``).

        Returns
        -------
        ndarray, shape (num_low + num_high + 1, 2)
            The variance and the REML or ML log-likelihood (the fit's), every other
            parameter re-optimised.
        """
        self._require_gaussian("profile_re")
        param = variance_param(self.design, re_ix, vtype)
        scale = self.fit.scale
        var = float(self.psis[param.factor][param.row, param.row])
        low, high = (var - dist_low) / scale, (var + dist_high) / scale
        if low <= 0:
            raise SpecificationError(
                f"dist_low: expected less than the variance {var:.6g} (a variance below 0 "
                f"cannot be profiled); received {dist_low}. Use a smaller dist_low.")
        ratios = np.concatenate([np.linspace(low, var / scale, num_low + 1),
                                 np.linspace(var / scale, high, num_high + 1)[1:]])
        method = "ml" if self.fit.method == "ml" else "reml"
        return profile_variance(self.stats, self.design, self.fit.theta, method, param,
                                ratios)

    def bootstrap(self, nsim: int = 500, seed: int | None = None,
                  progressbar: bool | None = None) -> pd.DataFrame:
        """Parametric bootstrap replicates (lme4's ``bootMer``).

        Simulates ``nsim`` responses from the fit and refits each by the fit's criterion
        on its sufficient statistics.

        Parameters
        ----------
        nsim : int
        seed : int, optional
        progressbar : bool, optional
            Default: shown when a person is watching.

        Returns
        -------
        DataFrame, shape (nsim, k)
            Fixed effects, ``SD``/``Corr`` rows and ``Residual SD`` of every replicate.
        """
        self._require_gaussian("bootstrap")
        names, reps = bootstrap_replicates(self.design, self.fit, nsim, seed, progressbar)
        return pd.DataFrame(reps, columns=names)

    def _require_gaussian(self, what: str) -> None:
        if self.family.name != "gaussian":
            raise SpecificationError(
                f"{what}: implemented for Gaussian models; received family="
                f"{self.design.family.name!r}. Use method='wald' or the posterior.")

    @cached_property
    def fittedvalues(self) -> np.ndarray:
        """``Xβ̂ + Zb̂`` on the fitted rows (conditional modes included, as statsmodels)."""
        require_rows(self.design, "fitted values")
        return self._predict(fitted_design(self.design), True, "mean")

    def predict(self, new_data: pd.DataFrame | None = None, random_effects: bool = False,
                kind: str = "mean", new_groups: str = "zero") -> np.ndarray | pd.Series:
        """Predictions at the estimates.

        Parameters
        ----------
        new_data : DataFrame, optional
            Rows to predict; the fitted rows when omitted.
        random_effects : bool
            False: ``Xβ̂`` only, as statsmodels' ``predict`` and lme4's ``re.form = NA``.
            True: with each row's conditional mode, as lme4's default (and
            :attr:`fittedvalues` on the fitted rows).
        kind : {"mean", "link"}
            The response scale (inverse link) or the linear predictor.
        new_groups : {"zero", "error"}
            With ``random_effects``: a level not in the fitted data gets effect 0 (lme4's
            ``allow.new.levels = TRUE``) or raises an error naming it.

        Returns
        -------
        ndarray (fitted rows) or Series indexed as ``new_data``
        """
        if kind not in ("mean", "link"):
            raise SpecificationError(f"kind: expected 'mean' or 'link'; received {kind!r}.")
        if new_groups not in ("zero", "error"):
            raise SpecificationError(
                f"new_groups: expected 'zero' or 'error'; received {new_groups!r} (a point "
                "fit has no draws to sample new groups from; the posterior's predict does).")
        if new_data is None:
            require_rows(self.design, "in-sample predictions")
            return self._predict(fitted_design(self.design), random_effects, kind)
        new = new_design(self.design, new_data)
        if random_effects and new_groups == "error":
            require_known_levels(self.design, new)
        return pd.Series(self._predict(new, random_effects, kind), index=new_data.index)

    def _predict(self, new: NewDesign, random_effects: bool, kind: str) -> np.ndarray:
        """Evaluate the linear predictor (n,) at β̂ (and b̂) on the scale ``kind`` asks for."""
        terms = []
        if random_effects:
            for Z, codes, unseen, b in zip(new.Z, new.codes, new.new_levels,
                                           self._effect_arrays(), strict=True):
                b = np.concatenate([b, np.zeros((len(unseen), b.shape[1]))])  # (G + U, q)
                terms.append((Z, codes, b[None, None]))
        eta = linear_predictor(self.fit.beta[None, None], new.X, new.offset, terms)[0, 0]
        return self.family.inverse_link(eta) if kind == "mean" else eta

    @property
    def resid(self) -> np.ndarray:
        """``y − fittedvalues``."""
        return self.design.y - self.fittedvalues

    def _effect_arrays(self) -> list[np.ndarray]:
        """Conditional modes of every factor, (G_f, q_f) each."""
        blups = self.fit.blups
        if len(self.design.factors) == 1:
            return [np.asarray(blups)]
        flat, parts = blups[0], []
        for f in self.design.factors:
            n = f.n_levels * f.q
            parts.append(flat[:n].reshape(f.n_levels, f.q))
            flat = flat[n:]
        return parts

    @cached_property
    def random_effects(self) -> dict:
        """Conditional modes (BLUPs); zero at a singular fit."""
        return effects_frames(self.design, self._effect_arrays())

    def cov_table(self, cov_scale: str = "var") -> pd.DataFrame:
        """Covariance rows and the residual with standard errors (delta method for SDs)."""
        scale = self.scale if self.family.has_scale else None
        values = cov_values(self.design, self.psis, scale, cov_scale)
        values.update({a.label: np.asarray(self.fit.aux[a.name]) for a in self.family.aux
                       if a.name != "sigma"})
        se = self.bse_cov.to_numpy()
        if cov_scale == "sd":
            v = np.array([float(x) for x in values.values()])
            is_sd = np.array([not k.endswith(" Corr") and k in self._sd_rows(values)
                              for k in values])
            with np.errstate(invalid="ignore", divide="ignore"):
                se = np.where(is_sd, se / (2 * v), np.nan)
        coef = np.array([float(v) for v in values.values()])
        return pd.DataFrame({"Coef.": coef, "Std.Err.": se}, index=list(values))

    def summary(self, cov_scale: str = "var", ddf: str | None = None, *,
                yname: str | None = None, xname_fe: list[str] | None = None,
                xname_re: list[str] | None = None, title: str | None = None,
                alpha: float = 0.05) -> Summary:
        """Statsmodels' MixedLM table: Coef., Std.Err., z, P>|z| and the interval.

        Parameters
        ----------
        cov_scale : {"var", "sd"}
            Report variances/covariances (statsmodels) or SDs/correlations (lme4).
        ddf : {None, "satterthwaite", "kenward-roger"}
            None: z-tests (statsmodels). Otherwise t-tests with that df (lmerTest): the
            columns become ``Coef.``, ``Std.Err.``, ``df``, ``t``, ``P>|t|`` and the interval.
        yname, xname_fe, xname_re, title, alpha
            statsmodels' ``summary`` arguments: the response's name in the header, names
            for the fixed-effect rows and for the covariance rows (lists of their lengths),
            the title, and the interval's level ``1 − alpha`` (columns ``[alpha/2`` and
            ``1-alpha/2]``).
        """
        check_alpha(alpha)
        fe, se = self.fe_params, self.bse_fe
        if ddf is None:
            z, half = fe / se, sps.norm.ppf(1 - alpha / 2) * se
            table = pd.DataFrame({
                "Coef.": fe, "Std.Err.": se, "z": z, "P>|z|": 2 * sps.norm.sf(np.abs(z)),
                f"[{alpha / 2}": fe - half, f"{1 - alpha / 2}]": fe + half,
            })
        else:
            table = self.t_test(np.eye(self.k_fe), ddf, alpha)
            table.index = list(self.design.xnames)
        cov_rows = self.cov_table(cov_scale)
        if self.family.has_scale:
            cov_rows = cov_rows.drop(index=cov_rows.index[len(cov_params(self.design))])
        table = pd.concat([table, cov_rows]).astype(float)
        names = list(table.index)
        for arg, given, part in (("xname_fe", xname_fe, slice(0, self.k_fe)),
                                 ("xname_re", xname_re, slice(self.k_fe, len(names)))):
            if given is not None:
                if len(given) != len(names[part]):
                    raise SpecificationError(
                        f"{arg}: expected a list of {len(names[part])} names (for "
                        f"{names[part]}); received {len(given)}.")
                names[part] = [str(n) for n in given]
        table.index = names
        notes = []
        if self.singular:
            notes.append("Singular fit: a random-effect variance is estimated at zero "
                         "(boundary). Consider method='map' or the posterior.")
        if not self.converged:
            notes.append("Not converged: the optimum failed the gradient check or lies at "
                         "infinity (an SD over 1000 times the residual SD; e.g. MAP with two "
                         "groups).")
        header = base_header(self.design, self.method, self.scale, f"{self.llf:.4f}",
                              "Yes" if self.converged else "No")
        if yname is not None:
            header = [(k, str(yname) if k == "Dependent Variable" else v) for k, v in header]
        return Summary(report_title(self.family) if title is None else str(title), header,
                       table, notes)

    def _sd_rows(self, values: dict) -> list[str]:
        """Rows of ``values`` that are SDs (covariance rows and the residual, not ν or α)."""
        aux = {a.label for a in self.family.aux if a.name != "sigma"}
        return [k for k in values if k not in aux]
