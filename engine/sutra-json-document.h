/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Parsing text that must hold exactly one JSON document. */

#pragma once

#include <json-glib/json-glib.h>

G_BEGIN_DECLS

/*
 * Loads @text (@length bytes, or up to its NUL when -1) into @parser, as
 * json_parser_load_from_data() does, but refuses text in which anything but
 * white space or comments follows the first JSON value.
 *
 * json-glib (1.6) reads a value that follows the first one as a second
 * document: it keeps the first, leaks the second and reports success, so
 * `{"sutra": 1}{"stages": …}` would load as the first object alone. The
 * text is checked before json-glib sees it, so nothing leaks.
 *
 * Returns: %TRUE, or %FALSE with @error set: json-glib's errors, and
 * JSON_PARSER_ERROR_PARSE "<data>:LINE:COLUMN: Parse error: …" (json-glib's
 * form, which callers already rewrite to name their file) for trailing data.
 */
gboolean sutra_json_parser_load_document (JsonParser *parser,
                                          const char *text,
                                          gssize length,
                                          GError **error);

G_END_DECLS
