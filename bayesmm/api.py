"""The thin façade: :func:`mixedlm` and :class:`MixedLM` call the pipeline stages in order."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import arviz as az
import numpy as np
import pandas as pd
import pymc as pm

from .build.latent import build_latent
from .design import Design, design_from_arrays, make_design
from .diagnostics import SamplingWarning
from .errors import DataError, FitError, SeparationError, SpecificationError, describe
from .infer.nuts import sample_nuts
from .infer.options import NutsOptions
from .infer.point import default_point_method, point_fit
from .model_likelihood import LikelihoodMethods
from .partitioned import is_dask_frame, partitioned_design
from .priors import Prior, resolve_priors
from .progress import resolve_progressbar
from .results import MixedLMPointResults, MixedLMResults
from .spec import ModelSpec, Recipe, RETerm, spec_from_formula
from .statsmodels_fit import FreePattern, check_fit_options, free_design, theta_in
from .suffstats import SuffStats, suff_stats
from .vc_arrays import vc_columns

__all__ = ["MixedLM", "mixedlm"]

_METHODS = ("nuts", "reml", "ml", "map")
RE_PREFIX = "__re__"
VC_PREFIX = "__vc__"


def _prior_json(priors: Mapping[str, object] | None) -> dict[str, list]:
    """Prior overrides as JSON-serialisable ``{key: [dist, params]}``."""
    out = {}
    for key, value in (priors or {}).items():
        prior = value if isinstance(value, Prior) else Prior(value[0], **value[1])  # type: ignore[index]
        out[key] = [prior.dist, {k: float(v) for k, v in prior.params.items()}]
    return out


def _as_frame(values: Any, names: tuple[str, ...], prefix: str = "") -> pd.DataFrame:
    """Array-like input as a DataFrame with the design's column names."""
    arr = np.asarray(values, dtype=float)
    arr = arr.reshape(arr.shape[0], -1)
    return pd.DataFrame(arr, columns=[prefix + n for n in names])


def _array_recipe(endog: Any, exog: Any, groups: Any, exog_re: Any, design: Design,
                  priors: Mapping[str, object] | None,
                  exog_vc: dict[str, np.ndarray] | None = None) -> Recipe:
    """Recipe of the direct API: the arrays as columns of one DataFrame."""
    factor = design.factors[0]
    znames = tuple(factor.znames[c] for c in factor.re_cols)
    parts = [_as_frame(endog, (design.response,)), _as_frame(exog, design.xnames)]
    if exog_re is not None:
        parts.append(_as_frame(exog_re, znames, RE_PREFIX))
    vc_cols = {name: [f"{VC_PREFIX}{name}[{j}]" for j in range(cols.shape[1])]
               for name, cols in (exog_vc or {}).items()}
    parts += [pd.DataFrame(cols, columns=vc_cols[name]) for name, cols in (exog_vc or {}).items()]
    frame = pd.concat(parts, axis=1)
    frame["__groups__"] = np.asarray(groups).ravel()
    kwargs = {"endog": design.response, "exog": list(design.xnames),
              "exog_re": None if exog_re is None else [RE_PREFIX + z for z in znames],
              "exog_vc": vc_cols or None, "priors": _prior_json(priors)}
    return Recipe("arrays", kwargs, frame)


class MixedLM(LikelihoodMethods):
    """A linear mixed model, Bayesian by default.

    Parameters
    ----------
    endog : array_like
        Response.
    exog : array_like
        Fixed-effects design (include a constant column for an intercept).
    groups : array_like
        Group label of every row.
    exog_re : array_like, optional
        Random-effects design; a random intercept when omitted.
    exog_vc : dict or VCSpec, optional
        statsmodels' variance components: ``{name: {group: matrix}}`` (each group's rows in
        data order), a ``VCSpec``, or ``{name: (N, k) array}``; every column is an
        independent effect with the component's one variance (``name Var``).
    priors : Mapping, optional
        Prior overrides (see :attr:`priors`).

    See Also
    --------
    mixedlm : the formula interface.
    """

    def __init__(
        self,
        endog: Any,
        exog: Any,
        groups: Any,
        exog_re: Any = None,
        exog_vc: Any = None,
        *,
        priors: Mapping[str, object] | None = None,
    ) -> None:
        vc = None if exog_vc is None else vc_columns(exog_vc, np.asarray(groups))
        design = design_from_arrays(endog, exog, groups, exog_re, exog_vc=vc)
        factor = design.factors[0]
        re_cols = [factor.znames[c] for c in factor.re_cols]
        expr = " + ".join(re_cols)
        spec = ModelSpec(
            response=design.response,
            fixed=f"{design.response} ~ 0 + {' + '.join(design.xnames)}",
            re_terms=(RETerm(expr, "Group", len(re_cols) > 1, "Group"),),
        )
        self._init(spec, design, priors)
        self.recipe = _array_recipe(endog, exog, groups, exog_re, design, priors, vc)

    def _init(self, spec: ModelSpec, design: Design, priors: Mapping[str, object] | None,
              stats: SuffStats | None = None) -> None:
        """Store the pipeline's first stages (``stats``: already reduced, e.g. by Dask)."""
        self.spec = spec
        self.design = design
        self._stats = stats
        self._prior_overrides = dict(priors or {})
        resolve_priors(design, self._prior_overrides)  # validate now

    @classmethod
    def from_formula(
        cls,
        formula: str,
        data: pd.DataFrame,
        groups: str | Any = None,
        re_formula: str | None = None,
        vc_formula: Mapping[str, str] | None = None,
        *,
        cov_re: str = "full",
        family: str = "gaussian",
        priors: Mapping[str, object] | None = None,
        trials: str | None = None,
        offset: str | None = None,
    ) -> MixedLM:
        """Create a model from a formula (statsmodels or lme4 spelling).

        Parameters
        ----------
        formula : str
            ``"y ~ x"``, optionally with lme4 terms ``(x | g)``, ``(x || g)``, ``(1 | a/b)``.
        data : pandas.DataFrame or dask.dataframe.DataFrame
            A Dask frame (Gaussian) is reduced to sufficient statistics partition by
            partition (per group for one factor, lme4's blocked cross-products for several);
            its rows never come to this process.
        groups : str or array_like, optional
            Grouping column name, or an array of labels (reported as ``"Group"``).
        re_formula : str, optional
            Random-effects formula, e.g. ``"~Time"`` (random intercept when omitted).
        vc_formula : Mapping, optional
            Variance components nested in ``groups``, e.g. ``{"cask": "0 + C(cask)"}``.
        cov_re : {"full", "diagonal"}
            Correlated (LKJ) or independent random effects.
        family : {"gaussian", "t", "bernoulli", "binomial", "poisson", "negbin"}
            Response family (logit link for Bernoulli/binomial, log for counts).
        priors : Mapping, optional
            Prior overrides.
        trials : str, optional
            Binomial trials column (or write the response as ``successes / trials``).
        offset : str, optional
            Column added to the linear predictor, e.g. log exposure for counts.

        Returns
        -------
        MixedLM
        """
        label = "Group" if isinstance(groups, str) and groups == "__groups__" else ""
        if groups is not None and not isinstance(groups, str):
            if is_dask_frame(data):
                raise DataError(f"groups: with a Dask DataFrame pass the grouping column's "
                                f"name; received {describe(groups)}.")
            if not isinstance(data, pd.DataFrame):
                raise DataError(f"data: expected a pandas DataFrame; received {describe(data)}.")
            values = np.asarray(groups)
            if values.ndim != 1 or values.shape[0] != len(data):
                raise DataError(
                    f"groups: expected a column name or an array of {len(data)} labels; "
                    f"received shape {values.shape}."
                )
            data = data.assign(**{"__groups__": values})
            groups, label = "__groups__", "Group"
        spec = spec_from_formula(
            formula, groups=groups, group_label=label, re_formula=re_formula,
            vc_formula=vc_formula, cov_re=cov_re, family=family, priors=priors,
            trials=trials, offset=offset,
        )
        model = cls.__new__(cls)
        if is_dask_frame(data):
            design, stats = partitioned_design(spec, data)
            model._init(spec, design, priors, stats)  # reduced by Dask, partition by partition
            model.recipe = None  # the rows stay in the Dask frame: nothing to save
            return model
        model._init(spec, make_design(spec, data), priors)
        kwargs = {"formula": formula, "groups": groups, "re_formula": re_formula,
                  "vc_formula": dict(vc_formula) if vc_formula else None, "cov_re": cov_re,
                  "family": family, "priors": _prior_json(priors), "trials": trials,
                  "offset": offset}
        model.recipe = Recipe("formula", kwargs, data)
        return model

    @property
    def stats(self) -> SuffStats:
        """Sufficient statistics of the design (reduced on first use, then kept)."""
        if self._stats is None:
            self._stats = suff_stats(self.design)
        return self._stats

    @property
    def priors(self) -> dict[str, Prior]:
        """The priors in use: data-scaled defaults with any overrides applied."""
        return resolve_priors(self.design, self._prior_overrides)

    def prior_predictive(self, draws: int = 500, random_seed: int | None = None
                         ) -> az.InferenceData:
        """Draws from the prior and the prior predictive distribution of the response.

        Uses the latent build, whose priors are those of every build.

        Parameters
        ----------
        draws : int
        random_seed : int, optional

        Returns
        -------
        arviz.InferenceData
            Groups ``prior``, ``prior_predictive`` and ``observed_data``.
        """
        NutsOptions(draws=draws, random_seed=random_seed)  # validates draws
        with build_latent(self.design, self.priors):
            idata = pm.sample_prior_predictive(draws=draws, random_seed=random_seed)
        prior = idata.prior
        idata.prior = prior[[v for v in prior.data_vars if not str(v).startswith("_")]]
        return idata

    def _point_fit(self, method: str, start_params: pd.Series | np.ndarray | None,
                   free: FreePattern | None, full_output: bool) -> MixedLMPointResults:
        """REML / ML / MAP fit, with statsmodels' start, held pattern and history."""
        gaussian = self.design.family.name == "gaussian"
        if full_output and not gaussian:
            raise SpecificationError(
                "full_output: the evaluation history is kept for Gaussian fits; this "
                f"model's family is {self.design.family.name!r}. Drop full_output.")
        design, stats = self.design, self.stats
        start = None if start_params is None else self._start_theta(start_params)
        if free is not None:
            design, stats = free_design(design, stats, free)
            if start is not None:
                start = theta_in(start, self.stats.tmap, stats.tmap)
        fit = point_fit(design, stats, method, start, history=full_output)
        return MixedLMPointResults(self.spec, design, stats, fit)

    def _comparison_fit(self) -> MixedLMPointResults | None:
        """Fit the point estimate shown beside the posterior (REML, or Laplace ML), if any."""
        try:
            fit = point_fit(self.design, self.stats, default_point_method(self.design))
        except (SeparationError, FitError) as err:  # the posterior exists without them
            warnings.warn(f"No point-estimate column: {err}", SamplingWarning, stacklevel=3)
            return None
        return MixedLMPointResults(self.spec, self.design, self.stats, fit)

    def _default_target_accept(self, point: MixedLMPointResults | None) -> float:
        """PyMC's 0.8, or 0.95 when a Gaussian model's REML fit is singular.

        A variance the data cannot tell from zero gives the posterior a long tail towards
        log SD → −∞, where NUTS at 0.8 diverges (Dyestuff2, marginal build: 1–3 divergences
        in 6 of 8 seeds at 0.8, none in 8 seeds at 0.95).
        """
        if self.design.family.name != "gaussian":
            return 0.8
        singular = point.singular if point is not None else \
            point_fit(self.design, self.stats, "reml").singular
        return 0.95 if singular else 0.8

    def fit(
        self,
        method: str | None = None,
        *,
        draws: int = 1000,
        tune: int = 1000,
        chains: int = 4,
        cores: int | None = None,
        random_seed: int | None = None,
        progressbar: bool | None = None,
        sampler: str | None = None,
        marginal: bool | None = None,
        priors: Mapping[str, object] | None = None,
        comparison: bool = True,
        reml: bool | None = None,
        target_accept: float | None = None,
        log_likelihood: bool | None = None,
        start_params: pd.Series | np.ndarray | None = None,
        free: FreePattern | None = None,
        full_output: bool = False,
        **statsmodels_options: object,
    ) -> MixedLMResults | MixedLMPointResults:
        """Fit by NUTS (default) or by REML / ML / penalised MAP.

        Parameters
        ----------
        method : {"nuts", "reml", "ml", "map"}, optional
            Default "nuts" (or statsmodels' choice when ``reml`` is given). For non-Gaussian
            families "ml" is the Laplace approximation (glmer) and "map" its penalised form;
            "reml" is Gaussian only.
        draws, tune, chains, cores, random_seed
            Passed to the sampler.
        progressbar : bool, optional
            ``None`` (default): shown when a person is watching — in a terminal or a
            notebook — and never under pytest or CI (the ``CI`` environment variable).
        target_accept : float, optional
            NUTS's target acceptance rate: 0.8, or 0.95 for a Gaussian model whose REML fit
            is singular (a variance estimated at zero).
        sampler : {None, "pymc", "nutpie", "numpyro"}
            None: nutpie for the marginal build when it is installed (on a density compiled
            once per model structure and cached), PyMC's NUTS otherwise.
        marginal : bool, optional
            ``None``: integrate the random effects out whenever possible; ``False``:
            the latent build.
        priors : Mapping, optional
            Overrides on top of those given to the model.
        comparison : bool
            Also compute the point fit shown beside the posterior (REML, or Laplace ML for
            other families).
        reml : bool, optional
            statsmodels' switch: ``fit(reml=True)`` is ``fit(method="reml")`` and
            ``fit(reml=False)`` is ``fit(method="ml")``.
        log_likelihood : bool, optional
            Store the pointwise log-likelihood (chains × draws × rows values) for LOO. By
            default only when it holds at most 25 million values; ``loo()`` computes it on
            demand otherwise.
        start_params : Series or array_like, optional
            Where a Gaussian REML/ML/MAP search starts (statsmodels' ``start_params``), in
            :attr:`~MixedLMPointResults.params`' layout; the fixed effects are profiled out,
            so only the covariance values are used. An extra start: the search still
            verifies its optimum, and a single variance is searched globally.
        free : statsmodels' MixedLMParams, optional
            Point fits: 1 for an estimated parameter, 0 for one held at its start.
            ``free.cov_re`` must group the random effects into independent blocks —
            ``np.eye(k)`` fits independent random effects, as in statsmodels — and
            ``free.fe_params`` must be ones (see :mod:`bayesmm.statsmodels_fit`).
        full_output : bool
            Point fits: keep every evaluation of the criterion as the results' ``hist``.
        **statsmodels_options
            statsmodels' optimiser settings (``gtol``, ``maxiter``, ``niter_sa``, ``disp``)
            and ``cov_type``: accepted and named in an ``UnusedArgumentWarning``; any other
            name is an error.

        Returns
        -------
        MixedLMResults or MixedLMPointResults
        """
        check_fit_options(statsmodels_options)
        method = _resolve_method(method, reml)
        if method != "nuts":
            return self._point_fit(method, start_params, free, full_output)
        for name, given, why in (
                ("start_params", start_params is not None,
                 "NUTS starts from the posterior mode or jittered points"),
                ("free", free is not None, "write independent effects as (x || g) or "
                 "cov_re='diagonal' for NUTS"),
                ("full_output", full_output, "NUTS's draws are in the results' idata")):
            if given:
                raise SpecificationError(
                    f"{name}: taken by point fits (method='reml', 'ml' or 'map'); {why}. "
                    f"Drop {name}.")
        point = self._comparison_fit() if comparison else None
        if target_accept is None:
            target_accept = self._default_target_accept(point)
        options = NutsOptions(draws=draws, tune=tune, chains=chains, cores=cores,
                              random_seed=random_seed,
                              progressbar=resolve_progressbar(progressbar),
                              sampler=sampler, target_accept=target_accept,
                              log_likelihood=log_likelihood)
        resolved = resolve_priors(self.design, {**self._prior_overrides, **(priors or {})})
        idata, build = sample_nuts(self.design, resolved, self.stats, options, marginal)
        res = MixedLMResults(self.spec, self.design, self.stats, idata, build, point,
                             self.recipe)
        for problem in res.sampling.problems():
            warnings.warn(problem, SamplingWarning, stacklevel=2)
        if point is not None and point.singular:
            zero = point.zero_variances
            warnings.warn(f"{point.method} fit is singular: {zero or 'a variance'} estimated "
                          "at zero (the posterior is not).", SamplingWarning, stacklevel=2)
        return res


_SM_OPTIMISERS = {"bfgs", "lbfgs", "cg", "nm", "powell", "newton", "ncg"}


def _resolve_method(method: str | None, reml: bool | None) -> str:
    """Resolve the fit's method from ``method`` and statsmodels' ``reml`` switch."""
    if method is not None and method not in _METHODS:
        names = [method] if isinstance(method, str) else list(method)
        hint = (" statsmodels' fit(method=) names its optimiser; bayesmm chooses its own and "
                "verifies the optimum (KKT check): pass reml=True or False, or "
                "method='reml'/'ml', for statsmodels' fit.") if set(names) <= _SM_OPTIMISERS \
            else ""
        raise SpecificationError(
            f"method: expected one of {_METHODS}; received {method!r}.{hint}")
    if reml is None:
        return method or "nuts"
    implied = "reml" if reml else "ml"
    if method is None or method == implied:
        return implied
    raise SpecificationError(
        f"reml: statsmodels' switch between REML (True) and ML (False); received "
        f"reml={reml!r} with method={method!r}. Pass one of them: method={implied!r}, or "
        f"method={method!r} alone (comparison=False drops the REML column beside NUTS)."
    )


def mixedlm(
    formula: str,
    data: pd.DataFrame,
    groups: str | Any = None,
    re_formula: str | None = None,
    vc_formula: Mapping[str, str] | None = None,
    *,
    cov_re: str = "full",
    family: str = "gaussian",
    priors: Mapping[str, object] | None = None,
    trials: str | None = None,
    offset: str | None = None,
) -> MixedLM:
    """Create a mixed model from a formula (alias of :meth:`MixedLM.from_formula`).

    The parameters are :meth:`MixedLM.from_formula`'s, spelled out so that ``help()`` and
    editors show them.
    """
    return MixedLM.from_formula(formula, data, groups, re_formula, vc_formula, cov_re=cov_re,
                                family=family, priors=priors, trials=trials, offset=offset)
