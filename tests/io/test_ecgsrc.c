/* ecgsrc element: datasets on ../shared/data, caps and meta, selection,
 * shuffling/epochs, live playback, EDF, and bad input (files written here). */
#include "config.h"

#include <gst/gst.h>
#include <gst/app/gstappsink.h>
#include <gst/check/gstcheck.h>
#include <glib/gstdio.h>
#include <math.h>
#include <string.h>
#include <edflib.h>

#include "etpmeta.h"

static gchar *
shared_data (void)
{
  const gchar *env = g_getenv ("ETP_SHARED_DATA");
  gchar *d = g_build_filename (env ? env : ETP_SHARED_DATA, "data", NULL);
  if (!g_file_test (d, G_FILE_TEST_IS_DIR)) {
    g_free (d);
    return NULL;
  }
  return d;
}

#define NEED_DATA(var) \
  gchar *var = shared_data (); \
  if (!var) { GST_INFO ("no shared data: skipped"); return; }

typedef struct {
  guint n_buffers;
  GPtrArray *ids;               /* record ids in push order */
  GPtrArray *caps;              /* caps strings, one per change */
  GArray *epochs;
  GArray *folds;
  guint64 read, skipped;
  guint missing, listed;
  gboolean summary;
  gchar *error;                 /* "message | debug" of the first error */
  guint n_warnings;
  gchar *warnings;              /* all warning texts */
  gboolean eos;
  GstClockTime last_pts;
  gboolean pts_ok;
  /* first buffer's meta */
  gchar *first_report;
  gchar **first_label_set;
  gchar **first_labels;
  gchar **first_leads;
  gchar *first_units;
  gchar *first_dataset;
  GArray *window_starts;
  gint64 wall_us;
} Run;

static void
run_clear (Run * r)
{
  g_ptr_array_unref (r->ids);
  g_ptr_array_unref (r->caps);
  g_array_unref (r->epochs);
  g_array_unref (r->folds);
  g_array_unref (r->window_starts);
  g_free (r->error);
  g_free (r->warnings);
  g_free (r->first_report);
  g_strfreev (r->first_label_set);
  g_strfreev (r->first_labels);
  g_strfreev (r->first_leads);
  g_free (r->first_units);
  g_free (r->first_dataset);
}

static gboolean
handle_message (GstMessage * m, Run * r)
{
  gboolean stop = FALSE;
  {
    switch (GST_MESSAGE_TYPE (m)) {
      case GST_MESSAGE_ERROR:{
        GError *e = NULL;
        gchar *dbg = NULL;
        gst_message_parse_error (m, &e, &dbg);
        if (!r->error)
          r->error = g_strdup_printf ("%s | %s", e->message, dbg ? dbg : "");
        g_error_free (e);
        g_free (dbg);
        stop = TRUE;
        break;
      }
      case GST_MESSAGE_WARNING:{
        GError *e = NULL;
        gchar *dbg = NULL;
        gst_message_parse_warning (m, &e, &dbg);
        gchar *w = g_strdup_printf ("%s%s | %s\n", r->warnings ? r->warnings :
            "", e->message, dbg ? dbg : "");
        g_free (r->warnings);
        r->warnings = w;
        r->n_warnings++;
        g_error_free (e);
        g_free (dbg);
        break;
      }
      case GST_MESSAGE_ELEMENT:{
        const GstStructure *s = gst_message_get_structure (m);
        if (gst_structure_has_name (s, "etp-ecgsrc")) {
          r->summary = TRUE;
          gst_structure_get_uint64 (s, "records-read", &r->read);
          gst_structure_get_uint64 (s, "records-skipped", &r->skipped);
          gst_structure_get_uint (s, "records-missing", &r->missing);
          gst_structure_get_uint (s, "records-listed", &r->listed);
        }
        break;
      }
      case GST_MESSAGE_EOS:
        r->eos = TRUE;
        stop = TRUE;
        break;
      default:
        break;
    }
    gst_message_unref (m);
  }
  return stop;
}

static gboolean
handle_bus (GstBus * bus, Run * r)
{
  GstMessage *m;
  gboolean stop = FALSE;
  while ((m = gst_bus_pop (bus)))
    stop |= handle_message (m, r);
  return stop;
}

static void
run_pipeline (const gchar * src_desc, Run * r)
{
  memset (r, 0, sizeof *r);
  r->ids = g_ptr_array_new_with_free_func (g_free);
  r->caps = g_ptr_array_new_with_free_func (g_free);
  r->epochs = g_array_new (FALSE, FALSE, sizeof (guint));
  r->folds = g_array_new (FALSE, FALSE, sizeof (gint));
  r->window_starts = g_array_new (FALSE, FALSE, sizeof (guint64));
  r->pts_ok = TRUE;
  r->last_pts = GST_CLOCK_TIME_NONE;

  gchar *desc = g_strdup_printf ("%s ! appsink name=sink sync=false "
      "max-buffers=4", src_desc);
  GError *err = NULL;
  GstElement *pipe = gst_parse_launch (desc, &err);
  g_free (desc);
  fail_unless (pipe != NULL, "parse: %s", err ? err->message : "?");
  GstElement *sink = gst_bin_get_by_name (GST_BIN (pipe), "sink");
  GstBus *bus = gst_element_get_bus (pipe);
  gint64 t0 = g_get_monotonic_time ();
  gst_element_set_state (pipe, GST_STATE_PLAYING);
  gchar *last_caps = NULL;
  for (;;) {
    GstSample *s = gst_app_sink_try_pull_sample (GST_APP_SINK (sink),
        50 * GST_MSECOND);
    if (s) {
      GstBuffer *b = gst_sample_get_buffer (s);
      GstCaps *c = gst_sample_get_caps (s);
      gchar *cs = gst_caps_to_string (c);
      if (g_strcmp0 (cs, last_caps) != 0) {
        g_ptr_array_add (r->caps, g_strdup (cs));
        g_free (last_caps);
        last_caps = cs;
      } else
        g_free (cs);
      EtpEcgMeta *m = etp_buffer_get_ecg_meta (b);
      fail_unless (m != NULL, "buffer without EtpEcgMeta");
      GstStructure *st = gst_caps_get_structure (c, 0);
      gint ch = 0, rate = 0;
      gst_structure_get_int (st, "channels", &ch);
      gst_structure_get_int (st, "rate", &rate);
      fail_unless_equals_int (g_strv_length (m->lead_names), ch);
      fail_unless (fabs (m->source_rate - rate) < 0.5);
      fail_unless (gst_buffer_get_size (b) % (4 * ch) == 0);
      if (m->window_start == 0 && m->window_index == 0)
        g_ptr_array_add (r->ids, g_strdup (m->record_id));
      g_array_append_val (r->epochs, m->epoch);
      g_array_append_val (r->folds, m->fold);
      g_array_append_val (r->window_starts, m->window_start);
      if (!r->first_units) {
        r->first_report = g_strdup (m->report);
        r->first_label_set = g_strdupv (m->label_set);
        r->first_labels = g_strdupv (m->label_codes);
        r->first_leads = g_strdupv (m->lead_names);
        r->first_units = g_strdup (m->units);
        r->first_dataset = g_strdup (m->dataset);
      }
      GstClockTime pts = GST_BUFFER_PTS (b);
      if (!GST_CLOCK_TIME_IS_VALID (pts)
          || !GST_BUFFER_DURATION_IS_VALID (b)
          || (GST_CLOCK_TIME_IS_VALID (r->last_pts) && pts <= r->last_pts))
        r->pts_ok = FALSE;
      /* the duration matches the samples */
      guint64 frames = gst_buffer_get_size (b) / (4 * ch);
      if (llabs ((gint64) GST_BUFFER_DURATION (b) -
              (gint64) gst_util_uint64_scale (frames, GST_SECOND, rate)) > 1)
        r->pts_ok = FALSE;
      r->last_pts = pts;
      r->n_buffers++;
      gst_sample_unref (s);
    }
    if (handle_bus (bus, r))
      break;
    if (!s && gst_app_sink_is_eos (GST_APP_SINK (sink))) {
      /* wait for the pipeline's EOS (posted once every sink has it) */
      while (!r->eos && !r->error) {
        GstMessage *m = gst_bus_timed_pop (bus, 10 * GST_SECOND);
        if (!m)
          break;
        handle_message (m, r);
      }
      break;
    }
  }
  r->wall_us = g_get_monotonic_time () - t0;
  g_free (last_caps);
  gst_element_set_state (pipe, GST_STATE_NULL);
  handle_bus (bus, r);
  gst_object_unref (bus);
  gst_object_unref (sink);
  gst_object_unref (pipe);
}

/* ---- shared data ------------------------------------------------------- */

GST_START_TEST (test_ptbxl_fold10)
{
  NEED_DATA (data);
  Run r;
  gchar *d = g_strdup_printf ("ecgsrc location=%s/ptbxl folds=10 rate=100 "
      "missing=skip", data);
  run_pipeline (d, &r);
  fail_unless (r.error == NULL, "%s", r.error);
  fail_unless (r.eos);
  fail_unless_equals_int (r.n_buffers, 66);
  fail_unless (r.summary);
  fail_unless_equals_uint64 (r.read, 66);
  fail_unless_equals_uint64 (r.skipped, 0);
  fail_unless_equals_int (r.missing, 852 - 66);
  /* the absent files are reported once */
  fail_unless_equals_int (r.n_warnings, 1);
  fail_unless (strstr (r.warnings, "786 records") != NULL, "%s", r.warnings);
  fail_unless_equals_int (r.caps->len, 1);
  fail_unless (strstr (g_ptr_array_index (r.caps, 0), "rate=(int)100"));
  fail_unless (strstr (g_ptr_array_index (r.caps, 0), "channels=(int)12"));
  fail_unless (strstr (g_ptr_array_index (r.caps, 0), "F32LE"));
  fail_unless (r.pts_ok);
  for (guint i = 0; i < r.folds->len; i++)
    fail_unless_equals_int (g_array_index (r.folds, gint, i), 10);
  fail_unless_equals_string (g_ptr_array_index (r.ids, 0), "00009_lr");
  fail_unless_equals_string (r.first_dataset, "ptbxl");
  fail_unless_equals_string (r.first_report, "sinusrhythmus normales ekg");
  fail_unless_equals_string (r.first_leads[3], "aVR");
  fail_unless_equals_string (r.first_units, "mV");
  fail_unless (r.first_label_set == NULL);
  fail_unless_equals_int (g_strv_length (r.first_labels), 2);
  run_clear (&r);
  g_free (d);
  g_free (data);
}

GST_END_TEST;

GST_START_TEST (test_ptbxl_train_labels)
{
  NEED_DATA (data);
  Run r;
  gchar *d = g_strdup_printf ("ecgsrc location=%s/ptbxl folds=1-8 rate=500 "
      "label-set=superclass report=english max-records=12", data);
  run_pipeline (d, &r);
  fail_unless (r.error == NULL, "%s", r.error);
  fail_unless_equals_int (r.n_buffers, 12);
  fail_unless (strstr (g_ptr_array_index (r.caps, 0), "rate=(int)500"));
  for (guint i = 0; i < r.folds->len; i++) {
    gint f = g_array_index (r.folds, gint, i);
    fail_unless (f >= 1 && f <= 8);
  }
  fail_unless_equals_int (g_strv_length (r.first_label_set), 5);
  fail_unless_equals_string (r.first_labels[0], "NORM");
  fail_unless_equals_string (r.first_report, "normal ECG, low QRS voltages "
      "in the frontal and horizontal leads, sinus rhythm.");
  run_clear (&r);
  g_free (d);
  g_free (data);
}

GST_END_TEST;

GST_START_TEST (test_ptbxl_missing_error)
{
  NEED_DATA (data);
  Run r;
  gchar *d = g_strdup_printf ("ecgsrc location=%s/ptbxl folds=10 rate=100 "
      "missing=error", data);
  run_pipeline (d, &r);
  fail_unless (r.error != NULL);
  fail_unless (strstr (r.error, "00504_lr.hea") != NULL, "%s", r.error);
  fail_unless (strstr (r.error, "absent") != NULL, "%s", r.error);
  fail_unless_equals_int (r.n_buffers, 0);
  run_clear (&r);
  g_free (d);
  g_free (data);
}

GST_END_TEST;

GST_START_TEST (test_split_file)
{
  NEED_DATA (data);
  Run r;
  gchar *d = g_strdup_printf ("ecgsrc location=%s/ptbxl folds=10 rate=100 "
      "split-file=%s/splits/merl/ptbxl/super_class/ptbxl_super_class_test.csv",
      data, data);
  run_pipeline (d, &r);
  fail_unless (r.error == NULL, "%s", r.error);
  fail_unless_equals_int (r.n_buffers, 64);
  fail_unless_equals_int (g_strv_length (r.first_label_set), 5);
  fail_unless_equals_string (r.first_label_set[0], "HYP");
  fail_unless_equals_string (r.first_labels[0], "NORM");
  run_clear (&r);
  g_free (d);
  g_free (data);
}

GST_END_TEST;

GST_START_TEST (test_cpsc2018)
{
  NEED_DATA (data);
  Run r;
  gchar *d = g_strdup_printf ("ecgsrc location=%s/cpsc2018 compose-report=true",
      data);
  run_pipeline (d, &r);
  fail_unless (r.error == NULL, "%s", r.error);
  fail_unless_equals_int (r.n_buffers, 10);
  fail_unless_equals_int (r.caps->len, 1);
  fail_unless_equals_string (g_ptr_array_index (r.ids, 0), "A1980");
  fail_unless_equals_string (r.first_dataset, "cpsc2018");
  fail_unless_equals_int (g_strv_length (r.first_label_set), 9);
  fail_unless_equals_string (r.first_labels[0], "PAC");
  fail_unless_equals_string (r.first_report, "premature atrial contraction.");
  run_clear (&r);
  g_free (d);
  g_free (data);
}

GST_END_TEST;

GST_START_TEST (test_cinc_folders)
{
  NEED_DATA (data);
  const gchar *folders[] = { "chapman-ningbo", "cpsc2018", "cpsc2018-extra",
    "georgia", "ptb", "ptbxl"
  };
  const guint counts[] = { 20, 11, 28, 33, 10, 22 };
  for (guint f = 0; f < G_N_ELEMENTS (folders); f++) {
    Run r;
    /* every record of every folder is read by the whole-tree run below */
    gchar *d = g_strdup_printf ("ecgsrc location=%s/cinc/%s max-records=4",
        data, folders[f]);
    run_pipeline (d, &r);
    fail_unless (r.error == NULL, "%s", r.error);
    fail_unless_equals_int (r.listed, counts[f]);
    fail_unless_equals_int (r.n_buffers, 4);
    fail_unless (strstr (g_ptr_array_index (r.caps, 0),
            f == 4 ? "rate=(int)1000" : "rate=(int)500"));
    fail_unless_equals_string (r.first_leads[0], "I");
    run_clear (&r);
    g_free (d);
  }
  /* the whole tree: renegotiates 500 -> 1000 (ptb) -> 500 */
  Run r;
  gchar *d = g_strdup_printf ("ecgsrc location=%s/cinc", data);
  run_pipeline (d, &r);
  fail_unless (r.error == NULL, "%s", r.error);
  fail_unless_equals_int (r.n_buffers, 124);
  fail_unless_equals_int (r.caps->len, 3);
  fail_unless (strstr (g_ptr_array_index (r.caps, 1), "rate=(int)1000"));
  run_clear (&r);
  g_free (d);
  g_free (data);
}

GST_END_TEST;

GST_START_TEST (test_shuffle_epochs)
{
  NEED_DATA (data);
  Run a, b, c;
  gchar *d = g_strdup_printf ("ecgsrc location=%s/cinc/ptbxl shuffle=true "
      "seed=7 num-epochs=2", data);
  run_pipeline (d, &a);
  run_pipeline (d, &b);
  g_free (d);
  d = g_strdup_printf ("ecgsrc location=%s/cinc/ptbxl", data);
  run_pipeline (d, &c);
  g_free (d);
  fail_unless_equals_int (a.n_buffers, 44);
  fail_unless_equals_int (c.n_buffers, 22);
  fail_unless_equals_uint64 (a.read, 44);
  /* same seed, same order; each epoch a permutation; epochs differ */
  gboolean differs_from_sorted = FALSE, epochs_differ = FALSE;
  for (guint i = 0; i < 44; i++) {
    fail_unless_equals_string (g_ptr_array_index (a.ids, i),
        g_ptr_array_index (b.ids, i));
    fail_unless_equals_int (g_array_index (a.epochs, guint, i), i / 22);
  }
  for (guint i = 0; i < 22; i++) {
    if (strcmp (g_ptr_array_index (a.ids, i), g_ptr_array_index (c.ids, i)))
      differs_from_sorted = TRUE;
    if (strcmp (g_ptr_array_index (a.ids, i), g_ptr_array_index (a.ids,
                i + 22)))
      epochs_differ = TRUE;
    gboolean found = FALSE;
    for (guint j = 0; j < 22; j++)
      found |= strcmp (g_ptr_array_index (c.ids, i),
          g_ptr_array_index (a.ids, 22 + j)) == 0;
    fail_unless (found);
  }
  fail_unless (differs_from_sorted);
  fail_unless (epochs_differ);
  /* dataset order: sorted names */
  for (guint i = 1; i < 22; i++)
    fail_unless (strcmp (g_ptr_array_index (c.ids, i - 1),
            g_ptr_array_index (c.ids, i)) < 0);
  run_clear (&a);
  run_clear (&b);
  run_clear (&c);
  g_free (data);
}

GST_END_TEST;

/* ---- files written here ----------------------------------------------- */

static gchar *
make_tmpdir (void)
{
  gchar *d = g_dir_make_tmp ("etp-ecgsrc-XXXXXX", NULL);
  fail_unless (d != NULL);
  return d;
}

static void
rm_rf (const gchar * dir)
{
  GDir *d = g_dir_open (dir, 0, NULL);
  const gchar *n;
  if (!d)
    return;
  while ((n = g_dir_read_name (d))) {
    gchar *p = g_build_filename (dir, n, NULL);
    if (g_file_test (p, G_FILE_TEST_IS_DIR))
      rm_rf (p);
    else
      g_unlink (p);
    g_free (p);
  }
  g_dir_close (d);
  g_rmdir (dir);
}

/* A format-16 record of @nsig signals x @ns samples; value(i, c) = i + 100c;
 * @truncate_to < 0 writes all bytes. */
static void
write_record (const gchar * dir, const gchar * name, guint nsig, guint ns,
    guint rate, gint truncate_to)
{
  GString *hea = g_string_new (NULL);
  guint8 *bytes = g_malloc (2 * nsig * ns);
  for (guint i = 0; i < ns; i++)
    for (guint c = 0; c < nsig; c++) {
      gint16 v = (gint16) (i + 100 * c);
      bytes[2 * (i * nsig + c)] = v & 0xff;
      bytes[2 * (i * nsig + c) + 1] = (v >> 8) & 0xff;
    }
  g_string_append_printf (hea, "%s %u %u %u\n", name, nsig, rate, ns);
  for (guint c = 0; c < nsig; c++) {
    gint sum = 0;
    for (guint i = 0; i < ns; i++)
      sum += (gint) (i + 100 * c);
    g_string_append_printf (hea, "%s.dat 16 1000/mV 16 0 0 %d 0 sig%u\n",
        name, (gint) (gint16) sum, c);
  }
  gchar *hp = g_strdup_printf ("%s/%s.hea", dir, name);
  gchar *dp = g_strdup_printf ("%s/%s.dat", dir, name);
  g_file_set_contents (hp, hea->str, -1, NULL);
  g_file_set_contents (dp, (gchar *) bytes,
      truncate_to >= 0 ? truncate_to : (gssize) (2 * nsig * ns), NULL);
  g_free (hp);
  g_free (dp);
  g_free (bytes);
  g_string_free (hea, TRUE);
}

GST_START_TEST (test_bad_record_skip_and_error)
{
  gchar *dir = make_tmpdir ();
  write_record (dir, "a_good", 2, 50, 100, -1);
  write_record (dir, "b_trunc", 2, 50, 100, 60);
  write_record (dir, "c_good", 3, 20, 250, -1);
  Run r;
  gchar *d = g_strdup_printf ("ecgsrc location=%s missing=skip", dir);
  run_pipeline (d, &r);
  fail_unless (r.error == NULL, "%s", r.error);
  fail_unless_equals_int (r.n_buffers, 2);
  fail_unless_equals_uint64 (r.skipped, 1);
  fail_unless_equals_int (r.n_warnings, 1);
  fail_unless (strstr (r.warnings, "b_trunc.dat") != NULL, "%s", r.warnings);
  fail_unless (strstr (r.warnings, "truncated") != NULL, "%s", r.warnings);
  /* renegotiated: 2 channels at 100 Hz, then 3 at 250 Hz */
  fail_unless_equals_int (r.caps->len, 2);
  fail_unless (strstr (g_ptr_array_index (r.caps, 1), "channels=(int)3"));
  fail_unless (strstr (g_ptr_array_index (r.caps, 1), "rate=(int)250"));
  run_clear (&r);
  g_free (d);

  d = g_strdup_printf ("ecgsrc location=%s missing=error", dir);
  run_pipeline (d, &r);
  fail_unless (r.error != NULL);
  fail_unless (strstr (r.error, "b_trunc.dat") != NULL, "%s", r.error);
  fail_unless (strstr (r.error, "truncated") != NULL, "%s", r.error);
  fail_unless_equals_int (r.n_buffers, 1);
  run_clear (&r);
  g_free (d);

  /* a header naming a file outside the folder, and a bad format */
  gchar *p = g_build_filename (dir, "b_trunc.hea", NULL);
  g_file_set_contents (p, "b_trunc 1 100 10\n../x.dat 16 200 16 0\n", -1, NULL);
  d = g_strdup_printf ("ecgsrc location=%s missing=error", p);
  run_pipeline (d, &r);
  fail_unless (r.error != NULL);
  fail_unless (strstr (r.error, "outside the record's folder") != NULL, "%s",
      r.error);
  run_clear (&r);
  g_free (d);
  /* missing=skip (the default): a warning naming the fault, then EOS */
  d = g_strdup_printf ("ecgsrc location=%s", p);
  run_pipeline (d, &r);
  fail_unless (r.error == NULL, "%s", r.error);
  fail_unless (r.eos);
  fail_unless_equals_int (r.n_buffers, 0);
  fail_unless_equals_uint64 (r.skipped, 1);
  fail_unless (strstr (r.warnings, "outside the record's folder") != NULL,
      "%s", r.warnings);
  run_clear (&r);
  g_free (d);
  g_file_set_contents (p, "b_trunc 1 100 10\nb_trunc.dat 42 200 16 0\n", -1,
      NULL);
  d = g_strdup_printf ("ecgsrc location=%s missing=error", p);
  run_pipeline (d, &r);
  fail_unless (r.error != NULL);
  fail_unless (strstr (r.error, "format 42") != NULL, "%s", r.error);
  fail_unless (strstr (r.error, "b_trunc.hea") != NULL, "%s", r.error);
  run_clear (&r);
  g_free (d);
  g_free (p);
  rm_rf (dir);
  g_free (dir);
}

GST_END_TEST;

GST_START_TEST (test_bad_settings)
{
  Run r;
  run_pipeline ("ecgsrc location=/nonexistent/etp/record.hea", &r);
  fail_unless (r.error != NULL);
  fail_unless (strstr (r.error, "/nonexistent/etp/record.hea") != NULL, "%s",
      r.error);
  run_clear (&r);
  gchar *dir = make_tmpdir ();
  write_record (dir, "a", 1, 10, 100, -1);
  gchar *d = g_strdup_printf ("ecgsrc location=%s folds=1-8", dir);
  run_pipeline (d, &r);
  fail_unless (r.error != NULL);
  fail_unless (strstr (r.error, "folds") != NULL, "%s", r.error);
  run_clear (&r);
  g_free (d);
  rm_rf (dir);
  g_free (dir);
}

GST_END_TEST;

GST_START_TEST (test_record_values_and_live)
{
  gchar *dir = make_tmpdir ();
  write_record (dir, "rec", 2, 50, 100, -1);
  gchar *p = g_build_filename (dir, "rec.hea", NULL);

  /* values: (i + 100c) / 1000 mV */
  gchar *d = g_strdup_printf ("ecgsrc location=%s ! appsink name=sink "
      "sync=false", p);
  GstElement *pipe = gst_parse_launch (d, NULL);
  g_free (d);
  GstElement *sink = gst_bin_get_by_name (GST_BIN (pipe), "sink");
  gst_element_set_state (pipe, GST_STATE_PLAYING);
  GstSample *s = gst_app_sink_pull_sample (GST_APP_SINK (sink));
  fail_unless (s != NULL);
  GstBuffer *b = gst_sample_get_buffer (s);
  GstMapInfo map;
  fail_unless (gst_buffer_map (b, &map, GST_MAP_READ));
  fail_unless_equals_int (map.size, 50 * 2 * 4);
  const gfloat *f = (const gfloat *) map.data;
  for (guint i = 0; i < 50; i++)
    for (guint c = 0; c < 2; c++)
      fail_unless (fabsf (f[i * 2 + c] - (i + 100 * c) / 1000.f) < 1e-6);
  gst_buffer_unmap (b, &map);
  EtpEcgMeta *m = etp_buffer_get_ecg_meta (b);
  fail_unless_equals_string (m->record_id, "rec");
  fail_unless_equals_string (m->dataset, "wfdb");
  fail_unless_equals_uint64 (m->record_samples, 50);
  fail_unless_equals_uint64 (GST_BUFFER_DURATION (b), GST_SECOND / 2);
  gst_sample_unref (s);
  gst_element_set_state (pipe, GST_STATE_NULL);
  gst_object_unref (sink);
  gst_object_unref (pipe);

  /* reports file */
  gchar *rp = g_build_filename (dir, "reports.tsv", NULL);
  g_file_set_contents (rp, "rec\tnormal sinus rhythm\n", -1, NULL);
  Run rr;
  d = g_strdup_printf ("ecgsrc location=%s reports=%s", p, rp);
  run_pipeline (d, &rr);
  g_free (d);
  fail_unless (rr.error == NULL, "%s", rr.error);
  fail_unless_equals_string (rr.first_report, "normal sinus rhythm");
  run_clear (&rr);
  g_free (rp);

  /* live: 0.5 s in chunks of 0.1 s at real-time pace */
  Run r;
  d = g_strdup_printf ("ecgsrc location=%s is-live=true chunk-duration=0.1",
      p);
  run_pipeline (d, &r);
  g_free (d);
  fail_unless (r.error == NULL, "%s", r.error);
  fail_unless_equals_int (r.n_buffers, 5);
  for (guint i = 0; i < 5; i++)
    fail_unless_equals_uint64 (g_array_index (r.window_starts, guint64, i),
        10 * i);
  fail_unless (r.pts_ok);
  /* the last chunk is due 0.4 s after the first */
  fail_unless (r.wall_us >= 350000, "live playback took %" G_GINT64_FORMAT
      " us", r.wall_us);
  run_clear (&r);
  g_free (p);
  rm_rf (dir);
  g_free (dir);
}

GST_END_TEST;

GST_START_TEST (test_edf_file)
{
  gchar *dir = make_tmpdir ();
  gchar *p = g_build_filename (dir, "rec.edf", NULL);
  const gchar *labels[3] = { "ECG II", "ECG I", "Resp" };
  int h = edfopen_file_writeonly (p, EDFLIB_FILETYPE_EDFPLUS, 3);
  fail_unless (h >= 0);
  for (int s = 0; s < 3; s++) {
    edf_set_samplefrequency (h, s, 200);
    edf_set_physical_maximum (h, s, 10.0);
    edf_set_physical_minimum (h, s, -10.0);
    edf_set_digital_maximum (h, s, 32767);
    edf_set_digital_minimum (h, s, -32768);
    edf_set_label (h, s, labels[s]);
    edf_set_physical_dimension (h, s, "mV");
  }
  double buf[200];
  for (int s = 0; s < 3; s++) {
    for (int i = 0; i < 200; i++)
      buf[i] = (s + 1) * 0.5;
    edfwrite_physical_samples (h, buf);
  }
  edfclose_file (h);
  Run r;
  gchar *d = g_strdup_printf ("ecgsrc location=%s", p);
  run_pipeline (d, &r);
  fail_unless (r.error == NULL, "%s", r.error);
  fail_unless_equals_int (r.n_buffers, 1);
  fail_unless (strstr (g_ptr_array_index (r.caps, 0), "channels=(int)3"));
  fail_unless (strstr (g_ptr_array_index (r.caps, 0), "rate=(int)200"));
  fail_unless_equals_string (r.first_dataset, "edf");
  fail_unless_equals_string (r.first_leads[0], "II");
  fail_unless_equals_string (r.first_leads[2], "Resp");
  run_clear (&r);
  g_free (d);
  g_free (p);
  rm_rf (dir);
  g_free (dir);
}

GST_END_TEST;

/* Standard audio elements accept the caps (several leads: unpositioned
 * channels), across a renegotiation. */
GST_START_TEST (test_audioconvert)
{
  gchar *dir = make_tmpdir ();
  write_record (dir, "a", 12, 40, 100, -1);
  write_record (dir, "b", 3, 30, 250, -1);
  Run r;
  gchar *d = g_strdup_printf ("ecgsrc location=%s ! queue ! audioconvert ! "
      "audio/x-raw,format=S16LE ! audioconvert ! audio/x-raw,format=F32LE",
      dir);
  run_pipeline (d, &r);
  fail_unless (r.error == NULL, "%s", r.error);
  fail_unless_equals_int (r.n_buffers, 2);
  fail_unless_equals_int (r.caps->len, 2);
  fail_unless (strstr (g_ptr_array_index (r.caps, 0), "channels=(int)12"));
  fail_unless (strstr (g_ptr_array_index (r.caps, 1), "channels=(int)3"));
  run_clear (&r);
  g_free (d);
  rm_rf (dir);
  g_free (dir);
}

GST_END_TEST;

static Suite *
ecgsrc_suite (void)
{
  Suite *s = suite_create ("ecgsrc");
  TCase *tc = tcase_create ("general");
  tcase_set_timeout (tc, 600);
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_record_values_and_live);
  tcase_add_test (tc, test_bad_record_skip_and_error);
  tcase_add_test (tc, test_bad_settings);
  tcase_add_test (tc, test_edf_file);
  tcase_add_test (tc, test_audioconvert);
  tcase_add_test (tc, test_ptbxl_fold10);
  tcase_add_test (tc, test_ptbxl_train_labels);
  tcase_add_test (tc, test_ptbxl_missing_error);
  tcase_add_test (tc, test_split_file);
  tcase_add_test (tc, test_cpsc2018);
  tcase_add_test (tc, test_cinc_folders);
  tcase_add_test (tc, test_shuffle_epochs);
  return s;
}

GST_CHECK_MAIN (ecgsrc);
