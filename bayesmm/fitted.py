"""What every fitted result shares: the model it came from and statsmodels' header."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .design import Design
from .families import Family
from .params import re_names
from .spec import ModelSpec
from .suffstats import SuffStats

__all__ = ["FittedModel", "base_header", "effects_frames", "report_title"]

_TITLE = "Mixed Linear Model Regression Results"


def report_title(family: Family) -> str:
    """Statsmodels' title for Gaussian models; ``"Binomial (logit) Mixed GLM Results"`` else."""
    return _TITLE if family.name == "gaussian" else f"{family.title} Mixed GLM Results"


def _group_sizes(design: Design) -> np.ndarray:
    """Rows per group of the first factor."""
    return design.data_moments.group_counts[0]


def base_header(design: Design, method: str, scale: float, llf: str, converged: str
                 ) -> list[tuple[str, str]]:
    """Statsmodels' header (left column first, then right)."""
    sizes = _group_sizes(design)
    family = design.family
    left = [
        ("Model", "MixedLM" if family.name == "gaussian" else "MixedGLM"),
        ("No. Observations", str(design.n_obs)),
        ("No. Groups", str(design.factors[0].n_levels)),
        ("Min. group size", str(sizes.min())),
        ("Max. group size", str(sizes.max())),
        ("Mean group size", f"{sizes.mean():.1f}"),
    ]
    right = [
        ("Dependent Variable", design.response),
        ("Method", method),
        ("Scale", f"{scale:.4f}") if family.has_scale else ("Family", family.title),
        ("Log-Likelihood", llf),
        ("Converged", converged),
    ]
    if design.n_dropped:
        right.append(("Dropped (missing)", str(design.n_dropped)))
    return left + right


def effects_frames(design: Design, effects: list[np.ndarray]) -> dict:
    """Statsmodels' ``random_effects``: dict level → Series (one factor); else factor → frame."""
    if len(design.factors) == 1:
        f = design.factors[0]
        cols = re_names(f, False)
        return {lv: pd.Series(effects[0][g], index=cols) for g, lv in enumerate(f.levels)}
    return {
        f.label: pd.DataFrame(b, index=list(f.levels), columns=re_names(f, False))
        for f, b in zip(design.factors, effects, strict=True)
    }


@dataclass(frozen=True, eq=False)
class FittedModel:
    """Shared attributes of every fitted result."""

    spec: ModelSpec
    design: Design
    stats: SuffStats

    @property
    def nobs(self) -> int:
        """Number of observations used."""
        return self.design.n_obs

    @property
    def family(self) -> Family:
        """The response family."""
        return self.design.family

    def _cov_re_frame(self, psi: np.ndarray) -> pd.DataFrame:
        """Ψ of the first factor's random effects (without variance components)."""
        cols = self.design.factors[0].re_cols
        names = [re_names(self.design.factors[0], False)[c] for c in cols]
        return pd.DataFrame(psi[np.ix_(cols, cols)], index=names, columns=names)
