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

__all__ = ["DDF", "DDF_CHOICES", "check_ddf", "contrast_tests", "fstat_ddf", "joint_test"]

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
    if design.family.name != "gaussian":
        raise SpecificationError(
            f"ddf: small-sample df are defined for Gaussian models (lmerTest's); received "
            f"family={design.family.name!r}. Use the z-test table (summary() without ddf).")
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


def fstat_ddf(nu: np.ndarray, tol: float = 1e-8) -> float:
    """Denominator df of an F statistic from the df of its orthogonal rows (lmerTest).

    ``2E / (E − q)`` with ``E = Σ ν_m / (ν_m − 2)``; ν itself when all rows agree, and 2
    when any ν_m ≤ 2 (the mean of the F distribution does not exist).
    """
    nu = np.atleast_1d(np.asarray(nu, dtype=float))  # (q,)
    if nu.size == 1 or np.all(np.abs(nu - nu[0]) < tol):
        return float(nu[0])
    if np.any(nu <= 2):
        return 2.0
    e = float(np.sum(nu / (nu - 2)))
    return 2 * e / (e - nu.size)


def independent_rows(cov: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Eigenpairs of a contrasts' covariance ``L V Lᵀ`` (r, r) above ``√ε · d_max``.

    Returns the q eigenvalues and their eigenvectors (r, q): ``P.T @ L`` are q linearly
    independent rows spanning what the r rows test (lmerTest drops the rest).
    """
    d, P = np.linalg.eigh(cov)  # ascending
    keep = d > np.sqrt(np.finfo(float).eps) * max(d[-1], 0.0)
    return d[keep], P[:, keep]


def wald_test_table(contrasts: Contrasts, beta: np.ndarray, vcov: np.ndarray) -> pd.DataFrame:
    """Wald χ² test of all rows together; redundant rows are dropped (df = their rank).

    ``Σ_m (p_mᵀ(Lβ̂ − rhs))² / d_m`` over :func:`independent_rows` of ``L V Lᵀ``, referred
    to χ² with q df (statsmodels' ``wald_test``, which uses the pseudo-inverse).
    """
    L, diff = contrasts.L, contrasts.L @ beta - contrasts.rhs  # (r, p), (r,)
    d, P = independent_rows(L @ vcov @ L.T)
    chi2, q = float(np.sum((P.T @ diff) ** 2 / d)), int(d.size)
    return pd.DataFrame({"chi2": [chi2], "df": [q], "P>chi2": [float(sps.chi2.sf(chi2, q))]},
                        index=[contrasts.label])


def joint_test(stats: SuffStats | BlockedStats, design: Design, fit: PointFit,
               contrasts: Contrasts, ddf: DDF) -> pd.DataFrame:
    """One F-test of all rows ``Lβ = rhs`` together (lmerTest's ``contestMD``).

    Satterthwaite: ``F = Σ_m (p_mᵀ(Lβ̂ − rhs))² / d_m / q`` over the eigenpairs (d_m, p_m)
    of ``L V Lᵀ`` above ``√ε · d_max`` (q of them, the numerator df); each row ``p_mᵀL``
    gets its own Satterthwaite df ν_m and :func:`fstat_ddf` combines them. Kenward-Roger:
    the Wald statistic under the adjusted covariance Φ_A, scaled by λ (pbkrtest).

    Returns
    -------
    DataFrame
        One row, indexed by the contrasts' label: ``F``, ``NumDF``, ``DenDF``, ``P>F``.
    """
    L, diff = contrasts.L, contrasts.L @ fit.beta - contrasts.rhs  # (r, p), (r,)
    if ddf == "satterthwaite":
        parts = satterthwaite_parts(stats, fit.theta, fit.scale, fit.method)  # type: ignore[arg-type]
        d, P = independent_rows(L @ parts.vcov @ L.T)  # (q,), (r, q)
        q = int(d.size)
        F = float(np.sum((P.T @ diff) ** 2 / d)) / q
        den = fstat_ddf(satterthwaite_df(P.T @ L, parts))
    else:
        assert isinstance(stats, SuffStats)
        parts_kr = kenward_roger_parts(stats, indicator_matrices(design), fit.theta, fit.scale)
        q = int(np.linalg.matrix_rank(L))
        if q < L.shape[0]:
            raise SpecificationError(
                f"hypothesis: the {L.shape[0]} rows have rank {q}; Kenward-Roger's F-test "
                "needs linearly independent rows. Drop the redundant equations.")
        den, scaling = kenward_roger_df(L, parts_kr)
        wald = float(diff @ np.linalg.solve(L @ parts_kr.vcov_adj @ L.T, diff))
        F = scaling * wald / q
    return pd.DataFrame({"F": [F], "NumDF": [q], "DenDF": [den],
                         "P>F": [float(sps.f.sf(F, q, den))]}, index=[contrasts.label])
