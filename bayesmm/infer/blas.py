"""How many BLAS threads each kind of fit runs with: one, and why.

numpy and scipy wheels each load their own OpenBLAS, each with a pool of threads that spin
after a call. Two such pools on two cores fight: a 181 × 181 Cholesky in the grouse-ticks
Laplace fit took 7 ms instead of 0.2 ms (the fit: 19.6 s against 1.0 s).

* Point fits hold every pool at one thread. Keeping scipy's pool
  (the large Schur-complement factorisations of :mod:`bayesmm.blocked` go through
  ``scipy.linalg``) and holding only numpy's at one was measured on the 24,613-row
  three-factor design (a 1,380 × 1,380 Schur complement): REML 0.8 s against 1.0 s on an idle
  2-core machine, but 2.3 s against 1.1 s with one other process busy, where the pool's
  second thread waits for a core at every synchronisation. One thread also makes the result
  independent of the machine's core count (a threaded factorisation sums in another order).
* NUTS: one thread everywhere; the chains are the parallelism. The exception is a
  hand-written C kernel's chains, which make no BLAS call: they run without the limit, and
  so without the process's first limit (5.7 ms, below) when nothing else needs one. Their
  posterior mode is found by BFGS (NumPy's algebra on small matrices): L-BFGS-B's LAPACK
  calls woke scipy's OpenBLAS pool, whose worker then spun for about 100 ms of CPU beside
  nutpie's threads (Dyestuff2 sampled in 29–33 ms instead of 17). A pool limited during an
  earlier point fit does not spin after the limit is lifted (measured).
* A Gaussian point fit of one factor with one θ (a random intercept) is a bounded scalar
  search on the C criterion and p × p solves: it runs without the limit too.

Both run inside :func:`one_blas_thread`. The BLAS libraries are found once per process
(:func:`_controller`): ``threadpool_limits`` finds them again at every call, reading
``/proc/self/maps`` and checking the path of each of the ~250 loaded libraries, 1.3–1.7 ms a
call (5.7 ms the first time in a process) where a Dyestuff2 fit samples in 17 ms. A BLAS
library first loaded after that is not limited; the ones bayesmm calls (numpy's and scipy's)
are loaded by ``import bayesmm``.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator
from contextlib import contextmanager

from threadpoolctl import ThreadpoolController

__all__ = ["one_blas_thread"]

_BLAS_THREAD_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


@contextmanager
def one_blas_thread() -> Iterator[None]:
    """Run a fit with one BLAS thread: point fits, and NUTS (one per chain).

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
        with _controller().limit(limits=1, user_api="blas"):
            yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@functools.cache
def _controller() -> ThreadpoolController:
    """Find the process's thread-pool libraries, once (on the first fit)."""
    return ThreadpoolController()
