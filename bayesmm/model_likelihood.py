"""statsmodels' model methods: loglike, score, hessian, predict and fit_regularized.

Mixed into :class:`~bayesmm.api.MixedLM`, which provides the design, the statistics and
``fit``. Parameters are in a point fit's :attr:`~MixedLMPointResults.params` layout.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from .design import Design
from .deviance import (
    Method,
    profile,
    profiled_loglike,
    random_effect_means,
    residual_df,
)
from .errors import SpecificationError
from .infer.information import params_hessian, params_score
from .infer.l1 import l1_coordinate_descent
from .infer.numdiff import richardson_jacobian
from .params import cov_params, theta_from_params
from .results import MixedLMPointResults
from .statsmodels_fit import check_fit_options
from .suffstats import SuffStats

if TYPE_CHECKING:
    from .statsmodels_fit import FreePattern

__all__ = ["LikelihoodMethods"]


class LikelihoodMethods:
    """statsmodels' ``MixedLM`` likelihood methods on the sufficient statistics."""

    design: Design
    stats: SuffStats

    def _packed(self, params: pd.Series | np.ndarray, what: str, arg: str = "params"
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Split ``params`` (a point fit's layout) into β, the covariance values and their θ.

        Raises
        ------
        SpecificationError
            For a non-Gaussian model or a vector of the wrong length.
        numpy.linalg.LinAlgError
            When a covariance block is not positive semidefinite.
        """
        if self.design.family.name != "gaussian":
            raise SpecificationError(
                f"{what}: the profiled log-likelihood is defined for Gaussian models; this "
                f"model's family is {self.design.family.name!r}. Use fit(method='ml').llf.")
        values = np.asarray(params, dtype=float).ravel()
        k_fe = len(self.design.xnames)
        expected = k_fe + len(cov_params(self.design))
        if values.shape != (expected,):
            raise SpecificationError(
                f"{arg}: expected {expected} values ({k_fe} fixed effects, then the "
                f"covariance parameters over the scale, as fit().params); received "
                f"{values.size}.")
        return values[:k_fe], values[k_fe:], theta_from_params(self.design, values[k_fe:])

    def _start_theta(self, start_params: pd.Series | np.ndarray) -> np.ndarray:
        """θ of ``start_params`` (a point fit's ``params`` layout)."""
        if self.design.family.name != "gaussian":
            raise SpecificationError(
                f"start_params: starts are taken by Gaussian REML/ML/MAP fits; this model's "
                f"family is {self.design.family.name!r}. Drop start_params.")
        try:
            return self._packed(start_params, "start_params", "start_params")[2]
        except np.linalg.LinAlgError as err:
            raise SpecificationError(
                "start_params: a covariance block is not positive semidefinite; start from "
                "a valid covariance, e.g. a previous fit's params.") from err

    def loglike(self, params: pd.Series | np.ndarray, reml: bool = True) -> float:
        """Return statsmodels' ``loglike(params, profile_fe=False)``: REML or ML, σ² out.

        Parameters
        ----------
        params : Series or array_like
            A point fit's :attr:`~MixedLMPointResults.params` layout: the fixed effects,
            then the covariance parameters over σ² (``Group Var``, ``Group x Time Cov``,
            …, variance components), as statsmodels stores them.
        reml : bool
            REML (statsmodels' default) or ML.

        Returns
        -------
        float
            ``-inf`` where a covariance block is not positive semidefinite.
        """
        try:
            beta, _, theta = self._packed(params, "loglike")
        except np.linalg.LinAlgError:
            return -np.inf
        return profiled_loglike(beta, theta, self.stats, "reml" if reml else "ml")

    def score(self, params: pd.Series | np.ndarray, reml: bool = True) -> np.ndarray:
        """Gradient of :meth:`loglike` in ``params``' own layout (fixed effects first).

        statsmodels' ``score(params, profile_fe=False)`` with ``use_sqrt = False``: every
        parameter as :meth:`loglike` takes it. Exact in β and θ (the profiled criterion's
        gradient, taken at the given β); θ's dependence on the covariance values (a
        Cholesky factor) by Richardson-extrapolated central differences, to ~1e-10.

        Returns
        -------
        ndarray
            ``nan`` where a covariance block is not positive definite.
        """
        method: Method = "reml" if reml else "ml"
        try:
            beta, cov, _ = self._packed(params, "score")
            return params_score(self.stats, self.design, beta, cov, method)
        except np.linalg.LinAlgError:
            return np.full(len(self.design.xnames) + len(cov_params(self.design)), np.nan)
        except NotImplementedError:  # several large vector terms: differences of loglike
            x = np.asarray(params, dtype=float).ravel()
            step = 1e-2 * np.maximum(np.abs(x), 0.1)
            return richardson_jacobian(lambda v: np.array(self.loglike(v, reml)), x, step)

    def hessian(self, params: pd.Series | np.ndarray, reml: bool = True
                ) -> tuple[np.ndarray, bool]:
        """Hessian of :meth:`loglike` in ``params``' layout, and whether Ψ is singular.

        statsmodels' ``hessian(params)`` (which returns the same pair): central differences
        of the exact :meth:`score`, Richardson-extrapolated and symmetrised.

        Returns
        -------
        hessian : ndarray, shape (k, k)
        singular : bool
            Whether a covariance block has a zero eigenvalue (there the derivatives are
            one-sided limits and statsmodels uses a pseudo-inverse).
        """
        x = np.asarray(params, dtype=float).ravel()
        _, _, theta = self._packed(x, "hessian")
        singular = bool(np.any(theta[self.stats.tmap.on_diagonal] < 1e-8))
        return params_hessian(lambda v: self.score(v, reml), x), singular

    def predict(self, params: pd.Series | np.ndarray, exog: np.ndarray | None = None
                ) -> np.ndarray:
        """Return statsmodels' ``predict(params, exog)``: the fixed-effects mean ``Xβ``.

        ``params`` holds the fixed effects first (a point fit's :attr:`params`, or β
        alone); ``exog`` defaults to the model's rows. The random effects are not included
        (a results object's ``predict`` adds them).
        """
        X = self.design.X if exog is None else np.asarray(exog, dtype=float)
        X = X[:, None] if X.ndim == 1 else X
        k_fe = len(self.design.xnames)
        values = np.asarray(params, dtype=float).ravel()
        if values.size < k_fe or X.shape[1] != k_fe:
            raise SpecificationError(
                f"params/exog: expected at least {k_fe} parameters (the fixed effects first) "
                f"and exog with {k_fe} columns; received {values.size} and shape {X.shape}.")
        return X @ values[:k_fe]  # (n,)

    def fit_regularized(self, start_params: pd.Series | np.ndarray | None = None,
                        method: str = "l1", alpha: float | np.ndarray = 0.0,
                        ceps: float = 1e-4, ptol: float = 1e-6, maxit: int = 200,
                        reml: bool = True, free: FreePattern | None = None,
                        **statsmodels_options: object) -> MixedLMPointResults:
        """Fit with L1-penalised fixed effects: statsmodels' ``fit_regularized`` (Gaussian).

        The covariance parameters are the unpenalised REML (or ML) fit's; the fixed effects
        minimise ``(y − Xβ)ᵀV⁻¹(y − Xβ) + Σ_j alpha_j |β_j|`` by statsmodels' coordinate
        descent (:mod:`bayesmm.infer.l1`). σ² is re-estimated at the penalised β, and
        ``cov_params()`` is −H⁻¹ over the nonzero coefficients and the covariance
        parameters (NaN for coefficients at zero), as statsmodels'.

        Parameters
        ----------
        start_params, reml, free
            Passed to the unpenalised :meth:`fit`.
        method : {"l1"}
        alpha : float or array_like
            Penalty weight, or one per fixed effect (non-negative).
        ceps, ptol, maxit
            Coefficients below ``ceps`` are zero; the sweeps stop when none moves more
            than ``ptol``, or after ``maxit``.

        Returns
        -------
        MixedLMPointResults
        """
        check_fit_options(statsmodels_options)
        if method != "l1":
            raise SpecificationError(
                f"method: fit_regularized takes 'l1' (statsmodels' smooth Penalty objects "
                f"are not supported); received {method!r}.")
        k_fe = len(self.design.xnames)
        weights = np.asarray(alpha, dtype=float)
        if weights.ndim > 1 or weights.size not in (1, k_fe) or not np.all(weights >= 0):
            raise SpecificationError(
                f"alpha: expected a non-negative number or {k_fe} of them (one per fixed "
                f"effect); received {np.round(weights, 6).tolist()}.")
        weights = np.broadcast_to(weights, (k_fe,))
        base = self.fit(reml=reml, start_params=start_params, free=free)  # type: ignore[attr-defined]
        assert isinstance(base, MixedLMPointResults)
        point, stats = base.fit, base.stats
        method_: Method = "reml" if reml else "ml"
        prof = profile(point.theta, stats)
        beta = l1_coordinate_descent(prof.A / point.scale, prof.beta, weights, ceps, ptol,
                                     maxit)  # (p,)
        d = beta - prof.beta  # (p,)
        scale = (prof.r2 + float(d @ prof.A @ d)) / residual_df(stats, method_)
        params = np.concatenate([beta, base.params.to_numpy()[k_fe:]])
        model = self if free is None else _Held(base.design, stats)
        hess, _ = model.hessian(params, reml)
        keep = np.abs(params) > ceps
        keep[k_fe:] = True
        pcov = np.full(hess.shape, np.nan)  # (k, k)
        pcov[np.ix_(keep, keep)] = np.linalg.inv(-hess[np.ix_(keep, keep)])
        fit = replace(point, beta=beta, scale=scale, cov_beta=pcov[:k_fe, :k_fe],
                      llf=model.loglike(params, reml), cov_params=pcov,
                      blups=random_effect_means(replace(prof, beta=beta), stats))
        return MixedLMPointResults(base.spec, base.design, stats, fit)


class _Held(LikelihoodMethods):
    """The likelihood methods of a design with ``free``'s covariance blocks."""

    def __init__(self, design: Design, stats: SuffStats) -> None:
        self.design, self.stats = design, stats
