/* Times ecgresample (through the element, with gst_harness) on raw float32
 * data written by run_bench.py, and prints one JSON line of seconds:
 *   bench_ecgresample RECORDS_FILE R C N RATE_IN RATE_OUT STREAM_FILE M CHUNK
 * RECORDS_FILE: R records of N frames x C leads (interleaved float32);
 * STREAM_FILE: one stream of M frames x C leads, pushed in CHUNK-frame
 * buffers.  Paths timed: records with mode=fft (one buffer per record, meta
 * marks it whole), records with mode=polyphase, the stream with the
 * polyphase path (state carried, drained at EOS).  Each is run `reps` times
 * and the best time is kept (as the Python side does). */
#include <gst/gst.h>
#include <gst/check/gstharness.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "etpmeta.h"

static gfloat *
read_all (const gchar * path, gsize expect_floats)
{
  gchar *data = NULL;
  gsize len = 0;
  GError *err = NULL;

  if (!g_file_get_contents (path, &data, &len, &err)) {
    g_printerr ("%s\n", err->message);
    exit (2);
  }
  if (len != expect_floats * sizeof (gfloat)) {
    g_printerr ("%s: %" G_GSIZE_FORMAT " bytes, expected %" G_GSIZE_FORMAT
        "\n", path, len, expect_floats * sizeof (gfloat));
    exit (2);
  }
  return (gfloat *) data;
}

static GstHarness *
harness (const gchar * props, gint rate_in, gint ch)
{
  gchar *desc = g_strdup_printf ("ecgresample %s", props);
  gchar *caps = g_strdup_printf ("audio/x-raw,format=F32LE,layout=interleaved,"
      "rate=%d,channels=%d", rate_in, ch);
  GstHarness *h = gst_harness_new_parse (desc);

  if (!h) {
    g_printerr ("cannot create ecgresample (is GST_PLUGIN_PATH set?)\n");
    exit (2);
  }
  gst_harness_set_src_caps_str (h, caps);
  g_free (desc);
  g_free (caps);
  return h;
}

static gsize
drain_out (GstHarness * h)
{
  GstBuffer *b;
  gsize bytes = 0;
  while ((b = gst_harness_try_pull (h))) {
    bytes += gst_buffer_get_size (b);
    gst_buffer_unref (b);
  }
  return bytes;
}

static double
time_records (const gchar * mode, const gfloat * x, gint R, gint C, gint N,
    gint rate_in, gint rate_out, gsize * out_bytes)
{
  gchar *props = g_strdup_printf ("rate=%d mode=%s", rate_out, mode);
  GstHarness *h = harness (props, rate_in, C);
  gint64 t0;
  gint r;
  GstBuffer **bufs = g_new (GstBuffer *, R);

  /* buffers made before timing (the Python side gets its arrays for free) */
  for (r = 0; r < R; r++) {
    EtpEcgMeta *m;
    bufs[r] = gst_buffer_new_wrapped_full (GST_MEMORY_FLAG_READONLY,
        (gpointer) (x + (gsize) r * N * C), (gsize) N * C * 4, 0,
        (gsize) N * C * 4, NULL, NULL);
    m = etp_buffer_add_ecg_meta (bufs[r]);
    m->record_samples = N;
  }
  *out_bytes = 0;
  t0 = g_get_monotonic_time ();
  for (r = 0; r < R; r++) {
    if (gst_harness_push (h, bufs[r]) != GST_FLOW_OK) {
      g_printerr ("push failed\n");
      exit (3);
    }
    *out_bytes += drain_out (h);
  }
  t0 = g_get_monotonic_time () - t0;
  gst_harness_teardown (h);
  g_free (props);
  g_free (bufs);
  return t0 / 1e6;
}

static double
time_stream (const gfloat * x, gint C, gsize M, gsize chunk, gint rate_in,
    gint rate_out, gsize * out_bytes)
{
  gchar *props = g_strdup_printf ("rate=%d", rate_out);
  GstHarness *h = harness (props, rate_in, C);
  gint64 t0;
  gsize pos;
  GPtrArray *bufs = g_ptr_array_new ();
  guint i;

  for (pos = 0; pos < M; pos += chunk) {
    gsize n = MIN (chunk, M - pos);
    g_ptr_array_add (bufs, gst_buffer_new_wrapped_full
        (GST_MEMORY_FLAG_READONLY, (gpointer) (x + pos * C), n * C * 4, 0,
            n * C * 4, NULL, NULL));
  }
  *out_bytes = 0;
  t0 = g_get_monotonic_time ();
  for (i = 0; i < bufs->len; i++) {
    gst_harness_push (h, g_ptr_array_index (bufs, i));
    *out_bytes += drain_out (h);
  }
  gst_harness_push_event (h, gst_event_new_eos ());
  *out_bytes += drain_out (h);
  t0 = g_get_monotonic_time () - t0;
  g_ptr_array_free (bufs, TRUE);
  gst_harness_teardown (h);
  g_free (props);
  return t0 / 1e6;
}

int
main (int argc, char **argv)
{
  gint R, C, N, rate_in, rate_out, reps, i;
  const gchar *reps_env = g_getenv ("ETP_BENCH_REPS");
  gsize M, chunk, ob_fft = 0, ob_poly = 0, ob_stream = 0;
  gfloat *rec, *stream;
  double t_fft = 1e30, t_poly = 1e30, t_stream = 1e30;

  gst_init (&argc, &argv);
  if (argc != 10) {
    g_printerr ("usage: %s RECORDS_FILE R C N RATE_IN RATE_OUT STREAM_FILE M "
        "CHUNK\n", argv[0]);
    return 1;
  }
  R = atoi (argv[2]);
  C = atoi (argv[3]);
  N = atoi (argv[4]);
  rate_in = atoi (argv[5]);
  rate_out = atoi (argv[6]);
  M = (gsize) g_ascii_strtoull (argv[8], NULL, 10);
  chunk = (gsize) g_ascii_strtoull (argv[9], NULL, 10);
  reps = reps_env ? MAX (atoi (reps_env), 1) : 3;
  rec = read_all (argv[1], (gsize) R * C * N);
  stream = read_all (argv[7], M * C);

  for (i = 0; i < reps; i++) {
    t_fft = MIN (t_fft, time_records ("fft", rec, R, C, N, rate_in, rate_out,
            &ob_fft));
    t_poly = MIN (t_poly, time_records ("polyphase", rec, R, C, N, rate_in,
            rate_out, &ob_poly));
    t_stream = MIN (t_stream, time_stream (stream, C, M, chunk, rate_in,
            rate_out, &ob_stream));
  }
  printf ("{\"records_fft_s\": %.6f, \"records_poly_s\": %.6f, "
      "\"stream_poly_s\": %.6f, \"out_frames_fft\": %" G_GSIZE_FORMAT
      ", \"out_frames_poly\": %" G_GSIZE_FORMAT ", \"out_frames_stream\": %"
      G_GSIZE_FORMAT "}\n", t_fft, t_poly, t_stream, ob_fft / (C * 4),
      ob_poly / (C * 4), ob_stream / (C * 4));
  g_free (rec);
  g_free (stream);
  return 0;
}
