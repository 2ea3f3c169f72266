/* The CUDA backend: the engine's EtpBackendOps (engine/backend.h) on one GPU.
 *
 *  - one cudaStream_t (non-blocking) and one cuBLAS handle per backend; every
 *    op is enqueued on that stream, so ops are asynchronous with respect to
 *    the host and ordered among themselves;
 *  - device memory comes from a caching allocator (size classes, freed blocks
 *    kept for reuse; stream order makes reuse safe because every kernel of a
 *    backend runs on its one stream); on cudaMalloc failure the cache is
 *    released and the allocation retried;
 *  - host <-> device copies go through two pinned staging buffers used in
 *    turn, so upload() returns once the caller's memory has been read (like
 *    the CPU backend's memcpy) while the DMA of the last chunk still runs,
 *    and download() overlaps the device copy of one chunk with the host copy
 *    of the previous one;
 *  - matrix products: cuBLAS (FP32 by default; TF32 tensor cores when the
 *    environment sets ETP_CUDA_TF32=1); everything else: own kernels
 *    (cuda_kernels.cu);
 *  - conv1d: im2col into a workspace for a chunk of samples, then one
 *    strided-batched sgemm per chunk; backward-weight gathers dy into
 *    (c_out, samples*time) and runs a split-K batched sgemm + reduction so
 *    that the small (c_out x c_in*k) output still fills the GPU;
 *  - errors: launch / cuBLAS errors go to etp_backend_set_error() at once;
 *    faults inside kernels surface at the next synchronisation (download,
 *    sync, check); data-dependent errors found by kernels (a class target
 *    out of range) go through a device status word read at those points.
 *
 * Environment: ETP_CUDA_DEVICE (index, default 0), ETP_CUDA_TF32 (1 = TF32
 * GEMMs), ETP_CUDA_WORKSPACE_MB (conv chunk budget, default 256). */
#include "config.h"
#include "engine/backend.h"
#include "util/etperror.h"
#include "cuda/cuda.h"
#include "cuda/cuda_bert.h"
#include "cuda/cuda_kernels.h"

#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define STAGE_BYTES ((size_t) 4 << 20)
#define ALIGN256(x) (((x) + 255) & ~(size_t) 255)

typedef struct {
  int device;
  int cc_major, cc_minor;
  int sm_count;
  cudaStream_t stream;
  cublasHandle_t blas;
  gboolean tf32;
  size_t conv_budget;           /* bytes of workspace a conv chunk may use */

  /* caching allocator */
  GMutex mem_lock;
  GHashTable *live;             /* ptr -> size class */
  GHashTable *cache;            /* size class -> GSList of free ptrs */

  /* one growing workspace for the ops' temporaries */
  void *ws;
  size_t ws_bytes;

  /* pinned staging buffers, used in turn */
  void *stage[2];
  cudaEvent_t stage_ev[2];
  int stage_next;
  gboolean stage_tried;

  /* device status word written by kernels (cuda_kernels.h) */
  int *status_dev;
  int *status_host;             /* pinned, 4 ints */
  gboolean status_pending;
} EtpCuda;

static inline EtpCuda *cuda_priv (EtpBackend *be) { return (EtpCuda *) be->priv; }

/* ---------------------------------------------------------------- errors */

static gboolean
cu_ok (EtpBackend *be, cudaError_t e, const char *what)
{
  if (G_LIKELY (e == cudaSuccess))
    return TRUE;
  etp_backend_set_error (be, ETP_ERROR_DEVICE, "cuda backend: %s: %s (%s)", what,
      cudaGetErrorString (e), cudaGetErrorName (e));
  return FALSE;
}

static gboolean
blas_ok (EtpBackend *be, cublasStatus_t s, const char *what)
{
  if (G_LIKELY (s == CUBLAS_STATUS_SUCCESS))
    return TRUE;
  etp_backend_set_error (be, ETP_ERROR_DEVICE, "cuda backend: %s: cuBLAS: %s", what,
      cublasGetStatusString (s));
  return FALSE;
}

/* Makes the backend's device current in the calling thread (GStreamer may
 * call from any streaming thread). */
static EtpCuda *
enter (EtpBackend *be)
{
  EtpCuda *cu = cuda_priv (be);
  cu_ok (be, cudaSetDevice (cu->device), "cudaSetDevice");
  return cu;
}

#define NEED(be, ptr, what) \
  G_STMT_START { \
    if (G_UNLIKELY ((ptr) == NULL)) { \
      etp_backend_set_error ((be), ETP_ERROR_INVALID, "%s: %s must not be NULL", what, #ptr); \
      return; \
    } \
  } G_STMT_END

/* Reads the kernels' status word if an op that can set it ran since the
 * last read. Call only after the stream has been synchronised. */
static void
read_status (EtpBackend *be, EtpCuda *cu)
{
  if (!cu->status_pending)
    return;
  cu->status_pending = FALSE;
  if (!cu_ok (be, cudaMemcpyAsync (cu->status_host, cu->status_dev, 4 * sizeof (int),
          cudaMemcpyDeviceToHost, cu->stream), "reading the status word")
      || !cu_ok (be, cudaStreamSynchronize (cu->stream), "reading the status word"))
    return;
  int *s = cu->status_host;
  if (s[0] == ETP_CUK_BAD_TARGET)
    etp_backend_set_error (be, ETP_ERROR_INVALID,
        "etp_softmax_xent: target %d of row %d is outside [0, %d)", s[2], s[1], s[3]);
  else if (s[0] == ETP_CUK_BAD_TOKEN)
    etp_backend_set_error (be, ETP_ERROR_INVALID,
        "etp_cuda_bert_embed: token id %d of row %d is out of range (vocab_size %d)", s[2],
        s[1], s[3]);
  else if (s[0] == ETP_CUK_TOO_LONG)
    etp_backend_set_error (be, ETP_ERROR_INVALID,
        "etp_cuda_bert_embed: row %d is position %d of its sequence, beyond "
        "max_position_embeddings %d", s[1], s[2], s[3]);
  else if (s[0] != ETP_CUK_OK)
    etp_backend_set_error (be, ETP_ERROR_DEVICE, "cuda backend: kernel status %d", s[0]);
  if (s[0] != ETP_CUK_OK)
    cu_ok (be, cudaMemsetAsync (cu->status_dev, 0, 4 * sizeof (int), cu->stream),
        "clearing the status word");
}

/* ---------------------------------------------------------------- memory */

static size_t
size_class (size_t n)
{
  if (n <= 512)
    return 512;
  if (n <= ((size_t) 1 << 20)) {
    size_t c = 1024;
    while (c < n)
      c <<= 1;
    return c;
  }
  return (n + ((size_t) 2 << 20) - 1) & ~(((size_t) 2 << 20) - 1);
}

static void
cache_free_list (gpointer key, gpointer value, gpointer data)
{
  for (GSList *l = value; l; l = l->next)
    cudaFree (l->data);
  g_slist_free (value);
}

/* Returns every cached block to the driver (after the stream is idle). */
static void
cache_trim (EtpCuda *cu)
{
  cudaStreamSynchronize (cu->stream);
  g_mutex_lock (&cu->mem_lock);
  g_hash_table_foreach (cu->cache, cache_free_list, NULL);
  g_hash_table_steal_all (cu->cache);
  g_mutex_unlock (&cu->mem_lock);
}

static void *
mem_get (EtpCuda *cu, size_t nbytes, GError **err)
{
  size_t cls = size_class (nbytes);
  gpointer key = GSIZE_TO_POINTER (cls);
  void *p = NULL;

  g_mutex_lock (&cu->mem_lock);
  GSList *l = g_hash_table_lookup (cu->cache, key);
  if (l) {
    p = l->data;
    l = g_slist_delete_link (l, l);
    if (l)
      g_hash_table_insert (cu->cache, key, l);
    else
      g_hash_table_remove (cu->cache, key);
  }
  g_mutex_unlock (&cu->mem_lock);

  if (p == NULL) {
    cudaError_t e = cudaMalloc (&p, cls);
    if (e == cudaErrorMemoryAllocation) {
      cudaGetLastError ();
      cache_trim (cu);
      e = cudaMalloc (&p, cls);
    }
    if (e != cudaSuccess) {
      cudaGetLastError ();
      g_set_error (err, ETP_ERROR, ETP_ERROR_DEVICE,
          "cuda backend: cannot allocate %zu bytes of device memory: %s", nbytes,
          cudaGetErrorString (e));
      return NULL;
    }
  }
  g_mutex_lock (&cu->mem_lock);
  g_hash_table_insert (cu->live, p, key);
  g_mutex_unlock (&cu->mem_lock);
  return p;
}

static gboolean
mem_put (EtpCuda *cu, void *p)
{
  gpointer key;
  g_mutex_lock (&cu->mem_lock);
  gboolean known = g_hash_table_lookup_extended (cu->live, p, NULL, &key);
  if (known) {
    g_hash_table_remove (cu->live, p);
    GSList *l = g_hash_table_lookup (cu->cache, key);
    g_hash_table_insert (cu->cache, key, g_slist_prepend (l, p));
  }
  g_mutex_unlock (&cu->mem_lock);
  return known;
}

static void *
cuda_alloc (EtpBackend *be, size_t nbytes, GError **err)
{
  EtpCuda *cu = cuda_priv (be);
  if (cudaSetDevice (cu->device) != cudaSuccess) {
    cudaGetLastError ();
    g_set_error (err, ETP_ERROR, ETP_ERROR_DEVICE, "cuda backend: cannot select device %d",
        cu->device);
    return NULL;
  }
  return mem_get (cu, nbytes, err);
}

static void
cuda_free_mem (EtpBackend *be, void *ptr)
{
  if (!mem_put (cuda_priv (be), ptr))
    etp_backend_set_error (be, ETP_ERROR_INVALID,
        "etp_backend_free_mem: %p was not allocated by this cuda backend", ptr);
}

/* The ops' scratch: grown (never shrunk) to @bytes; NULL + sticky error. */
static void *
ws_get (EtpBackend *be, size_t bytes)
{
  EtpCuda *cu = cuda_priv (be);
  GError *err = NULL;
  if (bytes <= cu->ws_bytes)
    return cu->ws;
  if (cu->ws)
    mem_put (cu, cu->ws);       /* stream order keeps pending kernels safe */
  cu->ws = NULL;
  cu->ws_bytes = 0;
  size_t want = MAX (bytes, ALIGN256 (bytes + bytes / 4));
  void *p = mem_get (cu, want, NULL);
  if (p == NULL)
    p = mem_get (cu, bytes, &err);
  else
    bytes = want;
  if (p == NULL) {
    etp_backend_set_error (be, ETP_ERROR_DEVICE, "cuda backend: workspace: %s", err->message);
    g_error_free (err);
    return NULL;
  }
  cu->ws = p;
  cu->ws_bytes = bytes;
  return p;
}

/* ------------------------------------------------------ host <-> device */

static gboolean
stage_ready (EtpCuda *cu)
{
  if (!cu->stage_tried) {
    cu->stage_tried = TRUE;
    for (int b = 0; b < 2; b++) {
      if (cudaHostAlloc (&cu->stage[b], STAGE_BYTES, cudaHostAllocDefault) != cudaSuccess
          || cudaEventCreateWithFlags (&cu->stage_ev[b], cudaEventDisableTiming)
          != cudaSuccess) {
        cudaGetLastError ();
        g_warning ("cuda backend: no pinned staging memory; copies will be synchronous");
        for (int k = 0; k <= b; k++) {
          if (cu->stage[k])
            cudaFreeHost (cu->stage[k]);
          if (cu->stage_ev[k])
            cudaEventDestroy (cu->stage_ev[k]);
          cu->stage[k] = NULL;
          cu->stage_ev[k] = NULL;
        }
        break;
      }
    }
  }
  return cu->stage[0] != NULL && cu->stage[1] != NULL;
}

static void
cuda_upload (EtpBackend *be, void *dst, const void *src, size_t nbytes)
{
  EtpCuda *cu = enter (be);
  if (!stage_ready (cu)) {
    cu_ok (be, cudaMemcpyAsync (dst, src, nbytes, cudaMemcpyHostToDevice, cu->stream),
        "upload");
    cu_ok (be, cudaStreamSynchronize (cu->stream), "upload");
    return;
  }
  for (size_t off = 0; off < nbytes; off += STAGE_BYTES) {
    size_t len = MIN (STAGE_BYTES, nbytes - off);
    int b = cu->stage_next;
    cu->stage_next ^= 1;
    /* the buffer's previous DMA must be over before it is overwritten */
    if (!cu_ok (be, cudaEventSynchronize (cu->stage_ev[b]), "upload"))
      return;
    memcpy (cu->stage[b], (const char *) src + off, len);
    if (!cu_ok (be, cudaMemcpyAsync ((char *) dst + off, cu->stage[b], len,
                cudaMemcpyHostToDevice, cu->stream), "upload")
        || !cu_ok (be, cudaEventRecord (cu->stage_ev[b], cu->stream), "upload"))
      return;
  }
}

static void
cuda_download (EtpBackend *be, void *dst, const void *src, size_t nbytes)
{
  EtpCuda *cu = enter (be);
  if (!stage_ready (cu)) {
    if (!cu_ok (be, cudaMemcpyAsync (dst, src, nbytes, cudaMemcpyDeviceToHost, cu->stream),
            "download")
        || !cu_ok (be, cudaStreamSynchronize (cu->stream), "download"))
      memset (dst, 0, nbytes);
    read_status (be, cu);
    return;
  }
  int pb = -1;
  size_t poff = 0, plen = 0;
  gboolean ok = TRUE;
  for (size_t off = 0; ok && off < nbytes; off += STAGE_BYTES) {
    size_t len = MIN (STAGE_BYTES, nbytes - off);
    int b = cu->stage_next;
    cu->stage_next ^= 1;
    ok = cu_ok (be, cudaEventSynchronize (cu->stage_ev[b]), "download")
        && cu_ok (be, cudaMemcpyAsync (cu->stage[b], (const char *) src + off, len,
                cudaMemcpyDeviceToHost, cu->stream), "download")
        && cu_ok (be, cudaEventRecord (cu->stage_ev[b], cu->stream), "download");
    if (ok && pb >= 0) {
      ok = cu_ok (be, cudaEventSynchronize (cu->stage_ev[pb]), "download");
      if (ok)
        memcpy ((char *) dst + poff, cu->stage[pb], plen);
    }
    pb = b;
    poff = off;
    plen = len;
  }
  if (ok && pb >= 0) {
    ok = cu_ok (be, cudaEventSynchronize (cu->stage_ev[pb]), "download");
    if (ok)
      memcpy ((char *) dst + poff, cu->stage[pb], plen);
  }
  if (!ok) {
    memset (dst, 0, nbytes);    /* defined content after an error */
    return;
  }
  read_status (be, cu);
}

static void
cuda_copy (EtpBackend *be, void *dst, const void *src, size_t nbytes)
{
  EtpCuda *cu = enter (be);
  cu_ok (be, cudaMemcpyAsync (dst, src, nbytes, cudaMemcpyDeviceToDevice, cu->stream), "copy");
}

static void
cuda_memset (EtpBackend *be, void *dst, int byte, size_t nbytes)
{
  EtpCuda *cu = enter (be);
  cu_ok (be, cudaMemsetAsync (dst, byte, nbytes, cu->stream), "memset");
}

static void
cuda_sync (EtpBackend *be)
{
  EtpCuda *cu = enter (be);
  if (cu_ok (be, cudaStreamSynchronize (cu->stream), "a queued operation failed"))
    read_status (be, cu);
}

static gboolean
cuda_supports (EtpBackend *be, EtpFeature f)
{
  /* bf16 tensor cores from Ampere (sm_80) on */
  return f == ETP_FEATURE_BF16_NATIVE && cuda_priv (be)->cc_major >= 8;
}

static void
cuda_destroy (EtpBackend *be)
{
  EtpCuda *cu = cuda_priv (be);
  cudaSetDevice (cu->device);
  if (cu->stream)
    cudaStreamSynchronize (cu->stream);
  if (cu->blas)
    cublasDestroy (cu->blas);
  cache_trim (cu);
  GHashTableIter it;
  gpointer p;
  g_hash_table_iter_init (&it, cu->live);
  while (g_hash_table_iter_next (&it, &p, NULL))
    cudaFree (p);               /* includes the workspace */
  g_hash_table_destroy (cu->live);
  g_hash_table_destroy (cu->cache);
  g_mutex_clear (&cu->mem_lock);
  for (int b = 0; b < 2; b++) {
    if (cu->stage[b])
      cudaFreeHost (cu->stage[b]);
    if (cu->stage_ev[b])
      cudaEventDestroy (cu->stage_ev[b]);
  }
  if (cu->status_dev)
    cudaFree (cu->status_dev);
  if (cu->status_host)
    cudaFreeHost (cu->status_host);
  if (cu->stream)
    cudaStreamDestroy (cu->stream);
  cudaGetLastError ();
  g_free (cu);
  g_free (be);
}

/* ------------------------------------------------------------------ gemm */

/* Row-major C = alpha op(A) op(B) + beta C as the column-major product
 * C^T = op(B)^T op(A)^T. */
static gboolean
gemm (EtpBackend *be, int batch, gboolean ta, gboolean tb, int M, int N, int K, float alpha,
      const float *A, int lda, long sa, const float *B, int ldb, long sb, float beta,
      float *C, int ldc, long sc, const char *what)
{
  EtpCuda *cu = cuda_priv (be);
  cublasOperation_t opa = ta ? CUBLAS_OP_T : CUBLAS_OP_N;
  cublasOperation_t opb = tb ? CUBLAS_OP_T : CUBLAS_OP_N;
  lda = MAX (lda, 1);
  ldb = MAX (ldb, 1);
  if (batch == 1)
    return blas_ok (be, cublasSgemm (cu->blas, opb, opa, N, M, K, &alpha, B, ldb, A, lda,
            &beta, C, ldc), what);
  return blas_ok (be, cublasSgemmStridedBatched (cu->blas, opb, opa, N, M, K, &alpha, B, ldb,
          sb, A, lda, sa, &beta, C, ldc, sc, batch), what);
}

static void
cuda_gemm_batched (EtpBackend *be, int batch, gboolean ta, gboolean tb, int M, int N, int K,
                   float alpha, const float *A, int lda, long sa, const float *B, int ldb,
                   long sb, float beta, float *C, int ldc, long sc)
{
  enter (be);
  NEED (be, C, "etp_gemm");
  if (K > 0) {
    NEED (be, A, "etp_gemm");
    NEED (be, B, "etp_gemm");
  }
  gemm (be, batch, ta, tb, M, N, K, alpha, A, lda, sa, B, ldb, sb, beta, C, ldc, sc,
      "etp_gemm");
}

/* ---------------------------------------------------------- element-wise */

#define KCHECK(be, call, what) cu_ok ((be), (call), (what))

static void
cuda_add (EtpBackend *be, size_t n, const float *a, const float *b, float *y)
{
  EtpCuda *cu = enter (be);
  KCHECK (be, etp_cuk_add (cu->stream, n, a, b, y), "etp_add");
}

static void
cuda_scale (EtpBackend *be, size_t n, float *x, float alpha)
{
  EtpCuda *cu = enter (be);
  KCHECK (be, etp_cuk_scale (cu->stream, n, x, alpha), "etp_scale");
}

static void
cuda_sumsq (EtpBackend *be, size_t n, const float *x, float *out)
{
  EtpCuda *cu = enter (be);
  NEED (be, out, "etp_sumsq");
  double *ws = ws_get (be, ETP_CUK_SUMSQ_BLOCKS * sizeof (double));
  if (ws)
    KCHECK (be, etp_cuk_sumsq (cu->stream, n, x, out, ws), "etp_sumsq");
}

static void
cuda_relu_forward (EtpBackend *be, size_t n, const float *x, float *y)
{
  EtpCuda *cu = enter (be);
  KCHECK (be, etp_cuk_relu (cu->stream, n, x, y), "etp_relu_forward");
}

static void
cuda_relu_backward (EtpBackend *be, size_t n, const float *y, const float *dy, float *dx)
{
  EtpCuda *cu = enter (be);
  KCHECK (be, etp_cuk_relu_bwd (cu->stream, n, y, dy, dx), "etp_relu_backward");
}

static void
cuda_adam_step (EtpBackend *be, size_t n, float *params, const float *grads, float *m,
                float *v, const EtpAdamParams *p, int step)
{
  EtpCuda *cu = enter (be);
  NEED (be, p, "etp_adam_step");
  /* the same scalars as the CPU backend computes */
  double bc1 = 1.0 - pow (p->beta1, step), bc2 = 1.0 - pow (p->beta2, step);
  float lr_t = (float) (p->lr / bc1);
  float wd = p->decoupled ? 0.f : p->weight_decay;
  float decay = p->decoupled ? 1.f - p->lr * p->weight_decay : 1.f;
  float ibc2 = (float) (1.0 / sqrt (bc2));
  KCHECK (be, etp_cuk_adam (cu->stream, n, params, grads, m, v, lr_t, p->beta1, p->beta2,
          p->eps, wd, decay, ibc2), "etp_adam_step");
}

static void
cuda_f32_to_bf16 (EtpBackend *be, size_t n, const float *src, uint16_t *dst)
{
  EtpCuda *cu = enter (be);
  KCHECK (be, etp_cuk_f32_to_bf16 (cu->stream, n, src, dst), "etp_convert_f32_to_bf16");
}

static void
cuda_bf16_to_f32 (EtpBackend *be, size_t n, const uint16_t *src, float *dst)
{
  EtpCuda *cu = enter (be);
  KCHECK (be, etp_cuk_bf16_to_f32 (cu->stream, n, src, dst), "etp_convert_bf16_to_f32");
}

/* ---------------------------------------------------------------- conv1d */

static EtpCukConv
conv_desc (const EtpConv1dShape *s)
{
  EtpCukConv k = { 0, s->n, s->c_in, s->l_in, s->c_out, s->kernel, s->stride, s->padding,
    etp_conv1d_out_len (s) };
  return k;
}

/* Samples per chunk so that @per_sample bytes of workspace each stay within
 * the budget, and samples * l_out stays a valid cuBLAS dimension. */
static int
conv_chunk (EtpCuda *cu, const EtpConv1dShape *s, int l_out, size_t per_sample)
{
  size_t nc = cu->conv_budget / MAX (per_sample, 1);
  nc = MIN (nc, (size_t) (G_MAXINT / 2) / (size_t) l_out);
  nc = CLAMP (nc, 1, (size_t) s->n);
  return (int) nc;
}

static void
conv_forward (EtpBackend *be, const EtpConv1dShape *s, const float *x, const void *w,
              const float *bias, const float *residual, gboolean relu, float *y,
              gboolean bf16)
{
  EtpCuda *cu = enter (be);
  const char *what = bf16 ? "etp_conv1d_forward_bf16" : "etp_conv1d_forward";
  NEED (be, x, what);
  NEED (be, w, what);
  NEED (be, y, what);
  EtpCukConv k = conv_desc (s);
  const int ck = s->c_in * s->kernel, l_out = k.l_out;
  const size_t esz = bf16 ? sizeof (uint16_t) : sizeof (float);
  const int nc = conv_chunk (cu, s, l_out, (size_t) ck * l_out * esz);
  void *col = ws_get (be, ALIGN256 ((size_t) ck * nc * l_out * esz));
  if (col == NULL)
    return;
  const long ys = (long) s->c_out * l_out;
  for (int n0 = 0; n0 < s->n; n0 += nc) {
    k.n0 = n0;
    k.nc = MIN (nc, s->n - n0);
    const long NL = (long) k.nc * l_out;
    if (!KCHECK (be, etp_cuk_im2col (cu->stream, &k, x, col, bf16), what))
      return;
    /* y_i (c_out x l_out) = W (c_out x ck) col_i (ck x l_out, row stride NL) */
    if (bf16) {
      const float one = 1.f, zero = 0.f;
      if (!blas_ok (be, cublasGemmStridedBatchedEx (cu->blas, CUBLAS_OP_N, CUBLAS_OP_N,
                  l_out, s->c_out, ck, &one, col, CUDA_R_16BF, (int) NL, l_out,
                  w, CUDA_R_16BF, ck, 0, &zero, y + (size_t) n0 * ys, CUDA_R_32F, l_out, ys,
                  k.nc, CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT), what))
        return;
    } else if (!gemm (be, k.nc, FALSE, FALSE, s->c_out, l_out, ck, 1.f, w, ck, 0,
                col, (int) NL, l_out, 0.f, y + (size_t) n0 * ys, l_out, ys, what)) {
      return;
    }
    if ((bias || residual || relu)
        && !KCHECK (be, etp_cuk_conv_epilogue (cu->stream, &k, bias, residual, relu, y), what))
      return;
  }
}

static void
cuda_conv1d_forward (EtpBackend *be, const EtpConv1dShape *s, const float *x, const float *w,
                     const float *bias, const float *residual, gboolean relu, float *y)
{
  conv_forward (be, s, x, w, bias, residual, relu, y, FALSE);
}

static void
cuda_conv1d_forward_bf16 (EtpBackend *be, const EtpConv1dShape *s, const float *x,
                          const uint16_t *w, const float *bias, const float *residual,
                          gboolean relu, float *y)
{
  conv_forward (be, s, x, w, bias, residual, relu, y, TRUE);
}

static void
cuda_conv1d_backward_data (EtpBackend *be, const EtpConv1dShape *s, const float *dy,
                           const float *w, float *dx, gboolean accumulate)
{
  EtpCuda *cu = enter (be);
  const char *what = "etp_conv1d_backward_data";
  NEED (be, dy, what);
  NEED (be, w, what);
  NEED (be, dx, what);
  EtpCukConv k = conv_desc (s);
  const int ck = s->c_in * s->kernel, l_out = k.l_out;
  const int nc = conv_chunk (cu, s, l_out, (size_t) ck * l_out * sizeof (float));
  float *col = ws_get (be, ALIGN256 ((size_t) ck * nc * l_out * sizeof (float)));
  if (col == NULL)
    return;
  const long ys = (long) s->c_out * l_out;
  for (int n0 = 0; n0 < s->n; n0 += nc) {
    k.n0 = n0;
    k.nc = MIN (nc, s->n - n0);
    const long NL = (long) k.nc * l_out;
    /* col_i (ck x l_out, row stride NL) = W^T (ck x c_out) dy_i (c_out x l_out) */
    if (!gemm (be, k.nc, TRUE, FALSE, ck, l_out, s->c_out, 1.f, w, ck, 0,
            dy + (size_t) n0 * ys, l_out, ys, 0.f, col, (int) NL, l_out, what)
        || !KCHECK (be, etp_cuk_col2im (cu->stream, &k, col, dx, accumulate), what))
      return;
  }
}

static void
cuda_conv1d_backward_weight (EtpBackend *be, const EtpConv1dShape *s, const float *x,
                             const float *dy, float *dw, float *dbias)
{
  EtpCuda *cu = enter (be);
  const char *what = "etp_conv1d_backward_weight";
  NEED (be, x, what);
  NEED (be, dy, what);
  NEED (be, dw, what);
  EtpCukConv k = conv_desc (s);
  const int ck = s->c_in * s->kernel, l_out = k.l_out, c_out = s->c_out;
  const int nc = conv_chunk (cu, s, l_out, (size_t) (ck + c_out) * l_out * sizeof (float));
  const long NLmax = (long) nc * l_out;

  /* split-K: enough (c_out x ck) products to fill the GPU twice over */
  const long tiles = (long) ((c_out + 127) / 128) * ((ck + 127) / 128);
  long groups = (2L * cu->sm_count + tiles - 1) / tiles;
  groups = CLAMP (groups, 1, 64);
  groups = MIN (groups, MAX (NLmax / 256, 1));
  const size_t nw = (size_t) c_out * ck;

  size_t col_b = ALIGN256 ((size_t) ck * NLmax * sizeof (float));
  size_t dyt_b = ALIGN256 ((size_t) c_out * NLmax * sizeof (float));
  size_t part_b = groups > 1 ? ALIGN256 ((size_t) groups * nw * sizeof (float)) : 0;
  char *ws = ws_get (be, col_b + dyt_b + part_b);
  if (ws == NULL)
    return;
  float *col = (float *) ws, *dyT = (float *) (ws + col_b), *parts = (float *) (ws + col_b + dyt_b);

  for (int n0 = 0; n0 < s->n; n0 += nc) {
    k.n0 = n0;
    k.nc = MIN (nc, s->n - n0);
    const long NL = (long) k.nc * l_out;
    if (!KCHECK (be, etp_cuk_im2col (cu->stream, &k, x, col, FALSE), what)
        || !KCHECK (be, etp_cuk_conv_gather_dy (cu->stream, &k, dy, dyT), what))
      return;
    long G = MIN (groups, MAX (NL / 256, 1));
    if (G <= 1) {
      /* dw (c_out x ck) += dyT (c_out x NL) col^T (NL x ck) */
      if (!gemm (be, 1, FALSE, TRUE, c_out, ck, (int) NL, 1.f, dyT, (int) NL, 0, col,
              (int) NL, 0, 1.f, dw, ck, 0, what))
        return;
    } else {
      const long ks = NL / G, rem = NL - G * ks;
      if (!gemm (be, (int) G, FALSE, TRUE, c_out, ck, (int) ks, 1.f, dyT, (int) NL, ks,
              col, (int) NL, ks, 0.f, parts, ck, (long) nw, what))
        return;
      if (rem > 0 && !gemm (be, 1, FALSE, TRUE, c_out, ck, (int) rem, 1.f, dyT + G * ks,
              (int) NL, 0, col + G * ks, (int) NL, 0, 1.f, parts, ck, 0, what))
        return;
      if (!KCHECK (be, etp_cuk_sum_parts_acc (cu->stream, nw, (int) G, parts, dw), what))
        return;
    }
    if (dbias && !KCHECK (be, etp_cuk_rowsum_acc (cu->stream, c_out, (int) NL, NL, dyT, dbias),
            what))
      return;
  }
}

/* ------------------------------------------------------------- batchnorm */

static void
cuda_bn_forward_train (EtpBackend *be, int n, int c, int l, const float *x, const float *gamma,
                       const float *beta, float *rmean, float *rvar, float momentum, float eps,
                       const float *residual, gboolean relu, float *y, float *save_mean,
                       float *save_invstd)
{
  EtpCuda *cu = enter (be);
  const char *what = "etp_batchnorm_forward_train";
  if ((long) n * l < 2) {
    etp_backend_set_error (be, ETP_ERROR_INVALID,
        "etp_batchnorm_forward_train: training needs more than 1 value per channel "
        "(n=%d l=%d)", n, l);
    return;
  }
  NEED (be, x, what);
  NEED (be, gamma, what);
  NEED (be, beta, what);
  NEED (be, y, what);
  NEED (be, save_mean, what);
  NEED (be, save_invstd, what);
  float *ws = ws_get (be, (size_t) 2 * c * ETP_CUK_BN_MAX_SPLITS * sizeof (float));
  if (ws)
    KCHECK (be, etp_cuk_bn_forward_train (cu->stream, n, c, l, x, gamma, beta, rmean, rvar,
            momentum, eps, residual, relu, y, save_mean, save_invstd, ws), what);
}

static void
cuda_bn_forward_eval (EtpBackend *be, int n, int c, int l, const float *x, const float *gamma,
                      const float *beta, const float *rmean, const float *rvar, float eps,
                      const float *residual, gboolean relu, float *y)
{
  EtpCuda *cu = enter (be);
  const char *what = "etp_batchnorm_forward_eval";
  NEED (be, x, what);
  NEED (be, gamma, what);
  NEED (be, beta, what);
  NEED (be, rmean, what);
  NEED (be, rvar, what);
  NEED (be, y, what);
  KCHECK (be, etp_cuk_bn_forward_eval (cu->stream, n, c, l, x, gamma, beta, rmean, rvar, eps,
          residual, relu, y), what);
}

static void
cuda_bn_backward (EtpBackend *be, int n, int c, int l, const float *x, const float *gamma,
                  const float *save_mean, const float *save_invstd, const float *dy,
                  const float *y_relu, float *dx, float *dgamma, float *dbeta, float *dres)
{
  EtpCuda *cu = enter (be);
  const char *what = "etp_batchnorm_backward";
  NEED (be, x, what);
  NEED (be, gamma, what);
  NEED (be, save_mean, what);
  NEED (be, save_invstd, what);
  NEED (be, dy, what);
  NEED (be, dx, what);
  float *ws = ws_get (be, ((size_t) 2 * c * ETP_CUK_BN_MAX_SPLITS + 3 * (size_t) c)
      * sizeof (float));
  if (ws)
    KCHECK (be, etp_cuk_bn_backward (cu->stream, n, c, l, x, gamma, save_mean, save_invstd, dy,
            y_relu, dx, dgamma, dbeta, dres, ws), what);
}

static void
cuda_bn_fold (EtpBackend *be, int c_out, int row, const float *w, const float *bias_in,
              const float *gamma, const float *beta, const float *rmean, const float *rvar,
              float eps, float *w_out, float *b_out)
{
  EtpCuda *cu = enter (be);
  const char *what = "etp_batchnorm_fold";
  NEED (be, w, what);
  NEED (be, gamma, what);
  NEED (be, beta, what);
  NEED (be, rmean, what);
  NEED (be, rvar, what);
  NEED (be, w_out, what);
  NEED (be, b_out, what);
  KCHECK (be, etp_cuk_bn_fold (cu->stream, c_out, row, w, bias_in, gamma, beta, rmean, rvar,
          eps, w_out, b_out), what);
}

/* ------------------------------------------------------------------ pool */

static void
cuda_avgpool_forward (EtpBackend *be, int n, int c, int l, const float *x, float *y)
{
  EtpCuda *cu = enter (be);
  KCHECK (be, etp_cuk_avgpool_forward (cu->stream, n, c, l, x, y), "etp_avgpool_forward");
}

static void
cuda_avgpool_backward (EtpBackend *be, int n, int c, int l, const float *dy, float *dx,
                       gboolean accumulate)
{
  EtpCuda *cu = enter (be);
  KCHECK (be, etp_cuk_avgpool_backward (cu->stream, n, c, l, dy, dx, accumulate),
      "etp_avgpool_backward");
}

/* ---------------------------------------------------------------- linear */

static void
cuda_linear_forward (EtpBackend *be, int b, int in, int out, const float *x, const float *w,
                     const float *bias, float *y)
{
  EtpCuda *cu = enter (be);
  const char *what = "etp_linear_forward";
  NEED (be, x, what);
  NEED (be, w, what);
  NEED (be, y, what);
  if (bias && !KCHECK (be, etp_cuk_broadcast_rows (cu->stream, b, out, bias, y), what))
    return;
  gemm (be, 1, FALSE, TRUE, b, out, in, 1.f, x, in, 0, w, in, 0, bias ? 1.f : 0.f, y, out, 0,
      what);
}

static void
cuda_linear_backward (EtpBackend *be, int b, int in, int out, const float *x, const float *w,
                      const float *dy, float *dx, float *dw, float *dbias)
{
  EtpCuda *cu = enter (be);
  const char *what = "etp_linear_backward";
  NEED (be, dy, what);
  if (dx) {
    NEED (be, w, what);
    if (!gemm (be, 1, FALSE, FALSE, b, in, out, 1.f, dy, out, 0, w, in, 0, 0.f, dx, in, 0,
            what))
      return;
  }
  if (dw) {
    NEED (be, x, what);
    if (!gemm (be, 1, TRUE, FALSE, out, in, b, 1.f, dy, out, 0, x, in, 0, 1.f, dw, in, 0,
            what))
      return;
  }
  if (dbias)
    KCHECK (be, etp_cuk_colsum_acc (cu->stream, b, out, dy, dbias), what);
}

/* ----------------------------------------------------------------- l2norm */

static void
cuda_l2norm_forward (EtpBackend *be, int b, int d, float eps, const float *x, float *y)
{
  EtpCuda *cu = enter (be);
  NEED (be, x, "etp_l2norm_forward");
  NEED (be, y, "etp_l2norm_forward");
  KCHECK (be, etp_cuk_l2norm_forward (cu->stream, b, d, eps, x, y), "etp_l2norm_forward");
}

static void
cuda_l2norm_backward (EtpBackend *be, int b, int d, float eps, const float *x, const float *dy,
                      float *dx)
{
  EtpCuda *cu = enter (be);
  NEED (be, x, "etp_l2norm_backward");
  NEED (be, dy, "etp_l2norm_backward");
  NEED (be, dx, "etp_l2norm_backward");
  KCHECK (be, etp_cuk_l2norm_backward (cu->stream, b, d, eps, x, dy, dx),
      "etp_l2norm_backward");
}

/* ----------------------------------------------------------------- losses */

static void
cuda_softmax_xent (EtpBackend *be, int b, int c, const float *logits, const int32_t *targets,
                   float *loss, float *dlogits)
{
  EtpCuda *cu = enter (be);
  const char *what = "etp_softmax_xent";
  NEED (be, logits, what);
  NEED (be, targets, what);
  NEED (be, loss, what);
  double *ws = ws_get (be, (size_t) b * sizeof (double));
  if (ws == NULL)
    return;
  cu->status_pending = TRUE;
  KCHECK (be, etp_cuk_softmax_xent (cu->stream, b, c, logits, targets, loss, dlogits, ws,
          cu->status_dev), what);
}

static void
cuda_clip_loss (EtpBackend *be, int b, int d, const float *a, const float *bb,
                const float *logit_scale, float *loss, float *da, float *db,
                float *dlogit_scale, float *logits_out)
{
  EtpCuda *cu = enter (be);
  const char *what = "etp_clip_loss";
  NEED (be, a, what);
  NEED (be, bb, what);
  NEED (be, logit_scale, what);
  NEED (be, loss, what);
  const size_t mat = ALIGN256 ((size_t) b * b * sizeof (float));
  char *ws = ws_get (be, 2 * mat + (size_t) 5 * b * sizeof (double));
  if (ws == NULL)
    return;
  float *raw = (float *) ws, *gs = (float *) (ws + mat);
  double *dws = (double *) (ws + 2 * mat);
  /* raw = a b_^T; the kernels scale it by exp(logit_scale) on the device */
  if (!gemm (be, 1, FALSE, TRUE, b, b, d, 1.f, a, d, 0, bb, d, 0, 0.f, raw, b, 0, what)
      || !KCHECK (be, etp_cuk_clip_loss (cu->stream, b, raw, logit_scale, loss, dlogit_scale,
              logits_out, gs, dws), what))
    return;
  /* L = s a b_^T: da = s G b_, db = s G^T a (gs = s G) */
  if (da && !gemm (be, 1, FALSE, FALSE, b, d, b, 1.f, gs, b, 0, bb, d, 0, 0.f, da, d, 0, what))
    return;
  if (db)
    gemm (be, 1, TRUE, FALSE, b, d, b, 1.f, gs, b, 0, a, d, 0, 0.f, db, d, 0, what);
}

/* ------------------------------------------------------------------ BERT */

G_STATIC_ASSERT (sizeof (EtpCudaBertSeq) == sizeof (EtpCukBertSeq));

static const EtpBackendOps cuda_ops;

/* The BERT ops are CUDA-only entry points: refuse other backends. */
static EtpCuda *
bert_enter (EtpBackend *be, const char *what)
{
  if (be->error != NULL)
    return NULL;
  if (be->ops != &cuda_ops) {
    etp_backend_set_error (be, ETP_ERROR_UNSUPPORTED, "%s: needs the cuda backend, not %s",
        what, be->name);
    return NULL;
  }
  return enter (be);
}

#define BERT_CHECK(be, cond, ...) \
  G_STMT_START { \
    if (G_UNLIKELY (!(cond))) { \
      etp_backend_set_error ((be), ETP_ERROR_INVALID, __VA_ARGS__); \
      return; \
    } \
  } G_STMT_END

void
etp_cuda_bert_embed (EtpBackend *be, int n_seqs, int max_rows, const EtpCudaBertSeq *seqs,
                     const int32_t *ids, const float *word, int vocab, const float *pos,
                     int max_pos, const float *type, int H, float *out)
{
  const char *what = "etp_cuda_bert_embed";
  EtpCuda *cu = bert_enter (be, what);
  if (!cu || n_seqs == 0)
    return;
  BERT_CHECK (be, n_seqs > 0 && n_seqs <= 65535 && max_rows > 0 && max_rows <= 65535 && H > 0
      && vocab > 0 && max_pos > 0, "%s: invalid shape n_seqs=%d max_rows=%d H=%d vocab=%d "
      "max_pos=%d", what, n_seqs, max_rows, H, vocab, max_pos);
  NEED (be, seqs, what);
  NEED (be, ids, what);
  NEED (be, word, what);
  NEED (be, pos, what);
  NEED (be, type, what);
  NEED (be, out, what);
  cu->status_pending = TRUE;
  KCHECK (be, etp_cuk_bert_embed (cu->stream, n_seqs, max_rows, (const EtpCukBertSeq *) seqs,
          ids, word, vocab, pos, max_pos, type, H, out, cu->status_dev), what);
}

void
etp_cuda_bert_layernorm (EtpBackend *be, int R, int H, float eps, const float *x,
                         const float *res, const float *gamma, const float *beta, float *out)
{
  const char *what = "etp_cuda_bert_layernorm";
  EtpCuda *cu = bert_enter (be, what);
  if (!cu || R == 0)
    return;
  BERT_CHECK (be, R > 0 && H > 0, "%s: invalid shape R=%d H=%d", what, R, H);
  NEED (be, x, what);
  NEED (be, gamma, what);
  NEED (be, beta, what);
  NEED (be, out, what);
  KCHECK (be, etp_cuk_bert_layernorm (cu->stream, R, H, eps, x, res, gamma, beta, out), what);
}

void
etp_cuda_bert_gelu (EtpBackend *be, size_t n, gboolean tanh_form, float *x)
{
  const char *what = "etp_cuda_bert_gelu";
  EtpCuda *cu = bert_enter (be, what);
  if (!cu || n == 0)
    return;
  NEED (be, x, what);
  KCHECK (be, etp_cuk_bert_gelu (cu->stream, n, tanh_form, x), what);
}

void
etp_cuda_tanh (EtpBackend *be, size_t n, float *x)
{
  const char *what = "etp_cuda_tanh";
  EtpCuda *cu = bert_enter (be, what);
  if (!cu || n == 0)
    return;
  NEED (be, x, what);
  KCHECK (be, etp_cuk_tanh (cu->stream, n, x), what);
}

void
etp_cuda_bert_attention (EtpBackend *be, int n_seqs, int max_rows, const EtpCudaBertSeq *seqs,
                         const int32_t *keymask, int heads, int H, const float *q,
                         const float *k, const float *v, float *ctx)
{
  const char *what = "etp_cuda_bert_attention";
  EtpCuda *cu = bert_enter (be, what);
  if (!cu || n_seqs == 0)
    return;
  BERT_CHECK (be, n_seqs > 0 && n_seqs <= 65535 && max_rows > 0 && max_rows <= 8192
      && heads > 0 && heads <= 65535 && H > 0 && H % heads == 0,
      "%s: invalid shape n_seqs=%d max_rows=%d heads=%d H=%d", what, n_seqs, max_rows, heads, H);
  NEED (be, seqs, what);
  NEED (be, q, what);
  NEED (be, k, what);
  NEED (be, v, what);
  NEED (be, ctx, what);
  KCHECK (be, etp_cuk_bert_attention (cu->stream, n_seqs, max_rows,
          (const EtpCukBertSeq *) seqs, keymask, heads, H, q, k, v, ctx), what);
}

void
etp_cuda_bert_pool (EtpBackend *be, int n_seqs, const EtpCudaBertSeq *seqs,
                    const int32_t *keymask, int H, const float *hidden, float *cls, float *mean)
{
  const char *what = "etp_cuda_bert_pool";
  EtpCuda *cu = bert_enter (be, what);
  if (!cu || n_seqs == 0 || (!cls && !mean))
    return;
  BERT_CHECK (be, n_seqs > 0 && H > 0, "%s: invalid shape n_seqs=%d H=%d", what, n_seqs, H);
  NEED (be, seqs, what);
  NEED (be, hidden, what);
  KCHECK (be, etp_cuk_bert_pool (cu->stream, n_seqs, (const EtpCukBertSeq *) seqs, keymask, H,
          hidden, cls, mean), what);
}

/* ---------------------------------------------------------------- backend */

static const EtpBackendOps cuda_ops = {
  .name = "cuda",
  .destroy = cuda_destroy,
  .supports = cuda_supports,
  .alloc = cuda_alloc,
  .free_mem = cuda_free_mem,
  .upload = cuda_upload,
  .download = cuda_download,
  .copy = cuda_copy,
  .memset = cuda_memset,
  .sync = cuda_sync,
  .gemm_batched = cuda_gemm_batched,
  .add = cuda_add,
  .scale = cuda_scale,
  .sumsq = cuda_sumsq,
  .conv1d_forward = cuda_conv1d_forward,
  .conv1d_forward_bf16 = cuda_conv1d_forward_bf16,
  .conv1d_backward_data = cuda_conv1d_backward_data,
  .conv1d_backward_weight = cuda_conv1d_backward_weight,
  .bn_forward_train = cuda_bn_forward_train,
  .bn_forward_eval = cuda_bn_forward_eval,
  .bn_backward = cuda_bn_backward,
  .bn_fold = cuda_bn_fold,
  .relu_forward = cuda_relu_forward,
  .relu_backward = cuda_relu_backward,
  .avgpool_forward = cuda_avgpool_forward,
  .avgpool_backward = cuda_avgpool_backward,
  .linear_forward = cuda_linear_forward,
  .linear_backward = cuda_linear_backward,
  .l2norm_forward = cuda_l2norm_forward,
  .l2norm_backward = cuda_l2norm_backward,
  .softmax_xent = cuda_softmax_xent,
  .clip_loss = cuda_clip_loss,
  .adam_step = cuda_adam_step,
  .f32_to_bf16 = cuda_f32_to_bf16,
  .bf16_to_f32 = cuda_bf16_to_f32,
};

static gboolean
env_flag (const char *name)
{
  const char *v = g_getenv (name);
  return v && (g_str_equal (v, "1") || g_ascii_strcasecmp (v, "true") == 0
      || g_ascii_strcasecmp (v, "yes") == 0);
}

gboolean
etp_cuda_device_count (int *count, GError **err)
{
  int n = 0;
  cudaError_t e = cudaGetDeviceCount (&n);
  if (e != cudaSuccess) {
    cudaGetLastError ();
    *count = 0;
    g_set_error (err, ETP_ERROR, ETP_ERROR_DEVICE,
        "device=cuda: no usable CUDA device (cudaGetDeviceCount: %s); a GPU and the "
        "NVIDIA driver are needed", cudaGetErrorString (e));
    return FALSE;
  }
  *count = n;
  if (n == 0) {
    g_set_error (err, ETP_ERROR, ETP_ERROR_DEVICE,
        "device=cuda: no CUDA device is present (cudaGetDeviceCount found none)");
    return FALSE;
  }
  return TRUE;
}

EtpBackend *
etp_cuda_backend_new (int n_threads, GError **err)
{
  int count = 0;
  if (!etp_cuda_device_count (&count, err))
    return NULL;

  int device = 0;
  const char *env = g_getenv ("ETP_CUDA_DEVICE");
  if (env && *env) {
    char *end = NULL;
    long v = strtol (env, &end, 10);
    if (end == env || *end != '\0' || v < 0 || v >= count) {
      g_set_error (err, ETP_ERROR, ETP_ERROR_DEVICE,
          "device=cuda: ETP_CUDA_DEVICE=%s is not a device index in [0, %d)", env, count);
      return NULL;
    }
    device = (int) v;
  }

  struct cudaDeviceProp prop;
  cudaError_t e = cudaSetDevice (device);
  if (e == cudaSuccess)
    e = cudaGetDeviceProperties (&prop, device);
  if (e != cudaSuccess) {
    cudaGetLastError ();
    g_set_error (err, ETP_ERROR, ETP_ERROR_DEVICE, "device=cuda: cannot open CUDA device %d: %s",
        device, cudaGetErrorString (e));
    return NULL;
  }
  e = etp_cuk_probe ();
  if (e != cudaSuccess) {
    cudaGetLastError ();
    g_set_error (err, ETP_ERROR, ETP_ERROR_DEVICE,
        "device=cuda: %s (sm_%d%d) cannot run this build's kernels (built for sm_90 with "
        "compute_90 PTX): %s", prop.name, prop.major, prop.minor, cudaGetErrorString (e));
    return NULL;
  }

  EtpCuda *cu = g_new0 (EtpCuda, 1);
  EtpBackend *be = g_new0 (EtpBackend, 1);
  cu->device = device;
  cu->cc_major = prop.major;
  cu->cc_minor = prop.minor;
  cu->sm_count = MAX (prop.multiProcessorCount, 1);
  cu->tf32 = env_flag ("ETP_CUDA_TF32");
  long mb = 256;
  env = g_getenv ("ETP_CUDA_WORKSPACE_MB");
  if (env && atol (env) > 0)
    mb = atol (env);
  cu->conv_budget = (size_t) mb << 20;
  g_mutex_init (&cu->mem_lock);
  cu->live = g_hash_table_new (g_direct_hash, g_direct_equal);
  cu->cache = g_hash_table_new (g_direct_hash, g_direct_equal);

  const char *fail = NULL;
  cublasStatus_t bs = CUBLAS_STATUS_SUCCESS;
  if ((e = cudaStreamCreateWithFlags (&cu->stream, cudaStreamNonBlocking)) != cudaSuccess)
    fail = "cudaStreamCreate";
  else if ((e = cudaMalloc ((void **) &cu->status_dev, 4 * sizeof (int))) != cudaSuccess)
    fail = "cudaMalloc";
  else if ((e = cudaMemsetAsync (cu->status_dev, 0, 4 * sizeof (int), cu->stream))
      != cudaSuccess || (e = cudaStreamSynchronize (cu->stream)) != cudaSuccess)
    fail = "cudaMemsetAsync";
  else if ((e = cudaHostAlloc ((void **) &cu->status_host, 4 * sizeof (int),
              cudaHostAllocDefault)) != cudaSuccess)
    fail = "cudaHostAlloc";
  else if ((bs = cublasCreate (&cu->blas)) != CUBLAS_STATUS_SUCCESS)
    fail = "cublasCreate";
  else if ((bs = cublasSetStream (cu->blas, cu->stream)) != CUBLAS_STATUS_SUCCESS)
    fail = "cublasSetStream";
  else if ((bs = cublasSetMathMode (cu->blas, cu->tf32 ? CUBLAS_TF32_TENSOR_OP_MATH
                  : CUBLAS_DEFAULT_MATH)) != CUBLAS_STATUS_SUCCESS)
    fail = "cublasSetMathMode";
  if (fail) {
    g_set_error (err, ETP_ERROR, ETP_ERROR_DEVICE, "device=cuda: %s on %s failed: %s", fail,
        prop.name, bs != CUBLAS_STATUS_SUCCESS ? cublasGetStatusString (bs)
        : cudaGetErrorString (e));
    cudaGetLastError ();
    be->priv = cu;
    cuda_destroy (be);          /* frees what was made, cu and be */
    return NULL;
  }

  char *name = g_strdup_printf ("cuda (%s, sm_%d%d%s)", prop.name, prop.major, prop.minor,
      cu->tf32 ? ", tf32" : "");
  etp_backend_init (be, &cuda_ops, ETP_DEVICE_CUDA, 1, name, cu);
  g_free (name);
  return be;
}
