/*
 * Shared declarations of bayesmm's C kernels (marginal.c, latent.c, common.c, module.c).
 *
 * Covariance blocks. A factor's covariance is described by blocks of BLOCK integers in ints:
 *
 *   kind (0 one SD for columns lo..hi, 1 LKJ-correlated columns lo..hi), lo, hi,
 *   prior family (bayesmm.infer.kernel_density.FAMILIES), offset in x, offset in par
 *
 * with, in par, a one-SD block's prior (a, b, c) -- the family's two parameters and its log
 * normalising constant -- or a correlated block's eta, PyMC's LKJ constant, then (a, b, c)
 * per column. On x a one-SD block is log SD (PyMC's log transform) and a correlated block is
 * PyMC's packed Cholesky factor with a log diagonal (CholeskyCovPacked); the log density
 * includes the LKJCholeskyCov density and both transforms' Jacobians, exactly as PyMC's.
 *
 * Matrices are row-major; `ld` is a matrix's row stride.
 */
#ifndef BMM_KERNELS_H
#define BMM_KERNELS_H

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define BMM_EXPORT __attribute__((visibility("default")))
#define BMM_HIDDEN __attribute__((visibility("hidden")))
#define BLOCK 6        /* ints per covariance block */

/* What nutpie's user_data points at: nine 8-byte fields (a uint64 array in Python). */
typedef struct {
    const int64_t *ints;
    const double *par;
    int64_t n;             /* marginal: groups G; latent: rows N */
    const double *a[4];    /* marginal: ZtZ (G,q,q), ZtX (G,q,p), Zty (G,q), XtX (p,p);
                              latent: X (N,p), y (N), trials (N), offset (N) */
    const void *b;         /* marginal: Xty (p) (double); latent: Z (N, sum q) (double) */
    const int64_t *codes;  /* latent: (N, n_factors) each row's level of each factor */
} bmm_data;

/* Log density of a positive parameter s and its derivative *d (c: the log constant). */
BMM_HIDDEN double prior(int64_t family, double a, double b, double c, double s, double *d);

/* The digamma function, x > 0. */
BMM_HIDDEN double digamma(double x);

/* Overwrite the lower triangle of the SPD M (m, m) by its Cholesky factor; 0 if not PD. */
BMM_HIDDEN int cholesky(double *M, int64_t m, int64_t ld);

/* out (m, m) = (L L')^-1 from the lower Cholesky factor L (m, m). */
BMM_HIDDEN void inverse(const double *L, int64_t m, int64_t ld, double *out);

/* out (n, k) = A B, A (n, m), B (m, k); with bt, B is given as B' (k, m). */
BMM_HIDDEN void mm(const double *A, const double *B, int bt, int64_t n, int64_t m, int64_t k,
                   double *out);

/* Fill one factor's Cholesky factor of Psi, chol (q, q), from x (fill_chol); return its
 * priors' logp (with the transforms' Jacobians) and add their gradient into grad. */
BMM_HIDDEN double covariance_blocks(const double *x, const int64_t *ints, const double *par,
                                    double *grad, int64_t at, int64_t n_blocks, double *chol,
                                    int64_t ld);

/* Fill one factor's Cholesky factor of Psi, chol (q, q), from x (no priors). */
BMM_HIDDEN void fill_chol(const double *x, const int64_t *ints, int64_t at, int64_t n_blocks,
                          double *chol, int64_t ld);

/* Add dl/dL, dchol (q, q), of one factor into grad through each block's transform. */
BMM_HIDDEN void blocks_to_x(const double *x, const int64_t *ints, int64_t at, int64_t n_blocks,
                            const double *dchol, int64_t ld, double *grad);

/* Trace values of one factor's blocks, written at *frees, *corrs and *sds (each cursor
 * advanced): each block's free variable, each correlated block's correlations, every SD. */
BMM_HIDDEN void expand_blocks(const double *x, const int64_t *ints, int64_t at,
                              int64_t n_blocks, double **frees, double **corrs, double **sds);

/* How many free values and correlations a factor's blocks put in the trace. */
BMM_HIDDEN void block_counts(const int64_t *ints, int64_t at, int64_t n_blocks,
                             int64_t *n_free, int64_t *n_corrs);

/* A density with its gradient, on scratch memory ws (marginal.c, latent.c). */
typedef double (*bmm_density)(const double *x, double *grad, int64_t dim, const bmm_data *d,
                              double *ws);

/* Run density f at x on `scratch` doubles allocated for the call; nutpie's return code: 0,
 * 3 (a non-finite gradient) or 4 (a non-finite logp, or no memory). */
BMM_HIDDEN int64_t run_density(bmm_density f, size_t scratch, uint64_t dim, const double *x,
                               double *grad, double *logp, const bmm_data *d);

#endif
