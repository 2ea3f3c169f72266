/* MATLAB v4 (Level 1.0) matrices, as PhysioNet/CinC stores WFDB signals
 * ("16+24": one int16 matrix "val", signals x samples, column-major). */
#ifndef ETP_IO_MATV4_H
#define ETP_IO_MATV4_H

#include <glib.h>

G_BEGIN_DECLS

typedef struct {
  gchar name[64];
  guint rows;
  guint64 cols;
  gint prec;                 /* 0 double, 1 float, 2 int32, 3 int16, 4 uint16, 5 uint8 */
  gboolean is_float;
  const guint8 *data;        /* points into the caller's buffer */
  gsize data_offset;
} EtpMatV4;

/* Parses the first matrix of a little-endian v4 file held in @buf. Checks that
 * the declared size fits in @len (nothing is allocated). @path names errors. */
gboolean etp_matv4_parse (const gchar * path, const guint8 * buf, gsize len,
    EtpMatV4 * m, GError ** error);

/* Converts the rows x cols values (column-major, i.e. frame-interleaved) */
void etp_matv4_get_ints (const EtpMatV4 * m, gint32 * out);
void etp_matv4_get_doubles (const EtpMatV4 * m, gdouble * out);

/* Writes a little-endian v4 file with one matrix (for tests / tools). */
gboolean etp_matv4_write (const gchar * path, const gchar * name, gint prec,
    guint rows, guint64 cols, const void *data, GError ** error);

G_END_DECLS

#endif
