/* EtpEcgMeta: per-record / per-window facts that travel with ECG buffers and
 * with the embeddings computed from them (see docs/design.md). */
#ifndef ETP_META_H
#define ETP_META_H

#include <gst/gst.h>

G_BEGIN_DECLS

#define ETP_ECG_META_API_TYPE (etp_ecg_meta_api_get_type ())
#define ETP_ECG_META_INFO (etp_ecg_meta_get_info ())

typedef struct _EtpEcgMeta EtpEcgMeta;

/**
 * EtpEcgMeta:
 * @record_id: record name ("00001_hr", "A0001", "ptbxl/21837"...)
 * @patient_id: patient identifier or NULL
 * @dataset: "ptbxl", "cpsc2018", "wfdb", "edf"... or NULL
 * @fold: stratified fold (PTB-XL strat_fold / split fold), -1 when unknown
 * @report: free-text report (UTF-8) or NULL
 * @label_codes: NULL-terminated codes that are positive for this record
 *   (names from @label_set when a label set is selected, else the raw codes:
 *   SCP codes, SNOMED CT codes, CPSC2018 class names)
 * @label_set: NULL-terminated names of every class of the selected label set
 *   (multi-hot order), or NULL when no label set is selected
 * @lead_names: NULL-terminated lead names, one per channel
 * @units: physical units of the samples ("mV", "uV", "z")
 * @source_rate: sampling rate of the record as stored, in Hz
 * @age: age in years, or -1
 * @sex: 0 male, 1 female, -1 unknown
 * @record_samples: number of samples of the whole record at the current rate
 * @window_start: first sample of this buffer within the record (current rate)
 * @window_index: index of this window within its record (0 for whole records)
 * @epoch: pass over the dataset this buffer belongs to (0-based)
 */
struct _EtpEcgMeta {
  GstMeta meta;

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
  guint64 record_samples;
  guint64 window_start;
  guint window_index;
  guint epoch;
};

GType etp_ecg_meta_api_get_type (void);
const GstMetaInfo *etp_ecg_meta_get_info (void);

/* Adds an empty meta (fold -1, age -1, sex -1) to @buffer. */
EtpEcgMeta *etp_buffer_add_ecg_meta (GstBuffer * buffer);
#define etp_buffer_get_ecg_meta(b) \
  ((EtpEcgMeta *) gst_buffer_get_meta ((b), ETP_ECG_META_API_TYPE))

/* Deep-copies every field of @src into @dest (replacing what @dest held). */
void etp_ecg_meta_copy_into (EtpEcgMeta * dest, const EtpEcgMeta * src);

/* Copies the meta of @src (if any) onto @dest; returns the new meta or NULL. */
EtpEcgMeta *etp_buffer_copy_ecg_meta (GstBuffer * dest, GstBuffer * src);

/* TRUE when @code is one of @meta's label codes. */
gboolean etp_ecg_meta_has_label (const EtpEcgMeta * meta, const gchar * code);

/* Fills @out (n = g_strv_length (label_set)) with the multi-hot vector. */
void etp_ecg_meta_multi_hot (const EtpEcgMeta * meta, gfloat * out, guint n);

G_END_DECLS

#endif
