/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* SutraRateLimiter: requests and tokens per period, shared by a stage's
 * workers, as a virtual schedule (the generic cell rate algorithm): each
 * reservation moves a "theoretical arrival time" forward, and a caller
 * waits until the schedule reaches it. */

#include "sutra-rate-limiter.h"

#include <stdlib.h>
#include <string.h>

struct _SutraRateLimiter
{
  SutraRateLimits limits;
  GMutex lock;
  gint64 requests_at_us; /* when the next request may go */
  gint64 tokens_at_us;   /* when the tokens charged so far are paid off */
};

/* "600/min" and friends; a bare number is per second. */
static gboolean
parse_rate (JsonNode *node, double *per_second, double *period_seconds)
{
  const char *text;
  char *end;
  double count;

  if (JSON_NODE_HOLDS_VALUE (node) && (json_node_get_value_type (node) == G_TYPE_INT64 ||
                                       json_node_get_value_type (node) == G_TYPE_DOUBLE))
    {
      *per_second = json_node_get_double (node);
      *period_seconds = 1;
      return *per_second > 0;
    }
  if (!JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_STRING)
    return FALSE;
  text = json_node_get_string (node);
  count = g_ascii_strtod (text, &end);
  if (end == text || count <= 0)
    return FALSE;
  while (*end == ' ')
    end++;
  if (*end == '\0')
    *period_seconds = 1;
  else if (*end++ != '/')
    return FALSE;
  else
    {
      while (*end == ' ')
        end++;
      if (g_str_equal (end, "s") || g_str_equal (end, "sec") || g_str_equal (end, "second"))
        *period_seconds = 1;
      else if (g_str_equal (end, "min") || g_str_equal (end, "m") || g_str_equal (end, "minute"))
        *period_seconds = 60;
      else if (g_str_equal (end, "h") || g_str_equal (end, "hour"))
        *period_seconds = 3600;
      else if (g_str_equal (end, "day") || g_str_equal (end, "d"))
        *period_seconds = 86400;
      else
        return FALSE;
    }
  *per_second = count / *period_seconds;
  return TRUE;
}

gboolean
sutra_rate_limits_parse (JsonNode *node, SutraRateLimits *limits, char **message)
{
  static const char expected[] =
    "expected items per second (a number), a rate such as \"600/min\" (per s, min, h or day), "
    "or {\"requests\": \"600/min\", \"tokens\": \"90000/min\"}";
  double period;

  memset (limits, 0, sizeof *limits);
  if (JSON_NODE_HOLDS_OBJECT (node))
    {
      JsonObject *object = json_node_get_object (node);
      JsonObjectIter iter;
      const char *name;
      JsonNode *member;

      json_object_iter_init (&iter, object);
      while (json_object_iter_next (&iter, &name, &member))
        {
          gboolean ok;

          if (g_str_equal (name, "requests"))
            ok = parse_rate (member, &limits->requests_per_second, &period);
          else if (g_str_equal (name, "tokens"))
            {
              ok = parse_rate (member, &limits->tokens_per_second, &period);
              limits->token_burst_seconds = period;
            }
          else
            {
              *message = g_strdup_printf ("unknown member “%s” (%s)", name, expected);
              return FALSE;
            }
          if (!ok)
            {
              *message = g_strdup_printf ("“%s” is not a rate (%s)", name, expected);
              return FALSE;
            }
        }
      return TRUE;
    }
  if (!parse_rate (node, &limits->requests_per_second, &period))
    {
      *message = g_strdup (expected);
      return FALSE;
    }
  return TRUE;
}

SutraRateLimiter *
sutra_rate_limiter_new (const SutraRateLimits *limits)
{
  SutraRateLimiter *limiter = g_new0 (SutraRateLimiter, 1);

  limiter->limits = *limits;
  g_mutex_init (&limiter->lock);
  return limiter;
}

void
sutra_rate_limiter_free (SutraRateLimiter *limiter)
{
  g_mutex_clear (&limiter->lock);
  g_free (limiter);
}

gint64
sutra_rate_limiter_reserve (SutraRateLimiter *limiter, guint n_requests, gint64 now_us)
{
  const SutraRateLimits *limits = &limiter->limits;
  gint64 start = now_us;

  g_mutex_lock (&limiter->lock);
  if (limits->tokens_per_second > 0)
    {
      /* Tokens may run a period's worth ahead (the limit was given per
       * period), then wait for the debt to come down. */
      gint64 burst_us = (gint64) (limits->token_burst_seconds * G_USEC_PER_SEC);

      start = MAX (start, limiter->tokens_at_us - burst_us);
    }
  if (limits->requests_per_second > 0 && n_requests > 0)
    {
      start = MAX (start, limiter->requests_at_us);
      limiter->requests_at_us =
        start + (gint64) (n_requests * (double) G_USEC_PER_SEC / limits->requests_per_second);
    }
  g_mutex_unlock (&limiter->lock);
  return start;
}

void
sutra_rate_limiter_charge_tokens (SutraRateLimiter *limiter, guint64 n_tokens, gint64 now_us)
{
  if (limiter->limits.tokens_per_second <= 0 || n_tokens == 0)
    return;
  g_mutex_lock (&limiter->lock);
  limiter->tokens_at_us =
    MAX (limiter->tokens_at_us, now_us) +
    (gint64) ((double) n_tokens * G_USEC_PER_SEC / limiter->limits.tokens_per_second);
  g_mutex_unlock (&limiter->lock);
}

gboolean
sutra_rate_limiter_counts_tokens (SutraRateLimiter *limiter)
{
  return limiter->limits.tokens_per_second > 0;
}

void
sutra_rate_limiter_wait (SutraRateLimiter *limiter, guint n_requests, const gint *cancelled)
{
  gint64 until = sutra_rate_limiter_reserve (limiter, n_requests, g_get_monotonic_time ());

  for (;;)
    {
      gint64 left = until - g_get_monotonic_time ();

      if (left <= 0 || (cancelled != NULL && g_atomic_int_get (cancelled)))
        return;
      g_usleep ((gulong) MIN (left, 100 * 1000));
    }
}
