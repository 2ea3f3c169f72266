#include "etpmeta.h"

#include <string.h>

static const gchar *etp_ecg_meta_tags[] = { NULL };

GType
etp_ecg_meta_api_get_type (void)
{
  static GType type = 0;

  if (g_once_init_enter (&type)) {
    /* The plugin and a test binary may each carry a copy of this file: the
     * first copy registers, later ones find the same type by name. */
    GType t = g_type_from_name ("EtpEcgMetaAPI");
    if (t == 0)
      t = gst_meta_api_type_register ("EtpEcgMetaAPI", etp_ecg_meta_tags);
    g_once_init_leave (&type, t);
  }
  return type;
}

static void
etp_ecg_meta_clear (EtpEcgMeta * m)
{
  g_clear_pointer (&m->record_id, g_free);
  g_clear_pointer (&m->patient_id, g_free);
  g_clear_pointer (&m->dataset, g_free);
  g_clear_pointer (&m->report, g_free);
  g_clear_pointer (&m->label_codes, g_strfreev);
  g_clear_pointer (&m->label_set, g_strfreev);
  g_clear_pointer (&m->lead_names, g_strfreev);
  g_clear_pointer (&m->units, g_free);
}

static gboolean
etp_ecg_meta_init (GstMeta * meta, gpointer params, GstBuffer * buffer)
{
  EtpEcgMeta *m = (EtpEcgMeta *) meta;

  m->record_id = m->patient_id = m->dataset = m->report = m->units = NULL;
  m->label_codes = m->label_set = m->lead_names = NULL;
  m->fold = -1;
  m->source_rate = 0.0;
  m->age = -1.0;
  m->sex = -1;
  m->record_samples = 0;
  m->window_start = 0;
  m->window_index = 0;
  m->epoch = 0;
  return TRUE;
}

static void
etp_ecg_meta_free (GstMeta * meta, GstBuffer * buffer)
{
  etp_ecg_meta_clear ((EtpEcgMeta *) meta);
}

void
etp_ecg_meta_copy_into (EtpEcgMeta * dest, const EtpEcgMeta * src)
{
  if (dest == src)
    return;
  etp_ecg_meta_clear (dest);
  dest->record_id = g_strdup (src->record_id);
  dest->patient_id = g_strdup (src->patient_id);
  dest->dataset = g_strdup (src->dataset);
  dest->report = g_strdup (src->report);
  dest->label_codes = g_strdupv (src->label_codes);
  dest->label_set = g_strdupv (src->label_set);
  dest->lead_names = g_strdupv (src->lead_names);
  dest->units = g_strdup (src->units);
  dest->fold = src->fold;
  dest->source_rate = src->source_rate;
  dest->age = src->age;
  dest->sex = src->sex;
  dest->record_samples = src->record_samples;
  dest->window_start = src->window_start;
  dest->window_index = src->window_index;
  dest->epoch = src->epoch;
}

/* The facts describe the record, not the bytes: they survive copies,
 * resampling, windowing and the encoder alike. */
static gboolean
etp_ecg_meta_transform (GstBuffer * dest, GstMeta * meta, GstBuffer * buffer,
    GQuark type, gpointer data)
{
  EtpEcgMeta *dmeta = etp_buffer_get_ecg_meta (dest);

  if (dmeta == NULL)
    dmeta = etp_buffer_add_ecg_meta (dest);
  if (dmeta == NULL)
    return FALSE;
  etp_ecg_meta_copy_into (dmeta, (const EtpEcgMeta *) meta);
  return TRUE;
}

const GstMetaInfo *
etp_ecg_meta_get_info (void)
{
  static const GstMetaInfo *info = NULL;

  if (g_once_init_enter (&info)) {
    const GstMetaInfo *mi = gst_meta_get_info ("EtpEcgMeta");
    if (mi == NULL)
      mi = gst_meta_register (ETP_ECG_META_API_TYPE,
        "EtpEcgMeta", sizeof (EtpEcgMeta), etp_ecg_meta_init,
        etp_ecg_meta_free, etp_ecg_meta_transform);
    g_once_init_leave (&info, mi);
  }
  return info;
}

EtpEcgMeta *
etp_buffer_add_ecg_meta (GstBuffer * buffer)
{
  g_return_val_if_fail (GST_IS_BUFFER (buffer), NULL);
  return (EtpEcgMeta *) gst_buffer_add_meta (buffer, ETP_ECG_META_INFO, NULL);
}

EtpEcgMeta *
etp_buffer_copy_ecg_meta (GstBuffer * dest, GstBuffer * src)
{
  EtpEcgMeta *smeta = etp_buffer_get_ecg_meta (src);
  EtpEcgMeta *dmeta;

  if (smeta == NULL)
    return NULL;
  dmeta = etp_buffer_get_ecg_meta (dest);
  if (dmeta == NULL)
    dmeta = etp_buffer_add_ecg_meta (dest);
  etp_ecg_meta_copy_into (dmeta, smeta);
  return dmeta;
}

gboolean
etp_ecg_meta_has_label (const EtpEcgMeta * meta, const gchar * code)
{
  return meta->label_codes != NULL
      && g_strv_contains ((const gchar * const *) meta->label_codes, code);
}

void
etp_ecg_meta_multi_hot (const EtpEcgMeta * meta, gfloat * out, guint n)
{
  for (guint i = 0; i < n; i++) {
    const gchar *name = meta->label_set && i < g_strv_length (meta->label_set)
        ? meta->label_set[i] : NULL;
    out[i] = (name && etp_ecg_meta_has_label (meta, name)) ? 1.0f : 0.0f;
  }
}
