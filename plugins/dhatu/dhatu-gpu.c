/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The dhātu kernel on a CUDA GPU: the driver API through dlopen, the
 * kernel's PTX (built by clang, embedded) JIT-compiled by the driver for
 * whatever GPU it finds. See docs/design.md, "GPU backend". */

#include "dhatu-gpu.h"

#include <sutra/sutra.h>

#include <dlfcn.h>
#include <string.h>

#ifdef DHATU_HAVE_PTX
#include "dhatu-ptx.h" /* static const char dhatu_ptx[] */
#endif

/* The few driver types and calls used, as the driver's ABI has them. */
typedef int CUresult;
typedef int CUdevice;
typedef void *CUcontext;
typedef void *CUmodule;
typedef void *CUfunction;
typedef unsigned long long CUdeviceptr;

typedef struct
{
  CUresult (*init) (unsigned int flags);
  CUresult (*device_get) (CUdevice *device, int ordinal);
  CUresult (*primary_retain) (CUcontext *context, CUdevice device);
  CUresult (*primary_release) (CUdevice device);
  CUresult (*ctx_push) (CUcontext context);
  CUresult (*ctx_pop) (CUcontext *context);
  CUresult (*module_load_data) (CUmodule *module, const void *image);
  CUresult (*module_unload) (CUmodule module);
  CUresult (*module_get_function) (CUfunction *function, CUmodule module, const char *name);
  CUresult (*mem_alloc) (CUdeviceptr *pointer, size_t size);
  CUresult (*mem_free) (CUdeviceptr pointer);
  CUresult (*memcpy_htod) (CUdeviceptr dst, const void *src, size_t size);
  CUresult (*memcpy_dtoh) (void *dst, CUdeviceptr src, size_t size);
  CUresult (*launch) (CUfunction function,
                      unsigned int grid_x,
                      unsigned int grid_y,
                      unsigned int grid_z,
                      unsigned int block_x,
                      unsigned int block_y,
                      unsigned int block_z,
                      unsigned int shared_bytes,
                      void *stream,
                      void **params,
                      void **extra);
  CUresult (*synchronize) (void);
  CUresult (*error_string) (CUresult result, const char **text);
} CudaDriver;

/* A device buffer that grows and is kept between batches. */
typedef struct
{
  CUdeviceptr pointer;
  gsize size;
} DeviceBuffer;

struct _DhatuGpu
{
  void *library;
  CudaDriver cu;
  CUdevice device;
  int device_index;
  CUcontext context;
  CUmodule module;
  CUfunction kernel;
  DeviceBuffer texts, offsets, results;
  guint8 *packed; /* the batch's texts, end to end */
  gsize packed_size;
  guint64 *offsets_host;
  gsize offsets_capacity;
};

#define THREADS_PER_BLOCK 128

gboolean
dhatu_gpu_built (void)
{
#ifdef DHATU_HAVE_PTX
  return TRUE;
#else
  return FALSE;
#endif
}

static gboolean
check (DhatuGpu *gpu, CUresult result, const char *what, GError **error)
{
  const char *text = NULL;

  if (result == 0)
    return TRUE;
  if (gpu->cu.error_string != NULL)
    gpu->cu.error_string (result, &text);
  g_set_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_FAILED, "cuda:%d: %s failed: %s (%d)",
               gpu->device_index, what, text != NULL ? text : "unknown error", result);
  return FALSE;
}

void
dhatu_gpu_free (DhatuGpu *gpu)
{
  if (gpu == NULL)
    return;
  if (gpu->context != NULL)
    {
      CUcontext previous;

      gpu->cu.ctx_push (gpu->context);
      if (gpu->texts.pointer != 0)
        gpu->cu.mem_free (gpu->texts.pointer);
      if (gpu->offsets.pointer != 0)
        gpu->cu.mem_free (gpu->offsets.pointer);
      if (gpu->results.pointer != 0)
        gpu->cu.mem_free (gpu->results.pointer);
      if (gpu->module != NULL)
        gpu->cu.module_unload (gpu->module);
      gpu->cu.ctx_pop (&previous);
      gpu->cu.primary_release (gpu->device);
    }
  if (gpu->library != NULL)
    dlclose (gpu->library);
  g_free (gpu->packed);
  g_free (gpu->offsets_host);
  g_free (gpu);
}

static gboolean
load_driver (DhatuGpu *gpu, GError **error)
{
  struct
  {
    const char *name;
    gpointer *slot;
  } symbols[] = {
    { "cuInit", (gpointer *) &gpu->cu.init },
    { "cuDeviceGet", (gpointer *) &gpu->cu.device_get },
    { "cuDevicePrimaryCtxRetain", (gpointer *) &gpu->cu.primary_retain },
    { "cuDevicePrimaryCtxRelease_v2", (gpointer *) &gpu->cu.primary_release },
    { "cuCtxPushCurrent_v2", (gpointer *) &gpu->cu.ctx_push },
    { "cuCtxPopCurrent_v2", (gpointer *) &gpu->cu.ctx_pop },
    { "cuModuleLoadData", (gpointer *) &gpu->cu.module_load_data },
    { "cuModuleUnload", (gpointer *) &gpu->cu.module_unload },
    { "cuModuleGetFunction", (gpointer *) &gpu->cu.module_get_function },
    { "cuMemAlloc_v2", (gpointer *) &gpu->cu.mem_alloc },
    { "cuMemFree_v2", (gpointer *) &gpu->cu.mem_free },
    { "cuMemcpyHtoD_v2", (gpointer *) &gpu->cu.memcpy_htod },
    { "cuMemcpyDtoH_v2", (gpointer *) &gpu->cu.memcpy_dtoh },
    { "cuLaunchKernel", (gpointer *) &gpu->cu.launch },
    { "cuCtxSynchronize", (gpointer *) &gpu->cu.synchronize },
    { "cuGetErrorString", (gpointer *) &gpu->cu.error_string },
  };

  gpu->library = dlopen ("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (gpu->library == NULL)
    {
      g_set_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_FAILED,
                   "cuda:%d: cannot load the CUDA driver (libcuda.so.1: %s); run the stage on "
                   "the CPU (device \"cpu\") or install the NVIDIA driver",
                   gpu->device_index, dlerror ());
      return FALSE;
    }
  for (gsize i = 0; i < G_N_ELEMENTS (symbols); i++)
    {
      *symbols[i].slot = dlsym (gpu->library, symbols[i].name);
      if (*symbols[i].slot == NULL)
        {
          g_set_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_FAILED,
                       "cuda:%d: the CUDA driver has no %s: it is too old for this plugin",
                       gpu->device_index, symbols[i].name);
          return FALSE;
        }
    }
  return TRUE;
}

DhatuGpu *
dhatu_gpu_new (int device_index, GError **error)
{
#ifndef DHATU_HAVE_PTX
  g_set_error (error, SUTRA_PLUGIN_ERROR, SUTRA_PLUGIN_ERROR_UNSUPPORTED,
               "cuda:%d: the dhatu plugin was built without the CUDA kernel (no clang able "
               "to compile CUDA to PTX at build time); rebuild with clang installed, or run "
               "the stage on the CPU",
               device_index);
  return NULL;
#else
  g_autoptr (GError) local = NULL;
  DhatuGpu *gpu = g_new0 (DhatuGpu, 1);
  CUcontext previous;

  gpu->device_index = device_index;
  if (!load_driver (gpu, error) || !check (gpu, gpu->cu.init (0), "cuInit", error) ||
      !check (gpu, gpu->cu.device_get (&gpu->device, device_index), "cuDeviceGet", error) ||
      !check (gpu, gpu->cu.primary_retain (&gpu->context, gpu->device), "cuDevicePrimaryCtxRetain",
              error))
    {
      gpu->context = NULL;
      dhatu_gpu_free (gpu);
      return NULL;
    }
  gpu->cu.ctx_push (gpu->context);
  if (!check (gpu, gpu->cu.module_load_data (&gpu->module, dhatu_ptx),
              "loading the kernel's PTX (cuModuleLoadData)", &local) ||
      !check (gpu, gpu->cu.module_get_function (&gpu->kernel, gpu->module, "dhatu_kernel"),
              "cuModuleGetFunction", &local))
    {
      gpu->cu.ctx_pop (&previous);
      g_propagate_error (error, g_steal_pointer (&local));
      dhatu_gpu_free (gpu);
      return NULL;
    }
  gpu->cu.ctx_pop (&previous);
  return gpu;
#endif
}

static gboolean
ensure_device (DhatuGpu *gpu, DeviceBuffer *buffer, gsize size, GError **error)
{
  if (size <= buffer->size)
    return TRUE;
  size = MAX (size, 2 * buffer->size);
  if (buffer->pointer != 0)
    gpu->cu.mem_free (buffer->pointer);
  buffer->pointer = 0;
  buffer->size = 0;
  if (!check (gpu, gpu->cu.mem_alloc (&buffer->pointer, size), "cuMemAlloc", error))
    return FALSE;
  buffer->size = size;
  return TRUE;
}

static gboolean
run_locked (DhatuGpu *gpu,
            const guint8 *const *texts,
            const gsize *lengths,
            gsize n,
            DhatuResult *out,
            GError **error)
{
  gsize total = 0;
  unsigned int count = (unsigned int) n;
  void *params[4];

  if (n + 1 > gpu->offsets_capacity)
    {
      gpu->offsets_capacity = MAX (n + 1, 2 * gpu->offsets_capacity);
      gpu->offsets_host = g_renew (guint64, gpu->offsets_host, gpu->offsets_capacity);
    }
  for (gsize i = 0; i < n; i++)
    {
      gpu->offsets_host[i] = total;
      total += lengths[i];
    }
  gpu->offsets_host[n] = total;
  if (total > gpu->packed_size)
    {
      gpu->packed_size = MAX (total, 2 * gpu->packed_size);
      g_free (gpu->packed);
      gpu->packed = g_malloc (gpu->packed_size);
    }
  for (gsize i = 0; i < n; i++)
    if (lengths[i] > 0)
      memcpy (gpu->packed + gpu->offsets_host[i], texts[i], lengths[i]);
  if (!ensure_device (gpu, &gpu->texts, MAX (total, 1), error) ||
      !ensure_device (gpu, &gpu->offsets, (n + 1) * sizeof (guint64), error) ||
      !ensure_device (gpu, &gpu->results, n * sizeof (DhatuResult), error))
    return FALSE;
  if ((total > 0 && !check (gpu, gpu->cu.memcpy_htod (gpu->texts.pointer, gpu->packed, total),
                            "cuMemcpyHtoD", error)) ||
      !check (gpu,
              gpu->cu.memcpy_htod (gpu->offsets.pointer, gpu->offsets_host,
                                   (n + 1) * sizeof (guint64)),
              "cuMemcpyHtoD", error))
    return FALSE;
  params[0] = &gpu->texts.pointer;
  params[1] = &gpu->offsets.pointer;
  params[2] = &count;
  params[3] = &gpu->results.pointer;
  if (!check (gpu,
              gpu->cu.launch (gpu->kernel, (count + THREADS_PER_BLOCK - 1) / THREADS_PER_BLOCK, 1,
                              1, THREADS_PER_BLOCK, 1, 1, 0, NULL, params, NULL),
              "cuLaunchKernel", error) ||
      !check (gpu, gpu->cu.synchronize (), "the kernel (cuCtxSynchronize)", error))
    return FALSE;
  return check (gpu, gpu->cu.memcpy_dtoh (out, gpu->results.pointer, n * sizeof (DhatuResult)),
                "cuMemcpyDtoH", error);
}

gboolean
dhatu_gpu_run (DhatuGpu *gpu,
               const guint8 *const *texts,
               const gsize *lengths,
               gsize n,
               DhatuResult *out,
               GError **error)
{
  CUcontext previous;
  gboolean ok;

  if (n == 0)
    return TRUE;
  /* The context is current only during the call: the engine may run the
   * instance's batches on different threads. */
  gpu->cu.ctx_push (gpu->context);
  ok = run_locked (gpu, texts, lengths, n, out, error);
  gpu->cu.ctx_pop (&previous);
  return ok;
}
