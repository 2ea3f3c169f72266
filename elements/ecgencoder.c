/* ecgencoder: ECG window -> ResNet18-1D features or ETP embedding.
 *
 * A GstElement with its own chain function (not a GstBaseTransform) because
 * windows are batched across buffers: up to batch-size windows are collected
 * and run through the network at once; a window never waits longer than
 * max-latency (a timer thread flushes partial batches), and EOS, a new
 * segment or a change of window length flush what is pending. Every window
 * gives one output buffer with the input's timestamps and EtpEcgMeta. */
#include "config.h"

#include "ecgencoder.h"
#include "etpcaps.h"
#include "etpmeta.h"

#include <string.h>

#include "nets/checkpoint.h"
#include "util/etperror.h"

GST_DEBUG_CATEGORY_STATIC (ecg_encoder_debug);
#define GST_CAT_DEFAULT ecg_encoder_debug

enum {
  PROP_0,
  PROP_CHECKPOINT,
  PROP_SEED,
  PROP_OUTPUT,
  PROP_BATCH_SIZE,
  PROP_MAX_LATENCY,
  PROP_DEVICE,
  PROP_PRECISION,
  PROP_THREADS,
};

#define DEFAULT_BATCH_SIZE 16
#define DEFAULT_MAX_LATENCY (GST_SECOND)

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE ("sink",
    GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS (ETP_ECG_CAPS_STR));
static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE ("src",
    GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS (ETP_TENSOR_CAPS_STR));

#define ETP_TYPE_ECG_ENCODER_OUTPUT (ecg_encoder_output_get_type ())
static GType
ecg_encoder_output_get_type (void)
{
  static GType t = 0;
  static const GEnumValue v[] = {
    {ETP_ECG_ENCODER_OUTPUT_EMBEDDING,
        "L2-normalised projection (ecg_proj, embed_dim values)", "embedding"},
    {ETP_ECG_ENCODER_OUTPUT_FEATURES,
        "Pooled encoder features before the head (512 values)", "features"},
    {0, NULL, NULL}
  };
  if (g_once_init_enter (&t))
    g_once_init_leave (&t, g_enum_register_static ("GstEcgEncoderOutput", v));
  return t;
}

#define ETP_TYPE_ECG_ENCODER_DEVICE (ecg_encoder_device_get_type ())
static GType
ecg_encoder_device_get_type (void)
{
  static GType t = 0;
  static const GEnumValue v[] = {
    {ETP_DEVICE_AUTO, "CUDA when a GPU is present, else the CPU", "auto"},
    {ETP_DEVICE_CPU, "CPU (OpenBLAS + vectorised loops)", "cpu"},
    {ETP_DEVICE_CUDA, "CUDA GPU (error when none is present)", "cuda"},
    {0, NULL, NULL}
  };
  if (g_once_init_enter (&t))
    g_once_init_leave (&t, g_enum_register_static ("GstEcgEncoderDevice", v));
  return t;
}

#define ETP_TYPE_ECG_ENCODER_PRECISION (ecg_encoder_precision_get_type ())
static GType
ecg_encoder_precision_get_type (void)
{
  static GType t = 0;
  static const GEnumValue v[] = {
    {ETP_PRECISION_FP32, "float32 throughout", "fp32"},
    {ETP_PRECISION_BF16,
        "bfloat16 weights and activations in the convolutions, float32 "
          "accumulation (native on avx512_bf16 CPUs / tensor cores)", "bf16"},
    {0, NULL, NULL}
  };
  if (g_once_init_enter (&t))
    g_once_init_leave (&t, g_enum_register_static ("GstEcgEncoderPrecision",
            v));
  return t;
}

#define gst_ecg_encoder_parent_class parent_class
G_DEFINE_TYPE (GstEcgEncoder, gst_ecg_encoder, GST_TYPE_ELEMENT);
GST_ELEMENT_REGISTER_DEFINE (ecgencoder, "ecgencoder", GST_RANK_NONE,
    ETP_TYPE_ECG_ENCODER);

/* ------------------------------------------------------------- the model */

static void
release_model (GstEcgEncoder * self)
{
  etp_resnet1d_free (self->model);
  self->model = NULL;
  if (self->be)
    etp_backend_free (self->be);
  self->be = NULL;
  self->dim = 0;
}

static gboolean
open_backend (GstEcgEncoder * self)
{
  GError *err = NULL;
  EtpDeviceKind dev;
  gint threads;

  GST_OBJECT_LOCK (self);
  dev = self->device;
  threads = self->threads;
  GST_OBJECT_UNLOCK (self);
  self->be = etp_backend_new (dev, threads, &err);
  if (!self->be) {
    GST_ELEMENT_ERROR (self, RESOURCE, FAILED,
        ("Cannot use device=%s", etp_device_kind_to_string (dev)),
        ("%s", err ? err->message : "unknown error"));
    g_clear_error (&err);
    return FALSE;
  }
  GST_INFO_OBJECT (self, "backend %s, %d threads", etp_backend_name (self->be),
      etp_backend_n_threads (self->be));
  return TRUE;
}

/* After the model exists: precision, output size. */
static gboolean
setup_model (GstEcgEncoder * self)
{
  GError *err = NULL;
  EtpPrecision prec;

  GST_OBJECT_LOCK (self);
  prec = self->precision;
  self->cur_output = self->output;
  GST_OBJECT_UNLOCK (self);
  if (prec == ETP_PRECISION_BF16 &&
      !etp_backend_supports (self->be, ETP_FEATURE_BF16_NATIVE))
    GST_WARNING_OBJECT (self, "precision=bf16: %s has no native bfloat16; "
        "it is emulated (same numbers, no speed-up)",
        etp_backend_name (self->be));
  if (!etp_resnet1d_set_precision (self->model, prec, &err)) {
    GST_ELEMENT_ERROR (self, LIBRARY, SETTINGS, ("Unsupported precision"),
        ("%s", err->message));
    g_clear_error (&err);
    return FALSE;
  }
  self->dim = self->cur_output == ETP_ECG_ENCODER_OUTPUT_FEATURES ?
      etp_resnet1d_feature_dim (self->model) :
      etp_resnet1d_get_config (self->model)->embed_dim;
  return TRUE;
}

/* NULL->READY: the backend, and the model when it comes from a file. */
static gboolean
load_model (GstEcgEncoder * self)
{
  GError *err = NULL;
  gchar *path;

  GST_OBJECT_LOCK (self);
  path = g_strdup (self->checkpoint);
  GST_OBJECT_UNLOCK (self);

  if (!path || !*path) {
    GST_ELEMENT_ERROR (self, RESOURCE, NOT_FOUND, ("No checkpoint set"),
        ("set checkpoint=PATH to a safetensors file, or checkpoint=random "
            "(with seed) for an untrained, randomly initialised encoder"));
    g_free (path);
    return FALSE;
  }
  if (!open_backend (self)) {
    g_free (path);
    return FALSE;
  }
  if (strcmp (path, "random") == 0) {
    /* created when the caps give the lead count */
    g_free (path);
    return TRUE;
  }
  self->model = etp_checkpoint_load (path, self->be, &err);
  if (!self->model) {
    GST_ELEMENT_ERROR (self, RESOURCE, OPEN_READ,
        ("Could not load checkpoint \"%s\"", path), ("%s", err->message));
    g_clear_error (&err);
    g_free (path);
    release_model (self);
    return FALSE;
  }
  {
    const EtpResnet1dConfig *c = etp_resnet1d_get_config (self->model);
    GST_INFO_OBJECT (self, "loaded %s: leads %u, width %u, embed %u, "
        "rate %u, length %u", path, c->leads, c->width, c->embed_dim,
        c->sample_rate, c->length);
  }
  g_free (path);
  return setup_model (self);
}

/* ------------------------------------------------------------- batching */

static gboolean
ensure_host_buffers (GstEcgEncoder * self, guint n)
{
  gsize xn = (gsize) n * self->channels * self->length;
  gsize yn = (gsize) n * self->dim;
  if (xn > self->xcap) {
    g_free (self->xbatch);
    self->xbatch = g_try_new (gfloat, xn);
    self->xcap = self->xbatch ? xn : 0;
  }
  if (yn > self->ycap) {
    g_free (self->ybatch);
    self->ybatch = g_try_new (gfloat, yn);
    self->ycap = self->ybatch ? yn : 0;
  }
  return self->xbatch && self->ybatch;
}

/* Runs the pending windows and pushes one buffer each. Called with
 * self->lock held (pushing under it keeps the output ordered between the
 * streaming thread and the latency timer). */
static GstFlowReturn
process_locked (GstEcgEncoder * self)
{
  guint n = self->pending->len;
  guint C = self->channels, L = self->length, D = self->dim;
  GError *err = NULL;
  GstFlowReturn ret = GST_FLOW_OK;
  gboolean ok;

  if (n == 0)
    return GST_FLOW_OK;
  if (!ensure_host_buffers (self, n)) {
    GST_ELEMENT_ERROR (self, RESOURCE, FAILED, ("Out of memory"),
        ("batch of %u windows x %u leads x %u samples", n, C, L));
    g_ptr_array_set_size (self->pending, 0);
    return GST_FLOW_ERROR;
  }
  /* interleaved (L, C) -> channel-major (C, L) per window */
  for (guint b = 0; b < n; b++) {
    GstBuffer *buf = g_ptr_array_index (self->pending, b);
    GstMapInfo map;
    gfloat *dst = self->xbatch + (gsize) b * C * L;
    if (!gst_buffer_map (buf, &map, GST_MAP_READ)) {
      GST_ELEMENT_ERROR (self, STREAM, FAILED, (NULL),
          ("cannot map input buffer"));
      g_ptr_array_set_size (self->pending, 0);
      return GST_FLOW_ERROR;
    }
    {
      const gfloat *src = (const gfloat *) map.data;
      for (guint t = 0; t < L; t++)
        for (guint c = 0; c < C; c++)
          dst[(gsize) c * L + t] = src[(gsize) t * C + c];
    }
    gst_buffer_unmap (buf, &map);
  }

  if (self->cur_output == ETP_ECG_ENCODER_OUTPUT_FEATURES)
    ok = etp_resnet1d_forward_eval (self->model, n, L, self->xbatch,
        self->ybatch, NULL, &err);
  else
    ok = etp_resnet1d_forward_eval (self->model, n, L, self->xbatch, NULL,
        self->ybatch, &err);
  if (!ok) {
    GST_ELEMENT_ERROR (self, STREAM, FAILED, ("Encoder failed"),
        ("%s", err ? err->message : "unknown error"));
    g_clear_error (&err);
    g_ptr_array_set_size (self->pending, 0);
    return GST_FLOW_ERROR;
  }
  GST_LOG_OBJECT (self, "encoded a batch of %u windows", n);

  for (guint b = 0; b < n; b++) {
    GstBuffer *in = g_ptr_array_index (self->pending, b);
    GstBuffer *out;

    if (ret != GST_FLOW_OK)
      break;
    out = gst_buffer_new_allocate (NULL, (gsize) D * sizeof (gfloat), NULL);
    gst_buffer_fill (out, 0, self->ybatch + (gsize) b * D,
        (gsize) D * sizeof (gfloat));
    GST_BUFFER_PTS (out) = GST_BUFFER_PTS (in);
    GST_BUFFER_DTS (out) = GST_BUFFER_DTS (in);
    GST_BUFFER_DURATION (out) = GST_BUFFER_DURATION (in);
    GST_BUFFER_OFFSET (out) = self->n_windows;
    GST_BUFFER_OFFSET_END (out) = self->n_windows + 1;
    if (GST_BUFFER_FLAG_IS_SET (in, GST_BUFFER_FLAG_DISCONT))
      GST_BUFFER_FLAG_SET (out, GST_BUFFER_FLAG_DISCONT);
    etp_buffer_copy_ecg_meta (out, in);
    self->n_windows++;
    ret = gst_pad_push (self->srcpad, out);
  }
  g_ptr_array_set_size (self->pending, 0);
  return ret;
}

static gpointer
timer_thread (gpointer data)
{
  GstEcgEncoder *self = data;

  g_mutex_lock (&self->lock);
  while (!self->timer_stop) {
    guint64 lat;
    GST_OBJECT_LOCK (self);
    lat = self->max_latency;
    GST_OBJECT_UNLOCK (self);
    if (self->pending->len == 0 || self->flushing ||
        !GST_CLOCK_TIME_IS_VALID (lat)) {
      g_cond_wait (&self->cond, &self->lock);
    } else {
      gint64 deadline = self->oldest_us + (gint64) (lat / 1000);
      if (g_get_monotonic_time () >= deadline) {
        GstFlowReturn r;
        GST_DEBUG_OBJECT (self, "max-latency reached: flushing %u windows",
            self->pending->len);
        r = process_locked (self);
        if (r != GST_FLOW_OK)
          self->timer_flow = r;
      } else {
        g_cond_wait_until (&self->cond, &self->lock, deadline);
      }
    }
  }
  g_mutex_unlock (&self->lock);
  return NULL;
}

static void
clear_pending_locked (GstEcgEncoder * self)
{
  g_ptr_array_set_size (self->pending, 0);
}

/* ----------------------------------------------------------------- caps */

static gboolean
set_caps (GstEcgEncoder * self, GstCaps * caps)
{
  gint rate = 0, channels = 0;
  GstCaps *out;
  const EtpResnet1dConfig *cfg;
  gboolean ok;

  if (!etp_ecg_caps_parse (caps, &rate, &channels)) {
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION, (NULL),
        ("expected interleaved F32LE audio/x-raw with rate and channels, got %"
            GST_PTR_FORMAT, caps));
    return FALSE;
  }
  if (!self->model) {
    /* checkpoint=random: the encoder takes the stream's shape */
    EtpResnet1dConfig c;
    GError *err = NULL;
    guint64 seed;
    GST_OBJECT_LOCK (self);
    seed = self->seed;
    GST_OBJECT_UNLOCK (self);
    etp_resnet1d_config_init (&c);
    c.leads = channels;
    c.sample_rate = rate;
    c.length = 0;
    if (!self->be && !open_backend (self))
      return FALSE;
    self->model = etp_resnet1d_new (self->be, &c, seed, &err);
    if (!self->model) {
      GST_ELEMENT_ERROR (self, RESOURCE, FAILED,
          ("Cannot create the encoder"), ("%s", err->message));
      g_clear_error (&err);
      return FALSE;
    }
    GST_INFO_OBJECT (self, "random encoder, seed %" G_GUINT64_FORMAT, seed);
  }
  /* output / precision as set now (they may have changed in READY) */
  if (!setup_model (self))
    return FALSE;
  cfg = etp_resnet1d_get_config (self->model);
  if ((guint) channels != cfg->leads) {
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION,
        ("The stream has %d leads, the checkpoint's encoder takes %u",
            channels, cfg->leads),
        ("caps %" GST_PTR_FORMAT "; select/reorder leads upstream or use a "
            "checkpoint trained on %d leads", caps,
            channels));
    return FALSE;
  }
  if (cfg->sample_rate && (guint) rate !=
      cfg->sample_rate) {
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION,
        ("The stream is at %d Hz, the checkpoint was trained at %u Hz",
            rate, cfg->sample_rate),
        ("caps %" GST_PTR_FORMAT "; put ecgresample rate=%u before "
            "ecgencoder", caps, cfg->sample_rate));
    return FALSE;
  }
  self->rate = rate;
  self->channels = channels;
  out = etp_tensor_caps_new (self->dim);
  ok = gst_pad_set_caps (self->srcpad, out);
  gst_caps_unref (out);
  self->negotiated = ok;
  return ok;
}

/* -------------------------------------------------------------- pads */

static GstFlowReturn
gst_ecg_encoder_chain (GstPad * pad, GstObject * parent, GstBuffer * buf)
{
  GstEcgEncoder *self = GST_ECG_ENCODER (parent);
  GstFlowReturn ret = GST_FLOW_OK;
  gsize size = gst_buffer_get_size (buf);
  guint frames, bs;
  const EtpResnet1dConfig *cfg;

  if (!self->negotiated) {
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION, (NULL),
        ("received a buffer before caps"));
    gst_buffer_unref (buf);
    return GST_FLOW_NOT_NEGOTIATED;
  }
  cfg = etp_resnet1d_get_config (self->model);
  if (size == 0 || size % ((gsize) 4 * self->channels) != 0) {
    GST_ELEMENT_ERROR (self, STREAM, FORMAT, (NULL),
        ("buffer of %" G_GSIZE_FORMAT " bytes is not a whole number of "
            "%d-lead float32 frames", size, self->channels));
    gst_buffer_unref (buf);
    return GST_FLOW_ERROR;
  }
  frames = size / (4 * self->channels);
  if (cfg->length && frames != cfg->length) {
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION,
        ("The window has %u samples, the checkpoint was trained on %u",
            frames, cfg->length),
        ("%u samples at %d Hz = %.3f s; set ecgwindow duration=%.3f", frames,
            self->rate, (gdouble) frames / self->rate,
            (gdouble) cfg->length / self->rate));
    gst_buffer_unref (buf);
    return GST_FLOW_NOT_NEGOTIATED;
  }
  if (frames < 8) {
    GST_ELEMENT_ERROR (self, STREAM, FORMAT, (NULL),
        ("window of %u samples is too short for the encoder", frames));
    gst_buffer_unref (buf);
    return GST_FLOW_ERROR;
  }

  GST_OBJECT_LOCK (self);
  bs = self->batch_size;
  GST_OBJECT_UNLOCK (self);

  g_mutex_lock (&self->lock);
  if (self->flushing) {
    g_mutex_unlock (&self->lock);
    gst_buffer_unref (buf);
    return GST_FLOW_FLUSHING;
  }
  if (self->timer_flow != GST_FLOW_OK) {
    ret = self->timer_flow;
    self->timer_flow = GST_FLOW_OK;
    g_mutex_unlock (&self->lock);
    gst_buffer_unref (buf);
    return ret;
  }
  if (self->length != frames) {
    /* windows of another length: finish the batch of the old length */
    ret = process_locked (self);
    self->length = frames;
  }
  if (ret == GST_FLOW_OK) {
    g_ptr_array_add (self->pending, buf);
    buf = NULL;
    if (self->pending->len == 1) {
      self->oldest_us = g_get_monotonic_time ();
      g_cond_broadcast (&self->cond);
    }
    if (self->pending->len >= bs)
      ret = process_locked (self);
  }
  g_mutex_unlock (&self->lock);
  if (buf)
    gst_buffer_unref (buf);
  return ret;
}

static gboolean
gst_ecg_encoder_sink_event (GstPad * pad, GstObject * parent,
    GstEvent * event)
{
  GstEcgEncoder *self = GST_ECG_ENCODER (parent);

  switch (GST_EVENT_TYPE (event)) {
    case GST_EVENT_CAPS:{
      GstCaps *caps, *cur;
      gboolean ok;
      gst_event_parse_caps (event, &caps);
      /* A funnel of several live feeds re-sends the same caps at every
       * switch of feed: nothing to renegotiate, and the batch that is
       * filling must not be cut short for it. */
      cur = gst_pad_get_current_caps (pad);
      if (cur != NULL && gst_caps_is_equal (cur, caps)) {
        gst_caps_unref (cur);
        gst_event_unref (event);
        return TRUE;
      }
      if (cur != NULL)
        gst_caps_unref (cur);
      g_mutex_lock (&self->lock);
      process_locked (self);
      g_mutex_unlock (&self->lock);
      ok = set_caps (self, caps);
      gst_event_unref (event);
      return ok;
    }
    case GST_EVENT_FLUSH_START:
      g_mutex_lock (&self->lock);
      self->flushing = TRUE;
      clear_pending_locked (self);
      g_mutex_unlock (&self->lock);
      return gst_pad_push_event (self->srcpad, event);
    case GST_EVENT_FLUSH_STOP:
      g_mutex_lock (&self->lock);
      self->flushing = FALSE;
      self->timer_flow = GST_FLOW_OK;
      clear_pending_locked (self);
      g_mutex_unlock (&self->lock);
      return gst_pad_push_event (self->srcpad, event);
    case GST_EVENT_EOS:
    case GST_EVENT_SEGMENT:
    case GST_EVENT_SEGMENT_DONE:
    case GST_EVENT_GAP:
      /* serialized: what is pending goes first (partial batch at EOS) */
      g_mutex_lock (&self->lock);
      if (!self->flushing)
        process_locked (self);
      g_mutex_unlock (&self->lock);
      return gst_pad_push_event (self->srcpad, event);
    default:
      return gst_pad_event_default (pad, parent, event);
  }
}

static gboolean
gst_ecg_encoder_sink_query (GstPad * pad, GstObject * parent, GstQuery * query)
{
  GstEcgEncoder *self = GST_ECG_ENCODER (parent);

  switch (GST_QUERY_TYPE (query)) {
    case GST_QUERY_CAPS:{
      GstCaps *filter, *tmpl, *res;
      gst_query_parse_caps (query, &filter);
      tmpl = gst_pad_get_pad_template_caps (pad);
      if (self->model) {
        /* advertise what the checkpoint was trained on, so converters
         * upstream (ecgresample) can pick it */
        const EtpResnet1dConfig *c = etp_resnet1d_get_config (self->model);
        GstCaps *want = gst_caps_copy (tmpl);
        gst_caps_set_simple (want, "channels", G_TYPE_INT, (gint) c->leads,
            NULL);
        if (c->sample_rate)
          gst_caps_set_simple (want, "rate", G_TYPE_INT,
              (gint) c->sample_rate, NULL);
        gst_caps_unref (tmpl);
        tmpl = want;
      }
      if (filter) {
        res = gst_caps_intersect_full (filter, tmpl, GST_CAPS_INTERSECT_FIRST);
        gst_caps_unref (tmpl);
      } else {
        res = tmpl;
      }
      gst_query_set_caps_result (query, res);
      gst_caps_unref (res);
      return TRUE;
    }
    case GST_QUERY_ACCEPT_CAPS:{
      /* accept any ECG caps here, so a mismatch with the checkpoint reaches
       * the caps event and is reported with a clear message */
      GstCaps *caps, *tmpl;
      gst_query_parse_accept_caps (query, &caps);
      tmpl = gst_pad_get_pad_template_caps (pad);
      gst_query_set_accept_caps_result (query,
          gst_caps_is_subset (caps, tmpl));
      gst_caps_unref (tmpl);
      return TRUE;
    }
    default:
      return gst_pad_query_default (pad, parent, query);
  }
}

static gboolean
gst_ecg_encoder_src_query (GstPad * pad, GstObject * parent, GstQuery * query)
{
  GstEcgEncoder *self = GST_ECG_ENCODER (parent);

  switch (GST_QUERY_TYPE (query)) {
    case GST_QUERY_LATENCY:{
      gboolean live;
      GstClockTime min, max;
      guint64 lat;
      guint bs;
      if (!gst_pad_peer_query (self->sinkpad, query))
        return FALSE;
      gst_query_parse_latency (query, &live, &min, &max);
      GST_OBJECT_LOCK (self);
      lat = self->max_latency;
      bs = self->batch_size;
      GST_OBJECT_UNLOCK (self);
      if (bs > 1 && GST_CLOCK_TIME_IS_VALID (lat)) {
        min += lat;
        if (GST_CLOCK_TIME_IS_VALID (max))
          max += lat;
      }
      gst_query_set_latency (query, live, min, max);
      return TRUE;
    }
    default:
      return gst_pad_query_default (pad, parent, query);
  }
}

/* --------------------------------------------------------- state, props */

static GstStateChangeReturn
gst_ecg_encoder_change_state (GstElement * element, GstStateChange transition)
{
  GstEcgEncoder *self = GST_ECG_ENCODER (element);
  GstStateChangeReturn ret;

  switch (transition) {
    case GST_STATE_CHANGE_NULL_TO_READY:
      if (!load_model (self))
        return GST_STATE_CHANGE_FAILURE;
      break;
    case GST_STATE_CHANGE_READY_TO_PAUSED:
      g_mutex_lock (&self->lock);
      self->flushing = FALSE;
      self->timer_stop = FALSE;
      self->timer_flow = GST_FLOW_OK;
      self->length = 0;
      self->n_windows = 0;
      g_mutex_unlock (&self->lock);
      self->negotiated = FALSE;
      self->timer = g_thread_new ("ecgencoder-timer", timer_thread, self);
      break;
    case GST_STATE_CHANGE_PAUSED_TO_READY:
      g_mutex_lock (&self->lock);
      self->flushing = TRUE;
      self->timer_stop = TRUE;
      g_cond_broadcast (&self->cond);
      g_mutex_unlock (&self->lock);
      if (self->timer)
        g_thread_join (self->timer);
      self->timer = NULL;
      break;
    default:
      break;
  }

  ret = GST_ELEMENT_CLASS (parent_class)->change_state (element, transition);

  switch (transition) {
    case GST_STATE_CHANGE_PAUSED_TO_READY:
      g_mutex_lock (&self->lock);
      clear_pending_locked (self);
      g_mutex_unlock (&self->lock);
      self->negotiated = FALSE;
      break;
    case GST_STATE_CHANGE_READY_TO_NULL:
      release_model (self);
      g_free (self->xbatch);
      g_free (self->ybatch);
      self->xbatch = self->ybatch = NULL;
      self->xcap = self->ycap = 0;
      break;
    default:
      break;
  }
  return ret;
}

static void
gst_ecg_encoder_set_property (GObject * object, guint prop_id,
    const GValue * value, GParamSpec * pspec)
{
  GstEcgEncoder *self = GST_ECG_ENCODER (object);

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_CHECKPOINT:
      g_free (self->checkpoint);
      self->checkpoint = g_value_dup_string (value);
      break;
    case PROP_SEED:
      self->seed = g_value_get_uint64 (value);
      break;
    case PROP_OUTPUT:
      self->output = g_value_get_enum (value);
      break;
    case PROP_BATCH_SIZE:
      self->batch_size = g_value_get_uint (value);
      break;
    case PROP_MAX_LATENCY:
      self->max_latency = g_value_get_uint64 (value);
      break;
    case PROP_DEVICE:
      self->device = g_value_get_enum (value);
      break;
    case PROP_PRECISION:
      self->precision = g_value_get_enum (value);
      break;
    case PROP_THREADS:
      self->threads = g_value_get_int (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
  if (prop_id == PROP_MAX_LATENCY) {
    g_mutex_lock (&self->lock);
    g_cond_broadcast (&self->cond);
    g_mutex_unlock (&self->lock);
  }
}

static void
gst_ecg_encoder_get_property (GObject * object, guint prop_id,
    GValue * value, GParamSpec * pspec)
{
  GstEcgEncoder *self = GST_ECG_ENCODER (object);

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_CHECKPOINT:
      g_value_set_string (value, self->checkpoint);
      break;
    case PROP_SEED:
      g_value_set_uint64 (value, self->seed);
      break;
    case PROP_OUTPUT:
      g_value_set_enum (value, self->output);
      break;
    case PROP_BATCH_SIZE:
      g_value_set_uint (value, self->batch_size);
      break;
    case PROP_MAX_LATENCY:
      g_value_set_uint64 (value, self->max_latency);
      break;
    case PROP_DEVICE:
      g_value_set_enum (value, self->device);
      break;
    case PROP_PRECISION:
      g_value_set_enum (value, self->precision);
      break;
    case PROP_THREADS:
      g_value_set_int (value, self->threads);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_ecg_encoder_finalize (GObject * object)
{
  GstEcgEncoder *self = GST_ECG_ENCODER (object);

  release_model (self);
  g_free (self->checkpoint);
  g_free (self->xbatch);
  g_free (self->ybatch);
  g_ptr_array_unref (self->pending);
  g_mutex_clear (&self->lock);
  g_cond_clear (&self->cond);
  G_OBJECT_CLASS (parent_class)->finalize (object);
}

static void
gst_ecg_encoder_class_init (GstEcgEncoderClass * klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GParamFlags rw = G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
      GST_PARAM_MUTABLE_READY;

  GST_DEBUG_CATEGORY_INIT (ecg_encoder_debug, "ecgencoder", 0,
      "ResNet18-1D ECG encoder");

  gobject_class->set_property = gst_ecg_encoder_set_property;
  gobject_class->get_property = gst_ecg_encoder_get_property;
  gobject_class->finalize = gst_ecg_encoder_finalize;

  g_object_class_install_property (gobject_class, PROP_CHECKPOINT,
      g_param_spec_string ("checkpoint", "Checkpoint",
          "Path of the encoder's safetensors checkpoint (torchvision ResNet "
          "names, see docs/checkpoint.md); \"random\" for an untrained, "
          "randomly initialised encoder (see seed)", NULL, rw));
  g_object_class_install_property (gobject_class, PROP_SEED,
      g_param_spec_uint64 ("seed", "Seed",
          "Seed of the random initialisation with checkpoint=random", 0,
          G_MAXUINT64, 0, rw));
  g_object_class_install_property (gobject_class, PROP_OUTPUT,
      g_param_spec_enum ("output", "Output",
          "What each output vector is: the L2-normalised ETP embedding "
          "(ecg_proj, embed_dim values, for zeroshot) or the pooled encoder "
          "features before the head (8 x width = 512 values, for "
          "linearprobe)", ETP_TYPE_ECG_ENCODER_OUTPUT,
          ETP_ECG_ENCODER_OUTPUT_EMBEDDING, rw));
  g_object_class_install_property (gobject_class, PROP_BATCH_SIZE,
      g_param_spec_uint ("batch-size", "Batch size",
          "Windows run through the network together (batched across "
          "buffers; a partial batch runs after max-latency and at EOS)", 1,
          4096, DEFAULT_BATCH_SIZE, rw | GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (gobject_class, PROP_MAX_LATENCY,
      g_param_spec_uint64 ("max-latency", "Maximum latency",
          "Longest time (ns, wall clock) a window waits for its batch to "
          "fill before a partial batch runs; GST_CLOCK_TIME_NONE (-1) waits "
          "for full batches (offline use)", 0, G_MAXUINT64,
          DEFAULT_MAX_LATENCY, rw | GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (gobject_class, PROP_DEVICE,
      g_param_spec_enum ("device", "Device",
          "Compute device: auto (CUDA when a GPU is present, else CPU), cpu "
          "or cuda", ETP_TYPE_ECG_ENCODER_DEVICE, ETP_DEVICE_AUTO, rw));
  g_object_class_install_property (gobject_class, PROP_PRECISION,
      g_param_spec_enum ("precision", "Precision",
          "Arithmetic of the convolutions: fp32, or bf16 (bfloat16 weights "
          "and activations with float32 accumulation; fast where the CPU "
          "has avx512_bf16)", ETP_TYPE_ECG_ENCODER_PRECISION,
          ETP_PRECISION_FP32, rw));
  g_object_class_install_property (gobject_class, PROP_THREADS,
      g_param_spec_int ("threads", "Threads",
          "CPU worker threads (0 = one per online core)", 0, 1024, 0, rw));

  gst_element_class_add_static_pad_template (element_class, &sink_template);
  gst_element_class_add_static_pad_template (element_class, &src_template);
  gst_element_class_set_static_metadata (element_class,
      "ECG encoder (ResNet18-1D)", "Filter/Analyzer/Medical",
      "Encodes ECG windows into ETP embeddings or ResNet18-1D features "
      "(CPU or CUDA, batched)", "gst-etp");
  element_class->change_state =
      GST_DEBUG_FUNCPTR (gst_ecg_encoder_change_state);

  gst_type_mark_as_plugin_api (ETP_TYPE_ECG_ENCODER_OUTPUT, 0);
  gst_type_mark_as_plugin_api (ETP_TYPE_ECG_ENCODER_DEVICE, 0);
  gst_type_mark_as_plugin_api (ETP_TYPE_ECG_ENCODER_PRECISION, 0);
}

static void
gst_ecg_encoder_init (GstEcgEncoder * self)
{
  self->sinkpad = gst_pad_new_from_static_template (&sink_template, "sink");
  gst_pad_set_chain_function (self->sinkpad,
      GST_DEBUG_FUNCPTR (gst_ecg_encoder_chain));
  gst_pad_set_event_function (self->sinkpad,
      GST_DEBUG_FUNCPTR (gst_ecg_encoder_sink_event));
  gst_pad_set_query_function (self->sinkpad,
      GST_DEBUG_FUNCPTR (gst_ecg_encoder_sink_query));
  gst_element_add_pad (GST_ELEMENT (self), self->sinkpad);

  self->srcpad = gst_pad_new_from_static_template (&src_template, "src");
  gst_pad_set_query_function (self->srcpad,
      GST_DEBUG_FUNCPTR (gst_ecg_encoder_src_query));
  gst_pad_use_fixed_caps (self->srcpad);
  gst_element_add_pad (GST_ELEMENT (self), self->srcpad);

  self->batch_size = DEFAULT_BATCH_SIZE;
  self->max_latency = DEFAULT_MAX_LATENCY;
  self->output = ETP_ECG_ENCODER_OUTPUT_EMBEDDING;
  self->device = ETP_DEVICE_AUTO;
  self->precision = ETP_PRECISION_FP32;
  self->pending = g_ptr_array_new_with_free_func (
      (GDestroyNotify) gst_buffer_unref);
  g_mutex_init (&self->lock);
  g_cond_init (&self->cond);
}
