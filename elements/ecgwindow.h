/* ecgwindow: fixed-length windows with hop from whole records or continuous
 * streams (pad / drop / crop), per-window per-lead normalisation.
 * See docs/elements/ecgwindow.md. */
#ifndef ETP_ECG_WINDOW_H
#define ETP_ECG_WINDOW_H

#include <gst/gst.h>
#include <gst/base/gstbasetransform.h>
#include <gst/base/gstadapter.h>

G_BEGIN_DECLS

#define ETP_TYPE_ECG_WINDOW (gst_ecg_window_get_type ())
G_DECLARE_FINAL_TYPE (GstEcgWindow, gst_ecg_window, GST, ECG_WINDOW,
    GstBaseTransform)

typedef enum {
  ETP_ECG_WINDOW_PAD_ZERO,
  ETP_ECG_WINDOW_PAD_DROP,
} EtpEcgWindowPad;

typedef enum {
  ETP_ECG_NORMALIZE_NONE,
  ETP_ECG_NORMALIZE_ZSCORE,
  ETP_ECG_NORMALIZE_MINMAX,
} EtpEcgNormalize;

typedef enum {
  ETP_ECG_WINDOW_MODE_AUTO,
  ETP_ECG_WINDOW_MODE_RECORD,
  ETP_ECG_WINDOW_MODE_STREAM,
} EtpEcgWindowMode;

struct _GstEcgWindow {
  GstBaseTransform parent;

  /* properties */
  gdouble duration, hop, offset, epsilon;
  EtpEcgWindowPad pad;
  guint max_windows;
  gboolean center;
  EtpEcgNormalize normalize;
  EtpEcgWindowMode mode;

  /* negotiated */
  gint rate;
  guint channels;

  /* windows waiting to be pushed */
  GQueue pending;

  /* continuous streams */
  GstAdapter *adapter;
  gboolean stream_started;
  guint64 adapter_pos;          /* stream position of the adapter's first frame */
  guint64 covered_end;          /* end of the last emitted window */
  guint64 skip;                 /* frames to discard (hop > duration) */
  guint64 stream_origin;        /* window_start of the stream's first frame */
  guint stream_index;
  GstClockTime stream_ts0;
  GstBuffer *stream_meta_buf;

  /* counters */
  guint64 n_records, n_windows, n_dropped, n_padded, n_gaps;
};

GST_ELEMENT_REGISTER_DECLARE (ecgwindow);

G_END_DECLS

#endif
