/* Single-threaded row-major sgemm for the CPU backend's pool threads, and
 * the OpenBLAS kernel choice.
 *
 * OpenBLAS 0.3.21 (Debian) does not know AMD Zen 4/5 and falls back to its
 * AVX2 "Haswell" kernels, half the float32 throughput of AVX-512 on these
 * cores. When the CPU has AVX-512 (F/BW/VL/DQ) and OpenBLAS picked a
 * non-AVX-512 kernel set, the backend re-runs OpenBLAS's own dynamic-arch
 * selection (gotoblas_dynamic_init) with OPENBLAS_CORETYPE=SkylakeX, once,
 * at the first CPU backend creation (before any pool thread calls BLAS). A
 * user's OPENBLAS_CORETYPE is respected; ETP_OPENBLAS_KEEP=1 disables the
 * switch. */
#include "config.h"
#include "engine/cpu.h"

#include <cblas.h>
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
  cblas_sgemm (CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans,
      M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}
