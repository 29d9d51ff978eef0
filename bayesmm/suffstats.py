"""Per-block sufficient statistics of the Gaussian mixed model.

A *block* is a set of observations whose random effects are independent of every other
block's: one group of a single grouping factor, or the whole data set when factors cross.
Everything downstream of this module (REML/ML/MAP, the marginal NUTS build, conditional
draws of the random effects) needs only these statistics.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from .blocked import BlockedStats, blocked_stats, factor_z
from .covariance import ThetaMap, joint_theta_map, theta_map
from .design import Design, FactorDesign

__all__ = ["SuffStats", "add_stats", "group_stats", "joint_stats", "stats_of_rows",
           "suff_stats"]


@dataclass(frozen=True, eq=False)
class SuffStats:
    """Sufficient statistics over ``B`` independent blocks of size ``m``.

    Attributes
    ----------
    ZtZ : ndarray, shape (B, m, m)
    ZtX : ndarray, shape (B, m, p)
    Zty : ndarray, shape (B, m)
    XtX : ndarray, shape (p, p)
    Xty : ndarray, shape (p,)
    yty : float
    n_obs : int
    n_per_block : ndarray, shape (B,)
    tmap : ThetaMap
        Positions of θ in the ``m x m`` relative covariance factor.
    XtX_b, Xty_b, yty_b : ndarray, optional
        Per-block ``XᵀX`` (B, p, p), ``Xᵀy`` (B, p) and ``yᵀy`` (B,), for per-group
        marginal log-likelihoods (one grouping factor only).
    """

    ZtZ: np.ndarray
    ZtX: np.ndarray
    Zty: np.ndarray
    XtX: np.ndarray
    Xty: np.ndarray
    yty: float
    n_obs: int
    n_per_block: np.ndarray
    tmap: ThetaMap
    XtX_b: np.ndarray | None = None
    Xty_b: np.ndarray | None = None
    yty_b: np.ndarray | None = None

    @property
    def p(self) -> int:
        """Number of fixed effects."""
        return self.XtX.shape[0]


CHUNK = 1 << 20  # rows per pass: temporaries stay at a few MB whatever N is


def _segment_cross(codes: np.ndarray, G: int, A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Per-group cross products Σ_rows A[:, i] B[:, j] → (G, a, b).

    One ``bincount`` per entry and chunk of :data:`CHUNK` rows (a segment sum, not
    ``np.add.at``); symmetric products (``A is B``) compute the lower triangle once.
    """
    a, b = A.shape[1], B.shape[1]
    out = np.zeros((G, a, b))
    for lo in range(0, codes.shape[0], CHUNK):
        c, Ac, Bc = codes[lo : lo + CHUNK], A[lo : lo + CHUNK], B[lo : lo + CHUNK]
        for i in range(a):
            for j in range(i + 1 if A is B else b):
                out[:, i, j] += np.bincount(c, weights=Ac[:, i] * Bc[:, j], minlength=G)
    if A is B:
        lower = np.tril_indices(a, -1)
        out[:, lower[1], lower[0]] = out[:, lower[0], lower[1]]
    return out


def group_stats(design: Design, factor: FactorDesign) -> SuffStats:
    """Statistics of a single grouping factor: one block per group (B = G, m = q)."""
    return stats_of_rows(factor.codes, factor.n_levels, factor.Z, design.X, design.y,
                         theta_map(factor))


def stats_of_rows(codes: np.ndarray, G: int, Z: np.ndarray, X: np.ndarray, y: np.ndarray,
                  tmap: ThetaMap) -> SuffStats:
    """Per-group statistics of rows with group ``codes`` (N,), ``Z`` (N, q), ``X`` (N, p)."""
    return SuffStats(
        ZtZ=_segment_cross(codes, G, Z, Z),  # (G, q, q)
        ZtX=_segment_cross(codes, G, Z, X),  # (G, q, p)
        Zty=_segment_cross(codes, G, Z, y[:, None])[:, :, 0],  # (G, q)
        XtX=X.T @ X,
        Xty=X.T @ y,
        yty=float(y @ y),
        n_obs=y.shape[0],
        n_per_block=np.bincount(codes, minlength=G),
        tmap=tmap,
        XtX_b=_segment_cross(codes, G, X, X),  # (G, p, p)
        Xty_b=_segment_cross(codes, G, X, y[:, None])[:, :, 0],  # (G, p)
        yty_b=np.bincount(codes, weights=y * y, minlength=G),  # (G,)
    )


def add_stats(a: SuffStats, b: SuffStats) -> SuffStats:
    """Statistics of the union of two disjoint sets of rows of the same groups."""
    def _sum(x: np.ndarray | None, y: np.ndarray | None) -> np.ndarray | None:
        return None if x is None or y is None else x + y

    return SuffStats(
        ZtZ=a.ZtZ + b.ZtZ, ZtX=a.ZtX + b.ZtX, Zty=a.Zty + b.Zty, XtX=a.XtX + b.XtX,
        Xty=a.Xty + b.Xty, yty=a.yty + b.yty, n_obs=a.n_obs + b.n_obs,
        n_per_block=a.n_per_block + b.n_per_block, tmap=a.tmap,
        XtX_b=_sum(a.XtX_b, b.XtX_b), Xty_b=_sum(a.Xty_b, b.Xty_b),
        yty_b=_sum(a.yty_b, b.yty_b),
    )


def joint_z(design: Design) -> sp.csr_matrix:
    """Sparse joint random-effects matrix (N, Σ_k G_k q_k) of all factors."""
    return sp.hstack([factor_z(f, design.n_obs) for f in design.factors], format="csr")


def joint_stats(design: Design) -> SuffStats:
    """Statistics of crossed factors: one block holding every level (B = 1)."""
    Z = joint_z(design)
    X, y = design.X, design.y
    return SuffStats(
        ZtZ=(Z.T @ Z).toarray()[None],
        ZtX=np.asarray(Z.T @ X)[None],
        Zty=np.asarray(Z.T @ y)[None],
        XtX=X.T @ X,
        Xty=X.T @ y,
        yty=float(y @ y),
        n_obs=y.shape[0],
        n_per_block=np.array([y.shape[0]]),
        tmap=joint_theta_map(design.factors),
    )


def suff_stats(design: Design) -> SuffStats | BlockedStats:
    """Sufficient statistics of ``design``: per group for one factor, blocked otherwise.

    Several factors give :class:`~bayesmm.blocked.BlockedStats` (lme4's blocked layout);
    :func:`joint_stats` is the dense one-block form, kept for checks on small designs.
    """
    if len(design.factors) == 1:
        return group_stats(design, design.factors[0])
    return blocked_stats(design)
