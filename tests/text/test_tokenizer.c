/* WordPiece tokenizer vs the golden ids of tests/text/make_golden.py (an
 * independent Python implementation of Hugging Face's BertTokenizer) with
 * the real cased BERT vocab, both casings. */
#include "config.h"
#include "text/tokenizer.h"
#include "util/etperror.h"

#include <json-glib/json-glib.h>
#include <string.h>

static gchar *
vocab_path (void)
{
  const gchar *shared = g_getenv ("ETP_SHARED_DATA");
  return g_build_filename (shared ? shared : ETP_SHARED_DATA, "models",
      "bert-base-cased-vocab.txt", NULL);
}

static gchar *
golden_path (const gchar * name)
{
  const gchar *root = g_getenv ("ETP_SOURCE_ROOT");
  return g_build_filename (root ? root : ETP_SOURCE_ROOT, "tests", "text",
      name, NULL);
}

static EtpTokenizer *
open_tok (gboolean lower)
{
  gchar *v = vocab_path ();
  GError *err = NULL;
  EtpTokenizer *t;
  if (!g_file_test (v, G_FILE_TEST_EXISTS)) {
    g_free (v);
    return NULL;
  }
  t = etp_tokenizer_new_from_file (v, lower, &err);
  g_assert_no_error (err);
  g_free (v);
  return t;
}

static void
test_hello (void)
{
  EtpTokenizer *t = open_tok (FALSE);
  const gint32 expect[] = { 101, 8667, 117, 1139, 3676, 1110, 10509, 102 };
  gint32 out[16];
  GError *err = NULL;
  gint n;
  if (t == NULL) {
    g_test_skip ("shared vocab not found");
    return;
  }
  g_assert_cmpuint (etp_tokenizer_get_vocab_size (t), ==, 28996);
  n = etp_tokenizer_encode (t, "Hello, my dog is cute", 16, out, NULL, &err);
  g_assert_no_error (err);
  g_assert_cmpint (n, ==, 8);
  g_assert_cmpmem (out, sizeof (expect), expect, sizeof (expect));
  etp_tokenizer_free (t);
}

static void
check_ids (JsonArray * a, GArray * ids, const gchar * text, const gchar * what)
{
  guint i;
  if (json_array_get_length (a) != ids->len)
    g_error ("%s of \"%s\": %u ids, golden %u", what, text, ids->len,
        json_array_get_length (a));
  for (i = 0; i < ids->len; i++)
    if (json_array_get_int_element (a, i) != g_array_index (ids, gint32, i))
      g_error ("%s of \"%s\": id %u is %d, golden %" G_GINT64_FORMAT, what,
          text, i, g_array_index (ids, gint32, i),
          json_array_get_int_element (a, i));
}

static void
test_golden (void)
{
  EtpTokenizer *cased = open_tok (FALSE), *uncased = open_tok (TRUE);
  gchar *path = golden_path ("tokens_golden.json");
  JsonParser *p = json_parser_new ();
  GError *err = NULL;
  JsonArray *items;
  guint i, n, max_len;

  if (cased == NULL) {
    g_test_skip ("shared vocab not found");
    g_object_unref (p);
    g_free (path);
    return;
  }
  g_assert_true (json_parser_load_from_file (p, path, &err));
  g_assert_no_error (err);
  items = json_object_get_array_member (json_node_get_object
      (json_parser_get_root (p)), "items");
  max_len = json_object_get_int_member (json_node_get_object
      (json_parser_get_root (p)), "max_length");
  n = json_array_get_length (items);
  g_assert_cmpuint (n, >=, 25);
  for (i = 0; i < n; i++) {
    JsonObject *o = json_array_get_object_element (items, i);
    const gchar *text = json_object_get_string_member (o, "text");
    GArray *ids = g_array_new (FALSE, FALSE, sizeof (gint32));
    gint32 *enc = g_new (gint32, max_len);
    gint m;
    g_assert_true (etp_tokenizer_tokenize (cased, text, ids, &err));
    check_ids (json_object_get_array_member (o, "cased"), ids, text, "cased");
    g_array_set_size (ids, 0);
    g_assert_true (etp_tokenizer_tokenize (uncased, text, ids, &err));
    check_ids (json_object_get_array_member (o, "uncased"), ids, text,
        "uncased");
    m = etp_tokenizer_encode (cased, text, max_len, enc, NULL, &err);
    g_assert_no_error (err);
    g_array_set_size (ids, 0);
    g_array_append_vals (ids, enc, m);
    check_ids (json_object_get_array_member (o, "cased_max32"), ids, text,
        "encode(max_length)");
    g_array_free (ids, TRUE);
    g_free (enc);
  }
  g_object_unref (p);
  g_free (path);
  etp_tokenizer_free (cased);
  etp_tokenizer_free (uncased);
}

static void
test_batch_and_errors (void)
{
  EtpTokenizer *t = open_tok (FALSE);
  const gchar *texts[] = { "Hello, my dog is cute", "", "Vorhofflimmern" };
  gint32 *ids = NULL, *mask = NULL, out[8];
  guint T = 0, *lens = NULL, i;
  GError *err = NULL;
  GArray *a;
  gboolean trunc = FALSE;

  if (t == NULL) {
    g_test_skip ("shared vocab not found");
    return;
  }
  g_assert_true (etp_tokenizer_encode_batch (t, texts, 3, 64, FALSE, &ids,
          &mask, &T, &lens, &err));
  g_assert_cmpuint (T, ==, 8);
  g_assert_cmpuint (lens[1], ==, 2);
  g_assert_cmpint (ids[1 * T + 0], ==, 101);
  g_assert_cmpint (ids[1 * T + 1], ==, 102);
  for (i = 2; i < T; i++) {
    g_assert_cmpint (ids[1 * T + i], ==, 0);
    g_assert_cmpint (mask[1 * T + i], ==, 0);
  }
  g_assert_cmpint (mask[0 * T + 7], ==, 1);
  g_free (ids);
  g_free (mask);
  g_free (lens);

  /* truncation keeps [CLS] ... [SEP] */
  g_assert_cmpint (etp_tokenizer_encode (t, "Hello, my dog is cute", 4, out,
          &trunc, &err), ==, 4);
  g_assert_true (trunc);
  g_assert_cmpint (out[0], ==, 101);
  g_assert_cmpint (out[1], ==, 8667);
  g_assert_cmpint (out[2], ==, 117);
  g_assert_cmpint (out[3], ==, 102);

  /* invalid UTF-8 is an error naming the offset */
  a = g_array_new (FALSE, FALSE, sizeof (gint32));
  g_assert_false (etp_tokenizer_tokenize (t, "ok \xff\xfe bad", a, &err));
  g_assert_error (err, ETP_ERROR, ETP_ERROR_INVALID);
  g_assert_nonnull (strstr (err->message, "UTF-8"));
  g_clear_error (&err);
  g_array_free (a, TRUE);
  etp_tokenizer_free (t);

  /* a missing vocab file */
  g_assert_null (etp_tokenizer_new_from_file ("/nonexistent/vocab.txt", FALSE,
          &err));
  g_assert_nonnull (err);
  g_assert_nonnull (strstr (err->message, "/nonexistent/vocab.txt"));
  g_clear_error (&err);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/text/tokenizer/hello", test_hello);
  g_test_add_func ("/text/tokenizer/golden", test_golden);
  g_test_add_func ("/text/tokenizer/batch-errors", test_batch_and_errors);
  return g_test_run ();
}
