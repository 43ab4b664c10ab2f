/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The dhātu kernel on the CPU: SHA-NI where the CPU has it, else portable. */

#pragma once

#include <glib.h>

#include "dhatu-kernel.h"

typedef struct _DhatuCpu DhatuCpu;

/* Chooses the code at run time: SHA-NI when the CPU has it, and steps 3
 * to 5 in AVX2 when it has that, unless the environment sets
 * SUTRA_DHATU_NO_SHANI=1, which forces the portable SHA-256 and the
 * baseline vector code (for tests, which compare both paths, bit for bit). */
DhatuCpu *dhatu_cpu_new (void);
void dhatu_cpu_free (DhatuCpu *cpu);

/* Whether @cpu hashes with SHA-NI. */
gboolean dhatu_cpu_uses_shani (const DhatuCpu *cpu);

/* Computes the results of @n texts into @out. Allocates only when a text is
 * longer than any before (the scratch message buffers grow). */
void dhatu_cpu_run (DhatuCpu *cpu,
                    const guint8 *const *texts,
                    const gsize *lengths,
                    gsize n,
                    DhatuResult *out);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (DhatuCpu, dhatu_cpu_free)
