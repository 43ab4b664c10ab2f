/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* SutraFlightLimiter: a stage's `max_in_flight`, one bound on the items in
 * its plugin's hands at once, shared by all of its workers (a counting
 * semaphore, as the rate limiter is one schedule). */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _SutraFlightLimiter SutraFlightLimiter;

/* A limiter of @max_in_flight items; 0 means no bound (every acquire
 * succeeds at once, and nothing is counted). */
SutraFlightLimiter *sutra_flight_limiter_new (guint max_in_flight);
void sutra_flight_limiter_free (SutraFlightLimiter *limiter);

/* Takes @n_items places, all or none, waiting until that many are free, so
 * that two workers that each took part of what they need never wait for
 * each other. @n_items above the bound is taken as the whole bound (the
 * pipeline caps a stage's batches so that this does not happen). Returns
 * FALSE, having taken nothing, when *@cancelled becomes non-zero while it
 * waits: the run is dropping its work in flight. Returns the places taken
 * in *@n_taken, to give back with sutra_flight_limiter_release(). */
gboolean sutra_flight_limiter_acquire (SutraFlightLimiter *limiter,
                                       guint n_items,
                                       const gint *cancelled,
                                       guint *n_taken);

/* Gives back @n_taken places and wakes the workers waiting for them. */
void sutra_flight_limiter_release (SutraFlightLimiter *limiter, guint n_taken);

/* The most items that were in flight at once so far (for tests and
 * reports). */
guint sutra_flight_limiter_get_peak (SutraFlightLimiter *limiter);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (SutraFlightLimiter, sutra_flight_limiter_free)

G_END_DECLS
