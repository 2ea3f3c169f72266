/* ecgresample: rate conversion (FFT for whole records, polyphase for
 * streams) and filtering (high-pass, low-pass, notch; zero-phase on records,
 * causal on streams) of interleaved F32LE ECG. See docs/elements/ecgresample.md. */
#ifndef ETP_ECG_RESAMPLE_H
#define ETP_ECG_RESAMPLE_H

#include <gst/gst.h>
#include <gst/base/gstbasetransform.h>
#include <gst/audio/audio.h>

#include "dsp/resample.h"
#include "dsp/filter.h"

G_BEGIN_DECLS

#define ETP_TYPE_ECG_RESAMPLE (gst_ecg_resample_get_type ())
G_DECLARE_FINAL_TYPE (GstEcgResample, gst_ecg_resample, GST, ECG_RESAMPLE,
    GstBaseTransform)

typedef enum {
  ETP_ECG_RESAMPLE_MODE_AUTO,
  ETP_ECG_RESAMPLE_MODE_FFT,
  ETP_ECG_RESAMPLE_MODE_POLYPHASE,
} EtpEcgResampleMode;

typedef enum {
  ETP_ECG_RESAMPLE_NOTCH_OFF = 0,
  ETP_ECG_RESAMPLE_NOTCH_50 = 50,
  ETP_ECG_RESAMPLE_NOTCH_60 = 60,
} EtpEcgResampleNotch;

typedef enum {
  ETP_ECG_ZERO_PHASE_AUTO,
  ETP_ECG_ZERO_PHASE_TRUE,
  ETP_ECG_ZERO_PHASE_FALSE,
} EtpEcgZeroPhase;

struct _GstEcgResample {
  GstBaseTransform parent;

  /* properties */
  guint rate;
  EtpEcgResampleMode mode;
  gdouble highpass, lowpass;
  EtpEcgResampleNotch notch;
  gdouble notch_q;
  guint filter_order;
  EtpEcgZeroPhase zero_phase;

  /* negotiated */
  gint rate_in, rate_out;
  guint channels, up, down;
  EtpSos *sos;                  /* NULL: no filtering */
  EtpSosStream *sos_stream;
  EtpFftResampler *fft;
  EtpPolyphase *poly;

  /* continuous-stream timing */
  gboolean stream_started;
  GstClockTime stream_ts0;
  guint64 stream_out_frames;
  GstBuffer *stream_meta_buf;   /* last stream input, for the drain's meta */
  guint64 n_records, n_stream_buffers;
};

GST_ELEMENT_REGISTER_DECLARE (ecgresample);

G_END_DECLS

#endif
