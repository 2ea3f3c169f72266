/* Metrics against scikit-learn 1.2 goldens (tests/eval/make_golden.py):
 * ROC AUC with ties, undefined classes, F1/precision/recall/accuracy at fixed
 * and validation-fitted thresholds, macro means. */
#include "config.h"

#include <math.h>
#include <string.h>
#include <json-glib/json-glib.h>
#include "eval/metrics.h"

static JsonNode *golden_root;

static JsonObject *
golden (void)
{
  return json_node_get_object (golden_root);
}

static gfloat *
read_floats (JsonObject * o, const gchar * name, gsize * n)
{
  JsonArray *a = json_object_get_array_member (o, name);
  guint i, len = json_array_get_length (a);
  gfloat *v = g_new (gfloat, len);

  for (i = 0; i < len; i++)
    v[i] = (gfloat) json_array_get_double_element (a, i);
  if (n)
    *n = len;
  return v;
}

/* Expected value: JSON null means "undefined" (NaN). */
static void
assert_value (JsonArray * a, guint i, gdouble got, const gchar * what)
{
  JsonNode *node = json_array_get_element (a, i);

  if (JSON_NODE_HOLDS_NULL (node)) {
    if (!isnan (got))
      g_error ("%s[%u]: expected undefined, got %g", what, i, got);
  } else {
    gdouble want = json_node_get_double (node);
    if (!(fabs (got - want) <= 1e-6))
      g_error ("%s[%u]: expected %.9f, got %.9f", what, i, want, got);
  }
}

static void
assert_scalar (JsonObject * o, const gchar * name, gdouble got)
{
  JsonNode *node = json_object_get_member (o, name);
  if (JSON_NODE_HOLDS_NULL (node))
    g_assert_true (isnan (got));
  else
    g_assert_cmpfloat_with_epsilon (got, json_node_get_double (node), 1e-6);
}

static void
check_report (const EtpClassReport * r, JsonObject * per_class, JsonObject * macro)
{
  guint c;
  for (c = 0; c < r->n_classes; c++) {
    assert_value (json_object_get_array_member (per_class, "auc"), c, r->auc[c], "auc");
    assert_value (json_object_get_array_member (per_class, "accuracy"), c,
        r->accuracy[c], "accuracy");
    assert_value (json_object_get_array_member (per_class, "precision"), c,
        r->precision[c], "precision");
    assert_value (json_object_get_array_member (per_class, "recall"), c,
        r->recall[c], "recall");
    assert_value (json_object_get_array_member (per_class, "f1"), c, r->f1[c], "f1");
  }
  assert_scalar (macro, "auc", r->macro_auc);
  assert_scalar (macro, "accuracy", r->macro_accuracy);
  assert_scalar (macro, "precision", r->macro_precision);
  assert_scalar (macro, "recall", r->macro_recall);
  assert_scalar (macro, "f1", r->macro_f1);
}

static void
test_auc_small (void)
{
  /* Hand-checked: pos {0.8, 0.4}, neg {0.4, 0.1}: pairs 1 + 1 + 0.5 + 1 = 3.5/4. */
  gfloat s[] = { 0.8f, 0.4f, 0.4f, 0.1f };
  gfloat t[] = { 1, 1, 0, 0 };
  gfloat none[] = { 0, 0, 0, 0 };

  g_assert_cmpfloat_with_epsilon (etp_metrics_roc_auc (s, t, 4, 1), 0.875, 1e-12);
  g_assert_true (isnan (etp_metrics_roc_auc (s, none, 4, 1)));
}

static void
test_fixed_threshold (void)
{
  JsonObject *test = json_object_get_object_member (golden (), "test");
  guint C = json_object_get_int_member (golden (), "n_classes");
  gsize n = json_object_get_int_member (test, "n");
  gfloat *s = read_floats (test, "scores", NULL), *t = read_floats (test, "truth", NULL);
  EtpClassReport *r = etp_class_report_compute (s, t, n, C, NULL, NULL);
  gchar *table;

  check_report (r, json_object_get_object_member (test, "at_half"),
      json_object_get_object_member (test, "macro_at_half"));
  /* class 3 has no positives, class 4 no negatives: AUC excluded from the mean */
  g_assert_cmpuint (r->n_auc_defined, ==, 3);
  g_assert_cmpuint (r->n_f1_defined, ==, 4);
  g_assert_cmpfloat_with_epsilon (r->top1_accuracy,
      json_object_get_double_member (test, "top1"), 1e-9);
  table = etp_class_report_format_table (r, "golden");
  g_assert_nonnull (strstr (table, "macro"));
  g_free (table);
  etp_class_report_free (r);
  g_free (s);
  g_free (t);
}

static void
check_fitted (const gchar * key, EtpThresholdMethod method)
{
  JsonObject *val = json_object_get_object_member (golden (), "val");
  JsonObject *test = json_object_get_object_member (golden (), "test");
  JsonObject *fit = json_object_get_object_member (golden (), key);
  JsonArray *want = json_object_get_array_member (fit, "thresholds");
  guint c, C = json_object_get_int_member (golden (), "n_classes");
  gsize nv = json_object_get_int_member (val, "n"), nt = json_object_get_int_member (test, "n");
  gfloat *vs = read_floats (val, "scores", NULL), *vt = read_floats (val, "truth", NULL);
  gfloat *ts = read_floats (test, "scores", NULL), *tt = read_floats (test, "truth", NULL);
  gdouble thr[16];
  EtpClassReport *r;

  /* fitted on validation only; then applied unchanged to test */
  etp_metrics_fit_thresholds (vs, vt, nv, C, method, thr);
  for (c = 0; c < C; c++)
    assert_value (want, c, thr[c], key);
  r = etp_class_report_compute (ts, tt, nt, C, thr, NULL);
  check_report (r, json_object_get_object_member (fit, "test"),
      json_object_get_object_member (fit, "test_macro"));
  etp_class_report_free (r);
  g_free (vs);
  g_free (vt);
  g_free (ts);
  g_free (tt);
}

static void
test_fit_f1 (void)
{
  check_fitted ("fit_f1", ETP_THRESHOLD_MAX_F1);
}

static void
test_fit_youden (void)
{
  check_fitted ("fit_youden", ETP_THRESHOLD_YOUDEN);
}

int
main (int argc, char **argv)
{
  const gchar *root = g_getenv ("ETP_SOURCE_ROOT");
  gchar *path;
  JsonParser *parser = json_parser_new ();
  GError *err = NULL;
  int ret;

  g_test_init (&argc, &argv, NULL);
  path = g_build_filename (root ? root : ETP_SOURCE_ROOT, "tests", "eval",
      "metrics_golden.json", NULL);
  if (!json_parser_load_from_file (parser, path, &err))
    g_error ("%s: %s", path, err->message);
  golden_root = json_node_copy (json_parser_get_root (parser));
  g_object_unref (parser);
  g_free (path);
  g_test_add_func ("/eval/metrics/auc-small", test_auc_small);
  g_test_add_func ("/eval/metrics/fixed-threshold", test_fixed_threshold);
  g_test_add_func ("/eval/metrics/fit-f1", test_fit_f1);
  g_test_add_func ("/eval/metrics/fit-youden", test_fit_youden);
  ret = g_test_run ();
  json_node_unref (golden_root);
  return ret;
}
