/* Static word vectors: .etpwv reader/writer, streaming converter, pooling. */
#include "text/wordvec.h"
#include "util/etperror.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define HEADER_SIZE 128

struct _EtpWordVec {
  GMappedFile *map;
  const guint8 *base;
  gsize size;
  guint dim;
  guint64 n;
  const gfloat *matrix;
  const guint32 *rank;
  const guint64 *stroff;
  const gchar *strings;
  const guint32 *sorted;
  gdouble harmonic;             /* H_N for Zipf p(w) */
  gchar *path;
};

static guint64
rd64 (const guint8 * p)
{
  guint64 v;
  memcpy (&v, p, 8);
  return GUINT64_FROM_LE (v);
}

static guint32
rd32 (const guint8 * p)
{
  guint32 v;
  memcpy (&v, p, 4);
  return GUINT32_FROM_LE (v);
}

gboolean
etp_wordvec_file_is_wordvec (const gchar * path)
{
  FILE *f = fopen (path, "rb");
  gchar magic[8];
  gboolean ok = FALSE;
  if (f == NULL)
    return FALSE;
  if (fread (magic, 1, 8, f) == 8 && memcmp (magic, ETP_WORDVEC_MAGIC, 8) == 0)
    ok = TRUE;
  fclose (f);
  return ok;
}

EtpWordVec *
etp_wordvec_open (const gchar * path, GError ** error)
{
  GError *err = NULL;
  GMappedFile *map = g_mapped_file_new (path, FALSE, &err);
  EtpWordVec *wv;
  const guint8 *b;
  gsize size;
  guint64 mo, ro, so, sto, ss, sorted, fsize, i;

  if (map == NULL) {
    g_set_error (error, ETP_ERROR, ETP_ERROR_IO,
        "cannot open word-vector file %s: %s", path, err->message);
    g_error_free (err);
    return NULL;
  }
  b = (const guint8 *) g_mapped_file_get_contents (map);
  size = g_mapped_file_get_length (map);
  if (size < HEADER_SIZE || memcmp (b, ETP_WORDVEC_MAGIC, 8) != 0) {
    g_set_error (error, ETP_ERROR, ETP_ERROR_FORMAT,
        "%s is not a word-vector file (no %s header; convert GloVe JSON/text "
        "with etp-wordvec-convert)", path, ETP_WORDVEC_MAGIC);
    g_mapped_file_unref (map);
    return NULL;
  }
  wv = g_new0 (EtpWordVec, 1);
  wv->map = map;
  wv->base = b;
  wv->size = size;
  wv->path = g_strdup (path);
  wv->dim = rd32 (b + 8);
  wv->n = rd64 (b + 16);
  mo = rd64 (b + 24);
  ro = rd64 (b + 32);
  so = rd64 (b + 40);
  sto = rd64 (b + 48);
  ss = rd64 (b + 56);
  sorted = rd64 (b + 64);
  fsize = rd64 (b + 72);
  if (fsize != size) {
    g_set_error (error, ETP_ERROR, ETP_ERROR_FORMAT,
        "%s: file has %" G_GSIZE_FORMAT " bytes, header says %" G_GUINT64_FORMAT
        " (truncated or still being written)", path, size, fsize);
    goto fail;
  }
  if (wv->dim == 0 || wv->dim > 65536 || wv->n == 0 || wv->n > G_MAXUINT32
      || mo % 4 || ro % 4 || so % 8 || sorted % 4
      || mo + wv->n * wv->dim * 4 > size || ro + wv->n * 4 > size
      || so + (wv->n + 1) * 8 > size || sto + ss > size
      || sorted + wv->n * 4 > size) {
    g_set_error (error, ETP_ERROR, ETP_ERROR_FORMAT,
        "%s: inconsistent header (dim %u, %" G_GUINT64_FORMAT " words)", path,
        wv->dim, wv->n);
    goto fail;
  }
  wv->matrix = (const gfloat *) (b + mo);
  wv->rank = (const guint32 *) (b + ro);
  wv->stroff = (const guint64 *) (b + so);
  wv->strings = (const gchar *) (b + sto);
  wv->sorted = (const guint32 *) (b + sorted);
  if (GUINT64_FROM_LE (wv->stroff[wv->n]) != ss) {
    g_set_error (error, ETP_ERROR, ETP_ERROR_FORMAT,
        "%s: string table size disagrees with the header", path);
    goto fail;
  }
  for (i = 0; i < wv->n; i++) {
    if (GUINT32_FROM_LE (wv->sorted[i]) >= wv->n) {
      g_set_error (error, ETP_ERROR, ETP_ERROR_FORMAT,
          "%s: sorted index entry %" G_GUINT64_FORMAT " out of range", path, i);
      goto fail;
    }
  }
  wv->harmonic = log ((gdouble) wv->n) + 0.5772156649;
  return wv;
fail:
  etp_wordvec_free (wv);
  return NULL;
}

void
etp_wordvec_free (EtpWordVec * wv)
{
  if (wv == NULL)
    return;
  g_mapped_file_unref (wv->map);
  g_free (wv->path);
  g_free (wv);
}

guint
etp_wordvec_dim (const EtpWordVec * wv)
{
  return wv->dim;
}

guint64
etp_wordvec_n_words (const EtpWordVec * wv)
{
  return wv->n;
}

static gint
cmp_word (const EtpWordVec * wv, guint32 row, const gchar * w, gsize len)
{
  guint64 a = GUINT64_FROM_LE (wv->stroff[row]);
  guint64 e = GUINT64_FROM_LE (wv->stroff[row + 1]);
  gsize l = (gsize) (e - a);
  gint c = memcmp (wv->strings + a, w, MIN (l, len));
  if (c != 0)
    return c;
  return l < len ? -1 : (l > len ? 1 : 0);
}

gint64
etp_wordvec_lookup (const EtpWordVec * wv, const gchar * word, gssize len)
{
  guint64 lo = 0, hi = wv->n;
  gsize l = len < 0 ? strlen (word) : (gsize) len;
  while (lo < hi) {
    guint64 mid = (lo + hi) / 2;
    guint32 row = GUINT32_FROM_LE (wv->sorted[mid]);
    gint c = cmp_word (wv, row, word, l);
    if (c == 0)
      return row;
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return -1;
}

const gfloat *
etp_wordvec_row (const EtpWordVec * wv, guint64 row)
{
  return wv->matrix + row * wv->dim;
}

guint32
etp_wordvec_rank (const EtpWordVec * wv, guint64 row)
{
  return GUINT32_FROM_LE (wv->rank[row]);
}

gchar **
etp_wordvec_split (const gchar * text)
{
  gchar *lower = g_utf8_strdown (text, -1);
  GPtrArray *words = g_ptr_array_new ();
  const gchar *p = lower, *start = NULL;

  for (;; p = g_utf8_next_char (p)) {
    gunichar c = *p ? g_utf8_get_char (p) : 0;
    gboolean word_char = c != 0 && (g_unichar_isalnum (c)
        || g_unichar_type (c) == G_UNICODE_NON_SPACING_MARK);
    if (word_char && start == NULL)
      start = p;
    else if (!word_char && start != NULL) {
      g_ptr_array_add (words, g_strndup (start, p - start));
      start = NULL;
    }
    if (c == 0)
      break;
  }
  g_ptr_array_add (words, NULL);
  g_free (lower);
  return (gchar **) g_ptr_array_free (words, FALSE);
}

gboolean
etp_wordvec_encode (const EtpWordVec * wv, const gchar * text,
    EtpWordVecPooling pooling, gfloat * out, guint * n_words, guint * n_found,
    GError ** error)
{
  gchar **words;
  guint i, k, found = 0, total;
  gdouble *acc;
  gdouble wsum = 0.0;

  if (!g_utf8_validate (text, -1, NULL)) {
    g_set_error (error, ETP_ERROR, ETP_ERROR_INVALID,
        "text is not valid UTF-8");
    return FALSE;
  }
  words = etp_wordvec_split (text);
  total = g_strv_length (words);
  acc = g_new0 (gdouble, wv->dim);
  for (i = 0; i < total; i++) {
    gint64 row = etp_wordvec_lookup (wv, words[i], -1);
    const gfloat *v;
    gdouble w = 1.0;
    if (row < 0)
      continue;
    v = etp_wordvec_row (wv, row);
    if (pooling == ETP_WORDVEC_POOL_SIF) {
      gdouble p = 1.0 / (((gdouble) etp_wordvec_rank (wv, row) + 1.0)
          * wv->harmonic);
      w = ETP_WORDVEC_SIF_A / (ETP_WORDVEC_SIF_A + p);
    }
    for (k = 0; k < wv->dim; k++)
      acc[k] += w * v[k];
    wsum += w;
    found++;
  }
  for (k = 0; k < wv->dim; k++)
    out[k] = found ? (gfloat) (acc[k] / (pooling == ETP_WORDVEC_POOL_SIF
            ? (gdouble) found : wsum)) : 0.0f;
  g_free (acc);
  g_strfreev (words);
  if (n_words)
    *n_words = total;
  if (n_found)
    *n_found = found;
  return TRUE;
}

/* ---------------------------------------------------------------- writer */

struct _EtpWordVecWriter {
  FILE *f;
  gchar *path;
  guint dim;
  GPtrArray *words;
  GArray *ranks;
  GHashTable *seen;
  guint64 n;
};

EtpWordVecWriter *
etp_wordvec_writer_new (const gchar * path, guint dim, GError ** error)
{
  EtpWordVecWriter *w;
  guint8 zero[HEADER_SIZE] = { 0 };
  FILE *f;

  if (dim == 0 || dim > 65536) {
    g_set_error (error, ETP_ERROR, ETP_ERROR_INVALID,
        "word-vector dimension %u out of range", dim);
    return NULL;
  }
  f = fopen (path, "wb");
  if (f == NULL) {
    g_set_error (error, ETP_ERROR, ETP_ERROR_IO, "cannot create %s: %s", path,
        g_strerror (errno));
    return NULL;
  }
  fwrite (zero, 1, HEADER_SIZE, f);
  w = g_new0 (EtpWordVecWriter, 1);
  w->f = f;
  w->path = g_strdup (path);
  w->dim = dim;
  w->words = g_ptr_array_new_with_free_func (g_free);
  w->ranks = g_array_new (FALSE, FALSE, sizeof (guint32));
  w->seen = g_hash_table_new (g_str_hash, g_str_equal);
  return w;
}

gboolean
etp_wordvec_writer_add (EtpWordVecWriter * w, const gchar * word,
    const gfloat * vec, guint32 rank, GError ** error)
{
  gchar *copy;
  guint k;
  if (g_hash_table_contains (w->seen, word))
    return TRUE;                /* first occurrence wins */
  for (k = 0; k < w->dim; k++) {
    guint32 u;
    memcpy (&u, &vec[k], 4);
    u = GUINT32_TO_LE (u);
    if (fwrite (&u, 4, 1, w->f) != 1) {
      g_set_error (error, ETP_ERROR, ETP_ERROR_IO, "cannot write %s: %s",
          w->path, g_strerror (errno));
      return FALSE;
    }
  }
  copy = g_strdup (word);
  g_ptr_array_add (w->words, copy);
  g_hash_table_add (w->seen, copy);
  if (rank == G_MAXUINT32)
    rank = (guint32) w->n;
  g_array_append_val (w->ranks, rank);
  w->n++;
  return TRUE;
}

static GPtrArray *sort_words;

static gint
cmp_rows (gconstpointer a, gconstpointer b)
{
  const gchar *wa = g_ptr_array_index (sort_words, *(const guint32 *) a);
  const gchar *wb = g_ptr_array_index (sort_words, *(const guint32 *) b);
  return strcmp (wa, wb);
}

static gboolean
write_u64 (FILE * f, guint64 v)
{
  v = GUINT64_TO_LE (v);
  return fwrite (&v, 8, 1, f) == 1;
}

static gboolean
write_u32 (FILE * f, guint32 v)
{
  v = GUINT32_TO_LE (v);
  return fwrite (&v, 4, 1, f) == 1;
}

static void
pad_to (FILE * f, guint align)
{
  long pos = ftell (f);
  while (pos % align) {
    fputc (0, f);
    pos++;
  }
}

gboolean
etp_wordvec_writer_finish (EtpWordVecWriter * w, GError ** error)
{
  guint64 ro, so, sto, ss = 0, sorted_off, fsize, i;
  guint32 *order;
  gboolean ok = TRUE;
  guint8 hdr[HEADER_SIZE] = { 0 };
  guint32 dim_le;
  guint64 v;

  if (w->n == 0) {
    g_set_error (error, ETP_ERROR, ETP_ERROR_FORMAT,
        "%s: no word vectors were read", w->path);
    return FALSE;
  }
  pad_to (w->f, 8);
  ro = ftell (w->f);
  for (i = 0; i < w->n; i++)
    ok &= write_u32 (w->f, g_array_index (w->ranks, guint32, i));
  pad_to (w->f, 8);
  so = ftell (w->f);
  for (i = 0; i < w->n; i++) {
    ok &= write_u64 (w->f, ss);
    ss += strlen (g_ptr_array_index (w->words, i));
  }
  ok &= write_u64 (w->f, ss);
  sto = ftell (w->f);
  for (i = 0; i < w->n; i++) {
    const gchar *s = g_ptr_array_index (w->words, i);
    ok &= fwrite (s, 1, strlen (s), w->f) == strlen (s) || strlen (s) == 0;
  }
  pad_to (w->f, 8);
  sorted_off = ftell (w->f);
  order = g_new (guint32, w->n);
  for (i = 0; i < w->n; i++)
    order[i] = (guint32) i;
  sort_words = w->words;
  qsort (order, w->n, sizeof (guint32), cmp_rows);
  sort_words = NULL;
  for (i = 0; i < w->n; i++)
    ok &= write_u32 (w->f, order[i]);
  g_free (order);
  fsize = ftell (w->f);

  memcpy (hdr, ETP_WORDVEC_MAGIC, 8);
  dim_le = GUINT32_TO_LE (w->dim);
  memcpy (hdr + 8, &dim_le, 4);
#define PUT64(off, val) do { v = GUINT64_TO_LE (val); memcpy (hdr + (off), &v, 8); } while (0)
  PUT64 (16, w->n);
  PUT64 (24, (guint64) HEADER_SIZE);
  PUT64 (32, ro);
  PUT64 (40, so);
  PUT64 (48, sto);
  PUT64 (56, ss);
  PUT64 (64, sorted_off);
  PUT64 (72, fsize);
#undef PUT64
  if (fseek (w->f, 0, SEEK_SET) != 0)
    ok = FALSE;
  ok &= fwrite (hdr, 1, HEADER_SIZE, w->f) == HEADER_SIZE;
  ok &= fflush (w->f) == 0;
  if (!ok)
    g_set_error (error, ETP_ERROR, ETP_ERROR_IO, "cannot write %s: %s",
        w->path, g_strerror (errno));
  return ok;
}

void
etp_wordvec_writer_free (EtpWordVecWriter * w)
{
  if (w == NULL)
    return;
  if (w->f)
    fclose (w->f);
  g_hash_table_destroy (w->seen);
  g_ptr_array_free (w->words, TRUE);
  g_array_free (w->ranks, TRUE);
  g_free (w->path);
  g_free (w);
}

/* ------------------------------------------------- streaming JSON lexer */

typedef enum {
  TK_EOF, TK_LBRACE, TK_RBRACE, TK_LBRACK, TK_RBRACK, TK_COLON, TK_COMMA,
  TK_STRING, TK_NUMBER, TK_LITERAL, TK_ERROR
} TokKind;

typedef struct {
  FILE *in;
  GString *str;                 /* string / number / literal text */
  guint64 offset;
  gint peeked;
} Lexer;

static gint
lx_getc (Lexer * lx)
{
  gint c;
  if (lx->peeked != EOF - 1) {
    c = lx->peeked;
    lx->peeked = EOF - 1;
    return c;
  }
  c = getc_unlocked (lx->in);
  if (c != EOF)
    lx->offset++;
  return c;
}

static TokKind
lx_next (Lexer * lx)
{
  gint c;
  do {
    c = lx_getc (lx);
  } while (c == ' ' || c == '\n' || c == '\r' || c == '\t');
  switch (c) {
    case EOF:
      return TK_EOF;
    case '{':
      return TK_LBRACE;
    case '}':
      return TK_RBRACE;
    case '[':
      return TK_LBRACK;
    case ']':
      return TK_RBRACK;
    case ':':
      return TK_COLON;
    case ',':
      return TK_COMMA;
    case '"':
      g_string_truncate (lx->str, 0);
      for (;;) {
        c = lx_getc (lx);
        if (c == EOF)
          return TK_ERROR;
        if (c == '"')
          return TK_STRING;
        if (c == '\\') {
          c = lx_getc (lx);
          switch (c) {
            case 'n': g_string_append_c (lx->str, '\n'); break;
            case 't': g_string_append_c (lx->str, '\t'); break;
            case 'r': g_string_append_c (lx->str, '\r'); break;
            case 'b': g_string_append_c (lx->str, '\b'); break;
            case 'f': g_string_append_c (lx->str, '\f'); break;
            case 'u': {
              gchar hex[5] = { 0 };
              gint i;
              gunichar u;
              for (i = 0; i < 4; i++) {
                gint h = lx_getc (lx);
                if (!g_ascii_isxdigit (h))
                  return TK_ERROR;
                hex[i] = (gchar) h;
              }
              u = (gunichar) strtoul (hex, NULL, 16);
              if (u >= 0xD800 && u <= 0xDBFF) {
                /* surrogate pair */
                gint h1 = lx_getc (lx), h2 = lx_getc (lx);
                gunichar lo;
                if (h1 != '\\' || h2 != 'u')
                  return TK_ERROR;
                for (i = 0; i < 4; i++) {
                  gint h = lx_getc (lx);
                  if (!g_ascii_isxdigit (h))
                    return TK_ERROR;
                  hex[i] = (gchar) h;
                }
                lo = (gunichar) strtoul (hex, NULL, 16);
                u = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
              }
              g_string_append_unichar (lx->str, u);
              break;
            }
            case EOF:
              return TK_ERROR;
            default:
              g_string_append_c (lx->str, (gchar) c);
          }
        } else {
          g_string_append_c (lx->str, (gchar) c);
        }
      }
    default:
      if (c == '-' || c == '+' || c == '.' || g_ascii_isalnum (c)) {
        gboolean number = c == '-' || c == '+' || c == '.' || g_ascii_isdigit (c);
        g_string_truncate (lx->str, 0);
        while (c == '-' || c == '+' || c == '.' || g_ascii_isalnum (c)) {
          g_string_append_c (lx->str, (gchar) c);
          c = lx_getc (lx);
        }
        lx->peeked = c;
        return number ? TK_NUMBER : TK_LITERAL;
      }
      return TK_ERROR;
  }
}

/* Skips one value whose first token is @t. */
static gboolean
lx_skip_value (Lexer * lx, TokKind t)
{
  gint depth = 0;
  for (;;) {
    switch (t) {
      case TK_LBRACE:
      case TK_LBRACK:
        depth++;
        break;
      case TK_RBRACE:
      case TK_RBRACK:
        depth--;
        break;
      case TK_EOF:
      case TK_ERROR:
        return FALSE;
      default:
        break;
    }
    if (depth == 0)
      return TRUE;
    t = lx_next (lx);
  }
}

static gboolean
convert_json (Lexer * lx, const gchar * out_path, guint64 * n_words,
    GError ** error)
{
  TokKind t;
  guint dim = 0;
  EtpWordVecWriter *w = NULL;
  GArray *vals = g_array_new (FALSE, FALSE, sizeof (gfloat));
  GString *word = g_string_new (NULL);
  gboolean ok = FALSE, seen_vectors = FALSE;

  /* the opening brace has been read */
  for (;;) {
    GString *key;
    t = lx_next (lx);
    if (t == TK_RBRACE)
      break;
    if (t == TK_COMMA)
      continue;
    if (t != TK_STRING)
      goto syntax;
    key = g_string_new (lx->str->str);
    if (lx_next (lx) != TK_COLON) {
      g_string_free (key, TRUE);
      goto syntax;
    }
    t = lx_next (lx);
    if (strcmp (key->str, "dimensions") == 0 && t == TK_NUMBER) {
      dim = (guint) g_ascii_strtoull (lx->str->str, NULL, 10);
    } else if (strcmp (key->str, "vectors") == 0 && t == TK_LBRACE) {
      if (dim == 0) {
        g_set_error (error, ETP_ERROR, ETP_ERROR_FORMAT,
            "word-vector JSON: \"vectors\" comes before \"dimensions\"");
        g_string_free (key, TRUE);
        goto out;
      }
      w = etp_wordvec_writer_new (out_path, dim, error);
      if (w == NULL) {
        g_string_free (key, TRUE);
        goto out;
      }
      seen_vectors = TRUE;
      for (;;) {
        guint32 rank = G_MAXUINT32;
        t = lx_next (lx);
        if (t == TK_RBRACE)
          break;
        if (t == TK_COMMA)
          continue;
        if (t != TK_STRING || lx_next (lx) != TK_COLON
            || lx_next (lx) != TK_LBRACK) {
          g_string_free (key, TRUE);
          goto syntax;
        }
        g_string_assign (word, lx->str->str);
        g_array_set_size (vals, 0);
        for (;;) {
          t = lx_next (lx);
          if (t == TK_RBRACK)
            break;
          if (t == TK_COMMA)
            continue;
          if (t != TK_NUMBER) {
            g_string_free (key, TRUE);
            goto syntax;
          }
          {
            gfloat f = (gfloat) g_ascii_strtod (lx->str->str, NULL);
            g_array_append_val (vals, f);
          }
        }
        if (vals->len < dim) {
          g_set_error (error, ETP_ERROR, ETP_ERROR_FORMAT,
              "word-vector JSON: vector of \"%s\" has %u values, expected %u",
              word->str, vals->len, dim);
          g_string_free (key, TRUE);
          goto out;
        }
        /* wink layout: D values, then the L2 norm, then the word index */
        if (vals->len >= dim + 2)
          rank = (guint32) g_array_index (vals, gfloat, dim + 1);
        if (!etp_wordvec_writer_add (w, word->str, (gfloat *) vals->data, rank,
                error)) {
          g_string_free (key, TRUE);
          goto out;
        }
      }
    } else if (!lx_skip_value (lx, t)) {
      g_string_free (key, TRUE);
      goto syntax;
    }
    g_string_free (key, TRUE);
  }
  if (!seen_vectors) {
    g_set_error (error, ETP_ERROR, ETP_ERROR_FORMAT,
        "word-vector JSON has no \"vectors\" object");
    goto out;
  }
  if (!etp_wordvec_writer_finish (w, error))
    goto out;
  *n_words = w->n;
  ok = TRUE;
  goto out;
syntax:
  g_set_error (error, ETP_ERROR, ETP_ERROR_FORMAT,
      "word-vector JSON: syntax error near byte %" G_GUINT64_FORMAT,
      lx->offset);
out:
  etp_wordvec_writer_free (w);
  g_array_free (vals, TRUE);
  g_string_free (word, TRUE);
  return ok;
}

static gboolean
convert_text (FILE * in, gint first, const gchar * out_path,
    guint64 * n_words, GError ** error)
{
  gchar *line = NULL;
  size_t cap = 0;
  ssize_t len;
  guint dim = 0;
  guint64 lineno = 0;
  EtpWordVecWriter *w = NULL;
  GArray *vals = g_array_new (FALSE, FALSE, sizeof (gfloat));
  gboolean ok = FALSE;
  GString *pending = g_string_new (NULL);

  if (first != EOF)
    g_string_append_c (pending, (gchar) first);
  while ((len = getline (&line, &cap, in)) >= 0) {
    gchar **parts, *full;
    guint n, i;
    lineno++;
    g_string_append_len (pending, line, len);
    full = g_strstrip (pending->str);
    if (*full == '\0') {
      g_string_truncate (pending, 0);
      continue;
    }
    parts = g_strsplit_set (full, " \t", -1);
    n = g_strv_length (parts);
    g_array_set_size (vals, 0);
    for (i = 1; i < n; i++) {
      gfloat f;
      if (parts[i][0] == '\0')
        continue;
      f = (gfloat) g_ascii_strtod (parts[i], NULL);
      g_array_append_val (vals, f);
    }
    if (dim == 0) {
      dim = vals->len;
      w = etp_wordvec_writer_new (out_path, dim, error);
      if (w == NULL) {
        g_strfreev (parts);
        goto out;
      }
    }
    if (vals->len != dim) {
      g_set_error (error, ETP_ERROR, ETP_ERROR_FORMAT,
          "word-vector text line %" G_GUINT64_FORMAT ": %u values, expected %u",
          lineno, vals->len, dim);
      g_strfreev (parts);
      goto out;
    }
    if (!etp_wordvec_writer_add (w, parts[0], (gfloat *) vals->data,
            G_MAXUINT32, error)) {
      g_strfreev (parts);
      goto out;
    }
    g_strfreev (parts);
    g_string_truncate (pending, 0);
  }
  if (w == NULL) {
    g_set_error (error, ETP_ERROR, ETP_ERROR_FORMAT,
        "word-vector text input is empty");
    goto out;
  }
  if (!etp_wordvec_writer_finish (w, error))
    goto out;
  *n_words = w->n;
  ok = TRUE;
out:
  etp_wordvec_writer_free (w);
  g_array_free (vals, TRUE);
  g_string_free (pending, TRUE);
  free (line);
  return ok;
}

gboolean
etp_wordvec_convert_stream (FILE * in, const gchar * out_path,
    guint64 * n_words, GError ** error)
{
  gint c;
  guint64 dummy;
  if (n_words == NULL)
    n_words = &dummy;
  do {
    c = getc (in);
  } while (c == ' ' || c == '\n' || c == '\r' || c == '\t');
  if (c == '{') {
    Lexer lx = { in, g_string_new (NULL), 1, EOF - 1 };
    gboolean ok = convert_json (&lx, out_path, n_words, error);
    g_string_free (lx.str, TRUE);
    return ok;
  }
  return convert_text (in, c, out_path, n_words, error);
}
