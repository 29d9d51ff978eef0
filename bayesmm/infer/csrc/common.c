/* Shared numerics of the kernels: priors, small algebra, covariance blocks. */
#include "kernels.h"

/* Log density of a positive parameter s and its derivative *d (c: the log constant). */
BMM_HIDDEN double prior(int64_t family, double a, double b, double c, double s, double *d)
{
    double t;
    switch (family) {
    case 0: /* HalfNormal(sigma=a) */
        *d = -s / (a * a);
        return c - 0.5 * (s / a) * (s / a);
    case 1: /* HalfStudentT(nu=a, sigma=b) */
        t = s * s / (a * b * b);
        *d = -(a + 1.0) * s / (a * b * b * (1.0 + t));
        return c - 0.5 * (a + 1.0) * log1p(t);
    case 2: /* HalfCauchy(beta=a) */
        *d = -2.0 * s / (a * a + s * s);
        return c - log1p((s / a) * (s / a));
    case 3: /* Exponential(lam=a) */
        *d = -a;
        return c - a * s;
    case 4: /* Gamma(alpha=a, beta=b) */
        *d = (a - 1.0) / s - b;
        return c + (a - 1.0) * log(s) - b * s;
    default: /* InverseGamma(alpha=a, beta=b) */
        *d = -(a + 1.0) / s + b / (s * s);
        return c - (a + 1.0) * log(s) - b / s;
    }
}

/* The digamma function for x > 0: the recurrence up to x >= 10, then the asymptotic series
 * (its first omitted term is below 2e-14 there). */
BMM_HIDDEN double digamma(double x)
{
    double acc = 0.0;
    for (; x < 10.0; x += 1.0)
        acc -= 1.0 / x;
    double f = 1.0 / (x * x);
    return acc + log(x) - 0.5 / x
           - f * (1.0 / 12 - f * (1.0 / 120 - f * (1.0 / 252 - f * (1.0 / 240 - f / 132))));
}

/* Overwrite the lower triangle of the SPD M (m, m) by its Cholesky factor; 0 if not PD. */
BMM_HIDDEN int cholesky(double *M, int64_t m, int64_t ld)
{
    for (int64_t j = 0; j < m; j++) {
        double acc = M[j * ld + j];
        for (int64_t k = 0; k < j; k++)
            acc -= M[j * ld + k] * M[j * ld + k];
        if (!(acc > 0.0))
            return 0;
        M[j * ld + j] = sqrt(acc);
        for (int64_t i = j + 1; i < m; i++) {
            acc = M[i * ld + j];
            for (int64_t k = 0; k < j; k++)
                acc -= M[i * ld + k] * M[j * ld + k];
            M[i * ld + j] = acc / M[j * ld + j];
        }
    }
    return 1;
}

/* out (m, m) = (L L')^-1 from the lower Cholesky factor L (m, m). */
BMM_HIDDEN void inverse(const double *L, int64_t m, int64_t ld, double *out)
{
    for (int64_t col = 0; col < m; col++) { /* out[:, col] = L^-T L^-1 e_col */
        for (int64_t i = 0; i < m; i++) {
            double acc = i == col ? 1.0 : 0.0;
            for (int64_t k = 0; k < i; k++)
                acc -= L[i * ld + k] * out[k * m + col];
            out[i * m + col] = acc / L[i * ld + i];
        }
        for (int64_t i = m - 1; i >= 0; i--) {
            double acc = out[i * m + col];
            for (int64_t k = i + 1; k < m; k++)
                acc -= L[k * ld + i] * out[k * m + col];
            out[i * m + col] = acc / L[i * ld + i];
        }
    }
}

/* out (n, k) = A B, A (n, m), B (m, k); with bt, B is given as B' (k, m). */
BMM_HIDDEN void mm(const double *A, const double *B, int bt, int64_t n, int64_t m, int64_t k,
               double *out)
{
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < k; j++) {
            double acc = 0.0;
            for (int64_t l = 0; l < m; l++)
                acc += A[i * m + l] * (bt ? B[j * m + l] : B[l * k + j]);
            out[i * k + j] = acc;
        }
}

/* Fill one factor's Cholesky factor of Psi, chol (q, q), from x (fill_chol); return its
 * priors' logp (with the transforms' Jacobians) and add their gradient into grad. */
BMM_HIDDEN double covariance_blocks(const double *x, const int64_t *ints, const double *par,
                                double *grad, int64_t at, int64_t n_blocks, double *chol,
                                int64_t ld)
{
    double logp = 0.0, d;
    fill_chol(x, ints, at, n_blocks, chol, ld);
    for (int64_t blk = 0; blk < n_blocks; blk++) {
        const int64_t *o = ints + at + BLOCK * blk;
        int64_t kind = o[0], lo = o[1], hi = o[2], family = o[3], xo = o[4], po = o[5];
        if (kind == 0) { /* one SD for columns lo..hi */
            double sd = chol[lo * ld + lo];
            logp += prior(family, par[po], par[po + 1], par[po + 2], sd, &d) + x[xo];
            grad[xo] += d * sd + 1.0;
            continue;
        }
        int64_t m = hi - lo, k = xo; /* LKJCholeskyCov: packed rows of L, log diagonal */
        double eta = par[po];
        logp += par[po + 1];
        for (int64_t i = 0; i < m; i++) {
            const double *row = chol + (lo + i) * ld + lo; /* row i of the block's L */
            double ss = 0.0;
            for (int64_t j = 0; j <= i; j++)
                ss += row[j] * row[j];
            double sd = sqrt(ss);
            int64_t pb = po + 2 + 3 * i;
            double lp = prior(family, par[pb], par[pb + 1], par[pb + 2], sd, &d);
            double a_i = 2.0 * eta - 2.0 + (double)(m - i);
            double l_ii = row[i];
            logp += lp + a_i * log(l_ii) - (a_i + (double)i) * log(sd) + x[k + i];
            /* d/dL_ij = coef L_ij (+ a_i / L_ii on the diagonal) */
            double coef = (d - (a_i + (double)i) / sd) / sd;
            for (int64_t j = 0; j < i; j++)
                grad[k + j] += coef * row[j];
            grad[k + i] += (coef * l_ii + a_i / l_ii) * l_ii + 1.0;
            k += i + 1;
        }
    }
    return logp;
}

/* Fill one factor's Cholesky factor of Psi, chol (q, q), from x (no priors). */
BMM_HIDDEN void fill_chol(const double *x, const int64_t *ints, int64_t at, int64_t n_blocks,
                      double *chol, int64_t ld)
{
    for (int64_t blk = 0; blk < n_blocks; blk++) {
        const int64_t *o = ints + at + BLOCK * blk;
        int64_t lo = o[1], hi = o[2], k = o[4];
        if (o[0] == 0) {
            for (int64_t c = lo; c < hi; c++)
                chol[c * ld + c] = exp(x[k]);
            continue;
        }
        for (int64_t i = 0; i < hi - lo; i++)
            for (int64_t j = 0; j <= i; j++, k++)
                chol[(lo + i) * ld + lo + j] = j == i ? exp(x[k]) : x[k];
    }
}

/* Add dl/dL, dchol (q, q), of one factor into grad through each block's transform. */
BMM_HIDDEN void blocks_to_x(const double *x, const int64_t *ints, int64_t at, int64_t n_blocks,
                        const double *dchol, int64_t ld, double *grad)
{
    for (int64_t blk = 0; blk < n_blocks; blk++) {
        const int64_t *o = ints + at + BLOCK * blk;
        int64_t kind = o[0], lo = o[1], hi = o[2], xo = o[4];
        if (kind == 0) {
            double acc = 0.0;
            for (int64_t c = lo; c < hi; c++)
                acc += dchol[c * ld + c];
            grad[xo] += exp(x[xo]) * acc;
            continue;
        }
        int64_t k = xo;
        for (int64_t i = 0; i < hi - lo; i++)
            for (int64_t j = 0; j <= i; j++, k++) {
                double g = dchol[(lo + i) * ld + lo + j];
                grad[k] += j == i ? g * exp(x[k]) : g;
            }
    }
}

/* Trace values of one factor's blocks, written at *free, *corrs and *sds (each cursor
 * advanced): each block's free variable, each correlated block's correlations, every SD. */
BMM_HIDDEN void expand_blocks(const double *x, const int64_t *ints, int64_t at, int64_t n_blocks,
                          double **frees, double **corrs, double **sds)
{
    for (int64_t blk = 0; blk < n_blocks; blk++) {
        const int64_t *o = ints + at + BLOCK * blk;
        int64_t kind = o[0], lo = o[1], hi = o[2], xo = o[4];
        if (kind == 0) {
            *(*frees)++ = exp(x[xo]);
            *(*sds)++ = exp(x[xo]);
            continue;
        }
        int64_t m = hi - lo, k = xo;
        double *L = *frees, *sd = *sds; /* the packed rows of L are the block's free values */
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j <= i; j++, k++)
                *(*frees)++ = j == i ? exp(x[k]) : x[k];
        for (int64_t i = 0; i < m; i++) {
            double ss = 0.0;
            for (int64_t j = 0; j <= i; j++)
                ss += L[i * (i + 1) / 2 + j] * L[i * (i + 1) / 2 + j];
            *(*sds)++ = sqrt(ss);
        }
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < m; j++) {
                double acc = 0.0;
                for (int64_t l = 0; l <= (i < j ? i : j); l++)
                    acc += L[i * (i + 1) / 2 + l] * L[j * (j + 1) / 2 + l];
                *(*corrs)++ = acc / (sd[i] * sd[j]);
            }
    }
}

/* How many free values and correlations a factor's blocks put in the trace. */
BMM_HIDDEN void block_counts(const int64_t *ints, int64_t at, int64_t n_blocks, int64_t *n_free,
                         int64_t *n_corrs)
{
    for (int64_t blk = 0; blk < n_blocks; blk++) {
        const int64_t *o = ints + at + BLOCK * blk;
        int64_t m = o[2] - o[1];
        *n_free += o[0] == 0 ? 1 : m * (m + 1) / 2;
        *n_corrs += o[0] == 0 ? 0 : m * m;
    }
}

/* Run density f at x on `scratch` doubles allocated for the call; nutpie's return code: 0,
 * 3 (a non-finite gradient) or 4 (a non-finite logp, or no memory). */
BMM_HIDDEN int64_t run_density(bmm_density f, size_t scratch, uint64_t dim, const double *x,
                               double *grad, double *logp, const bmm_data *d)
{
    double *ws = malloc(scratch * sizeof(double));
    if (ws == NULL) {
        *logp = -INFINITY;
        return 4;
    }
    *logp = f(x, grad, (int64_t)dim, d, ws);
    free(ws);
    for (uint64_t i = 0; i < dim; i++)
        if (!isfinite(grad[i]))
            return 3;
    return isfinite(*logp) ? 0 : 4;
}

