/* ecgresample: rate conversion and filtering of ECG (see ecgresample.h and
 * docs/elements/ecgresample.md).
 *
 * Each input buffer is either a whole record (it carries an EtpEcgMeta with
 * window_start 0 and record_samples equal to its frame count) or a chunk of a
 * continuous stream (anything else).  Records are filtered zero-phase
 * (sosfiltfilt) and resampled with the FFT (scipy.signal.resample); streams
 * are filtered causally and resampled with a polyphase filter whose state is
 * carried from chunk to chunk (scipy.signal.resample_poly), drained at EOS.
 * Filters run at the input rate, before the rate conversion. */
#include "config.h"

#include <string.h>

#include "ecgresample.h"
#include "etpmeta.h"
#include "etpcaps.h"

GST_DEBUG_CATEGORY_STATIC (ecg_resample_debug);
#define GST_CAT_DEFAULT ecg_resample_debug

enum {
  PROP_0,
  PROP_RATE,
  PROP_MODE,
  PROP_HIGHPASS,
  PROP_LOWPASS,
  PROP_NOTCH,
  PROP_NOTCH_Q,
  PROP_FILTER_ORDER,
  PROP_ZERO_PHASE,
};

#define DEFAULT_RATE 0
#define DEFAULT_MODE ETP_ECG_RESAMPLE_MODE_AUTO
#define DEFAULT_HIGHPASS 0.0
#define DEFAULT_LOWPASS 0.0
#define DEFAULT_NOTCH ETP_ECG_RESAMPLE_NOTCH_OFF
#define DEFAULT_NOTCH_Q 30.0
#define DEFAULT_FILTER_ORDER 4
#define DEFAULT_ZERO_PHASE ETP_ECG_ZERO_PHASE_AUTO

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE ("sink",
    GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS (ETP_ECG_CAPS_STR));
static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE ("src",
    GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS (ETP_ECG_CAPS_STR));

#define ETP_TYPE_ECG_RESAMPLE_MODE (etp_ecg_resample_mode_get_type ())
static GType
etp_ecg_resample_mode_get_type (void)
{
  static GType t = 0;
  static const GEnumValue values[] = {
    {ETP_ECG_RESAMPLE_MODE_AUTO, "FFT for whole-record buffers, polyphase for "
          "continuous streams", "auto"},
    {ETP_ECG_RESAMPLE_MODE_FFT, "FFT resampling of every buffer on its own "
          "(scipy.signal.resample)", "fft"},
    {ETP_ECG_RESAMPLE_MODE_POLYPHASE, "Polyphase FIR (scipy.signal."
          "resample_poly); records one-shot, streams with carried state",
        "polyphase"},
    {0, NULL, NULL}
  };
  if (g_once_init_enter (&t)) {
    GType tmp = g_enum_register_static ("EtpEcgResampleMode", values);
    g_once_init_leave (&t, tmp);
  }
  return t;
}

#define ETP_TYPE_ECG_RESAMPLE_NOTCH (etp_ecg_resample_notch_get_type ())
static GType
etp_ecg_resample_notch_get_type (void)
{
  static GType t = 0;
  static const GEnumValue values[] = {
    {ETP_ECG_RESAMPLE_NOTCH_OFF, "No notch filter", "0"},
    {ETP_ECG_RESAMPLE_NOTCH_50, "50 Hz mains notch", "50"},
    {ETP_ECG_RESAMPLE_NOTCH_60, "60 Hz mains notch", "60"},
    {0, NULL, NULL}
  };
  if (g_once_init_enter (&t)) {
    GType tmp = g_enum_register_static ("EtpEcgResampleNotch", values);
    g_once_init_leave (&t, tmp);
  }
  return t;
}

#define ETP_TYPE_ECG_ZERO_PHASE (etp_ecg_zero_phase_get_type ())
static GType
etp_ecg_zero_phase_get_type (void)
{
  static GType t = 0;
  static const GEnumValue values[] = {
    {ETP_ECG_ZERO_PHASE_AUTO, "Zero-phase for whole records, causal for "
          "streams", "auto"},
    {ETP_ECG_ZERO_PHASE_TRUE, "Always zero-phase (forward-backward on each "
          "buffer)", "true"},
    {ETP_ECG_ZERO_PHASE_FALSE, "Always causal", "false"},
    {0, NULL, NULL}
  };
  if (g_once_init_enter (&t)) {
    GType tmp = g_enum_register_static ("EtpEcgZeroPhase", values);
    g_once_init_leave (&t, tmp);
  }
  return t;
}

G_DEFINE_TYPE (GstEcgResample, gst_ecg_resample, GST_TYPE_BASE_TRANSFORM);
GST_ELEMENT_REGISTER_DEFINE (ecgresample, "ecgresample", GST_RANK_NONE,
    ETP_TYPE_ECG_RESAMPLE);

static void
reset_stream (GstEcgResample * self)
{
  if (self->poly)
    etp_polyphase_reset (self->poly);
  if (self->sos_stream)
    etp_sos_stream_reset (self->sos_stream);
  self->stream_started = FALSE;
  self->stream_ts0 = GST_CLOCK_TIME_NONE;
  self->stream_out_frames = 0;
  gst_clear_buffer (&self->stream_meta_buf);
}

static void
free_state (GstEcgResample * self)
{
  reset_stream (self);
  g_clear_pointer (&self->sos, etp_sos_free);
  g_clear_pointer (&self->sos_stream, etp_sos_stream_free);
  g_clear_pointer (&self->poly, etp_polyphase_free);
  g_clear_pointer (&self->fft, etp_fft_resampler_free);
}

static GstCaps *
gst_ecg_resample_transform_caps (GstBaseTransform * trans,
    GstPadDirection direction, GstCaps * caps, GstCaps * filter)
{
  GstEcgResample *self = GST_ECG_RESAMPLE (trans);
  GstCaps *res = gst_caps_new_empty ();
  guint i, n = gst_caps_get_size (caps), rate;

  GST_OBJECT_LOCK (self);
  rate = self->rate;
  GST_OBJECT_UNLOCK (self);

  for (i = 0; i < n; i++) {
    GstStructure *s = gst_structure_copy (gst_caps_get_structure (caps, i));
    if (direction == GST_PAD_SINK && rate != 0)
      gst_structure_set (s, "rate", G_TYPE_INT, (gint) rate, NULL);
    else
      gst_structure_set (s, "rate", GST_TYPE_INT_RANGE, 1, 100000, NULL);
    res = gst_caps_merge_structure (res, s);
  }
  if (filter) {
    GstCaps *tmp = gst_caps_intersect_full (filter, res,
        GST_CAPS_INTERSECT_FIRST);
    gst_caps_unref (res);
    res = tmp;
  }
  GST_DEBUG_OBJECT (self, "%s %" GST_PTR_FORMAT " -> %" GST_PTR_FORMAT,
      direction == GST_PAD_SINK ? "sink" : "src", caps, res);
  return res;
}

static GstCaps *
gst_ecg_resample_fixate_caps (GstBaseTransform * trans,
    GstPadDirection direction, GstCaps * caps, GstCaps * othercaps)
{
  GstEcgResample *self = GST_ECG_RESAMPLE (trans);
  GstStructure *s, *os;
  gint in_rate = 0, target;

  othercaps = gst_caps_truncate (othercaps);
  othercaps = gst_caps_make_writable (othercaps);
  s = gst_caps_get_structure (caps, 0);
  os = gst_caps_get_structure (othercaps, 0);
  gst_structure_get_int (s, "rate", &in_rate);
  target = in_rate;
  if (direction == GST_PAD_SINK && self->rate != 0)
    target = (gint) self->rate;
  if (target > 0 && gst_structure_has_field (os, "rate"))
    gst_structure_fixate_field_nearest_int (os, "rate", target);
  return gst_caps_fixate (othercaps);
}

static gboolean
gst_ecg_resample_set_caps (GstBaseTransform * trans, GstCaps * incaps,
    GstCaps * outcaps)
{
  GstEcgResample *self = GST_ECG_RESAMPLE (trans);
  GError *err = NULL;
  gdouble fs;
  gboolean ok = TRUE;
  gint rate_in, rate_out, ch_in, ch_out;

  if (!etp_ecg_caps_parse (incaps, &rate_in, &ch_in)
      || !etp_ecg_caps_parse (outcaps, &rate_out, &ch_out)) {
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION, (NULL),
        ("cannot parse caps %" GST_PTR_FORMAT " / %" GST_PTR_FORMAT, incaps,
            outcaps));
    return FALSE;
  }
  if (ch_in != ch_out) {
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION, (NULL),
        ("channel count changes from %d to %d", ch_in, ch_out));
    return FALSE;
  }
  free_state (self);
  self->channels = ch_in;
  self->rate_in = rate_in;
  self->rate_out = rate_out;
  etp_resample_ratio (rate_in, rate_out, &self->up, &self->down);
  fs = rate_in;

  GST_OBJECT_LOCK (self);
  if (self->highpass > 0.0 || self->lowpass > 0.0 || self->notch != 0) {
    self->sos = etp_sos_new ();
    if (self->highpass > 0.0)
      ok = etp_sos_add_butter (self->sos, self->filter_order, self->highpass,
          TRUE, fs, &err);
    if (ok && self->lowpass > 0.0)
      ok = etp_sos_add_butter (self->sos, self->filter_order, self->lowpass,
          FALSE, fs, &err);
    if (ok && self->notch != 0)
      ok = etp_sos_add_notch (self->sos, (gdouble) self->notch,
          self->notch_q, fs, &err);
  }
  GST_OBJECT_UNLOCK (self);
  if (!ok) {
    GST_ELEMENT_ERROR (self, LIBRARY, SETTINGS, ("Bad filter settings"),
        ("%s", err->message));
    g_clear_error (&err);
    free_state (self);
    return FALSE;
  }
  if (self->sos)
    self->sos_stream = etp_sos_stream_new (self->sos, self->channels);
  if (self->up != self->down) {
    self->fft = etp_fft_resampler_new ();
    self->poly = etp_polyphase_new (self->up, self->down, self->channels,
        &err);
    if (!self->poly) {
      GST_ELEMENT_ERROR (self, CORE, NEGOTIATION, ("Unsupported rate ratio"),
          ("%d Hz -> %d Hz: %s", self->rate_in,
              self->rate_out, err->message));
      g_clear_error (&err);
      free_state (self);
      return FALSE;
    }
  }
  gst_base_transform_set_passthrough (trans, self->up == self->down
      && self->sos == NULL);
  GST_INFO_OBJECT (self, "%d Hz -> %d Hz (x%u/%u), %u channels, %u filter "
      "sections", self->rate_in,
      self->rate_out, self->up, self->down,
      self->channels, self->sos ? self->sos->n_sections : 0);
  return TRUE;
}

static GstBuffer *
make_output (GstEcgResample * self, gfloat * data, gsize frames)
{
  return gst_buffer_new_wrapped (data, frames * self->channels *
      sizeof (gfloat));
}

static void
fix_meta (GstEcgResample * self, GstBuffer * out, GstBuffer * in)
{
  EtpEcgMeta *m;

  if (!in)
    return;
  m = etp_buffer_copy_ecg_meta (out, in);
  if (!m)
    return;
  if (self->up != self->down) {
    m->record_samples = etp_resample_out_len (m->record_samples, self->up,
        self->down);
    m->window_start = m->window_start * self->up / self->down;
  }
}

/* Drains the polyphase stream state into a buffer (or NULL). */
static GstBuffer *
drain_stream (GstEcgResample * self)
{
  gsize pending, n;
  gfloat *data;
  GstBuffer *out;
  guint rate_out = self->rate_out;

  if (!self->poly || !self->stream_started)
    return NULL;
  pending = etp_polyphase_pending (self->poly);
  if (pending == 0)
    return NULL;
  data = g_new (gfloat, pending * self->channels);
  n = etp_polyphase_drain (self->poly, data);
  out = make_output (self, data, n);
  if (GST_CLOCK_TIME_IS_VALID (self->stream_ts0)) {
    GST_BUFFER_PTS (out) = self->stream_ts0 +
        gst_util_uint64_scale_int (self->stream_out_frames, GST_SECOND,
        rate_out);
    GST_BUFFER_DURATION (out) = gst_util_uint64_scale_int (n, GST_SECOND,
        rate_out);
  }
  GST_BUFFER_OFFSET (out) = self->stream_out_frames;
  self->stream_out_frames += n;
  fix_meta (self, out, self->stream_meta_buf);
  GST_DEBUG_OBJECT (self, "drained %" G_GSIZE_FORMAT " frames", n);
  return out;
}

static GstFlowReturn
gst_ecg_resample_generate_output (GstBaseTransform * trans,
    GstBuffer ** outbuf)
{
  GstEcgResample *self = GST_ECG_RESAMPLE (trans);
  GstBuffer *in = trans->queued_buf;
  GstMapInfo map;
  EtpEcgMeta *meta;
  gsize n_in, n_out = 0, bpf;
  guint C = self->channels;
  gboolean is_record, zero_phase, use_fft;
  gfloat *work = NULL, *out = NULL;
  const gfloat *src;
  GError *err = NULL;
  guint rate_out = self->rate_out;

  *outbuf = NULL;
  if (!in)
    return GST_FLOW_OK;
  trans->queued_buf = NULL;

  if (gst_base_transform_is_passthrough (trans)) {
    *outbuf = in;
    return GST_FLOW_OK;
  }
  if (C == 0) {
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION, (NULL),
        ("buffer before caps"));
    gst_buffer_unref (in);
    return GST_FLOW_NOT_NEGOTIATED;
  }

  bpf = C * sizeof (gfloat);
  if (!gst_buffer_map (in, &map, GST_MAP_READ)) {
    GST_ELEMENT_ERROR (self, RESOURCE, READ, (NULL), ("cannot map buffer"));
    gst_buffer_unref (in);
    return GST_FLOW_ERROR;
  }
  if (map.size % bpf != 0) {
    GST_ELEMENT_ERROR (self, STREAM, FORMAT, ("Buffer is not whole frames"),
        ("%" G_GSIZE_FORMAT " bytes is not a multiple of %u channels x 4 "
            "bytes", map.size, C));
    gst_buffer_unmap (in, &map);
    gst_buffer_unref (in);
    return GST_FLOW_ERROR;
  }
  n_in = map.size / bpf;
  meta = etp_buffer_get_ecg_meta (in);
  is_record = meta != NULL && meta->window_start == 0
      && meta->record_samples == n_in;

  if (n_in == 0) {
    gst_buffer_unmap (in, &map);
    gst_buffer_unref (in);
    return GST_FLOW_OK;
  }

  /* live chunks of records (ecgsrc is-live): a chunk starting at 0 after
   * another record's chunks begins a new record: finish the previous one */
  if (!is_record && meta && meta->window_start == 0 && self->stream_started
      && self->stream_meta_buf
      && etp_buffer_get_ecg_meta (self->stream_meta_buf)) {
    GstBuffer *tail = drain_stream (self);
    GST_DEBUG_OBJECT (self, "new record in the stream: state reset");
    if (tail && gst_pad_push (GST_BASE_TRANSFORM_SRC_PAD (trans), tail) !=
        GST_FLOW_OK)
      GST_DEBUG_OBJECT (self, "pushing the previous record's tail failed");
    reset_stream (self);
  }
  if (!is_record && (GST_BUFFER_IS_DISCONT (in) || !self->stream_started)) {
    if (self->stream_started)
      GST_INFO_OBJECT (self, "discontinuity: resetting the stream state");
    reset_stream (self);
    self->stream_started = TRUE;
    self->stream_ts0 = GST_BUFFER_PTS (in);
  }

  /* a private copy only when it is filtered in place or becomes the output;
   * otherwise the resamplers read the mapped input directly */
  if (self->sos || self->up == self->down) {
    work = g_new (gfloat, n_in * C);
    memcpy (work, map.data, n_in * bpf);
    src = work;
  } else {
    src = (const gfloat *) map.data;
  }

  /* 1. filters, at the input rate */
  if (self->sos) {
    zero_phase = self->zero_phase == ETP_ECG_ZERO_PHASE_AUTO ? is_record :
        self->zero_phase == ETP_ECG_ZERO_PHASE_TRUE;
    if (zero_phase) {
      if (n_in <= etp_sos_padlen (self->sos))
        GST_DEBUG_OBJECT (self, "buffer of %" G_GSIZE_FORMAT " frames is "
            "shorter than the zero-phase pad (%" G_GSIZE_FORMAT "); pad "
            "shortened", n_in, etp_sos_padlen (self->sos));
      if (!etp_sosfiltfilt (self->sos, work, n_in, C, work, &err)) {
        GST_ELEMENT_ERROR (self, STREAM, FAILED, ("Filtering failed"),
            ("%s", err->message));
        g_clear_error (&err);
        g_free (work);
        gst_buffer_unmap (in, &map);
        gst_buffer_unref (in);
        return GST_FLOW_ERROR;
      }
    } else if (is_record) {
      EtpSosStream *st = etp_sos_stream_new (self->sos, C);
      etp_sos_stream_process (st, work, n_in, work);
      etp_sos_stream_free (st);
    } else {
      etp_sos_stream_process (self->sos_stream, work, n_in, work);
    }
  }

  /* 2. rate conversion */
  if (self->up == self->down) {
    out = work;
    work = NULL;
    n_out = n_in;
  } else {
    use_fft = self->mode == ETP_ECG_RESAMPLE_MODE_FFT ||
        (self->mode == ETP_ECG_RESAMPLE_MODE_AUTO && is_record);
    if (use_fft || is_record) {
      n_out = etp_resample_out_len (n_in, self->up, self->down);
      out = g_new (gfloat, n_out * C);
      if (use_fft ? !etp_fft_resample (self->fft, src, n_in, C, out, n_out,
              &err) : !etp_resample_poly (src, n_in, C, self->up, self->down,
              out, &err)) {
        GST_ELEMENT_ERROR (self, STREAM, FAILED, ("Resampling failed"),
            ("%s", err->message));
        g_clear_error (&err);
        g_free (work);
        g_free (out);
        gst_buffer_unmap (in, &map);
        gst_buffer_unref (in);
        return GST_FLOW_ERROR;
      }
    } else {
      gsize cap = etp_polyphase_max_output (self->poly, n_in);
      out = g_new (gfloat, MAX (cap, 1) * C);
      n_out = etp_polyphase_process (self->poly, src, n_in, out);
    }
    g_free (work);
    work = NULL;
  }
  gst_buffer_unmap (in, &map);

  if (n_out == 0) {
    g_free (out);
    if (!is_record)
      gst_buffer_replace (&self->stream_meta_buf, in);
    gst_buffer_unref (in);
    return GST_FLOW_OK;
  }

  *outbuf = make_output (self, out, n_out);
  gst_buffer_copy_into (*outbuf, in, GST_BUFFER_COPY_FLAGS, 0, -1);
  if (is_record) {
    self->n_records++;
    GST_BUFFER_PTS (*outbuf) = GST_BUFFER_PTS (in);
    GST_BUFFER_DTS (*outbuf) = GST_BUFFER_DTS (in);
    GST_BUFFER_DURATION (*outbuf) = gst_util_uint64_scale_int (n_out,
        GST_SECOND, rate_out);
    GST_BUFFER_OFFSET (*outbuf) = GST_BUFFER_OFFSET_NONE;
    GST_BUFFER_OFFSET_END (*outbuf) = GST_BUFFER_OFFSET_NONE;
  } else {
    self->n_stream_buffers++;
    if (GST_CLOCK_TIME_IS_VALID (self->stream_ts0)) {
      GstClockTime t0 = self->stream_ts0 +
          gst_util_uint64_scale_int (self->stream_out_frames, GST_SECOND,
          rate_out);
      GstClockTime t1 = self->stream_ts0 +
          gst_util_uint64_scale_int (self->stream_out_frames + n_out,
          GST_SECOND, rate_out);
      GST_BUFFER_PTS (*outbuf) = t0;
      GST_BUFFER_DTS (*outbuf) = GST_CLOCK_TIME_NONE;
      GST_BUFFER_DURATION (*outbuf) = t1 - t0;
    }
    GST_BUFFER_OFFSET (*outbuf) = self->stream_out_frames;
    GST_BUFFER_OFFSET_END (*outbuf) = self->stream_out_frames + n_out;
    self->stream_out_frames += n_out;
    gst_buffer_replace (&self->stream_meta_buf, in);
  }
  fix_meta (self, *outbuf, in);
  gst_buffer_unref (in);
  return GST_FLOW_OK;
}

/* Never called (generate_output does the work); present so GstBaseTransform
 * does not configure itself as a pure passthrough element. */
static GstFlowReturn
gst_ecg_resample_transform (GstBaseTransform * trans, GstBuffer * inbuf,
    GstBuffer * outbuf)
{
  return GST_FLOW_NOT_SUPPORTED;
}

static gboolean
gst_ecg_resample_sink_event (GstBaseTransform * trans, GstEvent * event)
{
  GstEcgResample *self = GST_ECG_RESAMPLE (trans);

  switch (GST_EVENT_TYPE (event)) {
    case GST_EVENT_EOS:{
      GstBuffer *out = drain_stream (self);
      if (out) {
        GstFlowReturn ret = gst_pad_push (GST_BASE_TRANSFORM_SRC_PAD (trans),
            out);
        if (ret != GST_FLOW_OK)
          GST_DEBUG_OBJECT (self, "drain push: %s", gst_flow_get_name (ret));
      }
      GST_INFO_OBJECT (self, "EOS after %" G_GUINT64_FORMAT " records and %"
          G_GUINT64_FORMAT " stream buffers", self->n_records,
          self->n_stream_buffers);
      reset_stream (self);
      break;
    }
    case GST_EVENT_FLUSH_STOP:
    case GST_EVENT_STREAM_START:
      reset_stream (self);
      break;
    case GST_EVENT_GAP:
      /* a gap in a live stream: the polyphase history is no longer
       * contiguous with what comes next */
      if (self->stream_started) {
        GstBuffer *out = drain_stream (self);
        if (out)
          gst_pad_push (GST_BASE_TRANSFORM_SRC_PAD (trans), out);
        GST_INFO_OBJECT (self, "gap: stream state reset");
        reset_stream (self);
      }
      break;
    default:
      break;
  }
  return GST_BASE_TRANSFORM_CLASS (gst_ecg_resample_parent_class)->sink_event
      (trans, event);
}

static gboolean
gst_ecg_resample_query (GstBaseTransform * trans, GstPadDirection direction,
    GstQuery * query)
{
  GstEcgResample *self = GST_ECG_RESAMPLE (trans);
  gboolean res = GST_BASE_TRANSFORM_CLASS (gst_ecg_resample_parent_class)->query
      (trans, direction, query);

  if (res && direction == GST_PAD_SRC
      && GST_QUERY_TYPE (query) == GST_QUERY_LATENCY && self->poly
      && self->mode != ETP_ECG_RESAMPLE_MODE_FFT
      && !gst_base_transform_is_passthrough (trans)) {
    gboolean live;
    GstClockTime min, max, lat;
    gint rate_in = self->rate_in;

    gst_query_parse_latency (query, &live, &min, &max);
    lat = rate_in > 0 ? gst_util_uint64_scale_int (etp_polyphase_delay
        (self->poly), GST_SECOND, rate_in) : 0;
    min += lat;
    if (GST_CLOCK_TIME_IS_VALID (max))
      max += lat;
    gst_query_set_latency (query, live, min, max);
  }
  return res;
}

static gboolean
gst_ecg_resample_stop (GstBaseTransform * trans)
{
  GstEcgResample *self = GST_ECG_RESAMPLE (trans);
  free_state (self);
  self->channels = 0;
  self->n_records = self->n_stream_buffers = 0;
  return TRUE;
}

static void
gst_ecg_resample_set_property (GObject * object, guint prop_id,
    const GValue * value, GParamSpec * pspec)
{
  GstEcgResample *self = GST_ECG_RESAMPLE (object);

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_RATE:
      self->rate = g_value_get_uint (value);
      break;
    case PROP_MODE:
      self->mode = g_value_get_enum (value);
      break;
    case PROP_HIGHPASS:
      self->highpass = g_value_get_double (value);
      break;
    case PROP_LOWPASS:
      self->lowpass = g_value_get_double (value);
      break;
    case PROP_NOTCH:
      self->notch = g_value_get_enum (value);
      break;
    case PROP_NOTCH_Q:
      self->notch_q = g_value_get_double (value);
      break;
    case PROP_FILTER_ORDER:
      self->filter_order = g_value_get_uint (value);
      break;
    case PROP_ZERO_PHASE:
      self->zero_phase = g_value_get_enum (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
  if (prop_id == PROP_RATE)
    gst_base_transform_reconfigure_src (GST_BASE_TRANSFORM (self));
}

static void
gst_ecg_resample_get_property (GObject * object, guint prop_id, GValue * value,
    GParamSpec * pspec)
{
  GstEcgResample *self = GST_ECG_RESAMPLE (object);

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_RATE:
      g_value_set_uint (value, self->rate);
      break;
    case PROP_MODE:
      g_value_set_enum (value, self->mode);
      break;
    case PROP_HIGHPASS:
      g_value_set_double (value, self->highpass);
      break;
    case PROP_LOWPASS:
      g_value_set_double (value, self->lowpass);
      break;
    case PROP_NOTCH:
      g_value_set_enum (value, self->notch);
      break;
    case PROP_NOTCH_Q:
      g_value_set_double (value, self->notch_q);
      break;
    case PROP_FILTER_ORDER:
      g_value_set_uint (value, self->filter_order);
      break;
    case PROP_ZERO_PHASE:
      g_value_set_enum (value, self->zero_phase);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_ecg_resample_finalize (GObject * object)
{
  free_state (GST_ECG_RESAMPLE (object));
  G_OBJECT_CLASS (gst_ecg_resample_parent_class)->finalize (object);
}

static void
gst_ecg_resample_class_init (GstEcgResampleClass * klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstBaseTransformClass *bt_class = GST_BASE_TRANSFORM_CLASS (klass);

  GST_DEBUG_CATEGORY_INIT (ecg_resample_debug, "ecgresample", 0,
      "ECG rate conversion and filtering");

  gobject_class->set_property = gst_ecg_resample_set_property;
  gobject_class->get_property = gst_ecg_resample_get_property;
  gobject_class->finalize = gst_ecg_resample_finalize;

  g_object_class_install_property (gobject_class, PROP_RATE,
      g_param_spec_uint ("rate", "Rate",
          "Output sampling rate in Hz (0 = keep the input rate unless "
          "downstream caps ask for another)", 0, 100000, DEFAULT_RATE,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (gobject_class, PROP_MODE,
      g_param_spec_enum ("mode", "Mode",
          "Resampling method: auto = FFT (scipy.signal.resample) for buffers "
          "that are whole records (EtpEcgMeta with window-start 0 and "
          "record-samples = buffer length), polyphase (resample_poly) for "
          "continuous streams", ETP_TYPE_ECG_RESAMPLE_MODE, DEFAULT_MODE,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS));
  g_object_class_install_property (gobject_class, PROP_HIGHPASS,
      g_param_spec_double ("highpass", "High-pass cutoff",
          "Butterworth high-pass cutoff in Hz against baseline wander, e.g. "
          "0.5 (0 = off)", 0.0, 50000.0, DEFAULT_HIGHPASS,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (gobject_class, PROP_LOWPASS,
      g_param_spec_double ("lowpass", "Low-pass cutoff",
          "Butterworth low-pass cutoff in Hz, below half the input rate "
          "(0 = off)", 0.0, 50000.0, DEFAULT_LOWPASS,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (gobject_class, PROP_NOTCH,
      g_param_spec_enum ("notch", "Notch",
          "Mains notch filter frequency in Hz (0 = off, 50 or 60), "
          "scipy.signal.iirnotch with Q = notch-q", ETP_TYPE_ECG_RESAMPLE_NOTCH,
          DEFAULT_NOTCH, G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (gobject_class, PROP_NOTCH_Q,
      g_param_spec_double ("notch-q", "Notch Q",
          "Quality factor of the notch (bandwidth = frequency / Q)", 0.1,
          1000.0, DEFAULT_NOTCH_Q,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (gobject_class, PROP_FILTER_ORDER,
      g_param_spec_uint ("filter-order", "Filter order",
          "Order of the Butterworth high-pass and low-pass filters "
          "(forward-backward doubles the effective order)", 1, 16,
          DEFAULT_FILTER_ORDER, G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));
  g_object_class_install_property (gobject_class, PROP_ZERO_PHASE,
      g_param_spec_enum ("zero-phase", "Zero phase",
          "Forward-backward filtering (sosfiltfilt: odd extension, "
          "steady-state initial conditions): auto = on whole records, causal "
          "with carried state on streams", ETP_TYPE_ECG_ZERO_PHASE,
          DEFAULT_ZERO_PHASE, G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_READY));

  gst_element_class_add_static_pad_template (element_class, &sink_template);
  gst_element_class_add_static_pad_template (element_class, &src_template);
  gst_element_class_set_static_metadata (element_class,
      "ECG resampler and filter", "Filter/Converter/Audio",
      "Resamples ECG (FFT for whole records, polyphase for streams) and "
      "filters it (high-pass, low-pass, mains notch; zero-phase on records)",
      "gst-etp");

  bt_class->transform_caps = GST_DEBUG_FUNCPTR
      (gst_ecg_resample_transform_caps);
  bt_class->fixate_caps = GST_DEBUG_FUNCPTR (gst_ecg_resample_fixate_caps);
  bt_class->set_caps = GST_DEBUG_FUNCPTR (gst_ecg_resample_set_caps);
  bt_class->generate_output = GST_DEBUG_FUNCPTR
      (gst_ecg_resample_generate_output);
  bt_class->transform = GST_DEBUG_FUNCPTR (gst_ecg_resample_transform);
  bt_class->sink_event = GST_DEBUG_FUNCPTR (gst_ecg_resample_sink_event);
  bt_class->query = GST_DEBUG_FUNCPTR (gst_ecg_resample_query);
  bt_class->stop = GST_DEBUG_FUNCPTR (gst_ecg_resample_stop);
  bt_class->passthrough_on_same_caps = FALSE;

  gst_type_mark_as_plugin_api (ETP_TYPE_ECG_RESAMPLE_MODE, 0);
  gst_type_mark_as_plugin_api (ETP_TYPE_ECG_RESAMPLE_NOTCH, 0);
  gst_type_mark_as_plugin_api (ETP_TYPE_ECG_ZERO_PHASE, 0);
}

static void
gst_ecg_resample_init (GstEcgResample * self)
{
  self->rate = DEFAULT_RATE;
  self->mode = DEFAULT_MODE;
  self->highpass = DEFAULT_HIGHPASS;
  self->lowpass = DEFAULT_LOWPASS;
  self->notch = DEFAULT_NOTCH;
  self->notch_q = DEFAULT_NOTCH_Q;
  self->filter_order = DEFAULT_FILTER_ORDER;
  self->zero_phase = DEFAULT_ZERO_PHASE;
  self->stream_ts0 = GST_CLOCK_TIME_NONE;
}
