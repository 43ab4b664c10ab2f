/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests of engine/sutra-registry.c: plugin loading and descriptor checks. */

/*
 * The broken modules are built by tests/engine/plugins/meson.build, one per
 * way a plugin can be wrong; each load must fail with its own error code and
 * a message that starts with the module's path.
 */

#include "sutra-harness.h"
#include "sutra-registry.h"
#include "sutra-test-util.h"

#include <glib/gstdio.h>
#include <string.h>

static const char *const builtin_plugins[] = {
  "fault", "file-sink", "identity", "jsonl-sink", "text-join", "text-source", "text-split", NULL,
};

/* tests/engine/plugins/@relative in the build tree. */
static char *
test_module (const char *relative)
{
  const char *root = g_getenv ("SUTRA_BUILD_ROOT");

  g_assert_nonnull (root);
  return g_build_filename (root, "tests", "engine", "plugins", relative, NULL);
}

static char *
builtin_module (const char *name)
{
  g_autofree char *file = g_strconcat (name, ".", G_MODULE_SUFFIX, NULL);

  return g_build_filename (sutra_registry_get_builtin_dir (), name, file, NULL);
}

static void
assert_message_contains (const GError *error, const char *const *needles)
{
  for (guint i = 0; needles != NULL && needles[i] != NULL; i++)
    sutra_assert_contains (error->message, needles[i]);
}

static void
test_registry_builtin_dir (void)
{
  g_autofree char *expected = g_build_filename (g_getenv ("SUTRA_BUILD_ROOT"), "plugins", NULL);

  g_test_summary ("A program in the build tree uses the build tree's plugins");
  g_assert_cmpstr (sutra_registry_get_builtin_dir (), ==, expected);
}

static void
test_registry_loads_builtin (void)
{
  g_autoptr (SutraRegistry) registry = sutra_registry_new ();
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) plugins = NULL;
  g_autoptr (GPtrArray) stages = NULL;
  const SutraPlugin *plugin = NULL;
  const SutraStageInfo *stage;

  g_test_summary ("Every built-in plugin loads; plugins and stages are listed sorted and "
                  "found by name");
  g_assert_true (sutra_registry_load_default (registry, NULL, &error));
  g_assert_no_error (error);

  plugins = sutra_registry_list_plugins (registry);
  for (guint i = 0; builtin_plugins[i] != NULL; i++)
    {
      const SutraPlugin *found = sutra_registry_find_plugin (registry, builtin_plugins[i]);
      g_autofree char *path = builtin_module (builtin_plugins[i]);

      g_assert_nonnull (found);
      g_assert_cmpstr (found->info->name, ==, builtin_plugins[i]);
      g_assert_cmpstr (found->path, ==, path);
      g_assert_true (g_ptr_array_find (plugins, found, NULL));
    }
  for (guint i = 1; i < plugins->len; i++)
    g_assert_cmpstr (((SutraPlugin *) plugins->pdata[i - 1])->info->name, <,
                     ((SutraPlugin *) plugins->pdata[i])->info->name);

  stages = sutra_registry_list_stage_names (registry);
  g_assert_cmpuint (stages->len, >=, G_N_ELEMENTS (builtin_plugins) - 1);
  for (guint i = 1; i < stages->len; i++)
    g_assert_cmpstr (stages->pdata[i - 1], <, stages->pdata[i]);

  stage = sutra_registry_find_stage (registry, "identity", &plugin);
  g_assert_nonnull (stage);
  g_assert_cmpstr (stage->name, ==, "identity");
  g_assert_cmpint (stage->kind, ==, SUTRA_STAGE_MAP);
  g_assert_cmpstr (plugin->info->name, ==, "identity");
  stage = sutra_registry_find_stage (registry, "text-join", NULL);
  g_assert_nonnull (stage);
  g_assert_cmpint (stage->kind, ==, SUTRA_STAGE_GATHER);
  g_assert_cmpint (sutra_registry_find_stage (registry, "text-source", NULL)->kind, ==,
                   SUTRA_STAGE_SOURCE);
  g_assert_cmpint (sutra_registry_find_stage (registry, "jsonl-sink", NULL)->kind, ==,
                   SUTRA_STAGE_SINK);
  g_assert_cmpint (sutra_registry_find_stage (registry, "text-split", NULL)->kind, ==,
                   SUTRA_STAGE_SPLIT);

  plugin = GINT_TO_POINTER (1);
  g_assert_null (sutra_registry_find_stage (registry, "no-such-stage", &plugin));
  g_assert_null (plugin);
  g_assert_null (sutra_registry_find_plugin (registry, "no-such-plugin"));
}

static void
test_registry_loads_test_plugin (void)
{
  g_autoptr (SutraRegistry) registry = sutra_registry_new ();
  g_autoptr (GError) error = NULL;
  g_autofree char *path = test_module ("okay." G_MODULE_SUFFIX);
  const SutraPlugin *plugin = NULL;

  g_test_summary ("A valid plugin outside the plugin directories loads from its path");
  g_assert_true (sutra_registry_load_file (registry, path, &error));
  g_assert_no_error (error);
  g_assert_nonnull (sutra_registry_find_stage (registry, "okay-map", &plugin));
  g_assert_cmpstr (plugin->path, ==, path);
  g_assert_cmpstr (plugin->info->version, ==, "0.0.1");
}

static void
test_registry_loads_relative_file (void)
{
  g_autoptr (SutraRegistry) registry = sutra_registry_new ();
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = test_module (NULL);
  g_autofree char *cwd = g_get_current_dir ();
  g_autofree char *absolute = test_module ("okay." G_MODULE_SUFFIX);
  const SutraPlugin *plugin = NULL;
  gboolean ok;

  g_test_summary ("A bare file name (--plugin-path okay.so) is a file in the working "
                  "directory, not a name for libltdl to search its library path for");
  g_assert_cmpint (g_chdir (dir), ==, 0);
  ok = sutra_registry_load_file (registry, "okay." G_MODULE_SUFFIX, &error);
  g_assert_cmpint (g_chdir (cwd), ==, 0);
  g_assert_no_error (error);
  g_assert_true (ok);
  g_assert_nonnull (sutra_registry_find_stage (registry, "okay-map", &plugin));
  /* Recorded absolute: `sutra plugins` says where it came from. */
  g_assert_cmpstr (plugin->path, ==, absolute);
}

typedef struct
{
  const char *name;
  const char *module; /* under tests/engine/plugins in the build tree */
  int code;
  const char *needles[4];
} LoadCase;

static const LoadCase load_cases[] = {
  { "no-descriptor",
    "nothing.so",
    SUTRA_REGISTRY_ERROR_NO_DESCRIPTOR,
    { "not a sutra plugin", "sutra_plugin_get_info", "SUTRA_PLUGIN_DEFINE" } },
  { "null-descriptor", "null-info.so", SUTRA_REGISTRY_ERROR_INVALID, { "returned no descriptor" } },
  { "abi-major",
    "abi-major.so",
    SUTRA_REGISTRY_ERROR_ABI_MISMATCH,
    { "built for sutra plugin ABI 3.3", "loads ABI 2.x up to 2.3", "rebuild it" } },
  { "abi-minor-newer",
    "abi-minor.so",
    SUTRA_REGISTRY_ERROR_ABI_MISMATCH,
    { "built for sutra plugin ABI 2.4", "loads ABI 2.x up to 2.3" } },
  { "abi-1-1",
    "abi-1-1.so",
    SUTRA_REGISTRY_ERROR_ABI_MISMATCH,
    { "built for sutra plugin ABI 1.1; this sutra", "loads ABI 2.x up to 2.3",
      "rebuild it against this sutra's headers" } },
  { "no-name",
    "no-name.so",
    SUTRA_REGISTRY_ERROR_INVALID,
    { "invalid plugin descriptor", "no plugin name" } },
  { "no-stages",
    "no-stages.so",
    SUTRA_REGISTRY_ERROR_INVALID,
    { "invalid plugin descriptor", "plugin “no-stages” declares no stages" } },
  { "default-out-of-range",
    "bad-default.so",
    SUTRA_REGISTRY_ERROR_INVALID,
    { "stage “bad-default-map”", "parameter “count”", "default 50 outside [0, 10]" } },
  { "enum-default-not-a-choice",
    "bad-enum.so",
    SUTRA_REGISTRY_ERROR_INVALID,
    { "parameter “mode”", "default “medium” is not one of the choices" } },
  { "duplicate-param",
    "dup-param.so",
    SUTRA_REGISTRY_ERROR_INVALID,
    { "stage “dup-param-map”", "parameter “count” is declared twice" } },
  { "offset-outside-settings",
    "bad-offset.so",
    SUTRA_REGISTRY_ERROR_INVALID,
    { "parameter “beyond”", "offset 16 lies outside the settings struct of 16 bytes" } },
  { "no-process",
    "no-process.so",
    SUTRA_REGISTRY_ERROR_INVALID,
    { "stage “no-process-map”", "no process function" } },
  { "name-differs-from-file",
    "misnamed.so",
    SUTRA_REGISTRY_ERROR_INVALID,
    { "calls itself “calls-itself-something-else”", "its file is named “misnamed”" } },
  { "two-stages-one-name",
    "twin-stages.so",
    SUTRA_REGISTRY_ERROR_INVALID,
    { "stage “twin-stages-map” is declared twice" } },
};

static void
test_registry_load_error (gconstpointer data)
{
  const LoadCase *row = data;
  g_autoptr (SutraRegistry) registry = sutra_registry_new ();
  g_autoptr (GError) error = NULL;
  g_autofree char *path = test_module (row->module);
  g_autoptr (GPtrArray) plugins = NULL;

  g_test_summary ("A broken module is refused with its own error code, and the message "
                  "names the file and what is wrong");
  g_assert_true (g_file_test (path, G_FILE_TEST_IS_REGULAR));
  g_assert_false (sutra_registry_load_file (registry, path, &error));
  g_assert_error (error, SUTRA_REGISTRY_ERROR, row->code);
  g_assert_true (g_str_has_prefix (error->message, path));
  assert_message_contains (error, row->needles);
  plugins = sutra_registry_list_plugins (registry);
  g_assert_cmpuint (plugins->len, ==, 0);
}

/* Files that are no shared object at all, written at run time. */
typedef struct
{
  const char *name;
  const char *file;
  const char *contents; /* NULL: do not create the file */
  gssize length;
} NotAModuleCase;

static const NotAModuleCase not_a_module_cases[] = {
  { "garbage", "x.so",
    "\x7f"
    "ELF but then garbage \x01\x02\x03",
    -1 },
  { "text", "notes.so", "this is not a module\n", -1 },
  { "empty", "empty.so", "", 0 },
  { "missing", "missing.so", NULL, 0 },
};

static void
test_registry_not_a_module (gconstpointer data)
{
  const NotAModuleCase *row = data;
  g_autoptr (SutraRegistry) registry = sutra_registry_new ();
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = g_build_filename (g_get_user_cache_dir (), "modules", NULL);
  g_autofree char *path = g_build_filename (dir, row->file, NULL);

  g_test_summary ("A file that is not a loadable module is refused as such, naming it");
  g_assert_cmpint (g_mkdir_with_parents (dir, 0700), ==, 0);
  if (row->contents != NULL)
    {
      gssize length = row->length >= 0 ? row->length : (gssize) strlen (row->contents);

      g_file_set_contents (path, row->contents, length, &error);
      g_assert_no_error (error);
    }
  g_assert_false (sutra_registry_load_file (registry, path, &error));
  g_assert_error (error, SUTRA_REGISTRY_ERROR, SUTRA_REGISTRY_ERROR_NOT_A_MODULE);
  g_assert_true (g_str_has_prefix (error->message, path));
  sutra_assert_contains (error->message, "not a loadable plugin module");
}

static void
test_registry_duplicate_plugin (void)
{
  g_autoptr (SutraRegistry) registry = sutra_registry_new ();
  g_autoptr (GError) error = NULL;
  g_autofree char *first = test_module ("dup-a/twin.so");
  g_autofree char *second = test_module ("dup-b/twin.so");
  const char *needles[] = { "a plugin named “twin” is already loaded from", first,
                            "remove one of them", NULL };

  g_test_summary ("Two plugins with one name: the second is refused, naming both files");
  g_assert_true (sutra_registry_load_file (registry, first, &error));
  g_assert_no_error (error);
  g_assert_false (sutra_registry_load_file (registry, second, &error));
  g_assert_error (error, SUTRA_REGISTRY_ERROR, SUTRA_REGISTRY_ERROR_DUPLICATE);
  g_assert_true (g_str_has_prefix (error->message, second));
  assert_message_contains (error, needles);
  /* The first stays; the second's stage was not registered. */
  g_assert_cmpstr (sutra_registry_find_plugin (registry, "twin")->path, ==, first);
  g_assert_nonnull (sutra_registry_find_stage (registry, "twin-a", NULL));
  g_assert_null (sutra_registry_find_stage (registry, "twin-b", NULL));
}

static void
test_registry_same_file_twice (void)
{
  g_autoptr (SutraRegistry) registry = sutra_registry_new ();
  g_autoptr (GError) error = NULL;
  g_autofree char *path = builtin_module ("identity");
  g_autoptr (GPtrArray) plugins = NULL;

  g_test_summary ("Loading one module twice reports the duplicate and keeps one copy");
  g_assert_true (sutra_registry_load_file (registry, path, &error));
  g_assert_no_error (error);
  g_assert_false (sutra_registry_load_file (registry, path, &error));
  g_assert_error (error, SUTRA_REGISTRY_ERROR, SUTRA_REGISTRY_ERROR_DUPLICATE);
  plugins = sutra_registry_list_plugins (registry);
  g_assert_cmpuint (plugins->len, ==, 1);
  /* The refused load must not have unloaded the module the first one uses. */
  g_assert_cmpstr (sutra_registry_find_stage (registry, "identity", NULL)->summary, !=, NULL);
}

static void
test_registry_duplicate_stage (void)
{
  g_autoptr (SutraRegistry) registry = sutra_registry_new ();
  g_autoptr (GError) error = NULL;
  g_autofree char *identity = builtin_module ("identity");
  g_autofree char *clash = test_module ("stage-clash.so");
  const SutraPlugin *owner = NULL;
  const char *needles[] = { "stage “identity” is already provided by plugin “identity”", identity,
                            NULL };

  g_test_summary ("Two plugins providing a stage of one name: the second is refused, naming "
                  "the stage, the plugin that has it and both files");
  g_assert_true (sutra_registry_load_file (registry, identity, &error));
  g_assert_no_error (error);
  g_assert_false (sutra_registry_load_file (registry, clash, &error));
  g_assert_error (error, SUTRA_REGISTRY_ERROR, SUTRA_REGISTRY_ERROR_DUPLICATE);
  g_assert_true (g_str_has_prefix (error->message, clash));
  assert_message_contains (error, needles);
  g_assert_null (sutra_registry_find_plugin (registry, "stage-clash"));
  g_assert_nonnull (sutra_registry_find_stage (registry, "identity", &owner));
  g_assert_cmpstr (owner->info->name, ==, "identity");
}

static void
test_registry_load_dir_reports_all (void)
{
  g_autoptr (SutraRegistry) registry = sutra_registry_new ();
  g_autoptr (GError) error = NULL;
  g_autofree char *dir = test_module (NULL);
  g_auto (GStrv) lines = NULL;
  const char *refused[] = { "abi-1-1.so",   "abi-major.so",   "abi-minor.so", "bad-default.so",
                            "bad-enum.so",  "bad-offset.so",  "dup-param.so", "misnamed.so",
                            "no-name.so",   "no-process.so",  "no-stages.so", "nothing.so",
                            "null-info.so", "twin-stages.so", "dup-b/twin.so" };

  g_test_summary ("Loading a directory keeps going past broken modules and reports each, "
                  "in sorted order, with the first one's code");
  g_assert_false (sutra_registry_load_dir (registry, dir, &error));
  g_assert_error (error, SUTRA_REGISTRY_ERROR, SUTRA_REGISTRY_ERROR_ABI_MISMATCH);
  lines = g_strsplit (error->message, "\n", -1);
  g_assert_cmpuint (g_strv_length (lines), ==, G_N_ELEMENTS (refused));
  for (gsize i = 0; i < G_N_ELEMENTS (refused); i++)
    {
      g_autofree char *path = test_module (refused[i]);
      gboolean found = FALSE;

      for (guint j = 0; lines[j] != NULL; j++)
        found |= g_str_has_prefix (lines[j], path);
      if (!found)
        g_test_message ("no line of “%s” starts with %s", error->message, path);
      g_assert_true (found);
    }
  g_assert_true (g_str_has_prefix (lines[0], dir));
  g_assert_nonnull (strstr (lines[0], "abi-1-1.so"));
  /* The good ones, one level down included, were loaded. */
  g_assert_nonnull (sutra_registry_find_stage (registry, "okay-map", NULL));
  g_assert_nonnull (sutra_registry_find_stage (registry, "twin-a", NULL));
  g_assert_nonnull (sutra_registry_find_stage (registry, "identity", NULL));
  g_assert_cmpstr (sutra_registry_find_plugin (registry, "stage-clash")->info->name, ==,
                   "stage-clash");
}

static void
test_registry_load_dir_missing (void)
{
  g_autoptr (SutraRegistry) registry = sutra_registry_new ();
  g_autoptr (GError) error = NULL;

  g_test_summary ("A plugin directory that does not exist is reported as not found");
  g_assert_false (sutra_registry_load_dir (registry, "/nonexistent/sutra/plugins", &error));
  g_assert_error (error, SUTRA_REGISTRY_ERROR, SUTRA_REGISTRY_ERROR_NOT_FOUND);
  sutra_assert_contains (error->message, "/nonexistent/sutra/plugins");
}

static void
test_registry_extra_path_first (void)
{
  g_autoptr (SutraRegistry) registry = sutra_registry_new ();
  g_autoptr (GError) error = NULL;
  g_autofree char *clash = test_module ("stage-clash.so");
  g_autofree char *identity = builtin_module ("identity");
  const char *extra[] = { clash, NULL };
  const SutraPlugin *owner = NULL;

  g_test_summary ("--plugin-path modules load before the built-in ones, so a built-in "
                  "module that clashes with one is the one reported");
  g_assert_false (sutra_registry_load_default (registry, extra, &error));
  g_assert_error (error, SUTRA_REGISTRY_ERROR, SUTRA_REGISTRY_ERROR_DUPLICATE);
  g_assert_true (g_str_has_prefix (error->message, identity));
  sutra_assert_contains (error->message, "already provided by plugin “stage-clash”");
  g_assert_nonnull (sutra_registry_find_stage (registry, "identity", &owner));
  g_assert_cmpstr (owner->info->name, ==, "stage-clash");
  /* The rest of the built-in plugins still loaded. */
  g_assert_nonnull (sutra_registry_find_stage (registry, "jsonl-sink", NULL));
}

static void
test_registry_plugin_path_env (void)
{
  g_test_summary ("SUTRA_PLUGIN_PATH directories load too; one that does not exist is "
                  "reported without stopping the others");
  if (g_test_subprocess ())
    {
      g_autoptr (SutraRegistry) registry = sutra_registry_new ();
      g_autoptr (GError) error = NULL;
      g_autofree char *dup_a = test_module ("dup-a");
      g_autofree char *value = g_strjoin (":", dup_a, "/nonexistent/sutra", "", NULL);
      const SutraPlugin *plugin = NULL;

      g_setenv ("SUTRA_PLUGIN_PATH", value, TRUE);
      g_assert_false (sutra_registry_load_default (registry, NULL, &error));
      g_assert_error (error, SUTRA_REGISTRY_ERROR, SUTRA_REGISTRY_ERROR_NOT_FOUND);
      sutra_assert_contains (error->message, "/nonexistent/sutra");
      g_assert_nonnull (sutra_registry_find_stage (registry, "twin-a", &plugin));
      g_assert_true (g_str_has_prefix (plugin->path, dup_a));
      g_assert_nonnull (sutra_registry_find_stage (registry, "identity", NULL));
      return;
    }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed ();
}

/* Descriptors checked in memory: one row per rule of sutra_plugin_info_validate. */

typedef struct
{
  gint64 count;
  double ratio;
  const char *mode;
  const char *name;
  gboolean flag;
} Settings;

static const char *const modes[] = { "fast", "slow", NULL };
static const char *const no_choices[] = { NULL };
static const char *const no_strings[] = { NULL };
static const char *const text_types[] = { "text/plain", "text/*", NULL };
static const char *const audio_types[] = { "audio/x-raw-f32", NULL };
static const char *const bad_type_no_slash[] = { "plain", NULL };
static const char *const bad_type_params[] = { "text/plain; charset=utf-8", NULL };
static const char *const bad_type_star[] = { "*/*", NULL };
static const char *const twice_types[] = { "text/plain", "text/markdown", "text/plain", NULL };
static const char *const two_keys[] = { "title", "*", NULL };
static const char *const empty_key[] = { "", NULL };
static const char *const twice_keys[] = { "title", "author", "title", NULL };

static gboolean
dummy_process (gpointer instance,
               SutraItem *const *items,
               guint n_items,
               SutraOutput *output,
               GError **error)
{
  return TRUE;
}

static gpointer
dummy_begin (gpointer instance, SutraItem *first, GError **error)
{
  return instance;
}

static gboolean
dummy_add (gpointer instance, gpointer group, SutraItem *member, GError **error)
{
  return TRUE;
}

static gboolean
dummy_end (gpointer instance, gpointer group, guint n_members, SutraOutput *output, GError **error)
{
  return TRUE;
}

static void
dummy_abort (gpointer instance, gpointer group)
{
}

static gboolean
dummy_prepare (gpointer instance, char **state, GError **error)
{
  return TRUE;
}

static void
dummy_commit (gpointer instance, const char *state)
{
}

#define PARAMS_OF(...)               \
  (const SutraParamInfo[])           \
  {                                  \
    __VA_ARGS__, SUTRA_PARAM_ROW_END \
  }
#define STAGE_WITH(...)                                                                      \
  {                                                                                          \
    SUTRA_STAGE_INFO_INIT, .name = "map", .kind = SUTRA_STAGE_MAP, .summary = "s",           \
                           .params = good_params, .settings_size = sizeof (Settings),        \
                           .threading = SUTRA_THREADING_SHARED, .devices = SUTRA_DEVICE_CPU, \
                           .process = dummy_process, __VA_ARGS__                             \
  }
#define STAGES_OF(...)                \
  (const SutraStageInfo[])            \
  {                                   \
    __VA_ARGS__, SUTRA_STAGE_INFO_END \
  }

static const SutraParamInfo good_params[] = {
  SUTRA_PARAM_ROW_INT ("count", Settings, count, 5, 0, 10, 0, "d"),
  SUTRA_PARAM_ROW_DOUBLE ("ratio", Settings, ratio, 0.5, 0, 1, 0, "d"),
  SUTRA_PARAM_ROW_ENUM ("mode", Settings, mode, "fast", modes, 0, "d"),
  SUTRA_PARAM_ROW_STRING ("name", Settings, name, NULL, SUTRA_PARAM_REQUIRED, "d"),
  SUTRA_PARAM_ROW_BOOL ("flag", Settings, flag, FALSE, 0, "d"),
  SUTRA_PARAM_ROW_END
};

typedef struct
{
  const char *name;
  SutraPluginInfo info;
  int code; /* -1: valid */
  const char *needle;
} ValidateCase;

#define PLUGIN(...)                                                          \
  {                                                                          \
    SUTRA_PLUGIN_INFO_INIT, .name = "p", .version = "1", .summary = "s",     \
                            .stages = STAGES_OF (STAGE_WITH ()), __VA_ARGS__ \
  }

/* PLUGIN (.field = x) overrides a field the macro sets: that is its point. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Woverride-init"
static const ValidateCase validate_cases[] = {
  { "valid", PLUGIN (), -1, NULL },
  { "valid-required-enum-without-default",
    PLUGIN (.stages = STAGES_OF (
              STAGE_WITH (.params = PARAMS_OF (SUTRA_PARAM_ROW_ENUM ("mode",
                                                                     Settings,
                                                                     mode,
                                                                     NULL,
                                                                     modes,
                                                                     SUTRA_PARAM_REQUIRED,
                                                                     "d"))))),
    -1, NULL },
  { "valid-required-int-default-outside-range",
    PLUGIN (.stages =
              STAGES_OF (STAGE_WITH (.params = PARAMS_OF (SUTRA_PARAM_ROW_INT ("count",
                                                                               Settings,
                                                                               count,
                                                                               0,
                                                                               1,
                                                                               10,
                                                                               SUTRA_PARAM_REQUIRED,
                                                                               "d"))))),
    -1, NULL },
  { "valid-empty-param-table",
    PLUGIN (.stages = STAGES_OF (
              STAGE_WITH (.params = PARAMS_OF (SUTRA_PARAM_ROW_END), .settings_size = 0))),
    -1, NULL },
  { "abi-major-older", PLUGIN (.abi_major = 1, .abi_minor = 1), SUTRA_REGISTRY_ERROR_ABI_MISMATCH,
    "ABI 1.1;" },
  { "abi-major-newer", PLUGIN (.abi_major = 3, .abi_minor = 1), SUTRA_REGISTRY_ERROR_ABI_MISMATCH,
    "ABI 3.1;" },
  { "abi-minor-newer", PLUGIN (.abi_minor = 7), SUTRA_REGISTRY_ERROR_ABI_MISMATCH, "ABI 2.7;" },
  /* Older minors load: what later minors appended (rows' fields, the
   * context's) is either read by size or never read by the plugin. */
  { "valid-abi-minor-2-0", PLUGIN (.abi_minor = 0), -1, NULL },
  { "valid-abi-minor-2-1", PLUGIN (.abi_minor = 1), -1, NULL },
  { "valid-abi-minor-2-2", PLUGIN (.abi_minor = 2), -1, NULL },
  { "plugin-size-missing", PLUGIN (.struct_size = 0), SUTRA_REGISTRY_ERROR_INVALID,
    "struct_size is 0, not that of an ABI 2 SutraPluginInfo: initialise it with "
    "SUTRA_PLUGIN_INFO_INIT" },
  { "stage-size-missing", PLUGIN (.stages = STAGES_OF (STAGE_WITH (.struct_size = 0))),
    SUTRA_REGISTRY_ERROR_INVALID,
    "stage “map”: its row size (struct_size) is 0, not that of an ABI 2 row" },
  { "stage-size-uneven",
    PLUGIN (.stages = STAGES_OF (STAGE_WITH (), STAGE_WITH (.name = "b", .struct_size = 8))),
    SUTRA_REGISTRY_ERROR_INVALID,
    "stage “b”: its row size (struct_size) is 8 but the table's first row says" },
  { "param-size-missing",
    PLUGIN (.stages =
              STAGES_OF (STAGE_WITH (.params = PARAMS_OF ({ 0, "odd", SUTRA_PARAM_INT, 0, 0, 0,
                                                            NULL, 0, 0, NULL, 0, "d" })))),
    SUTRA_REGISTRY_ERROR_INVALID,
    "stage “map”, parameter “odd”: its row size (struct_size) is 0, not that of an ABI 2 row "
    "(at least 96): begin every row with a SUTRA_PARAM_ROW_* macro" },
  { "valid-streaming-gather",
    PLUGIN (.stages = STAGES_OF (STAGE_WITH (.kind = SUTRA_STAGE_GATHER,
                                             .process = NULL,
                                             .gather_begin = dummy_begin,
                                             .gather_add = dummy_add,
                                             .gather_end = dummy_end,
                                             .gather_abort = dummy_abort))),
    -1, NULL },
  { "valid-whole-group-gather",
    PLUGIN (.stages = STAGES_OF (STAGE_WITH (.kind = SUTRA_STAGE_GATHER))), -1, NULL },
  { "gather-both-ways",
    PLUGIN (.stages = STAGES_OF (STAGE_WITH (.kind = SUTRA_STAGE_GATHER,
                                             .gather_begin = dummy_begin,
                                             .gather_add = dummy_add,
                                             .gather_end = dummy_end,
                                             .gather_abort = dummy_abort))),
    SUTRA_REGISTRY_ERROR_INVALID, "streams (gather_begin and the rest) or takes a whole group" },
  { "gather-without-abort",
    PLUGIN (.stages = STAGES_OF (STAGE_WITH (.kind = SUTRA_STAGE_GATHER,
                                             .process = NULL,
                                             .gather_begin = dummy_begin,
                                             .gather_add = dummy_add,
                                             .gather_end = dummy_end))),
    SUTRA_REGISTRY_ERROR_INVALID, "a streaming gather sets all four of gather_begin" },
  { "gather-neither-way",
    PLUGIN (.stages = STAGES_OF (STAGE_WITH (.kind = SUTRA_STAGE_GATHER, .process = NULL))),
    SUTRA_REGISTRY_ERROR_INVALID, "no process function (a gather sets process or gather_begin" },
  { "map-with-gather-functions",
    PLUGIN (.stages = STAGES_OF (STAGE_WITH (.gather_begin = dummy_begin))),
    SUTRA_REGISTRY_ERROR_INVALID, "only a gather sets gather_begin" },
  { "valid-two-step-sync",
    PLUGIN (.stages = STAGES_OF (STAGE_WITH (.kind = SUTRA_STAGE_SINK,
                                             .sync_prepare = dummy_prepare,
                                             .sync_commit = dummy_commit))),
    -1, NULL },
  { "sync-prepare-alone",
    PLUGIN (.stages =
              STAGES_OF (STAGE_WITH (.kind = SUTRA_STAGE_SINK, .sync_prepare = dummy_prepare))),
    SUTRA_REGISTRY_ERROR_INVALID, "sync_prepare and sync_commit go together" },
  { "sync-both-ways",
    PLUGIN (.stages = STAGES_OF (STAGE_WITH (.kind = SUTRA_STAGE_SINK,
                                             .sync = dummy_prepare,
                                             .sync_prepare = dummy_prepare,
                                             .sync_commit = dummy_commit))),
    SUTRA_REGISTRY_ERROR_INVALID, "in one step (sync) or two" },
  { "map-that-syncs", PLUGIN (.stages = STAGES_OF (STAGE_WITH (.sync = dummy_prepare))),
    SUTRA_REGISTRY_ERROR_INVALID, "only a sink syncs" },
  { "valid-media-types-and-meta-keys",
    PLUGIN (.stages = STAGES_OF (STAGE_WITH (.input_media_types = text_types,
                                             .output_media_types = audio_types,
                                             .meta_keys = two_keys))),
    -1, NULL },
  { "valid-writes-no-meta-keys",
    PLUGIN (.stages = STAGES_OF (STAGE_WITH (.meta_keys = no_strings))), -1, NULL },
  { "input-types-empty",
    PLUGIN (.stages = STAGES_OF (STAGE_WITH (.input_media_types = no_strings))),
    SUTRA_REGISTRY_ERROR_INVALID, "input_media_types is an empty list; leave it NULL" },
  { "output-type-no-slash",
    PLUGIN (.stages = STAGES_OF (STAGE_WITH (.output_media_types = bad_type_no_slash))),
    SUTRA_REGISTRY_ERROR_INVALID, "output_media_types: “plain” is not a media type" },
  { "input-type-with-parameters",
    PLUGIN (.stages = STAGES_OF (STAGE_WITH (.input_media_types = bad_type_params))),
    SUTRA_REGISTRY_ERROR_INVALID, "input_media_types: “text/plain; charset=utf-8” is not" },
  { "input-type-star-type",
    PLUGIN (.stages = STAGES_OF (STAGE_WITH (.input_media_types = bad_type_star))),
    SUTRA_REGISTRY_ERROR_INVALID, "“*/*” is not a media type" },
  { "input-type-twice",
    PLUGIN (.stages = STAGES_OF (STAGE_WITH (.input_media_types = twice_types))),
    SUTRA_REGISTRY_ERROR_INVALID, "input_media_types: “text/plain” is listed twice" },
  { "meta-key-empty", PLUGIN (.stages = STAGES_OF (STAGE_WITH (.meta_keys = empty_key))),
    SUTRA_REGISTRY_ERROR_INVALID, "meta_keys: an empty key" },
  { "meta-key-twice", PLUGIN (.stages = STAGES_OF (STAGE_WITH (.meta_keys = twice_keys))),
    SUTRA_REGISTRY_ERROR_INVALID, "meta_keys: “title” is listed twice" },
  { "source-with-input-types",
    PLUGIN (.stages =
              STAGES_OF (STAGE_WITH (.kind = SUTRA_STAGE_SOURCE, .input_media_types = text_types))),
    SUTRA_REGISTRY_ERROR_INVALID, "a source takes no input: leave input_media_types NULL" },
  { "sink-with-output-types",
    PLUGIN (.stages =
              STAGES_OF (STAGE_WITH (.kind = SUTRA_STAGE_SINK, .output_media_types = text_types))),
    SUTRA_REGISTRY_ERROR_INVALID, "a sink pushes nothing: leave output_media_types NULL" },
  { "no-name", PLUGIN (.name = NULL), SUTRA_REGISTRY_ERROR_INVALID, "no plugin name" },
  { "empty-name", PLUGIN (.name = ""), SUTRA_REGISTRY_ERROR_INVALID, "no plugin name" },
  { "no-version", PLUGIN (.version = NULL), SUTRA_REGISTRY_ERROR_INVALID, "has no version" },
  { "no-summary", PLUGIN (.summary = NULL), SUTRA_REGISTRY_ERROR_INVALID, "has no summary" },
  { "stages-null", PLUGIN (.stages = NULL), SUTRA_REGISTRY_ERROR_INVALID, "declares no stages" },
  { "stages-empty", PLUGIN (.stages = (const SutraStageInfo[]){ SUTRA_STAGE_INFO_END }),
    SUTRA_REGISTRY_ERROR_INVALID, "declares no stages" },
  { "two-stages-one-name", PLUGIN (.stages = STAGES_OF (STAGE_WITH (), STAGE_WITH ())),
    SUTRA_REGISTRY_ERROR_INVALID, "stage “map” is declared twice" },
  { "unknown-kind", PLUGIN (.stages = STAGES_OF (STAGE_WITH (.kind = 9))),
    SUTRA_REGISTRY_ERROR_INVALID, "unknown kind 9" },
  { "stage-no-summary", PLUGIN (.stages = STAGES_OF (STAGE_WITH (.summary = NULL))),
    SUTRA_REGISTRY_ERROR_INVALID, "stage “map”: no summary" },
  { "no-process", PLUGIN (.stages = STAGES_OF (STAGE_WITH (.process = NULL))),
    SUTRA_REGISTRY_ERROR_INVALID, "no process function" },
  { "unknown-threading", PLUGIN (.stages = STAGES_OF (STAGE_WITH (.threading = 0))),
    SUTRA_REGISTRY_ERROR_INVALID, "unknown threading model 0" },
  { "no-devices", PLUGIN (.stages = STAGES_OF (STAGE_WITH (.devices = 0))),
    SUTRA_REGISTRY_ERROR_INVALID, "devices must name the CPU, CUDA or both" },
  { "unknown-device-bit", PLUGIN (.stages = STAGES_OF (STAGE_WITH (.devices = 1 | 8))),
    SUTRA_REGISTRY_ERROR_INVALID, "devices must name the CPU, CUDA or both" },
  { "no-param-table", PLUGIN (.stages = STAGES_OF (STAGE_WITH (.params = NULL))),
    SUTRA_REGISTRY_ERROR_INVALID, "no parameter table" },
  { "duplicate-param",
    PLUGIN (.stages = STAGES_OF (STAGE_WITH (
                .params =
                  PARAMS_OF (SUTRA_PARAM_ROW_INT ("count", Settings, count, 5, 0, 10, 0, "d"),
                             SUTRA_PARAM_ROW_BOOL ("count", Settings, flag, 0, 0, "d"))))),
    SUTRA_REGISTRY_ERROR_INVALID, "parameter “count” is declared twice" },
  { "unknown-param-type",
    PLUGIN (.stages =
              STAGES_OF (STAGE_WITH (.params = PARAMS_OF ({ sizeof (SutraParamInfo), "odd", 42, 0,
                                                            0, 0, NULL, 0, 0, NULL, 0, "d" })))),
    SUTRA_REGISTRY_ERROR_INVALID, "parameter “odd”: unknown type 42" },
  { "offset-outside-settings",
    PLUGIN (.stages = STAGES_OF (STAGE_WITH (.settings_size = G_STRUCT_OFFSET (Settings, mode)))),
    SUTRA_REGISTRY_ERROR_INVALID, "parameter “mode”: offset 16 lies outside" },
  { "offset-straddles-end",
    PLUGIN (.stages = STAGES_OF (
              STAGE_WITH (.params = PARAMS_OF (
                            SUTRA_PARAM_ROW_INT ("count", Settings, count, 5, 0, 10, 0, "d")),
                          .settings_size = 4))),
    SUTRA_REGISTRY_ERROR_INVALID, "offset 0 lies outside the settings struct of 4 bytes" },
  { "misaligned-offset",
    PLUGIN (.stages = STAGES_OF (
              STAGE_WITH (.params = PARAMS_OF ({ sizeof (SutraParamInfo), "count", SUTRA_PARAM_INT,
                                                 4, 5, 0, NULL, 0, 10, NULL, 0, "d" })))),
    SUTRA_REGISTRY_ERROR_INVALID, "parameter “count”: misaligned offset" },
  { "no-doc",
    PLUGIN (.stages = STAGES_OF (
              STAGE_WITH (.params = PARAMS_OF (
                            SUTRA_PARAM_ROW_INT ("count", Settings, count, 5, 0, 10, 0, NULL))))),
    SUTRA_REGISTRY_ERROR_INVALID, "parameter “count”: no doc string" },
  { "min-above-max",
    PLUGIN (.stages = STAGES_OF (
              STAGE_WITH (.params = PARAMS_OF (
                            SUTRA_PARAM_ROW_INT ("count", Settings, count, 5, 10, 0, 0, "d"))))),
    SUTRA_REGISTRY_ERROR_INVALID, "min 10 > max 0" },
  { "int-default-below-min",
    PLUGIN (.stages = STAGES_OF (
              STAGE_WITH (.params = PARAMS_OF (
                            SUTRA_PARAM_ROW_INT ("count", Settings, count, -1, 0, 10, 0, "d"))))),
    SUTRA_REGISTRY_ERROR_INVALID, "default -1 outside [0, 10]" },
  { "double-default-above-max",
    PLUGIN (.stages = STAGES_OF (STAGE_WITH (
                .params = PARAMS_OF (
                  SUTRA_PARAM_ROW_DOUBLE ("ratio", Settings, ratio, 1.5, 0, 1, 0, "d"))))),
    SUTRA_REGISTRY_ERROR_INVALID, "default 1.5 outside [0, 1]" },
  { "enum-without-choices",
    PLUGIN (.stages = STAGES_OF (
              STAGE_WITH (.params = PARAMS_OF (
                            SUTRA_PARAM_ROW_ENUM ("mode", Settings, mode, "fast", NULL, 0, "d"))))),
    SUTRA_REGISTRY_ERROR_INVALID, "an enum with no choices" },
  { "enum-with-empty-choices",
    PLUGIN (.stages = STAGES_OF (STAGE_WITH (
                .params = PARAMS_OF (
                  SUTRA_PARAM_ROW_ENUM ("mode", Settings, mode, "fast", no_choices, 0, "d"))))),
    SUTRA_REGISTRY_ERROR_INVALID, "an enum with no choices" },
  { "enum-default-not-a-choice",
    PLUGIN (.stages = STAGES_OF (STAGE_WITH (
                .params = PARAMS_OF (
                  SUTRA_PARAM_ROW_ENUM ("mode", Settings, mode, "medium", modes, 0, "d"))))),
    SUTRA_REGISTRY_ERROR_INVALID, "default “medium” is not one of the choices" },
  { "enum-default-missing",
    PLUGIN (.stages = STAGES_OF (
              STAGE_WITH (.params = PARAMS_OF (
                            SUTRA_PARAM_ROW_ENUM ("mode", Settings, mode, NULL, modes, 0, "d"))))),
    SUTRA_REGISTRY_ERROR_INVALID, "default “(null)” is not one of the choices" },
};
#pragma GCC diagnostic pop

static void
test_registry_validate (gconstpointer data)
{
  const ValidateCase *row = data;
  g_autoptr (GError) error = NULL;
  gboolean ok;

  g_test_summary ("Each descriptor rule is checked with a message of its own, naming the "
                  "module");
  ok = sutra_plugin_info_validate (&row->info, "/where/p.so", &error);
  if (row->code < 0)
    {
      g_assert_no_error (error);
      g_assert_true (ok);
      return;
    }
  g_assert_false (ok);
  g_assert_error (error, SUTRA_REGISTRY_ERROR, row->code);
  g_assert_true (g_str_has_prefix (error->message, "/where/p.so: "));
  sutra_assert_contains (error->message, row->needle);
}

/* Rows as a later 2.x minor would lay them out: this engine's fields and
 * more after them. */
typedef struct
{
  SutraParamInfo base;
  double later;
} WideParam;

typedef struct
{
  SutraStageInfo base;
  gpointer later[3];
} WideStage;

#define WIDE_PARAM(n)                            \
  {                                              \
    .base = { sizeof (WideParam),                \
              n,                                 \
              SUTRA_PARAM_INT,                   \
              G_STRUCT_OFFSET (Settings, count), \
              1,                                 \
              0,                                 \
              NULL,                              \
              0,                                 \
              9,                                 \
              NULL,                              \
              0,                                 \
              "d" },                             \
    .later = 42                                  \
  }

static void
test_registry_wider_rows (void)
{
  static const WideParam params[] = {
    WIDE_PARAM ("a"),
    WIDE_PARAM ("b"),
    WIDE_PARAM ("c"),
    WIDE_PARAM ("a"),
    { .base = { sizeof (WideParam), NULL } },
  };
  static const WideStage stages[] = {
    { .base = { .struct_size = sizeof (WideStage),
                .name = "one",
                .kind = SUTRA_STAGE_MAP,
                .summary = "s",
                .params = (const SutraParamInfo *) &params[3],
                .settings_size = sizeof (Settings),
                .threading = SUTRA_THREADING_SHARED,
                .devices = SUTRA_DEVICE_CPU,
                .process = dummy_process },
      .later = { dummy_process, dummy_process, dummy_process } },
    { .base = { .struct_size = sizeof (WideStage),
                .name = "two",
                .kind = SUTRA_STAGE_MAP,
                .summary = "s",
                .params = (const SutraParamInfo *) params,
                .settings_size = sizeof (Settings),
                .threading = SUTRA_THREADING_SHARED,
                .devices = SUTRA_DEVICE_CPU,
                .process = dummy_process } },
    { .base = { .struct_size = sizeof (WideStage), .name = NULL } },
  };
  static const SutraPluginInfo info = {
    SUTRA_PLUGIN_INFO_INIT,
    .name = "p",
    .version = "1",
    .summary = "s",
    .stages = (const SutraStageInfo *) stages,
  };
  g_autoptr (GError) error = NULL;

  g_test_summary ("The registry steps through stage and parameter tables at the size their "
                  "rows record, not its own: the fourth parameter of the second stage of a "
                  "table of wider rows is found to repeat the first");
  g_test_bug ("10");
  g_assert_cmpuint (sizeof (WideStage), >, sizeof (SutraStageInfo));
  g_assert_false (sutra_plugin_info_validate (&info, "/w/p.so", &error));
  g_assert_error (error, SUTRA_REGISTRY_ERROR, SUTRA_REGISTRY_ERROR_INVALID);
  sutra_assert_contains (error->message, "stage “two”: parameter “a” is declared twice");
}

static void
test_registry_media_types (void)
{
  static const char *const text[] = { "text/plain", "text/markdown", NULL };
  static const char *const any_text[] = { "text/*", NULL };
  static const char *const audio[] = { "audio/x-raw-f32", NULL };
  static const char *const epub[] = { "application/epub+zip", "text/plain", NULL };

  g_test_summary ("Media type lists match exactly, or by a whole type with a star; NULL "
                  "matches anything");
  g_assert_true (sutra_media_types_accept (NULL, "audio/wav"));
  g_assert_true (sutra_media_types_accept (text, "text/markdown"));
  g_assert_false (sutra_media_types_accept (text, "text/html"));
  g_assert_true (sutra_media_types_accept (any_text, "text/html"));
  g_assert_false (sutra_media_types_accept (any_text, "textual/html"));
  g_assert_false (sutra_media_types_accept (any_text, "audio/x-raw-f32"));
  g_assert_true (sutra_media_types_overlap (NULL, audio));
  g_assert_true (sutra_media_types_overlap (audio, NULL));
  g_assert_true (sutra_media_types_overlap (epub, text));
  g_assert_true (sutra_media_types_overlap (any_text, text));
  g_assert_true (sutra_media_types_overlap (text, any_text));
  g_assert_false (sutra_media_types_overlap (audio, text));
  g_assert_false (sutra_media_types_overlap (audio, any_text));
}

static void
test_registry_to_string (void)
{
  g_test_summary ("Kinds, threading models and parameter types have names; unknown ones "
                  "have none");
  g_assert_cmpstr (sutra_stage_kind_to_string (SUTRA_STAGE_SOURCE), ==, "source");
  g_assert_cmpstr (sutra_stage_kind_to_string (SUTRA_STAGE_GATHER), ==, "gather");
  g_assert_null (sutra_stage_kind_to_string (0));
  g_assert_nonnull (strstr (sutra_threading_to_string (SUTRA_THREADING_SINGLE), "single"));
  g_assert_null (sutra_threading_to_string (4));
  g_assert_cmpstr (sutra_param_type_to_string (SUTRA_PARAM_ENUM), ==, "enum");
  g_assert_cmpstr (sutra_param_type_to_string (SUTRA_PARAM_DOUBLE), ==, "double");
  g_assert_null (sutra_param_type_to_string (6));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, G_TEST_OPTION_ISOLATE_DIRS, NULL);

  g_test_add_func ("/engine/registry/builtin-dir", test_registry_builtin_dir);
  g_test_add_func ("/engine/registry/loads-builtin", test_registry_loads_builtin);
  g_test_add_func ("/engine/registry/loads-test-plugin", test_registry_loads_test_plugin);
  g_test_add_func ("/engine/registry/loads-relative-file", test_registry_loads_relative_file);
  g_test_add_func ("/engine/registry/wider-rows", test_registry_wider_rows);
  g_test_add_func ("/engine/registry/media-types", test_registry_media_types);
  for (gsize i = 0; i < G_N_ELEMENTS (load_cases); i++)
    {
      g_autofree char *path =
        g_strdup_printf ("/engine/registry/load-error/%s", load_cases[i].name);
      g_test_add_data_func (path, &load_cases[i], test_registry_load_error);
    }
  for (gsize i = 0; i < G_N_ELEMENTS (not_a_module_cases); i++)
    {
      g_autofree char *path =
        g_strdup_printf ("/engine/registry/not-a-module/%s", not_a_module_cases[i].name);
      g_test_add_data_func (path, &not_a_module_cases[i], test_registry_not_a_module);
    }
  g_test_add_func ("/engine/registry/duplicate-plugin", test_registry_duplicate_plugin);
  g_test_add_func ("/engine/registry/same-file-twice", test_registry_same_file_twice);
  g_test_add_func ("/engine/registry/duplicate-stage", test_registry_duplicate_stage);
  g_test_add_func ("/engine/registry/load-dir-reports-all", test_registry_load_dir_reports_all);
  g_test_add_func ("/engine/registry/load-dir-missing", test_registry_load_dir_missing);
  g_test_add_func ("/engine/registry/extra-path-first", test_registry_extra_path_first);
  g_test_add_func ("/engine/registry/plugin-path-env", test_registry_plugin_path_env);
  for (gsize i = 0; i < G_N_ELEMENTS (validate_cases); i++)
    {
      g_autofree char *path =
        g_strdup_printf ("/engine/registry/validate/%s", validate_cases[i].name);
      g_test_add_data_func (path, &validate_cases[i], test_registry_validate);
    }
  g_test_add_func ("/engine/registry/to-string", test_registry_to_string);

  return g_test_run ();
}
