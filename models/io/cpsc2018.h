/* CPSC2018 as released: one MATLAB v5 .mat per record (struct ECG with sex,
 * age, data 12 x N in mV at 500 Hz) read through matio, and REFERENCE.csv
 * (Recording, First_label, Second_label, Third_label; codes 1..9). */
#ifndef ETP_IO_CPSC2018_H
#define ETP_IO_CPSC2018_H

#include "io/ecgrecord.h"

G_BEGIN_DECLS

#define ETP_CPSC2018_RATE 500.0
/* Class names of REFERENCE.csv codes 1..9 (index code - 1). */
extern const gchar *const etp_cpsc2018_classes[9];

/* Reads one CPSC2018 .mat (dataset "cpsc2018", leads in PTB-XL order).
 * Refuses NaN/inf samples, a lead count other than 12, and absurd sizes. */
EtpRecord *etp_cpsc2018_read_mat (const gchar * path, GError ** error);

/* Writes a record in the CPSC2018 layout (tests / tools). @data is 12 x n,
 * frame-interleaved (n_samples x 12). */
gboolean etp_cpsc2018_write_mat (const gchar * path, const gdouble * data,
    guint n_leads, guint64 n_samples, const gchar * sex, gdouble age,
    GError ** error);

G_END_DECLS

#endif
