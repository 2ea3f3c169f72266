/* ecgencoder: ResNet18-1D (+ projection head) inference, one ECG window per
 * input buffer -> one float32 vector per window (other/tensors), batched
 * across buffers with a latency bound. See docs/elements/ecgencoder.md. */
#ifndef ETP_ECG_ENCODER_H
#define ETP_ECG_ENCODER_H

#include <gst/gst.h>
#include <gst/audio/audio.h>

#include "engine/engine.h"
#include "nets/resnet1d.h"

G_BEGIN_DECLS

#define ETP_TYPE_ECG_ENCODER (gst_ecg_encoder_get_type ())
G_DECLARE_FINAL_TYPE (GstEcgEncoder, gst_ecg_encoder, GST, ECG_ENCODER,
    GstElement)

typedef enum {
  ETP_ECG_ENCODER_OUTPUT_EMBEDDING,     /* L2-normalised ecg_proj (embed_dim) */
  ETP_ECG_ENCODER_OUTPUT_FEATURES,      /* pooled encoder output (8 * width) */
} EtpEcgEncoderOutput;

struct _GstEcgEncoder {
  GstElement parent;
  GstPad *sinkpad, *srcpad;

  /* properties (object lock) */
  gchar *checkpoint;
  guint64 seed;
  EtpEcgEncoderOutput output;
  guint batch_size;
  guint64 max_latency;
  EtpDeviceKind device;
  EtpPrecision precision;
  gint threads;

  /* model (created in NULL->READY, or at caps for checkpoint=random) */
  EtpBackend *be;
  EtpResnet1d *model;
  EtpEcgEncoderOutput cur_output;
  guint dim;

  /* negotiated */
  gint rate, channels;
  guint length;                 /* window length in samples, 0 until known */
  gboolean negotiated;

  /* batching: everything below under @lock */
  GMutex lock;
  GCond cond;
  GPtrArray *pending;           /* GstBuffer*, oldest first */
  gint64 oldest_us;             /* monotonic arrival of pending[0] */
  gfloat *xbatch, *ybatch;
  gsize xcap, ycap;
  GThread *timer;
  gboolean timer_stop, flushing;
  GstFlowReturn timer_flow;     /* flow of the last timer-driven push */
  guint64 n_windows;
};

GST_ELEMENT_REGISTER_DECLARE (ecgencoder);

G_END_DECLS

#endif
