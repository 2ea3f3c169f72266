/* Per-op benchmark of the engine's CPU backend on the conv shapes of
 * ResNet18-1D (shared/DESIGN.md), side by side with PyTorch (bench_ops.py,
 * run in the same process tree with the same thread count).
 *
 *   bench_ops [--batch 32] [--length 1000] [--threads 2] [--reps 3] [--no-torch]
 *             [--cpu-time] [--bf16]
 *
 * Prints per shape: ms for forward / backward-data / backward-weight, the
 * GFLOP/s reached, PyTorch's times and the ratio torch_time / etp_time
 * (> 1 means gst-etp is faster), then the totals weighted by how often
 * each shape occurs in the network. */
#include "config.h"
#include "engine/engine.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
  int c_in, c_out, k, s, p, l_div, count;  /* l_in = L / l_div */
} Shape;

/* the 20 convs of ResNet18-1D: stem, 4 stages (first block may be strided
 * and has a 1x1 downsample) */
static const Shape net[] = {
  { 12, 64, 7, 2, 3, 1, 1 },
  { 64, 64, 3, 1, 1, 2, 4 },
  { 64, 128, 3, 2, 1, 2, 1 }, { 128, 128, 3, 1, 1, 4, 3 }, { 64, 128, 1, 2, 0, 2, 1 },
  { 128, 256, 3, 2, 1, 4, 1 }, { 256, 256, 3, 1, 1, 8, 3 }, { 128, 256, 1, 2, 0, 4, 1 },
  { 256, 512, 3, 2, 1, 8, 1 }, { 512, 512, 3, 1, 1, 16, 3 }, { 256, 512, 1, 2, 0, 8, 1 },
};

/* --cpu-time: thread CPU time instead of wall time (meaningful on a busy
 * machine with --threads 1; both peers then run on the calling thread) */
static gboolean use_cpu_time;

static gint64
now_us (void)
{
  if (use_cpu_time) {
    struct timespec ts;
    clock_gettime (CLOCK_THREAD_CPUTIME_ID, &ts);
    return (gint64) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
  }
  return g_get_monotonic_time ();
}

static int
ceil_div (int a, int b)
{
  return (a + b - 1) / b;
}

int
main (int argc, char **argv)
{
  int batch = 32, L = 1000, threads = 2, reps = 3;
  gboolean torch = TRUE, bf16 = FALSE;
  for (int i = 1; i < argc; i++) {
    if (!strcmp (argv[i], "--batch") && i + 1 < argc) batch = atoi (argv[++i]);
    else if (!strcmp (argv[i], "--length") && i + 1 < argc) L = atoi (argv[++i]);
    else if (!strcmp (argv[i], "--threads") && i + 1 < argc) threads = atoi (argv[++i]);
    else if (!strcmp (argv[i], "--reps") && i + 1 < argc) reps = atoi (argv[++i]);
    else if (!strcmp (argv[i], "--no-torch")) torch = FALSE;
    else if (!strcmp (argv[i], "--cpu-time")) use_cpu_time = TRUE;
    else if (!strcmp (argv[i], "--bf16")) bf16 = TRUE;
  }
  GError *err = NULL;
  EtpBackend *be = etp_backend_new (ETP_DEVICE_CPU, threads, &err);
  if (!be) {
    fprintf (stderr, "%s\n", err->message);
    return 1;
  }
  printf ("backend: %s, batch %d, L %d%s\n", etp_backend_name (be), batch, L,
      bf16 ? ", forward in bf16 (torch: float32)" : "");

  /* torch timings: one line per shape "fwd bwd_data bwd_weight" in ms */
  double tt[G_N_ELEMENTS (net)][3];
  memset (tt, 0, sizeof tt);
  if (torch) {
    const char *root = g_getenv ("ETP_SOURCE_ROOT");
    char *script = g_build_filename (root ? root : ETP_SOURCE_ROOT, "tests", "bench", "engine",
        "bench_ops.py", NULL);
    GString *cmd = g_string_new (NULL);
    g_string_printf (cmd, "/usr/bin/python3 %s %d %d %d %d %d", script, batch, L, threads, reps,
        use_cpu_time);
    for (gsize i = 0; i < G_N_ELEMENTS (net); i++) {
      const Shape *s = &net[i];
      g_string_append_printf (cmd, " %d,%d,%d,%d,%d,%d", s->c_in, s->c_out, s->k, s->s, s->p,
          ceil_div (L, s->l_div));
    }
    char *out = NULL;
    int status = 0;
    if (!g_spawn_command_line_sync (cmd->str, &out, NULL, &status, &err) || status != 0) {
      fprintf (stderr, "torch peer failed: %s\n", err ? err->message : "exit status");
      g_clear_error (&err);
      torch = FALSE;
    } else {
      char **lines = g_strsplit (out, "\n", -1);
      for (gsize i = 0; i < G_N_ELEMENTS (net) && lines[i]; i++)
        sscanf (lines[i], "%lf %lf %lf", &tt[i][0], &tt[i][1], &tt[i][2]);
      g_strfreev (lines);
    }
    g_free (out);
    g_free (script);
    g_string_free (cmd, TRUE);
  }

  double tot_e[3] = { 0 }, tot_t[3] = { 0 }, tot_flop = 0;
  printf ("%-22s %8s %8s %8s | %6s %6s %6s | %8s %8s %8s | ratio f/bd/bw\n", "conv", "fwd ms",
      "bd ms", "bw ms", "GF/s", "GF/s", "GF/s", "torch f", "bd", "bw");
  for (gsize i = 0; i < G_N_ELEMENTS (net); i++) {
    const Shape *sh = &net[i];
    EtpConv1dShape s = { batch, sh->c_in, ceil_div (L, sh->l_div), sh->c_out, sh->k, sh->s, sh->p };
    int lo = etp_conv1d_out_len (&s);
    size_t nx = (size_t) s.n * s.c_in * s.l_in, ny = (size_t) s.n * s.c_out * lo;
    size_t nw = (size_t) s.c_out * s.c_in * s.kernel;
    float *h = g_new (float, MAX (nx, MAX (ny, nw)));
    for (size_t k = 0; k < MAX (nx, MAX (ny, nw)); k++)
      h[k] = (float) ((k * 2654435761u) % 1000) / 1000.f - 0.5f;
    float *x = etp_backend_alloc (be, nx * 4, NULL), *y = etp_backend_alloc (be, ny * 4, NULL);
    float *w = etp_backend_alloc (be, nw * 4, NULL), *dw = etp_backend_alloc (be, nw * 4, NULL);
    float *dx = etp_backend_alloc (be, nx * 4, NULL);
    etp_backend_upload (be, x, h, nx * 4);
    etp_backend_upload (be, y, h, ny * 4);
    etp_backend_upload (be, w, h, nw * 4);
    etp_backend_memset (be, dw, 0, nw * 4);
    uint16_t *wb = etp_backend_alloc (be, nw * 2, NULL);
    etp_convert_f32_to_bf16 (be, nw, w, wb);
    double flop = 2.0 * s.n * s.c_out * lo * s.c_in * s.kernel;
    double best[3] = { 1e30, 1e30, 1e30 };
    for (int r = 0; r < reps + 1; r++) {
      gint64 t0 = now_us ();
      if (bf16)
        etp_conv1d_forward_bf16 (be, &s, x, wb, NULL, NULL, FALSE, y);
      else
        etp_conv1d_forward (be, &s, x, w, NULL, NULL, FALSE, y);
      etp_backend_sync (be);
      gint64 t1 = now_us ();
      etp_conv1d_backward_data (be, &s, y, w, dx, FALSE);
      etp_backend_sync (be);
      gint64 t2 = now_us ();
      etp_conv1d_backward_weight (be, &s, x, y, dw, NULL);
      etp_backend_sync (be);
      gint64 t3 = now_us ();
      if (r == 0)
        continue;   /* warm-up: scratch growth, page faults */
      best[0] = MIN (best[0], (t1 - t0) / 1e3);
      best[1] = MIN (best[1], (t2 - t1) / 1e3);
      best[2] = MIN (best[2], (t3 - t2) / 1e3);
    }
    char name[64];
    g_snprintf (name, sizeof name, "%dx%d k%d s%d L%d x%d", s.c_in, s.c_out, s.kernel, s.stride, s.l_in,
        sh->count);
    printf ("%-22s %8.2f %8.2f %8.2f | %6.0f %6.0f %6.0f | %8.2f %8.2f %8.2f | %.2f %.2f %.2f\n",
        name, best[0], best[1], best[2], flop / best[0] / 1e6, flop / best[1] / 1e6,
        flop / best[2] / 1e6, tt[i][0], tt[i][1], tt[i][2], tt[i][0] / best[0],
        tt[i][1] / best[1], tt[i][2] / best[2]);
    for (int k = 0; k < 3; k++) {
      tot_e[k] += best[k] * sh->count;
      tot_t[k] += tt[i][k] * sh->count;
    }
    tot_flop += flop * sh->count;
    etp_backend_free_mem (be, x);
    etp_backend_free_mem (be, y);
    etp_backend_free_mem (be, w);
    etp_backend_free_mem (be, dw);
    etp_backend_free_mem (be, dx);
    etp_backend_free_mem (be, wb);
    g_free (h);
  }
  printf ("total convs of ResNet18-1D (batch %d, L %d):\n", batch, L);
  printf ("  forward     etp %8.1f ms (%5.0f GFLOP/s)  torch %8.1f ms  ratio %.2f\n", tot_e[0],
      tot_flop / tot_e[0] / 1e6, tot_t[0], tot_t[0] / tot_e[0]);
  printf ("  bwd data    etp %8.1f ms (%5.0f GFLOP/s)  torch %8.1f ms  ratio %.2f\n", tot_e[1],
      tot_flop / tot_e[1] / 1e6, tot_t[1], tot_t[1] / tot_e[1]);
  printf ("  bwd weight  etp %8.1f ms (%5.0f GFLOP/s)  torch %8.1f ms  ratio %.2f\n", tot_e[2],
      tot_flop / tot_e[2] / 1e6, tot_t[2], tot_t[2] / tot_e[2]);
  double te = tot_e[0] + tot_e[1] + tot_e[2], tq = tot_t[0] + tot_t[1] + tot_t[2];
  printf ("  train convs etp %8.1f ms  torch %8.1f ms  ratio %.2f\n", te, tq, tq / te);
  etp_backend_free (be);
  return 0;
}
