"""Build the C kernels (bayesmm/infer/csrc) into the extension ``bayesmm.infer._kernels``.

Everything else about the package is in pyproject.toml. The sources' hash is compiled in, so
that a build of other sources is never loaded (bayesmm/infer/kernel_library.py).
"""

import hashlib
from pathlib import Path

from setuptools import Extension, setup

CSRC = Path("bayesmm", "infer", "csrc")
FILES = sorted(CSRC.glob("*.[ch]"), key=lambda f: f.name)
DIGEST = hashlib.sha256(b"".join(f.read_bytes() for f in FILES)).hexdigest()

setup(ext_modules=[Extension(
    "bayesmm.infer._kernels", [str(f) for f in FILES if f.suffix == ".c"],
    depends=[str(f) for f in FILES if f.suffix == ".h"], libraries=["m"],
    define_macros=[("BMM_SOURCE_HASH", f'"{DIGEST}"')])])
