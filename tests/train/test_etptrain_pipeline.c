/* The pre-training pipeline end to end on real PTB-XL records with the real
 * elements: ecgsrc (looping, English SCP reports) ! ecgresample ! ecgwindow !
 * tee, one branch to etptrain.ecg, one through textencoder (a tiny word-vector
 * file the test writes) to etptrain.text, and a fold-9 validation branch.
 * Asserts that it runs to EOS, the loss falls, validation is reported and the
 * checkpoint records the stream's shape. Skips without the shared data or
 * when one of the elements is not built. */
#include "config.h"

#include <glib/gstdio.h>

#include "train_common.h"
#include "text/wordvec.h"
#include "nets/safetensors.h"

static const gchar *
shared_dir (void)
{
  const gchar *d = g_getenv ("ETP_SHARED_DATA");
  return d ? d : ETP_SHARED_DATA;
}

/* English ECG vocabulary (the words of PTB-XL's SCP statement descriptions
 * that matter most), random 16-d vectors. */
static void
write_tiny_wordvec (const gchar * path)
{
  static const gchar *words[] = { "sinus", "rhythm", "normal", "ecg",
    "abnormal", "left", "right", "ventricular", "hypertrophy", "atrial",
    "fibrillation", "flutter", "bundle", "branch", "block", "complete",
    "incomplete", "anterior", "inferior", "lateral", "septal", "myocardial",
    "infarction", "ischemic", "ischemia", "st", "t", "wave", "changes",
    "depression", "elevation", "premature", "complexes", "axis", "deviation",
    "low", "voltage", "qrs", "prolonged", "pr", "interval", "av", "first",
    "degree", "bradycardia", "tachycardia", "nonspecific", "non", "specific",
    "in", "leads", "subendocardial", "injury", "anteroseptal", "fascicular",
    "hemiblock", "pacemaker", "arrhythmia", "possible", "probable",
    "diagnostic", "limb", "high", "inversion", "negative", NULL
  };
  GError *err = NULL;
  EtpWordVecWriter *w = etp_wordvec_writer_new (path, 16, &err);
  GRand *rng = g_rand_new_with_seed (99);
  guint i, k;

  fail_unless (w != NULL, "%s", err ? err->message : "?");
  for (i = 0; words[i]; i++) {
    gfloat v[16];
    for (k = 0; k < 16; k++)
      v[k] = (gfloat) g_rand_double_range (rng, -1.0, 1.0);
    fail_unless (etp_wordvec_writer_add (w, words[i], v, i, &err), "%s",
        err ? err->message : "?");
  }
  fail_unless (etp_wordvec_writer_finish (w, &err), "%s",
      err ? err->message : "?");
  etp_wordvec_writer_free (w);
  g_rand_free (rng);
}

static gboolean
have_elements (void)
{
  const gchar *names[] = { "ecgsrc", "ecgresample", "ecgwindow",
    "textencoder", "etptrain", NULL
  };
  guint i;

  for (i = 0; names[i]; i++) {
    GstElementFactory *f = gst_element_factory_find (names[i]);
    if (f == NULL) {
      g_print ("SKIP: element %s not built\n", names[i]);
      return FALSE;
    }
    gst_object_unref (f);
  }
  return TRUE;
}

GST_START_TEST (test_pretrain_pipeline)
{
  gchar *ptbxl = g_build_filename (shared_dir (), "data", "ptbxl", NULL);
  gchar *dbcsv = g_build_filename (ptbxl, "ptbxl_database.csv", NULL);
  gchar *dir, *wv, *ck, *desc;
  GstElement *pipe;
  GError *err = NULL;
  TrainRig rig;
  TrainResult res;
  gdouble first, last;
  guint n_epochs, val_n = 0;
  EtpSafetensors *st;

  if (!g_file_test (dbcsv, G_FILE_TEST_EXISTS)) {
    g_print ("SKIP: no PTB-XL folder under %s\n", shared_dir ());
    goto skip;
  }
  if (!have_elements ())
    goto skip;

  dir = g_dir_make_tmp ("etptrain-pipe-XXXXXX", &err);
  fail_unless (dir != NULL);
  wv = g_build_filename (dir, "tiny.etpwv", NULL);
  ck = g_build_filename (dir, "model.safetensors", NULL);
  write_tiny_wordvec (wv);

#define COND "ecgresample rate=100 highpass=0.5 ! ecgwindow duration=2.5 " \
    "max-windows-per-record=1 normalize=zscore"
#define Q "queue max-size-buffers=64 max-size-bytes=0 max-size-time=0"
  desc = g_strdup_printf (
      "etptrain name=t batch-size=8 epochs=6 width=8 embed-dim=32 seed=3 "
      "  device=cpu threads=2 weight-decay=0 unpaired=drop-ecg "
      "  checkpoint=\"%s\" ! fakesink sync=false async=false "
      "ecgsrc location=\"%s\" rate=100 folds=1-8 report=english "
      "  max-records=24 num-epochs=0 ! " COND " ! tee name=tr "
      "tr. ! " Q " ! t.ecg "
      "tr. ! " Q " ! textencoder model=\"%s\" missing-report=skip "
      "  batch-size=1 ! " Q " ! t.text "
      "ecgsrc location=\"%s\" rate=100 folds=9 report=english "
      "  max-records=8 num-epochs=1 ! " COND " ! tee name=va "
      "va. ! " Q " ! t.val_ecg "
      "va. ! " Q " ! textencoder model=\"%s\" missing-report=skip "
      "  batch-size=1 ! " Q " ! t.val_text", ck, ptbxl, wv, ptbxl, wv);
  pipe = gst_parse_launch (desc, &err);
  fail_unless (pipe != NULL && err == NULL, "%s: %s", desc,
      err ? err->message : "?");

  memset (&rig, 0, sizeof rig);
  rig.pipe = pipe;
  fail_unless (gst_element_set_state (pipe, GST_STATE_PLAYING)
      != GST_STATE_CHANGE_FAILURE);
  rig_wait (&rig, &res, 240);
  gst_element_set_state (pipe, GST_STATE_NULL);
  gst_object_unref (pipe);

  fail_unless (res.error == NULL, "error: %s (%s)", res.error,
      res.error_debug);
  fail_unless (res.eos && res.done);
  n_epochs = res.epochs->len;
  fail_unless_equals_int (n_epochs, 6);
  first = sget_double (g_ptr_array_index (res.epochs, 0), "train-loss");
  last = sget_double (g_ptr_array_index (res.epochs, n_epochs - 1),
      "train-loss");
  g_print ("etptrain pipeline: train loss epoch 1 %.4f -> epoch %u %.4f, "
      "val top-1 %.3f top-5 %.3f\n", first, n_epochs, last,
      sget_double (g_ptr_array_index (res.epochs, n_epochs - 1), "val-top1"),
      sget_double (g_ptr_array_index (res.epochs, n_epochs - 1),
          "val-top5"));
  fail_unless (last < first, "loss did not fall: %f -> %f", first, last);
  fail_unless (gst_structure_get_uint (g_ptr_array_index (res.epochs,
              n_epochs - 1), "val-windows", &val_n));
  fail_unless (val_n > 0 && val_n <= 8);

  st = etp_safetensors_open (ck, &err);
  fail_unless (st != NULL, "%s", err ? err->message : "?");
  fail_unless_equals_string (etp_safetensors_get_metadata (st,
          "sample_rate"), "100");
  fail_unless_equals_string (etp_safetensors_get_metadata (st, "length"),
      "250");
  fail_unless_equals_string (etp_safetensors_get_metadata (st, "text_dim"),
      "16");
  fail_unless_equals_string (etp_safetensors_get_metadata (st,
          "train_epochs_done"), "6");
  etp_safetensors_free (st);

  train_result_clear (&res);
  g_unlink (wv);
  g_unlink (ck);
  {
    /* textencoder may leave nothing else; remove what is there */
    GDir *gd = g_dir_open (dir, 0, NULL);
    const gchar *n;
    while (gd && (n = g_dir_read_name (gd)) != NULL) {
      gchar *p = g_build_filename (dir, n, NULL);
      g_unlink (p);
      g_free (p);
    }
    if (gd)
      g_dir_close (gd);
  }
  g_rmdir (dir);
  g_free (desc);
  g_free (wv);
  g_free (ck);
  g_free (dir);
skip:
  g_free (ptbxl);
  g_free (dbcsv);
}

GST_END_TEST;

static Suite *
etptrain_pipeline_suite (void)
{
  Suite *s = suite_create ("etptrain-pipeline");
  TCase *tc = tcase_create ("pipeline");

  tcase_set_timeout (tc, 300);
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_pretrain_pipeline);
  return s;
}

GST_CHECK_MAIN (etptrain_pipeline);
