/* linearprobe: linear evaluation of frozen features (the paper's Table 1).
 * Two always sink pads, "train" and "test", take other/tensors float32
 * vectors with EtpEcgMeta labels; at EOS of both a logistic-regression head
 * is fitted on the train features and scored on the test records. */
#ifndef ETP_LINEARPROBE_H
#define ETP_LINEARPROBE_H

#include <gst/gst.h>

G_BEGIN_DECLS

#define ETP_TYPE_LINEAR_PROBE (etp_linear_probe_get_type ())
G_DECLARE_FINAL_TYPE (EtpLinearProbe, etp_linear_probe, ETP, LINEAR_PROBE,
    GstElement)

typedef enum {
  ETP_MULTI_LABEL_AUTO = 0,
  ETP_MULTI_LABEL_TRUE = 1,
  ETP_MULTI_LABEL_FALSE = 2,
} EtpMultiLabelMode;

GST_ELEMENT_REGISTER_DECLARE (linearprobe);

G_END_DECLS

#endif
