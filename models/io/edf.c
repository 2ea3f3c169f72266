#include "io/edf.h"
#include "util/etperror.h"

#include <math.h>
#include <string.h>
#include <edflib.h>

static const gchar *
edf_error_text (int code)
{
  switch (code) {
    case EDFLIB_MALLOC_ERROR: return "out of memory";
    case EDFLIB_NO_SUCH_FILE_OR_DIRECTORY: return "no such file";
    case EDFLIB_FILE_CONTAINS_FORMAT_ERRORS:
      return "the file is not a valid EDF/BDF (format errors)";
    case EDFLIB_MAXFILES_REACHED: return "too many open files";
    case EDFLIB_FILE_READ_ERROR: return "read error";
    case EDFLIB_FILE_ALREADY_OPENED: return "file already opened";
    case EDFLIB_FILETYPE_ERROR: return "unknown file type";
    case EDFLIB_FILE_WRITE_ERROR: return "write error";
    case EDFLIB_NUMBER_OF_SIGNALS_INVALID: return "invalid number of signals";
    case EDFLIB_FILE_IS_DISCONTINUOUS:
      return "EDF+D/BDF+D (discontinuous) files are not supported";
    case EDFLIB_INVALID_READ_ANNOTS_VALUE: return "invalid annotation mode";
    default: return "cannot open";
  }
}

/* "ECG I", "ECG aVR", "EKG V1" -> "I", "aVR", "V1" when that is a lead. */
static gchar *
lead_name (const gchar * label)
{
  g_autofree gchar *l = g_strstrip (g_strdup (label));
  const gchar *p = l;
  if (g_ascii_strncasecmp (p, "ECG", 3) == 0
      || g_ascii_strncasecmp (p, "EKG", 3) == 0) {
    const gchar *q = p + 3;
    while (*q == ' ' || *q == '-' || *q == '_')
      q++;
    if (etp_standard_lead_index (q) >= 0)
      return g_strdup (q);
  }
  return g_strdup (l);
}

EtpRecord *
etp_edf_read (const gchar * path, GError ** error)
{
  struct edf_hdr_struct *hdr = g_new0 (struct edf_hdr_struct, 1);
  EtpRecord *rec = NULL;
  gdouble *buf = NULL;

  if (edfopen_file_readonly (path, hdr, EDFLIB_DO_NOT_READ_ANNOTATIONS) < 0) {
    g_set_error (error, ETP_ERROR, ETP_ERROR_FORMAT, "%s: %s", path,
        edf_error_text (hdr->filetype));
    g_free (hdr);
    return NULL;
  }
  int h = hdr->handle;
  int ns = hdr->edfsignals;
  if (ns < 1) {
    g_set_error (error, ETP_ERROR, ETP_ERROR_FORMAT,
        "%s: no signals (only annotations)", path);
    goto out;
  }
  long long n = hdr->signalparam[0].smp_in_file;
  int spr = hdr->signalparam[0].smp_in_datarecord;
  for (int i = 1; i < ns; i++) {
    if (hdr->signalparam[i].smp_in_datarecord != spr
        || hdr->signalparam[i].smp_in_file != n) {
      g_set_error (error, ETP_ERROR, ETP_ERROR_UNSUPPORTED,
          "%s: signal %d (%s) has %d samples per data record, signal 0 has "
          "%d: mixed sampling rates are not supported", path, i,
          hdr->signalparam[i].label, hdr->signalparam[i].smp_in_datarecord,
          spr);
      goto out;
    }
  }
  if (hdr->datarecord_duration <= 0 || spr <= 0 || n <= 0
      || n > (long long) G_MAXINT) {
    g_set_error (error, ETP_ERROR, ETP_ERROR_FORMAT,
        "%s: bad data record duration or sample count", path);
    goto out;
  }
  rec = etp_record_new ();
  gchar *base = g_path_get_basename (path);
  gchar *dot = strrchr (base, '.');
  if (dot)
    *dot = '\0';
  rec->record_id = base;
  rec->dataset = g_strdup ("edf");
  rec->source_path = g_strdup (path);
  rec->source_rate = (gdouble) spr * EDFLIB_TIME_DIMENSION /
      (gdouble) hdr->datarecord_duration;
  rec->n_leads = (guint) ns;
  rec->n_samples = (guint64) n;
  rec->units = g_strstrip (g_strdup (hdr->signalparam[0].physdimension));
  rec->lead_names = g_new0 (gchar *, ns + 1);
  for (int i = 0; i < ns; i++)
    rec->lead_names[i] = lead_name (hdr->signalparam[i].label);
  if (hdr->patientcode[0])
    rec->patient_id = g_strstrip (g_strdup (hdr->patientcode));
  if (g_ascii_strncasecmp (hdr->gender, "male", 4) == 0)
    rec->sex = 0;
  else if (g_ascii_strncasecmp (hdr->gender, "female", 6) == 0)
    rec->sex = 1;
  rec->samples = g_new (gfloat, (gsize) n * ns);
  buf = g_new (gdouble, n);
  for (int i = 0; i < ns; i++) {
    int got = edfread_physical_samples (h, i, (int) n, buf);
    if (got != n) {
      g_set_error (error, ETP_ERROR, ETP_ERROR_MISMATCH,
          "%s: signal %d: read %d of %lld samples (truncated file)", path, i,
          got, n);
      etp_record_free (rec);
      rec = NULL;
      goto out;
    }
    for (long long k = 0; k < n; k++)
      rec->samples[k * ns + i] = (gfloat) buf[k];
  }
  etp_record_to_standard_leads (rec);
out:
  g_free (buf);
  edfclose_file (h);
  g_free (hdr);
  return rec;
}
