/* EtpRecord: one ECG record in memory, as every reader of models/io returns it
 * and as the DSP / training code consumes it. Plain C (GLib only). */
#ifndef ETP_IO_ECGRECORD_H
#define ETP_IO_ECGRECORD_H

#include <glib.h>

G_BEGIN_DECLS

/**
 * EtpRecord:
 * @record_id: record name ("00001_hr", "A0001", ...)
 * @patient_id: patient identifier, or NULL
 * @dataset: "ptbxl", "cpsc2018", "wfdb", "edf", ... or NULL
 * @fold: stratified fold (1-based), -1 when unknown
 * @report: free-text report (UTF-8), or NULL
 * @label_codes: NULL-terminated positive codes (label-set names when a label
 *   set is selected, else raw SCP / SNOMED CT / CPSC2018 codes); never NULL
 * @label_set: NULL-terminated names of the classes of the selected label set
 *   (multi-hot order), or NULL when none is selected
 * @lead_names: NULL-terminated, @n_leads names
 * @units: physical units of the samples ("mV", "uV", "z", ...)
 * @source_rate: sampling rate in Hz
 * @age: years, or -1
 * @sex: 0 male, 1 female, -1 unknown
 * @n_leads: channels
 * @n_samples: samples per channel
 * @samples: @n_samples x @n_leads floats, interleaved (sample-major), in
 *   physical units
 * @comments: NULL-terminated header comment lines (WFDB `#` lines), or NULL
 * @source_path: the file the samples were read from, or NULL
 */
typedef struct {
  gchar *record_id;
  gchar *patient_id;
  gchar *dataset;
  gint fold;
  gchar *report;
  gchar **label_codes;
  gchar **label_set;
  gchar **lead_names;
  gchar *units;
  gdouble source_rate;
  gdouble age;
  gint sex;
  guint n_leads;
  guint64 n_samples;
  gfloat *samples;
  gchar **comments;
  gchar *source_path;
} EtpRecord;

/* The twelve standard leads in PTB-XL order. */
extern const gchar *const etp_standard_leads[12];

/* A record with no samples: fold/age/sex -1, empty label_codes. */
EtpRecord *etp_record_new (void);
void etp_record_free (EtpRecord * rec);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (EtpRecord, etp_record_free)

/* Sample @i of lead @lead. */
static inline gfloat
etp_record_sample (const EtpRecord * rec, guint64 i, guint lead)
{
  return rec->samples[i * rec->n_leads + lead];
}

/* When the record's leads are exactly the 12 standard leads (names compared
 * case-insensitively, "AVR" == "aVR"), reorders the channels into PTB-XL
 * order and renames them canonically; otherwise leaves the record as is.
 * Returns TRUE when the record now holds the 12 standard leads in order. */
gboolean etp_record_to_standard_leads (EtpRecord * rec);

/* Index of the standard lead named @name (case-insensitive), or -1. */
gint etp_standard_lead_index (const gchar * name);

/* FALSE (with an ETP_ERROR_FORMAT error naming @rec->source_path) when a
 * sample is NaN or infinite. */
gboolean etp_record_check_finite (const EtpRecord * rec, GError ** error);

G_END_DECLS

#endif
