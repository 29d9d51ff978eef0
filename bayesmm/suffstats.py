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

from .covariance import ThetaMap, joint_theta_map, theta_map
from .design import Design, FactorDesign

__all__ = ["SuffStats", "group_stats", "suff_stats"]


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


def _segment_cross(codes: np.ndarray, G: int, A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Per-group cross products Σ_rows A[:, i] B[:, j] → (G, a, b) with ``bincount``."""
    out = np.empty((G, A.shape[1], B.shape[1]))
    for i in range(A.shape[1]):
        for j in range(B.shape[1]):
            out[:, i, j] = np.bincount(codes, weights=A[:, i] * B[:, j], minlength=G)
    return out


def group_stats(design: Design, factor: FactorDesign) -> SuffStats:
    """Statistics of a single grouping factor: one block per group (B = G, m = q)."""
    G, codes = factor.n_levels, factor.codes
    Z, X, y = factor.Z, design.X, design.y
    return SuffStats(
        ZtZ=_segment_cross(codes, G, Z, Z),  # (G, q, q)
        ZtX=_segment_cross(codes, G, Z, X),  # (G, q, p)
        Zty=_segment_cross(codes, G, Z, y[:, None])[:, :, 0],  # (G, q)
        XtX=X.T @ X,
        Xty=X.T @ y,
        yty=float(y @ y),
        n_obs=y.shape[0],
        n_per_block=np.bincount(codes, minlength=G),
        tmap=theta_map(factor),
        XtX_b=_segment_cross(codes, G, X, X),  # (G, p, p)
        Xty_b=_segment_cross(codes, G, X, y[:, None])[:, :, 0],  # (G, p)
        yty_b=np.bincount(codes, weights=y * y, minlength=G),  # (G,)
    )


def joint_z(design: Design) -> sp.csr_matrix:
    """Sparse joint random-effects matrix (N, Σ_k G_k q_k) of all factors."""
    parts = []
    n = design.n_obs
    for f in design.factors:
        cols = f.codes[:, None] * f.q + np.arange(f.q)  # (N, q)
        rows = np.repeat(np.arange(n), f.q)
        shape = (n, f.n_levels * f.q)
        parts.append(sp.csr_matrix((f.Z.ravel(), (rows, cols.ravel())), shape=shape))
    return sp.hstack(parts, format="csr")


def _joint_stats(design: Design) -> SuffStats:
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


def suff_stats(design: Design) -> SuffStats:
    """Sufficient statistics of ``design``: per group for one factor, joint otherwise."""
    if len(design.factors) == 1:
        return group_stats(design, design.factors[0])
    return _joint_stats(design)
