/* ecgencoder: a PyTorch-written checkpoint (tests/engine/golden_resnet,
 * narrow ResNet18-1D) + golden input windows -> the features / embeddings
 * PyTorch computed; batching across buffers, partial batches at EOS and
 * after max-latency, meta and timestamps carried, clear errors on caps that
 * do not match the checkpoint. */
#include "config.h"

#include <math.h>
#include <string.h>

#include <gst/gst.h>
#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>

#include "etpmeta.h"
#include "nets/safetensors.h"

static gchar *
golden_path (const gchar * file)
{
  const gchar *root = g_getenv ("ETP_SOURCE_ROOT");
  return g_build_filename (root ? root : ETP_SOURCE_ROOT, "tests", "engine",
      "golden_resnet", file, NULL);
}

typedef struct {
  guint B, C, L;
  gfloat *x;                    /* (B, C, L) */
  gfloat *features, *embeddings;
  guint F, E;
} Golden;

static void
golden_load (Golden * g)
{
  gchar *p = golden_path ("golden_a.safetensors");
  GError *err = NULL;
  EtpSafetensors *st = etp_safetensors_open (p, &err);
  const EtpStTensor *t;

  g_assert_no_error (err);
  t = etp_safetensors_get (st, "x");
  g->B = t->shape[0];
  g->C = t->shape[1];
  g->L = t->shape[2];
  g->x = g_new (gfloat, t->numel);
  etp_st_tensor_to_f32 (t, g->x);
  t = etp_safetensors_get (st, "eval.features");
  g->F = t->shape[1];
  g->features = g_new (gfloat, t->numel);
  etp_st_tensor_to_f32 (t, g->features);
  t = etp_safetensors_get (st, "eval.embeddings");
  g->E = t->shape[1];
  g->embeddings = g_new (gfloat, t->numel);
  etp_st_tensor_to_f32 (t, g->embeddings);
  etp_safetensors_free (st);
  g_free (p);
}

static void
golden_clear (Golden * g)
{
  g_free (g->x);
  g_free (g->features);
  g_free (g->embeddings);
}

/* Window b of the golden input as an interleaved buffer with a meta. */
static GstBuffer *
window_buffer (const Golden * g, guint b)
{
  GstBuffer *buf = gst_buffer_new_allocate (NULL,
      (gsize) g->C * g->L * sizeof (gfloat), NULL);
  GstMapInfo map;
  EtpEcgMeta *meta;
  gfloat *d;

  gst_buffer_map (buf, &map, GST_MAP_WRITE);
  d = (gfloat *) map.data;
  for (guint t = 0; t < g->L; t++)
    for (guint c = 0; c < g->C; c++)
      d[(gsize) t * g->C + c] = g->x[((gsize) b * g->C + c) * g->L + t];
  gst_buffer_unmap (buf, &map);
  GST_BUFFER_PTS (buf) = b * 10 * GST_SECOND;
  GST_BUFFER_DURATION (buf) = 10 * GST_SECOND;
  meta = etp_buffer_add_ecg_meta (buf);
  meta->record_id = g_strdup_printf ("rec%u", b);
  meta->window_index = b;
  return buf;
}

static gdouble
max_rel (const gfloat * got, const gfloat * want, guint n)
{
  gdouble m = 0, r = 0;
  for (guint i = 0; i < n; i++)
    r = MAX (r, fabs (want[i]));
  for (guint i = 0; i < n; i++)
    m = MAX (m, fabs ((gdouble) got[i] - want[i]));
  return m / MAX (r, 1e-30);
}

static void
check_output (GstBuffer * out, const gfloat * want, guint dim, guint b)
{
  GstMapInfo map;
  EtpEcgMeta *meta;
  gdouble e;

  g_assert_nonnull (out);
  fail_unless_equals_int (gst_buffer_get_size (out), dim * sizeof (gfloat));
  gst_buffer_map (out, &map, GST_MAP_READ);
  e = max_rel ((const gfloat *) map.data, want + (gsize) b * dim, dim);
  gst_buffer_unmap (out, &map);
  GST_INFO ("window %u: max rel diff vs PyTorch %.3g", b, e);
  fail_unless (e < 1e-4, "window %u differs from PyTorch: %g", b, e);
  fail_unless_equals_uint64 (GST_BUFFER_PTS (out), b * 10 * GST_SECOND);
  meta = etp_buffer_get_ecg_meta (out);
  fail_unless (meta != NULL);
  {
    gchar *id = g_strdup_printf ("rec%u", b);
    fail_unless_equals_string (meta->record_id, id);
    g_free (id);
  }
}

static GstHarness *
make_harness (const gchar * props, const Golden * g)
{
  gchar *ck = golden_path ("model_a.safetensors");
  gchar *desc = g_strdup_printf ("ecgencoder checkpoint=\"%s\" device=cpu "
      "threads=1 %s", ck, props);
  gchar *caps = g_strdup_printf ("audio/x-raw, format=F32LE, "
      "layout=interleaved, rate=100, channels=%u", g->C);
  GstHarness *h = gst_harness_new_parse (desc);
  gst_harness_set_src_caps_str (h, caps);
  g_free (ck);
  g_free (desc);
  g_free (caps);
  return h;
}

GST_START_TEST (test_features_match_pytorch)
{
  Golden g;
  GstHarness *h;
  GstCaps *caps;

  golden_load (&g);
  /* batch of 2: the first two windows run together, the third at EOS */
  h = make_harness ("output=features batch-size=2 max-latency=-1", &g);
  for (guint b = 0; b < g.B; b++)
    fail_unless_equals_int (gst_harness_push (h, window_buffer (&g, b)),
        GST_FLOW_OK);
  fail_unless_equals_int (gst_harness_buffers_received (h), 2);
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
  fail_unless_equals_int (gst_harness_buffers_received (h), g.B);
  caps = gst_pad_get_current_caps (h->sinkpad);
  {
    gchar *dims = g_strdup_printf ("%u:1:1:1", g.F);
    fail_unless_equals_string (gst_structure_get_string
        (gst_caps_get_structure (caps, 0), "dimensions"), dims);
    g_free (dims);
  }
  gst_caps_unref (caps);
  for (guint b = 0; b < g.B; b++) {
    GstBuffer *out = gst_harness_pull (h);
    check_output (out, g.features, g.F, b);
    gst_buffer_unref (out);
  }
  gst_harness_teardown (h);
  golden_clear (&g);
}

GST_END_TEST;

GST_START_TEST (test_embeddings_match_pytorch)
{
  Golden g;
  GstHarness *h;

  golden_load (&g);
  h = make_harness ("output=embedding batch-size=1", &g);
  for (guint b = 0; b < g.B; b++) {
    GstBuffer *out;
    fail_unless_equals_int (gst_harness_push (h, window_buffer (&g, b)),
        GST_FLOW_OK);
    out = gst_harness_pull (h);
    check_output (out, g.embeddings, g.E, b);
    gst_buffer_unref (out);
  }
  gst_harness_teardown (h);
  golden_clear (&g);
}

GST_END_TEST;

/* precision=bf16: within 1e-2 of PyTorch's float32 features. */
GST_START_TEST (test_bf16_features)
{
  Golden g;
  GstHarness *h;

  golden_load (&g);
  h = make_harness ("output=features precision=bf16 batch-size=3", &g);
  for (guint b = 0; b < g.B; b++)
    fail_unless_equals_int (gst_harness_push (h, window_buffer (&g, b)),
        GST_FLOW_OK);
  for (guint b = 0; b < g.B; b++) {
    GstBuffer *out = gst_harness_pull (h);
    GstMapInfo map;
    gdouble e;
    gst_buffer_map (out, &map, GST_MAP_READ);
    e = max_rel ((const gfloat *) map.data, g.features + (gsize) b * g.F,
        g.F);
    gst_buffer_unmap (out, &map);
    fail_unless (e < 1e-2 && e > 0, "bf16 window %u: %g", b, e);
    gst_buffer_unref (out);
  }
  gst_harness_teardown (h);
  golden_clear (&g);
}

GST_END_TEST;

/* A live feed: one window, batch of 8, nothing else arrives: the window is
 * encoded after max-latency (50 ms), not at EOS. */
GST_START_TEST (test_max_latency_flushes)
{
  Golden g;
  GstHarness *h;
  GstBuffer *out;

  golden_load (&g);
  h = make_harness ("output=features batch-size=8 max-latency=50000000", &g);
  fail_unless_equals_int (gst_harness_push (h, window_buffer (&g, 0)),
      GST_FLOW_OK);
  out = gst_harness_pull (h);   /* blocks until the timer fires */
  check_output (out, g.features, g.F, 0);
  gst_buffer_unref (out);
  gst_harness_teardown (h);
  golden_clear (&g);
}

GST_END_TEST;

/* Runs appsrc ! ecgencoder ! fakesink with @caps and one buffer of
 * @frames frames; returns the error message posted (or NULL). */
static gchar *
run_for_error (const gchar * enc_props, const gchar * caps_str, guint frames,
    guint channels)
{
  gchar *ck = golden_path ("model_a.safetensors");
  gchar *desc = g_strdup_printf ("appsrc name=src format=time caps=\"%s\" ! "
      "ecgencoder %s ! fakesink", caps_str, enc_props);
  gchar *d2 = NULL;
  GstElement *pipe;
  GstBus *bus;
  GstMessage *msg;
  GstElement *src;
  gchar *result = NULL;
  GstStateChangeReturn sret;

  d2 = g_strdup_printf (desc, ck);
  pipe = gst_parse_launch (d2, NULL);
  fail_unless (pipe != NULL);
  src = gst_bin_get_by_name (GST_BIN (pipe), "src");
  bus = gst_element_get_bus (pipe);
  sret = gst_element_set_state (pipe, GST_STATE_PLAYING);
  if (sret != GST_STATE_CHANGE_FAILURE && frames) {
    GstBuffer *buf = gst_buffer_new_allocate (NULL,
        (gsize) frames * channels * 4, NULL);
    gst_buffer_memset (buf, 0, 0, (gsize) frames * channels * 4);
    GST_BUFFER_PTS (buf) = 0;
    GstFlowReturn fret;
    g_signal_emit_by_name (src, "push-buffer", buf, &fret);
    gst_buffer_unref (buf);
    g_signal_emit_by_name (src, "end-of-stream", &fret);
  }
  msg = gst_bus_timed_pop_filtered (bus, 20 * GST_SECOND,
      GST_MESSAGE_ERROR | GST_MESSAGE_EOS);
  if (msg && GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ERROR) {
    GError *err = NULL;
    gchar *dbg = NULL;
    gst_message_parse_error (msg, &err, &dbg);
    result = g_strdup_printf ("%s | %s", err->message, dbg ? dbg : "");
    GST_INFO ("error: %s", result);
    g_clear_error (&err);
    g_free (dbg);
  }
  if (msg)
    gst_message_unref (msg);
  gst_element_set_state (pipe, GST_STATE_NULL);
  gst_object_unref (bus);
  gst_object_unref (src);
  gst_object_unref (pipe);
  g_free (ck);
  g_free (desc);
  g_free (d2);
  return result;
}

#define CAPS_FMT "audio/x-raw, format=F32LE, layout=interleaved, " \
  "rate=%d, channels=%d"

GST_START_TEST (test_rate_mismatch)
{
  gchar *caps = g_strdup_printf (CAPS_FMT, 500, 12);
  gchar *e = run_for_error ("checkpoint=\"%s\"", caps, 257, 12);
  fail_unless (e != NULL);
  fail_unless (strstr (e, "500 Hz") && strstr (e, "100 Hz"), "%s", e);
  g_free (e);
  g_free (caps);
}

GST_END_TEST;

GST_START_TEST (test_leads_mismatch)
{
  gchar *caps = g_strdup_printf (CAPS_FMT, 100, 8);
  gchar *e = run_for_error ("checkpoint=\"%s\"", caps, 257, 8);
  fail_unless (e != NULL);
  fail_unless (strstr (e, "8 leads") && strstr (e, "12"), "%s", e);
  g_free (e);
  g_free (caps);
}

GST_END_TEST;

GST_START_TEST (test_length_mismatch)
{
  gchar *caps = g_strdup_printf (CAPS_FMT, 100, 12);
  gchar *e = run_for_error ("checkpoint=\"%s\"", caps, 200, 12);
  fail_unless (e != NULL);
  fail_unless (strstr (e, "200 samples") && strstr (e, "257"), "%s", e);
  g_free (e);
  g_free (caps);
}

GST_END_TEST;

GST_START_TEST (test_no_checkpoint)
{
  gchar *caps = g_strdup_printf (CAPS_FMT, 100, 12);
  gchar *e = run_for_error ("threads=1%.0s", caps, 0, 12);
  fail_unless (e != NULL);
  fail_unless (strstr (e, "checkpoint=random") != NULL, "%s", e);
  g_free (e);
  e = run_for_error ("checkpoint=/nonexistent/w.safetensors%.0s", caps, 0, 12);
  fail_unless (e != NULL);
  fail_unless (strstr (e, "/nonexistent/w.safetensors") != NULL, "%s", e);
  g_free (e);
  g_free (caps);
}

GST_END_TEST;

/* checkpoint=random: full-size encoder, unit-norm 512-d embeddings, the
 * same seed gives the same output. */
GST_START_TEST (test_random_checkpoint)
{
  gfloat first[512];
  for (gint run = 0; run < 2; run++) {
    GstHarness *h = gst_harness_new_parse ("ecgencoder checkpoint=random "
        "seed=5 device=cpu threads=1 batch-size=1");
    GstBuffer *in, *out;
    GstMapInfo map;
    gdouble norm = 0;
    gfloat *d;

    gst_harness_set_src_caps_str (h, "audio/x-raw, format=F32LE, "
        "layout=interleaved, rate=100, channels=3");
    in = gst_buffer_new_allocate (NULL, 32 * 3 * 4, NULL);
    gst_buffer_map (in, &map, GST_MAP_WRITE);
    d = (gfloat *) map.data;
    for (gint i = 0; i < 32 * 3; i++)
      d[i] = sinf (0.1f * i);
    gst_buffer_unmap (in, &map);
    fail_unless_equals_int (gst_harness_push (h, in), GST_FLOW_OK);
    out = gst_harness_pull (h);
    fail_unless_equals_int (gst_buffer_get_size (out), 512 * 4);
    gst_buffer_map (out, &map, GST_MAP_READ);
    d = (gfloat *) map.data;
    for (gint i = 0; i < 512; i++)
      norm += (gdouble) d[i] * d[i];
    fail_unless (fabs (sqrt (norm) - 1.0) < 1e-4, "norm %g", sqrt (norm));
    if (run == 0)
      memcpy (first, d, sizeof first);
    else
      fail_unless (memcmp (first, d, sizeof first) == 0);
    gst_buffer_unmap (out, &map);
    gst_buffer_unref (out);
    gst_harness_teardown (h);
  }
}

GST_END_TEST;

static Suite *
ecgencoder_suite (void)
{
  Suite *s = suite_create ("ecgencoder");
  TCase *tc = tcase_create ("general");

  suite_add_tcase (s, tc);
  tcase_set_timeout (tc, 240);
  tcase_add_test (tc, test_features_match_pytorch);
  tcase_add_test (tc, test_embeddings_match_pytorch);
  tcase_add_test (tc, test_max_latency_flushes);
  tcase_add_test (tc, test_bf16_features);
  tcase_add_test (tc, test_rate_mismatch);
  tcase_add_test (tc, test_leads_mismatch);
  tcase_add_test (tc, test_length_mismatch);
  tcase_add_test (tc, test_no_checkpoint);
  tcase_add_test (tc, test_random_checkpoint);
  return s;
}

GST_CHECK_MAIN (ecgencoder);
