/* ecgaugment: seeded training-time augmentations of ECG windows (random
 * crop/segment, sign inversion, amplitude scaling, Gaussian noise, lead
 * masking) for the ECG-ECG self-supervised views; passthrough in eval mode.
 * See docs/elements/ecgaugment.md. */
#ifndef ETP_ECG_AUGMENT_H
#define ETP_ECG_AUGMENT_H

#include <gst/gst.h>
#include <gst/base/gstbasetransform.h>

G_BEGIN_DECLS

#define ETP_TYPE_ECG_AUGMENT (gst_ecg_augment_get_type ())
G_DECLARE_FINAL_TYPE (GstEcgAugment, gst_ecg_augment, GST, ECG_AUGMENT,
    GstBaseTransform)

typedef enum {
  ETP_ECG_AUGMENT_MODE_TRAIN,
  ETP_ECG_AUGMENT_MODE_EVAL,
} EtpEcgAugmentMode;

typedef enum {
  ETP_ECG_CROP_FILL_RESAMPLE,
  ETP_ECG_CROP_FILL_ZERO,
} EtpEcgCropFill;

struct _GstEcgAugment {
  GstBaseTransform parent;

  /* properties */
  guint seed;
  EtpEcgAugmentMode mode;
  gdouble crop;
  EtpEcgCropFill crop_fill;
  gdouble invert_prob;
  gdouble scale_min, scale_max;
  gdouble noise_std;
  gdouble mask_prob;

  /* state */
  GRand *rand;
  guint channels;
  gfloat *scratch;
  gsize scratch_len;
  guint64 n_buffers;
};

GST_ELEMENT_REGISTER_DECLARE (ecgaugment);

G_END_DECLS

#endif
