/* WordPiece tokenizer identical to Hugging Face's BertTokenizer (slow,
 * Python) for a vocab.txt: basic tokenisation (text cleaning, whitespace,
 * punctuation incl. Unicode P* and the ASCII symbol ranges, CJK character
 * split, NFC), optional lower-casing with NFD accent stripping, then greedy
 * longest-match WordPiece with "##" continuations and [UNK] for words longer
 * than 100 characters. See docs/text.md. */
#ifndef ETP_TEXT_TOKENIZER_H
#define ETP_TEXT_TOKENIZER_H

#include <glib.h>

G_BEGIN_DECLS

typedef struct _EtpTokenizer EtpTokenizer;

/* Loads @vocab_path (one token per line, id = line number).
 * @lowercase: lower-case + strip accents (BertTokenizer do_lower_case). */
EtpTokenizer *etp_tokenizer_new_from_file (const gchar * vocab_path,
    gboolean lowercase, GError ** error);
void etp_tokenizer_free (EtpTokenizer * tok);

gboolean etp_tokenizer_get_lowercase (const EtpTokenizer * tok);
guint etp_tokenizer_get_vocab_size (const EtpTokenizer * tok);
/* Id of @token or -1. */
gint32 etp_tokenizer_token_to_id (const EtpTokenizer * tok, const gchar * token);
/* The vocab string of @id (owned by the tokenizer) or NULL. */
const gchar *etp_tokenizer_id_to_token (const EtpTokenizer * tok, gint32 id);

gint32 etp_tokenizer_cls_id (const EtpTokenizer * tok);
gint32 etp_tokenizer_sep_id (const EtpTokenizer * tok);
gint32 etp_tokenizer_pad_id (const EtpTokenizer * tok);
gint32 etp_tokenizer_unk_id (const EtpTokenizer * tok);

/* Word-piece ids of @text (valid UTF-8; NUL-terminated) without special
 * tokens, appended to @ids (GArray of gint32). Returns FALSE with an error
 * when @text is not valid UTF-8. */
gboolean etp_tokenizer_tokenize (const EtpTokenizer * tok, const gchar * text,
    GArray * ids, GError ** error);

/* [CLS] ids [SEP], truncated so that the total is at most @max_length
 * (>= 2). Writes up to @max_length ids into @out and returns the count, or
 * -1 with an error for invalid UTF-8. *@truncated (may be NULL) tells whether
 * word pieces were dropped. */
gint etp_tokenizer_encode (const EtpTokenizer * tok, const gchar * text,
    guint max_length, gint32 * out, gboolean * truncated, GError ** error);

/* Batch encoding, padded to the longest item (or to @max_length when
 * @pad_to_max): @ids and @mask (n_texts x *@seq_len, row-major) are newly
 * allocated; mask is 1 for real tokens, 0 for [PAD]. @lengths (may be NULL)
 * receives a newly allocated array of the real lengths. */
gboolean etp_tokenizer_encode_batch (const EtpTokenizer * tok,
    const gchar * const *texts, guint n_texts, guint max_length,
    gboolean pad_to_max, gint32 ** ids, gint32 ** mask, guint * seq_len,
    guint ** lengths, GError ** error);

/* Reads do_lower_case from @dir/tokenizer_config.json. Returns TRUE and sets
 * *@lowercase when the file exists and has the key; FALSE otherwise
 * (a malformed file sets @error). */
gboolean etp_tokenizer_config_lowercase (const gchar * dir,
    gboolean * lowercase, GError ** error);

G_END_DECLS

#endif
