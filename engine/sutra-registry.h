/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* SutraRegistry: the loaded plugins and the stages they provide. */

#pragma once

#include <sutra/sutra.h>

G_BEGIN_DECLS

#define SUTRA_REGISTRY_ERROR (sutra_registry_error_quark ())
GQuark sutra_registry_error_quark (void);

typedef enum
{
  SUTRA_REGISTRY_ERROR_NOT_A_MODULE,  /* the file cannot be loaded */
  SUTRA_REGISTRY_ERROR_NO_DESCRIPTOR, /* loads, but exports no entry point */
  SUTRA_REGISTRY_ERROR_ABI_MISMATCH,  /* built against another ABI */
  SUTRA_REGISTRY_ERROR_INVALID,       /* the descriptor does not validate */
  SUTRA_REGISTRY_ERROR_DUPLICATE,     /* a plugin or stage name is taken */
  SUTRA_REGISTRY_ERROR_NOT_FOUND,     /* no such plugin or stage */
} SutraRegistryError;

typedef struct _SutraRegistry SutraRegistry;

/*
 * A loaded plugin. @info is the registry's copy of the module's descriptor
 * in this engine's struct layout, whatever ABI minor the plugin was built
 * with (fields its minor predates are zero): walk its stage and parameter
 * tables freely. The module's own descriptor is never handed out. The copy
 * lives as long as the module, which is never unloaded. @path is absolute.
 */
typedef struct
{
  const SutraPluginInfo *info;
  char *path;
} SutraPlugin;

SutraRegistry *sutra_registry_new (void);
void sutra_registry_free (SutraRegistry *registry);

/* Loads one module. Refuses, with its own error, a file that is not a
 * loadable module, one with no entry point, another ABI, a descriptor that
 * does not validate, and a plugin or stage whose name is already taken. */
gboolean sutra_registry_load_file (SutraRegistry *registry, const char *path, GError **error);

/* Loads every module in @dir and in its subdirectories one level down (the
 * build tree keeps each plugin in a folder of its own). Keeps going past a
 * module that fails, and returns FALSE with all the failures in one error. */
gboolean sutra_registry_load_dir (SutraRegistry *registry, const char *dir, GError **error);

/* Loads, in this order, so that the first of two same-named plugins is the
 * one that is reported as already loaded: each of @extra_paths (files or
 * directories, from --plugin-path), each directory of SUTRA_PLUGIN_PATH, and
 * the built-in directory (the build tree's plugins when the running sutra
 * is the one in the build tree, the installed ones otherwise). */
gboolean sutra_registry_load_default (SutraRegistry *registry,
                                      const char *const *extra_paths,
                                      GError **error);

/* The built-in plugin directory this sutra uses. */
const char *sutra_registry_get_builtin_dir (void);

/* Returns: (transfer none) (nullable): the stage named @name (in the
 * registry's copy: see SutraPlugin), and in @plugin (optional) the plugin
 * that provides it. */
const SutraStageInfo *sutra_registry_find_stage (SutraRegistry *registry,
                                                 const char *name,
                                                 const SutraPlugin **plugin);

/* Returns: (transfer none) (nullable): the plugin named @name. */
const SutraPlugin *sutra_registry_find_plugin (SutraRegistry *registry, const char *name);

/* Returns: (transfer container): the plugins, sorted by name. */
GPtrArray *sutra_registry_list_plugins (SutraRegistry *registry);

/* Returns: (transfer container): the stage names, sorted. */
GPtrArray *sutra_registry_list_stage_names (SutraRegistry *registry);

/* Checks a descriptor without loading anything: the rules the loader
 * applies. @info is laid out as its abi_minor says (a plugin's own
 * descriptor). @where names the module in messages. */
gboolean sutra_plugin_info_validate (const SutraPluginInfo *info,
                                     const char *where,
                                     GError **error);

/* Whether a stage that declares @accepted (its input_media_types) takes an
 * item of @media_type. "type/" and a star matches every subtype; NULL
 * accepts everything. */
gboolean sutra_media_types_accept (const char *const *accepted, const char *media_type);

/* Whether some type @produced (a stage's output_media_types) lists can be
 * one @accepted lists: FALSE only when both are declared and no type of
 * one matches a type of the other, wildcards included. */
gboolean sutra_media_types_overlap (const char *const *produced, const char *const *accepted);

const char *sutra_stage_kind_to_string (SutraStageKind kind);
const char *sutra_threading_to_string (SutraThreading threading);
const char *sutra_param_type_to_string (SutraParamType type);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (SutraRegistry, sutra_registry_free)

G_END_DECLS
