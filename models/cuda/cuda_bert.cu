/* BERT forward kernels for the CUDA backend (cuda_bert.h): embedding
 * gather, LayerNorm (+ residual), GELU, masked multi-head self-attention over
 * packed sequences, CLS / masked-mean pooling, tanh. The arithmetic follows
 * models/text/bert.c (the CPU path) step by step, so the two agree to
 * float rounding. The matrix products stay with cuBLAS via etp_linear_forward. */
#include "cuda_kernels.h"

#include <cuda_runtime.h>
#include <math.h>

#define BLOCK 256

namespace {

template <typename T>
__device__ __forceinline__ T
warp_sum (T v)
{
  for (int o = 16; o > 0; o >>= 1)
    v += __shfl_down_sync (0xffffffffu, v, o);
  return v;
}

template <typename T>
__device__ T
block_sum (T v)
{
  __shared__ T sh[32];
  const int lane = threadIdx.x & 31, wid = threadIdx.x >> 5;
  const int nw = (blockDim.x + 31) >> 5;
  v = warp_sum (v);
  __syncthreads ();
  if (lane == 0)
    sh[wid] = v;
  __syncthreads ();
  if (wid == 0) {
    v = lane < nw ? sh[lane] : (T) 0;
    v = warp_sum (v);
    if (lane == 0)
      sh[0] = v;
  }
  __syncthreads ();
  return sh[0];
}

__device__ float
block_max (float v)
{
  __shared__ float sh[32];
  const int lane = threadIdx.x & 31, wid = threadIdx.x >> 5;
  const int nw = (blockDim.x + 31) >> 5;
  for (int o = 16; o > 0; o >>= 1)
    v = fmaxf (v, __shfl_down_sync (0xffffffffu, v, o));
  __syncthreads ();
  if (lane == 0)
    sh[wid] = v;
  __syncthreads ();
  if (wid == 0) {
    v = lane < nw ? sh[lane] : -INFINITY;
    for (int o = 16; o > 0; o >>= 1)
      v = fmaxf (v, __shfl_down_sync (0xffffffffu, v, o));
    if (lane == 0)
      sh[0] = v;
  }
  __syncthreads ();
  return sh[0];
}

__device__ void
set_status (int *status, int code, int a, int b, int c)
{
  if (atomicCAS (status, 0, code) == 0) {
    status[1] = a;
    status[2] = b;
    status[3] = c;
  }
}

/* grid (H blocks, max_rows, n_seqs): out[r] = word[ids[r]] + pos[r - start]
 * + type[0]. */
__global__ void
k_embed (const EtpCukBertSeq *seqs, const int32_t *ids, const float *word, int vocab,
         const float *pos, int max_pos, const float *type, int H, float *out, int *status)
{
  const EtpCukBertSeq s = seqs[blockIdx.z];
  const int i = blockIdx.y;
  if (i >= s.rows)
    return;
  const int r = s.start + i;
  const int id = ids[r];
  if (id < 0 || id >= vocab || i >= max_pos) {
    if (threadIdx.x == 0 && blockIdx.x == 0)
      set_status (status, id < 0 || id >= vocab ? ETP_CUK_BAD_TOKEN : ETP_CUK_TOO_LONG, r,
          id < 0 || id >= vocab ? id : i, id < 0 || id >= vocab ? vocab : max_pos);
    return;
  }
  const float *w = word + (size_t) id * H, *p = pos + (size_t) i * H;
  for (int k = blockIdx.x * blockDim.x + threadIdx.x; k < H; k += gridDim.x * blockDim.x)
    out[(size_t) r * H + k] = w[k] + p[k] + type[k];
}

/* one block per row: out = LayerNorm(x + res) (res optional, out may alias x
 * or res: every thread reads only the columns it later writes) */
__global__ void
k_layernorm (int R, int H, float eps, const float *x, const float *res, const float *g,
             const float *b, float *out)
{
  for (int r = blockIdx.x; r < R; r += gridDim.x) {
    const float *xr = x + (size_t) r * H;
    const float *rr = res ? res + (size_t) r * H : NULL;
    float *o = out + (size_t) r * H;
    double acc = 0;
    for (int k = threadIdx.x; k < H; k += blockDim.x)
      acc += rr ? xr[k] + rr[k] : xr[k];
    const double mean = block_sum (acc) / H;
    acc = 0;
    for (int k = threadIdx.x; k < H; k += blockDim.x) {
      const float v = rr ? xr[k] + rr[k] : xr[k];
      const double d = v - mean;
      acc += d * d;
    }
    const double var = block_sum (acc) / H;
    const float inv = (float) (1.0 / sqrt (var + eps));
    const float m = (float) mean;
    for (int k = threadIdx.x; k < H; k += blockDim.x) {
      const float v = rr ? xr[k] + rr[k] : xr[k];
      o[k] = (v - m) * inv * g[k] + b[k];
    }
  }
}

__global__ void
k_gelu (size_t n, int tanh_form, float *x)
{
  for (size_t i = (size_t) blockIdx.x * blockDim.x + threadIdx.x; i < n;
       i += (size_t) gridDim.x * blockDim.x) {
    const float v = x[i];
    if (tanh_form)
      x[i] = 0.5f * v * (1.0f + tanhf (0.7978845608028654f * (v + 0.044715f * v * v * v)));
    else
      x[i] = 0.5f * v * (1.0f + erff (v * 0.7071067811865476f));
  }
}

__global__ void
k_tanh (size_t n, float *x)
{
  for (size_t i = (size_t) blockIdx.x * blockDim.x + threadIdx.x; i < n;
       i += (size_t) gridDim.x * blockDim.x)
    x[i] = tanhf (x[i]);
}

/* grid (max_rows, heads, n_seqs), one block per (query row, head, sequence);
 * dynamic shared memory: max_rows scores + d query values. */
__global__ void
k_attention (const EtpCukBertSeq *seqs, const int32_t *keymask, int heads, int H,
             const float *q, const float *k, const float *v, float *ctx)
{
  extern __shared__ float smem[];
  const EtpCukBertSeq s = seqs[blockIdx.z];
  const int i = blockIdx.x, h = blockIdx.y;
  if (i >= s.rows)
    return;                     /* whole block: no barrier is skipped */
  const int d = H / heads, off = h * d;
  float *sc = smem, *qs = smem + s.rows;
  const float scale = 1.0f / sqrtf ((float) d);
  const size_t qrow = (size_t) (s.start + i) * H + off;
  for (int t = threadIdx.x; t < d; t += blockDim.x)
    qs[t] = q[qrow + t];
  __syncthreads ();
  float mx = -INFINITY;
  for (int j = threadIdx.x; j < s.rows; j += blockDim.x) {
    if (keymask && !keymask[s.start + j]) {
      sc[j] = -INFINITY;
      continue;
    }
    const float *kj = k + (size_t) (s.start + j) * H + off;
    float dot = 0.f;
    for (int t = 0; t < d; t++)
      dot += qs[t] * kj[t];
    sc[j] = dot * scale;
    mx = fmaxf (mx, sc[j]);
  }
  mx = block_max (mx);
  float sum = 0.f;
  for (int j = threadIdx.x; j < s.rows; j += blockDim.x) {
    sc[j] = sc[j] == -INFINITY ? 0.f : expf (sc[j] - mx);
    sum += sc[j];
  }
  sum = block_sum (sum);        /* ends with a barrier: sc is complete */
  const float inv = sum > 0.f ? 1.f / sum : 0.f;
  for (int t = threadIdx.x; t < d; t += blockDim.x) {
    float acc = 0.f;
    for (int j = 0; j < s.rows; j++) {
      const float pj = sc[j] * inv;
      if (pj != 0.f)
        acc += pj * v[(size_t) (s.start + j) * H + off + t];
    }
    ctx[qrow + t] = acc;
  }
}

/* grid (n_seqs): cls[s] = hidden[start], mean[s] = masked mean of the rows. */
__global__ void
k_pool (const EtpCukBertSeq *seqs, const int32_t *keymask, int H, const float *hidden,
        float *cls, float *mean)
{
  const EtpCukBertSeq s = seqs[blockIdx.x];
  for (int k = threadIdx.x; k < H; k += blockDim.x) {
    if (cls)
      cls[(size_t) blockIdx.x * H + k] = s.rows > 0 ? hidden[(size_t) s.start * H + k] : 0.f;
    if (mean) {
      float acc = 0.f;
      int cnt = 0;
      for (int r = 0; r < s.rows; r++) {
        if (keymask && !keymask[s.start + r])
          continue;
        cnt++;
        acc += hidden[(size_t) (s.start + r) * H + k];
      }
      mean[(size_t) blockIdx.x * H + k] = acc / (float) (cnt > 0 ? cnt : 1);
    }
  }
}

inline unsigned
grid_1d (size_t n)
{
  size_t g = (n + BLOCK - 1) / BLOCK;
  return (unsigned) (g < 1 ? 1 : (g < 65536 ? g : 65536));
}

} /* namespace */

extern "C" {

cudaError_t
etp_cuk_bert_embed (cudaStream_t st, int n_seqs, int max_rows, const EtpCukBertSeq *seqs,
                    const int32_t *ids, const float *word, int vocab, const float *pos,
                    int max_pos, const float *type, int H, float *out, int *status)
{
  dim3 g ((unsigned) ((H + BLOCK - 1) / BLOCK), (unsigned) max_rows, (unsigned) n_seqs);
  k_embed<<<g, BLOCK, 0, st>>> (seqs, ids, word, vocab, pos, max_pos, type, H, out, status);
  return cudaGetLastError ();
}

cudaError_t
etp_cuk_bert_layernorm (cudaStream_t st, int R, int H, float eps, const float *x,
                        const float *res, const float *g, const float *b, float *out)
{
  k_layernorm<<<R < 65535 ? R : 65535, BLOCK, 0, st>>> (R, H, eps, x, res, g, b, out);
  return cudaGetLastError ();
}

cudaError_t
etp_cuk_bert_gelu (cudaStream_t st, size_t n, int tanh_form, float *x)
{
  k_gelu<<<grid_1d (n), BLOCK, 0, st>>> (n, tanh_form, x);
  return cudaGetLastError ();
}

cudaError_t
etp_cuk_tanh (cudaStream_t st, size_t n, float *x)
{
  k_tanh<<<grid_1d (n), BLOCK, 0, st>>> (n, x);
  return cudaGetLastError ();
}

cudaError_t
etp_cuk_bert_attention (cudaStream_t st, int n_seqs, int max_rows, const EtpCukBertSeq *seqs,
                        const int32_t *keymask, int heads, int H, const float *q,
                        const float *k, const float *v, float *ctx)
{
  const int d = H / heads;
  const size_t shmem = ((size_t) max_rows + d) * sizeof (float);
  dim3 g ((unsigned) max_rows, (unsigned) heads, (unsigned) n_seqs);
  k_attention<<<g, 128, shmem, st>>> (seqs, keymask, heads, H, q, k, v, ctx);
  return cudaGetLastError ();
}

cudaError_t
etp_cuk_bert_pool (cudaStream_t st, int n_seqs, const EtpCukBertSeq *seqs,
                   const int32_t *keymask, int H, const float *hidden, float *cls, float *mean)
{
  k_pool<<<(unsigned) n_seqs, 128, 0, st>>> (seqs, keymask, H, hidden, cls, mean);
  return cudaGetLastError ();
}

} /* extern "C" */
