"""EM for the Gaussian mixture of regressions: the posterior mode under the NUTS priors.

M-steps are exact under the priors: ridge-type weighted least squares for each component's
coefficients (Normal prior); for σ_k², (S_k + 2β)/(n_k + 2a + 2) under the inverse-gamma
variance prior (after β's own conditional mode, when β is random), or the positive root of a
quadratic under a HalfNormal prior on σ_k; and (n_k + α − 1)/(N + K(α − 1)) for the weights
(Dirichlet prior). Each is a conditional maximisation (ECM: Meng and Rubin 1993), so every
step still raises the posterior.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import logsumexp

from ..build.mixture import MixturePriors, variance_scale

__all__ = ["EMFit", "fit_em", "log_posterior"]


@dataclass(frozen=True, eq=False)
class EMFit:
    """Posterior mode found by EM.

    Attributes
    ----------
    beta : ndarray, shape (K, p)
    sigma : ndarray, shape (K,)
    w : ndarray, shape (K,)
    log_posterior : float
    n_iter : int
    converged : bool
    restarts : ndarray
        Log posterior reached by every restart.
    """

    beta: np.ndarray
    sigma: np.ndarray
    w: np.ndarray
    log_posterior: float
    n_iter: int
    converged: bool
    restarts: np.ndarray


_Theta = tuple[np.ndarray, np.ndarray, np.ndarray]  # β (K, p), σ (K,), w (K,)


def _component_logpdf(y: np.ndarray, X: np.ndarray, beta: np.ndarray, sigma: np.ndarray
                      ) -> np.ndarray:
    """Compute log N(y_i | X_i β_k, σ_k), shape (N, K)."""
    mu = X @ beta.T  # (N, K)
    z = (y[:, None] - mu) / sigma
    return -0.5 * z**2 - np.log(sigma) - 0.5 * np.log(2 * np.pi)


def _log_prior(beta: np.ndarray, sigma: np.ndarray, w: np.ndarray, priors: MixturePriors
               ) -> float:
    """Log prior densities of the parameters (up to constants).

    Under the inverse-gamma variance prior with a random scale β, the density of the
    variances σ_k² and of β at β's conditional mode (:func:`variance_scale`), i.e. the
    posterior profiled over β, whose maximum is the joint mode's.
    """
    lp = -0.5 * np.sum(((beta - priors.coef_mu) / priors.coef_sd) ** 2)
    if priors.sigma_sd is not None:
        lp += -0.5 * np.sum((sigma / priors.sigma_sd) ** 2)
    else:
        b, u, a = variance_scale(priors, sigma), sigma**2, priors.var_shape  # β, (K,), a
        lp += np.sum(a * np.log(b) - (a + 1.0) * np.log(u) - b / u)
        if priors.var_scale is None:
            lp += (priors.scale_shape - 1.0) * np.log(b) - priors.scale_rate * b
    lp += (priors.alpha - 1.0) * np.sum(np.log(w))
    return float(lp)


def _e_step(y: np.ndarray, X: np.ndarray, theta: _Theta, priors: MixturePriors
            ) -> tuple[np.ndarray, float]:
    """Responsibilities (N, K) at ``theta`` = (β, σ, w), and the log posterior there."""
    beta, sigma, w = theta
    logp = _component_logpdf(y, X, beta, sigma) + np.log(w)  # (N, K)
    norm = logsumexp(logp, axis=1, keepdims=True)  # (N, 1)
    return np.exp(logp - norm), float(norm.sum()) + _log_prior(beta, sigma, w, priors)


def log_posterior(y: np.ndarray, X: np.ndarray, beta: np.ndarray, sigma: np.ndarray,
                  w: np.ndarray, priors: MixturePriors) -> float:
    """Log likelihood plus log prior densities (up to constants)."""
    return _e_step(y, X, (beta, sigma, w), priors)[1]


def _m_step(y: np.ndarray, X: np.ndarray, r: np.ndarray, priors: MixturePriors,
            sigma: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Exact conditional maximisation given responsibilities r (N, K), all K at once."""
    K, N = r.shape[1], y.size
    prec0 = 1.0 / priors.coef_sd**2  # (p,)
    s2 = sigma**2  # (K,)
    rX = r[:, :, None] * X[:, None, :]  # (N, K, p)
    A = np.einsum("nkp,nq->kpq", rX, X) / s2[:, None, None] + np.diag(prec0)  # (K, p, p)
    b = np.einsum("nkp,n->kp", rX, y) / s2[:, None] + prec0 * priors.coef_mu  # (K, p)
    beta = np.linalg.solve(A, b[:, :, None])[:, :, 0]  # (K, p)
    S = np.einsum("nk,nk->k", r, (y[:, None] - X @ beta.T) ** 2)  # (K,)
    nk = r.sum(axis=0)  # (K,)
    if priors.sigma_sd is None:
        # maximise −(n/2 + a + 1) log u − (S/2 + β)/u over u = σ², β at its conditional
        # mode given the incoming σ
        b = variance_scale(priors, sigma)
        u = (S + 2.0 * b) / (nk + 2.0 * priors.var_shape + 2.0)
    else:
        t2 = priors.sigma_sd**2
        # maximise −n log σ − S/(2σ²) − σ²/(2t²): u = σ² solves u²/t² + n u − S = 0
        u = 0.5 * t2 * (-nk + np.sqrt(nk**2 + 4.0 * S / t2))
    new_sigma = np.sqrt(np.maximum(u, 1e-12))
    w = (nk + priors.alpha - 1.0) / (N + K * (priors.alpha - 1.0))
    return beta, new_sigma, np.clip(w, 1e-12, None) / np.clip(w, 1e-12, None).sum()


def _em_step(y: np.ndarray, X: np.ndarray, theta: _Theta, priors: MixturePriors
             ) -> tuple[_Theta, float]:
    """One EM update of ``theta`` = (β, σ, w), and the log posterior at ``theta`` itself."""
    r, lp = _e_step(y, X, theta, priors)
    return _m_step(y, X, r, priors, theta[1]), lp


def _pack(theta: _Theta) -> np.ndarray:
    """(β, σ, w) on an unconstrained scale: β, log σ, log w — (K p + 2K,)."""
    beta, sigma, w = theta
    return np.concatenate([beta.ravel(), np.log(sigma), np.log(w)])


def _unpack(u: np.ndarray, K: int, p: int) -> _Theta:
    """Inverse of :func:`_pack`; the weights renormalised onto the simplex."""
    log_w = u[K * p + K:]  # (K,)
    return (u[:K * p].reshape(K, p), np.exp(u[K * p:K * p + K]),
            np.exp(log_w - logsumexp(log_w)))


def _run(y: np.ndarray, X: np.ndarray, r: np.ndarray, priors: MixturePriors,
         tol: float, max_iter: int) -> tuple[np.ndarray, ...]:
    """EM from initial responsibilities, accelerated by SQUAREM, until it stops rising.

    Overlapping components make plain EM converge linearly and slowly (hundreds to
    thousands of steps). Each cycle here takes two EM steps θ₁ = F(θ₀), θ₂ = F(θ₁) and
    extrapolates along them (Varadhan and Roland 2008, scheme S3 on β, log σ, log w):
    ``θ' = θ₀ − 2α r + α² v`` with ``r = θ₁ − θ₀``, ``v = θ₂ − 2θ₁ + θ₀``,
    ``α = min(−‖r‖/‖v‖, −1)``, then one EM step from θ'. The extrapolation is kept only
    when the log posterior at θ' is finite and at least that at θ₁ (an overflowing jump is
    silently dropped); otherwise the cycle
    ends at θ₂, as plain EM would. It stops when the log posterior at the start of two
    successive cycles differs by less than ``tol`` relative; ``max_iter`` counts EM steps.
    On 40 simulated two-component data sets (SBC's) it took half the time of plain EM
    and reached the same modes (to 2e-4; plain EM had stopped short on the one exception).
    """
    K, p = r.shape[1], X.shape[1]
    theta = _m_step(y, X, r, priors, np.full(K, float(np.std(y))))
    old, steps = -np.inf, 0
    while steps < max_iter:
        theta1, lp0 = _em_step(y, X, theta, priors)
        if np.isfinite(old) and abs(lp0 - old) < tol * (1.0 + abs(lp0)):
            return (*theta, lp0, steps, True)
        old = lp0
        theta2, lp1 = _em_step(y, X, theta1, priors)
        steps += 2
        u0, u1, u2 = _pack(theta), _pack(theta1), _pack(theta2)
        step, curve = u1 - u0, u2 - 2.0 * u1 + u0
        norm = float(np.linalg.norm(curve))
        if norm == 0.0 or not np.all(np.isfinite(u2)):
            theta = theta2
            continue
        alpha = min(-float(np.linalg.norm(step)) / norm, -1.0)
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            # a long jump can reach σ or w that overflow: judged below, then dropped
            jump = _unpack(u0 - 2.0 * alpha * step + alpha**2 * curve, K, p)
            theta3, lp_jump = _em_step(y, X, jump, priors)
        steps += 1
        good = np.isfinite(lp_jump) and lp_jump >= lp1 and np.all(np.isfinite(_pack(theta3)))
        theta = theta3 if good else theta2
    return (*theta, old, max_iter, False)


def fit_em(y: np.ndarray, X: np.ndarray, k: int, priors: MixturePriors, order: str,
           n_restarts: int = 10, seed: int | None = 0, tol: float = 1e-12,
           max_iter: int = 5000) -> EMFit:
    """Several EM runs from random hard assignments around quantiles; the best is kept."""
    rng = np.random.default_rng(seed)
    N = y.size
    best, values = None, []
    for i in range(n_restarts):
        if i == 0:  # split at quantiles of y
            labels = np.minimum((np.argsort(np.argsort(y)) * k) // N, k - 1)
        else:
            centres = rng.choice(y, size=k, replace=False)
            labels = np.argmin(np.abs(y[:, None] - centres[None]), axis=1)
        r = np.full((N, k), 1e-3)
        r[np.arange(N), labels] = 1.0
        r /= r.sum(axis=1, keepdims=True)
        out = _run(y, X, r, priors, tol, max_iter)
        values.append(out[3])
        if best is None or out[3] > best[3]:
            best = out
    beta, sigma, w, lp, it, conv = best
    const = np.flatnonzero(np.ptp(X, axis=0) == 0)
    col = int(const[0]) if const.size else 0
    perm = np.argsort(w) if order == "weights" else np.argsort(beta[:, col])
    return EMFit(beta[perm], sigma[perm], w[perm], lp, it, conv, np.array(values))
