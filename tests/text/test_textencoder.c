/* textencoder element: lines split across buffers, empty-line policy, ECG
 * buffers with report metas, the feature cache, the word-vector path with
 * the report normaliser, and errors (invalid UTF-8, missing model files,
 * missing reports) that name the cause. Uses the tiny BERT of
 * tests/text/tinybert (see make_golden.py). */
#include "config.h"

#include <gst/gst.h>
#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>
#include <gst/app/gstappsrc.h>
#include <glib/gstdio.h>
#include <string.h>

#include "etpcaps.h"
#include "etpmeta.h"
#include "text/textmodel.h"
#include "text/wordvec.h"

static gchar *
tinybert (void)
{
  const gchar *root = g_getenv ("ETP_SOURCE_ROOT");
  return g_build_filename (root ? root : ETP_SOURCE_ROOT, "tests", "text",
      "tinybert", NULL);
}

static GstHarness *
make_harness (const gchar * model, const gchar * extra_prop, gint extra_val)
{
  GstElement *e = gst_element_factory_make ("textencoder", NULL);
  GstHarness *h;
  fail_unless (e != NULL);
  g_object_set (e, "model", model, "batch-size", 2, NULL);
  if (extra_prop)
    gst_util_set_object_arg (G_OBJECT (e), extra_prop,
        extra_val == 1 ? "encode" : "skip");
  h = gst_harness_new_with_element (e, "sink", "src");
  gst_object_unref (e);
  return h;
}

static void
push_str (GstHarness * h, const gchar * s)
{
  GstBuffer *b = gst_buffer_new_memdup (s, strlen (s));
  fail_unless_equals_int (gst_harness_push (h, b), GST_FLOW_OK);
}

/* Reference vectors from the library directly. */
static gfloat *
reference (const gchar * model, const gchar * const *texts, guint n, guint * dim)
{
  EtpTextModelOptions o;
  GError *err = NULL;
  EtpTextModel *tm;
  gfloat *out;
  etp_text_model_options_init (&o);
  tm = etp_text_model_open (model, &o, &err);
  fail_unless (tm != NULL);
  *dim = etp_text_model_dim (tm);
  out = g_new (gfloat, n * *dim);
  fail_unless (etp_text_model_encode (tm, texts, n, out, NULL, &err));
  etp_text_model_free (tm);
  return out;
}

static void
check_out (GstHarness * h, const gfloat * ref, guint n, guint dim)
{
  guint i, k;
  for (i = 0; i < n; i++) {
    GstBuffer *b = gst_harness_pull (h);
    GstMapInfo map;
    const gfloat *v;
    fail_unless (b != NULL);
    fail_unless (gst_buffer_map (b, &map, GST_MAP_READ));
    fail_unless_equals_int (map.size, dim * 4);
    v = (const gfloat *) map.data;
    for (k = 0; k < dim; k++)
      fail_unless (fabsf (v[k] - ref[i * dim + k]) < 1e-5,
          "item %u value %u: %g vs %g", i, k, v[k], ref[i * dim + k]);
    gst_buffer_unmap (b, &map);
    gst_buffer_unref (b);
  }
}

GST_START_TEST (test_lines_split_across_buffers)
{
  gchar *model = tinybert ();
  GstHarness *h = make_harness (model, NULL, 0);
  const gchar *texts[] = { "Hello, my dog is cute", "sinusrhythmus", "last" };
  guint dim;
  gfloat *ref = reference (model, texts, 3, &dim);
  GstCaps *caps;

  gst_harness_set_src_caps_str (h, "text/x-raw, format=(string)utf8");
  push_str (h, "Hello, my d");
  push_str (h, "og is cute\n\n  \nsinus");
  push_str (h, "rhythmus\r\n");
  push_str (h, "last");
  /* batch-size 2: two vectors are out before EOS */
  fail_unless_equals_int (gst_harness_buffers_received (h), 2);
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
  caps = gst_pad_get_current_caps (h->sinkpad);
  fail_unless_equals_int (etp_tensor_caps_get_dim (caps), dim);
  gst_caps_unref (caps);
  fail_unless_equals_int (gst_harness_buffers_received (h), 3);
  check_out (h, ref, 3, dim);
  g_free (ref);
  gst_harness_teardown (h);
  g_free (model);
}

GST_END_TEST;

GST_START_TEST (test_empty_lines_encoded)
{
  gchar *model = tinybert ();
  GstHarness *h = make_harness (model, "empty-lines", 1);
  const gchar *texts[] = { "a", "", "b" };
  guint dim;
  gfloat *ref = reference (model, texts, 3, &dim);

  gst_harness_set_src_caps_str (h, "text/x-raw, format=(string)utf8");
  push_str (h, "a\n\nb\n");
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
  fail_unless_equals_int (gst_harness_buffers_received (h), 3);
  check_out (h, ref, 3, dim);
  g_free (ref);
  gst_harness_teardown (h);
  g_free (model);
}

GST_END_TEST;

static GstBuffer *
ecg_buffer (const gchar * report, const gchar * id, GstClockTime pts)
{
  GstBuffer *b = gst_buffer_new_allocate (NULL, 12 * 4 * 4, NULL);
  EtpEcgMeta *m = etp_buffer_add_ecg_meta (b);
  gst_buffer_memset (b, 0, 0, 12 * 4 * 4);
  m->report = g_strdup (report);
  m->record_id = g_strdup (id);
  GST_BUFFER_PTS (b) = pts;
  return b;
}

GST_START_TEST (test_ecg_reports)
{
  gchar *model = tinybert ();
  GstHarness *h = make_harness (model, "missing-report", 0);
  const gchar *texts[] = { "sinusrhythmus normales ekg", "vorhofflimmern" };
  guint dim;
  gfloat *ref = reference (model, texts, 2, &dim);
  GstBuffer *out;
  EtpEcgMeta *m;

  gst_harness_set_src_caps_str (h, "audio/x-raw, format=(string)F32LE, "
      "layout=(string)interleaved, rate=(int)100, channels=(int)12");
  fail_unless_equals_int (gst_harness_push (h, ecg_buffer (texts[0], "r1",
              0)), GST_FLOW_OK);
  /* no report: skipped (missing-report=skip) */
  fail_unless_equals_int (gst_harness_push (h, ecg_buffer (NULL, "r2",
              GST_SECOND)), GST_FLOW_OK);
  fail_unless_equals_int (gst_harness_push (h, ecg_buffer (texts[1], "r3",
              2 * GST_SECOND)), GST_FLOW_OK);
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
  fail_unless_equals_int (gst_harness_buffers_received (h), 2);
  out = gst_harness_pull (h);
  m = etp_buffer_get_ecg_meta (out);
  fail_unless (m != NULL);
  fail_unless_equals_string (m->record_id, "r1");
  fail_unless_equals_uint64 (GST_BUFFER_PTS (out), 0);
  gst_buffer_unref (out);
  out = gst_harness_pull (h);
  m = etp_buffer_get_ecg_meta (out);
  fail_unless_equals_string (m->record_id, "r3");
  fail_unless_equals_uint64 (GST_BUFFER_PTS (out), 2 * GST_SECOND);
  {
    GstMapInfo map;
    guint k;
    gst_buffer_map (out, &map, GST_MAP_READ);
    for (k = 0; k < dim; k++)
      fail_unless (fabsf (((gfloat *) map.data)[k] - ref[dim + k]) < 1e-5);
    gst_buffer_unmap (out, &map);
  }
  gst_buffer_unref (out);
  g_free (ref);
  gst_harness_teardown (h);
  g_free (model);
}

GST_END_TEST;

GST_START_TEST (test_cache)
{
  gchar *model = tinybert ();
  gchar *cache = NULL;
  gint fd = g_file_open_tmp ("etp-textcache-XXXXXX", &cache, NULL);
  const gchar *texts[] = { "one", "two", "three" };
  guint dim, run;
  gfloat *ref = reference (model, texts, 3, &dim);
  GStatBuf st;
  gint64 size_after_first = 0;

  close (fd);
  g_unlink (cache);
  for (run = 0; run < 2; run++) {
    GstElement *e = gst_element_factory_make ("textencoder", NULL);
    GstHarness *h;
    g_object_set (e, "model", model, "cache", cache, NULL);
    h = gst_harness_new_with_element (e, "sink", "src");
    gst_object_unref (e);
    gst_harness_set_src_caps_str (h, "text/x-raw, format=(string)utf8");
    push_str (h, "one\ntwo\nthree\n");
    fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
    check_out (h, ref, 3, dim);
    gst_harness_teardown (h);
    fail_unless (g_stat (cache, &st) == 0);
    if (run == 0)
      size_after_first = st.st_size;
  }
  /* header + 3 records, nothing appended by the second run */
  fail_unless_equals_int64 (size_after_first, 16 + 3 * (32 + dim * 4 + 4));
  fail_unless_equals_int64 ((gint64) st.st_size, size_after_first);
  g_unlink (cache);
  g_free (cache);
  g_free (ref);
  g_free (model);
}

GST_END_TEST;

/* Runs appsrc ! textencoder ! fakesink with @input; returns the error
 * message + debug text (or NULL when the pipeline reached EOS). */
static gchar *
run_for_error (const gchar * props, const gchar * caps, const gchar * input)
{
  gchar *desc = g_strdup_printf ("appsrc name=src caps=\"%s\" ! textencoder "
      "%s ! fakesink", caps, props);
  GError *err = NULL;
  GstElement *p = gst_parse_launch (desc, &err);
  GstElement *src;
  GstBus *bus;
  GstMessage *msg;
  gchar *result = NULL;

  fail_unless (p != NULL, "%s", err ? err->message : "");
  src = gst_bin_get_by_name (GST_BIN (p), "src");
  gst_element_set_state (p, GST_STATE_PLAYING);
  if (input)
    gst_app_src_push_buffer (GST_APP_SRC (src),
        gst_buffer_new_memdup (input, strlen (input)));
  gst_app_src_end_of_stream (GST_APP_SRC (src));
  bus = gst_element_get_bus (p);
  msg = gst_bus_timed_pop_filtered (bus, 30 * GST_SECOND,
      GST_MESSAGE_ERROR | GST_MESSAGE_EOS);
  fail_unless (msg != NULL);
  if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ERROR) {
    GError *e = NULL;
    gchar *dbg = NULL;
    gst_message_parse_error (msg, &e, &dbg);
    result = g_strdup_printf ("%s | %s", e->message, dbg ? dbg : "");
    g_error_free (e);
    g_free (dbg);
  }
  gst_message_unref (msg);
  gst_object_unref (bus);
  gst_element_set_state (p, GST_STATE_NULL);
  gst_object_unref (src);
  gst_object_unref (p);
  g_free (desc);
  return result;
}

#define TEXT_CAPS "text/x-raw,format=utf8"

GST_START_TEST (test_errors)
{
  gchar *model = tinybert ();
  gchar *props = g_strdup_printf ("model=%s", model);
  gchar *tmp = g_dir_make_tmp ("etp-te-XXXXXX", NULL);
  gchar *r;

  /* sanity: a good input reaches EOS */
  r = run_for_error (props, TEXT_CAPS, "fine\n");
  fail_unless (r == NULL, "%s", r);

  r = run_for_error (props, TEXT_CAPS, "fine\nbad \xff\xfe here\n");
  fail_unless (r != NULL);
  fail_unless (strstr (r, "UTF-8") && strstr (r, "line 2"), "%s", r);
  g_free (r);

  g_free (props);
  props = g_strdup_printf ("model=%s empty-lines=error", model);
  r = run_for_error (props, TEXT_CAPS, "a\n\nb\n");
  fail_unless (r != NULL && strstr (r, "line 2") && strstr (r, "empty"), "%s", r);
  g_free (r);

  /* a folder without the model files */
  g_free (props);
  props = g_strdup_printf ("model=%s", tmp);
  r = run_for_error (props, TEXT_CAPS, "x\n");
  fail_unless (r != NULL && strstr (r, "vocab.txt"), "%s", r);
  g_free (r);

  g_free (props);
  r = run_for_error ("model=/nonexistent/model", TEXT_CAPS, "x\n");
  fail_unless (r != NULL && strstr (r, "does not exist"), "%s", r);
  g_free (r);

  props = g_strdup_printf ("model=%s device=cuda", model);
  r = run_for_error (props, TEXT_CAPS, "x\n");
  {
    /* an error naming cuda unless this machine has a GPU */
    EtpBackend *gpu = etp_backend_new (ETP_DEVICE_CUDA, 0, NULL);
    if (gpu)
      fail_unless (r == NULL, "%s", r);
    else
      fail_unless (r != NULL && strstr (r, "cuda"), "%s", r);
    if (gpu)
      etp_backend_free (gpu);
  }
  g_free (r);

  /* ECG buffer without meta, default missing-report=error */
  g_free (props);
  props = g_strdup_printf ("model=%s", model);
  r = run_for_error (props, "audio/x-raw,format=F32LE,layout=interleaved,"
      "rate=100,channels=1", "abcd");
  fail_unless (r != NULL && strstr (r, "report"), "%s", r);
  g_free (r);

  /* truncate=false and an over-long text */
  g_free (props);
  props = g_strdup_printf ("model=%s max-length=4 truncate=false", model);
  r = run_for_error (props, TEXT_CAPS, "Hello, my dog is cute\n");
  fail_unless (r != NULL && strstr (r, "max-length"), "%s", r);
  g_free (r);

  g_rmdir (tmp);
  g_free (tmp);
  g_free (props);
  g_free (model);
}

GST_END_TEST;

GST_START_TEST (test_wordvec_normalized)
{
  gchar *path = NULL;
  gint fd = g_file_open_tmp ("etp-te-wv-XXXXXX", &path, NULL);
  GError *err = NULL;
  EtpWordVecWriter *w;
  const gfloat v_sinus[2] = { 1, 0 }, v_rhythm[2] = { 0, 1 };
  GstElement *e;
  GstHarness *h;
  GstBuffer *b;
  GstMapInfo map;
  guint pass;

  close (fd);
  w = etp_wordvec_writer_new (path, 2, &err);
  fail_unless (w != NULL);
  fail_unless (etp_wordvec_writer_add (w, "sinus", v_sinus, 0, &err));
  fail_unless (etp_wordvec_writer_add (w, "rhythm", v_rhythm, 1, &err));
  fail_unless (etp_wordvec_writer_finish (w, &err));
  etp_wordvec_writer_free (w);

  for (pass = 0; pass < 2; pass++) {
    e = gst_element_factory_make ("textencoder", NULL);
    g_object_set (e, "model", path, "normalize-reports", pass == 1, NULL);
    h = gst_harness_new_with_element (e, "sink", "src");
    gst_object_unref (e);
    gst_harness_set_src_caps_str (h, "text/x-raw, format=(string)utf8");
    push_str (h, "Sinusrhythmus\n");
    fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
    b = gst_harness_pull (h);
    gst_buffer_map (b, &map, GST_MAP_READ);
    fail_unless_equals_int (map.size, 8);
    if (pass == 0) {
      /* German word not in the English vocabulary: zeros, GAP flag */
      fail_unless (GST_BUFFER_FLAG_IS_SET (b, GST_BUFFER_FLAG_GAP));
      fail_unless_equals_float (((gfloat *) map.data)[0], 0.0f);
    } else {
      /* "sinus rhythm" after normalisation: mean of both */
      fail_if (GST_BUFFER_FLAG_IS_SET (b, GST_BUFFER_FLAG_GAP));
      fail_unless_equals_float (((gfloat *) map.data)[0], 0.5f);
      fail_unless_equals_float (((gfloat *) map.data)[1], 0.5f);
    }
    gst_buffer_unmap (b, &map);
    gst_buffer_unref (b);
    gst_harness_teardown (h);
  }
  g_unlink (path);
  g_free (path);
}

GST_END_TEST;

static Suite *
textencoder_suite (void)
{
  Suite *s = suite_create ("textencoder");
  TCase *tc = tcase_create ("general");
  tcase_set_timeout (tc, 300);
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_lines_split_across_buffers);
  tcase_add_test (tc, test_empty_lines_encoded);
  tcase_add_test (tc, test_ecg_reports);
  tcase_add_test (tc, test_cache);
  tcase_add_test (tc, test_errors);
  tcase_add_test (tc, test_wordvec_normalized);
  return s;
}

GST_CHECK_MAIN (textencoder);
