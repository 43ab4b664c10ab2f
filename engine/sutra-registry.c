/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Plugin loading with libltdl, and the checks a descriptor must pass. */

#include "sutra-registry.h"
#include "sutra-abi-frozen.h"

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

/*
 * A plugin's descriptor copied into this engine's layout: the rest of the
 * engine walks only these copies (sutra_registry_find_stage and
 * SutraPlugin.info hand them out), so it may step through stage and
 * parameter tables with its own sizeof whatever size the plugin's rows
 * have. Fields the plugin's rows do not cover are zero. Strings, choice
 * arrays and functions still point into the module.
 */
typedef struct
{
  SutraPluginInfo info;   /* info.stages points at stages */
  SutraStageInfo *stages; /* n_stages rows and a zeroed terminator */
  guint n_stages;
  SutraParamInfo **params; /* per stage: its table's copy, or NULL */
} Descriptor;

static void
descriptor_free (Descriptor *descriptor)
{
  for (guint i = 0; i < descriptor->n_stages; i++)
    g_free (descriptor->params[i]);
  g_free (descriptor->params);
  g_free (descriptor->stages);
  g_free (descriptor);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Descriptor, descriptor_free)

static gboolean invalid (GError **error, const char *where, const char *format, ...)
  G_GNUC_PRINTF (3, 4);

/* A row's size is the plugin's sizeof, so anything past a few KiB is not a
 * size but a row that does not begin with one. */
#define MAX_ROW_SIZE ((gsize) 4096)

/*
 * Counts the rows of a table whose rows begin with their size (stage and
 * parameter tables), up to the one whose name is NULL, and returns the
 * stride in @stride_out. Every row before the terminator must give the
 * same size, at least @min_size: a row of size 0 is one that was not
 * begun with the header's initialiser (@fix says which).
 */
static gboolean
count_sized_rows (const char *table,
                  gsize name_offset,
                  gsize min_size,
                  const char *what,
                  const char *fix,
                  const char *where,
                  guint *n_out,
                  gsize *stride_out,
                  GError **error)
{
  gsize stride;
  const char *name;
  guint n = 0;

  memcpy (&name, table + name_offset, sizeof name);
  *stride_out = 0;
  if (name == NULL)
    {
      *n_out = 0;
      return TRUE;
    }
  memcpy (&stride, table, sizeof stride);
  if (stride < min_size || stride > MAX_ROW_SIZE)
    return invalid (error, where,
                    "%s “%s”: its row size (struct_size) is %" G_GSIZE_FORMAT
                    ", not that of an ABI %d row (at least %" G_GSIZE_FORMAT
                    "): begin every row with %s",
                    what, name, stride, SUTRA_ABI_MAJOR, min_size, fix);
  for (;; n++)
    {
      const char *row = table + (gsize) n * stride;
      gsize size;

      memcpy (&name, row + name_offset, sizeof name);
      if (name == NULL)
        break;
      memcpy (&size, row, sizeof size);
      if (size != stride)
        return invalid (error, where,
                        "%s “%s”: its row size (struct_size) is %" G_GSIZE_FORMAT
                        " but the table's first row says %" G_GSIZE_FORMAT
                        ": begin every row with %s",
                        what, name, size, stride, fix);
    }
  *n_out = n;
  *stride_out = stride;
  return TRUE;
}

/* Call only after the ABI check. Fails on rows whose sizes are not those
 * of this ABI. */
static Descriptor *
descriptor_new (const SutraPluginInfo *raw, const char *where, GError **error)
{
  g_autoptr (Descriptor) descriptor = g_new0 (Descriptor, 1);
  const char *raw_stages;
  gsize stage_stride;

  if (raw->struct_size < SUTRA_ABI_2_0_PLUGIN_INFO_SIZE || raw->struct_size > MAX_ROW_SIZE)
    {
      invalid (error, where,
               "the plugin descriptor's struct_size is %u, not that of an ABI %d "
               "SutraPluginInfo: initialise it with SUTRA_PLUGIN_INFO_INIT",
               raw->struct_size, SUTRA_ABI_MAJOR);
      return NULL;
    }
  memcpy (&descriptor->info, raw, MIN ((gsize) raw->struct_size, sizeof (SutraPluginInfo)));
  descriptor->info.struct_size = sizeof (SutraPluginInfo);
  raw_stages = (const char *) descriptor->info.stages;
  if (raw_stages == NULL)
    return g_steal_pointer (&descriptor);
  if (!count_sized_rows (raw_stages, offsetof (SutraStageInfo, name), SUTRA_ABI_2_0_STAGE_INFO_SIZE,
                         "stage", "SUTRA_STAGE_INFO_INIT", where, &descriptor->n_stages,
                         &stage_stride, error))
    return NULL;
  descriptor->stages = g_new0 (SutraStageInfo, descriptor->n_stages + 1);
  descriptor->params = g_new0 (SutraParamInfo *, MAX (descriptor->n_stages, 1));
  for (guint i = 0; i < descriptor->n_stages; i++)
    {
      SutraStageInfo *stage = &descriptor->stages[i];
      const char *raw_params;
      guint n_params;
      gsize param_stride;
      g_autofree char *what = NULL;

      memcpy (stage, raw_stages + (gsize) i * stage_stride, MIN (stage_stride, sizeof *stage));
      stage->struct_size = sizeof *stage;
      raw_params = (const char *) stage->params;
      if (raw_params == NULL)
        continue;
      what = g_strdup_printf ("stage “%s”, parameter", stage->name);
      if (!count_sized_rows (raw_params, offsetof (SutraParamInfo, name),
                             SUTRA_ABI_2_0_PARAM_INFO_SIZE, what, "a SUTRA_PARAM_ROW_* macro",
                             where, &n_params, &param_stride, error))
        return NULL;
      descriptor->params[i] = g_new0 (SutraParamInfo, n_params + 1);
      for (guint k = 0; k < n_params; k++)
        {
          memcpy (&descriptor->params[i][k], raw_params + (gsize) k * param_stride,
                  MIN (param_stride, sizeof (SutraParamInfo)));
          descriptor->params[i][k].struct_size = sizeof (SutraParamInfo);
        }
      descriptor->params[i][n_params].struct_size = sizeof (SutraParamInfo);
      stage->params = descriptor->params[i];
    }
  descriptor->stages[descriptor->n_stages].struct_size = sizeof (SutraStageInfo);
  descriptor->info.stages = descriptor->stages;
  return g_steal_pointer (&descriptor);
}

/*
 * The copies of accepted plugins, by the address of the module's own
 * descriptor. An accepted module is never unloaded, so its copy lives as
 * long as the process, as the module's own descriptor would: pointers to
 * stages stay valid after the registry that loaded them is freed, and two
 * registries that load one module share one copy.
 */
static GMutex descriptors_lock;
static GHashTable *descriptors; /* const SutraPluginInfo * -> Descriptor, owned */

static Descriptor *
descriptor_lookup (const SutraPluginInfo *raw)
{
  Descriptor *descriptor = NULL;

  g_mutex_lock (&descriptors_lock);
  if (descriptors != NULL)
    descriptor = g_hash_table_lookup (descriptors, raw);
  g_mutex_unlock (&descriptors_lock);
  return descriptor;
}

/* Keeps @descriptor (transfer full) as the copy of @raw; returns the copy
 * kept, an earlier one if another registry got there first. */
static Descriptor *
descriptor_keep (const SutraPluginInfo *raw, Descriptor *descriptor)
{
  Descriptor *kept;

  g_mutex_lock (&descriptors_lock);
  if (descriptors == NULL)
    descriptors =
      g_hash_table_new_full (g_direct_hash, g_direct_equal, NULL, (GDestroyNotify) descriptor_free);
  kept = g_hash_table_lookup (descriptors, raw);
  if (kept == NULL)
    {
      kept = descriptor;
      g_hash_table_insert (descriptors, (gpointer) raw, descriptor);
    }
  else
    descriptor_free (descriptor);
  g_mutex_unlock (&descriptors_lock);
  return kept;
}

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

/* One pattern against one type, either of which may be "type/" and a star. */
static gboolean
media_type_matches (const char *a, const char *b)
{
  const char *slash_a = strchr (a, '/');
  const char *slash_b = strchr (b, '/');

  if (strcmp (a, b) == 0)
    return TRUE;
  if (slash_a == NULL || slash_b == NULL || slash_a - a != slash_b - b ||
      strncmp (a, b, (gsize) (slash_a - a)) != 0)
    return FALSE;
  return strcmp (slash_a + 1, "*") == 0 || strcmp (slash_b + 1, "*") == 0;
}

gboolean
sutra_media_types_accept (const char *const *accepted, const char *media_type)
{
  g_return_val_if_fail (media_type != NULL, FALSE);
  if (accepted == NULL)
    return TRUE;
  for (guint i = 0; accepted[i] != NULL; i++)
    if (media_type_matches (accepted[i], media_type))
      return TRUE;
  return FALSE;
}

gboolean
sutra_media_types_overlap (const char *const *produced, const char *const *accepted)
{
  if (produced == NULL || accepted == NULL)
    return TRUE;
  for (guint i = 0; produced[i] != NULL; i++)
    if (sutra_media_types_accept (accepted, produced[i]))
      return TRUE;
  return FALSE;
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

/* "type/subtype", or "type/" and a star for every subtype of a type: no
 * spaces, no parameters (those are not part of what a stage declares). */
static gboolean
is_media_type (const char *type)
{
  const char *slash = strchr (type, '/');

  if (slash == NULL || slash == type || slash[1] == '\0' || strchr (slash + 1, '/') != NULL)
    return FALSE;
  for (const char *p = type; *p != '\0'; p++)
    if (!g_ascii_isgraph (*p) || *p == ';' || *p == ',')
      return FALSE;
  /* A star stands for a whole subtype only. */
  if (strchr (type, '*') != NULL && strcmp (slash + 1, "*") != 0)
    return FALSE;
  return strncmp (type, "*/", 2) != 0;
}

static gboolean
validate_media_types (const SutraStageInfo *stage,
                      const char *const *types,
                      const char *field,
                      const char *where,
                      GError **error)
{
  if (types == NULL)
    return TRUE;
  if (types[0] == NULL)
    return invalid (error, where,
                    "stage “%s”: %s is an empty list; leave it NULL to mean any media type",
                    stage->name, field);
  for (guint i = 0; types[i] != NULL; i++)
    {
      if (!is_media_type (types[i]))
        return invalid (error, where,
                        "stage “%s”: %s: “%s” is not a media type (write “type/subtype”, "
                        "such as “text/plain”, or “type/*” for every subtype)",
                        stage->name, field, types[i]);
      for (guint k = 0; k < i; k++)
        if (strcmp (types[k], types[i]) == 0)
          return invalid (error, where, "stage “%s”: %s: “%s” is listed twice", stage->name, field,
                          types[i]);
    }
  return TRUE;
}

static gboolean
validate_meta_keys (const SutraStageInfo *stage, const char *where, GError **error)
{
  const char *const *keys = stage->meta_keys;

  for (guint i = 0; keys != NULL && keys[i] != NULL; i++)
    {
      if (keys[i][0] == '\0')
        return invalid (error, where, "stage “%s”: meta_keys: an empty key", stage->name);
      for (guint k = 0; k < i; k++)
        if (strcmp (keys[k], keys[i]) == 0)
          return invalid (error, where, "stage “%s”: meta_keys: “%s” is listed twice", stage->name,
                          keys[i]);
    }
  return TRUE;
}

/* Which functions a stage sets: process, or a streaming gather's four; a
 * one-step sync or the two-step pair. */
static gboolean
validate_functions (const SutraStageInfo *stage, const char *where, GError **error)
{
  guint n_gather = (stage->gather_begin != NULL) + (stage->gather_add != NULL) +
                   (stage->gather_end != NULL) + (stage->gather_abort != NULL);

  if (n_gather > 0 && stage->kind != SUTRA_STAGE_GATHER)
    return invalid (error, where,
                    "stage “%s”: only a gather sets gather_begin, gather_add, gather_end "
                    "and gather_abort",
                    stage->name);
  if (n_gather > 0 && n_gather < 4)
    return invalid (error, where,
                    "stage “%s”: a streaming gather sets all four of gather_begin, "
                    "gather_add, gather_end and gather_abort",
                    stage->name);
  if (n_gather == 4 && stage->process != NULL)
    return invalid (error, where,
                    "stage “%s”: a gather streams (gather_begin and the rest) or takes a "
                    "whole group (process), not both: leave process NULL",
                    stage->name);
  if (n_gather == 0 && stage->process == NULL)
    return invalid (error, where, "stage “%s”: no process function%s", stage->name,
                    stage->kind == SUTRA_STAGE_GATHER
                      ? " (a gather sets process or gather_begin, gather_add, gather_end and "
                        "gather_abort)"
                      : "");
  if ((stage->sync_prepare == NULL) != (stage->sync_commit == NULL))
    return invalid (error, where,
                    "stage “%s”: sync_prepare and sync_commit go together: set both or neither",
                    stage->name);
  if (stage->sync_prepare != NULL && stage->sync != NULL)
    return invalid (error, where,
                    "stage “%s”: a sink syncs in one step (sync) or two (sync_prepare and "
                    "sync_commit), not both: leave sync NULL",
                    stage->name);
  if ((stage->sync != NULL || stage->sync_prepare != NULL) && stage->kind != SUTRA_STAGE_SINK)
    return invalid (error, where, "stage “%s”: only a sink syncs", stage->name);
  /* The content cache answers item by item, which only a map's one output
   * per input allows. */
  if ((stage->cache_content || stage->cache_meta_keys != NULL || stage->cache_salt != NULL) &&
      stage->kind != SUTRA_STAGE_MAP)
    return invalid (error, where,
                    "stage “%s”: only a map caches by content (cache_content, cache_meta_keys, "
                    "cache_salt)",
                    stage->name);
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
  if (!validate_functions (stage, where, error))
    return FALSE;
  if (sutra_threading_to_string (stage->threading) == NULL)
    return invalid (error, where, "stage “%s”: unknown threading model %d", stage->name,
                    (int) stage->threading);
  if ((stage->devices & (SUTRA_DEVICE_CPU | SUTRA_DEVICE_CUDA)) == 0 ||
      (stage->devices &
       ~(guint) (SUTRA_DEVICE_CPU | SUTRA_DEVICE_CUDA | SUTRA_DEVICE_CUDA_PREFERRED)) != 0)
    return invalid (error, where, "stage “%s”: devices must name the CPU, CUDA or both",
                    stage->name);
  if ((stage->devices & SUTRA_DEVICE_CUDA_PREFERRED) &&
      (stage->devices & (SUTRA_DEVICE_CPU | SUTRA_DEVICE_CUDA)) !=
        (SUTRA_DEVICE_CPU | SUTRA_DEVICE_CUDA))
    return invalid (error, where,
                    "stage “%s”: SUTRA_DEVICE_CUDA_PREFERRED says the GPU path wins over "
                    "the CPU path: set it with both SUTRA_DEVICE_CPU and SUTRA_DEVICE_CUDA",
                    stage->name);
  if (stage->params == NULL)
    return invalid (error, where,
                    "stage “%s”: no parameter table (an empty one ends "
                    "with SUTRA_PARAM_ROW_END)",
                    stage->name);
  if (!validate_media_types (stage, stage->input_media_types, "input_media_types", where, error) ||
      !validate_media_types (stage, stage->output_media_types, "output_media_types", where,
                             error) ||
      !validate_meta_keys (stage, where, error))
    return FALSE;
  if (stage->kind == SUTRA_STAGE_SOURCE && stage->input_media_types != NULL)
    return invalid (error, where,
                    "stage “%s”: a source takes no input: leave input_media_types NULL",
                    stage->name);
  if (stage->kind == SUTRA_STAGE_SINK && stage->output_media_types != NULL)
    return invalid (error, where,
                    "stage “%s”: a sink pushes nothing: leave output_media_types NULL",
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

/* Reads only abi_major and abi_minor, the two fields every ABI has first. */
static gboolean
check_abi (const SutraPluginInfo *raw, const char *where, GError **error)
{
  SutraAbiStamp stamp;

  memcpy (&stamp, raw, sizeof stamp);
  if (stamp.abi_major != SUTRA_ABI_MAJOR || stamp.abi_minor > SUTRA_ABI_MINOR)
    {
      g_set_error (error, SUTRA_REGISTRY_ERROR, SUTRA_REGISTRY_ERROR_ABI_MISMATCH,
                   "%s: built for sutra plugin ABI %u.%u; this sutra (%s) loads ABI %d.x up "
                   "to %d.%d: rebuild it against this sutra's headers",
                   where, stamp.abi_major, stamp.abi_minor, SUTRA_VERSION_STRING, SUTRA_ABI_MAJOR,
                   SUTRA_ABI_MAJOR, SUTRA_ABI_MINOR);
      return FALSE;
    }
  return TRUE;
}

/* @info is a copy in this engine's layout (descriptor_new). */
static gboolean
validate_descriptor (const SutraPluginInfo *info, const char *where, GError **error)
{
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

gboolean
sutra_plugin_info_validate (const SutraPluginInfo *info, const char *where, GError **error)
{
  g_autoptr (Descriptor) descriptor = NULL;

  g_return_val_if_fail (info != NULL, FALSE);
  if (!check_abi (info, where, error))
    return FALSE;
  descriptor = descriptor_new (info, where, error);
  if (descriptor == NULL)
    return FALSE;
  return validate_descriptor (&descriptor->info, where, error);
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
  const SutraPluginInfo *raw;
  const SutraPluginInfo *info;
  g_autoptr (Descriptor) fresh = NULL;
  Descriptor *descriptor;
  const SutraPlugin *existing;
  g_autofree char *stem = NULL;
  g_autofree char *absolute = NULL;
  SutraPlugin *plugin;

  g_return_val_if_fail (registry != NULL, FALSE);
  g_return_val_if_fail (path != NULL, FALSE);

  /* A relative path is relative to the working directory, as everywhere
   * on the command line: libltdl would search its library path for a bare
   * "uppercase.so" instead. */
  absolute = g_canonicalize_filename (path, NULL);

  /* RTLD_LOCAL: two plugins may use the same static helper names. */
  lt_dladvise_init (&advise);
  lt_dladvise_local (&advise);
  handle = lt_dlopenadvise (absolute, advise);
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
  raw = entry ();
  if (raw == NULL)
    {
      g_set_error (error, SUTRA_REGISTRY_ERROR, SUTRA_REGISTRY_ERROR_INVALID,
                   "%s: %s() returned no descriptor", path, SUTRA_PLUGIN_ENTRY_POINT);
      lt_dlclose (handle);
      return FALSE;
    }
  if (!check_abi (raw, path, error))
    {
      lt_dlclose (handle);
      return FALSE;
    }
  /* From here on only the copy in this engine's layout is read. */
  descriptor = descriptor_lookup (raw);
  if (descriptor == NULL)
    {
      descriptor = fresh = descriptor_new (raw, path, error);
      if (descriptor == NULL || !validate_descriptor (&descriptor->info, path, error))
        {
          lt_dlclose (handle);
          return FALSE;
        }
    }
  info = &descriptor->info;
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

  /* Accepted: the module stays loaded for good, and so does its copy. */
  if (fresh != NULL)
    descriptor = descriptor_keep (raw, g_steal_pointer (&fresh));
  info = &descriptor->info;
  plugin = g_new0 (SutraPlugin, 1);
  plugin->info = info;
  plugin->path = g_steal_pointer (&absolute);
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
