"""Fixed-step finite differences through ``scipy.differentiate``, for functions of one point.

scipy's differentiators evaluate a *vectorised* function at many points per call and refine
the step until a tolerance is met. The package's functions (a deviance, a score) take one
parameter vector, and the step is chosen from the problem's scale (rounding noise of a
log-likelihood of ~10³), so every call here runs scipy with one iteration at the given step:
``order=2`` is the central difference, ``order=4`` with ``step_factor=2`` the
Richardson-extrapolated one (steps h and h/2, O(h⁴) error).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import differentiate

__all__ = ["gradient_jacobian", "hessian", "richardson_hessian", "richardson_jacobian"]

_CENTRAL = {"order": 2, "maxiter": 1}
_RICHARDSON = {"order": 4, "maxiter": 1, "step_factor": 2.0}


def _pointwise(fun: Callable[[np.ndarray], object], x: np.ndarray,
               idx: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """Adapt a function of one full vector to scipy's ``(k, *batch) -> (*out, *batch)`` calls.

    Only the coordinates ``idx`` of ``x`` vary. Points scipy asks for more than once (the centre
    of every coordinate's stencil) are evaluated once.
    """
    memo: dict[bytes, np.ndarray] = {}

    def at(z: np.ndarray) -> np.ndarray:
        key = z.tobytes()
        if key not in memo:
            full = x.copy()
            full[idx] = z
            memo[key] = np.asarray(fun(full), dtype=float)
        return memo[key]

    def batched(z: np.ndarray) -> np.ndarray:  # z: (k, *batch)
        k, batch = z.shape[0], z.shape[1:]
        cols = z.reshape(k, -1)  # (k, m)
        vals = np.stack([at(np.ascontiguousarray(cols[:, j])) for j in range(cols.shape[1])],
                        axis=-1)  # (*out, m)
        return vals.reshape(vals.shape[:-1] + batch)

    return batched


def _coords(x: np.ndarray, idx: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(x, dtype=float)
    return x, (np.arange(x.size) if idx is None else np.asarray(idx))


def _symmetric(H: np.ndarray) -> np.ndarray:
    return 0.5 * (H + H.T)


def _scaled_hessian(fun: Callable[[np.ndarray], float], x: np.ndarray, step: np.ndarray,
                    idx: np.ndarray, rule: dict[str, float]) -> np.ndarray:
    """Hessian in ``u`` with ``x[idx] = x[idx] + step[idx]·u``, then back to ``x``'s scale.

    scipy's ``hessian`` takes one step for its nested Jacobians, so per-coordinate steps are
    expressed as a change of variables with a unit step.
    """
    h = step[idx]  # (k,)

    def in_u(u: np.ndarray) -> float:
        full = x.copy()
        full[idx] += h * u[idx]
        return fun(full)

    origin = np.zeros_like(x)
    res = differentiate.hessian(_pointwise(in_u, origin, idx), origin[idx], initial_step=1.0,
                                **rule)
    return _symmetric(res.ddf / np.outer(h, h))  # (k, k)


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
        NaN where ``fun`` was not finite at a point of the stencil.
    """
    x, idx = _coords(x, idx)
    return _scaled_hessian(fun, x, np.asarray(step, dtype=float), idx, _CENTRAL)


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
    x, idx = _coords(x, idx)
    sub = _pointwise(lambda v: np.asarray(grad(v))[idx], x, idx)
    res = differentiate.jacobian(sub, x[idx], initial_step=np.asarray(step, dtype=float)[idx],
                                 **_CENTRAL)
    return _symmetric(res.df)  # (k, k)


def richardson_hessian(fun: Callable[[np.ndarray], float], x: np.ndarray, step: np.ndarray
                       ) -> np.ndarray:
    """Hessian from differences at steps ``h`` and ``h/2``, extrapolated: O(h⁴) error.

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
    x, idx = _coords(x, None)
    return _scaled_hessian(fun, x, np.asarray(step, dtype=float), idx, _RICHARDSON)


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
    x, idx = _coords(x, None)
    shape: tuple[int, ...] = ()

    def flat(v: np.ndarray) -> np.ndarray:
        nonlocal shape
        out = np.asarray(fun(v))
        shape = out.shape
        return out.ravel()

    res = differentiate.jacobian(_pointwise(flat, x, idx), x,
                                 initial_step=np.asarray(step, dtype=float), **_RICHARDSON)
    return np.moveaxis(res.df, -1, 0).reshape((x.size, *shape))  # (n, *shape)
