"""Sampling diagnostics per reported parameter, and the warnings that surface problems."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import arviz as az
import numpy as np
import pandas as pd
import xarray as xr

__all__ = ["ESS_MIN", "RHAT_MAX", "Diagnostics", "SamplingWarning", "diagnose",
           "numpy_kernels"]

RHAT_MAX = 1.01
ESS_MIN = 400


class SamplingWarning(UserWarning):
    """NUTS output fails a usual check (divergences, R-hat, ESS) or REML is singular."""


@dataclass(frozen=True)
class Diagnostics:
    """Divergences and per-parameter R-hat and bulk ESS of the reported rows."""

    divergences: int
    rhat: pd.Series
    ess_bulk: pd.Series

    @property
    def max_rhat(self) -> float:
        """Largest R-hat."""
        return float(self.rhat.max())

    @property
    def min_ess_bulk(self) -> float:
        """Smallest bulk ESS."""
        return float(self.ess_bulk.min())

    @property
    def ok(self) -> bool:
        """Whether every check passes."""
        return not self.problems()

    def problems(self) -> list[str]:
        """One message per failed check, naming the parameters."""
        out = []
        if self.divergences:
            out.append(f"{self.divergences} divergent transitions; raise target_accept "
                       "(e.g. fit(target_accept=0.95)) or check the priors.")
        high = list(self.rhat.index[self.rhat > RHAT_MAX])
        if high:
            out.append(f"R-hat above {RHAT_MAX} for {high}; run longer chains "
                       "(more tune and draws).")
        low = list(self.ess_bulk.index[self.ess_bulk < ESS_MIN])
        if low:
            out.append(f"bulk ESS below {ESS_MIN} for {low}; draw more.")
        return out


@contextmanager
def numpy_kernels() -> Iterator[None]:
    """Run ArviZ's diagnostics on its numpy kernels, then restore the user's setting.

    With Numba installed ArviZ JIT-compiles its variance kernels in every new process (they
    are not cached on disk): 0.15 s of a 0.9 s first fit of Dyestuff2, for arrays of a few
    thousand draws where numpy is as fast.
    """
    was = az.Numba.numba_flag
    az.Numba.disable_numba()
    try:
        yield
    finally:
        if was:
            az.Numba.enable_numba()


def diagnose(draws: xr.Dataset, idata: az.InferenceData) -> Diagnostics:
    """Diagnostics of the reported rows ``draws`` (chain, draw) of a NUTS fit.

    ArviZ's rank-normalised split R-hat and bulk ESS, as ``az.summary`` reports them, without
    the summary's other columns (a third of its time on a small fit).
    """
    with np.errstate(invalid="ignore", divide="ignore"), numpy_kernels():
        rhat = az.rhat(draws, method="rank")
        ess = az.ess(draws, method="bulk")
    s = pd.DataFrame({"r_hat": [float(rhat[k]) for k in draws.data_vars],
                      "ess_bulk": [float(ess[k]) for k in draws.data_vars]},
                     index=list(draws.data_vars))
    s = s[np.isfinite(s["r_hat"])] if len(s) > 1 else s
    return Diagnostics(int(idata.sample_stats["diverging"].sum()), s["r_hat"], s["ess_bulk"])
