/* Butterworth / notch design and SOS filtering (see filter.h). */
#include "dsp/filter.h"
#include "util/etperror.h"

#include <complex.h>
#include <math.h>
#include <string.h>

EtpSos *
etp_sos_new (void)
{
  return g_new0 (EtpSos, 1);
}

void
etp_sos_free (EtpSos * sos)
{
  if (!sos)
    return;
  g_free (sos->sos);
  g_free (sos);
}

void
etp_sos_append (EtpSos * sos, const gdouble * sections, guint n)
{
  guint i, j;

  sos->sos = g_renew (gdouble, sos->sos, (sos->n_sections + n) * 6);
  for (i = 0; i < n; i++) {
    const gdouble *s = sections + i * 6;
    gdouble *d = sos->sos + (sos->n_sections + i) * 6;
    gdouble a0 = s[3] != 0.0 ? s[3] : 1.0;
    for (j = 0; j < 6; j++)
      d[j] = s[j] / a0;
  }
  sos->n_sections += n;
}

gboolean
etp_sos_add_butter (EtpSos * sos, guint order, gdouble cutoff_hz,
    gboolean highpass, gdouble fs, GError ** error)
{
  double complex p[16], pz[16];
  double wn, warped, k_gain;
  double complex prod_num = 1.0, prod_den = 1.0;
  guint i, n_pairs, used;
  gdouble *secs;
  gboolean *taken;

  if (order < 1 || order > 16) {
    g_set_error (error, ETP_ERROR, ETP_ERROR_INVALID,
        "Butterworth filter: order %u out of range 1..16", order);
    return FALSE;
  }
  if (!(fs > 0.0) || !(cutoff_hz > 0.0) || !(cutoff_hz < fs / 2.0)) {
    g_set_error (error, ETP_ERROR, ETP_ERROR_INVALID,
        "Butterworth %s-pass: cutoff %g Hz must lie in (0, %g) at %g Hz",
        highpass ? "high" : "low", cutoff_hz, fs / 2.0, fs);
    return FALSE;
  }
  /* buttap: poles -exp(i*pi*m/(2N)), m = -N+1, -N+3, ..., N-1. */
  for (i = 0; i < order; i++) {
    double m = -(double) order + 1.0 + 2.0 * i;
    p[i] = -cexp (I * G_PI * m / (2.0 * order));
  }
  /* Pre-warp with fs = 2 (normalised frequencies), as scipy does. */
  wn = 2.0 * cutoff_hz / fs;
  warped = 2.0 * 2.0 * tan (G_PI * wn / 2.0);
  if (!highpass) {
    /* lp2lp: p * wo, k * wo^N; zeros none -> bilinear puts N zeros at -1. */
    k_gain = pow (warped, order);
    for (i = 0; i < order; i++)
      p[i] *= warped;
  } else {
    /* lp2hp: p -> wo / p, N zeros at 0, k * real (1 / prod (-p)). */
    double complex prod = 1.0;
    for (i = 0; i < order; i++)
      prod *= -p[i];
    k_gain = creal (1.0 / prod);
    for (i = 0; i < order; i++)
      p[i] = warped / p[i];
  }
  /* bilinear (fs = 2 -> fs2 = 4). zeros: -1 (low-pass) or +1 (high-pass, from
   * s = 0). k *= real (prod (fs2 - z) / prod (fs2 - p)). */
  for (i = 0; i < order; i++) {
    pz[i] = (4.0 + p[i]) / (4.0 - p[i]);
    prod_den *= (4.0 - p[i]);
    if (highpass)
      prod_num *= 4.0;          /* z = 0 */
  }
  k_gain *= creal (prod_num / prod_den);

  /* Pair conjugate poles into sections; a real pole (odd order) gets a
   * first-order section [1, -z, 0] / [1, -p, 0]. */
  n_pairs = (order + 1) / 2;
  secs = g_new0 (gdouble, n_pairs * 6);
  taken = g_new0 (gboolean, order);
  used = 0;
  {
    double zr = highpass ? 1.0 : -1.0;
    guint s = 0;
    /* real pole first (if any) */
    if (order % 2 == 1) {
      guint best = 0;
      double bi = INFINITY;
      for (i = 0; i < order; i++)
        if (fabs (cimag (pz[i])) < bi) {
          bi = fabs (cimag (pz[i]));
          best = i;
        }
      taken[best] = TRUE;
      used++;
      secs[s * 6 + 0] = 1.0;
      secs[s * 6 + 1] = -zr;
      secs[s * 6 + 2] = 0.0;
      secs[s * 6 + 3] = 1.0;
      secs[s * 6 + 4] = -creal (pz[best]);
      secs[s * 6 + 5] = 0.0;
      s++;
    }
    while (used < order) {
      guint a = 0;
      double complex pa;
      for (i = 0; i < order; i++)
        if (!taken[i] && cimag (pz[i]) >= 0.0) {
          a = i;
          break;
        }
      taken[a] = TRUE;
      pa = pz[a];
      /* its conjugate */
      {
        guint bidx = a;
        double best = INFINITY;
        for (i = 0; i < order; i++)
          if (!taken[i] && cabs (pz[i] - conj (pa)) < best) {
            best = cabs (pz[i] - conj (pa));
            bidx = i;
          }
        taken[bidx] = TRUE;
      }
      used += 2;
      secs[s * 6 + 0] = 1.0;
      secs[s * 6 + 1] = -2.0 * zr;
      secs[s * 6 + 2] = 1.0;
      secs[s * 6 + 3] = 1.0;
      secs[s * 6 + 4] = -2.0 * creal (pa);
      secs[s * 6 + 5] = creal (pa) * creal (pa) + cimag (pa) * cimag (pa);
      s++;
    }
  }
  /* gain into the first section */
  secs[0] *= k_gain;
  secs[1] *= k_gain;
  secs[2] *= k_gain;
  etp_sos_append (sos, secs, n_pairs);
  g_free (secs);
  g_free (taken);
  return TRUE;
}

gboolean
etp_sos_add_notch (EtpSos * sos, gdouble f0, gdouble q, gdouble fs,
    GError ** error)
{
  double w0, bw, beta, gain, s[6];

  if (!(fs > 0.0) || !(f0 > 0.0) || !(f0 < fs / 2.0) || !(q > 0.0)) {
    g_set_error (error, ETP_ERROR, ETP_ERROR_INVALID,
        "notch filter: frequency %g Hz must lie in (0, %g) at %g Hz and "
        "Q (%g) must be positive", f0, fs / 2.0, fs, q);
    return FALSE;
  }
  /* scipy.signal.iirnotch */
  w0 = 2.0 * f0 / fs;
  bw = w0 / q * G_PI;
  w0 *= G_PI;
  beta = tan (bw / 2.0);
  gain = 1.0 / (1.0 + beta);
  s[0] = gain;
  s[1] = -2.0 * gain * cos (w0);
  s[2] = gain;
  s[3] = 1.0;
  s[4] = -2.0 * gain * cos (w0);
  s[5] = 2.0 * gain - 1.0;
  etp_sos_append (sos, s, 1);
  return TRUE;
}

void
etp_sos_zi (const EtpSos * sos, gdouble * zi)
{
  double scale = 1.0;
  guint s;

  for (s = 0; s < sos->n_sections; s++) {
    const gdouble *c = sos->sos + s * 6;
    double b0 = c[0], b1 = c[1], b2 = c[2], a1 = c[4], a2 = c[5];
    /* lfilter_zi for a second-order section (a0 = 1). */
    double B0 = b1 - a1 * b0, B1 = b2 - a2 * b0;
    double z0 = (B0 + B1) / (1.0 + a1 + a2);
    double z1 = B1 - a2 * z0;
    zi[s * 2] = scale * z0;
    zi[s * 2 + 1] = scale * z1;
    scale *= (b0 + b1 + b2) / (1.0 + a1 + a2);
  }
}

gsize
etp_sos_padlen (const EtpSos * sos)
{
  guint s, zb = 0, za = 0;
  gsize ntaps = 2 * sos->n_sections + 1;

  for (s = 0; s < sos->n_sections; s++) {
    if (sos->sos[s * 6 + 2] == 0.0)
      zb++;
    if (sos->sos[s * 6 + 5] == 0.0)
      za++;
  }
  ntaps -= MIN (zb, za);
  return ntaps * 3;
}

/* Direct form II transposed over one contiguous double signal. */
static void
sosfilt_d (const EtpSos * sos, double *x, gsize n, double *z)
{
  guint s;
  gsize i;

  for (s = 0; s < sos->n_sections; s++) {
    const gdouble *c = sos->sos + s * 6;
    double b0 = c[0], b1 = c[1], b2 = c[2], a1 = c[4], a2 = c[5];
    double z0 = z[s * 2], z1 = z[s * 2 + 1];
    for (i = 0; i < n; i++) {
      double xi = x[i];
      double y = b0 * xi + z0;
      z0 = b1 * xi - a1 * y + z1;
      z1 = b2 * xi - a2 * y;
      x[i] = y;
    }
    z[s * 2] = z0;
    z[s * 2 + 1] = z1;
  }
}

gboolean
etp_sosfiltfilt (const EtpSos * sos, const gfloat * in, gsize n,
    guint channels, gfloat * out, GError ** error)
{
  gsize edge, len, i;
  guint c, s, ns = sos->n_sections;
  double *ext, *zi, *z;

  if (ns == 0) {
    if (out != in)
      memmove (out, in, n * channels * sizeof (gfloat));
    return TRUE;
  }
  if (n < 2) {
    g_set_error (error, ETP_ERROR, ETP_ERROR_INVALID,
        "zero-phase filter: need at least 2 samples, got %" G_GSIZE_FORMAT, n);
    return FALSE;
  }
  edge = MIN (etp_sos_padlen (sos), n - 1);
  len = n + 2 * edge;
  ext = g_new (double, len);
  zi = g_new (double, ns * 2);
  z = g_new (double, ns * 2);
  etp_sos_zi (sos, zi);

  for (c = 0; c < channels; c++) {
    double x0 = in[c], xn = in[(n - 1) * channels + c], y0;
    /* odd extension */
    for (i = 0; i < edge; i++)
      ext[i] = 2.0 * x0 - in[(edge - i) * channels + c];
    for (i = 0; i < n; i++)
      ext[edge + i] = in[i * channels + c];
    for (i = 0; i < edge; i++)
      ext[edge + n + i] = 2.0 * xn - in[(n - 2 - i) * channels + c];
    /* forward */
    for (s = 0; s < ns * 2; s++)
      z[s] = zi[s] * ext[0];
    sosfilt_d (sos, ext, len, z);
    /* backward */
    y0 = ext[len - 1];
    for (i = 0; i < len / 2; i++) {
      double t = ext[i];
      ext[i] = ext[len - 1 - i];
      ext[len - 1 - i] = t;
    }
    for (s = 0; s < ns * 2; s++)
      z[s] = zi[s] * y0;
    sosfilt_d (sos, ext, len, z);
    /* reversed back: out[i] = ext[len - 1 - (edge + i)] */
    for (i = 0; i < n; i++)
      out[i * channels + c] = (gfloat) ext[len - 1 - edge - i];
  }
  g_free (ext);
  g_free (zi);
  g_free (z);
  return TRUE;
}

struct _EtpSosStream {
  EtpSos sos;
  guint channels;
  gdouble *zi;                  /* ns x 2 */
  gdouble *z;                   /* channels x ns x 2 */
  gboolean started;
};

EtpSosStream *
etp_sos_stream_new (const EtpSos * sos, guint channels)
{
  EtpSosStream *st = g_new0 (EtpSosStream, 1);
  guint ns = sos->n_sections;

  st->sos.n_sections = ns;
  st->sos.sos = g_memdup2 (sos->sos, MAX (ns, 1) * 6 * sizeof (gdouble));
  st->channels = channels;
  st->zi = g_new0 (gdouble, MAX (ns, 1) * 2);
  st->z = g_new0 (gdouble, MAX (ns, 1) * 2 * channels);
  if (ns)
    etp_sos_zi (sos, st->zi);
  return st;
}

void
etp_sos_stream_free (EtpSosStream * st)
{
  if (!st)
    return;
  g_free (st->sos.sos);
  g_free (st->zi);
  g_free (st->z);
  g_free (st);
}

void
etp_sos_stream_reset (EtpSosStream * st)
{
  st->started = FALSE;
}

void
etp_sos_stream_process (EtpSosStream * st, const gfloat * in, gsize n,
    gfloat * out)
{
  guint C = st->channels, ns = st->sos.n_sections, c, s;
  gsize i;

  if (ns == 0 || n == 0) {
    if (out != in)
      memmove (out, in, n * C * sizeof (gfloat));
    return;
  }
  if (!st->started) {
    for (c = 0; c < C; c++)
      for (s = 0; s < ns * 2; s++)
        st->z[c * ns * 2 + s] = st->zi[s] * in[c];
    st->started = TRUE;
  }
  /* section-major per frame so the state stays exact across any chunking */
  for (i = 0; i < n; i++) {
    for (c = 0; c < C; c++) {
      double v = in[i * C + c];
      double *z = st->z + c * ns * 2;
      for (s = 0; s < ns; s++) {
        const gdouble *k = st->sos.sos + s * 6;
        double y = k[0] * v + z[s * 2];
        z[s * 2] = k[1] * v - k[4] * y + z[s * 2 + 1];
        z[s * 2 + 1] = k[2] * v - k[5] * y;
        v = y;
      }
      out[i * C + c] = (gfloat) v;
    }
  }
}
