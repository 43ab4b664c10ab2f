/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Version numbers of the sutra release and of the plugin ABI. */

#pragma once

#if !defined(SUTRA_INSIDE) && !defined(SUTRA_COMPILATION)
#error "Include <sutra/sutra.h>, not this header."
#endif

#include <glib.h>

G_BEGIN_DECLS

/* The release, for humans and for pkg-config. */
#define SUTRA_VERSION_MAJOR 0
#define SUTRA_VERSION_MINOR 1
#define SUTRA_VERSION_MICRO 0
#define SUTRA_VERSION_STRING "0.1.0"

/*
 * The plugin ABI. A plugin records the numbers it was built with in its
 * descriptor; the engine refuses another major, or a minor newer than its own.
 *
 * SUTRA_ABI_MAJOR: bump when any public struct changes layout or meaning:
 *   every plugin must then be rebuilt.
 * SUTRA_ABI_MINOR: bump when fields are appended at the end of a descriptor
 *   struct; older plugins keep working: each descriptor row records its own
 *   struct_size, and the engine reads an appended field only from rows whose
 *   size covers it.
 */
/* 2.3: payloads in files (sutra_item_take_payload_fd,
 * sutra_item_read_payload, sutra_item_get_payload_size,
 * sutra_item_payload_is_file): new functions, no struct changed.
 * 2.2: SutraStageContext gained requests_per_second (the stage's rate
 * limit, so that a plugin can pace a batch's requests).
 * 2.1: SutraStageInfo gained the content cache (cache_content,
 * cache_meta_keys, cache_salt); SutraStageContext gained max_in_flight.
 * 2.0: SutraPluginInfo, SutraStageInfo and SutraParamInfo begin with their
 * size; SutraStageInfo gained the two-phase sink sync (sync_prepare,
 * sync_commit) and streaming gathers (gather_begin, _add, _end, _abort).
 * 1.1 had appended input_media_types, output_media_types and meta_keys. */
#define SUTRA_ABI_MAJOR 2
#define SUTRA_ABI_MINOR 3

/* Marks the one function a plugin exports (SUTRA_PLUGIN_DEFINE). */
#if defined(_WIN32)
#define SUTRA_EXPORT __declspec(dllexport)
#else
#define SUTRA_EXPORT __attribute__ ((visibility ("default")))
#endif

/* Marks the functions libsutra exports: the public API, and nothing else.
 * The engine is compiled with hidden visibility, so an internal function
 * can be renamed or removed without changing libsutra's ABI. */
#if defined(_WIN32)
#define SUTRA_API
#else
#define SUTRA_API __attribute__ ((visibility ("default")))
#endif

G_END_DECLS
