#include "io/cpsc2018.h"
#include "util/etperror.h"

#include <glib/gstdio.h>
#include <errno.h>
#include <math.h>
#include <string.h>
#include <matio.h>

const gchar *const etp_cpsc2018_classes[9] = {
  "Normal", "AF", "I-AVB", "LBBB", "RBBB", "PAC", "PVC", "STD", "STE"
};

/* 60 s records at 500 Hz are the longest in CPSC2018; allow far more but
 * not absurd (a decompression bomb would otherwise allocate gigabytes). */
#define CPSC_MAX_SAMPLES (500u * 3600u)

static gboolean
numeric_class (enum matio_classes c)
{
  switch (c) {
    case MAT_C_DOUBLE: case MAT_C_SINGLE: case MAT_C_INT8: case MAT_C_UINT8:
    case MAT_C_INT16: case MAT_C_UINT16: case MAT_C_INT32: case MAT_C_UINT32:
    case MAT_C_INT64: case MAT_C_UINT64:
      return TRUE;
    default:
      return FALSE;
  }
}

static gdouble
mat_value (const matvar_t * v, gsize i)
{
  switch (v->class_type) {
    case MAT_C_DOUBLE: return ((const gdouble *) v->data)[i];
    case MAT_C_SINGLE: return ((const gfloat *) v->data)[i];
    case MAT_C_INT8: return ((const gint8 *) v->data)[i];
    case MAT_C_UINT8: return ((const guint8 *) v->data)[i];
    case MAT_C_INT16: return ((const gint16 *) v->data)[i];
    case MAT_C_UINT16: return ((const guint16 *) v->data)[i];
    case MAT_C_INT32: return ((const gint32 *) v->data)[i];
    case MAT_C_UINT32: return ((const guint32 *) v->data)[i];
    case MAT_C_INT64: return (gdouble) ((const gint64 *) v->data)[i];
    case MAT_C_UINT64: return (gdouble) ((const guint64 *) v->data)[i];
    default: return NAN;
  }
}

static gsize
class_size (enum matio_classes c)
{
  switch (c) {
    case MAT_C_DOUBLE: case MAT_C_INT64: case MAT_C_UINT64: return 8;
    case MAT_C_SINGLE: case MAT_C_INT32: case MAT_C_UINT32: return 4;
    case MAT_C_INT16: case MAT_C_UINT16: return 2;
    default: return 1;
  }
}

EtpRecord *
etp_cpsc2018_read_mat (const gchar * path, GError ** error)
{
  GStatBuf st;
  if (g_stat (path, &st) != 0) {
    g_set_error (error, ETP_ERROR, ETP_ERROR_MISSING, "%s: cannot open: %s",
        path, g_strerror (errno));
    return NULL;
  }
  mat_t *mat = Mat_Open (path, MAT_ACC_RDONLY);
  if (!mat) {
    g_set_error (error, ETP_ERROR, ETP_ERROR_FORMAT,
        "%s: not a MATLAB file matio can read", path);
    return NULL;
  }
  EtpRecord *rec = NULL;
  matvar_t *info = Mat_VarReadInfo (mat, "ECG");
  matvar_t *ecg = NULL;
  if (!info || info->class_type != MAT_C_STRUCT) {
    g_set_error (error, ETP_ERROR, ETP_ERROR_FORMAT,
        "%s: no struct variable 'ECG' (not a CPSC2018 record)", path);
    goto out;
  }
  {
    /* Check the declared size before reading (matio allocates what the
     * file declares). matio's info pass does not always describe the
     * fields; then the checks after the read apply. */
    matvar_t *dinfo = Mat_VarGetStructFieldByName (info, "data", 0);
    if (dinfo && dinfo->dims && dinfo->rank == 2
        && (dinfo->dims[1] > CPSC_MAX_SAMPLES || dinfo->dims[0] > 64)) {
      g_set_error (error, ETP_ERROR, ETP_ERROR_FORMAT,
          "%s: ECG.data declares %zu x %zu values (absurd size)", path,
          dinfo->dims[0], dinfo->dims[1]);
      goto out;
    }
    if (dinfo && dinfo->dims && dinfo->rank == 2
        && dinfo->compression == MAT_COMPRESSION_NONE
        && numeric_class (dinfo->class_type)
        && (guint64) dinfo->dims[0] * dinfo->dims[1] *
        class_size (dinfo->class_type) > (guint64) st.st_size) {
      g_set_error (error, ETP_ERROR, ETP_ERROR_MISMATCH,
          "%s: ECG.data declares %zu x %zu values, more than the file holds "
          "(truncated)", path, dinfo->dims[0], dinfo->dims[1]);
      goto out;
    }
  }
  ecg = Mat_VarRead (mat, "ECG");
  matvar_t *data = ecg ? Mat_VarGetStructFieldByName (ecg, "data", 0) : NULL;
  if (!data || !data->data || !data->dims) {
    g_set_error (error, ETP_ERROR, ETP_ERROR_FORMAT,
        "%s: cannot read ECG.data (truncated or corrupt file)", path);
    goto out;
  }
  if (!numeric_class (data->class_type) || data->rank != 2
      || data->isComplex) {
    g_set_error (error, ETP_ERROR, ETP_ERROR_FORMAT,
        "%s: ECG.data is not a real numeric matrix", path);
    goto out;
  }
  if (data->dims[0] != 12) {
    g_set_error (error, ETP_ERROR, ETP_ERROR_MISMATCH,
        "%s: ECG.data has %zu rows, expected 12 leads (wrong lead count)",
        path, data->dims[0]);
    goto out;
  }
  if (data->dims[1] == 0 || data->dims[1] > CPSC_MAX_SAMPLES) {
    g_set_error (error, ETP_ERROR, ETP_ERROR_FORMAT,
        "%s: ECG.data has %zu samples per lead (absurd size)", path,
        data->dims[1]);
    goto out;
  }
  rec = etp_record_new ();
  gchar *base = g_path_get_basename (path);
  if (g_str_has_suffix (base, ".mat"))
    base[strlen (base) - 4] = '\0';
  rec->record_id = base;
  rec->dataset = g_strdup ("cpsc2018");
  rec->source_path = g_strdup (path);
  rec->source_rate = ETP_CPSC2018_RATE;
  rec->units = g_strdup ("mV");
  rec->n_leads = 12;
  rec->n_samples = data->dims[1];
  rec->lead_names = g_new0 (gchar *, 13);
  for (int k = 0; k < 12; k++)
    rec->lead_names[k] = g_strdup (etp_standard_leads[k]);
  rec->samples = g_new (gfloat, rec->n_samples * 12);
  /* column-major 12 x N == frame-interleaved */
  for (gsize i = 0; i < rec->n_samples * 12; i++)
    rec->samples[i] = (gfloat) mat_value (data, i);
  if (!etp_record_check_finite (rec, error)) {
    etp_record_free (rec);
    rec = NULL;
    goto out;
  }
  matvar_t *sex = Mat_VarGetStructFieldByName (ecg, "sex", 0);
  if (sex && sex->class_type == MAT_C_CHAR && sex->data && sex->rank == 2) {
    gsize n = sex->dims[0] * sex->dims[1];
    g_autofree gchar *s = NULL;
    if (sex->data_type == MAT_T_UINT8 || sex->data_type == MAT_T_UTF8
        || sex->data_type == MAT_T_INT8) {
      s = g_strndup (sex->data, n);
    } else if (sex->data_type == MAT_T_UINT16 || sex->data_type == MAT_T_UTF16) {
      s = g_malloc0 (n + 1);
      for (gsize i = 0; i < n; i++)
        s[i] = (gchar) ((const guint16 *) sex->data)[i];
    }
    if (s) {
      if (g_ascii_strncasecmp (s, "male", 4) == 0 || g_ascii_strcasecmp (s,
              "m") == 0)
        rec->sex = 0;
      else if (g_ascii_strncasecmp (s, "female", 6) == 0
          || g_ascii_strcasecmp (s, "f") == 0)
        rec->sex = 1;
    }
  }
  matvar_t *age = Mat_VarGetStructFieldByName (ecg, "age", 0);
  if (age && numeric_class (age->class_type) && age->data
      && age->dims[0] * age->dims[1] >= 1) {
    gdouble a = mat_value (age, 0);
    if (isfinite (a) && a >= 0 && a < 200)
      rec->age = a;
  }
out:
  if (ecg)
    Mat_VarFree (ecg);
  if (info)
    Mat_VarFree (info);
  Mat_Close (mat);
  return rec;
}

gboolean
etp_cpsc2018_write_mat (const gchar * path, const gdouble * data,
    guint n_leads, guint64 n_samples, const gchar * sex, gdouble age,
    GError ** error)
{
  mat_t *mat = Mat_CreateVer (path, NULL, MAT_FT_MAT5);
  if (!mat) {
    g_set_error (error, ETP_ERROR, ETP_ERROR_IO, "%s: cannot create", path);
    return FALSE;
  }
  const char *fields[3] = { "sex", "age", "data" };
  size_t one[2] = { 1, 1 };
  matvar_t *st = Mat_VarCreateStruct ("ECG", 2, one, fields, 3);
  size_t sdims[2] = { 1, strlen (sex) };
  matvar_t *vsex = Mat_VarCreate ("sex", MAT_C_CHAR, MAT_T_UINT8, 2, sdims,
      (void *) sex, 0);
  matvar_t *vage = Mat_VarCreate ("age", MAT_C_DOUBLE, MAT_T_DOUBLE, 2, one,
      &age, 0);
  size_t ddims[2] = { n_leads, (size_t) n_samples };
  matvar_t *vdata = Mat_VarCreate ("data", MAT_C_DOUBLE, MAT_T_DOUBLE, 2,
      ddims, (void *) data, 0);
  Mat_VarSetStructFieldByName (st, "sex", 0, vsex);
  Mat_VarSetStructFieldByName (st, "age", 0, vage);
  Mat_VarSetStructFieldByName (st, "data", 0, vdata);
  int rc = Mat_VarWrite (mat, st, MAT_COMPRESSION_NONE);
  Mat_VarFree (st);
  Mat_Close (mat);
  if (rc != 0) {
    g_set_error (error, ETP_ERROR, ETP_ERROR_IO, "%s: cannot write", path);
    return FALSE;
  }
  return TRUE;
}
