/* ResNet18-1D ECG encoder with the ETP heads (see docs/checkpoint.md and
 * shared/DESIGN.md):
 *
 *   x (n, leads, L) -> conv1 k7 s2 p3 (no bias) -> bn1 -> relu
 *     -> layer1..layer4 (2 BasicBlocks each; w, 2w, 4w, 8w channels; first
 *        block strides 1, 2, 2, 2; 1x1 conv + BN shortcut where the shape
 *        changes) -> global average pool -> features (n, 8w)
 *     -> ecg_proj (8w -> embed_dim) -> L2 normalise -> embedding
 *   text features (n, text_dim) -> text_proj (text_dim -> embed_dim) -> L2
 *   logit_scale = log(1 / temperature), learnable (CLIP) or fixed.
 *
 * w = 64 and embed_dim = 512 in the paper's model (3.85 M conv parameters;
 * 1.7 GMAC per ECG at L = 5000). Every layer runs through the engine
 * (engine/engine.h), so the same code runs on the CPU and CUDA backends.
 *
 * Memory: parameters, gradients, the Adam moments and the BatchNorm running
 * statistics each live in one flat device buffer laid out once at creation;
 * training and inference activations live in one arena each, sized for the
 * largest (batch, length) seen and reused, so steady-state steps allocate
 * nothing. Tensors are named as torchvision's ResNet (conv1.weight,
 * layer2.0.downsample.1.running_mean, ...), so checkpoints load into the
 * equivalent PyTorch module (nets/checkpoint.h). */
#ifndef ETP_NETS_RESNET1D_H
#define ETP_NETS_RESNET1D_H

#include <glib.h>

#include "engine/engine.h"

G_BEGIN_DECLS

typedef struct {
  guint leads;          /* input channels (12) */
  guint width;          /* channels of the stem and layer1 (64) */
  guint embed_dim;      /* projection size (512) */
  guint text_dim;       /* size of the frozen text features (768 for BERT) */
  guint sample_rate;    /* Hz the model was trained at; 0 = not recorded */
  guint length;         /* window length in samples; 0 = not recorded */
} EtpResnet1dConfig;

/* The paper's model: 12 leads, width 64, embed 512, text 768, 500 Hz, 5000. */
void etp_resnet1d_config_init (EtpResnet1dConfig * cfg);

typedef enum {
  ETP_PRECISION_FP32 = 0,
  ETP_PRECISION_BF16,           /* inference only: bf16 weights/activations,
                                 * float32 accumulation */
} EtpPrecision;

typedef struct {
  EtpAdamParams adam;           /* lr 2e-3, betas 0.9/0.999, eps 1e-8, wd 1e-5 */
  gfloat bn_momentum;           /* 0.1 */
  gfloat bn_eps;                /* 1e-5 */
  gboolean learn_temperature;   /* TRUE: logit_scale is trained (CLIP) */
  gfloat max_logit_scale;       /* clamp after each step: log(100) as CLIP */
  gfloat ssl_weight;            /* weight of the ECG-ECG loss when two views
                                 * are given (1.0) */
} EtpTrainParams;

typedef struct {
  gfloat loss;                  /* loss_text + ssl_weight * loss_ssl */
  gfloat loss_text;             /* ECG-text symmetric InfoNCE */
  gfloat loss_ssl;              /* ECG-ECG InfoNCE (0 without a second view) */
  gfloat logit_scale;           /* after the step */
  gint step;                    /* optimiser steps taken so far */
} EtpTrainResult;

typedef enum {
  ETP_TENSOR_PARAM,             /* trainable (has gradient and Adam moments) */
  ETP_TENSOR_BUFFER,            /* BatchNorm running_mean / running_var */
  ETP_TENSOR_COUNTER,           /* BatchNorm num_batches_tracked (int64) */
} EtpTensorKind;

typedef struct {
  const gchar *name;            /* torchvision name */
  EtpTensorKind kind;
  guint ndim;
  gint64 shape[3];
  gsize numel;
} EtpTensorInfo;

typedef struct _EtpResnet1d EtpResnet1d;

/* A randomly initialised model, as PyTorch/torchvision initialise it: convs
 * kaiming-normal (fan_out, relu), BN weight 1 / bias 0, running stats 0 / 1,
 * Linear layers U(-1/sqrt(in), 1/sqrt(in)), logit_scale log(1/0.07); the
 * random numbers come from @seed (MT19937), so the same seed gives the same
 * model on every machine. @be is borrowed and must outlive the model. */
EtpResnet1d *etp_resnet1d_new (EtpBackend * be, const EtpResnet1dConfig * cfg,
    guint64 seed, GError ** error);
void etp_resnet1d_free (EtpResnet1d * m);

const EtpResnet1dConfig *etp_resnet1d_get_config (const EtpResnet1d * m);
EtpBackend *etp_resnet1d_get_backend (const EtpResnet1d * m);
/* 8 * width: the pooled feature size (512). */
guint etp_resnet1d_feature_dim (const EtpResnet1d * m);
/* Multiply-accumulates of the encoder (convs) for one ECG of @length. */
gdouble etp_resnet1d_macs (const EtpResnet1d * m, guint length);

/* ---- inference (BatchNorm with running statistics) ---- */

/* FALSE (+ ETP_ERROR_UNSUPPORTED) when bf16 is asked for on a backend
 * without it. bf16 runs natively only where the backend says so. */
gboolean etp_resnet1d_set_precision (EtpResnet1d * m, EtpPrecision p,
    GError ** error);
EtpPrecision etp_resnet1d_get_precision (const EtpResnet1d * m);

/* x: host (n, leads, length), channel-major per ECG. features (n, 8w) and/or
 * embeddings (n, embed_dim; L2-normalised ecg_proj) are host outputs, either
 * may be NULL. length >= 1; any length works (the network pools globally). */
gboolean etp_resnet1d_forward_eval (EtpResnet1d * m, guint n, guint length,
    const gfloat * x, gfloat * features, gfloat * embeddings,
    GError ** error);
/* text: host (n, text_dim) -> host (n, embed_dim), L2-normalised text_proj. */
gboolean etp_resnet1d_project_text (EtpResnet1d * m, guint n,
    const gfloat * text, gfloat * embeddings, GError ** error);

/* ---- training (BatchNorm with batch statistics) ---- */

/* The training settings; change them (e.g. adam.lr per step) at will. */
EtpTrainParams *etp_resnet1d_train_params (EtpResnet1d * m);

/* Forward + backward of the ETP loss for one batch; gradients are zeroed
 * first, then hold d loss / d parameter. x: host (n, leads, length); x2: a
 * second view of the same ECGs (same shape) or NULL; text: host (n,
 * text_dim) frozen text features, pair i = (x_i, text_i). With x2 both views
 * go through the encoder as one batch of 2n (BatchNorm statistics over both)
 * and loss = CLIP(ecg(x), text) + ssl_weight * CLIP(ecg(x), ecg(x2)).
 * BatchNorm running statistics are updated. n >= 2. */
gboolean etp_resnet1d_forward_backward (EtpResnet1d * m, guint n,
    guint length, const gfloat * x, const gfloat * x2, const gfloat * text,
    EtpTrainResult * result, GError ** error);
/* One Adam step with the current gradients (and the logit_scale clamp). */
gboolean etp_resnet1d_optimizer_step (EtpResnet1d * m, GError ** error);
/* forward_backward + optimizer_step. */
gboolean etp_resnet1d_train_step (EtpResnet1d * m, guint n, guint length,
    const gfloat * x, const gfloat * x2, const gfloat * text,
    EtpTrainResult * result, GError ** error);
/* Optimiser steps taken (Adam's t); settable for resume. */
gint etp_resnet1d_get_step (const EtpResnet1d * m);
void etp_resnet1d_set_step (EtpResnet1d * m, gint step);

/* ---- named tensors (checkpoints, tests) ---- */

guint etp_resnet1d_n_tensors (const EtpResnet1d * m);
const EtpTensorInfo *etp_resnet1d_tensor_info (const EtpResnet1d * m,
    guint i);
/* Index of @name, or -1. */
gint etp_resnet1d_find_tensor (const EtpResnet1d * m, const gchar * name);

typedef enum {
  ETP_SLOT_VALUE,               /* the tensor itself */
  ETP_SLOT_GRAD,                /* its gradient (params only) */
  ETP_SLOT_ADAM_M,              /* Adam first moment (params only) */
  ETP_SLOT_ADAM_V,              /* Adam second moment (params only) */
} EtpTensorSlot;

/* Host copies of tensor @i (numel floats; counters as float). Reading a
 * gradient/moment of a non-parameter gives zeros; writing one is ignored. */
void etp_resnet1d_read_tensor (EtpResnet1d * m, guint i, EtpTensorSlot slot,
    gfloat * dst);
void etp_resnet1d_write_tensor (EtpResnet1d * m, guint i, EtpTensorSlot slot,
    const gfloat * src);
/* BatchNorm counters (num_batches_tracked). */
gint64 etp_resnet1d_get_counter (const EtpResnet1d * m, guint i);
void etp_resnet1d_set_counter (EtpResnet1d * m, guint i, gint64 v);

/* Sticky backend errors since the last call. */
gboolean etp_resnet1d_check (EtpResnet1d * m, GError ** error);

G_END_DECLS

#endif
