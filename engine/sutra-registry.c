/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Plugin loading with libltdl, and the checks a descriptor must pass. */

#include "sutra-registry.h"

#include <ltdl.h>
#include <string.h>

/* The quark name has dashes, which clang-format would space as minus signs. */
/* clang-format off */
G_DEFINE_QUARK (sutra-registry-error-quark, sutra_registry_error)
/* clang-format on */
/* The quark name has dashes, which clang-format would space as minus signs. */
/* clang-format off */
G_DEFINE_QUARK (sutra-plugin-error-quark, sutra_plugin_error)
/* clang-format on */

struct _SutraRegistry
{
  GPtrArray *plugins;       /* SutraPlugin, owned */
  GHashTable *plugin_names; /* name -> SutraPlugin, borrowed */
  GHashTable *stages;       /* stage name -> SutraPlugin, borrowed */
};

typedef const SutraPluginInfo *(*SutraPluginEntryPoint) (void);

static void
plugin_free (SutraPlugin *plugin)
{
  /* The module stays loaded: libltdl's manual warns against unloading while
   * threads may run, and descriptors point into it. */
  g_free (plugin->path);
  g_free (plugin);
}

static void
ltdl_init_once (void)
{
  static gsize initialised;

  if (g_once_init_enter (&initialised))
    {
      lt_dlinit ();
      g_once_init_leave (&initialised, 1);
    }
}

SutraRegistry *
sutra_registry_new (void)
{
  SutraRegistry *registry = g_new0 (SutraRegistry, 1);

  ltdl_init_once ();
  registry->plugins = g_ptr_array_new_with_free_func ((GDestroyNotify) plugin_free);
  registry->plugin_names = g_hash_table_new (g_str_hash, g_str_equal);
  registry->stages = g_hash_table_new (g_str_hash, g_str_equal);
  return registry;
}

void
sutra_registry_free (SutraRegistry *registry)
{
  if (registry == NULL)
    return;
  g_hash_table_unref (registry->stages);
  g_hash_table_unref (registry->plugin_names);
  g_ptr_array_unref (registry->plugins);
  g_free (registry);
}

const char *
sutra_stage_kind_to_string (SutraStageKind kind)
{
  switch (kind)
    {
    case SUTRA_STAGE_SOURCE:
      return "source";
    case SUTRA_STAGE_MAP:
      return "map";
    case SUTRA_STAGE_SPLIT:
      return "split";
    case SUTRA_STAGE_GATHER:
      return "gather";
    case SUTRA_STAGE_SINK:
      return "sink";
    default:
      return NULL;
    }
}

const char *
sutra_threading_to_string (SutraThreading threading)
{
  switch (threading)
    {
    case SUTRA_THREADING_SHARED:
      return "shared (thread-safe, one instance)";
    case SUTRA_THREADING_PER_WORKER:
      return "per-worker (one instance per worker)";
    case SUTRA_THREADING_SINGLE:
      return "single (not thread-safe: one worker)";
    default:
      return NULL;
    }
}

const char *
sutra_param_type_to_string (SutraParamType type)
{
  switch (type)
    {
    case SUTRA_PARAM_BOOL:
      return "bool";
    case SUTRA_PARAM_INT:
      return "int";
    case SUTRA_PARAM_DOUBLE:
      return "double";
    case SUTRA_PARAM_STRING:
      return "string";
    case SUTRA_PARAM_ENUM:
      return "enum";
    default:
      return NULL;
    }
}

static gsize
param_storage_size (SutraParamType type)
{
  switch (type)
    {
    case SUTRA_PARAM_BOOL:
      return sizeof (gboolean);
    case SUTRA_PARAM_INT:
      return sizeof (gint64);
    case SUTRA_PARAM_DOUBLE:
      return sizeof (double);
    case SUTRA_PARAM_STRING:
    case SUTRA_PARAM_ENUM:
      return sizeof (const char *);
    default:
      return 0;
    }
}

static gboolean invalid (GError **error, const char *where, const char *format, ...)
  G_GNUC_PRINTF (3, 4);

static gboolean
invalid (GError **error, const char *where, const char *format, ...)
{
  va_list args;
  g_autofree char *message = NULL;

  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);
  g_set_error (error, SUTRA_REGISTRY_ERROR, SUTRA_REGISTRY_ERROR_INVALID,
               "%s: invalid plugin descriptor: %s", where, message);
  return FALSE;
}

static gboolean
validate_param (const SutraStageInfo *stage,
                const SutraParamInfo *param,
                const char *where,
                GError **error)
{
  gsize size = param_storage_size (param->type);

  if (size == 0)
    return invalid (error, where, "stage “%s”, parameter “%s”: unknown type %d", stage->name,
                    param->name, (int) param->type);
  if (param->offset + size > stage->settings_size)
    return invalid (error, where,
                    "stage “%s”, parameter “%s”: offset %" G_GSIZE_FORMAT
                    " lies outside the settings struct of %" G_GSIZE_FORMAT " bytes",
                    stage->name, param->name, param->offset, stage->settings_size);
  if (param->offset % size != 0)
    return invalid (error, where, "stage “%s”, parameter “%s”: misaligned offset", stage->name,
                    param->name);
  if (param->doc == NULL)
    return invalid (error, where, "stage “%s”, parameter “%s”: no doc string", stage->name,
                    param->name);
  switch (param->type)
    {
    case SUTRA_PARAM_INT:
    case SUTRA_PARAM_DOUBLE:
      {
        double def =
          param->type == SUTRA_PARAM_INT ? (double) param->default_int : param->default_double;
        if (param->min > param->max)
          return invalid (error, where, "stage “%s”, parameter “%s”: min %g > max %g", stage->name,
                          param->name, param->min, param->max);
        if (!(param->flags & SUTRA_PARAM_REQUIRED) && (def < param->min || def > param->max))
          return invalid (error, where, "stage “%s”, parameter “%s”: default %g outside [%g, %g]",
                          stage->name, param->name, def, param->min, param->max);
        break;
      }
    case SUTRA_PARAM_ENUM:
      {
        gboolean found = FALSE;

        if (param->choices == NULL || param->choices[0] == NULL)
          return invalid (error, where, "stage “%s”, parameter “%s”: an enum with no choices",
                          stage->name, param->name);
        for (guint i = 0; param->choices[i] != NULL; i++)
          if (param->default_string != NULL &&
              strcmp (param->choices[i], param->default_string) == 0)
            found = TRUE;
        if (!found && !(param->flags & SUTRA_PARAM_REQUIRED))
          return invalid (error, where,
                          "stage “%s”, parameter “%s”: default “%s” is not one of the choices",
                          stage->name, param->name,
                          param->default_string ? param->default_string : "(null)");
        break;
      }
    default:
      break;
    }
  return TRUE;
}

static gboolean
validate_stage (const SutraStageInfo *stage, const char *where, GError **error)
{
  g_autoptr (GHashTable) names = g_hash_table_new (g_str_hash, g_str_equal);

  if (sutra_stage_kind_to_string (stage->kind) == NULL)
    return invalid (error, where, "stage “%s”: unknown kind %d", stage->name, (int) stage->kind);
  if (stage->summary == NULL)
    return invalid (error, where, "stage “%s”: no summary", stage->name);
  if (stage->process == NULL)
    return invalid (error, where, "stage “%s”: no process function", stage->name);
  if (sutra_threading_to_string (stage->threading) == NULL)
    return invalid (error, where, "stage “%s”: unknown threading model %d", stage->name,
                    (int) stage->threading);
  if ((stage->devices & (SUTRA_DEVICE_CPU | SUTRA_DEVICE_CUDA)) == 0 ||
      (stage->devices & ~(guint) (SUTRA_DEVICE_CPU | SUTRA_DEVICE_CUDA)) != 0)
    return invalid (error, where, "stage “%s”: devices must name the CPU, CUDA or both",
                    stage->name);
  if (stage->params == NULL)
    return invalid (error, where,
                    "stage “%s”: no parameter table (an empty one ends "
                    "with SUTRA_PARAM_ROW_END)",
                    stage->name);
  for (const SutraParamInfo *param = stage->params; param->name != NULL; param++)
    {
      if (!g_hash_table_add (names, (gpointer) param->name))
        return invalid (error, where, "stage “%s”: parameter “%s” is declared twice", stage->name,
                        param->name);
      if (!validate_param (stage, param, where, error))
        return FALSE;
    }
  return TRUE;
}

gboolean
sutra_plugin_info_validate (const SutraPluginInfo *info, const char *where, GError **error)
{
  if (info->abi_major != SUTRA_ABI_MAJOR || info->abi_minor > SUTRA_ABI_MINOR)
    {
      g_set_error (error, SUTRA_REGISTRY_ERROR, SUTRA_REGISTRY_ERROR_ABI_MISMATCH,
                   "%s: built for plugin ABI %u.%u, but this sutra (%s) speaks ABI %d.%d: "
                   "rebuild the plugin against this sutra's headers",
                   where, info->abi_major, info->abi_minor, SUTRA_VERSION_STRING, SUTRA_ABI_MAJOR,
                   SUTRA_ABI_MINOR);
      return FALSE;
    }
  if (info->name == NULL || info->name[0] == '\0')
    return invalid (error, where, "no plugin name");
  if (info->version == NULL)
    return invalid (error, where, "plugin “%s” has no version", info->name);
  if (info->summary == NULL)
    return invalid (error, where, "plugin “%s” has no summary", info->name);
  if (info->stages == NULL || info->stages[0].name == NULL)
    return invalid (error, where, "plugin “%s” declares no stages", info->name);
  for (const SutraStageInfo *stage = info->stages; stage->name != NULL; stage++)
    {
      /* The registry maps stage names to plugins: a second stage of one
       * name would be unreachable, and the loader's check for names taken
       * by other plugins does not see this plugin's own. */
      for (const SutraStageInfo *earlier = info->stages; earlier != stage; earlier++)
        if (strcmp (earlier->name, stage->name) == 0)
          return invalid (error, where, "plugin “%s”: stage “%s” is declared twice", info->name,
                          stage->name);
      if (!validate_stage (stage, where, error))
        return FALSE;
    }
  return TRUE;
}

/* The module's base name without directory and suffix: "/x/libfoo.so" -> "libfoo". */
static char *
module_stem (const char *path)
{
  g_autofree char *base = g_path_get_basename (path);
  char *dot = strchr (base, '.');

  if (dot != NULL)
    *dot = '\0';
  return g_steal_pointer (&base);
}

gboolean
sutra_registry_load_file (SutraRegistry *registry, const char *path, GError **error)
{
  lt_dlhandle handle;
  lt_dladvise advise;
  SutraPluginEntryPoint entry;
  const SutraPluginInfo *info;
  const SutraPlugin *existing;
  g_autofree char *stem = NULL;
  SutraPlugin *plugin;

  g_return_val_if_fail (registry != NULL, FALSE);
  g_return_val_if_fail (path != NULL, FALSE);

  /* RTLD_LOCAL: two plugins may use the same static helper names. */
  lt_dladvise_init (&advise);
  lt_dladvise_local (&advise);
  handle = lt_dlopenadvise (path, advise);
  lt_dladvise_destroy (&advise);
  if (handle == NULL)
    {
      g_set_error (error, SUTRA_REGISTRY_ERROR, SUTRA_REGISTRY_ERROR_NOT_A_MODULE,
                   "%s: not a loadable plugin module: %s", path, lt_dlerror ());
      return FALSE;
    }
  entry = (SutraPluginEntryPoint) lt_dlsym (handle, SUTRA_PLUGIN_ENTRY_POINT);
  if (entry == NULL)
    {
      g_set_error (error, SUTRA_REGISTRY_ERROR, SUTRA_REGISTRY_ERROR_NO_DESCRIPTOR,
                   "%s: not a sutra plugin: it exports no “%s” function "
                   "(define one with SUTRA_PLUGIN_DEFINE)",
                   path, SUTRA_PLUGIN_ENTRY_POINT);
      lt_dlclose (handle);
      return FALSE;
    }
  info = entry ();
  if (info == NULL)
    {
      g_set_error (error, SUTRA_REGISTRY_ERROR, SUTRA_REGISTRY_ERROR_INVALID,
                   "%s: %s() returned no descriptor", path, SUTRA_PLUGIN_ENTRY_POINT);
      lt_dlclose (handle);
      return FALSE;
    }
  if (!sutra_plugin_info_validate (info, path, error))
    {
      lt_dlclose (handle);
      return FALSE;
    }
  stem = module_stem (path);
  if (strcmp (stem, info->name) != 0)
    {
      invalid (error, path,
               "the plugin calls itself “%s” but its file is named “%s”: "
               "name the module after the plugin",
               info->name, stem);
      lt_dlclose (handle);
      return FALSE;
    }
  existing = g_hash_table_lookup (registry->plugin_names, info->name);
  if (existing != NULL)
    {
      g_set_error (error, SUTRA_REGISTRY_ERROR, SUTRA_REGISTRY_ERROR_DUPLICATE,
                   "%s: a plugin named “%s” is already loaded from %s; "
                   "remove one of them from the plugin path",
                   path, info->name, existing->path);
      lt_dlclose (handle);
      return FALSE;
    }
  for (const SutraStageInfo *stage = info->stages; stage->name != NULL; stage++)
    {
      const SutraPlugin *owner = g_hash_table_lookup (registry->stages, stage->name);

      if (owner != NULL)
        {
          g_set_error (error, SUTRA_REGISTRY_ERROR, SUTRA_REGISTRY_ERROR_DUPLICATE,
                       "%s: stage “%s” is already provided by plugin “%s” (%s)", path, stage->name,
                       owner->info->name, owner->path);
          lt_dlclose (handle);
          return FALSE;
        }
    }

  plugin = g_new0 (SutraPlugin, 1);
  plugin->info = info;
  plugin->path = g_strdup (path);
  g_ptr_array_add (registry->plugins, plugin);
  g_hash_table_insert (registry->plugin_names, (gpointer) info->name, plugin);
  for (const SutraStageInfo *stage = info->stages; stage->name != NULL; stage++)
    g_hash_table_insert (registry->stages, (gpointer) stage->name, plugin);
  return TRUE;
}

static gboolean
is_module_name (const char *name)
{
  return g_str_has_suffix (name, "." G_MODULE_SUFFIX);
}

static int
compare_strings (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

/* Collects module paths in @dir, and one level down, sorted so that loading
 * order (and so which of two duplicates is refused) never depends on
 * readdir order. */
static void
collect_modules (const char *dir, guint depth, GPtrArray *paths)
{
  g_autoptr (GDir) handle = g_dir_open (dir, 0, NULL);
  const char *name;

  if (handle == NULL)
    return;
  while ((name = g_dir_read_name (handle)) != NULL)
    {
      g_autofree char *path = g_build_filename (dir, name, NULL);

      if (is_module_name (name) && g_file_test (path, G_FILE_TEST_IS_REGULAR))
        g_ptr_array_add (paths, g_steal_pointer (&path));
      else if (depth > 0 && g_file_test (path, G_FILE_TEST_IS_DIR))
        collect_modules (path, depth - 1, paths);
    }
}

gboolean
sutra_registry_load_dir (SutraRegistry *registry, const char *dir, GError **error)
{
  g_autoptr (GPtrArray) paths = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GString) failures = NULL;
  gint first_code = 0;

  if (!g_file_test (dir, G_FILE_TEST_IS_DIR))
    {
      g_set_error (error, SUTRA_REGISTRY_ERROR, SUTRA_REGISTRY_ERROR_NOT_FOUND,
                   "%s: plugin directory does not exist", dir);
      return FALSE;
    }
  collect_modules (dir, 1, paths);
  g_ptr_array_sort (paths, compare_strings);
  for (guint i = 0; i < paths->len; i++)
    {
      g_autoptr (GError) local = NULL;

      if (!sutra_registry_load_file (registry, paths->pdata[i], &local))
        {
          if (failures == NULL)
            {
              failures = g_string_new (NULL);
              first_code = local->code;
            }
          else
            g_string_append_c (failures, '\n');
          g_string_append (failures, local->message);
        }
    }
  if (failures != NULL)
    {
      g_set_error_literal (error, SUTRA_REGISTRY_ERROR, first_code, failures->str);
      return FALSE;
    }
  return TRUE;
}

const char *
sutra_registry_get_builtin_dir (void)
{
  static char *dir;

  if (g_once_init_enter (&dir))
    {
      g_autofree char *exe = g_file_read_link ("/proc/self/exe", NULL);
      char *chosen;

      /* A sutra (or a test) run from the build tree uses the plugins built
       * beside it: no install step, no environment variable. */
      if (exe != NULL && g_str_has_prefix (exe, SUTRA_BUILD_ROOT "/"))
        chosen = g_strdup (SUTRA_BUILD_ROOT "/plugins");
      else
        chosen = g_strdup (SUTRA_PLUGIN_INSTALL_DIR);
      g_once_init_leave (&dir, chosen);
    }
  return dir;
}

static gboolean
load_path (SutraRegistry *registry, const char *path, GString **failures, gint *first_code)
{
  g_autoptr (GError) local = NULL;
  gboolean ok;

  if (g_file_test (path, G_FILE_TEST_IS_DIR))
    ok = sutra_registry_load_dir (registry, path, &local);
  else if (g_file_test (path, G_FILE_TEST_EXISTS))
    ok = sutra_registry_load_file (registry, path, &local);
  else
    {
      ok = FALSE;
      g_set_error (&local, SUTRA_REGISTRY_ERROR, SUTRA_REGISTRY_ERROR_NOT_FOUND,
                   "%s: no such plugin file or directory", path);
    }
  if (!ok)
    {
      if (*failures == NULL)
        {
          *failures = g_string_new (NULL);
          *first_code = local->code;
        }
      else
        g_string_append_c (*failures, '\n');
      g_string_append (*failures, local->message);
    }
  return ok;
}

gboolean
sutra_registry_load_default (SutraRegistry *registry,
                             const char *const *extra_paths,
                             GError **error)
{
  g_autoptr (GString) failures = NULL;
  gint first_code = SUTRA_REGISTRY_ERROR_INVALID;
  const char *env = g_getenv ("SUTRA_PLUGIN_PATH");

  for (guint i = 0; extra_paths != NULL && extra_paths[i] != NULL; i++)
    load_path (registry, extra_paths[i], &failures, &first_code);
  if (env != NULL && env[0] != '\0')
    {
      g_auto (GStrv) dirs = g_strsplit (env, G_SEARCHPATH_SEPARATOR_S, -1);

      for (guint i = 0; dirs[i] != NULL; i++)
        if (dirs[i][0] != '\0')
          load_path (registry, dirs[i], &failures, &first_code);
    }
  load_path (registry, sutra_registry_get_builtin_dir (), &failures, &first_code);
  if (failures != NULL)
    {
      g_set_error_literal (error, SUTRA_REGISTRY_ERROR, first_code, failures->str);
      return FALSE;
    }
  return TRUE;
}

const SutraStageInfo *
sutra_registry_find_stage (SutraRegistry *registry,
                           const char *name,
                           const SutraPlugin **plugin_out)
{
  const SutraPlugin *plugin = g_hash_table_lookup (registry->stages, name);

  if (plugin_out != NULL)
    *plugin_out = plugin;
  if (plugin == NULL)
    return NULL;
  for (const SutraStageInfo *stage = plugin->info->stages; stage->name != NULL; stage++)
    if (strcmp (stage->name, name) == 0)
      return stage;
  return NULL;
}

const SutraPlugin *
sutra_registry_find_plugin (SutraRegistry *registry, const char *name)
{
  return g_hash_table_lookup (registry->plugin_names, name);
}

static int
compare_plugins (gconstpointer a, gconstpointer b)
{
  const SutraPlugin *pa = *(SutraPlugin *const *) a;
  const SutraPlugin *pb = *(SutraPlugin *const *) b;

  return strcmp (pa->info->name, pb->info->name);
}

GPtrArray *
sutra_registry_list_plugins (SutraRegistry *registry)
{
  GPtrArray *list = g_ptr_array_new ();

  for (guint i = 0; i < registry->plugins->len; i++)
    g_ptr_array_add (list, registry->plugins->pdata[i]);
  g_ptr_array_sort (list, compare_plugins);
  return list;
}

GPtrArray *
sutra_registry_list_stage_names (SutraRegistry *registry)
{
  GPtrArray *list = g_ptr_array_new ();
  GHashTableIter iter;
  gpointer key;

  g_hash_table_iter_init (&iter, registry->stages);
  while (g_hash_table_iter_next (&iter, &key, NULL))
    g_ptr_array_add (list, key);
  g_ptr_array_sort (list, compare_strings);
  return list;
}
