/* etptrain: contrastive ECG-text pre-training (ETP; Liu et al., ICASSP 2024)
 * as a GstAggregator.
 *
 * Sink pads
 *   ecg        (always)  conditioned ECG windows, audio/x-raw F32LE
 *                        interleaved, one window per buffer, with EtpEcgMeta
 *   text       (always)  frozen text features of each window's report,
 *                        other/tensors float32 D:1:1:1, with the EtpEcgMeta of
 *                        the window they describe (textencoder carries it)
 *   ecg_view2  (request) a second augmented view of each window, for the
 *                        ECG-ECG self-supervised loss (ssl-weight)
 *   val_ecg,   (request) the validation set: collected once, kept in memory,
 *   val_text             evaluated at every epoch end
 * Source pad
 *   src        one other/tensors float32 4:1:1:1 buffer per optimiser step:
 *              {epoch, step, loss, learning rate}; may be left to a fakesink.
 *
 * The windows of the three training pads are paired by the meta's record id
 * and window index; a mismatch is an error naming both records. An epoch ends
 * when the meta's epoch field changes (the source loops and reshuffles) or at
 * EOS. The element owns the ResNet18-1D encoder and both projection heads
 * (models/nets); this file does the pads, pairing, batching, the epoch and
 * checkpoint bookkeeping, validation and the bus messages. */
#include "config.h"

#include "etptrain.h"
#include "etpmeta.h"
#include "etpcaps.h"

#include <glib/gstdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine.h"
#include "nets/resnet1d.h"
#include "nets/checkpoint.h"
#include "nets/safetensors.h"
#include "util/etperror.h"

/* ------------------------------------------------------------------------
 * The model: a thin layer over models/nets (ResNet18-1D + heads + the ETP
 * training step + checkpoints). Nothing numeric happens here.
 * --------------------------------------------------------------------- */

typedef struct
{
  guint leads, length, sample_rate, text_dim, embed_dim, width;
  gdouble temperature;
  gboolean learn_temperature;
  guint64 seed;
  gint device;                  /* EtpTrainDevice */
  guint threads;
  gdouble weight_decay;
  gboolean adamw;
  guint max_batch;
  const gchar *from_path;       /* checkpoint to start from, or NULL */
  gboolean resume;              /* from_path with optimiser state + counters */
  const gchar *optimizer_name, *schedule_name;
} EtpTrainModelConfig;

typedef struct
{
  gfloat loss, clip_loss, ssl_loss, temperature;
} EtpTrainStepResult;

typedef struct
{
  EtpBackend *be;
  EtpResnet1d *net;
  EtpTrainModelConfig cfg;
  gint logit_scale_index;
  gchar *optimizer_name, *schedule_name;
  /* from a resumed checkpoint */
  guint64 epochs_done, steps_done, steps_per_epoch;
  gdouble best_val_loss;        /* +inf when none recorded */
} EtpTrainModel;

static void
etp_train_model_free (EtpTrainModel * tm)
{
  if (tm == NULL)
    return;
  if (tm->net)
    etp_resnet1d_free (tm->net);
  if (tm->be)
    etp_backend_free (tm->be);
  g_free (tm->optimizer_name);
  g_free (tm->schedule_name);
  g_free (tm);
}

static guint64
meta_u64 (EtpSafetensors * st, const gchar * key)
{
  const gchar *v = etp_safetensors_get_metadata (st, key);

  return v ? g_ascii_strtoull (v, NULL, 10) : 0;
}

static EtpTrainModel *
etp_train_model_new (const EtpTrainModelConfig * cfg, GError ** error)
{
  EtpTrainModel *tm = g_new0 (EtpTrainModel, 1);
  EtpResnet1dConfig rc;
  EtpSafetensors *st = NULL;
  EtpTrainParams *tp;
  EtpDeviceKind kind = cfg->device == ETP_TRAIN_DEVICE_CPU ? ETP_DEVICE_CPU :
      cfg->device == ETP_TRAIN_DEVICE_CUDA ? ETP_DEVICE_CUDA : ETP_DEVICE_AUTO;

  tm->cfg = *cfg;
  tm->cfg.from_path = NULL;
  tm->logit_scale_index = -1;
  tm->best_val_loss = INFINITY;

  etp_resnet1d_config_init (&rc);
  rc.leads = cfg->leads;
  rc.width = cfg->width;
  rc.embed_dim = cfg->embed_dim;
  rc.text_dim = cfg->text_dim;
  rc.sample_rate = cfg->sample_rate;
  rc.length = cfg->length;

  if (cfg->from_path) {
    EtpResnet1dConfig fc;
    st = etp_safetensors_open (cfg->from_path, error);
    if (st == NULL)
      goto fail;
    if (!etp_checkpoint_read_config (st, &fc, error))
      goto fail;
    if (fc.leads != cfg->leads || fc.text_dim != cfg->text_dim) {
      g_set_error (error, ETP_ERROR, ETP_ERROR_MISMATCH,
          "%s: a model of %u leads and %u-d text features, the stream has "
          "%u leads and %u-d text features", cfg->from_path, fc.leads,
          fc.text_dim, cfg->leads, cfg->text_dim);
      goto fail;
    }
    if (cfg->resume && fc.sample_rate != 0 && fc.sample_rate
        != cfg->sample_rate) {
      g_set_error (error, ETP_ERROR, ETP_ERROR_MISMATCH,
          "%s: trained at %u Hz, the stream is at %u Hz", cfg->from_path,
          fc.sample_rate, cfg->sample_rate);
      goto fail;
    }
    /* The checkpoint decides the network's shape. */
    rc.width = fc.width;
    rc.embed_dim = fc.embed_dim;
    tm->cfg.width = fc.width;
    tm->cfg.embed_dim = fc.embed_dim;
  }

  tm->be = etp_backend_new (kind, (int) cfg->threads, error);
  if (tm->be == NULL)
    goto fail;
  tm->net = etp_resnet1d_new (tm->be, &rc, cfg->seed, error);
  if (tm->net == NULL)
    goto fail;
  tm->logit_scale_index = etp_resnet1d_find_tensor (tm->net, "logit_scale");

  if (st) {
    if (!etp_checkpoint_load_into (tm->net, st, cfg->resume, error))
      goto fail;
    if (cfg->resume) {
      tm->epochs_done = meta_u64 (st, "train_epochs_done");
      tm->steps_done = meta_u64 (st, "train_steps_done");
      tm->steps_per_epoch = meta_u64 (st, "train_steps_per_epoch");
      {
        const gchar *b = etp_safetensors_get_metadata (st,
            "train_best_val_loss");
        if (b && *b)
          tm->best_val_loss = g_ascii_strtod (b, NULL);
      }
      if (tm->steps_done == 0)
        tm->steps_done = (guint64) MAX (etp_resnet1d_get_step (tm->net), 0);
    }
  } else if (tm->logit_scale_index >= 0) {
    gfloat ls = (gfloat) log (1.0 / cfg->temperature);
    etp_resnet1d_write_tensor (tm->net, (guint) tm->logit_scale_index,
        ETP_SLOT_VALUE, &ls);
  }

  tp = etp_resnet1d_train_params (tm->net);
  tp->learn_temperature = cfg->learn_temperature;
  tp->adam.weight_decay = (gfloat) cfg->weight_decay;
  tp->adam.decoupled = cfg->adamw;
  tm->optimizer_name = g_strdup (cfg->optimizer_name);
  tm->schedule_name = g_strdup (cfg->schedule_name);

  if (st)
    etp_safetensors_free (st);
  return tm;

fail:
  if (st)
    etp_safetensors_free (st);
  etp_train_model_free (tm);
  return NULL;
}

static const gchar *
etp_train_model_device_name (EtpTrainModel * tm)
{
  return etp_backend_name (tm->be);
}

static guint
etp_train_model_embed_dim (EtpTrainModel * tm)
{
  return etp_resnet1d_get_config (tm->net)->embed_dim;
}

static gdouble
etp_train_model_temperature (EtpTrainModel * tm)
{
  gfloat ls = 0.0f;

  if (tm->logit_scale_index < 0)
    return tm->cfg.temperature;
  etp_resnet1d_read_tensor (tm->net, (guint) tm->logit_scale_index,
      ETP_SLOT_VALUE, &ls);
  return exp (-(gdouble) ls);
}

/* One optimiser step on n windows (host, channel-major) and their text. */
static gboolean
etp_train_model_step (EtpTrainModel * tm, const gfloat * x,
    const gfloat * x2, const gfloat * text, guint n, gdouble lr,
    gdouble ssl_weight, EtpTrainStepResult * res, GError ** error)
{
  EtpTrainParams *tp = etp_resnet1d_train_params (tm->net);
  EtpTrainResult r;

  tp->adam.lr = (gfloat) lr;
  tp->ssl_weight = (gfloat) ssl_weight;
  memset (&r, 0, sizeof r);
  if (!etp_resnet1d_train_step (tm->net, n, tm->cfg.length, x, x2, text, &r,
          error))
    return FALSE;
  res->loss = r.loss;
  res->clip_loss = r.loss_text;
  res->ssl_loss = r.loss_ssl;
  res->temperature = (gfloat) exp (-(gdouble) r.logit_scale);
  return TRUE;
}

/* L2-normalised ECG and text embeddings (eval mode), in chunks. */
static gboolean
etp_train_model_embed (EtpTrainModel * tm, const gfloat * x,
    const gfloat * text, guint n, gfloat * emb_ecg, gfloat * emb_text,
    GError ** error)
{
  guint E = etp_train_model_embed_dim (tm), i;
  gsize win = (gsize) tm->cfg.leads * tm->cfg.length;
  guint chunk = MAX (tm->cfg.max_batch, 1);

  for (i = 0; i < n; i += chunk) {
    guint m = MIN (chunk, n - i);
    if (!etp_resnet1d_forward_eval (tm->net, m, tm->cfg.length,
            x + (gsize) i * win, NULL, emb_ecg + (gsize) i * E, error))
      return FALSE;
    if (!etp_resnet1d_project_text (tm->net, m,
            text + (gsize) i * tm->cfg.text_dim, emb_text + (gsize) i * E,
            error))
      return FALSE;
  }
  return TRUE;
}

static gboolean
etp_train_model_save (EtpTrainModel * tm, const gchar * path,
    guint epochs_done, guint64 steps_done, guint64 steps_per_epoch,
    gdouble best_val_loss, GError ** error)
{
  EtpCheckpointSaveOptions opts;
  gchar *e = g_strdup_printf ("%u", epochs_done);
  gchar *s = g_strdup_printf ("%" G_GUINT64_FORMAT, steps_done);
  gchar *spe = g_strdup_printf ("%" G_GUINT64_FORMAT, steps_per_epoch);
  gchar *seed = g_strdup_printf ("%" G_GUINT64_FORMAT, tm->cfg.seed);
  gchar *temp = g_strdup_printf ("%.6g", etp_train_model_temperature (tm));
  gchar best[G_ASCII_DTOSTR_BUF_SIZE] = "";
  const gchar *extra[] = {
    "trainer", "etptrain",
    "train_epochs_done", e,
    "train_steps_done", s,
    "train_steps_per_epoch", spe,
    "train_seed", seed,
    "train_optimizer", tm->optimizer_name ? tm->optimizer_name : "adam",
    "train_schedule", tm->schedule_name ? tm->schedule_name : "constant",
    "train_learn_temperature", tm->cfg.learn_temperature ? "true" : "false",
    "temperature", temp,
    isfinite (best_val_loss) ? "train_best_val_loss" : NULL, best,
    NULL
  };
  gboolean ok;

  if (isfinite (best_val_loss))
    g_ascii_dtostr (best, sizeof best, best_val_loss);
  memset (&opts, 0, sizeof opts);
  opts.storage = ETP_ST_F32;
  opts.with_optimizer = TRUE;
  opts.extra_metadata = extra;
  ok = etp_checkpoint_save (tm->net, path, &opts, error);
  g_free (e);
  g_free (s);
  g_free (spe);
  g_free (seed);
  g_free (temp);
  return ok;
}

GST_DEBUG_CATEGORY_STATIC (etp_train_debug);
#define GST_CAT_DEFAULT etp_train_debug

#define DEFAULT_BATCH_SIZE 128
#define DEFAULT_EPOCHS 50
#define DEFAULT_LEARNING_RATE 2e-3
#define DEFAULT_MIN_LEARNING_RATE 0.0
#define DEFAULT_WEIGHT_DECAY 1e-5
#define DEFAULT_OPTIMIZER ETP_TRAIN_OPTIMIZER_ADAM
#define DEFAULT_SCHEDULE ETP_TRAIN_SCHEDULE_CONSTANT
#define DEFAULT_WARMUP_STEPS 0
#define DEFAULT_STEPS_PER_EPOCH 0
#define DEFAULT_TEMPERATURE 0.07
#define DEFAULT_LEARN_TEMPERATURE FALSE
#define DEFAULT_SSL_WEIGHT 1.0
#define DEFAULT_EMBED_DIM 512
#define DEFAULT_WIDTH 64
#define DEFAULT_SEED 42
#define DEFAULT_DEVICE ETP_TRAIN_DEVICE_AUTO
#define DEFAULT_DROP_LAST FALSE
#define DEFAULT_THREADS 0
#define DEFAULT_UNPAIRED ETP_TRAIN_UNPAIRED_ERROR

/* The values of the src pad's per-step vector. */
#define ETP_TRAIN_OUT_DIM 4

enum
{
  PROP_0,
  PROP_BATCH_SIZE,
  PROP_EPOCHS,
  PROP_LEARNING_RATE,
  PROP_MIN_LEARNING_RATE,
  PROP_WEIGHT_DECAY,
  PROP_OPTIMIZER,
  PROP_SCHEDULE,
  PROP_WARMUP_STEPS,
  PROP_STEPS_PER_EPOCH,
  PROP_TEMPERATURE,
  PROP_LEARN_TEMPERATURE,
  PROP_SSL_WEIGHT,
  PROP_EMBED_DIM,
  PROP_WIDTH,
  PROP_TEXT_DIM,
  PROP_CHECKPOINT,
  PROP_RESUME,
  PROP_INIT_CHECKPOINT,
  PROP_SEED,
  PROP_DEVICE,
  PROP_THREADS,
  PROP_DROP_LAST,
  PROP_UNPAIRED,
  PROP_BEST_CHECKPOINT,
  PROP_EPOCHS_DONE,
  PROP_STEPS_DONE,
};

struct _GstEtpTrain
{
  GstAggregator parent;

  GstAggregatorPad *ecg_pad;
  GstAggregatorPad *text_pad;
  GstAggregatorPad *view2_pad;  /* request pads: NULL unless requested */
  GstAggregatorPad *val_ecg_pad;
  GstAggregatorPad *val_text_pad;

  /* properties (object lock) */
  guint batch_size;
  guint epochs;
  gdouble learning_rate;
  gdouble min_learning_rate;
  gdouble weight_decay;
  EtpTrainOptimizer optimizer;
  EtpTrainSchedule schedule;
  guint warmup_steps;
  guint64 steps_per_epoch_prop;
  gdouble temperature;
  gboolean learn_temperature;
  gdouble ssl_weight;
  guint embed_dim;
  guint width;
  guint text_dim_prop;
  gchar *checkpoint;
  gchar *best_checkpoint;
  gchar *resume;
  gchar *init_checkpoint;
  guint64 seed;
  EtpTrainDevice device;
  guint threads;
  gboolean drop_last;
  EtpTrainUnpaired unpaired;

  /* stream facts (streaming thread) */
  gint rate, channels;          /* ecg pad caps */
  gint view2_rate, view2_channels;
  gint val_rate, val_channels;
  guint text_dim;               /* text pad caps */
  guint val_text_dim;
  guint length;                 /* samples per window, from the first window */

  /* the batch being filled: channel-major windows (n, C, L), text (n, D) */
  gfloat *b_ecg, *b_view2, *b_text;
  guint b_cap, b_n;
  gboolean b_view2_used;

  /* validation set, in arrival order */
  GArray *val_ecg;              /* floats, (n, C, L) */
  GArray *val_text;             /* floats, (n, D) */
  guint val_n;
  guint val_length;
  gboolean val_complete;

  /* counters */
  guint epochs_done;            /* completed epochs, resumed ones included */
  guint64 steps_done;           /* optimiser steps, resumed ones included */
  guint64 steps_per_epoch;      /* learned at the first epoch end (or resumed) */
  gint64 cur_meta_epoch;        /* meta epoch field of the epoch in progress, -1 */
  guint64 epoch_steps, epoch_windows, epoch_dropped, epoch_unpaired;
  guint val_unpaired;
  gdouble epoch_loss_sum;        /* sum of step loss x step windows */
  guint64 epoch_loss_windows;
  gint64 t_epoch_start, t_last_step;
  gdouble step_seconds_ema;
  gdouble ecg_rate_ema;

  EtpTrainModel *model;
  gdouble best_val_loss;
  gboolean failed;
  gboolean finished;
  gboolean resumed;
};

#define gst_etp_train_parent_class parent_class
G_DEFINE_TYPE (GstEtpTrain, gst_etp_train, GST_TYPE_AGGREGATOR);
GST_ELEMENT_REGISTER_DEFINE (etptrain, "etptrain", GST_RANK_NONE,
    ETP_TYPE_ETP_TRAIN);

static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE ("src",
    GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS (ETP_TENSOR_CAPS_STR));
static GstStaticPadTemplate ecg_template = GST_STATIC_PAD_TEMPLATE ("ecg",
    GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS (ETP_ECG_CAPS_STR));
static GstStaticPadTemplate text_template = GST_STATIC_PAD_TEMPLATE ("text",
    GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS (ETP_TENSOR_CAPS_STR));
static GstStaticPadTemplate view2_template =
GST_STATIC_PAD_TEMPLATE ("ecg_view2", GST_PAD_SINK, GST_PAD_REQUEST,
    GST_STATIC_CAPS (ETP_ECG_CAPS_STR));
static GstStaticPadTemplate val_ecg_template =
GST_STATIC_PAD_TEMPLATE ("val_ecg", GST_PAD_SINK, GST_PAD_REQUEST,
    GST_STATIC_CAPS (ETP_ECG_CAPS_STR));
static GstStaticPadTemplate val_text_template =
GST_STATIC_PAD_TEMPLATE ("val_text", GST_PAD_SINK, GST_PAD_REQUEST,
    GST_STATIC_CAPS (ETP_TENSOR_CAPS_STR));

/* ------------------------------------------------------------ enum types */

static GType
etp_train_optimizer_get_type (void)
{
  static GType type = 0;
  static const GEnumValue values[] = {
    {ETP_TRAIN_OPTIMIZER_ADAM, "Adam, weight decay as an L2 term in the "
          "gradient (torch.optim.Adam; the paper)", "adam"},
    {ETP_TRAIN_OPTIMIZER_ADAMW, "AdamW, decoupled weight decay "
          "(torch.optim.AdamW)", "adamw"},
    {0, NULL, NULL}
  };

  if (g_once_init_enter (&type)) {
    GType t = g_type_from_name ("EtpTrainOptimizer");
    if (t == 0)
      t = g_enum_register_static ("EtpTrainOptimizer", values);
    g_once_init_leave (&type, t);
  }
  return type;
}

static GType
etp_train_schedule_get_type (void)
{
  static GType type = 0;
  static const GEnumValue values[] = {
    {ETP_TRAIN_SCHEDULE_CONSTANT, "Constant learning rate (after the "
          "warm-up)", "constant"},
    {ETP_TRAIN_SCHEDULE_COSINE, "Cosine decay from learning-rate to "
          "min-learning-rate over the total steps (after the warm-up)",
        "cosine"},
    {0, NULL, NULL}
  };

  if (g_once_init_enter (&type)) {
    GType t = g_type_from_name ("EtpTrainSchedule");
    if (t == 0)
      t = g_enum_register_static ("EtpTrainSchedule", values);
    g_once_init_leave (&type, t);
  }
  return type;
}

static GType
etp_train_unpaired_get_type (void)
{
  static GType type = 0;
  static const GEnumValue values[] = {
    {ETP_TRAIN_UNPAIRED_ERROR, "An ECG window whose text is not the next "
          "text buffer is an error naming both records", "error"},
    {ETP_TRAIN_UNPAIRED_DROP_ECG, "Drop ECG windows that have no text (the "
          "text branch skipped them, e.g. textencoder missing-report=skip); "
          "counted in the epoch messages. The text stream must still be in "
          "the ECG stream's order", "drop-ecg"},
    {0, NULL, NULL}
  };

  if (g_once_init_enter (&type)) {
    GType t = g_type_from_name ("EtpTrainUnpaired");
    if (t == 0)
      t = g_enum_register_static ("EtpTrainUnpaired", values);
    g_once_init_leave (&type, t);
  }
  return type;
}

static GType
etp_train_device_get_type (void)
{
  static GType type = 0;
  static const GEnumValue values[] = {
    {ETP_TRAIN_DEVICE_AUTO, "CUDA when built in and a GPU is present, else "
          "the CPU", "auto"},
    {ETP_TRAIN_DEVICE_CPU, "CPU (OpenBLAS)", "cpu"},
    {ETP_TRAIN_DEVICE_CUDA, "CUDA GPU (error when none is available)",
        "cuda"},
    {0, NULL, NULL}
  };

  if (g_once_init_enter (&type)) {
    GType t = g_type_from_name ("EtpTrainDevice");
    if (t == 0)
      t = g_enum_register_static ("EtpTrainDevice", values);
    g_once_init_leave (&type, t);
  }
  return type;
}

/* ------------------------------------------------------------- helpers */

static const gchar *
pad_role (GstEtpTrain * self, GstAggregatorPad * pad)
{
  if (pad == self->ecg_pad)
    return "ecg";
  if (pad == self->text_pad)
    return "text";
  if (pad == self->view2_pad)
    return "ecg_view2";
  if (pad == self->val_ecg_pad)
    return "val_ecg";
  if (pad == self->val_text_pad)
    return "val_text";
  return "?";
}

static const gchar *
meta_record (const EtpEcgMeta * m)
{
  return (m && m->record_id) ? m->record_id : "(none)";
}

static guint
meta_window (const EtpEcgMeta * m)
{
  return m ? m->window_index : 0;
}

/* Frees the training state that belongs to one run (not the properties). */
static void
etp_train_reset (GstEtpTrain * self)
{
  g_clear_pointer (&self->model, etp_train_model_free);
  g_clear_pointer (&self->b_ecg, g_free);
  g_clear_pointer (&self->b_view2, g_free);
  g_clear_pointer (&self->b_text, g_free);
  self->b_cap = self->b_n = 0;
  self->b_view2_used = FALSE;
  if (self->val_ecg)
    g_array_set_size (self->val_ecg, 0);
  if (self->val_text)
    g_array_set_size (self->val_text, 0);
  self->val_n = 0;
  self->val_length = 0;
  self->val_complete = FALSE;
  self->rate = self->channels = 0;
  self->view2_rate = self->view2_channels = 0;
  self->val_rate = self->val_channels = 0;
  self->text_dim = self->val_text_dim = 0;
  self->length = 0;
  self->epochs_done = 0;
  self->steps_done = 0;
  self->steps_per_epoch = 0;
  self->cur_meta_epoch = -1;
  self->epoch_steps = self->epoch_windows = self->epoch_dropped = 0;
  self->epoch_unpaired = 0;
  self->val_unpaired = 0;
  self->epoch_loss_sum = 0.0;
  self->epoch_loss_windows = 0;
  self->t_epoch_start = self->t_last_step = 0;
  self->step_seconds_ema = 0.0;
  self->ecg_rate_ema = 0.0;
  self->best_val_loss = INFINITY;
  self->failed = FALSE;
  self->finished = FALSE;
  self->resumed = FALSE;
}

/* Copies an interleaved (L, C) window into channel-major (C, L) storage,
 * refusing NaN / infinity. Returns FALSE on a non-finite sample. */
static gboolean
deinterleave (const gfloat * src, guint length, guint channels, gfloat * dst)
{
  guint t, c;

  for (t = 0; t < length; t++) {
    for (c = 0; c < channels; c++) {
      gfloat v = src[(gsize) t * channels + c];
      if (!isfinite (v))
        return FALSE;
      dst[(gsize) c * length + t] = v;
    }
  }
  return TRUE;
}

static gboolean
copy_finite (const gfloat * src, guint n, gfloat * dst)
{
  guint i;

  for (i = 0; i < n; i++) {
    if (!isfinite (src[i]))
      return FALSE;
    dst[i] = src[i];
  }
  return TRUE;
}

/* -------------------------------------------------------------- schedule */

static guint64
etp_train_known_steps_per_epoch (GstEtpTrain * self)
{
  if (self->steps_per_epoch_prop > 0)
    return self->steps_per_epoch_prop;
  return self->steps_per_epoch;
}

static guint64
etp_train_total_steps (GstEtpTrain * self)
{
  guint64 spe = etp_train_known_steps_per_epoch (self);

  return spe > 0 ? spe * self->epochs : 0;
}

/* Learning rate of the 1-based optimiser step @step. */
static gdouble
etp_train_lr_at (GstEtpTrain * self, guint64 step)
{
  gdouble base = self->learning_rate, lo = self->min_learning_rate;
  guint64 total, warm = self->warmup_steps;

  if (warm > 0 && step <= warm)
    return base * (gdouble) step / (gdouble) warm;
  if (self->schedule != ETP_TRAIN_SCHEDULE_COSINE)
    return base;
  total = etp_train_total_steps (self);
  if (total == 0 || total <= warm)
    return base;                /* first epoch without steps-per-epoch */
  {
    gdouble p = (gdouble) (step - warm) / (gdouble) (total - warm);
    p = CLAMP (p, 0.0, 1.0);
    return lo + (base - lo) * 0.5 * (1.0 + cos (G_PI * p));
  }
}

/* -------------------------------------------------------------- messages */

static void
etp_train_post (GstEtpTrain * self, GstStructure * s)
{
  gst_element_post_message (GST_ELEMENT (self),
      gst_message_new_element (GST_OBJECT (self), s));
}

/* ------------------------------------------------------------ the model */

static gboolean
etp_train_ensure_model (GstEtpTrain * self)
{
  EtpTrainModelConfig cfg;
  GError *err = NULL;
  gchar *resume, *init;
  GEnumValue *ev;

  if (self->model)
    return TRUE;

  memset (&cfg, 0, sizeof cfg);
  GST_OBJECT_LOCK (self);
  cfg.leads = (guint) self->channels;
  cfg.length = self->length;
  cfg.sample_rate = (guint) self->rate;
  cfg.text_dim = self->text_dim;
  cfg.embed_dim = self->embed_dim;
  cfg.width = self->width;
  cfg.temperature = self->temperature;
  cfg.learn_temperature = self->learn_temperature;
  cfg.seed = self->seed;
  cfg.device = (gint) self->device;
  cfg.threads = self->threads;
  cfg.weight_decay = self->weight_decay;
  cfg.adamw = self->optimizer == ETP_TRAIN_OPTIMIZER_ADAMW;
  cfg.max_batch = self->batch_size;
  resume = g_strdup (self->resume);
  init = g_strdup (self->init_checkpoint);
  ev = g_enum_get_value (g_type_class_peek (etp_train_optimizer_get_type ()),
      self->optimizer);
  cfg.optimizer_name = ev ? ev->value_nick : NULL;
  ev = g_enum_get_value (g_type_class_peek (etp_train_schedule_get_type ()),
      self->schedule);
  cfg.schedule_name = ev ? ev->value_nick : NULL;
  GST_OBJECT_UNLOCK (self);

  if (resume && *resume) {
    cfg.from_path = resume;
    cfg.resume = TRUE;
  } else if (init && *init) {
    cfg.from_path = init;
  }

  self->model = etp_train_model_new (&cfg, &err);
  if (self->model == NULL) {
    if (cfg.from_path)
      GST_ELEMENT_ERROR (self, RESOURCE, READ,
          ("Could not %s from checkpoint '%s'.",
              cfg.resume ? "resume" : "initialise", cfg.from_path),
          ("%s", err ? err->message : "unknown error"));
    else
      GST_ELEMENT_ERROR (self, RESOURCE, FAILED,
          ("Could not create the ResNet18-1D model for training."),
          ("%s", err ? err->message : "unknown error"));
    g_clear_error (&err);
    g_free (resume);
    g_free (init);
    return FALSE;
  }
  GST_INFO_OBJECT (self, "model on %s: %u leads x %u samples at %u Hz, "
      "text %u -> %u", etp_train_model_device_name (self->model), cfg.leads,
      cfg.length, cfg.sample_rate, cfg.text_dim,
      etp_train_model_embed_dim (self->model));

  if (cfg.resume) {
    self->epochs_done = (guint) self->model->epochs_done;
    self->steps_done = self->model->steps_done;
    if (self->steps_per_epoch == 0)
      self->steps_per_epoch = self->model->steps_per_epoch;
    self->resumed = TRUE;
    self->best_val_loss = self->model->best_val_loss;
    GST_INFO_OBJECT (self, "resumed from %s: %u epochs, %" G_GUINT64_FORMAT
        " steps done", resume, self->epochs_done, self->steps_done);
    etp_train_post (self, gst_structure_new ("etp-train",
            "event", G_TYPE_STRING, "resumed",
            "checkpoint", G_TYPE_STRING, resume,
            "epoch", G_TYPE_UINT, self->epochs_done,
            "step", G_TYPE_UINT64, self->steps_done, NULL));
  }
  etp_train_post (self, gst_structure_new ("etp-train",
          "event", G_TYPE_STRING, "start",
          "device", G_TYPE_STRING, etp_train_model_device_name (self->model),
          "leads", G_TYPE_UINT, cfg.leads,
          "length", G_TYPE_UINT, cfg.length,
          "rate", G_TYPE_UINT, cfg.sample_rate,
          "text-dim", G_TYPE_UINT, cfg.text_dim,
          "embed-dim", G_TYPE_UINT, etp_train_model_embed_dim (self->model),
          "batch-size", G_TYPE_UINT, cfg.max_batch,
          "epochs", G_TYPE_UINT, self->epochs,
          "epochs-done", G_TYPE_UINT, self->epochs_done, NULL));
  g_free (resume);
  g_free (init);
  return TRUE;
}

/* ------------------------------------------------------------ the steps */

static gboolean
etp_train_ensure_batch (GstEtpTrain * self)
{
  gsize win = (gsize) self->channels * self->length;

  if (self->b_ecg)
    return TRUE;
  self->b_cap = self->batch_size;
  self->b_ecg = g_try_new (gfloat, win * self->b_cap);
  self->b_view2 = g_try_new (gfloat, win * self->b_cap);
  self->b_text = g_try_new (gfloat, (gsize) self->text_dim * self->b_cap);
  if (!self->b_ecg || !self->b_view2 || !self->b_text) {
    GST_ELEMENT_ERROR (self, RESOURCE, NO_SPACE_LEFT,
        ("Out of memory for a batch of %u windows.", self->b_cap),
        ("%u leads x %u samples", self->channels, self->length));
    return FALSE;
  }
  return TRUE;
}

/* Runs one optimiser step on the batch held (b_n >= 2 windows). */
static gboolean
etp_train_do_step (GstEtpTrain * self)
{
  EtpTrainStepResult res;
  GError *err = NULL;
  guint64 step = self->steps_done + 1, total, spe;
  gdouble lr = etp_train_lr_at (self, step);
  gdouble ssl = (self->b_view2_used ? self->ssl_weight : 0.0);
  gint64 now;
  gdouble dt;
  GstBuffer *out;
  GstMapInfo map;
  gdouble eta = -1.0;

  memset (&res, 0, sizeof res);
  if (!etp_train_model_step (self->model, self->b_ecg,
          self->b_view2_used ? self->b_view2 : NULL, self->b_text,
          self->b_n, lr, ssl, &res, &err)) {
    GST_ELEMENT_ERROR (self, LIBRARY, FAILED,
        ("Training step %" G_GUINT64_FORMAT " failed.", step),
        ("%s", err ? err->message : "unknown error"));
    g_clear_error (&err);
    return FALSE;
  }
  if (!isfinite (res.loss)) {
    GST_ELEMENT_ERROR (self, STREAM, FAILED,
        ("Training diverged: the loss of step %" G_GUINT64_FORMAT
            " is not finite.", step),
        ("learning rate %g; lower learning-rate or add warmup-steps", lr));
    return FALSE;
  }

  now = g_get_monotonic_time ();
  dt = (now - self->t_last_step) / 1e6;
  self->t_last_step = now;
  if (dt > 0) {
    gdouble r = self->b_n / dt;
    self->ecg_rate_ema = self->ecg_rate_ema > 0 ?
        0.8 * self->ecg_rate_ema + 0.2 * r : r;
    self->step_seconds_ema = self->step_seconds_ema > 0 ?
        0.8 * self->step_seconds_ema + 0.2 * dt : dt;
  }

  self->steps_done = step;
  self->epoch_steps++;
  self->epoch_loss_sum += (gdouble) res.loss * self->b_n;
  self->epoch_loss_windows += self->b_n;
  spe = etp_train_known_steps_per_epoch (self);
  total = etp_train_total_steps (self);
  if (total > 0 && self->step_seconds_ema > 0)
    eta = (total > step ? total - step : 0) * self->step_seconds_ema;

  {
    GstStructure *s = gst_structure_new ("etp-train",
        "event", G_TYPE_STRING, "step",
        "epoch", G_TYPE_UINT, self->epochs_done + 1,
        "epochs", G_TYPE_UINT, self->epochs,
        "step", G_TYPE_UINT64, step,
        "epoch-step", G_TYPE_UINT64, self->epoch_steps,
        "steps-per-epoch", G_TYPE_UINT64, spe,
        "total-steps", G_TYPE_UINT64, total,
        "batch", G_TYPE_UINT, self->b_n,
        "loss", G_TYPE_DOUBLE, (gdouble) res.loss,
        "clip-loss", G_TYPE_DOUBLE, (gdouble) res.clip_loss,
        "learning-rate", G_TYPE_DOUBLE, lr,
        "temperature", G_TYPE_DOUBLE, (gdouble) res.temperature,
        "ecg-per-second", G_TYPE_DOUBLE, self->ecg_rate_ema,
        "eta", G_TYPE_DOUBLE, eta, NULL);
    if (self->b_view2_used)
      gst_structure_set (s, "ssl-loss", G_TYPE_DOUBLE,
          (gdouble) res.ssl_loss, NULL);
    etp_train_post (self, s);
  }

  /* The per-step vector on the src pad. */
  out = gst_buffer_new_allocate (NULL, ETP_TRAIN_OUT_DIM * sizeof (gfloat),
      NULL);
  if (out && gst_buffer_map (out, &map, GST_MAP_WRITE)) {
    gfloat *v = (gfloat *) map.data;
    GstFlowReturn fr;
    v[0] = (gfloat) (self->epochs_done + 1);
    v[1] = (gfloat) step;
    v[2] = res.loss;
    v[3] = (gfloat) lr;
    gst_buffer_unmap (out, &map);
    GST_BUFFER_OFFSET (out) = step - 1;
    fr = gst_aggregator_finish_buffer (GST_AGGREGATOR (self), out);
    if (fr != GST_FLOW_OK && fr != GST_FLOW_NOT_LINKED)
      GST_DEBUG_OBJECT (self, "src push: %s", gst_flow_get_name (fr));
  } else if (out) {
    gst_buffer_unref (out);
  }

  self->b_n = 0;
  self->b_view2_used = FALSE;
  return TRUE;
}

/* ------------------------------------------------------------ validation */

typedef struct
{
  gdouble loss;
  gdouble top1, top5;
  gdouble major1, major5;       /* a constant guess: the 1 / 5 most frequent */
  guint n, reports;
} EtpValResult;

static gint
cmp_uint_desc (gconstpointer a, gconstpointer b)
{
  guint x = *(const guint *) a, y = *(const guint *) b;
  return x < y ? 1 : x > y ? -1 : 0;
}

/* Symmetric InfoNCE over the rows [0, n) of normalised embeddings e, t
 * (n, E) with scale s; host-side, for validation. */
static gdouble
clip_loss_host (const gfloat * e, const gfloat * t, guint n, guint dim,
    gdouble scale, gdouble * row_buf)
{
  gdouble loss = 0.0;
  guint i, j, k, pass;

  for (pass = 0; pass < 2; pass++) {
    const gfloat *a = pass == 0 ? e : t, *b = pass == 0 ? t : e;
    for (i = 0; i < n; i++) {
      gdouble mx = -G_MAXDOUBLE, sum = 0.0;
      for (j = 0; j < n; j++) {
        gdouble d = 0.0;
        for (k = 0; k < dim; k++)
          d += (gdouble) a[(gsize) i * dim + k] * b[(gsize) j * dim + k];
        row_buf[j] = d * scale;
        if (row_buf[j] > mx)
          mx = row_buf[j];
      }
      for (j = 0; j < n; j++)
        sum += exp (row_buf[j] - mx);
      loss += -(row_buf[i] - mx - log (sum));
    }
  }
  return loss / (2.0 * n);
}

static gboolean
etp_train_validate (GstEtpTrain * self, EtpValResult * r)
{
  guint n = self->val_n, E, D = self->text_dim, i, j, k, chunk;
  gfloat *emb_e = NULL, *emb_t = NULL;
  gint *uniq_of = NULL;
  guint *uniq_rows = NULL, n_uniq = 0, hits1 = 0, hits5 = 0;
  GHashTable *seen = NULL;
  gdouble scale, loss_sum = 0.0, *row_buf = NULL;
  guint loss_n = 0;
  GError *err = NULL;
  gboolean ok = FALSE;

  memset (r, 0, sizeof *r);
  if (n == 0)
    return TRUE;
  E = etp_train_model_embed_dim (self->model);
  emb_e = g_try_new (gfloat, (gsize) n * E);
  emb_t = g_try_new (gfloat, (gsize) n * E);
  if (!emb_e || !emb_t) {
    GST_ELEMENT_ERROR (self, RESOURCE, NO_SPACE_LEFT,
        ("Out of memory for the embeddings of %u validation windows.", n),
        (NULL));
    goto done;
  }
  if (!etp_train_model_embed (self->model,
          (const gfloat *) self->val_ecg->data,
          (const gfloat *) self->val_text->data, n, emb_e, emb_t, &err)) {
    GST_ELEMENT_ERROR (self, LIBRARY, FAILED,
        ("Validation forward pass failed."), ("%s",
            err ? err->message : "unknown error"));
    g_clear_error (&err);
    goto done;
  }
  scale = 1.0 / etp_train_model_temperature (self->model);

  /* Validation loss: the training loss over batches of batch-size windows
   * in arrival order (a last chunk of one window has no negatives: skipped). */
  chunk = MAX (self->batch_size, 2);
  row_buf = g_new (gdouble, MIN (chunk, n));
  for (i = 0; i < n; i += chunk) {
    guint m = MIN (chunk, n - i);
    if (m < 2)
      continue;
    loss_sum += clip_loss_host (emb_e + (gsize) i * E, emb_t + (gsize) i * E,
        m, E, scale, row_buf) * m;
    loss_n += m;
  }
  r->loss = loss_n ? loss_sum / loss_n : NAN;

  /* ECG -> report retrieval among the DISTINCT reports of the validation set
   * (identical text features = the same report), so that duplicated reports
   * ("sinus rhythm. normal ecg.") do not count as misses. */
  seen = g_hash_table_new_full (g_bytes_hash, g_bytes_equal,
      (GDestroyNotify) g_bytes_unref, NULL);
  uniq_of = g_new (gint, n);
  uniq_rows = g_new (guint, n);
  for (i = 0; i < n; i++) {
    GBytes *key = g_bytes_new (&g_array_index (self->val_text, gfloat,
            (gsize) i * D), (gsize) D * sizeof (gfloat));
    gpointer val;
    if (g_hash_table_lookup_extended (seen, key, NULL, &val)) {
      uniq_of[i] = GPOINTER_TO_INT (val);
      g_bytes_unref (key);
    } else {
      uniq_of[i] = (gint) n_uniq;
      uniq_rows[n_uniq++] = i;
      g_hash_table_insert (seen, key, GINT_TO_POINTER (uniq_of[i]));
    }
  }
  for (i = 0; i < n; i++) {
    const gfloat *e = emb_e + (gsize) i * E;
    gdouble own = 0.0;
    guint better = 0;
    for (k = 0; k < E; k++)
      own += (gdouble) e[k] * emb_t[(gsize) i * E + k];
    for (j = 0; j < n_uniq; j++) {
      const gfloat *t = emb_t + (gsize) uniq_rows[j] * E;
      gdouble d = 0.0;
      if ((gint) j == uniq_of[i])
        continue;
      for (k = 0; k < E; k++)
        d += (gdouble) e[k] * t[k];
      if (d > own)
        better++;
    }
    if (better < 1)
      hits1++;
    if (better < 5)
      hits5++;
  }
  /* The score of a constant answer (always the most frequent report(s)):
   * a skewed report distribution makes it much higher than k / reports. */
  {
    guint *counts = g_new0 (guint, n_uniq), m1 = 0, m5 = 0;
    for (i = 0; i < n; i++)
      counts[uniq_of[i]]++;
    qsort (counts, n_uniq, sizeof (guint), cmp_uint_desc);
    for (j = 0; j < n_uniq && j < 5; j++) {
      if (j == 0)
        m1 = counts[j];
      m5 += counts[j];
    }
    r->major1 = (gdouble) m1 / n;
    r->major5 = (gdouble) m5 / n;
    g_free (counts);
  }
  r->n = n;
  r->reports = n_uniq;
  r->top1 = (gdouble) hits1 / n;
  r->top5 = (gdouble) hits5 / n;
  ok = TRUE;

done:
  if (seen)
    g_hash_table_unref (seen);
  g_free (uniq_of);
  g_free (uniq_rows);
  g_free (row_buf);
  g_free (emb_e);
  g_free (emb_t);
  return ok;
}

/* --------------------------------------------------------- epoch ending */

static gboolean
etp_train_write_checkpoint (GstEtpTrain * self, gboolean best)
{
  GError *err = NULL;
  gchar *path;

  GST_OBJECT_LOCK (self);
  path = g_strdup (best ? self->best_checkpoint : self->checkpoint);
  GST_OBJECT_UNLOCK (self);
  if (path == NULL || *path == '\0') {
    g_free (path);
    return TRUE;
  }
  if (!etp_train_model_save (self->model, path, self->epochs_done,
          self->steps_done, self->steps_per_epoch, self->best_val_loss,
          &err)) {
    GST_ELEMENT_ERROR (self, RESOURCE, WRITE,
        ("Could not write checkpoint '%s'.", path),
        ("%s", err ? err->message : "unknown error"));
    g_clear_error (&err);
    g_free (path);
    return FALSE;
  }
  GST_INFO_OBJECT (self, "checkpoint %s written (epoch %u, step %"
      G_GUINT64_FORMAT ")", path, self->epochs_done, self->steps_done);
  g_free (path);
  return TRUE;
}

/* Ends the epoch in progress: the last partial batch, validation, the
 * checkpoint, the epoch message. Returns GST_FLOW_EOS when the last epoch
 * is done, GST_FLOW_ERROR on failure. */
static GstFlowReturn
etp_train_end_epoch (GstEtpTrain * self)
{
  EtpValResult val;
  gdouble seconds, train_loss;
  GstStructure *s;
  gboolean is_best = FALSE;

  if (self->b_n >= 2 && !self->drop_last) {
    if (!etp_train_do_step (self))
      return GST_FLOW_ERROR;
  } else if (self->b_n > 0) {
    GST_INFO_OBJECT (self, "dropping the last %u window(s) of the epoch",
        self->b_n);
    self->epoch_dropped += self->b_n;
    self->b_n = 0;
    self->b_view2_used = FALSE;
  }
  if (self->epoch_windows == 0) {
    if (self->epoch_unpaired > 0) {
      GST_ELEMENT_ERROR (self, STREAM, FAILED,
          ("None of the %" G_GUINT64_FORMAT " ECG windows of this epoch had "
              "a text.", self->epoch_unpaired),
          ("unpaired=drop-ecg dropped them all: are the reports missing "
              "(ecgsrc compose-report, report=english)?"));
      return GST_FLOW_ERROR;
    }
    return self->epochs_done >= self->epochs ? GST_FLOW_EOS : GST_FLOW_OK;
  }

  self->epochs_done++;
  if (self->steps_per_epoch == 0)
    self->steps_per_epoch = self->epoch_steps;

  memset (&val, 0, sizeof val);
  if (self->val_n > 0 && !etp_train_validate (self, &val))
    return GST_FLOW_ERROR;
  is_best = self->val_n > 0 && isfinite (val.loss)
      && val.loss < self->best_val_loss;
  if (is_best)
    self->best_val_loss = val.loss;
  if (!etp_train_write_checkpoint (self, FALSE))
    return GST_FLOW_ERROR;
  if (is_best && !etp_train_write_checkpoint (self, TRUE))
    return GST_FLOW_ERROR;

  seconds = (g_get_monotonic_time () - self->t_epoch_start) / 1e6;
  train_loss = self->epoch_loss_windows ?
      self->epoch_loss_sum / self->epoch_loss_windows : NAN;
  s = gst_structure_new ("etp-train",
      "event", G_TYPE_STRING, "epoch",
      "epoch", G_TYPE_UINT, self->epochs_done,
      "epochs", G_TYPE_UINT, self->epochs,
      "step", G_TYPE_UINT64, self->steps_done,
      "epoch-steps", G_TYPE_UINT64, self->epoch_steps,
      "windows", G_TYPE_UINT64, self->epoch_windows,
      "dropped", G_TYPE_UINT64, self->epoch_dropped,
      "unpaired", G_TYPE_UINT64, self->epoch_unpaired,
      "train-loss", G_TYPE_DOUBLE, train_loss,
      "temperature", G_TYPE_DOUBLE,
      (gdouble) etp_train_model_temperature (self->model),
      "seconds", G_TYPE_DOUBLE, seconds, NULL);
  if (self->val_n > 0)
    gst_structure_set (s,
        "val-windows", G_TYPE_UINT, val.n,
        "val-unpaired", G_TYPE_UINT, self->val_unpaired,
        "val-reports", G_TYPE_UINT, val.reports,
        "val-loss", G_TYPE_DOUBLE, val.loss,
        "val-top1", G_TYPE_DOUBLE, val.top1,
        "val-top5", G_TYPE_DOUBLE, val.top5,
        "val-chance-top1", G_TYPE_DOUBLE, 1.0 / val.reports,
        "val-chance-top5", G_TYPE_DOUBLE, MIN (5.0 / val.reports, 1.0),
        "val-majority-top1", G_TYPE_DOUBLE, val.major1,
        "val-majority-top5", G_TYPE_DOUBLE, val.major5,
        NULL);
  if (self->checkpoint && *self->checkpoint)
    gst_structure_set (s, "checkpoint", G_TYPE_STRING, self->checkpoint,
        NULL);
  if (self->val_n > 0)
    gst_structure_set (s, "best", G_TYPE_BOOLEAN, is_best, NULL);
  if (is_best && self->best_checkpoint && *self->best_checkpoint)
    gst_structure_set (s, "best-checkpoint", G_TYPE_STRING,
        self->best_checkpoint, NULL);
  GST_INFO_OBJECT (self, "epoch %u done: %" GST_PTR_FORMAT,
      self->epochs_done, s);
  etp_train_post (self, s);

  self->epoch_steps = self->epoch_windows = self->epoch_dropped = 0;
  self->epoch_unpaired = 0;
  self->epoch_loss_sum = 0.0;
  self->epoch_loss_windows = 0;
  self->t_epoch_start = self->t_last_step = g_get_monotonic_time ();

  if (self->epochs_done >= self->epochs) {
    self->finished = TRUE;
    etp_train_post (self, gst_structure_new ("etp-train",
            "event", G_TYPE_STRING, "done",
            "epochs", G_TYPE_UINT, self->epochs_done,
            "step", G_TYPE_UINT64, self->steps_done, NULL));
    return GST_FLOW_EOS;
  }
  return GST_FLOW_OK;
}

/* ------------------------------------------------------------- pairing */

/* TRUE when @b carries the window (record id + index) of @m. */
static gboolean
same_window (GstBuffer * b, const EtpEcgMeta * m)
{
  const EtpEcgMeta *o = b ? etp_buffer_get_ecg_meta (b) : NULL;

  return o && o->record_id && m && m->record_id
      && strcmp (o->record_id, m->record_id) == 0
      && o->window_index == m->window_index;
}

/* Checks that @b (from @pad) carries a window of @ecg_meta; posts an error
 * naming both records otherwise. */
static gboolean
etp_train_check_pair (GstEtpTrain * self, const EtpEcgMeta * ecg_meta,
    GstAggregatorPad * ecg_pad, GstBuffer * b, GstAggregatorPad * pad)
{
  const EtpEcgMeta *m = etp_buffer_get_ecg_meta (b);

  if (m == NULL || m->record_id == NULL) {
    GST_ELEMENT_ERROR (self, STREAM, FORMAT,
        ("A buffer on pad '%s' has no EtpEcgMeta record id; it cannot be "
            "paired with ECG window %u of record '%s'.", pad_role (self, pad),
            meta_window (ecg_meta), meta_record (ecg_meta)),
        ("feed '%s' from the same source as '%s' (tee + queue), through "
            "elements that keep the meta (textencoder, ecgaugment)",
            pad_role (self, pad), pad_role (self, ecg_pad)));
    return FALSE;
  }
  if (g_strcmp0 (m->record_id, ecg_meta->record_id) != 0
      || m->window_index != ecg_meta->window_index) {
    GST_ELEMENT_ERROR (self, STREAM, FAILED,
        ("Bad pairing: ECG window %u of record '%s' (pad '%s') met window "
            "%u of record '%s' (pad '%s').", meta_window (ecg_meta),
            meta_record (ecg_meta), pad_role (self, ecg_pad),
            meta_window (m), meta_record (m), pad_role (self, pad)),
        ("the pads are paired in order by EtpEcgMeta record_id + "
            "window_index; both branches must come from one source through "
            "a tee, without dropping or reordering buffers"));
    return FALSE;
  }
  return TRUE;
}

/* The number of samples of an ECG buffer, checked against the caps and the
 * window length seen so far (0 on error, posted). */
static guint
etp_train_window_len (GstEtpTrain * self, GstAggregatorPad * pad,
    GstBuffer * b, gint channels, guint expect, const EtpEcgMeta * m)
{
  gsize size = gst_buffer_get_size (b);
  gsize frame = (gsize) channels * sizeof (gfloat);

  if (channels <= 0) {
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION,
        ("No caps on pad '%s' before its first buffer.", pad_role (self,
                pad)), (NULL));
    return 0;
  }
  if (size == 0 || size % frame != 0) {
    GST_ELEMENT_ERROR (self, STREAM, FORMAT,
        ("ECG buffer of %" G_GSIZE_FORMAT " bytes on pad '%s' (record '%s') "
            "is not a whole number of %d-lead frames.", size,
            pad_role (self, pad), meta_record (m), channels), (NULL));
    return 0;
  }
  if (expect && size / frame != expect) {
    GST_ELEMENT_ERROR (self, STREAM, FORMAT,
        ("Window length changed: record '%s' window %u on pad '%s' has %"
            G_GSIZE_FORMAT " samples, earlier windows had %u.",
            meta_record (m), meta_window (m), pad_role (self, pad),
            size / frame, expect),
        ("every window must have the same length, rate and lead count; "
            "use ecgwindow before etptrain"));
    return 0;
  }
  if (size / frame > G_MAXINT) {
    GST_ELEMENT_ERROR (self, STREAM, FORMAT, ("Window too long."), (NULL));
    return 0;
  }
  return (guint) (size / frame);
}

static gboolean
etp_train_check_text (GstEtpTrain * self, GstAggregatorPad * pad,
    GstBuffer * b, guint dim, const EtpEcgMeta * m)
{
  gsize size = gst_buffer_get_size (b);

  if (dim == 0) {
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION,
        ("No caps on pad '%s' before its first buffer.", pad_role (self,
                pad)), (NULL));
    return FALSE;
  }
  if (size != (gsize) dim * sizeof (gfloat)) {
    GST_ELEMENT_ERROR (self, STREAM, FORMAT,
        ("Text feature of record '%s' on pad '%s' has %" G_GSIZE_FORMAT
            " bytes, the caps say %u float32 values.", meta_record (m),
            pad_role (self, pad), size, dim), (NULL));
    return FALSE;
  }
  return TRUE;
}

/* ------------------------------------------------------ validation input */

/* Collects what the validation pads hold. Returns FALSE on error. */
static gboolean
etp_train_collect_val (GstEtpTrain * self)
{
  GstAggregatorPad *ve = self->val_ecg_pad, *vt = self->val_text_pad;

  if (self->val_complete)
    return TRUE;
  if (ve == NULL && vt == NULL) {
    self->val_complete = TRUE;
    return TRUE;
  }
  if ((ve == NULL) != (vt == NULL)) {
    GST_ELEMENT_ERROR (self, CORE, PAD,
        ("Only one of the validation pads 'val_ecg' and 'val_text' is "
            "linked."), ("link both (tee + queue from one ecgsrc) or "
            "neither"));
    return FALSE;
  }

  while (gst_aggregator_pad_has_buffer (ve)
      && gst_aggregator_pad_has_buffer (vt)) {
    GstBuffer *eb, *tb;
    const EtpEcgMeta *m;
    GstMapInfo em, tm;
    guint len, win;
    gboolean ok = FALSE;

    if (self->unpaired == ETP_TRAIN_UNPAIRED_DROP_ECG) {
      GstBuffer *pe = gst_aggregator_pad_peek_buffer (ve);
      GstBuffer *pt = gst_aggregator_pad_peek_buffer (vt);
      const EtpEcgMeta *pm = pe ? etp_buffer_get_ecg_meta (pe) : NULL;
      gboolean drop = pm && pm->record_id && !same_window (pt, pm);
      gst_clear_buffer (&pe);
      gst_clear_buffer (&pt);
      if (drop) {
        gst_aggregator_pad_drop_buffer (ve);
        self->val_unpaired++;
        continue;
      }
    }
    eb = gst_aggregator_pad_pop_buffer (ve);
    tb = gst_aggregator_pad_pop_buffer (vt);
    m = eb ? etp_buffer_get_ecg_meta (eb) : NULL;
    if (eb == NULL || tb == NULL) {
      gst_clear_buffer (&eb);
      gst_clear_buffer (&tb);
      break;
    }
    if (m == NULL || m->record_id == NULL) {
      GST_ELEMENT_ERROR (self, STREAM, FORMAT,
          ("A validation ECG buffer has no EtpEcgMeta record id."),
          ("val_ecg must come from ecgsrc (through elements that keep the "
              "meta)"));
      goto next;
    }
    if (!etp_train_check_pair (self, m, ve, tb, vt))
      goto next;
    len = etp_train_window_len (self, ve, eb, self->val_channels,
        self->val_length, m);
    if (len == 0)
      goto next;
    if (!etp_train_check_text (self, vt, tb, self->val_text_dim, m))
      goto next;
    self->val_length = len;
    win = (guint) self->val_channels * len;
    if (!gst_buffer_map (eb, &em, GST_MAP_READ))
      goto next;
    if (!gst_buffer_map (tb, &tm, GST_MAP_READ)) {
      gst_buffer_unmap (eb, &em);
      goto next;
    }
    g_array_set_size (self->val_ecg, (gsize) (self->val_n + 1) * win);
    g_array_set_size (self->val_text,
        (gsize) (self->val_n + 1) * self->val_text_dim);
    if (!deinterleave ((const gfloat *) em.data, len,
            (guint) self->val_channels, &g_array_index (self->val_ecg,
                gfloat, (gsize) self->val_n * win))
        || !copy_finite ((const gfloat *) tm.data, self->val_text_dim,
            &g_array_index (self->val_text, gfloat,
                (gsize) self->val_n * self->val_text_dim))) {
      GST_ELEMENT_ERROR (self, STREAM, FORMAT,
          ("Validation window %u of record '%s' holds NaN or infinite "
              "values.", m->window_index, m->record_id), (NULL));
    } else {
      self->val_n++;
      ok = TRUE;
    }
    gst_buffer_unmap (eb, &em);
    gst_buffer_unmap (tb, &tm);
  next:
    gst_buffer_unref (eb);
    gst_buffer_unref (tb);
    if (!ok)
      return FALSE;
  }

  if (self->unpaired == ETP_TRAIN_UNPAIRED_DROP_ECG
      && gst_aggregator_pad_is_eos (vt)) {
    while (gst_aggregator_pad_drop_buffer (ve))
      self->val_unpaired++;
  }
  if (gst_aggregator_pad_is_eos (ve) && gst_aggregator_pad_is_eos (vt)) {
    self->val_complete = TRUE;
    GST_INFO_OBJECT (self, "validation set: %u windows", self->val_n);
    etp_train_post (self, gst_structure_new ("etp-train",
            "event", G_TYPE_STRING, "validation-set",
            "windows", G_TYPE_UINT, self->val_n,
            "unpaired", G_TYPE_UINT, self->val_unpaired, NULL));
  } else if (gst_aggregator_pad_is_eos (ve)
      && gst_aggregator_pad_has_buffer (vt)) {
    GstBuffer *tb = gst_aggregator_pad_peek_buffer (vt);
    const EtpEcgMeta *m = tb ? etp_buffer_get_ecg_meta (tb) : NULL;
    GST_ELEMENT_ERROR (self, STREAM, FAILED,
        ("Bad pairing: validation text of record '%s' window %u has no "
            "ECG (val_ecg ended).", meta_record (m), meta_window (m)), (NULL));
    gst_clear_buffer (&tb);
    return FALSE;
  } else if (gst_aggregator_pad_is_eos (vt)
      && gst_aggregator_pad_has_buffer (ve)) {
    GstBuffer *eb = gst_aggregator_pad_peek_buffer (ve);
    const EtpEcgMeta *m = eb ? etp_buffer_get_ecg_meta (eb) : NULL;
    GST_ELEMENT_ERROR (self, STREAM, FAILED,
        ("Bad pairing: validation ECG of record '%s' window %u has no text "
            "(val_text ended).", meta_record (m), meta_window (m)), (NULL));
    gst_clear_buffer (&eb);
    return FALSE;
  }
  return TRUE;
}

/* ------------------------------------------------------------ aggregate */

static GstFlowReturn
etp_train_training_input (GstEtpTrain * self)
{
  GstBuffer *eb = NULL, *tb = NULL, *vb = NULL;
  const EtpEcgMeta *m;
  GstMapInfo em, tm, vm;
  guint len;
  gsize win;
  GstFlowReturn ret = GST_FLOW_ERROR;
  gboolean have_view2 = self->view2_pad != NULL;

  eb = gst_aggregator_pad_peek_buffer (self->ecg_pad);
  if (eb == NULL) {
    if (!gst_aggregator_pad_is_eos (self->ecg_pad))
      return GST_FLOW_OK;
    /* End of the training stream: anything left on the other pads is an
     * unpaired window. */
    if (gst_aggregator_pad_has_buffer (self->text_pad)) {
      tb = gst_aggregator_pad_peek_buffer (self->text_pad);
      m = tb ? etp_buffer_get_ecg_meta (tb) : NULL;
      GST_ELEMENT_ERROR (self, STREAM, FAILED,
          ("Bad pairing: text of record '%s' window %u has no ECG (the ecg "
              "pad ended first).", meta_record (m), meta_window (m)), (NULL));
      gst_clear_buffer (&tb);
      return GST_FLOW_ERROR;
    }
    if (!self->val_complete)
      return GST_FLOW_OK;       /* finish collecting the validation set */
    if (self->model == NULL) {
      if (self->epochs_done == 0 && self->epoch_windows == 0) {
        GST_ELEMENT_ERROR (self, STREAM, FAILED,
            ("No training windows arrived before the end of the stream."),
            (NULL));
        return GST_FLOW_ERROR;
      }
    }
    ret = etp_train_end_epoch (self);
    if (ret == GST_FLOW_OK) {
      self->finished = TRUE;
      etp_train_post (self, gst_structure_new ("etp-train",
              "event", G_TYPE_STRING, "done",
              "epochs", G_TYPE_UINT, self->epochs_done,
              "step", G_TYPE_UINT64, self->steps_done, NULL));
      ret = GST_FLOW_EOS;
    }
    return ret;
  }

  m = etp_buffer_get_ecg_meta (eb);
  if (m == NULL || m->record_id == NULL) {
    GST_ELEMENT_ERROR (self, STREAM, FORMAT,
        ("An ECG buffer on pad 'ecg' has no EtpEcgMeta record id; it cannot "
            "be paired with its text."),
        ("feed the ecg pad from ecgsrc through elements that keep the meta"));
    goto out;
  }

  /* Epoch boundary: the source moved on to its next pass. */
  if (self->cur_meta_epoch >= 0 && (gint64) m->epoch != self->cur_meta_epoch) {
    if (!self->val_complete) {
      ret = GST_FLOW_OK;        /* the validation set first */
      goto out;
    }
    ret = etp_train_end_epoch (self);
    if (ret != GST_FLOW_OK)
      goto out;
  }
  if (self->epochs_done >= self->epochs) {
    /* e.g. resumed from a checkpoint that already has every epoch */
    self->finished = TRUE;
    etp_train_post (self, gst_structure_new ("etp-train",
            "event", G_TYPE_STRING, "done",
            "epochs", G_TYPE_UINT, self->epochs_done,
            "step", G_TYPE_UINT64, self->steps_done, NULL));
    ret = GST_FLOW_EOS;
    goto out;
  }

  /* unpaired=drop-ecg: the text branch skipped this window. */
  if (self->unpaired == ETP_TRAIN_UNPAIRED_DROP_ECG) {
    GstBuffer *peek = gst_aggregator_pad_peek_buffer (self->text_pad);
    if (!same_window (peek, m)) {
      GST_DEBUG_OBJECT (self, "no text for window %u of record '%s': "
          "dropped", m->window_index, m->record_id);
      self->cur_meta_epoch = m->epoch;
      self->epoch_unpaired++;
      gst_clear_buffer (&peek);
      gst_aggregator_pad_drop_buffer (self->ecg_pad);
      if (have_view2)
        gst_aggregator_pad_drop_buffer (self->view2_pad);
      ret = GST_FLOW_OK;
      goto out;
    }
    gst_clear_buffer (&peek);
  }

  /* Take the window and its partners. */
  gst_buffer_unref (eb);
  eb = gst_aggregator_pad_pop_buffer (self->ecg_pad);
  tb = gst_aggregator_pad_pop_buffer (self->text_pad);
  if (have_view2)
    vb = gst_aggregator_pad_pop_buffer (self->view2_pad);
  m = etp_buffer_get_ecg_meta (eb);
  if (tb == NULL) {
    GST_ELEMENT_ERROR (self, STREAM, FAILED,
        ("Bad pairing: ECG window %u of record '%s' has no text (the text "
            "pad ended first).", meta_window (m), meta_record (m)), (NULL));
    goto out;
  }
  if (have_view2 && vb == NULL) {
    GST_ELEMENT_ERROR (self, STREAM, FAILED,
        ("Bad pairing: ECG window %u of record '%s' has no second view (the "
            "ecg_view2 pad ended first).", meta_window (m), meta_record (m)),
        (NULL));
    goto out;
  }
  if (!etp_train_check_pair (self, m, self->ecg_pad, tb, self->text_pad))
    goto out;
  if (vb && !etp_train_check_pair (self, m, self->ecg_pad, vb,
          self->view2_pad))
    goto out;

  len = etp_train_window_len (self, self->ecg_pad, eb, self->channels,
      self->length, m);
  if (len == 0)
    goto out;
  if (!etp_train_check_text (self, self->text_pad, tb, self->text_dim, m))
    goto out;
  if (vb) {
    if (self->view2_channels != self->channels
        || self->view2_rate != self->rate) {
      GST_ELEMENT_ERROR (self, CORE, NEGOTIATION,
          ("The ecg_view2 pad (%d leads at %d Hz) does not match the ecg pad "
              "(%d leads at %d Hz).", self->view2_channels, self->view2_rate,
              self->channels, self->rate), (NULL));
      goto out;
    }
    if (etp_train_window_len (self, self->view2_pad, vb, self->channels,
            len, m) == 0)
      goto out;
  }
  if (self->val_n > 0 && (self->val_channels != self->channels
          || self->val_rate != self->rate || self->val_length != len
          || self->val_text_dim != self->text_dim)) {
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION,
        ("The validation set (%d leads x %u samples at %d Hz, text %u) does "
            "not match the training windows (%d leads x %u samples at %d Hz, "
            "text %u).", self->val_channels, self->val_length, self->val_rate,
            self->val_text_dim, self->channels, len, self->rate,
            self->text_dim), (NULL));
    goto out;
  }
  self->length = len;

  if (self->model == NULL) {
    if (!etp_train_ensure_model (self))
      goto out;
    self->t_epoch_start = self->t_last_step = g_get_monotonic_time ();
    if (self->epochs_done >= self->epochs) {
      self->finished = TRUE;
      etp_train_post (self, gst_structure_new ("etp-train",
              "event", G_TYPE_STRING, "done",
              "epochs", G_TYPE_UINT, self->epochs_done,
              "step", G_TYPE_UINT64, self->steps_done, NULL));
      ret = GST_FLOW_EOS;
      goto out;
    }
  }
  if (!etp_train_ensure_batch (self))
    goto out;

  win = (gsize) self->channels * len;
  if (!gst_buffer_map (eb, &em, GST_MAP_READ))
    goto out;
  if (!gst_buffer_map (tb, &tm, GST_MAP_READ)) {
    gst_buffer_unmap (eb, &em);
    goto out;
  }
  {
    gboolean fine = deinterleave ((const gfloat *) em.data, len,
        (guint) self->channels, self->b_ecg + self->b_n * win)
        && copy_finite ((const gfloat *) tm.data, self->text_dim,
        self->b_text + (gsize) self->b_n * self->text_dim);
    gst_buffer_unmap (eb, &em);
    gst_buffer_unmap (tb, &tm);
    if (fine && vb) {
      if (!gst_buffer_map (vb, &vm, GST_MAP_READ))
        goto out;
      fine = deinterleave ((const gfloat *) vm.data, len,
          (guint) self->channels, self->b_view2 + self->b_n * win);
      gst_buffer_unmap (vb, &vm);
    }
    if (!fine) {
      GST_ELEMENT_ERROR (self, STREAM, FORMAT,
          ("Window %u of record '%s' holds NaN or infinite values.",
              m->window_index, m->record_id), (NULL));
      goto out;
    }
  }
  self->cur_meta_epoch = m->epoch;
  self->b_n++;
  self->b_view2_used = vb != NULL;
  self->epoch_windows++;
  ret = GST_FLOW_OK;
  if (self->b_n == self->b_cap && !etp_train_do_step (self))
    ret = GST_FLOW_ERROR;

out:
  gst_clear_buffer (&eb);
  gst_clear_buffer (&tb);
  gst_clear_buffer (&vb);
  return ret;
}

static GstFlowReturn
etp_train_aggregate (GstAggregator * agg, gboolean timeout)
{
  GstEtpTrain *self = ETP_ETP_TRAIN (agg);
  GstFlowReturn ret;

  if (self->failed)
    return GST_FLOW_ERROR;
  if (self->finished)
    return GST_FLOW_EOS;
  if (!etp_train_collect_val (self)) {
    self->failed = TRUE;
    return GST_FLOW_ERROR;
  }
  ret = etp_train_training_input (self);
  if (ret == GST_FLOW_ERROR)
    self->failed = TRUE;
  return ret;
}

/* ---------------------------------------------------------------- events */

static gboolean
etp_train_sink_event (GstAggregator * agg, GstAggregatorPad * pad,
    GstEvent * event)
{
  GstEtpTrain *self = ETP_ETP_TRAIN (agg);

  if (GST_EVENT_TYPE (event) == GST_EVENT_CAPS) {
    GstCaps *caps;
    gboolean ok = TRUE;

    gst_event_parse_caps (event, &caps);
    if (pad == self->text_pad || pad == self->val_text_pad) {
      guint dim = etp_tensor_caps_get_dim (caps);
      guint *slot = pad == self->text_pad ? &self->text_dim :
          &self->val_text_dim;
      guint want;
      GST_OBJECT_LOCK (self);
      want = self->text_dim_prop;
      GST_OBJECT_UNLOCK (self);
      if (dim == 0) {
        GST_ELEMENT_ERROR (self, CORE, NEGOTIATION,
            ("Pad '%s' needs one float32 vector per buffer "
                "(other/tensors dimensions=D:1:1:1).", pad_role (self, pad)),
            ("caps: %" GST_PTR_FORMAT, caps));
        ok = FALSE;
      } else if (want != 0 && dim != want) {
        GST_ELEMENT_ERROR (self, CORE, NEGOTIATION,
            ("Pad '%s' carries %u-d text features, text-dim is %u.",
                pad_role (self, pad), dim, want), (NULL));
        ok = FALSE;
      } else if (*slot != 0 && *slot != dim) {
        GST_ELEMENT_ERROR (self, CORE, NEGOTIATION,
            ("Text feature dimension changed mid-stream on pad '%s': %u -> "
                "%u.", pad_role (self, pad), *slot, dim), (NULL));
        ok = FALSE;
      } else {
        *slot = dim;
      }
    } else {
      gint new_rate = 0, new_channels = 0;
      gint *rate, *channels;
      if (pad == self->ecg_pad) {
        rate = &self->rate;
        channels = &self->channels;
      } else if (pad == self->view2_pad) {
        rate = &self->view2_rate;
        channels = &self->view2_channels;
      } else {
        rate = &self->val_rate;
        channels = &self->val_channels;
      }
      if (!etp_ecg_caps_parse (caps, &new_rate, &new_channels)) {
        GST_ELEMENT_ERROR (self, CORE, NEGOTIATION,
            ("Pad '%s' needs F32LE interleaved ECG caps.", pad_role (self,
                    pad)), ("caps: %" GST_PTR_FORMAT, caps));
        ok = FALSE;
      } else if (*rate != 0 && (*rate != new_rate
              || *channels != new_channels)) {
        GST_ELEMENT_ERROR (self, CORE, NEGOTIATION,
            ("ECG format changed mid-stream on pad '%s': %d leads at %d Hz "
                "-> %d leads at %d Hz.", pad_role (self, pad), *channels,
                *rate, new_channels, new_rate),
            ("every window must have the same length, rate and lead count"));
        ok = FALSE;
      } else {
        *rate = new_rate;
        *channels = new_channels;
      }
    }
    if (!ok)
      self->failed = TRUE;
    gst_event_unref (event);
    return ok;
  }
  return GST_AGGREGATOR_CLASS (parent_class)->sink_event (agg, pad, event);
}

static GstFlowReturn
etp_train_update_src_caps (GstAggregator * agg, GstCaps * caps,
    GstCaps ** ret)
{
  GstCaps *mine = etp_tensor_caps_new (ETP_TRAIN_OUT_DIM);

  if (caps && !gst_caps_can_intersect (caps, mine)) {
    gst_caps_unref (mine);
    return GST_FLOW_NOT_NEGOTIATED;
  }
  *ret = mine;
  return GST_FLOW_OK;
}

static GstAggregatorPad *
etp_train_create_new_pad (GstAggregator * agg, GstPadTemplate * templ,
    const gchar * req_name, const GstCaps * caps)
{
  GstEtpTrain *self = ETP_ETP_TRAIN (agg);
  GstAggregatorPad **slot = NULL;
  const gchar *name = GST_PAD_TEMPLATE_NAME_TEMPLATE (templ);
  GstAggregatorPad *pad;

  if (g_strcmp0 (name, "ecg_view2") == 0)
    slot = &self->view2_pad;
  else if (g_strcmp0 (name, "val_ecg") == 0)
    slot = &self->val_ecg_pad;
  else if (g_strcmp0 (name, "val_text") == 0)
    slot = &self->val_text_pad;
  if (slot == NULL)
    return NULL;
  GST_OBJECT_LOCK (self);
  if (*slot != NULL) {
    GST_OBJECT_UNLOCK (self);
    GST_WARNING_OBJECT (self, "pad %s already requested", name);
    return NULL;
  }
  GST_OBJECT_UNLOCK (self);
  pad = g_object_new (GST_TYPE_AGGREGATOR_PAD, "name", name,
      "direction", GST_PAD_SINK, "template", templ, NULL);
  GST_OBJECT_LOCK (self);
  *slot = pad;
  GST_OBJECT_UNLOCK (self);
  return pad;
}

static void
etp_train_release_pad (GstElement * element, GstPad * pad)
{
  GstEtpTrain *self = ETP_ETP_TRAIN (element);

  GST_OBJECT_LOCK (self);
  if (pad == GST_PAD (self->view2_pad))
    self->view2_pad = NULL;
  else if (pad == GST_PAD (self->val_ecg_pad))
    self->val_ecg_pad = NULL;
  else if (pad == GST_PAD (self->val_text_pad))
    self->val_text_pad = NULL;
  GST_OBJECT_UNLOCK (self);
  GST_ELEMENT_CLASS (parent_class)->release_pad (element, pad);
}

static gboolean
etp_train_start (GstAggregator * agg)
{
  GstEtpTrain *self = ETP_ETP_TRAIN (agg);

  etp_train_reset (self);
  if (self->batch_size < 2) {
    GST_ELEMENT_ERROR (self, LIBRARY, SETTINGS,
        ("batch-size must be at least 2 (the contrastive loss needs "
            "negatives)."), (NULL));
    return FALSE;
  }
  if (self->resume && *self->resume
      && !g_file_test (self->resume, G_FILE_TEST_IS_REGULAR)) {
    GST_ELEMENT_ERROR (self, RESOURCE, NOT_FOUND,
        ("Checkpoint to resume from '%s' does not exist.", self->resume),
        (NULL));
    return FALSE;
  }
  if (self->init_checkpoint && *self->init_checkpoint
      && !g_file_test (self->init_checkpoint, G_FILE_TEST_IS_REGULAR)) {
    GST_ELEMENT_ERROR (self, RESOURCE, NOT_FOUND,
        ("Initial checkpoint '%s' does not exist.", self->init_checkpoint),
        (NULL));
    return FALSE;
  }
  return TRUE;
}

static gboolean
etp_train_stop (GstAggregator * agg)
{
  etp_train_reset (ETP_ETP_TRAIN (agg));
  return TRUE;
}

/* ------------------------------------------------------------ properties */

static void
etp_train_set_property (GObject * object, guint prop_id,
    const GValue * value, GParamSpec * pspec)
{
  GstEtpTrain *self = ETP_ETP_TRAIN (object);

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_BATCH_SIZE:
      self->batch_size = g_value_get_uint (value);
      break;
    case PROP_EPOCHS:
      self->epochs = g_value_get_uint (value);
      break;
    case PROP_LEARNING_RATE:
      self->learning_rate = g_value_get_double (value);
      break;
    case PROP_MIN_LEARNING_RATE:
      self->min_learning_rate = g_value_get_double (value);
      break;
    case PROP_WEIGHT_DECAY:
      self->weight_decay = g_value_get_double (value);
      break;
    case PROP_OPTIMIZER:
      self->optimizer = g_value_get_enum (value);
      break;
    case PROP_SCHEDULE:
      self->schedule = g_value_get_enum (value);
      break;
    case PROP_WARMUP_STEPS:
      self->warmup_steps = g_value_get_uint (value);
      break;
    case PROP_STEPS_PER_EPOCH:
      self->steps_per_epoch_prop = g_value_get_uint64 (value);
      break;
    case PROP_TEMPERATURE:
      self->temperature = g_value_get_double (value);
      break;
    case PROP_LEARN_TEMPERATURE:
      self->learn_temperature = g_value_get_boolean (value);
      break;
    case PROP_SSL_WEIGHT:
      self->ssl_weight = g_value_get_double (value);
      break;
    case PROP_EMBED_DIM:
      self->embed_dim = g_value_get_uint (value);
      break;
    case PROP_WIDTH:
      self->width = g_value_get_uint (value);
      break;
    case PROP_TEXT_DIM:
      self->text_dim_prop = g_value_get_uint (value);
      break;
    case PROP_CHECKPOINT:
      g_free (self->checkpoint);
      self->checkpoint = g_value_dup_string (value);
      break;
    case PROP_BEST_CHECKPOINT:
      g_free (self->best_checkpoint);
      self->best_checkpoint = g_value_dup_string (value);
      break;
    case PROP_RESUME:
      g_free (self->resume);
      self->resume = g_value_dup_string (value);
      break;
    case PROP_INIT_CHECKPOINT:
      g_free (self->init_checkpoint);
      self->init_checkpoint = g_value_dup_string (value);
      break;
    case PROP_SEED:
      self->seed = g_value_get_uint64 (value);
      break;
    case PROP_DEVICE:
      self->device = g_value_get_enum (value);
      break;
    case PROP_THREADS:
      self->threads = g_value_get_uint (value);
      break;
    case PROP_DROP_LAST:
      self->drop_last = g_value_get_boolean (value);
      break;
    case PROP_UNPAIRED:
      self->unpaired = g_value_get_enum (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static void
etp_train_get_property (GObject * object, guint prop_id, GValue * value,
    GParamSpec * pspec)
{
  GstEtpTrain *self = ETP_ETP_TRAIN (object);

  GST_OBJECT_LOCK (self);
  switch (prop_id) {
    case PROP_BATCH_SIZE:
      g_value_set_uint (value, self->batch_size);
      break;
    case PROP_EPOCHS:
      g_value_set_uint (value, self->epochs);
      break;
    case PROP_LEARNING_RATE:
      g_value_set_double (value, self->learning_rate);
      break;
    case PROP_MIN_LEARNING_RATE:
      g_value_set_double (value, self->min_learning_rate);
      break;
    case PROP_WEIGHT_DECAY:
      g_value_set_double (value, self->weight_decay);
      break;
    case PROP_OPTIMIZER:
      g_value_set_enum (value, self->optimizer);
      break;
    case PROP_SCHEDULE:
      g_value_set_enum (value, self->schedule);
      break;
    case PROP_WARMUP_STEPS:
      g_value_set_uint (value, self->warmup_steps);
      break;
    case PROP_STEPS_PER_EPOCH:
      g_value_set_uint64 (value, self->steps_per_epoch_prop);
      break;
    case PROP_TEMPERATURE:
      g_value_set_double (value, self->temperature);
      break;
    case PROP_LEARN_TEMPERATURE:
      g_value_set_boolean (value, self->learn_temperature);
      break;
    case PROP_SSL_WEIGHT:
      g_value_set_double (value, self->ssl_weight);
      break;
    case PROP_EMBED_DIM:
      g_value_set_uint (value, self->embed_dim);
      break;
    case PROP_WIDTH:
      g_value_set_uint (value, self->width);
      break;
    case PROP_TEXT_DIM:
      g_value_set_uint (value, self->text_dim ? self->text_dim :
          self->text_dim_prop);
      break;
    case PROP_CHECKPOINT:
      g_value_set_string (value, self->checkpoint);
      break;
    case PROP_BEST_CHECKPOINT:
      g_value_set_string (value, self->best_checkpoint);
      break;
    case PROP_RESUME:
      g_value_set_string (value, self->resume);
      break;
    case PROP_INIT_CHECKPOINT:
      g_value_set_string (value, self->init_checkpoint);
      break;
    case PROP_SEED:
      g_value_set_uint64 (value, self->seed);
      break;
    case PROP_DEVICE:
      g_value_set_enum (value, self->device);
      break;
    case PROP_THREADS:
      g_value_set_uint (value, self->threads);
      break;
    case PROP_DROP_LAST:
      g_value_set_boolean (value, self->drop_last);
      break;
    case PROP_UNPAIRED:
      g_value_set_enum (value, self->unpaired);
      break;
    case PROP_EPOCHS_DONE:
      g_value_set_uint (value, self->epochs_done);
      break;
    case PROP_STEPS_DONE:
      g_value_set_uint64 (value, self->steps_done);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
  GST_OBJECT_UNLOCK (self);
}

static void
etp_train_finalize (GObject * object)
{
  GstEtpTrain *self = ETP_ETP_TRAIN (object);

  etp_train_reset (self);
  g_clear_pointer (&self->val_ecg, g_array_unref);
  g_clear_pointer (&self->val_text, g_array_unref);
  g_free (self->checkpoint);
  g_free (self->best_checkpoint);
  g_free (self->resume);
  g_free (self->init_checkpoint);
  G_OBJECT_CLASS (parent_class)->finalize (object);
}

static void
gst_etp_train_class_init (GstEtpTrainClass * klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstAggregatorClass *agg_class = GST_AGGREGATOR_CLASS (klass);
  const GParamFlags rw = G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
      GST_PARAM_MUTABLE_READY;

  GST_DEBUG_CATEGORY_INIT (etp_train_debug, "etptrain", 0,
      "ETP contrastive ECG-text pre-training");

  gobject_class->set_property = etp_train_set_property;
  gobject_class->get_property = etp_train_get_property;
  gobject_class->finalize = etp_train_finalize;

  g_object_class_install_property (gobject_class, PROP_BATCH_SIZE,
      g_param_spec_uint ("batch-size", "Batch size",
          "ECG-report pairs per optimiser step (the other pairs of a batch "
          "are the negatives of the contrastive loss); the last partial "
          "batch of an epoch is trained when it holds at least 2 pairs",
          2, 65536, DEFAULT_BATCH_SIZE, rw));
  g_object_class_install_property (gobject_class, PROP_EPOCHS,
      g_param_spec_uint ("epochs", "Epochs",
          "Passes over the training set (counted with the epochs of a "
          "resumed checkpoint); the source must loop (ecgsrc num-epochs=0 "
          "or >= epochs); EOS is sent downstream after the last one",
          1, G_MAXUINT, DEFAULT_EPOCHS, rw));
  g_object_class_install_property (gobject_class, PROP_LEARNING_RATE,
      g_param_spec_double ("learning-rate", "Learning rate",
          "Peak learning rate of Adam/AdamW", 0.0, 10.0,
          DEFAULT_LEARNING_RATE, rw));
  g_object_class_install_property (gobject_class, PROP_MIN_LEARNING_RATE,
      g_param_spec_double ("min-learning-rate", "Minimum learning rate",
          "Learning rate at the end of the cosine schedule", 0.0, 10.0,
          DEFAULT_MIN_LEARNING_RATE, rw));
  g_object_class_install_property (gobject_class, PROP_WEIGHT_DECAY,
      g_param_spec_double ("weight-decay", "Weight decay",
          "Weight decay (L2 in the gradient for adam, decoupled for adamw)",
          0.0, 10.0, DEFAULT_WEIGHT_DECAY, rw));
  g_object_class_install_property (gobject_class, PROP_OPTIMIZER,
      g_param_spec_enum ("optimizer", "Optimizer", "The optimiser",
          etp_train_optimizer_get_type (), DEFAULT_OPTIMIZER, rw));
  g_object_class_install_property (gobject_class, PROP_SCHEDULE,
      g_param_spec_enum ("schedule", "Schedule",
          "Learning-rate schedule after the warm-up; cosine needs the total "
          "number of steps: steps-per-epoch x epochs, or (when "
          "steps-per-epoch is 0) learned at the end of the first epoch, "
          "which runs at the constant rate",
          etp_train_schedule_get_type (), DEFAULT_SCHEDULE, rw));
  g_object_class_install_property (gobject_class, PROP_WARMUP_STEPS,
      g_param_spec_uint ("warmup-steps", "Warm-up steps",
          "Linear warm-up from 0 to learning-rate over this many steps",
          0, G_MAXUINT, DEFAULT_WARMUP_STEPS, rw));
  g_object_class_install_property (gobject_class, PROP_STEPS_PER_EPOCH,
      g_param_spec_uint64 ("steps-per-epoch", "Steps per epoch",
          "Optimiser steps in one epoch, for the cosine schedule and the "
          "progress messages before the first epoch ends (0: learn it at "
          "the end of the first epoch)", 0, G_MAXUINT64,
          DEFAULT_STEPS_PER_EPOCH, rw));
  g_object_class_install_property (gobject_class, PROP_TEMPERATURE,
      g_param_spec_double ("temperature", "Temperature",
          "Softmax temperature of the InfoNCE loss (its initial value when "
          "learn-temperature is on)", 1e-4, 100.0, DEFAULT_TEMPERATURE, rw));
  g_object_class_install_property (gobject_class, PROP_LEARN_TEMPERATURE,
      g_param_spec_boolean ("learn-temperature", "Learn temperature",
          "Train the temperature (as CLIP's logit_scale) instead of keeping "
          "it fixed", DEFAULT_LEARN_TEMPERATURE, rw));
  g_object_class_install_property (gobject_class, PROP_SSL_WEIGHT,
      g_param_spec_double ("ssl-weight", "SSL weight",
          "Weight of the ECG-ECG self-supervised loss between the ecg and "
          "ecg_view2 windows (paper Eq. 6); used only when ecg_view2 is "
          "linked", 0.0, 100.0, DEFAULT_SSL_WEIGHT, rw));
  g_object_class_install_property (gobject_class, PROP_EMBED_DIM,
      g_param_spec_uint ("embed-dim", "Embedding dimension",
          "Output dimension of both projection heads", 1, 65536,
          DEFAULT_EMBED_DIM, rw));
  g_object_class_install_property (gobject_class, PROP_WIDTH,
      g_param_spec_uint ("width", "Width",
          "Channels of the ResNet18-1D stem and first stage (64 in the "
          "paper; stages have width, 2, 4 and 8 x width); smaller values "
          "train faster for experiments and tests", 1, 1024, DEFAULT_WIDTH,
          rw));
  g_object_class_install_property (gobject_class, PROP_TEXT_DIM,
      g_param_spec_uint ("text-dim", "Text dimension",
          "Dimension of the text features; 0 takes it from the text pad's "
          "caps (reads back the negotiated value); other values make caps "
          "that disagree an error", 0, 65536, 0, rw));
  g_object_class_install_property (gobject_class, PROP_CHECKPOINT,
      g_param_spec_string ("checkpoint", "Checkpoint",
          "safetensors file written at every epoch end (temporary file + "
          "rename) with the model, the optimiser state and the epoch/step "
          "counters; NULL: none", NULL, rw));
  g_object_class_install_property (gobject_class, PROP_BEST_CHECKPOINT,
      g_param_spec_string ("best-checkpoint", "Best checkpoint",
          "safetensors file written (atomically, with the optimiser state) "
          "at every epoch end whose validation loss is the lowest so far; "
          "needs the validation pads; NULL: none", NULL, rw));
  g_object_class_install_property (gobject_class, PROP_RESUME,
      g_param_spec_string ("resume", "Resume",
          "Checkpoint to continue from: weights, optimiser state and "
          "epoch/step counters (epochs then counts the resumed epochs)",
          NULL, rw));
  g_object_class_install_property (gobject_class, PROP_INIT_CHECKPOINT,
      g_param_spec_string ("init-checkpoint", "Initial checkpoint",
          "Checkpoint whose weights initialise the model (fresh optimiser "
          "and counters); ignored when resume is set", NULL, rw));
  g_object_class_install_property (gobject_class, PROP_SEED,
      g_param_spec_uint64 ("seed", "Seed",
          "Seed of the weight initialisation", 0, G_MAXUINT64, DEFAULT_SEED,
          rw));
  g_object_class_install_property (gobject_class, PROP_DEVICE,
      g_param_spec_enum ("device", "Device", "Compute device",
          etp_train_device_get_type (), DEFAULT_DEVICE, rw));
  g_object_class_install_property (gobject_class, PROP_THREADS,
      g_param_spec_uint ("threads", "Threads",
          "CPU worker threads (0: all online cores)", 0, 1024,
          DEFAULT_THREADS, rw));
  g_object_class_install_property (gobject_class, PROP_DROP_LAST,
      g_param_spec_boolean ("drop-last", "Drop last",
          "Drop the last partial batch of every epoch instead of training "
          "on it", DEFAULT_DROP_LAST, rw));
  g_object_class_install_property (gobject_class, PROP_UNPAIRED,
      g_param_spec_enum ("unpaired", "Unpaired windows",
          "What to do with an ECG window (training or validation) whose "
          "text is missing from the text stream",
          etp_train_unpaired_get_type (), DEFAULT_UNPAIRED, rw));
  g_object_class_install_property (gobject_class, PROP_EPOCHS_DONE,
      g_param_spec_uint ("epochs-done", "Epochs done",
          "Completed epochs (resumed ones included)", 0, G_MAXUINT, 0,
          G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));
  g_object_class_install_property (gobject_class, PROP_STEPS_DONE,
      g_param_spec_uint64 ("steps-done", "Steps done",
          "Optimiser steps taken (resumed ones included)", 0, G_MAXUINT64, 0,
          G_PARAM_READABLE | G_PARAM_STATIC_STRINGS));

  gst_element_class_add_static_pad_template_with_gtype (element_class,
      &src_template, GST_TYPE_AGGREGATOR_PAD);
  gst_element_class_add_static_pad_template_with_gtype (element_class,
      &ecg_template, GST_TYPE_AGGREGATOR_PAD);
  gst_element_class_add_static_pad_template_with_gtype (element_class,
      &text_template, GST_TYPE_AGGREGATOR_PAD);
  gst_element_class_add_static_pad_template_with_gtype (element_class,
      &view2_template, GST_TYPE_AGGREGATOR_PAD);
  gst_element_class_add_static_pad_template_with_gtype (element_class,
      &val_ecg_template, GST_TYPE_AGGREGATOR_PAD);
  gst_element_class_add_static_pad_template_with_gtype (element_class,
      &val_text_template, GST_TYPE_AGGREGATOR_PAD);

  gst_element_class_set_static_metadata (element_class,
      "ETP contrastive pre-training", "Filter/Trainer/ECG",
      "Trains a ResNet18-1D ECG encoder and ECG/text projection heads with "
      "the symmetric InfoNCE loss between ECG windows and the frozen "
      "features of their reports (ETP), optionally plus an ECG-ECG loss "
      "between two augmented views; Adam, checkpoints, validation "
      "retrieval, progress on the bus", "gst-etp");

  element_class->release_pad = etp_train_release_pad;
  agg_class->aggregate = etp_train_aggregate;
  agg_class->sink_event = etp_train_sink_event;
  agg_class->update_src_caps = etp_train_update_src_caps;
  agg_class->create_new_pad = etp_train_create_new_pad;
  agg_class->start = etp_train_start;
  agg_class->stop = etp_train_stop;

  gst_type_mark_as_plugin_api (etp_train_optimizer_get_type (), 0);
  gst_type_mark_as_plugin_api (etp_train_schedule_get_type (), 0);
  gst_type_mark_as_plugin_api (etp_train_device_get_type (), 0);
  gst_type_mark_as_plugin_api (etp_train_unpaired_get_type (), 0);
}

static void
gst_etp_train_init (GstEtpTrain * self)
{
  GstElementClass *klass = GST_ELEMENT_GET_CLASS (self);

  self->batch_size = DEFAULT_BATCH_SIZE;
  self->epochs = DEFAULT_EPOCHS;
  self->learning_rate = DEFAULT_LEARNING_RATE;
  self->min_learning_rate = DEFAULT_MIN_LEARNING_RATE;
  self->weight_decay = DEFAULT_WEIGHT_DECAY;
  self->optimizer = DEFAULT_OPTIMIZER;
  self->schedule = DEFAULT_SCHEDULE;
  self->warmup_steps = DEFAULT_WARMUP_STEPS;
  self->steps_per_epoch_prop = DEFAULT_STEPS_PER_EPOCH;
  self->temperature = DEFAULT_TEMPERATURE;
  self->learn_temperature = DEFAULT_LEARN_TEMPERATURE;
  self->ssl_weight = DEFAULT_SSL_WEIGHT;
  self->embed_dim = DEFAULT_EMBED_DIM;
  self->width = DEFAULT_WIDTH;
  self->seed = DEFAULT_SEED;
  self->device = DEFAULT_DEVICE;
  self->threads = DEFAULT_THREADS;
  self->drop_last = DEFAULT_DROP_LAST;
  self->unpaired = DEFAULT_UNPAIRED;
  self->val_ecg = g_array_new (FALSE, FALSE, sizeof (gfloat));
  self->val_text = g_array_new (FALSE, FALSE, sizeof (gfloat));
  self->cur_meta_epoch = -1;

  self->ecg_pad = g_object_new (GST_TYPE_AGGREGATOR_PAD, "name", "ecg",
      "direction", GST_PAD_SINK, "template",
      gst_element_class_get_pad_template (klass, "ecg"), NULL);
  gst_element_add_pad (GST_ELEMENT (self), GST_PAD (self->ecg_pad));
  self->text_pad = g_object_new (GST_TYPE_AGGREGATOR_PAD, "name", "text",
      "direction", GST_PAD_SINK, "template",
      gst_element_class_get_pad_template (klass, "text"), NULL);
  gst_element_add_pad (GST_ELEMENT (self), GST_PAD (self->text_pad));
}
