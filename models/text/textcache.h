/* Feature cache for frozen text encoders: a file of (key, vector) records
 * keyed by SHA-256 (model identity + text), so the report features of a
 * dataset are computed once across epochs and runs.
 *
 * Layout: "ETPTXC01", u32 dim, u32 0; then records of
 *   u8[32] key, float32[dim] vector, u32 FNV-1a checksum of key+vector.
 * Append-only: each record is one write(2) on an O_APPEND descriptor. On
 * open, records are read up to the first incomplete or corrupt one and the
 * file is truncated there, so a crash mid-write loses at most that record. */
#ifndef ETP_TEXT_TEXTCACHE_H
#define ETP_TEXT_TEXTCACHE_H

#include <glib.h>

G_BEGIN_DECLS

typedef struct _EtpTextCache EtpTextCache;

/* Opens or creates @path for vectors of @dim floats; an existing file of
 * another dimension is an error. */
EtpTextCache *etp_text_cache_open (const gchar * path, guint dim,
    GError ** error);
void etp_text_cache_free (EtpTextCache * c);
guint etp_text_cache_size (const EtpTextCache * c);
/* Records dropped at open because they were torn/corrupt. */
guint etp_text_cache_n_dropped (const EtpTextCache * c);

/* TRUE and fills @out when (@model_id, @text) is cached. */
gboolean etp_text_cache_lookup (EtpTextCache * c, const gchar * model_id,
    const gchar * text, gfloat * out);
gboolean etp_text_cache_store (EtpTextCache * c, const gchar * model_id,
    const gchar * text, const gfloat * vec, GError ** error);

G_END_DECLS

#endif
