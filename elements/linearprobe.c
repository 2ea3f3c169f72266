/* linearprobe: fits a linear classifier on the features of the "train" pad
 * and reports AUC / F1 / accuracy on the records of the "test" pad.
 *
 * Protocol (docs/elements/linearprobe.md):
 * - every train window is one sample, labelled with its record's labels;
 *   label-fraction keeps a seeded random fraction of the train *records*;
 * - val-fraction of the kept train records (whole records, seeded) is held
 *   out for early stopping / keeping the best epoch and for fitting the
 *   per-class decision thresholds (threshold-method); the test pad is only
 *   scored, never used to choose anything;
 * - a test record's score per class is the mean over its windows of the
 *   log-probability (the geometric mean of the window probabilities; with
 *   one window per record it is just the probability's log), which ranks
 *   like the probability without float32 saturation at 1.
 */
#include "config.h"

#include "linearprobe.h"
#include "etpcaps.h"
#include "etpmeta.h"
#include "eval/logreg.h"
#include "eval/metrics.h"

#include <json-glib/json-glib.h>
#include <math.h>
#include <string.h>

GST_DEBUG_CATEGORY_STATIC (etp_linear_probe_debug);
#define GST_CAT_DEFAULT etp_linear_probe_debug

typedef struct {
  GArray *x;                  /* float, n x dim */
  GPtrArray *record;          /* gchar * per sample */
  GPtrArray *codes;           /* gchar ** per sample (NULL-terminated, maybe empty) */
  gchar **label_set;          /* first label_set seen */
  guint dim;
  gboolean eos;
  gboolean any_meta_missing;
} Collect;

struct _EtpLinearProbe {
  GstElement parent;
  GstPad *train_pad, *test_pad;

  GMutex lock;
  Collect train, test;
  gboolean done;

  /* properties */
  gdouble label_fraction;
  guint epochs;
  gdouble lr;
  gdouble weight_decay;
  guint batch_size;
  gdouble val_fraction;
  guint patience;
  guint64 seed;
  EtpMultiLabelMode multi_label;
  EtpThresholdMethod threshold_method;
  gchar *classes;
  gchar *report;
  gboolean silent;
};

enum {
  PROP_0,
  PROP_LABEL_FRACTION,
  PROP_EPOCHS,
  PROP_LR,
  PROP_WEIGHT_DECAY,
  PROP_BATCH_SIZE,
  PROP_VAL_FRACTION,
  PROP_PATIENCE,
  PROP_SEED,
  PROP_MULTI_LABEL,
  PROP_THRESHOLD_METHOD,
  PROP_CLASSES,
  PROP_REPORT,
  PROP_SILENT,
};

static GstStaticPadTemplate train_template = GST_STATIC_PAD_TEMPLATE ("train",
    GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS (ETP_TENSOR_CAPS_STR));
static GstStaticPadTemplate test_template = GST_STATIC_PAD_TEMPLATE ("test",
    GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS (ETP_TENSOR_CAPS_STR));

G_DEFINE_TYPE (EtpLinearProbe, etp_linear_probe, GST_TYPE_ELEMENT);
GST_ELEMENT_REGISTER_DEFINE (linearprobe, "linearprobe", GST_RANK_NONE,
    ETP_TYPE_LINEAR_PROBE);

#define ETP_TYPE_LINEAR_PROBE_MULTI_LABEL (etp_linear_probe_multi_label_get_type ())
static GType
etp_linear_probe_multi_label_get_type (void)
{
  static GType t = 0;
  static const GEnumValue values[] = {
    {ETP_MULTI_LABEL_AUTO, "Single-label (softmax) when every train record has "
          "exactly one label, else multi-label (sigmoid)", "auto"},
    {ETP_MULTI_LABEL_TRUE, "Multi-label: one sigmoid per class, binary "
          "cross-entropy", "true"},
    {ETP_MULTI_LABEL_FALSE, "Single-label: softmax, cross-entropy", "false"},
    {0, NULL, NULL}
  };
  if (g_once_init_enter (&t)) {
    GType tmp = g_type_from_name ("EtpLinearProbeMultiLabel");
    if (!tmp)
      tmp = g_enum_register_static ("EtpLinearProbeMultiLabel", values);
    g_once_init_leave (&t, tmp);
  }
  return t;
}

#define ETP_TYPE_LINEAR_PROBE_THRESHOLD (etp_linear_probe_threshold_get_type ())
static GType
etp_linear_probe_threshold_get_type (void)
{
  static GType t = 0;
  static const GEnumValue values[] = {
    {ETP_THRESHOLD_MAX_F1, "Per class, the threshold with the best F1 on "
          "the validation records", "f1"},
    {ETP_THRESHOLD_YOUDEN, "Per class, max TPR - FPR (Youden's J) on the "
          "validation records", "youden"},
    {0, NULL, NULL}
  };
  if (g_once_init_enter (&t)) {
    GType tmp = g_type_from_name ("EtpLinearProbeThresholdMethod");
    if (!tmp)
      tmp = g_enum_register_static ("EtpLinearProbeThresholdMethod", values);
    g_once_init_leave (&t, tmp);
  }
  return t;
}

static void
collect_init (Collect * c)
{
  c->x = g_array_new (FALSE, FALSE, sizeof (gfloat));
  c->record = g_ptr_array_new_with_free_func (g_free);
  c->codes = g_ptr_array_new_with_free_func ((GDestroyNotify) g_strfreev);
  c->label_set = NULL;
  c->dim = 0;
  c->eos = FALSE;
  c->any_meta_missing = FALSE;
}

static void
collect_clear (Collect * c)
{
  g_array_unref (c->x);
  g_ptr_array_unref (c->record);
  g_ptr_array_unref (c->codes);
  g_strfreev (c->label_set);
  c->label_set = NULL;
}

static void
reset (EtpLinearProbe * self)
{
  g_mutex_lock (&self->lock);
  collect_clear (&self->train);
  collect_clear (&self->test);
  collect_init (&self->train);
  collect_init (&self->test);
  self->done = FALSE;
  g_mutex_unlock (&self->lock);
}

static Collect *
pad_collect (EtpLinearProbe * self, GstPad * pad)
{
  return pad == self->train_pad ? &self->train : &self->test;
}

static GstFlowReturn
etp_linear_probe_chain (GstPad * pad, GstObject * parent, GstBuffer * buf)
{
  EtpLinearProbe *self = ETP_LINEAR_PROBE (parent);
  Collect *c = pad_collect (self, pad);
  EtpEcgMeta *meta = etp_buffer_get_ecg_meta (buf);
  GstMapInfo map;
  gchar *rec;

  if (c->dim == 0) {
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION, (NULL),
        ("%s pad: buffer before caps (need other/tensors with dimensions=D:1:1:1)",
            GST_PAD_NAME (pad)));
    gst_buffer_unref (buf);
    return GST_FLOW_NOT_NEGOTIATED;
  }
  if (!gst_buffer_map (buf, &map, GST_MAP_READ)) {
    gst_buffer_unref (buf);
    return GST_FLOW_ERROR;
  }
  if (map.size != (gsize) c->dim * sizeof (gfloat)) {
    GST_ELEMENT_ERROR (self, STREAM, FORMAT, (NULL),
        ("%s pad: buffer of %" G_GSIZE_FORMAT " bytes, caps say %u float32 "
            "values (%u bytes)", GST_PAD_NAME (pad), map.size, c->dim,
            c->dim * 4));
    gst_buffer_unmap (buf, &map);
    gst_buffer_unref (buf);
    return GST_FLOW_ERROR;
  }
  {
    const gfloat *v = (const gfloat *) map.data;
    guint j;
    for (j = 0; j < c->dim; j++) {
      if (!isfinite (v[j])) {
        GST_ELEMENT_ERROR (self, STREAM, FORMAT, (NULL),
            ("%s pad: feature %u of record %s is not finite", GST_PAD_NAME (pad),
                j, meta && meta->record_id ? meta->record_id : "(unnamed)"));
        gst_buffer_unmap (buf, &map);
        gst_buffer_unref (buf);
        return GST_FLOW_ERROR;
      }
    }
  }
  g_mutex_lock (&self->lock);
  g_array_append_vals (c->x, map.data, c->dim);
  if (meta && meta->record_id)
    rec = g_strdup (meta->record_id);
  else
    rec = g_strdup_printf ("#%u", c->record->len);
  g_ptr_array_add (c->record, rec);
  if (meta && (meta->label_codes || meta->label_set)) {
    g_ptr_array_add (c->codes, meta->label_codes ?
        g_strdupv (meta->label_codes) : g_new0 (gchar *, 1));
    if (c->label_set == NULL && meta->label_set)
      c->label_set = g_strdupv (meta->label_set);
  } else {
    g_ptr_array_add (c->codes, NULL);
    c->any_meta_missing = TRUE;
  }
  g_mutex_unlock (&self->lock);
  gst_buffer_unmap (buf, &map);
  gst_buffer_unref (buf);
  return GST_FLOW_OK;
}

/* Record groups: index of each sample's record among the distinct records
 * (first-seen order). Returns the number of records. */
static guint
group_records (GPtrArray * record, guint ** groups_out, GPtrArray ** names_out)
{
  GHashTable *h = g_hash_table_new (g_str_hash, g_str_equal);
  guint *g = g_new (guint, MAX (record->len, 1)), i, n = 0;
  GPtrArray *names = g_ptr_array_new ();

  for (i = 0; i < record->len; i++) {
    const gchar *r = g_ptr_array_index (record, i);
    gpointer v;
    if (g_hash_table_lookup_extended (h, r, NULL, &v)) {
      g[i] = GPOINTER_TO_UINT (v);
    } else {
      g[i] = n;
      g_hash_table_insert (h, (gpointer) r, GUINT_TO_POINTER (n));
      g_ptr_array_add (names, (gpointer) r);
      n++;
    }
  }
  g_hash_table_unref (h);
  *groups_out = g;
  if (names_out)
    *names_out = names;
  else
    g_ptr_array_unref (names);
  return n;
}

static gfloat *
label_matrix (GPtrArray * codes, gchar ** classes, guint C)
{
  gfloat *y = g_new0 (gfloat, (gsize) MAX (codes->len, 1) * C);
  guint i, c;

  for (i = 0; i < codes->len; i++) {
    gchar **cs = g_ptr_array_index (codes, i);
    for (c = 0; cs && c < C; c++)
      y[(gsize) i * C + c] = g_strv_contains ((const gchar * const *) cs,
          classes[c]) ? 1.0f : 0.0f;
  }
  return y;
}

/* Record-level mean of per-window rows (n x C) by group; @truth from the
 * first window of each record. */
static void
record_means (const gfloat * win, const gfloat * y, const guint * groups,
    gsize n, guint n_rec, guint C, gfloat * out, gfloat * truth)
{
  gdouble *acc = g_new0 (gdouble, (gsize) n_rec * C);
  guint *cnt = g_new0 (guint, n_rec), c;
  gsize i;

  for (i = n; i-- > 0;) {
    guint g = groups[i];
    for (c = 0; c < C; c++)
      acc[(gsize) g * C + c] += win[i * C + c];
    cnt[g]++;
    if (truth)
      memcpy (truth + (gsize) g * C, y + i * C, C * sizeof (gfloat));
  }
  for (i = 0; i < (gsize) n_rec * C; i++)
    out[i] = (gfloat) (acc[i] / MAX (cnt[i / C], 1));
  g_free (acc);
  g_free (cnt);
}

static void
post_results (EtpLinearProbe * self, const EtpClassReport * r, gboolean multi,
    gsize n_train, gsize n_test_records, const gchar * threshold_rule)
{
  GValue classes = G_VALUE_INIT, auc = G_VALUE_INIT, f1 = G_VALUE_INIT,
      acc = G_VALUE_INIT;
  GstStructure *s;
  guint c;

  gst_value_array_init (&classes, r->n_classes);
  gst_value_array_init (&auc, r->n_classes);
  gst_value_array_init (&f1, r->n_classes);
  gst_value_array_init (&acc, r->n_classes);
  for (c = 0; c < r->n_classes; c++) {
    GValue v = G_VALUE_INIT;
    g_value_init (&v, G_TYPE_STRING);
    g_value_set_string (&v, r->class_names[c]);
    gst_value_array_append_and_take_value (&classes, &v);
    g_value_init (&v, G_TYPE_DOUBLE);
    g_value_set_double (&v, r->auc[c]);
    gst_value_array_append_and_take_value (&auc, &v);
    g_value_init (&v, G_TYPE_DOUBLE);
    g_value_set_double (&v, r->f1[c]);
    gst_value_array_append_and_take_value (&f1, &v);
    g_value_init (&v, G_TYPE_DOUBLE);
    g_value_set_double (&v, r->accuracy[c]);
    gst_value_array_append_and_take_value (&acc, &v);
  }
  s = gst_structure_new ("etp-linearprobe",
      "task", G_TYPE_STRING, multi ? "multi-label" : "single-label",
      "n-train", G_TYPE_UINT64, (guint64) n_train,
      "n-test-records", G_TYPE_UINT64, (guint64) n_test_records,
      "macro-auc", G_TYPE_DOUBLE, r->macro_auc,
      "macro-f1", G_TYPE_DOUBLE, r->macro_f1,
      "macro-accuracy", G_TYPE_DOUBLE, r->macro_accuracy,
      "top1-accuracy", G_TYPE_DOUBLE, r->top1_accuracy,
      "threshold-rule", G_TYPE_STRING, threshold_rule,
      "report", G_TYPE_STRING, self->report, NULL);
  gst_structure_take_value (s, "classes", &classes);
  gst_structure_take_value (s, "auc", &auc);
  gst_structure_take_value (s, "f1", &f1);
  gst_structure_take_value (s, "accuracy", &acc);
  gst_element_post_message (GST_ELEMENT (self),
      gst_message_new_element (GST_OBJECT (self), s));
}

static gboolean
write_report (EtpLinearProbe * self, const EtpClassReport * r,
    const EtpLogReg * m, gboolean multi, gsize n_train_all, gsize n_train,
    guint n_train_rec, gsize n_test, guint n_test_rec,
    const gchar * threshold_rule)
{
  JsonBuilder *b = json_builder_new ();
  JsonGenerator *gen = json_generator_new ();
  JsonNode *root;
  GError *err = NULL;
  gboolean ok;
  guint c;

  json_builder_begin_object (b);
  json_builder_set_member_name (b, "element");
  json_builder_add_string_value (b, "linearprobe");
  json_builder_set_member_name (b, "task");
  json_builder_add_string_value (b, multi ? "multi-label" : "single-label");
  json_builder_set_member_name (b, "classes");
  json_builder_begin_array (b);
  for (c = 0; c < r->n_classes; c++)
    json_builder_add_string_value (b, r->class_names[c]);
  json_builder_end_array (b);
  json_builder_set_member_name (b, "label_fraction");
  json_builder_add_double_value (b, self->label_fraction);
  json_builder_set_member_name (b, "n_train_windows_received");
  json_builder_add_int_value (b, (gint64) n_train_all);
  json_builder_set_member_name (b, "n_train_windows_used");
  json_builder_add_int_value (b, (gint64) n_train);
  json_builder_set_member_name (b, "n_train_records_used");
  json_builder_add_int_value (b, n_train_rec);
  json_builder_set_member_name (b, "n_fit_windows");
  json_builder_add_int_value (b, (gint64) m->n_fit);
  json_builder_set_member_name (b, "n_val_windows");
  json_builder_add_int_value (b, (gint64) m->n_val);
  json_builder_set_member_name (b, "n_test_windows");
  json_builder_add_int_value (b, (gint64) n_test);
  json_builder_set_member_name (b, "n_test_records");
  json_builder_add_int_value (b, n_test_rec);
  json_builder_set_member_name (b, "epochs_run");
  json_builder_add_int_value (b, m->epochs_run);
  json_builder_set_member_name (b, "best_epoch");
  json_builder_add_int_value (b, m->best_epoch);
  json_builder_set_member_name (b, "train_loss");
  json_builder_add_double_value (b, m->train_loss);
  json_builder_set_member_name (b, "val_loss");
  if (isfinite (m->val_loss))
    json_builder_add_double_value (b, m->val_loss);
  else
    json_builder_add_null_value (b);
  json_builder_set_member_name (b, "val_macro_auc");
  if (isfinite (m->val_macro_auc))
    json_builder_add_double_value (b, m->val_macro_auc);
  else
    json_builder_add_null_value (b);
  json_builder_set_member_name (b, "threshold_rule");
  json_builder_add_string_value (b, threshold_rule);
  json_builder_set_member_name (b, "record_score");
  json_builder_add_string_value (b, "mean over the record's windows of the "
      "log-probability; thresholds are reported as probabilities");
  json_builder_set_member_name (b, "params");
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "epochs");
  json_builder_add_int_value (b, self->epochs);
  json_builder_set_member_name (b, "lr");
  json_builder_add_double_value (b, self->lr);
  json_builder_set_member_name (b, "weight_decay");
  json_builder_add_double_value (b, self->weight_decay);
  json_builder_set_member_name (b, "batch_size");
  json_builder_add_int_value (b, self->batch_size);
  json_builder_set_member_name (b, "val_fraction");
  json_builder_add_double_value (b, self->val_fraction);
  json_builder_set_member_name (b, "patience");
  json_builder_add_int_value (b, self->patience);
  json_builder_set_member_name (b, "seed");
  json_builder_add_int_value (b, (gint64) self->seed);
  json_builder_end_object (b);
  etp_class_report_add_json (r, b);
  json_builder_end_object (b);
  root = json_builder_get_root (b);
  json_generator_set_root (gen, root);
  json_generator_set_pretty (gen, TRUE);
  ok = json_generator_to_file (gen, self->report, &err);
  if (!ok) {
    GST_ELEMENT_ERROR (self, RESOURCE, OPEN_WRITE, (NULL),
        ("cannot write report %s: %s", self->report, err->message));
    g_clear_error (&err);
  }
  json_node_unref (root);
  g_object_unref (gen);
  g_object_unref (b);
  return ok;
}

/* Runs with the lock held, once both pads are at EOS. */
static gboolean
evaluate (EtpLinearProbe * self)
{
  Collect *tr = &self->train, *te = &self->test;
  gchar **classes = NULL;
  guint C, n_tr_rec_all, n_tr_rec, n_te_rec, *tr_groups = NULL, *te_groups = NULL;
  gsize n_all = tr->record->len, n_tr, n_te = te->record->len, i, k;
  gsize *rec_keep, n_keep;
  gboolean *keep_rec, multi;
  gfloat *y_all = NULL, *x_tr = NULL, *y_tr = NULL, *y_te = NULL, *lp = NULL,
      *rec_score = NULL, *rec_truth = NULL;
  guint *groups_tr = NULL;
  EtpLogRegParams p;
  EtpLogReg *m = NULL;
  EtpClassReport *r = NULL;
  GError *err = NULL;
  gdouble thr[256];
  const gchar *rule;
  gchar *rule_buf = NULL;
  gboolean ok = FALSE;
  guint c, n_default = 0;

  if (n_all == 0 || n_te == 0) {
    GST_ELEMENT_ERROR (self, STREAM, FAILED, (NULL),
        ("linear probe needs samples on both pads (train %" G_GSIZE_FORMAT
            ", test %" G_GSIZE_FORMAT ")", n_all, n_te));
    return FALSE;
  }
  if (tr->dim != te->dim) {
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION, (NULL),
        ("train features have %u values, test features %u", tr->dim, te->dim));
    return FALSE;
  }
  if (tr->any_meta_missing || te->any_meta_missing) {
    GST_ELEMENT_ERROR (self, STREAM, FORMAT, (NULL),
        ("linear probe needs labels: some %s buffers carry no EtpEcgMeta "
            "label_codes/label_set (select a label set on ecgsrc)",
            tr->any_meta_missing ? "train" : "test"));
    return FALSE;
  }
  if (self->classes && *self->classes) {
    gchar **parts = g_strsplit (self->classes, ",", -1);
    GPtrArray *a = g_ptr_array_new ();
    for (i = 0; parts[i]; i++) {
      gchar *s = g_strstrip (g_strdup (parts[i]));
      if (*s)
        g_ptr_array_add (a, s);
      else
        g_free (s);
    }
    g_strfreev (parts);
    g_ptr_array_add (a, NULL);
    classes = (gchar **) g_ptr_array_free (a, FALSE);
  } else if (tr->label_set) {
    classes = g_strdupv (tr->label_set);
  }
  C = classes ? g_strv_length (classes) : 0;
  if (C == 0 || C > G_N_ELEMENTS (thr)) {
    GST_ELEMENT_ERROR (self, STREAM, FORMAT, (NULL),
        ("no class list: the train meta has no label_set and the 'classes' "
            "property is empty (or more than %u classes)",
            (guint) G_N_ELEMENTS (thr)));
    g_strfreev (classes);
    return FALSE;
  }

  /* label fraction: a seeded subset of the train records */
  n_tr_rec_all = group_records (tr->record, &tr_groups, NULL);
  rec_keep = g_new (gsize, n_tr_rec_all);
  n_keep = etp_subset_indices (n_tr_rec_all, self->label_fraction, self->seed,
      rec_keep);
  keep_rec = g_new0 (gboolean, n_tr_rec_all);
  for (k = 0; k < n_keep; k++)
    keep_rec[rec_keep[k]] = TRUE;
  g_free (rec_keep);
  y_all = label_matrix (tr->codes, classes, C);
  x_tr = g_new (gfloat, n_all * tr->dim);
  y_tr = g_new (gfloat, n_all * C);
  groups_tr = g_new (guint, n_all);
  for (i = 0, n_tr = 0; i < n_all; i++) {
    if (!keep_rec[tr_groups[i]])
      continue;
    memcpy (x_tr + n_tr * tr->dim, &g_array_index (tr->x, gfloat, i * tr->dim),
        tr->dim * sizeof (gfloat));
    memcpy (y_tr + n_tr * C, y_all + i * C, C * sizeof (gfloat));
    groups_tr[n_tr] = tr_groups[i];
    n_tr++;
  }
  n_tr_rec = (guint) n_keep;

  if (self->multi_label == ETP_MULTI_LABEL_AUTO)
    multi = !(C >= 2 && etp_labels_are_single (y_tr, n_tr, C));
  else
    multi = self->multi_label == ETP_MULTI_LABEL_TRUE;
  if (!multi && !etp_labels_are_single (y_tr, n_tr, C)) {
    GST_ELEMENT_ERROR (self, STREAM, FORMAT, (NULL),
        ("multi-label=false but some train records have no or several of the "
            "%u classes", C));
    goto out;
  }

  etp_logreg_params_init (&p);
  p.epochs = self->epochs;
  p.lr = self->lr;
  p.weight_decay = self->weight_decay;
  p.batch_size = self->batch_size;
  p.val_fraction = self->val_fraction;
  p.patience = self->patience;
  p.seed = self->seed;
  p.multi_label = multi;
  p.groups = groups_tr;
  m = etp_logreg_fit (x_tr, y_tr, n_tr, tr->dim, C, &p, &err);
  if (m == NULL) {
    GST_ELEMENT_ERROR (self, STREAM, FAILED, (NULL),
        ("fitting the linear probe failed: %s", err->message));
    g_clear_error (&err);
    goto out;
  }

  /* thresholds from the validation records only */
  if (m->n_val > 0) {
    gfloat *xv = g_new (gfloat, m->n_val * tr->dim), *yv = g_new (gfloat, m->n_val * C);
    gfloat *lv = g_new (gfloat, m->n_val * C), *vs, *vt;
    guint *gv = g_new (guint, m->n_val), nv_rec = 0;
    GHashTable *h = g_hash_table_new (g_direct_hash, g_direct_equal);

    for (k = 0; k < m->n_val; k++) {
      gsize idx = m->val_index[k];
      gpointer v;
      memcpy (xv + k * tr->dim, x_tr + idx * tr->dim, tr->dim * sizeof (gfloat));
      memcpy (yv + k * C, y_tr + idx * C, C * sizeof (gfloat));
      if (!g_hash_table_lookup_extended (h, GUINT_TO_POINTER (groups_tr[idx] + 1),
              NULL, &v)) {
        v = GUINT_TO_POINTER (nv_rec++);
        g_hash_table_insert (h, GUINT_TO_POINTER (groups_tr[idx] + 1), v);
      }
      gv[k] = GPOINTER_TO_UINT (v);
    }
    g_hash_table_unref (h);
    etp_logreg_predict_log (m, xv, m->n_val, lv);
    vs = g_new (gfloat, (gsize) nv_rec * C);
    vt = g_new (gfloat, (gsize) nv_rec * C);
    record_means (lv, yv, gv, m->n_val, nv_rec, C, vs, vt);
    etp_metrics_fit_thresholds (vs, vt, nv_rec, C, self->threshold_method, thr);
    /* a class without positives or negatives among the validation records
     * has nothing to fit: probability 0.5 (scores are log-probabilities) */
    for (c = 0; c < C; c++) {
      guint pos = 0;
      for (k = 0; k < nv_rec; k++)
        pos += vt[k * C + c] > 0.5f;
      if (pos == 0 || pos == nv_rec) {
        thr[c] = log (0.5);
        n_default++;
      }
    }
    rule_buf = g_strdup_printf ("per-class %s threshold fitted on the %u "
        "validation records held out from the training data%s",
        self->threshold_method == ETP_THRESHOLD_YOUDEN ? "Youden (max TPR-FPR)" :
        "max-F1", nv_rec, n_default ? " (classes without positives or "
        "negatives there: probability 0.5)" : "");
    rule = rule_buf;
    g_free (xv);
    g_free (yv);
    g_free (lv);
    g_free (gv);
    g_free (vs);
    g_free (vt);
  } else {
    for (c = 0; c < C; c++)
      thr[c] = log (0.5);
    rule = "fixed probability 0.5 (val-fraction=0: no validation records to "
        "fit thresholds on)";
  }

  /* score the test records */
  n_te_rec = group_records (te->record, &te_groups, NULL);
  y_te = label_matrix (te->codes, classes, C);
  lp = g_new (gfloat, n_te * C);
  etp_logreg_predict_log (m, (const gfloat *) te->x->data, n_te, lp);
  rec_score = g_new (gfloat, (gsize) n_te_rec * C);
  rec_truth = g_new (gfloat, (gsize) n_te_rec * C);
  record_means (lp, y_te, te_groups, n_te, n_te_rec, C, rec_score, rec_truth);
  r = etp_class_report_compute (rec_score, rec_truth, n_te_rec, C, thr,
      (const gchar * const *) classes);
  for (c = 0; c < C; c++)
    r->threshold[c] = exp (r->threshold[c]);

  GST_INFO_OBJECT (self, "fitted on %" G_GSIZE_FORMAT " windows (%u val), "
      "%u epochs (best %u); test macro AUC %.4f", m->n_fit, (guint) m->n_val,
      m->epochs_run, m->best_epoch, r->macro_auc);
  if (!self->silent) {
    gchar *title = g_strdup_printf ("linearprobe: %s logistic regression, "
        "label fraction %g (%u train records), %u test records",
        multi ? "multi-label" : "single-label (softmax)", self->label_fraction,
        n_tr_rec, n_te_rec);
    gchar *table = etp_class_report_format_table (r, title);
    g_print ("%sthresholds: %s\n", table, rule);
    if (!multi)
      g_print ("top-1 accuracy: %.1f\n", 100.0 * r->top1_accuracy);
    g_free (table);
    g_free (title);
  }
  ok = TRUE;
  if (self->report && *self->report)
    ok = write_report (self, r, m, multi, n_all, n_tr, n_tr_rec, n_te, n_te_rec,
        rule);
  post_results (self, r, multi, n_tr, n_te_rec, rule);

out:
  etp_class_report_free (r);
  etp_logreg_free (m);
  g_strfreev (classes);
  g_free (tr_groups);
  g_free (te_groups);
  g_free (keep_rec);
  g_free (y_all);
  g_free (x_tr);
  g_free (y_tr);
  g_free (y_te);
  g_free (groups_tr);
  g_free (lp);
  g_free (rec_score);
  g_free (rec_truth);
  g_free (rule_buf);
  return ok;
}

static gboolean
etp_linear_probe_sink_event (GstPad * pad, GstObject * parent, GstEvent * event)
{
  EtpLinearProbe *self = ETP_LINEAR_PROBE (parent);
  Collect *c = pad_collect (self, pad);

  switch (GST_EVENT_TYPE (event)) {
    case GST_EVENT_CAPS:{
      GstCaps *caps;
      guint dim;
      gst_event_parse_caps (event, &caps);
      dim = etp_tensor_caps_get_dim (caps);
      gst_event_unref (event);
      if (dim == 0) {
        GST_ELEMENT_ERROR (self, CORE, NEGOTIATION, (NULL),
            ("%s pad: caps are not a single float32 vector: %" GST_PTR_FORMAT,
                GST_PAD_NAME (pad), caps));
        return FALSE;
      }
      g_mutex_lock (&self->lock);
      c->dim = dim;
      g_mutex_unlock (&self->lock);
      return TRUE;
    }
    case GST_EVENT_EOS:{
      gboolean run, ok = TRUE;
      gst_event_unref (event);
      g_mutex_lock (&self->lock);
      c->eos = TRUE;
      run = self->train.eos && self->test.eos && !self->done;
      if (run) {
        self->done = TRUE;
        ok = evaluate (self);
      }
      g_mutex_unlock (&self->lock);
      if (run && ok)
        gst_element_post_message (GST_ELEMENT (self),
            gst_message_new_eos (GST_OBJECT (self)));
      return TRUE;
    }
    case GST_EVENT_FLUSH_STOP:
      g_mutex_lock (&self->lock);
      c->eos = FALSE;
      g_mutex_unlock (&self->lock);
      gst_event_unref (event);
      return TRUE;
    default:
      /* no src pad: stream-start, segment, tags... stop here */
      gst_event_unref (event);
      return TRUE;
  }
}

static gboolean
etp_linear_probe_sink_query (GstPad * pad, GstObject * parent, GstQuery * query)
{
  if (GST_QUERY_TYPE (query) == GST_QUERY_ALLOCATION)
    return TRUE;
  return gst_pad_query_default (pad, parent, query);
}

static GstStateChangeReturn
etp_linear_probe_change_state (GstElement * element, GstStateChange transition)
{
  EtpLinearProbe *self = ETP_LINEAR_PROBE (element);
  GstStateChangeReturn ret;

  if (transition == GST_STATE_CHANGE_READY_TO_PAUSED)
    reset (self);
  ret = GST_ELEMENT_CLASS (etp_linear_probe_parent_class)->change_state (element,
      transition);
  if (transition == GST_STATE_CHANGE_PAUSED_TO_READY)
    reset (self);
  return ret;
}

static void
etp_linear_probe_set_property (GObject * object, guint prop_id,
    const GValue * value, GParamSpec * pspec)
{
  EtpLinearProbe *self = ETP_LINEAR_PROBE (object);

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_LABEL_FRACTION:
      self->label_fraction = g_value_get_double (value);
      break;
    case PROP_EPOCHS:
      self->epochs = g_value_get_uint (value);
      break;
    case PROP_LR:
      self->lr = g_value_get_double (value);
      break;
    case PROP_WEIGHT_DECAY:
      self->weight_decay = g_value_get_double (value);
      break;
    case PROP_BATCH_SIZE:
      self->batch_size = g_value_get_uint (value);
      break;
    case PROP_VAL_FRACTION:
      self->val_fraction = g_value_get_double (value);
      break;
    case PROP_PATIENCE:
      self->patience = g_value_get_uint (value);
      break;
    case PROP_SEED:
      self->seed = g_value_get_uint64 (value);
      break;
    case PROP_MULTI_LABEL:
      self->multi_label = g_value_get_enum (value);
      break;
    case PROP_THRESHOLD_METHOD:
      self->threshold_method = g_value_get_enum (value);
      break;
    case PROP_CLASSES:
      g_free (self->classes);
      self->classes = g_value_dup_string (value);
      break;
    case PROP_REPORT:
      g_free (self->report);
      self->report = g_value_dup_string (value);
      break;
    case PROP_SILENT:
      self->silent = g_value_get_boolean (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static void
etp_linear_probe_get_property (GObject * object, guint prop_id, GValue * value,
    GParamSpec * pspec)
{
  EtpLinearProbe *self = ETP_LINEAR_PROBE (object);

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_LABEL_FRACTION:
      g_value_set_double (value, self->label_fraction);
      break;
    case PROP_EPOCHS:
      g_value_set_uint (value, self->epochs);
      break;
    case PROP_LR:
      g_value_set_double (value, self->lr);
      break;
    case PROP_WEIGHT_DECAY:
      g_value_set_double (value, self->weight_decay);
      break;
    case PROP_BATCH_SIZE:
      g_value_set_uint (value, self->batch_size);
      break;
    case PROP_VAL_FRACTION:
      g_value_set_double (value, self->val_fraction);
      break;
    case PROP_PATIENCE:
      g_value_set_uint (value, self->patience);
      break;
    case PROP_SEED:
      g_value_set_uint64 (value, self->seed);
      break;
    case PROP_MULTI_LABEL:
      g_value_set_enum (value, self->multi_label);
      break;
    case PROP_THRESHOLD_METHOD:
      g_value_set_enum (value, self->threshold_method);
      break;
    case PROP_CLASSES:
      g_value_set_string (value, self->classes);
      break;
    case PROP_REPORT:
      g_value_set_string (value, self->report);
      break;
    case PROP_SILENT:
      g_value_set_boolean (value, self->silent);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static void
etp_linear_probe_finalize (GObject * object)
{
  EtpLinearProbe *self = ETP_LINEAR_PROBE (object);

  collect_clear (&self->train);
  collect_clear (&self->test);
  g_mutex_clear (&self->lock);
  g_free (self->classes);
  g_free (self->report);
  G_OBJECT_CLASS (etp_linear_probe_parent_class)->finalize (object);
}

static void
etp_linear_probe_class_init (EtpLinearProbeClass * klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GParamFlags rw = G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
      GST_PARAM_MUTABLE_READY;

  GST_DEBUG_CATEGORY_INIT (etp_linear_probe_debug, "linearprobe", 0,
      "linear evaluation of frozen features");
  gobject_class->set_property = etp_linear_probe_set_property;
  gobject_class->get_property = etp_linear_probe_get_property;
  gobject_class->finalize = etp_linear_probe_finalize;
  element_class->change_state = etp_linear_probe_change_state;

  g_object_class_install_property (gobject_class, PROP_LABEL_FRACTION,
      g_param_spec_double ("label-fraction", "Label fraction",
          "Fraction of the train records used for fitting (seeded random "
          "subset of records, e.g. 0.01, 0.1, 1)", 1e-6, 1.0, 1.0, rw));
  g_object_class_install_property (gobject_class, PROP_EPOCHS,
      g_param_spec_uint ("epochs", "Epochs",
          "Maximum number of passes over the train features", 1, 100000, 100, rw));
  g_object_class_install_property (gobject_class, PROP_LR,
      g_param_spec_double ("lr", "Learning rate", "Adam learning rate",
          1e-9, 10.0, 1e-3, rw));
  g_object_class_install_property (gobject_class, PROP_WEIGHT_DECAY,
      g_param_spec_double ("weight-decay", "Weight decay",
          "L2 penalty on the weights (Adam weight_decay); the objective is "
          "mean loss + wd/2 |W|^2", 0.0, 100.0, 1e-4, rw));
  g_object_class_install_property (gobject_class, PROP_BATCH_SIZE,
      g_param_spec_uint ("batch-size", "Batch size",
          "Mini-batch size (0 = full batch)", 0, 1 << 20, 128, rw));
  g_object_class_install_property (gobject_class, PROP_VAL_FRACTION,
      g_param_spec_double ("val-fraction", "Validation fraction",
          "Fraction of the (kept) train records held out for early stopping "
          "and threshold fitting; 0 = none (fixed 0.5 thresholds)", 0.0, 0.9,
          0.1, rw));
  g_object_class_install_property (gobject_class, PROP_PATIENCE,
      g_param_spec_uint ("patience", "Patience",
          "Stop after this many epochs without a lower validation loss "
          "(0 = run all epochs; the best epoch is kept either way)", 0, 100000,
          10, rw));
  g_object_class_install_property (gobject_class, PROP_SEED,
      g_param_spec_uint64 ("seed", "Seed",
          "Seed of the label-fraction subset, the validation split and the "
          "mini-batch order", 0, G_MAXUINT64, 0, rw));
  g_object_class_install_property (gobject_class, PROP_MULTI_LABEL,
      g_param_spec_enum ("multi-label", "Multi-label",
          "Sigmoid/BCE per class (true), softmax (false), or decided from the "
          "train labels (auto)", ETP_TYPE_LINEAR_PROBE_MULTI_LABEL,
          ETP_MULTI_LABEL_AUTO, rw));
  g_object_class_install_property (gobject_class, PROP_THRESHOLD_METHOD,
      g_param_spec_enum ("threshold-method", "Threshold method",
          "How the per-class decision thresholds for F1/accuracy are fitted "
          "on the validation records", ETP_TYPE_LINEAR_PROBE_THRESHOLD,
          ETP_THRESHOLD_MAX_F1, rw));
  g_object_class_install_property (gobject_class, PROP_CLASSES,
      g_param_spec_string ("classes", "Classes",
          "Comma-separated class names (default: the label_set of the train "
          "meta)", NULL, rw));
  g_object_class_install_property (gobject_class, PROP_REPORT,
      g_param_spec_string ("report", "Report",
          "Write the results as JSON to this file at the end", NULL, rw));
  g_object_class_install_property (gobject_class, PROP_SILENT,
      g_param_spec_boolean ("silent", "Silent",
          "Do not print the results table on stdout", FALSE, rw));

  gst_element_class_add_static_pad_template (element_class, &train_template);
  gst_element_class_add_static_pad_template (element_class, &test_template);
  gst_element_class_set_static_metadata (element_class,
      "Linear probe", "Sink/Analyzer",
      "Fits a logistic-regression head on the features of the train pad and "
      "reports AUC, F1 and accuracy on the test pad's records",
      "gst-etp");
  gst_type_mark_as_plugin_api (ETP_TYPE_LINEAR_PROBE_MULTI_LABEL, 0);
  gst_type_mark_as_plugin_api (ETP_TYPE_LINEAR_PROBE_THRESHOLD, 0);
}

static void
etp_linear_probe_init (EtpLinearProbe * self)
{
  g_mutex_init (&self->lock);
  collect_init (&self->train);
  collect_init (&self->test);
  self->label_fraction = 1.0;
  self->epochs = 100;
  self->lr = 1e-3;
  self->weight_decay = 1e-4;
  self->batch_size = 128;
  self->val_fraction = 0.1;
  self->patience = 10;
  self->seed = 0;
  self->multi_label = ETP_MULTI_LABEL_AUTO;
  self->threshold_method = ETP_THRESHOLD_MAX_F1;

  self->train_pad = gst_pad_new_from_static_template (&train_template, "train");
  self->test_pad = gst_pad_new_from_static_template (&test_template, "test");
  gst_pad_set_chain_function (self->train_pad, etp_linear_probe_chain);
  gst_pad_set_chain_function (self->test_pad, etp_linear_probe_chain);
  gst_pad_set_event_function (self->train_pad, etp_linear_probe_sink_event);
  gst_pad_set_event_function (self->test_pad, etp_linear_probe_sink_event);
  gst_pad_set_query_function (self->train_pad, etp_linear_probe_sink_query);
  gst_pad_set_query_function (self->test_pad, etp_linear_probe_sink_query);
  gst_element_add_pad (GST_ELEMENT (self), self->train_pad);
  gst_element_add_pad (GST_ELEMENT (self), self->test_pad);
  GST_OBJECT_FLAG_SET (self, GST_ELEMENT_FLAG_SINK);
}
