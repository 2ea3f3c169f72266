/* The single-threaded row-major sgemm that the CPU backend's pool threads
 * run (every pool thread computes its own part of a conv or product).
 *
 * On AVX-512 CPUs it is the engine's own (below: BLIS-style packing, an
 * 8 x 48 FMA micro-kernel, W pre-packed once per conv call), so the engine
 * never touches OpenBLAS's process-wide thread count, which other code in
 * the same process (BERT, logistic regression) relies on.
 *
 * Elsewhere, or with ETP_CPU_GEMM=openblas, it calls OpenBLAS, which the
 * backend then sets to one thread. In that mode, on an AVX-512 CPU where
 * OpenBLAS 0.3.21 (Debian) picked its AVX2 "Haswell" kernels because it does
 * not know AMD Zen 4/5, the backend re-runs OpenBLAS's own dynamic-arch
 * selection (gotoblas_dynamic_init) with OPENBLAS_CORETYPE=SkylakeX, once, at
 * the first CPU backend creation; a user's OPENBLAS_CORETYPE is respected and
 * ETP_OPENBLAS_KEEP=1 disables the switch. (Running the switch while another
 * thread is inside OpenBLAS would be unsafe, hence opt-in only.) */
#include "config.h"
#include "engine/cpu.h"

#include <cblas.h>
#include <immintrin.h>
#include <stdlib.h>
#include <string.h>

/* present in OpenBLAS builds with DYNAMIC_ARCH (weak: absent elsewhere) */
extern void gotoblas_dynamic_init (void) __attribute__ ((weak));
extern void gotoblas_dynamic_quit (void) __attribute__ ((weak));

static gpointer
retune (gpointer data)
{
  gboolean avx512 = GPOINTER_TO_INT (data);
  const char *core = openblas_get_corename ();
  const char *env = g_getenv ("OPENBLAS_CORETYPE");
  if (!avx512 || !gotoblas_dynamic_init || !gotoblas_dynamic_quit || g_getenv ("ETP_OPENBLAS_KEEP")
      || core == NULL)
    return NULL;
  /* OpenBLAS exports its own pick in OPENBLAS_CORETYPE; a different value
   * was set by the user, who then gets what they asked for */
  if (env && g_ascii_strcasecmp (env, core) != 0)
    return NULL;
  if (g_ascii_strncasecmp (core, "skylakex", 8) == 0 || g_ascii_strncasecmp (core, "cooperlake", 10) == 0
      || g_ascii_strncasecmp (core, "sapphire", 8) == 0)
    return NULL;
  char *old = g_strdup (core);
  g_setenv ("OPENBLAS_CORETYPE", "SkylakeX", TRUE);
  gotoblas_dynamic_quit ();
  gotoblas_dynamic_init ();
  g_debug ("engine: OpenBLAS kernels %s -> %s (AVX-512 CPU)", old, openblas_get_corename ());
  g_free (old);
  return NULL;
}

void
etp_cpu_blas_setup (gboolean has_avx512)
{
  static GOnce once = G_ONCE_INIT;
  g_once (&once, retune, GINT_TO_POINTER (has_avx512));
}


/* ------------------------------------------------ own AVX-512 sgemm */

/* A small BLIS-style sgemm: op(B) is packed in KC x 48 panels (L2), op(A)
 * in 8 x KC panels (L1), an 8 x 48 micro-kernel keeps 24 zmm accumulators.
 * Used by the pool threads on AVX-512 CPUs so that the engine never depends
 * on OpenBLAS's global thread count (other code in the process may call
 * OpenBLAS with several threads). */
#define G_MR 8
#define G_NR 48
#define G_KC 384
#define G_MC 96
#define G_NC 384

static GPrivate pack_key = G_PRIVATE_INIT (free);

static float *
pack_buffer (void)
{
  float *p = g_private_get (&pack_key);
  if (!p) {
    if (posix_memalign ((void **) &p, 64, (G_MC * G_KC + G_KC * G_NC + G_MR * G_NR)
            * sizeof (float)) != 0)
      return NULL;
    g_private_set (&pack_key, p);
  }
  return p;
}

__attribute__ ((target ("avx512f,avx512vl,avx512bw,avx512dq,fma")))
static void
kern_8x48 (int kc, const float *A, const float *B, float *C, int ldc, float alpha, float beta)
{
#define ACC(r) __m512 c##r##0 = _mm512_setzero_ps (), c##r##1 = _mm512_setzero_ps (), \
    c##r##2 = _mm512_setzero_ps ();
  ACC (0) ACC (1) ACC (2) ACC (3) ACC (4) ACC (5) ACC (6) ACC (7)
#undef ACC
#pragma GCC unroll 2
  for (int k = 0; k < kc; k++) {
    _mm_prefetch ((const char *) (B + 8 * G_NR), _MM_HINT_T0);
    _mm_prefetch ((const char *) (B + 8 * G_NR + 16), _MM_HINT_T0);
    _mm_prefetch ((const char *) (B + 8 * G_NR + 32), _MM_HINT_T0);
    __m512 b0 = _mm512_load_ps (B), b1 = _mm512_load_ps (B + 16), b2 = _mm512_load_ps (B + 32);
#define ROW(r) { __m512 a = _mm512_set1_ps (A[r]); \
      c##r##0 = _mm512_fmadd_ps (a, b0, c##r##0); c##r##1 = _mm512_fmadd_ps (a, b1, c##r##1); \
      c##r##2 = _mm512_fmadd_ps (a, b2, c##r##2); }
    ROW (0) ROW (1) ROW (2) ROW (3) ROW (4) ROW (5) ROW (6) ROW (7)
#undef ROW
    A += G_MR;
    B += G_NR;
  }
  const __m512 va = _mm512_set1_ps (alpha), vb = _mm512_set1_ps (beta);
#define ST1(r, j) { float *p = C + (size_t) r * ldc + 16 * j; \
    __m512 v = _mm512_mul_ps (c##r##j, va); \
    if (beta != 0.f) v = _mm512_fmadd_ps (vb, _mm512_loadu_ps (p), v); \
    _mm512_storeu_ps (p, v); }
#define STROW(r) ST1 (r, 0) ST1 (r, 1) ST1 (r, 2)
  STROW (0) STROW (1) STROW (2) STROW (3) STROW (4) STROW (5) STROW (6) STROW (7)
#undef STROW
#undef ST1
}

/* Ap[p][k][r] = op(A)[i0 + 8p + r][k0 + k], zero padded */
static void
pack_a (gboolean ta, const float *A, int lda, int i0, int mc, int k0, int kc, float *Ap)
{
  for (int p = 0; p < (mc + G_MR - 1) / G_MR; p++) {
    float *dst = Ap + (size_t) p * kc * G_MR;
    int rows = MIN (G_MR, mc - p * G_MR);
    if (ta) {
      for (int k = 0; k < kc; k++) {
        const float *src = A + (size_t) (k0 + k) * lda + i0 + p * G_MR;
        for (int r = 0; r < rows; r++)
          dst[k * G_MR + r] = src[r];
        for (int r = rows; r < G_MR; r++)
          dst[k * G_MR + r] = 0.f;
      }
    } else {
      for (int r = 0; r < G_MR; r++) {
        if (r < rows) {
          const float *src = A + (size_t) (i0 + p * G_MR + r) * lda + k0;
          for (int k = 0; k < kc; k++)
            dst[k * G_MR + r] = src[k];
        } else {
          for (int k = 0; k < kc; k++)
            dst[k * G_MR + r] = 0.f;
        }
      }
    }
  }
}

/* Edge tiles: the first nr (<= 48) columns and mr (<= 8) rows of a panel
 * pair, with only ceil(nr / 16) vectors of work and masked stores. */
__attribute__ ((target ("avx512f,avx512vl,avx512bw,avx512dq,fma"), always_inline))
static inline void
kern_edge_body (int kc, const float *A, const float *B, float *C, int ldc, float alpha,
                float beta, int mr, int nr, const int NV)
{
  __m512 acc[G_MR][3];
#pragma GCC unroll 8
  for (int r = 0; r < G_MR; r++)
#pragma GCC unroll 3
    for (int j = 0; j < NV; j++)
      acc[r][j] = _mm512_setzero_ps ();
  for (int k = 0; k < kc; k++) {
    __m512 b[3];
#pragma GCC unroll 3
    for (int j = 0; j < NV; j++)
      b[j] = _mm512_load_ps (B + 16 * j);
#pragma GCC unroll 8
    for (int r = 0; r < G_MR; r++) {
      __m512 a = _mm512_set1_ps (A[r]);
#pragma GCC unroll 3
      for (int j = 0; j < NV; j++)
        acc[r][j] = _mm512_fmadd_ps (a, b[j], acc[r][j]);
    }
    A += G_MR;
    B += G_NR;
  }
  const __m512 va = _mm512_set1_ps (alpha), vb = _mm512_set1_ps (beta);
  for (int r = 0; r < mr; r++)
#pragma GCC unroll 3
    for (int j = 0; j < NV; j++) {
      int left = nr - 16 * j;
      __mmask16 m = left >= 16 ? (__mmask16) 0xffff : (__mmask16) ((1u << left) - 1);
      float *p = C + (size_t) r * ldc + 16 * j;
      __m512 v = _mm512_mul_ps (acc[r][j], va);
      if (beta != 0.f)
        v = _mm512_fmadd_ps (vb, _mm512_maskz_loadu_ps (m, p), v);
      _mm512_mask_storeu_ps (p, m, v);
    }
}

__attribute__ ((target ("avx512f,avx512vl,avx512bw,avx512dq,fma")))
static void
kern_edge (int kc, const float *A, const float *B, float *C, int ldc, float alpha, float beta,
           int mr, int nr)
{
  if (nr <= 16)
    kern_edge_body (kc, A, B, C, ldc, alpha, beta, mr, nr, 1);
  else if (nr <= 32)
    kern_edge_body (kc, A, B, C, ldc, alpha, beta, mr, nr, 2);
  else
    kern_edge_body (kc, A, B, C, ldc, alpha, beta, mr, nr, 3);
}

/* one full transposed panel: dst[k][c] = src[c * ldb + k], c < 48, in
 * 8 x 8 register transposes */
__attribute__ ((target ("avx2,fma")))
static void
pack_b_t_full (const float *src, int ldb, int kc, float *dst)
{
  int k8 = kc & ~7;
  for (int cb = 0; cb < G_NR; cb += 8) {
    const float *s = src + (size_t) cb * ldb;
    for (int k = 0; k < k8; k += 8) {
      __m256 r0 = _mm256_loadu_ps (s + k), r1 = _mm256_loadu_ps (s + ldb + k);
      __m256 r2 = _mm256_loadu_ps (s + 2 * (size_t) ldb + k), r3 = _mm256_loadu_ps (s + 3 * (size_t) ldb + k);
      __m256 r4 = _mm256_loadu_ps (s + 4 * (size_t) ldb + k), r5 = _mm256_loadu_ps (s + 5 * (size_t) ldb + k);
      __m256 r6 = _mm256_loadu_ps (s + 6 * (size_t) ldb + k), r7 = _mm256_loadu_ps (s + 7 * (size_t) ldb + k);
      __m256 t0 = _mm256_unpacklo_ps (r0, r1), t1 = _mm256_unpackhi_ps (r0, r1);
      __m256 t2 = _mm256_unpacklo_ps (r2, r3), t3 = _mm256_unpackhi_ps (r2, r3);
      __m256 t4 = _mm256_unpacklo_ps (r4, r5), t5 = _mm256_unpackhi_ps (r4, r5);
      __m256 t6 = _mm256_unpacklo_ps (r6, r7), t7 = _mm256_unpackhi_ps (r6, r7);
      __m256 u0 = _mm256_shuffle_ps (t0, t2, 0x44), u1 = _mm256_shuffle_ps (t0, t2, 0xee);
      __m256 u2 = _mm256_shuffle_ps (t1, t3, 0x44), u3 = _mm256_shuffle_ps (t1, t3, 0xee);
      __m256 u4 = _mm256_shuffle_ps (t4, t6, 0x44), u5 = _mm256_shuffle_ps (t4, t6, 0xee);
      __m256 u6 = _mm256_shuffle_ps (t5, t7, 0x44), u7 = _mm256_shuffle_ps (t5, t7, 0xee);
      float *d = dst + (size_t) k * G_NR + cb;
      _mm256_storeu_ps (d + 0 * G_NR, _mm256_permute2f128_ps (u0, u4, 0x20));
      _mm256_storeu_ps (d + 1 * G_NR, _mm256_permute2f128_ps (u1, u5, 0x20));
      _mm256_storeu_ps (d + 2 * G_NR, _mm256_permute2f128_ps (u2, u6, 0x20));
      _mm256_storeu_ps (d + 3 * G_NR, _mm256_permute2f128_ps (u3, u7, 0x20));
      _mm256_storeu_ps (d + 4 * G_NR, _mm256_permute2f128_ps (u0, u4, 0x31));
      _mm256_storeu_ps (d + 5 * G_NR, _mm256_permute2f128_ps (u1, u5, 0x31));
      _mm256_storeu_ps (d + 6 * G_NR, _mm256_permute2f128_ps (u2, u6, 0x31));
      _mm256_storeu_ps (d + 7 * G_NR, _mm256_permute2f128_ps (u3, u7, 0x31));
    }
    for (int k = k8; k < kc; k++)
      for (int c = 0; c < 8; c++)
        dst[(size_t) k * G_NR + cb + c] = s[(size_t) c * ldb + k];
  }
}

/* Bp[q][k][c] = op(B)[k0 + k][j0 + 48q + c], zero padded */
static void
pack_b (gboolean tb, const float *B, int ldb, int k0, int kc, int j0, int nc, float *Bp)
{
  for (int q = 0; q < (nc + G_NR - 1) / G_NR; q++) {
    float *dst = Bp + (size_t) q * kc * G_NR;
    int cols = MIN (G_NR, nc - q * G_NR);
    if (!tb) {
      for (int k = 0; k < kc; k++) {
        const float *src = B + (size_t) (k0 + k) * ldb + j0 + q * G_NR;
        memcpy (dst + k * G_NR, src, cols * sizeof (float));
        for (int c = cols; c < G_NR; c++)
          dst[k * G_NR + c] = 0.f;
      }
    } else if (cols == G_NR) {
      pack_b_t_full (B + (size_t) (j0 + q * G_NR) * ldb + k0, ldb, kc, dst);
    } else {
      for (int c = 0; c < G_NR; c++) {
        if (c < cols) {
          const float *src = B + (size_t) (j0 + q * G_NR + c) * ldb + k0;
          for (int k = 0; k < kc; k++)
            dst[k * G_NR + c] = src[k];
        } else {
          for (int k = 0; k < kc; k++)
            dst[k * G_NR + c] = 0.f;
        }
      }
    }
  }
}

/* the block loops shared by own_sgemm and etp_cpu_sgemm_packed: @Apk is
 * NULL (pack op(A) per block) or the whole op(A) packed by etp_cpu_pack_a */
static gboolean
own_sgemm_impl (gboolean ta, gboolean tb, int M, int N, int K, float alpha, const float *A,
                int lda, const float *Apk, const float *B, int ldb, float beta, float *C, int ldc)
{
  float *buf = pack_buffer ();
  if (!buf)
    return FALSE;
  size_t m8 = (size_t) (M + G_MR - 1) / G_MR * G_MR;
  float *Ap = buf, *Bp = buf + G_MC * G_KC;
  for (int jc = 0; jc < N; jc += G_NC) {
    int nc = MIN (G_NC, N - jc);
    for (int pc = 0; pc < K; pc += G_KC) {
      int kc = MIN (G_KC, K - pc);
      float b = pc == 0 ? beta : 1.f;
      pack_b (tb, B, ldb, pc, kc, jc, nc, Bp);
      for (int ic = 0; ic < M; ic += G_MC) {
        int mc = MIN (G_MC, M - ic);
        const float *Ablk;
        if (Apk) {
          Ablk = Apk + (size_t) pc * m8 + (size_t) ic * kc;
        } else {
          pack_a (ta, A, lda, ic, mc, pc, kc, Ap);
          Ablk = Ap;
        }
        /* the 8-row A micro-panel stays in L1 while the B panels stream from L2 */
        for (int ir = 0; ir < mc; ir += G_MR) {
          int mr = MIN (G_MR, mc - ir);
          const float *ap = Ablk + (size_t) (ir / G_MR) * kc * G_MR;
          for (int jr = 0; jr < nc; jr += G_NR) {
            int nr = MIN (G_NR, nc - jr);
            const float *bp = Bp + (size_t) (jr / G_NR) * kc * G_NR;
            float *c = C + (size_t) (ic + ir) * ldc + jc + jr;
            if (mr == G_MR && nr == G_NR) {
              kern_8x48 (kc, ap, bp, c, ldc, alpha, b);
            } else {
              kern_edge (kc, ap, bp, c, ldc, alpha, b, mr, nr);
            }
          }
        }
      }
    }
  }
  return TRUE;
}

static gboolean
own_sgemm (gboolean ta, gboolean tb, int M, int N, int K, float alpha, const float *A, int lda,
           const float *B, int ldb, float beta, float *C, int ldc)
{
  return own_sgemm_impl (ta, tb, M, N, K, alpha, A, lda, NULL, B, ldb, beta, C, ldc);
}

gboolean
etp_cpu_gemm_prepacks (EtpCpu *cpu)
{
  return cpu->has_avx512 && !cpu->use_openblas;
}

size_t
etp_cpu_packed_a_floats (int M, int K)
{
  return (size_t) (M + G_MR - 1) / G_MR * G_MR * (size_t) K;
}

/* layout: block (pc, ic) at pc * m8 + ic * kc, each block as pack_a writes it */
void
etp_cpu_pack_a (gboolean ta, const float *A, int lda, int M, int K, float *Ap)
{
  size_t m8 = (size_t) (M + G_MR - 1) / G_MR * G_MR;
  for (int pc = 0; pc < K; pc += G_KC) {
    int kc = MIN (G_KC, K - pc);
    for (int ic = 0; ic < M; ic += G_MC)
      pack_a (ta, A, lda, ic, MIN (G_MC, M - ic), pc, kc, Ap + (size_t) pc * m8 + (size_t) ic * kc);
  }
}

void
etp_cpu_sgemm_packed (EtpCpu *cpu, const float *Ap, int M, int N, int K, float alpha,
                      const float *B, int ldb, gboolean tb, float beta, float *C, int ldc)
{
  if (M <= 0 || N <= 0 || K <= 0)
    return;
  own_sgemm_impl (FALSE, tb, M, N, K, alpha, NULL, 0, Ap, B, ldb, beta, C, ldc);
}

void
etp_cpu_sgemm (EtpCpu *cpu, gboolean ta, gboolean tb, int M, int N, int K, float alpha,
               const float *A, int lda, const float *B, int ldb, float beta, float *C, int ldc)
{
  if (M <= 0 || N <= 0)
    return;
  if (K <= 0) {
    for (int i = 0; i < M; i++)
      for (int j = 0; j < N; j++)
        C[(size_t) i * ldc + j] = beta == 0.f ? 0.f : beta * C[(size_t) i * ldc + j];
    return;
  }
  if (cpu->has_avx512 && !cpu->use_openblas
      && own_sgemm (ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc))
    return;
  cblas_sgemm (CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
      M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}
