/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Where each member of a JSON document starts: line and column of its key. */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

/*
 * json-glib reports positions only for syntax errors; validation errors
 * ("unknown key “wokers”") need them too. This scanner reads the same text
 * once more, tracking lines and columns, and records the position of every
 * object member's key under its path ("/stages/speak/workers"). It assumes
 * the text already parsed: on malformed input it records what it can.
 */
typedef struct _SutraJsonLocations SutraJsonLocations;

SutraJsonLocations *sutra_json_locations_new (const char *text, gsize length);
void sutra_json_locations_free (SutraJsonLocations *locations);

/* Returns TRUE and the 1-based line and column of the member at @path. */
gboolean sutra_json_locations_lookup (const SutraJsonLocations *locations,
                                      const char *path,
                                      guint *line,
                                      guint *column);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (SutraJsonLocations, sutra_json_locations_free)

G_END_DECLS
