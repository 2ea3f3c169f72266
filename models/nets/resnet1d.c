/* ResNet18-1D + ETP heads over the engine (see resnet1d.h). */
#include "nets/resnet1d.h"

#include <math.h>
#include <string.h>

#include "util/etperror.h"

#define N_UNITS_MAX 20
#define N_BLOCKS 8
#define ALIGN_F 16              /* floats: 64 bytes */

static inline gsize
align_f (gsize n)
{
  return (n + ALIGN_F - 1) & ~(gsize) (ALIGN_F - 1);
}

typedef struct {
  gint c_in, c_out, k, stride, pad;
  gsize w_off, g_off, b_off;    /* in params */
  gsize rm_off, rv_off;         /* in bufs */
  gsize fw_off, fb_off;         /* in folded */
  gint64 nbt;                   /* num_batches_tracked */
  /* per call */
  gint l_in, l_out;
  gfloat *c, *y, *smean, *sinv; /* training activations */
} Unit;

typedef struct {
  gint u1, u2, ud;              /* ud = -1 without downsample */
} Block;

typedef struct {
  EtpTensorInfo info;
  gsize off;                    /* PARAM: in params; BUFFER: in bufs */
  gint unit;                    /* COUNTER: which unit */
} Entry;

typedef struct {
  gfloat *base;
  gsize cap;                    /* floats */
} Arena;

struct _EtpResnet1d {
  EtpBackend *be;
  EtpResnet1dConfig cfg;
  EtpTrainParams tp;
  EtpPrecision prec;

  Unit units[N_UNITS_MAX];
  gint n_units;
  Block blocks[N_BLOCKS];
  gsize ep_w, ep_b, tp_w, tp_b, ls_off;

  GArray *entries;              /* Entry */
  GStringChunk *names;

  gsize n_params, n_bufs, n_folded;
  gfloat *params, *grads, *adam_m, *adam_v, *bufs, *folded;
  guint16 *folded_bf16;
  gboolean folded_dirty;
  gint step;

  Arena eval_ws, train_ws, text_ws;
  gfloat *scalars;              /* 16 device floats */

  /* eval layout */
  guint e_n, e_len;
  gfloat *e_in, *e_a, *e_b, *e_c, *e_d, *e_feat, *e_proj;
  /* train layout */
  guint t_n, t_len, t_nt;
  gfloat *t_in, *t_g[3], *t_feat, *t_dfeat, *t_pe, *t_ze, *t_dze, *t_text,
      *t_pt, *t_zt, *t_dzt, *t_da2;
  /* text layout */
  guint x_n;
  gfloat *x_in, *x_proj;
};

/* ------------------------------------------------------------ structure */

void
etp_resnet1d_config_init (EtpResnet1dConfig * cfg)
{
  cfg->leads = 12;
  cfg->width = 64;
  cfg->embed_dim = 512;
  cfg->text_dim = 768;
  cfg->sample_rate = 500;
  cfg->length = 5000;
}

static gsize
add_tensor (EtpResnet1d * m, const gchar * name, EtpTensorKind kind,
    guint ndim, gint64 d0, gint64 d1, gint64 d2, gint unit)
{
  Entry e = { 0 };
  gint64 dims[3] = { d0, d1, d2 };
  e.info.name = g_string_chunk_insert (m->names, name);
  e.info.kind = kind;
  e.info.ndim = ndim;
  e.info.numel = 1;
  for (guint i = 0; i < ndim; i++) {
    e.info.shape[i] = dims[i];
    e.info.numel *= dims[i];
  }
  e.unit = unit;
  if (kind == ETP_TENSOR_PARAM) {
    e.off = m->n_params;
    m->n_params += align_f (e.info.numel);
  } else if (kind == ETP_TENSOR_BUFFER) {
    e.off = m->n_bufs;
    m->n_bufs += align_f (e.info.numel);
  }
  g_array_append_val (m->entries, e);
  return e.off;
}

static gint
add_unit (EtpResnet1d * m, const gchar * conv, const gchar * bn, gint c_in,
    gint c_out, gint k, gint stride, gint pad)
{
  gint idx = m->n_units++;
  Unit *u = &m->units[idx];
  gchar *s;

  g_assert (idx < N_UNITS_MAX);
  u->c_in = c_in;
  u->c_out = c_out;
  u->k = k;
  u->stride = stride;
  u->pad = pad;
  s = g_strdup_printf ("%s.weight", conv);
  u->w_off = add_tensor (m, s, ETP_TENSOR_PARAM, 3, c_out, c_in, k, idx);
  g_free (s);
  s = g_strdup_printf ("%s.weight", bn);
  u->g_off = add_tensor (m, s, ETP_TENSOR_PARAM, 1, c_out, 0, 0, idx);
  g_free (s);
  s = g_strdup_printf ("%s.bias", bn);
  u->b_off = add_tensor (m, s, ETP_TENSOR_PARAM, 1, c_out, 0, 0, idx);
  g_free (s);
  s = g_strdup_printf ("%s.running_mean", bn);
  u->rm_off = add_tensor (m, s, ETP_TENSOR_BUFFER, 1, c_out, 0, 0, idx);
  g_free (s);
  s = g_strdup_printf ("%s.running_var", bn);
  u->rv_off = add_tensor (m, s, ETP_TENSOR_BUFFER, 1, c_out, 0, 0, idx);
  g_free (s);
  s = g_strdup_printf ("%s.num_batches_tracked", bn);
  add_tensor (m, s, ETP_TENSOR_COUNTER, 0, 0, 0, 0, idx);
  g_free (s);
  u->fw_off = m->n_folded;
  m->n_folded += align_f ((gsize) c_out * c_in * k);
  u->fb_off = m->n_folded;
  m->n_folded += align_f (c_out);
  return idx;
}

static void
build (EtpResnet1d * m)
{
  const EtpResnet1dConfig *c = &m->cfg;
  gint w = c->width, cin = w;

  add_unit (m, "conv1", "bn1", c->leads, w, 7, 2, 3);
  for (gint s = 0; s < 4; s++) {
    gint cout = w << s;
    for (gint b = 0; b < 2; b++) {
      Block *blk = &m->blocks[s * 2 + b];
      gint stride = (b == 0 && s > 0) ? 2 : 1;
      gchar *p = g_strdup_printf ("layer%d.%d", s + 1, b);
      gchar *c1 = g_strconcat (p, ".conv1", NULL);
      gchar *b1 = g_strconcat (p, ".bn1", NULL);
      gchar *c2 = g_strconcat (p, ".conv2", NULL);
      gchar *b2 = g_strconcat (p, ".bn2", NULL);
      gchar *d0 = g_strconcat (p, ".downsample.0", NULL);
      gchar *d1 = g_strconcat (p, ".downsample.1", NULL);
      blk->u1 = add_unit (m, c1, b1, cin, cout, 3, stride, 1);
      blk->u2 = add_unit (m, c2, b2, cout, cout, 3, 1, 1);
      blk->ud = -1;
      if (stride != 1 || cin != cout)
        blk->ud = add_unit (m, d0, d1, cin, cout, 1, stride, 0);
      cin = cout;
      g_free (p);
      g_free (c1);
      g_free (b1);
      g_free (c2);
      g_free (b2);
      g_free (d0);
      g_free (d1);
    }
  }
  m->ep_w = add_tensor (m, "ecg_proj.weight", ETP_TENSOR_PARAM, 2,
      c->embed_dim, 8 * w, 0, -1);
  m->ep_b = add_tensor (m, "ecg_proj.bias", ETP_TENSOR_PARAM, 1,
      c->embed_dim, 0, 0, -1);
  m->tp_w = add_tensor (m, "text_proj.weight", ETP_TENSOR_PARAM, 2,
      c->embed_dim, c->text_dim, 0, -1);
  m->tp_b = add_tensor (m, "text_proj.bias", ETP_TENSOR_PARAM, 1,
      c->embed_dim, 0, 0, -1);
  /* last, so a fixed temperature can be left out of the Adam step */
  m->ls_off = add_tensor (m, "logit_scale", ETP_TENSOR_PARAM, 0, 0, 0, 0, -1);
}

/* Box-Muller over MT19937. */
static gdouble
randn (GRand * r)
{
  gdouble u1 = g_rand_double (r), u2 = g_rand_double (r);
  if (u1 < 1e-300)
    u1 = 1e-300;
  return sqrt (-2.0 * log (u1)) * cos (2.0 * G_PI * u2);
}

static void
init_random (EtpResnet1d * m, guint64 seed)
{
  GRand *r;
  guint32 s[2] = { (guint32) seed, (guint32) (seed >> 32) };
  gfloat *hp = g_new0 (gfloat, m->n_params);
  gfloat *hb = g_new0 (gfloat, m->n_bufs ? m->n_bufs : 1);

  r = g_rand_new_with_seed_array (s, 2);
  for (gint i = 0; i < m->n_units; i++) {
    Unit *u = &m->units[i];
    gsize n = (gsize) u->c_out * u->c_in * u->k;
    gdouble std = sqrt (2.0 / ((gdouble) u->c_out * u->k));
    for (gsize j = 0; j < n; j++)
      hp[u->w_off + j] = (gfloat) (std * randn (r));
    for (gint j = 0; j < u->c_out; j++) {
      hp[u->g_off + j] = 1.0f;
      hp[u->b_off + j] = 0.0f;
      hb[u->rm_off + j] = 0.0f;
      hb[u->rv_off + j] = 1.0f;
    }
    u->nbt = 0;
  }
  {
    const EtpResnet1dConfig *c = &m->cfg;
    gsize fin = 8 * c->width;
    gdouble bound = 1.0 / sqrt ((gdouble) fin);
    for (gsize j = 0; j < (gsize) c->embed_dim * fin; j++)
      hp[m->ep_w + j] = (gfloat) ((2.0 * g_rand_double (r) - 1.0) * bound);
    for (gsize j = 0; j < c->embed_dim; j++)
      hp[m->ep_b + j] = (gfloat) ((2.0 * g_rand_double (r) - 1.0) * bound);
    bound = 1.0 / sqrt ((gdouble) c->text_dim);
    for (gsize j = 0; j < (gsize) c->embed_dim * c->text_dim; j++)
      hp[m->tp_w + j] = (gfloat) ((2.0 * g_rand_double (r) - 1.0) * bound);
    for (gsize j = 0; j < c->embed_dim; j++)
      hp[m->tp_b + j] = (gfloat) ((2.0 * g_rand_double (r) - 1.0) * bound);
    hp[m->ls_off] = (gfloat) log (1.0 / 0.07);
  }
  g_rand_free (r);
  etp_backend_upload (m->be, m->params, hp, m->n_params * sizeof (gfloat));
  if (m->n_bufs)
    etp_backend_upload (m->be, m->bufs, hb, m->n_bufs * sizeof (gfloat));
  g_free (hp);
  g_free (hb);
  m->folded_dirty = TRUE;
}

static gfloat *
dev_alloc (EtpResnet1d * m, gsize nfloats, GError ** error)
{
  return etp_backend_alloc (m->be, MAX (nfloats, 1) * sizeof (gfloat), error);
}

EtpResnet1d *
etp_resnet1d_new (EtpBackend * be, const EtpResnet1dConfig * cfg,
    guint64 seed, GError ** error)
{
  EtpResnet1d *m;

  g_return_val_if_fail (be != NULL && cfg != NULL, NULL);
  if (cfg->leads < 1 || cfg->leads > 1024 || cfg->width < 1 ||
      cfg->width > 4096 || cfg->embed_dim < 1 || cfg->text_dim < 1) {
    g_set_error (error, ETP_ERROR, ETP_ERROR_INVALID,
        "resnet18-1d: invalid configuration (leads %u, width %u, embed_dim "
        "%u, text_dim %u)", cfg->leads, cfg->width, cfg->embed_dim,
        cfg->text_dim);
    return NULL;
  }
  m = g_new0 (EtpResnet1d, 1);
  m->be = be;
  m->cfg = *cfg;
  m->tp.adam.lr = 2e-3f;
  m->tp.adam.beta1 = 0.9f;
  m->tp.adam.beta2 = 0.999f;
  m->tp.adam.eps = 1e-8f;
  m->tp.adam.weight_decay = 1e-5f;
  m->tp.adam.decoupled = FALSE;
  m->tp.bn_momentum = 0.1f;
  m->tp.bn_eps = 1e-5f;
  m->tp.learn_temperature = TRUE;
  m->tp.max_logit_scale = (gfloat) log (100.0);
  m->tp.ssl_weight = 1.0f;
  m->entries = g_array_new (FALSE, TRUE, sizeof (Entry));
  m->names = g_string_chunk_new (1024);
  build (m);

  if (!(m->params = dev_alloc (m, m->n_params, error)) ||
      !(m->grads = dev_alloc (m, m->n_params, error)) ||
      !(m->adam_m = dev_alloc (m, m->n_params, error)) ||
      !(m->adam_v = dev_alloc (m, m->n_params, error)) ||
      !(m->bufs = dev_alloc (m, m->n_bufs, error)) ||
      !(m->folded = dev_alloc (m, m->n_folded, error)) ||
      !(m->scalars = dev_alloc (m, 16, error))) {
    etp_resnet1d_free (m);
    return NULL;
  }
  etp_backend_memset (be, m->grads, 0, m->n_params * sizeof (gfloat));
  etp_backend_memset (be, m->adam_m, 0, m->n_params * sizeof (gfloat));
  etp_backend_memset (be, m->adam_v, 0, m->n_params * sizeof (gfloat));
  etp_backend_memset (be, m->scalars, 0, 16 * sizeof (gfloat));
  /* the alignment gaps are converted to bf16 with the rest */
  etp_backend_memset (be, m->folded, 0, m->n_folded * sizeof (gfloat));
  init_random (m, seed);
  if (!etp_backend_check (be, error)) {
    etp_resnet1d_free (m);
    return NULL;
  }
  return m;
}

void
etp_resnet1d_free (EtpResnet1d * m)
{
  if (!m)
    return;
  etp_backend_free_mem (m->be, m->params);
  etp_backend_free_mem (m->be, m->grads);
  etp_backend_free_mem (m->be, m->adam_m);
  etp_backend_free_mem (m->be, m->adam_v);
  etp_backend_free_mem (m->be, m->bufs);
  etp_backend_free_mem (m->be, m->folded);
  etp_backend_free_mem (m->be, m->folded_bf16);
  etp_backend_free_mem (m->be, m->scalars);
  etp_backend_free_mem (m->be, m->eval_ws.base);
  etp_backend_free_mem (m->be, m->train_ws.base);
  etp_backend_free_mem (m->be, m->text_ws.base);
  g_array_unref (m->entries);
  g_string_chunk_free (m->names);
  g_free (m);
}

const EtpResnet1dConfig *
etp_resnet1d_get_config (const EtpResnet1d * m)
{
  return &m->cfg;
}

EtpBackend *
etp_resnet1d_get_backend (const EtpResnet1d * m)
{
  return m->be;
}

guint
etp_resnet1d_feature_dim (const EtpResnet1d * m)
{
  return 8 * m->cfg.width;
}

EtpTrainParams *
etp_resnet1d_train_params (EtpResnet1d * m)
{
  return &m->tp;
}

gint
etp_resnet1d_get_step (const EtpResnet1d * m)
{
  return m->step;
}

void
etp_resnet1d_set_step (EtpResnet1d * m, gint step)
{
  m->step = step;
}

gboolean
etp_resnet1d_check (EtpResnet1d * m, GError ** error)
{
  return etp_backend_check (m->be, error);
}

/* Lengths of every unit for input length @len; returns the largest
 * activation (channels x length) of one ECG. */
static gsize
plan_lengths (EtpResnet1d * m, gint len)
{
  gsize maxact = 0;
  gint cur;
  Unit *u = &m->units[0];

  u->l_in = len;
  u->l_out = (len + 2 * u->pad - u->k) / u->stride + 1;
  maxact = (gsize) u->c_out * u->l_out;
  cur = u->l_out;
  for (gint b = 0; b < N_BLOCKS; b++) {
    Block *blk = &m->blocks[b];
    Unit *u1 = &m->units[blk->u1], *u2 = &m->units[blk->u2];
    u1->l_in = cur;
    u1->l_out = (cur + 2 * u1->pad - u1->k) / u1->stride + 1;
    u2->l_in = u1->l_out;
    u2->l_out = (u2->l_in + 2 * u2->pad - u2->k) / u2->stride + 1;
    if (blk->ud >= 0) {
      Unit *ud = &m->units[blk->ud];
      ud->l_in = cur;
      ud->l_out = (cur + 2 * ud->pad - ud->k) / ud->stride + 1;
    }
    maxact = MAX (maxact, (gsize) u1->c_out * u1->l_out);
    maxact = MAX (maxact, (gsize) u2->c_out * u2->l_out);
    cur = u2->l_out;
  }
  return maxact;
}

gdouble
etp_resnet1d_macs (const EtpResnet1d * m, guint length)
{
  EtpResnet1d *mm = (EtpResnet1d *) m;
  gdouble macs = 0;
  plan_lengths (mm, length);
  for (gint i = 0; i < m->n_units; i++) {
    const Unit *u = &m->units[i];
    macs += (gdouble) u->c_out * u->c_in * u->k * u->l_out;
  }
  return macs;
}

static inline EtpConv1dShape
unit_shape (const Unit * u, gint n)
{
  EtpConv1dShape s = { n, u->c_in, u->l_in, u->c_out, u->k, u->stride,
    u->pad
  };
  return s;
}

static gboolean
arena_reserve (EtpResnet1d * m, Arena * a, gsize need, GError ** error)
{
  if (need <= a->cap && a->base)
    return TRUE;
  etp_backend_free_mem (m->be, a->base);
  a->base = NULL;
  a->cap = 0;
  a->base = dev_alloc (m, need, error);
  if (!a->base)
    return FALSE;
  a->cap = need;
  return TRUE;
}

#define TAKE(ptr, count) do { \
    (ptr) = base ? base + off : NULL; off += align_f (count); } while (0)

/* ------------------------------------------------------------- inference */

gboolean
etp_resnet1d_set_precision (EtpResnet1d * m, EtpPrecision p, GError ** error)
{
  /* Refold (and reconvert to bf16) only when the precision changes: the
   * folded weights stay valid otherwise. */
  if (m->prec != p) {
    m->prec = p;
    m->folded_dirty = TRUE;
  }
  return TRUE;
}

EtpPrecision
etp_resnet1d_get_precision (const EtpResnet1d * m)
{
  return m->prec;
}

static gboolean
ensure_folded (EtpResnet1d * m, GError ** error)
{
  if (!m->folded_dirty)
    return TRUE;
  for (gint i = 0; i < m->n_units; i++) {
    Unit *u = &m->units[i];
    etp_batchnorm_fold (m->be, u->c_out, u->c_in * u->k, m->params + u->w_off,
        NULL, m->params + u->g_off, m->params + u->b_off,
        m->bufs + u->rm_off, m->bufs + u->rv_off, m->tp.bn_eps,
        m->folded + u->fw_off, m->folded + u->fb_off);
  }
  if (m->prec == ETP_PRECISION_BF16) {
    if (!m->folded_bf16) {
      m->folded_bf16 = etp_backend_alloc (m->be,
          m->n_folded * sizeof (guint16), error);
      if (!m->folded_bf16)
        return FALSE;
    }
    etp_convert_f32_to_bf16 (m->be, m->n_folded, m->folded, m->folded_bf16);
  }
  m->folded_dirty = FALSE;
  return TRUE;
}

static void
conv_eval (EtpResnet1d * m, const Unit * u, gint n, const gfloat * x,
    const gfloat * residual, gboolean relu, gfloat * y)
{
  EtpConv1dShape s = unit_shape (u, n);
  if (m->prec == ETP_PRECISION_BF16)
    etp_conv1d_forward_bf16 (m->be, &s, x, m->folded_bf16 + u->fw_off,
        m->folded + u->fb_off, residual, relu, y);
  else
    etp_conv1d_forward (m->be, &s, x, m->folded + u->fw_off,
        m->folded + u->fb_off, residual, relu, y);
}

static gboolean
eval_layout (EtpResnet1d * m, guint n, guint len, GError ** error)
{
  gsize maxact, off = 0;
  gfloat *base = NULL;

  maxact = plan_lengths (m, len);
  if (m->eval_ws.base && n == m->e_n && len == m->e_len)
    return TRUE;
  for (gint pass = 0; pass < 2; pass++) {
    off = 0;
    TAKE (m->e_in, (gsize) n * m->cfg.leads * len);
    TAKE (m->e_a, n * maxact);
    TAKE (m->e_b, n * maxact);
    TAKE (m->e_c, n * maxact);
    TAKE (m->e_d, n * maxact);
    TAKE (m->e_feat, (gsize) n * 8 * m->cfg.width);
    TAKE (m->e_proj, (gsize) n * m->cfg.embed_dim);
    if (pass == 0) {
      if (!arena_reserve (m, &m->eval_ws, off, error))
        return FALSE;
      base = m->eval_ws.base;
    }
  }
  m->e_n = n;
  m->e_len = len;
  return TRUE;
}

gboolean
etp_resnet1d_forward_eval (EtpResnet1d * m, guint n, guint length,
    const gfloat * x, gfloat * features, gfloat * embeddings, GError ** error)
{
  EtpBackend *be = m->be;
  gfloat *a, *b, *c, *d, *t;
  gint F = 8 * m->cfg.width, E = m->cfg.embed_dim;
  gint lastc, lastl;

  if (n < 1 || length < 1) {
    g_set_error (error, ETP_ERROR, ETP_ERROR_INVALID,
        "resnet18-1d: empty input (batch %u, length %u)", n, length);
    return FALSE;
  }
  if (!eval_layout (m, n, length, error) || !ensure_folded (m, error))
    return FALSE;
  etp_backend_upload (be, m->e_in, x,
      (gsize) n * m->cfg.leads * length * sizeof (gfloat));
  a = m->e_a;
  b = m->e_b;
  c = m->e_c;
  d = m->e_d;
  conv_eval (m, &m->units[0], n, m->e_in, NULL, TRUE, a);
  for (gint i = 0; i < N_BLOCKS; i++) {
    const Block *blk = &m->blocks[i];
    const gfloat *res = a;
    conv_eval (m, &m->units[blk->u1], n, a, NULL, TRUE, b);
    if (blk->ud >= 0) {
      conv_eval (m, &m->units[blk->ud], n, a, NULL, FALSE, c);
      res = c;
    }
    conv_eval (m, &m->units[blk->u2], n, b, res, TRUE, d);
    t = a;
    a = d;
    d = t;
  }
  lastc = m->units[m->blocks[N_BLOCKS - 1].u2].c_out;
  lastl = m->units[m->blocks[N_BLOCKS - 1].u2].l_out;
  etp_avgpool_forward (be, n, lastc, lastl, a, m->e_feat);
  if (embeddings) {
    etp_linear_forward (be, n, F, E, m->e_feat, m->params + m->ep_w,
        m->params + m->ep_b, m->e_proj);
    etp_l2norm_forward (be, n, E, 1e-12f, m->e_proj, m->e_proj);
  }
  if (features)
    etp_backend_download (be, features, m->e_feat,
        (gsize) n * F * sizeof (gfloat));
  if (embeddings)
    etp_backend_download (be, embeddings, m->e_proj,
        (gsize) n * E * sizeof (gfloat));
  return etp_backend_check (be, error);
}

gboolean
etp_resnet1d_project_text (EtpResnet1d * m, guint n, const gfloat * text,
    gfloat * embeddings, GError ** error)
{
  gsize off = 0;
  gfloat *base = NULL;
  gint D = m->cfg.text_dim, E = m->cfg.embed_dim;

  if (n < 1) {
    g_set_error (error, ETP_ERROR, ETP_ERROR_INVALID,
        "resnet18-1d: no text features");
    return FALSE;
  }
  if (!m->text_ws.base || n != m->x_n) {
    for (gint pass = 0; pass < 2; pass++) {
      off = 0;
      TAKE (m->x_in, (gsize) n * D);
      TAKE (m->x_proj, (gsize) n * E);
      if (pass == 0) {
        if (!arena_reserve (m, &m->text_ws, off, error))
          return FALSE;
        base = m->text_ws.base;
      }
    }
    m->x_n = n;
  }
  etp_backend_upload (m->be, m->x_in, text, (gsize) n * D * sizeof (gfloat));
  etp_linear_forward (m->be, n, D, E, m->x_in, m->params + m->tp_w,
      m->params + m->tp_b, m->x_proj);
  etp_l2norm_forward (m->be, n, E, 1e-12f, m->x_proj, m->x_proj);
  etp_backend_download (m->be, embeddings, m->x_proj,
      (gsize) n * E * sizeof (gfloat));
  return etp_backend_check (m->be, error);
}

/* -------------------------------------------------------------- training */

static gboolean
train_layout (EtpResnet1d * m, guint N, guint len, guint nt, GError ** error)
{
  gsize maxact, off = 0;
  gfloat *base = NULL;
  gsize E = m->cfg.embed_dim, F = 8 * m->cfg.width;

  maxact = plan_lengths (m, len);
  if (m->train_ws.base && N == m->t_n && len == m->t_len && nt == m->t_nt)
    return TRUE;
  for (gint pass = 0; pass < 2; pass++) {
    off = 0;
    TAKE (m->t_in, (gsize) N * m->cfg.leads * len);
    for (gint i = 0; i < m->n_units; i++) {
      Unit *u = &m->units[i];
      gsize act = (gsize) N * u->c_out * u->l_out;
      TAKE (u->c, act);
      TAKE (u->y, act);
      TAKE (u->smean, u->c_out);
      TAKE (u->sinv, u->c_out);
    }
    for (gint i = 0; i < 3; i++)
      TAKE (m->t_g[i], N * maxact);
    TAKE (m->t_feat, N * F);
    TAKE (m->t_dfeat, N * F);
    TAKE (m->t_pe, N * E);
    TAKE (m->t_ze, N * E);
    TAKE (m->t_dze, N * E);
    TAKE (m->t_da2, N * E);
    TAKE (m->t_text, (gsize) nt * m->cfg.text_dim);
    TAKE (m->t_pt, nt * E);
    TAKE (m->t_zt, nt * E);
    TAKE (m->t_dzt, nt * E);
    if (pass == 0) {
      if (!arena_reserve (m, &m->train_ws, off, error))
        return FALSE;
      base = m->train_ws.base;
    }
  }
  m->t_n = N;
  m->t_len = len;
  m->t_nt = nt;
  return TRUE;
}

static void
unit_forward_train (EtpResnet1d * m, Unit * u, gint N, const gfloat * x,
    const gfloat * residual, gboolean relu)
{
  EtpConv1dShape s = unit_shape (u, N);
  etp_conv1d_forward (m->be, &s, x, m->params + u->w_off, NULL, NULL, FALSE,
      u->c);
  etp_batchnorm_forward_train (m->be, N, u->c_out, u->l_out, u->c,
      m->params + u->g_off, m->params + u->b_off, m->bufs + u->rm_off,
      m->bufs + u->rv_off, m->tp.bn_momentum, m->tp.bn_eps, residual, relu,
      u->y, u->smean, u->sinv);
  u->nbt++;
}

/* dy: gradient of the unit's output y (BN(+res)(+relu)); writes the conv
 * output gradient into @dc, the residual gradient into @dres (may alias dy),
 * accumulates the parameter gradients, and the input gradient into @dx
 * (overwritten or accumulated; skipped when NULL). */
static void
unit_backward (EtpResnet1d * m, Unit * u, gint N, const gfloat * x,
    gfloat * dy, gboolean relu, gfloat * dc, gfloat * dres, gfloat * dx,
    gboolean accumulate)
{
  EtpConv1dShape s = unit_shape (u, N);
  etp_batchnorm_backward (m->be, N, u->c_out, u->l_out, u->c,
      m->params + u->g_off, u->smean, u->sinv, dy, relu ? u->y : NULL, dc,
      m->grads + u->g_off, m->grads + u->b_off, dres);
  etp_conv1d_backward_weight (m->be, &s, x, dc, m->grads + u->w_off, NULL);
  if (dx)
    etp_conv1d_backward_data (m->be, &s, dc, m->params + u->w_off, dx,
        accumulate);
}

gboolean
etp_resnet1d_forward_backward (EtpResnet1d * m, guint n, guint length,
    const gfloat * x, const gfloat * x2, const gfloat * text,
    EtpTrainResult * result, GError ** error)
{
  EtpBackend *be = m->be;
  guint N = x2 ? 2 * n : n;
  gint F = 8 * m->cfg.width, E = m->cfg.embed_dim, D = m->cfg.text_dim;
  gsize in_n = (gsize) n * m->cfg.leads * length;
  const gfloat *cur;
  gfloat *ga, *gb, *gc, *t;
  gfloat *grad_ls = m->grads + m->ls_off;
  gfloat *ls = m->params + m->ls_off;
  gboolean learn = m->tp.learn_temperature;
  gfloat host_loss[2] = { 0, 0 };
  Unit *last;

  if (n < 2 || length < 8) {
    g_set_error (error, ETP_ERROR, ETP_ERROR_INVALID,
        "resnet18-1d: a training batch needs at least 2 ECGs of at least 8 "
        "samples (got %u x %u)", n, length);
    return FALSE;
  }
  if (!train_layout (m, N, length, n, error))
    return FALSE;

  etp_backend_memset (be, m->grads, 0, m->n_params * sizeof (gfloat));
  etp_backend_upload (be, m->t_in, x, in_n * sizeof (gfloat));
  if (x2)
    etp_backend_upload (be, m->t_in + in_n, x2, in_n * sizeof (gfloat));
  etp_backend_upload (be, m->t_text, text, (gsize) n * D * sizeof (gfloat));

  /* encoder forward */
  unit_forward_train (m, &m->units[0], N, m->t_in, NULL, TRUE);
  cur = m->units[0].y;
  for (gint i = 0; i < N_BLOCKS; i++) {
    Block *blk = &m->blocks[i];
    const gfloat *res = cur;
    unit_forward_train (m, &m->units[blk->u1], N, cur, NULL, TRUE);
    if (blk->ud >= 0) {
      unit_forward_train (m, &m->units[blk->ud], N, cur, NULL, FALSE);
      res = m->units[blk->ud].y;
    }
    unit_forward_train (m, &m->units[blk->u2], N, m->units[blk->u1].y, res,
        TRUE);
    cur = m->units[blk->u2].y;
  }
  last = &m->units[m->blocks[N_BLOCKS - 1].u2];
  etp_avgpool_forward (be, N, last->c_out, last->l_out, cur, m->t_feat);

  /* heads + loss */
  etp_linear_forward (be, N, F, E, m->t_feat, m->params + m->ep_w,
      m->params + m->ep_b, m->t_pe);
  etp_l2norm_forward (be, N, E, 1e-12f, m->t_pe, m->t_ze);
  etp_linear_forward (be, n, D, E, m->t_text, m->params + m->tp_w,
      m->params + m->tp_b, m->t_pt);
  etp_l2norm_forward (be, n, E, 1e-12f, m->t_pt, m->t_zt);
  etp_clip_loss (be, n, E, m->t_ze, m->t_zt, ls, m->scalars + 0, m->t_dze,
      m->t_dzt, learn ? grad_ls : NULL, NULL);
  if (x2) {
    gfloat w = m->tp.ssl_weight;
    gfloat *dz2 = m->t_dze + (gsize) n * E;
    etp_backend_memset (be, m->scalars + 2, 0, sizeof (gfloat));
    etp_clip_loss (be, n, E, m->t_ze, m->t_ze + (gsize) n * E, ls,
        m->scalars + 1, m->t_da2, dz2, learn ? m->scalars + 2 : NULL, NULL);
    etp_scale (be, (gsize) n * E, m->t_da2, w);
    etp_scale (be, (gsize) n * E, dz2, w);
    etp_add (be, (gsize) n * E, m->t_dze, m->t_da2, m->t_dze);
    if (learn) {
      etp_scale (be, 1, m->scalars + 2, w);
      etp_add (be, 1, grad_ls, m->scalars + 2, grad_ls);
    }
  }

  /* heads backward */
  etp_l2norm_backward (be, n, E, 1e-12f, m->t_pt, m->t_dzt, m->t_dzt);
  etp_linear_backward (be, n, D, E, m->t_text, m->params + m->tp_w,
      m->t_dzt, NULL, m->grads + m->tp_w, m->grads + m->tp_b);
  etp_l2norm_backward (be, N, E, 1e-12f, m->t_pe, m->t_dze, m->t_dze);
  etp_linear_backward (be, N, F, E, m->t_feat, m->params + m->ep_w,
      m->t_dze, m->t_dfeat, m->grads + m->ep_w, m->grads + m->ep_b);

  /* encoder backward */
  ga = m->t_g[0];
  gb = m->t_g[1];
  gc = m->t_g[2];
  etp_avgpool_backward (be, N, last->c_out, last->l_out, m->t_dfeat, ga,
      FALSE);
  for (gint i = N_BLOCKS - 1; i >= 0; i--) {
    Block *blk = &m->blocks[i];
    Unit *u1 = &m->units[blk->u1], *u2 = &m->units[blk->u2];
    const gfloat *bin = (i == 0) ? m->units[0].y :
        m->units[m->blocks[i - 1].u2].y;
    /* ga: gradient of the block output; afterwards the residual gradient */
    unit_backward (m, u2, N, u1->y, ga, TRUE, gb, ga, gc, FALSE);
    unit_backward (m, u1, N, bin, gc, TRUE, gb, NULL, gc, FALSE);
    if (blk->ud >= 0) {
      Unit *ud = &m->units[blk->ud];
      unit_backward (m, ud, N, bin, ga, FALSE, gb, NULL, gc, TRUE);
    } else {
      etp_add (be, (gsize) N * u1->c_in * u1->l_in, gc, ga, gc);
    }
    t = ga;
    ga = gc;
    gc = t;
  }
  unit_backward (m, &m->units[0], N, m->t_in, ga, TRUE, gb, NULL, NULL,
      FALSE);

  m->folded_dirty = TRUE;
  etp_backend_download (be, host_loss, m->scalars, 2 * sizeof (gfloat));
  if (!etp_backend_check (be, error))
    return FALSE;
  if (result) {
    gfloat hls;
    etp_backend_download (be, &hls, ls, sizeof (gfloat));
    result->loss_text = host_loss[0];
    result->loss_ssl = x2 ? host_loss[1] : 0.0f;
    result->loss = host_loss[0] + (x2 ? m->tp.ssl_weight * host_loss[1] : 0);
    result->logit_scale = hls;
    result->step = m->step;
  }
  return TRUE;
}

gboolean
etp_resnet1d_optimizer_step (EtpResnet1d * m, GError ** error)
{
  gsize n = m->tp.learn_temperature ? m->n_params : m->ls_off;
  gfloat ls;

  m->step++;
  etp_adam_step (m->be, n, m->params, m->grads, m->adam_m, m->adam_v,
      &m->tp.adam, m->step);
  if (m->tp.learn_temperature && m->tp.max_logit_scale > 0) {
    etp_backend_download (m->be, &ls, m->params + m->ls_off, sizeof (gfloat));
    if (ls > m->tp.max_logit_scale) {
      ls = m->tp.max_logit_scale;
      etp_backend_upload (m->be, m->params + m->ls_off, &ls, sizeof (gfloat));
    }
  }
  m->folded_dirty = TRUE;
  return etp_backend_check (m->be, error);
}

gboolean
etp_resnet1d_train_step (EtpResnet1d * m, guint n, guint length,
    const gfloat * x, const gfloat * x2, const gfloat * text,
    EtpTrainResult * result, GError ** error)
{
  if (!etp_resnet1d_forward_backward (m, n, length, x, x2, text, result,
          error))
    return FALSE;
  if (!etp_resnet1d_optimizer_step (m, error))
    return FALSE;
  if (result) {
    etp_backend_download (m->be, &result->logit_scale,
        m->params + m->ls_off, sizeof (gfloat));
    result->step = m->step;
  }
  return TRUE;
}

/* --------------------------------------------------------- named tensors */

guint
etp_resnet1d_n_tensors (const EtpResnet1d * m)
{
  return m->entries->len;
}

const EtpTensorInfo *
etp_resnet1d_tensor_info (const EtpResnet1d * m, guint i)
{
  g_return_val_if_fail (i < m->entries->len, NULL);
  return &g_array_index (m->entries, Entry, i).info;
}

gint
etp_resnet1d_find_tensor (const EtpResnet1d * m, const gchar * name)
{
  for (guint i = 0; i < m->entries->len; i++)
    if (strcmp (g_array_index (m->entries, Entry, i).info.name, name) == 0)
      return (gint) i;
  return -1;
}

static gfloat *
slot_ptr (EtpResnet1d * m, const Entry * e, EtpTensorSlot slot)
{
  if (e->info.kind == ETP_TENSOR_BUFFER)
    return slot == ETP_SLOT_VALUE ? m->bufs + e->off : NULL;
  if (e->info.kind != ETP_TENSOR_PARAM)
    return NULL;
  switch (slot) {
    case ETP_SLOT_VALUE:
      return m->params + e->off;
    case ETP_SLOT_GRAD:
      return m->grads + e->off;
    case ETP_SLOT_ADAM_M:
      return m->adam_m + e->off;
    case ETP_SLOT_ADAM_V:
      return m->adam_v + e->off;
  }
  return NULL;
}

void
etp_resnet1d_read_tensor (EtpResnet1d * m, guint i, EtpTensorSlot slot,
    gfloat * dst)
{
  const Entry *e;
  gfloat *p;

  g_return_if_fail (i < m->entries->len);
  e = &g_array_index (m->entries, Entry, i);
  if (e->info.kind == ETP_TENSOR_COUNTER) {
    dst[0] = slot == ETP_SLOT_VALUE ? (gfloat) m->units[e->unit].nbt : 0.0f;
    return;
  }
  p = slot_ptr (m, e, slot);
  if (!p) {
    memset (dst, 0, e->info.numel * sizeof (gfloat));
    return;
  }
  etp_backend_download (m->be, dst, p, e->info.numel * sizeof (gfloat));
}

void
etp_resnet1d_write_tensor (EtpResnet1d * m, guint i, EtpTensorSlot slot,
    const gfloat * src)
{
  const Entry *e;
  gfloat *p;

  g_return_if_fail (i < m->entries->len);
  e = &g_array_index (m->entries, Entry, i);
  if (e->info.kind == ETP_TENSOR_COUNTER) {
    if (slot == ETP_SLOT_VALUE)
      m->units[e->unit].nbt = (gint64) llrintf (src[0]);
    return;
  }
  p = slot_ptr (m, e, slot);
  if (!p)
    return;
  etp_backend_upload (m->be, p, src, e->info.numel * sizeof (gfloat));
  m->folded_dirty = TRUE;
}

gint64
etp_resnet1d_get_counter (const EtpResnet1d * m, guint i)
{
  const Entry *e;
  g_return_val_if_fail (i < m->entries->len, 0);
  e = &g_array_index (m->entries, Entry, i);
  return e->info.kind == ETP_TENSOR_COUNTER ? m->units[e->unit].nbt : 0;
}

void
etp_resnet1d_set_counter (EtpResnet1d * m, guint i, gint64 v)
{
  const Entry *e;
  g_return_if_fail (i < m->entries->len);
  e = &g_array_index (m->entries, Entry, i);
  if (e->info.kind == ETP_TENSOR_COUNTER)
    m->units[e->unit].nbt = v;
}
