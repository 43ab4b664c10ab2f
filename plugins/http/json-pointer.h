/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* JSON pointers (RFC 6901): "/choices/0/message/content". */

#pragma once

#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/* Whether @pointer is well formed ("" or "/"-separated tokens with ~0 and ~1
 * the only escapes). */
gboolean json_pointer_is_valid (const char *pointer);

/* Returns: (transfer none) (nullable): the node @pointer names in @root, or
 * NULL when there is none. */
JsonNode *json_pointer_get (JsonNode *root, const char *pointer);

G_END_DECLS
