/* Rate conversion of interleaved float32 multi-channel signals.
 *
 * - FFT resampling of a whole record, equivalent to scipy.signal.resample
 *   (double-precision FFTW plans, cached per length).
 * - Polyphase resampling for streams, equivalent to scipy.signal.resample_poly
 *   (Kaiser-windowed sinc, beta 5, half length 10 * max(up, down), zero padding
 *   outside the signal), with state carried across chunks: feeding a signal in
 *   any chunking and then draining gives exactly the one-shot output. */
#ifndef ETP_DSP_RESAMPLE_H
#define ETP_DSP_RESAMPLE_H

#include <glib.h>

G_BEGIN_DECLS

/* Reduces rate_out / rate_in to up / down (gcd removed). */
void etp_resample_ratio (guint rate_in, guint rate_out, guint * up,
    guint * down);

/* Output length for n_in input frames: ceil (n_in * up / down), the length
 * scipy.signal.resample_poly produces (used for both methods). */
gsize etp_resample_out_len (gsize n_in, guint up, guint down);

/* ---- FFT (whole records) ------------------------------------------------ */

typedef struct _EtpFftResampler EtpFftResampler;

EtpFftResampler *etp_fft_resampler_new (void);
void etp_fft_resampler_free (EtpFftResampler * r);

/* Resamples @n_in frames of @channels interleaved channels to @n_out frames
 * (scipy.signal.resample (x, n_out, axis=0) on each channel).  @out may not
 * alias @in.  Plans for (n_in, n_out, channels) are created on first use and
 * cached inside @r (@r is not thread-safe; use one per thread). */
gboolean etp_fft_resample (EtpFftResampler * r, const gfloat * in, gsize n_in,
    guint channels, gfloat * out, gsize n_out, GError ** error);

/* ---- polyphase (streams) ------------------------------------------------- */

typedef struct _EtpPolyphase EtpPolyphase;

EtpPolyphase *etp_polyphase_new (guint up, guint down, guint channels,
    GError ** error);
void etp_polyphase_free (EtpPolyphase * p);

/* Forgets all input: the next sample is the first of a new signal. */
void etp_polyphase_reset (EtpPolyphase * p);

/* Upper bound of the frames etp_polyphase_process() writes for @n_in more
 * input frames. */
gsize etp_polyphase_max_output (const EtpPolyphase * p, gsize n_in);

/* Consumes @n_in frames and writes the output frames that are complete
 * (returns their count).  Output frame k is centred on input time k/out_rate. */
gsize etp_polyphase_process (EtpPolyphase * p, const gfloat * in, gsize n_in,
    gfloat * out);

/* Frames that etp_polyphase_drain() will write. */
gsize etp_polyphase_pending (const EtpPolyphase * p);

/* End of signal: writes the remaining output frames (the signal is taken as
 * zero after its end, as resample_poly does) and resets the state. */
gsize etp_polyphase_drain (EtpPolyphase * p, gfloat * out);

/* Input frames of look-ahead the filter needs (the stream delay). */
guint etp_polyphase_delay (const EtpPolyphase * p);

/* Filter taps (already multiplied by up), length *n_taps. */
const gdouble *etp_polyphase_taps (const EtpPolyphase * p, guint * n_taps);

/* One-shot helper: @out must hold etp_resample_out_len (n_in, up, down)
 * frames. */
gboolean etp_resample_poly (const gfloat * in, gsize n_in, guint channels,
    guint up, guint down, gfloat * out, GError ** error);

G_END_DECLS

#endif
