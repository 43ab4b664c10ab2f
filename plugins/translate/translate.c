/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* translate: text chunks translated by Apertium, each worker keeping its
 * pairs' pipelines running and streaming chunks through them. */

#include "apertium-format.h"
#include "apertium-mode.h"
#include "apertium-pipe.h"
#include "language-codes.h"

#include <sutra/sutra.h>

#include <string.h>

typedef struct
{
  const char *pair;
  const char *target;
  gboolean mark_unknown;
  gint64 answer_timeout_ms;
} TranslateSettings;

static const SutraParamInfo translate_params[] = {
  SUTRA_PARAM_ROW_STRING ("pair",
                          TranslateSettings,
                          pair,
                          "auto",
                          0,
                          "The Apertium pair, as its mode is named (eng-spa); auto picks it from "
                          "each item's `language` metadata and `target`."),
  SUTRA_PARAM_ROW_STRING ("target",
                          TranslateSettings,
                          target,
                          NULL,
                          0,
                          "The language to translate into when pair is auto (es, spa)."),
  SUTRA_PARAM_ROW_BOOL ("mark_unknown",
                        TranslateSettings,
                        mark_unknown,
                        FALSE,
                        0,
                        "Mark words the pair does not know with an asterisk, as the apertium "
                        "command does by default."),
  SUTRA_PARAM_ROW_INT ("answer_timeout_ms",
                       TranslateSettings,
                       answer_timeout_ms,
                       60000,
                       0,
                       G_MAXINT,
                       0,
                       "How long a batch may wait for the pipeline's answers before the "
                       "pipeline is restarted and the batch fails (0: no limit)."),
  SUTRA_PARAM_ROW_END
};

typedef struct
{
  const TranslateSettings *settings;
  const char *modes_dir;
  GHashTable *pipes; /* pair -> ApertiumPipe */
  GHashTable *tools; /* pair -> GPtrArray of ApertiumTool: parsed once */
} Translate;

static void
translate_destroy (gpointer instance)
{
  Translate *self = instance;

  g_hash_table_unref (self->pipes);
  g_hash_table_unref (self->tools);
  g_free (self);
}

/* The pair's tools, parsed and checked on first use. */
static GPtrArray *
translate_tools (Translate *self, const char *pair, GError **error)
{
  GPtrArray *tools = g_hash_table_lookup (self->tools, pair);

  if (tools == NULL)
    {
      tools = apertium_mode_load (self->modes_dir, pair, self->settings->mark_unknown ? "-g" : "-n",
                                  error);
      if (tools == NULL)
        return NULL;
      g_hash_table_insert (self->tools, g_strdup (pair), tools);
    }
  return tools;
}

/* The pair's running pipeline, started (again, after a failure) when
 * needed. */
static ApertiumPipe *
translate_pipe (Translate *self, const char *pair, GError **error)
{
  ApertiumPipe *pipe = g_hash_table_lookup (self->pipes, pair);
  GPtrArray *tools;

  if (pipe != NULL && apertium_pipe_is_alive (pipe))
    return pipe;
  tools = translate_tools (self, pair, error);
  if (tools == NULL)
    return NULL;
  pipe = apertium_pipe_start (pair, tools, error);
  if (pipe == NULL)
    return NULL;
  g_hash_table_insert (self->pipes, g_strdup (pair), pipe);
  return pipe;
}

static gpointer
translate_create (const SutraStageContext *context, gconstpointer settings, GError **error)
{
  const TranslateSettings *s = settings;
  Translate *self = g_new0 (Translate, 1);

  self->settings = s;
  self->modes_dir = apertium_modes_dir ();
  self->pipes =
    g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) apertium_pipe_free);
  self->tools =
    g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) g_ptr_array_unref);
  if (g_str_equal (s->pair, "auto"))
    {
      if (s->target == NULL || language_to_iso639_3 (s->target) == NULL)
        {
          g_set_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_INVALID_INPUT,
                       s->target == NULL
                         ? "\"pair\": \"auto\" needs \"target\", the language to translate "
                           "into (es, spa)"
                         : "\"target\": “%s” is not a language code sutra knows (use a "
                           "two- or three-letter ISO 639 code such as es or spa)",
                       s->target);
          translate_destroy (self);
          return NULL;
        }
      return self;
    }
  /* A fixed pair is checked at once: a missing pair or a tool that cannot
   * flush fails the run before anything runs. Its pipeline starts with
   * the first batch that needs it: with the content cache, a job whose
   * chunks were all translated before never loads the pair's data
   * (seconds, on a busy machine). */
  if (translate_tools (self, s->pair, error) == NULL)
    {
      translate_destroy (self);
      return NULL;
    }
  return self;
}

/* The pair for @item, or NULL when it needs no translation (already in
 * the target language). */
static char *
pair_for (Translate *self, SutraItem *item, GError **error)
{
  const char *language;
  const char *from;
  const char *to;

  if (!g_str_equal (self->settings->pair, "auto"))
    return g_strdup (self->settings->pair);
  language = sutra_item_get_meta_string (item, "language", NULL);
  to = language_to_iso639_3 (self->settings->target);
  from = language_to_iso639_3 (language);
  if (from == NULL)
    {
      g_set_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_INVALID_INPUT,
                   language == NULL
                     ? "the item has no `language` metadata, which \"pair\": \"auto\" needs: "
                       "give the segmenter a language, or name the pair"
                     : "the item's language “%s” is not one sutra knows the Apertium code of: "
                       "name the pair",
                   language);
      return NULL;
    }
  if (g_str_equal (from, to))
    return NULL;
  return g_strdup_printf ("%s-%s", from, to);
}

/* The `language` an output carries: the pair's target, as a two-letter
 * code when there is one (what espeak-ng voices are named after). */
static const char *
target_language (const char *pair)
{
  const char *dash = strchr (pair, '-');
  static GMutex lock;
  static GHashTable *interned;
  const char *code1;
  g_autofree char *code3 = NULL;
  const char *result;

  if (dash == NULL)
    return pair;
  code3 = g_strndup (dash + 1, strcspn (dash + 1, "-_"));
  code1 = language_to_iso639_1 (code3);
  if (code1 != NULL)
    return code1;
  g_mutex_lock (&lock);
  if (interned == NULL)
    interned = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  result = g_hash_table_lookup (interned, code3);
  if (result == NULL)
    {
      result = g_strdup (code3);
      g_hash_table_add (interned, (gpointer) result);
    }
  g_mutex_unlock (&lock);
  return result;
}

static gboolean
check_text (const guint8 *data, gsize size, GError **error)
{
  const char *end;
  const guint8 *nul = memchr (data, '\0', size);

  if (nul != NULL)
    {
      g_set_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_INVALID_INPUT,
                   "a NUL byte at offset %" G_GSIZE_FORMAT " (text items hold none)",
                   (gsize) (nul - data));
      return FALSE;
    }
  if (!g_utf8_validate ((const char *) data, size, &end))
    {
      g_set_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_INVALID_INPUT,
                   "not UTF-8 at byte offset %" G_GSIZE_FORMAT,
                   (gsize) (end - (const char *) data));
      return FALSE;
    }
  return TRUE;
}

static gboolean
translate_process (gpointer instance,
                   SutraItem *const *items,
                   guint n_items,
                   SutraOutput *output,
                   GError **error)
{
  Translate *self = instance;
  g_autoptr (GPtrArray) pairs = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GPtrArray) results = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  g_autoptr (GHashTable) done = g_hash_table_new (g_str_hash, g_str_equal);

  g_ptr_array_set_size (results, n_items);
  for (guint i = 0; i < n_items; i++)
    {
      g_autoptr (GError) local = NULL;
      gsize size;
      const guint8 *data = sutra_item_get_data (items[i], &size);
      char *pair;

      if (!check_text (data, size, &local))
        {
          g_propagate_prefixed_error (error, g_steal_pointer (&local),
                                      "item “%s”: ", sutra_item_get_id (items[i]));
          return FALSE;
        }
      pair = pair_for (self, items[i], &local);
      if (local != NULL)
        {
          g_propagate_prefixed_error (error, g_steal_pointer (&local),
                                      "item “%s”: ", sutra_item_get_id (items[i]));
          return FALSE;
        }
      g_ptr_array_add (pairs, pair);
    }

  /* One exchange per pair in the batch (nearly always one): every chunk of
   * the pair written, then every answer read. */
  for (guint i = 0; i < n_items; i++)
    {
      const char *pair = pairs->pdata[i];
      g_autoptr (GPtrArray) frames = NULL;
      g_autoptr (GArray) which = NULL;
      g_autoptr (GPtrArray) answers = NULL;
      ApertiumPipe *pipe;

      if (pair == NULL || g_hash_table_contains (done, pair))
        continue;
      g_hash_table_add (done, (gpointer) pair);
      frames = g_ptr_array_new_with_free_func ((GDestroyNotify) (void (*) (void)) g_string_free);
      which = g_array_new (FALSE, FALSE, sizeof (guint));
      for (guint k = i; k < n_items; k++)
        {
          gsize size;
          const guint8 *data;
          GString *frame;

          if (pairs->pdata[k] == NULL || !g_str_equal (pairs->pdata[k], pair))
            continue;
          data = sutra_item_get_data (items[k], &size);
          if (size == 0)
            continue;
          frame = g_string_sized_new (size + size / 8 + 8);
          apertium_deformat (frame, (const char *) data, size);
          g_ptr_array_add (frames, frame);
          g_array_append_val (which, k);
        }
      if (frames->len == 0)
        continue;
      pipe = translate_pipe (self, pair, error);
      if (pipe == NULL)
        return FALSE;
      answers = apertium_pipe_translate (pipe, (GString *const *) frames->pdata, frames->len,
                                         (guint) self->settings->answer_timeout_ms, error);
      if (answers == NULL)
        return FALSE;
      for (guint a = 0; a < answers->len; a++)
        {
          gsize size;
          gsize text_length;
          const char *stream = g_bytes_get_data (answers->pdata[a], &size);
          char *text = apertium_reformat (stream, size, &text_length);

          g_ptr_array_index (results, g_array_index (which, guint, a)) =
            g_bytes_new_take (text, text_length);
        }
    }

  for (guint i = 0; i < n_items; i++)
    {
      const char *pair = pairs->pdata[i];
      GBytes *text = results->pdata[i];
      SutraItem *translated;

      if (pair == NULL)
        {
          sutra_output_push (output, sutra_item_ref (items[i]));
          continue;
        }
      translated =
        sutra_item_new_derived (items[i], SUTRA_MEDIA_TEXT_PLAIN,
                                text != NULL ? g_bytes_ref (text) : g_bytes_new_static ("", 0));
      json_object_set_string_member (sutra_item_ensure_meta (translated), "language",
                                     target_language (pair));
      sutra_output_push (output, translated);
    }
  return TRUE;
}

/* The content cache's salt: what the translations depend on besides the
 * parameters, for every pair this stage may run (with "auto", each
 * installed pair into the target). Called by the engine before any
 * instance exists. */
static char *
translate_cache_salt (gconstpointer settings, GError **error)
{
  const TranslateSettings *s = settings;
  const char *modes_dir = apertium_modes_dir ();
  g_autoptr (GPtrArray) pairs = NULL;
  g_autofree char *suffix = NULL;
  GString *salt;
  const char *to;

  if (!g_str_equal (s->pair, "auto"))
    return apertium_pair_salt (modes_dir, s->pair, error);
  to = s->target != NULL ? language_to_iso639_3 (s->target) : NULL;
  if (to == NULL)
    {
      g_set_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_INVALID_INPUT,
                   "\"pair\": \"auto\" needs \"target\", a language code sutra knows (es, spa)");
      return NULL;
    }
  /* pair_for() makes "xxx-TO" from three-letter codes: those are the
   * only modes it can run. */
  suffix = g_strconcat ("-", to, NULL);
  pairs = apertium_list_pairs (modes_dir);
  salt = g_string_new ("auto\n");
  for (guint i = 0; i < pairs->len; i++)
    {
      const char *pair = pairs->pdata[i];
      g_autofree char *one = NULL;

      if (!g_str_has_suffix (pair, suffix) || strlen (pair) != 3 + strlen (suffix))
        continue;
      one = apertium_pair_salt (modes_dir, pair, error);
      if (one == NULL)
        {
          g_string_free (salt, TRUE);
          return NULL;
        }
      g_string_append (salt, one);
    }
  return g_string_free (salt, FALSE);
}

/* Translations are slow (a sentence is worth tens of milliseconds) and
 * books repeat: chunks are cached by their text, the pair's version and
 * the one member process() reads. */
static const char *const translate_cache_meta_keys[] = { "language", NULL };

static const char *const translate_input_types[] = { "text/*", NULL };
static const char *const translate_output_types[] = { SUTRA_MEDIA_TEXT_PLAIN, NULL };
/* The input's metadata travels; `language` becomes the target's. */
static const char *const translate_meta_keys[] = { "language", "*", NULL };

static const SutraStageInfo translate_stages[] = {
  {
    SUTRA_STAGE_INFO_INIT,
    .name = "translate",
    .kind = SUTRA_STAGE_MAP,
    .summary = "Translates text chunks with Apertium, keeping each pair's pipeline running",
    .params = translate_params,
    .settings_size = sizeof (TranslateSettings),
    .threading = SUTRA_THREADING_PER_WORKER,
    .devices = SUTRA_DEVICE_CPU,
    .create = translate_create,
    .process = translate_process,
    .destroy = translate_destroy,
    .input_media_types = translate_input_types,
    .output_media_types = translate_output_types,
    .meta_keys = translate_meta_keys,
    .cache_content = TRUE,
    .cache_meta_keys = translate_cache_meta_keys,
    .cache_salt = translate_cache_salt,
  },
  SUTRA_STAGE_INFO_END
};

static const SutraPluginInfo translate_plugin = {
  .name = "translate",
  .version = "1.0.0",
  .summary = "Offline translation with Apertium",
  .stages = translate_stages,
  SUTRA_PLUGIN_INFO_INIT,
};

SUTRA_PLUGIN_DEFINE (translate_plugin)
