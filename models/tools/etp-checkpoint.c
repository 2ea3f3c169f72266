/* etp-checkpoint: inspect and export ETP checkpoints.
 *
 *   etp-checkpoint info FILE
 *   etp-checkpoint export IN OUT [--storage f32|f16|bf16] [--meta KEY=VALUE]...
 *
 * `export` drops the optimiser state (optim.*) and stores the weights in the
 * chosen precision; a shipped model needs neither Adam moments nor float32. */
#include <stdio.h>
#include <string.h>

#include "engine/engine.h"
#include "nets/checkpoint.h"
#include "nets/resnet1d.h"
#include "nets/safetensors.h"

static int
cmd_info (const char *path)
{
  GError *err = NULL;
  EtpSafetensors *st = etp_safetensors_open (path, &err);
  EtpResnet1dConfig cfg;
  const gchar *const *keys;

  if (st == NULL || !etp_checkpoint_read_config (st, &cfg, &err)) {
    fprintf (stderr, "etp-checkpoint: %s\n", err->message);
    g_error_free (err);
    if (st)
      etp_safetensors_free (st);
    return 1;
  }
  printf ("%s\n", path);
  keys = etp_safetensors_metadata_keys (st);
  for (int i = 0; keys && keys[i]; i++) {
    const gchar *v = etp_safetensors_get_metadata (st, keys[i]);
    if (v)
      printf ("  %-12s %s\n", keys[i], v);
  }
  etp_safetensors_free (st);
  return 0;
}

static int
cmd_export (const char *in, const char *out, EtpStDtype storage,
    GPtrArray * meta)
{
  GError *err = NULL;
  EtpBackend *be = etp_backend_new (ETP_DEVICE_CPU, 1, &err);
  EtpResnet1d *m = NULL;
  EtpCheckpointSaveOptions opts = { 0 };
  EtpSafetensors *src = NULL;
  int rc = 1;

  if (be == NULL)
    goto out;
  m = etp_checkpoint_load (in, be, &err);
  if (m == NULL)
    goto out;
  /* Keep the source's provenance (trainer, epochs, seed...) unless the
   * command line overrides it; the writer sets the model facts itself. */
  src = etp_safetensors_open (in, &err);
  if (src == NULL)
    goto out;
  for (const gchar * const *k = etp_safetensors_metadata_keys (src); k && *k; k++) {
    gboolean overridden = FALSE;
    if (!g_str_has_prefix (*k, "train_") && strcmp (*k, "temperature") != 0
        && strcmp (*k, "trainer") != 0)
      continue;
    for (guint i = 0; i < meta->len; i += 2)
      overridden |= strcmp (g_ptr_array_index (meta, i), *k) == 0;
    if (!overridden) {
      g_ptr_array_add (meta, g_strdup (*k));
      g_ptr_array_add (meta, g_strdup (etp_safetensors_get_metadata (src, *k)));
    }
  }
  g_ptr_array_add (meta, NULL);
  opts.storage = storage;
  opts.with_optimizer = FALSE;
  opts.extra_metadata = (const gchar * const *) meta->pdata;
  if (!etp_checkpoint_save (m, out, &opts, &err))
    goto out;
  rc = 0;
out:
  if (err) {
    fprintf (stderr, "etp-checkpoint: %s\n", err->message);
    g_error_free (err);
  }
  if (src)
    etp_safetensors_free (src);
  if (m)
    etp_resnet1d_free (m);
  if (be)
    etp_backend_free (be);
  return rc;
}

int
main (int argc, char **argv)
{
  if (argc == 3 && strcmp (argv[1], "info") == 0)
    return cmd_info (argv[2]);
  if (argc >= 4 && strcmp (argv[1], "export") == 0) {
    EtpStDtype storage = ETP_ST_F16;
    g_autoptr (GPtrArray) meta = g_ptr_array_new_with_free_func (g_free);
    for (int i = 4; i < argc; i++) {
      if (strcmp (argv[i], "--storage") == 0 && i + 1 < argc) {
        const char *s = argv[++i];
        if (strcmp (s, "f32") == 0)
          storage = ETP_ST_F32;
        else if (strcmp (s, "f16") == 0)
          storage = ETP_ST_F16;
        else if (strcmp (s, "bf16") == 0)
          storage = ETP_ST_BF16;
        else {
          fprintf (stderr, "etp-checkpoint: unknown storage '%s'\n", s);
          return 2;
        }
      } else if (strcmp (argv[i], "--meta") == 0 && i + 1 < argc
          && strchr (argv[i + 1], '=')) {
        gchar **kv = g_strsplit (argv[++i], "=", 2);
        g_ptr_array_add (meta, g_strdup (kv[0]));
        g_ptr_array_add (meta, g_strdup (kv[1]));
        g_strfreev (kv);
      } else {
        fprintf (stderr, "etp-checkpoint: bad argument '%s'\n", argv[i]);
        return 2;
      }
    }
    return cmd_export (argv[2], argv[3], storage, meta);
  }
  fprintf (stderr, "usage: etp-checkpoint info FILE\n"
      "       etp-checkpoint export IN OUT [--storage f32|f16|bf16] "
      "[--meta KEY=VALUE]...\n");
  return 2;
}
