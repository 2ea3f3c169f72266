/* Record and dataset readers (models/io): real records against golden values
 * from an independent numpy/scipy reader (make_golden.py), every WFDB storage
 * format through a test-side encoder, EDF through EDFlib, datasets and split
 * files on ../shared/data, and every bad-input case. */
#include "config.h"

#include <glib.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <math.h>
#include <string.h>
#include <edflib.h>

#include "io/cpsc2018.h"
#include "io/csv.h"
#include "io/dataset.h"
#include "io/edf.h"
#include "io/matv4.h"
#include "io/wfdb.h"
#include "util/etperror.h"

static gchar *
shared_data (void)
{
  const gchar *env = g_getenv ("ETP_SHARED_DATA");
  gchar *d = g_build_filename (env ? env : ETP_SHARED_DATA, "data", NULL);
  if (!g_file_test (d, G_FILE_TEST_IS_DIR)) {
    g_free (d);
    return NULL;
  }
  return d;
}

#define NEED_DATA(var) \
  g_autofree gchar *var = shared_data (); \
  if (!var) { g_test_skip ("no shared data (ETP_SHARED_DATA)"); return; }

static gchar *
make_tmpdir (void)
{
  GError *err = NULL;
  gchar *d = g_dir_make_tmp ("etp-io-XXXXXX", &err);
  g_assert_no_error (err);
  return d;
}

static void
rm_rf (const gchar * dir)
{
  GDir *d = g_dir_open (dir, 0, NULL);
  const gchar *n;
  if (!d)
    return;
  while ((n = g_dir_read_name (d))) {
    g_autofree gchar *p = g_build_filename (dir, n, NULL);
    if (g_file_test (p, G_FILE_TEST_IS_DIR))
      rm_rf (p);
    else
      g_unlink (p);
  }
  g_dir_close (d);
  g_rmdir (dir);
}

static void
write_text (const gchar * dir, const gchar * name, const gchar * text)
{
  g_autofree gchar *p = g_build_filename (dir, name, NULL);
  GError *err = NULL;
  g_file_set_contents (p, text, -1, &err);
  g_assert_no_error (err);
}

static void
write_bytes (const gchar * dir, const gchar * name, const guint8 * b, gsize n)
{
  g_autofree gchar *p = g_build_filename (dir, name, NULL);
  GError *err = NULL;
  g_file_set_contents (p, (const gchar *) b, n, &err);
  g_assert_no_error (err);
}

/* ---- golden records ------------------------------------------------- */

static void
check_golden (const gchar * json_path, const gchar * data)
{
  g_autoptr (JsonParser) parser = json_parser_new ();
  GError *err = NULL;
  json_parser_load_from_file (parser, json_path, &err);
  g_assert_no_error (err);
  JsonObject *g = json_node_get_object (json_parser_get_root (parser));
  const gchar *source = json_object_get_string_member (g, "source");
  g_autofree gchar *path = g_build_filename (data, source, NULL);
  EtpRecord *rec;
  if (g_str_has_suffix (path, ".mat"))
    rec = etp_cpsc2018_read_mat (path, &err);
  else
    rec = etp_wfdb_read (path, &err);
  g_assert_no_error (err);
  g_assert_nonnull (rec);

  guint64 n = (guint64) json_object_get_int_member (g, "n_samples");
  guint nl = (guint) json_object_get_int_member (g, "n_leads");
  g_assert_cmpuint (rec->n_samples, ==, n);
  g_assert_cmpuint (rec->n_leads, ==, nl);
  g_assert_cmpfloat_with_epsilon (rec->source_rate,
      json_object_get_double_member (g, "rate"), 1e-9);
  g_assert_cmpstr (rec->units, ==, json_object_get_string_member (g, "units"));
  g_assert_cmpstr (rec->record_id, ==, json_object_get_string_member (g,
          "record"));
  JsonArray *leads = json_object_get_array_member (g, "leads");
  JsonArray *first = json_object_get_array_member (g, "first");
  JsonArray *last = json_object_get_array_member (g, "last");
  JsonArray *sums = json_object_get_array_member (g, "sums");
  for (guint c = 0; c < nl; c++) {
    g_assert_cmpstr (rec->lead_names[c], ==,
        json_array_get_string_element (leads, c));
    JsonArray *f = json_array_get_array_element (first, c);
    JsonArray *l = json_array_get_array_element (last, c);
    guint ne = json_array_get_length (f);
    gdouble maxabs = 0, sum = 0;
    for (guint i = 0; i < ne; i++) {
      /* 1 uV in mV (or 1e-3 of the record's units) */
      g_assert_cmpfloat_with_epsilon (etp_record_sample (rec, i, c),
          json_array_get_double_element (f, i), 1e-3);
      g_assert_cmpfloat_with_epsilon (etp_record_sample (rec, n - ne + i, c),
          json_array_get_double_element (l, i), 1e-3);
    }
    for (guint64 i = 0; i < n; i++) {
      gdouble v = etp_record_sample (rec, i, c);
      sum += v;
      maxabs = MAX (maxabs, fabs (v));
    }
    g_assert_cmpfloat_with_epsilon (sum,
        json_array_get_double_element (sums, c), 1e-3 + 1e-7 * n * maxabs);
  }
  etp_record_free (rec);
}

static void
test_golden_records (void)
{
  NEED_DATA (data);
  g_autofree gchar *dir = g_build_filename (g_getenv ("ETP_SOURCE_ROOT") ?
      g_getenv ("ETP_SOURCE_ROOT") : ETP_SOURCE_ROOT, "tests", "io", "golden",
      NULL);
  GDir *d = g_dir_open (dir, 0, NULL);
  g_assert_nonnull (d);
  const gchar *name;
  guint count = 0;
  while ((name = g_dir_read_name (d))) {
    if (!g_str_has_suffix (name, ".json"))
      continue;
    g_autofree gchar *p = g_build_filename (dir, name, NULL);
    g_test_message ("golden %s", name);
    check_golden (p, data);
    count++;
  }
  g_dir_close (d);
  /* ptbxl lr/hr/z, ptbdb, cpsc2018 v5, six cinc folders */
  g_assert_cmpuint (count, >=, 11);
}

static void
test_real_metadata (void)
{
  NEED_DATA (data);
  GError *err = NULL;
  g_autofree gchar *p = g_build_filename (data, "ptbdb", "s0010_re.hea", NULL);
  g_autoptr (EtpRecord) r = etp_wfdb_read (p, &err);
  g_assert_no_error (err);
  /* 15 leads: not the 12 standard ones, so the record's own order */
  g_assert_cmpuint (r->n_leads, ==, 15);
  g_assert_cmpstr (r->lead_names[0], ==, "i");
  g_assert_cmpstr (r->lead_names[12], ==, "vx");
  g_assert_cmpfloat (r->age, ==, 81);
  g_assert_cmpint (r->sex, ==, 1);
  g_assert_cmpfloat (r->source_rate, ==, 1000);
  /* the clinical comments become the report; n/a entries are left out */
  g_assert_nonnull (r->report);
  g_assert_true (g_str_has_prefix (r->report,
          "Reason for admission: Myocardial infarction. "));
  g_assert_null (strstr (r->report, "n/a"));
  g_assert_nonnull (strstr (r->report, "Smoker: no"));

  g_autofree gchar *c = g_build_filename (data, "cinc", "chapman-ningbo",
      "JS20000.hea", NULL);
  g_autoptr (EtpRecord) rc = etp_wfdb_read (c, &err);
  g_assert_no_error (err);
  g_assert_cmpuint (g_strv_length (rc->label_codes), ==, 4);
  g_assert_cmpstr (rc->label_codes[0], ==, "284470004");
  g_assert_cmpfloat (rc->age, ==, 84);
  g_assert_cmpint (rc->sex, ==, 1);
  g_assert_null (rc->report);   /* Rx/Hx/Sx: Unknown */

  g_autofree gchar *m = g_build_filename (data, "cpsc2018", "TrainingSet",
      "A1980.mat", NULL);
  g_autoptr (EtpRecord) rm = etp_cpsc2018_read_mat (m, &err);
  g_assert_no_error (err);
  g_assert_cmpint (rm->sex, ==, 0);
  g_assert_cmpfloat (rm->age, ==, 52);
  g_assert_cmpuint (rm->n_leads, ==, 12);
}

/* ---- WFDB formats through an encoder written here --------------------- */

static void
put16 (GByteArray * b, gint v, gboolean be)
{
  guint8 x[2] = { v & 0xff, (v >> 8) & 0xff };
  if (be) {
    guint8 t = x[0];
    x[0] = x[1];
    x[1] = t;
  }
  g_byte_array_append (b, x, 2);
}

static GByteArray *
encode (gint fmt, const gint * v, guint n)
{
  GByteArray *b = g_byte_array_new ();
  for (guint i = 0; i < n; i++) {
    gint x = v[i];
    switch (fmt) {
      case 16:
        put16 (b, x, FALSE);
        break;
      case 61:
        put16 (b, x, TRUE);
        break;
      case 160:
        put16 (b, x + 32768, FALSE);
        break;
      case 80:{
        guint8 c = (guint8) (x + 128);
        g_byte_array_append (b, &c, 1);
        break;
      }
      case 24:{
        guint8 c[3] = { x & 0xff, (x >> 8) & 0xff, (x >> 16) & 0xff };
        g_byte_array_append (b, c, 3);
        break;
      }
      case 32:{
        guint32 u = (guint32) x;
        guint8 c[4] = { u & 0xff, (u >> 8) & 0xff, (u >> 16) & 0xff, u >> 24 };
        g_byte_array_append (b, c, 4);
        break;
      }
      default:
        break;
    }
  }
  if (fmt == 212) {
    /* two 12-bit samples in three bytes */
    for (guint i = 0; i < n; i += 2) {
      guint a = (guint) v[i] & 0xfff;
      guint c = i + 1 < n ? (guint) v[i + 1] & 0xfff : 0;
      guint8 t[3] = { a & 0xff, ((a >> 8) & 0x0f) | ((c >> 4) & 0xf0),
        c & 0xff
      };
      g_byte_array_append (b, t, i + 1 < n ? 3 : 2);
    }
  } else if (fmt == 311 || fmt == 310) {
    for (guint i = 0; i < n; i += 3) {
      guint s0 = (guint) v[i] & 0x3ff;
      guint s1 = i + 1 < n ? (guint) v[i + 1] & 0x3ff : 0;
      guint s2 = i + 2 < n ? (guint) v[i + 2] & 0x3ff : 0;
      guint8 t[4];
      if (fmt == 311) {
        guint32 w = s0 | (s1 << 10) | (s2 << 20);
        t[0] = w & 0xff;
        t[1] = (w >> 8) & 0xff;
        t[2] = (w >> 16) & 0xff;
        t[3] = w >> 24;
      } else {
        /* 16-bit words: s0 in bits 1-10 of word 0, s1 in bits 1-10 of
         * word 1, s2 split over bits 11-15 of both */
        guint16 w0 = (guint16) ((s0 << 1) | ((s2 & 0x1f) << 11));
        guint16 w1 = (guint16) ((s1 << 1) | ((s2 >> 5) << 11));
        t[0] = w0 & 0xff;
        t[1] = w0 >> 8;
        t[2] = w1 & 0xff;
        t[3] = w1 >> 8;
      }
      guint left = n - i;
      g_byte_array_append (b, t, left >= 3 ? 4 : fmt == 310 ? left * 2 : left + 1);
    }
  }
  return b;
}

static void
test_wfdb_formats (void)
{
  const gint fmts[] = { 16, 61, 160, 80, 212, 24, 32, 310, 311 };
  const gint lim[] = { 32767, 32767, 32767, 127, 2047, 8388607, 2000000000,
    511, 511
  };
  g_autofree gchar *dir = make_tmpdir ();
  for (guint f = 0; f < G_N_ELEMENTS (fmts); f++) {
    const guint nsig = 3, ns = 7;      /* odd counts exercise 212/310 tails */
    gint v[21];
    guint32 sum[3] = { 0, 0, 0 };
    for (guint i = 0; i < ns; i++)
      for (guint c = 0; c < nsig; c++) {
        gint x = (gint) ((i * 37 + c * 101) % 200) - 100;
        if (i == 3)
          x = (c == 0) ? lim[f] : -lim[f] + 1;        /* extremes */
        v[i * nsig + c] = x;
        sum[c] += (guint32) x;
      }
    GByteArray *b = encode (fmts[f], v, ns * nsig);
    g_autofree gchar *dat = g_strdup_printf ("r%d.dat", fmts[f]);
    write_bytes (dir, dat, b->data, b->len);
    g_byte_array_unref (b);
    g_autofree gchar *hea = g_strdup_printf ("r%d 3 250 7\n"
        "%s %d 200(10)/mV 16 0 %d %d 0 I\n"
        "%s %d 100/uV 16 5 0 %d 0 lead two\n"
        "%s %d 0 16 0 0 %d 0 X\n# Age: 61\n# Sex: M\n# Dx: 1,2\n",
        fmts[f], dat, fmts[f], v[0], (gint) (gint16) sum[0], dat, fmts[f],
        (gint) (gint16) sum[1], dat, fmts[f], (gint) (gint16) sum[2]);
    g_autofree gchar *hname = g_strdup_printf ("r%d.hea", fmts[f]);
    write_text (dir, hname, hea);
    g_autofree gchar *hp = g_build_filename (dir, hname, NULL);
    GError *err = NULL;
    g_autoptr (EtpRecord) r = etp_wfdb_read (hp, &err);
    g_assert_no_error (err);
    g_test_message ("format %d", fmts[f]);
    g_assert_cmpuint (r->n_samples, ==, ns);
    g_assert_cmpuint (r->n_leads, ==, 3);
    g_assert_cmpstr (r->lead_names[1], ==, "lead two");
    g_assert_cmpfloat (r->source_rate, ==, 250);
    g_assert_cmpfloat (r->age, ==, 61);
    g_assert_cmpint (r->sex, ==, 0);
    g_assert_cmpuint (g_strv_length (r->label_codes), ==, 2);
    for (guint i = 0; i < ns; i++) {
      /* gain 200, baseline 10 */
      g_assert_cmpfloat_with_epsilon (etp_record_sample (r, i, 0),
          (v[i * nsig] - 10) / 200.0, 1e-6 * (1 + fabs (v[i * nsig] / 200.0)));
      /* baseline = ADC zero 5 */
      g_assert_cmpfloat_with_epsilon (etp_record_sample (r, i, 1),
          (v[i * nsig + 1] - 5) / 100.0,
          1e-6 * (1 + fabs (v[i * nsig + 1] / 100.0)));
      /* gain 0 means the WFDB default 200 */
      g_assert_cmpfloat_with_epsilon (etp_record_sample (r, i, 2),
          v[i * nsig + 2] / 200.0, 1e-6 * (1 + fabs (v[i * nsig + 2] / 200.)));
    }
  }
  /* packed formats whose sample count does not fill the last group */
  const gint packed[] = { 212, 310, 311 };
  for (guint f = 0; f < G_N_ELEMENTS (packed); f++)
    for (guint ns = 4; ns <= 5; ns++) {
      gint v[5] = { -300, 255, -1, 77, 200 };
      gint sum = 0;
      for (guint i = 0; i < ns; i++)
        sum += v[i];
      GByteArray *b = encode (packed[f], v, ns);
      write_bytes (dir, "tail.dat", b->data, b->len);
      g_byte_array_unref (b);
      g_autofree gchar *hea = g_strdup_printf ("tail 1 100 %u\n"
          "tail.dat %d 1 16 0 0 %d 0 x\n", ns, packed[f], sum);
      write_text (dir, "tail.hea", hea);
      g_autofree gchar *hp = g_build_filename (dir, "tail.hea", NULL);
      GError *err = NULL;
      g_autoptr (EtpRecord) r = etp_wfdb_read (hp, &err);
      g_assert_no_error (err);
      g_assert_cmpuint (r->n_samples, ==, ns);
      for (guint i = 0; i < ns; i++)
        g_assert_cmpfloat (r->samples[i], ==, v[i]);
    }
  rm_rf (dir);
}

static void
test_wfdb_multifile_and_order (void)
{
  g_autofree gchar *dir = make_tmpdir ();
  /* 12 leads in a scrambled order, split over two files, byte offset */
  const gchar *names[12] = { "V6", "avr", "I", "II", "V1", "V2", "III",
    "AVL", "aVF", "V3", "V4", "V5"
  };
  const guint ns = 4;
  GString *hea = g_string_new ("mix 12 500 4\n");
  for (guint file = 0; file < 2; file++) {
    gint v[24];
    for (guint i = 0; i < ns; i++)
      for (guint k = 0; k < 6; k++)
        v[i * 6 + k] = (gint) (100 * (file * 6 + k) + i);
    GByteArray *b = g_byte_array_new ();
    guint8 pad[8] = { 0 };
    g_byte_array_append (b, pad, 8);
    GByteArray *e = encode (16, v, ns * 6);
    g_byte_array_append (b, e->data, e->len);
    g_byte_array_unref (e);
    write_bytes (dir, file ? "mix_b.dat" : "mix_a.dat", b->data, b->len);
    g_byte_array_unref (b);
    for (guint k = 0; k < 6; k++)
      g_string_append_printf (hea, "%s 16+8 1000/mV 16 0 0 0 0 %s\n",
          file ? "mix_b.dat" : "mix_a.dat", names[file * 6 + k]);
  }
  write_text (dir, "mix.hea", hea->str);
  g_string_free (hea, TRUE);
  g_autofree gchar *p = g_build_filename (dir, "mix.hea", NULL);
  GError *err = NULL;
  /* the checksums written as 0 are wrong: the reader must say so */
  EtpRecord *bad = etp_wfdb_read (p, &err);
  g_assert_null (bad);
  g_assert_error (err, ETP_ERROR, ETP_ERROR_MISMATCH);
  g_assert_nonnull (strstr (err->message, "checksum"));
  g_clear_error (&err);
  /* without checksums (6-field lines) it reads, mapped to PTB-XL order */
  gchar *text = NULL;
  g_file_get_contents (p, &text, NULL, NULL);
  GString *h2 = g_string_new (NULL);
  gchar **lines = g_strsplit (text, "\n", -1);
  for (guint i = 0; lines[i]; i++) {
    if (i == 0 || !lines[i][0]) {
      g_string_append_printf (h2, "%s\n", lines[i]);
      continue;
    }
    gchar **f = g_strsplit (lines[i], " ", -1);
    /* file fmt gain adcres adczero initval "" blocksize? -> drop checksum:
     * WFDB fields are positional, so keep 6 fields (no description) */
    g_string_append_printf (h2, "%s %s %s %s %s %s\n", f[0], f[1], f[2], f[3],
        f[4], f[5]);
    g_strfreev (f);
  }
  g_strfreev (lines);
  g_free (text);
  write_text (dir, "mix.hea", h2->str);
  g_string_free (h2, TRUE);
  g_autoptr (EtpRecord) r0 = etp_wfdb_read (p, &err);
  g_assert_no_error (err);
  /* no descriptions: default names sig0.. so no lead mapping */
  g_assert_cmpstr (r0->lead_names[0], ==, "sig0");
  g_assert_cmpfloat (etp_record_sample (r0, 2, 7), ==, (100 * 7 + 2) / 1000.f);

  /* with descriptions and no checksum field it cannot be expressed (the
   * checksum precedes the description), so write correct checksums */
  hea = g_string_new ("mix 12 500 4\n");
  for (guint file = 0; file < 2; file++)
    for (guint k = 0; k < 6; k++) {
      gint sum = 0;
      for (guint i = 0; i < ns; i++)
        sum += (gint) (100 * (file * 6 + k) + i);
      g_string_append_printf (hea, "%s 16+8 1000/mV 16 0 0 %d 0 %s\n",
          file ? "mix_b.dat" : "mix_a.dat", sum, names[file * 6 + k]);
    }
  write_text (dir, "mix.hea", hea->str);
  g_string_free (hea, TRUE);
  g_autoptr (EtpRecord) r = etp_wfdb_read (p, &err);
  g_assert_no_error (err);
  for (guint k = 0; k < 12; k++)
    g_assert_cmpstr (r->lead_names[k], ==, etp_standard_leads[k]);
  /* lead I was signal 2, aVR signal 1, V6 signal 0 */
  g_assert_cmpfloat (etp_record_sample (r, 3, 0), ==, (200 + 3) / 1000.f);
  g_assert_cmpfloat (etp_record_sample (r, 3, 3), ==, (100 + 3) / 1000.f);
  g_assert_cmpfloat (etp_record_sample (r, 3, 11), ==, 3 / 1000.f);
  g_assert_cmpfloat (etp_record_sample (r, 1, 6), ==, (400 + 1) / 1000.f);
  rm_rf (dir);
}

/* ---- bad input --------------------------------------------------------- */

static void
expect_wfdb_error (const gchar * dir, const gchar * hea_name, gint code,
    const gchar * needle1, const gchar * needle2)
{
  g_autofree gchar *p = g_build_filename (dir, hea_name, NULL);
  GError *err = NULL;
  EtpRecord *r = etp_wfdb_read (p, &err);
  g_assert_null (r);
  g_assert_nonnull (err);
  g_test_message ("%s", err->message);
  g_assert_true (err->domain == ETP_ERROR);
  if (code >= 0)
    g_assert_cmpint (err->code, ==, code);
  if (needle1)
    g_assert_nonnull (strstr (err->message, needle1));
  if (needle2)
    g_assert_nonnull (strstr (err->message, needle2));
  g_error_free (err);
}

static void
test_bad_wfdb (void)
{
  g_autofree gchar *dir = make_tmpdir ();
  gint v[40];
  for (guint i = 0; i < 40; i++)
    v[i] = (gint) i;
  GByteArray *b = encode (16, v, 40);     /* 2 signals x 20 samples */

  /* truncated .dat: header says 20 samples, file holds 15 */
  write_bytes (dir, "trunc.dat", b->data, 60);
  write_text (dir, "trunc.hea", "trunc 2 100 20\ntrunc.dat 16 200 16 0\n"
      "trunc.dat 16 200 16 0\n");
  expect_wfdb_error (dir, "trunc.hea", ETP_ERROR_MISMATCH, "trunc.dat",
      "truncated");

  /* header/sample-count mismatch: file holds more than declared */
  write_bytes (dir, "more.dat", b->data, b->len);
  write_text (dir, "more.hea", "more 2 100 10\nmore.dat 16 200 16 0\n"
      "more.dat 16 200 16 0\n");
  expect_wfdb_error (dir, "more.hea", ETP_ERROR_MISMATCH, "more.dat",
      "mismatch");

  /* checksum mismatch */
  write_bytes (dir, "ck.dat", b->data, b->len);
  write_text (dir, "ck.hea", "ck 2 100 20\nck.dat 16 200 16 0 0 380 0 a\n"
      "ck.dat 16 200 16 0 1 999 0 b\n");
  expect_wfdb_error (dir, "ck.hea", ETP_ERROR_MISMATCH, "ck.dat",
      "checksum mismatch for signal 1");

  /* unknown format */
  write_text (dir, "fmt.hea", "fmt 2 100 20\nck.dat 999 200 16 0\n"
      "ck.dat 999 200 16 0\n");
  expect_wfdb_error (dir, "fmt.hea", ETP_ERROR_UNSUPPORTED, "fmt.hea",
      "format 999");

  /* absurd declared sizes: no allocation, clear errors */
  write_text (dir, "big.hea", "big 2 100 1000000000000000\n"
      "ck.dat 16 200 16 0\nck.dat 16 200 16 0\n");
  expect_wfdb_error (dir, "big.hea", ETP_ERROR_MISMATCH, "ck.dat",
      "truncated");
  write_text (dir, "many.hea", "many 100000000 100 20\n");
  expect_wfdb_error (dir, "many.hea", ETP_ERROR_FORMAT, "many.hea",
      "signal count");
  write_text (dir, "few.hea", "few 3 100 20\nck.dat 16 200 16 0\n");
  expect_wfdb_error (dir, "few.hea", ETP_ERROR_FORMAT, "few.hea",
      "declares 3 signals");

  /* signal files outside the record's folder */
  write_text (dir, "up.hea", "up 1 100 20\n../ck.dat 16 200 16 0\n");
  expect_wfdb_error (dir, "up.hea", ETP_ERROR_FORMAT, "../ck.dat",
      "outside the record's folder");
  write_text (dir, "abs.hea", "abs 1 100 20\n/etc/passwd 16 200 16 0\n");
  expect_wfdb_error (dir, "abs.hea", ETP_ERROR_FORMAT, "/etc/passwd",
      "outside");

  /* absent signal file */
  write_text (dir, "gone.hea", "gone 1 100 20\ngone.dat 16 200 16 0\n");
  expect_wfdb_error (dir, "gone.hea", ETP_ERROR_MISSING, "gone.dat", NULL);

  /* garbage instead of a header */
  guint8 junk[64];
  for (guint i = 0; i < sizeof junk; i++)
    junk[i] = (guint8) (i * 7);
  write_bytes (dir, "junk.hea", junk, sizeof junk);
  expect_wfdb_error (dir, "junk.hea", -1, "junk.hea", NULL);
  write_text (dir, "empty.hea", "# only a comment\n");
  expect_wfdb_error (dir, "empty.hea", ETP_ERROR_FORMAT, "empty.hea", NULL);
  write_text (dir, "gain.hea", "gain 1 100 20\nck.dat 16 abc 16 0\n");
  expect_wfdb_error (dir, "gain.hea", ETP_ERROR_FORMAT, "gain.hea", "gain");

  /* MATLAB v4 signal files: NaN, wrong lead count, absurd size */
  gdouble dv[2 * 5];
  for (guint i = 0; i < 10; i++)
    dv[i] = i;
  dv[7] = NAN;
  g_autofree gchar *nanp = g_build_filename (dir, "nan.mat", NULL);
  GError *err = NULL;
  etp_matv4_write (nanp, "val", 0, 2, 5, dv, &err);
  g_assert_no_error (err);
  write_text (dir, "nan.hea", "nan 2 100 5\nnan.mat 16+24 200 16 0\n"
      "nan.mat 16+24 200 16 0\n");
  expect_wfdb_error (dir, "nan.hea", ETP_ERROR_FORMAT, "nan.mat", "NaN");
  write_text (dir, "leads.hea", "leads 3 100 5\nnan.mat 16+24 200 16 0\n"
      "nan.mat 16+24 200 16 0\nnan.mat 16+24 200 16 0\n");
  expect_wfdb_error (dir, "leads.hea", ETP_ERROR_MISMATCH, "nan.mat",
      "wrong lead count");
  gint16 sv[12 * 4] = { 0 };
  g_autofree gchar *hugep = g_build_filename (dir, "huge.mat", NULL);
  etp_matv4_write (hugep, "val", 3, 12, 4, sv, &err);
  g_assert_no_error (err);
  /* patch the column count to 2^31 */
  gchar *hb = NULL;
  gsize hl = 0;
  g_file_get_contents (hugep, &hb, &hl, NULL);
  hb[8] = 0;
  hb[9] = 0;
  hb[10] = 0;
  hb[11] = (gchar) 0x80;
  write_bytes (dir, "huge.mat", (guint8 *) hb, hl);
  g_free (hb);
  write_text (dir, "huge.hea", "huge 12 100\n"
      "huge.mat 16+24 200 16 0\nhuge.mat 16+24 200 16 0\n"
      "huge.mat 16+24 200 16 0\nhuge.mat 16+24 200 16 0\n"
      "huge.mat 16+24 200 16 0\nhuge.mat 16+24 200 16 0\n"
      "huge.mat 16+24 200 16 0\nhuge.mat 16+24 200 16 0\n"
      "huge.mat 16+24 200 16 0\nhuge.mat 16+24 200 16 0\n"
      "huge.mat 16+24 200 16 0\nhuge.mat 16+24 200 16 0\n");
  expect_wfdb_error (dir, "huge.hea", ETP_ERROR_MISMATCH, "huge.mat",
      "absurd");
  g_byte_array_unref (b);
  rm_rf (dir);
}

static void
test_bad_cpsc_mat (void)
{
  g_autofree gchar *dir = make_tmpdir ();
  GError *err = NULL;
  gdouble d[12 * 10];
  for (guint i = 0; i < 120; i++)
    d[i] = i * 0.01;
  g_autofree gchar *ok = g_build_filename (dir, "A0001.mat", NULL);
  g_assert_true (etp_cpsc2018_write_mat (ok, d, 12, 10, "Female", 44, &err));
  g_autoptr (EtpRecord) r = etp_cpsc2018_read_mat (ok, &err);
  g_assert_no_error (err);
  g_assert_cmpuint (r->n_samples, ==, 10);
  g_assert_cmpint (r->sex, ==, 1);
  g_assert_cmpfloat (r->age, ==, 44);
  /* column-major 12 x N is frame-interleaved */
  g_assert_cmpfloat_with_epsilon (etp_record_sample (r, 3, 5), 0.01 * (3 * 12
          + 5), 1e-6);

  d[50] = NAN;
  g_autofree gchar *nan = g_build_filename (dir, "A0002.mat", NULL);
  g_assert_true (etp_cpsc2018_write_mat (nan, d, 12, 10, "Male", 44, &err));
  g_assert_null (etp_cpsc2018_read_mat (nan, &err));
  g_assert_error (err, ETP_ERROR, ETP_ERROR_FORMAT);
  g_assert_nonnull (strstr (err->message, "A0002.mat"));
  g_assert_nonnull (strstr (err->message, "NaN"));
  g_clear_error (&err);

  g_autofree gchar *leads = g_build_filename (dir, "A0003.mat", NULL);
  g_assert_true (etp_cpsc2018_write_mat (leads, d, 8, 15, "Male", 44, &err));
  g_assert_null (etp_cpsc2018_read_mat (leads, &err));
  g_assert_error (err, ETP_ERROR, ETP_ERROR_MISMATCH);
  g_assert_nonnull (strstr (err->message, "wrong lead count"));
  g_clear_error (&err);

  /* truncated file */
  gchar *buf = NULL;
  gsize len = 0;
  g_file_get_contents (ok, &buf, &len, NULL);
  write_bytes (dir, "A0004.mat", (guint8 *) buf, len / 2);
  g_free (buf);
  g_autofree gchar *tr = g_build_filename (dir, "A0004.mat", NULL);
  g_assert_null (etp_cpsc2018_read_mat (tr, &err));
  g_assert_nonnull (err);
  g_assert_nonnull (strstr (err->message, "A0004.mat"));
  g_clear_error (&err);
  rm_rf (dir);
}

/* ---- EDF -------------------------------------------------------------- */

static void
test_edf_roundtrip (void)
{
  g_autofree gchar *dir = make_tmpdir ();
  g_autofree gchar *p = g_build_filename (dir, "rec.edf", NULL);
  const gchar *labels[12] = { "ECG V1", "ECG V2", "ECG V3", "ECG V4",
    "ECG V5", "ECG V6", "ECG I", "ECG II", "ECG III", "ECG aVR", "ECG aVL",
    "ECG aVF"
  };
  const int fs = 500, secs = 2;
  int h = edfopen_file_writeonly (p, EDFLIB_FILETYPE_EDFPLUS, 12);
  g_assert_cmpint (h, >=, 0);
  for (int s = 0; s < 12; s++) {
    g_assert_cmpint (edf_set_samplefrequency (h, s, fs), ==, 0);
    edf_set_physical_maximum (h, s, 5.0);
    edf_set_physical_minimum (h, s, -5.0);
    edf_set_digital_maximum (h, s, 32767);
    edf_set_digital_minimum (h, s, -32768);
    edf_set_label (h, s, labels[s]);
    edf_set_physical_dimension (h, s, "mV");
  }
  edf_set_patientcode (h, "P42");
  edf_set_gender (h, 1);
  gdouble buf[500];
  for (int t = 0; t < secs; t++)
    for (int s = 0; s < 12; s++) {
      for (int i = 0; i < fs; i++)
        buf[i] = sin (0.01 * (t * fs + i) * (s + 1));
      g_assert_cmpint (edfwrite_physical_samples (h, buf), ==, 0);
    }
  edfclose_file (h);

  GError *err = NULL;
  g_autoptr (EtpRecord) r = etp_edf_read (p, &err);
  g_assert_no_error (err);
  g_assert_cmpuint (r->n_leads, ==, 12);
  g_assert_cmpuint (r->n_samples, ==, fs * secs);
  g_assert_cmpfloat (r->source_rate, ==, fs);
  g_assert_cmpstr (r->units, ==, "mV");
  g_assert_cmpstr (r->patient_id, ==, "P42");
  g_assert_cmpstr (r->dataset, ==, "edf");
  /* mapped to PTB-XL order: lead I was signal 6 (s + 1 = 7) */
  for (guint k = 0; k < 12; k++)
    g_assert_cmpstr (r->lead_names[k], ==, etp_standard_leads[k]);
  const int src_of[12] = { 6, 7, 8, 9, 10, 11, 0, 1, 2, 3, 4, 5 };
  /* quantisation step 10 mV / 65535 = 0.15 uV */
  for (guint64 i = 0; i < r->n_samples; i++)
    for (guint k = 0; k < 12; k++)
      g_assert_cmpfloat_with_epsilon (etp_record_sample (r, i, k),
          sin (0.01 * i * (src_of[k] + 1)), 1e-3);

  /* BDF (24-bit) through the same reader */
  g_autofree gchar *bp24 = g_build_filename (dir, "rec.bdf", NULL);
  h = edfopen_file_writeonly (bp24, EDFLIB_FILETYPE_BDFPLUS, 1);
  g_assert_cmpint (h, >=, 0);
  edf_set_samplefrequency (h, 0, 250);
  edf_set_physical_maximum (h, 0, 8.0);
  edf_set_physical_minimum (h, 0, -8.0);
  edf_set_digital_maximum (h, 0, 8388607);
  edf_set_digital_minimum (h, 0, -8388608);
  edf_set_label (h, 0, "ECG II");
  edf_set_physical_dimension (h, 0, "mV");
  for (int i = 0; i < 250; i++)
    buf[i] = 3.0 * cos (0.05 * i);
  g_assert_cmpint (edfwrite_physical_samples (h, buf), ==, 0);
  edfclose_file (h);
  g_autoptr (EtpRecord) rb = etp_edf_read (bp24, &err);
  g_assert_no_error (err);
  g_assert_cmpuint (rb->n_leads, ==, 1);
  g_assert_cmpuint (rb->n_samples, ==, 250);
  g_assert_cmpstr (rb->lead_names[0], ==, "II");
  for (int i = 0; i < 250; i++)
    g_assert_cmpfloat_with_epsilon (rb->samples[i], 3.0 * cos (0.05 * i),
        1e-5);

  /* not an EDF */
  write_text (dir, "bad.edf", "0       this is not an EDF header");
  g_autofree gchar *bp = g_build_filename (dir, "bad.edf", NULL);
  g_assert_null (etp_edf_read (bp, &err));
  g_assert_nonnull (err);
  g_assert_nonnull (strstr (err->message, "bad.edf"));
  g_clear_error (&err);
  rm_rf (dir);
}

/* ---- CSV, folds ------------------------------------------------------- */

static void
test_csv (void)
{
  const gchar *t = "a,b,c\r\n1,\"x, \"\"y\"\"\",3\n\n4,\"multi\nline\",6\n";
  GError *err = NULL;
  g_autoptr (EtpCsv) c = etp_csv_parse ("t.csv", t, strlen (t), &err);
  g_assert_no_error (err);
  g_assert_cmpuint (c->n_cols, ==, 3);
  g_assert_cmpuint (c->n_rows, ==, 2);
  g_assert_cmpstr (c->rows[0][1], ==, "x, \"y\"");
  g_assert_cmpstr (c->rows[1][1], ==, "multi\nline");
  g_assert_cmpstr (c->rows[1][2], ==, "6");
  g_assert_cmpint (etp_csv_column (c, "c"), ==, 2);

  const gchar *bad = "a,b\n1,2\n3,4,5\n";
  g_assert_null (etp_csv_parse ("bad.csv", bad, strlen (bad), &err));
  g_assert_error (err, ETP_ERROR, ETP_ERROR_FORMAT);
  g_assert_nonnull (strstr (err->message, "bad.csv:3"));
  g_clear_error (&err);
  const gchar *unterminated = "a,b\n1,\"2\n";
  g_assert_null (etp_csv_parse ("u.csv", unterminated, strlen (unterminated),
          &err));
  g_assert_nonnull (strstr (err->message, "unterminated"));
  g_clear_error (&err);

  gdouble *v = NULL;
  gchar **k = etp_parse_py_dict ("{'NORM': 100.0, 'SR': 0.0}", &v);
  g_assert_cmpuint (g_strv_length (k), ==, 2);
  g_assert_cmpstr (k[1], ==, "SR");
  g_assert_cmpfloat (v[0], ==, 100.0);
  g_strfreev (k);
  g_free (v);
  g_assert_null (etp_parse_py_dict ("{'NORM' 100.0}", NULL));
  gchar **l = etp_parse_py_list ("['NORM', 'MI']");
  g_assert_cmpuint (g_strv_length (l), ==, 2);
  g_strfreev (l);
}

static void
test_folds (void)
{
  guint64 m;
  GError *err = NULL;
  g_assert_true (etp_parse_folds ("1-8", &m, &err));
  g_assert_cmphex (m, ==, 0x1feu);
  g_assert_true (etp_parse_folds ("9", &m, &err));
  g_assert_cmphex (m, ==, 1u << 9);
  g_assert_true (etp_parse_folds ("1,3,5", &m, &err));
  g_assert_cmphex (m, ==, (1u << 1) | (1u << 3) | (1u << 5));
  g_assert_true (etp_parse_folds (" 1-2 , 10", &m, &err));
  g_assert_cmphex (m, ==, 0x406u);
  g_assert_true (etp_parse_folds ("", &m, &err));
  g_assert_cmphex (m, ==, G_MAXUINT64);
  g_assert_false (etp_parse_folds ("8-1", &m, &err));
  g_assert_error (err, ETP_ERROR, ETP_ERROR_INVALID);
  g_clear_error (&err);
  g_assert_false (etp_parse_folds ("x", &m, &err));
  g_clear_error (&err);
  g_assert_false (etp_parse_folds ("0", &m, &err));
  g_clear_error (&err);
}

/* ---- datasets on the shared data -------------------------------------- */

static EtpDataset *
open_ds (const gchar * loc, const gchar * folds, guint rate,
    EtpLabelSetKind ls, const gchar * split, GError ** err)
{
  EtpDatasetOptions o;
  etp_dataset_options_init (&o);
  o.folds = folds;
  o.rate = rate;
  o.label_set = ls;
  o.split_file = split;
  return etp_dataset_open (loc, &o, err);
}

static void
test_ptbxl_dataset (void)
{
  NEED_DATA (data);
  g_autofree gchar *loc = g_build_filename (data, "ptbxl", NULL);
  GError *err = NULL;

  g_autoptr (EtpDataset) f10 = open_ds (loc, "10", 100, ETP_LABEL_SET_NONE,
      NULL, &err);
  g_assert_no_error (err);
  /* 852 fold-10 rows, 66 with records100 files */
  g_assert_cmpuint (etp_dataset_size (f10), ==, 66);
  g_assert_cmpuint (f10->n_missing, ==, 852 - 66);
  g_assert_nonnull (f10->first_missing);

  g_autoptr (EtpDataset) tr = open_ds (loc, "1-8", 500,
      ETP_LABEL_SET_SUPERCLASS, NULL, &err);
  g_assert_no_error (err);
  g_assert_cmpuint (etp_dataset_size (tr), ==, 353);
  g_assert_cmpuint (g_strv_length (tr->label_set), ==, 5);
  g_assert_cmpstr (tr->label_set[0], ==, "NORM");
  g_autoptr (EtpRecord) r = etp_dataset_read (tr, 0, &err);
  g_assert_no_error (err);
  g_assert_cmpstr (r->record_id, ==, "00001_hr");
  g_assert_cmpstr (r->patient_id, ==, "15709");
  g_assert_cmpstr (r->dataset, ==, "ptbxl");
  g_assert_cmpint (r->fold, ==, 3);
  g_assert_cmpint (r->sex, ==, 1);
  g_assert_cmpfloat (r->age, ==, 56);
  g_assert_cmpuint (r->n_samples, ==, 5000);
  g_assert_cmpstr (r->report, ==, "sinusrhythmus periphere niederspannung");
  g_assert_cmpuint (g_strv_length (r->label_codes), ==, 1);
  g_assert_cmpstr (r->label_codes[0], ==, "NORM");
  for (guint i = 0; i < etp_dataset_size (tr); i++) {
    g_autoptr (EtpRecord) x = etp_dataset_read (tr, i, &err);
    g_assert_no_error (err);
    g_assert_cmpint (x->fold, >=, 1);
    g_assert_cmpint (x->fold, <=, 8);
  }

  /* English reports and a likelihood threshold */
  EtpDatasetOptions o;
  etp_dataset_options_init (&o);
  o.folds = "3";
  o.rate = 100;
  o.english_report = TRUE;
  o.label_set = ETP_LABEL_SET_ALL;
  g_autoptr (EtpDataset) en = etp_dataset_open (loc, &o, &err);
  g_assert_no_error (err);
  g_autoptr (EtpRecord) re = etp_dataset_read (en, 0, &err);
  g_assert_no_error (err);
  g_assert_cmpstr (re->record_id, ==, "00001_lr");
  g_assert_cmpstr (re->report, ==, "normal ECG, low QRS voltages in the "
      "frontal and horizontal leads, sinus rhythm.");
  g_assert_cmpuint (g_strv_length (re->label_codes), ==, 3);

  /* single-label keeps exactly-one-label records */
  o.label_set = ETP_LABEL_SET_SUPERCLASS;
  o.single_label = TRUE;
  o.english_report = FALSE;
  o.folds = NULL;
  g_autoptr (EtpDataset) sl = etp_dataset_open (loc, &o, &err);
  g_assert_no_error (err);
  g_assert_cmpuint (sl->n_filtered, >, 0);
  for (guint i = 0; i < MIN (etp_dataset_size (sl), 50); i++) {
    g_autoptr (EtpRecord) x = etp_dataset_read (sl, i, &err);
    g_assert_no_error (err);
    g_assert_cmpuint (g_strv_length (x->label_codes), ==, 1);
  }

  /* preprocessed records: units z, folds 1-9 */
  g_autoptr (EtpDataset) z = open_ds (loc, "9", 100, ETP_LABEL_SET_NONE, NULL,
      &err);
  g_assert_no_error (err);
  g_assert_cmpuint (etp_dataset_size (z), ==, 141);
  gboolean saw_z = FALSE;
  for (guint i = 0; i < etp_dataset_size (z); i++) {
    g_autoptr (EtpRecord) x = etp_dataset_read (z, i, &err);
    g_assert_no_error (err);
    saw_z |= g_strcmp0 (x->units, "z") == 0;
  }
  g_assert_true (saw_z);

  /* missing=error names the first absent file */
  etp_dataset_options_init (&o);
  o.folds = "10";
  o.rate = 100;
  o.skip_missing = FALSE;
  g_assert_null (etp_dataset_open (loc, &o, &err));
  g_assert_error (err, ETP_ERROR, ETP_ERROR_MISSING);
  g_assert_nonnull (strstr (err->message, "_lr.hea"));
  g_assert_nonnull (strstr (err->message, "ptbxl_database.csv"));
  g_clear_error (&err);

  /* bad settings */
  g_assert_null (open_ds (loc, "1-x", 100, ETP_LABEL_SET_NONE, NULL, &err));
  g_assert_error (err, ETP_ERROR, ETP_ERROR_INVALID);
  g_clear_error (&err);
  g_assert_null (open_ds (loc, NULL, 250, ETP_LABEL_SET_NONE, NULL, &err));
  g_assert_error (err, ETP_ERROR, ETP_ERROR_INVALID);
  g_clear_error (&err);
}

static void
test_split_files (void)
{
  NEED_DATA (data);
  g_autofree gchar *loc = g_build_filename (data, "ptbxl", NULL);
  g_autofree gchar *split = g_build_filename (data, "splits", "merl", "ptbxl",
      "super_class", "ptbxl_super_class_test.csv", NULL);
  GError *err = NULL;
  g_autoptr (EtpDataset) ds = open_ds (loc, "10", 100, ETP_LABEL_SET_NONE,
      split, &err);
  g_assert_no_error (err);
  g_assert_cmpuint (etp_dataset_size (ds), ==, 64);
  g_assert_cmpuint (g_strv_length (ds->label_set), ==, 5);
  g_assert_cmpstr (ds->label_set[0], ==, "HYP");
  g_autoptr (EtpRecord) r = etp_dataset_read (ds, 0, &err);
  g_assert_no_error (err);
  g_assert_cmpstr (r->record_id, ==, "00009_lr");
  g_assert_cmpint (r->fold, ==, 10);
  g_assert_cmpstr (r->label_codes[0], ==, "NORM");
  g_assert_cmpstr (r->report, ==, "sinusrhythmus normales ekg");

  /* records with no row in ptbxl_database.csv (preprocessed, units z)
   * come from the split file only; compose-report gives them a text */
  g_autofree gchar *train = g_build_filename (data, "splits", "merl", "ptbxl",
      "super_class", "ptbxl_super_class_train.csv", NULL);
  EtpDatasetOptions o;
  etp_dataset_options_init (&o);
  o.rate = 100;
  o.split_file = train;
  o.compose_report = TRUE;
  g_autoptr (EtpDataset) tr = etp_dataset_open (loc, &o, &err);
  g_assert_no_error (err);
  g_assert_cmpuint (etp_dataset_size (tr), ==, 1763);
  guint composed = 0;
  for (guint i = 0; i < etp_dataset_size (tr); i += 7) {
    g_autoptr (EtpRecord) x = etp_dataset_read (tr, i, &err);
    g_assert_no_error (err);
    g_assert_nonnull (x->report);
    g_autofree gchar *c = etp_dataset_compose_report (tr, x->label_codes);
    if (g_strcmp0 (c, x->report) == 0)
      composed++;
  }
  g_assert_cmpuint (composed, >, 0);

  /* CPSC2018 (icbeb) split over the CinC-format CPSC records */
  g_autofree gchar *icbeb = g_build_filename (data, "splits", "merl", "icbeb",
      "icbeb_train.csv", NULL);
  g_autofree gchar *cinc = g_build_filename (data, "cinc", "cpsc2018", NULL);
  g_autoptr (EtpDataset) ic = open_ds (cinc, NULL, 500, ETP_LABEL_SET_NONE,
      icbeb, &err);
  g_assert_no_error (err);
  g_assert_cmpuint (etp_dataset_size (ic), >, 0);
  g_assert_cmpuint (g_strv_length (ic->label_set), ==, 9);
  g_autoptr (EtpRecord) ri = etp_dataset_read (ic, 0, &err);
  g_assert_no_error (err);
  g_assert_cmpuint (g_strv_length (ri->label_codes), >=, 1);
  g_assert_cmpint (ri->fold, ==, -1);
  /* the icbeb files have no strat_fold: folds= is an error, not 0 records */
  g_assert_null (open_ds (cinc, "1-8", 500, ETP_LABEL_SET_NONE, icbeb, &err));
  g_assert_error (err, ETP_ERROR, ETP_ERROR_INVALID);
  g_assert_nonnull (strstr (err->message, "strat_fold"));
  g_clear_error (&err);
}

static void
test_other_datasets (void)
{
  NEED_DATA (data);
  GError *err = NULL;
  g_autofree gchar *cpsc = g_build_filename (data, "cpsc2018", NULL);
  g_autoptr (EtpDataset) c = open_ds (cpsc, NULL, 500, ETP_LABEL_SET_NONE,
      NULL, &err);
  g_assert_no_error (err);
  g_assert_cmpuint (etp_dataset_size (c), ==, 10);
  g_assert_cmpstr (c->name, ==, "cpsc2018");
  g_assert_cmpuint (g_strv_length (c->label_set), ==, 9);
  g_autoptr (EtpRecord) r = etp_dataset_read (c, 0, &err);
  g_assert_no_error (err);
  g_assert_cmpstr (r->record_id, ==, "A1980");
  g_assert_cmpstr (r->label_codes[0], ==, "PAC");       /* code 6 */

  const gchar *folders[] = { "chapman-ningbo", "cpsc2018", "cpsc2018-extra",
    "georgia", "ptb", "ptbxl"
  };
  const guint counts[] = { 20, 11, 28, 33, 10, 22 };
  for (guint f = 0; f < G_N_ELEMENTS (folders); f++) {
    g_autofree gchar *d = g_build_filename (data, "cinc", folders[f], NULL);
    g_autoptr (EtpDataset) ds = open_ds (d, NULL, 500, ETP_LABEL_SET_NONE,
        NULL, &err);
    g_assert_no_error (err);
    g_assert_cmpuint (etp_dataset_size (ds), ==, counts[f]);
    for (guint i = 0; i < etp_dataset_size (ds); i++) {
      g_autoptr (EtpRecord) x = etp_dataset_read (ds, i, &err);
      g_assert_no_error (err);
      g_assert_cmpuint (x->n_leads, ==, 12);
      g_assert_cmpstr (x->lead_names[3], ==, "aVR");
    }
  }
  /* label-set needs PTB-XL; folds need a dataset with folds */
  g_autofree gchar *d = g_build_filename (data, "cinc", "ptb", NULL);
  g_assert_null (open_ds (d, NULL, 500, ETP_LABEL_SET_SUPERCLASS, NULL, &err));
  g_assert_error (err, ETP_ERROR, ETP_ERROR_INVALID);
  g_clear_error (&err);
  g_assert_null (open_ds (d, "1", 500, ETP_LABEL_SET_NONE, NULL, &err));
  g_assert_error (err, ETP_ERROR, ETP_ERROR_INVALID);
  g_clear_error (&err);
}

/* A PTB-XL-shaped folder built in the test: malformed rows fail cleanly. */
static void
test_bad_dataset_tables (void)
{
  g_autofree gchar *dir = make_tmpdir ();
  write_text (dir, "scp_statements.csv", ",description,diagnostic,form,"
      "rhythm,diagnostic_class,diagnostic_subclass\n"
      "NORM,normal ECG,1.0,,,NORM,NORM\nSR,sinus rhythm,,,1.0,,\n");
  const gchar *hdr = "ecg_id,patient_id,age,sex,report,scp_codes,strat_fold,"
      "filename_lr,filename_hr\n";
  GError *err = NULL;
  EtpDatasetOptions o;
  etp_dataset_options_init (&o);
  o.rate = 100;

  g_autofree gchar *t1 = g_strconcat (hdr, "1,5.0,50,0,\"ok, fine\","
      "\"{'NORM': 100.0}\",1,records100/00001_lr,records500/00001_hr\n"
      "2,6.0,51,1,bad row,\"{'NORM': 100.0}\",1\n", NULL);
  write_text (dir, "ptbxl_database.csv", t1);
  g_assert_null (etp_dataset_open (dir, &o, &err));
  g_assert_error (err, ETP_ERROR, ETP_ERROR_FORMAT);
  g_assert_nonnull (strstr (err->message, "ptbxl_database.csv:3"));
  g_assert_nonnull (strstr (err->message, "malformed row"));
  g_clear_error (&err);

  g_autofree gchar *t2 = g_strconcat (hdr, "1,5.0,50,0,x,\"{'NORM': 100.0}\","
      "one,records100/00001_lr,records500/00001_hr\n", NULL);
  write_text (dir, "ptbxl_database.csv", t2);
  g_assert_null (etp_dataset_open (dir, &o, &err));
  g_assert_nonnull (strstr (err->message, "strat_fold"));
  g_clear_error (&err);

  g_autofree gchar *t3 = g_strconcat (hdr, "1,5.0,50,0,x,\"{NORM: 100.0\","
      "1,records100/00001_lr,records500/00001_hr\n", NULL);
  write_text (dir, "ptbxl_database.csv", t3);
  g_assert_null (etp_dataset_open (dir, &o, &err));
  g_assert_nonnull (strstr (err->message, "scp_codes"));
  g_clear_error (&err);

  g_autofree gchar *t4 = g_strconcat (hdr, "1,5.0,50,0,x,\"{'NORM': 100.0}\","
      "1,../../etc/passwd,records500/00001_hr\n", NULL);
  write_text (dir, "ptbxl_database.csv", t4);
  g_assert_null (etp_dataset_open (dir, &o, &err));
  g_assert_nonnull (strstr (err->message, "bad file name"));
  g_clear_error (&err);

  /* a valid table, a record with a wrong lead count */
  g_autofree gchar *t5 = g_strconcat (hdr, "1,5.0,50,0,x,\"{'NORM': 100.0, "
      "'SR': 0.0}\",1,records100/00001_lr,records500/00001_hr\n", NULL);
  write_text (dir, "ptbxl_database.csv", t5);
  g_autofree gchar *rd = g_build_filename (dir, "records100", NULL);
  g_mkdir (rd, 0755);
  gint v[4] = { 1, 2, 3, 4 };
  GByteArray *b = encode (16, v, 4);
  write_bytes (rd, "00001_lr.dat", b->data, b->len);
  g_byte_array_unref (b);
  write_text (rd, "00001_lr.hea", "00001_lr 2 100 2\n00001_lr.dat 16 1000/mV "
      "16 0 1 4 0 I\n00001_lr.dat 16 1000/mV 16 0 2 6 0 II\n");
  o.label_set = ETP_LABEL_SET_SUPERCLASS;
  g_autoptr (EtpDataset) ds = etp_dataset_open (dir, &o, &err);
  g_assert_no_error (err);
  g_assert_cmpuint (etp_dataset_size (ds), ==, 1);
  g_assert_null (etp_dataset_read (ds, 0, &err));
  g_assert_error (err, ETP_ERROR, ETP_ERROR_MISMATCH);
  g_assert_nonnull (strstr (err->message, "00001_lr.hea"));
  g_assert_nonnull (strstr (err->message, "wrong lead count"));
  g_clear_error (&err);

  /* a reports file gives the text; a malformed one fails naming the line */
  write_text (dir, "reports.tsv", "# record<TAB>report\n"
      "00001_lr\tsinus rhythm, normal ECG\r\nother\tx\n");
  g_autofree gchar *rp = g_build_filename (dir, "reports.tsv", NULL);
  etp_dataset_options_init (&o);
  o.rate = 100;
  o.reports_file = rp;
  o.format = ETP_DATASET_WFDB;
  g_autoptr (EtpDataset) rds = etp_dataset_open (rd, &o, &err);
  g_assert_no_error (err);
  g_autoptr (EtpRecord) rr = etp_dataset_read (rds, 0, &err);
  g_assert_no_error (err);
  g_assert_cmpstr (rr->report, ==, "sinus rhythm, normal ECG");
  write_text (dir, "reports.tsv", "00001_lr sinus rhythm\n");
  g_assert_null (etp_dataset_open (rd, &o, &err));
  g_assert_error (err, ETP_ERROR, ETP_ERROR_FORMAT);
  g_assert_nonnull (strstr (err->message, "reports.tsv:1"));
  g_clear_error (&err);
  o.reports_file = "/nonexistent/reports.tsv";
  g_assert_null (etp_dataset_open (rd, &o, &err));
  g_assert_error (err, ETP_ERROR, ETP_ERROR_MISSING);
  g_clear_error (&err);

  /* REFERENCE.csv with a bad class code */
  g_autofree gchar *cd = g_build_filename (dir, "cpsc", NULL);
  g_mkdir (cd, 0755);
  write_text (cd, "REFERENCE.csv", "Recording,First_label\nA0001,12\n");
  g_assert_null (open_ds (cd, NULL, 500, ETP_LABEL_SET_NONE, NULL, &err));
  g_assert_nonnull (strstr (err->message, "REFERENCE.csv:2"));
  g_clear_error (&err);
  rm_rf (dir);
}

/* Random byte mutations of a valid header, signal file, MATLAB v4 file and
 * CSV table: every result is either a record or an error, never a crash
 * (run under ASan/UBSan in CI). Fixed seed, so failures reproduce. */
static void
mutate (gchar * buf, gsize len, GRand * r)
{
  guint n = 1 + g_rand_int_range (r, 0, 4);
  const gchar pool[] = "0123456789 -+/()#:.x\n\t\"',abc";
  for (guint k = 0; k < n && len > 0; k++) {
    gsize at = (gsize) g_rand_int_range (r, 0, (gint32) len);
    if (g_rand_boolean (r))
      buf[at] = pool[g_rand_int_range (r, 0, sizeof pool - 1)];
    else
      buf[at] = (gchar) g_rand_int_range (r, 0, 256);
  }
}

static void
test_fuzz_mutations (void)
{
  g_autofree gchar *dir = make_tmpdir ();
  GRand *r = g_rand_new_with_seed (20240601);
  gint v[40], s0 = 0, s1 = 0;
  for (guint i = 0; i < 40; i++) {
    v[i] = (gint) (i * 13 % 50) - 25;
    if (i % 2)
      s1 += v[i];
    else
      s0 += v[i];
  }
  g_autofree gchar *hea = g_strdup_printf ("f 3 500 20\n"
      "f.dat 212 200(3)/mV 12 0 5 %d 0 I\n"
      "f.dat 212 200/mV 12 0 0 %d 0 II\ng.mat 16+24 1000/mV 16 0 0 1330 0 V1\n"
      "# Age: 40\n# Sex: F\n# Dx: 1,2\n", s0, s1);
  GByteArray *dat = encode (212, v, 40);
  gint16 mv[20];
  for (guint i = 0; i < 20; i++)
    mv[i] = (gint16) (i * 7);
  g_autofree gchar *matp = g_build_filename (dir, "g.mat", NULL);
  GError *err = NULL;
  etp_matv4_write (matp, "val", 3, 1, 20, mv, &err);
  g_assert_no_error (err);
  gchar *mat = NULL;
  gsize matlen = 0;
  g_file_get_contents (matp, &mat, &matlen, NULL);
  const gchar *csv = "a,b,\"c,d\"\n1,2,\"{'X': 1.0}\"\n3,4,\"['y']\"\n";
  guint ok = 0, failed = 0;
  g_autofree gchar *hp = g_build_filename (dir, "f.hea", NULL);

  for (guint it = 0; it < 400; it++) {
    gchar *h = g_strdup (hea);
    gchar *d = g_memdup2 (dat->data, dat->len);
    gchar *m = g_memdup2 (mat, matlen);
    guint what = it % 3;
    if (what == 0)
      mutate (h, strlen (h), r);
    else if (what == 1)
      mutate (d, dat->len, r);
    else
      mutate (m, matlen, r);
    write_bytes (dir, "f.hea", (guint8 *) h, strlen (h));
    gsize dlen = g_rand_boolean (r) ? dat->len :
        (gsize) g_rand_int_range (r, 0, (gint32) dat->len + 1);
    write_bytes (dir, "f.dat", (guint8 *) d, dlen);
    write_bytes (dir, "g.mat", (guint8 *) m, matlen);
    EtpRecord *rec = etp_wfdb_read (hp, &err);
    if (rec) {
      g_assert_cmpuint (rec->n_leads, >=, 1);
      ok++;
      etp_record_free (rec);
    } else {
      g_assert_nonnull (err);
      g_assert_true (err->domain == ETP_ERROR);
      g_clear_error (&err);
      failed++;
    }
    g_free (h);
    g_free (d);
    g_free (m);

    gchar *c = g_strdup (csv);
    mutate (c, strlen (c), r);
    EtpCsv *t = etp_csv_parse ("fuzz.csv", c, strlen (c), &err);
    if (t) {
      for (guint row = 0; row < t->n_rows; row++) {
        gdouble *vals = NULL;
        gchar **keys = etp_parse_py_dict (t->rows[row][t->n_cols - 1], &vals);
        g_strfreev (keys);
        g_free (vals);
        g_strfreev (etp_parse_py_list (t->rows[row][t->n_cols - 1]));
      }
      etp_csv_free (t);
    } else
      g_clear_error (&err);
    g_free (c);
  }
  g_test_message ("fuzz: %u records read, %u refused", ok, failed);
  g_assert_cmpuint (ok, >, 0);
  g_assert_cmpuint (failed, >, 0);
  g_free (mat);
  g_byte_array_unref (dat);
  g_rand_free (r);
  rm_rf (dir);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/io/golden-records", test_golden_records);
  g_test_add_func ("/io/real-metadata", test_real_metadata);
  g_test_add_func ("/io/wfdb-formats", test_wfdb_formats);
  g_test_add_func ("/io/wfdb-multifile-order", test_wfdb_multifile_and_order);
  g_test_add_func ("/io/bad-wfdb", test_bad_wfdb);
  g_test_add_func ("/io/bad-cpsc-mat", test_bad_cpsc_mat);
  g_test_add_func ("/io/edf-roundtrip", test_edf_roundtrip);
  g_test_add_func ("/io/csv", test_csv);
  g_test_add_func ("/io/folds", test_folds);
  g_test_add_func ("/io/ptbxl-dataset", test_ptbxl_dataset);
  g_test_add_func ("/io/split-files", test_split_files);
  g_test_add_func ("/io/other-datasets", test_other_datasets);
  g_test_add_func ("/io/bad-dataset-tables", test_bad_dataset_tables);
  g_test_add_func ("/io/fuzz-mutations", test_fuzz_mutations);
  return g_test_run ();
}
