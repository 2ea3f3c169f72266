/* The `etp` plugin: ECG-Text Pre-training elements (see docs/). */
#include "config.h"

#include <gst/gst.h>
#include "etpmeta.h"

#define DECLARE_AND_REGISTER(name) \
  GST_ELEMENT_REGISTER_DECLARE (name); \
  ok |= GST_ELEMENT_REGISTER (name, plugin)

static gboolean
plugin_init (GstPlugin * plugin)
{
  gboolean ok = FALSE;

  /* Make the meta known before any element creates one. */
  etp_ecg_meta_get_info ();
#ifdef ETP_HAVE_ECGSRC
  DECLARE_AND_REGISTER (ecgsrc);
#endif
#ifdef ETP_HAVE_ECGRESAMPLE
  DECLARE_AND_REGISTER (ecgresample);
#endif
#ifdef ETP_HAVE_ECGWINDOW
  DECLARE_AND_REGISTER (ecgwindow);
#endif
#ifdef ETP_HAVE_ECGAUGMENT
  DECLARE_AND_REGISTER (ecgaugment);
#endif
#ifdef ETP_HAVE_ECGENCODER
  DECLARE_AND_REGISTER (ecgencoder);
#endif
#ifdef ETP_HAVE_TEXTENCODER
  DECLARE_AND_REGISTER (textencoder);
#endif
#ifdef ETP_HAVE_ZEROSHOT
  DECLARE_AND_REGISTER (zeroshot);
#endif
#ifdef ETP_HAVE_ETPTRAIN
  DECLARE_AND_REGISTER (etptrain);
#endif
#ifdef ETP_HAVE_LINEARPROBE
  DECLARE_AND_REGISTER (linearprobe);
#endif
  return ok;
}

GST_PLUGIN_DEFINE (GST_VERSION_MAJOR, GST_VERSION_MINOR, etp,
    "ECG-Text Pre-training (ETP): ECG ingestion, encoders, contrastive "
    "pre-training, zero-shot and linear evaluation",
    plugin_init, VERSION, "LGPL", GST_PACKAGE_NAME, GST_PACKAGE_ORIGIN)
