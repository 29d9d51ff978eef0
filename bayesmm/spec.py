"""What the user asked for: formulas split into fixed and random parts (:class:`ModelSpec`).

Two spellings reach the same :class:`ModelSpec`:

* statsmodels: ``mixedlm("y ~ x", data, groups="g", re_formula="~x", vc_formula={...})``;
* lme4: ``mixedlm("y ~ x + (x | g) + (1 | a/b) + (x || h)", data)``.

Nothing here looks at data; :mod:`bayesmm.design` evaluates the spec against a DataFrame.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

from .errors import FormulaError, SpecificationError, describe
from .families import get_family
from .formula_env import caller_namespace

__all__ = ["ModelSpec", "RETerm", "VCTerm", "parse_lme4", "spec_from_formula"]

CovKind = Literal["full", "diagonal"]
_TRIALS_LHS = (
    re.compile(r"^\s*([A-Za-z_.][A-Za-z0-9_.]*)\s*/\s*([A-Za-z_.][A-Za-z0-9_.]*)\s*$"),
    re.compile(r"^\s*p\(\s*([A-Za-z_.][A-Za-z0-9_.]*)\s*,\s*([A-Za-z_.][A-Za-z0-9_.]*)\s*\)\s*$"),
)


@dataclass(frozen=True)
class VCTerm:
    """A variance component nested in a grouping factor (statsmodels ``vc_formula``).

    Every column of ``formula`` evaluated within a group gets its own independent
    effect; all of them share one variance.
    """

    name: str
    formula: str


@dataclass(frozen=True)
class RETerm:
    """One random-effects term: columns of ``expr`` varying by the levels of ``factor``.

    Parameters
    ----------
    expr : str
        Right-hand side of the random-effects design, e.g. ``"1"`` or ``"1 + Time"``.
    factor : str
        Grouping column, or an interaction ``"a:b"`` of columns.
    correlated : bool
        ``True`` for a full covariance (LKJ prior), ``False`` for independent columns.
    label : str
        Name used in reports (``"Group"`` when groups were passed as an array).
    vc : tuple of VCTerm
        Variance components nested in ``factor``.
    """

    expr: str
    factor: str
    correlated: bool = True
    label: str = ""
    vc: tuple[VCTerm, ...] = ()

    @property
    def display(self) -> str:
        """Label used in reports (the factor name unless given)."""
        return self.label or self.factor


@dataclass(frozen=True)
class ModelSpec:
    """Value object describing a mixed model independently of any data.

    Parameters
    ----------
    response : str
        Left-hand side of the formula.
    fixed : str
        The fixed-effects formula ``"response ~ rhs"`` with random terms removed.
    re_terms : tuple of RETerm
        Random-effects terms.
    family : str
        Response family.
    priors : Mapping
        User-supplied prior overrides, by parameter name.
    trials : str, optional
        Column of binomial trials.
    offset : str, optional
        Column added to the linear predictor with coefficient 1.
    namespace : Mapping
        Names the formulas may call besides columns: the caller's functions and modules,
        and contrast codings such as ``Poly`` (:mod:`bayesmm.formula_env`).
    """

    response: str
    fixed: str
    re_terms: tuple[RETerm, ...]
    family: str = "gaussian"
    priors: Mapping[str, object] = field(default_factory=lambda: MappingProxyType({}))
    trials: str | None = None
    offset: str | None = None
    namespace: Mapping[str, object] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def factors(self) -> tuple[str, ...]:
        """Distinct grouping factors in order of appearance."""
        seen: dict[str, None] = {}
        for term in self.re_terms:
            seen.setdefault(term.factor, None)
        return tuple(seen)


def _split_top_level(text: str, sep: str) -> list[str]:
    """Split ``text`` on ``sep`` occurring outside parentheses."""
    parts, depth, start, i = [], 0, 0, 0
    while i < len(text):
        ch = text[i]
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif depth == 0 and text.startswith(sep, i):
            parts.append(text[start:i])
            start = i + len(sep)
            i += len(sep)
            continue
        i += 1
    parts.append(text[start:])
    return parts


def _scan_bar_terms(rhs: str, formula: str) -> tuple[str, list[tuple[str, str]]]:
    """Separate ``(expr | g)`` terms from the rest of a right-hand side.

    Returns
    -------
    tuple
        The fixed part and a list of ``(inner text, bar)`` with bar ``"|"`` or ``"||"``.
    """
    fixed: list[str] = []
    found: list[tuple[str, str]] = []
    for piece in _split_top_level(rhs, "+"):
        text = piece.strip()
        if text.startswith("(") and text.endswith(")") and "|" in text:
            depth = 0
            for pos, ch in enumerate(text):
                depth += ch == "("
                depth -= ch == ")"
                if depth == 0 and pos < len(text) - 1:
                    break
            else:
                inner = text[1:-1]
                bar = "||" if "||" in inner else "|"
                found.append((inner, bar))
                continue
        if "|" in text:
            raise FormulaError(
                f"formula: a random-effects term must be wrapped in parentheses, like "
                f"'(1 + x | g)'; received {text!r} in {formula!r}. Add the parentheses."
            )
        fixed.append(piece)
    return "+".join(fixed), found


def parse_lme4(formula: str) -> tuple[str, str, list[RETerm]]:
    """Parse an lme4-style formula.

    Parameters
    ----------
    formula : str
        E.g. ``"Reaction ~ Days + (Days | Subject)"``.

    Returns
    -------
    tuple
        ``(response, fixed formula, random terms)``.

    Raises
    ------
    FormulaError
        When the formula has no ``~``, an empty side or a malformed bar term.
    """
    if not isinstance(formula, str):
        raise FormulaError(
            f"formula: expected a string like 'y ~ x'; received {describe(formula)}."
        )
    if formula.count("~") != 1:
        raise FormulaError(
            f"formula: expected exactly one '~' separating response and predictors; "
            f"received {formula!r}. Write it as 'y ~ x'."
        )
    lhs, rhs = (s.strip() for s in formula.split("~"))
    if not lhs or not rhs:
        side = "response (left of '~')" if not lhs else "predictors (right of '~')"
        raise FormulaError(
            f"formula: the {side} is empty in {formula!r}; write e.g. 'y ~ 1 + x'."
        )
    if rhs.count("(") != rhs.count(")"):
        raise FormulaError(
            f"formula: unbalanced parentheses in {formula!r} "
            f"({rhs.count('(')} '(' and {rhs.count(')')} ')'). Close every '('."
        )
    fixed_rhs, bars = _scan_bar_terms(rhs, formula)
    terms: list[RETerm] = []
    for inner, bar in bars:
        expr, _, factor = inner.partition(bar)
        expr, factor = expr.strip(), factor.strip()
        if not expr or not factor or "|" in factor:
            raise FormulaError(
                f"formula: random-effects term '({inner})' must read '(expr | group)'; "
                f"received {formula!r}."
            )
        levels = [f.strip() for f in factor.split("/")]
        if any(not lv for lv in levels):
            raise FormulaError(
                f"formula: nested grouping {factor!r} has an empty part in {formula!r}; "
                f"write '(1 | a/b)'."
            )
        for depth in range(len(levels)):
            name = ":".join(levels[: depth + 1])
            terms.append(RETerm(expr=expr, factor=name, correlated=bar == "|"))
    fixed_rhs = fixed_rhs.strip() or "1"
    return lhs, f"{lhs} ~ {fixed_rhs}", terms


def _clean_re_formula(re_formula: str | None, has_vc: bool) -> str:
    """Strip the leading ``~`` of a statsmodels ``re_formula``.

    As in statsmodels, an omitted ``re_formula`` means a random intercept, unless variance
    components are given: then there is none (``"0"``).
    """
    if re_formula is None:
        return "0" if has_vc else "1"
    if not isinstance(re_formula, str):
        raise FormulaError(
            f"re_formula: expected a string like '~Time'; received {describe(re_formula)}."
        )
    text = re_formula.strip()
    if text.startswith("~"):
        text = text[1:].strip()
    if not text or "~" in text:
        raise FormulaError(
            f"re_formula: expected a one-sided formula like '~Time' or '~1'; "
            f"received {re_formula!r}."
        )
    return text


def spec_from_formula(
    formula: str,
    *,
    groups: str | None = None,
    group_label: str = "",
    re_formula: str | None = None,
    vc_formula: Mapping[str, str] | None = None,
    cov_re: CovKind = "full",
    family: str = "gaussian",
    priors: Mapping[str, object] | None = None,
    trials: str | None = None,
    offset: str | None = None,
    namespace: Mapping[str, object] | None = None,
) -> ModelSpec:
    """Build a :class:`ModelSpec` from either spelling.

    Parameters
    ----------
    formula : str
        Fixed-effects formula, optionally with lme4 bar terms.
    groups : str, optional
        Grouping column for the statsmodels spelling.
    group_label : str
        Display label of ``groups`` (``"Group"`` for an array, as statsmodels).
    re_formula : str, optional
        statsmodels' random-effects formula (default random intercept).
    vc_formula : Mapping, optional
        Variance components nested in ``groups``.
    cov_re : {"full", "diagonal"}
        Covariance of the ``re_formula`` effects.
    family : str
        Response family.
    priors : Mapping, optional
        Prior overrides.
    trials : str, optional
        Column of binomial trials (or write the response as ``successes / trials``).
    offset : str, optional
        Column added to the linear predictor (e.g. log exposure for Poisson counts).
    namespace : Mapping, optional
        Names the formulas may call besides columns; by default those of the first caller
        outside bayesmm (:func:`bayesmm.formula_env.caller_namespace`).

    Returns
    -------
    ModelSpec
        The parsed specification.
    """
    if cov_re not in ("full", "diagonal"):
        raise SpecificationError(
            f"cov_re: expected 'full' or 'diagonal'; received {cov_re!r}."
        )
    fam = get_family(family)
    response, fixed, terms = parse_lme4(formula)
    response, fixed, trials = _split_trials(response, fixed, trials, fam.needs_trials, family)
    for arg, value in (("trials", trials), ("offset", offset)):
        if value is not None and not isinstance(value, str):
            raise SpecificationError(
                f"{arg}: expected a column name; received {describe(value)}. Add the values "
                f"to the DataFrame and pass the column's name."
            )
    if offset is not None and fam.name == "gaussian":
        raise SpecificationError(
            "offset: a Gaussian model has no offset; subtract it from the response instead."
        )
    if groups is not None:
        if terms:
            raise SpecificationError(
                "groups: both lme4 bar terms in the formula and groups= were given; "
                "use one spelling, e.g. drop groups= or remove the '( | )' terms."
            )
        vcs = tuple(VCTerm(str(k), v) for k, v in (vc_formula or {}).items())
        for vc in vcs:
            if not isinstance(vc.formula, str):
                raise FormulaError(
                    f"vc_formula[{vc.name!r}]: expected a formula string like "
                    f"'0 + C(cask)'; received {describe(vc.formula)}."
                )
        terms = [
            RETerm(
                expr=_clean_re_formula(re_formula, bool(vcs)),
                factor=groups,
                correlated=cov_re == "full",
                label=group_label or groups,
                vc=vcs,
            )
        ]
    elif re_formula is not None or vc_formula:
        raise SpecificationError(
            "groups: re_formula/vc_formula need groups= (the grouping column or array); "
            "received groups=None."
        )
    if not terms:
        raise SpecificationError(
            f"groups: a mixed model needs random effects; {formula!r} has no '( | g)' term "
            "and no groups= was given. Add groups='g' or '(1 | g)'."
        )
    return ModelSpec(
        response=response,
        fixed=fixed,
        re_terms=tuple(terms),
        family=family,
        priors=MappingProxyType(dict(priors or {})),
        trials=trials,
        offset=offset,
        namespace=MappingProxyType(dict(
            caller_namespace([formula, re_formula or "", *(vc_formula or {}).values()])
            if namespace is None else namespace)),
    )


def _split_trials(response: str, fixed: str, trials: str | None, needs_trials: bool,
                  family: str) -> tuple[str, str, str | None]:
    """Read ``successes / trials`` or ``p(successes, trials)`` off a binomial response."""
    for pattern in _TRIALS_LHS:
        match = pattern.match(response)
        if match:
            if not needs_trials:
                raise FormulaError(
                    f"formula: the response {response!r} gives successes and trials, which "
                    f"only family='binomial' uses; received family={family!r}."
                )
            if trials is not None:
                raise SpecificationError(
                    f"trials: given both in the formula ({response!r}) and as "
                    f"trials={trials!r}; use one."
                )
            succ, trials = match.group(1), match.group(2)
            return succ, f"{succ} ~ {fixed.split('~', 1)[1].strip()}", trials
    if trials is not None and not needs_trials:
        raise SpecificationError(
            f"trials: only family='binomial' has trials; received family={family!r}."
        )
    return response, fixed, trials


@dataclass(frozen=True, eq=False)
class Recipe:
    """What the user passed to build a model, kept so that a saved result can be rebuilt.

    Attributes
    ----------
    api : {"formula", "arrays"}
        Which constructor was called.
    kwargs : Mapping
        JSON-serialisable constructor arguments (formula, groups, re_formula, …).
    data : pandas.DataFrame
        The data as passed (for the array API: endog, exog, groups and exog_re columns).
    """

    api: Literal["formula", "arrays"]
    kwargs: Mapping[str, object]
    data: object
