#include "io/matv4.h"
#include "util/etperror.h"

#include <string.h>

static const guint prec_size[6] = { 8, 4, 4, 2, 2, 1 };

static guint32
rd32 (const guint8 * p)
{
  return p[0] | (p[1] << 8) | ((guint32) p[2] << 16) | ((guint32) p[3] << 24);
}

gboolean
etp_matv4_parse (const gchar * path, const guint8 * buf, gsize len,
    EtpMatV4 * m, GError ** error)
{
  memset (m, 0, sizeof *m);
  if (len < 20) {
    g_set_error (error, ETP_ERROR, ETP_ERROR_FORMAT,
        "%s: too short for a MATLAB v4 matrix (%" G_GSIZE_FORMAT " bytes)",
        path, len);
    return FALSE;
  }
  if (len >= 116 && memcmp (buf, "MATLAB 5.0", 10) == 0) {
    g_set_error (error, ETP_ERROR, ETP_ERROR_UNSUPPORTED,
        "%s: is a MATLAB v5 file; WFDB .mat signal files are MATLAB v4", path);
    return FALSE;
  }
  guint32 type = rd32 (buf);
  guint32 rows = rd32 (buf + 4);
  guint32 cols = rd32 (buf + 8);
  guint32 imagf = rd32 (buf + 12);
  guint32 namlen = rd32 (buf + 16);
  guint mach = type / 1000, o = (type / 100) % 10, p = (type / 10) % 10,
      t = type % 10;
  if (type >= 10000 || o != 0) {
    g_set_error (error, ETP_ERROR, ETP_ERROR_FORMAT,
        "%s: not a MATLAB v4 file (type word %u)", path, type);
    return FALSE;
  }
  if (mach != 0 || t != 0 || imagf != 0 || p > 5) {
    g_set_error (error, ETP_ERROR, ETP_ERROR_UNSUPPORTED,
        "%s: MATLAB v4 matrix of type %u (only little-endian, real, full "
        "numeric matrices are supported)", path, type);
    return FALSE;
  }
  if (namlen == 0 || namlen > 63 || 20 + (guint64) namlen > len) {
    g_set_error (error, ETP_ERROR, ETP_ERROR_FORMAT,
        "%s: bad MATLAB v4 name length %u", path, namlen);
    return FALSE;
  }
  memcpy (m->name, buf + 20, namlen);
  m->name[namlen] = '\0';
  m->rows = rows;
  m->cols = cols;
  m->prec = (gint) p;
  m->is_float = p <= 1;
  m->data_offset = 20 + namlen;
  guint64 need = (guint64) rows * cols * prec_size[p];
  if (rows == 0 || need > len - m->data_offset) {
    g_set_error (error, ETP_ERROR, ETP_ERROR_MISMATCH,
        "%s: matrix '%s' declares %u x %u values (%" G_GUINT64_FORMAT
        " bytes) but the file holds %" G_GSIZE_FORMAT " bytes of data "
        "(truncated or absurd size)", path, m->name, rows, cols, need,
        len - m->data_offset);
    return FALSE;
  }
  m->data = buf + m->data_offset;
  return TRUE;
}

static gdouble
value_at (const EtpMatV4 * m, guint64 i)
{
  const guint8 *q = m->data + i * prec_size[m->prec];
  switch (m->prec) {
    case 0:{
      guint64 u = rd32 (q) | ((guint64) rd32 (q + 4) << 32);
      gdouble d;
      memcpy (&d, &u, 8);
      return d;
    }
    case 1:{
      guint32 u = rd32 (q);
      gfloat f;
      memcpy (&f, &u, 4);
      return f;
    }
    case 2:
      return (gint32) rd32 (q);
    case 3:
      return (gint16) (q[0] | (q[1] << 8));
    case 4:
      return (guint16) (q[0] | (q[1] << 8));
    default:
      return q[0];
  }
}

void
etp_matv4_get_ints (const EtpMatV4 * m, gint32 * out)
{
  guint64 n = (guint64) m->rows * m->cols;
  if (m->prec == 3) {
    const guint8 *q = m->data;
    for (guint64 i = 0; i < n; i++)
      out[i] = (gint16) (q[2 * i] | (q[2 * i + 1] << 8));
    return;
  }
  for (guint64 i = 0; i < n; i++)
    out[i] = (gint32) value_at (m, i);
}

void
etp_matv4_get_doubles (const EtpMatV4 * m, gdouble * out)
{
  guint64 n = (guint64) m->rows * m->cols;
  for (guint64 i = 0; i < n; i++)
    out[i] = value_at (m, i);
}

gboolean
etp_matv4_write (const gchar * path, const gchar * name, gint prec,
    guint rows, guint64 cols, const void *data, GError ** error)
{
  guint32 namlen = (guint32) strlen (name) + 1;
  guint64 nbytes = (guint64) rows * cols * prec_size[prec];
  gsize total = 20 + namlen + nbytes;
  guint8 *buf = g_malloc0 (total);
  guint32 hdr[5] = { (guint32) prec * 10, rows, (guint32) cols, 0, namlen };
  for (int k = 0; k < 5; k++) {
    buf[4 * k] = hdr[k] & 0xff;
    buf[4 * k + 1] = (hdr[k] >> 8) & 0xff;
    buf[4 * k + 2] = (hdr[k] >> 16) & 0xff;
    buf[4 * k + 3] = (hdr[k] >> 24) & 0xff;
  }
  memcpy (buf + 20, name, namlen);
  memcpy (buf + 20 + namlen, data, nbytes);   /* host is little-endian here */
  gboolean ok = g_file_set_contents (path, (const gchar *) buf, total, error);
  g_free (buf);
  return ok;
}
