"""t-tests of fixed-effect contrasts with small-sample denominator df (lmerTest's table)."""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd
from scipy import stats as sps

from ..blocked import BlockedStats
from ..contrasts import Contrasts
from ..design import Design
from ..errors import SpecificationError
from ..suffstats import SuffStats
from .kenward_roger import indicator_matrices, kenward_roger_df, kenward_roger_parts
from .optimize import PointFit
from .satterthwaite import satterthwaite_df, satterthwaite_parts

__all__ = ["DDF", "DDF_CHOICES", "check_ddf", "contrast_tests"]

DDF = Literal["satterthwaite", "kenward-roger"]
DDF_CHOICES: tuple[str, ...] = ("satterthwaite", "kenward-roger")


def check_ddf(ddf: object, design: Design, method: str) -> DDF:
    """Validate ``ddf`` against the fit it would test.

    Raises
    ------
    SpecificationError
        For an unknown choice, a non-Gaussian family, a MAP fit, Kenward-Roger on an ML
        fit or on more than one grouping factor.
    """
    name = str(ddf).lower().replace("_", "-")
    if name not in DDF_CHOICES:
        raise SpecificationError(f"ddf: expected one of {DDF_CHOICES}; received {ddf!r}.")
    if design.family != "gaussian":
        raise SpecificationError(
            f"ddf: small-sample df are defined for Gaussian models (lmerTest's); received "
            f"family={design.family!r}. Use the z-test table (summary() without ddf).")
    if method == "map":
        raise SpecificationError(
            f"ddf={ddf!r}: needs a REML or ML fit, received method='map'. Fit with "
            "method='reml'.")
    if name == "kenward-roger":
        if method != "reml":
            raise SpecificationError(
                f"ddf='kenward-roger' is defined for REML fits (pbkrtest's); received "
                f"method={method!r}. Fit with method='reml' or use ddf='satterthwaite'.")
        if len(design.factors) != 1:
            raise SpecificationError(
                f"ddf='kenward-roger' is implemented for one grouping factor; the model has "
                f"{len(design.factors)}. Use ddf='satterthwaite'.")
    return name  # type: ignore[return-value]


def contrast_tests(stats: SuffStats | BlockedStats, design: Design, fit: PointFit,
                   contrasts: Contrasts, ddf: DDF, alpha: float = 0.05) -> pd.DataFrame:
    """One t-test per contrast row: lmerTest's ``contest1D`` for each.

    Parameters
    ----------
    stats : SuffStats or BlockedStats
    design : Design
    fit : PointFit
        A REML or ML optimum.
    contrasts : Contrasts
    ddf : {"satterthwaite", "kenward-roger"}
    alpha : float
        1 − the interval's coverage.

    Returns
    -------
    DataFrame
        Columns ``Coef.`` (``Lβ̂``; ``t`` tests ``Lβ = rhs``), ``Std.Err.`` (Kenward-Roger's
        adjusted SE for ``"kenward-roger"``), ``df``, ``t``, ``P>|t|`` and the interval, one
        row per contrast.
    """
    L = contrasts.L  # (r, p)
    if ddf == "satterthwaite":
        s_parts = satterthwaite_parts(stats, fit.theta, fit.scale, fit.method)  # type: ignore[arg-type]
        vcov, df = s_parts.vcov, satterthwaite_df(L, s_parts)
    else:
        assert isinstance(stats, SuffStats)
        k_parts = kenward_roger_parts(stats, indicator_matrices(design), fit.theta, fit.scale)
        vcov = k_parts.vcov_adj
        df = np.array([kenward_roger_df(row, k_parts)[0] for row in L])
    est = L @ fit.beta  # (r,)
    se = np.sqrt(np.einsum("rp,pq,rq->r", L, vcov, L))
    t = (est - contrasts.rhs) / se
    half = sps.t.ppf(1 - alpha / 2, df) * se
    return pd.DataFrame({
        "Coef.": est, "Std.Err.": se, "df": df, "t": t, "P>|t|": 2 * sps.t.sf(np.abs(t), df),
        f"[{alpha / 2:g}": est - half, f"{1 - alpha / 2:g}]": est + half,
    }, index=list(contrasts.labels))
