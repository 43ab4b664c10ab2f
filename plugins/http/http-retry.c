/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Retry-After and x-ratelimit-reset values. */

#include "http-retry.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

gint64
http_retry_after_ms (const char *value, gint64 now_unix, gint64 max_ms)
{
  const char *p = value;
  gint64 seconds = 0;
  g_autoptr (GDateTime) date = NULL;

  while (*p == ' ' || *p == '\t')
    p++;
  if (g_ascii_isdigit (*p))
    {
      /* Any number of digits: a server may send a huge one; clamp rather
       * than overflow. */
      for (; g_ascii_isdigit (*p); p++)
        {
          /* Compared before it is multiplied: no overflow, however long. */
          if (seconds > (max_ms / 1000 - (*p - '0')) / 10 ||
              (seconds = seconds * 10 + (*p - '0')) * 1000 >= max_ms)
            {
              while (g_ascii_isdigit (*p))
                p++;
              while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
                p++;
              return *p == '\0' ? max_ms : -1;
            }
        }
      while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
        p++;
      return *p == '\0' ? MIN (seconds * 1000, max_ms) : -1;
    }

  /* An HTTP date (RFC 9110 IMF-fixdate, the only form servers must send):
   * "Sun, 06 Nov 1994 08:49:37 GMT". */
  {
    char weekday[4], month[4], zone[4];
    int day, year, hour, minute, second;
    static const char *const months[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                          "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
    int month_number = 0;

    if (sscanf (p, "%3s %d %3s %d %d:%d:%d %3s", weekday, &day, month, &year, &hour, &minute,
                &second, zone) != 8 ||
        strcmp (zone, "GMT") != 0)
      return -1;
    for (guint i = 0; i < G_N_ELEMENTS (months); i++)
      if (g_ascii_strcasecmp (month, months[i]) == 0)
        month_number = i + 1;
    if (month_number == 0)
      return -1;
    date = g_date_time_new_utc (year, month_number, day, hour, minute, second);
    if (date == NULL)
      return -1;
    seconds = g_date_time_to_unix (date) - now_unix;
    if (seconds <= 0)
      return 0;
    return seconds >= max_ms / 1000 ? max_ms : seconds * 1000;
  }
}

gint64
http_ratelimit_reset_ms (const char *value, gint64 max_ms)
{
  const char *p = value;
  double total_ms = 0;
  gboolean any = FALSE;

  while (*p == ' ')
    p++;
  while (*p != '\0' && *p != '\r' && *p != '\n')
    {
      char *end;
      double number = g_ascii_strtod (p, &end);

      if (end == p || number < 0)
        return -1;
      p = end;
      if (g_str_has_prefix (p, "ms"))
        total_ms += number, p += 2;
      else if (*p == 'h')
        total_ms += number * 3600e3, p++;
      else if (*p == 'm')
        total_ms += number * 60e3, p++;
      else if (*p == 's')
        total_ms += number * 1e3, p++;
      else if (*p == '\0' || *p == ' ' || *p == '\r' || *p == '\n')
        total_ms += number * 1e3;
      else
        return -1;
      any = TRUE;
      while (*p == ' ')
        p++;
    }
  if (!any)
    return -1;
  return total_ms >= (double) max_ms ? max_ms : (gint64) (total_ms + 0.5);
}
