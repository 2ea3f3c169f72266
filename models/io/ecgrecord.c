#include "io/ecgrecord.h"
#include "util/etperror.h"

#include <math.h>
#include <string.h>

const gchar *const etp_standard_leads[12] = {
  "I", "II", "III", "aVR", "aVL", "aVF",
  "V1", "V2", "V3", "V4", "V5", "V6"
};

EtpRecord *
etp_record_new (void)
{
  EtpRecord *rec = g_new0 (EtpRecord, 1);
  rec->fold = -1;
  rec->age = -1;
  rec->sex = -1;
  rec->label_codes = g_new0 (gchar *, 1);
  return rec;
}

void
etp_record_free (EtpRecord * rec)
{
  if (rec == NULL)
    return;
  g_free (rec->record_id);
  g_free (rec->patient_id);
  g_free (rec->dataset);
  g_free (rec->report);
  g_strfreev (rec->label_codes);
  g_strfreev (rec->label_set);
  g_strfreev (rec->lead_names);
  g_free (rec->units);
  g_free (rec->samples);
  g_strfreev (rec->comments);
  g_free (rec->source_path);
  g_free (rec);
}

gint
etp_standard_lead_index (const gchar * name)
{
  if (name == NULL)
    return -1;
  for (gint i = 0; i < 12; i++)
    if (g_ascii_strcasecmp (name, etp_standard_leads[i]) == 0)
      return i;
  return -1;
}

gboolean
etp_record_to_standard_leads (EtpRecord * rec)
{
  gint src_of[12];
  gboolean identity = TRUE;

  if (rec->n_leads != 12 || rec->lead_names == NULL)
    return FALSE;
  for (gint i = 0; i < 12; i++)
    src_of[i] = -1;
  for (guint c = 0; c < 12; c++) {
    gint idx = etp_standard_lead_index (rec->lead_names[c]);
    if (idx < 0 || src_of[idx] >= 0)
      return FALSE;
    src_of[idx] = (gint) c;
    if (idx != (gint) c)
      identity = FALSE;
  }
  if (!identity && rec->samples != NULL) {
    gfloat tmp[12];
    for (guint64 i = 0; i < rec->n_samples; i++) {
      gfloat *row = rec->samples + i * 12;
      for (gint k = 0; k < 12; k++)
        tmp[k] = row[src_of[k]];
      memcpy (row, tmp, sizeof tmp);
    }
  }
  for (gint k = 0; k < 12; k++) {
    g_free (rec->lead_names[k]);
    rec->lead_names[k] = g_strdup (etp_standard_leads[k]);
  }
  return TRUE;
}

gboolean
etp_record_check_finite (const EtpRecord * rec, GError ** error)
{
  guint64 n = rec->n_samples * rec->n_leads;
  for (guint64 i = 0; i < n; i++) {
    if (!isfinite (rec->samples[i])) {
      g_set_error (error, ETP_ERROR, ETP_ERROR_FORMAT,
          "%s: sample %" G_GUINT64_FORMAT " of lead %u is not a finite "
          "number (NaN or infinity)",
          rec->source_path ? rec->source_path : "(record)",
          i / rec->n_leads, (guint) (i % rec->n_leads));
      return FALSE;
    }
  }
  return TRUE;
}
