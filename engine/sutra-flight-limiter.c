/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* SutraFlightLimiter: the places a stage's workers share, taken per batch
 * before the plugin's call and given back after it. */

#include "sutra-flight-limiter.h"

struct _SutraFlightLimiter
{
  guint max_in_flight; /* 0: no bound */
  GMutex lock;
  GCond freed; /* places were given back */
  guint in_flight;
  guint peak;
};

SutraFlightLimiter *
sutra_flight_limiter_new (guint max_in_flight)
{
  SutraFlightLimiter *limiter = g_new0 (SutraFlightLimiter, 1);

  limiter->max_in_flight = max_in_flight;
  g_mutex_init (&limiter->lock);
  g_cond_init (&limiter->freed);
  return limiter;
}

void
sutra_flight_limiter_free (SutraFlightLimiter *limiter)
{
  g_cond_clear (&limiter->freed);
  g_mutex_clear (&limiter->lock);
  g_free (limiter);
}

gboolean
sutra_flight_limiter_acquire (SutraFlightLimiter *limiter,
                              guint n_items,
                              const gint *cancelled,
                              guint *n_taken)
{
  guint wanted = limiter->max_in_flight > 0 ? MIN (n_items, limiter->max_in_flight) : 0;

  *n_taken = 0;
  if (wanted == 0)
    return TRUE;
  g_mutex_lock (&limiter->lock);
  while (limiter->in_flight + wanted > limiter->max_in_flight)
    {
      if (cancelled != NULL && g_atomic_int_get (cancelled))
        {
          g_mutex_unlock (&limiter->lock);
          return FALSE;
        }
      /* A run that starts abandoning does not signal here: look again
       * every 100 ms, as the rate limiter's waits do. */
      g_cond_wait_until (&limiter->freed, &limiter->lock,
                         g_get_monotonic_time () + 100 * G_TIME_SPAN_MILLISECOND);
    }
  limiter->in_flight += wanted;
  limiter->peak = MAX (limiter->peak, limiter->in_flight);
  g_mutex_unlock (&limiter->lock);
  *n_taken = wanted;
  return TRUE;
}

void
sutra_flight_limiter_release (SutraFlightLimiter *limiter, guint n_taken)
{
  if (n_taken == 0)
    return;
  g_mutex_lock (&limiter->lock);
  /* Never below zero, even if a caller gave back more than it took. */
  limiter->in_flight -= MIN (n_taken, limiter->in_flight);
  /* Waiters want different counts: wake them all, each looks again. */
  g_cond_broadcast (&limiter->freed);
  g_mutex_unlock (&limiter->lock);
}

guint
sutra_flight_limiter_get_peak (SutraFlightLimiter *limiter)
{
  guint peak;

  g_mutex_lock (&limiter->lock);
  peak = limiter->peak;
  g_mutex_unlock (&limiter->lock);
  return peak;
}
