/* Caps shared by the elements (see the "Data on the pads" table in docs/design.md). */
#ifndef ETP_CAPS_H
#define ETP_CAPS_H

#include <gst/gst.h>

G_BEGIN_DECLS

/* ECG samples: interleaved float32, any rate and lead count. */
#define ETP_ECG_CAPS_STR \
  "audio/x-raw, format=(string)F32LE, layout=(string)interleaved, " \
  "rate=(int)[1, 100000], channels=(int)[1, 64]"

/* Embeddings / features, NNStreamer's static tensor convention. */
#define ETP_TENSOR_CAPS_STR \
  "other/tensors, format=(string)static, num_tensors=(int)1, " \
  "types=(string)float32, framerate=(fraction)[0/1, 2147483647/1]"

/* Text, one item per line. */
#define ETP_TEXT_CAPS_STR "text/x-raw, format=(string)utf8"

/* Reads rate and channels from ECG caps (audio/x-raw, F32LE, interleaved when
 * a layout is given); FALSE when the caps are not that or not fixed.
 * Parsed by hand because GstAudioInfo wants a channel-mask above two
 * channels, and ECG leads have no audio positions. */
gboolean etp_ecg_caps_parse (const GstCaps * caps, gint * rate, gint * channels);

/* Fixed caps for a float32 vector of @dim values: dimensions=D:1:1:1. */
GstCaps *etp_tensor_caps_new (guint dim);

/* Reads D from other/tensors caps of a single float32 tensor; 0 if the caps
 * are not a single float32 vector. */
guint etp_tensor_caps_get_dim (const GstCaps * caps);

G_END_DECLS

#endif
