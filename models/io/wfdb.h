/* WFDB records: a .hea header plus its signal files (.dat in formats 16, 61,
 * 80, 160, 212, 24, 32, or MATLAB v4 .mat as in PhysioNet/CinC "16+24"). */
#ifndef ETP_IO_WFDB_H
#define ETP_IO_WFDB_H

#include "io/ecgrecord.h"

G_BEGIN_DECLS

/* Largest header file and signal count accepted (anything bigger is not an
 * ECG header and is refused before allocating). */
#define ETP_WFDB_MAX_HEADER_BYTES (4 * 1024 * 1024)
#define ETP_WFDB_MAX_SIGNALS 256

/* Reads the record whose header is @hea_path. Applies gain, baseline (ADC zero
 * when no baseline is given), verifies the sample counts against the files and
 * the checksums, reads `# Age:`, `# Sex:`, `# Dx:` comments (Dx codes become
 * label_codes) and maps 12-lead records onto the PTB-XL lead order.
 * Refuses signal files outside the header's folder. dataset is "wfdb". */
EtpRecord *etp_wfdb_read (const gchar * hea_path, GError ** error);

/* Reads only the header's facts (no samples): record id, leads, units, rate,
 * n_samples, comments, age/sex/Dx. */
EtpRecord *etp_wfdb_read_header (const gchar * hea_path, GError ** error);

G_END_DECLS

#endif
