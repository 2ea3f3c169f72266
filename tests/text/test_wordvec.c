/* Word vectors: streaming conversion (wink JSON and GloVe text), lookup,
 * mean/SIF pooling, OOV handling; the real GloVe file when it is cached
 * (pipelines/fetch-wordvectors.sh), skipped otherwise. */
#include "config.h"
#include "text/textmodel.h"
#include "text/wordvec.h"
#include "util/etperror.h"

#include <glib/gstdio.h>
#include <math.h>
#include <string.h>

static const gchar *tiny_json =
    "{\"precision\":8,\"l2NormIndex\":3,\"wordIndex\":4,\"size\":4,"
    "\"dimensions\":3,\"words\":[\"the\",\"atrial\",\"fibrillation\",\"sinus\"],"
    "\"vectors\":{\"the\":[1,0,0,1,0],\"atrial\":[0,2,0,2,1],"
    "\"fibrillation\":[0,0,4,4,2],\"sinus\":[2,2,2,3.4641,3],"
    "\"caf\\u00e9\":[1,1,1,1.7,4]},\"unkVector\":[0,0,0,0,-1]}";

static gchar *
write_tmp (const gchar * contents, const gchar * suffix)
{
  gchar *path = NULL;
  gint fd = g_file_open_tmp ("etp-wv-XXXXXX", &path, NULL);
  g_assert_cmpint (fd, >=, 0);
  close (fd);
  if (contents)
    g_assert_true (g_file_set_contents (path, contents, -1, NULL));
  return path;
}

static EtpWordVec *
convert (const gchar * src, gchar ** out_path)
{
  FILE *in = fopen (src, "rb");
  gchar *out = write_tmp (NULL, NULL);
  GError *err = NULL;
  guint64 n = 0;
  EtpWordVec *wv;
  g_assert_nonnull (in);
  g_assert_true (etp_wordvec_convert_stream (in, out, &n, &err));
  g_assert_no_error (err);
  fclose (in);
  g_assert_cmpuint (n, ==, 5);
  wv = etp_wordvec_open (out, &err);
  g_assert_no_error (err);
  *out_path = out;
  return wv;
}

static void
test_json (void)
{
  gchar *src = write_tmp (tiny_json, ".json"), *bin = NULL;
  EtpWordVec *wv = convert (src, &bin);
  gfloat v[3];
  guint nw = 0, nf = 0;
  GError *err = NULL;
  gint64 row;

  g_assert_true (etp_wordvec_file_is_wordvec (bin));
  g_assert_false (etp_wordvec_file_is_wordvec (src));
  g_assert_cmpuint (etp_wordvec_dim (wv), ==, 3);
  row = etp_wordvec_lookup (wv, "fibrillation", -1);
  g_assert_cmpint (row, ==, 2);
  g_assert_cmpfloat (etp_wordvec_row (wv, row)[2], ==, 4.0f);
  g_assert_cmpuint (etp_wordvec_rank (wv, row), ==, 2);
  g_assert_cmpint (etp_wordvec_lookup (wv, "caf\xc3\xa9", -1), ==, 4);
  g_assert_cmpint (etp_wordvec_lookup (wv, "missing", -1), ==, -1);
  g_assert_cmpint (etp_wordvec_lookup (wv, "a", -1), ==, -1);

  /* mean after normalisation: case, punctuation; OOV words skipped */
  g_assert_true (etp_wordvec_encode (wv, "Atrial-FIBRILLATION, unknownword!",
          ETP_WORDVEC_POOL_MEAN, v, &nw, &nf, &err));
  g_assert_cmpuint (nw, ==, 3);
  g_assert_cmpuint (nf, ==, 2);
  g_assert_cmpfloat_with_epsilon (v[0], 0.0, 1e-6);
  g_assert_cmpfloat_with_epsilon (v[1], 1.0, 1e-6);
  g_assert_cmpfloat_with_epsilon (v[2], 2.0, 1e-6);

  /* SIF: the frequent word ("the", rank 0) is down-weighted */
  g_assert_true (etp_wordvec_encode (wv, "the sinus", ETP_WORDVEC_POOL_SIF,
          v, NULL, &nf, &err));
  {
    gdouble H = log (5.0) + 0.5772156649;
    gdouble p0 = 1.0 / (1.0 * H), p3 = 1.0 / (4.0 * H);
    gdouble w0 = 1e-3 / (1e-3 + p0), w3 = 1e-3 / (1e-3 + p3);
    g_assert_cmpfloat_with_epsilon (v[0], (w0 * 1 + w3 * 2) / 2, 1e-6);
    g_assert_cmpfloat_with_epsilon (v[1], (w3 * 2) / 2, 1e-6);
    g_assert_cmpfloat (w0, <, w3);
  }

  /* all OOV -> zero vector, flagged by n_found 0 */
  g_assert_true (etp_wordvec_encode (wv, "xyz qqq", ETP_WORDVEC_POOL_MEAN, v,
          &nw, &nf, &err));
  g_assert_cmpuint (nf, ==, 0);
  g_assert_cmpfloat (v[0], ==, 0.0f);
  g_assert_cmpfloat (v[2], ==, 0.0f);
  g_assert_true (etp_wordvec_encode (wv, "", ETP_WORDVEC_POOL_MEAN, v, &nw,
          &nf, &err));
  g_assert_cmpuint (nw, ==, 0);

  /* invalid UTF-8 */
  g_assert_false (etp_wordvec_encode (wv, "bad \xff", ETP_WORDVEC_POOL_MEAN, v,
          NULL, NULL, &err));
  g_assert_error (err, ETP_ERROR, ETP_ERROR_INVALID);
  g_clear_error (&err);

  /* through the text-model facade */
  {
    EtpTextModelOptions o;
    EtpTextModel *tm;
    const gchar *texts[] = { "atrial fibrillation", "nothing known" };
    gfloat out[6];
    gboolean oov[2];
    etp_text_model_options_init (&o);
    tm = etp_text_model_open (bin, &o, &err);
    g_assert_no_error (err);
    g_assert_false (etp_text_model_is_bert (tm));
    g_assert_cmpuint (etp_text_model_dim (tm), ==, 3);
    g_assert_true (etp_text_model_encode (tm, texts, 2, out, oov, &err));
    g_assert_false (oov[0]);
    g_assert_true (oov[1]);
    g_assert_cmpfloat_with_epsilon (out[2], 2.0, 1e-6);
    etp_text_model_free (tm);
    o.pooling = ETP_TEXT_POOL_CLS;
    g_assert_null (etp_text_model_open (bin, &o, &err));
    g_assert_error (err, ETP_ERROR, ETP_ERROR_INVALID);
    g_clear_error (&err);
  }
  etp_wordvec_free (wv);

  /* a truncated file is rejected, naming the file */
  {
    gchar *data;
    gsize len;
    g_assert_true (g_file_get_contents (bin, &data, &len, NULL));
    g_assert_true (g_file_set_contents (bin, data, len - 7, NULL));
    g_assert_null (etp_wordvec_open (bin, &err));
    g_assert_error (err, ETP_ERROR, ETP_ERROR_FORMAT);
    g_assert_nonnull (strstr (err->message, "truncated"));
    g_clear_error (&err);
    g_free (data);
  }
  g_unlink (src);
  g_unlink (bin);
  g_free (src);
  g_free (bin);
}

static void
test_text_and_errors (void)
{
  gchar *src = write_tmp ("the 1 0 0\natrial 0 2 0\nfibrillation 0 0 4\n"
      "sinus 2 2 2\ncaf\xc3\xa9 1 1 1\n", ".txt"), *bin = NULL;
  EtpWordVec *wv = convert (src, &bin);
  GError *err = NULL;
  FILE *in;
  gchar *bad, *out;
  g_assert_cmpint (etp_wordvec_lookup (wv, "sinus", -1), ==, 3);
  g_assert_cmpuint (etp_wordvec_rank (wv, 3), ==, 3);
  etp_wordvec_free (wv);
  g_unlink (src);
  g_free (src);

  /* JSON syntax error names the byte offset */
  bad = write_tmp ("{\"dimensions\":3,\"vectors\":{\"a\":[1,2,}", ".json");
  out = write_tmp (NULL, NULL);
  in = fopen (bad, "rb");
  g_assert_false (etp_wordvec_convert_stream (in, out, NULL, &err));
  g_assert_error (err, ETP_ERROR, ETP_ERROR_FORMAT);
  g_assert_nonnull (strstr (err->message, "byte"));
  g_clear_error (&err);
  fclose (in);
  /* wrong vector length */
  g_file_set_contents (bad, "{\"dimensions\":3,\"vectors\":{\"a\":[1,2]}}", -1,
      NULL);
  in = fopen (bad, "rb");
  g_assert_false (etp_wordvec_convert_stream (in, out, NULL, &err));
  g_assert_nonnull (strstr (err->message, "expected 3"));
  g_clear_error (&err);
  fclose (in);
  /* not a word-vector file */
  g_assert_null (etp_wordvec_open (bad, &err));
  g_assert_error (err, ETP_ERROR, ETP_ERROR_FORMAT);
  g_clear_error (&err);
  g_unlink (bad);
  g_unlink (out);
  g_unlink (bin);
  g_free (bad);
  g_free (out);
  g_free (bin);
}

static gdouble
cosine (const gfloat * a, const gfloat * b, guint n)
{
  gdouble ab = 0, aa = 0, bb = 0;
  guint i;
  for (i = 0; i < n; i++) {
    ab += a[i] * b[i];
    aa += a[i] * a[i];
    bb += b[i] * b[i];
  }
  return ab / sqrt (aa * bb + 1e-30);
}

static void
test_real_glove (void)
{
  gchar *path = g_build_filename (g_get_user_cache_dir (), "gst-etp",
      "glove-6b-100d.etpwv", NULL);
  const gchar *env = g_getenv ("ETP_WORDVEC_FILE");
  EtpWordVec *wv;
  GError *err = NULL;
  gfloat af[100], afib[100], sinus[100], normal[100];
  gint64 row;

  if (env) {
    g_free (path);
    path = g_strdup (env);
  }
  if (!g_file_test (path, G_FILE_TEST_EXISTS)) {
    g_test_skip ("GloVe not cached (run pipelines/fetch-wordvectors.sh)");
    g_free (path);
    return;
  }
  wv = etp_wordvec_open (path, &err);
  g_assert_no_error (err);
  g_assert_cmpuint (etp_wordvec_dim (wv), ==, 100);
  g_assert_cmpuint (etp_wordvec_n_words (wv), ==, 341479);
  row = etp_wordvec_lookup (wv, "the", -1);
  g_assert_cmpint (row, >=, 0);
  g_assert_cmpuint (etp_wordvec_rank (wv, row), ==, 0);
  /* GloVe 6B 100d "the" starts -0.038194 -0.24487 0.72812 */
  g_assert_cmpfloat_with_epsilon (etp_wordvec_row (wv, row)[0], -0.038194, 1e-5);
  g_assert_cmpfloat_with_epsilon (etp_wordvec_row (wv, row)[2], 0.72812, 1e-5);
  etp_wordvec_encode (wv, "atrial fibrillation", ETP_WORDVEC_POOL_MEAN, af,
      NULL, NULL, &err);
  etp_wordvec_encode (wv, "this ECG indicates atrial fibrillation",
      ETP_WORDVEC_POOL_SIF, afib, NULL, NULL, &err);
  etp_wordvec_encode (wv, "sinus rhythm", ETP_WORDVEC_POOL_MEAN, sinus, NULL,
      NULL, &err);
  etp_wordvec_encode (wv, "the stock market fell", ETP_WORDVEC_POOL_MEAN,
      normal, NULL, NULL, &err);
  g_test_message ("cos(af, prompt)=%.3f cos(af, sinus)=%.3f cos(af, stocks)=%.3f",
      cosine (af, afib, 100), cosine (af, sinus, 100), cosine (af, normal, 100));
  g_assert_cmpfloat (cosine (af, afib, 100), >, cosine (af, normal, 100));
  g_assert_cmpfloat (cosine (af, sinus, 100), >, cosine (af, normal, 100));
  etp_wordvec_free (wv);
  g_free (path);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/text/wordvec/json", test_json);
  g_test_add_func ("/text/wordvec/text-and-errors", test_text_and_errors);
  g_test_add_func ("/text/wordvec/real-glove", test_real_glove);
  return g_test_run ();
}
