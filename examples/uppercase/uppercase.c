/* SPDX-License-Identifier: MIT-0 */
/* uppercase: an example out-of-tree plugin, a map that upper-cases text. */

/*
 * The one header a plugin includes. It brings GLib, GIO and json-glib
 * with it; build with `pkg-config --cflags --libs sutra-plugin`.
 */
#include <sutra/sutra.h>

#include <string.h>

/*
 * The settings struct: the engine allocates it (zeroed), fills it from the
 * pipeline file's `params` according to the table below, and keeps it alive
 * until the stage's instances are destroyed. A BOOL is stored as gboolean,
 * an ENUM as a pointer to the matching entry of its choices.
 */
typedef struct
{
  gboolean only_ascii;
  const char *on_invalid;
} UppercaseSettings;

static const char *const uppercase_on_invalid_choices[] = { "fail", "pass", NULL };

static const SutraParamInfo uppercase_params[] = {
  SUTRA_PARAM_ROW_BOOL ("only_ascii",
                        UppercaseSettings,
                        only_ascii,
                        FALSE,
                        0,
                        "Upper-case only the ASCII letters a to z; leave all other "
                        "characters as they are."),
  SUTRA_PARAM_ROW_ENUM ("on_invalid",
                        UppercaseSettings,
                        on_invalid,
                        "fail",
                        uppercase_on_invalid_choices,
                        0,
                        "What to do with a text/plain payload that is not valid UTF-8: "
                        "fail the item, or pass it through unchanged."),
  SUTRA_PARAM_ROW_END
};

/* One instance serves every worker (SUTRA_THREADING_SHARED): it is only
 * read after create, so process is thread-safe without a lock. */
typedef struct
{
  gboolean only_ascii;
  gboolean pass_invalid;
} Uppercase;

static gpointer
uppercase_create (const SutraStageContext *context, gconstpointer settings, GError **error)
{
  const UppercaseSettings *s = settings;
  Uppercase *self = g_new0 (Uppercase, 1);

  self->only_ascii = s->only_ascii;
  /* The engine has checked the value against the choices already. */
  self->pass_invalid = strcmp (s->on_invalid, "pass") == 0;
  return self;
}

static void
uppercase_destroy (gpointer instance)
{
  g_free (instance);
}

static GBytes *
uppercase_ascii (const guint8 *data, gsize size)
{
  guint8 *upper = g_malloc (size);

  for (gsize i = 0; i < size; i++)
    upper[i] = (guint8) g_ascii_toupper ((char) data[i]);
  return g_bytes_new_take (upper, size);
}

/*
 * Upper-cases UTF-8 text with full Unicode case mapping ("ß" becomes "SS",
 * so the text may grow). A payload is bytes with a length and may hold
 * U+0000, while g_utf8_strup() stops at the first NUL byte: so each
 * NUL-free run is validated and upper-cased on its own and the NULs are
 * kept. Returns NULL, with the offending byte offset in @bad_offset, when
 * the payload is not valid UTF-8.
 */
static GBytes *
uppercase_utf8 (const guint8 *data, gsize size, gsize *bad_offset)
{
  const char *text = (const char *) data;
  g_autoptr (GString) upper = g_string_sized_new (size);
  gsize start = 0;

  while (start < size)
    {
      const char *nul = memchr (text + start, '\0', size - start);
      gsize end = nul != NULL ? (gsize) (nul - text) : size;
      const char *invalid = NULL;

      if (!g_utf8_validate_len (text + start, end - start, &invalid))
        {
          *bad_offset = (gsize) (invalid - text);
          return NULL;
        }
      if (end > start)
        {
          g_autofree char *run = g_utf8_strup (text + start, (gssize) (end - start));

          g_string_append (upper, run);
        }
      if (nul != NULL)
        {
          g_string_append_c (upper, '\0');
          end++;
        }
      start = end;
    }
  return g_string_free_to_bytes (g_steal_pointer (&upper));
}

static gboolean
uppercase_process (gpointer instance,
                   SutraItem *const *items,
                   guint n_items,
                   SutraOutput *output,
                   GError **error)
{
  const Uppercase *self = instance;

  /* A map pushes exactly one item per input item, in input order. */
  for (guint i = 0; i < n_items; i++)
    {
      SutraItem *item = items[i];
      g_autoptr (GBytes) upper = NULL;
      const guint8 *data;
      gsize size;

      /* Other media types (audio, EPUB and the rest) pass through
       * untouched: the input itself, with a reference of our own. */
      if (strcmp (sutra_item_get_media_type (item), SUTRA_MEDIA_TEXT_PLAIN) != 0)
        {
          sutra_output_push (output, sutra_item_ref (item));
          continue;
        }

      data = sutra_item_get_data (item, &size);
      if (self->only_ascii)
        upper = uppercase_ascii (data, size);
      else
        {
          gsize bad_offset = 0;

          upper = uppercase_utf8 (data, size, &bad_offset);
          if (upper == NULL && self->pass_invalid)
            {
              sutra_output_push (output, sutra_item_ref (item));
              continue;
            }
          if (upper == NULL)
            {
              /* The engine prefixes the stage and the item: say what is
               * wrong and what to do about it. */
              g_set_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_INVALID_INPUT,
                           "the text is not valid UTF-8 (byte %" G_GSIZE_FORMAT
                           "); set on_invalid to “pass” to let such items through",
                           bad_offset);
              return FALSE;
            }
        }

      /* Same id, path and metadata as the input; a new payload. The item
       * takes over our reference to the bytes. */
      sutra_output_push (output, sutra_item_new_derived (item, NULL, g_steal_pointer (&upper)));
    }
  return TRUE;
}

/* What `sutra inspect` shows and `sutra validate` checks: the stage takes
 * any media type (it passes what is not text/plain through), so it leaves
 * input_media_types NULL, and pushes what it takes, so output_media_types
 * too; the metadata of its items is the input's, so it writes no keys. */
static const char *const uppercase_meta_keys[] = { NULL };

static const SutraStageInfo uppercase_stages[] = {
  {
    SUTRA_STAGE_INFO_INIT,
    .name = "uppercase",
    .kind = SUTRA_STAGE_MAP,
    .summary = "Upper-cases text/plain payloads; passes other media types through",
    .params = uppercase_params,
    .settings_size = sizeof (UppercaseSettings),
    .threading = SUTRA_THREADING_SHARED,
    .devices = SUTRA_DEVICE_CPU,
    .create = uppercase_create,
    .process = uppercase_process,
    .destroy = uppercase_destroy,
    .meta_keys = uppercase_meta_keys,
  },
  SUTRA_STAGE_INFO_END
};

static const SutraPluginInfo uppercase_plugin = {
  .name = "uppercase", /* the module must be named uppercase.so */
  .version = "1.0.0",
  .summary = "Example out-of-tree plugin: upper-cases text",
  .stages = uppercase_stages,
  SUTRA_PLUGIN_INFO_INIT,
};

SUTRA_PLUGIN_DEFINE (uppercase_plugin)
