/* safetensors reader/writer and ResNet18-1D checkpoints: round trips in
 * float32/16/bf16, optimiser state for resume, rejection of missing / extra /
 * mis-shaped tensors with the tensor's name in the message. */
#include "config.h"

#include <math.h>
#include <string.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "engine/engine.h"
#include "nets/checkpoint.h"
#include "nets/resnet1d.h"
#include "nets/safetensors.h"
#include "util/etperror.h"

static gchar *tmpdir;

static EtpBackend *
cpu_backend (void)
{
  GError *err = NULL;
  EtpBackend *be = etp_backend_new (ETP_DEVICE_CPU, 2, &err);
  g_assert_no_error (err);
  return be;
}

static void
small_config (EtpResnet1dConfig * cfg)
{
  etp_resnet1d_config_init (cfg);
  cfg->width = 4;
  cfg->embed_dim = 8;
  cfg->text_dim = 6;
  cfg->sample_rate = 100;
  cfg->length = 200;
}

static void
test_half_conversions (void)
{
  const gfloat vals[] = { 0.0f, 1.0f, -2.5f, 65504.0f, 6.1035156e-05f,
    5.9604645e-08f, 0.1f, 3.14159f
  };
  const guint16 f16[] = { 0x0000, 0x3c00, 0xc100, 0x7bff, 0x0400, 0x0001,
    0x2e66, 0x4248
  };
  for (guint i = 0; i < G_N_ELEMENTS (vals); i++) {
    g_assert_cmphex (etp_f32_to_f16 (vals[i]), ==, f16[i]);
    g_assert_cmpfloat (fabsf (etp_f16_to_f32 (f16[i]) - vals[i]), <=,
        fabsf (vals[i]) * 1e-3f);
  }
  g_assert_true (isinf (etp_f16_to_f32 (etp_f32_to_f16 (1e6f))));
  g_assert_true (isnan (etp_f16_to_f32 (etp_f32_to_f16 (NAN))));
  g_assert_cmphex (etp_f32_to_bf16 (1.0f), ==, 0x3f80);
  g_assert_cmphex (etp_f32_to_bf16 (-2.0f), ==, 0xc000);
  /* 1 + 2^-8 is halfway between two bf16 values: round to even (1.0) */
  g_assert_cmphex (etp_f32_to_bf16 (1.00390625f), ==, 0x3f80);
  g_assert_cmpfloat (etp_bf16_to_f32 (0x4049), ==, 3.140625f);
}

static void
test_safetensors_roundtrip (void)
{
  gchar *path = g_build_filename (tmpdir, "rt.safetensors", NULL);
  gfloat a[6] = { 1, -2, 3.5f, 0.25f, 1e-3f, 7 };
  gint64 sa[2] = { 2, 3 };
  gfloat back[6];
  GError *err = NULL;
  EtpSafetensorsWriter *w = etp_safetensors_writer_new ();
  EtpSafetensors *st;
  const EtpStTensor *t;

  etp_safetensors_writer_add_f32 (w, "a", 2, sa, a, ETP_ST_F32);
  etp_safetensors_writer_add_f32 (w, "a16", 2, sa, a, ETP_ST_F16);
  etp_safetensors_writer_add_f32 (w, "abf", 2, sa, a, ETP_ST_BF16);
  etp_safetensors_writer_add_i64_scalar (w, "count", 123456789012LL);
  etp_safetensors_writer_set_metadata (w, "hello", "wörld \"quoted\"");
  g_assert_true (etp_safetensors_writer_write (w, path, &err));
  g_assert_no_error (err);
  etp_safetensors_writer_free (w);

  st = etp_safetensors_open (path, &err);
  g_assert_no_error (err);
  g_assert_cmpuint (etp_safetensors_n_tensors (st), ==, 4);
  g_assert_cmpstr (etp_safetensors_get_metadata (st, "hello"), ==,
      "wörld \"quoted\"");
  t = etp_safetensors_get (st, "a");
  g_assert_cmpint (t->dtype, ==, ETP_ST_F32);
  g_assert_cmpuint (t->ndim, ==, 2);
  g_assert_cmpint (t->shape[1], ==, 3);
  etp_st_tensor_to_f32 (t, back);
  g_assert_cmpmem (back, sizeof back, a, sizeof a);
  t = etp_safetensors_get (st, "a16");
  g_assert_cmpint (t->dtype, ==, ETP_ST_F16);
  etp_st_tensor_to_f32 (t, back);
  for (int i = 0; i < 6; i++)
    g_assert_cmpfloat (fabsf (back[i] - a[i]), <=, fabsf (a[i]) * 1e-3f);
  t = etp_safetensors_get (st, "abf");
  etp_st_tensor_to_f32 (t, back);
  for (int i = 0; i < 6; i++)
    g_assert_cmpfloat (fabsf (back[i] - a[i]), <=, fabsf (a[i]) * 8e-3f);
  t = etp_safetensors_get (st, "count");
  g_assert_cmpuint (t->ndim, ==, 0);
  g_assert_cmpint (etp_st_tensor_get_i64 (t), ==, 123456789012LL);
  etp_safetensors_free (st);

  /* no temporary file is left behind */
  {
    GDir *d = g_dir_open (tmpdir, 0, NULL);
    const gchar *e;
    while ((e = g_dir_read_name (d)))
      g_assert_null (strstr (e, ".tmp-"));
    g_dir_close (d);
  }
  g_free (path);
}

static void
write_file (const gchar * path, const void *data, gsize n)
{
  g_assert_true (g_file_set_contents (path, data, n, NULL));
}

static void
test_safetensors_bad_files (void)
{
  gchar *path = g_build_filename (tmpdir, "bad.safetensors", NULL);
  GError *err = NULL;
  guint8 buf[256];
  const gchar *hdr = "{\"x\":{\"dtype\":\"F32\",\"shape\":[4],"
      "\"data_offsets\":[0,16]}}";
  gsize hl = strlen (hdr);

  g_assert_null (etp_safetensors_open ("/nonexistent/x.safetensors", &err));
  g_assert_error (err, ETP_ERROR, ETP_ERROR_MISSING);
  g_clear_error (&err);

  write_file (path, "abc", 3);
  g_assert_null (etp_safetensors_open (path, &err));
  g_assert_error (err, ETP_ERROR, ETP_ERROR_FORMAT);
  g_clear_error (&err);

  /* header says 16 bytes of data, the file has 8 */
  memset (buf, 0, sizeof buf);
  buf[0] = (guint8) hl;
  memcpy (buf + 8, hdr, hl);
  write_file (path, buf, 8 + hl + 8);
  g_assert_null (etp_safetensors_open (path, &err));
  g_assert_error (err, ETP_ERROR, ETP_ERROR_FORMAT);
  g_assert_nonnull (strstr (err->message, "'x'"));
  g_clear_error (&err);
  write_file (path, buf, 8 + hl + 16);
  {
    EtpSafetensors *st = etp_safetensors_open (path, &err);
    g_assert_no_error (err);
    etp_safetensors_free (st);
  }

  /* header length beyond the file */
  buf[0] = 200;
  write_file (path, buf, 8 + hl + 16);
  g_assert_null (etp_safetensors_open (path, &err));
  g_assert_error (err, ETP_ERROR, ETP_ERROR_FORMAT);
  g_clear_error (&err);
  g_free (path);
}

static gboolean
models_equal (EtpResnet1d * a, EtpResnet1d * b, EtpTensorSlot slot,
    gdouble tol)
{
  for (guint i = 0; i < etp_resnet1d_n_tensors (a); i++) {
    const EtpTensorInfo *info = etp_resnet1d_tensor_info (a, i);
    gfloat *va = g_new (gfloat, MAX (info->numel, 1));
    gfloat *vb = g_new (gfloat, MAX (info->numel, 1));
    gboolean ok = TRUE;
    etp_resnet1d_read_tensor (a, i, slot, va);
    etp_resnet1d_read_tensor (b, i, slot, vb);
    for (gsize k = 0; k < MAX (info->numel, 1) && ok; k++)
      ok = fabs (va[k] - vb[k]) <= tol * MAX (1.0, fabs (va[k]));
    if (!ok)
      g_test_message ("tensor %s differs", info->name);
    g_free (va);
    g_free (vb);
    if (!ok)
      return FALSE;
  }
  return TRUE;
}

static void
random_batch (GRand * r, gfloat * x, gsize nx, gfloat * t, gsize nt)
{
  for (gsize i = 0; i < nx; i++)
    x[i] = (gfloat) g_rand_double_range (r, -1, 1);
  for (gsize i = 0; i < nt; i++)
    t[i] = (gfloat) g_rand_double_range (r, -1, 1);
}

static void
test_checkpoint_roundtrip (void)
{
  EtpBackend *be = cpu_backend ();
  EtpResnet1dConfig cfg;
  EtpResnet1d *m, *m2;
  GError *err = NULL;
  gchar *path = g_build_filename (tmpdir, "m.safetensors", NULL);
  const gchar *extra[] = { "epoch", "3", "data", "ptbxl folds 1-8", NULL };
  EtpCheckpointSaveOptions opts = { ETP_ST_F32, FALSE, extra };
  const EtpStDtype storages[] = { ETP_ST_F32, ETP_ST_F16, ETP_ST_BF16 };
  const gdouble tols[] = { 0, 1e-3, 8e-3 };
  GRand *r = g_rand_new_with_seed (1);
  gfloat x[2 * 12 * 64], t[2 * 6];
  EtpSafetensors *st;

  small_config (&cfg);
  m = etp_resnet1d_new (be, &cfg, 7, &err);
  g_assert_no_error (err);
  /* non-trivial running stats and counters */
  random_batch (r, x, G_N_ELEMENTS (x), t, G_N_ELEMENTS (t));
  g_assert_true (etp_resnet1d_train_step (m, 2, 64, x, NULL, t, NULL, &err));
  g_assert_no_error (err);

  for (guint s = 0; s < G_N_ELEMENTS (storages); s++) {
    opts.storage = storages[s];
    g_assert_true (etp_checkpoint_save (m, path, &opts, &err));
    g_assert_no_error (err);
    m2 = etp_checkpoint_load (path, be, &err);
    g_assert_no_error (err);
    g_assert_cmpuint (etp_resnet1d_get_config (m2)->width, ==, 4);
    g_assert_cmpuint (etp_resnet1d_get_config (m2)->sample_rate, ==, 100);
    g_assert_cmpuint (etp_resnet1d_get_config (m2)->length, ==, 200);
    g_assert_cmpuint (etp_resnet1d_get_config (m2)->text_dim, ==, 6);
    g_assert_true (models_equal (m, m2, ETP_SLOT_VALUE, tols[s]));
    for (guint i = 0; i < etp_resnet1d_n_tensors (m); i++)
      g_assert_cmpint (etp_resnet1d_get_counter (m, i), ==,
          etp_resnet1d_get_counter (m2, i));
    etp_resnet1d_free (m2);
  }
  st = etp_safetensors_open (path, &err);
  g_assert_no_error (err);
  g_assert_cmpstr (etp_safetensors_get_metadata (st, "format"), ==, "etp-1");
  g_assert_cmpstr (etp_safetensors_get_metadata (st, "model"), ==,
      "resnet18-1d");
  g_assert_cmpstr (etp_safetensors_get_metadata (st, "epoch"), ==, "3");
  g_assert_cmpstr (etp_safetensors_get_metadata (st, "leads"), ==, "12");
  g_assert_cmpint (etp_safetensors_get (st,
          "layer2.0.downsample.1.num_batches_tracked")->dtype, ==, ETP_ST_I64);
  g_assert_cmpint (etp_safetensors_get (st, "conv1.weight")->dtype, ==,
      ETP_ST_BF16);
  g_assert_null (etp_safetensors_get (st, "optim.step"));
  etp_safetensors_free (st);

  g_rand_free (r);
  etp_resnet1d_free (m);
  etp_backend_free (be);
  g_free (path);
}

/* Save with the optimiser state after 2 steps, resume into a fresh model,
 * take 2 more steps on both: identical parameters. */
static void
test_checkpoint_resume (void)
{
  EtpBackend *be = cpu_backend ();
  EtpResnet1dConfig cfg;
  EtpResnet1d *m, *m2;
  GError *err = NULL;
  gchar *path = g_build_filename (tmpdir, "resume.safetensors", NULL);
  EtpCheckpointSaveOptions opts = { ETP_ST_F32, TRUE, NULL };
  GRand *r = g_rand_new_with_seed (2);
  gfloat x[4][3 * 12 * 80], t[4][3 * 6];
  EtpSafetensors *st;

  small_config (&cfg);
  for (int i = 0; i < 4; i++)
    random_batch (r, x[i], G_N_ELEMENTS (x[i]), t[i], G_N_ELEMENTS (t[i]));
  m = etp_resnet1d_new (be, &cfg, 11, &err);
  for (int i = 0; i < 2; i++)
    g_assert_true (etp_resnet1d_train_step (m, 3, 80, x[i], NULL, t[i], NULL,
            &err));
  g_assert_true (etp_checkpoint_save (m, path, &opts, &err));
  g_assert_no_error (err);

  m2 = etp_resnet1d_new (be, &cfg, 999, &err);
  st = etp_safetensors_open (path, &err);
  g_assert_no_error (err);
  g_assert_nonnull (etp_safetensors_get (st, "optim.conv1.weight.exp_avg_sq"));
  g_assert_true (etp_checkpoint_load_into (m2, st, TRUE, &err));
  g_assert_no_error (err);
  etp_safetensors_free (st);
  g_assert_cmpint (etp_resnet1d_get_step (m2), ==, 2);
  g_assert_true (models_equal (m, m2, ETP_SLOT_ADAM_V, 0));
  for (int i = 2; i < 4; i++) {
    g_assert_true (etp_resnet1d_train_step (m, 3, 80, x[i], NULL, t[i], NULL,
            &err));
    g_assert_true (etp_resnet1d_train_step (m2, 3, 80, x[i], NULL, t[i], NULL,
            &err));
  }
  g_assert_true (models_equal (m, m2, ETP_SLOT_VALUE, 0));
  g_assert_cmpint (etp_resnet1d_get_step (m2), ==, 4);

  /* a plain (model only) load of the same file ignores optim.* */
  etp_resnet1d_free (m2);
  m2 = etp_checkpoint_load (path, be, &err);
  g_assert_no_error (err);
  etp_resnet1d_free (m2);

  /* resume from a file without optimiser state is refused */
  opts.with_optimizer = FALSE;
  g_assert_true (etp_checkpoint_save (m, path, &opts, &err));
  st = etp_safetensors_open (path, &err);
  m2 = etp_resnet1d_new (be, &cfg, 1, &err);
  g_assert_false (etp_checkpoint_load_into (m2, st, TRUE, &err));
  g_assert_error (err, ETP_ERROR, ETP_ERROR_MISSING);
  g_assert_nonnull (strstr (err->message, "optim."));
  g_clear_error (&err);
  etp_safetensors_free (st);
  etp_resnet1d_free (m2);

  g_rand_free (r);
  etp_resnet1d_free (m);
  etp_backend_free (be);
  g_free (path);
}

/* Writes the model's tensors with one change, loads, expects an error
 * naming @name. mode 0: drop @name; 1: add @name; 2: wrong shape. */
static void
expect_rejected (EtpResnet1d * m, EtpBackend * be, const gchar * name,
    int mode)
{
  gchar *path = g_build_filename (tmpdir, "rej.safetensors", NULL);
  EtpSafetensorsWriter *w = etp_safetensors_writer_new ();
  GPtrArray *hold = g_ptr_array_new_with_free_func (g_free);
  GError *err = NULL;
  gfloat extra[4] = { 0 };
  gint64 one = 4;

  for (guint i = 0; i < etp_resnet1d_n_tensors (m); i++) {
    const EtpTensorInfo *info = etp_resnet1d_tensor_info (m, i);
    gfloat *v = g_new (gfloat, MAX (info->numel, 1));
    gint64 shape[3];
    if (mode == 0 && strcmp (info->name, name) == 0) {
      g_free (v);
      continue;
    }
    etp_resnet1d_read_tensor (m, i, ETP_SLOT_VALUE, v);
    g_ptr_array_add (hold, v);
    memcpy (shape, info->shape, sizeof shape);
    if (mode == 2 && strcmp (info->name, name) == 0)
      shape[info->ndim - 1] -= 1;   /* fewer elements: fits the data */
    if (info->kind == ETP_TENSOR_COUNTER)
      etp_safetensors_writer_add_i64_scalar (w, info->name, 0);
    else
      etp_safetensors_writer_add_f32 (w, info->name, info->ndim, shape, v,
          ETP_ST_F32);
  }
  if (mode == 1)
    etp_safetensors_writer_add_f32 (w, name, 1, &one, extra, ETP_ST_F32);
  g_assert_true (etp_safetensors_writer_write (w, path, &err));
  etp_safetensors_writer_free (w);
  g_ptr_array_unref (hold);

  g_assert_null (etp_checkpoint_load (path, be, &err));
  g_assert_nonnull (err);
  g_test_message ("rejected: %s", err->message);
  g_assert_nonnull (strstr (err->message, name));
  g_clear_error (&err);
  g_free (path);
}

static void
test_checkpoint_reject (void)
{
  EtpBackend *be = cpu_backend ();
  EtpResnet1dConfig cfg;
  EtpResnet1d *m;
  GError *err = NULL;

  small_config (&cfg);
  m = etp_resnet1d_new (be, &cfg, 3, &err);
  expect_rejected (m, be, "layer3.1.bn2.running_var", 0);
  expect_rejected (m, be, "layer2.0.downsample.0.weight", 0);
  expect_rejected (m, be, "logit_scale", 0);
  expect_rejected (m, be, "fc.weight", 1);
  expect_rejected (m, be, "layer4.1.conv2.weight", 2);
  expect_rejected (m, be, "text_proj.bias", 2);
  expect_rejected (m, be, "ecg_proj.weight", 2);
  etp_resnet1d_free (m);
  etp_backend_free (be);
}

/* A gst-etp-written checkpoint for the PyTorch side to load strictly:
 * $ETP_CKPT_EXPORT_DIR/c_written.safetensors plus the features of golden
 * case a's input, checked by make_golden.py --check. */
static void
test_export_for_torch (void)
{
  const gchar *dir = g_getenv ("ETP_CKPT_EXPORT_DIR");
  const gchar *root = g_getenv ("ETP_SOURCE_ROOT");
  gchar *mpath, *gpath, *out, *fout;
  EtpBackend *be;
  EtpResnet1d *m;
  EtpSafetensors *gold;
  GError *err = NULL;
  const EtpStTensor *xt;
  gfloat *x, *text, *feat;
  EtpCheckpointSaveOptions opts = { ETP_ST_F32, TRUE, NULL };

  if (!dir) {
    g_test_skip ("set ETP_CKPT_EXPORT_DIR to write a checkpoint for "
        "make_golden.py --check");
    return;
  }
  mpath = g_build_filename (root ? root : ETP_SOURCE_ROOT, "tests", "engine",
      "golden_resnet", "model_a.safetensors", NULL);
  gpath = g_build_filename (root ? root : ETP_SOURCE_ROOT, "tests", "engine",
      "golden_resnet", "golden_a.safetensors", NULL);
  be = cpu_backend ();
  m = etp_checkpoint_load (mpath, be, &err);
  g_assert_no_error (err);
  gold = etp_safetensors_open (gpath, &err);
  g_assert_no_error (err);
  xt = etp_safetensors_get (gold, "x");
  x = g_new (gfloat, xt->numel);
  etp_st_tensor_to_f32 (xt, x);
  text = g_new (gfloat, etp_safetensors_get (gold, "text")->numel);
  etp_st_tensor_to_f32 (etp_safetensors_get (gold, "text"), text);
  /* one step so the file differs from the torch-written one */
  g_assert_true (etp_resnet1d_train_step (m, xt->shape[0], xt->shape[2], x,
          NULL, text, NULL, &err));
  feat = g_new (gfloat, xt->shape[0] * 64);
  g_assert_true (etp_resnet1d_forward_eval (m, xt->shape[0], xt->shape[2], x,
          feat, NULL, &err));
  out = g_build_filename (dir, "c_written.safetensors", NULL);
  fout = g_build_filename (dir, "c_written_features.bin", NULL);
  g_assert_true (etp_checkpoint_save (m, out, &opts, &err));
  g_assert_true (g_file_set_contents (fout, (const gchar *) feat,
          xt->shape[0] * 64 * sizeof (gfloat), NULL));
  g_test_message ("wrote %s and %s", out, fout);
  g_free (feat);
  g_free (x);
  g_free (text);
  g_free (out);
  g_free (fout);
  g_free (mpath);
  g_free (gpath);
  etp_safetensors_free (gold);
  etp_resnet1d_free (m);
  etp_backend_free (be);
}

int
main (int argc, char **argv)
{
  int ret;
  g_test_init (&argc, &argv, NULL);
  tmpdir = g_dir_make_tmp ("etp-ckpt-XXXXXX", NULL);
  g_assert_nonnull (tmpdir);
  g_test_add_func ("/safetensors/half-conversions", test_half_conversions);
  g_test_add_func ("/safetensors/roundtrip", test_safetensors_roundtrip);
  g_test_add_func ("/safetensors/bad-files", test_safetensors_bad_files);
  g_test_add_func ("/checkpoint/roundtrip", test_checkpoint_roundtrip);
  g_test_add_func ("/checkpoint/resume", test_checkpoint_resume);
  g_test_add_func ("/checkpoint/reject", test_checkpoint_reject);
  g_test_add_func ("/checkpoint/export-for-torch", test_export_for_torch);
  ret = g_test_run ();
  {
    GDir *d = g_dir_open (tmpdir, 0, NULL);
    const gchar *e;
    while (d && (e = g_dir_read_name (d))) {
      gchar *p = g_build_filename (tmpdir, e, NULL);
      g_unlink (p);
      g_free (p);
    }
    if (d)
      g_dir_close (d);
    g_rmdir (tmpdir);
  }
  g_free (tmpdir);
  return ret;
}
