/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Job directories: layout, locking, snapshots and their comparison. */

#include "sutra-job.h"

#include "sutra-autocleanups.h"
#include "sutra-file-digest.h"
#include "sutra-lineage.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <glob.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

/* The quark name has dashes, which clang-format would space as minus signs. */
/* clang-format off */
G_DEFINE_QUARK (sutra-job-error-quark, sutra_job_error)
/* clang-format on */

/*
 * DIR/
 *   job.json          format, sutra version, store, plugin paths
 *   pipeline.json     the snapshot: the pipeline with variables resolved
 *   pipeline.sha256   its hash
 *   journal.db        SQLite (WAL) journal
 *   lock              flock()ed while a sutra runs the job; holds its pid
 *   store/            the content-addressed store, unless --cache moved it
 */

static char *
snapshot_hash (const char *text)
{
  return g_compute_checksum_for_string (G_CHECKSUM_SHA256, text, -1);
}

/* Stage settings that change how a stage runs, not what it computes: a
 * pipeline that differs from its job's snapshot only in these is the same
 * job. `batch` is one of them: a stage's outputs do not depend on it (only
 * the keys of its stored results do; see note_execution_changes()). */
static const char *const execution_keys[] = {
  "workers", "queue",         "batch",      "devices",    "isolation",  "timeout_ms",
  "retry",   "on_error",      "on_missing", "checkpoint", "rate_limit", "comment",
  "cache",   "max_in_flight", "queue_mb",   NULL,
};

/* The failure policy: changed after a failure, the stage's failed items
 * are tried again. */
static const char *const policy_keys[] = { "on_error", "on_missing", "retry", NULL };

static int
compare_strings (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

/* Appends @node as compact JSON, object members sorted by name (a --set
 * adds its member last: the order must not count), leaving out the
 * members of the top object named in @skip (nullable). */
static void
append_canonical (GString *out, JsonNode *node, const char *const *skip)
{
  if (JSON_NODE_HOLDS_OBJECT (node))
    {
      JsonObject *object = json_node_get_object (node);
      g_autoptr (GList) members = json_object_get_members (object);
      g_autoptr (GPtrArray) names = g_ptr_array_new ();
      gboolean first = TRUE;

      for (GList *l = members; l != NULL; l = l->next)
        if (skip == NULL || !g_strv_contains (skip, l->data))
          g_ptr_array_add (names, l->data);
      g_ptr_array_sort (names, compare_strings);
      g_string_append_c (out, '{');
      for (guint i = 0; i < names->len; i++)
        {
          g_autofree char *quoted = NULL;
          g_autoptr (JsonNode) name = json_node_init_string (json_node_alloc (), names->pdata[i]);

          quoted = json_to_string (name, FALSE);
          g_string_append_printf (out, "%s%s:", first ? "" : ",", quoted);
          append_canonical (out, json_object_get_member (object, names->pdata[i]), NULL);
          first = FALSE;
        }
      g_string_append_c (out, '}');
    }
  else if (JSON_NODE_HOLDS_ARRAY (node))
    {
      JsonArray *array = json_node_get_array (node);

      g_string_append_c (out, '[');
      for (guint i = 0; i < json_array_get_length (array); i++)
        {
          if (i > 0)
            g_string_append_c (out, ',');
          append_canonical (out, json_array_get_element (array, i), NULL);
        }
      g_string_append_c (out, ']');
    }
  else
    {
      g_autofree char *text = json_to_string (node, FALSE);

      g_string_append (out, text);
    }
}

/* What a stage computes, as canonical text: its definition without its
 * execution settings. */
static char *
stage_outcome_text (JsonNode *stage)
{
  GString *out = g_string_new (NULL);

  append_canonical (out, stage, execution_keys);
  return g_string_free (out, FALSE);
}

/* What a pipeline computes, as canonical text: its name and its stages'
 * outcome texts, by stage name. Its description and its stages' execution
 * settings are left out. */
static char *
outcome_text (JsonNode *root)
{
  JsonObject *document = JSON_NODE_HOLDS_OBJECT (root) ? json_node_get_object (root) : NULL;
  JsonNode *name = document ? json_object_get_member (document, "name") : NULL;
  JsonNode *stages_node = document ? json_object_get_member (document, "stages") : NULL;
  GString *out = g_string_new ("{\"name\":");

  if (name != NULL)
    append_canonical (out, name, NULL);
  else
    g_string_append (out, "null");
  g_string_append (out, ",\"stages\":{");
  if (stages_node != NULL && JSON_NODE_HOLDS_OBJECT (stages_node))
    {
      JsonObject *stages = json_node_get_object (stages_node);
      g_autoptr (GList) members = json_object_get_members (stages);
      g_autoptr (GPtrArray) names = g_ptr_array_new ();

      for (GList *l = members; l != NULL; l = l->next)
        g_ptr_array_add (names, l->data);
      g_ptr_array_sort (names, compare_strings);
      for (guint i = 0; i < names->len; i++)
        {
          g_autoptr (JsonNode) key = json_node_init_string (json_node_alloc (), names->pdata[i]);
          g_autofree char *quoted = json_to_string (key, FALSE);
          g_autofree char *stage =
            stage_outcome_text (json_object_get_member (stages, names->pdata[i]));

          g_string_append_printf (out, "%s%s:%s", i > 0 ? "," : "", quoted, stage);
        }
    }
  g_string_append (out, "}}");
  return g_string_free (out, FALSE);
}

char *
sutra_job_default_dir (SutraPipeline *pipeline)
{
  g_autofree char *outcome = outcome_text (pipeline->resolved);
  g_autofree char *hash = snapshot_hash (outcome);
  g_autofree char *name = g_strdup_printf ("%s-%.12s", pipeline->name, hash);

  g_strcanon (name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.", '_');
  return g_build_filename (".sutra", "jobs", name, NULL);
}

#define LOCK_TRIES 20
#define LOCK_TRY_INTERVAL_US 10000

/* The pid a lock file names, or 0. */
static int
lock_holder (int fd)
{
  char holder[32] = "";
  ssize_t n = pread (fd, holder, sizeof holder - 1, 0);

  holder[n > 0 ? n : 0] = '\0';
  return atoi (holder);
}

gboolean
sutra_job_is_running (const char *dir, int *pid)
{
  g_autofree char *path = g_build_filename (dir, "lock", NULL);
  int fd = open (path, O_RDONLY | O_CLOEXEC);
  gboolean running = FALSE;

  if (pid != NULL)
    *pid = 0;
  if (fd < 0)
    return FALSE;
  /* A shared lock cannot be had while a run holds its exclusive one. */
  if (flock (fd, LOCK_SH | LOCK_NB) != 0)
    {
      running = errno == EWOULDBLOCK;
      if (running && pid != NULL)
        *pid = lock_holder (fd);
    }
  close (fd);
  return running;
}

static gboolean
lock_job (SutraJob *job, GError **error)
{
  g_autofree char *path = g_build_filename (job->dir, "lock", NULL);
  g_autofree char *pid = NULL;

  job->lock_fd = open (path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
  if (job->lock_fd < 0)
    {
      g_set_error (error, SUTRA_JOB_ERROR, SUTRA_JOB_ERROR_IO, "cannot open “%s”: %s", path,
                   g_strerror (errno));
      return FALSE;
    }
  /* flock dies with its process, so a killed run never leaves a stale lock.
   * `sutra status` and `sutra gc` hold a shared lock for an instant to see
   * whether the job runs (sutra_job_is_running): a few tries outlast that. */
  for (guint tries = 0; flock (job->lock_fd, LOCK_EX | LOCK_NB) != 0; tries++)
    {
      if (errno == EWOULDBLOCK && tries < LOCK_TRIES)
        {
          g_usleep (LOCK_TRY_INTERVAL_US);
          continue;
        }
      int holder = lock_holder (job->lock_fd);
      g_autofree char *pid_text = holder > 0 ? g_strdup_printf ("%d", holder) : NULL;

      g_set_error (error, SUTRA_JOB_ERROR, SUTRA_JOB_ERROR_LOCKED,
                   "job “%s” is being run by another sutra (process %s): wait for it to finish, "
                   "or stop it (Ctrl-C or kill %s) and resume",
                   job->dir, pid_text ? pid_text : "?", pid_text ? pid_text : "PID");
      close (job->lock_fd);
      job->lock_fd = -1;
      return FALSE;
    }
  pid = g_strdup_printf ("%d\n", (int) getpid ());
  if (ftruncate (job->lock_fd, 0) != 0 || pwrite (job->lock_fd, pid, strlen (pid), 0) < 0)
    {
      /* The lock holds anyway; the pid is only for the message above. */
    }
  return TRUE;
}

/* Lists the stages whose definition differs between two snapshots. */
static char *
describe_changes (JsonNode *old_root, JsonNode *new_root)
{
  JsonObject *old_stages = NULL, *new_stages = NULL;
  g_autoptr (GString) out = g_string_new (NULL);
  g_autoptr (GList) names = NULL;

  if (JSON_NODE_HOLDS_OBJECT (old_root) &&
      json_object_has_member (json_node_get_object (old_root), "stages"))
    old_stages = json_object_get_object_member (json_node_get_object (old_root), "stages");
  new_stages = json_object_get_object_member (json_node_get_object (new_root), "stages");
  names = json_object_get_members (new_stages);
  for (GList *l = names; l != NULL; l = l->next)
    {
      JsonNode *old_stage = old_stages ? json_object_get_member (old_stages, l->data) : NULL;
      JsonNode *new_stage = json_object_get_member (new_stages, l->data);

      g_autofree char *old_text = old_stage ? stage_outcome_text (old_stage) : NULL;
      g_autofree char *new_text = stage_outcome_text (new_stage);

      if (old_stage == NULL)
        g_string_append_printf (out, "\n  %s: new stage", (char *) l->data);
      else if (strcmp (old_text, new_text) != 0)
        g_string_append_printf (out, "\n  %s: changed", (char *) l->data);
    }
  if (old_stages != NULL)
    {
      g_autoptr (GList) old_names = json_object_get_members (old_stages);

      for (GList *l = old_names; l != NULL; l = l->next)
        if (!json_object_has_member (new_stages, l->data))
          g_string_append_printf (out, "\n  %s: removed", (char *) l->data);
    }
  if (out->len == 0)
    g_string_append (out, "\n  (the pipeline's name changed)");
  return g_strdup (out->str);
}

/* job.json as an object to update: what sutra_job_read_settings() and
 * sutra_job_read_info() read. A missing or unreadable file gives an empty
 * object (sutra_job_open() has refused a damaged one before). */
static JsonObject *
load_job_json (const char *dir)
{
  g_autofree char *path = g_build_filename (dir, "job.json", NULL);
  g_autoptr (JsonParser) parser = json_parser_new ();
  JsonNode *root;

  if (json_parser_load_from_file (parser, path, NULL) &&
      (root = json_parser_get_root (parser)) != NULL && JSON_NODE_HOLDS_OBJECT (root))
    return json_object_ref (json_node_get_object (root));
  return json_object_new ();
}

static gboolean
save_job_json (const char *dir, JsonObject *settings, GError **error)
{
  g_autoptr (JsonGenerator) generator = json_generator_new ();
  g_autoptr (JsonNode) root = json_node_init_object (json_node_alloc (), settings);
  g_autofree char *path = g_build_filename (dir, "job.json", NULL);
  g_autofree char *text = NULL;

  json_generator_set_root (generator, root);
  json_generator_set_pretty (generator, TRUE);
  text = json_generator_to_data (generator, NULL);
  /* Atomic (a rename): `sutra jobs` may read it at any moment. */
  return g_file_set_contents (path, text, -1, error);
}

static JsonArray *
strv_to_array (const char *const *strv, gboolean canonicalize)
{
  JsonArray *array = json_array_new ();

  for (guint i = 0; strv != NULL && strv[i] != NULL; i++)
    {
      g_autofree char *value = canonicalize && strcmp (strv[i], "-") != 0
                                 ? g_canonicalize_filename (strv[i], NULL)
                                 : g_strdup (strv[i]);
      json_array_add_string_element (array, value);
    }
  return array;
}

static char **
array_member_to_strv (JsonObject *object, const char *name)
{
  JsonNode *member = json_object_get_member (object, name);
  g_autoptr (GStrvBuilder) builder = g_strv_builder_new ();

  if (member != NULL && JSON_NODE_HOLDS_ARRAY (member))
    {
      JsonArray *array = json_node_get_array (member);

      for (guint i = 0; i < json_array_get_length (array); i++)
        {
          JsonNode *element = json_array_get_element (array, i);

          if (JSON_NODE_HOLDS_VALUE (element) &&
              json_node_get_value_type (element) == G_TYPE_STRING)
            g_strv_builder_add (builder, json_node_get_string (element));
        }
    }
  return g_strv_builder_end (builder);
}

static const char *
string_member (JsonObject *object, const char *name)
{
  JsonNode *member = json_object_get_member (object, name);

  return member != NULL && JSON_NODE_HOLDS_VALUE (member) &&
             json_node_get_value_type (member) == G_TYPE_STRING
           ? json_node_get_string (member)
           : NULL;
}

static gboolean
write_job_settings (SutraJob *job,
                    const char *cache_dir,
                    const char *const *plugin_paths,
                    JsonObject *modules,
                    GError **error)
{
  g_autoptr (JsonObject) settings = load_job_json (job->dir);

  json_object_set_int_member (settings, "format", SUTRA_JOB_FORMAT);
  json_object_set_string_member (settings, "sutra", SUTRA_VERSION_STRING);
  if (cache_dir != NULL)
    {
      g_autofree char *absolute = g_canonicalize_filename (cache_dir, NULL);
      json_object_set_string_member (settings, "cache", absolute);
    }
  else
    json_object_set_null_member (settings, "cache");
  json_object_set_array_member (settings, "plugin_paths", strv_to_array (plugin_paths, TRUE));
  /* The module digests the job's keys were made with, to say which stages
   * a rebuilt module makes compute again. */
  json_object_set_object_member (settings, "modules", json_object_ref (modules));
  return save_job_json (job->dir, settings, error);
}

gboolean
sutra_job_read_settings (const char *dir,
                         char **snapshot_path,
                         char **cache_dir,
                         char ***plugin_paths,
                         GError **error)
{
  g_autofree char *path = g_build_filename (dir, "job.json", NULL);
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (GError) local = NULL;
  JsonObject *settings;
  JsonNode *root, *member;

  if (!g_file_test (dir, G_FILE_TEST_IS_DIR) || !g_file_test (path, G_FILE_TEST_EXISTS))
    {
      g_autofree char *lock = g_build_filename (dir, "lock", NULL);
      int holder = 0;

      /* The lock is the first file sutra_job_open() makes, job.json comes
       * after the snapshot and before the journal: a run stopped between
       * them (killed in its first moments) kept nothing to resume. */
      if (g_file_test (dir, G_FILE_TEST_IS_DIR) && sutra_job_is_running (dir, &holder))
        g_set_error (error, SUTRA_JOB_ERROR, SUTRA_JOB_ERROR_NOT_A_JOB,
                     "job “%s” is being made by another sutra (process %d): wait for it", dir,
                     holder);
      else if (g_file_test (dir, G_FILE_TEST_IS_DIR) && g_file_test (lock, G_FILE_TEST_EXISTS))
        g_set_error (error, SUTRA_JOB_ERROR, SUTRA_JOB_ERROR_NOT_A_JOB,
                     "job “%s” was never started: the run that began making it was stopped "
                     "before it wrote job.json, and kept nothing; run the same “sutra run "
                     "PIPELINE --job %s” command again",
                     dir, dir);
      else
        g_set_error (error, SUTRA_JOB_ERROR, SUTRA_JOB_ERROR_NOT_A_JOB,
                     "“%s” is not a sutra job directory (it has no job.json); start a job with "
                     "“sutra run PIPELINE --job %s”",
                     dir, dir);
      return FALSE;
    }
  if (!json_parser_load_from_file (parser, path, &local) ||
      (root = json_parser_get_root (parser)) == NULL || !JSON_NODE_HOLDS_OBJECT (root))
    {
      g_set_error (error, SUTRA_JOB_ERROR, SUTRA_JOB_ERROR_VERSION, "“%s” is damaged: %s", path,
                   local ? local->message : "not a JSON object");
      return FALSE;
    }
  settings = json_node_get_object (root);
  if (json_object_get_int_member_with_default (settings, "format", 0) != SUTRA_JOB_FORMAT)
    {
      g_set_error (error, SUTRA_JOB_ERROR, SUTRA_JOB_ERROR_VERSION,
                   "job “%s” was made by sutra %s (job format %" G_GINT64_FORMAT "); this sutra "
                   "(%s) reads job format %d: resume it with that sutra, or start it again",
                   dir, json_object_get_string_member_with_default (settings, "sutra", "?"),
                   json_object_get_int_member_with_default (settings, "format", 0),
                   SUTRA_VERSION_STRING, SUTRA_JOB_FORMAT);
      return FALSE;
    }
  if (snapshot_path != NULL)
    *snapshot_path = g_build_filename (dir, "pipeline.json", NULL);
  if (cache_dir != NULL)
    {
      member = json_object_get_member (settings, "cache");
      *cache_dir = member != NULL && JSON_NODE_HOLDS_VALUE (member)
                     ? g_strdup (json_node_get_string (member))
                     : NULL;
    }
  if (plugin_paths != NULL)
    {
      g_autoptr (GPtrArray) paths = g_ptr_array_new ();
      JsonArray *array = json_object_has_member (settings, "plugin_paths")
                           ? json_object_get_array_member (settings, "plugin_paths")
                           : NULL;

      for (guint i = 0; array != NULL && i < json_array_get_length (array); i++)
        g_ptr_array_add (paths, g_strdup (json_array_get_string_element (array, i)));
      g_ptr_array_add (paths, NULL);
      *plugin_paths = (char **) g_ptr_array_free (g_steal_pointer (&paths), FALSE);
    }
  return TRUE;
}

void
sutra_job_close (SutraJob *job)
{
  if (job == NULL)
    return;
  sutra_journal_close (job->journal);
  sutra_store_close (job->store);
  if (job->lock_fd >= 0)
    close (job->lock_fd);
  g_free (job->dir);
  g_free (job->store_dir);
  g_free (job->snapshot_hash);
  g_free (job->fingerprints);
  g_clear_pointer (&job->retry_stages, g_hash_table_unref);
  g_clear_pointer (&job->notes, g_ptr_array_unref);
  g_free (job);
}

gboolean
sutra_job_retries_stage (SutraJob *job, const char *stage)
{
  return job->retry_failed ||
         (job->retry_stages != NULL && g_hash_table_contains (job->retry_stages, stage));
}

static void
string_free_all (GString *string)
{
  g_string_free (string, TRUE);
}

/* Folds into each stage's fingerprint the content of its plugin's module
 * (the file the registry loaded): a rebuilt module whose declared version
 * did not change still makes new keys, so the job never hands back what
 * the old code computed. Each module is digested once (XXH3, a fraction of
 * a millisecond), and its digest goes to @modules. Stages whose module is
 * not the one @old_settings recorded are named in the job's notes. */
static gboolean
fold_modules (SutraJob *job,
              SutraPipeline *pipeline,
              JsonObject *old_settings,
              JsonObject *modules,
              GError **error)
{
  JsonNode *member = json_object_get_member (old_settings, "modules");
  JsonObject *old_modules =
    member != NULL && JSON_NODE_HOLDS_OBJECT (member) ? json_node_get_object (member) : NULL;
  /* plugin name -> GString of its stages that compute again */
  g_autoptr (GHashTable) changed =
    g_hash_table_new_full (g_str_hash, g_str_equal, NULL, (GDestroyNotify) string_free_all);
  g_autoptr (GPtrArray) changed_order = g_ptr_array_new ();

  job->fingerprints = g_malloc0 ((gsize) pipeline->stages->len * SUTRA_DIGEST_SIZE);
  for (guint i = 0; i < pipeline->stages->len; i++)
    {
      SutraStageSpec *spec = pipeline->stages->pdata[i];
      const SutraPlugin *plugin = spec->plugin;
      const char *name = plugin->info->name;
      const char *digest = string_member (modules, name);
      const char *old_digest = old_modules != NULL ? string_member (old_modules, name) : NULL;
      g_autoptr (EVP_MD_CTX) context = EVP_MD_CTX_new ();

      if (digest == NULL)
        {
          guint8 content[SUTRA_DIGEST_SIZE];
          char hex[65];

          if (!sutra_file_digest (plugin->path, content, error))
            {
              g_prefix_error (error, "plugin “%s”: cannot digest its module: ", name);
              return FALSE;
            }
          sutra_digest_to_hex (content, hex);
          json_object_set_string_member (modules, name, hex);
          digest = string_member (modules, name);
        }
      EVP_DigestInit_ex (context, EVP_sha256 (), NULL);
      EVP_DigestUpdate (context, "sutra-module\n", 13);
      EVP_DigestUpdate (context, spec->fingerprint, SUTRA_DIGEST_SIZE);
      EVP_DigestUpdate (context, digest, strlen (digest));
      /* What the plugin says its outputs depend on besides its code and
       * parameters (ABI 2.1, cache_salt: the installed version of a
       * dictionary or a model). In the fingerprint, not only in the
       * content cache's keys: batch records, lineages and the up-to-date
       * check must not hand back what the old data computed either. Asked
       * here, once per job open, on the main thread, in sutra's process. */
      if (spec->info->cache_salt != NULL)
        {
          g_autoptr (GError) local = NULL;
          g_autofree char *salt =
            spec->info->cache_salt (sutra_settings_get_data (spec->settings), &local);

          if (salt == NULL)
            {
              g_set_error (error, SUTRA_JOB_ERROR, SUTRA_JOB_ERROR_IO,
                           "stage “%s”: plugin “%s” cannot say what its outputs depend on: %s",
                           spec->name, name, local != NULL ? local->message : "no reason given");
              return FALSE;
            }
          EVP_DigestUpdate (context, "\nsalt\n", 6);
          EVP_DigestUpdate (context, salt, strlen (salt));
        }
      EVP_DigestFinal_ex (context, job->fingerprints + (gsize) spec->index * SUTRA_DIGEST_SIZE,
                          NULL);

      if (old_digest != NULL && strcmp (old_digest, digest) != 0)
        {
          GString *stages = g_hash_table_lookup (changed, name);

          if (stages == NULL)
            {
              stages = g_string_new (NULL);
              g_hash_table_insert (changed, (gpointer) name, stages);
              g_ptr_array_add (changed_order, (gpointer) plugin);
            }
          g_string_append_printf (stages, "%s“%s”", stages->len > 0 ? ", " : "", spec->name);
        }
    }
  for (guint i = 0; i < changed_order->len; i++)
    {
      const SutraPlugin *plugin = changed_order->pdata[i];
      GString *stages = g_hash_table_lookup (changed, plugin->info->name);
      gboolean several = strchr (stages->str, ',') != NULL;
      g_autofree char *path = g_canonicalize_filename (plugin->path, NULL);

      g_ptr_array_add (job->notes,
                       g_strdup_printf ("plugin “%s” %s is not the module this job last ran "
                                        "(%s changed): stage%s %s and what is downstream of "
                                        "%s compute again",
                                        plugin->info->name, plugin->info->version, path,
                                        several ? "s" : "", stages->str, several ? "them" : "it"));
    }
  return TRUE;
}

static void
collect_first_column (int n_columns, const char *const *values, gpointer data)
{
  if (values[0] != NULL)
    g_hash_table_add (data, g_strdup (values[0]));
}

/* The canonical text of @stage's member @key, or "" when it has none. */
static char *
member_text (JsonObject *stage, const char *key)
{
  JsonNode *member = json_object_get_member (stage, key);
  GString *out = g_string_new (NULL);

  if (member != NULL)
    append_canonical (out, member, NULL);
  return g_string_free (out, FALSE);
}

/* What execution settings changed since the snapshot @old_root make this
 * run do: a stage whose failure policy changed has its failed items tried
 * again (its finished batches are kept); a stage whose batch size changed
 * cannot find its stored results, which are per batch. */
static void
note_execution_changes (SutraJob *job, SutraPipeline *pipeline, JsonNode *old_root)
{
  JsonObject *old_document =
    JSON_NODE_HOLDS_OBJECT (old_root) ? json_node_get_object (old_root) : NULL;
  JsonNode *old_stages_node =
    old_document != NULL ? json_object_get_member (old_document, "stages") : NULL;
  JsonObject *new_stages =
    json_object_get_object_member (json_node_get_object (pipeline->resolved), "stages");
  g_autoptr (GHashTable) failed = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);

  if (old_stages_node == NULL || !JSON_NODE_HOLDS_OBJECT (old_stages_node))
    return;
  sutra_journal_query (job->journal,
                       "SELECT stage FROM failures UNION SELECT stage FROM stages "
                       "WHERE state = 'failed'",
                       collect_first_column, failed, NULL);
  for (guint i = 0; i < pipeline->stages->len; i++)
    {
      SutraStageSpec *spec = pipeline->stages->pdata[i];
      JsonNode *old_node =
        json_object_get_member (json_node_get_object (old_stages_node), spec->name);
      JsonNode *new_node = json_object_get_member (new_stages, spec->name);
      JsonObject *old_stage, *new_stage;
      g_autoptr (GString) policy = g_string_new (NULL);
      g_autofree char *old_batch = NULL;
      g_autofree char *new_batch = NULL;

      if (old_node == NULL || !JSON_NODE_HOLDS_OBJECT (old_node) || new_node == NULL ||
          !JSON_NODE_HOLDS_OBJECT (new_node))
        continue;
      old_stage = json_node_get_object (old_node);
      new_stage = json_node_get_object (new_node);
      for (guint k = 0; policy_keys[k] != NULL; k++)
        {
          g_autofree char *before = member_text (old_stage, policy_keys[k]);
          g_autofree char *after = member_text (new_stage, policy_keys[k]);

          if (strcmp (before, after) != 0)
            g_string_append_printf (policy, "%s%s", policy->len > 0 ? ", " : "", policy_keys[k]);
        }
      if (policy->len > 0)
        {
          g_hash_table_add (job->retry_stages, g_strdup (spec->name));
          if (g_hash_table_contains (failed, spec->name))
            g_ptr_array_add (job->notes,
                             g_strdup_printf ("stage “%s”: %s changed: what it finished is "
                                              "kept, what failed is tried again",
                                              spec->name, policy->str));
        }
      old_batch = member_text (old_stage, "batch");
      new_batch = member_text (new_stage, "batch");
      if (strcmp (old_batch, new_batch) != 0)
        {
          g_autofree char *change =
            g_strdup_printf ("stage “%s”: batch changed (%s → %s)", spec->name,
                             *old_batch != '\0' ? old_batch : "the default",
                             *new_batch != '\0' ? new_batch : "the default");

          if (spec->info->kind == SUTRA_STAGE_SINK)
            g_ptr_array_add (job->notes,
                             g_strdup_printf ("%s: if it runs, it writes its output anew, "
                                              "from what the stages before it kept",
                                              change));
          else
            g_ptr_array_add (job->notes,
                             g_strdup_printf ("%s: its results are stored per batch, so if it "
                                              "runs it computes its items again; the other "
                                              "stages keep theirs",
                                              change));
        }
    }
}

SutraJob *
sutra_job_open (const char *dir,
                SutraPipeline *pipeline,
                const char *cache_dir,
                const char *const *plugin_paths,
                gboolean force,
                GError **error)
{
  g_autoptr (SutraJob) job = g_new0 (SutraJob, 1);
  g_autofree char *snapshot_path = g_build_filename (dir, "pipeline.json", NULL);
  g_autofree char *hash_path = g_build_filename (dir, "pipeline.sha256", NULL);
  g_autofree char *settings_path = g_build_filename (dir, "job.json", NULL);
  g_autofree char *journal_path = g_build_filename (dir, "journal.db", NULL);
  g_autoptr (JsonParser) old_parser = json_parser_new ();
  g_autoptr (JsonObject) old_settings = NULL;
  g_autoptr (JsonObject) modules = json_object_new ();
  g_autofree char *old_snapshot = NULL;
  g_autofree char *hash_line = NULL;
  JsonNode *old_root = NULL;

  job->lock_fd = -1;
  job->dir = g_strdup (dir);
  job->retry_stages = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  job->notes = g_ptr_array_new_with_free_func (g_free);
  if (g_mkdir_with_parents (dir, 0777) != 0)
    {
      g_set_error (error, SUTRA_JOB_ERROR, SUTRA_JOB_ERROR_IO, "cannot make job directory “%s”: %s",
                   dir, g_strerror (errno));
      return NULL;
    }
  if (!lock_job (job, error))
    return NULL;

  if (g_file_test (settings_path, G_FILE_TEST_EXISTS))
    {
      g_autofree char *recorded_cache = NULL;

      if (!sutra_job_read_settings (dir, NULL, &recorded_cache, NULL, error))
        return NULL;
      /* A job keeps the store it was started with unless told otherwise. */
      if (cache_dir == NULL && recorded_cache != NULL)
        {
          job->store_dir = g_steal_pointer (&recorded_cache);
          cache_dir = job->store_dir;
        }
    }
  old_settings = load_job_json (dir);

  job->snapshot_hash = snapshot_hash (pipeline->resolved_json);
  if (g_file_get_contents (snapshot_path, &old_snapshot, NULL, NULL))
    {
      g_autofree char *old_outcome = NULL;
      g_autofree char *new_outcome = outcome_text (pipeline->resolved);

      if (json_parser_load_from_data (old_parser, old_snapshot, -1, NULL))
        {
          old_root = json_parser_get_root (old_parser);
          old_outcome = outcome_text (old_root);
        }
      /* What the pipeline computes, not how: tuning workers, queue or
       * batch sizes, or the failure policy, is the same job. */
      if ((old_outcome == NULL || strcmp (old_outcome, new_outcome) != 0) && !force)
        {
          g_autofree char *changes = old_root != NULL
                                       ? describe_changes (old_root, pipeline->resolved)
                                       : g_strdup ("\n  (the old snapshot is unreadable)");

          g_set_error (error, SUTRA_JOB_ERROR, SUTRA_JOB_ERROR_CHANGED,
                       "the pipeline differs from the one job “%s” was started with:%s\n"
                       "Run again with --force to recompute the changed stages and what is "
                       "downstream of them (finished work upstream is kept), or use another --job.",
                       dir, changes);
          return NULL;
        }
    }
  if (!fold_modules (job, pipeline, old_settings, modules, error))
    return NULL;
  if (old_snapshot != NULL && !json_object_has_member (old_settings, "modules"))
    g_ptr_array_add (job->notes,
                     g_strdup ("this job was last run by a sutra that did not fold plugin modules "
                               "into its keys: what it computed then is computed again, once"));
  if (!g_file_set_contents (snapshot_path, pipeline->resolved_json, -1, error))
    return NULL;
  hash_line = g_strdup_printf ("%s  pipeline.json\n", job->snapshot_hash);
  if (!g_file_set_contents (hash_path, hash_line, -1, error))
    return NULL;
  if (!write_job_settings (job, cache_dir, plugin_paths, modules, error))
    return NULL;

  if (job->store_dir == NULL)
    job->store_dir =
      cache_dir != NULL ? g_strdup (cache_dir) : g_build_filename (dir, "store", NULL);
  job->journal = sutra_journal_open (journal_path, error);
  if (job->journal == NULL)
    return NULL;
  job->store = sutra_store_open (job->store_dir, error);
  if (job->store == NULL)
    return NULL;
  if (!sutra_store_register_job (job->store, dir, error))
    return NULL;
  if (old_root != NULL)
    note_execution_changes (job, pipeline, old_root);
  return g_steal_pointer (&job);
}

SutraJournal *
sutra_job_open_journal (const char *dir, GError **error)
{
  g_autofree char *path = g_build_filename (dir, "journal.db", NULL);

  if (!sutra_job_read_settings (dir, NULL, NULL, NULL, error))
    return NULL;
  if (!g_file_test (path, G_FILE_TEST_EXISTS))
    {
      g_set_error (error, SUTRA_JOB_ERROR, SUTRA_JOB_ERROR_NOT_A_JOB, "job “%s” has no journal yet",
                   dir);
      return NULL;
    }
  return sutra_journal_open (path, error);
}

static int
sutra_compare_path_pointers (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

/* A file changed within this much of the time its digest was taken may
 * change again with the same stat fields (timestamps are coarse, and
 * another machine's clock may write them): such digests are not kept. */
#define RACY_WINDOW_NS (G_GINT64_CONSTANT (2) * 1000 * 1000 * 1000)

static gint64
timespec_ns (const struct timespec *t)
{
  return (gint64) t->tv_sec * 1000000000 + t->tv_nsec;
}

/* The stat fields that change whenever a file does. */
static char *
file_stamp (const struct stat *st)
{
  return g_strdup_printf ("%ju:%ju:%jd:%" G_GINT64_FORMAT ":%" G_GINT64_FORMAT,
                          (uintmax_t) st->st_dev, (uintmax_t) st->st_ino, (intmax_t) st->st_size,
                          timespec_ns (&st->st_mtim), timespec_ns (&st->st_ctim));
}

/* The content digest of @path, taken from @journal's record when the
 * file's device, inode, size, mtime and ctime are those recorded with it,
 * as git's index does. Any change to a file moves its ctime to the time of
 * the change, which the kernel sets and no one can set back; a digest is
 * recorded only for a file whose ctime lies RACY_WINDOW_NS before the
 * digest was taken, and whose stamp did not change while it was read, so a
 * later change always shows. FALSE for what is not a regular file (a
 * FIFO, a terminal): reading it for a digest would consume the input. */
static gboolean
digest_input_file (const char *path, SutraJournal *journal, guint8 digest[32], gboolean *cached)
{
  g_autofree char *absolute = g_canonicalize_filename (path, NULL);
  g_autofree char *stamp = NULL;
  g_autofree char *stamp_after = NULL;
  struct stat st;
  gint64 started_ns;
  gboolean ok;
  int fd;

  *cached = FALSE;
  /* Not even opened: opening a FIFO would let its writer start, and
   * closing it would cut the writer off. */
  if (stat (path, &st) != 0 || !S_ISREG (st.st_mode))
    return FALSE;
  fd = open (path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0)
    return FALSE;
  if (fstat (fd, &st) != 0 || !S_ISREG (st.st_mode))
    {
      close (fd);
      return FALSE;
    }
  stamp = file_stamp (&st);
  if (journal != NULL && sutra_journal_get_input_digest (journal, absolute, stamp, digest))
    {
      close (fd);
      *cached = TRUE;
      return TRUE;
    }
  started_ns = g_get_real_time () * 1000;
  ok = sutra_file_digest_fd (fd, path, digest, NULL) && fstat (fd, &st) == 0;
  close (fd);
  if (!ok)
    return FALSE;
  stamp_after = file_stamp (&st);
  if (journal != NULL && strcmp (stamp, stamp_after) == 0 &&
      timespec_ns (&st.st_ctim) < started_ns - RACY_WINDOW_NS &&
      timespec_ns (&st.st_mtim) < started_ns - RACY_WINDOW_NS)
    sutra_journal_set_input_digest (journal, absolute, stamp, digest);
  return TRUE;
}

gboolean
sutra_job_source_digest (SutraStageSpec *spec,
                         SutraJournal *journal,
                         guint8 digest[32],
                         guint *n_files,
                         guint *n_cached)
{
  gconstpointer data = sutra_settings_get_data (spec->settings);
  g_autoptr (EVP_MD_CTX) context = EVP_MD_CTX_new ();

  *n_files = *n_cached = 0;
  EVP_DigestInit_ex (context, EVP_sha256 (), NULL);
  for (const SutraParamInfo *param = spec->info->params; param->name != NULL; param++)
    {
      const char *value;
      glob_t matches = { 0 };

      if (param->type != SUTRA_PARAM_STRING || !(param->flags & SUTRA_PARAM_INPUT_PATH))
        continue;
      value = G_STRUCT_MEMBER (const char *, data, param->offset);
      if (value == NULL)
        continue;
      if (strcmp (value, "-") == 0)
        return FALSE;
      if (glob (value, 0, NULL, &matches) != 0)
        {
          globfree (&matches);
          return FALSE;
        }
      /* glob() sorts like the sources do (byte order under LC_COLLATE=C;
       * the source sorts again, so the digest follows the same order). */
      {
        g_autoptr (GPtrArray) paths = g_ptr_array_new_with_free_func (g_free);

        for (gsize i = 0; i < matches.gl_pathc; i++)
          g_ptr_array_add (paths, g_strdup (matches.gl_pathv[i]));
        globfree (&matches);
        g_ptr_array_sort (paths, (GCompareFunc) sutra_compare_path_pointers);
        for (guint i = 0; i < paths->len; i++)
          {
            g_autofree char *base = g_path_get_basename (paths->pdata[i]);
            guint8 content[32];

            gboolean cached;

            /* Names are part of what a source yields (they become item ids). */
            EVP_DigestUpdate (context, base, strlen (base) + 1);
            if (!digest_input_file (paths->pdata[i], journal, content, &cached))
              return FALSE;
            *n_files += 1;
            *n_cached += cached ? 1 : 0;
            EVP_DigestUpdate (context, content, sizeof content);
          }
      }
    }
  EVP_DigestFinal_ex (context, digest, NULL);
  return TRUE;
}

char **
sutra_job_list_paths (SutraPipeline *pipeline, gboolean outputs)
{
  g_autoptr (GStrvBuilder) paths = g_strv_builder_new ();
  SutraParamFlags wanted =
    outputs ? SUTRA_PARAM_OUTPUT_PATH | SUTRA_PARAM_OUTPUT_DIR : SUTRA_PARAM_INPUT_PATH;

  for (guint i = 0; i < pipeline->stages->len; i++)
    {
      SutraStageSpec *spec = pipeline->stages->pdata[i];
      gconstpointer data = spec->settings != NULL ? sutra_settings_get_data (spec->settings) : NULL;

      for (const SutraParamInfo *param = spec->info->params; data != NULL && param->name != NULL;
           param++)
        {
          const char *value;

          if (param->type != SUTRA_PARAM_STRING || !(param->flags & wanted))
            continue;
          value = G_STRUCT_MEMBER (const char *, data, param->offset);
          if (value != NULL && *value != '\0')
            g_strv_builder_add (paths, value);
        }
    }
  return g_strv_builder_end (paths);
}

static void
collect_max_double (int n_columns, const char *const *values, gpointer data)
{
  double *most = data;

  if (values[0] != NULL)
    *most = MAX (*most, g_ascii_strtod (values[0], NULL));
}

/* How long a run that was killed had run: its stages record their time
 * with their progress, every few seconds. */
static double
killed_run_seconds (SutraJournal *journal)
{
  double most = 0;

  sutra_journal_query (journal, "SELECT MAX(seconds) FROM stages WHERE state = 'running'",
                       collect_max_double, &most, NULL);
  return most;
}

static char *
now_iso8601 (void)
{
  g_autoptr (GDateTime) now = g_date_time_new_now_utc ();

  return g_date_time_format_iso8601 (now);
}

gboolean
sutra_job_record_start (SutraJob *job,
                        SutraPipeline *pipeline,
                        const char *const *command,
                        GError **error)
{
  g_autoptr (JsonObject) settings = load_job_json (job->dir);
  g_autofree char *now = now_iso8601 ();
  g_autofree char *snapshot = g_build_filename (job->dir, "pipeline.json", NULL);
  g_autofree char *snapshot_absolute = g_canonicalize_filename (snapshot, NULL);
  g_autofree char *pipeline_absolute =
    pipeline->path != NULL ? g_canonicalize_filename (pipeline->path, NULL) : NULL;
  double seconds = json_object_get_double_member_with_default (settings, "seconds", 0);
  gboolean resumed =
    pipeline_absolute == NULL || strcmp (pipeline_absolute, snapshot_absolute) == 0;

  /* The last run was killed: it could not add its time itself. */
  if (string_member (settings, "started") != NULL && string_member (settings, "finished") == NULL)
    seconds += killed_run_seconds (job->journal);
  json_object_set_double_member (settings, "seconds", seconds);
  if (string_member (settings, "created") == NULL)
    json_object_set_string_member (settings, "created", now);
  json_object_set_string_member (settings, "started", now);
  json_object_set_null_member (settings, "finished");
  json_object_set_array_member (settings, "command", strv_to_array (command, FALSE));
  /* `sutra resume` runs the snapshot, whose relative paths were resolved
   * where the job started: what the first run recorded stays. */
  if (!resumed || !json_object_has_member (settings, "inputs"))
    {
      g_auto (GStrv) inputs = sutra_job_list_paths (pipeline, FALSE);
      g_auto (GStrv) outputs = sutra_job_list_paths (pipeline, TRUE);

      json_object_set_array_member (settings, "inputs",
                                    strv_to_array ((const char *const *) inputs, TRUE));
      json_object_set_array_member (settings, "outputs",
                                    strv_to_array ((const char *const *) outputs, TRUE));
    }
  if (!resumed)
    json_object_set_string_member (settings, "pipeline_file", pipeline_absolute);
  job->started_us = g_get_monotonic_time ();
  return save_job_json (job->dir, settings, error);
}

gboolean
sutra_job_record_end (SutraJob *job, GError **error)
{
  g_autoptr (JsonObject) settings = load_job_json (job->dir);
  g_autofree char *now = now_iso8601 ();
  double seconds = json_object_get_double_member_with_default (settings, "seconds", 0);

  g_return_val_if_fail (job->started_us != 0, FALSE);

  seconds += (g_get_monotonic_time () - job->started_us) / 1e6;
  json_object_set_double_member (settings, "seconds", seconds);
  json_object_set_string_member (settings, "finished", now);
  return save_job_json (job->dir, settings, error);
}

void
sutra_job_info_free (SutraJobInfo *info)
{
  if (info == NULL)
    return;
  g_free (info->dir);
  g_free (info->name);
  g_free (info->pipeline_file);
  g_strfreev (info->command);
  g_strfreev (info->inputs);
  g_strfreev (info->outputs);
  g_free (info->state);
  g_free (info);
}

static gint64
time_member (JsonObject *object, const char *name)
{
  const char *text = string_member (object, name);
  g_autoptr (GDateTime) time = text != NULL ? g_date_time_new_from_iso8601 (text, NULL) : NULL;

  return time != NULL ? g_date_time_to_unix (time) : 0;
}

typedef struct
{
  GHashTable *states; /* stage -> state */
  double running_seconds;
} StageRows;

static void
collect_stage_state (int n_columns, const char *const *values, gpointer data)
{
  StageRows *rows = data;

  if (values[0] == NULL || values[1] == NULL)
    return;
  g_hash_table_insert (rows->states, g_strdup (values[0]), g_strdup (values[1]));
  if (strcmp (values[1], "running") == 0 && values[2] != NULL)
    rows->running_seconds = MAX (rows->running_seconds, g_ascii_strtod (values[2], NULL));
}

SutraJobInfo *
sutra_job_read_info (const char *dir, GError **error)
{
  g_autoptr (SutraJobInfo) info = g_new0 (SutraJobInfo, 1);
  g_autoptr (JsonObject) settings = NULL;
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autofree char *snapshot_path = NULL;
  g_autofree char *journal_path = g_build_filename (dir, "journal.db", NULL);
  g_autoptr (GHashTable) states = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  StageRows rows = { states, 0 };
  JsonObject *snapshot, *stages;
  JsonNode *root;
  gboolean all_done = TRUE, any_failed = FALSE, running;

  if (!sutra_job_read_settings (dir, &snapshot_path, NULL, NULL, error))
    return NULL;
  if (!json_parser_load_from_file (parser, snapshot_path, error))
    {
      g_prefix_error (error, "job “%s”: ", dir);
      return NULL;
    }
  root = json_parser_get_root (parser);
  if (root == NULL || !JSON_NODE_HOLDS_OBJECT (root) ||
      !json_object_has_member (json_node_get_object (root), "stages"))
    {
      g_set_error (error, SUTRA_JOB_ERROR, SUTRA_JOB_ERROR_VERSION,
                   "job “%s”: its snapshot “%s” is damaged (no stages): start the job again", dir,
                   snapshot_path);
      return NULL;
    }
  snapshot = json_node_get_object (root);
  stages = json_object_get_object_member (snapshot, "stages");
  settings = load_job_json (dir);

  info->dir = g_strdup (dir);
  info->name = g_strdup (json_object_get_string_member_with_default (snapshot, "name", ""));
  info->pipeline_file = g_strdup (string_member (settings, "pipeline_file"));
  info->command = array_member_to_strv (settings, "command");
  info->inputs = array_member_to_strv (settings, "inputs");
  info->outputs = array_member_to_strv (settings, "outputs");
  info->created = time_member (settings, "created");
  {
    const char *text = string_member (settings, "created");
    g_autoptr (GDateTime) created = text != NULL ? g_date_time_new_from_iso8601 (text, NULL) : NULL;

    info->created_us = created != NULL ? g_date_time_to_unix (created) * G_USEC_PER_SEC +
                                           g_date_time_get_microsecond (created)
                                       : 0;
  }
  info->started = time_member (settings, "started");
  info->finished = time_member (settings, "finished");
  info->seconds = json_object_get_double_member_with_default (settings, "seconds", 0);

  /* No journal yet: a run that stopped before it began. */
  if (g_file_test (journal_path, G_FILE_TEST_EXISTS))
    {
      SutraJournal *journal = sutra_job_open_journal (dir, error);

      if (journal == NULL)
        return NULL;
      sutra_journal_query (journal, "SELECT stage, state, seconds FROM stages", collect_stage_state,
                           &rows, NULL);
      sutra_journal_close (journal);
    }
  running = sutra_job_is_running (dir, &info->pid);
  {
    g_autoptr (GList) names = json_object_get_members (stages);

    for (GList *l = names; l != NULL; l = l->next)
      {
        const char *state = g_hash_table_lookup (states, l->data);

        all_done = all_done && state != NULL && strcmp (state, "done") == 0;
        any_failed = any_failed || (state != NULL && strcmp (state, "failed") == 0);
      }
  }
  /* The rule `sutra status` states: a job nothing runs that is not done
   * and did not fail was stopped (a signal, a kill, a crash). */
  info->state = g_strdup (running      ? "running"
                          : all_done   ? "done"
                          : any_failed ? "failed"
                                       : "interrupted");
  if (running && info->started > 0)
    info->seconds += MAX (0, g_get_real_time () / G_USEC_PER_SEC - info->started);
  else if (!running && info->started > 0 && info->finished == 0)
    info->seconds += rows.running_seconds;
  return g_steal_pointer (&info);
}
