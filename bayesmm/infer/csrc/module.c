/*
 * bayesmm's hand-written log densities and gradients, in C: built once at installation.
 *
 * Two densities on PyMC's flat unconstrained vector x, each with its analytic gradient
 * (docs/marginal.md, "Sampled by nutpie on hand-written C kernels, built at installation"):
 *
 *   bmm_marginal_*  the Gaussian marginal build of one factor, beta integrated out
 *                   (bayesmm.build.marginal), on the per-group sufficient statistics;
 *   bmm_latent_*    the latent build of binomial, Bernoulli, Poisson, negative binomial,
 *                   Student-t and Gaussian mixed models (bayesmm.build.latent), any number
 *                   of factors, on the rows;
 *
 * and bmm_profile, the one-factor profiled quantities of the REML/ML/MAP criterion
 * (bayesmm.infer.fast_deviance).
 *
 * Every dimension is read at run time from two layout arrays (ints, par) built by
 * bayesmm/infer/kernel_density.py, so this one library serves every model of either
 * family. The functions have nutpie's C signatures,
 *
 *   logp(dim, x, grad, logp, user_data) -> 0 | 3 (non-finite gradient) | 4 (non-finite logp)
 *   expand(dim, n_expanded, x, out, user_data) -> 0
 *
 * with user_data a bmm_data (kernels.h), so nutpie's threads call them without the GIL, and
 * Python calls them through ctypes (bayesmm/infer/kernel_library.py). They keep no state:
 * every call allocates its own scratch memory (a failed allocation returns 4).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "kernels.h"

#ifndef BMM_SOURCE_HASH
#define BMM_SOURCE_HASH "unknown"
#endif

/* The SHA-256 of the sources it was built from (setup.py): a stale build is not loaded. */
BMM_EXPORT const char *bmm_source_hash(void)
{
    return BMM_SOURCE_HASH;
}

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_kernels",
    "bayesmm's compiled log densities (C functions, loaded with ctypes).", -1, NULL, NULL,
    NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__kernels(void)
{
    return PyModule_Create(&module);
}
