/* The CUDA backend's own kernels: everything except the matrix products
 * (cuBLAS, cuda_backend.c). See cuda_kernels.h for the contracts.
 *
 * Conventions: 256-thread blocks; element-wise kernels are grid-stride
 * loops; (n, c, l) kernels use a 3-D grid (x: time, y: channel, z: sample,
 * each looping when the tensor is larger than the grid) so the channel of an
 * element needs no division. Reductions accumulate in float per thread (a
 * few dozen terms) and in double across blocks, then round once, so the
 * results match the CPU backend (double accumulation) to ~1e-6 relative.
 * No atomics on floats: every result is deterministic run to run. */
#include "cuda_kernels.h"

#include <cuda_runtime.h>
#include <math.h>

#define BLOCK 256
#define MAX_GRID_X 65536L       /* element-wise grid cap (grid-stride beyond) */
#define MAX_GRID_YZ 65535

namespace {

/* ------------------------------------------------------------ utilities */

__device__ __forceinline__ uint16_t
f32_to_bf16 (float f)
{
  uint32_t u = __float_as_uint (f);
  if ((u & 0x7fffffffu) > 0x7f800000u)
    return (uint16_t) ((u >> 16) | 0x40u);     /* quiet NaN */
  return (uint16_t) ((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

__device__ __forceinline__ float
bf16_to_f32 (uint16_t h)
{
  return __uint_as_float ((uint32_t) h << 16);
}

template <typename T>
__device__ __forceinline__ T
warp_sum (T v)
{
  for (int o = 16; o > 0; o >>= 1)
    v += __shfl_down_sync (0xffffffffu, v, o);
  return v;
}

__device__ __forceinline__ float
warp_max (float v)
{
  for (int o = 16; o > 0; o >>= 1)
    v = fmaxf (v, __shfl_down_sync (0xffffffffu, v, o));
  return v;
}

/* Sum over the block (blockDim.x a multiple of 32); every thread gets it. */
template <typename T>
__device__ T
block_sum (T v)
{
  __shared__ T sh[32];
  const int lane = threadIdx.x & 31, wid = threadIdx.x >> 5;
  const int nw = (blockDim.x + 31) >> 5;
  v = warp_sum (v);
  __syncthreads ();             /* sh may still be read by a previous call */
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
  v = warp_max (v);
  __syncthreads ();
  if (lane == 0)
    sh[wid] = v;
  __syncthreads ();
  if (wid == 0) {
    v = lane < nw ? sh[lane] : -INFINITY;
    v = warp_max (v);
    if (lane == 0)
      sh[0] = v;
  }
  __syncthreads ();
  return sh[0];
}

inline unsigned
grid_1d (size_t n)
{
  size_t g = (n + BLOCK - 1) / BLOCK;
  if (g < 1)
    g = 1;
  return (unsigned) (g < (size_t) MAX_GRID_X ? g : (size_t) MAX_GRID_X);
}

/* 3-D grid for an (nz, ny, nx) tensor walked by x-blocks of BLOCK. */
inline dim3
grid_3d (long nz, long ny, long nx)
{
  long gx = (nx + BLOCK - 1) / BLOCK;
  if (gx > MAX_GRID_X)
    gx = MAX_GRID_X;
  return dim3 ((unsigned) (gx < 1 ? 1 : gx),
      (unsigned) (ny < 1 ? 1 : (ny < MAX_GRID_YZ ? ny : MAX_GRID_YZ)),
      (unsigned) (nz < 1 ? 1 : (nz < MAX_GRID_YZ ? nz : MAX_GRID_YZ)));
}

#define GRID_STRIDE(i, n) \
  for (size_t i = (size_t) blockIdx.x * blockDim.x + threadIdx.x; i < (n); \
       i += (size_t) gridDim.x * blockDim.x)
#define LOOP_X(j, n) \
  for (long j = (long) blockIdx.x * blockDim.x + threadIdx.x; j < (n); \
       j += (long) gridDim.x * blockDim.x)
#define LOOP_Y(o, n) for (int o = blockIdx.y; o < (n); o += gridDim.y)
#define LOOP_Z(i, n) for (int i = blockIdx.z; i < (n); i += gridDim.z)

/* --------------------------------------------------------- element-wise */

__global__ void
k_add (size_t n, const float *a, const float *b, float *y)
{
  GRID_STRIDE (i, n) y[i] = a[i] + b[i];
}

__global__ void
k_scale (size_t n, float *x, float alpha)
{
  GRID_STRIDE (i, n) x[i] *= alpha;
}

__global__ void
k_relu (size_t n, const float *x, float *y)
{
  GRID_STRIDE (i, n) y[i] = fmaxf (x[i], 0.f);
}

__global__ void
k_relu_bwd (size_t n, const float *y, const float *dy, float *dx)
{
  GRID_STRIDE (i, n) dx[i] = y[i] > 0.f ? dy[i] : 0.f;
}

__global__ void
k_sumsq_part (size_t n, const float *x, double *part)
{
  double acc = 0;
  GRID_STRIDE (i, n) {
    double v = x[i];
    acc += v * v;
  }
  acc = block_sum (acc);
  if (threadIdx.x == 0)
    part[blockIdx.x] = acc;
}

__global__ void
k_sum_double_to_float (int n, const double *part, float *out)
{
  double acc = 0;
  for (int i = threadIdx.x; i < n; i += blockDim.x)
    acc += part[i];
  acc = block_sum (acc);
  if (threadIdx.x == 0)
    *out = (float) acc;
}

__global__ void
k_adam (size_t n, float *p, const float *g, float *m, float *v, float lr_t, float b1,
        float b2, float eps, float wd, float decay, float ibc2)
{
  GRID_STRIDE (i, n) {
    float pi = p[i];
    float pp = pi * decay;
    float gg = g[i] + wd * pi;
    float mm = b1 * m[i] + (1.f - b1) * gg;
    float vv = b2 * v[i] + (1.f - b2) * gg * gg;
    m[i] = mm;
    v[i] = vv;
    p[i] = pp - lr_t * mm / (sqrtf (vv) * ibc2 + eps);
  }
}

__global__ void
k_to_bf16 (size_t n, const float *src, uint16_t *dst)
{
  GRID_STRIDE (i, n) dst[i] = f32_to_bf16 (src[i]);
}

__global__ void
k_from_bf16 (size_t n, const uint16_t *src, float *dst)
{
  GRID_STRIDE (i, n) dst[i] = bf16_to_f32 (src[i]);
}

__global__ void
k_broadcast_rows (int rows, int cols, const float *v, float *y)
{
  LOOP_Y (r, rows) {
    LOOP_X (j, cols) y[(size_t) r * cols + j] = v[j];
  }
}

__global__ void
k_colsum_acc (int rows, int cols, const float *x, float *colsum)
{
  LOOP_X (j, cols) {
    double acc = 0;
    for (int i = 0; i < rows; i++)
      acc += x[(size_t) i * cols + j];
    colsum[j] += (float) acc;
  }
}

__global__ void
k_rowsum_acc (int rows, long cols, long ld, const float *x, float *rowsum)
{
  for (int r = blockIdx.x; r < rows; r += gridDim.x) {
    const float *xr = x + (size_t) r * ld;
    float acc = 0;
    for (long j = threadIdx.x; j < cols; j += blockDim.x)
      acc += xr[j];
    double s = block_sum ((double) acc);
    if (threadIdx.x == 0)
      rowsum[r] += (float) s;
  }
}

__global__ void
k_sum_parts_acc (size_t n, int groups, const float *parts, float *y)
{
  GRID_STRIDE (e, n) {
    float acc = 0;
    for (int g = 0; g < groups; g++)
      acc += parts[(size_t) g * n + e];
    y[e] += acc;
  }
}

/* --------------------------------------------------------------- conv1d */

template <bool BF>
__global__ void
k_im2col (EtpCukConv s, const float *x, void *colv)
{
  const long NL = (long) s.nc * s.l_out;
  const int rows = s.c_in * s.kernel;
  for (int r = blockIdx.y; r < rows; r += gridDim.y) {
    const int ci = r / s.kernel, k = r - ci * s.kernel;
    const int off = k - s.padding;
    LOOP_X (q, NL) {
      const int i = (int) (q / s.l_out), j = (int) (q - (long) i * s.l_out);
      const int t = j * s.stride + off;
      float v = 0.f;
      if (t >= 0 && t < s.l_in)
        v = x[((size_t) (s.n0 + i) * s.c_in + ci) * s.l_in + t];
      if (BF)
        ((uint16_t *) colv)[(size_t) r * NL + q] = f32_to_bf16 (v);
      else
        ((float *) colv)[(size_t) r * NL + q] = v;
    }
  }
}

__global__ void
k_col2im (EtpCukConv s, const float *col, float *dx, int accumulate)
{
  const long NL = (long) s.nc * s.l_out;
  const int K = s.kernel, S = s.stride, P = s.padding;
  LOOP_Z (i, s.nc) {
    LOOP_Y (ci, s.c_in) {
      float *dst = dx + ((size_t) (s.n0 + i) * s.c_in + ci) * s.l_in;
      const float *cb = col + (size_t) ci * K * NL + (size_t) i * s.l_out;
      LOOP_X (t, (long) s.l_in) {
        float acc = 0.f;
        for (int k = 0; k < K; k++) {
          const int u = (int) t + P - k;
          if (u < 0)
            continue;
          const int j = u / S;
          if (j * S != u || j >= s.l_out)
            continue;
          acc += cb[(size_t) k * NL + j];
        }
        if (accumulate)
          dst[t] += acc;
        else
          dst[t] = acc;
      }
    }
  }
}

__global__ void
k_conv_epilogue (EtpCukConv s, const float *bias, const float *res, int relu, float *y)
{
  LOOP_Z (i, s.nc) {
    LOOP_Y (o, s.c_out) {
      const float b = bias ? bias[o] : 0.f;
      const size_t yo = ((size_t) (s.n0 + i) * s.c_out + o) * s.l_out;
      LOOP_X (j, (long) s.l_out) {
        float v = y[yo + j] + b;
        if (res)
          v += res[yo + j];
        if (relu)
          v = fmaxf (v, 0.f);
        y[yo + j] = v;
      }
    }
  }
}

__global__ void
k_conv_gather_dy (EtpCukConv s, const float *dy, float *dyT)
{
  const long NL = (long) s.nc * s.l_out;
  LOOP_Z (i, s.nc) {
    LOOP_Y (o, s.c_out) {
      const float *src = dy + ((size_t) (s.n0 + i) * s.c_out + o) * s.l_out;
      float *dst = dyT + (size_t) o * NL + (size_t) i * s.l_out;
      LOOP_X (j, (long) s.l_out) dst[j] = src[j];
    }
  }
}

/* ------------------------------------------------------------ batchnorm */

/* part[ch * S + s] = sum over samples [s*n/S, (s+1)*n/S) of x (or of
 * (x - mean[ch])^2 when mean is given). grid (S, c). */
__global__ void
k_bn_sum (int n, int c, int l, int S, const float *x, const float *mean, float *part)
{
  const int s = blockIdx.x, ch = blockIdx.y;
  const int i0 = (int) ((long) s * n / S), i1 = (int) ((long) (s + 1) * n / S);
  const float mu = mean ? mean[ch] : 0.f;
  float acc = 0.f;
  for (int i = i0; i < i1; i++) {
    const float *row = x + ((size_t) i * c + ch) * l;
    if (mean) {
      for (int t = threadIdx.x; t < l; t += blockDim.x) {
        float d = row[t] - mu;
        acc += d * d;
      }
    } else {
      for (int t = threadIdx.x; t < l; t += blockDim.x)
        acc += row[t];
    }
  }
  double tot = block_sum ((double) acc);
  if (threadIdx.x == 0)
    part[ch * S + s] = (float) tot;
}

__global__ void
k_bn_mean_fin (int c, int S, double M, const float *part, float *save_mean)
{
  for (int ch = blockIdx.x * blockDim.x + threadIdx.x; ch < c; ch += gridDim.x * blockDim.x) {
    double s = 0;
    for (int k = 0; k < S; k++)
      s += part[ch * S + k];
    save_mean[ch] = (float) (s / M);
  }
}

__global__ void
k_bn_var_fin (int c, int S, double M, const float *part, float eps, float momentum,
              const float *save_mean, float *save_invstd, float *rmean, float *rvar)
{
  for (int ch = blockIdx.x * blockDim.x + threadIdx.x; ch < c; ch += gridDim.x * blockDim.x) {
    double ss = 0;
    for (int k = 0; k < S; k++)
      ss += part[ch * S + k];
    double var = ss / M;
    save_invstd[ch] = (float) (1.0 / sqrt (var + (double) eps));
    if (rmean)
      rmean[ch] = (1.f - momentum) * rmean[ch] + momentum * save_mean[ch];
    if (rvar)
      rvar[ch] = (1.f - momentum) * rvar[ch] + momentum * (float) (M > 1 ? ss / (M - 1) : var);
  }
}

/* y = relu?(x * scale + shift + res); train: scale from the batch stats
 * (a = save_mean, b = save_invstd), eval: from the running stats (a = rmean,
 * b = rvar). y may alias x. */
__global__ void
k_bn_apply (int n, int c, int l, int train, const float *x, const float *gamma,
            const float *beta, const float *a, const float *b, float eps, const float *res,
            int relu, float *y)
{
  LOOP_Z (i, n) {
    LOOP_Y (ch, c) {
      float scale, shift;
      if (train) {
        scale = gamma[ch] * b[ch];
      } else {
        scale = gamma[ch] / sqrtf (b[ch] + eps);
      }
      shift = beta[ch] - a[ch] * scale;
      const size_t off = ((size_t) i * c + ch) * l;
      LOOP_X (t, (long) l) {
        float v = x[off + t] * scale + shift;
        if (res)
          v += res[off + t];
        if (relu)
          v = fmaxf (v, 0.f);
        y[off + t] = v;
      }
    }
  }
}

/* sums of g and g * (x - mean) per (channel, split); g = dy masked by
 * y_relu > 0 when given, written to dres when given. grid (S, c). */
__global__ void
k_bn_bwd_sum (int n, int c, int l, int S, const float *x, const float *dy, const float *yr,
              const float *mean, float *dres, float *part_g, float *part_gx)
{
  const int s = blockIdx.x, ch = blockIdx.y;
  const int i0 = (int) ((long) s * n / S), i1 = (int) ((long) (s + 1) * n / S);
  const float mu = mean[ch];
  float ag = 0.f, agx = 0.f;
  for (int i = i0; i < i1; i++) {
    const size_t off = ((size_t) i * c + ch) * l;
    for (int t = threadIdx.x; t < l; t += blockDim.x) {
      float g = dy[off + t];
      if (yr && !(yr[off + t] > 0.f))
        g = 0.f;
      if (dres)
        dres[off + t] = g;
      ag += g;
      agx += g * (x[off + t] - mu);
    }
  }
  double sg = block_sum ((double) ag);
  double sgx = block_sum ((double) agx);
  if (threadIdx.x == 0) {
    part_g[ch * S + s] = (float) sg;
    part_gx[ch * S + s] = (float) sgx;
  }
}

__global__ void
k_bn_bwd_fin (int c, int S, double M, const float *part_g, const float *part_gx,
              const float *gamma, const float *save_mean, const float *save_invstd,
              float *dgamma, float *dbeta, float *kc)
{
  for (int ch = blockIdx.x * blockDim.x + threadIdx.x; ch < c; ch += gridDim.x * blockDim.x) {
    double sg = 0, sgx = 0;
    for (int k = 0; k < S; k++) {
      sg += part_g[ch * S + k];
      sgx += part_gx[ch * S + k];
    }
    const double invstd = save_invstd[ch];
    const double sgxhat = sgx * invstd;
    if (dgamma)
      dgamma[ch] += (float) sgxhat;
    if (dbeta)
      dbeta[ch] += (float) sg;
    const double k1 = (double) gamma[ch] * invstd;
    const double k2 = -k1 * invstd * sgxhat / M;
    const double k3 = -k1 * sg / M - k2 * save_mean[ch];
    kc[3 * ch] = (float) k1;
    kc[3 * ch + 1] = (float) k2;
    kc[3 * ch + 2] = (float) k3;
  }
}

/* dx = k1 g + k2 x + k3; g from gsrc, masked by yr when yr is given. */
__global__ void
k_bn_bwd_apply (int n, int c, int l, const float *x, const float *gsrc, const float *yr,
                const float *kc, float *dx)
{
  LOOP_Z (i, n) {
    LOOP_Y (ch, c) {
      const float k1 = kc[3 * ch], k2 = kc[3 * ch + 1], k3 = kc[3 * ch + 2];
      const size_t off = ((size_t) i * c + ch) * l;
      LOOP_X (t, (long) l) {
        float g = gsrc[off + t];
        if (yr && !(yr[off + t] > 0.f))
          g = 0.f;
        dx[off + t] = k1 * g + k2 * x[off + t] + k3;
      }
    }
  }
}

__global__ void
k_bn_fold (int c_out, int row, const float *w, const float *bias_in, const float *gamma,
           const float *beta, const float *rmean, const float *rvar, float eps, float *w_out,
           float *b_out)
{
  const size_t nw = (size_t) c_out * row;
  GRID_STRIDE (e, nw + c_out) {
    if (e < nw) {
      const int o = (int) (e / row);
      const float s = gamma[o] / sqrtf (rvar[o] + eps);
      w_out[e] = w[e] * s;
    } else {
      const int o = (int) (e - nw);
      const float s = gamma[o] / sqrtf (rvar[o] + eps);
      const float bi = bias_in ? bias_in[o] : 0.f;
      b_out[o] = beta[o] + (bi - rmean[o]) * s;
    }
  }
}

/* ----------------------------------------------------------------- pool */

__global__ void
k_avgpool_fwd (long rows, int l, const float *x, float *y)
{
  const int lane = threadIdx.x & 31;
  const long warps = (long) gridDim.x * (blockDim.x >> 5);
  for (long r = (long) blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5); r < rows;
       r += warps) {
    const float *xr = x + (size_t) r * l;
    float acc = 0.f;
    for (int t = lane; t < l; t += 32)
      acc += xr[t];
    acc = warp_sum (acc);
    if (lane == 0)
      y[r] = acc / (float) l;
  }
}

__global__ void
k_avgpool_bwd (int n, int c, int l, const float *dy, float *dx, int accumulate)
{
  LOOP_Z (i, n) {
    LOOP_Y (ch, c) {
      const size_t r = (size_t) i * c + ch;
      const float g = dy[r] / (float) l;
      float *d = dx + r * l;
      LOOP_X (t, (long) l) {
        if (accumulate)
          d[t] += g;
        else
          d[t] = g;
      }
    }
  }
}

/* ------------------------------------------------------------- row-wise */

__global__ void
k_l2norm_fwd (int b, int d, float eps, const float *x, float *y)
{
  for (int r = blockIdx.x; r < b; r += gridDim.x) {
    const float *xr = x + (size_t) r * d;
    float *yr = y + (size_t) r * d;
    double acc = 0;
    for (int k = threadIdx.x; k < d; k += blockDim.x)
      acc += (double) xr[k] * xr[k];
    double nrm = sqrt (block_sum (acc));
    const float inv = (float) (1.0 / fmax (nrm, (double) eps));
    for (int k = threadIdx.x; k < d; k += blockDim.x)
      yr[k] = xr[k] * inv;
  }
}

__global__ void
k_l2norm_bwd (int b, int d, float eps, const float *x, const float *dy, float *dx)
{
  for (int r = blockIdx.x; r < b; r += gridDim.x) {
    const float *xr = x + (size_t) r * d, *gr = dy + (size_t) r * d;
    float *dr = dx + (size_t) r * d;
    double axx = 0, axg = 0;
    for (int k = threadIdx.x; k < d; k += blockDim.x) {
      axx += (double) xr[k] * xr[k];
      axg += (double) xr[k] * gr[k];
    }
    const double nrm = sqrt (block_sum (axx));
    const double xg = block_sum (axg);
    if (nrm > eps) {
      const float inv = (float) (1.0 / nrm);
      const float cc = (float) (xg / (nrm * nrm * nrm));
      for (int k = threadIdx.x; k < d; k += blockDim.x)
        dr[k] = gr[k] * inv - xr[k] * cc;
    } else {
      const float inv = 1.f / eps;
      for (int k = threadIdx.x; k < d; k += blockDim.x)
        dr[k] = gr[k] * inv;
    }
  }
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

/* one block per row: ws[i] = lse_i - z_i[t_i]; dlogits. */
__global__ void
k_xent_rows (int b, int c, const float *logits, const int32_t *targets, float *dlogits,
             double *ws, int *status)
{
  for (int i = blockIdx.x; i < b; i += gridDim.x) {
    const float *z = logits + (size_t) i * c;
    const int t = targets[i];
    if (t < 0 || t >= c) {
      if (threadIdx.x == 0) {
        set_status (status, ETP_CUK_BAD_TARGET, i, t, c);
        ws[i] = (double) NAN;
      }
      continue;                 /* uniform per block: no barrier skipped */
    }
    float mx = -INFINITY;
    for (int k = threadIdx.x; k < c; k += blockDim.x)
      mx = fmaxf (mx, z[k]);
    mx = block_max (mx);
    double se = 0;
    for (int k = threadIdx.x; k < c; k += blockDim.x)
      se += exp ((double) z[k] - mx);
    const double lse = mx + log (block_sum (se));
    if (threadIdx.x == 0)
      ws[i] = lse - z[t];
    if (dlogits) {
      float *g = dlogits + (size_t) i * c;
      for (int k = threadIdx.x; k < c; k += blockDim.x)
        g[k] = (float) ((exp ((double) z[k] - lse) - (k == t ? 1.0 : 0.0)) / b);
    }
  }
}

__global__ void
k_mean_double_to_float (int n, double scale, const double *v, float *out)
{
  double acc = 0;
  for (int i = threadIdx.x; i < n; i += blockDim.x)
    acc += v[i];
  acc = block_sum (acc);
  if (threadIdx.x == 0)
    *out = (float) (acc * scale);
}

/* CLIP: blocks [0, b) do rows, [b, 2b) columns of L = s * raw:
 * lse[r] and term[r] = lse[r] - L[diag]. */
__global__ void
k_clip_lse (int b, const float *raw, const float *logit_scale, double *lse, double *term)
{
  const float s = expf (*logit_scale);
  for (int r = blockIdx.x; r < 2 * b; r += gridDim.x) {
    const bool row = r < b;
    const int q = row ? r : r - b;
    const size_t base = row ? (size_t) q * b : (size_t) q;
    const size_t step = row ? 1 : (size_t) b;
    float mx = -INFINITY;
    for (int k = threadIdx.x; k < b; k += blockDim.x)
      mx = fmaxf (mx, s * raw[base + k * step]);
    mx = block_max (mx);
    double se = 0;
    for (int k = threadIdx.x; k < b; k += blockDim.x)
      se += exp ((double) (s * raw[base + k * step]) - mx);
    const double l = mx + log (block_sum (se));
    if (threadIdx.x == 0) {
      lse[r] = l;
      term[r] = l - (double) (s * raw[(size_t) q * b + q]);
    }
  }
}

/* one block per row i: G = dloss/dL (row and column CE halves), gs = s G,
 * logits_out = L, gl[i] = sum_k G L. */
__global__ void
k_clip_grad (int b, const float *raw, const float *logit_scale, const double *lse,
             float *logits_out, float *gs, double *gl)
{
  const float s = expf (*logit_scale);
  const double h = 0.5 / b;
  for (int i = blockIdx.x; i < b; i += gridDim.x) {
    double acc = 0;
    for (int k = threadIdx.x; k < b; k += blockDim.x) {
      const size_t e = (size_t) i * b + k;
      const float L = s * raw[e];
      const double one = (k == i) ? 1.0 : 0.0;
      float g = (float) ((exp ((double) L - lse[i]) - one) * h);
      g += (float) ((exp ((double) L - lse[b + k]) - one) * h);
      if (logits_out)
        logits_out[e] = L;
      gs[e] = s * g;
      acc += (double) g * L;
    }
    acc = block_sum (acc);
    if (threadIdx.x == 0)
      gl[i] = acc;
  }
}

__global__ void
k_clip_fin (int b, const double *term, const double *gl, float *loss, float *dlogit_scale)
{
  double t = 0, g = 0;
  for (int i = threadIdx.x; i < 2 * b; i += blockDim.x)
    t += term[i];
  for (int i = threadIdx.x; i < b; i += blockDim.x)
    g += gl[i];
  t = block_sum (t);
  g = block_sum (g);
  if (threadIdx.x == 0) {
    *loss = (float) (t * 0.5 / b);
    if (dlogit_scale)
      *dlogit_scale += (float) g;
  }
}

} /* namespace */

/* ================================================================ launchers */

#define LAUNCH_1D(kernel, n, ...) \
  do { \
    kernel<<<grid_1d (n), BLOCK, 0, st>>> (__VA_ARGS__); \
  } while (0)

extern "C" {

cudaError_t
etp_cuk_probe (void)
{
  cudaFuncAttributes attr;
  return cudaFuncGetAttributes (&attr, k_add);
}

cudaError_t
etp_cuk_add (cudaStream_t st, size_t n, const float *a, const float *b, float *y)
{
  LAUNCH_1D (k_add, n, n, a, b, y);
  return cudaGetLastError ();
}

cudaError_t
etp_cuk_scale (cudaStream_t st, size_t n, float *x, float alpha)
{
  LAUNCH_1D (k_scale, n, n, x, alpha);
  return cudaGetLastError ();
}

cudaError_t
etp_cuk_relu (cudaStream_t st, size_t n, const float *x, float *y)
{
  LAUNCH_1D (k_relu, n, n, x, y);
  return cudaGetLastError ();
}

cudaError_t
etp_cuk_relu_bwd (cudaStream_t st, size_t n, const float *y, const float *dy, float *dx)
{
  LAUNCH_1D (k_relu_bwd, n, n, y, dy, dx);
  return cudaGetLastError ();
}

cudaError_t
etp_cuk_sumsq (cudaStream_t st, size_t n, const float *x, float *out, double *ws)
{
  k_sumsq_part<<<ETP_CUK_SUMSQ_BLOCKS, BLOCK, 0, st>>> (n, x, ws);
  k_sum_double_to_float<<<1, BLOCK, 0, st>>> (ETP_CUK_SUMSQ_BLOCKS, ws, out);
  return cudaGetLastError ();
}

cudaError_t
etp_cuk_adam (cudaStream_t st, size_t n, float *p, const float *g, float *m, float *v,
              float lr_t, float b1, float b2, float eps, float wd, float decay, float ibc2)
{
  LAUNCH_1D (k_adam, n, n, p, g, m, v, lr_t, b1, b2, eps, wd, decay, ibc2);
  return cudaGetLastError ();
}

cudaError_t
etp_cuk_f32_to_bf16 (cudaStream_t st, size_t n, const float *src, uint16_t *dst)
{
  LAUNCH_1D (k_to_bf16, n, n, src, dst);
  return cudaGetLastError ();
}

cudaError_t
etp_cuk_bf16_to_f32 (cudaStream_t st, size_t n, const uint16_t *src, float *dst)
{
  LAUNCH_1D (k_from_bf16, n, n, src, dst);
  return cudaGetLastError ();
}

cudaError_t
etp_cuk_broadcast_rows (cudaStream_t st, int rows, int cols, const float *v, float *y)
{
  k_broadcast_rows<<<grid_3d (1, rows, cols), BLOCK, 0, st>>> (rows, cols, v, y);
  return cudaGetLastError ();
}

cudaError_t
etp_cuk_colsum_acc (cudaStream_t st, int rows, int cols, const float *x, float *colsum)
{
  k_colsum_acc<<<grid_1d ((size_t) cols), BLOCK, 0, st>>> (rows, cols, x, colsum);
  return cudaGetLastError ();
}

cudaError_t
etp_cuk_rowsum_acc (cudaStream_t st, int rows, int cols, long ld, const float *x,
                    float *rowsum)
{
  int g = rows < 65535 ? rows : 65535;
  k_rowsum_acc<<<g, BLOCK, 0, st>>> (rows, cols, ld, x, rowsum);
  return cudaGetLastError ();
}

cudaError_t
etp_cuk_sum_parts_acc (cudaStream_t st, size_t n, int groups, const float *parts, float *y)
{
  LAUNCH_1D (k_sum_parts_acc, n, n, groups, parts, y);
  return cudaGetLastError ();
}

cudaError_t
etp_cuk_im2col (cudaStream_t st, const EtpCukConv *s, const float *x, void *col, int bf16)
{
  dim3 g = grid_3d (1, (long) s->c_in * s->kernel, (long) s->nc * s->l_out);
  if (bf16)
    k_im2col<true><<<g, BLOCK, 0, st>>> (*s, x, col);
  else
    k_im2col<false><<<g, BLOCK, 0, st>>> (*s, x, col);
  return cudaGetLastError ();
}

cudaError_t
etp_cuk_col2im (cudaStream_t st, const EtpCukConv *s, const float *col, float *dx,
                int accumulate)
{
  k_col2im<<<grid_3d (s->nc, s->c_in, s->l_in), BLOCK, 0, st>>> (*s, col, dx, accumulate);
  return cudaGetLastError ();
}

cudaError_t
etp_cuk_conv_epilogue (cudaStream_t st, const EtpCukConv *s, const float *bias,
                       const float *residual, int relu, float *y)
{
  k_conv_epilogue<<<grid_3d (s->nc, s->c_out, s->l_out), BLOCK, 0, st>>> (*s, bias, residual,
      relu, y);
  return cudaGetLastError ();
}

cudaError_t
etp_cuk_conv_gather_dy (cudaStream_t st, const EtpCukConv *s, const float *dy, float *dyT)
{
  k_conv_gather_dy<<<grid_3d (s->nc, s->c_out, s->l_out), BLOCK, 0, st>>> (*s, dy, dyT);
  return cudaGetLastError ();
}

/* Splits of the sample range per channel: about 1024 blocks in all. */
static int
bn_splits (int n, int c)
{
  int S = 1024 / (c > 0 ? c : 1);
  if (S > n)
    S = n;
  if (S > ETP_CUK_BN_MAX_SPLITS)
    S = ETP_CUK_BN_MAX_SPLITS;
  return S < 1 ? 1 : S;
}

cudaError_t
etp_cuk_bn_forward_train (cudaStream_t st, int n, int c, int l, const float *x,
                          const float *gamma, const float *beta, float *rmean, float *rvar,
                          float momentum, float eps, const float *residual, int relu,
                          float *y, float *save_mean, float *save_invstd, float *ws)
{
  const int S = bn_splits (n, c);
  const double M = (double) n * l;
  const unsigned gc = (unsigned) ((c + BLOCK - 1) / BLOCK);
  k_bn_sum<<<dim3 (S, c), BLOCK, 0, st>>> (n, c, l, S, x, NULL, ws);
  k_bn_mean_fin<<<gc, BLOCK, 0, st>>> (c, S, M, ws, save_mean);
  k_bn_sum<<<dim3 (S, c), BLOCK, 0, st>>> (n, c, l, S, x, save_mean, ws);
  k_bn_var_fin<<<gc, BLOCK, 0, st>>> (c, S, M, ws, eps, momentum, save_mean, save_invstd,
      rmean, rvar);
  k_bn_apply<<<grid_3d (n, c, l), BLOCK, 0, st>>> (n, c, l, 1, x, gamma, beta, save_mean,
      save_invstd, eps, residual, relu, y);
  return cudaGetLastError ();
}

cudaError_t
etp_cuk_bn_forward_eval (cudaStream_t st, int n, int c, int l, const float *x,
                         const float *gamma, const float *beta, const float *rmean,
                         const float *rvar, float eps, const float *residual, int relu,
                         float *y)
{
  k_bn_apply<<<grid_3d (n, c, l), BLOCK, 0, st>>> (n, c, l, 0, x, gamma, beta, rmean, rvar,
      eps, residual, relu, y);
  return cudaGetLastError ();
}

cudaError_t
etp_cuk_bn_backward (cudaStream_t st, int n, int c, int l, const float *x, const float *gamma,
                     const float *save_mean, const float *save_invstd, const float *dy,
                     const float *y_relu, float *dx, float *dgamma, float *dbeta,
                     float *dres, float *ws)
{
  const int S = bn_splits (n, c);
  const double M = (double) n * l;
  float *pg = ws, *pgx = ws + (size_t) c * ETP_CUK_BN_MAX_SPLITS;
  float *kc = ws + (size_t) 2 * c * ETP_CUK_BN_MAX_SPLITS;
  k_bn_bwd_sum<<<dim3 (S, c), BLOCK, 0, st>>> (n, c, l, S, x, dy, y_relu, save_mean, dres,
      pg, pgx);
  k_bn_bwd_fin<<<(unsigned) ((c + BLOCK - 1) / BLOCK), BLOCK, 0, st>>> (c, S, M, pg, pgx,
      gamma, save_mean, save_invstd, dgamma, dbeta, kc);
  /* with dres, the masked gradient is already there (dres may alias dy) */
  k_bn_bwd_apply<<<grid_3d (n, c, l), BLOCK, 0, st>>> (n, c, l, x, dres ? dres : dy,
      dres ? NULL : y_relu, kc, dx);
  return cudaGetLastError ();
}

cudaError_t
etp_cuk_bn_fold (cudaStream_t st, int c_out, int row, const float *w, const float *bias_in,
                 const float *gamma, const float *beta, const float *rmean, const float *rvar,
                 float eps, float *w_out, float *b_out)
{
  size_t n = (size_t) c_out * row + c_out;
  LAUNCH_1D (k_bn_fold, n, c_out, row, w, bias_in, gamma, beta, rmean, rvar, eps, w_out,
      b_out);
  return cudaGetLastError ();
}

cudaError_t
etp_cuk_avgpool_forward (cudaStream_t st, int n, int c, int l, const float *x, float *y)
{
  long rows = (long) n * c;
  long blocks = (rows + (BLOCK / 32) - 1) / (BLOCK / 32);
  if (blocks > MAX_GRID_X)
    blocks = MAX_GRID_X;
  k_avgpool_fwd<<<(unsigned) blocks, BLOCK, 0, st>>> (rows, l, x, y);
  return cudaGetLastError ();
}

cudaError_t
etp_cuk_avgpool_backward (cudaStream_t st, int n, int c, int l, const float *dy, float *dx,
                          int accumulate)
{
  k_avgpool_bwd<<<grid_3d (n, c, l), BLOCK, 0, st>>> (n, c, l, dy, dx, accumulate);
  return cudaGetLastError ();
}

cudaError_t
etp_cuk_l2norm_forward (cudaStream_t st, int b, int d, float eps, const float *x, float *y)
{
  k_l2norm_fwd<<<b < 65535 ? b : 65535, BLOCK, 0, st>>> (b, d, eps, x, y);
  return cudaGetLastError ();
}

cudaError_t
etp_cuk_l2norm_backward (cudaStream_t st, int b, int d, float eps, const float *x,
                         const float *dy, float *dx)
{
  k_l2norm_bwd<<<b < 65535 ? b : 65535, BLOCK, 0, st>>> (b, d, eps, x, dy, dx);
  return cudaGetLastError ();
}

cudaError_t
etp_cuk_softmax_xent (cudaStream_t st, int b, int c, const float *logits,
                      const int32_t *targets, float *loss, float *dlogits, double *ws,
                      int *status)
{
  k_xent_rows<<<b < 65535 ? b : 65535, BLOCK, 0, st>>> (b, c, logits, targets, dlogits, ws,
      status);
  k_mean_double_to_float<<<1, BLOCK, 0, st>>> (b, 1.0 / b, ws, loss);
  return cudaGetLastError ();
}

cudaError_t
etp_cuk_clip_loss (cudaStream_t st, int b, const float *raw, const float *logit_scale,
                   float *loss, float *dlogit_scale, float *logits_out, float *gs, double *ws)
{
  double *lse = ws, *term = ws + 2 * (size_t) b, *gl = ws + 4 * (size_t) b;
  k_clip_lse<<<2 * b < 65535 ? 2 * b : 65535, BLOCK, 0, st>>> (b, raw, logit_scale, lse, term);
  k_clip_grad<<<b < 65535 ? b : 65535, BLOCK, 0, st>>> (b, raw, logit_scale, lse, logits_out,
      gs, gl);
  k_clip_fin<<<1, BLOCK, 0, st>>> (b, term, gl, loss, dlogit_scale);
  return cudaGetLastError ();
}

} /* extern "C" */
