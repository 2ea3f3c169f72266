/* Prompt embeddings from a text model and a pre-training checkpoint: each
 * prompt is encoded by the text model (models/text), projected by the
 * checkpoint's text_proj (y = W x + b), L2-normalised; a class's prompts are
 * averaged and normalised again. logit_scale = exp(checkpoint logit_scale). */
#ifndef ETP_EVAL_PROMPTEMBED_H
#define ETP_EVAL_PROMPTEMBED_H

#include <glib.h>
#include "eval/promptset.h"

G_BEGIN_DECLS

/* @pooling: NULL/"default", "cls", "mean", "pooler" or "sif".
 * @checkpoint may be NULL: the text embeddings are used unprojected. */
EtpPromptEmbeddings *etp_prompt_embeddings_compute (const EtpPromptSet * set,
    const gchar * text_model, const gchar * pooling, const gchar * checkpoint,
    GError ** error);

G_END_DECLS

#endif
