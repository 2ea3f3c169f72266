/* textencoder: text -> embedding. text/x-raw (one item per line) or ECG
 * buffers carrying an EtpEcgMeta report in; one float32 vector per item out
 * (other/tensors), in order. BERT from a Hugging Face folder or static word
 * vectors; optional German->English report normaliser and feature cache.
 * See docs/elements/textencoder.md. */
#ifndef ETP_TEXT_ENCODER_H
#define ETP_TEXT_ENCODER_H

#include <gst/gst.h>

#include "text/textcache.h"
#include "text/textmodel.h"

G_BEGIN_DECLS

#define ETP_TYPE_TEXT_ENCODER (gst_text_encoder_get_type ())
G_DECLARE_FINAL_TYPE (GstTextEncoder, gst_text_encoder, GST, TEXT_ENCODER,
    GstElement)

typedef enum {
  ETP_TEXT_ENCODER_EMPTY_SKIP,  /* drop empty / blank items */
  ETP_TEXT_ENCODER_EMPTY_ENCODE,        /* encode "" like any text */
  ETP_TEXT_ENCODER_EMPTY_ERROR, /* post an error */
} EtpTextEncoderEmpty;

typedef enum {
  ETP_TEXT_ENCODER_DEVICE_AUTO,
  ETP_TEXT_ENCODER_DEVICE_CPU,
  ETP_TEXT_ENCODER_DEVICE_CUDA,
} EtpTextEncoderDevice;

struct _GstTextEncoder {
  GstElement parent;
  GstPad *sinkpad, *srcpad;

  /* properties (object lock) */
  gchar *model_path;
  EtpTextPooling pooling;
  EtpTextLowercase lowercase;
  gboolean normalize_reports;
  guint max_length;
  gboolean truncate;
  gchar *cache_path;
  EtpTextEncoderDevice device;
  guint batch_size;
  EtpTextEncoderEmpty empty_lines;
  EtpTextEncoderEmpty missing_report;

  /* streaming state (streaming thread) */
  EtpTextModel *model;
  EtpTextCache *cache;
  guint dim;
  gboolean ecg_input;
  gboolean caps_sent;
  GString *partial;             /* bytes of an unfinished line */
  guint64 line_no;              /* lines seen (1-based numbering in errors) */
  guint64 n_out;
  GPtrArray *pending_text;      /* gchar* */
  GPtrArray *pending_src;       /* GstBuffer* (ECG input) or NULL entries */
  guint64 n_cache_hits, n_encoded, n_oov;
};

G_END_DECLS

#endif
