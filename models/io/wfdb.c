/* WFDB header and signal-file reader (see wfdb.h and
 * https://www.physionet.org/physiotools/wag/header-5.htm for the format). */
#include "io/wfdb.h"
#include "io/matv4.h"
#include "util/etperror.h"

#include <glib/gstdio.h>

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  gchar *file;
  gint fmt;
  gint spf;
  gint64 offset;
  gboolean has_offset;
  gdouble gain;
  gdouble baseline;
  gchar *units;
  gint adczero;
  gboolean has_checksum;
  gint checksum;
  gchar *desc;
} WfdbSignal;

typedef struct {
  gchar *path;                  /* the .hea */
  gchar *dir;
  gchar *name;
  guint nsig;
  gdouble fs;
  gint64 nsamp;                 /* -1 when not declared */
  WfdbSignal *sig;
  GPtrArray *comments;
} WfdbHeader;

static void
wfdb_header_clear (WfdbHeader * h)
{
  if (h->sig) {
    for (guint i = 0; i < h->nsig; i++) {
      g_free (h->sig[i].file);
      g_free (h->sig[i].units);
      g_free (h->sig[i].desc);
    }
    g_free (h->sig);
  }
  if (h->comments)
    g_ptr_array_unref (h->comments);
  g_free (h->path);
  g_free (h->dir);
  g_free (h->name);
  memset (h, 0, sizeof *h);
}

static gboolean
parse_int64 (const gchar * s, gint64 * out)
{
  gchar *end = NULL;
  errno = 0;
  gint64 v = g_ascii_strtoll (s, &end, 10);
  if (errno != 0 || end == s || *end != '\0')
    return FALSE;
  *out = v;
  return TRUE;
}

static gboolean
parse_double (const gchar * s, gdouble * out)
{
  gchar *end = NULL;
  errno = 0;
  gdouble v = g_ascii_strtod (s, &end);
  if (errno != 0 || end == s || *end != '\0' || !isfinite (v))
    return FALSE;
  *out = v;
  return TRUE;
}

/* Splits on runs of blanks. */
static gchar **
split_fields (const gchar * line, guint * n)
{
  GPtrArray *arr = g_ptr_array_new ();
  const gchar *p = line;
  while (*p) {
    while (*p == ' ' || *p == '\t')
      p++;
    if (!*p)
      break;
    const gchar *s = p;
    while (*p && *p != ' ' && *p != '\t')
      p++;
    g_ptr_array_add (arr, g_strndup (s, p - s));
  }
  *n = arr->len;
  g_ptr_array_add (arr, NULL);
  return (gchar **) g_ptr_array_free (arr, FALSE);
}

/* A signal-file name must stay inside the header's folder. */
static gboolean
file_name_is_safe (const gchar * name)
{
  if (name[0] == '\0' || g_path_is_absolute (name) || name[0] == '~'
      || strchr (name, '\\') != NULL)
    return FALSE;
  gchar **parts = g_strsplit (name, "/", -1);
  gboolean ok = TRUE;
  for (gchar ** p = parts; *p; p++)
    if (strcmp (*p, "..") == 0)
      ok = FALSE;
  g_strfreev (parts);
  return ok;
}

static gboolean
parse_signal_line (WfdbHeader * h, WfdbSignal * s, const gchar * line,
    guint lineno, GError ** error)
{
  guint nf = 0;
  g_auto (GStrv) f = split_fields (line, &nf);
  gint64 v;

  if (nf < 2) {
    g_set_error (error, ETP_ERROR, ETP_ERROR_FORMAT,
        "%s:%u: signal line has no format field", h->path, lineno);
    return FALSE;
  }
  if (!file_name_is_safe (f[0])) {
    g_set_error (error, ETP_ERROR, ETP_ERROR_FORMAT,
        "%s:%u: signal file '%s' is outside the record's folder", h->path,
        lineno, f[0]);
    return FALSE;
  }
  s->file = g_strdup (f[0]);

  /* format[xspf][:skew][+offset] */
  {
    gchar *fmtstr = f[1];
    gchar *plus = strchr (fmtstr, '+');
    gchar *colon = strchr (fmtstr, ':');
    gchar *x = strchr (fmtstr, 'x');
    s->spf = 1;
    if (plus) {
      *plus = '\0';
      if (!parse_int64 (plus + 1, &v) || v < 0) {
        g_set_error (error, ETP_ERROR, ETP_ERROR_FORMAT,
            "%s:%u: bad byte offset '%s'", h->path, lineno, plus + 1);
        return FALSE;
      }
      s->offset = v;
      s->has_offset = TRUE;
    }
    if (colon) {
      *colon = '\0';
      if (!parse_int64 (colon + 1, &v) || v != 0) {
        g_set_error (error, ETP_ERROR, ETP_ERROR_UNSUPPORTED,
            "%s:%u: skew '%s' is not supported", h->path, lineno, colon + 1);
        return FALSE;
      }
    }
    if (x) {
      *x = '\0';
      if (!parse_int64 (x + 1, &v) || v != 1) {
        g_set_error (error, ETP_ERROR, ETP_ERROR_UNSUPPORTED,
            "%s:%u: %s samples per frame are not supported (only 1)",
            h->path, lineno, x + 1);
        return FALSE;
      }
    }
    if (!parse_int64 (fmtstr, &v)) {
      g_set_error (error, ETP_ERROR, ETP_ERROR_FORMAT,
          "%s:%u: bad format field '%s'", h->path, lineno, f[1]);
      return FALSE;
    }
    switch (v) {
      case 16: case 61: case 80: case 160: case 212: case 24: case 32:
      case 310: case 311:
        break;
      default:
        g_set_error (error, ETP_ERROR, ETP_ERROR_UNSUPPORTED,
            "%s:%u: unknown or unsupported WFDB storage format %"
            G_GINT64_FORMAT, h->path, lineno, v);
        return FALSE;
    }
    s->fmt = (gint) v;
  }

  /* gain[(baseline)][/units] */
  s->gain = 200.0;
  s->units = g_strdup ("mV");
  gboolean has_baseline = FALSE;
  if (nf > 2) {
    gchar *g = f[2];
    gchar *slash = strchr (g, '/');
    gchar *paren = strchr (g, '(');
    if (slash) {
      *slash = '\0';
      if (slash[1]) {
        g_free (s->units);
        s->units = g_strdup (slash + 1);
      }
    }
    if (paren) {
      gchar *close = strchr (paren, ')');
      if (!close || close[1] != '\0') {
        g_set_error (error, ETP_ERROR, ETP_ERROR_FORMAT,
            "%s:%u: bad baseline in '%s'", h->path, lineno, f[2]);
        return FALSE;
      }
      *close = '\0';
      if (!parse_int64 (paren + 1, &v)) {
        g_set_error (error, ETP_ERROR, ETP_ERROR_FORMAT,
            "%s:%u: bad baseline '%s'", h->path, lineno, paren + 1);
        return FALSE;
      }
      s->baseline = (gdouble) v;
      has_baseline = TRUE;
      *paren = '\0';
    }
    gdouble gain;
    if (!parse_double (g, &gain) || gain < 0) {
      g_set_error (error, ETP_ERROR, ETP_ERROR_FORMAT,
          "%s:%u: bad gain '%s'", h->path, lineno, g);
      return FALSE;
    }
    if (gain > 0)
      s->gain = gain;
  }
  /* adcres (ignored), adczero, initval (ignored), checksum, blocksize */
  if (nf > 4) {
    if (!parse_int64 (f[4], &v) || v < G_MININT32 || v > G_MAXINT32) {
      g_set_error (error, ETP_ERROR, ETP_ERROR_FORMAT,
          "%s:%u: bad ADC zero '%s'", h->path, lineno, f[4]);
      return FALSE;
    }
    s->adczero = (gint) v;
  }
  if (!has_baseline)
    s->baseline = s->adczero;
  if (nf > 6) {
    if (!parse_int64 (f[6], &v)) {
      g_set_error (error, ETP_ERROR, ETP_ERROR_FORMAT,
          "%s:%u: bad checksum '%s'", h->path, lineno, f[6]);
      return FALSE;
    }
    s->checksum = (gint) (v & 0xffff);
    s->has_checksum = TRUE;
  }
  if (nf > 7) {
    if (!parse_int64 (f[7], &v) || v != 0) {
      g_set_error (error, ETP_ERROR, ETP_ERROR_UNSUPPORTED,
          "%s:%u: block size '%s' is not supported (only 0)", h->path,
          lineno, f[7]);
      return FALSE;
    }
  }
  if (nf > 8) {
    /* The description is the rest of the line. */
    const gchar *p = line;
    for (guint k = 0; k < 8; k++) {
      while (*p == ' ' || *p == '\t')
        p++;
      while (*p && *p != ' ' && *p != '\t')
        p++;
    }
    while (*p == ' ' || *p == '\t')
      p++;
    s->desc = g_strstrip (g_strdup (p));
  } else {
    s->desc = g_strdup_printf ("sig%u", (guint) (s - h->sig));
  }
  return TRUE;
}

static gboolean
wfdb_parse_header (const gchar * path, WfdbHeader * h, GError ** error)
{
  gchar *contents = NULL;
  gsize len = 0;
  GStatBuf st;

  memset (h, 0, sizeof *h);
  h->path = g_strdup (path);
  h->dir = g_path_get_dirname (path);
  h->nsamp = -1;
  h->comments = g_ptr_array_new_with_free_func (g_free);

  if (g_stat (path, &st) != 0) {
    g_set_error (error, ETP_ERROR, ETP_ERROR_MISSING,
        "%s: cannot open header: %s", path, g_strerror (errno));
    return FALSE;
  }
  if (st.st_size > ETP_WFDB_MAX_HEADER_BYTES) {
    g_set_error (error, ETP_ERROR, ETP_ERROR_FORMAT,
        "%s: header is %lld bytes, not a WFDB header", path,
        (long long) st.st_size);
    return FALSE;
  }
  if (!g_file_get_contents (path, &contents, &len, error))
    return FALSE;
  if (memchr (contents, '\0', len) != NULL) {
    g_free (contents);
    g_set_error (error, ETP_ERROR, ETP_ERROR_FORMAT,
        "%s: header contains binary data", path);
    return FALSE;
  }

  gchar **lines = g_strsplit (contents, "\n", -1);
  g_free (contents);
  gboolean have_record = FALSE;
  guint nsig_seen = 0;
  gboolean ok = TRUE;

  for (guint i = 0; lines[i] && ok; i++) {
    gchar *line = g_strstrip (lines[i]);
    if (line[0] == '#') {
      g_ptr_array_add (h->comments, g_strstrip (g_strdup (line + 1)));
      continue;
    }
    if (line[0] == '\0')
      continue;
    if (!have_record) {
      guint nf = 0;
      g_auto (GStrv) f = split_fields (line, &nf);
      gint64 v;
      if (strchr (f[0], '/') != NULL) {
        g_set_error (error, ETP_ERROR, ETP_ERROR_UNSUPPORTED,
            "%s:%u: multi-segment records are not supported", path, i + 1);
        ok = FALSE;
        break;
      }
      h->name = g_strdup (f[0]);
      if (nf < 2 || !parse_int64 (f[1], &v) || v < 1
          || v > ETP_WFDB_MAX_SIGNALS) {
        g_set_error (error, ETP_ERROR, ETP_ERROR_FORMAT,
            "%s:%u: bad signal count '%s' (1..%d)", path, i + 1,
            nf > 1 ? f[1] : "", ETP_WFDB_MAX_SIGNALS);
        ok = FALSE;
        break;
      }
      h->nsig = (guint) v;
      h->fs = 250.0;
      if (nf > 2) {
        gchar *fs = f[2];
        gchar *cut = strpbrk (fs, "/(");
        if (cut)
          *cut = '\0';
        if (!parse_double (fs, &h->fs) || h->fs <= 0 || h->fs > 1e6) {
          g_set_error (error, ETP_ERROR, ETP_ERROR_FORMAT,
              "%s:%u: bad sampling frequency '%s'", path, i + 1, f[2]);
          ok = FALSE;
          break;
        }
      }
      if (nf > 3) {
        if (!parse_int64 (f[3], &v) || v < 0) {
          g_set_error (error, ETP_ERROR, ETP_ERROR_FORMAT,
              "%s:%u: bad number of samples '%s'", path, i + 1, f[3]);
          ok = FALSE;
          break;
        }
        if (v > 0)
          h->nsamp = v;
      }
      h->sig = g_new0 (WfdbSignal, h->nsig);
      have_record = TRUE;
      continue;
    }
    if (nsig_seen < h->nsig) {
      ok = parse_signal_line (h, &h->sig[nsig_seen], line, i + 1, error);
      nsig_seen++;
      continue;
    }
    /* Extra non-comment lines after the signals: tolerated (some tools
     * append info lines), kept as comments. */
    g_ptr_array_add (h->comments, g_strdup (line));
  }
  g_strfreev (lines);
  if (!ok)
    return FALSE;
  if (!have_record) {
    g_set_error (error, ETP_ERROR, ETP_ERROR_FORMAT,
        "%s: no record line (empty header)", path);
    return FALSE;
  }
  if (nsig_seen < h->nsig) {
    g_set_error (error, ETP_ERROR, ETP_ERROR_FORMAT,
        "%s: header declares %u signals but describes %u", path, h->nsig,
        nsig_seen);
    return FALSE;
  }
  return TRUE;
}

/* Bytes needed for @n samples of @fmt. */
static guint64
format_bytes (gint fmt, guint64 n)
{
  switch (fmt) {
    case 80:
      return n;
    case 16: case 61: case 160:
      return 2 * n;
    case 24:
      return 3 * n;
    case 32:
      return 4 * n;
    case 212:
      return (n / 2) * 3 + (n % 2 ? 2 : 0);
    case 310:                  /* tail: 1 sample in 2 bytes, 2 in 4 */
      return (n / 3) * 4 + (n % 3) * 2;
    case 311:                  /* tail: 1 sample in 2 bytes, 2 in 3 */
      return (n / 3) * 4 + (n % 3 == 1 ? 2 : n % 3 == 2 ? 3 : 0);
    default:
      return G_MAXUINT64;
  }
}

/* Frames that @bytes can hold (all of a frame's samples complete). */
static guint64
format_frames (gint fmt, guint64 bytes, guint nsig)
{
  guint64 lo = 0, hi = bytes + 1;
  /* largest n with format_bytes (n * nsig) <= bytes (monotonic) */
  while (hi - lo > 1) {
    guint64 mid = lo + (hi - lo) / 2;
    if (format_bytes (fmt, mid * nsig) <= bytes)
      lo = mid;
    else
      hi = mid;
  }
  return lo;
}

static inline gint32
sext (guint32 v, guint bits)
{
  guint32 m = 1u << (bits - 1);
  return (gint32) ((v ^ m) - m);
}

/* 4-byte group @g of a 310/311 stream of @len bytes, zero-padded at the
 * end of the data (the last group may be short). */
static const guint8 *
group4 (const guint8 * d, guint64 len, guint64 g, guint8 tmp[4])
{
  guint64 off = g * 4;
  if (off + 4 <= len)
    return d + off;
  memset (tmp, 0, 4);
  if (off < len)
    memcpy (tmp, d + off, len - off);
  return tmp;
}

/* Decodes @n samples of @fmt from @d (@len bytes, at least
 * format_bytes (fmt, n)) into @out. */
static void
decode_samples (gint fmt, const guint8 * d, guint64 len, guint64 n,
    gint32 * out)
{
  guint64 i;
  guint8 tmp[4];
  switch (fmt) {
    case 16:
      for (i = 0; i < n; i++)
        out[i] = (gint16) (d[2 * i] | (d[2 * i + 1] << 8));
      break;
    case 61:
      for (i = 0; i < n; i++)
        out[i] = (gint16) ((d[2 * i] << 8) | d[2 * i + 1]);
      break;
    case 160:
      for (i = 0; i < n; i++)
        out[i] = (gint32) (d[2 * i] | (d[2 * i + 1] << 8)) - 32768;
      break;
    case 80:
      for (i = 0; i < n; i++)
        out[i] = (gint32) d[i] - 128;
      break;
    case 24:
      for (i = 0; i < n; i++)
        out[i] = sext (d[3 * i] | (d[3 * i + 1] << 8)
            | ((guint32) d[3 * i + 2] << 16), 24);
      break;
    case 32:
      for (i = 0; i < n; i++)
        out[i] = (gint32) (d[4 * i] | (d[4 * i + 1] << 8)
            | ((guint32) d[4 * i + 2] << 16) | ((guint32) d[4 * i + 3] << 24));
      break;
    case 212:
      for (i = 0; i < n; i++) {
        const guint8 *p = d + (i / 2) * 3;
        if (i % 2 == 0)
          out[i] = sext (p[0] | ((p[1] & 0x0f) << 8), 12);
        else
          out[i] = sext (p[2] | ((p[1] & 0xf0) << 4), 12);
      }
      break;
    case 310:
      for (i = 0; i < n; i++) {
        const guint8 *p = group4 (d, len, i / 3, tmp);
        switch (i % 3) {
          case 0:
            out[i] = sext ((p[0] >> 1) | ((p[1] & 0x07) << 7), 10);
            break;
          case 1:
            out[i] = sext ((p[2] >> 1) | ((p[3] & 0x07) << 7), 10);
            break;
          default:
            out[i] = sext (((p[1] & 0xf8) >> 3) | ((p[3] & 0xf8) << 2), 10);
            break;
        }
      }
      break;
    case 311:
      for (i = 0; i < n; i++) {
        const guint8 *p = group4 (d, len, i / 3, tmp);
        guint32 w = p[0] | (p[1] << 8) | ((guint32) p[2] << 16)
            | ((guint32) p[3] << 24);
        out[i] = sext ((w >> (10 * (i % 3))) & 0x3ff, 10);
      }
      break;
    default:
      g_assert_not_reached ();
  }
}

/* WFDB's "invalid sample" marker for @fmt (never a real value). */
static gboolean
is_invalid_sample (gint fmt, gint32 v)
{
  switch (fmt) {
    case 16: case 61: case 160:
      return v == -32768;
    case 212:
      return v == -2048;
    case 24:
      return v == -8388608;
    case 32:
      return v == G_MININT32;
    case 80:
      return v == -128;
    case 310: case 311:
      return v == -512;
    default:
      return FALSE;
  }
}

/* Reads all signals stored in @file (indices @idx[0..n-1]) into rec. */
static gboolean
read_signal_file (WfdbHeader * h, const gchar * file, const guint * idx,
    guint n, EtpRecord * rec, gint64 * nsamp_io, GError ** error)
{
  g_autofree gchar *fpath = g_build_filename (h->dir, file, NULL);
  g_autofree gchar *data = NULL;
  gsize len = 0;
  GStatBuf st;
  gint fmt = h->sig[idx[0]].fmt;
  gint64 nsamp = *nsamp_io;
  guint64 data_off;
  gboolean is_mat = g_str_has_suffix (file, ".mat");

  for (guint k = 1; k < n; k++) {
    if (h->sig[idx[k]].fmt != fmt) {
      g_set_error (error, ETP_ERROR, ETP_ERROR_FORMAT,
          "%s: signals in '%s' use different formats (%d and %d)", h->path,
          file, fmt, h->sig[idx[k]].fmt);
      return FALSE;
    }
  }
  if (g_stat (fpath, &st) != 0) {
    g_set_error (error, ETP_ERROR, ETP_ERROR_MISSING,
        "%s: cannot open signal file: %s", fpath, g_strerror (errno));
    return FALSE;
  }
  if (!g_file_get_contents (fpath, &data, &len, error))
    return FALSE;

  gint32 *adc = NULL;
  gdouble *fadc = NULL;         /* for floating-point .mat */
  guint64 frames;

  if (is_mat) {
    EtpMatV4 m;
    if (!etp_matv4_parse (fpath, (const guint8 *) data, len, &m, error))
      return FALSE;
    if (m.rows != n) {
      g_set_error (error, ETP_ERROR, ETP_ERROR_MISMATCH,
          "%s: matrix '%s' has %u rows but the header %s gives it %u "
          "signals (wrong lead count)", fpath, m.name, m.rows, h->path, n);
      return FALSE;
    }
    frames = m.cols;
    if (nsamp >= 0 && (guint64) nsamp != frames) {
      g_set_error (error, ETP_ERROR, ETP_ERROR_MISMATCH,
          "%s: holds %" G_GUINT64_FORMAT " samples per signal but the header "
          "%s declares %" G_GINT64_FORMAT, fpath, frames, h->path, nsamp);
      return FALSE;
    }
    guint64 total = frames * n;
    if (m.is_float) {
      fadc = g_new (gdouble, MAX (total, 1));
      etp_matv4_get_doubles (&m, fadc);
    } else {
      adc = g_new (gint32, MAX (total, 1));
      etp_matv4_get_ints (&m, adc);
    }
  } else {
    data_off = h->sig[idx[0]].has_offset ? (guint64) h->sig[idx[0]].offset : 0;
    if (data_off > len) {
      g_set_error (error, ETP_ERROR, ETP_ERROR_FORMAT,
          "%s: byte offset %" G_GUINT64_FORMAT " is past the end of the file "
          "(%" G_GSIZE_FORMAT " bytes)", fpath, data_off, len);
      return FALSE;
    }
    guint64 avail = len - data_off;
    frames = format_frames (fmt, avail, n);
    if (nsamp >= 0) {
      if ((guint64) nsamp > frames) {
        g_set_error (error, ETP_ERROR, ETP_ERROR_MISMATCH,
            "%s: truncated: the header %s declares %" G_GINT64_FORMAT
            " samples per signal but the file holds only %" G_GUINT64_FORMAT,
            fpath, h->path, nsamp, frames);
        return FALSE;
      }
      /* Allow only padding to the next byte boundary beyond the
       * declared samples; anything more is a sample-count mismatch. */
      guint64 need = format_bytes (fmt, (guint64) nsamp * n);
      if (avail > need + 3) {
        g_set_error (error, ETP_ERROR, ETP_ERROR_MISMATCH,
            "%s: holds %" G_GUINT64_FORMAT " samples per signal but the "
            "header %s declares %" G_GINT64_FORMAT
            " (sample-count mismatch)", fpath, frames, h->path, nsamp);
        return FALSE;
      }
      frames = (guint64) nsamp;
    }
    guint64 total = frames * n;
    adc = g_new (gint32, MAX (total, 1));
    decode_samples (fmt, (const guint8 *) data + data_off, avail, total, adc);
  }

  if (nsamp < 0)
    *nsamp_io = nsamp = (gint64) frames;
  if (rec->samples == NULL) {
    rec->n_samples = (guint64) nsamp;
    rec->samples = g_new0 (gfloat, MAX ((guint64) nsamp * h->nsig, 1));
  } else if (rec->n_samples != (guint64) nsamp) {
    g_set_error (error, ETP_ERROR, ETP_ERROR_MISMATCH,
        "%s: holds %" G_GINT64_FORMAT " samples per signal, other signal "
        "files of %s hold %" G_GUINT64_FORMAT, fpath, nsamp, h->path,
        rec->n_samples);
    g_free (adc);
    g_free (fadc);
    return FALSE;
  }

  for (guint k = 0; k < n; k++) {
    WfdbSignal *s = &h->sig[idx[k]];
    guint32 sum = 0;
    gboolean invalid = FALSE;
    guint64 bad_at = 0;
    for (guint64 i = 0; i < frames; i++) {
      gdouble v;
      if (adc) {
        gint32 a = adc[i * n + k];
        sum += (guint32) a;
        if (!invalid && is_invalid_sample (fmt, a) && !is_mat) {
          invalid = TRUE;
          bad_at = i;
        }
        v = ((gdouble) a - s->baseline) / s->gain;
      } else {
        gdouble a = fadc[i * n + k];
        if (!isfinite (a) && !invalid) {
          invalid = TRUE;
          bad_at = i;
        }
        sum += (guint32) (gint64) (isfinite (a) ? a : 0);
        v = (a - s->baseline) / s->gain;
      }
      rec->samples[i * h->nsig + idx[k]] = (gfloat) v;
    }
    if (invalid) {
      g_set_error (error, ETP_ERROR, ETP_ERROR_FORMAT,
          "%s: signal %u (%s) has an invalid/NaN sample at %" G_GUINT64_FORMAT,
          fpath, idx[k], s->desc, bad_at);
      g_free (adc);
      g_free (fadc);
      return FALSE;
    }
    if (s->has_checksum && (gint) (sum & 0xffff) != s->checksum) {
      g_set_error (error, ETP_ERROR, ETP_ERROR_MISMATCH,
          "%s: checksum mismatch for signal %u (%s): header %s says %d, "
          "samples sum to %u", fpath, idx[k], s->desc, h->path, s->checksum,
          sum & 0xffff);
      g_free (adc);
      g_free (fadc);
      return FALSE;
    }
  }
  g_free (adc);
  g_free (fadc);
  return TRUE;
}

static gint
parse_sex (const gchar * v)
{
  if (g_ascii_strcasecmp (v, "male") == 0 || g_ascii_strcasecmp (v, "m") == 0)
    return 0;
  if (g_ascii_strcasecmp (v, "female") == 0
      || g_ascii_strcasecmp (v, "f") == 0)
    return 1;
  return -1;
}

/* Comment keys that are not part of a free-text report. */
static gboolean
is_structured_key (const gchar * key)
{
  static const gchar *const keys[] = { "age", "sex", "dx", "rx", "hx", "sx",
    "ecg date", "source", "date", "time"
  };
  for (guint i = 0; i < G_N_ELEMENTS (keys); i++)
    if (g_ascii_strcasecmp (key, keys[i]) == 0)
      return TRUE;
  return FALSE;
}

static void
apply_comments (EtpRecord * rec, GPtrArray * comments)
{
  GString *report = g_string_new (NULL);
  for (guint i = 0; i < comments->len; i++) {
    const gchar *c = g_ptr_array_index (comments, i);
    const gchar *colon = strchr (c, ':');
    if (!colon)
      continue;
    g_autofree gchar *key = g_strstrip (g_strndup (c, colon - c));
    g_autofree gchar *val = g_strstrip (g_strdup (colon + 1));
    if (g_ascii_strcasecmp (key, "age") == 0) {
      gdouble a;
      if (parse_double (val, &a) && a >= 0 && a < 200)
        rec->age = a;
    } else if (g_ascii_strcasecmp (key, "sex") == 0) {
      rec->sex = parse_sex (val);
    } else if (g_ascii_strcasecmp (key, "dx") == 0) {
      gchar **codes = g_strsplit (val, ",", -1);
      GPtrArray *arr = g_ptr_array_new ();
      for (gchar ** p = codes; *p; p++) {
        g_strstrip (*p);
        if (**p)
          g_ptr_array_add (arr, g_strdup (*p));
      }
      g_ptr_array_add (arr, NULL);
      g_strfreev (codes);
      g_strfreev (rec->label_codes);
      rec->label_codes = (gchar **) g_ptr_array_free (arr, FALSE);
    } else if (!is_structured_key (key) && val[0]
        && g_ascii_strcasecmp (val, "n/a") != 0
        && g_ascii_strcasecmp (val, "unknown") != 0) {
      /* free-text clinical comments (e.g. PTB's) make the record's report */
      if (report->len)
        g_string_append (report, ". ");
      g_string_append_printf (report, "%s: %s", key, val);
    }
  }
  if (report->len && g_utf8_validate (report->str, -1, NULL)) {
    g_string_append_c (report, '.');
    g_free (rec->report);
    rec->report = g_string_free (report, FALSE);
  } else {
    g_string_free (report, TRUE);
  }
}

static EtpRecord *
record_from_header (WfdbHeader * h)
{
  EtpRecord *rec = etp_record_new ();
  g_autofree gchar *base = g_path_get_basename (h->path);
  if (g_str_has_suffix (base, ".hea"))
    base[strlen (base) - 4] = '\0';
  rec->record_id = g_strdup (base);
  rec->dataset = g_strdup ("wfdb");
  rec->source_rate = h->fs;
  rec->n_leads = h->nsig;
  rec->n_samples = h->nsamp > 0 ? (guint64) h->nsamp : 0;
  rec->lead_names = g_new0 (gchar *, h->nsig + 1);
  for (guint i = 0; i < h->nsig; i++)
    rec->lead_names[i] = g_strdup (h->sig[i].desc);
  rec->units = g_strdup (h->sig[0].units);
  rec->source_path = g_strdup (h->path);
  rec->comments = g_new0 (gchar *, h->comments->len + 1);
  for (guint i = 0; i < h->comments->len; i++)
    rec->comments[i] = g_strdup (g_ptr_array_index (h->comments, i));
  apply_comments (rec, h->comments);
  return rec;
}

EtpRecord *
etp_wfdb_read_header (const gchar * hea_path, GError ** error)
{
  WfdbHeader h;
  if (!wfdb_parse_header (hea_path, &h, error)) {
    wfdb_header_clear (&h);
    return NULL;
  }
  EtpRecord *rec = record_from_header (&h);
  wfdb_header_clear (&h);
  return rec;
}

EtpRecord *
etp_wfdb_read (const gchar * hea_path, GError ** error)
{
  WfdbHeader h;
  if (!wfdb_parse_header (hea_path, &h, error)) {
    wfdb_header_clear (&h);
    return NULL;
  }
  EtpRecord *rec = record_from_header (&h);
  rec->n_samples = 0;
  gint64 nsamp = h.nsamp;
  gboolean *done = g_new0 (gboolean, h.nsig);
  guint *idx = g_new (guint, h.nsig);
  gboolean ok = TRUE;

  for (guint i = 0; i < h.nsig && ok; i++) {
    if (done[i])
      continue;
    guint n = 0;
    for (guint j = i; j < h.nsig; j++) {
      if (!done[j] && strcmp (h.sig[j].file, h.sig[i].file) == 0) {
        idx[n++] = j;
        done[j] = TRUE;
      }
    }
    ok = read_signal_file (&h, h.sig[i].file, idx, n, rec, &nsamp, error);
  }
  g_free (done);
  g_free (idx);
  gboolean units_differ = FALSE;
  for (guint i = 1; i < h.nsig; i++)
    if (g_strcmp0 (h.sig[i].units, h.sig[0].units) != 0)
      units_differ = TRUE;
  if (ok && units_differ) {
    /* Keep the first signal's units; say so in the comments. */
    guint nc = g_strv_length (rec->comments);
    rec->comments = g_renew (gchar *, rec->comments, nc + 2);
    rec->comments[nc] = g_strdup ("etp: signals have different units; "
        "units names the first signal's");
    rec->comments[nc + 1] = NULL;
  }
  wfdb_header_clear (&h);
  if (!ok) {
    etp_record_free (rec);
    return NULL;
  }
  etp_record_to_standard_leads (rec);
  return rec;
}
