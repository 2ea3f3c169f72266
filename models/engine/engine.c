/* Backend-independent part of the engine: creation, argument checks, sticky
 * errors and dispatch through the backend's vtable (backend.h). */
#include "config.h"
#include "engine/backend.h"
#include "util/etperror.h"

#include <stdarg.h>
#include <string.h>

void
etp_backend_init (EtpBackend *be, const EtpBackendOps *ops, EtpDeviceKind kind,
                  int n_threads, const char *name, void *priv)
{
  be->ops = ops;
  be->kind = kind;
  be->n_threads = n_threads;
  be->name = g_strdup (name);
  be->error = NULL;
  g_mutex_init (&be->error_lock);
  be->priv = priv;
}

void
etp_backend_set_error (EtpBackend *be, int code, const char *fmt, ...)
{
  va_list ap;
  g_mutex_lock (&be->error_lock);
  if (be->error == NULL) {
    va_start (ap, fmt);
    char *msg = g_strdup_vprintf (fmt, ap);
    va_end (ap);
    be->error = g_error_new_literal (ETP_ERROR, code, msg);
    g_free (msg);
  }
  g_mutex_unlock (&be->error_lock);
}

gboolean
etp_device_kind_from_string (const char *s, EtpDeviceKind *out)
{
  if (s == NULL)
    return FALSE;
  if (g_ascii_strcasecmp (s, "auto") == 0)
    *out = ETP_DEVICE_AUTO;
  else if (g_ascii_strcasecmp (s, "cpu") == 0)
    *out = ETP_DEVICE_CPU;
  else if (g_ascii_strcasecmp (s, "cuda") == 0 || g_ascii_strcasecmp (s, "gpu") == 0)
    *out = ETP_DEVICE_CUDA;
  else
    return FALSE;
  return TRUE;
}

const char *
etp_device_kind_to_string (EtpDeviceKind kind)
{
  switch (kind) {
    case ETP_DEVICE_CPU: return "cpu";
    case ETP_DEVICE_CUDA: return "cuda";
    default: return "auto";
  }
}

EtpBackend *
etp_backend_new (EtpDeviceKind kind, int n_threads, GError **err)
{
  switch (kind) {
    case ETP_DEVICE_CPU:
      return etp_cpu_backend_new (n_threads, err);
    case ETP_DEVICE_CUDA:
#ifdef ETP_CUDA_BACKEND
      return etp_cuda_backend_new (n_threads, err);
#else
      g_set_error (err, ETP_ERROR, ETP_ERROR_DEVICE,
          "device=cuda: this build of gst-etp has no CUDA backend "
          "(configure with nvcc/cuBLAS in /usr/local/cuda and -Dcuda=enabled)");
      return NULL;
#endif
    case ETP_DEVICE_AUTO:
    default:
#ifdef ETP_CUDA_BACKEND
      {
        EtpBackend *be = etp_cuda_backend_new (n_threads, NULL);
        if (be)
          return be;
      }
#endif
      return etp_cpu_backend_new (n_threads, err);
  }
}

void
etp_backend_free (EtpBackend *be)
{
  if (be == NULL)
    return;
  char *name = be->name;
  GError *error = be->error;
  g_mutex_clear (&be->error_lock);
  be->ops->destroy (be);       /* frees be itself */
  g_free (name);
  g_clear_error (&error);
}

EtpDeviceKind etp_backend_kind (const EtpBackend *be) { return be->kind; }
const char *etp_backend_name (const EtpBackend *be) { return be->name; }
int etp_backend_n_threads (const EtpBackend *be) { return be->n_threads; }

gboolean
etp_backend_supports (const EtpBackend *be, EtpFeature f)
{
  return be->ops->supports ((EtpBackend *) be, f);
}

void *
etp_backend_alloc (EtpBackend *be, size_t nbytes, GError **err)
{
  return be->ops->alloc (be, nbytes ? nbytes : 1, err);
}

void
etp_backend_free_mem (EtpBackend *be, void *ptr)
{
  if (ptr)
    be->ops->free_mem (be, ptr);
}

/* Ops after a sticky error are skipped, so a failing device cannot cascade. */
#define LIVE(be) G_LIKELY ((be)->error == NULL)
#define CHECK(be, cond, ...) \
  G_STMT_START { \
    if (G_UNLIKELY (!(cond))) { \
      etp_backend_set_error ((be), ETP_ERROR_INVALID, __VA_ARGS__); \
      return; \
    } \
  } G_STMT_END

void
etp_backend_upload (EtpBackend *be, void *dst, const void *src, size_t nbytes)
{
  if (LIVE (be) && nbytes)
    be->ops->upload (be, dst, src, nbytes);
}

void
etp_backend_download (EtpBackend *be, void *dst, const void *src, size_t nbytes)
{
  if (nbytes == 0)
    return;
  if (LIVE (be))
    be->ops->download (be, dst, src, nbytes);
  else
    memset (dst, 0, nbytes);   /* defined content even after an error */
}

void
etp_backend_copy (EtpBackend *be, void *dst, const void *src, size_t nbytes)
{
  if (LIVE (be) && nbytes && dst != src)
    be->ops->copy (be, dst, src, nbytes);
}

void
etp_backend_memset (EtpBackend *be, void *dst, int byte, size_t nbytes)
{
  if (LIVE (be) && nbytes)
    be->ops->memset (be, dst, byte, nbytes);
}

void
etp_backend_sync (EtpBackend *be)
{
  be->ops->sync (be);
}

gboolean
etp_backend_check (EtpBackend *be, GError **err)
{
  gboolean ok;
  be->ops->sync (be);
  g_mutex_lock (&be->error_lock);
  ok = be->error == NULL;
  if (!ok) {
    g_propagate_error (err, be->error);
    be->error = NULL;
  }
  g_mutex_unlock (&be->error_lock);
  return ok;
}

void
etp_gemm (EtpBackend *be, gboolean ta, gboolean tb, int M, int N, int K, float alpha,
          const float *A, int lda, const float *B, int ldb, float beta, float *C, int ldc)
{
  etp_gemm_batched (be, 1, ta, tb, M, N, K, alpha, A, lda, 0, B, ldb, 0, beta, C, ldc, 0);
}

void
etp_gemm_batched (EtpBackend *be, int batch, gboolean ta, gboolean tb, int M, int N, int K,
                  float alpha, const float *A, int lda, long sa, const float *B, int ldb,
                  long sb, float beta, float *C, int ldc, long sc)
{
  if (!LIVE (be) || batch <= 0 || M <= 0 || N <= 0)
    return;
  CHECK (be, K >= 0 && lda >= (ta ? M : K) && ldb >= (tb ? K : N) && ldc >= N,
      "etp_gemm: bad leading dimensions (M=%d N=%d K=%d lda=%d ldb=%d ldc=%d)",
      M, N, K, lda, ldb, ldc);
  be->ops->gemm_batched (be, batch, ta, tb, M, N, K, alpha, A, lda, sa, B, ldb, sb,
      beta, C, ldc, sc);
}

void
etp_add (EtpBackend *be, size_t n, const float *a, const float *b, float *y)
{
  if (LIVE (be) && n)
    be->ops->add (be, n, a, b, y);
}

void
etp_scale (EtpBackend *be, size_t n, float *x, float alpha)
{
  if (LIVE (be) && n)
    be->ops->scale (be, n, x, alpha);
}

void
etp_sumsq (EtpBackend *be, size_t n, const float *x, float *out)
{
  if (LIVE (be))
    be->ops->sumsq (be, n, x, out);
}

static gboolean
conv_ok (EtpBackend *be, const EtpConv1dShape *s, const char *what)
{
  if (s->n <= 0 || s->c_in <= 0 || s->c_out <= 0 || s->kernel <= 0 || s->stride <= 0
      || s->padding < 0 || s->l_in <= 0 || s->l_in + 2 * s->padding < s->kernel) {
    etp_backend_set_error (be, ETP_ERROR_INVALID,
        "%s: invalid shape n=%d c_in=%d l_in=%d c_out=%d kernel=%d stride=%d padding=%d",
        what, s->n, s->c_in, s->l_in, s->c_out, s->kernel, s->stride, s->padding);
    return FALSE;
  }
  return TRUE;
}

void
etp_conv1d_forward (EtpBackend *be, const EtpConv1dShape *s, const float *x, const float *w,
                    const float *bias, const float *residual, gboolean relu, float *y)
{
  if (LIVE (be) && conv_ok (be, s, "etp_conv1d_forward"))
    be->ops->conv1d_forward (be, s, x, w, bias, residual, relu, y);
}

void
etp_conv1d_forward_bf16 (EtpBackend *be, const EtpConv1dShape *s, const float *x,
                         const uint16_t *w, const float *bias, const float *residual,
                         gboolean relu, float *y)
{
  if (LIVE (be) && conv_ok (be, s, "etp_conv1d_forward_bf16"))
    be->ops->conv1d_forward_bf16 (be, s, x, w, bias, residual, relu, y);
}

void
etp_conv1d_backward_data (EtpBackend *be, const EtpConv1dShape *s, const float *dy,
                          const float *w, float *dx, gboolean accumulate)
{
  if (LIVE (be) && conv_ok (be, s, "etp_conv1d_backward_data"))
    be->ops->conv1d_backward_data (be, s, dy, w, dx, accumulate);
}

void
etp_conv1d_backward_weight (EtpBackend *be, const EtpConv1dShape *s, const float *x,
                            const float *dy, float *dw, float *dbias)
{
  if (LIVE (be) && conv_ok (be, s, "etp_conv1d_backward_weight"))
    be->ops->conv1d_backward_weight (be, s, x, dy, dw, dbias);
}

#define BN_CHECK(be, n, c, l, what) \
  CHECK (be, (n) > 0 && (c) > 0 && (l) > 0, what ": invalid shape n=%d c=%d l=%d", n, c, l)

void
etp_batchnorm_forward_train (EtpBackend *be, int n, int c, int l, const float *x,
                             const float *gamma, const float *beta, float *rmean, float *rvar,
                             float momentum, float eps, const float *residual, gboolean relu,
                             float *y, float *save_mean, float *save_invstd)
{
  if (!LIVE (be))
    return;
  BN_CHECK (be, n, c, l, "etp_batchnorm_forward_train");
  be->ops->bn_forward_train (be, n, c, l, x, gamma, beta, rmean, rvar, momentum, eps,
      residual, relu, y, save_mean, save_invstd);
}

void
etp_batchnorm_forward_eval (EtpBackend *be, int n, int c, int l, const float *x,
                            const float *gamma, const float *beta, const float *rmean,
                            const float *rvar, float eps, const float *residual,
                            gboolean relu, float *y)
{
  if (!LIVE (be))
    return;
  BN_CHECK (be, n, c, l, "etp_batchnorm_forward_eval");
  be->ops->bn_forward_eval (be, n, c, l, x, gamma, beta, rmean, rvar, eps, residual, relu, y);
}

void
etp_batchnorm_backward (EtpBackend *be, int n, int c, int l, const float *x,
                        const float *gamma, const float *save_mean, const float *save_invstd,
                        const float *dy, const float *y_relu, float *dx, float *dgamma,
                        float *dbeta, float *dres)
{
  if (!LIVE (be))
    return;
  BN_CHECK (be, n, c, l, "etp_batchnorm_backward");
  be->ops->bn_backward (be, n, c, l, x, gamma, save_mean, save_invstd, dy, y_relu,
      dx, dgamma, dbeta, dres);
}

void
etp_batchnorm_fold (EtpBackend *be, int c_out, int row, const float *w, const float *bias_in,
                    const float *gamma, const float *beta, const float *rmean,
                    const float *rvar, float eps, float *w_out, float *b_out)
{
  if (!LIVE (be))
    return;
  CHECK (be, c_out > 0 && row > 0, "etp_batchnorm_fold: invalid shape %d x %d", c_out, row);
  be->ops->bn_fold (be, c_out, row, w, bias_in, gamma, beta, rmean, rvar, eps, w_out, b_out);
}

void
etp_relu_forward (EtpBackend *be, size_t n, const float *x, float *y)
{
  if (LIVE (be) && n)
    be->ops->relu_forward (be, n, x, y);
}

void
etp_relu_backward (EtpBackend *be, size_t n, const float *y, const float *dy, float *dx)
{
  if (LIVE (be) && n)
    be->ops->relu_backward (be, n, y, dy, dx);
}

void
etp_avgpool_forward (EtpBackend *be, int n, int c, int l, const float *x, float *y)
{
  if (!LIVE (be))
    return;
  BN_CHECK (be, n, c, l, "etp_avgpool_forward");
  be->ops->avgpool_forward (be, n, c, l, x, y);
}

void
etp_avgpool_backward (EtpBackend *be, int n, int c, int l, const float *dy, float *dx,
                      gboolean accumulate)
{
  if (!LIVE (be))
    return;
  BN_CHECK (be, n, c, l, "etp_avgpool_backward");
  be->ops->avgpool_backward (be, n, c, l, dy, dx, accumulate);
}

void
etp_linear_forward (EtpBackend *be, int b, int in, int out, const float *x, const float *w,
                    const float *bias, float *y)
{
  if (!LIVE (be))
    return;
  CHECK (be, b > 0 && in > 0 && out > 0, "etp_linear_forward: invalid shape b=%d in=%d out=%d",
      b, in, out);
  be->ops->linear_forward (be, b, in, out, x, w, bias, y);
}

void
etp_linear_backward (EtpBackend *be, int b, int in, int out, const float *x, const float *w,
                     const float *dy, float *dx, float *dw, float *dbias)
{
  if (!LIVE (be))
    return;
  CHECK (be, b > 0 && in > 0 && out > 0, "etp_linear_backward: invalid shape b=%d in=%d out=%d",
      b, in, out);
  be->ops->linear_backward (be, b, in, out, x, w, dy, dx, dw, dbias);
}

void
etp_l2norm_forward (EtpBackend *be, int b, int d, float eps, const float *x, float *y)
{
  if (!LIVE (be))
    return;
  CHECK (be, b > 0 && d > 0, "etp_l2norm_forward: invalid shape b=%d d=%d", b, d);
  be->ops->l2norm_forward (be, b, d, eps, x, y);
}

void
etp_l2norm_backward (EtpBackend *be, int b, int d, float eps, const float *x, const float *dy,
                     float *dx)
{
  if (!LIVE (be))
    return;
  CHECK (be, b > 0 && d > 0, "etp_l2norm_backward: invalid shape b=%d d=%d", b, d);
  be->ops->l2norm_backward (be, b, d, eps, x, dy, dx);
}

void
etp_softmax_xent (EtpBackend *be, int b, int c, const float *logits, const int32_t *targets,
                  float *loss, float *dlogits)
{
  if (!LIVE (be))
    return;
  CHECK (be, b > 0 && c > 0, "etp_softmax_xent: invalid shape b=%d c=%d", b, c);
  be->ops->softmax_xent (be, b, c, logits, targets, loss, dlogits);
}

void
etp_clip_loss (EtpBackend *be, int b, int d, const float *a, const float *b_,
               const float *logit_scale, float *loss, float *da, float *db,
               float *dlogit_scale, float *logits_out)
{
  if (!LIVE (be))
    return;
  CHECK (be, b > 0 && d > 0, "etp_clip_loss: invalid shape b=%d d=%d", b, d);
  be->ops->clip_loss (be, b, d, a, b_, logit_scale, loss, da, db, dlogit_scale, logits_out);
}

void
etp_adam_step (EtpBackend *be, size_t n, float *params, const float *grads, float *m, float *v,
               const EtpAdamParams *p, int step)
{
  if (!LIVE (be) || n == 0)
    return;
  CHECK (be, step >= 1, "etp_adam_step: step must be >= 1 (got %d)", step);
  be->ops->adam_step (be, n, params, grads, m, v, p, step);
}

void
etp_convert_f32_to_bf16 (EtpBackend *be, size_t n, const float *src, uint16_t *dst)
{
  if (LIVE (be) && n)
    be->ops->f32_to_bf16 (be, n, src, dst);
}

void
etp_convert_bf16_to_f32 (EtpBackend *be, size_t n, const uint16_t *src, float *dst)
{
  if (LIVE (be) && n)
    be->ops->bf16_to_f32 (be, n, src, dst);
}

void
etp_f32_to_bf16_host (const float *src, uint16_t *dst, size_t n)
{
  for (size_t i = 0; i < n; i++)
    dst[i] = etp_f32_to_bf16_one (src[i]);
}

void
etp_bf16_to_f32_host (const uint16_t *src, float *dst, size_t n)
{
  for (size_t i = 0; i < n; i++)
    dst[i] = etp_bf16_to_f32_one (src[i]);
}
