"""Where the blocked REML/ML/MAP search starts: one-way moment estimates of each factor.

lme4 starts every θ at 1. On the 24,613-row three-factor design that cost L-BFGS-B 19
evaluations of the blocked deviance and gradient, on the 73,421-row students × lecturers ×
departments design 26; from the moment start below, 11 and 11 (a 31,022-row nested design:
13 against 12). Each evaluation factors a Schur complement of the smaller factors' size.

For a scalar term of factor k, with ``r`` the OLS residuals, ``z_g`` the term's column on the
rows of level g and the other factors' effects taken as part of the noise::

    SSB_k = Σ_g (z_gᵀr)² / z_gᵀz_g,     E[SSB_k] ≈ G_k σ² + σ_k² Σ_g z_gᵀz_g

with ``σ² = rᵀr / (N − p)`` the total residual variance; so ``σ_k² ≈ (SSB_k − G_k σ²) /
(Σ_g z_gᵀz_g − G_k)``. The residual variance is what the factors leave of ``σ²``, and
``θ_k = σ_k / σ_e``. All of it comes from the cross-products (:class:`BlockedStats`), so
partitioned (Dask) input starts at the same point.
"""

from __future__ import annotations

import numpy as np

from ..blocked import BlockedStats

__all__ = ["moment_theta"]

_THETA_FLOOR = 0.1  # a start at 0 would sit where the criterion's derivative is exactly 0


def _per_factor(stats: BlockedStats, beta: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """Each factor's ``z_gᵀz_g`` and ``z_gᵀr`` per level, in ``stats.order``."""
    out = [(stats.D1[:, 0, 0], stats.Z1y[:, 0] - stats.Z1X[:, 0, :] @ beta)]  # (G1,) each
    zz = np.diagonal(stats.ZrZr)  # (m_r,)
    zr = stats.Zry - stats.ZrX @ beta  # (m_r,)
    bounds = np.cumsum((0, *stats.levels[1:]))
    out += [(zz[a:b], zr[a:b]) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    return out


def moment_theta(stats: BlockedStats) -> np.ndarray:
    """Start θ (the design's factor order) at one-way moment estimates; scalar terms only.

    A factor whose levels each hold one row (no within-level replication to tell its variance
    from the noise) starts at lme4's 1; the others at no less than 0.1.
    """
    beta = np.linalg.lstsq(stats.XtX, stats.Xty, rcond=None)[0]  # (p,)  OLS
    rss = stats.yty - 2.0 * float(beta @ stats.Xty) + float(beta @ stats.XtX @ beta)
    total = max(rss, 0.0) / max(stats.n_obs - stats.p, 1)
    variances = []
    for zz, zr in _per_factor(stats, beta):
        seen = zz > 0
        levels, trace = int(seen.sum()), float(zz.sum())
        ssb = float(np.sum(zr[seen] ** 2 / zz[seen]))
        variances.append((ssb - levels * total) / (trace - levels) if trace > levels
                         else np.nan)
    var = np.array(variances)  # (F,)
    resid = max(total - float(np.nansum(np.clip(var, 0.0, None))), 0.05 * total, 1e-300)
    theta = np.sqrt(np.clip(var, 0.0, None) / resid)
    theta = np.where(np.isfinite(theta), np.maximum(theta, _THETA_FLOOR), 1.0)
    out = np.empty(theta.size)
    out[list(stats.offsets)] = theta
    return out
