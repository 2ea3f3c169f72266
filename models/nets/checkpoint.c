/* ResNet18-1D checkpoints (see checkpoint.h). */
#include "nets/checkpoint.h"

#include <stdlib.h>
#include <string.h>

#include "util/etperror.h"

static gboolean
meta_uint (EtpSafetensors * st, const gchar * key, guint * out,
    GError ** error)
{
  const gchar *v = etp_safetensors_get_metadata (st, key);
  guint64 u;
  gchar *end = NULL;

  if (!v)
    return TRUE;
  u = g_ascii_strtoull (v, &end, 10);
  if (!end || end == v || *end != '\0' || u > G_MAXUINT) {
    g_set_error (error, ETP_ERROR, ETP_ERROR_FORMAT,
        "%s: __metadata__ %s=\"%s\" is not a non-negative integer",
        etp_safetensors_path (st), key, v);
    return FALSE;
  }
  *out = (guint) u;
  return TRUE;
}

static const EtpStTensor *
need (EtpSafetensors * st, const gchar * name, guint ndim, GError ** error)
{
  const EtpStTensor *t = etp_safetensors_get (st, name);
  if (!t) {
    g_set_error (error, ETP_ERROR, ETP_ERROR_MISSING,
        "%s: tensor '%s' is missing; not a resnet18-1d checkpoint?",
        etp_safetensors_path (st), name);
    return NULL;
  }
  if (t->ndim != ndim) {
    g_set_error (error, ETP_ERROR, ETP_ERROR_MISMATCH,
        "%s: tensor '%s' has %u dimensions, expected %u",
        etp_safetensors_path (st), name, t->ndim, ndim);
    return NULL;
  }
  return t;
}

gboolean
etp_checkpoint_read_config (EtpSafetensors * st, EtpResnet1dConfig * cfg,
    GError ** error)
{
  const gchar *path = etp_safetensors_path (st);
  const gchar *fmt = etp_safetensors_get_metadata (st, "format");
  const gchar *model = etp_safetensors_get_metadata (st, "model");
  const EtpStTensor *c1, *ep, *tp;
  guint v;

  if (fmt && strcmp (fmt, ETP_CHECKPOINT_FORMAT) != 0) {
    g_set_error (error, ETP_ERROR, ETP_ERROR_UNSUPPORTED,
        "%s: __metadata__ format=\"%s\" (this version reads \"%s\")", path,
        fmt, ETP_CHECKPOINT_FORMAT);
    return FALSE;
  }
  if (model && strcmp (model, ETP_CHECKPOINT_MODEL) != 0) {
    g_set_error (error, ETP_ERROR, ETP_ERROR_UNSUPPORTED,
        "%s: __metadata__ model=\"%s\" (this version has \"%s\")", path,
        model, ETP_CHECKPOINT_MODEL);
    return FALSE;
  }
  if (!(c1 = need (st, "conv1.weight", 3, error)) ||
      !(ep = need (st, "ecg_proj.weight", 2, error)) ||
      !(tp = need (st, "text_proj.weight", 2, error)))
    return FALSE;
  if (c1->shape[2] != 7) {
    g_set_error (error, ETP_ERROR, ETP_ERROR_MISMATCH,
        "%s: tensor 'conv1.weight' has kernel %" G_GINT64_FORMAT
        ", expected 7", path, c1->shape[2]);
    return FALSE;
  }
  cfg->width = c1->shape[0];
  cfg->leads = c1->shape[1];
  cfg->embed_dim = ep->shape[0];
  cfg->text_dim = tp->shape[1];
  cfg->sample_rate = 0;
  cfg->length = 0;

  /* metadata must agree with the shapes */
  {
    static const gchar *keys[] = { "leads", "width", "embed_dim", "text_dim" };
    guint vals[] = { cfg->leads, cfg->width, cfg->embed_dim, cfg->text_dim };
    for (guint i = 0; i < G_N_ELEMENTS (keys); i++) {
      v = vals[i];
      if (!meta_uint (st, keys[i], &v, error))
        return FALSE;
      if (v != vals[i]) {
        g_set_error (error, ETP_ERROR, ETP_ERROR_MISMATCH,
            "%s: __metadata__ %s=%u disagrees with the tensor shapes (%u)",
            path, keys[i], v, vals[i]);
        return FALSE;
      }
    }
  }
  if (!meta_uint (st, "sample_rate", &cfg->sample_rate, error) ||
      !meta_uint (st, "length", &cfg->length, error))
    return FALSE;
  return TRUE;
}

static gboolean
check_shape (EtpSafetensors * st, const EtpStTensor * t,
    const EtpTensorInfo * info, GError ** error)
{
  gboolean ok = t->ndim == info->ndim;
  for (guint d = 0; ok && d < info->ndim; d++)
    ok = t->shape[d] == info->shape[d];
  if (!ok) {
    GString *got = g_string_new ("["), *want = g_string_new ("[");
    for (guint d = 0; d < t->ndim; d++)
      g_string_append_printf (got, "%s%" G_GINT64_FORMAT, d ? ", " : "",
          t->shape[d]);
    for (guint d = 0; d < info->ndim; d++)
      g_string_append_printf (want, "%s%" G_GINT64_FORMAT, d ? ", " : "",
          info->shape[d]);
    g_string_append_c (got, ']');
    g_string_append_c (want, ']');
    g_set_error (error, ETP_ERROR, ETP_ERROR_MISMATCH,
        "%s: tensor '%s' has shape %s, the model needs %s",
        etp_safetensors_path (st), t->name, got->str, want->str);
    g_string_free (got, TRUE);
    g_string_free (want, TRUE);
  }
  return ok;
}

static gboolean
is_optim_name (EtpResnet1d * m, const gchar * name)
{
  gsize len;
  gchar *base;
  gint idx;

  if (!g_str_has_prefix (name, "optim."))
    return FALSE;
  if (strcmp (name, "optim.step") == 0)
    return TRUE;
  len = strlen (name);
  if (g_str_has_suffix (name, ".exp_avg"))
    base = g_strndup (name + 6, len - 6 - strlen (".exp_avg"));
  else if (g_str_has_suffix (name, ".exp_avg_sq"))
    base = g_strndup (name + 6, len - 6 - strlen (".exp_avg_sq"));
  else
    return FALSE;
  idx = etp_resnet1d_find_tensor (m, base);
  g_free (base);
  return idx >= 0 &&
      etp_resnet1d_tensor_info (m, idx)->kind == ETP_TENSOR_PARAM;
}

gboolean
etp_checkpoint_load_into (EtpResnet1d * m, EtpSafetensors * st,
    gboolean with_optimizer, GError ** error)
{
  const gchar *path = etp_safetensors_path (st);
  guint n = etp_resnet1d_n_tensors (m);
  gsize maxn = 1;
  gfloat *tmp;
  gboolean ok = TRUE;

  /* 1. no foreign tensor */
  for (guint i = 0; i < etp_safetensors_n_tensors (st); i++) {
    const EtpStTensor *t = etp_safetensors_nth (st, i);
    if (etp_resnet1d_find_tensor (m, t->name) < 0 &&
        !is_optim_name (m, t->name)) {
      g_set_error (error, ETP_ERROR, ETP_ERROR_MISMATCH,
          "%s: unexpected tensor '%s' (not part of resnet18-1d with width "
          "%u, leads %u)", path, t->name, etp_resnet1d_get_config (m)->width,
          etp_resnet1d_get_config (m)->leads);
      return FALSE;
    }
  }
  /* 2. every model tensor, right shape (checked before anything is loaded) */
  for (guint i = 0; i < n; i++) {
    const EtpTensorInfo *info = etp_resnet1d_tensor_info (m, i);
    const EtpStTensor *t = etp_safetensors_get (st, info->name);
    if (!t) {
      g_set_error (error, ETP_ERROR, ETP_ERROR_MISSING,
          "%s: tensor '%s' is missing", path, info->name);
      return FALSE;
    }
    /* PyTorch saves num_batches_tracked as a 0-d int64; accept [1] too */
    if (info->kind == ETP_TENSOR_COUNTER && t->numel == 1)
      continue;
    if (!check_shape (st, t, info, error))
      return FALSE;
    maxn = MAX (maxn, info->numel);
    if (with_optimizer && info->kind == ETP_TENSOR_PARAM) {
      const gchar *sfx[2] = { "exp_avg", "exp_avg_sq" };
      for (gint k = 0; k < 2; k++) {
        gchar *on = g_strdup_printf ("optim.%s.%s", info->name, sfx[k]);
        const EtpStTensor *o = etp_safetensors_get (st, on);
        if (!o) {
          g_set_error (error, ETP_ERROR, ETP_ERROR_MISSING,
              "%s: optimiser tensor '%s' is missing (checkpoint saved "
              "without optimiser state? resume needs it)", path, on);
          g_free (on);
          return FALSE;
        }
        g_free (on);
        if (!check_shape (st, o, info, error))
          return FALSE;
      }
    }
  }
  if (with_optimizer && !etp_safetensors_get (st, "optim.step")) {
    g_set_error (error, ETP_ERROR, ETP_ERROR_MISSING,
        "%s: tensor 'optim.step' is missing (resume needs the optimiser "
        "state)", path);
    return FALSE;
  }

  /* 3. load */
  tmp = g_new (gfloat, maxn);
  for (guint i = 0; i < n; i++) {
    const EtpTensorInfo *info = etp_resnet1d_tensor_info (m, i);
    const EtpStTensor *t = etp_safetensors_get (st, info->name);
    if (info->kind == ETP_TENSOR_COUNTER) {
      etp_resnet1d_set_counter (m, i, etp_st_tensor_get_i64 (t));
      continue;
    }
    etp_st_tensor_to_f32 (t, tmp);
    etp_resnet1d_write_tensor (m, i, ETP_SLOT_VALUE, tmp);
    if (with_optimizer && info->kind == ETP_TENSOR_PARAM) {
      gchar *on = g_strdup_printf ("optim.%s.exp_avg", info->name);
      etp_st_tensor_to_f32 (etp_safetensors_get (st, on), tmp);
      etp_resnet1d_write_tensor (m, i, ETP_SLOT_ADAM_M, tmp);
      g_free (on);
      on = g_strdup_printf ("optim.%s.exp_avg_sq", info->name);
      etp_st_tensor_to_f32 (etp_safetensors_get (st, on), tmp);
      etp_resnet1d_write_tensor (m, i, ETP_SLOT_ADAM_V, tmp);
      g_free (on);
    }
  }
  g_free (tmp);
  if (with_optimizer)
    etp_resnet1d_set_step (m,
        (gint) etp_st_tensor_get_i64 (etp_safetensors_get (st, "optim.step")));
  ok = etp_resnet1d_check (m, error);
  return ok;
}

EtpResnet1d *
etp_checkpoint_load (const gchar * path, EtpBackend * be, GError ** error)
{
  EtpSafetensors *st;
  EtpResnet1dConfig cfg;
  EtpResnet1d *m = NULL;

  st = etp_safetensors_open (path, error);
  if (!st)
    return NULL;
  if (etp_checkpoint_read_config (st, &cfg, error)) {
    m = etp_resnet1d_new (be, &cfg, 0, error);
    if (m && !etp_checkpoint_load_into (m, st, FALSE, error)) {
      etp_resnet1d_free (m);
      m = NULL;
    }
  }
  etp_safetensors_free (st);
  return m;
}

gboolean
etp_checkpoint_save (EtpResnet1d * m, const gchar * path,
    const EtpCheckpointSaveOptions * opts, GError ** error)
{
  EtpCheckpointSaveOptions def = { ETP_ST_F32, FALSE, NULL };
  const EtpResnet1dConfig *cfg = etp_resnet1d_get_config (m);
  EtpSafetensorsWriter *w;
  GPtrArray *hold;
  guint n = etp_resnet1d_n_tensors (m);
  gchar buf[32];
  gboolean ok;

  if (!opts)
    opts = &def;
  if (opts->storage != ETP_ST_F32 && opts->storage != ETP_ST_F16 &&
      opts->storage != ETP_ST_BF16) {
    g_set_error (error, ETP_ERROR, ETP_ERROR_INVALID,
        "%s: checkpoint storage must be F32, F16 or BF16", path);
    return FALSE;
  }
  if (!etp_resnet1d_check (m, error))
    return FALSE;
  w = etp_safetensors_writer_new ();
  hold = g_ptr_array_new_with_free_func (g_free);

  etp_safetensors_writer_set_metadata (w, "format", ETP_CHECKPOINT_FORMAT);
  etp_safetensors_writer_set_metadata (w, "model", ETP_CHECKPOINT_MODEL);
#define META_U(key, val) do { g_snprintf (buf, sizeof buf, "%u", (val)); \
    etp_safetensors_writer_set_metadata (w, key, buf); } while (0)
  META_U ("leads", cfg->leads);
  META_U ("width", cfg->width);
  META_U ("embed_dim", cfg->embed_dim);
  META_U ("text_dim", cfg->text_dim);
  if (cfg->sample_rate)
    META_U ("sample_rate", cfg->sample_rate);
  if (cfg->length)
    META_U ("length", cfg->length);
#undef META_U
  etp_safetensors_writer_set_metadata (w, "storage",
      etp_st_dtype_name (opts->storage));
  if (opts->extra_metadata) {
    for (const gchar * const *kv = opts->extra_metadata; kv[0] && kv[1];
        kv += 2)
      etp_safetensors_writer_set_metadata (w, kv[0], kv[1]);
  }

  for (guint i = 0; i < n; i++) {
    const EtpTensorInfo *info = etp_resnet1d_tensor_info (m, i);
    gfloat *v;
    if (info->kind == ETP_TENSOR_COUNTER) {
      etp_safetensors_writer_add_i64_scalar (w, info->name,
          etp_resnet1d_get_counter (m, i));
      continue;
    }
    v = g_new (gfloat, MAX (info->numel, 1));
    etp_resnet1d_read_tensor (m, i, ETP_SLOT_VALUE, v);
    g_ptr_array_add (hold, v);
    etp_safetensors_writer_add_f32 (w, info->name, info->ndim, info->shape,
        v, opts->storage);
  }
  if (opts->with_optimizer) {
    for (guint i = 0; i < n; i++) {
      const EtpTensorInfo *info = etp_resnet1d_tensor_info (m, i);
      gfloat *mv, *vv;
      gchar *name;
      if (info->kind != ETP_TENSOR_PARAM)
        continue;
      mv = g_new (gfloat, MAX (info->numel, 1));
      vv = g_new (gfloat, MAX (info->numel, 1));
      etp_resnet1d_read_tensor (m, i, ETP_SLOT_ADAM_M, mv);
      etp_resnet1d_read_tensor (m, i, ETP_SLOT_ADAM_V, vv);
      g_ptr_array_add (hold, mv);
      g_ptr_array_add (hold, vv);
      /* moments stay float32: exp_avg_sq underflows in half precision */
      name = g_strdup_printf ("optim.%s.exp_avg", info->name);
      etp_safetensors_writer_add_f32 (w, name, info->ndim, info->shape, mv,
          ETP_ST_F32);
      g_free (name);
      name = g_strdup_printf ("optim.%s.exp_avg_sq", info->name);
      etp_safetensors_writer_add_f32 (w, name, info->ndim, info->shape, vv,
          ETP_ST_F32);
      g_free (name);
    }
    etp_safetensors_writer_add_i64_scalar (w, "optim.step",
        etp_resnet1d_get_step (m));
  }
  ok = etp_resnet1d_check (m, error) &&
      etp_safetensors_writer_write (w, path, error);
  etp_safetensors_writer_free (w);
  g_ptr_array_unref (hold);
  return ok;
}
