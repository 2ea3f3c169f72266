/* zeroshot and linearprobe on real PTB-XL records from ETP_SHARED_DATA (the
 * MERL super_class split files: 8 train records, 4 fold-10 test records;
 * random-init encoder, so only the plumbing and the report content are
 * checked, not the accuracy). Skips when the shared data is absent. */
#include "config.h"

#include <math.h>
#include <string.h>
#include <glib/gstdio.h>
#include <gst/check/gstcheck.h>
#include <json-glib/json-glib.h>
#include "eval/promptset.h"
#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#endif
#endif
#ifndef RUNNING_ON_VALGRIND
#define RUNNING_ON_VALGRIND 0
#endif

static gchar *
shared (const gchar * rel)
{
  const gchar *root = g_getenv ("ETP_SHARED_DATA");
  return g_build_filename (root ? root : ETP_SHARED_DATA, rel, NULL);
}

static JsonObject *
load (JsonParser * p, const gchar * path)
{
  GError *err = NULL;
  fail_unless (json_parser_load_from_file (p, path, &err), "%s: %s", path,
      err ? err->message : "");
  return json_node_get_object (json_parser_get_root (p));
}

GST_START_TEST (test_ptbxl_records)
{
  gchar *data = shared ("data/ptbxl"), *split = shared ("data/splits/merl/ptbxl/super_class");
  gchar *dir, *pe_path, *lp_json, *zs_json, *csv, *desc, *text = NULL, **lines;
  const gchar *names[] = { "NORM", "MI", "STTC", "CD", "HYP" };
  gfloat *e;
  EtpPromptEmbeddings *pe;
  GstElement *p;
  GstBus *bus;
  GstMessage *msg;
  JsonParser *parser;
  JsonObject *o;
  guint i, n_lines;
  GRand *rng;

  /* 12 ResNet18-1D forward passes take many minutes under valgrind; the
   * element code is covered there by test_zeroshot / test_linearprobe */
  if (RUNNING_ON_VALGRIND) {
    g_free (data);
    g_free (split);
    GST_INFO ("under valgrind: skipped");
    return;
  }
  if (!g_file_test (data, G_FILE_TEST_IS_DIR) || !g_file_test (split,
          G_FILE_TEST_IS_DIR)) {
    g_free (data);
    g_free (split);
    GST_INFO ("no shared data: skipped");
    return;
  }
  {
    const gchar *need[] = { "ecgsrc", "ecgwindow", "ecgencoder", NULL };
    for (i = 0; need[i]; i++) {
      GstElementFactory *f = gst_element_factory_find (need[i]);
      if (f == NULL) {
        GST_INFO ("element %s not built: skipped", need[i]);
        g_free (data);
        g_free (split);
        return;
      }
      gst_object_unref (f);
    }
  }
  dir = g_dir_make_tmp ("etp-evrec-XXXXXX", NULL);
  pe_path = g_build_filename (dir, "prompts.safetensors", NULL);
  lp_json = g_build_filename (dir, "lp.json", NULL);
  zs_json = g_build_filename (dir, "zs.json", NULL);
  csv = g_build_filename (dir, "zs.csv", NULL);
  /* random 512-d class embeddings under the superclass names */
  e = g_new (gfloat, 5 * 512);
  rng = g_rand_new_with_seed (3);
  for (i = 0; i < 5 * 512; i++)
    e[i] = (gfloat) g_rand_double_range (rng, -1, 1);
  g_rand_free (rng);
  pe = etp_prompt_embeddings_new (names, e, 5, 512);
  fail_unless (etp_prompt_embeddings_save (pe, pe_path, NULL));
  etp_prompt_embeddings_free (pe);
  g_free (e);

  desc = g_strdup_printf ("linearprobe name=lp epochs=5 val-fraction=0.25 "
      "silent=true report=\"%s\" "
      "ecgsrc location=\"%s\" split-file=\"%s/ptbxl_super_class_train.csv\" "
      "rate=100 max-records=8 ! ecgwindow duration=10 pad=zero normalize=zscore "
      "! ecgencoder checkpoint=random output=features seed=1 threads=1 ! lp.train "
      "ecgsrc location=\"%s\" split-file=\"%s/ptbxl_super_class_test.csv\" "
      "rate=100 max-records=4 ! ecgwindow duration=10 pad=zero normalize=zscore "
      "! ecgencoder checkpoint=random output=features seed=1 threads=1 "
      "! tee name=t  t. ! queue max-size-buffers=0 max-size-bytes=0 "
      "max-size-time=0 ! lp.test  t. ! queue ! zeroshot prompt-embeddings=\"%s\" "
      "post-messages=false silent=true report=\"%s\" scores=\"%s\" ! fakesink",
      lp_json, data, split, data, split, pe_path, zs_json, csv);
  {
    GError *err = NULL;
    p = gst_parse_launch (desc, &err);
    fail_unless (p != NULL && err == NULL, "%s", err ? err->message : "");
  }
  bus = gst_element_get_bus (p);
  fail_unless (gst_element_set_state (p, GST_STATE_PLAYING) !=
      GST_STATE_CHANGE_FAILURE);
  msg = gst_bus_timed_pop_filtered (bus, 600 * GST_SECOND,
      GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
  fail_unless (msg != NULL);
  if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ERROR) {
    GError *err = NULL;
    gchar *dbg = NULL;
    gst_message_parse_error (msg, &err, &dbg);
    fail ("error: %s (%s)", err->message, dbg);
  }
  gst_message_unref (msg);
  gst_element_set_state (p, GST_STATE_NULL);

  parser = json_parser_new ();
  o = load (parser, lp_json);
  fail_unless_equals_int (json_object_get_int_member (o, "n_train_records_used"), 8);
  fail_unless_equals_int (json_object_get_int_member (o, "n_val_windows"), 2);
  fail_unless_equals_int (json_object_get_int_member (o, "n_test_records"), 4);
  fail_unless_equals_int (json_array_get_length (json_object_get_array_member (o,
              "classes")), 5);
  fail_unless_equals_int (json_array_get_length (json_object_get_array_member (o,
              "per_class")), 5);
  o = load (parser, zs_json);
  fail_unless_equals_int (json_object_get_int_member (o, "n_records"), 4);
  fail_unless_equals_int (json_object_get_int_member (o, "n_records_with_labels"), 4);
  /* the split file's label set names all five superclasses */
  fail_unless_equals_int (json_array_get_length (json_object_get_array_member (o,
              "per_class")), 5);
  g_object_unref (parser);
  fail_unless (g_file_get_contents (csv, &text, NULL, NULL));
  lines = g_strsplit (text, "\n", -1);
  for (n_lines = 0; lines[n_lines] && *lines[n_lines]; n_lines++);
  fail_unless_equals_int (n_lines, 5);
  fail_unless (g_str_has_prefix (lines[1], "000"));     /* PTB-XL record id */
  g_strfreev (lines);
  g_free (text);

  gst_object_unref (bus);
  gst_object_unref (p);
  g_unlink (pe_path);
  g_unlink (lp_json);
  g_unlink (zs_json);
  g_unlink (csv);
  g_rmdir (dir);
  g_free (dir);
  g_free (pe_path);
  g_free (lp_json);
  g_free (zs_json);
  g_free (csv);
  g_free (desc);
  g_free (data);
  g_free (split);
}
GST_END_TEST;

static Suite *
eval_records_suite (void)
{
  Suite *s = suite_create ("eval-records");
  TCase *tc = tcase_create ("general");

  tcase_set_timeout (tc, 1200);
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_ptbxl_records);
  return s;
}

GST_CHECK_MAIN (eval_records);
