/* ecgresample: caps negotiation, record (FFT + zero-phase) and stream
 * (polyphase + causal, chunked, drained at EOS) paths compared with the
 * models/dsp library (itself checked against scipy in test_dsp), meta and
 * timestamps, DISCONT reset, bad settings. */
#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>
#include <string.h>

#include "etpmeta.h"
#include "dsp/resample.h"
#include "dsp/filter.h"

#define CAPS_FMT "audio/x-raw,format=F32LE,layout=interleaved,rate=%d,channels=%d"

static gfloat *
make_signal (gsize n, guint ch, guint seed)
{
  gfloat *x = g_new (gfloat, n * ch);
  GRand *r = g_rand_new_with_seed (seed);
  gsize i;
  guint c;

  for (i = 0; i < n; i++)
    for (c = 0; c < ch; c++)
      x[i * ch + c] = (gfloat) (sin (2 * G_PI * 1.3 * i / 500.0 + c) + 0.3 * c
          + 0.2 * g_rand_double_range (r, -1, 1));
  g_rand_free (r);
  return x;
}

static GstBuffer *
make_buffer (const gfloat * x, gsize n, guint ch, gboolean record)
{
  GstBuffer *b = gst_buffer_new_memdup (x, n * ch * sizeof (gfloat));

  if (record) {
    EtpEcgMeta *m = etp_buffer_add_ecg_meta (b);
    m->record_id = g_strdup ("rec1");
    m->source_rate = 500;
    m->record_samples = n;
    m->window_start = 0;
  }
  GST_BUFFER_PTS (b) = 0;
  return b;
}

static GstHarness *
new_harness (const gchar * props, gint rate_in, guint ch)
{
  gchar *desc = g_strdup_printf ("ecgresample %s", props);
  gchar *caps = g_strdup_printf (CAPS_FMT, rate_in, ch);
  GstHarness *h = gst_harness_new_parse (desc);

  gst_harness_set_src_caps_str (h, caps);
  g_free (desc);
  g_free (caps);
  return h;
}

static gint
out_rate (GstHarness * h)
{
  GstCaps *caps = gst_pad_get_current_caps (h->sinkpad);
  gint rate = 0;

  fail_unless (caps != NULL);
  gst_structure_get_int (gst_caps_get_structure (caps, 0), "rate", &rate);
  gst_caps_unref (caps);
  return rate;
}

static void
assert_close (const gfloat * a, const gfloat * b, gsize n, double tol)
{
  gsize i;
  for (i = 0; i < n; i++)
    fail_unless (fabs (a[i] - b[i]) <= tol, "sample %" G_GSIZE_FORMAT
        ": %g vs %g", i, a[i], b[i]);
}

GST_START_TEST (test_record_fft_and_meta)
{
  const gsize n = 2000;
  const guint ch = 3;
  gfloat *x = make_signal (n, ch, 1), *ref;
  GstHarness *h = new_harness ("rate=100", 500, ch);
  GstBuffer *out;
  GstMapInfo map;
  EtpEcgMeta *m;
  EtpFftResampler *r = etp_fft_resampler_new ();

  fail_unless_equals_int (gst_harness_push (h, make_buffer (x, n, ch, TRUE)),
      GST_FLOW_OK);
  fail_unless_equals_int (out_rate (h), 100);
  out = gst_harness_pull (h);
  fail_unless (out != NULL);
  fail_unless_equals_int (gst_buffer_get_size (out), 400 * ch * 4);
  m = etp_buffer_get_ecg_meta (out);
  fail_unless (m != NULL);
  fail_unless_equals_string (m->record_id, "rec1");
  fail_unless_equals_uint64 (m->record_samples, 400);
  fail_unless_equals_uint64 (m->window_start, 0);
  fail_unless_equals_uint64 (GST_BUFFER_PTS (out), 0);
  fail_unless_equals_uint64 (GST_BUFFER_DURATION (out), 4 * GST_SECOND);

  ref = g_new (gfloat, 400 * ch);
  fail_unless (etp_fft_resample (r, x, n, ch, ref, 400, NULL));
  gst_buffer_map (out, &map, GST_MAP_READ);
  assert_close ((const gfloat *) map.data, ref, 400 * ch, 0.0);
  gst_buffer_unmap (out, &map);

  gst_buffer_unref (out);
  etp_fft_resampler_free (r);
  g_free (ref);
  g_free (x);
  gst_harness_teardown (h);
}
GST_END_TEST;

GST_START_TEST (test_record_filters_zero_phase)
{
  const gsize n = 1500;
  const guint ch = 2;
  gfloat *x = make_signal (n, ch, 2), *f, *ref;
  GstHarness *h = new_harness ("rate=250 highpass=0.5 lowpass=40 notch=50",
      500, ch);
  GstBuffer *out;
  GstMapInfo map;
  EtpSos *sos = etp_sos_new ();
  EtpFftResampler *r = etp_fft_resampler_new ();

  fail_unless (etp_sos_add_butter (sos, 4, 0.5, TRUE, 500, NULL));
  fail_unless (etp_sos_add_butter (sos, 4, 40, FALSE, 500, NULL));
  fail_unless (etp_sos_add_notch (sos, 50, 30, 500, NULL));
  f = g_new (gfloat, n * ch);
  ref = g_new (gfloat, 750 * ch);
  fail_unless (etp_sosfiltfilt (sos, x, n, ch, f, NULL));
  fail_unless (etp_fft_resample (r, f, n, ch, ref, 750, NULL));

  fail_unless_equals_int (gst_harness_push (h, make_buffer (x, n, ch, TRUE)),
      GST_FLOW_OK);
  out = gst_harness_pull (h);
  fail_unless_equals_int (gst_buffer_get_size (out), 750 * ch * 4);
  gst_buffer_map (out, &map, GST_MAP_READ);
  assert_close ((const gfloat *) map.data, ref, 750 * ch, 0.0);
  gst_buffer_unmap (out, &map);
  gst_buffer_unref (out);

  etp_sos_free (sos);
  etp_fft_resampler_free (r);
  g_free (x);
  g_free (f);
  g_free (ref);
  gst_harness_teardown (h);
}
GST_END_TEST;

/* A continuous stream in odd chunks: concatenated output (drained at EOS)
 * equals the one-shot polyphase result; timestamps are contiguous. */
GST_START_TEST (test_stream_polyphase_chunked)
{
  const gsize n = 1003;
  const guint ch = 2;
  const gsize chunks[] = { 1, 17, 250, 99, 300, 36, 300 };
  gfloat *x = make_signal (n, ch, 3), *ref, *got;
  gsize nout = etp_resample_out_len (n, 1, 5), pos = 0, total = 0;
  GstHarness *h = new_harness ("rate=100", 500, ch);
  GstBuffer *out;
  GstClockTime next_ts = 0;
  guint i;

  ref = g_new (gfloat, nout * ch);
  got = g_new0 (gfloat, nout * ch + 16);
  fail_unless (etp_resample_poly (x, n, ch, 1, 5, ref, NULL));
  for (i = 0; i < G_N_ELEMENTS (chunks); i++) {
    GstBuffer *b = make_buffer (x + pos * ch, chunks[i], ch, FALSE);
    GST_BUFFER_PTS (b) = gst_util_uint64_scale (pos, GST_SECOND, 500);
    fail_unless_equals_int (gst_harness_push (h, b), GST_FLOW_OK);
    pos += chunks[i];
  }
  fail_unless_equals_int (pos, n);
  /* the polyphase look-ahead (half_len / up = 50 input samples) is latency */
  gst_harness_set_upstream_latency (h, 0);
  fail_unless_equals_uint64 (gst_harness_query_latency (h),
      gst_util_uint64_scale (50, GST_SECOND, 500));
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
  while ((out = gst_harness_try_pull (h))) {
    GstMapInfo map;
    gsize frames = gst_buffer_get_size (out) / (ch * 4);
    fail_unless (total + frames <= nout);
    fail_unless_equals_uint64 (GST_BUFFER_PTS (out), next_ts);
    next_ts += GST_BUFFER_DURATION (out);
    gst_buffer_map (out, &map, GST_MAP_READ);
    memcpy (got + total * ch, map.data, map.size);
    gst_buffer_unmap (out, &map);
    total += frames;
    gst_buffer_unref (out);
  }
  fail_unless_equals_int (total, nout);
  assert_close (got, ref, nout * ch, 0.0);
  fail_unless_equals_uint64 (next_ts, gst_util_uint64_scale (nout,
          GST_SECOND, 100));

  g_free (x);
  g_free (ref);
  g_free (got);
  gst_harness_teardown (h);
}
GST_END_TEST;

/* A stream with a causal filter in chunks equals one causal pass; a DISCONT
 * restarts the state (the output after it equals a fresh element's). */
GST_START_TEST (test_stream_causal_filter_and_discont)
{
  const gsize n = 600;
  const guint ch = 1;
  gfloat *x = make_signal (n, ch, 4), *ref = g_new (gfloat, n);
  GstHarness *h = new_harness ("highpass=0.5", 500, ch);
  EtpSos *sos = etp_sos_new ();
  EtpSosStream *st;
  GstBuffer *b, *out;
  GstMapInfo map;

  fail_unless (etp_sos_add_butter (sos, 4, 0.5, TRUE, 500, NULL));
  st = etp_sos_stream_new (sos, ch);
  etp_sos_stream_process (st, x, n, ref);

  /* same rate + filter: not passthrough, output 1:1 */
  fail_unless_equals_int (gst_harness_push (h, make_buffer (x, 200, ch,
              FALSE)), GST_FLOW_OK);
  fail_unless_equals_int (gst_harness_push (h, make_buffer (x + 200, 400, ch,
              FALSE)), GST_FLOW_OK);
  fail_unless_equals_int (out_rate (h), 500);
  out = gst_harness_pull (h);
  gst_buffer_map (out, &map, GST_MAP_READ);
  assert_close ((gfloat *) map.data, ref, 200, 0.0);
  gst_buffer_unmap (out, &map);
  gst_buffer_unref (out);
  out = gst_harness_pull (h);
  gst_buffer_map (out, &map, GST_MAP_READ);
  assert_close ((gfloat *) map.data, ref + 200, 400, 0.0);
  gst_buffer_unmap (out, &map);
  gst_buffer_unref (out);

  /* DISCONT: the second half filtered as a new stream */
  etp_sos_stream_reset (st);
  etp_sos_stream_process (st, x + 300, 300, ref);
  b = make_buffer (x + 300, 300, ch, FALSE);
  GST_BUFFER_FLAG_SET (b, GST_BUFFER_FLAG_DISCONT);
  fail_unless_equals_int (gst_harness_push (h, b), GST_FLOW_OK);
  out = gst_harness_pull (h);
  gst_buffer_map (out, &map, GST_MAP_READ);
  assert_close ((gfloat *) map.data, ref, 300, 0.0);
  gst_buffer_unmap (out, &map);
  gst_buffer_unref (out);

  etp_sos_stream_free (st);
  etp_sos_free (sos);
  g_free (x);
  g_free (ref);
  gst_harness_teardown (h);
}
GST_END_TEST;

/* Live chunks of two records (meta with window_start = chunk start): each
 * record is resampled as its own stream; output = one-shot A then B. */
GST_START_TEST (test_live_record_chunks)
{
  const guint ch = 2;
  gfloat *a = make_signal (250, ch, 5), *bsig = make_signal (200, ch, 6);
  gfloat *ref = g_new (gfloat, 90 * ch), *got = g_new0 (gfloat, 90 * ch);
  GstHarness *h = new_harness ("rate=100", 500, ch);
  const gsize starts[] = { 0, 100, 200, 0, 100 }, lens[] = { 100, 100, 50,
    100, 100
  };
  GstBuffer *out;
  gsize total = 0;
  guint i;

  fail_unless (etp_resample_poly (a, 250, ch, 1, 5, ref, NULL));
  fail_unless (etp_resample_poly (bsig, 200, ch, 1, 5, ref + 50 * ch, NULL));
  for (i = 0; i < 5; i++) {
    const gfloat *src = (i < 3 ? a : bsig) + starts[i] * ch;
    GstBuffer *b = make_buffer (src, lens[i], ch, FALSE);
    EtpEcgMeta *m = etp_buffer_add_ecg_meta (b);
    m->record_id = g_strdup (i < 3 ? "A" : "B");
    m->record_samples = i < 3 ? 250 : 200;
    m->window_start = starts[i];
    fail_unless_equals_int (gst_harness_push (h, b), GST_FLOW_OK);
  }
  fail_unless (gst_harness_push_event (h, gst_event_new_eos ()));
  while ((out = gst_harness_try_pull (h))) {
    gsize frames = gst_buffer_get_size (out) / (ch * 4);
    EtpEcgMeta *m = etp_buffer_get_ecg_meta (out);
    fail_unless (total + frames <= 90);
    fail_unless (m != NULL);
    fail_unless_equals_string (m->record_id, total < 50 ? "A" : "B");
    gst_buffer_extract (out, 0, got + total * ch, frames * ch * 4);
    total += frames;
    gst_buffer_unref (out);
  }
  fail_unless_equals_int (total, 90);
  assert_close (got, ref, 90 * ch, 0.0);
  g_free (a);
  g_free (bsig);
  g_free (ref);
  g_free (got);
  gst_harness_teardown (h);
}
GST_END_TEST;

/* mode=polyphase on a record: one-shot resample_poly of that record;
 * zero-phase=false on a record: one causal pass from the record's start. */
GST_START_TEST (test_record_polyphase_and_causal)
{
  const gsize n = 1000;
  const guint ch = 3;
  gfloat *x = make_signal (n, ch, 7), *f = g_new (gfloat, n * ch);
  gfloat *ref = g_new (gfloat, 200 * ch);
  GstHarness *h = new_harness ("rate=100 mode=polyphase lowpass=30 "
      "zero-phase=false", 500, ch);
  EtpSos *sos = etp_sos_new ();
  EtpSosStream *st;
  GstBuffer *out;
  GstMapInfo map;
  guint i;

  fail_unless (etp_sos_add_butter (sos, 4, 30, FALSE, 500, NULL));
  st = etp_sos_stream_new (sos, ch);
  etp_sos_stream_process (st, x, n, f);
  fail_unless (etp_resample_poly (f, n, ch, 1, 5, ref, NULL));
  for (i = 0; i < 2; i++) {     /* twice: no state leaks between records */
    fail_unless_equals_int (gst_harness_push (h, make_buffer (x, n, ch,
                TRUE)), GST_FLOW_OK);
    out = gst_harness_pull (h);
    fail_unless_equals_int (gst_buffer_get_size (out), 200 * ch * 4);
    gst_buffer_map (out, &map, GST_MAP_READ);
    assert_close ((const gfloat *) map.data, ref, 200 * ch, 0.0);
    gst_buffer_unmap (out, &map);
    gst_buffer_unref (out);
  }
  etp_sos_stream_free (st);
  etp_sos_free (sos);
  g_free (x);
  g_free (f);
  g_free (ref);
  gst_harness_teardown (h);
}
GST_END_TEST;

GST_START_TEST (test_caps_passthrough_and_downstream_rate)
{
  gfloat x[40] = { 0 };
  GstHarness *h = new_harness ("", 500, 4);
  GstBuffer *in, *out;

  /* rate=0, no filters: passthrough, same buffer */
  in = make_buffer (x, 10, 4, FALSE);
  gst_buffer_ref (in);
  fail_unless_equals_int (gst_harness_push (h, in), GST_FLOW_OK);
  out = gst_harness_pull (h);
  fail_unless (out == in);
  fail_unless_equals_int (out_rate (h), 500);
  gst_buffer_unref (out);
  gst_buffer_unref (in);
  gst_harness_teardown (h);

  /* rate=0 but downstream asks for 250 Hz */
  h = gst_harness_new ("ecgresample");
  gst_harness_set_src_caps_str (h, "audio/x-raw,format=F32LE,"
      "layout=interleaved,rate=500,channels=4");
  gst_harness_set_sink_caps_str (h, "audio/x-raw,format=F32LE,"
      "layout=interleaved,rate=250,channels=4");
  fail_unless_equals_int (gst_harness_push (h, make_buffer (x, 10, 4, TRUE)),
      GST_FLOW_OK);
  fail_unless_equals_int (out_rate (h), 250);
  out = gst_harness_pull (h);
  fail_unless_equals_int (gst_buffer_get_size (out), 5 * 4 * 4);
  gst_buffer_unref (out);
  gst_harness_teardown (h);
}
GST_END_TEST;

GST_START_TEST (test_bad_input)
{
  gfloat x[40] = { 0 };
  GstHarness *h;
  GstBuffer *b;

  /* low-pass above the input Nyquist: caps refused with an error */
  h = new_harness ("lowpass=300", 500, 1);
  fail_if (gst_harness_push (h, make_buffer (x, 10, 1, FALSE)) ==
      GST_FLOW_OK);
  gst_harness_teardown (h);

  /* a buffer that is not whole frames */
  h = new_harness ("rate=100", 500, 2);
  b = gst_buffer_new_memdup (x, 3 * sizeof (gfloat));
  fail_unless_equals_int (gst_harness_push (h, b), GST_FLOW_ERROR);
  gst_harness_teardown (h);
}
GST_END_TEST;

static Suite *
ecgresample_suite (void)
{
  Suite *s = suite_create ("ecgresample");
  TCase *tc = tcase_create ("general");

  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_record_fft_and_meta);
  tcase_add_test (tc, test_record_filters_zero_phase);
  tcase_add_test (tc, test_stream_polyphase_chunked);
  tcase_add_test (tc, test_stream_causal_filter_and_discont);
  tcase_add_test (tc, test_live_record_chunks);
  tcase_add_test (tc, test_record_polyphase_and_causal);
  tcase_add_test (tc, test_caps_passthrough_and_downstream_rate);
  tcase_add_test (tc, test_bad_input);
  return s;
}

GST_CHECK_MAIN (ecgresample);
