/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Pins the plugin ABI: struct layouts and enum values of include/sutra/. */

/*
 * A plugin built against sutra 2.0 headers must keep working with every 2.x
 * engine. This file fails to compile, on x86_64, when a field of a public
 * struct moves or a struct changes size, as GStreamer's gstabi.c does; the
 * runtime test reports the same layout so that the suite shows it. Fields
 * may only be appended (and SUTRA_ABI_MINOR bumped): add their offsets and
 * update the sizes here then, never the other offsets, and never the least
 * row sizes of engine/sutra-abi-frozen.h (pinned here too).
 */

#include <sutra/sutra.h>

#include "sutra-abi-frozen.h"

#include <stddef.h>
#include <string.h>

typedef struct
{
  const char *name;
  gsize offset_or_size;
  gsize expected;
} AbiCheck;

#define OFFSET(type, field, value)                 \
  {                                                \
#type "." #field, offsetof(type, field), value \
  }
#define SIZE(type, value)                 \
  {                                       \
    "sizeof " #type, sizeof (type), value \
  }

#if defined(__x86_64__) && defined(__LP64__)
#define SUTRA_ABI_PINNED 1

#define PIN_OFFSET(type, field, value) G_STATIC_ASSERT (offsetof (type, field) == (value))
#define PIN_SIZE(type, value) G_STATIC_ASSERT (sizeof (type) == (value))
#define PIN_SIZE_VALUE(size, value) G_STATIC_ASSERT ((size) == (value))

PIN_OFFSET (SutraPluginInfo, abi_major, 0);
PIN_OFFSET (SutraPluginInfo, abi_minor, 2);
PIN_OFFSET (SutraPluginInfo, struct_size, 4);
PIN_OFFSET (SutraPluginInfo, name, 8);
PIN_OFFSET (SutraPluginInfo, version, 16);
PIN_OFFSET (SutraPluginInfo, summary, 24);
PIN_OFFSET (SutraPluginInfo, stages, 32);
PIN_SIZE (SutraPluginInfo, 40);

PIN_OFFSET (SutraStageInfo, struct_size, 0);
PIN_OFFSET (SutraStageInfo, name, 8);
PIN_OFFSET (SutraStageInfo, kind, 16);
PIN_OFFSET (SutraStageInfo, summary, 24);
PIN_OFFSET (SutraStageInfo, params, 32);
PIN_OFFSET (SutraStageInfo, settings_size, 40);
PIN_OFFSET (SutraStageInfo, threading, 48);
PIN_OFFSET (SutraStageInfo, devices, 52);
PIN_OFFSET (SutraStageInfo, create, 56);
PIN_OFFSET (SutraStageInfo, process, 64);
PIN_OFFSET (SutraStageInfo, finish, 72);
PIN_OFFSET (SutraStageInfo, sync, 80);
PIN_OFFSET (SutraStageInfo, destroy, 88);
PIN_OFFSET (SutraStageInfo, input_media_types, 96);
PIN_OFFSET (SutraStageInfo, output_media_types, 104);
PIN_OFFSET (SutraStageInfo, meta_keys, 112);
PIN_OFFSET (SutraStageInfo, sync_prepare, 120);
PIN_OFFSET (SutraStageInfo, sync_commit, 128);
PIN_OFFSET (SutraStageInfo, gather_begin, 136);
PIN_OFFSET (SutraStageInfo, gather_add, 144);
PIN_OFFSET (SutraStageInfo, gather_end, 152);
PIN_OFFSET (SutraStageInfo, gather_abort, 160);
PIN_OFFSET (SutraStageInfo, cache_content, 168);
PIN_OFFSET (SutraStageInfo, cache_meta_keys, 176);
PIN_OFFSET (SutraStageInfo, cache_salt, 184);
PIN_SIZE (SutraStageInfo, 192);

PIN_OFFSET (SutraParamInfo, struct_size, 0);
PIN_OFFSET (SutraParamInfo, name, 8);
PIN_OFFSET (SutraParamInfo, type, 16);
PIN_OFFSET (SutraParamInfo, offset, 24);
PIN_OFFSET (SutraParamInfo, default_int, 32);
PIN_OFFSET (SutraParamInfo, default_double, 40);
PIN_OFFSET (SutraParamInfo, default_string, 48);
PIN_OFFSET (SutraParamInfo, min, 56);
PIN_OFFSET (SutraParamInfo, max, 64);
PIN_OFFSET (SutraParamInfo, choices, 72);
PIN_OFFSET (SutraParamInfo, flags, 80);
PIN_OFFSET (SutraParamInfo, doc, 88);
PIN_SIZE (SutraParamInfo, 96);

PIN_OFFSET (SutraStageContext, stage_name, 0);
PIN_OFFSET (SutraStageContext, worker_index, 8);
PIN_OFFSET (SutraStageContext, n_workers, 12);
PIN_OFFSET (SutraStageContext, device, 16);
PIN_OFFSET (SutraStageContext, device_index, 24);
PIN_OFFSET (SutraStageContext, work_dir, 32);
PIN_OFFSET (SutraStageContext, resume_state, 40);
PIN_OFFSET (SutraStageContext, max_in_flight, 48);       /* ABI 2.1 */
PIN_OFFSET (SutraStageContext, requests_per_second, 56); /* ABI 2.2 */
PIN_SIZE (SutraStageContext, 64);

/* The least a 2.x row may be: 2.0's fields, which later minors keep. */
PIN_SIZE_VALUE (SUTRA_ABI_2_0_PLUGIN_INFO_SIZE, 40);
PIN_SIZE_VALUE (SUTRA_ABI_2_0_STAGE_INFO_SIZE, 168);
PIN_SIZE_VALUE (SUTRA_ABI_2_0_PARAM_INFO_SIZE, 96);
#endif

/* Enum values are ABI on every architecture: plugins store them. */
G_STATIC_ASSERT (SUTRA_STAGE_SOURCE == 1);
G_STATIC_ASSERT (SUTRA_STAGE_MAP == 2);
G_STATIC_ASSERT (SUTRA_STAGE_SPLIT == 3);
G_STATIC_ASSERT (SUTRA_STAGE_GATHER == 4);
G_STATIC_ASSERT (SUTRA_STAGE_SINK == 5);
G_STATIC_ASSERT (SUTRA_THREADING_SHARED == 1);
G_STATIC_ASSERT (SUTRA_THREADING_PER_WORKER == 2);
G_STATIC_ASSERT (SUTRA_THREADING_SINGLE == 3);
G_STATIC_ASSERT (SUTRA_DEVICE_CPU == 1);
G_STATIC_ASSERT (SUTRA_DEVICE_CUDA == 2);
G_STATIC_ASSERT (SUTRA_DEVICE_CUDA_PREFERRED == 4);
G_STATIC_ASSERT (SUTRA_PARAM_BOOL == 1);
G_STATIC_ASSERT (SUTRA_PARAM_INT == 2);
G_STATIC_ASSERT (SUTRA_PARAM_DOUBLE == 3);
G_STATIC_ASSERT (SUTRA_PARAM_STRING == 4);
G_STATIC_ASSERT (SUTRA_PARAM_ENUM == 5);
G_STATIC_ASSERT (SUTRA_PARAM_REQUIRED == 1);
G_STATIC_ASSERT (SUTRA_PARAM_INPUT_PATH == 2);
G_STATIC_ASSERT (SUTRA_PARAM_OUTPUT_PATH == 4);
G_STATIC_ASSERT (SUTRA_PARAM_OUTPUT_DIR == 8);
G_STATIC_ASSERT (SUTRA_PLUGIN_ERROR_FAILED == 0);
G_STATIC_ASSERT (SUTRA_PLUGIN_ERROR_INVALID_INPUT == 1);
G_STATIC_ASSERT (SUTRA_PLUGIN_ERROR_UNSUPPORTED == 2);

#ifdef SUTRA_ABI_PINNED
static const AbiCheck layout[] = {
  OFFSET (SutraPluginInfo, abi_major, 0),
  OFFSET (SutraPluginInfo, abi_minor, 2),
  OFFSET (SutraPluginInfo, struct_size, 4),
  OFFSET (SutraPluginInfo, name, 8),
  OFFSET (SutraPluginInfo, version, 16),
  OFFSET (SutraPluginInfo, summary, 24),
  OFFSET (SutraPluginInfo, stages, 32),
  SIZE (SutraPluginInfo, 40),
  OFFSET (SutraStageInfo, struct_size, 0),
  OFFSET (SutraStageInfo, name, 8),
  OFFSET (SutraStageInfo, kind, 16),
  OFFSET (SutraStageInfo, summary, 24),
  OFFSET (SutraStageInfo, params, 32),
  OFFSET (SutraStageInfo, settings_size, 40),
  OFFSET (SutraStageInfo, threading, 48),
  OFFSET (SutraStageInfo, devices, 52),
  OFFSET (SutraStageInfo, create, 56),
  OFFSET (SutraStageInfo, process, 64),
  OFFSET (SutraStageInfo, finish, 72),
  OFFSET (SutraStageInfo, sync, 80),
  OFFSET (SutraStageInfo, destroy, 88),
  OFFSET (SutraStageInfo, input_media_types, 96),
  OFFSET (SutraStageInfo, output_media_types, 104),
  OFFSET (SutraStageInfo, meta_keys, 112),
  OFFSET (SutraStageInfo, sync_prepare, 120),
  OFFSET (SutraStageInfo, sync_commit, 128),
  OFFSET (SutraStageInfo, gather_begin, 136),
  OFFSET (SutraStageInfo, gather_add, 144),
  OFFSET (SutraStageInfo, gather_end, 152),
  OFFSET (SutraStageInfo, gather_abort, 160),
  OFFSET (SutraStageInfo, cache_content, 168),
  OFFSET (SutraStageInfo, cache_meta_keys, 176),
  OFFSET (SutraStageInfo, cache_salt, 184),
  SIZE (SutraStageInfo, 192),
  OFFSET (SutraParamInfo, struct_size, 0),
  OFFSET (SutraParamInfo, name, 8),
  OFFSET (SutraParamInfo, type, 16),
  OFFSET (SutraParamInfo, offset, 24),
  OFFSET (SutraParamInfo, default_int, 32),
  OFFSET (SutraParamInfo, default_double, 40),
  OFFSET (SutraParamInfo, default_string, 48),
  OFFSET (SutraParamInfo, min, 56),
  OFFSET (SutraParamInfo, max, 64),
  OFFSET (SutraParamInfo, choices, 72),
  OFFSET (SutraParamInfo, flags, 80),
  OFFSET (SutraParamInfo, doc, 88),
  SIZE (SutraParamInfo, 96),
  OFFSET (SutraStageContext, stage_name, 0),
  OFFSET (SutraStageContext, worker_index, 8),
  OFFSET (SutraStageContext, n_workers, 12),
  OFFSET (SutraStageContext, device, 16),
  OFFSET (SutraStageContext, device_index, 24),
  OFFSET (SutraStageContext, work_dir, 32),
  OFFSET (SutraStageContext, resume_state, 40),
  OFFSET (SutraStageContext, max_in_flight, 48),
  OFFSET (SutraStageContext, requests_per_second, 56),
  SIZE (SutraStageContext, 64),
};

static void
test_abi_layout (gconstpointer data)
{
  const AbiCheck *check = data;

  g_test_summary ("The public structs keep their x86_64 layout (append only)");
  g_test_message ("%s: %" G_GSIZE_FORMAT, check->name, check->offset_or_size);
  g_assert_cmpuint (check->offset_or_size, ==, check->expected);
}
#else
static void
test_abi_layout_unpinned (void)
{
  g_test_summary ("The struct layout is pinned on x86_64 only");
  g_test_skip ("the layout is pinned for x86_64 only");
}
#endif

static void
test_abi_version (void)
{
  g_test_summary ("The ABI this engine speaks is 2.3 (2.1 appended SutraStageInfo's "
                  "content-cache fields and SutraStageContext.max_in_flight, 2.2 "
                  "SutraStageContext.requests_per_second, 2.3 payloads in files); a change here "
                  "is a deliberate ABI bump that must also update this file");
  g_assert_cmpint (SUTRA_ABI_MAJOR, ==, 2);
  g_assert_cmpint (SUTRA_ABI_MINOR, ==, 3);
  g_assert_cmpstr (SUTRA_PLUGIN_ENTRY_POINT, ==, "sutra_plugin_get_info");
}

static void
test_abi_param_row_macros (void)
{
  typedef struct
  {
    gboolean b;
    gint64 i;
    double d;
    const char *s;
    const char *e;
  } Settings;
  static const char *const choices[] = { "x", "y", NULL };
  static const SutraParamInfo rows[] = {
    SUTRA_PARAM_ROW_BOOL ("b", Settings, b, TRUE, 0, "doc"),
    SUTRA_PARAM_ROW_INT ("i", Settings, i, 5, 1, 10, SUTRA_PARAM_REQUIRED, "doc"),
    SUTRA_PARAM_ROW_DOUBLE ("d", Settings, d, 0.5, 0, 1, 0, "doc"),
    SUTRA_PARAM_ROW_STRING ("s", Settings, s, "def", SUTRA_PARAM_INPUT_PATH, "doc"),
    SUTRA_PARAM_ROW_ENUM ("e", Settings, e, "y", choices, 0, "doc"),
    SUTRA_PARAM_ROW_END,
  };

  g_test_summary ("The SUTRA_PARAM_ROW_* macros put each value in its field and record "
                  "the row's size");
  for (gsize i = 0; i < G_N_ELEMENTS (rows); i++)
    g_assert_cmpuint (rows[i].struct_size, ==, sizeof (SutraParamInfo));
  g_assert_cmpint (rows[0].type, ==, SUTRA_PARAM_BOOL);
  g_assert_cmpint (rows[0].default_int, ==, TRUE);
  g_assert_cmpfloat (rows[0].max, ==, 1);
  g_assert_cmpuint (rows[1].offset, ==, G_STRUCT_OFFSET (Settings, i));
  g_assert_cmpint (rows[1].default_int, ==, 5);
  g_assert_cmpfloat (rows[1].min, ==, 1);
  g_assert_cmpfloat (rows[1].max, ==, 10);
  g_assert_cmpuint (rows[1].flags, ==, SUTRA_PARAM_REQUIRED);
  g_assert_cmpfloat (rows[2].default_double, ==, 0.5);
  g_assert_cmpuint (rows[2].offset, ==, G_STRUCT_OFFSET (Settings, d));
  g_assert_cmpstr (rows[3].default_string, ==, "def");
  g_assert_cmpuint (rows[3].flags, ==, SUTRA_PARAM_INPUT_PATH);
  g_assert_true (rows[4].choices == choices);
  g_assert_cmpstr (rows[4].default_string, ==, "y");
  g_assert_cmpstr (rows[4].doc, ==, "doc");
  g_assert_null (rows[5].name);
}

static gboolean
no_process (gpointer instance,
            SutraItem *const *items,
            guint n_items,
            SutraOutput *output,
            GError **error)
{
  return TRUE;
}

static void
test_abi_info_init_macros (void)
{
  static const SutraStageInfo stages[] = {
    { SUTRA_STAGE_INFO_INIT, .name = "a", .process = no_process },
    SUTRA_STAGE_INFO_END,
  };
  static const SutraPluginInfo info = {
    SUTRA_PLUGIN_INFO_INIT,
    .name = "p",
    .stages = stages,
  };

  g_test_summary ("SUTRA_PLUGIN_INFO_INIT, SUTRA_STAGE_INFO_INIT and SUTRA_STAGE_INFO_END "
                  "record the ABI and each row's size, and leave the other fields to the "
                  "initialisers that follow");
  g_assert_cmpuint (info.abi_major, ==, SUTRA_ABI_MAJOR);
  g_assert_cmpuint (info.abi_minor, ==, SUTRA_ABI_MINOR);
  g_assert_cmpuint (info.struct_size, ==, sizeof (SutraPluginInfo));
  g_assert_cmpstr (info.name, ==, "p");
  g_assert_cmpuint (stages[0].struct_size, ==, sizeof (SutraStageInfo));
  g_assert_cmpstr (stages[0].name, ==, "a");
  g_assert_true (stages[0].process == no_process);
  g_assert_null (stages[0].gather_begin);
  g_assert_cmpuint (stages[1].struct_size, ==, sizeof (SutraStageInfo));
  g_assert_null (stages[1].name);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/engine/abi/version", test_abi_version);
  g_test_add_func ("/engine/abi/param-row-macros", test_abi_param_row_macros);
  g_test_add_func ("/engine/abi/info-init-macros", test_abi_info_init_macros);
#ifdef SUTRA_ABI_PINNED
  for (gsize i = 0; i < G_N_ELEMENTS (layout); i++)
    {
      g_autofree char *path = g_strdup_printf ("/engine/abi/layout/%s", layout[i].name);

      g_strdelimit (path + strlen ("/engine/abi/layout/"), ". ", '-');
      g_test_add_data_func (path, &layout[i], test_abi_layout);
    }
#else
  g_test_add_func ("/engine/abi/layout", test_abi_layout_unpinned);
#endif

  return g_test_run ();
}
