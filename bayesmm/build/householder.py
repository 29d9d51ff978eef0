"""The Householder reflection that takes the first axis onto the mean direction."""

from __future__ import annotations

import numpy as np

__all__ = ["householder_to_mean"]


def householder_to_mean(G: int) -> np.ndarray:
    """Return the unit v (G,) with ``(I − 2vvᵀ) e₁ = 1/√G``: the reflection onto the mean.

    ``H = I − 2vvᵀ`` is orthogonal and its own inverse, so iid rows stay iid under it, and
    the first row of ``H b`` is ``√G · mean(b)``. G must be at least 2.
    """
    v = -np.full(G, 1.0 / np.sqrt(G))
    v[0] += 1.0
    return v / np.linalg.norm(v)
