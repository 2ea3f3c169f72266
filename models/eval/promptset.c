/* Class prompts and prompt-embedding files (see promptset.h). */
#include "eval/promptset.h"
#include "util/etperror.h"

#include <json-glib/json-glib.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

gchar *
etp_prompt_apply_template (const gchar * template_, const gchar * name)
{
  const gchar *hole;

  if (template_ == NULL || *template_ == '\0')
    template_ = ETP_DEFAULT_PROMPT_TEMPLATE;
  hole = strstr (template_, "{}");
  if (hole == NULL)
    return g_strdup_printf ("%s %s", template_, name);
  return g_strdup_printf ("%.*s%s%s", (int) (hole - template_), template_,
      name, hole + 2);
}

static EtpPromptSet *
set_from_lists (GPtrArray * names, GPtrArray * prompts, GPtrArray * aliases)
{
  EtpPromptSet *set = g_new0 (EtpPromptSet, 1);
  guint i;

  set->n_classes = names->len;
  g_ptr_array_add (names, NULL);
  set->class_names = (gchar **) g_ptr_array_free (names, FALSE);
  set->prompts = g_new0 (gchar **, set->n_classes + 1);
  for (i = 0; i < set->n_classes; i++)
    set->prompts[i] = g_ptr_array_index (prompts, i);
  g_ptr_array_free (prompts, TRUE);
  set->aliases = g_new0 (gchar *, set->n_classes + 1);
  for (i = 0; i < set->n_classes; i++)
    set->aliases[i] = aliases ? g_ptr_array_index (aliases, i) : g_strdup ("");
  if (aliases)
    g_ptr_array_free (aliases, TRUE);
  return set;
}

EtpPromptSet *
etp_prompt_set_from_classes (const gchar * classes, const gchar * template_,
    GError ** error)
{
  gchar **parts;
  GPtrArray *names, *prompts;
  guint i;

  if (classes == NULL)
    classes = "";
  parts = g_strsplit (classes, ",", -1);
  names = g_ptr_array_new ();
  prompts = g_ptr_array_new ();
  for (i = 0; parts[i]; i++) {
    gchar *name = g_strstrip (g_strdup (parts[i]));
    gchar **p;
    if (*name == '\0') {
      g_free (name);
      continue;
    }
    p = g_new0 (gchar *, 2);
    p[0] = etp_prompt_apply_template (template_, name);
    g_ptr_array_add (names, name);
    g_ptr_array_add (prompts, p);
  }
  g_strfreev (parts);
  if (names->len == 0) {
    g_set_error (error, ETP_ERROR, ETP_ERROR_INVALID,
        "classes '%s': no class names (expected a comma-separated list)",
        classes);
    g_ptr_array_free (names, TRUE);
    g_ptr_array_free (prompts, TRUE);
    return NULL;
  }
  return set_from_lists (names, prompts, NULL);
}

EtpPromptSet *
etp_prompt_set_load (const gchar * path, const gchar * template_,
    GError ** error)
{
  gchar *text = NULL, **lines;
  GPtrArray *names, *prompts, *aliases;
  guint i;

  if (!g_file_get_contents (path, &text, NULL, error))
    return NULL;
  if (!g_utf8_validate (text, -1, NULL)) {
    g_set_error (error, ETP_ERROR, ETP_ERROR_FORMAT,
        "%s: prompt file is not UTF-8", path);
    g_free (text);
    return NULL;
  }
  lines = g_strsplit (text, "\n", -1);
  g_free (text);
  names = g_ptr_array_new ();
  prompts = g_ptr_array_new ();
  aliases = g_ptr_array_new ();
  for (i = 0; lines[i]; i++) {
    gchar *line = g_strstrip (lines[i]), *name, **fields;
    GPtrArray *pl;

    if (*line == '\0' || *line == '#')
      continue;
    fields = g_strsplit (line, "\t", 3);
    name = g_strstrip (g_strdup (fields[0]));
    pl = g_ptr_array_new ();
    g_ptr_array_add (aliases, g_strstrip (g_strdup (fields[1] && fields[2] ?
                fields[2] : "")));
    if (fields[1]) {
      gchar **alts = g_strsplit (fields[1], "|", -1);
      guint k;
      for (k = 0; alts[k]; k++) {
        gchar *a = g_strstrip (alts[k]);
        if (*a)
          g_ptr_array_add (pl, g_strdup (a));
      }
      g_strfreev (alts);
    }
    g_strfreev (fields);
    if (pl->len == 0)
      g_ptr_array_add (pl, etp_prompt_apply_template (template_, name));
    g_ptr_array_add (pl, NULL);
    if (*name == '\0') {
      g_set_error (error, ETP_ERROR, ETP_ERROR_FORMAT,
          "%s:%u: empty class name (expected CLASS<TAB>prompt|prompt...)",
          path, i + 1);
      g_free (name);
      g_strfreev ((gchar **) g_ptr_array_free (pl, FALSE));
      goto fail;
    }
    g_ptr_array_add (names, name);
    g_ptr_array_add (prompts, g_ptr_array_free (pl, FALSE));
  }
  g_strfreev (lines);
  lines = NULL;
  if (names->len == 0) {
    g_set_error (error, ETP_ERROR, ETP_ERROR_FORMAT,
        "%s: no classes in prompt file", path);
    goto fail;
  }
  return set_from_lists (names, prompts, aliases);

fail:
  g_strfreev (lines);
  g_ptr_array_set_free_func (names, g_free);
  g_ptr_array_free (names, TRUE);
  g_ptr_array_set_free_func (prompts, (GDestroyNotify) g_strfreev);
  g_ptr_array_free (prompts, TRUE);
  g_ptr_array_set_free_func (aliases, g_free);
  g_ptr_array_free (aliases, TRUE);
  return NULL;
}

void
etp_prompt_set_free (EtpPromptSet * set)
{
  guint i;

  if (set == NULL)
    return;
  for (i = 0; i < set->n_classes; i++)
    g_strfreev (set->prompts[i]);
  g_free (set->prompts);
  g_strfreev (set->class_names);
  g_strfreev (set->aliases);
  g_free (set);
}

static void
normalise (gfloat * v, guint dim)
{
  gdouble s = 0.0;
  guint j;
  for (j = 0; j < dim; j++)
    s += (gdouble) v[j] * v[j];
  if (s > 0.0) {
    s = 1.0 / sqrt (s);
    for (j = 0; j < dim; j++)
      v[j] = (gfloat) (v[j] * s);
  }
}

void
etp_average_normalised (const gfloat * vecs, guint n, guint dim, gfloat * out)
{
  gdouble *acc = g_new0 (gdouble, dim);
  gfloat *tmp = g_new (gfloat, dim);
  guint i, j;

  for (i = 0; i < n; i++) {
    memcpy (tmp, vecs + (gsize) i * dim, dim * sizeof (gfloat));
    normalise (tmp, dim);
    for (j = 0; j < dim; j++)
      acc[j] += tmp[j];
  }
  for (j = 0; j < dim; j++)
    out[j] = (gfloat) acc[j];
  normalise (out, dim);
  g_free (acc);
  g_free (tmp);
}

EtpPromptEmbeddings *
etp_prompt_embeddings_new (const gchar * const *names, const gfloat * emb,
    guint n_classes, guint dim)
{
  EtpPromptEmbeddings *pe = g_new0 (EtpPromptEmbeddings, 1);
  guint c;

  pe->n_classes = n_classes;
  pe->dim = dim;
  pe->class_names = g_new0 (gchar *, n_classes + 1);
  pe->aliases = g_new0 (gchar *, n_classes + 1);
  for (c = 0; c < n_classes; c++) {
    pe->class_names[c] = g_strdup (names[c]);
    pe->aliases[c] = g_strdup ("");
  }
  pe->embeddings = g_memdup2 (emb, (gsize) n_classes * dim * sizeof (gfloat));
  for (c = 0; c < n_classes; c++)
    normalise (pe->embeddings + (gsize) c * dim, dim);
  pe->logit_scale = NAN;
  return pe;
}

void
etp_prompt_embeddings_free (EtpPromptEmbeddings * pe)
{
  if (pe == NULL)
    return;
  g_strfreev (pe->class_names);
  g_strfreev (pe->aliases);
  g_free (pe->embeddings);
  g_free (pe->text_model);
  g_free (pe->checkpoint);
  g_free (pe->prompts);
  g_free (pe);
}

static gchar **
split_names (const gchar * s, const gchar * sep)
{
  gchar **parts = g_strsplit (s, sep, -1);
  GPtrArray *out = g_ptr_array_new ();
  guint i;
  for (i = 0; parts[i]; i++) {
    gchar *n = g_strstrip (g_strdup (parts[i]));
    if (*n)
      g_ptr_array_add (out, n);
    else
      g_free (n);
  }
  g_strfreev (parts);
  g_ptr_array_add (out, NULL);
  return (gchar **) g_ptr_array_free (out, FALSE);
}

static EtpPromptEmbeddings *
load_raw (const gchar * path, const guint8 * data, gsize size,
    const gchar * classes, GError ** error)
{
  gchar **names = split_names (classes, ",");
  guint C = g_strv_length (names), dim;
  EtpPromptEmbeddings *pe;

  if (C == 0 || size == 0 || size % (4 * (gsize) C) != 0) {
    g_set_error (error, ETP_ERROR, ETP_ERROR_FORMAT,
        "%s: not a safetensors prompt-embedding file, and its %" G_GSIZE_FORMAT
        " bytes are not %u classes x D float32 values", path, size, C);
    g_strfreev (names);
    return NULL;
  }
  dim = (guint) (size / 4 / C);
  {
    gfloat *v = g_new (gfloat, (gsize) C * dim);
    gsize i;
    memcpy (v, data, size);
#if G_BYTE_ORDER == G_BIG_ENDIAN
    for (i = 0; i < (gsize) C * dim; i++) {
      guint32 u;
      memcpy (&u, v + i, 4);
      u = GUINT32_SWAP_LE_BE (u);
      memcpy (v + i, &u, 4);
    }
#endif
    for (i = 0; i < (gsize) C * dim; i++) {
      if (!isfinite (v[i])) {
        g_set_error (error, ETP_ERROR, ETP_ERROR_FORMAT,
            "%s: value %" G_GSIZE_FORMAT " is not finite", path, i);
        g_free (v);
        g_strfreev (names);
        return NULL;
      }
    }
    pe = etp_prompt_embeddings_new ((const gchar * const *) names, v, C, dim);
    g_free (v);
  }
  g_strfreev (names);
  return pe;
}

EtpPromptEmbeddings *
etp_prompt_embeddings_load (const gchar * path, const gchar * classes,
    GError ** error)
{
  gchar *contents = NULL;
  gsize size = 0;
  guint64 hlen = 0;
  JsonParser *parser = NULL;
  JsonObject *root, *meta = NULL, *t;
  JsonArray *shape, *offs;
  EtpPromptEmbeddings *pe = NULL;
  gchar **names = NULL;
  guint C, dim, i;
  gint64 o0, o1;
  const guint8 *data;

  if (!g_file_get_contents (path, &contents, &size, error))
    return NULL;
  data = (const guint8 *) contents;
  if (size >= 8) {
    for (i = 0; i < 8; i++)
      hlen |= (guint64) data[i] << (8 * i);
  }
  if (size < 10 || hlen < 2 || hlen > size - 8 || data[8] != '{') {
    if (classes && *classes)
      pe = load_raw (path, data, size, classes, error);
    else
      g_set_error (error, ETP_ERROR, ETP_ERROR_FORMAT,
          "%s: not a safetensors prompt-embedding file (give the class names "
          "to read it as raw float32)", path);
    g_free (contents);
    return pe;
  }
  parser = json_parser_new ();
  if (!json_parser_load_from_data (parser, contents + 8, (gssize) hlen, NULL)
      || !JSON_NODE_HOLDS_OBJECT (json_parser_get_root (parser))) {
    g_set_error (error, ETP_ERROR, ETP_ERROR_FORMAT,
        "%s: safetensors header is not a JSON object", path);
    goto out;
  }
  root = json_node_get_object (json_parser_get_root (parser));
  if (json_object_has_member (root, "__metadata__"))
    meta = json_object_get_object_member (root, "__metadata__");
  if (!json_object_has_member (root, "embeddings")
      || !JSON_NODE_HOLDS_OBJECT (json_object_get_member (root, "embeddings"))) {
    g_set_error (error, ETP_ERROR, ETP_ERROR_MISSING,
        "%s: no tensor named 'embeddings'", path);
    goto out;
  }
  t = json_object_get_object_member (root, "embeddings");
  shape = json_object_has_member (t, "shape") ?
      json_object_get_array_member (t, "shape") : NULL;
  offs = json_object_has_member (t, "data_offsets") ?
      json_object_get_array_member (t, "data_offsets") : NULL;
  if (g_strcmp0 (json_object_get_string_member_with_default (t, "dtype", ""),
          "F32") != 0 || shape == NULL || json_array_get_length (shape) != 2
      || offs == NULL || json_array_get_length (offs) != 2) {
    g_set_error (error, ETP_ERROR, ETP_ERROR_FORMAT,
        "%s: 'embeddings' must be an F32 tensor of shape [classes, dim]", path);
    goto out;
  }
  C = (guint) json_array_get_int_element (shape, 0);
  dim = (guint) json_array_get_int_element (shape, 1);
  o0 = json_array_get_int_element (offs, 0);
  o1 = json_array_get_int_element (offs, 1);
  if (C == 0 || dim == 0 || o0 < 0 || o1 - o0 != (gint64) C * dim * 4
      || (guint64) o1 > size - 8 - hlen) {
    g_set_error (error, ETP_ERROR, ETP_ERROR_FORMAT,
        "%s: 'embeddings' shape [%u, %u] does not match its data offsets "
        "[%" G_GINT64_FORMAT ", %" G_GINT64_FORMAT "] / file size", path, C,
        dim, o0, o1);
    goto out;
  }
  if (meta && json_object_has_member (meta, "classes"))
    names = split_names (json_object_get_string_member (meta, "classes"), "\n");
  else if (classes)
    names = split_names (classes, ",");
  if (names == NULL || g_strv_length (names) != C) {
    g_set_error (error, ETP_ERROR, ETP_ERROR_MISMATCH,
        "%s: %u class names for %u embedding rows", path,
        names ? g_strv_length (names) : 0, C);
    goto out;
  }
  {
    gfloat *v = g_new (gfloat, (gsize) C * dim);
    memcpy (v, data + 8 + hlen + o0, (gsize) C * dim * 4);
    for (i = 0; i < C * dim; i++) {
      if (!isfinite (v[i])) {
        g_set_error (error, ETP_ERROR, ETP_ERROR_FORMAT,
            "%s: embedding value %u is not finite", path, i);
        g_free (v);
        goto out;
      }
    }
    pe = etp_prompt_embeddings_new ((const gchar * const *) names, v, C, dim);
    g_free (v);
  }
  if (meta) {
    const gchar *ls = json_object_get_string_member_with_default (meta,
        "logit_scale", NULL);
    if (ls)
      pe->logit_scale = g_ascii_strtod (ls, NULL);
    pe->text_model = g_strdup (json_object_get_string_member_with_default (meta,
            "text_model", NULL));
    pe->checkpoint = g_strdup (json_object_get_string_member_with_default (meta,
            "checkpoint", NULL));
    pe->prompts = g_strdup (json_object_get_string_member_with_default (meta,
            "prompts", NULL));
    if (json_object_has_member (meta, "aliases")) {
      gchar **al = g_strsplit (json_object_get_string_member (meta, "aliases"),
          "\n", -1);
      if (g_strv_length (al) == C) {
        g_strfreev (pe->aliases);
        pe->aliases = al;
      } else {
        g_strfreev (al);
      }
    }
  }
out:
  g_strfreev (names);
  if (parser)
    g_object_unref (parser);
  g_free (contents);
  return pe;
}

gboolean
etp_prompt_embeddings_save (const EtpPromptEmbeddings * pe, const gchar * path,
    GError ** error)
{
  JsonBuilder *b = json_builder_new ();
  JsonGenerator *gen = json_generator_new ();
  JsonNode *node;
  gchar *header, *names;
  gsize hlen, pad, nbytes = (gsize) pe->n_classes * pe->dim * 4, i;
  GString *out;
  gboolean ok;
  guint8 len8[8];

  names = g_strjoinv ("\n", pe->class_names);
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "__metadata__");
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "format");
  json_builder_add_string_value (b, "etp-prompts-1");
  json_builder_set_member_name (b, "classes");
  json_builder_add_string_value (b, names);
  if (isfinite (pe->logit_scale)) {
    gchar buf[G_ASCII_DTOSTR_BUF_SIZE];
    json_builder_set_member_name (b, "logit_scale");
    json_builder_add_string_value (b, g_ascii_dtostr (buf, sizeof buf, pe->logit_scale));
  }
  if (pe->aliases) {
    gchar *al = g_strjoinv ("\n", pe->aliases);
    json_builder_set_member_name (b, "aliases");
    json_builder_add_string_value (b, al);
    g_free (al);
  }
  if (pe->text_model) {
    json_builder_set_member_name (b, "text_model");
    json_builder_add_string_value (b, pe->text_model);
  }
  if (pe->checkpoint) {
    json_builder_set_member_name (b, "checkpoint");
    json_builder_add_string_value (b, pe->checkpoint);
  }
  if (pe->prompts) {
    json_builder_set_member_name (b, "prompts");
    json_builder_add_string_value (b, pe->prompts);
  }
  json_builder_end_object (b);
  json_builder_set_member_name (b, "embeddings");
  json_builder_begin_object (b);
  json_builder_set_member_name (b, "dtype");
  json_builder_add_string_value (b, "F32");
  json_builder_set_member_name (b, "shape");
  json_builder_begin_array (b);
  json_builder_add_int_value (b, pe->n_classes);
  json_builder_add_int_value (b, pe->dim);
  json_builder_end_array (b);
  json_builder_set_member_name (b, "data_offsets");
  json_builder_begin_array (b);
  json_builder_add_int_value (b, 0);
  json_builder_add_int_value (b, (gint64) nbytes);
  json_builder_end_array (b);
  json_builder_end_object (b);
  json_builder_end_object (b);
  node = json_builder_get_root (b);
  json_generator_set_root (gen, node);
  header = json_generator_to_data (gen, &hlen);
  pad = (8 - hlen % 8) % 8;
  out = g_string_sized_new (8 + hlen + pad + nbytes);
  for (i = 0; i < 8; i++)
    len8[i] = (guint8) (((guint64) (hlen + pad)) >> (8 * i));
  g_string_append_len (out, (const gchar *) len8, 8);
  g_string_append_len (out, header, hlen);
  for (i = 0; i < pad; i++)
    g_string_append_c (out, ' ');
  for (i = 0; i < (gsize) pe->n_classes * pe->dim; i++) {
    guint32 u;
    memcpy (&u, pe->embeddings + i, 4);
    u = GUINT32_TO_LE (u);
    g_string_append_len (out, (const gchar *) &u, 4);
  }
  ok = g_file_set_contents (path, out->str, (gssize) out->len, error);
  g_string_free (out, TRUE);
  g_free (header);
  g_free (names);
  json_node_unref (node);
  g_object_unref (gen);
  g_object_unref (b);
  return ok;
}

gboolean
etp_prompt_class_matches (const gchar * name, const gchar * aliases,
    const gchar * label)
{
  gchar **al;
  gboolean hit = FALSE;
  guint i;

  if (label == NULL)
    return FALSE;
  if (name && g_ascii_strcasecmp (name, label) == 0)
    return TRUE;
  if (aliases == NULL || *aliases == '\0')
    return FALSE;
  al = g_strsplit (aliases, ",", -1);
  for (i = 0; al[i] && !hit; i++)
    hit = g_ascii_strcasecmp (g_strstrip (al[i]), label) == 0;
  g_strfreev (al);
  return hit;
}

gint
etp_zeroshot_score (const EtpPromptEmbeddings * pe, const gfloat * x,
    gdouble scale, gfloat * cosine, gfloat * prob)
{
  gdouble nx = 0.0, mx = -INFINITY, sum = 0.0;
  guint c, j;
  gint best = 0;

  for (j = 0; j < pe->dim; j++)
    nx += (gdouble) x[j] * x[j];
  if (!(nx > 0.0) || !isfinite (nx)) {
    for (c = 0; c < pe->n_classes; c++) {
      cosine[c] = 0.0f;
      prob[c] = 1.0f / pe->n_classes;
    }
    return -1;
  }
  nx = 1.0 / sqrt (nx);
  for (c = 0; c < pe->n_classes; c++) {
    const gfloat *e = pe->embeddings + (gsize) c * pe->dim;
    gdouble d = 0.0;
    for (j = 0; j < pe->dim; j++)
      d += (gdouble) x[j] * e[j];
    cosine[c] = (gfloat) (d * nx);
    if (cosine[c] > cosine[best])
      best = (gint) c;
    mx = MAX (mx, scale * cosine[c]);
  }
  for (c = 0; c < pe->n_classes; c++)
    sum += exp (scale * cosine[c] - mx);
  for (c = 0; c < pe->n_classes; c++)
    prob[c] = (gfloat) (exp (scale * cosine[c] - mx) / sum);
  return best;
}
