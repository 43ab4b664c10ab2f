/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* fault: a map for tests that fails, crashes or counts on chosen items. */

#include <sutra/sutra.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct
{
  const char *fail_on;
  const char *mode;
  gint64 fail_times;
  const char *count_file;
  gint64 sleep_us;
  gboolean fail_create;
  const char *fail_while;
  const char *mark_on;
  const char *mark;
} FaultSettings;

static const char *const fault_modes[] = {
  "error", "crash", "abort", "hang", "exit", "misuse", NULL
};

static const SutraParamInfo fault_params[] = {
  SUTRA_PARAM_ROW_STRING ("fail_on",
                          FaultSettings,
                          fail_on,
                          NULL,
                          0,
                          "The id of the item to fail on (a glob: “*:5*”); none by default."),
  SUTRA_PARAM_ROW_ENUM (
    "mode",
    FaultSettings,
    mode,
    "error",
    fault_modes,
    0,
    "How to fail: return an error, crash (SIGSEGV), abort, hang (sleep until killed), "
    "exit (_exit (3), as a library calling exit() would) or misuse the API "
    "(push NULL)."),
  SUTRA_PARAM_ROW_INT ("fail_times",
                       FaultSettings,
                       fail_times,
                       0,
                       0,
                       1000,
                       0,
                       "Fail only the first N attempts at each chosen item (0: always), "
                       "to test retries."),
  SUTRA_PARAM_ROW_STRING ("count_file",
                          FaultSettings,
                          count_file,
                          NULL,
                          0,
                          "Append each processed item's id to this file, to count invocations."),
  SUTRA_PARAM_ROW_INT ("sleep_us",
                       FaultSettings,
                       sleep_us,
                       0,
                       0,
                       G_MAXINT32,
                       0,
                       "Microseconds to sleep per item."),
  SUTRA_PARAM_ROW_BOOL ("fail_create",
                        FaultSettings,
                        fail_create,
                        FALSE,
                        0,
                        "Fail when the instance is created."),
  SUTRA_PARAM_ROW_STRING ("fail_while",
                          FaultSettings,
                          fail_while,
                          NULL,
                          0,
                          "Fail the chosen items only while this file exists (empty: always): "
                          "a failure that goes away, for --retry-failed."),
  SUTRA_PARAM_ROW_STRING ("mark_on",
                          FaultSettings,
                          mark_on,
                          NULL,
                          0,
                          "Items to change (a glob on the id): their text gets “mark” in front; "
                          "the others are passed on as they are."),
  SUTRA_PARAM_ROW_STRING ("mark",
                          FaultSettings,
                          mark,
                          "*",
                          0,
                          "What “mark_on” puts in front of the text."),
  SUTRA_PARAM_ROW_END
};

typedef struct
{
  const FaultSettings *settings;
  GPatternSpec *pattern;
  GMutex lock;
  GHashTable *attempts; /* item id -> failures so far */
  GPatternSpec *mark_pattern;
  int count_fd;
} Fault;

static void
fault_destroy (gpointer instance)
{
  Fault *fault = instance;

  g_clear_pointer (&fault->pattern, g_pattern_spec_free);
  g_clear_pointer (&fault->mark_pattern, g_pattern_spec_free);
  g_hash_table_unref (fault->attempts);
  if (fault->count_fd >= 0)
    close (fault->count_fd);
  g_mutex_clear (&fault->lock);
  g_free (fault);
}

static gpointer
fault_create (const SutraStageContext *context, gconstpointer settings, GError **error)
{
  const FaultSettings *s = settings;
  Fault *fault;

  if (s->fail_create)
    {
      g_set_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_FAILED,
                   "failing on purpose at creation (fail_create is set)");
      return NULL;
    }
  fault = g_new0 (Fault, 1);
  fault->settings = s;
  fault->pattern = s->fail_on != NULL ? g_pattern_spec_new (s->fail_on) : NULL;
  fault->mark_pattern = s->mark_on != NULL ? g_pattern_spec_new (s->mark_on) : NULL;
  fault->attempts = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  fault->count_fd = -1;
  g_mutex_init (&fault->lock);
  if (s->count_file != NULL)
    {
      fault->count_fd = open (s->count_file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0666);
      if (fault->count_fd < 0)
        {
          g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (errno), "cannot open “%s”: %s",
                       s->count_file, g_strerror (errno));
          fault_destroy (fault);
          return NULL;
        }
    }
  return fault;
}

static gboolean
should_fail (Fault *fault, const char *id)
{
  guint failures;

  if (fault->pattern == NULL || !g_pattern_spec_match_string (fault->pattern, id))
    return FALSE;
  if (fault->settings->fail_while != NULL && fault->settings->fail_while[0] != '\0' &&
      !g_file_test (fault->settings->fail_while, G_FILE_TEST_EXISTS))
    return FALSE;
  if (fault->settings->fail_times == 0)
    return TRUE;
  g_mutex_lock (&fault->lock);
  failures = GPOINTER_TO_UINT (g_hash_table_lookup (fault->attempts, id));
  if (failures < fault->settings->fail_times)
    g_hash_table_insert (fault->attempts, g_strdup (id), GUINT_TO_POINTER (failures + 1));
  g_mutex_unlock (&fault->lock);
  return failures < fault->settings->fail_times;
}

static gboolean
fault_process (gpointer instance,
               SutraItem *const *items,
               guint n_items,
               SutraOutput *output,
               GError **error)
{
  Fault *fault = instance;

  for (guint i = 0; i < n_items; i++)
    {
      const char *id = sutra_item_get_id (items[i]);

      if (fault->settings->sleep_us > 0)
        g_usleep ((gulong) fault->settings->sleep_us);
      if (fault->count_fd >= 0)
        {
          g_autofree char *line = g_strconcat (id, "\n", NULL);

          /* One write with O_APPEND: lines from parallel workers never mix. */
          if (write (fault->count_fd, line, strlen (line)) < 0)
            {
              g_set_error (error, G_FILE_ERROR, g_file_error_from_errno (errno),
                           "cannot write the count file: %s", g_strerror (errno));
              return FALSE;
            }
        }
      if (should_fail (fault, id))
        {
          if (strcmp (fault->settings->mode, "crash") == 0)
            raise (SIGSEGV);
          if (strcmp (fault->settings->mode, "abort") == 0)
            abort ();
          /* hang and exit are for `isolation: "process"`, where they cost a
           * worker process, not sutra. */
          if (strcmp (fault->settings->mode, "hang") == 0)
            for (;;)
              g_usleep (G_USEC_PER_SEC);
          if (strcmp (fault->settings->mode, "exit") == 0)
            _exit (3);
          if (strcmp (fault->settings->mode, "misuse") == 0)
            {
              sutra_output_push (output, NULL);
              continue;
            }
          g_set_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_INVALID_INPUT,
                       "failing on purpose at item “%s”", id);
          return FALSE;
        }
      if (fault->mark_pattern != NULL && g_pattern_spec_match_string (fault->mark_pattern, id))
        {
          gsize size;
          const guint8 *data = sutra_item_get_data (items[i], &size);
          GString *text = g_string_new (fault->settings->mark);

          g_string_append_len (text, (const char *) data, size);
          sutra_output_push (output, sutra_item_new_derived (items[i], NULL,
                                                             g_string_free_to_bytes (text)));
        }
      else
        sutra_output_push (output, sutra_item_ref (items[i]));
    }
  return TRUE;
}

/* Items pass through (marked or not) with their media type and metadata. */
static const char *const fault_meta_keys[] = { NULL };

static const SutraStageInfo fault_stages[] = {
  {
    SUTRA_STAGE_INFO_INIT,
    .name = "fault",
    .kind = SUTRA_STAGE_MAP,
    .summary = "Test map: passes items through, failing or crashing on chosen ones",
    .params = fault_params,
    .settings_size = sizeof (FaultSettings),
    .threading = SUTRA_THREADING_SHARED,
    .devices = SUTRA_DEVICE_CPU,
    .create = fault_create,
    .process = fault_process,
    .destroy = fault_destroy,
    .meta_keys = fault_meta_keys,
  },
  SUTRA_STAGE_INFO_END
};

static const SutraPluginInfo fault_plugin = {
  .name = "fault",
  .version = "1.0.0",
  .summary = "Fault injection for tests",
  .stages = fault_stages,
  SUTRA_PLUGIN_INFO_INIT,
};

SUTRA_PLUGIN_DEFINE (fault_plugin)
