/* ecgaugment: reproducible with a seed and different with another, eval mode
 * passes buffers untouched, each augmentation alone does what it says, meta
 * is kept, two views through a tee differ. */
#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>
#include <gst/app/gstappsrc.h>
#include <gst/app/gstappsink.h>
#include <string.h>

#include "etpmeta.h"

#define CH 3
#define N 1000
#define NONE_PROPS "crop=1 invert-prob=0 scale-min=1 scale-max=1 noise-std=0 mask-prob=0"

static GstBuffer *
ramp_buffer (void)
{
  gfloat *x = g_new (gfloat, N * CH);
  GstBuffer *b;
  EtpEcgMeta *m;
  gsize i;
  guint c;

  for (i = 0; i < N; i++)
    for (c = 0; c < CH; c++)
      x[i * CH + c] = (gfloat) (i + 1 + 2000 * c);
  b = gst_buffer_new_wrapped (x, N * CH * sizeof (gfloat));
  m = etp_buffer_add_ecg_meta (b);
  m->record_id = g_strdup ("r7");
  m->window_index = 3;
  return b;
}

static GstHarness *
new_harness (const gchar * props)
{
  gchar *desc = g_strdup_printf ("ecgaugment %s", props);
  GstHarness *h = gst_harness_new_parse (desc);

  gst_harness_set_src_caps_str (h, "audio/x-raw,format=F32LE,"
      "layout=interleaved,rate=100,channels=3");
  g_free (desc);
  return h;
}

/* Runs two buffers through a fresh element, returns the second's samples. */
static gfloat *
run (const gchar * props)
{
  GstHarness *h = new_harness (props);
  GstBuffer *b;
  gfloat *v = g_new (gfloat, N * CH);

  b = gst_harness_push_and_pull (h, ramp_buffer ());
  gst_buffer_unref (b);
  b = gst_harness_push_and_pull (h, ramp_buffer ());
  fail_unless (b != NULL);
  fail_unless_equals_int (gst_buffer_get_size (b), N * CH * 4);
  fail_unless (etp_buffer_get_ecg_meta (b) != NULL);
  fail_unless_equals_string (etp_buffer_get_ecg_meta (b)->record_id, "r7");
  fail_unless_equals_int (etp_buffer_get_ecg_meta (b)->window_index, 3);
  gst_buffer_extract (b, 0, v, N * CH * 4);
  gst_buffer_unref (b);
  gst_harness_teardown (h);
  return v;
}

GST_START_TEST (test_seeded)
{
  gfloat *a = run ("seed=5"), *b = run ("seed=5"), *c = run ("seed=6");

  fail_unless (memcmp (a, b, N * CH * 4) == 0);
  fail_unless (memcmp (a, c, N * CH * 4) != 0);
  g_free (a);
  g_free (b);
  g_free (c);
}
GST_END_TEST;

GST_START_TEST (test_eval_passthrough)
{
  GstHarness *h = new_harness ("mode=eval");
  GstBuffer *in = ramp_buffer (), *out;

  gst_buffer_ref (in);
  out = gst_harness_push_and_pull (h, in);
  fail_unless (out == in);
  {
    gfloat v;
    gst_buffer_extract (out, 4 * CH * 10, &v, 4);
    fail_unless_equals_float (v, 11.0f);
  }
  gst_buffer_unref (out);
  gst_buffer_unref (in);
  gst_harness_teardown (h);
}
GST_END_TEST;

GST_START_TEST (test_each_augmentation)
{
  gfloat *v;
  gsize i;
  guint c, zero_leads = 0;
  double s = 0, q = 0;

  /* inversion + fixed scale */
  v = run (NONE_PROPS " invert-prob=1 scale-min=2 scale-max=2");
  for (i = 0; i < N; i++)
    for (c = 0; c < CH; c++)
      fail_unless_equals_float (v[i * CH + c], -2.0f * (i + 1 + 2000 * c));
  g_free (v);

  /* lead masking with p=1 keeps exactly one lead */
  v = run (NONE_PROPS " mask-prob=1");
  for (c = 0; c < CH; c++) {
    gboolean all_zero = TRUE;
    for (i = 0; i < N; i++)
      all_zero &= v[i * CH + c] == 0.0f;
    zero_leads += all_zero;
  }
  fail_unless_equals_int (zero_leads, CH - 1);
  g_free (v);

  /* noise: residual std close to noise-std */
  v = run (NONE_PROPS " noise-std=0.5");
  for (i = 0; i < N; i++)
    for (c = 0; c < CH; c++) {
      double d = v[i * CH + c] - (i + 1 + 2000 * c);
      s += d;
      q += d * d;
    }
  s /= N * CH;
  q = sqrt (q / (N * CH) - s * s);
  fail_unless (fabs (q - 0.5) < 0.05, "noise std %g", q);
  fail_unless (fabs (s) < 0.05, "noise mean %g", s);
  g_free (v);

  /* crop + zero fill: one contiguous segment of 500 real samples */
  v = run (NONE_PROPS " crop=0.5 crop-fill=zero");
  {
    gsize nz = 0, span[2] = { N, 0 };
    for (i = 0; i < N; i++)
      if (v[i * CH] != 0.0f) {
        if (span[0] == N)
          span[0] = i;
        span[1] = i;
        nz++;
        fail_unless_equals_float (v[i * CH], (gfloat) (i + 1));
      }
    fail_unless_equals_int (nz, 500);
    fail_unless_equals_int (span[1] + 1 - span[0], 500);
  }
  g_free (v);

  /* crop + resample: a ramp segment of 500 samples stretched to 1000 */
  v = run (NONE_PROPS " crop=0.5");
  fail_unless (fabs (v[(N - 1) * CH] - v[0] - 499.0) < 1e-3);
  for (i = 1; i < N; i++)
    fail_unless (v[i * CH] > v[(i - 1) * CH]);
  fail_unless (fabs (v[500 * CH + 1] - v[500 * CH] - 2000.0) < 1e-2);
  g_free (v);
}
GST_END_TEST;

/* tee + two instances with different seeds: two different views of the
 * same window, each keeping the meta. */
GST_START_TEST (test_two_views)
{
  GstElement *pipe = gst_parse_launch ("appsrc name=src caps=\"audio/x-raw,"
      "format=F32LE,layout=interleaved,rate=100,channels=3\" format=time ! "
      "tee name=t t. ! queue ! ecgaugment seed=1 ! appsink name=a sync=false "
      "t. ! queue ! ecgaugment seed=2 ! appsink name=b sync=false", NULL);
  GstElement *src, *a, *b;
  GstSample *sa, *sb;
  GstBuffer *ba, *bb;
  GstMapInfo ma, mb;

  fail_unless (pipe != NULL);
  src = gst_bin_get_by_name (GST_BIN (pipe), "src");
  a = gst_bin_get_by_name (GST_BIN (pipe), "a");
  b = gst_bin_get_by_name (GST_BIN (pipe), "b");
  gst_element_set_state (pipe, GST_STATE_PLAYING);
  fail_unless_equals_int (gst_app_src_push_buffer (GST_APP_SRC (src),
          ramp_buffer ()), GST_FLOW_OK);
  gst_app_src_end_of_stream (GST_APP_SRC (src));
  sa = gst_app_sink_pull_sample (GST_APP_SINK (a));
  sb = gst_app_sink_pull_sample (GST_APP_SINK (b));
  fail_unless (sa && sb);
  ba = gst_sample_get_buffer (sa);
  bb = gst_sample_get_buffer (sb);
  fail_unless (etp_buffer_get_ecg_meta (ba) && etp_buffer_get_ecg_meta (bb));
  gst_buffer_map (ba, &ma, GST_MAP_READ);
  gst_buffer_map (bb, &mb, GST_MAP_READ);
  fail_unless_equals_int (ma.size, mb.size);
  fail_unless (memcmp (ma.data, mb.data, ma.size) != 0);
  gst_buffer_unmap (ba, &ma);
  gst_buffer_unmap (bb, &mb);
  gst_sample_unref (sa);
  gst_sample_unref (sb);
  gst_element_set_state (pipe, GST_STATE_NULL);
  gst_object_unref (src);
  gst_object_unref (a);
  gst_object_unref (b);
  gst_object_unref (pipe);
}
GST_END_TEST;

static Suite *
ecgaugment_suite (void)
{
  Suite *s = suite_create ("ecgaugment");
  TCase *tc = tcase_create ("general");

  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_seeded);
  tcase_add_test (tc, test_eval_passthrough);
  tcase_add_test (tc, test_each_augmentation);
  tcase_add_test (tc, test_two_views);
  return s;
}

GST_CHECK_MAIN (ecgaugment);
