"""The marginal build: random effects integrated out on per-group sufficient statistics.

With Ψ = σ²ΛΛᵀ, ``M_g = I + ΛᵀZ_gᵀZ_gΛ``, ``v_g = Λᵀ(Z_gᵀy_g − Z_gᵀX_gβ)``::

    log p(y | β, σ, Λ) = −½ [N log 2πσ² + Σ_g log|M_g| + (rᵀr − Σ_g v_gᵀM_g⁻¹v_g)/σ²]

NUTS sees only β, σ and the covariance parameters; a gradient costs O(G q³), not O(N).
"""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytensor.tensor as pt

from ..design import Design
from ..priors import Prior
from ..suffstats import SuffStats
from .batched import chol_logdet_quad
from .common import add_parameters, coords_of

__all__ = ["build_marginal", "marginal_applies"]


def marginal_applies(design: Design) -> bool:
    """Tell whether the marginal build covers the design (one factor, nested VCs allowed)."""
    return len(design.factors) == 1


def build_marginal(design: Design, priors: dict[str, Prior], stats: SuffStats) -> pm.Model:
    """PyMC model whose likelihood is the Gaussian marginal of ``y`` given β, σ, Ψ."""
    with pm.Model(coords=coords_of(design)) as model:
        params = add_parameters(design, priors)
        beta, sigma = params.beta, params.sigma
        lam = params.chols[0] / sigma  # (q, q) relative factor Λ
        q = stats.ZtZ.shape[1]
        ZtZ = pt.as_tensor(stats.ZtZ)  # (G, q, q)
        W = pt.tensordot(pt.tensordot(ZtZ, lam, axes=[[2], [0]]), lam, axes=[[1], [0]])
        M = W.dimshuffle(0, 2, 1) + pt.as_tensor(np.eye(q))  # (G, q, q)  I + ΛᵀZᵀZΛ
        u = stats.Zty - pt.tensordot(stats.ZtX, beta, axes=[[2], [0]])  # (G, q)
        v = pt.dot(u, lam)  # (G, q)   Λᵀu per group
        logdet, quad = chol_logdet_quad(M, v)
        rtr = stats.yty - 2.0 * pt.dot(beta, stats.Xty) + pt.dot(beta, pt.dot(stats.XtX, beta))
        n = stats.n_obs
        loglik = -0.5 * (n * pt.log(2 * np.pi * sigma**2) + logdet + (rtr - quad) / sigma**2)
        pm.Potential("marginal_loglik", loglik)
    return model
