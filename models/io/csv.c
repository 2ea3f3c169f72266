#include "io/csv.h"
#include "util/etperror.h"

#include <glib/gstdio.h>
#include <errno.h>
#include <string.h>

void
etp_csv_free (EtpCsv * csv)
{
  if (!csv)
    return;
  for (guint r = 0; r < csv->n_rows; r++)
    g_strfreev (csv->rows[r]);
  g_free (csv->rows);
  g_free (csv->lines);
  g_strfreev (csv->header);
  g_free (csv->path);
  g_free (csv);
}

gint
etp_csv_column (const EtpCsv * csv, const gchar * name)
{
  for (guint c = 0; c < csv->n_cols; c++)
    if (strcmp (csv->header[c], name) == 0)
      return (gint) c;
  return -1;
}

/* Reads one record (row) starting at *pos; returns NULL at end of text. */
static gchar **
next_row (const gchar * path, const gchar * t, gsize len, gsize * pos,
    guint * line, guint * nfields, guint * start, GError ** error)
{
  GPtrArray *fields;
  GString *cur;
  gsize i = *pos;
  guint start_line = *line;

  /* skip blank lines */
  while (i < len && (t[i] == '\n' || t[i] == '\r')) {
    if (t[i] == '\n')
      (*line)++;
    i++;
  }
  if (i >= len) {
    *pos = i;
    return NULL;
  }
  start_line = *line;
  if (start)
    *start = start_line;
  fields = g_ptr_array_new ();
  cur = g_string_new (NULL);
  gboolean quoted = FALSE, was_quoted = FALSE;
  for (;;) {
    if (i >= len) {
      if (quoted) {
        g_set_error (error, ETP_ERROR, ETP_ERROR_FORMAT,
            "%s:%u: unterminated quoted field", path, start_line);
        g_string_free (cur, TRUE);
        g_ptr_array_set_free_func (fields, g_free);
        g_ptr_array_free (fields, TRUE);
        return NULL;
      }
      g_ptr_array_add (fields, g_string_free (cur, FALSE));
      break;
    }
    gchar ch = t[i];
    if (quoted) {
      if (ch == '"') {
        if (i + 1 < len && t[i + 1] == '"') {
          g_string_append_c (cur, '"');
          i += 2;
          continue;
        }
        quoted = FALSE;
        i++;
        continue;
      }
      if (ch == '\n')
        (*line)++;
      g_string_append_c (cur, ch);
      i++;
      continue;
    }
    if (ch == '"' && cur->len == 0 && !was_quoted) {
      quoted = TRUE;
      was_quoted = TRUE;
      i++;
      continue;
    }
    if (ch == ',') {
      g_ptr_array_add (fields, g_string_free (cur, FALSE));
      cur = g_string_new (NULL);
      was_quoted = FALSE;
      i++;
      continue;
    }
    if (ch == '\r' && i + 1 < len && t[i + 1] == '\n') {
      i++;
      continue;
    }
    if (ch == '\n') {
      (*line)++;
      i++;
      g_ptr_array_add (fields, g_string_free (cur, FALSE));
      break;
    }
    if (was_quoted) {
      g_set_error (error, ETP_ERROR, ETP_ERROR_FORMAT,
          "%s:%u: text after a closing quote in field %u", path, start_line,
          fields->len + 1);
      g_string_free (cur, TRUE);
      g_ptr_array_set_free_func (fields, g_free);
      g_ptr_array_free (fields, TRUE);
      return NULL;
    }
    g_string_append_c (cur, ch);
    i++;
  }
  *pos = i;
  *nfields = fields->len;
  g_ptr_array_add (fields, NULL);
  return (gchar **) g_ptr_array_free (fields, FALSE);
}

EtpCsv *
etp_csv_parse (const gchar * path, const gchar * text, gsize len,
    GError ** error)
{
  gsize pos = 0;
  guint line = 1, nf = 0;
  GError *err = NULL;
  EtpCsv *csv = g_new0 (EtpCsv, 1);
  csv->path = g_strdup (path);

  /* UTF-8 BOM */
  if (len >= 3 && memcmp (text, "\xef\xbb\xbf", 3) == 0)
    pos = 3;
  csv->header = next_row (path, text, len, &pos, &line, &nf, NULL, &err);
  if (csv->header == NULL) {
    if (err)
      g_propagate_error (error, err);
    else
      g_set_error (error, ETP_ERROR, ETP_ERROR_FORMAT, "%s: empty CSV file",
          path);
    etp_csv_free (csv);
    return NULL;
  }
  csv->n_cols = nf;
  GPtrArray *rows = g_ptr_array_new ();
  GArray *lines = g_array_new (FALSE, FALSE, sizeof (guint));
  for (;;) {
    guint at = 0;
    gchar **row = next_row (path, text, len, &pos, &line, &nf, &at, &err);
    if (row == NULL)
      break;
    if (nf != csv->n_cols) {
      g_set_error (&err, ETP_ERROR, ETP_ERROR_FORMAT,
          "%s:%u: malformed row: %u fields, the header has %u",
          path, at, nf, csv->n_cols);
      g_strfreev (row);
      break;
    }
    g_ptr_array_add (rows, row);
    g_array_append_val (lines, at);
  }
  csv->n_rows = rows->len;
  csv->rows = (gchar ***) g_ptr_array_free (rows, FALSE);
  csv->lines = (guint *) g_array_free (lines, FALSE);
  if (err) {
    g_propagate_error (error, err);
    etp_csv_free (csv);
    return NULL;
  }
  return csv;
}

EtpCsv *
etp_csv_read (const gchar * path, GError ** error)
{
  GStatBuf st;
  gchar *text = NULL;
  gsize len = 0;
  if (g_stat (path, &st) != 0) {
    g_set_error (error, ETP_ERROR, ETP_ERROR_MISSING, "%s: cannot open: %s",
        path, g_strerror (errno));
    return NULL;
  }
  if ((guint64) st.st_size > ETP_CSV_MAX_BYTES) {
    g_set_error (error, ETP_ERROR, ETP_ERROR_FORMAT,
        "%s: %lld bytes is too large for a CSV table", path,
        (long long) st.st_size);
    return NULL;
  }
  if (!g_file_get_contents (path, &text, &len, error))
    return NULL;
  EtpCsv *csv = etp_csv_parse (path, text, len, error);
  g_free (text);
  return csv;
}

static const gchar *
skip_ws (const gchar * p)
{
  while (*p == ' ' || *p == '\t')
    p++;
  return p;
}

/* Reads a '...' or "..." string literal at p; returns the end or NULL. */
static const gchar *
read_py_string (const gchar * p, gchar ** out)
{
  gchar q = *p;
  if (q != '\'' && q != '"')
    return NULL;
  const gchar *s = ++p;
  while (*p && *p != q)
    p++;
  if (*p != q)
    return NULL;
  *out = g_strndup (s, p - s);
  return p + 1;
}

gchar **
etp_parse_py_dict (const gchar * text, gdouble ** values)
{
  const gchar *p = skip_ws (text);
  GPtrArray *keys = g_ptr_array_new_with_free_func (g_free);
  GArray *vals = g_array_new (FALSE, FALSE, sizeof (gdouble));
  if (*p != '{')
    goto bad;
  p = skip_ws (p + 1);
  while (*p != '}') {
    gchar *k = NULL;
    p = read_py_string (p, &k);
    if (!p)
      goto bad;
    g_ptr_array_add (keys, k);
    p = skip_ws (p);
    if (*p != ':')
      goto bad;
    p = skip_ws (p + 1);
    gchar *end = NULL;
    gdouble v = g_ascii_strtod (p, &end);
    if (end == p)
      goto bad;
    g_array_append_val (vals, v);
    p = skip_ws (end);
    if (*p == ',')
      p = skip_ws (p + 1);
    else if (*p != '}')
      goto bad;
  }
  if (*skip_ws (p + 1) != '\0')
    goto bad;
  g_ptr_array_add (keys, NULL);
  if (values)
    *values = (gdouble *) g_array_free (vals, FALSE);
  else
    g_array_free (vals, TRUE);
  g_ptr_array_set_free_func (keys, NULL);
  return (gchar **) g_ptr_array_free (keys, FALSE);
bad:
  g_ptr_array_free (keys, TRUE);
  g_array_free (vals, TRUE);
  return NULL;
}

gchar **
etp_parse_py_list (const gchar * text)
{
  const gchar *p = skip_ws (text);
  GPtrArray *items = g_ptr_array_new_with_free_func (g_free);
  if (*p != '[')
    goto bad;
  p = skip_ws (p + 1);
  while (*p != ']') {
    gchar *k = NULL;
    p = read_py_string (p, &k);
    if (!p)
      goto bad;
    g_ptr_array_add (items, k);
    p = skip_ws (p);
    if (*p == ',')
      p = skip_ws (p + 1);
    else if (*p != ']')
      goto bad;
  }
  g_ptr_array_add (items, NULL);
  g_ptr_array_set_free_func (items, NULL);
  return (gchar **) g_ptr_array_free (items, FALSE);
bad:
  g_ptr_array_free (items, TRUE);
  return NULL;
}
