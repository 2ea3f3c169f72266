/* safetensors reader (memory-mapped) and atomic writer. */
#include "nets/safetensors.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib/gstdio.h>
#include <json-glib/json-glib.h>

#include "util/etperror.h"

struct _EtpSafetensors {
  gchar *path;
  guint8 *map;
  gsize map_len;
  GPtrArray *tensors;           /* EtpStTensor*, sorted by offset */
  GHashTable *by_name;          /* name -> EtpStTensor* */
  GHashTable *metadata;         /* key -> value */
  gchar **meta_keys;
};

static const struct {
  const gchar *name;
  EtpStDtype dtype;
  gsize size;
} dtype_table[] = {
  {"F32", ETP_ST_F32, 4}, {"F16", ETP_ST_F16, 2}, {"BF16", ETP_ST_BF16, 2},
  {"F64", ETP_ST_F64, 8}, {"I64", ETP_ST_I64, 8}, {"I32", ETP_ST_I32, 4},
};

const gchar *
etp_st_dtype_name (EtpStDtype dtype)
{
  for (guint i = 0; i < G_N_ELEMENTS (dtype_table); i++)
    if (dtype_table[i].dtype == dtype)
      return dtype_table[i].name;
  return "?";
}

gsize
etp_st_dtype_size (EtpStDtype dtype)
{
  for (guint i = 0; i < G_N_ELEMENTS (dtype_table); i++)
    if (dtype_table[i].dtype == dtype)
      return dtype_table[i].size;
  return 0;
}

/* ---- half / bfloat16 ---------------------------------------------------- */

static inline guint32
f2u (gfloat f)
{
  guint32 u;
  memcpy (&u, &f, 4);
  return u;
}

static inline gfloat
u2f (guint32 u)
{
  gfloat f;
  memcpy (&f, &u, 4);
  return f;
}

guint16
etp_f32_to_bf16 (gfloat f)
{
  guint32 u = f2u (f);
  if ((u & 0x7fffffffu) > 0x7f800000u)  /* NaN: keep it quiet NaN */
    return (guint16) ((u >> 16) | 0x40);
  u += 0x7fffu + ((u >> 16) & 1u);
  return (guint16) (u >> 16);
}

gfloat
etp_bf16_to_f32 (guint16 b)
{
  return u2f ((guint32) b << 16);
}

guint16
etp_f32_to_f16 (gfloat f)
{
  guint32 u = f2u (f);
  guint32 sign = (u >> 16) & 0x8000u;
  guint32 absu = u & 0x7fffffffu;

  if (absu > 0x7f800000u)       /* NaN */
    return (guint16) (sign | 0x7e00u);
  if (absu >= 0x477ff000u)      /* >= 65520 rounds to inf */
    return (guint16) (sign | 0x7c00u);
  if (absu < 0x38800000u) {     /* below the smallest normal half: subnormal */
    /* value * 2^24 rounded to nearest even gives the subnormal mantissa */
    gfloat a = u2f (absu);
    gfloat scaled = a * 16777216.0f;    /* 2^24 */
    guint32 m = (guint32) nearbyintf (scaled);
    return (guint16) (sign | m);
  }
  {
    guint32 exp = ((absu >> 23) - 127 + 15);
    guint32 mant = absu & 0x7fffffu;
    guint32 h = (exp << 10) | (mant >> 13);
    guint32 rest = mant & 0x1fffu;
    if (rest > 0x1000u || (rest == 0x1000u && (h & 1u)))
      h++;                      /* may carry into the exponent: still right */
    return (guint16) (sign | h);
  }
}

gfloat
etp_f16_to_f32 (guint16 h)
{
  guint32 sign = ((guint32) h & 0x8000u) << 16;
  guint32 exp = (h >> 10) & 0x1fu;
  guint32 mant = h & 0x3ffu;

  if (exp == 0) {
    gfloat v = (gfloat) mant / 16777216.0f;     /* mant * 2^-24 */
    return sign ? -v : v;
  }
  if (exp == 31)
    return u2f (sign | 0x7f800000u | (mant << 13));
  return u2f (sign | ((exp - 15 + 127) << 23) | (mant << 13));
}

/* ---- reader ------------------------------------------------------------- */

static void
tensor_free (gpointer p)
{
  EtpStTensor *t = p;
  g_free (t->name);
  g_free (t);
}

void
etp_safetensors_free (EtpSafetensors * st)
{
  if (!st)
    return;
  if (st->map)
    munmap (st->map, st->map_len);
  if (st->tensors)
    g_ptr_array_unref (st->tensors);
  if (st->by_name)
    g_hash_table_unref (st->by_name);
  if (st->metadata)
    g_hash_table_unref (st->metadata);
  g_free (st->meta_keys);
  g_free (st->path);
  g_free (st);
}

static gint
cmp_offset (gconstpointer a, gconstpointer b)
{
  const EtpStTensor *ta = *(const EtpStTensor * const *) a;
  const EtpStTensor *tb = *(const EtpStTensor * const *) b;
  if (ta->data < tb->data)
    return -1;
  if (ta->data > tb->data)
    return 1;
  return g_strcmp0 (ta->name, tb->name);
}

static gboolean
parse_tensor (EtpSafetensors * st, const gchar * name, JsonNode * node,
    const guint8 * data, gsize data_len, GError ** error)
{
  JsonObject *o;
  const gchar *dtype;
  JsonArray *shape, *offs;
  EtpStTensor *t;
  gint64 begin, end;
  guint i;
  gboolean found = FALSE;

  if (!JSON_NODE_HOLDS_OBJECT (node))
    goto bad;
  o = json_node_get_object (node);
  if (!json_object_has_member (o, "dtype") || !json_object_has_member (o,
          "shape") || !json_object_has_member (o, "data_offsets"))
    goto bad;
  dtype = json_object_get_string_member (o, "dtype");
  shape = json_object_get_array_member (o, "shape");
  offs = json_object_get_array_member (o, "data_offsets");
  if (!dtype || !shape || !offs || json_array_get_length (offs) != 2)
    goto bad;

  t = g_new0 (EtpStTensor, 1);
  t->name = g_strdup (name);
  for (i = 0; i < G_N_ELEMENTS (dtype_table); i++) {
    if (strcmp (dtype_table[i].name, dtype) == 0) {
      t->dtype = dtype_table[i].dtype;
      found = TRUE;
    }
  }
  if (!found) {
    g_set_error (error, ETP_ERROR, ETP_ERROR_UNSUPPORTED,
        "%s: tensor '%s' has dtype %s (supported: F32, F16, BF16, F64, I64, "
        "I32)", st->path, name, dtype);
    tensor_free (t);
    return FALSE;
  }
  t->ndim = json_array_get_length (shape);
  if (t->ndim > ETP_ST_MAX_DIMS) {
    g_set_error (error, ETP_ERROR, ETP_ERROR_UNSUPPORTED,
        "%s: tensor '%s' has %u dimensions (at most %d)", st->path, name,
        t->ndim, ETP_ST_MAX_DIMS);
    tensor_free (t);
    return FALSE;
  }
  t->numel = 1;
  for (i = 0; i < t->ndim; i++) {
    t->shape[i] = json_array_get_int_element (shape, i);
    if (t->shape[i] < 0 || (t->shape[i] > 0 && t->numel > G_MAXINT64 /
            t->shape[i])) {
      g_set_error (error, ETP_ERROR, ETP_ERROR_FORMAT,
          "%s: tensor '%s' has an invalid shape", st->path, name);
      tensor_free (t);
      return FALSE;
    }
    t->numel *= t->shape[i];
  }
  begin = json_array_get_int_element (offs, 0);
  end = json_array_get_int_element (offs, 1);
  if (begin < 0 || end < begin || (guint64) end > data_len ||
      (guint64) (end - begin) != (guint64) t->numel * etp_st_dtype_size
      (t->dtype)) {
    g_set_error (error, ETP_ERROR, ETP_ERROR_FORMAT,
        "%s: tensor '%s' has data offsets [%" G_GINT64_FORMAT ", %"
        G_GINT64_FORMAT "] that do not fit its shape/dtype or the file",
        st->path, name, begin, end);
    tensor_free (t);
    return FALSE;
  }
  t->data = data + begin;
  t->nbytes = end - begin;
  g_ptr_array_add (st->tensors, t);
  g_hash_table_insert (st->by_name, t->name, t);
  return TRUE;

bad:
  g_set_error (error, ETP_ERROR, ETP_ERROR_FORMAT,
      "%s: header entry '%s' is not {dtype, shape, data_offsets}", st->path,
      name);
  return FALSE;
}

EtpSafetensors *
etp_safetensors_open (const gchar * path, GError ** error)
{
  EtpSafetensors *st;
  struct stat sb;
  int fd;
  guint64 hlen = 0;
  JsonParser *parser = NULL;
  JsonNode *root;
  JsonObject *obj;
  GList *members = NULL, *l;
  GError *jerr = NULL;
  const guint8 *data;
  gsize data_len;

  fd = g_open (path, O_RDONLY | O_CLOEXEC, 0);
  if (fd < 0) {
    int e = errno;
    g_set_error (error, ETP_ERROR, e == ENOENT ? ETP_ERROR_MISSING :
        ETP_ERROR_IO, "%s: cannot open: %s", path, g_strerror (e));
    return NULL;
  }
  if (fstat (fd, &sb) != 0 || !S_ISREG (sb.st_mode)) {
    g_set_error (error, ETP_ERROR, ETP_ERROR_IO, "%s: not a regular file",
        path);
    close (fd);
    return NULL;
  }
  if (sb.st_size < 8) {
    g_set_error (error, ETP_ERROR, ETP_ERROR_FORMAT,
        "%s: too short for a safetensors file (%lld bytes)", path,
        (long long) sb.st_size);
    close (fd);
    return NULL;
  }

  st = g_new0 (EtpSafetensors, 1);
  st->path = g_strdup (path);
  st->map_len = sb.st_size;
  st->map = mmap (NULL, st->map_len, PROT_READ, MAP_PRIVATE, fd, 0);
  close (fd);
  if (st->map == MAP_FAILED) {
    st->map = NULL;
    g_set_error (error, ETP_ERROR, ETP_ERROR_IO, "%s: cannot map: %s", path,
        g_strerror (errno));
    goto fail;
  }
  st->tensors = g_ptr_array_new_with_free_func (tensor_free);
  st->by_name = g_hash_table_new (g_str_hash, g_str_equal);
  st->metadata = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
      g_free);

  for (int i = 0; i < 8; i++)
    hlen |= (guint64) st->map[i] << (8 * i);
  if (hlen == 0 || hlen > st->map_len - 8 || hlen > 100u * 1024 * 1024) {
    g_set_error (error, ETP_ERROR, ETP_ERROR_FORMAT,
        "%s: header size %" G_GUINT64_FORMAT " does not fit the file (%"
        G_GSIZE_FORMAT " bytes); not a safetensors file?", path, hlen,
        st->map_len);
    goto fail;
  }
  data = st->map + 8 + hlen;
  data_len = st->map_len - 8 - hlen;

  parser = json_parser_new ();
  if (!json_parser_load_from_data (parser, (const gchar *) st->map + 8, hlen,
          &jerr)) {
    g_set_error (error, ETP_ERROR, ETP_ERROR_FORMAT,
        "%s: header is not valid JSON: %s", path, jerr->message);
    g_clear_error (&jerr);
    goto fail;
  }
  root = json_parser_get_root (parser);
  if (!root || !JSON_NODE_HOLDS_OBJECT (root)) {
    g_set_error (error, ETP_ERROR, ETP_ERROR_FORMAT,
        "%s: header is not a JSON object", path);
    goto fail;
  }
  obj = json_node_get_object (root);
  members = json_object_get_members (obj);
  for (l = members; l; l = l->next) {
    const gchar *name = l->data;
    JsonNode *node = json_object_get_member (obj, name);
    if (strcmp (name, "__metadata__") == 0) {
      JsonObject *mo;
      GList *mk, *m;
      if (!JSON_NODE_HOLDS_OBJECT (node)) {
        g_set_error (error, ETP_ERROR, ETP_ERROR_FORMAT,
            "%s: __metadata__ is not an object", path);
        goto fail;
      }
      mo = json_node_get_object (node);
      mk = json_object_get_members (mo);
      for (m = mk; m; m = m->next) {
        JsonNode *v = json_object_get_member (mo, m->data);
        if (!JSON_NODE_HOLDS_VALUE (v) ||
            json_node_get_value_type (v) != G_TYPE_STRING) {
          g_set_error (error, ETP_ERROR, ETP_ERROR_FORMAT,
              "%s: __metadata__ value '%s' is not a string", path,
              (const gchar *) m->data);
          g_list_free (mk);
          goto fail;
        }
        g_hash_table_insert (st->metadata, g_strdup (m->data),
            g_strdup (json_node_get_string (v)));
      }
      g_list_free (mk);
      continue;
    }
    if (!parse_tensor (st, name, node, data, data_len, error))
      goto fail;
  }
  g_list_free (members);
  members = NULL;
  g_object_unref (parser);
  parser = NULL;
  g_ptr_array_sort (st->tensors, cmp_offset);
  st->meta_keys = (gchar **) g_hash_table_get_keys_as_array (st->metadata,
      NULL);
  return st;

fail:
  g_list_free (members);
  if (parser)
    g_object_unref (parser);
  etp_safetensors_free (st);
  return NULL;
}

const gchar *
etp_safetensors_path (const EtpSafetensors * st)
{
  return st->path;
}

guint
etp_safetensors_n_tensors (const EtpSafetensors * st)
{
  return st->tensors->len;
}

const EtpStTensor *
etp_safetensors_nth (const EtpSafetensors * st, guint i)
{
  g_return_val_if_fail (i < st->tensors->len, NULL);
  return g_ptr_array_index (st->tensors, i);
}

const EtpStTensor *
etp_safetensors_get (const EtpSafetensors * st, const gchar * name)
{
  return g_hash_table_lookup (st->by_name, name);
}

const gchar *
etp_safetensors_get_metadata (const EtpSafetensors * st, const gchar * key)
{
  return g_hash_table_lookup (st->metadata, key);
}

const gchar *const *
etp_safetensors_metadata_keys (const EtpSafetensors * st)
{
  return (const gchar * const *) st->meta_keys;
}

static inline guint16
rd16 (const guint8 * p)
{
  return (guint16) (p[0] | (p[1] << 8));
}

static inline guint32
rd32 (const guint8 * p)
{
  return (guint32) p[0] | ((guint32) p[1] << 8) | ((guint32) p[2] << 16) |
      ((guint32) p[3] << 24);
}

static inline guint64
rd64 (const guint8 * p)
{
  return (guint64) rd32 (p) | ((guint64) rd32 (p + 4) << 32);
}

void
etp_st_tensor_to_f32 (const EtpStTensor * t, gfloat * dst)
{
  const guint8 *p = t->data;
  gint64 n = t->numel;

  switch (t->dtype) {
    case ETP_ST_F32:
      for (gint64 i = 0; i < n; i++)
        dst[i] = u2f (rd32 (p + 4 * i));
      break;
    case ETP_ST_F16:
      for (gint64 i = 0; i < n; i++)
        dst[i] = etp_f16_to_f32 (rd16 (p + 2 * i));
      break;
    case ETP_ST_BF16:
      for (gint64 i = 0; i < n; i++)
        dst[i] = etp_bf16_to_f32 (rd16 (p + 2 * i));
      break;
    case ETP_ST_F64:
      for (gint64 i = 0; i < n; i++) {
        guint64 u = rd64 (p + 8 * i);
        gdouble d;
        memcpy (&d, &u, 8);
        dst[i] = (gfloat) d;
      }
      break;
    case ETP_ST_I64:
      for (gint64 i = 0; i < n; i++)
        dst[i] = (gfloat) (gint64) rd64 (p + 8 * i);
      break;
    case ETP_ST_I32:
      for (gint64 i = 0; i < n; i++)
        dst[i] = (gfloat) (gint32) rd32 (p + 4 * i);
      break;
  }
}

gint64
etp_st_tensor_get_i64 (const EtpStTensor * t)
{
  if (t->numel < 1)
    return 0;
  switch (t->dtype) {
    case ETP_ST_I64:
      return (gint64) rd64 (t->data);
    case ETP_ST_I32:
      return (gint32) rd32 (t->data);
    default:{
      gfloat f;
      EtpStTensor one = *t;
      one.numel = 1;
      etp_st_tensor_to_f32 (&one, &f);
      return (gint64) llrintf (f);
    }
  }
}

/* ---- writer ------------------------------------------------------------- */

typedef struct {
  gchar *name;
  EtpStDtype storage;
  guint ndim;
  gint64 shape[ETP_ST_MAX_DIMS];
  gint64 numel;
  const gfloat *data;
  gint64 i64;
} WEntry;

struct _EtpSafetensorsWriter {
  GArray *entries;              /* WEntry */
  GPtrArray *meta_keys, *meta_vals;
};

static void
wentry_clear (gpointer p)
{
  WEntry *e = p;
  g_free (e->name);
}

EtpSafetensorsWriter *
etp_safetensors_writer_new (void)
{
  EtpSafetensorsWriter *w = g_new0 (EtpSafetensorsWriter, 1);
  w->entries = g_array_new (FALSE, TRUE, sizeof (WEntry));
  g_array_set_clear_func (w->entries, wentry_clear);
  w->meta_keys = g_ptr_array_new_with_free_func (g_free);
  w->meta_vals = g_ptr_array_new_with_free_func (g_free);
  return w;
}

void
etp_safetensors_writer_free (EtpSafetensorsWriter * w)
{
  if (!w)
    return;
  g_array_unref (w->entries);
  g_ptr_array_unref (w->meta_keys);
  g_ptr_array_unref (w->meta_vals);
  g_free (w);
}

void
etp_safetensors_writer_add_f32 (EtpSafetensorsWriter * w, const gchar * name,
    guint ndim, const gint64 * shape, const gfloat * data, EtpStDtype storage)
{
  WEntry e = { 0 };
  g_return_if_fail (ndim <= ETP_ST_MAX_DIMS);
  g_return_if_fail (storage == ETP_ST_F32 || storage == ETP_ST_F16 ||
      storage == ETP_ST_BF16);
  e.name = g_strdup (name);
  e.storage = storage;
  e.ndim = ndim;
  e.numel = 1;
  for (guint i = 0; i < ndim; i++) {
    e.shape[i] = shape[i];
    e.numel *= shape[i];
  }
  e.data = data;
  g_array_append_val (w->entries, e);
}

void
etp_safetensors_writer_add_i64_scalar (EtpSafetensorsWriter * w,
    const gchar * name, gint64 value)
{
  WEntry e = { 0 };
  e.name = g_strdup (name);
  e.storage = ETP_ST_I64;
  e.ndim = 0;
  e.numel = 1;
  e.i64 = value;
  g_array_append_val (w->entries, e);
}

void
etp_safetensors_writer_set_metadata (EtpSafetensorsWriter * w,
    const gchar * key, const gchar * value)
{
  for (guint i = 0; i < w->meta_keys->len; i++) {
    if (strcmp (g_ptr_array_index (w->meta_keys, i), key) == 0) {
      g_free (w->meta_vals->pdata[i]);
      w->meta_vals->pdata[i] = g_strdup (value);
      return;
    }
  }
  g_ptr_array_add (w->meta_keys, g_strdup (key));
  g_ptr_array_add (w->meta_vals, g_strdup (value));
}

static gboolean
write_all (FILE * f, const void *buf, gsize n)
{
  return n == 0 || fwrite (buf, 1, n, f) == n;
}

gboolean
etp_safetensors_writer_write (EtpSafetensorsWriter * w, const gchar * path,
    GError ** error)
{
  JsonBuilder *b;
  JsonGenerator *gen;
  JsonNode *root;
  gchar *json, *tmp;
  gsize jlen, padded;
  guint64 off = 0;
  guint8 lenbuf[8];
  FILE *f = NULL;
  int fd;
  gboolean ok = TRUE;

  b = json_builder_new ();
  json_builder_begin_object (b);
  if (w->meta_keys->len) {
    json_builder_set_member_name (b, "__metadata__");
    json_builder_begin_object (b);
    for (guint i = 0; i < w->meta_keys->len; i++) {
      json_builder_set_member_name (b, g_ptr_array_index (w->meta_keys, i));
      json_builder_add_string_value (b, g_ptr_array_index (w->meta_vals, i));
    }
    json_builder_end_object (b);
  }
  for (guint i = 0; i < w->entries->len; i++) {
    WEntry *e = &g_array_index (w->entries, WEntry, i);
    guint64 nb = (guint64) e->numel * etp_st_dtype_size (e->storage);
    json_builder_set_member_name (b, e->name);
    json_builder_begin_object (b);
    json_builder_set_member_name (b, "dtype");
    json_builder_add_string_value (b, etp_st_dtype_name (e->storage));
    json_builder_set_member_name (b, "shape");
    json_builder_begin_array (b);
    for (guint d = 0; d < e->ndim; d++)
      json_builder_add_int_value (b, e->shape[d]);
    json_builder_end_array (b);
    json_builder_set_member_name (b, "data_offsets");
    json_builder_begin_array (b);
    json_builder_add_int_value (b, off);
    json_builder_add_int_value (b, off + nb);
    json_builder_end_array (b);
    json_builder_end_object (b);
    off += nb;
  }
  json_builder_end_object (b);
  root = json_builder_get_root (b);
  gen = json_generator_new ();
  json_generator_set_root (gen, root);
  json_generator_set_pretty (gen, FALSE);
  json = json_generator_to_data (gen, &jlen);
  json_node_unref (root);
  g_object_unref (gen);
  g_object_unref (b);

  padded = (jlen + 7) & ~(gsize) 7;
  for (int i = 0; i < 8; i++)
    lenbuf[i] = (guint8) (((guint64) padded >> (8 * i)) & 0xff);

  tmp = g_strdup_printf ("%s.tmp-XXXXXX", path);
  fd = g_mkstemp (tmp);
  if (fd < 0) {
    g_set_error (error, ETP_ERROR, ETP_ERROR_IO,
        "%s: cannot create a temporary file: %s", path, g_strerror (errno));
    g_free (tmp);
    g_free (json);
    return FALSE;
  }
  fchmod (fd, 0644);
  f = fdopen (fd, "wb");
  ok = write_all (f, lenbuf, 8) && write_all (f, json, jlen);
  for (gsize i = jlen; ok && i < padded; i++)
    ok = fputc (' ', f) != EOF;
  g_free (json);

  for (guint i = 0; ok && i < w->entries->len; i++) {
    WEntry *e = &g_array_index (w->entries, WEntry, i);
    if (e->storage == ETP_ST_I64) {
      guint8 v[8];
      for (int k = 0; k < 8; k++)
        v[k] = (guint8) (((guint64) e->i64 >> (8 * k)) & 0xff);
      ok = write_all (f, v, 8);
    } else if (e->storage == ETP_ST_F32) {
#if G_BYTE_ORDER == G_LITTLE_ENDIAN
      ok = write_all (f, e->data, (gsize) e->numel * 4);
#else
#error "big-endian hosts are not supported"
#endif
    } else {
      guint16 chunk[4096];
      gint64 done = 0;
      while (ok && done < e->numel) {
        gint64 n = MIN (e->numel - done, (gint64) G_N_ELEMENTS (chunk));
        for (gint64 k = 0; k < n; k++)
          chunk[k] = e->storage == ETP_ST_F16 ?
              etp_f32_to_f16 (e->data[done + k]) :
              etp_f32_to_bf16 (e->data[done + k]);
        ok = write_all (f, chunk, n * 2);
        done += n;
      }
    }
  }
  if (ok)
    ok = fflush (f) == 0 && fsync (fileno (f)) == 0;
  if (fclose (f) != 0)
    ok = FALSE;
  if (!ok) {
    g_set_error (error, ETP_ERROR, ETP_ERROR_IO, "%s: write failed: %s",
        tmp, g_strerror (errno));
    g_unlink (tmp);
    g_free (tmp);
    return FALSE;
  }
  if (g_rename (tmp, path) != 0) {
    g_set_error (error, ETP_ERROR, ETP_ERROR_IO,
        "%s: cannot rename %s over it: %s", path, tmp, g_strerror (errno));
    g_unlink (tmp);
    g_free (tmp);
    return FALSE;
  }
  g_free (tmp);
  return TRUE;
}
