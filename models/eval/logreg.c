/* Linear probe: logistic / softmax regression with Adam (see logreg.h). */
#include "eval/logreg.h"
#include "eval/metrics.h"
#include "util/etperror.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

void
etp_logreg_params_init (EtpLogRegParams * p)
{
  memset (p, 0, sizeof (*p));
  p->epochs = 100;
  p->lr = 1e-3;
  p->weight_decay = 1e-4;
  p->batch_size = 128;
  p->val_fraction = 0.1;
  p->patience = 10;
  p->seed = 0;
  p->multi_label = TRUE;
  p->standardize = TRUE;
}

static GRand *
rand_new (guint64 seed)
{
  guint32 s[2] = { (guint32) seed, (guint32) (seed >> 32) };
  return g_rand_new_with_seed_array (s, 2);
}

static void
shuffle (gsize * idx, gsize n, GRand * r)
{
  gsize i;
  for (i = n; i > 1; i--) {
    gsize j = (gsize) g_rand_double_range (r, 0.0, (gdouble) i);
    gsize t;
    if (j >= i)
      j = i - 1;
    t = idx[i - 1];
    idx[i - 1] = idx[j];
    idx[j] = t;
  }
}

static int
cmp_size (const void *a, const void *b)
{
  gsize x = *(const gsize *) a, y = *(const gsize *) b;
  return (x > y) - (x < y);
}

gsize
etp_subset_indices (gsize n, gdouble fraction, guint64 seed, gsize * out)
{
  gsize *perm, i, k;
  GRand *r;

  if (n == 0)
    return 0;
  if (!(fraction > 0.0))
    fraction = 1.0;
  k = (gsize) ceil (fraction * (gdouble) n - 1e-9);
  k = CLAMP (k, 1, n);
  perm = g_new (gsize, n);
  for (i = 0; i < n; i++)
    perm[i] = i;
  if (k < n) {
    r = rand_new (seed ^ G_GUINT64_CONSTANT (0x9e3779b97f4a7c15));
    shuffle (perm, n, r);
    g_rand_free (r);
  }
  memcpy (out, perm, k * sizeof (gsize));
  qsort (out, k, sizeof (gsize), cmp_size);
  g_free (perm);
  return k;
}

gboolean
etp_labels_are_single (const gfloat * y, gsize n, guint n_classes)
{
  gsize i;
  guint c;

  for (i = 0; i < n; i++) {
    guint k = 0;
    for (c = 0; c < n_classes; c++)
      k += y[i * n_classes + c] > 0.5f;
    if (k != 1)
      return FALSE;
  }
  return n > 0;
}

/* logits (n x C) = z (n x D) W^T + b */
static void
forward (const gfloat * w, const gfloat * b, const gfloat * z, gsize n,
    guint dim, guint C, gfloat * logits)
{
  gsize i;

  for (i = 0; i < n; i++)
    memcpy (logits + i * C, b, C * sizeof (gfloat));
  cblas_sgemm (CblasRowMajor, CblasNoTrans, CblasTrans, (int) n, (int) C,
      (int) dim, 1.0f, z, (int) dim, w, (int) dim, 1.0f, logits, (int) C);
}

/* Turns logits into probabilities (or log-probabilities when @want_log)
 * in place; returns the summed loss. */
static gdouble
activate_full (gfloat * l, const gfloat * y, gsize n, guint C, gboolean multi,
    gboolean want_log)
{
  gdouble loss = 0.0;
  gsize i;
  guint c;

  for (i = 0; i < n; i++) {
    gfloat *row = l + i * C;
    const gfloat *yr = y ? y + i * C : NULL;
    if (multi) {
      for (c = 0; c < C; c++) {
        gdouble v = row[c];
        /* log sigmoid(v) = -(max(-v,0) + log1p(exp(-|v|))) */
        gdouble logp = -(MAX (-v, 0.0) + log1p (exp (-fabs (v))));
        if (y)
          loss += MAX (v, 0.0) - v * yr[c] + log1p (exp (-fabs (v)));
        row[c] = (gfloat) (want_log ? logp : 1.0 / (1.0 + exp (-v)));
      }
    } else {
      gdouble mx = row[0], sum = 0.0, lse;
      for (c = 1; c < C; c++)
        mx = MAX (mx, row[c]);
      for (c = 0; c < C; c++)
        sum += exp (row[c] - mx);
      lse = mx + log (sum);
      for (c = 0; c < C; c++) {
        gdouble logp = row[c] - lse;
        if (y)
          loss -= yr[c] * logp;
        row[c] = (gfloat) (want_log ? logp : exp (logp));
      }
    }
  }
  return loss;
}

static gdouble
activate (gfloat * l, const gfloat * y, gsize n, guint C, gboolean multi)
{
  return activate_full (l, y, n, C, multi, FALSE);
}

static gboolean
all_finite (const gfloat * v, gsize n)
{
  gsize i;
  for (i = 0; i < n; i++)
    if (!isfinite (v[i]))
      return FALSE;
  return TRUE;
}

static gdouble
macro_auc (const gfloat * p, const gfloat * y, gsize n, guint C)
{
  gdouble *auc = g_new (gdouble, C), m;
  guint c;
  for (c = 0; c < C; c++)
    auc[c] = etp_metrics_roc_auc (p + c, y + c, n, C);
  m = etp_metrics_nanmean (auc, C, NULL);
  g_free (auc);
  return m;
}

EtpLogReg *
etp_logreg_fit (const gfloat * x, const gfloat * y, gsize n, guint dim,
    guint C, const EtpLogRegParams * p, GError ** error)
{
  EtpLogRegParams defaults;
  EtpLogReg *m;
  GRand *rng;
  gsize *perm, *order, n_val, n_fit, i, j, bs;
  gfloat *zf, *yf, *zv = NULL, *yv = NULL, *zb, *yb, *lb, *grad_w, *grad_b;
  gfloat *mw, *vw, *mb, *vb, *best_w, *best_b, *lv = NULL, *lf;
  gdouble best_loss = INFINITY, b1t = 1.0, b2t = 1.0;
  const gdouble beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  guint epoch, c, since_best = 0;

  if (p == NULL) {
    etp_logreg_params_init (&defaults);
    p = &defaults;
  }
  if (n == 0 || dim == 0 || C == 0) {
    g_set_error (error, ETP_ERROR, ETP_ERROR_INVALID,
        "logistic regression: empty problem (%" G_GSIZE_FORMAT " samples, "
        "%u features, %u classes)", n, dim, C);
    return NULL;
  }
  if (!p->multi_label && C < 2) {
    g_set_error (error, ETP_ERROR, ETP_ERROR_INVALID,
        "logistic regression: softmax needs at least 2 classes");
    return NULL;
  }
  if (!all_finite (x, n * dim) || !all_finite (y, n * C)) {
    g_set_error (error, ETP_ERROR, ETP_ERROR_INVALID,
        "logistic regression: features or labels contain NaN/Inf");
    return NULL;
  }
  if (p->val_fraction < 0.0 || p->val_fraction >= 1.0 || p->lr <= 0.0
      || p->weight_decay < 0.0) {
    g_set_error (error, ETP_ERROR, ETP_ERROR_INVALID,
        "logistic regression: bad setting (val_fraction %g must be in [0,1), "
        "lr %g > 0, weight_decay %g >= 0)", p->val_fraction, p->lr,
        p->weight_decay);
    return NULL;
  }

  m = g_new0 (EtpLogReg, 1);
  m->dim = dim;
  m->n_classes = C;
  m->multi_label = p->multi_label;
  m->weight = g_new0 (gfloat, (gsize) C * dim);
  m->bias = g_new0 (gfloat, C);
  m->mean = g_new0 (gfloat, dim);
  m->scale = g_new (gfloat, dim);
  m->val_loss = NAN;
  m->val_macro_auc = NAN;

  rng = rand_new (p->seed);
  perm = g_new (gsize, n);
  for (i = 0; i < n; i++)
    perm[i] = i;
  n_val = 0;
  if (p->val_fraction > 0.0 && n >= 2) {
    gsize want = (gsize) floor (p->val_fraction * (gdouble) n + 0.5);
    want = CLAMP (want, 1, n - 1);
    shuffle (perm, n, rng);
    if (p->groups) {
      /* whole groups, in the shuffled order of their first sample, until
       * the validation part is big enough; then move them to the front */
      GHashTable *chosen = g_hash_table_new (g_direct_hash, g_direct_equal);
      GHashTable *count = g_hash_table_new (g_direct_hash, g_direct_equal);
      gsize k = 0;
      for (i = 0; i < n; i++) {
        gpointer key = GUINT_TO_POINTER (p->groups[i] + 1);
        g_hash_table_insert (count, key, GSIZE_TO_POINTER (
                GPOINTER_TO_SIZE (g_hash_table_lookup (count, key)) + 1));
      }
      for (i = 0; i < n && k < want; i++) {
        guint g = p->groups[perm[i]];
        if (!g_hash_table_contains (chosen, GUINT_TO_POINTER (g + 1))) {
          gsize cnt = GPOINTER_TO_SIZE (g_hash_table_lookup (count,
                  GUINT_TO_POINTER (g + 1)));
          if (k + cnt > n - 1)
            continue;
          g_hash_table_add (chosen, GUINT_TO_POINTER (g + 1));
          k += cnt;
        }
      }
      g_hash_table_unref (count);
      {
        gsize *tmp = g_new (gsize, n), a = 0, bpos = k;
        for (i = 0; i < n; i++) {
          if (g_hash_table_contains (chosen, GUINT_TO_POINTER (p->groups[i] + 1)))
            tmp[a++] = i;
          else
            tmp[bpos++] = i;
        }
        memcpy (perm, tmp, n * sizeof (gsize));
        g_free (tmp);
      }
      g_hash_table_unref (chosen);
      n_val = k;
    } else {
      n_val = want;
    }
  }
  n_fit = n - n_val;
  m->n_fit = n_fit;
  m->n_val = n_val;
  m->val_index = g_new (gsize, MAX (n_val, 1));
  memcpy (m->val_index, perm, n_val * sizeof (gsize));
  qsort (m->val_index, n_val, sizeof (gsize), cmp_size);

  /* standardisation from the fitted part only */
  {
    gdouble *s1 = g_new0 (gdouble, dim), *s2 = g_new0 (gdouble, dim);
    for (i = n_val; i < n; i++) {
      const gfloat *row = x + perm[i] * dim;
      for (j = 0; j < dim; j++) {
        s1[j] += row[j];
        s2[j] += (gdouble) row[j] * row[j];
      }
    }
    for (j = 0; j < dim; j++) {
      gdouble mu = s1[j] / n_fit, var = s2[j] / n_fit - mu * mu;
      gdouble sd = var > 0 ? sqrt (var) : 0.0;
      m->mean[j] = p->standardize ? (gfloat) mu : 0.0f;
      m->scale[j] = (p->standardize && sd > 1e-12 * MAX (1.0, fabs (mu))) ?
          (gfloat) sd : 1.0f;
    }
    g_free (s1);
    g_free (s2);
  }
  zf = g_new (gfloat, n_fit * dim);
  yf = g_new (gfloat, n_fit * C);
  for (i = 0; i < n_fit; i++) {
    const gfloat *row = x + perm[n_val + i] * dim;
    for (j = 0; j < dim; j++)
      zf[i * dim + j] = (row[j] - m->mean[j]) / m->scale[j];
    memcpy (yf + i * C, y + perm[n_val + i] * C, C * sizeof (gfloat));
  }
  if (n_val) {
    zv = g_new (gfloat, n_val * dim);
    yv = g_new (gfloat, n_val * C);
    lv = g_new (gfloat, n_val * C);
    for (i = 0; i < n_val; i++) {
      const gfloat *row = x + perm[i] * dim;
      for (j = 0; j < dim; j++)
        zv[i * dim + j] = (row[j] - m->mean[j]) / m->scale[j];
      memcpy (yv + i * C, y + perm[i] * C, C * sizeof (gfloat));
    }
  }

  bs = p->batch_size ? MIN ((gsize) p->batch_size, n_fit) : n_fit;
  order = g_new (gsize, n_fit);
  for (i = 0; i < n_fit; i++)
    order[i] = i;
  zb = g_new (gfloat, bs * dim);
  yb = g_new (gfloat, bs * C);
  lb = g_new (gfloat, bs * C);
  lf = g_new (gfloat, n_fit * C);
  grad_w = g_new (gfloat, (gsize) C * dim);
  grad_b = g_new (gfloat, C);
  mw = g_new0 (gfloat, (gsize) C * dim);
  vw = g_new0 (gfloat, (gsize) C * dim);
  mb = g_new0 (gfloat, C);
  vb = g_new0 (gfloat, C);
  best_w = g_memdup2 (m->weight, (gsize) C * dim * sizeof (gfloat));
  best_b = g_memdup2 (m->bias, C * sizeof (gfloat));

  for (epoch = 0; epoch < p->epochs; epoch++) {
    gsize start;

    if (bs < n_fit)
      shuffle (order, n_fit, rng);
    for (start = 0; start < n_fit; start += bs) {
      gsize nb = MIN (bs, n_fit - start), k;
      gdouble a1, a2;

      for (i = 0; i < nb; i++) {
        memcpy (zb + i * dim, zf + order[start + i] * dim, dim * sizeof (gfloat));
        memcpy (yb + i * C, yf + order[start + i] * C, C * sizeof (gfloat));
      }
      forward (m->weight, m->bias, zb, nb, dim, C, lb);
      activate (lb, yb, nb, C, p->multi_label);
      /* dL/dlogit = (p - y) / nb for both BCE and softmax CE */
      for (i = 0; i < nb * C; i++)
        lb[i] = (lb[i] - yb[i]) / (gfloat) nb;
      memcpy (grad_w, m->weight, (gsize) C * dim * sizeof (gfloat));
      cblas_sgemm (CblasRowMajor, CblasTrans, CblasNoTrans, (int) C, (int) dim,
          (int) nb, 1.0f, lb, (int) C, zb, (int) dim, (gfloat) p->weight_decay,
          grad_w, (int) dim);
      for (c = 0; c < C; c++) {
        gdouble s = 0.0;
        for (i = 0; i < nb; i++)
          s += lb[i * C + c];
        grad_b[c] = (gfloat) s;
      }
      b1t *= beta1;
      b2t *= beta2;
      a1 = 1.0 - b1t;
      a2 = 1.0 - b2t;
      for (k = 0; k < (gsize) C * dim; k++) {
        gdouble g = grad_w[k];
        mw[k] = (gfloat) (beta1 * mw[k] + (1 - beta1) * g);
        vw[k] = (gfloat) (beta2 * vw[k] + (1 - beta2) * g * g);
        m->weight[k] -= (gfloat) (p->lr * (mw[k] / a1) / (sqrt (vw[k] / a2) + eps));
      }
      for (c = 0; c < C; c++) {
        gdouble g = grad_b[c];
        mb[c] = (gfloat) (beta1 * mb[c] + (1 - beta1) * g);
        vb[c] = (gfloat) (beta2 * vb[c] + (1 - beta2) * g * g);
        m->bias[c] -= (gfloat) (p->lr * (mb[c] / a1) / (sqrt (vb[c] / a2) + eps));
      }
    }
    m->epochs_run = epoch + 1;
    if (n_val) {
      gdouble loss;
      forward (m->weight, m->bias, zv, n_val, dim, C, lv);
      loss = activate (lv, yv, n_val, C, p->multi_label) / n_val;
      if (!isfinite (loss))
        break;
      if (loss < best_loss) {
        best_loss = loss;
        m->best_epoch = epoch + 1;
        memcpy (best_w, m->weight, (gsize) C * dim * sizeof (gfloat));
        memcpy (best_b, m->bias, C * sizeof (gfloat));
        since_best = 0;
      } else if (p->patience && ++since_best >= p->patience) {
        break;
      }
    }
  }
  if (n_val) {
    memcpy (m->weight, best_w, (gsize) C * dim * sizeof (gfloat));
    memcpy (m->bias, best_b, C * sizeof (gfloat));
    forward (m->weight, m->bias, zv, n_val, dim, C, lv);
    m->val_loss = activate (lv, yv, n_val, C, p->multi_label) / n_val;
    m->val_macro_auc = macro_auc (lv, yv, n_val, C);
  } else {
    m->best_epoch = m->epochs_run;
  }
  forward (m->weight, m->bias, zf, n_fit, dim, C, lf);
  m->train_loss = activate (lf, yf, n_fit, C, p->multi_label) / n_fit;

  g_rand_free (rng);
  g_free (perm);
  g_free (order);
  g_free (zf);
  g_free (yf);
  g_free (zv);
  g_free (yv);
  g_free (lv);
  g_free (lf);
  g_free (zb);
  g_free (yb);
  g_free (lb);
  g_free (grad_w);
  g_free (grad_b);
  g_free (mw);
  g_free (vw);
  g_free (mb);
  g_free (vb);
  g_free (best_w);
  g_free (best_b);
  return m;
}

static void
predict (const EtpLogReg * m, const gfloat * x, gsize n, gfloat * out,
    gboolean want_log)
{
  gsize i, j, chunk = 256;
  gfloat *z = g_new (gfloat, chunk * m->dim);

  for (i = 0; i < n; i += chunk) {
    gsize nb = MIN (chunk, n - i), k;
    for (k = 0; k < nb; k++)
      for (j = 0; j < m->dim; j++)
        z[k * m->dim + j] = (x[(i + k) * m->dim + j] - m->mean[j]) / m->scale[j];
    forward (m->weight, m->bias, z, nb, m->dim, m->n_classes,
        out + i * m->n_classes);
    activate_full (out + i * m->n_classes, NULL, nb, m->n_classes,
        m->multi_label, want_log);
  }
  g_free (z);
}

void
etp_logreg_predict (const EtpLogReg * m, const gfloat * x, gsize n, gfloat * out)
{
  predict (m, x, n, out, FALSE);
}

void
etp_logreg_predict_log (const EtpLogReg * m, const gfloat * x, gsize n,
    gfloat * out)
{
  predict (m, x, n, out, TRUE);
}

void
etp_logreg_free (EtpLogReg * m)
{
  if (m == NULL)
    return;
  g_free (m->weight);
  g_free (m->bias);
  g_free (m->mean);
  g_free (m->scale);
  g_free (m->val_index);
  g_free (m);
}
