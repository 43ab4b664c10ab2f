/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Numbers and JSON written for people: the shortest decimal that reads back the same. */

#pragma once

#if !defined(SUTRA_INSIDE) && !defined(SUTRA_COMPILATION)
#error "Include <sutra/sutra.h>, not this header."
#endif

#include <glib.h>
#include <json-glib/json-glib.h>
#include <sutra/sutra-version.h>

G_BEGIN_DECLS

/**
 * SUTRA_DOUBLE_BUFFER_SIZE:
 *
 * The size of a buffer that any double formatted by sutra_format_double()
 * fits in, with its NUL.
 */
#define SUTRA_DOUBLE_BUFFER_SIZE 32

/**
 * sutra_format_double:
 * @buffer: (out caller-allocates): at least %SUTRA_DOUBLE_BUFFER_SIZE bytes
 * @value: the number
 *
 * Writes @value as the shortest decimal that reads back (with
 * g_ascii_strtod() or any JSON parser) as exactly the same double: 0.1 is
 * "0.1", not "0.10000000000000001"; 1234567.5 is "1234567.5", not
 * "1.23457e+06". Numbers from 1e-6 up to below 1e17 are written without
 * an exponent, others as "1.5e+20" or "2e-7". Integral values have no
 * decimal point ("3"). Locale-independent. NaN and infinities, which JSON
 * cannot hold, are "nan", "inf" and "-inf".
 *
 * Returns: (transfer none): @buffer
 *
 * Since: 0.2
 */
SUTRA_API const char *sutra_format_double (char *buffer, double value);

/**
 * sutra_json_to_data:
 * @node: a JSON node
 * @pretty: whether to indent (two spaces) and break lines, as
 *   json_generator_set_pretty() does
 * @length: (out) (optional): the length of the text
 *
 * What json_generator_to_data() writes, with every number that is not an
 * integer written by sutra_format_double() (json-glib 1.6 writes doubles
 * with 17 significant digits, 0.1 as 0.10000000000000001, and 1e20 as
 * "1e+20.0", which is not JSON). An integral double keeps a ".0" (2.0), so
 * that readers which tell integers from doubles read a double back.
 *
 * Returns: (transfer full): the text
 *
 * Since: 0.2
 */
SUTRA_API char *sutra_json_to_data (JsonNode *node, gboolean pretty, gsize *length);

G_END_DECLS
