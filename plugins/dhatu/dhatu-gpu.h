/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The dhātu kernel on a CUDA GPU, through the driver loaded at run time. */

#pragma once

#include <glib.h>

#include "dhatu-kernel.h"

typedef struct _DhatuGpu DhatuGpu;

/* Loads the CUDA driver (libcuda.so.1, with dlopen: no toolkit needed to
 * build or run), makes a context on GPU @device_index and JIT-compiles the
 * kernel's PTX, embedded at build time. Fails with a message saying why:
 * no kernel built in, no driver, no such GPU. */
DhatuGpu *dhatu_gpu_new (int device_index, GError **error);
void dhatu_gpu_free (DhatuGpu *gpu);

/* Whether the plugin was built with the CUDA kernel (clang made its PTX). */
gboolean dhatu_gpu_built (void);

/* Computes the results of @n texts on the GPU: the texts are packed into
 * one buffer, copied over, one thread per text, the results copied back. */
gboolean dhatu_gpu_run (DhatuGpu *gpu,
                        const guint8 *const *texts,
                        const gsize *lengths,
                        gsize n,
                        DhatuResult *out,
                        GError **error);
