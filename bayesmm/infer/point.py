"""Point estimates of any model: REML/ML/MAP (Gaussian) or Laplace ML/MAP (other families)."""

from __future__ import annotations

from contextlib import nullcontext

import numpy as np

from ..design import Design
from ..errors import SpecificationError
from ..suffstats import SuffStats
from .blas import one_blas_thread
from .laplace import fit_laplace
from .optimize import PointFit, fit_point

__all__ = ["default_point_method", "point_fit", "point_methods"]


def point_methods(design: Design) -> tuple[str, ...]:
    """Point methods the design supports (REML needs a Gaussian model)."""
    return ("reml", "ml", "map") if design.family.name == "gaussian" else ("ml", "map")


def default_point_method(design: Design) -> str:
    """Name the estimate shown beside the posterior: REML, or Laplace ML for other families."""
    return point_methods(design)[0]


def point_fit(design: Design, stats: SuffStats | None, method: str,
              start: np.ndarray | None = None, history: bool = False) -> PointFit:
    """Fit ``design`` by ``method``, optionally with one more start ``start`` (θ).

    ``history`` keeps every evaluation of a Gaussian criterion (``PointFit.history``).

    Raises
    ------
    SpecificationError
        For REML on a non-Gaussian family (whose fits take no start).
    """
    allowed = point_methods(design)
    if method not in allowed:
        raise SpecificationError(
            f"method: family={design.family.name!r} supports {allowed} (REML is defined for "
            f"Gaussian models only; 'ml' is glmer's Laplace fit); received {method!r}."
        )
    # one θ of one factor: a bounded scalar search and p × p solves, no call that threads
    scalar = isinstance(stats, SuffStats) and stats.tmap.n_theta == 1
    with nullcontext() if scalar else one_blas_thread():  # see bayesmm.infer.blas
        if design.family.name == "gaussian":
            assert stats is not None
            return fit_point(stats, method, start, history)  # type: ignore[arg-type]
        return fit_laplace(design, method)
