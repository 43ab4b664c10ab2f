/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The dhātu kernel for CUDA GPUs: one thread per text, the per-text logic of
 * dhatu-kernel.h. Compiled to PTX by clang without the CUDA toolkit
 * (-nocudainc -nocudalib), so the attributes and thread indices the CUDA
 * headers would give are spelled here with clang's own builtins. */

#define __global__ __attribute__ ((global))
#define __device__ __attribute__ ((device))
#define __constant__ __attribute__ ((constant))

#include "dhatu-kernel.h"

/* Text i is texts[offsets[i] .. offsets[i + 1]). */
extern "C" __global__ void
dhatu_kernel (const dhatu_u8 *texts, const dhatu_u64 *offsets, dhatu_u32 n, DhatuResult *out)
{
  dhatu_u32 i = __nvvm_read_ptx_sreg_ctaid_x () * __nvvm_read_ptx_sreg_ntid_x () +
                __nvvm_read_ptx_sreg_tid_x ();

  if (i >= n)
    return;
  dhatu_text (texts + offsets[i], offsets[i + 1] - offsets[i], &out[i]);
}
