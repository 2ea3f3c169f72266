/* ecgaugment: seeded view augmentations (see ecgaugment.h and
 * docs/elements/ecgaugment.md).
 *
 * Per buffer (one window), in this order and with random draws in this order
 * from the instance's GRand (seeded at start, so a run is reproducible):
 *   1. random segment: keep a contiguous segment of crop * n frames at a
 *      uniform random start, then stretch it back to n frames by linear
 *      interpolation (crop-fill=resample) or keep it in place and zero the
 *      rest (crop-fill=zero);
 *   2. sign inversion of all leads with probability invert-prob;
 *   3. amplitude scaling of all leads by a uniform factor in
 *      [scale-min, scale-max];
 *   4. lead masking: each lead zeroed with probability mask-prob (at least
 *      one lead is always kept);
 *   5. additive Gaussian noise with standard deviation noise-std.
 * A tee followed by two ecgaugment elements with different seeds gives the
 * two views of the ECG-ECG self-supervised loss; the meta travels unchanged. */
#include "config.h"

#include <math.h>
#include <string.h>

#include "ecgaugment.h"
#include "etpmeta.h"
#include "etpcaps.h"

GST_DEBUG_CATEGORY_STATIC (ecg_augment_debug);
#define GST_CAT_DEFAULT ecg_augment_debug

enum {
  PROP_0,
  PROP_SEED,
  PROP_MODE,
  PROP_CROP,
  PROP_CROP_FILL,
  PROP_INVERT_PROB,
  PROP_SCALE_MIN,
  PROP_SCALE_MAX,
  PROP_NOISE_STD,
  PROP_MASK_PROB,
};

#define DEFAULT_SEED 0
#define DEFAULT_MODE ETP_ECG_AUGMENT_MODE_TRAIN
#define DEFAULT_CROP 0.5
#define DEFAULT_CROP_FILL ETP_ECG_CROP_FILL_RESAMPLE
#define DEFAULT_INVERT_PROB 0.5
#define DEFAULT_SCALE_MIN 0.8
#define DEFAULT_SCALE_MAX 1.2
#define DEFAULT_NOISE_STD 0.02
#define DEFAULT_MASK_PROB 0.1

static GstStaticPadTemplate sink_template = GST_STATIC_PAD_TEMPLATE ("sink",
    GST_PAD_SINK, GST_PAD_ALWAYS, GST_STATIC_CAPS (ETP_ECG_CAPS_STR));
static GstStaticPadTemplate src_template = GST_STATIC_PAD_TEMPLATE ("src",
    GST_PAD_SRC, GST_PAD_ALWAYS, GST_STATIC_CAPS (ETP_ECG_CAPS_STR));

static GType
etp_ecg_augment_mode_get_type (void)
{
  static GType t = 0;
  static const GEnumValue values[] = {
    {ETP_ECG_AUGMENT_MODE_TRAIN, "Augment every buffer", "train"},
    {ETP_ECG_AUGMENT_MODE_EVAL, "Pass buffers through untouched "
          "(evaluation)", "eval"},
    {0, NULL, NULL}
  };
  if (g_once_init_enter (&t)) {
    GType tmp = g_enum_register_static ("EtpEcgAugmentMode", values);
    g_once_init_leave (&t, tmp);
  }
  return t;
}

static GType
etp_ecg_crop_fill_get_type (void)
{
  static GType t = 0;
  static const GEnumValue values[] = {
    {ETP_ECG_CROP_FILL_RESAMPLE, "Stretch the segment back to the window "
          "length (linear interpolation)", "resample"},
    {ETP_ECG_CROP_FILL_ZERO, "Keep the segment in place, zero the rest",
        "zero"},
    {0, NULL, NULL}
  };
  if (g_once_init_enter (&t)) {
    GType tmp = g_enum_register_static ("EtpEcgCropFill", values);
    g_once_init_leave (&t, tmp);
  }
  return t;
}

G_DEFINE_TYPE (GstEcgAugment, gst_ecg_augment, GST_TYPE_BASE_TRANSFORM);
GST_ELEMENT_REGISTER_DEFINE (ecgaugment, "ecgaugment", GST_RANK_NONE,
    ETP_TYPE_ECG_AUGMENT);

static double
gauss (GRand * r)
{
  /* Box-Muller; u1 in (0, 1] */
  double u1 = 1.0 - g_rand_double (r), u2 = g_rand_double (r);
  return sqrt (-2.0 * log (u1)) * cos (2.0 * G_PI * u2);
}

static void
random_segment (GstEcgAugment * self, gfloat * x, gsize n, guint C)
{
  gsize len, start, i;
  guint c;

  if (self->crop >= 1.0 || n < 3)
    return;
  len = (gsize) floor (self->crop * n + 0.5);
  len = CLAMP (len, 2, n);
  start = (gsize) g_rand_int_range (self->rand, 0, (gint32) (n - len + 1));
  if (self->crop_fill == ETP_ECG_CROP_FILL_ZERO) {
    memset (x, 0, start * C * sizeof (gfloat));
    memset (x + (start + len) * C, 0, (n - start - len) * C * sizeof (gfloat));
    return;
  }
  if (self->scratch_len < len * C) {
    g_free (self->scratch);
    self->scratch_len = len * C;
    self->scratch = g_new (gfloat, self->scratch_len);
  }
  memcpy (self->scratch, x + start * C, len * C * sizeof (gfloat));
  for (i = 0; i < n; i++) {
    double pos = (double) i * (double) (len - 1) / (double) (n - 1);
    gsize k = (gsize) pos;
    double f;
    if (k >= len - 1)
      k = len - 2;
    f = pos - (double) k;
    for (c = 0; c < C; c++)
      x[i * C + c] = (gfloat) ((1.0 - f) * self->scratch[k * C + c] +
          f * self->scratch[(k + 1) * C + c]);
  }
}

static GstFlowReturn
gst_ecg_augment_transform_ip (GstBaseTransform * trans, GstBuffer * buf)
{
  GstEcgAugment *self = GST_ECG_AUGMENT (trans);
  GstMapInfo map;
  gfloat *x;
  gsize n, i;
  guint C = self->channels, c, kept = 0;
  gboolean invert, *mask;
  double scale;

  if (C == 0 || !self->rand) {
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION, (NULL),
        ("buffer before caps"));
    return GST_FLOW_NOT_NEGOTIATED;
  }
  if (!gst_buffer_map (buf, &map, GST_MAP_READWRITE)) {
    GST_ELEMENT_ERROR (self, RESOURCE, WRITE, (NULL), ("cannot map buffer"));
    return GST_FLOW_ERROR;
  }
  if (map.size % (C * sizeof (gfloat)) != 0) {
    GST_ELEMENT_ERROR (self, STREAM, FORMAT, ("Buffer is not whole frames"),
        ("%" G_GSIZE_FORMAT " bytes is not a multiple of %u channels x 4 "
            "bytes", map.size, C));
    gst_buffer_unmap (buf, &map);
    return GST_FLOW_ERROR;
  }
  x = (gfloat *) map.data;
  n = map.size / (C * sizeof (gfloat));

  random_segment (self, x, n, C);
  invert = self->invert_prob > 0.0
      && g_rand_double (self->rand) < self->invert_prob;
  scale = self->scale_max > self->scale_min ?
      g_rand_double_range (self->rand, self->scale_min, self->scale_max) :
      self->scale_min;
  if (invert)
    scale = -scale;
  mask = g_newa (gboolean, C);
  for (c = 0; c < C; c++) {
    mask[c] = self->mask_prob > 0.0
        && g_rand_double (self->rand) < self->mask_prob;
    kept += !mask[c];
  }
  if (kept == 0)                /* never blank every lead */
    mask[g_rand_int_range (self->rand, 0, (gint32) C)] = FALSE;

  for (i = 0; i < n; i++)
    for (c = 0; c < C; c++) {
      double v = mask[c] ? 0.0 : x[i * C + c] * scale;
      if (self->noise_std > 0.0)
        v += self->noise_std * gauss (self->rand);
      x[i * C + c] = (gfloat) v;
    }
  gst_buffer_unmap (buf, &map);
  self->n_buffers++;
  return GST_FLOW_OK;
}

static gboolean
gst_ecg_augment_set_caps (GstBaseTransform * trans, GstCaps * incaps,
    GstCaps * outcaps)
{
  GstEcgAugment *self = GST_ECG_AUGMENT (trans);
  gint ch = 0;

  if (!gst_structure_get_int (gst_caps_get_structure (incaps, 0), "channels",
          &ch) || ch <= 0) {
    GST_ELEMENT_ERROR (self, CORE, NEGOTIATION, (NULL),
        ("cannot parse caps %" GST_PTR_FORMAT, incaps));
    return FALSE;
  }
  self->channels = ch;
  return TRUE;
}

static void
update_passthrough (GstEcgAugment * self)
{
  gst_base_transform_set_passthrough (GST_BASE_TRANSFORM (self),
      self->mode == ETP_ECG_AUGMENT_MODE_EVAL);
}

static gboolean
gst_ecg_augment_start (GstBaseTransform * trans)
{
  GstEcgAugment *self = GST_ECG_AUGMENT (trans);

  if (self->scale_min > self->scale_max) {
    GST_ELEMENT_ERROR (self, LIBRARY, SETTINGS, ("Bad scale range"),
        ("scale-min %g > scale-max %g", self->scale_min, self->scale_max));
    return FALSE;
  }
  g_clear_pointer (&self->rand, g_rand_free);
  self->rand = g_rand_new_with_seed (self->seed);
  self->n_buffers = 0;
  update_passthrough (self);
  return TRUE;
}

static gboolean
gst_ecg_augment_stop (GstBaseTransform * trans)
{
  GstEcgAugment *self = GST_ECG_AUGMENT (trans);

  GST_INFO_OBJECT (self, "augmented %" G_GUINT64_FORMAT " buffers",
      self->n_buffers);
  g_clear_pointer (&self->rand, g_rand_free);
  g_clear_pointer (&self->scratch, g_free);
  self->scratch_len = 0;
  self->channels = 0;
  return TRUE;
}

static void
gst_ecg_augment_set_property (GObject * object, guint prop_id,
    const GValue * value, GParamSpec * pspec)
{
  GstEcgAugment *self = GST_ECG_AUGMENT (object);

  switch (prop_id) {
    case PROP_SEED:
      self->seed = g_value_get_uint (value);
      break;
    case PROP_MODE:
      self->mode = g_value_get_enum (value);
      update_passthrough (self);
      break;
    case PROP_CROP:
      self->crop = g_value_get_double (value);
      break;
    case PROP_CROP_FILL:
      self->crop_fill = g_value_get_enum (value);
      break;
    case PROP_INVERT_PROB:
      self->invert_prob = g_value_get_double (value);
      break;
    case PROP_SCALE_MIN:
      self->scale_min = g_value_get_double (value);
      break;
    case PROP_SCALE_MAX:
      self->scale_max = g_value_get_double (value);
      break;
    case PROP_NOISE_STD:
      self->noise_std = g_value_get_double (value);
      break;
    case PROP_MASK_PROB:
      self->mask_prob = g_value_get_double (value);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
}

static void
gst_ecg_augment_get_property (GObject * object, guint prop_id, GValue * value,
    GParamSpec * pspec)
{
  GstEcgAugment *self = GST_ECG_AUGMENT (object);

  switch (prop_id) {
    case PROP_SEED:
      g_value_set_uint (value, self->seed);
      break;
    case PROP_MODE:
      g_value_set_enum (value, self->mode);
      break;
    case PROP_CROP:
      g_value_set_double (value, self->crop);
      break;
    case PROP_CROP_FILL:
      g_value_set_enum (value, self->crop_fill);
      break;
    case PROP_INVERT_PROB:
      g_value_set_double (value, self->invert_prob);
      break;
    case PROP_SCALE_MIN:
      g_value_set_double (value, self->scale_min);
      break;
    case PROP_SCALE_MAX:
      g_value_set_double (value, self->scale_max);
      break;
    case PROP_NOISE_STD:
      g_value_set_double (value, self->noise_std);
      break;
    case PROP_MASK_PROB:
      g_value_set_double (value, self->mask_prob);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
  }
}

static void
gst_ecg_augment_finalize (GObject * object)
{
  GstEcgAugment *self = GST_ECG_AUGMENT (object);

  g_clear_pointer (&self->rand, g_rand_free);
  g_clear_pointer (&self->scratch, g_free);
  G_OBJECT_CLASS (gst_ecg_augment_parent_class)->finalize (object);
}

static void
gst_ecg_augment_class_init (GstEcgAugmentClass * klass)
{
  GObjectClass *gobject_class = G_OBJECT_CLASS (klass);
  GstElementClass *element_class = GST_ELEMENT_CLASS (klass);
  GstBaseTransformClass *bt_class = GST_BASE_TRANSFORM_CLASS (klass);
  const GParamFlags rw = G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
      GST_PARAM_MUTABLE_READY;

  GST_DEBUG_CATEGORY_INIT (ecg_augment_debug, "ecgaugment", 0,
      "ECG view augmentations");

  gobject_class->set_property = gst_ecg_augment_set_property;
  gobject_class->get_property = gst_ecg_augment_get_property;
  gobject_class->finalize = gst_ecg_augment_finalize;

  g_object_class_install_property (gobject_class, PROP_SEED,
      g_param_spec_uint ("seed", "Seed",
          "Seed of this instance's random generator (set at start: the same "
          "seed and input give the same views; use different seeds for the "
          "two views)", 0, G_MAXUINT, DEFAULT_SEED, rw));
  g_object_class_install_property (gobject_class, PROP_MODE,
      g_param_spec_enum ("mode", "Mode",
          "train = augment, eval = pass buffers through untouched",
          etp_ecg_augment_mode_get_type (), DEFAULT_MODE,
          G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS |
          GST_PARAM_MUTABLE_PLAYING));
  g_object_class_install_property (gobject_class, PROP_CROP,
      g_param_spec_double ("crop", "Crop",
          "Fraction of the window kept as a random contiguous segment "
          "(1 = no crop)", 0.01, 1.0, DEFAULT_CROP, rw));
  g_object_class_install_property (gobject_class, PROP_CROP_FILL,
      g_param_spec_enum ("crop-fill", "Crop fill",
          "What becomes of the cropped segment: stretched back to the window "
          "length, or kept in place with zeros around it",
          etp_ecg_crop_fill_get_type (), DEFAULT_CROP_FILL, rw));
  g_object_class_install_property (gobject_class, PROP_INVERT_PROB,
      g_param_spec_double ("invert-prob", "Inversion probability",
          "Probability of flipping the sign of all leads", 0.0, 1.0,
          DEFAULT_INVERT_PROB, rw));
  g_object_class_install_property (gobject_class, PROP_SCALE_MIN,
      g_param_spec_double ("scale-min", "Minimum scale",
          "Lower bound of the uniform amplitude scale factor", 0.0, 100.0,
          DEFAULT_SCALE_MIN, rw));
  g_object_class_install_property (gobject_class, PROP_SCALE_MAX,
      g_param_spec_double ("scale-max", "Maximum scale",
          "Upper bound of the uniform amplitude scale factor", 0.0, 100.0,
          DEFAULT_SCALE_MAX, rw));
  g_object_class_install_property (gobject_class, PROP_NOISE_STD,
      g_param_spec_double ("noise-std", "Noise std",
          "Standard deviation of the additive Gaussian noise, in the "
          "signal's units (0 = none)", 0.0, 1000.0, DEFAULT_NOISE_STD, rw));
  g_object_class_install_property (gobject_class, PROP_MASK_PROB,
      g_param_spec_double ("mask-prob", "Lead mask probability",
          "Probability of zeroing each lead (one lead always survives)", 0.0,
          1.0, DEFAULT_MASK_PROB, rw));

  gst_element_class_add_static_pad_template (element_class, &sink_template);
  gst_element_class_add_static_pad_template (element_class, &src_template);
  gst_element_class_set_static_metadata (element_class,
      "ECG augmentation", "Filter/Effect/Audio",
      "Seeded training-time ECG view augmentations: random segment, "
      "inversion, scaling, Gaussian noise, lead masking", "gst-etp");

  bt_class->transform_ip = GST_DEBUG_FUNCPTR (gst_ecg_augment_transform_ip);
  bt_class->set_caps = GST_DEBUG_FUNCPTR (gst_ecg_augment_set_caps);
  bt_class->start = GST_DEBUG_FUNCPTR (gst_ecg_augment_start);
  bt_class->stop = GST_DEBUG_FUNCPTR (gst_ecg_augment_stop);
  bt_class->transform_ip_on_passthrough = FALSE;

  gst_type_mark_as_plugin_api (etp_ecg_augment_mode_get_type (), 0);
  gst_type_mark_as_plugin_api (etp_ecg_crop_fill_get_type (), 0);
}

static void
gst_ecg_augment_init (GstEcgAugment * self)
{
  self->seed = DEFAULT_SEED;
  self->mode = DEFAULT_MODE;
  self->crop = DEFAULT_CROP;
  self->crop_fill = DEFAULT_CROP_FILL;
  self->invert_prob = DEFAULT_INVERT_PROB;
  self->scale_min = DEFAULT_SCALE_MIN;
  self->scale_max = DEFAULT_SCALE_MAX;
  self->noise_std = DEFAULT_NOISE_STD;
  self->mask_prob = DEFAULT_MASK_PROB;
}
