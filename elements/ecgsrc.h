/* ecgsrc: reads ECG records and datasets (WFDB, PTB-XL, CPSC2018, EDF) and
 * pushes one audio/x-raw F32LE buffer per record with an EtpEcgMeta.
 * See docs/elements/ecgsrc.md. */
#ifndef ETP_ECG_SRC_H
#define ETP_ECG_SRC_H

#include <gst/gst.h>
#include <gst/base/gstpushsrc.h>

#include "io/dataset.h"

G_BEGIN_DECLS

#define ETP_TYPE_ECG_SRC (gst_ecg_src_get_type ())
G_DECLARE_FINAL_TYPE (GstEcgSrc, gst_ecg_src, GST, ECG_SRC, GstPushSrc)

typedef enum {
  ETP_ECG_SRC_REPORT_RELEASED,
  ETP_ECG_SRC_REPORT_ENGLISH,
} EtpEcgSrcReport;

typedef enum {
  ETP_ECG_SRC_MISSING_SKIP,
  ETP_ECG_SRC_MISSING_ERROR,
} EtpEcgSrcMissing;

struct _GstEcgSrc {
  GstPushSrc parent;

  /* properties */
  gchar *location;
  EtpDatasetFormat format;
  gchar *folds;
  guint rate;
  EtpLabelSetKind label_set;
  gdouble likelihood;
  gboolean single_label;
  EtpEcgSrcReport report;
  gboolean compose_report;
  gchar *split_file;
  gchar *reports;
  gboolean shuffle;
  guint seed;
  guint num_epochs;
  guint max_records;
  EtpEcgSrcMissing missing;
  gboolean is_live;
  gdouble chunk_duration;

  /* state (streaming thread) */
  EtpDataset *ds;
  guint *order;
  guint pos;                    /* next index into order */
  guint epoch;
  guint epoch_count;            /* records pushed in this epoch */
  guint64 n_read;
  guint64 n_skipped;
  GstClockTime ts;              /* running timestamp */
  gint cur_rate, cur_channels;
  /* live chunking */
  EtpRecord *live_rec;
  GstBuffer *live_buf;
  guint64 live_off;
  guint live_index;
  gboolean eos_posted;
};

GST_ELEMENT_REGISTER_DECLARE (ecgsrc);

G_END_DECLS

#endif
