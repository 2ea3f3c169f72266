/* safetensors reader and writer (https://github.com/huggingface/safetensors
 * file layout: u64 little-endian header size, a JSON header, the raw data).
 *
 * Reading memory-maps the file; tensors point into the mapping. Dtypes F32,
 * F16, BF16, F64, I64, I32 are understood and converted to float32 on request.
 * Writing stores float32 data as F32, F16 or BF16 (round to nearest even) and
 * int64 scalars as I64; the file is written to a temporary file next to the
 * destination and renamed over it, so a reader never sees a half-written file.
 * `__metadata__` is a string→string map. */
#ifndef ETP_NETS_SAFETENSORS_H
#define ETP_NETS_SAFETENSORS_H

#include <glib.h>

G_BEGIN_DECLS

typedef enum {
  ETP_ST_F32,
  ETP_ST_F16,
  ETP_ST_BF16,
  ETP_ST_F64,
  ETP_ST_I64,
  ETP_ST_I32,
} EtpStDtype;

#define ETP_ST_MAX_DIMS 8

typedef struct {
  gchar *name;
  EtpStDtype dtype;
  guint ndim;
  gint64 shape[ETP_ST_MAX_DIMS];
  gint64 numel;
  const guint8 *data;           /* into the mapping, little-endian */
  gsize nbytes;
} EtpStTensor;

typedef struct _EtpSafetensors EtpSafetensors;

const gchar *etp_st_dtype_name (EtpStDtype dtype);
gsize etp_st_dtype_size (EtpStDtype dtype);

/* Opens and validates @path (header JSON, dtypes, offsets within the file,
 * sizes agreeing with the shapes). */
EtpSafetensors *etp_safetensors_open (const gchar * path, GError ** error);
void etp_safetensors_free (EtpSafetensors * st);
const gchar *etp_safetensors_path (const EtpSafetensors * st);

guint etp_safetensors_n_tensors (const EtpSafetensors * st);
/* Tensors in file order (ascending data offset). */
const EtpStTensor *etp_safetensors_nth (const EtpSafetensors * st, guint i);
const EtpStTensor *etp_safetensors_get (const EtpSafetensors * st,
    const gchar * name);
/* A `__metadata__` value, or NULL. */
const gchar *etp_safetensors_get_metadata (const EtpSafetensors * st,
    const gchar * key);
/* The metadata keys (NULL-terminated, owned by @st). */
const gchar *const *etp_safetensors_metadata_keys (const EtpSafetensors * st);

/* Converts @t's elements (@t->numel of them) to float32 into @dst. */
void etp_st_tensor_to_f32 (const EtpStTensor * t, gfloat * dst);
/* First element as int64 (for counters such as num_batches_tracked). */
gint64 etp_st_tensor_get_i64 (const EtpStTensor * t);

/* float32 <-> half / bfloat16 (round to nearest even; NaN kept). */
guint16 etp_f32_to_f16 (gfloat f);
gfloat etp_f16_to_f32 (guint16 h);
guint16 etp_f32_to_bf16 (gfloat f);
gfloat etp_bf16_to_f32 (guint16 b);

/* Writer. Data pointers given to add_* must stay valid until write(). */
typedef struct _EtpSafetensorsWriter EtpSafetensorsWriter;

EtpSafetensorsWriter *etp_safetensors_writer_new (void);
void etp_safetensors_writer_free (EtpSafetensorsWriter * w);
/* Adds a float32 tensor stored as @storage (F32, F16 or BF16). */
void etp_safetensors_writer_add_f32 (EtpSafetensorsWriter * w,
    const gchar * name, guint ndim, const gint64 * shape,
    const gfloat * data, EtpStDtype storage);
/* Adds an int64 tensor of 0 dimensions (a scalar). */
void etp_safetensors_writer_add_i64_scalar (EtpSafetensorsWriter * w,
    const gchar * name, gint64 value);
void etp_safetensors_writer_set_metadata (EtpSafetensorsWriter * w,
    const gchar * key, const gchar * value);
/* Writes to "@path.tmp-XXXXXX" then renames it over @path. */
gboolean etp_safetensors_writer_write (EtpSafetensorsWriter * w,
    const gchar * path, GError ** error);

G_END_DECLS

#endif
