"""Central-difference Hessians: from function values (standard errors) or from an exact gradient."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["gradient_jacobian", "hessian", "richardson_hessian", "richardson_jacobian"]


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


def richardson_hessian(fun: Callable[[np.ndarray], float], x: np.ndarray, step: np.ndarray
                       ) -> np.ndarray:
    """Central-difference Hessian at steps ``h`` and ``h/2``, extrapolated: O(h⁴) error.

    Parameters
    ----------
    fun : callable
        Scalar function of a vector.
    x : ndarray, shape (n,)
    step : ndarray, shape (n,)

    Returns
    -------
    ndarray, shape (n, n)
    """
    return (4.0 * hessian(fun, x, step / 2) - hessian(fun, x, step)) / 3.0


def _central_jacobian(fun: Callable[[np.ndarray], np.ndarray], x: np.ndarray,
                      step: np.ndarray) -> np.ndarray:
    """Central differences of a vector function, shape (n, *fun(x).shape)."""
    out = []
    for i in range(x.size):
        e = np.zeros_like(x)
        e[i] = step[i]
        out.append((np.asarray(fun(x + e)) - np.asarray(fun(x - e))) / (2 * step[i]))
    return np.stack(out)


def richardson_jacobian(fun: Callable[[np.ndarray], np.ndarray], x: np.ndarray,
                        step: np.ndarray) -> np.ndarray:
    """Differentiate an array-valued ``fun`` in each coordinate (Richardson-extrapolated).

    Parameters
    ----------
    fun : callable
        Array-valued function of a vector.
    x : ndarray, shape (n,)
    step : ndarray, shape (n,)

    Returns
    -------
    ndarray, shape (n, *fun(x).shape)
        Entry ``i`` is ``∂fun/∂x_i``.
    """
    return (4.0 * _central_jacobian(fun, x, step / 2) - _central_jacobian(fun, x, step)) / 3.0
