/* CUDA backend against the CPU backend: every engine op on random inputs
 * (shapes chosen to hit padding, strides, chunking and split-K paths), then a
 * whole ResNet18-1D (small width) forward + backward + Adam step + eval on
 * both backends. Error = max |cuda - cpu| / max |cpu| per tensor, < 1e-4.
 *
 * Without a GPU (CI, development machines) the GPU cases skip with the
 * runtime's reason, and what can be checked without one still runs:
 * device=cuda gives a clear ETP_ERROR_DEVICE, device=auto falls back to the
 * CPU, and the whole-model comparison harness runs CPU (vector kernels, 2
 * threads) against CPU (generic kernels, 1 thread). */
#include "config.h"
#include "cuda/cuda.h"
#include "engine/engine.h"
#include "nets/resnet1d.h"
#include "util/etperror.h"

#include <math.h>
#include <string.h>

#define TOL 1e-4

static EtpBackend *cpu, *gpu;
static char *no_gpu_reason;
static GRand *rng;

#define NEED_GPU() \
  G_STMT_START { \
    if (gpu == NULL) { \
      g_test_skip (no_gpu_reason); \
      return; \
    } \
  } G_STMT_END

/* ------------------------------------------------------------- helpers */

static float *
rnd (gsize n, double lo, double hi)
{
  float *v = g_new (float, MAX (n, 1));
  for (gsize i = 0; i < n; i++)
    v[i] = (float) g_rand_double_range (rng, lo, hi);
  return v;
}

static double
rel_err (const char *what, const float *got, const float *want, gsize n)
{
  double maxref = 0, maxd = 0;
  gsize worst = 0;
  for (gsize i = 0; i < n; i++)
    maxref = MAX (maxref, fabs (want[i]));
  for (gsize i = 0; i < n; i++) {
    double d = fabs ((double) got[i] - want[i]);
    if (isnan (got[i]) != isnan (want[i]))
      d = INFINITY;
    if (d > maxd) {
      maxd = d;
      worst = i;
    }
  }
  double e = maxd / MAX (maxref, 1e-30);
  g_test_message ("%-40s n=%-7" G_GSIZE_FORMAT " rel err %.3g (worst [%" G_GSIZE_FORMAT
      "] got %.8g want %.8g)", what, n, e, worst, n ? got[worst] : 0.f, n ? want[worst] : 0.f);
  return e;
}

static void
expect_close (const char *what, const float *got, const float *want, gsize n, double tol)
{
  double e = rel_err (what, got, want, n);
  if (!(e < tol))
    g_error ("%s: relative error %.3g >= %.1g", what, e, tol);
}

/* A tensor living on both backends. */
typedef struct {
  gsize n;
  float *c, *g;                 /* cpu / gpu device pointers */
} Pair;

static Pair
pair_new (const float *host, gsize n)
{
  Pair p = { n, NULL, NULL };
  p.c = etp_backend_alloc (cpu, MAX (n, 1) * sizeof (float), NULL);
  p.g = etp_backend_alloc (gpu, MAX (n, 1) * sizeof (float), NULL);
  g_assert_nonnull (p.c);
  g_assert_nonnull (p.g);
  if (host) {
    etp_backend_upload (cpu, p.c, host, n * sizeof (float));
    etp_backend_upload (gpu, p.g, host, n * sizeof (float));
  } else {
    etp_backend_memset (cpu, p.c, 0, n * sizeof (float));
    etp_backend_memset (gpu, p.g, 0, n * sizeof (float));
  }
  return p;
}

static Pair
pair_rnd (gsize n, double lo, double hi)
{
  float *h = rnd (n, lo, hi);
  Pair p = pair_new (h, n);
  g_free (h);
  return p;
}

static void
pair_free (Pair *p)
{
  etp_backend_free_mem (cpu, p->c);
  etp_backend_free_mem (gpu, p->g);
}

static void
check_pair (const char *what, const Pair *p, double tol)
{
  float *hc = g_new (float, MAX (p->n, 1)), *hg = g_new (float, MAX (p->n, 1));
  etp_backend_download (cpu, hc, p->c, p->n * sizeof (float));
  etp_backend_download (gpu, hg, p->g, p->n * sizeof (float));
  g_assert_true (etp_backend_check (cpu, NULL));
  GError *err = NULL;
  if (!etp_backend_check (gpu, &err))
    g_error ("%s: cuda backend error: %s", what, err->message);
  expect_close (what, hg, hc, p->n, tol);
  g_free (hc);
  g_free (hg);
}

/* run the same call on both: B is the backend, P(x) the side's pointer */
#define BOTH(stmt) \
  G_STMT_START { \
    { EtpBackend *B = cpu; G_GNUC_UNUSED gboolean IS_GPU = FALSE; stmt; } \
    { EtpBackend *B = gpu; G_GNUC_UNUSED gboolean IS_GPU = TRUE; stmt; } \
  } G_STMT_END
#define P(pair) (IS_GPU ? (pair).g : (pair).c)
#define PN(pair, ok) ((ok) ? P (pair) : NULL)

/* ------------------------------------------------------------ no device */

static void
test_device_selection (void)
{
  GError *err = NULL;
  int count = -1;
  EtpBackend *be = etp_backend_new (ETP_DEVICE_CUDA, 0, &err);
  if (gpu == NULL) {
    /* device=cuda without a GPU: NULL and a device error naming cuda */
    g_assert_null (be);
    g_assert_error (err, ETP_ERROR, ETP_ERROR_DEVICE);
    g_assert_nonnull (strstr (err->message, "cuda"));
    g_test_message ("device=cuda: %s", err->message);
    g_clear_error (&err);
    g_assert_false (etp_cuda_device_count (&count, &err));
    g_assert_error (err, ETP_ERROR, ETP_ERROR_DEVICE);
    g_assert_cmpint (count, ==, 0);
    g_clear_error (&err);
    /* device=auto falls back to the CPU */
    be = etp_backend_new (ETP_DEVICE_AUTO, 1, &err);
    g_assert_no_error (err);
    g_assert_cmpint (etp_backend_kind (be), ==, ETP_DEVICE_CPU);
    etp_backend_free (be);
    /* a bad device index is refused before anything else when a GPU exists;
     * without one the no-device error wins */
    g_setenv ("ETP_CUDA_DEVICE", "99", TRUE);
    be = etp_backend_new (ETP_DEVICE_CUDA, 0, &err);
    g_unsetenv ("ETP_CUDA_DEVICE");
    g_assert_null (be);
    g_assert_error (err, ETP_ERROR, ETP_ERROR_DEVICE);
    g_clear_error (&err);
    return;
  }
  g_assert_no_error (err);
  g_assert_cmpint (etp_backend_kind (be), ==, ETP_DEVICE_CUDA);
  g_assert_true (g_str_has_prefix (etp_backend_name (be), "cuda ("));
  etp_backend_free (be);
  g_assert_true (etp_cuda_device_count (&count, &err));
  g_assert_cmpint (count, >, 0);
  be = etp_backend_new (ETP_DEVICE_AUTO, 1, &err);
  g_assert_no_error (err);
  g_assert_cmpint (etp_backend_kind (be), ==, ETP_DEVICE_CUDA);
  etp_backend_free (be);
  g_setenv ("ETP_CUDA_DEVICE", "9999", TRUE);
  be = etp_backend_new (ETP_DEVICE_CUDA, 0, &err);
  g_unsetenv ("ETP_CUDA_DEVICE");
  g_assert_null (be);
  g_assert_error (err, ETP_ERROR, ETP_ERROR_DEVICE);
  g_assert_nonnull (strstr (err->message, "ETP_CUDA_DEVICE"));
  g_clear_error (&err);
}

/* ---------------------------------------------------------- memory, copies */

static void
test_memory (void)
{
  NEED_GPU ();
  GError *err = NULL;
  /* a size that needs several staging chunks and ends mid-chunk */
  const gsize n = (9u << 20) / 4 + 77;
  float *h = rnd (n, -1, 1), *back = g_new (float, n);
  float *d = etp_backend_alloc (gpu, n * sizeof (float), &err);
  g_assert_no_error (err);
  g_assert_cmpuint ((guintptr) d % 256, ==, 0);
  etp_backend_upload (gpu, d, h, n * sizeof (float));
  etp_backend_download (gpu, back, d, n * sizeof (float));
  g_assert_cmpmem (back, n * sizeof (float), h, n * sizeof (float));
  /* copy into a second buffer at an offset, memset part of it */
  float *d2 = etp_backend_alloc (gpu, n * sizeof (float), &err);
  g_assert_no_error (err);
  etp_backend_memset (gpu, d2, 0, n * sizeof (float));
  etp_backend_copy (gpu, d2 + 5, d, (n - 5) * sizeof (float));
  etp_backend_download (gpu, back, d2, n * sizeof (float));
  g_assert_cmpfloat (back[0], ==, 0.f);
  g_assert_cmpfloat (back[4], ==, 0.f);
  g_assert_cmpmem (back + 5, (n - 5) * sizeof (float), h, (n - 5) * sizeof (float));
  /* freed blocks are reused (the caching allocator) */
  etp_backend_free_mem (gpu, d2);
  float *d3 = etp_backend_alloc (gpu, n * sizeof (float), &err);
  g_assert_true (d3 == d2);
  etp_backend_free_mem (gpu, d3);
  etp_backend_free_mem (gpu, d);
  g_assert_true (etp_backend_check (gpu, &err));
  /* freeing a pointer that is not ours is a clear error, not a crash */
  etp_backend_free_mem (gpu, back);
  g_assert_false (etp_backend_check (gpu, &err));
  g_assert_error (err, ETP_ERROR, ETP_ERROR_INVALID);
  g_clear_error (&err);
  /* a huge allocation fails with a device error */
  g_assert_null (etp_backend_alloc (gpu, (size_t) 1 << 50, &err));
  g_assert_error (err, ETP_ERROR, ETP_ERROR_DEVICE);
  g_clear_error (&err);
  g_assert_true (etp_backend_check (gpu, NULL));
  g_free (h);
  g_free (back);
}

/* -------------------------------------------------------------- generic */

static void
test_gemm (void)
{
  NEED_GPU ();
  for (int tr = 0; tr < 4; tr++) {
    gboolean ta = tr & 1, tb = tr >> 1;
    const int batch = 3, M = 37, N = 45, K = 29;
    const int lda = (ta ? M : K) + 3, ldb = (tb ? K : N) + 2, ldc = N + 5;
    const long sa = (long) lda * (ta ? K : M) + 7, sb = (long) ldb * (tb ? N : K) + 1;
    const long sc = (long) ldc * M + 3;
    Pair A = pair_rnd (batch * sa, -1, 1), Bm = pair_rnd (batch * sb, -1, 1);
    Pair C = pair_rnd (batch * sc, -1, 1);
    BOTH (etp_gemm_batched (B, batch, ta, tb, M, N, K, 0.75f, P (A), lda, sa, P (Bm), ldb, sb,
            -0.5f, P (C), ldc, sc));
    BOTH (etp_gemm (B, ta, tb, M, N, K, 1.f, P (A), lda, P (Bm), ldb, 1.f, P (C), ldc));
    char *what = g_strdup_printf ("gemm ta=%d tb=%d", ta, tb);
    check_pair (what, &C, TOL);
    g_free (what);
    pair_free (&A);
    pair_free (&Bm);
    pair_free (&C);
  }
}

static void
test_pointwise (void)
{
  NEED_GPU ();
  const gsize n = 100003;
  Pair a = pair_rnd (n, -2, 2), b = pair_rnd (n, -2, 2), y = pair_new (NULL, n);
  Pair d = pair_new (NULL, n), s = pair_new (NULL, 1);
  BOTH (etp_add (B, n, P (a), P (b), P (y)));
  check_pair ("add", &y, 1e-7);
  BOTH (etp_add (B, n, P (y), P (b), P (y)));       /* y aliases a */
  BOTH (etp_scale (B, n, P (y), -1.5f));
  check_pair ("add in place + scale", &y, 1e-7);
  BOTH (etp_relu_forward (B, n, P (a), P (y)));
  check_pair ("relu", &y, 1e-7);
  BOTH (etp_relu_backward (B, n, P (y), P (b), P (d)));
  check_pair ("relu backward", &d, 1e-7);
  BOTH (etp_relu_backward (B, n, P (y), P (b), P (b)));   /* in place */
  check_pair ("relu backward in place", &b, 1e-7);
  BOTH (etp_sumsq (B, n, P (a), P (s)));
  check_pair ("sumsq", &s, 1e-6);
  BOTH (etp_sumsq (B, 1, P (a), P (s)));
  check_pair ("sumsq n=1", &s, 1e-7);
  pair_free (&a);
  pair_free (&b);
  pair_free (&y);
  pair_free (&d);
  pair_free (&s);
}

/* --------------------------------------------------------------- conv1d */

typedef struct {
  EtpConv1dShape s;
  gboolean bias, res, relu;
} ConvCase;

static void
conv_case (const ConvCase *cc, const char *label)
{
  const EtpConv1dShape *s = &cc->s;
  const int lo = etp_conv1d_out_len (s);
  const gsize nx = (gsize) s->n * s->c_in * s->l_in, ny = (gsize) s->n * s->c_out * lo;
  const gsize nw = (gsize) s->c_out * s->c_in * s->kernel;
  Pair x = pair_rnd (nx, -1, 1), w = pair_rnd (nw, -0.5, 0.5), bias = pair_rnd (s->c_out, -1, 1);
  Pair r = pair_rnd (ny, -1, 1), y = pair_new (NULL, ny);
  Pair dy = pair_rnd (ny, -1, 1), dx = pair_rnd (nx, -1, 1);
  Pair dw = pair_rnd (nw, -1, 1), db = pair_rnd (s->c_out, -1, 1);
  char *what;

  BOTH (etp_conv1d_forward (B, s, P (x), P (w), PN (bias, cc->bias), PN (r, cc->res), cc->relu,
          P (y)));
  what = g_strdup_printf ("%s forward", label);
  check_pair (what, &y, TOL);
  g_free (what);

  BOTH (etp_conv1d_backward_data (B, s, P (dy), P (w), P (dx), TRUE));
  what = g_strdup_printf ("%s backward data (+=)", label);
  check_pair (what, &dx, TOL);
  g_free (what);
  BOTH (etp_conv1d_backward_data (B, s, P (dy), P (w), P (dx), FALSE));
  what = g_strdup_printf ("%s backward data", label);
  check_pair (what, &dx, TOL);
  g_free (what);

  BOTH (etp_conv1d_backward_weight (B, s, P (x), P (dy), P (dw), PN (db, cc->bias)));
  what = g_strdup_printf ("%s backward weight", label);
  check_pair (what, &dw, TOL);
  g_free (what);
  what = g_strdup_printf ("%s backward bias", label);
  check_pair (what, &db, TOL);
  g_free (what);

  /* bf16 inference: same rounding of weights and taps on both sides */
  Pair wb = pair_new (NULL, (nw + 1) / 2);
  BOTH (etp_convert_f32_to_bf16 (B, nw, P (w), (uint16_t *) P (wb)));
  BOTH (etp_conv1d_forward_bf16 (B, s, P (x), (const uint16_t *) P (wb), PN (bias, cc->bias),
          PN (r, cc->res), cc->relu, P (y)));
  what = g_strdup_printf ("%s forward bf16", label);
  check_pair (what, &y, TOL);
  g_free (what);

  pair_free (&x);
  pair_free (&w);
  pair_free (&bias);
  pair_free (&r);
  pair_free (&y);
  pair_free (&dy);
  pair_free (&dx);
  pair_free (&dw);
  pair_free (&db);
  pair_free (&wb);
}

static const ConvCase conv_cases[] = {
  { { 3, 5, 37, 7, 3, 1, 1 }, TRUE, TRUE, TRUE },        /* BasicBlock conv + epilogue */
  { { 2, 12, 101, 8, 7, 2, 3 }, FALSE, FALSE, FALSE },   /* the stem */
  { { 4, 8, 50, 16, 1, 2, 0 }, FALSE, FALSE, FALSE },    /* downsample 1x1 s2 */
  { { 2, 6, 33, 4, 1, 1, 0 }, TRUE, FALSE, TRUE },       /* 1x1 s1 */
  { { 3, 4, 40, 5, 5, 3, 0 }, TRUE, TRUE, FALSE },       /* stride > kernel-1 */
  { { 2, 3, 9, 4, 4, 1, 3 }, FALSE, TRUE, TRUE },        /* padding near kernel */
  { { 4, 16, 2000, 16, 3, 1, 1 }, TRUE, FALSE, FALSE },  /* long: split-K path */
  { { 1, 1, 1, 1, 1, 1, 0 }, TRUE, TRUE, TRUE },         /* minimal */
};

static void
test_conv1d (void)
{
  NEED_GPU ();
  for (guint i = 0; i < G_N_ELEMENTS (conv_cases); i++) {
    char *label = g_strdup_printf ("conv case %u", i);
    conv_case (&conv_cases[i], label);
    g_free (label);
  }
}

/* a 1 MiB workspace budget forces one sample per chunk */
static void
test_conv1d_chunked (void)
{
  NEED_GPU ();
  GError *err = NULL;
  EtpBackend *keep = gpu;
  g_setenv ("ETP_CUDA_WORKSPACE_MB", "1", TRUE);
  gpu = etp_backend_new (ETP_DEVICE_CUDA, 0, &err);
  g_unsetenv ("ETP_CUDA_WORKSPACE_MB");
  g_assert_no_error (err);
  ConvCase cc = { { 3, 64, 1500, 32, 3, 1, 1 }, TRUE, TRUE, TRUE };
  conv_case (&cc, "conv chunked");
  ConvCase cs = { { 3, 64, 3001, 32, 7, 2, 3 }, FALSE, FALSE, TRUE };
  conv_case (&cs, "conv chunked stride 2");
  etp_backend_free (gpu);
  gpu = keep;
}

/* ------------------------------------------------------------ batchnorm */

static void
bn_case (int n, int c, int l, gboolean res, gboolean relu)
{
  const gsize nx = (gsize) n * c * l;
  char *what;
  Pair x = pair_rnd (nx, -1, 3), g = pair_rnd (c, 0.5, 1.5), bt = pair_rnd (c, -0.5, 0.5);
  float *rv_h = rnd (c, 0.5, 2);
  Pair rm = pair_rnd (c, -0.2, 0.2), rv = pair_new (rv_h, c);
  Pair r = pair_rnd (nx, -1, 1), y = pair_new (NULL, nx), sm = pair_new (NULL, c);
  Pair si = pair_new (NULL, c), dy = pair_rnd (nx, -1, 1), dx = pair_new (NULL, nx);
  Pair dg = pair_rnd (c, -1, 1), db = pair_rnd (c, -1, 1), dres = pair_new (NULL, nx);

  BOTH (etp_batchnorm_forward_train (B, n, c, l, P (x), P (g), P (bt), P (rm), P (rv), 0.1f,
          1e-5f, PN (r, res), relu, P (y), P (sm), P (si)));
  what = g_strdup_printf ("bn train n=%d c=%d l=%d y", n, c, l);
  check_pair (what, &y, TOL);
  g_free (what);
  check_pair ("bn save_mean", &sm, TOL);
  check_pair ("bn save_invstd", &si, TOL);
  check_pair ("bn running_mean", &rm, TOL);
  check_pair ("bn running_var", &rv, TOL);

  /* backward: masked by the relu output, residual gradient separate */
  BOTH (etp_batchnorm_backward (B, n, c, l, P (x), P (g), P (sm), P (si), P (dy),
          PN (y, relu), P (dx), P (dg), P (db), PN (dres, res)));
  check_pair ("bn backward dx", &dx, TOL);
  check_pair ("bn backward dgamma (+=)", &dg, TOL);
  check_pair ("bn backward dbeta (+=)", &db, TOL);
  if (res)
    check_pair ("bn backward dres", &dres, TOL);
  /* dres aliasing dy */
  BOTH (etp_batchnorm_backward (B, n, c, l, P (x), P (g), P (sm), P (si), P (dy),
          PN (y, relu), P (dx), P (dg), P (db), P (dy)));
  check_pair ("bn backward dx (dres = dy)", &dx, TOL);
  check_pair ("bn backward masked dy in place", &dy, TOL);

  /* eval, in place (y aliases x) */
  BOTH (etp_batchnorm_forward_eval (B, n, c, l, P (x), P (g), P (bt), P (rm), P (rv), 1e-5f,
          PN (r, res), relu, P (x)));
  check_pair ("bn eval in place", &x, TOL);

  pair_free (&x);
  pair_free (&g);
  pair_free (&bt);
  pair_free (&rm);
  pair_free (&rv);
  pair_free (&r);
  pair_free (&y);
  pair_free (&sm);
  pair_free (&si);
  pair_free (&dy);
  pair_free (&dx);
  pair_free (&dg);
  pair_free (&db);
  pair_free (&dres);
  g_free (rv_h);
}

static void
test_batchnorm (void)
{
  NEED_GPU ();
  bn_case (4, 6, 57, TRUE, TRUE);
  bn_case (2, 3, 1, FALSE, FALSE);          /* l = 1 */
  bn_case (16, 64, 600, FALSE, TRUE);       /* several splits per channel */
  bn_case (3, 200, 7, TRUE, FALSE);         /* many channels, one split */
}

static void
test_bn_fold (void)
{
  NEED_GPU ();
  const int c = 13, row = 21;
  Pair w = pair_rnd (c * row, -1, 1), bi = pair_rnd (c, -1, 1), g = pair_rnd (c, 0.5, 2);
  Pair bt = pair_rnd (c, -1, 1), rm = pair_rnd (c, -1, 1), rv = pair_rnd (c, 0.1, 3);
  Pair wo = pair_new (NULL, c * row), bo = pair_new (NULL, c);
  BOTH (etp_batchnorm_fold (B, c, row, P (w), P (bi), P (g), P (bt), P (rm), P (rv), 1e-5f,
          P (wo), P (bo)));
  check_pair ("bn fold w", &wo, TOL);
  check_pair ("bn fold b", &bo, TOL);
  BOTH (etp_batchnorm_fold (B, c, row, P (w), NULL, P (g), P (bt), P (rm), P (rv), 1e-5f,
          P (w), P (bo)));                  /* w_out aliases w, no bias */
  check_pair ("bn fold w in place", &w, TOL);
  check_pair ("bn fold b (no bias)", &bo, TOL);
  pair_free (&w);
  pair_free (&bi);
  pair_free (&g);
  pair_free (&bt);
  pair_free (&rm);
  pair_free (&rv);
  pair_free (&wo);
  pair_free (&bo);
}

/* -------------------------------------------------- pool, linear, norm */

static void
test_avgpool_linear_l2norm (void)
{
  NEED_GPU ();
  const int n = 5, c = 9, l = 313;
  Pair x = pair_rnd ((gsize) n * c * l, -1, 1), y = pair_new (NULL, n * c);
  Pair dy = pair_rnd (n * c, -1, 1), dx = pair_rnd ((gsize) n * c * l, -1, 1);
  BOTH (etp_avgpool_forward (B, n, c, l, P (x), P (y)));
  check_pair ("avgpool", &y, TOL);
  BOTH (etp_avgpool_backward (B, n, c, l, P (dy), P (dx), TRUE));
  check_pair ("avgpool backward (+=)", &dx, TOL);
  BOTH (etp_avgpool_backward (B, n, c, l, P (dy), P (dx), FALSE));
  check_pair ("avgpool backward", &dx, TOL);

  const int b = 7, in = 33, out = 19;
  Pair lx = pair_rnd (b * in, -1, 1), lw = pair_rnd (out * in, -1, 1), lb = pair_rnd (out, -1, 1);
  Pair ly = pair_new (NULL, b * out), ldy = pair_rnd (b * out, -1, 1);
  Pair ldx = pair_new (NULL, b * in), ldw = pair_rnd (out * in, -1, 1), ldb = pair_rnd (out, -1, 1);
  BOTH (etp_linear_forward (B, b, in, out, P (lx), P (lw), P (lb), P (ly)));
  check_pair ("linear", &ly, TOL);
  BOTH (etp_linear_forward (B, b, in, out, P (lx), P (lw), NULL, P (ly)));
  check_pair ("linear no bias", &ly, TOL);
  BOTH (etp_linear_backward (B, b, in, out, P (lx), P (lw), P (ldy), P (ldx), P (ldw), P (ldb)));
  check_pair ("linear dx", &ldx, TOL);
  check_pair ("linear dw (+=)", &ldw, TOL);
  check_pair ("linear dbias (+=)", &ldb, TOL);
  BOTH (etp_linear_backward (B, b, in, out, P (lx), P (lw), P (ldy), NULL, P (ldw), NULL));
  check_pair ("linear dw only", &ldw, TOL);

  /* l2norm: one row of zeros takes the eps branch */
  const int d = 300;
  float *h = rnd ((gsize) b * d, -1, 1);
  memset (h + 2 * d, 0, d * sizeof (float));
  Pair nx = pair_new (h, (gsize) b * d), ny = pair_new (NULL, (gsize) b * d);
  Pair ndy = pair_rnd ((gsize) b * d, -1, 1), ndx = pair_new (NULL, (gsize) b * d);
  BOTH (etp_l2norm_forward (B, b, d, 1e-12f, P (nx), P (ny)));
  check_pair ("l2norm", &ny, TOL);
  BOTH (etp_l2norm_backward (B, b, d, 1e-12f, P (nx), P (ndy), P (ndx)));
  check_pair ("l2norm backward", &ndx, TOL);
  BOTH (etp_l2norm_backward (B, b, d, 1e-12f, P (nx), P (ndy), P (ndy)));   /* in place */
  check_pair ("l2norm backward in place", &ndy, TOL);
  BOTH (etp_l2norm_forward (B, b, d, 1e-12f, P (nx), P (nx)));              /* in place */
  check_pair ("l2norm in place", &nx, TOL);
  g_free (h);

  Pair *all[] = { &x, &y, &dy, &dx, &lx, &lw, &lb, &ly, &ldy, &ldx, &ldw, &ldb, &nx, &ny, &ndy,
    &ndx };
  for (guint i = 0; i < G_N_ELEMENTS (all); i++)
    pair_free (all[i]);
}

/* --------------------------------------------------------------- losses */

static void
test_losses (void)
{
  NEED_GPU ();
  GError *err = NULL;
  const int b = 11, c = 23;
  Pair z = pair_rnd (b * c, -4, 4), loss = pair_new (NULL, 1), dz = pair_new (NULL, b * c);
  int32_t t[11];
  for (int i = 0; i < b; i++)
    t[i] = g_rand_int_range (rng, 0, c);
  int32_t *tc = etp_backend_alloc (cpu, sizeof t, NULL), *tg = etp_backend_alloc (gpu, sizeof t,
      NULL);
  etp_backend_upload (cpu, tc, t, sizeof t);
  etp_backend_upload (gpu, tg, t, sizeof t);
  BOTH (etp_softmax_xent (B, b, c, P (z), IS_GPU ? tg : tc, P (loss), P (dz)));
  check_pair ("softmax xent loss", &loss, TOL);
  check_pair ("softmax xent dlogits", &dz, TOL);
  /* a target out of range is an INVALID error found on the device */
  t[3] = c;
  etp_backend_upload (gpu, tg, t, sizeof t);
  etp_softmax_xent (gpu, b, c, z.g, tg, loss.g, NULL);
  g_assert_false (etp_backend_check (gpu, &err));
  g_assert_error (err, ETP_ERROR, ETP_ERROR_INVALID);
  g_assert_nonnull (strstr (err->message, "row 3"));
  g_test_message ("bad target: %s", err->message);
  g_clear_error (&err);
  g_assert_true (etp_backend_check (gpu, NULL));
  etp_backend_free_mem (cpu, tc);
  etp_backend_free_mem (gpu, tg);

  /* CLIP over L2-normalised embeddings */
  for (int k = 0; k < 2; k++) {
    const int bb = k ? 300 : 8, d = k ? 64 : 16;
    Pair a = pair_rnd ((gsize) bb * d, -1, 1), e = pair_rnd ((gsize) bb * d, -1, 1);
    BOTH (etp_l2norm_forward (B, bb, d, 1e-12f, P (a), P (a)));
    BOTH (etp_l2norm_forward (B, bb, d, 1e-12f, P (e), P (e)));
    float ls_h = logf (1 / 0.07f), dls_h = 0.25f;
    Pair ls = pair_new (&ls_h, 1), dls = pair_new (&dls_h, 1), cl = pair_new (NULL, 1);
    Pair da = pair_new (NULL, (gsize) bb * d), db = pair_new (NULL, (gsize) bb * d);
    Pair lo = pair_new (NULL, (gsize) bb * bb);
    BOTH (etp_clip_loss (B, bb, d, P (a), P (e), P (ls), P (cl), P (da), P (db), P (dls),
            P (lo)));
    check_pair ("clip loss", &cl, TOL);
    check_pair ("clip da", &da, TOL);
    check_pair ("clip db", &db, TOL);
    check_pair ("clip dlogit_scale (+=)", &dls, TOL);
    check_pair ("clip logits", &lo, TOL);
    BOTH (etp_clip_loss (B, bb, d, P (a), P (e), P (ls), P (cl), NULL, NULL, NULL, NULL));
    check_pair ("clip loss only", &cl, TOL);
    Pair *all[] = { &a, &e, &ls, &dls, &cl, &da, &db, &lo };
    for (guint i = 0; i < G_N_ELEMENTS (all); i++)
      pair_free (all[i]);
  }
  pair_free (&z);
  pair_free (&loss);
  pair_free (&dz);
}

/* ------------------------------------------------------- adam, bf16 */

static void
test_adam_bf16 (void)
{
  NEED_GPU ();
  const gsize n = 70001;
  for (int dec = 0; dec < 2; dec++) {
    Pair p = pair_rnd (n, -1, 1), g = pair_new (NULL, n), m = pair_new (NULL, n);
    Pair v = pair_new (NULL, n);
    EtpAdamParams ap = { 2e-3f, 0.9f, 0.999f, 1e-8f, 1e-2f, dec };
    for (int step = 1; step <= 3; step++) {
      float *gh = rnd (n, -1, 1);
      etp_backend_upload (cpu, g.c, gh, n * sizeof (float));
      etp_backend_upload (gpu, g.g, gh, n * sizeof (float));
      g_free (gh);
      BOTH (etp_adam_step (B, n, P (p), P (g), P (m), P (v), &ap, step));
    }
    check_pair (dec ? "adamw params" : "adam params", &p, TOL);
    check_pair ("adam m", &m, TOL);
    check_pair ("adam v", &v, TOL);
    pair_free (&p);
    pair_free (&g);
    pair_free (&m);
    pair_free (&v);
  }

  /* conversions: bit-exact, including ties, NaN, infinities, denormals */
  const gsize nb = 4099;
  float *h = rnd (nb, -1e3, 1e3);
  const union { uint32_t u; float f; } special[] = { { 0x7fc00000u }, { 0x7f800001u },
    { 0xff800000u }, { 0x7f800000u }, { 0x00000001u }, { 0x80000000u }, { 0x3f808000u },
    { 0x3f818000u }, { 0x3f80ffffu }, { 0x7f7fffffu } };
  for (guint i = 0; i < G_N_ELEMENTS (special); i++)
    h[i] = special[i].f;
  uint16_t *want = g_new (uint16_t, nb), *got = g_new (uint16_t, nb);
  etp_f32_to_bf16_host (h, want, nb);
  float *d = etp_backend_alloc (gpu, nb * sizeof (float), NULL);
  uint16_t *dh = etp_backend_alloc (gpu, nb * sizeof (uint16_t), NULL);
  etp_backend_upload (gpu, d, h, nb * sizeof (float));
  etp_convert_f32_to_bf16 (gpu, nb, d, dh);
  etp_backend_download (gpu, got, dh, nb * sizeof (uint16_t));
  g_assert_cmpmem (got, nb * sizeof (uint16_t), want, nb * sizeof (uint16_t));
  float *wf = g_new (float, nb), *gf = g_new (float, nb);
  etp_bf16_to_f32_host (want, wf, nb);
  etp_convert_bf16_to_f32 (gpu, nb, dh, d);
  etp_backend_download (gpu, gf, d, nb * sizeof (float));
  g_assert_cmpmem (gf, nb * sizeof (float), wf, nb * sizeof (float));
  g_assert_true (etp_backend_check (gpu, NULL));
  etp_backend_free_mem (gpu, d);
  etp_backend_free_mem (gpu, dh);
  g_free (h);
  g_free (want);
  g_free (got);
  g_free (wf);
  g_free (gf);
}

/* ------------------------------------------------------- error handling */

static void
test_errors (void)
{
  NEED_GPU ();
  GError *err = NULL;
  EtpConv1dShape s = { 2, 3, 20, 4, 3, 1, 1 };
  float *x = etp_backend_alloc (gpu, 4096, NULL);
  /* required pointer missing: INVALID, and later ops are skipped */
  etp_conv1d_forward (gpu, &s, x, NULL, NULL, NULL, FALSE, x);
  etp_relu_forward (gpu, 16, x, x);
  g_assert_false (etp_backend_check (gpu, &err));
  g_assert_error (err, ETP_ERROR, ETP_ERROR_INVALID);
  g_assert_nonnull (strstr (err->message, "etp_conv1d_forward"));
  g_clear_error (&err);
  /* batchnorm training with one value per channel */
  etp_batchnorm_forward_train (gpu, 1, 2, 1, x, x, x, NULL, NULL, 0.1f, 1e-5f, NULL, FALSE,
      x + 64, x + 128, x + 192);
  g_assert_false (etp_backend_check (gpu, &err));
  g_assert_error (err, ETP_ERROR, ETP_ERROR_INVALID);
  g_clear_error (&err);
  /* the backend keeps working after a cleared error */
  etp_backend_memset (gpu, x, 0, 4096);
  etp_relu_forward (gpu, 1024, x, x);
  g_assert_true (etp_backend_check (gpu, &err));
  etp_backend_free_mem (gpu, x);
}

/* ---------------------------------------------------------- whole model */

static void
read_all (EtpResnet1d *m, guint i, EtpTensorSlot slot, float **out, gsize *n)
{
  const EtpTensorInfo *info = etp_resnet1d_tensor_info (m, i);
  *n = info->numel;
  *out = g_new (float, MAX (*n, 1));
  etp_resnet1d_read_tensor (m, i, slot, *out);
}

/* Parameters after an Adam step. Adam turns the sign of each gradient
 * element into a step of up to lr, so an element whose gradient is rounding
 * noise (|g| ~ 1e-7 max|g|) may legitimately move differently on the two
 * backends by up to 2 lr. Allow a few such elements (at most 0.1%), bounded
 * by 2 lr; everything else within TOL. */
static void
expect_step_close (const char *what, const float *got, const float *want, gsize n, float lr)
{
  double maxref = 0, maxd = 0;
  gsize off = 0;
  for (gsize i = 0; i < n; i++)
    maxref = MAX (maxref, fabs (want[i]));
  for (gsize i = 0; i < n; i++) {
    double d = fabs ((double) got[i] - want[i]);
    if (isnan (got[i]) != isnan (want[i]))
      d = INFINITY;
    maxd = MAX (maxd, d);
    if (d >= TOL * MAX (maxref, 1e-30))
      off++;
  }
  g_test_message ("%-40s n=%-7" G_GSIZE_FORMAT " rel err %.3g, %" G_GSIZE_FORMAT
      " element(s) beyond %.0e (max |diff| %.3g, lr %.3g)", what, n, maxd / MAX (maxref, 1e-30),
      off, TOL, maxd, lr);
  if (off > MAX (n / 1000, 1) || !(maxd <= 2.0 * lr * 1.01))
    g_error ("%s: %" G_GSIZE_FORMAT " element(s) beyond %.0e relative, max |diff| %.3g "
        "(2 lr = %.3g)", what, off, TOL, maxd, 2.0 * lr);
}

/* Copies every tensor (values, Adam moments, BatchNorm statistics) of @from
 * into @to, so the next step of both starts from the same state. */
static void
sync_models (EtpResnet1d *from, EtpResnet1d *to)
{
  for (guint i = 0; i < etp_resnet1d_n_tensors (from); i++) {
    const EtpTensorInfo *info = etp_resnet1d_tensor_info (from, i);
    if (info->kind == ETP_TENSOR_COUNTER)
      continue;
    EtpTensorSlot slots[] = { ETP_SLOT_VALUE, ETP_SLOT_ADAM_M, ETP_SLOT_ADAM_V };
    for (guint k = 0; k < (info->kind == ETP_TENSOR_PARAM ? 3u : 1u); k++) {
      float *v;
      gsize n;
      read_all (from, i, slots[k], &v, &n);
      etp_resnet1d_write_tensor (to, i, slots[k], v);
      g_free (v);
    }
  }
}

/* Same seed, same batch on backends @a (reference) and @b. */
static void
compare_models (EtpBackend *a, EtpBackend *b, const char *label, guint width, guint L,
                gboolean two_views)
{
  GError *err = NULL;
  EtpResnet1dConfig cfg;
  etp_resnet1d_config_init (&cfg);
  cfg.width = width;
  cfg.embed_dim = 16;
  cfg.text_dim = 24;
  cfg.length = L;
  const guint n = 4;
  EtpResnet1d *ma = etp_resnet1d_new (a, &cfg, 7, &err);
  g_assert_no_error (err);
  EtpResnet1d *mb = etp_resnet1d_new (b, &cfg, 7, &err);
  g_assert_no_error (err);
  float *x = rnd ((gsize) n * cfg.leads * L, -2, 2), *x2 = NULL;
  float *text = rnd ((gsize) n * cfg.text_dim, -1, 1);
  if (two_views)
    x2 = rnd ((gsize) n * cfg.leads * L, -2, 2);

  for (int step = 0; step < 2; step++) {
    EtpTrainResult ra, rb;
    g_assert_true (etp_resnet1d_forward_backward (ma, n, L, x, x2, text, &ra, &err));
    g_assert_no_error (err);
    g_assert_true (etp_resnet1d_forward_backward (mb, n, L, x, x2, text, &rb, &err));
    g_assert_no_error (err);
    g_test_message ("%s step %d: loss %.7f vs %.7f", label, step, rb.loss, ra.loss);
    expect_close ("loss", &rb.loss, &ra.loss, 1, TOL);
    expect_close ("loss_ssl", &rb.loss_ssl, &ra.loss_ssl, 1, TOL);
    for (guint i = 0; i < etp_resnet1d_n_tensors (ma); i++) {
      const EtpTensorInfo *info = etp_resnet1d_tensor_info (ma, i);
      if (info->kind == ETP_TENSOR_COUNTER)
        continue;
      float *ga, *gb;
      gsize na, nb;
      EtpTensorSlot slot = info->kind == ETP_TENSOR_PARAM ? ETP_SLOT_GRAD : ETP_SLOT_VALUE;
      read_all (ma, i, slot, &ga, &na);
      read_all (mb, i, slot, &gb, &nb);
      g_assert_cmpuint (na, ==, nb);
      char *what = g_strdup_printf ("%s %s", slot == ETP_SLOT_GRAD ? "grad" : "buffer",
          info->name);
      expect_close (what, gb, ga, na, TOL);
      g_free (what);
      g_free (ga);
      g_free (gb);
    }
    g_assert_true (etp_resnet1d_optimizer_step (ma, &err));
    g_assert_true (etp_resnet1d_optimizer_step (mb, &err));
    g_assert_no_error (err);
    for (guint i = 0; i < etp_resnet1d_n_tensors (ma); i++) {
      const EtpTensorInfo *info = etp_resnet1d_tensor_info (ma, i);
      if (info->kind != ETP_TENSOR_PARAM)
        continue;
      float *pa, *pb;
      gsize na, nb;
      read_all (ma, i, ETP_SLOT_VALUE, &pa, &na);
      read_all (mb, i, ETP_SLOT_VALUE, &pb, &nb);
      char *what = g_strdup_printf ("after step %s", info->name);
      expect_step_close (what, pb, pa, na, etp_resnet1d_train_params (ma)->adam.lr);
      g_free (what);
      g_free (pa);
      g_free (pb);
    }
    /* the next step compares gradients from the same parameters */
    sync_models (ma, mb);
  }

  /* inference (folded BatchNorm), then bf16 where both sides have it */
  const guint fd = etp_resnet1d_feature_dim (ma);
  float *fa = g_new (float, (gsize) n * fd), *fb = g_new (float, (gsize) n * fd);
  float *ea = g_new (float, (gsize) n * cfg.embed_dim), *eb = g_new (float, (gsize) n * cfg.embed_dim);
  g_assert_true (etp_resnet1d_forward_eval (ma, n, L, x, fa, ea, &err));
  g_assert_true (etp_resnet1d_forward_eval (mb, n, L, x, fb, eb, &err));
  g_assert_no_error (err);
  expect_close ("eval features", fb, fa, (gsize) n * fd, TOL);
  expect_close ("eval embeddings", eb, ea, (gsize) n * cfg.embed_dim, TOL);
  g_assert_true (etp_resnet1d_project_text (ma, n, text, ea, &err));
  g_assert_true (etp_resnet1d_project_text (mb, n, text, eb, &err));
  g_assert_no_error (err);
  expect_close ("text embeddings", eb, ea, (gsize) n * cfg.embed_dim, TOL);
  if (etp_resnet1d_set_precision (ma, ETP_PRECISION_BF16, NULL)
      && etp_resnet1d_set_precision (mb, ETP_PRECISION_BF16, NULL)) {
    g_assert_true (etp_resnet1d_forward_eval (ma, n, L, x, fa, NULL, &err));
    g_assert_true (etp_resnet1d_forward_eval (mb, n, L, x, fb, NULL, &err));
    g_assert_no_error (err);
    /* both round weights and activations to bf16 identically; only the
     * accumulation order differs, but a rounding boundary crossed early
     * propagates, so compare at bf16 precision */
    expect_close ("eval features bf16", fb, fa, (gsize) n * fd, 1e-2);
  }
  g_free (fa);
  g_free (fb);
  g_free (ea);
  g_free (eb);
  g_free (x);
  g_free (x2);
  g_free (text);
  etp_resnet1d_free (ma);
  etp_resnet1d_free (mb);
}

/* Runs without a GPU: the harness itself, CPU vector kernels vs generic. */
static void
test_model_cpu_harness (void)
{
  GError *err = NULL;
  g_setenv ("ETP_CPU_ISA", "generic", TRUE);
  EtpBackend *gen = etp_backend_new (ETP_DEVICE_CPU, 1, &err);
  g_unsetenv ("ETP_CPU_ISA");
  g_assert_no_error (err);
  compare_models (gen, cpu, "cpu vs cpu-generic", 8, 250, FALSE);
  etp_backend_free (gen);
}

static void
test_model (void)
{
  NEED_GPU ();
  compare_models (cpu, gpu, "cuda vs cpu", 8, 250, FALSE);
  compare_models (cpu, gpu, "cuda vs cpu, two views", 8, 301, TRUE);
}

int
main (int argc, char **argv)
{
  GError *err = NULL;
  g_test_init (&argc, &argv, NULL);
  rng = g_rand_new_with_seed (20240611);
  /* the comparisons are FP32 against FP32 */
  g_unsetenv ("ETP_CUDA_TF32");

  cpu = etp_backend_new (ETP_DEVICE_CPU, 2, &err);
  g_assert_no_error (err);
  gpu = etp_backend_new (ETP_DEVICE_CUDA, 0, &err);
  if (gpu == NULL) {
    no_gpu_reason = g_strdup_printf ("no CUDA device, CUDA cases skipped: %s", err->message);
    g_clear_error (&err);
    g_test_message ("%s", no_gpu_reason);
  } else {
    g_test_message ("cuda backend: %s", etp_backend_name (gpu));
  }

  g_test_add_func ("/cuda/device-selection", test_device_selection);
  g_test_add_func ("/cuda/model-harness-cpu", test_model_cpu_harness);
  g_test_add_func ("/cuda/memory", test_memory);
  g_test_add_func ("/cuda/gemm", test_gemm);
  g_test_add_func ("/cuda/pointwise", test_pointwise);
  g_test_add_func ("/cuda/conv1d", test_conv1d);
  g_test_add_func ("/cuda/conv1d-chunked", test_conv1d_chunked);
  g_test_add_func ("/cuda/batchnorm", test_batchnorm);
  g_test_add_func ("/cuda/bn-fold", test_bn_fold);
  g_test_add_func ("/cuda/avgpool-linear-l2norm", test_avgpool_linear_l2norm);
  g_test_add_func ("/cuda/losses", test_losses);
  g_test_add_func ("/cuda/adam-bf16", test_adam_bf16);
  g_test_add_func ("/cuda/errors", test_errors);
  g_test_add_func ("/cuda/resnet1d", test_model);
  int rc = g_test_run ();

  if (gpu)
    etp_backend_free (gpu);
  etp_backend_free (cpu);
  g_rand_free (rng);
  g_free (no_gpu_reason);
  return rc;
}
