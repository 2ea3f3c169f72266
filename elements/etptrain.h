/* etptrain: contrastive ECG-text pre-training (ETP) inside a pipeline.
 * See docs/elements/etptrain.md. */
#ifndef ETP_ELEMENTS_ETPTRAIN_H
#define ETP_ELEMENTS_ETPTRAIN_H

#include <gst/gst.h>
#include <gst/base/gstaggregator.h>

G_BEGIN_DECLS

#define ETP_TYPE_ETP_TRAIN (gst_etp_train_get_type ())
G_DECLARE_FINAL_TYPE (GstEtpTrain, gst_etp_train, ETP, ETP_TRAIN, GstAggregator)

/* Optimiser (property "optimizer"). */
typedef enum {
  ETP_TRAIN_OPTIMIZER_ADAM = 0,  /* L2 penalty added to the gradient (torch.optim.Adam) */
  ETP_TRAIN_OPTIMIZER_ADAMW = 1, /* decoupled weight decay (torch.optim.AdamW) */
} EtpTrainOptimizer;

/* Learning-rate schedule (property "schedule"). */
typedef enum {
  ETP_TRAIN_SCHEDULE_CONSTANT = 0,
  ETP_TRAIN_SCHEDULE_COSINE = 1,
} EtpTrainSchedule;

/* ECG windows without a text (property "unpaired"). */
typedef enum {
  ETP_TRAIN_UNPAIRED_ERROR = 0,
  ETP_TRAIN_UNPAIRED_DROP_ECG = 1,
} EtpTrainUnpaired;

/* Compute device (property "device"). */
typedef enum {
  ETP_TRAIN_DEVICE_AUTO = 0,
  ETP_TRAIN_DEVICE_CPU = 1,
  ETP_TRAIN_DEVICE_CUDA = 2,
} EtpTrainDevice;

GST_ELEMENT_REGISTER_DECLARE (etptrain);

G_END_DECLS

#endif
