/*
 * The Gaussian marginal build of one factor, beta integrated out (bayesmm.build.marginal),
 * on the per-group sufficient statistics.
 *
 * ints = [q, p, n_blocks, sigma_family, the factor's blocks]
 * par  = [y'y, N, m0 (p), s0 (p), sigma's prior (a, b, c), the blocks' priors]
 *
 * With Gamma = t[[P^-1 + mu mu', -mu], [-mu', 1]] (t = 1/sigma^2, mu = P^-1 h) and
 * C_g = B_g Gamma B_g' (B_g = [Z_g'X_g | Z_g'y_g]):
 *   dl/dLambda = -sum_g [G_g - (I - G_g K_g) C_g] Lambda M_g^-1,  K_g = Lambda M_g^-1 Lambda'
 *   dl/dsigma|Lambda = -N/sigma + (d + tr(P^-1 A) - 2c'mu + mu'A mu)/sigma^3
 * then through Lambda = L/sigma, the priors and PyMC's transforms. q = 1 and q = 2 take
 * closed forms in scalars.
 */
#include "kernels.h"

#define M_HEADER 4 /* ints before the blocks */

/* q = 1: sum log M_g, and S -= sum_g lam^2/M_g B_g'B_g; Ms[g] <- M_g = 1 + lam^2 Z_g'Z_g. */
static double intercepts_normal_equations(double lam, const bmm_data *d, int64_t p,
                                          double *Ms, double *S, double *B)
{
    const double *ZtZ = d->a[0], *ZtX = d->a[1], *Zty = d->a[2];
    double l2 = lam * lam, logdet = 0.0;
    int64_t n = p + 1;
    for (int64_t g = 0; g < d->n; g++) {
        double m = 1.0 + l2 * ZtZ[g];
        Ms[g] = m;
        logdet += log(m);
        memcpy(B, ZtX + g * p, (size_t)p * sizeof(double));
        B[p] = Zty[g];
        double w = l2 / m;
        for (int64_t a = 0; a < n; a++) {
            double wa = w * B[a];
            for (int64_t b = 0; b <= a; b++)
                S[a * n + b] -= wa * B[b];
        }
    }
    for (int64_t a = 0; a < n; a++)
        for (int64_t b = 0; b < a; b++)
            S[b * n + a] = S[a * n + b];
    return logdet;
}

/* q = 1: dl/dlam = -sum_g (G_g - C_g/M_g) lam/M_g. */
static double intercepts_gradient(double lam, double t, const double *mu, const double *Pinv,
                                  const bmm_data *d, int64_t p, const double *Ms)
{
    const double *ZtZ = d->a[0], *ZtX = d->a[1], *Zty = d->a[2];
    double out = 0.0;
    for (int64_t g = 0; g < d->n; g++) {
        const double *bx = ZtX + g * p;
        double r = Zty[g], quad = 0.0;
        for (int64_t k = 0; k < p; k++) {
            r -= bx[k] * mu[k];
            double acc = 0.0;
            for (int64_t j = 0; j < p; j++)
                acc += Pinv[k * p + j] * bx[j];
            quad += bx[k] * acc;
        }
        double m = Ms[g], c = t * (quad + r * r);
        out -= (ZtZ[g] - c / m) * lam / m;
    }
    return out;
}

/* q = 2: sum log|M_g| and S -= sum_g R_g'R_g; Ms[g] <- the Cholesky of M_g (a, b, c). */
static double slopes_normal_equations(const double *lam, const bmm_data *d, int64_t p,
                                      double *Ms, double *S, double *R0, double *R1)
{
    const double *ZtZ = d->a[0], *ZtX = d->a[1], *Zty = d->a[2];
    double l00 = lam[0], l10 = lam[2], l11 = lam[3], logdet = 0.0;
    int64_t n = p + 1;
    for (int64_t g = 0; g < d->n; g++) {
        const double *G = ZtZ + 4 * g, *bx = ZtX + 2 * p * g;
        double g00 = G[0], g01 = G[2], g11 = G[3];
        double m00 = 1.0 + l00 * l00 * g00 + 2.0 * l00 * l10 * g01 + l10 * l10 * g11;
        double m10 = l11 * (g01 * l00 + g11 * l10), m11 = 1.0 + l11 * l11 * g11;
        double a = sqrt(m00), b = m10 / a, c = sqrt(m11 - b * b);
        Ms[4 * g] = a, Ms[4 * g + 2] = b, Ms[4 * g + 3] = c;
        logdet += 2.0 * log(a * c);
        for (int64_t k = 0; k < n; k++) { /* R = L_g^-1 Lambda' B_g */
            double b0 = k < p ? bx[k] : Zty[2 * g], b1 = k < p ? bx[p + k] : Zty[2 * g + 1];
            R0[k] = (l00 * b0 + l10 * b1) / a;
            R1[k] = (l11 * b1 - b * R0[k]) / c;
        }
        for (int64_t i = 0; i < n; i++)
            for (int64_t j = 0; j <= i; j++)
                S[i * n + j] -= R0[i] * R0[j] + R1[i] * R1[j];
    }
    for (int64_t i = 0; i < n; i++)
        for (int64_t j = 0; j < i; j++)
            S[j * n + i] = S[i * n + j];
    return logdet;
}

/* q = 2: dlam -= sum_g [G_g - (I - G_g K_g) C_g] Lambda M_g^-1, in scalars. */
static void slopes_gradient(const double *lam, double t, const double *mu, const double *Pinv,
                            const bmm_data *d, int64_t p, const double *Ms, double *dlam,
                            double *w0, double *w1)
{
    const double *ZtZ = d->a[0], *ZtX = d->a[1], *Zty = d->a[2];
    double l00 = lam[0], l10 = lam[2], l11 = lam[3];
    for (int64_t g = 0; g < d->n; g++) {
        const double *bx = ZtX + 2 * p * g, *G = ZtZ + 4 * g;
        double a = Ms[4 * g], b = Ms[4 * g + 2], c = Ms[4 * g + 3];
        double det = a * a * c * c;
        double i00 = (b * b + c * c) / det, i01 = -a * b / det, i11 = a * a / det; /* M^-1 */
        double r0 = Zty[2 * g], r1 = Zty[2 * g + 1];
        for (int64_t k = 0; k < p; k++) {
            r0 -= bx[k] * mu[k];
            r1 -= bx[p + k] * mu[k];
            double acc0 = 0.0, acc1 = 0.0;
            for (int64_t j = 0; j < p; j++) {
                acc0 += bx[j] * Pinv[j * p + k];
                acc1 += bx[p + j] * Pinv[j * p + k];
            }
            w0[k] = acc0, w1[k] = acc1;
        }
        double c00 = r0 * r0, c01 = r0 * r1, c11 = r1 * r1;
        for (int64_t k = 0; k < p; k++) {
            c00 += w0[k] * bx[k];
            c01 += w0[k] * bx[p + k];
            c11 += w1[k] * bx[p + k];
        }
        c00 *= t, c01 *= t, c11 *= t; /* C_g */
        double n00 = l00 * i00, n01 = l00 * i01; /* N = Lambda M^-1 */
        double n10 = l10 * i00 + l11 * i01, n11 = l10 * i01 + l11 * i11;
        double k00 = n00 * l00, k01 = n00 * l10 + n01 * l11, k11 = n10 * l10 + n11 * l11;
        double g00 = G[0], g01 = G[2], g11 = G[3];
        double f00 = g00 * k00 + g01 * k01, f01 = g00 * k01 + g01 * k11; /* F = GK */
        double f10 = g01 * k00 + g11 * k01, f11 = g01 * k01 + g11 * k11;
        double e00 = g00 - c00 + f00 * c00 + f01 * c01; /* E = G - C + FC */
        double e01 = g01 - c01 + f00 * c01 + f01 * c11;
        double e10 = g01 - c01 + f10 * c00 + f11 * c01;
        double e11 = g11 - c11 + f10 * c01 + f11 * c11;
        dlam[0] -= e00 * n00 + e01 * n10; /* E N */
        dlam[1] -= e00 * n01 + e01 * n11;
        dlam[2] -= e10 * n00 + e11 * n10;
        dlam[3] -= e10 * n01 + e11 * n11;
    }
}

/* Any q: Ms[g] <- Cholesky of I + Lambda'G_g Lambda; logdet and S as above. 0 if not PD. */
static int generic_normal_equations(const double *lam, const bmm_data *d, int64_t q,
                                    int64_t p, double *Ms, double *S, double *R,
                                    double *logdet)
{
    const double *ZtZ = d->a[0], *ZtX = d->a[1], *Zty = d->a[2];
    int64_t n = p + 1;
    for (int64_t g = 0; g < d->n; g++) {
        const double *G = ZtZ + q * q * g, *bx = ZtX + q * p * g, *by = Zty + q * g;
        double *M = Ms + q * q * g;
        for (int64_t a = 0; a < q; a++)
            for (int64_t b = 0; b <= a; b++) {
                double acc = a == b ? 1.0 : 0.0;
                for (int64_t i = 0; i < q; i++)
                    for (int64_t j = 0; j < q; j++)
                        acc += lam[i * q + a] * G[i * q + j] * lam[j * q + b];
                M[a * q + b] = acc;
            }
        if (!cholesky(M, q, q))
            return 0;
        for (int64_t k = 0; k < q; k++)
            *logdet += 2.0 * log(M[k * q + k]);
        for (int64_t c = 0; c < n; c++) /* R = L_g^-1 Lambda' B_g, column by column */
            for (int64_t k = 0; k < q; k++) {
                double acc = 0.0;
                for (int64_t i = 0; i < q; i++)
                    acc += lam[i * q + k] * (c < p ? bx[i * p + c] : by[i]);
                for (int64_t j = 0; j < k; j++)
                    acc -= M[k * q + j] * R[j * n + c];
                R[k * n + c] = acc / M[k * q + k];
            }
        for (int64_t a = 0; a < n; a++)
            for (int64_t b = 0; b <= a; b++) {
                double acc = 0.0;
                for (int64_t k = 0; k < q; k++)
                    acc += R[k * n + a] * R[k * n + b];
                S[a * n + b] -= acc;
                if (a != b)
                    S[b * n + a] -= acc;
            }
    }
    return 1;
}

/* Any q: dlam -= sum_g [G_g - (I - G_g K_g) C_g] Lambda M_g^-1. */
static void generic_gradient(const double *lam, double t, const double *mu, const double *Pinv,
                             const bmm_data *d, int64_t q, int64_t p, const double *Ms,
                             double *dlam, double *work)
{
    const double *ZtZ = d->a[0], *ZtX = d->a[1], *Zty = d->a[2];
    int64_t qq = q * q;
    double *Minv = work, *C = Minv + qq, *N = C + qq, *K = N + qq, *F = K + qq, *E = F + qq;
    double *r = E + qq, *W = r + q; /* W (q, p) */
    for (int64_t g = 0; g < d->n; g++) {
        const double *G = ZtZ + qq * g, *bx = ZtX + q * p * g;
        inverse(Ms + qq * g, q, q, Minv);
        for (int64_t i = 0; i < q; i++) { /* (q,) B_g w */
            double acc = Zty[q * g + i];
            for (int64_t k = 0; k < p; k++)
                acc -= bx[i * p + k] * mu[k];
            r[i] = acc;
        }
        mm(bx, Pinv, 0, q, p, p, W);  /* (q, p) */
        mm(W, bx, 1, q, p, q, C);     /* (q, q) */
        for (int64_t i = 0; i < q; i++)
            for (int64_t j = 0; j < q; j++)
                C[i * q + j] = t * (C[i * q + j] + r[i] * r[j]); /* C_g = B_g Gamma B_g' */
        mm(lam, Minv, 0, q, q, q, N); /* Lambda M^-1 */
        mm(N, lam, 1, q, q, q, K);    /* K_g */
        mm(G, K, 0, q, q, q, F);
        mm(F, C, 0, q, q, q, E);
        for (int64_t i = 0; i < qq; i++)
            E[i] += G[i] - C[i]; /* G - (I - GK)C */
        mm(E, N, 0, q, q, q, F);
        for (int64_t i = 0; i < qq; i++)
            dlam[i] -= F[i];
    }
}

/* Scratch doubles of the per-q steps: B or R0, R1 (q = 1, 2); R and the gradient's work. */
static int64_t tmp_size(int64_t q, int64_t p)
{
    return 2 * (p + 1) + q * (p + 1) + 6 * q * q + q + q * p;
}

/* The marginal log density and its gradient; -inf and a NaN gradient outside the support. */
static double marginal_logp(const double *x, double *grad, int64_t dim, const bmm_data *d,
                            double *ws)
{
    const int64_t *ints = d->ints;
    const double *par = d->par, *XtX = d->a[3], *Xty = (const double *)d->b;
    int64_t q = ints[0], p = ints[1], n = p + 1, qq = q * q;
    double *chol = ws, *lam = chol + qq, *dlam = lam + qq, *S = dlam + qq, *P = S + n * n;
    double *Pinv = P + p * p, *h = Pinv + p * p, *mu = h + p, *tmp = mu + p;
    double *Ms = tmp + tmp_size(q, p); /* (G, q, q) each group's factor of M_g */
    double dprior, logp, logdet = 0.0;
    memset(grad, 0, (size_t)dim * sizeof(double));
    memset(chol, 0, (size_t)qq * sizeof(double));
    double sigma = exp(x[0]);
    int64_t at = 2 + 2 * p;
    logp = prior(ints[3], par[at], par[at + 1], par[at + 2], sigma, &dprior) + x[0];
    grad[0] += dprior * sigma + 1.0;
    logp += covariance_blocks(x, ints, par, grad, M_HEADER, ints[2], chol, q);
    double t = 1.0 / (sigma * sigma), yty = par[0], n_obs = par[1];
    const double *m0 = par + 2, *s0 = par + 2 + p;
    for (int64_t i = 0; i < qq; i++)
        lam[i] = chol[i] / sigma; /* relative factor Lambda */
    for (int64_t a = 0; a < p; a++) { /* S = [A c; c' d] = [X'X X'y; y'X y'y] - sum R'R */
        for (int64_t b = 0; b < p; b++)
            S[a * n + b] = XtX[a * p + b];
        S[a * n + p] = S[p * n + a] = Xty[a];
    }
    S[p * n + p] = yty;
    if (q == 1)
        logdet = intercepts_normal_equations(lam[0], d, p, Ms, S, tmp);
    else if (q == 2)
        logdet = slopes_normal_equations(lam, d, p, Ms, S, tmp, tmp + n);
    else if (!generic_normal_equations(lam, d, q, p, Ms, S, tmp, &logdet))
        goto outside;
    for (int64_t a = 0; a < p; a++) {
        for (int64_t b = 0; b < p; b++)
            P[a * p + b] = t * S[a * n + b] + (a == b ? 1.0 / (s0[a] * s0[a]) : 0.0);
        h[a] = t * S[a * n + p] + m0[a] / (s0[a] * s0[a]);
    }
    if (!cholesky(P, p, p))
        goto outside;
    inverse(P, p, p, Pinv);
    double quad = t * S[p * n + p];
    for (int64_t a = 0; a < p; a++) {
        double acc = 0.0;
        for (int64_t b = 0; b < p; b++)
            acc += Pinv[a * p + b] * h[b];
        mu[a] = acc; /* (p,) posterior mean of beta */
    }
    for (int64_t a = 0; a < p; a++)
        quad += m0[a] * m0[a] / (s0[a] * s0[a]) + log(s0[a] * s0[a]) - h[a] * mu[a]
                + 2.0 * log(P[a * p + a]);
    logp += -0.5 * (n_obs * log(2.0 * M_PI / t) + logdet + quad);

    /* dl/dsigma at fixed Lambda, then dl/dLambda group by group */
    double dq_dt = S[p * n + p];
    for (int64_t a = 0; a < p; a++) {
        double amu = 0.0;
        for (int64_t b = 0; b < p; b++) {
            amu += S[a * n + b] * mu[b];
            dq_dt += Pinv[a * p + b] * S[a * n + b];
        }
        dq_dt += -2.0 * S[a * n + p] * mu[a] + mu[a] * amu;
    }
    double dsigma = -n_obs / sigma + dq_dt * t / sigma;
    memset(dlam, 0, (size_t)qq * sizeof(double));
    if (q == 1)
        dlam[0] = intercepts_gradient(lam[0], t, mu, Pinv, d, p, Ms);
    else if (q == 2)
        slopes_gradient(lam, t, mu, Pinv, d, p, Ms, dlam, tmp, tmp + p);
    else
        generic_gradient(lam, t, mu, Pinv, d, q, p, Ms, dlam, tmp);
    for (int64_t i = 0; i < qq; i++) {
        dsigma -= dlam[i] * lam[i] / sigma; /* Lambda = L/sigma */
        dlam[i] /= sigma;
    }
    grad[0] += sigma * dsigma;
    blocks_to_x(x, ints, M_HEADER, ints[2], dlam, q, grad);
    return logp;
outside:
    for (int64_t i = 0; i < dim; i++)
        grad[i] = NAN;
    return -INFINITY;
}

/* Doubles of scratch memory marginal_logp needs. */
static size_t marginal_scratch(const bmm_data *d)
{
    int64_t q = d->ints[0], p = d->ints[1], n = p + 1, qq = q * q;
    return (size_t)(3 * qq + n * n + 2 * p * p + 2 * p + tmp_size(q, p) + d->n * qq);
}

BMM_EXPORT int64_t bmm_marginal_logp(uint64_t dim, const double *x, double *grad, double *logp,
                                 void *user_data)
{
    return run_density(marginal_logp, marginal_scratch(user_data), dim, x, grad, logp,
                       user_data);
}

/* sigma; each block's free variable; each correlated block's correlations; every SD. */
BMM_EXPORT int64_t bmm_marginal_expand(uint64_t dim, uint64_t n_expanded, const double *x,
                                   double *out, void *user_data)
{
    const bmm_data *d = user_data;
    int64_t n_free = 1, n_corrs = 0;
    (void)dim, (void)n_expanded;
    block_counts(d->ints, M_HEADER, d->ints[2], &n_free, &n_corrs);
    double *free_ = out, *corrs = out + n_free, *sds = corrs + n_corrs;
    *free_++ = exp(x[0]);
    expand_blocks(x, d->ints, M_HEADER, d->ints[2], &free_, &corrs, &sds);
    return 0;
}


/*
 * lme4's profiled quantities at one relative factor lam (q, q), for the REML/ML/MAP
 * criterion (bayesmm.deviance, bayesmm.infer.fast_deviance): with
 * [A c; c' d] = [X'X X'y; y'X y'y] - sum_g R_g'R_g,
 *   out = [r2 = d - c'A^-1 c, sum_g log|M_g|, log|A|].
 * user_data: ints = [q, p], par = [y'y], n = G, a = ZtZ, ZtX, Zty, XtX, b = Xty.
 * Returns 0, 1 where M_g or A is not positive definite, 4 without memory.
 */
BMM_EXPORT int64_t bmm_profile(const double *lam, double *out, void *user_data)
{
    const bmm_data *d = user_data;
    int64_t q = d->ints[0], p = d->ints[1], n = p + 1, qq = q * q, status = 0;
    const double *XtX = d->a[3], *Xty = (const double *)d->b;
    double *ws = malloc((size_t)(n * n + p * p + p + tmp_size(q, p) + d->n * qq)
                        * sizeof(double));
    if (ws == NULL)
        return 4;
    double *S = ws, *A = S + n * n, *beta = A + p * p, *tmp = beta + p;
    double *Ms = tmp + tmp_size(q, p), logdet = 0.0;
    for (int64_t a = 0; a < p; a++) {
        for (int64_t b = 0; b < p; b++)
            S[a * n + b] = XtX[a * p + b];
        S[a * n + p] = S[p * n + a] = Xty[a];
    }
    S[p * n + p] = d->par[0];
    if (q == 1)
        logdet = intercepts_normal_equations(lam[0], d, p, Ms, S, tmp);
    else if (q == 2)
        logdet = slopes_normal_equations(lam, d, p, Ms, S, tmp, tmp + n);
    else if (!generic_normal_equations(lam, d, q, p, Ms, S, tmp, &logdet))
        status = 1;
    for (int64_t a = 0; a < p; a++)
        for (int64_t b = 0; b < p; b++)
            A[a * p + b] = S[a * n + b];
    if (status == 0 && (!isfinite(logdet) || !cholesky(A, p, p)))
        status = 1;
    if (status == 0) {
        double r2 = S[p * n + p], logdet_A = 0.0;
        for (int64_t a = 0; a < p; a++) { /* forward: A = L L', L z = c */
            double acc = S[a * n + p];
            for (int64_t b = 0; b < a; b++)
                acc -= A[a * p + b] * beta[b];
            beta[a] = acc / A[a * p + a];
            r2 -= beta[a] * beta[a]; /* c'A^-1 c = |z|^2 */
            logdet_A += 2.0 * log(A[a * p + a]);
        }
        out[0] = r2, out[1] = logdet, out[2] = logdet_A;
    }
    free(ws);
    return status;
}
