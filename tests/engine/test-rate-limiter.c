/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests of engine/sutra-rate-limiter.c: parsing rates, and the schedule,
 * on a clock the test gives (no sleeping, no timing). */

#include "sutra-rate-limiter.h"

static JsonNode *
parse (const char *json)
{
  g_autoptr (JsonParser) parser = json_parser_new ();
  g_autoptr (GError) error = NULL;

  json_parser_load_from_data (parser, json, -1, &error);
  g_assert_no_error (error);
  return json_node_copy (json_parser_get_root (parser));
}

static void
test_rate_parse (void)
{
  static const struct
  {
    const char *json;
    double requests_per_second;
    double tokens_per_second;
  } good[] = {
    { "5", 5, 0 },
    { "0.5", 0.5, 0 },
    { "\"10/s\"", 10, 0 },
    { "\"600/min\"", 10, 0 },
    { "\"7200 / h\"", 2, 0 },
    { "{\"requests\": \"60/min\", \"tokens\": \"90000/min\"}", 1, 1500 },
    { "{\"tokens\": 100}", 0, 100 },
  };
  static const char *const bad[] = { "0",
                                     "-1",
                                     "\"fast\"",
                                     "\"10/week\"",
                                     "\"/min\"",
                                     "[1]",
                                     "{\"requests\": \"x\"}",
                                     "{\"bytes\": 1}",
                                     "true" };

  g_test_summary ("rate_limit takes items per second, N/s, N/min, N/h, or requests and tokens; "
                  "anything else is refused with what is expected");
  for (guint i = 0; i < G_N_ELEMENTS (good); i++)
    {
      g_autoptr (JsonNode) node = parse (good[i].json);
      SutraRateLimits limits;
      g_autofree char *message = NULL;

      g_assert_true (sutra_rate_limits_parse (node, &limits, &message));
      g_assert_cmpfloat_with_epsilon (limits.requests_per_second, good[i].requests_per_second,
                                      1e-9);
      g_assert_cmpfloat_with_epsilon (limits.tokens_per_second, good[i].tokens_per_second, 1e-9);
    }
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr (JsonNode) node = parse (bad[i]);
      SutraRateLimits limits;
      g_autofree char *message = NULL;

      g_assert_false (sutra_rate_limits_parse (node, &limits, &message));
      g_assert_nonnull (strstr (message, "600/min"));
    }
}

static void
test_rate_requests_shared (void)
{
  SutraRateLimits limits = { .requests_per_second = 2 };
  g_autoptr (SutraRateLimiter) limiter = sutra_rate_limiter_new (&limits);
  gint64 t0 = 1000 * G_USEC_PER_SEC;

  g_test_summary ("Requests are spaced at the rate whoever reserves them: two workers asking "
                  "at once share one schedule");
  g_assert_cmpint (sutra_rate_limiter_reserve (limiter, 1, t0), ==, t0);
  g_assert_cmpint (sutra_rate_limiter_reserve (limiter, 1, t0), ==, t0 + 500000);
  /* A batch of 4 takes 2 s of the schedule. */
  g_assert_cmpint (sutra_rate_limiter_reserve (limiter, 4, t0), ==, t0 + 1000000);
  g_assert_cmpint (sutra_rate_limiter_reserve (limiter, 1, t0), ==, t0 + 3000000);
  /* After a quiet spell there is no catching up: the schedule starts now. */
  g_assert_cmpint (sutra_rate_limiter_reserve (limiter, 1, t0 + 60 * G_USEC_PER_SEC), ==,
                   t0 + 60 * G_USEC_PER_SEC);
}

static void
test_rate_tokens (void)
{
  SutraRateLimits limits = { .tokens_per_second = 100, .token_burst_seconds = 60 };
  g_autoptr (SutraRateLimiter) limiter = sutra_rate_limiter_new (&limits);
  gint64 t0 = 1000 * G_USEC_PER_SEC;

  g_test_summary ("Tokens may run a period's worth ahead, then requests wait until the debt "
                  "is paid off");
  g_assert_true (sutra_rate_limiter_counts_tokens (limiter));
  g_assert_cmpint (sutra_rate_limiter_reserve (limiter, 1, t0), ==, t0);
  /* 6,000 tokens (a minute's worth at 100/s): the next may still go. */
  sutra_rate_limiter_charge_tokens (limiter, 6000, t0);
  g_assert_cmpint (sutra_rate_limiter_reserve (limiter, 1, t0), ==, t0);
  /* 3,000 more: 30 s of debt past the allowance. */
  sutra_rate_limiter_charge_tokens (limiter, 3000, t0);
  g_assert_cmpint (sutra_rate_limiter_reserve (limiter, 1, t0), ==, t0 + 30 * G_USEC_PER_SEC);
}

static void
test_rate_none (void)
{
  SutraRateLimits limits = { 0 };
  g_autoptr (SutraRateLimiter) limiter = sutra_rate_limiter_new (&limits);

  g_test_summary ("Without limits nothing waits");
  g_assert_false (sutra_rate_limiter_counts_tokens (limiter));
  for (guint i = 0; i < 100; i++)
    g_assert_cmpint (sutra_rate_limiter_reserve (limiter, 64, 5), ==, 5);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/rate-limiter/parse", test_rate_parse);
  g_test_add_func ("/rate-limiter/requests-shared", test_rate_requests_shared);
  g_test_add_func ("/rate-limiter/tokens", test_rate_tokens);
  g_test_add_func ("/rate-limiter/none", test_rate_none);
  return g_test_run ();
}
