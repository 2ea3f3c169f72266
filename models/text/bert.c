/* BERT encoder forward on the CPU (see bert.h). */
#include "config.h"
#include "text/bert.h"
#include "nets/safetensors.h"
#include "util/etperror.h"
#if defined(ETP_CUDA_BACKEND)
#include "cuda/cuda_bert.h"
#endif

#include <cblas.h>
#include <json-glib/json-glib.h>
#include <math.h>
#include <string.h>

/* Optional per-step timing (env ETP_BERT_PROFILE=1): printed to stderr
 * when the model is freed. */
enum { PROF_EMBED, PROF_GEMM, PROF_ATTN, PROF_LN, PROF_GELU, PROF_N };
static const gchar *prof_names[PROF_N] = { "embed", "gemm", "attention",
  "layernorm", "gelu" };

#define PROF_START(m) gint64 prof_t0 = (m)->profile ? g_get_monotonic_time () : 0
#define PROF_END(m, k) do { if ((m)->profile) { \
      gint64 t1 = g_get_monotonic_time (); \
      (m)->prof_us[k] += t1 - prof_t0; prof_t0 = t1; } } while (0)

typedef struct {
  const gfloat *wq, *bq, *wk, *bk, *wv, *bv;    /* (H,H), (H) */
  const gfloat *wo, *bo, *ln1_g, *ln1_b;        /* attention output */
  const gfloat *wi, *bi;        /* (I,H), (I) */
  const gfloat *wo2, *bo2, *ln2_g, *ln2_b;      /* (H,I), (H) */
} BertLayer;

struct _EtpBert {
  EtpBertConfig cfg;
  gfloat *params;               /* every parameter, float32, one block */
  const gfloat *word, *pos, *type, *emb_ln_g, *emb_ln_b;
  BertLayer *layer;
  const gfloat *pool_w, *pool_b;
  gboolean has_pooler;
  guint n_threads;
  gboolean profile;
  gint64 prof_us[PROF_N];
  /* device path (NULL = CPU code of this file) */
  EtpBackend *be;
  gfloat *dparams;              /* the params block on the device */
};

/* A sequence inside a packed row block. */
typedef struct {
  guint start;                  /* first row */
  guint rows;                   /* number of rows (queries and keys) */
} BertSeq;

/* ------------------------------------------------------------ threading */

typedef void (*RangeFunc) (gpointer ctx, gsize begin, gsize end);

typedef struct {
  RangeFunc fn;
  gpointer ctx;
  gsize begin, end;
} RangeJob;

static gpointer
range_job_run (gpointer data)
{
  RangeJob *j = data;
  j->fn (j->ctx, j->begin, j->end);
  return NULL;
}

/* Runs fn over [0, n) split into up to @n_threads contiguous slices (the
 * caller runs the first one). Serial when the work is below @grain items
 * per thread. */
static void
par_range (guint n_threads, gsize n, gsize grain, RangeFunc fn, gpointer ctx)
{
  guint t, nt = MAX (n_threads, 1);
  RangeJob jobs[16];
  GThread *threads[16];

  if (nt > 16)
    nt = 16;
  while (nt > 1 && n / nt < MAX (grain, 1))
    nt--;
  if (nt <= 1) {
    fn (ctx, 0, n);
    return;
  }
  for (t = 0; t < nt; t++) {
    jobs[t].fn = fn;
    jobs[t].ctx = ctx;
    jobs[t].begin = n * t / nt;
    jobs[t].end = n * (t + 1) / nt;
  }
  for (t = 1; t < nt; t++)
    threads[t] = g_thread_new ("etp-bert", range_job_run, &jobs[t]);
  range_job_run (&jobs[0]);
  for (t = 1; t < nt; t++)
    g_thread_join (threads[t]);
}

/* ------------------------------------------------------------- the steps */

typedef struct {
  const gfloat *word, *pos, *type;
  const gint32 *ids, *pos_ids;
  gfloat *out;
  guint H;
} EmbedCtx;

static void
embed_range (gpointer p, gsize b, gsize e)
{
  EmbedCtx *c = p;
  gsize r;
  guint k;
  for (r = b; r < e; r++) {
    const gfloat *w = c->word + (gsize) c->ids[r] * c->H;
    const gfloat *q = c->pos + (gsize) c->pos_ids[r] * c->H;
    gfloat *o = c->out + r * c->H;
    for (k = 0; k < c->H; k++)
      o[k] = w[k] + q[k] + c->type[k];
  }
}

/* out[r] = word[ids[r]] + pos[pos_ids[r]] + type[0] (token type 0). */
static void
bert_embed_forward (guint nt, const gfloat * word, const gfloat * pos,
    const gfloat * type, const gint32 * ids, const gint32 * pos_ids, guint R,
    guint H, gfloat * out)
{
  EmbedCtx c = { word, pos, type, ids, pos_ids, out, H };
  par_range (nt, R, 16, embed_range, &c);
}

typedef struct {
  const gfloat *x, *res, *g, *b;
  gfloat *out;
  guint H;
  gfloat eps;
} LnCtx;

static void
ln_range (gpointer p, gsize b, gsize e)
{
  LnCtx *c = p;
  gsize r;
  guint k, H = c->H;
  for (r = b; r < e; r++) {
    const gfloat *x = c->x + r * H;
    const gfloat *res = c->res ? c->res + r * H : NULL;
    gfloat *o = c->out + r * H;
    gdouble mean = 0, var = 0;
    gfloat inv, m;
    if (res)
      for (k = 0; k < H; k++)
        o[k] = x[k] + res[k];
    else if (o != x)
      memcpy (o, x, H * sizeof (gfloat));
    for (k = 0; k < H; k++)
      mean += o[k];
    mean /= H;
    for (k = 0; k < H; k++) {
      gdouble d = o[k] - mean;
      var += d * d;
    }
    var /= H;
    inv = (gfloat) (1.0 / sqrt (var + c->eps));
    m = (gfloat) mean;
    for (k = 0; k < H; k++)
      o[k] = (o[k] - m) * inv * c->g[k] + c->b[k];
  }
}

/* out = LayerNorm (x + res) (res may be NULL; out may alias x). */
static void
bert_layernorm_forward (guint nt, const gfloat * x, const gfloat * res,
    const gfloat * g, const gfloat * b, guint R, guint H, gfloat eps,
    gfloat * out)
{
  LnCtx c = { x, res, g, b, out, H, eps };
  par_range (nt, R, 8, ln_range, &c);
}

/* y (R x out) = x (R x in) W^T + b, W is (out x in) as torch.nn.Linear. */
static void
bert_linear_forward (const gfloat * x, const gfloat * w, const gfloat * bias,
    guint R, guint in, guint out, gfloat * y)
{
  guint r;
  for (r = 0; r < R; r++)
    memcpy (y + (gsize) r * out, bias, out * sizeof (gfloat));
  cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasTrans, (int) R, (int) out,
      (int) in, 1.0f, x, (int) in, w, (int) in, 1.0f, y, (int) out);
}

typedef struct {
  gfloat *x;
  gboolean tanh_form;
} GeluCtx;

static void
gelu_range (gpointer p, gsize b, gsize e)
{
  GeluCtx *c = p;
  gsize i;
  if (c->tanh_form) {
    const gfloat k = 0.7978845608028654f;       /* sqrt (2 / pi) */
    for (i = b; i < e; i++) {
      gfloat v = c->x[i];
      c->x[i] = 0.5f * v * (1.0f + tanhf (k * (v + 0.044715f * v * v * v)));
    }
  } else {
    for (i = b; i < e; i++) {
      gfloat v = c->x[i];
      c->x[i] = 0.5f * v * (1.0f + erff (v * 0.7071067811865476f));
    }
  }
}

/* In place: x = gelu (x), erf form (BERT's "gelu") unless @tanh_form. */
static void
bert_gelu_forward (guint nt, gfloat * x, gsize n, gboolean tanh_form)
{
  GeluCtx c = { x, tanh_form };
  par_range (nt, n, 4096, gelu_range, &c);
}

typedef struct {
  gfloat *sc;                   /* rows x rows per head, scores -> probabilities */
  const gint32 *keymask;        /* this sequence's rows, NULL = all valid */
  guint rows;
} SoftmaxCtx;

static void
softmax_range (gpointer p, gsize b, gsize e)
{
  SoftmaxCtx *c = p;
  gsize r;
  guint j, n = c->rows;
  for (r = b; r < e; r++) {
    gfloat *row = c->sc + r * n;
    gfloat mx = -INFINITY, sum = 0.0f, inv;
    for (j = 0; j < n; j++) {
      if (c->keymask && !c->keymask[j])
        row[j] = -INFINITY;
      else if (row[j] > mx)
        mx = row[j];
    }
    for (j = 0; j < n; j++) {
      row[j] = row[j] == -INFINITY ? 0.0f : expf (row[j] - mx);
      sum += row[j];
    }
    inv = sum > 0.0f ? 1.0f / sum : 0.0f;
    for (j = 0; j < n; j++)
      row[j] *= inv;
  }
}

/* Multi-head self-attention of each sequence over its own rows: per
 * (sequence, head) S = Q K^T / sqrt(d) and ctx = softmax(S) V as small
 * GEMMs (issued from this thread: concurrent OpenBLAS calls are avoided),
 * the masked softmax split over the worker threads. Masked keys get
 * probability 0 (PyTorch adds the float minimum: same result). */
static void
bert_attention_forward (guint nt, const gfloat * q, const gfloat * k,
    const gfloat * v, const BertSeq * seqs, guint n_seqs,
    const gint32 * keymask, guint heads, guint H, gfloat * ctx)
{
  guint d = H / heads, i, h, max_rows = 0;
  const gfloat scale = 1.0f / sqrtf ((gfloat) d);
  gfloat *sc;

  for (i = 0; i < n_seqs; i++)
    max_rows = MAX (max_rows, seqs[i].rows);
  sc = g_new (gfloat, (gsize) heads * max_rows * max_rows + 1);
  for (i = 0; i < n_seqs; i++) {
    const BertSeq *s = &seqs[i];
    gsize base = (gsize) s->start * H;
    gsize hs = (gsize) s->rows * s->rows;
    SoftmaxCtx c = { sc, keymask ? keymask + s->start : NULL, s->rows };
    for (h = 0; h < heads; h++)
      cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasTrans, (int) s->rows,
          (int) s->rows, (int) d, scale, q + base + h * d, (int) H,
          k + base + h * d, (int) H, 0.0f, sc + h * hs, (int) s->rows);
    par_range (nt, (gsize) heads * s->rows, 64, softmax_range, &c);
    for (h = 0; h < heads; h++)
      cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasNoTrans, (int) s->rows,
          (int) d, (int) s->rows, 1.0f, sc + h * hs, (int) s->rows,
          v + base + h * d, (int) H, 0.0f, ctx + base + h * d, (int) H);
  }
  g_free (sc);
}

/* -------------------------------------------------------------- forward */

/* Runs embeddings + all layers over R packed rows; returns the last hidden
 * state (R x H, newly allocated) or NULL with @error. */
static gfloat *
bert_run (EtpBert * m, const gint32 * ids, guint R, const BertSeq * seqs,
    guint n_seqs, const gint32 * keymask, GError ** error)
{
  const EtpBertConfig *c = &m->cfg;
  guint H = c->hidden, NI = c->intermediate, nt = m->n_threads;
  gint32 *pos_ids = g_new (gint32, MAX (R, 1));
  gfloat *x, *q, *kk, *v, *ctx, *a, *inter;
  guint i, r, l;

  for (i = 0; i < n_seqs; i++) {
    if (seqs[i].rows > c->max_positions) {
      g_set_error (error, ETP_ERROR, ETP_ERROR_INVALID,
          "sequence %u has %u tokens, more than max_position_embeddings %u",
          i, seqs[i].rows, c->max_positions);
      g_free (pos_ids);
      return NULL;
    }
    for (r = 0; r < seqs[i].rows; r++)
      pos_ids[seqs[i].start + r] = r;
  }
  for (r = 0; r < R; r++) {
    if (ids[r] < 0 || (guint) ids[r] >= c->vocab_size) {
      g_set_error (error, ETP_ERROR, ETP_ERROR_INVALID,
          "token id %d out of range (vocab_size %u)", ids[r], c->vocab_size);
      g_free (pos_ids);
      return NULL;
    }
  }

  x = g_new (gfloat, (gsize) R * H);
  q = g_new (gfloat, (gsize) R * H);
  kk = g_new (gfloat, (gsize) R * H);
  v = g_new (gfloat, (gsize) R * H);
  ctx = g_new (gfloat, (gsize) R * H);
  a = g_new (gfloat, (gsize) R * H);
  inter = g_new (gfloat, (gsize) R * NI);

  {
    PROF_START (m);
    bert_embed_forward (nt, m->word, m->pos, m->type, ids, pos_ids, R, H, x);
    bert_layernorm_forward (nt, x, NULL, m->emb_ln_g, m->emb_ln_b, R, H,
        c->layer_norm_eps, x);
    PROF_END (m, PROF_EMBED);
    for (l = 0; l < c->layers; l++) {
      const BertLayer *L = &m->layer[l];
      bert_linear_forward (x, L->wq, L->bq, R, H, H, q);
      bert_linear_forward (x, L->wk, L->bk, R, H, H, kk);
      bert_linear_forward (x, L->wv, L->bv, R, H, H, v);
      PROF_END (m, PROF_GEMM);
      bert_attention_forward (nt, q, kk, v, seqs, n_seqs, keymask, c->heads, H,
          ctx);
      PROF_END (m, PROF_ATTN);
      bert_linear_forward (ctx, L->wo, L->bo, R, H, H, a);
      PROF_END (m, PROF_GEMM);
      bert_layernorm_forward (nt, a, x, L->ln1_g, L->ln1_b, R, H,
          c->layer_norm_eps, a);
      PROF_END (m, PROF_LN);
      bert_linear_forward (a, L->wi, L->bi, R, H, NI, inter);
      PROF_END (m, PROF_GEMM);
      bert_gelu_forward (nt, inter, (gsize) R * NI, c->gelu_tanh);
      PROF_END (m, PROF_GELU);
      bert_linear_forward (inter, L->wo2, L->bo2, R, NI, H, x);
      PROF_END (m, PROF_GEMM);
      bert_layernorm_forward (nt, x, a, L->ln2_g, L->ln2_b, R, H,
          c->layer_norm_eps, x);
      PROF_END (m, PROF_LN);
    }
  }
  g_free (pos_ids);
  g_free (q);
  g_free (kk);
  g_free (v);
  g_free (ctx);
  g_free (a);
  g_free (inter);
  return x;
}

#if defined(ETP_CUDA_BACKEND)
static gboolean
bert_check_batch (const EtpBert * m, const gint32 * ids, guint R,
    const BertSeq * seqs, guint n_seqs, GError ** error)
{
  guint i, r;
  for (i = 0; i < n_seqs; i++) {
    if (seqs[i].rows > m->cfg.max_positions) {
      g_set_error (error, ETP_ERROR, ETP_ERROR_INVALID,
          "sequence %u has %u tokens, more than max_position_embeddings %u",
          i, seqs[i].rows, m->cfg.max_positions);
      return FALSE;
    }
  }
  for (r = 0; r < R; r++) {
    if (ids[r] < 0 || (guint) ids[r] >= m->cfg.vocab_size) {
      g_set_error (error, ETP_ERROR, ETP_ERROR_INVALID,
          "token id %d out of range (vocab_size %u)", ids[r], m->cfg.vocab_size);
      return FALSE;
    }
  }
  return TRUE;
}

/* Device pointer of the parameter @host (inside m->params). */
#define DEV(m, host) ((m)->dparams + ((host) - (m)->params))

/* The forward of bert_run on the CUDA backend, same steps (see
 * models/cuda/cuda_bert.h). Writes the last hidden state (R x H) to
 * @hidden (may be NULL), the first row / the masked mean / the pooler of
 * each sequence to @cls / @mean / @pooler (n_seqs x H each; may be NULL). */
static gboolean
bert_run_device (EtpBert * m, const gint32 * ids, guint R, const BertSeq * seqs,
    guint n_seqs, const gint32 * keymask, gfloat * hidden, gfloat * cls,
    gfloat * mean, gfloat * pooler, GError ** error)
{
  const EtpBertConfig *c = &m->cfg;
  EtpBackend *be = m->be;
  const int H = c->hidden, NI = c->intermediate;
  EtpCudaBertSeq *hs = g_new (EtpCudaBertSeq, n_seqs);
  guint i, l, max_rows = 0;
  gsize rh = (gsize) R * H * 4;
  EtpCudaBertSeq *dseqs;
  gint32 *dids, *dmask = NULL;
  gfloat *x, *q, *k, *v, *ctx, *a, *inter, *dcls, *dmean, *dpool;
  gboolean ok;

  for (i = 0; i < n_seqs; i++) {
    hs[i].start = seqs[i].start;
    hs[i].rows = seqs[i].rows;
    max_rows = MAX (max_rows, seqs[i].rows);
  }
  dseqs = etp_backend_alloc (be, sizeof (EtpCudaBertSeq) * n_seqs, NULL);
  dids = etp_backend_alloc (be, (gsize) R * 4, NULL);
  if (keymask)
    dmask = etp_backend_alloc (be, (gsize) R * 4, NULL);
  x = etp_backend_alloc (be, rh, NULL);
  q = etp_backend_alloc (be, rh, NULL);
  k = etp_backend_alloc (be, rh, NULL);
  v = etp_backend_alloc (be, rh, NULL);
  ctx = etp_backend_alloc (be, rh, NULL);
  a = etp_backend_alloc (be, rh, NULL);
  inter = etp_backend_alloc (be, (gsize) R * NI * 4, NULL);
  dcls = etp_backend_alloc (be, (gsize) n_seqs * H * 4, NULL);
  dmean = etp_backend_alloc (be, (gsize) n_seqs * H * 4, NULL);
  dpool = etp_backend_alloc (be, (gsize) n_seqs * H * 4, NULL);
  if (!dseqs || !dids || (keymask && !dmask) || !x || !q || !k || !v || !ctx
      || !a || !inter || !dcls || !dmean || !dpool) {
    g_set_error (error, ETP_ERROR, ETP_ERROR_DEVICE,
        "out of device memory for a batch of %u tokens", R);
    ok = FALSE;
    goto out;
  }
  etp_backend_upload (be, dseqs, hs, sizeof (EtpCudaBertSeq) * n_seqs);
  etp_backend_upload (be, dids, ids, (gsize) R * 4);
  if (keymask)
    etp_backend_upload (be, dmask, keymask, (gsize) R * 4);

  etp_cuda_bert_embed (be, n_seqs, max_rows, dseqs, dids, DEV (m, m->word),
      c->vocab_size, DEV (m, m->pos), c->max_positions, DEV (m, m->type), H, x);
  etp_cuda_bert_layernorm (be, R, H, c->layer_norm_eps, x, NULL,
      DEV (m, m->emb_ln_g), DEV (m, m->emb_ln_b), x);
  for (l = 0; l < c->layers; l++) {
    const BertLayer *L = &m->layer[l];
    etp_linear_forward (be, R, H, H, x, DEV (m, L->wq), DEV (m, L->bq), q);
    etp_linear_forward (be, R, H, H, x, DEV (m, L->wk), DEV (m, L->bk), k);
    etp_linear_forward (be, R, H, H, x, DEV (m, L->wv), DEV (m, L->bv), v);
    etp_cuda_bert_attention (be, n_seqs, max_rows, dseqs, dmask, c->heads, H,
        q, k, v, ctx);
    etp_linear_forward (be, R, H, H, ctx, DEV (m, L->wo), DEV (m, L->bo), a);
    etp_cuda_bert_layernorm (be, R, H, c->layer_norm_eps, a, x,
        DEV (m, L->ln1_g), DEV (m, L->ln1_b), a);
    etp_linear_forward (be, R, H, NI, a, DEV (m, L->wi), DEV (m, L->bi), inter);
    etp_cuda_bert_gelu (be, (gsize) R * NI, c->gelu_tanh, inter);
    etp_linear_forward (be, R, NI, H, inter, DEV (m, L->wo2), DEV (m, L->bo2),
        x);
    etp_cuda_bert_layernorm (be, R, H, c->layer_norm_eps, x, a,
        DEV (m, L->ln2_g), DEV (m, L->ln2_b), x);
  }
  etp_cuda_bert_pool (be, n_seqs, dseqs, dmask, H, x, dcls, dmean);
  if (pooler) {
    etp_linear_forward (be, n_seqs, H, H, dcls, DEV (m, m->pool_w),
        DEV (m, m->pool_b), dpool);
    etp_cuda_tanh (be, (gsize) n_seqs * H, dpool);
  }
  if (hidden)
    etp_backend_download (be, hidden, x, rh);
  if (cls)
    etp_backend_download (be, cls, dcls, (gsize) n_seqs * H * 4);
  if (mean)
    etp_backend_download (be, mean, dmean, (gsize) n_seqs * H * 4);
  if (pooler)
    etp_backend_download (be, pooler, dpool, (gsize) n_seqs * H * 4);
  etp_backend_sync (be);
  ok = etp_backend_check (be, error);
out:
  {
    gpointer dev[] = { dseqs, dids, dmask, x, q, k, v, ctx, a, inter, dcls,
      dmean, dpool
    };
    for (i = 0; i < G_N_ELEMENTS (dev); i++)
      if (dev[i])
        etp_backend_free_mem (be, dev[i]);
  }
  g_free (hs);
  return ok;
}
#undef DEV
#endif

/* out (n x H) = tanh (cls_rows W^T + b) */
static void
bert_pooler_forward (const EtpBert * m, const gfloat * cls, guint n,
    gfloat * out)
{
  guint H = m->cfg.hidden;
  gsize i;
  bert_linear_forward (cls, m->pool_w, m->pool_b, n, H, H, out);
  for (i = 0; i < (gsize) n * H; i++)
    out[i] = tanhf (out[i]);
}

gboolean
etp_bert_forward_padded (EtpBert * m, const gint32 * ids, const gint32 * mask,
    guint B, guint T, gfloat * hidden, gfloat * cls, gfloat * mean,
    gfloat * pooler, GError ** error)
{
  guint H = m->cfg.hidden, b, t, k;
  BertSeq *seqs;
  gfloat *x, *clsbuf;

  if (pooler && !m->has_pooler) {
    g_set_error (error, ETP_ERROR, ETP_ERROR_MISSING,
        "the checkpoint has no pooler weights (pooler.dense.*)");
    return FALSE;
  }
  if (B == 0 || T == 0)
    return TRUE;
  seqs = g_new (BertSeq, B);
  for (b = 0; b < B; b++) {
    seqs[b].start = b * T;
    seqs[b].rows = T;
  }
#if defined(ETP_CUDA_BACKEND)
  if (m->be) {
    gboolean ok = bert_check_batch (m, ids, B * T, seqs, B, error)
        && bert_run_device (m, ids, B * T, seqs, B, mask, hidden, cls, mean,
        pooler, error);
    g_free (seqs);
    return ok;
  }
#endif
  x = bert_run (m, ids, B * T, seqs, B, mask, error);
  g_free (seqs);
  if (x == NULL)
    return FALSE;
  if (hidden)
    memcpy (hidden, x, (gsize) B * T * H * sizeof (gfloat));
  clsbuf = g_new (gfloat, (gsize) B * H);
  for (b = 0; b < B; b++)
    memcpy (clsbuf + (gsize) b * H, x + (gsize) b * T * H, H * sizeof (gfloat));
  if (cls)
    memcpy (cls, clsbuf, (gsize) B * H * sizeof (gfloat));
  if (mean) {
    for (b = 0; b < B; b++) {
      gfloat *o = mean + (gsize) b * H;
      guint cnt = 0;
      memset (o, 0, H * sizeof (gfloat));
      for (t = 0; t < T; t++) {
        const gfloat *row = x + ((gsize) b * T + t) * H;
        if (!mask[(gsize) b * T + t])
          continue;
        cnt++;
        for (k = 0; k < H; k++)
          o[k] += row[k];
      }
      for (k = 0; k < H; k++)
        o[k] /= MAX (cnt, 1);
    }
  }
  if (pooler)
    bert_pooler_forward (m, clsbuf, B, pooler);
  g_free (clsbuf);
  g_free (x);
  return TRUE;
}

gboolean
etp_bert_forward_packed (EtpBert * m, const gint32 * ids,
    const guint * lengths, guint n_seqs, EtpBertPooling pooling, gfloat * out,
    GError ** error)
{
  guint H = m->cfg.hidden, i, t, k, R = 0;
  BertSeq *seqs;
  gfloat *x;

  if (pooling == ETP_BERT_POOL_POOLER && !m->has_pooler) {
    g_set_error (error, ETP_ERROR, ETP_ERROR_MISSING,
        "pooling=pooler but the checkpoint has no pooler weights (pooler.dense.*)");
    return FALSE;
  }
  if (n_seqs == 0)
    return TRUE;
  seqs = g_new (BertSeq, n_seqs);
  for (i = 0; i < n_seqs; i++) {
    if (lengths[i] == 0) {
      g_set_error (error, ETP_ERROR, ETP_ERROR_INVALID,
          "sequence %u is empty (expected at least [CLS] [SEP])", i);
      g_free (seqs);
      return FALSE;
    }
    seqs[i].start = R;
    seqs[i].rows = lengths[i];
    R += lengths[i];
  }
#if defined(ETP_CUDA_BACKEND)
  if (m->be) {
    gboolean ok = bert_check_batch (m, ids, R, seqs, n_seqs, error)
        && bert_run_device (m, ids, R, seqs, n_seqs, NULL, NULL,
        pooling == ETP_BERT_POOL_CLS ? out : NULL,
        pooling == ETP_BERT_POOL_MEAN ? out : NULL,
        pooling == ETP_BERT_POOL_POOLER ? out : NULL, error);
    g_free (seqs);
    return ok;
  }
#endif
  x = bert_run (m, ids, R, seqs, n_seqs, NULL, error);
  if (x == NULL) {
    g_free (seqs);
    return FALSE;
  }
  for (i = 0; i < n_seqs; i++) {
    gfloat *o = out + (gsize) i * H;
    if (pooling == ETP_BERT_POOL_MEAN) {
      memset (o, 0, H * sizeof (gfloat));
      for (t = 0; t < seqs[i].rows; t++) {
        const gfloat *row = x + (gsize) (seqs[i].start + t) * H;
        for (k = 0; k < H; k++)
          o[k] += row[k];
      }
      for (k = 0; k < H; k++)
        o[k] /= seqs[i].rows;
    } else {
      memcpy (o, x + (gsize) seqs[i].start * H, H * sizeof (gfloat));
    }
  }
  if (pooling == ETP_BERT_POOL_POOLER) {
    gfloat *cls = g_memdup2 (out, (gsize) n_seqs * H * sizeof (gfloat));
    bert_pooler_forward (m, cls, n_seqs, out);
    g_free (cls);
  }
  g_free (seqs);
  g_free (x);
  return TRUE;
}

/* -------------------------------------------------------------- loading */

static gboolean
get_uint (JsonObject * o, const gchar * key, guint def, gboolean required,
    guint * out, const gchar * path, GError ** error)
{
  JsonNode *n;
  gint64 v;
  if (!json_object_has_member (o, key)) {
    if (required) {
      g_set_error (error, ETP_ERROR, ETP_ERROR_FORMAT, "%s: missing \"%s\"",
          path, key);
      return FALSE;
    }
    *out = def;
    return TRUE;
  }
  n = json_object_get_member (o, key);
  if (!JSON_NODE_HOLDS_VALUE (n) || json_node_get_value_type (n) != G_TYPE_INT64
      || (v = json_node_get_int (n)) <= 0 || v > G_MAXINT) {
    g_set_error (error, ETP_ERROR, ETP_ERROR_FORMAT,
        "%s: \"%s\" is not a positive integer", path, key);
    return FALSE;
  }
  *out = (guint) v;
  return TRUE;
}

gboolean
etp_bert_config_load (const gchar * dir, EtpBertConfig * cfg, GError ** error)
{
  gchar *path = g_build_filename (dir, "config.json", NULL);
  JsonParser *parser = NULL;
  JsonObject *o;
  JsonNode *root;
  gboolean ok = FALSE;

  memset (cfg, 0, sizeof (*cfg));
  if (!g_file_test (path, G_FILE_TEST_IS_REGULAR)) {
    g_set_error (error, ETP_ERROR, ETP_ERROR_MISSING,
        "model folder %s has no config.json", dir);
    goto out;
  }
  parser = json_parser_new ();
  if (!json_parser_load_from_file (parser, path, error)) {
    g_prefix_error (error, "cannot parse %s: ", path);
    goto out;
  }
  root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root)) {
    g_set_error (error, ETP_ERROR, ETP_ERROR_FORMAT, "%s: not a JSON object",
        path);
    goto out;
  }
  o = json_node_get_object (root);
  if (!get_uint (o, "vocab_size", 0, TRUE, &cfg->vocab_size, path, error)
      || !get_uint (o, "hidden_size", 768, FALSE, &cfg->hidden, path, error)
      || !get_uint (o, "num_hidden_layers", 12, FALSE, &cfg->layers, path, error)
      || !get_uint (o, "num_attention_heads", 12, FALSE, &cfg->heads, path,
          error)
      || !get_uint (o, "intermediate_size", 3072, FALSE, &cfg->intermediate,
          path, error)
      || !get_uint (o, "max_position_embeddings", 512, FALSE,
          &cfg->max_positions, path, error)
      || !get_uint (o, "type_vocab_size", 2, FALSE, &cfg->type_vocab, path,
          error))
    goto out;
  cfg->layer_norm_eps = 1e-12f;
  if (json_object_has_member (o, "layer_norm_eps")) {
    JsonNode *n = json_object_get_member (o, "layer_norm_eps");
    if (!JSON_NODE_HOLDS_VALUE (n) || (json_node_get_value_type (n) != G_TYPE_DOUBLE
            && json_node_get_value_type (n) != G_TYPE_INT64)) {
      g_set_error (error, ETP_ERROR, ETP_ERROR_FORMAT,
          "%s: \"layer_norm_eps\" is not a number", path);
      goto out;
    }
    cfg->layer_norm_eps = (gfloat) json_node_get_double (n);
  }
  if (json_object_has_member (o, "hidden_act")) {
    const gchar *act = json_object_get_string_member_with_default (o,
        "hidden_act", "");
    if (g_strcmp0 (act, "gelu") == 0)
      cfg->gelu_tanh = FALSE;
    else if (g_strcmp0 (act, "gelu_new") == 0
        || g_strcmp0 (act, "gelu_pytorch_tanh") == 0)
      cfg->gelu_tanh = TRUE;
    else {
      g_set_error (error, ETP_ERROR, ETP_ERROR_UNSUPPORTED,
          "%s: hidden_act \"%s\" is not supported (gelu, gelu_new)", path, act);
      goto out;
    }
  }
  if (cfg->hidden % cfg->heads != 0) {
    g_set_error (error, ETP_ERROR, ETP_ERROR_FORMAT,
        "%s: hidden_size %u is not a multiple of num_attention_heads %u",
        path, cfg->hidden, cfg->heads);
    goto out;
  }
  ok = TRUE;
out:
  if (parser)
    g_object_unref (parser);
  g_free (path);
  return ok;
}

typedef struct {
  EtpSafetensors *st;
  const gchar *path;
  const gchar *prefix;          /* "bert." or "" */
  gfloat *next;                 /* where the next tensor goes in params */
  const EtpBertConfig *cfg;
} Loader;

static const EtpStTensor *
find_tensor (Loader * ld, const gchar * name, gchar ** used)
{
  gchar *full = g_strconcat (ld->prefix, name, NULL);
  const EtpStTensor *t = etp_safetensors_get (ld->st, full);
  if (t == NULL && g_str_has_suffix (name, "LayerNorm.weight")) {
    gchar *alt = g_strndup (full, strlen (full) - strlen ("weight"));
    gchar *alt2 = g_strconcat (alt, "gamma", NULL);
    g_free (alt);
    t = etp_safetensors_get (ld->st, alt2);
    g_free (full);
    full = alt2;
  } else if (t == NULL && g_str_has_suffix (name, "LayerNorm.bias")) {
    gchar *alt = g_strndup (full, strlen (full) - strlen ("bias"));
    gchar *alt2 = g_strconcat (alt, "beta", NULL);
    g_free (alt);
    t = etp_safetensors_get (ld->st, alt2);
    if (t == NULL) {
      g_free (alt2);
    } else {
      g_free (full);
      full = alt2;
    }
  }
  if (t == NULL) {
    g_free (full);
    full = g_strconcat (ld->prefix, name, NULL);
  }
  *used = full;
  return t;
}

/* Loads tensor @name of shape (d0[, d1]) into the params block. */
static const gfloat *
load (Loader * ld, const gchar * name, guint d0, guint d1, GError ** error)
{
  gchar *used = NULL;
  const EtpStTensor *t;
  gfloat *dst;
  gboolean shape_ok;

  if (error && *error)
    return NULL;
  t = find_tensor (ld, name, &used);
  if (t == NULL) {
    g_set_error (error, ETP_ERROR, ETP_ERROR_MISSING,
        "%s: tensor %s is missing", ld->path, used);
    g_free (used);
    return NULL;
  }
  shape_ok = d1 == 0 ? (t->ndim == 1 && t->shape[0] == d0)
      : (t->ndim == 2 && t->shape[0] == d0 && t->shape[1] == d1);
  if (!shape_ok) {
    GString *s = g_string_new ("[");
    guint i;
    for (i = 0; i < t->ndim; i++)
      g_string_append_printf (s, "%s%" G_GINT64_FORMAT, i ? ", " : "",
          t->shape[i]);
    g_string_append (s, "]");
    if (d1 == 0)
      g_set_error (error, ETP_ERROR, ETP_ERROR_MISMATCH,
          "%s: tensor %s has shape %s but config.json implies [%u] "
          "(hidden_size %u, intermediate_size %u, vocab_size %u)", ld->path,
          used, s->str, d0, ld->cfg->hidden, ld->cfg->intermediate,
          ld->cfg->vocab_size);
    else
      g_set_error (error, ETP_ERROR, ETP_ERROR_MISMATCH,
          "%s: tensor %s has shape %s but config.json implies [%u, %u] "
          "(hidden_size %u, intermediate_size %u, vocab_size %u)", ld->path,
          used, s->str, d0, d1, ld->cfg->hidden, ld->cfg->intermediate,
          ld->cfg->vocab_size);
    g_string_free (s, TRUE);
    g_free (used);
    return NULL;
  }
  if (t->dtype != ETP_ST_F32 && t->dtype != ETP_ST_F16
      && t->dtype != ETP_ST_BF16 && t->dtype != ETP_ST_F64) {
    g_set_error (error, ETP_ERROR, ETP_ERROR_UNSUPPORTED,
        "%s: tensor %s has dtype %s (expected a float type)", ld->path, used,
        etp_st_dtype_name (t->dtype));
    g_free (used);
    return NULL;
  }
  dst = ld->next;
  etp_st_tensor_to_f32 (t, dst);
  ld->next += t->numel;
  g_free (used);
  return dst;
}

static gsize
param_count (const EtpBertConfig * c)
{
  gsize H = c->hidden, NI = c->intermediate;
  gsize per_layer = 4 * (H * H + H) + 2 * H + (NI * H + NI) + (H * NI + H) + 2 * H;
  return (gsize) c->vocab_size * H + (gsize) c->max_positions * H
      + (gsize) c->type_vocab * H + 2 * H + c->layers * per_layer + H * H + H;
}

EtpBert *
etp_bert_new_from_dir (const gchar * dir, GError ** error)
{
  EtpBert *m;
  Loader ld = { 0 };
  gchar *path;
  GError *err = NULL;
  guint l, H, NI;
  const EtpStTensor *probe;

  if (!g_file_test (dir, G_FILE_TEST_IS_DIR)) {
    g_set_error (error, ETP_ERROR, ETP_ERROR_MISSING,
        "model folder %s does not exist", dir);
    return NULL;
  }
  m = g_new0 (EtpBert, 1);
  m->n_threads = 2;
  m->profile = g_getenv ("ETP_BERT_PROFILE") != NULL;
  if (!etp_bert_config_load (dir, &m->cfg, error)) {
    g_free (m);
    return NULL;
  }
  path = g_build_filename (dir, "model.safetensors", NULL);
  if (!g_file_test (path, G_FILE_TEST_IS_REGULAR)) {
    gchar *bin = g_build_filename (dir, "pytorch_model.bin", NULL);
    if (g_file_test (bin, G_FILE_TEST_IS_REGULAR))
      g_set_error (error, ETP_ERROR, ETP_ERROR_MISSING,
          "model folder %s has no model.safetensors (it has pytorch_model.bin: "
          "convert it with models/text/convert_bert_checkpoint.py)", dir);
    else
      g_set_error (error, ETP_ERROR, ETP_ERROR_MISSING,
          "model folder %s has no model.safetensors", dir);
    g_free (bin);
    g_free (path);
    g_free (m);
    return NULL;
  }
  ld.st = etp_safetensors_open (path, error);
  if (ld.st == NULL) {
    g_free (path);
    g_free (m);
    return NULL;
  }
  ld.path = path;
  ld.cfg = &m->cfg;
  probe = etp_safetensors_get (ld.st, "bert.embeddings.word_embeddings.weight");
  ld.prefix = probe ? "bert." : "";
  m->params = g_new0 (gfloat, param_count (&m->cfg));
  ld.next = m->params;
  H = m->cfg.hidden;
  NI = m->cfg.intermediate;

  m->word = load (&ld, "embeddings.word_embeddings.weight", m->cfg.vocab_size,
      H, &err);
  m->pos = load (&ld, "embeddings.position_embeddings.weight",
      m->cfg.max_positions, H, &err);
  m->type = load (&ld, "embeddings.token_type_embeddings.weight",
      m->cfg.type_vocab, H, &err);
  m->emb_ln_g = load (&ld, "embeddings.LayerNorm.weight", H, 0, &err);
  m->emb_ln_b = load (&ld, "embeddings.LayerNorm.bias", H, 0, &err);
  m->layer = g_new0 (BertLayer, m->cfg.layers);
  for (l = 0; l < m->cfg.layers && err == NULL; l++) {
    BertLayer *L = &m->layer[l];
    gchar *p = g_strdup_printf ("encoder.layer.%u.", l);
#define LD(field, suffix, d0, d1) do { \
      gchar *nm = g_strconcat (p, suffix, NULL); \
      L->field = load (&ld, nm, d0, d1, &err); \
      g_free (nm); } while (0)
    LD (wq, "attention.self.query.weight", H, H);
    LD (bq, "attention.self.query.bias", H, 0);
    LD (wk, "attention.self.key.weight", H, H);
    LD (bk, "attention.self.key.bias", H, 0);
    LD (wv, "attention.self.value.weight", H, H);
    LD (bv, "attention.self.value.bias", H, 0);
    LD (wo, "attention.output.dense.weight", H, H);
    LD (bo, "attention.output.dense.bias", H, 0);
    LD (ln1_g, "attention.output.LayerNorm.weight", H, 0);
    LD (ln1_b, "attention.output.LayerNorm.bias", H, 0);
    LD (wi, "intermediate.dense.weight", NI, H);
    LD (bi, "intermediate.dense.bias", NI, 0);
    LD (wo2, "output.dense.weight", H, NI);
    LD (bo2, "output.dense.bias", H, 0);
    LD (ln2_g, "output.LayerNorm.weight", H, 0);
    LD (ln2_b, "output.LayerNorm.bias", H, 0);
#undef LD
    g_free (p);
  }
  if (err == NULL) {
    gchar *pw = g_strconcat (ld.prefix, "pooler.dense.weight", NULL);
    if (etp_safetensors_get (ld.st, pw)) {
      m->pool_w = load (&ld, "pooler.dense.weight", H, H, &err);
      m->pool_b = load (&ld, "pooler.dense.bias", H, 0, &err);
      m->has_pooler = err == NULL;
    }
    g_free (pw);
  }
  if (err == NULL) {
    /* A checkpoint with more layers than config.json says is a mismatch. */
    gchar *extra = g_strdup_printf ("%sencoder.layer.%u.attention.self.query.weight",
        ld.prefix, m->cfg.layers);
    if (etp_safetensors_get (ld.st, extra))
      g_set_error (&err, ETP_ERROR, ETP_ERROR_MISMATCH,
          "%s: has tensor %s but config.json says num_hidden_layers %u",
          path, extra, m->cfg.layers);
    g_free (extra);
  }
  etp_safetensors_free (ld.st);
  g_free (path);
  if (err) {
    g_propagate_error (error, err);
    etp_bert_free (m);
    return NULL;
  }
  return m;
}

void
etp_bert_free (EtpBert * m)
{
  if (m == NULL)
    return;
  if (m->profile) {
    gint64 total = 0;
    guint k;
    for (k = 0; k < PROF_N; k++)
      total += m->prof_us[k];
    for (k = 0; k < PROF_N; k++)
      g_printerr ("etp-bert profile: %-10s %8.3f s (%4.1f%%)\n", prof_names[k],
          m->prof_us[k] / 1e6, 100.0 * m->prof_us[k] / MAX (total, 1));
  }
  if (m->be) {
    etp_backend_free_mem (m->be, m->dparams);
    etp_backend_free (m->be);
  }
  g_free (m->params);
  g_free (m->layer);
  g_free (m);
}

gboolean
etp_bert_set_device (EtpBert * m, EtpDeviceKind kind, GError ** error)
{
#if defined(ETP_CUDA_BACKEND)
  GError *err = NULL;
  EtpBackend *be;
  gfloat *dp;
  gsize bytes = param_count (&m->cfg) * sizeof (gfloat);

  if (kind == ETP_DEVICE_CPU)
    goto cpu;
  if (m->be)
    return TRUE;
  be = etp_backend_new (ETP_DEVICE_CUDA, 0, &err);
  if (be == NULL) {
    if (kind == ETP_DEVICE_AUTO) {
      g_clear_error (&err);
      goto cpu;
    }
    g_propagate_prefixed_error (error, err, "BERT on device=cuda: ");
    return FALSE;
  }
  dp = etp_backend_alloc (be, bytes, &err);
  if (dp == NULL) {
    etp_backend_free (be);
    if (kind == ETP_DEVICE_AUTO) {
      g_clear_error (&err);
      goto cpu;
    }
    g_propagate_prefixed_error (error, err, "BERT weights on the GPU: ");
    return FALSE;
  }
  etp_backend_upload (be, dp, m->params, bytes);
  etp_backend_sync (be);
  if (!etp_backend_check (be, error)) {
    etp_backend_free_mem (be, dp);
    etp_backend_free (be);
    return FALSE;
  }
  m->be = be;
  m->dparams = dp;
  return TRUE;
cpu:
  if (m->be) {
    etp_backend_free_mem (m->be, m->dparams);
    etp_backend_free (m->be);
    m->be = NULL;
    m->dparams = NULL;
  }
  return TRUE;
#else
  if (kind == ETP_DEVICE_CUDA) {
    g_set_error (error, ETP_ERROR, ETP_ERROR_DEVICE,
        "BERT on device=cuda: this build has no CUDA backend");
    return FALSE;
  }
  return TRUE;
#endif
}

const gchar *
etp_bert_device_name (const EtpBert * m)
{
  return m->be ? etp_backend_name (m->be) : "cpu";
}

const EtpBertConfig *
etp_bert_get_config (const EtpBert * m)
{
  return &m->cfg;
}

gboolean
etp_bert_has_pooler (const EtpBert * m)
{
  return m->has_pooler;
}

void
etp_bert_set_threads (EtpBert * m, guint n)
{
  m->n_threads = CLAMP (n, 1, 16);
}
