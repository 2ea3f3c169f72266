/* etptrain on real PTB-XL records (100 Hz, short 2.5 s windows, a narrow
 * ResNet18-1D so the test stays fast):
 *  - the loss falls over a few epochs, every parameter tensor moves (so every
 *    one received a gradient; weight decay is off so nothing else moves
 *    them), validation metrics are reported;
 *  - resume: 2 epochs straight == 1 epoch + checkpoint + resume for 1 epoch
 *    (weights, BatchNorm statistics and Adam state within 1e-6).
 * Text features are fixed random vectors per record (the test does not
 * depend on the text side). Skips without the shared data. */
#include "config.h"

#include <glib/gstdio.h>

#include "train_common.h"
#include "io/wfdb.h"
#include "engine/engine.h"
#include "nets/resnet1d.h"
#include "nets/checkpoint.h"
#include "nets/safetensors.h"

#define LEADS 12
#define RATE 100
#define LEN 250                 /* 2.5 s windows */
#define DIM 16                  /* text feature size */
#define N_TRAIN 16
#define N_VAL 8

typedef struct
{
  gchar *id;
  gfloat *x;                    /* LEN x LEADS interleaved, z-scored per lead */
  gfloat feat[DIM];
} Rec;

static Rec recs[N_TRAIN + N_VAL];
static gboolean have_data = FALSE;

static const gchar *
shared_dir (void)
{
  const gchar *d = g_getenv ("ETP_SHARED_DATA");
  return d ? d : ETP_SHARED_DATA;
}

static gint
cmp_names (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const gchar * const *) a, *(const gchar * const *) b);
}

/* Loads the first N_TRAIN + N_VAL records of records100/00000. */
static gboolean
load_records (void)
{
  gchar *dir;
  GDir *gd;
  GPtrArray *names;
  const gchar *n;
  GRand *rng;
  guint i;

  if (have_data)
    return TRUE;
  dir = g_build_filename (shared_dir (), "data", "ptbxl", "records100",
      "00000", NULL);
  gd = g_dir_open (dir, 0, NULL);
  if (gd == NULL) {
    g_free (dir);
    return FALSE;
  }
  names = g_ptr_array_new_with_free_func (g_free);
  while ((n = g_dir_read_name (gd)) != NULL)
    if (g_str_has_suffix (n, "_lr.hea"))
      g_ptr_array_add (names, g_strdup (n));
  g_dir_close (gd);
  g_ptr_array_sort (names, cmp_names);
  fail_unless (names->len >= N_TRAIN + N_VAL);
  rng = g_rand_new_with_seed (1234);
  for (i = 0; i < N_TRAIN + N_VAL; i++) {
    gchar *path = g_build_filename (dir, g_ptr_array_index (names, i), NULL);
    GError *err = NULL;
    EtpRecord *rec = etp_wfdb_read (path, &err);
    guint c, t, k;

    fail_unless (rec != NULL, "%s: %s", path, err ? err->message : "?");
    fail_unless_equals_int (rec->n_leads, LEADS);
    fail_unless (rec->n_samples >= LEN);
    recs[i].id = g_strdup (rec->record_id);
    recs[i].x = g_new (gfloat, LEN * LEADS);
    for (c = 0; c < LEADS; c++) {
      gdouble mean = 0, var = 0, sd;
      for (t = 0; t < LEN; t++)
        mean += etp_record_sample (rec, t, c);
      mean /= LEN;
      for (t = 0; t < LEN; t++) {
        gdouble d = etp_record_sample (rec, t, c) - mean;
        var += d * d;
      }
      sd = sqrt (var / LEN) + 1e-6;
      for (t = 0; t < LEN; t++)
        recs[i].x[t * LEADS + c] =
            (gfloat) ((etp_record_sample (rec, t, c) - mean) / sd);
    }
    for (k = 0; k < DIM; k++)
      recs[i].feat[k] = (gfloat) g_rand_double_range (rng, -1.0, 1.0);
    etp_record_free (rec);
    g_free (path);
  }
  g_rand_free (rng);
  g_ptr_array_unref (names);
  g_free (dir);
  have_data = TRUE;
  return TRUE;
}

/* The training order of epoch @e: a permutation of 0..N_TRAIN-1. */
static void
epoch_order (guint e, guint * order)
{
  GRand *rng = g_rand_new_with_seed (100 + e);
  guint i;

  for (i = 0; i < N_TRAIN; i++)
    order[i] = i;
  for (i = N_TRAIN - 1; i > 0; i--) {
    guint j = (guint) g_rand_int_range (rng, 0, (gint32) i + 1);
    guint tmp = order[i];
    order[i] = order[j];
    order[j] = tmp;
  }
  g_rand_free (rng);
}

/* Pushes the training data of epochs [first, last) with meta epoch field
 * (e - meta_offset). */
static void
push_epochs (TrainRig * r, guint first, guint last, guint meta_offset)
{
  guint e, i, order[N_TRAIN];

  for (e = first; e < last; e++) {
    epoch_order (e, order);
    for (i = 0; i < N_TRAIN; i++) {
      Rec *rc = &recs[order[i]];
      rig_push (r, r->ecg, r->text, rc->x, LEN, rc->feat, DIM, rc->id, 0,
          e - meta_offset);
    }
  }
}

static void
push_val (TrainRig * r)
{
  guint i;

  for (i = N_TRAIN; i < N_TRAIN + N_VAL; i++)
    rig_push (r, r->val_ecg, r->val_text, recs[i].x, LEN, recs[i].feat, DIM,
        recs[i].id, 0, 0);
  rig_end (r->val_ecg);
  rig_end (r->val_text);
}

static gchar *
tmp_dir (void)
{
  GError *err = NULL;
  gchar *d = g_dir_make_tmp ("etptrain-XXXXXX", &err);

  fail_unless (d != NULL, "%s", err ? err->message : "?");
  return d;
}

static void
rm_dir (gchar * d)
{
  GDir *gd = g_dir_open (d, 0, NULL);
  const gchar *n;

  if (gd) {
    while ((n = g_dir_read_name (gd)) != NULL) {
      gchar *p = g_build_filename (d, n, NULL);
      g_unlink (p);
      g_free (p);
    }
    g_dir_close (gd);
  }
  g_rmdir (d);
  g_free (d);
}

static void
set_small_model (GstElement * t, guint batch, guint epochs)
{
  g_object_set (t, "batch-size", batch, "epochs", epochs, "width", 8,
      "embed-dim", 32, "seed", (guint64) 7, "device", 1 /* cpu */ ,
      "threads", 2, NULL);
}

GST_START_TEST (test_loss_falls_and_every_parameter_moves)
{
  TrainRig *r;
  TrainResult res;
  gchar *dir, *ck, *best;
  const guint epochs = 8;
  gdouble min_val = INFINITY;
  gdouble first, last, top1, top5;
  guint val_n = 0, i, checked = 0;
  EtpSafetensors *st;
  EtpResnet1dConfig cfg;
  EtpBackend *be;
  EtpResnet1d *fresh;
  GError *err = NULL;

  if (!load_records ()) {
    g_print ("SKIP: no PTB-XL records under %s\n", shared_dir ());
    return;
  }
  dir = tmp_dir ();
  ck = g_build_filename (dir, "final.safetensors", NULL);
  best = g_build_filename (dir, "best.safetensors", NULL);
  r = rig_new (LEADS, RATE, DIM, FALSE, TRUE);
  set_small_model (r->train, 8, epochs);
  g_object_set (r->train, "checkpoint", ck, "best-checkpoint", best,
      "weight-decay", 0.0,
      "learn-temperature", TRUE, "learning-rate", 3e-3, NULL);
  rig_start (r);
  push_val (r);
  push_epochs (r, 0, epochs, 0);
  rig_end (r->ecg);
  rig_end (r->text);
  rig_wait (r, &res, 300);

  fail_unless (res.error == NULL, "error: %s (%s)", res.error,
      res.error_debug);
  fail_unless (res.eos);
  fail_unless (res.done);
  fail_unless_equals_int (res.epochs->len, epochs);
  fail_unless_equals_int (res.steps->len, epochs * N_TRAIN / 8);

  first = sget_double (g_ptr_array_index (res.epochs, 0), "train-loss");
  last = sget_double (g_ptr_array_index (res.epochs, epochs - 1),
      "train-loss");
  g_print ("etptrain fit: train loss epoch 1 %.4f -> epoch %u %.4f\n", first,
      epochs, last);
  fail_unless (isfinite (first) && isfinite (last));
  fail_unless (last < 0.8 * first, "loss did not fall: %f -> %f", first,
      last);

  /* the per-step messages */
  for (i = 0; i < res.steps->len; i++) {
    const GstStructure *s = g_ptr_array_index (res.steps, i);
    guint64 step = 0;
    fail_unless (gst_structure_get_uint64 (s, "step", &step));
    fail_unless_equals_int ((gint) step, (gint) i + 1);
    fail_unless (sget_double (s, "learning-rate") > 0);
    fail_unless (sget_double (s, "ecg-per-second") >= 0);
  }

  /* validation: every epoch reports it */
  {
    const GstStructure *s = g_ptr_array_index (res.epochs, epochs - 1);
    fail_unless (gst_structure_get_uint (s, "val-windows", &val_n));
    fail_unless_equals_int (val_n, N_VAL);
    top1 = sget_double (s, "val-top1");
    top5 = sget_double (s, "val-top5");
    fail_unless (top1 >= 0 && top1 <= top5 && top5 <= 1.0);
    fail_unless (isfinite (sget_double (s, "val-loss")));
  }
  rig_free (r);

  /* best-checkpoint holds the epoch with the lowest validation loss. */
  for (i = 0; i < res.epochs->len; i++)
    min_val = MIN (min_val, sget_double (g_ptr_array_index (res.epochs, i),
            "val-loss"));
  st = etp_safetensors_open (best, &err);
  fail_unless (st != NULL, "%s", err ? err->message : "?");
  fail_unless (etp_safetensors_get_metadata (st, "train_best_val_loss"));
  fail_unless (fabs (g_ascii_strtod (etp_safetensors_get_metadata (st,
                  "train_best_val_loss"), NULL) - min_val) < 1e-9);
  etp_safetensors_free (st);
  g_unlink (best);
  g_free (best);

  /* Every trainable tensor moved away from its initial value. */
  st = etp_safetensors_open (ck, &err);
  fail_unless (st != NULL, "%s", err ? err->message : "?");
  fail_unless (etp_checkpoint_read_config (st, &cfg, &err), "%s",
      err ? err->message : "?");
  fail_unless_equals_int (cfg.width, 8);
  fail_unless_equals_int (cfg.text_dim, DIM);
  fail_unless_equals_string (etp_safetensors_get_metadata (st,
          "train_epochs_done"), "8");
  be = etp_backend_new (ETP_DEVICE_CPU, 1, &err);
  fail_unless (be != NULL);
  fresh = etp_resnet1d_new (be, &cfg, 7, &err);
  fail_unless (fresh != NULL, "%s", err ? err->message : "?");
  for (i = 0; i < etp_resnet1d_n_tensors (fresh); i++) {
    const EtpTensorInfo *ti = etp_resnet1d_tensor_info (fresh, i);
    const EtpStTensor *t = etp_safetensors_get (st, ti->name);
    gfloat *a, *b;
    gdouble maxd = 0;
    gsize k;

    fail_unless (t != NULL, "checkpoint lacks %s", ti->name);
    if (ti->kind != ETP_TENSOR_PARAM)
      continue;
    fail_unless_equals_int ((gint) t->numel, (gint) ti->numel);
    a = g_new (gfloat, ti->numel);
    b = g_new (gfloat, ti->numel);
    etp_resnet1d_read_tensor (fresh, i, ETP_SLOT_VALUE, a);
    etp_st_tensor_to_f32 (t, b);
    for (k = 0; k < ti->numel; k++) {
      fail_unless (isfinite (b[k]), "%s[%zu] not finite", ti->name, k);
      maxd = MAX (maxd, fabs ((gdouble) a[k] - b[k]));
    }
    fail_unless (maxd > 1e-6, "parameter %s did not change (no gradient?)",
        ti->name);
    g_free (a);
    g_free (b);
    checked++;
  }
  g_print ("etptrain fit: %u parameter tensors all moved\n", checked);
  fail_unless (checked >= 60);
  etp_resnet1d_free (fresh);
  etp_backend_free (be);
  etp_safetensors_free (st);
  train_result_clear (&res);
  g_unlink (ck);
  g_free (ck);
  rm_dir (dir);
}

GST_END_TEST;

static void
run_training (guint epochs, guint first, guint last, guint meta_offset,
    const gchar * resume, const gchar * ck, TrainResult * res)
{
  TrainRig *r = rig_new (LEADS, RATE, DIM, FALSE, FALSE);

  set_small_model (r->train, 6, epochs);   /* 6 + 6 + 4: a partial batch */
  g_object_set (r->train, "checkpoint", ck, "resume", resume, NULL);
  rig_start (r);
  push_epochs (r, first, last, meta_offset);
  rig_end (r->ecg);
  rig_end (r->text);
  rig_wait (r, res, 300);
  fail_unless (res->error == NULL, "error: %s (%s)", res->error,
      res->error_debug);
  fail_unless (res->eos);
  rig_free (r);
}

GST_START_TEST (test_resume_matches_uninterrupted)
{
  gchar *dir, *ck_a, *ck_b, *ck_b2;
  TrainResult ra, rb, rb2;
  EtpSafetensors *a, *b;
  GError *err = NULL;
  guint i, compared = 0;
  gdouble worst = 0;
  const GstStructure *last_a, *last_b;

  if (!load_records ()) {
    g_print ("SKIP: no PTB-XL records under %s\n", shared_dir ());
    return;
  }
  dir = tmp_dir ();
  ck_a = g_build_filename (dir, "a.safetensors", NULL);
  ck_b = g_build_filename (dir, "b.safetensors", NULL);
  ck_b2 = g_build_filename (dir, "b2.safetensors", NULL);

  run_training (2, 0, 2, 0, NULL, ck_a, &ra);
  run_training (1, 0, 1, 0, NULL, ck_b, &rb);
  /* the source restarts after the interruption: its epoch field is 0 again */
  run_training (2, 1, 2, 1, ck_b, ck_b2, &rb2);

  fail_unless_equals_int (ra.steps->len, 6);
  fail_unless_equals_int (rb.steps->len, 3);
  fail_unless_equals_int (rb2.steps->len, 3);
  fail_unless_equals_int (rb2.epochs->len, 1);
  last_a = g_ptr_array_index (ra.epochs, 1);
  last_b = g_ptr_array_index (rb2.epochs, 0);
  {
    guint ea = 0, eb = 0;
    guint64 sa = 0, sb = 0;
    fail_unless (gst_structure_get_uint (last_a, "epoch", &ea));
    fail_unless (gst_structure_get_uint (last_b, "epoch", &eb));
    fail_unless (gst_structure_get_uint64 (last_a, "step", &sa));
    fail_unless (gst_structure_get_uint64 (last_b, "step", &sb));
    fail_unless_equals_int (ea, 2);
    fail_unless_equals_int (eb, 2);
    fail_unless_equals_int ((gint) sa, 6);
    fail_unless_equals_int ((gint) sb, 6);
  }
  g_print ("etptrain resume: epoch-2 loss straight %.6f, resumed %.6f\n",
      sget_double (last_a, "train-loss"), sget_double (last_b,
          "train-loss"));
  fail_unless (fabs (sget_double (last_a, "train-loss") -
          sget_double (last_b, "train-loss")) < 1e-5);

  a = etp_safetensors_open (ck_a, &err);
  fail_unless (a != NULL, "%s", err ? err->message : "?");
  b = etp_safetensors_open (ck_b2, &err);
  fail_unless (b != NULL, "%s", err ? err->message : "?");
  fail_unless_equals_int (etp_safetensors_n_tensors (a),
      etp_safetensors_n_tensors (b));
  for (i = 0; i < etp_safetensors_n_tensors (a); i++) {
    const EtpStTensor *ta = etp_safetensors_nth (a, i);
    const EtpStTensor *tb = etp_safetensors_get (b, ta->name);
    gfloat *va, *vb;
    gint64 k;

    fail_unless (tb != NULL, "resumed checkpoint lacks %s", ta->name);
    fail_unless_equals_int ((gint) ta->numel, (gint) tb->numel);
    if (ta->dtype == ETP_ST_I64) {
      fail_unless_equals_int ((gint) etp_st_tensor_get_i64 (ta),
          (gint) etp_st_tensor_get_i64 (tb));
      compared++;
      continue;
    }
    va = g_new (gfloat, ta->numel);
    vb = g_new (gfloat, tb->numel);
    etp_st_tensor_to_f32 (ta, va);
    etp_st_tensor_to_f32 (tb, vb);
    for (k = 0; k < ta->numel; k++) {
      gdouble d = fabs ((gdouble) va[k] - vb[k]);
      worst = MAX (worst, d);
      fail_unless (d <= 1e-6, "%s[%" G_GINT64_FORMAT "]: %.9g vs %.9g",
          ta->name, k, va[k], vb[k]);
    }
    g_free (va);
    g_free (vb);
    compared++;
  }
  g_print ("etptrain resume: %u tensors (weights, BN stats, Adam moments) "
      "identical within %.3g\n", compared, worst);
  fail_unless (compared > 100);
  fail_unless (etp_safetensors_get (a, "optim.step") != NULL
      || etp_safetensors_get_metadata (a, "train_steps_done") != NULL);
  fail_unless_equals_string (etp_safetensors_get_metadata (b,
          "train_epochs_done"), "2");
  fail_unless_equals_string (etp_safetensors_get_metadata (b,
          "train_steps_done"), "6");
  etp_safetensors_free (a);
  etp_safetensors_free (b);

  train_result_clear (&ra);
  train_result_clear (&rb);
  train_result_clear (&rb2);
  g_unlink (ck_a);
  g_unlink (ck_b);
  g_unlink (ck_b2);
  g_free (ck_a);
  g_free (ck_b);
  g_free (ck_b2);
  rm_dir (dir);
}

GST_END_TEST;

static Suite *
etptrain_fit_suite (void)
{
  Suite *s = suite_create ("etptrain-fit");
  TCase *tc = tcase_create ("fit");

  tcase_set_timeout (tc, 300);
  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_loss_falls_and_every_parameter_moves);
  tcase_add_test (tc, test_resume_matches_uninterrupted);
  return s;
}

GST_CHECK_MAIN (etptrain_fit);
