/* Prompt files, prompt-embedding files (safetensors and raw) and the
 * zero-shot score of one embedding. */
#include "config.h"

#include <math.h>
#include <string.h>
#include <glib/gstdio.h>
#include "eval/promptset.h"
#include "eval/promptembed.h"
#include "util/etperror.h"
#ifdef ETP_EVAL_HAVE_TEXT
#include "nets/safetensors.h"
#include "text/textmodel.h"
#endif

static gchar *
src_path (const gchar * rel)
{
  const gchar *root = g_getenv ("ETP_SOURCE_ROOT");
  return g_build_filename (root ? root : ETP_SOURCE_ROOT, rel, NULL);
}

static void
test_shipped_sets (void)
{
  gchar *p1 = src_path ("models/prompts/cpsc2018.tsv");
  gchar *p2 = src_path ("models/prompts/ptbxl_super.tsv");
  GError *err = NULL;
  EtpPromptSet *a = etp_prompt_set_load (p1, NULL, &err), *b;
  const gchar *want[] = { "Normal", "AF", "I-AVB", "LBBB", "RBBB", "PAC",
    "PVC", "STD", "STE", NULL };

  g_assert_no_error (err);
  g_assert_cmpuint (a->n_classes, ==, 9);
  g_assert_cmpstrv (a->class_names, want);
  g_assert_cmpstr (a->prompts[1][0], ==, "this ECG indicates atrial fibrillation");
  g_assert_true (etp_prompt_class_matches (a->class_names[1], a->aliases[1], "afib"));
  g_assert_true (etp_prompt_class_matches (a->class_names[2], a->aliases[2], "1AVB"));
  g_assert_false (etp_prompt_class_matches (a->class_names[2], a->aliases[2], "AFIB"));
  b = etp_prompt_set_load (p2, NULL, &err);
  g_assert_no_error (err);
  g_assert_cmpuint (b->n_classes, ==, 5);
  g_assert_cmpstr (b->class_names[1], ==, "MI");
  /* MI expanded into its member statements from scp_statements.csv */
  g_assert_cmpuint (g_strv_length (b->prompts[1]), >, 10);
  etp_prompt_set_free (a);
  etp_prompt_set_free (b);
  g_free (p1);
  g_free (p2);
}

static void
test_classes_and_template (void)
{
  GError *err = NULL;
  EtpPromptSet *s = etp_prompt_set_from_classes (" AF, normal ECG ,", NULL, &err);
  gchar *t;

  g_assert_no_error (err);
  g_assert_cmpuint (s->n_classes, ==, 2);
  g_assert_cmpstr (s->prompts[1][0], ==, "this ECG indicates normal ECG");
  etp_prompt_set_free (s);
  t = etp_prompt_apply_template ("ECG of {} (12 leads)", "AF");
  g_assert_cmpstr (t, ==, "ECG of AF (12 leads)");
  g_free (t);
  g_assert_null (etp_prompt_set_from_classes (" , ", NULL, &err));
  g_assert_error (err, ETP_ERROR, ETP_ERROR_INVALID);
  g_clear_error (&err);
}

static void
test_embeddings_roundtrip (void)
{
  const gchar *names[] = { "A", "B", "C" };
  gfloat e[3 * 4] = { 3, 4, 0, 0, 0, 0, 1, 0, 1, 1, 1, 1 };
  gfloat x[4] = { 3, 4, 0, 0 }, cosv[3], prob[3];
  EtpPromptEmbeddings *pe = etp_prompt_embeddings_new (names, e, 3, 4), *q;
  gchar *dir = g_dir_make_tmp ("etp-prompts-XXXXXX", NULL);
  gchar *path = g_build_filename (dir, "p.safetensors", NULL);
  gchar *raw = g_build_filename (dir, "p.bin", NULL);
  GError *err = NULL;
  gint top;
  gdouble z;

  g_assert_cmpfloat_with_epsilon (pe->embeddings[0], 0.6, 1e-6);
  pe->logit_scale = 14.5;
  g_free (pe->aliases[0]);
  pe->aliases[0] = g_strdup ("AA,AAA");
  g_assert_true (etp_prompt_embeddings_save (pe, path, &err));
  g_assert_no_error (err);
  q = etp_prompt_embeddings_load (path, NULL, &err);
  g_assert_no_error (err);
  g_assert_cmpuint (q->n_classes, ==, 3);
  g_assert_cmpuint (q->dim, ==, 4);
  g_assert_cmpstr (q->class_names[2], ==, "C");
  g_assert_cmpstr (q->aliases[0], ==, "AA,AAA");
  g_assert_cmpfloat_with_epsilon (q->logit_scale, 14.5, 1e-9);
  g_assert_cmpmem (q->embeddings, 48, pe->embeddings, 48);

  /* cosine and softmax by hand: cos = (1, 0, 0.7), scale 10 */
  top = etp_zeroshot_score (q, x, 10.0, cosv, prob);
  g_assert_cmpint (top, ==, 0);
  g_assert_cmpfloat_with_epsilon (cosv[0], 1.0, 1e-6);
  g_assert_cmpfloat_with_epsilon (cosv[1], 0.0, 1e-6);
  g_assert_cmpfloat_with_epsilon (cosv[2], 0.7, 1e-6);
  z = exp (10.0) + 1.0 + exp (7.0);
  g_assert_cmpfloat_with_epsilon (prob[0], exp (10.0) / z, 1e-6);
  g_assert_cmpfloat_with_epsilon (prob[2], exp (7.0) / z, 1e-6);
  etp_prompt_embeddings_free (q);

  /* raw float32 with names given separately */
  g_assert_true (g_file_set_contents (raw, (const gchar *) e, sizeof e, NULL));
  q = etp_prompt_embeddings_load (raw, "A,B,C", &err);
  g_assert_no_error (err);
  g_assert_cmpuint (q->dim, ==, 4);
  etp_prompt_embeddings_free (q);
  g_assert_null (etp_prompt_embeddings_load (raw, "A,B,C,D,E", &err));
  g_assert_error (err, ETP_ERROR, ETP_ERROR_FORMAT);
  g_clear_error (&err);
  g_assert_null (etp_prompt_embeddings_load (raw, NULL, &err));
  g_assert_nonnull (strstr (err->message, "p.bin"));
  g_clear_error (&err);

  etp_prompt_embeddings_free (pe);
  g_unlink (path);
  g_unlink (raw);
  g_rmdir (dir);
  g_free (path);
  g_free (raw);
  g_free (dir);
}

#ifdef ETP_EVAL_HAVE_TEXT
/* Prompt embeddings from tests/text/tinybert (hidden 16) and a checkpoint
 * holding text_proj [6, 16] + logit_scale: equal to encoding each prompt,
 * projecting, normalising and averaging per class by hand. */
static void
test_compute_from_text_model (void)
{
  gchar *bert = src_path ("tests/text/tinybert");
  gchar *dir = g_dir_make_tmp ("etp-pe-XXXXXX", NULL);
  gchar *ckpt = g_build_filename (dir, "ckpt.safetensors", NULL);
  gchar *pf = g_build_filename (dir, "p.tsv", NULL);
  const gint64 wshape[2] = { 6, 16 }, bshape[1] = { 6 };
  gfloat w[6 * 16], b[6], ls = (gfloat) log (20.0);
  const gchar *texts[] = { "this ECG indicates atrial fibrillation",
    "irregular rhythm", "this ECG indicates normal sinus rhythm" };
  EtpSafetensorsWriter *sw = etp_safetensors_writer_new ();
  EtpTextModelOptions opts;
  EtpTextModel *tm;
  EtpPromptSet *set;
  EtpPromptEmbeddings *pe;
  GError *err = NULL;
  gfloat raw[3 * 16], proj[3 * 6], want[2 * 6];
  guint i, j, k;

  for (i = 0; i < 6 * 16; i++)
    w[i] = (gfloat) sin (0.37 * i + 0.1);
  for (i = 0; i < 6; i++)
    b[i] = 0.05f * i;
  etp_safetensors_writer_add_f32 (sw, "text_proj.weight", 2, wshape, w, ETP_ST_F32);
  etp_safetensors_writer_add_f32 (sw, "text_proj.bias", 1, bshape, b, ETP_ST_F32);
  etp_safetensors_writer_add_f32 (sw, "logit_scale", 0, NULL, &ls, ETP_ST_F32);
  g_assert_true (etp_safetensors_writer_write (sw, ckpt, &err));
  g_assert_no_error (err);
  etp_safetensors_writer_free (sw);
  g_assert_true (g_file_set_contents (pf, "AF\tthis ECG indicates atrial "
          "fibrillation|irregular rhythm\tAFIB\nNormal\n", -1, NULL));

  set = etp_prompt_set_load (pf, "this ECG indicates {}", &err);
  g_assert_no_error (err);
  /* a class without prompts gets the template */
  g_assert_cmpstr (set->prompts[1][0], ==, "this ECG indicates Normal");
  etp_prompt_set_free (set);
  g_assert_true (g_file_set_contents (pf, "AF\tthis ECG indicates atrial "
          "fibrillation|irregular rhythm\tAFIB\nNormal\tthis ECG indicates "
          "normal sinus rhythm\n", -1, NULL));
  set = etp_prompt_set_load (pf, NULL, &err);
  g_assert_no_error (err);
  pe = etp_prompt_embeddings_compute (set, bert, NULL, ckpt, &err);
  g_assert_no_error (err);
  g_assert_nonnull (pe);
  g_assert_cmpuint (pe->n_classes, ==, 2);
  g_assert_cmpuint (pe->dim, ==, 6);
  g_assert_cmpstr (pe->aliases[0], ==, "AFIB");
  g_assert_cmpfloat_with_epsilon (pe->logit_scale, 20.0, 1e-4);

  /* by hand */
  etp_text_model_options_init (&opts);
  tm = etp_text_model_open (bert, &opts, &err);
  g_assert_no_error (err);
  g_assert_true (etp_text_model_encode (tm, texts, 3, raw, NULL, &err));
  etp_text_model_free (tm);
  for (k = 0; k < 3; k++)
    for (i = 0; i < 6; i++) {
      gdouble acc = b[i];
      for (j = 0; j < 16; j++)
        acc += (gdouble) w[i * 16 + j] * raw[k * 16 + j];
      proj[k * 6 + i] = (gfloat) acc;
    }
  etp_average_normalised (proj, 2, 6, want);
  etp_average_normalised (proj + 12, 1, 6, want + 6);
  for (i = 0; i < 12; i++)
    g_assert_cmpfloat_with_epsilon (pe->embeddings[i], want[i], 1e-5);
  etp_prompt_embeddings_free (pe);

  /* a checkpoint whose text_proj does not fit the text model */
  {
    const gint64 bad[2] = { 6, 15 };
    sw = etp_safetensors_writer_new ();
    etp_safetensors_writer_add_f32 (sw, "text_proj.weight", 2, bad, w, ETP_ST_F32);
    g_assert_true (etp_safetensors_writer_write (sw, ckpt, NULL));
    etp_safetensors_writer_free (sw);
    g_assert_null (etp_prompt_embeddings_compute (set, bert, NULL, ckpt, &err));
    g_assert_error (err, ETP_ERROR, ETP_ERROR_MISMATCH);
    g_clear_error (&err);
  }
  etp_prompt_set_free (set);
  g_unlink (ckpt);
  g_unlink (pf);
  g_rmdir (dir);
  g_free (ckpt);
  g_free (pf);
  g_free (dir);
  g_free (bert);
}
#endif

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
#ifdef ETP_EVAL_HAVE_TEXT
  g_test_add_func ("/eval/prompts/compute-from-text-model",
      test_compute_from_text_model);
#endif
  g_test_add_func ("/eval/prompts/shipped-sets", test_shipped_sets);
  g_test_add_func ("/eval/prompts/classes-template", test_classes_and_template);
  g_test_add_func ("/eval/prompts/embeddings-roundtrip", test_embeddings_roundtrip);
  return g_test_run ();
}
