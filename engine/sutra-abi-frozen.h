/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The descriptor structs as older ABI minors laid them out, frozen. */

#pragma once

#include <sutra/sutra.h>

#include <stddef.h>

G_BEGIN_DECLS

/*
 * A plugin's stage and parameter tables are arrays: the engine must step
 * through them with the struct size the plugin was compiled with, not its
 * own, or every row after the first is misread as soon as a field is
 * appended. These are exact copies of each older minor's structs, so that
 * sizeof gives the plugin's stride; they never change once an ABI minor is
 * released. A new minor adds its copy of the previous layout here, a row to
 * the registry's layout table, and assertions below.
 *
 * The fixture plugin tests/engine/plugins/abi-1-0.c is built with these
 * types, as a plugin compiled against the 1.0 headers was.
 */

/* ABI 1.0: SutraParamInfo has not changed since, but has its own copy so
 * that a later change to it cannot move the 1.0 stride. */
typedef struct
{
  const char *name;
  SutraParamType type;
  gsize offset;
  gint64 default_int;
  double default_double;
  const char *default_string;
  double min;
  double max;
  const char *const *choices;
  guint flags;
  const char *doc;
} SutraParamInfo_1_0;

typedef struct
{
  const char *name;
  SutraStageKind kind;
  const char *summary;
  const SutraParamInfo_1_0 *params;
  gsize settings_size;
  SutraThreading threading;
  guint devices;
  gpointer (*create) (const SutraStageContext *context, gconstpointer settings, GError **error);
  gboolean (*process) (gpointer instance,
                       SutraItem *const *items,
                       guint n_items,
                       SutraOutput *output,
                       GError **error);
  gboolean (*finish) (gpointer instance, SutraOutput *output, GError **error);
  gboolean (*sync) (gpointer instance, char **state, GError **error);
  void (*destroy) (gpointer instance);
} SutraStageInfo_1_0;

typedef struct
{
  guint16 abi_major;
  guint16 abi_minor;
  const char *name;
  const char *version;
  const char *summary;
  const SutraStageInfo_1_0 *stages;
} SutraPluginInfo_1_0;

/* The end of a struct's last field: what a copy of an older row may take.
 * Not sizeof: the tail padding of an older struct may lie where a newer
 * minor put its first appended field. */
#define SUTRA_ABI_FIELDS_END(type, last) (offsetof (type, last) + sizeof (((type *) NULL)->last))

/* Each frozen field sits where the current struct has it: the copies are
 * prefixes of today's layout, which is what makes appending safe. */
#define SUTRA_ABI_SAME_OFFSET(old, now, field) \
  G_STATIC_ASSERT (offsetof (old, field) == offsetof (now, field))

SUTRA_ABI_SAME_OFFSET (SutraParamInfo_1_0, SutraParamInfo, name);
SUTRA_ABI_SAME_OFFSET (SutraParamInfo_1_0, SutraParamInfo, type);
SUTRA_ABI_SAME_OFFSET (SutraParamInfo_1_0, SutraParamInfo, offset);
SUTRA_ABI_SAME_OFFSET (SutraParamInfo_1_0, SutraParamInfo, default_int);
SUTRA_ABI_SAME_OFFSET (SutraParamInfo_1_0, SutraParamInfo, default_double);
SUTRA_ABI_SAME_OFFSET (SutraParamInfo_1_0, SutraParamInfo, default_string);
SUTRA_ABI_SAME_OFFSET (SutraParamInfo_1_0, SutraParamInfo, min);
SUTRA_ABI_SAME_OFFSET (SutraParamInfo_1_0, SutraParamInfo, max);
SUTRA_ABI_SAME_OFFSET (SutraParamInfo_1_0, SutraParamInfo, choices);
SUTRA_ABI_SAME_OFFSET (SutraParamInfo_1_0, SutraParamInfo, flags);
SUTRA_ABI_SAME_OFFSET (SutraParamInfo_1_0, SutraParamInfo, doc);

SUTRA_ABI_SAME_OFFSET (SutraStageInfo_1_0, SutraStageInfo, name);
SUTRA_ABI_SAME_OFFSET (SutraStageInfo_1_0, SutraStageInfo, kind);
SUTRA_ABI_SAME_OFFSET (SutraStageInfo_1_0, SutraStageInfo, summary);
SUTRA_ABI_SAME_OFFSET (SutraStageInfo_1_0, SutraStageInfo, params);
SUTRA_ABI_SAME_OFFSET (SutraStageInfo_1_0, SutraStageInfo, settings_size);
SUTRA_ABI_SAME_OFFSET (SutraStageInfo_1_0, SutraStageInfo, threading);
SUTRA_ABI_SAME_OFFSET (SutraStageInfo_1_0, SutraStageInfo, devices);
SUTRA_ABI_SAME_OFFSET (SutraStageInfo_1_0, SutraStageInfo, create);
SUTRA_ABI_SAME_OFFSET (SutraStageInfo_1_0, SutraStageInfo, process);
SUTRA_ABI_SAME_OFFSET (SutraStageInfo_1_0, SutraStageInfo, finish);
SUTRA_ABI_SAME_OFFSET (SutraStageInfo_1_0, SutraStageInfo, sync);
SUTRA_ABI_SAME_OFFSET (SutraStageInfo_1_0, SutraStageInfo, destroy);
/* 1.1 appended its fields after 1.0's last one, not into its padding. */
G_STATIC_ASSERT (offsetof (SutraStageInfo, input_media_types) >=
                 SUTRA_ABI_FIELDS_END (SutraStageInfo_1_0, destroy));

SUTRA_ABI_SAME_OFFSET (SutraPluginInfo_1_0, SutraPluginInfo, abi_major);
SUTRA_ABI_SAME_OFFSET (SutraPluginInfo_1_0, SutraPluginInfo, abi_minor);
SUTRA_ABI_SAME_OFFSET (SutraPluginInfo_1_0, SutraPluginInfo, name);
SUTRA_ABI_SAME_OFFSET (SutraPluginInfo_1_0, SutraPluginInfo, version);
SUTRA_ABI_SAME_OFFSET (SutraPluginInfo_1_0, SutraPluginInfo, summary);
SUTRA_ABI_SAME_OFFSET (SutraPluginInfo_1_0, SutraPluginInfo, stages);

G_END_DECLS
