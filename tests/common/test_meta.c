/* EtpEcgMeta and the caps helpers: deep copies, transform on buffer copy, multi-hot. */
#include <gst/check/gstcheck.h>
#include "etpmeta.h"
#include "etpcaps.h"

GST_START_TEST (test_meta_survives_copy)
{
  GstBuffer *buf = gst_buffer_new_allocate (NULL, 48, NULL);
  EtpEcgMeta *m = etp_buffer_add_ecg_meta (buf);
  const gchar *codes[] = { "MI", "STTC", NULL };
  const gchar *set[] = { "NORM", "MI", "STTC", "CD", "HYP", NULL };
  GstBuffer *copy;
  EtpEcgMeta *c;
  gfloat hot[5];

  fail_unless (m != NULL);
  fail_unless_equals_int (m->fold, -1);
  m->record_id = g_strdup ("00001_hr");
  m->report = g_strdup ("sinusrhythmus");
  m->label_codes = g_strdupv ((gchar **) codes);
  m->label_set = g_strdupv ((gchar **) set);
  m->fold = 3;
  m->source_rate = 500.0;

  copy = gst_buffer_copy (buf);
  gst_buffer_unref (buf);
  c = etp_buffer_get_ecg_meta (copy);
  fail_unless (c != NULL);
  fail_unless_equals_string (c->record_id, "00001_hr");
  fail_unless_equals_string (c->report, "sinusrhythmus");
  fail_unless_equals_int (c->fold, 3);
  fail_unless (etp_ecg_meta_has_label (c, "MI"));
  fail_if (etp_ecg_meta_has_label (c, "NORM"));
  etp_ecg_meta_multi_hot (c, hot, 5);
  fail_unless (hot[0] == 0.0f && hot[1] == 1.0f && hot[2] == 1.0f
      && hot[3] == 0.0f && hot[4] == 0.0f);
  gst_buffer_unref (copy);
}
GST_END_TEST;

GST_START_TEST (test_tensor_caps)
{
  GstCaps *caps = etp_tensor_caps_new (512);
  GstCaps *bad = gst_caps_from_string ("other/tensors, format=static, "
      "num_tensors=1, types=uint8, dimensions=512:1:1:1");
  GstCaps *templ = gst_caps_from_string (ETP_TENSOR_CAPS_STR);

  fail_unless_equals_int (etp_tensor_caps_get_dim (caps), 512);
  fail_unless (gst_caps_can_intersect (caps, templ));
  fail_unless_equals_int (etp_tensor_caps_get_dim (bad), 0);
  gst_caps_unref (caps);
  gst_caps_unref (bad);
  gst_caps_unref (templ);
}
GST_END_TEST;

static Suite *
meta_suite (void)
{
  Suite *s = suite_create ("etpmeta");
  TCase *tc = tcase_create ("general");

  suite_add_tcase (s, tc);
  tcase_add_test (tc, test_meta_survives_copy);
  tcase_add_test (tc, test_tensor_caps);
  return s;
}

GST_CHECK_MAIN (meta);
