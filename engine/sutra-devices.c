/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* GPU enumeration through the CUDA driver API, loaded with dlopen. */

#include "sutra-devices.h"

#include <sutra/sutra.h>

#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

typedef int (*CuInit) (unsigned int flags);
typedef int (*CuDeviceGetCount) (int *count);
typedef int (*CuDeviceGet) (int *device, int ordinal);
typedef int (*CuDeviceGetName) (char *name, int length, int device);
typedef int (*CuDeviceTotalMem) (size_t *bytes, int device);

static void
device_free (SutraDevice *device)
{
  g_free (device->name);
  g_free (device->model);
  g_free (device);
}

/* SUTRA_FAKE_DEVICES="cuda:0,cuda:1": GPUs that are not there, for tests
 * of what the engine does with devices on machines (CI) without one. */
static GPtrArray *
fake_devices (const char *names, char **why)
{
  GPtrArray *devices = g_ptr_array_new_with_free_func ((GDestroyNotify) device_free);
  g_auto (GStrv) list = g_strsplit (names, ",", -1);

  for (guint i = 0; list[i] != NULL; i++)
    {
      SutraDevice *device;
      int index;

      if (!sutra_device_parse (g_strstrip (list[i]), &index) || index != (int) devices->len)
        {
          if (why != NULL)
            *why = g_strdup_printf ("SUTRA_FAKE_DEVICES=\"%s\": expected “cuda:0,cuda:1,…” "
                                    "in order; entry %u is “%s”",
                                    names, i + 1, list[i]);
          g_ptr_array_set_size (devices, 0);
          return devices;
        }
      device = g_new0 (SutraDevice, 1);
      device->name = g_strdup (list[i]);
      device->model = g_strdup ("fake GPU (SUTRA_FAKE_DEVICES, for tests)");
      device->memory_bytes = G_GUINT64_CONSTANT (1) << 30;
      g_ptr_array_add (devices, device);
    }
  if (devices->len == 0 && why != NULL)
    *why = g_strdup ("SUTRA_FAKE_DEVICES is empty");
  return devices;
}

GPtrArray *
sutra_devices_enumerate (char **why)
{
  const char *fake = g_getenv ("SUTRA_FAKE_DEVICES");
  GPtrArray *devices;
  void *driver;

  if (fake != NULL)
    return fake_devices (fake, why);
  devices = g_ptr_array_new_with_free_func ((GDestroyNotify) device_free);
  driver = dlopen ("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  CuInit cu_init;
  CuDeviceGetCount cu_count;
  CuDeviceGet cu_get;
  CuDeviceGetName cu_name;
  CuDeviceTotalMem cu_mem;
  int count = 0;

  if (driver == NULL)
    {
      if (why != NULL)
        *why = g_strdup ("no CUDA driver (libcuda.so.1) on this machine");
      return devices;
    }
  cu_init = (CuInit) dlsym (driver, "cuInit");
  cu_count = (CuDeviceGetCount) dlsym (driver, "cuDeviceGetCount");
  cu_get = (CuDeviceGet) dlsym (driver, "cuDeviceGet");
  cu_name = (CuDeviceGetName) dlsym (driver, "cuDeviceGetName");
  cu_mem = (CuDeviceTotalMem) dlsym (driver, "cuDeviceTotalMem_v2");
  if (cu_init == NULL || cu_count == NULL || cu_get == NULL || cu_name == NULL)
    {
      if (why != NULL)
        *why = g_strdup ("the CUDA driver lacks the device functions sutra needs");
      return devices;
    }
  if (cu_init (0) != 0 || cu_count (&count) != 0)
    {
      if (why != NULL)
        *why = g_strdup ("the CUDA driver found no usable GPU (cuInit failed)");
      return devices;
    }
  for (int i = 0; i < count; i++)
    {
      SutraDevice *device = g_new0 (SutraDevice, 1);
      char model[256] = "";
      size_t bytes = 0;
      int handle = 0;

      if (cu_get (&handle, i) == 0)
        {
          cu_name (model, sizeof model, handle);
          if (cu_mem != NULL)
            cu_mem (&bytes, handle);
        }
      device->name = g_strdup_printf ("cuda:%d", i);
      device->model = g_strdup (model);
      device->memory_bytes = bytes;
      g_ptr_array_add (devices, device);
    }
  if (count == 0 && why != NULL)
    *why = g_strdup ("the CUDA driver reports no GPU");
  /* The driver stays loaded: CUDA stages will use it. */
  return devices;
}

gboolean
sutra_device_parse (const char *name, int *index)
{
  char *end = NULL;
  long value;

  if (strcmp (name, "cpu") == 0)
    {
      *index = -1;
      return TRUE;
    }
  if (!g_str_has_prefix (name, "cuda:") || !g_ascii_isdigit (name[5]))
    return FALSE;
  value = strtol (name + 5, &end, 10);
  if (*end != '\0' || value < 0 || value > 1024)
    return FALSE;
  *index = (int) value;
  return TRUE;
}

gboolean
sutra_devices_auto_prefers_gpu (guint flags)
{
  if (!(flags & SUTRA_DEVICE_CUDA))
    return FALSE;
  return (flags & SUTRA_DEVICE_CUDA_PREFERRED) != 0 || !(flags & SUTRA_DEVICE_CPU);
}
