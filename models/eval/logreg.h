/* Linear classifier on frozen features (the linear probe): multi-label
 * logistic regression (one sigmoid per class, mean binary cross-entropy) or
 * single-label softmax regression (cross-entropy), trained with Adam on
 * mini-batches.
 *
 * - Features are standardised with the mean / standard deviation of the
 *   samples the model is fitted on (the validation part excluded).
 * - A validation part (val_fraction of the given training samples, seeded)
 *   is held out; with it, the weights of the epoch with the lowest
 *   validation loss are kept and training stops after `patience` epochs
 *   without improvement. The test set is never seen here.
 * - Weight decay is an L2 penalty on the weights (not on the biases) added to
 *   the gradient (PyTorch Adam's weight_decay): the objective is
 *   mean loss + wd/2 |W|^2, i.e. sklearn's LogisticRegression with
 *   C = 1 / (wd * n_fit).
 */
#ifndef ETP_EVAL_LOGREG_H
#define ETP_EVAL_LOGREG_H

#include <glib.h>

G_BEGIN_DECLS

typedef struct {
  guint epochs;           /* maximum number of passes (default 100) */
  gdouble lr;             /* Adam learning rate (default 1e-3) */
  gdouble weight_decay;   /* L2 on the weights (default 1e-4) */
  guint batch_size;       /* 0 = full batch (default 128) */
  gdouble val_fraction;   /* held-out part of the training data (default 0.1) */
  guint patience;         /* epochs without val improvement (default 10; 0 = never stop) */
  guint64 seed;           /* split, shuffling and initialisation (default 0) */
  gboolean multi_label;   /* TRUE: sigmoid/BCE, FALSE: softmax/CE */
  gboolean standardize;   /* default TRUE */
  const guint *groups;    /* optional, n entries: samples sharing a group
                           * (e.g. windows of one record) stay on the same
                           * side of the validation split */
} EtpLogRegParams;

void etp_logreg_params_init (EtpLogRegParams * p);

typedef struct {
  guint dim, n_classes;
  gboolean multi_label;
  gfloat *weight;         /* n_classes x dim, acting on standardised features */
  gfloat *bias;           /* n_classes */
  gfloat *mean, *scale;   /* dim: z = (x - mean) / scale */
  /* training summary */
  gsize n_fit, n_val;
  gsize *val_index;       /* the n_val held-out sample indices (sorted) */
  guint epochs_run, best_epoch;
  gdouble train_loss;     /* at the kept epoch, without the penalty */
  gdouble val_loss;       /* NaN without a validation part */
  gdouble val_macro_auc;  /* NaN without a validation part */
} EtpLogReg;

/* Fits on @n samples: @x is n x dim, @y n x n_classes (multi-hot; one-hot
 * for single-label). Returns NULL with @error set on bad input. */
EtpLogReg *etp_logreg_fit (const gfloat * x, const gfloat * y, gsize n,
    guint dim, guint n_classes, const EtpLogRegParams * p, GError ** error);

/* Class probabilities (sigmoid or softmax) for @n samples into @out (n x C). */
void etp_logreg_predict (const EtpLogReg * m, const gfloat * x, gsize n,
    gfloat * out);

/* Log-probabilities: the same ranking as the probabilities without float32
 * saturation at 0 / 1 (use these for AUC; exp() gives the probabilities). */
void etp_logreg_predict_log (const EtpLogReg * m, const gfloat * x, gsize n,
    gfloat * out);

void etp_logreg_free (EtpLogReg * m);

/* Seeded random subset of ceil(fraction * n) indices (at least 1, at most n),
 * in increasing order; returns its size. @fraction in (0, 1]. */
gsize etp_subset_indices (gsize n, gdouble fraction, guint64 seed,
    gsize * out);

/* TRUE when every row of @y (n x C) has exactly one positive. */
gboolean etp_labels_are_single (const gfloat * y, gsize n, guint n_classes);

G_END_DECLS

#endif
