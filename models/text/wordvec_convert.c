/* etp-wordvec-convert: GloVe vectors (wink-embeddings JSON or GloVe text)
 * -> the compact .etpwv file that `textencoder model=FILE` memory-maps.
 *
 *   etp-wordvec-convert INPUT|- OUTPUT.etpwv
 *
 * The input is streamed (a fixed read buffer; only the words are kept in
 * memory, the float rows go straight to disk). See docs/text.md. */
#include "text/wordvec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
main (int argc, char **argv)
{
  FILE *in;
  GError *error = NULL;
  guint64 n = 0;
  gboolean ok;

  if (argc != 3) {
    fprintf (stderr, "usage: %s INPUT.json|INPUT.txt|- OUTPUT.etpwv\n", argv[0]);
    return 2;
  }
  in = strcmp (argv[1], "-") == 0 ? stdin : fopen (argv[1], "rb");
  if (in == NULL) {
    fprintf (stderr, "%s: cannot open %s\n", argv[0], argv[1]);
    return 1;
  }
  setvbuf (in, NULL, _IOFBF, 1 << 20);
  ok = etp_wordvec_convert_stream (in, argv[2], &n, &error);
  if (in != stdin)
    fclose (in);
  if (!ok) {
    fprintf (stderr, "%s: %s\n", argv[0], error->message);
    g_error_free (error);
    remove (argv[2]);
    return 1;
  }
  printf ("%s: %" G_GUINT64_FORMAT " words\n", argv[2], n);
  return 0;
}
