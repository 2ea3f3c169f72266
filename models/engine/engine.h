/* The numeric engine: one compute interface, several backends (CPU now, CUDA
 * from models/cuda/). llm.c-like: every layer is a plain *_forward /
 * *_backward function over explicit float buffers; ggml-like: an EtpBackend
 * owns device memory and runs the ops, so model code never knows whether the
 * CPU or a GPU does the work.
 *
 * Conventions (all ops):
 *  - Every tensor pointer passed to an op is a DEVICE pointer obtained from
 *    etp_backend_alloc() on the same backend (on the CPU backend that is plain
 *    64-byte aligned host memory, but model code must not rely on it: move data
 *    with etp_backend_upload()/download()). Sub-ranges of an allocation
 *    (ptr + offset) are fine.
 *  - float32, row-major, contiguous. Activations of the 1-D CNN are (N, C, L):
 *    sample-major, then channel, then time (PyTorch's Conv1d layout). Conv
 *    weights are (C_out, C_in, K); Linear weights are (out, in) (PyTorch).
 *  - Ops are asynchronous with respect to the host on device backends (issued
 *    in order on the backend's stream); etp_backend_download() and
 *    etp_backend_sync() wait. Errors inside ops are sticky: the first one is
 *    kept and reported by etp_backend_check(); later ops become no-ops.
 *  - Gradients: PARAMETER gradients (dw, dbias, dgamma, dbeta, dlogit_scale)
 *    are ACCUMULATED (+=), like llm.c: zero the flat gradient buffer once per
 *    step with etp_backend_memset(). ACTIVATION gradients (dx, da, ...) are
 *    OVERWRITTEN unless the op takes an `accumulate` flag.
 *  - Unless stated, an output may not alias an input. Ops that allow in-place
 *    use say so.
 *  - Scalars that the model reads back (losses) are written to device memory
 *    (one float); download them when needed, so device backends need not sync.
 */
#ifndef ETP_ENGINE_ENGINE_H
#define ETP_ENGINE_ENGINE_H

#include <glib.h>
#include <stddef.h>
#include <stdint.h>

G_BEGIN_DECLS

typedef enum {
  ETP_DEVICE_AUTO = 0, /* CUDA when built in and a GPU is present, else CPU */
  ETP_DEVICE_CPU,
  ETP_DEVICE_CUDA,     /* error (ETP_ERROR_DEVICE) when no GPU / not built */
} EtpDeviceKind;

/* Optional capabilities, for etp_backend_supports(). */
typedef enum {
  ETP_FEATURE_BF16_NATIVE = 1, /* bf16 ops run on bf16 hardware (avx512_bf16,
                                * tensor cores); otherwise they are emulated
                                * exactly in f32 and gain no speed */
} EtpFeature;

typedef struct _EtpBackend EtpBackend;

/* ---------------------------------------------------------------- backend */

/* n_threads: CPU worker threads (0 = all online cores); ignored by CUDA
 * (which uses one stream per backend). Returns NULL and sets @err
 * (ETP_ERROR_DEVICE) when @kind cannot be provided, e.g. ETP_DEVICE_CUDA on
 * a machine without a GPU or a build without the CUDA backend. */
EtpBackend   *etp_backend_new          (EtpDeviceKind kind, int n_threads,
                                        GError **err);
void          etp_backend_free         (EtpBackend *be);
EtpDeviceKind etp_backend_kind         (const EtpBackend *be);
const char   *etp_backend_name         (const EtpBackend *be); /* "cpu (avx512)", "cuda (NVIDIA H100)" */
int           etp_backend_n_threads    (const EtpBackend *be);
gboolean      etp_backend_supports     (const EtpBackend *be, EtpFeature f);
/* Parses "auto" / "cpu" / "cuda" (for element properties); FALSE if unknown. */
gboolean      etp_device_kind_from_string (const char *s, EtpDeviceKind *out);
const char   *etp_device_kind_to_string   (EtpDeviceKind kind);

/* Device memory. alloc returns 64-byte (CPU) / 256-byte (CUDA) aligned
 * memory, uninitialised; NULL on failure with @err set. free(NULL) is fine. */
void    *etp_backend_alloc    (EtpBackend *be, size_t nbytes, GError **err);
void     etp_backend_free_mem (EtpBackend *be, void *ptr);
void     etp_backend_upload   (EtpBackend *be, void *dst_dev, const void *src_host, size_t nbytes);
void     etp_backend_download (EtpBackend *be, void *dst_host, const void *src_dev, size_t nbytes); /* waits */
void     etp_backend_copy     (EtpBackend *be, void *dst_dev, const void *src_dev, size_t nbytes);
void     etp_backend_memset   (EtpBackend *be, void *dst_dev, int byte, size_t nbytes);
void     etp_backend_sync     (EtpBackend *be);
/* Returns FALSE and moves the first error since the last check into @err. */
gboolean etp_backend_check    (EtpBackend *be, GError **err);

/* --------------------------------------------------------------- generic */

/* Row-major GEMM: C = alpha * op(A) op(B) + beta * C, op(A) is M x K,
 * op(B) is K x N; lda/ldb/ldc are row strides of the stored matrices. */
void etp_gemm (EtpBackend *be, gboolean trans_a, gboolean trans_b,
               int M, int N, int K, float alpha,
               const float *A, int lda, const float *B, int ldb,
               float beta, float *C, int ldc);
/* Batched version: matrix i starts at A + i*stride_a etc. */
void etp_gemm_batched (EtpBackend *be, int batch, gboolean trans_a, gboolean trans_b,
                       int M, int N, int K, float alpha,
                       const float *A, int lda, long stride_a,
                       const float *B, int ldb, long stride_b,
                       float beta, float *C, int ldc, long stride_c);

/* y = a + b over n floats (y may alias a or b). */
void etp_add   (EtpBackend *be, size_t n, const float *a, const float *b, float *y);
/* x *= alpha (in place). */
void etp_scale (EtpBackend *be, size_t n, float *x, float alpha);
/* *out = sum x[i]^2 (one float on the device; for gradient-norm clipping). */
void etp_sumsq (EtpBackend *be, size_t n, const float *x, float *out);

/* ---------------------------------------------------------------- conv1d */

/* Shape of one Conv1d call. Input (n, c_in, l_in), weight (c_out, c_in,
 * kernel), output (n, c_out, etp_conv1d_out_len()). Zero padding on both
 * sides, any kernel / stride / padding; no dilation, no groups. */
typedef struct {
  int n, c_in, l_in, c_out, kernel, stride, padding;
} EtpConv1dShape;

static inline int
etp_conv1d_out_len (const EtpConv1dShape *s)
{
  return (s->l_in + 2 * s->padding - s->kernel) / s->stride + 1;
}

/* y = relu?( conv(x, w) + bias[c] + residual ), each of bias (c_out) and
 * residual (same shape as y) optional (NULL). This is the inference epilogue
 * for a conv with BatchNorm folded into it (etp_batchnorm_fold()). */
void etp_conv1d_forward (EtpBackend *be, const EtpConv1dShape *s,
                         const float *x, const float *w, const float *bias,
                         const float *residual, gboolean relu, float *y);
/* dx = conv_transpose(dy, w) (overwritten, or added to dx when @accumulate). */
void etp_conv1d_backward_data (EtpBackend *be, const EtpConv1dShape *s,
                               const float *dy, const float *w, float *dx,
                               gboolean accumulate);
/* dw += sum_n dy_n * im2col(x_n)^T; dbias += sum_{n,l} dy (dbias may be NULL). */
void etp_conv1d_backward_weight (EtpBackend *be, const EtpConv1dShape *s,
                                 const float *x, const float *dy,
                                 float *dw, float *dbias);
/* bfloat16 inference: same as etp_conv1d_forward with weights already in
 * bf16 (etp_convert_f32_to_bf16), activations rounded to bf16 on the fly,
 * float32 accumulation and float32 output. Emulated where the hardware lacks
 * bf16 (see ETP_FEATURE_BF16_NATIVE). */
void etp_conv1d_forward_bf16 (EtpBackend *be, const EtpConv1dShape *s,
                              const float *x, const uint16_t *w_bf16,
                              const float *bias, const float *residual,
                              gboolean relu, float *y);

/* ----------------------------------------------------------- batchnorm1d */

/* BatchNorm1d over (n, c, l): statistics per channel over n*l values.
 * Training mode (PyTorch semantics): y = (x - mean) / sqrt(var + eps) * gamma
 * + beta with the biased batch variance; running_mean/var (may be NULL) are
 * updated as r = (1 - momentum) r + momentum * stat, with the UNBIASED
 * variance (n*l / (n*l - 1)) for running_var. save_mean / save_invstd (c each,
 * required) keep the batch mean and 1/sqrt(var + eps) for the backward pass.
 * Fused epilogue: y = relu?(bn(x) + residual), residual optional (NULL). */
void etp_batchnorm_forward_train (EtpBackend *be, int n, int c, int l,
                                  const float *x, const float *gamma, const float *beta,
                                  float *running_mean, float *running_var,
                                  float momentum, float eps,
                                  const float *residual, gboolean relu,
                                  float *y, float *save_mean, float *save_invstd);
/* Eval mode with running statistics, same fused epilogue. y may alias x. */
void etp_batchnorm_forward_eval (EtpBackend *be, int n, int c, int l,
                                 const float *x, const float *gamma, const float *beta,
                                 const float *running_mean, const float *running_var,
                                 float eps, const float *residual, gboolean relu,
                                 float *y);
/* Backward of the training forward. If @y_relu is not NULL the forward used
 * relu and y_relu is its output: the incoming gradient is first masked,
 * g = dy * (y_relu > 0); otherwise g = dy. If @dres is not NULL, g (the
 * gradient of the residual input) is written there (dres may alias dy).
 * dx is overwritten; dgamma, dbeta accumulate. */
void etp_batchnorm_backward (EtpBackend *be, int n, int c, int l,
                             const float *x, const float *gamma,
                             const float *save_mean, const float *save_invstd,
                             const float *dy, const float *y_relu,
                             float *dx, float *dgamma, float *dbeta, float *dres);
/* Folds an eval-mode BatchNorm into the preceding conv for inference:
 * w_out[o,:] = w[o,:] * s[o], b_out[o] = beta[o] - mean[o] * s[o] (+ s[o] *
 * bias_in[o] when bias_in is not NULL), s = gamma / sqrt(var + eps).
 * w has c_out rows of @row floats (c_in * kernel). w_out may alias w. */
void etp_batchnorm_fold (EtpBackend *be, int c_out, int row,
                         const float *w, const float *bias_in,
                         const float *gamma, const float *beta,
                         const float *running_mean, const float *running_var,
                         float eps, float *w_out, float *b_out);

/* ------------------------------------------------------- pointwise, pool */

/* y = max(x, 0); in place allowed. */
void etp_relu_forward  (EtpBackend *be, size_t n, const float *x, float *y);
/* dx = dy * (y > 0), y the forward OUTPUT; in place (dx == dy) allowed. */
void etp_relu_backward (EtpBackend *be, size_t n, const float *y, const float *dy, float *dx);
/* (n, c, l) -> (n, c): y = mean over l. */
void etp_avgpool_forward  (EtpBackend *be, int n, int c, int l, const float *x, float *y);
/* dx[n,c,:] = dy[n,c] / l (overwritten, or added when @accumulate). */
void etp_avgpool_backward (EtpBackend *be, int n, int c, int l, const float *dy, float *dx,
                           gboolean accumulate);

/* ---------------------------------------------------------------- linear */

/* x (b, in), w (out, in), bias (out) or NULL, y (b, out): y = x w^T + bias. */
void etp_linear_forward  (EtpBackend *be, int b, int in, int out,
                          const float *x, const float *w, const float *bias, float *y);
/* dx = dy w (overwritten; skipped when dx is NULL); dw += dy^T x;
 * dbias += sum_b dy (skipped when NULL). */
void etp_linear_backward (EtpBackend *be, int b, int in, int out,
                          const float *x, const float *w, const float *dy,
                          float *dx, float *dw, float *dbias);

/* --------------------------------------------------------- normalisation */

/* Row-wise L2 normalisation of (b, d): y = x / max(||x||, eps) (PyTorch
 * F.normalize, eps = 1e-12). y may alias x in forward. */
void etp_l2norm_forward  (EtpBackend *be, int b, int d, float eps, const float *x, float *y);
/* dx from x (the forward INPUT) and dy; dx may alias dy. */
void etp_l2norm_backward (EtpBackend *be, int b, int d, float eps,
                          const float *x, const float *dy, float *dx);

/* ---------------------------------------------------------------- losses */

/* Softmax cross-entropy over logits (b, c) with int32 class targets (b):
 * *loss = mean_i -log softmax(logits_i)[t_i]. dlogits (may be NULL) is
 * overwritten with (softmax - onehot) / b. */
void etp_softmax_xent (EtpBackend *be, int b, int c, const float *logits,
                       const int32_t *targets, float *loss, float *dlogits);

/* Symmetric CLIP / InfoNCE loss between a (b, d) and b_ (b, d), pair i being
 * (a_i, b_i): logits = exp(logit_scale) * a b_^T, loss = (CE(logits, arange)
 * + CE(logits^T, arange)) / 2. The inputs are used as given (normalise them
 * first with etp_l2norm_forward; clamp logit_scale in the model if wanted).
 * logit_scale is one float on the device. Outputs: *loss (one float); da, db
 * (may be NULL) overwritten; dlogit_scale (NULL for a fixed temperature)
 * accumulates; logits_out (b*b, may be NULL) receives the scaled logits. */
void etp_clip_loss (EtpBackend *be, int b, int d,
                    const float *a, const float *b_, const float *logit_scale,
                    float *loss, float *da, float *db, float *dlogit_scale,
                    float *logits_out);

/* ------------------------------------------------------------- optimiser */

typedef struct {
  float lr;            /* 2e-3 in the paper */
  float beta1, beta2;  /* 0.9, 0.999 */
  float eps;           /* 1e-8 */
  float weight_decay;  /* 1e-5 in the paper */
  gboolean decoupled;  /* FALSE: Adam, L2 added to the gradient (PyTorch Adam);
                        * TRUE: AdamW, p *= 1 - lr * wd before the step */
} EtpAdamParams;

/* One Adam/AdamW step over a flat buffer of n parameters with gradients g and
 * moments m, v (zero-initialised before step 1). @step is 1-based (bias
 * correction 1 - beta^step). Matches torch.optim.Adam / AdamW (amsgrad off). */
void etp_adam_step (EtpBackend *be, size_t n, float *params, const float *grads,
                    float *m, float *v, const EtpAdamParams *p, int step);

/* ------------------------------------------------------------------ bf16 */

/* Round-to-nearest-even float32 -> bfloat16 (NaN kept quiet) and back. */
void etp_convert_f32_to_bf16 (EtpBackend *be, size_t n, const float *src, uint16_t *dst);
void etp_convert_bf16_to_f32 (EtpBackend *be, size_t n, const uint16_t *src, float *dst);
/* Host-side helpers (plain memory, no backend). */
void etp_f32_to_bf16_host (const float *src, uint16_t *dst, size_t n);
void etp_bf16_to_f32_host (const uint16_t *src, float *dst, size_t n);

static inline uint16_t
etp_f32_to_bf16_one (float f)
{
  union { float f; uint32_t u; } v = { f };
  if ((v.u & 0x7fffffffu) > 0x7f800000u)
    return (uint16_t) ((v.u >> 16) | 0x40u);          /* quiet NaN */
  return (uint16_t) ((v.u + 0x7fffu + ((v.u >> 16) & 1u)) >> 16);
}

static inline float
etp_bf16_to_f32_one (uint16_t h)
{
  union { uint32_t u; float f; } v = { (uint32_t) h << 16 };
  return v.f;
}

G_END_DECLS

#endif /* ETP_ENGINE_ENGINE_H */
