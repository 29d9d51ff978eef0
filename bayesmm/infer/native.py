"""A compiled density as C callbacks that nutpie's threads call without the GIL.

:func:`bayesmm.infer.compiled.compile_density` gives the log density, its gradient and the
trace variables as Numba functions of the flat vector and the model's data arrays. Called
from Python (:mod:`bayesmm.infer.flat_nutpie`'s ``from_pyfunc`` path) each call holds the
GIL, so nutpie's chains take turns. Here two small ``numba.cfunc`` wrappers with nutpie's
C signatures call those functions directly; the data reach them as addresses, sizes and
shapes in one ``uint64`` array (nutpie's ``user_data`` pointer), so nothing of a data set
is compiled in and one compilation serves every data set of a model structure.

The wrappers are cached on disk through PyTensor's Numba cache (its locator keyed by a
hash we give: the density's key, the data layout and this module), so only the first fit of
a structure pays their compile: 12 s for a mixture, 30 s for sleepstudy's marginal model, on
the 2-core machine; later processes load them in 0.1 s. They hold no ``try``: with Numba's
exception handling the mixture's wrapper took 211 s to compile. A density that fails returns
a non-finite value, which nutpie treats as a divergence.

Measured, galaxies K = 4 (4 chains × 12,000 draws, 1.7 M gradients): 21 µs a gradient
either way, but the whole fit took 40 s on 2 cores against 169 s for the ``from_pyfunc``
path, whose four chain threads contend for the GIL (a self-extending run needs all chains
running at once). Densities over many rows do not gain from threads here: the collapsed
build of 31,022 rows sampled 4 × 1000 after 1000 in 65.9 s with 2 threads and with 1.
"""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass
from pathlib import Path

import numba
import numpy as np
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from .compiled import CompiledDensity

__all__ = ["NativeDensity", "native_cached", "native_density"]

# in every key: this module's source (how the wrappers are written)
_VERSION = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()

# nutpie's C signatures: logp(dim, x, grad, logp, user_data) and
# expand(dim, n_expanded, x, out, user_data), each returning 0 on success
_LOGP_SIG = types.int64(types.uint64, types.CPointer(types.double),
                        types.CPointer(types.double), types.CPointer(types.double),
                        types.voidptr)
_EXPAND_SIG = types.int64(types.uint64, types.uint64, types.CPointer(types.double),
                          types.CPointer(types.double), types.voidptr)


@intrinsic
def _as_pointer(typingctx: object, address: types.Type) -> tuple:
    """Turn an integer address into a ``void*`` inside Numba code."""
    def codegen(context: object, builder: object, sig: object, args: list) -> object:
        return builder.inttoptr(args[0], cgutils.voidptr_t)
    return types.voidptr(address), codegen


@dataclass(frozen=True, eq=False)
class NativeDensity:
    """C callbacks of a density and the data they read.

    Attributes
    ----------
    logp : numba.core.ccallback.CFunc
        ``logp(dim, x, grad, logp, user_data) -> int``: 0, or nutpie's error codes (3 a
        non-finite gradient, 4 a non-finite log density).
    expand : numba.core.ccallback.CFunc
        ``expand(dim, n_expanded, x, out, user_data) -> int``: the trace variables, flat,
        in ``CompiledDensity.names`` order.
    user_data : ndarray of uint64
        Per data array: its address, size and shape. Valid while ``data`` lives.
    data : tuple of ndarray
        C-contiguous copies of the density's data arrays (kept alive here).
    n_expanded : int
        Length of the flat trace vector.
    """

    logp: object
    expand: object
    user_data: np.ndarray
    data: tuple[np.ndarray, ...]
    n_expanded: int


_WRAPPERS = '''
def logp_c(dim, x_, grad_, logp_, u_):
    UNPACK
    x = carray(x_, (dim,))
    grad = carray(grad_, (dim,))
    value, g = LOGP(x, DATA)
    carray(logp_, ())[()] = value
    grad[:] = g
    if not np.all(np.isfinite(grad)):
        return 3
    if not np.isfinite(value):
        return 4
    return 0


def expand_c(dim, n_expanded, x_, out_, u_):
    UNPACK
    x = carray(x_, (dim,))
    out = carray(out_, (n_expanded,))
    at = 0
    for v in literal_unroll(EXPAND(x, DATA)):
        flat = np.asarray(v).ravel()
        out[at:at + flat.size] = flat
        at += flat.size
    return 0
'''


def _layout(data: tuple[np.ndarray, ...]) -> tuple[str, np.ndarray]:
    """Source of both wrappers for ``data``'s layout, and ``u``, the data's description.

    ``u`` holds, per array, its address, size and shape; the source depends only on each
    array's number of dimensions and dtype, so it serves every data set of that layout.
    """
    lines, names, u = [], [], []
    for i, a in enumerate(data):
        at = len(u)
        u.extend([a.ctypes.data, a.size, *a.shape])
        shape = "".join(f"int(u[{at + 2 + j}]), " for j in range(a.ndim))
        lines.append(f"a{i} = carray(ptr(u[{at}]), int(u[{at + 1}]), "
                     f"np.{a.dtype.name}).reshape(({shape}))")
        names.append(f"a{i}")
    unpack = "\n    ".join([f"u = carray(u_, ({max(len(u), 1)},), np.uint64)", *lines])
    args = "".join(", " + n for n in names)
    source = _WRAPPERS.replace("UNPACK", unpack).replace(", DATA", args)
    return source, np.asarray(u if u else [0], dtype=np.uint64)


def _key(density: CompiledDensity, source: str) -> str:
    """Cache key of the wrappers: the density's graph, the data layout, this module."""
    return hashlib.sha256((density.key + source + _VERSION).encode()).hexdigest()


def native_cached(density: CompiledDensity) -> bool:
    """Whether ``density``'s C callbacks are in the disk cache (loading them takes ~0.1 s)."""
    from pytensor.link.numba.cache import NUMBA_CACHE_PATH

    key = _key(density, _layout(density.data)[0])
    return all(any(NUMBA_CACHE_PATH.glob(f"*bayesmm-{name}-{key}*.nbi"))
               for name in ("logp_c", "expand_c"))


def native_density(density: CompiledDensity) -> NativeDensity:
    """Compile (or load from PyTensor's Numba cache) ``density``'s C callbacks.

    Parameters
    ----------
    density : CompiledDensity
        A density compiled with ``mode="NUMBA"``.

    Returns
    -------
    NativeDensity
    """
    from pytensor.link.numba.cache import compile_numba_function_src

    data = tuple(np.array(a, order="C", copy=True) for a in density.data)
    source, user_data = _layout(data)
    key = _key(density, source)
    env = {"__name__": __name__, "np": np, "carray": numba.carray, "ptr": _as_pointer,
           "literal_unroll": numba.literal_unroll,
           "LOGP": density.logp_dlogp, "EXPAND": density.expand}
    compiled = []
    for name, sig in (("logp_c", _LOGP_SIG), ("expand_c", _EXPAND_SIG)):
        fn = compile_numba_function_src(source, name, env, cache_key=f"bayesmm-{name}-{key}")
        with warnings.catch_warnings():  # numba's remarks on PyTensor's generated code
            warnings.simplefilter("ignore", numba.NumbaWarning)
            compiled.append(numba.cfunc(sig, cache=True)(fn))
    n_expanded = int(sum(np.prod(s, dtype=int) for s in density.shapes))
    return NativeDensity(compiled[0], compiled[1], user_data, data, n_expanded)
