"""Models laid out for the compiled C kernels: layout arrays, data, trace labels.

The C kernels (``csrc/``, loaded by :mod:`bayesmm.infer.kernel_library`) compute the Gaussian
marginal density of one factor with β integrated out, and the latent build's density of
binomial, Bernoulli, Poisson, negative binomial, Student-t and Gaussian mixed models, for any
dimensions, from a description of the model in two arrays. Here that description is built from
the design and the resolved priors, with the names, shapes and dimensions of the trace variables
that the PyMC model of the build would have (``tests/infer/test_kernel_density.py`` checks them
against it), so a fit on a kernel builds no PyMC model at all (0.2 s of graph construction for
sleepstudy) and compiles nothing. A model no kernel covers — another prior family or
parameterisation, a fixed effect without a Normal prior, another family — gets ``None`` and
keeps the compiled PyTensor path (:func:`bayesmm.infer.compiled.compile_density`).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from scipy.special import gammaln

from ..build.common import coords_of, effect_dims, sd_names
from ..build.marginal import beta_is_conjugate, marginal_applies, normal_prior_moments
from ..design import Design, FactorDesign
from ..priors import Prior, corr_key, sd_key
from ..suffstats import SuffStats
from .compiled import CompiledDensity
from .kernel_library import SOURCE_HASH, Kernel, kernel, user_data
from .native import NativeDensity

__all__ = ["FAMILIES", "KEY", "LATENT_KEY", "KernelDensity", "kernel_density", "kernel_layout",
           "latent_kernel_density", "latent_layout"]

# prior families of a positive parameter: code in csrc/common.c, parameter names (a, b)
FAMILIES = {"HalfNormal": (0, ("sigma",)), "HalfStudentT": (1, ("nu", "sigma")),
            "HalfCauchy": (2, ("beta",)), "Exponential": (3, ("lam",)),
            "Gamma": (4, ("alpha", "beta")), "InverseGamma": (5, ("alpha", "beta"))}
# csrc/latent.c's layout: ints before the factors, ints per factor
LATENT_HEADER, FACTOR = 8, 6
# the densities' keys: nothing of a model enters them (one build serves every model)
KEY, LATENT_KEY = f"marginal-{SOURCE_HASH}", f"latent-{SOURCE_HASH}"


def _flat_size(shapes: tuple[tuple[int, ...], ...]) -> int:
    """Length of the trace variables of ``shapes`` end to end."""
    return int(sum(np.prod(s, dtype=int) for s in shapes))


@dataclass(frozen=True, eq=False)
class KernelDensity(CompiledDensity):
    """A :class:`CompiledDensity` on a C kernel: ``data`` is its record, then its arrays.

    ``expand`` returns the trace as one flat array; ``kernel`` gives nutpie the C functions.
    """

    kernel: Kernel | None = None

    @property
    def n_expanded(self) -> int:
        """Length of the flat trace."""
        return _flat_size(self.shapes)

    @property
    def native(self) -> NativeDensity:
        """The kernel's C functions and the record they read, for nutpie's threads."""
        logp, expand = self.kernel.callbacks
        return NativeDensity(logp, expand, self.data[0], self.data[1:], self.n_expanded)

    def trace_point(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """Evaluate the trace variables at ``x``, by name."""
        (flat,) = self.expand(x, *self.data)
        out, at = {}, 0
        for name, shape in zip(self.names, self.shapes, strict=True):
            size = int(np.prod(shape, dtype=int))
            out[name] = np.asarray(flat[at:at + size], dtype=float).reshape(shape)
            at += size
        return out


@dataclass(frozen=True)
class KernelLayout:
    """A kernel's description of a model (``csrc/``).

    Attributes
    ----------
    ints, par : ndarray
        Integer and float layout arrays.
    value_names : tuple of str
        PyMC's value variables, in the flat vector's order.
    names : tuple of str
        The trace variables, in ``expand``'s order.
    shapes : tuple of tuple of int
    dims : dict
        Dimension names of the trace variables that have them (as the model's).
    x0 : ndarray
        PyMC's initial point (every prior's support point, transformed).
    """

    ints: np.ndarray
    par: np.ndarray
    value_names: tuple[str, ...]
    names: tuple[str, ...]
    shapes: tuple[tuple[int, ...], ...]
    dims: dict[str, tuple[str, ...]]
    x0: np.ndarray


def _family(prior: Prior) -> tuple[int, float, float, float, float] | None:
    """(code, a, b, log constant, support point) of a positive prior, None if not covered."""
    if prior.dist not in FAMILIES:
        return None
    code, keys = FAMILIES[prior.dist]
    if set(prior.params) != set(keys):
        return None
    a = float(prior.params[keys[0]])
    b = float(prior.params[keys[1]]) if len(keys) > 1 else 0.0
    if prior.dist == "HalfNormal":
        return code, a, b, 0.5 * np.log(2.0 / np.pi) - np.log(a), a
    if prior.dist == "HalfStudentT":
        c = (np.log(2.0) + gammaln((a + 1.0) / 2.0) - gammaln(a / 2.0)
             - 0.5 * np.log(a * np.pi * b * b))
        return code, a, b, c, b
    if prior.dist == "HalfCauchy":
        return code, a, b, np.log(2.0) - np.log(np.pi) - np.log(a), a
    if prior.dist == "Exponential":
        return code, a, b, np.log(a), 1.0 / a
    c = a * np.log(b) - gammaln(a)  # Gamma, InverseGamma
    if prior.dist == "Gamma":
        return code, a, b, c, a / b
    return code, a, b, c, b / (a - 1.0) if a > 1.0 else b / (a + 1.0)


def lkj_log_norm(eta: float, n: int) -> float:
    """Return the constant PyMC's LKJ log density adds for LKJ(η) over n × n correlations.

    It is log Z, Z = ∫ det(C)^(η − 1) dC, where a normalised density would subtract it
    (pymc-devs/pymc#1042); the kernel adds what the model's logp adds, so both agree.
    """
    if eta == 1.0:
        out = sum(gammaln(2.0 * k) for k in range(1, (n - 1) // 2 + 1))
        if n % 2 == 1:
            return float(out + 0.25 * (n**2 - 1) * np.log(np.pi)
                         - 0.25 * (n - 1) ** 2 * np.log(2.0) - (n - 1) * gammaln((n + 1) // 2))
        return float(out + 0.25 * n * (n - 2) * np.log(np.pi)
                     + 0.25 * (3 * n**2 - 4 * n) * np.log(2.0) + n * gammaln(n / 2)
                     - (n - 1) * gammaln(n))
    out = -(n - 1) * gammaln(eta + 0.5 * (n - 1))
    return float(out + sum(0.5 * k * np.log(np.pi) + gammaln(eta + 0.5 * (n - 1 - k))
                           for k in range(1, n)))


def _blocks(factor: FactorDesign, priors: dict[str, Prior], ints: list, par: list,
            x0: list) -> tuple[list, list, list] | None:
    """Append every covariance block's layout; return its value, free and corr names."""
    values, free, corrs = [], [], []
    for b, block in enumerate(factor.blocks):
        lo, hi = block.cols[0], block.cols[-1] + 1
        if block.kind != "corr":
            found = _family(priors[sd_key(factor, block.name if block.kind == "vc"
                                          else factor.znames[lo])])
            if found is None:
                return None
            ints.extend([0, lo, hi, found[0], len(x0), len(par)])
            par.extend(found[1:4])
            x0.append(np.log(found[4]))
            values.append(f"_{factor.label}_sd{b}_log__")
            free.append((f"_{factor.label}_sd{b}", ()))
            continue
        cols = [_family(priors[sd_key(factor, factor.znames[c])]) for c in block.cols]
        if any(f is None for f in cols) or len({f[0] for f in cols}) != 1:
            return None
        m, eta = hi - lo, float(priors[corr_key(factor)].params["eta"])
        ints.extend([1, lo, hi, cols[0][0], len(x0), len(par)])
        par.extend([eta, lkj_log_norm(eta, m)])
        for f in cols:
            par.extend(f[1:4])
        x0.extend([0.0] * (m * (m + 1) // 2))  # the support point: L = I
        values.append(f"_{factor.label}_chol{b}_cholesky-cov-packed__")
        free.append((f"_{factor.label}_chol{b}", (m * (m + 1) // 2,)))
        corrs.append((f"{factor.label}_corr", (m, m)))
    return values, free, corrs


def kernel_layout(design: Design, priors: dict[str, Prior], stats: SuffStats
                  ) -> KernelLayout | None:
    """Describe the marginal model of ``design`` to the kernel; None where it does not apply.

    It applies to one Gaussian factor with Normal priors on every fixed effect and, on σ
    and every SD, a prior of :data:`FAMILIES` in its
    canonical parameters.
    """
    if not (marginal_applies(design) and beta_is_conjugate(design, priors)
            and [a.name for a in design.family.aux] == ["sigma"]):
        return None
    sigma = _family(priors["sigma"])
    if sigma is None:
        return None
    factor = design.factors[0]
    p = len(design.xnames)
    m0, s0 = normal_prior_moments(design, priors)
    ints = [factor.q, p, len(factor.blocks), sigma[0]]
    par = [float(stats.yty), float(stats.n_obs), *m0, *s0, *sigma[1:4]]
    x0 = [np.log(sigma[4])]
    found = _blocks(factor, priors, ints, par, x0)
    if found is None:
        return None
    values, free, corrs = found
    label = factor.label
    trace = [("sigma", ()), *free, *corrs, (f"{label}_sd", (len(sd_names(factor)),))]
    dims = {f"{label}_sd": (f"{label}_sd_dim",)}
    if corrs:
        dims[f"{label}_corr"] = (f"{label}_corr_row", f"{label}_corr_col")
    return KernelLayout(np.asarray(ints, dtype=np.int64), np.asarray(par, dtype=float),
                        ("sigma_log__", *values), tuple(n for n, _ in trace),
                        tuple(s for _, s in trace), dims, np.asarray(x0, dtype=float))


def _density(layout: KernelLayout, design: Design, name: str, n: int,
             arrays: tuple[np.ndarray, ...], second: np.ndarray,
             codes: np.ndarray | None = None) -> KernelDensity | None:
    """Kernel ``name`` on the model's record and arrays, with the trace's labels.

    None without the compiled kernels (:mod:`bayesmm.infer.kernel_library`).
    """
    found = kernel(name)
    if found is None:
        return None
    record = user_data(layout.ints, layout.par, n, arrays, second, codes)
    data = (record, layout.ints, layout.par, *arrays, second,
            *(() if codes is None else (codes,)))  # the arrays kept alive beside the record
    coords = coords_of(design)
    return KernelDensity(found.logp_dlogp,
                         functools.partial(found.expand_flat,
                                           n_expanded=_flat_size(layout.shapes)), data,
                         layout.names, layout.shapes, layout.x0,
                         KEY if name == "marginal" else LATENT_KEY, layout.dims,
                         {d: coords[d] for dd in layout.dims.values() for d in dd}, found)


def kernel_density(design: Design, priors: dict[str, Prior], stats: SuffStats
                   ) -> KernelDensity | None:
    """Return the kernel's density of the marginal model; None where the kernel does not apply.

    Parameters
    ----------
    design : Design
    priors : dict
        Resolved priors.
    stats : SuffStats

    Returns
    -------
    KernelDensity or None
        With the trace variables' dims and coordinates, so no PyMC model is needed.
    """
    layout = kernel_layout(design, priors, stats)
    if layout is None:
        return None
    arrays = tuple(np.ascontiguousarray(getattr(stats, n), dtype=float)
                   for n in ("ZtZ", "ZtX", "Zty", "XtX", "Xty"))  # (G,q,q) (G,q,p) (G,q) (p,p) (p,)
    return _density(layout, design, "marginal", arrays[0].shape[0], arrays[:4], arrays[4])


LATENT_FAMILIES = {"binomial": 0, "bernoulli": 1, "poisson": 2, "negbin": 3, "t": 4,
                   "gaussian": 5}


def _loglik_constant(design: Design) -> float:
    """Sum the log-likelihood's terms free of parameters (binomial coefficients, log y!, π)."""
    y = np.asarray(design.y, dtype=float)
    if design.family.name in ("poisson", "negbin"):
        return float(-np.sum(gammaln(y + 1.0)))
    if design.family.name == "t":
        return -0.5 * y.size * np.log(np.pi)
    if design.family.name == "gaussian":
        return -0.5 * y.size * np.log(2.0 * np.pi)
    if design.family.name == "binomial":
        n = np.asarray(design.trials, dtype=float)
        return float(np.sum(gammaln(n + 1.0) - gammaln(y + 1.0) - gammaln(n - y + 1.0)))
    return 0.0


def latent_layout(design: Design, priors: dict[str, Prior]) -> KernelLayout | None:
    """Describe the latent model of ``design`` to its kernel; None where it does not apply.

    It applies to the binomial, Bernoulli, Poisson, negative binomial, Student-t and Gaussian
    families with a Normal prior on every fixed effect (one vector ``beta``) and, on the
    family's own parameters and every SD, a prior of :data:`FAMILIES` in its canonical
    parameters.
    """
    fe = [priors[n] for n in design.xnames]
    if (design.family.name not in LATENT_FAMILIES or not fe
            or any(p.dist != "Normal" or set(p.params) != {"mu", "sigma"} for p in fe)):
        return None
    aux = [_family(priors[a.name]) for a in design.family.aux]
    if len(aux) > 2 or any(a is None for a in aux):  # latent.c has two slots
        return None
    m0, s0 = normal_prior_moments(design, priors)
    p, factors = len(fe), design.factors
    n_effects = sum(len(f.levels) * f.q for f in factors)
    const = _loglik_constant(design) - np.sum(np.log(s0)) \
        - 0.5 * (p + n_effects) * np.log(2.0 * np.pi)
    par, x0, blocks = [const, *m0, *s0], list(m0), []
    for prior in aux:  # each on the log scale, after beta (PyMC's order)
        par.extend(prior[1:4])
        x0.append(np.log(prior[4]))
    names = [a.name for a in design.family.aux]
    values, free = [f"{n}_log__" for n in names], [(n, ()) for n in names]
    labels, dims = [], {"beta": ("coef",)}
    starts = []
    for factor in factors:
        starts.append(len(blocks))
        found = _blocks(factor, priors, blocks, par, x0)
        if found is None:
            return None
        values.extend(found[0])
        free.extend(found[1])
        labels.extend([*found[2], (f"{factor.label}_sd", (len(sd_names(factor)),))])
        dims[f"{factor.label}_sd"] = (f"{factor.label}_sd_dim",)
        if found[2]:
            dims[f"{factor.label}_corr"] = (f"{factor.label}_corr_row",
                                            f"{factor.label}_corr_col")
    ints = [p, len(factors), LATENT_FAMILIES[design.family.name], max(f.q for f in factors),
            len(aux), 1 + 2 * p, *[a[0] for a in aux], *[-1] * (2 - len(aux))]
    head = LATENT_HEADER + FACTOR * len(factors)
    zs, effects, col = [], [], 0
    for factor, at in zip(factors, starts, strict=True):
        shape = (len(factor.levels), factor.q)
        ints.extend([factor.q, len(factor.blocks), head + at, len(x0), col, shape[0]])
        x0.extend([0.0] * (shape[0] * shape[1]))
        col += factor.q
        zs.append((f"_{factor.label}_z", shape))
        effects.append((factor.label, shape))
        dims[f"_{factor.label}_z"] = dims[factor.label] = effect_dims(factor)
    trace = [("beta", (p,)), *free, *zs, *labels, *effects]
    return KernelLayout(np.asarray(ints + blocks, dtype=np.int64), np.asarray(par, dtype=float),
                        ("beta", *values, *(n for n, _ in zs)), tuple(n for n, _ in trace),
                        tuple(s for _, s in trace), dims, np.asarray(x0, dtype=float))


def latent_kernel_density(design: Design, priors: dict[str, Prior]) -> KernelDensity | None:
    """Return the latent kernel's density of ``design``; None where the kernel does not apply.

    Parameters
    ----------
    design : Design
        With rows (the latent build's likelihood is over them).
    priors : dict
        Resolved priors.

    Returns
    -------
    KernelDensity or None
    """
    layout = latent_layout(design, priors)
    if layout is None:
        return None
    n = design.y.size
    arrays = (np.ascontiguousarray(design.X, dtype=float),  # (N, p)
              np.ascontiguousarray(design.y, dtype=float),
              np.ones(n) if design.trials is None
              else np.ascontiguousarray(design.trials, dtype=float),
              np.zeros(n) if design.offset is None
              else np.ascontiguousarray(design.offset, dtype=float))
    Z = np.ascontiguousarray(np.hstack([f.Z for f in design.factors]), dtype=float)  # (N, Σq)
    codes = np.ascontiguousarray(np.stack([f.codes for f in design.factors], axis=1),
                                 dtype=np.int64)  # (N, F)
    return _density(layout, design, "latent", n, arrays, Z, codes)
