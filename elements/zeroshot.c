/* zeroshot: zero-shot classification of ECG embeddings by their cosine
 * similarity to class-prompt embeddings (docs/elements/zeroshot.md).
 *
 * In-place GstBaseTransform on other/tensors: each buffer (one embedding of
 * one window) is passed on with an EtpClassificationMeta; optionally an
 * `etp-zeroshot` element message per window, "LABEL (p=0.87)" lines on a
 * request pad `text_src`, and a scores CSV. At EOS the record-level scores
 * (mean over a record's windows) are evaluated against the labels of the
 * EtpEcgMeta when they are known: AUC per class and, for ACC/F1, either
 * thresholds fitted on validation data (`thresholds`, written by a run with
 * `fit-thresholds`) or the arg-max rule — never thresholds chosen on the
 * data being evaluated.
 */
#include "config.h"

#include "zeroshot.h"
#include "etpcaps.h"
#include "etpmeta.h"
#include "eval/metrics.h"
#include "eval/promptembed.h"
#include "eval/promptset.h"
#include "util/etperror.h"

#include <json-glib/json-glib.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

GST_DEBUG_CATEGORY_STATIC (etp_zero_shot_debug);
#define GST_CAT_DEFAULT etp_zero_shot_debug

/* ---------------------------------------------------------------------- */
/* EtpClassificationMeta */

static const gchar *etp_classification_meta_tags[] = { NULL };

GType
etp_classification_meta_api_get_type (void)
{
  static GType type = 0;

  if (g_once_init_enter (&type)) {
    /* a second copy of this code (test binaries) finds the same type */
    GType t = g_type_from_name ("EtpClassificationMetaAPI");
    if (t == 0)
      t = gst_meta_api_type_register ("EtpClassificationMetaAPI",
          etp_classification_meta_tags);
    g_once_init_leave (&type, t);
  }
  return type;
}

static gboolean
etp_classification_meta_init (GstMeta * meta, gpointer params, GstBuffer * buf)
{
  EtpClassificationMeta *m = (EtpClassificationMeta *) meta;

  m->n_classes = 0;
  m->class_names = NULL;
  m->scores = m->cosine = m->probabilities = NULL;
  m->top_index = -1;
  m->scoring = ETP_ZEROSHOT_SCORING_SOFTMAX;
  return TRUE;
}

static void
etp_classification_meta_free (GstMeta * meta, GstBuffer * buf)
{
  EtpClassificationMeta *m = (EtpClassificationMeta *) meta;

  g_strfreev (m->class_names);
  g_free (m->scores);
  g_free (m->cosine);
  g_free (m->probabilities);
}

static void
classification_meta_fill (EtpClassificationMeta * m,
    const gchar * const *names, guint n)
{
  guint c;

  m->n_classes = n;
  m->class_names = g_new0 (gchar *, n + 1);
  for (c = 0; c < n; c++)
    m->class_names[c] = g_strdup (names[c]);
  m->scores = g_new0 (gfloat, MAX (n, 1));
  m->cosine = g_new0 (gfloat, MAX (n, 1));
  m->probabilities = g_new0 (gfloat, MAX (n, 1));
}

static gboolean
etp_classification_meta_transform (GstBuffer * dest, GstMeta * meta,
    GstBuffer * buf, GQuark type, gpointer data)
{
  EtpClassificationMeta *s = (EtpClassificationMeta *) meta, *d;

  if (!GST_META_TRANSFORM_IS_COPY (type))
    return FALSE;
  d = etp_buffer_add_classification_meta (dest,
      (const gchar * const *) s->class_names, s->n_classes);
  if (d == NULL)
    return FALSE;
  memcpy (d->scores, s->scores, s->n_classes * sizeof (gfloat));
  memcpy (d->cosine, s->cosine, s->n_classes * sizeof (gfloat));
  memcpy (d->probabilities, s->probabilities, s->n_classes * sizeof (gfloat));
  d->top_index = s->top_index;
  d->scoring = s->scoring;
  return TRUE;
}

const GstMetaInfo *
etp_classification_meta_get_info (void)
{
  static const GstMetaInfo *info = NULL;

  if (g_once_init_enter (&info)) {
    const GstMetaInfo *mi = gst_meta_get_info ("EtpClassificationMeta");
    if (mi == NULL)
      mi = gst_meta_register (ETP_CLASSIFICATION_META_API_TYPE,
          "EtpClassificationMeta", sizeof (EtpClassificationMeta),
          etp_classification_meta_init, etp_classification_meta_free,
          etp_classification_meta_transform);
    g_once_init_leave (&info, mi);
  }
  return info;
}

EtpClassificationMeta *
etp_buffer_add_classification_meta (GstBuffer * buffer,
    const gchar * const *class_names, guint n_classes)
{
  EtpClassificationMeta *m;

  g_return_val_if_fail (GST_IS_BUFFER (buffer), NULL);
  m = (EtpClassificationMeta *) gst_buffer_add_meta (buffer,
      ETP_CLASSIFICATION_META_INFO, NULL);
  if (m)
    classification_meta_fill (m, class_names, n_classes);
  return m;
}

/* ---------------------------------------------------------------------- */
/* the element */

typedef struct {
  gchar *id;
  gdouble *sum;               /* n_classes */
  guint n_windows;
  gboolean known;             /* labels known */
  gfloat *truth;              /* n_classes, 1/0 */
} Record;

struct _EtpZeroShot {
  GstBaseTransform parent;

  /* properties */
  gchar *prompt_embeddings;
  gchar *classes;
  gchar *template_;
  gchar *prompts;
  gchar *text_model;
  gchar *text_pooling;
  gchar *checkpoint;
  gchar *save_prompt_embeddings;
  EtpZeroShotScoring scoring;
  gdouble temperature;
  gchar *scores_path;
  gchar *report;
  gchar *thresholds_path;
  gchar *fit_thresholds;
  EtpThresholdMethod threshold_method;
  gboolean post_messages;
  gboolean print_records;
  gboolean silent;

  /* state (streaming thread) */
  EtpPromptEmbeddings *pe;
  gdouble scale;
  guint dim;
  gfloat *cosv, *probv;
  gdouble *thr;               /* loaded thresholds or NULL */
  FILE *csv;
  GHashTable *rec_index;      /* id -> index + 1 */
  GPtrArray *records;
  gboolean *evaluable;        /* per class: appears in the data's label set */
  guint64 n_windows;
  gboolean finished;

  GstPad *text_pad;
  gboolean text_need_events;   /* stream-start + caps + segment */
  gboolean text_need_segment;  /* a new segment only */
};

enum {
  PROP_0,
  PROP_PROMPT_EMBEDDINGS,
  PROP_CLASSES,
  PROP_TEMPLATE,
  PROP_PROMPTS,
  PROP_TEXT_MODEL,
  PROP_TEXT_POOLING,
  PROP_CHECKPOINT,
  PROP_SAVE_PROMPT_EMBEDDINGS,
  PROP_SCORING,
  PROP_TEMPERATURE,
  PROP_SCORES,
  PROP_REPORT,
  PROP_THRESHOLDS,
  PROP_FIT_THRESHOLDS,
  PROP_THRESHOLD_METHOD,
  PROP_POST_MESSAGES,
  PROP_PRINT_RECORDS,
  PROP_SILENT,
};

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE ("sink",
    GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS (ETP_TENSOR_CAPS_STR));
static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE ("src",
    GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS (ETP_TENSOR_CAPS_STR));
static GstStaticPadTemplate text_template = GST_STATIC_PAD_TEMPLATE ("text_src",
    GST_PAD_SRC, GST_PAD_REQUEST, GST_STATIC_CAPS (ETP_TEXT_CAPS_STR));

G_DEFINE_TYPE (EtpZeroShot, etp_zero_shot, GST_TYPE_BASE_TRANSFORM);
GST_ELEMENT_REGISTER_DEFINE (zeroshot, "zeroshot", GST_RANK_NONE,
    ETP_TYPE_ZERO_SHOT);

#define ETP_TYPE_ZERO_SHOT_SCORING (etp_zero_shot_scoring_get_type ())
static GType
etp_zero_shot_scoring_get_type (void)
{
  static GType t = 0;
  static const GEnumValue values[] = {
    {ETP_ZEROSHOT_SCORING_COSINE, "Raw cosine similarity per class",
        "cosine"},
    {ETP_ZEROSHOT_SCORING_SOFTMAX, "Softmax over the classes of cosine / "
          "temperature", "softmax"},
    {0, NULL, NULL}
  };
  if (g_once_init_enter (&t)) {
    GType tmp = g_type_from_name ("EtpZeroShotScoring");
    if (!tmp)
      tmp = g_enum_register_static ("EtpZeroShotScoring", values);
    g_once_init_leave (&t, tmp);
  }
  return t;
}

#define ETP_TYPE_ZERO_SHOT_THRESHOLD (etp_zero_shot_threshold_get_type ())
static GType
etp_zero_shot_threshold_get_type (void)
{
  static GType t = 0;
  static const GEnumValue values[] = {
    {ETP_THRESHOLD_MAX_F1, "Per class, the threshold with the best F1",
        "f1"},
    {ETP_THRESHOLD_YOUDEN, "Per class, max TPR - FPR (Youden's J)", "youden"},
    {0, NULL, NULL}
  };
  if (g_once_init_enter (&t)) {
    GType tmp = g_type_from_name ("EtpZeroShotThresholdMethod");
    if (!tmp)
      tmp = g_enum_register_static ("EtpZeroShotThresholdMethod", values);
    g_once_init_leave (&t, tmp);
  }
  return t;
}

static const gchar *
scoring_name (EtpZeroShotScoring s)
{
  return s == ETP_ZEROSHOT_SCORING_COSINE ? "cosine" : "softmax";
}

static void
record_free (Record * r)
{
  g_free (r->id);
  g_free (r->sum);
  g_free (r->truth);
  g_free (r);
}

static void
clear_state (EtpZeroShot * self)
{
  etp_prompt_embeddings_free (self->pe);
  self->pe = NULL;
  g_clear_pointer (&self->cosv, g_free);
  g_clear_pointer (&self->probv, g_free);
  g_clear_pointer (&self->thr, g_free);
  g_clear_pointer (&self->evaluable, g_free);
  if (self->csv) {
    fclose (self->csv);
    self->csv = NULL;
  }
  g_clear_pointer (&self->rec_index, g_hash_table_unref);
  g_clear_pointer (&self->records, g_ptr_array_unref);
  self->n_windows = 0;
  self->dim = 0;
  self->finished = FALSE;
}

/* Loads thresholds written by fit-thresholds; they must be for the same
 * classes (in order) and the same scoring. */
static gboolean
load_thresholds (EtpZeroShot * self, GError ** error)
{
  JsonParser *p = json_parser_new ();
  JsonObject *o;
  JsonArray *cls, *thr;
  guint C = self->pe->n_classes, c;
  gboolean ok = FALSE;

  if (!json_parser_load_from_file (p, self->thresholds_path, error))
    goto out;
  if (!JSON_NODE_HOLDS_OBJECT (json_parser_get_root (p)))
    goto bad;
  o = json_node_get_object (json_parser_get_root (p));
  if (!json_object_has_member (o, "classes") || !json_object_has_member (o,
          "thresholds"))
    goto bad;
  cls = json_object_get_array_member (o, "classes");
  thr = json_object_get_array_member (o, "thresholds");
  if (!cls || !thr || json_array_get_length (cls) != C
      || json_array_get_length (thr) != C)
    goto bad;
  for (c = 0; c < C; c++) {
    if (g_strcmp0 (json_array_get_string_element (cls, c),
            self->pe->class_names[c]) != 0) {
      g_set_error (error, ETP_ERROR, ETP_ERROR_MISMATCH,
          "%s: class %u is '%s', the prompts' class is '%s'",
          self->thresholds_path, c, json_array_get_string_element (cls, c),
          self->pe->class_names[c]);
      goto out;
    }
  }
  if (g_strcmp0 (json_object_get_string_member_with_default (o, "scoring", ""),
          scoring_name (self->scoring)) != 0) {
    g_set_error (error, ETP_ERROR, ETP_ERROR_MISMATCH,
        "%s: thresholds are for scoring=%s, this element uses scoring=%s",
        self->thresholds_path,
        json_object_get_string_member_with_default (o, "scoring", "?"),
        scoring_name (self->scoring));
    goto out;
  }
  self->thr = g_new (gdouble, C);
  for (c = 0; c < C; c++)
    self->thr[c] = json_array_get_double_element (thr, c);
  ok = TRUE;
  goto out;
bad:
  g_set_error (error, ETP_ERROR, ETP_ERROR_FORMAT,
      "%s: not a thresholds file (expected {\"classes\": [...], "
      "\"thresholds\": [...], \"scoring\": ...} with one threshold per class)",
      self->thresholds_path);
out:
  g_object_unref (p);
  return ok;
}

static gboolean
etp_zero_shot_start (GstBaseTransform * trans)
{
  EtpZeroShot *self = ETP_ZERO_SHOT (trans);
  GError *err = NULL;
  guint C, c;

  clear_state (self);
  GST_OBJECT_LOCK (self);
  if (self->prompt_embeddings && *self->prompt_embeddings) {
    self->pe = etp_prompt_embeddings_load (self->prompt_embeddings,
        self->classes, &err);
  } else if (self->text_model && *self->text_model) {
    EtpPromptSet *set;
    if (self->prompts && *self->prompts)
      set = etp_prompt_set_load (self->prompts, self->template_, &err);
    else
      set = etp_prompt_set_from_classes (self->classes, self->template_, &err);
    if (set) {
      self->pe = etp_prompt_embeddings_compute (set, self->text_model,
          self->text_pooling, self->checkpoint, &err);
      if (self->pe && self->prompts)
        self->pe->prompts = g_path_get_basename (self->prompts);
      etp_prompt_set_free (set);
    }
  } else {
    g_set_error (&err, ETP_ERROR, ETP_ERROR_INVALID,
        "no prompts: set prompt-embeddings (a precomputed file), or "
        "classes/prompts together with text-model (+ checkpoint)");
  }
  GST_OBJECT_UNLOCK (self);
  if (self->pe == NULL) {
    GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS, ("cannot set up the class "
            "prompts"), ("%s", err->message));
    g_clear_error (&err);
    return FALSE;
  }
  if (self->save_prompt_embeddings && *self->save_prompt_embeddings
      && !etp_prompt_embeddings_save (self->pe, self->save_prompt_embeddings,
          &err)) {
    GST_ELEMENT_ERROR (self, RESOURCE, OPEN_WRITE, (NULL), ("%s", err->message));
    g_clear_error (&err);
    return FALSE;
  }
  C = self->pe->n_classes;
  if (self->temperature > 0)
    self->scale = 1.0 / self->temperature;
  else if (isfinite (self->pe->logit_scale) && self->pe->logit_scale > 0)
    self->scale = self->pe->logit_scale;
  else
    self->scale = 1.0 / 0.07;
  self->cosv = g_new (gfloat, C);
  self->probv = g_new (gfloat, C);
  self->evaluable = g_new0 (gboolean, C);
  self->rec_index = g_hash_table_new (g_str_hash, g_str_equal);
  self->records = g_ptr_array_new_with_free_func ((GDestroyNotify) record_free);
  if (self->thresholds_path && *self->thresholds_path
      && !load_thresholds (self, &err)) {
    GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS, ("bad thresholds file"),
        ("%s", err->message));
    g_clear_error (&err);
    return FALSE;
  }
  if (self->scores_path && *self->scores_path) {
    self->csv = fopen (self->scores_path, "w");
    if (self->csv == NULL) {
      GST_ELEMENT_ERROR (self, RESOURCE, OPEN_WRITE, (NULL),
          ("cannot write scores CSV %s: %s", self->scores_path,
              g_strerror (errno)));
      return FALSE;
    }
    fprintf (self->csv, "record_id,window_index,window_start");
    for (c = 0; c < C; c++)
      fprintf (self->csv, ",%s_%s", scoring_name (self->scoring),
          self->pe->class_names[c]);
    fprintf (self->csv, ",top_label");
    for (c = 0; c < C; c++)
      fprintf (self->csv, ",true_%s", self->pe->class_names[c]);
    fprintf (self->csv, "\n");
  }
  GST_INFO_OBJECT (self, "%u classes, dim %u, scoring %s, scale %.3f", C,
      self->pe->dim, scoring_name (self->scoring), self->scale);
  return TRUE;
}

static gboolean
etp_zero_shot_stop (GstBaseTransform * trans)
{
  clear_state (ETP_ZERO_SHOT (trans));
  return TRUE;
}

static gboolean
etp_zero_shot_set_caps (GstBaseTransform * trans, GstCaps * incaps,
    GstCaps * outcaps)
{
  EtpZeroShot *self = ETP_ZERO_SHOT (trans);
  guint dim = etp_tensor_caps_get_dim (incaps);

  if (dim == 0) {
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION, (NULL),
        ("input caps are not a single float32 vector: %" GST_PTR_FORMAT, incaps));
    return FALSE;
  }
  if (self->pe && dim != self->pe->dim) {
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION, (NULL),
        ("embeddings have %u values but the prompt embeddings have %u (%s)",
            dim, self->pe->dim, self->prompt_embeddings ?
            self->prompt_embeddings : "computed prompts"));
    return FALSE;
  }
  self->dim = dim;
  return TRUE;
}

/* Labels of @meta per class (1/0); FALSE when the meta carries none. */
static gboolean
labels_from_meta (EtpZeroShot * self, const EtpEcgMeta * meta, gfloat * truth,
    gboolean * in_set)
{
  guint C = self->pe->n_classes, c, k;

  if (meta == NULL || (meta->label_set == NULL && meta->label_codes == NULL))
    return FALSE;
  for (c = 0; c < C; c++) {
    const gchar *name = self->pe->class_names[c], *al = self->pe->aliases[c];
    truth[c] = 0.0f;
    in_set[c] = FALSE;
    for (k = 0; meta->label_codes && meta->label_codes[k]; k++) {
      if (etp_prompt_class_matches (name, al, meta->label_codes[k])) {
        truth[c] = 1.0f;
        in_set[c] = TRUE;
      }
    }
    for (k = 0; meta->label_set && meta->label_set[k]; k++)
      if (etp_prompt_class_matches (name, al, meta->label_set[k]))
        in_set[c] = TRUE;
  }
  return TRUE;
}

static void
push_text (EtpZeroShot * self, GstBuffer * inbuf, const gchar * label,
    gdouble score)
{
  GstPad *pad;
  GstBuffer *out;
  gchar *text;
  GstFlowReturn ret;

  GST_OBJECT_LOCK (self);
  pad = self->text_pad ? gst_object_ref (self->text_pad) : NULL;
  GST_OBJECT_UNLOCK (self);
  if (pad == NULL)
    return;
  if (self->text_need_events) {
    gchar *sid = gst_pad_create_stream_id (pad, GST_ELEMENT (self), "text");
    GstCaps *caps = gst_caps_from_string (ETP_TEXT_CAPS_STR);

    gst_pad_push_event (pad, gst_event_new_stream_start (sid));
    gst_pad_push_event (pad, gst_event_new_caps (caps));
    gst_caps_unref (caps);
    g_free (sid);
    self->text_need_events = FALSE;
    self->text_need_segment = TRUE;
  }
  if (self->text_need_segment) {
    GstSegment seg;

    gst_segment_init (&seg, GST_FORMAT_TIME);
    if (GST_BASE_TRANSFORM (self)->segment.format == GST_FORMAT_TIME)
      gst_segment_copy_into (&GST_BASE_TRANSFORM (self)->segment, &seg);
    gst_pad_push_event (pad, gst_event_new_segment (&seg));
    self->text_need_segment = FALSE;
  }
  if (self->scoring == ETP_ZEROSHOT_SCORING_SOFTMAX)
    text = g_strdup_printf ("%s (p=%.2f)\n", label, score);
  else
    text = g_strdup_printf ("%s (cos=%.2f)\n", label, score);
  out = gst_buffer_new_wrapped (text, strlen (text));
  GST_BUFFER_PTS (out) = GST_BUFFER_PTS (inbuf);
  GST_BUFFER_DURATION (out) = GST_BUFFER_DURATION (inbuf);
  ret = gst_pad_push (pad, out);
  if (ret != GST_FLOW_OK && ret != GST_FLOW_NOT_LINKED)
    GST_DEBUG_OBJECT (self, "text push: %s", gst_flow_get_name (ret));
  gst_object_unref (pad);
}

static void
post_window (EtpZeroShot * self, GstBuffer * buf, const EtpEcgMeta * meta,
    const gchar * rec_id, const gfloat * scores, gint top)
{
  GValue classes = G_VALUE_INIT, vals = G_VALUE_INIT;
  GstStructure *s;
  guint c, C = self->pe->n_classes;

  gst_value_array_init (&classes, C);
  gst_value_array_init (&vals, C);
  for (c = 0; c < C; c++) {
    GValue v = G_VALUE_INIT;
    g_value_init (&v, G_TYPE_STRING);
    g_value_set_string (&v, self->pe->class_names[c]);
    gst_value_array_append_and_take_value (&classes, &v);
    g_value_init (&v, G_TYPE_DOUBLE);
    g_value_set_double (&v, scores[c]);
    gst_value_array_append_and_take_value (&vals, &v);
  }
  s = gst_structure_new ("etp-zeroshot",
      "record-id", G_TYPE_STRING, rec_id,
      "window-index", G_TYPE_UINT, meta ? meta->window_index : 0,
      "window-start", G_TYPE_UINT64, meta ? meta->window_start : 0,
      "pts", G_TYPE_UINT64, GST_BUFFER_PTS (buf),
      "scoring", G_TYPE_STRING, scoring_name (self->scoring),
      "top-index", G_TYPE_INT, top,
      "top-label", G_TYPE_STRING, top >= 0 ? self->pe->class_names[top] : "",
      "top-score", G_TYPE_DOUBLE, top >= 0 ? (gdouble) scores[top] : NAN, NULL);
  gst_structure_take_value (s, "classes", &classes);
  gst_structure_take_value (s, "scores", &vals);
  gst_element_post_message (GST_ELEMENT (self),
      gst_message_new_element (GST_OBJECT (self), s));
}

static GstFlowReturn
etp_zero_shot_transform_ip (GstBaseTransform * trans, GstBuffer * buf)
{
  EtpZeroShot *self = ETP_ZERO_SHOT (trans);
  EtpEcgMeta *meta = etp_buffer_get_ecg_meta (buf);
  EtpClassificationMeta *cm;
  GstMapInfo map;
  guint C = self->pe->n_classes, c;
  const gfloat *scores;
  gint top;
  gchar *rec_id;
  Record *rec;
  gpointer idx;
  gfloat *truth = g_newa (gfloat, C);
  gboolean *in_set = g_newa (gboolean, C), known;

  if (!gst_buffer_map (buf, &map, GST_MAP_READ))
    return GST_FLOW_ERROR;
  if (map.size != (gsize) self->pe->dim * sizeof (gfloat)) {
    GST_ELEMENT_ERROR (self, STREAM, FORMAT, (NULL),
        ("buffer of %" G_GSIZE_FORMAT " bytes, expected one embedding of %u "
            "float32 values", map.size, self->pe->dim));
    gst_buffer_unmap (buf, &map);
    return GST_FLOW_ERROR;
  }
  top = etp_zeroshot_score (self->pe, (const gfloat *) map.data, self->scale,
      self->cosv, self->probv);
  gst_buffer_unmap (buf, &map);
  if (top < 0)
    GST_WARNING_OBJECT (self, "window %" G_GUINT64_FORMAT " has a zero or "
        "non-finite embedding: uniform scores, no top label", self->n_windows);
  scores = self->scoring == ETP_ZEROSHOT_SCORING_COSINE ? self->cosv : self->probv;

  cm = etp_buffer_add_classification_meta (buf,
      (const gchar * const *) self->pe->class_names, C);
  memcpy (cm->scores, scores, C * sizeof (gfloat));
  memcpy (cm->cosine, self->cosv, C * sizeof (gfloat));
  memcpy (cm->probabilities, self->probv, C * sizeof (gfloat));
  cm->top_index = top;
  cm->scoring = self->scoring;

  if (meta && meta->record_id)
    rec_id = g_strdup (meta->record_id);
  else
    rec_id = g_strdup_printf ("#%" G_GUINT64_FORMAT, self->n_windows);
  known = labels_from_meta (self, meta, truth, in_set);
  if (g_hash_table_lookup_extended (self->rec_index, rec_id, NULL, &idx)) {
    rec = g_ptr_array_index (self->records, GPOINTER_TO_UINT (idx) - 1);
  } else {
    rec = g_new0 (Record, 1);
    rec->id = g_strdup (rec_id);
    rec->sum = g_new0 (gdouble, C);
    rec->truth = g_new0 (gfloat, C);
    rec->known = known;
    if (known)
      memcpy (rec->truth, truth, C * sizeof (gfloat));
    g_ptr_array_add (self->records, rec);
    g_hash_table_insert (self->rec_index, rec->id,
        GUINT_TO_POINTER (self->records->len));
  }
  if (known)
    for (c = 0; c < C; c++)
      self->evaluable[c] |= in_set[c];
  for (c = 0; c < C; c++)
    rec->sum[c] += scores[c];
  rec->n_windows++;

  if (self->csv) {
    gchar num[G_ASCII_DTOSTR_BUF_SIZE];
    fprintf (self->csv, "%s,%u,%" G_GUINT64_FORMAT, rec_id,
        meta ? meta->window_index : 0, meta ? meta->window_start : 0);
    for (c = 0; c < C; c++)
      fprintf (self->csv, ",%s", g_ascii_formatd (num, sizeof num, "%.6g",
              scores[c]));
    fprintf (self->csv, ",%s", top >= 0 ? self->pe->class_names[top] : "");
    for (c = 0; c < C; c++)
      fprintf (self->csv, known ? ",%d" : ",", (int) truth[c]);
    fprintf (self->csv, "\n");
  }
  if (self->post_messages)
    post_window (self, buf, meta, rec_id, scores, top);
  if (top >= 0)
    push_text (self, buf, self->pe->class_names[top], scores[top]);
  self->n_windows++;
  g_free (rec_id);
  return GST_FLOW_OK;
}

static gboolean
write_thresholds (EtpZeroShot * self, const gchar ** names, const gdouble * thr,
    guint n, guint n_records, GError ** error)
{
  JsonBuilder *b = json_builder_new ();
  JsonGenerator *gen = json_generator_new ();
  JsonNode *root;
  gboolean ok;
  guint c;

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "format");
  json_builder_add_string_value (b, "etp-thresholds-1");
  json_builder_set_member_name (b, "scoring");
  json_builder_add_string_value (b, scoring_name (self->scoring));
  json_builder_set_member_name (b, "method");
  json_builder_add_string_value (b, self->threshold_method ==
      ETP_THRESHOLD_YOUDEN ? "youden" : "f1");
  json_builder_set_member_name (b, "n_records");
  json_builder_add_int_value (b, n_records);
  json_builder_set_member_name (b, "classes");
  json_builder_begin_array (b);
  for (c = 0; c < n; c++)
    json_builder_add_string_value (b, names[c]);
  json_builder_end_array (b);
  json_builder_set_member_name (b, "thresholds");
  json_builder_begin_array (b);
  for (c = 0; c < n; c++)
    json_builder_add_double_value (b, thr[c]);
  json_builder_end_array (b);
  json_builder_end_object (b);
  root = json_builder_get_root (b);
  json_generator_set_root (gen, root);
  json_generator_set_pretty (gen, TRUE);
  ok = json_generator_to_file (gen, self->fit_thresholds, error);
  json_node_unref (root);
  g_object_unref (gen);
  g_object_unref (b);
  return ok;
}

static void
finish (EtpZeroShot * self)
{
  guint C, c, k, n_rec, n_known = 0, n_eval = 0, *cls_idx;
  gfloat *score_all, *score, *truth, *pred;
  const gchar **names;
  gdouble *thr = NULL;
  EtpClassReport *r = NULL;
  const gchar *rule;
  gchar *rule_buf = NULL;
  GError *err = NULL;

  if (self->finished || self->pe == NULL)
    return;
  self->finished = TRUE;
  if (self->csv)
    fflush (self->csv);
  C = self->pe->n_classes;
  n_rec = self->records->len;
  score_all = g_new (gfloat, (gsize) MAX (n_rec, 1) * C);
  for (k = 0; k < n_rec; k++) {
    Record *rec = g_ptr_array_index (self->records, k);
    for (c = 0; c < C; c++)
      score_all[(gsize) k * C + c] = (gfloat) (rec->sum[c] / rec->n_windows);
    n_known += rec->known;
  }
  if (self->print_records && !self->silent) {
    g_print ("%-16s %-10s %8s  %s\n", "record", "top", "score", "labels");
    for (k = 0; k < n_rec; k++) {
      Record *rec = g_ptr_array_index (self->records, k);
      guint best = 0;
      GString *lab = g_string_new (NULL);
      for (c = 1; c < C; c++)
        if (score_all[(gsize) k * C + c] > score_all[(gsize) k * C + best])
          best = c;
      for (c = 0; rec->known && c < C; c++)
        if (rec->truth[c] > 0.5f)
          g_string_append_printf (lab, "%s%s", lab->len ? "," : "",
              self->pe->class_names[c]);
      g_print ("%-16s %-10s %8.3f  %s\n", rec->id, self->pe->class_names[best],
          score_all[(gsize) k * C + best], rec->known ? lab->str : "(unknown)");
      g_string_free (lab, TRUE);
    }
  }

  /* evaluate the records with labels, over the classes the data labels */
  for (c = 0; c < C; c++)
    n_eval += self->evaluable[c];
  if (n_known == 0 || n_eval == 0) {
    GST_INFO_OBJECT (self, "no labels known: no report");
    if (!self->silent && self->report)
      g_print ("zeroshot: %u records scored; no labels known for the prompt "
          "classes, no metrics\n", n_rec);
    g_free (score_all);
    return;
  }
  cls_idx = g_new (guint, n_eval);
  names = g_new0 (const gchar *, n_eval + 1);
  for (c = 0, k = 0; c < C; c++) {
    if (self->evaluable[c]) {
      cls_idx[k] = c;
      names[k++] = self->pe->class_names[c];
    }
  }
  score = g_new (gfloat, (gsize) n_known * n_eval);
  truth = g_new (gfloat, (gsize) n_known * n_eval);
  {
    guint i = 0;
    for (k = 0; k < n_rec; k++) {
      Record *rec = g_ptr_array_index (self->records, k);
      guint j;
      if (!rec->known)
        continue;
      for (j = 0; j < n_eval; j++) {
        score[(gsize) i * n_eval + j] = score_all[(gsize) k * C + cls_idx[j]];
        truth[(gsize) i * n_eval + j] = rec->truth[cls_idx[j]];
      }
      i++;
    }
  }

  if (self->fit_thresholds && *self->fit_thresholds) {
    thr = g_new (gdouble, n_eval);
    etp_metrics_fit_thresholds (score, truth, n_known, n_eval,
        self->threshold_method, thr);
    if (!write_thresholds (self, names, thr, n_eval, n_known, &err)) {
      GST_ELEMENT_WARNING (self, RESOURCE, OPEN_WRITE, (NULL),
          ("cannot write thresholds %s: %s", self->fit_thresholds, err->message));
      g_clear_error (&err);
    }
    rule_buf = g_strdup_printf ("per-class %s thresholds fitted on THIS data "
        "(%u records) and written to %s: use them on other (test) data; the "
        "ACC/F1 here are optimistic", self->threshold_method ==
        ETP_THRESHOLD_YOUDEN ? "Youden" : "max-F1", n_known,
        self->fit_thresholds);
    rule = rule_buf;
    r = etp_class_report_compute (score, truth, n_known, n_eval, thr, names);
  } else if (self->thr) {
    thr = g_new (gdouble, n_eval);
    for (k = 0; k < n_eval; k++)
      thr[k] = self->thr[cls_idx[k]];
    rule_buf = g_strdup_printf ("per-class thresholds from %s (fitted on "
        "validation data)", self->thresholds_path);
    rule = rule_buf;
    r = etp_class_report_compute (score, truth, n_known, n_eval, thr, names);
  } else {
    /* arg-max rule over all prompt classes: a record is positive for its
     * top-scoring class only */
    guint i = 0;
    pred = g_new0 (gfloat, (gsize) n_known * n_eval);
    for (k = 0; k < n_rec; k++) {
      Record *rec = g_ptr_array_index (self->records, k);
      guint best = 0, j;
      if (!rec->known)
        continue;
      for (c = 1; c < C; c++)
        if (score_all[(gsize) k * C + c] > score_all[(gsize) k * C + best])
          best = c;
      for (j = 0; j < n_eval; j++)
        if (cls_idx[j] == best)
          pred[(gsize) i * n_eval + j] = 1.0f;
      i++;
    }
    rule = "arg-max rule (each record positive for its top-scoring class "
        "only; no thresholds file given)";
    r = etp_class_report_compute_with_predictions (score, truth, pred, n_known,
        n_eval, names);
    g_free (pred);
  }

  if (!self->silent) {
    gchar *title = g_strdup_printf ("zeroshot: %u records (%u with labels), "
        "%" G_GUINT64_FORMAT " windows, scoring=%s, record score = mean over "
        "windows", n_rec, n_known, self->n_windows, scoring_name (self->scoring));
    gchar *table = etp_class_report_format_table (r, title);
    g_print ("%sACC/F1: %s\n", table, rule);
    g_free (table);
    g_free (title);
  }
  if (self->report && *self->report) {
    JsonBuilder *b = json_builder_new ();
    JsonGenerator *gen = json_generator_new ();
    JsonNode *root;

    json_builder_begin_object (b);
    json_builder_set_member_name (b, "element");
    json_builder_add_string_value (b, "zeroshot");
    json_builder_set_member_name (b, "scoring");
    json_builder_add_string_value (b, scoring_name (self->scoring));
    json_builder_set_member_name (b, "softmax_scale");
    json_builder_add_double_value (b, self->scale);
    json_builder_set_member_name (b, "prompt_source");
    json_builder_add_string_value (b, self->prompt_embeddings ?
        self->prompt_embeddings : self->prompts ? self->prompts : "classes");
    if (self->pe->text_model) {
      json_builder_set_member_name (b, "text_model");
      json_builder_add_string_value (b, self->pe->text_model);
    }
    if (self->pe->checkpoint) {
      json_builder_set_member_name (b, "checkpoint");
      json_builder_add_string_value (b, self->pe->checkpoint);
    }
    json_builder_set_member_name (b, "prompt_classes");
    json_builder_begin_array (b);
    for (c = 0; c < C; c++)
      json_builder_add_string_value (b, self->pe->class_names[c]);
    json_builder_end_array (b);
    json_builder_set_member_name (b, "n_records");
    json_builder_add_int_value (b, n_rec);
    json_builder_set_member_name (b, "n_records_with_labels");
    json_builder_add_int_value (b, n_known);
    json_builder_set_member_name (b, "n_windows");
    json_builder_add_int_value (b, (gint64) self->n_windows);
    json_builder_set_member_name (b, "record_score");
    json_builder_add_string_value (b, "mean over the record's windows");
    json_builder_set_member_name (b, "threshold_rule");
    json_builder_add_string_value (b, rule);
    etp_class_report_add_json (r, b);
    json_builder_end_object (b);
    root = json_builder_get_root (b);
    json_generator_set_root (gen, root);
    json_generator_set_pretty (gen, TRUE);
    if (!json_generator_to_file (gen, self->report, &err)) {
      GST_ELEMENT_WARNING (self, RESOURCE, OPEN_WRITE, (NULL),
          ("cannot write report %s: %s", self->report, err->message));
      g_clear_error (&err);
    }
    json_node_unref (root);
    g_object_unref (gen);
    g_object_unref (b);
  }
  {
    GstStructure *s = gst_structure_new ("etp-zeroshot-report",
        "n-records", G_TYPE_UINT, n_known,
        "macro-auc", G_TYPE_DOUBLE, r->macro_auc,
        "macro-f1", G_TYPE_DOUBLE, r->macro_f1,
        "macro-accuracy", G_TYPE_DOUBLE, r->macro_accuracy,
        "scoring", G_TYPE_STRING, scoring_name (self->scoring),
        "threshold-rule", G_TYPE_STRING, rule, NULL);
    gst_element_post_message (GST_ELEMENT (self),
        gst_message_new_element (GST_OBJECT (self), s));
  }
  etp_class_report_free (r);
  g_free (thr);
  g_free (rule_buf);
  g_free (score);
  g_free (truth);
  g_free (score_all);
  g_free (cls_idx);
  g_free (names);
}

static gboolean
etp_zero_shot_sink_event (GstBaseTransform * trans, GstEvent * event)
{
  EtpZeroShot *self = ETP_ZERO_SHOT (trans);

  if (GST_EVENT_TYPE (event) == GST_EVENT_EOS) {
    GstPad *pad;
    finish (self);
    GST_OBJECT_LOCK (self);
    pad = self->text_pad ? gst_object_ref (self->text_pad) : NULL;
    GST_OBJECT_UNLOCK (self);
    if (pad) {
      gst_pad_push_event (pad, gst_event_new_eos ());
      gst_object_unref (pad);
    }
  } else if (GST_EVENT_TYPE (event) == GST_EVENT_FLUSH_START
      || GST_EVENT_TYPE (event) == GST_EVENT_FLUSH_STOP) {
    GstPad *pad;
    GST_OBJECT_LOCK (self);
    pad = self->text_pad ? gst_object_ref (self->text_pad) : NULL;
    GST_OBJECT_UNLOCK (self);
    if (pad) {
      gst_pad_push_event (pad, GST_EVENT_TYPE (event) == GST_EVENT_FLUSH_START ?
          gst_event_new_flush_start () : gst_event_new_flush_stop (TRUE));
      gst_object_unref (pad);
    }
  } else if (GST_EVENT_TYPE (event) == GST_EVENT_SEGMENT) {
    /* the text pad takes the new segment with its next buffer */
    self->text_need_segment = TRUE;
  }
  return GST_BASE_TRANSFORM_CLASS (etp_zero_shot_parent_class)->sink_event
      (trans, event);
}

static GstPad *
etp_zero_shot_request_new_pad (GstElement * element, GstPadTemplate * templ,
    const gchar * name, const GstCaps * caps)
{
  EtpZeroShot *self = ETP_ZERO_SHOT (element);
  GstPad *pad;

  GST_OBJECT_LOCK (self);
  if (self->text_pad) {
    GST_OBJECT_UNLOCK (self);
    GST_WARNING_OBJECT (self, "text_src already requested");
    return NULL;
  }
  GST_OBJECT_UNLOCK (self);
  pad = gst_pad_new_from_template (templ, "text_src");
  gst_pad_use_fixed_caps (pad);
  gst_pad_set_active (pad, TRUE);
  GST_OBJECT_LOCK (self);
  self->text_pad = pad;
  self->text_need_events = TRUE;
  GST_OBJECT_UNLOCK (self);
  gst_element_add_pad (element, pad);
  return pad;
}

static void
etp_zero_shot_release_pad (GstElement * element, GstPad * pad)
{
  EtpZeroShot *self = ETP_ZERO_SHOT (element);

  GST_OBJECT_LOCK (self);
  if (pad != self->text_pad) {
    GST_OBJECT_UNLOCK (self);
    return;
  }
  self->text_pad = NULL;
  GST_OBJECT_UNLOCK (self);
  gst_pad_set_active (pad, FALSE);
  gst_element_remove_pad (element, pad);
}

static GstStateChangeReturn
etp_zero_shot_change_state (GstElement * element, GstStateChange transition)
{
  EtpZeroShot *self = ETP_ZERO_SHOT (element);

  if (transition == GST_STATE_CHANGE_READY_TO_PAUSED)
    self->text_need_events = TRUE;
  return GST_ELEMENT_CLASS (etp_zero_shot_parent_class)->change_state (element,
      transition);
}

#define SET_STR(field) do { g_free (self->field); \
    self->field = g_value_dup_string (value); } while (0)

static void
etp_zero_shot_set_property (GObject * object, guint prop_id,
    const GValue * value, GParamSpec * pspec)
{
  EtpZeroShot *self = ETP_ZERO_SHOT (object);

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_PROMPT_EMBEDDINGS:
      SET_STR (prompt_embeddings);
      break;
    case PROP_CLASSES:
      SET_STR (classes);
      break;
    case PROP_TEMPLATE:
      SET_STR (template_);
      break;
    case PROP_PROMPTS:
      SET_STR (prompts);
      break;
    case PROP_TEXT_MODEL:
      SET_STR (text_model);
      break;
    case PROP_TEXT_POOLING:
      SET_STR (text_pooling);
      break;
    case PROP_CHECKPOINT:
      SET_STR (checkpoint);
      break;
    case PROP_SAVE_PROMPT_EMBEDDINGS:
      SET_STR (save_prompt_embeddings);
      break;
    case PROP_SCORING:
      self->scoring = g_value_get_enum (value);
      break;
    case PROP_TEMPERATURE:
      self->temperature = g_value_get_double (value);
      break;
    case PROP_SCORES:
      SET_STR (scores_path);
      break;
    case PROP_REPORT:
      SET_STR (report);
      break;
    case PROP_THRESHOLDS:
      SET_STR (thresholds_path);
      break;
    case PROP_FIT_THRESHOLDS:
      SET_STR (fit_thresholds);
      break;
    case PROP_THRESHOLD_METHOD:
      self->threshold_method = g_value_get_enum (value);
      break;
    case PROP_POST_MESSAGES:
      self->post_messages = g_value_get_boolean (value);
      break;
    case PROP_PRINT_RECORDS:
      self->print_records = g_value_get_boolean (value);
      break;
    case PROP_SILENT:
      self->silent = g_value_get_boolean (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static void
etp_zero_shot_get_property (GObject * object, guint prop_id, GValue * value,
    GParamSpec * pspec)
{
  EtpZeroShot *self = ETP_ZERO_SHOT (object);

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_PROMPT_EMBEDDINGS:
      g_value_set_string (value, self->prompt_embeddings);
      break;
    case PROP_CLASSES:
      g_value_set_string (value, self->classes);
      break;
    case PROP_TEMPLATE:
      g_value_set_string (value, self->template_);
      break;
    case PROP_PROMPTS:
      g_value_set_string (value, self->prompts);
      break;
    case PROP_TEXT_MODEL:
      g_value_set_string (value, self->text_model);
      break;
    case PROP_TEXT_POOLING:
      g_value_set_string (value, self->text_pooling);
      break;
    case PROP_CHECKPOINT:
      g_value_set_string (value, self->checkpoint);
      break;
    case PROP_SAVE_PROMPT_EMBEDDINGS:
      g_value_set_string (value, self->save_prompt_embeddings);
      break;
    case PROP_SCORING:
      g_value_set_enum (value, self->scoring);
      break;
    case PROP_TEMPERATURE:
      g_value_set_double (value, self->temperature);
      break;
    case PROP_SCORES:
      g_value_set_string (value, self->scores_path);
      break;
    case PROP_REPORT:
      g_value_set_string (value, self->report);
      break;
    case PROP_THRESHOLDS:
      g_value_set_string (value, self->thresholds_path);
      break;
    case PROP_FIT_THRESHOLDS:
      g_value_set_string (value, self->fit_thresholds);
      break;
    case PROP_THRESHOLD_METHOD:
      g_value_set_enum (value, self->threshold_method);
      break;
    case PROP_POST_MESSAGES:
      g_value_set_boolean (value, self->post_messages);
      break;
    case PROP_PRINT_RECORDS:
      g_value_set_boolean (value, self->print_records);
      break;
    case PROP_SILENT:
      g_value_set_boolean (value, self->silent);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static void
etp_zero_shot_finalize (GObject * object)
{
  EtpZeroShot *self = ETP_ZERO_SHOT (object);

  clear_state (self);
  g_free (self->prompt_embeddings);
  g_free (self->classes);
  g_free (self->template_);
  g_free (self->prompts);
  g_free (self->text_model);
  g_free (self->text_pooling);
  g_free (self->checkpoint);
  g_free (self->save_prompt_embeddings);
  g_free (self->scores_path);
  g_free (self->report);
  g_free (self->thresholds_path);
  g_free (self->fit_thresholds);
  G_OBJECT_CLASS (etp_zero_shot_parent_class)->finalize (object);
}

static void
etp_zero_shot_class_init (EtpZeroShotClass * klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstBaseTransformClass *bt_class = GST_BASE_TRANSFORM_CLASS (klass);
  GParamFlags rw = G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
      GST_PARAM_MUTABLE_READY;

  GST_DEBUG_CATEGORY_INIT (etp_zero_shot_debug, "zeroshot", 0,
      "zero-shot classification of ECG embeddings");
  gobject_class->set_property = etp_zero_shot_set_property;
  gobject_class->get_property = etp_zero_shot_get_property;
  gobject_class->finalize = etp_zero_shot_finalize;
  element_class->request_new_pad = etp_zero_shot_request_new_pad;
  element_class->release_pad = etp_zero_shot_release_pad;
  element_class->change_state = etp_zero_shot_change_state;
  bt_class->start = etp_zero_shot_start;
  bt_class->stop = etp_zero_shot_stop;
  bt_class->set_caps = etp_zero_shot_set_caps;
  bt_class->transform_ip = etp_zero_shot_transform_ip;
  bt_class->sink_event = etp_zero_shot_sink_event;
  bt_class->passthrough_on_same_caps = FALSE;

  g_object_class_install_property (gobject_class, PROP_PROMPT_EMBEDDINGS,
      g_param_spec_string ("prompt-embeddings", "Prompt embeddings",
          "Precomputed class-prompt embeddings: a safetensors file "
          "(tensor 'embeddings' [classes, dim], class names in its metadata) "
          "or raw float32 classes x dim with the names in 'classes'",
          NULL, rw));
  g_object_class_install_property (gobject_class, PROP_CLASSES,
      g_param_spec_string ("classes", "Classes",
          "Comma-separated class names: one prompt each from 'template' "
          "(with text-model), or the row names of a raw prompt-embeddings file",
          NULL, rw));
  g_object_class_install_property (gobject_class, PROP_TEMPLATE,
      g_param_spec_string ("template", "Template",
          "Prompt template; {} is replaced by the class name",
          ETP_DEFAULT_PROMPT_TEMPLATE, rw));
  g_object_class_install_property (gobject_class, PROP_PROMPTS,
      g_param_spec_string ("prompts", "Prompts file",
          "Prompt file: one class per line, CLASS<TAB>prompt|prompt...[<TAB>"
          "aliases]; a class's prompt embeddings are averaged (see "
          "models/prompts/)", NULL, rw));
  g_object_class_install_property (gobject_class, PROP_TEXT_MODEL,
      g_param_spec_string ("text-model", "Text model",
          "Text encoder for the prompts: a Hugging Face BERT folder or a "
          ".etpwv word-vector file (as for textencoder)", NULL, rw));
  g_object_class_install_property (gobject_class, PROP_TEXT_POOLING,
      g_param_spec_string ("text-pooling", "Text pooling",
          "Pooling of the text model: default, cls, mean, pooler or sif "
          "(use the one the checkpoint was trained with)", NULL, rw));
  g_object_class_install_property (gobject_class, PROP_CHECKPOINT,
      g_param_spec_string ("checkpoint", "Checkpoint",
          "Pre-training checkpoint (safetensors) whose text_proj maps the "
          "text embeddings into the joint space and whose logit_scale sets "
          "the softmax temperature", NULL, rw));
  g_object_class_install_property (gobject_class, PROP_SAVE_PROMPT_EMBEDDINGS,
      g_param_spec_string ("save-prompt-embeddings", "Save prompt embeddings",
          "Write the prompt embeddings in use to this safetensors file (to "
          "ship next to a model)", NULL, rw));
  g_object_class_install_property (gobject_class, PROP_SCORING,
      g_param_spec_enum ("scoring", "Scoring",
          "Score reported and evaluated per class",
          ETP_TYPE_ZERO_SHOT_SCORING, ETP_ZEROSHOT_SCORING_SOFTMAX, rw));
  g_object_class_install_property (gobject_class, PROP_TEMPERATURE,
      g_param_spec_double ("temperature", "Temperature",
          "Softmax temperature; 0 = 1/logit_scale of the checkpoint or the "
          "prompt file, else 0.07", 0.0, 100.0, 0.0, rw));
  g_object_class_install_property (gobject_class, PROP_SCORES,
      g_param_spec_string ("scores", "Scores CSV",
          "Write one CSV line per window (record, window, score per class, "
          "top label, true labels when known)", NULL, rw));
  g_object_class_install_property (gobject_class, PROP_REPORT,
      g_param_spec_string ("report", "Report",
          "Write the record-level metrics as JSON to this file at EOS", NULL,
          rw));
  g_object_class_install_property (gobject_class, PROP_THRESHOLDS,
      g_param_spec_string ("thresholds", "Thresholds",
          "Per-class thresholds for ACC/F1 fitted on validation data (a file "
          "written by fit-thresholds); without it the arg-max rule is used",
          NULL, rw));
  g_object_class_install_property (gobject_class, PROP_FIT_THRESHOLDS,
      g_param_spec_string ("fit-thresholds", "Fit thresholds",
          "Run on validation data: fit per-class thresholds on its records "
          "and write them to this file", NULL, rw));
  g_object_class_install_property (gobject_class, PROP_THRESHOLD_METHOD,
      g_param_spec_enum ("threshold-method", "Threshold method",
          "How fit-thresholds chooses a class's threshold",
          ETP_TYPE_ZERO_SHOT_THRESHOLD, ETP_THRESHOLD_MAX_F1, rw));
  g_object_class_install_property (gobject_class, PROP_POST_MESSAGES,
      g_param_spec_boolean ("post-messages", "Post messages",
          "Post an etp-zeroshot element message per window", TRUE, rw));
  g_object_class_install_property (gobject_class, PROP_PRINT_RECORDS,
      g_param_spec_boolean ("print-records", "Print records",
          "At EOS print one line per record: top class, score, true labels",
          FALSE, rw));
  g_object_class_install_property (gobject_class, PROP_SILENT,
      g_param_spec_boolean ("silent", "Silent",
          "Do not print the table at EOS", FALSE, rw));

  gst_element_class_add_static_pad_template (element_class, &sink_template);
  gst_element_class_add_static_pad_template (element_class, &src_template);
  gst_element_class_add_static_pad_template (element_class, &text_template);
  gst_element_class_set_static_metadata (element_class,
      "Zero-shot ECG classifier", "Filter/Analyzer",
      "Scores ECG embeddings against class-prompt embeddings (cosine, "
      "softmax), attaches the result, reports per-class metrics at EOS",
      "gst-etp");
  gst_type_mark_as_plugin_api (ETP_TYPE_ZERO_SHOT_SCORING, 0);
  gst_type_mark_as_plugin_api (ETP_TYPE_ZERO_SHOT_THRESHOLD, 0);
  etp_classification_meta_get_info ();
}

static void
etp_zero_shot_init (EtpZeroShot * self)
{
  self->template_ = g_strdup (ETP_DEFAULT_PROMPT_TEMPLATE);
  self->scoring = ETP_ZEROSHOT_SCORING_SOFTMAX;
  self->threshold_method = ETP_THRESHOLD_MAX_F1;
  self->post_messages = TRUE;
  gst_base_transform_set_in_place (GST_BASE_TRANSFORM (self), TRUE);
  gst_base_transform_set_passthrough (GST_BASE_TRANSFORM (self), FALSE);
}
