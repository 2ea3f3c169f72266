/* ecgwindow: fixed-length windows of ECG (see ecgwindow.h and
 * docs/elements/ecgwindow.md).
 *
 * Whole-record buffers (EtpEcgMeta with window_start 0 and record_samples
 * equal to the buffer's frame count) are cut into windows that start at
 * offset + i * hop; records shorter than one window are zero-padded or
 * dropped.  Other buffers are a continuous stream: a GstAdapter collects them
 * and a window is emitted every hop seconds, consecutive windows overlapping by
 * duration - hop.  Every window is one output buffer with the input caps and a
 * copy of the record's meta (window_start, window_index set). */
#include "config.h"

#include <math.h>
#include <string.h>

#include "ecgwindow.h"
#include "etpmeta.h"
#include "etpcaps.h"

GST_DEBUG_CATEGORY_STATIC (ecg_window_debug);
#define GST_CAT_DEFAULT ecg_window_debug

enum {
  PROP_0,
  PROP_DURATION,
  PROP_HOP,
  PROP_PAD,
  PROP_MAX_WINDOWS,
  PROP_OFFSET,
  PROP_CENTER,
  PROP_NORMALIZE,
  PROP_EPSILON,
  PROP_MODE,
};

#define DEFAULT_DURATION 10.0
#define DEFAULT_HOP 0.0
#define DEFAULT_PAD ETP_ECG_WINDOW_PAD_ZERO
#define DEFAULT_MAX_WINDOWS 0
#define DEFAULT_OFFSET 0.0
#define DEFAULT_CENTER FALSE
#define DEFAULT_NORMALIZE ETP_ECG_NORMALIZE_NONE
#define DEFAULT_EPSILON 1e-6
#define DEFAULT_MODE ETP_ECG_WINDOW_MODE_AUTO

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE ("sink",
    GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS (ETP_ECG_CAPS_STR));
static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE ("src",
    GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS (ETP_ECG_CAPS_STR));

#define DEFINE_ENUM(fn, name, ...) \
static GType fn (void) { \
  static GType t = 0; \
  static const GEnumValue values[] = { __VA_ARGS__, {0, NULL, NULL} }; \
  if (g_once_init_enter (&t)) { \
    GType tmp = g_enum_register_static (name, values); \
    g_once_init_leave (&t, tmp); \
  } \
  return t; \
}

DEFINE_ENUM (etp_ecg_window_pad_get_type, "EtpEcgWindowPad",
    {ETP_ECG_WINDOW_PAD_ZERO, "Zero-pad records shorter than a window "
          "(one window)", "zero"},
    {ETP_ECG_WINDOW_PAD_DROP, "Drop records shorter than a window", "drop"})
DEFINE_ENUM (etp_ecg_normalize_get_type, "EtpEcgNormalize",
    {ETP_ECG_NORMALIZE_NONE, "No normalisation", "none"},
    {ETP_ECG_NORMALIZE_ZSCORE, "Per lead (x - mean) / (std + epsilon)",
        "zscore"},
    {ETP_ECG_NORMALIZE_MINMAX, "Per lead (x - min) / (max - min + epsilon), "
          "in [0, 1]", "minmax"})
DEFINE_ENUM (etp_ecg_window_mode_get_type, "EtpEcgWindowMode",
    {ETP_ECG_WINDOW_MODE_AUTO, "Whole-record buffers (by their meta) as "
          "records, the rest as a continuous stream", "auto"},
    {ETP_ECG_WINDOW_MODE_RECORD, "Every buffer is a record", "record"},
    {ETP_ECG_WINDOW_MODE_STREAM, "Buffers are chunks of a continuous stream",
        "stream"})

G_DEFINE_TYPE (GstEcgWindow, gst_ecg_window, GST_TYPE_BASE_TRANSFORM);
GST_ELEMENT_REGISTER_DEFINE (ecgwindow, "ecgwindow", GST_RANK_NONE,
    ETP_TYPE_ECG_WINDOW);

static guint64
secs_to_frames (gdouble s, gint rate)
{
  return (guint64) floor (s * rate + 0.5);
}

static void
reset_stream (GstEcgWindow * self)
{
  if (self->adapter)
    gst_adapter_clear (self->adapter);
  self->stream_started = FALSE;
  self->adapter_pos = 0;
  self->covered_end = 0;
  self->skip = 0;
  self->stream_origin = 0;
  self->stream_index = 0;
  self->stream_ts0 = GST_CLOCK_TIME_NONE;
  gst_clear_buffer (&self->stream_meta_buf);
}

static void
clear_pending (GstEcgWindow * self)
{
  GstBuffer *b;
  while ((b = g_queue_pop_head (&self->pending)))
    gst_buffer_unref (b);
}

/* Normalises @valid frames of @data (interleaved, C channels) per lead. */
static void
normalize_window (GstEcgWindow * self, gfloat * data, gsize valid)
{
  guint C = self->channels, c;
  gsize i;

  if (self->normalize == ETP_ECG_NORMALIZE_NONE || valid == 0)
    return;
  for (c = 0; c < C; c++) {
    if (self->normalize == ETP_ECG_NORMALIZE_ZSCORE) {
      double sum = 0.0, sq = 0.0, mean, sd;
      for (i = 0; i < valid; i++)
        sum += data[i * C + c];
      mean = sum / valid;
      for (i = 0; i < valid; i++) {
        double d = data[i * C + c] - mean;
        sq += d * d;
      }
      sd = sqrt (sq / valid);
      for (i = 0; i < valid; i++)
        data[i * C + c] = (gfloat) ((data[i * C + c] - mean) /
            (sd + self->epsilon));
    } else {
      double lo = INFINITY, hi = -INFINITY;
      for (i = 0; i < valid; i++) {
        lo = MIN (lo, data[i * C + c]);
        hi = MAX (hi, data[i * C + c]);
      }
      for (i = 0; i < valid; i++)
        data[i * C + c] = (gfloat) ((data[i * C + c] - lo) /
            (hi - lo + self->epsilon));
    }
  }
}

/* Builds one window buffer from @valid frames at @src (may be NULL when
 * valid is 0) zero-padded to @win frames. */
static GstBuffer *
make_window (GstEcgWindow * self, const gfloat * src, gsize valid, gsize win,
    GstBuffer * meta_from, guint64 window_start, guint index, GstClockTime pts)
{
  guint C = self->channels;
  gfloat *data = g_new0 (gfloat, win * C);
  GstBuffer *out;
  EtpEcgMeta *m;

  if (valid)
    memcpy (data, src, valid * C * sizeof (gfloat));
  normalize_window (self, data, valid);
  out = gst_buffer_new_wrapped (data, win * C * sizeof (gfloat));
  if (meta_from && (m = etp_buffer_copy_ecg_meta (out, meta_from))) {
    m->window_start = window_start;
    m->window_index = index;
  }
  GST_BUFFER_PTS (out) = pts;
  GST_BUFFER_DURATION (out) = gst_util_uint64_scale_int (win, GST_SECOND,
      self->rate);
  GST_BUFFER_OFFSET (out) = window_start;
  GST_BUFFER_OFFSET_END (out) = window_start + win;
  if (valid < win)
    self->n_padded++;
  self->n_windows++;
  return out;
}

static void
window_record (GstEcgWindow * self, GstBuffer * in, const gfloat * x, gsize n)
{
  guint64 win = secs_to_frames (self->duration, self->rate);
  guint64 hop = self->hop > 0 ? secs_to_frames (self->hop, self->rate) : win;
  guint64 off = MIN (secs_to_frames (self->offset, self->rate), n);
  guint64 avail, nw, i, start0;
  EtpEcgMeta *meta = etp_buffer_get_ecg_meta (in);
  guint64 base = meta ? meta->window_start : 0;
  GstClockTime pts0 = GST_BUFFER_PTS (in);

  self->n_records++;
  if (self->center)
    off = 0;
  avail = n - off;
  if (avail < win) {
    if (self->pad == ETP_ECG_WINDOW_PAD_DROP || avail == 0) {
      self->n_dropped++;
      GST_INFO_OBJECT (self, "record %s: %" G_GSIZE_FORMAT " frames (after "
          "an offset of %" G_GUINT64_FORMAT ") < window of %" G_GUINT64_FORMAT
          ", dropped", meta && meta->record_id ? meta->record_id : "?", n,
          off, win);
      return;
    }
    g_queue_push_tail (&self->pending, make_window (self, x + off *
            self->channels, avail, win, in, base + off, 0, pts0));
    return;
  }
  nw = (avail - win) / hop + 1;
  if (self->max_windows > 0)
    nw = MIN (nw, self->max_windows);
  start0 = off;
  if (self->center)
    start0 = (n - (win + (nw - 1) * hop)) / 2;
  for (i = 0; i < nw; i++) {
    guint64 s = start0 + i * hop;
    GstClockTime pts = GST_CLOCK_TIME_IS_VALID (pts0) ? pts0 +
        gst_util_uint64_scale_int (s, GST_SECOND, self->rate) :
        GST_CLOCK_TIME_NONE;
    g_queue_push_tail (&self->pending, make_window (self, x + s *
            self->channels, win, win, in, base + s, (guint) i, pts));
  }
}

static void
emit_stream_windows (GstEcgWindow * self, gboolean at_eos)
{
  guint64 win = secs_to_frames (self->duration, self->rate);
  guint64 hop = self->hop > 0 ? secs_to_frames (self->hop, self->rate) : win;
  gsize bpf = self->channels * sizeof (gfloat);

  for (;;) {
    gsize avail = gst_adapter_available (self->adapter) / bpf;
    GstClockTime pts;
    gsize take;

    if (self->skip > 0) {
      gsize k = (gsize) MIN (self->skip, (guint64) avail);
      if (k == 0)
        return;
      gst_adapter_flush (self->adapter, k * bpf);
      self->skip -= k;
      self->adapter_pos += k;
      continue;
    }
    if (avail >= win) {
      take = win;
    } else if (at_eos && self->pad == ETP_ECG_WINDOW_PAD_ZERO
        && self->adapter_pos + avail > self->covered_end && avail > 0) {
      take = avail;             /* the tail holds samples no window had */
    } else {
      return;
    }
    {
      const gfloat *data = gst_adapter_map (self->adapter, take * bpf);
      pts = GST_CLOCK_TIME_IS_VALID (self->stream_ts0) ? self->stream_ts0 +
          gst_util_uint64_scale_int (self->adapter_pos, GST_SECOND,
          self->rate) : GST_CLOCK_TIME_NONE;
      g_queue_push_tail (&self->pending, make_window (self, data, take, win,
              self->stream_meta_buf, self->stream_origin + self->adapter_pos,
              self->stream_index++, pts));
      gst_adapter_unmap (self->adapter);
    }
    self->covered_end = self->adapter_pos + take;
    if (take < win) {
      gst_adapter_clear (self->adapter);
      self->adapter_pos += take;
      return;
    }
    {
      guint64 k = MIN (hop, (guint64) avail);
      gst_adapter_flush (self->adapter, k * bpf);
      self->adapter_pos += k;
      self->skip = hop - k;
    }
  }
}

static void
report_gap (GstEcgWindow * self, const gchar * why)
{
  gsize lost = self->adapter ? gst_adapter_available (self->adapter) /
      (self->channels * sizeof (gfloat)) : 0;
  GstStructure *s;

  self->n_gaps++;
  GST_WARNING_OBJECT (self, "%s in the stream at frame %" G_GUINT64_FORMAT
      ": %" G_GSIZE_FORMAT " buffered frames discarded, windows restart", why,
      self->adapter_pos, lost);
  s = gst_structure_new ("etp-window-gap", "reason", G_TYPE_STRING, why,
      "position", G_TYPE_UINT64, self->adapter_pos + self->stream_origin,
      "discarded-frames", G_TYPE_UINT64, (guint64) lost,
      "gaps", G_TYPE_UINT64, self->n_gaps, NULL);
  gst_element_post_message (GST_ELEMENT (self),
      gst_message_new_element (GST_OBJECT (self), s));
}

static void
window_stream (GstEcgWindow * self, GstBuffer * in, gsize n)
{
  EtpEcgMeta *meta = etp_buffer_get_ecg_meta (in);

  if (self->stream_started && GST_BUFFER_IS_DISCONT (in)) {
    report_gap (self, "discontinuity");
    reset_stream (self);
  } else if (self->stream_started && meta && meta->window_start == 0
      && self->stream_meta_buf) {
    /* live chunks of records (ecgsrc is-live): a chunk starting at 0 begins
     * the next record; the previous one ends as at EOS */
    emit_stream_windows (self, TRUE);
    reset_stream (self);
  }
  if (!self->stream_started) {
    self->stream_started = TRUE;
    self->stream_ts0 = GST_BUFFER_PTS (in);
    self->stream_origin = meta ? meta->window_start : 0;
  }
  if (meta)
    gst_buffer_replace (&self->stream_meta_buf, in);
  gst_adapter_push (self->adapter, gst_buffer_ref (in));
  emit_stream_windows (self, FALSE);
}

static GstFlowReturn
gst_ecg_window_generate_output (GstBaseTransform * trans, GstBuffer ** outbuf)
{
  GstEcgWindow *self = GST_ECG_WINDOW (trans);
  GstBuffer *in = trans->queued_buf;

  *outbuf = NULL;
  if (in) {
    GstMapInfo map;
    gsize bpf, n;
    EtpEcgMeta *meta;
    gboolean is_record;

    trans->queued_buf = NULL;
    if (self->channels == 0 || self->rate <= 0) {
      GST_ELEMENT_ERROR (self, CORE, NEGOTIATION, (NULL),
          ("buffer before caps"));
      gst_buffer_unref (in);
      return GST_FLOW_NOT_NEGOTIATED;
    }
    bpf = self->channels * sizeof (gfloat);
    if (secs_to_frames (self->duration, self->rate) == 0) {
      GST_ELEMENT_ERROR (self, LIBRARY, SETTINGS, ("Window too short"),
          ("duration %g s is less than one sample at %d Hz", self->duration,
              self->rate));
      gst_buffer_unref (in);
      return GST_FLOW_ERROR;
    }
    if (!gst_buffer_map (in, &map, GST_MAP_READ)) {
      GST_ELEMENT_ERROR (self, RESOURCE, READ, (NULL), ("cannot map buffer"));
      gst_buffer_unref (in);
      return GST_FLOW_ERROR;
    }
    if (map.size % bpf != 0) {
      GST_ELEMENT_ERROR (self, STREAM, FORMAT, ("Buffer is not whole frames"),
          ("%" G_GSIZE_FORMAT " bytes is not a multiple of %u channels x 4 "
              "bytes", map.size, self->channels));
      gst_buffer_unmap (in, &map);
      gst_buffer_unref (in);
      return GST_FLOW_ERROR;
    }
    n = map.size / bpf;
    meta = etp_buffer_get_ecg_meta (in);
    is_record = self->mode == ETP_ECG_WINDOW_MODE_RECORD ||
        (self->mode == ETP_ECG_WINDOW_MODE_AUTO && meta != NULL
        && meta->window_start == 0 && meta->record_samples == n);
    if (is_record) {
      window_record (self, in, (const gfloat *) map.data, n);
      gst_buffer_unmap (in, &map);
    } else {
      gst_buffer_unmap (in, &map);
      if (n > 0)
        window_stream (self, in, n);
    }
    gst_buffer_unref (in);
  }
  *outbuf = g_queue_pop_head (&self->pending);
  return GST_FLOW_OK;
}

static GstFlowReturn
gst_ecg_window_transform (GstBaseTransform * trans, GstBuffer * inbuf,
    GstBuffer * outbuf)
{
  return GST_FLOW_NOT_SUPPORTED;        /* generate_output does the work */
}

static gboolean
gst_ecg_window_set_caps (GstBaseTransform * trans, GstCaps * incaps,
    GstCaps * outcaps)
{
  GstEcgWindow *self = GST_ECG_WINDOW (trans);
  gint rate = 0, ch = 0;

  if (!etp_ecg_caps_parse (incaps, &rate, &ch)) {
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION, (NULL),
        ("cannot parse caps %" GST_PTR_FORMAT, incaps));
    return FALSE;
  }
  if (rate != self->rate || (guint) ch != self->channels)
    reset_stream (self);
  self->rate = rate;
  self->channels = ch;
  gst_base_transform_set_passthrough (trans, FALSE);
  return TRUE;
}

static void
post_summary (GstEcgWindow * self)
{
  GstStructure *s = gst_structure_new ("etp-window-summary",
      "records", G_TYPE_UINT64, self->n_records,
      "windows", G_TYPE_UINT64, self->n_windows,
      "padded", G_TYPE_UINT64, self->n_padded,
      "dropped-records", G_TYPE_UINT64, self->n_dropped,
      "gaps", G_TYPE_UINT64, self->n_gaps, NULL);

  GST_INFO_OBJECT (self, "%" GST_PTR_FORMAT, s);
  if (self->n_dropped)
    GST_WARNING_OBJECT (self, "%" G_GUINT64_FORMAT " records shorter than "
        "the window were dropped (pad=drop)", self->n_dropped);
  gst_element_post_message (GST_ELEMENT (self),
      gst_message_new_element (GST_OBJECT (self), s));
}

static gboolean
gst_ecg_window_sink_event (GstBaseTransform * trans, GstEvent * event)
{
  GstEcgWindow *self = GST_ECG_WINDOW (trans);

  switch (GST_EVENT_TYPE (event)) {
    case GST_EVENT_EOS:
      if (self->stream_started && self->rate > 0) {
        GstBuffer *b;
        emit_stream_windows (self, TRUE);
        while ((b = g_queue_pop_head (&self->pending)))
          if (gst_pad_push (GST_BASE_TRANSFORM_SRC_PAD (trans), b) !=
              GST_FLOW_OK)
            break;
        clear_pending (self);
      }
      reset_stream (self);
      post_summary (self);
      break;
    case GST_EVENT_GAP:
      if (self->stream_started) {
        report_gap (self, "gap event");
        reset_stream (self);
      }
      break;
    case GST_EVENT_FLUSH_STOP:
    case GST_EVENT_STREAM_START:
      clear_pending (self);
      reset_stream (self);
      break;
    default:
      break;
  }
  return GST_BASE_TRANSFORM_CLASS (gst_ecg_window_parent_class)->sink_event
      (trans, event);
}

static gboolean
gst_ecg_window_start (GstBaseTransform * trans)
{
  GstEcgWindow *self = GST_ECG_WINDOW (trans);

  self->n_records = self->n_windows = self->n_dropped = 0;
  self->n_padded = self->n_gaps = 0;
  reset_stream (self);
  return TRUE;
}

static gboolean
gst_ecg_window_stop (GstBaseTransform * trans)
{
  GstEcgWindow *self = GST_ECG_WINDOW (trans);

  clear_pending (self);
  reset_stream (self);
  self->rate = 0;
  self->channels = 0;
  return TRUE;
}

static void
gst_ecg_window_set_property (GObject * object, guint prop_id,
    const GValue * value, GParamSpec * pspec)
{
  GstEcgWindow *self = GST_ECG_WINDOW (object);

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_DURATION:
      self->duration = g_value_get_double (value);
      break;
    case PROP_HOP:
      self->hop = g_value_get_double (value);
      break;
    case PROP_PAD:
      self->pad = g_value_get_enum (value);
      break;
    case PROP_MAX_WINDOWS:
      self->max_windows = g_value_get_uint (value);
      break;
    case PROP_OFFSET:
      self->offset = g_value_get_double (value);
      break;
    case PROP_CENTER:
      self->center = g_value_get_boolean (value);
      break;
    case PROP_NORMALIZE:
      self->normalize = g_value_get_enum (value);
      break;
    case PROP_EPSILON:
      self->epsilon = g_value_get_double (value);
      break;
    case PROP_MODE:
      self->mode = g_value_get_enum (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_ecg_window_get_property (GObject * object, guint prop_id, GValue * value,
    GParamSpec * pspec)
{
  GstEcgWindow *self = GST_ECG_WINDOW (object);

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_DURATION:
      g_value_set_double (value, self->duration);
      break;
    case PROP_HOP:
      g_value_set_double (value, self->hop);
      break;
    case PROP_PAD:
      g_value_set_enum (value, self->pad);
      break;
    case PROP_MAX_WINDOWS:
      g_value_set_uint (value, self->max_windows);
      break;
    case PROP_OFFSET:
      g_value_set_double (value, self->offset);
      break;
    case PROP_CENTER:
      g_value_set_boolean (value, self->center);
      break;
    case PROP_NORMALIZE:
      g_value_set_enum (value, self->normalize);
      break;
    case PROP_EPSILON:
      g_value_set_double (value, self->epsilon);
      break;
    case PROP_MODE:
      g_value_set_enum (value, self->mode);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_ecg_window_finalize (GObject * object)
{
  GstEcgWindow *self = GST_ECG_WINDOW (object);

  clear_pending (self);
  reset_stream (self);
  g_clear_object (&self->adapter);
  G_OBJECT_CLASS (gst_ecg_window_parent_class)->finalize (object);
}

static void
gst_ecg_window_class_init (GstEcgWindowClass * klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstBaseTransformClass *bt_class = GST_BASE_TRANSFORM_CLASS (klass);
  const GParamFlags rw = G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
      GST_PARAM_MUTABLE_READY;

  GST_DEBUG_CATEGORY_INIT (ecg_window_debug, "ecgwindow", 0,
      "ECG windowing and normalisation");

  gobject_class->set_property = gst_ecg_window_set_property;
  gobject_class->get_property = gst_ecg_window_get_property;
  gobject_class->finalize = gst_ecg_window_finalize;

  g_object_class_install_property (gobject_class, PROP_DURATION,
      g_param_spec_double ("duration", "Duration",
          "Window length in seconds", 0.001, 86400.0, DEFAULT_DURATION, rw));
  g_object_class_install_property (gobject_class, PROP_HOP,
      g_param_spec_double ("hop", "Hop",
          "Seconds between window starts (0 = duration: no overlap; less than "
          "duration: windows overlap by duration - hop)", 0.0, 86400.0,
          DEFAULT_HOP, rw));
  g_object_class_install_property (gobject_class, PROP_PAD,
      g_param_spec_enum ("pad", "Pad",
          "Records shorter than a window: zero-pad them to one window (as the "
          "MERL follow-up does for CPSC2018) or drop them; on a stream, zero "
          "also emits the padded tail at EOS", etp_ecg_window_pad_get_type (),
          DEFAULT_PAD, rw));
  g_object_class_install_property (gobject_class, PROP_MAX_WINDOWS,
      g_param_spec_uint ("max-windows-per-record", "Max windows per record",
          "At most this many windows from each record (0 = all; 1 = crop "
          "one window)", 0, G_MAXUINT, DEFAULT_MAX_WINDOWS, rw));
  g_object_class_install_property (gobject_class, PROP_OFFSET,
      g_param_spec_double ("offset", "Offset",
          "Seconds skipped at the start of each record before the first "
          "window", 0.0, 86400.0, DEFAULT_OFFSET, rw));
  g_object_class_install_property (gobject_class, PROP_CENTER,
      g_param_spec_boolean ("center", "Center",
          "Centre the record's windows in the record (ignores offset)",
          DEFAULT_CENTER, rw));
  g_object_class_install_property (gobject_class, PROP_NORMALIZE,
      g_param_spec_enum ("normalize", "Normalize",
          "Per-window, per-lead normalisation (computed over the real "
          "samples; zero padding stays zero)", etp_ecg_normalize_get_type (),
          DEFAULT_NORMALIZE, rw));
  g_object_class_install_property (gobject_class, PROP_EPSILON,
      g_param_spec_double ("epsilon", "Epsilon",
          "Added to the standard deviation (zscore) or range (minmax) so flat "
          "leads stay finite", 0.0, 1.0, DEFAULT_EPSILON, rw));
  g_object_class_install_property (gobject_class, PROP_MODE,
      g_param_spec_enum ("mode", "Mode",
          "How buffers are read: auto = a buffer whose meta says it is a "
          "whole record is a record, anything else a continuous stream",
          etp_ecg_window_mode_get_type (), DEFAULT_MODE, rw));

  gst_element_class_add_static_pad_template (element_class, &sink_template);
  gst_element_class_add_static_pad_template (element_class, &src_template);
  gst_element_class_set_static_metadata (element_class,
      "ECG windowing", "Filter/Audio",
      "Cuts ECG records or streams into fixed-length windows with hop, "
      "zero-pads or drops short records, normalises each window per lead",
      "gst-etp");

  bt_class->generate_output = GST_DEBUG_FUNCPTR
      (gst_ecg_window_generate_output);
  bt_class->transform = GST_DEBUG_FUNCPTR (gst_ecg_window_transform);
  bt_class->set_caps = GST_DEBUG_FUNCPTR (gst_ecg_window_set_caps);
  bt_class->sink_event = GST_DEBUG_FUNCPTR (gst_ecg_window_sink_event);
  bt_class->start = GST_DEBUG_FUNCPTR (gst_ecg_window_start);
  bt_class->stop = GST_DEBUG_FUNCPTR (gst_ecg_window_stop);
  bt_class->passthrough_on_same_caps = FALSE;

  gst_type_mark_as_plugin_api (etp_ecg_window_pad_get_type (), 0);
  gst_type_mark_as_plugin_api (etp_ecg_normalize_get_type (), 0);
  gst_type_mark_as_plugin_api (etp_ecg_window_mode_get_type (), 0);
}

static void
gst_ecg_window_init (GstEcgWindow * self)
{
  self->duration = DEFAULT_DURATION;
  self->hop = DEFAULT_HOP;
  self->pad = DEFAULT_PAD;
  self->max_windows = DEFAULT_MAX_WINDOWS;
  self->offset = DEFAULT_OFFSET;
  self->center = DEFAULT_CENTER;
  self->normalize = DEFAULT_NORMALIZE;
  self->epsilon = DEFAULT_EPSILON;
  self->mode = DEFAULT_MODE;
  self->adapter = gst_adapter_new ();
  g_queue_init (&self->pending);
  self->stream_ts0 = GST_CLOCK_TIME_NONE;
}
