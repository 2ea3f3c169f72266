#include "etpcaps.h"

#include <stdlib.h>
#include <string.h>

gboolean
etp_ecg_caps_parse (const GstCaps * caps, gint * rate, gint * channels)
{
  const GstStructure *s;
  const gchar *fmt, *layout;
  gint r = 0, c = 0;

  if (caps == NULL || gst_caps_get_size (caps) < 1)
    return FALSE;
  s = gst_caps_get_structure (caps, 0);
  fmt = gst_structure_get_string (s, "format");
  layout = gst_structure_get_string (s, "layout");
  if (!gst_structure_has_name (s, "audio/x-raw")
      || g_strcmp0 (fmt, "F32LE") != 0
      || (layout != NULL && strcmp (layout, "interleaved") != 0)
      || !gst_structure_get_int (s, "rate", &r)
      || !gst_structure_get_int (s, "channels", &c) || r <= 0 || c <= 0)
    return FALSE;
  *rate = r;
  *channels = c;
  return TRUE;
}

GstCaps *
etp_tensor_caps_new (guint dim)
{
  gchar *dims = g_strdup_printf ("%u:1:1:1", dim);
  GstCaps *caps = gst_caps_new_simple ("other/tensors",
      "format", G_TYPE_STRING, "static",
      "num_tensors", G_TYPE_INT, 1,
      "types", G_TYPE_STRING, "float32",
      "dimensions", G_TYPE_STRING, dims,
      "framerate", GST_TYPE_FRACTION, 0, 1, NULL);

  g_free (dims);
  return caps;
}

guint
etp_tensor_caps_get_dim (const GstCaps * caps)
{
  const GstStructure *s;
  const gchar *types, *dims;
  gint num = 0;
  guint64 d[4] = { 1, 1, 1, 1 };
  gchar **parts;
  guint n, i;

  if (caps == NULL || gst_caps_get_size (caps) < 1)
    return 0;
  s = gst_caps_get_structure (caps, 0);
  if (!gst_structure_has_name (s, "other/tensors"))
    return 0;
  if (!gst_structure_get_int (s, "num_tensors", &num) || num != 1)
    return 0;
  types = gst_structure_get_string (s, "types");
  dims = gst_structure_get_string (s, "dimensions");
  if (types == NULL || strcmp (types, "float32") != 0 || dims == NULL)
    return 0;
  parts = g_strsplit (dims, ":", 4);
  n = g_strv_length (parts);
  for (i = 0; i < n; i++) {
    gchar *end = NULL;
    d[i] = g_ascii_strtoull (parts[i], &end, 10);
    if (end == parts[i] || *end != '\0' || d[i] == 0) {
      g_strfreev (parts);
      return 0;
    }
  }
  g_strfreev (parts);
  if (n == 0 || d[1] != 1 || d[2] != 1 || d[3] != 1 || d[0] > G_MAXINT)
    return 0;
  return (guint) d[0];
}
