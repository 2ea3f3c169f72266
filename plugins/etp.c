/* The `etp` plugin: ECG-Text Pre-training elements (see docs/). */
#include "config.h"

#include <gst/gst.h>
#include "etpmeta.h"

#define DECLARE_AND_REGISTER(name) \
  GST_ELEMENT_REGISTER_DECLARE (name); \
  ok &= GST_ELEMENT_REGISTER (name, plugin)

static gboolean
plugin_init (GstPlugin * plugin)
{
  gboolean ok = TRUE;

  /* Make the meta known before any element creates one. */
  etp_ecg_meta_get_info ();
  DECLARE_AND_REGISTER (ecgsrc);
  DECLARE_AND_REGISTER (ecgresample);
  DECLARE_AND_REGISTER (ecgwindow);
  DECLARE_AND_REGISTER (ecgaugment);
  DECLARE_AND_REGISTER (ecgencoder);
  DECLARE_AND_REGISTER (textencoder);
  DECLARE_AND_REGISTER (zeroshot);
  DECLARE_AND_REGISTER (etptrain);
  DECLARE_AND_REGISTER (linearprobe);
  return ok;
}

GST_PLUGIN_DEFINE (GST_VERSION_MAJOR, GST_VERSION_MINOR, etp,
    "ECG-Text Pre-training (ETP): ECG ingestion, encoders, contrastive "
    "pre-training, zero-shot and linear evaluation",
    plugin_init, VERSION, "LGPL", GST_PACKAGE_NAME, GST_PACKAGE_ORIGIN)
