"""The blocks of ``ZᵀWZ`` for changing row weights W (PIRLS), on fixed index maps.

Penalised IRLS refactors ``ΛᵀZᵀWZΛ + I`` at every Newton step with new weights. The
pattern of ``ZᵀWZ`` never changes, so the entries each row contributes are listed once —
its largest-factor block ``D_1`` (q₁×q₁ per level), the sparse ``Z_rᵀWZ_1`` and the dense
``Z_rᵀWZ_r`` of the smaller factors — and each step only sums the weighted products into
their slots (``numpy.bincount``), in O(N (q₁ + n_r)²) with no sparse products.
:func:`bayesmm.blocked.blocked_factor` then factors the blocks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from .blocked import BlockedFactor, all_scalar, blocked_factor, elimination_order
from .covariance import ThetaMap, lambda_from_theta
from .design import Design, FactorDesign

__all__ = ["WeightedCross", "weighted_cross", "weighted_factor"]

# Z_rᵀWZ_1 is handled dense up to this many entries when at least this share is nonzero
# (crossed subjects × items: all of them; an observation-level factor: ~1 %, kept sparse)
_DENSE_MAX = 400_000
_DENSE_FILL = 0.05


@dataclass(frozen=True, eq=False)
class _Entries:
    """Rows, products and target slots of one block's contributions."""

    rows: np.ndarray  # (E,)
    values: np.ndarray  # (E,)
    slots: np.ndarray  # (E,)
    size: int  # number of slots


@dataclass(frozen=True, eq=False)
class WeightedCross:
    """Index maps of ``ZᵀWZ``'s blocks, the largest factor first.

    Attributes
    ----------
    order : tuple of int
        Factor positions, most levels first.
    levels : tuple of int
    templates : tuple of ThetaMap
        Each factor's template, in ``order``.
    offsets : tuple of int
        Where each factor's θ starts in the joint θ.
    perm : ndarray of int, shape (m,)
        Joint (design order) index of each blocked position.
    d1, k, rr : _Entries
        Contributions to ``D_1`` (G1 q1 q1 slots), ``Z_rᵀWZ_1`` (its nonzeros) and
        ``Z_rᵀWZ_r`` (m_r² slots).
    k_indices, k_indptr : ndarray
        CSR pattern of ``Z_rᵀWZ_1``.
    m1, mr : int
    """

    order: tuple[int, ...]
    levels: tuple[int, ...]
    templates: tuple[ThetaMap, ...]
    offsets: tuple[int, ...]
    perm: np.ndarray
    d1: _Entries
    k: _Entries
    rr: _Entries
    k_indices: np.ndarray
    k_indptr: np.ndarray
    m1: int
    mr: int

    @property
    def dense_k(self) -> bool:
        """Whether ``Z_rᵀWZ_1`` is small enough to handle dense (scalar terms only)."""
        scalar = all_scalar(self.templates)
        size = self.mr * self.m1
        return scalar and size <= _DENSE_MAX and self.k_indices.size >= _DENSE_FILL * size

    @property
    def k_indices_flat(self) -> np.ndarray:
        """Positions of ``Z_rᵀWZ_1``'s nonzeros in its row-major dense form."""
        rows = np.repeat(np.arange(self.mr), np.diff(self.k_indptr))
        return rows * self.m1 + self.k_indices


def _columns(factors: list[FactorDesign], n: int) -> tuple[np.ndarray, np.ndarray]:
    """Columns (N, n_c) and values (N, n_c) of the rows of ``[Z_f ...]`` side by side."""
    cols, vals, start = [], [], 0
    for f in factors:
        cols.append(start + f.codes[:, None] * f.q + np.arange(f.q))  # (N, q)
        vals.append(f.Z)  # (N, q)
        start += f.n_levels * f.q
    if not cols:
        return np.zeros((n, 0), dtype=int), np.zeros((n, 0))
    return np.concatenate(cols, axis=1), np.concatenate(vals, axis=1)


def _pairs(ca: np.ndarray, va: np.ndarray, cb: np.ndarray, vb: np.ndarray
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Every (row, column a, column b, product) of two row-wise column lists."""
    n, na = ca.shape
    nb = cb.shape[1]
    rows = np.repeat(np.arange(n), na * nb)
    a = np.repeat(ca, nb, axis=1).ravel()
    b = np.tile(cb, (1, na)).ravel()
    prod = (va[:, :, None] * vb[:, None, :]).ravel()
    return rows, a, b, prod


def weighted_cross(design: Design) -> WeightedCross:
    """List the entries of ``ZᵀWZ``'s blocks once for ``design``'s factors."""
    factors = design.factors
    order, templates, offsets = elimination_order(factors)
    sizes = [f.n_levels * f.q for f in factors]
    joint_start = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(int)
    perm = np.concatenate([joint_start[k] + np.arange(sizes[k]) for k in order])
    f1 = factors[order[0]]
    m1, mr = sizes[order[0]], int(sum(sizes[k] for k in order[1:]))
    c1, v1 = _columns([f1], design.n_obs)
    cr, vr = _columns([factors[k] for k in order[1:]], design.n_obs)
    rows, a, b, prod = _pairs(c1, v1, c1 - (c1 // f1.q * f1.q), v1)  # b: within-level
    d1 = _Entries(rows, prod, a * f1.q + b, m1 * f1.q)  # slot g q² + i q + j = (g q + i) q + j
    rows, a, b, prod = _pairs(cr, vr, c1, v1)
    key = a.astype(np.int64) * m1 + b
    uniq, slots = np.unique(key, return_inverse=True)
    k = _Entries(rows, prod, slots, uniq.size)
    k_rows, k_cols = uniq // m1, uniq % m1
    k_indptr = np.searchsorted(k_rows, np.arange(mr + 1)).astype(np.int64)
    rows, a, b, prod = _pairs(cr, vr, cr, vr)
    rr = _Entries(rows, prod, a.astype(np.int64) * mr + b, mr * mr)
    return WeightedCross(order, tuple(factors[k].n_levels for k in order), templates,
                         offsets, perm, d1, k, rr,
                         k_cols.astype(np.int64), k_indptr, m1, mr)


def _sum(entries: _Entries, w: np.ndarray) -> np.ndarray:
    """Σ over a block's entries of w[row] × product, per slot."""
    return np.bincount(entries.slots, weights=w[entries.rows] * entries.values,
                       minlength=entries.size)


def weighted_factor(wc: WeightedCross, theta: np.ndarray, w: np.ndarray) -> BlockedFactor:
    """Blocked Cholesky factor of ``ΛᵀZᵀWZΛ + I`` at ``theta`` for row weights ``w`` (N,).

    Raises
    ------
    numpy.linalg.LinAlgError
        When the matrix is not positive definite (negative or non-finite weights).
    """
    theta = np.asarray(theta, dtype=float)
    T = tuple(lambda_from_theta(theta[o: o + t.n_theta], t)
              for t, o in zip(wc.templates, wc.offsets, strict=True))
    q1 = T[0].shape[0]
    D1 = _sum(wc.d1, w).reshape(-1, q1, q1)  # (G1, q1, q1)
    K: sp.csr_matrix | np.ndarray
    if wc.dense_k:
        K = np.zeros(wc.mr * wc.m1)
        K[wc.k_indices_flat] = _sum(wc.k, w)
        K = K.reshape(wc.mr, wc.m1)  # (m_r, m_1)
    else:
        K = sp.csr_matrix((_sum(wc.k, w), wc.k_indices, wc.k_indptr), shape=(wc.mr, wc.m1))
    RR = _sum(wc.rr, w).reshape(wc.mr, wc.mr)  # (m_r, m_r)
    return blocked_factor(T, wc.levels, D1, K, RR)
