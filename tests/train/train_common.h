/* Shared helpers of the etptrain tests: appsrc rigs feeding etptrain with
 * ECG windows + text features carrying EtpEcgMeta, and a bus loop that
 * collects the etp-train messages. */
#ifndef ETP_TESTS_TRAIN_COMMON_H
#define ETP_TESTS_TRAIN_COMMON_H

#include <gst/check/gstcheck.h>
#include <gst/app/gstappsrc.h>
#include <math.h>
#include <string.h>

#include "etpmeta.h"
#include "etpcaps.h"

typedef struct
{
  GstElement *pipe, *train;
  GstAppSrc *ecg, *text, *view2, *val_ecg, *val_text;
  guint leads, rate;
  guint64 pts;
} TrainRig;

typedef struct
{
  GPtrArray *steps;             /* GstStructure* of event=step */
  GPtrArray *epochs;            /* GstStructure* of event=epoch */
  gboolean eos;
  gchar *error;                 /* error message, or NULL */
  gchar *error_debug;
  gboolean done;                /* event=done seen */
} TrainResult;

G_GNUC_UNUSED static GstAppSrc *
rig_src (TrainRig * r, const gchar * name, GstCaps * caps,
    const gchar * sink_pad)
{
  GstElement *src = gst_element_factory_make ("appsrc", name);

  fail_unless (src != NULL);
  g_object_set (src, "caps", caps, "format", GST_FORMAT_TIME,
      "block", FALSE, "max-bytes", (guint64) 512 * 1024 * 1024, NULL);
  gst_caps_unref (caps);
  gst_bin_add (GST_BIN (r->pipe), src);
  fail_unless (gst_element_link_pads (src, "src", r->train, sink_pad),
      "cannot link %s to etptrain.%s", name, sink_pad);
  return GST_APP_SRC (src);
}

G_GNUC_UNUSED static GstCaps *
rig_ecg_caps (guint leads, guint rate)
{
  return gst_caps_new_simple ("audio/x-raw", "format", G_TYPE_STRING, "F32LE",
      "layout", G_TYPE_STRING, "interleaved", "rate", G_TYPE_INT, (gint) rate,
      "channels", G_TYPE_INT, (gint) leads, NULL);
}

/* A pipeline: appsrc ! etptrain.ecg, appsrc ! etptrain.text (+ the optional
 * pads), etptrain ! fakesink. */
G_GNUC_UNUSED static TrainRig *
rig_new (guint leads, guint rate, guint text_dim, gboolean view2,
    gboolean val)
{
  TrainRig *r = g_new0 (TrainRig, 1);
  GstElement *sink;

  r->leads = leads;
  r->rate = rate;
  r->pipe = gst_pipeline_new ("train");
  r->train = gst_element_factory_make ("etptrain", "t");
  fail_unless (r->train != NULL, "etptrain not found (GST_PLUGIN_PATH?)");
  sink = gst_element_factory_make ("fakesink", NULL);
  g_object_set (sink, "sync", FALSE, "async", FALSE, NULL);
  gst_bin_add_many (GST_BIN (r->pipe), r->train, sink, NULL);
  fail_unless (gst_element_link (r->train, sink));
  r->ecg = rig_src (r, "ecgsrc0", rig_ecg_caps (leads, rate), "ecg");
  r->text = rig_src (r, "textsrc0", etp_tensor_caps_new (text_dim), "text");
  if (view2)
    r->view2 = rig_src (r, "view2src", rig_ecg_caps (leads, rate),
        "ecg_view2");
  if (val) {
    r->val_ecg = rig_src (r, "valecg", rig_ecg_caps (leads, rate), "val_ecg");
    r->val_text = rig_src (r, "valtext", etp_tensor_caps_new (text_dim),
        "val_text");
  }
  return r;
}

G_GNUC_UNUSED static void
rig_free (TrainRig * r)
{
  gst_element_set_state (r->pipe, GST_STATE_NULL);
  gst_object_unref (r->pipe);
  g_free (r);
}

G_GNUC_UNUSED static void
rig_start (TrainRig * r)
{
  fail_unless (gst_element_set_state (r->pipe, GST_STATE_PLAYING)
      != GST_STATE_CHANGE_FAILURE);
}

G_GNUC_UNUSED static GstBuffer *
meta_buffer (gconstpointer data, gsize size, const gchar * record,
    guint window, guint epoch, const gchar * report)
{
  GstBuffer *b = gst_buffer_new_memdup (data, size);
  EtpEcgMeta *m = etp_buffer_add_ecg_meta (b);

  m->record_id = g_strdup (record);
  m->window_index = window;
  m->epoch = epoch;
  m->report = g_strdup (report);
  m->dataset = g_strdup ("test");
  return b;
}

/* Pushes one window: ECG (interleaved, length x leads) on @ecg, its text
 * vector on @text (either may be NULL to skip). */
G_GNUC_UNUSED static void
rig_push (TrainRig * r, GstAppSrc * ecg, GstAppSrc * text,
    const gfloat * samples, guint length, const gfloat * feat, guint dim,
    const gchar * record, guint window, guint epoch)
{
  if (ecg) {
    GstBuffer *b = meta_buffer (samples,
        (gsize) length * r->leads * sizeof (gfloat), record, window, epoch,
        NULL);
    GST_BUFFER_PTS (b) = r->pts;
    GST_BUFFER_DURATION (b) = gst_util_uint64_scale (length, GST_SECOND,
        r->rate);
    fail_unless_equals_int (gst_app_src_push_buffer (ecg, b), GST_FLOW_OK);
  }
  if (text) {
    GstBuffer *b = meta_buffer (feat, (gsize) dim * sizeof (gfloat), record,
        window, epoch, NULL);
    GST_BUFFER_PTS (b) = r->pts;
    fail_unless_equals_int (gst_app_src_push_buffer (text, b), GST_FLOW_OK);
  }
  if (ecg == r->ecg || text == r->text)
    r->pts += gst_util_uint64_scale (length, GST_SECOND, r->rate);
}

G_GNUC_UNUSED static void
rig_end (GstAppSrc * src)
{
  if (src)
    fail_unless_equals_int (gst_app_src_end_of_stream (src), GST_FLOW_OK);
}

G_GNUC_UNUSED static void
train_result_clear (TrainResult * res)
{
  if (res->steps)
    g_ptr_array_unref (res->steps);
  if (res->epochs)
    g_ptr_array_unref (res->epochs);
  g_free (res->error);
  g_free (res->error_debug);
  memset (res, 0, sizeof *res);
}

/* Runs the bus until EOS or an error (at most @timeout_s seconds). */
G_GNUC_UNUSED static void
rig_wait (TrainRig * r, TrainResult * res, guint timeout_s)
{
  GstBus *bus = gst_element_get_bus (r->pipe);
  gint64 deadline = g_get_monotonic_time () + (gint64) timeout_s * 1000000;

  memset (res, 0, sizeof *res);
  res->steps = g_ptr_array_new_with_free_func ((GDestroyNotify)
      gst_structure_free);
  res->epochs = g_ptr_array_new_with_free_func ((GDestroyNotify)
      gst_structure_free);
  while (g_get_monotonic_time () < deadline) {
    GstMessage *msg = gst_bus_timed_pop_filtered (bus, 100 * GST_MSECOND,
        GST_MESSAGE_EOS | GST_MESSAGE_ERROR | GST_MESSAGE_ELEMENT);
    if (msg == NULL)
      continue;
    if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_EOS) {
      res->eos = TRUE;
      gst_message_unref (msg);
      break;
    }
    if (GST_MESSAGE_TYPE (msg) == GST_MESSAGE_ERROR) {
      GError *err = NULL;
      gchar *dbg = NULL;
      gst_message_parse_error (msg, &err, &dbg);
      res->error = g_strdup (err->message);
      res->error_debug = dbg;
      g_error_free (err);
      gst_message_unref (msg);
      break;
    }
    {
      const GstStructure *s = gst_message_get_structure (msg);
      const gchar *ev;
      if (s && gst_structure_has_name (s, "etp-train")
          && (ev = gst_structure_get_string (s, "event")) != NULL) {
        if (g_str_equal (ev, "step"))
          g_ptr_array_add (res->steps, gst_structure_copy (s));
        else if (g_str_equal (ev, "epoch"))
          g_ptr_array_add (res->epochs, gst_structure_copy (s));
        else if (g_str_equal (ev, "done"))
          res->done = TRUE;
      }
    }
    gst_message_unref (msg);
  }
  gst_object_unref (bus);
}

G_GNUC_UNUSED static gdouble
sget_double (const GstStructure * s, const gchar * field)
{
  gdouble v = NAN;

  fail_unless (gst_structure_get_double (s, field, &v),
      "no double field %s in %" GST_PTR_FORMAT, field, s);
  return v;
}

#endif
