/* The CPU backend: memory, a small pthread pool (the caller is thread 0),
 * per-thread scratch, and every op except conv1d (cpu_conv.c). Memory-bound
 * loops use the vector kernels of cpu_vec.c; matrix products use
 * etp_cpu_sgemm (cpu_gemm.c), one single-threaded product per pool thread. */
#include "config.h"
#include "engine/cpu.h"
#include "util/etperror.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ------------------------------------------------------------ thread pool */

typedef struct {
  EtpCpu *cpu;
  int tid;
} WorkerArg;

static void *
worker_main (void *data)
{
  WorkerArg *wa = data;
  EtpCpu *cpu = wa->cpu;
  int tid = wa->tid;
  unsigned seen = 0;
  g_free (wa);

  pthread_mutex_lock (&cpu->lock);
  for (;;) {
    while (cpu->generation == seen && !cpu->quit)
      pthread_cond_wait (&cpu->cond_start, &cpu->lock);
    if (cpu->quit)
      break;
    seen = cpu->generation;
    EtpCpuTask task = cpu->task;
    void *ctx = cpu->task_ctx;
    pthread_mutex_unlock (&cpu->lock);
    task (ctx, tid, cpu->n_threads);
    pthread_mutex_lock (&cpu->lock);
    if (--cpu->pending == 0)
      pthread_cond_signal (&cpu->cond_done);
  }
  pthread_mutex_unlock (&cpu->lock);
  return NULL;
}

void
etp_cpu_run (EtpCpu *cpu, EtpCpuTask task, void *ctx)
{
  if (cpu->n_threads == 1) {
    task (ctx, 0, 1);
    return;
  }
  pthread_mutex_lock (&cpu->lock);
  cpu->task = task;
  cpu->task_ctx = ctx;
  cpu->pending = cpu->n_threads - 1;
  cpu->generation++;
  pthread_cond_broadcast (&cpu->cond_start);
  pthread_mutex_unlock (&cpu->lock);

  task (ctx, 0, cpu->n_threads);

  pthread_mutex_lock (&cpu->lock);
  while (cpu->pending > 0)
    pthread_cond_wait (&cpu->cond_done, &cpu->lock);
  pthread_mutex_unlock (&cpu->lock);
}

gboolean
etp_cpu_scratch (EtpBackend *be, size_t floats)
{
  EtpCpu *cpu = etp_cpu (be);
  if (floats <= cpu->scratch_floats)
    return TRUE;
  floats = MAX (floats, cpu->scratch_floats + cpu->scratch_floats / 2);
  for (int t = 0; t < cpu->n_threads; t++) {
    free (cpu->scratch[t]);
    cpu->scratch[t] = NULL;
    if (posix_memalign ((void **) &cpu->scratch[t], 64, floats * sizeof (float)) != 0) {
      cpu->scratch[t] = NULL;
      cpu->scratch_floats = 0;
      etp_backend_set_error (be, ETP_ERROR_DEVICE,
          "cpu backend: cannot allocate %zu bytes of scratch", floats * sizeof (float));
      return FALSE;
    }
  }
  cpu->scratch_floats = floats;
  return TRUE;
}

float *
etp_cpu_shared_scratch (EtpBackend *be, size_t floats)
{
  EtpCpu *cpu = etp_cpu (be);
  if (floats > cpu->shared_floats) {
    floats = MAX (floats, cpu->shared_floats + cpu->shared_floats / 2);
    free (cpu->shared_scratch);
    if (posix_memalign ((void **) &cpu->shared_scratch, 64, floats * sizeof (float)) != 0) {
      cpu->shared_scratch = NULL;
      cpu->shared_floats = 0;
      etp_backend_set_error (be, ETP_ERROR_DEVICE,
          "cpu backend: cannot allocate %zu bytes of scratch", floats * sizeof (float));
      return NULL;
    }
    cpu->shared_floats = floats;
  }
  return cpu->shared_scratch;
}

/* ----------------------------------------------------------------- memory */

static void *
cpu_alloc (EtpBackend *be, size_t nbytes, GError **err)
{
  void *p = NULL;
  nbytes = (nbytes + 63) & ~(size_t) 63;
  if (posix_memalign (&p, 64, nbytes) != 0) {
    g_set_error (err, ETP_ERROR, ETP_ERROR_DEVICE,
        "cpu backend: out of memory allocating %zu bytes", nbytes);
    return NULL;
  }
  return p;
}

static void cpu_free_mem (EtpBackend *be, void *p) { free (p); }
static void cpu_upload (EtpBackend *be, void *d, const void *s, size_t n) { memcpy (d, s, n); }
static void cpu_download (EtpBackend *be, void *d, const void *s, size_t n) { memcpy (d, s, n); }
static void cpu_copy (EtpBackend *be, void *d, const void *s, size_t n) { memmove (d, s, n); }
static void cpu_memset (EtpBackend *be, void *d, int b, size_t n) { memset (d, b, n); }
static void cpu_sync (EtpBackend *be) { }

static gboolean
cpu_supports (EtpBackend *be, EtpFeature f)
{
  return f == ETP_FEATURE_BF16_NATIVE && etp_cpu (be)->has_bf16;
}

static void
cpu_destroy (EtpBackend *be)
{
  EtpCpu *cpu = etp_cpu (be);
  pthread_mutex_lock (&cpu->lock);
  cpu->quit = TRUE;
  pthread_cond_broadcast (&cpu->cond_start);
  pthread_mutex_unlock (&cpu->lock);
  for (int t = 1; t < cpu->n_threads; t++)
    pthread_join (cpu->workers[t], NULL);
  pthread_mutex_destroy (&cpu->lock);
  pthread_cond_destroy (&cpu->cond_start);
  pthread_cond_destroy (&cpu->cond_done);
  for (int t = 0; t < cpu->n_threads; t++)
    free (cpu->scratch[t]);
  free (cpu->shared_scratch);
  g_free (cpu);
  g_free (be);
}

/* ---------------------------------------------------------- element-wise */

typedef enum { EW_ADD, EW_SCALE, EW_RELU, EW_RELU_BWD, EW_SUMSQ, EW_ADAM, EW_TOBF, EW_FROMBF } EwOp;

typedef struct {
  EwOp op;
  size_t n;
  const float *a, *b;
  float *y, *m, *v;
  const uint16_t *hs;
  uint16_t *hd;
  float alpha;
  double partial[ETP_CPU_MAX_THREADS];
  float lr_t, b1, b2, eps, wd, decay, ibc2;
  const EtpCpuVec *vec;
} EwCtx;

static void
ew_task (void *data, int tid, int nt)
{
  EwCtx *c = data;
  size_t b, e;
  /* ranges in multiples of 16 floats, so every thread stays aligned */
  size_t blocks = (c->n + 15) / 16;
  etp_cpu_range (blocks, tid, nt, &b, &e);
  b *= 16;
  e = MIN (e * 16, c->n);
  if (b >= e)
    return;
  size_t n = e - b;
  const EtpCpuVec *vec = c->vec;
  switch (c->op) {
    case EW_ADD: vec->add (c->a + b, c->b + b, n, c->y + b); break;
    case EW_SCALE:
      for (size_t i = b; i < e; i++)
        c->y[i] *= c->alpha;
      break;
    case EW_RELU: vec->relu (c->a + b, n, c->y + b); break;
    case EW_RELU_BWD: vec->relu_bwd (c->a + b, c->b + b, n, c->y + b); break;
    case EW_SUMSQ: c->partial[tid] = vec->dot (c->a + b, c->a + b, n); break;
    case EW_ADAM:
      vec->adam (c->y + b, c->a + b, c->m + b, c->v + b, n, c->lr_t, c->b1, c->b2, c->eps,
          c->wd, c->decay, c->ibc2);
      break;
    case EW_TOBF: etp_f32_to_bf16_host (c->a + b, c->hd + b, n); break;
    case EW_FROMBF: etp_bf16_to_f32_host (c->hs + b, c->y + b, n); break;
  }
}

static void
ew_run (EtpBackend *be, EwCtx *c)
{
  EtpCpu *cpu = etp_cpu (be);
  c->vec = cpu->vec;
  if (c->n < 65536 || cpu->n_threads == 1) {
    ew_task (c, 0, 1);
    return;
  }
  etp_cpu_run (cpu, ew_task, c);
}

static void
cpu_add (EtpBackend *be, size_t n, const float *a, const float *b, float *y)
{
  EwCtx c = { .op = EW_ADD, .n = n, .a = a, .b = b, .y = y };
  ew_run (be, &c);
}

static void
cpu_scale (EtpBackend *be, size_t n, float *x, float alpha)
{
  EwCtx c = { .op = EW_SCALE, .n = n, .y = x, .alpha = alpha };
  ew_run (be, &c);
}

static void
cpu_sumsq (EtpBackend *be, size_t n, const float *x, float *out)
{
  EwCtx c = { .op = EW_SUMSQ, .n = n, .a = x };
  double s = 0;
  ew_run (be, &c);
  for (int t = 0; t < ETP_CPU_MAX_THREADS; t++)
    s += c.partial[t];
  *out = (float) s;
}

static void
cpu_relu_forward (EtpBackend *be, size_t n, const float *x, float *y)
{
  EwCtx c = { .op = EW_RELU, .n = n, .a = x, .y = y };
  ew_run (be, &c);
}

static void
cpu_relu_backward (EtpBackend *be, size_t n, const float *y, const float *dy, float *dx)
{
  EwCtx c = { .op = EW_RELU_BWD, .n = n, .a = y, .b = dy, .y = dx };
  ew_run (be, &c);
}

static void
cpu_adam_step (EtpBackend *be, size_t n, float *params, const float *grads, float *m,
               float *v, const EtpAdamParams *p, int step)
{
  double bc1 = 1.0 - pow (p->beta1, step), bc2 = 1.0 - pow (p->beta2, step);
  EwCtx c = { .op = EW_ADAM, .n = n, .y = params, .a = grads, .m = m, .v = v,
    .lr_t = (float) (p->lr / bc1), .b1 = p->beta1, .b2 = p->beta2, .eps = p->eps,
    .wd = p->decoupled ? 0.f : p->weight_decay,
    .decay = p->decoupled ? 1.f - p->lr * p->weight_decay : 1.f,
    .ibc2 = (float) (1.0 / sqrt (bc2)) };
  ew_run (be, &c);
}

static void
cpu_f32_to_bf16 (EtpBackend *be, size_t n, const float *src, uint16_t *dst)
{
  EwCtx c = { .op = EW_TOBF, .n = n, .a = src, .hd = dst };
  ew_run (be, &c);
}

static void
cpu_bf16_to_f32 (EtpBackend *be, size_t n, const uint16_t *src, float *dst)
{
  EwCtx c = { .op = EW_FROMBF, .n = n, .hs = src, .y = dst };
  ew_run (be, &c);
}

/* ------------------------------------------------------------------ gemm */

typedef struct {
  EtpCpu *cpu;
  int batch, M, N, K, lda, ldb, ldc;
  gboolean ta, tb;
  float alpha, beta;
  const float *A, *B;
  float *C;
  long sa, sb, sc;
} GemmCtx;

static void
gemm_task (void *data, int tid, int nt)
{
  GemmCtx *g = data;
  if (g->batch >= nt) {
    size_t b, e;
    etp_cpu_range (g->batch, tid, nt, &b, &e);
    for (size_t i = b; i < e; i++)
      etp_cpu_sgemm (g->cpu, g->ta, g->tb, g->M, g->N, g->K, g->alpha, g->A + i * g->sa,
          g->lda, g->B + i * g->sb, g->ldb, g->beta, g->C + i * g->sc, g->ldc);
    return;
  }
  /* few matrices: split each along its larger output dimension */
  for (int i = 0; i < g->batch; i++) {
    const float *A = g->A + i * g->sa, *B = g->B + i * g->sb;
    float *C = g->C + i * g->sc;
    size_t b, e;
    if (g->M >= g->N) {
      etp_cpu_range ((size_t) (g->M + 15) / 16, tid, nt, &b, &e);
      b *= 16;
      e = MIN (e * 16, (size_t) g->M);
      if (b < e)
        etp_cpu_sgemm (g->cpu, g->ta, g->tb, (int) (e - b), g->N, g->K, g->alpha,
            g->ta ? A + b : A + b * g->lda, g->lda, B, g->ldb, g->beta, C + b * g->ldc, g->ldc);
    } else {
      etp_cpu_range ((size_t) (g->N + 15) / 16, tid, nt, &b, &e);
      b *= 16;
      e = MIN (e * 16, (size_t) g->N);
      if (b < e)
        etp_cpu_sgemm (g->cpu, g->ta, g->tb, g->M, (int) (e - b), g->K, g->alpha, A, g->lda,
            g->tb ? B + b * g->ldb : B + b, g->ldb, g->beta, C + b, g->ldc);
    }
  }
}

static void
cpu_gemm_batched (EtpBackend *be, int batch, gboolean ta, gboolean tb, int M, int N, int K,
                  float alpha, const float *A, int lda, long sa, const float *B, int ldb,
                  long sb, float beta, float *C, int ldc, long sc)
{
  EtpCpu *cpu = etp_cpu (be);
  GemmCtx g = { cpu, batch, M, N, K, lda, ldb, ldc, ta, tb, alpha, beta, A, B, C, sa, sb, sc };
  if ((double) batch * M * N * K < 262144.0)
    gemm_task (&g, 0, 1);
  else
    etp_cpu_run (cpu, gemm_task, &g);
}

/* ------------------------------------------------------------- batchnorm */

typedef struct {
  EtpCpu *cpu;
  int n, c, l;
  const float *x, *gamma, *beta, *residual, *dy, *yr;
  float *rmean, *rvar;
  const float *crmean, *crvar;
  float momentum, eps;
  gboolean relu, train;
  float *y, *save_mean, *save_invstd, *dx, *dgamma, *dbeta, *dres;
  gboolean bad;
} BnCtx;

static void
bn_fwd_task (void *data, int tid, int nt)
{
  BnCtx *b = data;
  const EtpCpuVec *vec = b->cpu->vec;
  size_t c0, c1;
  size_t L = b->l, CL = (size_t) b->c * L;
  double M = (double) b->n * b->l;
  etp_cpu_range (b->c, tid, nt, &c0, &c1);
  for (size_t c = c0; c < c1; c++) {
    float scale, shift;
    if (b->train) {
      double s = 0, ss = 0;
      for (int i = 0; i < b->n; i++)
        s += vec->sum (b->x + i * CL + c * L, L);
      float mean = (float) (s / M);
      for (int i = 0; i < b->n; i++)
        ss += vec->sumsq_dev (b->x + i * CL + c * L, L, mean);
      double var = ss / M;
      float invstd = (float) (1.0 / sqrt (var + b->eps));
      b->save_mean[c] = mean;
      b->save_invstd[c] = invstd;
      if (b->rmean)
        b->rmean[c] = (1.f - b->momentum) * b->rmean[c] + b->momentum * mean;
      if (b->rvar)
        b->rvar[c] = (1.f - b->momentum) * b->rvar[c]
            + b->momentum * (float) (M > 1 ? ss / (M - 1) : var);
      scale = b->gamma[c] * invstd;
      shift = b->beta[c] - mean * scale;
    } else {
      scale = b->gamma[c] / sqrtf (b->crvar[c] + b->eps);
      shift = b->beta[c] - b->crmean[c] * scale;
    }
    for (int i = 0; i < b->n; i++) {
      size_t off = i * CL + c * L;
      vec->affine (b->x + off, L, scale, shift, b->residual ? b->residual + off : NULL,
          b->relu, b->y + off);
    }
  }
}

static void
bn_run (EtpBackend *be, BnCtx *b, EtpCpuTask task)
{
  EtpCpu *cpu = etp_cpu (be);
  b->cpu = cpu;
  if ((size_t) b->n * b->c * b->l < 32768 || b->c < 2)
    task (b, 0, 1);
  else
    etp_cpu_run (cpu, task, b);
}

static void
cpu_bn_forward_train (EtpBackend *be, int n, int c, int l, const float *x, const float *gamma,
                      const float *beta, float *rmean, float *rvar, float momentum, float eps,
                      const float *residual, gboolean relu, float *y, float *save_mean,
                      float *save_invstd)
{
  if ((long) n * l < 2) {
    etp_backend_set_error (be, ETP_ERROR_INVALID,
        "etp_batchnorm_forward_train: training needs more than 1 value per channel "
        "(n=%d l=%d)", n, l);
    return;
  }
  BnCtx b = { .n = n, .c = c, .l = l, .x = x, .gamma = gamma, .beta = beta, .rmean = rmean,
    .rvar = rvar, .momentum = momentum, .eps = eps, .residual = residual, .relu = relu,
    .train = TRUE, .y = y, .save_mean = save_mean, .save_invstd = save_invstd };
  bn_run (be, &b, bn_fwd_task);
}

static void
cpu_bn_forward_eval (EtpBackend *be, int n, int c, int l, const float *x, const float *gamma,
                     const float *beta, const float *rmean, const float *rvar, float eps,
                     const float *residual, gboolean relu, float *y)
{
  BnCtx b = { .n = n, .c = c, .l = l, .x = x, .gamma = gamma, .beta = beta, .crmean = rmean,
    .crvar = rvar, .eps = eps, .residual = residual, .relu = relu, .train = FALSE, .y = y };
  bn_run (be, &b, bn_fwd_task);
}

static void
bn_bwd_task (void *data, int tid, int nt)
{
  BnCtx *b = data;
  const EtpCpuVec *vec = b->cpu->vec;
  size_t c0, c1;
  size_t L = b->l, CL = (size_t) b->c * L;
  double M = (double) b->n * b->l;
  etp_cpu_range (b->c, tid, nt, &c0, &c1);
  for (size_t c = c0; c < c1; c++) {
    float mean = b->save_mean[c], invstd = b->save_invstd[c];
    double sg = 0, sgx = 0;
    for (int i = 0; i < b->n; i++) {
      size_t off = i * CL + c * L;
      float a, bb;
      vec->bn_bwd_reduce (b->x + off, b->dy + off, b->yr ? b->yr + off : NULL, L, mean,
          b->dres ? b->dres + off : NULL, &a, &bb);
      sg += a;
      sgx += bb;
    }
    double sgxhat = sgx * invstd;
    if (b->dgamma)
      b->dgamma[c] += (float) sgxhat;
    if (b->dbeta)
      b->dbeta[c] += (float) sg;
    double k1 = (double) b->gamma[c] * invstd;
    double k2 = -k1 * invstd * sgxhat / M;
    double k3 = -k1 * sg / M - k2 * mean;
    for (int i = 0; i < b->n; i++) {
      size_t off = i * CL + c * L;
      /* when dres holds the masked gradient, read it (it may alias dy) */
      const float *g = b->dres ? b->dres + off : b->dy + off;
      vec->bn_bwd_apply (b->x + off, g, b->dres ? NULL : (b->yr ? b->yr + off : NULL), L,
          (float) k1, (float) k2, (float) k3, b->dx + off);
    }
  }
}

static void
cpu_bn_backward (EtpBackend *be, int n, int c, int l, const float *x, const float *gamma,
                 const float *save_mean, const float *save_invstd, const float *dy,
                 const float *y_relu, float *dx, float *dgamma, float *dbeta, float *dres)
{
  BnCtx b = { .n = n, .c = c, .l = l, .x = x, .gamma = gamma, .save_mean = (float *) save_mean,
    .save_invstd = (float *) save_invstd, .dy = dy, .yr = y_relu, .dx = dx, .dgamma = dgamma,
    .dbeta = dbeta, .dres = dres };
  bn_run (be, &b, bn_bwd_task);
}

static void
cpu_bn_fold (EtpBackend *be, int c_out, int row, const float *w, const float *bias_in,
             const float *gamma, const float *beta, const float *rmean, const float *rvar,
             float eps, float *w_out, float *b_out)
{
  for (int o = 0; o < c_out; o++) {
    float s = gamma[o] / sqrtf (rvar[o] + eps);
    float bi = bias_in ? bias_in[o] : 0.f;
    for (int k = 0; k < row; k++)
      w_out[(size_t) o * row + k] = w[(size_t) o * row + k] * s;
    b_out[o] = beta[o] + (bi - rmean[o]) * s;
  }
}

/* ------------------------------------------------------------------ pool */

static void
cpu_avgpool_forward (EtpBackend *be, int n, int c, int l, const float *x, float *y)
{
  const EtpCpuVec *vec = etp_cpu (be)->vec;
  for (size_t r = 0; r < (size_t) n * c; r++)
    y[r] = vec->sum (x + r * l, l) / (float) l;
}

static void
cpu_avgpool_backward (EtpBackend *be, int n, int c, int l, const float *dy, float *dx,
                      gboolean accumulate)
{
  for (size_t r = 0; r < (size_t) n * c; r++) {
    float g = dy[r] / (float) l;
    float *d = dx + r * l;
    if (accumulate)
      for (int i = 0; i < l; i++)
        d[i] += g;
    else
      for (int i = 0; i < l; i++)
        d[i] = g;
  }
}

/* ---------------------------------------------------------------- linear */

static void
cpu_linear_forward (EtpBackend *be, int b, int in, int out, const float *x, const float *w,
                    const float *bias, float *y)
{
  if (bias) {
    for (int i = 0; i < b; i++)
      memcpy (y + (size_t) i * out, bias, out * sizeof (float));
  }
  cpu_gemm_batched (be, 1, FALSE, TRUE, b, out, in, 1.f, x, in, 0, w, in, 0,
      bias ? 1.f : 0.f, y, out, 0);
}

static void
cpu_linear_backward (EtpBackend *be, int b, int in, int out, const float *x, const float *w,
                     const float *dy, float *dx, float *dw, float *dbias)
{
  if (dx)
    cpu_gemm_batched (be, 1, FALSE, FALSE, b, in, out, 1.f, dy, out, 0, w, in, 0, 0.f, dx, in, 0);
  if (dw)
    cpu_gemm_batched (be, 1, TRUE, FALSE, out, in, b, 1.f, dy, out, 0, x, in, 0, 1.f, dw, in, 0);
  if (dbias)
    for (int i = 0; i < b; i++)
      etp_cpu (be)->vec->add (dbias, dy + (size_t) i * out, out, dbias);
}

/* ----------------------------------------------------------------- l2norm */

static void
cpu_l2norm_forward (EtpBackend *be, int b, int d, float eps, const float *x, float *y)
{
  const EtpCpuVec *vec = etp_cpu (be)->vec;
  for (int i = 0; i < b; i++) {
    const float *xr = x + (size_t) i * d;
    float *yr = y + (size_t) i * d;
    double nrm = sqrt (vec->dot (xr, xr, d));
    float inv = (float) (1.0 / MAX (nrm, (double) eps));
    for (int k = 0; k < d; k++)
      yr[k] = xr[k] * inv;
  }
}

static void
cpu_l2norm_backward (EtpBackend *be, int b, int d, float eps, const float *x, const float *dy,
                     float *dx)
{
  const EtpCpuVec *vec = etp_cpu (be)->vec;
  for (int i = 0; i < b; i++) {
    const float *xr = x + (size_t) i * d, *gr = dy + (size_t) i * d;
    float *dr = dx + (size_t) i * d;
    double nrm = sqrt (vec->dot (xr, xr, d));
    if (nrm > eps) {
      /* dx = (dy - y (y . dy)) / |x|, y = x / |x| */
      double xg = vec->dot (xr, gr, d);
      float inv = (float) (1.0 / nrm);
      float c = (float) (xg / (nrm * nrm * nrm));
      for (int k = 0; k < d; k++)
        dr[k] = gr[k] * inv - xr[k] * c;
    } else {
      float inv = 1.f / eps;
      for (int k = 0; k < d; k++)
        dr[k] = gr[k] * inv;
    }
  }
}

/* ----------------------------------------------------------------- losses */

static void
cpu_softmax_xent (EtpBackend *be, int b, int c, const float *logits, const int32_t *targets,
                  float *loss, float *dlogits)
{
  double total = 0;
  for (int i = 0; i < b; i++) {
    const float *z = logits + (size_t) i * c;
    int t = targets[i];
    if (t < 0 || t >= c) {
      etp_backend_set_error (be, ETP_ERROR_INVALID,
          "etp_softmax_xent: target %d of row %d is outside [0, %d)", t, i, c);
      return;
    }
    float mx = z[0];
    for (int k = 1; k < c; k++)
      mx = MAX (mx, z[k]);
    double se = 0;
    for (int k = 0; k < c; k++)
      se += exp ((double) z[k] - mx);
    double lse = mx + log (se);
    total += lse - z[t];
    if (dlogits) {
      float *g = dlogits + (size_t) i * c;
      for (int k = 0; k < c; k++)
        g[k] = (float) ((exp ((double) z[k] - lse) - (k == t)) / b);
    }
  }
  *loss = (float) (total / b);
}

static void
cpu_clip_loss (EtpBackend *be, int b, int d, const float *a, const float *bb,
               const float *logit_scale, float *loss, float *da, float *db,
               float *dlogit_scale, float *logits_out)
{
  float *L = etp_cpu_shared_scratch (be, (size_t) 2 * b * b);
  if (!L)
    return;
  float *G = L + (size_t) b * b;
  float s = expf (*logit_scale);
  cpu_gemm_batched (be, 1, FALSE, TRUE, b, b, d, s, a, d, 0, bb, d, 0, 0.f, L, b, 0);
  if (logits_out)
    memcpy (logits_out, L, (size_t) b * b * sizeof (float));
  /* rows: image->text CE; columns: text->image CE. G = dloss/dL */
  double total = 0;
  for (int i = 0; i < b; i++) {
    const float *z = L + (size_t) i * b;
    float mx = z[0];
    for (int k = 1; k < b; k++)
      mx = MAX (mx, z[k]);
    double se = 0;
    for (int k = 0; k < b; k++)
      se += exp ((double) z[k] - mx);
    double lse = mx + log (se);
    total += lse - z[i];
    for (int k = 0; k < b; k++)
      G[(size_t) i * b + k] = (float) ((exp ((double) z[k] - lse) - (k == i)) * 0.5 / b);
  }
  for (int j = 0; j < b; j++) {
    float mx = L[j];
    for (int k = 1; k < b; k++)
      mx = MAX (mx, L[(size_t) k * b + j]);
    double se = 0;
    for (int k = 0; k < b; k++)
      se += exp ((double) L[(size_t) k * b + j] - mx);
    double lse = mx + log (se);
    total += lse - L[(size_t) j * b + j];
    for (int k = 0; k < b; k++)
      G[(size_t) k * b + j] += (float) ((exp ((double) L[(size_t) k * b + j] - lse) - (k == j))
          * 0.5 / b);
  }
  *loss = (float) (total * 0.5 / b);
  if (dlogit_scale) {
    double gs = 0;
    for (size_t k = 0; k < (size_t) b * b; k++)
      gs += (double) G[k] * L[k];
    *dlogit_scale += (float) gs;
  }
  /* L = s A B^T: dA = s G B, dB = s G^T A */
  if (da)
    cpu_gemm_batched (be, 1, FALSE, FALSE, b, d, b, s, G, b, 0, bb, d, 0, 0.f, da, d, 0);
  if (db)
    cpu_gemm_batched (be, 1, TRUE, FALSE, b, d, b, s, G, b, 0, a, d, 0, 0.f, db, d, 0);
}

/* ---------------------------------------------------------------- backend */

static const EtpBackendOps cpu_ops = {
  .name = "cpu",
  .destroy = cpu_destroy,
  .supports = cpu_supports,
  .alloc = cpu_alloc,
  .free_mem = cpu_free_mem,
  .upload = cpu_upload,
  .download = cpu_download,
  .copy = cpu_copy,
  .memset = cpu_memset,
  .sync = cpu_sync,
  .gemm_batched = cpu_gemm_batched,
  .add = cpu_add,
  .scale = cpu_scale,
  .sumsq = cpu_sumsq,
  .conv1d_forward = etp_cpu_conv1d_forward,
  .conv1d_forward_bf16 = etp_cpu_conv1d_forward_bf16,
  .conv1d_backward_data = etp_cpu_conv1d_backward_data,
  .conv1d_backward_weight = etp_cpu_conv1d_backward_weight,
  .bn_forward_train = cpu_bn_forward_train,
  .bn_forward_eval = cpu_bn_forward_eval,
  .bn_backward = cpu_bn_backward,
  .bn_fold = cpu_bn_fold,
  .relu_forward = cpu_relu_forward,
  .relu_backward = cpu_relu_backward,
  .avgpool_forward = cpu_avgpool_forward,
  .avgpool_backward = cpu_avgpool_backward,
  .linear_forward = cpu_linear_forward,
  .linear_backward = cpu_linear_backward,
  .l2norm_forward = cpu_l2norm_forward,
  .l2norm_backward = cpu_l2norm_backward,
  .softmax_xent = cpu_softmax_xent,
  .clip_loss = cpu_clip_loss,
  .adam_step = cpu_adam_step,
  .f32_to_bf16 = cpu_f32_to_bf16,
  .bf16_to_f32 = cpu_bf16_to_f32,
};

EtpBackend *
etp_cpu_backend_new (int n_threads, GError **err)
{
  EtpCpu *cpu = g_new0 (EtpCpu, 1);
  EtpBackend *be = g_new0 (EtpBackend, 1);
  const char *env;

  if (n_threads <= 0) {
    long n = sysconf (_SC_NPROCESSORS_ONLN);
    n_threads = n > 0 ? (int) n : 1;
  }
  n_threads = CLAMP (n_threads, 1, ETP_CPU_MAX_THREADS);
  cpu->n_threads = n_threads;

  __builtin_cpu_init ();
  cpu->has_avx512 = __builtin_cpu_supports ("avx512f") && __builtin_cpu_supports ("avx512bw")
      && __builtin_cpu_supports ("avx512vl") && __builtin_cpu_supports ("avx512dq");
  cpu->has_bf16 = cpu->has_avx512 && __builtin_cpu_supports ("avx512bf16");
  if (cpu->has_avx512)
    cpu->vec = &etp_cpu_vec_avx512;
  else if (__builtin_cpu_supports ("avx2") && __builtin_cpu_supports ("fma"))
    cpu->vec = &etp_cpu_vec_avx2;
  else
    cpu->vec = &etp_cpu_vec_generic;
  /* ETP_CPU_ISA=generic|avx2 forces a narrower kernel set (tests, debugging) */
  env = g_getenv ("ETP_CPU_ISA");
  if (env && g_str_equal (env, "generic")) {
    cpu->vec = &etp_cpu_vec_generic;
    cpu->has_avx512 = cpu->has_bf16 = FALSE;
  } else if (env && g_str_equal (env, "avx2") && cpu->vec == &etp_cpu_vec_avx512) {
    cpu->vec = &etp_cpu_vec_avx2;
    cpu->has_avx512 = cpu->has_bf16 = FALSE;
  }

  /* The pool threads each run single-threaded products. On AVX-512 CPUs
   * they use the engine's own sgemm (cpu_gemm.c) and OpenBLAS is left alone
   * for other code in the process; elsewhere (or with ETP_CPU_GEMM=openblas)
   * they call OpenBLAS, which then must not spawn threads of its own. */
  env = g_getenv ("ETP_CPU_CONV_COLS");
  if (env)
    cpu->conv_cols = CLAMP (atoi (env), 0, 1 << 20);
  env = g_getenv ("ETP_CPU_GEMM");
  cpu->use_openblas = !cpu->has_avx512 || (env && g_str_equal (env, "openblas"));
  if (cpu->use_openblas) {
    openblas_set_num_threads (1);
    etp_cpu_blas_setup (cpu->has_avx512);
  }

  pthread_mutex_init (&cpu->lock, NULL);
  pthread_cond_init (&cpu->cond_start, NULL);
  pthread_cond_init (&cpu->cond_done, NULL);
  for (int t = 1; t < n_threads; t++) {
    WorkerArg *wa = g_new (WorkerArg, 1);
    wa->cpu = cpu;
    wa->tid = t;
    if (pthread_create (&cpu->workers[t], NULL, worker_main, wa) != 0) {
      g_free (wa);
      cpu->n_threads = t;
      break;
    }
  }

  char *name = g_strdup_printf ("cpu (%s%s, %d threads)", cpu->vec->isa,
      cpu->has_bf16 ? "+bf16" : "", cpu->n_threads);
  etp_backend_init (be, &cpu_ops, ETP_DEVICE_CPU, cpu->n_threads, name, cpu);
  g_free (name);
  return be;
}
