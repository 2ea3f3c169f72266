/* Zero-shot class prompts and their embeddings (plain C).
 *
 * Prompt files (the .tsv files in models/prompts/): one class per line,
 *   CLASS<TAB>prompt 1|prompt 2|...[<TAB>alias,alias]
 * (aliases: other label names meaning the same class, used to match the
 * class against the labels carried by the data, e.g. "AF" = "AFIB").
 * '#' starts a comment line; a line with only CLASS uses the template
 * ("this ECG indicates {}", {} replaced by the class name). A class's prompt
 * embeddings are L2-normalised, averaged and normalised again.
 *
 * Prompt-embedding files: safetensors with one F32 tensor "embeddings" of
 * shape [n_classes, dim] (rows L2-normalised) and __metadata__ format =
 * "etp-prompts-1", classes = class names joined by '\n', and optionally
 * aliases (per class, joined by '\n'), logit_scale (exp of the learned CLIP scale, e.g. "14.29"), text_model,
 * checkpoint, prompts. A raw little-endian float32 file of n_classes x dim
 * values with the class names given separately is accepted as well.
 */
#ifndef ETP_EVAL_PROMPTSET_H
#define ETP_EVAL_PROMPTSET_H

#include <glib.h>

G_BEGIN_DECLS

#define ETP_DEFAULT_PROMPT_TEMPLATE "this ECG indicates {}"

typedef struct {
  guint n_classes;
  gchar **class_names;      /* NULL-terminated */
  gchar ***prompts;         /* per class: NULL-terminated prompt texts */
  gchar **aliases;          /* per class: comma-separated aliases or "" */
} EtpPromptSet;

EtpPromptSet *etp_prompt_set_load (const gchar * path, const gchar * template_,
    GError ** error);
/* @classes: comma-separated names; each becomes one templated prompt. */
EtpPromptSet *etp_prompt_set_from_classes (const gchar * classes,
    const gchar * template_, GError ** error);
void etp_prompt_set_free (EtpPromptSet * set);

/* "{}" in @template_ replaced by @name (appended after a space without {}). */
gchar *etp_prompt_apply_template (const gchar * template_, const gchar * name);

typedef struct {
  guint n_classes, dim;
  gchar **class_names;      /* NULL-terminated */
  gchar **aliases;          /* per class: comma-separated aliases or "" */
  gfloat *embeddings;       /* n_classes x dim, rows L2-normalised */
  gdouble logit_scale;      /* NaN when unknown */
  gchar *text_model;        /* provenance, may be NULL */
  gchar *checkpoint;
  gchar *prompts;
} EtpPromptEmbeddings;

/* Takes copies; normalises the rows. */
EtpPromptEmbeddings *etp_prompt_embeddings_new (const gchar * const *names,
    const gfloat * embeddings, guint n_classes, guint dim);
/* safetensors as above; when @classes (comma list) is given and the file is
 * not safetensors, the file is read as raw float32 n_classes x dim. */
EtpPromptEmbeddings *etp_prompt_embeddings_load (const gchar * path,
    const gchar * classes, GError ** error);
gboolean etp_prompt_embeddings_save (const EtpPromptEmbeddings * pe,
    const gchar * path, GError ** error);
void etp_prompt_embeddings_free (EtpPromptEmbeddings * pe);

/* TRUE when @label equals class @c's name or one of its aliases
 * (ASCII case-insensitive). */
gboolean etp_prompt_class_matches (const gchar * name, const gchar * aliases,
    const gchar * label);

/* Average of L2-normalised vectors (n x dim) into @out, normalised. */
void etp_average_normalised (const gfloat * vecs, guint n, guint dim,
    gfloat * out);

/* Zero-shot scores of one embedding @x (dim values): @cosine[c] = cos(x,
 * class c); @prob[c] = softmax_c(cosine * scale). Returns the arg-max class,
 * or -1 when @x has zero norm or is not finite. */
gint etp_zeroshot_score (const EtpPromptEmbeddings * pe, const gfloat * x,
    gdouble scale, gfloat * cosine, gfloat * prob);

G_END_DECLS

#endif
