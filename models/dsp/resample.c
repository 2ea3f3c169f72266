/* FFT and polyphase resampling (see resample.h). */
#include "dsp/resample.h"
#include "util/etperror.h"

#include <fftw3.h>
#include <math.h>
#include <string.h>

/* The FFTW planner is not thread-safe: serialise plan creation/destruction. */
static GMutex fftw_planner_lock;

static guint
gcd_u (guint a, guint b)
{
  while (b) {
    guint t = a % b;
    a = b;
    b = t;
  }
  return a;
}

void
etp_resample_ratio (guint rate_in, guint rate_out, guint * up, guint * down)
{
  guint g;

  if (rate_in == 0 || rate_out == 0) {
    *up = *down = 1;
    return;
  }
  g = gcd_u (rate_in, rate_out);
  *up = rate_out / g;
  *down = rate_in / g;
}

gsize
etp_resample_out_len (gsize n_in, guint up, guint down)
{
  guint64 t = (guint64) n_in * up;
  return (gsize) (t / down + (t % down ? 1 : 0));
}

/* ------------------------------------------------------------------------ */
/* FFT                                                                       */

/* Plans are process-wide (FFTW planning costs milliseconds, records of a
 * dataset share a few lengths): created once per (n_in, n_out, channels) under
 * the planner lock and kept until exit; they run with FFTW's new-array execute
 * functions on each resampler's own buffers, which is thread-safe. */
#define FFT_CACHE_MAX 512

typedef struct {
  fftwf_plan fwd, inv;
} FftPlan;

static GHashTable *fft_plans;   /* "nin:nout:ch" -> FftPlan */

struct _EtpFftResampler {
  float *xin, *yout;           /* channel-major signals */
  fftwf_complex *xspec, *yspec;  /* channel-major spectra */
  gsize cap_xin, cap_yout, cap_xspec, cap_yspec;
};

EtpFftResampler *
etp_fft_resampler_new (void)
{
  return g_new0 (EtpFftResampler, 1);
}

void
etp_fft_resampler_free (EtpFftResampler * r)
{
  if (!r)
    return;
  fftwf_free (r->xin);
  fftwf_free (r->yout);
  fftwf_free (r->xspec);
  fftwf_free (r->yspec);
  g_free (r);
}

static gboolean
ensure_real (float **p, gsize * cap, gsize n)
{
  if (*cap >= n)
    return TRUE;
  fftwf_free (*p);
  *p = fftwf_alloc_real (n);
  *cap = *p ? n : 0;
  return *p != NULL;
}

static gboolean
ensure_complex (fftwf_complex ** p, gsize * cap, gsize n)
{
  if (*cap >= n)
    return TRUE;
  fftwf_free (*p);
  *p = fftwf_alloc_complex (n);
  *cap = *p ? n : 0;
  return *p != NULL;
}

/* Returns the cached plans, or fills @tmp with plans the caller must destroy
 * (cache full); NULL on failure. Buffers of @r are the planning arrays. */
static const FftPlan *
fft_plan_get (EtpFftResampler * r, gsize n_in, gsize n_out, guint channels,
    FftPlan * tmp)
{
  gchar key[96];
  FftPlan *p;
  int nin = (int) n_in, nout = (int) n_out;
  int bins_in = nin / 2 + 1, bins_out = nout / 2 + 1;

  g_snprintf (key, sizeof key, "%" G_GSIZE_FORMAT ":%" G_GSIZE_FORMAT ":%u",
      n_in, n_out, channels);
  g_mutex_lock (&fftw_planner_lock);
  if (!fft_plans)
    fft_plans = g_hash_table_new (g_str_hash, g_str_equal);
  p = g_hash_table_lookup (fft_plans, key);
  if (!p) {
    FftPlan pl;
    pl.fwd = fftwf_plan_many_dft_r2c (1, &nin, (int) channels, r->xin, NULL,
        1, nin, r->xspec, NULL, 1, bins_in, FFTW_ESTIMATE);
    pl.inv = fftwf_plan_many_dft_c2r (1, &nout, (int) channels, r->yspec, NULL,
        1, bins_out, r->yout, NULL, 1, nout, FFTW_ESTIMATE);
    if (!pl.fwd || !pl.inv) {
      if (pl.fwd)
        fftwf_destroy_plan (pl.fwd);
      if (pl.inv)
        fftwf_destroy_plan (pl.inv);
    } else if (g_hash_table_size (fft_plans) < FFT_CACHE_MAX) {
      p = g_new (FftPlan, 1);
      *p = pl;
      g_hash_table_insert (fft_plans, g_strdup (key), p);
    } else {
      *tmp = pl;
      p = tmp;
    }
  }
  g_mutex_unlock (&fftw_planner_lock);
  return p;
}

gboolean
etp_fft_resample (EtpFftResampler * r, const gfloat * in, gsize n_in,
    guint channels, gfloat * out, gsize n_out, GError ** error)
{
  const FftPlan *p;
  FftPlan tmp = { NULL, NULL };
  gsize i, k, bins_in, bins_out, n, nyq;
  guint c;
  double scale;

  g_return_val_if_fail (r != NULL, FALSE);
  if (n_in == 0 || n_out == 0 || channels == 0 || n_in > G_MAXINT / 2
      || n_out > G_MAXINT / 2) {
    g_set_error (error, ETP_ERROR, ETP_ERROR_INVALID,
        "FFT resample: bad sizes (%" G_GSIZE_FORMAT " -> %" G_GSIZE_FORMAT
        " frames, %u channels)", n_in, n_out, channels);
    return FALSE;
  }
  if (n_in == n_out) {
    memcpy (out, in, n_in * channels * sizeof (gfloat));
    return TRUE;
  }
  bins_in = n_in / 2 + 1;
  bins_out = n_out / 2 + 1;
  if (!ensure_real (&r->xin, &r->cap_xin, n_in * channels)
      || !ensure_real (&r->yout, &r->cap_yout, n_out * channels)
      || !ensure_complex (&r->xspec, &r->cap_xspec, bins_in * channels)
      || !ensure_complex (&r->yspec, &r->cap_yspec, bins_out * channels)) {
    g_set_error (error, ETP_ERROR, ETP_ERROR_INVALID,
        "FFT resample: cannot allocate buffers for %" G_GSIZE_FORMAT " -> %"
        G_GSIZE_FORMAT " frames x %u channels", n_in, n_out, channels);
    return FALSE;
  }
  p = fft_plan_get (r, n_in, n_out, channels, &tmp);
  if (!p) {
    g_set_error (error, ETP_ERROR, ETP_ERROR_INVALID,
        "FFT resample: FFTW could not plan %" G_GSIZE_FORMAT " -> %"
        G_GSIZE_FORMAT " frames", n_in, n_out);
    return FALSE;
  }

  for (i = 0; i < n_in; i++)
    for (c = 0; c < channels; c++)
      r->xin[c * n_in + i] = in[i * channels + c];
  fftwf_execute_dft_r2c (p->fwd, r->xin, r->xspec);

  n = MIN (n_in, n_out);
  nyq = n / 2 + 1;
  for (c = 0; c < channels; c++) {
    fftwf_complex *X = r->xspec + c * bins_in;
    fftwf_complex *Y = r->yspec + c * bins_out;

    for (k = 0; k < nyq; k++) {
      Y[k][0] = X[k][0];
      Y[k][1] = X[k][1];
    }
    for (; k < bins_out; k++)
      Y[k][0] = Y[k][1] = 0.0;
    /* Nyquist bin of the shorter length: split (up) or joined (down), as
     * scipy.signal.resample does for real input. */
    if (n % 2 == 0) {
      double f = n_out < n_in ? 2.0 : 0.5;
      Y[n / 2][0] *= f;
      Y[n / 2][1] *= f;
    }
    /* irfft uses only the real part of DC and (even length) Nyquist. */
    Y[0][1] = 0.0;
    if (n_out % 2 == 0)
      Y[n_out / 2][1] = 0.0;
  }
  fftwf_execute_dft_c2r (p->inv, r->yspec, r->yout);
  if (p == &tmp) {
    g_mutex_lock (&fftw_planner_lock);
    fftwf_destroy_plan (tmp.fwd);
    fftwf_destroy_plan (tmp.inv);
    g_mutex_unlock (&fftw_planner_lock);
  }

  scale = 1.0 / (double) n_in;
  for (i = 0; i < n_out; i++)
    for (c = 0; c < channels; c++)
      out[i * channels + c] = (gfloat) (r->yout[c * n_out + i] * scale);
  return TRUE;
}

/* ------------------------------------------------------------------------ */
/* polyphase                                                                 */

struct _EtpPolyphase {
  guint up, down, channels;
  guint half_len;
  guint n_taps;
  gdouble *h;                   /* n_taps, multiplied by up */
  gfloat **phase_taps;          /* up arrays */
  guint *phase_n;               /* taps per phase */
  guint max_phase_n;

  gfloat *hist;                 /* hist_cap frames */
  gsize hist_cap, hist_len;
  gint64 hist_first;            /* absolute input index of hist[0] */
  guint64 n_seen;               /* input frames received */
  guint64 k_next;               /* next output frame */
};

/* Modified Bessel function of the first kind, order 0 (power series). */
static double
bessel_i0 (double x)
{
  double sum = 1.0, term = 1.0, q = x * x / 4.0;
  int k;

  for (k = 1; k < 500; k++) {
    term *= q / ((double) k * (double) k);
    sum += term;
    if (term < sum * 1e-17)
      break;
  }
  return sum;
}

static void
hist_reset (EtpPolyphase * p)
{
  /* Zeros before the first sample (resample_poly pads with zeros). */
  p->hist_len = p->max_phase_n;
  memset (p->hist, 0, p->hist_len * p->channels * sizeof (gfloat));
  p->hist_first = -(gint64) p->max_phase_n;
  p->n_seen = 0;
  p->k_next = 0;
}

EtpPolyphase *
etp_polyphase_new (guint up, guint down, guint channels, GError ** error)
{
  EtpPolyphase *p;
  guint g, max_rate, i, ph;
  double cutoff, alpha, beta = 5.0, i0b, sum = 0.0;

  if (up == 0 || down == 0 || channels == 0 || up > 10000 || down > 10000) {
    g_set_error (error, ETP_ERROR, ETP_ERROR_INVALID,
        "polyphase resample: unsupported ratio %u/%u with %u channels "
        "(1..10000 after reduction)", up, down, channels);
    return NULL;
  }
  g = gcd_u (up, down);
  up /= g;
  down /= g;

  p = g_new0 (EtpPolyphase, 1);
  p->up = up;
  p->down = down;
  p->channels = channels;
  max_rate = MAX (up, down);
  p->half_len = 10 * max_rate;
  p->n_taps = 2 * p->half_len + 1;
  p->h = g_new (gdouble, p->n_taps);

  /* firwin (2*half_len+1, 1/max_rate, window=('kaiser', 5.0)), DC gain 1. */
  cutoff = 1.0 / (double) max_rate;
  alpha = (double) p->half_len;
  i0b = bessel_i0 (beta);
  for (i = 0; i < p->n_taps; i++) {
    double m = (double) i - alpha;
    double x = cutoff * m;
    double s = (x == 0.0) ? 1.0 : sin (G_PI * x) / (G_PI * x);
    double r = m / alpha;
    double w = bessel_i0 (beta * sqrt (MAX (0.0, 1.0 - r * r))) / i0b;
    p->h[i] = cutoff * s * w;
    sum += p->h[i];
  }
  for (i = 0; i < p->n_taps; i++)
    p->h[i] = p->h[i] / sum * (double) up;

  /* Phase ph uses taps ph, ph+up, ph+2up, ... */
  p->phase_taps = g_new0 (gfloat *, up);
  p->phase_n = g_new0 (guint, up);
  for (ph = 0; ph < up; ph++) {
    guint n = ph < p->n_taps ? (p->n_taps - ph + up - 1) / up : 0;
    p->phase_n[ph] = n;
    p->phase_taps[ph] = g_new (gfloat, MAX (n, 1));
    for (i = 0; i < n; i++)
      p->phase_taps[ph][i] = (gfloat) p->h[ph + i * up];
    p->max_phase_n = MAX (p->max_phase_n, n);
  }
  p->hist_cap = p->max_phase_n * 2 + 1024;
  p->hist = g_new (gfloat, p->hist_cap * channels);
  hist_reset (p);
  return p;
}

void
etp_polyphase_free (EtpPolyphase * p)
{
  guint ph;

  if (!p)
    return;
  for (ph = 0; ph < p->up; ph++)
    g_free (p->phase_taps[ph]);
  g_free (p->phase_taps);
  g_free (p->phase_n);
  g_free (p->h);
  g_free (p->hist);
  g_free (p);
}

void
etp_polyphase_reset (EtpPolyphase * p)
{
  hist_reset (p);
}

guint
etp_polyphase_delay (const EtpPolyphase * p)
{
  return (p->half_len + p->up - 1) / p->up;
}

const gdouble *
etp_polyphase_taps (const EtpPolyphase * p, guint * n_taps)
{
  *n_taps = p->n_taps;
  return p->h;
}

gsize
etp_polyphase_max_output (const EtpPolyphase * p, gsize n_in)
{
  return etp_resample_out_len (p->n_seen + n_in, p->up, p->down) - p->k_next;
}

gsize
etp_polyphase_pending (const EtpPolyphase * p)
{
  return etp_resample_out_len (p->n_seen, p->up, p->down) - p->k_next;
}

static void
hist_append (EtpPolyphase * p, const gfloat * in, gsize n)
{
  guint C = p->channels;

  if (p->hist_len + n > p->hist_cap) {
    p->hist_cap = MAX (p->hist_cap * 2, p->hist_len + n);
    p->hist = g_renew (gfloat, p->hist, p->hist_cap * C);
  }
  if (in)
    memcpy (p->hist + p->hist_len * C, in, n * C * sizeof (gfloat));
  else
    memset (p->hist + p->hist_len * C, 0, n * C * sizeof (gfloat));
  p->hist_len += n;
}

/* Writes outputs k_next.. while their input is available and k < k_end. */
static gsize
run_outputs (EtpPolyphase * p, guint64 k_end, gfloat * out)
{
  guint C = p->channels;
  gsize written = 0;
  gint64 avail_end = p->hist_first + (gint64) p->hist_len;
  gfloat acc[64];
  gfloat *accp = C <= 64 ? acc : g_new (gfloat, C);

  while (p->k_next < k_end) {
    guint64 base = p->k_next * p->down + p->half_len;
    gint64 m_hi = (gint64) (base / p->up);
    guint ph = (guint) (base - (guint64) m_hi * p->up);
    const gfloat *taps = p->phase_taps[ph];
    guint nt = p->phase_n[ph], j, c;
    const gfloat *x;
    gfloat *y = out + written * C;

    if (m_hi >= avail_end)
      break;
    /* x points at input m_hi; taps walk backwards in time. */
    x = p->hist + (gsize) (m_hi - p->hist_first) * C;
    c = 0;
    /* blocks of 8 leads with a fixed trip count (vectorised), then the rest */
    for (; c + 8 <= C; c += 8) {
      gfloat a[8] = { 0 };
      guint q;
      for (j = 0; j < nt; j++) {
        const gfloat t = taps[j];
        const gfloat *xj = x - (gsize) j * C + c;
        for (q = 0; q < 8; q++)
          a[q] += t * xj[q];
      }
      for (q = 0; q < 8; q++)
        y[c + q] = a[q];
    }
    if (c < C) {
      guint c0 = c;
      for (c = c0; c < C; c++)
        accp[c] = 0.0f;
      for (j = 0; j < nt; j++) {
        const gfloat t = taps[j];
        const gfloat *xj = x - (gsize) j * C;
        for (c = c0; c < C; c++)
          accp[c] += t * xj[c];
      }
      for (c = c0; c < C; c++)
        y[c] = accp[c];
    }
    written++;
    p->k_next++;
  }
  if (accp != acc)
    g_free (accp);

  /* Drop history no future output needs. */
  {
    guint64 base = p->k_next * p->down + p->half_len;
    gint64 keep_from = (gint64) (base / p->up) - (gint64) p->max_phase_n;
    if (keep_from > p->hist_first) {
      gsize drop = (gsize) MIN (keep_from - p->hist_first,
          (gint64) p->hist_len);
      memmove (p->hist, p->hist + drop * C,
          (p->hist_len - drop) * C * sizeof (gfloat));
      p->hist_len -= drop;
      p->hist_first += drop;
    }
  }
  return written;
}

gsize
etp_polyphase_process (EtpPolyphase * p, const gfloat * in, gsize n_in,
    gfloat * out)
{
  gsize total = 0;
  /* Feed in slices so the history stays small. */
  while (n_in > 0) {
    gsize n = MIN (n_in, (gsize) 4096);
    hist_append (p, in, n);
    p->n_seen += n;
    total += run_outputs (p, G_MAXUINT64, out + total * p->channels);
    in += n * p->channels;
    n_in -= n;
  }
  return total;
}

gsize
etp_polyphase_drain (EtpPolyphase * p, gfloat * out)
{
  guint64 k_end = etp_resample_out_len (p->n_seen, p->up, p->down);
  gsize n;

  hist_append (p, NULL, p->half_len / p->up + p->max_phase_n + 2);
  n = run_outputs (p, k_end, out);
  hist_reset (p);
  return n;
}

gboolean
etp_resample_poly (const gfloat * in, gsize n_in, guint channels, guint up,
    guint down, gfloat * out, GError ** error)
{
  EtpPolyphase *p = etp_polyphase_new (up, down, channels, error);
  gsize n;

  if (!p)
    return FALSE;
  n = etp_polyphase_process (p, in, n_in, out);
  etp_polyphase_drain (p, out + n * channels);
  etp_polyphase_free (p);
  return TRUE;
}
