"""Tests of linear hypotheses on a point fit's fixed effects (statsmodels' and lmerTest's)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from .contrasts import parse_contrasts
from .design import Design
from .errors import check_alpha
from .infer.ddf import check_ddf, contrast_tests, joint_test, wald_test_table
from .infer.optimize import PointFit
from .suffstats import SuffStats

__all__ = ["PointTests"]


class PointTests:
    """``t_test``, ``f_test``, ``wald_test`` and ``fe_tests`` of a point fit.

    Mixed into :class:`~bayesmm.point_results.MixedLMPointResults`, which provides the
    design, the statistics and the fit.
    """

    design: Design
    stats: SuffStats
    fit: PointFit

    def t_test(self, hypothesis: str | np.ndarray, ddf: str = "satterthwaite",
               alpha: float = 0.05) -> pd.DataFrame:
        """t-tests of linear hypotheses on the fixed effects with small-sample df.

        Parameters
        ----------
        hypothesis : str or array_like
            ``"Days = 5"``, ``"Intercept + 5*Days = 300, Days = 0"`` (one test per
            equation, as statsmodels' ``t_test``), or a contrast matrix (r, p) tested
            against 0.
        ddf : {"satterthwaite", "kenward-roger"}
            lmerTest's Satterthwaite df, or Kenward and Roger's (pbkrtest's) df with
            their adjusted standard error (REML fits, one grouping factor).
        alpha : float
            The interval covers ``1 − alpha``.

        Returns
        -------
        DataFrame
            One row per equation: ``Coef.`` (``Lβ̂``), ``Std.Err.``, ``df``, ``t``,
            ``P>|t|`` and the interval.
        """
        name = check_ddf(ddf, self.design, self.fit.method)
        check_alpha(alpha)
        contrasts = parse_contrasts(hypothesis, list(self.design.xnames))
        return contrast_tests(self.stats, self.design, self.fit, contrasts, name, alpha)

    def f_test(self, hypothesis: str | np.ndarray, ddf: str = "satterthwaite") -> pd.DataFrame:
        """One F-test of several linear hypotheses on the fixed effects together.

        lmerTest's ``contest(model, L, joint = TRUE)``: e.g. ``"Cu[Cu035] = 0, Cu[Cu175] = 0"``
        tests a three-level factor (2 numerator df).

        Parameters
        ----------
        hypothesis : str or array_like
            Equations separated by commas, as :meth:`t_test`, or a matrix (r, p) tested
            against 0.
        ddf : {"satterthwaite", "kenward-roger"}
            lmerTest's combination of the Satterthwaite df of the orthogonalised rows, or
            Kenward and Roger's scaled F (REML fits, one grouping factor).

        Returns
        -------
        DataFrame
            One row: ``F``, ``NumDF``, ``DenDF``, ``P>F``.
        """
        name = check_ddf(ddf, self.design, self.fit.method)
        contrasts = parse_contrasts(hypothesis, list(self.design.xnames))
        return joint_test(self.stats, self.design, self.fit, contrasts, name)

    def wald_test(self, hypothesis: str | np.ndarray) -> pd.DataFrame:
        """Large-sample Wald χ² test of several hypotheses together (statsmodels' default).

        ``(Lβ̂ − rhs)ᵀ (L V Lᵀ)⁻¹ (Lβ̂ − rhs)`` with V the fixed effects' covariance
        (``cov_params``' β block), referred to χ² with r df. With few groups prefer
        :meth:`f_test`. Redundant equations are dropped: df is the rows' rank.

        Returns
        -------
        DataFrame
            One row: ``chi2``, ``df``, ``P>chi2``.
        """
        contrasts = parse_contrasts(hypothesis, list(self.design.xnames))
        return wald_test_table(contrasts, self.fit.beta, self.fit.cov_beta)

    def fe_tests(self, ddf: str = "satterthwaite") -> pd.DataFrame:
        """Test every fixed effect against 0 (lmerTest's coefficient table).

        Parameters
        ----------
        ddf : {"satterthwaite", "kenward-roger"}

        Returns
        -------
        DataFrame
            Indexed by fixed-effect name: ``Coef.``, ``Std.Err.``, ``df``, ``t``, ``P>|t|``.
        """
        table = self.t_test(np.eye(len(self.design.xnames)), ddf)
        table.index = list(self.design.xnames)
        return table[["Coef.", "Std.Err.", "df", "t", "P>|t|"]]

