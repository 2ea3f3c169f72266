/* ecgwindow: window counts from records (hop, offset, center, max windows),
 * zero padding and dropping of short records, meta carried with
 * window_start / window_index, zscore / minmax statistics, continuous streams
 * across buffers with overlap, DISCONT gaps reported, EOS tail padding. */
#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>
#include <string.h>

#include "etpmeta.h"

#define CH 3
#define RATE 100

static GstBuffer *
ramp_buffer (gsize n, gsize first, gboolean record)
{
  gfloat *x = g_new (gfloat, n * CH);
  GstBuffer *b;
  gsize i;
  guint c;

  /* value = (frame index) + 1000 * lead, so the window's content names its
   * position */
  for (i = 0; i < n; i++)
    for (c = 0; c < CH; c++)
      x[i * CH + c] = (gfloat) (first + i + 1000 * c);
  b = gst_buffer_new_wrapped (x, n * CH * sizeof (gfloat));
  if (record) {
    EtpEcgMeta *m = etp_buffer_add_ecg_meta (b);
    m->record_id = g_strdup ("A0001");
    m->record_samples = n;
    m->fold = 4;
  }
  GST_BUFFER_PTS (b) = gst_util_uint64_scale (first, GST_SECOND, RATE);
  return b;
}

static GstHarness *
new_harness (const gchar * props)
{
  gchar *desc = g_strdup_printf ("ecgwindow %s", props);
  GstHarness *h = gst_harness_new_parse (desc);

  gst_harness_set_src_caps_str (h, "audio/x-raw,format=F32LE,"
      "layout=interleaved,rate=100,channels=3");
  g_free (desc);
  return h;
}

static gfloat
first_sample (GstBuffer * b, guint lead)
{
  gfloat v;
  gst_buffer_extract (b, lead * sizeof (gfloat), &v, sizeof v);
  return v;
}

GST_START_TEST (test_record_windows)
{
  GstHarness *h = new_harness ("duration=4 hop=2");
  guint i;

  /* 25 s: windows at 0, 2, ..., 20 s -> 11 windows of 400 frames */
  fail_unless_equals_int (gst_harness_push (h, ramp_buffer (2500, 0, TRUE)),
      GST_FLOW_OK);
  fail_unless_equals_int (gst_harness_buffers_in_queue (h), 11);
  for (i = 0; i < 11; i++) {
    GstBuffer *b = gst_harness_pull (h);
    EtpEcgMeta *m = etp_buffer_get_ecg_meta (b);
    fail_unless_equals_int (gst_buffer_get_size (b), 400 * CH * 4);
    fail_unless (m != NULL);
    fail_unless_equals_string (m->record_id, "A0001");
    fail_unless_equals_int (m->fold, 4);
    fail_unless_equals_uint64 (m->record_samples, 2500);
    fail_unless_equals_uint64 (m->window_start, i * 200);
    fail_unless_equals_int (m->window_index, i);
    fail_unless_equals_float (first_sample (b, 0), i * 200.0f);
    fail_unless_equals_float (first_sample (b, 2), 2000.0f + i * 200.0f);
    fail_unless_equals_uint64 (GST_BUFFER_PTS (b), i * 2 * GST_SECOND);
    fail_unless_equals_uint64 (GST_BUFFER_DURATION (b), 4 * GST_SECOND);
    gst_buffer_unref (b);
  }
  gst_harness_teardown (h);
}
GST_END_TEST;

GST_START_TEST (test_record_options)
{
  GstHarness *h;
  GstBuffer *b;

  /* max-windows + offset */
  h = new_harness ("duration=4 max-windows-per-record=2 offset=1");
  gst_harness_push (h, ramp_buffer (2500, 0, TRUE));
  fail_unless_equals_int (gst_harness_buffers_in_queue (h), 2);
  b = gst_harness_pull (h);
  fail_unless_equals_float (first_sample (b, 0), 100.0f);
  gst_buffer_unref (b);
  b = gst_harness_pull (h);
  fail_unless_equals_float (first_sample (b, 0), 500.0f);
  gst_buffer_unref (b);
  gst_harness_teardown (h);

  /* center one window in the record */
  h = new_harness ("duration=10 max-windows-per-record=1 center=true");
  gst_harness_push (h, ramp_buffer (1600, 0, TRUE));
  b = gst_harness_pull (h);
  fail_unless_equals_float (first_sample (b, 0), 300.0f);
  fail_unless_equals_uint64 (etp_buffer_get_ecg_meta (b)->window_start, 300);
  gst_buffer_unref (b);
  gst_harness_teardown (h);
}
GST_END_TEST;

GST_START_TEST (test_short_record_pad_and_drop)
{
  GstHarness *h = new_harness ("duration=10 pad=zero");
  GstBuffer *b;
  gfloat *v;
  GstMapInfo map;

  /* 6 s record, 10 s window: one window, the last 400 frames zero */
  gst_harness_push (h, ramp_buffer (600, 0, TRUE));
  fail_unless_equals_int (gst_harness_buffers_in_queue (h), 1);
  b = gst_harness_pull (h);
  fail_unless_equals_int (gst_buffer_get_size (b), 1000 * CH * 4);
  gst_buffer_map (b, &map, GST_MAP_READ);
  v = (gfloat *) map.data;
  fail_unless_equals_float (v[599 * CH], 599.0f);
  fail_unless_equals_float (v[600 * CH], 0.0f);
  fail_unless_equals_float (v[999 * CH + 2], 0.0f);
  gst_buffer_unmap (b, &map);
  gst_buffer_unref (b);
  gst_harness_teardown (h);

  h = new_harness ("duration=10 pad=drop");
  fail_unless_equals_int (gst_harness_push (h, ramp_buffer (600, 0, TRUE)),
      GST_FLOW_OK);
  fail_unless_equals_int (gst_harness_buffers_in_queue (h), 0);
  gst_harness_push (h, ramp_buffer (1000, 0, TRUE));
  fail_unless_equals_int (gst_harness_buffers_in_queue (h), 1);
  gst_harness_teardown (h);
}
GST_END_TEST;

static void
lead_stats (GstBuffer * b, guint lead, gsize n, double *mean, double *sd,
    double *lo, double *hi)
{
  GstMapInfo map;
  const gfloat *v;
  double s = 0, q = 0;
  gsize i;

  gst_buffer_map (b, &map, GST_MAP_READ);
  v = (const gfloat *) map.data;
  *lo = INFINITY;
  *hi = -INFINITY;
  for (i = 0; i < n; i++) {
    double x = v[i * CH + lead];
    s += x;
    *lo = MIN (*lo, x);
    *hi = MAX (*hi, x);
  }
  *mean = s / n;
  for (i = 0; i < n; i++)
    q += (v[i * CH + lead] - *mean) * (v[i * CH + lead] - *mean);
  *sd = sqrt (q / n);
  gst_buffer_unmap (b, &map);
}

GST_START_TEST (test_normalize)
{
  GstHarness *h = new_harness ("duration=5 normalize=zscore");
  GstBuffer *b;
  double mean, sd, lo, hi;
  guint c;

  gst_harness_push (h, ramp_buffer (500, 0, TRUE));
  b = gst_harness_pull (h);
  for (c = 0; c < CH; c++) {
    lead_stats (b, c, 500, &mean, &sd, &lo, &hi);
    fail_unless (fabs (mean) < 1e-4, "mean %g", mean);
    fail_unless (fabs (sd - 1.0) < 1e-4, "sd %g", sd);
  }
  gst_buffer_unref (b);
  gst_harness_teardown (h);

  h = new_harness ("duration=5 normalize=minmax");
  gst_harness_push (h, ramp_buffer (500, 0, TRUE));
  b = gst_harness_pull (h);
  for (c = 0; c < CH; c++) {
    lead_stats (b, c, 500, &mean, &sd, &lo, &hi);
    fail_unless (fabs (lo) < 1e-6 && fabs (hi - 1.0) < 1e-4, "%g %g", lo, hi);
  }
  gst_buffer_unref (b);
  gst_harness_teardown (h);
}
GST_END_TEST;

/* A stream in chunks of 130 frames (no meta): 4 s windows every 1 s. */
GST_START_TEST (test_stream_overlap_and_gap)
{
  GstHarness *h = new_harness ("duration=4 hop=1");
  GstBus *bus = gst_bus_new ();
  GstMessage *msg;
  GstBuffer *b;
  gsize pos = 0;
  guint i;

  gst_element_set_bus (h->element, bus);
  while (pos < 1300) {
    fail_unless_equals_int (gst_harness_push (h, ramp_buffer (130, pos,
                FALSE)), GST_FLOW_OK);
    pos += 130;
  }
  /* 1300 frames: starts 0, 100, ..., 900 -> 10 windows */
  fail_unless_equals_int (gst_harness_buffers_in_queue (h), 10);
  for (i = 0; i < 10; i++) {
    b = gst_harness_pull (h);
    fail_unless_equals_int (gst_buffer_get_size (b), 400 * CH * 4);
    fail_unless_equals_float (first_sample (b, 0), i * 100.0f);
    fail_unless_equals_uint64 (GST_BUFFER_PTS (b), i * GST_SECOND);
    gst_buffer_unref (b);
  }

  /* a gap: buffered frames are dropped, windows restart at the new data */
  b = ramp_buffer (450, 5000, FALSE);
  GST_BUFFER_FLAG_SET (b, GST_BUFFER_FLAG_DISCONT);
  fail_unless_equals_int (gst_harness_push (h, b), GST_FLOW_OK);
  msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ELEMENT);
  fail_unless (msg != NULL);
  fail_unless (gst_structure_has_name (gst_message_get_structure (msg),
          "etp-window-gap"));
  gst_message_unref (msg);
  fail_unless_equals_int (gst_harness_buffers_in_queue (h), 1);
  b = gst_harness_pull (h);
  fail_unless_equals_float (first_sample (b, 0), 5000.0f);
  fail_unless_equals_uint64 (GST_BUFFER_PTS (b), 50 * GST_SECOND);
  gst_buffer_unref (b);

  /* EOS with pad=zero: frames 5400..5449 were in no window yet, so the next
   * window (start 5100, 350 real frames) is emitted zero-padded */
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
  fail_unless_equals_int (gst_harness_buffers_in_queue (h), 1);
  b = gst_harness_pull (h);
  fail_unless_equals_float (first_sample (b, 0), 5100.0f);
  gst_buffer_unref (b);

  gst_element_set_bus (h->element, NULL);
  gst_object_unref (bus);
  gst_harness_teardown (h);
}
GST_END_TEST;

/* Live chunks of records (as ecgsrc is-live sends them): meta with the
 * chunk's window_start; a chunk at 0 starts the next record. */
static GstBuffer *
chunk (const gchar * rec, gsize total, gsize start, gsize n)
{
  GstBuffer *b = ramp_buffer (n, start, FALSE);
  EtpEcgMeta *m = etp_buffer_add_ecg_meta (b);

  m->record_id = g_strdup (rec);
  m->record_samples = total;
  m->window_start = start;
  return b;
}

GST_START_TEST (test_live_record_chunks)
{
  GstHarness *h = new_harness ("duration=2");
  GstBuffer *b;
  EtpEcgMeta *m;

  gst_harness_push (h, chunk ("A", 250, 0, 100));
  gst_harness_push (h, chunk ("A", 250, 100, 100));
  gst_harness_push (h, chunk ("A", 250, 200, 50));
  gst_harness_push (h, chunk ("B", 200, 0, 100));
  gst_harness_push (h, chunk ("B", 200, 100, 100));
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
  fail_unless_equals_int (gst_harness_buffers_in_queue (h), 3);

  b = gst_harness_pull (h);
  m = etp_buffer_get_ecg_meta (b);
  fail_unless_equals_string (m->record_id, "A");
  fail_unless_equals_uint64 (m->window_start, 0);
  gst_buffer_unref (b);
  b = gst_harness_pull (h);     /* A's last 50 frames, zero-padded */
  m = etp_buffer_get_ecg_meta (b);
  fail_unless_equals_string (m->record_id, "A");
  fail_unless_equals_uint64 (m->window_start, 200);
  fail_unless_equals_float (first_sample (b, 0), 200.0f);
  gst_buffer_unref (b);
  b = gst_harness_pull (h);
  m = etp_buffer_get_ecg_meta (b);
  fail_unless_equals_string (m->record_id, "B");
  fail_unless_equals_uint64 (m->window_start, 0);
  fail_unless_equals_int (m->window_index, 0);
  gst_buffer_unref (b);
  gst_harness_teardown (h);
}
GST_END_TEST;

/* A GAP event (live source lost data) also restarts the windows and is
 * reported on the bus. */
GST_START_TEST (test_gap_event)
{
  GstHarness *h = new_harness ("duration=1");
  GstBus *bus = gst_bus_new ();
  GstMessage *msg;
  const GstStructure *st;
  guint64 lost = 0;
  GstBuffer *b;

  gst_element_set_bus (h->element, bus);
  gst_harness_push (h, ramp_buffer (150, 0, FALSE));
  fail_unless_equals_int (gst_harness_buffers_in_queue (h), 1);
  fail_unless (gst_harness_push_event (h, gst_event_new_gap (2 * GST_SECOND,
              GST_SECOND)));
  msg = gst_bus_pop_filtered (bus, GST_MESSAGE_ELEMENT);
  fail_unless (msg != NULL);
  st = gst_message_get_structure (msg);
  fail_unless (gst_structure_has_name (st, "etp-window-gap"));
  fail_unless (gst_structure_get_uint64 (st, "discarded-frames", &lost));
  fail_unless_equals_uint64 (lost, 50);
  gst_message_unref (msg);
  gst_harness_push (h, ramp_buffer (100, 300, FALSE));
  fail_unless_equals_int (gst_harness_buffers_in_queue (h), 2);
  gst_buffer_unref (gst_harness_pull (h));
  b = gst_harness_pull (h);
  fail_unless_equals_float (first_sample (b, 0), 300.0f);
  fail_unless_equals_uint64 (GST_BUFFER_PTS (b), 3 * GST_SECOND);
  gst_buffer_unref (b);
  gst_element_set_bus (h->element, NULL);
  gst_object_unref (bus);
  gst_harness_teardown (h);
}
GST_END_TEST;

GST_START_TEST (test_bad_input)
{
  GstHarness *h = new_harness ("duration=1");
  gfloat x[4] = { 0 };

  fail_unless_equals_int (gst_harness_push (h, gst_buffer_new_memdup (x,
              sizeof x)), GST_FLOW_ERROR);
  gst_harness_teardown (h);
}
GST_END_TEST;

static Suite *
ecgwindow_suite (void)
{
  Suite *s = suite_create ("ecgwindow");
  TCase *tc = tcase_create ("general");

  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_record_windows);
  tcase_add_test (tc, test_record_options);
  tcase_add_test (tc, test_short_record_pad_and_drop);
  tcase_add_test (tc, test_normalize);
  tcase_add_test (tc, test_stream_overlap_and_gap);
  tcase_add_test (tc, test_live_record_chunks);
  tcase_add_test (tc, test_gap_event);
  tcase_add_test (tc, test_bad_input);
  return s;
}

GST_CHECK_MAIN (ecgwindow);
