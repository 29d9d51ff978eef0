"""Column moments and group sizes of the used rows: all the priors and the header need.

In-memory designs compute them from their arrays; partitioned (Dask) designs, whose rows never
reach one process, combine per-partition moments with Chan et al.'s pairwise update, so the
priors and the summary header are the same either way (to rounding).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["DataMoments", "moments_of"]


@dataclass(frozen=True, eq=False)
class DataMoments:
    """Count, mean, variance and range of each named column, and rows per group.

    Attributes
    ----------
    n : int
        Rows.
    names : tuple of str
        Column names (``"y"``, ``"X:<name>"``, ``"Z<f>:<name>"``, ``"trials"``, ``"offset"``).
    total, var, lo, hi : ndarray, shape (k,)
        Sum, population variance, minimum and maximum of every column.
    group_counts : tuple of ndarray
        Rows per level of every grouping factor, each (G_f,).
    """

    n: int
    names: tuple[str, ...]
    total: np.ndarray
    var: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    group_counts: tuple[np.ndarray, ...]

    @property
    def mean(self) -> np.ndarray:
        """Column means (k,): ``total / n``, as :func:`numpy.mean` computes them."""
        return self.total / self.n

    def column(self, name: str) -> tuple[float, float, float, float]:
        """Sum, mean, SD and range (max − min) of column ``name``."""
        j = self.names.index(name)
        return (float(self.total[j]), float(self.mean[j]), float(np.sqrt(self.var[j])),
                float(self.hi[j] - self.lo[j]))

    def combine(self, other: DataMoments) -> DataMoments:
        """Moments of the union of two disjoint sets of rows (Chan et al. 1979)."""
        if other.n == 0:
            return self
        if self.n == 0:
            return other
        n = self.n + other.n
        delta = other.mean - self.mean  # (k,)
        m2 = self.var * self.n + other.var * other.n + delta**2 * (self.n * other.n / n)
        return DataMoments(
            n, self.names, self.total + other.total, m2 / n, np.minimum(self.lo, other.lo),
            np.maximum(self.hi, other.hi),
            tuple(a + b for a, b in zip(self.group_counts, other.group_counts, strict=True)),
        )


def moments_of(columns: dict[str, np.ndarray], codes: tuple[np.ndarray, ...],
               n_levels: tuple[int, ...]) -> DataMoments:
    """Moments of 1-D ``columns`` (each (n,)) and group sizes from integer ``codes``.

    Each column is reduced on its own, contiguous, so sums and variances are bitwise those
    of :func:`numpy.sum` and :func:`numpy.var` on the column.
    """
    cols = [np.ascontiguousarray(c, dtype=float) for c in columns.values()]
    n = cols[0].shape[0]
    counts = tuple(np.bincount(c, minlength=g) for c, g in zip(codes, n_levels, strict=True))
    names = tuple(columns)
    if n == 0:
        zero = np.zeros(len(cols))
        return DataMoments(0, names, zero, zero, np.full(len(cols), np.inf),
                           np.full(len(cols), -np.inf), counts)
    return DataMoments(n, names, np.array([c.sum() for c in cols]),
                       np.array([c.var() for c in cols]), np.array([c.min() for c in cols]),
                       np.array([c.max() for c in cols]), counts)
