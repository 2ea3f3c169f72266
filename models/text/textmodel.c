/* Text-model facade (see textmodel.h). */
#include "text/textmodel.h"
#include "text/bert.h"
#include "text/reportnorm.h"
#include "text/tokenizer.h"
#include "text/wordvec.h"
#include "util/etperror.h"

#include <glib/gstdio.h>
#include <string.h>

struct _EtpTextModel {
  EtpTextModelOptions opts;
  EtpTextPooling pooling;
  gboolean lowercase;
  EtpBert *bert;
  EtpTokenizer *tok;
  EtpWordVec *wv;
  EtpReportNorm *norm;
  guint dim;
  gchar *identity;
};

void
etp_text_model_options_init (EtpTextModelOptions * o)
{
  memset (o, 0, sizeof (*o));
  o->pooling = ETP_TEXT_POOL_DEFAULT;
  o->lowercase = ETP_TEXT_LOWERCASE_AUTO;
  o->max_length = 512;
  o->truncate = TRUE;
  o->n_threads = 2;
}

const gchar *
etp_text_pooling_to_string (EtpTextPooling p)
{
  switch (p) {
    case ETP_TEXT_POOL_CLS: return "cls";
    case ETP_TEXT_POOL_MEAN: return "mean";
    case ETP_TEXT_POOL_POOLER: return "pooler";
    case ETP_TEXT_POOL_SIF: return "sif";
    default: return "default";
  }
}

static gchar *
file_stamp (const gchar * path)
{
  GStatBuf st;
  if (g_stat (path, &st) != 0)
    return g_strdup_printf ("%s:?", path);
  return g_strdup_printf ("%s:%" G_GINT64_FORMAT ":%" G_GINT64_FORMAT, path,
      (gint64) st.st_size, (gint64) st.st_mtime);
}

EtpTextModel *
etp_text_model_open (const gchar * path, const EtpTextModelOptions * opts,
    GError ** error)
{
  EtpTextModel *m = g_new0 (EtpTextModel, 1);
  EtpTextModelOptions defaults;
  gchar *abs, *stamp = NULL, *lexstamp = NULL;

  if (opts == NULL) {
    etp_text_model_options_init (&defaults);
    opts = &defaults;
  }
  m->opts = *opts;
  m->opts.lexicon = NULL;
  if (m->opts.max_length == 0)
    m->opts.max_length = 512;
  if (m->opts.n_threads == 0)
    m->opts.n_threads = 2;
  if (path == NULL || *path == '\0') {
    g_set_error (error, ETP_ERROR, ETP_ERROR_INVALID,
        "no text model given (a Hugging Face BERT folder or a .etpwv file)");
    g_free (m);
    return NULL;
  }
  abs = g_canonicalize_filename (path, NULL);

  if (g_file_test (path, G_FILE_TEST_IS_DIR)) {
    gchar *vocab = g_build_filename (path, "vocab.txt", NULL);
    gchar *weights = g_build_filename (path, "model.safetensors", NULL);
    gboolean lc = FALSE;
    GError *err = NULL;

    if (!g_file_test (vocab, G_FILE_TEST_IS_REGULAR)) {
      g_set_error (error, ETP_ERROR, ETP_ERROR_MISSING,
          "model folder %s has no vocab.txt", path);
      g_free (vocab);
      g_free (weights);
      goto fail;
    }
    switch (opts->lowercase) {
      case ETP_TEXT_LOWERCASE_TRUE: lc = TRUE; break;
      case ETP_TEXT_LOWERCASE_FALSE: lc = FALSE; break;
      default:
        lc = FALSE;             /* cased unless the folder says otherwise */
        if (!etp_tokenizer_config_lowercase (path, &lc, &err) && err) {
          g_propagate_error (error, err);
          g_free (vocab);
          g_free (weights);
          goto fail;
        }
    }
    m->lowercase = lc;
    m->tok = etp_tokenizer_new_from_file (vocab, lc, error);
    g_free (vocab);
    if (m->tok == NULL) {
      g_free (weights);
      goto fail;
    }
    m->bert = etp_bert_new_from_dir (path, error);
    if (m->bert == NULL) {
      g_free (weights);
      goto fail;
    }
    etp_bert_set_threads (m->bert, m->opts.n_threads);
    if (!etp_bert_set_device (m->bert, opts->device, error)) {
      g_free (weights);
      goto fail;
    }
    if (etp_tokenizer_get_vocab_size (m->tok) >
        etp_bert_get_config (m->bert)->vocab_size) {
      g_set_error (error, ETP_ERROR, ETP_ERROR_MISMATCH,
          "%s/vocab.txt has %u entries but config.json vocab_size is %u",
          path, etp_tokenizer_get_vocab_size (m->tok),
          etp_bert_get_config (m->bert)->vocab_size);
      g_free (weights);
      goto fail;
    }
    if (m->opts.max_length > etp_bert_get_config (m->bert)->max_positions)
      m->opts.max_length = etp_bert_get_config (m->bert)->max_positions;
    if (m->opts.max_length < 2) {
      g_set_error (error, ETP_ERROR, ETP_ERROR_INVALID,
          "max-length %u is too small (at least 2: [CLS] [SEP])",
          m->opts.max_length);
      g_free (weights);
      goto fail;
    }
    m->pooling = opts->pooling == ETP_TEXT_POOL_DEFAULT ? ETP_TEXT_POOL_CLS
        : opts->pooling;
    if (m->pooling == ETP_TEXT_POOL_SIF) {
      g_set_error (error, ETP_ERROR, ETP_ERROR_INVALID,
          "pooling=sif is for word vectors; a BERT takes cls, mean or pooler");
      g_free (weights);
      goto fail;
    }
    if (m->pooling == ETP_TEXT_POOL_POOLER && !etp_bert_has_pooler (m->bert)) {
      g_set_error (error, ETP_ERROR, ETP_ERROR_MISSING,
          "pooling=pooler but %s has no pooler.dense weights", weights);
      g_free (weights);
      goto fail;
    }
    m->dim = etp_bert_get_config (m->bert)->hidden;
    stamp = file_stamp (weights);
    g_free (weights);
  } else if (g_file_test (path, G_FILE_TEST_IS_REGULAR)) {
    m->wv = etp_wordvec_open (path, error);
    if (m->wv == NULL)
      goto fail;
    m->pooling = opts->pooling == ETP_TEXT_POOL_DEFAULT ? ETP_TEXT_POOL_MEAN
        : opts->pooling;
    if (m->pooling != ETP_TEXT_POOL_MEAN && m->pooling != ETP_TEXT_POOL_SIF) {
      g_set_error (error, ETP_ERROR, ETP_ERROR_INVALID,
          "pooling=%s is for BERT; word vectors take mean or sif",
          etp_text_pooling_to_string (m->pooling));
      goto fail;
    }
    if (opts->device == ETP_DEVICE_CUDA) {
      g_set_error (error, ETP_ERROR, ETP_ERROR_DEVICE,
          "device=cuda: word vectors (%s) are looked up on the CPU only; use "
          "device=auto or cpu", path);
      goto fail;
    }
    m->lowercase = TRUE;
    m->dim = etp_wordvec_dim (m->wv);
    stamp = file_stamp (path);
  } else {
    g_set_error (error, ETP_ERROR, ETP_ERROR_MISSING,
        "text model %s does not exist", path);
    goto fail;
  }
  if (opts->normalize_reports) {
    m->norm = etp_report_norm_new (opts->lexicon, error);
    if (m->norm == NULL)
      goto fail;
    lexstamp = file_stamp (opts->lexicon ? opts->lexicon :
        etp_report_norm_default_lexicon ());
  }
  m->identity = g_strdup_printf ("etp-text-1|%s|%s|pool=%s|lower=%d|maxlen=%u|"
      "trunc=%d|norm=%s", m->bert ? "bert" : "wordvec", stamp,
      etp_text_pooling_to_string (m->pooling), m->lowercase,
      m->bert ? m->opts.max_length : 0, m->opts.truncate,
      lexstamp ? lexstamp : "none");
  g_free (stamp);
  g_free (lexstamp);
  g_free (abs);
  return m;
fail:
  g_free (abs);
  g_free (stamp);
  etp_text_model_free (m);
  return NULL;
}

void
etp_text_model_free (EtpTextModel * m)
{
  if (m == NULL)
    return;
  etp_bert_free (m->bert);
  etp_tokenizer_free (m->tok);
  etp_wordvec_free (m->wv);
  etp_report_norm_free (m->norm);
  g_free (m->identity);
  g_free (m);
}

guint
etp_text_model_dim (const EtpTextModel * m)
{
  return m->dim;
}

gboolean
etp_text_model_is_bert (const EtpTextModel * m)
{
  return m->bert != NULL;
}

gboolean
etp_text_model_get_lowercase (const EtpTextModel * m)
{
  return m->lowercase;
}

const gchar *
etp_text_model_device_name (const EtpTextModel * m)
{
  return m->bert ? etp_bert_device_name (m->bert) : "cpu";
}

const gchar *
etp_text_model_identity (const EtpTextModel * m)
{
  return m->identity;
}

gchar *
etp_text_model_prepare (const EtpTextModel * m, const gchar * text)
{
  if (m->norm)
    return etp_report_norm_apply (m->norm, text);
  return g_strdup (text);
}

gboolean
etp_text_model_encode (EtpTextModel * m, const gchar * const *texts, guint n,
    gfloat * out, gboolean * all_oov, GError ** error)
{
  guint i;
  gboolean ok = TRUE;

  for (i = 0; i < n; i++) {
    if (!g_utf8_validate (texts[i], -1, NULL)) {
      g_set_error (error, ETP_ERROR, ETP_ERROR_INVALID,
          "text %u is not valid UTF-8", i);
      return FALSE;
    }
  }
  if (m->wv) {
    for (i = 0; i < n && ok; i++) {
      gchar *t = etp_text_model_prepare (m, texts[i]);
      guint found = 0;
      ok = etp_wordvec_encode (m->wv, t, m->pooling == ETP_TEXT_POOL_SIF ?
          ETP_WORDVEC_POOL_SIF : ETP_WORDVEC_POOL_MEAN,
          out + (gsize) i * m->dim, NULL, &found, error);
      if (all_oov)
        all_oov[i] = found == 0;
      g_free (t);
    }
    return ok;
  } else {
    guint L = m->opts.max_length;
    gint32 *ids = g_new (gint32, (gsize) MAX (n, 1) * L);
    guint *lengths = g_new (guint, MAX (n, 1));
    gsize total = 0;
    EtpBertPooling pool = m->pooling == ETP_TEXT_POOL_MEAN ? ETP_BERT_POOL_MEAN
        : m->pooling == ETP_TEXT_POOL_POOLER ? ETP_BERT_POOL_POOLER
        : ETP_BERT_POOL_CLS;
    for (i = 0; i < n; i++) {
      gchar *t = etp_text_model_prepare (m, texts[i]);
      gboolean truncated = FALSE;
      gint len = etp_tokenizer_encode (m->tok, t, L, ids + total, &truncated,
          error);
      g_free (t);
      if (len < 0) {
        g_prefix_error (error, "text %u: ", i);
        ok = FALSE;
        break;
      }
      if (truncated && !m->opts.truncate) {
        g_set_error (error, ETP_ERROR, ETP_ERROR_INVALID,
            "text %u is longer than max-length %u tokens (truncation is off)",
            i, L);
        ok = FALSE;
        break;
      }
      if (all_oov)
        all_oov[i] = FALSE;
      lengths[i] = (guint) len;
      total += len;
    }
    if (ok)
      ok = etp_bert_forward_packed (m->bert, ids, lengths, n, pool, out, error);
    g_free (ids);
    g_free (lengths);
    return ok;
  }
}
