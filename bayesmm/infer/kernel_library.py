"""The compiled C kernels (``csrc/``), built once at installation and loaded with ctypes.

``pip install`` builds ``csrc/*.c`` into the extension module ``bayesmm.infer._kernels``
(setup.py), with the sources' hash compiled in. Its four functions have nutpie's C
signatures, so nutpie's threads call them without the GIL, and Python calls them here
through ctypes. Where that extension is missing or was built from other sources (a source
checkout on ``PYTHONPATH``, an edited source in an editable install), the sources are
compiled once with the C compiler Python was built with (0.7 s)
into PyTensor's ``compiledir`` (under ``bayesmm/``), keyed by the same hash. With no
working compiler there is no library, and :mod:`bayesmm.infer.kernel_density` returns no
density: those fits keep the compiled PyTensor path.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import importlib.util
import os
import shlex
import subprocess
import sysconfig
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["CSRC", "CFunction", "Kernel", "SOURCE_HASH", "compile_command", "kernel",
           "profile_function", "user_data"]

CSRC = Path(__file__).with_name("csrc")
SOURCES = sorted(CSRC.glob("*.[ch]"), key=lambda f: f.name)  # as setup.py hashes them
SOURCE_HASH = hashlib.sha256(b"".join(f.read_bytes() for f in SOURCES)).hexdigest()
_LOGP = (ctypes.c_int64, [ctypes.c_uint64, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
                          ctypes.c_void_p])
_EXPAND = (ctypes.c_int64, [ctypes.c_uint64, ctypes.c_uint64, ctypes.c_void_p, ctypes.c_void_p,
                            ctypes.c_void_p])


@dataclass(frozen=True)
class CFunction:
    """A C function's address: what nutpie's ``CompiledPyMCModel`` reads of a callback."""

    address: int


@dataclass(frozen=True)
class Kernel:
    """One density's two C functions (``bmm_<name>_logp`` and ``bmm_<name>_expand``)."""

    logp: ctypes._CFuncPtr
    expand: ctypes._CFuncPtr

    @property
    def callbacks(self) -> tuple[CFunction, CFunction]:
        """Both functions' addresses, for nutpie."""
        return tuple(CFunction(ctypes.cast(f, ctypes.c_void_p).value)
                     for f in (self.logp, self.expand))

    def logp_dlogp(self, x: np.ndarray, record: np.ndarray, *_arrays: np.ndarray
                   ) -> tuple[float, np.ndarray]:
        """Log density and gradient at ``x`` (n,); ``record`` from :func:`user_data`.

        The arrays ``record`` points at follow it in a density's data (kept alive there).
        """
        x = np.ascontiguousarray(x, dtype=float)
        grad = np.empty(x.size)
        value = ctypes.c_double()
        self.logp(x.size, x.ctypes.data, grad.ctypes.data, ctypes.addressof(value),
                  record.ctypes.data)
        return value.value, grad

    def expand_flat(self, x: np.ndarray, record: np.ndarray, *_arrays: np.ndarray,
                    n_expanded: int) -> tuple[np.ndarray]:
        """Return the trace variables at ``x``, flat (``n_expanded`` values, in a 1-tuple)."""
        x = np.ascontiguousarray(x, dtype=float)
        out = np.empty(n_expanded)
        self.expand(x.size, n_expanded, x.ctypes.data, out.ctypes.data, record.ctypes.data)
        return (out,)


def user_data(ints: np.ndarray, par: np.ndarray, n: int, arrays: tuple[np.ndarray, ...],
              second: np.ndarray, codes: np.ndarray | None = None) -> np.ndarray:
    """Return the ``bmm_data`` record (``csrc/kernels.h``) of a model: nine uint64 words.

    ``ints`` (int64) and ``par`` are the layout, ``n`` the groups or rows, ``arrays`` the
    four float64 arrays ``a``, ``second`` the array ``b`` and ``codes`` (int64) the latent
    build's levels; every array must be C-contiguous and outlive the record.
    """
    for a in (ints, par, *arrays, second) + (() if codes is None else (codes,)):
        if not a.flags.c_contiguous:  # the C side reads raw memory
            raise ValueError("the kernels' arrays must be C-contiguous")
    return np.array([ints.ctypes.data, par.ctypes.data, n, *(a.ctypes.data for a in arrays),
                     second.ctypes.data, 0 if codes is None else codes.ctypes.data],
                    dtype=np.uint64)


def _built() -> Path | None:
    """Return the installed extension's file if it was built from these sources."""
    spec = importlib.util.find_spec(f"{__package__}._kernels")
    if spec is None or spec.origin is None:
        return None
    lib = ctypes.CDLL(spec.origin)
    lib.bmm_source_hash.restype = ctypes.c_char_p
    return Path(spec.origin) if lib.bmm_source_hash().decode() == SOURCE_HASH else None


def compile_command(output: Path) -> list[str]:
    """Return the command compiling ``csrc/*.c`` into the shared library ``output``."""
    cc = shlex.split(sysconfig.get_config_var("CC") or "cc")
    return [*cc, "-O3", "-fwrapv", "-fPIC", "-shared", f"-DBMM_SOURCE_HASH=\"{SOURCE_HASH}\"",
            f"-I{sysconfig.get_paths()['include']}", *(str(f) for f in SOURCES if f.suffix == ".c"),
            "-o", str(output), "-lm"]


def _folder() -> Path:
    """Return where the sources are compiled: ``bayesmm/`` in PyTensor's compiledir."""
    import pytensor

    return Path(pytensor.config.compiledir) / "bayesmm"


def _compiled() -> Path | None:
    """Compile the sources into :func:`_folder` (once per hash); None on failure."""
    folder = _folder()
    target = folder / f"kernels-{SOURCE_HASH[:16]}{sysconfig.get_config_var('EXT_SUFFIX')}"
    if target.exists():
        return target
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, suffix=".so")
    os.close(fd)
    try:
        subprocess.run(compile_command(Path(tmp)), check=True, capture_output=True)
        os.replace(tmp, target)  # atomic: concurrent processes see the whole file or none
    except (OSError, subprocess.CalledProcessError):
        Path(tmp).unlink(missing_ok=True)
        return None
    return target


@functools.cache
def _library() -> ctypes.CDLL | None:
    """Load the installed extension, or the sources compiled; None if neither can be had."""
    path = _built() or _compiled()
    return None if path is None else ctypes.CDLL(str(path))


def kernel(name: str) -> Kernel | None:
    """Return the ``"marginal"`` or ``"latent"`` kernel, or None without a library."""
    lib = _library()
    if lib is None:
        return None
    functions = []
    for suffix, (restype, argtypes) in (("logp", _LOGP), ("expand", _EXPAND)):
        fn = getattr(lib, f"bmm_{name}_{suffix}")
        fn.restype, fn.argtypes = restype, argtypes
        functions.append(fn)
    return Kernel(*functions)


def profile_function() -> ctypes._CFuncPtr | None:
    """Return ``bmm_profile(lam, out, user_data)`` (``csrc/marginal.c``), or None."""
    lib = _library()
    if lib is None:
        return None
    fn = lib.bmm_profile
    fn.restype, fn.argtypes = ctypes.c_int64, [ctypes.c_void_p] * 3
    return fn
