/* textencoder: text -> embedding (see textencoder.h and
 * docs/elements/textencoder.md).
 *
 * Text input: the byte stream is cut into lines at '\n' (a trailing '\r' is
 * dropped); a line may span several buffers, and an unterminated last line
 * is encoded at EOS. Each line is validated as UTF-8 and must be shorter
 * than 1 MiB. ECG input (audio/x-raw with EtpEcgMeta): the meta's report is
 * encoded and the output buffer carries a copy of the meta and the input's
 * timestamps, so `tee` can feed ECG windows and their reports side by side.
 *
 * Items are collected into batches of batch-size (flushed at EOS); feature
 * vectors found in the cache are not recomputed.
 */
#include "config.h"

#include "textencoder.h"
#include "etpcaps.h"
#include "etpmeta.h"
#include "util/etperror.h"

#include <string.h>

GST_DEBUG_CATEGORY_STATIC (etp_text_encoder_debug);
#define GST_CAT_DEFAULT etp_text_encoder_debug

#define MAX_LINE_BYTES (1u << 20)

enum {
  PROP_0,
  PROP_MODEL,
  PROP_POOLING,
  PROP_LOWERCASE,
  PROP_NORMALIZE_REPORTS,
  PROP_MAX_LENGTH,
  PROP_TRUNCATE,
  PROP_CACHE,
  PROP_DEVICE,
  PROP_BATCH_SIZE,
  PROP_EMPTY_LINES,
  PROP_MISSING_REPORT,
};

#define DEFAULT_POOLING ETP_TEXT_POOL_DEFAULT
#define DEFAULT_LOWERCASE ETP_TEXT_LOWERCASE_AUTO
#define DEFAULT_MAX_LENGTH 512
#define DEFAULT_BATCH_SIZE 32

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE ("sink",
    GST_PAD_SINK, GST_PAD_ALWAYS,
    GST_STATIC_CAPS (ETP_TEXT_CAPS_STR "; " ETP_ECG_CAPS_STR));

static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE ("src",
    GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS (ETP_TENSOR_CAPS_STR));

#define ETP_TYPE_TEXT_ENCODER_POOLING (text_encoder_pooling_get_type ())
static GType
text_encoder_pooling_get_type (void)
{
  static GType t = 0;
  static const GEnumValue v[] = {
    {ETP_TEXT_POOL_DEFAULT, "cls for BERT, mean for word vectors", "default"},
    {ETP_TEXT_POOL_CLS, "BERT: last hidden state of [CLS]", "cls"},
    {ETP_TEXT_POOL_MEAN,
        "BERT: mean of the last hidden state over the tokens; word vectors: "
          "mean of the known words", "mean"},
    {ETP_TEXT_POOL_POOLER, "BERT: pooler output tanh(W h_cls + b)", "pooler"},
    {ETP_TEXT_POOL_SIF,
        "word vectors: SIF weights a/(a+p(w)), a=1e-3, p(w) from the "
          "frequency rank", "sif"},
    {0, NULL, NULL}
  };
  if (g_once_init_enter (&t))
    g_once_init_leave (&t, g_enum_register_static ("GstTextEncoderPooling", v));
  return t;
}

#define ETP_TYPE_TEXT_ENCODER_LOWERCASE (text_encoder_lowercase_get_type ())
static GType
text_encoder_lowercase_get_type (void)
{
  static GType t = 0;
  static const GEnumValue v[] = {
    {ETP_TEXT_LOWERCASE_AUTO,
        "do_lower_case of the folder's tokenizer_config.json, else cased",
        "auto"},
    {ETP_TEXT_LOWERCASE_TRUE, "lower-case and strip accents", "true"},
    {ETP_TEXT_LOWERCASE_FALSE, "keep the case (cased models)", "false"},
    {0, NULL, NULL}
  };
  if (g_once_init_enter (&t))
    g_once_init_leave (&t, g_enum_register_static ("GstTextEncoderLowercase",
            v));
  return t;
}

#define ETP_TYPE_TEXT_ENCODER_DEVICE (text_encoder_device_get_type ())
static GType
text_encoder_device_get_type (void)
{
  static GType t = 0;
  static const GEnumValue v[] = {
    {ETP_TEXT_ENCODER_DEVICE_AUTO,
        "BERT on the GPU when the build has CUDA and a GPU is present, else "
          "the CPU", "auto"},
    {ETP_TEXT_ENCODER_DEVICE_CPU, "CPU (OpenBLAS + threaded loops)", "cpu"},
    {ETP_TEXT_ENCODER_DEVICE_CUDA,
        "BERT on the CUDA GPU (an error without one; word vectors are "
          "CPU-only)", "cuda"},
    {0, NULL, NULL}
  };
  if (g_once_init_enter (&t))
    g_once_init_leave (&t, g_enum_register_static ("GstTextEncoderDevice", v));
  return t;
}

#define ETP_TYPE_TEXT_ENCODER_EMPTY (text_encoder_empty_get_type ())
static GType
text_encoder_empty_get_type (void)
{
  static GType t = 0;
  static const GEnumValue v[] = {
    {ETP_TEXT_ENCODER_EMPTY_SKIP, "skip the item (no output)", "skip"},
    {ETP_TEXT_ENCODER_EMPTY_ENCODE,
        "encode the empty text (BERT: [CLS] [SEP]; word vectors: zeros)",
        "encode"},
    {ETP_TEXT_ENCODER_EMPTY_ERROR, "post an error and stop", "error"},
    {0, NULL, NULL}
  };
  if (g_once_init_enter (&t))
    g_once_init_leave (&t, g_enum_register_static ("GstTextEncoderEmpty", v));
  return t;
}

#define gst_text_encoder_parent_class parent_class
G_DEFINE_TYPE (GstTextEncoder, gst_text_encoder, GST_TYPE_ELEMENT);
GST_ELEMENT_REGISTER_DEFINE (textencoder, "textencoder", GST_RANK_NONE,
    ETP_TYPE_TEXT_ENCODER);

/* ------------------------------------------------------------ the model */

static gboolean
text_encoder_open (GstTextEncoder * self)
{
  EtpTextModelOptions o;
  GError *err = NULL;
  gchar *model, *cache;
  EtpTextEncoderDevice device;

  GST_OBJECT_LOCK (self);
  model = g_strdup (self->model_path);
  cache = g_strdup (self->cache_path);
  etp_text_model_options_init (&o);
  o.pooling = self->pooling;
  o.lowercase = self->lowercase;
  o.max_length = self->max_length;
  o.truncate = self->truncate;
  o.normalize_reports = self->normalize_reports;
  o.n_threads = 2;
  device = self->device;
  o.device = device == ETP_TEXT_ENCODER_DEVICE_CUDA ? ETP_DEVICE_CUDA
      : device == ETP_TEXT_ENCODER_DEVICE_CPU ? ETP_DEVICE_CPU : ETP_DEVICE_AUTO;
  GST_OBJECT_UNLOCK (self);

  if (model == NULL || *model == '\0') {
    GST_ELEMENT_ERROR (self, RESOURCE, NOT_FOUND,
        ("No text model set"),
        ("set model= to a Hugging Face BERT folder (config.json, vocab.txt, "
            "model.safetensors) or a .etpwv word-vector file"));
    goto fail;
  }
  self->model = etp_text_model_open (model, &o, &err);
  if (self->model == NULL) {
    GST_ELEMENT_ERROR (self, RESOURCE, OPEN_READ,
        ("Cannot load text model %s", model), ("%s", err->message));
    g_error_free (err);
    goto fail;
  }
  self->dim = etp_text_model_dim (self->model);
  if (cache && *cache) {
    self->cache = etp_text_cache_open (cache, self->dim, &err);
    if (self->cache == NULL) {
      GST_ELEMENT_ERROR (self, RESOURCE, OPEN_READ_WRITE,
          ("Cannot open feature cache %s", cache), ("%s", err->message));
      g_error_free (err);
      goto fail;
    }
    if (etp_text_cache_n_dropped (self->cache))
      GST_WARNING_OBJECT (self, "cache %s: dropped %u torn record(s)", cache,
          etp_text_cache_n_dropped (self->cache));
    GST_INFO_OBJECT (self, "cache %s: %u vectors", cache,
        etp_text_cache_size (self->cache));
  }
  GST_INFO_OBJECT (self, "model %s: %s, dim %u, on %s", model,
      etp_text_model_identity (self->model), self->dim,
      etp_text_model_device_name (self->model));
  g_free (model);
  g_free (cache);
  return TRUE;
fail:
  etp_text_model_free (self->model);
  self->model = NULL;
  g_free (model);
  g_free (cache);
  return FALSE;
}

static void
text_encoder_clear_pending (GstTextEncoder * self)
{
  g_ptr_array_set_size (self->pending_text, 0);
  g_ptr_array_set_size (self->pending_src, 0);
  g_string_truncate (self->partial, 0);
}

static void
text_encoder_close (GstTextEncoder * self)
{
  text_encoder_clear_pending (self);
  etp_text_model_free (self->model);
  self->model = NULL;
  etp_text_cache_free (self->cache);
  self->cache = NULL;
  self->caps_sent = FALSE;
  self->line_no = 0;
  GST_INFO_OBJECT (self, "%" G_GUINT64_FORMAT " vectors out (%" G_GUINT64_FORMAT
      " from the cache, %" G_GUINT64_FORMAT " encoded, %" G_GUINT64_FORMAT
      " all-OOV)", self->n_out, self->n_cache_hits, self->n_encoded,
      self->n_oov);
}

/* --------------------------------------------------------------- output */

static gboolean
text_encoder_send_caps (GstTextEncoder * self)
{
  GstCaps *caps;
  gboolean ok;
  if (self->caps_sent)
    return TRUE;
  caps = etp_tensor_caps_new (self->dim);
  ok = gst_pad_push_event (self->srcpad, gst_event_new_caps (caps));
  gst_caps_unref (caps);
  self->caps_sent = ok;
  if (!ok)
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION, (NULL),
        ("downstream refused other/tensors dimensions=%u:1:1:1", self->dim));
  return ok;
}

/* Encodes and pushes every pending item. */
static GstFlowReturn
text_encoder_process (GstTextEncoder * self)
{
  guint n = self->pending_text->len, i, n_miss = 0;
  guint dim = self->dim;
  gfloat *vecs;
  gboolean *oov;
  guint *miss;
  const gchar **miss_text;
  GstFlowReturn ret = GST_FLOW_OK;
  GError *err = NULL;
  const gchar *id = etp_text_model_identity (self->model);

  if (n == 0)
    return GST_FLOW_OK;
  if (!text_encoder_send_caps (self)) {
    text_encoder_clear_pending (self);
    return GST_FLOW_NOT_NEGOTIATED;
  }
  vecs = g_new0 (gfloat, (gsize) n * dim);
  oov = g_new0 (gboolean, n);
  miss = g_new (guint, n);
  miss_text = g_new (const gchar *, n);
  for (i = 0; i < n; i++) {
    const gchar *t = g_ptr_array_index (self->pending_text, i);
    if (self->cache && etp_text_cache_lookup (self->cache, id, t,
            vecs + (gsize) i * dim)) {
      self->n_cache_hits++;
      continue;
    }
    miss[n_miss] = i;
    miss_text[n_miss++] = t;
  }
  if (n_miss > 0) {
    gfloat *mv = g_new (gfloat, (gsize) n_miss * dim);
    gboolean *moov = g_new0 (gboolean, n_miss);
    if (!etp_text_model_encode (self->model, miss_text, n_miss, mv, moov,
            &err)) {
      GST_ELEMENT_ERROR (self, STREAM, FAILED, ("Text encoding failed"),
          ("%s", err->message));
      g_error_free (err);
      g_free (mv);
      g_free (moov);
      ret = GST_FLOW_ERROR;
      goto out;
    }
    for (i = 0; i < n_miss; i++) {
      memcpy (vecs + (gsize) miss[i] * dim, mv + (gsize) i * dim,
          dim * sizeof (gfloat));
      oov[miss[i]] = moov[i];
      if (self->cache && !etp_text_cache_store (self->cache, id, miss_text[i],
              mv + (gsize) i * dim, &err)) {
        GST_ELEMENT_WARNING (self, RESOURCE, WRITE,
            ("Cannot write to the feature cache"), ("%s", err->message));
        g_clear_error (&err);
        etp_text_cache_free (self->cache);
        self->cache = NULL;
      }
    }
    self->n_encoded += n_miss;
    g_free (mv);
    g_free (moov);
  }
  for (i = 0; i < n && ret == GST_FLOW_OK; i++) {
    GstBuffer *src = g_ptr_array_index (self->pending_src, i);
    GstBuffer *out = gst_buffer_new_allocate (NULL, (gsize) dim * 4, NULL);
    gst_buffer_fill (out, 0, vecs + (gsize) i * dim, (gsize) dim * 4);
    if (src) {
      GST_BUFFER_PTS (out) = GST_BUFFER_PTS (src);
      GST_BUFFER_DTS (out) = GST_BUFFER_DTS (src);
      GST_BUFFER_DURATION (out) = GST_BUFFER_DURATION (src);
      etp_buffer_copy_ecg_meta (out, src);
    }
    GST_BUFFER_OFFSET (out) = self->n_out;
    GST_BUFFER_OFFSET_END (out) = self->n_out + 1;
    if (oov[i]) {
      /* no word of the text is in the vocabulary: zero vector, flagged */
      GST_BUFFER_FLAG_SET (out, GST_BUFFER_FLAG_GAP);
      self->n_oov++;
      GST_WARNING_OBJECT (self, "item %" G_GUINT64_FORMAT ": no word in the "
          "vocabulary (\"%s\"): zero vector, GAP flag", self->n_out,
          (const gchar *) g_ptr_array_index (self->pending_text, i));
    }
    self->n_out++;
    ret = gst_pad_push (self->srcpad, out);
  }
out:
  text_encoder_clear_pending (self);
  g_free (vecs);
  g_free (oov);
  g_free (miss);
  g_free (miss_text);
  return ret;
}

/* Queues one item; @src (ECG input) is referenced. */
static GstFlowReturn
text_encoder_queue (GstTextEncoder * self, const gchar * text, gsize len,
    GstBuffer * src)
{
  guint batch;
  GST_OBJECT_LOCK (self);
  batch = MAX (self->batch_size, 1);
  GST_OBJECT_UNLOCK (self);
  g_ptr_array_add (self->pending_text, g_strndup (text, len));
  g_ptr_array_add (self->pending_src, src ? gst_buffer_ref (src) : NULL);
  if (self->pending_text->len >= batch)
    return text_encoder_process (self);
  return GST_FLOW_OK;
}

static gboolean
is_blank (const gchar * s, gsize len)
{
  gsize i;
  for (i = 0; i < len; i++)
    if (!g_ascii_isspace (s[i]))
      return FALSE;
  return TRUE;
}

/* One complete line (without '\n'). */
static GstFlowReturn
text_encoder_line (GstTextEncoder * self, const gchar * s, gsize len)
{
  const gchar *bad;
  EtpTextEncoderEmpty policy;

  self->line_no++;
  if (len > 0 && s[len - 1] == '\r')
    len--;
  if (!g_utf8_validate (s, len, &bad)) {
    GST_ELEMENT_ERROR (self, STREAM, DECODE, ("Invalid UTF-8 in the text input"),
        ("line %" G_GUINT64_FORMAT ": invalid UTF-8 at byte %" G_GSIZE_FORMAT
            " (0x%02x)", self->line_no, (gsize) (bad - s),
            (guint) (guchar) * bad));
    return GST_FLOW_ERROR;
  }
  if (memchr (s, '\0', len)) {
    GST_ELEMENT_ERROR (self, STREAM, DECODE, ("NUL byte in the text input"),
        ("line %" G_GUINT64_FORMAT " contains a NUL byte", self->line_no));
    return GST_FLOW_ERROR;
  }
  if (is_blank (s, len)) {
    GST_OBJECT_LOCK (self);
    policy = self->empty_lines;
    GST_OBJECT_UNLOCK (self);
    if (policy == ETP_TEXT_ENCODER_EMPTY_SKIP)
      return GST_FLOW_OK;
    if (policy == ETP_TEXT_ENCODER_EMPTY_ERROR) {
      GST_ELEMENT_ERROR (self, STREAM, FORMAT, ("Empty line in the text input"),
          ("line %" G_GUINT64_FORMAT " is empty (empty-lines=error)",
              self->line_no));
      return GST_FLOW_ERROR;
    }
  }
  return text_encoder_queue (self, s, len, NULL);
}

static GstFlowReturn
text_encoder_chain_text (GstTextEncoder * self, GstBuffer * buf)
{
  GstMapInfo map;
  GstFlowReturn ret = GST_FLOW_OK;
  gsize start = 0, i;

  if (!gst_buffer_map (buf, &map, GST_MAP_READ)) {
    GST_ELEMENT_ERROR (self, STREAM, FAILED, (NULL), ("cannot map buffer"));
    return GST_FLOW_ERROR;
  }
  for (i = 0; i < map.size && ret == GST_FLOW_OK; i++) {
    if (map.data[i] != '\n')
      continue;
    if (self->partial->len > 0) {
      g_string_append_len (self->partial, (const gchar *) map.data + start,
          i - start);
      if (self->partial->len > MAX_LINE_BYTES)
        goto too_long;
      ret = text_encoder_line (self, self->partial->str, self->partial->len);
      g_string_truncate (self->partial, 0);
    } else {
      if (i - start > MAX_LINE_BYTES)
        goto too_long;
      ret = text_encoder_line (self, (const gchar *) map.data + start,
          i - start);
    }
    start = i + 1;
  }
  if (ret == GST_FLOW_OK && start < map.size) {
    g_string_append_len (self->partial, (const gchar *) map.data + start,
        map.size - start);
    if (self->partial->len > MAX_LINE_BYTES)
      goto too_long;
  }
  gst_buffer_unmap (buf, &map);
  return ret;
too_long:
  gst_buffer_unmap (buf, &map);
  GST_ELEMENT_ERROR (self, STREAM, FORMAT, ("Text line too long"),
      ("line %" G_GUINT64_FORMAT " is longer than %u bytes (one item per line "
          "expected)", self->line_no + 1, MAX_LINE_BYTES));
  g_string_truncate (self->partial, 0);
  return GST_FLOW_ERROR;
}

static GstFlowReturn
text_encoder_chain_ecg (GstTextEncoder * self, GstBuffer * buf)
{
  EtpEcgMeta *meta = etp_buffer_get_ecg_meta (buf);
  const gchar *report = meta ? meta->report : NULL;
  EtpTextEncoderEmpty policy;

  GST_OBJECT_LOCK (self);
  policy = self->missing_report;
  GST_OBJECT_UNLOCK (self);
  if (report && !g_utf8_validate (report, -1, NULL)) {
    GST_ELEMENT_ERROR (self, STREAM, DECODE, ("Invalid UTF-8 in an ECG report"),
        ("record %s: the report is not valid UTF-8",
            meta->record_id ? meta->record_id : "?"));
    return GST_FLOW_ERROR;
  }
  if (report == NULL || is_blank (report, strlen (report))) {
    if (policy == ETP_TEXT_ENCODER_EMPTY_SKIP)
      return GST_FLOW_OK;
    if (policy == ETP_TEXT_ENCODER_EMPTY_ERROR) {
      GST_ELEMENT_ERROR (self, STREAM, FORMAT, ("ECG buffer without a report"),
          ("%s (record %s); set missing-report=skip or encode to continue",
              meta ? "the EtpEcgMeta has no report" :
              "the buffer carries no EtpEcgMeta",
              meta && meta->record_id ? meta->record_id : "?"));
      return GST_FLOW_ERROR;
    }
    report = "";
  }
  return text_encoder_queue (self, report, strlen (report), buf);
}

static GstFlowReturn
gst_text_encoder_chain (GstPad * pad, GstObject * parent, GstBuffer * buf)
{
  GstTextEncoder *self = GST_TEXT_ENCODER (parent);
  GstFlowReturn ret;

  if (self->model == NULL) {
    GST_ELEMENT_ERROR (self, CORE, STATE_CHANGE, (NULL),
        ("no model loaded (data before the PAUSED state?)"));
    gst_buffer_unref (buf);
    return GST_FLOW_ERROR;
  }
  if (self->ecg_input)
    ret = text_encoder_chain_ecg (self, buf);
  else
    ret = text_encoder_chain_text (self, buf);
  gst_buffer_unref (buf);
  return ret;
}

static gboolean
gst_text_encoder_sink_event (GstPad * pad, GstObject * parent, GstEvent * event)
{
  GstTextEncoder *self = GST_TEXT_ENCODER (parent);

  switch (GST_EVENT_TYPE (event)) {
    case GST_EVENT_CAPS:{
      GstCaps *caps;
      const GstStructure *s;
      gst_event_parse_caps (event, &caps);
      s = gst_caps_get_structure (caps, 0);
      self->ecg_input = gst_structure_has_name (s, "audio/x-raw");
      gst_event_unref (event);
      if (self->model == NULL)
        return FALSE;
      return text_encoder_send_caps (self);
    }
    case GST_EVENT_SEGMENT:
      /* filesrc sends no caps: ours must still precede the segment */
      if (self->model && !text_encoder_send_caps (self)) {
        gst_event_unref (event);
        return FALSE;
      }
      if (!self->ecg_input) {
        /* the byte segment of a text file means nothing downstream */
        GstSegment seg;
        gst_event_unref (event);
        gst_segment_init (&seg, GST_FORMAT_TIME);
        return gst_pad_push_event (self->srcpad, gst_event_new_segment (&seg));
      }
      return gst_pad_event_default (pad, parent, event);
    case GST_EVENT_EOS:
      if (self->model) {
        GstFlowReturn ret = GST_FLOW_OK;
        if (!self->ecg_input && self->partial->len > 0) {
          GString *last = self->partial;
          self->partial = g_string_new (NULL);
          ret = text_encoder_line (self, last->str, last->len);
          g_string_free (last, TRUE);
        }
        if (ret == GST_FLOW_OK)
          ret = text_encoder_process (self);
        if (ret != GST_FLOW_OK && ret != GST_FLOW_FLUSHING
            && ret != GST_FLOW_EOS) {
          /* the error is posted; still forward EOS so sinks finish */
          GST_DEBUG_OBJECT (self, "flow %s at EOS", gst_flow_get_name (ret));
        }
      }
      return gst_pad_event_default (pad, parent, event);
    case GST_EVENT_FLUSH_STOP:
      text_encoder_clear_pending (self);
      return gst_pad_event_default (pad, parent, event);
    default:
      return gst_pad_event_default (pad, parent, event);
  }
}

static gboolean
gst_text_encoder_sink_query (GstPad * pad, GstObject * parent, GstQuery * query)
{
  return gst_pad_query_default (pad, parent, query);
}

static GstStateChangeReturn
gst_text_encoder_change_state (GstElement * element, GstStateChange transition)
{
  GstTextEncoder *self = GST_TEXT_ENCODER (element);
  GstStateChangeReturn ret;

  if (transition == GST_STATE_CHANGE_READY_TO_PAUSED) {
    self->n_out = self->n_cache_hits = self->n_encoded = self->n_oov = 0;
    if (!text_encoder_open (self))
      return GST_STATE_CHANGE_FAILURE;
  }
  ret = GST_ELEMENT_CLASS (parent_class)->change_state (element, transition);
  if (transition == GST_STATE_CHANGE_PAUSED_TO_READY)
    text_encoder_close (self);
  return ret;
}

/* ----------------------------------------------------------- properties */

static void
gst_text_encoder_set_property (GObject * object, guint prop_id,
    const GValue * value, GParamSpec * pspec)
{
  GstTextEncoder *self = GST_TEXT_ENCODER (object);

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_MODEL:
      g_free (self->model_path);
      self->model_path = g_value_dup_string (value);
      break;
    case PROP_POOLING:
      self->pooling = g_value_get_enum (value);
      break;
    case PROP_LOWERCASE:
      self->lowercase = g_value_get_enum (value);
      break;
    case PROP_NORMALIZE_REPORTS:
      self->normalize_reports = g_value_get_boolean (value);
      break;
    case PROP_MAX_LENGTH:
      self->max_length = g_value_get_uint (value);
      break;
    case PROP_TRUNCATE:
      self->truncate = g_value_get_boolean (value);
      break;
    case PROP_CACHE:
      g_free (self->cache_path);
      self->cache_path = g_value_dup_string (value);
      break;
    case PROP_DEVICE:
      self->device = g_value_get_enum (value);
      break;
    case PROP_BATCH_SIZE:
      self->batch_size = g_value_get_uint (value);
      break;
    case PROP_EMPTY_LINES:
      self->empty_lines = g_value_get_enum (value);
      break;
    case PROP_MISSING_REPORT:
      self->missing_report = g_value_get_enum (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_text_encoder_get_property (GObject * object, guint prop_id, GValue * value,
    GParamSpec * pspec)
{
  GstTextEncoder *self = GST_TEXT_ENCODER (object);

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_MODEL:
      g_value_set_string (value, self->model_path);
      break;
    case PROP_POOLING:
      g_value_set_enum (value, self->pooling);
      break;
    case PROP_LOWERCASE:
      g_value_set_enum (value, self->lowercase);
      break;
    case PROP_NORMALIZE_REPORTS:
      g_value_set_boolean (value, self->normalize_reports);
      break;
    case PROP_MAX_LENGTH:
      g_value_set_uint (value, self->max_length);
      break;
    case PROP_TRUNCATE:
      g_value_set_boolean (value, self->truncate);
      break;
    case PROP_CACHE:
      g_value_set_string (value, self->cache_path);
      break;
    case PROP_DEVICE:
      g_value_set_enum (value, self->device);
      break;
    case PROP_BATCH_SIZE:
      g_value_set_uint (value, self->batch_size);
      break;
    case PROP_EMPTY_LINES:
      g_value_set_enum (value, self->empty_lines);
      break;
    case PROP_MISSING_REPORT:
      g_value_set_enum (value, self->missing_report);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_text_encoder_finalize (GObject * object)
{
  GstTextEncoder *self = GST_TEXT_ENCODER (object);

  text_encoder_close (self);
  g_free (self->model_path);
  g_free (self->cache_path);
  g_string_free (self->partial, TRUE);
  g_ptr_array_free (self->pending_text, TRUE);
  g_ptr_array_free (self->pending_src, TRUE);
  G_OBJECT_CLASS (parent_class)->finalize (object);
}

static void
gst_text_encoder_class_init (GstTextEncoderClass * klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  const GParamFlags rw = G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
      GST_PARAM_MUTABLE_READY;

  GST_DEBUG_CATEGORY_INIT (etp_text_encoder_debug, "textencoder", 0,
      "ETP text encoder");

  gobject_class->set_property = gst_text_encoder_set_property;
  gobject_class->get_property = gst_text_encoder_get_property;
  gobject_class->finalize = gst_text_encoder_finalize;

  g_object_class_install_property (gobject_class, PROP_MODEL,
      g_param_spec_string ("model", "Model",
          "A Hugging Face BERT folder (config.json, vocab.txt, "
          "model.safetensors) or a word-vector file (.etpwv, from "
          "pipelines/fetch-wordvectors.sh)", NULL, rw));
  g_object_class_install_property (gobject_class, PROP_POOLING,
      g_param_spec_enum ("pooling", "Pooling",
          "How token/word vectors become one vector per item",
          ETP_TYPE_TEXT_ENCODER_POOLING, DEFAULT_POOLING, rw));
  g_object_class_install_property (gobject_class, PROP_LOWERCASE,
      g_param_spec_enum ("lowercase", "Lower-case",
          "BERT tokenizer casing (word vectors are always lower-cased)",
          ETP_TYPE_TEXT_ENCODER_LOWERCASE, DEFAULT_LOWERCASE, rw));
  g_object_class_install_property (gobject_class, PROP_NORMALIZE_REPORTS,
      g_param_spec_boolean ("normalize-reports", "Normalize reports",
          "Translate German/Swedish ECG report vocabulary to English clinical "
          "terms first (models/text/de_en_ecg_lexicon.tsv)", FALSE, rw));
  g_object_class_install_property (gobject_class, PROP_MAX_LENGTH,
      g_param_spec_uint ("max-length", "Max length",
          "BERT: at most this many tokens per item, [CLS] and [SEP] included "
          "(capped by max_position_embeddings)", 2, 8192, DEFAULT_MAX_LENGTH,
          rw));
  g_object_class_install_property (gobject_class, PROP_TRUNCATE,
      g_param_spec_boolean ("truncate", "Truncate",
          "Cut items longer than max-length (TRUE) or stop with an error "
          "(FALSE)", TRUE, rw));
  g_object_class_install_property (gobject_class, PROP_CACHE,
      g_param_spec_string ("cache", "Cache",
          "Feature cache file keyed by model + options + text (append-only, "
          "created if missing); frozen features are computed once", NULL, rw));
  g_object_class_install_property (gobject_class, PROP_DEVICE,
      g_param_spec_enum ("device", "Device", "Where the encoder runs",
          ETP_TYPE_TEXT_ENCODER_DEVICE, ETP_TEXT_ENCODER_DEVICE_AUTO, rw));
  g_object_class_install_property (gobject_class, PROP_BATCH_SIZE,
      g_param_spec_uint ("batch-size", "Batch size",
          "Items encoded together (padding-free); the rest is flushed at EOS. "
          "Use 1 for live streams", 1, 4096, DEFAULT_BATCH_SIZE, rw));
  g_object_class_install_property (gobject_class, PROP_EMPTY_LINES,
      g_param_spec_enum ("empty-lines", "Empty lines",
          "What to do with empty or blank text lines",
          ETP_TYPE_TEXT_ENCODER_EMPTY, ETP_TEXT_ENCODER_EMPTY_SKIP, rw));
  g_object_class_install_property (gobject_class, PROP_MISSING_REPORT,
      g_param_spec_enum ("missing-report", "Missing report",
          "ECG input: what to do with a buffer whose EtpEcgMeta has no report "
          "(or that has no meta)", ETP_TYPE_TEXT_ENCODER_EMPTY,
          ETP_TEXT_ENCODER_EMPTY_ERROR, rw));

  gst_element_class_add_static_pad_template (element_class, &sink_template);
  gst_element_class_add_static_pad_template (element_class, &src_template);
  gst_element_class_set_static_metadata (element_class, "ETP text encoder",
      "Filter/Converter/Text",
      "Text (one item per line) or ECG-meta reports -> float32 embeddings "
      "(BERT from a Hugging Face folder, or GloVe word vectors)",
      "gst-etp");
  element_class->change_state = gst_text_encoder_change_state;

  gst_type_mark_as_plugin_api (ETP_TYPE_TEXT_ENCODER_POOLING, 0);
  gst_type_mark_as_plugin_api (ETP_TYPE_TEXT_ENCODER_LOWERCASE, 0);
  gst_type_mark_as_plugin_api (ETP_TYPE_TEXT_ENCODER_DEVICE, 0);
  gst_type_mark_as_plugin_api (ETP_TYPE_TEXT_ENCODER_EMPTY, 0);
}

static void
unref_optional_buffer (gpointer p)
{
  if (p)
    gst_buffer_unref (GST_BUFFER (p));
}

static void
gst_text_encoder_init (GstTextEncoder * self)
{
  self->sinkpad = gst_pad_new_from_static_template (&sink_template, "sink");
  gst_pad_set_chain_function (self->sinkpad,
      GST_DEBUG_FUNCPTR (gst_text_encoder_chain));
  gst_pad_set_event_function (self->sinkpad,
      GST_DEBUG_FUNCPTR (gst_text_encoder_sink_event));
  gst_pad_set_query_function (self->sinkpad,
      GST_DEBUG_FUNCPTR (gst_text_encoder_sink_query));
  GST_PAD_SET_PROXY_ALLOCATION (self->sinkpad);
  gst_element_add_pad (GST_ELEMENT (self), self->sinkpad);

  self->srcpad = gst_pad_new_from_static_template (&src_template, "src");
  gst_pad_use_fixed_caps (self->srcpad);
  gst_element_add_pad (GST_ELEMENT (self), self->srcpad);

  self->pooling = DEFAULT_POOLING;
  self->lowercase = DEFAULT_LOWERCASE;
  self->max_length = DEFAULT_MAX_LENGTH;
  self->truncate = TRUE;
  self->batch_size = DEFAULT_BATCH_SIZE;
  self->device = ETP_TEXT_ENCODER_DEVICE_AUTO;
  self->empty_lines = ETP_TEXT_ENCODER_EMPTY_SKIP;
  self->missing_report = ETP_TEXT_ENCODER_EMPTY_ERROR;
  self->partial = g_string_new (NULL);
  self->pending_text = g_ptr_array_new_with_free_func (g_free);
  self->pending_src = g_ptr_array_new_with_free_func (unref_optional_buffer);
}
