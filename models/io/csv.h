/* A small RFC 4180 CSV reader (quoted fields, "" escapes, newlines inside
 * quotes, CRLF). Rows with a different field count than the header are
 * errors naming the file and line. */
#ifndef ETP_IO_CSV_H
#define ETP_IO_CSV_H

#include <glib.h>

G_BEGIN_DECLS

typedef struct {
  gchar *path;
  gchar **header;            /* n_cols names */
  guint n_cols;
  guint n_rows;
  gchar ***rows;             /* n_rows x n_cols */
  guint *lines;              /* 1-based line number where each row starts */
} EtpCsv;

/* Largest CSV accepted (bytes). */
#define ETP_CSV_MAX_BYTES (512u * 1024u * 1024u)

EtpCsv *etp_csv_read (const gchar * path, GError ** error);
EtpCsv *etp_csv_parse (const gchar * path, const gchar * text, gsize len,
    GError ** error);
void etp_csv_free (EtpCsv * csv);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (EtpCsv, etp_csv_free)

/* Index of column @name (exact match), or -1. */
gint etp_csv_column (const EtpCsv * csv, const gchar * name);

/* Cell (row, col), "" when col < 0. */
static inline const gchar *
etp_csv_cell (const EtpCsv * csv, guint row, gint col)
{
  return col < 0 ? "" : csv->rows[row][col];
}

/* Parses a Python dict literal of string keys and numeric values, e.g. the
 * PTB-XL scp_codes "{'NORM': 100.0, 'SR': 0.0}". Returns keys (in order)
 * and fills @values (same length) or returns NULL when malformed. */
gchar **etp_parse_py_dict (const gchar * text, gdouble ** values);

/* Parses a Python list literal of strings "['NORM', 'MI']"; NULL if malformed. */
gchar **etp_parse_py_list (const gchar * text);

G_END_DECLS

#endif
