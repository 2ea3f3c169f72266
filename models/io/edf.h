/* EDF, EDF+ and BDF(+) files through EDFlib. */
#ifndef ETP_IO_EDF_H
#define ETP_IO_EDF_H

#include "io/ecgrecord.h"

G_BEGIN_DECLS

/* Reads every (non-annotation) signal; all must share one sampling rate.
 * Lead labels such as "ECG I" are matched to the standard leads; dataset
 * "edf"; units are the first signal's physical dimension. */
EtpRecord *etp_edf_read (const gchar * path, GError ** error);

G_END_DECLS

#endif
