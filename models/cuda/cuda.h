/* Public bits of the CUDA backend beyond engine.h (models/cuda/). The
 * backend itself is reached through etp_backend_new (ETP_DEVICE_CUDA, ...);
 * this header only exists when the build has the CUDA backend
 * (ETP_HAVE_CUDA in config.h). See docs/cuda.md. */
#ifndef ETP_CUDA_CUDA_H
#define ETP_CUDA_CUDA_H

#include <glib.h>

G_BEGIN_DECLS

/* Number of CUDA devices the runtime sees. FALSE + ETP_ERROR_DEVICE (with
 * the runtime's reason: no driver, no device) when there is none, so tests
 * and elements can say why they skip. */
gboolean etp_cuda_device_count (int *count, GError **err);

G_END_DECLS

#endif
