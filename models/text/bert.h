/* BERT encoder forward (CPU, float32) from a Hugging Face folder:
 * config.json + model.safetensors (tensor names with or without the `bert.`
 * prefix). Any size from config.json. GEMMs go to OpenBLAS (cblas_sgemm,
 * its own threads); LayerNorm, GELU, softmax/attention and the embedding
 * gather are plain loops split over the worker threads. Each step is one
 * bert_*_forward function over explicit float buffers so that a CUDA port
 * can mirror it one kernel per function.
 *
 * Sequences are processed "packed": the rows of all sequences of a batch are
 * stacked in one (rows x hidden) matrix and attention runs per sequence over
 * its own rows. A padded batch (B x T with an attention mask, as PyTorch
 * runs it) is the special case where every sequence has T rows and the mask
 * hides the [PAD] keys; padding-free batching is the case where every
 * sequence has exactly its own length. */
#ifndef ETP_TEXT_BERT_H
#define ETP_TEXT_BERT_H

#include <glib.h>

#include "engine/engine.h"

G_BEGIN_DECLS

typedef struct {
  guint vocab_size;
  guint hidden;
  guint layers;
  guint heads;
  guint intermediate;
  guint max_positions;
  guint type_vocab;
  gfloat layer_norm_eps;
  gboolean gelu_tanh;           /* hidden_act gelu_new / gelu_pytorch_tanh */
} EtpBertConfig;

typedef enum {
  ETP_BERT_POOL_CLS = 0,        /* last hidden state of [CLS] */
  ETP_BERT_POOL_MEAN,           /* mean over the real tokens ([CLS]/[SEP] incl.) */
  ETP_BERT_POOL_POOLER,         /* tanh (W h_cls + b), BertModel's pooler_output */
} EtpBertPooling;

typedef struct _EtpBert EtpBert;

/* Parses @dir/config.json. */
gboolean etp_bert_config_load (const gchar * dir, EtpBertConfig * cfg,
    GError ** error);

/* Loads config.json and model.safetensors of @dir. Errors name the file and
 * the tensor (missing, or shape disagreeing with config.json). */
EtpBert *etp_bert_new_from_dir (const gchar * dir, GError ** error);
void etp_bert_free (EtpBert * bert);
const EtpBertConfig *etp_bert_get_config (const EtpBert * bert);
gboolean etp_bert_has_pooler (const EtpBert * bert);
/* Threads for the non-GEMM loops (default 2; 1 = serial). */
void etp_bert_set_threads (EtpBert * bert, guint n_threads);

/* Where the forward runs. ETP_DEVICE_CPU (the default) is the code of this
 * file; ETP_DEVICE_CUDA uploads the weights once and runs the same steps
 * with the CUDA backend's kernels (models/cuda/cuda_bert.h; cuBLAS GEMMs);
 * ETP_DEVICE_AUTO takes CUDA when the build has it and a GPU is present,
 * else the CPU. Fails (ETP_ERROR_DEVICE) when CUDA is asked for and absent. */
gboolean etp_bert_set_device (EtpBert * bert, EtpDeviceKind kind,
    GError ** error);
/* "cpu" or the CUDA backend's name. */
const gchar *etp_bert_device_name (const EtpBert * bert);

/* Padded batch: @ids, @mask are B x T (row-major; mask 1 = token, 0 = pad).
 * Any output may be NULL: @hidden B x T x H (last hidden state, every
 * position, as PyTorch), @cls B x H, @mean B x H (masked mean), @pooler
 * B x H (needs the pooler weights). */
gboolean etp_bert_forward_padded (EtpBert * bert, const gint32 * ids,
    const gint32 * mask, guint B, guint T, gfloat * hidden, gfloat * cls,
    gfloat * mean, gfloat * pooler, GError ** error);

/* Padding-free batch: sequence i has @lengths[i] ids, stored one after the
 * other in @ids. Writes one pooled vector (H floats) per sequence to @out. */
gboolean etp_bert_forward_packed (EtpBert * bert, const gint32 * ids,
    const guint * lengths, guint n_seqs, EtpBertPooling pooling, gfloat * out,
    GError ** error);

G_END_DECLS

#endif
