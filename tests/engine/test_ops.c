/* Engine ops against PyTorch golden files (golden_ops/make_golden.py):
 * every op's forward and backward on every CPU kernel set (AVX-512 or AVX2
 * as detected, 2 threads; generic, 1 thread) and on the CUDA backend when a
 * GPU is present. Error = max |got - want| / max |want| per tensor. */
#include "config.h"
#include "engine/engine.h"
#include "util/etperror.h"

#include <json-glib/json-glib.h>
#include <math.h>
#include <string.h>

#define TOL 1e-4
#define TOL_LONG 1e-3

static JsonArray *cases;
static float *blob;
static gsize blob_floats;

typedef struct {
  const char *label;
  EtpBackend *be;
} Dev;
static Dev devs[4];
static int n_devs;

/* ------------------------------------------------------------- helpers */

static const float *
host_tensor (JsonObject *c, const char *name, gsize *count)
{
  JsonObject *t = json_object_get_object_member (c, "tensors");
  if (!json_object_has_member (t, name))
    g_error ("golden case %s lacks tensor %s", json_object_get_string_member (c, "name"), name);
  JsonArray *a = json_object_get_array_member (t, name);
  gsize off = json_array_get_int_element (a, 0), n = json_array_get_int_element (a, 1);
  g_assert_cmpuint (off + n, <=, blob_floats);
  if (count)
    *count = n;
  return blob + off;
}

static int
param_i (JsonObject *c, const char *k)
{
  return (int) json_object_get_int_member (json_object_get_object_member (c, "params"), k);
}

static double
param_d (JsonObject *c, const char *k)
{
  return json_object_get_double_member (json_object_get_object_member (c, "params"), k);
}

/* device copy of a golden tensor */
static float *
dev_tensor (EtpBackend *be, JsonObject *c, const char *name)
{
  gsize n;
  const float *h = host_tensor (c, name, &n);
  float *d = etp_backend_alloc (be, n * sizeof (float), NULL);
  g_assert_nonnull (d);
  etp_backend_upload (be, d, h, n * sizeof (float));
  return d;
}

static float *
dev_zeros (EtpBackend *be, gsize n)
{
  float *d = etp_backend_alloc (be, n * sizeof (float), NULL);
  g_assert_nonnull (d);
  etp_backend_memset (be, d, 0, n * sizeof (float));
  return d;
}

static float *
dev_from (EtpBackend *be, const float *h, gsize n)
{
  float *d = etp_backend_alloc (be, n * sizeof (float), NULL);
  etp_backend_upload (be, d, h, n * sizeof (float));
  return d;
}

static double
rel_err (const float *got, const float *want, gsize n)
{
  double md = 0, mw = 0;
  for (gsize i = 0; i < n; i++) {
    if (!isfinite (got[i]))
      return INFINITY;
    md = MAX (md, fabs ((double) got[i] - want[i]));
    mw = MAX (mw, fabs ((double) want[i]));
  }
  return mw > 1e-20 ? md / mw : md;
}

static void
check_host (const char *dev, JsonObject *c, const char *what, const float *got,
            const float *want, gsize n, double tol)
{
  double e = rel_err (got, want, n);
  if (!(e <= tol))
    g_error ("%s: case %s, %s: relative error %.3g > %.1g", dev,
        json_object_get_string_member (c, "name"), what, e, tol);
  g_test_message ("%s %s %s: %.2g", dev, json_object_get_string_member (c, "name"), what, e);
}

/* compares device buffer @d (n floats) with golden tensor @name */
static void
check_dev (Dev *dv, JsonObject *c, const char *name, const float *d, double tol)
{
  gsize n;
  const float *want = host_tensor (c, name, &n);
  float *got = g_new (float, n);
  etp_backend_download (dv->be, got, d, n * sizeof (float));
  check_host (dv->label, c, name, got, want, n, tol);
  g_free (got);
}

static void
no_error (Dev *dv)
{
  GError *err = NULL;
  if (!etp_backend_check (dv->be, &err))
    g_error ("%s: backend error: %s", dv->label, err->message);
}

#define FREE(be, ...) \
  G_STMT_START { \
    void *_p[] = { __VA_ARGS__ }; \
    for (gsize _i = 0; _i < G_N_ELEMENTS (_p); _i++) \
      etp_backend_free_mem ((be), _p[_i]); \
  } G_STMT_END

static GPtrArray *
cases_of (const char *op)
{
  GPtrArray *r = g_ptr_array_new ();
  for (guint i = 0; i < json_array_get_length (cases); i++) {
    JsonObject *c = json_array_get_object_element (cases, i);
    if (g_str_equal (json_object_get_string_member (c, "op"), op))
      g_ptr_array_add (r, c);
  }
  g_assert_cmpuint (r->len, >, 0);
  return r;
}

/* --------------------------------------------------------------- conv1d */

static void
test_conv1d (void)
{
  GPtrArray *cs = cases_of ("conv1d");
  for (int di = 0; di < n_devs; di++) {
    Dev *dv = &devs[di];
    EtpBackend *be = dv->be;
    for (guint i = 0; i < cs->len; i++) {
      JsonObject *c = cs->pdata[i];
      EtpConv1dShape s = { param_i (c, "n"), param_i (c, "c_in"), param_i (c, "l_in"),
        param_i (c, "c_out"), param_i (c, "kernel"), param_i (c, "stride"), param_i (c, "padding") };
      gboolean bias = param_i (c, "bias");
      int lo = etp_conv1d_out_len (&s);
      gsize ny = (gsize) s.n * s.c_out * lo, nx = (gsize) s.n * s.c_in * s.l_in;
      gsize nw = (gsize) s.c_out * s.c_in * s.kernel;
      double tol = (s.c_in * s.kernel > 100 || lo > 100) ? TOL_LONG : TOL;
      float *x = dev_tensor (be, c, "x"), *w = dev_tensor (be, c, "w");
      float *b = bias ? dev_tensor (be, c, "b") : NULL;
      float *dy = dev_tensor (be, c, "dy");
      float *y = dev_zeros (be, ny), *dx = dev_zeros (be, nx), *dw = dev_zeros (be, nw);
      float *db = bias ? dev_zeros (be, s.c_out) : NULL;

      gsize ny_golden;
      host_tensor (c, "y", &ny_golden);
      g_assert_cmpuint (ny_golden, ==, ny);
      etp_conv1d_forward (be, &s, x, w, b, NULL, FALSE, y);
      no_error (dv);
      check_dev (dv, c, "y", y, tol);

      /* fused epilogue: relu(conv + bias + residual) */
      const float *yg = host_tensor (c, "y", NULL);
      float *res_h = g_new (float, ny), *want = g_new (float, ny), *got = g_new (float, ny);
      for (gsize k = 0; k < ny; k++) {
        res_h[k] = (float) ((k * 7919) % 13) / 6.5f - 1.f;
        float v = yg[k] + res_h[k];
        want[k] = v > 0 ? v : 0;
      }
      float *res = dev_from (be, res_h, ny);
      etp_conv1d_forward (be, &s, x, w, b, res, TRUE, y);
      etp_backend_download (be, got, y, ny * sizeof (float));
      check_host (dv->label, c, "y+res relu", got, want, ny, tol);

      /* bf16 forward: weights and activations rounded to bf16 */
      uint16_t *wh = g_new (uint16_t, nw);
      uint16_t *wbf = etp_backend_alloc (be, nw * 2, NULL);
      etp_f32_to_bf16_host (host_tensor (c, "w", NULL), wh, nw);
      etp_backend_upload (be, wbf, wh, nw * 2);
      etp_conv1d_forward_bf16 (be, &s, x, wbf, b, NULL, FALSE, y);
      etp_backend_download (be, got, y, ny * sizeof (float));
      check_host (dv->label, c, "y bf16", got, yg, ny, 2e-2);
      /* bf16 with the fused epilogue equals relu(bf16 conv + residual) */
      for (gsize k = 0; k < ny; k++) {
        float v = got[k] + res_h[k];
        want[k] = v > 0 ? v : 0;
      }
      etp_conv1d_forward_bf16 (be, &s, x, wbf, b, res, TRUE, y);
      etp_backend_download (be, got, y, ny * sizeof (float));
      check_host (dv->label, c, "y bf16+res relu", got, want, ny, 1e-6);

      etp_conv1d_backward_data (be, &s, dy, w, dx, FALSE);
      no_error (dv);
      check_dev (dv, c, "dx", dx, tol);
      /* accumulate: dx += again */
      etp_conv1d_backward_data (be, &s, dy, w, dx, TRUE);
      {
        const float *dxg = host_tensor (c, "dx", NULL);
        float *w2 = g_new (float, nx), *g2 = g_new (float, nx);
        for (gsize k = 0; k < nx; k++)
          w2[k] = 2.f * dxg[k];
        etp_backend_download (be, g2, dx, nx * sizeof (float));
        check_host (dv->label, c, "dx accumulate", g2, w2, nx, tol);
        g_free (w2);
        g_free (g2);
      }

      etp_conv1d_backward_weight (be, &s, x, dy, dw, db);
      no_error (dv);
      check_dev (dv, c, "dw", dw, tol);
      if (bias)
        check_dev (dv, c, "db", db, tol);
      /* parameter gradients accumulate */
      etp_conv1d_backward_weight (be, &s, x, dy, dw, db);
      {
        const float *dwg = host_tensor (c, "dw", NULL);
        float *w2 = g_new (float, nw), *g2 = g_new (float, nw);
        for (gsize k = 0; k < nw; k++)
          w2[k] = 2.f * dwg[k];
        etp_backend_download (be, g2, dw, nw * sizeof (float));
        check_host (dv->label, c, "dw accumulate", g2, w2, nw, tol);
        g_free (w2);
        g_free (g2);
      }
      no_error (dv);
      FREE (be, x, w, b, dy, y, dx, dw, db, res, wbf);
      g_free (res_h);
      g_free (want);
      g_free (got);
      g_free (wh);
    }
  }
  g_ptr_array_unref (cs);
}

/* ------------------------------------------------------------ batchnorm */

static void
test_batchnorm (void)
{
  GPtrArray *cs = cases_of ("batchnorm");
  for (int di = 0; di < n_devs; di++) {
    Dev *dv = &devs[di];
    EtpBackend *be = dv->be;
    for (guint i = 0; i < cs->len; i++) {
      JsonObject *c = cs->pdata[i];
      int n = param_i (c, "n"), ch = param_i (c, "c"), l = param_i (c, "l");
      float mom = (float) param_d (c, "momentum"), eps = (float) param_d (c, "eps");
      gsize nx = (gsize) n * ch * l;
      double tol = (gsize) n * l > 1000 ? TOL_LONG : TOL;
      float *x = dev_tensor (be, c, "x"), *g = dev_tensor (be, c, "gamma");
      float *bt = dev_tensor (be, c, "beta"), *res = dev_tensor (be, c, "residual");
      float *rm = dev_tensor (be, c, "running_mean"), *rv = dev_tensor (be, c, "running_var");
      float *dy = dev_tensor (be, c, "dy");
      float *y = dev_zeros (be, nx), *dx = dev_zeros (be, nx), *dres = dev_zeros (be, nx);
      float *sm = dev_zeros (be, ch), *si = dev_zeros (be, ch);
      float *dg = dev_zeros (be, ch), *db = dev_zeros (be, ch);

      etp_batchnorm_forward_eval (be, n, ch, l, x, g, bt, rm, rv, eps, NULL, FALSE, y);
      check_dev (dv, c, "y_eval", y, tol);
      etp_batchnorm_forward_eval (be, n, ch, l, x, g, bt, rm, rv, eps, res, TRUE, y);
      check_dev (dv, c, "y_eval_fused", y, tol);

      etp_batchnorm_forward_train (be, n, ch, l, x, g, bt, rm, rv, mom, eps, NULL, FALSE,
          y, sm, si);
      no_error (dv);
      check_dev (dv, c, "y", y, tol);
      check_dev (dv, c, "rm_new", rm, tol);
      check_dev (dv, c, "rv_new", rv, tol);
      check_dev (dv, c, "save_mean", sm, tol);
      check_dev (dv, c, "save_invstd", si, tol);
      etp_batchnorm_backward (be, n, ch, l, x, g, sm, si, dy, NULL, dx, dg, db, NULL);
      no_error (dv);
      check_dev (dv, c, "dx", dx, tol);
      check_dev (dv, c, "dgamma", dg, tol);
      check_dev (dv, c, "dbeta", db, tol);

      /* fused: relu(bn(x) + residual); running stats not tracked (NULL) */
      etp_backend_memset (be, dg, 0, ch * sizeof (float));
      etp_backend_memset (be, db, 0, ch * sizeof (float));
      etp_batchnorm_forward_train (be, n, ch, l, x, g, bt, NULL, NULL, mom, eps, res, TRUE,
          y, sm, si);
      check_dev (dv, c, "y_fused", y, tol);
      etp_batchnorm_backward (be, n, ch, l, x, g, sm, si, dy, y, dx, dg, db, dres);
      no_error (dv);
      check_dev (dv, c, "dx_fused", dx, tol);
      check_dev (dv, c, "dgamma_fused", dg, tol);
      check_dev (dv, c, "dbeta_fused", db, tol);
      check_dev (dv, c, "dres_fused", dres, tol);
      /* in place: dres aliases dy */
      etp_batchnorm_backward (be, n, ch, l, x, g, sm, si, dy, y, dx, dg, db, dy);
      check_dev (dv, c, "dx_fused", dx, tol);
      check_dev (dv, c, "dres_fused", dy, tol);
      no_error (dv);
      FREE (be, x, g, bt, res, rm, rv, dy, y, dx, dres, sm, si, dg, db);
    }
  }
  g_ptr_array_unref (cs);
}

/* BN folded into a conv (inference) equals conv followed by BN eval. */
static void
test_bn_fold (void)
{
  for (int di = 0; di < n_devs; di++) {
    Dev *dv = &devs[di];
    EtpBackend *be = dv->be;
    EtpConv1dShape s = { 3, 5, 29, 6, 3, 2, 1 };
    int lo = etp_conv1d_out_len (&s);
    gsize nx = (gsize) s.n * s.c_in * s.l_in, ny = (gsize) s.n * s.c_out * lo;
    gsize nw = (gsize) s.c_out * s.c_in * s.kernel;
    float *xh = g_new (float, nx), *wh = g_new (float, nw), *p[4];
    for (gsize k = 0; k < nx; k++)
      xh[k] = sinf (0.37f * k) + 0.1f;
    for (gsize k = 0; k < nw; k++)
      wh[k] = cosf (1.3f * k) * 0.3f;
    float ph[4][6];
    for (int o = 0; o < 6; o++) {
      ph[0][o] = 1.f + 0.1f * o;      /* gamma */
      ph[1][o] = 0.2f - 0.05f * o;    /* beta */
      ph[2][o] = 0.3f * sinf (o);     /* mean */
      ph[3][o] = 0.5f + 0.2f * o;     /* var */
    }
    for (int k = 0; k < 4; k++)
      p[k] = dev_from (be, ph[k], 6);
    float *x = dev_from (be, xh, nx), *w = dev_from (be, wh, nw);
    float *wf = dev_zeros (be, nw), *bf = dev_zeros (be, 6);
    float *y1 = dev_zeros (be, ny), *y2 = dev_zeros (be, ny);
    etp_conv1d_forward (be, &s, x, w, NULL, NULL, FALSE, y1);
    etp_batchnorm_forward_eval (be, s.n, s.c_out, lo, y1, p[0], p[1], p[2], p[3], 1e-5f,
        NULL, TRUE, y1);
    etp_batchnorm_fold (be, s.c_out, s.c_in * s.kernel, w, NULL, p[0], p[1], p[2], p[3],
        1e-5f, wf, bf);
    etp_conv1d_forward (be, &s, x, wf, bf, NULL, TRUE, y2);
    no_error (dv);
    float *a = g_new (float, ny), *b = g_new (float, ny);
    etp_backend_download (be, a, y1, ny * 4);
    etp_backend_download (be, b, y2, ny * 4);
    double e = rel_err (b, a, ny);
    g_assert_cmpfloat (e, <=, TOL);
    FREE (be, x, w, wf, bf, y1, y2, p[0], p[1], p[2], p[3]);
    g_free (a);
    g_free (b);
    g_free (xh);
    g_free (wh);
  }
}

/* -------------------------------------------------- pool, relu, add */

static void
test_avgpool (void)
{
  GPtrArray *cs = cases_of ("avgpool");
  for (int di = 0; di < n_devs; di++) {
    Dev *dv = &devs[di];
    EtpBackend *be = dv->be;
    for (guint i = 0; i < cs->len; i++) {
      JsonObject *c = cs->pdata[i];
      int n = param_i (c, "n"), ch = param_i (c, "c"), l = param_i (c, "l");
      float *x = dev_tensor (be, c, "x"), *dy = dev_tensor (be, c, "dy");
      float *y = dev_zeros (be, (gsize) n * ch), *dx = dev_zeros (be, (gsize) n * ch * l);
      etp_avgpool_forward (be, n, ch, l, x, y);
      check_dev (dv, c, "y", y, TOL);
      etp_avgpool_backward (be, n, ch, l, dy, dx, FALSE);
      check_dev (dv, c, "dx", dx, TOL);
      no_error (dv);
      FREE (be, x, dy, y, dx);
    }
  }
  g_ptr_array_unref (cs);
}

static void
test_pointwise (void)
{
  for (int di = 0; di < n_devs; di++) {
    Dev *dv = &devs[di];
    EtpBackend *be = dv->be;
    /* large enough to use every thread, odd so tails are exercised */
    gsize n = 200003;
    float *a = g_new (float, n), *b = g_new (float, n), *got = g_new (float, n);
    for (gsize k = 0; k < n; k++) {
      a[k] = sinf (0.001f * k * k);
      b[k] = cosf (0.7f * k);
    }
    float *da = dev_from (be, a, n), *db = dev_from (be, b, n), *dy = dev_zeros (be, n);
    float *s = dev_zeros (be, 1);
    etp_relu_forward (be, n, da, dy);
    etp_backend_download (be, got, dy, n * 4);
    for (gsize k = 0; k < n; k++)
      g_assert_cmpfloat (got[k], ==, a[k] > 0 ? a[k] : 0.f);
    etp_relu_backward (be, n, dy, db, dy);   /* in place */
    etp_backend_download (be, got, dy, n * 4);
    for (gsize k = 0; k < n; k++)
      g_assert_cmpfloat (got[k], ==, a[k] > 0 ? b[k] : 0.f);
    etp_add (be, n, da, db, dy);
    etp_scale (be, n, dy, 0.5f);
    etp_backend_download (be, got, dy, n * 4);
    for (gsize k = 0; k < n; k++)
      g_assert_cmpfloat (fabsf (got[k] - 0.5f * (a[k] + b[k])), <=, 1e-6f);
    etp_sumsq (be, n, db, s);
    float sh;
    double want = 0;
    for (gsize k = 0; k < n; k++)
      want += (double) b[k] * b[k];
    etp_backend_download (be, &sh, s, 4);
    g_assert_cmpfloat (fabs (sh - want) / want, <=, 1e-5);
    /* bf16 round trip: nearest-even rounding, relative error <= 2^-9 */
    uint16_t *h = etp_backend_alloc (be, n * 2, NULL);
    etp_convert_f32_to_bf16 (be, n, da, h);
    etp_convert_bf16_to_f32 (be, n, h, dy);
    etp_backend_download (be, got, dy, n * 4);
    for (gsize k = 0; k < n; k++)
      g_assert_cmpfloat (fabsf (got[k] - a[k]), <=, fabsf (a[k]) * (1.f / 256) + 1e-30f);
    g_assert_cmpuint (etp_f32_to_bf16_one (1.0f), ==, 0x3f80);
    g_assert_cmpuint (etp_f32_to_bf16_one (1.00390625f), ==, 0x3f80);  /* tie -> even */
    g_assert_cmpuint (etp_f32_to_bf16_one (1.01171875f), ==, 0x3f82);  /* tie -> even */
    g_assert_true (isnan (etp_bf16_to_f32_one (etp_f32_to_bf16_one (NAN))));
    no_error (dv);
    FREE (be, da, db, dy, s, h);
    g_free (a);
    g_free (b);
    g_free (got);
  }
}

/* ------------------------------------------------------------- linear */

static void
test_linear (void)
{
  GPtrArray *cs = cases_of ("linear");
  for (int di = 0; di < n_devs; di++) {
    Dev *dv = &devs[di];
    EtpBackend *be = dv->be;
    for (guint i = 0; i < cs->len; i++) {
      JsonObject *c = cs->pdata[i];
      int b = param_i (c, "b"), in = param_i (c, "fin"), out = param_i (c, "fout");
      gboolean bias = param_i (c, "bias");
      float *x = dev_tensor (be, c, "x"), *w = dev_tensor (be, c, "w");
      float *bb = bias ? dev_tensor (be, c, "b") : NULL, *dy = dev_tensor (be, c, "dy");
      float *y = dev_zeros (be, (gsize) b * out), *dx = dev_zeros (be, (gsize) b * in);
      float *dw = dev_zeros (be, (gsize) out * in), *db = bias ? dev_zeros (be, out) : NULL;
      etp_linear_forward (be, b, in, out, x, w, bb, y);
      check_dev (dv, c, "y", y, TOL);
      etp_linear_backward (be, b, in, out, x, w, dy, dx, dw, db);
      check_dev (dv, c, "dx", dx, TOL);
      check_dev (dv, c, "dw", dw, TOL);
      if (bias)
        check_dev (dv, c, "db", db, TOL);
      no_error (dv);
      FREE (be, x, w, bb, dy, y, dx, dw, db);
    }
  }
  g_ptr_array_unref (cs);
}

/* ------------------------------------------------------------- l2norm */

static void
test_l2norm (void)
{
  GPtrArray *cs = cases_of ("l2norm");
  for (int di = 0; di < n_devs; di++) {
    Dev *dv = &devs[di];
    EtpBackend *be = dv->be;
    for (guint i = 0; i < cs->len; i++) {
      JsonObject *c = cs->pdata[i];
      int b = param_i (c, "b"), d = param_i (c, "d");
      float eps = (float) param_d (c, "eps");
      float *x = dev_tensor (be, c, "x"), *dy = dev_tensor (be, c, "dy");
      float *y = dev_zeros (be, (gsize) b * d), *dx = dev_zeros (be, (gsize) b * d);
      etp_l2norm_forward (be, b, d, eps, x, y);
      check_dev (dv, c, "y", y, TOL);
      etp_l2norm_backward (be, b, d, eps, x, dy, dx);
      check_dev (dv, c, "dx", dx, TOL);
      etp_l2norm_backward (be, b, d, eps, x, dy, dy);   /* in place */
      check_dev (dv, c, "dx", dy, TOL);
      no_error (dv);
      FREE (be, x, dy, y, dx);
    }
  }
  g_ptr_array_unref (cs);
}

/* ------------------------------------------------------------- losses */

static void
test_xent (void)
{
  GPtrArray *cs = cases_of ("xent");
  for (int di = 0; di < n_devs; di++) {
    Dev *dv = &devs[di];
    EtpBackend *be = dv->be;
    for (guint i = 0; i < cs->len; i++) {
      JsonObject *c = cs->pdata[i];
      int b = param_i (c, "b"), k = param_i (c, "c");
      const float *tf = host_tensor (c, "targets", NULL);
      int32_t *th = g_new (int32_t, b);
      for (int j = 0; j < b; j++)
        th[j] = (int32_t) tf[j];
      int32_t *t = etp_backend_alloc (be, b * 4, NULL);
      etp_backend_upload (be, t, th, b * 4);
      float *z = dev_tensor (be, c, "logits"), *loss = dev_zeros (be, 1);
      float *dz = dev_zeros (be, (gsize) b * k);
      etp_softmax_xent (be, b, k, z, t, loss, dz);
      no_error (dv);
      check_dev (dv, c, "loss", loss, TOL);
      check_dev (dv, c, "dlogits", dz, TOL);
      /* a bad target is an error, not a crash */
      th[0] = k;
      etp_backend_upload (be, t, th, b * 4);
      etp_softmax_xent (be, b, k, z, t, loss, dz);
      GError *err = NULL;
      g_assert_false (etp_backend_check (be, &err));
      g_assert_error (err, ETP_ERROR, ETP_ERROR_INVALID);
      g_clear_error (&err);
      FREE (be, t, z, loss, dz);
      g_free (th);
    }
  }
  g_ptr_array_unref (cs);
}

static void
test_clip (void)
{
  GPtrArray *cs = cases_of ("clip");
  for (int di = 0; di < n_devs; di++) {
    Dev *dv = &devs[di];
    EtpBackend *be = dv->be;
    for (guint i = 0; i < cs->len; i++) {
      JsonObject *c = cs->pdata[i];
      int b = param_i (c, "b"), d = param_i (c, "d");
      gboolean learn = param_i (c, "learnable");
      float *a = dev_tensor (be, c, "a"), *bb = dev_tensor (be, c, "b");
      float *ls = dev_tensor (be, c, "logit_scale"), *loss = dev_zeros (be, 1);
      float *da = dev_zeros (be, (gsize) b * d), *db = dev_zeros (be, (gsize) b * d);
      float *dls = dev_zeros (be, 1), *lg = dev_zeros (be, (gsize) b * b);
      etp_clip_loss (be, b, d, a, bb, ls, loss, da, db, learn ? dls : NULL, lg);
      no_error (dv);
      check_dev (dv, c, "loss", loss, TOL);
      check_dev (dv, c, "logits", lg, TOL);
      check_dev (dv, c, "da", da, TOL);
      check_dev (dv, c, "db", db, TOL);
      if (learn)
        check_dev (dv, c, "dlogit_scale", dls, TOL);
      FREE (be, a, bb, ls, loss, da, db, dls, lg);
    }
  }
  g_ptr_array_unref (cs);
}

/* --------------------------------------------------------------- adam */

static void
test_adam (void)
{
  GPtrArray *cs = cases_of ("adam");
  for (int di = 0; di < n_devs; di++) {
    Dev *dv = &devs[di];
    EtpBackend *be = dv->be;
    for (guint i = 0; i < cs->len; i++) {
      JsonObject *c = cs->pdata[i];
      int n = param_i (c, "n"), steps = param_i (c, "steps");
      EtpAdamParams ap = { (float) param_d (c, "lr"), (float) param_d (c, "beta1"),
        (float) param_d (c, "beta2"), (float) param_d (c, "eps"),
        (float) param_d (c, "weight_decay"), param_i (c, "decoupled") };
      float *p = dev_tensor (be, c, "p0"), *g = dev_tensor (be, c, "grads");
      float *m = dev_zeros (be, n), *v = dev_zeros (be, n);
      for (int s = 0; s < steps; s++)
        etp_adam_step (be, n, p, g + (gsize) s * n, m, v, &ap, s + 1);
      no_error (dv);
      check_dev (dv, c, "p", p, TOL);
      check_dev (dv, c, "m", m, TOL);
      check_dev (dv, c, "v", v, TOL);
      FREE (be, p, g, m, v);
    }
  }
  g_ptr_array_unref (cs);
}

/* --------------------------------------------------- gemm and errors */

static void
test_gemm (void)
{
  for (int di = 0; di < n_devs; di++) {
    Dev *dv = &devs[di];
    EtpBackend *be = dv->be;
    const int M = 70, N = 45, K = 33, B = 3;
    for (int ta = 0; ta < 2; ta++)
      for (int tb = 0; tb < 2; tb++) {
        gsize na = (gsize) B * M * K, nb = (gsize) B * K * N, nc = (gsize) B * M * N;
        float *a = g_new (float, na), *b = g_new (float, nb), *cw = g_new (float, nc);
        float *cg = g_new (float, nc);
        for (gsize k = 0; k < na; k++)
          a[k] = sinf (k * 0.1f);
        for (gsize k = 0; k < nb; k++)
          b[k] = cosf (k * 0.3f);
        for (int q = 0; q < B; q++)
          for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) {
              double s = 0;
              for (int k = 0; k < K; k++) {
                float av = ta ? a[q * M * K + k * M + i] : a[q * M * K + i * K + k];
                float bv = tb ? b[q * K * N + j * K + k] : b[q * K * N + k * N + j];
                s += (double) av * bv;
              }
              cw[(gsize) q * M * N + i * N + j] = (float) (2.0 * s + 0.5);
            }
        float *da = dev_from (be, a, na), *db = dev_from (be, b, nb), *dc = dev_zeros (be, nc);
        for (gsize k = 0; k < nc; k++)
          cg[k] = 1.f;
        etp_backend_upload (be, dc, cg, nc * 4);
        etp_gemm_batched (be, B, ta, tb, M, N, K, 2.f, da, ta ? M : K, (long) M * K, db,
            tb ? K : N, (long) K * N, 0.5f, dc, N, (long) M * N);
        no_error (dv);
        etp_backend_download (be, cg, dc, nc * 4);
        g_assert_cmpfloat (rel_err (cg, cw, nc), <=, TOL);
        FREE (be, da, db, dc);
        g_free (a);
        g_free (b);
        g_free (cw);
        g_free (cg);
      }
  }
}

static void
test_errors (void)
{
  GError *err = NULL;
  EtpBackend *be = devs[0].be;
  EtpConv1dShape bad = { 1, 2, 3, 4, 9, 1, 0 };    /* kernel longer than input */
  float *x = dev_zeros (be, 64);
  etp_conv1d_forward (be, &bad, x, x, NULL, NULL, FALSE, x);
  g_assert_false (etp_backend_check (be, &err));
  g_assert_error (err, ETP_ERROR, ETP_ERROR_INVALID);
  g_assert_nonnull (strstr (err->message, "kernel=9"));
  g_clear_error (&err);
  g_assert_true (etp_backend_check (be, NULL));   /* cleared */
  etp_backend_free_mem (be, x);

  /* device=cuda: either a working GPU backend or a clear device error */
  EtpBackend *cu = etp_backend_new (ETP_DEVICE_CUDA, 0, &err);
  if (cu) {
    g_assert_cmpint (etp_backend_kind (cu), ==, ETP_DEVICE_CUDA);
    etp_backend_free (cu);
  } else {
    g_assert_error (err, ETP_ERROR, ETP_ERROR_DEVICE);
    char *lower = g_ascii_strdown (err->message, -1);
    g_assert_nonnull (strstr (lower, "cuda"));
    g_free (lower);
    g_test_message ("device=cuda: %s", err->message);
    g_clear_error (&err);
  }
  /* auto always gives a backend */
  EtpBackend *au = etp_backend_new (ETP_DEVICE_AUTO, 1, &err);
  g_assert_no_error (err);
  g_assert_nonnull (au);
  etp_backend_free (au);

  EtpDeviceKind k;
  g_assert_true (etp_device_kind_from_string ("CPU", &k));
  g_assert_cmpint (k, ==, ETP_DEVICE_CPU);
  g_assert_false (etp_device_kind_from_string ("tpu", &k));
}

int
main (int argc, char **argv)
{
  GError *err = NULL;
  const char *root = g_getenv ("ETP_SOURCE_ROOT");
  g_test_init (&argc, &argv, NULL);

  char *dir = g_build_filename (root ? root : ETP_SOURCE_ROOT, "tests", "engine", "golden_ops",
      NULL);
  char *jpath = g_build_filename (dir, "ops.json", NULL);
  char *bpath = g_build_filename (dir, "ops.bin", NULL);
  JsonParser *parser = json_parser_new ();
  if (!json_parser_load_from_file (parser, jpath, &err))
    g_error ("%s: %s", jpath, err->message);
  cases = json_object_get_array_member (json_node_get_object (json_parser_get_root (parser)),
      "cases");
  gsize len;
  if (!g_file_get_contents (bpath, (char **) &blob, &len, &err))
    g_error ("%s: %s", bpath, err->message);
  blob_floats = len / 4;

  devs[0].label = "cpu";
  devs[0].be = etp_backend_new (ETP_DEVICE_CPU, 2, &err);
  g_assert_no_error (err);
  g_setenv ("ETP_CPU_ISA", "generic", TRUE);
  devs[1].label = "cpu-generic-1thread";
  devs[1].be = etp_backend_new (ETP_DEVICE_CPU, 1, &err);
  g_unsetenv ("ETP_CPU_ISA");
  g_assert_no_error (err);
  /* conv chunks of 40 columns: chunks that span samples, several chunks per
   * thread, the pre-packed weight path */
  g_setenv ("ETP_CPU_CONV_COLS", "40", TRUE);
  devs[2].label = "cpu-small-chunks";
  devs[2].be = etp_backend_new (ETP_DEVICE_CPU, 2, &err);
  g_unsetenv ("ETP_CPU_CONV_COLS");
  g_assert_no_error (err);
  n_devs = 3;
  EtpBackend *cu = etp_backend_new (ETP_DEVICE_CUDA, 0, NULL);
  if (cu) {
    devs[n_devs].label = "cuda";
    devs[n_devs].be = cu;
    n_devs++;
  }
  for (int i = 0; i < n_devs; i++)
    g_test_message ("backend %s: %s", devs[i].label, etp_backend_name (devs[i].be));

  g_test_add_func ("/engine/ops/conv1d", test_conv1d);
  g_test_add_func ("/engine/ops/batchnorm", test_batchnorm);
  g_test_add_func ("/engine/ops/bn-fold", test_bn_fold);
  g_test_add_func ("/engine/ops/avgpool", test_avgpool);
  g_test_add_func ("/engine/ops/pointwise", test_pointwise);
  g_test_add_func ("/engine/ops/linear", test_linear);
  g_test_add_func ("/engine/ops/l2norm", test_l2norm);
  g_test_add_func ("/engine/ops/xent", test_xent);
  g_test_add_func ("/engine/ops/clip", test_clip);
  g_test_add_func ("/engine/ops/adam", test_adam);
  g_test_add_func ("/engine/ops/gemm", test_gemm);
  g_test_add_func ("/engine/ops/errors", test_errors);
  int rc = g_test_run ();

  for (int i = 0; i < n_devs; i++)
    etp_backend_free (devs[i].be);
  g_object_unref (parser);
  g_free (blob);
  g_free (dir);
  g_free (jpath);
  g_free (bpath);
  return rc;
}
