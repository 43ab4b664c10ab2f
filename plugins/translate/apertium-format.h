/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Plain text to Apertium's stream format and back: what apertium-destxt and
 * apertium-retxt do, in process, so that no deformatter is started per
 * chunk. */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Appends @text (@length bytes of UTF-8, no NUL) to @out in stream format:
 * the characters Apertium reads as markup (\ ^ $ [ ] { } < > @ / and the
 * NUL-flush byte never occurs) are escaped with a backslash, and every run
 * of line breaks goes into a superblank (`[\n\n]`) that the pipeline
 * passes through untouched, so paragraph marks survive. The frame ends
 * with an empty superblank, without which the analyser keeps the last word
 * (a full stop) back until more text comes. */
void apertium_deformat (GString *out, const char *text, gsize length);

/* Turns one translated frame back into plain text: superblanks give back
 * their content, escapes their character. */
char *apertium_reformat (const char *stream, gsize length, gsize *out_length);

G_END_DECLS
