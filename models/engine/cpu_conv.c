/* Conv1d on the CPU as GEMMs over "virtual columns".
 *
 * The output of a conv is viewed as n * l_out columns (sample-major); each
 * column needs c_in * kernel inputs (its im2col column). The columns are cut
 * into chunks of about `cols` columns (288-4032, a multiple of 48) that may span several samples (deep
 * layers have short l_out, so several samples share one product and the
 * weight matrix is packed once per chunk instead of once per sample). Per
 * chunk, one single-threaded sgemm:
 *   forward:         T (c_out x cols) = W (c_out x ck) . col (ck x cols)
 *   backward data:   dcol (ck x cols) = W^T . dY (c_out x cols)   -> col2im
 *   backward weight: dW_t (c_out x ck) += dY (c_out x cols) . col^T
 * with ck = c_in * kernel. When a chunk lies inside one sample, the product
 * reads / writes the tensors in place (ld = l_out); otherwise through the
 * per-thread tile T. The forward epilogue (bias, residual, ReLU) runs while
 * the tile is in cache. 1x1 stride-1 convs skip im2col. Threads own
 * contiguous column ranges (forward, backward weight with per-thread
 * accumulators reduced at the end) or whole samples (backward data, whose
 * col2im windows overlap). No allocation per call: everything lives in the
 * backend's per-thread scratch. */
#include "config.h"
#include "engine/cpu.h"

#include <immintrin.h>
#include <string.h>

typedef struct {
  EtpBackend *be;
  EtpCpu *cpu;
  EtpConv1dShape s;
  int l_out, ck, cols;
  gboolean direct;        /* kernel 1, stride 1, padding 0 */
  const float *x, *w, *bias, *residual, *dy;
  float *y, *dx, *dw, *dbias;
  gboolean relu, accumulate, round_bf16;
  size_t off_t, off_dw;   /* offsets of T and dW_t in the thread scratch */
  int nt;
  /* native bf16 forward: packed weights, padded sizes, scratch offsets */
  const uint32_t *ap;
  const float *wp;        /* W (forward) or W^T (backward data) pre-packed, or NULL */
  int kp, m8, npad;
  size_t off_bp, off_t16;
} ConvCtx;

static inline float
round_bf16 (float f)
{
  return etp_bf16_to_f32_one (etp_f32_to_bf16_one (f));
}

/* col[(ci*K + k) * ld + j] = x[ci, (l0 + j) * stride + k - pad] (0 outside),
 * j in [0, lt) */
static void
im2col (const ConvCtx *c, const float *xn, int l0, int lt, float *col, int ld)
{
  const EtpConv1dShape *s = &c->s;
  const int K = s->kernel, S = s->stride, P = s->padding, Lin = s->l_in;
  for (int ci = 0; ci < s->c_in; ci++) {
    const float *xr = xn + (size_t) ci * Lin;
    for (int k = 0; k < K; k++) {
      float *cr = col + ((size_t) ci * K + k) * ld;
      int off = k - P;
      int jb = 0, je = lt;
      while (jb < lt && (l0 + jb) * S + off < 0)
        jb++;
      while (je > jb && (l0 + je - 1) * S + off >= Lin)
        je--;
      for (int j = 0; j < jb; j++)
        cr[j] = 0.f;
      const float *src = xr + (ptrdiff_t) l0 * S + off;
      if (S == 1)
        memcpy (cr + jb, src + jb, (size_t) (je - jb) * sizeof (float));
      else if (S == 2)
        for (int j = jb; j < je; j++)
          cr[j] = src[2 * j];
      else
        for (int j = jb; j < je; j++)
          cr[j] = src[(ptrdiff_t) j * S];
      if (c->round_bf16)
        for (int j = jb; j < je; j++)
          cr[j] = round_bf16 (cr[j]);
      for (int j = je; j < lt; j++)
        cr[j] = 0.f;
    }
  }
}

/* dx[ci, (l0+j)*stride + k - pad] += col[(ci*K + k) * ld + j] */
static void
col2im (const ConvCtx *c, const float *col, int ld, int l0, int lt, float *dxn)
{
  const EtpConv1dShape *s = &c->s;
  const int K = s->kernel, S = s->stride, P = s->padding, Lin = s->l_in;
  for (int ci = 0; ci < s->c_in; ci++) {
    float *xr = dxn + (size_t) ci * Lin;
    for (int k = 0; k < K; k++) {
      const float *cr = col + ((size_t) ci * K + k) * ld;
      int off = k - P;
      int jb = 0, je = lt;
      while (jb < lt && (l0 + jb) * S + off < 0)
        jb++;
      while (je > jb && (l0 + je - 1) * S + off >= Lin)
        je--;
      float *dst = xr + (ptrdiff_t) l0 * S + off;
      if (S == 1)
        c->cpu->vec->add (dst + jb, cr + jb, je - jb, dst + jb);
      else
        for (int j = jb; j < je; j++)
          dst[(ptrdiff_t) j * S] += cr[j];
    }
  }
}

/* A chunk [v0, v1) of virtual columns, visited as per-sample pieces. */
#define FOR_PIECES(c, v0, v1, n, l, len, coff) \
  for (size_t _v = (v0), n, l, len, coff; \
       _v < (v1) && ((n = _v / (c)->l_out), (l = _v % (c)->l_out), \
           (len = MIN ((size_t) (c)->l_out - l, (v1) - _v)), (coff = _v - (v0)), 1); \
       _v += len)

static void
fwd_task (void *data, int tid, int nt)
{
  ConvCtx *c = data;
  const EtpConv1dShape *s = &c->s;
  const EtpCpuVec *vec = c->cpu->vec;
  float *col = c->cpu->scratch[tid], *T = col + c->off_t;
  size_t total = (size_t) s->n * c->l_out, b, e;
  etp_cpu_range ((total + 15) / 16, tid, nt, &b, &e);
  b *= 16;
  e = MIN (e * 16, total);
  for (size_t v0 = b; v0 < e; v0 += c->cols) {
    size_t v1 = MIN (v0 + c->cols, e);
    int w = (int) (v1 - v0);
    size_t n0 = v0 / c->l_out;
    gboolean single = (v1 - 1) / c->l_out == n0;
    const float *B;
    int ldb;
    if (single && c->direct) {
      B = c->x + n0 * s->c_in * s->l_in + v0 % c->l_out;
      ldb = s->l_in;
    } else {
      FOR_PIECES (c, v0, v1, n, l, len, coff)
        im2col (c, c->x + n * s->c_in * s->l_in, (int) l, (int) len, col + coff, w);
      B = col;
      ldb = w;
    }
    if (single) {
      size_t l0 = v0 % c->l_out;
      float *yn = c->y + n0 * s->c_out * c->l_out;
      const float *rn = c->residual ? c->residual + n0 * s->c_out * c->l_out : NULL;
      if (c->wp)
        etp_cpu_sgemm_packed (c->cpu, c->wp, s->c_out, w, c->ck, 1.f, B, ldb, FALSE, 0.f,
            yn + l0, c->l_out);
      else
        etp_cpu_sgemm (c->cpu, FALSE, FALSE, s->c_out, w, c->ck, 1.f, c->w, c->ck, B, ldb, 0.f,
            yn + l0, c->l_out);
      if (c->bias || rn || c->relu)
        for (int o = 0; o < s->c_out; o++) {
          size_t off = (size_t) o * c->l_out + l0;
          vec->bias_res_relu (yn + off, w, c->bias ? c->bias[o] : 0.f, rn ? rn + off : NULL,
              c->relu);
        }
    } else {
      if (c->wp)
        etp_cpu_sgemm_packed (c->cpu, c->wp, s->c_out, w, c->ck, 1.f, B, ldb, FALSE, 0.f, T, w);
      else
        etp_cpu_sgemm (c->cpu, FALSE, FALSE, s->c_out, w, c->ck, 1.f, c->w, c->ck, B, ldb, 0.f,
            T, w);
      FOR_PIECES (c, v0, v1, n, l, len, coff) {
        for (int o = 0; o < s->c_out; o++) {
          size_t off = (n * s->c_out + o) * c->l_out + l;
          vec->affine (T + (size_t) o * w + coff, len, 1.f, c->bias ? c->bias[o] : 0.f,
              c->residual ? c->residual + off : NULL, c->relu, c->y + off);
        }
      }
    }
  }
}

/* ~ columns per chunk: keep the im2col block near 512 KiB, at least 288
 * columns so the product stays efficient, a multiple of the micro-kernels'
 * 48 columns */
static void
ctx_init (ConvCtx *c, EtpBackend *be, const EtpConv1dShape *s)
{
  memset (c, 0, sizeof *c);
  c->be = be;
  c->cpu = etp_cpu (be);
  c->s = *s;
  c->l_out = etp_conv1d_out_len (s);
  c->ck = s->c_in * s->kernel;
  c->direct = s->kernel == 1 && s->stride == 1 && s->padding == 0;
  int cols = (int) (128 * 1024 / MAX (c->ck, 1));
  cols = CLAMP (cols, 288, 4032);
  cols = (cols + 47) / 48 * 48;   /* whole 48-column micro-panels */
  if (c->cpu->conv_cols > 0)
    cols = c->cpu->conv_cols;   /* tests: many small chunks */
  c->cols = cols;
  c->off_t = ((size_t) c->ck * cols + 15) & ~(size_t) 15;
  c->off_dw = c->off_t + (((size_t) s->c_out * cols + 15) & ~(size_t) 15);
  c->nt = c->cpu->n_threads;
}

static void
conv_forward (EtpBackend *be, const EtpConv1dShape *s, const float *x, const float *w,
              const float *bias, const float *residual, gboolean relu, float *y,
              gboolean bf16)
{
  ConvCtx c;
  ctx_init (&c, be, s);
  if (!etp_cpu_scratch (be, c.off_dw))
    return;
  c.x = x;
  c.w = w;
  c.bias = bias;
  c.residual = residual;
  c.relu = relu;
  c.y = y;
  c.round_bf16 = bf16;
  if (bf16)
    c.direct = FALSE;   /* round the input through im2col */
  size_t total = (size_t) s->n * c.l_out;
  /* W is packed once and shared by every chunk and thread (not in the bf16
   * emulation, whose widened weights already occupy the shared scratch) */
  if (!bf16 && etp_cpu_gemm_prepacks (c.cpu) && total > (size_t) c.cols) {
    float *wp = etp_cpu_shared_scratch (be, etp_cpu_packed_a_floats (s->c_out, c.ck));
    if (!wp)
      return;
    etp_cpu_pack_a (FALSE, w, c.ck, s->c_out, c.ck, wp);
    c.wp = wp;
  }
  if (c.nt == 1 || total < 64 || (double) total * c.ck * s->c_out < 2e5)
    fwd_task (&c, 0, 1);
  else
    etp_cpu_run (c.cpu, fwd_task, &c);
}

void
etp_cpu_conv1d_forward (EtpBackend *be, const EtpConv1dShape *s, const float *x,
                        const float *w, const float *bias, const float *residual,
                        gboolean relu, float *y)
{
  conv_forward (be, s, x, w, bias, residual, relu, y, FALSE);
}


/* ------------------------------------------------- native bf16 forward */

/* AVX512-BF16 micro-kernel: C (8 x 48 floats, ld ldc) = A . B over kp
 * k-pairs. A: 8 rows of (bf16, bf16) pairs per k-pair (uint32), B: 48
 * columns of pairs per k-pair. VDPBF16PS multiplies the two bf16 of each
 * pair and accumulates both products in float32. */
#define BF_MR 8
#define BF_NR 48

__attribute__ ((target ("avx512f,avx512bw,avx512vl,avx512bf16")))
static void
bf16_kernel (int kp, const uint32_t *A, const uint32_t *B, float *C, int ldc)
{
#define ROWACC(r) __m512 c##r##0 = _mm512_setzero_ps (), c##r##1 = _mm512_setzero_ps (), \
    c##r##2 = _mm512_setzero_ps ();
  ROWACC (0) ROWACC (1) ROWACC (2) ROWACC (3) ROWACC (4) ROWACC (5) ROWACC (6) ROWACC (7)
#undef ROWACC
  for (int k = 0; k < kp; k++) {
    __m512bh b0 = (__m512bh) _mm512_loadu_si512 (B);
    __m512bh b1 = (__m512bh) _mm512_loadu_si512 (B + 16);
    __m512bh b2 = (__m512bh) _mm512_loadu_si512 (B + 32);
#define ROW(r) { __m512bh a = (__m512bh) _mm512_set1_epi32 ((int) A[r]); \
      c##r##0 = _mm512_dpbf16_ps (c##r##0, a, b0); c##r##1 = _mm512_dpbf16_ps (c##r##1, a, b1); \
      c##r##2 = _mm512_dpbf16_ps (c##r##2, a, b2); }
    ROW (0) ROW (1) ROW (2) ROW (3) ROW (4) ROW (5) ROW (6) ROW (7)
#undef ROW
    A += BF_MR;
    B += BF_NR;
  }
#define STROW(r) _mm512_storeu_ps (C + (size_t) r * ldc, c##r##0); \
  _mm512_storeu_ps (C + (size_t) r * ldc + 16, c##r##1); \
  _mm512_storeu_ps (C + (size_t) r * ldc + 32, c##r##2);
  STROW (0) STROW (1) STROW (2) STROW (3) STROW (4) STROW (5) STROW (6) STROW (7)
#undef STROW
}

/* rounds two float rows to bf16 (nearest even) and interleaves them into
 * pairs: out[j] = bf16(lo[j]) | bf16(hi[j]) << 16; hi may be NULL (zero) */
__attribute__ ((target ("avx512f,avx512bw,avx512vl")))
static void
bf16_pair_row (const float *lo, const float *hi, int n, uint32_t *out)
{
  const __m512i bias = _mm512_set1_epi32 (0x7fff), one = _mm512_set1_epi32 (1);
  const __m512i himask = _mm512_set1_epi32 ((int) 0xffff0000u);
  int j = 0;
  for (; j + 16 <= n; j += 16) {
    __m512i u = _mm512_loadu_si512 (lo + j);
    __m512i r = _mm512_srli_epi32 (_mm512_add_epi32 (_mm512_add_epi32 (u, bias),
            _mm512_and_si512 (_mm512_srli_epi32 (u, 16), one)), 16);
    if (hi) {
      __m512i v = _mm512_loadu_si512 (hi + j);
      __m512i q = _mm512_and_si512 (_mm512_add_epi32 (_mm512_add_epi32 (v, bias),
              _mm512_and_si512 (_mm512_srli_epi32 (v, 16), one)), himask);
      r = _mm512_or_si512 (r, q);
    }
    _mm512_storeu_si512 (out + j, r);
  }
  for (; j < n; j++)
    out[j] = etp_f32_to_bf16_one (lo[j]) | (hi ? (uint32_t) etp_f32_to_bf16_one (hi[j]) << 16 : 0u);
}

/* Ap[mb][k][r] = w[mb*8 + r][2k] | w[mb*8 + r][2k+1] << 16, zero padded */
static void
bf16_pack_a (const uint16_t *w, int c_out, int ck, int kp, int m8, uint32_t *ap)
{
  for (int mb = 0; mb < m8 / BF_MR; mb++)
    for (int k = 0; k < kp; k++)
      for (int r = 0; r < BF_MR; r++) {
        int m = mb * BF_MR + r;
        uint32_t v = 0;
        if (m < c_out) {
          const uint16_t *wr = w + (size_t) m * ck;
          v = wr[2 * k];
          if (2 * k + 1 < ck)
            v |= (uint32_t) wr[2 * k + 1] << 16;
        }
        ap[((size_t) mb * kp + k) * BF_MR + r] = v;
      }
}

static void
fwd_bf16_task (void *data, int tid, int nt)
{
  ConvCtx *c = data;
  const EtpConv1dShape *s = &c->s;
  const EtpCpuVec *vec = c->cpu->vec;
  float *col = c->cpu->scratch[tid];
  uint32_t *bp = (uint32_t *) (col + c->off_bp);
  float *T = col + c->off_t16;
  size_t total = (size_t) s->n * c->l_out, b, e;
  etp_cpu_range ((total + 15) / 16, tid, nt, &b, &e);
  b *= 16;
  e = MIN (e * 16, total);
  for (size_t v0 = b; v0 < e; v0 += c->cols) {
    size_t v1 = MIN (v0 + c->cols, e);
    int w = (int) (v1 - v0);
    int nblk = (w + BF_NR - 1) / BF_NR;
    FOR_PIECES (c, v0, v1, n, l, len, coff)
      im2col (c, c->x + n * s->c_in * s->l_in, (int) l, (int) len, col + coff, w);
    /* pack: bp[nb][k][j] pairs of rows 2k, 2k+1, 48 columns per block */
    for (int nb = 0; nb < nblk; nb++) {
      int j0 = nb * BF_NR, jn = MIN (BF_NR, w - j0);
      for (int k = 0; k < c->kp; k++) {
        uint32_t *dst = bp + ((size_t) nb * c->kp + k) * BF_NR;
        const float *lo = col + (size_t) (2 * k) * w + j0;
        const float *hi = 2 * k + 1 < c->ck ? col + (size_t) (2 * k + 1) * w + j0 : NULL;
        bf16_pair_row (lo, hi, jn, dst);
        for (int j = jn; j < BF_NR; j++)
          dst[j] = 0;
      }
    }
    for (int mb = 0; mb < c->m8 / BF_MR; mb++)
      for (int nb = 0; nb < nblk; nb++)
        bf16_kernel (c->kp, c->ap + (size_t) mb * c->kp * BF_MR,
            bp + (size_t) nb * c->kp * BF_NR, T + (size_t) mb * BF_MR * c->npad + nb * BF_NR,
            c->npad);
    FOR_PIECES (c, v0, v1, n, l, len, coff) {
      for (int o = 0; o < s->c_out; o++) {
        size_t off = (n * s->c_out + o) * c->l_out + l;
        vec->affine (T + (size_t) o * c->npad + coff, len, 1.f, c->bias ? c->bias[o] : 0.f,
            c->residual ? c->residual + off : NULL, c->relu, c->y + off);
      }
    }
  }
}

static void
conv_forward_bf16_native (EtpBackend *be, const EtpConv1dShape *s, const float *x,
                          const uint16_t *w, const float *bias, const float *residual,
                          gboolean relu, float *y)
{
  ConvCtx c;
  ctx_init (&c, be, s);
  c.kp = (c.ck + 1) / 2;
  c.m8 = (s->c_out + BF_MR - 1) / BF_MR * BF_MR;
  c.npad = (c.cols + BF_NR - 1) / BF_NR * BF_NR;
  c.off_bp = ((size_t) c.ck * c.cols + 15) & ~(size_t) 15;
  c.off_t16 = c.off_bp + (((size_t) c.kp * c.npad + 15) & ~(size_t) 15);
  size_t need = c.off_t16 + (size_t) c.m8 * c.npad;
  uint32_t *ap = (uint32_t *) etp_cpu_shared_scratch (be, (size_t) c.m8 * c.kp);
  if (!ap || !etp_cpu_scratch (be, need))
    return;
  bf16_pack_a (w, s->c_out, c.ck, c.kp, c.m8, ap);
  c.ap = ap;
  c.x = x;
  c.bias = bias;
  c.residual = residual;
  c.relu = relu;
  c.y = y;
  size_t total = (size_t) s->n * c.l_out;
  if (c.nt == 1 || total < 64)
    fwd_bf16_task (&c, 0, 1);
  else
    etp_cpu_run (c.cpu, fwd_bf16_task, &c);
}

void
etp_cpu_conv1d_forward_bf16 (EtpBackend *be, const EtpConv1dShape *s, const float *x,
                             const uint16_t *w, const float *bias, const float *residual,
                             gboolean relu, float *y)
{
  if (etp_cpu (be)->has_bf16) {
    conv_forward_bf16_native (be, s, x, w, bias, residual, relu, y);
    return;
  }
  /* Emulation: widen the weights once per call and round activations to bf16
   * in im2col; float32 products and accumulation. */
  size_t nw = (size_t) s->c_out * s->c_in * s->kernel;
  float *wf = etp_cpu_shared_scratch (be, nw);
  if (!wf)
    return;
  etp_bf16_to_f32_host (w, wf, nw);
  conv_forward (be, s, x, wf, bias, residual, relu, y, TRUE);
}

static void
bwd_data_task (void *data, int tid, int nt)
{
  ConvCtx *c = data;
  const EtpConv1dShape *s = &c->s;
  float *col = c->cpu->scratch[tid], *T = col + c->off_t;
  size_t nb, ne;
  etp_cpu_range (s->n, tid, nt, &nb, &ne);
  if (nb >= ne)
    return;
  if (c->direct) {
    for (size_t n = nb; n < ne; n++)
      etp_cpu_sgemm (c->cpu, TRUE, FALSE, s->c_in, s->l_in, s->c_out, 1.f, c->w, s->c_in,
          c->dy + n * s->c_out * c->l_out, c->l_out, c->accumulate ? 1.f : 0.f,
          c->dx + n * s->c_in * s->l_in, s->l_in);
    return;
  }
  if (!c->accumulate)
    memset (c->dx + nb * s->c_in * s->l_in, 0, (ne - nb) * s->c_in * s->l_in * sizeof (float));
  size_t b = nb * c->l_out, e = ne * c->l_out;
  for (size_t v0 = b; v0 < e; v0 += c->cols) {
    size_t v1 = MIN (v0 + c->cols, e);
    int w = (int) (v1 - v0);
    size_t n0 = v0 / c->l_out;
    gboolean single = (v1 - 1) / c->l_out == n0;
    const float *B;
    int ldb;
    if (single) {
      B = c->dy + n0 * s->c_out * c->l_out + v0 % c->l_out;
      ldb = c->l_out;
    } else {
      FOR_PIECES (c, v0, v1, n, l, len, coff)
        for (int o = 0; o < s->c_out; o++)
          memcpy (T + (size_t) o * w + coff, c->dy + (n * s->c_out + o) * c->l_out + l,
              len * sizeof (float));
      B = T;
      ldb = w;
    }
    if (c->wp)
      etp_cpu_sgemm_packed (c->cpu, c->wp, c->ck, w, s->c_out, 1.f, B, ldb, FALSE, 0.f, col, w);
    else
      etp_cpu_sgemm (c->cpu, TRUE, FALSE, c->ck, w, s->c_out, 1.f, c->w, c->ck, B, ldb, 0.f,
          col, w);
    FOR_PIECES (c, v0, v1, n, l, len, coff)
      col2im (c, col + coff, w, (int) l, (int) len, c->dx + n * s->c_in * s->l_in);
  }
}

void
etp_cpu_conv1d_backward_data (EtpBackend *be, const EtpConv1dShape *s, const float *dy,
                              const float *w, float *dx, gboolean accumulate)
{
  ConvCtx c;
  ctx_init (&c, be, s);
  if (!etp_cpu_scratch (be, c.off_dw))
    return;
  c.dy = dy;
  c.w = w;
  c.dx = dx;
  c.accumulate = accumulate;
  if (!c.direct && etp_cpu_gemm_prepacks (c.cpu)
      && (size_t) s->n * c.l_out > (size_t) c.cols) {
    float *wp = etp_cpu_shared_scratch (be, etp_cpu_packed_a_floats (c.ck, s->c_out));
    if (!wp)
      return;
    etp_cpu_pack_a (TRUE, w, c.ck, c.ck, s->c_out, wp);   /* W^T: ck x c_out */
    c.wp = wp;
  }
  if (s->n < 2 || c.nt == 1)
    bwd_data_task (&c, 0, 1);
  else
    etp_cpu_run (c.cpu, bwd_data_task, &c);
}

static void
bwd_weight_task (void *data, int tid, int nt)
{
  ConvCtx *c = data;
  const EtpConv1dShape *s = &c->s;
  float *col = c->cpu->scratch[tid], *T = col + c->off_t;
  float *dw = tid == 0 ? c->dw : col + c->off_dw;
  float *db = tid == 0 ? c->dbias : col + c->off_dw + (size_t) s->c_out * c->ck;
  const EtpCpuVec *vec = c->cpu->vec;
  if (tid != 0) {
    memset (dw, 0, (size_t) s->c_out * c->ck * sizeof (float));
    if (c->dbias)
      memset (db, 0, (size_t) s->c_out * sizeof (float));
  }
  size_t total = (size_t) s->n * c->l_out, b, e;
  etp_cpu_range ((total + 15) / 16, tid, nt, &b, &e);
  b *= 16;
  e = MIN (e * 16, total);
  for (size_t v0 = b; v0 < e; v0 += c->cols) {
    size_t v1 = MIN (v0 + c->cols, e);
    int w = (int) (v1 - v0);
    size_t n0 = v0 / c->l_out;
    gboolean single = (v1 - 1) / c->l_out == n0;
    const float *A, *B;
    int lda, ldb;
    if (single) {
      A = c->dy + n0 * s->c_out * c->l_out + v0 % c->l_out;
      lda = c->l_out;
    } else {
      FOR_PIECES (c, v0, v1, n, l, len, coff)
        for (int o = 0; o < s->c_out; o++)
          memcpy (T + (size_t) o * w + coff, c->dy + (n * s->c_out + o) * c->l_out + l,
              len * sizeof (float));
      A = T;
      lda = w;
    }
    if (single && c->direct) {
      B = c->x + n0 * s->c_in * s->l_in + v0 % c->l_out;
      ldb = s->l_in;
    } else {
      FOR_PIECES (c, v0, v1, n, l, len, coff)
        im2col (c, c->x + n * s->c_in * s->l_in, (int) l, (int) len, col + coff, w);
      B = col;
      ldb = w;
    }
    etp_cpu_sgemm (c->cpu, FALSE, TRUE, s->c_out, c->ck, w, 1.f, A, lda, B, ldb, 1.f, dw, c->ck);
    if (c->dbias)
      for (int o = 0; o < s->c_out; o++)
        db[o] += vec->sum (A + (size_t) o * lda, w);
  }
}

typedef struct {
  ConvCtx *c;
  int nt;
} ReduceCtx;

static void
reduce_task (void *data, int tid, int nt)
{
  ReduceCtx *r = data;
  ConvCtx *c = r->c;
  size_t nw = (size_t) c->s.c_out * c->ck;
  size_t b, e;
  etp_cpu_range ((nw + 15) / 16, tid, nt, &b, &e);
  b *= 16;
  e = MIN (e * 16, nw);
  for (int t = 1; t < r->nt; t++) {
    float *src = c->cpu->scratch[t] + c->off_dw;
    if (b < e)
      c->cpu->vec->add (c->dw + b, src + b, e - b, c->dw + b);
    if (tid == 0 && c->dbias)
      c->cpu->vec->add (c->dbias, src + nw, c->s.c_out, c->dbias);
  }
}

void
etp_cpu_conv1d_backward_weight (EtpBackend *be, const EtpConv1dShape *s, const float *x,
                                const float *dy, float *dw, float *dbias)
{
  ConvCtx c;
  ctx_init (&c, be, s);
  if (!etp_cpu_scratch (be, c.off_dw + (size_t) s->c_out * c.ck + s->c_out))
    return;
  c.x = x;
  c.dy = dy;
  c.dw = dw;
  c.dbias = dbias;
  size_t total = (size_t) s->n * c.l_out;
  if (c.nt == 1 || total < 64 || (double) total * c.ck * s->c_out < 2e5) {
    bwd_weight_task (&c, 0, 1);
    return;
  }
  etp_cpu_run (c.cpu, bwd_weight_task, &c);
  ReduceCtx r = { &c, c.nt };
  etp_cpu_run (c.cpu, reduce_task, &r);
}
