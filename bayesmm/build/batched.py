"""Small-matrix algebra over a group axis, written as elementwise PyTensor operations.

PyTensor's batched ``cholesky``/``solve`` loop over the batch in Python (measured ~100x
slower); here an ``m x m`` matrix per group is a nested list of ``(G,)`` vectors and the
Cholesky factorisation and triangular solve are unrolled. For m ≤ 2 this is the closed form.
"""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from ..suffstats import SuffStats

__all__ = ["forward_solve", "normal_equations", "stats_data", "swap_stats", "unrolled_cholesky"]

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


STAT_NAMES = ("ZtZ", "ZtX", "Zty", "XtX", "Xty", "yty")


def stats_data(stats: SuffStats) -> dict[str, pt.TensorVariable]:
    """Register the statistics as data containers (``_ZtZ``, …) of the current model.

    As inputs rather than constants, they can be swapped with :func:`swap_stats` for data of
    the same shape without rebuilding or recompiling the model (simulation-based
    calibration does that hundreds of times).
    """
    return {name: pm.Data(f"_{name}", np.asarray(getattr(stats, name), dtype=float))
            for name in STAT_NAMES}


def swap_stats(model: pm.Model, stats: SuffStats) -> None:
    """Point a marginal model's data containers at new statistics of the same shape."""
    pm.set_data({f"_{name}": np.asarray(getattr(stats, name), dtype=float)
                 for name in STAT_NAMES}, model=model)


def normal_equations(
    stats: dict[str, pt.TensorVariable], lam: pt.TensorVariable, q: int, p: int
) -> tuple[pt.TensorVariable, pt.TensorVariable, pt.TensorVariable, pt.TensorVariable]:
    """Σ_g log|M_g| and lme4's A (p, p), c (p,), d for a relative factor Λ (q, q).

    Everything is entrywise over the group axis: ``M_g = I + ΛᵀZ_gᵀZ_gΛ`` entry by entry,
    its unrolled Cholesky ``L_g``, ``R_g = L_g⁻¹Λᵀ[Z_gᵀX_g | Z_gᵀy_g]`` (q, p + 1) column by
    column, and ``[A c; cᵀ d] = [XᵀX Xᵀy; yᵀX yᵀy] − Σ_g R_gᵀR_g`` as sums of products. No
    matrix product remains, so PyTensor fuses the work into a few loops over G (no BLAS
    calls, which cost more than the arithmetic here and oversubscribe parallel chains).

    Parameters
    ----------
    stats : dict
        The statistics as tensors (see :func:`stats_data`): ZtZ (G, q, q), ZtX (G, q, p),
        Zty (G, q), XtX (p, p), Xty (p,), yty ().
    lam : TensorVariable, shape (q, q)
    q, p : int
        Random-effect columns and fixed effects.
    """
    lam_ = [[lam[i, j] if j <= i else None for j in range(q)] for i in range(q)]
    ztz = [[stats["ZtZ"][:, i, j] for j in range(q)] for i in range(q)]
    # T = ZᵀZ Λ (entries i, b), then M = I + Λᵀ T (lower triangle a ≥ b)
    T = [[sum(ztz[i][j] * lam_[j][b] for j in range(b, q)) for b in range(q)] for i in range(q)]
    M = [[None] * q for _ in range(q)]
    for a in range(q):
        for b in range(a + 1):
            M[a][b] = sum(lam_[i][a] * T[i][b] for i in range(a, q)) + (1.0 if a == b else 0.0)
    L = unrolled_cholesky(M)  # type: ignore[arg-type]
    R = []  # R[c][k]: column c of R_g, row k, as a (G,) vector
    for c in range(p + 1):
        col = [stats["ZtX"][:, i, c] if c < p else stats["Zty"][:, i] for i in range(q)]
        v = [sum(lam_[i][k] * col[i] for i in range(k, q)) for k in range(q)]  # Λᵀ·
        R.append(forward_solve(L, v))

    def full(a: int, b: int) -> pt.TensorVariable:
        if a < p and b < p:
            return stats["XtX"][a, b]
        return stats["yty"] if a == b == p else stats["Xty"][min(a, b)]

    cross = [[pt.sum(sum(R[a][k] * R[b][k] for k in range(q))) for b in range(a + 1)]
             for a in range(p + 1)]
    S = [[full(a, b) - cross[max(a, b)][min(a, b)] for b in range(p + 1)] for a in range(p + 1)]
    A = pt.stack([pt.stack(S[a][:p]) for a in range(p)])  # (p, p)
    c_vec = pt.stack([S[a][p] for a in range(p)])  # (p,)
    logdet = 2.0 * sum(pt.sum(pt.log(L[i][i])) for i in range(q))
    return logdet, A, c_vec, S[p][p]
