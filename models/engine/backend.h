/* Private to backend implementations (models/engine/cpu*, models/cuda/):
 * the vtable behind engine.h. Model code includes only "engine/engine.h".
 *
 * A backend fills one EtpBackendOps (every entry required) and creates its
 * EtpBackend with etp_backend_init(). engine.c checks arguments, skips ops
 * after a sticky error and dispatches. The CUDA backend provides
 * etp_cuda_backend_new() and adds -DETP_CUDA_BACKEND=1 to etp_models_c_args
 * (models/cuda/meson.build) so etp_backend_new() can reach it. */
#ifndef ETP_ENGINE_BACKEND_H
#define ETP_ENGINE_BACKEND_H

#include "engine/engine.h"

G_BEGIN_DECLS

typedef struct {
  const char *name;
  /* releases the backend's state AND the EtpBackend struct it allocated;
   * engine.c frees be->name and be->error itself */
  void  (*destroy)  (EtpBackend *be);
  gboolean (*supports) (EtpBackend *be, EtpFeature f);

  void *(*alloc)    (EtpBackend *be, size_t nbytes, GError **err);
  void  (*free_mem) (EtpBackend *be, void *ptr);
  void  (*upload)   (EtpBackend *be, void *dst, const void *src, size_t nbytes);
  void  (*download) (EtpBackend *be, void *dst, const void *src, size_t nbytes);
  void  (*copy)     (EtpBackend *be, void *dst, const void *src, size_t nbytes);
  void  (*memset)   (EtpBackend *be, void *dst, int byte, size_t nbytes);
  void  (*sync)     (EtpBackend *be);

  void (*gemm_batched) (EtpBackend *be, int batch, gboolean ta, gboolean tb,
                        int M, int N, int K, float alpha,
                        const float *A, int lda, long sa, const float *B, int ldb, long sb,
                        float beta, float *C, int ldc, long sc);
  void (*add)   (EtpBackend *be, size_t n, const float *a, const float *b, float *y);
  void (*scale) (EtpBackend *be, size_t n, float *x, float alpha);
  void (*sumsq) (EtpBackend *be, size_t n, const float *x, float *out);

  void (*conv1d_forward) (EtpBackend *be, const EtpConv1dShape *s, const float *x,
                          const float *w, const float *bias, const float *residual,
                          gboolean relu, float *y);
  void (*conv1d_forward_bf16) (EtpBackend *be, const EtpConv1dShape *s, const float *x,
                               const uint16_t *w, const float *bias, const float *residual,
                               gboolean relu, float *y);
  void (*conv1d_backward_data) (EtpBackend *be, const EtpConv1dShape *s, const float *dy,
                                const float *w, float *dx, gboolean accumulate);
  void (*conv1d_backward_weight) (EtpBackend *be, const EtpConv1dShape *s, const float *x,
                                  const float *dy, float *dw, float *dbias);

  void (*bn_forward_train) (EtpBackend *be, int n, int c, int l, const float *x,
                            const float *gamma, const float *beta, float *rmean, float *rvar,
                            float momentum, float eps, const float *residual, gboolean relu,
                            float *y, float *save_mean, float *save_invstd);
  void (*bn_forward_eval) (EtpBackend *be, int n, int c, int l, const float *x,
                           const float *gamma, const float *beta, const float *rmean,
                           const float *rvar, float eps, const float *residual,
                           gboolean relu, float *y);
  void (*bn_backward) (EtpBackend *be, int n, int c, int l, const float *x, const float *gamma,
                       const float *save_mean, const float *save_invstd, const float *dy,
                       const float *y_relu, float *dx, float *dgamma, float *dbeta, float *dres);
  void (*bn_fold) (EtpBackend *be, int c_out, int row, const float *w, const float *bias_in,
                   const float *gamma, const float *beta, const float *rmean,
                   const float *rvar, float eps, float *w_out, float *b_out);

  void (*relu_forward)  (EtpBackend *be, size_t n, const float *x, float *y);
  void (*relu_backward) (EtpBackend *be, size_t n, const float *y, const float *dy, float *dx);
  void (*avgpool_forward)  (EtpBackend *be, int n, int c, int l, const float *x, float *y);
  void (*avgpool_backward) (EtpBackend *be, int n, int c, int l, const float *dy, float *dx,
                            gboolean accumulate);

  void (*linear_forward)  (EtpBackend *be, int b, int in, int out, const float *x,
                           const float *w, const float *bias, float *y);
  void (*linear_backward) (EtpBackend *be, int b, int in, int out, const float *x,
                           const float *w, const float *dy, float *dx, float *dw, float *dbias);

  void (*l2norm_forward)  (EtpBackend *be, int b, int d, float eps, const float *x, float *y);
  void (*l2norm_backward) (EtpBackend *be, int b, int d, float eps, const float *x,
                           const float *dy, float *dx);

  void (*softmax_xent) (EtpBackend *be, int b, int c, const float *logits,
                        const int32_t *targets, float *loss, float *dlogits);
  void (*clip_loss) (EtpBackend *be, int b, int d, const float *a, const float *b_,
                     const float *logit_scale, float *loss, float *da, float *db,
                     float *dlogit_scale, float *logits_out);

  void (*adam_step) (EtpBackend *be, size_t n, float *params, const float *grads,
                     float *m, float *v, const EtpAdamParams *p, int step);

  void (*f32_to_bf16) (EtpBackend *be, size_t n, const float *src, uint16_t *dst);
  void (*bf16_to_f32) (EtpBackend *be, size_t n, const uint16_t *src, float *dst);
} EtpBackendOps;

struct _EtpBackend {
  const EtpBackendOps *ops;
  EtpDeviceKind kind;
  int n_threads;
  char *name;           /* owned, for etp_backend_name() */
  GError *error;        /* sticky first error; see etp_backend_check() */
  GMutex error_lock;
  void *priv;           /* the backend's own state */
};

/* Sets the common fields; @name is copied. */
void etp_backend_init (EtpBackend *be, const EtpBackendOps *ops, EtpDeviceKind kind,
                       int n_threads, const char *name, void *priv);
/* Records an error (first one wins; printf-style message). Thread-safe. */
void etp_backend_set_error (EtpBackend *be, int code, const char *fmt, ...) G_GNUC_PRINTF (3, 4);

EtpBackend *etp_cpu_backend_new (int n_threads, GError **err);
#ifdef ETP_CUDA_BACKEND
/* models/cuda/: NULL + ETP_ERROR_DEVICE when no GPU is present. */
EtpBackend *etp_cuda_backend_new (int n_threads, GError **err);
#endif

G_END_DECLS

#endif
