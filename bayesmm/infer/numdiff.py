"""Central-difference Hessians: from function values (standard errors) or from an exact gradient."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["gradient_jacobian", "hessian"]


def hessian(fun: Callable[[np.ndarray], float], x: np.ndarray, step: np.ndarray,
            idx: np.ndarray | None = None) -> np.ndarray:
    """Central-difference Hessian of ``fun`` at ``x`` over coordinates ``idx`` (default all).

    Parameters
    ----------
    fun : callable
        Scalar function of a vector.
    x : ndarray, shape (n,)
    step : ndarray, shape (n,)
        Difference step per coordinate.
    idx : ndarray of int, optional

    Returns
    -------
    ndarray, shape (k, k)
    """
    idx = np.arange(x.size) if idx is None else np.asarray(idx)
    H = np.empty((idx.size, idx.size))
    f0 = fun(x)
    for a, i in enumerate(idx):
        for b, j in enumerate(idx[: a + 1]):
            e_i, e_j = np.zeros_like(x), np.zeros_like(x)
            e_i[i], e_j[j] = step[i], step[j]
            if i == j:
                val = (fun(x + e_i) - 2 * f0 + fun(x - e_i)) / step[i] ** 2
            else:
                val = (fun(x + e_i + e_j) - fun(x + e_i - e_j) - fun(x - e_i + e_j)
                       + fun(x - e_i - e_j)) / (4 * step[i] * step[j])
            H[a, b] = H[b, a] = val
    return H


def gradient_jacobian(grad: Callable[[np.ndarray], np.ndarray], x: np.ndarray,
                      step: np.ndarray, idx: np.ndarray | None = None) -> np.ndarray:
    """Symmetrised Hessian from central differences of an exact gradient, over ``idx``.

    Parameters
    ----------
    grad : callable
        Gradient of a scalar function, returning shape (n,).
    x : ndarray, shape (n,)
    step : ndarray, shape (n,)
        Difference step per coordinate.
    idx : ndarray of int, optional
        Coordinates (default all).

    Returns
    -------
    ndarray, shape (k, k)
    """
    idx = np.arange(x.size) if idx is None else np.asarray(idx)
    H = np.empty((idx.size, idx.size))
    for a, i in enumerate(idx):
        e = np.zeros_like(x)
        e[i] = step[i]
        H[:, a] = (grad(x + e)[idx] - grad(x - e)[idx]) / (2 * step[i])
    return 0.5 * (H + H.T)
