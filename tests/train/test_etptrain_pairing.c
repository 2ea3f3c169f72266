/* etptrain refuses bad input with a clear error, never a silent mismatch:
 * ECG and text of different records, an ECG whose text never comes, a text
 * dimension that changes mid-stream, a window length that changes, a buffer
 * without EtpEcgMeta. Small synthetic windows and a tiny network, so these
 * run under valgrind (suite 'elements'). Also: pads, properties, caps. */
#include "config.h"

#include "train_common.h"

#define LEADS 12
#define RATE 100
#define LEN 32
#define DIM 8

static gfloat win[LEN * LEADS];
static gfloat win_long[(LEN + 8) * LEADS];
static gfloat feat[DIM];
static gfloat feat2[DIM];

static void
fill (void)
{
  guint i;

  for (i = 0; i < G_N_ELEMENTS (win); i++)
    win[i] = (gfloat) sin (0.1 * i);
  for (i = 0; i < G_N_ELEMENTS (win_long); i++)
    win_long[i] = (gfloat) cos (0.1 * i);
  for (i = 0; i < DIM; i++) {
    feat[i] = (gfloat) i / DIM;
    feat2[i] = (gfloat) (DIM - i) / DIM;
  }
}

static TrainRig *
small_rig (guint dim)
{
  TrainRig *r = rig_new (LEADS, RATE, dim, FALSE, FALSE);

  g_object_set (r->train, "batch-size", 2, "epochs", 1, "width", 2,
      "embed-dim", 4, "device", 1, "threads", 1, NULL);
  return r;
}

static void
expect_error (TrainRig * r, const gchar * const *needles)
{
  TrainResult res;
  guint i;

  rig_wait (r, &res, 60);
  fail_unless (res.error != NULL, "no error posted");
  for (i = 0; needles[i]; i++)
    fail_unless (strstr (res.error, needles[i]) != NULL,
        "error '%s' does not mention '%s'", res.error, needles[i]);
  train_result_clear (&res);
}

GST_START_TEST (test_bad_pairing_names_both_records)
{
  TrainRig *r;
  const gchar *needles[] = { "pairing", "rec-A", "rec-B", NULL };

  fill ();
  r = small_rig (DIM);
  rig_start (r);
  rig_push (r, r->ecg, NULL, win, LEN, NULL, 0, "rec-A", 0, 0);
  rig_push (r, NULL, r->text, NULL, 0, feat, DIM, "rec-B", 0, 0);
  rig_end (r->ecg);
  rig_end (r->text);
  expect_error (r, needles);
  rig_free (r);
}

GST_END_TEST;

GST_START_TEST (test_window_index_mismatch)
{
  TrainRig *r;
  const gchar *needles[] = { "pairing", "window 1", "window 2", NULL };

  fill ();
  r = small_rig (DIM);
  rig_start (r);
  rig_push (r, r->ecg, NULL, win, LEN, NULL, 0, "rec-A", 1, 0);
  rig_push (r, NULL, r->text, NULL, 0, feat, DIM, "rec-A", 2, 0);
  rig_end (r->ecg);
  rig_end (r->text);
  expect_error (r, needles);
  rig_free (r);
}

GST_END_TEST;

GST_START_TEST (test_ecg_without_text)
{
  TrainRig *r;
  const gchar *needles[] = { "no text", "rec-C", NULL };

  fill ();
  r = small_rig (DIM);
  rig_start (r);
  rig_push (r, r->ecg, r->text, win, LEN, feat, DIM, "rec-A", 0, 0);
  rig_push (r, r->ecg, r->text, win, LEN, feat, DIM, "rec-B", 0, 0);
  rig_push (r, r->ecg, NULL, win, LEN, NULL, 0, "rec-C", 0, 0);
  rig_end (r->text);
  rig_end (r->ecg);
  expect_error (r, needles);
  rig_free (r);
}

GST_END_TEST;

GST_START_TEST (test_text_dim_change)
{
  TrainRig *r;
  const gchar *needles[] = { "dimension changed", "8", "4", NULL };
  GstCaps *caps;

  fill ();
  r = small_rig (DIM);
  rig_start (r);
  rig_push (r, r->ecg, r->text, win, LEN, feat, DIM, "rec-A", 0, 0);
  caps = etp_tensor_caps_new (4);
  gst_app_src_set_caps (r->text, caps);
  gst_caps_unref (caps);
  rig_push (r, r->ecg, r->text, win, LEN, feat, 4, "rec-B", 0, 0);
  rig_end (r->ecg);
  rig_end (r->text);
  expect_error (r, needles);
  rig_free (r);
}

GST_END_TEST;

GST_START_TEST (test_window_length_change)
{
  TrainRig *r;
  const gchar *needles[] = { "length changed", "rec-B", NULL };

  fill ();
  r = small_rig (DIM);
  rig_start (r);
  rig_push (r, r->ecg, r->text, win, LEN, feat, DIM, "rec-A", 0, 0);
  rig_push (r, r->ecg, r->text, win_long, LEN + 8, feat, DIM, "rec-B", 0, 0);
  rig_end (r->ecg);
  rig_end (r->text);
  expect_error (r, needles);
  rig_free (r);
}

GST_END_TEST;

GST_START_TEST (test_missing_meta)
{
  TrainRig *r;
  const gchar *needles[] = { "EtpEcgMeta", NULL };
  GstBuffer *b;

  fill ();
  r = small_rig (DIM);
  rig_start (r);
  b = gst_buffer_new_memdup (win, sizeof win);
  fail_unless_equals_int (gst_app_src_push_buffer (r->ecg, b), GST_FLOW_OK);
  rig_push (r, NULL, r->text, NULL, 0, feat, DIM, "rec-A", 0, 0);
  rig_end (r->ecg);
  rig_end (r->text);
  expect_error (r, needles);
  rig_free (r);
}

GST_END_TEST;

GST_START_TEST (test_pads_and_properties)
{
  GstElement *t = gst_element_factory_make ("etptrain", NULL);
  GstPad *p;
  guint bs = 0, ep = 0;
  gdouble lr = 0, wd = 0, temp = 0;
  gboolean learn = TRUE;

  fail_unless (t != NULL);
  g_object_get (t, "batch-size", &bs, "epochs", &ep, "learning-rate", &lr,
      "weight-decay", &wd, "temperature", &temp, "learn-temperature", &learn,
      NULL);
  fail_unless_equals_int (bs, 128);
  fail_unless_equals_int (ep, 50);
  fail_unless (fabs (lr - 2e-3) < 1e-12);
  fail_unless (fabs (wd - 1e-5) < 1e-12);
  fail_unless (fabs (temp - 0.07) < 1e-12);
  fail_unless (!learn);

  p = gst_element_get_static_pad (t, "ecg");
  fail_unless (p != NULL);
  gst_object_unref (p);
  p = gst_element_get_static_pad (t, "text");
  fail_unless (p != NULL);
  gst_object_unref (p);
  fail_unless (gst_element_get_static_pad (t, "val_ecg") == NULL);
  p = gst_element_request_pad_simple (t, "val_ecg");
  fail_unless (p != NULL);
  fail_unless_equals_string (GST_PAD_NAME (p), "val_ecg");
  gst_element_release_request_pad (t, p);
  gst_object_unref (p);
  p = gst_element_request_pad_simple (t, "ecg_view2");
  fail_unless (p != NULL);
  gst_element_release_request_pad (t, p);
  gst_object_unref (p);
  gst_object_unref (t);
}

GST_END_TEST;

/* A two-window epoch on a tiny model: one step, the src vector, EOS. */
GST_START_TEST (test_one_step_tiny)
{
  TrainRig *r;
  TrainResult res;
  const GstStructure *s;
  guint64 step = 0;

  fill ();
  r = small_rig (DIM);
  rig_start (r);
  rig_push (r, r->ecg, r->text, win, LEN, feat, DIM, "rec-A", 0, 0);
  rig_push (r, r->ecg, r->text, win_long, LEN, feat2, DIM, "rec-B", 0, 0);
  rig_end (r->ecg);
  rig_end (r->text);
  rig_wait (r, &res, 60);
  fail_unless (res.error == NULL, "%s (%s)", res.error, res.error_debug);
  fail_unless (res.eos && res.done);
  fail_unless_equals_int (res.steps->len, 1);
  s = g_ptr_array_index (res.steps, 0);
  fail_unless (gst_structure_get_uint64 (s, "step", &step));
  fail_unless_equals_int ((gint) step, 1);
  fail_unless (isfinite (sget_double (s, "loss")));
  fail_unless_equals_int (res.epochs->len, 1);
  train_result_clear (&res);
  rig_free (r);
}

GST_END_TEST;

/* unpaired=drop-ecg: a window the text branch skipped is dropped and
 * counted, the others still pair. */
GST_START_TEST (test_unpaired_drop_ecg)
{
  TrainRig *r;
  TrainResult res;
  const GstStructure *s;
  guint64 unpaired = 0, windows = 0;

  fill ();
  r = small_rig (DIM);
  g_object_set (r->train, "unpaired", 1 /* drop-ecg */ , NULL);
  rig_start (r);
  rig_push (r, r->ecg, r->text, win, LEN, feat, DIM, "rec-A", 0, 0);
  rig_push (r, r->ecg, NULL, win_long, LEN, NULL, 0, "rec-B", 0, 0);
  rig_push (r, r->ecg, r->text, win_long, LEN, feat2, DIM, "rec-C", 0, 0);
  rig_push (r, r->ecg, NULL, win, LEN, NULL, 0, "rec-D", 0, 0);
  rig_end (r->ecg);
  rig_end (r->text);
  rig_wait (r, &res, 60);
  fail_unless (res.error == NULL, "%s (%s)", res.error, res.error_debug);
  fail_unless (res.eos && res.done);
  fail_unless_equals_int (res.steps->len, 1);
  fail_unless_equals_int (res.epochs->len, 1);
  s = g_ptr_array_index (res.epochs, 0);
  fail_unless (gst_structure_get_uint64 (s, "unpaired", &unpaired));
  fail_unless (gst_structure_get_uint64 (s, "windows", &windows));
  fail_unless_equals_int ((gint) unpaired, 2);
  fail_unless_equals_int ((gint) windows, 2);
  train_result_clear (&res);
  rig_free (r);
}

GST_END_TEST;

/* Epochs end when the meta's epoch field changes; the learning rate follows
 * warm-up + cosine over steps-per-epoch x epochs. */
GST_START_TEST (test_epochs_and_cosine_schedule)
{
  TrainRig *r;
  TrainResult res;
  const gdouble base = 1e-3;
  const gdouble want[4] = { base, 0.75 * base, 0.25 * base, 0.0 };
  guint e, i;

  fill ();
  r = small_rig (DIM);
  g_object_set (r->train, "epochs", 2, "schedule", 1 /* cosine */ ,
      "warmup-steps", 1, "steps-per-epoch", (guint64) 2,
      "learning-rate", base, NULL);
  rig_start (r);
  for (e = 0; e < 2; e++) {
    for (i = 0; i < 4; i++) {
      gchar *id = g_strdup_printf ("rec-%u", i);
      rig_push (r, r->ecg, r->text, (i % 2) ? win : win_long, LEN,
          (i % 2) ? feat : feat2, DIM, id, 0, e);
      g_free (id);
    }
  }
  rig_end (r->ecg);
  rig_end (r->text);
  rig_wait (r, &res, 60);
  fail_unless (res.error == NULL, "%s (%s)", res.error, res.error_debug);
  fail_unless (res.eos && res.done);
  fail_unless_equals_int (res.epochs->len, 2);
  fail_unless_equals_int (res.steps->len, 4);
  for (i = 0; i < 4; i++) {
    const GstStructure *s = g_ptr_array_index (res.steps, i);
    guint64 total = 0;
    guint ep = 0;
    fail_unless (fabs (sget_double (s, "learning-rate") - want[i]) < 1e-9,
        "step %u: lr %g, want %g", i + 1, sget_double (s, "learning-rate"),
        want[i]);
    fail_unless (gst_structure_get_uint64 (s, "total-steps", &total));
    fail_unless_equals_int ((gint) total, 4);
    fail_unless (gst_structure_get_uint (s, "epoch", &ep));
    fail_unless_equals_int (ep, i / 2 + 1);
  }
  train_result_clear (&res);
  rig_free (r);
}

GST_END_TEST;

/* Validation: distinct reports are counted by their features, the baselines
 * follow from the report distribution, and with fewer than 5 distinct
 * reports every ECG's own report is in its top 5. */
GST_START_TEST (test_validation_counts)
{
  TrainRig *r;
  TrainResult res;
  const GstStructure *s;
  gfloat feats[4][DIM];
  const guint which[6] = { 0, 0, 1, 2, 0, 3 };  /* A A B C A D */
  guint i, k, n = 0, reports = 0;

  fill ();
  for (i = 0; i < 4; i++)
    for (k = 0; k < DIM; k++)
      feats[i][k] = (gfloat) ((i + 1) * (k + 1) % 7) / 7.0f;
  r = rig_new (LEADS, RATE, DIM, FALSE, TRUE);
  g_object_set (r->train, "batch-size", 2, "epochs", 1, "width", 2,
      "embed-dim", 4, "device", 1, "threads", 1, NULL);
  rig_start (r);
  for (i = 0; i < 6; i++) {
    gchar *id = g_strdup_printf ("val-%u", i);
    rig_push (r, r->val_ecg, r->val_text, (i % 2) ? win : win_long, LEN,
        feats[which[i]], DIM, id, 0, 0);
    g_free (id);
  }
  rig_end (r->val_ecg);
  rig_end (r->val_text);
  rig_push (r, r->ecg, r->text, win, LEN, feat, DIM, "rec-A", 0, 0);
  rig_push (r, r->ecg, r->text, win_long, LEN, feat2, DIM, "rec-B", 0, 0);
  rig_end (r->ecg);
  rig_end (r->text);
  rig_wait (r, &res, 60);
  fail_unless (res.error == NULL, "%s (%s)", res.error, res.error_debug);
  fail_unless_equals_int (res.epochs->len, 1);
  s = g_ptr_array_index (res.epochs, 0);
  fail_unless (gst_structure_get_uint (s, "val-windows", &n));
  fail_unless (gst_structure_get_uint (s, "val-reports", &reports));
  fail_unless_equals_int (n, 6);
  fail_unless_equals_int (reports, 4);
  fail_unless (fabs (sget_double (s, "val-chance-top1") - 0.25) < 1e-12);
  fail_unless (fabs (sget_double (s, "val-majority-top1") - 0.5) < 1e-12);
  fail_unless (fabs (sget_double (s, "val-majority-top5") - 1.0) < 1e-12);
  fail_unless (fabs (sget_double (s, "val-top5") - 1.0) < 1e-12);
  fail_unless (sget_double (s, "val-top1") >= 0.0
      && sget_double (s, "val-top1") <= 1.0);
  fail_unless (isfinite (sget_double (s, "val-loss")));
  train_result_clear (&res);
  rig_free (r);
}

GST_END_TEST;

static Suite *
etptrain_pairing_suite (void)
{
  Suite *s = suite_create ("etptrain-pairing");
  TCase *tc = tcase_create ("pairing");

  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_pads_and_properties);
  tcase_add_test (tc, test_bad_pairing_names_both_records);
  tcase_add_test (tc, test_window_index_mismatch);
  tcase_add_test (tc, test_ecg_without_text);
  tcase_add_test (tc, test_text_dim_change);
  tcase_add_test (tc, test_window_length_change);
  tcase_add_test (tc, test_missing_meta);
  tcase_add_test (tc, test_one_step_tiny);
  tcase_add_test (tc, test_unpaired_drop_ecg);
  tcase_add_test (tc, test_epochs_and_cosine_schedule);
  tcase_add_test (tc, test_validation_counts);
  return s;
}

GST_CHECK_MAIN (etptrain_pairing);
