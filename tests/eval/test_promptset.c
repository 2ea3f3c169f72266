/* Prompt files, prompt-embedding files (safetensors and raw) and the
 * zero-shot score of one embedding. */
#include "config.h"

#include <math.h>
#include <string.h>
#include <glib/gstdio.h>
#include "eval/promptset.h"
#include "util/etperror.h"

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

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/eval/prompts/shipped-sets", test_shipped_sets);
  g_test_add_func ("/eval/prompts/classes-template", test_classes_and_template);
  g_test_add_func ("/eval/prompts/embeddings-roundtrip", test_embeddings_roundtrip);
  return g_test_run ();
}
