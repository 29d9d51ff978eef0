"""Load a result saved with :meth:`MixedLMResults.save` (netCDF through ArviZ).

The file holds the InferenceData groups, the data as ``constant_data`` and the constructor
arguments as JSON in the attributes; loading rebuilds the model from them, so summaries and
predictions of the loaded result equal the original's.
"""

from __future__ import annotations

import json
import os
import warnings

import arviz as az

from .api import RE_PREFIX, MixedLM
from .design import MissingDataWarning
from .errors import DataError
from .infer.point import default_point_method, point_fit
from .priors import Prior
from .results import MixedLMPointResults, MixedLMResults

__all__ = ["load"]


def _priors(raw: dict) -> dict[str, Prior]:
    """Priors from their JSON form ``{key: [dist, params]}``."""
    return {k: Prior(dist, **params) for k, (dist, params) in raw.items()}


def load(path: str | os.PathLike) -> MixedLMResults:
    """Read a result written by :meth:`MixedLMResults.save`.

    Parameters
    ----------
    path : str or PathLike
        A netCDF file.

    Returns
    -------
    MixedLMResults

    Raises
    ------
    DataError
        When the file was not written by bayesmm.
    """
    idata = az.from_netcdf(path)
    attrs = idata.posterior.attrs
    if "bayesmm_recipe" not in attrs:
        raise DataError(f"path: {path} was not written by bayesmm (no 'bayesmm_recipe' attribute).")
    recipe = json.loads(attrs["bayesmm_recipe"])
    data = idata.constant_data.to_dataframe().reset_index(drop=True)
    kwargs = dict(recipe["kwargs"])
    priors = _priors(kwargs.pop("priors", {}))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MissingDataWarning)
        if recipe["api"] == "formula":
            model = MixedLM.from_formula(data=data, priors=priors, **kwargs)
        else:
            re_cols = kwargs["exog_re"]
            exog_re = None if re_cols is None else data[re_cols].rename(
                columns=lambda c: c.removeprefix(RE_PREFIX))
            exog_vc = {name: data[cols].to_numpy()
                       for name, cols in (kwargs.get("exog_vc") or {}).items()}
            model = MixedLM(data[kwargs["endog"]], data[kwargs["exog"]], data["__groups__"],
                            exog_re, exog_vc or None, priors=priors)
    reml = None
    if recipe["reml"]:
        method = default_point_method(model.design)
        reml = MixedLMPointResults(model.spec, model.design, model.stats,
                                   point_fit(model.design, model.stats, method))
    del idata.constant_data
    return MixedLMResults(model.spec, model.design, model.stats, idata, recipe["build"], reml,
                          model.recipe)

