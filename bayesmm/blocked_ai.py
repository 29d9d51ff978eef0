"""Average-information Hessian of the blocked profiled criterion, for scalar terms.

The profiled REML criterion ``d(θ) = log|V| + log|XᵀV⁻¹X| + ν log r²`` (σ² = 1, ``V = I +
ZΛΛᵀZᵀ``, ``P = V⁻¹ − V⁻¹X A⁻¹XᵀV⁻¹``, ``r² = yᵀPy``) has, with ``V_k = ∂V/∂θ_k =
2θ_k Z_kZ_kᵀ`` and ``∂²V/∂θ_k² = V_k / θ_k``, the Hessian::

    tr(P ∂²V) − tr(P V_k P V_l) + ν (2 Q_kl − yᵀP ∂²V P y) / r² − ν g_k g_l / r⁴

with ``Q_kl = yᵀP V_k P V_l P y`` and ``g_k = ∂r²/∂θ_k``. As ASReml's average information,
the trace ``tr(P V_k P V_l)`` (an O(m³) product) is replaced by what it equals in
expectation at σ², ``(ν / r²) Q_kl``; the remaining diagonal ``tr(P ∂²V) − ν yᵀP∂²VPy/r²``
is exactly the criterion's own derivative over θ_k. So::

    H ≈ (ν / r²) Q − (ν / r⁴) g gᵀ + diag(∂d/∂θ_k / θ_k)

which is positive semidefinite at the optimum (Cauchy-Schwarz in P's inner product). Q
needs only ``w = ZᵀP y`` per factor and ``ZᵀPZ`` applied to it: one solve with the blocked
factor for all factors at once, no inverse. ML has ``log|V|`` alone and ν = N; its ``r²`` is
the same GLS residual, so Q keeps REML's P and ``tr(V⁻¹V_kV⁻¹V_l)`` takes its place in the
approximation.
"""

from __future__ import annotations

import numpy as np

from .blocked import BlockedProfile, BlockedStats, lower_solve, upper_solve
from .blocked_gradient import scalar_lambda, times_ZtZ, whitened_cross

__all__ = ["ai_hessian"]

_TINY = 1e-8  # below this θ_k the diagonal term ∂d/∂θ_k / θ_k is left out (0/0 at θ_k = 0)


def ai_hessian(prof: BlockedProfile, stats: BlockedStats, df: float, g_r2: np.ndarray,
               g_crit: np.ndarray) -> np.ndarray:
    """Average-information Hessian of the profiled criterion in θ (design order).

    Parameters
    ----------
    prof : BlockedProfile
        The blocked factor at θ (every factor a scalar term).
    stats : BlockedStats
    df : float
        ``ν``, the coefficient of ``log r²`` in the criterion.
    g_r2, g_crit : ndarray, shape (n_theta,)
        ``∂r²/∂θ`` and the criterion's gradient (without a MAP penalty), design order.

    Returns
    -------
    ndarray, shape (n_theta, n_theta)
    """
    theta = np.array([t[0, 0] for t in prof.factor.T])  # (F,) in stats.order
    F, w = whitened_cross(prof, stats)  # (m, p+1), (m,)
    edges = np.cumsum([0, *stats.levels])
    Wt = np.zeros((w.size, theta.size))  # (m, F)  w restricted to each factor
    for k in range(theta.size):
        Wt[edges[k]: edges[k + 1], k] = w[edges[k]: edges[k + 1]]
    KW = times_ZtZ(stats, Wt)  # (m, F)
    lam = scalar_lambda(prof, stats)  # (m,)
    m1 = stats.D1.shape[0]
    R = lam[:, None] * KW  # ΛᵀZᵀZ W
    u1, ur = upper_solve(prof.factor, *lower_solve(prof.factor, R[:m1], R[m1:]))
    NW = KW - times_ZtZ(stats, lam[:, None] * np.concatenate([u1, ur]))  # ZᵀV⁻¹Z W
    G = F[:, : stats.p].T @ Wt  # (p, F)   XᵀV⁻¹Z W
    WPW = Wt.T @ NW - G.T @ np.linalg.solve(prof.A, G)  # (F, F)   Wᵀ ZᵀPZ W
    order = np.array(stats.offsets)  # design position of each ordered factor's θ
    Q = np.zeros((theta.size, theta.size))
    Q[np.ix_(order, order)] = 4.0 * np.outer(theta, theta) * WPW  # yᵀP V_k P V_l P y
    theta_d = np.zeros(theta.size)
    theta_d[order] = theta
    diag = np.where(theta_d > _TINY, g_crit / np.maximum(theta_d, _TINY), 0.0)
    H = (df / prof.r2) * Q - (df / prof.r2**2) * np.outer(g_r2, g_r2) + np.diag(diag)
    return 0.5 * (H + H.T)
