"""bayesmm: Bayesian mixed-effects models with statsmodels' and lme4's formulas."""

from __future__ import annotations

import warnings as _warnings

with _warnings.catch_warnings():  # arviz 0.23 announces its 1.0 refactor once a day on
    # import; bayesmm pins arviz < 1, so the notice is not its users' to act on
    _warnings.filterwarnings("ignore", r"\s*ArviZ is undergoing a major refactor",
                             FutureWarning)
    import arviz  # noqa: F401

from .api import MixedLM, mixedlm  # noqa: E402
from .datasets import load_dataset, simulate_growth
from .design import MissingDataWarning
from .diagnostics import SamplingWarning
from .errors import (
    BayesMMError,
    DataError,
    FitError,
    FormulaError,
    NotFittedError,
    SeparationError,
    SpecificationError,
)
from .io import load
from .mixture import MixtureModel, MixtureResults, mixture
from .priors import Prior
from .results import MixedLMPointResults, MixedLMResults
from .statsmodels_fit import UnusedArgumentWarning

__all__ = [
    "BayesMMError",
    "DataError",
    "FitError",
    "FormulaError",
    "MissingDataWarning",
    "MixedLM",
    "MixedLMPointResults",
    "MixedLMResults",
    "MixtureModel",
    "MixtureResults",
    "NotFittedError",
    "Prior",
    "SamplingWarning",
    "SeparationError",
    "SpecificationError",
    "UnusedArgumentWarning",
    "compare_estimates",
    "load",
    "load_dataset",
    "mixedlm",
    "mixture",
    "simulate_growth",
]

__version__ = "0.1.0"


def compare_estimates(res: MixedLMResults, hdi_prob: float = 0.94, cov_scale: str = "var"
                      ) -> object:
    """Put REML, ML, MAP and posterior summaries side by side.

    See :meth:`MixedLMResults.compare_estimates`.
    """
    return res.compare_estimates(hdi_prob, cov_scale)
