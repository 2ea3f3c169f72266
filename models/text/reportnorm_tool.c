/* etp-reportnorm: applies the German/Swedish -> English report normaliser to
 * each line of stdin (or the files given) and prints the result, one line
 * per input line.
 *
 *   etp-reportnorm [--lexicon FILE] [FILE...]
 *
 * Used by models/text/lexicon_coverage.py; handy to see what the
 * textencoder's normalize-reports=true feeds the encoder. */
#include "text/reportnorm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int
run (const EtpReportNorm * rn, FILE * in)
{
  char *line = NULL;
  size_t cap = 0;
  ssize_t len;
  while ((len = getline (&line, &cap, in)) >= 0) {
    gchar *out;
    while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
      line[--len] = '\0';
    if (!g_utf8_validate (line, len, NULL)) {
      fprintf (stderr, "etp-reportnorm: skipping a line that is not UTF-8\n");
      printf ("\n");
      continue;
    }
    out = etp_report_norm_apply (rn, line);
    printf ("%s\n", out);
    g_free (out);
  }
  free (line);
  return 0;
}

int
main (int argc, char **argv)
{
  const gchar *lexicon = NULL;
  GError *err = NULL;
  EtpReportNorm *rn;
  int i = 1, rc = 0;

  if (argc > 2 && strcmp (argv[1], "--lexicon") == 0) {
    lexicon = argv[2];
    i = 3;
  }
  rn = etp_report_norm_new (lexicon, &err);
  if (rn == NULL) {
    fprintf (stderr, "etp-reportnorm: %s\n", err->message);
    return 1;
  }
  if (i >= argc)
    rc = run (rn, stdin);
  for (; i < argc; i++) {
    FILE *f = fopen (argv[i], "r");
    if (f == NULL) {
      fprintf (stderr, "etp-reportnorm: cannot open %s\n", argv[i]);
      rc = 1;
      continue;
    }
    rc |= run (rn, f);
    fclose (f);
  }
  etp_report_norm_free (rn);
  return rc;
}
