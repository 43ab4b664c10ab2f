/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* ISO 639-1 (two letters, what books and espeak-ng use) and ISO 639-3
 * (three letters, what Apertium names its pairs with). */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* The three-letter code for a language tag ("en", "en-GB", "eng"), or NULL
 * when the language is not in the table. */
const char *language_to_iso639_3 (const char *tag);

/* The two-letter code for a three-letter one, or NULL. */
const char *language_to_iso639_1 (const char *code3);

G_END_DECLS
