"""The C callbacks nutpie calls without the GIL equal the Python density, call for call."""

from __future__ import annotations

import ctypes

import numpy as np
import pytest

import bayesmm as bmm
from bayesmm.build.mixture import build_mixture
from bayesmm.infer.compiled import compile_density
from bayesmm.infer.native import native_cached, native_density

_LOGP = ctypes.CFUNCTYPE(ctypes.c_int64, ctypes.c_uint64, ctypes.c_void_p, ctypes.c_void_p,
                         ctypes.c_void_p, ctypes.c_void_p)
_EXPAND = ctypes.CFUNCTYPE(ctypes.c_int64, ctypes.c_uint64, ctypes.c_uint64, ctypes.c_void_p,
                           ctypes.c_void_p, ctypes.c_void_p)


def _call_logp(native, x: np.ndarray) -> tuple[int, float, np.ndarray]:
    """Call the C log density as nutpie does: (return code, logp, gradient)."""
    x = np.ascontiguousarray(x, dtype=float)
    grad, logp = np.zeros_like(x), np.zeros(())
    code = _LOGP(native.logp.address)(x.size, x.ctypes.data, grad.ctypes.data,
                                      logp.ctypes.data, native.user_data.ctypes.data)
    return code, float(logp), grad


def _call_expand(native, x: np.ndarray) -> tuple[int, np.ndarray]:
    x = np.ascontiguousarray(x, dtype=float)
    out = np.zeros(native.n_expanded)
    code = _EXPAND(native.expand.address)(x.size, native.n_expanded, x.ctypes.data,
                                          out.ctypes.data, native.user_data.ctypes.data)
    return code, out


def _mixture_density(frame, formula: str, k: int):
    m = bmm.mixture(formula, frame, k=k)
    return compile_density(build_mixture(m.design, m.k, m.priors, m.order), "NUMBA")


def test_callbacks_equal_the_python_density_for_every_data_set_of_a_structure(data):
    # a mixture's graph is the same for every K and data set (infer/compiled.py), so one
    # compiled pair of callbacks serves faithful with K = 2 and galaxies with K = 3
    rng = np.random.default_rng(0)
    galaxies = data("galaxies").assign(v=lambda f: f["dat"] / 1000.0)
    for frame, formula, k in ((data("faithful"), "waiting ~ 1", 2), (galaxies, "v ~ 1", 3)):
        density = _mixture_density(frame, formula, k)
        native = native_density(density)
        assert native_cached(density)
        start = np.where(np.isfinite(density.x0), density.x0, 0.0)  # ordered: -inf gaps
        for _ in range(4):
            x = start + rng.normal(0, 0.5, density.n_dim)
            code, logp, grad = _call_logp(native, x)
            want_logp, want_grad = density.logp_grad(x)
            assert code == 0
            assert logp == want_logp
            np.testing.assert_array_equal(grad, want_grad)
            code, flat = _call_expand(native, x)
            want = np.concatenate([np.ravel(v) for v in density.trace_point(x).values()])
            assert code == 0
            np.testing.assert_array_equal(flat, want)


def test_a_point_outside_the_support_returns_nutpies_error_code(data):
    density = _mixture_density(data("faithful"), "waiting ~ 1", 2)
    native = native_density(density)
    assert not np.isfinite(density.logp_grad(density.x0)[0])  # the ordered means' -inf
    code, logp, _ = _call_logp(native, density.x0)
    assert code in (3, 4) and not np.isfinite(logp)


def test_threads_on_the_callbacks_draw_what_one_thread_on_python_draws(data, seed):
    pytest.importorskip("nutpie")
    model = bmm.mixture("waiting ~ 1", data("faithful"), k=2)
    kw = {"draws": 100, "tune": 200, "chains": 4, "random_seed": seed}
    one = model.fit(cores=1, **kw).idata.posterior  # the Python density, chains in turn
    two = model.fit(cores=2, **kw).idata.posterior  # the C callbacks, 2 chains at once
    for name in ("beta", "sigma", "w"):
        np.testing.assert_array_equal(one[name].values, two[name].values)
