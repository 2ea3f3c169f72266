/* Datasets: a list of records to read, built once from a location (one record
 * file, a folder of records, a PTB-XL folder, a CPSC2018 folder) and options
 * (folds, label set, split file, ...). Reading an entry returns an EtpRecord
 * with the dataset's facts (fold, labels, report) filled in. */
#ifndef ETP_IO_DATASET_H
#define ETP_IO_DATASET_H

#include "io/ecgrecord.h"

G_BEGIN_DECLS

typedef enum {
  ETP_DATASET_AUTO,
  ETP_DATASET_WFDB,             /* .hea records (one file or a folder) */
  ETP_DATASET_PTBXL,            /* folder with ptbxl_database.csv */
  ETP_DATASET_CPSC2018,         /* CPSC2018 .mat v5 (+ REFERENCE.csv) */
  ETP_DATASET_EDF,              /* .edf / .bdf files */
} EtpDatasetFormat;

typedef enum {
  ETP_LABEL_SET_NONE,           /* raw codes (SCP, SNOMED CT, CPSC classes) */
  ETP_LABEL_SET_SUPERCLASS,     /* PTB-XL NORM, MI, STTC, CD, HYP */
  ETP_LABEL_SET_SUBCLASS,       /* PTB-XL diagnostic subclasses */
  ETP_LABEL_SET_FORM,           /* PTB-XL form statements */
  ETP_LABEL_SET_RHYTHM,         /* PTB-XL rhythm statements */
  ETP_LABEL_SET_ALL,            /* every PTB-XL SCP statement */
} EtpLabelSetKind;

typedef struct {
  EtpDatasetFormat format;
  const gchar *folds;           /* "1-8", "9", "1,3,5"; NULL or "" = all */
  guint rate;                   /* PTB-XL: 100 (records100) or 500 */
  EtpLabelSetKind label_set;
  gdouble likelihood;           /* PTB-XL: min likelihood of diagnostic codes */
  gboolean single_label;        /* keep records with exactly one label */
  gboolean english_report;      /* PTB-XL: report from scp descriptions */
  gboolean compose_report;      /* no report: compose one from the labels */
  const gchar *split_file;      /* MERL-style split CSV, or NULL */
  gboolean skip_missing;        /* absent files: skip (count) or fail */
  const gchar *reports_file;    /* "record<TAB>report" lines, or NULL */
} EtpDatasetOptions;

void etp_dataset_options_init (EtpDatasetOptions * opts);

typedef struct _EtpDatasetEntry EtpDatasetEntry;

typedef struct {
  gchar *location;
  gchar *name;                  /* "ptbxl", "cpsc2018", "wfdb", "edf", ... */
  EtpDatasetFormat format;
  GPtrArray *entries;           /* EtpDatasetEntry*, in the dataset's order */
  gchar **label_set;            /* NULL when no label set */
  guint n_missing;              /* rows whose signal file is absent */
  gchar *first_missing;         /* path of the first of them */
  guint n_filtered;             /* rows dropped by single-label */
  /* private */
  GHashTable *descriptions;     /* code -> English description */
  GHashTable *reports;          /* record id -> report (reports_file) */
  gchar *reports_file;
  EtpDatasetOptions opts;
  gchar *folds;
  gchar *split_file;
} EtpDataset;

/* Builds the entry list. With skip_missing FALSE, fails naming the first
 * absent file; otherwise counts them in n_missing. */
EtpDataset *etp_dataset_open (const gchar * location,
    const EtpDatasetOptions * opts, GError ** error);
void etp_dataset_free (EtpDataset * ds);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (EtpDataset, etp_dataset_free)

static inline guint
etp_dataset_size (const EtpDataset * ds)
{
  return ds->entries->len;
}

/* Path of entry @i's signal/header file. */
const gchar *etp_dataset_entry_path (const EtpDataset * ds, guint i);

/* Reads entry @i (errors name the file and the fault). */
EtpRecord *etp_dataset_read (EtpDataset * ds, guint i, GError ** error);

/* Reads a reports file: one "record<TAB>report" per line (UTF-8; blank
 * lines and lines starting with '#' ignored; the record is the record id,
 * e.g. "A0001" or "00001_hr"). Returns record id -> report. */
GHashTable *etp_reports_file_read (const gchar * path, GError ** error);

/* Parses a fold list ("1-8", "9", "1,3,5", "1-3,7") into @mask (bit f set
 * for fold f, 1..63). "" / NULL selects every fold (mask all ones). */
gboolean etp_parse_folds (const gchar * spec, guint64 * mask, GError ** error);

/* A short English description of a label code (SCP code, PTB-XL class,
 * CPSC2018 class, SNOMED CT code), or NULL when unknown. */
const gchar *etp_dataset_describe (const EtpDataset * ds, const gchar * code);

/* "atrial fibrillation, right bundle branch block." from @codes; NULL when
 * no code has a known description. */
gchar *etp_dataset_compose_report (const EtpDataset * ds,
    gchar ** codes);

const gchar *etp_label_set_kind_name (EtpLabelSetKind kind);

G_END_DECLS

#endif
