/* ecgsrc: ECG records and datasets into GStreamer (see ecgsrc.h and
 * docs/elements/ecgsrc.md).
 *
 * The dataset (its table, split file, folder listing) is read once in
 * start(); create() then reads one record per buffer in the dataset's order
 * (or a shuffled order, reshuffled each epoch), renegotiating caps when the
 * rate or lead count changes. With is-live the records are played at
 * real-time pace in chunks of chunk-duration seconds. */
#include "config.h"

#include <math.h>
#include <string.h>

#include <gst/audio/audio.h>

#include "ecgsrc.h"
#include "etpcaps.h"
#include "etpmeta.h"
#include "util/etperror.h"

GST_DEBUG_CATEGORY_STATIC (ecg_src_debug);
#define GST_CAT_DEFAULT ecg_src_debug

enum {
  PROP_0,
  PROP_LOCATION,
  PROP_FORMAT,
  PROP_FOLDS,
  PROP_RATE,
  PROP_LABEL_SET,
  PROP_LIKELIHOOD,
  PROP_SINGLE_LABEL,
  PROP_REPORT,
  PROP_COMPOSE_REPORT,
  PROP_SPLIT_FILE,
  PROP_REPORTS,
  PROP_SHUFFLE,
  PROP_SEED,
  PROP_NUM_EPOCHS,
  PROP_MAX_RECORDS,
  PROP_MISSING,
  PROP_IS_LIVE,
  PROP_CHUNK_DURATION,
};

#define DEFAULT_RATE 500
#define DEFAULT_LIKELIHOOD 0.0
#define DEFAULT_SEED 0
#define DEFAULT_NUM_EPOCHS 1
#define DEFAULT_MAX_RECORDS 0
#define DEFAULT_CHUNK_DURATION 1.0

static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE ("src",
    GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS (ETP_ECG_CAPS_STR));

#define ETP_TYPE_ECG_SRC_FORMAT (etp_ecg_src_format_get_type ())
static GType
etp_ecg_src_format_get_type (void)
{
  static GType t = 0;
  static const GEnumValue values[] = {
    {ETP_DATASET_AUTO, "Detect from the location (ptbxl_database.csv, "
          "REFERENCE.csv, file suffix, folder contents)", "auto"},
    {ETP_DATASET_WFDB, "WFDB records (.hea + .dat / MATLAB v4 .mat)", "wfdb"},
    {ETP_DATASET_PTBXL, "PTB-XL folder (ptbxl_database.csv, "
          "scp_statements.csv, records100/records500)", "ptbxl"},
    {ETP_DATASET_CPSC2018, "CPSC2018 as released (MATLAB v5 .mat + "
          "REFERENCE.csv)", "cpsc2018"},
    {ETP_DATASET_EDF, "EDF, EDF+ or BDF files", "edf"},
    {0, NULL, NULL}
  };
  if (g_once_init_enter (&t)) {
    GType nt = g_enum_register_static ("EtpEcgSrcFormat", values);
    g_once_init_leave (&t, nt);
  }
  return t;
}

#define ETP_TYPE_ECG_SRC_LABEL_SET (etp_ecg_src_label_set_get_type ())
static GType
etp_ecg_src_label_set_get_type (void)
{
  static GType t = 0;
  static const GEnumValue values[] = {
    {ETP_LABEL_SET_NONE, "No label set: the raw codes (SCP, SNOMED CT, "
          "CPSC2018 classes)", "none"},
    {ETP_LABEL_SET_SUPERCLASS, "PTB-XL diagnostic superclasses (NORM, MI, "
          "STTC, CD, HYP)", "superclass"},
    {ETP_LABEL_SET_SUBCLASS, "PTB-XL diagnostic subclasses", "subclass"},
    {ETP_LABEL_SET_FORM, "PTB-XL form statements", "form"},
    {ETP_LABEL_SET_RHYTHM, "PTB-XL rhythm statements", "rhythm"},
    {ETP_LABEL_SET_ALL, "All PTB-XL SCP statements", "all"},
    {0, NULL, NULL}
  };
  if (g_once_init_enter (&t)) {
    GType nt = g_enum_register_static ("EtpEcgSrcLabelSet", values);
    g_once_init_leave (&t, nt);
  }
  return t;
}

#define ETP_TYPE_ECG_SRC_REPORT (etp_ecg_src_report_get_type ())
static GType
etp_ecg_src_report_get_type (void)
{
  static GType t = 0;
  static const GEnumValue values[] = {
    {ETP_ECG_SRC_REPORT_RELEASED, "The report as released (mostly German "
          "for PTB-XL)", "released"},
    {ETP_ECG_SRC_REPORT_ENGLISH, "English text built from the scp_statements "
          "descriptions of the record's SCP codes", "english"},
    {0, NULL, NULL}
  };
  if (g_once_init_enter (&t)) {
    GType nt = g_enum_register_static ("EtpEcgSrcReport", values);
    g_once_init_leave (&t, nt);
  }
  return t;
}

#define ETP_TYPE_ECG_SRC_MISSING (etp_ecg_src_missing_get_type ())
static GType
etp_ecg_src_missing_get_type (void)
{
  static GType t = 0;
  static const GEnumValue values[] = {
    {ETP_ECG_SRC_MISSING_SKIP, "Skip absent or unreadable records; report "
          "how many with one warning", "skip"},
    {ETP_ECG_SRC_MISSING_ERROR, "Fail, naming the file", "error"},
    {0, NULL, NULL}
  };
  if (g_once_init_enter (&t)) {
    GType nt = g_enum_register_static ("EtpEcgSrcMissing", values);
    g_once_init_leave (&t, nt);
  }
  return t;
}

#define gst_ecg_src_parent_class parent_class
G_DEFINE_TYPE (GstEcgSrc, gst_ecg_src, GST_TYPE_PUSH_SRC);
GST_ELEMENT_REGISTER_DEFINE (ecgsrc, "ecgsrc", GST_RANK_NONE, ETP_TYPE_ECG_SRC);

static void
gst_ecg_src_set_property (GObject * object, guint prop_id,
    const GValue * value, GParamSpec * pspec)
{
  GstEcgSrc *self = GST_ECG_SRC (object);

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_LOCATION:
      g_free (self->location);
      self->location = g_value_dup_string (value);
      break;
    case PROP_FORMAT:
      self->format = g_value_get_enum (value);
      break;
    case PROP_FOLDS:
      g_free (self->folds);
      self->folds = g_value_dup_string (value);
      break;
    case PROP_RATE:
      self->rate = g_value_get_uint (value);
      break;
    case PROP_LABEL_SET:
      self->label_set = g_value_get_enum (value);
      break;
    case PROP_LIKELIHOOD:
      self->likelihood = g_value_get_double (value);
      break;
    case PROP_SINGLE_LABEL:
      self->single_label = g_value_get_boolean (value);
      break;
    case PROP_REPORT:
      self->report = g_value_get_enum (value);
      break;
    case PROP_COMPOSE_REPORT:
      self->compose_report = g_value_get_boolean (value);
      break;
    case PROP_SPLIT_FILE:
      g_free (self->split_file);
      self->split_file = g_value_dup_string (value);
      break;
    case PROP_REPORTS:
      g_free (self->reports);
      self->reports = g_value_dup_string (value);
      break;
    case PROP_SHUFFLE:
      self->shuffle = g_value_get_boolean (value);
      break;
    case PROP_SEED:
      self->seed = g_value_get_uint (value);
      break;
    case PROP_NUM_EPOCHS:
      self->num_epochs = g_value_get_uint (value);
      break;
    case PROP_MAX_RECORDS:
      self->max_records = g_value_get_uint (value);
      break;
    case PROP_MISSING:
      self->missing = g_value_get_enum (value);
      break;
    case PROP_IS_LIVE:
      self->is_live = g_value_get_boolean (value);
      GST_OBJECT_UNLOCK (self);
      gst_base_src_set_live (GST_BASE_SRC (self), self->is_live);
      return;
    case PROP_CHUNK_DURATION:
      self->chunk_duration = g_value_get_double (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_ecg_src_get_property (GObject * object, guint prop_id, GValue * value,
    GParamSpec * pspec)
{
  GstEcgSrc *self = GST_ECG_SRC (object);

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_LOCATION:
      g_value_set_string (value, self->location);
      break;
    case PROP_FORMAT:
      g_value_set_enum (value, self->format);
      break;
    case PROP_FOLDS:
      g_value_set_string (value, self->folds);
      break;
    case PROP_RATE:
      g_value_set_uint (value, self->rate);
      break;
    case PROP_LABEL_SET:
      g_value_set_enum (value, self->label_set);
      break;
    case PROP_LIKELIHOOD:
      g_value_set_double (value, self->likelihood);
      break;
    case PROP_SINGLE_LABEL:
      g_value_set_boolean (value, self->single_label);
      break;
    case PROP_REPORT:
      g_value_set_enum (value, self->report);
      break;
    case PROP_COMPOSE_REPORT:
      g_value_set_boolean (value, self->compose_report);
      break;
    case PROP_SPLIT_FILE:
      g_value_set_string (value, self->split_file);
      break;
    case PROP_REPORTS:
      g_value_set_string (value, self->reports);
      break;
    case PROP_SHUFFLE:
      g_value_set_boolean (value, self->shuffle);
      break;
    case PROP_SEED:
      g_value_set_uint (value, self->seed);
      break;
    case PROP_NUM_EPOCHS:
      g_value_set_uint (value, self->num_epochs);
      break;
    case PROP_MAX_RECORDS:
      g_value_set_uint (value, self->max_records);
      break;
    case PROP_MISSING:
      g_value_set_enum (value, self->missing);
      break;
    case PROP_IS_LIVE:
      g_value_set_boolean (value, self->is_live);
      break;
    case PROP_CHUNK_DURATION:
      g_value_set_double (value, self->chunk_duration);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static void
gst_ecg_src_finalize (GObject * object)
{
  GstEcgSrc *self = GST_ECG_SRC (object);
  g_free (self->location);
  g_free (self->folds);
  g_free (self->split_file);
  g_free (self->reports);
  G_OBJECT_CLASS (parent_class)->finalize (object);
}

/* Fisher-Yates with a per-epoch seed, so runs are reproducible. */
static void
make_order (GstEcgSrc * self)
{
  guint n = etp_dataset_size (self->ds);
  for (guint i = 0; i < n; i++)
    self->order[i] = i;
  if (!self->shuffle || n < 2)
    return;
  GRand *r = g_rand_new_with_seed (self->seed * 1000003u + self->epoch);
  for (guint i = n - 1; i > 0; i--) {
    guint j = (guint) g_rand_int_range (r, 0, (gint32) i + 1);
    guint t = self->order[i];
    self->order[i] = self->order[j];
    self->order[j] = t;
  }
  g_rand_free (r);
}

static gboolean
gst_ecg_src_start (GstBaseSrc * bsrc)
{
  GstEcgSrc *self = GST_ECG_SRC (bsrc);
  EtpDatasetOptions o;
  GError *err = NULL;

  etp_dataset_options_init (&o);
  GST_OBJECT_LOCK (self);
  gchar *location = g_strdup (self->location);
  gchar *folds = g_strdup (self->folds);
  gchar *split = g_strdup (self->split_file);
  gchar *reports = g_strdup (self->reports);
  o.format = self->format;
  o.folds = folds;
  o.rate = self->rate;
  o.label_set = self->label_set;
  o.likelihood = self->likelihood;
  o.single_label = self->single_label;
  o.english_report = self->report == ETP_ECG_SRC_REPORT_ENGLISH;
  o.compose_report = self->compose_report;
  o.split_file = split;
  o.reports_file = reports;
  o.skip_missing = self->missing == ETP_ECG_SRC_MISSING_SKIP;
  GST_OBJECT_UNLOCK (self);

  if (!location || !*location) {
    GST_ELEMENT_ERROR (self, RESOURCE, NOT_FOUND,
        ("No location set"), ("set location= to a record file, a folder of "
            "records or a dataset folder"));
    g_free (location);
    g_free (folds);
    g_free (split);
    g_free (reports);
    return FALSE;
  }
  self->ds = etp_dataset_open (location, &o, &err);
  g_free (folds);
  g_free (split);
  g_free (reports);
  if (!self->ds) {
    if (g_error_matches (err, ETP_ERROR, ETP_ERROR_MISSING))
      GST_ELEMENT_ERROR (self, RESOURCE, NOT_FOUND,
          ("Cannot open %s", location), ("%s", err->message));
    else if (g_error_matches (err, ETP_ERROR, ETP_ERROR_INVALID))
      GST_ELEMENT_ERROR (self, RESOURCE, SETTINGS,
          ("Bad settings for %s", location), ("%s", err->message));
    else
      GST_ELEMENT_ERROR (self, STREAM, DECODE,
          ("Cannot read %s", location), ("%s", err->message));
    g_error_free (err);
    g_free (location);
    return FALSE;
  }
  GST_INFO_OBJECT (self, "%s: dataset %s, %u records (%u missing, %u "
      "filtered)", location, self->ds->name, etp_dataset_size (self->ds),
      self->ds->n_missing, self->ds->n_filtered);
  if (self->ds->n_missing > 0) {
    GST_ELEMENT_WARNING (self, RESOURCE, NOT_FOUND,
        ("%u records listed for %s have no signal file and are skipped",
            self->ds->n_missing, location),
        ("first absent: %s; %u records remain", self->ds->first_missing,
            etp_dataset_size (self->ds)));
  }
  g_free (location);
  self->order = g_new (guint, MAX (etp_dataset_size (self->ds), 1));
  self->pos = 0;
  self->epoch = 0;
  self->epoch_count = 0;
  self->n_read = 0;
  self->n_skipped = 0;
  self->ts = 0;
  self->cur_rate = 0;
  self->cur_channels = 0;
  self->live_off = 0;
  self->live_index = 0;
  self->eos_posted = FALSE;
  make_order (self);
  return TRUE;
}

static gboolean
gst_ecg_src_stop (GstBaseSrc * bsrc)
{
  GstEcgSrc *self = GST_ECG_SRC (bsrc);
  g_clear_pointer (&self->ds, etp_dataset_free);
  g_clear_pointer (&self->order, g_free);
  g_clear_pointer (&self->live_rec, etp_record_free);
  gst_clear_buffer (&self->live_buf);
  return TRUE;
}

static void
post_summary (GstEcgSrc * self)
{
  if (self->eos_posted)
    return;
  self->eos_posted = TRUE;
  guint missing = self->ds ? self->ds->n_missing : 0;
  gchar *text = g_strdup_printf ("ecgsrc: read %" G_GUINT64_FORMAT
      " records in %u epoch(s); skipped %" G_GUINT64_FORMAT " unreadable "
      "and %u absent", self->n_read, self->epoch, self->n_skipped, missing);
  /* gst-launch prints the debug string of INFO messages */
  GST_ELEMENT_INFO (self, RESOURCE, READ, ("%s", text), ("%s", text));
  g_free (text);
  gst_element_post_message (GST_ELEMENT (self),
      gst_message_new_element (GST_OBJECT (self),
          gst_structure_new ("etp-ecgsrc",
              "records-read", G_TYPE_UINT64, self->n_read,
              "records-skipped", G_TYPE_UINT64, self->n_skipped,
              "records-missing", G_TYPE_UINT, missing,
              "records-listed", G_TYPE_UINT,
              self->ds ? etp_dataset_size (self->ds) : 0,
              "epochs", G_TYPE_UINT, self->epoch, NULL)));
  GST_INFO_OBJECT (self, "EOS: %" G_GUINT64_FORMAT " read, %" G_GUINT64_FORMAT
      " skipped, %u missing", self->n_read, self->n_skipped, missing);
}

/* Next record in order; NULL with *flow set on EOS or error. */
static EtpRecord *
next_record (GstEcgSrc * self, GstFlowReturn * flow)
{
  guint n = etp_dataset_size (self->ds);
  guint64 tries = 0;
  for (;;) {
    gboolean epoch_done = self->pos >= n
        || (self->max_records > 0 && self->epoch_count >= self->max_records);
    if (epoch_done) {
      self->epoch++;
      self->pos = 0;
      self->epoch_count = 0;
      if ((self->num_epochs > 0 && self->epoch >= self->num_epochs) || n == 0
          || tries >= n) {
        /* tries >= n: a whole epoch failed to read, stop instead of
         * spinning forever with num-epochs=0. */
        if (self->num_epochs > 0 && self->epoch > self->num_epochs)
          self->epoch = self->num_epochs;
        post_summary (self);
        *flow = GST_FLOW_EOS;
        return NULL;
      }
      make_order (self);
    }
    guint idx = self->order[self->pos++];
    GError *err = NULL;
    EtpRecord *rec = etp_dataset_read (self->ds, idx, &err);
    if (rec) {
      self->epoch_count++;
      return rec;
    }
    tries++;
    if (self->missing == ETP_ECG_SRC_MISSING_ERROR) {
      GST_ELEMENT_ERROR (self, STREAM, DECODE,
          ("Cannot read record %s", etp_dataset_entry_path (self->ds, idx)),
          ("%s", err->message));
      g_error_free (err);
      *flow = GST_FLOW_ERROR;
      return NULL;
    }
    GST_ELEMENT_WARNING (self, STREAM, DECODE,
        ("Skipping unreadable record %s",
            etp_dataset_entry_path (self->ds, idx)), ("%s", err->message));
    g_error_free (err);
    self->n_skipped++;
  }
}

/* ECG leads have no loudspeaker positions: several channels are marked
 * unpositioned (channel-mask 0), which audioconvert & co. accept. */
static GstCaps *
make_caps (gint rate, gint channels)
{
  GstCaps *caps = gst_caps_new_simple ("audio/x-raw",
      "format", G_TYPE_STRING, "F32LE",
      "layout", G_TYPE_STRING, "interleaved",
      "rate", G_TYPE_INT, rate, "channels", G_TYPE_INT, channels, NULL);
  if (channels > 1)
    gst_caps_set_simple (caps, "channel-mask", GST_TYPE_BITMASK,
        G_GUINT64_CONSTANT (0), NULL);
  return caps;
}

static gboolean
ensure_caps (GstEcgSrc * self, const EtpRecord * rec)
{
  gint rate = (gint) lround (rec->source_rate);
  gint channels = (gint) rec->n_leads;
  if (rate < 1 || rate > 100000 || channels < 1 || channels > 64) {
    GST_ELEMENT_ERROR (self, STREAM, FORMAT,
        ("Record %s cannot be streamed", rec->source_path),
        ("rate %g Hz / %d channels is outside 1..100000 Hz / 1..64 channels",
            rec->source_rate, channels));
    return FALSE;
  }
  if (rate == self->cur_rate && channels == self->cur_channels)
    return TRUE;
  GstCaps *caps = make_caps (rate, channels);
  gboolean ok = gst_base_src_set_caps (GST_BASE_SRC (self), caps);
  gst_caps_unref (caps);
  if (!ok) {
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION,
        ("Downstream refused %d Hz, %d channels", rate, channels),
        ("record %s", rec->source_path));
    return FALSE;
  }
  self->cur_rate = rate;
  self->cur_channels = channels;
  return TRUE;
}

static void
fill_meta (GstEcgSrc * self, GstBuffer * buf, const EtpRecord * rec,
    guint64 start, guint index)
{
  EtpEcgMeta *m = etp_buffer_add_ecg_meta (buf);
  m->record_id = g_strdup (rec->record_id);
  m->patient_id = g_strdup (rec->patient_id);
  m->dataset = g_strdup (rec->dataset);
  m->fold = rec->fold;
  m->report = g_strdup (rec->report);
  m->label_codes = g_strdupv (rec->label_codes);
  m->label_set = g_strdupv (rec->label_set);
  m->lead_names = g_strdupv (rec->lead_names);
  m->units = g_strdup (rec->units);
  m->source_rate = rec->source_rate;
  m->age = rec->age;
  m->sex = rec->sex;
  m->record_samples = rec->n_samples;
  m->window_start = start;
  m->window_index = index;
  m->epoch = self->epoch;
}

static GstFlowReturn
gst_ecg_src_create (GstPushSrc * psrc, GstBuffer ** outbuf)
{
  GstEcgSrc *self = GST_ECG_SRC (psrc);
  GstFlowReturn flow = GST_FLOW_OK;

  if (self->ds == NULL)
    return GST_FLOW_FLUSHING;

  if (self->is_live && self->live_rec) {
    /* next chunk of the current record */
    EtpRecord *rec = self->live_rec;
    guint64 chunk = MAX ((guint64) llround (self->chunk_duration * self->cur_rate), 1);
    guint64 n = MIN (chunk, rec->n_samples - self->live_off);
    gsize bpf = rec->n_leads * sizeof (gfloat);
    GstBuffer *buf = gst_buffer_copy_region (self->live_buf,
        GST_BUFFER_COPY_MEMORY, self->live_off * bpf, n * bpf);
    fill_meta (self, buf, rec, self->live_off, self->live_index++);
    GstClockTime dur = gst_util_uint64_scale (n, GST_SECOND, self->cur_rate);
    GST_BUFFER_PTS (buf) = self->ts;
    GST_BUFFER_DTS (buf) = self->ts;
    GST_BUFFER_DURATION (buf) = dur;
    GST_BUFFER_OFFSET (buf) = self->live_off;
    self->ts += dur;
    self->live_off += n;
    if (self->live_off >= rec->n_samples) {
      g_clear_pointer (&self->live_rec, etp_record_free);
      gst_clear_buffer (&self->live_buf);
    }
    *outbuf = buf;
    return GST_FLOW_OK;
  }

  EtpRecord *rec = next_record (self, &flow);
  if (!rec)
    return flow;
  if (rec->n_samples == 0) {
    GST_ELEMENT_WARNING (self, STREAM, DECODE, ("Record %s has no samples",
            rec->source_path), (NULL));
    etp_record_free (rec);
    self->n_skipped++;
    return gst_ecg_src_create (psrc, outbuf);
  }
  if (!ensure_caps (self, rec)) {
    etp_record_free (rec);
    return GST_FLOW_NOT_NEGOTIATED;
  }
  self->n_read++;
  gsize size = rec->n_samples * rec->n_leads * sizeof (gfloat);
#if G_BYTE_ORDER == G_BIG_ENDIAN
  for (guint64 i = 0; i < rec->n_samples * rec->n_leads; i++) {
    guint32 u;
    memcpy (&u, &rec->samples[i], 4);
    u = GUINT32_SWAP_LE_BE (u);
    memcpy (&rec->samples[i], &u, 4);
  }
#endif
  GstBuffer *whole = gst_buffer_new_wrapped (rec->samples, size);
  rec->samples = NULL;
  GST_DEBUG_OBJECT (self, "record %s: %" G_GUINT64_FORMAT " samples x %u "
      "leads at %g Hz", rec->record_id, rec->n_samples, rec->n_leads,
      rec->source_rate);

  if (self->is_live) {
    self->live_rec = rec;
    self->live_buf = whole;
    self->live_off = 0;
    self->live_index = 0;
    return gst_ecg_src_create (psrc, outbuf);
  }
  fill_meta (self, whole, rec, 0, 0);
  GstClockTime dur = gst_util_uint64_scale (rec->n_samples, GST_SECOND,
      self->cur_rate);
  GST_BUFFER_PTS (whole) = self->ts;
  GST_BUFFER_DTS (whole) = self->ts;
  GST_BUFFER_DURATION (whole) = dur;
  GST_BUFFER_OFFSET (whole) = self->n_read - 1;
  self->ts += dur;
  etp_record_free (rec);
  *outbuf = whole;
  return GST_FLOW_OK;
}

static void
gst_ecg_src_get_times (GstBaseSrc * bsrc, GstBuffer * buffer,
    GstClockTime * start, GstClockTime * end)
{
  GstEcgSrc *self = GST_ECG_SRC (bsrc);
  /* Live: let basesrc wait on the clock until each chunk is due. */
  if (self->is_live && GST_BUFFER_PTS_IS_VALID (buffer)) {
    *start = GST_BUFFER_PTS (buffer);
    *end = GST_BUFFER_DURATION_IS_VALID (buffer) ?
        *start + GST_BUFFER_DURATION (buffer) : GST_CLOCK_TIME_NONE;
  } else {
    *start = GST_CLOCK_TIME_NONE;
    *end = GST_CLOCK_TIME_NONE;
  }
}

/* Caps come from the records (set in create); only re-send them when
 * downstream asks to reconfigure. */
static gboolean
gst_ecg_src_negotiate (GstBaseSrc * bsrc)
{
  GstEcgSrc *self = GST_ECG_SRC (bsrc);
  if (self->cur_rate == 0)
    return TRUE;
  GstCaps *caps = make_caps (self->cur_rate, self->cur_channels);
  gboolean ok = gst_base_src_set_caps (bsrc, caps);
  gst_caps_unref (caps);
  return ok;
}

static gboolean
gst_ecg_src_is_seekable (GstBaseSrc * bsrc)
{
  return FALSE;
}

static void
gst_ecg_src_class_init (GstEcgSrcClass * klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstBaseSrcClass *basesrc_class = GST_BASE_SRC_CLASS (klass);
  GstPushSrcClass *pushsrc_class = GST_PUSH_SRC_CLASS (klass);
  const GParamFlags rw = G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
      GST_PARAM_MUTABLE_READY;

  GST_DEBUG_CATEGORY_INIT (ecg_src_debug, "ecgsrc", 0,
      "ECG record and dataset source");

  gobject_class->set_property = gst_ecg_src_set_property;
  gobject_class->get_property = gst_ecg_src_get_property;
  gobject_class->finalize = gst_ecg_src_finalize;

  g_object_class_install_property (gobject_class, PROP_LOCATION,
      g_param_spec_string ("location", "Location",
          "A record file (.hea, WFDB/CinC .mat, CPSC2018 .mat, .edf, .bdf), "
          "a folder of records (searched 4 levels deep, sorted), or a dataset "
          "folder (PTB-XL with ptbxl_database.csv, CPSC2018 with "
          "REFERENCE.csv)", NULL, rw));
  g_object_class_install_property (gobject_class, PROP_FORMAT,
      g_param_spec_enum ("format", "Format",
          "Kind of location; auto detects it", ETP_TYPE_ECG_SRC_FORMAT,
          ETP_DATASET_AUTO, rw));
  g_object_class_install_property (gobject_class, PROP_FOLDS,
      g_param_spec_string ("folds", "Folds",
          "Stratified folds to read, e.g. \"1-8\", \"9\", \"10\", \"1,3,5\" "
          "(PTB-XL strat_fold, or the split file's); empty reads all", NULL,
          rw));
  g_object_class_install_property (gobject_class, PROP_RATE,
      g_param_spec_uint ("rate", "PTB-XL rate",
          "PTB-XL (and PTB-XL split files): read records100 (100) or "
          "records500 (500); other datasets keep their own rate", 100, 500,
          DEFAULT_RATE, rw));
  g_object_class_install_property (gobject_class, PROP_LABEL_SET,
      g_param_spec_enum ("label-set", "Label set",
          "PTB-XL label set that names the label codes in the meta "
          "(split-file gives its own)", ETP_TYPE_ECG_SRC_LABEL_SET,
          ETP_LABEL_SET_NONE, rw));
  g_object_class_install_property (gobject_class, PROP_LIKELIHOOD,
      g_param_spec_double ("likelihood", "Likelihood threshold",
          "PTB-XL: minimum likelihood (0-100) of a diagnostic SCP statement "
          "for it to count as a label (form/rhythm statements carry none)",
          0.0, 100.0, DEFAULT_LIKELIHOOD, rw));
  g_object_class_install_property (gobject_class, PROP_SINGLE_LABEL,
      g_param_spec_boolean ("single-label", "Single label",
          "Keep only records with exactly one label of the selected set "
          "(the paper's downstream setting)", FALSE, rw));
  g_object_class_install_property (gobject_class, PROP_REPORT,
      g_param_spec_enum ("report", "Report",
          "PTB-XL report text: as released, or English built from the "
          "scp_statements descriptions", ETP_TYPE_ECG_SRC_REPORT,
          ETP_ECG_SRC_REPORT_RELEASED, rw));
  g_object_class_install_property (gobject_class, PROP_COMPOSE_REPORT,
      g_param_spec_boolean ("compose-report", "Compose report",
          "Give records without a report a text composed from their label "
          "descriptions (SCP, CPSC2018 classes, SNOMED CT codes)", FALSE, rw));
  g_object_class_install_property (gobject_class, PROP_SPLIT_FILE,
      g_param_spec_string ("split-file", "Split file",
          "Benchmark split CSV (MERL style: ecg_id/filename_lr/filename_hr "
          "or filename/ecg_path, strat_fold, multi-hot label columns) that "
          "selects the records and gives their labels and label set", NULL,
          rw));
  g_object_class_install_property (gobject_class, PROP_REPORTS,
      g_param_spec_string ("reports", "Reports file",
          "Text file of \"record<TAB>report\" lines (record = record id, "
          "e.g. A0001 or 00001_hr) giving report texts; they replace the "
          "record's own (compose-report fills records still without one)",
          NULL, rw));
  g_object_class_install_property (gobject_class, PROP_SHUFFLE,
      g_param_spec_boolean ("shuffle", "Shuffle",
          "Read records in a random order (reshuffled each epoch) instead "
          "of the dataset's own order", FALSE, rw));
  g_object_class_install_property (gobject_class, PROP_SEED,
      g_param_spec_uint ("seed", "Seed",
          "Seed of the shuffle (same seed, same order)", 0, G_MAXUINT,
          DEFAULT_SEED, rw));
  g_object_class_install_property (gobject_class, PROP_NUM_EPOCHS,
      g_param_spec_uint ("num-epochs", "Epochs",
          "Passes over the dataset before EOS (0 = forever)", 0, G_MAXUINT,
          DEFAULT_NUM_EPOCHS, rw));
  g_object_class_install_property (gobject_class, PROP_MAX_RECORDS,
      g_param_spec_uint ("max-records", "Max records",
          "Records per epoch at most (0 = all)", 0, G_MAXUINT,
          DEFAULT_MAX_RECORDS, rw));
  g_object_class_install_property (gobject_class, PROP_MISSING,
      g_param_spec_enum ("missing", "Missing records",
          "What to do with records whose files are absent or unreadable",
          ETP_TYPE_ECG_SRC_MISSING, ETP_ECG_SRC_MISSING_SKIP, rw));
  g_object_class_install_property (gobject_class, PROP_IS_LIVE,
      g_param_spec_boolean ("is-live", "Live",
          "Play records at real-time pace in chunks of chunk-duration "
          "seconds, as a monitor feed would", FALSE, rw));
  g_object_class_install_property (gobject_class, PROP_CHUNK_DURATION,
      g_param_spec_double ("chunk-duration", "Chunk duration",
          "Seconds of signal per buffer when is-live is set", 0.001, 3600.0,
          DEFAULT_CHUNK_DURATION, rw));

  gst_element_class_set_static_metadata (element_class, "ECG source",
      "Source/Audio/ECG",
      "Reads ECG records and datasets (WFDB, PTB-XL, CPSC2018, PhysioNet/"
      "CinC, EDF) as F32LE buffers with labels, folds and reports in an "
      "EtpEcgMeta", "gst-etp");
  gst_element_class_add_static_pad_template (element_class, &src_template);

  basesrc_class->start = GST_DEBUG_FUNCPTR (gst_ecg_src_start);
  basesrc_class->stop = GST_DEBUG_FUNCPTR (gst_ecg_src_stop);
  basesrc_class->get_times = GST_DEBUG_FUNCPTR (gst_ecg_src_get_times);
  basesrc_class->is_seekable = GST_DEBUG_FUNCPTR (gst_ecg_src_is_seekable);
  basesrc_class->negotiate = GST_DEBUG_FUNCPTR (gst_ecg_src_negotiate);
  pushsrc_class->create = GST_DEBUG_FUNCPTR (gst_ecg_src_create);

  gst_type_mark_as_plugin_api (ETP_TYPE_ECG_SRC_FORMAT, 0);
  gst_type_mark_as_plugin_api (ETP_TYPE_ECG_SRC_LABEL_SET, 0);
  gst_type_mark_as_plugin_api (ETP_TYPE_ECG_SRC_REPORT, 0);
  gst_type_mark_as_plugin_api (ETP_TYPE_ECG_SRC_MISSING, 0);
}

static void
gst_ecg_src_init (GstEcgSrc * self)
{
  self->format = ETP_DATASET_AUTO;
  self->rate = DEFAULT_RATE;
  self->label_set = ETP_LABEL_SET_NONE;
  self->likelihood = DEFAULT_LIKELIHOOD;
  self->report = ETP_ECG_SRC_REPORT_RELEASED;
  self->seed = DEFAULT_SEED;
  self->num_epochs = DEFAULT_NUM_EPOCHS;
  self->max_records = DEFAULT_MAX_RECORDS;
  self->missing = ETP_ECG_SRC_MISSING_SKIP;
  self->chunk_duration = DEFAULT_CHUNK_DURATION;
  gst_base_src_set_format (GST_BASE_SRC (self), GST_FORMAT_TIME);
  gst_base_src_set_live (GST_BASE_SRC (self), FALSE);
}
