/* IIR filters as cascades of second-order sections (SOS), designed and run
 * like scipy.signal:
 * - etp_sos_add_butter(): butter (order, cutoff, btype, output='sos', fs=fs)
 * - etp_sos_add_notch(): iirnotch (f0, Q, fs) as one section
 * - etp_sosfiltfilt(): sosfiltfilt (sos, x, axis=0) — odd extension of padlen
 *   = 3 * (2 * n_sections + 1 - trailing-zero sections), sosfilt_zi initial
 *   conditions, forward then backward pass (zero phase)
 * - EtpSosStream: causal sosfilt with the state carried across chunks; the
 *   first sample of a stream initialises the state to the steady state for that
 *   value (sosfilt (sos, x, zi=sosfilt_zi (sos) * x[0])).
 * Coefficients and states are double precision; samples are interleaved
 * float32 frames. */
#ifndef ETP_DSP_FILTER_H
#define ETP_DSP_FILTER_H

#include <glib.h>

G_BEGIN_DECLS

typedef struct {
  guint n_sections;
  gdouble *sos;                 /* n_sections x 6: b0 b1 b2 a0(=1) a1 a2 */
} EtpSos;

EtpSos *etp_sos_new (void);
void etp_sos_free (EtpSos * sos);

/* Appends a Butterworth low-pass (@highpass FALSE) or high-pass filter of
 * @order (1..16), cutoff @cutoff_hz (0 < cutoff < fs/2), at rate @fs. */
gboolean etp_sos_add_butter (EtpSos * sos, guint order, gdouble cutoff_hz,
    gboolean highpass, gdouble fs, GError ** error);

/* Appends a second-order IIR notch at @f0 Hz with quality factor @q. */
gboolean etp_sos_add_notch (EtpSos * sos, gdouble f0, gdouble q, gdouble fs,
    GError ** error);

/* Appends raw sections (n x 6, a0 normalised to 1 here). */
void etp_sos_append (EtpSos * sos, const gdouble * sections, guint n);

/* sosfilt_zi: steady-state states (n_sections x 2) for a unit step. */
void etp_sos_zi (const EtpSos * sos, gdouble * zi);

/* The pad length sosfiltfilt uses by default. */
gsize etp_sos_padlen (const EtpSos * sos);

/* Zero-phase filtering of @n frames; @out may equal @in.  When @n <= padlen
 * the pad is shortened to n - 1 (scipy raises instead). */
gboolean etp_sosfiltfilt (const EtpSos * sos, const gfloat * in, gsize n,
    guint channels, gfloat * out, GError ** error);

typedef struct _EtpSosStream EtpSosStream;

EtpSosStream *etp_sos_stream_new (const EtpSos * sos, guint channels);
void etp_sos_stream_free (EtpSosStream * st);
/* The next sample starts a new stream (state from its value). */
void etp_sos_stream_reset (EtpSosStream * st);
/* Causal filtering of @n frames, state carried over; @out may equal @in. */
void etp_sos_stream_process (EtpSosStream * st, const gfloat * in, gsize n,
    gfloat * out);

G_END_DECLS

#endif
