/* German/Swedish -> English report normaliser on real PTB-XL report strings
 * (ptbxl_database.csv), phrase-before-word priority, compounds, umlaut
 * spellings, punctuation kept, bad lexicons. */
#include "config.h"
#include "text/reportnorm.h"
#include "util/etperror.h"

#include <glib/gstdio.h>
#include <string.h>

static EtpReportNorm *
open_default (void)
{
  GError *err = NULL;
  EtpReportNorm *rn = etp_report_norm_new (NULL, &err);
  g_assert_no_error (err);
  g_assert_nonnull (rn);
  g_assert_cmpuint (etp_report_norm_n_entries (rn), >, 400);
  return rn;
}

static void
expect (EtpReportNorm * rn, const gchar * in, const gchar * want)
{
  gchar *out = etp_report_norm_apply (rn, in);
  if (g_strcmp0 (out, want) != 0)
    g_error ("normalise \"%s\":\n  got  \"%s\"\n  want \"%s\"", in, out, want);
  g_free (out);
}

static void
test_real_reports (void)
{
  EtpReportNorm *rn = open_default ();
  /* verbatim reports of PTB-XL records (ecg_id in the comment) */
  expect (rn, "sinusrhythmus periphere niederspannung",     /* 1 */
      "sinus rhythm low limb lead voltage");
  expect (rn, "sinusbradykardie sonst normales ekg",        /* 2 */
      "sinus bradycardia otherwise normal ecg");
  expect (rn, "sinusrhythmus normales ekg", "sinus rhythm normal ecg");
  expect (rn, "sinusrhythmus überdrehter linkstyp unvollständiger "
      "rechtsschenkelblock", "sinus rhythm left axis deviation incomplete "
      "right bundle branch block");
  expect (rn, "vorhofflimmern linkstyp t-negativierung in v4-v6",
      "atrial fibrillation left axis t wave inversion in v4-v6");
  expect (rn, "sinusrhythmus linkstyp st-senkung, inferolaterale ischämie "
      "möglich", "sinus rhythm left axis st depression, inferolateral "
      "ischemia possible");
  /* the spelled-out umlaut variants found in the data */
  expect (rn, "ueberdrehter linkstyp", "left axis deviation");
  expect (rn, "intraventrikulaere leitungsstoerung",
      "intraventricular conduction disturbance");
  /* Swedish reports (ecg_id 102, 139) */
  expect (rn, "sinusrytm a-v block i st-t sÄnkning, sÅsom vid    "
      "anterolateral ischemi eller vÄnster belastning",
      "sinus rhythm a-v block i st-t depression, as at anterolateral "
      "ischemia or left strain");
  /* English stays English, numbers and punctuation stay */
  expect (rn, "sinus rhythm. left axis deviation. qrs 0.12 s",
      "sinus rhythm. left axis deviation. qrs 0.12 s");
  expect (rn, "", "");
  /* a compound that is not in the lexicon as a whole */
  expect (rn, "vorderwandischaemie", "anterior wall ischemia");
  expect (rn, "hinterwandinfarkt", "inferior wall infarction");
  expect (rn, "linksschenkelblockbild", "left bundle branch block pattern");
  etp_report_norm_free (rn);
}

static void
test_lexicon_file (void)
{
  gchar *path = NULL;
  gint fd = g_file_open_tmp ("etp-lex-XXXXXX", &path, NULL);
  GError *err = NULL;
  EtpReportNorm *rn;
  close (fd);

  /* longest phrase wins over its words; an empty English side drops */
  g_file_set_contents (path, "# test\nst senkung\tst depression\n"
      "senkung\tlowering\nst\tXX\nunbestätigter bericht\t\n", -1, NULL);
  rn = etp_report_norm_new (path, &err);
  g_assert_no_error (err);
  expect (rn, "ST-Senkung", "st depression");
  expect (rn, "senkung st", "lowering XX");
  expect (rn, "infarkt unbestaetigter bericht", "infarkt");
  etp_report_norm_free (rn);

  /* a line without TAB names the file and the line */
  g_file_set_contents (path, "ok\tfine\nbroken line\n", -1, NULL);
  g_assert_null (etp_report_norm_new (path, &err));
  g_assert_error (err, ETP_ERROR, ETP_ERROR_FORMAT);
  g_assert_nonnull (strstr (err->message, "line 2"));
  g_clear_error (&err);
  g_unlink (path);
  g_assert_null (etp_report_norm_new (path, &err));
  g_assert_nonnull (err);
  g_clear_error (&err);
  g_free (path);
}

/* Every report of the shared PTB-XL database: most German words are
 * translated (the per-token number is printed by lexicon_coverage.py). */
static void
test_all_reports (void)
{
  const gchar *shared = g_getenv ("ETP_SHARED_DATA");
  gchar *csv = g_build_filename (shared ? shared : ETP_SHARED_DATA, "data",
      "ptbxl", "ptbxl_database.csv", NULL);
  gchar *data = NULL;
  EtpReportNorm *rn;
  guint n = 0, with_german_after = 0, with_german_before = 0;
  const gchar *markers[] = { "sinusrhythmus", "lagetyp", "linkstyp",
    "vorhofflimmern", "rechtsschenkelblock", "niederspannung", "senkung",
    "negativierung", "ischämie", "infarkt" };
  gchar **lines;
  guint i, k;

  if (!g_file_get_contents (csv, &data, NULL, NULL)) {
    g_test_skip ("PTB-XL database not found");
    g_free (csv);
    return;
  }
  rn = open_default ();
  lines = g_strsplit (data, "\n", -1);
  for (i = 1; lines[i]; i++) {
    gchar *lower, *out, *olower;
    gboolean before = FALSE, after = FALSE;
    if (!g_utf8_validate (lines[i], -1, NULL) || *lines[i] == '\0')
      continue;
    /* the whole CSV row is fine as input: it contains the report */
    lower = g_utf8_strdown (lines[i], -1);
    out = etp_report_norm_apply (rn, lines[i]);
    olower = g_utf8_strdown (out, -1);
    for (k = 0; k < G_N_ELEMENTS (markers); k++) {
      before |= strstr (lower, markers[k]) != NULL;
      after |= strstr (olower, markers[k]) != NULL;
    }
    with_german_before += before;
    with_german_after += after;
    n++;
    g_free (lower);
    g_free (out);
    g_free (olower);
  }
  g_test_message ("%u rows, %u with German markers before, %u after", n,
      with_german_before, with_german_after);
  g_assert_cmpuint (n, >, 1000);
  g_assert_cmpuint (with_german_before, >, n / 4);
  /* two rows keep one: typos with a stray letter ("ysinusrhythmus") */
  g_assert_cmpuint (with_german_after, <=, n / 500);
  g_strfreev (lines);
  g_free (data);
  g_free (csv);
  etp_report_norm_free (rn);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/text/reportnorm/real-reports", test_real_reports);
  g_test_add_func ("/text/reportnorm/lexicon-file", test_lexicon_file);
  g_test_add_func ("/text/reportnorm/all-reports", test_all_reports);
  return g_test_run ();
}
