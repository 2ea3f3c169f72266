/* Internals of the CPU backend (not part of the engine's interface). */
#ifndef ETP_ENGINE_CPU_H
#define ETP_ENGINE_CPU_H

#include "engine/backend.h"
#include <pthread.h>

G_BEGIN_DECLS

#define ETP_CPU_MAX_THREADS 64

/* Vectorised loop kernels; one table per instruction set (cpu_vec.c),
 * chosen once at backend creation with __builtin_cpu_supports(). */
typedef struct {
  const char *isa;
  /* sum of x[0..n) and sum of (x - mu)^2 */
  float (*sum) (const float *x, size_t n);
  float (*sumsq_dev) (const float *x, size_t n, float mu);
  /* y = relu?(x * a + b + r) (r may be NULL); y may alias x */
  void (*affine) (const float *x, size_t n, float a, float b, const float *r,
                  gboolean relu, float *y);
  /* y = relu?(y + b + r) in place (conv epilogue), r may be NULL */
  void (*bias_res_relu) (float *y, size_t n, float b, const float *r, gboolean relu);
  /* g = dy * (yr > 0) (or dy when yr NULL), written to gout when not NULL;
   * returns sum g and sum g*(x - mu) */
  void (*bn_bwd_reduce) (const float *x, const float *dy, const float *yr, size_t n,
                         float mu, float *gout, float *sum_g, float *sum_gx);
  /* dx = k1 * g + k2 * x + k3, g = dy * (yr > 0) (or dy) */
  void (*bn_bwd_apply) (const float *x, const float *dy, const float *yr, size_t n,
                        float k1, float k2, float k3, float *dx);
  void (*relu) (const float *x, size_t n, float *y);
  void (*relu_bwd) (const float *y, const float *dy, size_t n, float *dx);
  void (*add) (const float *a, const float *b, size_t n, float *y);
  void (*axpy) (float alpha, const float *x, size_t n, float *y);   /* y += alpha x */
  double (*dot) (const float *a, const float *b, size_t n);
  void (*adam) (float *p, const float *g, float *m, float *v, size_t n, float lr_t,
                float b1, float b2, float eps_t, float wd, float decay, float inv_sqrt_bc2);
} EtpCpuVec;

extern const EtpCpuVec etp_cpu_vec_generic;
extern const EtpCpuVec etp_cpu_vec_avx2;
extern const EtpCpuVec etp_cpu_vec_avx512;

typedef void (*EtpCpuTask) (void *ctx, int tid, int n_threads);

typedef struct {
  int n_threads;
  const EtpCpuVec *vec;
  gboolean has_avx512, has_bf16;
  gboolean use_openblas;   /* ETP_CPU_GEMM=openblas: OpenBLAS even on AVX-512 */
  int conv_cols;           /* ETP_CPU_CONV_COLS: fixed conv chunk width (tests), 0 = auto */
  /* thread pool: workers 1..n_threads-1; thread 0 is the caller */
  pthread_t workers[ETP_CPU_MAX_THREADS];
  pthread_mutex_t lock;
  pthread_cond_t cond_start, cond_done;
  unsigned generation;
  int pending;
  gboolean quit;
  EtpCpuTask task;
  void *task_ctx;
  /* per-thread scratch, grown (never shrunk) by etp_cpu_scratch() */
  float *scratch[ETP_CPU_MAX_THREADS];
  size_t scratch_floats;
  float *shared_scratch;
  size_t shared_floats;
} EtpCpu;

static inline EtpCpu *etp_cpu (EtpBackend *be) { return (EtpCpu *) be->priv; }

/* Runs task(ctx, tid, n) on every thread of the pool and waits. */
void etp_cpu_run (EtpCpu *cpu, EtpCpuTask task, void *ctx);
/* Makes every thread's scratch at least @floats floats (main thread only). */
gboolean etp_cpu_scratch (EtpBackend *be, size_t floats);
float *etp_cpu_shared_scratch (EtpBackend *be, size_t floats);

/* Split [0, n) into n_threads contiguous ranges. */
static inline void
etp_cpu_range (size_t n, int tid, int nt, size_t *b, size_t *e)
{
  size_t q = n / (size_t) nt, r = n % (size_t) nt;
  *b = (size_t) tid * q + MIN ((size_t) tid, r);
  *e = *b + q + ((size_t) tid < r ? 1 : 0);
}

/* Single-threaded row-major sgemm used inside pool tasks (cpu_gemm.c):
 * OpenBLAS, or the own AVX-512 kernel where it is faster. */
void etp_cpu_sgemm (EtpCpu *cpu, gboolean ta, gboolean tb, int M, int N, int K,
                    float alpha, const float *A, int lda, const float *B, int ldb,
                    float beta, float *C, int ldc);

/* Pre-packed A (own AVX-512 sgemm only, etp_cpu_gemm_prepacks()): pack
 * op(A) (M x K) once with etp_cpu_pack_a into etp_cpu_packed_a_floats()
 * floats, then run many products against it from any thread. */
gboolean etp_cpu_gemm_prepacks (EtpCpu *cpu);
size_t etp_cpu_packed_a_floats (int M, int K);
void etp_cpu_pack_a (gboolean ta, const float *A, int lda, int M, int K, float *Ap);
void etp_cpu_sgemm_packed (EtpCpu *cpu, const float *Ap, int M, int N, int K, float alpha,
                           const float *B, int ldb, gboolean tb, float beta, float *C, int ldc);

/* Once per process: lets OpenBLAS use its AVX-512 kernels where it would not. */
void etp_cpu_blas_setup (gboolean has_avx512);

/* conv (cpu_conv.c) */
void etp_cpu_conv1d_forward (EtpBackend *be, const EtpConv1dShape *s, const float *x,
                             const float *w, const float *bias, const float *residual,
                             gboolean relu, float *y);
void etp_cpu_conv1d_forward_bf16 (EtpBackend *be, const EtpConv1dShape *s, const float *x,
                                  const uint16_t *w, const float *bias, const float *residual,
                                  gboolean relu, float *y);
void etp_cpu_conv1d_backward_data (EtpBackend *be, const EtpConv1dShape *s, const float *dy,
                                   const float *w, float *dx, gboolean accumulate);
void etp_cpu_conv1d_backward_weight (EtpBackend *be, const EtpConv1dShape *s, const float *x,
                                     const float *dy, float *dw, float *dbias);

G_END_DECLS

#endif
