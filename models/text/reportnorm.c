/* German/Swedish -> English ECG report normaliser (see reportnorm.h). */
#include "text/reportnorm.h"
#include "util/etperror.h"

#include <string.h>

#define MIN_COMPOUND_PART 3
#define MAX_COMPOUND_PARTS 4
#define MAX_COMPOUND_BYTES 128

struct _EtpReportNorm {
  GHashTable *map;              /* folded source words joined by ' ' -> English */
  guint max_words;
  guint n_entries;
};

const gchar *
etp_report_norm_default_lexicon (void)
{
  const gchar *env = g_getenv ("ETP_TEXT_LEXICON");
  if (env && *env)
    return env;
#ifdef ETP_TEXT_LEXICON
  return ETP_TEXT_LEXICON;
#else
  return NULL;
#endif
}

gchar *
etp_report_norm_fold (const gchar * text)
{
  gchar *lower = g_utf8_strdown (text, -1);
  gchar *nfc = g_utf8_normalize (lower, -1, G_NORMALIZE_NFC);
  GString *s = g_string_sized_new (strlen (nfc) + 8);
  const gchar *p;
  for (p = nfc; *p; p = g_utf8_next_char (p)) {
    gunichar c = g_utf8_get_char (p);
    switch (c) {
      case 0xE4: g_string_append (s, "ae"); break;     /* ä */
      case 0xF6: g_string_append (s, "oe"); break;     /* ö */
      case 0xFC: g_string_append (s, "ue"); break;     /* ü */
      case 0xDF: g_string_append (s, "ss"); break;     /* ß */
      default: g_string_append_unichar (s, c);
    }
  }
  g_free (lower);
  g_free (nfc);
  return g_string_free (s, FALSE);
}

static gboolean
is_word_char (gunichar c)
{
  return g_unichar_isalnum (c) || g_unichar_type (c) == G_UNICODE_NON_SPACING_MARK;
}

typedef struct {
  gchar *sep;                   /* separator text before the word */
  gchar *word;
} Tok;

/* Splits folded text into (separator, word) pairs; a trailing separator
 * goes into *@tail. */
static GArray *
split_tokens (const gchar * text, gchar ** tail)
{
  GArray *toks = g_array_new (FALSE, FALSE, sizeof (Tok));
  const gchar *p = text, *sep_start = text;
  while (*p) {
    gunichar c = g_utf8_get_char (p);
    if (is_word_char (c)) {
      const gchar *w = p;
      Tok t;
      while (*p && is_word_char (g_utf8_get_char (p)))
        p = g_utf8_next_char (p);
      t.sep = g_strndup (sep_start, w - sep_start);
      t.word = g_strndup (w, p - w);
      g_array_append_val (toks, t);
      sep_start = p;
    } else {
      p = g_utf8_next_char (p);
    }
  }
  *tail = g_strdup (sep_start);
  return toks;
}

static void
free_tokens (GArray * toks)
{
  guint i;
  for (i = 0; i < toks->len; i++) {
    g_free (g_array_index (toks, Tok, i).sep);
    g_free (g_array_index (toks, Tok, i).word);
  }
  g_array_free (toks, TRUE);
}

static gboolean
joinable_sep (const gchar * s)
{
  if (*s == '\0')
    return FALSE;
  for (; *s; s++)
    if (*s != ' ' && *s != '-' && *s != '.' && *s != '\t')
      return FALSE;
  return TRUE;
}

EtpReportNorm *
etp_report_norm_new (const gchar * path, GError ** error)
{
  gchar *contents = NULL;
  gchar **lines;
  EtpReportNorm *rn;
  guint i;

  if (path == NULL)
    path = etp_report_norm_default_lexicon ();
  if (path == NULL) {
    g_set_error (error, ETP_ERROR, ETP_ERROR_MISSING,
        "no report lexicon configured (set ETP_TEXT_LEXICON)");
    return NULL;
  }
  if (!g_file_get_contents (path, &contents, NULL, error)) {
    g_prefix_error (error, "cannot read report lexicon %s: ", path);
    return NULL;
  }
  if (!g_utf8_validate (contents, -1, NULL)) {
    g_set_error (error, ETP_ERROR, ETP_ERROR_FORMAT,
        "report lexicon %s is not valid UTF-8", path);
    g_free (contents);
    return NULL;
  }
  rn = g_new0 (EtpReportNorm, 1);
  rn->map = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  lines = g_strsplit (contents, "\n", -1);
  g_free (contents);
  for (i = 0; lines[i]; i++) {
    gchar *line = lines[i], *tab, *folded, *tail;
    GArray *toks;
    GString *key;
    guint k;
    gsize ll = strlen (line);
    if (ll > 0 && line[ll - 1] == '\r')
      line[ll - 1] = '\0';
    if (line[0] == '#' || line[strspn (line, " \t")] == '\0')
      continue;
    tab = strchr (line, '\t');
    if (tab == NULL) {
      g_set_error (error, ETP_ERROR, ETP_ERROR_FORMAT,
          "report lexicon %s line %u: no TAB between source and English",
          path, i + 1);
      g_strfreev (lines);
      etp_report_norm_free (rn);
      return NULL;
    }
    *tab = '\0';
    folded = etp_report_norm_fold (line);
    toks = split_tokens (folded, &tail);
    key = g_string_new (NULL);
    for (k = 0; k < toks->len; k++) {
      if (k)
        g_string_append_c (key, ' ');
      g_string_append (key, g_array_index (toks, Tok, k).word);
    }
    if (toks->len > 0) {
      if (!g_hash_table_contains (rn->map, key->str)) {
        g_hash_table_insert (rn->map, g_strdup (key->str),
            g_strdup (g_strstrip (tab + 1)));
        rn->n_entries++;
      }
      rn->max_words = MAX (rn->max_words, toks->len);
    }
    g_string_free (key, TRUE);
    free_tokens (toks);
    g_free (tail);
    g_free (folded);
  }
  g_strfreev (lines);
  return rn;
}

void
etp_report_norm_free (EtpReportNorm * rn)
{
  if (rn == NULL)
    return;
  g_hash_table_destroy (rn->map);
  g_free (rn);
}

guint
etp_report_norm_n_entries (const EtpReportNorm * rn)
{
  return rn->n_entries;
}

/* Compound split of @w (folded, ASCII-ish) into lexicon words; returns the
 * English (newly allocated) or NULL. Fewest parts win. */
static gchar *
split_compound (const EtpReportNorm * rn, const gchar * w)
{
  gsize n = strlen (w), i, j;
  guint *best;
  gsize *from;
  gboolean *linking;
  gchar *result = NULL;
  gchar part[MAX_COMPOUND_BYTES + 1];

  if (n < 2 * MIN_COMPOUND_PART || n > MAX_COMPOUND_BYTES
      || strpbrk (w, "0123456789") != NULL)
    return NULL;
  best = g_new (guint, n + 1);
  from = g_new (gsize, n + 1);
  linking = g_new0 (gboolean, n + 1);
  for (i = 0; i <= n; i++)
    best[i] = G_MAXUINT;
  best[0] = 0;
  for (i = 0; i < n; i++) {
    if (best[i] == G_MAXUINT || best[i] >= MAX_COMPOUND_PARTS)
      continue;
    for (j = i + MIN_COMPOUND_PART; j <= n; j++) {
      gboolean hit;
      memcpy (part, w + i, j - i);
      part[j - i] = '\0';
      hit = g_hash_table_contains (rn->map, part);
      if (hit) {
        if (best[i] + 1 < best[j]) {
          best[j] = best[i] + 1;
          from[j] = i;
          linking[j] = FALSE;
        }
        /* linking 's' (Fugen-s) after a part: links+s+chenkel... */
        if (j < n && w[j] == 's' && best[i] + 1 < best[j + 1]) {
          best[j + 1] = best[i] + 1;
          from[j + 1] = i;
          linking[j + 1] = TRUE;
        }
      }
    }
  }
  if (best[n] != G_MAXUINT && best[n] >= 2) {
    GPtrArray *parts = g_ptr_array_new ();
    GString *s = g_string_new (NULL);
    gsize end = n;
    gint k;
    while (end > 0) {
      gsize start = from[end];
      gsize pend = linking[end] ? end - 1 : end;
      gchar *part = g_strndup (w + start, pend - start);
      g_ptr_array_add (parts, part);
      end = start;
    }
    for (k = (gint) parts->len - 1; k >= 0; k--) {
      const gchar *en = g_hash_table_lookup (rn->map,
          g_ptr_array_index (parts, k));
      if (en && *en) {
        if (s->len)
          g_string_append_c (s, ' ');
        g_string_append (s, en);
      }
      g_free (g_ptr_array_index (parts, k));
    }
    g_ptr_array_free (parts, TRUE);
    result = g_string_free (s, FALSE);
  }
  g_free (best);
  g_free (from);
  g_free (linking);
  return result;
}

gchar *
etp_report_norm_apply (const EtpReportNorm * rn, const gchar * text)
{
  gchar *folded = etp_report_norm_fold (text);
  gchar *tail;
  GArray *toks = split_tokens (folded, &tail);
  GString *out = g_string_new (NULL);
  GString *key = g_string_new (NULL);
  guint i = 0;

  while (i < toks->len) {
    guint n, maxn = MIN (rn->max_words, toks->len - i);
    const gchar *en = NULL;
    Tok *t = &g_array_index (toks, Tok, i);
    for (n = maxn; n >= 1; n--) {
      guint k;
      gboolean ok = TRUE;
      g_string_assign (key, t->word);
      for (k = 1; k < n; k++) {
        Tok *u = &g_array_index (toks, Tok, i + k);
        if (!joinable_sep (u->sep)) {
          ok = FALSE;
          break;
        }
        g_string_append_c (key, ' ');
        g_string_append (key, u->word);
      }
      if (!ok)
        continue;
      en = g_hash_table_lookup (rn->map, key->str);
      if (en)
        break;
    }
    g_string_append (out, t->sep);
    if (en) {
      g_string_append (out, en);
      i += n;
    } else {
      gchar *c = split_compound (rn, t->word);
      g_string_append (out, c ? c : t->word);
      g_free (c);
      i++;
    }
  }
  g_string_append (out, tail);
  g_string_free (key, TRUE);
  free_tokens (toks);
  g_free (tail);
  g_free (folded);
  /* collapse runs of spaces left by dropped words */
  {
    gchar *s = g_string_free (out, FALSE), *r = s, *w = s;
    gboolean prev_space = FALSE;
    for (; *r; r++) {
      gboolean sp = *r == ' ';
      if (sp && prev_space)
        continue;
      *w++ = *r;
      prev_space = sp;
    }
    *w = '\0';
    return g_strstrip (s);
  }
}
