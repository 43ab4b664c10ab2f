/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Where each member of a JSON document starts: line and column of its key. */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

/*
 * json-glib reports positions only for syntax errors; validation errors
 * ("unknown key “wokers”") need them too. This scanner reads the same text
 * once more, tracking lines and columns, and records the position of every
 * object member's key under its path ("/stages/speak/workers") and of every
 * array element under its index ("/stages/speak/devices/1"). It assumes the
 * text already parsed: on malformed input it records what it can.
 *
 * It reads text as the json-glib it is built with does (see
 * sutra-json-locations.c: strings, and what counts as a comment), keeps its
 * state in an explicit stack, never recursion, and stores each key once, so
 * time and memory are linear in the text whatever its nesting.
 */
typedef struct _SutraJsonLocations SutraJsonLocations;

/* What sutra reads from a user as JSON (pipeline files, --set values):
 * pipeline files are small and shallow, and json-glib's parser recurses once
 * per level, so deeper or larger texts are refused before it sees them. */
#define SUTRA_JSON_MAX_DEPTH 64
#define SUTRA_JSON_MAX_BYTES (16 * 1024 * 1024)

SutraJsonLocations *sutra_json_locations_new (const char *text, gsize length);
void sutra_json_locations_free (SutraJsonLocations *locations);

/* Returns TRUE and the 1-based line and column of the member at @path. */
gboolean sutra_json_locations_lookup (const SutraJsonLocations *locations,
                                      const char *path,
                                      guint *line,
                                      guint *column);

/* Returns TRUE when no array or object in @text lies more than @max_depth
 * levels deep (the outermost one is level 1); else FALSE, and the 1-based
 * line and column of the first "[" or "{" past the limit. Linear time,
 * constant memory, no recursion: safe to run on any text before parsing
 * it. Brackets are counted where json-glib would read them as structure
 * (not in strings or comments), so a text that passes cannot make
 * json-glib nest deeper. */
gboolean sutra_json_check_depth (const char *text,
                                 gsize length,
                                 guint max_depth,
                                 guint *line,
                                 guint *column);

/* The 1-based line and column of byte @offset of @text (characters, not
 * bytes, as in the other positions). */
void sutra_json_position_at (const char *text, gsize offset, guint *line, guint *column);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (SutraJsonLocations, sutra_json_locations_free)

G_END_DECLS
