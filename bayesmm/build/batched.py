"""Small-matrix algebra over a group axis, written as elementwise PyTensor operations.

PyTensor's batched ``cholesky``/``solve`` loop over the batch in Python (measured ~100x
slower); here an ``m x m`` matrix per group is a nested list of ``(G,)`` vectors and the
Cholesky factorisation and triangular solve are unrolled. For m ≤ 2 this is the closed form.
"""

from __future__ import annotations

import numpy as np
import pytensor.tensor as pt

from ..suffstats import SuffStats

__all__ = ["forward_solve", "normal_equations", "unrolled_cholesky"]

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


def normal_equations(
    stats: SuffStats, lam: pt.TensorVariable
) -> tuple[pt.TensorVariable, pt.TensorVariable, pt.TensorVariable, pt.TensorVariable]:
    """Σ_g log|M_g| and lme4's A (p, p), c (p,), d for a relative factor Λ (q, q).

    ``R_g = L_g⁻¹Λᵀ[Z_gᵀX_g | Z_gᵀy_g]`` (q, p + 1) by an unrolled forward solve per group;
    ``[A c; cᵀ d] = [XᵀX Xᵀy; yᵀX yᵀy] − Σ_g R_gᵀR_g``.
    """
    q = int(stats.ZtZ.shape[1])
    p = int(stats.XtX.shape[0])
    ZtZ = pt.as_tensor(stats.ZtZ)  # (G, q, q)
    W = pt.tensordot(pt.tensordot(ZtZ, lam, axes=[[2], [0]]), lam, axes=[[1], [0]])
    M = W.dimshuffle(0, 2, 1) + pt.as_tensor(np.eye(q))  # (G, q, q)   I + ΛᵀZᵀZΛ
    L = unrolled_cholesky([[M[:, i, j] for j in range(q)] for i in range(q)])
    rhs = np.concatenate([stats.ZtX, stats.Zty[:, :, None]], axis=2)
    lrhs = pt.tensordot(pt.as_tensor(rhs), lam, axes=[[1], [0]])  # (G, p + 1, q)   Λᵀ·
    Lcol = [[None if e is None else e[:, None] for e in row] for row in L]
    R = forward_solve(Lcol, [lrhs[:, :, i] for i in range(q)])  # q × (G, p + 1)
    cross = sum(pt.dot(r.T, r) for r in R)  # (p + 1, p + 1)
    full = np.block([[stats.XtX, stats.Xty[:, None]],
                     [stats.Xty[None, :], np.array([[stats.yty]])]])
    S = full - cross
    logdet = 2.0 * sum(pt.sum(pt.log(L[i][i])) for i in range(q))
    return logdet, S[:p, :p], S[:p, p], S[p, p]
