/* Dataset discovery and selection (see dataset.h and docs/elements/ecgsrc.md). */
#include "io/dataset.h"
#include "io/cpsc2018.h"
#include "io/csv.h"
#include "io/edf.h"
#include "io/wfdb.h"
#include "util/etperror.h"

#include <glib/gstdio.h>
#include <errno.h>
#include <math.h>
#include <string.h>

typedef enum {
  READER_WFDB,
  READER_CPSC_MAT,
  READER_EDF,
} ReaderKind;

struct _EtpDatasetEntry {
  gchar *path;
  ReaderKind reader;
  gchar *record_id;             /* NULL: the reader's */
  gchar *patient_id;
  gint fold;
  gchar *report;
  gchar **labels;               /* NULL: the reader's codes */
  gdouble age;                  /* < 0: the reader's */
  gint sex;                     /* < 0: the reader's */
  gboolean want_12;             /* the dataset promises 12 leads */
};

static void
entry_free (gpointer p)
{
  EtpDatasetEntry *e = p;
  g_free (e->path);
  g_free (e->record_id);
  g_free (e->patient_id);
  g_free (e->report);
  g_strfreev (e->labels);
  g_free (e);
}

static EtpDatasetEntry *
entry_new (const gchar * path, ReaderKind reader)
{
  EtpDatasetEntry *e = g_new0 (EtpDatasetEntry, 1);
  e->path = g_strdup (path);
  e->reader = reader;
  e->fold = -1;
  e->age = -1;
  e->sex = -1;
  return e;
}

void
etp_dataset_options_init (EtpDatasetOptions * o)
{
  memset (o, 0, sizeof *o);
  o->format = ETP_DATASET_AUTO;
  o->rate = 500;
  o->label_set = ETP_LABEL_SET_NONE;
  o->likelihood = 0.0;
  o->skip_missing = TRUE;
}

const gchar *
etp_label_set_kind_name (EtpLabelSetKind kind)
{
  switch (kind) {
    case ETP_LABEL_SET_SUPERCLASS: return "superclass";
    case ETP_LABEL_SET_SUBCLASS: return "subclass";
    case ETP_LABEL_SET_FORM: return "form";
    case ETP_LABEL_SET_RHYTHM: return "rhythm";
    case ETP_LABEL_SET_ALL: return "all";
    default: return "none";
  }
}

void
etp_dataset_free (EtpDataset * ds)
{
  if (!ds)
    return;
  g_free (ds->location);
  g_free (ds->name);
  if (ds->entries)
    g_ptr_array_unref (ds->entries);
  g_strfreev (ds->label_set);
  g_free (ds->first_missing);
  if (ds->descriptions)
    g_hash_table_unref (ds->descriptions);
  if (ds->reports)
    g_hash_table_unref (ds->reports);
  g_free (ds->reports_file);
  g_free (ds->folds);
  g_free (ds->split_file);
  g_free (ds);
}

const gchar *
etp_dataset_entry_path (const EtpDataset * ds, guint i)
{
  return ((EtpDatasetEntry *) g_ptr_array_index (ds->entries, i))->path;
}

gboolean
etp_parse_folds (const gchar * spec, guint64 * mask, GError ** error)
{
  *mask = 0;
  if (spec == NULL || *spec == '\0') {
    *mask = G_MAXUINT64;
    return TRUE;
  }
  gchar **parts = g_strsplit (spec, ",", -1);
  gboolean ok = TRUE;
  for (gchar ** p = parts; *p && ok; p++) {
    gchar *s = g_strstrip (*p);
    gchar *dash = strchr (s, '-');
    guint64 a, b;
    gchar *end = NULL;
    if (dash) {
      *dash = '\0';
      a = g_ascii_strtoull (g_strstrip (s), &end, 10);
      ok = end && *end == '\0' && end != s;
      gchar *t = g_strstrip (dash + 1);
      b = g_ascii_strtoull (t, &end, 10);
      ok = ok && end && *end == '\0' && end != t;
    } else {
      a = b = g_ascii_strtoull (s, &end, 10);
      ok = end && *end == '\0' && end != s;
    }
    ok = ok && a >= 1 && b >= a && b <= 63;
    if (ok)
      for (guint64 f = a; f <= b; f++)
        *mask |= G_GUINT64_CONSTANT (1) << f;
  }
  g_strfreev (parts);
  if (!ok) {
    g_set_error (error, ETP_ERROR, ETP_ERROR_INVALID,
        "bad folds '%s' (expected e.g. \"1-8\", \"9\", \"1,3,5\")", spec);
    return FALSE;
  }
  return TRUE;
}

static gboolean
fold_selected (guint64 mask, gint fold)
{
  if (mask == G_MAXUINT64)
    return TRUE;
  return fold >= 1 && fold <= 63 && (mask & (G_GUINT64_CONSTANT (1) << fold));
}

GHashTable *
etp_reports_file_read (const gchar * path, GError ** error)
{
  gchar *text = NULL;
  gsize len = 0;
  GStatBuf st;
  if (g_stat (path, &st) != 0) {
    g_set_error (error, ETP_ERROR, ETP_ERROR_MISSING,
        "%s: cannot open reports file: %s", path, g_strerror (errno));
    return NULL;
  }
  if ((guint64) st.st_size > ETP_CSV_MAX_BYTES) {
    g_set_error (error, ETP_ERROR, ETP_ERROR_FORMAT,
        "%s: %lld bytes is too large for a reports file", path,
        (long long) st.st_size);
    return NULL;
  }
  if (!g_file_get_contents (path, &text, &len, error))
    return NULL;
  if (!g_utf8_validate (text, len, NULL)) {
    g_set_error (error, ETP_ERROR, ETP_ERROR_FORMAT,
        "%s: not UTF-8 text", path);
    g_free (text);
    return NULL;
  }
  GHashTable *t = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
      g_free);
  gchar **lines = g_strsplit (text, "\n", -1);
  g_free (text);
  gboolean ok = TRUE;
  for (guint i = 0; lines[i] && ok; i++) {
    gchar *l = lines[i];
    gsize n = strlen (l);
    if (n && l[n - 1] == '\r')
      l[n - 1] = '\0';
    if (l[0] == '\0' || l[0] == '#')
      continue;
    gchar *tab = strchr (l, '\t');
    if (!tab || tab == l) {
      g_set_error (error, ETP_ERROR, ETP_ERROR_FORMAT,
          "%s:%u: malformed line: expected \"record<TAB>report\"", path,
          i + 1);
      ok = FALSE;
      break;
    }
    *tab = '\0';
    g_hash_table_replace (t, g_strstrip (g_strdup (l)),
        g_strstrip (g_strdup (tab + 1)));
  }
  g_strfreev (lines);
  if (!ok) {
    g_hash_table_unref (t);
    return NULL;
  }
  return t;
}

/* ---- descriptions ---------------------------------------------------- */

static const gchar *const builtin_descriptions[][2] = {
  /* PTB-XL superclasses */
  {"NORM", "normal ECG"}, {"MI", "myocardial infarction"},
  {"STTC", "ST/T change"}, {"CD", "conduction disturbance"},
  {"HYP", "hypertrophy"},
  /* PTB-XL subclasses that are not SCP codes */
  {"ISCA", "anterior ischemia"}, {"ISCI", "inferior ischemia"},
  {"AVB", "atrioventricular block"}, {"_AVB", "atrioventricular block"},
  {"LAFB/LPFB", "left anterior or posterior fascicular block"},
  {"LAO/LAE", "left atrial overload/enlargement"},
  {"RAO/RAE", "right atrial overload/enlargement"},
  /* CPSC2018 classes */
  {"Normal", "normal ECG"}, {"AF", "atrial fibrillation"},
  {"I-AVB", "first degree AV block"}, {"LBBB", "left bundle branch block"},
  {"RBBB", "right bundle branch block"},
  {"PAC", "premature atrial contraction"},
  {"PVC", "premature ventricular contraction"},
  {"STD", "ST-segment depression"}, {"STE", "ST-segment elevation"},
  /* SCP codes used as CPSC2018 columns of the MERL split files */
  {"AFIB", "atrial fibrillation"}, {"VPC", "ventricular premature complex"},
  {"1AVB", "first degree AV block"},
  {"CRBBB", "complete right bundle branch block"},
  {"CLBBB", "complete left bundle branch block"},
  /* SNOMED CT codes of the PhysioNet/CinC 2020/2021 scored classes */
  {"164889003", "atrial fibrillation"}, {"164890007", "atrial flutter"},
  {"6374002", "bundle branch block"}, {"426627000", "bradycardia"},
  {"733534002", "complete left bundle branch block"},
  {"713427006", "complete right bundle branch block"},
  {"270492004", "first degree AV block"},
  {"713426002", "incomplete right bundle branch block"},
  {"39732003", "left axis deviation"},
  {"445118002", "left anterior fascicular block"},
  {"164909002", "left bundle branch block"},
  {"251146004", "low QRS voltages"},
  {"698252002", "nonspecific intraventricular conduction disorder"},
  {"426783006", "sinus rhythm"},
  {"284470004", "premature atrial contraction"},
  {"10370003", "pacing rhythm"}, {"365413008", "poor R wave progression"},
  {"427172004", "premature ventricular contractions"},
  {"164947007", "prolonged PR interval"},
  {"111975006", "prolonged QT interval"},
  {"164917005", "Q wave abnormal"}, {"47665007", "right axis deviation"},
  {"59118001", "right bundle branch block"},
  {"427393009", "sinus arrhythmia"}, {"426177001", "sinus bradycardia"},
  {"427084000", "sinus tachycardia"},
  {"63593006", "supraventricular premature beats"},
  {"164934002", "T wave abnormal"}, {"59931005", "T wave inversion"},
  {"17338001", "ventricular premature beats"},
  {"429622005", "ST-segment depression"},
  {"164931005", "ST-segment elevation"},
};

static void
add_builtin_descriptions (GHashTable * t)
{
  for (gsize i = 0; i < G_N_ELEMENTS (builtin_descriptions); i++)
    if (!g_hash_table_contains (t, builtin_descriptions[i][0]))
      g_hash_table_insert (t, g_strdup (builtin_descriptions[i][0]),
          g_strdup (builtin_descriptions[i][1]));
}

const gchar *
etp_dataset_describe (const EtpDataset * ds, const gchar * code)
{
  return ds->descriptions ? g_hash_table_lookup (ds->descriptions, code) :
      NULL;
}

gchar *
etp_dataset_compose_report (const EtpDataset * ds, gchar ** codes)
{
  GString *s = NULL;
  if (!codes)
    return NULL;
  for (gchar ** c = codes; *c; c++) {
    const gchar *d = etp_dataset_describe (ds, *c);
    g_autofree gchar *joined = NULL;
    if (!d && strchr (*c, '/')) {
      /* subclass names like "LAFB/LPFB": describe each part */
      gchar **parts = g_strsplit (*c, "/", -1);
      GString *j = g_string_new (NULL);
      gboolean all = TRUE;
      for (gchar ** p = parts; *p; p++) {
        const gchar *pd = etp_dataset_describe (ds, *p);
        if (!pd) {
          all = FALSE;
          break;
        }
        if (j->len)
          g_string_append (j, " or ");
        g_string_append (j, pd);
      }
      g_strfreev (parts);
      joined = g_string_free (j, !all);
      d = joined;
    }
    if (!d)
      continue;
    if (!s)
      s = g_string_new (NULL);
    else
      g_string_append (s, ", ");
    g_string_append (s, d);
  }
  if (!s)
    return NULL;
  g_string_append_c (s, '.');
  return g_string_free (s, FALSE);
}

/* ---- PTB-XL ----------------------------------------------------------- */

typedef struct {
  gchar *code;
  gboolean diagnostic, form, rhythm;
  gchar *klass, *subclass, *description;
} ScpStatement;

typedef struct {
  GHashTable *scp;              /* code -> ScpStatement* */
  GPtrArray *order;             /* ScpStatement* in file order */
} ScpTable;

static void
scp_statement_free (gpointer p)
{
  ScpStatement *s = p;
  g_free (s->code);
  g_free (s->klass);
  g_free (s->subclass);
  g_free (s->description);
  g_free (s);
}

static void
scp_table_clear (ScpTable * t)
{
  if (t->scp)
    g_hash_table_unref (t->scp);
  if (t->order)
    g_ptr_array_unref (t->order);
}

static gboolean
is_one (const gchar * v)
{
  return v && (strcmp (v, "1") == 0 || strcmp (v, "1.0") == 0);
}

static gboolean
scp_table_load (const gchar * path, ScpTable * t, GError ** error)
{
  g_autoptr (EtpCsv) csv = etp_csv_read (path, error);
  if (!csv)
    return FALSE;
  gint cd = etp_csv_column (csv, "description");
  gint cdiag = etp_csv_column (csv, "diagnostic");
  gint cform = etp_csv_column (csv, "form");
  gint crhy = etp_csv_column (csv, "rhythm");
  gint ccls = etp_csv_column (csv, "diagnostic_class");
  gint csub = etp_csv_column (csv, "diagnostic_subclass");
  if (cd < 0 || cdiag < 0 || cform < 0 || crhy < 0 || ccls < 0 || csub < 0) {
    g_set_error (error, ETP_ERROR, ETP_ERROR_FORMAT,
        "%s: missing columns (description, diagnostic, form, rhythm, "
        "diagnostic_class, diagnostic_subclass)", path);
    return FALSE;
  }
  t->scp = g_hash_table_new (g_str_hash, g_str_equal);
  t->order = g_ptr_array_new_with_free_func (scp_statement_free);
  for (guint r = 0; r < csv->n_rows; r++) {
    ScpStatement *s = g_new0 (ScpStatement, 1);
    s->code = g_strdup (csv->rows[r][0]);
    s->description = g_strdup (etp_csv_cell (csv, r, cd));
    s->diagnostic = is_one (etp_csv_cell (csv, r, cdiag));
    s->form = is_one (etp_csv_cell (csv, r, cform));
    s->rhythm = is_one (etp_csv_cell (csv, r, crhy));
    s->klass = g_strdup (etp_csv_cell (csv, r, ccls));
    s->subclass = g_strdup (etp_csv_cell (csv, r, csub));
    g_ptr_array_add (t->order, s);
    g_hash_table_insert (t->scp, s->code, s);
  }
  return TRUE;
}

static const gchar *const superclasses[] = { "NORM", "MI", "STTC", "CD", "HYP" };

static gchar **
ptbxl_label_set (ScpTable * t, EtpLabelSetKind kind)
{
  GPtrArray *arr = g_ptr_array_new ();
  GHashTable *seen = g_hash_table_new (g_str_hash, g_str_equal);
  if (kind == ETP_LABEL_SET_SUPERCLASS) {
    for (guint i = 0; i < G_N_ELEMENTS (superclasses); i++)
      g_ptr_array_add (arr, g_strdup (superclasses[i]));
  } else {
    for (guint i = 0; i < t->order->len; i++) {
      ScpStatement *s = g_ptr_array_index (t->order, i);
      const gchar *name = NULL;
      switch (kind) {
        case ETP_LABEL_SET_SUBCLASS:
          name = s->diagnostic && s->subclass[0] ? s->subclass : NULL;
          break;
        case ETP_LABEL_SET_FORM:
          name = s->form ? s->code : NULL;
          break;
        case ETP_LABEL_SET_RHYTHM:
          name = s->rhythm ? s->code : NULL;
          break;
        default:
          name = s->code;
          break;
      }
      if (name && !g_hash_table_contains (seen, name)) {
        g_hash_table_add (seen, (gpointer) name);
        g_ptr_array_add (arr, g_strdup (name));
      }
    }
  }
  g_hash_table_unref (seen);
  g_ptr_array_add (arr, NULL);
  return (gchar **) g_ptr_array_free (arr, FALSE);
}

/* Labels of one record for @kind (NONE: the raw codes). */
static gchar **
ptbxl_labels (ScpTable * t, gchar ** codes, const gdouble * lik,
    EtpLabelSetKind kind, gdouble min_lik)
{
  GPtrArray *arr = g_ptr_array_new ();
  for (guint i = 0; codes[i]; i++) {
    ScpStatement *s = t->scp ? g_hash_table_lookup (t->scp, codes[i]) : NULL;
    /* The likelihood is only meaningful for diagnostic statements. */
    if (s && s->diagnostic && lik[i] < min_lik)
      continue;
    const gchar *name = NULL;
    switch (kind) {
      case ETP_LABEL_SET_NONE:
      case ETP_LABEL_SET_ALL:
        name = codes[i];
        break;
      case ETP_LABEL_SET_SUPERCLASS:
        name = s && s->diagnostic && s->klass[0] ? s->klass : NULL;
        break;
      case ETP_LABEL_SET_SUBCLASS:
        name = s && s->diagnostic && s->subclass[0] ? s->subclass : NULL;
        break;
      case ETP_LABEL_SET_FORM:
        name = s && s->form ? codes[i] : NULL;
        break;
      case ETP_LABEL_SET_RHYTHM:
        name = s && s->rhythm ? codes[i] : NULL;
        break;
    }
    if (!name)
      continue;
    gboolean dup = FALSE;
    for (guint k = 0; k < arr->len; k++)
      if (strcmp (g_ptr_array_index (arr, k), name) == 0)
        dup = TRUE;
    if (!dup)
      g_ptr_array_add (arr, g_strdup (name));
  }
  g_ptr_array_add (arr, NULL);
  return (gchar **) g_ptr_array_free (arr, FALSE);
}

static gchar *
ptbxl_english_report (ScpTable * t, gchar ** codes)
{
  GString *s = g_string_new (NULL);
  for (guint i = 0; codes[i]; i++) {
    ScpStatement *st = g_hash_table_lookup (t->scp, codes[i]);
    if (!st || !st->description[0])
      continue;
    if (s->len)
      g_string_append (s, ", ");
    g_string_append (s, st->description);
  }
  if (s->len == 0) {
    g_string_free (s, TRUE);
    return NULL;
  }
  g_string_append_c (s, '.');
  return g_string_free (s, FALSE);
}

/* "15709.0" -> "15709" */
static gchar *
clean_id (const gchar * v)
{
  if (!v || !*v)
    return NULL;
  gsize n = strlen (v);
  if (n > 2 && g_str_has_suffix (v, ".0"))
    return g_strndup (v, n - 2);
  return g_strdup (v);
}

typedef struct {
  EtpCsv *db;
  gint c_id, c_patient, c_age, c_sex, c_report, c_scp, c_fold, c_lr, c_hr;
  GHashTable *row_of_id;        /* ecg_id string -> row + 1 */
} PtbxlDb;

static void
ptbxl_db_clear (PtbxlDb * db)
{
  if (db->db)
    etp_csv_free (db->db);
  if (db->row_of_id)
    g_hash_table_unref (db->row_of_id);
}

static gboolean
ptbxl_db_load (const gchar * dir, PtbxlDb * db, GError ** error)
{
  g_autofree gchar *path = g_build_filename (dir, "ptbxl_database.csv", NULL);
  memset (db, 0, sizeof *db);
  db->db = etp_csv_read (path, error);
  if (!db->db)
    return FALSE;
  EtpCsv *c = db->db;
  db->c_id = etp_csv_column (c, "ecg_id");
  db->c_patient = etp_csv_column (c, "patient_id");
  db->c_age = etp_csv_column (c, "age");
  db->c_sex = etp_csv_column (c, "sex");
  db->c_report = etp_csv_column (c, "report");
  db->c_scp = etp_csv_column (c, "scp_codes");
  db->c_fold = etp_csv_column (c, "strat_fold");
  db->c_lr = etp_csv_column (c, "filename_lr");
  db->c_hr = etp_csv_column (c, "filename_hr");
  if (db->c_id < 0 || db->c_scp < 0 || db->c_fold < 0 || db->c_lr < 0
      || db->c_hr < 0) {
    g_set_error (error, ETP_ERROR, ETP_ERROR_FORMAT,
        "%s: missing columns (ecg_id, scp_codes, strat_fold, filename_lr, "
        "filename_hr)", path);
    return FALSE;
  }
  db->row_of_id = g_hash_table_new (g_str_hash, g_str_equal);
  for (guint r = 0; r < c->n_rows; r++)
    g_hash_table_insert (db->row_of_id, c->rows[r][db->c_id],
        GUINT_TO_POINTER (r + 1));
  return TRUE;
}

static gboolean
parse_fold (const gchar * v, gint * fold)
{
  gchar *end = NULL;
  gdouble d = g_ascii_strtod (v, &end);
  if (end == v || *end != '\0' || d != floor (d) || d < 0 || d > 1000)
    return FALSE;
  *fold = (gint) d;
  return TRUE;
}

static void
apply_db_row (PtbxlDb * db, guint r, EtpDatasetEntry * e)
{
  EtpCsv *c = db->db;
  if (!e->patient_id)
    e->patient_id = clean_id (etp_csv_cell (c, r, db->c_patient));
  const gchar *age = etp_csv_cell (c, r, db->c_age);
  gchar *end = NULL;
  gdouble a = g_ascii_strtod (age, &end);
  /* PTB-XL gives 300 for anonymised ages above 89. */
  if (end != age && *end == '\0' && a >= 0 && a < 200)
    e->age = a;
  const gchar *sex = etp_csv_cell (c, r, db->c_sex);
  if (strcmp (sex, "0") == 0 || strcmp (sex, "0.0") == 0)
    e->sex = 0;
  else if (strcmp (sex, "1") == 0 || strcmp (sex, "1.0") == 0)
    e->sex = 1;
}

/* Adds an entry for @path unless the file is absent. */
static gboolean
check_present (EtpDataset * ds, const gchar * path, guint line,
    const gchar * table, GError ** error)
{
  if (g_file_test (path, G_FILE_TEST_IS_REGULAR))
    return TRUE;
  if (!ds->opts.skip_missing) {
    g_set_error (error, ETP_ERROR, ETP_ERROR_MISSING,
        "%s: record file is absent (listed in %s line %u)", path, table,
        line);
    return FALSE;
  }
  if (ds->n_missing++ == 0)
    ds->first_missing = g_strdup (path);
  return FALSE;
}

static gboolean
open_ptbxl (EtpDataset * ds, guint64 foldmask, GError ** error)
{
  PtbxlDb db;
  ScpTable scp = { 0 };
  gboolean ok = FALSE;
  g_autofree gchar *scp_path = g_build_filename (ds->location,
      "scp_statements.csv", NULL);
  g_autofree gchar *db_path = g_build_filename (ds->location,
      "ptbxl_database.csv", NULL);

  if (!ptbxl_db_load (ds->location, &db, error))
    goto out;
  if (!scp_table_load (scp_path, &scp, error))
    goto out;
  for (guint i = 0; i < scp.order->len; i++) {
    ScpStatement *s = g_ptr_array_index (scp.order, i);
    g_hash_table_insert (ds->descriptions, g_strdup (s->code),
        g_strdup (s->description));
  }
  add_builtin_descriptions (ds->descriptions);
  if (ds->opts.label_set != ETP_LABEL_SET_NONE)
    ds->label_set = ptbxl_label_set (&scp, ds->opts.label_set);
  if (ds->opts.rate != 100 && ds->opts.rate != 500) {
    g_set_error (error, ETP_ERROR, ETP_ERROR_INVALID,
        "PTB-XL rate must be 100 or 500, not %u", ds->opts.rate);
    goto out;
  }
  EtpCsv *c = db.db;
  gint cfile = ds->opts.rate == 100 ? db.c_lr : db.c_hr;
  for (guint r = 0; r < c->n_rows; r++) {
    gint fold;
    if (!parse_fold (c->rows[r][db.c_fold], &fold)) {
      g_set_error (error, ETP_ERROR, ETP_ERROR_FORMAT,
          "%s:%u: malformed row: strat_fold '%s' is not a number", db_path,
          c->lines[r], c->rows[r][db.c_fold]);
      goto out;
    }
    if (!fold_selected (foldmask, fold))
      continue;
    gdouble *lik = NULL;
    gchar **codes = etp_parse_py_dict (c->rows[r][db.c_scp], &lik);
    if (!codes) {
      g_set_error (error, ETP_ERROR, ETP_ERROR_FORMAT,
          "%s:%u: malformed row: scp_codes '%s' is not a {code: likelihood} "
          "dict", db_path, c->lines[r], c->rows[r][db.c_scp]);
      goto out;
    }
    gchar **labels = ptbxl_labels (&scp, codes, lik, ds->opts.label_set,
        ds->opts.likelihood);
    if (ds->opts.single_label && g_strv_length (labels) != 1) {
      ds->n_filtered++;
      g_strfreev (labels);
      g_strfreev (codes);
      g_free (lik);
      continue;
    }
    const gchar *fname = c->rows[r][cfile];
    g_autofree gchar *path = NULL;
    if (fname[0] == '\0' || g_path_is_absolute (fname)
        || strstr (fname, "..") != NULL) {
      g_set_error (error, ETP_ERROR, ETP_ERROR_FORMAT,
          "%s:%u: malformed row: bad file name '%s'", db_path, c->lines[r],
          fname);
      g_strfreev (labels);
      g_strfreev (codes);
      g_free (lik);
      goto out;
    }
    path = g_strconcat (ds->location, G_DIR_SEPARATOR_S, fname, ".hea", NULL);
    GError *err = NULL;
    if (!check_present (ds, path, c->lines[r], db_path, &err)) {
      g_strfreev (labels);
      g_strfreev (codes);
      g_free (lik);
      if (err) {
        g_propagate_error (error, err);
        goto out;
      }
      continue;
    }
    EtpDatasetEntry *e = entry_new (path, READER_WFDB);
    e->fold = fold;
    e->want_12 = TRUE;
    apply_db_row (&db, r, e);
    e->labels = labels;
    if (ds->opts.english_report)
      e->report = ptbxl_english_report (&scp, codes);
    else {
      const gchar *rep = etp_csv_cell (c, r, db.c_report);
      e->report = rep[0] ? g_strdup (rep) : NULL;
    }
    g_strfreev (codes);
    g_free (lik);
    g_ptr_array_add (ds->entries, e);
  }
  ok = TRUE;
out:
  ptbxl_db_clear (&db);
  scp_table_clear (&scp);
  return ok;
}

/* ---- folders of records ---------------------------------------------- */

static gboolean
is_mat_v5 (const gchar * path)
{
  gchar buf[10];
  FILE *f = fopen (path, "rb");
  if (!f)
    return FALSE;
  gsize n = fread (buf, 1, sizeof buf, f);
  fclose (f);
  return n == sizeof buf && memcmp (buf, "MATLAB 5.0", 10) == 0;
}

static gboolean
has_suffix_ci (const gchar * name, const gchar * suffix)
{
  gsize n = strlen (name), m = strlen (suffix);
  return n > m && g_ascii_strcasecmp (name + n - m, suffix) == 0;
}

static gint
cmp_str (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const gchar * const *) a, *(const gchar * const *) b);
}

/* Collects record files under @dir (sorted, recursive to @depth). */
static gboolean
scan_folder (const gchar * dir, guint depth, GPtrArray * out, GError ** error)
{
  GDir *d = g_dir_open (dir, 0, error);
  if (!d)
    return FALSE;
  GPtrArray *names = g_ptr_array_new_with_free_func (g_free);
  const gchar *n;
  while ((n = g_dir_read_name (d)))
    if (n[0] != '.')
      g_ptr_array_add (names, g_strdup (n));
  g_dir_close (d);
  g_ptr_array_sort (names, cmp_str);
  gboolean ok = TRUE;
  for (guint i = 0; i < names->len && ok; i++) {
    const gchar *name = g_ptr_array_index (names, i);
    g_autofree gchar *p = g_build_filename (dir, name, NULL);
    if (g_file_test (p, G_FILE_TEST_IS_DIR)) {
      if (depth > 0)
        ok = scan_folder (p, depth - 1, out, error);
      continue;
    }
    if (has_suffix_ci (name, ".hea")) {
      g_ptr_array_add (out, entry_new (p, READER_WFDB));
    } else if (has_suffix_ci (name, ".mat")) {
      /* a .mat with a .hea beside it is that header's signal file */
      g_autofree gchar *stem = g_strndup (p, strlen (p) - 4);
      g_autofree gchar *hea = g_strconcat (stem, ".hea", NULL);
      if (!g_file_test (hea, G_FILE_TEST_EXISTS) && is_mat_v5 (p))
        g_ptr_array_add (out, entry_new (p, READER_CPSC_MAT));
    } else if (has_suffix_ci (name, ".edf") || has_suffix_ci (name, ".bdf")
        || has_suffix_ci (name, ".rec")) {
      g_ptr_array_add (out, entry_new (p, READER_EDF));
    }
  }
  g_ptr_array_unref (names);
  return ok;
}

static gchar *
stem_of (const gchar * path)
{
  gchar *b = g_path_get_basename (path);
  gchar *dot = strrchr (b, '.');
  if (dot)
    *dot = '\0';
  return b;
}

/* CPSC2018 folder: REFERENCE.csv order (and class labels). */
static gboolean
open_cpsc2018 (EtpDataset * ds, const gchar * dir, GError ** error)
{
  g_autofree gchar *ref = g_build_filename (dir, "REFERENCE.csv", NULL);
  g_autoptr (EtpCsv) csv = etp_csv_read (ref, error);
  if (!csv)
    return FALSE;
  ds->label_set = g_new0 (gchar *, 10);
  for (int k = 0; k < 9; k++)
    ds->label_set[k] = g_strdup (etp_cpsc2018_classes[k]);
  for (guint r = 0; r < csv->n_rows; r++) {
    const gchar *name = csv->rows[r][0];
    if (!name[0] || strchr (name, '/') || strstr (name, "..")) {
      g_set_error (error, ETP_ERROR, ETP_ERROR_FORMAT,
          "%s:%u: malformed row: bad recording name '%s'", ref,
          csv->lines[r], name);
      return FALSE;
    }
    GPtrArray *labels = g_ptr_array_new ();
    for (guint c = 1; c < csv->n_cols; c++) {
      const gchar *v = csv->rows[r][c];
      if (!v[0])
        continue;
      gchar *end = NULL;
      gint64 code = g_ascii_strtoll (v, &end, 10);
      if (*end != '\0' || code < 1 || code > 9) {
        g_ptr_array_set_free_func (labels, g_free);
        g_ptr_array_free (labels, TRUE);
        g_set_error (error, ETP_ERROR, ETP_ERROR_FORMAT,
            "%s:%u: malformed row: label '%s' is not a class code 1..9", ref,
            csv->lines[r], v);
        return FALSE;
      }
      const gchar *cls = etp_cpsc2018_classes[code - 1];
      gboolean dup = FALSE;
      for (guint k = 0; k < labels->len; k++)
        dup |= strcmp (g_ptr_array_index (labels, k), cls) == 0;
      if (!dup)
        g_ptr_array_add (labels, g_strdup (cls));
    }
    g_ptr_array_add (labels, NULL);
    gchar **lab = (gchar **) g_ptr_array_free (labels, FALSE);
    if (ds->opts.single_label && g_strv_length (lab) != 1) {
      ds->n_filtered++;
      g_strfreev (lab);
      continue;
    }
    g_autofree gchar *mat = g_strconcat (dir, G_DIR_SEPARATOR_S, name,
        ".mat", NULL);
    g_autofree gchar *hea = g_strconcat (dir, G_DIR_SEPARATOR_S, name,
        ".hea", NULL);
    gboolean wfdb = g_file_test (hea, G_FILE_TEST_IS_REGULAR);
    GError *err = NULL;
    if (!wfdb && !check_present (ds, mat, csv->lines[r], ref, &err)) {
      g_strfreev (lab);
      if (err) {
        g_propagate_error (error, err);
        return FALSE;
      }
      continue;
    }
    EtpDatasetEntry *e = entry_new (wfdb ? hea : mat,
        wfdb ? READER_WFDB : READER_CPSC_MAT);
    e->labels = lab;
    e->want_12 = TRUE;
    g_ptr_array_add (ds->entries, e);
  }
  return TRUE;
}

/* ---- split files ------------------------------------------------------ */

static gboolean
is_binary_value (const gchar * v)
{
  return strcmp (v, "0") == 0 || strcmp (v, "1") == 0
      || strcmp (v, "0.0") == 0 || strcmp (v, "1.0") == 0;
}

static gboolean
open_split (EtpDataset * ds, guint64 foldmask, GError ** error)
{
  const gchar *split = ds->split_file;
  g_autoptr (EtpCsv) csv = etp_csv_read (split, error);
  PtbxlDb db = { 0 };
  ScpTable scp = { 0 };
  GHashTable *index = NULL;
  gboolean ok = FALSE;
  if (!csv)
    return FALSE;

  gint c_id = etp_csv_column (csv, "ecg_id");
  gint c_fold = etp_csv_column (csv, "strat_fold");
  gint c_patient = etp_csv_column (csv, "patient_id");
  gint c_age = etp_csv_column (csv, "age");
  gint c_file = etp_csv_column (csv, ds->opts.rate == 100 ? "filename_lr" :
      "filename_hr");
  gint c_name = etp_csv_column (csv, "filename");
  if (c_name < 0)
    c_name = etp_csv_column (csv, "ecg_path");
  if (c_fold < 0 && foldmask != G_MAXUINT64) {
    g_set_error (error, ETP_ERROR, ETP_ERROR_INVALID,
        "%s: folds=%s but the split file has no strat_fold column", split,
        ds->opts.folds);
    return FALSE;
  }
  if (c_file < 0 && c_name < 0) {
    g_set_error (error, ETP_ERROR, ETP_ERROR_FORMAT,
        "%s: no filename_lr/filename_hr, filename or ecg_path column", split);
    return FALSE;
  }
  /* Label columns: those after the last column that is not all 0/1. */
  gint first_label = 0;
  for (guint c = 0; c < csv->n_cols; c++) {
    gboolean binary = csv->n_rows > 0;
    for (guint r = 0; r < csv->n_rows && binary; r++)
      binary = is_binary_value (csv->rows[r][c]);
    if (!binary)
      first_label = (gint) c + 1;
  }
  if (first_label >= (gint) csv->n_cols) {
    g_set_error (error, ETP_ERROR, ETP_ERROR_FORMAT,
        "%s: no multi-hot label columns (0/1) found", split);
    return FALSE;
  }
  ds->label_set = g_new0 (gchar *, csv->n_cols - first_label + 1);
  for (guint c = first_label; c < csv->n_cols; c++)
    ds->label_set[c - first_label] = g_strdup (csv->header[c]);

  /* PTB-XL split: the location is the PTB-XL folder; its table (when
   * present) gives reports, ages and sexes. */
  gboolean ptbxl = c_file >= 0;
  if (ptbxl) {
    g_autofree gchar *dbp = g_build_filename (ds->location,
        "ptbxl_database.csv", NULL);
    g_autofree gchar *scpp = g_build_filename (ds->location,
        "scp_statements.csv", NULL);
    if (g_file_test (dbp, G_FILE_TEST_EXISTS)
        && !ptbxl_db_load (ds->location, &db, error))
      goto out;
    if (g_file_test (scpp, G_FILE_TEST_EXISTS)) {
      if (!scp_table_load (scpp, &scp, error))
        goto out;
      for (guint i = 0; i < scp.order->len; i++) {
        ScpStatement *s = g_ptr_array_index (scp.order, i);
        g_hash_table_insert (ds->descriptions, g_strdup (s->code),
            g_strdup (s->description));
      }
    }
    g_free (ds->name);
    ds->name = g_strdup ("ptbxl");
  } else {
    /* Index the folder's records by name. */
    GPtrArray *found = g_ptr_array_new_with_free_func (entry_free);
    if (!scan_folder (ds->location, 4, found, error)) {
      g_ptr_array_unref (found);
      goto out;
    }
    index = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
        entry_free);
    for (guint i = 0; i < found->len; i++) {
      EtpDatasetEntry *e = g_ptr_array_index (found, i);
      gchar *stem = stem_of (e->path);
      if (g_hash_table_contains (index, stem)) {
        g_free (stem);
        continue;
      }
      g_hash_table_insert (index, stem, g_ptr_array_steal_index_fast (found,
              i));
      i--;
    }
    g_ptr_array_unref (found);
  }
  add_builtin_descriptions (ds->descriptions);

  for (guint r = 0; r < csv->n_rows; r++) {
    gint fold = -1;
    if (c_fold >= 0 && !parse_fold (csv->rows[r][c_fold], &fold)) {
      g_set_error (error, ETP_ERROR, ETP_ERROR_FORMAT,
          "%s:%u: malformed row: strat_fold '%s' is not a number", split,
          csv->lines[r], csv->rows[r][c_fold]);
      goto out;
    }
    if (!fold_selected (foldmask, fold))
      continue;
    GPtrArray *labels = g_ptr_array_new ();
    for (guint c = first_label; c < csv->n_cols; c++)
      if (is_one (csv->rows[r][c]))
        g_ptr_array_add (labels, g_strdup (csv->header[c]));
    g_ptr_array_add (labels, NULL);
    gchar **lab = (gchar **) g_ptr_array_free (labels, FALSE);
    if (ds->opts.single_label && g_strv_length (lab) != 1) {
      ds->n_filtered++;
      g_strfreev (lab);
      continue;
    }
    EtpDatasetEntry *e = NULL;
    GError *err = NULL;
    if (ptbxl) {
      const gchar *fname = csv->rows[r][c_file];
      if (!fname[0] || g_path_is_absolute (fname) || strstr (fname, "..")) {
        g_set_error (error, ETP_ERROR, ETP_ERROR_FORMAT,
            "%s:%u: malformed row: bad file name '%s'", split, csv->lines[r],
            fname);
        g_strfreev (lab);
        goto out;
      }
      g_autofree gchar *path = g_strconcat (ds->location, G_DIR_SEPARATOR_S,
          fname, ".hea", NULL);
      if (check_present (ds, path, csv->lines[r], split, &err))
        e = entry_new (path, READER_WFDB);
    } else {
      gchar *stem = stem_of (csv->rows[r][c_name]);
      EtpDatasetEntry *found = g_hash_table_lookup (index, stem);
      if (found) {
        e = entry_new (found->path, found->reader);
      } else {
        g_autofree gchar *p = g_build_filename (ds->location, stem, NULL);
        check_present (ds, p, csv->lines[r], split, &err);
      }
      g_free (stem);
    }
    if (!e) {
      g_strfreev (lab);
      if (err) {
        g_propagate_error (error, err);
        goto out;
      }
      continue;
    }
    e->labels = lab;
    e->fold = fold;
    e->want_12 = TRUE;
    if (c_patient >= 0)
      e->patient_id = clean_id (csv->rows[r][c_patient]);
    if (c_age >= 0) {
      gchar *end = NULL;
      gdouble a = g_ascii_strtod (csv->rows[r][c_age], &end);
      if (end != csv->rows[r][c_age] && *end == '\0' && a >= 0 && a < 200)
        e->age = a;
    }
    if (ptbxl && db.db && c_id >= 0) {
      guint row = GPOINTER_TO_UINT (g_hash_table_lookup (db.row_of_id,
              csv->rows[r][c_id]));
      if (row > 0) {
        apply_db_row (&db, row - 1, e);
        if (ds->opts.english_report && scp.scp) {
          gchar **codes = etp_parse_py_dict (db.db->rows[row - 1][db.c_scp],
              NULL);
          if (codes)
            e->report = ptbxl_english_report (&scp, codes);
          g_strfreev (codes);
        } else {
          const gchar *rep = etp_csv_cell (db.db, row - 1, db.c_report);
          e->report = rep[0] ? g_strdup (rep) : NULL;
        }
      }
    }
    g_ptr_array_add (ds->entries, e);
  }
  ok = TRUE;
out:
  ptbxl_db_clear (&db);
  scp_table_clear (&scp);
  if (index)
    g_hash_table_unref (index);
  return ok;
}

/* ---- open / read ------------------------------------------------------- */

static EtpDatasetFormat
detect_format (const gchar * loc, gchar ** cpsc_dir)
{
  if (g_file_test (loc, G_FILE_TEST_IS_DIR)) {
    g_autofree gchar *db = g_build_filename (loc, "ptbxl_database.csv", NULL);
    if (g_file_test (db, G_FILE_TEST_IS_REGULAR))
      return ETP_DATASET_PTBXL;
    g_autofree gchar *ref = g_build_filename (loc, "REFERENCE.csv", NULL);
    if (g_file_test (ref, G_FILE_TEST_IS_REGULAR)) {
      *cpsc_dir = g_strdup (loc);
      return ETP_DATASET_CPSC2018;
    }
    g_autofree gchar *ref2 = g_build_filename (loc, "TrainingSet",
        "REFERENCE.csv", NULL);
    if (g_file_test (ref2, G_FILE_TEST_IS_REGULAR)) {
      *cpsc_dir = g_build_filename (loc, "TrainingSet", NULL);
      return ETP_DATASET_CPSC2018;
    }
    return ETP_DATASET_AUTO;    /* a folder of records */
  }
  if (has_suffix_ci (loc, ".hea") || has_suffix_ci (loc, ".dat"))
    return ETP_DATASET_WFDB;
  if (has_suffix_ci (loc, ".edf") || has_suffix_ci (loc, ".bdf")
      || has_suffix_ci (loc, ".rec"))
    return ETP_DATASET_EDF;
  if (has_suffix_ci (loc, ".mat"))
    return is_mat_v5 (loc) ? ETP_DATASET_CPSC2018 : ETP_DATASET_WFDB;
  return ETP_DATASET_AUTO;
}

EtpDataset *
etp_dataset_open (const gchar * location, const EtpDatasetOptions * opts,
    GError ** error)
{
  guint64 foldmask;
  g_autofree gchar *cpsc_dir = NULL;

  if (location == NULL || *location == '\0') {
    g_set_error (error, ETP_ERROR, ETP_ERROR_INVALID, "no location given");
    return NULL;
  }
  if (!g_file_test (location, G_FILE_TEST_EXISTS)) {
    g_set_error (error, ETP_ERROR, ETP_ERROR_MISSING, "%s: does not exist",
        location);
    return NULL;
  }
  if (!etp_parse_folds (opts->folds, &foldmask, error))
    return NULL;

  EtpDataset *ds = g_new0 (EtpDataset, 1);
  ds->opts = *opts;
  ds->folds = g_strdup (opts->folds);
  ds->split_file = g_strdup (opts->split_file);
  ds->reports_file = g_strdup (opts->reports_file);
  ds->opts.folds = ds->folds;
  ds->opts.split_file = ds->split_file;
  ds->opts.reports_file = ds->reports_file;
  if (opts->reports_file && *opts->reports_file) {
    ds->reports = etp_reports_file_read (opts->reports_file, error);
    if (!ds->reports) {
      etp_dataset_free (ds);
      return NULL;
    }
  }
  ds->location = g_strdup (location);
  /* strip trailing separators */
  while (strlen (ds->location) > 1
      && g_str_has_suffix (ds->location, G_DIR_SEPARATOR_S))
    ds->location[strlen (ds->location) - 1] = '\0';
  ds->entries = g_ptr_array_new_with_free_func (entry_free);
  ds->descriptions = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
      g_free);

  EtpDatasetFormat detected = detect_format (ds->location, &cpsc_dir);
  gboolean is_dir = g_file_test (ds->location, G_FILE_TEST_IS_DIR);
  EtpDatasetFormat fmt = opts->format == ETP_DATASET_AUTO ? detected :
      opts->format;
  gboolean ok = TRUE;
  gboolean has_folds = FALSE;

  if (opts->label_set != ETP_LABEL_SET_NONE && fmt != ETP_DATASET_PTBXL
      && !opts->split_file) {
    g_set_error (error, ETP_ERROR, ETP_ERROR_INVALID,
        "%s: label-set=%s needs a PTB-XL folder (ptbxl_database.csv)",
        ds->location, etp_label_set_kind_name (opts->label_set));
    etp_dataset_free (ds);
    return NULL;
  }

  if (opts->split_file && *opts->split_file) {
    if (!is_dir) {
      g_set_error (error, ETP_ERROR, ETP_ERROR_INVALID,
          "%s: split-file needs a folder as location", ds->location);
      ok = FALSE;
    } else {
      ds->name = g_strdup (fmt == ETP_DATASET_CPSC2018 ? "cpsc2018" :
          fmt == ETP_DATASET_PTBXL ? "ptbxl" : "wfdb");
      ok = open_split (ds, foldmask, error);
      has_folds = TRUE;         /* checked against strat_fold there */
    }
  } else if (fmt == ETP_DATASET_PTBXL) {
    ds->name = g_strdup ("ptbxl");
    if (!is_dir) {
      g_set_error (error, ETP_ERROR, ETP_ERROR_INVALID,
          "%s: format=ptbxl needs the PTB-XL folder", ds->location);
      ok = FALSE;
    } else
      ok = open_ptbxl (ds, foldmask, error);
    has_folds = TRUE;
  } else if (fmt == ETP_DATASET_CPSC2018 && cpsc_dir) {
    ds->name = g_strdup ("cpsc2018");
    add_builtin_descriptions (ds->descriptions);
    ok = open_cpsc2018 (ds, cpsc_dir, error);
  } else if (is_dir) {
    add_builtin_descriptions (ds->descriptions);
    GPtrArray *found = g_ptr_array_new_with_free_func (entry_free);
    ok = scan_folder (ds->location, 4, found, error);
    for (guint i = 0; ok && i < found->len; i++) {
      EtpDatasetEntry *e = g_ptr_array_index (found, i);
      gboolean keep = fmt == ETP_DATASET_AUTO
          || (fmt == ETP_DATASET_WFDB && e->reader == READER_WFDB)
          || (fmt == ETP_DATASET_CPSC2018 && e->reader == READER_CPSC_MAT)
          || (fmt == ETP_DATASET_EDF && e->reader == READER_EDF);
      if (keep)
        g_ptr_array_add (ds->entries, g_ptr_array_steal_index (found, i--));
    }
    g_ptr_array_unref (found);
    ds->name = g_strdup (fmt == ETP_DATASET_EDF ? "edf" :
        fmt == ETP_DATASET_CPSC2018 ? "cpsc2018" : "wfdb");
    if (ok && ds->entries->len == 0) {
      g_set_error (error, ETP_ERROR, ETP_ERROR_MISSING,
          "%s: no records found (.hea, CPSC2018 .mat, .edf, .bdf)",
          ds->location);
      ok = FALSE;
    }
  } else {
    /* one record file */
    add_builtin_descriptions (ds->descriptions);
    ReaderKind rk;
    gchar *path = g_strdup (ds->location);
    switch (fmt) {
      case ETP_DATASET_EDF:
        rk = READER_EDF;
        break;
      case ETP_DATASET_CPSC2018:
        rk = READER_CPSC_MAT;
        break;
      case ETP_DATASET_WFDB:
        rk = READER_WFDB;
        if (has_suffix_ci (path, ".mat") || has_suffix_ci (path, ".dat")) {
          gchar *stem = g_strndup (path, strlen (path) - 4);
          g_free (path);
          path = g_strconcat (stem, ".hea", NULL);
          g_free (stem);
        }
        break;
      default:
        g_set_error (error, ETP_ERROR, ETP_ERROR_UNSUPPORTED,
            "%s: unknown record format (expected .hea, .mat, .edf, .bdf or a "
            "dataset folder)", ds->location);
        ok = FALSE;
        rk = READER_WFDB;
        break;
    }
    if (ok) {
      ds->name = g_strdup (rk == READER_EDF ? "edf" :
          rk == READER_CPSC_MAT ? "cpsc2018" : "wfdb");
      g_ptr_array_add (ds->entries, entry_new (path, rk));
    }
    g_free (path);
  }
  if (ok && !has_folds && foldmask != G_MAXUINT64) {
    g_set_error (error, ETP_ERROR, ETP_ERROR_INVALID,
        "%s: folds=%s needs a dataset with folds (a PTB-XL folder or a "
        "split-file with strat_fold)", ds->location, opts->folds);
    ok = FALSE;
  }
  if (!ok) {
    etp_dataset_free (ds);
    return NULL;
  }
  ds->format = fmt;
  return ds;
}

EtpRecord *
etp_dataset_read (EtpDataset * ds, guint i, GError ** error)
{
  g_return_val_if_fail (i < ds->entries->len, NULL);
  EtpDatasetEntry *e = g_ptr_array_index (ds->entries, i);
  EtpRecord *rec = NULL;
  switch (e->reader) {
    case READER_WFDB:
      rec = etp_wfdb_read (e->path, error);
      break;
    case READER_CPSC_MAT:
      rec = etp_cpsc2018_read_mat (e->path, error);
      break;
    case READER_EDF:
      rec = etp_edf_read (e->path, error);
      break;
  }
  if (!rec)
    return NULL;
  if (e->want_12 && rec->n_leads != 12) {
    g_set_error (error, ETP_ERROR, ETP_ERROR_MISMATCH,
        "%s: has %u leads, the %s dataset has 12 (wrong lead count)",
        e->path, rec->n_leads, ds->name);
    etp_record_free (rec);
    return NULL;
  }
  g_free (rec->dataset);
  rec->dataset = g_strdup (ds->name);
  if (e->record_id) {
    g_free (rec->record_id);
    rec->record_id = g_strdup (e->record_id);
  }
  if (e->patient_id) {
    g_free (rec->patient_id);
    rec->patient_id = g_strdup (e->patient_id);
  }
  rec->fold = e->fold;
  if (e->report) {
    g_free (rec->report);
    rec->report = g_strdup (e->report);
  }
  if (ds->reports) {
    const gchar *rep = g_hash_table_lookup (ds->reports, rec->record_id);
    if (rep) {
      g_free (rec->report);
      rec->report = g_strdup (rep);
    }
  }
  if (e->labels) {
    g_strfreev (rec->label_codes);
    rec->label_codes = g_strdupv (e->labels);
  }
  if (e->age >= 0)
    rec->age = e->age;
  if (e->sex >= 0)
    rec->sex = e->sex;
  g_strfreev (rec->label_set);
  rec->label_set = g_strdupv (ds->label_set);
  if (ds->opts.compose_report && (!rec->report || !rec->report[0])) {
    g_free (rec->report);
    rec->report = etp_dataset_compose_report (ds, rec->label_codes);
  }
  return rec;
}
