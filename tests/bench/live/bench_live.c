/* How many concurrent live 12-lead feeds (100 Hz, 10 s windows, 1 s hop) one
 * machine keeps in real time, and the window -> score latency.
 *
 * N feeds are generated in-process at real-time pace: a pacing thread waits on
 * the pipeline clock and, every chunk (100 ms), pushes the chunk that has just
 * been completed to each feed's appsrc (is-live, running-time timestamps), as a
 * monitor would send it. Feeds start at staggered phases (feed i starts
 * (i mod 10) chunks late), like unsynchronised monitors. Each feed runs
 * appsrc ! ecgwindow duration=10 hop=1 normalize=zscore in its own streaming
 * thread; all feeds meet in a funnel before ONE batched ecgencoder
 * (batch-size, max-latency) -> zeroshot -> appsink. The appsink measures, per
 * window, latency = clock running time when the score arrives minus the running
 * time of the window's last sample (PTS + duration of the window), i.e. the
 * wall time at which that sample was handed to the pipeline.
 *
 * A feed count is "kept in real time" when, over the measured interval, the
 * scored windows per second are >= 95% of N and the p95 latency is below the
 * hop (1 s): each feed's score arrives before its next window is due.
 *
 * The signal is synthetic (a 1.2 Hz ECG-like pulse train + noise per lead):
 * the encoder's cost does not depend on the values. */
#include <gst/gst.h>
#include <gst/app/gstappsrc.h>
#include <gst/app/gstappsink.h>
#include <glib/gstdio.h>
#include <unistd.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RATE 100
#define LEADS 12
#define CHUNK_SAMPLES 10        /* 100 ms */
#define PERIOD_SAMPLES 1000     /* generated signal cycles every 10 s */

static gint opt_seconds = 20;
static gint opt_batch = 32;
static gint opt_max_latency_ms = 200;
static gint opt_threads = 0;
static gchar *opt_feeds = NULL;
static gchar *opt_precision = NULL;
static gchar *opt_checkpoint = NULL;
static gchar *opt_device = NULL;
static gboolean opt_stop_at_loss = TRUE;

typedef struct
{
  GMutex lock;
  GArray *lat_ms;               /* gdouble, windows scored in the measured interval */
  GstClockTime measure_from, measure_to;        /* running time */
  GstElement *pipeline;
  guint64 n_total;
} Sink;

static GstFlowReturn
on_sample (GstAppSink * appsink, gpointer user)
{
  Sink *s = user;
  GstSample *sample = gst_app_sink_pull_sample (appsink);
  if (!sample)
    return GST_FLOW_ERROR;
  GstBuffer *buf = gst_sample_get_buffer (sample);
  GstClock *clock = gst_element_get_clock (s->pipeline);
  if (clock && buf && GST_BUFFER_PTS_IS_VALID (buf)) {
    GstClockTime now = gst_clock_get_time (clock) -
        gst_element_get_base_time (s->pipeline);
    GstClockTime end = GST_BUFFER_PTS (buf) +
        (GST_BUFFER_DURATION_IS_VALID (buf) ? GST_BUFFER_DURATION (buf) :
        10 * GST_SECOND);
    gdouble lat = ((gdouble) (gint64) (now - end)) / 1e6;
    g_mutex_lock (&s->lock);
    s->n_total++;
    if (now >= s->measure_from && now < s->measure_to)
      g_array_append_val (s->lat_ms, lat);
    g_mutex_unlock (&s->lock);
  }
  if (clock)
    gst_object_unref (clock);
  gst_sample_unref (sample);
  return GST_FLOW_OK;
}

static int
cmp_double (const void *a, const void *b)
{
  gdouble x = *(const gdouble *) a, y = *(const gdouble *) b;
  return x < y ? -1 : x > y;
}

static gdouble
pct (GArray * a, gdouble p)
{
  if (a->len == 0)
    return NAN;
  gsize i = (gsize) ceil (p / 100.0 * a->len);
  if (i > 0)
    i--;
  if (i >= a->len)
    i = a->len - 1;
  return g_array_index (a, gdouble, i);
}

static void
make_signal (gfloat * sig, guint feed)
{
  GRand *r = g_rand_new_with_seed (feed + 1);
  gdouble hr = 1.0 + 0.01 * (feed % 40);       /* 60-100 bpm */
  for (guint t = 0; t < PERIOD_SAMPLES; t++) {
    gdouble ph = fmod (t * hr / RATE, 1.0);
    gdouble qrs = exp (-pow ((ph - 0.3) / 0.015, 2.0));
    gdouble tw = 0.3 * exp (-pow ((ph - 0.6) / 0.06, 2.0));
    for (guint l = 0; l < LEADS; l++)
      sig[t * LEADS + l] = (gfloat) ((0.5 + 0.1 * l) * qrs + tw +
          0.02 * g_rand_double_range (r, -1, 1));
  }
  g_rand_free (r);
}

typedef struct
{
  gint n;
  gdouble rate_ratio, p50, p95, p99, max, mean_batch_wait;
  guint n_lat;
  gboolean realtime;
  gchar *error;
} Result;

static Result
run_one (gint n_feeds, const gchar * prompts)
{
  Result res = { 0 };
  res.n = n_feeds;
  GString *d = g_string_new (NULL);
  g_string_append_printf (d, "funnel name=f ! ecgencoder checkpoint=%s "
      "output=embedding batch-size=%d max-latency=%" G_GUINT64_FORMAT
      " precision=%s threads=%d device=%s seed=1 "
      "! zeroshot prompt-embeddings=\"%s\" classes=NORM,MI,STTC,CD,HYP "
      "post-messages=false silent=true "
      "! appsink name=out sync=false emit-signals=false max-buffers=0 ",
      opt_checkpoint, opt_batch, (guint64) opt_max_latency_ms * GST_MSECOND,
      opt_precision, opt_threads, opt_device, prompts);
  for (gint i = 0; i < n_feeds; i++)
    g_string_append_printf (d, "appsrc name=src%d is-live=true format=time "
        "do-timestamp=false max-bytes=0 block=false "
        "caps=\"audio/x-raw,format=F32LE,layout=interleaved,rate=%d,"
        "channels=%d\" ! ecgwindow duration=10 hop=1 normalize=zscore ! f. ",
        i, RATE, LEADS);
  GError *err = NULL;
  GstElement *pipe = gst_parse_launch (d->str, &err);
  g_string_free (d, TRUE);
  if (!pipe) {
    res.error = g_strdup (err ? err->message : "parse failed");
    g_clear_error (&err);
    return res;
  }

  Sink sink = { 0 };
  g_mutex_init (&sink.lock);
  sink.lat_ms = g_array_new (FALSE, FALSE, sizeof (gdouble));
  sink.pipeline = pipe;
  GstElement *out = gst_bin_get_by_name (GST_BIN (pipe), "out");
  GstAppSinkCallbacks cb = { 0 };
  cb.new_sample = on_sample;
  gst_app_sink_set_callbacks (GST_APP_SINK (out), &cb, &sink, NULL);

  GstAppSrc **srcs = g_new0 (GstAppSrc *, n_feeds);
  gfloat **sig = g_new0 (gfloat *, n_feeds);
  for (gint i = 0; i < n_feeds; i++) {
    gchar name[32];
    g_snprintf (name, sizeof name, "src%d", i);
    srcs[i] = GST_APP_SRC (gst_bin_get_by_name (GST_BIN (pipe), name));
    sig[i] = g_new (gfloat, PERIOD_SAMPLES * LEADS);
    make_signal (sig[i], i);
  }

  /* first windows complete after 10 s + the stagger; measure after 12 s */
  const GstClockTime chunk = (GstClockTime) CHUNK_SAMPLES * GST_SECOND / RATE;
  sink.measure_from = 12 * GST_SECOND;
  sink.measure_to = sink.measure_from + (GstClockTime) opt_seconds * GST_SECOND;

  if (gst_element_set_state (pipe, GST_STATE_PLAYING) ==
      GST_STATE_CHANGE_FAILURE) {
    res.error = g_strdup ("PLAYING failed");
    goto done;
  }
  /* wait for the clock */
  GstClock *clock = NULL;
  for (int k = 0; k < 200 && !(clock = gst_element_get_clock (pipe)); k++)
    g_usleep (10000);
  if (!clock) {
    res.error = g_strdup ("no clock");
    goto done;
  }
  GstBus *bus = gst_element_get_bus (pipe);
  GstClockTime base = gst_element_get_base_time (pipe);
  guint64 *pos = g_new0 (guint64, n_feeds);
  for (guint64 tick = 1;; tick++) {
    GstClockTime t = tick * chunk;     /* chunks [t - chunk, t) are complete */
    GstClockID id = gst_clock_new_single_shot_id (clock, base + t);
    gst_clock_id_wait (id, NULL);
    gst_clock_id_unref (id);
    for (gint i = 0; i < n_feeds; i++) {
      if (tick <= (guint64) (i % 10))
        continue;               /* staggered start */
      GstBuffer *b = gst_buffer_new_allocate (NULL,
          CHUNK_SAMPLES * LEADS * sizeof (gfloat), NULL);
      guint64 off = pos[i] % PERIOD_SAMPLES;
      gst_buffer_fill (b, 0, sig[i] + off * LEADS,
          CHUNK_SAMPLES * LEADS * sizeof (gfloat));
      GST_BUFFER_PTS (b) = t - chunk;
      GST_BUFFER_DURATION (b) = chunk;
      pos[i] += CHUNK_SAMPLES;
      gst_app_src_push_buffer (srcs[i], b);
    }
    GstMessage *m = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);
    if (m) {
      GError *e = NULL;
      gst_message_parse_error (m, &e, NULL);
      res.error = g_strdup (e->message);
      g_clear_error (&e);
      gst_message_unref (m);
      break;
    }
    if (t >= sink.measure_to)
      break;
  }
  g_free (pos);
  gst_object_unref (bus);
  gst_object_unref (clock);

  g_mutex_lock (&sink.lock);
  g_array_sort (sink.lat_ms, cmp_double);
  res.n_lat = sink.lat_ms->len;
  res.rate_ratio = sink.lat_ms->len / (gdouble) opt_seconds / n_feeds;
  res.p50 = pct (sink.lat_ms, 50);
  res.p95 = pct (sink.lat_ms, 95);
  res.p99 = pct (sink.lat_ms, 99);
  res.max = pct (sink.lat_ms, 100);
  g_mutex_unlock (&sink.lock);
  res.realtime = !res.error && res.rate_ratio >= 0.95 && res.p95 < 1000.0;

done:
  gst_element_set_state (pipe, GST_STATE_NULL);
  for (gint i = 0; i < n_feeds; i++) {
    gst_object_unref (srcs[i]);
    g_free (sig[i]);
  }
  g_free (srcs);
  g_free (sig);
  gst_object_unref (out);
  gst_object_unref (pipe);
  g_array_free (sink.lat_ms, TRUE);
  g_mutex_clear (&sink.lock);
  return res;
}

int
main (int argc, char **argv)
{
  GOptionEntry entries[] = {
    {"feeds", 'n', 0, G_OPTION_ARG_STRING, &opt_feeds,
        "Feed counts to try, in order (default 25,50,100,200,300,400)", "N,N,..."},
    {"seconds", 's', 0, G_OPTION_ARG_INT, &opt_seconds,
        "Measured seconds per feed count, after the 12 s fill (default 20)", "S"},
    {"batch-size", 'b', 0, G_OPTION_ARG_INT, &opt_batch,
        "ecgencoder batch-size (default 32)", "B"},
    {"max-latency", 'l', 0, G_OPTION_ARG_INT, &opt_max_latency_ms,
        "ecgencoder max-latency in ms (default 200)", "MS"},
    {"threads", 't', 0, G_OPTION_ARG_INT, &opt_threads,
        "ecgencoder threads (0 = one per core)", "T"},
    {"precision", 'p', 0, G_OPTION_ARG_STRING, &opt_precision,
        "fp32 or bf16", "P"},
    {"device", 'd', 0, G_OPTION_ARG_STRING, &opt_device,
        "auto, cpu or cuda (default cpu)", "D"},
    {"checkpoint", 'c', 0, G_OPTION_ARG_STRING, &opt_checkpoint,
        "100 Hz model (default random: same cost as a trained one)", "FILE"},
    {"keep-going", 'k', G_OPTION_FLAG_REVERSE, G_OPTION_ARG_NONE,
        &opt_stop_at_loss, "Try every feed count even after real time is lost",
        NULL},
    {NULL}
  };
  GError *err = NULL;
  GOptionContext *ctx = g_option_context_new ("- live feeds kept in real time");
  g_option_context_add_main_entries (ctx, entries, NULL);
  g_option_context_add_group (ctx, gst_init_get_option_group ());
  if (!g_option_context_parse (ctx, &argc, &argv, &err)) {
    g_printerr ("%s\n", err->message);
    return 2;
  }
  g_option_context_free (ctx);
  gst_init (&argc, &argv);
  if (!opt_feeds)
    opt_feeds = g_strdup ("25,50,100,200,300,400");
  if (!opt_precision)
    opt_precision = g_strdup ("fp32");
  if (!opt_checkpoint)
    opt_checkpoint = g_strdup ("random");
  if (!opt_device)
    opt_device = g_strdup ("cpu");

  /* prompt embeddings: 5 classes x 512, raw float32 */
  gchar *prompts = NULL;
  gint fd = g_file_open_tmp ("etp-bench-live-XXXXXX.f32", &prompts, &err);
  if (fd < 0) {
    g_printerr ("%s\n", err->message);
    return 1;
  }
  close (fd);
  gfloat *p = g_new (gfloat, 5 * 512);
  for (int i = 0; i < 5 * 512; i++)
    p[i] = (gfloat) sin (0.37 * i + 1.0);
  g_file_set_contents (prompts, (gchar *) p, 5 * 512 * sizeof (gfloat), NULL);
  g_free (p);

  printf ("# live feeds: 100 Hz x 12 leads, 10 s windows, 1 s hop; ecgencoder "
      "checkpoint=%s precision=%s device=%s threads=%d batch-size=%d "
      "max-latency=%d ms; %d s measured per N; %u online cores\n",
      opt_checkpoint, opt_precision, opt_device, opt_threads, opt_batch,
      opt_max_latency_ms, opt_seconds, g_get_num_processors ());
  printf ("%6s %10s %9s %9s %9s %9s %9s  %s\n", "feeds", "windows/s",
      "of-N", "p50_ms", "p95_ms", "p99_ms", "max_ms", "real-time");
  gint best = 0;
  gchar **ns = g_strsplit (opt_feeds, ",", -1);
  for (gchar ** n = ns; *n; n++) {
    gint nf = atoi (*n);
    if (nf <= 0)
      continue;
    Result r = run_one (nf, prompts);
    if (r.error) {
      printf ("%6d error: %s\n", nf, r.error);
      g_free (r.error);
      break;
    }
    printf ("%6d %10.1f %8.1f%% %9.0f %9.0f %9.0f %9.0f  %s\n", nf,
        r.rate_ratio * nf, 100.0 * r.rate_ratio, r.p50, r.p95, r.p99, r.max,
        r.realtime ? "yes" : "NO");
    fflush (stdout);
    if (r.realtime)
      best = nf;
    else if (opt_stop_at_loss)
      break;
  }
  g_strfreev (ns);
  printf ("# kept in real time: %d feeds (largest N tried that passed)\n", best);
  g_unlink (prompts);
  g_free (prompts);
  return 0;
}
