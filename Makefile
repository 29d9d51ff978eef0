# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# base_compiledir: C modules, Numba machine code and bayesmm's compiled densities all live here
export PYTENSOR_FLAGS ?= base_compiledir=$(CURDIR)/.pytensor_cache

.PHONY: demo test test-fast lint install

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(VENV)/.installed: $(PY) pyproject.toml setup.py $(wildcard bayesmm/infer/csrc/*)
	$(PY) -m pip install -q -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(PY) -m pip install -q -e ".[test]"
	touch $@

install: $(VENV)/.installed

# pip builds the NUTS kernels (C, bayesmm/infer/csrc) at installation; the warm-up checks
# that they load and sample (bayesmm/warmup.py)
demo: $(VENV)/.installed
	$(PY) -m bayesmm warmup
	$(PY) -m bayesmm demo

# two workers, each test file on one worker (its module fixtures fit once): the suite is
# mostly single-threaded NUTS and compilation, 1634 s serial vs 1047 s on 2 cores. Files run
# in collection order, longest first (tests/conftest.py), not xdist's most-tests-first.
XDIST := -n 2 --dist loadfile --no-loadscope-reorder
# one BLAS thread per process: two workers, each with a pool of spinning OpenBLAS threads,
# oversubscribe the 2 cores (bayesmm's samplers set the same limit for their chains)
test test-fast: export OPENBLAS_NUM_THREADS = 1
test: $(VENV)/.installed-test
	$(PY) -m pytest $(XDIST)

# the edit loop: everything but the statistical-calibration (slow) tests
test-fast: $(VENV)/.installed-test
	$(PY) -m pytest $(XDIST) -m "not slow" -x -q

lint: $(VENV)/.installed-test
	$(PY) -m ruff check bayesmm tests benchmarks notebooks
