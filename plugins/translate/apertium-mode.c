/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Apertium mode files: installed pairs, and a pair's tools with -z. */

#include "apertium-mode.h"

#include "language-codes.h"

#include <sutra/sutra.h>

#include <glib/gstdio.h>
#include <string.h>

const char *
apertium_modes_dir (void)
{
  const char *dir = g_getenv ("APERTIUM_MODES_DIR");

  return dir != NULL && dir[0] != '\0' ? dir : "/usr/share/apertium/modes";
}

static int
compare_names (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

GPtrArray *
apertium_list_pairs (const char *modes_dir)
{
  GPtrArray *pairs = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GDir) dir = g_dir_open (modes_dir, 0, NULL);
  const char *name;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    if (g_str_has_suffix (name, ".mode"))
      g_ptr_array_add (pairs, g_strndup (name, strlen (name) - strlen (".mode")));
  g_ptr_array_sort (pairs, compare_names);
  return pairs;
}

static void
tool_free (ApertiumTool *tool)
{
  g_strfreev (tool->argv);
  g_free (tool);
}

/* Whether @program documents -z (every Apertium and lttoolbox tool that can
 * flush on NUL says so in its help). The answer is cached per program: a
 * pair's pipeline names the same few tools. */
static gboolean
tool_can_null_flush (const char *program)
{
  static GMutex lock;
  static GHashTable *known;
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  const char *argv[] = { program, "--help", NULL };
  gboolean can;
  gpointer cached;

  g_mutex_lock (&lock);
  if (known == NULL)
    known = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  if (g_hash_table_lookup_extended (known, program, NULL, &cached))
    {
      g_mutex_unlock (&lock);
      return GPOINTER_TO_INT (cached);
    }
  g_mutex_unlock (&lock);

  /* Tools print their help on stdout or stderr, exiting 0 or not. */
  if (!g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, &out, &err, NULL,
                     NULL))
    return FALSE;
  can = (out != NULL && (strstr (out, "-z") != NULL || strstr (out, "null-flush") != NULL)) ||
        (err != NULL && (strstr (err, "-z") != NULL || strstr (err, "null-flush") != NULL));
  g_mutex_lock (&lock);
  g_hash_table_insert (known, g_strdup (program), GINT_TO_POINTER (can));
  g_mutex_unlock (&lock);
  return can;
}

/* Splits a mode's shell pipeline at the pipes that are not quoted. */
static GPtrArray *
split_pipeline (const char *line)
{
  GPtrArray *parts = g_ptr_array_new_with_free_func (g_free);
  GString *part = g_string_new (NULL);
  char quote = 0;

  for (const char *p = line; *p != '\0'; p++)
    {
      if (quote != 0)
        {
          if (*p == quote)
            quote = 0;
        }
      else if (*p == '\'' || *p == '"')
        quote = *p;
      else if (*p == '|')
        {
          g_ptr_array_add (parts, g_string_free (g_steal_pointer (&part), FALSE));
          part = g_string_new (NULL);
          continue;
        }
      g_string_append_c (part, *p);
    }
  g_ptr_array_add (parts, g_string_free (part, FALSE));
  return parts;
}

static char *
replace_all (const char *text, const char *what, const char *with)
{
  g_auto (GStrv) pieces = g_strsplit (text, what, -1);

  return g_strjoinv (with, pieces);
}

GPtrArray *
apertium_mode_load (const char *modes_dir, const char *pair, const char *gen_option, GError **error)
{
  g_autofree char *file = g_strconcat (pair, ".mode", NULL);
  g_autofree char *path = g_build_filename (modes_dir, file, NULL);
  g_autofree char *contents = NULL;
  g_autofree char *with_gen = NULL;
  g_autofree char *line = NULL;
  g_autoptr (GPtrArray) parts = NULL;
  g_autoptr (GPtrArray) tools = g_ptr_array_new_with_free_func ((GDestroyNotify) tool_free);
  g_autoptr (GError) local = NULL;

  if (strchr (pair, '/') != NULL || !g_file_test (path, G_FILE_TEST_IS_REGULAR))
    {
      g_autoptr (GPtrArray) pairs = apertium_list_pairs (modes_dir);

      g_ptr_array_add (pairs, NULL);
      if (pairs->len == 1)
        g_set_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_INVALID_INPUT,
                     "the Apertium pair “%s” is not installed, and no pair is (in %s): install "
                     "one, e.g. `apt-get install apertium-en-es` for “eng-spa”",
                     pair, modes_dir);
      else
        {
          g_autofree char *list = g_strjoinv (", ", (char **) pairs->pdata);

          g_set_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_INVALID_INPUT,
                       "the Apertium pair “%s” is not installed (in %s); installed pairs: %s", pair,
                       modes_dir, list);
        }
      return NULL;
    }
  if (!g_file_get_contents (path, &contents, NULL, &local))
    {
      g_set_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_FAILED,
                   "cannot read the Apertium mode %s: %s", path, local->message);
      return NULL;
    }
  /* A mode is one shell pipeline; $1 is the generator's unknown-word
   * option and $2 the tagger's extra option, as the apertium script fills
   * them. */
  line = g_strstrip (g_strdup (contents));
  with_gen = replace_all (line, "$1", gen_option);
  g_free (line);
  line = replace_all (with_gen, "$2", "");
  parts = split_pipeline (line);
  for (guint i = 0; i < parts->len; i++)
    {
      g_auto (GStrv) argv = NULL;
      g_autoptr (GStrvBuilder) builder = g_strv_builder_new ();
      ApertiumTool *tool;
      gboolean has_z = FALSE;

      if (!g_shell_parse_argv (g_strstrip ((char *) parts->pdata[i]), NULL, &argv, &local))
        {
          g_set_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_FAILED,
                       "cannot parse command %u of the Apertium mode %s: %s", i + 1, path,
                       local->message);
          return NULL;
        }
      if (!tool_can_null_flush (argv[0]))
        {
          g_set_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_UNSUPPORTED,
                       "the Apertium mode %s runs “%s”, which cannot flush on NUL (no -z "
                       "option, or it is not installed): sutra keeps each pair's pipeline "
                       "running and would hang on it",
                       path, argv[0]);
          return NULL;
        }
      g_strv_builder_add (builder, argv[0]);
      for (guint k = 1; argv[k] != NULL; k++)
        has_z = has_z || g_str_equal (argv[k], "-z");
      if (!has_z)
        g_strv_builder_add (builder, "-z");
      for (guint k = 1; argv[k] != NULL; k++)
        if (argv[k][0] != '\0')
          g_strv_builder_add (builder, argv[k]);
      tool = g_new0 (ApertiumTool, 1);
      tool->argv = g_strv_builder_end (builder);
      g_ptr_array_add (tools, tool);
    }
  return g_steal_pointer (&tools);
}

char *
apertium_pair_version (const char *pair)
{
  g_autofree char *status = NULL;
  g_auto (GStrv) codes = g_strsplit (pair, "-", 3);
  const char *candidates[2] = { NULL, NULL };
  g_autofree char *own = g_strdup_printf ("\nPackage: apertium-%s\n", pair);
  g_autofree char *debian = NULL;

  /* Debian names a pair's package after its two-letter codes
   * (apertium-en-es holds eng-spa) or after the pair itself. */
  if (!g_file_get_contents ("/var/lib/dpkg/status", &status, NULL, NULL))
    return g_strdup ("unknown");
  if (codes[0] != NULL && codes[1] != NULL && language_to_iso639_1 (codes[0]) != NULL &&
      language_to_iso639_1 (codes[1]) != NULL)
    debian = g_strdup_printf ("\nPackage: apertium-%s-%s\n", language_to_iso639_1 (codes[0]),
                              language_to_iso639_1 (codes[1]));
  candidates[0] = own;
  candidates[1] = debian;
  for (guint i = 0; i < G_N_ELEMENTS (candidates); i++)
    {
      const char *at = candidates[i] != NULL ? strstr (status, candidates[i]) : NULL;
      const char *end;
      const char *version;

      if (at == NULL)
        continue;
      end = strstr (at + 1, "\n\n");
      version = strstr (at + 1, "\nVersion: ");
      if (version != NULL && (end == NULL || version < end))
        {
          version += strlen ("\nVersion: ");
          return g_strndup (version, strcspn (version, "\n"));
        }
    }
  return g_strdup ("unknown");
}

/* A file's identity for the salt: its path, size and modification time.
 * An upgrade or a rebuild replaces the file (dpkg unpacks a new one; make
 * install copies one), so either changes; reading the files' content
 * instead would cost a pass over the pair's data (5 MB for eng-spa) in
 * every run, for the same answer. */
static void
append_file_stamp (GString *salt, const char *kind, const char *path)
{
  GStatBuf st;

  if (g_stat (path, &st) != 0)
    {
      g_string_append_printf (salt, "%s %s missing\n", kind, path);
      return;
    }
  g_string_append_printf (salt, "%s %s %" G_GINT64_FORMAT " %" G_GINT64_FORMAT ".%09ld\n", kind,
                          path, (gint64) st.st_size, (gint64) st.st_mtim.tv_sec,
                          (long) st.st_mtim.tv_nsec);
}

char *
apertium_pair_salt (const char *modes_dir, const char *pair, GError **error)
{
  g_autofree char *file = g_strconcat (pair, ".mode", NULL);
  g_autofree char *path = g_build_filename (modes_dir, file, NULL);
  g_autofree char *contents = NULL;
  g_autofree char *digest = NULL;
  g_autofree char *version = NULL;
  g_autofree char *line = NULL;
  g_autoptr (GPtrArray) parts = NULL;
  GString *salt;

  if (!g_file_get_contents (path, &contents, NULL, NULL))
    {
      g_autoptr (GPtrArray) pairs = apertium_list_pairs (modes_dir);
      g_autofree char *list = NULL;

      g_ptr_array_add (pairs, NULL);
      list = g_strjoinv (", ", (char **) pairs->pdata);
      g_set_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_FAILED,
                   "the Apertium pair “%s” is not installed (no %s); installed: %s", pair, path,
                   list[0] != '\0' ? list : "none");
      return NULL;
    }
  version = apertium_pair_version (pair);
  digest = g_compute_checksum_for_string (G_CHECKSUM_SHA256, contents, -1);
  salt = g_string_new (NULL);
  g_string_append_printf (salt, "apertium pair %s\npackage %s\nmode %s\n", pair, version, digest);
  /* The data files the mode names and the tools it runs: the package
   * version misses a pair built from source and an upgrade of the tools
   * (lttoolbox, apertium), which change translations too. */
  line = replace_all (contents, "$1", "");
  {
    g_autofree char *without = replace_all (line, "$2", "");

    parts = split_pipeline (g_strstrip (without));
  }
  for (guint i = 0; i < parts->len; i++)
    {
      g_auto (GStrv) argv = NULL;

      if (!g_shell_parse_argv (g_strstrip ((char *) parts->pdata[i]), NULL, &argv, NULL))
        continue;
      for (guint k = 0; argv[k] != NULL; k++)
        {
          if (k == 0)
            {
              g_autofree char *program = g_find_program_in_path (argv[0]);

              append_file_stamp (salt, "tool", program != NULL ? program : argv[0]);
            }
          else if (g_path_is_absolute (argv[k]))
            append_file_stamp (salt, "file", argv[k]);
        }
    }
  return g_string_free (salt, FALSE);
}
