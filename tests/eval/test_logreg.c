/* Logistic / softmax regression against sklearn's LogisticRegression with the
 * matched L2 penalty (golden from make_golden.py), plus splits and errors. */
#include "config.h"

#include <math.h>
#include <string.h>
#include <json-glib/json-glib.h>
#include "eval/logreg.h"
#include "eval/metrics.h"
#include "util/etperror.h"

static JsonObject *G;
static JsonNode *root;

static gfloat *
floats (JsonArray * a, gsize * n)
{
  guint i, len = json_array_get_length (a);
  gfloat *v = g_new (gfloat, len);
  for (i = 0; i < len; i++)
    v[i] = (gfloat) json_array_get_double_element (a, i);
  if (n)
    *n = len;
  return v;
}

static gfloat *
one_hot (JsonArray * a, guint C)
{
  guint i, len = json_array_get_length (a);
  gfloat *v = g_new0 (gfloat, (gsize) len * C);
  for (i = 0; i < len; i++)
    v[i * C + json_array_get_int_element (a, i)] = 1.0f;
  return v;
}

static void
check_fit (gboolean multi)
{
  guint n_tr = json_object_get_int_member (G, "n_train");
  guint n_te = json_object_get_int_member (G, "n_test");
  guint D = json_object_get_int_member (G, "dim"), C = json_object_get_int_member (G, "n_classes");
  JsonObject *ref = json_object_get_object_member (G, multi ? "multi" : "single");
  JsonArray *coef = json_object_get_array_member (ref, "coef");
  JsonArray *icpt = json_object_get_array_member (ref, "intercept");
  JsonArray *auc = json_object_get_array_member (ref, "test_auc");
  gfloat *xtr = floats (json_object_get_array_member (G, "x_train"), NULL);
  gfloat *xte = floats (json_object_get_array_member (G, "x_test"), NULL);
  gfloat *ytr, *yte, *prob;
  EtpLogRegParams p;
  EtpLogReg *m;
  GError *err = NULL;
  gdouble max_dw = 0.0;
  guint c, j;

  if (multi) {
    ytr = floats (json_object_get_array_member (G, "y_train_multi"), NULL);
    yte = floats (json_object_get_array_member (G, "y_test_multi"), NULL);
  } else {
    ytr = one_hot (json_object_get_array_member (G, "y_train_single"), C);
    yte = one_hot (json_object_get_array_member (G, "y_test_single"), C);
  }
  etp_logreg_params_init (&p);
  p.multi_label = multi;
  p.val_fraction = 0.0;        /* sklearn fits on everything */
  p.batch_size = 0;            /* full batch: converge to the same optimum */
  p.epochs = 4000;
  p.lr = 0.02;
  p.weight_decay = json_object_get_double_member (G, "weight_decay");
  m = etp_logreg_fit (xtr, ytr, n_tr, D, C, &p, &err);
  g_assert_no_error (err);
  g_assert_nonnull (m);
  for (c = 0; c < C; c++) {
    JsonArray *row = json_array_get_array_element (coef, c);
    for (j = 0; j < D; j++)
      max_dw = MAX (max_dw, fabs (m->weight[c * D + j] -
              json_array_get_double_element (row, j)));
    if (multi)   /* softmax intercepts are defined up to a shared shift */
      max_dw = MAX (max_dw, fabs (m->bias[c] - json_array_get_double_element (icpt, c)));
  }
  g_test_message ("%s: max |coef - sklearn| = %.2e", multi ? "multi" : "single", max_dw);
  g_assert_cmpfloat (max_dw, <, 2e-3);

  prob = g_new (gfloat, (gsize) n_te * C);
  /* AUC ranks the log-probabilities (float32 probabilities saturate at 1) */
  etp_logreg_predict_log (m, xte, n_te, prob);
  for (c = 0; c < C; c++) {
    gdouble a = etp_metrics_roc_auc (prob + c, yte + c, n_te, C);
    g_assert_cmpfloat (fabs (a - json_array_get_double_element (auc, c)), <, 0.01);
  }
  etp_logreg_predict (m, xte, n_te, prob);
  g_assert_cmpfloat (prob[0], >, 0.0f);
  g_assert_cmpfloat (prob[0], <=, 1.0f);
  if (!multi)
    g_assert_cmpfloat (fabs (etp_metrics_top1_accuracy (prob, yte, n_te, C) -
            json_object_get_double_member (ref, "test_top1")), <, 0.01);
  etp_logreg_free (m);
  g_free (prob);
  g_free (xtr);
  g_free (xte);
  g_free (ytr);
  g_free (yte);
}

static void
test_multi (void)
{
  check_fit (TRUE);
}

static void
test_single (void)
{
  check_fit (FALSE);
}

static void
test_early_stopping (void)
{
  guint n_tr = json_object_get_int_member (G, "n_train");
  guint D = json_object_get_int_member (G, "dim"), C = json_object_get_int_member (G, "n_classes");
  gfloat *xtr = floats (json_object_get_array_member (G, "x_train"), NULL);
  gfloat *ytr = floats (json_object_get_array_member (G, "y_train_multi"), NULL);
  EtpLogRegParams p;
  EtpLogReg *a, *b;

  etp_logreg_params_init (&p);
  p.val_fraction = 0.2;
  p.batch_size = 32;
  p.epochs = 200;
  p.lr = 0.05;
  p.patience = 5;
  p.seed = 3;
  a = etp_logreg_fit (xtr, ytr, n_tr, D, C, &p, NULL);
  b = etp_logreg_fit (xtr, ytr, n_tr, D, C, &p, NULL);
  g_assert_cmpuint (a->n_val, ==, 60);
  g_assert_cmpuint (a->n_fit, ==, 240);
  g_assert_cmpuint (a->best_epoch, >=, 1);
  g_assert_cmpuint (a->best_epoch, <=, a->epochs_run);
  g_assert_true (isfinite (a->val_loss));
  g_assert_cmpfloat (a->val_macro_auc, >, 0.8);
  /* seeded: same split, same result */
  g_assert_cmpmem (a->weight, C * D * sizeof (gfloat), b->weight, C * D * sizeof (gfloat));
  etp_logreg_free (a);
  etp_logreg_free (b);

  /* grouped split: groups of 3 consecutive samples never straddle it */
  {
    guint *groups = g_new (guint, n_tr), i;
    gsize k;
    gboolean in_val[300] = { FALSE };
    for (i = 0; i < n_tr; i++)
      groups[i] = i / 3;
    p.groups = groups;
    p.epochs = 5;
    a = etp_logreg_fit (xtr, ytr, n_tr, D, C, &p, NULL);
    g_assert_cmpuint (a->n_val, ==, 60);
    for (k = 0; k < a->n_val; k++)
      in_val[a->val_index[k]] = TRUE;
    for (i = 0; i < n_tr; i += 3)
      g_assert_true (in_val[i] == in_val[i + 1] && in_val[i] == in_val[i + 2]);
    etp_logreg_free (a);
    g_free (groups);
  }
  g_free (xtr);
  g_free (ytr);
}

static void
test_subset_and_errors (void)
{
  gsize idx[1000], idx2[1000], k, i;
  gfloat x[4] = { 1, NAN, 2, 3 }, y[2] = { 1, 0 };
  gfloat single[6] = { 1, 0, 0, 0, 0, 1 }, multi[6] = { 1, 1, 0, 0, 0, 1 };
  GError *err = NULL;

  k = etp_subset_indices (1000, 0.01, 5, idx);
  g_assert_cmpuint (k, ==, 10);
  g_assert_cmpuint (etp_subset_indices (1000, 0.01, 5, idx2), ==, 10);
  g_assert_cmpmem (idx, k * sizeof (gsize), idx2, k * sizeof (gsize));
  for (i = 1; i < k; i++)
    g_assert_cmpuint (idx[i], >, idx[i - 1]);
  g_assert_cmpuint (etp_subset_indices (1000, 0.1, 5, idx), ==, 100);
  g_assert_cmpuint (etp_subset_indices (1000, 1.0, 5, idx), ==, 1000);
  g_assert_cmpuint (idx[999], ==, 999);
  g_assert_cmpuint (etp_subset_indices (50, 0.001, 5, idx), ==, 1);
  g_assert_true (etp_labels_are_single (single, 2, 3));
  g_assert_false (etp_labels_are_single (multi, 2, 3));
  g_assert_null (etp_logreg_fit (x, y, 2, 2, 1, NULL, &err));
  g_assert_error (err, ETP_ERROR, ETP_ERROR_INVALID);
  g_clear_error (&err);
}

int
main (int argc, char **argv)
{
  const gchar *src = g_getenv ("ETP_SOURCE_ROOT");
  gchar *path = g_build_filename (src ? src : ETP_SOURCE_ROOT, "tests", "eval",
      "logreg_golden.json", NULL);
  JsonParser *parser = json_parser_new ();
  GError *err = NULL;
  int ret;

  g_test_init (&argc, &argv, NULL);
  if (!json_parser_load_from_file (parser, path, &err))
    g_error ("%s: %s", path, err->message);
  root = json_node_copy (json_parser_get_root (parser));
  G = json_node_get_object (root);
  g_object_unref (parser);
  g_free (path);
  g_test_add_func ("/eval/logreg/multi-label-vs-sklearn", test_multi);
  g_test_add_func ("/eval/logreg/softmax-vs-sklearn", test_single);
  g_test_add_func ("/eval/logreg/early-stopping", test_early_stopping);
  g_test_add_func ("/eval/logreg/subset-and-errors", test_subset_and_errors);
  ret = g_test_run ();
  json_node_unref (root);
  return ret;
}
