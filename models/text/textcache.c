/* Append-only text-feature cache (see textcache.h). */
#include "text/textcache.h"
#include "util/etperror.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CACHE_MAGIC "ETPTXC01"
#define HDR 16

struct _EtpTextCache {
  gchar *path;
  gint fd;
  guint dim;
  GHashTable *index;            /* 32-byte key (GBytes) -> offset into vecs */
  GArray *vecs;
  guint dropped;
};

static guint32
fnv1a (const guint8 * p, gsize n)
{
  guint32 h = 2166136261u;
  gsize i;
  for (i = 0; i < n; i++) {
    h ^= p[i];
    h *= 16777619u;
  }
  return h;
}

static GBytes *
make_key (const gchar * model_id, const gchar * text)
{
  GChecksum *cs = g_checksum_new (G_CHECKSUM_SHA256);
  guint8 digest[32];
  gsize len = sizeof (digest);
  g_checksum_update (cs, (const guchar *) model_id, strlen (model_id) + 1);
  g_checksum_update (cs, (const guchar *) text, strlen (text));
  g_checksum_get_digest (cs, digest, &len);
  g_checksum_free (cs);
  return g_bytes_new (digest, 32);
}

EtpTextCache *
etp_text_cache_open (const gchar * path, guint dim, GError ** error)
{
  EtpTextCache *c;
  gint fd;
  struct stat st;
  gsize rec = 32 + (gsize) dim * 4 + 4;
  guint8 hdr[HDR];
  guint8 *buf;
  off_t off;

  fd = open (path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    g_set_error (error, ETP_ERROR, ETP_ERROR_IO,
        "cannot open feature cache %s: %s", path, g_strerror (errno));
    return NULL;
  }
  if (fstat (fd, &st) != 0) {
    g_set_error (error, ETP_ERROR, ETP_ERROR_IO, "cannot stat %s: %s", path,
        g_strerror (errno));
    close (fd);
    return NULL;
  }
  if (st.st_size < HDR) {
    guint32 d = GUINT32_TO_LE (dim), z = 0;
    memcpy (hdr, CACHE_MAGIC, 8);
    memcpy (hdr + 8, &d, 4);
    memcpy (hdr + 12, &z, 4);
    if (ftruncate (fd, 0) != 0 || pwrite (fd, hdr, HDR, 0) != HDR) {
      g_set_error (error, ETP_ERROR, ETP_ERROR_IO, "cannot write %s: %s",
          path, g_strerror (errno));
      close (fd);
      return NULL;
    }
    st.st_size = HDR;
  } else {
    guint32 d;
    if (pread (fd, hdr, HDR, 0) != HDR || memcmp (hdr, CACHE_MAGIC, 8) != 0) {
      g_set_error (error, ETP_ERROR, ETP_ERROR_FORMAT,
          "%s is not a text-feature cache (bad magic)", path);
      close (fd);
      return NULL;
    }
    memcpy (&d, hdr + 8, 4);
    if (GUINT32_FROM_LE (d) != dim) {
      g_set_error (error, ETP_ERROR, ETP_ERROR_MISMATCH,
          "feature cache %s holds %u-d vectors but the model gives %u-d",
          path, GUINT32_FROM_LE (d), dim);
      close (fd);
      return NULL;
    }
  }
  c = g_new0 (EtpTextCache, 1);
  c->path = g_strdup (path);
  c->fd = fd;
  c->dim = dim;
  c->index = g_hash_table_new_full (g_bytes_hash, g_bytes_equal,
      (GDestroyNotify) g_bytes_unref, NULL);
  c->vecs = g_array_new (FALSE, FALSE, sizeof (gfloat));
  buf = g_malloc (rec);
  off = HDR;
  while (off + (off_t) rec <= st.st_size) {
    guint32 sum;
    GBytes *key;
    if (pread (fd, buf, rec, off) != (ssize_t) rec)
      break;
    memcpy (&sum, buf + rec - 4, 4);
    if (GUINT32_FROM_LE (sum) != fnv1a (buf, rec - 4))
      break;
    key = g_bytes_new (buf, 32);
    if (!g_hash_table_contains (c->index, key)) {
      g_hash_table_insert (c->index, key, GUINT_TO_POINTER (c->vecs->len / dim + 1));
      g_array_append_vals (c->vecs, buf + 32, dim);
    } else {
      g_bytes_unref (key);
    }
    off += rec;
  }
  g_free (buf);
  if (off < st.st_size) {
    c->dropped = (guint) ((st.st_size - off + rec - 1) / rec);
    if (ftruncate (fd, off) != 0) {
      g_set_error (error, ETP_ERROR, ETP_ERROR_IO,
          "cannot truncate the torn tail of %s: %s", path, g_strerror (errno));
      etp_text_cache_free (c);
      return NULL;
    }
  }
  /* from now on only append */
  if (fcntl (fd, F_SETFL, fcntl (fd, F_GETFL) | O_APPEND) != 0) {
    g_set_error (error, ETP_ERROR, ETP_ERROR_IO, "fcntl %s: %s", path,
        g_strerror (errno));
    etp_text_cache_free (c);
    return NULL;
  }
  return c;
}

void
etp_text_cache_free (EtpTextCache * c)
{
  if (c == NULL)
    return;
  close (c->fd);
  g_hash_table_destroy (c->index);
  g_array_free (c->vecs, TRUE);
  g_free (c->path);
  g_free (c);
}

guint
etp_text_cache_size (const EtpTextCache * c)
{
  return g_hash_table_size (c->index);
}

guint
etp_text_cache_n_dropped (const EtpTextCache * c)
{
  return c->dropped;
}

gboolean
etp_text_cache_lookup (EtpTextCache * c, const gchar * model_id,
    const gchar * text, gfloat * out)
{
  GBytes *key = make_key (model_id, text);
  gpointer v = g_hash_table_lookup (c->index, key);
  g_bytes_unref (key);
  if (v == NULL)
    return FALSE;
  memcpy (out, &g_array_index (c->vecs, gfloat,
          (gsize) (GPOINTER_TO_UINT (v) - 1) * c->dim), c->dim * sizeof (gfloat));
  return TRUE;
}

gboolean
etp_text_cache_store (EtpTextCache * c, const gchar * model_id,
    const gchar * text, const gfloat * vec, GError ** error)
{
  GBytes *key = make_key (model_id, text);
  gsize rec = 32 + (gsize) c->dim * 4 + 4;
  guint8 *buf;
  guint32 sum;
  ssize_t w;

  if (g_hash_table_contains (c->index, key)) {
    g_bytes_unref (key);
    return TRUE;
  }
  buf = g_malloc (rec);
  memcpy (buf, g_bytes_get_data (key, NULL), 32);
  memcpy (buf + 32, vec, (gsize) c->dim * 4);
  sum = GUINT32_TO_LE (fnv1a (buf, rec - 4));
  memcpy (buf + rec - 4, &sum, 4);
  w = write (c->fd, buf, rec);
  g_free (buf);
  if (w != (ssize_t) rec) {
    g_set_error (error, ETP_ERROR, ETP_ERROR_IO,
        "cannot append to feature cache %s: %s", c->path,
        w < 0 ? g_strerror (errno) : "short write");
    g_bytes_unref (key);
    return FALSE;
  }
  g_hash_table_insert (c->index, key, GUINT_TO_POINTER (c->vecs->len / c->dim + 1));
  g_array_append_vals (c->vecs, vec, c->dim);
  return TRUE;
}
