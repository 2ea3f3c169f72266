/* models/dsp against scipy golden files (made by make_golden.py):
 * FFT resampling (scipy.signal.resample, 1e-5 relative to the peak),
 * polyphase (resample_poly, 1e-5 relative to the peak; chunked == one-shot
 * exactly), Butterworth / notch design (frequency response within 1e-6),
 * sosfiltfilt and causal sosfilt (1e-5 relative; chunked == one-shot). */
#include <glib.h>
#include <math.h>
#include <string.h>
#include <complex.h>

#include "dsp/resample.h"
#include "dsp/filter.h"
#include "util/etperror.h"

static gchar *golden_dir;

static gfloat *
load (const gchar * name, gsize expect)
{
  gchar *path = g_strdup_printf ("%s/%s.bin", golden_dir, name);
  gchar *data = NULL;
  gsize len = 0;
  GError *err = NULL;

  if (!g_file_get_contents (path, &data, &len, &err))
    g_error ("golden file %s: %s", path, err->message);
  if (expect && len != expect * sizeof (gfloat))
    g_error ("golden file %s: %" G_GSIZE_FORMAT " bytes, expected %"
        G_GSIZE_FORMAT, path, len, expect * sizeof (gfloat));
  g_free (path);
  return (gfloat *) data;
}

/* max |a - ref| / max |ref| */
static double
rel_err (const gfloat * a, const gfloat * ref, gsize n)
{
  double emax = 0.0, rmax = 0.0;
  gsize i;

  for (i = 0; i < n; i++) {
    emax = MAX (emax, fabs ((double) a[i] - ref[i]));
    rmax = MAX (rmax, fabs ((double) ref[i]));
  }
  return rmax > 0 ? emax / rmax : emax;
}

static void
test_fft_resample (void)
{
  static const guint cases[][3] = { {1000, 200, 3}, {999, 250, 3},
  {250, 1000, 2}, {501, 1002, 2}, {100, 37, 1}, {37, 100, 1}, {64, 48, 2},
  {48, 64, 2}, {1000, 360, 3}, {500, 100, 12}
  };
  EtpFftResampler *r = etp_fft_resampler_new ();
  guint i, pass;

  for (pass = 0; pass < 2; pass++) {    /* second pass uses cached plans */
    for (i = 0; i < G_N_ELEMENTS (cases); i++) {
      guint nin = cases[i][0], nout = cases[i][1], ch = cases[i][2];
      gchar *n1 = g_strdup_printf ("fft_in_%u_%u_%u", nin, nout, ch);
      gchar *n2 = g_strdup_printf ("fft_out_%u_%u_%u", nin, nout, ch);
      gfloat *x = load (n1, nin * ch), *ref = load (n2, nout * ch);
      gfloat *y = g_new (gfloat, nout * ch);
      GError *err = NULL;
      double e;

      g_assert_true (etp_fft_resample (r, x, nin, ch, y, nout, &err));
      g_assert_no_error (err);
      e = rel_err (y, ref, nout * ch);
      g_test_message ("fft %u -> %u x %u: rel err %.3g", nin, nout, ch, e);
      g_assert_cmpfloat (e, <, 1e-5);
      g_free (x);
      g_free (ref);
      g_free (y);
      g_free (n1);
      g_free (n2);
    }
  }
  etp_fft_resampler_free (r);
}

static void
test_fft_bad_args (void)
{
  EtpFftResampler *r = etp_fft_resampler_new ();
  gfloat x[4] = { 0 }, y[4];
  GError *err = NULL;

  g_assert_false (etp_fft_resample (r, x, 0, 1, y, 4, &err));
  g_assert_error (err, ETP_ERROR, ETP_ERROR_INVALID);
  g_clear_error (&err);
  etp_fft_resampler_free (r);
}

static void
test_poly_taps (void)
{
  static const guint cases[][2] = { {1, 5}, {18, 25} };
  guint i, j;

  for (i = 0; i < G_N_ELEMENTS (cases); i++) {
    EtpPolyphase *p = etp_polyphase_new (cases[i][0], cases[i][1], 1, NULL);
    guint n;
    const gdouble *h = etp_polyphase_taps (p, &n);
    gchar *name = g_strdup_printf ("poly_taps_%u_%u", cases[i][0],
        cases[i][1]);
    gfloat *ref = load (name, n);
    double emax = 0, rmax = 0;

    for (j = 0; j < n; j++) {
      emax = MAX (emax, fabs (h[j] - ref[j]));
      rmax = MAX (rmax, fabs ((double) ref[j]));
    }
    g_assert_cmpfloat (emax / rmax, <, 1e-6);
    g_free (ref);
    g_free (name);
    etp_polyphase_free (p);
  }
}

static void
test_poly_resample (void)
{
  static const guint cases[][4] = { {1000, 1, 5, 3}, {1001, 1, 5, 3},
  {200, 5, 1, 2}, {1000, 18, 25, 2}, {777, 2, 3, 1}, {300, 3, 2, 1},
  {500, 1, 5, 12}, {400, 5, 2, 9}
  };
  guint i;
  GRand *rand = g_rand_new_with_seed (7);

  for (i = 0; i < G_N_ELEMENTS (cases); i++) {
    guint nin = cases[i][0], up = cases[i][1], down = cases[i][2];
    guint ch = cases[i][3];
    gsize nout = etp_resample_out_len (nin, up, down), got, pos;
    gchar *n1 = g_strdup_printf ("poly_in_%u_%u_%u_%u", nin, up, down, ch);
    gchar *n2 = g_strdup_printf ("poly_out_%u_%u_%u_%u", nin, up, down, ch);
    gfloat *x = load (n1, nin * ch), *ref = load (n2, nout * ch);
    gfloat *y = g_new0 (gfloat, nout * ch), *yc = g_new0 (gfloat, nout * ch);
    EtpPolyphase *p;
    double e;
    guint round;

    g_assert_true (etp_resample_poly (x, nin, ch, up, down, y, NULL));
    e = rel_err (y, ref, nout * ch);
    g_test_message ("poly %u x %u/%u: rel err %.3g", nin, up, down, e);
    g_assert_cmpfloat (e, <, 1e-5);

    /* chunked (random chunk sizes, including 1) == one-shot, bit for bit;
     * twice, to check that drain resets the state. */
    p = etp_polyphase_new (up, down, ch, NULL);
    for (round = 0; round < 2; round++) {
      got = 0;
      pos = 0;
      memset (yc, 0, nout * ch * sizeof (gfloat));
      while (pos < nin) {
        gsize n = (gsize) g_rand_int_range (rand, 1, 97);
        n = MIN (n, nin - pos);
        gsize bound = etp_polyphase_max_output (p, n);
        gsize w = etp_polyphase_process (p, x + pos * ch, n, yc + got * ch);
        g_assert_cmpuint (w, <=, bound);
        got += w;
        pos += n;
      }
      g_assert_cmpuint (got + etp_polyphase_pending (p), ==, nout);
      got += etp_polyphase_drain (p, yc + got * ch);
      g_assert_cmpuint (got, ==, nout);
      g_assert_cmpmem (yc, nout * ch * sizeof (gfloat), y,
          nout * ch * sizeof (gfloat));
    }
    etp_polyphase_free (p);
    g_free (x);
    g_free (ref);
    g_free (y);
    g_free (yc);
    g_free (n1);
    g_free (n2);
  }
  g_rand_free (rand);
}

static EtpSos *
design (const gchar * name)
{
  EtpSos *s = etp_sos_new ();
  GError *err = NULL;
  const double fs = 500.0;

  if (!strcmp (name, "hp05o2") || !strcmp (name, "chain"))
    g_assert_true (etp_sos_add_butter (s, 2, 0.5, TRUE, fs, &err));
  if (!strcmp (name, "hp05o3"))
    g_assert_true (etp_sos_add_butter (s, 3, 0.5, TRUE, fs, &err));
  if (!strcmp (name, "lp40o4") || !strcmp (name, "chain"))
    g_assert_true (etp_sos_add_butter (s, 4, 40.0, FALSE, fs, &err));
  if (!strcmp (name, "lp100o5"))
    g_assert_true (etp_sos_add_butter (s, 5, 100.0, FALSE, fs, &err));
  if (!strcmp (name, "notch50") || !strcmp (name, "chain"))
    g_assert_true (etp_sos_add_notch (s, 50.0, 30.0, fs, &err));
  g_assert_no_error (err);
  g_assert_cmpuint (s->n_sections, >, 0);
  return s;
}

static const gchar *filter_names[] = { "hp05o2", "hp05o3", "lp40o4",
  "lp100o5", "notch50", "chain"
};

static void
test_filter_response (void)
{
  guint i, k, s;

  for (i = 0; i < G_N_ELEMENTS (filter_names); i++) {
    EtpSos *sos = design (filter_names[i]);
    gchar *name = g_strdup_printf ("resp_%s", filter_names[i]);
    gfloat *ref = load (name, 64);

    for (k = 0; k < 64; k++) {
      double f = 0.1 + (250.0 - 0.2) * k / 63.0;
      double complex z = cexp (-I * 2.0 * G_PI * f / 500.0), h = 1.0;
      for (s = 0; s < sos->n_sections; s++) {
        const double *c = sos->sos + s * 6;
        h *= (c[0] + c[1] * z + c[2] * z * z) / (c[3] + c[4] * z + c[5] * z * z);
      }
      g_assert_cmpfloat (fabs (cabs (h) - ref[k]), <, 1e-6);
    }
    g_free (name);
    g_free (ref);
    etp_sos_free (sos);
  }
}

static void
test_filtfilt (void)
{
  const gsize n = 2000;
  const guint ch = 3;
  gfloat *x = load ("filt_in", n * ch);
  guint i;

  for (i = 0; i < G_N_ELEMENTS (filter_names); i++) {
    EtpSos *sos = design (filter_names[i]);
    gchar *name = g_strdup_printf ("filtfilt_%s", filter_names[i]);
    gfloat *ref = load (name, n * ch);
    gfloat *y = g_new (gfloat, n * ch);
    double e;

    g_assert_true (etp_sosfiltfilt (sos, x, n, ch, y, NULL));
    e = rel_err (y, ref, n * ch);
    g_test_message ("sosfiltfilt %s: rel err %.3g", filter_names[i], e);
    g_assert_cmpfloat (e, <, 1e-5);
    /* in place gives the same */
    memcpy (y, x, n * ch * sizeof (gfloat));
    g_assert_true (etp_sosfiltfilt (sos, y, n, ch, y, NULL));
    g_assert_cmpfloat (rel_err (y, ref, n * ch), <, 1e-5);
    g_free (name);
    g_free (ref);
    g_free (y);
    etp_sos_free (sos);
  }
  g_free (x);
}

static void
test_sosfilt_stream (void)
{
  const gsize n = 2000;
  const guint ch = 3;
  gfloat *x = load ("filt_in", n * ch);
  GRand *rand = g_rand_new_with_seed (11);
  guint i;

  for (i = 0; i < G_N_ELEMENTS (filter_names); i++) {
    EtpSos *sos = design (filter_names[i]);
    gchar *name = g_strdup_printf ("sosfilt_%s", filter_names[i]);
    gfloat *ref = load (name, n * ch);
    gfloat *y = g_new (gfloat, n * ch), *yc = g_new (gfloat, n * ch);
    EtpSosStream *st = etp_sos_stream_new (sos, ch);
    gsize pos = 0;
    double e;

    etp_sos_stream_process (st, x, n, y);
    e = rel_err (y, ref, n * ch);
    g_test_message ("sosfilt %s: rel err %.3g", filter_names[i], e);
    g_assert_cmpfloat (e, <, 1e-5);
    etp_sos_stream_reset (st);
    while (pos < n) {
      gsize k = (gsize) g_rand_int_range (rand, 1, 300);
      k = MIN (k, n - pos);
      etp_sos_stream_process (st, x + pos * ch, k, yc + pos * ch);
      pos += k;
    }
    g_assert_cmpmem (yc, n * ch * sizeof (gfloat), y, n * ch * sizeof (gfloat));
    etp_sos_stream_free (st);
    g_free (name);
    g_free (ref);
    g_free (y);
    g_free (yc);
    etp_sos_free (sos);
  }
  g_rand_free (rand);
  g_free (x);
}

static void
test_filter_bad_args (void)
{
  EtpSos *s = etp_sos_new ();
  GError *err = NULL;

  g_assert_false (etp_sos_add_butter (s, 4, 60.0, FALSE, 100.0, &err));
  g_assert_error (err, ETP_ERROR, ETP_ERROR_INVALID);
  g_clear_error (&err);
  g_assert_false (etp_sos_add_butter (s, 0, 1.0, TRUE, 100.0, &err));
  g_clear_error (&err);
  g_assert_false (etp_sos_add_notch (s, 50.0, 30.0, 100.0, &err));
  g_assert_error (err, ETP_ERROR, ETP_ERROR_INVALID);
  g_clear_error (&err);
  g_assert_cmpuint (s->n_sections, ==, 0);
  etp_sos_free (s);
}

int
main (int argc, char **argv)
{
  const gchar *root = g_getenv ("ETP_SOURCE_ROOT");

  g_test_init (&argc, &argv, NULL);
  golden_dir = g_build_filename (root ? root : ETP_DSP_SOURCE_ROOT, "tests",
      "dsp", "golden", NULL);
  g_test_add_func ("/dsp/fft-resample", test_fft_resample);
  g_test_add_func ("/dsp/fft-bad-args", test_fft_bad_args);
  g_test_add_func ("/dsp/poly-taps", test_poly_taps);
  g_test_add_func ("/dsp/poly-resample", test_poly_resample);
  g_test_add_func ("/dsp/filter-response", test_filter_response);
  g_test_add_func ("/dsp/sosfiltfilt", test_filtfilt);
  g_test_add_func ("/dsp/sosfilt-stream", test_sosfilt_stream);
  g_test_add_func ("/dsp/filter-bad-args", test_filter_bad_args);
  return g_test_run ();
}
