/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Job directories: layout, locking, snapshots and their comparison. */

#include "sutra-job.h"

#include "sutra-autocleanups.h"
#include "sutra-file-digest.h"

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

char *
sutra_job_default_dir (SutraPipeline *pipeline)
{
  g_autofree char *hash = snapshot_hash (pipeline->resolved_json);
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

      if (old_stage == NULL)
        g_string_append_printf (out, "\n  %s: new stage", (char *) l->data);
      else if (!json_node_equal (old_stage, new_stage))
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
    g_string_append (out, "\n  (top-level settings changed)");
  return g_strdup (out->str);
}

static gboolean
write_job_settings (SutraJob *job,
                    const char *cache_dir,
                    const char *const *plugin_paths,
                    GError **error)
{
  g_autoptr (JsonBuilder) builder = json_builder_new ();
  g_autoptr (JsonGenerator) generator = json_generator_new ();
  g_autoptr (JsonNode) root = NULL;
  g_autofree char *text = NULL;
  g_autofree char *path = g_build_filename (job->dir, "job.json", NULL);

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "format");
  json_builder_add_int_value (builder, SUTRA_JOB_FORMAT);
  json_builder_set_member_name (builder, "sutra");
  json_builder_add_string_value (builder, SUTRA_VERSION_STRING);
  json_builder_set_member_name (builder, "cache");
  if (cache_dir != NULL)
    {
      g_autofree char *absolute = g_canonicalize_filename (cache_dir, NULL);
      json_builder_add_string_value (builder, absolute);
    }
  else
    json_builder_add_null_value (builder);
  json_builder_set_member_name (builder, "plugin_paths");
  json_builder_begin_array (builder);
  for (guint i = 0; plugin_paths != NULL && plugin_paths[i] != NULL; i++)
    {
      g_autofree char *absolute = g_canonicalize_filename (plugin_paths[i], NULL);
      json_builder_add_string_value (builder, absolute);
    }
  json_builder_end_array (builder);
  json_builder_end_object (builder);
  root = json_builder_get_root (builder);
  json_generator_set_root (generator, root);
  json_generator_set_pretty (generator, TRUE);
  text = json_generator_to_data (generator, NULL);
  return g_file_set_contents (path, text, -1, error);
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
  g_free (job);
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
  g_autofree char *old_snapshot = NULL;
  g_autofree char *hash_line = NULL;

  job->lock_fd = -1;
  job->dir = g_strdup (dir);
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

  job->snapshot_hash = snapshot_hash (pipeline->resolved_json);
  if (g_file_get_contents (snapshot_path, &old_snapshot, NULL, NULL))
    {
      g_autofree char *old_hash = snapshot_hash (old_snapshot);

      if (strcmp (old_hash, job->snapshot_hash) != 0 && !force)
        {
          g_autoptr (JsonParser) parser = json_parser_new ();
          g_autofree char *changes = NULL;

          if (json_parser_load_from_data (parser, old_snapshot, -1, NULL))
            changes = describe_changes (json_parser_get_root (parser), pipeline->resolved);
          else
            changes = g_strdup ("\n  (the old snapshot is unreadable)");
          g_set_error (error, SUTRA_JOB_ERROR, SUTRA_JOB_ERROR_CHANGED,
                       "the pipeline differs from the one job “%s” was started with:%s\n"
                       "Run again with --force to recompute the changed stages and what is "
                       "downstream of them (finished work upstream is kept), or use another --job.",
                       dir, changes);
          return NULL;
        }
    }
  if (!g_file_set_contents (snapshot_path, pipeline->resolved_json, -1, error))
    return NULL;
  hash_line = g_strdup_printf ("%s  pipeline.json\n", job->snapshot_hash);
  if (!g_file_set_contents (hash_path, hash_line, -1, error))
    return NULL;
  if (!write_job_settings (job, cache_dir, plugin_paths, error))
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
