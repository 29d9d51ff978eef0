/*
 * The latent build of binomial, Bernoulli, Poisson, negative binomial, Student-t and
 * Gaussian mixed models (bayesmm.build.latent), any number of factors, on the rows.
 *
 * ints = [p, n_factors, family (0 binomial, 1 Bernoulli, 2 Poisson, 3 negative binomial,
 *         4 Student-t, 5 Gaussian), largest q, n_aux, the aux priors' offset in par, each
 *         aux prior's family (two slots),
 *         per factor: q, n_blocks, blocks' offset in ints, z's offset in x,
 *                     first column in Z, levels G;
 *         the blocks]
 * par  = [every constant of the log density, m0 (p), s0 (p), the aux priors (a, b, c each),
 *         the blocks' priors]
 * x    = [beta (p), log of each aux parameter (PyMC's order: alpha; sigma, nu; or sigma),
 *         the blocks' free values, every factor's z]
 *
 * eta = X beta + offset + sum_f rowsum(Z_f * b_f[codes_f]), b_f = z_f L_f', and
 * r = dl/deta (y - n logistic(eta), y - exp(eta), (y - mu) alpha/(alpha + mu),
 * (nu + 1)(y - eta)/(nu sigma^2 + (y - eta)^2), or (y - eta)/sigma^2):
 * dl/dbeta = X'r - (beta - m0)/s0^2, and with D_f[g] = sum over g's rows of r Z_f (G, q):
 * dl/dz_f = D_f L_f - z_f and dl/dL_f = D_f' z_f.
 */
#include "kernels.h"

#define L_HEADER 8 /* ints before the factors */
#define FACTOR 6   /* ints per factor */

/* log(1 + e^v) without overflow. */
static double log1pexp(double v)
{
    return v > 0.0 ? v + log1p(exp(-v)) : log1p(exp(v));
}

/* Columns of Z: every factor's q. */
static int64_t z_columns(const int64_t *ints)
{
    int64_t cols = 0;
    for (int64_t f = 0; f < ints[1]; f++)
        cols += ints[L_HEADER + FACTOR * f];
    return cols;
}

/* Doubles of scratch memory latent_logp needs: eta, r (N), each factor's L and dl/dL
 * (q_max, q_max), D (G, q) of the largest factor. */
static size_t latent_scratch(const bmm_data *d)
{
    const int64_t *ints = d->ints;
    int64_t qq = ints[3] * ints[3], largest = 0;
    for (int64_t f = 0; f < ints[1]; f++) {
        const int64_t *o = ints + L_HEADER + FACTOR * f;
        largest = o[0] * o[5] > largest ? o[0] * o[5] : largest;
    }
    return (size_t)(2 * d->n + (ints[1] + 1) * qq + largest);
}

static double latent_logp(const double *x, double *grad, int64_t dim, const bmm_data *d,
                          double *ws)
{
    const int64_t *ints = d->ints, *codes = d->codes;
    const double *par = d->par, *X = d->a[0], *y = d->a[1], *trials = d->a[2];
    const double *offset = d->a[3], *Z = (const double *)d->b;
    int64_t p = ints[0], n_factors = ints[1], family = ints[2], q_max = ints[3];
    int64_t n_rows = d->n, zc = z_columns(ints), qq = q_max * q_max;
    memset(grad, 0, (size_t)dim * sizeof(double));
    double logp = par[0];
    for (int64_t j = 0; j < p; j++) { /* beta ~ Normal(m0, s0) */
        double s0 = par[1 + p + j], dev = (x[j] - par[1 + j]) / s0;
        logp -= 0.5 * dev * dev;
        grad[j] -= dev / s0;
    }
    int64_t n_aux = ints[4], aux_par = ints[5];
    double aux[2] = {0.0, 0.0}, daux[2] = {0.0, 0.0}; /* the aux parameters, dl/d(each) */
    for (int64_t k = 0; k < n_aux; k++) { /* priors on the log scale, with the Jacobian */
        const double *ab = par + aux_par + 3 * k;
        double d;
        aux[k] = exp(x[p + k]);
        logp += prior(ints[6 + k], ab[0], ab[1], ab[2], aux[k], &d) + x[p + k];
        grad[p + k] += d * aux[k] + 1.0;
    }
    double *eta = ws, *r = eta + n_rows, *chols = r + n_rows, *dchol = chols + n_factors * qq;
    double *D = dchol + qq; /* (G, q) of one factor at a time */
    memset(chols, 0, (size_t)(n_factors * qq) * sizeof(double));
    for (int64_t i = 0; i < n_rows; i++) {
        double acc = offset[i];
        for (int64_t j = 0; j < p; j++)
            acc += X[i * p + j] * x[j];
        eta[i] = acc;
    }
    for (int64_t f = 0; f < n_factors; f++) {
        const int64_t *o = ints + L_HEADER + FACTOR * f;
        int64_t q = o[0], z_at = o[3], col = o[4], n_levels = o[5];
        double *L = chols + f * qq;
        logp += covariance_blocks(x, ints, par, grad, o[2], o[1], L, q_max);
        for (int64_t g = 0; g < n_levels * q; g++) { /* z ~ N(0, 1) */
            logp -= 0.5 * x[z_at + g] * x[z_at + g];
            grad[z_at + g] -= x[z_at + g];
        }
        for (int64_t i = 0; i < n_rows; i++) {
            const double *z = x + z_at + codes[i * n_factors + f] * q;
            for (int64_t k = 0; k < q; k++) {
                double b = 0.0; /* b[g, k] = sum_j z[g, j] L[k, j] */
                for (int64_t j = 0; j <= k; j++)
                    b += z[j] * L[k * q_max + j];
                eta[i] += Z[i * zc + col + k] * b;
            }
        }
    }
    if (family == 3) { /* negative binomial: alpha's terms shared by the rows */
        logp -= n_rows * lgamma(aux[0]);
        daux[0] -= n_rows * digamma(aux[0]);
    }
    if (family == 4 || family == 5) { /* Student-t, Gaussian: -N log sigma */
        logp -= n_rows * log(aux[0]);
        daux[0] -= n_rows / aux[0];
    }
    if (family == 4) { /* Student-t: nu's terms */
        double nu = aux[1];
        logp += n_rows * (lgamma(0.5 * (nu + 1.0)) - lgamma(0.5 * nu) - 0.5 * log(nu));
        daux[1] += n_rows * (0.5 * digamma(0.5 * (nu + 1.0)) - 0.5 * digamma(0.5 * nu)
                             - 0.5 / nu);
    }
    for (int64_t i = 0; i < n_rows; i++) { /* dl/deta */
        if (family == 2) { /* Poisson, log link */
            double mu = exp(eta[i]);
            logp += y[i] * eta[i] - mu;
            r[i] = y[i] - mu;
        } else if (family == 3) { /* negative binomial, log link; Var = mu + mu^2/alpha */
            double a = aux[0], mu = exp(eta[i]), am = a + mu, la = log(a / am);
            logp += lgamma(y[i] + a) + a * la + y[i] * (eta[i] - log(am));
            r[i] = (y[i] - mu) * a / am;
            daux[0] += digamma(y[i] + a) + la + (mu - y[i]) / am;
        } else if (family == 4) { /* Student-t, identity link */
            double s2 = aux[0] * aux[0], nu = aux[1], e = y[i] - eta[i], e2 = e * e;
            double den = nu * s2 + e2, w = log1p(e2 / (nu * s2));
            logp -= 0.5 * (nu + 1.0) * w;
            r[i] = (nu + 1.0) * e / den;
            daux[0] += (nu + 1.0) * e2 / (aux[0] * den);
            daux[1] += -0.5 * w + 0.5 * (nu + 1.0) * e2 / (nu * den);
        } else if (family == 5) { /* Gaussian, identity link */
            double s2 = aux[0] * aux[0], e = y[i] - eta[i];
            logp -= 0.5 * e * e / s2;
            r[i] = e / s2;
            daux[0] += e * e / (s2 * aux[0]);
        } else { /* binomial / Bernoulli, logit link */
            logp += y[i] * eta[i] - trials[i] * log1pexp(eta[i]);
            r[i] = y[i] - trials[i] / (1.0 + exp(-eta[i]));
        }
    }
    for (int64_t k = 0; k < n_aux; k++) /* through x = log(aux) */
        grad[p + k] += daux[k] * aux[k];
    for (int64_t j = 0; j < p; j++) {
        double acc = 0.0;
        for (int64_t i = 0; i < n_rows; i++)
            acc += X[i * p + j] * r[i];
        grad[j] += acc;
    }
    for (int64_t f = 0; f < n_factors; f++) {
        const int64_t *o = ints + L_HEADER + FACTOR * f;
        int64_t q = o[0], z_at = o[3], col = o[4], n_levels = o[5];
        const double *L = chols + f * qq;
        memset(D, 0, (size_t)(n_levels * q) * sizeof(double));
        for (int64_t i = 0; i < n_rows; i++) {
            double *Dg = D + codes[i * n_factors + f] * q;
            for (int64_t k = 0; k < q; k++)
                Dg[k] += r[i] * Z[i * zc + col + k];
        }
        memset(dchol, 0, (size_t)qq * sizeof(double));
        for (int64_t g = 0; g < n_levels; g++) {
            int64_t base = z_at + g * q;
            for (int64_t j = 0; j < q; j++) {
                double acc = 0.0;
                for (int64_t k = j; k < q; k++) {
                    acc += D[g * q + k] * L[k * q_max + j];
                    dchol[k * q_max + j] += D[g * q + k] * x[base + j];
                }
                grad[base + j] += acc;
            }
        }
        blocks_to_x(x, ints, o[2], o[1], dchol, q_max, grad);
    }
    return logp;
}

BMM_EXPORT int64_t bmm_latent_logp(uint64_t dim, const double *x, double *grad, double *logp,
                               void *user_data)
{
    return run_density(latent_logp, latent_scratch(user_data), dim, x, grad, logp, user_data);
}

/* beta; each aux parameter; every factor's blocks' free variables; every factor's z; per
 * factor its correlations and SDs; every factor's effects b (G, q). */
BMM_EXPORT int64_t bmm_latent_expand(uint64_t dim, uint64_t n_expanded, const double *x,
                                 double *out, void *user_data)
{
    const bmm_data *d = user_data;
    const int64_t *ints = d->ints;
    int64_t p = ints[0], n_factors = ints[1], q_max = ints[3], n_aux = ints[4];
    int64_t n_free = p + n_aux, n_z = 0;
    double *L = malloc((size_t)(q_max * q_max) * sizeof(double)); /* one factor's L */
    (void)dim, (void)n_expanded;
    if (L == NULL)
        return 4;
    for (int64_t f = 0; f < n_factors; f++) {
        const int64_t *o = ints + L_HEADER + FACTOR * f;
        int64_t n_corrs = 0;
        block_counts(ints, o[2], o[1], &n_free, &n_corrs);
        n_z += o[0] * o[5];
    }
    double *free_ = out, *zs = out + n_free, *labels = zs + n_z;
    memcpy(free_, x, (size_t)p * sizeof(double));
    free_ += p;
    for (int64_t k = 0; k < n_aux; k++)
        *free_++ = exp(x[p + k]);
    for (int64_t f = 0; f < n_factors; f++) { /* free values; z; correlations, SDs */
        const int64_t *o = ints + L_HEADER + FACTOR * f;
        int64_t n_free_f = 0, n_corrs = 0;
        block_counts(ints, o[2], o[1], &n_free_f, &n_corrs);
        double *corrs = labels, *sds = labels + n_corrs;
        expand_blocks(x, ints, o[2], o[1], &free_, &corrs, &sds);
        labels = sds;
        memcpy(zs, x + o[3], (size_t)(o[0] * o[5]) * sizeof(double));
        zs += o[0] * o[5];
    }
    double *effects = labels;
    for (int64_t f = 0; f < n_factors; f++) { /* b = z L' */
        const int64_t *o = ints + L_HEADER + FACTOR * f;
        int64_t q = o[0], z_at = o[3], n_levels = o[5];
        memset(L, 0, (size_t)(q_max * q_max) * sizeof(double));
        fill_chol(x, ints, o[2], o[1], L, q_max);
        for (int64_t g = 0; g < n_levels; g++)
            for (int64_t k = 0; k < q; k++) {
                double b = 0.0;
                for (int64_t j = 0; j <= k; j++)
                    b += x[z_at + g * q + j] * L[k * q_max + j];
                *effects++ = b;
            }
    }
    free(L);
    return 0;
}

