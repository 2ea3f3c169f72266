/* Classification metrics for zero-shot and linear evaluation (plain C, no
 * GStreamer). Conventions (checked against scikit-learn 1.2 in
 * tests/eval/test_metrics.c):
 *
 * - Scores and labels are row-major n x C arrays (sample i, class c at
 *   [i * C + c]); a label is positive when > 0.5.
 * - ROC AUC equals sklearn.metrics.roc_auc_score: ties between a positive and
 *   a negative count one half (Mann-Whitney U / trapezoidal ROC).
 * - A class with no positives or no negatives has an undefined AUC (NaN); a
 *   class with no positives has an undefined recall and F1 (NaN). Macro means
 *   average the defined values only, and the report says how many classes
 *   entered each mean. Accuracy is always defined and averages all classes.
 * - Precision with no predicted positives is 0 (sklearn's zero_division=0).
 * - A sample is predicted positive for class c when score >= threshold[c].
 * - Thresholds are fitted on validation data (etp_metrics_fit_thresholds)
 *   and then applied unchanged to the test data; nothing here looks at test
 *   labels to choose a threshold.
 */
#ifndef ETP_EVAL_METRICS_H
#define ETP_EVAL_METRICS_H

#include <glib.h>

G_BEGIN_DECLS

typedef enum {
  ETP_THRESHOLD_MAX_F1 = 0,   /* per class: the threshold with the best F1 */
  ETP_THRESHOLD_YOUDEN = 1,   /* per class: max TPR - FPR (Youden's J) */
} EtpThresholdMethod;

/* ROC AUC of one class; @stride is the distance between consecutive samples
 * in @score and @truth (C for row-major n x C). NaN when undefined. */
gdouble etp_metrics_roc_auc (const gfloat * score, const gfloat * truth,
    gsize n, gsize stride);

typedef struct {
  guint64 tp, fp, tn, fn;
} EtpConfusion;

void etp_metrics_confusion (const gfloat * score, const gfloat * truth,
    gsize n, gsize stride, gdouble threshold, EtpConfusion * out);

gdouble etp_confusion_accuracy (const EtpConfusion * c);
gdouble etp_confusion_precision (const EtpConfusion * c);  /* 0 when no predicted positive */
gdouble etp_confusion_recall (const EtpConfusion * c);     /* NaN when no positive */
gdouble etp_confusion_f1 (const EtpConfusion * c);         /* NaN when no positive */

/* Best threshold of one class under @method over every distinct score (the
 * rule "score >= t"). A class without positives or negatives gets 0.5. */
gdouble etp_metrics_fit_threshold (const gfloat * score, const gfloat * truth,
    gsize n, gsize stride, EtpThresholdMethod method);

/* One threshold per class (n x C row-major inputs) into @thresholds[C]. */
void etp_metrics_fit_thresholds (const gfloat * scores, const gfloat * truth,
    gsize n, guint n_classes, EtpThresholdMethod method, gdouble * thresholds);

/* Fraction of samples whose arg-max score is a positive class (single-label
 * problems; samples without any positive are skipped, NaN if none left). */
gdouble etp_metrics_top1_accuracy (const gfloat * scores, const gfloat * truth,
    gsize n, guint n_classes);

/* A per-class report: AUC, accuracy, precision, recall, F1 at the given
 * thresholds, and macro means over the defined values. */
typedef struct {
  guint n_classes;
  gsize n_samples;
  gchar **class_names;      /* may be NULL */
  gdouble *auc;
  gdouble *accuracy;
  gdouble *precision;
  gdouble *recall;
  gdouble *f1;
  gdouble *threshold;
  guint64 *n_positive;
  gdouble macro_auc;        /* over classes with a defined AUC */
  gdouble macro_accuracy;   /* over all classes */
  gdouble macro_precision;  /* over classes with >= 1 positive */
  gdouble macro_recall;     /* over classes with >= 1 positive */
  gdouble macro_f1;         /* over classes with >= 1 positive */
  guint n_auc_defined;
  guint n_f1_defined;
  gdouble top1_accuracy;    /* arg-max accuracy (NaN when no sample has a positive) */
} EtpClassReport;

/* @thresholds may be NULL: 0.5 for every class. @class_names may be NULL. */
EtpClassReport *etp_class_report_compute (const gfloat * scores,
    const gfloat * truth, gsize n, guint n_classes,
    const gdouble * thresholds, const gchar * const *class_names);
void etp_class_report_free (EtpClassReport * r);

/* The same report where accuracy / precision / recall / F1 come from given
 * binary predictions @pred (n x C, > 0.5 = positive; e.g. the arg-max rule)
 * instead of thresholds; AUC still ranks @scores. threshold[] is NaN. */
EtpClassReport *etp_class_report_compute_with_predictions (const gfloat * scores,
    const gfloat * truth, const gfloat * pred, gsize n, guint n_classes,
    const gchar * const *class_names);

/* Adds the members "n_samples", "macro" {auc, accuracy, f1, precision,
 * recall, n_auc_classes, n_f1_classes}, "top1_accuracy" and "per_class"
 * [{class, auc, accuracy, f1, precision, recall, threshold, n_positive}] to
 * the JSON object being built in @builder (a JsonBuilder *); undefined
 * values are null. */
void etp_class_report_add_json (const EtpClassReport * r, gpointer builder);

/* A plain-text table (one row per class + the macro row), like the paper's
 * tables: AUC, ACC, F1 in percent. */
gchar *etp_class_report_format_table (const EtpClassReport * r,
    const gchar * title);

/* Mean of the finite values in @v (NaN if none); *n_used gets their count. */
gdouble etp_metrics_nanmean (const gdouble * v, guint n, guint * n_used);

G_END_DECLS

#endif
