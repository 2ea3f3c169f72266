/* ResNet18-1D checkpoints in safetensors (docs/checkpoint.md).
 *
 * Tensor names are torchvision's (conv1.weight, bn1.running_var,
 * layer2.0.downsample.1.num_batches_tracked, ...), plus ecg_proj.{weight,
 * bias}, text_proj.{weight,bias} and logit_scale, so the file loads into the
 * equivalent PyTorch module with load_state_dict(strict=True) (after dropping
 * the optional optim.* entries). `__metadata__` holds format=etp-1,
 * model=resnet18-1d, leads, width, sample_rate, length, embed_dim, text_dim
 * and any extra string the caller adds (epoch, data, ...). The optimiser
 * state, when saved, is in the same file: optim.<name>.exp_avg,
 * optim.<name>.exp_avg_sq (always float32) and optim.step (int64). */
#ifndef ETP_NETS_CHECKPOINT_H
#define ETP_NETS_CHECKPOINT_H

#include <glib.h>

#include "nets/resnet1d.h"
#include "nets/safetensors.h"

G_BEGIN_DECLS

#define ETP_CHECKPOINT_FORMAT "etp-1"
#define ETP_CHECKPOINT_MODEL "resnet18-1d"

typedef struct {
  EtpStDtype storage;           /* F32 (default), F16 or BF16 for values */
  gboolean with_optimizer;      /* also write Adam moments + step */
  const gchar *const *extra_metadata;   /* NULL-terminated key, value pairs */
} EtpCheckpointSaveOptions;

/* Reads the model configuration from an open checkpoint: metadata where
 * present, otherwise from the tensor shapes (leads from conv1.weight, width
 * from conv1.weight, embed_dim from ecg_proj.weight, text_dim from
 * text_proj.weight); sample_rate and length are 0 ("not recorded") when the
 * metadata does not have them. Errors on a foreign format/model or on
 * metadata that disagrees with the shapes. */
gboolean etp_checkpoint_read_config (EtpSafetensors * st,
    EtpResnet1dConfig * cfg, GError ** error);

/* Loads the tensors of @st into @m (whose configuration must match). Every
 * model tensor must be present with its exact shape, and no other tensor may
 * be in the file except optim.* entries: otherwise FALSE and an
 * ETP_ERROR_MISMATCH / ETP_ERROR_MISSING naming the tensor. When
 * @with_optimizer the optim.* entries must be present and are loaded too
 * (Adam moments and step, for resume); otherwise they are ignored. */
gboolean etp_checkpoint_load_into (EtpResnet1d * m, EtpSafetensors * st,
    gboolean with_optimizer, GError ** error);

/* Opens @path, reads its configuration, creates the model on @be and loads
 * it (without optimiser state). */
EtpResnet1d *etp_checkpoint_load (const gchar * path, EtpBackend * be,
    GError ** error);

/* Writes @m to @path atomically (temporary file + rename). @opts may be
 * NULL (float32, no optimiser state). */
gboolean etp_checkpoint_save (EtpResnet1d * m, const gchar * path,
    const EtpCheckpointSaveOptions * opts, GError ** error);

G_END_DECLS

#endif
