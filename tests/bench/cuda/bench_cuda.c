/* GPU benchmark of the CUDA backend on the paper's model (ResNet18-1D, width
 * 64, 12 leads, ETP heads 512-d, text features 768-d), side by side with
 * PyTorch + cuDNN running the same network on the same GPU in the same run
 * (bench_cuda.py, started from here). Not a test: run it on a GPU machine.
 *
 *   bench_cuda [--batch 128] [--lengths 5000,1000] [--steps 20] [--warmup 3]
 *              [--tf32] [--no-torch] [--python /usr/bin/python3]
 *
 * Reports, per window length: training ECG/s (one optimiser step = forward +
 * backward of the CLIP loss + Adam, batch upload included), inference ECG/s
 * (folded BatchNorm, FP32 and bf16), PyTorch's figures and the ratio
 * gst-etp / PyTorch (> 1: gst-etp is faster). FP32 on both sides unless
 * --tf32 (then TF32 GEMMs here and TF32 convolutions/matmuls in PyTorch).
 * Exits 77 (skipped) when there is no GPU. */
#include "config.h"
#include "engine/engine.h"
#include "nets/resnet1d.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  int L;
  double train, infer, infer_bf16;              /* ECG/s */
  double t_train, t_infer, t_infer_bf16;        /* PyTorch, ECG/s (0 = n/a) */
} Row;

static float *
random_floats (GRand *r, gsize n, double a)
{
  float *v = g_new (float, n);
  for (gsize i = 0; i < n; i++)
    v[i] = (float) g_rand_double_range (r, -a, a);
  return v;
}

static gboolean
bench_length (EtpBackend *be, int batch, int L, int steps, int warmup, Row *row, GError **err)
{
  EtpResnet1dConfig cfg;
  EtpTrainResult res;
  etp_resnet1d_config_init (&cfg);
  cfg.length = L;
  EtpResnet1d *m = etp_resnet1d_new (be, &cfg, 1, err);
  if (!m)
    return FALSE;
  GRand *r = g_rand_new_with_seed (42);
  float *x = random_floats (r, (gsize) batch * cfg.leads * L, 1.0);
  float *text = random_floats (r, (gsize) batch * cfg.text_dim, 1.0);
  float *emb = g_new (float, (gsize) batch * cfg.embed_dim);
  gboolean ok = TRUE;
  gint64 t0;

  for (int i = 0; ok && i < warmup; i++)
    ok = etp_resnet1d_train_step (m, batch, L, x, NULL, text, &res, err);
  t0 = g_get_monotonic_time ();
  for (int i = 0; ok && i < steps; i++)
    ok = etp_resnet1d_train_step (m, batch, L, x, NULL, text, &res, err);
  if (ok) {
    row->train = (double) batch * steps / ((g_get_monotonic_time () - t0) * 1e-6);
    printf ("L=%d train: %.1f ECG/s (last loss %.4f)\n", L, row->train, res.loss);
  }

  for (int i = 0; ok && i < warmup; i++)
    ok = etp_resnet1d_forward_eval (m, batch, L, x, NULL, emb, err);
  t0 = g_get_monotonic_time ();
  for (int i = 0; ok && i < steps; i++)
    ok = etp_resnet1d_forward_eval (m, batch, L, x, NULL, emb, err);
  if (ok) {
    row->infer = (double) batch * steps / ((g_get_monotonic_time () - t0) * 1e-6);
    printf ("L=%d inference fp32: %.1f ECG/s\n", L, row->infer);
  }

  if (ok && etp_resnet1d_set_precision (m, ETP_PRECISION_BF16, NULL)) {
    for (int i = 0; ok && i < warmup; i++)
      ok = etp_resnet1d_forward_eval (m, batch, L, x, NULL, emb, err);
    t0 = g_get_monotonic_time ();
    for (int i = 0; ok && i < steps; i++)
      ok = etp_resnet1d_forward_eval (m, batch, L, x, NULL, emb, err);
    if (ok) {
      row->infer_bf16 = (double) batch * steps / ((g_get_monotonic_time () - t0) * 1e-6);
      printf ("L=%d inference bf16: %.1f ECG/s\n", L, row->infer_bf16);
    }
  }
  fflush (stdout);
  g_free (x);
  g_free (text);
  g_free (emb);
  g_rand_free (r);
  etp_resnet1d_free (m);
  return ok;
}

/* Runs bench_cuda.py; fills the PyTorch columns from its "kind L ecg_s" lines. */
static void
run_torch (const char *python, int batch, Row *rows, int n_rows, int steps, int warmup,
           gboolean tf32)
{
  const char *root = g_getenv ("ETP_SOURCE_ROOT");
  char *script = g_build_filename (root ? root : ETP_SOURCE_ROOT, "tests", "bench", "cuda",
      "bench_cuda.py", NULL);
  GString *cmd = g_string_new (NULL);
  g_string_printf (cmd, "%s %s --batch %d --steps %d --warmup %d%s --lengths ", python, script,
      batch, steps, warmup, tf32 ? " --tf32" : "");
  for (int i = 0; i < n_rows; i++)
    g_string_append_printf (cmd, "%s%d", i ? "," : "", rows[i].L);
  char *out = NULL, *errout = NULL;
  int status = 0;
  GError *err = NULL;
  printf ("running the PyTorch peer: %s\n", cmd->str);
  fflush (stdout);
  if (!g_spawn_command_line_sync (cmd->str, &out, &errout, &status, &err)
      || !g_spawn_check_wait_status (status, NULL)) {
    printf ("PyTorch peer failed: %s\n%s\n", err ? err->message : "non-zero exit",
        errout ? errout : "");
    g_clear_error (&err);
  } else {
    char **lines = g_strsplit (out, "\n", -1);
    for (char **l = lines; *l; l++) {
      char kind[32];
      int L;
      double v;
      if (**l)
        printf ("  torch: %s\n", *l);
      if (sscanf (*l, "%31s %d %lf", kind, &L, &v) != 3)
        continue;
      for (int i = 0; i < n_rows; i++) {
        if (rows[i].L != L)
          continue;
        if (g_str_equal (kind, "train"))
          rows[i].t_train = v;
        else if (g_str_equal (kind, "infer"))
          rows[i].t_infer = v;
        else if (g_str_equal (kind, "infer_bf16"))
          rows[i].t_infer_bf16 = v;
      }
    }
    g_strfreev (lines);
  }
  g_free (out);
  g_free (errout);
  g_free (script);
  g_string_free (cmd, TRUE);
}

static void
print_ratio (const char *what, double etp, double torch)
{
  if (etp > 0 && torch > 0)
    printf ("  %-16s %10.1f %10.1f   %.2fx\n", what, etp, torch, etp / torch);
  else
    printf ("  %-16s %10.1f %10s   -\n", what, etp, "n/a");
}

int
main (int argc, char **argv)
{
  int batch = 128, steps = 20, warmup = 3;
  char *lengths = g_strdup ("5000,1000");
  char *python = g_strdup (g_getenv ("ETP_BENCH_PYTHON") ? g_getenv ("ETP_BENCH_PYTHON")
      : "/usr/bin/python3");
  gboolean no_torch = FALSE, tf32 = FALSE;
  GError *err = NULL;
  GOptionEntry entries[] = {
    { "batch", 0, 0, G_OPTION_ARG_INT, &batch, "ECGs per batch (128)", "N" },
    { "lengths", 0, 0, G_OPTION_ARG_STRING, &lengths, "window lengths (5000,1000)", "L,L" },
    { "steps", 0, 0, G_OPTION_ARG_INT, &steps, "timed steps per measurement (20)", "N" },
    { "warmup", 0, 0, G_OPTION_ARG_INT, &warmup, "untimed steps first (3)", "N" },
    { "tf32", 0, 0, G_OPTION_ARG_NONE, &tf32, "TF32 GEMMs on both sides", NULL },
    { "no-torch", 0, 0, G_OPTION_ARG_NONE, &no_torch, "skip the PyTorch peer", NULL },
    { "python", 0, 0, G_OPTION_ARG_STRING, &python, "interpreter with CUDA PyTorch", "PATH" },
    { NULL }
  };
  GOptionContext *ctx = g_option_context_new ("- CUDA backend vs PyTorch+cuDNN");
  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, &argc, &argv, &err)) {
    fprintf (stderr, "%s\n", err->message);
    return 2;
  }
  g_option_context_free (ctx);

  if (tf32)
    g_setenv ("ETP_CUDA_TF32", "1", TRUE);
  else
    g_unsetenv ("ETP_CUDA_TF32");
  EtpBackend *be = etp_backend_new (ETP_DEVICE_CUDA, 0, &err);
  if (!be) {
    printf ("SKIP: %s\n", err->message);
    return 77;
  }
  printf ("backend: %s; batch %d, %d timed steps after %d warm-up, %s\n", etp_backend_name (be),
      batch, steps, warmup, tf32 ? "TF32" : "FP32");

  char **ls = g_strsplit (lengths, ",", -1);
  int n_rows = (int) g_strv_length (ls);
  Row *rows = g_new0 (Row, MAX (n_rows, 1));
  int rc = 0;
  for (int i = 0; i < n_rows; i++) {
    rows[i].L = atoi (ls[i]);
    if (rows[i].L <= 0 || !bench_length (be, batch, rows[i].L, steps, warmup, &rows[i], &err)) {
      fprintf (stderr, "L=%s: %s\n", ls[i], err ? err->message : "bad length");
      g_clear_error (&err);
      rc = 1;
    }
  }
  g_strfreev (ls);
  /* free the GPU memory before PyTorch takes its share */
  etp_backend_free (be);

  if (!no_torch)
    run_torch (python, batch, rows, n_rows, steps, warmup, tf32);

  printf ("\nECG/s, batch %d          gst-etp    PyTorch   ratio\n", batch);
  for (int i = 0; i < n_rows; i++) {
    char *w;
    w = g_strdup_printf ("train L=%d", rows[i].L);
    print_ratio (w, rows[i].train, rows[i].t_train);
    g_free (w);
    w = g_strdup_printf ("infer L=%d", rows[i].L);
    print_ratio (w, rows[i].infer, rows[i].t_infer);
    g_free (w);
    w = g_strdup_printf ("infer bf16 L=%d", rows[i].L);
    print_ratio (w, rows[i].infer_bf16, rows[i].t_infer_bf16);
    g_free (w);
  }
  g_free (rows);
  g_free (lengths);
  g_free (python);
  return rc;
}
