"""lme4's profiled deviance on sufficient statistics (REML, ML and penalised MAP).

For a fixed relative covariance factor Λ(θ), with ``M_b = I + ΛᵀZ_bᵀZ_bΛ`` per block::

    A  = XᵀX − Σ_b (ΛᵀZ_bᵀX_b)ᵀ M_b⁻¹ (ΛᵀZ_bᵀX_b)
    c  = Xᵀy − Σ_b (ΛᵀZ_bᵀX_b)ᵀ M_b⁻¹ ΛᵀZ_bᵀy_b
    d  = yᵀy − Σ_b (ΛᵀZ_bᵀy_b)ᵀ M_b⁻¹ ΛᵀZ_bᵀy_b
    β̂ = A⁻¹ c,  r² = d − cᵀβ̂

    −2ℓ_ML   = Σ log|M_b| + N (1 + log(2π r²/N))
    −2ℓ_REML = Σ log|M_b| + log|A| + (N−p)(1 + log(2π r²/(N−p)))

The gradient in Λ (``d dev = Σ_ij G_ij dΛ_ij``) is exact and costs one more pass over the
blocks, with ``K_b = Z_bᵀZ_b``, ``û_b = M_b⁻¹Λᵀ Z_bᵀ(y_b − X_bβ̂)``, ``C_b = (Z_bᵀX_b) A⁻¹
(Z_bᵀX_b)ᵀ`` and ``D_b = M_b⁻¹ΛᵀC_bΛM_b⁻¹``::

    ∂ Σ log|M_b| = 2 Σ_b K_b Λ M_b⁻¹
    ∂ r²         = −2 Σ_b (Z_bᵀy_b − Z_bᵀX_bβ̂ − K_bΛû_b) û_bᵀ   (envelope theorem: r² is
                                                                the minimum of the PRSS)
    ∂ log|A|     = −2 Σ_b (C_b Λ M_b⁻¹ − K_b Λ D_b)
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

import numpy as np

from .blocked import BlockedProfile, BlockedStats, blocked_effects, blocked_profile
from .blocked_ai import ai_hessian
from .blocked_gradient import exact_gradient_applies, gradient_parts
from .covariance import ThetaMap, lambda_from_theta
from .normal_equations import normal_equations
from .suffstats import SuffStats

__all__ = [
    "Method",
    "Profile",
    "ProfileTerms",
    "criterion",
    "deviance",
    "deviance_and_gradient",
    "deviance_gradient_ai",
    "deviance_gradient",
    "ml_deviance_at_scale",
    "ml_loglike",
    "profiled_loglike_gradient",
    "profiled_loglike",
    "n_penalised",
    "profile",
    "profiled_df",
    "random_effect_means",
]

Method = Literal["reml", "ml", "map"]
_LOG2PI = float(np.log(2 * np.pi))


@dataclass(frozen=True, eq=False)
class Profile:
    """Everything the profiled deviance computes at one θ.

    Attributes
    ----------
    lam : ndarray, shape (m, m)
    chol_M : ndarray, shape (B, m, m)
        Lower Cholesky factors of ``M_b``.
    A : ndarray, shape (p, p)
    beta : ndarray, shape (p,)
    r2 : float
        Penalised residual sum of squares.
    logdet_M : float
    logdet_A : float
    """

    lam: np.ndarray
    chol_M: np.ndarray
    A: np.ndarray
    beta: np.ndarray
    r2: float
    logdet_M: float
    logdet_A: float


Stats = SuffStats | BlockedStats


def profile(theta: np.ndarray, stats: Stats) -> Profile | BlockedProfile:
    """Evaluate the profiled quantities at ``theta`` (blockwise for several factors)."""
    if isinstance(stats, BlockedStats):
        return blocked_profile(theta, stats)
    lam = lambda_from_theta(theta, stats.tmap)  # (m, m)
    L, A, c, d = normal_equations(stats.ZtZ, stats.ZtX, stats.Zty, stats.XtX, stats.Xty,
                                  stats.yty, lam)  # (B, m, m), (p, p), (p,), ()
    d = float(d)
    chol_A = np.linalg.cholesky(A)
    beta = np.linalg.solve(A, c)
    r2 = max(d - float(c @ beta), 1e-300)
    logdet_M = 2.0 * float(np.log(np.diagonal(L, axis1=1, axis2=2)).sum())
    logdet_A = 2.0 * float(np.log(np.diag(chol_A)).sum())
    return Profile(lam, L, A, beta, r2, logdet_M, logdet_A)


def n_penalised(stats: Stats) -> int:
    """Count the SD parameters carrying the MAP penalty (diagonal θ)."""
    return int(stats.tmap.on_diagonal.sum())


def residual_df(stats: Stats, method: Method) -> int:
    """Degrees of freedom of the profiled scale: N − p (REML, MAP) or N (ML)."""
    return stats.n_obs - (0 if method == "ml" else stats.p)


def profiled_df(stats: Stats, method: Method) -> int:
    """Divisor of r² in σ̂²: the residual df, less the penalised SDs under MAP.

    It is also the coefficient of log r² in the profiled criterion.
    """
    return residual_df(stats, method) - (n_penalised(stats) if method == "map" else 0)


def scale_hat(prof: Profile | BlockedProfile | ProfileTerms, stats: Stats, method: Method
              ) -> float:
    """Profiled residual variance σ̂² at the current θ."""
    return prof.r2 / profiled_df(stats, method)


def deviance(
    theta: np.ndarray,
    stats: Stats,
    method: Method = "reml",
    scale: float | None = None,
) -> float:
    """−2 log-likelihood (REML/ML) or −2 log posterior kernel (MAP) at ``theta``.

    Parameters
    ----------
    theta : ndarray
        Relative covariance parameters.
    stats : SuffStats or BlockedStats
        Sufficient statistics.
    method : {"reml", "ml", "map"}
        Criterion. ``"map"`` is REML plus blme's default penalty
        ``−2 Σ log σ_k`` (gamma(2, 0) per SD, Wishart(q + 2) per covariance block).
    scale : float, optional
        σ². Profiled out when omitted.

    Returns
    -------
    float
        The criterion; ``inf`` where it is undefined.
    """
    try:
        prof = profile(theta, stats)
    except np.linalg.LinAlgError:
        return np.inf
    return criterion(prof, np.asarray(theta), stats, method, scale)


@dataclass(frozen=True)
class ProfileTerms:
    """The three profiled quantities the criterion needs (a :class:`Profile`'s, or a kernel's).

    Attributes
    ----------
    r2 : float
        Penalised residual sum of squares.
    logdet_M : float
    logdet_A : float
    """

    r2: float
    logdet_M: float
    logdet_A: float


def criterion(prof: Profile | BlockedProfile | ProfileTerms, theta: np.ndarray, stats: Stats,
              method: Method, scale: float | None = None) -> float:
    """Evaluate :func:`deviance` from the profiled quantities ``prof`` at ``theta``."""
    df = residual_df(stats, method)
    sigma2 = scale_hat(prof, stats, method) if scale is None else scale
    dev = prof.logdet_M + df * (_LOG2PI + np.log(sigma2)) + prof.r2 / sigma2
    if method != "ml":
        dev += prof.logdet_A
    if method == "map":
        diag = theta[stats.tmap.on_diagonal]
        if np.any(diag <= 0):
            return np.inf
        # −2 log Π σ_k with σ_k = σ θ_k
        dev -= len(diag) * np.log(sigma2) + 2.0 * float(np.sum(np.log(diag)))
    return float(dev)


def _at_beta(beta: np.ndarray, theta: np.ndarray, stats: Stats
             ) -> tuple[Profile | BlockedProfile, float] | None:
    """Return the profile at θ and the penalised residual sum of squares at β.

    ``prss = r²(θ) + (β − β̂)ᵀA(β − β̂)``: ``r²`` is its minimum, at ``β̂``. None where M(θ)
    is not positive definite.
    """
    try:
        prof = profile(np.asarray(theta, dtype=float), stats)
    except np.linalg.LinAlgError:
        return None
    d = np.asarray(beta, dtype=float) - prof.beta  # (p,)
    return prof, prof.r2 + float(d @ prof.A @ d)


def ml_loglike(beta: np.ndarray, theta: np.ndarray, scale: float, stats: Stats) -> float:
    """Marginal log-likelihood at ``(β, θ, σ²)``, every random effect integrated out.

    ``−2ℓ = log|M(θ)| + prss/σ² + N log(2πσ²)``, ``prss`` the penalised residual sum of
    squares at β (:func:`_at_beta`); ``-inf`` where M(θ) is not positive definite.
    """
    found = _at_beta(beta, theta, stats)
    if found is None:
        return -np.inf
    prof, prss = found
    return -0.5 * (prof.logdet_M + prss / scale + stats.n_obs * (_LOG2PI + np.log(scale)))


def profiled_loglike(beta: np.ndarray, theta: np.ndarray, stats: Stats, method: Method
                     ) -> float:
    """REML or ML log-likelihood at ``(β, θ)`` with σ² profiled out (statsmodels' ``loglike``).

    statsmodels' ``MixedLM.loglike(params, profile_fe=False)``: with ``prss`` at β
    (:func:`_at_beta`) and ``ν = N − p`` (REML) or ``N`` (ML)::

        −2ℓ = log|M| [+ log|A|] + ν (1 + log(2π prss / ν))

    At β̂ it is the profiled criterion itself (:func:`deviance`, halved and negated);
    ``-inf`` where M(θ) is not positive definite.
    """
    found = _at_beta(beta, theta, stats)
    if found is None:
        return -np.inf
    prof, prss = found
    df = residual_df(stats, method)
    dev = prof.logdet_M + df * (1.0 + _LOG2PI + np.log(prss / df))
    return -0.5 * (dev + (prof.logdet_A if method == "reml" else 0.0))


def profiled_loglike_gradient(beta: np.ndarray, theta: np.ndarray, stats: Stats,
                              method: Method) -> tuple[np.ndarray, np.ndarray]:
    """Gradient of :func:`profiled_loglike` in β and in θ, exactly.

    With ``prss(β, θ) = (y − Xβ)ᵀV⁻¹(y − Xβ)`` (σ² = 1)::

        ∂ℓ/∂β = −ν A (β − β̂) / prss
        ∂ℓ/∂θ = −½ (∂log|M| [+ ∂log|A|] + ν ∂prss / prss)

    where ``∂prss/∂θ`` is the residual part of the criterion's own gradient taken at β
    instead of β̂ (its ``ZᵀV⁻¹(y − Xβ)``).

    Raises
    ------
    numpy.linalg.LinAlgError
        Where M(θ) is not positive definite.
    NotImplementedError
        For several factors beyond the exact blocked gradient's size.
    """
    beta = np.asarray(beta, dtype=float)
    found = _at_beta(beta, theta, stats)
    if found is None:
        raise np.linalg.LinAlgError("M(θ) is not positive definite")
    prof, prss = found
    at_beta = replace(prof, beta=beta)
    if isinstance(stats, BlockedStats):
        g_logM, g_logA, g_prss = gradient_parts(at_beta, stats)  # type: ignore[arg-type]
    else:
        G_logM, G_prss, G_logA = _lambda_gradient_parts(at_beta, stats, True)  # type: ignore[arg-type]
        g_logM, g_prss, g_logA = (_in_theta(G, stats.tmap) for G in (G_logM, G_prss, G_logA))
    df = residual_df(stats, method)
    g_theta = g_logM + (df / prss) * g_prss + (g_logA if method == "reml" else 0.0)
    return -df * (prof.A @ (beta - prof.beta)) / prss, -0.5 * g_theta


def _in_theta(G: np.ndarray, tmap: ThetaMap) -> np.ndarray:
    """Collect a gradient in Λ's entries (m, m) onto θ (each θ's entries summed)."""
    return np.bincount(tmap.index, weights=G[tmap.rows, tmap.cols], minlength=tmap.n_theta)


def _lambda_gradient_parts(prof: Profile, stats: SuffStats, with_A: bool
                           ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Gradients of ``Σ log|M_b|``, ``r²`` and (``with_A``) ``log|A|`` in Λ, each (m, m)."""
    lam, m = prof.lam, prof.lam.shape[0]  # (m, m)
    K = stats.ZtZ  # (B, m, m)
    eye = np.broadcast_to(np.eye(m), K.shape)
    Minv = np.linalg.solve(np.swapaxes(prof.chol_M, 1, 2), np.linalg.solve(prof.chol_M, eye))
    KL = np.matmul(K, lam)  # (B, m, m)  K Λ
    KLM = np.matmul(KL, Minv)  # (B, m, m)  K Λ M⁻¹
    g_logM = 2.0 * KLM.sum(axis=0)  # ∂ Σ log|M_b|
    resid = stats.Zty - np.einsum("bmp,p->bm", stats.ZtX, prof.beta)  # (B, m)  Zᵀ(y − Xβ̂)
    u = np.einsum("bij,bj->bi", Minv, resid @ lam)  # (B, m)  û = M⁻¹Λᵀ Zᵀ(y − Xβ̂)
    w = resid - np.einsum("bij,bj->bi", KL, u)  # (B, m)  Zᵀ(y − Xβ̂ − ZΛû)
    g_r2 = -2.0 * w.T @ u
    if not with_A:
        return g_logM, g_r2, None
    C = np.matmul(np.matmul(stats.ZtX, np.linalg.inv(prof.A)),
                  np.swapaxes(stats.ZtX, 1, 2))  # (B, m, m)
    LM = np.matmul(lam, Minv)  # (B, m, m)  Λ M⁻¹
    D = np.matmul(np.matmul(np.swapaxes(LM, 1, 2), C), LM)  # (B, m, m)  M⁻¹ΛᵀCΛM⁻¹
    return g_logM, g_r2, -2.0 * (np.matmul(C, LM) - np.matmul(KL, D)).sum(axis=0)


def _lambda_gradient(prof: Profile, stats: SuffStats, method: Method) -> np.ndarray:
    """Gradient of the profiled criterion with respect to the entries of Λ, shape (m, m)."""
    g_logM, g_r2, g_logA = _lambda_gradient_parts(prof, stats, method != "ml")
    grad = g_logM + (profiled_df(stats, method) / prof.r2) * g_r2  # df ∂ log r²
    return grad if g_logA is None else grad + g_logA


def ml_deviance_at_scale(theta: np.ndarray, stats: Stats, scale: float
                         ) -> tuple[float, np.ndarray, float]:
    """Unprofiled ML deviance at ``(θ, σ²)`` with its gradients in θ and in σ.

    ``D = Σ log|M_b| + r²/σ² + N log(2πσ²)``, so ``∂D/∂σ = 2N/σ − 2r²/σ³``. Exact in θ for
    one factor and for scalar terms, central differences otherwise.

    Returns
    -------
    tuple of (float, ndarray, float)
        ``D``, ``∂D/∂θ`` (n_theta,) and ``∂D/∂σ``; ``(inf, nan, nan)`` off the domain.
    """
    theta = np.asarray(theta, dtype=float)
    try:
        prof = profile(theta, stats)
        if isinstance(stats, BlockedStats):
            g_logM, _, g_r2 = gradient_parts(prof, stats)  # type: ignore[arg-type]
            grad = g_logM + g_r2 / scale
        else:
            G_logM, G_r2, _ = _lambda_gradient_parts(prof, stats, False)  # type: ignore[arg-type]
            grad = _in_theta(G_logM + G_r2 / scale, stats.tmap)
    except np.linalg.LinAlgError:
        return np.inf, np.full(theta.shape, np.nan), np.nan
    except NotImplementedError:
        step = 1e-6 * np.maximum(1.0, np.abs(theta))
        grad = np.array([(deviance(theta + e, stats, "ml", scale)
                          - deviance(theta - e, stats, "ml", scale)) / (2 * h)
                         for e, h in zip(np.diag(step), step, strict=True)])
    value = criterion(prof, theta, stats, "ml", scale)
    sigma = np.sqrt(scale)
    return value, grad, 2 * stats.n_obs / sigma - 2 * prof.r2 / sigma**3


def deviance_gradient(theta: np.ndarray, stats: Stats, method: Method = "reml"
                      ) -> np.ndarray:
    """Exact gradient of the profiled :func:`deviance` (σ² profiled out) in ``theta``.

    Parameters
    ----------
    theta : ndarray, shape (n_theta,)
    stats : SuffStats
    method : {"reml", "ml", "map"}

    Returns
    -------
    ndarray, shape (n_theta,)
        ``nan`` where the criterion is undefined.
    """
    theta = np.asarray(theta, dtype=float)
    if isinstance(stats, BlockedStats):
        if not exact_gradient_applies(stats):
            return _central_gradient(theta, stats, method)
        return deviance_and_gradient(theta, stats, method)[1]
    tmap = stats.tmap
    try:
        prof = profile(theta, stats)
        G = _lambda_gradient(prof, stats, method)  # (m, m)
    except np.linalg.LinAlgError:
        return np.full(theta.shape, np.nan)
    grad = _in_theta(G, tmap)
    if method == "map":  # −2 Σ log θ_k over the diagonal
        diag = tmap.on_diagonal
        grad[diag] -= 2.0 / theta[diag]
    return grad


def deviance_and_gradient(theta: np.ndarray, stats: BlockedStats, method: Method = "reml"
                          ) -> tuple[float, np.ndarray]:
    """:func:`deviance` and its exact gradient from one factorisation (blocked statistics).

    Parameters
    ----------
    theta : ndarray, shape (n_theta,)
    stats : BlockedStats
        One with an exact gradient (:func:`bayesmm.blocked_gradient.exact_gradient_applies`).
    method : {"reml", "ml", "map"}

    Returns
    -------
    tuple of (float, ndarray)
        ``(inf, nan)`` where the criterion is undefined.
    """
    value, grad, _ = _blocked_evaluation(theta, stats, method, hessian=False)
    return value, grad


def deviance_gradient_ai(theta: np.ndarray, stats: BlockedStats, method: Method = "reml"
                         ) -> tuple[float, np.ndarray, np.ndarray]:
    """:func:`deviance_and_gradient` and the average-information Hessian (scalar terms).

    See :mod:`bayesmm.blocked_ai`; the MAP penalty's Hessian ``2/θ_k²`` is exact.

    Returns
    -------
    tuple of (float, ndarray, ndarray)
        ``(inf, nan, nan)`` where the criterion is undefined.
    """
    return _blocked_evaluation(theta, stats, method, hessian=True)


def _blocked_evaluation(theta: np.ndarray, stats: BlockedStats, method: Method,
                        hessian: bool) -> tuple[float, np.ndarray, np.ndarray]:
    """Criterion, exact gradient and (``hessian``) the AI Hessian from one factorisation."""
    theta = np.asarray(theta, dtype=float)
    n = theta.size
    try:
        prof = blocked_profile(theta, stats)
        g_logM, g_logA, g_r2 = gradient_parts(prof, stats)
    except np.linalg.LinAlgError:
        return np.inf, np.full(n, np.nan), np.full((n, n), np.nan)
    df = profiled_df(stats, method)
    grad = g_logM + (df / prof.r2) * g_r2
    if method != "ml":
        grad += g_logA
    H = ai_hessian(prof, stats, df, g_r2, grad) if hessian \
        else np.zeros((n, n))
    if method == "map":  # −2 Σ log θ_k over the diagonal
        diag = stats.tmap.on_diagonal
        grad[diag] -= 2.0 / theta[diag]
        H[np.flatnonzero(diag), np.flatnonzero(diag)] += 2.0 / theta[diag] ** 2
    return criterion(prof, theta, stats, method), grad, H


def _central_gradient(theta: np.ndarray, stats: Stats, method: Method) -> np.ndarray:
    """Central differences of :func:`deviance` (several factors: no closed form here yet)."""
    step = 1e-5 * np.maximum(1.0, np.abs(theta))
    grad = np.empty_like(theta)
    for k in range(theta.size):
        e = np.zeros_like(theta)
        e[k] = step[k]
        grad[k] = (deviance(theta + e, stats, method)
                   - deviance(theta - e, stats, method)) / (2 * step[k])
    return np.where(np.isfinite(grad), grad, np.nan)


def random_effect_means(prof: Profile | BlockedProfile, stats: Stats) -> np.ndarray:
    """Conditional modes (BLUPs) of the random effects at the profiled optimum.

    ``b_b = Λ M_b⁻¹ Λᵀ Z_bᵀ (y_b − X_b β̂)``; zero on a singular fit.

    Returns
    -------
    ndarray, shape (B, m)
    """
    if isinstance(prof, BlockedProfile):
        return blocked_effects(prof, stats)  # type: ignore[arg-type]
    u = stats.Zty - np.einsum("bmp,p->bm", stats.ZtX, prof.beta)  # (B, m)
    v = np.einsum("ki,bk->bi", prof.lam, u)  # (B, m)  Λᵀu
    L = prof.chol_M
    w = np.linalg.solve(np.swapaxes(L, 1, 2), np.linalg.solve(L, v[..., None]))[..., 0]
    return np.einsum("ij,bj->bi", prof.lam, w)  # (B, m)
