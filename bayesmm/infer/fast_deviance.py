"""The profiled criterion of one grouping factor on the C kernel: θ → −2ℓ in microseconds.

A REML/ML/MAP fit evaluates :func:`bayesmm.deviance.deviance` hundreds of times (sleepstudy's
REML: 563 evaluations, multi-start L-BFGS-B on finite differences, then the polishes), and
the NumPy :func:`~bayesmm.deviance.profile` costs 60–100 µs an evaluation, most of it the
overhead of small array calls. ``bmm_profile`` (``csrc/marginal.c``) computes the three
numbers the criterion needs — ``r²``, ``Σ log|M_g|`` and ``log|A|`` — with the marginal
kernel's normal equations, and :func:`~bayesmm.deviance.criterion` turns them into the
deviance as before. Several factors (the blocked statistics) and a missing C library keep
the NumPy path.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..covariance import lambda_from_theta
from ..deviance import Method, ProfileTerms, Stats, criterion, deviance
from ..suffstats import SuffStats
from .kernel_library import profile_function, user_data

__all__ = ["deviance_function"]

NO_MEMORY = 4  # bmm_profile's status when its scratch cannot be allocated


@dataclass(frozen=True, eq=False)
class _KernelCriterion:
    """The criterion at θ through ``bmm_profile``; holds the arrays its record points into."""

    fn: Callable[..., int]
    stats: SuffStats
    method: Method
    record: np.ndarray  # (9,) uint64, csrc/kernels.h's bmm_data
    arrays: tuple[np.ndarray, ...]
    out: np.ndarray  # (3,) r², Σ log|M_g|, log|A|

    def __call__(self, theta: np.ndarray) -> float:
        theta = np.asarray(theta, dtype=float)
        lam = lambda_from_theta(theta, self.stats.tmap)  # (q, q)
        status = self.fn(lam.ctypes.data, self.out.ctypes.data, self.record.ctypes.data)
        if status == NO_MEMORY:
            raise MemoryError("bmm_profile: no memory for the per-group factors")
        if status != 0:  # M_g or A not positive definite, as deviance's LinAlgError
            return np.inf
        r2, logdet_m, logdet_a = self.out.tolist()
        return criterion(ProfileTerms(max(r2, 1e-300), logdet_m, logdet_a), theta,
                         self.stats, self.method)


def deviance_function(stats: Stats, method: Method) -> Callable[[np.ndarray], float]:
    """Return θ → ``deviance(θ, stats, method)``, on the C kernel where it applies.

    Parameters
    ----------
    stats : SuffStats or BlockedStats
    method : {"reml", "ml", "map"}

    Returns
    -------
    callable
        The criterion at θ (n_theta,); ``inf`` where it is undefined.
    """
    fn = profile_function() if isinstance(stats, SuffStats) else None
    if fn is None:
        return lambda theta: deviance(theta, stats, method)
    q, p = stats.ZtX.shape[1:]
    ints = np.array([q, p], dtype=np.int64)
    par = np.array([float(stats.yty)])
    arrays = tuple(np.ascontiguousarray(a, dtype=float) for a in (
        stats.ZtZ, stats.ZtX, stats.Zty, stats.XtX))  # (G, q, q) (G, q, p) (G, q) (p, p)
    xty = np.ascontiguousarray(stats.Xty, dtype=float)  # (p,)
    record = user_data(ints, par, stats.ZtZ.shape[0], arrays, xty)
    return _KernelCriterion(fn, stats, method, record, (ints, par, *arrays, xty), np.empty(3))
