/* linearprobe: two appsrcs feed small synthetic labelled features; the
 * element must fit, score the test records, post etp-linearprobe and EOS,
 * and write a report JSON with the expected content. */
#include "config.h"

#include <math.h>
#include <string.h>
#include <glib/gstdio.h>
#include <gst/check/gstcheck.h>
#include <gst/app/gstappsrc.h>
#include <json-glib/json-glib.h>
#include "etpmeta.h"
#include "etpcaps.h"

#define DIM 8
#define NCLS 3
static const gchar *class_set[] = { "NORM", "MI", "CD", NULL };

/* Record r's labels: multi-label pattern from r; features: label signal in
 * the first NCLS dims + noise; @windows windows per record. */
static void
push_records (GstAppSrc * src, guint n_rec, guint windows, guint seed,
    gboolean with_meta, gboolean single)
{
  GRand *rng = g_rand_new_with_seed (seed);
  guint r, w, c, j;

  for (r = 0; r < n_rec; r++) {
    gboolean lab[NCLS];
    const gchar *codes[NCLS + 1];
    guint k = 0;

    for (c = 0; c < NCLS; c++)
      lab[c] = single ? (r % NCLS == c) : g_rand_double (rng) < 0.4;
    for (c = 0; c < NCLS; c++)
      if (lab[c])
        codes[k++] = class_set[c];
    codes[k] = NULL;
    for (w = 0; w < windows; w++) {
      GstBuffer *buf = gst_buffer_new_allocate (NULL, DIM * sizeof (gfloat), NULL);
      GstMapInfo map;
      gfloat *v;

      gst_buffer_map (buf, &map, GST_MAP_WRITE);
      v = (gfloat *) map.data;
      for (j = 0; j < DIM; j++)
        v[j] = (gfloat) g_rand_double_range (rng, -1.0, 1.0) + 3.0f;
      for (c = 0; c < NCLS; c++)
        v[c] += lab[c] ? 1.5f : 0.0f;
      gst_buffer_unmap (buf, &map);
      if (with_meta) {
        EtpEcgMeta *m = etp_buffer_add_ecg_meta (buf);
        m->record_id = g_strdup_printf ("rec%u_%u", seed, r);
        m->label_codes = g_strdupv ((gchar **) codes);
        m->label_set = g_strdupv ((gchar **) class_set);
        m->window_index = w;
      }
      GST_BUFFER_PTS (buf) = (r * windows + w) * GST_SECOND;
      fail_unless_equals_int (gst_app_src_push_buffer (src, buf), GST_FLOW_OK);
    }
  }
  gst_app_src_end_of_stream (src);
  g_rand_free (rng);
}

static GstElement *
make_pipeline (const gchar * props, GstAppSrc ** tr, GstAppSrc ** te)
{
  gchar *caps = g_strdup_printf ("other/tensors,format=static,num_tensors=1,"
      "types=float32,dimensions=%u:1:1:1,framerate=0/1", DIM);
  gchar *desc = g_strdup_printf ("appsrc name=tr caps=\"%s\" format=time ! "
      "lp.train  appsrc name=te caps=\"%s\" format=time ! lp.test "
      "linearprobe name=lp silent=true %s", caps, caps, props);
  GError *err = NULL;
  GstElement *p = gst_parse_launch (desc, &err);

  fail_unless (p != NULL && err == NULL, "%s", err ? err->message : "");
  *tr = GST_APP_SRC (gst_bin_get_by_name (GST_BIN (p), "tr"));
  *te = GST_APP_SRC (gst_bin_get_by_name (GST_BIN (p), "te"));
  g_free (caps);
  g_free (desc);
  return p;
}

/* Runs to EOS or error; returns the etp-linearprobe structure (or NULL). */
static GstStructure *
run (GstElement * p, GstAppSrc * tr, GstAppSrc * te, guint n_tr, guint n_te,
    gboolean te_meta, gboolean single, GstMessageType * ended)
{
  GstBus *bus = gst_element_get_bus (p);
  GstStructure *result = NULL;
  GstMessage *msg;

  fail_unless (gst_element_set_state (p, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  push_records (tr, n_tr, 2, 1, TRUE, single);
  push_records (te, n_te, 2, 2, te_meta, single);
  while ((msg = gst_bus_timed_pop_filtered (bus, 30 * GST_SECOND,
              GST_MESSAGE_EOS | GST_MESSAGE_ERROR | GST_MESSAGE_ELEMENT))) {
    GstMessageType t = GST_MESSAGE_TYPE (msg);
    if (t == GST_MESSAGE_ELEMENT) {
      const GstStructure *s = gst_message_get_structure (msg);
      if (gst_structure_has_name (s, "etp-linearprobe"))
        result = gst_structure_copy (s);
      gst_message_unref (msg);
      continue;
    }
    *ended = t;
    gst_message_unref (msg);
    break;
  }
  gst_element_set_state (p, GST_STATE_NULL);
  gst_object_unref (bus);
  return result;
}

GST_START_TEST (test_fit_and_report)
{
  gchar *dir = g_dir_make_tmp ("etp-lp-XXXXXX", NULL);
  gchar *report = g_build_filename (dir, "report.json", NULL);
  gchar *props = g_strdup_printf ("epochs=60 lr=0.05 batch-size=16 seed=4 "
      "report=\"%s\"", report);
  GstAppSrc *tr, *te;
  GstElement *p = make_pipeline (props, &tr, &te);
  GstMessageType ended = 0;
  GstStructure *res = run (p, tr, te, 60, 30, TRUE, FALSE, &ended);
  JsonParser *parser = json_parser_new ();
  JsonObject *o, *macro;
  JsonArray *per;
  gdouble auc = 0;
  GError *err = NULL;

  fail_unless_equals_int (ended, GST_MESSAGE_EOS);
  fail_unless (res != NULL);
  fail_unless (gst_structure_get_double (res, "macro-auc", &auc));
  fail_unless (auc > 0.85, "macro AUC %f", auc);
  fail_unless_equals_string (gst_structure_get_string (res, "task"), "multi-label");
  fail_unless_equals_int (gst_value_array_get_size (gst_structure_get_value (res,
              "classes")), NCLS);

  fail_unless (json_parser_load_from_file (parser, report, &err));
  o = json_node_get_object (json_parser_get_root (parser));
  fail_unless_equals_string (json_object_get_string_member (o, "element"), "linearprobe");
  fail_unless_equals_int (json_object_get_int_member (o, "n_test_records"), 30);
  fail_unless_equals_int (json_object_get_int_member (o, "n_test_windows"), 60);
  fail_unless_equals_int (json_object_get_int_member (o, "n_train_records_used"), 60);
  /* 10% of 60 records = 6 records = 12 windows held out, whole records */
  fail_unless_equals_int (json_object_get_int_member (o, "n_val_windows"), 12);
  fail_unless (strstr (json_object_get_string_member (o, "threshold_rule"),
          "validation") != NULL);
  macro = json_object_get_object_member (o, "macro");
  fail_unless (fabs (json_object_get_double_member (macro, "auc") - auc) < 1e-9);
  fail_unless (json_object_get_double_member (macro, "f1") > 0.5);
  per = json_object_get_array_member (o, "per_class");
  fail_unless_equals_int (json_array_get_length (per), NCLS);
  fail_unless_equals_string (json_object_get_string_member
      (json_array_get_object_element (per, 1), "class"), "MI");
  fail_unless (json_object_get_double_member (json_array_get_object_element (per,
              0), "auc") > 0.8);

  g_object_unref (parser);
  gst_structure_free (res);
  gst_object_unref (tr);
  gst_object_unref (te);
  gst_object_unref (p);
  g_unlink (report);
  g_rmdir (dir);
  g_free (report);
  g_free (props);
  g_free (dir);
}
GST_END_TEST;

GST_START_TEST (test_single_label_fraction)
{
  GstAppSrc *tr, *te;
  GstElement *p = make_pipeline ("epochs=40 lr=0.05 label-fraction=0.5 "
      "val-fraction=0 seed=1", &tr, &te);
  GstMessageType ended = 0;
  GstStructure *res = run (p, tr, te, 40, 15, TRUE, TRUE, &ended);
  guint64 n_train = 0;
  gdouble top1 = 0;

  fail_unless_equals_int (ended, GST_MESSAGE_EOS);
  fail_unless (res != NULL);
  fail_unless_equals_string (gst_structure_get_string (res, "task"), "single-label");
  /* half of the 40 train records, 2 windows each */
  fail_unless (gst_structure_get_uint64 (res, "n-train", &n_train));
  fail_unless_equals_int (n_train, 40);
  fail_unless (gst_structure_get_double (res, "top1-accuracy", &top1));
  fail_unless (top1 > 0.6, "top-1 %f", top1);
  fail_unless (strstr (gst_structure_get_string (res, "threshold-rule"),
          "fixed") != NULL);
  gst_structure_free (res);
  gst_object_unref (tr);
  gst_object_unref (te);
  gst_object_unref (p);
}
GST_END_TEST;

GST_START_TEST (test_missing_labels_is_an_error)
{
  GstAppSrc *tr, *te;
  GstElement *p = make_pipeline ("epochs=2", &tr, &te);
  GstMessageType ended = 0;
  GstStructure *res = run (p, tr, te, 6, 3, FALSE, FALSE, &ended);

  fail_unless_equals_int (ended, GST_MESSAGE_ERROR);
  fail_unless (res == NULL);
  gst_object_unref (tr);
  gst_object_unref (te);
  gst_object_unref (p);
}
GST_END_TEST;

static Suite *
linearprobe_suite (void)
{
  Suite *s = suite_create ("linearprobe");
  TCase *tc = tcase_create ("general");

  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_fit_and_report);
  tcase_add_test (tc, test_single_label_fraction);
  tcase_add_test (tc, test_missing_labels_is_an_error);
  return s;
}

GST_CHECK_MAIN (linearprobe);
