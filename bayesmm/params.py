"""Named covariance parameters as statsmodels reports them (``Pig Var``, ``Pig x Time Cov``, …)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .covariance import lambda_from_theta, theta_from_cov, theta_map
from .design import CovBlock, Design, FactorDesign
from .errors import SpecificationError

__all__ = ["CovParam", "block_of", "cov_params", "psis_from_theta", "re_names", "variance_param",
           "theta_from_params"]


@dataclass(frozen=True)
class CovParam:
    """One reported variance/covariance: entry (row, col) of factor ``factor``'s Ψ."""

    name: str
    factor: int
    row: int
    col: int


def re_names(factor: FactorDesign, prefix: bool) -> list[str]:
    """Statsmodels' ``exog_re_names``: "Intercept" replaced by the group label."""
    names = []
    for z in factor.znames:
        if z == "Intercept":
            names.append(factor.label)
        else:
            names.append(f"{factor.label} {z}" if prefix else z)
    return names


def cov_params(design: Design) -> list[CovParam]:
    """Every reported covariance parameter, in statsmodels' summary order.

    Full blocks list ``(i, j)`` for ``j <= i`` row by row (``"<j> x <i> Cov"``
    off the diagonal); independent columns and variance components one ``Var`` each.
    """
    out: list[CovParam] = []
    # slopes are prefixed with their factor's label when several factors have columns of
    # their own; factors holding only variance components (statsmodels' vc_formula, nested
    # by bayesmm.nesting) are named by the component and keep statsmodels' unprefixed rows
    prefix = sum(bool(f.re_cols) for f in design.factors) > 1
    for k, factor in enumerate(design.factors):
        names = re_names(factor, prefix)
        for block in factor.blocks:
            if block.kind == "vc":
                out.append(CovParam(f"{block.name} Var", k, block.cols[0], block.cols[0]))
                continue
            for a, i in enumerate(block.cols):
                for j in block.cols[: a + 1]:
                    label = f"{names[i]} Var" if i == j else f"{names[j]} x {names[i]} Cov"
                    out.append(CovParam(label, k, i, j))
    return out


def values(params: list[CovParam], psis: list[np.ndarray]) -> np.ndarray:
    """Pick every parameter out of per-factor Ψ arrays ``(..., q, q)``."""
    return np.stack([psis[p.factor][..., p.row, p.col] for p in params], axis=-1)


def cov_values(
    design: Design, psis: list[np.ndarray], scale: np.ndarray | float | None, kind: str = "var"
) -> dict[str, np.ndarray]:
    """Compute the reported covariance rows and residual row on the variance or SD scale.

    Parameters
    ----------
    design : Design
    psis : list of ndarray
        Ψ of every factor, shape ``(..., q, q)`` (a point estimate or draws).
    scale : float or ndarray or None
        Residual variance σ² (same leading shape as ``psis``); ``None`` for a family
        without one (no residual row).
    kind : {"var", "sd"}
        ``"var"``: statsmodels' ``Var``/``Cov`` rows and ``Scale``; ``"sd"``: lme4/brms'
        ``SD``/``Corr`` rows and ``Residual SD``.

    Returns
    -------
    dict
        Row name → values.
    """
    if kind not in ("var", "sd"):
        from .errors import SpecificationError

        raise SpecificationError(f"cov_scale: expected 'var' or 'sd'; received {kind!r}.")
    out: dict[str, np.ndarray] = {}
    for p in cov_params(design):
        psi = psis[p.factor]
        value = psi[..., p.row, p.col]
        if kind == "sd":
            stem = p.name.rsplit(" ", 1)[0]
            if p.row == p.col:
                out[f"{stem} SD"] = np.sqrt(value)
                continue
            denom = np.sqrt(psi[..., p.row, p.row] * psi[..., p.col, p.col])
            with np.errstate(invalid="ignore", divide="ignore"):
                out[f"{stem} Corr"] = value / denom
            continue
        out[p.name] = value
    if scale is None:
        return out
    if kind == "sd":
        out["Residual SD"] = np.sqrt(scale)
    else:
        out["Scale"] = scale
    return out


def psis_from_theta(design: Design, theta: np.ndarray, scale: float) -> list[np.ndarray]:
    """Ψ of every factor, (q_f, q_f) each, from the joint θ and σ²."""
    out, start = [], 0
    for f in design.factors:
        tmap = theta_map(f)
        lam = lambda_from_theta(theta[start:start + tmap.n_theta], tmap)  # (q, q)
        out.append(scale * lam @ lam.T)
        start += tmap.n_theta
    return out


def theta_from_params(design: Design, values: np.ndarray) -> np.ndarray:
    """Joint θ from the covariance entries of a point fit's ``params`` (over σ²).

    ``values`` are statsmodels' unscaled covariance parameters, in :func:`cov_params`'s
    order; a variance component's value fills its whole block's diagonal.
    """
    covs = [np.zeros((f.q, f.q)) for f in design.factors]
    for param, value in zip(cov_params(design), values, strict=True):
        block = block_of(design, param)
        cov = covs[param.factor]
        if block.kind == "vc":
            cov[block.cols, block.cols] = value
        else:
            cov[param.row, param.col] = cov[param.col, param.row] = value
    return np.concatenate([theta_from_cov(c, theta_map(f))
                           for c, f in zip(covs, design.factors, strict=True)])


def block_of(design: Design, param: CovParam) -> CovBlock:
    """Find the covariance block of ``design`` that holds ``param``."""
    factor = design.factors[param.factor]
    return next(b for b in factor.blocks if param.row in b.cols)



def variance_param(design: Design, re_ix: int | str, vtype: str) -> CovParam:
    """Find the variance statsmodels' ``profile_re(re_ix, vtype)`` names.

    ``vtype="re"``: a random-effect column of the first factor by position, or a variance
    row's name; ``vtype="vc"``: a variance component's name, with or without `` Var``.

    Raises
    ------
    SpecificationError
        For another ``vtype`` or a name or position the model does not have.
    """
    variances = [c for c in cov_params(design) if c.row == c.col]
    vc = {c.name for c in variances if block_of(design, c).kind == "vc"}
    if vtype == "re" and isinstance(re_ix, int | np.integer):
        found = [c for c in variances if c.factor == 0 and c.row == re_ix and c.name not in vc]
    elif vtype == "re":
        found = [c for c in variances if c.name == re_ix and c.name not in vc]
    elif vtype == "vc":
        found = [c for c in variances
                 if c.name in vc and re_ix in (c.name, c.name.removesuffix(" Var"))]
    else:
        raise SpecificationError(f"vtype: expected 're' or 'vc'; received {vtype!r}.")
    if not found:
        names = [c.name for c in variances if (c.name in vc) == (vtype == "vc")]
        raise SpecificationError(
            f"re_ix: expected a variance of this model for vtype={vtype!r} (one of {names}, "
            f"or a column position for 're'); received {re_ix!r}.")
    return found[0]
