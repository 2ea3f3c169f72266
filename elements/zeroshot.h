/* zeroshot: similarity classifier over class prompts (ETP zero-shot
 * classification), plus EtpClassificationMeta, the per-window result it
 * attaches to the embedding buffers it passes on. */
#ifndef ETP_ZEROSHOT_H
#define ETP_ZEROSHOT_H

#include <gst/gst.h>
#include <gst/base/gstbasetransform.h>

G_BEGIN_DECLS

#define ETP_TYPE_ZERO_SHOT (etp_zero_shot_get_type ())
G_DECLARE_FINAL_TYPE (EtpZeroShot, etp_zero_shot, ETP, ZERO_SHOT,
    GstBaseTransform)

GST_ELEMENT_REGISTER_DECLARE (zeroshot);

typedef enum {
  ETP_ZEROSHOT_SCORING_COSINE = 0,
  ETP_ZEROSHOT_SCORING_SOFTMAX = 1,
} EtpZeroShotScoring;

#define ETP_CLASSIFICATION_META_API_TYPE (etp_classification_meta_api_get_type ())
#define ETP_CLASSIFICATION_META_INFO (etp_classification_meta_get_info ())

typedef struct _EtpClassificationMeta EtpClassificationMeta;

/**
 * EtpClassificationMeta:
 * @n_classes: number of classes
 * @class_names: NULL-terminated class names
 * @scores: the scores the element reports (cosine or softmax, see @scoring)
 * @cosine: cosine similarity to each class's prompt embedding
 * @probabilities: softmax over the classes of cosine / temperature
 * @top_index: arg-max class (-1 when the embedding was zero / not finite)
 * @scoring: which of the two @scores holds
 */
struct _EtpClassificationMeta {
  GstMeta meta;

  guint n_classes;
  gchar **class_names;
  gfloat *scores;
  gfloat *cosine;
  gfloat *probabilities;
  gint top_index;
  EtpZeroShotScoring scoring;
};

GType etp_classification_meta_api_get_type (void);
const GstMetaInfo *etp_classification_meta_get_info (void);
/* Adds a meta with @n_classes zeroed scores and copies of @class_names. */
EtpClassificationMeta *etp_buffer_add_classification_meta (GstBuffer * buffer,
    const gchar * const *class_names, guint n_classes);
#define etp_buffer_get_classification_meta(b) \
  ((EtpClassificationMeta *) gst_buffer_get_meta ((b), \
      ETP_CLASSIFICATION_META_API_TYPE))

G_END_DECLS

#endif
