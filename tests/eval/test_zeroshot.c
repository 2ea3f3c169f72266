/* zeroshot: scores against a small prompt-embedding file, the
 * classification meta, per-window messages, the text_src pad, the scores CSV,
 * the record-level report JSON and the thresholds round trip. */
#include "config.h"

#include <math.h>
#include <string.h>
#include <glib/gstdio.h>
#include <gst/check/gstcheck.h>
#include <gst/check/gstharness.h>
#include <gst/app/gstappsrc.h>
#include <gst/app/gstappsink.h>
#include <json-glib/json-glib.h>
#include "etpmeta.h"
#include "etpcaps.h"
#include "zeroshot.h"
#include "eval/promptset.h"
#ifdef ETP_EVAL_HAVE_TEXT
#include "nets/safetensors.h"
#endif

#define DIM 8
#define NCLS 3
static const gchar *names[] = { "NORM", "MI", "CD", NULL };
static gchar *tmpdir, *pe_path;

/* class c's prompt embedding: unit vector on axis c (+ a little of axis 7) */
static void
make_prompt_file (void)
{
  gfloat e[NCLS * DIM] = { 0 };
  EtpPromptEmbeddings *pe;
  guint c;

  for (c = 0; c < NCLS; c++) {
    e[c * DIM + c] = 1.0f;
    e[c * DIM + 7] = 0.2f;
  }
  pe = etp_prompt_embeddings_new (names, e, NCLS, DIM);
  g_free (pe->aliases[1]);
  pe->aliases[1] = g_strdup ("IMI,AMI");
  pe->logit_scale = 10.0;
  tmpdir = g_dir_make_tmp ("etp-zs-XXXXXX", NULL);
  pe_path = g_build_filename (tmpdir, "prompts.safetensors", NULL);
  fail_unless (etp_prompt_embeddings_save (pe, pe_path, NULL));
  etp_prompt_embeddings_free (pe);
}

static gchar *
tmp (const gchar * name)
{
  return g_build_filename (tmpdir, name, NULL);
}

/* n_rec records x 2 windows; record r's label is class r % 3 (MI given as
 * its alias "IMI"); the embedding leans towards the true class. */
static void
push_records (GstAppSrc * src, guint n_rec, guint seed, gboolean labels)
{
  GRand *rng = g_rand_new_with_seed (seed);
  const gchar *set[] = { "NORM", "IMI", "CD", "HYP", NULL };
  guint r, w, j;

  for (r = 0; r < n_rec; r++) {
    guint cls = r % NCLS;
    const gchar *codes[] = { set[cls], NULL };
    for (w = 0; w < 2; w++) {
      GstBuffer *buf = gst_buffer_new_allocate (NULL, DIM * 4, NULL);
      GstMapInfo map;
      gfloat *v;
      EtpEcgMeta *m;

      gst_buffer_map (buf, &map, GST_MAP_WRITE);
      v = (gfloat *) map.data;
      for (j = 0; j < DIM; j++)
        v[j] = (gfloat) g_rand_double_range (rng, 0.0, 0.8);
      v[cls] += 0.6f;
      gst_buffer_unmap (buf, &map);
      m = etp_buffer_add_ecg_meta (buf);
      m->record_id = g_strdup_printf ("r%02u", r);
      m->window_index = w;
      m->window_start = w * 1000;
      if (labels) {
        m->label_codes = g_strdupv ((gchar **) codes);
        m->label_set = g_strdupv ((gchar **) set);
      }
      GST_BUFFER_PTS (buf) = (r * 2 + w) * GST_SECOND;
      GST_BUFFER_DURATION (buf) = GST_SECOND;
      fail_unless_equals_int (gst_app_src_push_buffer (src, buf), GST_FLOW_OK);
    }
  }
  gst_app_src_end_of_stream (src);
  g_rand_free (rng);
}

static GstElement *
make_pipeline (const gchar * props, guint dim, GstAppSrc ** src)
{
  gchar *desc = g_strdup_printf ("appsrc name=src format=time caps=\""
      "other/tensors,format=static,num_tensors=1,types=float32,"
      "dimensions=%u:1:1:1,framerate=0/1\" ! zeroshot name=zs silent=true "
      "prompt-embeddings=\"%s\" %s ! fakesink", dim, pe_path, props);
  GError *err = NULL;
  GstElement *p = gst_parse_launch (desc, &err);

  fail_unless (p != NULL && err == NULL, "%s", err ? err->message : "");
  *src = GST_APP_SRC (gst_bin_get_by_name (GST_BIN (p), "src"));
  g_free (desc);
  return p;
}

/* Runs to EOS/error; counts etp-zeroshot messages, returns the last report
 * message structure. */
static GstMessageType
run (GstElement * p, GstAppSrc * src, guint n_rec, guint seed,
    gboolean labels, guint * n_msgs, GstStructure ** report)
{
  GstBus *bus = gst_element_get_bus (p);
  GstMessage *msg;
  GstMessageType ended = 0;

  *n_msgs = 0;
  if (report)
    *report = NULL;
  fail_unless (gst_element_set_state (p, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  push_records (src, n_rec, seed, labels);
  while ((msg = gst_bus_timed_pop_filtered (bus, 30 * GST_SECOND,
              GST_MESSAGE_EOS | GST_MESSAGE_ERROR | GST_MESSAGE_ELEMENT))) {
    if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ELEMENT) {
      const GstStructure *s = gst_message_get_structure (msg);
      if (gst_structure_has_name (s, "etp-zeroshot")) {
        const GValue *scores = gst_structure_get_value (s, "scores");
        fail_unless_equals_int (gst_value_array_get_size (scores), NCLS);
        fail_unless (gst_structure_get_string (s, "record-id") != NULL);
        (*n_msgs)++;
      } else if (report && gst_structure_has_name (s, "etp-zeroshot-report")) {
        *report = gst_structure_copy (s);
      }
      gst_message_unref (msg);
      continue;
    }
    ended = GST_MESSAGE_TYPE (msg);
    gst_message_unref (msg);
    break;
  }
  gst_element_set_state (p, GST_STATE_NULL);
  gst_object_unref (bus);
  return ended;
}

GST_START_TEST (test_scores_and_meta)
{
  GstHarness *h;
  GstBuffer *in, *out;
  EtpClassificationMeta *cm;
  gfloat v[DIM] = { 0, 1, 0, 0, 0, 0, 0, 0 };
  gchar *desc = g_strdup_printf ("zeroshot prompt-embeddings=\"%s\" silent=true "
      "post-messages=false", pe_path);
  gdouble c1 = 1.0 / sqrt (1.04), z;

  h = gst_harness_new_parse (desc);
  gst_harness_set_src_caps (h, etp_tensor_caps_new (DIM));
  in = gst_buffer_new_memdup (v, sizeof v);
  out = gst_harness_push_and_pull (h, in);
  fail_unless (out != NULL);
  cm = etp_buffer_get_classification_meta (out);
  fail_unless (cm != NULL);
  fail_unless_equals_int (cm->n_classes, NCLS);
  fail_unless_equals_int (cm->top_index, 1);
  fail_unless_equals_string (cm->class_names[1], "MI");
  /* cosines: 1/sqrt(1.04) for MI, 0 for the others; softmax at scale 10
   * (the file's logit_scale) */
  fail_unless (fabs (cm->cosine[1] - c1) < 1e-6);
  fail_unless (fabs (cm->cosine[0]) < 1e-6);
  z = exp (10 * c1) + 2.0;
  fail_unless (fabs (cm->probabilities[1] - exp (10 * c1) / z) < 1e-5);
  fail_unless (fabs (cm->scores[1] - cm->probabilities[1]) < 1e-9);
  /* the embedding itself passes unchanged */
  {
    GstMapInfo map;
    gst_buffer_map (out, &map, GST_MAP_READ);
    fail_unless (memcmp (map.data, v, sizeof v) == 0);
    gst_buffer_unmap (out, &map);
  }
  gst_buffer_unref (out);
  gst_harness_teardown (h);
  g_free (desc);
}
GST_END_TEST;

GST_START_TEST (test_report_csv_messages)
{
  gchar *report = tmp ("report.json"), *csv = tmp ("scores.csv");
  gchar *props = g_strdup_printf ("report=\"%s\" scores=\"%s\" scoring=cosine",
      report, csv);
  GstAppSrc *src;
  GstElement *p = make_pipeline (props, DIM, &src);
  GstStructure *rep = NULL;
  guint n_msgs, k;
  JsonParser *parser = json_parser_new ();
  JsonObject *o;
  JsonArray *per;
  gchar *text = NULL, **lines;
  gdouble auc = 0;

  fail_unless_equals_int (run (p, src, 12, 7, TRUE, &n_msgs, &rep),
      GST_MESSAGE_EOS);
  fail_unless_equals_int (n_msgs, 24);
  fail_unless (rep != NULL);
  fail_unless (gst_structure_get_double (rep, "macro-auc", &auc));
  fail_unless (auc > 0.9, "macro AUC %f", auc);

  fail_unless (json_parser_load_from_file (parser, report, NULL));
  o = json_node_get_object (json_parser_get_root (parser));
  fail_unless_equals_string (json_object_get_string_member (o, "scoring"), "cosine");
  fail_unless_equals_int (json_object_get_int_member (o, "n_records"), 12);
  fail_unless_equals_int (json_object_get_int_member (o, "n_windows"), 24);
  fail_unless (strstr (json_object_get_string_member (o, "threshold_rule"),
          "arg-max") != NULL);
  per = json_object_get_array_member (o, "per_class");
  fail_unless_equals_int (json_array_get_length (per), NCLS);
  /* MI matched through its alias IMI: 4 positive records */
  fail_unless_equals_int (json_object_get_int_member
      (json_array_get_object_element (per, 1), "n_positive"), 4);
  fail_unless (fabs (json_object_get_double_member (json_object_get_object_member
              (o, "macro"), "auc") - auc) < 1e-9);
  g_object_unref (parser);

  fail_unless (g_file_get_contents (csv, &text, NULL, NULL));
  lines = g_strsplit (text, "\n", -1);
  fail_unless_equals_string (lines[0], "record_id,window_index,window_start,"
      "cosine_NORM,cosine_MI,cosine_CD,top_label,true_NORM,true_MI,true_CD");
  for (k = 0; lines[k] && *lines[k]; k++);
  fail_unless_equals_int (k, 25);
  fail_unless (g_str_has_prefix (lines[2], "r00,1,1000,"));
  fail_unless (g_str_has_suffix (lines[2], ",1,0,0"));
  g_strfreev (lines);
  g_free (text);

  gst_structure_free (rep);
  gst_object_unref (src);
  gst_object_unref (p);
  g_unlink (report);
  g_unlink (csv);
  g_free (report);
  g_free (csv);
  g_free (props);
}
GST_END_TEST;

GST_START_TEST (test_thresholds_roundtrip)
{
  gchar *thr = tmp ("thr.json"), *report = tmp ("test.json");
  gchar *p1 = g_strdup_printf ("fit-thresholds=\"%s\" post-messages=false", thr);
  gchar *p2 = g_strdup_printf ("thresholds=\"%s\" report=\"%s\" "
      "post-messages=false", thr, report);
  GstAppSrc *src;
  GstElement *p;
  guint n;
  JsonParser *parser = json_parser_new ();
  JsonObject *o;

  /* "validation" run writes thresholds */
  p = make_pipeline (p1, DIM, &src);
  fail_unless_equals_int (run (p, src, 9, 1, TRUE, &n, NULL), GST_MESSAGE_EOS);
  fail_unless_equals_int (n, 0);
  gst_object_unref (src);
  gst_object_unref (p);
  fail_unless (json_parser_load_from_file (parser, thr, NULL));
  o = json_node_get_object (json_parser_get_root (parser));
  fail_unless_equals_string (json_object_get_string_member (o, "scoring"), "softmax");
  fail_unless_equals_int (json_array_get_length (json_object_get_array_member (o,
              "thresholds")), NCLS);

  /* "test" run applies them */
  p = make_pipeline (p2, DIM, &src);
  fail_unless_equals_int (run (p, src, 9, 2, TRUE, &n, NULL), GST_MESSAGE_EOS);
  gst_object_unref (src);
  gst_object_unref (p);
  fail_unless (json_parser_load_from_file (parser, report, NULL));
  o = json_node_get_object (json_parser_get_root (parser));
  fail_unless (strstr (json_object_get_string_member (o, "threshold_rule"),
          "validation") != NULL);
  {
    JsonObject *c0 = json_array_get_object_element (json_object_get_array_member (o,
            "per_class"), 0);
    gdouble t = json_object_get_double_member (c0, "threshold");
    fail_unless (t > 0.0 && t < 1.0, "threshold %f", t);
  }
  g_object_unref (parser);
  g_unlink (thr);
  g_unlink (report);
  g_free (thr);
  g_free (report);
  g_free (p1);
  g_free (p2);
}
GST_END_TEST;

GST_START_TEST (test_text_pad)
{
  gchar *desc = g_strdup_printf ("appsrc name=src format=time caps=\""
      "other/tensors,format=static,num_tensors=1,types=float32,"
      "dimensions=%u:1:1:1,framerate=0/1\" ! zeroshot name=zs silent=true "
      "post-messages=false prompt-embeddings=\"%s\" ! fakesink "
      "zs.text_src ! queue ! appsink name=t sync=false", DIM, pe_path);
  GstElement *p = gst_parse_launch (desc, NULL);
  GstAppSrc *src = GST_APP_SRC (gst_bin_get_by_name (GST_BIN (p), "src"));
  GstAppSink *sink = GST_APP_SINK (gst_bin_get_by_name (GST_BIN (p), "t"));
  GstSample *s;
  GstBuffer *b;
  GstMapInfo map;
  GstCaps *caps;

  fail_unless (gst_element_set_state (p, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  push_records (src, 3, 5, FALSE);
  s = gst_app_sink_pull_sample (sink);
  fail_unless (s != NULL);
  caps = gst_sample_get_caps (s);
  fail_unless (gst_structure_has_name (gst_caps_get_structure (caps, 0),
          "text/x-raw"));
  b = gst_sample_get_buffer (s);
  fail_unless_equals_uint64 (GST_BUFFER_PTS (b), 0);
  gst_buffer_map (b, &map, GST_MAP_READ);
  /* "LABEL (p=0.xx)\n" */
  {
    gchar *t = g_strndup ((const gchar *) map.data, map.size);
    gchar *paren = strstr (t, " (p=0.");
    fail_unless (paren != NULL, "got '%s'", t);
    *paren = '\0';
    fail_unless (g_strv_contains (names, t), "label '%s'", t);
    fail_unless (g_str_has_suffix (paren + 1, ")\n"));
    g_free (t);
  }
  gst_buffer_unmap (b, &map);
  gst_sample_unref (s);
  gst_element_set_state (p, GST_STATE_NULL);
  gst_object_unref (src);
  gst_object_unref (sink);
  gst_object_unref (p);
  g_free (desc);
}
GST_END_TEST;

GST_START_TEST (test_dim_mismatch_is_an_error)
{
  GstAppSrc *src;
  GstElement *p = make_pipeline ("", DIM + 1, &src);
  GstBus *bus = gst_element_get_bus (p);
  GstMessage *msg;

  gst_element_set_state (p, GST_STATE_PLAYING);
  {
    GstBuffer *buf = gst_buffer_new_allocate (NULL, (DIM + 1) * 4, NULL);
    gst_buffer_memset (buf, 0, 0, (DIM + 1) * 4);
    gst_app_src_push_buffer (src, buf);
    gst_app_src_end_of_stream (src);
  }
  msg = gst_bus_timed_pop_filtered (bus, 10 * GST_SECOND,
      GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
  fail_unless (msg != NULL);
  fail_unless_equals_int (GST_MESSAGE_TYPE (msg), GST_MESSAGE_ERROR);
  gst_message_unref (msg);
  gst_element_set_state (p, GST_STATE_NULL);
  gst_object_unref (bus);
  gst_object_unref (src);
  gst_object_unref (p);
}
GST_END_TEST;

GST_START_TEST (test_no_prompts_is_an_error)
{
  GstElement *zs = gst_element_factory_make ("zeroshot", NULL);
  GstStateChangeReturn ret;

  fail_unless (zs != NULL);
  ret = gst_element_set_state (zs, GST_STATE_PAUSED);
  fail_unless_equals_int (ret, GST_STATE_CHANGE_FAILURE);
  gst_element_set_state (zs, GST_STATE_NULL);
  gst_object_unref (zs);
}
GST_END_TEST;

#ifdef ETP_EVAL_HAVE_TEXT
/* classes + template through the tiny test BERT and a checkpoint's
 * text_proj; the prompt embeddings in use are saved and have the checkpoint's
 * dimension, the class names and its logit scale. */
GST_START_TEST (test_text_model_prompts)
{
  const gchar *root = g_getenv ("ETP_SOURCE_ROOT");
  gchar *bert = g_build_filename (root ? root : ETP_SOURCE_ROOT, "tests",
      "text", "tinybert", NULL);
  gchar *ckpt = tmp ("ckpt.safetensors"), *saved = tmp ("saved.safetensors");
  const gint64 wshape[2] = { DIM, 16 };
  gfloat w[DIM * 16], ls = (gfloat) log (30.0);
  EtpSafetensorsWriter *sw = etp_safetensors_writer_new ();
  gchar *desc;
  GstElement *p;
  GstAppSrc *src;
  GstBus *bus;
  GstMessage *msg;
  EtpPromptEmbeddings *pe;
  GError *err = NULL;
  guint i;

  for (i = 0; i < DIM * 16; i++)
    w[i] = (gfloat) cos (0.21 * i);
  etp_safetensors_writer_add_f32 (sw, "text_proj.weight", 2, wshape, w, ETP_ST_F32);
  etp_safetensors_writer_add_f32 (sw, "logit_scale", 0, NULL, &ls, ETP_ST_F32);
  fail_unless (etp_safetensors_writer_write (sw, ckpt, NULL));
  etp_safetensors_writer_free (sw);

  desc = g_strdup_printf ("appsrc name=src format=time caps=\"other/tensors,"
      "format=static,num_tensors=1,types=float32,dimensions=%u:1:1:1,"
      "framerate=0/1\" ! zeroshot text-model=\"%s\" checkpoint=\"%s\" "
      "classes=\"atrial fibrillation,normal ECG\" save-prompt-embeddings=\"%s\" "
      "silent=true post-messages=false ! fakesink", DIM, bert, ckpt, saved);
  p = gst_parse_launch (desc, NULL);
  fail_unless (p != NULL);
  src = GST_APP_SRC (gst_bin_get_by_name (GST_BIN (p), "src"));
  bus = gst_element_get_bus (p);
  fail_unless (gst_element_set_state (p, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  push_records (src, 2, 3, FALSE);
  msg = gst_bus_timed_pop_filtered (bus, 30 * GST_SECOND,
      GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
  fail_unless (msg != NULL);
  fail_unless_equals_int (GST_MESSAGE_TYPE (msg), GST_MESSAGE_EOS);
  gst_message_unref (msg);
  gst_element_set_state (p, GST_STATE_NULL);

  pe = etp_prompt_embeddings_load (saved, NULL, &err);
  fail_unless (pe != NULL, "%s", err ? err->message : "");
  fail_unless_equals_int (pe->n_classes, 2);
  fail_unless_equals_int (pe->dim, DIM);
  fail_unless_equals_string (pe->class_names[1], "normal ECG");
  fail_unless (fabs (pe->logit_scale - 30.0) < 1e-3);
  fail_unless (pe->text_model != NULL);
  etp_prompt_embeddings_free (pe);

  gst_object_unref (bus);
  gst_object_unref (src);
  gst_object_unref (p);
  g_unlink (ckpt);
  g_unlink (saved);
  g_free (ckpt);
  g_free (saved);
  g_free (bert);
  g_free (desc);
}
GST_END_TEST;
#endif

static void
setup (void)
{
  make_prompt_file ();
}

static void
teardown (void)
{
  g_unlink (pe_path);
  g_rmdir (tmpdir);
  g_free (pe_path);
  g_free (tmpdir);
}

static Suite *
zeroshot_suite (void)
{
  Suite *s = suite_create ("zeroshot");
  TCase *tc = tcase_create ("general");

  suite_add_tcase (s, tc);
  tcase_add_checked_fixture (tc, setup, teardown);
  tcase_add_test (tc, test_scores_and_meta);
  tcase_add_test (tc, test_report_csv_messages);
  tcase_add_test (tc, test_thresholds_roundtrip);
  tcase_add_test (tc, test_text_pad);
  tcase_add_test (tc, test_dim_mismatch_is_an_error);
  tcase_add_test (tc, test_no_prompts_is_an_error);
#ifdef ETP_EVAL_HAVE_TEXT
  tcase_add_test (tc, test_text_model_prompts);
#endif
  return s;
}

GST_CHECK_MAIN (zeroshot);
