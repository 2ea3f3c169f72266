/* Errors of the plain C library: GError with domain ETP_ERROR. Messages name
 * the file and what is wrong with it, so elements can pass them on verbatim
 * in GST_ELEMENT_ERROR. */
#ifndef ETP_UTIL_ERROR_H
#define ETP_UTIL_ERROR_H

#include <glib.h>

G_BEGIN_DECLS

#define ETP_ERROR (etp_error_quark ())
GQuark etp_error_quark (void);

typedef enum {
  ETP_ERROR_IO,          /* cannot open / read / write a file */
  ETP_ERROR_FORMAT,      /* the file's content is malformed */
  ETP_ERROR_UNSUPPORTED, /* a valid but unsupported variant */
  ETP_ERROR_MISMATCH,    /* shapes / sizes / checksums disagree */
  ETP_ERROR_MISSING,     /* a referenced file or entry is absent */
  ETP_ERROR_INVALID,     /* a bad argument or setting */
  ETP_ERROR_DEVICE,      /* the compute device failed or is absent */
} EtpErrorCode;

G_END_DECLS

#endif
