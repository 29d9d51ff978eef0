"""Posterior quantities computed from draws.

Ψ's Cholesky factor, exact conditional draws of the random effects (marginal build), and the
pointwise log-likelihood.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from ..design import Design, FactorDesign
from ..suffstats import SuffStats

__all__ = ["draw_effects", "factor_chol", "pointwise_loglik"]


def factor_chol(factor: FactorDesign, posterior: xr.Dataset) -> np.ndarray:
    """Cholesky factor of Ψ per draw, (S, q, q), from the ``<label>_sd``/``_corr`` draws."""
    sd = posterior[f"{factor.label}_sd"].values  # (C, D, k)
    C, D = sd.shape[:2]
    sd = sd.reshape(C * D, -1)  # (S, k)
    q = factor.q
    chol = np.zeros((C * D, q, q))
    k = 0
    for block in factor.blocks:
        idx = np.array(block.cols)
        if block.kind == "corr":
            corr = posterior[f"{factor.label}_corr"].values.reshape(C * D, idx.size, idx.size)
            lc = np.linalg.cholesky(corr + 1e-12 * np.eye(idx.size))  # (S, k, k)
            s = sd[:, k : k + idx.size]
            chol[:, idx[:, None], idx[None, :]] = s[:, :, None] * lc
            k += idx.size
        elif block.kind == "vc":
            chol[:, idx, idx] = sd[:, k : k + 1]
            k += 1
        else:
            chol[:, idx, idx] = sd[:, k : k + 1]
            k += 1
    return chol


def draw_effects(
    design: Design, stats: SuffStats, posterior: xr.Dataset, rng: np.random.Generator,
    chunk: int = 500,
) -> np.ndarray:
    """Exact draws of b_g | y, β, σ, Ψ for every posterior draw.

    ``b_g ~ N(Λ M_g⁻¹ Λᵀ(Z_gᵀy_g − Z_gᵀX_gβ), σ² Λ M_g⁻¹ Λᵀ)``.

    Returns
    -------
    ndarray, shape (C, D, G, q)
    """
    factor = design.factors[0]
    beta = posterior["beta"].values
    C, D = beta.shape[:2]
    beta = beta.reshape(C * D, -1)  # (S, p)
    sigma = posterior["sigma"].values.reshape(-1)  # (S,)
    lam = factor_chol(factor, posterior) / sigma[:, None, None]  # (S, q, q)
    G, q = stats.Zty.shape
    out = np.empty((C * D, G, q))
    eye = np.eye(q)
    for s0 in range(0, C * D, chunk):
        sl = slice(s0, s0 + chunk)
        lm = lam[sl][:, None]  # (s, 1, q, q)
        M = np.swapaxes(lm, -1, -2) @ stats.ZtZ[None] @ lm + eye  # (s, G, q, q)
        L = np.linalg.cholesky(M)
        u = stats.Zty[None] - np.einsum("gqp,sp->sgq", stats.ZtX, beta[sl])  # (s, G, q)
        v = np.einsum("sqk,sgq->sgk", lam[sl], u)  # (s, G, q)  Λᵀu
        w = np.linalg.solve(L, v[..., None])  # (s, G, q, 1)
        eps = rng.standard_normal(w.shape)
        x = np.linalg.solve(np.swapaxes(L, -1, -2), w + sigma[sl, None, None, None] * eps)
        out[sl] = np.einsum("sij,sgj->sgi", lam[sl], x[..., 0])  # (s, G, q)
    return out.reshape(C, D, G, q)


def pointwise_loglik(design: Design, posterior: xr.Dataset) -> np.ndarray:
    """Gaussian log-density of every observation given each draw's β, σ and effects.

    Returns
    -------
    ndarray, shape (C, D, N)
    """
    beta = posterior["beta"].values  # (C, D, p)
    mu = np.einsum("np,cdp->cdn", design.X, beta)
    for f in design.factors:
        b = posterior[f.label].values  # (C, D, G, q)
        mu += np.einsum("nq,cdnq->cdn", f.Z, b[:, :, f.codes, :])
    sigma = posterior["sigma"].values[..., None]
    resid = (design.y - mu) / sigma
    return -0.5 * (np.log(2 * np.pi) + resid**2) - np.log(sigma)
