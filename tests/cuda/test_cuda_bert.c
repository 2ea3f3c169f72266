/* BERT ops of the CUDA backend (cuda/cuda_bert.h) against plain-C references
 * that follow models/text/bert.c, and a whole BERT forward (the tiny
 * checkpoint of tests/text/tinybert) composed of those ops + cuBLAS linears,
 * against etp_bert_forward_padded on the CPU: last hidden state, CLS, masked
 * mean and pooler within 1e-4 relative. GPU cases skip without a device. */
#include "config.h"
#include "cuda/cuda_bert.h"
#include "engine/engine.h"
#include "nets/safetensors.h"
#include "text/bert.h"
#include "util/etperror.h"

#include <math.h>
#include <string.h>

#define TOL 1e-4

static EtpBackend *gpu;
static char *no_gpu_reason;
static GRand *rng;

#define NEED_GPU() \
  G_STMT_START { \
    if (gpu == NULL) { \
      g_test_skip (no_gpu_reason); \
      return; \
    } \
  } G_STMT_END

static float *
rnd (gsize n, double a)
{
  float *v = g_new (float, MAX (n, 1));
  for (gsize i = 0; i < n; i++)
    v[i] = (float) g_rand_double_range (rng, -a, a);
  return v;
}

static void *
up (const void *h, gsize bytes)
{
  void *d = etp_backend_alloc (gpu, MAX (bytes, 1), NULL);
  g_assert_nonnull (d);
  etp_backend_upload (gpu, d, h, bytes);
  return d;
}

static float *
down (const float *d, gsize n)
{
  float *h = g_new (float, MAX (n, 1));
  GError *err = NULL;
  etp_backend_download (gpu, h, d, n * sizeof (float));
  if (!etp_backend_check (gpu, &err))
    g_error ("cuda backend: %s", err->message);
  return h;
}

static void
expect_close (const char *what, const float *got, const float *want, gsize n, double tol)
{
  double maxref = 0, maxd = 0;
  for (gsize i = 0; i < n; i++) {
    maxref = MAX (maxref, fabs (want[i]));
    double d = fabs ((double) got[i] - want[i]);
    if (isnan (got[i]) != isnan (want[i]))
      d = INFINITY;
    maxd = MAX (maxd, d);
  }
  double e = maxd / MAX (maxref, 1e-30);
  g_test_message ("%-36s n=%-6" G_GSIZE_FORMAT " rel err %.3g", what, n, e);
  if (!(e < tol))
    g_error ("%s: relative error %.3g >= %.1g", what, e, tol);
}

/* ------------------------------------------------------ CPU references */

static void
ref_layernorm (int R, int H, float eps, const float *x, const float *res, const float *g,
               const float *b, float *out)
{
  for (int r = 0; r < R; r++) {
    float *o = out + (gsize) r * H;
    double mean = 0, var = 0;
    for (int k = 0; k < H; k++)
      o[k] = x[(gsize) r * H + k] + (res ? res[(gsize) r * H + k] : 0.f);
    for (int k = 0; k < H; k++)
      mean += o[k];
    mean /= H;
    for (int k = 0; k < H; k++)
      var += (o[k] - mean) * (o[k] - mean);
    var /= H;
    float inv = (float) (1.0 / sqrt (var + eps)), m = (float) mean;
    for (int k = 0; k < H; k++)
      o[k] = (o[k] - m) * inv * g[k] + b[k];
  }
}

static void
ref_attention (int n_seqs, const EtpCudaBertSeq *seqs, const int32_t *mask, int heads, int H,
               const float *q, const float *k, const float *v, float *ctx)
{
  int d = H / heads;
  float scale = 1.f / sqrtf ((float) d);
  for (int s = 0; s < n_seqs; s++)
    for (int h = 0; h < heads; h++)
      for (int i = 0; i < seqs[s].rows; i++) {
        int R = seqs[s].rows, st = seqs[s].start;
        float *sc = g_new (float, R), mx = -INFINITY, sum = 0;
        const float *qi = q + (gsize) (st + i) * H + h * d;
        for (int j = 0; j < R; j++) {
          if (mask && !mask[st + j]) {
            sc[j] = -INFINITY;
            continue;
          }
          float dot = 0;
          for (int t = 0; t < d; t++)
            dot += qi[t] * k[(gsize) (st + j) * H + h * d + t];
          sc[j] = dot * scale;
          mx = MAX (mx, sc[j]);
        }
        for (int j = 0; j < R; j++) {
          sc[j] = sc[j] == -INFINITY ? 0.f : expf (sc[j] - mx);
          sum += sc[j];
        }
        float inv = sum > 0 ? 1 / sum : 0;
        for (int t = 0; t < d; t++) {
          float acc = 0;
          for (int j = 0; j < R; j++)
            acc += sc[j] * inv * v[(gsize) (st + j) * H + h * d + t];
          ctx[(gsize) (st + i) * H + h * d + t] = acc;
        }
        g_free (sc);
      }
}

/* ------------------------------------------------------------- op tests */

static void
test_refuses_cpu (void)
{
  GError *err = NULL;
  EtpBackend *cpu = etp_backend_new (ETP_DEVICE_CPU, 1, &err);
  g_assert_no_error (err);
  float *x = etp_backend_alloc (cpu, 64, NULL);
  etp_cuda_bert_gelu (cpu, 16, FALSE, x);
  g_assert_false (etp_backend_check (cpu, &err));
  g_assert_error (err, ETP_ERROR, ETP_ERROR_UNSUPPORTED);
  g_assert_nonnull (strstr (err->message, "cuda"));
  g_clear_error (&err);
  etp_backend_free_mem (cpu, x);
  etp_backend_free (cpu);
}

static void
test_ops (void)
{
  NEED_GPU ();
  const int R = 19, H = 48, heads = 4;
  /* layernorm with and without residual, in place */
  float *x = rnd ((gsize) R * H, 3), *res = rnd ((gsize) R * H, 1);
  float *g = rnd (H, 1), *b = rnd (H, 1), *want = g_new (float, (gsize) R * H);
  float *dx = up (x, (gsize) R * H * 4), *dres = up (res, (gsize) R * H * 4);
  float *dg = up (g, H * 4), *db = up (b, H * 4), *dout = up (x, (gsize) R * H * 4);
  ref_layernorm (R, H, 1e-12f, x, res, g, b, want);
  etp_cuda_bert_layernorm (gpu, R, H, 1e-12f, dx, dres, dg, db, dout);
  float *got = down (dout, (gsize) R * H);
  expect_close ("layernorm + residual", got, want, (gsize) R * H, TOL);
  g_free (got);
  ref_layernorm (R, H, 1e-5f, x, NULL, g, b, want);
  etp_cuda_bert_layernorm (gpu, R, H, 1e-5f, dx, NULL, dg, db, dx);
  got = down (dx, (gsize) R * H);
  expect_close ("layernorm in place", got, want, (gsize) R * H, TOL);
  g_free (got);

  /* gelu, both forms; tanh */
  for (int form = 0; form < 3; form++) {
    for (int i = 0; i < R * H; i++) {
      float v = x[i];
      want[i] = form == 2 ? tanhf (v) : form ? 0.5f * v * (1.f + tanhf (0.7978845608028654f
              * (v + 0.044715f * v * v * v))) : 0.5f * v * (1.f + erff (v * 0.7071067811865476f));
    }
    etp_backend_upload (gpu, dout, x, (gsize) R * H * 4);
    if (form == 2)
      etp_cuda_tanh (gpu, (gsize) R * H, dout);
    else
      etp_cuda_bert_gelu (gpu, (gsize) R * H, form == 1, dout);
    got = down (dout, (gsize) R * H);
    expect_close (form == 2 ? "tanh" : form ? "gelu (tanh form)" : "gelu (erf)", got, want,
        (gsize) R * H, TOL);
    g_free (got);
  }

  /* attention over packed sequences of 7, 1 and 11 rows, some keys masked;
   * the 1-row sequence has its only key masked (all-zero context) */
  EtpCudaBertSeq seqs[3] = { { 0, 7 }, { 7, 1 }, { 8, 11 } };
  int32_t mask[19];
  for (int i = 0; i < R; i++)
    mask[i] = !(i == 5 || i == 7 || i >= 17);
  float *q = rnd ((gsize) R * H, 1), *k = rnd ((gsize) R * H, 1), *v = rnd ((gsize) R * H, 1);
  float *dq = up (q, (gsize) R * H * 4), *dk = up (k, (gsize) R * H * 4);
  float *dv = up (v, (gsize) R * H * 4);
  EtpCudaBertSeq *dseqs = up (seqs, sizeof seqs);
  int32_t *dmask = up (mask, sizeof mask);
  for (int masked = 0; masked < 2; masked++) {
    ref_attention (3, seqs, masked ? mask : NULL, heads, H, q, k, v, want);
    etp_cuda_bert_attention (gpu, 3, 11, dseqs, masked ? dmask : NULL, heads, H, dq, dk, dv,
        dout);
    got = down (dout, (gsize) R * H);
    expect_close (masked ? "attention (masked)" : "attention", got, want, (gsize) R * H, TOL);
    g_free (got);
  }

  /* pooling */
  float *cls = g_new (float, 3 * H), *mean = g_new0 (float, 3 * H);
  for (int s = 0; s < 3; s++) {
    int cnt = 0;
    memcpy (cls + s * H, q + (gsize) seqs[s].start * H, H * sizeof (float));
    for (int r = seqs[s].start; r < seqs[s].start + seqs[s].rows; r++) {
      if (!mask[r])
        continue;
      cnt++;
      for (int t = 0; t < H; t++)
        mean[s * H + t] += q[(gsize) r * H + t];
    }
    for (int t = 0; t < H; t++)
      mean[s * H + t] /= MAX (cnt, 1);
  }
  float *dcls = up (x, 3 * H * 4), *dmean = up (x, 3 * H * 4);
  etp_cuda_bert_pool (gpu, 3, dseqs, dmask, H, dq, dcls, dmean);
  got = down (dcls, 3 * H);
  expect_close ("pool cls", got, cls, 3 * H, 1e-7);
  g_free (got);
  got = down (dmean, 3 * H);
  expect_close ("pool masked mean", got, mean, 3 * H, TOL);
  g_free (got);

  /* a token id outside the vocabulary is an INVALID error */
  int32_t ids[19];
  for (int i = 0; i < R; i++)
    ids[i] = i;
  ids[9] = 1000;
  int32_t *dids = up (ids, sizeof ids);
  float *word = rnd (50 * H, 1);
  float *dword = up (word, 50 * H * 4);
  GError *err = NULL;
  etp_cuda_bert_embed (gpu, 3, 11, dseqs, dids, dword, 50, dq, 19, dk, H, dout);
  g_assert_false (etp_backend_check (gpu, &err));
  g_assert_error (err, ETP_ERROR, ETP_ERROR_INVALID);
  g_assert_nonnull (strstr (err->message, "1000"));
  g_clear_error (&err);

  void *dev[] = { dx, dres, dg, db, dout, dq, dk, dv, dseqs, dmask, dcls, dmean, dids, dword };
  for (guint i = 0; i < G_N_ELEMENTS (dev); i++)
    etp_backend_free_mem (gpu, dev[i]);
  void *host[] = { x, res, g, b, want, q, k, v, cls, mean, word };
  for (guint i = 0; i < G_N_ELEMENTS (host); i++)
    g_free (host[i]);
}

/* ---------------------------------------------------- whole tiny BERT */

static float *
weight (EtpSafetensors *st, const char *name, gsize *n)
{
  char *full = g_strconcat ("bert.", name, NULL);
  const EtpStTensor *t = etp_safetensors_get (st, full);
  if (!t)
    t = etp_safetensors_get (st, name);
  if (!t)
    g_error ("tinybert: tensor %s missing", full);
  g_free (full);
  float *h = g_new (float, MAX (t->numel, 1));
  etp_st_tensor_to_f32 (t, h);
  if (n)
    *n = t->numel;
  float *d = up (h, t->numel * sizeof (float));
  g_free (h);
  return d;
}

static void
test_tinybert (void)
{
  NEED_GPU ();
  GError *err = NULL;
  const char *root = g_getenv ("ETP_SOURCE_ROOT");
  char *dir = g_build_filename (root ? root : ETP_SOURCE_ROOT, "tests", "text", "tinybert", NULL);
  char *path = g_build_filename (dir, "model.safetensors", NULL);
  EtpBert *bert = etp_bert_new_from_dir (dir, &err);
  g_assert_no_error (err);
  const EtpBertConfig *c = etp_bert_get_config (bert);
  EtpSafetensors *st = etp_safetensors_open (path, &err);
  g_assert_no_error (err);

  const int B = 3, T = 9, R = B * T, H = c->hidden, I = c->intermediate;
  int32_t ids[27], mask[27];
  for (int i = 0; i < R; i++) {
    ids[i] = g_rand_int_range (rng, 0, c->vocab_size);
    mask[i] = (i % T) < T - (i / T) * 3;          /* 9, 6 and 3 real tokens */
  }
  float *hidden = g_new (float, (gsize) R * H), *cls = g_new (float, B * H);
  float *mean = g_new (float, B * H), *pooler = g_new (float, B * H);
  g_assert_true (etp_bert_forward_padded (bert, ids, mask, B, T, hidden, cls, mean, pooler,
          &err));
  g_assert_no_error (err);

  /* the same forward on the GPU, step by step as bert.c runs it */
  EtpCudaBertSeq seqs[3];
  for (int b = 0; b < B; b++) {
    seqs[b].start = b * T;
    seqs[b].rows = T;
  }
  EtpCudaBertSeq *dseqs = up (seqs, sizeof seqs);
  int32_t *dids = up (ids, sizeof ids), *dmask = up (mask, sizeof mask);
  float *x = etp_backend_alloc (gpu, (gsize) R * H * 4, NULL);
  float *q = etp_backend_alloc (gpu, (gsize) R * H * 4, NULL);
  float *k = etp_backend_alloc (gpu, (gsize) R * H * 4, NULL);
  float *v = etp_backend_alloc (gpu, (gsize) R * H * 4, NULL);
  float *ctx = etp_backend_alloc (gpu, (gsize) R * H * 4, NULL);
  float *a = etp_backend_alloc (gpu, (gsize) R * H * 4, NULL);
  float *inter = etp_backend_alloc (gpu, (gsize) R * I * 4, NULL);
  GPtrArray *ws = g_ptr_array_new ();
#define W(name) ({ float *w_ = weight (st, name, NULL); g_ptr_array_add (ws, w_); w_; })
  etp_cuda_bert_embed (gpu, B, T, dseqs, dids, W ("embeddings.word_embeddings.weight"),
      c->vocab_size, W ("embeddings.position_embeddings.weight"), c->max_positions,
      W ("embeddings.token_type_embeddings.weight"), H, x);
  etp_cuda_bert_layernorm (gpu, R, H, c->layer_norm_eps, x, NULL,
      W ("embeddings.LayerNorm.weight"), W ("embeddings.LayerNorm.bias"), x);
  for (guint l = 0; l < c->layers; l++) {
    char p[64];
#define LW(suffix) ({ g_snprintf (p, sizeof p, "encoder.layer.%u.%s", l, suffix); W (p); })
    etp_linear_forward (gpu, R, H, H, x, LW ("attention.self.query.weight"),
        LW ("attention.self.query.bias"), q);
    etp_linear_forward (gpu, R, H, H, x, LW ("attention.self.key.weight"),
        LW ("attention.self.key.bias"), k);
    etp_linear_forward (gpu, R, H, H, x, LW ("attention.self.value.weight"),
        LW ("attention.self.value.bias"), v);
    etp_cuda_bert_attention (gpu, B, T, dseqs, dmask, c->heads, H, q, k, v, ctx);
    etp_linear_forward (gpu, R, H, H, ctx, LW ("attention.output.dense.weight"),
        LW ("attention.output.dense.bias"), a);
    etp_cuda_bert_layernorm (gpu, R, H, c->layer_norm_eps, a, x,
        LW ("attention.output.LayerNorm.weight"), LW ("attention.output.LayerNorm.bias"), a);
    etp_linear_forward (gpu, R, H, I, a, LW ("intermediate.dense.weight"),
        LW ("intermediate.dense.bias"), inter);
    etp_cuda_bert_gelu (gpu, (gsize) R * I, c->gelu_tanh, inter);
    etp_linear_forward (gpu, R, I, H, inter, LW ("output.dense.weight"),
        LW ("output.dense.bias"), x);
    etp_cuda_bert_layernorm (gpu, R, H, c->layer_norm_eps, x, a, LW ("output.LayerNorm.weight"),
        LW ("output.LayerNorm.bias"), x);
#undef LW
  }
  float *dcls = etp_backend_alloc (gpu, (gsize) B * H * 4, NULL);
  float *dmean = etp_backend_alloc (gpu, (gsize) B * H * 4, NULL);
  float *dpool = etp_backend_alloc (gpu, (gsize) B * H * 4, NULL);
  etp_cuda_bert_pool (gpu, B, dseqs, dmask, H, x, dcls, dmean);
  etp_linear_forward (gpu, B, H, H, dcls, W ("pooler.dense.weight"), W ("pooler.dense.bias"),
      dpool);
  etp_cuda_tanh (gpu, (gsize) B * H, dpool);
#undef W

  float *got = down (x, (gsize) R * H);
  expect_close ("tinybert last hidden state", got, hidden, (gsize) R * H, TOL);
  g_free (got);
  got = down (dcls, B * H);
  expect_close ("tinybert cls", got, cls, B * H, TOL);
  g_free (got);
  got = down (dmean, B * H);
  expect_close ("tinybert masked mean", got, mean, B * H, TOL);
  g_free (got);
  got = down (dpool, B * H);
  expect_close ("tinybert pooler", got, pooler, B * H, TOL);
  g_free (got);

  for (guint i = 0; i < ws->len; i++)
    etp_backend_free_mem (gpu, ws->pdata[i]);
  g_ptr_array_free (ws, TRUE);
  void *dev[] = { dseqs, dids, dmask, x, q, k, v, ctx, a, inter, dcls, dmean, dpool };
  for (guint i = 0; i < G_N_ELEMENTS (dev); i++)
    etp_backend_free_mem (gpu, dev[i]);
  g_assert_true (etp_backend_check (gpu, NULL));
  g_free (hidden);
  g_free (cls);
  g_free (mean);
  g_free (pooler);
  etp_safetensors_free (st);
  etp_bert_free (bert);
  g_free (dir);
  g_free (path);
}

int
main (int argc, char **argv)
{
  GError *err = NULL;
  g_test_init (&argc, &argv, NULL);
  rng = g_rand_new_with_seed (77);
  g_unsetenv ("ETP_CUDA_TF32");
  gpu = etp_backend_new (ETP_DEVICE_CUDA, 0, &err);
  if (gpu == NULL) {
    no_gpu_reason = g_strdup_printf ("no CUDA device, CUDA cases skipped: %s", err->message);
    g_clear_error (&err);
  }
  g_test_add_func ("/cuda/bert/refuses-cpu", test_refuses_cpu);
  g_test_add_func ("/cuda/bert/ops", test_ops);
  g_test_add_func ("/cuda/bert/tinybert", test_tinybert);
  int rc = g_test_run ();
  if (gpu)
    etp_backend_free (gpu);
  g_rand_free (rng);
  g_free (no_gpu_reason);
  return rc;
}
