/* Static word vectors (GloVe) in a compact memory-mapped file (.etpwv), the
 * streaming converter that writes it, and text -> vector pooling.
 *
 * File layout (little-endian), see docs/text.md:
 *   0   char[8]  "ETPWV001"
 *   8   u32      dim
 *   12  u32      flags (0)
 *   16  u64      n_words
 *   24  u64      matrix_off    n_words x dim float32, rows in source order
 *   32  u64      rank_off      n_words x u32: frequency rank (0 = most frequent)
 *   40  u64      stroff_off    (n_words + 1) x u64 offsets into the strings
 *   48  u64      strings_off   UTF-8 words, concatenated, no separators
 *   56  u64      strings_size
 *   64  u64      sorted_off    n_words x u32 row ids sorted by word (bytewise)
 *   72  u64      file_size     (a truncated file is rejected)
 *   80..127      reserved (0)
 *
 * Text -> vector: the text is lower-cased (g_utf8_strdown), split into runs
 * of letters/digits (everything else separates words and is dropped), each
 * word looked up; out-of-vocabulary words are skipped. MEAN averages the
 * found vectors; SIF weights each by a / (a + p(w)) with a = 1e-3 and p(w)
 * estimated from the frequency rank by Zipf's law, p(r) = 1 / ((r + 1) H_N).
 * A text with no word in the vocabulary gives the zero vector (n_found 0). */
#ifndef ETP_TEXT_WORDVEC_H
#define ETP_TEXT_WORDVEC_H

#include <glib.h>
#include <stdio.h>

G_BEGIN_DECLS

#define ETP_WORDVEC_MAGIC "ETPWV001"
#define ETP_WORDVEC_SIF_A 1e-3

typedef enum {
  ETP_WORDVEC_POOL_MEAN = 0,
  ETP_WORDVEC_POOL_SIF,
} EtpWordVecPooling;

typedef struct _EtpWordVec EtpWordVec;

/* TRUE when @path starts with the .etpwv magic. */
gboolean etp_wordvec_file_is_wordvec (const gchar * path);

EtpWordVec *etp_wordvec_open (const gchar * path, GError ** error);
void etp_wordvec_free (EtpWordVec * wv);
guint etp_wordvec_dim (const EtpWordVec * wv);
guint64 etp_wordvec_n_words (const EtpWordVec * wv);
/* Row of @word (exact bytes) or -1. */
gint64 etp_wordvec_lookup (const EtpWordVec * wv, const gchar * word, gssize len);
const gfloat *etp_wordvec_row (const EtpWordVec * wv, guint64 row);
guint32 etp_wordvec_rank (const EtpWordVec * wv, guint64 row);

/* Pools the words of @text (valid UTF-8) into @out (dim floats). Returns
 * FALSE only for invalid UTF-8. @n_words / @n_found (may be NULL) receive the
 * word count and how many were in the vocabulary. */
gboolean etp_wordvec_encode (const EtpWordVec * wv, const gchar * text,
    EtpWordVecPooling pooling, gfloat * out, guint * n_words, guint * n_found,
    GError ** error);

/* Splits @text into normalised words (lower-case, letter/digit runs) as the
 * encoder does; returns a NULL-terminated array. */
gchar **etp_wordvec_split (const gchar * text);

/* Writer: rows are streamed to disk as they are added. */
typedef struct _EtpWordVecWriter EtpWordVecWriter;
EtpWordVecWriter *etp_wordvec_writer_new (const gchar * path, guint dim,
    GError ** error);
/* @rank: frequency rank, or G_MAXUINT32 for "the order of addition". */
gboolean etp_wordvec_writer_add (EtpWordVecWriter * w, const gchar * word,
    const gfloat * vec, guint32 rank, GError ** error);
gboolean etp_wordvec_writer_finish (EtpWordVecWriter * w, GError ** error);
void etp_wordvec_writer_free (EtpWordVecWriter * w);

/* Streams @in (wink-embeddings JSON: {"dimensions":D,...,"vectors":{"w":
 * [v1..vD, l2norm, index],...}}, or GloVe text: "word v1 ... vD" per line)
 * into @out_path. Reads with a fixed-size buffer. Returns the word count
 * in *@n_words. */
gboolean etp_wordvec_convert_stream (FILE * in, const gchar * out_path,
    guint64 * n_words, GError ** error);

G_END_DECLS

#endif
