/* Prompt embeddings from models/text + the checkpoint's text_proj. Built
 * with ETP_EVAL_HAVE_TEXT when models/text and models/nets are in libetp;
 * without them the function reports that the build lacks a text model. */
#include "eval/promptembed.h"
#include "util/etperror.h"

#ifdef ETP_EVAL_HAVE_TEXT
#include "nets/safetensors.h"
#include "text/textmodel.h"

#include <math.h>
#include <string.h>

static gboolean
parse_pooling (const gchar * s, EtpTextPooling * out)
{
  if (s == NULL || *s == '\0' || g_ascii_strcasecmp (s, "default") == 0)
    *out = ETP_TEXT_POOL_DEFAULT;
  else if (g_ascii_strcasecmp (s, "cls") == 0)
    *out = ETP_TEXT_POOL_CLS;
  else if (g_ascii_strcasecmp (s, "mean") == 0)
    *out = ETP_TEXT_POOL_MEAN;
  else if (g_ascii_strcasecmp (s, "pooler") == 0)
    *out = ETP_TEXT_POOL_POOLER;
  else if (g_ascii_strcasecmp (s, "sif") == 0)
    *out = ETP_TEXT_POOL_SIF;
  else
    return FALSE;
  return TRUE;
}

EtpPromptEmbeddings *
etp_prompt_embeddings_compute (const EtpPromptSet * set,
    const gchar * text_model, const gchar * pooling, const gchar * checkpoint,
    GError ** error)
{
  EtpTextModelOptions opts;
  EtpTextModel *tm = NULL;
  EtpSafetensors *st = NULL;
  const EtpStTensor *tw = NULL, *tb = NULL, *ls = NULL;
  GPtrArray *texts = g_ptr_array_new ();
  guint *owner = NULL, c, k, n, T, E;
  gfloat *raw = NULL, *proj = NULL, *w = NULL, *b = NULL, *cls = NULL;
  gboolean *oov = NULL;
  EtpPromptEmbeddings *pe = NULL;

  etp_text_model_options_init (&opts);
  if (!parse_pooling (pooling, &opts.pooling)) {
    g_set_error (error, ETP_ERROR, ETP_ERROR_INVALID,
        "text pooling '%s': expected default, cls, mean, pooler or sif", pooling);
    goto out;
  }
  opts.truncate = TRUE;
  tm = etp_text_model_open (text_model, &opts, error);
  if (tm == NULL)
    goto out;
  T = etp_text_model_dim (tm);
  E = T;
  if (checkpoint) {
    st = etp_safetensors_open (checkpoint, error);
    if (st == NULL)
      goto out;
    tw = etp_safetensors_get (st, "text_proj.weight");
    tb = etp_safetensors_get (st, "text_proj.bias");
    ls = etp_safetensors_get (st, "logit_scale");
    if (tw == NULL || tw->ndim != 2 || tw->shape[1] != T) {
      g_set_error (error, ETP_ERROR, ETP_ERROR_MISMATCH,
          "%s: text_proj.weight %s (need [embed_dim, %u] for text model %s)",
          checkpoint, tw ? "has the wrong shape" : "is missing", T, text_model);
      goto out;
    }
    E = (guint) tw->shape[0];
    if (tb && (tb->ndim != 1 || tb->shape[0] != E)) {
      g_set_error (error, ETP_ERROR, ETP_ERROR_MISMATCH,
          "%s: text_proj.bias shape does not match text_proj.weight", checkpoint);
      goto out;
    }
    w = g_new (gfloat, (gsize) E * T);
    etp_st_tensor_to_f32 (tw, w);
    b = g_new0 (gfloat, E);
    if (tb)
      etp_st_tensor_to_f32 (tb, b);
  }
  for (c = 0; c < set->n_classes; c++)
    for (k = 0; set->prompts[c][k]; k++)
      g_ptr_array_add (texts, set->prompts[c][k]);
  n = texts->len;
  owner = g_new (guint, n);
  for (c = 0, n = 0; c < set->n_classes; c++)
    for (k = 0; set->prompts[c][k]; k++)
      owner[n++] = c;
  raw = g_new (gfloat, (gsize) n * T);
  oov = g_new0 (gboolean, n);
  if (!etp_text_model_encode (tm, (const gchar * const *) texts->pdata, n, raw,
          oov, error))
    goto out;
  proj = g_new (gfloat, (gsize) n * E);
  for (k = 0; k < n; k++) {
    if (oov[k]) {
      g_set_error (error, ETP_ERROR, ETP_ERROR_INVALID,
          "prompt \"%s\" (class %s) has no word known to %s",
          (const gchar *) texts->pdata[k], set->class_names[owner[k]], text_model);
      goto out;
    }
    if (w) {
      guint i, j;
      for (i = 0; i < E; i++) {
        gdouble s = b[i];
        for (j = 0; j < T; j++)
          s += (gdouble) w[(gsize) i * T + j] * raw[(gsize) k * T + j];
        proj[(gsize) k * E + i] = (gfloat) s;
      }
    } else {
      memcpy (proj + (gsize) k * E, raw + (gsize) k * T, T * sizeof (gfloat));
    }
  }
  cls = g_new (gfloat, (gsize) set->n_classes * E);
  for (c = 0, k = 0; c < set->n_classes; c++) {
    guint m = g_strv_length (set->prompts[c]);
    etp_average_normalised (proj + (gsize) k * E, m, E, cls + (gsize) c * E);
    k += m;
  }
  pe = etp_prompt_embeddings_new ((const gchar * const *) set->class_names, cls,
      set->n_classes, E);
  for (c = 0; c < set->n_classes; c++) {
    g_free (pe->aliases[c]);
    pe->aliases[c] = g_strdup (set->aliases ? set->aliases[c] : "");
  }
  if (ls && ls->numel == 1) {
    gfloat v;
    etp_st_tensor_to_f32 (ls, &v);
    pe->logit_scale = exp (v);
  }
  pe->text_model = g_strdup (etp_text_model_identity (tm));
  pe->checkpoint = g_strdup (checkpoint);

out:
  if (st)
    etp_safetensors_free (st);
  if (tm)
    etp_text_model_free (tm);
  g_ptr_array_free (texts, TRUE);
  g_free (owner);
  g_free (raw);
  g_free (proj);
  g_free (w);
  g_free (b);
  g_free (cls);
  g_free (oov);
  return pe;
}

#else

EtpPromptEmbeddings *
etp_prompt_embeddings_compute (const EtpPromptSet * set,
    const gchar * text_model, const gchar * pooling, const gchar * checkpoint,
    GError ** error)
{
  g_set_error (error, ETP_ERROR, ETP_ERROR_UNSUPPORTED,
      "text model %s: this build has no text encoder (models/text); use a "
      "precomputed prompt-embeddings file", text_model);
  return NULL;
}

#endif
