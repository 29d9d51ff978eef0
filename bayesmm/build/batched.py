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


def _column(values: np.ndarray) -> pt.TensorVariable:
    """A contiguous (G,) constant."""
    return pt.as_tensor(np.ascontiguousarray(values, dtype=float))


def normal_equations(
    stats: SuffStats, lam: pt.TensorVariable
) -> tuple[pt.TensorVariable, pt.TensorVariable, pt.TensorVariable, pt.TensorVariable]:
    """Σ_g log|M_g| and lme4's A (p, p), c (p,), d for a relative factor Λ (q, q).

    Everything is entrywise over the group axis: ``M_g = I + ΛᵀZ_gᵀZ_gΛ`` entry by entry,
    its unrolled Cholesky ``L_g``, ``R_g = L_g⁻¹Λᵀ[Z_gᵀX_g | Z_gᵀy_g]`` (q, p + 1) column by
    column, and ``[A c; cᵀ d] = [XᵀX Xᵀy; yᵀX yᵀy] − Σ_g R_gᵀR_g`` as sums of products. No
    matrix product remains, so PyTensor fuses the work into a few loops over G (no BLAS
    calls, which cost more than the arithmetic here and oversubscribe parallel chains).
    """
    q = int(stats.ZtZ.shape[1])
    p = int(stats.XtX.shape[0])
    lam_ = [[lam[i, j] if j <= i else None for j in range(q)] for i in range(q)]
    ztz = [[_column(stats.ZtZ[:, i, j]) for j in range(q)] for i in range(q)]
    # T = ZᵀZ Λ (entries i, b), then M = I + Λᵀ T (lower triangle a ≥ b)
    T = [[sum(ztz[i][j] * lam_[j][b] for j in range(b, q)) for b in range(q)] for i in range(q)]
    M = [[None] * q for _ in range(q)]
    for a in range(q):
        for b in range(a + 1):
            M[a][b] = sum(lam_[i][a] * T[i][b] for i in range(a, q)) + (1.0 if a == b else 0.0)
    L = unrolled_cholesky(M)  # type: ignore[arg-type]
    rhs = np.concatenate([stats.ZtX, stats.Zty[:, :, None]], axis=2)  # (G, q, p + 1)
    R = []  # R[c][k]: column c of R_g, row k, as a (G,) vector
    for c in range(p + 1):
        col = [_column(rhs[:, i, c]) for i in range(q)]
        v = [sum(lam_[i][k] * col[i] for i in range(k, q)) for k in range(q)]  # Λᵀ·
        R.append(forward_solve(L, v))
    cross = [[pt.sum(sum(R[a][k] * R[b][k] for k in range(q))) for b in range(a + 1)]
             for a in range(p + 1)]
    full = np.block([[stats.XtX, stats.Xty[:, None]],
                     [stats.Xty[None, :], np.array([[stats.yty]])]])
    S = [[full[a, b] - cross[max(a, b)][min(a, b)] for b in range(p + 1)] for a in range(p + 1)]
    A = pt.stack([pt.stack(S[a][:p]) for a in range(p)])  # (p, p)
    c_vec = pt.stack([S[a][p] for a in range(p)])  # (p,)
    logdet = 2.0 * sum(pt.sum(pt.log(L[i][i])) for i in range(q))
    return logdet, A, c_vec, S[p][p]
