"""Sampler settings shared by every NUTS entry point (mixed models and mixtures)."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass

import numpy as np

from ..errors import SpecificationError

__all__ = ["SAMPLERS", "NutsOptions"]

SAMPLERS = ("pymc", "nutpie", "numpyro")
_MODULES = {"nutpie": "nutpie", "numpyro": "numpyro", "pymc": "pymc"}


@dataclass(frozen=True)
class NutsOptions:
    """Sampler settings passed through to :func:`pymc.sample`."""

    draws: int = 1000
    tune: int = 1000
    chains: int = 4
    cores: int | None = None
    random_seed: int | None = None
    progressbar: bool = False
    sampler: str | None = None
    target_accept: float = 0.8
    log_likelihood: bool | None = None
    max_draws: int | None = None

    def __post_init__(self) -> None:
        for name in ("draws", "chains"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or value <= 0:
                raise SpecificationError(
                    f"{name}: expected a positive integer; received {value!r}."
                )
        if not isinstance(self.tune, (int, np.integer)) or self.tune < 0:
            raise SpecificationError(f"tune: expected an integer ≥ 0; received {self.tune!r}.")
        if self.max_draws is not None and (not isinstance(self.max_draws, (int, np.integer))
                                           or self.max_draws < self.draws):
            raise SpecificationError(
                f"max_draws: expected an integer ≥ draws ({self.draws}); received "
                f"{self.max_draws!r}. Pass None for a run of exactly draws draws."
            )
        if self.sampler is None:
            return
        if self.sampler not in SAMPLERS:
            raise SpecificationError(
                f"sampler: expected one of {SAMPLERS}; received {self.sampler!r}."
            )
        if importlib.util.find_spec(_MODULES[self.sampler]) is None:
            raise SpecificationError(
                f"sampler: {self.sampler!r} is not installed; install it with "
                f"pip install 'bayesmm[{'jax' if self.sampler == 'numpyro' else self.sampler}]' "
                "or use sampler='pymc'."
            )
