/* BERT forward vs PyTorch: the tiny random BERT of make_golden.py (HF names
 * with the `bert.` prefix, BF16 word embeddings, real cased vocab); last
 * hidden state, CLS, mean and pooler within 1e-4; padded and padding-free
 * paths agree; bad folders give errors naming the cause. */
#include "config.h"
#include "text/bert.h"
#include "text/textmodel.h"
#include "text/tokenizer.h"
#include "nets/safetensors.h"
#include "util/etperror.h"

#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <math.h>
#include <string.h>

#define TOL 1e-4

static gchar *
src (const gchar * name)
{
  const gchar *root = g_getenv ("ETP_SOURCE_ROOT");
  return g_build_filename (root ? root : ETP_SOURCE_ROOT, "tests", "text",
      name, NULL);
}

static void
assert_close (const gfloat * a, const gfloat * b, gsize n, const gchar * what)
{
  gsize i;
  gdouble worst = 0;
  for (i = 0; i < n; i++) {
    gdouble d = fabs ((gdouble) a[i] - b[i]);
    if (d > worst)
      worst = d;
    if (!(d <= TOL))
      g_error ("%s[%" G_GSIZE_FORMAT "]: %g vs golden %g", what, i, a[i], b[i]);
  }
  g_test_message ("%s: max abs diff %.3g", what, worst);
}

typedef struct {
  guint B, T, H;
  gint32 *ids, *mask;
  gfloat *blob;
  gchar **texts;
} Golden;

static void
golden_load (Golden * g)
{
  gchar *jp = src ("tinybert_golden.json"), *bp = src ("tinybert_golden.bin");
  JsonParser *p = json_parser_new ();
  GError *err = NULL;
  JsonObject *o;
  JsonArray *ids, *mask, *texts;
  gsize len;
  guint b, t;

  g_assert_true (json_parser_load_from_file (p, jp, &err));
  g_assert_no_error (err);
  o = json_node_get_object (json_parser_get_root (p));
  g->B = json_object_get_int_member (o, "batch");
  g->T = json_object_get_int_member (o, "seq_len");
  g->H = json_object_get_int_member (o, "hidden");
  ids = json_object_get_array_member (o, "ids");
  mask = json_object_get_array_member (o, "mask");
  texts = json_object_get_array_member (o, "texts");
  g->ids = g_new (gint32, g->B * g->T);
  g->mask = g_new (gint32, g->B * g->T);
  g->texts = g_new0 (gchar *, g->B + 1);
  for (b = 0; b < g->B; b++) {
    JsonArray *ri = json_array_get_array_element (ids, b);
    JsonArray *rm = json_array_get_array_element (mask, b);
    g->texts[b] = g_strdup (json_array_get_string_element (texts, b));
    for (t = 0; t < g->T; t++) {
      g->ids[b * g->T + t] = json_array_get_int_element (ri, t);
      g->mask[b * g->T + t] = json_array_get_int_element (rm, t);
    }
  }
  g_assert_true (g_file_get_contents (bp, (gchar **) & g->blob, &len, &err));
  g_assert_no_error (err);
  g_assert_cmpuint (len, ==, sizeof (gfloat) * (gsize) g->B * g->H * (g->T + 3));
  g_object_unref (p);
  g_free (jp);
  g_free (bp);
}

static void
golden_clear (Golden * g)
{
  g_free (g->ids);
  g_free (g->mask);
  g_free (g->blob);
  g_strfreev (g->texts);
}

static void
test_padded (void)
{
  gchar *dir = src ("tinybert");
  GError *err = NULL;
  EtpBert *m = etp_bert_new_from_dir (dir, &err);
  Golden g;
  gfloat *hidden, *cls, *mean, *pooler;
  const gfloat *gh, *gc, *gm, *gp;
  guint b, t;

  g_assert_no_error (err);
  g_assert_nonnull (m);
  g_assert_true (etp_bert_has_pooler (m));
  golden_load (&g);
  g_assert_cmpuint (etp_bert_get_config (m)->hidden, ==, g.H);
  hidden = g_new (gfloat, g.B * g.T * g.H);
  cls = g_new (gfloat, g.B * g.H);
  mean = g_new (gfloat, g.B * g.H);
  pooler = g_new (gfloat, g.B * g.H);
  g_assert_true (etp_bert_forward_padded (m, g.ids, g.mask, g.B, g.T, hidden,
          cls, mean, pooler, &err));
  g_assert_no_error (err);
  gh = g.blob;
  gc = gh + g.B * g.T * g.H;
  gm = gc + g.B * g.H;
  gp = gm + g.B * g.H;
  /* every position, padded ones included (PyTorch computes them too) */
  assert_close (hidden, gh, (gsize) g.B * g.T * g.H, "last_hidden_state");
  assert_close (cls, gc, g.B * g.H, "cls");
  assert_close (mean, gm, g.B * g.H, "mean");
  assert_close (pooler, gp, g.B * g.H, "pooler");

  /* single-threaded loops give the same numbers */
  etp_bert_set_threads (m, 1);
  g_assert_true (etp_bert_forward_padded (m, g.ids, g.mask, g.B, g.T, NULL,
          cls, NULL, NULL, &err));
  assert_close (cls, gc, g.B * g.H, "cls (1 thread)");

  /* padding-free: each sequence at its own length */
  {
    guint lens[16], n = 0;
    gint32 *packed = g_new (gint32, g.B * g.T);
    gfloat *out = g_new (gfloat, g.B * g.H);
    for (b = 0; b < g.B; b++) {
      lens[b] = 0;
      for (t = 0; t < g.T; t++)
        if (g.mask[b * g.T + t]) {
          packed[n++] = g.ids[b * g.T + t];
          lens[b]++;
        }
    }
    etp_bert_set_threads (m, 2);
    g_assert_true (etp_bert_forward_packed (m, packed, lens, g.B,
            ETP_BERT_POOL_CLS, out, &err));
    assert_close (out, gc, g.B * g.H, "packed cls");
    g_assert_true (etp_bert_forward_packed (m, packed, lens, g.B,
            ETP_BERT_POOL_MEAN, out, &err));
    assert_close (out, gm, g.B * g.H, "packed mean");
    g_assert_true (etp_bert_forward_packed (m, packed, lens, g.B,
            ETP_BERT_POOL_POOLER, out, &err));
    assert_close (out, gp, g.B * g.H, "packed pooler");
    g_free (packed);
    g_free (out);
  }
  g_free (hidden);
  g_free (cls);
  g_free (mean);
  g_free (pooler);
  golden_clear (&g);
  etp_bert_free (m);
  g_free (dir);
}

/* The whole text path: tokenizer from the folder + BERT + pooling. */
static void
test_textmodel (void)
{
  gchar *dir = src ("tinybert");
  EtpTextModelOptions o;
  GError *err = NULL;
  EtpTextModel *tm;
  Golden g;
  gfloat *out;
  const gfloat *gp;

  golden_load (&g);
  etp_text_model_options_init (&o);
  o.pooling = ETP_TEXT_POOL_POOLER;
  tm = etp_text_model_open (dir, &o, &err);
  g_assert_no_error (err);
  g_assert_true (etp_text_model_is_bert (tm));
  g_assert_false (etp_text_model_get_lowercase (tm));   /* tokenizer_config.json */
  g_assert_cmpuint (etp_text_model_dim (tm), ==, g.H);
  out = g_new (gfloat, g.B * g.H);
  g_assert_true (etp_text_model_encode (tm, (const gchar * const *) g.texts,
          g.B, out, NULL, &err));
  g_assert_no_error (err);
  gp = g.blob + g.B * g.T * g.H + 2 * g.B * g.H;
  assert_close (out, gp, g.B * g.H, "textmodel pooler");
  /* invalid UTF-8 names the text */
  {
    const gchar *bad[] = { "fine", "bad \xc3\x28" };
    g_assert_false (etp_text_model_encode (tm, bad, 2, out, NULL, &err));
    g_assert_error (err, ETP_ERROR, ETP_ERROR_INVALID);
    g_assert_nonnull (strstr (err->message, "text 1"));
    g_clear_error (&err);
  }
  etp_text_model_free (tm);
  /* sif is not a BERT pooling */
  o.pooling = ETP_TEXT_POOL_SIF;
  g_assert_null (etp_text_model_open (dir, &o, &err));
  g_assert_error (err, ETP_ERROR, ETP_ERROR_INVALID);
  g_clear_error (&err);
  g_free (out);
  golden_clear (&g);
  g_free (dir);
}

static gchar *
copy_folder (const gchar * tmp, gboolean with_weights)
{
  gchar *from = src ("tinybert");
  const gchar *files[] = { "config.json", "vocab.txt", "model.safetensors",
    "tokenizer_config.json" };
  guint i;
  for (i = 0; i < G_N_ELEMENTS (files); i++) {
    gchar *a, *b, *data = NULL;
    gsize len;
    if (!with_weights && i == 2)
      continue;
    a = g_build_filename (from, files[i], NULL);
    b = g_build_filename (tmp, files[i], NULL);
    g_assert_true (g_file_get_contents (a, &data, &len, NULL));
    g_assert_true (g_file_set_contents (b, data, len, NULL));
    g_free (data);
    g_free (a);
    g_free (b);
  }
  g_free (from);
  return g_strdup (tmp);
}

static void
rm_folder (const gchar * dir)
{
  const gchar *files[] = { "config.json", "vocab.txt", "model.safetensors",
    "tokenizer_config.json", "pytorch_model.bin" };
  guint i;
  for (i = 0; i < G_N_ELEMENTS (files); i++) {
    gchar *p = g_build_filename (dir, files[i], NULL);
    g_unlink (p);
    g_free (p);
  }
  g_rmdir (dir);
}

static void
test_bad_folders (void)
{
  GError *err = NULL;
  gchar *tmp = g_dir_make_tmp ("etp-bert-XXXXXX", NULL);
  gchar *cfg, *data = NULL, *p;
  EtpBert *m;

  /* no such folder */
  g_assert_null (etp_bert_new_from_dir ("/nonexistent/bert", &err));
  g_assert_error (err, ETP_ERROR, ETP_ERROR_MISSING);
  g_clear_error (&err);

  /* folder without weights */
  copy_folder (tmp, FALSE);
  g_assert_null (etp_bert_new_from_dir (tmp, &err));
  g_assert_error (err, ETP_ERROR, ETP_ERROR_MISSING);
  g_assert_nonnull (strstr (err->message, "model.safetensors"));
  g_clear_error (&err);
  p = g_build_filename (tmp, "pytorch_model.bin", NULL);
  g_file_set_contents (p, "x", 1, NULL);
  g_assert_null (etp_bert_new_from_dir (tmp, &err));
  g_assert_nonnull (strstr (err->message, "convert_bert_checkpoint.py"));
  g_clear_error (&err);
  g_unlink (p);
  g_free (p);
  rm_folder (tmp);

  /* config/weights shape mismatch: hidden_size 16 -> 32 */
  tmp = g_dir_make_tmp ("etp-bert-XXXXXX", NULL);
  copy_folder (tmp, TRUE);
  cfg = g_build_filename (tmp, "config.json", NULL);
  g_assert_true (g_file_get_contents (cfg, &data, NULL, NULL));
  {
    gchar **parts = g_strsplit (data, "\"hidden_size\": 16", 2);
    gchar *changed;
    g_assert_cmpuint (g_strv_length (parts), ==, 2);
    changed = g_strjoinv ("\"hidden_size\": 32", parts);
    g_file_set_contents (cfg, changed, -1, NULL);
    g_free (changed);
    g_strfreev (parts);
  }
  m = etp_bert_new_from_dir (tmp, &err);
  g_assert_null (m);
  g_assert_error (err, ETP_ERROR, ETP_ERROR_MISMATCH);
  g_assert_nonnull (strstr (err->message, "word_embeddings"));
  g_assert_nonnull (strstr (err->message, "[28996, 16]"));
  g_clear_error (&err);

  /* fewer layers in config.json than in the file */
  {
    gchar **parts = g_strsplit (data, "\"num_hidden_layers\": 2", 2);
    gchar *changed = g_strjoinv ("\"num_hidden_layers\": 1", parts);
    g_file_set_contents (cfg, changed, -1, NULL);
    g_free (changed);
    g_strfreev (parts);
  }
  g_assert_null (etp_bert_new_from_dir (tmp, &err));
  g_assert_error (err, ETP_ERROR, ETP_ERROR_MISMATCH);
  g_assert_nonnull (strstr (err->message, "num_hidden_layers"));
  g_clear_error (&err);

  /* broken config.json */
  g_file_set_contents (cfg, "{\"vocab_size\": ", -1, NULL);
  g_assert_null (etp_bert_new_from_dir (tmp, &err));
  g_assert_nonnull (err);
  g_assert_nonnull (strstr (err->message, "config.json"));
  g_clear_error (&err);
  g_free (data);
  g_free (cfg);
  rm_folder (tmp);
  g_free (tmp);
}

/* Names without the `bert.` prefix load too (write them with the project's
 * safetensors writer). */
static void
test_no_prefix (void)
{
  gchar *dir = src ("tinybert");
  gchar *stp = g_build_filename (dir, "model.safetensors", NULL);
  gchar *tmp = g_dir_make_tmp ("etp-bert-XXXXXX", NULL);
  GError *err = NULL;
  EtpSafetensors *st = etp_safetensors_open (stp, &err);
  EtpSafetensorsWriter *w = etp_safetensors_writer_new ();
  GPtrArray *keep = g_ptr_array_new_with_free_func (g_free);
  gchar *out;
  guint i;
  EtpBert *m;
  Golden g;
  gfloat *cls;

  g_assert_no_error (err);
  copy_folder (tmp, FALSE);
  for (i = 0; i < etp_safetensors_n_tensors (st); i++) {
    const EtpStTensor *t = etp_safetensors_nth (st, i);
    gfloat *f = g_new (gfloat, t->numel);
    etp_st_tensor_to_f32 (t, f);
    g_ptr_array_add (keep, f);
    etp_safetensors_writer_add_f32 (w, t->name + strlen ("bert."), t->ndim,
        t->shape, f, ETP_ST_F32);
  }
  out = g_build_filename (tmp, "model.safetensors", NULL);
  g_assert_true (etp_safetensors_writer_write (w, out, &err));
  m = etp_bert_new_from_dir (tmp, &err);
  g_assert_no_error (err);
  golden_load (&g);
  cls = g_new (gfloat, g.B * g.H);
  g_assert_true (etp_bert_forward_padded (m, g.ids, g.mask, g.B, g.T, NULL,
          cls, NULL, NULL, &err));
  assert_close (cls, g.blob + g.B * g.T * g.H, g.B * g.H, "cls (no prefix)");
  g_free (cls);
  golden_clear (&g);
  etp_bert_free (m);
  etp_safetensors_writer_free (w);
  etp_safetensors_free (st);
  g_ptr_array_free (keep, TRUE);
  rm_folder (tmp);
  g_free (tmp);
  g_free (out);
  g_free (stp);
  g_free (dir);
}

/* device=cuda: the same golden numbers on the GPU; skipped without one
 * (device=cuda is then an ETP_ERROR_DEVICE error and auto falls back). */
static void
test_cuda (void)
{
  gchar *dir = src ("tinybert");
  GError *err = NULL;
  EtpBert *m = etp_bert_new_from_dir (dir, &err);
  Golden g;
  gfloat *hidden, *cls, *mean, *pooler;

  g_assert_no_error (err);
  g_assert_true (etp_bert_set_device (m, ETP_DEVICE_AUTO, &err));
  g_assert_no_error (err);
  if (!etp_bert_set_device (m, ETP_DEVICE_CUDA, &err)) {
    g_assert_error (err, ETP_ERROR, ETP_ERROR_DEVICE);
    g_assert_cmpstr (etp_bert_device_name (m), ==, "cpu");
    g_clear_error (&err);
    etp_bert_free (m);
    g_free (dir);
    g_test_skip ("no CUDA GPU");
    return;
  }
  golden_load (&g);
  hidden = g_new (gfloat, g.B * g.T * g.H);
  cls = g_new (gfloat, g.B * g.H);
  mean = g_new (gfloat, g.B * g.H);
  pooler = g_new (gfloat, g.B * g.H);
  g_assert_true (etp_bert_forward_padded (m, g.ids, g.mask, g.B, g.T, hidden,
          cls, mean, pooler, &err));
  g_assert_no_error (err);
  assert_close (hidden, g.blob, (gsize) g.B * g.T * g.H, "cuda hidden");
  assert_close (cls, g.blob + g.B * g.T * g.H, g.B * g.H, "cuda cls");
  assert_close (mean, g.blob + g.B * g.T * g.H + g.B * g.H, g.B * g.H,
      "cuda mean");
  assert_close (pooler, g.blob + g.B * g.T * g.H + 2 * g.B * g.H, g.B * g.H,
      "cuda pooler");
  {
    guint lens[16], n = 0, b, t;
    gint32 *packed = g_new (gint32, g.B * g.T);
    for (b = 0; b < g.B; b++) {
      lens[b] = 0;
      for (t = 0; t < g.T; t++)
        if (g.mask[b * g.T + t]) {
          packed[n++] = g.ids[b * g.T + t];
          lens[b]++;
        }
    }
    g_assert_true (etp_bert_forward_packed (m, packed, lens, g.B,
            ETP_BERT_POOL_MEAN, mean, &err));
    assert_close (mean, g.blob + g.B * g.T * g.H + g.B * g.H, g.B * g.H,
        "cuda packed mean");
    g_free (packed);
  }
  g_free (hidden);
  g_free (cls);
  g_free (mean);
  g_free (pooler);
  golden_clear (&g);
  etp_bert_free (m);
  g_free (dir);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/text/bert/cuda", test_cuda);
  g_test_add_func ("/text/bert/padded-vs-torch", test_padded);
  g_test_add_func ("/text/bert/textmodel", test_textmodel);
  g_test_add_func ("/text/bert/bad-folders", test_bad_folders);
  g_test_add_func ("/text/bert/no-prefix", test_no_prefix);
  return g_test_run ();
}
