/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The GPUs of this machine, found at run time. */

#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct
{
  char *name;  /* "cuda:0" */
  char *model; /* "NVIDIA H100 80GB HBM3" */
  guint64 memory_bytes;
} SutraDevice;

/* Enumerates CUDA devices through the CUDA driver, loaded with dlopen so
 * that neither the build nor a machine without a GPU needs it. Returns:
 * (transfer full): the devices, empty when there are none; @why (optional)
 * says why none were found (no driver, cuInit failed ...).
 *
 * For tests only: when SUTRA_FAKE_DEVICES is set (e.g. "cuda:0,cuda:1"),
 * those devices are reported instead, without asking the driver, so that
 * validation accepts them and workers get them on a machine with no GPU.
 * No GPU code runs on them: only plugins that merely record their device
 * can be run so. */
GPtrArray *sutra_devices_enumerate (char **why);

/* Whether "devices": "auto" means the GPUs for a stage that supports
 * @flags (SutraDeviceFlags): it runs on CUDA, and either prefers it
 * (SUTRA_DEVICE_CUDA_PREFERRED: its GPU path wins end to end) or cannot
 * run on the CPU. Otherwise "auto" means the CPU. */
gboolean sutra_devices_auto_prefers_gpu (guint flags);

/* Parses "cpu" (index -1) or "cuda:N". */
gboolean sutra_device_parse (const char *name, int *index);

G_END_DECLS
