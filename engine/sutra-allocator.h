/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* How sutra's processes ask the C library to manage memory. */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* The mmap threshold sutra's processes use: allocations of at least this
 * many bytes get pages of their own, returned to the system when freed. */
#define SUTRA_ALLOCATOR_MMAP_THRESHOLD (1u << 20)

/* Fixes glibc's mmap threshold at SUTRA_ALLOCATOR_MMAP_THRESHOLD, unless
 * the user set MALLOC_MMAP_THRESHOLD_ (theirs wins). Call first thing in
 * main. Returns TRUE when it set the threshold. */
gboolean sutra_allocator_configure (void);

G_END_DECLS
