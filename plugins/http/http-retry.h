/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* How long a server asks a client to wait: HTTP's Retry-After and the
 * x-ratelimit-* headers model APIs send. */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* The wait a Retry-After value asks for, in milliseconds, at @now_unix
 * (seconds since the epoch): delay-seconds ("120", of any size: clamped to
 * @max_ms) or an HTTP date ("Wed, 21 Oct 2015 07:28:00 GMT"; a date in the
 * past means 0). Returns -1 when @value is neither. */
gint64 http_retry_after_ms (const char *value, gint64 now_unix, gint64 max_ms);

/* The wait an x-ratelimit-reset-requests / -tokens value asks for, in
 * milliseconds: OpenAI's durations ("1s", "6m0s", "20ms", "1h2m3.5s") or
 * plain seconds ("0.5"). Returns -1 when @value is neither. */
gint64 http_ratelimit_reset_ms (const char *value, gint64 max_ms);

G_END_DECLS
