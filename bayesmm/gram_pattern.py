"""The fixed sparsity pattern of ``K diag(v) Kᵀ``, refilled for each ``v`` by one bincount.

In the blocked factorisation (:mod:`bayesmm.blocked`) the Schur complement of the largest
factor subtracts ``W Wᵀ = Λ_r K diag(v) Kᵀ Λ_r`` from a dense block, with ``K = Z_rᵀZ_1``
fixed and only ``v`` (one weight per level of the largest factor) changing with θ. Two
smaller factors' levels meet in ``K diag(v) Kᵀ`` only where they share a level of the largest
factor (a pupil taught by two teachers), so its lower triangle is a sum over those
co-occurring pairs::

    (K diag(v) Kᵀ)_{ii'} = Σ_j K_ij K_i'j v_j      over the levels j with K_ij K_i'j ≠ 0

The pairs, their products ``K_ij K_i'j`` and the pattern slot each one adds into are found once
per data set (:func:`gram_pattern`); an evaluation is then one weighted bincount over them
(:func:`gram_values`) instead of a sparse matrix product and a dense conversion.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

__all__ = ["GramPattern", "gram_pattern", "gram_values"]


@dataclass(frozen=True, eq=False)
class GramPattern:
    """The lower-triangle pattern of ``K diag(v) Kᵀ`` and the terms that fill it.

    Attributes
    ----------
    rows, cols : ndarray of int, shape (P,)
        Positions of the pattern's entries, ``rows >= cols``.
    slot : ndarray of int, shape (T,)
        The entry each term ``K_ij K_i'j v_j`` adds into.
    level : ndarray of int, shape (T,)
        The ``j`` of each term.
    product : ndarray, shape (T,)
        ``K_ij K_i'j`` of each term.
    """

    rows: np.ndarray
    cols: np.ndarray
    slot: np.ndarray
    level: np.ndarray
    product: np.ndarray

    @property
    def diagonal(self) -> np.ndarray:
        """Whether each entry lies on the diagonal, shape (P,)."""
        return self.rows == self.cols


def _pairs(K: sp.csc_matrix) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every pair of nonzeros sharing a column, lower triangle: (i, i', j, K_ij K_i'j).

    Columns are grouped by their number of nonzeros, so each group's pairs come from one
    ``tril_indices`` table.
    """
    counts = np.diff(K.indptr)  # (m_1,)
    out: list[tuple[np.ndarray, ...]] = []
    for n in np.unique(counts[counts > 0]):
        cols = np.flatnonzero(counts == n)  # (C,)
        at = K.indptr[cols][:, None] + np.arange(n)  # (C, n) positions in indices/data
        a, b = np.tril_indices(n)  # (n(n+1)/2,)
        idx, val = K.indices[at], K.data[at]  # (C, n)
        out.append((idx[:, a].ravel(), idx[:, b].ravel(), np.repeat(cols, a.size),
                    (val[:, a] * val[:, b]).ravel()))
    if not out:
        empty = np.zeros(0, dtype=int)
        return empty, empty, empty, np.zeros(0)
    i, i2, j, prod = (np.concatenate(parts) for parts in zip(*out, strict=True))
    return np.maximum(i, i2), np.minimum(i, i2), j, prod


def gram_pattern(K: sp.spmatrix, max_terms: int) -> GramPattern | None:
    """Pattern of ``K diag(v) Kᵀ`` (K of shape (m_r, m_1)), or None if it has too many terms.

    Parameters
    ----------
    K : scipy sparse matrix, shape (m_r, m_1)
    max_terms : int
        Give up (None) when the co-occurring pairs number more than this: in a dense
        crossing every pair of levels co-occurs in every column and a sparse product is
        cheaper than the list of terms.
    """
    K = sp.csc_matrix(K)
    K.sum_duplicates()
    K.sort_indices()
    counts = np.diff(K.indptr).astype(np.int64)
    if int(np.sum(counts * (counts + 1) // 2)) > max_terms:
        return None
    i, i2, j, prod = _pairs(K)
    m = K.shape[0]
    key = i.astype(np.int64) * m + i2  # (T,)  position in the dense (m_r, m_r) block
    index = np.zeros(m * m, dtype=np.int64)  # the block itself is dense: no sort needed
    index[key] = 1
    entries = np.flatnonzero(index)  # (P,) in row-major order
    index[entries] = np.arange(entries.size)  # slot of each occupied position
    return GramPattern(rows=entries // m, cols=entries % m, slot=index[key], level=j,
                       product=prod)


def gram_values(pattern: GramPattern, v: np.ndarray) -> np.ndarray:
    """``K diag(v) Kᵀ`` on the pattern's entries, shape (P,)."""
    return np.bincount(pattern.slot, weights=pattern.product * v[pattern.level],
                       minlength=pattern.rows.size)
