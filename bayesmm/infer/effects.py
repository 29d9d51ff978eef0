"""Posterior quantities computed from draws.

Ψ's Cholesky factor, exact conditional draws of the random effects (marginal and collapsed
builds), and the pointwise log-likelihood.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import xarray as xr

from ..build.collapsed import flat_index
from ..covariance import lambda_from_theta
from ..design import Design, FactorDesign
from ..families import Family
from ..normal_equations import backward, forward, normal_equations, small_cholesky, whitened
from ..suffstats import SuffStats

__all__ = ["ResidualStats", "aux_draws", "conditional_cov", "draw_beta", "draw_effects",
           "factor_chol", "group_loglik", "linear_predictor", "partial_residual_stats",
           "pointwise_loglik"]

Draws = Mapping[str, xr.DataArray]  # a posterior Dataset, or name → (chain, draw, …) draws
DRAW_BLOCK = 256  # draws per block at least
SMALL_P = 4  # up to this many fixed effects β's (p, p) algebra runs entry by entry
BLOCK_VALUES = 1 << 20  # values per array of a block beyond that (8 MB)


def draws_per_block(per_draw: int) -> int:
    """Draws per block of arrays holding ``per_draw`` values per draw.

    :data:`DRAW_BLOCK` draws, or more while a block's arrays hold at most
    :data:`BLOCK_VALUES` values: a small design's draws go in one pass (Dyestuff2's 4,000
    draws of 6 groups: one instead of 16 for each of β, the effects and the log-likelihood),
    a large one's in blocks that keep the temporaries small (Exam's log-likelihood: 258 draws
    × 4,059 rows). The draws are the same for any block size.
    """
    return max(DRAW_BLOCK, BLOCK_VALUES // max(per_draw, 1))


def _stats_block(stats: SuffStats) -> int:
    """Draws per block of the per-group algebra on ``stats`` ((s, G, q, p) arrays)."""
    return draws_per_block(stats.ZtX.size + stats.ZtZ.size)


@dataclass(frozen=True, eq=False)
class ResidualStats:
    """Per-draw statistics of the partial residual of the collapsed build's factor k.

    ``r = y − Σ_{f≠k} Z_f b_f`` for every draw (:mod:`bayesmm.build.collapsed`).

    Attributes
    ----------
    k : int
        The integrated factor.
    zty : ndarray, shape (S, G_k, q_k)
        ``Z_kᵀr`` per draw.
    xty : ndarray, shape (S, p)
        ``Xᵀr`` per draw.
    """

    k: int
    zty: np.ndarray
    xty: np.ndarray


def partial_residual_stats(design: Design, posterior: xr.Dataset, k: int, chunk: int = 100
                           ) -> ResidualStats:
    """``Z_kᵀr`` and ``Xᵀr`` of every draw's partial residual (the other factors' effects out)."""
    factor = design.factors[k]
    G, q, N = factor.n_levels, factor.q, design.n_obs
    rows = flat_index(factor).T.ravel()  # (N q,)  row n's positions in the (G q,) effects
    cols = np.repeat(np.arange(N), q)
    Zt = sp.csr_matrix((factor.Z.ravel(), (rows, cols)), shape=(G * q, N))  # (G q, N)
    base = design.y  # (N,)  Gaussian: no offset
    others = [(f.Z, f.codes, posterior[f.label].values.reshape(-1, f.n_levels, f.q))
              for j, f in enumerate(design.factors) if j != k]
    S = posterior["sigma"].values.size
    zty, xty = np.empty((S, G, q)), np.empty((S, design.X.shape[1]))
    for lo in range(0, S, chunk):
        sl = slice(lo, min(lo + chunk, S))
        r = np.repeat(base[None], sl.stop - sl.start, axis=0)  # (s, N)
        for Z, codes, b in others:
            r -= np.einsum("nq,snq->sn", Z, b[sl][:, codes, :], optimize=True)
        zty[sl] = (Zt @ r.T).T.reshape(-1, G, q)
        xty[sl] = r @ design.X
    return ResidualStats(k, zty, xty)


def factor_chol(factor: FactorDesign, posterior: Draws) -> np.ndarray:
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
            lc = small_cholesky(corr, semidefinite=True)  # (S, k, k)
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


def draw_beta(
    design: Design, stats: SuffStats, posterior: xr.Dataset, m0: np.ndarray, s0: np.ndarray,
    rng: np.random.Generator, chunk: int | None = None, resid: ResidualStats | None = None,
) -> np.ndarray:
    """Exact draws of β | y, σ, Λ under independent Normal(m₀, s₀) priors.

    ``β ~ N(P⁻¹h, P⁻¹)`` with ``P = A/σ² + S₀⁻¹``, ``h = c/σ² + S₀⁻¹m₀`` (lme4's A, c). With
    ``resid`` (the collapsed build) the response is each draw's partial residual and ``stats``
    are factor ``resid.k``'s.

    Returns
    -------
    ndarray, shape (C, D, p)
    """
    C, D = posterior["sigma"].shape
    k = 0 if resid is None else resid.k
    sigma = posterior["sigma"].values.reshape(-1)  # (S,)
    lam = factor_chol(design.factors[k], posterior) / sigma[:, None, None]  # (S, q, q)
    A = np.empty((sigma.size, stats.p, stats.p))
    c = np.empty((sigma.size, stats.p))
    chunk = chunk or _stats_block(stats)
    for lo in range(0, sigma.size, chunk):  # chunks of draws keep the (s, G, q, q) arrays small
        sl = slice(lo, lo + chunk)
        zty = stats.Zty if resid is None else resid.zty[sl]  # (G, q) or (s, G, q)
        xty = stats.Xty if resid is None else resid.xty[sl]  # (p,) or (s, p)
        _, A[sl], c[sl], _ = normal_equations(stats.ZtZ, stats.ZtX, zty, stats.XtX, xty,
                                              0.0, lam[sl])  # (s, p, p), (s, p)
    s2 = sigma[:, None] ** 2
    P = A / s2[..., None] + np.diag(1.0 / s0**2)  # (S, p, p)
    h = c / s2 + m0 / s0**2  # (S, p)
    eps = rng.standard_normal(h.shape)  # (S, p)
    if stats.p <= SMALL_P:  # entry by entry over the draws (normal_equations' note)
        LP = small_cholesky(P)
        mean = backward(LP, forward(LP, h[..., None]))[..., 0]
        draws = mean + backward(LP, eps[..., None])[..., 0]
    else:
        LP = np.linalg.cholesky(P)
        mean = np.linalg.solve(P, h[..., None])[..., 0]
        draws = mean + np.linalg.solve(np.swapaxes(LP, 1, 2), eps[..., None])[..., 0]
    return draws.reshape(C, D, -1)


def _flat_draws(design: Design, posterior: Draws, k: int = 0) -> tuple[np.ndarray, ...]:
    """β (S, p), σ (S,) and Λ = chol(Ψ)/σ (S, q, q) of factor ``k``, draws flattened."""
    beta = posterior["beta"].values
    beta = beta.reshape(-1, beta.shape[-1])  # (S, p)
    sigma = posterior["sigma"].values.reshape(-1)  # (S,)
    lam = factor_chol(design.factors[k], posterior) / sigma[:, None, None]  # (S, q, q)
    return beta, sigma, lam


def _whitened(stats: SuffStats, beta: np.ndarray, lam: np.ndarray,
              zty: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Cholesky factors L of M_g = I + ΛᵀZ_gᵀZ_gΛ and w = L⁻¹Λᵀ(Z_gᵀy_g − Z_gᵀX_gβ).

    Parameters
    ----------
    stats : SuffStats
    beta : ndarray, shape (s, p)
    lam : ndarray, shape (s, q, q)
    zty : ndarray, shape (s, G, q), optional
        ``Z_gᵀy_g`` per draw (a partial residual's); ``stats.Zty`` otherwise.

    Returns
    -------
    tuple
        L (s, G, q, q) and w (s, G, q).
    """
    zty = stats.Zty[None] if zty is None else zty
    u = zty - np.einsum("gqp,sp->sgq", stats.ZtX, beta)  # (s, G, q)
    L, w = whitened(stats.ZtZ, lam, u[..., None])  # (s, G, q, q), (s, G, q, 1)
    return L, w[..., 0]


def group_loglik(design: Design, stats: SuffStats, posterior: xr.Dataset,
                 chunk: int | None = None) -> np.ndarray:
    """Marginal log-likelihood of every group's data (random effects integrated out).

    ``−½[n_g log 2πσ² + log|M_g| + (r_gᵀr_g − v_gᵀM_g⁻¹v_g)/σ²]``; the sum over groups is the
    marginal build's log-likelihood. Used for leave-one-group-out cross-validation.

    Returns
    -------
    ndarray, shape (C, D, G)
    """
    C, D = posterior["sigma"].shape
    beta, sigma, lam = _flat_draws(design, posterior)
    G = stats.Zty.shape[0]
    out = np.empty((C * D, G))
    chunk = chunk or _stats_block(stats)
    for s0 in range(0, C * D, chunk):
        sl = slice(s0, s0 + chunk)
        L, w = _whitened(stats, beta[sl], lam[sl])
        b = beta[sl]
        rtr = (stats.yty_b[None] - 2 * np.einsum("gp,sp->sg", stats.Xty_b, b)
               + np.einsum("sp,gpk,sk->sg", b, stats.XtX_b, b))  # (s, G)
        logdet = 2 * np.log(np.diagonal(L, axis1=-2, axis2=-1)).sum(-1)  # (s, G)
        s2 = sigma[sl, None] ** 2
        out[sl] = -0.5 * (stats.n_per_block[None] * np.log(2 * np.pi * s2) + logdet
                          + (rtr - (w**2).sum(-1)) / s2)
    return out.reshape(C, D, G)


def draw_effects(
    design: Design, stats: SuffStats, posterior: Draws, rng: np.random.Generator,
    chunk: int | None = None, resid: ResidualStats | None = None,
) -> np.ndarray:
    """Exact draws of b_g | y, β, σ, Ψ for every posterior draw.

    ``b_g ~ N(Λ M_g⁻¹ Λᵀ(Z_gᵀy_g − Z_gᵀX_gβ), σ² Λ M_g⁻¹ Λᵀ)``; with ``resid`` (the
    collapsed build) of factor ``resid.k`` given each draw's partial residual.

    Returns
    -------
    ndarray, shape (C, D, G, q)
    """
    C, D = posterior["sigma"].shape
    beta, sigma, lam = _flat_draws(design, posterior, 0 if resid is None else resid.k)
    G, q = stats.Zty.shape
    out = np.empty((C * D, G, q))
    chunk = chunk or _stats_block(stats)
    for s0 in range(0, C * D, chunk):
        sl = slice(s0, s0 + chunk)
        L, w = _whitened(stats, beta[sl], lam[sl], None if resid is None else resid.zty[sl])
        eps = rng.standard_normal(w.shape)
        rhs = (w + sigma[sl, None, None] * eps)[..., None]  # (s, G, q, 1)
        x = backward(L, rhs)
        out[sl] = np.einsum("sij,sgj->sgi", lam[sl], x[..., 0])  # (s, G, q)
    return out.reshape(C, D, G, q)


def conditional_cov(stats: SuffStats, theta: np.ndarray, scale: float) -> np.ndarray:
    """Covariance of each group's effects given the data, (G, q, q), one factor.

    ``Ψ − Ψ Z_gᵀ V_g⁻¹ Z_g Ψ = σ² Λ M_g⁻¹ Λᵀ`` with ``M_g = I + ΛᵀZ_gᵀZ_gΛ`` (statsmodels'
    ``random_effects_cov``; the uncertainty of β̂ is not included).
    """
    lam = lambda_from_theta(theta, stats.tmap)  # (q, q)
    _, half = whitened(stats.ZtZ, lam, np.eye(lam.shape[0]))  # (G, q, q)  L_g⁻¹Λᵀ
    return scale * np.matmul(np.swapaxes(half, 1, 2), half)  # σ² Λ M⁻¹ Λᵀ


def _draw_blocks(n_chains: int, n_draws: int, size: int) -> list[tuple[int, slice]]:
    """(chain, draws) blocks of one chain, ``size`` draws each."""
    return [(c, slice(lo, min(lo + size, n_draws)))
            for c in range(n_chains) for lo in range(0, n_draws, size)]


def _eta_block(beta: np.ndarray, X: np.ndarray, offset: np.ndarray | None,
               terms: list[tuple[np.ndarray, np.ndarray, np.ndarray]], out: np.ndarray
               ) -> np.ndarray:
    """``out`` (d, n) ← η of ``d`` draws: ``beta`` (d, p), effect draws (d, levels, q)."""
    np.matmul(beta, X.T, out=out)
    if offset is not None:
        out += offset
    for Z, codes, b in terms:
        for k in range(Z.shape[1]):
            out += Z[:, k] * np.take(b[:, :, k], codes, axis=1)
    return out


def linear_predictor(beta: np.ndarray, X: np.ndarray, offset: np.ndarray | None,
                     terms: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> np.ndarray:
    """η = Xβ + offset + Σ_f Z_f b_f[codes_f] for every draw.

    Parameters
    ----------
    beta : ndarray, shape (C, D, p)
    X : ndarray, shape (n, p)
    offset : ndarray, shape (n,), optional
    terms : list of tuple
        Per factor: Z (n, q), codes (n,) and effect draws (C, D, levels, q).

    Returns
    -------
    ndarray, shape (C, D, n)
    """
    eta = np.empty((*beta.shape[:2], X.shape[0]))  # (C, D, n)
    # a chain's block of draws at a time, one effect column at a time: gathering every
    # draw's effects at once, (C, D, n, q), took 1.25 s for Exam's 4 × 1000 × 4059 × 2
    # against 0.14 s in blocks that stay in the cache
    for c, sl in _draw_blocks(*beta.shape[:2], draws_per_block(X.shape[0])):
        _eta_block(beta[c, sl], X, offset, [(Z, k, b[c, sl]) for Z, k, b in terms],
                   eta[c, sl])
    return eta


def aux_draws(family: Family, posterior: xr.Dataset) -> dict[str, np.ndarray]:
    """Draws of the family's own parameters, shaped (C, D, 1) to broadcast over rows."""
    return {a.name: posterior[a.name].values[..., None] for a in family.aux}


def pointwise_loglik(design: Design, posterior: xr.Dataset) -> np.ndarray:
    """Log-density of every observation given each draw's parameters and effects (any family).

    Returns
    -------
    ndarray, shape (C, D, N)
    """
    family = design.family
    beta = posterior["beta"].values  # (C, D, p)
    terms = [(f.Z, f.codes, posterior[f.label].values) for f in design.factors]
    aux = aux_draws(family, posterior)  # (C, D, 1) each
    out = np.empty((*beta.shape[:2], design.X.shape[0]))  # (C, D, N)
    size = draws_per_block(design.X.shape[0])
    eta = np.empty((min(size, beta.shape[1]), design.X.shape[0]))  # (d, N): one block, reused
    # η and the density one block of draws at a time: the only array of every draw is the
    # result (η of every draw, then the density, allocated two more of that size: Exam's
    # 4 × 1000 × 4,059, the first call of a fresh process, 0.18–0.21 s against 0.22–0.48 s)
    for c, sl in _draw_blocks(*beta.shape[:2], size):
        block = _eta_block(beta[c, sl], design.X, design.offset,
                           [(Z, k, b[c, sl]) for Z, k, b in terms], eta[:sl.stop - sl.start])
        out[c, sl] = family.logpdf(design.y, block, design.trials,
                                   {name: v[c, sl] for name, v in aux.items()})
    return out
