/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* How sutra's processes ask the C library to manage memory. */

#include "sutra-allocator.h"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

/*
 * Why: glibc raises its mmap threshold to the size of every mmapped block
 * that is freed (up to 32 MiB). A pipeline that moves large payloads (a
 * spoken chunk is 500 KB, a batch of them back from a worker process
 * 4 MB) soon has every such block served from the heap arenas, one per
 * thread, and freed blocks stay there, fragmented: classics.txt's
 * audiobook peaked at 468 MB of resident memory where its live heap never
 * passed 202 MB. With the threshold fixed, blocks of a MiB or more are
 * mapped and unmapped: 217 MB. The cost is a page fault per page of such a
 * block, about 1.5 % of the audiobook's time (docs/audiobook.md, Memory).
 * Small blocks, all a text pipeline allocates, are unaffected.
 */
gboolean
sutra_allocator_configure (void)
{
#if defined(__GLIBC__)
  if (g_getenv ("MALLOC_MMAP_THRESHOLD_") != NULL)
    return FALSE;
  return mallopt (M_MMAP_THRESHOLD, (int) SUTRA_ALLOCATOR_MMAP_THRESHOLD) == 1;
#else
  return FALSE;
#endif
}
