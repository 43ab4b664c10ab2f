/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Test modules for test-registry: one valid plugin, and one broken in each way. */

/*
 * Built once per case (tests/engine/plugins/meson.build), with CASE_* saying
 * what is wrong and PLUGIN_NAME the name the descriptor declares. The
 * registry refuses a module whose file name differs from its plugin name,
 * so each module is named after PLUGIN_NAME, except "misnamed".
 */

#include <sutra/sutra.h>

typedef struct
{
  gint64 count;
  const char *mode;
} BrokenSettings;

static const char *const broken_modes[] = { "fast", "slow", NULL };

static const SutraParamInfo broken_params[] G_GNUC_UNUSED = {
#if defined(CASE_BAD_DEFAULT)
  SUTRA_PARAM_ROW_INT ("count", BrokenSettings, count, 50, 0, 10, 0, "Out of range default."),
#else
  SUTRA_PARAM_ROW_INT ("count", BrokenSettings, count, 5, 0, 10, 0, "How many."),
#endif
#if defined(CASE_BAD_ENUM)
  SUTRA_PARAM_ROW_ENUM ("mode",
                        BrokenSettings,
                        mode,
                        "medium",
                        broken_modes,
                        0,
                        "A default that is not a choice."),
#else
  SUTRA_PARAM_ROW_ENUM ("mode", BrokenSettings, mode, "fast", broken_modes, 0, "How."),
#endif
#if defined(CASE_DUP_PARAM)
  SUTRA_PARAM_ROW_INT ("count", BrokenSettings, count, 1, 0, 10, 0, "Declared twice."),
#endif
#if defined(CASE_BAD_OFFSET)
  { sizeof (SutraParamInfo), "beyond", SUTRA_PARAM_INT, sizeof (BrokenSettings), 0, 0, NULL, 0, 10,
    NULL, 0, "Stored past the end of the settings struct." },
#endif
  SUTRA_PARAM_ROW_END
};

static G_GNUC_UNUSED gboolean
broken_process (gpointer instance,
                SutraItem *const *items,
                guint n_items,
                SutraOutput *output,
                GError **error)
{
  for (guint i = 0; i < n_items; i++)
    sutra_output_push (output, sutra_item_ref (items[i]));
  return TRUE;
}

#if !defined(CASE_NO_DESCRIPTOR)

#define BROKEN_STAGE(stage_name)                                                                 \
  {                                                                                              \
    SUTRA_STAGE_INFO_INIT, .name = stage_name, .kind = SUTRA_STAGE_MAP, .summary = "A test map", \
                           .params = broken_params, .settings_size = sizeof (BrokenSettings),    \
                           .threading = SUTRA_THREADING_SHARED, .devices = SUTRA_DEVICE_CPU,     \
                           .process = broken_process,                                            \
  }

static const SutraStageInfo broken_stages[] = {
#if defined(CASE_NO_STAGES)
  SUTRA_STAGE_INFO_END,
#elif defined(CASE_NO_PROCESS)
  {
    SUTRA_STAGE_INFO_INIT,
    .name = PLUGIN_NAME "-map",
    .kind = SUTRA_STAGE_MAP,
    .summary = "A map with no process function",
    .params = broken_params,
    .settings_size = sizeof (BrokenSettings),
    .threading = SUTRA_THREADING_SHARED,
    .devices = SUTRA_DEVICE_CPU,
  },
  SUTRA_STAGE_INFO_END,
#elif defined(CASE_TWIN_STAGES)
  BROKEN_STAGE (PLUGIN_NAME "-map"),
  BROKEN_STAGE (PLUGIN_NAME "-map"),
  SUTRA_STAGE_INFO_END,
#elif defined(STAGE_NAME)
  BROKEN_STAGE (STAGE_NAME),
  SUTRA_STAGE_INFO_END,
#else
  BROKEN_STAGE (PLUGIN_NAME "-map"),
  SUTRA_STAGE_INFO_END,
#endif
};

static const SutraPluginInfo broken_plugin = {
#if defined(CASE_ABI_MAJOR)
  .abi_major = SUTRA_ABI_MAJOR + 1,
#else
  .abi_major = SUTRA_ABI_MAJOR,
#endif
#if defined(CASE_ABI_MINOR)
  .abi_minor = SUTRA_ABI_MINOR + 1,
#else
  .abi_minor = SUTRA_ABI_MINOR,
#endif
  .struct_size = sizeof (SutraPluginInfo),
#if defined(CASE_NO_NAME)
  .name = NULL,
#else
  .name = PLUGIN_NAME,
#endif
  .version = "0.0.1",
  .summary = "A plugin for the registry tests",
  .stages = broken_stages,
};

#if defined(CASE_NULL_INFO)
SUTRA_EXPORT const SutraPluginInfo *sutra_plugin_get_info (void);

const SutraPluginInfo *
sutra_plugin_get_info (void)
{
  (void) broken_plugin;
  return NULL;
}
#else
SUTRA_PLUGIN_DEFINE (broken_plugin)
#endif

#else

/* A shared object, but no sutra plugin: it exports nothing sutra knows. */
SUTRA_EXPORT int not_a_sutra_plugin (void);

int
not_a_sutra_plugin (void)
{
  return broken_params[0].name != NULL && broken_process (NULL, NULL, 0, NULL, NULL) ? 1 : 0;
}

#endif
