/* Whole-model benchmark of the ResNet18-1D encoder (gst-etp side). Run by
 * bench_resnet1d.sh next to the PyTorch peer (bench_resnet1d_torch.py) with
 * the same threads, batch and length; prints one line
 *   RESULT impl=gst-etp mode=M L=L batch=B threads=T ecg_per_s=X gflops=G peak_rss_mb=R
 * GFLOP/s counts 2 FLOP per multiply-accumulate of the convolutions; a
 * training step counts 3x the forward (forward, backward-data,
 * backward-weight). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <glib.h>

#include "engine/engine.h"
#include "nets/resnet1d.h"

int
main (int argc, char **argv)
{
  gint length = 1000, batch = 32, threads = 2, iters = 5, warmup = 1;
  gchar *mode = NULL, *precision = NULL, *device = NULL;
  GOptionEntry entries[] = {
    {"mode", 0, 0, G_OPTION_ARG_STRING, &mode, "infer or train", "M"},
    {"length", 'L', 0, G_OPTION_ARG_INT, &length, "samples per ECG", "L"},
    {"batch", 'b', 0, G_OPTION_ARG_INT, &batch, "batch size", "B"},
    {"threads", 't', 0, G_OPTION_ARG_INT, &threads, "threads", "T"},
    {"iters", 'n', 0, G_OPTION_ARG_INT, &iters, "timed iterations", "N"},
    {"warmup", 'w', 0, G_OPTION_ARG_INT, &warmup, "untimed iterations", "N"},
    {"precision", 'p', 0, G_OPTION_ARG_STRING, &precision, "fp32 or bf16",
        "P"},
    {"device", 'd', 0, G_OPTION_ARG_STRING, &device, "auto, cpu or cuda",
        "D"},
    {NULL}
  };
  GOptionContext *ctx = g_option_context_new ("- ResNet18-1D benchmark");
  GError *err = NULL;
  EtpBackend *be;
  EtpResnet1d *m;
  EtpResnet1dConfig cfg;
  EtpDeviceKind dk = ETP_DEVICE_CPU;
  gboolean train;
  gfloat *x, *text, *out;
  GRand *r;
  gint64 t0, t1;
  gdouble secs, ecg_s, macs;
  struct rusage ru;

  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, &argc, &argv, &err)) {
    fprintf (stderr, "%s\n", err->message);
    return 2;
  }
  g_option_context_free (ctx);
  train = mode && strcmp (mode, "train") == 0;
  if (device && !etp_device_kind_from_string (device, &dk)) {
    fprintf (stderr, "unknown device %s\n", device);
    return 2;
  }
  be = etp_backend_new (dk, threads, &err);
  if (!be) {
    fprintf (stderr, "%s\n", err->message);
    return 1;
  }
  etp_resnet1d_config_init (&cfg);
  cfg.length = length;
  m = etp_resnet1d_new (be, &cfg, 1, &err);
  if (!m) {
    fprintf (stderr, "%s\n", err->message);
    return 1;
  }
  if (precision && strcmp (precision, "bf16") == 0 &&
      !etp_resnet1d_set_precision (m, ETP_PRECISION_BF16, &err)) {
    fprintf (stderr, "%s\n", err->message);
    return 1;
  }
  r = g_rand_new_with_seed (1);
  x = g_new (gfloat, (gsize) batch * cfg.leads * length);
  text = g_new (gfloat, (gsize) batch * cfg.text_dim);
  out = g_new (gfloat, (gsize) batch * cfg.embed_dim);
  for (gsize i = 0; i < (gsize) batch * cfg.leads * length; i++)
    x[i] = (gfloat) g_rand_double_range (r, -1, 1);
  for (gsize i = 0; i < (gsize) batch * cfg.text_dim; i++)
    text[i] = (gfloat) g_rand_double_range (r, -1, 1);

  t0 = 0;
  for (gint it = 0; it < warmup + iters; it++) {
    gboolean ok;
    if (it == warmup)
      t0 = g_get_monotonic_time ();
    if (train) {
      EtpTrainResult res;
      ok = etp_resnet1d_train_step (m, batch, length, x, NULL, text, &res,
          &err);
    } else {
      ok = etp_resnet1d_forward_eval (m, batch, length, x, NULL, out, &err);
    }
    if (!ok) {
      fprintf (stderr, "%s\n", err->message);
      return 1;
    }
  }
  etp_backend_sync (be);
  t1 = g_get_monotonic_time ();
  secs = (t1 - t0) / 1e6;
  ecg_s = (gdouble) batch * iters / secs;
  macs = etp_resnet1d_macs (m, length);
  getrusage (RUSAGE_SELF, &ru);
  printf ("RESULT impl=gst-etp%s mode=%s L=%d batch=%d threads=%d "
      "ecg_per_s=%.2f gflops=%.1f peak_rss_mb=%.0f backend=\"%s\"\n",
      precision && strcmp (precision, "bf16") == 0 ? "-bf16" : "",
      train ? "train" : "infer", length, batch, threads, ecg_s,
      ecg_s * macs * 2.0 * (train ? 3.0 : 1.0) / 1e9, ru.ru_maxrss / 1024.0,
      etp_backend_name (be));
  g_free (x);
  g_free (text);
  g_free (out);
  g_rand_free (r);
  etp_resnet1d_free (m);
  etp_backend_free (be);
  g_free (mode);
  g_free (precision);
  g_free (device);
  return 0;
}
