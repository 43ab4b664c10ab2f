/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What every plugin ABI shares, and the smallest rows each 2.x minor had. */

#pragma once

#include <sutra/sutra.h>

#include <stddef.h>

G_BEGIN_DECLS

/*
 * Every ABI, 1.0 onwards, begins a plugin's descriptor with its major and
 * minor version: the registry reads those two through this struct before
 * anything else, so that a plugin built for another major is refused with
 * both versions named instead of being misread.
 */
typedef struct
{
  guint16 abi_major;
  guint16 abi_minor;
} SutraAbiStamp;

G_STATIC_ASSERT (offsetof (SutraAbiStamp, abi_major) == offsetof (SutraPluginInfo, abi_major));
G_STATIC_ASSERT (offsetof (SutraAbiStamp, abi_minor) == offsetof (SutraPluginInfo, abi_minor));

/* The end of a struct's last field: the least a row of that minor may take.
 * Not sizeof: a later minor may put its first appended field in the tail
 * padding of an older struct. */
#define SUTRA_ABI_FIELDS_END(type, last) (offsetof (type, last) + sizeof (((type *) NULL)->last))

/*
 * Since 2.0 each descriptor row records its own size (struct_size, its
 * first field; for SutraPluginInfo, after the version stamp), and the
 * registry steps through a table with that size and copies each row into
 * the engine's layout, zero-filling what the row's size does not cover. A
 * row smaller than 2.0's last field is not a 2.x row. A new minor appends
 * fields to the structs and leaves these alone.
 */
#define SUTRA_ABI_2_0_PLUGIN_INFO_SIZE SUTRA_ABI_FIELDS_END (SutraPluginInfo, stages)
#define SUTRA_ABI_2_0_STAGE_INFO_SIZE SUTRA_ABI_FIELDS_END (SutraStageInfo, gather_abort)
#define SUTRA_ABI_2_0_PARAM_INFO_SIZE SUTRA_ABI_FIELDS_END (SutraParamInfo, doc)

G_END_DECLS
