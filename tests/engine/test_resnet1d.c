/* ResNet18-1D against PyTorch (tests/engine/golden_resnet/make_golden.py):
 * a torch-written checkpoint is loaded, then eval features / embeddings,
 * the training loss, every parameter's gradient, the updated running stats
 * and the parameters after one Adam step are compared with float64 PyTorch. */
#include "config.h"

#include <math.h>
#include <string.h>

#include <glib.h>

#include "engine/engine.h"
#include "nets/checkpoint.h"
#include "nets/resnet1d.h"
#include "nets/safetensors.h"

static gchar *
golden_path (const gchar * file)
{
  const gchar *root = g_getenv ("ETP_SOURCE_ROOT");
  return g_build_filename (root ? root : ETP_SOURCE_ROOT, "tests", "engine",
      "golden_resnet", file, NULL);
}

static gfloat *
golden_f32 (EtpSafetensors * st, const gchar * name, gsize * n)
{
  const EtpStTensor *t = etp_safetensors_get (st, name);
  gfloat *v;
  if (!t)
    g_error ("golden tensor %s missing", name);
  v = g_new (gfloat, MAX (t->numel, 1));
  etp_st_tensor_to_f32 (t, v);
  if (n)
    *n = t->numel;
  return v;
}

/* max |got - want| / max |want|; logs the worst element */
static gdouble
rel_err (const gchar * what, const gfloat * got, const gfloat * want, gsize n)
{
  gdouble maxref = 0, maxd = 0;
  gsize worst = 0;
  for (gsize i = 0; i < n; i++)
    maxref = MAX (maxref, fabs (want[i]));
  for (gsize i = 0; i < n; i++) {
    gdouble d = fabs ((gdouble) got[i] - want[i]);
    if (d > maxd || isnan (got[i])) {
      maxd = isnan (got[i]) ? INFINITY : d;
      worst = i;
    }
  }
  if (maxref < 1e-30)
    maxref = 1e-30;
  g_test_message ("%-44s n=%-6" G_GSIZE_FORMAT " rel err %.3g (worst [%"
      G_GSIZE_FORMAT "] got %.7g want %.7g)", what, n, maxd / maxref, worst,
      n ? got[worst] : 0.0f, n ? want[worst] : 0.0f);
  return maxd / maxref;
}

static EtpBackend *
cpu_backend (void)
{
  GError *err = NULL;
  EtpBackend *be = etp_backend_new (ETP_DEVICE_CPU, 2, &err);
  g_assert_no_error (err);
  return be;
}

static void
run_case (gconstpointer data)
{
  const gchar *name = data;
  gchar *mfile = g_strdup_printf ("model_%s.safetensors", name);
  gchar *gfile = g_strdup_printf ("golden_%s.safetensors", name);
  gchar *mpath = golden_path (mfile), *gpath = golden_path (gfile);
  GError *err = NULL;
  EtpBackend *be = cpu_backend ();
  EtpResnet1d *m;
  EtpSafetensors *gold;
  const EtpStTensor *xt;
  const EtpResnet1dConfig *cfg;
  gfloat *x, *x2 = NULL, *text, *want, *got, *loss;
  guint B, L;
  gsize n;
  EtpTrainResult res;

  m = etp_checkpoint_load (mpath, be, &err);
  g_assert_no_error (err);
  gold = etp_safetensors_open (gpath, &err);
  g_assert_no_error (err);
  cfg = etp_resnet1d_get_config (m);
  g_assert_cmpuint (cfg->width, ==, 8);
  g_assert_cmpuint (cfg->sample_rate, ==, 100);

  xt = etp_safetensors_get (gold, "x");
  B = xt->shape[0];
  L = xt->shape[2];
  g_assert_cmpuint (L, ==, cfg->length);
  x = golden_f32 (gold, "x", NULL);
  text = golden_f32 (gold, "text", NULL);
  if (etp_safetensors_get (gold, "x2"))
    x2 = golden_f32 (gold, "x2", NULL);
  etp_resnet1d_train_params (m)->ssl_weight =
      g_ascii_strtod (etp_safetensors_get_metadata (gold, "ssl_weight"), NULL);

  /* eval */
  got = g_new (gfloat, (gsize) B * 1024);
  g_assert_true (etp_resnet1d_forward_eval (m, B, L, x, got, NULL, &err));
  g_assert_no_error (err);
  want = golden_f32 (gold, "eval.features", &n);
  g_assert_cmpfloat (rel_err ("eval.features", got, want, n), <, 1e-4);
  g_free (want);
  g_assert_true (etp_resnet1d_forward_eval (m, B, L, x, NULL, got, &err));
  want = golden_f32 (gold, "eval.embeddings", &n);
  g_assert_cmpfloat (rel_err ("eval.embeddings", got, want, n), <, 1e-4);
  g_free (want);
  g_assert_true (etp_resnet1d_project_text (m, B, text, got, &err));
  want = golden_f32 (gold, "eval.text_embeddings", &n);
  g_assert_cmpfloat (rel_err ("eval.text_embeddings", got, want, n), <, 1e-4);
  g_free (want);
  g_free (got);

  /* one training step */
  g_assert_true (etp_resnet1d_forward_backward (m, B, L, x, x2, text, &res,
          &err));
  g_assert_no_error (err);
  loss = golden_f32 (gold, "train.loss", NULL);
  g_test_message ("loss %.7f want %.7f (text %.7f / %.7f, ssl %.7f / %.7f)",
      res.loss, loss[0], res.loss_text, loss[1], res.loss_ssl, loss[2]);
  g_assert_cmpfloat (fabs (res.loss - loss[0]), <, 1e-4 * fabs (loss[0]));
  g_assert_cmpfloat (fabs (res.loss_text - loss[1]), <, 1e-4 * fabs (loss[1]));
  g_assert_cmpfloat (fabs (res.loss_ssl - loss[2]), <=,
      1e-4 * fabs (loss[2]));
  g_free (loss);

  for (guint i = 0; i < etp_resnet1d_n_tensors (m); i++) {
    const EtpTensorInfo *info = etp_resnet1d_tensor_info (m, i);
    gchar *gn;
    gdouble e;
    if (info->kind != ETP_TENSOR_PARAM)
      continue;
    gn = g_strconcat ("grad.", info->name, NULL);
    want = golden_f32 (gold, gn, &n);
    g_assert_cmpuint (n, ==, info->numel);
    got = g_new (gfloat, MAX (n, 1));
    etp_resnet1d_read_tensor (m, i, ETP_SLOT_GRAD, got);
    e = rel_err (gn, got, want, n);
    /* the gradients are reductions over the whole batch and length (the
     * issue allows 1e-3 there); measured: < 3e-6 */
    if (e >= 1e-4)
      g_error ("%s: relative error %.3g", gn, e);
    g_free (gn);
    g_free (want);
    g_free (got);
  }

  g_assert_true (etp_resnet1d_optimizer_step (m, &err));
  g_assert_no_error (err);
  g_assert_cmpint (etp_resnet1d_get_step (m), ==, 1);
  for (guint i = 0; i < etp_resnet1d_n_tensors (m); i++) {
    const EtpTensorInfo *info = etp_resnet1d_tensor_info (m, i);
    gchar *gn = g_strconcat ("after.", info->name, NULL);
    gdouble e;
    if (info->kind == ETP_TENSOR_COUNTER) {
      g_assert_cmpint (etp_resnet1d_get_counter (m, i), ==,
          etp_st_tensor_get_i64 (etp_safetensors_get (gold, gn)));
      g_free (gn);
      continue;
    }
    want = golden_f32 (gold, gn, &n);
    got = g_new (gfloat, MAX (n, 1));
    etp_resnet1d_read_tensor (m, i, ETP_SLOT_VALUE, got);
    e = rel_err (gn, got, want, n);
    if (e >= 1e-4)
      g_error ("%s: relative error %.3g", gn, e);
    g_free (gn);
    g_free (want);
    g_free (got);
  }

  g_free (x);
  g_free (x2);
  g_free (text);
  etp_safetensors_free (gold);
  etp_resnet1d_free (m);
  etp_backend_free (be);
  g_free (mfile);
  g_free (gfile);
  g_free (mpath);
  g_free (gpath);
}

/* Same model and input: a batch gives the same features as one ECG at a
 * time, and repeated calls are deterministic. */
static void
test_batch_invariance (void)
{
  GError *err = NULL;
  EtpBackend *be = cpu_backend ();
  EtpResnet1dConfig cfg;
  EtpResnet1d *m;
  guint B = 3, L = 301;
  gfloat *x = g_new (gfloat, (gsize) B * 12 * L);
  gfloat *fb = g_new (gfloat, B * 64), *f1 = g_new (gfloat, 64);
  GRand *r = g_rand_new_with_seed (5);

  etp_resnet1d_config_init (&cfg);
  cfg.width = 8;
  cfg.embed_dim = 16;
  cfg.text_dim = 10;
  m = etp_resnet1d_new (be, &cfg, 42, &err);
  g_assert_no_error (err);
  for (gsize i = 0; i < (gsize) B * 12 * L; i++)
    x[i] = (gfloat) g_rand_double_range (r, -1, 1);
  g_assert_true (etp_resnet1d_forward_eval (m, B, L, x, fb, NULL, &err));
  for (guint b = 0; b < B; b++) {
    g_assert_true (etp_resnet1d_forward_eval (m, 1, L, x + (gsize) b * 12 * L,
            f1, NULL, &err));
    g_assert_cmpfloat (rel_err ("batch vs single", f1, fb + b * 64, 64), <,
        1e-5);
  }
  /* the same seed gives the same model */
  {
    EtpResnet1d *m2 = etp_resnet1d_new (be, &cfg, 42, &err);
    gfloat *f2 = g_new (gfloat, B * 64);
    g_assert_true (etp_resnet1d_forward_eval (m2, B, L, x, f2, NULL, &err));
    g_assert_cmpint (memcmp (f2, fb, B * 64 * sizeof (gfloat)), ==, 0);
    g_free (f2);
    etp_resnet1d_free (m2);
  }
  g_assert_cmpfloat (etp_resnet1d_macs (m, 5000), >, 0);
  g_rand_free (r);
  g_free (x);
  g_free (fb);
  g_free (f1);
  etp_resnet1d_free (m);
  etp_backend_free (be);
}

/* The full-size model: 1.7 GMAC per ECG at L = 5000 (DESIGN.md), a short
 * training run lowers the loss on a fixed batch. */
static void
test_full_size_and_learning (void)
{
  GError *err = NULL;
  EtpBackend *be = cpu_backend ();
  EtpResnet1dConfig cfg;
  EtpResnet1d *m;
  guint B = 4, L = 128;
  gfloat *x = g_new (gfloat, (gsize) B * 12 * L), *text;
  GRand *r = g_rand_new_with_seed (9);
  EtpTrainResult r0, rl;
  gdouble macs;

  etp_resnet1d_config_init (&cfg);
  m = etp_resnet1d_new (be, &cfg, 1, &err);
  g_assert_no_error (err);
  macs = etp_resnet1d_macs (m, 5000);
  g_test_message ("GMAC per ECG at L=5000: %.3f", macs / 1e9);
  g_assert_cmpfloat (macs, >, 1.6e9);
  g_assert_cmpfloat (macs, <, 1.8e9);
  etp_resnet1d_free (m);

  cfg.width = 8;
  cfg.embed_dim = 16;
  cfg.text_dim = 12;
  m = etp_resnet1d_new (be, &cfg, 3, &err);
  text = g_new (gfloat, B * cfg.text_dim);
  for (gsize i = 0; i < (gsize) B * 12 * L; i++)
    x[i] = (gfloat) g_rand_double_range (r, -1, 1);
  for (gsize i = 0; i < B * cfg.text_dim; i++)
    text[i] = (gfloat) g_rand_double_range (r, -1, 1);
  g_assert_true (etp_resnet1d_train_step (m, B, L, x, NULL, text, &r0, &err));
  g_assert_no_error (err);
  for (gint s = 0; s < 15; s++)
    g_assert_true (etp_resnet1d_train_step (m, B, L, x, NULL, text, &rl,
            &err));
  g_test_message ("loss %.4f -> %.4f after 16 steps", r0.loss, rl.loss);
  g_assert_cmpint (rl.step, ==, 16);
  g_assert_cmpfloat (rl.loss, <, 0.5 * r0.loss);
  g_rand_free (r);
  g_free (x);
  g_free (text);
  etp_resnet1d_free (m);
  etp_backend_free (be);
}

/* bfloat16 inference: the same features as float32 within 1e-2 relative
 * (bf16 keeps 8 bits of mantissa; accumulation stays float32). */
static void
test_bf16_inference (void)
{
  gchar *mpath = golden_path ("model_a.safetensors");
  gchar *gpath = golden_path ("golden_a.safetensors");
  GError *err = NULL;
  EtpBackend *be = cpu_backend ();
  EtpResnet1d *m = etp_checkpoint_load (mpath, be, &err);
  EtpSafetensors *gold = etp_safetensors_open (gpath, &err);
  const EtpStTensor *xt = etp_safetensors_get (gold, "x");
  gfloat *x = golden_f32 (gold, "x", NULL), *want, *got;
  gsize n;
  gdouble e;

  g_assert_no_error (err);
  g_assert_true (etp_resnet1d_set_precision (m, ETP_PRECISION_BF16, &err));
  g_assert_cmpint (etp_resnet1d_get_precision (m), ==, ETP_PRECISION_BF16);
  want = golden_f32 (gold, "eval.features", &n);
  got = g_new (gfloat, n);
  g_assert_true (etp_resnet1d_forward_eval (m, xt->shape[0], xt->shape[2], x,
          got, NULL, &err));
  g_assert_no_error (err);
  e = rel_err ("bf16 eval.features", got, want, n);
  g_test_message ("bf16 vs float64 PyTorch: %.3g (native bf16: %s)", e,
      etp_backend_supports (be, ETP_FEATURE_BF16_NATIVE) ? "yes" : "no");
  g_assert_cmpfloat (e, <, 1e-2);
  g_assert_cmpfloat (e, >, 0);  /* really ran in bf16 */
  /* back to float32 */
  g_assert_true (etp_resnet1d_set_precision (m, ETP_PRECISION_FP32, &err));
  g_assert_true (etp_resnet1d_forward_eval (m, xt->shape[0], xt->shape[2], x,
          got, NULL, &err));
  g_assert_cmpfloat (rel_err ("fp32 again", got, want, n), <, 1e-4);
  g_free (want);
  g_free (got);
  g_free (x);
  etp_safetensors_free (gold);
  etp_resnet1d_free (m);
  etp_backend_free (be);
  g_free (mpath);
  g_free (gpath);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_data_func ("/resnet1d/golden/a-B3-L257", "a", run_case);
  g_test_add_data_func ("/resnet1d/golden/b-B2-L250-two-views", "b",
      run_case);
  g_test_add_func ("/resnet1d/batch-invariance", test_batch_invariance);
  g_test_add_func ("/resnet1d/bf16-inference", test_bf16_inference);
  g_test_add_func ("/resnet1d/full-size-and-learning",
      test_full_size_and_learning);
  return g_test_run ();
}
