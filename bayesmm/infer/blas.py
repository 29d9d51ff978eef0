"""How many BLAS threads each kind of fit runs with.

numpy and scipy wheels each load their own OpenBLAS, each with a pool of threads that spin
after a call. Two such pools on two cores fight: a 181 × 181 Cholesky in the grouse-ticks
Laplace fit took 7 ms instead of 0.2 ms (the fit: 19.6 s against 1.0 s).

* Point fits (:func:`one_blas_pool`): every pool but scipy's runs one thread. The large
  factorisations (the blocked Schur complement, :mod:`bayesmm.blocked`) go through
  ``scipy.linalg`` and keep its threads; numpy's small products and einsums run on one. On
  the 24,613-row three-factor design (a 1,380 × 1,380 Schur complement) REML took 1.47 s
  against 1.96 s with every pool at one thread, and 2.5-2.7 s with none limited; the Laplace
  fits were within 5 % of one thread everywhere.
* NUTS (:func:`one_blas_thread`): one thread everywhere; the chains are the parallelism.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import scipy
from threadpoolctl import ThreadpoolController, threadpool_limits

__all__ = ["one_blas_pool", "one_blas_thread"]

_BLAS_THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def _others_than_scipys(controller: ThreadpoolController) -> list[str]:
    """Paths of the BLAS libraries to hold at one thread: all but scipy's own.

    scipy's is the one shipped in its wheel's ``scipy.libs`` folder. Where that is not found
    (a system or conda BLAS) a single library keeps its threads, as one pool cannot fight
    itself, and several are all limited.
    """
    libs = [lc.filepath for lc in controller.lib_controllers if lc.user_api == "blas"]
    wheel = str(Path(scipy.__file__).parent) + ".libs"
    own = [path for path in libs if path.startswith(wheel)]
    if not own and len(libs) == 1:
        own = libs
    return [path for path in libs if path not in own]


@contextmanager
def one_blas_pool() -> Iterator[None]:
    """Run a point fit with scipy's BLAS pool only; every other BLAS library on one thread."""
    controller = ThreadpoolController()
    others = _others_than_scipys(controller)
    if not others:
        yield
        return
    with controller.select(filepath=others).limit(limits=1):
        yield


@contextmanager
def one_blas_thread() -> Iterator[None]:
    """Run NUTS with one BLAS thread per chain: the chains are the parallelism.

    A chain's linear algebra is on small matrices (q × q blocks, (N, p) products), where an
    OpenBLAS pool of spinning threads only competes with the other chains for the cores.
    Measured on the collapsed build of a 56 × 32 crossed design with two 2 × 2 covariance
    blocks, while other processes shared the 2 cores: a gradient of the C-compiled density
    took 9.6 ms with OpenBLAS's default pool against 0.51 ms with one thread (Numba: 0.46
    against 0.28 ms). The limit covers this process (nutpie's threads, PyMC's sequential
    chains) through threadpoolctl, and PyMC's chain processes through the environment
    they inherit when PyMC first starts its process server; the previous values return
    afterwards.
    """
    saved = {name: os.environ.get(name) for name in _BLAS_THREAD_VARS}
    os.environ.update(dict.fromkeys(_BLAS_THREAD_VARS, "1"))
    try:
        with threadpool_limits(limits=1, user_api="blas"):
            yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
