"""Small-matrix algebra over a group axis, written as elementwise PyTensor operations.

PyTensor's batched ``cholesky``/``solve`` loop over the batch in Python (measured ~100x
slower); here an ``m x m`` matrix per group is a nested list of ``(G,)`` vectors and the
Cholesky factorisation and triangular solve are unrolled. For m ≤ 2 this is the closed form.
"""

from __future__ import annotations

import pytensor.tensor as pt

__all__ = ["chol_logdet_quad"]

Entries = list[list[pt.TensorVariable]]


def unrolled_cholesky(M: Entries) -> Entries:
    """Lower Cholesky factor of symmetric positive-definite matrices given entrywise.

    Parameters
    ----------
    M : list of list of TensorVariable
        ``M[i][j]`` is the (G,) vector of entry (i, j); only ``j <= i`` is read.

    Returns
    -------
    list of list of TensorVariable
        ``L[i][j]`` for ``j <= i``.
    """
    m = len(M)
    L: Entries = [[None] * m for _ in range(m)]  # type: ignore[list-item]
    for j in range(m):
        acc = M[j][j]
        for k in range(j):
            acc = acc - L[j][k] ** 2
        L[j][j] = pt.sqrt(acc)
        for i in range(j + 1, m):
            acc = M[i][j]
            for k in range(j):
                acc = acc - L[i][k] * L[j][k]
            L[i][j] = acc / L[j][j]
    return L


def forward_solve(L: Entries, v: list[pt.TensorVariable]) -> list[pt.TensorVariable]:
    """Solve ``L w = v`` for every group (lower-triangular, entrywise)."""
    w: list[pt.TensorVariable] = []
    for i in range(len(v)):
        acc = v[i]
        for k in range(i):
            acc = acc - L[i][k] * w[k]
        w.append(acc / L[i][i])
    return w


def chol_logdet_quad(
    M: pt.TensorVariable, v: pt.TensorVariable
) -> tuple[pt.TensorVariable, pt.TensorVariable]:
    """Σ_g log|M_g| and Σ_g v_gᵀ M_g⁻¹ v_g for M (G, m, m) and v (G, m) with static m."""
    m = int(M.type.shape[-1])
    entries = [[M[:, i, j] for j in range(m)] for i in range(m)]
    L = unrolled_cholesky(entries)
    w = forward_solve(L, [v[:, i] for i in range(m)])
    logdet = 2.0 * sum(pt.sum(pt.log(L[i][i])) for i in range(m))
    quad = sum(pt.sum(wi**2) for wi in w)
    return logdet, quad
