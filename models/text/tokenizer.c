/* WordPiece tokenizer, behaving as Hugging Face's BertTokenizer (see
 * tokenizer.h and docs/text.md for the algorithm). */
#include "text/tokenizer.h"
#include "util/etperror.h"

#include <json-glib/json-glib.h>
#include <string.h>

#define MAX_INPUT_CHARS_PER_WORD 100

struct _EtpTokenizer {
  GHashTable *vocab;            /* token (owned by @tokens) -> id + 1 */
  GPtrArray *tokens;            /* id -> token */
  gboolean lowercase;
  gint32 cls_id, sep_id, pad_id, unk_id, mask_id;
};

static const gchar *const special_tokens[] = {
  "[UNK]", "[SEP]", "[PAD]", "[CLS]", "[MASK]"
};

EtpTokenizer *
etp_tokenizer_new_from_file (const gchar * vocab_path, gboolean lowercase,
    GError ** error)
{
  gchar *contents = NULL;
  gsize len = 0;
  EtpTokenizer *tok;
  gchar *p, *end;

  if (!g_file_get_contents (vocab_path, &contents, &len, error)) {
    g_prefix_error (error, "cannot read vocab %s: ", vocab_path);
    return NULL;
  }
  if (!g_utf8_validate (contents, len, NULL)) {
    g_set_error (error, ETP_ERROR, ETP_ERROR_FORMAT,
        "vocab %s is not valid UTF-8", vocab_path);
    g_free (contents);
    return NULL;
  }
  tok = g_new0 (EtpTokenizer, 1);
  tok->lowercase = lowercase;
  tok->tokens = g_ptr_array_new_with_free_func (g_free);
  tok->vocab = g_hash_table_new (g_str_hash, g_str_equal);
  p = contents;
  end = contents + len;
  while (p < end) {
    gchar *nl = memchr (p, '\n', end - p);
    gchar *line_end = nl ? nl : end;
    gchar *t = g_strndup (p, line_end - p);
    g_ptr_array_add (tok->tokens, t);
    /* as HF's load_vocab: a later duplicate wins */
    g_hash_table_insert (tok->vocab, t,
        GINT_TO_POINTER ((gint) tok->tokens->len));
    p = nl ? nl + 1 : end;
  }
  g_free (contents);

  tok->unk_id = etp_tokenizer_token_to_id (tok, "[UNK]");
  tok->cls_id = etp_tokenizer_token_to_id (tok, "[CLS]");
  tok->sep_id = etp_tokenizer_token_to_id (tok, "[SEP]");
  tok->pad_id = etp_tokenizer_token_to_id (tok, "[PAD]");
  tok->mask_id = etp_tokenizer_token_to_id (tok, "[MASK]");
  if (tok->unk_id < 0 || tok->cls_id < 0 || tok->sep_id < 0 || tok->pad_id < 0) {
    g_set_error (error, ETP_ERROR, ETP_ERROR_FORMAT,
        "vocab %s lacks one of the special tokens [UNK] [CLS] [SEP] [PAD] "
        "(%u entries read)", vocab_path, tok->tokens->len);
    etp_tokenizer_free (tok);
    return NULL;
  }
  return tok;
}

void
etp_tokenizer_free (EtpTokenizer * tok)
{
  if (tok == NULL)
    return;
  g_hash_table_destroy (tok->vocab);
  g_ptr_array_free (tok->tokens, TRUE);
  g_free (tok);
}

gboolean
etp_tokenizer_get_lowercase (const EtpTokenizer * tok)
{
  return tok->lowercase;
}

guint
etp_tokenizer_get_vocab_size (const EtpTokenizer * tok)
{
  return tok->tokens->len;
}

gint32
etp_tokenizer_token_to_id (const EtpTokenizer * tok, const gchar * token)
{
  gpointer v = g_hash_table_lookup (tok->vocab, token);
  return v ? GPOINTER_TO_INT (v) - 1 : -1;
}

const gchar *
etp_tokenizer_id_to_token (const EtpTokenizer * tok, gint32 id)
{
  if (id < 0 || (guint) id >= tok->tokens->len)
    return NULL;
  return g_ptr_array_index (tok->tokens, id);
}

gint32
etp_tokenizer_cls_id (const EtpTokenizer * tok)
{
  return tok->cls_id;
}

gint32
etp_tokenizer_sep_id (const EtpTokenizer * tok)
{
  return tok->sep_id;
}

gint32
etp_tokenizer_pad_id (const EtpTokenizer * tok)
{
  return tok->pad_id;
}

gint32
etp_tokenizer_unk_id (const EtpTokenizer * tok)
{
  return tok->unk_id;
}

/* --- character classes (as transformers' tokenization_bert) --- */

static gboolean
is_control (gunichar c)
{
  if (c == '\t' || c == '\n' || c == '\r')
    return FALSE;
  switch (g_unichar_type (c)) {
    case G_UNICODE_CONTROL:
    case G_UNICODE_FORMAT:
    case G_UNICODE_UNASSIGNED:
    case G_UNICODE_PRIVATE_USE:
    case G_UNICODE_SURROGATE:
      return TRUE;
    default:
      return FALSE;
  }
}

static gboolean
is_whitespace (gunichar c)
{
  if (c == ' ' || c == '\t' || c == '\n' || c == '\r')
    return TRUE;
  return g_unichar_type (c) == G_UNICODE_SPACE_SEPARATOR;
}

/* Python's str.split() separators that can survive cleaning. */
static gboolean
is_split_space (gunichar c)
{
  if (c == ' ' || (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x1f)
      || c == 0x85)
    return TRUE;
  switch (g_unichar_type (c)) {
    case G_UNICODE_SPACE_SEPARATOR:
    case G_UNICODE_LINE_SEPARATOR:
    case G_UNICODE_PARAGRAPH_SEPARATOR:
      return TRUE;
    default:
      return FALSE;
  }
}

static gboolean
is_punctuation (gunichar c)
{
  if ((c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96)
      || (c >= 123 && c <= 126))
    return TRUE;
  switch (g_unichar_type (c)) {
    case G_UNICODE_CONNECT_PUNCTUATION:
    case G_UNICODE_DASH_PUNCTUATION:
    case G_UNICODE_CLOSE_PUNCTUATION:
    case G_UNICODE_FINAL_PUNCTUATION:
    case G_UNICODE_INITIAL_PUNCTUATION:
    case G_UNICODE_OTHER_PUNCTUATION:
    case G_UNICODE_OPEN_PUNCTUATION:
      return TRUE;
    default:
      return FALSE;
  }
}

static gboolean
is_cjk (gunichar c)
{
  return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF)
      || (c >= 0x20000 && c <= 0x2A6DF) || (c >= 0x2A700 && c <= 0x2B73F)
      || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B820 && c <= 0x2CEAF)
      || (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

/* --- WordPiece --- */

static void
wordpiece (const EtpTokenizer * tok, const gchar * word, GArray * ids,
    GString * scratch)
{
  glong n_chars = g_utf8_strlen (word, -1);
  const gchar **starts;
  glong i, start;
  guint first = ids->len;

  if (n_chars == 0)
    return;
  if (n_chars > MAX_INPUT_CHARS_PER_WORD) {
    g_array_append_val (ids, tok->unk_id);
    return;
  }
  /* byte offsets of each character, plus the end */
  starts = g_newa (const gchar *, n_chars + 1);
  starts[0] = word;
  for (i = 1; i <= n_chars; i++)
    starts[i] = g_utf8_next_char (starts[i - 1]);

  start = 0;
  while (start < n_chars) {
    glong end_c = n_chars;
    gint32 cur = -1;
    while (start < end_c) {
      g_string_truncate (scratch, 0);
      if (start > 0)
        g_string_append (scratch, "##");
      g_string_append_len (scratch, starts[start], starts[end_c] - starts[start]);
      cur = etp_tokenizer_token_to_id (tok, scratch->str);
      if (cur >= 0)
        break;
      end_c--;
    }
    if (cur < 0) {
      g_array_set_size (ids, first);
      g_array_append_val (ids, tok->unk_id);
      return;
    }
    g_array_append_val (ids, cur);
    start = end_c;
  }
}

/* Lower-case, strip accents (NFD, drop Mn), split punctuation, WordPiece. */
static void
process_word (const EtpTokenizer * tok, const gchar * word, GArray * ids,
    GString * scratch, GString * piece)
{
  gchar *owned = NULL;
  const gchar *w = word;
  const gchar *p;

  if (tok->lowercase) {
    gchar *lower = g_utf8_strdown (word, -1);
    gchar *nfd = g_utf8_normalize (lower, -1, G_NORMALIZE_NFD);
    GString *s = g_string_sized_new (strlen (nfd));
    g_free (lower);
    for (p = nfd; *p; p = g_utf8_next_char (p)) {
      gunichar c = g_utf8_get_char (p);
      if (g_unichar_type (c) != G_UNICODE_NON_SPACING_MARK)
        g_string_append_unichar (s, c);
    }
    g_free (nfd);
    owned = g_string_free (s, FALSE);
    w = owned;
  }

  g_string_truncate (piece, 0);
  for (p = w; *p; p = g_utf8_next_char (p)) {
    gunichar c = g_utf8_get_char (p);
    if (is_punctuation (c)) {
      if (piece->len > 0) {
        wordpiece (tok, piece->str, ids, scratch);
        g_string_truncate (piece, 0);
      }
      g_string_append_unichar (piece, c);
      wordpiece (tok, piece->str, ids, scratch);
      g_string_truncate (piece, 0);
    } else {
      g_string_append_unichar (piece, c);
    }
  }
  if (piece->len > 0)
    wordpiece (tok, piece->str, ids, scratch);
  g_free (owned);
}

/* Basic tokenisation + WordPiece of a segment without special tokens. */
static void
tokenize_segment (const EtpTokenizer * tok, const gchar * text, gsize len,
    GArray * ids)
{
  GString *clean = g_string_sized_new (len + 16);
  GString *word = g_string_new (NULL);
  GString *scratch = g_string_new (NULL);
  GString *piece = g_string_new (NULL);
  const gchar *p, *end = text + len;
  gchar *nfc;

  for (p = text; p < end; p = g_utf8_next_char (p)) {
    gunichar c = g_utf8_get_char (p);
    if (c == 0 || c == 0xFFFD || is_control (c))
      continue;
    if (is_whitespace (c)) {
      g_string_append_c (clean, ' ');
    } else if (is_cjk (c)) {
      g_string_append_c (clean, ' ');
      g_string_append_unichar (clean, c);
      g_string_append_c (clean, ' ');
    } else {
      g_string_append_unichar (clean, c);
    }
  }
  nfc = g_utf8_normalize (clean->str, clean->len, G_NORMALIZE_NFC);
  g_string_free (clean, TRUE);

  for (p = nfc; ; p = g_utf8_next_char (p)) {
    gunichar c = *p ? g_utf8_get_char (p) : 0;
    if (c == 0 || is_split_space (c)) {
      if (word->len > 0) {
        process_word (tok, word->str, ids, scratch, piece);
        g_string_truncate (word, 0);
      }
      if (c == 0)
        break;
    } else {
      g_string_append_unichar (word, c);
    }
  }
  g_free (nfc);
  g_string_free (word, TRUE);
  g_string_free (scratch, TRUE);
  g_string_free (piece, TRUE);
}

gboolean
etp_tokenizer_tokenize (const EtpTokenizer * tok, const gchar * text,
    GArray * ids, GError ** error)
{
  const gchar *p = text;
  const gchar *end_of_text;

  if (!g_utf8_validate (text, -1, &end_of_text)) {
    g_set_error (error, ETP_ERROR, ETP_ERROR_INVALID,
        "text is not valid UTF-8 (bad byte 0x%02x at offset %" G_GSIZE_FORMAT
        ")", (guint) (guchar) * end_of_text, (gsize) (end_of_text - text));
    return FALSE;
  }
  /* As HF's added-token trie: special-token strings in the text become the
   * special tokens (earliest match, longest at that position). */
  while (*p) {
    const gchar *best = NULL;
    gsize best_len = 0;
    gint32 best_id = -1;
    guint k;
    for (k = 0; k < G_N_ELEMENTS (special_tokens); k++) {
      const gchar *hit = strstr (p, special_tokens[k]);
      gsize l = strlen (special_tokens[k]);
      gint32 id = etp_tokenizer_token_to_id (tok, special_tokens[k]);
      if (hit == NULL || id < 0)
        continue;
      if (best == NULL || hit < best || (hit == best && l > best_len)) {
        best = hit;
        best_len = l;
        best_id = id;
      }
    }
    if (best == NULL) {
      tokenize_segment (tok, p, strlen (p), ids);
      break;
    }
    if (best > p)
      tokenize_segment (tok, p, best - p, ids);
    g_array_append_val (ids, best_id);
    p = best + best_len;
  }
  return TRUE;
}

gint
etp_tokenizer_encode (const EtpTokenizer * tok, const gchar * text,
    guint max_length, gint32 * out, gboolean * truncated, GError ** error)
{
  GArray *ids = g_array_new (FALSE, FALSE, sizeof (gint32));
  guint n, i;

  g_return_val_if_fail (max_length >= 2, -1);
  if (!etp_tokenizer_tokenize (tok, text, ids, error)) {
    g_array_free (ids, TRUE);
    return -1;
  }
  n = MIN (ids->len, max_length - 2);
  if (truncated)
    *truncated = ids->len > n;
  out[0] = tok->cls_id;
  for (i = 0; i < n; i++)
    out[i + 1] = g_array_index (ids, gint32, i);
  out[n + 1] = tok->sep_id;
  g_array_free (ids, TRUE);
  return (gint) n + 2;
}

gboolean
etp_tokenizer_encode_batch (const EtpTokenizer * tok,
    const gchar * const *texts, guint n_texts, guint max_length,
    gboolean pad_to_max, gint32 ** ids_out, gint32 ** mask_out,
    guint * seq_len_out, guint ** lengths_out, GError ** error)
{
  gint32 *tmp = g_new (gint32, (gsize) n_texts * max_length);
  guint *lens = g_new0 (guint, MAX (n_texts, 1));
  guint i, j, T = 0;
  gint32 *ids, *mask;

  for (i = 0; i < n_texts; i++) {
    gint n = etp_tokenizer_encode (tok, texts[i], max_length,
        tmp + (gsize) i * max_length, NULL, error);
    if (n < 0) {
      g_prefix_error (error, "text %u: ", i);
      g_free (tmp);
      g_free (lens);
      return FALSE;
    }
    lens[i] = n;
    T = MAX (T, (guint) n);
  }
  if (pad_to_max)
    T = max_length;
  ids = g_new (gint32, (gsize) MAX (n_texts, 1) * MAX (T, 1));
  mask = g_new (gint32, (gsize) MAX (n_texts, 1) * MAX (T, 1));
  for (i = 0; i < n_texts; i++) {
    for (j = 0; j < T; j++) {
      gboolean real = j < lens[i];
      ids[(gsize) i * T + j] = real ? tmp[(gsize) i * max_length + j] : tok->pad_id;
      mask[(gsize) i * T + j] = real ? 1 : 0;
    }
  }
  g_free (tmp);
  *ids_out = ids;
  *mask_out = mask;
  *seq_len_out = T;
  if (lengths_out)
    *lengths_out = lens;
  else
    g_free (lens);
  return TRUE;
}

gboolean
etp_tokenizer_config_lowercase (const gchar * dir, gboolean * lowercase,
    GError ** error)
{
  gchar *path = g_build_filename (dir, "tokenizer_config.json", NULL);
  JsonParser *parser;
  JsonNode *root;
  gboolean found = FALSE;

  if (!g_file_test (path, G_FILE_TEST_EXISTS)) {
    g_free (path);
    return FALSE;
  }
  parser = json_parser_new ();
  if (!json_parser_load_from_file (parser, path, error)) {
    g_prefix_error (error, "cannot parse %s: ", path);
  } else {
    root = json_parser_get_root (parser);
    if (root && JSON_NODE_HOLDS_OBJECT (root)) {
      JsonObject *o = json_node_get_object (root);
      if (json_object_has_member (o, "do_lower_case")) {
        JsonNode *n = json_object_get_member (o, "do_lower_case");
        if (JSON_NODE_HOLDS_VALUE (n)
            && json_node_get_value_type (n) == G_TYPE_BOOLEAN) {
          *lowercase = json_node_get_boolean (n);
          found = TRUE;
        } else {
          g_set_error (error, ETP_ERROR, ETP_ERROR_FORMAT,
              "%s: do_lower_case is not a boolean", path);
        }
      }
    } else {
      g_set_error (error, ETP_ERROR, ETP_ERROR_FORMAT,
          "%s: not a JSON object", path);
    }
  }
  g_object_unref (parser);
  g_free (path);
  return found;
}
