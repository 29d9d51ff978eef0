"""EM for the Gaussian mixture of regressions: the posterior mode under the NUTS priors.

M-steps are exact under the priors: ridge-type weighted least squares for each component's
coefficients (Normal prior), the positive root of a quadratic for σ_k² (HalfNormal prior on
σ_k) and (n_k + α − 1)/(N + K(α − 1)) for the weights (Dirichlet prior).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import logsumexp

from ..build.mixture import MixturePriors

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


def _component_logpdf(y: np.ndarray, X: np.ndarray, beta: np.ndarray, sigma: np.ndarray
                      ) -> np.ndarray:
    """Compute log N(y_i | X_i β_k, σ_k), shape (N, K)."""
    mu = X @ beta.T  # (N, K)
    z = (y[:, None] - mu) / sigma
    return -0.5 * z**2 - np.log(sigma) - 0.5 * np.log(2 * np.pi)


def log_posterior(y: np.ndarray, X: np.ndarray, beta: np.ndarray, sigma: np.ndarray,
                  w: np.ndarray, priors: MixturePriors) -> float:
    """Log likelihood plus log prior densities (up to constants)."""
    ll = logsumexp(_component_logpdf(y, X, beta, sigma) + np.log(w), axis=1).sum()
    lp = -0.5 * np.sum(((beta - priors.coef_mu) / priors.coef_sd) ** 2)
    lp += -0.5 * np.sum((sigma / priors.sigma_sd) ** 2)
    lp += (priors.alpha - 1.0) * np.sum(np.log(w))
    return float(ll + lp)


def _m_step(y: np.ndarray, X: np.ndarray, r: np.ndarray, priors: MixturePriors,
            sigma: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Exact conditional maximisation given responsibilities r (N, K)."""
    K = r.shape[1]
    N = y.size
    prec0 = 1.0 / priors.coef_sd**2  # (p,)
    beta = np.empty((K, X.shape[1]))
    new_sigma = np.empty(K)
    for k in range(K):
        wk = r[:, k]
        s2 = sigma[k] ** 2
        A = (X * wk[:, None]).T @ X / s2 + np.diag(prec0)
        b = (X * wk[:, None]).T @ y / s2 + prec0 * priors.coef_mu
        beta[k] = np.linalg.solve(A, b)
        S = float(np.sum(wk * (y - X @ beta[k]) ** 2))
        nk, t2 = float(wk.sum()), priors.sigma_sd**2
        # maximise −n log σ − S/(2σ²) − σ²/(2t²): u = σ² solves u²/t² + n u − S = 0
        u = 0.5 * t2 * (-nk + np.sqrt(nk**2 + 4.0 * S / t2))
        new_sigma[k] = np.sqrt(max(u, 1e-12))
    nk = r.sum(axis=0)
    w = (nk + priors.alpha - 1.0) / (N + K * (priors.alpha - 1.0))
    return beta, new_sigma, np.clip(w, 1e-12, None) / np.clip(w, 1e-12, None).sum()


def _run(y: np.ndarray, X: np.ndarray, r: np.ndarray, priors: MixturePriors,
         tol: float, max_iter: int) -> tuple[np.ndarray, ...]:
    """EM from initial responsibilities until the log posterior stops increasing."""
    sigma = np.full(r.shape[1], float(np.std(y)))
    beta, sigma, w = _m_step(y, X, r, priors, sigma)
    old = -np.inf
    for it in range(1, max_iter + 1):
        logp = _component_logpdf(y, X, beta, sigma) + np.log(w)  # (N, K)
        r = np.exp(logp - logsumexp(logp, axis=1, keepdims=True))
        beta, sigma, w = _m_step(y, X, r, priors, sigma)
        new = log_posterior(y, X, beta, sigma, w, priors)
        if abs(new - old) < tol * (1.0 + abs(new)):
            return beta, sigma, w, new, it, True
        old = new
    return beta, sigma, w, old, max_iter, False


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
