/* Classification metrics; see metrics.h for the conventions. */
#include "eval/metrics.h"

#include <json-glib/json-glib.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  gdouble s;
  gboolean pos;
} ScoredItem;

static int
cmp_asc (const void *a, const void *b)
{
  gdouble x = ((const ScoredItem *) a)->s, y = ((const ScoredItem *) b)->s;
  return (x > y) - (x < y);
}

static int
cmp_desc (const void *a, const void *b)
{
  return cmp_asc (b, a);
}

static ScoredItem *
gather (const gfloat * score, const gfloat * truth, gsize n, gsize stride,
    guint64 * n_pos)
{
  ScoredItem *it = g_new (ScoredItem, MAX (n, 1));
  gsize i;

  *n_pos = 0;
  for (i = 0; i < n; i++) {
    it[i].s = score[i * stride];
    it[i].pos = truth[i * stride] > 0.5f;
    *n_pos += it[i].pos;
  }
  return it;
}

gdouble
etp_metrics_roc_auc (const gfloat * score, const gfloat * truth, gsize n,
    gsize stride)
{
  guint64 n_pos, n_neg;
  ScoredItem *it;
  gdouble rank_sum = 0.0;
  gsize i = 0;

  it = gather (score, truth, n, stride, &n_pos);
  n_neg = n - n_pos;
  if (n_pos == 0 || n_neg == 0) {
    g_free (it);
    return NAN;
  }
  qsort (it, n, sizeof (ScoredItem), cmp_asc);
  /* Average ranks over ties: the Mann-Whitney statistic equals the
   * trapezoidal area under the ROC curve, ties counted one half. */
  while (i < n) {
    gsize j = i;
    guint64 pos_in_group = 0;
    gdouble avg_rank;

    while (j < n && it[j].s == it[i].s) {
      pos_in_group += it[j].pos;
      j++;
    }
    avg_rank = 0.5 * ((gdouble) (i + 1) + (gdouble) j);
    rank_sum += avg_rank * (gdouble) pos_in_group;
    i = j;
  }
  g_free (it);
  return (rank_sum - 0.5 * (gdouble) n_pos * (gdouble) (n_pos + 1)) /
      ((gdouble) n_pos * (gdouble) n_neg);
}

void
etp_metrics_confusion (const gfloat * score, const gfloat * truth, gsize n,
    gsize stride, gdouble threshold, EtpConfusion * out)
{
  gsize i;

  memset (out, 0, sizeof (*out));
  for (i = 0; i < n; i++) {
    gboolean pos = truth[i * stride] > 0.5f;
    gboolean pred = (gdouble) score[i * stride] >= threshold;
    if (pos && pred)
      out->tp++;
    else if (pos)
      out->fn++;
    else if (pred)
      out->fp++;
    else
      out->tn++;
  }
}

gdouble
etp_confusion_accuracy (const EtpConfusion * c)
{
  guint64 n = c->tp + c->fp + c->tn + c->fn;
  return n ? (gdouble) (c->tp + c->tn) / (gdouble) n : NAN;
}

gdouble
etp_confusion_precision (const EtpConfusion * c)
{
  return (c->tp + c->fp) ? (gdouble) c->tp / (gdouble) (c->tp + c->fp) : 0.0;
}

gdouble
etp_confusion_recall (const EtpConfusion * c)
{
  return (c->tp + c->fn) ? (gdouble) c->tp / (gdouble) (c->tp + c->fn) : NAN;
}

gdouble
etp_confusion_f1 (const EtpConfusion * c)
{
  if (c->tp + c->fn == 0)
    return NAN;
  return 2.0 * (gdouble) c->tp / (gdouble) (2 * c->tp + c->fp + c->fn);
}

gdouble
etp_metrics_fit_threshold (const gfloat * score, const gfloat * truth,
    gsize n, gsize stride, EtpThresholdMethod method)
{
  guint64 n_pos, n_neg, tp = 0, fp = 0;
  ScoredItem *it;
  gdouble best = -INFINITY, best_t = 0.5;
  gsize i = 0;

  it = gather (score, truth, n, stride, &n_pos);
  n_neg = n - n_pos;
  if (n_pos == 0 || n_neg == 0) {
    g_free (it);
    return 0.5;
  }
  qsort (it, n, sizeof (ScoredItem), cmp_desc);
  /* Walk the distinct scores from the highest down; "score >= t" with t the
   * current score predicts the current group and every higher one. The
   * first (highest) threshold wins ties. */
  while (i < n) {
    gsize j = i;
    gdouble value;

    while (j < n && it[j].s == it[i].s) {
      tp += it[j].pos;
      fp += !it[j].pos;
      j++;
    }
    if (method == ETP_THRESHOLD_YOUDEN)
      value = (gdouble) tp / (gdouble) n_pos - (gdouble) fp / (gdouble) n_neg;
    else
      value = 2.0 * (gdouble) tp / (gdouble) (tp + fp + n_pos);
    if (value > best) {
      best = value;
      best_t = it[i].s;
    }
    i = j;
  }
  g_free (it);
  return best_t;
}

void
etp_metrics_fit_thresholds (const gfloat * scores, const gfloat * truth,
    gsize n, guint n_classes, EtpThresholdMethod method, gdouble * thresholds)
{
  guint c;

  for (c = 0; c < n_classes; c++)
    thresholds[c] = etp_metrics_fit_threshold (scores + c, truth + c, n,
        n_classes, method);
}

gdouble
etp_metrics_top1_accuracy (const gfloat * scores, const gfloat * truth,
    gsize n, guint n_classes)
{
  gsize i, used = 0, hits = 0;
  guint c;

  for (i = 0; i < n; i++) {
    const gfloat *s = scores + i * n_classes, *t = truth + i * n_classes;
    guint best = 0;
    gboolean any = FALSE;

    for (c = 0; c < n_classes; c++) {
      any |= t[c] > 0.5f;
      if (s[c] > s[best])
        best = c;
    }
    if (!any)
      continue;
    used++;
    hits += t[best] > 0.5f;
  }
  return used ? (gdouble) hits / (gdouble) used : NAN;
}

gdouble
etp_metrics_nanmean (const gdouble * v, guint n, guint * n_used)
{
  gdouble sum = 0.0;
  guint i, k = 0;

  for (i = 0; i < n; i++) {
    if (isfinite (v[i])) {
      sum += v[i];
      k++;
    }
  }
  if (n_used)
    *n_used = k;
  return k ? sum / k : NAN;
}

static EtpClassReport *
report_compute (const gfloat * scores, const gfloat * truth, const gfloat * pred,
    gsize n, guint n_classes, const gdouble * thresholds,
    const gchar * const *class_names)
{
  EtpClassReport *r = g_new0 (EtpClassReport, 1);
  guint c;

  r->n_classes = n_classes;
  r->n_samples = n;
  if (class_names) {
    r->class_names = g_new0 (gchar *, n_classes + 1);
    for (c = 0; c < n_classes; c++)
      r->class_names[c] = g_strdup (class_names[c]);
  }
  r->auc = g_new (gdouble, n_classes);
  r->accuracy = g_new (gdouble, n_classes);
  r->precision = g_new (gdouble, n_classes);
  r->recall = g_new (gdouble, n_classes);
  r->f1 = g_new (gdouble, n_classes);
  r->threshold = g_new (gdouble, n_classes);
  r->n_positive = g_new (guint64, n_classes);
  for (c = 0; c < n_classes; c++) {
    EtpConfusion conf;
    gdouble t = pred ? NAN : thresholds ? thresholds[c] : 0.5;

    r->threshold[c] = t;
    r->auc[c] = etp_metrics_roc_auc (scores + c, truth + c, n, n_classes);
    if (pred)
      etp_metrics_confusion (pred + c, truth + c, n, n_classes, 0.5, &conf);
    else
      etp_metrics_confusion (scores + c, truth + c, n, n_classes, t, &conf);
    r->n_positive[c] = conf.tp + conf.fn;
    r->accuracy[c] = etp_confusion_accuracy (&conf);
    r->recall[c] = etp_confusion_recall (&conf);
    r->f1[c] = etp_confusion_f1 (&conf);
    /* Precision is reported as undefined with the rest of the class when the
     * class has no positives, so that the macro means use the same classes. */
    r->precision[c] = r->n_positive[c] ? etp_confusion_precision (&conf) : NAN;
  }
  r->macro_auc = etp_metrics_nanmean (r->auc, n_classes, &r->n_auc_defined);
  r->macro_accuracy = etp_metrics_nanmean (r->accuracy, n_classes, NULL);
  r->macro_precision = etp_metrics_nanmean (r->precision, n_classes, NULL);
  r->macro_recall = etp_metrics_nanmean (r->recall, n_classes, NULL);
  r->macro_f1 = etp_metrics_nanmean (r->f1, n_classes, &r->n_f1_defined);
  r->top1_accuracy = etp_metrics_top1_accuracy (scores, truth, n, n_classes);
  return r;
}

EtpClassReport *
etp_class_report_compute (const gfloat * scores, const gfloat * truth,
    gsize n, guint n_classes, const gdouble * thresholds,
    const gchar * const *class_names)
{
  return report_compute (scores, truth, NULL, n, n_classes, thresholds,
      class_names);
}

EtpClassReport *
etp_class_report_compute_with_predictions (const gfloat * scores,
    const gfloat * truth, const gfloat * pred, gsize n, guint n_classes,
    const gchar * const *class_names)
{
  return report_compute (scores, truth, pred, n, n_classes, NULL, class_names);
}

static void
add_num (JsonBuilder * b, const gchar * name, gdouble v)
{
  json_builder_set_member_name (b, name);
  if (isfinite (v))
    json_builder_add_double_value (b, v);
  else
    json_builder_add_null_value (b);
}

void
etp_class_report_add_json (const EtpClassReport * r, gpointer builder)
{
  JsonBuilder *b = builder;
  guint c;

  json_builder_set_member_name (b, "n_samples");
  json_builder_add_int_value (b, (gint64) r->n_samples);
  json_builder_set_member_name (b, "macro");
  json_builder_begin_object (b);
  add_num (b, "auc", r->macro_auc);
  add_num (b, "accuracy", r->macro_accuracy);
  add_num (b, "f1", r->macro_f1);
  add_num (b, "precision", r->macro_precision);
  add_num (b, "recall", r->macro_recall);
  json_builder_set_member_name (b, "n_auc_classes");
  json_builder_add_int_value (b, r->n_auc_defined);
  json_builder_set_member_name (b, "n_f1_classes");
  json_builder_add_int_value (b, r->n_f1_defined);
  json_builder_end_object (b);
  add_num (b, "top1_accuracy", r->top1_accuracy);
  json_builder_set_member_name (b, "per_class");
  json_builder_begin_array (b);
  for (c = 0; c < r->n_classes; c++) {
    json_builder_begin_object (b);
    json_builder_set_member_name (b, "class");
    if (r->class_names)
      json_builder_add_string_value (b, r->class_names[c]);
    else
      json_builder_add_int_value (b, c);
    add_num (b, "auc", r->auc[c]);
    add_num (b, "accuracy", r->accuracy[c]);
    add_num (b, "f1", r->f1[c]);
    add_num (b, "precision", r->precision[c]);
    add_num (b, "recall", r->recall[c]);
    add_num (b, "threshold", r->threshold[c]);
    json_builder_set_member_name (b, "n_positive");
    json_builder_add_int_value (b, (gint64) r->n_positive[c]);
    json_builder_end_object (b);
  }
  json_builder_end_array (b);
}

void
etp_class_report_free (EtpClassReport * r)
{
  if (r == NULL)
    return;
  g_strfreev (r->class_names);
  g_free (r->auc);
  g_free (r->accuracy);
  g_free (r->precision);
  g_free (r->recall);
  g_free (r->f1);
  g_free (r->threshold);
  g_free (r->n_positive);
  g_free (r);
}

static void
append_pct (GString * s, gdouble v)
{
  if (isfinite (v))
    g_string_append_printf (s, " %7.1f", 100.0 * v);
  else
    g_string_append (s, "       -");
}

gchar *
etp_class_report_format_table (const EtpClassReport * r, const gchar * title)
{
  GString *s = g_string_new (NULL);
  guint c, w = 8;

  for (c = 0; r->class_names && c < r->n_classes; c++)
    w = MAX (w, (guint) strlen (r->class_names[c]));
  if (title)
    g_string_append_printf (s, "%s\n", title);
  g_string_append_printf (s, "%-*s %7s %7s %7s %7s %7s %6s\n", w, "class",
      "AUC", "ACC", "F1", "PREC", "REC", "n_pos");
  for (c = 0; c < r->n_classes; c++) {
    if (r->class_names)
      g_string_append_printf (s, "%-*s", w, r->class_names[c]);
    else
      g_string_append_printf (s, "%-*u", w, c);
    append_pct (s, r->auc[c]);
    append_pct (s, r->accuracy[c]);
    append_pct (s, r->f1[c]);
    append_pct (s, r->precision[c]);
    append_pct (s, r->recall[c]);
    g_string_append_printf (s, " %6" G_GUINT64_FORMAT "\n", r->n_positive[c]);
  }
  g_string_append_printf (s, "%-*s", w, "macro");
  append_pct (s, r->macro_auc);
  append_pct (s, r->macro_accuracy);
  append_pct (s, r->macro_f1);
  append_pct (s, r->macro_precision);
  append_pct (s, r->macro_recall);
  g_string_append_printf (s, " %6" G_GSIZE_FORMAT "\n", r->n_samples);
  g_string_append_printf (s, "(%" G_GSIZE_FORMAT " samples; AUC averaged over "
      "%u of %u classes, F1/PREC/REC over %u with positives; '-' = undefined)\n",
      r->n_samples, r->n_auc_defined, r->n_classes, r->n_f1_defined);
  return g_string_free (s, FALSE);
}
