"""statsmodels' ``MixedLM.fit`` arguments that bayesmm maps or does not use.

``free`` (a :class:`statsmodels.regression.mixed_linear_model.MixedLMParams` of 0/1) holds
parameters at their starting values. statsmodels fixes elements of the Cholesky factor of
``cov_re``, which starts at the identity, so an off-diagonal 0 holds that element at 0. When
the 1s group the random-effect columns into classes (the pattern is an equivalence
relation), that is exactly a block-diagonal ``cov_re`` — ``free.cov_re = np.eye(k)`` is
statsmodels' documented way to fit independent random effects — and the fit is the model's
own with those blocks (:func:`free_design`). Other patterns are rejected with an error.

Optimiser options (``gtol``, ``maxiter``, …) and ``cov_type`` do not apply: bayesmm chooses
its optimiser and verifies the optimum; they are named in an
:class:`UnusedArgumentWarning` (statsmodels also warns on ``cov_type``).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import replace
from typing import Protocol, runtime_checkable

import numpy as np
from scipy.sparse.csgraph import connected_components

from .covariance import ThetaMap, lambda_from_theta, theta_from_cov, theta_map
from .design import CovBlock, Design, FactorDesign
from .errors import SpecificationError, describe
from .suffstats import SuffStats

__all__ = ["FreePattern", "UnusedArgumentWarning", "check_fit_options", "free_design",
           "theta_in"]

# accepted by statsmodels' fit but without a meaning here: warned about, then not used
UNUSED = ("cov_type", "cov_kwds", "use_t", "niter_sa", "gtol", "maxiter", "disp")


class UnusedArgumentWarning(FutureWarning):
    """A statsmodels ``fit`` argument that bayesmm accepts but does not use."""


@runtime_checkable
class FreePattern(Protocol):
    """statsmodels' ``MixedLMParams`` used as a mask: 1 estimated, 0 held at its start."""

    fe_params: np.ndarray
    cov_re: np.ndarray


def check_fit_options(options: Mapping[str, object]) -> None:
    """Warn about statsmodels' optimiser options; reject any other unknown argument.

    Raises
    ------
    SpecificationError
        For a keyword statsmodels' ``fit`` does not take either (likely a typo).
    """
    unknown = sorted(set(options) - set(UNUSED))
    if unknown:
        raise SpecificationError(
            f"fit: unexpected argument(s) {unknown}. fit takes method, draws, tune, chains, "
            "cores, random_seed, progressbar, sampler, marginal, priors, comparison, reml, "
            "target_accept, log_likelihood, start_params, free and full_output; check the "
            "spelling.")
    for name in options:
        warnings.warn(
            f"Argument {name} not used by bayesmm's fit: bayesmm chooses its optimiser and "
            "verifies the optimum (a KKT check; fit().converged), and the fixed effects' "
            "covariance is the model-based one. Drop it.", UnusedArgumentWarning,
            stacklevel=3)


def _classes(pattern: np.ndarray) -> np.ndarray:
    """Class label of every column of an equivalence-relation 0/1 pattern.

    Raises
    ------
    SpecificationError
        When the pattern is not symmetric 0/1 with 1s on the diagonal and closed (i, j and
        j, k free imply i, k free).
    """
    free = pattern != 0
    if not np.isin(pattern, (0, 1)).all() or not (free == free.T).all():
        raise SpecificationError(
            "free: cov_re must be a symmetric matrix of 0 (held) and 1 (estimated); received "
            f"{pattern.tolist()}.")
    if not np.diag(free).all():
        raise SpecificationError(
            "free: holding a variance at its start is not supported; cov_re needs 1 on the "
            f"diagonal; received {pattern.tolist()}. To drop a random effect, leave it out of "
            "re_formula.")
    _, labels = connected_components(free.astype(np.int8), directed=False)
    if not (free == (labels[:, None] == labels[None, :])).all():
        raise SpecificationError(
            "free: cov_re's 1s must group the random effects into independent blocks (if i "
            "pairs with j and j with k, i pairs with k); received "
            f"{pattern.tolist()}. np.eye(k) fits independent random effects.")
    return labels


def _split_blocks(factor: FactorDesign, labels: np.ndarray) -> tuple[CovBlock, ...]:
    """Split the factor's blocks by the column classes ``labels`` (of its non-vc columns).

    Raises
    ------
    SpecificationError
        When a class joins columns the model keeps independent.
    """
    re_blocks = [b for b in factor.blocks if b.kind != "vc"]
    re_cols = sorted(factor.re_cols)
    label = dict(zip(re_cols, labels, strict=True))
    owner = {c: i for i, b in enumerate(re_blocks) for c in b.cols}
    if any(len({owner[c] for c in re_cols if label[c] == k}) > 1 for k in set(labels)):
        raise SpecificationError(
            "free: cov_re frees a covariance between random effects the model holds "
            "independent (cov_re='diagonal' or '||'); free can only hold covariances at 0. "
            "Build the model with correlated effects instead.")
    blocks: list[CovBlock] = []
    for block in factor.blocks:
        if block.kind == "vc":
            blocks.append(block)
            continue
        for k in dict.fromkeys(label[c] for c in block.cols):  # classes in column order
            cols = tuple(c for c in block.cols if label[c] == k)
            if len(cols) == len(block.cols):
                blocks.append(block)
            elif len(cols) == 1:
                blocks.append(CovBlock("diag", cols, factor.znames[cols[0]]))
            else:
                blocks.append(CovBlock("corr", cols, " + ".join(factor.znames[c] for c in cols)))
    return tuple(blocks)


def free_design(design: Design, stats: SuffStats, free: object
                ) -> tuple[Design, SuffStats]:
    """Return the design (and statistics) whose covariance blocks are ``free``'s pattern.

    Raises
    ------
    SpecificationError
        For a pattern that holds fixed effects or variances, one that is not block
        diagonal, or a model with several grouping factors.
    """
    if not isinstance(free, FreePattern):
        raise SpecificationError(
            "free: expected statsmodels' MixedLMParams (fe_params and cov_re of 0/1); "
            f"received {describe(free)}.")
    if len(design.factors) != 1:
        raise SpecificationError(
            f"free: statsmodels' pattern is for one grouping factor; this model has "
            f"{len(design.factors)}. Write independent terms as (x || g) in the formula.")
    fe = np.asarray(free.fe_params, dtype=float).ravel()
    if fe.shape != (design.X.shape[1],) or not (fe == 1).all():
        raise SpecificationError(
            f"free: fe_params must be {design.X.shape[1]} ones (the fixed effects are "
            f"profiled out, never held); received {fe.tolist()}.")
    vcomp = np.asarray(getattr(free, "vcomp", np.ones(0)), dtype=float).ravel()
    if not (vcomp == 1).all():
        raise SpecificationError(
            f"free: variance components cannot be held; vcomp must be ones; received "
            f"{vcomp.tolist()}.")
    (factor,) = design.factors
    q = len(factor.re_cols)
    pattern = np.atleast_2d(np.asarray(free.cov_re, dtype=float))
    if pattern.shape != (q, q):
        raise SpecificationError(
            f"free: cov_re must be {q} x {q} (the random effects' columns); received shape "
            f"{pattern.shape}.")
    if (pattern == 1).all():  # nothing held
        return design, stats
    new = replace(factor, blocks=_split_blocks(factor, _classes(pattern)))
    return replace(design, factors=(new,)), replace(stats, tmap=theta_map(new))


def theta_in(theta: np.ndarray, old: ThetaMap, new: ThetaMap) -> np.ndarray:
    """θ of ``old``'s template moved to ``new``'s (a start for the held pattern).

    The relative covariance ΛΛᵀ keeps its entries inside ``new``'s blocks; the others are
    the covariances ``free`` holds at 0.
    """
    lam = lambda_from_theta(theta, old)  # (q, q)
    shape = lambda_from_theta(np.ones(new.n_theta), new) != 0  # (q, q) new template
    inside = (shape.astype(float) @ shape.T) > 0  # (q, q) entries of the new blocks
    return theta_from_cov(np.where(inside, lam @ lam.T, 0.0), new)
