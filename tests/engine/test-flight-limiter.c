/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests of engine/sutra-flight-limiter.c: one bound shared by threads,
 * places taken all or none, and a wait that a stopping run ends. No timed
 * assertions: what is checked is what was in flight, never how fast. */

#include "sutra-flight-limiter.h"

static void
test_flight_unbounded (void)
{
  g_autoptr (SutraFlightLimiter) limiter = sutra_flight_limiter_new (0);
  guint taken = 99;

  g_test_summary ("Without max_in_flight every call goes at once and nothing is counted");
  for (guint i = 0; i < 1000; i++)
    {
      g_assert_true (sutra_flight_limiter_acquire (limiter, 1000, NULL, &taken));
      g_assert_cmpuint (taken, ==, 0);
    }
  sutra_flight_limiter_release (limiter, taken);
  g_assert_cmpuint (sutra_flight_limiter_get_peak (limiter), ==, 0);
}

static void
test_flight_clamps_to_bound (void)
{
  g_autoptr (SutraFlightLimiter) limiter = sutra_flight_limiter_new (4);
  gint cancelled = 1;
  guint taken = 0, more = 99;

  g_test_summary ("A call on more items than the bound takes the whole bound (it would never "
                  "fit otherwise), and then nothing else fits until it is given back");
  g_assert_true (sutra_flight_limiter_acquire (limiter, 10, NULL, &taken));
  g_assert_cmpuint (taken, ==, 4);
  /* Full: with the run stopping, a second call gives up, taking nothing. */
  g_assert_false (sutra_flight_limiter_acquire (limiter, 1, &cancelled, &more));
  g_assert_cmpuint (more, ==, 0);
  sutra_flight_limiter_release (limiter, taken);
  g_assert_true (sutra_flight_limiter_acquire (limiter, 1, &cancelled, &more));
  g_assert_cmpuint (more, ==, 1);
  sutra_flight_limiter_release (limiter, more);
  g_assert_cmpuint (sutra_flight_limiter_get_peak (limiter), ==, 4);
}

typedef struct
{
  SutraFlightLimiter *limiter;
  guint bound;
  gint in_flight; /* atomic: what the callers hold, counted by them */
  gint worst;     /* atomic: the most they ever held together */
  guint rounds;
} Shared;

static gpointer
flight_worker (gpointer data)
{
  Shared *shared = data;
  GRand *rand = g_rand_new_with_seed (GPOINTER_TO_UINT (g_thread_self ()));

  for (guint i = 0; i < shared->rounds; i++)
    {
      guint want = (guint) g_rand_int_range (rand, 1, (gint32) shared->bound + 1);
      guint taken = 0;
      gint now;

      g_assert_true (sutra_flight_limiter_acquire (shared->limiter, want, NULL, &taken));
      g_assert_cmpuint (taken, ==, want);
      now = g_atomic_int_add (&shared->in_flight, (gint) taken) + (gint) taken;
      for (gint worst = g_atomic_int_get (&shared->worst);
           now > worst && !g_atomic_int_compare_and_exchange (&shared->worst, worst, now);
           worst = g_atomic_int_get (&shared->worst))
        ;
      g_thread_yield ();
      g_atomic_int_add (&shared->in_flight, -(gint) taken);
      sutra_flight_limiter_release (shared->limiter, taken);
    }
  g_rand_free (rand);
  return NULL;
}

static void
test_flight_shared_bound (void)
{
  Shared shared = { .bound = 5, .rounds = 2000 };
  GThread *threads[6];

  g_test_summary ("Six workers taking 1 to 5 places at a time never hold more than the bound "
                  "of 5 together, and none waits forever (all or none: no two workers each "
                  "hold part of what they need)");
  shared.limiter = sutra_flight_limiter_new (shared.bound);
  for (guint i = 0; i < G_N_ELEMENTS (threads); i++)
    threads[i] = g_thread_new ("flight", flight_worker, &shared);
  for (guint i = 0; i < G_N_ELEMENTS (threads); i++)
    g_thread_join (threads[i]);
  g_test_message ("most in flight: %d of %u", shared.worst, shared.bound);
  g_assert_cmpint (shared.worst, <=, (gint) shared.bound);
  g_assert_cmpint (shared.worst, >=, 1);
  g_assert_cmpuint (sutra_flight_limiter_get_peak (shared.limiter), <=, shared.bound);
  g_assert_cmpint (g_atomic_int_get (&shared.in_flight), ==, 0);
  sutra_flight_limiter_free (shared.limiter);
}

typedef struct
{
  SutraFlightLimiter *limiter;
  gint cancelled;
  gboolean got;
} Waiter;

static gpointer
flight_waiter (gpointer data)
{
  Waiter *waiter = data;
  guint taken = 0;

  waiter->got = sutra_flight_limiter_acquire (waiter->limiter, 2, &waiter->cancelled, &taken);
  sutra_flight_limiter_release (waiter->limiter, taken);
  return NULL;
}

static void
test_flight_release_wakes (void)
{
  g_autoptr (SutraFlightLimiter) limiter = sutra_flight_limiter_new (3);
  Waiter waiter = { limiter, 0, FALSE };
  GThread *thread;
  guint taken = 0;

  g_test_summary ("A worker waiting for places gets them when another gives its back");
  g_assert_true (sutra_flight_limiter_acquire (limiter, 2, NULL, &taken));
  thread = g_thread_new ("waiter", flight_waiter, &waiter);
  sutra_flight_limiter_release (limiter, taken);
  g_thread_join (thread);
  g_assert_true (waiter.got);
  g_assert_cmpuint (sutra_flight_limiter_get_peak (limiter), <=, 3);
}

static void
test_flight_stop_ends_wait (void)
{
  g_autoptr (SutraFlightLimiter) limiter = sutra_flight_limiter_new (1);
  Waiter waiter = { limiter, 0, TRUE };
  GThread *thread;
  guint taken = 0;

  g_test_summary ("A worker waiting for places while the run drops its work in flight stops "
                  "waiting, taking nothing");
  g_assert_true (sutra_flight_limiter_acquire (limiter, 1, NULL, &taken));
  thread = g_thread_new ("waiter", flight_waiter, &waiter);
  g_atomic_int_set (&waiter.cancelled, 1);
  g_thread_join (thread);
  g_assert_false (waiter.got);
  sutra_flight_limiter_release (limiter, taken);
  g_assert_cmpuint (sutra_flight_limiter_get_peak (limiter), ==, 1);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/engine/flight-limiter/unbounded", test_flight_unbounded);
  g_test_add_func ("/engine/flight-limiter/clamps-to-bound", test_flight_clamps_to_bound);
  g_test_add_func ("/engine/flight-limiter/shared-bound", test_flight_shared_bound);
  g_test_add_func ("/engine/flight-limiter/release-wakes", test_flight_release_wakes);
  g_test_add_func ("/engine/flight-limiter/stop-ends-wait", test_flight_stop_ends_wait);
  return g_test_run ();
}
