"""A model's log density on its flat unconstrained vector, compiled once per graph and cached.

PyMC compiles ``logp_dlogp_function`` anew for every ``pm.sample``: on the marginal build
3.5–5 s of graph rewriting, more than the sampling itself. Here the log density, its gradient
and the trace variables (free variables on their own scale and deterministics) are compiled
as pure functions of the flat vector and of the shared variables the graph reads (the model's
data containers and dimension lengths), given as explicit arguments, so nothing of one data set
stays inside the compiled function. The marginal build
registers its statistics and its priors' parameters as containers, so its graph depends only
on the model's structure.

The flat vector is split by the value variables' *symbolic* shapes (computed in the graph
from the dimension lengths it reads), not by one point's shapes as PyMC's
``join_nonshared_inputs`` does: a mixture's graph is then the same for every number of
components, and one compilation serves K = 2, 3, 4, … (galaxies: 15–20 s saved per new K).

Compiled functions are kept by a key that hashes the joined graph (every node and every
constant; variable names are replaced by their order of appearance, so a factor's label does
not make a new structure, and the data are bound by position): in memory for the session,
and pickled into PyTensor's ``compiledir`` (under ``bayesmm/``) for later processes; an
unreadable file is recompiled.
With ``mode="NUMBA"``, PyTensor also caches the generated machine code on disk, which a cold
first compile of the marginal graph takes 40–50 s to build.
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import tempfile
import threading
import warnings
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import numpy as np
import pymc as pm
import pytensor
import pytensor.tensor as pt
from pymc.initial_point import make_initial_point_expression
from pytensor.compile.sharedvalue import SharedVariable
from pytensor.graph.basic import Constant, clone_get_equiv
from pytensor.graph.replace import graph_replace
from pytensor.graph.rewriting.utils import rewrite_graph
from pytensor.graph.traversal import ancestors, graph_inputs
from pytensor.tensor.random.type import RandomType

__all__ = ["CompiledDensity", "compile_density", "density_key", "model_key"]

# in every key: the package version and this module's own source (what it compiles and how)
_VERSION = metadata.version("bayesmm") + hashlib.sha256(Path(__file__).read_bytes()).hexdigest()
MEMORY_SLOTS = 32  # compiled densities kept in memory (least recently used dropped)


@dataclass(frozen=True, eq=False)
class CompiledDensity:
    """Compiled functions of the flat unconstrained vector ``x`` (n,) and the model's data.

    Attributes
    ----------
    logp_dlogp : callable
        ``logp_dlogp(x, *data) -> (logp, dlogp)``, ``dlogp`` of shape (n,). Safe to call
        from several threads at once (nutpie runs each chain in a thread of its own).
    expand : callable
        ``expand(x, *data) -> tuple`` of the trace variables, in ``names`` order; also
        thread-safe.
    data : tuple of ndarray
        The model's data containers, in argument order.
    names : tuple of str
        The trace variables: free variables on their own scale, then deterministics.
    shapes : tuple of tuple of int
    x0 : ndarray, shape (n,)
        The model's initial point.
    key : str
        Hash of the compiled graphs (:func:`density_key`).
    dims, coords : dict, optional
        The trace variables' dimension names and those dimensions' coordinates, when the
        density is built without a PyMC model (a hand-written kernel's); None: the model's.
    """

    logp_dlogp: Callable
    expand: Callable
    data: tuple[np.ndarray, ...]
    names: tuple[str, ...]
    shapes: tuple[tuple[int, ...], ...]
    x0: np.ndarray
    key: str
    dims: dict[str, tuple[str, ...]] | None = None
    coords: dict[str, list] | None = None

    @property
    def n_dim(self) -> int:
        """Length of the flat unconstrained vector."""
        return int(self.x0.size)

    def logp_grad(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        """Log density and gradient at ``x``."""
        logp, grad = self.logp_dlogp(x, *self.data)
        return float(logp), np.asarray(grad)

    def trace_point(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """Evaluate the trace variables at ``x``, by name."""
        values = self.expand(x, *self.data)
        return {n: np.asarray(v, dtype=float).reshape(s)
                for n, v, s in zip(self.names, values, self.shapes, strict=True)}


def _canonical(graphs: list) -> list:
    """Copy ``graphs``, renaming their named variables by order of appearance.

    Names carry no structure (a factor's label: ``Subject_sd`` or ``county_sd``), so graphs
    that differ only in them get one key and share one compiled function; the data are
    bound by position (:func:`_shared_list`), never by name.
    """
    equiv = clone_get_equiv(list(graph_inputs(graphs)), graphs, copy_inputs=True,
                            copy_orphans=True)
    clones = [equiv[g] for g in graphs]
    for i, var in enumerate(ancestors(clones)):
        if var.name is not None:
            var.name = f"v{i}"
    return clones


def density_key(graphs: list, mode: str) -> str:
    """Hash of graphs of the flat vector: every node, every constant, names canonicalised."""
    graphs = _canonical(graphs)
    text = io.StringIO()
    pytensor.dprint(graphs, file=text, print_type=True)
    h = hashlib.sha256(text.getvalue().encode())
    for var in graph_inputs(graphs):
        if isinstance(var, Constant):
            data = np.asarray(var.data)
            # an object constant (None: a random variable's size) would hash its address
            h.update(repr(var.data).encode() if data.dtype == object else data.tobytes())
    for part in (mode, _VERSION, pm.__version__, pytensor.__version__):
        h.update(part.encode())
    return h.hexdigest()


def _value_shapes(model: pm.Model) -> list[pytensor.Variable]:
    """Symbolic shape of every value variable, on the unconstrained scale (model order).

    Each is the shape of the transformed random variable, rewritten so that it reads the
    graph's dimension lengths and data shapes rather than the variable itself.
    """
    shapes = []
    for value in model.value_vars:
        rv = model.values_to_rvs[value]
        transform = model.rvs_to_transforms.get(rv)
        var = transform.forward(rv, *rv.owner.inputs) if transform is not None else rv
        shapes.append(var.shape)  # (ndim,) int64
    return rewrite_graph(shapes, include=("canonicalize", "ShapeOpt"))


def _join(model: pm.Model, outputs: list, x: pytensor.Variable) -> list:
    """Replace the value variables in ``outputs`` by consecutive slices of the flat ``x``."""
    replace, start = {}, pt.constant(0, dtype="int64")
    for value, shape in zip(model.value_vars, _value_shapes(model), strict=True):
        size = pt.prod(shape, dtype="int64")
        piece = x[start:start + size].reshape(shape, ndim=value.ndim).astype(value.dtype)
        replace[value] = value.type.filter_variable(piece)
        start = start + size
    return [pytensor.clone_replace(out, replace, rebuild_strict=False) for out in outputs]


def _start_graph(model: pm.Model) -> pytensor.Variable | None:
    """Build the model's initial point as a graph of its data: the flat unconstrained (n,).

    PyMC's ``model.initial_point()`` (support points, or the variables' own initial values,
    then the transforms) compiles a function on every call: 0.9 s of a 2.3 s fit of
    sleepstudy in a new process. As a graph it is compiled and cached with the density.
    """
    if any(v is not None for v in model.rvs_to_initial_values.values()):
        return None  # the builds set none; a user's model may: PyMC's own initial point
    values = make_initial_point_expression(
        free_rvs=model.free_RVs, rvs_to_transforms=model.rvs_to_transforms,
        initval_strategies=dict(model.rvs_to_initial_values), return_transformed=True)
    flat = pt.concatenate([pt.cast(v, "float64").ravel() for v in values])  # (n,)
    # a support point shaped like its variable (zeros_like) reads the variable's node and
    # generator: rewrite it to read the dimension lengths instead
    flat = rewrite_graph(flat, include=("canonicalize", "specialize", "ShapeOpt"))
    if any(isinstance(v.type, RandomType) for v in graph_inputs([flat])):
        return None  # a distribution whose support point draws: PyMC's own initial point
    return flat


def _start_signature(model: pm.Model) -> str:
    """Name what the initial point depends on besides the data: each free variable's kind.

    The rewritten start graph is not hashed (the rewrites may order a commutative node's
    inputs differently from run to run); support points are fixed by the distributions and
    their transforms, whose parameters are the graph's data.
    """
    return "|".join(f"{type(rv.owner.op).__name__}:{type(model.rvs_to_transforms[rv]).__name__}"
                    for rv in model.free_RVs)


@dataclass(frozen=True, eq=False)
class _Graphs:
    """A model's graphs of the flat vector ``x`` (n,), and the key they are compiled under."""

    x: pytensor.Variable
    logp: pytensor.Variable
    trace: list
    start: pytensor.Variable | None
    key: str


def _graphs(model: pm.Model, mode: str) -> _Graphs:
    """Join the log density and trace variables on one flat vector; build the start; key."""
    x = pt.vector("__x", dtype="float64")  # (n,) the flat unconstrained vector
    logp, *trace = _join(model, [model.logp(),
                                 *model.replace_rvs_by_values(model.unobserved_RVs)], x)
    start = _start_graph(model)
    key = density_key([logp, *trace],
                      f"{mode}|{start is not None}|{_start_signature(model)}")
    return _Graphs(x, logp, trace, start, key)


@dataclass(frozen=True, eq=False)
class _Functions:
    """What the caches keep: the compiled functions and their data arguments' positions.

    ``data_positions[i]`` is the position, in :func:`_shared_list` of the density and trace
    graphs, of the shared variable passed as the i-th data argument. ``start(x, *data)``
    ignores ``x`` and returns the model's initial point (:func:`_start_graph`); None when that
    is PyMC's to compute.
    """

    logp_dlogp: object
    expand: object
    start: object
    data_positions: tuple[int, ...]


_MEMORY: OrderedDict[str, _Functions] = OrderedDict()


def _shared_list(graphs: list) -> list[SharedVariable]:
    """List the shared variables the graphs read (data containers, dimension lengths).

    The order is the graph traversal's, so graphs of one structure list them alike.
    """
    return list(dict.fromkeys(v for v in graph_inputs(graphs) if isinstance(v, SharedVariable)))


def _compile(model: pm.Model, g: _Graphs, mode: str) -> _Functions:
    """Compile ``[logp, dlogp]``, the trace (of the flat ``x``) and the start as f(x, *data)."""
    (dlogp,) = _join(model, [model.dlogp()], g.x)  # (n,): per value variable, as PyMC orders it
    known = _shared_list([g.logp, *g.trace])
    starts = [] if g.start is None else _on_density_data(g.start, known)
    outputs = [g.logp, dlogp, *g.trace, *starts]
    shared = _shared_list(outputs)
    if any(v not in known for v in shared):
        raise ValueError("the gradient reads a shared variable the density does not: "
                         f"{[v.name for v in shared if v not in known]}")
    data = [v.type(name=f"data{i}") for i, v in enumerate(shared)]
    outputs = graph_replace(outputs, dict(zip(shared, data, strict=True)), strict=False)
    inputs = [g.x, *data]
    kw = {"mode": mode, "on_unused_input": "ignore"}
    n_trace = len(g.trace)
    return _Functions(pm.pytensorf.compile(inputs, outputs[:2], **kw),
                      pm.pytensorf.compile(inputs, outputs[2:2 + n_trace], **kw),
                      pm.pytensorf.compile(inputs, outputs[-1], **kw) if starts else None,
                      tuple(known.index(v) for v in shared))


def _on_density_data(start: pytensor.Variable, known: list[SharedVariable]
                     ) -> list[pytensor.Variable]:
    """``[start]`` reading the density's own shared variables, ``[]`` if it reads others.

    PyMC builds the initial point on copies of the model's data containers; a model's
    variable names are unique, so each copy is matched to its original by name.
    """
    by_name = {v.name: v for v in known if v.name is not None}
    copies = _shared_list([start])
    if any(v.name not in by_name for v in copies):
        return []
    return [graph_replace(start, {v: by_name[v.name] for v in copies}, strict=False)]


def _pymc_start(model: pm.Model) -> np.ndarray:
    """PyMC's initial point as the flat vector (n,), compiled on every call."""
    point = model.initial_point()
    return np.concatenate([np.ravel(point[v.name]) for v in model.value_vars]).astype(float)


def _cache_dir() -> Path:
    return Path(pytensor.config.compiledir) / "bayesmm"


def _load(path: Path) -> object:
    try:
        with path.open("rb") as f:
            return pickle.load(f)
    except Exception:  # noqa: BLE001 — a stale or broken cache file is recompiled
        return None


def _store(path: Path, functions: object) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            pickle.dump(functions, f)
        os.replace(tmp, path)
    except Exception:  # noqa: BLE001 — caching is an optimisation; a read-only dir is fine
        return


def model_key(model: pm.Model, mode: str = "NUMBA") -> str:
    """Return the key :func:`compile_density` files ``model``'s compiled functions under.

    Parameters
    ----------
    model : pymc.Model
    mode : str

    Returns
    -------
    str
    """
    return _graphs(model, mode).key


def compile_density(model: pm.Model, mode: str = "NUMBA") -> CompiledDensity:
    """Compile (or fetch from the caches) ``model``'s flat log density and trace function.

    Parameters
    ----------
    model : pymc.Model
        A model with continuous free variables only.
    mode : str
        PyTensor compile mode: ``"NUMBA"`` (one fused function: 15–20 µs a call on the
        marginal build, against 125–175 µs for the C backend's node-by-node loop) or
        ``"FAST_RUN"``.

    Returns
    -------
    CompiledDensity
    """
    g = _graphs(model, mode)
    key = g.key
    path = _cache_dir() / f"{key}.pkl"
    functions = _MEMORY.get(key) or _load(path)
    if not isinstance(functions, _Functions):
        functions = _compile(model, g, mode)
        _store(path, functions)
    _MEMORY[key] = functions
    _MEMORY.move_to_end(key)
    while len(_MEMORY) > MEMORY_SLOTS:
        _MEMORY.popitem(last=False)
    shared = _shared_list([g.logp, *g.trace])
    values = tuple(np.asarray(shared[i].get_value()) for i in functions.data_positions)
    names = tuple(v.name for v in model.unobserved_RVs)
    logp_dlogp, expand = (_reentrant(f, mode) for f in (functions.logp_dlogp, functions.expand))
    with _quiet_numba(mode):  # Numba compiles (or loads its cache) on the first call
        x0 = _pymc_start(model) if functions.start is None \
            else np.asarray(functions.start(np.empty(0), *values), dtype=float)  # (n,)
        _, grad = logp_dlogp(x0, *values)
        shapes = tuple(np.shape(v) for v in expand(x0, *values))
    if np.shape(grad) != x0.shape:  # the symbolic split disagrees with the model's point
        raise RuntimeError(f"compiled gradient has shape {np.shape(grad)}; the model's flat "
                           f"vector has {x0.shape}")
    return CompiledDensity(logp_dlogp, expand, values, names, shapes, x0, key)


@contextmanager
def _quiet_numba(mode: str) -> Iterator[None]:
    """Silence Numba's performance hints about PyTensor's generated code while it compiles.

    E.g. "np.dot() is faster on contiguous arrays" for a mixture's graph: a remark on
    PyTensor's code generation that no user of bayesmm can act on.
    """
    with warnings.catch_warnings():
        if mode == "NUMBA":
            from numba.core.errors import NumbaPerformanceWarning

            warnings.simplefilter("ignore", NumbaPerformanceWarning)
        yield


def _reentrant(fn: pytensor.compile.function.types.Function, mode: str) -> Callable:
    """Wrap ``fn`` as a callable that threads can share.

    A compiled PyTensor function writes its outputs into storage it owns, so two threads
    calling it at once can read each other's results (seen as a ``None`` logp under nutpie
    with two cores). Under Numba the generated function itself allocates its outputs and
    holds no state: call it directly (also skipping the wrapper's 3 µs). Otherwise a lock
    serialises the calls.
    """
    if mode == "NUMBA":
        return fn.vm.jit_fn
    fn.trust_input = True
    lock = threading.Lock()

    def call(*args: np.ndarray) -> list:
        with lock:
            return [np.copy(v) for v in fn(*args)]
    return call
