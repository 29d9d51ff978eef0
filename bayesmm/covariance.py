"""Relative covariance factor Λ of one grouping factor, parameterised by θ (lme4's ``Lind``).

``Ψ = σ² Λ Λᵀ`` with Λ lower-triangular; every structural non-zero of Λ is ``θ[k]`` for
one ``k``. Diagonal entries are bounded below by zero.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .design import FactorDesign

__all__ = ["ThetaMap", "joint_theta_map", "lambda_from_theta", "theta_from_cov", "theta_map"]


@dataclass(frozen=True, eq=False)
class ThetaMap:
    """Positions of θ in an ``m x m`` lower-triangular Λ.

    Attributes
    ----------
    m : int
        Size of Λ.
    rows, cols, index : ndarray of int
        Λ[rows[k], cols[k]] = θ[index[k]].
    on_diagonal : ndarray of bool, shape (n_theta,)
        Whether θ[i] is a diagonal element (bounded at 0).
    names : tuple of str
        A name per θ, e.g. ``"Pig: Intercept"``.
    """

    m: int
    rows: np.ndarray
    cols: np.ndarray
    index: np.ndarray
    on_diagonal: np.ndarray
    names: tuple[str, ...]

    @property
    def n_theta(self) -> int:
        """Number of covariance parameters."""
        return self.on_diagonal.shape[0]

    def initial(self) -> np.ndarray:
        """lme4's starting value: 1 on the diagonal, 0 elsewhere."""
        return self.on_diagonal.astype(float)

    def bounds(self) -> list[tuple[float | None, float | None]]:
        """Optimiser bounds: θ ≥ 0 on the diagonal, free elsewhere."""
        return [(0.0, None) if d else (None, None) for d in self.on_diagonal]


Entry = tuple[int, int, int]


def _factor_entries(factor: FactorDesign) -> tuple[list[Entry], list[bool], list[str]]:
    """(row, col, θ index) entries, diagonal flags and names for one factor."""
    entries: list[tuple[int, int, int]] = []
    diag: list[bool] = []
    names: list[str] = []
    for block in factor.blocks:
        if block.kind == "vc":
            k = len(diag)
            entries.extend((c, c, k) for c in block.cols)
            diag.append(True)
            names.append(f"{factor.label}: {block.name}")
            continue
        for i, ci in enumerate(block.cols):
            for cj in block.cols[: i + 1]:
                entries.append((ci, cj, len(diag)))
                diag.append(ci == cj)
                names.append(
                    f"{factor.label}: {factor.znames[ci]}"
                    if ci == cj
                    else f"{factor.label}: {factor.znames[ci]},{factor.znames[cj]}"
                )
    return entries, diag, names


def theta_map(factor: FactorDesign) -> ThetaMap:
    """Template of the ``q x q`` Λ shared by every group of ``factor``."""
    entries, diag, names = _factor_entries(factor)
    arr = np.array(entries, dtype=np.int64).reshape(-1, 3)
    return ThetaMap(factor.q, arr[:, 0], arr[:, 1], arr[:, 2], np.array(diag), tuple(names))


def joint_theta_map(factors: tuple[FactorDesign, ...]) -> ThetaMap:
    """Template of the block-diagonal Λ of several (crossed) factors.

    Columns are ordered factor by factor, then level by level, then by the factor's
    random-effect column.
    """
    rows, cols, index, diag, names = [], [], [], [], []
    offset = 0
    for factor in factors:
        entries, fdiag, fnames = _factor_entries(factor)
        arr = np.array(entries, dtype=np.int64).reshape(-1, 3)
        base = offset + factor.q * np.arange(factor.n_levels)[:, None]  # (G, 1)
        rows.append((base + arr[:, 0]).ravel())
        cols.append((base + arr[:, 1]).ravel())
        shape = (factor.n_levels, arr.shape[0])
        index.append(np.broadcast_to(arr[:, 2] + len(diag), shape).ravel())
        diag.extend(fdiag)
        names.extend(fnames)
        offset += factor.q * factor.n_levels
    return ThetaMap(
        offset,
        np.concatenate(rows),
        np.concatenate(cols),
        np.concatenate(index),
        np.array(diag),
        tuple(names),
    )


def lambda_from_theta(theta: np.ndarray, tmap: ThetaMap) -> np.ndarray:
    """Assemble Λ (m, m) from θ."""
    lam = np.zeros((tmap.m, tmap.m))
    lam[tmap.rows, tmap.cols] = np.asarray(theta)[tmap.index]
    return lam


def theta_from_cov(rel_cov: np.ndarray, tmap: ThetaMap) -> np.ndarray:
    """θ of one factor's template from its relative covariance Ψ/σ² (q, q).

    The inverse of ``Λ Λᵀ`` with Λ from :func:`lambda_from_theta`: Λ is the lower Cholesky
    factor of ``rel_cov``, read at the template's entries (its diagonal alone for
    uncorrelated terms, whose ``rel_cov`` is then diagonal). A zero pivot (a variance at 0,
    a boundary fit) gives a zero column, as lme4's θ there.

    Raises
    ------
    numpy.linalg.LinAlgError
        When ``rel_cov`` is not positive semidefinite.
    """
    cov = np.asarray(rel_cov, dtype=float)
    q = cov.shape[0]
    lam = np.zeros((q, q))
    for j in range(q):
        pivot = cov[j, j] - lam[j, :j] @ lam[j, :j]
        if pivot < -1e-12 * max(1.0, abs(cov[j, j])):
            raise np.linalg.LinAlgError("covariance not positive semidefinite")
        lam[j, j] = np.sqrt(max(pivot, 0.0))
        if lam[j, j] > 0.0:
            lam[j + 1:, j] = (cov[j + 1:, j] - lam[j + 1:, :j] @ lam[j, :j]) / lam[j, j]
    theta = np.zeros(tmap.n_theta)
    theta[tmap.index] = lam[tmap.rows, tmap.cols]
    return theta
