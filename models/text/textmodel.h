/* One interface over the two text encoders the textencoder element offers:
 * a BERT from a Hugging Face folder (WordPiece + encoder + pooling) or a
 * static word-vector file (.etpwv, mean/SIF pooling), plus the optional
 * German->English report normaliser in front. */
#ifndef ETP_TEXT_TEXTMODEL_H
#define ETP_TEXT_TEXTMODEL_H

#include <glib.h>

#include "engine/engine.h"

G_BEGIN_DECLS

typedef enum {
  ETP_TEXT_POOL_DEFAULT = 0,    /* cls for BERT, mean for word vectors */
  ETP_TEXT_POOL_CLS,
  ETP_TEXT_POOL_MEAN,
  ETP_TEXT_POOL_POOLER,
  ETP_TEXT_POOL_SIF,
} EtpTextPooling;

typedef enum {
  ETP_TEXT_LOWERCASE_AUTO = 0,  /* tokenizer_config.json, else cased */
  ETP_TEXT_LOWERCASE_TRUE,
  ETP_TEXT_LOWERCASE_FALSE,
} EtpTextLowercase;

typedef struct {
  EtpTextPooling pooling;
  EtpTextLowercase lowercase;
  guint max_length;             /* BERT tokens incl. [CLS]/[SEP]; 0 = 512 */
  gboolean truncate;            /* FALSE: longer texts are an error */
  gboolean normalize_reports;
  const gchar *lexicon;         /* NULL = default */
  guint n_threads;              /* 0 = 2 */
  EtpDeviceKind device;         /* BERT: auto (CUDA if present, else CPU),
                                 * cpu, cuda (error without a GPU); word
                                 * vectors always run on the CPU */
} EtpTextModelOptions;

typedef struct _EtpTextModel EtpTextModel;

void etp_text_model_options_init (EtpTextModelOptions * opts);
const gchar *etp_text_pooling_to_string (EtpTextPooling p);

/* @path: a Hugging Face BERT folder or a .etpwv word-vector file. */
EtpTextModel *etp_text_model_open (const gchar * path,
    const EtpTextModelOptions * opts, GError ** error);
void etp_text_model_free (EtpTextModel * m);
guint etp_text_model_dim (const EtpTextModel * m);
gboolean etp_text_model_is_bert (const EtpTextModel * m);
gboolean etp_text_model_get_lowercase (const EtpTextModel * m);
/* A string naming the model file(s) (path, size, mtime) and every option
 * that changes the output: the key prefix of the feature cache. */
const gchar *etp_text_model_identity (const EtpTextModel * m);

/* "cpu" or the GPU's name. */
const gchar *etp_text_model_device_name (const EtpTextModel * m);

/* The text actually encoded (after the report normaliser, if enabled). */
gchar *etp_text_model_prepare (const EtpTextModel * m, const gchar * text);

/* Encodes @n texts (valid UTF-8) into @out (n x dim). BERT batches are run
 * padding-free (each sequence at its own length). Word vectors: a text with
 * no known word gives zeros and sets @all_oov[i] (may be NULL). */
gboolean etp_text_model_encode (EtpTextModel * m, const gchar * const *texts,
    guint n, gfloat * out, gboolean * all_oov, GError ** error);

G_END_DECLS

#endif
