/* The live monitor path over loopback UDP with simulated packet loss.
 *
 * Sender (as pipelines/live-sender.sh): the bundled PTB-XL samples played at
 * real-time pace (ecgsrc is-live=true), 16-bit RTP L16, 5% of the RTP packets
 * dropped on purpose (identity drop-probability), udpsink to 127.0.0.1.
 * Receiver (as pipelines/live-monitor.sh): udpsrc -> rtpjitterbuffer ->
 * rtpL16depay -> audiorate (fills the lost samples) -> ecgresample ->
 * ecgwindow 10 s / 1 s hop -> ecgencoder (random init) -> zeroshot with a raw
 * float32 prompt-embedding file written by the test.
 *
 * Checks, after 30 s of feed: the receiver kept scoring windows at about one
 * per second (>= 15 etp-zeroshot messages; the first needs 10 s of signal),
 * the scores are finite probabilities, no error on either bus, and the loss
 * was seen and reported (audiorate's `add` counter or etp-window-gap
 * messages, and the jitterbuffer's lost-packet count). */
#include <gst/gst.h>
#include <glib/gstdio.h>
#include <unistd.h>
#include <math.h>
#include <stdio.h>

#define FEED_SECONDS 30
#define N_CLASSES 5
#define EMBED_DIM 512

typedef struct
{
  guint n_scored;
  guint n_gap_msgs;
  guint n_bad_scores;
  gint64 first_score_us;
  gint64 last_score_us;
  gchar *error;
} LiveStats;

static gchar *
write_prompt_file (void)
{
  GError *err = NULL;
  gchar *path = NULL;
  gint fd = g_file_open_tmp ("etp-live-prompts-XXXXXX.f32", &path, &err);
  g_assert_no_error (err);
  close (fd);
  /* deterministic pseudo-random class embeddings */
  gfloat *rows = g_new (gfloat, N_CLASSES * EMBED_DIM);
  GRand *r = g_rand_new_with_seed (7);
  for (guint i = 0; i < N_CLASSES * EMBED_DIM; i++)
    rows[i] = (gfloat) g_rand_double_range (r, -1.0, 1.0);
  g_rand_free (r);
  g_file_set_contents (path, (const gchar *) rows,
      sizeof (gfloat) * N_CLASSES * EMBED_DIM, &err);
  g_assert_no_error (err);
  g_free (rows);
  return path;
}

static GMutex first_lock;
static gint64 first_sent_us;    /* when the sender's first packet left */

static GstPadProbeReturn
on_first_packet (GstPad * pad, GstPadProbeInfo * info, gpointer user)
{
  (void) pad;
  (void) info;
  (void) user;
  g_mutex_lock (&first_lock);
  first_sent_us = g_get_monotonic_time ();
  g_mutex_unlock (&first_lock);
  return GST_PAD_PROBE_REMOVE;
}

static void
handle_message (GstMessage * msg, LiveStats * st)
{
  switch (GST_MESSAGE_TYPE (msg)) {
    case GST_MESSAGE_ERROR:{
      GError *e = NULL;
      gchar *dbg = NULL;
      gst_message_parse_error (msg, &e, &dbg);
      if (!st->error)
        st->error = g_strdup_printf ("%s: %s (%s)",
            GST_OBJECT_NAME (GST_MESSAGE_SRC (msg)), e->message,
            dbg ? dbg : "");
      g_clear_error (&e);
      g_free (dbg);
      break;
    }
    case GST_MESSAGE_ELEMENT:{
      const GstStructure *s = gst_message_get_structure (msg);
      if (gst_structure_has_name (s, "etp-zeroshot")) {
        const GValue *scores = gst_structure_get_value (s, "scores");
        gdouble sum = 0.0;
        guint n = 0;
        if (scores && GST_VALUE_HOLDS_ARRAY (scores)) {
          n = gst_value_array_get_size (scores);
          for (guint i = 0; i < n; i++) {
            const GValue *v = gst_value_array_get_value (scores, i);
            gdouble x = G_VALUE_HOLDS_DOUBLE (v) ? g_value_get_double (v) :
                G_VALUE_HOLDS_FLOAT (v) ? g_value_get_float (v) : NAN;
            if (!isfinite (x) || x < 0.0 || x > 1.0)
              st->n_bad_scores++;
            sum += x;
          }
        }
        if (n != N_CLASSES || fabs (sum - 1.0) > 1e-3)
          st->n_bad_scores++;
        st->n_scored++;
        st->last_score_us = g_get_monotonic_time ();
        if (st->n_scored == 1)
          st->first_score_us = st->last_score_us;
      } else if (gst_structure_has_name (s, "etp-window-gap")) {
        st->n_gap_msgs++;
      }
      break;
    }
    default:
      break;
  }
}

static void
test_live_udp_loss (void)
{
  const gchar *root = g_getenv ("ETP_SOURCE_ROOT");
  gchar *samples = g_build_filename (root ? root : ".", "pipelines", "samples",
      "ptbxl", NULL);
  if (!g_file_test (samples, G_FILE_TEST_IS_DIR)) {
    g_test_skip ("bundled samples not found (ETP_SOURCE_ROOT)");
    g_free (samples);
    return;
  }
  gchar *prompts = write_prompt_file ();
  GError *err = NULL;

  gchar *rx_desc = g_strdup_printf ("udpsrc name=usrc address=127.0.0.1 port=0 "
      "caps=\"application/x-rtp,media=audio,clock-rate=100,encoding-name=L16,"
      "channels=12,payload=96\" "
      "! rtpjitterbuffer name=jb latency=200 ! rtpL16depay ! audioconvert "
      "! audio/x-raw,format=F32LE ! audiorate name=rate skip-to-first=true "
      "! volume volume=10 ! ecgresample highpass=0.5 "
      "! ecgwindow duration=10 hop=1 normalize=zscore "
      "! ecgencoder checkpoint=random seed=1 output=embedding batch-size=1 "
      "  device=cpu threads=1 "
      "! zeroshot prompt-embeddings=\"%s\" classes=NORM,MI,STTC,CD,HYP "
      "! fakesink sync=false", prompts);
  GstElement *rx = gst_parse_launch (rx_desc, &err);
  g_assert_no_error (err);
  g_assert_nonnull (rx);

  /* bind the receiver first (port=0: the OS picks a free port) */
  g_assert_cmpint (gst_element_set_state (rx, GST_STATE_READY), !=,
      GST_STATE_CHANGE_FAILURE);
  GstElement *usrc = gst_bin_get_by_name (GST_BIN (rx), "usrc");
  gint port = 0;
  g_object_get (usrc, "port", &port, NULL);
  gst_object_unref (usrc);
  g_assert_cmpint (port, >, 0);

  gchar *tx_desc = g_strdup_printf ("ecgsrc location=\"%s\" rate=100 "
      "is-live=true chunk-duration=0.2 "
      "! volume volume=0.1 ! audioconvert ! audio/x-raw,format=S16BE "
      "! rtpL16pay pt=96 ! identity drop-probability=0.05 "
      "! udpsink name=usink host=127.0.0.1 port=%d sync=true", samples, port);
  GstElement *tx = gst_parse_launch (tx_desc, &err);
  g_assert_no_error (err);
  g_assert_nonnull (tx);

  GstElement *usink = gst_bin_get_by_name (GST_BIN (tx), "usink");
  GstPad *upad = gst_element_get_static_pad (usink, "sink");
  gst_pad_add_probe (upad, GST_PAD_PROBE_TYPE_BUFFER, on_first_packet, NULL,
      NULL);
  gst_object_unref (upad);
  gst_object_unref (usink);

  g_assert_cmpint (gst_element_set_state (rx, GST_STATE_PLAYING), !=,
      GST_STATE_CHANGE_FAILURE);
  g_assert_cmpint (gst_element_set_state (tx, GST_STATE_PLAYING), !=,
      GST_STATE_CHANGE_FAILURE);

  LiveStats st = { 0 };
  GstBus *rx_bus = gst_element_get_bus (rx), *tx_bus = gst_element_get_bus (tx);
  gint64 t0 = g_get_monotonic_time ();
  gboolean eos = FALSE;
  /* 30 s of feed counted from the first packet sent (start-up on a loaded
   * machine does not count); at most 60 s in all */
  for (;;) {
    gint64 now = g_get_monotonic_time (), first;
    g_mutex_lock (&first_lock);
    first = first_sent_us;
    g_mutex_unlock (&first_lock);
    if (st.error || eos || now - t0 > 60 * G_USEC_PER_SEC
        || (first > 0 && now - first >= (gint64) FEED_SECONDS * G_USEC_PER_SEC))
      break;
    GstMessage *m;
    while ((m = gst_bus_pop (tx_bus))) {
      if (GST_MESSAGE_TYPE (m) == GST_MESSAGE_EOS)
        eos = TRUE;             /* the samples ran out: should not in 30 s */
      handle_message (m, &st);
      gst_message_unref (m);
    }
    while ((m = gst_bus_timed_pop (rx_bus, 50 * GST_MSECOND))) {
      handle_message (m, &st);
      gst_message_unref (m);
    }
  }

  /* the feed stops; windows already in flight (jitterbuffer latency, the
   * encoder) still count for up to 3 s */
  gst_element_set_state (tx, GST_STATE_NULL);
  gint64 t1 = g_get_monotonic_time ();
  while (!st.error && g_get_monotonic_time () - t1 < 3 * G_USEC_PER_SEC) {
    GstMessage *m = gst_bus_timed_pop (rx_bus, 50 * GST_MSECOND);
    if (m) {
      handle_message (m, &st);
      gst_message_unref (m);
    }
  }

  guint64 added = 0, dropped = 0, in = 0;
  GstElement *rate = gst_bin_get_by_name (GST_BIN (rx), "rate");
  g_object_get (rate, "add", &added, "drop", &dropped, "in", &in, NULL);
  gst_object_unref (rate);
  guint64 lost = 0;
  GstElement *jb = gst_bin_get_by_name (GST_BIN (rx), "jb");
  GstStructure *jstats = NULL;
  g_object_get (jb, "stats", &jstats, NULL);
  if (jstats) {
    gst_structure_get_uint64 (jstats, "num-lost", &lost);
    gst_structure_free (jstats);
  }
  gst_object_unref (jb);

  gst_element_set_state (rx, GST_STATE_NULL);

  gdouble span = st.n_scored > 1 ?
      (st.last_score_us - st.first_score_us) / 1e6 : 0.0;
  g_test_message ("%u windows scored in %d s of feed (%.1f s between first "
      "and last: %.2f windows/s), %u bad score vectors; audiorate in=%"
      G_GUINT64_FORMAT " add=%" G_GUINT64_FORMAT " drop=%" G_GUINT64_FORMAT
      "; jitterbuffer lost=%" G_GUINT64_FORMAT "; etp-window-gap messages=%u",
      st.n_scored, FEED_SECONDS, span,
      span > 0 ? (st.n_scored - 1) / span : 0.0, st.n_bad_scores, in, added,
      dropped, lost, st.n_gap_msgs);
  printf ("# live: %u windows scored in %d s (%.2f/s), audiorate add=%"
      G_GUINT64_FORMAT " samples, jitterbuffer lost=%" G_GUINT64_FORMAT
      " packets, gap messages=%u\n", st.n_scored, FEED_SECONDS,
      span > 0 ? (st.n_scored - 1) / span : 0.0, added, lost, st.n_gap_msgs);

  g_assert_null (st.error);
  g_assert_false (eos);
  g_assert_cmpuint (st.n_scored, >=, 15);
  g_assert_cmpuint (st.n_bad_scores, ==, 0);
  /* about one window per second once the first 10 s window is full */
  g_assert_cmpfloat (span, >, 0.0);
  g_assert_cmpfloat ((st.n_scored - 1) / span, >, 0.7);
  g_assert_cmpfloat ((st.n_scored - 1) / span, <, 1.5);
  /* the loss was seen and reported */
  g_assert_true (added > 0 || st.n_gap_msgs > 0);

  gst_object_unref (rx_bus);
  gst_object_unref (tx_bus);
  gst_object_unref (tx);
  gst_object_unref (rx);
  g_free (tx_desc);
  g_free (rx_desc);
  g_unlink (prompts);
  g_free (prompts);
  g_free (samples);
}

int
main (int argc, char **argv)
{
  gst_init (&argc, &argv);
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/live/udp-loss", test_live_udp_loss);
  return g_test_run ();
}
