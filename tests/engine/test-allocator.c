/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Tests for sutra-allocator.c: the mmap threshold, and the user's own. */

#include "sutra-allocator.h"

static void
test_allocator_respects_environment (void)
{
  g_test_summary ("A MALLOC_MMAP_THRESHOLD_ the user set is left alone; without one, sutra "
                  "fixes the threshold (glibc, outside AddressSanitizer, whose allocator "
                  "ignores mallopt)");
  g_setenv ("MALLOC_MMAP_THRESHOLD_", "131072", TRUE);
  g_assert_false (sutra_allocator_configure ());
  g_unsetenv ("MALLOC_MMAP_THRESHOLD_");
#if defined(__SANITIZE_ADDRESS__)
  g_test_message ("not checked without the variable: AddressSanitizer's mallopt does nothing");
#elif defined(__GLIBC__)
  g_assert_true (sutra_allocator_configure ());
#else
  g_assert_false (sutra_allocator_configure ());
#endif
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/engine/allocator/respects-environment", test_allocator_respects_environment);
  return g_test_run ();
}
