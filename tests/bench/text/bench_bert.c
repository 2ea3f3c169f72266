/* BERT-base forward: this project (OpenBLAS + threaded loops) vs PyTorch
 * on the same machine, same thread count, same random weights, same
 * batches, in the same run. Not a test: prints texts/s and ratios.
 *
 *   bench_bert [--reps N] [--threads T] [--reports N] [--layers L] [--no-torch]
 *
 * 1. fixed: batch 32 x 64 tokens (random ids, no padding);
 * 2. reports: the first N PTB-XL reports (real cased vocab), batches of 32
 *    in file order: PyTorch and C padded to the longest of each batch with
 *    an attention mask, and C padding-free (packed by length);
 * The CLS outputs of C and PyTorch are compared (max abs difference). */
#include "config.h"
#include "nets/safetensors.h"
#include "text/bert.h"
#include "text/tokenizer.h"

#include <cblas.h>
#include <glib/gstdio.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifndef BENCH_TORCH_SCRIPT
#define BENCH_TORCH_SCRIPT "bench_bert_torch.py"
#endif

typedef struct {
  gint tag;
  guint B, T;
  gint32 *ids, *mask;
  guint *lens;
} Batch;

static void
write_model (const gchar * dir, guint layers)
{
  const guint V = 28996, H = 768, NI = 3072, P = 512, TV = 2;
  EtpSafetensorsWriter *w = etp_safetensors_writer_new ();
  GPtrArray *keep = g_ptr_array_new_with_free_func (g_free);
  GRand *rng = g_rand_new_with_seed (42);
  GError *err = NULL;
  gchar *cfg, *path;
  guint l;

#define ADD(name, d0, d1, kind) do { \
    gint64 shape[2] = { d0, d1 }; \
    gsize n = (gsize) (d0) * ((d1) ? (d1) : 1), i; \
    gfloat *f = g_new (gfloat, n); \
    for (i = 0; i < n; i++) \
      f[i] = (kind) == 0 ? (gfloat) g_rand_double_range (rng, -0.0346, 0.0346) \
          : (kind) == 1 ? 1.0f : 0.0f; \
    g_ptr_array_add (keep, f); \
    etp_safetensors_writer_add_f32 (w, name, (d1) ? 2 : 1, shape, f, ETP_ST_F32); \
  } while (0)

  ADD ("bert.embeddings.word_embeddings.weight", V, H, 0);
  ADD ("bert.embeddings.position_embeddings.weight", P, H, 0);
  ADD ("bert.embeddings.token_type_embeddings.weight", TV, H, 0);
  ADD ("bert.embeddings.LayerNorm.weight", H, 0, 1);
  ADD ("bert.embeddings.LayerNorm.bias", H, 0, 2);
  for (l = 0; l < layers; l++) {
    gchar *p[16];
    const gchar *suffix[16] = { "attention.self.query.weight",
      "attention.self.query.bias", "attention.self.key.weight",
      "attention.self.key.bias", "attention.self.value.weight",
      "attention.self.value.bias", "attention.output.dense.weight",
      "attention.output.dense.bias", "attention.output.LayerNorm.weight",
      "attention.output.LayerNorm.bias", "intermediate.dense.weight",
      "intermediate.dense.bias", "output.dense.weight", "output.dense.bias",
      "output.LayerNorm.weight", "output.LayerNorm.bias"
    };
    guint k;
    for (k = 0; k < 16; k++)
      p[k] = g_strdup_printf ("bert.encoder.layer.%u.%s", l, suffix[k]);
    ADD (p[0], H, H, 0);
    ADD (p[1], H, 0, 0);
    ADD (p[2], H, H, 0);
    ADD (p[3], H, 0, 0);
    ADD (p[4], H, H, 0);
    ADD (p[5], H, 0, 0);
    ADD (p[6], H, H, 0);
    ADD (p[7], H, 0, 0);
    ADD (p[8], H, 0, 1);
    ADD (p[9], H, 0, 2);
    ADD (p[10], NI, H, 0);
    ADD (p[11], NI, 0, 0);
    ADD (p[12], H, NI, 0);
    ADD (p[13], H, 0, 0);
    ADD (p[14], H, 0, 1);
    ADD (p[15], H, 0, 2);
    for (k = 0; k < 16; k++)
      g_free (p[k]);
  }
  ADD ("bert.pooler.dense.weight", H, H, 0);
  ADD ("bert.pooler.dense.bias", H, 0, 0);
#undef ADD
  path = g_build_filename (dir, "model.safetensors", NULL);
  if (!etp_safetensors_writer_write (w, path, &err))
    g_error ("%s", err->message);
  cfg = g_strdup_printf ("{\"model_type\": \"bert\", \"vocab_size\": %u, "
      "\"hidden_size\": %u, \"num_hidden_layers\": %u, \"num_attention_heads\": 12, "
      "\"intermediate_size\": %u, \"max_position_embeddings\": %u, "
      "\"type_vocab_size\": %u, \"layer_norm_eps\": 1e-12, \"hidden_act\": \"gelu\"}",
      V, H, layers, NI, P, TV);
  g_free (path);
  path = g_build_filename (dir, "config.json", NULL);
  g_file_set_contents (path, cfg, -1, NULL);
  g_free (path);
  g_free (cfg);
  etp_safetensors_writer_free (w);
  g_ptr_array_free (keep, TRUE);
  g_rand_free (rng);
}

/* The `report` column (index 10) of ptbxl_database.csv. */
static GPtrArray *
read_reports (const gchar * csv, guint max)
{
  gchar *data = NULL;
  GPtrArray *out = g_ptr_array_new_with_free_func (g_free);
  GString *field = g_string_new (NULL);
  const gchar *p;
  gboolean quoted = FALSE;
  guint col = 0, row = 0;

  if (!g_file_get_contents (csv, &data, NULL, NULL)) {
    g_string_free (field, TRUE);
    return out;
  }
  for (p = data; *p && out->len < max; p++) {
    if (quoted) {
      if (*p == '"' && p[1] == '"') {
        g_string_append_c (field, '"');
        p++;
      } else if (*p == '"')
        quoted = FALSE;
      else
        g_string_append_c (field, *p);
    } else if (*p == '"') {
      quoted = TRUE;
    } else if (*p == ',' || *p == '\n') {
      if (col == 10 && row > 0)
        g_ptr_array_add (out, g_strdup (field->str));
      g_string_truncate (field, 0);
      col = *p == ',' ? col + 1 : 0;
      if (*p == '\n')
        row++;
    } else {
      g_string_append_c (field, *p);
    }
  }
  g_string_free (field, TRUE);
  g_free (data);
  return out;
}

static gdouble
now (void)
{
  return g_get_monotonic_time () / 1e6;
}

/* CPU seconds of the whole process (all threads): on a shared, loaded
 * machine the CPU time per text is a fairer comparison than wall time. */
static gdouble
cpu_now (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

int
main (int argc, char **argv)
{
  guint reps = 2, threads = 2, n_reports = 256, layers = 12, i, r;
  gboolean run_torch = TRUE;
  const gchar *shared = g_getenv ("ETP_SHARED_DATA");
  gchar *tmp, *vocab, *csv, *batches_path, *torch_out;
  EtpTokenizer *tok;
  EtpBert *bert;
  GError *err = NULL;
  GArray *batches = g_array_new (FALSE, TRUE, sizeof (Batch));
  GPtrArray *reports;
  gdouble t_fixed = 0, t_rep_pad = 0, t_rep_packed = 0;
  gdouble c_fixed = 0, c_rep_pad = 0, c_rep_packed = 0;
  gdouble torch_t[64] = { 0 }, torch_c[64] = { 0 };
  guint n_rep_texts = 0, rep_tokens = 0, rep_padded_tokens = 0;
  gfloat *c_cls;
  gsize cls_total = 0;
  FILE *f;

  for (i = 1; i < (guint) argc; i++) {
    if (!strcmp (argv[i], "--reps") && i + 1 < (guint) argc)
      reps = atoi (argv[++i]);
    else if (!strcmp (argv[i], "--threads") && i + 1 < (guint) argc)
      threads = atoi (argv[++i]);
    else if (!strcmp (argv[i], "--reports") && i + 1 < (guint) argc)
      n_reports = atoi (argv[++i]);
    else if (!strcmp (argv[i], "--layers") && i + 1 < (guint) argc)
      layers = atoi (argv[++i]);
    else if (!strcmp (argv[i], "--no-torch"))
      run_torch = FALSE;
  }
  openblas_set_num_threads (threads);
  vocab = g_build_filename (shared ? shared : ETP_SHARED_DATA, "models",
      "bert-base-cased-vocab.txt", NULL);
  csv = g_build_filename (shared ? shared : ETP_SHARED_DATA, "data", "ptbxl",
      "ptbxl_database.csv", NULL);
  tok = etp_tokenizer_new_from_file (vocab, FALSE, &err);
  if (tok == NULL)
    g_error ("%s", err->message);

  tmp = g_dir_make_tmp ("etp-bench-bert-XXXXXX", NULL);
  printf ("writing BERT-base-shaped random weights (%u layers) to %s\n", layers,
      tmp);
  write_model (tmp, layers);
  bert = etp_bert_new_from_dir (tmp, &err);
  if (bert == NULL)
    g_error ("%s", err->message);
  etp_bert_set_threads (bert, threads);

  /* batch 0: 32 x 64 random ids */
  {
    Batch b = { 0, 32, 64, NULL, NULL, NULL };
    GRand *rng = g_rand_new_with_seed (7);
    b.ids = g_new (gint32, 32 * 64);
    b.mask = g_new (gint32, 32 * 64);
    b.lens = g_new (guint, 32);
    for (i = 0; i < 32 * 64; i++) {
      b.ids[i] = g_rand_int_range (rng, 1000, 28000);
      b.mask[i] = 1;
    }
    for (i = 0; i < 32; i++) {
      b.ids[i * 64] = 101;
      b.ids[i * 64 + 63] = 102;
      b.lens[i] = 64;
    }
    g_rand_free (rng);
    g_array_append_val (batches, b);
  }
  /* report batches */
  reports = read_reports (csv, n_reports);
  for (i = 0; i < reports->len; i += 32) {
    guint n = MIN (32, reports->len - i);
    Batch b = { (gint) batches->len, n, 0, NULL, NULL, NULL };
    if (!etp_tokenizer_encode_batch (tok,
            (const gchar * const *) reports->pdata + i, n, 512, FALSE, &b.ids,
            &b.mask, &b.T, &b.lens, &err))
      g_error ("%s", err->message);
    for (r = 0; r < n; r++)
      rep_tokens += b.lens[r];
    rep_padded_tokens += n * b.T;
    n_rep_texts += n;
    g_array_append_val (batches, b);
  }
  if (batches->len > 64)
    g_error ("too many batches");

  /* C: warm-up, then timed reps */
  for (i = 0; i < batches->len; i++)
    cls_total += (gsize) g_array_index (batches, Batch, i).B * 768;
  c_cls = g_new (gfloat, cls_total);
  etp_bert_forward_padded (bert, g_array_index (batches, Batch, 0).ids,
      g_array_index (batches, Batch, 0).mask, 32, 64, NULL, c_cls, NULL, NULL,
      &err);
  for (r = 0; r < reps; r++) {
    gsize off = 0;
    for (i = 0; i < batches->len; i++) {
      Batch *b = &g_array_index (batches, Batch, i);
      gdouble t0 = now (), c0 = cpu_now ();
      if (!etp_bert_forward_padded (bert, b->ids, b->mask, b->B, b->T, NULL,
              c_cls + off, NULL, NULL, &err))
        g_error ("%s", err->message);
      if (i == 0) {
        t_fixed += now () - t0;
        c_fixed += cpu_now () - c0;
      } else {
        t_rep_pad += now () - t0;
        c_rep_pad += cpu_now () - c0;
      }
      off += (gsize) b->B * 768;
    }
    for (i = 1; i < batches->len; i++) {
      Batch *b = &g_array_index (batches, Batch, i);
      gint32 *packed = g_new (gint32, b->B * b->T);
      gfloat *out = g_new (gfloat, b->B * 768);
      guint n = 0, k, t;
      gdouble t0, c0;
      for (k = 0; k < b->B; k++)
        for (t = 0; t < b->lens[k]; t++)
          packed[n++] = b->ids[k * b->T + t];
      t0 = now ();
      c0 = cpu_now ();
      if (!etp_bert_forward_packed (bert, packed, b->lens, b->B,
              ETP_BERT_POOL_CLS, out, &err))
        g_error ("%s", err->message);
      t_rep_packed += now () - t0;
      c_rep_packed += cpu_now () - c0;
      if (r == 0) {
        /* packed vs padded outputs */
        gsize off2 = 0;
        gdouble worst = 0;
        guint j;
        for (j = 0; j < i; j++)
          off2 += (gsize) g_array_index (batches, Batch, j).B * 768;
        for (k = 0; k < b->B * 768; k++)
          worst = MAX (worst, fabs (out[k] - c_cls[off2 + k]));
        if (worst > 1e-3)
          printf ("WARNING: packed vs padded CLS differ by %g in batch %u\n",
              worst, i);
      }
      g_free (packed);
      g_free (out);
    }
  }
  t_fixed /= reps;
  t_rep_pad /= reps;
  t_rep_packed /= reps;
  c_fixed /= reps;
  c_rep_pad /= reps;
  c_rep_packed /= reps;

  printf ("\nthreads %u (OpenBLAS + %u loop threads), %u reps\n", threads,
      threads, reps);
  printf ("reports: %u texts, %u real tokens, %u padded tokens (%.0f%% padding), "
      "mean length %.1f tokens\n", n_rep_texts, rep_tokens, rep_padded_tokens,
      100.0 * (rep_padded_tokens - rep_tokens) / MAX (rep_padded_tokens, 1),
      (gdouble) rep_tokens / MAX (n_rep_texts, 1));

  if (run_torch) {
    gchar *argvv[8], *stdout_s = NULL, *stderr_s = NULL, *reps_s, *thr_s;
    gint status = 0;
    gchar **lines;
    gfloat *t_cls;
    gsize len;
    batches_path = g_build_filename (tmp, "batches.bin", NULL);
    torch_out = g_build_filename (tmp, "torch_cls.bin", NULL);
    f = fopen (batches_path, "wb");
    {
      gint32 nb = batches->len;
      fwrite (&nb, 4, 1, f);
      for (i = 0; i < batches->len; i++) {
        Batch *b = &g_array_index (batches, Batch, i);
        gint32 hdr[3] = { b->tag, (gint32) b->B, (gint32) b->T };
        fwrite (hdr, 4, 3, f);
        fwrite (b->ids, 4, b->B * b->T, f);
        fwrite (b->mask, 4, b->B * b->T, f);
      }
    }
    fclose (f);
    reps_s = g_strdup_printf ("%u", reps);
    thr_s = g_strdup_printf ("%u", threads);
    argvv[0] = (gchar *) "/usr/bin/python3";
    argvv[1] = (gchar *) BENCH_TORCH_SCRIPT;
    argvv[2] = tmp;
    argvv[3] = batches_path;
    argvv[4] = thr_s;
    argvv[5] = reps_s;
    argvv[6] = torch_out;
    argvv[7] = NULL;
    if (!g_spawn_sync (NULL, argvv, NULL, G_SPAWN_DEFAULT, NULL, NULL,
            &stdout_s, &stderr_s, &status, &err) || status != 0)
      g_error ("PyTorch peer failed: %s %s", err ? err->message : "",
          stderr_s ? stderr_s : "");
    lines = g_strsplit (stdout_s, "\n", -1);
    for (i = 0; lines[i]; i++) {
      gint tag;
      gdouble s, cs;
      if (sscanf (lines[i], "torch %d %lf %lf", &tag, &s, &cs) == 3
          && tag >= 0 && tag < 64) {
        torch_t[tag] = s;
        torch_c[tag] = cs;
      }
    }
    g_strfreev (lines);
    if (g_file_get_contents (torch_out, (gchar **) & t_cls, &len, NULL)
        && len == cls_total * 4) {
      gdouble worst = 0;
      for (i = 0; i < cls_total; i++)
        worst = MAX (worst, fabs (t_cls[i] - c_cls[i]));
      printf ("CLS outputs, C vs PyTorch: max abs diff %.3g over %"
          G_GSIZE_FORMAT " values\n", worst, cls_total);
      g_free (t_cls);
    }
    g_free (stdout_s);
    g_free (stderr_s);
    g_free (reps_s);
    g_free (thr_s);
    g_unlink (batches_path);
    g_unlink (torch_out);
    g_free (batches_path);
    g_free (torch_out);
  }

  printf ("\n%-40s %9s %9s %7s | %10s %10s %7s\n", "case (texts/s)", "C wall",
      "torch", "ratio", "C per CPU-s", "torch", "ratio");
  {
    gdouble trep = 0, crep = 0;
#define ROW(name, n, tw, tc, pw, pc) do { \
      gdouble a = (n) / (tw), b = (pw) > 0 ? (n) / (pw) : 0; \
      gdouble ac = (n) / (tc), bc = (pc) > 0 ? (n) / (pc) : 0; \
      printf ("%-40s %9.2f %9.2f %7.2f | %10.2f %10.2f %7.2f\n", name, a, b, \
          b > 0 ? a / b : 0, ac, bc, bc > 0 ? ac / bc : 0); } while (0)
    ROW ("fixed 32x64 tokens, fp32", 32.0, t_fixed, c_fixed, torch_t[0],
        torch_c[0]);
    for (i = 1; i < batches->len; i++) {
      trep += torch_t[i];
      crep += torch_c[i];
    }
    if (n_rep_texts) {
      ROW ("reports, both padded per batch", (gdouble) n_rep_texts, t_rep_pad,
          c_rep_pad, trep, crep);
      ROW ("reports, C padding-free vs torch padded", (gdouble) n_rep_texts,
          t_rep_packed, c_rep_packed, trep, crep);
    }
#undef ROW
  }

  for (i = 0; i < batches->len; i++) {
    Batch *b = &g_array_index (batches, Batch, i);
    g_free (b->ids);
    g_free (b->mask);
    g_free (b->lens);
  }
  g_array_free (batches, TRUE);
  g_ptr_array_free (reports, TRUE);
  g_free (c_cls);
  {
    gchar *p = g_build_filename (tmp, "model.safetensors", NULL);
    g_unlink (p);
    g_free (p);
    p = g_build_filename (tmp, "config.json", NULL);
    g_unlink (p);
    g_free (p);
    g_rmdir (tmp);
  }
  etp_bert_free (bert);
  etp_tokenizer_free (tok);
  g_free (tmp);
  g_free (vocab);
  g_free (csv);
  return 0;
}
