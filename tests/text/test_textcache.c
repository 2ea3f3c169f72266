/* Feature cache: store/lookup across reopen, keyed by model id + text, a
 * torn last record dropped, dimension mismatch an error. */
#include "config.h"
#include "text/textcache.h"
#include "util/etperror.h"

#include <glib/gstdio.h>
#include <string.h>

static void
test_cache (void)
{
  gchar *path = NULL;
  gint fd = g_file_open_tmp ("etp-cache-XXXXXX", &path, NULL);
  GError *err = NULL;
  EtpTextCache *c;
  gfloat v[4] = { 1, 2, 3, 4 }, w[4] = { 5, 6, 7, 8 }, out[4];
  gchar *data;
  gsize len;

  close (fd);
  g_unlink (path);
  c = etp_text_cache_open (path, 4, &err);
  g_assert_no_error (err);
  g_assert_false (etp_text_cache_lookup (c, "m1", "hello", out));
  g_assert_true (etp_text_cache_store (c, "m1", "hello", v, &err));
  g_assert_true (etp_text_cache_store (c, "m2", "hello", w, &err));
  g_assert_true (etp_text_cache_store (c, "m1", "hello", w, &err)); /* kept: first wins */
  g_assert_cmpuint (etp_text_cache_size (c), ==, 2);
  etp_text_cache_free (c);

  c = etp_text_cache_open (path, 4, &err);
  g_assert_no_error (err);
  g_assert_cmpuint (etp_text_cache_size (c), ==, 2);
  g_assert_true (etp_text_cache_lookup (c, "m1", "hello", out));
  g_assert_cmpmem (out, sizeof (out), v, sizeof (v));
  g_assert_true (etp_text_cache_lookup (c, "m2", "hello", out));
  g_assert_cmpmem (out, sizeof (out), w, sizeof (w));
  g_assert_false (etp_text_cache_lookup (c, "m1", "hello ", out));
  etp_text_cache_free (c);

  /* a crash mid-append: half a record at the end */
  g_assert_true (g_file_get_contents (path, &data, &len, NULL));
  g_assert_cmpuint (len, ==, 16 + 2 * (32 + 16 + 4));
  g_assert_true (g_file_set_contents (path, data, len - 10, NULL));
  c = etp_text_cache_open (path, 4, &err);
  g_assert_no_error (err);
  g_assert_cmpuint (etp_text_cache_size (c), ==, 1);
  g_assert_cmpuint (etp_text_cache_n_dropped (c), ==, 1);
  g_assert_true (etp_text_cache_store (c, "m2", "hello", w, &err));
  etp_text_cache_free (c);
  c = etp_text_cache_open (path, 4, &err);
  g_assert_cmpuint (etp_text_cache_size (c), ==, 2);
  g_assert_cmpuint (etp_text_cache_n_dropped (c), ==, 0);
  etp_text_cache_free (c);

  /* a corrupted record (bit flip) ends the valid prefix */
  g_free (data);
  g_assert_true (g_file_get_contents (path, &data, &len, NULL));
  data[16 + 40] ^= 0x10;
  g_assert_true (g_file_set_contents (path, data, len, NULL));
  c = etp_text_cache_open (path, 4, &err);
  g_assert_cmpuint (etp_text_cache_size (c), ==, 0);
  etp_text_cache_free (c);

  /* another dimension */
  g_assert_null (etp_text_cache_open (path, 8, &err));
  g_assert_error (err, ETP_ERROR, ETP_ERROR_MISMATCH);
  g_assert_nonnull (strstr (err->message, path));
  g_clear_error (&err);
  /* not a cache file */
  g_file_set_contents (path, "something else entirely", -1, NULL);
  g_assert_null (etp_text_cache_open (path, 4, &err));
  g_assert_error (err, ETP_ERROR, ETP_ERROR_FORMAT);
  g_clear_error (&err);
  g_unlink (path);
  g_free (path);
  g_free (data);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/text/textcache/roundtrip-torn-corrupt", test_cache);
  return g_test_run ();
}
